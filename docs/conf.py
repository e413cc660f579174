"""Sphinx configuration of seqcore's documentation.

Build (offline, warnings as errors): ``python -m sphinx -W -b html docs docs/_build/html``
with the package importable (built in place and on ``PYTHONPATH``, or installed).
"""

import importlib.util
import os

import seqcore

project = "seqcore"
author = "The seqcore developers"
copyright = "The seqcore developers"
release = version = seqcore.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# nothing is fetched while building: no intersphinx
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples"]
root_doc = "index"
autosummary_generate = True
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    # scikit-learn's generated metadata-routing setters cite its own glossary
    "exclude-members": ", ".join(f"set_{m}_request" for m in (
        "fit", "partial_fit", "predict", "predict_proba", "score", "transform",
        "inverse_transform", "decision_function", "split")),
}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# the adapters' frameworks are optional: document them without installing them
autodoc_mock_imports = [m for m in ("aeon", "sktime")
                        if importlib.util.find_spec(m) is None]

html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Recurrent networks for scikit-learn users",
                      "fixed_sidebar": True}

# the gallery: every example runs at build time and draws its figures
os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "backreferences_dir": None,
    "reference_url": {},
    "show_memory": False,
    "min_reported_time": 1,
}


def _split_literal_summary(app, what, name, obj, options, lines):
    """A summary line ending in '::' (e.g. "Adam, as torch.optim.Adam::"
    over its update rule) opens a literal block, which numpydoc would cut
    off from it: end the summary with ':' and open the block on its own."""
    if lines and lines[0].rstrip().endswith("::") and len(lines) > 1 and not lines[1].strip():
        lines[0] = lines[0].rstrip()[:-1]
        lines[1:2] = ["", "::", ""]


def setup(app):
    # before numpydoc (priority 500) reads the docstring
    app.connect("autodoc-process-docstring", _split_literal_summary, priority=400)

"""The documentation: every public name is in the API reference, and the
Sphinx site builds with warnings as errors (gallery examples included).

The build runs the gallery's examples, each training a small model on
real data for a few seconds, so it is the slowest test; it is marked ``docs``
so that CI may run it in its own step (``-m docs``) or leave it out
(``-m "not docs"``).
"""

import ast
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys

import pytest

import seqcore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
PACKAGE = os.path.dirname(seqcore.__file__)
# modules whose __all__ is public API, beyond seqcore itself; the adapters
# are read from their source (their frameworks need not be installed)
ADAPTERS = ["seqcore.integrations.aeon", "seqcore.integrations.sktime"]

pytestmark = pytest.mark.skipif(not os.path.isdir(DOCS), reason="no docs/ folder")


def source_all(module):
    """__all__ of a module, read from its source without importing it."""
    path = os.path.join(PACKAGE, *module.split(".")[1:]) + ".py"
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        for node in ast.parse(fh.read()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__"
                                                    for t in node.targets):
                return ast.literal_eval(node.value)
    return None


def public_names():
    """(module, name) of every public name: seqcore.__all__ and the __all__
    of every public submodule it lists, and of the adapters."""
    out = []
    for name in seqcore.__all__:
        if name == "__version__":
            continue
        obj = getattr(seqcore, name)
        if type(obj).__name__ == "module":
            out += [(obj.__name__, n) for n in obj.__all__]
        else:
            out.append(("seqcore", name))
    for module in ADAPTERS:
        names = source_all(module)
        if names is not None:
            out += [(module, n) for n in names]
    return out


def documented():
    """{(module, name)} of the API reference: autosummary entries under
    their ``currentmodule`` and ``data::`` directives."""
    with open(os.path.join(DOCS, "api.rst"), encoding="utf-8") as fh:
        text = fh.read()
    found, module, in_summary = set(), None, False
    for line in text.splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            module = m[1]
            continue
        if line.startswith(".. autosummary::"):
            in_summary = True
            continue
        m = re.match(r"\.\. data:: (\S+)", line)
        if m:
            found.add((module, m[1]))
        if line.startswith(".. "):
            in_summary = False
            continue
        if in_summary:
            if line.startswith("   ") and not line.strip().startswith(":"):
                found.add((module, line.strip()))
            elif line.strip() and not line.startswith("   "):
                in_summary = False
    return found


def resolve(module, name):
    return getattr(importlib.import_module(module), name)


def installed(module):
    """Whether a public module can be imported here (the adapters need their
    framework)."""
    return module not in ADAPTERS or importlib.util.find_spec(module.split(".")[-1]) is not None


def test_every_public_name_is_in_the_api_reference():
    docs = documented()
    missing = []
    for module, name in public_names():
        if (module, name) in docs:
            continue
        # an object re-exported by two modules is documented once
        # (seqcore.forecasting.RNNForecaster is seqcore.RNNForecaster)
        obj = resolve(module, name) if installed(module) else None
        if obj is None or not any(n == name and installed(m) and resolve(m, n) is obj
                                  for m, n in docs):
            missing.append(f"{module}.{name}")
    assert missing == [], f"not in docs/api.rst: {missing}"
    # and everything documented exists
    for module, name in docs:
        if installed(module):
            resolve(module, name)


def test_every_public_callable_has_a_numpydoc_docstring():
    """Each public class and function has a summary, and a Parameters
    section when it takes arguments."""
    bad = []
    for module, name in public_names():
        if not installed(module):
            continue
        obj = resolve(module, name)
        if not callable(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        if len(doc.strip()) < 20:
            bad.append(f"{module}.{name}: no docstring")
            continue
        try:
            params = [p for p in inspect.signature(obj).parameters if p != "self"]
        except (TypeError, ValueError):
            params = []
        if params and not re.search(r"^Parameters\n-{10}", doc, re.MULTILINE):
            bad.append(f"{module}.{name}: no Parameters section")
    assert bad == [], bad


@pytest.mark.docs
def test_docs_build(tmp_path):
    """sphinx-build -W: the API reference, the user guide and the gallery
    (whose examples run and draw their figures), offline."""
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("matplotlib")
    pytest.importorskip("onnxruntime")   # the ONNX gallery example runs it
    pytest.importorskip("aeon")          # speech and activity examples: its data sets
    pytest.importorskip("music21")       # music examples: its corpus of Bach chorales
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns(
        "_build", "generated", "auto_examples", "sg_execution_times.rst"))
    out = tmp_path / "html"
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([os.path.dirname(PACKAGE),
                                          os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
                           "-q", str(src), str(out)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    # one page per API name, one figure per gallery example
    for module, name in documented():
        if (out / "generated" / f"{module}.{name}.html").exists():
            continue
        assert name == "CELLS", f"no page for {module}.{name}"
    examples = sorted(f[:-3] for f in os.listdir(os.path.join(DOCS, "examples"))
                      if f.startswith("plot_"))
    assert examples
    images = os.listdir(out / "_images")
    for ex in examples:
        assert f"sphx_glr_{ex}_001.png" in images, f"{ex} drew no figure"


def test_text_docstring_names_every_public_name():
    """The ``seqcore.text`` module docstring introduces each name it exports."""
    import seqcore.text

    missing = [n for n in seqcore.text.__all__ if f"``{n}``" not in seqcore.text.__doc__]
    assert missing == []


def test_cli_description_names_every_command():
    """``seqcore --help`` describes every subcommand, not only the first."""
    import argparse

    from seqcore._cli import _parser

    parser = _parser()
    commands = [name for action in parser._actions
                if isinstance(action, argparse._SubParsersAction)
                for name in action.choices]
    assert len(commands) >= 2
    missing = [c for c in commands if f"seqcore {c}" not in parser.description]
    assert missing == [], f"seqcore --help does not describe {missing}"


def test_user_guide_pages_are_in_the_toctree():
    """Every page of docs/user_guide is reachable from the index, and no
    Markdown page sits in docs/ unbuilt (Sphinx here reads reStructuredText)."""
    with open(os.path.join(DOCS, "index.rst"), encoding="utf-8") as fh:
        index = fh.read()
    pages = sorted(f[:-4] for f in os.listdir(os.path.join(DOCS, "user_guide"))
                   if f.endswith(".rst"))
    assert pages
    assert [p for p in pages if f"user_guide/{p}\n" not in index] == []
    assert [f for f in os.listdir(DOCS) if f.endswith(".md")] == []

"""Saving fitted models: pickle, or ``skops.io`` when the file comes from elsewhere.

pickle (and ``joblib.dump``) keeps any object and is fast, but loading a
pickle runs whatever code the file names: load only files you made
yourself.  ``skops.io`` stores the same objects as data and, on load,
refuses every type it was not told to trust, so a file from a colleague,
a model hub or a ticket cannot run code.  ``trusted_types()`` lists the
seqcore types a fitted seqcore model is made of; ``load`` trusts them and
nothing else beyond what skops trusts by default (NumPy, SciPy and
scikit-learn's own types).

Examples
--------
>>> import numpy as np
>>> from seqcore import RNNClassifier
>>> from seqcore.persistence import dump, load
>>> rng = np.random.default_rng(0)
>>> X, y = rng.standard_normal((20, 5, 2)), np.arange(20) % 2
>>> clf = RNNClassifier(hidden_size=4, max_iter=50, n_iter_no_change=2, tol=0.01,
...                     random_state=0).fit(X, y)
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
>>> dump(clf, path)
>>> bool((load(path).predict(X) == clf.predict(X)).all())
True
"""

import functools
import os

__all__ = ["trusted_types", "dump", "load"]


def _module_classes(path, module):
    """Qualified names of the classes that the source file ``path`` of
    ``module`` defines at module level, and of those nested in them, read
    from its syntax tree: nothing is imported (a module of an optional
    framework, such as ``seqcore.integrations.sktime``, counts too)."""
    import ast

    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    names = []

    def visit(body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef):
                names.append(f"{module}.{prefix}{node.name}")
                visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return names


@functools.lru_cache(maxsize=None)
def _seqcore_type_names():
    """Every class that seqcore's own source defines, found by walking the
    package's files: a class added to seqcore is trusted without a list to
    keep up to date (a hand-kept list missed the text models' types).  A
    compiled module has no source to read: it is imported (seqcore imports
    them all anyway) and its classes (its enums) listed."""
    import importlib
    import inspect
    from importlib.machinery import EXTENSION_SUFFIXES

    root = os.path.dirname(os.path.abspath(__file__))
    names = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        rel = os.path.relpath(folder, root)
        package = "seqcore" if rel == "." else "seqcore." + rel.replace(os.sep, ".")
        for name in sorted(files):
            if name.endswith(".py"):
                module = package if name == "__init__.py" else f"{package}.{name[:-3]}"
                names += _module_classes(os.path.join(folder, name), module)
            elif name.endswith(tuple(EXTENSION_SUFFIXES)):
                module = f"{package}.{name.split('.')[0]}"
                names += [f"{module}.{obj.__qualname__}"
                          for obj in vars(importlib.import_module(module)).values()
                          if inspect.isclass(obj) and obj.__module__ == module]
    return tuple(sorted(set(names)))


def trusted_types():
    """The seqcore types a skops file of a seqcore model may hold: every
    class that seqcore defines.

    Pass them to ``skops.io.load(file, trusted=trusted_types())`` (``load``
    here does): a file holding any other type that skops does not trust by
    default is refused.  Other objects in the file (a custom transformer in
    a pipeline) must be trusted by the caller, after reading
    ``skops.io.get_untrusted_types(file=...)``.

    Returns
    -------
    list of str
        Fully qualified names, such as
        ``'seqcore._estimators.RNNClassifier'``, sorted.
    """
    return list(_seqcore_type_names())


def _skops_io():
    try:
        import skops.io
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("saving with skops needs the skops package: "
                          "pip install skops") from exc
    return skops.io


def dump(model, file):
    """Save a model with ``skops.io.dump``.

    Parameters
    ----------
    model : object
        A fitted seqcore estimator, or a pipeline holding one.
    file : str or path-like
        Where to write (the ``.skops`` suffix is customary).
    """
    _skops_io().dump(model, file)


def load(file, trusted=()):
    """Load a model saved by ``dump`` (or ``skops.io.dump``), trusting only
    seqcore's types and those in ``trusted``.

    Parameters
    ----------
    file : str or path-like
    trusted : sequence of str, default=()
        Further type names to trust (see ``skops.io.get_untrusted_types``).

    Returns
    -------
    object
        The model.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file holds a type that is neither seqcore's nor trusted by
        skops by default nor in ``trusted``; nothing of the file has run.
    """
    if isinstance(trusted, str):
        raise TypeError("trusted must be a list of type names, not one string")
    return _skops_io().load(file, trusted=trusted_types() + list(trusted))

"""The package metadata says what the code is: one version, every import declared.

Reads ``pyproject.toml`` next to ``tests/``; skipped where the tests run
without the source tree's pyproject (an installed copy of the tests).
"""

import ast
import os
import re
import sys

import pytest

import seqcore

tomllib = pytest.importorskip("tomllib")   # Python >= 3.11

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")
pytestmark = pytest.mark.skipif(not os.path.exists(PYPROJECT), reason="no pyproject.toml")

# import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "dask_ml": "dask-ml"}


def project():
    with open(PYPROJECT, "rb") as fh:
        return tomllib.load(fh)


def names(requirements):
    """Distribution names of requirement strings, without versions or extras."""
    return {re.match(r"[A-Za-z0-9_.-]+", r)[0].lower() for r in requirements}


def third_party_imports(folder):
    """Top-level modules imported (or ``importorskip``-ed) by the .py files
    under folder, ours and the standard library left out."""
    found = set()
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if not f.endswith(".py"):
                continue
            with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
                elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
                      and node.args and isinstance(node.args[0], ast.Constant)):
                    found.add(node.args[0].value.split(".")[0])     # pytest.importorskip("x")
    return {m for m in found if m not in sys.stdlib_module_names and m != "seqcore"}


def test_version_has_one_source():
    meta = project()
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "seqcore.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", seqcore.__version__)


def test_every_import_of_the_package_is_declared():
    meta = project()["project"]
    declared = names(meta["dependencies"])
    optional = set().union(*(names(v) for v in meta["optional-dependencies"].values()))
    imported = {DISTRIBUTION.get(m, m) for m in third_party_imports(os.path.dirname(seqcore.__file__))}
    assert imported - declared - optional == set()
    # numpy, scipy, scikit-learn, joblib and threadpoolctl are imported at
    # "import seqcore"; they must be hard dependencies
    assert {"numpy", "scipy", "scikit-learn", "joblib", "threadpoolctl"} <= declared


def test_the_test_extra_covers_what_the_tests_import():
    meta = project()["project"]
    test_extra = names(meta["optional-dependencies"]["test"]) | names(meta["dependencies"])
    imported = {DISTRIBUTION.get(m, m) for m in third_party_imports(os.path.dirname(__file__))}
    local = {f[:-3] for f in os.listdir(os.path.dirname(__file__)) if f.endswith(".py")}
    # torch is the one optional reference: its tests skip without it
    assert imported - local - test_extra == {"torch"}


def test_all_extra_is_the_union_of_the_user_facing_extras():
    extras = project()["project"]["optional-dependencies"]
    (all_,) = extras["all"]
    listed = set(re.fullmatch(r"seqcore\[(.*)\]", all_)[1].split(","))
    assert listed == set(extras) - {"all", "test", "torch", "bench"}

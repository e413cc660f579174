"""The package metadata says what the code is: one version, every import
declared, one distribution name in every install hint.

Reads ``pyproject.toml`` next to ``tests/``; those tests are skipped where
the tests run without the source tree (an installed copy of the tests, as in
CI's wheel stage), where the distribution name comes from the installed
metadata instead.
"""

import ast
import importlib.metadata
import os
import re
import sys

import pytest

import seqcore

tomllib = pytest.importorskip("tomllib")   # Python >= 3.11

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYPROJECT = os.path.join(ROOT, "pyproject.toml")
README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")
PACKAGE = os.path.dirname(seqcore.__file__)
in_source_tree = pytest.mark.skipif(not os.path.exists(PYPROJECT), reason="no pyproject.toml")

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


@in_source_tree
def test_version_has_one_source():
    meta = project()
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "seqcore.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", seqcore.__version__)


@in_source_tree
def test_every_import_of_the_package_is_declared():
    meta = project()["project"]
    declared = names(meta["dependencies"])
    optional = set().union(*(names(v) for v in meta["optional-dependencies"].values()))
    imported = {DISTRIBUTION.get(m, m) for m in third_party_imports(os.path.dirname(seqcore.__file__))}
    assert imported - declared - optional == set()
    # numpy, scipy, scikit-learn, joblib and threadpoolctl are imported at
    # "import seqcore"; they must be hard dependencies
    assert {"numpy", "scipy", "scikit-learn", "joblib", "threadpoolctl"} <= declared


@in_source_tree
def test_the_test_extra_covers_what_the_tests_import():
    meta = project()["project"]
    test_extra = names(meta["optional-dependencies"]["test"]) | names(meta["dependencies"])
    imported = {DISTRIBUTION.get(m, m) for m in third_party_imports(os.path.dirname(__file__))}
    local = {f[:-3] for f in os.listdir(os.path.dirname(__file__)) if f.endswith(".py")}
    # torch is the one optional reference: its tests skip without it
    assert imported - local - test_extra == {"torch"}


@in_source_tree
def test_all_extra_is_the_union_of_the_user_facing_extras():
    extras = project()["project"]["optional-dependencies"]
    (all_,) = extras["all"]
    # the extra names the distribution itself, not the import name
    name = project()["project"]["name"]
    listed = set(re.fullmatch(re.escape(name) + r"\[(.*)\]", all_)[1].split(","))
    assert listed == set(extras) - {"all", "test", "torch", "bench"}


# ---------------------------------------------------------------- the name
# "seqcore" on the package index is another project (a bio-sequence library):
# every install hint must name our distribution, which provides `import seqcore`.
WRONG_NAME = "seqcore"


def distribution_name():
    """The distribution name: pyproject's in the source tree, else the
    installed distribution that provides the ``seqcore`` package."""
    if os.path.exists(PYPROJECT):
        return project()["project"]["name"]
    providers = importlib.metadata.packages_distributions().get("seqcore", [])
    if len(providers) != 1:
        pytest.skip(f"seqcore is provided by {providers}, not one installed distribution")
    return providers[0]


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_install_targets(text):
    """The requirements that the ``pip install`` commands in text install:
    each command's arguments up to a closing quote or bracket of the
    surrounding prose, a shell operator or a comment; options left out."""
    targets = []
    for command in re.split(r"pip\s+install", text)[1:]:
        for token in re.match(r"(?:\s+[^\s`)]+)*", command)[0].split():
            if token[0] in "&|;#>":
                break
            if token.startswith("-"):
                continue
            requirement = token.strip("'\"")
            if requirement not in (".", ".."):
                requirement = requirement.rstrip(".,:")
            if not re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[A-Za-z0-9_,\-]+\])?([<>=!~].*)?", requirement):
                break       # prose, not a requirement
            targets.append(requirement)
    return targets


def hints(paths):
    """(file, requirement) for every ``pip install`` target in the files."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            found += [(os.path.relpath(path, ROOT), t) for t in pip_install_targets(fh.read())]
    return found


def package_files():
    return [os.path.join(d, f) for d, _, files in os.walk(PACKAGE) for f in files
            if f.endswith((".py", ".pyx", ".txt", ".md"))]


def doc_files():
    return [os.path.join(d, f) for d, _, files in os.walk(DOCS) for f in files
            if f.endswith((".rst", ".md", ".py")) and "_build" not in d]


def test_pip_install_targets_parses_the_forms_the_hints_take():
    text = ('pip install . && seqcore forecast\n'
            '"--plot needs matplotlib: pip install \'seqcore-rnn[plot]\'") from None\n'
            '(``pip install "seqcore-rnn[dask]"``) and pip install pandas), or\n'
            '``pip install\nseqcore[onnx]`` installs it; pip install -e . --no-build-isolation\n'
            '   pip install seqcore-rnn        # numpy, scipy\n')
    assert pip_install_targets(text) == [".", "seqcore-rnn[plot]", "seqcore-rnn[dask]", "pandas",
                                         "seqcore[onnx]", ".", "seqcore-rnn"]


def check_hints(found, name):
    wrong = [(f, t) for f, t in found if canonical(re.match(r"[A-Za-z0-9_.\-]+", t)[0]) == WRONG_NAME]
    assert wrong == [], f"install hints naming the other project {WRONG_NAME!r}, not {name!r}"
    ours = [t for _, t in found if canonical(re.match(r"[A-Za-z0-9_.\-]+", t)[0]) == canonical(name)]
    return ours


def test_the_distribution_name_is_not_the_import_name():
    name = distribution_name()
    assert canonical(name) != WRONG_NAME
    if not os.path.exists(PYPROJECT):
        # installed: the distribution of that name is the one that holds `seqcore`
        files = importlib.metadata.distribution(name).files
        assert any(str(f).replace("\\", "/") == "seqcore/__init__.py" for f in files)


def test_every_install_hint_in_the_package_names_the_distribution():
    name = distribution_name()
    ours = check_hints(hints(package_files()), name)
    # the extras' hints (plot, dask, onnx, aeon, sktime) are all there
    assert {re.search(r"\[(.*)\]", t)[1] for t in ours if "[" in t} >= {"plot", "dask", "onnx",
                                                                       "aeon", "sktime"}


@in_source_tree
def test_every_install_hint_in_the_readme_and_docs_names_the_distribution():
    name = distribution_name()
    ours = check_hints(hints([README] + doc_files()), name)
    assert name in ours and f"{name}[all]" in ours
    with open(README, encoding="utf-8") as fh:
        readme = fh.read()
    # the README says why the names differ
    assert re.search(rf"pip install {re.escape(name)}\b", readme)
    assert "import seqcore" in readme

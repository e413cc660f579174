"""Every ```python block of the README runs as pasted and prints its result
without warnings.

Each block runs in a fresh interpreter (as a user pasting it would), from
a temporary directory, with warnings shown once each (``-W default``).  A
block whose imports are not installed here (an extra it names) is skipped.
"""

import ast
import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
# what a warning looks like on stderr: "file:line: SomeWarning: message"
WARNING = re.compile(r"^\S.*:\d+: \w*Warning: ", re.MULTILINE)
# the longest block (the Dask one) takes some 60 s on a busy 2-core machine
TIMEOUT = 600


def python_blocks():
    if not os.path.exists(README):
        return []
    with open(README, encoding="utf-8") as fh:
        text = fh.read()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    out = []
    for code in blocks:
        first = next((ln for ln in code.splitlines() if ln.strip() and not ln.startswith(
            ("import", "from"))), "")
        out.append(pytest.param(code, id=re.sub(r"\W+", "_", first.strip())[:40] or "block"))
    return out


def missing_modules(code):
    """Top-level modules the block imports that are not installed."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return sorted(n for n in names if importlib.util.find_spec(n) is None)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 3


@pytest.mark.parametrize("code", python_blocks())
def test_readme_example(code, tmp_path):
    missing = missing_modules(code)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (an extra the README names)")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-W", "default", "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not WARNING.search(proc.stderr), f"the example prints warnings:\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), "the example prints nothing: a user sees no result"

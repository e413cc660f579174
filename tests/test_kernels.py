"""Which compiled kernels run, and the SEQCORE_KERNELS switch that forces the
generic ones (include/seqcore/cpu.h).

The kernels pick their instruction set once per process, at first use, so
every check of the switch runs in a new interpreter.  The C kernels are also
tested on their own, by every compiler and for aarch64: tests/c/run.sh.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import seqcore
from seqcore._cells import KERNEL_CHOICES, active_kernels

# the folder that holds the seqcore this process imported (the source tree's
# python/ or site-packages), so that the child imports the same one
IMPORT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(seqcore.__file__)))

# an LSTM forward pass in float64: the bits of its output, and the output
FORWARD = """
import hashlib, sys
import numpy as np
from seqcore._cells import active_kernels
from seqcore.nn import LSTM
rng = np.random.default_rng(0)
X = rng.normal(size=(24, 30, 7))
out, _ = LSTM(7, 48, num_layers=2, dtype=np.float64, random_state=0).forward(X)
np.save(sys.argv[1], out)
print(active_kernels())
"""


def run(code, kernels, *args):
    env = dict(os.environ, PYTHONPATH=IMPORT_ROOT)
    env.pop("SEQCORE_KERNELS", None)
    if kernels is not None:
        env["SEQCORE_KERNELS"] = kernels
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=300)


def kernels_in_child(kernels):
    proc = run("from seqcore._cells import active_kernels; print(active_kernels())", kernels)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_the_active_kernels_are_named():
    assert active_kernels() in KERNEL_CHOICES[1:]


def test_generic_forces_the_generic_kernels():
    assert kernels_in_child("generic") == "generic"
    # unset, empty and "auto" all take the widest the CPU runs
    widest = kernels_in_child(None)
    assert widest in KERNEL_CHOICES[1:]
    assert kernels_in_child("") == widest
    assert kernels_in_child("auto") == widest


def test_avx2_caps_the_kernels():
    order = list(KERNEL_CHOICES[1:])              # generic < avx2 < avx512
    widest = kernels_in_child(None)
    expected = order[min(order.index(widest), order.index("avx2"))]
    assert kernels_in_child("avx2") == expected


def test_an_unknown_value_is_refused_at_import():
    proc = run("import seqcore", "sse9")
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "SEQCORE_KERNELS='sse9'" in proc.stderr


def test_the_switch_reaches_the_computation(tmp_path):
    """The generic kernels really run: where the CPU has wider ones, the
    output's last bits change (those kernels fuse multiply-adds), and the
    two agree to rounding."""
    outputs = {}
    for kernels in ("generic", None):
        path = tmp_path / f"{kernels}.npy"
        proc = run(FORWARD, kernels, str(path))
        assert proc.returncode == 0, proc.stderr
        outputs[proc.stdout.strip()] = np.load(path)
    assert "generic" in outputs
    if len(outputs) == 1:
        pytest.skip("this CPU runs the generic kernels only")
    generic, wide = outputs.pop("generic"), outputs.popitem()[1]
    assert not np.array_equal(generic, wide)
    np.testing.assert_allclose(generic, wide, rtol=0, atol=1e-12)

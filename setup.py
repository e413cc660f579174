"""Build the compiled core.

The Cython sources live in ``src/seqcore``; the compiled modules land inside
the ``seqcore`` package (``python/seqcore``).  Set ``SEQCORE_DEBUG=1`` to build
with bounds checking and without optimisation, for debugging.
"""
import glob
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("SEQCORE_DEBUG", "0") == "1"

# Core modules, in dependency order: the BLAS shim, the cell step kernels,
# the time-loop driver, clipping and optimizer updates, the losses, the
# embedding gather and scatter-add, the dense layer's products, the language
# model's sampling loop and fused softmax cross-entropy, attention (scores,
# masked softmax, context) and the encoder-decoder's decoder loop.
MODULES = ["_blas", "_cells", "_recurrent", "_optim", "_losses", "_embedding", "_dense",
           "_lm", "_attention", "_decoder", "_ctc"]

# -O3 but never -ffast-math (NaN detection, parity with PyTorch) nor
# -march=native (a wheel must run on other x86-64 machines).
# -fno-trapping-math only tells gcc that no floating-point exception traps
# (Python never enables them); NaN and inf still propagate.  Without it gcc
# will not if-convert, hence not vectorise, the clamps in the activations.
# The step kernels' loops read and write many arrays; Python builds with
# -fno-strict-aliasing, so gcc vectorises them only behind run-time overlap
# checks, more of them than its default allows (10).
compile_args = (["-O0", "-g"] if DEBUG else
                ["-O3", "-fno-trapping-math", "--param", "vect-max-version-for-alias-checks=100"])

# Strip the symbols and debug sections of the compiled modules (-s): they
# triple the installed size and serve no user; debug builds keep them.
link_args = ["-s"] if sys.platform.startswith("linux") and not DEBUG else []

extensions = [
    Extension(
        f"seqcore.{name}",
        [f"src/seqcore/{name}.pyx"],
        include_dirs=[numpy.get_include(), "include"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        # rebuild when a kernel header changes, not only the .pyx
        depends=glob.glob("include/seqcore/*.h"),
    )
    for name in MODULES
]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(extensions, include_path=["src"], compiler_directives=directives),
)

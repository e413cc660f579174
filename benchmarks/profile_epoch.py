"""Where an epoch of ``RNNClassifier.fit`` on load_digits spends its time.

Times ``fit`` and, inside it, every call into the compiled core (seqcore's
Cython entry points: the time loop, projections, weight gradients, losses,
optimizer steps, packing), by wrapping the entry points with timers (cProfile
does not see Cython functions).  The rest is Python bookkeeping and NumPy
copies and checks.  Run: ``python benchmarks/profile_epoch.py [-v]``.
"""

import cProfile
import importlib
import pstats
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from seqcore import RNNClassifier

CORE_MODULES = ("seqcore._recurrent", "seqcore._optim", "seqcore._losses", "seqcore._blas",
                "seqcore._cells", "seqcore._dense", "seqcore._embedding")


def _timed(fn, spent):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0
    return wrapper


def main(epochs=10, threads=1):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)
    est = RNNClassifier(cell="gru", hidden_size=64, max_iter=epochs, tol=0, random_state=0)
    spent = [0.0]
    for name in CORE_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for attr in dir(mod):
            fn = getattr(mod, attr)
            if callable(fn) and not attr.startswith("_") and not isinstance(fn, type):
                setattr(mod, attr, _timed(fn, spent))
    prof = cProfile.Profile()
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if "-v" in sys.argv:
            prof.enable()
        est.fit(X, y)
        prof.disable()
        total = time.perf_counter() - t0
    stats = pstats.Stats(prof) if "-v" in sys.argv else None
    core = spent[0]
    print(f"{epochs} epochs, {threads} BLAS thread(s): {total:.3f} s in fit "
          f"({1000 * total / epochs:.1f} ms per epoch); compiled core {core:.3f} s, "
          f"outside it {total - core:.3f} s = {100 * (total - core) / total:.0f}% of the epoch")
    if "-v" in sys.argv:
        stats.sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()

"""Where an epoch of ``fit`` spends its time.

Times ``fit`` and, inside it, every call into the compiled core (seqcore's
Cython entry points: the time loop, projections, weight gradients, losses,
optimizer steps, packing), by wrapping the entry points with timers (cProfile
does not see Cython functions), and lists the entry points by time.  The
rest is Python bookkeeping and NumPy copies and checks.

Tasks: ``digits`` (default; ``RNNClassifier.fit`` on load_digits, GRU 64)
and ``lm`` (``RNNLanguageModel.fit`` with bench_text.py's language-model
settings on the bundled Alice chapter, 1 thread).  Run:
``python benchmarks/profile_epoch.py [--task lm] [--epochs N] [-v]``.
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
                "seqcore._cells", "seqcore._dense", "seqcore._embedding", "seqcore._lm")


def _timed(fn, spent, name):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            dt = time.perf_counter() - t0
            spent[None] = spent.get(None, 0.0) + dt
            spent[name] = spent.get(name, 0.0) + dt
    return wrapper


def _wrap_core(spent):
    """Wrap every public callable of the compiled modules with a timer; the
    Python modules that imported them by name see the wrappers too (they
    call ``module.function``)."""
    for name in CORE_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for attr in dir(mod):
            fn = getattr(mod, attr)
            if callable(fn) and not attr.startswith("_") and not isinstance(fn, type):
                setattr(mod, attr, _timed(fn, spent, f"{name.split('.')[-1]}.{attr}"))


def _digits(epochs):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)
    est = RNNClassifier(cell="gru", hidden_size=64, max_iter=epochs, tol=0, random_state=0)
    return lambda: est.fit(X, y)


def _lm(epochs):
    from seqcore.datasets import load_text
    from seqcore.text import RNNLanguageModel

    import bench_text   # beside this script: the same settings as its "lm" task
    text = load_text()
    train = text[:int(0.9 * len(text))]
    lm = RNNLanguageModel(**{**bench_text.LM, "max_iter": epochs}, random_state=0)
    return lambda: lm.fit([train])


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("digits", "lm"), default="digits")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("-v", action="store_true", help="also cProfile's top 15")
    args = p.parse_args(argv)
    fit = (_digits if args.task == "digits" else _lm)(args.epochs)
    spent = {}
    _wrap_core(spent)
    prof = cProfile.Profile()
    with threadpool_limits(args.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if args.v:
            prof.enable()
        fit()
        prof.disable()
        total = time.perf_counter() - t0
    core = spent.pop(None, 0.0)
    print(f"{args.task}: {args.epochs} epochs, {args.threads} BLAS thread(s): {total:.3f} s "
          f"in fit ({1000 * total / args.epochs:.1f} ms per epoch); compiled core "
          f"{core:.3f} s, outside it {total - core:.3f} s = "
          f"{100 * (total - core) / total:.0f}% of the fit")
    for name, t in sorted(spent.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {name:<36} {t:8.3f} s  {100 * t / total:5.1f}%")
    if args.v:
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()

"""Where the microseconds of a small inference call go (issue 26, item 2).

Times one tiny forward call at two levels, ``n`` calls each with
``time.perf_counter_ns`` (median and minimum per call), and prints the
functions cProfile charges most to the call:

* the layer: ``layer.eval(); layer.forward(X)``, as ``bench_rnn.py`` times
  inference, at the issue's small shapes (B, T, I, H);
* the estimator: ``predict`` and ``predict_proba`` of a fitted
  ``RNNClassifier`` and ``predict`` of a fitted ``RNNRegressor`` on
  (8, 10, 1) and (32, 20, 16) inputs.

The "Python" of a call is its time minus the time of the compiled calls it
makes (``project`` and ``forward_steps``, timed alone on the same buffers):
the part a fast path can remove.

Usage::

    python benchmarks/profile_small.py [--calls 10000] [--profile] [--cell lstm]

Timings on a shared machine are noisy: compare medians and minimums taken
in the same run.
"""

import argparse
import cProfile
import io
import pstats
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import seqcore
from seqcore import nn

CLOCK = time.perf_counter_ns
SHAPES = [(8, 10, 1, 16), (16, 24, 1, 32), (32, 50, 4, 64), (32, 20, 16, 32)]
ESTIMATOR_SHAPES = [(8, 10, 1), (32, 20, 16)]


def per_call_ns(fns, n, rounds=10, clock=time.perf_counter_ns):
    """Median and minimum ns per call of each function of ``fns``, over
    ``rounds`` blocks of n // rounds calls, the functions' blocks interleaved
    (so that a busy spell of the machine falls on all of them).  ``clock``:
    ``time.perf_counter_ns`` (wall) or ``time.thread_time_ns`` (the calling
    thread's CPU time, which leaves out the time other processes hold the
    core: small calls run on the calling thread alone)."""
    k = max(1, n // rounds)
    for fn in fns:
        fn()   # warm up (first-call caches)
    per = [[] for _ in fns]
    for _ in range(rounds):
        for fn, times in zip(fns, per):
            t0 = clock()
            for _ in range(k):
                fn()
            times.append((clock() - t0) / k)
    return [(float(np.median(t)), float(np.min(t))) for t in per]


def profile(fn, n, top=14):
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        fn()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    return s.getvalue()


def kernel_call(layer, X):
    """A function making the compiled calls of one unidirectional one-layer
    inference (projection + time loop) on preallocated buffers."""
    from seqcore import _recurrent
    from seqcore.nn import _layers

    lay = layer._layout
    B, T, I = X.shape
    H = layer.hidden_size
    G = lay.G
    P = layer.params
    W_ih, W_hh, b_ih, b_hh = (P[f"{k}_l0"] for k in ("weight_ih", "weight_hh", "bias_ih",
                                                      "bias_hh"))
    bias = b_ih + b_hh
    if lay.separate_bias >= 0:
        blk = slice(lay.separate_bias * H, (lay.separate_bias + 1) * H)
        bias[blk] = b_ih[blk]
    x = np.ascontiguousarray(X.swapaxes(0, 1))
    gates = np.empty((T, B, G * H), layer.dtype)
    Hs = np.zeros((T + 1, B, H), layer.dtype)
    Cs = np.zeros((2, B, H), layer.dtype) if layer._two_states else layer._empty(3)
    aux = np.zeros((1, B, H), layer.dtype) if lay.aux else layer._empty(3)
    work = np.empty((B, G * H), layer.dtype)
    h_n = np.empty((B, H), layer.dtype)
    c_n = np.empty((B, H), layer.dtype) if layer._two_states else layer._empty(2)
    Wp = layer._pack_hidden(W_hh, backward=False)
    Wip = _recurrent.pack_matrix(W_ih, True) if _layers.PACKED_PRODUCTS else layer._empty(1)
    n_active = np.full(T, B, dtype=np.intc)
    ranges = np.array([[0, B]], dtype=np.intp)
    e2, e3 = layer._empty(2), layer._empty(3)

    def call():
        _recurrent.project(x, W_ih, gates, Wip, 1, 1)
        _recurrent.forward_steps(lay.code, lay.flags, False, n_active, W_hh, bias, b_hh,
                                 e2, e2, e2, e2, Hs, e3, Cs, gates, aux, work, h_n, c_n,
                                 *Wp, ranges, 1)
    return call


def layer_rows(cell, dtypes, n, do_profile):
    out = []
    for dtype in dtypes:
        for B, T, I, H in SHAPES:
            layer = getattr(nn, cell.upper() if cell != "rnn" else "RNN")(
                I, H, dtype=dtype, random_state=0)
            layer.eval()
            X = np.random.default_rng(0).standard_normal((B, T, I)).astype(dtype)
            (med, lo), (kmed, klo) = per_call_ns([lambda: layer.forward(X),
                                                   kernel_call(layer, X)], n,
                                                  clock=CLOCK)
            out.append((f"{cell} layer.forward {np.dtype(dtype).name} {B},{T},{I},{H}",
                        med, lo, kmed, klo))
            if do_profile and (B, T, I, H) == SHAPES[0]:
                print(profile(lambda: layer.forward(X), n))
    return out


def estimator_rows(cell, dtypes, n, do_profile):
    out = []
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        for B, T, I in ESTIMATOR_SHAPES:
            X = rng.standard_normal((B, T, I)).astype(dtype)
            y = rng.integers(0, 3, B)
            clf = seqcore.RNNClassifier(cell=cell, hidden_size=16, max_iter=2,
                                        dtype=np.dtype(dtype).name, random_state=0)
            reg = seqcore.RNNRegressor(cell=cell, hidden_size=16, max_iter=2,
                                       dtype=np.dtype(dtype).name, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, y)
                reg.fit(X, rng.standard_normal(B))
            name = np.dtype(dtype).name
            calls = {"RNNClassifier.predict": lambda: clf.predict(X),
                     "RNNClassifier.predict_proba": lambda: clf.predict_proba(X),
                     "RNNRegressor.predict": lambda: reg.predict(X)}
            times = per_call_ns(list(calls.values()) + [kernel_call(clf.network_.rnn, X)], n,
                                clock=CLOCK)
            kmed, klo = times[-1]
            for (what, fn), (med, lo) in zip(calls.items(), times):
                out.append((f"{cell} {what} {name} {B},{T},{I} H=16", med, lo, kmed, klo))
                if do_profile and (B, T, I) == ESTIMATOR_SHAPES[0] and "proba" in what:
                    print(profile(fn, n))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--cell", default="lstm")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--profile", action="store_true", help="also print cProfile's top entries")
    p.add_argument("--cpu", action="store_true",
                   help="time the calling thread's CPU time instead of the wall clock "
                        "(steadier on a busy machine)")
    args = p.parse_args(argv)
    global CLOCK
    CLOCK = time.thread_time_ns if args.cpu else time.perf_counter_ns
    dtypes = [np.dtype(d).type for d in args.dtypes.split(",")]
    with threadpool_limits(args.threads, user_api="blas"):
        rows = (layer_rows(args.cell, dtypes, args.calls, args.profile)
                + estimator_rows(args.cell, dtypes, args.calls, args.profile))
    print(f"{'call':58s} {'median us':>9s} {'min us':>7s} {'core us':>8s} "
          f"{'Python us (median/min)':>22s}")
    for name, med, lo, kmed, klo in rows:
        print(f"{name:58s} {med / 1e3:9.1f} {lo / 1e3:7.1f} {kmed / 1e3:8.1f} "
              f"{(med - kmed) / 1e3:10.1f} / {(lo - klo) / 1e3:.1f}")
    print(f"clock: {'thread CPU time' if args.cpu else 'wall'}; core: the compiled calls alone (project + forward_steps on ready buffers); "
          "Python = call - core")


if __name__ == "__main__":
    main()

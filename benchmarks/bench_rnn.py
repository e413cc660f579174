"""seqcore against PyTorch on the CPU, side by side, and against the BLAS limit.

Design: one process, one data set per configuration, both libraries timed
in turn.  For every configuration (cell, B, T, I, H, layers, directions),
dtype and mode the script

1. builds a ``seqcore.nn`` layer and, when torch is installed, the matching
   ``torch.nn`` layer (``batch_first=True``) loaded with the same weights
   through ``state_dict``, and checks that their outputs agree;
2. times one call of each, alternating the two libraries on every
   repetition (and which one goes first), after a warm-up, and keeps the
   median of each;
3. times the GEMM-bound limit of the step: every matrix product the step
   needs, in its exact shape and count, run on ``scipy.linalg.blas``
   ``sgemm``/``dgemm`` (the BLAS seqcore itself calls), see ``GemmLimit``.

Modes::

    inference  seqcore: layer.eval(); layer.forward(X)
               torch:   with torch.no_grad(): module(X)
    train      seqcore: layer.train(); out = layer.forward(X)[0]
                        layer.backward(dout); p -= lr * g   (flat buffers)
               torch:   out = module(X)[0]; (out * dout).sum().backward()
                        opt.step(); opt.zero_grad()        (torch.optim.SGD)

``dout`` is a fixed array of ones plus a little noise.  The weights are reset
to the initial ones before every timed call (outside the timer), so the two
libraries always run the same numbers.  Threads are pinned equal: seqcore's
BLAS through ``threadpoolctl.threadpool_limits(n, user_api="blas")``, PyTorch
through ``torch.set_num_threads(n)``.

Run ``python benchmarks/bench_rnn.py --help``; see benchmarks/README.md.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import scipy
import scipy.linalg.blas as scipy_blas
from threadpoolctl import threadpool_info, threadpool_limits

import seqcore
from seqcore import nn as scnn

try:
    import torch
except ImportError:  # the benchmark still times seqcore and the GEMM limit
    torch = None

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
SEQCORE_LAYERS = {"rnn": scnn.RNN, "gru": scnn.GRU, "lstm": scnn.LSTM}
LR = 1e-4  # SGD step size; the weights are reset before every call anyway


# ---------------------------------------------------------------------------
# Configurations
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    cell: str
    B: int
    T: int
    I: int
    H: int
    L: int = 1
    bidirectional: bool = False

    @property
    def D(self):
        return 2 if self.bidirectional else 1

    @property
    def streaming(self):
        return self.B == 1

    @property
    def label(self):
        s = f"{self.B},{self.T},{self.I},{self.H}"
        if self.L > 1 or self.bidirectional:
            s += f" {self.L}L" + ("-bi" if self.bidirectional else "")
        if self.streaming:
            s += " stream"
        return s


SHAPES = [(32, 50, 8, 64), (64, 100, 32, 128), (64, 50, 64, 256),
          (128, 50, 128, 512), (1, 1000, 16, 128)]


def full_configs():
    out = [Config(cell, *shape) for shape in SHAPES for cell in ("rnn", "gru", "lstm")]
    out += [Config(cell, 64, 100, 32, 128, L=2, bidirectional=True)
            for cell in ("gru", "lstm")]
    return out


def quick_configs():
    return [Config("rnn", 32, 50, 8, 64), Config("gru", 32, 50, 8, 64),
            Config("lstm", 32, 50, 8, 64), Config("gru", 64, 50, 64, 256),
            Config("gru", 1, 1000, 16, 128)]


def target(cfg, dtype, mode):
    """Issue 6's ceiling on seqcore/torch for this case (the tightest that applies)."""
    t = 1.0  # never slower than PyTorch
    f64 = dtype == "float64"
    lstm32 = cfg.cell == "lstm" and not f64
    if mode == "train":
        if cfg.cell in ("rnn", "gru"):
            if cfg.streaming:
                t = min(t, 0.2)
            elif cfg.H <= 128:
                t = min(t, 0.5)
            elif cfg.H <= 256:
                t = min(t, 0.8)
            else:
                t = min(t, 0.95)
        elif lstm32:
            t = min(t, 0.8 if (cfg.H <= 128 or cfg.streaming) else 1.0)
        if f64:
            t = min(t, 0.7)
    else:
        if cfg.cell in ("rnn", "gru") or f64:
            t = min(t, 0.6 if (cfg.H <= 128 or cfg.streaming) else 0.85)
    return t


LIMIT_TARGET = 1.3  # seqcore within 1.3x of the GEMM limit at H >= 256


# ---------------------------------------------------------------------------
# The GEMM-bound limit
# ---------------------------------------------------------------------------

def step_gemms(cfg, mode):
    """Every matrix product one step runs: (transA, transB, m, n, k, count).

    Row-major ``C (m, n) = op(A) (m, k) @ op(B) (k, n)``, per scan (layer,
    direction), as seqcore's core issues them:

    forward   gates = X @ W_ih.T               (T*B, GH) = (T*B, I)(I, GH)   once
              gates += h @ W_hh.T              (B, GH) = (B, H)(H, GH)       T times
    backward  dh = dG @ W_hh                   (B, H) = (B, GH)(GH, H)       T times
              dX = dG @ W_ih                   (T*B, I) = (T*B, GH)(GH, I)   once
              dW_ih = dG.T @ X                 (GH, I) = (GH, T*B)(T*B, I)   once
              dW_hh = dG.T @ Hs[:T]            (GH, H) = (GH, T*B)(T*B, H)   once

    dX is counted for every layer, the first included, because seqcore's
    ``backward`` returns d_X (PyTorch skips it when X needs no gradient).
    """
    G, B, T, H = GATES[cfg.cell], cfg.B, cfg.T, cfg.H
    GH, TB = G * H, T * B
    out = []
    for k in range(cfg.L):
        I = cfg.I if k == 0 else cfg.D * H
        for _ in range(cfg.D):
            out += [("N", "T", TB, GH, I, 1), ("N", "T", B, GH, H, T)]
            if mode == "train":
                out += [("N", "N", B, H, GH, T), ("N", "N", TB, I, GH, 1),
                        ("T", "N", GH, I, TB, 1), ("T", "N", GH, H, TB, 1)]
    return out


def gemm_flops(gemms):
    return sum(2.0 * m * n * k * c for _, _, m, n, k, c in gemms)


class GemmLimit:
    """Fastest measured time of a list of GEMMs, under a thread limit.

    Each distinct shape is timed on ``scipy.linalg.blas.?gemm`` (the library
    seqcore's ``cython_blas`` calls land in) in a Python loop, with every
    thread count from 1 to ``threads`` (a BLAS may use fewer threads than
    its limit), keeping the fastest.  The cost of the Python call itself,
    measured on a 1x1x1 product, is subtracted from each call, so the result
    approximates the same calls issued from a compiled loop.  Row-major
    products are run as seqcore runs them: the column-major product of the
    transposes, operands swapped, no copies.
    """

    def __init__(self, threads, reps=7, target_s=0.004):
        self.threads = threads
        self.reps = reps
        self.target_s = target_s
        self._cache = {}
        self._overhead = {}

    @staticmethod
    def _fn(dtype):
        return scipy_blas.sgemm if dtype == np.float32 else scipy_blas.dgemm

    def _loop_min(self, call, n):
        best = math.inf
        for _ in range(self.reps):
            t0 = time.perf_counter()
            for _ in range(n):
                call()
            best = min(best, time.perf_counter() - t0)
        return best / n

    def _call(self, dtype, ta, tb, m, n, k):
        gemm = self._fn(dtype)
        A = np.full((k, m) if ta == "T" else (m, k), 0.01, dtype)
        Bm = np.full((n, k) if tb == "T" else (k, n), 0.01, dtype)
        C = np.zeros((m, n), dtype)
        # C.T (n, m) = op(B).T @ op(A).T in column-major terms; every .T below
        # is a Fortran-ordered view, so f2py passes the buffers as they are.
        Ct = C.T
        fa, fb = int(tb == "T"), int(ta == "T")

        def call():
            gemm(1.0, Bm.T, A.T, 0.0, Ct, trans_a=fa, trans_b=fb, overwrite_c=1)

        out = gemm(1.0, Bm.T, A.T, 0.0, Ct, trans_a=fa, trans_b=fb, overwrite_c=1)
        assert np.shares_memory(out, C), "f2py copied the output; timing invalid"
        return call

    def overhead(self, dtype):
        """Seconds of one Python-level ?gemm call on a 1x1x1 product."""
        if dtype not in self._overhead:
            with threadpool_limits(1, user_api="blas"):
                call = self._call(dtype, "N", "N", 1, 1, 1)
                self._overhead[dtype] = self._loop_min(call, 2000)
        return self._overhead[dtype]

    def per_call(self, dtype, ta, tb, m, n, k):
        """{threads: seconds per call} for one shape, call overhead removed."""
        key = (np.dtype(dtype).name, ta, tb, m, n, k)
        if key not in self._cache:
            ov = self.overhead(dtype)
            call = self._call(dtype, ta, tb, m, n, k)
            res = {}
            for nt in range(1, self.threads + 1):
                with threadpool_limits(nt, user_api="blas"):
                    call()
                    t0 = time.perf_counter()
                    call()
                    est = time.perf_counter() - t0
                    n_calls = int(min(2000, max(1, self.target_s / max(est, 1e-7))))
                    raw = self._loop_min(call, n_calls)
                res[nt] = max(raw - ov, 0.1 * raw)
            self._cache[key] = res
        return self._cache[key]

    def limit(self, dtype, gemms):
        """Seconds of the whole list, each shape at its fastest thread count,
        and the same with every shape at the full thread count."""
        best = full = 0.0
        for ta, tb, m, n, k, count in gemms:
            res = self.per_call(dtype, ta, tb, m, n, k)
            best += count * min(res.values())
            full += count * res[self.threads]
        return best, full


# ---------------------------------------------------------------------------
# The two contenders
# ---------------------------------------------------------------------------

def make_data(cfg, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((cfg.B, cfg.T, cfg.I)).astype(dtype)
    dout = (1.0 + 0.1 * rng.standard_normal((cfg.B, cfg.T, cfg.D * cfg.H))).astype(dtype)
    return X, dout


class SeqcoreCase:
    def __init__(self, cfg, dtype, mode, X, dout):
        self.layer = SEQCORE_LAYERS[cfg.cell](
            cfg.I, cfg.H, num_layers=cfg.L, bidirectional=cfg.bidirectional,
            dtype=dtype, random_state=0)
        self.X, self.dout = X, dout
        # _flat_params / _flat_grads are private for now: the one flat buffer
        # the layer's named views live in.  The optimizer step below is what
        # seqcore's own optimizers do, written out.
        self.p0 = self.layer._flat_params.copy()
        self.lr = self.layer.dtype(LR)
        if mode == "train":
            self.layer.train()
            self.run = self._train_step
        else:
            self.layer.eval()
            self.run = self._forward

    def reset(self):
        self.layer._flat_params[...] = self.p0

    def _forward(self):
        return self.layer.forward(self.X)

    def _train_step(self):
        layer = self.layer
        layer.forward(self.X)
        layer.backward(self.dout, None)
        p = layer._flat_params
        p -= self.lr * layer._flat_grads


class TorchCase:
    def __init__(self, cfg, dtype, mode, X, dout, state_dict):
        cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cfg.cell]
        tdtype = torch.float32 if dtype == np.float32 else torch.float64
        self.module = cls(cfg.I, cfg.H, num_layers=cfg.L, bidirectional=cfg.bidirectional,
                          batch_first=True, dtype=tdtype)
        self.module.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})
        self.p0 = [p.detach().clone() for p in self.module.parameters()]
        self.X = torch.from_numpy(X)
        self.dout = torch.from_numpy(dout)
        self.opt = torch.optim.SGD(self.module.parameters(), lr=LR)
        if mode == "train":
            self.module.train()
            self.run = self._train_step
        else:
            self.module.eval()
            self.run = self._forward

    def reset(self):
        with torch.no_grad():
            for p, p0 in zip(self.module.parameters(), self.p0):
                p.copy_(p0)

    def _forward(self):
        with torch.no_grad():
            return self.module(self.X)

    def _train_step(self):
        out = self.module(self.X)[0]
        (out * self.dout).sum().backward()
        self.opt.step()
        self.opt.zero_grad()


def check_parity(cfg, dtype, X, state_dict):
    """Max |seqcore - torch| on the outputs of one forward with the same weights."""
    layer = SEQCORE_LAYERS[cfg.cell](cfg.I, cfg.H, num_layers=cfg.L,
                                     bidirectional=cfg.bidirectional, dtype=dtype)
    layer.load_state_dict(state_dict)
    layer.eval()
    ours = layer.forward(X)[0]
    tc = TorchCase(cfg, dtype, "inference", X, np.zeros(1, dtype), state_dict)
    theirs = tc.run()[0].numpy()
    return float(np.max(np.abs(ours - theirs)))


def time_alternating(cases, min_reps, max_reps, budget_s, warmup=2):
    """Median seconds per call of each case, timed in turn.

    ``cases``: {name: object with .run() and .reset()}.  The order flips on
    every repetition (A B, B A, ...) so neither always runs first after the
    other's threads went idle.
    """
    names = list(cases)
    est = {}
    for name in names:
        for _ in range(warmup):
            cases[name].reset()
            t0 = time.perf_counter()
            cases[name].run()
            est[name] = time.perf_counter() - t0
    per_rep = sum(est.values())
    reps = int(min(max_reps, max(min_reps, budget_s / max(per_rep, 1e-6))))
    times = {name: [] for name in names}
    for r in range(reps):
        for name in (names if r % 2 == 0 else names[::-1]):
            case = cases[name]
            case.reset()
            t0 = time.perf_counter()
            case.run()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}, reps


# ---------------------------------------------------------------------------
# Other load on the machine
# ---------------------------------------------------------------------------

def _cpu_busy_s():
    """Seconds of CPU time used by all processes (from /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class LoadMonitor:
    """CPU seconds other processes use while a case runs, per wall second.

    Busy time of the whole machine (/proc/stat) minus this process's own CPU
    time: a value near 1 means another process kept one core busy, and the
    timings of that case are not trustworthy (OpenMP and BLAS threads that
    spin-wait suffer most when a core is taken away from them).
    """

    def __init__(self):
        self.available = _cpu_busy_s() is not None

    def start(self):
        self._t = (time.perf_counter(), _cpu_busy_s(), time.process_time())

    def others(self):
        if not self.available:
            return 0.0
        wall0, busy0, own0 = self._t
        wall = time.perf_counter() - wall0
        other = (_cpu_busy_s() - busy0) - (time.process_time() - own0)
        return max(other, 0.0) / max(wall, 1e-9)

    def wait_idle(self, threshold, max_wait):
        """Sleep until others use less than ``threshold`` CPUs (at most max_wait s)."""
        if not self.available:
            return 0.0
        deadline = time.perf_counter() + max_wait
        while True:
            self.start()
            time.sleep(0.3)
            load = self.others()
            if load < threshold or time.perf_counter() > deadline:
                return load


# ---------------------------------------------------------------------------
# load_digits: RNNClassifier.fit against the same loop in PyTorch
# ---------------------------------------------------------------------------

def bench_digits(threads, epochs=20, hidden=64, batch_size=32):
    """Time ``seqcore.RNNClassifier.fit`` on load_digits (rows as 8 steps of 8
    features) and the same training loop in PyTorch (GRU + linear head,
    cross-entropy, Adam, same epochs and batch size).  None if unavailable."""
    if not hasattr(seqcore, "RNNClassifier"):
        return {"skipped": "seqcore.RNNClassifier not available"}
    from sklearn.datasets import load_digits
    data = load_digits()
    X = (data.images / 16.0).astype(np.float32)  # (1797, 8, 8)
    y = data.target
    clf = seqcore.RNNClassifier(cell="gru", hidden_size=hidden, max_iter=epochs,
                                batch_size=batch_size, random_state=0)
    t0 = time.perf_counter()
    clf.fit(X, y)
    t_ours = time.perf_counter() - t0
    res = {"seqcore_s": t_ours, "seqcore_epochs": int(getattr(clf, "n_iter_", epochs)),
           "seqcore_train_accuracy": float(clf.score(X, y))}
    if torch is None:
        return res

    torch.manual_seed(0)
    gru = torch.nn.GRU(8, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, 10)
    params = list(gru.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), batch_size):
            idx = perm[i:i + batch_size]
            out, h_n = gru(Xt[idx])
            loss = loss_fn(head(h_n[-1]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    t_torch = time.perf_counter() - t0
    with torch.no_grad():
        acc = float((head(gru(Xt)[1][-1]).argmax(1) == yt).float().mean())
    res.update(torch_s=t_torch, torch_epochs=epochs, torch_train_accuracy=acc,
               ratio_per_epoch=(t_ours / res["seqcore_epochs"]) / (t_torch / epochs))
    return res


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

COLUMNS = [("config", 24), ("cell", 4), ("dtype", 7), ("mode", 9), ("seqcore ms", 10),
           ("torch ms", 9), ("sc/torch", 8), ("target", 6), ("limit ms", 9),
           ("sc/limit", 8), ("torch/lim", 9)]


def fmt_row(values):
    return "  ".join(f"{v:>{w}}" if i > 3 else f"{v:<{w}}"
                     for i, (v, (_, w)) in enumerate(zip(values, COLUMNS)))


def fmt_ms(s):
    if s is None:
        return "-"
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


def fmt_x(x, mark=None):
    if x is None:
        return "-"
    return f"{x:.2f}" + ("" if mark is None else (" " if mark else "!"))


def source_revision():
    """``git describe --always --dirty`` of the checkout seqcore was imported from."""
    where = os.path.dirname(os.path.abspath(seqcore.__file__))
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=where,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(threads):
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "filepath")}
            for d in threadpool_info() if d.get("user_api") == "blas"]
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "cpu": cpu, "cpu_count": os.cpu_count(), "threads": threads,
        "python": platform.python_version(), "numpy": np.__version__,
        "scipy": scipy.__version__, "seqcore": getattr(seqcore, "__version__", "?"),
        "seqcore_revision": source_revision(),
        "torch": torch.__version__ if torch is not None else None,
        "blas": blas, "loadavg_start": os.getloadavg(),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2,
                   help="BLAS threads for seqcore and torch.set_num_threads (default 2)")
    p.add_argument("--quick", action="store_true",
                   help="a subset (5 configurations, float32) in under a minute")
    p.add_argument("--cells", default="rnn,gru,lstm", help="comma-separated subset")
    p.add_argument("--dtypes", default=None,
                   help="float32,float64 (default both; float32 with --quick)")
    p.add_argument("--modes", default="inference,train", help="comma-separated subset")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timed calls per case (default 2, 0.25 with --quick)")
    p.add_argument("--min-reps", type=int, default=None, help="default 7 (3 with --quick)")
    p.add_argument("--digits", action=argparse.BooleanOptionalAction, default=None,
                   help="also time RNNClassifier.fit on load_digits (default: on, off with --quick)")
    p.add_argument("--idle-threshold", type=float, default=0.2,
                   help="CPUs other processes may use during a case before it is "
                        "timed again (default 0.2); rows above it are marked *")
    p.add_argument("--retries", type=int, default=2,
                   help="times a case is re-timed when other load exceeded the threshold")
    p.add_argument("--max-wait", type=float, default=30.0,
                   help="seconds to wait for the machine to go quiet before a case")
    p.add_argument("--no-torch", action="store_true", help="time seqcore only")
    p.add_argument("--json", metavar="PATH", help="write every result to this JSON file")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    global torch
    if args.no_torch:
        torch = None
    quick = args.quick
    budget = args.budget if args.budget is not None else (0.25 if quick else 2.0)
    min_reps = args.min_reps if args.min_reps is not None else (3 if quick else 7)
    dtypes = (args.dtypes or ("float32" if quick else "float32,float64")).split(",")
    cells = args.cells.split(",")
    modes = args.modes.split(",")
    digits = args.digits if args.digits is not None else not quick
    configs = [c for c in (quick_configs() if quick else full_configs()) if c.cell in cells]

    if torch is not None:
        torch.set_num_threads(args.threads)
    limiter = GemmLimit(args.threads, reps=3 if quick else 7)
    monitor = LoadMonitor()
    info = machine_info(args.threads)
    print(f"seqcore {info['seqcore']} ({info['seqcore_revision']}) vs torch {info['torch'] or '(not installed)'} | "
          f"{info['cpu']} | {info['cpu_count']} CPUs | {args.threads} threads | "
          f"{info['date']}")
    print("limit = fastest scipy ?gemm time of the step's exact products; "
          "target = issue 6's ceiling on sc/torch ('!' = missed)\n")
    header = [c for c, _ in COLUMNS]
    print(fmt_row(header))
    print(fmt_row(["-" * w for _, w in COLUMNS]))

    results = []
    for cfg in configs:
        for dtype_name in dtypes:
            dtype = np.dtype(dtype_name).type
            X, dout = make_data(cfg, dtype)
            for mode in modes:
                with threadpool_limits(args.threads, user_api="blas"):
                    ours = SeqcoreCase(cfg, dtype, mode, X, dout)
                    cases = {"seqcore": ours}
                    diff = None
                    if torch is not None:
                        sd = ours.layer.state_dict()
                        cases["torch"] = TorchCase(cfg, dtype, mode, X, dout, sd)
                        if mode == "inference":
                            diff = check_parity(cfg, dtype, X, sd)
                    # on a shared machine: wait for quiet, and time again
                    # when another process took CPU during the case
                    best = None
                    for _ in range(1 + args.retries):
                        monitor.wait_idle(args.idle_threshold, args.max_wait)
                        monitor.start()
                        med, reps = time_alternating(cases, min_reps, 300, budget)
                        load = monitor.others()
                        if best is None or load < best[2]:
                            best = (med, reps, load)
                        if load <= args.idle_threshold:
                            break
                    med, reps, load = best
                gemms = step_gemms(cfg, mode)
                lim, lim_full = limiter.limit(dtype, gemms)
                t_sc, t_th = med["seqcore"], med.get("torch")
                ratio = t_sc / t_th if t_th else None
                tgt = target(cfg, dtype_name, mode)
                row = {
                    **asdict(cfg), "config": cfg.label, "dtype": dtype_name, "mode": mode,
                    "seqcore_ms": t_sc * 1e3,
                    "torch_ms": t_th * 1e3 if t_th else None,
                    "ratio": ratio, "target": tgt,
                    "meets_target": (ratio <= tgt) if ratio is not None else None,
                    "limit_ms": lim * 1e3, "limit_all_threads_ms": lim_full * 1e3,
                    "gflop": gemm_flops(gemms) / 1e9,
                    "seqcore_over_limit": t_sc / lim,
                    "torch_over_limit": t_th / lim if t_th else None,
                    "limit_target": LIMIT_TARGET if cfg.H >= 256 else None,
                    "reps": reps, "max_abs_diff": diff, "other_load": load,
                }
                results.append(row)
                print(fmt_row([
                    cfg.label, cfg.cell, dtype_name, mode, fmt_ms(t_sc), fmt_ms(t_th),
                    fmt_x(ratio, None if ratio is None else ratio <= tgt), f"{tgt:.2f}",
                    fmt_ms(lim),
                    fmt_x(t_sc / lim, None if cfg.H < 256 else t_sc / lim <= LIMIT_TARGET),
                    fmt_x(t_th / lim if t_th else None)])
                      + (f"  * other load {load:.2f} CPU" if load > args.idle_threshold
                         else ""), flush=True)
                tol = 1e-3 if dtype == np.float32 else 1e-9
                if diff is not None and diff > tol:
                    print(f"  WARNING: seqcore and torch outputs differ by {diff:.3g}")

    digits_res = None
    if digits:
        with threadpool_limits(args.threads, user_api="blas"):
            digits_res = bench_digits(args.threads)
        print("\nRNNClassifier.fit on load_digits (GRU 64, 20 epochs, batch 32):",
              json.dumps(digits_res))

    with_torch = [r for r in results if r["ratio"] is not None]
    if with_torch:
        missed = [r for r in with_torch if not r["meets_target"]]
        print(f"\nsc/torch targets met: {len(with_torch) - len(missed)}/{len(with_torch)}")
    big = [r for r in results if r["limit_target"]]
    if big:
        ok = sum(r["seqcore_over_limit"] <= LIMIT_TARGET for r in big)
        print(f"within {LIMIT_TARGET}x of the GEMM limit at H >= 256: {ok}/{len(big)}")
    info["loadavg_end"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": results, "digits": digits_res,
                       "gemm_call_overhead_us": {np.dtype(k).name: v * 1e6 for k, v
                                                 in limiter._overhead.items()}},
                      f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

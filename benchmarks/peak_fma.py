"""The machine's peak float32 multiply-add rate, measured in registers.

A register-only loop of independent FMA chains (24 on 512-bit zmm registers
with AVX-512, 12 on 256-bit ymm registers with AVX2 + FMA): enough
accumulators to cover the FMA latency on every pipe, no memory touched
inside the loop, so the loop runs at the core's FMA throughput.  It is the
ceiling no matrix product can pass; ``bench_rnn.py`` reports each large
float32 LSTM case as a fraction of it.

The loop is C (``peak_fma.c`` beside this file), compiled with the system C
compiler into a temporary directory at run time and called through ctypes,
which releases the GIL: two Python threads run two loops at once.  Nothing
is built at install time.

Run ``python benchmarks/peak_fma.py`` (``--threads N``, ``--seconds S``,
``--json PATH``).  On a shared machine the best of several short rounds is
kept (another process can only slow a round down).

``--step ROWS,H[,STEPS]`` (repeatable) also profiles one float32 LSTM time
step of ROWS rows and hidden size H on one thread (``peak_fma_step.c``,
compiled against the core's headers in ``include/``): the hidden product on
the packed W_hh and the gate math, each as a fraction of the peak, e.g.
``--step 32,128 --step 64,512 --step 1,128,1000`` (a row range of the
(64, 100, 32, 128) and (128, 50, 128, 512) benchmarks, and streaming).
"""

import argparse
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "peak_fma.c")
STEP_SOURCE = os.path.join(HERE, "peak_fma_step.c")
INCLUDE = os.path.join(os.path.dirname(HERE), "include")

_lib = None


def _compiler():
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise RuntimeError("peak_fma: no C compiler found (set CC)")


def load():
    """The compiled loops (built once per process into a temporary directory)."""
    global _lib
    if _lib is not None:
        return _lib
    tmp = tempfile.mkdtemp(prefix="seqcore_peak_fma_")
    path = os.path.join(tmp, "peak_fma.so")
    cmd = [_compiler(), "-O2", "-shared", "-fPIC", SOURCE, "-o", path]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"peak_fma: {' '.join(cmd)} failed:\n{done.stderr}")
    lib = ctypes.CDLL(path)
    for name in ("peak_fma_zmm", "peak_fma_ymm"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_float
        fn.argtypes = [ctypes.c_long, ctypes.c_float]
    for name in ("peak_cpu_level", "peak_per_iter_zmm", "peak_per_iter_ymm"):
        getattr(lib, name).restype = ctypes.c_int
    _lib = lib
    shutil.rmtree(tmp, ignore_errors=True)   # the mapping stays valid
    return lib


def _one_loop(kind, iters):
    """Seconds one loop of ``iters`` iterations takes on this thread."""
    lib = load()
    fn = lib.peak_fma_zmm if kind == "zmm" else lib.peak_fma_ymm
    t0 = time.perf_counter()
    fn(iters, 1.0)
    return time.perf_counter() - t0


def rate(kind, threads=1, seconds=0.05, rounds=7):
    """Best float32 multiply-adds per second (all threads together) over
    ``rounds`` rounds of about ``seconds`` each, ``threads`` loops at once."""
    lib = load()
    per_iter = lib.peak_per_iter_zmm() if kind == "zmm" else lib.peak_per_iter_ymm()
    # calibrate: iterations for about `seconds`
    iters = 10000
    while True:
        t = _one_loop(kind, iters)
        if t > 0.01:
            break
        iters *= 4
    iters = max(1, int(iters * seconds / t))
    best = 0.0
    for _ in range(rounds):
        times = [None] * threads
        start = threading.Barrier(threads)

        def work(i):
            start.wait()
            times[i] = _one_loop(kind, iters)

        pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        # the slowest loop bounds what the threads did together
        best = max(best, threads * iters * per_iter / max(times))
    return best


def profile_step(rows, H, steps=50):
    """One float32 LSTM step's product and gate math on one thread, timed by
    peak_fma_step.c (best of 5 rounds of ``steps`` steps): a dict of
    seconds per step, the product's multiply-adds per second and the kernels
    used."""
    tmp = tempfile.mkdtemp(prefix="seqcore_peak_step_")
    try:
        exe = os.path.join(tmp, "step")
        # the flags setup.py gives the extension under GCC and clang: the
        # kernels' speed depends on them (-O3 unrolls the register blocks;
        # without -fno-trapping-math the logistic divides twice per vector)
        cmd = [_compiler(), "-O3", "-fno-trapping-math", "-std=gnu11", "-D_GNU_SOURCE",
               f"-I{INCLUDE}", STEP_SOURCE, "-o", exe, "-lm"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"peak_fma: {' '.join(cmd)} failed:\n{done.stderr}")
        out = subprocess.run([exe, str(rows), str(H), str(steps)], capture_output=True,
                             text=True, check=True).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    kv = dict(item.split("=", 1) for item in out.split())
    product, gates = float(kv["product_s"]), float(kv["gates_s"])
    return {"kernels": kv["kernels"], "rows": rows, "H": H,
            "product_s_per_step": product / steps, "gates_s_per_step": gates / steps,
            "product_madds_per_s": float(kv["madds"]) / product,
            "gates_over_product": gates / product}


def measure(threads=2, seconds=0.05, rounds=7):
    """The peak float32 multiply-add rates of this machine, as a dict:
    ``kind`` ("zmm" with AVX-512, "ymm" with AVX2 + FMA, None without either),
    ``per_core`` (one thread) and ``all_threads`` (``threads`` at once), in
    multiply-adds per second, and the same for the other width where it runs."""
    lib = load()
    level = lib.peak_cpu_level()
    out = {"kind": None, "per_core": None, "all_threads": None, "threads": threads}
    kinds = ["zmm", "ymm"] if level >= 2 else ["ymm"] if level == 1 else []
    for kind in kinds:
        one = rate(kind, 1, seconds, rounds)
        many = rate(kind, threads, seconds, rounds) if threads > 1 else one
        out[kind] = {"per_core": one, "all_threads": many}
    if kinds:
        best = max(kinds, key=lambda k: out[k]["per_core"])
        out.update(kind=best, per_core=out[best]["per_core"],
                   all_threads=out[best]["all_threads"])
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=0.05, help="length of one round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--step", metavar="ROWS,H[,STEPS]", action="append", default=[],
                   help="also profile one float32 LSTM step (repeatable)")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error("--threads must be at least 1")
    steps = []
    for spec in args.step:
        try:
            vals = [int(v) for v in spec.split(",")]
        except ValueError:
            vals = []
        if len(vals) not in (2, 3) or min(vals) < 1:
            p.error(f"--step {spec!r}: expected ROWS,H or ROWS,H,STEPS (positive integers)")
        steps.append(vals)
    res = measure(args.threads, args.seconds, args.rounds)
    if res["kind"] is None:
        print("no AVX2 + FMA or AVX-512 on this CPU: nothing to measure")
        return 1
    for kind in ("zmm", "ymm"):
        if kind in res:
            r = res[kind]
            print(f"{kind}: {r['per_core'] / 1e9:7.1f} G float32 multiply-adds/s on one "
                  f"thread, {r['all_threads'] / 1e9:7.1f} G on {args.threads} "
                  f"({r['all_threads'] / r['per_core']:.2f}x)")
    print(f"peak: {res['per_core'] / 1e9:.1f} G/s per core ({res['kind']}), "
          f"{res['all_threads'] / 1e9:.1f} G/s on {args.threads} threads; "
          f"load average {os.getloadavg()[0]:.2f}")
    res["steps"] = []
    for vals in steps:
        st = profile_step(*vals)
        res["steps"].append(st)
        print(f"LSTM step, {st['rows']} rows, H = {st['H']} ({st['kernels']}, one thread): "
              f"product {st['product_s_per_step'] * 1e6:.2f} us "
              f"({st['product_madds_per_s'] / 1e9:.1f} G/s, "
              f"{100 * st['product_madds_per_s'] / res['per_core']:.0f}% of the peak), "
              f"gate math {st['gates_s_per_step'] * 1e6:.2f} us "
              f"({100 * st['gates_over_product']:.0f}% of the product)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

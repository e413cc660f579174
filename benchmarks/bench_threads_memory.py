"""Threads and memory of seqcore's recurrent layers.

(a) Threads.  The core releases the GIL around each scan, so two Python
    threads running inference on large batches should finish in clearly less
    than twice the time of one.  BLAS is pinned to one thread with
    threadpoolctl for this measurement, so that the two threads do not just
    share a BLAS thread pool.  Reported: the median time of one call alone,
    two calls one after the other, the wall time of two concurrent calls
    (two layers, and one layer shared by both threads), the ratio of
    concurrent to one call (1.0 = perfect overlap, 2.0 = serialised), and the
    process CPU time per wall second during the concurrent calls (2.0 = both
    threads computing all along).  The same test on NumPy matrix products,
    interleaved with seqcore's, shows how much parallelism the machine offered
    meanwhile (on a shared machine, other processes take cores).  Needs
    two idle cores to mean anything: on a loaded machine both ratios drift up.

(b) Memory, with tracemalloc (NumPy reports its buffers to it):
    * training: what a training forward keeps for backward (the layer's
      cache), and the peak of forward + backward, per sample per step,
      against what backpropagation through time must keep per step and
      sample: the gate activations (G*H), the hidden state (H), the LSTM's
      cell state (H) and the cell's auxiliary values (H for the GRU's
      W_hn h + b_hn and the LSTM's tanh(c)), plus the input of the step (I)
      needed for the weight gradient;
    * inference: the peak of an eval forward beyond its own input and
      output, as a function of T, for a layer (outputs of every step
      returned) and for a many-to-one network prediction (no outputs).  A
      unidirectional layer runs sequences longer than EVAL_CHUNK_STEPS (256)
      in chunks, each with one input-projection GEMM, so the peak stays
      constant; a whole-sequence pass would need a (T, B, G*H) projection
      buffer.

Usage:
    PYTHONPATH=python python benchmarks/bench_threads_memory.py [--quick] [--json PATH]
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import tracemalloc

import numpy as np

from seqcore.nn import GRU, LSTM, RNN, SequenceNetwork

try:
    from threadpoolctl import threadpool_limits
except ImportError:          # the [bench] extra installs it
    threadpool_limits = None

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
CLASSES = {"RNN": RNN, "GRU": GRU, "LSTM": LSTM}


# ---------------------------------------------------------------------- threads
def _timed(fn):
    """(wall seconds, process CPU seconds per wall second) of one fn()."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    return wall, (time.process_time() - c0) / wall


def _concurrent(fns):
    """Run the callables together, one thread each, released by a barrier."""
    barrier = threading.Barrier(len(fns))

    def run(f):
        barrier.wait()
        f()

    threads = [threading.Thread(target=run, args=(f,)) for f in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _reference_calls(seconds):
    """Two NumPy workloads (matrix products, run without the GIL) of about
    ``seconds`` each: how much parallelism the machine offers right now."""
    rng = np.random.default_rng(3)
    mats = [rng.standard_normal((600, 600)).astype(np.float32) for _ in range(2)]
    t0 = time.perf_counter()
    for _ in range(5):
        mats[0] @ mats[0]
    n = max(1, int(seconds / ((time.perf_counter() - t0) / 5)))
    return [lambda k=k: [mats[k] @ mats[k] for _ in range(n)] for k in range(2)]


def bench_threads(cell, B, T, I, H, dtype, repeats):
    """Alternates, in every repetition, one call alone, two calls one after the
    other, two concurrent calls (two layers; one shared layer) and the NumPy
    reference alone and concurrent, so that all see the same machine load."""
    rng = np.random.default_rng(0)
    layers = [CLASSES[cell](I, H, dtype=dtype, random_state=k).eval() for k in range(2)]
    Xs = [rng.standard_normal((B, T, I)).astype(dtype) for _ in range(2)]
    calls = [lambda k=k: layers[k].forward(Xs[k]) for k in range(2)]
    shared = [lambda k=k: layers[0].forward(Xs[k]) for k in range(2)]
    for f in calls:            # warm up
        f()
    ref = _reference_calls(_timed(calls[0])[0])
    rows = {k: [] for k in ("one", "serial", "two", "two_cpu", "shared", "ref_one", "ref_two",
                            "ref_two_cpu")}
    for _ in range(repeats):
        rows["one"].append(_timed(calls[0])[0])
        rows["serial"].append(_timed(lambda: [f() for f in calls])[0])
        wall, cpu = _timed(lambda: _concurrent(calls))
        rows["two"].append(wall)
        rows["two_cpu"].append(cpu)
        rows["shared"].append(_timed(lambda: _concurrent(shared))[0])
        rows["ref_one"].append(_timed(ref[0])[0])
        wall, cpu = _timed(lambda: _concurrent(ref))
        rows["ref_two"].append(wall)
        rows["ref_two_cpu"].append(cpu)
    med = {k: statistics.median(v) for k, v in rows.items()}
    ratio = statistics.median([t / o for t, o in zip(rows["two"], rows["one"])])
    ratio_shared = statistics.median([t / o for t, o in zip(rows["shared"], rows["one"])])
    ratio_ref = statistics.median([t / o for t, o in zip(rows["ref_two"], rows["ref_one"])])
    return dict(cell=cell, B=B, T=T, I=I, H=H, dtype=np.dtype(dtype).name,
                one_call_s=med["one"], two_serial_s=med["serial"],
                two_concurrent_s=med["two"], ratio=ratio,
                two_concurrent_shared_layer_s=med["shared"], ratio_shared=ratio_shared,
                cpu_per_wall_concurrent=med["two_cpu"],
                reference_ratio=ratio_ref, reference_cpu_per_wall=med["ref_two_cpu"],
                load_average_1min=os.getloadavg()[0], cpus=os.cpu_count())


# ----------------------------------------------------------------------- memory
def _traced(fn):
    """(peak bytes, retained bytes, result) of fn() under tracemalloc."""
    tracemalloc.start()
    try:
        result = fn()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, retained, result


def bptt_must_keep(cell, I, H, itemsize):
    """Bytes per sample per step BPTT must keep: gates, h, c, aux, the input."""
    G = GATES[cell]
    per = G * H + H + I
    if cell == "LSTM":
        per += 2 * H          # c and tanh(c)
    elif cell == "GRU":
        per += H              # W_hn h + b_hn (reset_after) or r * h
    return per * itemsize


def bench_training_memory(cell, B, T, I, H, dtype):
    rng = np.random.default_rng(1)
    layer = CLASSES[cell](I, H, dtype=dtype, random_state=0).train()
    X = rng.standard_normal((B, T, I)).astype(dtype)
    d_out = np.ones((B, T, H), dtype)
    layer.forward(X[:, :5])                      # warm up (allocations of first use)
    layer.backward(d_out[:, :5])
    itemsize = np.dtype(dtype).itemsize
    out_bytes = B * T * H * itemsize

    def forward():
        out, _ = layer.forward(X)
        return out

    f_peak, f_retained, out = _traced(forward)
    kept = f_retained - out.nbytes               # the cache, beyond the returned outputs
    del out
    b_peak, _, _ = _traced(lambda: layer.backward(d_out))
    steps = B * T
    return dict(cell=cell, B=B, T=T, I=I, H=H, dtype=np.dtype(dtype).name,
                kept_for_backward_per_sample_step=kept / steps,
                forward_peak_per_sample_step=f_peak / steps,
                backward_peak_per_sample_step=b_peak / steps,
                bptt_must_keep_per_sample_step=bptt_must_keep(cell, I, H, itemsize),
                outputs_per_sample_step=out_bytes / steps,
                kept_over_must_keep=kept / steps / bptt_must_keep(cell, I, H, itemsize))


def bench_inference_memory(cell, B, Ts, I, H, dtype):
    rng = np.random.default_rng(2)
    layer = CLASSES[cell](I, H, dtype=dtype, random_state=0).eval()
    layer.forward(rng.standard_normal((B, 5, I)).astype(dtype))
    net = SequenceNetwork(cell.lower(), I, H, 2, loss="softmax", dtype=dtype, random_state=0)
    net.decision_function(rng.standard_normal((B, 5, I)).astype(dtype))
    rows = []
    for T in Ts:
        X = rng.standard_normal((B, T, I)).astype(dtype)
        peak, retained, (out, _) = _traced(lambda: layer.forward(X))
        out_bytes = out.nbytes
        extra = peak - out_bytes                 # X was allocated before tracing
        del out
        # a many-to-one prediction (what the estimators do): no outputs at all
        net_peak, _, _ = _traced(lambda: net.decision_function(X))
        rows.append(dict(cell=cell, B=B, T=T, I=I, H=H, dtype=np.dtype(dtype).name,
                         input_MB=X.nbytes / 2**20, output_MB=out_bytes / 2**20,
                         peak_beyond_output_MB=extra / 2**20,
                         peak_beyond_output_per_step_B=extra / T,
                         retained_beyond_output_MB=(retained - out_bytes) / 2**20,
                         many_to_one_peak_MB=net_peak / 2**20))
    return rows


# ------------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--only", choices=("threads", "memory"), help="run one part only")
    args = p.parse_args(argv)
    repeats = 5 if args.quick else 9
    results = {"threads": [], "training_memory": [], "inference_memory": []}

    if args.only != "memory":
        bench_threads_part(args, repeats, results)
    if args.only != "threads":
        bench_memory_part(args, results)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
        print(f"\nresults written to {args.json}")
    return 0


def bench_threads_part(args, repeats, results):
    print("(a) two threads of inference, BLAS pinned to 1 thread "
          f"({'threadpoolctl' if threadpool_limits else 'threadpoolctl missing: not pinned'})")
    configs = [("LSTM", 256, 100, 64, 256, np.float32)]
    if not args.quick:
        configs += [("GRU", 256, 100, 64, 256, np.float32),
                    ("LSTM", 256, 100, 64, 256, np.float64),
                    ("RNN", 256, 100, 64, 256, np.float32)]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          "'reference' = the same test on NumPy matrix products (no GIL) in the same "
          "repetitions: the parallelism the machine offered meanwhile")
    print(f"{'cell':<5} {'B':>4} {'T':>4} {'H':>4} {'dtype':<8} {'one call':>9} "
          f"{'two serial':>11} {'two threads':>12} {'ratio':>6} {'shared':>7} "
          f"{'cpu/wall':>8} {'ref ratio':>9} {'ref cpu/wall':>12}")
    for cfg in configs:
        if threadpool_limits is not None:
            with threadpool_limits(1, user_api="blas"):
                r = bench_threads(*cfg, repeats)
        else:
            r = bench_threads(*cfg, repeats)
        results["threads"].append(r)
        print(f"{r['cell']:<5} {r['B']:>4} {r['T']:>4} {r['H']:>4} {r['dtype']:<8} "
              f"{r['one_call_s'] * 1e3:>7.1f}ms {r['two_serial_s'] * 1e3:>9.1f}ms "
              f"{r['two_concurrent_s'] * 1e3:>10.1f}ms {r['ratio']:>6.2f} "
              f"{r['ratio_shared']:>7.2f} {r['cpu_per_wall_concurrent']:>8.2f} "
              f"{r['reference_ratio']:>9.2f} {r['reference_cpu_per_wall']:>12.2f}", flush=True)



def bench_memory_part(args, results):
    print("\n(b1) training memory, bytes per sample per step (tracemalloc)")
    print(f"{'cell':<5} {'B':>4} {'T':>5} {'I':>4} {'H':>4} {'dtype':<8} {'kept':>8} "
          f"{'must keep':>10} {'ratio':>6} {'fwd peak':>9} {'bwd peak':>9} {'outputs':>8}")
    for cell in ("RNN", "GRU", "LSTM"):
        for dtype in (np.float32, np.float64):
            r = bench_training_memory(cell, 64, 200 if args.quick else 500, 32, 128, dtype)
            results["training_memory"].append(r)
            print(f"{cell:<5} {r['B']:>4} {r['T']:>5} {r['I']:>4} {r['H']:>4} {r['dtype']:<8} "
                  f"{r['kept_for_backward_per_sample_step']:>8.0f} "
                  f"{r['bptt_must_keep_per_sample_step']:>10.0f} {r['kept_over_must_keep']:>6.2f} "
                  f"{r['forward_peak_per_sample_step']:>9.0f} "
                  f"{r['backward_peak_per_sample_step']:>9.0f} "
                  f"{r['outputs_per_sample_step']:>8.0f}", flush=True)

    print("\n(b2) inference memory against T (eval forward, B=8, I=32, H=128, float32)")
    print(f"{'cell':<5} {'T':>6} {'input MB':>9} {'output MB':>10} {'peak-output MB':>15} "
          f"{'per step B':>11} {'retained MB':>12} {'many-to-one peak MB':>20}")
    Ts = (100, 1_000, 10_000) if args.quick else (100, 1_000, 10_000, 100_000)
    for cell in ("GRU", "LSTM"):
        for r in bench_inference_memory(cell, 8, Ts, 32, 128, np.float32):
            results["inference_memory"].append(r)
            print(f"{cell:<5} {r['T']:>6} {r['input_MB']:>9.2f} {r['output_MB']:>10.2f} "
                  f"{r['peak_beyond_output_MB']:>15.2f} {r['peak_beyond_output_per_step_B']:>11.0f} "
                  f"{r['retained_beyond_output_MB']:>12.3f} {r['many_to_one_peak_MB']:>20.2f}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())

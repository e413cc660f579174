"""Data-parallel training on a Dask cluster: measured costs and a model of the speed-up.

Design.  For each model (a forecaster-like regressor and a language-model-like
token tagger, see ``MODELS``) the script

1. times one batch's gradient in this process (``compute``: the seconds of
   ``seqcore._distributed.shard_gradient`` on the whole batch), which gives
   the compute per sample;
2. fits one epoch-and-more on a ``distributed.LocalCluster`` of 1 and of 2
   single-threaded worker processes (``processes=True``,
   ``threads_per_worker=1``) on a Dask array of 2 partitions (the same
   shards, hence the same model, on both clusters), and times the steps of
   the later epochs (a callback reads the clock at each epoch's end): step
   time and throughput (samples per second);
3. counts the bytes one step moves: the parameters to every partition and
   one gradient back (2 x parameter bytes per partition);
4. fits the overhead per step, ``alpha = step(1 worker) - C`` where ``C`` is
   the worker's own compute of the batch's gradients (timed on the worker),
   and models the step time at W workers on a network of ``--gbps``::

       t(W) = C / W + alpha + 2 * W * P / bandwidth           (star: the client
                                                               sends and sums)

   which is what seqcore does (the client sends parameters to, and sums the
   gradients of, every partition); a ring all-reduce would move
   ``2 * P * (W - 1) / W`` per worker instead (printed too);
5. ``--local-sgd``: the accuracy cost of the alternative when exchange
   dominates, local steps with periodic parameter averaging, simulated in
   one process: 4 shards each take H steps on their own data from the
   averaged parameters, then the parameters (and nothing else) are averaged;
   the validation R^2 after the same number of epochs is compared with
   synchronous data-parallel training (H = 1 is exactly that).

Run (from a source checkout built in place)::

    PYTHONPATH=python python benchmarks/bench_distributed.py            # ~2-4 min
    PYTHONPATH=python python benchmarks/bench_distributed.py --local-sgd
    PYTHONPATH=python python benchmarks/bench_distributed.py --memory

Timings on a shared machine are noisy: the script prints the load average
before and after each cluster run.
"""

import argparse
import os
import pickle
import time
import warnings

import numpy as np

VOCAB = 2000
# model name -> (estimator class name, parameters, data shape (n, T, F) or
# (n, T) for token ids, batch size)
MODELS = {
    "forecaster-like": ("RNNRegressor",
                        dict(cell="lstm", hidden_size=64, dense_layers=(32,)),
                        (2048, 48, 4), 256),
    # the threshold: a step of some 10 ms of compute
    "forecaster-like-10ms": ("RNNRegressor",
                             dict(cell="lstm", hidden_size=64, dense_layers=(32,)),
                             (2048, 48, 4), 64),
    "language-model-like": ("RNNClassifier",
                            dict(cell="lstm", hidden_size=128, embedding_dim=64, vocab_size=VOCAB,
                                 return_sequences=True),
                            (512, 35), 64),
}


def make_data(name, rng):
    cls, params, shape, batch = MODELS[name]
    if len(shape) == 2:   # token ids; targets: the next token (a tagger of the next id)
        X = rng.integers(2, VOCAB, size=shape)
        y = np.roll(X, -1, axis=1)
        y[:, -1] = 1
        return X, y
    X = rng.standard_normal(shape).astype(np.float32)
    y = X[:, -12:, 0].mean(axis=1) + 0.1 * X[:, :, 1].mean(axis=1)
    return X, y


def estimator(name, **extra):
    import seqcore

    cls, params, shape, batch = MODELS[name]
    return getattr(seqcore, cls)(**{**params, "batch_size": batch, "random_state": 0, **extra})


def built(name, X, y, **extra):
    """An estimator with its network built (one partial_fit call on 8 samples;
    every class declared)."""
    est = estimator(name, **extra)
    kwargs = {"classes": np.arange(VOCAB)} if MODELS[name][0] == "RNNClassifier" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.partial_fit(X[:8], y[:8], **kwargs)
    return est


def compute_seconds(name, reps=5):
    """Median seconds of one whole batch's gradient in this process, and the
    parameter count."""
    from seqcore import _distributed

    rng = np.random.default_rng(0)
    X, y = make_data(name, rng)
    batch = MODELS[name][3]
    est = built(name, X, y)
    net = est.network_
    task_args = _task_arrays(est, X, y)
    rows = np.arange(batch)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        _distributed.shard_gradient(net, *task_args[:1], rows, *task_args[1:], None, 0)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), net.flat_params.size, net.flat_params.itemsize


def _task_arrays(est, X, y):
    """The checked (X, lengths, Y, w, k) the estimator trains on."""
    Xp, lengths, mode = est._check_X(X, reset=False)
    if est.return_sequences:
        y = est._per_step(y, lengths, mode)
    Y, w = est._encode_y(y, lengths, np.ones(len(lengths)), first=False)
    net = est.network_
    Y = net._check_targets(Y, len(lengths), Xp.shape[1], lengths)
    w = net._check_weights(w, len(lengths), Xp.shape[1], lengths)
    return Xp, lengths, Y, w, Xp.shape[1]


def _install_timer():
    """On a worker: time every shard_gradient call (to split compute from overhead)."""
    from seqcore import _distributed as d

    if getattr(d, "_bench_times", None) is not None:
        return
    d._bench_times, inner = [], d.shard_gradient

    def timed(*args):
        t = time.perf_counter()
        out = inner(*args)
        d._bench_times.append(time.perf_counter() - t)
        return out
    d.shard_gradient = timed


def _timer_total():
    from seqcore import _distributed as d

    return sum(d._bench_times), len(d._bench_times)


class Clock:
    """A callback: the clock at the end of each epoch."""

    def __init__(self):
        self.ticks = []

    def __call__(self, est, history):
        self.ticks.append(time.perf_counter())
        return False


def cluster_run(name, n_workers, epochs=3):
    """(seconds per step, samples per second) of the later epochs on a LocalCluster."""
    import dask.array as da
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(0)
    X, y = make_data(name, rng)
    n, batch = X.shape[0], MODELS[name][3]
    with LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                      host="127.0.0.1", dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(__import__, "seqcore")
        client.run(_install_timer)
        Xd = da.from_array(X, chunks=(n // 2,) + (-1,) * (X.ndim - 1))
        clock = Clock()
        est = estimator(name, max_iter=epochs, callbacks=[clock], tol=0,
                        n_iter_no_change=epochs + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(Xd, y)
        ticks = est.callbacks_[0].ticks
        timers = client.run(_timer_total)
    seconds = (ticks[-1] - ticks[0]) / (len(ticks) - 1)   # per epoch, after the first
    steps = -(-n // batch)
    # the busiest worker's compute per step (all epochs)
    worker = max(total for total, _ in timers.values()) / (steps * epochs)
    return seconds / steps, n / seconds, worker


def message_bytes(name):
    """Pickled bytes of one partition's call (parameters) and reply (gradient)."""
    cls, params, shape, batch = MODELS[name]
    _, P, itemsize = compute_seconds(name, reps=1)
    p = np.zeros(P, np.float32 if itemsize == 4 else np.float64)
    call = len(pickle.dumps((p, np.arange(batch // 2), shape[1], None, 0), protocol=5))
    reply = len(pickle.dumps((0.5, float(batch // 2), p), protocol=5))
    return call, reply


def model_table(compute, alpha, P_bytes, gbps, workers=(1, 2, 8, 32, 128)):
    bw = gbps * 1e9 / 8
    rows = []
    for W in workers:
        star = compute / W + alpha + 2 * W * P_bytes / bw
        ring = compute / W + alpha + 2 * P_bytes * (W - 1) / W / bw
        rows.append((W, star, (compute + alpha) / star, ring, (compute + alpha) / ring))
    return rows


def local_sgd(name, H_values=(1, 4, 16), shards=4, epochs=4):
    """Validation score after ``epochs`` with H local steps between averaging,
    and (key 'sync') of seqcore's synchronous data-parallel fit (the same
    shards and global batch, ``gradient_shards=shards``)."""
    from seqcore import _distributed
    from seqcore.nn._optim import make_optimizer

    rng = np.random.default_rng(1)
    X, y = make_data(name, rng)
    n = X.shape[0]
    split = int(0.8 * n)
    out = {}
    for H in H_values:
        est = built(name, X, y)
        net = est.network_
        start = net.flat_params.copy()
        Xp, lengths, Y, w, k = _task_arrays(est, X[:split], y[:split])
        sizes = _distributed.shard_sizes(split, shards)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        batch = MODELS[name][3] // shards        # the same global batch
        opts = []
        params = [start.copy() for _ in range(shards)]
        for s in range(shards):
            opts.append(make_optimizer("adam", net.flat_params, net.flat_grads, lr=0.01))
        order_rng = np.random.default_rng(2)
        steps = int(sizes.min()) // batch
        for _ in range(epochs):
            orders = [bounds[s] + order_rng.permutation(sizes[s]) for s in range(shards)]
            for step in range(steps):
                for s in range(shards):
                    # each shard trains its own copy (its own Adam state too)
                    net.flat_params[:] = params[s]
                    opts[s].rebind(net.flat_params, net.flat_grads)
                    rows = orders[s][step * batch:(step + 1) * batch]
                    net._train_batch(Xp, rows, lengths, Y, w, k)
                    opts[s].step()
                    params[s] = net.flat_params.copy()
                if (step + 1) % H == 0 or step == steps - 1:
                    mean = np.mean(params, axis=0, dtype=np.float64).astype(start.dtype)
                    params = [mean.copy() for _ in range(shards)]
        net.flat_params[:] = params[0]
        out[H] = est.score(X[split:], y[split:])
    sync = estimator(name, max_iter=epochs, gradient_shards=shards, tol=0,
                     n_iter_no_change=epochs + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sync.fit(X[:split], y[:split])
    out["sync"] = sync.score(X[split:], y[split:])
    return out


def client_memory(n_series=20000, T=48, F=4, n_workers=2):
    """Peak growth of this process's RSS (bytes) while fitting a regressor on
    ``n_series`` synthetic series made on the workers, and the data's bytes."""
    import threading

    import dask.array as da
    import psutil
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                      host="127.0.0.1", dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(__import__, "seqcore")
        X = da.random.default_rng(0).standard_normal((n_series, T, F), chunks=(5000, -1, -1),
                                                     dtype=np.float32)
        y = X[:, -12:, 0].mean(axis=1)
        est = estimator("forecaster-like", max_iter=1, batch_size=1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X[:1000], y[:1000])        # warm up
            proc, peak, done = psutil.Process(), [], threading.Event()

            def watch():
                while not done.is_set():
                    peak.append(proc.memory_info().rss)
                    time.sleep(0.005)

            start = proc.memory_info().rss
            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                est.fit(X, y)
            finally:
                done.set()
                watcher.join()
    return max(peak) - start, X.nbytes


def step_overhead(name="forecaster-like-10ms", reps=40, rounds=5):
    """Seconds of one step's exchange with 2 partitions on a 2-worker cluster,
    without compute (the calls ask for rows of no weight) and with it (half a
    batch each), sent (a) as each actor's own method calls, which travel
    through the scheduler, and (b) as seqcore sends them
    (``_distributed.call_actors``: straight to the workers, one wait);
    interleaved, ``rounds`` x ``reps`` of each.  Returns {(path, rows): times}."""
    import dask.array as da
    from distributed import Client, LocalCluster

    from seqcore import _distributed

    rng = np.random.default_rng(0)
    X, y = make_data(name, rng)
    est = built(name, X, y)
    net = est.network_
    Xp, lengths, Y, w, k = _task_arrays(est, X, y)
    n, batch = X.shape[0], MODELS[name][3]
    times = {}
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(__import__, "seqcore")
        Xd = da.from_array(X, chunks=(n // 2,) + (-1,) * (X.ndim - 1))
        data, _, _ = _distributed.check_sequences_on_cluster(est, Xd, reset=False)
        try:
            shards = _distributed.ClusterShards(data, net, Y, w, k)
            handles, actors = shards.handles, data.actors
            params = net.flat_params.copy()
            half = np.arange(batch // 2)
            for rows, label in ((np.zeros(0, np.int64), "no compute"), (half, "half batch")):
                calls = [(p, "gradient", (params, rows, k, None, p)) for p in range(2)]
                for _ in range(rounds):
                    for path in ("actor", "direct"):
                        for _ in range(reps):
                            t = time.perf_counter()
                            if path == "actor":
                                futs = [handles[p].gradient(a) for p, _, a in calls]
                                [f.result() for f in futs]
                            else:
                                _distributed.call_actors(client, handles, actors, calls)
                            times.setdefault((path, label), []).append(time.perf_counter() - t)
        finally:
            data.close()
    return times


def synthetic_table(k, n_series, length):
    """Partition k of a long table (id, time, value): n_series seasonal random
    walks, made on the worker that computes it."""
    import pandas as pd

    rng = np.random.default_rng(k)
    t = np.arange(length)
    values = (100 + rng.standard_normal((n_series, length)).cumsum(axis=1)
              + 5 * np.sin(2 * np.pi * t / 12))
    return pd.DataFrame({"id": np.repeat(np.arange(k * n_series, (k + 1) * n_series), length),
                         "time": np.tile(t, n_series), "value": values.ravel()})


def forecaster_memory(n_series=20000, length=120, n_partitions=8, n_workers=2):
    """Peak growth of this process's RSS (bytes) while an RNNForecaster fits its
    global model on a Dask long table of ``n_series`` series made on the
    workers, the table's bytes, and the fit's seconds."""
    import threading

    import dask.dataframe as dd
    import psutil
    from distributed import Client, LocalCluster

    from seqcore.forecasting import RNNForecaster

    per = n_series // n_partitions
    params = dict(horizon=6, season=12, n_models=1, hidden_size=16, max_iter=2,
                  batch_size=2048, random_state=0)
    with LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                      host="127.0.0.1", dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        client.run(__import__, "seqcore")
        table = dd.from_map(synthetic_table, range(n_partitions), n_series=per, length=length)
        nbytes = int(table.memory_usage(deep=True).sum().compute())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            RNNForecaster(**params).fit(table.partitions[:1])   # warm up
            proc, peak, done = psutil.Process(), [], threading.Event()

            def watch():
                while not done.is_set():
                    peak.append(proc.memory_info().rss)
                    time.sleep(0.005)

            start = proc.memory_info().rss
            watcher = threading.Thread(target=watch)
            watcher.start()
            t0 = time.perf_counter()
            try:
                est = RNNForecaster(**params).fit(table)
            finally:
                done.set()
                watcher.join()
            seconds = time.perf_counter() - t0
        assert est.n_series_ == n_series
    return max(peak) - start, nbytes, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--gbps", type=float, default=10.0)
    ap.add_argument("--local-sgd", action="store_true")
    ap.add_argument("--memory", action="store_true",
                    help="only the client's memory growth fitting 20,000 series (an array "
                         "for a regressor, and a long table for the global forecaster)")
    ap.add_argument("--overhead", action="store_true",
                    help="only the exchange time of one step: actor calls against seqcore's")
    ap.add_argument("--repeat", type=int, default=1,
                    help="interleaved 1- and 2-worker runs per model (medians and mins)")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()}  cores {os.cpu_count()}")
    if args.overhead:
        times = step_overhead()
        print("one step's exchange, 2 partitions on 2 workers (ms; medians and mins of "
              "interleaved runs):")
        for (path, label), ts in times.items():
            print(f"  {path:7s} {label:11s} median {np.median(ts) * 1e3:6.2f}  min "
                  f"{min(ts) * 1e3:6.2f}  ({len(ts)} calls)")
        return
    if args.memory:
        growth, nbytes = client_memory()
        print(f"20,000 series ({nbytes / 1e6:.0f} MB of float32 on the workers): the "
              f"client's peak RSS growth during fit {growth / 1e6:.1f} MB")
        growth, nbytes, seconds = forecaster_memory()
        print(f"global forecaster, 20,000 series in a long table ({nbytes / 1e6:.0f} MB on the "
              f"workers): the client's peak RSS growth during fit {growth / 1e6:.1f} MB "
              f"({seconds:.0f} s)")
        return
    for name in args.models.split(","):
        compute, P, itemsize = compute_seconds(name)
        batch = MODELS[name][3]
        P_bytes = P * itemsize
        call, reply = message_bytes(name)
        print(f"\n== {name}: {P} parameters ({P_bytes / 1e6:.2f} MB), global batch {batch}")
        print(f"compute of one batch's gradient in one process: {compute * 1e3:.1f} ms")
        print(f"bytes per step and partition: {call} out (parameters), {reply} back "
              f"(gradient): 2 x {P_bytes} + {call + reply - 2 * P_bytes} of framing")
        steps, busys, ratios = {1: [], 2: []}, {1: [], 2: []}, []
        for rep in range(args.repeat):   # interleaved: 1 worker, 2 workers, 1, 2, ...
            for W in (1, 2):
                t0 = os.getloadavg()[0]
                step, thr, worker = cluster_run(name, W)
                steps[W].append(step)
                busys[W].append(worker)
                print(f"  run {rep + 1}, LocalCluster {W} worker(s): step {step * 1e3:.1f} ms "
                      f"(busiest worker computes {worker * 1e3:.1f} ms of it), {thr:.0f} "
                      f"samples/s (load {t0:.1f} -> {os.getloadavg()[0]:.1f})", flush=True)
            ratios.append(steps[1][-1] / steps[2][-1])
        runs = {W: float(np.median(v)) for W, v in steps.items()}
        busy = {W: float(np.median(v)) for W, v in busys.items()}
        for W in (1, 2):
            print(f"LocalCluster {W} worker(s): step median {runs[W] * 1e3:.1f} ms, min "
                  f"{min(steps[W]) * 1e3:.1f} ms (worker compute median {busy[W] * 1e3:.1f} "
                  "ms)")
        print(f"speed-up 2 vs 1 worker (throughput ratio of each interleaved pair): median "
              f"{np.median(ratios):.2f}x, min {min(ratios):.2f}x, max {max(ratios):.2f}x; "
              f"ratio of the min steps {min(steps[1]) / min(steps[2]):.2f}x")
        # the overhead from each run's own step and compute (1 worker), then the median
        alpha = max(float(np.median(np.subtract(steps[1], busys[1]))), 0.0)
        print(f"overhead per step alpha = step - worker compute (1 worker) = "
              f"{alpha * 1e3:.1f} ms")
        print(f"model on {args.gbps:g} Gb/s (seconds per step; speed-up over 1 worker):")
        print("  W    star step   star x   ring step   ring x")
        # C: the worker's own compute of a whole batch (same conditions as alpha)
        for W, star, sx, ring, rx in model_table(busy[1], alpha, P_bytes, args.gbps):
            print(f"  {W:<4d} {star * 1e3:9.2f}ms {sx:7.2f}  {ring * 1e3:9.2f}ms {rx:7.2f}")
        if args.local_sgd and MODELS[name][0] == "RNNRegressor":
            scores = local_sgd(name)
            print("local SGD (4 shards; H local steps between averaging): validation score "
                  + ", ".join(f"H={H}: {s:.4f}" for H, s in scores.items())
                  + " (sync: seqcore's synchronous fit)")


if __name__ == "__main__":
    main()

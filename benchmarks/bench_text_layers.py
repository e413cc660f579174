"""seqcore.nn.Embedding and seqcore.nn.Linear against PyTorch and plain NumPy.

Design: one process; for each case the libraries run the same numbers in
turn, alternating which goes first, after a warm-up; the median of
``--repeats`` calls is reported in milliseconds.  Threads are pinned equal:
BLAS through ``threadpoolctl.threadpool_limits(n)``, PyTorch through
``torch.set_num_threads(n)``.

Cases::

    embedding forward   seqcore: emb.forward(ids, training=False)
                        numpy:   np.take(W, ids, axis=0)
                        torch:   F.embedding(ids, W) under no_grad
    embedding backward  seqcore: emb.backward(d_out)  (zero the table, ordered scatter-add)
                        numpy:   dW[:] = 0; np.add.at(dW, ids.ravel(), d_out)
                        torch:   embedding_dense_backward via autograd
    linear train        seqcore: forward(X) + backward(dY)
                        numpy:   X @ W.T + b, dY.T @ X, dY.sum(0), dY @ W
                        torch:   module(X).backward(dY)

Run ``python benchmarks/bench_text_layers.py [--threads 1] [--repeats 20]``.
"""

import argparse
import platform
import subprocess
import time

import numpy as np

from seqcore.nn import Embedding, Linear


def median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# {platform.processor() or platform.machine()}, commit {commit}, "
          f"threads {args.threads}, float32, median of {args.repeats}, ms")
    if torch is not None:
        torch.set_num_threads(args.threads)
    rows = []
    with threadpool_limits(args.threads):
        for V, E, B, T in ((20000, 128, 32, 100), (2000, 64, 32, 40)):
            emb = Embedding(V, E, padding_idx=0, random_state=0)
            W = emb.params["weight"]
            ids = rng.integers(0, V, size=(B, T))
            d_out = rng.standard_normal((B, T, E)).astype(np.float32)
            dW = np.zeros_like(W)

            def np_backward():
                dW[...] = 0
                np.add.at(dW, ids.ravel(), d_out.reshape(-1, E))

            def sc_backward():
                emb.forward(ids, training=True)
                emb.backward(d_out)

            def np_forward_take():   # what seqcore's backward case also pays
                np.take(W, ids, axis=0)

            case = f"V={V} E={E} B={B} T={T}"
            row = {"embedding forward": (median_ms(lambda: emb.forward(ids, training=False),
                                                   args.repeats),
                                         median_ms(lambda: np.take(W, ids, axis=0),
                                                   args.repeats)),
                   "embedding fwd+bwd": (median_ms(sc_backward, args.repeats),
                                         median_ms(lambda: (np_forward_take(), np_backward()),
                                                   args.repeats))}
            if torch is not None:
                tw = torch.nn.Embedding(V, E, padding_idx=0)
                tids = torch.from_numpy(ids)
                td = torch.from_numpy(d_out)

                def t_forward():
                    with torch.no_grad():
                        tw(tids)

                def t_train():
                    tw.weight.grad = None
                    tw(tids).backward(td)

                row["embedding forward"] += (median_ms(t_forward, args.repeats),)
                row["embedding fwd+bwd"] += (median_ms(t_train, args.repeats),)
            for k, v in row.items():
                rows.append((k, case, v))

        for N, I, K, act in ((3200, 256, 2000, None), (1024, 128, 128, "tanh")):
            lin = Linear(I, K, activation=act, random_state=0)
            X = rng.standard_normal((N, I)).astype(np.float32)
            dY = rng.standard_normal((N, K)).astype(np.float32)
            Wl, bl = lin.params["weight"], lin.params["bias"]

            def sc_train():
                lin.forward(X, training=True)
                lin.backward(dY)

            def np_train():
                Y = X @ Wl.T + bl
                if act == "tanh":
                    Y = np.tanh(Y)
                    dZ = dY * (1 - Y * Y)
                else:
                    dZ = dY
                _ = dZ.T @ X, dZ.sum(0), dZ @ Wl

            case = f"N={N} I={I} K={K} act={act}"
            times = (median_ms(sc_train, args.repeats), median_ms(np_train, args.repeats))
            if torch is not None:
                tl = torch.nn.Linear(I, K)
                tX = torch.from_numpy(X).requires_grad_(True)
                tdY = torch.from_numpy(dY)

                def t_train():
                    tl.zero_grad()
                    tX.grad = None
                    out = tl(tX)
                    if act == "tanh":
                        out = torch.tanh(out)
                    out.backward(tdY)

                times += (median_ms(t_train, args.repeats),)
            rows.append(("linear fwd+bwd", case, times))

    print(f"{'case':20s} {'shape':34s} {'seqcore':>8s} {'numpy':>8s} {'torch':>8s}")
    for name, case, t in rows:
        cells = " ".join(f"{x:8.3f}" for x in t)
        print(f"{name:20s} {case:34s} {cells}")


if __name__ == "__main__":
    main()

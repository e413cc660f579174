"""Reduced-precision inference: speed against float32 and PyTorch, and accuracy.

Design: two parts, both printed as Markdown tables.

Speed (``--speed``): for each hidden size H (default 128, 256, 512) at
B = 64 sequences of T = 50 steps with I = 64 features, one layer of the cell
(LSTM by default), five contenders run the same weights at inference:

    seqcore float32     layer.forward(X, training=False)
    seqcore bfloat16    QuantizedLayer(layer, "bfloat16").forward(X)
    seqcore int8        QuantizedLayer(layer, "int8").forward(X)
    torch float32       with torch.no_grad(): module(X)
    torch int8 dynamic  torch.ao.quantization.quantize_dynamic(module, {LSTM/GRU},
                        dtype=torch.qint8), the same call

Every side gets the same threads: seqcore's through
``threadpoolctl.threadpool_limits(n, user_api="blas")`` (its scans share
out their work on that many threads), PyTorch's through
``torch.set_num_threads(n)``.  After a warm-up call of each, the contenders
are timed in interleaved blocks: each block runs every contender once, in
an order rotated block by block, so that a burst of load from elsewhere
hits all of them alike.  The table gives the median and the minimum of each
and the ratio of seqcore float32's time to each (above 1: faster than
seqcore float32).

Accuracy (``--accuracy``): for each cell kind, an ``RNNClassifier`` trained
in float32 on load_digits (the 8 rows of each image as 8 steps) and one
(embedding + bidirectional layer) on the sentiment sentences
(``seqcore.datasets.load_sentiment_sentences``), each on a stratified 80%
and evaluated on the other 20%; the table gives, per precision, the share
of test predictions equal to float32's and the largest relative error of
the logits, ``max |Z_q - Z| / max |Z|`` over the test set (relative to the
logits' scale: per sample, a binary classifier's logits near 0 make any
error look large, so the median of that per-sample ratio is given too).

Run ``python benchmarks/bench_precision.py --help``; results and the
machine they came from are in benchmarks/README.md ("Reduced precision").
"""

import argparse
import platform
import statistics
import time
import warnings

warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")

import numpy as np
from threadpoolctl import threadpool_limits

from seqcore import RNNClassifier, _quant
from seqcore.nn import CELLS, GRU, LSTM, QuantizedLayer

B, T, I = 64, 50, 64


def cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# -------------------------------------------------------------------- speed

def contenders(cell, H, torch):
    """name -> a call with no arguments, all on the same weights and input."""
    rng = np.random.default_rng(0)
    layer = (LSTM if cell == "lstm" else GRU)(I, H, random_state=0)
    X = rng.normal(size=(B, T, I)).astype(np.float32)
    out = {
        "seqcore float32": lambda: layer.forward(X, training=False),
        "seqcore bfloat16": lambda q=QuantizedLayer(layer, "bfloat16"): q.forward(X),
        "seqcore int8": lambda q=QuantizedLayer(layer, "int8"): q.forward(X),
    }
    if torch is not None:
        cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
        module = cls(I, H, batch_first=True)
        module.load_state_dict({k: torch.from_numpy(np.array(v))
                                for k, v in layer.state_dict().items()})
        module.eval()
        qmodule = torch.ao.quantization.quantize_dynamic(module, {cls}, dtype=torch.qint8)
        Xt = torch.from_numpy(X)

        def run(m):
            with torch.no_grad():
                return m(Xt)
        out["torch float32"] = lambda: run(module)
        out["torch int8 dynamic"] = lambda: run(qmodule)
        # the same numbers: float32 outputs agree
        ref = layer.forward(X, training=False)[0]
        got = run(module)[0].numpy()
        assert np.abs(ref - got).max() < 1e-4, "torch and seqcore disagree"
    return out


def time_blocks(calls, blocks):
    """Each call timed once per block, in an order rotated block by block."""
    names = list(calls)
    for name in names:
        calls[name]()   # warm-up: caches, quantised weights, thread start
    times = {name: [] for name in names}
    for b in range(blocks):
        order = names[b % len(names):] + names[:b % len(names)]
        for name in order:
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def run_speed(args, torch):
    print(f"\n## Speed: one {args.cell.upper()} layer, B={B}, T={T}, I={I}, inference, "
          f"{args.threads} threads on every side, {args.blocks} interleaved blocks")
    print(f"seqcore kernels: int8 {_quant.kernels('int8')}, bfloat16 "
          f"{_quant.kernels('bfloat16')}"
          + (f"; torch {torch.__version__}, quantized engine "
             f"{torch.backends.quantized.engine}" if torch is not None else "; no torch"))
    print("\n| H | contender | median ms | min ms | seqcore f32 / this (median) | (min) |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for H in args.hidden:
        times = time_blocks(contenders(args.cell, H, torch), args.blocks)
        base = times["seqcore float32"]
        for name, ts in times.items():
            print(f"| {H} | {name} | {1e3 * statistics.median(ts):.2f} | "
                  f"{1e3 * min(ts):.2f} | {statistics.median(base) / statistics.median(ts):.2f}"
                  f" | {min(base) / min(ts):.2f} |", flush=True)


# ----------------------------------------------------------------- accuracy

def _logits(clf, X):
    """The estimator's logits (float64) at its current inference_precision."""
    return clf._raw(X)[0]


def _compare(clf, X_te):
    """(agreement, largest relative logit error, median per-sample relative
    error) of each precision vs float32."""
    clf.set_params(inference_precision=None)
    Z = _logits(clf, X_te)
    out = {}
    for precision in ("bfloat16", "int8"):
        clf.set_params(inference_precision=precision)
        Zq = _logits(clf, X_te)
        agree = float((Zq.argmax(axis=-1) == Z.argmax(axis=-1)).mean())
        rel = float(np.abs(Zq - Z).max() / np.abs(Z).max())
        per_sample = float(np.median(np.abs(Zq - Z).max(axis=-1) / np.abs(Z).max(axis=-1)))
        out[precision] = (agree, rel, per_sample)
    clf.set_params(inference_precision=None)
    return out


def run_accuracy(args):
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    from seqcore.datasets import load_sentiment_sentences
    from seqcore.text import SequenceTokenizer

    print(f"\n## Accuracy against float32 (test split, 20%), {args.epochs} epochs")
    print("\n| data | cell | float32 accuracy | bf16 agreement | bf16 max rel. logit error "
          "| bf16 median per sample | int8 agreement | int8 max rel. logit error | int8 median "
          "per sample |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)
    digits = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    S, s = load_sentiment_sentences(return_X_y=True)
    S, s = np.asarray(S, dtype=object), np.asarray(s)
    sentiment = train_test_split(S, s, test_size=0.2, stratify=s, random_state=0)
    for data, (X_tr, X_te, y_tr, y_te) in (("load_digits", digits), ("sentiment", sentiment)):
        for kind in CELLS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if data == "load_digits":
                    clf = RNNClassifier(cell=kind, hidden_size=64, max_iter=args.epochs,
                                        random_state=0).fit(X_tr, y_tr)
                    Xt = X_te
                else:
                    tok = SequenceTokenizer().fit(list(X_tr))
                    clf = RNNClassifier(cell=kind, bidirectional=True, embedding_dim=64,
                                        hidden_size=64, learning_rate=0.005,
                                        max_iter=args.epochs, random_state=0)
                    clf.fit(tok.transform(list(X_tr)), y_tr)
                    Xt = tok.transform(list(X_te))
            acc = float((clf.predict(Xt) == y_te).mean())
            res = _compare(clf, Xt)
            b, q = res["bfloat16"], res["int8"]
            print(f"| {data} | {kind} | {acc:.3f} | {b[0]:.4f} | {b[1]:.1e} | {b[2]:.1e} | "
                  f"{q[0]:.4f} | {q[1]:.1e} | {q[2]:.1e} |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    p.add_argument("--blocks", type=int, default=15, help="interleaved blocks (timings each)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (accuracy)")
    p.add_argument("--speed", action="store_true", help="only the speed part")
    p.add_argument("--accuracy", action="store_true", help="only the accuracy part")
    args = p.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    print(f"# Reduced precision: {cpu_name()}, numpy {np.__version__}")
    with threadpool_limits(args.threads, user_api="blas"):
        if torch is not None:
            torch.set_num_threads(args.threads)
        if not args.accuracy:
            run_speed(args, torch)
        if not args.speed:
            run_accuracy(args)


if __name__ == "__main__":
    main()

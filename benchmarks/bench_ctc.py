"""CTC training: ``RNNSequenceLabeler`` against the same model in PyTorch (issue 28).

Task: the example's (examples/ctc_japanese_vowels.py): aeon's Japanese Vowels
utterances joined 2 to 4 at a time into recordings of 20-100 frames of 12
features, labelled with the string of their speakers; 1,000 training and
300 test recordings from aeon's separate train and test splits.

Both sides train the same model the same way: a bidirectional one-layer
LSTM (hidden 32) read at every step by a linear layer over 10 classes
(blank + 9 speakers), float32, CTC loss with PyTorch's 'mean' reduction,
Adam (lr 0.01), gradient-norm clipping at 5, batches of 32 in a new random
order each epoch, the same number of epochs, no early stopping.  PyTorch
packs each batch (``pack_padded_sequence``) so that padding never enters
the backward direction, as seqcore does; a second PyTorch row runs the
padded batches unpacked (faster, but the backward direction then reads the
padding: not the same model, the shortcut many scripts take).  Timed: the training run alone
(``fit``; for PyTorch the epoch loop over tensors made beforehand), one
thread on each side (``threadpoolctl.threadpool_limits(1)`` around seqcore,
``torch.set_num_threads(1)``).  Reported: the median and the minimum over
``--repeats`` runs of each (alternating; run r seeds both sides with r),
their ratios, and the median label error rate on the test recordings
(greedy decoding by ``seqcore.nn.ctc_decode`` for both).  On a shared
machine the minimum is the better estimate of the cost.

``--loss-only`` times the loss and its gradient alone against
``torch.nn.CTCLoss`` on random logits (minimum of the runs).

Run:  PYTHONPATH=python python benchmarks/bench_ctc.py [--epochs 15] [--repeats 3] [--loss-only]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

from ctc_japanese_vowels import make_task  # noqa: E402

HIDDEN, LR, BATCH, CLIP = 32, 0.01, 32, 5.0


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_seqcore(X, y, X_test, y_test, epochs, seed):
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from seqcore import RNNSequenceLabeler

    model = RNNSequenceLabeler(cell="lstm", hidden_size=HIDDEN, num_layers=1,
                               bidirectional=True, optimizer="adam", learning_rate=LR,
                               batch_size=BATCH, clip_norm=CLIP, max_iter=epochs,
                               n_iter_no_change=epochs + 1, dtype="float32",
                               random_state=seed)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
        rate = model.label_error_rate(X_test, y_test)
    return seconds, rate


class TorchCTC:
    """The same model in PyTorch."""

    def __init__(self, torch, n_features, n_classes, seed, packed):
        torch.manual_seed(seed)
        self.packed = packed
        nn = torch.nn
        self.torch = torch
        self.lstm = nn.LSTM(n_features, HIDDEN, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * HIDDEN, n_classes)
        self.params = list(self.lstm.parameters()) + list(self.head.parameters())

    def logits(self, X, lengths):
        if not self.packed:
            return self.head(self.lstm(X)[0])
        pack = self.torch.nn.utils.rnn.pack_padded_sequence
        unpack = self.torch.nn.utils.rnn.pad_packed_sequence
        out, _ = self.lstm(pack(X, lengths, batch_first=True, enforce_sorted=False))
        out, _ = unpack(out, batch_first=True, total_length=X.shape[1])
        return self.head(out)


def pad(X):
    lengths = np.array([len(x) for x in X])
    out = np.zeros((len(X), lengths.max(), X[0].shape[1]), np.float32)
    for i, x in enumerate(X):
        out[i, :len(x)] = x
    return out, lengths


def run_torch(X, y, X_test, y_test, classes, epochs, seed, packed=True):
    import torch

    from seqcore.nn import ctc_decode
    from seqcore._labeler import label_error_rate

    torch.set_num_threads(1)
    index = {c: k + 1 for k, c in enumerate(classes)}
    Xp, lengths = pad(X)
    Xt = torch.from_numpy(Xp)
    Lt = torch.from_numpy(lengths)
    targets = [torch.tensor([index[c] for c in s]) for s in y]
    model = TorchCTC(torch, Xp.shape[2], len(classes) + 1, seed, packed)
    opt = torch.optim.Adam(model.params, lr=LR)
    ctc = torch.nn.CTCLoss(blank=0, reduction="mean")
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for s in range(0, len(X), BATCH):
            idx = order[s:s + BATCH]
            T = int(lengths[idx].max())
            Z = model.logits(Xt[idx, :T], Lt[idx])
            logp = Z.log_softmax(2).transpose(0, 1)
            tg = [targets[i] for i in idx]
            loss = ctc(logp, torch.cat(tg), Lt[idx], torch.tensor([len(t) for t in tg]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.params, CLIP)
            opt.step()
    seconds = time.perf_counter() - start
    Xq, lq = pad(X_test)
    with torch.no_grad():
        Z = model.logits(torch.from_numpy(Xq), torch.from_numpy(lq)).numpy()
    pred = [[classes[k - 1] for k in row] for row in ctc_decode(Z, lq)]
    return seconds, label_error_rate([list(s) for s in y_test], pred)


def bench_loss(repeats):
    """The loss and its gradient alone: seqcore.nn.ctc_loss against
    torch.nn.CTCLoss (log_softmax, loss, backward), float32, one thread."""
    import torch
    from threadpoolctl import threadpool_limits

    from seqcore.nn import ctc_loss

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print("| B, T, C, S | seqcore ms | PyTorch ms | seqcore / PyTorch |")
    print("| --- | --- | --- | --- |")
    for B, T, C, S in ((32, 100, 10, 4), (32, 100, 30, 20), (16, 400, 60, 80)):
        Z = rng.normal(size=(B, T, C)).astype(np.float32)
        targets = [rng.integers(1, C, S) for _ in range(B)]
        lengths = np.full(B, T)
        x = torch.tensor(Z, requires_grad=True)
        flat, L = torch.tensor(np.concatenate(targets)), torch.tensor(lengths)
        TL, crit = torch.full((B,), S), torch.nn.CTCLoss()

        def ours():
            ctc_loss(Z, lengths, targets)

        def theirs():
            x.grad = None
            crit(x.log_softmax(2).transpose(0, 1), flat, L, TL).backward()

        times = {}
        with threadpool_limits(1):
            for name, fn in (("seqcore", ours), ("torch", theirs)) * repeats:
                fn()
                t0 = time.perf_counter()
                fn()
                times.setdefault(name, []).append(time.perf_counter() - t0)
        a, b = (1e3 * min(times[k]) for k in ("seqcore", "torch"))
        print(f"| {B}, {T}, {C}, {S} | {a:.2f} | {b:.2f} | {a / b:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loss-only", action="store_true",
                        help="time the loss and its gradient alone (minimum of 5 x repeats)")
    args = parser.parse_args()
    if args.loss_only:
        return bench_loss(5 * args.repeats)
    X, y, X_test, y_test, _ = make_task()
    classes = sorted({c for s in y for c in s})
    res = {"seqcore": [], "torch": [], "torch_padded": []}
    names = {"seqcore": "seqcore", "torch": "PyTorch (packed)",
             "torch_padded": "PyTorch (padded, unpacked)"}
    for r in range(args.repeats):
        res["seqcore"].append(run_seqcore(X, y, X_test, y_test, args.epochs, r))
        res["torch"].append(run_torch(X, y, X_test, y_test, classes, args.epochs, r))
        res["torch_padded"].append(run_torch(X, y, X_test, y_test, classes, args.epochs, r,
                                             packed=False))
        print(f"run {r + 1}: " + ", ".join(
            f"{names[k]} {v[-1][0]:.2f} s (LER {v[-1][1]:.4f})" for k, v in res.items()),
            flush=True)
    med = {k: statistics.median(t for t, _ in v) for k, v in res.items()}
    ler = {k: statistics.median(e for _, e in v) for k, v in res.items()}
    import torch
    print(f"\nmachine: {cpu_name()}, {os.cpu_count()} CPUs; torch {torch.__version__}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{len(X)} recordings, {args.epochs} epochs, {args.repeats} runs each, one thread\n")
    low = {k: min(t for t, _ in v) for k, v in res.items()}
    print("| library | train s, median (min) | seqcore / it, median (min) | "
          "test label error rate, median |")
    print("| --- | --- | --- | --- |")
    for k in res:
        print(f"| {names[k]} | {med[k]:.2f} ({low[k]:.2f}) | {med['seqcore'] / med[k]:.2f} "
              f"({low['seqcore'] / low[k]:.2f}) | {ler[k]:.4f} |")


if __name__ == "__main__":
    main()

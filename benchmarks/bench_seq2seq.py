"""Encoder-decoder with attention: seqcore against the same model in PyTorch.

Design: one process, the same data and the same batches for both.  The
model is ``Seq2SeqTranslator``'s default network on the dates task of
``examples/dates_to_iso.py`` (characters in, ISO date out): source and
target embeddings E=32, a bidirectional LSTM encoder of 2 x 32 units, a
tanh bridge to the decoder's first state, additive attention (A=64) read by
an LSTM decoder cell (H=64) whose input is [embedding of the previous
token, context], and an output layer over [h_t, context_t].  The PyTorch
peer is written below with ``nn.LSTM`` on packed sequences, ``nn.LSTMCell``
and autograd, its decoder loop in Python (the usual way).

Cases (each the median of ``--repeats`` runs after a warm-up, the two
libraries in turn, alternating which goes first):

* train: ``--batches`` mini-batches of 64 pairs (length-bucketed), teacher
  forcing, cross-entropy, gradient clipping at 5, one Adam step each;
* greedy: decoding 1,000 held-out dates (one batch each side; PyTorch's
  loop stops when every row has ended);
* beam: seqcore's beam search (width 5, length penalty 1) on the same
  1,000 dates (no PyTorch peer: quoted).

Threads are pinned equal: BLAS through ``threadpoolctl.threadpool_limits(n)``,
PyTorch through ``torch.set_num_threads(n)``.

Run ``python benchmarks/bench_seq2seq.py [--threads 1] [--repeats 3]``.
"""

import argparse
import os
import platform
import random
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from dates_to_iso import make_dates  # noqa: E402

from seqcore.nn import Adam, Seq2Seq, clip_grad_norm  # noqa: E402
from seqcore.text import SequenceTokenizer  # noqa: E402

E, H, A, BATCH, CLIP, LR = 32, 64, 64, 64, 5.0, 0.005


def encode_data(n_train, n_test):
    """Padded id arrays of the dates task, ids as Seq2SeqTranslator numbers them."""
    rng = random.Random(0)
    train = make_dates(n_train, rng)
    test = make_dates(n_test, rng, exclude=[x for x, _ in train])
    src_tok = SequenceTokenizer(analyzer="char", lowercase=False).fit([x for x, _ in train])
    tgt_tok = SequenceTokenizer(analyzer="char", lowercase=False).fit([y for _, y in train])
    end, start = tgt_tok.vocab_size_, tgt_tok.vocab_size_ + 1

    def pad(seqs, extra=()):
        lengths = np.array([len(s) + len(extra) for s in seqs])
        out = np.zeros((len(seqs), lengths.max()), np.int64)
        for i, s in enumerate(seqs):
            out[i, :len(s)] = s
            out[i, len(s):lengths[i]] = extra
        return out, lengths

    def ids(tok, texts, extra=()):
        return pad(tok.transform(texts), extra)

    data = {
        "train": ids(src_tok, [x for x, _ in train]) + ids(tgt_tok, [y for _, y in train],
                                                           (end,)),
        "test": ids(src_tok, [x for x, _ in test]),
    }
    return data, src_tok.vocab_size_, tgt_tok.vocab_size_ + 2, start, end


def batches(src_len, n_batches, seed=0):
    """Length-bucketed batches, as the estimator draws them."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(src_len))[:n_batches * BATCH]
    order = order[np.argsort(src_len[order], kind="stable")]
    out = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    return [out[i] for i in rng.permutation(len(out))]


def median_s(fn, repeats):
    fn()   # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def paired_s(fa, fb, repeats):
    """Medians of fa and fb run in turn, alternating which goes first (a
    machine shared with other jobs slows both alike)."""
    fa()
    fb()
    times = ([], [])
    for r in range(repeats):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            t0 = time.perf_counter()
            (fa, fb)[i]()
            times[i].append(time.perf_counter() - t0)
    return float(np.median(times[0])), float(np.median(times[1]))


# ------------------------------------------------------------------ PyTorch
def torch_model(torch, Vs, Vt, start, end):
    nn, F = torch.nn, torch.nn.functional
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    banned = torch.zeros(Vt, dtype=torch.bool)
    banned[[0, 1, start]] = True

    class Seq2SeqTorch(nn.Module):
        def __init__(self):
            super().__init__()
            self.src_emb = nn.Embedding(Vs, E, padding_idx=0)
            self.encoder = nn.LSTM(E, H // 2, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(H, H)
            self.W_q = nn.Linear(H, A, bias=False)
            self.W_k = nn.Linear(H, A, bias=False)
            self.v = nn.Linear(A, 1, bias=False)
            self.cell = nn.LSTMCell(E + H, H)
            self.tgt_emb = nn.Embedding(Vt, E, padding_idx=0)
            self.out = nn.Linear(2 * H, Vt)

        def encode(self, src, lengths):
            x = self.src_emb(src)
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, (h, _) = self.encoder(packed)
            M, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
            h0 = torch.tanh(self.bridge(torch.cat([h[-2], h[-1]], dim=1)))
            mask = torch.arange(src.shape[1])[None, :] >= lengths[:, None]
            return M, self.W_k(M), mask, h0

        def step(self, y_prev, h, c, M, Kp, mask):
            e = self.v(torch.tanh(self.W_q(h)[:, None] + Kp)).squeeze(2)
            w = torch.softmax(e.masked_fill(mask, float("-inf")), dim=1)
            ctx = torch.bmm(w[:, None], M).squeeze(1)
            h, c = self.cell(torch.cat([self.tgt_emb(y_prev), ctx], dim=1), (h, c))
            z = self.out(torch.cat([h, ctx], dim=1)).masked_fill(banned, float("-inf"))
            return z, h, c

        def loss(self, src, src_len, Y):
            M, Kp, mask, h = self.encode(src, src_len)
            c = torch.zeros_like(h)
            y_prev = torch.full((src.shape[0],), start, dtype=torch.long)
            logits = []
            for t in range(Y.shape[1]):
                z, h, c = self.step(y_prev, h, c, M, Kp, mask)
                logits.append(z)
                y_prev = Y[:, t]
            Z = torch.stack(logits, dim=1)
            return F.cross_entropy(Z.reshape(-1, Vt), Y.reshape(-1), ignore_index=0)

        @torch.no_grad()
        def greedy(self, src, src_len, max_length):
            M, Kp, mask, h = self.encode(src, src_len)
            c = torch.zeros_like(h)
            y = torch.full((src.shape[0],), start, dtype=torch.long)
            out = torch.zeros((src.shape[0], max_length), dtype=torch.long)
            ended = torch.zeros(src.shape[0], dtype=torch.bool)
            for t in range(max_length):
                z, h, c = self.step(y, h, c, M, Kp, mask)
                y = z.argmax(dim=1)
                out[:, t] = torch.where(ended, 0, y)
                ended |= y == end
                if ended.all():
                    break
            return out

    return Seq2SeqTorch()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    data, Vs, Vt, start, end = encode_data(10_000, 1_000)
    src, src_len, Y, tgt_len = data["train"]
    test_src, test_len = data["test"]
    plan = batches(src_len, args.batches)
    max_length = 2 * 10 + 5      # the estimator's default for 10-character targets
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# {platform.processor() or platform.machine()}, commit {commit}, torch "
          f"{torch.__version__}, threads {args.threads}, float32, median of {args.repeats}; "
          f"load {os.getloadavg()[0]:.2f}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    net = Seq2Seq(Vs, Vt, start_id=start, end_id=end, embedding_dim=E, hidden_size=H,
                  attention="additive", forbidden_ids=(1,), random_state=0)
    opt = Adam(net.flat_params, net.flat_grads, lr=LR)
    tm = torch_model(torch, Vs, Vt, start, end)
    topt = torch.optim.Adam(tm.parameters(), lr=LR)
    losses = {"seqcore": [], "torch": []}

    def train_seqcore():
        for b in plan:
            S, T = src_len[b].max(), tgt_len[b].max()
            losses["seqcore"].append(net.loss_and_gradient(src[b, :S], src_len[b],
                                                           Y[b, :T], tgt_len[b]))
            clip_grad_norm(net.flat_grads, CLIP)
            opt.step()

    t_batches = [(torch.from_numpy(src[b, :src_len[b].max()]), torch.from_numpy(src_len[b]),
                  torch.from_numpy(Y[b, :tgt_len[b].max()])) for b in plan]

    def train_torch():
        for s, sl, y in t_batches:
            topt.zero_grad()
            loss = tm.loss(s, sl, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tm.parameters(), CLIP)
            topt.step()
            losses["torch"].append(loss.item())

    ts, tl = torch.from_numpy(test_src), torch.from_numpy(test_len)
    rows = []
    with threadpool_limits(args.threads):
        t_sc, t_pt = paired_s(train_seqcore, train_torch, args.repeats)
        rows.append((f"train, {len(plan)} batches of {BATCH}", t_sc, t_pt))
        g_sc, g_pt = paired_s(lambda: net.decode(test_src, test_len, max_length=max_length),
                              lambda: tm.greedy(ts, tl, max_length), args.repeats)
        rows.append((f"greedy, {len(test_src)} inputs", g_sc, g_pt))
        b_sc = median_s(lambda: net.decode(test_src, test_len, max_length=max_length,
                                           beam_width=5), args.repeats)
        rows.append((f"beam 5, {len(test_src)} inputs", b_sc, None))
    print("| case | seqcore s | torch s | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name, a, b in rows:
        print(f"| {name} | {a:.3f} | {b:.3f} | {a / b:.2f} |" if b is not None
              else f"| {name} | {a:.3f} | - | - |")
    n = len(plan)
    print(f"# mean loss over the last pass of the {n} batches: seqcore "
          f"{np.mean(losses['seqcore'][-n:]):.4f}, torch {np.mean(losses['torch'][-n:]):.4f}")
    # the seqcore model after (repeats + 1) passes over the batches
    out = net.decode(test_src[:200], test_len[:200], max_length=max_length)
    print(f"# greedy outputs of seqcore ending with a 10-character date: "
          f"{np.mean([len(o) == 10 for o in out]):.2f}")


if __name__ == "__main__":
    main()

"""Text models against the same models in PyTorch (issue 14's targets).

Three comparisons, each on real data, in one process, with the same model
sizes and training settings in both libraries and threads pinned equal
(seqcore's BLAS through ``threadpoolctl.threadpool_limits(n)``, PyTorch
through ``torch.set_num_threads(n)``):

* ``lm``: a character language model on the bundled Alice chapter (first
  90% to train, last 10% to validate): embedding 32 -> LSTM 128 -> linear
  over the characters; stateful truncated BPTT in 32 tracks of 64-character
  windows, a random track offset each epoch, Adam, gradient-norm clipping
  at 5, the same number of epochs.  Reported: validation bits per
  character, training time, and the time to sample 1,000 characters
  (seqcore's compiled loop; PyTorch one step per character under no_grad,
  the way a PyTorch user writes it).
* ``sentiment``: an embedding + bidirectional LSTM classifier on
  ``load_sentiment_sentences`` (word tokens, 5-fold stratified split, one
  fold held out), against the same PyTorch model and a TF-IDF + logistic
  regression baseline.  Needs ``RNNClassifier(embedding_dim=...)``.
* ``tagging``: a BiLSTM part-of-speech tagger on the CoNLL-U file in
  ``../shared/data/pos`` (80% of the sentences to train, 20% to test;
  lower-cased words), token accuracy, also on the test words never seen in
  training; a second row per library replaces rare and unseen words by a
  signature of their shape (``signature``).  Needs ``RNNClassifier(embedding_dim=...,
  return_sequences=True)``.

The data files are read from ``/work/shared/data`` (``--data``); nothing is
downloaded.  Run ``python benchmarks/bench_text.py [--task lm] [--threads 1]``.
Times are wall-clock seconds of ``fit`` (tokenizing included for seqcore,
whose pipelines do it; PyTorch's ids are made before its timer starts).
"""

import argparse
import gzip
import math
import os
import platform
import subprocess
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

DATA = "/work/shared/data"


# --------------------------------------------------------------- language model
LM = dict(embedding_dim=32, hidden_size=128, sequence_length=64, batch_size=32,
          learning_rate=0.005, clip_norm=5.0, max_iter=60)


def lm_seqcore(train, valid, seed):
    from seqcore.text import RNNLanguageModel

    lm = RNNLanguageModel(**LM, random_state=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lm.fit([train])
    fit_s = time.perf_counter() - t0
    bpc = -lm.score([valid]) / math.log(2)
    times = []
    for i in range(7):
        t0 = time.perf_counter()
        lm.sample(1000, prefix="Alice ", temperature=0.8, random_state=i)
        times.append(time.perf_counter() - t0)
    return lm, bpc, fit_s, 1e3 * float(np.median(times))


def lm_torch(torch, lm, train, valid, seed):
    """The same model and training loop in PyTorch, on seqcore's token ids."""
    nn = torch.nn
    torch.manual_seed(seed)
    V = lm.vocab_size_
    ids = torch.from_numpy(np.concatenate(lm.tokenizer_.transform([train])))
    val = torch.from_numpy(np.concatenate(lm.tokenizer_.transform([valid])))

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, LM["embedding_dim"], padding_idx=0)
            self.rnn = nn.LSTM(LM["embedding_dim"], LM["hidden_size"], batch_first=True)
            self.head = nn.Linear(LM["hidden_size"], V)

        def forward(self, x, state=None):
            out, state = self.rnn(self.emb(x), state)
            return self.head(out), state

    model = CharLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=LM["learning_rate"])
    rng = np.random.default_rng(seed)
    B, T = LM["batch_size"], LM["sequence_length"]
    t0 = time.perf_counter()
    for _ in range(LM["max_iter"]):
        offset = int(rng.integers(0, min(T, (len(ids) - 1) // B)))
        n = (len(ids) - 1 - offset) // B
        if n >= T:
            n -= n % T                  # whole windows only, as seqcore does
        X = ids[offset:offset + B * n].reshape(B, n)
        Y = ids[offset + 1:offset + 1 + B * n].reshape(B, n)
        state = None
        for s in range(0, n, T):
            logits, state = model(X[:, s:s + T], state)
            state = tuple(h.detach() for h in state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, V), Y[:, s:s + T].reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), LM["clip_norm"])
            opt.step()
    fit_s = time.perf_counter() - t0
    with torch.no_grad():
        logits, _ = model(val[None, :-1])
        nll = nn.functional.cross_entropy(logits[0], val[1:]).item()

        def sample(n, prefix_ids, gen):
            logits, state = model(torch.tensor(prefix_ids)[None])
            out = []
            for _ in range(n):
                p = torch.softmax(logits[0, -1] / 0.8, dim=-1)
                tok = torch.multinomial(p, 1, generator=gen)
                out.append(int(tok))
                logits, state = model(tok[None], state)
            return out

        prefix = lm.tokenizer_.transform(["Alice "])[0].tolist()
        times = []
        for i in range(3):
            gen = torch.Generator().manual_seed(i)
            t0 = time.perf_counter()
            sample(1000, prefix, gen)
            times.append(time.perf_counter() - t0)
    return nll / math.log(2), fit_s, 1e3 * float(np.median(times))


def run_lm(torch, seeds):
    from seqcore.datasets import load_text

    text = load_text()
    split = int(0.9 * len(text))
    train, valid = text[:split], text[split:]
    print(f"\n## Language model: Alice chapter I, {len(train)} characters to train, "
          f"{len(valid)} to validate; {LM}")
    print(f"{'seed':>4}  {'library':<8} {'val bits/char':>13} {'fit s':>7} {'sample 1000 ms':>15}")
    rows = []
    for seed in seeds:
        lm, bpc, fit_s, sample_ms = lm_seqcore(train, valid, seed)
        print(f"{seed:>4}  {'seqcore':<8} {bpc:>13.3f} {fit_s:>7.2f} {sample_ms:>15.1f}",
              flush=True)
        row = {"seed": seed, "sc_bpc": bpc, "sc_fit": fit_s, "sc_sample": sample_ms}
        if torch is not None:
            bpc_t, fit_t, sample_t = lm_torch(torch, lm, train, valid, seed)
            print(f"{seed:>4}  {'pytorch':<8} {bpc_t:>13.3f} {fit_t:>7.2f} {sample_t:>15.1f}",
                  flush=True)
            row.update(t_bpc=bpc_t, t_fit=fit_t, t_sample=sample_t)
        rows.append(row)
    if torch is not None:
        med = {k: float(np.median([r[k] for r in rows])) for k in rows[0] if k != "seed"}
        ratio = float(np.median([r["sc_fit"] / r["t_fit"] for r in rows]))
        print(f"median over seeds: bits/char seqcore {med['sc_bpc']:.3f} vs PyTorch "
              f"{med['t_bpc']:.3f}; fit-time ratio seqcore / PyTorch {ratio:.2f}; "
              f"sample 1000: {med['sc_sample']:.1f} ms vs {med['t_sample']:.1f} ms")


# ----------------------------------------------------------------- sentiment
SENT = dict(embedding_dim=64, hidden_size=64, batch_size=32, learning_rate=0.005,
            clip_norm=5.0, max_iter=8)


def _has_token_input():
    from seqcore import RNNClassifier
    return "embedding_dim" in RNNClassifier().get_params()


def run_sentiment(torch, seeds):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline

    from seqcore import RNNClassifier
    from seqcore.datasets import load_sentiment_sentences
    from seqcore.text import SequenceTokenizer

    X, y = load_sentiment_sentences(return_X_y=True)
    X, y = np.asarray(X, dtype=object), np.asarray(y)
    print(f"\n## Sentiment: {len(X)} sentences (amazon + yelp); one stratified fold of 5 "
          f"held out per seed; {SENT}, bidirectional LSTM")
    if not _has_token_input():
        print("skipped: this seqcore's RNNClassifier has no embedding_dim (issue 14 part 3)")
        return
    print(f"{'seed':>4}  {'model':<22} {'accuracy':>8} {'fit s':>7}")
    rows = {}
    for seed in seeds:
        tr, te = next(StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y))
        base = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             LogisticRegression(C=10, max_iter=1000))
        t0 = time.perf_counter()
        base.fit(list(X[tr]), y[tr])
        acc_b, fit_b = base.score(list(X[te]), y[te]), time.perf_counter() - t0
        print(f"{seed:>4}  {'tfidf + logistic':<22} {acc_b:>8.3f} {fit_b:>7.2f}")
        rows.setdefault("tfidf + logistic", []).append((acc_b, fit_b))
        model = make_pipeline(SequenceTokenizer(),
                              RNNClassifier(cell="lstm", bidirectional=True, random_state=seed,
                                            **SENT))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(list(X[tr]), y[tr])
        fit_s = time.perf_counter() - t0
        acc = model.score(list(X[te]), y[te])
        print(f"{seed:>4}  {'seqcore BiLSTM':<22} {acc:>8.3f} {fit_s:>7.2f}", flush=True)
        rows.setdefault("seqcore BiLSTM", []).append((acc, fit_s))
        if torch is not None:
            tok = model[0]
            acc, fit_t = torch_classifier(torch, tok.transform(list(X[tr])), y[tr],
                                          tok.transform(list(X[te])), y[te], tok.vocab_size_,
                                          seed)
            print(f"{seed:>4}  {'pytorch BiLSTM':<22} {acc:>8.3f} {fit_t:>7.2f}", flush=True)
            rows.setdefault("pytorch BiLSTM", []).append((acc, fit_t))
    summarize(rows, "seqcore BiLSTM", "pytorch BiLSTM", others=("tfidf + logistic",))


def summarize(rows, ours, theirs, others=()):
    """Mean accuracy of the models over the seeds, and seqcore's median fit-time ratio."""
    for name in (*others, ours, theirs):
        if name in rows:
            print(f"      mean accuracy {np.mean([a for a, _ in rows[name]]):.3f}  {name}")
    if ours in rows and theirs in rows:
        ratio = np.median([a[1] / b[1] for a, b in zip(rows[ours], rows[theirs])])
        print(f"      median fit-time ratio {ours.strip()} / {theirs.strip()}: {ratio:.2f}")


def _pad(seqs):
    lengths = np.array([max(len(s), 1) for s in seqs])
    out = np.zeros((len(seqs), lengths.max()), np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, lengths


def torch_classifier(torch, X_tr, y_tr, X_te, y_te, V, seed, per_token=False, n_classes=2,
                     unseen=None):
    """An embedding + bidirectional LSTM in PyTorch, trained like RNNClassifier
    (Adam, mini-batches of shuffled sequences, norm clipping, packed sequences
    so that padding is never read).  Many-to-one reads the final states of
    both directions; ``per_token`` tags every token."""
    nn = torch.nn
    torch.manual_seed(seed)
    pack = nn.utils.rnn.pack_padded_sequence
    cfg = TAG if per_token else SENT

    class BiLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, cfg["embedding_dim"], padding_idx=0)
            self.rnn = nn.LSTM(cfg["embedding_dim"], cfg["hidden_size"], batch_first=True,
                               bidirectional=True)
            self.head = nn.Linear(2 * cfg["hidden_size"], n_classes)

        def forward(self, x, lengths):
            packed = pack(self.emb(x), torch.as_tensor(lengths), batch_first=True,
                          enforce_sorted=False)
            out, (h, _) = self.rnn(packed)
            if per_token:
                out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                          total_length=x.shape[1])
                return self.head(out)
            return self.head(torch.cat([h[-2], h[-1]], dim=-1))

    model = BiLSTM()
    opt = torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"])
    rng = np.random.default_rng(seed)
    n = len(X_tr)
    t0 = time.perf_counter()
    for _ in range(cfg["max_iter"]):
        order = rng.permutation(n)
        for s in range(0, n, cfg["batch_size"]):
            idx = order[s:s + cfg["batch_size"]]
            x, lengths = _pad([X_tr[i] for i in idx])
            logits = model(torch.from_numpy(x), lengths)
            if per_token:
                yb, _ = _pad([y_tr[i] for i in idx])
                mask = torch.from_numpy(np.arange(x.shape[1]) < lengths[:, None])
                loss = nn.functional.cross_entropy(logits[mask], torch.from_numpy(yb)[mask])
            else:
                loss = nn.functional.cross_entropy(logits, torch.from_numpy(y_tr[idx]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_norm"])
            opt.step()
    fit_s = time.perf_counter() - t0
    with torch.no_grad():
        x, lengths = _pad(X_te)
        pred = model(torch.from_numpy(x), lengths).argmax(-1).numpy()
    if per_token:
        p = np.concatenate([pred[i, :len(t)] for i, t in enumerate(y_te)])
        t = np.concatenate(y_te)
        return float(np.mean(p == t)), float(np.mean(p[unseen] == t[unseen])), fit_s
    return float((pred == y_te).mean()), fit_s


# ------------------------------------------------------------------- tagging
TAG = dict(embedding_dim=64, hidden_size=64, batch_size=32, learning_rate=0.005,
           clip_norm=5.0, max_iter=10)


def read_conllu(path):
    """(words, universal POS tags) per sentence of a CoNLL-U file (.gz or not);
    multi-word token lines (ids like 3-4) and empty nodes (3.1) are skipped."""
    opener = gzip.open if path.endswith(".gz") else open
    sentences, words, tags = [], [], []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
            elif not line.startswith("#"):
                cols = line.split("\t")
                if cols[0].isdigit():
                    words.append(cols[1])
                    tags.append(cols[3])
    if words:
        sentences.append((words, tags))
    return sentences


SUFFIXES = ("ing", "ed", "ly", "ion", "er", "est", "al", "ive", "able", "ous", "ful", "ic",
            "s")


def signature(word):
    """The class of a rare or unseen word from its shape: capital, digits,
    hyphen or no letter at all, and a telling suffix (after the unknown-word
    signatures of the Berkeley parser, simplified), e.g. ``<unk-cap-ing>``."""
    sig = "<unk"
    if word[:1].isupper():
        sig += "-cap"
    if any(c.isdigit() for c in word):
        sig += "-num"
    elif "-" in word:
        sig += "-dash"
    elif not any(c.isalpha() for c in word):
        sig += "-sym"
    low = word.lower()
    for suffix in SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix) + 2:
            sig += "-" + suffix
            break
    return sig + ">"


def word_features(train, test, signatures):
    """Token lists of the training and test sentences: lower-cased words;
    with ``signatures``, words seen once in training (and unseen words at
    test) become their signature, so the model learns what the shape of a
    new word says."""
    if not signatures:
        return ([[w.lower() for w in s] for s, _ in train],
                [[w.lower() for w in s] for s, _ in test])
    from collections import Counter
    counts = Counter(w.lower() for s, _ in train for w in s)
    def f(w):
        return w.lower() if counts[w.lower()] >= 2 else signature(w)
    return [[f(w) for w in s] for s, _ in train], [[f(w) for w in s] for s, _ in test]


def run_tagging(torch, seeds, data):
    from seqcore import RNNClassifier
    from seqcore.text import SequenceTokenizer

    path = os.path.join(data, "pos", "en_ewt-ud-dev.conllu.gz")
    sentences = read_conllu(path)
    print(f"\n## Tagging: {len(sentences)} sentences of UD English-EWT (dev), 80/20 split "
          f"per seed; {TAG}, bidirectional LSTM, lower-cased words")
    if not _has_token_input():
        print("skipped: this seqcore's RNNClassifier has no embedding_dim (issue 14 part 3)")
        return
    print(f"{'seed':>4}  {'model':<28} {'accuracy':>8} {'unseen':>7} {'fit s':>7}")
    rows = {}
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(len(sentences))
        cut = int(0.8 * len(sentences))
        train = [sentences[i] for i in order[:cut]]
        test = [sentences[i] for i in order[cut:]]
        train_words = {w.lower() for s, _ in train for w in s}
        unseen = np.array([w.lower() not in train_words for s, _ in test for w in s])
        y_tr = [np.array(t) for _, t in train]
        y_te = [np.array(t) for _, t in test]
        for signatures in (False, True):
            label = "+ signatures" if signatures else ""
            t0 = time.perf_counter()
            words_tr, words_te = word_features(train, test, signatures)
            tok = SequenceTokenizer()
            X_tr = tok.fit_transform(words_tr)
            clf = RNNClassifier(cell="lstm", bidirectional=True, return_sequences=True,
                                vocab_size=tok.vocab_size_, random_state=seed, **TAG)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X_tr, y_tr)
            fit_s = time.perf_counter() - t0
            X_te = tok.transform(words_te)
            pred = np.concatenate([np.asarray(p) for p in clf.predict(X_te)])
            true = np.concatenate(y_te)
            acc = np.mean(pred == true)
            print(f"{seed:>4}  {'seqcore BiLSTM ' + label:<28} {acc:>8.3f} "
                  f"{np.mean(pred[unseen] == true[unseen]):>7.3f} {fit_s:>7.2f}", flush=True)
            rows.setdefault("seqcore BiLSTM " + label, []).append((acc, fit_s))
            if torch is not None:
                classes = clf.classes_
                codes_tr = [np.searchsorted(classes, t) for t in y_tr]
                codes_te = [np.searchsorted(classes, t) for t in y_te]
                acc_t, unseen_t, fit_t = torch_classifier(
                    torch, X_tr, codes_tr, X_te, codes_te, tok.vocab_size_, seed,
                    per_token=True, n_classes=len(classes), unseen=unseen)
                print(f"{seed:>4}  {'pytorch BiLSTM ' + label:<28} {acc_t:>8.3f} "
                      f"{unseen_t:>7.3f} {fit_t:>7.2f}", flush=True)
                rows.setdefault("pytorch BiLSTM " + label, []).append((acc_t, fit_t))
    summarize(rows, "seqcore BiLSTM ", "pytorch BiLSTM ")
    summarize(rows, "seqcore BiLSTM + signatures", "pytorch BiLSTM + signatures")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("lm", "sentiment", "tagging", "all"), default="all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3, help="runs per task (seeds 0..n-1)")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            print("(PyTorch not installed: seqcore rows only)")
    from threadpoolctl import threadpool_limits

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, commit "
          f"{commit}, threads {args.threads}, load average {load:.2f} at start")
    seeds = range(args.seeds)
    with threadpool_limits(args.threads):
        if args.task in ("lm", "all"):
            run_lm(torch, seeds)
        if args.task in ("sentiment", "all"):
            run_sentiment(torch, seeds)
        if args.task in ("tagging", "all"):
            run_tagging(torch, seeds, args.data)


if __name__ == "__main__":
    main()

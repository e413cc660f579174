"""Who spoke, in order: reading speaker sequences from joined recordings (CTC).

Data: the Japanese Vowels set (Kudo, Toyama and Shimbo 1999; UCI), which
aeon ships with its package (``aeon.datasets.load_japanese_vowels``, read
from disk, nothing downloaded): nine male speakers each say the vowels
/ae/ several times; each utterance is 7 to 29 frames of 12 LPC cepstrum
coefficients, labelled with its speaker (1-9).  aeon's train split (270
utterances) and test split (370) keep different recordings apart.

Task: 2 to 4 utterances, drawn at random, are joined end to end into one
recording of 20 to 100 frames, labelled with the string of their speakers
("3815"); the boundaries are not given.  Two utterances of the same
speaker may follow each other ("33"): the model must then emit a blank
between them.  ``RNNSequenceLabeler`` (a bidirectional LSTM, CTC loss)
learns to read the speaker string from the frames.

The script prints the label error rate (edit distance per true label, 0 is
perfect) on the test recordings after each epoch, and draws a figure: the
error rate against the epochs, and for one test recording the probability
of the blank and of each speaker at every frame, with the true boundaries.
The labels come as spikes, one or two frames each, with blanks between:
CTC's way of placing a symbol without saying where it begins and ends.
The test label error rate falls from about 1 to 0.03-0.06 (depending on the
seed) within 5-10 epochs; benchmarks/bench_ctc.py trains the same model in
PyTorch on the same task.

Run:  python examples/ctc_japanese_vowels.py [figure.png]   (about 10 s of training)
"""

import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from seqcore import RNNSequenceLabeler


def load_utterances(split):
    """(list of (frames, 12) arrays, speaker labels '1'..'9') of aeon's split."""
    from aeon.datasets import load_japanese_vowels

    X, y = load_japanese_vowels(split=split)
    return [np.asarray(x, dtype=np.float64).T for x in X], [str(s) for s in y]


def join_utterances(utterances, speakers, n, rng, min_k=2, max_k=4):
    """n recordings of min_k..max_k random utterances joined end to end:
    (list of (frames, 12) arrays, speaker strings, boundaries)."""
    X, y, cuts = [], [], []
    for _ in range(n):
        k = rng.integers(min_k, max_k + 1)
        pick = rng.integers(0, len(utterances), size=k)
        X.append(np.concatenate([utterances[i] for i in pick]))
        y.append("".join(speakers[i] for i in pick))
        cuts.append(np.cumsum([len(utterances[i]) for i in pick])[:-1])
    return X, y, cuts


def make_task(n_train=1000, n_test=300, seed=0):
    """Train and test recordings, standardised with the training frames' statistics."""
    rng = np.random.default_rng(seed)
    train_u, train_s = load_utterances("train")
    test_u, test_s = load_utterances("test")
    frames = np.concatenate(train_u)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    train_u = [(u - mean) / std for u in train_u]
    test_u = [(u - mean) / std for u in test_u]
    X_train, y_train, _ = join_utterances(train_u, train_s, n_train, rng)
    X_test, y_test, cuts = join_utterances(test_u, test_s, n_test, rng)
    return X_train, y_train, X_test, y_test, cuts


class TestErrorRate:
    """A callback: the test set's label error rate after every epoch."""

    def __init__(self, X, y):
        self.X, self.y, self.rates = X, y, []

    def __call__(self, model, history):
        self.rates.append(model.label_error_rate(self.X, self.y))
        print(f"epoch {history['epoch']:3d}  loss {history['loss'][-1]:7.4f}  "
              f"test label error rate {self.rates[-1]:.3f}", flush=True)
        return False


def main(png="ctc_japanese_vowels.png", epochs=15):
    X_train, y_train, X_test, y_test, cuts = make_task()
    print(f"{len(X_train)} training and {len(X_test)} test recordings of "
          f"{min(map(len, X_train))}-{max(map(len, X_train))} frames; "
          f"labels like {y_train[:4]}")
    tracker = TestErrorRate(X_test, y_test)
    model = RNNSequenceLabeler(cell="lstm", hidden_size=32, num_layers=1, bidirectional=True,
                               learning_rate=0.01, batch_size=32, max_iter=epochs,
                               n_iter_no_change=epochs, random_state=0,
                               callbacks=[tracker])
    start = time.perf_counter()
    with warnings.catch_warnings():
        # a fixed number of epochs on purpose: the loss still falls at the end
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    print(f"trained in {time.perf_counter() - start:.1f} s")
    rates = model.callbacks_[0].rates
    pred = model.predict(X_test)
    print("test label error rate: greedy", round(model.label_error_rate(X_test, y_test), 4),
          "| beam search (width 8)",
          round(model.set_params(beam_width=8).label_error_rate(X_test, y_test), 4))
    for truth, guess in list(zip(y_test, pred))[:8]:
        print(f"  {truth:>5}  read as  {guess}")
    plot(model, rates, X_test, y_test, cuts, png)


def plot(model, rates, X_test, y_test, cuts, png, which=0):
    try:
        import matplotlib
        matplotlib.use("Agg")   # write the figure to a file, no window
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nmatplotlib is not installed: no figure (pip install 'seqcore[plot]')")
        return
    P = model.predict_step_proba(X_test[which:which + 1])[0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4), width_ratios=(1, 2))
    ax1.plot(np.arange(1, len(rates) + 1), rates, marker="o", ms=3)
    ax1.set(xlabel="epoch", ylabel="test label error rate", ylim=(0, None),
            title="Label error rate falls with training")
    ax2.plot(P[:, 0], color="0.6", ls="--", label="blank")
    for k, speaker in enumerate(model.classes_, 1):
        if P[:, k].max() > 0.2:
            ax2.plot(P[:, k], label=f"speaker {speaker}")
    for c in cuts[which]:
        ax2.axvline(c - 0.5, color="k", lw=0.8, alpha=0.5)
    ax2.set(xlabel="frame", ylabel="probability", ylim=(0, 1.02),
            title=f"Per-frame probabilities: true '{y_test[which]}', read "
                  f"'{model.predict(X_test[which:which + 1])[0]}' (lines: true boundaries)")
    ax2.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print(f"figure written to {png}")


if __name__ == "__main__":
    main(*sys.argv[1:2])

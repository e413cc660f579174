"""
Read who spoke, in order, from joined recordings (CTC)
=======================================================

:class:`~seqcore.RNNSequenceLabeler` learns to read a *sequence* of labels
from a longer input sequence when no one says which steps make which label,
the way speech recognition reads words from audio frames.

Data: aeon's Japanese Vowels recordings (read from aeon's package, nothing
downloaded): nine speakers saying /ae/, 7 to 29 frames of 12 cepstrum
coefficients per utterance.  Two to four random utterances are joined into
one recording and labelled with the string of their speakers ("3815"); the
boundaries are not given, and the same speaker may come twice in a row.
aeon's train and test splits keep the recordings of training and test apart.
(``examples/ctc_japanese_vowels.py`` is the longer version of this page.)
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from aeon.datasets import load_japanese_vowels
from sklearn.exceptions import ConvergenceWarning

from seqcore import RNNSequenceLabeler


def utterances(split):
    X, y = load_japanese_vowels(split=split)
    return [np.asarray(x, dtype=np.float64).T for x in X], [str(s) for s in y]


def join(utts, speakers, n, rng):
    X, y, cuts = [], [], []
    for _ in range(n):
        pick = rng.integers(0, len(utts), size=rng.integers(2, 5))
        X.append(np.concatenate([utts[i] for i in pick]))
        y.append("".join(speakers[i] for i in pick))
        cuts.append(np.cumsum([len(utts[i]) for i in pick])[:-1])
    return X, y, cuts


rng = np.random.default_rng(0)
train_u, train_s = utterances("train")
test_u, test_s = utterances("test")
frames = np.concatenate(train_u)
mean, std = frames.mean(axis=0), frames.std(axis=0)
X_train, y_train, _ = join([(u - mean) / std for u in train_u], train_s, 500, rng)
X_test, y_test, cuts = join([(u - mean) / std for u in test_u], test_s, 200, rng)
print(y_train[:5])

# %%
# A bidirectional LSTM with the CTC loss; a callback records the test
# label error rate (edit distance per true label) after every epoch.
rates = []
model = RNNSequenceLabeler(hidden_size=32, num_layers=1, learning_rate=0.01, max_iter=12,
                           n_iter_no_change=12, random_state=0,
                           callbacks=[lambda est, history: rates.append(
                               est.label_error_rate(X_test, y_test)) or False])
with warnings.catch_warnings():   # 12 epochs on purpose: the loss still falls
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X_train, y_train)
print("test label error rate after each epoch:", np.round(rates, 3))
print(list(zip(y_test[:6], model.predict(X_test[:6]))))

# %%
# The error rate against the epochs, and one test recording: the
# probability of the blank and of each speaker at every frame.  Each
# speaker comes as a spike of a frame or two between long stretches of
# blank: CTC places a label without saying where it begins and ends.
P = model.predict_step_proba(X_test[:1])[0]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), width_ratios=(1, 2))
ax1.plot(np.arange(1, len(rates) + 1), rates, marker="o", ms=3)
ax1.set(xlabel="epoch", ylabel="test label error rate", ylim=(0, None))
ax2.plot(P[:, 0], color="0.6", ls="--", label="blank")
for k, speaker in enumerate(model.classes_, 1):
    if P[:, k].max() > 0.2:
        ax2.plot(P[:, k], label=f"speaker {speaker}")
for c in cuts[0]:
    ax2.axvline(c - 0.5, color="k", lw=0.8, alpha=0.5)
ax2.set(xlabel="frame", ylabel="probability", ylim=(0, 1.02),
        title=f"true '{y_test[0]}', read '{model.predict(X_test[:1])[0]}' "
              "(lines: true boundaries)")
ax2.legend(loc="center right", fontsize=8)
fig.tight_layout()
plt.show()

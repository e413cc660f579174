"""
Speaker recognition from speech: Japanese vowels
================================================

Nine male speakers each uttered the Japanese vowels /ae/ several times
(Kudo, Toyama and Shimbo, 1999; UCI Machine Learning Repository).  Each
utterance is a sequence of 7 to 29 frames of 12 LPC cepstrum coefficients;
the task is to tell who is speaking.  The data set ships with aeon
(:func:`aeon.datasets.load_japanese_vowels`: 270 training and 370 test
utterances), so nothing is downloaded.

The utterances have different lengths: seqcore takes them as a list of
``(n_frames, 12)`` arrays and never computes on padding.  A
:class:`~seqcore.preprocessing.SequenceScaler` standardises the
coefficients and a GRU reads each utterance.
"""

import matplotlib.pyplot as plt
from aeon.datasets import load_japanese_vowels
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.pipeline import make_pipeline

from seqcore import RNNClassifier
from seqcore.preprocessing import SequenceScaler

X_train, y_train = load_japanese_vowels(split="train")
X_test, y_test = load_japanese_vowels(split="test")
# aeon stores each case channels first, (12, n_frames): seqcore reads time first
X_train = [x.T for x in X_train]
X_test = [x.T for x in X_test]
print(f"{len(X_train)} training utterances of {min(map(len, X_train))} to "
      f"{max(map(len, X_train))} frames; {len(set(y_train))} speakers")

model = make_pipeline(SequenceScaler(),
                      RNNClassifier(cell="gru", hidden_size=32, learning_rate=0.01,
                                    max_iter=40, early_stopping=True, n_iter_no_change=6,
                                    random_state=0))
model.fit(X_train, y_train)
print(f"{model[-1].n_iter_} epochs; test accuracy: {model.score(X_test, y_test):.3f}")

# %%
# One utterance's coefficients over time, and the confusion matrix of the
# 370 test utterances (rows: the true speaker).
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.plot(X_test[0])
ax1.set_xlabel("frame")
ax1.set_ylabel("LPC cepstrum coefficient")
ax1.set_title(f"an utterance of speaker {y_test[0]}")
ConfusionMatrixDisplay.from_predictions(y_test, model.predict(X_test), ax=ax2,
                                        colorbar=False)
ax2.set_title("speakers of the test utterances")
fig.tight_layout()

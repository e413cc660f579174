"""
Sentiment of review sentences: text classification
===================================================

The bundled "Sentiment Labelled Sentences" (1,000 review sentences each from
amazon.com and yelp.com, half positive, half negative; CC BY 4.0, Kotzias,
Denil, de Freitas and Smyth, KDD 2015) are split 80/20.  One scikit-learn
pipeline reads the sentences as they are:
:class:`~seqcore.text.SequenceTokenizer` numbers the words (0 padding,
1 unknown) and an :class:`~seqcore.RNNClassifier` with ``embedding_dim``
learns a vector per word and reads each sentence with a bidirectional GRU.

A few epochs of a small model keep the example fast; ``examples/sentiment.py``
in the repository trains a larger one against a TF-IDF baseline.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from seqcore import RNNClassifier
from seqcore.datasets import load_sentiment_sentences
from seqcore.text import SequenceTokenizer

data = load_sentiment_sentences()
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=0.2, stratify=data.target, random_state=0)

model = make_pipeline(
    SequenceTokenizer(lowercase=True),
    RNNClassifier(cell="gru", embedding_dim=32, hidden_size=32, bidirectional=True,
                  learning_rate=0.01, max_iter=6, random_state=0))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)   # a fixed 6 epochs, on purpose
    model.fit(X_train, y_train)
print(f"{len(X_train)} training sentences, vocabulary of {model[0].vocab_size_ - 2} words")
print(f"test accuracy: {model.score(X_test, y_test):.3f}")

# %%
# How sure the model is: its probability of "positive" for each test
# sentence, by the sentence's true label.  Most sentences sit near 0 or 1,
# the wrong ones too: after a few epochs on 1,600 sentences the model is
# confident even where it errs, so do not read these numbers as calibrated.
p_test = model.predict_proba(X_test)[:, 1]
fig, ax = plt.subplots(figsize=(6, 3))
bins = np.linspace(0, 1, 21)
ax.hist(p_test[y_test == 0], bins=bins, alpha=0.6, label="negative reviews")
ax.hist(p_test[y_test == 1], bins=bins, alpha=0.6, label="positive reviews")
ax.axvline(0.5, color="grey", lw=0.8)
ax.set_xlabel("P(positive)")
ax.set_ylabel("test sentences")
ax.legend()
fig.tight_layout()

# %%
# Sentences the model has never seen.  1,600 training sentences hold few
# negated negatives, so "not bad" may still read as negative: the model
# learns only what its data shows.
new = ["The battery died after two days.", "Best pizza in town, friendly staff!",
       "Not bad at all.", "Not good at all.", "I would not recommend this phone to anyone."]
for sentence, pi in zip(new, model.predict_proba(new)[:, 1]):
    print(f"P(positive) = {pi:.2f}  {sentence}")

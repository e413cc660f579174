"""Sentiment of review sentences: an embedding and a bidirectional LSTM on raw strings.

The bundled "Sentiment Labelled Sentences" (2,000 review sentences from
amazon.com and yelp.com, half positive, half negative; CC BY 4.0, Kotzias,
Denil, de Freitas, Smyth, "From Group to Individual Labels using Deep
Features", KDD 2015) are split 80/20, stratified.  The model is one
scikit-learn pipeline on the sentences as they are:

    SequenceTokenizer()                   sentence -> word ids (0 padding, 1 unknown)
    RNNClassifier(embedding_dim=64, ...)  embedding -> bidirectional LSTM -> softmax

It trains for a fixed 8 epochs (a held-out tenth is too few sentences to
pick the epoch reliably; the training loss is still falling then, which
scikit-learn reports as a ConvergenceWarning, silenced here on purpose).
A TF-IDF + logistic regression pipeline is the baseline on the same split:
on 1,600 short sentences, word counts are hard to beat.

Run:  python examples/sentiment.py      (about 20 s on 2 cores)
"""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from seqcore import RNNClassifier
from seqcore.datasets import load_sentiment_sentences
from seqcore.text import SequenceTokenizer


def main():
    data = load_sentiment_sentences()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, stratify=data.target, random_state=0)

    model = make_pipeline(
        SequenceTokenizer(),
        RNNClassifier(cell="lstm", embedding_dim=64, hidden_size=64, bidirectional=True,
                      batch_size=32, learning_rate=0.005, max_iter=8, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # 8 epochs on purpose
        model.fit(X_train, y_train)
    clf = model[-1]
    print(f"{len(X_train)} sentences to train on, {len(X_test)} to test; vocabulary of "
          f"{model[0].vocab_size_ - 2} words; {clf.n_iter_} epochs")
    print(f"embedding + BiLSTM accuracy:     {model.score(X_test, y_test):.3f}")

    baseline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                             LogisticRegression(C=10, max_iter=1000))
    baseline.fit(X_train, y_train)
    print(f"TF-IDF + logistic regression:    {baseline.score(X_test, y_test):.3f}")

    new = ["The battery died after two days.", "Best pizza in town, friendly staff!",
           "Not bad at all.", "I would not recommend this phone to anyone."]
    for sentence, p in zip(new, model.predict_proba(new)[:, 1]):
        print(f"  P(positive) = {p:.2f}  {sentence}")


if __name__ == "__main__":
    main()

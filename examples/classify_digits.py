"""Classify handwritten digits read as sequences, inside a scikit-learn Pipeline.

Each 8x8 image of scikit-learn's bundled digits is read row by row: a
sequence of 8 steps of 8 pixels.  A SequenceScaler standardises each of the
8 features over every step of every training sequence, and an RNNClassifier
(a GRU with 64 units) reads the rows and names the digit.

Run: python examples/classify_digits.py   (about 10 s)
"""

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from seqcore import RNNClassifier
from seqcore.preprocessing import SequenceScaler


def main():
    # a fixed number of epochs, on purpose: no need to warn that max_iter was reached
    warnings.simplefilter("ignore", ConvergenceWarning)
    digits = load_digits()
    X = digits.images                       # (1797, 8, 8): samples, steps (rows), features
    y = digits.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0)

    model = Pipeline([
        ("scale", SequenceScaler()),
        ("rnn", RNNClassifier(cell="gru", hidden_size=64, batch_size=32, max_iter=20,
                              random_state=0)),
    ])
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start

    rnn = model.named_steps["rnn"]
    accuracy = model.score(X_test, y_test)
    print(f"{len(X_train)} training sequences of {X.shape[1]} steps x {X.shape[2]} features")
    print(f"fit: {rnn.n_iter_} epochs in {seconds:.1f} s "
          f"(final training loss {rnn.loss_curve_[-1]:.4f})")
    print(f"test accuracy: {accuracy:.4f}")
    print(classification_report(y_test, model.predict(X_test), digits=3))


if __name__ == "__main__":
    main()

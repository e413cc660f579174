"""Regression on sequences of different lengths, per sequence and per step.

1. Per sequence: each sequence is a noisy sine wave of 10 to 40 steps with
   its own frequency; the RNNRegressor reads the (unpadded) list of
   sequences and predicts the frequency.
2. Per step (``return_sequences=True``): on the same sequences, predict at
   every step the mean of the clean signal seen so far.

Both are compared with scikit-learn's DummyRegressor (the mean of y), whose
R^2 is about 0.

Run: python examples/regression_sequences.py   (a few seconds)
"""

import time
import warnings

import numpy as np
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from seqcore import RNNRegressor
from seqcore.preprocessing import SequenceScaler


def make_waves(n, seed=0):
    """n noisy sines: a list of (length_i, 1) arrays, their frequencies, and the
    running mean of each clean signal (a list of (length_i,) arrays)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(10, 41, n)
    freq = rng.uniform(0.05, 0.25, n)              # cycles per step
    phase = rng.uniform(0, 2 * np.pi, n)
    X, running_mean = [], []
    for L, f, p in zip(lengths, freq, phase):
        clean = np.sin(2 * np.pi * f * np.arange(L) + p)
        X.append((clean + 0.1 * rng.standard_normal(L))[:, None])
        running_mean.append(np.cumsum(clean) / np.arange(1, L + 1))
    return X, freq, running_mean


def report(name, y_true, y_pred, y_dummy, seconds):
    print(f"{name}: R^2 {r2_score(y_true, y_pred):.4f}  "
          f"(DummyRegressor {r2_score(y_true, y_dummy):.4f}), fit {seconds:.1f} s")


def main():
    # a fixed number of epochs, on purpose: no need to warn that max_iter was reached
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, freq, running_mean = make_waves(800)
    idx_train, idx_test = train_test_split(np.arange(len(X)), test_size=0.25, random_state=0)
    X_train = [X[i] for i in idx_train]
    X_test = [X[i] for i in idx_test]

    # 1. one target per sequence: the frequency
    model = Pipeline([
        ("scale", SequenceScaler()),
        ("rnn", RNNRegressor(cell="gru", hidden_size=32, max_iter=40, random_state=0)),
    ])
    start = time.perf_counter()
    model.fit(X_train, freq[idx_train])
    seconds = time.perf_counter() - start
    dummy = DummyRegressor().fit(np.zeros((len(idx_train), 1)), freq[idx_train])
    report("frequency of each sequence", freq[idx_test], model.predict(X_test),
           dummy.predict(np.zeros((len(idx_test), 1))), seconds)

    # 2. one target per step: the running mean of the clean signal
    per_step = RNNRegressor(cell="lstm", hidden_size=32, max_iter=30, return_sequences=True,
                            random_state=0)
    start = time.perf_counter()
    per_step.fit(X_train, [running_mean[i] for i in idx_train])
    seconds = time.perf_counter() - start
    pred = per_step.predict(X_test)                # a list: one array per sequence
    true = np.concatenate([running_mean[i] for i in idx_test])
    train_mean = np.concatenate([running_mean[i] for i in idx_train]).mean()
    report("running mean at each step", true, np.concatenate(pred),
           np.full_like(true, train_mean), seconds)


if __name__ == "__main__":
    main()

"""RNNClassifier, RNNRegressor, SequenceScaler and pad_sequences.

Sections: the input forms, the training options, input validation, life
inside scikit-learn (clone, pickle, Pipeline, GridSearchCV), the
preprocessing, and learning real and synthetic tasks.  Data come from
``np.random.default_rng(seed)``; models are small (hidden_size 8-16, a few
epochs) so the file runs in well under two minutes, except the two digits
tests (a few seconds each), which train the documented hidden_size=64.

"Bit-identical" comparisons (``np.array_equal``) are used where the same
computation runs on the same shapes; comparisons that change a BLAS problem
size (a sequence alone versus inside a batch) use a per-dtype tolerance.
"""

import copy
import pickle
import re
import sys
import time
import types
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.dummy import DummyRegressor
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import r2_score
from sklearn.model_selection import (GridSearchCV, StratifiedKFold, cross_val_score,
                                     train_test_split)
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight

import seqcore
from seqcore import RNNClassifier, RNNRegressor
from seqcore.nn import SequenceNetwork
from seqcore.preprocessing import SequenceScaler, pad_sequences

# Every test trains a few epochs on purpose; the warning is tested on its own.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = dict(hidden_size=8, max_iter=5, batch_size=16, random_state=0)
DTYPES = ["float32", "float64"]
# a sequence alone versus inside a padded batch: only BLAS rounding differs
ALONE_RTOL = {"float32": 1e-5, "float64": 1e-12}
ESTIMATORS = [pytest.param(RNNClassifier, id="classifier"),
              pytest.param(RNNRegressor, id="regressor")]


# --------------------------------------------------------------------- data
def sum_task(seed, n=64, T=6, F=2):
    """3-D sequences; label: is the sum of feature 0 positive; target: that sum."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F))
    s = X[:, :, 0].sum(axis=1)
    return X, (s > 0).astype(int), s


def ragged_sum_task(seed, n=64, lengths=(3, 12), F=2):
    """A list of (length_i, F) sequences with the labels and targets of ``sum_task``."""
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((L, F)) for L in rng.integers(lengths[0], lengths[1] + 1, n)]
    s = np.array([x[:, 0].sum() for x in X])
    return X, (s > 0).astype(int), s


def targets(kind, y_cls, y_reg):
    return y_cls if kind is RNNClassifier else y_reg


def outputs(est, X):
    """What a fitted estimator says about X: probabilities or predictions."""
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


def params_of(est):
    return est.network_.flat_params.copy()


# ============================================================== input forms
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_ragged_list_equals_each_sequence_alone(Est, dtype):
    X, y, s = ragged_sum_task(0, n=40)
    est = Est(dtype=dtype, **SMALL).fit(X, targets(Est, y, s))
    together = outputs(est, X)
    alone = np.concatenate([outputs(est, [x]) for x in X])
    np.testing.assert_allclose(together, alone, rtol=ALONE_RTOL[dtype],
                               atol=ALONE_RTOL[dtype])
    # a short sequence next to a much longer one (more padding) is unchanged
    long_one = np.random.default_rng(1).standard_normal((60, 2))
    padded_more = outputs(est, [X[0], long_one])[:1]
    np.testing.assert_allclose(padded_more, together[:1], rtol=ALONE_RTOL[dtype],
                               atol=ALONE_RTOL[dtype])


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_list_of_equal_lengths_equals_3d_array(Est):
    X, y, s = sum_task(0)
    yy = targets(Est, y, s)
    a = Est(**SMALL).fit(X, yy)
    b = Est(**SMALL).fit(list(X), yy)
    assert np.array_equal(outputs(a, X), outputs(b, list(X)))
    assert np.array_equal(outputs(a, X), outputs(a, list(X)))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_2d_array_is_univariate_sequences(Est):
    X, y, s = sum_task(0, F=1)
    yy = targets(Est, y, s)
    flat = Est(**SMALL).fit(X[:, :, 0], yy)
    deep = Est(**SMALL).fit(X, yy)
    assert flat.n_features_in_ == X.shape[1]        # scikit-learn's 2-D convention
    assert deep.n_features_in_ == 1
    assert np.array_equal(outputs(flat, X[:, :, 0]), outputs(deep, X))
    # a model fit on 3-D univariate sequences also reads them as a 2-D array
    assert np.array_equal(outputs(deep, X[:, :, 0]), outputs(deep, X))
    with pytest.raises(ValueError, match="2-D array"):
        flat.predict(X)


def test_string_labels_binary_and_multiclass():
    X, y, _ = sum_task(0, n=90, F=3)
    names = np.array(["neg", "pos"])[y]
    clf = RNNClassifier(**SMALL).fit(X, names)
    assert list(clf.classes_) == ["neg", "pos"]
    assert set(clf.predict(X)) <= {"neg", "pos"}
    assert clf.predict_proba(X).shape == (90, 2)

    y3 = np.argmax(X.sum(axis=1), axis=1)           # which feature has the largest sum
    labels = np.array(["a", "b", "c"])[y3]
    clf = RNNClassifier(**SMALL).fit(X, labels)
    assert list(clf.classes_) == ["a", "b", "c"]
    P = clf.predict_proba(X)
    assert P.shape == (90, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])
    log_p = clf.predict_log_proba(X)
    np.testing.assert_allclose(np.exp(log_p), P, rtol=1e-12)


def test_multi_output_regression():
    X, _, s = sum_task(0, n=120)
    Y = np.column_stack([s, X[:, :, 1].mean(axis=1)])
    reg = RNNRegressor(hidden_size=16, max_iter=30, random_state=0).fit(X, Y)
    assert reg.n_outputs_ == 2
    pred = reg.predict(X)
    assert pred.shape == (120, 2)
    assert r2_score(Y, pred) > 0.8
    one = RNNRegressor(**SMALL).fit(X, s)
    assert one.predict(X).shape == (120,)


def _tagging_data(seed, n=60):
    """Per-step labels (is the running sum of feature 0 positive) and per-step
    targets (the running mean of feature 0), 3-D and ragged."""
    X, _, _ = sum_task(seed, n=n, T=8)
    Xr, _, _ = ragged_sum_task(seed + 1, n=n, lengths=(3, 10))
    cum = np.cumsum(X[:, :, 0], axis=1)
    tags = (cum > 0).astype(int)
    means = cum / np.arange(1, X.shape[1] + 1)
    cum_r = [np.cumsum(x[:, 0]) for x in Xr]
    tags_r = [(c > 0).astype(int) for c in cum_r]
    means_r = [c / np.arange(1, len(c) + 1) for c in cum_r]
    return X, tags, means, Xr, tags_r, means_r


def test_return_sequences_tagging():
    X, tags, _, Xr, tags_r, _ = _tagging_data(0)
    kw = dict(SMALL, return_sequences=True, max_iter=20)
    clf = RNNClassifier(**kw).fit(X, tags)
    pred = clf.predict(X)
    assert isinstance(pred, np.ndarray) and pred.shape == tags.shape
    assert clf.predict_proba(X).shape == tags.shape + (2,)
    assert clf.score(X, tags) > 0.8

    clf = RNNClassifier(**kw).fit(Xr, tags_r)
    pred = clf.predict(Xr)
    assert isinstance(pred, list)
    assert [len(p) for p in pred] == [len(x) for x in Xr]
    proba = clf.predict_proba(Xr)
    assert [p.shape for p in proba] == [(len(x), 2) for x in Xr]
    assert clf.score(Xr, tags_r) > 0.8
    # per step, a ragged list still equals each sequence alone
    for x, p in zip(Xr[:5], proba[:5]):
        np.testing.assert_allclose(clf.predict_proba([x])[0], p, rtol=1e-5, atol=1e-6)


def test_return_sequences_per_step_regression():
    X, _, means, Xr, _, means_r = _tagging_data(0)
    kw = dict(SMALL, return_sequences=True, max_iter=20)
    reg = RNNRegressor(**kw).fit(X, means)
    pred = reg.predict(X)
    assert isinstance(pred, np.ndarray) and pred.shape == means.shape
    assert reg.score(X, means) > 0.8

    reg = RNNRegressor(**kw).fit(Xr, means_r)
    pred = reg.predict(Xr)
    assert isinstance(pred, list)
    assert [p.shape for p in pred] == [m.shape for m in means_r]
    assert reg.score(Xr, means_r) > 0.8

    # several targets per step: y of shape (n, T, 2) or a list of (length_i, 2)
    two = np.stack([means, -means], axis=-1)
    reg = RNNRegressor(**dict(kw, max_iter=2)).fit(X, two)
    assert reg.predict(X).shape == two.shape
    two_r = [np.column_stack([m, -m]) for m in means_r]
    reg = RNNRegressor(**dict(kw, max_iter=2)).fit(Xr, two_r)
    assert [p.shape for p in reg.predict(Xr)] == [t.shape for t in two_r]


def test_return_sequences_list_of_equal_lengths_returns_array():
    X, tags, _, _, _, _ = _tagging_data(0, n=20)
    clf = RNNClassifier(**dict(SMALL, return_sequences=True, max_iter=1)).fit(list(X), list(tags))
    pred = clf.predict(list(X))
    assert isinstance(pred, np.ndarray) and pred.shape == tags.shape


# ========================================================= training options
def test_max_iter_loss_curve_and_n_iter():
    X, y, _ = sum_task(0)
    clf = RNNClassifier(**dict(SMALL, max_iter=7, tol=0.0)).fit(X, y)
    assert clf.n_iter_ == 7
    assert len(clf.loss_curve_) == 7
    assert all(np.isfinite(clf.loss_curve_))
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.validation_scores_ == []


def test_convergence_warning_only_when_max_iter_ends_training():
    X, y, _ = sum_task(0)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        RNNClassifier(**dict(SMALL, max_iter=3)).fit(X, y)
    # with a tol no epoch can beat, training stops n_iter_no_change epochs after
    # the first (which improves on an infinite loss), without the warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = RNNClassifier(**dict(SMALL, max_iter=50, tol=1e3, n_iter_no_change=2)).fit(X, y)
    assert clf.n_iter_ == 3


def _record_split(monkeypatch):
    """Capture the held-out indices of early stopping (wraps train_test_split)."""
    import seqcore._estimators as module
    seen = {}
    real = module.train_test_split

    def recording(*args, **kwargs):
        train, test = real(*args, **kwargs)
        seen["train"], seen["test"] = train, test
        return train, test

    monkeypatch.setattr(module, "train_test_split", recording)
    return seen


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_early_stopping_restores_best_weights(Est, monkeypatch):
    X, y, s = sum_task(0, n=120)
    yy = targets(Est, y, s)
    seen = _record_split(monkeypatch)
    est = Est(hidden_size=8, batch_size=16, max_iter=200, early_stopping=True, tol=0.0,
              n_iter_no_change=3, validation_fraction=0.25, random_state=0).fit(X, yy)
    assert est.n_iter_ < 200                          # stopped early
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert len(seen["test"]) == 30
    held_out = est.score(X[seen["test"]], yy[seen["test"]])
    best = max(est.validation_scores_)
    assert held_out == pytest.approx(best, abs=1e-9)
    assert est.best_validation_score_ == best
    if Est is RNNRegressor:
        # R^2 never ties: the last epoch was worse, so weights were restored
        assert est.validation_scores_[-1] < best


def test_early_stopping_split_is_stratified(monkeypatch):
    X, y, _ = sum_task(0, n=100)
    y = np.where(np.arange(100) < 80, 0, 1)         # 80 / 20
    seen = _record_split(monkeypatch)
    RNNClassifier(**dict(SMALL, max_iter=1, early_stopping=True,
                         validation_fraction=0.2)).fit(X, y)
    assert np.bincount(y[seen["test"]]).tolist() == [16, 4]


def test_partial_fit_classes_and_unseen_labels():
    X, y, _ = sum_task(0)
    clf = RNNClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:10], np.zeros(10, int), classes=[0, 1, 2])   # class 1, 2 not seen yet
    assert clf.classes_.tolist() == [0, 1, 2]
    clf.partial_fit(X, y)                                             # classes not needed now
    assert clf.n_iter_ == 2
    assert clf.predict_proba(X).shape == (64, 3)
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(X[:4], np.array([0, 1, 3, 1]))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_partial_fit_epochs_equal_fit(Est):
    """Each partial_fit is one epoch: n calls retrace fit(max_iter=n) exactly."""
    X, y, s = sum_task(0)
    yy = targets(Est, y, s)
    kw = {"classes": [0, 1]} if Est is RNNClassifier else {}
    inc = Est(**SMALL)
    for _ in range(4):
        inc.partial_fit(X, yy, **kw)
    full = Est(**dict(SMALL, max_iter=4, tol=0.0)).fit(X, yy)
    assert inc.n_iter_ == 4
    assert inc.loss_curve_ == full.loss_curve_
    assert np.array_equal(outputs(inc, X), outputs(full, X))


def test_partial_fit_with_validation_data_keeps_best_weights():
    X, y, _ = sum_task(0, n=96)
    Xv, yv, _ = sum_task(1, n=60)
    clf = RNNClassifier(hidden_size=8, batch_size=16, learning_rate=0.05, early_stopping=True,
                        tol=0.0, n_iter_no_change=2, random_state=0)
    for _ in range(40):
        clf.partial_fit(X, y, classes=[0, 1], validation_data=(Xv, yv))
        scores = clf.validation_scores_
        if len(scores) - 1 - int(np.argmax(scores)) >= 2:   # 2 calls without a new best
            break
    assert len(clf.validation_scores_) == clf.n_iter_
    assert len(clf.validation_scores_) - 1 - int(np.argmax(clf.validation_scores_)) >= 2, \
        "the validation score never stopped improving"
    assert clf.score(Xv, yv) == max(clf.validation_scores_)


def test_warm_start_continues_training():
    X, y, _ = sum_task(0)
    kw = dict(SMALL, tol=0.0)
    once = RNNClassifier(**dict(kw, max_iter=6)).fit(X, y)
    twice = RNNClassifier(**dict(kw, max_iter=3, warm_start=True)).fit(X, y)
    twice.fit(X, y)
    assert twice.n_iter_ == 6
    assert twice.loss_curve_ == once.loss_curve_
    assert np.array_equal(twice.predict_proba(X), once.predict_proba(X))
    # without warm_start a second fit starts again from scratch
    cold = RNNClassifier(**dict(kw, max_iter=3)).fit(X, y)
    first = cold.predict_proba(X)
    cold.fit(X, y)
    assert cold.n_iter_ == 3
    assert np.array_equal(cold.predict_proba(X), first)


def test_sample_weight_scale_and_ones():
    X, y, _ = sum_task(0)
    base = RNNClassifier(**SMALL).fit(X, y)
    ones = RNNClassifier(**SMALL).fit(X, y, sample_weight=np.ones(64))
    assert np.array_equal(ones.predict_proba(X), base.predict_proba(X))
    # the loss is sum_i w_i l_i / sum_i w_i: scaling every weight changes nothing
    threes = RNNClassifier(**SMALL).fit(X, y, sample_weight=np.full(64, 3.0))
    np.testing.assert_allclose(threes.predict_proba(X), base.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("shuffle", [False, True], ids=["in_order", "shuffled"])
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_zero_sample_weight_ignores_samples(Est, shuffle):
    """Samples of weight 0 do not count: changing them changes nothing.

    With ``shuffle=False`` the first two batches hold only zero weights.
    """
    X, y, s = sum_task(0)
    yy = targets(Est, y, s).astype(float if Est is RNNRegressor else int)
    w = np.ones(64)
    w[:32] = 0.0
    if shuffle:
        w = np.random.default_rng(3).permutation(w)
    rng = np.random.default_rng(4)
    X2, y2 = X.copy(), yy.copy()
    X2[w == 0] = 5 * rng.standard_normal(X2[w == 0].shape)
    y2[w == 0] = 1 - y2[w == 0] if Est is RNNClassifier else 10 + y2[w == 0]
    kw = dict(SMALL, shuffle=shuffle)
    a = Est(**kw).fit(X, yy, sample_weight=w)
    b = Est(**kw).fit(X2, y2, sample_weight=w)
    assert np.array_equal(outputs(a, X), outputs(b, X))


def test_sample_weight_upweighting_a_class_shifts_predictions():
    rng = np.random.default_rng(0)
    X, _, s = sum_task(0, n=160)
    y = (s + 1.5 * rng.standard_normal(160) > 0).astype(int)      # overlapping classes
    kw = dict(SMALL, max_iter=15)
    plain = RNNClassifier(**kw).fit(X, y)
    heavy = RNNClassifier(**kw).fit(X, y, sample_weight=np.where(y == 1, 5.0, 1.0))
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean() + 0.1
    assert (heavy.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_class_weight_balanced_and_dict():
    rng = np.random.default_rng(0)
    X, _, s = sum_task(0, n=160)
    y = (s + 1.5 * rng.standard_normal(160) > 1.5).astype(int)    # a rare class 1
    assert 0.1 < y.mean() < 0.35
    kw = dict(SMALL, max_iter=15)
    plain = RNNClassifier(**kw).fit(X, y)
    balanced = RNNClassifier(class_weight="balanced", **kw).fit(X, y)
    as_weights = RNNClassifier(**kw).fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    assert np.array_equal(balanced.predict_proba(X), as_weights.predict_proba(X))
    recall = lambda m: (m.predict(X)[y == 1] == 1).mean()    # noqa: E731
    assert recall(balanced) > recall(plain)
    by_dict = RNNClassifier(class_weight={0: 1.0, 1: 8.0}, **kw).fit(X, y)
    assert recall(by_dict) > recall(plain)
    # class weights multiply sample weights
    both = RNNClassifier(class_weight={0: 1.0, 1: 8.0}, **kw)
    both.fit(X, y, sample_weight=np.full(160, 2.0))
    np.testing.assert_allclose(both.predict_proba(X), by_dict.predict_proba(X), atol=1e-6)


def _one_sgd_step(clip):
    """The parameter change of one plain SGD step (lr 1, full batch)."""
    X, y, _ = sum_task(0, n=48)
    est = RNNClassifier(hidden_size=8, optimizer="sgd", momentum=0.0, learning_rate=1.0,
                        batch_size=48, max_iter=1, shuffle=False, dtype="float64",
                        random_state=0, **clip).fit(X, y)
    before = params_of(est)
    est.set_params(warm_start=True).fit(X, y)
    return params_of(est) - before


def test_clip_norm_bounds_the_step():
    free = _one_sgd_step({"clip_norm": None})
    assert np.linalg.norm(free) > 0.05
    clipped = _one_sgd_step({"clip_norm": 1e-3})
    # PyTorch's factor max_norm / (norm + 1e-6): a hair under the bound
    assert np.linalg.norm(clipped) <= 1e-3
    assert np.linalg.norm(clipped) == pytest.approx(1e-3, rel=1e-4)
    # the direction is kept: the clipped step is the free one, scaled (the
    # first steps differ, so compare the directions loosely)
    cos = free @ clipped / (np.linalg.norm(free) * np.linalg.norm(clipped))
    assert cos > 0.9


def test_clip_value_bounds_each_entry():
    free = _one_sgd_step({"clip_norm": None})
    assert np.abs(free).max() > 1e-3
    clipped = _one_sgd_step({"clip_norm": None, "clip_value": 1e-4})
    assert np.abs(clipped).max() <= 1e-4 * (1 + 1e-9)
    assert np.isclose(np.abs(clipped), 1e-4).sum() > 10      # many entries hit the bound


def test_bptt_steps():
    X, y, _ = sum_task(0, T=8)
    full = RNNClassifier(**SMALL).fit(X, y)
    # chunks at least as long as the sequences: plain BPTT
    long_chunks = RNNClassifier(bptt_steps=8, **SMALL).fit(X, y)
    assert np.array_equal(long_chunks.predict_proba(X), full.predict_proba(X))
    truncated = RNNClassifier(bptt_steps=2, **SMALL).fit(X, y)
    assert not np.array_equal(truncated.predict_proba(X), full.predict_proba(X))
    assert np.isfinite(truncated.loss_curve_).all()
    # the ragged form too
    Xr, yr, _ = ragged_sum_task(0)
    ragged = RNNClassifier(bptt_steps=3, **SMALL).fit(Xr, yr)
    assert np.isfinite(ragged.loss_curve_).all() and ragged.predict(Xr).shape == (64,)


def test_bptt_steps_refused_for_bidirectional():
    X, y, _ = sum_task(0, T=8)
    with pytest.raises(ValueError, match="bidirectional"):
        RNNClassifier(bptt_steps=2, bidirectional=True, **SMALL).fit(X, y)


def test_alpha_shrinks_weights():
    X, y, _ = sum_task(0)
    kw = dict(SMALL, max_iter=10)
    norms = [np.linalg.norm(params_of(RNNClassifier(alpha=a, **kw).fit(X, y)))
             for a in (0.0, 1.0, 10.0)]
    assert norms[0] > norms[1] > norms[2]


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.01), ("sgd", 0.1)])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_optimizers_and_cells_learn(cell, optimizer, lr):
    X, y, _ = sum_task(0, n=128)
    clf = RNNClassifier(cell=cell, optimizer=optimizer, learning_rate=lr, hidden_size=8,
                        batch_size=16, max_iter=15, random_state=0).fit(X, y)
    assert clf.loss_curve_[-1] < 0.8 * clf.loss_curve_[0]
    assert clf.score(X, y) > 0.8


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_random_state_is_bit_identical(Est):
    X, y, s = sum_task(0)
    yy = targets(Est, y, s)
    kw = dict(SMALL, early_stopping=True, dropout=0.2, num_layers=2)
    a = Est(**kw).fit(X, yy)
    b = Est(**kw).fit(X, yy)
    assert a.loss_curve_ == b.loss_curve_
    assert a.validation_scores_ == b.validation_scores_
    assert np.array_equal(params_of(a), params_of(b))
    assert np.array_equal(outputs(a, X), outputs(b, X))
    c = Est(**dict(kw, random_state=1)).fit(X, yy)
    assert not np.array_equal(params_of(a), params_of(c))


EPOCH_LINE = re.compile(r"^Epoch (\d+), loss = \d+\.\d+(, validation score = -?\d+\.\d+)?, "
                        r"\d+\.\d+s$")


def test_verbose_1_prints_one_line_per_epoch(capsys):
    X, y, _ = sum_task(0)
    clf = RNNClassifier(**dict(SMALL, max_iter=4, tol=0.0, verbose=1)).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == clf.n_iter_ == 4
    assert [int(EPOCH_LINE.match(line).group(1)) for line in lines] == [1, 2, 3, 4]
    RNNClassifier(**dict(SMALL, max_iter=2, verbose=1, early_stopping=True)).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(EPOCH_LINE.match(line).group(2) for line in lines)
    RNNClassifier(**dict(SMALL, max_iter=2)).fit(X, y)
    assert capsys.readouterr().out == ""


def test_verbose_2_progress_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)        # import tqdm -> ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    X, y, _ = sum_task(0)                                 # 64 samples, batches of 16
    RNNClassifier(**dict(SMALL, max_iter=2, verbose=2)).fit(X, y)
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2            # the epoch lines
    assert captured.err.count("batch 4/4") == 2           # a bar per epoch, to the end
    assert "batch 1/4" in captured.err


def test_verbose_2_progress_with_tqdm(capsys, monkeypatch):
    calls = []

    def fake_tqdm(iterable, **kwargs):
        calls.append(kwargs)
        yield from iterable

    module = types.ModuleType("tqdm.auto")
    module.tqdm = fake_tqdm
    package = types.ModuleType("tqdm")
    package.auto = module
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    X, y, _ = sum_task(0)
    RNNClassifier(**dict(SMALL, max_iter=3, tol=0.0, verbose=2)).fit(X, y)
    assert len(calls) == 3                                 # one bar per epoch
    assert "batch" not in capsys.readouterr().err          # not the fallback bar


def test_verbose_2_progress_with_real_tqdm(capsys):
    pytest.importorskip("tqdm")                            # optional extra: seqcore[progress]
    X, y, _ = sum_task(0)
    RNNClassifier(**dict(SMALL, max_iter=2, verbose=2)).fit(X, y)
    err = capsys.readouterr().err
    assert "epoch 1" in err and "epoch 2" in err            # tqdm's bars, one per epoch
    assert "batch 1/4" not in err                          # not the fallback bar


def test_keyboard_interrupt_keeps_the_model(monkeypatch):
    X, y, _ = sum_task(0)                                   # 4 batches per epoch
    one_epoch = RNNClassifier(**dict(SMALL, max_iter=1)).fit(X, y)
    real = SequenceNetwork._train_batch
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:                                 # 2nd batch of the 2nd epoch
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SequenceNetwork, "_train_batch", interrupted)
    clf = RNNClassifier(**dict(SMALL, max_iter=50))
    with pytest.warns(RuntimeWarning, match="interrupted"):
        clf.fit(X, y)
    assert len(calls) == 6
    assert clf.n_iter_ == 1 and clf.loss_curve_ == one_epoch.loss_curve_
    P = clf.predict_proba(X)
    assert np.isfinite(P).all() and P.shape == (64, 2)
    # the weights include the 5th step (the first of epoch 2)
    assert not np.array_equal(params_of(clf), params_of(one_epoch))


@pytest.mark.parametrize("optimizer, lr, dtype", [
    pytest.param("sgd", 1e2, "float32", id="sgd-float32"),
    pytest.param("sgd", 1e2, "float64", id="sgd-float64"),
    pytest.param("adam", 1e8, "float32", id="adam-float32"),
])
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_divergence_warns_and_keeps_finite_weights(Est, optimizer, lr, dtype):
    X, y, s = sum_task(0)
    est = Est(cell="rnn", nonlinearity="relu", optimizer=optimizer, learning_rate=lr,
              clip_norm=None, hidden_size=16, batch_size=16, max_iter=20, dtype=dtype,
              random_state=0)
    with pytest.warns(RuntimeWarning, match="diverged"):
        est.fit(X, targets(Est, y, s))
    assert np.isfinite(params_of(est)).all()
    assert np.isfinite(outputs(est, X)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_float32_and_float64(Est, dtype):
    X, y, s = sum_task(0)
    yy = targets(Est, y, s)
    est = Est(dtype=dtype, **SMALL).fit(X.astype(np.float32), yy)
    assert params_of(est).dtype == np.dtype(dtype)
    out = outputs(est, X)                      # float64 input to a float32 model is fine
    assert out.dtype == np.float64 and np.isfinite(out).all()
    other = Est(dtype="float64" if dtype == "float32" else "float32", **SMALL).fit(X, yy)
    # same seed, same data: the two precisions follow the same path
    np.testing.assert_allclose(outputs(other, X), out, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_integer_input_is_converted(Est):
    X, y, s = sum_task(0)
    Xi = np.round(10 * X).astype(np.int64)
    est = Est(**SMALL).fit(Xi, targets(Est, y, s))
    np.testing.assert_array_equal(outputs(est, Xi), outputs(est, Xi.astype(np.float64)))


# =============================================================== validation
BAD_PARAMS = [
    ("cell", "transformer"), ("hidden_size", 0), ("num_layers", 0),
    ("nonlinearity", "sigmoid"), ("dropout", 1.0), ("optimizer", "lbfgs"),
    ("learning_rate", 0.0), ("batch_size", 0), ("max_iter", 0), ("clip_norm", -1.0),
    ("clip_value", 0.0), ("bptt_steps", 0), ("alpha", -0.1), ("validation_fraction", 1.0),
    ("n_iter_no_change", 0), ("tol", -1.0), ("dtype", "float16"), ("verbose", "loud"),
    ("momentum", 1.5), ("early_stopping", "yes"),
]


@pytest.mark.parametrize("name, value", BAD_PARAMS, ids=[p for p, _ in BAD_PARAMS])
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_bad_hyper_parameter_raises_at_fit(Est, name, value):
    X, y, s = sum_task(0, n=8)
    est = Est(**{name: value})                       # __init__ only stores
    assert est.get_params()[name] == value
    with pytest.raises(ValueError, match=name):
        est.fit(X, targets(Est, y, s))


@pytest.mark.parametrize("value", ["some", 3, [1.0, 2.0]],
                         ids=["unknown_string", "int", "list"])
def test_bad_class_weight(value):
    X, y, _ = sum_task(0, n=8)
    with pytest.raises(ValueError, match="class_weight"):
        RNNClassifier(class_weight=value).fit(X, y)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_not_fitted(Est):
    X, _, _ = sum_task(0, n=4)
    est = Est()
    methods = ["predict", "score"] + (["predict_proba"] if Est is RNNClassifier else [])
    for method in methods:
        with pytest.raises(NotFittedError):
            if method == "score":
                est.score(X, np.zeros(4))
            else:
                getattr(est, method)(X)


def _poisoned(form, value):
    X, _, _ = sum_task(0, n=8, F=2)
    X[3, 2, 1] = value
    if form == "3d":
        return X
    if form == "2d":
        return X[:, :, 1]
    return [x[: 3 + i % 3] for i, x in enumerate(X)]      # lengths 3, 4, 5, 3 (X[3] keeps step 2)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("form", ["3d", "2d", "list"])
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_nan_and_inf_in_X(Est, form, value):
    Xbad = _poisoned(form, value)
    y = np.arange(8) % 2
    with pytest.raises(ValueError, match="(?i)nan|infinity"):
        Est(**SMALL).fit(Xbad, y)
    Xgood = _poisoned(form, 0.5)
    est = Est(**dict(SMALL, max_iter=1)).fit(Xgood, y)
    with pytest.raises(ValueError, match="(?i)nan|infinity"):
        est.predict(Xbad)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_nan_in_y(Est):
    X, y, s = sum_task(0, n=8)
    bad = targets(Est, y, s).astype(float)
    bad[2] = np.nan
    with pytest.raises(ValueError):
        Est(**SMALL).fit(X, bad)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_wrong_number_of_dimensions(Est):
    rng = np.random.default_rng(0)
    y = np.arange(6) % 2
    with pytest.raises(ValueError, match="2-D or 3-D"):
        Est(**SMALL).fit(rng.standard_normal((6, 4, 3, 2)), y)
    with pytest.raises(ValueError, match="2D"):
        Est(**SMALL).fit(rng.standard_normal(6), y)
    est = Est(**dict(SMALL, max_iter=1)).fit(rng.standard_normal((6, 4, 3)), y)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        est.predict(rng.standard_normal((6, 4, 3, 1)))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_feature_count_differs_from_fit(Est):
    rng = np.random.default_rng(0)
    y = np.arange(6) % 2
    est = Est(**dict(SMALL, max_iter=1)).fit(rng.standard_normal((6, 4, 3)), y)
    with pytest.raises(ValueError, match="2 features.*expecting 3"):
        est.predict(rng.standard_normal((6, 4, 2)))
    with pytest.raises(ValueError, match="4 features.*expecting 3"):
        est.predict([rng.standard_normal((5, 4)), rng.standard_normal((2, 4))])
    with pytest.raises(ValueError, match="1 features.*expecting 3"):
        est.predict(rng.standard_normal((6, 4)))          # 2-D: univariate sequences
    # a different number of steps is fine: sequences have any length
    assert len(est.predict(rng.standard_normal((6, 9, 3)))) == 6
    flat = Est(**dict(SMALL, max_iter=1)).fit(rng.standard_normal((6, 4)), y)
    with pytest.raises(ValueError, match="5 features.*expecting 4"):
        flat.predict(rng.standard_normal((6, 5)))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_bad_lists(Est):
    rng = np.random.default_rng(0)
    y = np.array([0, 1, 0])
    zero = [rng.standard_normal((4, 2)), np.empty((0, 2)), rng.standard_normal((3, 2))]
    with pytest.raises(ValueError, match=r"X\[1\].*length zero"):
        Est(**SMALL).fit(zero, y)
    mixed = [rng.standard_normal((4, 2)), rng.standard_normal((5, 3)), rng.standard_normal((3, 2))]
    with pytest.raises(ValueError, match="different numbers of features"):
        Est(**SMALL).fit(mixed, y)
    est = Est(**dict(SMALL, max_iter=1)).fit([rng.standard_normal((4, 2)) for _ in range(3)], y)
    with pytest.raises(ValueError, match="length zero"):
        est.predict(zero)
    with pytest.raises(ValueError, match="different numbers of features"):
        est.predict(mixed)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_mismatched_y(Est):
    X, y, s = sum_task(0, n=10)
    yy = targets(Est, y, s)
    with pytest.raises(ValueError):
        Est(**SMALL).fit(X, yy[:9])
    with pytest.raises(ValueError):
        Est(**SMALL).fit([x[: 3 + i % 4] for i, x in enumerate(X)], yy[:9])
    with pytest.raises(ValueError):
        Est(**SMALL).fit(X, yy, sample_weight=np.ones(9))


def test_mismatched_per_step_y():
    X, tags, _, Xr, tags_r, _ = _tagging_data(0, n=6)
    clf = RNNClassifier(**dict(SMALL, return_sequences=True))
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X, tags[:, :-1])                             # one step short
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X, tags[:, 0])                               # one label per sequence
    wrong = list(tags_r)
    wrong[2] = wrong[2][:-1]
    with pytest.raises(ValueError, match=r"y\[2\].*steps"):
        clf.fit(Xr, wrong)
    with pytest.raises(ValueError, match="sequences"):
        clf.fit(Xr, tags_r[:-1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_inputs_are_not_modified(Est, dtype):
    X, y, s = sum_task(0, n=32)
    X = X.astype(dtype)
    yy = targets(Est, y, s)
    Xr = [x.astype(dtype) for x in ragged_sum_task(1, n=32)[0]]
    w = np.linspace(0.5, 2.0, 32)
    copies = (X.copy(), yy.copy(), [x.copy() for x in Xr], w.copy())
    est = Est(dtype=dtype, **dict(SMALL, max_iter=2, early_stopping=True))
    est.fit(X, yy, sample_weight=w)
    outputs(est, X)
    est.fit(Xr, yy, sample_weight=w)
    outputs(est, Xr)
    scaler = SequenceScaler().fit(X)
    scaler.inverse_transform(scaler.transform(X))
    scaler.fit(Xr).transform(Xr)
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(yy, copies[1])
    for a, b in zip(Xr, copies[2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(w, copies[3])


# ================================================== a scikit-learn citizen
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_clone_and_params(Est):
    est = Est(cell="gru", hidden_size=5, learning_rate=0.003, random_state=7)
    params = est.get_params()
    assert params["cell"] == "gru" and params["hidden_size"] == 5
    assert set(params) >= {"cell", "nonlinearity", "reset_after", "peephole", "hidden_size",
                           "num_layers", "bidirectional", "dropout", "return_sequences",
                           "optimizer", "learning_rate", "batch_size", "max_iter",
                           "clip_norm", "clip_value", "bptt_steps", "alpha",
                           "early_stopping", "validation_fraction", "n_iter_no_change",
                           "tol", "shuffle", "random_state", "dtype", "verbose", "warm_start"}
    assert ("class_weight" in params) == (Est is RNNClassifier)
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    assert est.set_params(hidden_size=9, cell="rnn") is est
    assert est.hidden_size == 9 and est.cell == "rnn"
    X, y, s = sum_task(0, n=16)
    fitted = Est(**SMALL).fit(X, targets(Est, y, s))
    assert not hasattr(clone(fitted), "network_")


@pytest.mark.parametrize("form", ["3d", "list"])
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_pickle_and_joblib_round_trips(Est, form, tmp_path):
    X, y, s = sum_task(0) if form == "3d" else ragged_sum_task(0)
    est = Est(**dict(SMALL, cell="gru")).fit(X, targets(Est, y, s))
    expected = outputs(est, X)
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(outputs(again, X), expected)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    assert np.array_equal(outputs(loaded, X), expected)


ROUND_TRIPS = {
    "pickle": lambda est, path: pickle.loads(pickle.dumps(est)),
    "joblib": lambda est, path: (joblib.dump(est, path), joblib.load(path))[1],
    "deepcopy": lambda est, path: copy.deepcopy(est),
}


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_training_continues_after_round_trip(Est, how, tmp_path):
    """A copied model keeps training exactly where the original would."""
    X, y, s = sum_task(0)
    yy = targets(Est, y, s)
    est = Est(**dict(SMALL, cell="gru", tol=0.0)).fit(X, yy)
    copied = ROUND_TRIPS[how](est, tmp_path / "model.joblib")
    before = outputs(copied, X)
    copied.partial_fit(X, yy)
    est.partial_fit(X, yy)
    assert not np.array_equal(outputs(copied, X), before), "partial_fit changed nothing"
    assert np.array_equal(outputs(copied, X), outputs(est, X))
    # and so does warm_start
    copied = ROUND_TRIPS[how](est, tmp_path / "model.joblib")
    copied.set_params(warm_start=True, max_iter=2).fit(X, yy)
    est.set_params(warm_start=True, max_iter=2).fit(X, yy)
    assert np.array_equal(outputs(copied, X), outputs(est, X))


@pytest.mark.parametrize("n_jobs", [1, 2], ids=["n_jobs1", "n_jobs2"])
@pytest.mark.parametrize("form", ["3d", "list"])
def test_pipeline_in_grid_search_and_cross_val_score(form, n_jobs):
    X, y, _ = sum_task(0, n=60) if form == "3d" else ragged_sum_task(0, n=60)
    if form == "3d":
        X = 3.0 * X + 1.0                                  # something for the scaler to undo
    else:
        X = [3.0 * x + 1.0 for x in X]
    pipe = Pipeline([("scale", SequenceScaler()),
                     ("rnn", RNNClassifier(hidden_size=8, max_iter=8, random_state=0))])
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=cv, n_jobs=n_jobs)
    assert scores.shape == (3,) and np.all(scores > 0.6)
    search = GridSearchCV(pipe, {"rnn__cell": ["gru", "lstm"], "rnn__learning_rate": [0.01, 0.03]},
                          cv=cv, n_jobs=n_jobs)
    search.fit(X, y)
    assert search.best_score_ > 0.6
    assert set(search.best_params_) == {"rnn__cell", "rnn__learning_rate"}
    assert search.predict(X[:5]).shape == (5,)
    if n_jobs == 2:
        # workers give the same fits as the parent process
        serial = cross_val_score(pipe, X, y, cv=cv, n_jobs=1)
        np.testing.assert_array_equal(scores, serial)


def test_pipeline_regression_on_lists():
    X, _, s = ragged_sum_task(0, n=60)
    pipe = Pipeline([("scale", SequenceScaler()),
                     ("rnn", RNNRegressor(hidden_size=8, max_iter=10, random_state=0))])
    scores = cross_val_score(pipe, X, s, cv=3)
    assert np.all(scores > 0.5)


# ============================================================ preprocessing
def test_sequence_scaler_pools_valid_steps_only():
    X, _, _ = ragged_sum_task(0, n=20, F=3)
    X = [x * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0] for x in X]
    scaler = SequenceScaler().fit(X)
    steps = np.concatenate(X)                              # every valid step, no padding
    np.testing.assert_allclose(scaler.mean_, steps.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scaler.scale_, steps.std(axis=0), rtol=1e-12)
    assert scaler.n_features_in_ == 3
    Z = scaler.transform(X)
    assert isinstance(Z, list) and [z.shape for z in Z] == [x.shape for x in X]
    pooled = np.concatenate(Z)
    np.testing.assert_allclose(pooled.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pooled.std(axis=0), 1.0, rtol=1e-12)
    back = scaler.inverse_transform(Z)
    for a, b in zip(back, X):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_sequence_scaler_forms():
    rng = np.random.default_rng(0)
    X3 = 2.0 + 3.0 * rng.standard_normal((10, 7, 2))
    scaler = SequenceScaler().fit(X3)
    Z3 = scaler.transform(X3)
    assert isinstance(Z3, np.ndarray) and Z3.shape == X3.shape
    np.testing.assert_allclose(Z3.reshape(-1, 2).mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(Z3), X3, rtol=1e-12)
    # the same sequences as a list give the same statistics
    as_list = SequenceScaler().fit(list(X3))
    np.testing.assert_allclose(as_list.mean_, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(as_list.scale_, scaler.scale_, rtol=1e-12)
    # 2-D: univariate sequences, one feature pooled over every column
    X2 = X3[:, :, 0]
    flat = SequenceScaler().fit(X2)
    Z2 = flat.transform(X2)
    assert Z2.shape == X2.shape
    np.testing.assert_allclose(flat.mean_, [X2.mean()], rtol=1e-12)
    np.testing.assert_allclose(Z2.std(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(flat.inverse_transform(Z2), X2, rtol=1e-12)
    # fit_transform is fit then transform
    np.testing.assert_allclose(SequenceScaler().fit_transform(X3), Z3)


def test_sequence_scaler_options_and_constant_features():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 4, 3))
    X[:, :, 1] = 7.0                                       # constant feature
    Z = SequenceScaler().fit_transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_array_equal(Z[:, :, 1], 0.0)
    only_mean = SequenceScaler(with_std=False).fit(X)
    np.testing.assert_array_equal(only_mean.scale_, 1.0)
    only_std = SequenceScaler(with_mean=False).fit(X)
    np.testing.assert_array_equal(only_std.mean_, 0.0)
    with pytest.raises(NotFittedError):
        SequenceScaler().transform(X)
    with pytest.raises(ValueError, match="2 features.*expecting 3"):
        SequenceScaler().fit(X).transform(X[:, :, :2])
    with pytest.raises(ValueError, match="with_mean"):
        SequenceScaler(with_mean="yes").fit(X)


def test_pad_sequences():
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((L, 2)) for L in (3, 6, 1)]
    X, lengths = pad_sequences(seqs)
    assert X.shape == (3, 6, 2) and X.dtype == np.float64
    assert lengths.tolist() == [3, 6, 1]
    for x, s, L in zip(X, seqs, lengths):
        np.testing.assert_array_equal(x[:L], s)
        np.testing.assert_array_equal(x[L:], 0.0)
    X, lengths = pad_sequences(seqs, maxlen=4, value=-1.0, dtype=np.float32)
    assert X.shape == (3, 4, 2) and X.dtype == np.float32
    assert lengths.tolist() == [3, 4, 1]
    np.testing.assert_array_equal(X[1], seqs[1][:4].astype(np.float32))   # keeps the first steps
    np.testing.assert_array_equal(X[0, 3], -1.0)
    X, lengths = pad_sequences([np.arange(3.0), np.arange(5.0)])           # 1-D: one feature
    assert X.shape == (2, 5, 1) and lengths.tolist() == [3, 5]
    with pytest.raises(ValueError, match="different numbers of features"):
        pad_sequences([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences(seqs, maxlen=0)
    with pytest.raises(TypeError):
        pad_sequences(np.ones((2, 3, 1)))


# ================================================================ real data
def _digits_as_sequences():
    """Each 8x8 image read row by row: 8 steps of 8 pixels, scaled to [0, 1]."""
    digits = load_digits()
    X = digits.images / 16.0
    return train_test_split(X, digits.target, test_size=0.25, stratify=digits.target,
                            random_state=0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_digits_row_by_row(cell):
    X_train, X_test, y_train, y_test = _digits_as_sequences()
    clf = RNNClassifier(cell=cell, hidden_size=64, max_iter=20, batch_size=32, random_state=0)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)
    print(f"\ndigits {cell}: test accuracy {accuracy:.4f}, fit {seconds:.1f}s "
          f"({clf.n_iter_} epochs, {len(X_train)} sequences of 8x8)")
    assert clf.n_features_in_ == 8
    assert accuracy >= 0.95


def test_variable_length_task_passed_as_list():
    """Is the sum of a sequence positive?  Lengths 5 to 30, given as a list."""
    X, y, _ = ragged_sum_task(0, n=600, lengths=(5, 30), F=1)
    X_train, X_test, y_train, y_test = X[:400], X[400:], y[:400], y[400:]
    clf = RNNClassifier(cell="gru", hidden_size=16, max_iter=20, random_state=0)
    clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.9


def test_regression_beats_dummy():
    """The mean of a noisy sequence of 5 to 20 steps (given as a list)."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 21, 600)
    level = rng.uniform(-2.0, 2.0, 600)
    X = [m + 0.5 * rng.standard_normal((L, 1)) for m, L in zip(level, lengths)]
    y = np.array([x.mean() for x in X])
    X_train, X_test, y_train, y_test = X[:400], X[400:], y[:400], y[400:]
    reg = RNNRegressor(cell="gru", hidden_size=16, max_iter=20, random_state=0)
    reg.fit(X_train, y_train)
    dummy = DummyRegressor().fit(np.zeros((400, 1)), y_train)
    baseline = dummy.score(np.zeros((200, 1)), y_test)
    r2 = reg.score(X_test, y_test)
    assert r2 >= 0.9
    assert r2 > baseline + 0.8


def test_package_exports():
    assert seqcore.RNNClassifier is RNNClassifier
    assert seqcore.RNNRegressor is RNNRegressor
    assert seqcore.preprocessing.SequenceScaler is SequenceScaler
    assert seqcore.preprocessing.pad_sequences is pad_sequences

"""The head losses of seqcore.nn._loss: values and gradients against finite
differences, the regressor's losses end to end, the multilabel classifier."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from seqcore import RNNClassifier, RNNRegressor
from seqcore.nn import Huber, Pinball
from seqcore.nn._loss import LOSSES, get_loss

# every loss of the registry, and the parametrized ones in other settings
ALL = [LOSSES[name]() for name in sorted(LOSSES) if not LOSSES[name].sequence] + [
    Huber(0.3), Pinball((0.1, 0.5, 0.9))]


def _targets(loss, N, K, rng):
    if loss.name == "softmax":
        return rng.integers(0, K, N)
    if loss.name == "sigmoid":
        return rng.integers(0, 2, (N, K)).astype(float)
    if loss.name in ("poisson", "negative_binomial"):
        return rng.poisson(2.0, (N, K // loss.n_outputs(1))).astype(float)
    if loss.name == "pinball":
        return rng.normal(size=(N, K // len(loss.quantiles)))
    return rng.normal(size=(N, K // loss.n_outputs(1)))


@pytest.mark.parametrize("loss", ALL, ids=repr)
def test_value_and_gradient_against_finite_differences(loss):
    rng = np.random.default_rng(0)
    N, K = 5, loss.n_outputs(3)      # 3 targets
    Z = rng.normal(size=(N, K))
    Y = _targets(loss, N, K, rng)
    w = rng.random(N) + 0.1
    w /= w.sum()
    dZ = np.empty_like(Z)
    value = loss(Z, Y, w, dZ)
    assert np.isfinite(value) and value > -1e300
    # the loss is the weighted sum of per-row losses: one row alone, weight 1
    row = np.empty((1, K))
    solo = loss(Z[:1], Y[:1], np.ones(1), row)
    rest = loss(Z[1:], Y[1:], w[1:] / w[1:].sum(), np.empty((N - 1, K)))
    assert np.isclose(value, w[0] * solo + (1 - w[0]) * rest, rtol=1e-12)
    h = 1e-6
    num = np.empty_like(Z)
    for i in range(N):
        for k in range(K):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[i, k] += h
            Zm[i, k] -= h
            num[i, k] = (loss(Zp, Y, w, np.empty_like(Z)) - loss(Zm, Y, w, np.empty_like(Z))) / (2 * h)
    np.testing.assert_allclose(dZ, num, rtol=1e-5, atol=1e-8)


def test_pinball_value_by_hand():
    loss = Pinball((0.2, 0.8))
    Z = np.array([[1.0, 1.0]])        # both quantiles predict 1 for the one target
    Y = np.array([[3.0]])             # r = y - z = 2 > 0: loss q * r
    dZ = np.empty_like(Z)
    assert loss(Z, Y, np.ones(1), dZ) == pytest.approx((0.2 * 2 + 0.8 * 2) / 2)
    np.testing.assert_allclose(dZ, [[-0.2 / 2, -0.8 / 2]])


def test_unknown_loss_and_bad_quantiles_are_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("hinge")
    for q in [(0.0, 0.5), (0.5, 0.5), (1.2,), ()]:
        with pytest.raises(ValueError, match="quantiles"):
            Pinball(q)


# ------------------------------------------------------------ the regressor
def _heteroscedastic(n, rng):
    X = rng.normal(size=(n, 5, 1))
    level = X[:, -1, 0]
    scale = 0.2 + 0.8 * (X[:, -2, 0] > 0)      # noise 5x larger on half the inputs
    y = level + scale * rng.normal(size=n)
    return X, y


def test_pinball_quantiles_are_ordered_and_cover_their_levels():
    rng = np.random.default_rng(0)
    X, y = _heteroscedastic(3000, rng)
    Xt, yt = _heteroscedastic(2000, rng)
    q = (0.1, 0.5, 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = RNNRegressor(loss="pinball", quantiles=q, cell="gru", hidden_size=16, max_iter=40,
                           batch_size=64, learning_rate=0.005, early_stopping=True,
                           random_state=0).fit(X, y)
    P = reg.predict(Xt)
    assert P.shape == (2000, 3)
    assert (np.diff(P, axis=1) >= 0).all()                  # never cross
    below = (yt[:, None] <= P).mean(axis=0)
    np.testing.assert_allclose(below, q, atol=0.05)         # nominal levels within 5 points
    # the intervals follow the noise: wider where it is 5x larger
    width = P[:, 2] - P[:, 0]
    noisy = Xt[:, -2, 0] > 0
    assert width[noisy].mean() > 2.5 * width[~noisy].mean()
    assert -1 < reg.score(Xt, yt) <= 1


@pytest.mark.parametrize("loss", ["squared_error", "absolute_error", "huber", "poisson",
                                  Huber(0.5)], ids=str)
def test_every_regression_loss_trains(loss):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6, 2))
    rate = np.exp(0.5 * X[:, :, 0].mean(1))
    y = rng.poisson(3 * rate).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = RNNRegressor(loss=loss, hidden_size=8, max_iter=15, random_state=0).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (300,) and np.isfinite(pred).all()
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    if loss == "poisson":
        assert (pred > 0).all()
    assert reg.score(X, y) > 0


def test_poisson_refuses_negative_targets():
    with pytest.raises(ValueError, match="poisson"):
        RNNRegressor(loss="poisson", max_iter=1).fit(np.zeros((4, 3, 1)), [1.0, -1, 2, 3])


def test_quantiles_need_the_pinball_loss():
    with pytest.raises(ValueError, match="pinball"):
        RNNRegressor(quantiles=(0.5,), max_iter=1).fit(np.zeros((4, 3, 1)), np.arange(4.0))


def test_pinball_with_two_outputs_and_per_step():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 4, 2))
    Y = X[:, -1, :] + 0.1 * rng.normal(size=(40, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = RNNRegressor(loss="pinball", quantiles=(0.9, 0.1), max_iter=3, random_state=0)
        P = reg.fit(X, Y).predict(X)
        assert P.shape == (40, 2, 2) and (P[..., 0] >= P[..., 1]).all()   # 0.9 above 0.1
        seq = RNNRegressor(loss="pinball", quantiles=(0.25, 0.75), return_sequences=True,
                           max_iter=2, random_state=0)
        Ps = seq.fit(X, X[:, :, 0]).predict(X)
    assert Ps.shape == (40, 4, 2)
    assert np.isfinite(seq.score(X, X[:, :, 0]))


# ------------------------------------------------------------- multilabel
def test_multilabel_classifier():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5, 3))
    Y = np.column_stack([X[:, :, 0].sum(1) > 0, X[:, :, 1].sum(1) > 0,
                         X[:, -1, 2] > 0.5]).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = RNNClassifier(cell="gru", hidden_size=16, max_iter=30, random_state=0).fit(X, Y)
    P = clf.predict_proba(X)
    assert P.shape == (400, 3) and ((P >= 0) & (P <= 1)).all()
    pred = clf.predict(X)
    assert pred.shape == (400, 3) and set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (P > 0.5).astype(int))
    assert clf.network_.loss == "sigmoid"
    assert clf.score(X, Y) > 0.6                          # subset accuracy
    with pytest.raises(ValueError, match="label columns"):
        clf.partial_fit(X, Y[:, :2])
    with pytest.raises(ValueError, match="class_weight"):
        RNNClassifier(class_weight="balanced", max_iter=1).fit(X, Y)


def test_ctc_joins_the_registry_as_a_sequence_loss():
    from seqcore.nn import ctc_loss

    loss = get_loss("ctc")
    assert loss.sequence and loss.name == "ctc"
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(3, 7, 4))
    lengths = np.array([7, 5, 6])
    targets = [np.array([1, 2]), np.array([3]), np.array([1, 1, 2])]
    value, grad = loss.sequence_loss(logits, lengths, targets)
    ref, ref_grad = ctc_loss(logits, lengths, targets)
    assert value == ref
    np.testing.assert_array_equal(grad, ref_grad)
    # the gradient of the registry's loss against central differences
    h, (b, t, c) = 1e-6, (2, 3, 1)
    up, down = logits.copy(), logits.copy()
    up[b, t, c] += h
    down[b, t, c] -= h
    num = (loss.sequence_loss(up, lengths, targets)[0]
           - loss.sequence_loss(down, lengths, targets)[0]) / (2 * h)
    assert np.isclose(grad[b, t, c], num, rtol=1e-5, atol=1e-9)
    with pytest.raises(TypeError, match="sequence loss"):
        loss(np.zeros((2, 3)), np.zeros(2), np.ones(2) / 2, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="loss"):      # not a regressor's loss
        RNNRegressor(loss="ctc", max_iter=1).fit(np.zeros((4, 3, 1)), np.arange(4.0))


def test_multilabel_values_other_than_0_1_are_refused():
    X = np.random.default_rng(8).normal(size=(20, 4, 2))
    Y = np.tile([[1, -1], [-1, 1]], (10, 1))
    with pytest.raises(ValueError, match="0/1"):
        RNNClassifier(max_iter=1).fit(X, Y)


def test_regressor_scores_weigh_their_samples():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(40, 5, 2))
    y = rng.poisson(2.0, 40).astype(float)
    sw = np.r_[np.ones(20), np.zeros(20)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pois = RNNRegressor(loss="poisson", hidden_size=4, max_iter=3, random_state=0).fit(X, y)
        seq = RNNRegressor(return_sequences=True, hidden_size=4, max_iter=3,
                           random_state=0).fit(X, X[:, :, 0])
    assert pois.score(X, y, sample_weight=sw) == pytest.approx(pois.score(X[:20], y[:20]))
    assert seq.score(X, X[:, :, 0], sample_weight=sw) == pytest.approx(
        seq.score(X[:20], X[:20, :, 0]))
    assert pois.score(X, np.zeros(40)) == 0.0       # no null deviance: not a ZeroDivisionError


def test_a_sparse_multilabel_indicator_is_read_as_its_dense_twin():
    import scipy.sparse as sp

    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 4, 2))
    Y = (rng.random((60, 3)) > 0.5).astype(int)
    kw = dict(hidden_size=4, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = RNNClassifier(**kw).fit(X, Y)
        sparse = RNNClassifier(**kw).fit(X, sp.csr_matrix(Y))
    np.testing.assert_array_equal(dense.predict_proba(X), sparse.predict_proba(X))

"""Probabilistic training: the likelihood heads' losses (values, exact
gradients, against scipy and torch.distributions), RNNRegressor's
distribution methods, the forecaster's heads (intervals, sample paths,
recalibration) and the probabilistic scores."""

import contextlib
import pickle
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone

from seqcore import RNNForecaster, RNNRegressor
from seqcore.forecasting import crps, scaled_pinball_loss
from seqcore.nn import Gaussian, NegativeBinomial, StudentT
from seqcore.nn._loss import LOSSES, Distribution

HEADS = [Gaussian(), StudentT(), NegativeBinomial(scale=np.array([4.0, 0.7]))]
SMALL = dict(hidden_size=8, max_iter=30, random_state=0)


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _targets(loss, shape, rng):
    if loss.name == "negative_binomial":
        return rng.negative_binomial(3, 0.4, shape).astype(float)
    return rng.normal(size=shape) * 2


def test_every_likelihood_head_is_in_the_registry():
    names = {n for n, c in LOSSES.items() if issubclass(c, Distribution)}
    assert names == {"gaussian", "student_t", "negative_binomial"}
    assert {type(h).name for h in HEADS} == names


@pytest.mark.parametrize("loss", HEADS, ids=repr)
@pytest.mark.parametrize("spread", [0.3, 3.0])
def test_gradient_against_finite_differences(loss, spread):
    rng = np.random.default_rng(0)
    N, K = 6, 2
    Z = rng.normal(size=(N, loss.n_outputs(K))) * spread
    Y = _targets(loss, (N, K), rng)
    w = rng.random(N) + 0.1
    w /= w.sum()
    dZ = np.empty_like(Z)
    value = loss(Z, Y, w, dZ)
    assert np.isfinite(value)
    h = 1e-6
    num = np.empty_like(Z)
    for i in range(N):
        for k in range(Z.shape[1]):
            Zp, Zm = Z.copy(), Z.copy()
            Zp[i, k] += h
            Zm[i, k] -= h
            num[i, k] = (loss(Zp, Y, w, np.empty_like(Z))
                         - loss(Zm, Y, w, np.empty_like(Z))) / (2 * h)
    np.testing.assert_allclose(dZ, num, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("loss", HEADS, ids=repr)
def test_loss_is_the_mean_negative_log_likelihood_against_scipy(loss):
    rng = np.random.default_rng(1)
    N, K = 5, 2
    Z = rng.normal(size=(N, loss.n_outputs(K)))
    Y = _targets(loss, (N, K), rng)
    p = loss.distribution(Z)
    if loss.name == "gaussian":
        logp = stats.norm.logpdf(Y, p["loc"], p["scale"])
    elif loss.name == "student_t":
        logp = stats.t.logpdf(Y, p["df"], p["loc"], p["scale"])
    else:
        r = 1 / p["alpha"]
        logp = stats.nbinom.logpmf(Y, r, r / (r + p["mu"]))
    np.testing.assert_allclose(loss.nll(p, Y), -logp, rtol=1e-10, atol=1e-12)
    w = np.full(N, 1 / N)
    assert loss(Z, Y, w, np.empty_like(Z)) == pytest.approx(-logp.mean(), rel=1e-12)


@pytest.mark.parametrize("loss", HEADS, ids=repr)
def test_nll_matches_torch_distributions(loss):
    torch = pytest.importorskip("torch")
    D = torch.distributions
    rng = np.random.default_rng(2)
    Z = rng.normal(size=(7, loss.n_outputs(2)))
    Y = _targets(loss, (7, 2), rng)
    p = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in loss.distribution(Z).items()}
    y = torch.as_tensor(Y, dtype=torch.float64)
    if loss.name == "gaussian":
        ref = D.Normal(p["loc"], p["scale"]).log_prob(y)
    elif loss.name == "student_t":
        ref = D.StudentT(p["df"], p["loc"], p["scale"]).log_prob(y)
    else:
        r = 1 / p["alpha"]
        # torch's probs is the chance of a "success" counted by y: mean r p / (1 - p)
        ref = D.NegativeBinomial(total_count=r, probs=p["mu"] / (r + p["mu"])).log_prob(y)
    np.testing.assert_allclose(loss.nll(loss.distribution(Z), Y), -ref.numpy(), rtol=1e-9)


@pytest.mark.parametrize("loss", HEADS, ids=repr)
def test_closed_form_quantiles_and_samples_agree(loss):
    rng = np.random.default_rng(3)
    p = loss.distribution(rng.normal(size=(3, loss.n_outputs(2))))
    q = loss.quantile(p, [0.1, 0.5, 0.9])
    assert q.shape == (3, 2, 3)
    assert (np.diff(q, axis=-1) >= 0).all()
    draws = loss.sample(p, 40_000, np.random.default_rng(0))
    empirical = np.quantile(draws, [0.1, 0.5, 0.9], axis=-1)
    # the sample quantiles of 40,000 draws: within a few percent of the spread
    spread = q[..., 2] - q[..., 0]
    assert np.abs(np.moveaxis(empirical, 0, -1) - q).max() <= 0.05 * spread.max() + 1


def _regression(loss, n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6, 1))
    if loss == "negative_binomial":
        y = rng.negative_binomial(4, 4 / (4 + 3 * np.exp(0.5 * X[:, -1, 0]))).astype(float)
    else:
        y = 5 + 2 * X[:, -1, 0] + rng.normal(size=n) * (0.5 + 0.5 * (X[:, -2, 0] > 0))
    return X, y


@pytest.mark.parametrize("loss", ["gaussian", "student_t", "negative_binomial"])
def test_regressor_trains_by_likelihood(loss):
    X, y = _regression(loss)
    with _quiet():
        reg = RNNRegressor(loss=loss, **SMALL).fit(X, y)
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]
    pred = reg.predict(X[:50])
    dist = reg.predict_distribution(X[:50])
    mean = dist["mu"] if loss == "negative_binomial" else dist["loc"]
    np.testing.assert_allclose(pred, mean)          # predict is the distribution's mean
    assert all(v.shape == (50,) for v in dist.values())
    q = reg.predict_quantiles(X[:50], [0.05, 0.5, 0.95])
    assert q.shape == (50, 3) and (np.diff(q, axis=1) >= 0).all()
    # the 90% intervals cover most of the training targets
    q = reg.predict_quantiles(X, [0.05, 0.95])
    assert 0.75 <= np.mean((q[:, 0] <= y) & (y <= q[:, 1])) <= 1.0
    if loss != "negative_binomial":   # the noise is wider where X[:, -2] > 0
        wide = X[:, -2, 0] > 0
        width = q[:, 1] - q[:, 0]
        assert width[wide].mean() > 1.3 * width[~wide].mean()
    assert reg.score(X, y) > 0.3


@pytest.mark.parametrize("loss", ["gaussian", "student_t", "negative_binomial"])
def test_sample_means_converge_to_the_point_forecast(loss):
    """The law of large numbers: the mean of n draws is within 5 standard
    errors (sd / sqrt(n), sd the distribution's) of ``predict``."""
    X, y = _regression(loss, n=200)
    with _quiet():
        reg = RNNRegressor(loss=loss, **dict(SMALL, max_iter=10)).fit(X, y)
    n = 40_000
    S = reg.predict_samples(X[:20], n_samples=n, random_state=0)
    assert S.shape == (20, n)
    d = reg.predict_distribution(X[:20])
    if loss == "gaussian":
        sd = d["scale"]
    elif loss == "student_t":
        sd = d["scale"] * np.sqrt(d["df"] / (d["df"] - 2))
    else:
        sd = np.sqrt(d["mu"] + d["alpha"] * d["mu"] ** 2)
    err = np.abs(S.mean(axis=1) - reg.predict(X[:20]))
    assert (err <= 5 * sd / np.sqrt(n)).all()
    # and the same seed gives the same draws
    np.testing.assert_array_equal(S[:2], reg.predict_samples(X[:2], n, random_state=0))


def test_several_targets_and_per_step_heads():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 5, 2))
    Y = np.stack([X[:, -1, 0], X[:, -1, 1] * 2], axis=1) + rng.normal(size=(120, 2)) * 0.1
    with _quiet():
        reg = RNNRegressor(loss="gaussian", **SMALL).fit(X, Y)
        seq = RNNRegressor(loss="student_t", return_sequences=True,
                           **dict(SMALL, max_iter=3)).fit(list(X[:, :4]) + [X[0, :3]],
                                                          list(X[:, :4, 0]) + [X[0, :3, 0]])
    assert reg.predict(X).shape == (120, 2)
    assert reg.predict_quantiles(X, [0.1, 0.9]).shape == (120, 2, 2)
    assert reg.predict_samples(X, 5, random_state=0).shape == (120, 2, 5)
    ragged = seq.predict_samples(list(X[:2, :4]) + [X[0, :3]], 7, random_state=0)
    assert [a.shape for a in ragged] == [(4, 7), (4, 7), (3, 7)]


def test_quantile_heads_are_monotone():
    """Quantile heads never cross: the regressor's pinball head (levels
    given out of order), and the forecaster's quantile and likelihood heads."""
    X, y = _regression("gaussian")
    with _quiet():
        reg = RNNRegressor(loss="pinball", quantiles=(0.9, 0.1, 0.5, 0.3),
                           **dict(SMALL, max_iter=3)).fit(X, y)
    P = reg.predict(X)
    assert (P[:, 1] <= P[:, 3]).all() and (P[:, 3] <= P[:, 2]).all() and (
        P[:, 2] <= P[:, 0]).all()
    np.testing.assert_array_equal(reg.predict_quantiles(X, [0.1, 0.9]), P[:, [1, 0]])
    with pytest.raises(ValueError, match="trained for the quantiles"):
        reg.predict_quantiles(X, [0.2])
    y = _series(160)
    levels = np.linspace(0.02, 0.98, 17)
    for dist in ("quantile", "normal", "student_t"):
        with _quiet():
            f = RNNForecaster(distribution=dist, **FAST).fit(y)
        for method in ("head", "head+conformal"):
            f.set_params(interval_method=method)
            Q = f.predict_quantiles(12, alpha=levels)
            assert (np.diff(Q, axis=-1) >= 0).all(), (dist, method)


def test_negative_binomial_refuses_bad_targets_before_training():
    X = np.random.default_rng(5).normal(size=(30, 4, 1))
    for bad, what in ((np.r_[-1.0, np.ones(29)], "negative"),
                      (np.r_[1.5, np.ones(29)], "non-integer")):
        reg = RNNRegressor(loss="negative_binomial", max_iter=1)
        with pytest.raises(ValueError, match=f"counts.*{what}"):
            reg.fit(X, bad)
        assert not hasattr(reg, "network_")
    y = np.arange(30.0)
    before = y.copy()
    with _quiet():
        reg = RNNRegressor(loss="negative_binomial", hidden_size=4, max_iter=1).fit(X, y)
    np.testing.assert_array_equal(y, before)
    with pytest.raises(ValueError, match="counts"):
        reg.partial_fit(X, y + 0.5)


def test_distribution_methods_need_a_likelihood_head():
    X, y = _regression("gaussian", n=60)
    with _quiet():
        reg = RNNRegressor(hidden_size=4, max_iter=1).fit(X, y)
    for call in (lambda: reg.predict_distribution(X), lambda: reg.predict_samples(X, 3),
                 lambda: reg.predict_quantiles(X, 0.5)):
        with pytest.raises(ValueError, match="likelihood head"):
            call()
    with _quiet():
        reg = RNNRegressor(loss="gaussian", hidden_size=4, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="n_samples"):
        reg.predict_samples(X, 0)
    with pytest.raises(TypeError, match="n_samples"):
        reg.predict_samples(X, 2.5)
    with pytest.raises(ValueError, match="q must"):
        reg.predict_quantiles(X, [0.5, 1.0])


# ------------------------------------------------------------- forecaster

FAST = dict(horizon=12, season=12, n_models=2, hidden_size=16, max_iter=40,
            random_state=0)


def _series(n, seed=0, level=20.0):
    """A seasonal level with Gaussian noise of sd 1: the truth's distribution."""
    t = np.arange(n)
    return level + 3 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(size=n)


def _exact_coverage(lo, hi, n_hist, level=20.0):
    """The chance that the next values fall inside [lo, hi]: known exactly,
    since they are N(pattern, 1)."""
    t = n_hist + np.arange(len(lo))
    mu = level + 3 * np.sin(2 * np.pi * t / 12)
    return float(np.mean(stats.norm.cdf(hi - mu) - stats.norm.cdf(lo - mu)))


@pytest.mark.parametrize("dist", ["normal", "student_t", "quantile"])
def test_forecaster_heads_cover_near_nominal(dist):
    n = 240
    y = _series(n)
    with _quiet():
        f = RNNForecaster(distribution=dist, transform=None, **FAST).fit(y)
    assert f.regressor_.loss == {"normal": "gaussian", "quantile": "pinball"}.get(dist, dist)
    for method in ("head", "head+conformal"):
        f.set_params(interval_method=method)
        fc, lo, hi = f.predict_interval(12, coverage=0.9)
        assert 0.8 <= _exact_coverage(lo, hi, n) <= 0.985, method
        # a Gaussian of sd 1 needs a width of 3.29: the head is not far off
        assert 2.5 < np.mean(hi - lo) < 5.5


def test_global_model_heads_cover_near_nominal():
    ys = [_series(96 + 4 * i, seed=i) for i in range(24)]
    with _quiet():
        f = RNNForecaster(distribution="normal", **dict(FAST, horizon=6)).fit(ys)
    assert f.global_method_ == "normalised" and f.global_model_.head_scores_ is not None
    cover = []
    for method in ("head", "head+conformal"):
        f.set_params(interval_method=method)
        _, lo, hi = f.predict_interval(6)
        cover.append(np.mean([_exact_coverage(a, b, len(y)) for a, b, y in zip(lo, hi, ys)]))
    assert all(0.8 <= c <= 0.99 for c in cover), cover
    paths = f.predict_samples(6, n_samples=50, random_state=0)
    assert len(paths) == 24 and paths[0].shape == (6, 50)
    # the head's far quantiles stay inside the squashed training targets' range
    lo, hi = f.global_model_.head_range_
    assert (lo < 0).all() and (hi > 0).all()
    far = f.predict_quantiles(6, alpha=[1e-4, 1 - 1e-4])
    for q, y in zip(far, ys):
        assert np.isfinite(q).all() and (np.abs(q - y[-1]) < 20 * np.ptp(y)).all()


def test_forecaster_sample_means_converge_to_the_forecast():
    y = _series(200)
    with _quiet():
        f = RNNForecaster(distribution="normal", transform=None, differencing=0,
                          **FAST).fit(y)
    n = 20_000
    S = f.predict_samples(12, n_samples=n, random_state=0)
    assert S.shape == (12, n)
    # sd of each step's draws about 1: 5 standard errors of the mean
    sd = S.std(axis=1)
    assert (np.abs(S.mean(axis=1) - f.predict(12)) <= 5 * sd / np.sqrt(n)).all()
    # with differencing a path sums its steps: its spread grows over the horizon
    with _quiet():
        g = RNNForecaster(distribution="normal", transform=None, differencing=1,
                          **FAST).fit(np.cumsum(np.random.default_rng(1).normal(size=200)))
    S = g.predict_samples(12, n_samples=4000, random_state=0)
    assert S[-1].std() > 2 * S[0].std()


def test_forecaster_samples_without_a_head_draw_calibration_errors():
    y = _series(200)
    with _quiet():
        f = RNNForecaster(**FAST).fit(y)
    S = f.predict_samples(6, n_samples=500, random_state=1)
    assert S.shape == (6, 500)
    fc, lo, hi = f.predict_interval(6)
    inside = np.mean((S >= lo[:, None]) & (S <= hi[:, None]))
    assert 0.8 <= inside <= 0.98     # the errors behind the conformal interval


def test_forecaster_head_options_are_checked_before_fitting():
    y = _series(150)
    with pytest.raises(ValueError, match="counts"):
        RNNForecaster(distribution="negative_binomial").fit(y)
    with pytest.raises(ValueError, match="strategy='direct'"):
        RNNForecaster(distribution="normal", strategy="recursive").fit(y)
    with pytest.raises(ValueError, match="set distribution"):
        RNNForecaster(interval_method="head").fit(y)
    with pytest.raises(ValueError, match="distribution"):
        RNNForecaster(distribution="laplace").fit(y)
    with _quiet():
        f = RNNForecaster(distribution="normal", calibration_size=0, **FAST).fit(y)
    f.predict_interval(3)   # 'auto' reads the head alone without calibration data
    f.set_params(interval_method="head+conformal")
    with pytest.raises(ValueError, match="calibration"):
        f.predict_interval(3)


def test_calibrated_intervals_without_calibration_data_are_refused_before_fitting():
    # interval_method 'conformal' or 'head+conformal' reads the held-out tail:
    # with calibration_size=0 there is none, known before any training
    y = _series(80)
    for kw in ({"interval_method": "conformal"},
               {"interval_method": "head+conformal", "distribution": "normal"}):
        f = RNNForecaster(calibration_size=0, **kw, **FAST)
        with pytest.raises(ValueError, match="calibration_size"):
            f.fit(y)
        assert not hasattr(f, "regressors_")


def test_clone_and_pickle_keep_the_heads():
    f = RNNForecaster(distribution="student_t", interval_method="head", **FAST)
    c = clone(f)
    assert c.get_params()["distribution"] == "student_t"
    assert c.get_params()["interval_method"] == "head"
    with _quiet():
        f.fit(_series(150))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g.predict_quantiles(6, alpha=[0.1, 0.9]),
                                  f.predict_quantiles(6, alpha=[0.1, 0.9]))
    np.testing.assert_array_equal(g.predict_samples(6, 10, random_state=3),
                                  f.predict_samples(6, 10, random_state=3))
    X, y = _regression("negative_binomial", n=60)
    with _quiet():
        reg = RNNRegressor(loss="negative_binomial", hidden_size=4, max_iter=2).fit(X, y)
    back = pickle.loads(pickle.dumps(reg))
    for k, v in reg.predict_distribution(X).items():
        np.testing.assert_array_equal(back.predict_distribution(X)[k], v)
    assert clone(reg).get_params()["loss"] == "negative_binomial"


# ------------------------------------------------------------------ scores

def test_scaled_pinball_loss_by_hand():
    y_train = np.array([1.0, 3.0, 2.0, 4.0])      # lag-1 MAE: (2 + 1 + 2) / 3 = 5/3
    y_true = np.array([3.0, 5.0])
    q = np.array([[2.0, 4.0], [6.0, 7.0]])          # levels 0.1 and 0.9
    # step 1: y - q = (1, -1): 0.1 * 1, (0.9 - 1) * -1 = 0.1, 0.1
    # step 2: y - q = (-1, -2): (0.1 - 1) * -1 = 0.9, (0.9 - 1) * -2 = 0.2
    loss = (0.1 + 0.1 + 0.9 + 0.2) / 4
    assert scaled_pinball_loss(y_true, q, [0.1, 0.9], y_train) == pytest.approx(loss / (5 / 3))
    # seasonal scale: lag 2, |2 - 1| and |4 - 3|: 1
    assert scaled_pinball_loss(y_true, q, [0.1, 0.9], y_train, season=2) == pytest.approx(loss)
    with pytest.raises(ValueError, match="columns"):
        scaled_pinball_loss(y_true, q, [0.5], y_train)
    assert np.isnan(scaled_pinball_loss(y_true, q, [0.1, 0.9], np.ones(5)))


def test_crps_by_hand_and_against_the_gaussian_formula():
    # draws {0, 2}, y = 1: E|X - y| = 1, E|X - X'| / 2 = (0 + 2 + 2 + 0) / 4 / 2 = 0.5
    assert crps(np.array([1.0]), np.array([[0.0, 2.0]])) == pytest.approx(0.5)
    # draws {0, 2}, y = 3: E|X - y| = 2 -> 1.5
    assert crps(np.array([3.0]), np.array([[2.0, 0.0]])) == pytest.approx(1.5)
    # a point forecast: the absolute error
    assert crps(np.array([1.0, 2.0]), np.array([[4.0], [2.0]])) == pytest.approx(1.5)
    # many N(0, 1) draws: the closed form at y = 0.5
    y = 0.5
    exact = y * (2 * stats.norm.cdf(y) - 1) + 2 * stats.norm.pdf(y) - 1 / np.sqrt(np.pi)
    x = np.random.default_rng(0).standard_normal((1, 20_000))
    assert crps(np.array([y]), x) == pytest.approx(exact, abs=0.01)
    levels = np.linspace(0.01, 0.99, 99)
    q = stats.norm.ppf(levels)[None]
    assert crps(np.array([y]), quantiles=q, alpha=levels) == pytest.approx(exact, abs=0.02)
    with pytest.raises(ValueError, match="exactly one"):
        crps(np.array([y]))
    with pytest.raises(ValueError, match="alpha"):
        crps(np.array([y]), quantiles=q)
    # quantiles passed where the draws go, with their levels: read as draws
    # (a different score) while alpha was ignored
    with pytest.raises(ValueError, match="alpha goes with quantiles"):
        crps(np.array([y]), q, alpha=levels)


def test_pinball_validation_score_matches_scikit_learn():
    """The pinball head's score (each epoch's validation) is computed at
    once in NumPy: it equals the mean of scikit-learn's d2_pinball_score."""
    from sklearn.metrics import d2_pinball_score

    from seqcore._estimators import _d2_pinball
    rng = np.random.default_rng(6)
    levels = np.array([0.02, 0.1, 0.5, 0.9, 0.98, 0.33])
    for N, K in ((2, 1), (7, 3), (60, 2)):
        true = rng.normal(size=(N, K))
        true[:, 0] = np.round(true[:, 0])          # ties in the baseline quantile
        pred = rng.normal(size=(N, K, len(levels)))
        ref = np.mean([d2_pinball_score(true, pred[..., j], alpha=a)
                       for j, a in enumerate(levels)])
        assert _d2_pinball(true, pred, levels) == pytest.approx(ref, rel=1e-12, abs=1e-14)
    same = np.ones((4, 1))
    assert _d2_pinball(same, np.ones((4, 1, 2)), levels[:2]) == 1.0
    assert _d2_pinball(same, 2 * np.ones((4, 1, 2)), levels[:2]) == 0.0

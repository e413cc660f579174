"""Tests for seqcore.RNNForecaster: shapes, horizons, strategies, exogenous
regressors, several series, ``update``, scaling, input errors, the recursive
rollout through the streaming API, empirical interval coverage, and the
airline benchmark against the seasonal naive forecast.

Every network here is small (hidden_size 8-16, a few epochs): what is tested
is the forecaster's bookkeeping, not accuracy, except in the two tests that
say so (exogenous input, airline).
"""

import copy

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from seqcore import RNNForecaster
from seqcore.datasets import load_airline
from seqcore.model_selection import mae, mase, seasonal_naive, smape

# Small and fast: enough to exercise every code path.  One network (the
# default averages 5).
FAST = dict(window=12, horizon=6, hidden_size=8, max_iter=5, n_models=1, random_state=0)
# The model space of the tests that compute it by hand: y itself, standardised
# (no log, no seasonal indices removed, no differencing unless asked).
PLAIN = dict(transform=None, deseasonalize=False)
STRATEGIES = ["direct", "recursive"]


def seasonal_series(rng, n, level=50.0, trend=0.2, amplitude=5.0, noise=1.0, period=12):
    t = np.arange(n)
    return (level + trend * t + amplitude * np.sin(2 * np.pi * t / period)
            + noise * rng.standard_normal(n))


@pytest.fixture(scope="module")
def y_seasonal():
    return seasonal_series(np.random.default_rng(0), 150)


def rollout(regressor, u_window, steps):
    """Recursive forecast of a one-step many-to-many regressor by hand: predict
    the step after the sequence, append it, predict again (one whole forward
    per step, no streaming)."""
    seq = list(u_window)
    out = []
    for _ in range(steps):
        pred = np.asarray(regressor.predict(np.array(seq)[None, :, None])).reshape(-1)
        out.append(pred[-1])
        seq.append(pred[-1])
    return np.array(out)


# ------------------------------------------------------------------ shapes

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_univariate_shapes(strategy, y_seasonal):
    f = RNNForecaster(strategy=strategy, **FAST).fit(y_seasonal)
    assert f.n_series_ == 1 and f.n_targets_ == 1
    assert f.predict(6).shape == (6,)
    fc, lo, hi = f.predict_interval(6)
    assert fc.shape == lo.shape == hi.shape == (6,)
    np.testing.assert_array_equal(fc, f.predict(6))
    assert np.all(lo <= fc) and np.all(fc <= hi)
    assert np.all(np.isfinite(fc))


def test_python_list_of_numbers_is_one_series(y_seasonal):
    f = RNNForecaster(**FAST).fit(list(y_seasonal))
    assert f.n_series_ == 1
    assert f.predict(3).shape == (3,)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_several_targets_shapes_and_levels(strategy):
    rng = np.random.default_rng(1)
    y = np.column_stack([seasonal_series(rng, 140, level=10, trend=0, amplitude=1, noise=0.1),
                         seasonal_series(rng, 140, level=1000, trend=0, amplitude=50, noise=5)])
    f = RNNForecaster(strategy=strategy, **FAST).fit(y)
    assert f.n_targets_ == 2
    pred = f.predict(6)
    assert pred.shape == (6, 2)
    fc, lo, hi = f.predict_interval(6)
    assert fc.shape == lo.shape == hi.shape == (6, 2)
    # each column is forecast in its own units
    assert np.all(np.abs(pred[:, 0] - 10) < 5)
    assert np.all(np.abs(pred[:, 1] - 1000) < 250)


def test_single_column_2d_keeps_2d(y_seasonal):
    f = RNNForecaster(**FAST).fit(y_seasonal[:, None])
    assert f.predict(4).shape == (4, 1)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_list_of_series_global_model(strategy):
    rng = np.random.default_rng(2)
    ys = [seasonal_series(rng, 120, level=10, trend=0, amplitude=1, noise=0.1),
          seasonal_series(rng, 150, level=1000, trend=0, amplitude=50, noise=5),
          seasonal_series(rng, 135, level=100, trend=0, amplitude=5, noise=0.5)]
    f = RNNForecaster(strategy=strategy, **FAST).fit(ys)
    assert f.n_series_ == 3
    pred = f.predict(6)
    assert isinstance(pred, list) and len(pred) == 3
    assert all(p.shape == (6,) for p in pred)
    fc, lo, hi = f.predict_interval(6)
    assert len(fc) == len(lo) == len(hi) == 3
    for p, level in zip(pred, (10, 1000, 100)):   # each series keeps its own level
        assert np.all(np.abs(p - level) < 0.25 * level)


def test_list_of_2d_series():
    rng = np.random.default_rng(3)
    ys = [rng.standard_normal((100, 2)).cumsum(axis=0), rng.standard_normal((90, 2)).cumsum(axis=0)]
    pred = RNNForecaster(**FAST).fit(ys).predict(3)
    assert [p.shape for p in pred] == [(3, 2), (3, 2)]


# ------------------------------------------------------------------ horizons

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fh_array_selects_rows_of_int_fh(strategy, y_seasonal):
    f = RNNForecaster(strategy=strategy, **FAST).fit(y_seasonal)
    full = f.predict(6)
    np.testing.assert_allclose(f.predict(np.array([1, 3, 6])), full[[0, 2, 5]], rtol=1e-12)
    np.testing.assert_allclose(f.predict([6, 1]), full[[5, 0]], rtol=1e-12)
    np.testing.assert_allclose(f.predict(np.int64(4)), full[:4], rtol=1e-12)
    fc, lo, hi = f.predict_interval(6)
    fc3, lo3, hi3 = f.predict_interval(np.array([1, 3, 6]))
    np.testing.assert_allclose(np.stack([fc3, lo3, hi3]), np.stack([fc, lo, hi])[:, [0, 2, 5]],
                               rtol=1e-12)


def test_recursive_forecasts_beyond_horizon(y_seasonal):
    f = RNNForecaster(strategy="recursive", **FAST).fit(y_seasonal)
    long = f.predict(20)
    assert long.shape == (20,)
    np.testing.assert_allclose(long[:6], f.predict(6), rtol=1e-12)
    fc, lo, hi = f.predict_interval(20)   # beyond the calibrated horizon: last width
    assert np.all(lo <= fc) and np.all(fc <= hi)


def test_direct_refuses_steps_beyond_horizon(y_seasonal):
    f = RNNForecaster(strategy="direct", **FAST).fit(y_seasonal)
    with pytest.raises(ValueError, match="horizon"):
        f.predict(7)
    with pytest.raises(ValueError, match="horizon"):
        f.predict(np.array([1, 8]))


# ---------------------------------------------------------------- exogenous

@pytest.fixture(scope="module")
def exog_data():
    """A series driven by a known regressor: y_t = 20 + 4 x_t + small noise."""
    rng = np.random.default_rng(4)
    n, H = 160, 6
    x = rng.standard_normal(n + H)
    y = 20 + 4 * x + 0.2 * rng.standard_normal(n + H)
    return y, x[:, None], n, H


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_exogenous_true_future_beats_shuffled(strategy, exog_data):
    y, X, n, H = exog_data
    f = RNNForecaster(window=8, horizon=H, strategy=strategy, differencing=0, hidden_size=16,
                      max_iter=30, n_models=1, random_state=0, **PLAIN).fit(y[:n], X=X[:n])
    shuffled = np.random.default_rng(5).permutation(X[n:])
    err_true = mae(y[n:], f.predict(H, X=X[n:]))
    err_shuffled = mae(y[n:], f.predict(H, X=shuffled))
    assert err_true < 0.5 * err_shuffled, (err_true, err_shuffled)
    fc, lo, hi = f.predict_interval(H, X=X[n:])
    assert fc.shape == (H,) and np.all(lo <= fc) and np.all(fc <= hi)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_exogenous_future_x_errors(strategy, exog_data):
    y, X, n, H = exog_data
    f = RNNForecaster(window=8, horizon=H, strategy=strategy, hidden_size=8, max_iter=2,
                      random_state=0).fit(y[:n], X=X[:n])
    with pytest.raises(ValueError, match="exogenous"):
        f.predict(H)                                     # future X missing
    with pytest.raises(ValueError, match="future X"):
        f.predict(H, X=X[n:n + H - 2])                   # too short
    with pytest.raises(ValueError, match="future X"):
        f.predict(H, X=np.hstack([X[n:], X[n:]]))        # wrong number of regressors
    bad = X[n:].copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        f.predict(H, X=bad)


def test_x_at_predict_without_x_at_fit(y_seasonal):
    f = RNNForecaster(**FAST).fit(y_seasonal)
    with pytest.raises(ValueError, match="X was not given at fit"):
        f.predict(3, X=np.ones((6, 1)))


def test_exogenous_x_for_some_series_only():
    rng = np.random.default_rng(6)
    ys = [rng.standard_normal(80).cumsum(), rng.standard_normal(80).cumsum()]
    with pytest.raises(ValueError, match="every series or for none"):
        RNNForecaster(**FAST).fit(ys, X=[rng.standard_normal((80, 1)), None])


# ------------------------------------------------------------------ update

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_update_moves_origin_without_refitting(strategy):
    rng = np.random.default_rng(7)
    y = 2.0 * np.arange(140) + 0.1 * rng.standard_normal(140)   # a steep trend
    f = RNNForecaster(strategy=strategy, calibration_size=0, **FAST, **PLAIN).fit(y[:120])
    regressor, weights = f.regressor_, f.regressor_.network_.flat_params.copy()
    before = f.predict(6)
    two_steps = copy.deepcopy(f)

    assert f.update(y[120:130]) is f
    assert f.regressor_ is regressor
    np.testing.assert_array_equal(f.regressor_.network_.flat_params, weights)
    after = f.predict(6)
    # the forecast now starts after y[129]: about y[130], 20 above the old origin
    assert abs(after[0] - y[130]) < abs(before[0] - y[130]) - 10
    assert abs(after[0] - y[130]) < 5
    # updating in two pieces is the same as in one
    two_steps.update(y[120:124]).update(y[124:130])
    np.testing.assert_allclose(two_steps.predict(6), after, rtol=1e-12)


def test_update_equals_model_with_same_weights_and_longer_history():
    """A model fit on y[:120] then updated with y[120:130] forecasts like the
    model fit on y[:130] with the last 10 values held out for calibration and
    refit=False: the same weights (trained on y[:120]), the same history."""
    y = seasonal_series(np.random.default_rng(8), 130)
    updated = RNNForecaster(calibration_size=0, **FAST).fit(y[:120]).update(y[120:])
    held_out = RNNForecaster(calibration_size=10 / 130, refit=False, combine=False,
                             **FAST).fit(y)
    np.testing.assert_array_equal(held_out.regressor_.network_.flat_params,
                                  updated.regressor_.network_.flat_params)
    np.testing.assert_allclose(updated.predict(6), held_out.predict(6), rtol=1e-10)


def test_update_uses_history_and_fit_scaling():
    """Recursive, no differencing, float64: after update the forecast is the
    one-step model rolled out by hand over the last window of the *updated*
    history, scaled with the mean and std of the data seen at fit."""
    rng = np.random.default_rng(9)
    y = seasonal_series(rng, 130, trend=0.0)
    f = RNNForecaster(strategy="recursive", differencing=0, calibration_size=0, dtype="float64",
                      **FAST, **PLAIN).fit(y[:110])
    f.update(y[110:])
    mean, std = y[:110].mean(), y[:110].std()
    u = (y - mean) / std
    expected = rollout(f.regressor_, u[-FAST["window"]:], 5) * std + mean
    np.testing.assert_allclose(f.predict(5), expected, rtol=1e-9)


def test_update_list_of_series():
    rng = np.random.default_rng(10)
    ys = [seasonal_series(rng, 100), seasonal_series(rng, 110)]
    f = RNNForecaster(**FAST).fit(ys)
    before = f.predict(3)
    f.update([seasonal_series(rng, 5), seasonal_series(rng, 7)])
    after = f.predict(3)
    assert [a.shape for a in after] == [(3,), (3,)]
    assert not np.allclose(before[0], after[0])


def test_update_with_exogenous(exog_data):
    y, X, n, H = exog_data
    f = RNNForecaster(window=8, horizon=H, hidden_size=8, max_iter=2, random_state=0)
    f.fit(y[:n - H], X=X[:n - H])
    with pytest.raises(ValueError, match="X_new"):
        f.update(y[n - H:n])
    f.update(y[n - H:n], X_new=X[n - H:n])
    assert f.predict(H, X=X[n:]).shape == (H,)


def test_update_errors(y_seasonal):
    f = RNNForecaster(**FAST).fit(y_seasonal)
    with pytest.raises(ValueError, match="form it had at fit"):
        f.update(np.ones((3, 2)))                        # 2-D after a 1-D fit
    f2 = RNNForecaster(**FAST).fit(np.column_stack([y_seasonal, y_seasonal]))
    with pytest.raises(ValueError, match="target columns"):
        f2.update(np.ones((3, 3)))
    with pytest.raises(ValueError, match="infinity"):
        f.update(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="form it had at fit"):
        f.update([np.ones(3), np.ones(3)])
    with pytest.raises(NotFittedError):
        RNNForecaster().update(y_seasonal[:5])


# ------------------------------------------------------------------ scaling

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_forecasts_scale_with_the_series(strategy, y_seasonal):
    small = RNNForecaster(strategy=strategy, **FAST).fit(y_seasonal)
    large = RNNForecaster(strategy=strategy, **FAST).fit(1000 * y_seasonal)
    np.testing.assert_allclose(large.predict(6), 1000 * small.predict(6), rtol=1e-3)
    _, lo_s, hi_s = small.predict_interval(6)
    _, lo_l, hi_l = large.predict_interval(6)
    np.testing.assert_allclose(lo_l, 1000 * lo_s, rtol=1e-3)
    np.testing.assert_allclose(hi_l, 1000 * hi_s, rtol=1e-3)


def test_log_transform_keeps_forecasts_and_bounds_positive():
    rng = np.random.default_rng(11)
    y = np.exp(seasonal_series(rng, 140, level=1, trend=0.01, amplitude=0.5, noise=0.3))
    fc, lo, hi = RNNForecaster(transform="log", **FAST).fit(y).predict_interval(6)
    assert np.all(lo > 0) and np.all(lo <= fc) and np.all(fc <= hi)


# ---------------------------------------------------------- reproducibility

@pytest.mark.parametrize("strategy", STRATEGIES)
def test_random_state_reproducible(strategy, y_seasonal):
    params = dict(FAST, strategy=strategy)
    a = RNNForecaster(**params).fit(y_seasonal).predict_interval(6)
    b = RNNForecaster(**params).fit(y_seasonal).predict_interval(6)
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    c = RNNForecaster(**dict(params, random_state=1)).fit(y_seasonal).predict(6)
    assert not np.allclose(a[0], c)


# ------------------------------------------------------------------- errors

def _with(y, i, value):
    y = y.copy()
    y[i] = value
    return y


Y_OK = seasonal_series(np.random.default_rng(12), 100, level=50)

FIT_ERRORS = {
    "all_nan": (dict(y=np.full(100, np.nan)), "no observed value"),
    "inf": (dict(y=_with(Y_OK, 5, np.inf)), "infinity"),
    "empty": (dict(y=np.array([])), "empty"),
    "empty_list": (dict(y=[]), "empty"),
    "3d": (dict(y=Y_OK.reshape(-1, 1, 1)), "1-D"),
    "non_numeric": (dict(y=np.array(["a", "b", "c"])), "numeric"),
    # (a 1-D series this short gets the Theta fallback instead: test_global_forecasting.py)
    "too_short_for_window": (dict(y=Y_OK[:FAST["window"] + 3, None]), "shorter"),
    "log_of_zero": (dict(y=_with(Y_OK, 3, 0.0), transform="log"), "positive"),
    "log_of_negative": (dict(y=Y_OK - 100, transform="log"), "positive"),
    "list_mixing_1d_and_2d": (dict(y=[Y_OK, Y_OK[:, None]]), "mix"),
    "list_different_columns": (dict(y=[Y_OK[:, None], np.column_stack([Y_OK, Y_OK])]),
                               "different numbers of target columns"),
    "x_rows_differ": (dict(y=Y_OK, X=np.ones((len(Y_OK) - 1, 1))), "one row per time step"),
    "x_nan": (dict(y=Y_OK, X=_with(np.ones((len(Y_OK), 1)), 0, np.nan)), "NaN"),
    "x_series_count": (dict(y=[Y_OK, Y_OK], X=[np.ones((len(Y_OK), 1))]), "series"),
    "window_zero": (dict(y=Y_OK, window=0), "window"),
    "unknown_strategy": (dict(y=Y_OK, strategy="magic"), "strategy"),
    "unknown_transform": (dict(y=Y_OK, transform="sqrt"), "transform"),
    "calibration_size_one": (dict(y=Y_OK, calibration_size=1.0), "calibration_size"),
}


@pytest.mark.parametrize("case", list(FIT_ERRORS))
def test_fit_input_errors(case):
    kwargs, match = FIT_ERRORS[case]
    kwargs = dict(kwargs)
    y, X = kwargs.pop("y"), kwargs.pop("X", None)
    with pytest.raises(ValueError, match=match):
        RNNForecaster(**dict(FAST, **kwargs)).fit(y, X=X)


@pytest.fixture(scope="module")
def fitted_direct():
    return RNNForecaster(**FAST).fit(Y_OK)


FH_ERRORS = {
    "zero": 0,
    "negative": -2,
    "float": 2.5,
    "float_that_is_whole": 3.0,
    "bool": True,
    "string": "3",
    "float_array": np.array([1.0, 2.0]),
    "array_with_zero": np.array([0, 1]),
    "empty_array": np.array([], dtype=int),
    "2d_array": np.array([[1, 2]]),
}


@pytest.mark.parametrize("case", list(FH_ERRORS))
def test_bad_fh(case, fitted_direct):
    with pytest.raises(ValueError, match="fh"):
        fitted_direct.predict(FH_ERRORS[case])
    with pytest.raises(ValueError, match="fh"):
        fitted_direct.predict_interval(FH_ERRORS[case])


@pytest.mark.parametrize("coverage", [0, 1, 1.5, -0.1])
def test_bad_coverage(coverage, fitted_direct):
    with pytest.raises(ValueError, match="coverage"):
        fitted_direct.predict_interval(3, coverage=coverage)


def test_interval_widens_with_coverage(y_seasonal):
    f = RNNForecaster(**FAST).fit(y_seasonal)       # 30 held-out origins
    widths = []
    for coverage in (0.5, 0.8, 0.95):
        fc, lo, hi = f.predict_interval(6, coverage=coverage)
        widths.append(hi - lo)
    assert np.all(widths[0] <= widths[1]) and np.all(widths[1] <= widths[2])
    assert np.all(widths[0] < widths[2])
    # several coverages in one call: the same bounds, on a last axis
    fc, lo, hi = f.predict_interval(6, coverage=[0.5, 0.8, 0.95])
    assert lo.shape == hi.shape == (6, 3)
    np.testing.assert_allclose(hi[:, 2] - lo[:, 2], widths[2], rtol=1e-12)
    assert f.n_calibration_errors_ >= 30


def test_interval_without_calibration_data():
    f = RNNForecaster(calibration_size=0, **FAST).fit(Y_OK)
    assert f.predict(3).shape == (3,)
    with pytest.raises(ValueError, match="calibration"):
        f.predict_interval(3)


@pytest.mark.parametrize("method", ["predict", "predict_interval"])
def test_not_fitted(method):
    with pytest.raises(NotFittedError):
        getattr(RNNForecaster(), method)(3)


def test_input_not_modified():
    y = Y_OK.copy()
    X = np.random.default_rng(13).standard_normal((len(y), 1))
    y0, X0 = y.copy(), X.copy()
    f = RNNForecaster(**FAST).fit(y, X=X)
    Xf = np.ones((6, 1))
    f.predict(6, X=Xf)
    f.update(y[:3], X_new=X[:3])
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Xf, np.ones((6, 1)))


# ---------------------------------------------------------------- streaming

def test_recursive_rollout_equals_whole_sequence_forward():
    """The recursive forecast is the one-step model streamed step by step with
    its own predictions fed back; one whole-sequence forward over the window
    followed by those predictions gives the same outputs, and so does
    ``SequenceNetwork.stream`` fed in chunks from a carried state."""
    y = seasonal_series(np.random.default_rng(14), 120, trend=0.0)
    W, steps = FAST["window"], 8
    f = RNNForecaster(strategy="recursive", differencing=0, calibration_size=0,
                      dtype="float64", **FAST, **PLAIN).fit(y)
    mean, std = y.mean(), y.std()   # model space: y standardised (no differencing)
    u_hat = (f.predict(steps) - mean) / std
    seq = np.concatenate([(y[-W:] - mean) / std, u_hat[:-1]])[None, :, None]

    # one whole forward of the regressor reproduces each fed-back prediction
    whole_pred = np.asarray(f.regressor_.predict(seq)).reshape(-1)
    np.testing.assert_allclose(whole_pred[W - 1:], u_hat, rtol=1e-9, atol=1e-12)

    # the network's streaming API: window in one chunk, then one step at a time
    net = f.regressor_.network_
    whole, whole_state = net.stream(seq)
    Z, state = net.stream(seq[:, :W])
    chunks = [Z]
    for t in range(W, seq.shape[1]):
        Z, state = net.stream(seq[:, t:t + 1], state)
        chunks.append(Z)
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), whole, rtol=1e-12, atol=1e-12)
    for a, b in zip(state, whole_state):    # LSTM: (h_n, c_n)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- coverage

def ar1_seasonal(rng, n):
    """level + seasonal sine + AR(1) noise with unit Gaussian innovations."""
    phi, amplitude, level = rng.uniform(0.3, 0.8), rng.uniform(1, 3), rng.uniform(5, 20)
    e = rng.standard_normal(n)
    a = np.zeros(n)
    for t in range(1, n):
        a[t] = phi * a[t - 1] + e[t]
    phase = rng.uniform(0, 2 * np.pi)
    return level + amplitude * np.sin(2 * np.pi * np.arange(n) / 12 + phase) + a


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_empirical_interval_coverage(strategy, record_property):
    """40 AR(1) + seasonal series of 160 values, one global model; the future
    (48 more values each) is forecast from 8 origins 6 steps apart, moving the
    origin with ``update``: 40 * 8 * 6 = 1920 (series, horizon) pairs. The
    split-conformal 90% intervals must cover 85-95% of them."""
    rng = np.random.default_rng(0)
    n_series, n, H, future = 40, 160, 6, 48
    series = [ar1_seasonal(rng, n + future) for _ in range(n_series)]
    f = RNNForecaster(window=12, horizon=H, strategy=strategy, hidden_size=8, max_iter=10,
                      n_models=1, random_state=0).fit([s[:n] for s in series])
    hits = []
    for origin in range(n, n + future, H):
        _, lo, hi = f.predict_interval(H, coverage=0.9)
        for s, l, h in zip(series, lo, hi):
            truth = s[origin:origin + H]
            hits.append((l <= truth) & (truth <= h))
        f.update([s[origin:origin + H] for s in series])
    hits = np.array(hits)
    assert hits.shape == (n_series * future // H, H)
    coverage = float(hits.mean())
    record_property("coverage", float(coverage))   # plain floats: xdist serialises them
    print(f"\nempirical coverage of the 90% interval ({strategy}): {coverage:.3f} "
          f"over {hits.size} pairs; per horizon {np.round(hits.mean(axis=0), 3)}")
    assert 0.85 <= coverage <= 0.95


# ------------------------------------------------------------------ airline

def test_airline_beats_seasonal_naive(record_property):
    """The settings of ``seqcore forecast``: log, window 24, horizon 12, direct,
    LSTM, 200 epochs, seed 0; fit on 1949-1959, scored on 1960."""
    y = load_airline()
    train, test = y[:132], y[132:]
    f = RNNForecaster(window=24, horizon=12, strategy="direct", transform="log", cell="lstm",
                      max_iter=200, calibration_size=0, random_state=0).fit(train)
    pred = f.predict(12)
    naive = seasonal_naive(train, 12, season=12)
    scores = {
        "seqcore_smape": smape(test, pred), "seqcore_mase": mase(test, pred, train, 12),
        "naive_smape": smape(test, naive), "naive_mase": mase(test, naive, train, 12),
    }
    for k, v in scores.items():
        record_property(k, float(v))   # plain floats: pytest-xdist sends them between processes
    print("\nairline 1960: seqcore sMAPE {seqcore_smape:.2f}% MASE {seqcore_mase:.3f}; "
          "seasonal naive sMAPE {naive_smape:.2f}% MASE {naive_mase:.3f}".format(**scores))
    np.testing.assert_allclose(scores["naive_smape"], 10.5718, atol=1e-3)
    assert scores["seqcore_smape"] < scores["naive_smape"]
    assert scores["seqcore_mase"] < scores["naive_mase"]


def test_intervals_widen_with_the_horizon_where_the_errors_do():
    """issue 22, item 17: a flat interval spread over the horizon passed
    every forecasting test.  On a random walk the error of an h-step
    forecast grows like sqrt(h): the calibrated spread must grow with h (and
    the intervals with it), and on white noise it must not grow much."""
    rng = np.random.default_rng(11)
    opts = dict(window=8, horizon=6, hidden_size=6, max_iter=20, n_models=1, random_state=0,
                transform=None, differencing=0, deseasonalize=False)
    walk = 100 + np.cumsum(rng.standard_normal(400))
    f = RNNForecaster(**opts).fit(walk)
    _, lo, hi = f.predict_interval(6, coverage=0.8)
    width = hi - lo
    assert np.all(np.diff(f.interval_scale_[:, 0]) > 0)
    assert np.all(np.diff(width) > 0), width
    assert width[-1] > 1.6 * width[0], width          # sqrt(6) ~ 2.4 in theory
    noise = 100 + rng.standard_normal(400)
    g = RNNForecaster(**opts).fit(noise)
    _, lo, hi = g.predict_interval(6, coverage=0.8)
    assert (hi - lo)[-1] < 1.3 * (hi - lo)[0], hi - lo

"""The global forecaster (``seqcore._global``), the Theta method
(``seqcore._theta``) and the fallbacks for short series (issue 24)."""

import warnings

import numpy as np
import pytest

from seqcore import RNNRegressor, _smoothing
from seqcore._global import COMPONENTS, _score_weights
from seqcore._smoothing import stat_forecasts
from seqcore.forecasting import RNNForecaster, ThetaForecaster, forecast_many

SMALL = dict(hidden_size=8, n_models=1, max_iter=30, random_state=0)


def shared_cycle(rng, n_series, n, period=5, noise=0.02):
    """Series that share one multiplicative cycle (a sawtooth of ``period``
    steps, each series at its own phase) on their own level: the shape can be
    learnt from all of them at once, hardly from one short series."""
    shape = np.linspace(-1, 1, period)
    out = []
    for _ in range(n_series):
        phase = rng.integers(period)
        t = np.arange(n) + phase
        level = rng.uniform(10, 1000)
        out.append(level * np.exp(0.3 * shape[t % period] + noise * rng.standard_normal(n)))
    return out


# ------------------------------------------------------------------ Theta

def test_theta_follows_its_formula_on_a_line():
    # SES on a line: alpha -> 1 tracks the last value; the drift is half the slope
    y = 3.0 + 2.0 * np.arange(30)
    f = ThetaForecaster().fit(y)
    assert f.seasonal_ is None and f.alpha_ > 0.9
    assert f.drift_ == pytest.approx(1.0)
    np.testing.assert_allclose(f.predict(3), y[-1] + 1.0 * np.arange(1, 4), atol=0.2)


def test_theta_deseasonalises_a_seasonal_series():
    rng = np.random.default_rng(0)
    t = np.arange(96)
    y = (100 + t) * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) + rng.normal(0, 1, 96)
    f = ThetaForecaster(season=12).fit(y)
    assert f.seasonal_ is not None and f.seasonal_.shape == (12,)
    assert f.seasonal_.mean() == pytest.approx(1.0)
    truth = (100 + 96 + np.arange(12)) * (1 + 0.3 * np.sin(2 * np.pi * (96 + np.arange(12)) / 12))
    assert np.mean(np.abs(f.predict(12) - truth) / truth) < 0.05
    fc, lo, hi = f.predict_interval(12, coverage=0.9)
    assert np.all(lo < fc) and np.all(fc < hi)
    assert np.all(hi - lo > 0)


@pytest.mark.parametrize("season, seasonal", [(1, False), (12, True), (4, False)])
def test_theta_is_close_to_statsmodels(season, seasonal):
    """Same method as statsmodels' ThetaModel; the differences (documented in
    seqcore._theta: the initial level, the seasonality test) move the
    forecasts by a few percent at most on these series."""
    theta = pytest.importorskip("statsmodels.tsa.forecasting.theta")
    rng = np.random.default_rng(season)
    for k in range(3):
        n = 60 + 12 * k
        t = np.arange(n)
        y = 50 + 0.3 * t + rng.normal(0, 2, n).cumsum() * 0.3
        if seasonal:
            y = y * (1 + 0.2 * np.sin(2 * np.pi * t / 12))
        ours = ThetaForecaster(season=season).fit(y).predict(8)
        ref = np.asarray(theta.ThetaModel(y, period=season,
                                          deseasonalize=season > 1).fit().forecast(8))
        assert np.max(np.abs(ours - ref) / np.abs(ref)) < 0.03


def test_theta_input_errors():
    with pytest.raises(ValueError, match="at least 2"):
        ThetaForecaster().fit([1.0])
    with pytest.raises(ValueError, match="NaN"):
        ThetaForecaster().fit([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        ThetaForecaster().fit(np.ones((5, 2)))
    with pytest.raises(ValueError, match="two seasons"):
        ThetaForecaster(season=12, deseasonalize=True).fit(np.arange(1.0, 20.0))
    with pytest.raises(ValueError, match="fh"):
        ThetaForecaster().fit(np.arange(5.0)).predict(0)


# ------------------------------------------------------------------ global model

def test_global_fit_beats_per_series_fits_on_shared_structure():
    rng = np.random.default_rng(0)
    H, n = 5, 40
    series = shared_cycle(rng, 24, n + H)
    train = [s[:n] for s in series]
    params = dict(SMALL, horizon=H, season=1, combine=False)
    g = RNNForecaster(**params).fit(train)
    assert g.global_method_ == "normalised" and g.fallback_ == ["network"] * 24
    glob = g.predict(H)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        single = [RNNForecaster(**params).fit(y).predict(H) for y in train[:8]]

    def err(preds, k):
        return np.mean([np.mean(np.abs(p - s[n:]) / s[n:]) for p, s in zip(preds, series[:k])])

    print(f"\nmean relative error: global {err(glob, 8):.4f}, per series {err(single, 8):.4f}")
    assert err(glob, 8) < 0.6 * err(single, 8)
    assert err(glob, 24) < 0.05          # the cycle is learnt: 30% swings, 5% error


def test_global_model_forecasts_unseen_series():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    series = shared_cycle(rng, 12, 40)
    f = RNNForecaster(**SMALL, horizon=4, season=1).fit(series[:10])
    fitted = f.predict(4)
    # a fitted series passed as new history is forecast exactly as it was
    np.testing.assert_allclose(f.predict(4, y=series[0]), fitted[0], rtol=1e-10)
    new = f.predict(4, y=series[10])
    assert new.shape == (4,) and np.all(np.isfinite(new))
    both = f.predict(np.array([1, 4]), y=[series[10], series[11]])
    np.testing.assert_allclose(both[0], new[[0, 3]], rtol=1e-10)
    # pandas: indexed by the new series' own future periods
    s = pd.Series(series[11], index=pd.period_range("2001-01", periods=40, freq="M"))
    out = f.predict(4, y=s)
    assert list(out.index.astype(str)) == ["2004-05", "2004-06", "2004-07", "2004-08"]
    np.testing.assert_allclose(out.to_numpy(), f.predict(4, y=series[11]), rtol=1e-10)
    np.testing.assert_allclose(out.to_numpy()[[0, 3]], both[1], rtol=1e-10)
    fc, lo, hi = f.predict_interval(4, y=series[10], coverage=0.8)
    np.testing.assert_allclose(fc, new)
    assert np.all(lo <= fc) and np.all(fc <= hi)
    q = f.predict_quantiles(4, y=series[10], alpha=[0.1, 0.5, 0.9])
    assert q.shape == (4, 3) and np.all(np.diff(q, axis=1) >= 0)
    # the fitted histories are untouched
    np.testing.assert_allclose(f.predict(4)[0], fitted[0])


def test_update_moves_the_global_forecast():
    rng = np.random.default_rng(2)
    series = shared_cycle(rng, 6, 45)
    f = RNNForecaster(**SMALL, horizon=4, season=1).fit([s[:40] for s in series])
    f.update([s[40:] for s in series])
    # after update, the forecast is that of the longer history (same transform)
    after = f.predict(4)
    assert all(a.shape == (4,) for a in after)
    fresh = f.predict(4, y=series[0])
    assert np.max(np.abs(after[0] - fresh) / fresh) < 0.05


# ------------------------------------------------------------------ exponential smoothing

def test_damped_trend_recursion_by_hand():
    """x = 10, 12, 13, 15 with alpha = 0.5, beta = 0.4 (alpha * beta = 0.2),
    phi = 0.9, from l_0 = 10 and b_0 = 12 - 10 = 2:

        t  f = l + phi b                e = x - f   l = f + alpha e   b = phi b + 0.2 e
        1  10 + 1.8 = 11.8              0.2         11.9              1.84
        2  11.9 + 1.656 = 13.556       -0.556       13.278            1.5448
        3  13.278 + 1.39032 = 14.66832  0.33168     14.83416          1.456656

    SSE = 0.04 + 0.309136 + 0.1100116224; forecasts l + (phi + ... + phi^h) b:
    14.83416 + 0.9 * 1.456656 = 16.1451504 and + 1.71 * 1.456656 = 17.32504176.
    A second series, 5 and 6, in the same pass keeps its own final state:
    f = 5.9, e = 0.1, l = 5.95, b = 0.92."""
    X = np.array([[10.0, 12, 13, 15], [5.0, 6, 0, 0]])
    sse, level, trend = _smoothing._recursion(
        X, np.array([4, 2]), np.array([2.0, 1.0]), np.array([0.5]), np.array([0.4]),
        np.array([0.9]))
    np.testing.assert_allclose(sse[:, 0], [0.04 + 0.309136 + 0.1100116224, 0.01])
    np.testing.assert_allclose(level[:, 0], [14.83416, 5.95])
    np.testing.assert_allclose(trend[:, 0], [1.456656, 0.9 + 0.2 * 0.1])
    f = level[0, 0] + np.cumsum(0.9 ** np.arange(1, 3)) * trend[0, 0]
    np.testing.assert_allclose(f, [16.1451504, 17.32504176])


def test_smoothing_methods_on_exact_cases():
    line = 3.0 + 2.0 * np.arange(12)
    # Holt: no one-step error on a line (l_0, b_0 from the first two values)
    p = _smoothing.smooth([line], "holt")
    assert p["mse"][0] == pytest.approx(0.0, abs=1e-20)
    np.testing.assert_allclose(_smoothing.smooth_forecasts([line], 4, "holt")[0],
                               3.0 + 2.0 * np.arange(12, 16))
    # damped: the trend fades, so the forecast bends below the line
    damped = _smoothing.smooth_forecasts([line], 4, "damped")[0]
    assert np.all(damped < 3.0 + 2.0 * np.arange(12, 16) + 1e-9)
    assert np.all(np.diff(damped) > 0)
    # SES of a constant is the constant; of a step, it follows the step
    np.testing.assert_allclose(_smoothing.smooth_forecasts([np.full(8, 4.0)], 3, "ses"), 4.0)
    p = _smoothing.smooth([np.r_[np.zeros(5), np.ones(5)]], "ses")
    assert p["alpha"][0] == 0.99
    # series of different lengths in one pass give what each gives alone
    rng = np.random.default_rng(0)
    ys = [rng.normal(size=n).cumsum() + 50 for n in (7, 30, 12)]
    together = _smoothing.stat_forecasts(ys, 5, 1)
    alone = np.stack([_smoothing.stat_forecasts([y], 5, 1)[0] for y in ys])
    np.testing.assert_allclose(together, alone, rtol=1e-12)
    with pytest.raises(ValueError, match="unknown statistical method"):
        _smoothing.stat_forecasts(ys, 5, 1, method="arima")


def test_statistical_forecast_deseasonalises_and_reseasonalises():
    t = np.arange(48)
    y = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) * 1.01 ** t
    f = _smoothing.stat_forecasts([y], 12, 12)[0]
    t = np.arange(48, 60)
    truth = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) * 1.01 ** t
    assert np.mean(np.abs(f - truth) / truth) < 0.03
    # in a forecaster's log space, a forecast that crosses zero is floored
    z = np.log(np.array([[40.0], [30], [20], [10], [5]]))
    out = _smoothing.stat_z([z], 1, 8, log=True)[0]
    assert np.all(np.isfinite(out)) and np.all(out >= np.log(5 / 100) - 1e-12)


# ------------------------------------------------------------------ combination

def test_score_weights_finds_the_exact_component():
    rng = np.random.default_rng(1)
    truth = rng.uniform(10, 20, size=(30, 4))
    parts = truth[None] + rng.normal(scale=3.0, size=(len(COMPONENTS), 30, 4))
    k = COMPONENTS.index("damped")
    parts[k] = truth
    v = _score_weights(truth, parts, np.ones(30))
    best = v["weights"][np.argmin(v["owa"])]
    np.testing.assert_array_equal(best, np.eye(len(COMPONENTS))[k])
    # Theta alone is the reference: its OWA is 1
    theta = np.flatnonzero(v["weights"][:, COMPONENTS.index("theta")] == 1)[0]
    assert v["owa"][theta] == pytest.approx(1.0)
    assert np.allclose(v["weights"].sum(axis=1), 1.0) and len(v["weights"]) == 1001


def test_combination_weights_are_chosen_on_held_out_windows():
    """The weights minimise the OWA of forecasts of each series' last horizon
    made from the values before it: the statistical components' scores are
    recomputed here from the training series cut by the horizon."""
    rng = np.random.default_rng(5)
    ys = shared_cycle(rng, 8, 40)
    f = RNNForecaster(**SMALL, horizon=5, season=1).fit(ys)
    g = f.global_model_
    v = g.validation_
    best = int(np.argmin(v["owa"]))
    # the network alone (row 0) unless a combination is 5% better held out
    chosen = best if v["owa"][best] <= 0.95 * v["owa"][0] else 0
    assert tuple(v["weights"][chosen]) == g.weights_
    assert tuple(v["weights"][0]) == (1.0, 0.0, 0.0, 0.0, 0.0)
    assert f.combination_weights_ == dict(zip(COMPONENTS, g.weights_))
    cut = [y[:-5] for y in ys]
    truth = np.stack([y[-5:] for y in ys])
    theta = np.stack([ThetaForecaster().fit(y).predict(5) for y in cut])
    row = np.flatnonzero(v["weights"][:, COMPONENTS.index("theta")] == 1)[0]
    assert v["smape"][row] == pytest.approx(
        np.mean(200 * np.abs(truth - theta) / (np.abs(truth) + np.abs(theta))))
    damped = _smoothing.stat_forecasts(cut, 5, 1, "damped")
    row = np.flatnonzero(v["weights"][:, COMPONENTS.index("damped")] == 1)[0]
    scales = np.array([np.abs(np.diff(y)).mean() for y in cut])
    assert v["mase"][row] == pytest.approx(np.mean(np.abs(truth - damped) / scales[:, None]))
    # the forecast is the weighted sum of the components
    net = np.stack(g.network_forecasts())
    stat = g._statistical(ys, g.series_)
    expected = g.weights_[0] * net + sum(w * p for w, p in zip(g.weights_[1:], stat))
    np.testing.assert_allclose(np.stack(f.predict(5)), expected, rtol=1e-10)


# ------------------------------------------------------------------ short series

def test_single_short_series_gets_the_statistical_forecast_with_a_warning():
    y = 20 + np.arange(10.0) + np.r_[0, 1].repeat(5)
    with pytest.warns(UserWarning, match="10 values: shorter than .*statistical forecast"):
        f = RNNForecaster(window=8, horizon=6, random_state=0).fit(y)
    assert f.fallback_ == "statistical" and f.regressors_ == []
    np.testing.assert_allclose(f.predict(6), stat_forecasts([y], 6, 1)[0])
    fc, lo, hi = f.predict_interval(6)
    assert np.all(lo < fc) and np.all(fc < hi)
    with pytest.warns(UserWarning, match="last value"):
        one = RNNForecaster(horizon=3).fit(np.array([7.0]))
    assert one.fallback_ == "naive"
    np.testing.assert_array_equal(one.predict(3), [7.0, 7.0, 7.0])
    with pytest.raises(ValueError, match="single value"):
        one.predict_interval(3)


def test_short_series_in_a_global_model():
    rng = np.random.default_rng(3)
    series = shared_cycle(rng, 8, 40) + [np.array([5.0, 6.0, 5.5, 6.5, 6.0]),
                                         np.array([3.0, 4.0]), np.array([9.0])]
    with pytest.warns(UserWarning) as rec:
        f = RNNForecaster(**SMALL, horizon=4, season=1).fit(series)
    text = " ".join(str(w.message) for w in rec)
    assert "shorter context" in text and "Theta forecast" in text
    assert f.fallback_[:8] == ["network"] * 8
    assert f.fallback_[8:] == ["short_context", "theta", "naive"]
    pred = f.predict(4)
    assert all(np.all(np.isfinite(p)) for p in pred)
    np.testing.assert_allclose(pred[9], ThetaForecaster().fit([3.0, 4.0]).predict(4))
    np.testing.assert_array_equal(pred[10], [9.0] * 4)


def test_forecast_many_runs_through_short_series():
    rng = np.random.default_rng(4)
    long = shared_cycle(rng, 6, 40)
    series = {f"s{i}": y for i, y in enumerate(long)}
    series["short"] = np.array([10.0, 11.0, 12.5, 12.0, 13.0])   # lookback: 7
    fast = RNNForecaster(**SMALL, horizon=6, season=1)
    with pytest.warns(UserWarning):
        g = forecast_many(series, horizon=6, forecaster=fast, global_model=True,
                          backtest=False, coverage=0.9, return_models=True)
    assert g.models["s0"].fallback_[-1] == "short_context"
    assert all(np.all(np.isfinite(g.forecasts[k])) for k in g.names)
    with pytest.warns(UserWarning, match="statistical"):
        p = forecast_many(series, horizon=6, forecaster=fast, backtest=False,
                          return_models=True)
    assert p.models["short"].fallback_ == "statistical"
    assert p.models["s0"].fallback_ == "network"
    # 16 values fit the network but leave no calibration tail to weigh it on
    with pytest.warns(UserWarning):
        q = forecast_many({"a": series["s0"][:16]}, horizon=6, forecaster=fast,
                          backtest=False, return_models=True)
    assert q.models["a"].fallback_ == "statistical"
    assert q.models["a"].combination_weights_ == {"network": 0.0, "naive": 0.0,
                                                  "statistical": 1.0}
    np.testing.assert_allclose(q.forecasts["a"], stat_forecasts([series["s0"][:16]], 6, 1)[0])


# ------------------------------------------------------------------ errors

@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the input was checked")
    monkeypatch.setattr(RNNRegressor, "fit", refuse)


@pytest.mark.parametrize("kwargs, y, X, match", [
    (dict(global_method="normalised"), [np.ones((30, 2)), np.ones((30, 2))], None,
     "global_method='normalised' needs a list of 1-D series"),
    (dict(global_method="normalised"), [np.arange(30.0)] * 2, [np.ones((30, 1))] * 2,
     "no X"),
    (dict(global_method="normalised", strategy="recursive"), [np.arange(30.0)] * 2, None,
     "direct strategy"),
    (dict(global_method="global"), [np.arange(30.0)] * 2, None, "global_method"),
    ({}, [np.arange(30.0), np.r_[np.arange(29.0), np.inf]], None, "infinity"),
    ({}, [np.arange(30.0), np.full(30, np.nan)], None, "no observed value"),
    ({}, [np.arange(30.0), np.array([])], None, "empty"),
])
def test_bad_global_inputs_fail_before_training(no_training, kwargs, y, X, match):
    with pytest.raises(ValueError, match=match):
        RNNForecaster(horizon=4, **kwargs).fit(y, X=X)


def test_bad_predict_inputs():
    rng = np.random.default_rng(5)
    series = shared_cycle(rng, 4, 30)
    f = RNNForecaster(**SMALL, horizon=4, season=1).fit(series)
    with pytest.raises(ValueError, match="predict takes no X"):
        f.predict(4, X=np.ones((4, 1)))
    with pytest.raises(ValueError, match="horizon=4"):
        f.predict(5, y=series[0])
    with pytest.raises(ValueError, match="infinity"):
        f.predict(4, y=np.r_[series[0][:-1], np.inf])
    with pytest.raises(ValueError, match="1-D series"):
        f.predict(4, y=np.ones((30, 2)))
    single = RNNForecaster(**SMALL, horizon=4, season=1).fit(series[0])
    with pytest.raises(ValueError, match="new series with a global model"):
        single.predict(4, y=series[1])


def test_fitted_global_model_round_trips_through_pickle_and_skops():
    import pickle
    rng = np.random.default_rng(6)
    series = shared_cycle(rng, 4, 30) + [np.r_[np.zeros(10), rng.standard_normal(20)]]
    f = RNNForecaster(**SMALL, horizon=4, season=1).fit(series)
    assert f.log_ == [True] * 4 + [False]     # logs only where every value is positive
    expected = np.stack(f.predict(4))
    np.testing.assert_array_equal(np.stack(pickle.loads(pickle.dumps(f)).predict(4)), expected)
    sio = pytest.importorskip("skops.io")
    data = sio.dumps(f)
    g = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    np.testing.assert_array_equal(np.stack(g.predict(4)), expected)


def test_only_short_series_get_theta_and_intervals_are_refused_up_front(no_training):
    short = {"a": np.array([1.0, 2.0, 3.0, 4.0]), "b": np.array([5.0, 4.0, 4.5])}
    with pytest.raises(ValueError, match="no series has the 11 values"):
        forecast_many(short, horizon=4, forecaster=RNNForecaster(horizon=4, season=1),
                      global_model=True, coverage=0.9, backtest=False)
    with pytest.warns(UserWarning, match="Theta"):
        f = RNNForecaster(horizon=4, season=1).fit(list(short.values()))
    assert f.fallback_ == ["theta", "theta"] and f.regressors_ == []
    np.testing.assert_allclose(f.predict(4)[0], ThetaForecaster().fit(short["a"]).predict(4))


# ------------------------------------------- per-series combination weights

def _tail(rng, n_origins=30, H=4):
    """Errors of one forecast on a calibration tail laid out as _calibrate
    lays it out: horizon by horizon, each origin once per horizon it reaches."""
    origins = np.concatenate([np.arange(n_origins - h) for h in range(H)])
    return origins, rng.standard_normal((origins.size, 1))


def _pooled_choice(parts):
    """The rule this one replaced: the weights of lowest pooled mean |error|."""
    from seqcore._forecasting import _COMBINATIONS
    loss = [np.mean(np.abs(np.tensordot(w, parts, axes=1))) for w in _COMBINATIONS]
    return _COMBINATIONS[int(np.argmin(loss))]


def test_statistical_forecast_takes_the_network_share_not_the_naive_one():
    from seqcore._forecasting import _choose_weights
    rng = np.random.default_rng(0)
    origins, e_net = _tail(rng)
    e_naive = rng.standard_normal(e_net.shape)
    # the statistical forecast's errors are a little below an equal mix of the two:
    # pooled, it takes every weight (the naive forecast's too)
    e_stat = 0.45 * (e_net + e_naive)
    parts = np.stack([e_net, e_naive, e_stat])
    assert _pooled_choice(parts)[1] == 0
    # the (network, naive) pair alone: a statistical forecast far off gets no share
    pair = _choose_weights(np.stack([e_net, e_naive, 1e3 * e_naive]), origins)
    w = _choose_weights(parts, origins)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    # the naive share is the one chosen against the network alone; the
    # statistical forecast only splits the network's
    assert pair[2] == 0 and pair[1] >= 0.3
    assert w[1] == pytest.approx(pair[1]) and w[2] > 0


def test_a_gain_from_one_volatile_stretch_of_the_tail_does_not_decide_alone():
    from seqcore._forecasting import _choose_weights
    rng = np.random.default_rng(1)
    origins, e_net = _tail(rng)
    e_naive = 50 * rng.standard_normal(e_net.shape)     # never worth a weight
    last = origins >= 20                                  # the last third of the origins
    e_net[last] *= 10                                     # a volatile stretch
    # the statistical forecast: 10% worse than the network in the first two
    # thirds, 5% better in the volatile one, where errors are 10 times larger
    e_stat = e_net * np.where(last, 0.95, 1.1)[:, None]
    parts = np.stack([e_net, e_naive, e_stat])
    assert _pooled_choice(parts)[2] >= 0.9               # pooled: nearly all to it
    w = _choose_weights(parts, origins)
    assert w[1] == 0 and w[0] >= 0.6                     # here: most stays with the network


def test_a_statistical_forecast_better_throughout_takes_the_network_share():
    from seqcore._forecasting import _choose_weights
    rng = np.random.default_rng(2)
    origins, e_net = _tail(rng)
    parts = np.stack([e_net, 5 * rng.standard_normal(e_net.shape), 0.5 * e_net])
    np.testing.assert_allclose(_choose_weights(parts, origins), [0.0, 0.0, 1.0], atol=1e-12)
    # a tail where every forecast is exact (ties) keeps the network alone
    zero = np.zeros_like(parts)
    np.testing.assert_array_equal(_choose_weights(zero, origins), [1.0, 0.0, 0.0])
    # non-finite errors (values missing from the tail) are left out
    holed = parts.copy()
    holed[2, :5] = np.nan
    np.testing.assert_allclose(_choose_weights(holed, origins), [0.0, 0.0, 1.0], atol=1e-12)


def test_without_a_season_the_pooled_choice_is_kept():
    from seqcore._forecasting import _choose_weights
    rng = np.random.default_rng(0)
    origins, e_net = _tail(rng)
    e_naive = rng.standard_normal(e_net.shape)
    parts = np.stack([e_net, e_naive, 0.45 * (e_net + e_naive)])
    np.testing.assert_array_equal(_choose_weights(parts, origins, seasonal=False),
                                  _pooled_choice(parts))
    assert _choose_weights(parts, origins, seasonal=False)[1] == 0
    assert _choose_weights(parts, origins)[1] > 0

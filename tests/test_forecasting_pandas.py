"""RNNForecaster's defaults and its pandas side: season detection on series
of known periods, the model-space choices, pandas round trips for each index
type, ``fh`` as dates, exogenous frames aligned by index, missing values
(masked or imputed, never NaN out), quantiles and several coverages.

Networks are tiny (one network, hidden 4-8, a few epochs): what is tested is
the bookkeeping, not accuracy.
"""

import numpy as np
import pytest

from seqcore import RNNForecaster
from seqcore._seasonality import detect_season, season_from_freq, seasonality_test
from seqcore._smoothing import stat_forecasts

pd = pytest.importorskip("pandas")

FAST = dict(horizon=4, hidden_size=4, max_iter=3, n_models=1, random_state=0)


def seasonal(n, period, seed=0, trend=0.05, noise=0.3, level=20.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level + trend * t + 3 * np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(n)


# ------------------------------------------------------------------ seasons

@pytest.mark.parametrize("period", [4, 7, 12, 24])
def test_detect_season_finds_known_periods(period):
    assert detect_season(seasonal(20 * period, period, seed=period)) == period


def test_detect_season_without_a_season():
    rng = np.random.default_rng(1)
    assert detect_season(rng.standard_normal(300)) == 1
    assert detect_season(np.cumsum(rng.standard_normal(300))) == 1
    assert detect_season(np.arange(5.0)) == 1          # too short to say


def test_detect_season_with_missing_values():
    y = seasonal(240, 12, seed=3)
    y[[5, 50, 51, 100]] = np.nan
    assert detect_season(y) == 12


def test_seasonality_test():
    assert seasonality_test(seasonal(120, 12), 12)
    assert not seasonality_test(np.random.default_rng(2).standard_normal(120), 12)
    assert not seasonality_test(seasonal(30, 12), 12)   # fewer than three seasons


@pytest.mark.parametrize("freq, period", [
    ("M", 12), ("MS", 12), ("ME", 12), ("Q-DEC", 4), ("QS-OCT", 4), ("QE-DEC", 4),
    ("Y-DEC", 1), ("YS", 1), ("YE-DEC", 1), ("W-SUN", 52), ("D", 7), ("B", 5), ("h", 24),
    ("30min", 48), ("2M", 6), ("2ME", 6),
])
def test_season_from_freq(freq, period):
    assert season_from_freq(freq) == period             # a PeriodIndex's freqstr
    try:
        offset = pd.tseries.frequencies.to_offset(freq)  # a DatetimeIndex's offset
    except ValueError:                                   # a period-only alias
        return
    assert season_from_freq(offset) == period


def test_season_from_an_index():
    assert season_from_freq(pd.period_range("2000-01", periods=3, freq="M").freq) == 12
    assert season_from_freq(pd.date_range("2000-01-01", periods=3, freq="W-SUN").freq) == 52
    assert season_from_freq(None) is None and season_from_freq("bogus!") is None


def test_season_follows_the_index_frequency_then_the_data():
    y = seasonal(96, 12)
    f = RNNForecaster(**FAST).fit(y)                                    # data: 12
    assert f.season_ == 12 and f.deseasonalized_ == [True]
    # two seasons, shortened to leave the fit on the head of the series (48 of the
    # 96 values: calibration holds out half) as many windows as input steps
    assert f.window_ == (48 - 1 - 4) // 2
    assert RNNForecaster(calibration_size=0, **FAST).fit(y).window_ == 24
    quarterly = pd.Series(y, index=pd.period_range("2000Q1", periods=96, freq="Q"))
    f = RNNForecaster(**FAST).fit(quarterly)                            # index: 4
    assert f.season_ == 4
    yearly = pd.Series(y, index=pd.period_range("1900", periods=96, freq="Y"))
    f = RNNForecaster(**FAST).fit(yearly)                               # index: none
    assert f.season_ == 1 and f.deseasonalized_ == [False]
    assert RNNForecaster(season=7, **FAST).fit(y).season_ == 7          # as given


def test_model_space_choices():
    rng = np.random.default_rng(4)
    walk = 50 + np.cumsum(rng.standard_normal(200))
    f = RNNForecaster(**FAST).fit(walk)
    assert f.differencing_ == 1 and f.log_
    noise = rng.standard_normal(200)
    f = RNNForecaster(**FAST).fit(noise)
    assert f.differencing_ == 0 and not f.log_
    assert RNNForecaster(differencing=1, transform=None, **FAST).fit(noise).differencing_ == 1


# ------------------------------------------------------------------ pandas

INDEXES = {
    "period_monthly": lambda n: pd.period_range("2010-01", periods=n, freq="M"),
    "datetime_month_start": lambda n: pd.date_range("2010-01-01", periods=n, freq="MS"),
    "datetime_daily": lambda n: pd.date_range("2020-03-01", periods=n, freq="D"),
    "period_quarterly": lambda n: pd.period_range("1990Q1", periods=n, freq="Q"),
}


@pytest.mark.parametrize("kind", list(INDEXES))
def test_series_round_trip(kind):
    n = 80
    index = INDEXES[kind](n)
    y = pd.Series(seasonal(n, 12), index=index, name="sales")
    f = RNNForecaster(**FAST).fit(y)
    pred = f.predict(4)
    assert isinstance(pred, pd.Series) and pred.name == "sales"
    expected = INDEXES[kind](n + 4)[n:]
    assert list(pred.index) == list(expected)
    # the same numbers as the values fit with the season of the index
    plain = RNNForecaster(season=f.season_, **FAST).fit(y.to_numpy())
    np.testing.assert_allclose(pred.to_numpy(), plain.predict(4), rtol=1e-12)
    # fh as future times, as an index, a list, or strings: the same forecasts
    np.testing.assert_array_equal(f.predict(expected[[1, 3]]).to_numpy(), pred.to_numpy()[[1, 3]])
    np.testing.assert_array_equal(f.predict(list(expected[:2])).to_numpy(), pred.to_numpy()[:2])
    np.testing.assert_array_equal(f.predict([str(expected[2])]).to_numpy(), pred.to_numpy()[[2]])
    fc, lo, hi = f.predict_interval(expected, coverage=0.8)
    assert isinstance(lo, pd.Series) and list(lo.index) == list(expected)
    assert (lo <= fc).all() and (fc <= hi).all()
    assert not y.isna().any()              # the input is untouched


def test_fh_dates_errors():
    y = pd.Series(seasonal(60, 12), index=pd.period_range("2010-01", periods=60, freq="M"))
    f = RNNForecaster(**FAST).fit(y)
    with pytest.raises(ValueError, match="before the end of the series"):
        f.predict([pd.Period("2014-06", freq="M")])
    with pytest.raises(ValueError, match="horizon=4"):
        f.predict([pd.Period("2015-06", freq="M")])        # 6 steps, direct model of 4
    daily = pd.Series(seasonal(60, 7), index=pd.date_range("2020-01-01", periods=60))
    g = RNNForecaster(**FAST).fit(daily)
    with pytest.raises(ValueError, match="not on the series' grid"):
        g.predict([pd.Timestamp("2020-03-01 12:00")])
    h = RNNForecaster(**FAST).fit(seasonal(60, 12))
    with pytest.raises(ValueError, match="without a DatetimeIndex or PeriodIndex"):
        h.predict([pd.Timestamp("2020-03-01")])


def test_dataframe_targets_and_several_coverages():
    index = pd.period_range("2000-01", periods=90, freq="M")
    y = pd.DataFrame({"a": seasonal(90, 12, seed=1), "b": seasonal(90, 12, seed=2) + 5},
                     index=index)
    f = RNNForecaster(**FAST).fit(y)
    pred = f.predict(3)
    assert isinstance(pred, pd.DataFrame) and list(pred.columns) == ["a", "b"]
    fc, lo, hi = f.predict_interval(3, coverage=[0.8, 0.95])
    assert list(lo.columns) == [("a", 0.8), ("a", 0.95), ("b", 0.8), ("b", 0.95)]
    assert (lo[("a", 0.95)] <= lo[("a", 0.8)]).all() and (hi[("b", 0.8)] <= hi[("b", 0.95)]).all()
    q = f.predict_quantiles(3, alpha=[0.1, 0.5, 0.9])
    assert q.shape == (3, 6) and list(q.index) == list(pred.index)


def test_quantiles_are_ordered_and_match_intervals():
    y = seasonal(120, 12, seed=5)
    f = RNNForecaster(**FAST).fit(y)
    q = f.predict_quantiles(4, alpha=[0.05, 0.25, 0.5, 0.75, 0.95])
    assert q.shape == (4, 5) and np.all(np.diff(q, axis=1) >= 0)
    _, lo, hi = f.predict_interval(4, coverage=0.9)
    np.testing.assert_allclose(lo, q[:, 0], rtol=1e-12)
    np.testing.assert_allclose(hi, q[:, 4], rtol=1e-12)
    for bad in (0, 1, [0.5, 1.2], [], True):
        with pytest.raises(ValueError, match="alpha"):
            f.predict_quantiles(4, alpha=bad)
    with pytest.raises(ValueError, match="coverage"):
        f.predict_interval(4, coverage=[0.8, 1.0])


# ------------------------------------------------------------ exogenous X

def test_exogenous_frames_align_by_index():
    n, H = 100, 4
    index = pd.period_range("2000-01", periods=n + H, freq="M")
    rng = np.random.default_rng(6)
    X = pd.DataFrame({"promo": rng.standard_normal(n + H)}, index=index)
    y = pd.Series(seasonal(n, 12) + 2 * X.promo.to_numpy()[:n], index=index[:n])
    f = RNNForecaster(transform=None, **FAST).fit(y, X=X.iloc[::-1])   # any row order
    ref = RNNForecaster(transform=None, **FAST).fit(y.to_numpy(), X=X.to_numpy()[:n])
    pred = f.predict(H, X=X.iloc[n:])
    np.testing.assert_allclose(pred.to_numpy(), ref.predict(H, X=X.to_numpy()[n:]), rtol=1e-12)
    np.testing.assert_array_equal(f.predict(H, X=X).to_numpy(), pred.to_numpy())  # whole frame
    with pytest.raises(ValueError, match="future X does not cover fh.*2008-06"):
        f.predict(H, X=X.iloc[n:n + 1])
    with pytest.raises(ValueError, match="X does not cover the times of y"):
        RNNForecaster(**FAST).fit(y, X=X.iloc[5:])


# ------------------------------------------------------------------ gaps

def test_missing_values_in_an_array_are_imputed_and_masked():
    y = seasonal(120, 12, seed=7)
    gappy = y.copy()
    gappy[[10, 40, 41, 42, 90]] = np.nan
    f = RNNForecaster(**FAST).fit(gappy)
    assert np.isnan(gappy[[10, 40]]).all()                  # the input is untouched
    fc, lo, hi = f.predict_interval(4)
    assert np.isfinite(fc).all() and np.isfinite(lo).all() and np.isfinite(hi).all()
    # the training windows: every one whose targets touch a gap is left out
    s = f._series[0]
    inputs, targets = f._windows(s)
    u, observed = s.u()
    assert np.isfinite(inputs).all() and np.isfinite(targets).all()
    full = RNNForecaster(**FAST).fit(y)
    assert len(targets) < len(full._windows(full._series[0])[1])
    assert not observed[[10, 11, 40, 43, 90, 91]].any()    # differences across a gap


def test_missing_time_stamps_become_missing_values():
    index = pd.date_range("2015-01-01", periods=72, freq="MS")
    y = pd.Series(seasonal(72, 12), index=index)
    holed = y.drop(index[[20, 21, 50]])                       # no rows for three months
    f = RNNForecaster(**FAST).fit(holed)
    assert f._series[0].y.shape[0] == 72 and np.isnan(f._series[0].y[[20, 21, 50], 0]).all()
    pred = f.predict(4)
    assert list(pred.index) == list(pd.date_range("2021-01-01", periods=4, freq="MS"))
    assert np.isfinite(pred.to_numpy()).all()


def test_trailing_missing_value_and_update_across_a_gap():
    index = pd.period_range("2000-01", periods=84, freq="M")
    y = pd.Series(seasonal(84, 12), index=index)
    y.iloc[-1] = np.nan
    f = RNNForecaster(**FAST).fit(y.iloc[:72])
    f.update(y.iloc[75:])                       # three months missing in between
    pred = f.predict(2)
    assert pred.index[0] == index[-1] + 1 and np.isfinite(pred.to_numpy()).all()
    assert f._series[0].y.shape[0] == 84
    with pytest.raises(ValueError, match="not after the end"):
        f.update(y.iloc[80:82])


def test_too_many_gaps_is_a_clear_error():
    y = seasonal(60, 12)
    y[::3] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        RNNForecaster(window=8, horizon=6, hidden_size=4, max_iter=2, n_models=1).fit(y)


def test_ensemble_averages_the_networks():
    y = seasonal(96, 12, seed=8)
    f = RNNForecaster(**dict(FAST, n_models=3)).fit(y)
    assert len(f.regressors_) == 3
    s = f._series[0]
    u = s.u()[0]
    W = f.window_
    feats = f._features(s, u, len(y) - W, len(y))
    each = [f._forecast_one(r, feats, None, 4) for r in f.regressors_]
    net = s.to_z(np.mean(each, axis=0), s.z)[:, 0]
    naive = s.z[-12:-8, 0]                                   # seasonal naive, in logs
    stat = np.log(stat_forecasts([y], 4, 12)[0])             # the statistical forecast
    w = f.combination_weights_
    assert f.log_ and sum(w.values()) == pytest.approx(1.0)
    np.testing.assert_allclose(
        f.predict(4), np.exp(w["network"] * net + w["naive"] * naive
                             + w["statistical"] * stat), rtol=1e-12)
    alone = RNNForecaster(**dict(FAST, n_models=3, combine=False)).fit(y)
    assert alone.combination_weight_ == 1.0
    np.testing.assert_allclose(alone.predict(4), np.exp(net), rtol=1e-12)


def test_combination_weight_follows_the_calibration_errors():
    """On a repeated seasonal pattern with little noise the seasonal naive forecast
    is hard to beat after 2 epochs of training: the calibration tail gives it
    most of the weight.  Without a calibration tail the network has it all."""
    rng = np.random.default_rng(9)
    pattern = np.tile([0.0, 3, 1, 4, 2, 5, 1, 3, 0, 2, 4, 1], 10)
    flat = 10 + pattern + 0.01 * rng.standard_normal(120)
    f = RNNForecaster(horizon=4, hidden_size=4, max_iter=2, n_models=1, random_state=0).fit(flat)
    assert f.combination_weight_ < 0.5
    g = RNNForecaster(horizon=4, hidden_size=4, max_iter=2, n_models=1, calibration_size=0,
                      random_state=0).fit(flat)
    assert g.combination_weight_ == 1.0                     # nothing to choose it on


def test_the_history_is_a_copy_of_the_input():
    y = pd.Series(seasonal(80, 12), index=pd.period_range("2000-01", periods=80, freq="M"))
    f = RNNForecaster(**FAST).fit(y)
    before = f.predict(4).to_numpy()
    y.iloc[-12:] = 1e6                        # the user edits their series afterwards
    np.testing.assert_array_equal(f.predict(4).to_numpy(), before)


def test_fh_messages_in_other_zones_and_at_the_end():
    """issue 22, item 15: fh in another time zone was a raw pandas TypeError;
    fh at the series' end read "cannot read ... : is not after the end"."""
    index = pd.date_range("2024-01-01", periods=60, freq="h", tz="Asia/Tokyo")
    y = pd.Series(seasonal(60, 12), index=index)
    f = RNNForecaster(**FAST).fit(y)
    pred = f.predict(2)
    # the same instants in UTC are the same forecast times
    np.testing.assert_array_equal(f.predict(pred.index.tz_convert("UTC")).to_numpy(),
                                  pred.to_numpy())
    with pytest.raises(ValueError, match="not on the series' grid"):
        f.predict([pd.Timestamp(pred.index[0]).tz_convert("UTC") + pd.Timedelta(minutes=30)])
    with pytest.raises(ValueError, match=r"is the last time of the series, not a future one; "
                                         r"forecast times start at 2024-01-03 12:00:00\+09:00"):
        f.predict([index[-1]])
    naive = RNNForecaster(**FAST).fit(y.tz_localize(None))
    with pytest.raises(ValueError, match="has a time zone, but the series' times have none"):
        naive.predict([pd.Timestamp("2024-01-03 12:00", tz="UTC")])
    monthly = pd.Series(seasonal(60, 12), index=pd.period_range("2010-01", periods=60, freq="M"))
    f = RNNForecaster(**FAST).fit(monthly)
    for end in (monthly.index[-1], "2014-12"):
        with pytest.raises(ValueError, match="the last time of the series") as info:
            f.predict([end])
        assert "cannot read" not in str(info.value)
        assert "start at 2015-01" in str(info.value)


def test_predict_interval_names_its_three_series():
    """issue 22, item 16: three Series of one name (the series') could not
    be told apart, e.g. in pd.concat(..., axis=1)."""
    y = pd.Series(seasonal(60, 12), index=pd.period_range("2010-01", periods=60, freq="M"),
                  name="sales")
    f = RNNForecaster(**FAST).fit(y)
    fc, lo, hi = f.predict_interval(3, coverage=0.8)
    assert (fc.name, lo.name, hi.name) == ("forecast", "lower", "upper")
    table = pd.concat([fc, lo, hi], axis=1)
    assert list(table.columns) == ["forecast", "lower", "upper"]
    assert f.predict(3).name == "sales"            # predict keeps the series' name
    np.testing.assert_array_equal(fc.to_numpy(), f.predict(3).to_numpy())


def test_median_quantile_is_the_forecast_shifted_by_the_median_error():
    """issue 22, item 16: the median is the point forecast plus the pooled
    median of the calibration errors scaled to each horizon, as the
    docstring of predict_quantiles explains; not the forecast itself."""
    y = seasonal(80, 12) + np.random.default_rng(3).gamma(1.0, 2.0, 80)   # skewed noise
    f = RNNForecaster(**{**FAST, "transform": None, "differencing": 0}).fit(y)
    steps = np.arange(1, f.horizon + 1)
    median = f.predict_quantiles(steps, alpha=0.5)[:, 0]
    shift = median - f.predict(steps)
    # the shift over the horizon's error scale sigma_h is one number
    ratio = shift / f.interval_scale_[:, 0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9, atol=1e-12)
    assert "not ``predict``'s forecast" in " ".join(f.predict_quantiles.__doc__.split())

"""Tests for seqcore.forecasting.forecast_many without Dask: every input form
gives the same forecasts, per-series results equal a fit and a backtest by
hand, the global model and its backtest, intervals, BLAS threads per job,
the same results for any n_jobs, input errors raised before any fit, and the
pandas views of the result.

Networks are tiny (hidden_size 4, a few epochs): what is tested is the
bookkeeping, not accuracy.  The cluster runs are in test_dask.py.
"""

import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from threadpoolctl import threadpool_info

from seqcore import RNNForecaster as RNNForecasterTop
from seqcore._smoothing import stat_forecasts
from seqcore.forecasting import ManyForecasts, RNNForecaster, forecast_many
from seqcore.model_selection import backtest, mae, mase, seasonal_naive, smape

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(window=8, horizon=4, hidden_size=4, max_iter=3, random_state=0)
H = 4


def make_series(n_series=3, n=60, seed=0):
    """Seasonal series of different lengths and levels, named s0, s1, ..."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n_series):
        m = n + 5 * i
        t = np.arange(m)
        out[f"s{i}"] = (10.0 * (i + 1) + 0.1 * t + np.sin(2 * np.pi * t / 12)
                        + 0.3 * rng.standard_normal(m))
    return out


def to_long(series, rng):
    """A long-format dict of columns with the rows shuffled."""
    ids = np.concatenate([[k] * len(v) for k, v in series.items()])
    times = np.concatenate([np.arange(len(v)) for v in series.values()])
    values = np.concatenate(list(series.values()))
    perm = rng.permutation(len(ids))
    return {"id": ids[perm], "time": times[perm], "value": values[perm]}


def assert_same(a, b):
    """Two ManyForecasts with bit-identical contents."""
    assert a.names == b.names
    for attr in ("forecasts", "lower", "upper"):
        da, db = getattr(a, attr), getattr(b, attr)
        assert (da is None) == (db is None)
        if da is not None:
            for k in a.names:
                np.testing.assert_array_equal(da[k], db[k])
    assert (a.backtests is None) == (b.backtests is None)
    if a.backtests is not None:
        for k in a.names:
            for key, v in a.backtests[k].items():
                if key == "mean":
                    assert v == b.backtests[k]["mean"]
                else:
                    np.testing.assert_array_equal(v, b.backtests[k][key])


@pytest.fixture(scope="module")
def series():
    return make_series()


@pytest.fixture(scope="module")
def result(series):
    return forecast_many(series, horizon=H, forecaster=RNNForecaster(**FAST), season=12,
                         coverage=0.8, n_origins=2, return_models=True)


# ------------------------------------------------------------ public names

def test_reexports_the_forecaster():
    assert RNNForecaster is RNNForecasterTop


# --------------------------------------------------------------- per series

def test_per_series_equals_fits_and_backtests_by_hand(series, result):
    assert isinstance(result, ManyForecasts)
    assert result.names == ["s0", "s1", "s2"]
    for k, y in series.items():
        f = RNNForecaster(**FAST).fit(y)
        fc, lo, hi = f.predict_interval(H, coverage=0.8)
        np.testing.assert_array_equal(result.forecasts[k], fc)
        np.testing.assert_array_equal(result.lower[k], lo)
        np.testing.assert_array_equal(result.upper[k], hi)
        assert np.all(result.lower[k] <= result.forecasts[k])
        assert np.all(result.forecasts[k] <= result.upper[k])
        bt = backtest(RNNForecaster(**FAST), y, horizon=H, n_origins=2, season=12)
        np.testing.assert_array_equal(result.backtests[k]["forecasts"], bt["forecasts"])
        np.testing.assert_array_equal(result.backtests[k]["origins"], [len(y) - 2 * H,
                                                                       len(y) - H])
        assert result.scores[k] == bt["mean"]
        assert isinstance(result.models[k], RNNForecaster)
        np.testing.assert_array_equal(result.models[k].predict(H), fc)


def test_mean_scores_and_repr(result):
    for s in ("mae", "smape", "mase", "naive_mae", "naive_smape", "naive_mase"):
        assert result.mean_scores[s] == pytest.approx(
            np.mean([result.scores[k][s] for k in result.names]))
    text = repr(result)
    assert "3 series" in text and "horizon=4" in text and "coverage=0.8" in text


def test_without_coverage_or_backtest(series):
    r = forecast_many(series, horizon=H, forecaster=RNNForecaster(**FAST), backtest=False)
    assert r.lower is None and r.upper is None
    assert r.backtests is None and r.scores is None and r.mean_scores is None
    assert r.models is None
    assert all(r.forecasts[k].shape == (H,) for k in r.names)
    with pytest.raises(ValueError, match="backtest=False"):
        r.scores_frame()


def test_horizon_shorter_than_the_forecasters(series):
    r = forecast_many(series, horizon=2, forecaster=RNNForecaster(**FAST), backtest=False)
    full = RNNForecaster(**FAST).fit(series["s1"]).predict(2)
    np.testing.assert_array_equal(r.forecasts["s1"], full)


# ------------------------------------------------------------- input forms

def test_every_input_form_gives_the_same_forecasts(series):
    kwargs = dict(horizon=H, forecaster=RNNForecaster(**FAST), backtest=False)
    ref = forecast_many(series, **kwargs)
    as_list = forecast_many(list(series.values()), **kwargs)
    assert as_list.names == [0, 1, 2]
    long = forecast_many(to_long(series, np.random.default_rng(5)), **kwargs)
    assert sorted(long.names) == ref.names   # first appearance in the shuffled rows
    for i, k in enumerate(ref.names):
        np.testing.assert_array_equal(as_list.forecasts[i], ref.forecasts[k])
        np.testing.assert_array_equal(long.forecasts[k], ref.forecasts[k])


def test_long_table_ids_in_order_of_first_appearance():
    series = make_series(3)
    ids = np.concatenate([["b"] * 60, ["a"] * 65, ["c"] * 70])
    values = np.concatenate(list(series.values()))
    r = forecast_many({"id": ids, "value": values}, time_col=None, horizon=H,
                      forecaster=RNNForecaster(**FAST), backtest=False)
    assert r.names == ["b", "a", "c"]
    np.testing.assert_array_equal(
        r.forecasts["a"], RNNForecaster(**FAST).fit(series["s1"]).predict(H))


def test_long_table_custom_column_names(series):
    long = to_long(series, np.random.default_rng(0))
    table = {"store": long["id"], "date": long["time"], "sales": long["value"]}
    r = forecast_many(table, id_col="store", time_col="date", value_col="sales", horizon=H,
                      forecaster=RNNForecaster(**FAST), backtest=False)
    assert sorted(r.names) == ["s0", "s1", "s2"]
    np.testing.assert_array_equal(
        r.forecasts["s2"], RNNForecaster(**FAST).fit(series["s2"]).predict(H))


def test_dataframe_input_and_frames(series):
    pd = pytest.importorskip("pandas")
    long = to_long(series, np.random.default_rng(1))
    frame = pd.DataFrame({"id": long["id"],
                          "time": pd.Timestamp("2020-01-01") + pd.to_timedelta(long["time"],
                                                                               unit="D"),
                          "value": long["value"]})
    r = forecast_many(frame, horizon=H, forecaster=RNNForecaster(**FAST), coverage=0.8,
                      season=12)
    for k, y in series.items():
        # daily dates: the forecaster gets a Series on them (its season follows the
        # frequency) and the result carries the forecast dates
        dated = pd.Series(y, index=pd.date_range("2020-01-01", periods=len(y), freq="D"))
        fc, _, _ = RNNForecaster(**FAST).fit(dated).predict_interval(H, coverage=0.8)
        np.testing.assert_array_equal(r.forecasts[k], fc.to_numpy())
        np.testing.assert_array_equal(r.times[k], fc.index.to_numpy())
    out = r.to_frame()
    assert list(out.columns) == ["id", "step", "time", "forecast", "lower", "upper"]
    assert len(out) == 3 * H
    first = out[out["id"] == r.names[0]]
    np.testing.assert_array_equal(first["step"], np.arange(1, H + 1))
    assert first["time"].iloc[0] == pd.Timestamp("2020-01-01") + pd.Timedelta(
        days=len(series[r.names[0]]))
    np.testing.assert_array_equal(first["forecast"], r.forecasts[r.names[0]])
    scores = r.scores_frame()
    assert list(scores.index) == r.names and scores.index.name == "id"
    assert scores.loc["s1", "mase"] == r.scores["s1"]["mase"]


def test_frames_need_pandas(result, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        result.to_frame()


# ------------------------------------------------------------ global model

def test_global_model_and_its_backtest(series):
    r = forecast_many(series, horizon=H, forecaster=RNNForecaster(**FAST), global_model=True,
                      coverage=0.8, n_origins=2, season=12, return_models=True)
    ys = list(series.values())
    f = RNNForecaster(**FAST).fit(ys)
    fc, lo, hi = f.predict_interval(H, coverage=0.8)
    model = r.models["s0"]
    assert all(r.models[k] is model for k in r.names)
    assert model.n_series_ == 3
    for i, k in enumerate(r.names):
        np.testing.assert_array_equal(r.forecasts[k], fc[i])
        np.testing.assert_array_equal(r.lower[k], lo[i])
        np.testing.assert_array_equal(r.upper[k], hi[i])
    # the backtest by hand: one model per origin on every series cut at its own origin
    cut = [[len(y) - 2 * H, len(y) - H] for y in ys]
    preds = [RNNForecaster(**{**FAST, "calibration_size": 0})
             .fit([y[:c[k]] for y, c in zip(ys, cut)]).predict(H) for k in range(2)]
    for i, (k, y) in enumerate(series.items()):
        bt = r.backtests[k]
        np.testing.assert_array_equal(bt["origins"], cut[i])
        np.testing.assert_array_equal(bt["forecasts"], [preds[0][i], preds[1][i]])
        for j, o in enumerate(cut[i]):
            train, test = y[:o], y[o:o + H]
            assert bt["mae"][j] == mae(test, preds[j][i])
            assert bt["smape"][j] == smape(test, preds[j][i])
            assert bt["mase"][j] == mase(test, preds[j][i], train, 12)
            assert bt["naive_mae"][j] == mae(test, seasonal_naive(train, H, 12))
        assert r.scores[k]["mase"] == pytest.approx(np.mean(bt["mase"]))
    assert "one global model" in repr(r)


# ----------------------------------------------------- seeds, jobs, threads

def test_random_state_is_set_on_every_clone(series):
    unseeded = RNNForecaster(**{**FAST, "random_state": None})
    r = forecast_many(series, horizon=H, forecaster=unseeded, random_state=3, backtest=False,
                      return_models=True)
    assert all(m.random_state == 3 for m in r.models.values())
    again = forecast_many(series, horizon=H, forecaster=RNNForecaster(**FAST),
                          random_state=3, backtest=False)
    for k in r.names:
        np.testing.assert_array_equal(r.forecasts[k], again.forecasts[k])


def test_default_forecaster_is_an_rnn_forecaster_of_that_horizon():
    series = make_series(1, n=50)
    r = forecast_many(series, horizon=3, backtest=False, return_models=True, random_state=0,
                      forecaster=None)
    model = r.models["s0"]
    assert isinstance(model, RNNForecaster) and model.horizon == 3
    assert model.get_params() == {**RNNForecaster().get_params(), "horizon": 3,
                                  "random_state": 0}


def test_same_results_for_any_n_jobs(series, result):
    again = forecast_many(series, horizon=H, forecaster=RNNForecaster(**FAST), season=12,
                          coverage=0.8, n_origins=2, n_jobs=2)
    assert_same(result, again)
    glob = [forecast_many(series, horizon=H, forecaster=RNNForecaster(**FAST), season=12,
                          global_model=True, n_jobs=n) for n in (None, 2)]
    assert_same(*glob)


class ThreadsSeen(BaseEstimator):
    """A forecaster that records the BLAS threads it runs with (and forecasts the mean)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, y):
        self.blas_threads_ = [i["num_threads"] for i in threadpool_info()
                              if i["user_api"] == "blas"]
        self.level_ = float(np.mean(y))
        return self

    def predict(self, fh):
        return np.full(fh, self.level_)


@pytest.mark.parametrize("limit", [1, 2])
def test_each_job_limits_blas_threads(series, limit):
    r = forecast_many(series, horizon=H, forecaster=ThreadsSeen(), backtest=False,
                      return_models=True, blas_threads=limit)
    for m in r.models.values():
        assert m.blas_threads_ and max(m.blas_threads_) <= limit
    np.testing.assert_array_equal(r.forecasts["s0"], np.full(H, np.mean(series["s0"])))


class Drift:
    """A forecaster that is no scikit-learn estimator (no get_params): the last
    value plus the mean step."""

    def fit(self, y):
        self.last_, self.slope_ = y[-1], np.mean(np.diff(y))
        return self

    def predict(self, fh):
        return self.last_ + self.slope_ * np.arange(1, fh + 1)


@pytest.mark.parametrize("make", [ThreadsSeen, Drift])
def test_any_forecaster_with_fit_and_predict(series, make):
    r = forecast_many(series, horizon=H, forecaster=make(), season=12)
    bt = backtest(make(), series["s2"], horizon=H, season=12)
    assert r.scores["s2"] == bt["mean"]
    np.testing.assert_array_equal(r.forecasts["s2"], make().fit(series["s2"]).predict(H))
    with pytest.raises(ValueError, match="Drift has no random_state"):
        forecast_many(series, horizon=H, forecaster=Drift(), random_state=0)


# ------------------------------------------------------------------ errors

class MustNotFit(BaseEstimator):
    """Fails the test if any fit starts: errors must come before the work."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, y):
        raise AssertionError("a fit started although the input is invalid")

    def predict(self, fh):
        raise AssertionError("unreachable")

    def predict_interval(self, fh, coverage=0.9):
        raise AssertionError("unreachable")


@pytest.mark.parametrize("series, match", [
    ({"a": np.r_[np.arange(30.0), np.nan]}, "'a' contains NaN"),
    ({"a": np.ones((30, 2))}, "'a' must be 1-D"),
    ({"a": np.array([])}, "'a' is empty"),
    ({"a": ["x"] * 30}, "'a' must be numeric"),
    ({}, "nothing to forecast"),
    ({"id": ["a", "a"], "time": [1, 1], "value": [1.0, 2.0]}, "'a' has two rows at time=1"),
    ({"id": ["a", "a"], "value": [1.0, 2.0]}, "no column 'time'.*time_col=None"),
    ({"id": ["a", "a"], "time": [1], "value": [1.0, 2.0]}, "equal length"),
    ({"a": np.r_[np.ones(26), np.arange(4.0)]}, "'a': MASE is undefined from origin 26"),
    ({"a": np.arange(14.0)}, "too few to backtest"),
])
def test_bad_series_fail_before_any_fit(series, match):
    with pytest.raises(ValueError, match=match):
        forecast_many(series, horizon=H, forecaster=MustNotFit(), season=12)


def test_bad_type_and_arguments():
    ok = make_series(1)
    with pytest.raises(TypeError, match="series must be a dict"):
        forecast_many(np.ones(50), horizon=H, forecaster=MustNotFit())
    with pytest.raises(TypeError, match="horizon must be an int"):
        forecast_many(ok, horizon=2.5, forecaster=MustNotFit())
    with pytest.raises(ValueError, match="n_origins must be >= 1"):
        forecast_many(ok, horizon=H, n_origins=0, forecaster=MustNotFit())
    with pytest.raises(ValueError, match="coverage"):
        forecast_many(ok, horizon=H, coverage=1.5, forecaster=MustNotFit())
    with pytest.raises(TypeError, match="has no predict_interval"):
        forecast_many(ok, horizon=H, coverage=0.9, forecaster=ThreadsSeen())


def test_rnn_forecaster_length_checks():
    rnn = RNNForecaster(**FAST)        # fit needs window + differencing + horizon = 13
    # shorter: the statistical forecast in place of the network's, with a warning
    # (issue 24)
    with pytest.warns(UserWarning, match="has 12 values: shorter than .* = 13.*statistical"):
        r = forecast_many({"short": np.arange(12.0)}, horizon=H, forecaster=rnn,
                          backtest=False, return_models=True)
    assert r.models["short"].fallback_ == "statistical"
    stat = stat_forecasts([np.arange(12.0)], H, 1)[0]
    np.testing.assert_allclose(r.forecasts["short"], stat)
    with pytest.raises(ValueError, match="horizon=4 .direct strategy. is below horizon=6"):
        forecast_many(make_series(1), horizon=6, forecaster=rnn)
    # 20 values fit, but leave no tail to calibrate intervals on
    with pytest.raises(ValueError, match="'a' has 20 values, too few to hold out a tail"):
        forecast_many({"a": np.arange(20.0) ** 1.5}, horizon=H, forecaster=rnn,
                      coverage=0.9, backtest=False)
    # 15 values fit, but the 11 before the backtest's origin do not
    forecast_many({"a": np.arange(15.0) ** 1.5}, horizon=H, forecaster=rnn, backtest=False)
    with pytest.raises(ValueError, match="'a' has 15 values, too few to backtest"):
        forecast_many({"a": np.arange(15.0) ** 1.5}, horizon=H, forecaster=rnn)
    # the recursive strategy forecasts any horizon
    rec = clone(rnn).set_params(strategy="recursive")
    r = forecast_many(make_series(1), horizon=6, forecaster=rec, backtest=False)
    assert r.forecasts["s0"].shape == (6,)


# ------------------------------------------------------- times and ids

def _monthly_table(times, seed=0):
    rng = np.random.default_rng(seed)
    values = 10 + np.arange(len(times)) + rng.standard_normal(len(times))
    return values


def test_string_dates_are_parsed_not_sorted_as_text():
    """"1/1/2020" .. "12/1/2020" sorted as text would put October first."""
    texts = [f"{m}/1/{2018 + y}" for y in range(3) for m in range(1, 13)]
    values = np.arange(36.0) ** 1.2
    perm = np.random.default_rng(0).permutation(36)
    table = {"id": ["a"] * 36, "time": [texts[i] for i in perm], "value": values[perm]}
    with pytest.raises(ValueError, match="ambiguous dates.*time_format"):
        forecast_many(table, horizon=H, forecaster=MustNotFit(), backtest=False)
    r = forecast_many(table, horizon=H, forecaster=Drift(), backtest=False,
                      time_format="%m/%d/%Y")
    np.testing.assert_allclose(r.forecasts["a"], Drift().fit(values).predict(H))
    assert r.times["a"][0] == np.datetime64("2021-01-01")
    # ISO dates are never ambiguous
    iso = {"id": ["a"] * 36, "time": [f"{2018 + i // 12}-{i % 12 + 1:02d}-01" for i in perm],
           "value": values[perm]}
    r = forecast_many(iso, horizon=H, forecaster=Drift(), backtest=False)
    np.testing.assert_allclose(r.forecasts["a"], Drift().fit(values).predict(H))
    # days above 12 settle the order
    days = [f"{d}/01/2020" for d in range(1, 32)]
    r = forecast_many({"id": ["a"] * 31, "time": days[::-1], "value": np.arange(31.0)[::-1]},
                      horizon=H, forecaster=Drift(), backtest=False)
    np.testing.assert_allclose(r.forecasts["a"], 30 + np.arange(1, H + 1))


def test_strings_that_are_not_dates_are_refused():
    table = {"id": ["a"] * 30, "time": [f"t{i}" for i in range(30)], "value": np.arange(30.0)}
    with pytest.raises(ValueError, match="not dates.*time_col=None"):
        forecast_many(table, horizon=H, forecaster=MustNotFit(), backtest=False)


def test_ids_of_different_types_are_not_merged():
    n = 30
    ids = [1] * n + ["1"] * n
    values = np.r_[np.arange(n, dtype=float), 100 + 2 * np.arange(n, dtype=float)]
    table = {"id": ids, "time": list(range(n)) * 2, "value": values}
    r = forecast_many(table, horizon=H, forecaster=Drift(), backtest=False)
    assert r.names == [1, "1"]
    np.testing.assert_allclose(r.forecasts[1], n - 1 + np.arange(1, H + 1))
    np.testing.assert_allclose(r.forecasts["1"], 100 + 2 * (n - 1) + 2 * np.arange(1, H + 1))
    pd = pytest.importorskip("pandas")
    r = forecast_many(pd.DataFrame(table), horizon=H, forecaster=Drift(), backtest=False)
    assert r.names == [1, "1"]


def test_dated_long_table_gives_dated_frames():
    pd = pytest.importorskip("pandas")
    series = make_series(2)
    rows = []
    for k, v in series.items():
        dates = pd.period_range("2015-01", periods=len(v), freq="M").to_timestamp()
        rows.append(pd.DataFrame({"id": k, "time": dates, "value": v}))
    frame = pd.concat(rows).sample(frac=1.0, random_state=0)
    r = forecast_many(frame, horizon=H, forecaster=RNNForecaster(**FAST), backtest=False)
    out = r.to_frame()
    first = out[out.id == "s0"]
    start = pd.Timestamp("2015-01-01") + pd.DateOffset(months=len(series["s0"]))
    assert list(first.time) == list(pd.date_range(start, periods=H, freq="MS"))
    assert r.models is None and np.isfinite(out.forecast).all()


def test_forecast_many_and_backtest_share_the_rolling_origins(series):
    from seqcore.model_selection import RollingOrigin
    r = forecast_many(series, horizon=H, forecaster=Drift(), n_origins=3, step=2, season=12)
    for k, y in series.items():
        np.testing.assert_array_equal(r.backtests[k]["origins"],
                                      RollingOrigin(H, 3, 2).origins(len(y)))


def test_long_table_keeps_the_time_zone():
    """issue 22, item 7: zoned times give forecast times in the same zone (a
    Tokyo series' first forecast was labelled 15:00 UTC-naive on the day of
    its last observation), from a zoned column and from ISO strings with an
    offset."""
    pd = pytest.importorskip("pandas")
    t = pd.date_range("2024-03-01 00:00", periods=48, freq="h", tz="Asia/Tokyo")
    values = np.r_[np.sin(np.arange(48) / 3), np.cos(np.arange(48) / 3)]
    fc = RNNForecaster(window=6, horizon=2, hidden_size=3, max_iter=2, n_models=1)
    tables = [pd.DataFrame({"id": ["a"] * 48 + ["b"] * 48, "time": list(t) * 2,
                            "value": values}),
              {"id": ["a"] * 48 + ["b"] * 48,
               "time": [s.isoformat() for s in t] * 2, "value": values}]
    for table in tables:
        res = forecast_many(table, horizon=2, forecaster=fc, backtest=False, random_state=0)
        want = pd.DatetimeIndex([t[-1] + pd.Timedelta(hours=h) for h in (1, 2)])
        for k in ("a", "b"):
            assert str(res.times[k].tz) in ("Asia/Tokyo", "UTC+09:00")
            assert (res.times[k] == want).all()
            assert res.times[k][0].hour == 0 and res.times[k][0].day == 3   # local time
        frame = res.to_frame()
        assert frame["time"].dt.tz is not None
        assert (frame["time"].iloc[:2].to_numpy() == want.to_numpy()).all()
    # naive times stay naive
    naive = pd.DataFrame({"id": ["a"] * 48, "time": t.tz_localize(None), "value": values[:48]})
    res = forecast_many(naive, horizon=2, forecaster=fc, backtest=False, random_state=0)
    assert res.times["a"].dtype == np.dtype("datetime64[ns]")


def test_a_missing_id_is_refused_before_fitting():
    # a missing id became a series of its own (one per NaN, since NaN != NaN)
    n = 30
    for missing in (None, np.nan, float("nan")):
        ids = ["a"] * n + [missing] + ["b"] * n
        table = {"id": ids, "time": list(range(n)) + [n] + list(range(n)),
                 "value": np.arange(2 * n + 1, dtype=float)}
        with pytest.raises(ValueError, match="column 'id' has a missing value.*row 30"):
            forecast_many(table, horizon=H, forecaster=MustNotFit(), backtest=False)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1.0] * n + [np.nan, np.nan], "time": list(range(n + 2)),
                          "value": np.arange(n + 2.0)})
    with pytest.raises(ValueError, match="missing value"):
        forecast_many(frame, horizon=H, forecaster=MustNotFit(), backtest=False)


def test_times_that_are_not_dates_name_the_first_bad_one():
    # the message named the first time of the column, a valid date
    n = 30
    times = [f"2000-01-{d:02d}" for d in range(1, n + 1)]
    times[7] = "notadate"
    table = {"id": ["a"] * n, "time": times, "value": np.arange(float(n))}
    with pytest.raises(ValueError, match="not dates \\(first 'notadate'"):
        forecast_many(table, horizon=H, forecaster=MustNotFit(), backtest=False)


def test_a_missing_time_is_refused_before_fitting():
    # a NaN time was sorted last (its value read as the series' latest); NaT
    # failed deep in pandas
    n = 30
    times = np.arange(n, dtype=float)
    times[4] = np.nan
    table = {"id": ["a"] * n, "time": times, "value": np.arange(float(n))}
    with pytest.raises(ValueError, match="column 'time' has a missing value.*row 4"):
        forecast_many(table, horizon=H, forecaster=MustNotFit(), backtest=False)
    pd = pytest.importorskip("pandas")
    dates = pd.Series(pd.date_range("2000-01-01", periods=n, freq="D"))
    dates[4] = pd.NaT
    frame = pd.DataFrame({"id": "a", "time": dates, "value": np.arange(float(n))})
    with pytest.raises(ValueError, match="column 'time' has a missing value.*row 4"):
        forecast_many(frame, horizon=H, forecaster=MustNotFit(), backtest=False)


def test_past_and_static_take_one_column_label_that_is_not_a_string():
    # past=3 failed with "'int' object is not iterable"; a table's labels may be ints
    pd = pytest.importorskip("pandas")
    n = 30
    frame = pd.DataFrame({"id": ["a"] * n + ["b"] * n, "time": list(range(n)) * 2,
                          "value": np.arange(2.0 * n), 3: np.arange(2.0 * n) % 5})
    r = forecast_many(frame, horizon=H, forecaster=RNNForecaster(**FAST), backtest=False,
                      past=3, global_model=True)
    assert r.names == ["a", "b"]
    with pytest.raises(TypeError, match="past must be a column label or a list of them"):
        forecast_many(frame, horizon=H, forecaster=MustNotFit(), backtest=False, past=3.5)

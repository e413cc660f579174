"""Covariates of every kind (issue 24, item 4): past-only covariates
(``X_past``) and static per-series features (``static``) in ``fit``,
``predict`` and ``update`` of ``RNNForecaster`` (global and per-series
networks) and in ``forecast_many``'s long tables; and a global model over
series of different frequencies."""

import copy
import warnings

import numpy as np
import pytest

from seqcore import RNNRegressor
from seqcore._covariates import StaticEncoder
from seqcore.forecasting import RNNForecaster, ThetaForecaster, forecast_many

H = 4
SMALL = dict(horizon=H, hidden_size=16, n_models=1, max_iter=60, random_state=0)


def leading_panel(seed, n_series=24, n=60):
    """y_t = level + 3 x_t + noise (x an AR(1)); the covariate p_t = x_{t+H}
    leads the target by the horizon, so every value a forecast from t asks
    for is already in the covariate's window: known up to now only, and
    all a model needs."""
    rng = np.random.default_rng(seed)
    ys, ps = [], []
    for _ in range(n_series):
        x = np.zeros(n + H)
        for t in range(1, n + H):
            x[t] = 0.3 * x[t - 1] + rng.standard_normal()
        ys.append(rng.uniform(20, 60) + 3 * x[:n] + 0.05 * rng.standard_normal(n))
        ps.append(x[H:, None])
    return ys, ps


def drift_panel(seed, n_series=60, n=16):
    """Short noisy series that drift up (group 'up') or down ('down') by one
    unit a step with noise of sd 2: from a few values the drift is hard to
    see, and the group says it."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    ys, groups = [], []
    for i in range(n_series):
        group = "up" if i % 2 else "down"
        ys.append(100 + (1.0 if group == "up" else -1.0) * np.arange(n)
                  + 2 * rng.standard_normal(n))
        groups.append(group)
    return ys, pd.DataFrame({"group": groups})


def quiet_fit(model, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args, **kw)


def mae(forecasts, truth):
    return float(np.mean(np.abs(np.asarray(forecasts) - np.asarray(truth))))


@pytest.fixture
def no_training(monkeypatch):
    """Any network training fails the test: the checks must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network started training before the inputs were checked")
    monkeypatch.setattr(RNNRegressor, "fit", refuse)


# ---------------------------------------------------------- past-only covariates

@pytest.mark.parametrize("method", ["normalised", "classic"])
def test_a_past_covariate_that_leads_by_the_horizon_beats_the_model_without_it(method):
    ys, ps = leading_panel(0)
    train, past = [y[:-H] for y in ys], [p[:-H] for p in ps]
    truth = [y[-H:] for y in ys]
    errors = {}
    for use in (True, False):
        f = quiet_fit(RNNForecaster(global_method=method, **SMALL), train,
                      X_past=past if use else None)
        assert f.global_method_ == method
        errors[use] = mae(f.predict(H), truth)
    # measured: 0.40 (normalised) and 0.08 (classic) of the error without it
    assert errors[True] < 0.6 * errors[False], errors


def test_a_past_covariate_helps_a_single_series_too():
    ys, ps = leading_panel(1, n_series=1, n=150)
    y, p = ys[0], ps[0]
    errors = {}
    for use in (True, False):
        f = quiet_fit(RNNForecaster(**SMALL), y[:-H], X_past=p[:-H] if use else None)
        assert f.fallback_ == "network"
        errors[use] = mae(f.predict(H), y[-H:])
    assert errors[True] < 0.6 * errors[False], errors


@pytest.mark.parametrize("method", ["normalised", "classic", "single"])
def test_predict_never_asks_for_past_covariates(method):
    ys, ps = leading_panel(2, n_series=6, n=40)
    kw = dict(SMALL, max_iter=5)
    if method == "single":
        f = quiet_fit(RNNForecaster(**kw), ys[0][:-H], X_past=ps[0][:-H])
        new_y, new_p = ys[0][-H:], ps[0][-H:]
    else:
        f = quiet_fit(RNNForecaster(global_method=method, **kw), [y[:-H] for y in ys],
                      X_past=[p[:-H] for p in ps])
        new_y, new_p = [y[-H:] for y in ys], [p[-H:] for p in ps]
    before = np.asarray(f.predict(H))
    fc, lo, hi = f.predict_interval(H, coverage=0.8)
    q = f.predict_quantiles(H, alpha=[0.1, 0.9])
    for a in (before, fc, lo, hi, q):
        assert np.isfinite(np.asarray(a, dtype=float)).all()
    # the fitted series' covariates are kept: passing them again is refused
    with pytest.raises(ValueError, match="kept from fit"):
        f.predict(H, X_past=new_p)
    # update appends the new steps' covariates with the new values...
    with pytest.raises(ValueError, match="X_past_new"):
        f.update(new_y)
    f.update(new_y, X_past_new=new_p)
    after = np.asarray(f.predict(H))
    assert not np.allclose(before, after)


@pytest.mark.parametrize("method", ["normalised", "classic"])
def test_update_reads_the_new_covariates(method):
    """Same fit, same new values, other past covariates for the new steps:
    other forecasts (the network reads its window's covariates; alone, not
    combined with the seasonal naive forecast, which does not)."""
    ys, ps = leading_panel(3, n_series=6, n=40)
    f = quiet_fit(RNNForecaster(global_method=method, combine=False,
                                **dict(SMALL, max_iter=20)),
                  [y[:-H] for y in ys], X_past=[p[:-H] for p in ps])
    g = copy.deepcopy(f)
    f.update([y[-H:] for y in ys], X_past_new=[p[-H:] for p in ps])
    g.update([y[-H:] for y in ys], X_past_new=[p[-H:] + 3.0 for p in ps])
    assert not np.allclose(np.asarray(f.predict(H)), np.asarray(g.predict(H)))


def test_a_new_series_with_its_past_covariates():
    ys, ps = leading_panel(4, n_series=8, n=40)
    f = quiet_fit(RNNForecaster(**dict(SMALL, max_iter=20)), ys, X_past=ps)
    fitted = f.predict(H)
    # a fitted series passed as new, with its covariates, is forecast the same
    again = f.predict(H, y=ys[2], X_past=ps[2])
    np.testing.assert_allclose(again, fitted[2], rtol=1e-6)
    # without them (allowed) the network reads the covariates at their mean
    with pytest.warns(UserWarning, match="X_past was not given"):
        blind = f.predict(H, y=ys[2])
    assert np.isfinite(blind).all() and not np.allclose(blind, fitted[2])
    # their length and width are checked
    with pytest.raises(ValueError, match=r"X_past must have one row per time step of y \(40\)"):
        f.predict(H, y=ys[2], X_past=ps[2][:-1])
    with pytest.raises(ValueError, match="X_past has 2 columns, the model was fit with 1"):
        f.predict(H, y=ys[2], X_past=np.hstack([ps[2], ps[2]]))


def test_past_covariates_of_pandas_series_are_aligned_by_their_index():
    pd = pytest.importorskip("pandas")
    ys, ps = leading_panel(5, n_series=4, n=40)
    index = pd.period_range("2001-01", periods=40, freq="M")
    y_pd = [pd.Series(y, index=index) for y in ys]
    # covariates over a longer span, in another order: aligned by time
    wide = pd.period_range("2000-07", periods=52, freq="M")
    p_pd = []
    for p in ps:
        values = np.concatenate([np.full(6, 99.0), p[:, 0], np.full(6, -99.0)])
        p_pd.append(pd.DataFrame({"lead": values}, index=wide).iloc[::-1])
    kw = dict(SMALL, max_iter=10, season=1)      # the index would say 12
    a = quiet_fit(RNNForecaster(**kw), y_pd, X_past=p_pd).predict(H)
    b = quiet_fit(RNNForecaster(**kw), ys, X_past=ps).predict(H)
    for x, z in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), z, rtol=1e-6)


# ------------------------------------------------------------------ static features

def test_static_categorical_features_change_forecasts():
    pd = pytest.importorskip("pandas")
    ys, groups = drift_panel(0)
    train, truth = [y[:-H] for y in ys], [y[-H:] for y in ys]
    swapped = pd.DataFrame({"group": np.where(groups.group == "up", "down", "up")})
    f = quiet_fit(RNNForecaster(season=1, **dict(SMALL, max_iter=100)), train,
                  static=groups)
    right = f.predict(H, y=train, static=groups)
    wrong = f.predict(H, y=train, static=swapped)
    # the fitted series forecast as new series with the same features: the same
    np.testing.assert_allclose(np.asarray(right), np.asarray(f.predict(H)), rtol=1e-6)
    # the feature moves the forecasts, toward the group's drift
    assert np.abs(np.asarray(right) - np.asarray(wrong)).mean() > 0.3
    up = groups.group.to_numpy() == "up"
    step = np.asarray(right)[:, -1] - np.asarray(wrong)[:, -1]
    assert step[up].mean() > 0 > step[~up].mean()
    # measured: 0.82 of the error with the labels swapped
    assert mae(right, truth) < 0.9 * mae(wrong, truth)


def test_a_category_not_seen_at_fit_is_the_unknown_level():
    pd = pytest.importorskip("pandas")
    ys, groups = drift_panel(1, n_series=10)
    f = quiet_fit(RNNForecaster(season=1, **dict(SMALL, max_iter=5)), ys, static=groups)
    with pytest.warns(UserWarning, match="'sideways' of column 'group'.*unknown level"):
        fc = f.predict(H, y=ys[0], static={"group": "sideways"})
    assert np.isfinite(fc).all()
    rows, unseen = f._static_encoder.transform(pd.DataFrame({"group": ["sideways", "up"]}), 2)
    np.testing.assert_array_equal(rows, [[0, 0], [0, 1]])     # levels: down, up
    assert unseen == [("group", "sideways")]


def test_static_encoder_standardises_numbers_and_one_hot_encodes_categories():
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"size": [1.0, 2.0, 3.0, 6.0],
                          "region": ["n", "s", "n", "e"],
                          "code": pd.Series([3, 1, 3, 1]).astype("category"),
                          "open": [True, False, True, True]})
    enc = StaticEncoder().fit(table, 4)
    assert enc.kinds_ == ["numeric", "categorical", "categorical", "categorical"]
    rows, unseen = enc.transform(table, 4)
    assert rows.shape == (4, 1 + 3 + 2 + 2) and unseen == []
    assert rows[:, 0].mean() == pytest.approx(0) and rows[:, 0].std() == pytest.approx(1)
    np.testing.assert_array_equal(rows[:, 1:4], [[0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    assert (rows[:, 1:].sum(axis=1) == 3).all()          # one level per categorical column
    # one series' row as a dict or a Series, columns by name in any order
    one, _ = enc.transform({"open": False, "code": 1, "region": "s", "size": 2.0}, 1)
    np.testing.assert_array_equal(one[0], rows[1])
    one, _ = enc.transform(pd.Series({"region": "s", "size": 2.0, "code": 1,
                                      "open": False}), 1)
    np.testing.assert_array_equal(one[0], rows[1])
    # a NumPy table: columns of numbers are numeric, of strings categorical
    arr = np.array([[1.5, "a"], [2.5, "b"]], dtype=object)
    enc = StaticEncoder().fit(arr, 2)
    assert enc.kinds_ == ["numeric", "categorical"]
    with pytest.raises(ValueError, match="columns"):
        enc.transform(np.array([[1.0]]), 1)
    # pandas' own missing values count as missing; dicts are no categories
    text = pd.DataFrame({"kind": pd.array(["a", pd.NA], dtype="string")})
    with pytest.raises(ValueError, match="'kind' has a missing value.*series 1"):
        StaticEncoder().fit(text, 2)
    with pytest.raises(TypeError, match="cannot be categories"):
        StaticEncoder().fit(np.array([[{}], [{}]], dtype=object), 2)
    # True == 1 in Python: as categories they are two levels, not one
    mixed = np.array([[True], [1], ["x"], [1]], dtype=object)
    enc = StaticEncoder().fit(mixed, 4)
    rows, unseen = enc.transform(mixed, 4)
    assert rows.shape == (4, 3) and unseen == []
    assert not np.array_equal(rows[0], rows[1]) and np.array_equal(rows[1], rows[3])
    _, unseen = enc.transform(np.array([[False]], dtype=object), 1)
    assert unseen == [(0, False)]


def test_per_series_classic_models_read_static_features_too():
    ys, groups = drift_panel(2, n_series=10)
    f = quiet_fit(RNNForecaster(global_method="classic", season=1, differencing=0,
                                **dict(SMALL, max_iter=5)), ys, static=groups)
    # the encoded row (2 levels) is an input of every step: 1 value, 1 flag, 2 static
    assert f.regressor_.n_features_in_ == 4
    assert np.isfinite(np.asarray(f.predict(H))).all()


# --------------------------------------------------------------------- bad inputs

def _panel(n_series=5, n=30):
    ys, ps = leading_panel(9, n_series=n_series, n=n)
    return ys, ps


def _bad_fit_cases():
    pd = pytest.importorskip("pandas")
    ys, ps = _panel()
    static = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0], "kind": list("aabba")})
    nan_size = static.assign(size=[1.0, np.nan, 3.0, 4.0, 5.0])
    none_kind = static.assign(kind=["a", None, "b", "b", "a"])
    inf_size = static.assign(size=[1.0, np.inf, 3.0, 4.0, 5.0])
    short = list(ps)
    short[1] = ps[1][:-1]
    nan_past = [p.copy() for p in ps]
    nan_past[0][3, 0] = np.nan
    wide = list(ps)
    wide[2] = np.hstack([ps[2], ps[2]])
    return {
        "static_missing_a_row": (dict(y=ys, static=static.iloc[:4]),
                                 "static has 4 rows, one per series is needed"),
        "static_one_row_too_many": (dict(y=ys[:4], static=static),
                                    "static has 5 rows.*one per series"),
        "static_nan": (dict(y=ys, static=nan_size),
                       "static column 'size' has a missing value.*series 1"),
        "static_none_category": (dict(y=ys, static=none_kind),
                                 "static column 'kind' has a missing value.*series 1"),
        "static_inf": (dict(y=ys, static=inf_size), "static column 'size' contains infinity"),
        # (an AttributeError from inside the encoder before)
        "static_column_twice": (dict(y=ys, static=static.set_axis(["size", "size"], axis=1)),
                                "static names the column 'size' twice"),
        "static_of_one_series": (dict(y=ys[0], static=static.iloc[:1]),
                                 "single series"),
        "past_wrong_length": (dict(y=ys, X_past=short),
                              r"X_past\[1\] must have one row per time step of y \(30\)"),
        "past_nan": (dict(y=ys, X_past=nan_past), r"X_past\[0\] contains NaN"),
        "past_widths_differ": (dict(y=ys, X_past=wide), "different numbers of columns"),
        "past_series_count": (dict(y=ys, X_past=ps[:3]), "X_past has 3 series, y has 5"),
        "past_one_series_wrong_length": (dict(y=ys[0], X_past=ps[0][:-2]),
                                         r"X_past must have one row per time step of y"),
        "past_recursive": (dict(y=ys[0], X_past=ps[0], strategy="recursive"),
                           "strategy='direct'"),
    }


@pytest.mark.parametrize("case", ["static_missing_a_row", "static_one_row_too_many",
                                  "static_nan", "static_none_category", "static_inf",
                                  "static_column_twice",
                                  "static_of_one_series", "past_wrong_length", "past_nan",
                                  "past_widths_differ", "past_series_count",
                                  "past_one_series_wrong_length", "past_recursive"])
@pytest.mark.parametrize("method", ["auto", "classic"])
def test_bad_covariates_are_refused_before_training(case, method, no_training):
    kw, match = _bad_fit_cases()[case]
    kw = dict(kw)
    strategy = kw.pop("strategy", "direct")
    y = kw.pop("y")
    f = RNNForecaster(global_method=method, strategy=strategy, **dict(SMALL, max_iter=5))
    with pytest.raises(ValueError, match=match):
        f.fit(y, **kw)


def test_bad_covariates_at_predict_and_update():
    pd = pytest.importorskip("pandas")
    ys, ps = _panel()
    static = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 5.0], "kind": list("aabba")})
    f = quiet_fit(RNNForecaster(**dict(SMALL, max_iter=3)), ys, X_past=ps, static=static)
    with pytest.raises(ValueError, match="pass static= with y="):
        f.predict(H, y=ys[0], X_past=ps[0])
    with pytest.raises(ValueError, match="columns"):
        f.predict(H, y=ys[0], X_past=ps[0], static={"size": 1.0, "colour": "red"})
    with pytest.raises(ValueError, match="static column 'size' has a missing value"):
        f.predict(H, y=ys[0], X_past=ps[0], static={"size": np.nan, "kind": "a"})
    with pytest.raises(ValueError, match="kept from fit"):
        f.predict(H, static=static)
    with pytest.raises(ValueError, match="X_past_new has 2 columns, the model was fit with 1"):
        f.update([y[:2] for y in ys], X_past_new=[np.ones((2, 2))] * 5)
    with pytest.raises(ValueError, match=r"X_past_new\[0\] must have one row per time step"):
        f.update([y[:2] for y in ys], X_past_new=[np.ones((3, 1))] * 5)
    g = quiet_fit(RNNForecaster(**dict(SMALL, max_iter=3)), ys)
    with pytest.raises(ValueError, match="without past-only covariates"):
        g.predict(H, y=ys[0], X_past=ps[0])
    with pytest.raises(ValueError, match="without static features"):
        g.predict(H, y=ys[0], static={"size": 1.0})
    with pytest.raises(ValueError, match="without past-only covariates"):
        g.update([y[:2] for y in ys], X_past_new=[p[:2] for p in ps])


def test_a_short_series_with_past_covariates_gets_the_statistical_fallback():
    from seqcore._smoothing import stat_forecasts

    ys, ps = _panel(n_series=1, n=6)
    with pytest.warns(UserWarning, match="statistical forecast"):
        f = RNNForecaster(**SMALL).fit(ys[0], X_past=ps[0])
    assert f.fallback_ == "statistical"
    np.testing.assert_allclose(f.predict(H), stat_forecasts([ys[0]], H, 1)[0])
    f.update(ys[0][:2], X_past_new=ps[0][:2])
    assert np.isfinite(f.predict(H)).all()


# ------------------------------------------------------------ different frequencies

def test_a_global_model_over_different_frequencies_is_refused(no_training):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    monthly = pd.Series(100 + rng.standard_normal(48),
                        index=pd.period_range("2000-01", periods=48, freq="M"))
    quarterly = pd.Series(100 + rng.standard_normal(48),
                          index=pd.period_range("2000Q1", periods=48, freq="Q"))
    f = RNNForecaster(**SMALL)
    with pytest.raises(ValueError, match="different frequencies.*season 12.*season 4"):
        f.fit([monthly, quarterly])
    with pytest.raises(ValueError, match="different frequencies"):
        RNNForecaster(global_method="classic", **SMALL).fit([monthly, quarterly])


def test_a_season_given_for_different_frequencies_warns():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    monthly = pd.Series(100 + rng.standard_normal(48),
                        index=pd.period_range("2000-01", periods=48, freq="M"))
    quarterly = pd.Series(100 + rng.standard_normal(48),
                          index=pd.period_range("2000Q1", periods=48, freq="Q"))
    with pytest.warns(UserWarning, match="different frequencies.*season=4"):
        f = RNNForecaster(season=4, **dict(SMALL, max_iter=2)).fit([monthly, quarterly])
    assert f.season_ == 4


# ------------------------------------------------------------------ forecast_many

def _long_table(n_series=8, n=40, seed=0):
    pd = pytest.importorskip("pandas")
    ys, ps = leading_panel(seed, n_series=n_series, n=n)
    rows = []
    for i, (y, p) in enumerate(zip(ys, ps)):
        for t in range(n):
            rows.append({"id": f"s{i}", "time": t, "value": y[t], "lead": p[t, 0],
                         "region": "north" if i % 2 else "south", "size": float(i)})
    # rows out of time order within each series (the series in their order)
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    return table.sort_values("id", kind="stable"), ys, ps


def test_forecast_many_passes_the_tables_covariates_to_the_forecaster():
    pd = pytest.importorskip("pandas")
    table, ys, ps = _long_table()
    f = RNNForecaster(**dict(SMALL, max_iter=10))
    res = forecast_many(table, horizon=H, forecaster=f, global_model=True, backtest=False,
                        past="lead", static=["region", "size"], random_state=0)
    static = pd.DataFrame({"region": ["north" if i % 2 else "south" for i in range(8)],
                           "size": np.arange(8.0)})
    direct = quiet_fit(RNNForecaster(**dict(SMALL, max_iter=10)), ys, X_past=ps,
                       static=static).predict(H)
    for i in range(8):
        np.testing.assert_allclose(res.forecasts[f"s{i}"], direct[i], rtol=1e-6)


def test_forecast_many_backtests_with_past_covariates():
    table, ys, ps = _long_table(n_series=3)
    f = RNNForecaster(**dict(SMALL, max_iter=5))
    for global_model in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = forecast_many(table, horizon=H, forecaster=f, global_model=global_model,
                                past=["lead"], random_state=0)
        assert set(res.scores) == {"s0", "s1", "s2"}
        assert np.isfinite(res.mean_scores["mase"])


def test_forecast_many_per_series_says_it_ignores_static_features():
    table, _, _ = _long_table(n_series=2)
    with pytest.warns(UserWarning, match="ignores them"):
        forecast_many(table, horizon=H, forecaster=RNNForecaster(**dict(SMALL, max_iter=2)),
                      backtest=False, static="region", random_state=0)


@pytest.mark.parametrize("change, kw, error, match", [
    ("static_changes", dict(static="size"), ValueError,
     "static column 'size' changes within series 's3'"),
    ("static_missing", dict(static="region"), ValueError,
     "static column 'region' has a missing value for series 's3'"),
    ("past_missing", dict(past="lead"), ValueError,
     "past column 'lead' has a missing or infinite value for series 's3'"),
    (None, dict(past="price"), ValueError, "no column 'price'"),
    (None, dict(past="value"), ValueError, "'value' is the id, time or value column"),
    (None, dict(past="lead", static="lead"), ValueError, "both past and static"),
    (None, dict(past="lead", forecaster=ThetaForecaster()), TypeError,
     "need an RNNForecaster"),
])
def test_forecast_many_refuses_bad_covariate_columns(change, kw, error, match, no_training):
    table, _, _ = _long_table()
    table = table.copy()
    rows = table.index[table["id"] == "s3"]
    if change == "static_changes":
        table.loc[rows[0], "size"] = 99.0
    elif change == "static_missing":
        table.loc[rows[0], "region"] = None
    elif change == "past_missing":
        table.loc[rows[0], "lead"] = np.nan
    kw = dict(kw)
    forecaster = kw.pop("forecaster", RNNForecaster(**SMALL))
    with pytest.raises(error, match=match):
        forecast_many(table, horizon=H, forecaster=forecaster, global_model=True,
                      backtest=False, **kw)


def test_forecast_many_refuses_covariates_of_a_dict_of_arrays(no_training):
    with pytest.raises(ValueError, match="columns of a long table"):
        forecast_many({"a": np.arange(30.0)}, horizon=H, past="lead")


def test_forecast_many_refuses_a_global_model_over_different_frequencies(no_training):
    pd = pytest.importorskip("pandas")
    months = pd.date_range("2000-01-01", periods=30, freq="MS")
    quarters = pd.date_range("2000-01-01", periods=30, freq="QS")
    table = pd.DataFrame({"id": ["m"] * 30 + ["q"] * 30,
                          "time": np.concatenate([months, quarters]),
                          "value": np.arange(60.0) + 1})
    with pytest.raises(ValueError, match="different frequencies"):
        forecast_many(table, horizon=H, global_model=True, backtest=False,
                      forecaster=RNNForecaster(**SMALL))

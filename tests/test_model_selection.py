"""Tests for seqcore.model_selection: the metrics against values worked by
hand, the seasonal naive forecast, and rolling-origin backtesting."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from seqcore import RNNForecaster
from seqcore.model_selection import backtest, mae, mase, seasonal_naive, smape

# ------------------------------------------------------------------ metrics


def test_mae_by_hand():
    # |1-2| + |2-2| + |3-1| + |4-4| = 3, over 4 values
    assert mae([1, 2, 3, 4], [2, 2, 1, 4]) == pytest.approx(0.75)
    assert mae(np.array([5.0]), np.array([5.0])) == 0.0
    assert isinstance(mae([1], [2]), float)


def test_smape_by_hand():
    # 2*10/(100+110) = 0.095238..., 2*20/(200+180) = 0.105263..., and 0/0 counts 0
    expected = 100 * (20 / 210 + 40 / 380 + 0.0) / 3
    assert smape([100, 200, 0], [110, 180, 0]) == pytest.approx(expected, rel=1e-12)
    assert smape([100, 200, 0], [110, 180, 0]) == pytest.approx(6.683375, abs=1e-6)


def test_smape_bounds_and_symmetry():
    assert smape([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert smape([1.0], [-1.0]) == pytest.approx(200.0)      # opposite signs: the maximum
    assert smape([0.0], [5.0]) == pytest.approx(200.0)
    assert smape([3.0], [5.0]) == pytest.approx(smape([5.0], [3.0]))   # 2*2/8 = 50%
    assert smape([3.0], [5.0]) == pytest.approx(50.0)


def test_mase_by_hand():
    y_train = [1, 3, 2, 4, 3]
    # MAE = (|5-4| + |7-10|)/2 = 2
    # season 1: in-sample naive errors 2, 1, 2, 1 -> scale 1.5 -> 2/1.5
    assert mase([5, 7], [4, 10], y_train) == pytest.approx(4 / 3)
    # season 2: |2-1|, |4-3|, |3-2| -> scale 1 -> 2
    assert mase([5, 7], [4, 10], y_train, season=2) == pytest.approx(2.0)


def test_mase_errors():
    with pytest.raises(ValueError, match="season"):
        mase([1.0], [1.0], [1.0, 2.0], season=2)          # needs more than `season` values
    with pytest.raises(ValueError, match="undefined"):
        mase([1.0], [2.0], [3.0, 3.0, 3.0])               # naive is exact in sample


def test_seasonal_naive_by_hand():
    y = np.arange(1.0, 9.0)                               # 1 .. 8
    np.testing.assert_array_equal(seasonal_naive(y, 5, season=3), [6, 7, 8, 6, 7])
    np.testing.assert_array_equal(seasonal_naive(y, 3), [8, 8, 8])
    np.testing.assert_array_equal(seasonal_naive(y, 10, season=8), [1, 2, 3, 4, 5, 6, 7, 8, 1, 2])
    np.testing.assert_array_equal(seasonal_naive([4, 2], 2, season=2), [4, 2])
    with pytest.raises(ValueError, match="season"):
        seasonal_naive(y[:2], 3, season=3)


# ----------------------------------------------------------------- backtest

def seasonal_trend(n=40):
    """y_t = t + s[t mod 4] with s = (0, 3, 1, 2): a unit trend and a season of 4.

    From any origin, the seasonal naive forecast (season 4) of the next 4
    values is off by exactly 4 each (the trend over one season), and the
    in-sample seasonal differences are all 4: naive MAE 4, naive MASE 1.
    """
    t = np.arange(n, dtype=float)
    return t + np.array([0.0, 3.0, 1.0, 2.0])[t.astype(int) % 4]


class SeasonalDrift(BaseEstimator):
    """Seasonal naive plus the mean seasonal difference: exact on seasonal_trend."""

    def __init__(self, season=4):
        self.season = season

    def fit(self, y):
        y = np.asarray(y, float)
        self.last_ = y[-self.season:]
        self.drift_ = np.mean(y[self.season:] - y[:-self.season])
        return self

    def predict(self, fh):
        h = np.arange(fh)
        return self.last_[h % self.season] + self.drift_ * (h // self.season + 1)


class TrainMean(BaseEstimator):
    """Forecasts the mean of the training values."""

    def fit(self, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, fh):
        return np.full(fh, self.mean_)


def test_backtest_origins_shapes_and_exact_naive_scores():
    y = seasonal_trend(40)
    result = backtest(SeasonalDrift(), y, horizon=4, n_origins=3, season=4)
    np.testing.assert_array_equal(result["origins"], [28, 32, 36])
    assert result["forecasts"].shape == (3, 4)
    for key in ("mae", "smape", "mase", "naive_mae", "naive_smape", "naive_mase"):
        assert result[key].shape == (3,)
        assert result["mean"][key] == pytest.approx(result[key].mean())
    np.testing.assert_allclose(result["forecasts"], [y[28:32], y[32:36], y[36:40]], atol=1e-12)
    # the model is exact
    np.testing.assert_allclose(result["mae"], 0.0, atol=1e-12)
    np.testing.assert_allclose(result["mase"], 0.0, atol=1e-12)
    np.testing.assert_allclose(result["smape"], 0.0, atol=1e-10)
    # the seasonal naive forecast is off by 4 everywhere
    np.testing.assert_allclose(result["naive_mae"], 4.0, rtol=1e-12)
    np.testing.assert_allclose(result["naive_mase"], 1.0, rtol=1e-12)
    for o, got in zip((28, 32, 36), result["naive_smape"]):
        test = y[o:o + 4]   # forecast = test - 4: 2*4 / (test + test - 4)
        assert got == pytest.approx(100 * np.mean(8 / (2 * test - 4)), rel=1e-12)


def test_backtest_scores_a_simple_model():
    y = seasonal_trend(40)
    result = backtest(TrainMean(), y, horizon=4, n_origins=2, season=4)
    np.testing.assert_array_equal(result["origins"], [32, 36])
    for i, o in enumerate((32, 36)):
        train, test = y[:o], y[o:o + 4]
        f = np.full(4, train.mean())
        np.testing.assert_allclose(result["forecasts"][i], f)
        assert result["mae"][i] == pytest.approx(np.mean(np.abs(test - f)))
        assert result["smape"][i] == pytest.approx(
            100 * np.mean(2 * np.abs(test - f) / (np.abs(test) + np.abs(f))))
        assert result["mase"][i] == pytest.approx(np.mean(np.abs(test - f)) / 4.0)


def test_backtest_step_between_origins():
    y = seasonal_trend(40)
    result = backtest(TrainMean(), y, horizon=4, n_origins=3, step=2, season=4)
    np.testing.assert_array_equal(result["origins"], [32, 34, 36])
    # one origin by default, the last possible one
    np.testing.assert_array_equal(backtest(TrainMean(), y, horizon=4)["origins"], [36])


def test_backtest_accepts_plain_forecaster_object():
    """The docstring promises "any object with fit(y) and predict(fh)"."""

    class Plain:
        def fit(self, y):
            self.last_ = float(y[-1])
            return self

        def predict(self, fh):
            return np.full(fh, self.last_)

    result = backtest(Plain(), seasonal_trend(40), horizon=4, n_origins=2, season=4)
    np.testing.assert_array_equal(result["forecasts"][:, 0], [31 + 2, 35 + 2])


def test_backtest_rnn_forecaster_on_clones():
    rng = np.random.default_rng(0)
    t = np.arange(96)
    y = 50 + 5 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(96)
    forecaster = RNNForecaster(window=12, horizon=6, hidden_size=8, max_iter=3,
                               calibration_size=0.2, random_state=0)
    result = backtest(forecaster, y, horizon=6, n_origins=2, season=12)
    np.testing.assert_array_equal(result["origins"], [84, 90])
    assert result["forecasts"].shape == (2, 6)
    assert np.isfinite(result["forecasts"]).all()
    assert np.isfinite(list(result["mean"].values())).all()
    assert not hasattr(forecaster, "regressor_")           # clones were fit, not it
    assert forecaster.get_params()["calibration_size"] == 0.2
    for i, o in enumerate((84, 90)):                        # the naive side is exact
        naive = y[o - 12:o - 6]
        assert result["naive_mae"][i] == pytest.approx(np.mean(np.abs(y[o:o + 6] - naive)))


BAD_BACKTEST = {
    "2d_series": (dict(y=np.ones((40, 2)), horizon=4), "1-D"),
    "too_short_for_origins": (dict(horizon=4, n_origins=10, season=4), "too short"),
    "horizon_longer_than_series": (dict(horizon=50), "too short"),
    "horizon_zero": (dict(horizon=0), "horizon"),
    "n_origins_zero": (dict(horizon=4, n_origins=0), "n_origins"),
    "step_zero": (dict(horizon=4, n_origins=3, step=0), "step"),
    "step_negative": (dict(horizon=4, n_origins=3, step=-4), "step"),
    "season_zero": (dict(horizon=4, season=0), "season"),
}


@pytest.mark.parametrize("case", list(BAD_BACKTEST))
def test_backtest_bad_arguments(case):
    kwargs, match = BAD_BACKTEST[case]
    kwargs = dict(kwargs)
    y = kwargs.pop("y", seasonal_trend(40))
    with pytest.raises(ValueError, match=match):
        backtest(TrainMean(), y, **kwargs)


def test_rolling_origin_splitter():
    from seqcore.model_selection import RollingOrigin
    cv = RollingOrigin(horizon=4, n_origins=3, step=2)
    assert cv.origins(40) == [32, 34, 36] and cv.get_n_splits() == 3
    splits = list(cv.split(np.zeros(40)))
    assert [(len(tr), te.tolist()) for tr, te in splits] == [
        (32, [32, 33, 34, 35]), (34, [34, 35, 36, 37]), (36, [36, 37, 38, 39])]
    assert all(tr[-1] + 1 == te[0] for tr, te in splits)
    with pytest.raises(ValueError, match="too short"):
        RollingOrigin(horizon=4, n_origins=3, min_train=30).origins(40)
    for bad in (dict(horizon=0), dict(horizon=4, n_origins=0), dict(horizon=4, step=-1)):
        with pytest.raises(ValueError):
            RollingOrigin(**bad)
    # scikit-learn's cross-validation tools take it as a splitter
    from sklearn.model_selection import check_cv
    assert check_cv(cv) is cv


def test_backtest_fits_on_pandas_slices():
    pd = pytest.importorskip("pandas")
    y = seasonal_trend(40)
    seen = []

    class Spy(TrainMean):
        def fit(self, y):
            seen.append(y.index[-1])
            return super().fit(y)

    series = pd.Series(y, index=pd.period_range("2000-01", periods=40, freq="M"))
    result = backtest(Spy(), series, horizon=4, n_origins=2, season=4)
    assert seen == [series.index[31], series.index[35]]
    np.testing.assert_array_equal(result["forecasts"], backtest(TrainMean(), y, horizon=4,
                                                                n_origins=2, season=4)["forecasts"])

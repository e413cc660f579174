"""LossCurveDisplay and ForecastDisplay: what they draw and what they refuse."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from seqcore import ForecastDisplay, LossCurveDisplay, RNNClassifier, RNNForecaster
from seqcore.preprocessing import SequenceScaler

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fit_quiet(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(*args)


@pytest.fixture(scope="module")
def forecaster():
    y = 10 + np.sin(np.arange(60) / 3) + np.arange(60) / 20
    return fit_quiet(RNNForecaster(window=8, horizon=4, hidden_size=4, max_iter=3,
                                   random_state=0), y), y


def test_loss_curve_from_estimator_with_validation():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5, 2)), np.arange(40) % 2
    clf = fit_quiet(RNNClassifier(hidden_size=3, max_iter=4, early_stopping=True,
                                  random_state=0), X, y)
    disp = LossCurveDisplay.from_estimator(clf)
    np.testing.assert_array_equal(disp.line_.get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(disp.line_.get_xdata(), np.arange(1, clf.n_iter_ + 1))
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("epoch", "training loss")
    assert disp.ax_validation_.get_ylabel() == "validation score"
    np.testing.assert_array_equal(disp.validation_line_.get_ydata(), clf.validation_scores_)
    assert disp.figure_ is disp.ax_.figure and disp.ax_.get_title() == "RNNClassifier"


def test_loss_curve_of_pipeline_and_forecaster(forecaster):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 4, 2)), np.arange(20) % 2
    pipe = fit_quiet(make_pipeline(SequenceScaler(), RNNClassifier(hidden_size=3, max_iter=2)),
                     X, y)
    fig, ax = plt.subplots()
    disp = LossCurveDisplay.from_estimator(pipe, ax=ax, log_scale=True, color="k")
    assert disp.ax_ is ax and ax.get_yscale() == "log" and disp.validation_line_ is None
    fc, _ = forecaster
    disp = LossCurveDisplay.from_estimator(fc)
    np.testing.assert_array_equal(disp.line_.get_ydata(), fc.regressor_.loss_curve_)
    assert disp.ax_.get_title() == "RNNForecaster"


def test_loss_curve_refusals():
    with pytest.raises(NotFittedError):
        LossCurveDisplay.from_estimator(RNNClassifier())
    with pytest.raises(ValueError, match="empty"):
        LossCurveDisplay([]).plot()
    with pytest.raises(ValueError, match="1-D"):
        LossCurveDisplay([[1.0, 2.0]]).plot()


def test_forecast_display_from_estimator(forecaster):
    fc, y = forecaster
    disp = ForecastDisplay.from_estimator(fc, y, 4, coverage=0.8, series_name="level")
    point, lo, hi = fc.predict_interval(4, coverage=0.8)
    np.testing.assert_array_equal(disp.forecast_line_.get_ydata(), point)
    np.testing.assert_array_equal(disp.forecast_line_.get_xdata(), np.arange(60, 64))
    np.testing.assert_array_equal(disp.history_line_.get_ydata(), y)
    assert disp.interval_ is not None
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("time step", "level")
    labels = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert labels == ["history", "forecast", "80% interval"]
    # without an interval, with dates, a chosen set of steps
    dates = np.arange("2020-01", "2025-01", dtype="datetime64[M]")
    disp = ForecastDisplay.from_estimator(fc, y, np.array([1, 3]), coverage=None, index=dates)
    assert disp.interval_ is None and disp.ax_.get_xlabel() == "time"
    assert list(disp.forecast_line_.get_xdata()) == list(
        np.array(["2025-01", "2025-03"], dtype="datetime64[M]"))


def test_forecast_display_refusals(forecaster):
    fc, y = forecaster
    with pytest.raises(NotFittedError):
        ForecastDisplay.from_estimator(RNNForecaster(), y, 3)
    with pytest.raises(ValueError, match="series= applies"):
        ForecastDisplay.from_estimator(fc, y, 3, series=1)
    with pytest.raises(ValueError, match="both lower and upper"):
        ForecastDisplay(y, [1.0, 2.0], lower=[0.0, 1.0]).plot()
    with pytest.raises(ValueError, match="index must have"):
        ForecastDisplay(y, [1.0], index=np.arange(3)).plot()
    with pytest.raises(ValueError, match="forecast's shape"):
        ForecastDisplay(y, [1.0, 2.0], [0.0], [3.0]).plot()

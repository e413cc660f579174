"""Rolling-origin backtesting of forecasters, with MAE, sMAPE and MASE
against the seasonal naive forecast.

``RollingOrigin`` is the one source of rolling origins: ``backtest`` and
``seqcore.forecasting.forecast_many`` both ask it where to cut a series.
"""

import copy
import numbers

import numpy as np
from sklearn.base import clone

__all__ = ["RollingOrigin", "backtest", "score_origins", "mae", "smape", "mase", "seasonal_naive"]


def _pair(y_true, y_pred):
    """Two finite, non-empty float arrays of one shape."""
    y, f = (np.asarray(a, dtype=np.float64) for a in (y_true, y_pred))
    if y.shape != f.shape:
        raise ValueError(f"y_true and y_pred have different shapes: {y.shape} and {f.shape}")
    if y.size == 0:
        raise ValueError("y_true and y_pred are empty")
    if not (np.isfinite(y).all() and np.isfinite(f).all()):
        raise ValueError("y_true or y_pred contains NaN or infinity")
    return y, f


def mae(y_true, y_pred):
    """Mean absolute error, ``mean(|y_true - y_pred|)``.

    Parameters
    ----------
    y_true, y_pred : array-like of one shape
        Observed and forecast values (finite).

    Returns
    -------
    mae : float
    """
    y, f = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - f)))


def smape(y_true, y_pred):
    """Symmetric mean absolute percentage error, in percent (0 to 200).

    ``100 * mean(2 |y - f| / (|y| + |f|))``; a term with ``y = f = 0`` counts 0.

    Parameters
    ----------
    y_true, y_pred : array-like of one shape
        Observed values y and forecasts f (finite).

    Returns
    -------
    smape : float
    """
    y, f = _pair(y_true, y_pred)
    den = np.abs(y) + np.abs(f)
    ratio = np.divide(2 * np.abs(y - f), den, out=np.zeros_like(den), where=den > 0)
    return float(100 * np.mean(ratio))


def mase(y_true, y_pred, y_train, season=1):
    """Mean absolute scaled error: MAE over the in-sample MAE of the
    seasonal naive forecast (lag ``season``) on ``y_train``.

    Parameters
    ----------
    y_true, y_pred : array-like of one shape
        Observed and forecast values (finite).
    y_train : array-like of shape (n,)
        The series the forecast was made from; more than ``season`` values.
    season : int, default=1
        Lag of the naive forecast (1: the last value).

    Returns
    -------
    mase : float
        Below 1: better than the seasonal naive forecast in sample.

    Raises
    ------
    ValueError
        When the naive forecast is exact in sample (the scale is 0).
    """
    _check_positive(season, "season")
    y_train = np.asarray(y_train, float)
    if y_train.ndim != 1 or not np.isfinite(y_train).all():
        raise ValueError("y_train must be a 1-D series of finite values")
    if len(y_train) <= season:
        raise ValueError(f"y_train needs more than season={season} values for MASE")
    scale = np.mean(np.abs(y_train[season:] - y_train[:-season]))
    if scale == 0:
        raise ValueError("MASE is undefined: the seasonal naive forecast is exact in sample")
    return mae(y_true, y_pred) / scale


def seasonal_naive(y_train, horizon, season=1):
    """Repeat the last ``season`` values: forecast of steps 1..horizon.

    Parameters
    ----------
    y_train : array-like of shape (n,)
        At least ``season`` values.
    horizon : int
        Steps to forecast.
    season : int, default=1

    Returns
    -------
    forecast : ndarray of shape (horizon,)
    """
    _check_positive(season, "season")
    _check_positive(horizon, "horizon")
    y_train = np.asarray(y_train, float)
    if len(y_train) < season:
        raise ValueError(f"y_train needs at least season={season} values")
    last = y_train[-season:]
    return np.array([last[h % season] for h in range(horizon)])


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class RollingOrigin:
    """Cross-validation splitter of a time series by rolling forecast origins.

    The last ``n_origins`` origins, ``step`` apart, the last one at
    ``n - horizon``: split k trains on ``y[:o_k]`` and tests on
    ``y[o_k:o_k + horizon]``.  Like scikit-learn's ``TimeSeriesSplit``, it
    yields index arrays and has ``get_n_splits``.

    Parameters
    ----------
    horizon : int
        Length of each test window.
    n_origins : int, default=1
    step : int, optional
        Distance between origins; defaults to ``horizon``.
    min_train : int, default=1
        The fewest values the first origin may leave to train on.

    Examples
    --------
    >>> from seqcore.model_selection import RollingOrigin
    >>> cv = RollingOrigin(horizon=3, n_origins=2)
    >>> cv.origins(20)
    [14, 17]
    >>> [(len(tr), te.tolist()) for tr, te in cv.split(list(range(20)))]
    [(14, [14, 15, 16]), (17, [17, 18, 19])]
    """

    def __init__(self, horizon, n_origins=1, step=None, min_train=1):
        self.horizon = _check_positive(horizon, "horizon")
        self.n_origins = _check_positive(n_origins, "n_origins")
        self.step = self.horizon if step is None else _check_positive(step, "step")
        self.min_train = _check_positive(min_train, "min_train")

    def origins(self, n):
        """The forecast origins for a series of length n, earliest first.

        Parameters
        ----------
        n : int
            Length of the series.

        Returns
        -------
        list of int
            The ``n_origins`` origins: split k trains on the first
            ``origins[k]`` values.

        Raises
        ------
        ValueError
            When the first origin leaves fewer than ``min_train`` values to
            train on.
        """
        origins = [n - self.horizon - i * self.step for i in range(self.n_origins)][::-1]
        if origins[0] < self.min_train:
            raise ValueError(
                f"the series is too short for these origins: {n} values, horizon="
                f"{self.horizon}, {self.n_origins} origin(s) {self.step} apart leave "
                f"{max(origins[0], 0)} values before the first, fewer than {self.min_train}")
        return origins

    def get_n_splits(self, X=None, y=None, groups=None):
        """The number of splits, ``n_origins``.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for scikit-learn's splitter interface.

        Returns
        -------
        int
            ``n_origins``.
        """
        return self.n_origins

    def split(self, X, y=None, groups=None):
        """Train and test indices of each origin, earliest first.

        Parameters
        ----------
        X : array-like of length n
            The series (or its feature rows): only its length is read.
        y, groups : object
            Ignored; present for scikit-learn's splitter interface.

        Yields
        ------
        train : ndarray of int
            ``range(o)``, the values before origin o.
        test : ndarray of int
            ``range(o, o + horizon)``.
        """
        n = len(X)
        for o in self.origins(n):
            yield np.arange(o), np.arange(o, o + self.horizon)

    def __repr__(self):
        return (f"RollingOrigin(horizon={self.horizon}, n_origins={self.n_origins}, "
                f"step={self.step}, min_train={self.min_train})")


def backtest(forecaster, y, *, horizon, n_origins=1, step=None, season=1):
    """Evaluate a forecaster from rolling origins at the end of a series.

    For each origin o of ``RollingOrigin(horizon, n_origins, step)`` (the
    last ``n_origins`` origins, ``step`` apart, the last one at
    ``len(y) - horizon``), a clone of ``forecaster`` is fit on
    ``y[:o]`` and forecasts ``horizon`` steps, scored against ``y[o:o+horizon]``
    and against the seasonal naive forecast from the same origin.

    Parameters
    ----------
    forecaster : RNNForecaster (or any object with fit(y) and predict(fh))
    y : array of shape (n_timesteps,), or a pandas Series (the forecaster
        is then fit on its slices, index included)
    horizon : int
    n_origins : int, default=1
    step : int, optional
        Distance between origins; defaults to ``horizon``.
    season : int, default=1
        Period of the seasonal naive benchmark and of MASE's scale.

    Returns
    -------
    dict
        ``origins``; per origin ``mae``, ``smape``, ``mase`` of the model and
        ``naive_mae``, ``naive_smape``, ``naive_mase``; their means under
        ``mean``; and ``forecasts`` (n_origins, horizon).
    """
    series = y if hasattr(y, "iloc") else None     # a pandas Series: fit on its slices
    y = np.asarray(y.to_numpy() if series is not None else y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError("backtest takes one series (1-D y)")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity")
    _check_positive(season, "season")
    origins = RollingOrigin(horizon, n_origins, step, min_train=season + 1).origins(len(y))
    forecasts = []
    for o in origins:
        if hasattr(forecaster, "get_params"):
            model = clone(forecaster)
            if "calibration_size" in model.get_params():
                model.set_params(calibration_size=0)   # intervals are not scored here
        else:
            model = copy.deepcopy(forecaster)
        pred = model.fit(y[:o] if series is None else series.iloc[:o]).predict(horizon)
        forecasts.append(np.asarray(getattr(pred, "to_numpy", lambda: pred)(), dtype=float))
    return score_origins(y, origins, forecasts, horizon=horizon, season=season)


def score_origins(y, origins, forecasts, *, horizon, season=1):
    """Score forecasts made from rolling origins, and the seasonal naive ones.

    Parameters
    ----------
    y : array of shape (n_timesteps,)
    origins : sequence of int
        Forecast i starts at ``y[origins[i]]`` and was made from ``y[:origins[i]]``.
    forecasts : sequence of arrays of shape (horizon,)
    horizon, season : int

    Returns
    -------
    dict, as ``backtest``'s.
    """
    keys = ("mae", "smape", "mase", "naive_mae", "naive_smape", "naive_mase")
    out = {k: [] for k in keys}
    for o, pred in zip(origins, forecasts):
        train, test = y[:o], y[o:o + horizon]
        naive = seasonal_naive(train, horizon, season)
        for prefix, f in (("", pred), ("naive_", naive)):
            out[prefix + "mae"].append(mae(test, f))
            out[prefix + "smape"].append(smape(test, f))
            out[prefix + "mase"].append(mase(test, f, train, season))
    result = {k: np.array(v) for k, v in out.items()}
    result["mean"] = {k: float(np.mean(v)) for k, v in out.items()}
    result["origins"] = np.array(origins)
    result["forecasts"] = np.array(forecasts)
    return result

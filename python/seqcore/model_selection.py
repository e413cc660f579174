"""Rolling-origin backtesting of forecasters, with MAE, sMAPE and MASE
against the seasonal naive forecast."""

import copy
import numbers

import numpy as np
from sklearn.base import clone

__all__ = ["backtest", "score_origins", "mae", "smape", "mase", "seasonal_naive"]


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


def backtest(forecaster, y, *, horizon, n_origins=1, step=None, season=1):
    """Evaluate a forecaster from rolling origins at the end of a series.

    For each origin o (the last ``n_origins`` origins, ``step`` apart, the
    last one at ``len(y) - horizon``), a clone of ``forecaster`` is fit on
    ``y[:o]`` and forecasts ``horizon`` steps, scored against ``y[o:o+horizon]``
    and against the seasonal naive forecast from the same origin.

    Parameters
    ----------
    forecaster : RNNForecaster (or any object with fit(y) and predict(fh))
    y : array of shape (n_timesteps,)
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
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError("backtest takes one series (1-D y)")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity")
    for value, name in ((horizon, "horizon"), (n_origins, "n_origins"), (season, "season")):
        _check_positive(value, name)
    step = horizon if step is None else _check_positive(step, "step")
    origins = [len(y) - horizon - i * step for i in range(n_origins)][::-1]
    if origins[0] <= season:
        raise ValueError("the series is too short for these origins")
    forecasts = []
    for o in origins:
        if hasattr(forecaster, "get_params"):
            model = clone(forecaster)
            if "calibration_size" in model.get_params():
                model.set_params(calibration_size=0)   # intervals are not scored here
        else:
            model = copy.deepcopy(forecaster)
        forecasts.append(np.asarray(model.fit(y[:o]).predict(horizon), dtype=float))
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

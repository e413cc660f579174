"""Forecasting: ``RNNForecaster``, and ``forecast_many`` for many series at once.

Design.  ``forecast_many`` turns a collection of series into independent
jobs and hands them to ``joblib.Parallel``: one job fits and forecasts one
series (or, with ``global_model=True``, one job fits a single model on all
of them), and one job backtests one series (or one origin of the global
model).  Nothing else is scheduled here, so whatever joblib backend is
active runs the jobs unchanged: sequentially, ``loky`` processes
(``n_jobs``), or a Dask cluster under
``joblib.parallel_config(backend="dask")`` (Ray's backend likewise).

Each job caps its BLAS threads (``blas_threads``, threadpoolctl), so that
parallel workers do not oversubscribe the cores, and each fits a clone of
the same forecaster with the same ``random_state``: the results do not
depend on ``n_jobs`` or on the backend.  Inputs are checked in the calling
process before any job starts.
"""

import copy
import numbers
from collections.abc import Mapping

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from ._forecasting import RNNForecaster
from .model_selection import backtest as _backtest
from .model_selection import score_origins
from .parallel import blas_threads as _blas_threads

__all__ = ["RNNForecaster", "forecast_many", "ManyForecasts"]

_SCORES = ("mae", "smape", "mase", "naive_mae", "naive_smape", "naive_mase")


class ManyForecasts:
    """Forecasts, intervals and backtest scores of many series.

    Returned by ``forecast_many``; every dict is keyed by series name, in
    the order of the input.  ``to_frame()`` and ``scores_frame()`` give
    them as pandas DataFrames.

    Parameters
    ----------
    names, horizon, coverage, forecasts, lower, upper, backtests, models
        The attributes below, as ``forecast_many`` computes them.
    global_model : bool
        Whether one model was fit on all series.
    id_name : str, default='id'
        Name of the series column of ``to_frame()``.

    Attributes
    ----------
    names : list
        Series names: the dict's keys, the ids of a long table (in order of
        first appearance), or 0..n-1 for a list.
    horizon : int
    coverage : float or None
    forecasts : dict name -> ndarray of shape (horizon,)
        Steps 1..horizon after the end of each series.
    lower, upper : dict name -> ndarray of shape (horizon,), or None
        The prediction interval (when ``coverage`` was given).
    backtests : dict name -> dict, or None
        The full result of ``seqcore.model_selection.backtest`` per series
        (per-origin scores, ``origins``, ``forecasts``, ``mean``).
    scores : dict name -> dict, or None
        Per series, the backtest's mean ``mae``, ``smape``, ``mase`` and
        those of the seasonal naive forecast (``naive_mae``, ...).
    mean_scores : dict or None
        Each score averaged over the series.
    models : dict name -> fitted forecaster, or None
        With ``return_models=True``; with a global model every name maps to
        the one model.
    """

    def __init__(self, names, horizon, coverage, forecasts, lower, upper, backtests,
                 models, global_model, id_name="id"):
        self.names = list(names)
        self.horizon = horizon
        self.coverage = coverage
        self.forecasts = forecasts
        self.lower = lower
        self.upper = upper
        self.backtests = backtests
        self.scores = None if backtests is None else {k: dict(b["mean"]) for k, b in
                                                      backtests.items()}
        self.mean_scores = None if backtests is None else {
            s: float(np.mean([self.scores[k][s] for k in self.names])) for s in _SCORES}
        self.models = models
        self.global_model = global_model
        self._id_name = id_name

    def __repr__(self):
        kind = "one global model" if self.global_model else "one model per series"
        parts = [f"{len(self.names)} series", f"horizon={self.horizon}", kind]
        if self.coverage is not None:
            parts.append(f"coverage={self.coverage}")
        if self.mean_scores is not None:
            parts.append(f"mean MASE={self.mean_scores['mase']:.3f} "
                         f"(naive {self.mean_scores['naive_mase']:.3f})")
        return f"ManyForecasts({', '.join(parts)})"

    def to_frame(self):
        """The forecasts as a long pandas DataFrame: id, step, forecast[, lower, upper]."""
        pd = _import_pandas("ManyForecasts.to_frame")
        h = self.horizon
        cols = {self._id_name: np.repeat(np.array(self.names, dtype=object), h),
                "step": np.tile(np.arange(1, h + 1), len(self.names)),
                "forecast": np.concatenate([self.forecasts[k] for k in self.names])}
        if self.lower is not None:
            cols["lower"] = np.concatenate([self.lower[k] for k in self.names])
            cols["upper"] = np.concatenate([self.upper[k] for k in self.names])
        return pd.DataFrame(cols)

    def scores_frame(self):
        """The mean backtest scores as a pandas DataFrame, one row per series."""
        if self.scores is None:
            raise ValueError("no backtest scores: forecast_many ran with backtest=False")
        pd = _import_pandas("ManyForecasts.scores_frame")
        return pd.DataFrame([self.scores[k] for k in self.names],
                            index=pd.Index(self.names, name=self._id_name),
                            columns=list(_SCORES))


def forecast_many(series, *, horizon, forecaster=None, global_model=False, coverage=None,
                  backtest=True, n_origins=1, step=None, season=1, random_state=None,
                  n_jobs=None, blas_threads=1, return_models=False, id_col="id",
                  time_col="time", value_col="value", verbose=0):
    """Forecast many series, one model per series or one global model, in parallel.

    Parameters
    ----------
    series : dict, long table or list
        - a dict name -> 1-D array (one series each);
        - a long-format table: a pandas DataFrame, or a dict of equal-length
          columns, with columns ``id_col``, ``value_col`` and ``time_col``
          (a dict holding both ``id_col`` and ``value_col`` keys is read as a
          table).  Rows are grouped by id and ordered by time within each;
          a repeated (id, time) pair is an error;
        - a list of 1-D arrays, named 0..n-1.
    horizon : int
        Steps to forecast after the end of each series (and in backtests).
    forecaster : estimator, default=None
        The template copied for each fit (``clone``, or a deep copy of an
        object without ``get_params``): an ``RNNForecaster``, or any object
        with ``fit(y)`` returning itself and ``predict(fh)`` (and
        ``predict_interval(fh, coverage=)`` when ``coverage`` is given).
        None means ``RNNForecaster(horizon=horizon)``.
    global_model : bool, default=False
        False: one clone fit per series.  True: one clone fit on the list of
        all the series (``RNNForecaster`` learns across them, each keeping
        its own scaling).
    coverage : float in (0, 1), default=None
        Also return prediction intervals of this coverage.
    backtest : bool, default=True
        Score each series by ``seqcore.model_selection.backtest``: from the
        last ``n_origins`` origins (``step`` apart), fit on the series up to
        the origin and score ``horizon`` steps.  With a global model, one
        clone per origin is fit on every series cut at its own origin.
    n_origins : int, default=1
    step : int, default=None
        Distance between origins; defaults to ``horizon``.
    season : int, default=1
        Period of the seasonal naive benchmark and of MASE's scale.
    random_state : int or None, default=None
        When given, set on the forecaster (every clone gets the same value,
        as in ``GridSearchCV``); with a fixed value the results are the same
        for any ``n_jobs`` and backend.
    n_jobs : int, default=None
        joblib's: None means 1 unless inside a ``joblib.parallel_config``
        context (e.g. ``backend="dask"``, where None uses the cluster).
    blas_threads : int or None, default=1
        BLAS threads of each job (``seqcore.parallel.blas_threads``).  None
        leaves them alone: the choice with a thread-based backend, whose
        jobs share the process-wide count (cap it once around the call).
    return_models : bool, default=False
        Keep the fitted forecasters (on a cluster they travel back to the
        caller, so this costs memory and network).
    id_col, time_col, value_col : str
        Column names of a long table; ``time_col=None`` keeps the row order.
    verbose : int, default=0
        joblib's progress messages.

    Returns
    -------
    ManyForecasts
        ``forecasts`` (and ``lower``, ``upper``), ``scores``,
        ``backtests``, ``mean_scores``, ``models``; ``to_frame()`` and
        ``scores_frame()`` give pandas DataFrames.

    Raises
    ------
    ValueError, TypeError
        Before any fit: a series that is not 1-D, not numeric, not finite,
        too short for the forecaster, its intervals or its backtest origins,
        or whose MASE is undefined (constant up to an origin); a direct
        ``RNNForecaster`` whose ``horizon`` is below ``horizon``; a long
        table with missing columns or repeated (id, time) pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.forecasting import RNNForecaster, forecast_many
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(120)
    >>> series = {f"store_{i}": 50 + 5 * np.sin(2 * np.pi * t / 12)
    ...           + rng.normal(size=120) for i in range(4)}
    >>> res = forecast_many(series, horizon=6, season=12, coverage=0.9,
    ...                     forecaster=RNNForecaster(window=12, horizon=6,
    ...                                              hidden_size=8, max_iter=20),
    ...                     random_state=0, n_jobs=2)
    >>> res.forecasts["store_0"].shape, res.lower["store_0"].shape
    ((6,), (6,))
    >>> sorted(res.scores["store_0"])
    ['mae', 'mase', 'naive_mae', 'naive_mase', 'naive_smape', 'smape']
    """
    horizon = _check_int(horizon, "horizon")
    n_origins = _check_int(n_origins, "n_origins")
    step = horizon if step is None else _check_int(step, "step")
    season = _check_int(season, "season")
    if blas_threads is not None:
        blas_threads = _check_int(blas_threads, "blas_threads")
    if coverage is not None and not (isinstance(coverage, numbers.Real) and 0 < coverage < 1):
        raise ValueError(f"coverage must be None or a number in (0, 1), got {coverage!r}")

    names, ys, id_name = _read_series(series, id_col, time_col, value_col)
    template = RNNForecaster(horizon=horizon) if forecaster is None else _copy(forecaster)
    if random_state is not None:
        if not hasattr(template, "get_params") or "random_state" not in template.get_params():
            raise ValueError(f"{type(template).__name__} has no random_state parameter")
        template.set_params(random_state=random_state)
    if coverage is not None and not hasattr(template, "predict_interval"):
        raise TypeError(f"coverage was given but {type(template).__name__} has no "
                        "predict_interval method")
    _check_lengths(template, names, ys, horizon, coverage, global_model,
                   backtest, n_origins, step, season)

    # The jobs: fits first, then backtests; joblib keeps their order.
    jobs = []
    if global_model:
        jobs.append(delayed(_fit_predict)(template, ys, horizon, coverage, blas_threads,
                                          return_models))
    else:
        jobs += [delayed(_fit_predict)(template, y, horizon, coverage, blas_threads,
                                       return_models) for y in ys]
    if backtest:
        if global_model:
            cuts = [_origins(len(y), horizon, n_origins, step) for y in ys]
            bt_template = _without_calibration(template)
            jobs += [delayed(_fit_predict)(bt_template, [y[:c[k]] for y, c in zip(ys, cuts)],
                                           horizon, None, blas_threads, False)
                     for k in range(n_origins)]
        else:
            jobs += [delayed(_backtest_one)(template, y, horizon, n_origins, step, season,
                                            blas_threads) for y in ys]
    results = Parallel(n_jobs=n_jobs, verbose=verbose)(jobs)

    n_fit = 1 if global_model else len(ys)
    fits, rest = results[:n_fit], results[n_fit:]
    if global_model:
        fc, lo, hi, model = fits[0]
        fits = [(fc[i], None if lo is None else lo[i], None if hi is None else hi[i], model)
                for i in range(len(ys))]
    forecasts = {k: np.asarray(f[0], dtype=float) for k, f in zip(names, fits)}
    lower = upper = None
    if coverage is not None:
        lower = {k: np.asarray(f[1], dtype=float) for k, f in zip(names, fits)}
        upper = {k: np.asarray(f[2], dtype=float) for k, f in zip(names, fits)}
    models = {k: f[3] for k, f in zip(names, fits)} if return_models else None

    backtests = None
    if backtest:
        if global_model:
            # rest[k][i]: the forecast of series i from its k-th origin
            backtests = {k: score_origins(y, c, [np.asarray(r[0][i], float) for r in rest],
                                          horizon=horizon, season=season)
                         for i, (k, y, c) in enumerate(zip(names, ys, cuts))}
        else:
            backtests = dict(zip(names, rest))
    return ManyForecasts(names, horizon, coverage, forecasts, lower, upper, backtests,
                         models, global_model, id_name)


# ------------------------------------------------------------------ jobs

def _fit_predict(template, y, horizon, coverage, blas_threads, return_model):
    """Fit a clone on y (a series or a list of them) and forecast ``horizon`` steps."""
    with _blas_threads(blas_threads):
        model = _copy(template).fit(y)
        if coverage is None:
            fc, lo, hi = model.predict(horizon), None, None
        else:
            fc, lo, hi = model.predict_interval(horizon, coverage=coverage)
    return fc, lo, hi, model if return_model else None


def _backtest_one(template, y, horizon, n_origins, step, season, blas_threads):
    with _blas_threads(blas_threads):
        return _backtest(template, y, horizon=horizon, n_origins=n_origins, step=step,
                         season=season)


def _without_calibration(template):
    """As ``backtest`` does: intervals are not scored, so skip calibrating them."""
    model = _copy(template)
    if hasattr(model, "get_params") and "calibration_size" in model.get_params():
        model.set_params(calibration_size=0)
    return model


def _copy(forecaster):
    """An unfitted copy, as ``backtest`` makes: ``clone`` for scikit-learn
    estimators, a deep copy of anything else."""
    return clone(forecaster) if hasattr(forecaster, "get_params") else copy.deepcopy(forecaster)


def _origins(n, horizon, n_origins, step):
    """``backtest``'s origins for a series of length n, earliest first."""
    return [n - horizon - i * step for i in range(n_origins)][::-1]




# ----------------------------------------------------------------- input

def _check_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _import_pandas(caller):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"{caller} needs pandas, which is not a dependency of seqcore; "
                          "install it (pip install pandas), or read the dict attributes "
                          "(forecasts, lower, upper, scores) directly") from exc
    return pd


def _is_dataframe(obj):
    return type(obj).__module__.split(".")[0] == "pandas" and hasattr(obj, "columns")


def _read_series(series, id_col, time_col, value_col):
    """series -> (names, list of float64 1-D arrays, name of the id column)."""
    if _is_dataframe(series):
        cols = {c: series[c].to_numpy() for c in (id_col, time_col, value_col)
                if c is not None and c in series.columns}
        return _read_long(cols, id_col, time_col, value_col, list(series.columns))
    if isinstance(series, Mapping):
        if id_col in series and value_col in series:
            return _read_long(series, id_col, time_col, value_col, list(series))
        names, arrays = list(series.keys()), list(series.values())
    elif isinstance(series, (list, tuple)):
        names, arrays = list(range(len(series))), list(series)
    else:
        raise TypeError("series must be a dict name -> 1-D array, a long-format table "
                        "(pandas DataFrame or dict of columns) or a list of 1-D arrays, "
                        f"got {type(series).__name__}")
    if not names:
        raise ValueError("series is empty: there is nothing to forecast")
    return names, [_as_series(a, k) for k, a in zip(names, arrays)], "id"


def _read_long(cols, id_col, time_col, value_col, available):
    missing = [c for c in (id_col, time_col, value_col) if c is not None and c not in cols]
    if missing:
        hint = "; pass time_col=None to keep the row order" if missing == [time_col] else ""
        raise ValueError(f"the long-format table has no column {missing[0]!r} (columns: "
                         f"{available}){hint}")
    ids = np.asarray(cols[id_col])
    values = np.asarray(cols[value_col])
    times = None if time_col is None else np.asarray(cols[time_col])
    if ids.ndim != 1 or values.shape != ids.shape or (times is not None
                                                       and times.shape != ids.shape):
        raise ValueError(f"columns {id_col!r}, {value_col!r}"
                         f"{'' if time_col is None else f', {time_col!r}'} must be 1-D "
                         "and of equal length")
    if ids.size == 0:
        raise ValueError("the long-format table has no rows: there is nothing to forecast")
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.argsort(first, kind="stable")               # ids by first appearance
    inverse = inverse.ravel()
    rows = np.argsort(inverse, kind="stable")              # rows grouped by id, in row order
    counts = np.bincount(inverse, minlength=len(uniq))
    ends = np.cumsum(counts)
    starts = ends - counts
    names, arrays = [], []
    for g in rank:
        idx = rows[starts[g]:ends[g]]
        name = uniq[g].item() if hasattr(uniq[g], "item") else uniq[g]
        if times is not None:
            idx = idx[np.argsort(times[idx], kind="stable")]
            t = times[idx]
            dup = np.flatnonzero(t[1:] == t[:-1])
            if dup.size:
                raise ValueError(f"series {name!r} has two rows at {time_col}={t[dup[0]]}")
        names.append(name)
        arrays.append(_as_series(values[idx], name))
    return names, arrays, id_col


def _as_series(a, name):
    try:
        y = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"series {name!r} must be numeric: {exc}") from exc
    if y.ndim != 1:
        raise ValueError(f"series {name!r} must be 1-D, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"series {name!r} is empty")
    if not np.isfinite(y).all():
        raise ValueError(f"series {name!r} contains NaN or infinity")
    return y


def _rnn_lengths(f):
    """(shortest series RNNForecaster.fit takes, its horizon, calibration fraction, whether
    direct), or None when f is another forecaster or its parameters are not yet valid
    (fit then says what is wrong).  Mirrors RNNForecaster.fit and _calibration_length."""
    if not isinstance(f, RNNForecaster):
        return None
    p = f.get_params()
    W, d, H, cal = p["window"], p["differencing"], p["horizon"], p["calibration_size"]
    if not all(isinstance(v, numbers.Integral) for v in (W, d, H)) \
            or not isinstance(cal, numbers.Real):
        return None
    direct = p["strategy"] == "direct"
    return W + d + (H if direct else 1), H, cal, direct


def _check_lengths(template, names, ys, horizon, coverage, global_model, backtest,
                   n_origins, step, season):
    """Refuse, before any fit, series the forecaster or the backtest cannot use."""
    rules = _rnn_lengths(template)
    if rules is not None:
        min_fit, H, cal, direct = rules
        if direct and H < horizon:
            raise ValueError(f"the forecaster's horizon={H} (direct strategy) is below "
                             f"horizon={horizon}; set it to at least {horizon}")
        for k, y in zip(names, ys):
            n = len(y)
            if n < min_fit:
                raise ValueError(f"series {k!r} has {n} values; the forecaster needs at "
                                 f"least window + differencing + "
                                 f"{'horizon' if direct else '1'} = {min_fit}")
            if coverage is not None:
                c = max(int(round(cal * n)), H + 2) if cal > 0 else 0
                if c == 0 or n - c < min_fit + 2:
                    raise ValueError(
                        f"series {k!r} has {n} values, too few to hold out a tail for "
                        f"calibrating intervals (calibration_size={cal}); it needs "
                        f"{min_fit + 2} values before a tail of {max(c, H + 2)}"
                        + ("" if not global_model else "; a global model calibrates only "
                           "when every series can"))
    if not backtest:
        return
    for k, y in zip(names, ys):
        origins = _origins(len(y), horizon, n_origins, step)
        if origins[0] <= season or (rules is not None and origins[0] < rules[0]):
            need = max(season + 1, rules[0] if rules is not None else 0)
            raise ValueError(
                f"series {k!r} has {len(y)} values, too few to backtest {n_origins} "
                f"origin(s) {step} apart with horizon={horizon}: its first origin "
                f"{origins[0]} leaves fewer than {need} values to fit on; lower n_origins "
                "or pass backtest=False")
        for o in origins:
            if not np.any(y[season:o] != y[:o - season]):
                raise ValueError(
                    f"series {k!r}: MASE is undefined from origin {o} (the seasonal naive "
                    f"forecast, season={season}, is exact on the values before it); drop "
                    "the series or pass backtest=False")

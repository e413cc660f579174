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

from . import _global
from ._covariates import missing_value
from ._forecasting import RNNForecaster
from ._intervals import crps, scaled_pinball_loss
from ._theta import ThetaForecaster
from .model_selection import RollingOrigin, score_origins
from .model_selection import backtest as _backtest
from .parallel import blas_threads as _blas_threads

__all__ = ["RNNForecaster", "ThetaForecaster", "forecast_many", "ManyForecasts",
           "scaled_pinball_loss", "crps"]

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
    times : dict name -> array of datetime64 of shape (horizon,), or None
        The forecast dates, when the long table's times are dates on a
        regular grid; a pandas ``DatetimeIndex`` in the input's time zone
        when its dates carry one.
    """

    def __init__(self, names, horizon, coverage, forecasts, lower, upper, backtests,
                 models, global_model, id_name="id", times=None, time_name="time"):
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
        self.times = times
        self._id_name = id_name
        self._time_name = time_name or "time"

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
        """The forecasts as a long pandas DataFrame: id, step[, time], forecast[,
        lower, upper] (time: the forecast dates, when the input's times were dates)."""
        pd = _import_pandas("ManyForecasts.to_frame")
        h = self.horizon
        cols = {self._id_name: np.repeat(np.array(self.names, dtype=object), h),
                "step": np.tile(np.arange(1, h + 1), len(self.names))}
        if self.times is not None:
            times = [self.times[k] for k in self.names]
            cols[self._time_name] = (pd.DatetimeIndex(np.concatenate(
                [np.asarray(t, dtype=object) for t in times]))   # zoned Timestamps
                if isinstance(times[0], pd.DatetimeIndex) else np.concatenate(times))
        cols.update({
                "forecast": np.concatenate([self.forecasts[k] for k in self.names])})
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
                  time_col="time", value_col="value", time_format=None, past=None,
                  static=None, verbose=0):
    """Forecast many series, one model per series or one global model, in parallel.

    Parameters
    ----------
    series : dict, long table or list
        - a dict name -> 1-D array (one series each);
        - a long-format table: a pandas DataFrame, or a dict of equal-length
          columns, with columns ``id_col``, ``value_col`` and ``time_col``
          (a dict holding both ``id_col`` and ``value_col`` keys is read as a
          table).  Rows are grouped by id and ordered by time within each;
          a repeated (id, time) pair is an error.  Ids of different types
          are different series (``1`` and ``"1"`` are two).  Times are
          numbers, dates (datetime64, Timestamps) or strings read as dates:
          ISO 8601, else the one day/month order that reads them all (an
          order that is ambiguous, such as "1/2/2020", is refused: pass
          ``time_format``).  With dates on a regular grid an
          ``RNNForecaster`` receives each series as a pandas Series (its
          season follows the frequency) and ``to_frame`` gives the forecast
          dates;
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
        False: one clone fit per series (an ``RNNForecaster`` gives a series
        too short for its network the Theta forecast, with a warning).
        True: one clone fit on the list of all the series (``RNNForecaster``
        learns one network across them: see its ``global_method``).
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
    time_format : str, optional
        The ``strftime`` format of string times (e.g. ``"%d/%m/%Y"``).
    past : str or list of str, optional
        Columns of a long table holding past-only covariates (known up to
        each row's time only): the forecaster's ``X_past``, one value per
        row, no missing values.  Never needed for the forecast period.
    static : str or list of str, optional
        Columns of a long table holding static features of each series
        (numeric, or categorical: strings, booleans, 'category'): the
        forecaster's ``static``.  A static column must hold one value per
        series (refused when it changes within a series, or is missing).
        Learnt by the global model (``global_model=True``); one model per
        series has nothing to learn from a constant and ignores them, with
        a warning.
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
        table with missing columns or repeated (id, time) pairs; ``past`` or
        ``static`` columns that are missing, hold NaN, or (``static``)
        change within a series; a global model over series whose dates have
        different frequencies.

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

    past, static = _column_list(past, "past"), _column_list(static, "static")
    names, ys, id_name, times, covs = _read_series(series, id_col, time_col, value_col,
                                                   time_format, past, static)
    template = RNNForecaster(horizon=horizon) if forecaster is None else _copy(forecaster)
    fit_kw = _covariate_fits(template, covs, len(ys), global_model)
    if times is not None and times.mixed:
        if global_model:
            raise ValueError(f"the series' dates have different frequencies "
                             f"({', '.join(sorted(times.mixed))}): one global model reads "
                             "one season; call forecast_many once per frequency")
        times = None          # each series is then read as plain values
    if random_state is not None:
        if not hasattr(template, "get_params") or "random_state" not in template.get_params():
            raise ValueError(f"{type(template).__name__} has no random_state parameter")
        template.set_params(random_state=random_state)
    if coverage is not None and not hasattr(template, "predict_interval"):
        raise TypeError(f"coverage was given but {type(template).__name__} has no "
                        "predict_interval method")
    splitter = RollingOrigin(horizon, n_origins, step, min_train=season + 1)
    _check_lengths(template, names, ys, horizon, coverage, global_model,
                   backtest, splitter, season)
    # an RNNForecaster reads the dates' frequency (its season) from a pandas Series
    inputs = ys
    if times is not None and isinstance(template, RNNForecaster):
        inputs = [times.series(k, y) for k, y in zip(names, ys)]

    # The jobs: fits first, then backtests; joblib keeps their order.
    jobs = []
    if global_model:
        jobs.append(delayed(_fit_predict)(template, inputs, horizon, coverage, blas_threads,
                                          return_models, fit_kw))
    else:
        jobs += [delayed(_fit_predict)(template, y, horizon, coverage, blas_threads,
                                       return_models, _one(fit_kw, i))
                 for i, y in enumerate(inputs)]
    if backtest:
        if global_model:
            cuts = [splitter.origins(len(y)) for y in ys]
            bt_template = _without_calibration(template)
            jobs += [delayed(_fit_predict)(bt_template, [y[:c[k]] for y, c in zip(inputs, cuts)],
                                           horizon, None, blas_threads, False,
                                           _cut(fit_kw, [c[k] for c in cuts]))
                     for k in range(n_origins)]
        elif "X_past" in fit_kw:
            jobs += [delayed(_backtest_past)(template, y, fit_kw["X_past"][i], horizon,
                                             splitter.origins(len(y)), season, blas_threads)
                     for i, y in enumerate(inputs)]
        else:
            jobs += [delayed(_backtest_one)(template, y, horizon, n_origins, step, season,
                                            blas_threads) for y in inputs]
    results = Parallel(n_jobs=n_jobs, verbose=verbose)(jobs)

    n_fit = 1 if global_model else len(ys)
    fits, rest = results[:n_fit], results[n_fit:]
    if global_model:
        fc, lo, hi, model = fits[0]
        fits = [(fc[i], None if lo is None else lo[i], None if hi is None else hi[i], model)
                for i in range(len(ys))]
    forecasts = {k: _array(f[0]) for k, f in zip(names, fits)}
    lower = upper = None
    if coverage is not None:
        lower = {k: _array(f[1]) for k, f in zip(names, fits)}
        upper = {k: _array(f[2]) for k, f in zip(names, fits)}
    models = {k: f[3] for k, f in zip(names, fits)} if return_models else None

    backtests = None
    if backtest:
        if global_model:
            # rest[k][i]: the forecast of series i from its k-th origin
            backtests = {k: score_origins(y, c, [_array(r[0][i]) for r in rest],
                                          horizon=horizon, season=season)
                         for i, (k, y, c) in enumerate(zip(names, ys, cuts))}
        else:
            backtests = dict(zip(names, rest))
    future = None if times is None else {k: times.future(k, horizon) for k in names}
    return ManyForecasts(names, horizon, coverage, forecasts, lower, upper, backtests,
                         models, global_model, id_name, future, time_col)


def _array(a):
    """A forecast as a float array (a pandas Series gives its values)."""
    return np.asarray(a.to_numpy() if hasattr(a, "to_numpy") else a, dtype=float)


# ------------------------------------------------------------------ jobs

def _fit_predict(template, y, horizon, coverage, blas_threads, return_model, fit_kw=None):
    """Fit a clone on y (a series or a list of them; ``fit_kw``: its
    covariates) and forecast ``horizon`` steps."""
    with _blas_threads(blas_threads):
        model = _copy(template).fit(y, **(fit_kw or {}))
        if coverage is None:
            fc, lo, hi = model.predict(horizon), None, None
        else:
            fc, lo, hi = model.predict_interval(horizon, coverage=coverage)
    return fc, lo, hi, model if return_model else None


def _backtest_one(template, y, horizon, n_origins, step, season, blas_threads):
    with _blas_threads(blas_threads):
        return _backtest(template, y, horizon=horizon, n_origins=n_origins, step=step,
                         season=season)


def _backtest_past(template, y, X_past, horizon, origins, season, blas_threads):
    """``backtest`` of one series with past-only covariates (cut at each origin)."""
    forecasts = []
    with _blas_threads(blas_threads):
        for o in origins:
            model = _without_calibration(template).fit(y[:o], X_past=X_past[:o])
            forecasts.append(_array(model.predict(horizon)))
    return score_origins(_array(y), origins, forecasts, horizon=horizon, season=season)


def _one(fit_kw, i):
    """The covariates of series i for its own fit (static ones are for a global model)."""
    return {"X_past": fit_kw["X_past"][i]} if "X_past" in fit_kw else {}


def _cut(fit_kw, cuts):
    """The covariates of every series cut at its backtest origin."""
    out = dict(fit_kw)
    if "X_past" in out:
        out["X_past"] = [x[:c] for x, c in zip(out["X_past"], cuts)]
    return out


def _covariate_fits(template, covs, n_series, global_model):
    """The fit keywords (X_past, static) of the table's covariate columns."""
    past, static = covs
    if past is None and static is None:
        return {}
    if not isinstance(template, RNNForecaster):
        raise TypeError(f"past and static columns need an RNNForecaster; "
                        f"{type(template).__name__} takes no covariates")
    out = {}
    if past is not None:
        if template.strategy != "direct":
            raise ValueError("past-only covariates need the direct strategy: the recursive "
                             "one would need their future values")
        out["X_past"] = past
    if static is not None:
        if global_model:
            out["static"] = static
        else:
            from ._validation import warn_user
            warn_user("static columns describe series for a global model; one model per "
                      "series (global_model=False) ignores them", UserWarning)
    return out


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


def _column_list(cols, what):
    if cols is None:
        return []
    if isinstance(cols, (str, numbers.Integral)):   # one label (a table's may be ints)
        cols = [cols]
    else:
        try:
            cols = list(cols)
        except TypeError:
            raise TypeError(f"{what} must be a column label or a list of them, got "
                            f"{cols!r}") from None
    if not cols:
        return []
    if len(set(cols)) != len(cols):
        raise ValueError(f"{what} names a column twice: {cols}")
    return cols


def _read_series(series, id_col, time_col, value_col, time_format=None, past=(),
                 static=()):
    """series -> (names, list of float64 1-D arrays, name of the id column,
    _Times or None, (past-only covariates: list of (n_i, p) arrays or None,
    static features: a DataFrame or (n_series, k) object array or None))."""
    extra = list(past) + list(static)
    if _is_dataframe(series):
        wanted = (id_col, time_col, value_col, *extra)
        cols = {c: series[c].tolist() if series[c].dtype == object else series[c].to_numpy()
                for c in wanted if c is not None and c in series.columns}
        kinds = {c: series[c].dtype for c in static if c in series.columns}
        return _read_long(cols, id_col, time_col, value_col, list(series.columns),
                          time_format, past, static, kinds)
    if isinstance(series, Mapping):
        if id_col in series and value_col in series:
            return _read_long(series, id_col, time_col, value_col, list(series), time_format,
                              past, static)
    if extra:
        raise ValueError("past and static name columns of a long table (a DataFrame or a "
                         "dict of columns with id and value columns)")
    if isinstance(series, Mapping):
        names, arrays = list(series.keys()), list(series.values())
    elif isinstance(series, (list, tuple)):
        names, arrays = list(range(len(series))), list(series)
    else:
        raise TypeError("series must be a dict name -> 1-D array, a long-format table "
                        "(pandas DataFrame or dict of columns) or a list of 1-D arrays, "
                        f"got {type(series).__name__}")
    if not names:
        raise ValueError("series is empty: there is nothing to forecast")
    return names, [_as_series(a, k) for k, a in zip(names, arrays)], "id", None, (None, None)


def _id_key(value):
    """Ids group by value within a kind: 1 and 1.0 are one series, 1 and "1" two."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return ("number", value), value
    return (type(value).__name__, value), value


def _read_long(cols, id_col, time_col, value_col, available, time_format=None, past=(),
               static=(), kinds=None):
    used = (id_col, time_col, value_col)
    clash = [c for c in (*past, *static) if c in used]
    if clash:
        raise ValueError(f"column {clash[0]!r} is the id, time or value column; it cannot "
                         "also be a covariate")
    both = set(past) & set(static)
    if both:
        raise ValueError(f"column {sorted(both)[0]!r} is named in both past and static")
    missing = [c for c in (*used, *past, *static) if c is not None and c not in cols]
    if missing:
        hint = "; pass time_col=None to keep the row order" if missing == [time_col] else ""
        raise ValueError(f"the long-format table has no column {missing[0]!r} (columns: "
                         f"{available}){hint}")
    ids = list(cols[id_col]) if not isinstance(cols[id_col], np.ndarray) else cols[id_col]
    values = np.asarray(cols[value_col])
    n = len(ids)
    raw_times = None if time_col is None else cols[time_col]
    if (np.ndim(ids) != 1 and not isinstance(ids, list)) or values.shape != (n,) or (
            raw_times is not None and len(raw_times) != n):
        raise ValueError(f"columns {id_col!r}, {value_col!r}"
                         f"{'' if time_col is None else f', {time_col!r}'} must be 1-D "
                         "and of equal length")
    if n == 0:
        raise ValueError("the long-format table has no rows: there is nothing to forecast")
    times, tz = (None, None) if raw_times is None else _parse_times(raw_times, time_col,
                                                                     time_format)
    if times is not None:
        gone = np.isnat(times) if times.dtype.kind == "M" else (
            np.isnan(times) if times.dtype.kind == "f" else np.zeros(n, bool))
        if gone.any():   # else sorted last: its value read as the series' latest
            raise ValueError(f"column {time_col!r} has a missing value (row "
                             f"{int(np.argmax(gone))}): every row needs its time")
    groups = {}                                      # key -> (name, rows), first appearance
    for row, v in enumerate(ids.tolist() if isinstance(ids, np.ndarray) else ids):
        if missing_value(v):   # else a series of its own (one per NaN: NaN != NaN)
            raise ValueError(f"column {id_col!r} has a missing value (row {row}): every "
                             "row needs the id of its series")
        key, name = _id_key(v)
        groups.setdefault(key, (name, []))[1].append(row)
    names, arrays, stamps, orders = [], [], {}, []
    for name, rows in groups.values():
        idx = np.array(rows)
        if times is not None:
            idx = idx[np.argsort(times[idx], kind="stable")]
            t = times[idx]
            dup = np.flatnonzero(t[1:] == t[:-1])
            if dup.size:
                raise ValueError(f"series {name!r} has two rows at {time_col}="
                                 f"{_show(raw_times, idx[dup[0]])}")
            stamps[len(names)] = t
        names.append(name)
        arrays.append(_as_series(values[idx], name))
        orders.append(idx)
    covs = _table_covariates(cols, names, orders, past, static, kinds or {})
    return names, arrays, id_col, _Times.make(names, stamps, times, tz), covs


def _table_covariates(cols, names, orders, past, static, kinds):
    """The past-only covariates (one (n_i, p) array per series, in time order)
    and the static features (one row per series) of a long table."""
    P = None
    if past:
        P = []
        for name, idx in zip(names, orders):
            block = np.empty((len(idx), len(past)))
            for j, c in enumerate(past):
                block[:, j] = _numeric_column(cols[c], idx, c, name)
            P.append(block)
    S = None
    if static:
        rows = []
        for name, idx in zip(names, orders):
            row = []
            for c in static:
                col = cols[c]
                vals = [col[i] for i in idx]
                first = vals[0]
                if any(missing_value(v) for v in vals):
                    raise ValueError(f"static column {c!r} has a missing value for series "
                                     f"{name!r}: static features must be complete")
                if any(not _same(v, first) for v in vals):
                    other = next(v for v in vals if not _same(v, first))
                    raise ValueError(f"static column {c!r} changes within series {name!r} "
                                     f"({_item(first)!r} and {_item(other)!r}): a static "
                                     "feature holds one value per series (use past for "
                                     "values that change over time)")
                row.append(_item(first))
            rows.append(row)
        pd = None
        if kinds:
            pd = _import_pandas("forecast_many with static columns of a DataFrame")
        S = (pd.DataFrame(rows, columns=list(static)).astype(
                {c: kinds[c] for c in static if c in kinds}) if pd is not None
             else np.array(rows, dtype=object))
    return P, S


def _numeric_column(col, idx, c, name):
    try:
        v = np.asarray([col[i] for i in idx], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"past column {c!r} must be numeric (series {name!r})") from None
    if not np.isfinite(v).all():
        raise ValueError(f"past column {c!r} has a missing or infinite value for series "
                         f"{name!r}: past-only covariates must be complete")
    return v


def _item(v):
    return v.item() if hasattr(v, "item") else v


def _same(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _show(raw, i):
    v = raw[i]
    return v.item() if hasattr(v, "item") else v


_DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%m-%d-%Y", "%d-%m-%Y", "%d.%m.%Y", "%m/%d/%y",
                 "%d/%m/%y", "%Y/%m/%d", "%Y%m%d")


def _parse_times(raw, time_col, time_format):
    """A time column -> (sortable values, time zone or None): numbers as they
    are, dates as datetime64[ns] (in UTC when they carry a zone, which is
    returned); strings read as dates (or refused when they are not, or when
    two day/month orders read them differently)."""
    arr = np.asarray(raw)
    if arr.dtype.kind in "iuf":
        return arr, None
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]"), None
    items = list(raw)
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items):
        return np.asarray(items, dtype=float), None
    pd = _import_pandas("forecast_many with times that are not numbers")
    if not all(isinstance(v, str) for v in items):
        try:
            return _utc(pd.to_datetime(pd.Series(items)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {time_col!r} mixes kinds of times: {exc}") from None
    texts = pd.Series([v.strip() for v in items])
    if time_format is not None:
        try:
            return _utc(pd.to_datetime(texts, format=time_format))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {time_col!r} does not match time_format="
                             f"{time_format!r}: {exc}") from None
    try:
        return _utc(pd.to_datetime(texts, format="ISO8601"))
    except (TypeError, ValueError):
        pass
    readings = {}
    for fmt in _DATE_FORMATS:
        try:
            readings[fmt] = pd.to_datetime(texts, format=fmt).to_numpy("datetime64[ns]")
        except (TypeError, ValueError):
            continue
    if not readings:
        unread = pd.isna(pd.to_datetime(texts, format="ISO8601", errors="coerce"))
        first_bad = items[int(np.argmax(unread.to_numpy()))] if unread.any() else items[0]
        raise ValueError(f"column {time_col!r} holds strings that are not dates (first "
                         f"{first_bad!r}): pass numbers or dates, a time_format, or "
                         "time_col=None to keep the row order")
    first, *others = readings
    different = [f for f in others if not np.array_equal(readings[f], readings[first])]
    if different:
        raise ValueError(f"column {time_col!r} has ambiguous dates: {items[0]!r} reads as "
                         f"{readings[first][0]} with {first!r} and as "
                         f"{readings[different[0]][0]} with {different[0]!r}; pass "
                         "time_format to say which")
    return readings[first], None


def _utc(parsed):
    """Parsed dates (a pandas Series) -> (datetime64[ns] values, their zone):
    zoned dates as UTC instants, the zone kept to label the forecasts."""
    tz = parsed.dt.tz
    if tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy("datetime64[ns]"), tz


class _Times:
    """The dates of each series of a long table, with their common frequency
    and time zone (stamps in UTC when there is one, read in the zone)."""

    def __init__(self, names, stamps, freq, tz=None, mixed=None):
        self.stamps, self.freq, self.tz = dict(zip(names, stamps)), freq, tz
        # the frequencies found when the series do not share one (freq None)
        self.mixed = mixed

    @classmethod
    def make(cls, names, stamps, times, tz=None):
        if times is None or times.dtype.kind != "M":
            return None
        import pandas as pd
        from ._calendar import _infer_freq
        freqs = set()
        for t in stamps.values():
            f = _infer_freq(_index(t, tz)) if len(t) >= 3 else None
            if f is None:
                return None
            freqs.add(f.freqstr)
        if len(freqs) != 1:
            return cls(names, [stamps[i] for i in range(len(names))], None, tz, mixed=freqs)
        freq = pd.tseries.frequencies.to_offset(freqs.pop())
        return cls(names, [stamps[i] for i in range(len(names))], freq, tz)

    def series(self, name, y):
        """The series as a pandas Series on its dates (the grid's gaps as NaN)."""
        import pandas as pd
        index = _index(self.stamps[name], self.tz)
        if len(pd.date_range(index[0], index[-1], freq=self.freq)) != len(index):
            return y          # gaps in the grid: the forecaster gets the values as they are
        return pd.Series(y, index=index.copy(), name=name if isinstance(name, str) else None)

    def future(self, name, horizon):
        """The forecast dates: datetime64[ns], or a DatetimeIndex in the zone."""
        import pandas as pd
        last = _index(self.stamps[name][-1:], self.tz)[0]
        steps = [last + h * self.freq for h in range(1, horizon + 1)]
        if self.tz is not None:
            return pd.DatetimeIndex(steps)
        return np.array(steps, dtype="datetime64[ns]")


def _index(stamps, tz):
    """A DatetimeIndex of datetime64 stamps, read in the zone ``tz`` (the
    stamps are UTC then)."""
    import pandas as pd
    index = pd.DatetimeIndex(stamps)
    return index if tz is None else index.tz_localize("UTC").tz_convert(tz)


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


def _check_lengths(template, names, ys, horizon, coverage, global_model, backtest,
                   splitter, season):
    """Refuse, before any fit, series the forecaster or the backtest cannot use.

    An ``RNNForecaster``'s own length rules (``_Plan``) say what it accepts:
    the same rules its ``fit`` applies.
    """
    rnn = isinstance(template, RNNForecaster) and _valid_params(template)
    if rnn:
        if template.strategy == "direct" and template.horizon < horizon:
            raise ValueError(f"the forecaster's horizon={template.horizon} (direct strategy) "
                             f"is below horizon={horizon}; set it to at least {horizon}")
        arrays = [y[:, None] for y in ys]
        if global_model:
            # the 'normalised' global model forecasts series of any length
            if _global.applies(template, True, 1, [None]):
                if coverage is not None and not (
                        template.calibration_size > 0
                        and _global.can_calibrate([len(y) for y in ys], template.horizon)):
                    raise ValueError(
                        "coverage was given, but no series has the "
                        f"{3 + 2 * template.horizon} values the global model needs to "
                        "hold out a horizon for calibrating intervals (or "
                        "calibration_size is 0)")
            else:
                template._plan(arrays).check([len(y) for y in ys], names,
                                             coverage is not None, global_model=True)
        else:
            for k, a in zip(names, arrays):
                plan = template._plan([a])
                if len(a) >= plan.min_fit:    # shorter: the Theta fallback (fit warns)
                    plan.check([len(a)], [k], coverage is not None)
    if not backtest:
        return
    for k, y in zip(names, ys):
        try:
            origins = splitter.origins(len(y))
        except ValueError:
            origins = None
        short = origins is None
        if not short and rnn:
            try:
                template._plan([y[:origins[0], None]]).check([origins[0]], [k])
            except ValueError:
                short = True
        if short:
            first = len(y) - horizon - (splitter.n_origins - 1) * splitter.step
            raise ValueError(
                f"series {k!r} has {len(y)} values, too few to backtest "
                f"{splitter.n_origins} origin(s) {splitter.step} apart with horizon={horizon}: "
                f"its first origin {first} leaves too few values to fit on (the seasonal "
                f"naive benchmark needs {season + 1}"
                + (", the forecaster its window and horizon" if rnn else "")
                + "); lower n_origins or pass backtest=False")
        for o in origins:
            if not np.any(y[season:o] != y[:o - season]):
                raise ValueError(
                    f"series {k!r}: MASE is undefined from origin {o} (the seasonal naive "
                    f"forecast, season={season}, is exact on the values before it); drop "
                    "the series or pass backtest=False")


def _valid_params(f):
    """Whether the forecaster's parameters are valid (else fit says what is wrong)."""
    try:
        f._validate_params()
    except (ValueError, TypeError):
        return False
    return True

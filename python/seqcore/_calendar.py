"""Calendars and pandas for the forecaster: the time index of a series
(``_TimeIndex``: its frequency, season, future times and how ``fh`` names
them), reading pandas objects, the exogenous regressors' alignment to the
series' times, and reading values.
"""

import numpy as np

from ._seasonality import season_from_freq
from ._validation import check_real


def _is_pandas(obj):
    return type(obj).__module__.split(".")[0] == "pandas"


def _named(result, name):
    """A pandas Series result renamed (each of a list of them); others as they are."""
    if isinstance(result, list):
        return [_named(r, name) for r in result]
    return result.rename(name) if _is_pandas(result) and result.ndim == 1 else result


class _TimeIndex:
    """The time axis of a pandas series: a regular DatetimeIndex or
    PeriodIndex (with its frequency), or a plain integer axis."""

    def __init__(self, index, freq, name=None, columns=None, ndim=1):
        self.index, self.freq, self.name = index, freq, name
        self.columns, self.ndim = columns, ndim

    @property
    def is_time(self):
        return self.freq is not None

    def season(self):
        return season_from_freq(self.freq) if self.is_time else None

    def future(self, steps):
        """The index of the steps ahead ``steps`` (1 = the step after the last)."""
        import pandas as pd
        steps = np.asarray(steps, dtype=np.int64)
        last = self.index[-1]
        if self.is_time:
            return pd.Index([last + int(s) * self.freq for s in steps], name=self.index.name)
        step = int(self.index[-1] - self.index[-2]) if len(self.index) > 1 else 1
        return pd.Index(last + step * steps, name=self.index.name)

    def extend(self, index):
        """Append the index of new observations (checked to follow the last)."""
        import pandas as pd
        self.index = self.index.append(pd.Index(index))

    def steps_of(self, fh):
        """Steps ahead (1-based) of forecast times given as time stamps or periods."""
        import pandas as pd
        if not self.is_time:
            raise ValueError("fh names times, but the series was fit without a "
                             "DatetimeIndex or PeriodIndex: pass steps ahead")
        last = self.index[-1]
        values = list(fh) if not isinstance(fh, (pd.Timestamp, pd.Period, str)) else [fh]
        freq = getattr(self.index, "freqstr", None) or self.freq.freqstr
        steps = []
        for v in values:
            try:
                if isinstance(self.index, pd.PeriodIndex):
                    p = v if isinstance(v, pd.Period) else pd.Period(v, freq=self.freq)
                    step = (p.asfreq(self.freq) - last).n
                else:
                    ts = pd.Timestamp(v)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"fh: cannot read {v!r} as a time of the series' "
                                 f"frequency {freq}: {exc}") from None
            if not isinstance(self.index, pd.PeriodIndex):
                if ts.tzinfo is None and last.tzinfo is not None:
                    ts = ts.tz_localize(last.tzinfo)   # a wall time in the series' zone
                elif ts.tzinfo is not None and last.tzinfo is None:
                    raise ValueError(f"fh: {v!r} has a time zone, but the series' times "
                                     "have none: pass times without a zone")
                elif ts.tzinfo is not None:
                    ts = ts.tz_convert(last.tzinfo)    # the same instant, in the series' zone
                step = None
                if ts > last:
                    grid = pd.date_range(last, ts, freq=self.freq)
                    if len(grid) == 0 or grid[-1] != ts:
                        raise ValueError(f"fh: {v!r} is not on the series' grid "
                                         f"(frequency {freq}, last {last})")
                    step = len(grid) - 1
            else:
                ts = p
            if step is None or step < 1:
                where = ("the last time of the series, not a future one" if ts == last
                         else f"before the end of the series ({last})")
                raise ValueError(f"fh: {v!r} is {where}; forecast times start at "
                                 f"{self.future([1])[0]}")
            steps.append(step)
        return np.array(steps, dtype=np.int64)

    def wrap(self, values, steps, columns=None):
        """A forecast array (len(steps),) or (len(steps), c) as a pandas object."""
        import pandas as pd
        index = self.future(steps)
        if values.ndim == 1:
            return pd.Series(values, index=index, name=self.name)
        return pd.DataFrame(values, index=index, columns=columns)


def _infer_freq(index):
    """A regular frequency for a DatetimeIndex whose stamps may have gaps."""
    import pandas as pd
    if index.freq is not None:
        return index.freq
    if len(index) < 3:
        return None
    guess = pd.infer_freq(index) if len(index) >= 3 else None
    if guess is not None:
        return pd.tseries.frequencies.to_offset(guess)
    votes = {}
    for i in range(len(index) - 2):      # what each run of three stamps says
        try:
            g = pd.infer_freq(index[i:i + 3])
        except (TypeError, ValueError):
            g = None
        if g is not None:
            votes[g] = votes.get(g, 0) + 1
    for g in sorted(votes, key=votes.get, reverse=True):
        off = pd.tseries.frequencies.to_offset(g)
        grid = pd.date_range(index[0], index[-1], freq=off)
        if index.isin(grid).all():
            return off
    return None


def _from_pandas(obj, name):
    """A pandas Series/DataFrame -> (float array (n,) or (n, k) with NaN for the
    missing time stamps, _TimeIndex)."""
    import pandas as pd
    if not isinstance(obj, (pd.Series, pd.DataFrame)):
        raise TypeError(f"{name} must be an array, a pandas Series or a DataFrame, "
                        f"got {type(obj).__name__}")
    index = obj.index
    if isinstance(index, pd.MultiIndex):
        raise ValueError(f"{name} has a MultiIndex: pass one series per object "
                         "(a list of them for a global model)")
    if not index.is_unique:
        dup = index[index.duplicated()][0]
        raise ValueError(f"{name} has two rows at {dup}")
    if len(index) and not index.is_monotonic_increasing:
        obj = obj.sort_index()
        index = obj.index
    freq = None
    if isinstance(index, pd.PeriodIndex):
        freq = index.freq
        full = pd.period_range(index[0], index[-1], freq=freq) if len(index) else index
    elif isinstance(index, pd.DatetimeIndex):
        freq = _infer_freq(index)
        if freq is None:
            raise ValueError(f"{name} has a DatetimeIndex without a regular frequency; set "
                             "one (e.g. y.asfreq('MS')) or pass the values as an array")
        full = pd.date_range(index[0], index[-1], freq=freq, name=index.name)
    else:
        full = index
    if freq is not None and len(full) != len(index):
        obj = obj.reindex(full)       # missing time stamps -> missing values
    values = obj.to_numpy(dtype=np.float64, na_value=np.nan) if _numeric(obj) else None
    if values is None:
        raise ValueError(f"{name} must be numeric")
    if freq is None and len(full) > 1:
        full = pd.Index(full)
    columns = list(obj.columns) if isinstance(obj, pd.DataFrame) else None
    return values, _TimeIndex(full if freq is not None else pd.Index(full), freq,
                              getattr(obj, "name", None), columns,
                              1 if columns is None else 2)


def _numeric(obj):
    import pandas as pd
    dtypes = [obj.dtype] if isinstance(obj, pd.Series) else list(obj.dtypes)
    return all(pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d)
               or pd.api.types.is_bool_dtype(d) for d in dtypes)


def _gap_before(old, new):
    """Missing steps between the end of a fitted pandas series and new values."""
    if old is None or new is None or not old.is_time:
        return 0
    first = new.index[0]
    steps = old.steps_of([first])[0] if first > old.index[-1] else 0
    if steps < 1:
        raise ValueError(f"y_new starts at {first}, not after the end of the series "
                         f"({old.index[-1]})")
    return int(steps - 1)


def _is_dates(fh):
    """Whether fh names times (pandas time objects, datetime64, date strings)."""
    import datetime
    if isinstance(fh, (str, datetime.date, np.datetime64)):
        return True
    if _is_pandas(fh):
        import pandas as pd
        if isinstance(fh, (pd.Timestamp, pd.Period)):
            return True
        if isinstance(fh, (pd.DatetimeIndex, pd.PeriodIndex)):
            return True
        return False
    if isinstance(fh, np.ndarray):
        return fh.dtype.kind == "M"
    if isinstance(fh, (list, tuple)) and fh:
        return all(_is_dates(v) for v in fh)
    return False


def _align_X(X, tindex, n, name):
    """Covariates of the fit (future-known X or past-only X_past), one row per
    step of y: aligned with y's index when both are pandas."""
    if _is_pandas(X) and tindex is not None and hasattr(X, "reindex"):
        import pandas as pd
        frame = X.to_frame() if isinstance(X, pd.Series) else X
        index = frame.index
        if isinstance(tindex.index, pd.PeriodIndex) and isinstance(index, pd.DatetimeIndex):
            frame = frame.set_axis(index.to_period(tindex.freq))
        elif isinstance(tindex.index, pd.DatetimeIndex) and isinstance(index, pd.PeriodIndex):
            frame = frame.set_axis(index.to_timestamp())
        missing = tindex.index.difference(frame.index)
        if len(missing):
            raise ValueError(f"{name} does not cover the times of y: {len(missing)} missing, "
                             f"the first {missing[0]}")
        frame = frame.reindex(tindex.index)
        xa = _as_values(frame, name, allow_nan=False)
    else:
        xa = _as_values(X, name, allow_nan=False)
    xa = xa[:, None] if xa.ndim == 1 else xa
    if xa.ndim != 2 or xa.shape[0] != n:
        raise ValueError(f"{name} must have one row per time step of y ({n}), got shape "
                         f"{xa.shape}")
    return xa


def _future_X_frame(X, tindex, rows, need):
    """The rows of a future X frame at the forecast steps 1..rows."""
    import pandas as pd
    frame = X.to_frame() if isinstance(X, pd.Series) else X
    index = frame.index
    if isinstance(tindex.index, pd.PeriodIndex) and isinstance(index, pd.DatetimeIndex):
        frame = frame.set_axis(index.to_period(tindex.freq))
    elif isinstance(tindex.index, pd.DatetimeIndex) and isinstance(index, pd.PeriodIndex):
        frame = frame.set_axis(index.to_timestamp())
    future = tindex.future(np.arange(1, rows + 1))
    missing = future.difference(frame.index)
    if len(missing):
        what = "fh" if future.get_loc(missing[0]) < need else (
            f"the direct model's horizon ({rows} steps)")
        raise ValueError(f"the future X does not cover {what}: {len(missing)} of the times "
                         f"{future[0]} .. {future[-1]} are missing, the first {missing[0]}")
    return _as_values(frame.reindex(future), "X", allow_nan=False)


def _as_values(a, name, allow_nan=True):
    """A float64 array of a: NaN allowed (missing values) unless ``allow_nan``
    is False; infinity refused."""
    check_real(a, name)
    if _is_pandas(a):
        try:
            arr = a.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from exc
    else:
        try:
            arr = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric: {exc}") from exc
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinity")
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN: covariates must be complete")
    return arr

"""Covariates of the forecaster besides the future-known regressors X:
past-only covariates (``X_past``: known up to the present only) and static
per-series features (``static``), read, checked and encoded here; where the
networks read them is in ``_forecasting`` (one series, or the 'classic'
list) and ``_global`` (the 'normalised' global model).

Design.

* Past-only covariates: one array (n, p) per series, a row per time step
  of y, no NaN.  Each column is standardised per series (its mean and
  standard deviation over the fit's history; 1 for a constant column) and
  the network reads the standardised values at the steps of its input
  window only, so forecasting never needs their future values; ``update``
  appends their new rows with the new observations.
* Static features: one row per series.  Numeric columns are standardised
  across the series; categorical columns (strings, booleans, pandas
  'category' or object columns) are one-hot encoded, with an all-zero
  block for a level not seen at fit (the "unknown" level).  The encoded row
  is given to the network at every step of its input window.  One-hot and
  not a separate embedding table: the network's input weights times a
  one-hot block *are* an embedding lookup (one learnt vector of size
  gates x hidden per level, trained with the rest), and the recurrent
  estimators take one float input tensor, so no new network path is
  needed; for the few to hundreds of levels static features have, nothing
  is lost.
"""

import numbers

import numpy as np

from ._calendar import _align_X, _is_pandas


def past_arrays(X_past, ys, tix, is_list, name="X_past"):
    """X_past -> a list with one (n_i, p) float array per series of ys (or None)."""
    if X_past is None:
        return None
    parts = list(X_past) if is_list and isinstance(X_past, (list, tuple)) else [X_past]
    if len(parts) != len(ys):
        raise ValueError(f"{name} has {len(parts)} series, y has {len(ys)}")
    out = []
    for i, (x, a, ti) in enumerate(zip(parts, ys, tix)):
        label = f"{name}[{i}]" if is_list else name
        if x is None:
            raise ValueError(f"{label} is None: give past-only covariates for every series "
                             "or for none")
        out.append(_align_X(x, ti, a.shape[0], label))
    widths = {x.shape[1] for x in out}
    if len(widths) > 1:
        raise ValueError(f"the series' {name} have different numbers of columns: "
                         f"{sorted(widths)}")
    return out


class PastScaler:
    """Per-series standardisation of past-only covariates (see the notes)."""

    def __init__(self, values):
        self.mean = values.mean(axis=0)
        sd = values.std(axis=0)
        self.sd = np.where(sd > 0, sd, 1.0)

    def __call__(self, values):
        return (values - self.mean) / self.sd


def check_width(arrays, p, name):
    """Refuse past-only covariates whose column count differs from the fit's."""
    for x in arrays:
        if x.shape[1] != p:
            raise ValueError(f"{name} has {x.shape[1]} columns, the model was fit with {p}")


def _is_categorical_dtype(dtype):
    import pandas as pd
    return not (pd.api.types.is_numeric_dtype(dtype)
                and not pd.api.types.is_bool_dtype(dtype))


def _is_number(v):
    return isinstance(v, (numbers.Real, np.number)) and not isinstance(v, (bool, np.bool_))


def _level_key(v):
    """A category's identity: booleans apart from the numbers they equal
    (True == 1 in Python, two levels here)."""
    return isinstance(v, (bool, np.bool_)), v


def missing_value(v):
    """Whether one cell is missing: None, NaN, pandas' NA or NaT."""
    if v is None:
        return True
    if isinstance(v, (float, np.floating)):
        return bool(np.isnan(v))
    try:
        import pandas as pd
    except ImportError:
        return False
    r = pd.isna(v)
    return isinstance(r, (bool, np.bool_)) and bool(r)


class StaticEncoder:
    """Static per-series features -> a float row per series (see the notes).

    ``fit(static, n_series)`` learns the columns, their kinds, the numeric
    columns' mean and standard deviation and the categorical levels;
    ``transform(static, n_rows)`` encodes rows with them.
    """

    def fit(self, static, n_series, name="static"):
        cols, table, frame = self._table(static, n_series, name, fitted=False)
        self.columns_ = cols
        self.kinds_, self.mean_, self.sd_, self.levels_ = [], {}, {}, {}
        for j, c in enumerate(cols):
            values = table[j]
            kind = self._kind_of(values, frame, c)
            self.kinds_.append(kind)
            if kind == "numeric":
                v = np.asarray(values, dtype=np.float64)
                self.mean_[c] = float(v.mean())
                sd = float(v.std())
                self.sd_[c] = sd if sd > 0 else 1.0
            else:
                try:
                    distinct = {}
                    for v in values:
                        distinct.setdefault(_level_key(v), v)
                    self.levels_[c] = sorted(distinct.values(),
                                             key=lambda v: (str(type(v)), v))
                except TypeError:
                    raise TypeError(f"{name} column {c!r} holds values that cannot be "
                                    f"categories (e.g. {type(values[0]).__name__}): use "
                                    "numbers or strings") from None
        self.width_ = sum(1 if k == "numeric" else len(self.levels_[c])
                          for c, k in zip(cols, self.kinds_))
        return self

    def transform(self, static, n_rows, name="static"):
        """-> (encoded rows (n_rows, width_), list of the (column, value) pairs
        of levels not seen at fit)."""
        _, table, _ = self._table(static, n_rows, name, fitted=True)
        out = np.zeros((n_rows, self.width_))
        unseen = []
        k = 0
        for j, (c, kind) in enumerate(zip(self.columns_, self.kinds_)):
            values = table[j]
            if kind == "numeric":
                bad = [v for v in values if not _is_number(v)]
                if bad:
                    raise ValueError(f"{name} column {c!r} is numeric at fit; got {bad[0]!r}")
                v = np.asarray(values, dtype=np.float64)
                if np.isinf(v).any():
                    raise ValueError(f"{name} column {c!r} contains infinity")
                out[:, k] = (v - self.mean_[c]) / self.sd_[c]
                k += 1
            else:
                levels = self.levels_[c]
                where = {_level_key(lv): i for i, lv in enumerate(levels)}
                for r, v in enumerate(values):
                    i = where.get(_level_key(v))
                    if i is None:              # the "unknown" level: an all-zero block
                        unseen.append((c, v))
                    else:
                        out[r, k + i] = 1.0
                k += len(levels)
        return out, unseen

    # ------------------------------------------------------------- reading
    def _table(self, static, n_rows, name, fitted):
        """-> (column names, list of columns as Python lists, the DataFrame or
        None), NaN refused."""
        if static is None:
            raise ValueError(f"{name} is missing")
        if _is_pandas(static):
            import pandas as pd
            frame = static
            if isinstance(static, pd.Series):
                # one series' row (its index names the columns) at predict, else
                # one feature per series
                one_row = (fitted and n_rows == 1
                           and set(static.index) == set(self.columns_))
                frame = static.to_frame().T if one_row else static.to_frame()
            cols = list(frame.columns)
            twice = frame.columns[frame.columns.duplicated()]
            if len(twice):
                raise ValueError(f"{name} names the column {twice[0]!r} twice")
            table = [frame[c].tolist() for c in cols]
        elif isinstance(static, dict):
            if not all(np.ndim(v) == 0 for v in static.values()):
                raise ValueError(f"{name}: a dict gives one series' row (column -> value); "
                                 "pass a DataFrame or a 2-D array for several series")
            cols = list(static)
            table = [[static[c]] for c in cols]
            frame = None
        else:
            arr = np.asarray(static, dtype=object)
            if arr.ndim == 1:
                # at fit one feature per series; at predict one series' row
                arr = arr[None, :] if fitted and n_rows == 1 and len(
                    self.columns_) == arr.shape[0] else arr[:, None]
            if arr.ndim != 2:
                raise ValueError(f"{name} must be 2-D (one row per series), got "
                                 f"{arr.ndim}-D")
            cols = list(range(arr.shape[1]))
            table = [arr[:, j].tolist() for j in cols]
            frame = None
        rows = len(table[0]) if table else 0
        if not cols:
            raise ValueError(f"{name} has no column")
        if rows != n_rows:
            raise ValueError(f"{name} has {rows} rows, one per series is needed ({n_rows}): "
                             "a row is missing for a series, or there is one too many")
        if fitted:
            if set(cols) != set(self.columns_) or (
                    not _is_pandas(static) and not isinstance(static, dict)
                    and len(cols) != len(self.columns_)):
                raise ValueError(f"{name} has columns {cols}, the model was fit with "
                                 f"{self.columns_}")
            order = [cols.index(c) for c in self.columns_]
            cols, table = self.columns_, [table[i] for i in order]
        for c, values in zip(cols, table):
            for r, v in enumerate(values):
                if missing_value(v):
                    raise ValueError(f"{name} column {c!r} has a missing value (NaN) for "
                                     f"series {r}: static features must be complete")
                if _is_number(v) and np.isinf(float(v)):
                    raise ValueError(f"{name} column {c!r} contains infinity (series {r})")
        return cols, table, frame

    @staticmethod
    def _kind_of(values, frame, column):
        if frame is not None:
            return "categorical" if _is_categorical_dtype(frame[column].dtype) or not all(
                _is_number(v) for v in values) else "numeric"
        return "numeric" if all(_is_number(v) for v in values) else "categorical"


def static_of(encoder, static, n_rows, name="static"):
    """Encoded static rows for new series, with a warning for unseen levels."""
    from ._validation import warn_user
    rows, unseen = encoder.transform(static, n_rows, name)
    if unseen:
        c, v = unseen[0]
        warn_user(f"{name}: {len(unseen)} value(s) not seen at fit (the first "
                  f"{v!r} of column {c!r}) are read as the unknown level (all-zero "
                  "one-hot block)", UserWarning)
    return rows


class SeriesCovariates:
    """The covariates of one series as the global model reads them: past-only
    values (n, p) as given (standardised by ``_Prepared``) and the encoded
    static row (d,)."""

    def __init__(self, past=None, static=None):
        self.past, self.static = past, static

    def head(self, n):
        """The covariates of the series' first n steps."""
        return SeriesCovariates(None if self.past is None else self.past[:n], self.static)

    def extended(self, rows):
        """With the past-only values of new steps appended."""
        if self.past is None:
            return self
        return SeriesCovariates(np.vstack([self.past, rows]), self.static)

    @property
    def width(self):
        return ((0 if self.past is None else self.past.shape[1])
                + (0 if self.static is None else len(self.static)))


def series_covariates(n_series, past=None, static=None):
    """One ``SeriesCovariates`` per series (None when there are none)."""
    if past is None and static is None:
        return None
    return [SeriesCovariates(None if past is None else past[i],
                             None if static is None else static[i]) for i in range(n_series)]


def new_series_covariates(est, ys, tix, is_list, X_past, static):
    """The covariates of series passed to predict with ``y=`` (not fitted):
    their own past-only values (optional: without them the network reads the
    covariates at their mean, with a warning) and their static rows
    (required when the model has static features)."""
    from ._validation import warn_user
    p = getattr(est, "_n_past", None)
    encoder = getattr(est, "_static_encoder", None)
    if p is None and X_past is not None:
        raise ValueError("X_past was given, but the model was fit without past-only "
                         "covariates")
    if encoder is None and static is not None:
        raise ValueError("static was given, but the model was fit without static features")
    if p is None and encoder is None:
        return None
    past = None
    if p is not None:
        if X_past is None:
            warn_user("the model reads past-only covariates and X_past was not given for "
                      "the new series: the network reads them at their mean (0 after "
                      "standardisation); pass X_past (one row per value of y) for a "
                      "forecast that uses them", UserWarning)
            past = [np.zeros((a.shape[0], p)) for a in ys]
        else:
            past = past_arrays(X_past, ys, tix, is_list)
            check_width(past, p, "X_past")
    rows = None
    if encoder is not None:
        if static is None:
            raise ValueError("the model was fit with static features: pass static= with "
                             "y= (one row per new series, the columns of fit)")
        rows = static_of(encoder, static, len(ys))
    return series_covariates(len(ys), past, rows)


def update_past(est, X_past_new, ys, tix, is_list, pads):
    """The past-only covariates of the steps ``update`` appends (or None)."""
    p = getattr(est, "_n_past", None)
    if p is None:
        if X_past_new is not None:
            raise ValueError("X_past_new was given, but the model was fit without past-only "
                             "covariates")
        return None
    if X_past_new is None:
        raise ValueError("the model was fit with past-only covariates: update needs their "
                         "values at the new steps (X_past_new, one row per row of y_new)")
    if any(pads):
        raise ValueError("X_past_new must follow the end of the series without a gap")
    past = past_arrays(X_past_new, ys, tix, is_list, name="X_past_new")
    check_width(past, p, "X_past_new")
    return past

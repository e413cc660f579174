"""``RNNForecaster``: recursive and direct multi-step forecasting with
split-conformal prediction intervals.

Design.  A series y (n, k) (k target columns) with optional exogenous
regressors X (n, m) known in the future is mapped to model space:
``z = log(y)`` (``transform='log'``) or ``z = y``; then ``u`` = first
differences of z (``differencing=1``) or z itself, standardised per series
and column.  The network only ever sees u.

* 'recursive': a one-step model trained many-to-many: input step t holds
  ``[u_t, X_{t+1}]``, its target is ``u_{t+1}``.  To forecast, the last
  ``window`` steps of history run through the network, then each prediction
  is fed back one step at a time through the streaming API
  (``SequenceNetwork.stream``), carrying the recurrent state.
* 'direct': a many-to-one model with ``horizon * k`` outputs: the window of
  ``[u_t, 1, X_{t+1}]`` then, with exogenous regressors, ``horizon - 1``
  future steps ``[0, 0, X_{t+1}]`` that carry the regressors of the forecast
  period.

Intervals: split-conformal.  ``fit`` holds out the tail of each series
(``calibration_size``), fits on the rest, forecasts from every origin in the
tail and keeps, per horizon, the absolute errors in z space; the
``coverage`` quantile of them (with the (m+1)/m finite-sample correction)
is the half-width of the interval around the forecast in z space, mapped
back through exp for ``transform='log'``.  The model is then refit on the
whole series.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ._estimators import RNNRegressor, _VersionedPickle
from ._sklearn_compat import Interval, StrOptions
from ._validation import check_real, mean_and_scale, warn_user

# The RNNRegressor options the forecaster passes through.
_TRAINING_PARAMS = (
    "cell", "hidden_size", "num_layers", "nonlinearity", "reset_after", "peephole",
    "dropout", "optimizer", "learning_rate", "momentum", "batch_size", "max_iter",
    "clip_norm", "clip_value", "bptt_steps", "alpha", "early_stopping",
    "validation_fraction", "n_iter_no_change", "tol", "shuffle", "random_state",
    "dtype", "verbose",
)


class _Series:
    """One series in model space, with its scaling."""

    def __init__(self, y, X, transform, differencing):
        self.y, self.X = y, X
        self.transform, self.d = transform, differencing
        z = np.log(y) if transform == "log" else y
        self.z = z
        u = np.diff(z, axis=0) if differencing else z
        self.mean, self.scale = mean_and_scale(u)

    def u(self, z=None):
        """Scaled model-space values aligned with time (NaN before the first)."""
        z = self.z if z is None else z
        raw = np.diff(z, axis=0) if self.d else z
        u = (raw - self.mean) / self.scale
        if self.d:
            u = np.vstack([np.full((1, u.shape[1]), np.nan), u])
        return u

    def to_z(self, u_future, z_last):
        """Forecast u (h, k) -> z of the forecast steps."""
        raw = u_future * self.scale + self.mean
        return z_last + np.cumsum(raw, axis=0) if self.d else raw

    def to_y(self, z):
        return np.exp(z) if self.transform == "log" else z


class RNNForecaster(_VersionedPickle, BaseEstimator):
    """Forecast one or several time series with a recurrent network.

    Parameters
    ----------
    window : int, default=24
        Input length: the number of past steps each forecast reads.
    strategy : {'direct', 'recursive'}, default='direct'
        'recursive': a one-step model whose forecasts are fed back (any
        horizon).  'direct': one model with an output per step of
        ``horizon`` (forecasts up to ``horizon`` steps).
    horizon : int, default=12
        Steps of the direct model, and the horizons calibrated for intervals.
    transform : {None, 'log'}, default=None
        Model the log of a positive series (multiplicative seasonality).
    differencing : {0, 1}, default=1
        Model first differences (trends), then integrate forecasts.
    calibration_size : float, default=0.2
        Fraction of each series held out to calibrate the intervals
        (at least ``horizon + 2`` steps); 0 skips calibration.
    refit : bool, default=True
        Refit on the whole series after calibration (else forecast with the
        model fit on the shorter series).
    cell, hidden_size, num_layers, nonlinearity, reset_after, peephole, \
dropout, optimizer, learning_rate, momentum, batch_size, max_iter, \
clip_norm, clip_value, bptt_steps, alpha, early_stopping, \
validation_fraction, n_iter_no_change, tol, shuffle, random_state, dtype, \
verbose
        Training options, as in ``RNNRegressor``.

    Attributes
    ----------
    regressor_ : RNNRegressor
        The fitted network.
    n_series_ : int
    n_targets_ : int
    conformal_quantiles_ : dict
        Per coverage level asked so far, the half-widths per horizon (z space).
    """

    _parameter_constraints = {
        "window": [Interval(numbers.Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"recursive", "direct"})],
        "horizon": [Interval(numbers.Integral, 1, None, closed="left")],
        "transform": [StrOptions({"log"}), None],
        "differencing": [Interval(numbers.Integral, 0, 1, closed="both")],
        "calibration_size": [Interval(numbers.Real, 0, 1, closed="left")],
        "refit": ["boolean"],
    }

    def __init__(self, *, window=24, strategy="direct", horizon=12, transform=None,
                 differencing=1, calibration_size=0.2, refit=True, cell="lstm",
                 hidden_size=32, num_layers=1, nonlinearity="tanh", reset_after=True,
                 peephole=False, dropout=0.0, optimizer="adam", learning_rate=0.01,
                 momentum=0.9, batch_size=32, max_iter=200, clip_norm=5.0,
                 clip_value=None, bptt_steps=None, alpha=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, shuffle=True,
                 random_state=None, dtype="float32", verbose=0):
        self.window = window
        self.strategy = strategy
        self.horizon = horizon
        self.transform = transform
        self.differencing = differencing
        self.calibration_size = calibration_size
        self.refit = refit
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.nonlinearity = nonlinearity
        self.reset_after = reset_after
        self.peephole = peephole
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.bptt_steps = bptt_steps
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    # ---------------------------------------------------------------- input
    def _check_series(self, y, X, reset):
        """y, X -> (list of (n, k) arrays, list of (n, m) arrays or Nones, is_list, ndim)."""
        is_list = isinstance(y, (list, tuple)) and len(y) > 0 and np.ndim(y[0]) >= 1
        ys = list(y) if is_list else [y]
        if X is None:
            Xs = [None] * len(ys)
        else:
            Xs = list(X) if is_list else [X]
            if len(Xs) != len(ys):
                raise ValueError(f"X has {len(Xs)} series, y has {len(ys)}")
        out_y, out_X, ndims = [], [], set()
        for i, (yi, Xi) in enumerate(zip(ys, Xs)):
            name = f"y[{i}]" if is_list else "y"
            a = _as_finite(yi, name)
            if a.ndim not in (1, 2):
                raise ValueError(f"{name} must be 1-D (one series) or 2-D (time, targets), "
                                 f"got {a.ndim}-D")
            ndims.add(a.ndim)
            a = a[:, None] if a.ndim == 1 else a
            if self.transform == "log" and (a <= 0).any():
                raise ValueError(f"{name} has values <= 0; transform='log' needs a "
                                 "positive series")
            if Xi is not None:
                xa = _as_finite(Xi, f"X[{i}]" if is_list else "X")
                xa = xa[:, None] if xa.ndim == 1 else xa
                if xa.ndim != 2 or xa.shape[0] != a.shape[0]:
                    raise ValueError(f"X must have one row per time step of y "
                                     f"({a.shape[0]}), got shape {xa.shape}")
                Xi = xa
            out_y.append(a)
            out_X.append(Xi)
        if len(ndims) > 1:
            raise ValueError("the series in y mix 1-D and 2-D arrays")
        k = {a.shape[1] for a in out_y}
        if len(k) > 1:
            raise ValueError(f"the series have different numbers of target columns: {sorted(k)}")
        if not reset:
            if is_list != self._is_list or (not is_list and ndims.pop() != self._y_ndim):
                raise ValueError("y must have the form it had at fit")
        return out_y, out_X, is_list, ndims.pop() if ndims else 1

    # -------------------------------------------------------------- fitting
    def fit(self, y, X=None):
        """Fit on a series (1-D), several target columns (2-D) or a list of series.

        Parameters
        ----------
        y : array of shape (n_timesteps,) or (n_timesteps, n_targets), or a
            list of them (one global model over all the series)
        X : array of shape (n_timesteps, n_regressors), or a list of them,
            optional: exogenous regressors, whose future values must be
            passed to ``predict``.

        Returns
        -------
        self
        """
        self._validate_params()
        ys, Xs, self._is_list, self._y_ndim = self._check_series(y, X, reset=True)
        self.n_series_, self.n_targets_ = len(ys), ys[0].shape[1]
        self._n_exog = None if Xs[0] is None else Xs[0].shape[1]
        if any((x is None) != (Xs[0] is None) for x in Xs):
            raise ValueError("X must be given for every series or for none")
        min_len = self.window + self.differencing + (self.horizon if self.strategy == "direct" else 1)
        short = [i for i, a in enumerate(ys) if a.shape[0] < min_len]
        if short:
            raise ValueError(f"series {short} are shorter than window + differencing + "
                             f"{'horizon' if self.strategy == 'direct' else '1'} = {min_len} steps")
        self.conformal_quantiles_ = {}
        self._residuals = None
        n_cal = [self._calibration_length(a.shape[0]) for a in ys]
        if all(c > 0 for c in n_cal):
            heads = [(a[:-c], None if x is None else x[:-c]) for a, x, c in zip(ys, Xs, n_cal)]
            self._fit_model(*zip(*heads))
            self._residuals = self._calibration_residuals(ys, Xs, n_cal)
            if self.refit:
                self._fit_model(ys, Xs)
            else:   # the full history, with the scaling the model was trained with
                self._series = [self._make_series(a, x, like=s)
                                for a, x, s in zip(ys, Xs, self._series)]
        else:
            self._fit_model(ys, Xs)
        return self

    def _calibration_length(self, n):
        if self.calibration_size == 0:
            return 0
        c = max(int(round(self.calibration_size * n)), self.horizon + 2)
        min_train = self.window + self.differencing + (self.horizon if self.strategy == "direct" else 1) + 2
        return c if n - c >= min_train else 0

    def _make_series(self, y, X, like=None):
        s = _Series(y, X, self.transform, self.differencing)
        if like is not None:  # keep the scaling the model was trained with
            s.mean, s.scale = like.mean, like.scale
        return s

    def _fit_model(self, ys, Xs):
        self._series = [self._make_series(a, x) for a, x in zip(ys, Xs)]
        inputs, targets = [], []
        for s in self._series:
            I, Y = self._windows(s)
            inputs.append(I)
            targets.append(Y)
        inputs, targets = np.concatenate(inputs), np.concatenate(targets)
        params = {p: getattr(self, p) for p in _TRAINING_PARAMS}
        self.regressor_ = RNNRegressor(return_sequences=self.strategy == "recursive", **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.regressor_.fit(inputs, targets)

    def _features(self, s, u, start, stop):
        """Input features of steps start..stop-1: [u_t, X_{t+1}] (recursive) or
        [u_t, 1, X_{t+1}] (direct)."""
        parts = [u[start:stop]]
        if self.strategy == "direct":
            parts.append(np.ones((stop - start, 1)))
        if s.X is not None:
            parts.append(s.X[start + 1:stop + 1])
        return np.hstack(parts)

    def _future_steps(self, X_future):
        """Direct strategy: the appended steps [0, 0, X] for horizons 2..H."""
        if self._n_exog is None:
            return None
        h = self.horizon - 1
        return np.hstack([np.zeros((h, self.n_targets_ + 1)), X_future[1:self.horizon]])

    def _windows(self, s):
        """Training inputs and targets of one series."""
        u, n, W, d = s.u(), s.z.shape[0], self.window, self.differencing
        inputs, targets = [], []
        if self.strategy == "recursive":
            for e in range(d + W, n):           # inputs t = e-W .. e-1, targets t+1
                inputs.append(self._features(s, u, e - W, e))
                targets.append(u[e - W + 1:e + 1])
        else:
            H = self.horizon
            for e in range(d + W, n - H + 1):    # targets u_e .. u_{e+H-1}
                seq = self._features(s, u, e - W, e)
                fut = self._future_steps(s.X[e:e + H] if s.X is not None else None)
                inputs.append(seq if fut is None else np.vstack([seq, fut]))
                targets.append(u[e:e + H].ravel())
        return np.stack(inputs), np.stack(targets)

    # ------------------------------------------------------------ forecasting
    def _forecast_u(self, s, z_hist, X_hist, X_future, steps):
        """Forecast ``steps`` values of u after a history (model space)."""
        hist = _Series.__new__(_Series)
        hist.__dict__.update(s.__dict__)
        hist.z, hist.X = z_hist, X_hist
        if X_hist is not None:
            hist.X = np.vstack([X_hist, X_future])   # X_{t+1} of the last step is X_future[0]
        u = hist.u()
        n, W = z_hist.shape[0], self.window
        feats = self._features(hist, u, n - W, n)
        reg = self.regressor_
        dt = np.float32 if reg.dtype == "float32" else np.float64
        if self.strategy == "direct":
            if steps > self.horizon:
                raise ValueError(f"the direct strategy forecasts up to horizon={self.horizon} "
                                 f"steps; asked for {steps}")
            fut = self._future_steps(X_future)
            seq = feats if fut is None else np.vstack([feats, fut])
            out = reg.predict(seq[None].astype(dt))[0]
            return out.reshape(self.horizon, self.n_targets_)[:steps]
        net = reg.network_
        out = np.empty((steps, self.n_targets_))
        Z, state = net.stream(feats[None].astype(dt))
        for h in range(steps):
            out[h] = Z[0, -1] * reg._y_scale + reg._y_mean
            if h + 1 == steps:
                break
            step = [out[h]]
            if X_future is not None:
                step.append(X_future[h + 1])
            Z, state = net.stream(np.hstack(step)[None, None].astype(dt), state)
        return out

    def _forecast_z(self, s, z_hist, X_hist, X_future, steps):
        u = self._forecast_u(s, z_hist, X_hist, X_future, steps)
        return s.to_z(u, z_hist[-1])

    def _calibration_residuals(self, ys, Xs, n_cal):
        """|z - z_hat| per horizon from every origin in each held-out tail."""
        H = self.horizon
        res = [[] for _ in range(H)]
        for s, a, x, c in zip(self._series, ys, Xs, n_cal):
            z = np.log(a) if self.transform == "log" else a
            n = a.shape[0]
            for o in range(n - c, n):            # forecast times o .. o+H-1
                steps = min(H, n - o)
                Xf = None if x is None else x[o:o + H]
                if Xf is not None and Xf.shape[0] < H:   # pad unused future rows
                    Xf = np.vstack([Xf, np.repeat(Xf[-1:], H - Xf.shape[0], axis=0)])
                zh = self._forecast_z(s, z[:o], None if x is None else x[:o], Xf, steps)
                for h in range(steps):
                    res[h].append(np.abs(z[o + h] - zh[h]))
        return [np.array(r) for r in res]

    MAX_STEPS = 100_000

    def _check_fh(self, fh):
        if isinstance(fh, (numbers.Integral, np.integer)) and not isinstance(fh, bool):
            if fh < 1:
                raise ValueError(f"fh must be a positive number of steps, got {fh}")
            if self.strategy == "direct" and fh > self.horizon:
                raise ValueError(f"the direct strategy forecasts up to horizon="
                                 f"{self.horizon} steps; asked for {fh}")
            if fh > self.MAX_STEPS:
                raise ValueError(f"fh={fh} is beyond the {self.MAX_STEPS} steps a forecast "
                                 "may run")
            return np.arange(1, int(fh) + 1)
        steps = np.asarray(fh)
        if steps.ndim != 1 or steps.size == 0 or steps.dtype.kind not in "iu" or (steps < 1).any():
            raise ValueError("fh must be a positive int or a 1-D array of positive ints "
                             f"(steps ahead), got {fh!r}")
        self._check_fh(int(steps.max()))
        return steps

    def _check_future_X(self, X, steps):
        need = int(steps.max())
        if self._n_exog is None:
            if X is not None:
                raise ValueError("X was not given at fit; predict takes no X")
            return [None] * self.n_series_
        if X is None:
            raise ValueError(f"this forecaster was fit with exogenous regressors: pass "
                             f"their future values X ({need} rows) to predict")
        Xs = list(X) if self._is_list else [X]
        out = []
        for x in Xs:
            xa = _as_finite(x, "X")
            xa = xa[:, None] if xa.ndim == 1 else xa
            rows = max(need, self.horizon if self.strategy == "direct" else need)
            if xa.ndim != 2 or xa.shape[1] != self._n_exog or xa.shape[0] < rows:
                raise ValueError(f"future X must have shape (>= {rows}, {self._n_exog}), "
                                 f"got {xa.shape}")
            out.append(xa)
        if len(out) != self.n_series_:
            raise ValueError(f"future X has {len(out)} series, the model {self.n_series_}")
        return out

    def _predict_z(self, fh, X):
        check_is_fitted(self, "regressor_")
        steps = self._check_fh(fh)
        Xf = self._check_future_X(X, steps)
        out = []
        for s, xf in zip(self._series, Xf):
            z = self._forecast_z(s, s.z, s.X, xf, int(steps.max()))
            out.append((s, z[steps - 1]))
        return steps, out

    def _shape(self, arrays):
        arrays = [a[:, 0] if self._y_ndim == 1 else a for a in arrays]
        return arrays if self._is_list else arrays[0]

    def predict(self, fh, X=None):
        """Forecast ``fh`` steps ahead (an int: steps 1..fh; or an array of steps).

        With exogenous regressors, ``X`` holds their future values, one row
        per step from the first forecast step: at least ``max(fh)`` rows, and
        ``horizon`` rows for the direct strategy.

        Returns an array (len(fh),) for a 1-D series, (len(fh), n_targets) for
        2-D, or a list of them for a list of series.
        """
        _, out = self._predict_z(fh, X)
        return self._shape([s.to_y(z) for s, z in out])

    def predict_interval(self, fh, X=None, coverage=0.9):
        """Forecast with a split-conformal prediction interval.

        Returns
        -------
        forecast, lower, upper : arrays shaped as ``predict``'s
            Beyond the calibrated ``horizon`` the half-width of the last
            calibrated horizon is used.  With m calibration errors per horizon,
            coverages above m / (m + 1) cannot be guaranteed: a warning says so.
        """
        if isinstance(coverage, bool) or not isinstance(coverage, numbers.Real) \
                or not 0 < coverage < 1:
            raise ValueError(f"coverage must be a number in (0, 1), got {coverage!r}")
        check_is_fitted(self, "regressor_")
        if self._residuals is None:
            raise ValueError("no calibration data: fit with calibration_size > 0 on series "
                             "long enough to hold out a tail")
        q = self._quantiles(coverage)
        steps, out = self._predict_z(fh, X)
        width = q[np.minimum(steps, len(q)) - 1]
        fc, lo, hi = [], [], []
        for s, z in out:
            fc.append(s.to_y(z))
            lo.append(s.to_y(z - width))
            hi.append(s.to_y(z + width))
        return self._shape(fc), self._shape(lo), self._shape(hi)

    def _quantiles(self, coverage):
        if coverage not in self.conformal_quantiles_:
            q = []
            for h, r in enumerate(self._residuals, 1):
                m = len(r)
                level = np.ceil((m + 1) * coverage) / m
                if level > 1:
                    warn_user(
                        f"{m} calibration errors at horizon {h} are too few for coverage "
                        f"{coverage}: the interval uses the largest of them and may cover "
                        "less; use a longer series or a larger calibration_size",
                        UserWarning)
                q.append(np.quantile(r, min(level, 1.0), axis=0, method="higher"))
            self.conformal_quantiles_[coverage] = np.array(q)
        return self.conformal_quantiles_[coverage]

    def update(self, y_new, X_new=None):
        """Append new observations to the history, without refitting."""
        check_is_fitted(self, "regressor_")
        ys, Xs, _, _ = self._check_series(y_new, X_new, reset=False)
        if len(ys) != self.n_series_:
            raise ValueError(f"y_new has {len(ys)} series, the model {self.n_series_}")
        for a, x in zip(ys, Xs):   # check everything before changing anything
            if a.shape[1] != self.n_targets_:
                raise ValueError(f"y_new has {a.shape[1]} target columns, the model "
                                 f"{self.n_targets_}")
            if (x is None) != (self._n_exog is None):
                raise ValueError("X_new must be given exactly when X was given at fit")
            if x is not None and x.shape[1] != self._n_exog:
                raise ValueError(f"X_new has {x.shape[1]} columns, the model was fit "
                                 f"with {self._n_exog}")
            if self.transform == "log" and (a <= 0).any():
                raise ValueError("y_new has values <= 0; transform='log' needs a positive "
                                 "series")
        for s, a, x in zip(self._series, ys, Xs):
            s.y = np.vstack([s.y, a])
            s.z = np.log(s.y) if self.transform == "log" else s.y
            if x is not None:
                s.X = np.vstack([s.X, x])
        return self


def _as_finite(a, name):
    check_real(a, name)
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


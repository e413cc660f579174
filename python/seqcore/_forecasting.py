"""``RNNForecaster``: recursive and direct multi-step forecasting with
calibrated prediction intervals, for arrays and pandas objects.

Design.  A series y (n, k) (k target columns, NaN where a value is missing)
with optional exogenous regressors X (n, m) known in the future is mapped to
model space in four steps, each undone in reverse on the forecasts:

1. ``z = log(y)`` (``transform='log'``, or ``'auto'`` on a positive series)
   or ``z = y``;
2. ``a = z - s[t mod m]``: the seasonal indices s of a classical additive
   decomposition of z (centred moving average of one period, mean of the
   detrended values per phase), removed when the series is seasonal at its
   period m (``deseasonalize``; ``'auto'`` runs the ACF test of the M4
   Theta benchmark).  Missing values of a are filled by linear
   interpolation (constant beyond the ends);
3. ``u`` = first differences of a (``differencing=1``) or a itself,
   standardised per series and column on the observed values only;
4. the network sees windows of u.  A training window whose target touches a
   missing value (or an interpolated difference) is dropped: the gaps are
   imputed in the inputs and masked out of the loss.

* 'recursive': a one-step model trained many-to-many: input step t holds
  ``[u_t, X_{t+1}]``, its target is ``u_{t+1}``.  To forecast, the last
  ``window`` steps of history run through the network, then each prediction
  is fed back one step at a time through the streaming API
  (``SequenceNetwork.stream``), carrying the recurrent state.
* 'direct': a many-to-one model with ``horizon * k`` outputs: the window of
  ``[u_t, 1, X_{t+1}]`` then, with exogenous regressors, ``horizon - 1``
  future steps ``[0, 0, X_{t+1}]`` that carry the regressors of the forecast
  period.

Covariates besides X (``_covariates``): past-only covariates P_t (known up
to now only, standardised per series) and the encoded static row S of a
series in a list join every input step, ``[u_t, (1,) X_{t+1}, P_t, S]``;
the direct model's appended future steps carry ``[0, 0, X, 0, S]`` (P is
unknown there), so a forecast never needs future values of P.  The
recursive strategy refuses P (it would feed forecasts through steps whose
P is unknown).

``n_models`` networks that differ only by their seed are trained on the same
windows and their forecasts (in u space) averaged.

Intervals and quantiles: split conformal on signed errors.  ``fit`` holds
out the tail of each series (``calibration_size``), fits on the rest,
forecasts from every origin in the tail and keeps the signed errors
``e = z - z_hat`` per horizon h.  Their spread grows with h: the root mean
square per horizon is smoothed by a power law ``sigma_h = a * h**b`` (fit
in logs, weighted by the number of errors, ``0 <= b <= 1.5``), and the
errors divided by sigma_h are pooled over horizons, so that every horizon's
quantile rests on all the calibration errors.  The alpha-quantile of the
forecast at step h is ``z_hat_h + sigma_h * q_alpha`` with q_alpha the
pooled quantile at the finite-sample level (``ceil((N + 1) alpha) / N``
above the median, ``floor((N + 1) alpha) / N`` below it), mapped back
through exp for a log transform; the interval of coverage c spans the
quantiles (1 - c) / 2 and (1 + c) / 2.  The model is then refit on the
whole series.

Probabilistic heads (``distribution``, direct strategy): the networks are
trained by the likelihood of u (or the pinball loss on a grid of levels)
instead of the squared error.  A sample path draws each step's u from the
head (the networks' mixture), independently across the steps, and maps it
to z like a forecast (u is affine in z; with differencing the path sums its
steps); quantiles are those of 1,000 such paths (a seed fixed at fit),
around the forecast.  ``interval_method='head+conformal'`` keeps, for each
calibration value, its signed distance to the head's quantiles at the
levels 0.01..0.99 (divided by sigma_h), and moves the head's a-quantile by
their a-quantile at the finite-sample level (conformalised quantile
regression), the quantiles then rearranged to stay monotone.

Where each part lives: seasonality statistics in ``_seasonality``, calendars
and pandas in ``_calendar``, the model space in ``_model_space``, the length
rules in ``_length_rules``, the interval maths in ``_intervals``; this
module holds the estimator.

Lengths: ``_Plan`` is the one place that turns a series length (and its
season) into the window, the calibration tail and the shortest series a
fit accepts; ``fit``, ``forecast_many`` and the command line all ask it.

pandas: a Series or DataFrame with a DatetimeIndex or PeriodIndex (a
regular grid; missing time stamps become missing values) gives pandas
results indexed by the forecast times, and ``fh`` may name those times.
"""

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _distributed, _engine
from ._base import SeqcoreEstimator, consistent, fit_then_publish, training
from ._calendar import (_align_X, _as_values, _from_pandas, _future_X_frame, _gap_before,
                        _is_dates, _is_pandas, _named)
from ._covariates import PastScaler, StaticEncoder, past_arrays, series_covariates, update_past
from ._estimators import RNNRegressor
from ._intervals import (CAL_LEVELS, HEAD_LOSSES, _check_levels, _smooth_spread, conformal_shift,
                         head_params, head_point, head_samples, monotone)
from ._length_rules import _Plan
from ._model_space import _naive_z, _Series
from ._seasonality import _stationary, detect_season, seasonality_test
from ._sklearn_compat import Interval, StrOptions
from ._smoothing import stat_z
from ._validation import warn_user

# The combination weights (network, seasonal naive, statistical) tried:
# tenths summing to 1, the network alone first.
_COMBINATIONS = np.array([(a / 10, b / 10, (10 - a - b) / 10)
                          for a in range(10, -1, -1) for b in range(10 - a, -1, -1)])
# The weights of a single series too short for a calibration tail
# (combine='auto'): on M1's yearly training parts (last horizon held out)
# the statistical forecast alone beat an equal mix with the network by 12%
# sMAPE on such series.
_SHORT_WEIGHTS = (0.0, 0.0, 1.0)


# The weights are chosen on this many consecutive blocks of the calibration
# tail's origins (see _choose_weights).
_TAIL_BLOCKS = 3


# origins x values of the calibration tails above which the statistical
# forecast is left out of the per-series weights (see ``_calibrate``)
_STAT_TAIL_BUDGET = 20_000_000


def _choose_weights(parts, origins, seasonal=True):
    """The combination weights (network, seasonal naive, statistical) of a
    calibration tail.

    parts (3, n, k) holds each forecast's errors on the tail, origins (n,)
    the forecast origin (time index) of each row.  The weights of (network,
    seasonal naive) are chosen first; the statistical forecast may then take
    over a share of the network's weight, never of the naive forecast's.  Each
    choice (tenths) minimises the worst, over ``_TAIL_BLOCKS`` consecutive
    blocks of origins, of the block's mean |error| relative to the best
    candidate of that block: the choice has to hold up in every period of
    the tail, so a gain the pooled mean owes to one volatile stretch (whose
    large errors dominate it) does not decide alone; ties keep the network.

    Without a season (``seasonal=False``) the naive forecast is the last
    value, which the statistical forecasts nest (SES with alpha -> 1), so
    the weights of lowest pooled mean |error| over all three are kept: on
    M1's yearly series the rule above cost 1-2.5% MASE.

    Why, on M1's tuning split and the panel of ``benchmarks/forecast_panel.py``:
    the weights of lowest pooled |error| over all three gave the statistical
    forecast the naive forecast's share too (elnino_sst: 0.6 of the weight,
    none to the naive), and the panel's held-out origins then went above the
    seasonal naive forecast on two seasonal series of six; this rule keeps
    all six at or below it (benchmarks/README.md).
    """
    ok = np.isfinite(parts).all(axis=0)                      # (n, k)
    p = parts[:, ok]
    if not seasonal:
        return _COMBINATIONS[int(np.argmin(np.abs(_COMBINATIONS @ p).mean(axis=1)))]
    when = np.broadcast_to(np.asarray(origins)[:, None], ok.shape)[ok]
    firsts = np.unique(when)
    n_blocks = min(_TAIL_BLOCKS, len(firsts))
    block = np.searchsorted(firsts, when) * n_blocks // max(len(firsts), 1)

    def pick(candidates):
        worst = np.zeros(len(candidates))
        for b in range(n_blocks):
            loss = np.abs(candidates @ p[:, block == b]).mean(axis=1)
            worst = np.maximum(worst, loss / max(loss.min(), np.finfo(float).tiny))
        return candidates[int(np.argmin(worst))]       # the first of ties

    pair = pick(_COMBINATIONS[_COMBINATIONS[:, 2] == 0])   # the network alone first
    shares = np.linspace(0.0, 1.0, 11)[:, None]
    return pick(np.hstack([pair[0] * (1 - shares), np.full_like(shares, pair[1]),
                           pair[0] * shares]))


# The RNNRegressor options the forecaster passes through.
_TRAINING_PARAMS = (
    "cell", "hidden_size", "num_layers", "nonlinearity", "reset_after", "peephole",
    "dropout", "optimizer", "learning_rate", "learning_rate_schedule", "momentum",
    "batch_size", "max_iter", "clip_norm", "clip_value", "bptt_steps", "alpha",
    "early_stopping", "validation_fraction", "n_iter_no_change", "tol", "shuffle",
    "dtype", "verbose", "callbacks",
)


# Most window steps (windows x their length) one network trains on over all
# its epochs (see max_iter): it bounds the forecaster's training time
# whatever the length of the series.
_STEP_BUDGET = 300_000


class RNNForecaster(SeqcoreEstimator):
    """Forecast one or several time series with a recurrent network.

    Parameters
    ----------
    window : int or 'auto', default='auto'
        Input length: the number of past steps each forecast reads.  'auto':
        two seasons up to 24 steps, one season beyond (``min(2 * season,
        max(season, 24))``), or ``max(2 * horizon, 12)`` without a season,
        shortened so that a series gives at least as many training
        windows as input steps.
    strategy : {'direct', 'recursive'}, default='direct'
        'recursive': a one-step model whose forecasts are fed back (any
        horizon).  'direct': one model with an output per step of
        ``horizon`` (forecasts up to ``horizon`` steps).
    horizon : int, default=12
        Steps of the direct model, and the horizons calibrated for intervals.
    season : int or 'auto', default='auto'
        Seasonal period.  'auto': from the frequency of a pandas index
        (yearly 1, quarterly 4, monthly 12, weekly 52, daily 7, hourly 24,
        ...) when it has a calendar frequency, else found in the data
        (``detect_season``; for a list of series, the most common period).
    deseasonalize : {'auto', True, False}, default='auto'
        Remove the seasonal indices of a classical decomposition (in log
        space with the log transform) before the network, add them back to
        the forecasts.  'auto': when ``seasonality_test`` finds the season
        significant.  Needs three seasons of data.
    transform : {None, 'log', 'auto'}, default='auto'
        Model the log of a positive series (multiplicative seasonality and
        trends).  'auto': log when every observed value is positive.
    differencing : {0, 1, 'auto'}, default='auto'
        Model first differences (trends, random walks), then integrate
        forecasts.  'auto': difference unless the augmented Dickey-Fuller
        test (constant, 4 lags, 5% level) finds the (deseasonalized) series
        stationary; with several series, by majority.
    n_models : int, default=5
        Networks trained with different seeds; their forecasts are averaged.
    combine : {'auto', False}, default='auto'
        'auto': the forecast is ``w_1 * network + w_2 * seasonal naive +
        w_3 * statistical`` (in model space, before the inverse transform;
        statistical: ``seqcore._smoothing.stat_forecasts``, Holt, damped
        Holt and Theta without a season, damped Holt and Theta with one),
        with the weights (tenths summing to 1) of lowest mean absolute
        error over the calibration tail; the intervals are calibrated on
        the errors of that combination.  A single series too short for a
        calibration tail (``calibration_size`` > 0) gets the statistical
        forecast alone (``fallback_ = 'statistical'``, with a warning).
        False: the network alone.
    calibration_size : float, default=0.5
        Fraction of each series held out to calibrate the intervals
        (at least ``horizon + 2`` steps); 0 skips calibration.  A long tail
        sees more of the series' history of errors: on the panel of
        ``benchmarks/forecast_panel.py`` 0.2 covered 80% of the held-out
        values with 90% intervals, 0.35 86% and 0.5 90%.
    refit : bool, default=True
        Refit on the whole series after calibration (else forecast with the
        model fit on the shorter series).
    cell : str, default='lstm'
        A cell kind of ``seqcore.nn.CELLS``.
    hidden_size, num_layers, nonlinearity, reset_after, peephole, \
dropout, optimizer, learning_rate, learning_rate_schedule, momentum, \
batch_size, max_iter, clip_norm, clip_value, bptt_steps, alpha, early_stopping, \
validation_fraction, n_iter_no_change, tol, shuffle, random_state, dtype, \
verbose, callbacks
        Training options, as in ``RNNRegressor``, except ``early_stopping``,
        True by default here: 10% of the training windows (at least 3, at
        most 30%; none with fewer than 10 windows) are held out and training
        stops when their R^2 stalls (the best weights are kept), which on the
        panel halved the error on noisy series.  With many training
        windows a network trains for fewer than ``max_iter`` epochs: at most
        300,000 window steps (windows times their length) in all, and at
        least 20 epochs.
    global_method : {'auto', 'normalised', 'classic'}, default='auto'
        How a list of series is learnt.  'normalised' (``seqcore._global``):
        each series in logs where positive and deseasonalised when
        seasonal, every window scaled by the series' typical step and
        taken relative to its last value, at most 16 windows per series;
        the network's ``horizon`` outputs correct each window's Theta
        forecast (every other network of the ensemble without logs), and
        its forecast is combined with Theta and damped Holt by weights
        chosen on each series' last ``horizon`` values held out, when that
        beats the network alone there by 5%; series
        shorter than the lookback are read from a shorter context
        (``fallback_``).  The calibration tail is then the last
        ``horizon`` values (``calibration_size`` > 0 only turns it on).
        'classic': the one-series pipeline above, shared.  'auto':
        'normalised' for a list of 1-D series without X and the direct
        strategy, else 'classic'.
    distribution : {None, 'normal', 'student_t', 'quantile'}, default=None
        The networks' head.  None: a point forecast trained on the squared
        error.  'normal', 'student_t' (learnt degrees of freedom > 2): a
        likelihood head trained by the negative log-likelihood of each
        step of the horizon (``RNNRegressor(loss='gaussian')``,
        'student_t'); its mean is the forecast.  'quantile': a quantile
        head trained by the pinball loss at the levels 0.02, 0.05, 0.1,
        0.2, ..., 0.9, 0.95, 0.98 (other levels interpolated, flat beyond
        the ends); its median is the forecast.  Needs the direct strategy.
        'negative_binomial' (counts) is refused: the networks learn
        transformed values (logs, differences, scaled), which are not
        counts; ``RNNRegressor(loss='negative_binomial')`` trains on counts.
        See ``predict_samples`` for how the head's draws form sample paths.
    interval_method : {'auto', 'conformal', 'head', 'head+conformal'}, default='auto'
        What ``predict_interval`` and ``predict_quantiles`` read.
        'conformal': the split-conformal quantiles of the calibration
        errors (see the module's notes).  'head': the head's own quantiles
        (from its sample paths, centred on the forecast, which may combine
        the network with another forecast).  'head+conformal':
        conformalised quantile regression: each of the head's quantiles
        moved by the conformal quantile of the calibration values' signed
        distances to it (pooled over the horizons, each divided by that
        horizon's ``interval_scale_``), so that a head too narrow or too
        wide is corrected.  Both calibrated methods need
        ``calibration_size`` > 0 (refused at fit otherwise).
        'auto': 'conformal' without a head; with one, 'head+conformal'
        when there is calibration data, else 'head'.

    Attributes
    ----------
    regressors_ : list of RNNRegressor
        The fitted networks (``n_models``).
    regressor_ : RNNRegressor
        The first of them.
    season_ : int
        The seasonal period used (1: none).
    window_ : int
        The input length used.
    differencing_ : int
        The differencing used (0 or 1).
    deseasonalized_ : list of bool
        Per series, whether the seasonal indices were removed.
    log_ : bool
        Whether the series were modelled in logs.
    n_series_ : int
    n_targets_ : int
    interval_scale_ : ndarray of shape (horizon, n_targets) or None
        The smoothed spread sigma_h of the calibration errors (model space).
    n_calibration_errors_ : int
        How many signed errors each interval rests on (0: not calibrated).
    combination_weight_ : float
        The network's weight in the forecast (see ``combine``).
    combination_weights_ : dict
        Every weight: 'network', 'naive' and 'statistical'; with the
        'normalised' global model 'network', 'theta_log' (its Theta base),
        'theta', 'damped' and 'damped_log' (``seqcore._global.COMPONENTS``).
    fallback_ : str, or list of str per series for a list
        What forecasts each series: 'network'; 'short_context' (the global
        network from a window shorter than its lookback); 'statistical'
        (``seqcore._smoothing.stat_forecasts`` for a single series shorter
        than ``window + differencing + horizon``, or too short for its
        calibration tail: see ``combine``); 'theta' (the Theta method,
        ``seqcore.forecasting.ThetaForecaster``, for a series of a list
        with fewer than 3 values); 'naive' (a single value, repeated).
        Each fallback warns at fit.
    global_method_ : {'normalised', 'classic'} or None
        The global model used (None for a single series).

    Notes
    -----
    Missing values (NaN) inside y are filled by interpolation in the inputs
    and left out of the training targets and of the calibration errors;
    with a pandas index, missing time stamps are missing values.  inf is
    refused, and so are NaN in X.
    """

    _parameter_constraints = {
        "window": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "strategy": [StrOptions({"recursive", "direct"})],
        "horizon": [Interval(numbers.Integral, 1, None, closed="left")],
        "season": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "deseasonalize": ["boolean", StrOptions({"auto"})],
        "transform": [StrOptions({"log", "auto"}), None],
        "differencing": [Interval(numbers.Integral, 0, 1, closed="both"), StrOptions({"auto"})],
        "n_models": [Interval(numbers.Integral, 1, None, closed="left")],
        "combine": [StrOptions({"auto"}), "boolean"],
        "calibration_size": [Interval(numbers.Real, 0, 1, closed="left")],
        "refit": ["boolean"],
        "random_state": ["random_state"],
        "global_method": [StrOptions({"auto", "normalised", "classic"})],
        "distribution": [StrOptions(set(HEAD_LOSSES)), None],
        "interval_method": [StrOptions({"auto", "conformal", "head", "head+conformal"})],
        # the network's options, declared once (by RNNRegressor): checked at
        # fit's start, in messages that name RNNForecaster
        **{p: RNNRegressor._parameter_constraints[p] for p in _TRAINING_PARAMS},
    }

    def __init__(self, *, window="auto", strategy="direct", horizon=12, season="auto",
                 deseasonalize="auto", transform="auto", differencing="auto", n_models=5,
                 combine="auto", calibration_size=0.5, refit=True, cell="lstm",
                 hidden_size=32, num_layers=1, nonlinearity="tanh", reset_after=True,
                 peephole=False, dropout=0.0, optimizer="adam", learning_rate=0.01,
                 learning_rate_schedule=None, momentum=0.9, batch_size=32, max_iter=200,
                 clip_norm=5.0, clip_value=None, bptt_steps=None, alpha=0.0,
                 early_stopping=True, validation_fraction=0.1, n_iter_no_change=10,
                 tol=1e-4, shuffle=True, random_state=None, dtype="float32", verbose=0,
                 callbacks=None, global_method="auto", distribution=None,
                 interval_method="auto"):
        self.window = window
        self.strategy = strategy
        self.horizon = horizon
        self.season = season
        self.deseasonalize = deseasonalize
        self.transform = transform
        self.differencing = differencing
        self.n_models = n_models
        self.combine = combine
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
        self.learning_rate_schedule = learning_rate_schedule
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
        self.callbacks = callbacks
        self.global_method = global_method
        self.distribution = distribution
        self.interval_method = interval_method

    # ---------------------------------------------------------------- input
    def _check_series(self, y, X, reset):
        """y, X -> (list of (n, k) arrays, list of (n, m) arrays or Nones, is_list,
        ndim, list of _TimeIndex or Nones)."""
        is_list = (isinstance(y, (list, tuple)) and len(y) > 0
                   and (np.ndim(y[0]) >= 1 or _is_pandas(y[0])))
        ys = list(y) if is_list else [y]
        if X is None:
            Xs = [None] * len(ys)
        else:
            Xs = list(X) if is_list and isinstance(X, (list, tuple)) else [X]
            if len(Xs) != len(ys):
                raise ValueError(f"X has {len(Xs)} series, y has {len(ys)}")
        out_y, out_X, ndims, tix = [], [], set(), []
        for i, (yi, Xi) in enumerate(zip(ys, Xs)):
            name = f"y[{i}]" if is_list else "y"
            ti = None
            if _is_pandas(yi):
                a, ti = _from_pandas(yi, name)
                if not np.isfinite(a[np.isfinite(a) | np.isinf(a)]).all():
                    raise ValueError(f"{name} contains infinity")
            else:
                a = _as_values(yi, name)
            if a.ndim not in (1, 2):
                raise ValueError(f"{name} must be 1-D (one series) or 2-D (time, targets), "
                                 f"got {a.ndim}-D")
            ndims.add(a.ndim)
            # a copy: the history must not follow later edits of the user's array
            a = np.array(a[:, None] if a.ndim == 1 else a, dtype=np.float64, copy=True)
            if a.shape[0] == 0:
                raise ValueError(f"{name} is empty")
            observed = np.isfinite(a)
            if not observed.any(axis=0).all():
                raise ValueError(f"{name} has no observed value (all NaN) in a column")
            if self.transform == "log" and (a[observed] <= 0).any():
                raise ValueError(f"{name} has values <= 0; transform='log' needs a "
                                 "positive series")
            if Xi is not None:
                Xi = _align_X(Xi, ti, a.shape[0], f"X[{i}]" if is_list else "X")
            out_y.append(a)
            out_X.append(Xi)
            tix.append(ti)
        if len(ndims) > 1:
            raise ValueError("the series in y mix 1-D and 2-D arrays")
        k = {a.shape[1] for a in out_y}
        if len(k) > 1:
            raise ValueError(f"the series have different numbers of target columns: {sorted(k)}")
        if not reset:
            if is_list != self._is_list or (not is_list and ndims.pop() != self._y_ndim):
                raise ValueError("y must have the form it had at fit")
        return out_y, out_X, is_list, ndims.pop() if ndims else 1, tix

    def _season_of(self, ys, tindex=None):
        if self.season != "auto":
            seasons = _calendar_seasons(tindex or [])
            if len(seasons) > 1:
                warn_user(f"the series have different frequencies ({', '.join(seasons.values())})"
                          f": every one is modelled with season={self.season}", UserWarning)
            return int(self.season)
        if tindex is not None:   # a calendar frequency says it (1 for yearly data)
            seasons = _calendar_seasons(tindex)
            if len(seasons) > 1:
                raise ValueError(
                    "the series have different frequencies ("
                    + ", ".join(f"{f} -> season {m}" for m, f in seasons.items())
                    + "): one model reads one season; fit one forecaster per frequency, "
                    "or set season= to use one period for all of them")
            if seasons:
                return next(iter(seasons))
        found = [detect_season(a[:, 0]) for a in ys]
        values, counts = np.unique(found, return_counts=True)
        return int(values[np.argmax(counts)])

    def _plan(self, ys, tindex=None):
        """The model-space choices (season, log, deseasonalization,
        differencing) and the length rules (``_Plan``) of a fit on ys."""
        season = self._season_of(ys, tindex)
        observed = np.concatenate([a[np.isfinite(a)] for a in ys])
        log = self.transform == "log" or (self.transform == "auto"
                                          and bool((observed > 0).all()))
        seasonal = [self._wants_seasonal(a, season, log) for a in ys]
        if self.differencing == "auto":
            votes = [not _stationary(_Series(a, None, log, season, sd, 0).adjusted(
                np.log(a) if log else a)[0][:, 0]) for a, sd in zip(ys, seasonal)]
            d = int(sum(votes) * 2 >= len(votes))
        else:
            d = int(self.differencing)
        plan = _Plan(self, [a.shape[0] for a in ys], season, d)
        plan.log, plan.seasonal, plan.differencing = log, seasonal, d
        return plan

    # -------------------------------------------------------------- fitting
    def fit(self, y, X=None, X_past=None, static=None):
        """Fit on a series (1-D), several target columns (2-D) or a list of series.

        Parameters
        ----------
        y : array of shape (n_timesteps,) or (n_timesteps, n_targets), a
            pandas Series or DataFrame (DatetimeIndex or PeriodIndex: the
            forecasts are then indexed by time), or a list of them (one
            global model over all the series).  NaN marks a missing value.
        X : array of shape (n_timesteps, n_regressors), a DataFrame (aligned
            with y by its index), or a list of them, optional: exogenous
            regressors, whose future values must be passed to ``predict``.
        X_past : array of shape (n_timesteps, n_past), a DataFrame (aligned
            with y by its index), or a list of them, optional: past-only
            covariates, known up to the present only (a competitor's sales,
            yesterday's weather).  The networks read them over their input
            window only, so ``predict`` never needs them; ``update`` takes
            their values at the new steps (``X_past_new``).  Each column is
            standardised per series.  Needs the direct strategy.
        static : DataFrame or array of shape (n_series, n_static), optional
            Static per-series features of a list of series, one row per
            series in the order of y.  Numeric columns are standardised
            across the series; categorical ones (strings, booleans, pandas
            'category' or object columns) are one-hot encoded; a level not
            seen at fit is read at predict as an "unknown" level (an
            all-zero block, with a warning).  The network reads the encoded
            row at every step of its window.  A single series' fit has
            nothing to learn from a constant, and refuses them.

        Returns
        -------
        self

        Notes
        -----
        Fitting one forecaster from two threads at once is refused
        (``RuntimeError``); the fit works on a copy of the estimator and swaps
        the result in at the end, so a ``predict`` running meanwhile uses the
        old model or the new one.  Ctrl-C while a network trains abandons the
        fit (``KeyboardInterrupt``): the forecaster stays as it was.
        """
        self._validate_params()
        self._check_head()
        with training(self), _engine.interrupts_propagate():
            return fit_then_publish(self, lambda work: work._fit(y, X, X_past, static))

    def _check_head(self):
        """What the declarative constraints cannot say about ``distribution``."""
        if self.distribution == "negative_binomial":
            raise ValueError("distribution='negative_binomial' is not available in the "
                             "forecaster: its networks learn transformed values (logs, "
                             "differences, scaled), which are not counts; use 'normal', "
                             "'student_t' or 'quantile' (or RNNRegressor(loss="
                             "'negative_binomial') on count windows)")
        if self.distribution is not None and self.strategy != "direct":
            raise ValueError(f"distribution={self.distribution!r} needs strategy='direct'")
        if self.distribution is None and self.interval_method in ("head", "head+conformal"):
            raise ValueError(f"interval_method={self.interval_method!r} reads the "
                             "distribution head: set distribution (e.g. 'normal')")
        if self.interval_method in ("conformal", "head+conformal") and (
                self.calibration_size == 0):
            raise ValueError(f"interval_method={self.interval_method!r} calibrates on a "
                             "held-out tail: fit with calibration_size > 0")

    def _fit(self, y, X, X_past=None, static=None):
        if _distributed.is_dask_collection(y):   # a long table, trained on the cluster
            if X_past is not None or static is not None:
                raise ValueError("X_past and static are not supported with a Dask table yet: "
                                 "fit on a list of series (or forecast_many on a pandas "
                                 "long table) to use covariates")
            from ._cluster_forecast import fit_table
            return fit_table(self, y, X)
        ys, Xs, self._is_list, self._y_ndim, self._tindex = self._check_series(y, X, reset=True)
        self.n_series_, self.n_targets_ = len(ys), ys[0].shape[1]
        self._n_exog = None if Xs[0] is None else Xs[0].shape[1]
        if any((x is None) != (Xs[0] is None) for x in Xs):
            raise ValueError("X must be given for every series or for none")
        Ps, static_rows = self._check_covariates(ys, X_past, static)
        self._static_rows = static_rows
        from . import _global     # the global model and the short-series fallback
        self._delegate = None
        # the head's draws behind its quantiles: a seed fixed with the fit
        self._head_seed = (int(self.random_state)
                           if isinstance(self.random_state, numbers.Integral)
                           else int(np.random.SeedSequence().entropy % (2 ** 63)))
        if _global.applies(self, self._is_list, self._y_ndim, Xs):
            return _global.fit_global(self, ys, series_covariates(len(ys), Ps, static_rows))
        plan = self._plan(ys, self._tindex)
        if (not self._is_list and self._y_ndim == 1 and Xs[0] is None
                and ys[0].shape[0] < plan.min_fit):
            return _global.fit_fallback(self, ys, plan)
        Ps = [None] * len(ys) if Ps is None else Ps
        plan.check([a.shape[0] for a in ys])
        self.global_method_ = "classic" if self._is_list else None
        self.fallback_ = ["network"] * len(ys) if self._is_list else "network"
        self.season_, self.window_, self.log_ = plan.season, plan.window, plan.log
        self.deseasonalized_, self.differencing_ = plan.seasonal, plan.differencing
        self.interval_scale_ = None
        self.n_calibration_errors_ = 0
        self._set_weights((1.0, 0.0, 0.0))
        self._scores = None
        self._head_scores = None
        n_cal = plan.calibration
        if all(c > 0 for c in n_cal):
            heads = [(a[:-c], None if x is None else x[:-c], None if q is None else q[:-c])
                     for a, x, q, c in zip(ys, Xs, Ps, n_cal)]
            self._fit_model(*zip(*heads))
            self._calibrate(ys, Xs, n_cal, Ps)
            if self.refit:
                self._fit_model(ys, Xs, Ps)
            else:   # the full history, with the scaling the model was trained with
                self._series = [self._make_series(a, x, i, like=s, P=q)
                                for i, (a, x, q, s) in enumerate(zip(ys, Xs, Ps,
                                                                     self._series))]
        else:
            self._fit_model(ys, Xs, Ps)
            if self.combine == "auto" and self.calibration_size > 0 and not self._is_list:
                # wanted, but too short to hold out a tail: no errors to weigh the
                # network on, and a network on so few windows is a gamble
                self._set_weights(_SHORT_WEIGHTS)
                self.fallback_ = "statistical"
                warn_user(f"the series has {ys[0].shape[0]} values: too few to hold out a "
                          "calibration tail that would weigh the network against the "
                          "statistical forecast (seqcore._smoothing), which forecasts it "
                          "instead (fallback_; combine=False forecasts with the network)",
                          UserWarning)
        return self

    def _check_covariates(self, ys, X_past, static):
        """Past-only covariates (list of (n, p) arrays or None) and encoded
        static rows ((n_series, d) or None) of a fit, checked before any work."""
        Ps = past_arrays(X_past, ys, self._tindex, self._is_list)
        self._n_past = None if Ps is None else Ps[0].shape[1]
        if Ps is not None and self.strategy == "recursive":
            raise ValueError("X_past (past-only covariates) needs strategy='direct': the "
                             "recursive strategy would need their future values to feed "
                             "its forecasts back")
        self._static_encoder, rows = None, None
        if static is not None:
            if not self._is_list:
                raise ValueError("static features describe each series of a list (one "
                                 "row per series); a single series' fit has nothing to "
                                 "learn from a constant: fit on a list of series")
            self._static_encoder = StaticEncoder().fit(static, len(ys))
            rows, _ = self._static_encoder.transform(static, len(ys))
        return Ps, rows

    def _set_weights(self, w):
        self._weights = tuple(float(v) for v in w)
        self.combination_weight_ = self._weights[0]
        self.combination_weights_ = dict(zip(("network", "naive", "statistical"), self._weights))

    def _wants_seasonal(self, a, m, log):
        if m < 2 or self.deseasonalize is False:
            return False
        counts = np.isfinite(a).sum(axis=0)
        if counts.min() < 3 * m:
            if self.deseasonalize is True:
                raise ValueError(f"deseasonalize=True needs three seasons ({3 * m} values), "
                                 f"a series has {counts.min()}")
            return False
        if self.deseasonalize is True:
            return True
        z = np.log(a[:, 0]) if log else a[:, 0]
        return seasonality_test(z, m)

    def _make_series(self, y, X, i, like=None, P=None):
        s = _Series(y, X, self.log_, self.season_, self.deseasonalized_[i], self.differencing_)
        if like is not None:  # keep the scaling and season the model was trained with
            s.mean, s.scale, s.seasonal = like.mean, like.scale, like.seasonal
        # covariates beside the model space: past-only values standardised per
        # series (P_raw as given, P scaled) and the static row
        s.P_raw, s.P, s.past_scaler = P, None, None
        if P is not None:
            s.past_scaler = like.past_scaler if like is not None else PastScaler(P)
            s.P = s.past_scaler(P)
        rows = getattr(self, "_static_rows", None)
        s.static = None if rows is None else rows[i]
        return s

    def _seeds(self):
        if self.n_models == 1:
            return [self.random_state]
        rng = check_random_state(self.random_state)
        return [int(s) for s in rng.randint(np.iinfo(np.int32).max, size=self.n_models)]

    def _fit_model(self, ys, Xs, Ps=None):
        Ps = [None] * len(ys) if Ps is None else Ps
        self._series = [self._make_series(a, x, i, P=q)
                        for i, (a, x, q) in enumerate(zip(ys, Xs, Ps))]
        inputs, targets = [], []
        for s in self._series:
            I, Y = self._windows(s)
            if len(I):
                inputs.append(I)
                targets.append(Y)
        if not inputs:
            raise ValueError("no training window has its targets observed: the series have "
                             "too many missing values for this window and horizon")
        inputs, targets = np.concatenate(inputs), np.concatenate(targets)
        params = {p: getattr(self, p) for p in _TRAINING_PARAMS}
        # many (long) windows teach as much in fewer epochs: at most
        # _STEP_BUDGET window steps per network (and at least 20 epochs)
        if self.early_stopping:   # R^2 needs a few held-out windows: at least 3, at most 30%
            n = len(inputs)
            params["early_stopping"] = n >= 10
            params["validation_fraction"] = max(self.validation_fraction, min(0.3, 3 / n))
        steps = len(inputs) * inputs.shape[1]
        params["max_iter"] = int(min(self.max_iter, max(20, -(-_STEP_BUDGET // steps))))
        self.regressors_ = []
        for seed in self._seeds():
            reg = RNNRegressor(return_sequences=self.strategy == "recursive",
                               random_state=seed, **params, **head_params(self.distribution))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                reg.fit(inputs, targets)
            self.regressors_.append(reg)
        self.regressor_ = self.regressors_[0]

    def _features(self, s, u, start, stop):
        """Input features of steps start..stop-1: [u_t, X_{t+1}] (recursive) or
        [u_t, 1, X_{t+1}] (direct), then the past-only covariates P_t and the
        static row S."""
        parts = [u[start:stop]]
        if self.strategy == "direct":
            parts.append(np.ones((stop - start, 1)))
        if s.X is not None:
            parts.append(s.X[start + 1:stop + 1])
        if s.P is not None:
            parts.append(s.P[start:stop])
        if s.static is not None:
            parts.append(np.repeat(s.static[None], stop - start, axis=0))
        return np.hstack(parts)

    def _future_steps(self, X_future, s=None):
        """Direct strategy: the appended steps [0, 0, X, 0, S] for horizons
        2..H (the past-only covariates are unknown there)."""
        if self._n_exog is None:
            return None
        h = self.horizon - 1
        parts = [np.zeros((h, self.n_targets_ + 1)), X_future[1:self.horizon]]
        P, static = (None, None) if s is None else (s.P, s.static)
        if P is not None:
            parts.append(np.zeros((h, P.shape[1])))
        if static is not None:
            parts.append(np.repeat(static[None], h, axis=0))
        return np.hstack(parts)

    def _windows(self, s):
        """Training inputs and targets of one series (windows whose targets are
        all observed)."""
        u, ok = s.u()
        n, W, d = u.shape[0], self.window_, self.differencing_
        inputs, targets = [], []
        if self.strategy == "recursive":
            for e in range(d + W, n):           # inputs t = e-W .. e-1, targets t+1
                if ok[e - W + 1:e + 1].all():
                    inputs.append(self._features(s, u, e - W, e))
                    targets.append(u[e - W + 1:e + 1])
        else:
            H = self.horizon
            for e in range(d + W, n - H + 1):    # targets u_e .. u_{e+H-1}
                if not ok[e:e + H].all():
                    continue
                seq = self._features(s, u, e - W, e)
                fut = self._future_steps(s.X[e:e + H] if s.X is not None else None, s)
                inputs.append(seq if fut is None else np.vstack([seq, fut]))
                targets.append(u[e:e + H].ravel())
        if not inputs:
            return np.empty((0,)), np.empty((0,))
        return np.stack(inputs), np.stack(targets)

    # ------------------------------------------------------------ forecasting
    def _forecast_u(self, s, z_hist, X_hist, X_future, steps, P_hist=None):
        """Forecast ``steps`` values of u after a history (model space), the
        mean over the networks; ``P_hist``: the past-only covariates of that
        history (default: the series')."""
        hist = _Series.__new__(_Series)
        hist.__dict__.update(s.__dict__)
        hist.y = np.exp(z_hist) if self.log_ else z_hist
        if P_hist is not None:
            hist.P = s.past_scaler(P_hist)
        hist.X = X_hist
        if X_hist is not None:
            hist.X = np.vstack([X_hist, X_future])   # X_{t+1} of the last step is X_future[0]
        u, _ = hist.u(z_hist)
        n, W = z_hist.shape[0], self.window_
        feats = self._features(hist, u, n - W, n)
        if steps is None:   # the inputs only (the head's samples read them)
            return feats
        return np.mean([self._forecast_one(reg, feats, X_future, steps, hist)
                        for reg in self.regressors_], axis=0)

    def _forecast_one(self, reg, feats, X_future, steps, s=None):
        """One network's forecast of ``steps`` values of u from the features of
        a window (``s``: the series, for its static row)."""
        dt = np.float32 if reg.dtype == "float32" else np.float64
        if self.strategy == "direct":
            if steps > self.horizon:
                raise ValueError(f"the direct strategy forecasts up to horizon={self.horizon} "
                                 f"steps; asked for {steps}")
            fut = self._future_steps(X_future, s)
            seq = feats if fut is None else np.vstack([feats, fut])
            out = head_point(reg, seq[None].astype(dt))[0]
            return out.reshape(self.horizon, self.n_targets_)[:steps]
        net = reg.network_
        out = np.empty((steps, self.n_targets_))
        Z, state = net.stream(feats[None].astype(dt))
        for h in range(steps):
            out[h] = Z[0, -1] * reg._y_scale + reg._y_mean
            with np.errstate(over="ignore"):   # fed back in the network's dtype
                finite = np.isfinite(out[h].astype(dt)).all()
            if not finite:
                raise ArithmeticError(
                    "the network's recursive forecasts overflow (non-finite values): its "
                    "training diverged; lower learning_rate or set clip_norm")
            if h + 1 == steps:
                break
            step = [out[h]]
            if X_future is not None:
                step.append(X_future[h + 1])
            if s is not None and s.static is not None:
                step.append(s.static)
            Z, state = net.stream(np.hstack(step)[None, None].astype(dt), state)
        return out

    def _forecast_z(self, s, z_hist, X_hist, X_future, steps, weights=None, P_hist=None):
        """The forecast in z: the weighted sum of the network's, the seasonal
        naive and the statistical forecast (``combine``)."""
        w = self._weights if weights is None else weights
        net = s.to_z(self._forecast_u(s, z_hist, X_hist, X_future, steps, P_hist), z_hist)
        if w[0] == 1:
            return net
        out = w[0] * net + w[1] * _naive_z(z_hist, self.season_, steps)
        if w[2]:
            out += w[2] * stat_z([z_hist], self.season_, steps, self.log_)[0]
        return out

    def _calibrate(self, ys, Xs, n_cal, Ps):
        """Signed errors z - z_hat per horizon from every origin in each held-out
        tail; their smoothed spread per horizon and the pooled scaled errors."""
        H, k = self.horizon, self.n_targets_
        errors = [[] for _ in range(H)]
        naive = [[] for _ in range(H)]
        when = [[] for _ in range(H)]          # the origin of each error
        stat = [[] for _ in range(H)]
        devs = [[] for _ in range(H)] if self.distribution is not None else None
        rng = self._head_rng(1)
        # the statistical forecast of every origin refits on every prefix: its
        # cost grows as origins x length, so past a budget (a tail of thousands
        # of origins on a series of tens of thousands of values) it sits out
        # and the weights are the network's and the seasonal naive's
        use_stat = self.combine == "auto" and sum(
            c * a.shape[0] for a, c in zip(ys, n_cal)) <= _STAT_TAIL_BUDGET
        for s, a, x, c, q in zip(self._series, ys, Xs, n_cal, Ps):
            z = np.log(a) if self.log_ else a
            n = a.shape[0]
            origins = [o for o in range(n - c, n) if np.isfinite(z[o:o + H]).any()]
            # the statistical forecasts of every origin in one pass
            zs = stat_z([z[:o] for o in origins], self.season_, H, self.log_) if (
                use_stat and origins) else [None] * len(origins)
            for o, zst in zip(origins, zs):          # forecast times o .. o+H-1
                steps = min(H, n - o)
                Xf = None if x is None else x[o:o + H]
                if Xf is not None and Xf.shape[0] < H:   # pad unused future rows
                    Xf = np.vstack([Xf, np.repeat(Xf[-1:], H - Xf.shape[0], axis=0)])
                zh = self._forecast_z(s, z[:o], None if x is None else x[:o], Xf, steps,
                                      weights=(1.0, 0.0, 0.0),
                                      P_hist=None if q is None else q[:o])
                zn = _naive_z(z[:o], self.season_, steps)
                for h in range(steps):
                    errors[h].append(z[o + h] - zh[h])
                    naive[h].append(z[o + h] - zn[h])
                    stat[h].append(z[o + h] - (zn[h] if zst is None else zst[h]))
                    when[h].append(o)
                if devs is not None:
                    dev = self._head_deviations(s, z[:o], None if x is None else x[:o], Xf,
                                                steps, self._CALIBRATION_SAMPLES, rng,
                                                P_hist=None if q is None else q[:o])
                    for h in range(steps):
                        devs[h].append(dev[:, h])
        errors = [np.array(e).reshape(-1, k) for e in errors]
        naive = [np.array(e).reshape(-1, k) for e in naive]
        stat = [np.array(e).reshape(-1, k) for e in stat]
        if self.combine == "auto":
            # the weights (network, seasonal naive, statistical) the tail supports
            parts = np.stack([np.concatenate(e) for e in (errors, naive, stat)])
            w = _choose_weights(parts, np.concatenate(when), seasonal=self.season_ > 1)
            if not use_stat:   # its errors stood in as the naive's: its share is the naive's
                w = (w[0], w[1] + w[2], 0.0)
            self._set_weights(w)
        w = self._weights
        errors = [w[0] * e + w[1] * nv + w[2] * st for e, nv, st in zip(errors, naive, stat)]
        sigma = np.empty((H, k))
        scores = []
        for j in range(k):
            col = [e[:, j][np.isfinite(e[:, j])] for e in errors]
            sigma[:, j] = _smooth_spread(col, H)
            scores.append(np.concatenate([c / sigma[h, j] for h, c in enumerate(col)]))
        self.interval_scale_ = sigma
        self._scores = scores
        self.n_calibration_errors_ = int(min(len(sc) for sc in scores))
        if devs is not None:
            self._head_scores = _head_scores(errors, devs, sigma)

    MAX_STEPS = 100_000

    def _check_fh(self, fh):
        """fh -> positive steps ahead (1-D int array)."""
        tindex = getattr(self, "_tindex", [None])
        ti = tindex[0] if tindex else None
        if _is_dates(fh):
            if ti is None:
                raise ValueError("fh names times, but the series was fit without a "
                                 "DatetimeIndex or PeriodIndex: pass steps ahead")
            if self._is_list and any(t is None or t.index[-1] != ti.index[-1]
                                     for t in tindex):
                raise ValueError("fh names times, but the series end at different times: "
                                 "pass steps ahead")
            fh = ti.steps_of(fh)
        if isinstance(fh, (numbers.Integral, np.integer)) and not isinstance(fh, (bool, np.bool_)):
            if fh < 1:
                raise ValueError(f"fh must be a positive number of steps, got {fh}")
            if self.strategy == "direct" and fh > self.horizon:
                raise ValueError(f"the direct strategy forecasts up to horizon="
                                 f"{self.horizon} steps; asked for fh={fh}")
            if fh > self.MAX_STEPS:
                raise ValueError(f"fh={fh} is beyond the {self.MAX_STEPS} steps a forecast "
                                 "may run")
            return np.arange(1, int(fh) + 1)
        if _is_pandas(fh) and not _is_dates(fh):
            fh = np.asarray(fh)
        steps = np.asarray(fh) if not isinstance(fh, str) else np.asarray([], dtype=float)
        if steps.ndim != 1 or steps.size == 0 or steps.dtype.kind not in "iu" or (steps < 1).any():
            raise ValueError("fh must be a positive int, a 1-D array of positive ints "
                             "(steps ahead) or future times of the series' index, "
                             f"got {fh!r}")
        self._check_fh(int(steps.max()))
        return steps.astype(np.int64)

    def _check_future_X(self, X, steps):
        need = int(steps.max())
        if self._n_exog is None:
            if X is not None:
                raise ValueError("X was not given at fit; predict takes no X")
            return [None] * self.n_series_
        rows = max(need, self.horizon if self.strategy == "direct" else need)
        if X is None:
            raise ValueError(f"this forecaster was fit with exogenous regressors: pass "
                             f"their future values X ({rows} rows) to predict")
        Xs = list(X) if self._is_list and isinstance(X, (list, tuple)) else [X]
        if len(Xs) != self.n_series_:
            raise ValueError(f"future X has {len(Xs)} series, the model {self.n_series_}")
        out = []
        for x, ti in zip(Xs, self._tindex):
            if _is_pandas(x) and ti is not None and ti.is_time:
                xa = _future_X_frame(x, ti, rows, need)
            else:
                xa = _as_values(x, "X", allow_nan=False)
                xa = xa[:, None] if xa.ndim == 1 else xa
            if xa.ndim != 2 or xa.shape[1] != self._n_exog or xa.shape[0] < rows:
                raise ValueError(f"future X must have shape (>= {rows}, {self._n_exog}), "
                                 f"got {xa.shape}")
            out.append(xa)
        return out

    def _predict_z(self, fh, X):
        check_is_fitted(self, "regressors_")
        steps = self._check_fh(fh)
        Xf = self._check_future_X(X, steps)
        out = []
        for s, xf in zip(self._series, Xf):
            z = self._forecast_z(s, s.z, s.X, xf, int(steps.max()))
            out.append((s, z[steps - 1]))
        return steps, out

    def _shape(self, arrays, steps, columns=None):
        """Per series: (len(fh), k[, c]) arrays -> the user's form (array or pandas)."""
        out = []
        for a, ti in zip(arrays, self._tindex):
            if self._y_ndim == 1:
                a = a[:, 0]
            if ti is not None:
                a = self._to_pandas(a, ti, steps, columns)
            out.append(a)
        return out if self._is_list else out[0]

    def _to_pandas(self, a, ti, steps, columns):
        import pandas as pd
        if columns is None:
            return ti.wrap(a, steps, ti.columns)
        if a.ndim == 2:                           # (h, c) of one target
            return pd.DataFrame(a, index=ti.future(steps), columns=pd.Index(columns))
        targets = ti.columns if ti.columns is not None else list(range(a.shape[1]))
        cols = pd.MultiIndex.from_product([targets, columns])
        return pd.DataFrame(a.reshape(a.shape[0], -1), index=ti.future(steps), columns=cols)

    @consistent
    def predict(self, fh, X=None, y=None, X_past=None, static=None):
        """Forecast ``fh`` steps ahead.

        Parameters
        ----------
        fh : int, array of ints, or times
            An int: steps 1..fh; an array: those steps ahead; with a pandas
            time index, future time stamps or periods (a DatetimeIndex,
            PeriodIndex, or a list of Timestamps, Periods or date strings).
        X : array or DataFrame, optional
            With exogenous regressors, their future values, one row per
            step from the first forecast step: at least ``max(fh)`` rows,
            and ``horizon`` rows for the direct strategy.  A DataFrame is
            selected by the forecast times, which it must cover.
        y : series or list of series, optional
            Histories of series not seen in ``fit`` (NumPy or pandas, as at
            fit), forecast from their own ends with the fitted global model
            (``global_method_ == 'normalised'``) or Theta fallback;
            ``fh`` times then follow their index.
        X_past : array, DataFrame or list of them, optional
            Only with ``y``, for a model fit with past-only covariates: those
            of the new series, one row per value of its history (without
            them the network reads the covariates at their mean, with a
            warning).  The fitted series' are kept from fit and ``update``:
            predict never asks for them.
        static : DataFrame, array, Series or dict, optional
            Only with ``y``, for a model fit with static features: the new
            series' rows (a 1-D row, a pandas Series or a dict column ->
            value for a single new series).

        Returns
        -------
        ndarray of shape (len(fh),) for a 1-D series, (len(fh), n_targets)
        for 2-D, a pandas Series / DataFrame indexed by the forecast times
        for pandas input, or a list of them for a list of series.
        """
        if getattr(self, "_delegate", None) is not None:
            return self._delegate.predict(self, fh, X, y, X_past, static)
        _no_new_series(y, X_past, static)
        steps, out = self._predict_z(fh, X)
        return self._shape([s.to_y(z) for s, z in out], steps)

    @consistent
    def predict_quantiles(self, fh, X=None, alpha=(0.05, 0.5, 0.95), y=None, X_past=None,
                          static=None):
        """Forecast quantiles (see the module's notes on calibration).

        Parameters
        ----------
        fh, X, y, X_past, static : as for ``predict``
        alpha : float or sequence of floats in (0, 1)

        Returns
        -------
        ndarray of shape (len(fh), len(alpha)) for a 1-D series,
        (len(fh), n_targets, len(alpha)) for 2-D; for pandas input a
        DataFrame indexed by the forecast times with one column per alpha
        (columns (target, alpha) for a DataFrame); a list for a list of
        series.

        Notes
        -----
        The median (``alpha=0.5``) is not ``predict``'s forecast.  The
        forecast is the networks' output (trained on the squared error: an
        estimate of the mean); each quantile is that forecast plus the
        alpha-quantile of the signed calibration errors, scaled to the
        horizon (``sigma_h * q_alpha``).  So the median is the forecast
        shifted by the median calibration error: equal to it when the
        errors are centred on 0, and moved toward where they lean when they
        are not (a biased or skewed error distribution).  Use ``predict``
        for the mean and ``alpha=0.5`` for the median.
        """
        alphas = _check_levels(alpha, "alpha")
        if getattr(self, "_delegate", None) is not None:
            steps, _, out, tix, is_list, ndim = self._delegate.quantiles(
                self, fh, X, y, alphas, X_past, static)
            return self._delegate._shape(self, out, steps, tix, is_list, ndim,
                                         columns=list(alphas))
        _no_new_series(y, X_past, static)
        steps, out = self._quantile_z(fh, X, alphas)
        return self._shape([s.to_y(q) for s, q in out], steps, columns=list(alphas))

    @consistent
    def predict_interval(self, fh, X=None, coverage=0.9, y=None, X_past=None, static=None):
        """Forecast with calibrated prediction intervals.

        Parameters
        ----------
        fh, X, y, X_past, static : as for ``predict``
        coverage : float or sequence of floats in (0, 1), default=0.9

        Returns
        -------
        forecast, lower, upper
            ``forecast`` as ``predict`` returns it.  For one coverage,
            ``lower`` and ``upper`` are shaped like it; for a sequence of
            coverages they gain a last axis (ndarray) or one column per
            coverage (pandas).  For a pandas Series the three are Series
            named 'forecast', 'lower' and 'upper'.  Beyond the calibrated
            ``horizon`` the spread follows the fitted power law of the
            horizon.

        Notes
        -----
        The interval is not centred on ``forecast`` in general: it spans
        quantiles of ``forecast`` plus the calibration errors, and those
        errors may lean one way (a model that tends to forecast too low has
        an interval reaching further up).  See ``predict_quantiles`` for why
        its median differs from ``forecast``.
        """
        scalar = isinstance(coverage, numbers.Real) and not isinstance(coverage, bool)
        levels = _check_levels([coverage] if scalar else coverage, "coverage")
        alphas = np.concatenate([(1 - levels) / 2, (1 + levels) / 2])
        if getattr(self, "_delegate", None) is not None:
            return _delegate_interval(self, fh, X, y, alphas, levels, scalar, X_past, static)
        _no_new_series(y, X_past, static)
        steps, out = self._quantile_z(fh, X, alphas, point=True)
        c = len(levels)
        fc, lo, hi = [], [], []
        for s, (z, q) in out:
            fc.append(s.to_y(z))
            lo.append(s.to_y(q[..., :c]))
            hi.append(s.to_y(q[..., c:]))
        if scalar:
            lo, hi = [a[..., 0] for a in lo], [a[..., 0] for a in hi]
            # pandas Series named for what they hold, not three times the series' name
            return tuple(_named(self._shape(a, steps), name) for a, name in
                         ((fc, "forecast"), (lo, "lower"), (hi, "upper")))
        cols = list(levels)
        return (self._shape(fc, steps), self._shape(lo, steps, columns=cols),
                self._shape(hi, steps, columns=cols))

    def _quantile_z(self, fh, X, alphas, point=False):
        check_is_fitted(self, "regressors_")
        if self._interval_source() != "conformal":
            return self._head_quantile_z(fh, X, alphas, point)
        if self._scores is None:
            raise ValueError("no calibration data: fit with calibration_size > 0 on series "
                             "long enough to hold out a tail")
        steps, out = self._predict_z(fh, X)
        q = self._score_quantiles(alphas)                       # (k, A)
        sigma = self._sigma(steps)                              # (len(steps), k)
        res = []
        for s, z in out:
            zq = z[:, :, None] + sigma[:, :, None] * q[None]    # (h, k, A)
            res.append((s, (z, zq)) if point else (s, zq))
        return steps, res

    def _sigma(self, steps):
        sig = self.interval_scale_
        H = sig.shape[0]
        out = sig[np.minimum(steps, H) - 1].copy()
        far = steps > H
        if far.any():   # the power law through the last two calibrated horizons
            if H > 1:
                b = np.log(sig[-1] / sig[-2]) / np.log(H / (H - 1))
                b = np.clip(np.nan_to_num(b), 0.0, 1.5)
            else:
                b = np.full(sig.shape[1], 0.5)
            out[far] = sig[-1] * (steps[far, None] / H) ** b
        return out

    def _score_quantiles(self, alphas):
        q = np.empty((self.n_targets_, len(alphas)))
        for j, sc in enumerate(self._scores):
            N = len(sc)
            for i, a in enumerate(alphas):
                level = (np.ceil((N + 1) * a) / N if a >= 0.5 else np.floor((N + 1) * a) / N)
                if level > 1 or level < 0:
                    warn_user(f"{N} calibration errors are too few for the quantile {a:g}: "
                              "the interval uses the most extreme of them and may cover "
                              "less; use a longer series or a larger calibration_size",
                              UserWarning)
                q[j, i] = np.quantile(sc, min(max(level, 0.0), 1.0),
                                      method="higher" if a >= 0.5 else "lower")
        return q

    # ------------------------------------------------------------- the head
    # (``distribution`` and ``interval_method``; the maths in ``_intervals``)
    _HEAD_SAMPLES = 1000          # draws behind the head's quantiles
    _CALIBRATION_SAMPLES = 200    # draws per calibration origin

    def _interval_source(self):
        method = self.interval_method
        if method == "auto":
            if self.distribution is None:
                return "conformal"
            return ("head+conformal" if getattr(self, "_head_scores", None) is not None
                    else "head")
        return method

    def _head_rng(self, stream=0):
        return np.random.default_rng([getattr(self, "_head_seed", 0), stream])

    def _head_deviations(self, s, z_hist, X_hist, X_future, steps, n, rng, P_hist=None):
        """n draws (n, steps, k) of the head's paths in z minus the networks'
        mean forecast: the draws of each step of u independent, mapped to z
        (u is affine in z; with differencing a path sums its steps)."""
        feats = self._forecast_u(s, z_hist, X_hist, X_future, None, P_hist)
        fut = self._future_steps(X_future, s)
        seq = (feats if fut is None else np.vstack([feats, fut]))[None]
        seq = seq.astype(np.float32 if self.dtype == "float32" else np.float64)
        H, k = self.horizon, self.n_targets_
        U = head_samples(self.regressors_, seq, n, rng)[0].reshape(H, k, n)[:steps]
        mean = np.mean([head_point(r, seq)[0] for r in self.regressors_], axis=0)
        D = np.moveaxis(U - mean.reshape(H, k)[:steps, :, None], -1, 0) * s.scale
        return np.cumsum(D, axis=1) if s.d else D

    def _head_quantile_z(self, fh, X, alphas, point):
        """The head's quantiles (moved by the conformal correction for
        'head+conformal') around the forecast, in z: per series (h, k, A)."""
        recalibrate = self._interval_source() == "head+conformal"
        if recalibrate and getattr(self, "_head_scores", None) is None:
            raise ValueError("interval_method='head+conformal' needs calibration data: fit "
                             "with calibration_size > 0 on series long enough to hold out "
                             "a tail, or use interval_method='head'")
        steps = self._check_fh(fh)
        Xf = self._check_future_X(X, steps)
        h = int(steps.max())
        shift = 0.0
        if recalibrate:   # (k, A) in units of interval_scale_, times its value per step
            shift = conformal_shift(self._head_scores, alphas)[None] * self._sigma(steps)[
                :, :, None]
        rng = self._head_rng()
        res = []
        for s, xf in zip(self._series, Xf):
            z = self._forecast_z(s, s.z, s.X, xf, h)
            dev = self._head_deviations(s, s.z, s.X, xf, h, self._HEAD_SAMPLES, rng)
            zq = np.moveaxis(np.quantile(dev[:, steps - 1], alphas, axis=0), 0, -1)
            zq = monotone(zq + z[steps - 1][:, :, None] + shift, alphas)   # (len(steps), k, A)
            res.append((s, (z[steps - 1], zq)) if point else (s, zq))
        return steps, res

    @consistent
    def predict_samples(self, fh, n_samples=1000, random_state=None, X=None, y=None,
                        X_past=None, static=None):
        """Sample paths of the forecast.

        With a head (``distribution``), each path draws every step of the
        horizon from the head's distribution of that step (the networks'
        mixture), independently of the other steps given the history,
        shifted by the difference between the forecast and the networks'
        mean (when ``combine`` mixed in another forecast), and maps it back
        through the model space (with differencing, a path in levels sums
        its steps' draws, so its spread grows with the horizon).  The draws
        are the head's own (``interval_method`` does not recalibrate them).
        Without a head, each step is the forecast plus a calibration error
        drawn at random (scaled to the horizon as the conformal intervals
        are), independently per step.

        Parameters
        ----------
        fh, X, y, X_past, static : as for ``predict``
        n_samples : int, default=1000
        random_state : int, Generator, RandomState or None

        Returns
        -------
        ndarray of shape (len(fh), n_samples) for a 1-D series, (len(fh),
        n_targets, n_samples) for 2-D; for pandas input a DataFrame indexed
        by the forecast times with one column per path; a list for a list
        of series.
        """
        from ._estimators import _check_n_samples, _generator
        n = _check_n_samples(n_samples)
        rng = _generator(random_state)
        if getattr(self, "_delegate", None) is not None:
            steps, out, tix, is_list, ndim = self._delegate.samples(self, fh, X, y, n, rng,
                                                                    X_past, static)
            return self._delegate._shape(self, out, steps, tix, is_list, ndim,
                                         columns=list(range(n)))
        _no_new_series(y, X_past, static)
        check_is_fitted(self, "regressors_")
        steps = self._check_fh(fh)
        Xf = self._check_future_X(X, steps)
        h = int(steps.max())
        if self.distribution is None and self._scores is None:
            raise ValueError("no calibration data to draw errors from: fit with "
                             "calibration_size > 0, or with a distribution head")
        out = []
        for s, xf in zip(self._series, Xf):
            z = self._forecast_z(s, s.z, s.X, xf, h)[steps - 1]             # (len, k)
            if self.distribution is not None:
                dev = self._head_deviations(s, s.z, s.X, xf, h, n, rng)[:, steps - 1]
            else:
                sigma = self._sigma(steps)
                dev = np.stack([sigma[:, j] * rng.choice(sc, size=(n, len(steps)))
                                for j, sc in enumerate(self._scores)], axis=-1)
            out.append(s.to_y(z[:, :, None] + np.moveaxis(dev, 0, -1)))
        return self._shape(out, steps, columns=list(range(n)))

    def update(self, y_new, X_new=None, X_past_new=None):
        """Append new observations to the history, without refitting.

        ``y_new`` has the form of ``y`` at fit; a pandas object must follow
        the end of the series on its grid (a gap becomes missing values).
        ``X_new``: the future-known regressors of the new steps, and
        ``X_past_new`` the past-only covariates of the new steps (one row
        per row of ``y_new``), each exactly when it was given at fit.
        Refused (``RuntimeError``) while another thread fits or updates it.
        """
        with training(self):
            return self._update(y_new, X_new, X_past_new)

    def _update(self, y_new, X_new, X_past_new=None):
        if getattr(self, "_delegate", None) is not None:
            return self._delegate.update(self, y_new, X_new, X_past_new)
        check_is_fitted(self, "regressors_")
        ys, Xs, is_list, _, tix = self._check_series(y_new, X_new, reset=False)
        if len(ys) != self.n_series_:
            raise ValueError(f"y_new has {len(ys)} series, the model {self.n_series_}")
        pads = []
        for a, x, ti, old in zip(ys, Xs, tix, self._tindex):  # check before changing
            if a.shape[1] != self.n_targets_:
                raise ValueError(f"y_new has {a.shape[1]} target columns, the model "
                                 f"{self.n_targets_}")
            if (x is None) != (self._n_exog is None):
                raise ValueError("X_new must be given exactly when X was given at fit")
            if x is not None and x.shape[1] != self._n_exog:
                raise ValueError(f"X_new has {x.shape[1]} columns, the model was fit "
                                 f"with {self._n_exog}")
            observed = a[np.isfinite(a)]
            if self.log_ and (observed <= 0).any():
                raise ValueError("y_new has values <= 0; the model works in logs and needs "
                                 "a positive series")
            pads.append(_gap_before(old, ti))
        new_past = update_past(self, X_past_new, ys, tix, is_list, pads)
        new_past = [None] * len(ys) if new_past is None else new_past
        for s, a, x, q, ti, old, pad in zip(self._series, ys, Xs, new_past, tix, self._tindex,
                                            pads):
            if pad and x is not None:
                raise ValueError("X_new must follow the end of the series without a gap")
            blank = np.full((pad, a.shape[1]), np.nan)
            s.y = np.vstack([s.y, blank, a])
            if x is not None:
                s.X = np.vstack([s.X, x])
            if q is not None:
                s.P_raw = np.vstack([s.P_raw, q])
                s.P = s.past_scaler(s.P_raw)
            if old is not None and ti is not None:
                old.extend(old.future(np.arange(1, pad + 1)).append(ti.index)
                           if pad else ti.index)
            elif old is not None:
                old.extend(old.future(np.arange(1, a.shape[0] + 1)))
        return self


def _calendar_seasons(tindex):
    """The seasons of the calendar frequencies of time indexes -> a frequency
    name of each."""
    out = {}
    for ti in tindex:
        m = None if ti is None else ti.season()
        if m is not None:
            out.setdefault(m, getattr(ti.freq, "freqstr", str(ti.freq)))
    return out


def _head_scores(errors, devs, sigma):
    """The calibration values' signed distances to the head's quantiles at
    ``CAL_LEVELS``, divided by the horizon's spread sigma_h and pooled over
    the horizons: (N, k, len(CAL_LEVELS)).  errors[h] (N_h, k): value minus
    forecast; devs[h]: N_h draws (n, k) of the head around the forecast.
    Rows with a missing value are left out; None when none is left."""
    out = []
    for h, (e, d) in enumerate(zip(errors, devs)):
        if not len(d):
            continue
        q = np.moveaxis(np.quantile(np.stack(d), CAL_LEVELS, axis=1), 0, -1)  # (N_h, k, L)
        out.append((e[:, :, None] - q) / sigma[h][None, :, None])
    if not out:
        return None
    scores = np.concatenate(out)
    ok = np.isfinite(scores).all(axis=(1, 2))
    return scores[ok] if ok.any() else None


def _no_new_series(y, X_past=None, static=None):
    if y is not None:
        raise ValueError("predict(y=...) forecasts new series with a global model: fit "
                         "on a list of 1-D series (global_method 'auto' or 'normalised')")
    if X_past is not None or static is not None:
        raise ValueError("the past-only covariates and static features of the fitted "
                         "series are kept from fit (and update): predict takes X_past and "
                         "static only with y= (new series, global model)")


def _delegate_interval(est, fh, X, y, alphas, levels, scalar, X_past=None, static=None):
    """predict_interval of a global model or of the Theta fallback."""
    d = est._delegate
    steps, point, q, tix, is_list, ndim = d.quantiles(est, fh, X, y, alphas, X_past, static)
    c = len(levels)
    fc = d._shape(est, [p[steps - 1] for p in point], steps, tix, is_list, ndim)
    if scalar:
        lo = d._shape(est, [a[:, 0] for a in q], steps, tix, is_list, ndim)
        hi = d._shape(est, [a[:, c] for a in q], steps, tix, is_list, ndim)
        return fc, lo, hi
    cols = list(levels)
    return (fc, d._shape(est, [a[:, :c] for a in q], steps, tix, is_list, ndim, columns=cols),
            d._shape(est, [a[:, c:] for a in q], steps, tix, is_list, ndim, columns=cols))

"""One recurrent network across many series: the global forecaster behind
``RNNForecaster.fit`` on a list of series (and
``forecast_many(global_model=True)``).

Design.  Every series is brought to one scale-free space, windows are
drawn from all of them alike, and one horizon-direct network (an ensemble
over seeds and over two spaces, logs and y, each network on its own draw
of windows) learns to correct the Theta forecast of each window; its
forecast is then combined with statistical forecasts (Theta, damped Holt)
when held-out windows say that this clearly helps.

Per series i (values y, seasonal period m, horizon H):

1. ``z = log(y)`` when every value is positive, else ``z = y`` (with
   ``_SPACES = 2``, every other network of the ensemble reads ``z = y``:
   each series is also prepared without logs, its ``.raw`` twin);
2. ``a = z - s[t mod m]``: the additive seasonal indices of z (classical
   decomposition) when the Theta method's seasonality test
   (``_theta.theta_seasonal``: lag-m autocorrelation significant at 90%,
   two seasons of data) finds the series seasonal, else ``a = z``;
3. the scale ``c_i``: the mean absolute first difference of a (1 where a
   is constant);
4. ``T_e``: the Theta forecast (SES plus half the least-squares slope, see
   ``prefix_theta``) of ``a_0 .. a_{e-1}``, for every prefix length e.

A window ending at step e (inputs ``a_{e-L} .. a_{e-1}``, L the lookback)
is normalised by its own last value: input ``(a_t - a_{e-1}) / c_i`` and a
flag 1 for an observed step; a series shorter than L is padded in front
with steps (0, 0).  Its targets, all H at once (the network's H outputs),
are ``asinh(((a_{e+h} - a_{e-1}) - (T_e[h] - a_{e-1})) / c_i)``: the
correction to Theta, squashed so that a few huge errors do not dominate the
squared loss (sMAPE and MASE are absolute errors).  Scaled values are
clipped at +-50.  Every series gives at most ``_WINDOWS_PER_SERIES``
training windows, drawn at random from its possible ends (each network of
the ensemble draws its own), so that long series do not outweigh short
ones.

Covariates (``_covariates``).  With past-only covariates (``X_past``) and
static features (``static``), each window step also holds the p past-only
values of that step (standardised per series, 0 in the front padding) and
the d encoded static features (on every step): inputs (L, 2 + p + d).  The
targets and the Theta base do not change.

Validation and combination.  The networks are first trained on the series
without their last H steps, and forecast those H steps; so do the
statistical components (``COMPONENTS``): the network's Theta base alone,
Theta (``_theta``, on y) and damped Holt (``_smoothing``) on the
deseasonalised y and in logs.  The networks' forecast is averaged in y over
the two spaces (within a space, the members' outputs are averaged).  Of
the weights (tenths summing to 1, ``_WEIGHTS``), the one of least mean
relative error on the held-out horizons (the mean of sMAPE and MASE, each
relative to Theta's, as the M4 competition's OWA) is kept when its OWA is
at least ``_MARGIN`` (5%) below the network's alone, else the network
alone (``combine='auto'``; ``combine=False``: the network alone).  The
networks are then refit on every window (``refit``) and each series is
forecast from its last L steps.  Intervals: split conformal, the held-out
errors of the combination divided by each series' mean absolute
difference, their quantiles per horizon (pooled over the series) added to
the forecast.  With a head (``RNNForecaster(distribution=...)``) the
networks learn a distribution of the squashed targets: its quantiles
(averaged over the networks), mapped to y step by step, minus the
network's forecast, are added to the combined forecast ('head'); the
held-out horizons give each quantile a conformal correction
('head+conformal', see ``_intervals``).  A likelihood head is kept inside
the range of the squashed training targets (``_target_range``).

What was measured on M1 (``benchmarks/README.md``): learning the correction
to Theta rather than the values took the monthly sMAPE from 0.98 to 0.91 of
Theta's; the asinh squashing helped on every frequency.  On M1's training
parts with their last horizon held out as the test, the ensemble over logs
and y took the network's sMAPE / MASE relative to Theta from 0.883 / 0.875
to 0.858 / 0.845 (yearly), 0.993 / 0.947 to 0.972 / 0.939 (quarterly) and
0.909 / 0.968 to 0.917 / 0.965 (monthly).  Not using logs at all
(``_LOG``), mixing lookbacks in the ensemble (``_LOOKBACK_MIX``), more
windows per series, a wider network, a GRU, longer training, an absolute or
Huber loss (``_LOSS``), 10 networks and two held-out origins
(``_VAL_ORIGINS``) did not pay; the switches stay for such comparisons.

Short series.  A series of at least ``_MIN_CONTEXT`` values is forecast by
the network from a shorter (padded) context when it has fewer than L
(``fallback_ = 'short_context'``); a shorter one gets Theta's forecast
(``'theta'``; the last value repeated for a single value, ``'naive'``).
Either way a warning names the series.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._estimators import RNNRegressor
from ._intervals import (CAL_LEVELS, conformal_shift, head_params, head_point,
                         head_quantiles, head_samples, monotone)
from ._theta import theta_fits, theta_seasonal
from ._validation import warn_user

# Most training windows one series gives each network: long series then
# weigh as much as short ones.
_WINDOWS_PER_SERIES = 16
# Fewest observed values the network reads (fewer: the Theta forecast).
_MIN_CONTEXT = 3
# Most window steps (windows x lookback) the networks of one fit train on over
# their epochs, shared among them.
_STEP_BUDGET = 9_000_000
# Scaled inputs and targets are clipped here: one jump of a hundred typical
# differences teaches nothing the others do not.
_CLIP = 50.0
# The forecasts the combination weighs (see "Validation and combination"):
# the network, its Theta base (Theta in logs, deseasonalised), Theta on y,
# and damped Holt (``_smoothing``) on the deseasonalised y and in logs.
COMPONENTS = ("network", "theta_log", "theta", "damped", "damped_log")
_THETA = COMPONENTS.index("theta")


def _weight_grid(k, steps=10):
    """Every k-tuple of multiples of 1/steps summing to 1 (rows), the
    first component's weight decreasing."""
    def counts(k, total):
        if k == 1:
            yield (total,)
            return
        for a in range(total, -1, -1):
            for rest in counts(k - 1, total - a):
                yield (a,) + rest
    return np.array(list(counts(k, steps)), dtype=np.float64) / steps


_WEIGHTS = _weight_grid(len(COMPONENTS))
# Switches of the choices above (see "What was measured"): asinh targets,
# the correction to Theta as target, logs of positive series, and the
# lookback of every other network as a fraction of L (1: all equal).
_SQUASH = True
_RESIDUAL = True
_LOG = True
_LOOKBACK_MIX = 1
# How much lower (relatively) a combination's OWA on the held-out windows
# must be than the network's alone to replace it.  The held-out networks
# train without the last horizon, the final ones with it, and that horizon
# helps the networks more than the statistical forecasts: on M1's training
# parts (their last horizon held out as the test) the combination chosen
# without a margin was 1-3% worse than the network alone on quarterly and
# monthly data, and 0.3-1% better on yearly data, where its held-out OWA was
# 6% below the network's (1-2% on the others).
_MARGIN = 0.05
# Held-out origins the combination weights are chosen on: the last horizon
# of each series, and with 2 the horizon before it too (networks trained on
# the series without their last 2 horizons).
_VAL_ORIGINS = 1
# The spaces the networks of the ensemble alternate between: 1, all in logs
# (where positive, ``_LOG``); 2, every other one on y itself.
_SPACES = 2
# The networks' training loss (sMAPE and MASE are absolute errors).
_LOSS = "squared_error"


def default_lookback(season, horizon):
    """The lookback L of a season and horizon: ``max(2 * season, horizon + season, 6)``
    up to 60 steps."""
    return int(min(max(2 * season, horizon + season, 6), 60))


class _Prepared:
    """One series in the global model's space (see the module's notes)."""

    # covariates (``set_covariates``): none unless attached
    cov = past = static = None

    def __init__(self, y, m, like=None, log=True):
        self.y, self.m = y, m
        if like is None:
            positive = bool((y > 0).all())
            self.log = _LOG and log and positive
            self.mult = positive and not self.log
            z = np.log(y) if self.log else y
            self.seasonal = None
            if m > 1 and theta_seasonal(y, m):
                from ._theta import seasonal_indices
                self.seasonal = seasonal_indices(z, m, multiplicative=self.mult)
        else:   # the same transform as a fitted series (its history grew)
            self.log, self.seasonal, self.mult = like.log, like.seasonal, like.mult
            z = np.log(y) if self.log else y
        self.a = self._deseason(z, np.arange(len(y)))
        d = np.abs(np.diff(self.a)) if len(y) > 1 else np.zeros(1)
        self.scale = float(d.mean()) if like is None else like.scale
        if not self.scale > 0:
            self.scale = 1.0
        self.theta = None
        dy = np.abs(np.diff(y))
        self.mase_scale = float(dy.mean()) if dy.size and dy.mean() > 0 else (
            float(np.abs(y).mean()) or 1.0)

    def _deseason(self, z, t):
        if self.seasonal is None:
            return z
        s = self.seasonal[np.asarray(t) % self.m]
        return z / s if self.mult else z - s

    def _reseason(self, a, t):
        if self.seasonal is None:
            return a
        s = self.seasonal[np.asarray(t) % self.m]
        return a * s if self.mult else a + s

    def set_covariates(self, cov, like=None):
        """Attach the series' covariates (``_covariates.SeriesCovariates``):
        past-only values standardised per series (with the scaling of
        ``like``, the fitted form, when its history grew) and the static row."""
        self.cov, self.past, self.static = cov, None, None
        if cov is None:
            return
        if cov.past is not None:
            from ._covariates import PastScaler
            self.past_scaler = like.past_scaler if like is not None else PastScaler(cov.past)
            self.past = np.clip(self.past_scaler(cov.past), -_CLIP, _CLIP)
        self.static = cov.static

    def inputs(self, end, L):
        """The window of steps end-L .. end-1 (L, 2 + p + d), padded in front:
        the scaled value and an observed flag, then the p past-only covariates
        (0 in the padding) and the d static features (on every step)."""
        lo = max(0, end - L)
        p = 0 if self.past is None else self.past.shape[1]
        d = 0 if self.static is None else len(self.static)
        x = np.zeros((L, 2 + p + d))
        seg = (self.a[lo:end] - self.a[end - 1]) / self.scale
        x[L - len(seg):, 0] = np.clip(seg, -_CLIP, _CLIP)
        x[L - len(seg):, 1] = 1.0
        if p:
            x[L - len(seg):, 2:2 + p] = self.past[lo:end]
        if d:
            x[:, 2 + p:] = self.static
        return x

    def base(self, end):
        """Theta's forecast from the steps before end (scaled, relative to the last)."""
        if self.theta is None:
            return 0.0
        return np.clip((self.theta[end] - self.a[end - 1]) / self.scale, -_CLIP, _CLIP)

    def targets(self, end, H):
        return np.clip((self.a[end:end + H] - self.a[end - 1]) / self.scale, -_CLIP, _CLIP)

    def to_y(self, out, end):
        """Network outputs (H,) after a window ending at end -> forecasts of y."""
        a = self.a[end - 1] + self.scale * np.asarray(out, dtype=np.float64)
        z = self._reseason(a, end + np.arange(len(a)))
        if self.log:
            return np.exp(np.clip(z, -700, 700))
        return z


class GlobalModel:
    """The fitted global model of an ``RNNForecaster`` (see the module's notes).

    Parameters
    ----------
    est : RNNForecaster
        Gives the horizon, lookback (``window``), network and training options.
    season : int
    """

    # the head (RNNForecaster's distribution and interval_method): none in
    # models pickled before the heads existed
    distribution, interval_method, head_scores_, head_range_ = None, "auto", None, None
    spaces = _SPACES

    def __init__(self, est, season):
        self.H = int(est.horizon)
        self.m = int(season)
        self.L = (default_lookback(self.m, self.H) if est.window == "auto"
                  else int(est.window))
        self.combine = est.combine
        self.calibrate = est.calibration_size > 0
        self.refit = est.refit
        self.seeds = _seeds(est)
        self.params = _network_params(est)
        self.distribution = getattr(est, "distribution", None)
        # a head's quantiles map back through one transform: its networks all
        # work in one space (logs where positive)
        self.spaces = _SPACES if self.distribution is None else 1
        self.interval_method = getattr(est, "interval_method", "auto")

    # ------------------------------------------------------------ training
    def lookback(self, k):
        """The lookback of the k-th network: L, and every other one shorter
        (``_LOOKBACK_MIX`` times L) when the ensemble mixes lookbacks."""
        if k % 2 and _LOOKBACK_MIX != 1:
            return max(_MIN_CONTEXT, int(round(self.L * _LOOKBACK_MIX)))
        return self.L

    def _train(self, series, cut, seeds):
        """Networks trained on windows whose targets end at most ``cut`` steps
        before each series' end."""
        regs = []
        params = self.params
        for k, seed in enumerate(seeds):
            L = self.lookback(k)
            X, Y, shards = self.windows(series, cut, seed, L, k)
            p = dict(params)
            budget = _STEP_BUDGET // len(seeds)
            p["max_iter"] = int(min(p["max_iter"], max(5, budget // (len(X) * L))))
            p["early_stopping"] = bool(p["early_stopping"] and len(X) >= 20)
            p.setdefault("loss", _LOSS)
            p.update(head_params(self.distribution))   # a head sets its own loss
            reg = RNNRegressor(random_state=int(seed), gradient_shards=shards, **p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                reg.fit(X, Y)
            regs.append(reg)
        return regs

    def windows(self, series, cut, seed, L, k):
        """Network k's training set: inputs X (N, L, 2 + covariates) float32,
        squashed targets Y (N, H), and the ``gradient_shards`` of its
        regressor (None: one gradient per batch).  The seam a fit on a Dask
        table replaces (``seqcore._cluster_forecast``: the windows are cut on
        the workers)."""
        rng = np.random.default_rng(seed)
        X, Y = cut_windows([_space(s, k, self.spaces) for s in series], cut, L, self.H,
                           lambda i: rng)
        if not X:
            raise no_windows(self.H, cut)
        return np.stack(X).astype(np.float32), _squash(np.stack(Y)), None

    def _network(self, regs, series, cut):
        """Network forecast (S, H) of y from each series' end minus cut: the
        members' mean in their space, averaged over the spaces (``_SPACES``)."""
        by_space = []
        for space in range(min(len(regs), self.spaces)):
            group = [(k, r) for k, r in enumerate(regs) if k % self.spaces == space]
            sp = [_space(s, space, self.spaces) for s in series]
            base = np.stack([np.broadcast_to(s.base(len(s.y) - cut), (self.H,)) for s in sp])
            outs = []
            for k, r in group:
                X = np.stack([s.inputs(len(s.y) - cut, self.lookback(k)) for s in sp])
                outs.append(_unsquash(head_point(r, X.astype(np.float32)).reshape(
                    len(sp), self.H)))
            out = base + np.mean(outs, axis=0)
            by_space.append([s.to_y(o, len(s.y) - cut) for s, o in zip(sp, out)])
        return [np.mean(f, axis=0) for f in zip(*by_space)]

    def fit(self, ys, covs=None):
        """ys: list of 1-D float arrays without NaN; covs: their
        ``_covariates.SeriesCovariates`` (or None).  (``_cluster_forecast.
        ShardedGlobalModel.fit`` follows these stages on a Dask table's
        partitions: a change here needs its twin there.)"""
        H = self.H
        self.fallback_ = [_kind(len(y), self.L) for y in ys]
        seeds = self.seeds
        series = _prepare(ys, self.m, H, covs=covs)
        self.series_ = series
        usable = [i for i, y in enumerate(ys) if len(y) >= _MIN_CONTEXT]
        # held-out windows: the last H steps of every series long enough to train
        # on what is left
        val = [i for i in usable if len(ys[i]) >= _MIN_CONTEXT + 2 * H]
        self.weights_ = (1.0,) + (0.0,) * (len(COMPONENTS) - 1)   # the network alone
        self.head_scores_ = None
        self.validation_ = None
        quantile_errors = None
        if val and (self.combine == "auto" or self.calibrate):
            parts, truth, scales = [], [], []
            for r in range(_VAL_ORIGINS):
                cut = (r + 1) * H
                rows = [i for i in val if len(ys[i]) >= _MIN_CONTEXT + H + cut]
                if not rows:
                    break
                vseries = _prepare([ys[i][:-cut] for i in rows], self.m, H,
                                   covs=None if covs is None else
                                   [covs[i].head(len(ys[i]) - cut) for i in rows])
                if r == 0:
                    self.head_range_ = self._target_range(vseries)
                vregs = self._train(vseries, 0, seeds)
                if r == 0:
                    regs, held = vregs, vseries
                parts.append(np.stack(
                    [np.stack(self._network(vregs, vseries, 0))]
                    + self._statistical([ys[i][:-cut] for i in rows], vseries)))
                truth.append(np.stack([ys[i][len(ys[i]) - cut:len(ys[i]) - cut + H]
                                       for i in rows]))
                scales.append(np.array([s.mase_scale for s in vseries]))
            parts = np.concatenate(parts, axis=1)
            truth, scales = np.concatenate(truth), np.concatenate(scales)
            self.validation_ = _score_weights(truth, parts, scales)
            if self.combine == "auto":
                self.weights_ = chosen_weights(self.validation_)
            combined = np.tensordot(np.array(self.weights_), parts, axes=1)
            quantile_errors = (truth - combined) / scales[:, None]
            n0 = len(held)   # the head's scores: the last horizon's origin
            self.head_scores_ = self._held_out_scores(regs, held, truth[:n0], combined[:n0],
                                                      scales[:n0])
        else:
            regs = None
        self.head_range_ = self._target_range(series)
        trainable = [i for i in usable if len(ys[i]) >= _MIN_CONTEXT + H]
        if not trainable:     # no window to learn from: Theta forecasts every series
            self.fallback_ = ["theta" if len(y) >= 2 else "naive" for y in ys]
            regs = []
        elif self.refit or regs is None:
            regs = self._train([series[i] for i in usable], 0, seeds)
        self.regressors_ = regs
        self.errors_ = quantile_errors
        return self

    # ---------------------------------------------------------- forecasting
    def network_forecasts(self):
        """The network's forecasts (its weight set to 1) of the fitted series
        that it forecasts, None for the others: to report it beside the
        combination."""
        out, kinds = self.forecast([s.y for s in self.series_], self.series_, warn=False,
                                   weights=(1.0,) + (0.0,) * (len(COMPONENTS) - 1))
        return [f if k in ("network", "short_context") else None
                for f, k in zip(out, kinds)]

    def statistical_forecasts(self):
        """The fitted series' forecasts by the statistical components alone,
        weighted as the best combination without the network on the same
        held-out windows (None without them): to report beside the network."""
        if self.validation_ is None:
            return [None] * len(self.series_)
        v = self.validation_
        rows = np.flatnonzero(v["weights"][:, 0] == 0)
        w = v["weights"][rows[np.argmin(v["owa"][rows])]]
        out, _ = self.forecast([s.y for s in self.series_], self.series_, warn=False,
                               weights=tuple(w))
        return out

    def base_forecasts(self):
        """What the network corrects: the Theta forecast of each fitted series
        in the network's space (logs, deseasonalised), None where it has none."""
        return [s.to_y(np.broadcast_to(s.base(len(s.y)), (self.H,)), len(s.y))
                if len(s.y) >= _MIN_CONTEXT else None for s in self.series_]

    def forecast(self, ys, series=None, warn=True, weights=None):
        """Point forecasts (list of (H,) arrays) for series ys (their histories);
        ``series``: their prepared forms when they are the fitted ones (or
        new ones with covariates)."""
        if series is None:
            series = _prepare(ys, self.m, self.H)
        kinds = [_kind(len(y), self.L) if self.regressors_ else
                 ("theta" if len(y) >= 2 else "naive") for y in ys]
        if warn:
            _warn_short(kinds)
        out = [None] * len(ys)
        net_rows = [i for i, k in enumerate(kinds) if k in ("network", "short_context")]
        if net_rows and self.regressors_:
            net = self._network(self.regressors_, [series[i] for i in net_rows], 0)
        else:
            net_rows, net = [], []
        theta_rows = [i for i, y in enumerate(ys) if len(y) >= 2 and i not in net_rows]
        theta = dict(zip(theta_rows, (f.point(self.H) for f in
                                      theta_fits([ys[i] for i in theta_rows], self.m))))
        w = np.asarray(self.weights_ if weights is None else weights)
        if net_rows:
            used = np.flatnonzero(w[1:]) + 1     # the statistical forecasts weighed
            stat = self._statistical([ys[i] for i in net_rows], [series[i] for i in net_rows],
                                     only=used)
            for r, (i, f) in enumerate(zip(net_rows, net)):
                out[i] = w[0] * f + sum(w[k] * stat[k - 1][r] for k in used)
        for i in range(len(ys)):
            if out[i] is None:
                out[i] = theta[i] if i in theta else np.repeat(ys[i][-1], self.H)
        return out, kinds

    def _statistical(self, ys, series, only=None):
        """The forecasts (S, H) of the statistical components (``COMPONENTS``
        after the network) of series ys (at least _MIN_CONTEXT values each)
        and their prepared forms; zeros for those not in ``only``."""
        from ._smoothing import stat_forecasts
        H, m = self.H, self.m
        makers = {
            "theta_log": lambda: np.stack([
                s.to_y(np.broadcast_to(s.base(len(s.y)), (H,)), len(s.y)) for s in series]),
            "theta": lambda: np.stack([f.point(H) for f in theta_fits(ys, m)]),
            "damped": lambda: stat_forecasts(ys, H, m, "damped"),
            "damped_log": lambda: stat_forecasts(ys, H, m, "damped_log"),
        }
        return [makers[name]() if only is None or k in only else np.zeros((len(ys), H))
                for k, name in enumerate(COMPONENTS[1:], start=1)]

    def spread(self, ys, alphas, series=None, method=None):
        """Quantile offsets (len(ys), H, len(alphas)) of each series' forecast
        (``series``: their prepared forms when they are the fitted ones;
        ``method``: the forecaster's ``interval_method`` now, else at fit)."""
        source = self.interval_source(method)
        if source != "conformal":
            return self._head_spread(ys, alphas, series, source == "head+conformal")
        return self._conformal_spread(ys, alphas)

    def _conformal_spread(self, ys, alphas):
        if self.errors_ is None:
            raise ValueError("no calibration data: the global model holds out the last "
                             "horizon of each series to calibrate (calibration_size > 0), "
                             f"and no series had the {_MIN_CONTEXT + 2 * self.H} values "
                             "that needs")
        q = np.stack([_conformal_quantile(self.errors_, a) for a in alphas], axis=-1)
        scales = np.array([_Prepared(y, self.m).mase_scale for y in ys])
        return scales[:, None, None] * q[None]

    # ------------------------------------------------------------- the head
    # (``RNNForecaster(distribution=...)``; the maths in ``_intervals``).
    # The head's quantiles, in the network's space, are mapped to y step by
    # step (every map there is increasing) and taken relative to the
    # network's own forecast: added to the combined forecast, they centre
    # the head's distribution on it.
    def interval_source(self, method=None):
        method = self.interval_method if method is None else method
        if self.distribution is None or method == "conformal":
            return "conformal"
        if method == "auto":
            return "head+conformal" if self.head_scores_ is not None else "head"
        return method

    def _target_range(self, series):
        """Per step of the horizon, the smallest and the largest (squashed)
        target of every training window of the series: a likelihood head's
        quantiles and draws are kept inside it.  (A Gaussian or t in the
        squashed space, mapped back through sinh and, in logs, exp, puts
        its far quantiles orders of magnitude beyond anything a series did
        on volatile series: on M1 monthly, a few series' 95% quantiles
        reached 1e12.)  None without a likelihood head."""
        if self.distribution not in ("normal", "student_t"):
            return None
        H = self.H
        lo, hi = np.full(H, np.inf), np.full(H, -np.inf)
        for s in series:
            ends = np.arange(_MIN_CONTEXT, len(s.a) - H + 1)
            if not len(ends):
                continue
            last = s.a[ends - 1][:, None]
            t = np.clip((np.lib.stride_tricks.sliding_window_view(s.a, H)[ends] - last)
                        / s.scale, -_CLIP, _CLIP)
            if s.theta is not None:   # minus the Theta base, as in s.targets - s.base
                t = t - np.clip((s.theta[ends] - last) / s.scale, -_CLIP, _CLIP)
            t = _squash(t)
            lo, hi = np.minimum(lo, t.min(axis=0)), np.maximum(hi, t.max(axis=0))
        return (lo, hi) if np.isfinite(lo).all() else None

    def _bounded(self, t):
        """Squashed quantiles or draws (S, H, ...) kept inside ``head_range_``."""
        if self.head_range_ is None:
            return t
        lo, hi = self.head_range_
        return np.clip(t, lo[:, None], hi[:, None])

    def _head_offsets(self, regs, series, cut, levels):
        """The head's quantiles at ``levels`` minus the network's forecast, in
        y: (len(series), H, len(levels)), from each series' end minus cut."""
        q = []
        for k, r in enumerate(regs):
            X = np.stack([s.inputs(len(s.y) - cut, self.lookback(k)) for s in series])
            # each network's quantiles kept inside the range, as its draws are
            q.append(self._bounded(head_quantiles([r], X.astype(np.float32), levels)))
        q = _unsquash(np.mean(q, axis=0))                                  # (S, H, A)
        point = self._network(regs, series, cut)
        out = np.empty(q.shape)
        for i, s in enumerate(series):
            end = len(s.y) - cut
            base = np.broadcast_to(s.base(end), (self.H,))
            for a in range(q.shape[2]):
                out[i, :, a] = s.to_y(base + q[i, :, a], end) - point[i]
        return out

    def _held_out_scores(self, regs, vseries, truth, combined, scales):
        """The held-out values' signed distances to the head's quantiles at
        ``CAL_LEVELS`` around the combined forecast, divided by each series'
        mean absolute difference: (S, H, len(CAL_LEVELS)), float32."""
        if self.distribution is None:
            return None
        q = combined[:, :, None] + self._head_offsets(regs, vseries, 0, CAL_LEVELS)
        return ((truth[:, :, None] - q) / scales[:, None, None]).astype(np.float32)

    def _head_spread(self, ys, alphas, series, recalibrate):
        if recalibrate and self.head_scores_ is None:
            raise ValueError("interval_method='head+conformal' needs held-out values: no "
                             f"series had the {_MIN_CONTEXT + 2 * self.H} values to hold out "
                             "a horizon; use interval_method='head'")
        levels = np.asarray(alphas)
        series = self._prepared_for(ys, series)
        kinds = self._kinds(ys)
        rows = [i for i, k in enumerate(kinds) if k in ("network", "short_context")]
        out = np.empty((len(ys), self.H, len(levels)))
        if rows:
            out[rows] = self._head_offsets(self.regressors_, [series[i] for i in rows], 0,
                                           levels)
            if recalibrate:   # per horizon, in units of each series' mean absolute difference
                scales = np.array([series[i].mase_scale for i in rows])
                out[rows] = monotone(out[rows] + scales[:, None, None] * conformal_shift(
                    self.head_scores_, levels)[None], levels)
        others = [i for i in range(len(ys)) if i not in set(rows)]
        if others:   # not forecast by the network: the conformal spread
            out[others] = self._conformal_spread([ys[i] for i in others], alphas)
        return out

    def _prepared_for(self, ys, series):
        if series is None:
            series = [_Prepared(y, self.m) for y in ys]
            prefix_theta(series, self.H)
        return series

    def _kinds(self, ys):
        return [_kind(len(y), self.L) if self.regressors_ else
                ("theta" if len(y) >= 2 else "naive") for y in ys]

    def sample_offsets(self, ys, n, rng, series=None):
        """n draws (len(ys), H, n) around each series' forecast: the head's
        paths (each step drawn independently), or, without a head,
        held-out errors drawn per step."""
        series = self._prepared_for(ys, series)
        kinds = self._kinds(ys)
        rows = ([i for i, k in enumerate(kinds) if k in ("network", "short_context")]
                if self.distribution is not None else [])
        out = np.empty((len(ys), self.H, n))
        if rows:
            sub = [series[i] for i in rows]
            X = np.stack([s.inputs(len(s.y), self.L) for s in sub]).astype(np.float32)
            draws = _unsquash(self._bounded(head_samples(self.regressors_, X, n, rng)))
            point = self._network(self.regressors_, sub, 0)
            for i, s, d, p in zip(rows, sub, draws, point):
                base = np.broadcast_to(s.base(len(s.y)), (self.H,))
                out[i] = np.stack([s.to_y(base + d[:, j], len(s.y)) for j in range(n)],
                                  axis=1) - p[:, None]
        others = [i for i in range(len(ys)) if i not in set(rows)]
        if others:
            if self.errors_ is None:
                raise ValueError("no held-out errors to draw from (and no distribution "
                                 "head): fit with calibration_size > 0 on series of "
                                 f"{_MIN_CONTEXT + 2 * self.H} values or more")
            scales = np.array([_Prepared(ys[i], self.m).mase_scale for i in others])
            pick = rng.integers(0, self.errors_.shape[0], (len(others), self.H, n))
            e = self.errors_[pick, np.arange(self.H)[None, :, None]]
            out[others] = scales[:, None, None] * e
        return out


def chosen_weights(validation):
    """The combination weights of ``_score_weights``' result: the lowest OWA's
    when at least ``_MARGIN`` below the network alone's (row 0), else the
    network alone, which keeps the forecast unless a combination is clearly
    better on the held-out windows."""
    owa = validation["owa"]
    best = int(np.argmin(owa))
    if owa[best] > (1 - _MARGIN) * owa[0]:
        best = 0
    return tuple(float(w) for w in validation["weights"][best])


def cut_windows(series, cut, L, H, rng_of):
    """The training windows of prepared series: lists of inputs (L, 2) and
    targets (H,) ending at most ``cut`` steps before each series' end; a
    series with more possible ends than ``_WINDOWS_PER_SERIES`` draws them
    with ``rng_of(i)`` (i: its place in series)."""
    X, Y = [], []
    for i, s in enumerate(series):
        last = len(s.y) - cut - H            # the last window end
        ends = np.arange(_MIN_CONTEXT, last + 1)
        if len(ends) == 0:
            continue
        if len(ends) > _WINDOWS_PER_SERIES:
            ends = rng_of(i).choice(ends, _WINDOWS_PER_SERIES, replace=False)
        for e in ends:
            X.append(s.inputs(e, L))
            Y.append(s.targets(e, H) - s.base(e))
    return X, Y


def no_windows(H, cut):
    """The error of a fit whose series are all too short to train on."""
    return ValueError(
        f"no series is long enough to train the global network: it needs "
        f"{_MIN_CONTEXT + H + cut} values (horizon={H}"
        + (", and as many again held out to choose the combination" if cut else "")
        + ")")


def _squash(t):
    return np.arcsinh(t) if _SQUASH else t


def _unsquash(t):
    return np.sinh(t) if _SQUASH else t


def _prepare(ys, m, H, like=None, covs=None):
    """The prepared series (in logs where positive, ``_LOG``) with their
    twins without logs (``.raw``; None for a series not in logs)
    when the networks alternate spaces (``_SPACES = 2``), every prefix's
    Theta set, their covariates attached (``covs``: a list of
    ``_covariates.SeriesCovariates``, or None); ``like``: the prepared forms
    of the same series, shorter."""
    like = [None] * len(ys) if like is None else like
    series = [_Prepared(y, m, like=p) for y, p in zip(ys, like)]
    twins = []
    for s, y, p in zip(series, ys, like):
        s.raw = None     # (not s itself: skops refuses the cycle)
        if _SPACES == 2 and s.log:
            s.raw = _Prepared(y, m, like=None if p is None else p.raw, log=False)
            twins.append(s.raw)
    if covs is not None:
        for s, c, p in zip(series, covs, like):
            s.set_covariates(c, p)
            if s.raw is not None:
                s.raw.set_covariates(c, None if p is None else p.raw)
    prefix_theta(series + twins, H)
    return series


def _space(s, k, spaces=_SPACES):
    """The prepared form network k reads: in logs (even k) or not (odd k,
    with two spaces)."""
    return s.raw if spaces == 2 and k % 2 and s.raw is not None else s


def prefix_theta(series, H):
    """Set ``s.theta[e]`` (H,) of every prepared series s: the Theta forecast
    (SES with alpha on a grid of 0.01..0.99, plus half the least-squares
    slope) of a_0 .. a_{e-1}, for every prefix length e >= 2, all series in
    one pass over time (SES's squared errors accumulate, so every prefix's
    best alpha comes from the same run)."""
    if not _RESIDUAL or not series:
        return
    from ._theta import _ALPHAS
    n = max(len(s.a) for s in series)
    S, A = len(series), len(_ALPHAS)
    X = np.zeros((S, n))
    for i, s in enumerate(series):
        X[i, :len(s.a)] = s.a
        X[i, len(s.a):] = s.a[-1]
    level = np.repeat(X[:, :1], A, axis=1)
    sse = np.zeros((S, A))
    best_level, best_alpha = np.zeros((S, n + 1)), np.full((S, n + 1), 0.5)
    best_level[:, 1] = X[:, 0]
    for t in range(1, n):
        err = X[:, t:t + 1] - level
        sse += err * err
        level = level + _ALPHAS[None, :] * err
        j = np.argmin(sse, axis=1)
        best_level[:, t + 1] = level[np.arange(S), j]
        best_alpha[:, t + 1] = _ALPHAS[j]
    # least-squares slope of each prefix from running sums
    t = np.arange(n, dtype=np.float64)
    c = np.arange(1, n + 1, dtype=np.float64)
    st, stt = np.cumsum(t), np.cumsum(t * t)
    sx, stx = np.cumsum(X, axis=1), np.cumsum(X * t, axis=1)
    den = c * stt - st * st
    slope = np.where(den > 0, (c * stx - st * sx) / np.where(den > 0, den, 1), 0.0)
    slope = np.concatenate([np.zeros((S, 1)), slope], axis=1)     # index = prefix length
    h = np.arange(H)[None, None, :]
    a = best_alpha[:, :, None]
    lengths = np.arange(n + 1)[None, :, None]
    theta = best_level[:, :, None] + slope[:, :, None] / 2 * (h + 1 / a - (1 - a) ** lengths / a)
    for i, s in enumerate(series):
        s.theta = theta[i, :len(s.a) + 1]


def can_calibrate(lengths, horizon):
    """Whether a global model fit on series of these lengths has held-out
    errors to calibrate intervals on (one series of 3 + 2 * horizon values)."""
    return any(n >= _MIN_CONTEXT + 2 * horizon for n in lengths)


def _conformal_quantile(errors, alpha):
    """Per horizon, the finite-sample conformal quantile of the errors (N, H)."""
    N = errors.shape[0]
    level = np.ceil((N + 1) * alpha) / N if alpha >= 0.5 else np.floor((N + 1) * alpha) / N
    if level > 1 or level < 0:
        warn_user(f"{N} held-out series are too few for the quantile {alpha:g}: the "
                  "interval uses the most extreme of their errors and may cover less",
                  UserWarning)
    level = min(max(level, 0.0), 1.0)
    return np.quantile(errors, level, axis=0, method="higher" if alpha >= 0.5 else "lower")


def _score_weights(truth, parts, scales):
    """sMAPE and MASE (lag-1 scale) of each combination of the forecasts
    ``parts`` (len(COMPONENTS), S, H), weights on a grid of tenths summing
    to 1; their OWA relative to Theta alone."""
    smape, mase = [], []
    for w in _WEIGHTS:
        f = np.tensordot(w, parts, axes=1)
        den = np.abs(truth) + np.abs(f)
        sm = np.where(den > 0, 200 * np.abs(truth - f) / np.where(den > 0, den, 1), 0.0)
        smape.append(float(sm.mean()))
        mase.append(float((np.abs(truth - f) / scales[:, None]).mean()))
    smape, mase = np.array(smape), np.array(mase)
    ref = int(np.flatnonzero(_WEIGHTS[:, _THETA] == 1)[0])     # Theta alone
    owa = 0.5 * (smape / max(smape[ref], 1e-12) + mase / max(mase[ref], 1e-12))
    return {"weights": _WEIGHTS.copy(), "smape": smape, "mase": mase, "owa": owa}


def _kind(n, L):
    if n >= L:
        return "network"
    if n >= _MIN_CONTEXT:
        return "short_context"
    return "theta" if n >= 2 else "naive"


def _warn_short(kinds):
    short = [i for i, k in enumerate(kinds) if k == "short_context"]
    stat = [i for i, k in enumerate(kinds) if k in ("theta", "naive")]
    if short:
        warn_user(f"{len(short)} series are shorter than the lookback: the network "
                  f"forecasts them from a shorter context (series {_few(short)}; see "
                  "fallback_)", UserWarning)
    if stat:
        warn_user(f"{len(stat)} series are too short for the network (it reads at "
                  f"least {_MIN_CONTEXT} values, and trains only when a series has "
                  f"{_MIN_CONTEXT} + horizon): they get the Theta forecast (the last "
                  f"value for a single value) instead of the network's (series "
                  f"{_few(stat)}; see fallback_)", UserWarning)


def _few(idx):
    return ", ".join(map(str, idx[:5])) + (", ..." if len(idx) > 5 else "")


def _seeds(est):
    rng = check_random_state(est.random_state)
    return [int(s) for s in rng.randint(np.iinfo(np.int32).max, size=est.n_models)]


def _network_params(est):
    """The RNNRegressor options an RNNForecaster passes through."""
    from ._forecasting import _TRAINING_PARAMS
    return {p: getattr(est, p) for p in _TRAINING_PARAMS}


# ================================================================ RNNForecaster hooks
#
# ``RNNForecaster.fit`` hands a list of 1-D series (the direct strategy, no
# exogenous regressors) to ``fit_global``, and a single series too short for
# its network to ``fit_fallback``; either leaves a delegate in ``_delegate``
# that its predict methods and ``update`` call.

def applies(est, is_list, y_ndim, Xs):
    """Whether ``est.fit`` on these inputs trains the global model (past-only
    covariates and static features go with either; future-known X only
    with 'classic')."""
    if est.global_method == "classic":
        return False
    fits = is_list and y_ndim == 1 and all(x is None for x in Xs) and est.strategy == "direct"
    if est.global_method == "normalised" and not fits:
        raise ValueError("global_method='normalised' needs a list of 1-D series, the direct "
                         "strategy and no X (future-known regressors; X_past and static "
                         "are read); use global_method='classic' for the others")
    return fits


def _filled(a):
    """A 1-D series with its missing values interpolated (constant beyond the ends)."""
    ok = np.isfinite(a)
    if ok.all():
        return a.copy()
    t = np.arange(len(a))
    return np.interp(t, t[ok], a[ok])


def fit_global(est, ys, covs=None):
    """Fit the global model of ``est`` on ys (list of (n, 1) arrays) and their
    covariates (list of ``_covariates.SeriesCovariates`` or None); set its
    attributes."""
    season = est._season_of(ys, est._tindex)
    hist = [_filled(a[:, 0]) for a in ys]
    model = GlobalModel(est, season).fit(hist, covs)
    _warn_short(model.fallback_)
    return publish(est, model, _GlobalDelegate(model, hist, covs), season,
                   [s.seasonal is not None for s in model.series_],
                   [s.log for s in model.series_])


def publish(est, model, delegate, season, deseasonalized, logs):
    """Set a forecaster's fitted attributes from its fitted global model
    (in process, or on a Dask table's partitions)."""
    est._delegate = delegate
    est.global_method_ = "normalised"
    est.season_, est.window_, est.differencing_ = season, model.L, 0
    est.regressors_ = model.regressors_
    est.regressor_ = model.regressors_[0] if model.regressors_ else None
    est.fallback_ = list(model.fallback_)
    est.combination_weight_ = model.weights_[0]
    est.combination_weights_ = dict(zip(COMPONENTS, model.weights_))
    est.deseasonalized_ = deseasonalized
    est.log_ = logs
    est.interval_scale_ = None
    est.n_calibration_errors_ = 0 if model.errors_ is None else int(model.errors_.shape[0])
    est.global_model_ = model
    est._scores = None
    return est


def fit_fallback(est, ys, plan):
    """The statistical forecast (``_smoothing.stat_forecasts``) in place of
    the network for one series too short for it."""
    from ._theta import ThetaForecaster
    y = _filled(ys[0][:, 0])
    kind = "statistical" if len(y) >= 2 else "naive"
    warn_user(f"the series has {len(y)} values: shorter than {plan.what} = {plan.min_fit} "
              f"(window={plan.window}); it gets the "
              + ("statistical forecast (the mean of Theta and damped Holt, "
                 "seqcore._smoothing)" if len(y) >= 2 else "last value as its forecast")
              + " instead of the network's (fallback_)", UserWarning)
    est._delegate = _StatDelegate(plan.season, [y])
    est.global_method_ = None
    est.season_, est.window_, est.differencing_ = plan.season, plan.window, 0
    est.regressors_, est.regressor_ = [], None
    est.fallback_ = kind
    est.combination_weight_ = 0.0
    est.combination_weights_ = {"network": 0.0, "naive": 0.0, "statistical": 1.0}
    est.deseasonalized_ = [False]
    est.log_ = False
    est.interval_scale_ = None
    est.n_calibration_errors_ = 0
    est._scores = None
    est._theta_template = ThetaForecaster(season=plan.season)
    return est


class _Delegate:
    """What the predict methods share: input checks and the shape of the output."""

    def _inputs(self, est, fh, X, y, X_past=None, static=None):
        """-> (steps, histories, prepared-or-None, time indexes, is_list, ndim)."""
        from ._covariates import new_series_covariates
        check_is_fitted(est, "regressors_")
        if X is not None:
            raise ValueError("this forecaster was fit without exogenous regressors: "
                             "predict takes no X")
        if y is None:
            if X_past is not None or static is not None:
                raise ValueError("the past-only covariates and static features of the "
                                 "fitted series are kept from fit (and update): predict "
                                 "takes X_past and static only with y= (new series)")
            steps = est._check_fh(fh)
            return (steps, self.hist, self._prepared(), est._tindex, est._is_list,
                    est._y_ndim)
        ys, _, is_list, ndim, tix = est._check_series(y, None, reset=True)
        if any(a.shape[1] != 1 for a in ys):
            raise ValueError("y must hold 1-D series, as the model was fit on")
        covs = new_series_covariates(est, ys, tix, is_list, X_past, static)
        steps = _steps(est, fh, tix)
        hist = [_filled(a[:, 0]) for a in ys]
        return steps, hist, self._new_prepared(hist, covs), tix, is_list, ndim

    def _prepared(self):
        return None

    def _new_prepared(self, hist, covs):
        return None

    def _shape(self, est, arrays, steps, tix, is_list, ndim, columns=None):
        out = []
        for a, ti in zip(arrays, tix):
            if ndim == 2:
                a = a[:, None] if columns is None else a[:, None, :]
            if ti is not None:
                a = est._to_pandas(a, ti, steps, columns)
            out.append(a)
        return out if is_list else out[0]

    def predict(self, est, fh, X, y, X_past=None, static=None):
        steps, hist, prep, tix, is_list, ndim = self._inputs(est, fh, X, y, X_past, static)
        point = self._point(hist, prep, y is None, int(steps.max()))
        return self._shape(est, [p[steps - 1] for p in point], steps, tix, is_list, ndim)

    def quantiles(self, est, fh, X, y, alphas, X_past=None, static=None):
        steps, hist, prep, tix, is_list, ndim = self._inputs(est, fh, X, y, X_past, static)
        h = int(steps.max())
        point = self._point(hist, prep, y is None, h)
        q = self._offsets(hist, alphas, h, prep, est.interval_method)
        out = [(p[:, None] + o)[steps - 1] for p, o in zip(point, q)]
        return steps, point, out, tix, is_list, ndim

    def samples(self, est, fh, X, y, n, rng, X_past=None, static=None):
        """n sample paths of every series: (steps, paths, time indexes, is_list, ndim)."""
        steps, hist, prep, tix, is_list, ndim = self._inputs(est, fh, X, y, X_past, static)
        h = int(steps.max())
        point = self._point(hist, prep, y is None, h)
        draws = self._draws(hist, prep, h, n, rng)
        out = [(p[:h, None] + d[:h])[steps - 1] for p, d in zip(point, draws)]
        return steps, out, tix, is_list, ndim

    def update(self, est, y_new, X_new, X_past_new=None):
        from ._calendar import _gap_before
        from ._covariates import update_past
        check_is_fitted(est, "regressors_")
        ys, Xs, is_list, _, tix = est._check_series(y_new, X_new, reset=False)
        if len(ys) != len(self.hist):
            raise ValueError(f"y_new has {len(ys)} series, the model {len(self.hist)}")
        if any(x is not None for x in Xs):
            raise ValueError("this forecaster was fit without exogenous regressors: "
                             "update takes no X_new")
        pads = [_gap_before(old, ti) for old, ti in zip(est._tindex, tix)]
        new_past = update_past(est, X_past_new, ys, tix, is_list, pads)
        if new_past is not None and getattr(self, "covs", None) is not None:
            self.covs = [c.extended(p) for c, p in zip(self.covs, new_past)]
        for i, (a, ti, pad) in enumerate(zip(ys, tix, pads)):
            old = est._tindex[i]
            joined = np.concatenate([self.hist[i], np.full(pad, np.nan), a[:, 0]])
            self.hist[i] = _filled(joined)
            if old is not None and ti is not None:
                old.extend(old.future(np.arange(1, pad + 1)).append(ti.index)
                           if pad else ti.index)
            elif old is not None:
                old.extend(old.future(np.arange(1, a.shape[0] + 1)))
        self._updated()
        return est

    def _updated(self):
        pass


def _steps(est, fh, tix):
    """Steps ahead for new series: their own time index names the times."""
    saved = est._tindex, est._is_list
    try:
        est._tindex, est._is_list = tix, len(tix) > 1
        return est._check_fh(fh)
    finally:
        est._tindex, est._is_list = saved


class _GlobalDelegate(_Delegate):
    def __init__(self, model, hist, covs=None):
        self.model, self.hist, self.covs = model, hist, covs
        self.prep = list(model.series_)

    def _prepared(self):
        return self.prep

    def _new_prepared(self, hist, covs):
        if covs is None:
            return None
        return _prepare(hist, self.model.m, self.model.H, covs=covs)

    def _updated(self):
        self.prep = _prepare(self.hist, self.model.m, self.model.H, like=self.prep,
                             covs=self.covs)

    def _point(self, hist, prep, fitted, h):
        # the fitted series were warned about at fit
        return self.model.forecast(hist, prep, warn=not fitted)[0]

    def _offsets(self, hist, alphas, h, prep=None, method=None):
        return self.model.spread(hist, alphas, prep, method)

    def _draws(self, hist, prep, h, n, rng):
        return self.model.sample_offsets(hist, n, rng, prep)


class _ThetaDelegate(_Delegate):
    def __init__(self, season, hist):
        self.m, self.hist = season, hist

    def _point(self, hist, prep, fitted, h):
        return [theta_fits([y], self.m)[0].point(h) if len(y) >= 2 else
                np.repeat(y[-1], h) for y in hist]

    def _draws(self, hist, prep, h, n, rng):
        """Theta's Gaussian spread, each step drawn independently."""
        sd = self._offsets(hist, [0.8413447460685429], h)     # norm.cdf(1): one sd
        return [s[:, :1] * rng.standard_normal((h, n)) for s in sd]

    def _offsets(self, hist, alphas, h, prep=None, method=None):
        from scipy.stats import norm
        z = norm.ppf(np.asarray(alphas))
        out = []
        for y in hist:
            if len(y) < 2:
                raise ValueError("the series has a single value: its forecast (that "
                                 "value) has no interval")
            f = theta_fits([y], self.m)[0]
            sd = f.spread(h)
            if f.seasonal is not None and f.multiplicative:
                sd = sd * f.seasonal[(f.n + np.arange(h)) % f.m]
            out.append(sd[:, None] * z[None, :])
        return out


class _StatDelegate(_ThetaDelegate):
    """A single short series: the statistical forecast, with Theta's
    Gaussian interval widths around it."""

    def _point(self, hist, prep, fitted, h):
        from ._smoothing import stat_forecasts
        return [stat_forecasts([y], h, self.m)[0] if len(y) >= 2 else
                np.repeat(y[-1], h) for y in hist]

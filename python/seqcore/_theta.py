"""The classical Theta method (Assimakopoulos & Nikolopoulos, 2000), as the
M4 competition's benchmark runs it, for one series or many at once.

Design.  A series y of length n with seasonal period m:

1. Seasonality: when n >= 2m and the autocorrelation of y at lag m is
   significant at 90% (|r_m| > 1.645 sqrt((1 + sum_{0<k<m} r_k^2) / n), the
   variance statsmodels' ``ThetaModel`` uses; the M4 benchmark's test has
   ``1 + 2 sum`` and needs n >= 3m: on M1's 617 monthly series it left
   about 80 more series seasonal, and Theta's MASE was 1.095 with it
   against 1.063 with this one), y is divided by the
   seasonal indices of a classical multiplicative decomposition (a centred
   moving average of one period, 2 x m for an even m; the mean ratio of y
   to it per phase, normalised to average 1).  A series with a value <= 0
   is decomposed additively instead (differences to the moving average).
2. Theta lines: simple exponential smoothing (SES) of the adjusted series
   x, ``l_t = alpha x_t + (1 - alpha) l_{t-1}`` with ``l_0 = x_0`` and the
   alpha of least squared one-step error (a grid of 0.01..0.99 refined to
   0.001), plus half the slope b of the least-squares line through x
   (Hyndman & Billah's form of the theta = 2 line combined with the
   theta = 0 line):

       x_hat(n + h) = l_n + b / 2 * (h - 1 + 1 / alpha - (1 - alpha)^n / alpha)

3. The seasonal indices are put back.

Intervals: the SES forecast variance ``sigma^2 (1 + (h - 1) alpha^2)``
(sigma^2 the mean squared one-step error) around the point forecast, in the
adjusted space, times the seasonal index.

Differences from statsmodels' ``ThetaModel`` (checked in
``tests/test_global_forecasting.py``): statsmodels estimates the initial
level together with alpha (here ``l_0 = x_0``), and deseasonalises a
series of fewer than two seasons when its test passes; forecasts agree to
a few percent on the series compared there.

``theta_forecasts`` runs every series of a list in one pass over time,
vectorised over the alpha grid: the global forecaster calls it on
thousands of series.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import Interval, StrOptions
from ._validation import check_real

_ALPHAS = np.arange(1, 100) / 100


def _acf_raw(x, lag):
    x = x - x.mean()
    den = float(x @ x)
    if den == 0:
        return np.zeros(lag + 1)
    return np.array([1.0] + [float(x[k:] @ x[:-k]) / den for k in range(1, lag + 1)])


def theta_seasonal(y, m):
    """Whether the Theta method deseasonalises y (float array, no NaN) at period m."""
    n = len(y)
    if m < 2 or n < 2 * m:
        return False
    r = _acf_raw(np.asarray(y, dtype=np.float64), m)
    limit = 1.645 * np.sqrt((1 + np.sum(r[1:m] ** 2)) / n)
    return bool(abs(r[m]) > limit)


def seasonal_indices(y, m, multiplicative=True):
    """Classical decomposition: indices (m,) of positions 0..m-1 (phase of t is t % m)."""
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    kernel = np.full(m, 1.0 / m) if m % 2 else np.r_[0.5, np.ones(m - 1), 0.5] / m
    trend = np.convolve(y, kernel, mode="valid")
    half = (len(kernel) - 1) // 2
    centre = y[half:half + len(trend)]
    detr = centre / trend if multiplicative else centre - trend
    phase = (np.arange(len(trend)) + half) % m
    idx = np.array([detr[phase == p].mean() for p in range(m)])
    if multiplicative:
        return idx / idx.mean() if n else idx
    return idx - idx.mean()


def _ses_grid(X, alphas):
    """SES of many series of equal length X (S, n) for every alpha (A,):
    the final levels (S, A) and the sums of squared one-step errors (S, A)."""
    level = np.repeat(X[:, :1], len(alphas), axis=1)
    sse = np.zeros_like(level)
    a = alphas[None, :]
    for t in range(1, X.shape[1]):
        err = X[:, t:t + 1] - level
        sse += err * err
        level = level + a * err
    return level, sse


def _fit_ses(X):
    """Alpha of least SSE per series (grid, then a finer grid around it), the
    final level and the mean squared one-step error.  X (S, n) of equal lengths."""
    S, n = X.shape
    level, sse = _ses_grid(X, _ALPHAS)
    best = _ALPHAS[np.argmin(sse, axis=1)]
    fine = np.clip(best[:, None] + np.arange(-9, 10)[None, :] / 1000, 0.001, 0.999)
    out_alpha, out_level, out_mse = np.empty(S), np.empty(S), np.empty(S)
    # the fine grid differs per series: one pass per distinct coarse alpha
    for b in np.unique(best):
        rows = np.flatnonzero(best == b)
        grid = fine[rows[0]]
        lv, ss = _ses_grid(X[rows], grid)
        j = np.argmin(ss, axis=1)
        out_alpha[rows] = grid[j]
        out_level[rows] = lv[np.arange(len(rows)), j]
        out_mse[rows] = ss[np.arange(len(rows)), j] / max(n - 1, 1)
    return out_alpha, out_level, out_mse


class _ThetaFit:
    """Fitted Theta state of one series."""


    def point(self, h):
        """Forecasts of steps 1..h (h,)."""
        return self._reseason(self.point_adjusted(h), h)

    def spread(self, h):
        """Standard deviation of the adjusted forecast at steps 1..h."""
        return np.sqrt(self.mse * (1 + np.arange(h) * self.alpha ** 2))

    def _reseason(self, x, h):
        if self.seasonal is None:
            return x
        s = self.seasonal[(self.n + np.arange(h)) % self.m]
        return x * s if self.multiplicative else x + s

    def interval(self, h, z):
        x = self.point_adjusted(h)
        sd = self.spread(h)
        return self._reseason(x - z * sd, h), self._reseason(x + z * sd, h)

    def point_adjusted(self, h):
        """Forecasts of the seasonally adjusted series, steps 1..h."""
        steps = np.arange(h)
        a = self.alpha
        return self.level + self.slope / 2 * (steps + 1 / a - (1 - a) ** self.n / a)


def theta_fits(ys, m, deseasonalize="auto"):
    """Fit Theta to each of a list of 1-D float arrays (no NaN, length >= 2)
    with seasonal period m; the series of one length are smoothed together."""
    fits = [None] * len(ys)
    adjusted = []
    for i, y in enumerate(ys):
        f = _ThetaFit()
        f.n, f.m = len(y), m
        seasonal = (deseasonalize is True and m > 1 and len(y) >= 2 * m) or (
            deseasonalize == "auto" and theta_seasonal(y, m))
        f.seasonal, f.multiplicative = None, True
        x = np.asarray(y, dtype=np.float64)
        if seasonal:
            f.multiplicative = bool((x > 0).all())
            f.seasonal = seasonal_indices(x, m, f.multiplicative)
            s = f.seasonal[np.arange(len(x)) % m]
            x = x / s if f.multiplicative else x - s
        t = np.arange(len(x))
        f.slope = float(np.polyfit(t, x, 1)[0]) if len(x) > 1 else 0.0
        fits[i] = f
        adjusted.append(x)
    by_len = {}
    for i, x in enumerate(adjusted):
        by_len.setdefault(len(x), []).append(i)
    for _, rows in by_len.items():
        alpha, level, mse = _fit_ses(np.stack([adjusted[i] for i in rows]))
        for r, a, lv, e in zip(rows, alpha, level, mse):
            fits[r].alpha, fits[r].level, fits[r].mse = float(a), float(lv), float(e)
    return fits


def theta_forecasts(ys, h, m, deseasonalize="auto"):
    """Theta point forecasts (len(ys), h) of a list of 1-D series."""
    return np.stack([f.point(h) for f in theta_fits(ys, m, deseasonalize)])


class ThetaForecaster(BaseEstimator):
    """The classical Theta method: SES with drift on the seasonally adjusted series.

    Parameters
    ----------
    season : int, default=1
        Seasonal period (1: none; 12 for monthly data, 4 for quarterly).
    deseasonalize : {'auto', True, False}, default='auto'
        Divide by the indices of a classical multiplicative decomposition
        (additive for a series with a value <= 0).  'auto': when the
        series has two seasons and its autocorrelation at lag ``season``
        is significant at 90% (statsmodels' ``ThetaModel``'s test); True
        needs two seasons too.

    Attributes
    ----------
    alpha_ : float
        The smoothing weight of least squared one-step error.
    drift_ : float
        Half the slope of the least-squares line (per step).
    seasonal_ : ndarray of shape (season,) or None
        The seasonal indices, of phases ``t % season`` (t from 0 at the
        first value), or None when the series was not deseasonalised.

    Notes
    -----
    The formulas and how they differ from statsmodels' ``ThetaModel`` are
    in the module's notes (``seqcore._theta``).
    """

    _parameter_constraints = {
        "season": [Interval(numbers.Integral, 1, None, closed="left")],
        "deseasonalize": ["boolean", StrOptions({"auto"})],
    }

    def __init__(self, season=1, deseasonalize="auto"):
        self.season = season
        self.deseasonalize = deseasonalize

    def fit(self, y):
        """Fit on a 1-D series (array-like of at least 2 finite values).

        Returns
        -------
        self
        """
        self._validate_params()
        y = _check_y(y)
        if self.deseasonalize is True and len(y) < 2 * self.season:
            raise ValueError(f"deseasonalize=True needs two seasons ({2 * self.season} "
                             f"values), y has {len(y)}")
        self._fit = theta_fits([y], self.season, self.deseasonalize)[0]
        self.alpha_ = self._fit.alpha
        self.drift_ = self._fit.slope / 2
        self.seasonal_ = self._fit.seasonal
        return self

    def predict(self, fh):
        """Forecasts of steps 1..fh (an int) or of the given steps ahead (array)."""
        check_is_fitted(self, "alpha_")
        steps = _check_fh(fh)
        return self._fit.point(int(steps.max()))[steps - 1]

    def predict_interval(self, fh, coverage=0.9):
        """Forecast, lower, upper: a Gaussian interval of the given coverage."""
        from scipy.stats import norm
        check_is_fitted(self, "alpha_")
        steps = _check_fh(fh)
        if not (isinstance(coverage, numbers.Real) and 0 < coverage < 1):
            raise ValueError(f"coverage must be a number in (0, 1), got {coverage!r}")
        H = int(steps.max())
        lo, hi = self._fit.interval(H, norm.ppf((1 + coverage) / 2))
        return self._fit.point(H)[steps - 1], lo[steps - 1], hi[steps - 1]


def _check_y(y):
    a = np.asarray(y)
    check_real(a, "y")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"y must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {a.shape}")
    if len(a) < 2:
        raise ValueError(f"y has {len(a)} values; the Theta method needs at least 2")
    if not np.isfinite(a).all():
        raise ValueError("y contains NaN or infinity")
    return a


def _check_fh(fh):
    if isinstance(fh, (numbers.Integral, np.integer)) and not isinstance(fh, bool):
        if fh < 1:
            raise ValueError(f"fh must be a positive number of steps, got {fh}")
        return np.arange(1, int(fh) + 1)
    steps = np.asarray(fh)
    if steps.ndim != 1 or steps.size == 0 or steps.dtype.kind not in "iu" or (steps < 1).any():
        raise ValueError(f"fh must be a positive int or a 1-D array of positive ints, got {fh!r}")
    return steps.astype(np.int64)

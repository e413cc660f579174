"""Exponential smoothing (SES, Holt, damped Holt) and the statistical
combinations the forecasters fall back on or combine with, for many series
at once.

Design.  One error-correction recursion covers the three methods (Gardner's
damped trend; SES is ``beta = 0`` with no initial trend, Holt ``phi = 1``):

    f_t = l_{t-1} + phi b_{t-1}                  one-step forecast of x_t
    e_t = x_t - f_t
    l_t = f_t + alpha e_t
    b_t = phi b_{t-1} + alpha beta e_t           (beta in [0, 1]: a share of alpha)

    x_hat(n + h) = l_n + (phi + phi^2 + ... + phi^h) b_n

started from ``l_0 = x_0`` and ``b_0 = x_1 - x_0`` (0 for SES), and
(alpha, beta, phi) the point of a grid (``_grid``) of least sum of squared
one-step errors ``e_1 .. e_{n-1}``: least squares, as the M4 competition's
"SES", "Holt" and "Damped" benchmarks (which fit by likelihood, the same
criterion for additive errors, and optimise the initial states too).  Every
series of a list runs in one pass over time, vectorised over the grid and
the series (shorter series stop updating at their end), so thousands of
series smooth in about the time of one Python loop over the longest.

``stat_forecasts``: the means of methods that ``STAT_METHODS`` lists (see
there what chose them).  The per-series forecaster (``RNNForecaster``)
combines its network with ``stat_forecasts``, and a series too short for
the network gets it alone; the global forecaster (``seqcore._global``)
weighs damped Holt among its components.
"""

import numpy as np

from ._theta import seasonal_indices, theta_fits, theta_seasonal

# (alpha, beta, phi) grids of each method.  beta is a share of alpha (the
# trend's smoothing weight is alpha * beta <= alpha, as ETS's admissible
# region asks); phi in 0.8 .. 0.98, as forecast::ets bounds it.
_A = np.r_[0.01, np.arange(1, 20) / 20, 0.99]
_B = np.array([0.0, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0])
_P = np.array([0.8, 0.85, 0.9, 0.94, 0.97, 0.98])


def _grid(kind):
    if kind == "ses":
        a = np.arange(1, 100) / 100
        return a, np.zeros_like(a), np.ones_like(a)
    if kind == "holt":
        a, b = np.meshgrid(_A, _B, indexing="ij")
        return a.ravel(), b.ravel(), np.ones(a.size)
    if kind == "damped":
        a, b, p = np.meshgrid(_A, _B, _P, indexing="ij")
        return a.ravel(), b.ravel(), p.ravel()
    raise ValueError(f"unknown smoothing method {kind!r}: 'ses', 'holt' or 'damped'")


def _recursion(X, n, b0, alpha, beta, phi):
    """The damped-trend recursion (module notes) of series X (S, N), the
    first n[i] values of row i observed, from l_0 = X[:, 0] and b_0 = b0 (S,),
    for every parameter triple (K,): the sums of squared one-step errors and
    the final level and trend, each (S, K)."""
    S, N = X.shape
    K = len(alpha)
    level = np.repeat(X[:, :1], K, axis=1)
    trend = np.repeat(np.asarray(b0, dtype=np.float64)[:, None], K, axis=1)
    sse = np.zeros((S, K))
    al, ab, ph = alpha[None, :], (alpha * beta)[None, :], phi[None, :]
    for t in range(1, N):
        f = level + ph * trend
        e = X[:, t:t + 1] - f
        live = (t < n)[:, None]       # a shorter series keeps its final state
        e = np.where(live, e, 0.0)
        sse += e * e
        level = np.where(live, f + al * e, level)
        trend = np.where(live, ph * trend + ab * e, trend)
    return sse, level, trend


def smooth(xs, kind):
    """Fit one method to each of a list of 1-D float arrays (no NaN, at
    least 2 values; 1 is forecast flat).

    Returns
    -------
    dict of arrays (S,): 'alpha', 'beta', 'phi', 'level', 'trend' (the
    final states), 'mse' (mean squared one-step error).
    """
    S = len(xs)
    n = np.array([len(x) for x in xs])
    N = int(n.max())
    X = np.zeros((S, N))
    for i, x in enumerate(xs):
        X[i, :len(x)] = x
    alpha, beta, phi = _grid(kind)
    b0 = np.where(n > 1, X[:, min(1, N - 1)] - X[:, 0], 0.0) if kind != "ses" else np.zeros(S)
    sse, level, trend = _recursion(X, n, b0, alpha, beta, phi)
    j = np.argmin(sse, axis=1)
    rows = np.arange(S)
    return {"alpha": alpha[j], "beta": beta[j], "phi": phi[j], "level": level[rows, j],
            "trend": trend[rows, j], "mse": sse[rows, j] / np.maximum(n - 1, 1)}


def smooth_forecasts(xs, h, kind):
    """Point forecasts (S, h) of one method for a list of 1-D series."""
    p = smooth(xs, kind)
    steps = np.arange(1, h + 1)
    # (phi + ... + phi^h): cumulative sums of phi^k
    damp = np.cumsum(p["phi"][:, None] ** steps[None, :], axis=1)
    return p["level"][:, None] + damp * p["trend"][:, None]


class _Adjusted:
    """A series deseasonalised (and optionally in logs) as the Theta method does."""

    def __init__(self, y, m, log):
        y = np.asarray(y, dtype=np.float64)
        self.log = log and bool((y > 0).all())
        self.n, self.m = len(y), m
        self.seasonal = None
        self.mult = bool((y > 0).all()) and not self.log
        z = np.log(y) if self.log else y
        if theta_seasonal(y, m):
            self.seasonal = seasonal_indices(z, m, multiplicative=self.mult)
            s = self.seasonal[np.arange(self.n) % m]
            z = z / s if self.mult else z - s
        self.x = z

    def back(self, f):
        if self.seasonal is not None:
            s = self.seasonal[(self.n + np.arange(f.shape[-1])) % self.m]
            f = f * s if self.mult else f + s
        return np.exp(np.clip(f, -700, 700)) if self.log else f


# The statistical forecasts: the mean of members (method, in logs where the
# series is positive).  Chosen on M1's training parts, each series' last
# horizon held out (``benchmarks/README.md``): on yearly data Holt's linear
# trend with damped Holt and Theta in logs was 6% better than ETS damped in
# sMAPE and 3% in MASE, but 8-12% worse on quarterly and monthly data, where
# damped Holt with Theta on y and in logs was 4-10% better than ETS damped.
STAT_METHODS = {
    "trend": (("holt", False), ("damped", True), ("theta", True)),
    "level": (("damped", False), ("theta", False), ("theta", True)),
    "damped": (("damped", False),),
    "damped_log": (("damped", True),),
}


def default_stat_method(m):
    """'trend' without a season (yearly and other non-seasonal data), 'level'
    with one (see ``STAT_METHODS``)."""
    return "trend" if m == 1 else "level"


def stat_forecasts(ys, h, m, method=None):
    """The mean of the member forecasts of ``STAT_METHODS[method]`` (S, h)
    for a list of 1-D series (no NaN): each member on the series
    deseasonalised as Theta does (in logs where the member says so and the
    series is positive), then re-seasonalised.  A single value is forecast
    flat.  ``method=None``: ``default_stat_method(m)``."""
    method = default_stat_method(m) if method is None else method
    if method not in STAT_METHODS:
        raise ValueError(f"unknown statistical method {method!r}: one of {sorted(STAT_METHODS)}")
    adjusted = {}
    parts = []
    for kind, log in STAT_METHODS[method]:
        if log not in adjusted:
            adjusted[log] = [_Adjusted(y, m, log) for y in ys]
        adj = adjusted[log]
        xs = [a.x for a in adj]
        if kind == "theta":
            # the seasonality is already out: Theta on the adjusted series
            f = np.repeat(np.array([x[-1] for x in xs])[:, None], h, axis=1)
            ok = [i for i, x in enumerate(xs) if len(x) >= 2]
            for i, fit in zip(ok, theta_fits([xs[i] for i in ok], 1, deseasonalize=False)):
                f[i] = fit.point(h)
        else:
            f = smooth_forecasts(xs, h, kind)
        parts.append(np.stack([a.back(fi) for a, fi in zip(adj, f)]))
    return np.mean(parts, axis=0)


def stat_z(z_hists, m, steps, log, method=None):
    """``stat_forecasts`` of histories in a forecaster's model space z
    (``z = log(y)`` when ``log``): a list of (n, k) arrays, missing values
    filled linearly -> a list of (steps, k) forecasts in z.  With ``log``, a
    forecast is floored at a hundredth of the history's smallest value (a
    damped trend on y may cross zero; its log would not exist)."""
    out = [np.empty((steps, z.shape[1])) for z in z_hists]
    for j in range(z_hists[0].shape[1]):
        ys = []
        for z in z_hists:
            col = z[:, j]
            ok = np.isfinite(col)
            if not ok.all():
                t = np.arange(len(col))
                col = np.interp(t, t[ok], col[ok])
            ys.append(np.exp(col) if log else col)
        f = stat_forecasts(ys, steps, m, method)
        for o, fj, y in zip(out, f, ys):
            o[:, j] = np.log(np.maximum(fj, y.min() / 100)) if log else fj
    return out

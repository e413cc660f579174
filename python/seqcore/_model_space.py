"""The forecaster's model space: a series y mapped to the u the network
reads (log, seasonal indices removed, differenced, standardised) and the
forecasts mapped back (``_Series``), and the seasonal naive forecast in
that space (see ``seqcore._forecasting``'s notes, steps 1-4).
"""

import numpy as np

from ._validation import mean_and_scale


def _seasonal_indices(z, m):
    """Classical additive decomposition: seasonal indices (m, k) of z (n, k),
    NaN allowed, phases relative to the first value."""
    n, k = z.shape
    t = np.arange(n)
    out = np.zeros((m, k))
    for j in range(k):
        ok = np.isfinite(z[:, j])
        filled = np.interp(t, t[ok], z[ok, j])
        if m % 2:
            kernel = np.full(m, 1.0 / m)
        else:   # the 2 x m moving average of an even period
            kernel = np.r_[0.5, np.ones(m - 1), 0.5] / m
        trend = np.convolve(filled, kernel, mode="valid")
        half = (len(kernel) - 1) // 2
        detr = np.full(n, np.nan)
        detr[half:half + len(trend)] = z[half:half + len(trend), j] - trend
        for p in range(m):
            vals = detr[p::m]
            vals = vals[np.isfinite(vals)]
            out[p, j] = vals.mean() if vals.size else 0.0
        out[:, j] -= out[:, j].mean()
    return out


class _Series:
    """One series in model space, with its transform, seasonal indices and scaling."""

    def __init__(self, y, X, log, season, deseasonalize, differencing):
        self.y, self.X = y, X
        self.log, self.m, self.d = log, season, differencing
        z = self.z
        self.seasonal = _seasonal_indices(z, season) if deseasonalize else None
        raw, ok = self._raw(z)
        rows = ok.all(axis=1)
        if rows.any():
            self.mean, self.scale = mean_and_scale(raw[rows])
        else:
            self.mean, self.scale = np.zeros(raw.shape[1]), np.ones(raw.shape[1])

    @property
    def z(self):
        return np.log(self.y) if self.log else self.y

    def season_at(self, t):
        """Seasonal indices of positions t (array), (len(t), k)."""
        if self.seasonal is None:
            return 0.0
        return self.seasonal[np.asarray(t) % self.m]

    def adjusted(self, z):
        """a = z - s (n, k) with missing values filled, and the observed mask."""
        a = z - self.season_at(np.arange(z.shape[0]))
        ok = np.isfinite(a)
        if ok.all():
            return a, ok
        t = np.arange(a.shape[0])
        filled = np.empty_like(a)
        for j in range(a.shape[1]):
            filled[:, j] = np.interp(t, t[ok[:, j]], a[ok[:, j], j])
        return filled, ok

    def _raw(self, z):
        a, ok = self.adjusted(z)
        if self.d:
            return np.diff(a, axis=0), ok[1:] & ok[:-1]
        return a, ok

    def u(self, z=None):
        """Scaled model-space values aligned with time (NaN before the first
        with differencing), and a per-step mask: True where u is observed."""
        z = self.z if z is None else z
        raw, ok = self._raw(z)
        u = (raw - self.mean) / self.scale
        if self.d:
            u = np.vstack([np.full((1, u.shape[1]), np.nan), u])
            ok = np.vstack([np.zeros((1, u.shape[1]), bool), ok])
        return u, ok.all(axis=1)

    def to_z(self, u_future, z_hist):
        """Forecast u (h, k) after a history z_hist (n, k) -> z of the forecast steps."""
        raw = u_future * self.scale + self.mean
        n = z_hist.shape[0]
        if self.d:
            a_last = self.adjusted(z_hist)[0][-1]
            a = a_last + np.cumsum(raw, axis=0)
        else:
            a = raw
        return a + self.season_at(n + np.arange(u_future.shape[0]))

    def to_y(self, z):
        return np.exp(z) if self.log else z


def _naive_z(z_hist, m, steps):
    """The seasonal naive forecast (the last value for m = 1) in z space,
    (steps, k), from a history with missing values filled linearly."""
    n = z_hist.shape[0]
    filled = z_hist
    if not np.isfinite(z_hist).all():
        t = np.arange(n)
        filled = np.empty_like(z_hist)
        for j in range(z_hist.shape[1]):
            ok = np.isfinite(z_hist[:, j])
            filled[:, j] = np.interp(t, t[ok], z_hist[ok, j])
    m = m if n >= m else 1
    h = np.arange(steps)
    return filled[n - m + h % m]

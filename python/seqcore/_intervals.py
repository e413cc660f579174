"""Interval maths of the forecaster's split-conformal intervals: checking
the quantile levels asked for, and smoothing the calibration errors'
spread over the horizon (``sigma_h = a * h**b``; see
``seqcore._forecasting``'s notes).
"""

import numpy as np


def _check_levels(values, name):
    if isinstance(values, (str, bytes)) or any(isinstance(v, (str, bytes))
                                                for v in np.ravel(np.asarray(values, object))):
        raise ValueError(f"{name} must be a number in (0, 1) or a sequence of them, "
                         f"got {values!r}")
    try:
        levels = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1) or a sequence of them, "
                         f"got {values!r}") from None
    if (levels.size == 0 or isinstance(values, bool)
            or any(isinstance(v, (bool, np.bool_)) for v in np.ravel(values))
            or not ((levels > 0) & (levels < 1)).all()):
        raise ValueError(f"{name} must be a number in (0, 1) or a sequence of them, "
                         f"got {values!r}")
    return levels


def _smooth_spread(errors, H):
    """Per-horizon spread of signed errors, smoothed: sigma_h = a * h**b."""
    rms = np.array([np.sqrt(np.mean(e ** 2)) if len(e) else np.nan for e in errors])
    counts = np.array([len(e) for e in errors], dtype=float)
    good = np.isfinite(rms) & (rms > 0)
    if not good.any():
        return np.ones(H)      # perfect calibration forecasts: any positive scale
    h = np.arange(1, H + 1)
    if good.sum() == 1:
        return np.full(H, rms[good][0])
    x, yv, w = np.log(h[good]), np.log(rms[good]), counts[good]
    xm, ym = np.average(x, weights=w), np.average(yv, weights=w)
    b = np.average((x - xm) * (yv - ym), weights=w) / max(np.average((x - xm) ** 2,
                                                                     weights=w), 1e-12)
    b = float(np.clip(b, 0.0, 1.5))
    a = ym - b * xm
    return np.exp(a + b * np.log(h))

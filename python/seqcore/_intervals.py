"""Interval maths of the forecaster: its split-conformal intervals
(checking the quantile levels asked for, and smoothing the calibration
errors' spread over the horizon, ``sigma_h = a * h**b``; see
``seqcore._forecasting``'s notes), its probabilistic heads (quantiles and
samples of an ensemble, conformal correction), and the probabilistic scores
(``scaled_pinball_loss``, ``crps``).
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


# ------------------------------------------------------------------ heads
#
# A forecaster's network may carry a probabilistic head (``distribution``):
# a likelihood head ('normal', 'student_t') trained by the negative
# log-likelihood, or a quantile head ('quantile') trained by the pinball
# loss on a grid of levels.  The helpers below read an ensemble of such
# networks (the forecaster's ``n_models``) in the networks' target space:
#
# * quantiles: each network's quantiles at the levels asked for (closed
#   form for a likelihood head; linear interpolation of the trained grid for
#   a quantile head, flat beyond its ends), averaged over the networks
#   (quantile averaging: monotone in the level, and deterministic);
# * samples: a mixture, each draw from one network picked at random; draws
#   of the different steps of the horizon are independent given the inputs.
#
# 'head+conformal' is conformalised quantile regression (Romano, Patterson
# and Candes, 2019), one level at a time: on the calibration values, the
# signed distances ``y - q_a`` to the head's a-quantile (kept for a grid of
# levels, ``CAL_LEVELS``, and read between them by interpolation); the
# head's a-quantile is moved by their a-quantile at the finite-sample
# conformal level (``conformal_shift``), so that it covers a share a of
# them.  An additive move: a head too narrow or too wide is widened or
# narrowed without reading its far tails.

# distribution= of a forecaster -> the RNNRegressor loss that trains it
HEAD_LOSSES = {"normal": "gaussian", "student_t": "student_t",
               "negative_binomial": "negative_binomial", "quantile": "pinball"}
# the levels a quantile head is trained for
QUANTILE_GRID = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
# the most extreme level a likelihood head's quantile is read at (its
# quantiles at 0 and 1 are infinite)
_EDGE = 1e-4


def head_params(distribution):
    """The RNNRegressor parameters (loss, quantiles) of a forecaster's head."""
    if distribution is None:
        return {}
    loss = HEAD_LOSSES[distribution]
    return {"loss": loss, "quantiles": QUANTILE_GRID if loss == "pinball" else None}


def head_point(reg, X):
    """A network's point forecast: ``predict`` (a likelihood head's mean), or
    a quantile head's median."""
    if reg.network_.loss == "pinball":
        return _grid_quantiles(reg, X, np.array([0.5]))[..., 0]
    return reg.predict(X)


def _grid_quantiles(reg, X, levels):
    """A pinball head's quantiles at any levels: its trained grid interpolated."""
    grid = np.asarray(reg.network_._loss_fn.quantiles)
    Z = reg._decode_outputs(reg._raw(X)[0])
    order = np.argsort(grid)
    grid, Z = grid[order], Z[..., order]                 # (N, K, Q), sorted along Q
    lv = np.clip(levels, grid[0], grid[-1])
    j = np.clip(np.searchsorted(grid, lv, side="right") - 1, 0, len(grid) - 2)
    t = (lv - grid[j]) / (grid[j + 1] - grid[j])
    return Z[..., j] * (1 - t) + Z[..., j + 1] * t


def head_quantiles(regs, X, levels):
    """Mean over the networks of their quantiles at ``levels``: (N, K, A)."""
    levels = np.asarray(levels, dtype=np.float64)
    out = []
    for reg in regs:
        if reg.network_.loss == "pinball":
            out.append(_grid_quantiles(reg, X, levels))
        else:
            out.append(np.asarray(reg.predict_quantiles(X, np.clip(levels, _EDGE, 1 - _EDGE))
                                  ).reshape(len(X), -1, len(levels)))
    return np.mean(out, axis=0)


def head_samples(regs, X, n, rng):
    """n draws (N, K, n) from the mixture of the networks' distributions."""
    which = rng.integers(0, len(regs), n)
    out = None
    for k, reg in enumerate(regs):
        cols = np.flatnonzero(which == k)
        if cols.size == 0:
            continue
        if reg.network_.loss == "pinball":   # inverse transform of the quantile grid
            grid = reg.network_._loss_fn.quantiles
            draws = _grid_quantiles(reg, X, rng.uniform(min(grid), max(grid), cols.size))
        else:
            draws = np.asarray(reg.predict_samples(X, int(cols.size), random_state=rng)
                               ).reshape(len(X), -1, cols.size)
        if out is None:
            out = np.empty(draws.shape[:2] + (n,))
        out[..., cols] = draws
    return out


# the levels at which the calibration values' distances to the head's
# quantiles are kept
CAL_LEVELS = np.linspace(0.01, 0.99, 99)


def monotone(q, alphas):
    """Quantiles (..., len(alphas)) made non-decreasing in the level: their
    values sorted, in the order of the levels (monotone rearrangement; the
    per-level corrections of 'head+conformal' may cross)."""
    order = np.argsort(alphas)
    q = np.array(q, dtype=np.float64)
    q[..., order] = np.sort(q[..., order], axis=-1)
    return q


def conformal_shift(scores, alphas):
    """Per level a of ``alphas``, the a-quantile of the scores read at a.

    ``scores`` (N, ..., len(CAL_LEVELS)): signed distances ``y - q_l`` of N
    calibration values to the head's quantiles at ``CAL_LEVELS`` (in any
    common unit); the N axis is pooled.  Returns (..., len(alphas)): what to
    add to the head's a-quantile, at the finite-sample conformal level
    (``ceil((N + 1) a) / N`` above the median, ``floor`` below, as the
    split-conformal intervals).
    """
    scores = np.asarray(scores, dtype=np.float64)
    N = scores.shape[0]
    out = []
    for a in alphas:
        pos = np.clip((a - CAL_LEVELS[0]) / (CAL_LEVELS[1] - CAL_LEVELS[0]), 0,
                      len(CAL_LEVELS) - 1)
        j = int(min(np.floor(pos), len(CAL_LEVELS) - 2))
        t = pos - j
        at = scores[..., j] * (1 - t) + scores[..., j + 1] * t
        level = np.ceil((N + 1) * a) / N if a >= 0.5 else np.floor((N + 1) * a) / N
        out.append(np.quantile(at, min(max(level, 0.0), 1.0), axis=0,
                               method="higher" if a >= 0.5 else "lower"))
    return np.stack(out, axis=-1)


# ----------------------------------------------------------------- scores

def _check_score_inputs(y_true, values, name):
    y = np.asarray(y_true, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array, got shape {y.shape}")
    if v.ndim != 2 or v.shape[0] != y.size or v.shape[1] == 0:
        raise ValueError(f"{name} must have shape (len(y_true), n) = ({y.size}, n), "
                         f"got {v.shape}")
    if not (np.isfinite(y).all() and np.isfinite(v).all()):
        raise ValueError(f"y_true and {name} must be finite")
    return y, v


def _pinball(y, q, levels):
    r = y[:, None] - q
    return np.maximum(levels * r, (levels - 1) * r)


def scaled_pinball_loss(y_true, y_quantiles, alpha, y_train, season=1):
    """The pinball loss of forecast quantiles, averaged over the steps and the
    levels, divided by the in-sample mean absolute error of the seasonal
    naive forecast (MASE's scale).

    ``mean_{h, j} max(a_j (y_h - q_hj), (a_j - 1) (y_h - q_hj)) /
    mean_t |y_t - y_{t - m}|`` over the training series (m = 1 when it has
    no more than ``season`` values).

    Parameters
    ----------
    y_true : array of shape (h,)
        The held-out values.
    y_quantiles : array of shape (h, len(alpha))
        The forecast quantiles, one column per level.
    alpha : sequence of floats in (0, 1)
    y_train : 1-D array
        The series the forecast was made from.
    season : int, default=1

    Returns
    -------
    float (NaN when the scale is 0: a series the seasonal naive forecast fits exactly)
    """
    levels = _check_levels(alpha, "alpha")
    y, q = _check_score_inputs(y_true, y_quantiles, "y_quantiles")
    if q.shape[1] != levels.size:
        raise ValueError(f"y_quantiles has {q.shape[1]} columns, alpha {levels.size} levels")
    train = np.asarray(y_train, dtype=np.float64)
    if train.ndim != 1 or train.size < 2 or not np.isfinite(train).all():
        raise ValueError("y_train must be a finite 1-D array of at least 2 values")
    if not isinstance(season, (int, np.integer)) or isinstance(season, bool) or season < 1:
        raise ValueError(f"season must be a positive int, got {season!r}")
    m = season if train.size > season else 1
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    loss = float(_pinball(y, q, levels).mean())
    return loss / scale if scale > 0 else float("nan")


def crps(y_true, samples=None, *, quantiles=None, alpha=None):
    """The continuous ranked probability score, averaged over the steps.

    From draws x_1..x_n of each step's forecast distribution (``samples``):
    the CRPS of their empirical distribution, ``mean_i |x_i - y| - 1/(2 n^2)
    sum_ij |x_i - x_j|``.  From quantiles (``quantiles`` at levels
    ``alpha``): twice the mean pinball loss over the levels, which tends to
    the CRPS as the levels fill (0, 1) evenly.  Lower is better; in the
    units of y.

    Parameters
    ----------
    y_true : array of shape (h,)
    samples : array of shape (h, n_samples), optional
    quantiles : array of shape (h, len(alpha)), optional
    alpha : sequence of floats in (0, 1), with ``quantiles``

    Returns
    -------
    float
    """
    if (samples is None) == (quantiles is None):
        raise ValueError("pass exactly one of samples and quantiles")
    if samples is not None and alpha is not None:
        raise ValueError("alpha goes with quantiles (crps(y, quantiles=..., alpha=...)); "
                         "samples are draws and take no levels")
    if samples is not None:
        y, x = _check_score_inputs(y_true, samples, "samples")
        n = x.shape[1]
        x = np.sort(x, axis=1)
        first = np.abs(x - y[:, None]).mean(axis=1)
        # sum_ij |x_i - x_j| = 2 sum_i (2 i - n - 1) x_(i), i = 1..n, x sorted
        spread = ((2 * np.arange(1, n + 1) - n - 1) * x).sum(axis=1) / (n * n)
        return float(np.mean(first - spread))
    if alpha is None:
        raise ValueError("quantiles need their levels: pass alpha")
    levels = _check_levels(alpha, "alpha")
    y, q = _check_score_inputs(y_true, quantiles, "quantiles")
    if q.shape[1] != levels.size:
        raise ValueError(f"quantiles has {q.shape[1]} columns, alpha {levels.size} levels")
    return float(2 * _pinball(y, q, levels).mean())

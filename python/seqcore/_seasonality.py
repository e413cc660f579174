"""Seasonality statistics for the forecaster: a stationarity test, the
season of a calendar frequency, the ACF seasonality test and season
detection.

``season_from_freq`` is the one table from a calendar frequency to its
season: ``RNNForecaster``, ``forecast_many``, the sktime adapter and the
command line all read it.
"""

import numpy as np


def _stationary(a, lags=4):
    """Augmented Dickey-Fuller test with a constant: True when the unit root
    is rejected at 5% (t statistic below -2.86, MacKinnon's critical value)."""
    a = np.asarray(a, dtype=np.float64)
    da = np.diff(a)
    n = len(da) - lags
    if n < 10 + lags:
        return False
    cols = [np.ones(n), a[lags:-1]] + [da[lags - i:-i] for i in range(1, lags + 1)]
    A = np.column_stack(cols)
    target = da[lags:]
    coef, *_ = np.linalg.lstsq(A, target, rcond=None)
    resid = target - A @ coef
    dof = n - A.shape[1]
    if dof <= 0:
        return False
    sigma2 = resid @ resid / dof
    try:
        cov = sigma2 * np.linalg.inv(A.T @ A)
    except np.linalg.LinAlgError:
        return False
    se = np.sqrt(cov[1, 1])
    return bool(se > 0 and coef[1] / se < -2.86)


# ================================================================ seasons

# Periods per cycle of the calendar for a pandas frequency's base unit.
_UNIT_PERIODS = {"Y": 1, "A": 1, "Q": 4, "M": 12, "W": 52, "D": 7, "B": 5}
_SUBDAY = {"h": 24, "H": 24, "min": 1440, "T": 1440, "s": 86400, "S": 86400}


def season_from_freq(freq):
    """The seasonal period of a pandas frequency (string or offset), or None.

    Yearly 1, quarterly 4, monthly 12, weekly 52, daily 7, business-daily 5,
    hourly 24 (one day), n-minute ``1440 / n`` (one day).
    """
    if freq is None:
        return None
    import re
    text = freq if isinstance(freq, str) else getattr(freq, "freqstr", str(freq))
    match = re.fullmatch(r"(\d*)([A-Za-z]+)(?:-\w+)?", text.strip())
    if not match:
        return None
    mult, unit = int(match.group(1) or 1), match.group(2)
    for key, per_day in _SUBDAY.items():
        if unit == key or unit.lower() == key.lower() and key in ("min", "h"):
            return per_day // mult if per_day % mult == 0 and per_day // mult > 1 else None
    base = unit.upper().lstrip("B") or unit.upper()
    base = {"YS": "Y", "YE": "Y", "AS": "Y", "QS": "Q", "QE": "Q", "MS": "M", "ME": "M",
            "SM": "M"}.get(base, base[0] if base else base)
    if unit.upper() == "B":
        base = "B"
    period = _UNIT_PERIODS.get(base)
    if period is None:
        return None
    if mult > 1:
        return period // mult if period % mult == 0 and period // mult > 1 else 1
    return period


def _acf(x, max_lag):
    x = x - x.mean()
    den = float(x @ x)
    if den == 0:
        return np.zeros(max_lag + 1)
    return np.array([1.0] + [float(x[k:] @ x[:-k]) / den for k in range(1, max_lag + 1)])


def _clean_for_acf(y):
    """First differences of one column with the missing values interpolated."""
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 4:
        return None
    t = np.arange(len(y))
    filled = np.interp(t, t[ok], y[ok])
    return np.diff(filled)


def seasonality_test(y, period):
    """True when the autocorrelation of the first differences of y at lag
    ``period`` is significant at the 90% level (Bartlett's variance), as the
    M4 competition's Theta benchmark tests; needs 3 periods of data."""
    if period < 2:
        return False
    x = _clean_for_acf(y)
    if x is None or len(x) < 3 * period:
        return False
    r = _acf(x, period)
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(r[1:period] ** 2)) / len(x))
    return bool(r[period] > limit)


def detect_season(y, max_period=None):
    """The seasonal period of a series found in its data, 1 when there is none.

    The autocorrelation of the first differences (missing values
    interpolated) is searched for peaks at lags 3..max_period (default: a
    third of the length, at most 400) that follow a trough below zero;
    among those significant at 99% (Bartlett's variance), the shortest lag
    whose autocorrelation is within 10% of the highest is the period (a
    multiple of the period peaks as high as the period itself).

    Parameters
    ----------
    y : array of shape (n_timesteps,)
    max_period : int, optional

    Returns
    -------
    int
    """
    x = _clean_for_acf(np.asarray(y, dtype=np.float64).reshape(-1))
    if x is None:
        return 1
    top = min(len(x) // 3, 400) if max_period is None else min(max_period, len(x) // 3)
    if top < 2:
        return 1
    r = _acf(x, top + 1)
    # a seasonal peak follows a trough below zero (lag 1 does not count: differencing
    # noise makes it negative) and passes the test at 99%, many lags being tried
    peaks = [k for k in range(3, top + 1) if r[k] > r[k - 1] and r[k] >= r[k + 1] and r[k] > 0
             and r[2:k].min() < 0]
    peaks = [k for k in peaks
             if r[k] > 2.576 * np.sqrt((1 + 2 * np.sum(r[1:k] ** 2)) / len(x))]
    if not peaks:
        return 1
    best = max(r[k] for k in peaks)
    return int(min(k for k in peaks if r[k] >= 0.9 * best))

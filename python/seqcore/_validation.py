"""Input checks shared by the ``nn`` layers and the estimators.

Every check runs before any work and raises a ``ValueError`` or
``TypeError`` whose message names the problem.  Inputs are never modified:
conversions return new arrays.
"""

import math
import numbers

import numpy as np


def check_dtype(dtype):
    """Return ``np.float32`` or ``np.float64`` for a dtype-like, else raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt.type


def as_float_array(a, dtype, name):
    """Convert ``a`` to a C-contiguous array of ``dtype`` (a copy when needed).

    Refuses non-numeric data (strings, objects that are not numbers,
    complex) with a TypeError and NaN or inf with a ValueError.
    """
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged nested lists, broken __array__, ...
        raise TypeError(f"{name} could not be read as a numeric array: {exc}") from exc
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} is complex; seqcore needs real numbers")
    if kind not in "biuf":
        if kind != "O":
            raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be numeric, got objects that are not numbers") from exc
    out = np.asarray(arr, dtype=dtype, order="C")  # keeps 0-d as 0-d
    if not all_finite(out):
        raise ValueError(f"{name} contains NaN or infinity")
    return out


_FINITE_BLOCK = 1 << 20


def all_finite(a):
    """np.isfinite(a).all() for a C-contiguous array, in blocks: the boolean
    temporary stays small however long the sequences (inference memory must
    not grow with the length)."""
    flat = a.reshape(-1)
    return all(np.isfinite(flat[i:i + _FINITE_BLOCK]).all()
               for i in range(0, flat.size, _FINITE_BLOCK))


# all_finite_fast decides arrays up to this many values by one dot product;
# larger ones take the exact test, whose cost is small beside the pass that
# reads them, and which never wakes the BLAS's threads (OpenBLAS threads a
# long dot product: on a busy machine that cost milliseconds).
_DOT_FINITE = 4096


def all_finite_fast(a):
    """``all_finite(a)`` for a C-contiguous array, decided for a small one
    by one dot product when it can be: the sum of the squares is finite only
    when every value is (a NaN or infinite value makes its square, and every
    partial sum that contains it, NaN or infinite, whatever the order of the
    additions), so a finite sum proves the values finite with no temporary;
    a sum that is not (a non-finite value, or finite values whose squares
    overflow) leaves the answer to the exact test."""
    if a.size <= _DOT_FINITE and math.isfinite(np.vdot(a, a)):
        return True
    return all_finite(a)


def check_positive_int(value, name, minimum=1):
    """Raise unless ``value`` is an integer >= ``minimum``; return it as int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_lengths(lengths, n_samples, n_timesteps):
    """Validate per-sample sequence lengths; return them as an int64 array."""
    if lengths is None:
        return np.full(n_samples, n_timesteps, dtype=np.int64)
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    if arr.shape != (n_samples,):
        raise ValueError(
            f"lengths must have shape ({n_samples},), one per sample, got {arr.shape}"
        )
    if n_samples and (arr.min() < 1 or arr.max() > n_timesteps):
        raise ValueError(
            f"lengths must lie in [1, {n_timesteps}] (the number of time steps), "
            f"got values in [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int64)


def mean_and_scale(values, weights=None):
    """Per-column mean and standard deviation (1 where it is 0) of a 2-D array.

    Computed on the values divided by their largest magnitude, so that huge
    finite data (1e200) never overflows when squared; weights likewise.
    """
    v = np.asarray(values, dtype=np.float64)
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        w = w / w.max()
        if (w == 1).all():   # equal weights: the plain mean, the same numbers
            w = None         # without a weighted copy of the values
    # rows of weight 0 have no say at all; the largest magnitude from the
    # extremes, and the squares in place: no temporary copies of the values
    # (a regressor's targets can be large, e.g. a cluster fit's windows)
    counted = v if w is None or (w > 0).all() else v[w > 0]
    big = np.maximum(counted.max(axis=0), -counted.min(axis=0))
    big = np.where(big > 0, big, 1.0)
    u = v / big
    mean = np.average(u, axis=0, weights=w)
    u -= mean
    np.square(u, out=u)
    std = np.sqrt(np.average(u, axis=0, weights=w))
    return mean * big, np.where(std > 0, std * big, 1.0)


def check_real(a, name):
    """Refuse complex data (which NumPy would silently cast to real)."""
    if np.iscomplexobj(a):
        raise TypeError(f"{name} is complex; seqcore needs real numbers")


def warn_user(message, category):
    """warnings.warn pointed at the first frame outside seqcore: the user's
    call (``fit``, a Pipeline's step), however deep inside seqcore it rose."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)

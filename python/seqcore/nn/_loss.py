"""The losses a network's head can be trained with: one registry.

Design: a loss is an object called as ``loss(Z, Y, w, dZ)`` on the head's
outputs Z (N, K) in float64, the targets Y (class indices (N,) for
'softmax', else (N, n_targets)), and per-row weights w (N,) that sum to 1;
it writes dL/dZ into dZ and returns the weighted loss ``sum_i w_i l_i``.
``n_outputs(n_targets)`` says how many outputs the head needs and
``predict(Z)`` maps outputs to predictions in the (scaled) target space.
Per row, the regression losses average over their outputs (scikit-learn's
MLP convention for the squared error).  A new loss is a class here and an
entry in ``LOSSES``; the estimators read the registry.
"""

import numpy as np

from .. import _losses


class Loss:
    """Base of the head losses (see the module's notes)."""

    name = None
    classification = False

    def n_outputs(self, n_targets):
        return n_targets

    def predict(self, Z):
        return Z

    def __call__(self, Z, Y, w, dZ):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class SoftmaxCrossEntropy(Loss):
    """Softmax cross-entropy; Y holds class indices (N,)."""

    name, classification = "softmax", True

    def __call__(self, Z, Y, w, dZ):
        return _losses.softmax_cross_entropy(Z, np.ascontiguousarray(Y, dtype=np.intp), w,
                                             1.0, dZ)


class SigmoidCrossEntropy(Loss):
    """Binary cross-entropy of a sigmoid per output (multilabel); Y in {0, 1}."""

    name, classification = "sigmoid", True

    def __call__(self, Z, Y, w, dZ):
        return _losses.sigmoid_binary_cross_entropy(Z, _as_rows(Y, Z), w, 1.0, dZ)


class SquaredError(Loss):
    """``(z - y)^2 / 2`` averaged over the outputs."""

    name = "squared_error"

    def __call__(self, Z, Y, w, dZ):
        return _losses.squared_error(Z, _as_rows(Y, Z), w, 1.0, dZ)


class AbsoluteError(Loss):
    """``|z - y|`` averaged over the outputs (gradient sign(z - y), 0 at a tie)."""

    name = "absolute_error"

    def __call__(self, Z, Y, w, dZ):
        R = Z - _as_rows(Y, Z)
        K = Z.shape[1]
        dZ[...] = np.sign(R) * (w[:, None] / K)
        return float(w @ np.abs(R).sum(axis=1)) / K


class Huber(Loss):
    """``r^2 / 2`` for ``|r| <= delta``, else ``delta * (|r| - delta / 2)``, r = z - y.

    Parameters
    ----------
    delta : float > 0, default=1.0
        In the units the network is trained in (the regressor standardises
        its targets, so 1.0 means one standard deviation).
    """

    name = "huber"

    def __init__(self, delta=1.0):
        if not delta > 0:
            raise ValueError(f"huber delta must be > 0, got {delta!r}")
        self.delta = float(delta)

    def __call__(self, Z, Y, w, dZ):
        R = Z - _as_rows(Y, Z)
        K, d = Z.shape[1], self.delta
        A = np.abs(R)
        small = A <= d
        L = np.where(small, 0.5 * R * R, d * (A - 0.5 * d))
        dZ[...] = np.where(small, R, d * np.sign(R)) * (w[:, None] / K)
        return float(w @ L.sum(axis=1)) / K

    def __repr__(self):
        return f"Huber(delta={self.delta!r})"


class Poisson(Loss):
    """Poisson deviance / 2 with a log link: ``exp(z) - y z`` (z the log-rate).

    Targets must be >= 0; predictions are ``exp(z)``.
    """

    name = "poisson"

    def predict(self, Z):
        return np.exp(Z)

    def __call__(self, Z, Y, w, dZ):
        Y = _as_rows(Y, Z)
        K = Z.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):
            E = np.exp(Z)
            dZ[...] = (E - Y) * (w[:, None] / K)
            return float(w @ (E - Y * Z).sum(axis=1)) / K


class Pinball(Loss):
    """The pinball (quantile) loss of one or several quantiles.

    For quantile q and r = y - z: ``max(q r, (q - 1) r)``; averaged over the
    targets and quantiles.  The head has one output per (target, quantile),
    target-major: column ``t * Q + j`` is quantile ``quantiles[j]`` of
    target t.

    Parameters
    ----------
    quantiles : sequence of floats in (0, 1), default=(0.5,)
    """

    name = "pinball"

    def __init__(self, quantiles=(0.5,)):
        q = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
        if q.ndim != 1 or q.size == 0 or not ((q > 0) & (q < 1)).all():
            raise ValueError(f"quantiles must be numbers in (0, 1), got {quantiles!r}")
        if np.unique(q).size != q.size:
            raise ValueError(f"quantiles must be distinct, got {quantiles!r}")
        self.quantiles = tuple(float(v) for v in q)

    def n_outputs(self, n_targets):
        return n_targets * len(self.quantiles)

    def __call__(self, Z, Y, w, dZ):
        Q = len(self.quantiles)
        N, K = Z.shape
        q = np.tile(np.asarray(self.quantiles), K // Q)             # (K,)
        Yk = np.repeat(np.asarray(Y, dtype=np.float64).reshape(N, K // Q), Q, axis=1)
        R = Yk - Z
        L = np.maximum(q * R, (q - 1) * R)
        # dL/dz = 1[y < z] - q   (taking the right derivative at a tie)
        dZ[...] = ((R < 0).astype(np.float64) - q) * (w[:, None] / K)
        return float(w @ L.sum(axis=1)) / K

    def __repr__(self):
        return f"Pinball(quantiles={self.quantiles!r})"


def _as_rows(Y, Z):
    return np.ascontiguousarray(Y, dtype=np.float64).reshape(Z.shape)


# name -> class (called with no arguments for the default).  A new loss is a
# class above and an entry here.
LOSSES = {cls.name: cls for cls in (SoftmaxCrossEntropy, SigmoidCrossEntropy, SquaredError,
                                    AbsoluteError, Huber, Poisson, Pinball)}


def get_loss(spec):
    """A loss name or object -> a Loss object."""
    if isinstance(spec, Loss):
        return spec
    try:
        return LOSSES[spec]()
    except (KeyError, TypeError):
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a seqcore.nn loss "
                         f"object, got {spec!r}") from None

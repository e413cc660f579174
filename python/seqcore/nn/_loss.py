"""The losses a network's head can be trained with: one registry.

Design: a loss is an object called as ``loss(Z, Y, w, dZ)`` on the head's
outputs Z (N, K) in float64, the targets Y (class indices (N,) for
'softmax', else (N, n_targets)), and per-row weights w (N,) that sum to 1;
it writes dL/dZ into dZ and returns the weighted loss ``sum_i w_i l_i``.
``n_outputs(n_targets)`` says how many outputs the head needs and
``predict(Z)`` maps outputs to predictions in the (scaled) target space.
A sequence loss (``sequence = True``: CTC) reads whole sequences instead:
``loss.sequence_loss(logits, input_lengths, targets, target_lengths)``
returns the loss and its gradient with respect to the (B, T, C) logits.
Per row, the regression losses average over their outputs (scikit-learn's
MLP convention for the squared error).  A new loss is a class here and an
entry in ``LOSSES``; the estimators read the registry.

Likelihood heads (``Distribution``: 'gaussian', 'student_t',
'negative_binomial') have one output per parameter of a distribution per
target; their loss is the negative log-likelihood, and they also give the
distribution's parameters, mean, quantiles and samples.
"""

import numpy as np

from .. import _losses


class Loss:
    """Base of the head losses (see the module's notes)."""

    name = None
    classification = False
    sequence = False

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


# ------------------------------------------------------------ likelihood heads
def _softplus(z):
    """log(1 + e^z), without overflow."""
    return np.logaddexp(0.0, z)


def _sigmoid(z):
    """The derivative of softplus."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Distribution(Loss):
    """Base of the likelihood heads: the head outputs, per target, one raw
    value per parameter of a distribution; the loss is the negative
    log-likelihood of the targets, averaged over the targets.

    Layout: target-major, like ``Pinball``: column ``t * P + j`` is the raw
    value of parameter ``param_names[j]`` of target t (P parameters).
    Links map raw values to parameters (identity for a location, softplus
    plus a floor for a scale).  ``distribution(Z)`` gives the parameters
    (each (N, n_targets)); ``mean``, ``quantile`` and ``sample`` read them.
    ``predict(Z)`` is the mean.  ``rescale(params, loc, scale)`` maps the
    parameters of standardised targets ``(y - loc) / scale`` back to the
    targets' units (what the regressor does after training).
    """

    param_names = ()
    # the smallest scale a head can predict (in the units it is trained in):
    # keeps the likelihood bounded on a target it fits exactly
    min_scale = 1e-4

    @property
    def n_params(self):
        return len(self.param_names)

    def n_outputs(self, n_targets):
        return n_targets * self.n_params

    def _split(self, Z):
        """Raw outputs (N, K * P) -> list of P arrays (N, K)."""
        P = self.n_params
        Z = np.asarray(Z, dtype=np.float64)
        Z = Z.reshape(Z.shape[:-1] + (Z.shape[-1] // P, P))
        return [Z[..., j] for j in range(P)]

    def _join(self, parts, out):
        P = self.n_params
        view = out.reshape(out.shape[:-1] + (out.shape[-1] // P, P))
        for j, g in enumerate(parts):
            view[..., j] = g

    def predict(self, Z):
        return self.mean(self.distribution(Z))

    def __call__(self, Z, Y, w, dZ):
        raw = self._split(Z)
        Y = np.asarray(Y, dtype=np.float64).reshape(raw[0].shape)
        nll, grads = self._nll_and_grad(raw, Y)
        K = Y.shape[1]
        self._join([g * (w[:, None] / K) for g in grads], dZ)
        return float(w @ nll.sum(axis=1)) / K

    def nll(self, params, y):
        """Negative log-likelihood of y under the parameters (elementwise)."""
        raise NotImplementedError

    def rescale(self, params, loc, scale):
        return params

    def __repr__(self):
        return f"{type(self).__name__}()"


class Gaussian(Distribution):
    """Gaussian likelihood: ``loc = z0``, ``scale = softplus(z1) + min_scale``.

    ``-log p(y) = log(scale) + (y - loc)^2 / (2 scale^2) + log(2 pi) / 2``.
    """

    name = "gaussian"
    param_names = ("loc", "scale")

    def distribution(self, Z):
        z0, z1 = self._split(Z)
        return {"loc": z0.copy(), "scale": _softplus(z1) + self.min_scale}

    def _nll_and_grad(self, raw, Y):
        z0, z1 = raw
        s = _softplus(z1) + self.min_scale
        r = (Y - z0) / s
        nll = np.log(s) + 0.5 * r * r + 0.5 * np.log(2 * np.pi)
        # d/dloc = -r / s;  d/ds = (1 - r^2) / s;  ds/dz1 = sigmoid(z1)
        return nll, [-r / s, (1.0 - r * r) / s * _sigmoid(z1)]

    def nll(self, params, y):
        r = (y - params["loc"]) / params["scale"]
        return np.log(params["scale"]) + 0.5 * r * r + 0.5 * np.log(2 * np.pi)

    def mean(self, params):
        return params["loc"]

    def quantile(self, params, q):
        from scipy.special import ndtri
        q = np.asarray(q, dtype=np.float64)
        return params["loc"][..., None] + params["scale"][..., None] * ndtri(q)

    def sample(self, params, n, rng):
        shape = params["loc"].shape + (n,)
        return params["loc"][..., None] + params["scale"][..., None] * rng.standard_normal(shape)

    def rescale(self, params, loc, scale):
        return {"loc": params["loc"] * scale + loc, "scale": params["scale"] * scale}


class StudentT(Distribution):
    """Student's t likelihood: ``loc = z0``, ``scale = softplus(z1) +
    min_scale``, ``df = 2 + softplus(z2)`` (learnt, above 2 so that the mean
    and the variance exist).

    ``-log p(y) = lgamma(df / 2) - lgamma((df + 1) / 2) + log(df pi) / 2
    + log(scale) + (df + 1) / 2 * log(1 + r^2 / df)``, ``r = (y - loc) / scale``.
    """

    name = "student_t"
    param_names = ("loc", "scale", "df")
    min_df = 2.0

    def distribution(self, Z):
        z0, z1, z2 = self._split(Z)
        return {"loc": z0.copy(), "scale": _softplus(z1) + self.min_scale,
                "df": self.min_df + _softplus(z2)}

    def _nll_and_grad(self, raw, Y):
        from scipy.special import digamma
        z0, z1, z2 = raw
        s = _softplus(z1) + self.min_scale
        v = self.min_df + _softplus(z2)
        r = (Y - z0) / s
        nll = self.nll({"loc": z0, "scale": s, "df": v}, Y)
        den = v + r * r
        d_loc = -(v + 1) * r / (s * den)
        d_s = (1.0 - (v + 1) * r * r / den) / s
        d_v = 0.5 * (digamma(0.5 * v) - digamma(0.5 * (v + 1)) + 1.0 / v
                     + np.log1p(r * r / v) - (v + 1) * r * r / (v * den))
        return nll, [d_loc, d_s * _sigmoid(z1), d_v * _sigmoid(z2)]

    def nll(self, params, y):
        from scipy.special import gammaln
        s, v = params["scale"], params["df"]
        r = (y - params["loc"]) / s
        return (gammaln(0.5 * v) - gammaln(0.5 * (v + 1)) + 0.5 * np.log(v * np.pi)
                + np.log(s) + 0.5 * (v + 1) * np.log1p(r * r / v))

    def mean(self, params):
        return params["loc"]

    def quantile(self, params, q):
        from scipy.special import stdtrit
        q = np.asarray(q, dtype=np.float64)
        return (params["loc"][..., None]
                + params["scale"][..., None] * stdtrit(params["df"][..., None], q))

    def sample(self, params, n, rng):
        shape = params["loc"].shape + (n,)
        t = rng.standard_t(np.broadcast_to(params["df"][..., None], shape))
        return params["loc"][..., None] + params["scale"][..., None] * t

    def rescale(self, params, loc, scale):
        return {"loc": params["loc"] * scale + loc, "scale": params["scale"] * scale,
                "df": params["df"]}


class NegativeBinomial(Distribution):
    """Negative binomial likelihood of counts (DeepAR's parametrisation):
    mean ``mu = scale * softplus(z0)`` and dispersion ``alpha = softplus(z1)
    + 1e-6``, variance ``mu + alpha * mu^2`` (``r = 1 / alpha`` successes).

    ``-log p(y) = lgamma(r) + lgamma(y + 1) - lgamma(y + r)
    - r log(r / (r + mu)) - y log(mu / (r + mu))``.  Targets are counts
    (integers >= 0) and are not standardised; ``scale`` (the targets' mean,
    per target, set by the regressor at fit) puts the untrained network's
    mean in their range.

    Parameters
    ----------
    scale : float or array of shape (n_targets,), default=1.0
    """

    name = "negative_binomial"
    param_names = ("mu", "alpha")
    min_alpha = 1e-6

    def __init__(self, scale=1.0):
        s = np.asarray(scale, dtype=np.float64)
        if s.ndim > 1 or not (np.isfinite(s).all() and (s > 0).all()):
            raise ValueError(f"negative_binomial scale must be positive numbers, got {scale!r}")
        self.scale = s

    def distribution(self, Z):
        z0, z1 = self._split(Z)
        return {"mu": self.scale * _softplus(z0) + 1e-12,
                "alpha": _softplus(z1) + self.min_alpha}

    def _nll_and_grad(self, raw, Y):
        from scipy.special import digamma
        z0, z1 = raw
        mu = self.scale * _softplus(z0) + 1e-12
        a = _softplus(z1) + self.min_alpha
        r = 1.0 / a
        nll = self.nll({"mu": mu, "alpha": a}, Y)
        # d(-log p)/dmu = (y + r) / (r + mu) - y / mu
        d_mu = (Y + r) / (r + mu) - Y / mu
        # d(-log p)/dr = digamma(r) - digamma(y + r) - log(r / (r + mu)) - 1 + (y + r) / (r + mu)
        d_r = digamma(r) - digamma(Y + r) - np.log(r / (r + mu)) - 1.0 + (Y + r) / (r + mu)
        return nll, [d_mu * self.scale * _sigmoid(z0), d_r * (-r * r) * _sigmoid(z1)]

    def nll(self, params, y):
        from scipy.special import gammaln
        mu, r = params["mu"], 1.0 / params["alpha"]
        return (gammaln(r) + gammaln(y + 1) - gammaln(y + r)
                - r * np.log(r / (r + mu)) - y * np.log(mu / (r + mu)))

    def mean(self, params):
        return params["mu"]

    def _scipy(self, params):
        r = 1.0 / params["alpha"]
        return r, r / (r + params["mu"])

    def quantile(self, params, q):
        from scipy.stats import nbinom
        n, p = self._scipy(params)
        q = np.asarray(q, dtype=np.float64)
        return nbinom.ppf(q, n[..., None], p[..., None])

    def sample(self, params, n, rng):
        r, p = self._scipy(params)
        shape = r.shape + (n,)
        return rng.negative_binomial(np.broadcast_to(r[..., None], shape),
                                     np.broadcast_to(p[..., None], shape)).astype(np.float64)

    def __repr__(self):
        s = self.scale
        return f"NegativeBinomial(scale={s.item() if s.ndim == 0 else s.tolist()!r})"


class CTC(Loss):
    """Connectionist temporal classification (``seqcore.nn.ctc_loss``): the
    negative log-likelihood of a label sequence summed over its alignments
    to the steps; a sequence loss (log-softmax inside, PyTorch's 'mean').

    Parameters
    ----------
    blank : int, default=0
    zero_infinity : bool, default=False
        Impossible alignments give 0 (and no gradient) instead of inf.
    """

    name, classification, sequence = "ctc", True, True

    def __init__(self, blank=0, zero_infinity=False):
        self.blank, self.zero_infinity = int(blank), bool(zero_infinity)

    def sequence_loss(self, logits, input_lengths, targets, target_lengths=None):
        """(loss, gradient of the (B, T, C) logits), reduction 'mean'."""
        from ._ctc import ctc_loss

        return ctc_loss(logits, input_lengths, targets, target_lengths, blank=self.blank,
                        reduction="mean", zero_infinity=self.zero_infinity)

    def __call__(self, Z, Y, w, dZ):
        raise TypeError("CTC is a sequence loss: call sequence_loss(logits, input_lengths, "
                        "targets, target_lengths)")

    def __repr__(self):
        return f"CTC(blank={self.blank!r}, zero_infinity={self.zero_infinity!r})"


def _as_rows(Y, Z):
    return np.ascontiguousarray(Y, dtype=np.float64).reshape(Z.shape)


# name -> class (called with no arguments for the default).  A new loss is a
# class above and an entry here.
LOSSES = {cls.name: cls for cls in (SoftmaxCrossEntropy, SigmoidCrossEntropy, SquaredError,
                                    AbsoluteError, Huber, Poisson, Pinball, Gaussian,
                                    StudentT, NegativeBinomial, CTC)}
# the losses a regressor's head can train with (per row, not classification)
REGRESSION_LOSSES = sorted(n for n, c in LOSSES.items() if not (c.classification or c.sequence))


def get_loss(spec):
    """A loss name or object -> a Loss object."""
    if isinstance(spec, Loss):
        return spec
    try:
        return LOSSES[spec]()
    except (KeyError, TypeError):
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a seqcore.nn loss "
                         f"object, got {spec!r}") from None

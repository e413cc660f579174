"""Gradient clipping, optimizers and a learning-rate schedule.

The optimizers update one flat parameter buffer from one flat gradient
buffer (``layer.flat_params``, ``layer.flat_grads``) with a single compiled
loop; their formulas are PyTorch's, so a step agrees with ``torch.optim``.
"""

import math

import numpy as np

from .. import _optim


def _check_limit(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not value > 0:
        raise ValueError(f"{name} must be > 0 (a number), got {value!r}")


def _flat_views(grads):
    """The arrays of a dict, a list or a single array, as (array, flat view or None)."""
    if isinstance(grads, dict):
        arrays = list(grads.values())
    elif isinstance(grads, np.ndarray):
        arrays = [grads]
    elif isinstance(grads, (list, tuple)):
        arrays = list(grads)
    else:
        raise TypeError("grads must be a dict or a list of arrays, or an array, got "
                        f"{type(grads).__name__}")
    out = []
    for a in arrays:
        if not isinstance(a, np.ndarray) or a.dtype not in (np.float32, np.float64):
            raise TypeError("gradients must be float32 or float64 NumPy arrays, "
                            f"got {type(a).__name__}"
                            + (f" of dtype {a.dtype}" if isinstance(a, np.ndarray) else ""))
        if not a.flags.writeable:
            raise ValueError("gradients are clipped in place: got a read-only array")
        out.append((a, a.reshape(-1) if a.flags.c_contiguous else None))
    return out


def clip_grad_norm(grads, max_norm):
    """Scale gradients in place so that their global L2 norm is at most ``max_norm``.

    Parameters
    ----------
    grads : dict of arrays, list of arrays, or an array
    max_norm : float > 0

    Returns
    -------
    total_norm : float
        The global norm before clipping.  As in ``torch.nn.utils.clip_grad_norm_``
        the gradients are multiplied by ``min(1, max_norm / (total_norm + 1e-6))``.
    """
    _check_limit(max_norm, "max_norm")
    return _clip_norm(_flat_views(grads), max_norm)


def _clip_norm(views, max_norm):
    """clip_grad_norm on checked (array, flat view) pairs (the estimators'
    flat gradient buffer, checked once in fit)."""
    total = 0.0
    for a, flat in views:
        total += _optim.sum_squares(flat) if flat is not None else float(np.sum(a.astype(np.float64) ** 2))
    if math.isinf(total):
        # squares overflowed (entries beyond 1e154): scale by the largest first
        big = max(float(np.max(np.abs(a))) for a, _ in views)
        total = sum(float(np.sum((a.astype(np.float64) / big) ** 2)) for a, _ in views)
        total = big * math.sqrt(total)
    else:
        total = math.sqrt(total)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for a, flat in views:
            if flat is not None:
                _optim.scale(flat, coef)
            else:
                a *= a.dtype.type(coef)
    return total


def clip_grad_value(grads, clip_value):
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` in place.

    Parameters
    ----------
    grads : dict of arrays, list of arrays, or an array
        float32 or float64, writeable.
    clip_value : float > 0
    """
    _check_limit(clip_value, "clip_value")
    for a, flat in _flat_views(grads):
        if flat is not None:
            _optim.clip_value(flat, clip_value)
        else:
            np.clip(a, -clip_value, clip_value, out=a)


class Optimizer:
    """Base: holds the flat buffers; subclasses implement ``_update``.

    A subclass names its state buffers in ``_state`` (each as large as the
    parameters): the estimators count them for the memory check, and
    unpickling re-points the optimizer at the network's buffers.
    """

    _state = ()

    def __init__(self, params, grads, lr):
        if not (isinstance(params, np.ndarray) and isinstance(grads, np.ndarray)
                and params.ndim == 1 and params.shape == grads.shape
                and params.dtype == grads.dtype and params.dtype in (np.float32, np.float64)
                and params.flags.c_contiguous and grads.flags.c_contiguous):
            raise TypeError("an optimizer takes a model's flat parameter and gradient "
                            "buffers: two 1-D contiguous float arrays of one size and dtype")
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr!r}")
        self.params, self.grads, self.lr = params, grads, float(lr)
        self.n_steps = 0
        for name in self._state:
            setattr(self, name, np.zeros_like(params))

    def step(self):
        """Update the parameters in place from the current gradients."""
        self.n_steps += 1
        self._update()

    def _update(self):
        raise NotImplementedError

    def rebind(self, params, grads):
        """Point at (unpickled) flat buffers; state read-only after joblib's mmap is copied."""
        self.params, self.grads = params, grads
        for name in self._state:
            if not getattr(self, name).flags.writeable:
                setattr(self, name, getattr(self, name).copy())


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov and L2 weight decay.

    Same update as ``torch.optim.SGD``::

        d = g + weight_decay * p
        buf = d on the first step, else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf if nesterov else buf
        p -= lr * d

    Parameters
    ----------
    params, grads : ndarray of shape (n_params,)
        A model's flat parameter and gradient buffers (``flat_params``,
        ``flat_grads``), updated in place by ``step()``.
    lr : float, default=0.01
    momentum : float, default=0.0
    dampening : float, default=0.0
    weight_decay : float, default=0.0
        L2 penalty added to the gradient.
    nesterov : bool, default=False
    """

    _state = ("buf",)

    def __init__(self, params, grads, lr=0.01, momentum=0.0, dampening=0.0,
                 weight_decay=0.0, nesterov=False):
        super().__init__(params, grads, lr)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.momentum, self.dampening = float(momentum), float(dampening)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)

    def _update(self):
        _optim.sgd_step(self.params, self.grads, self.buf, self.lr, self.momentum,
                        self.dampening, self.weight_decay, self.nesterov,
                        self.n_steps == 1)


class Adam(Optimizer):
    """Adam with bias correction and L2 weight decay, as ``torch.optim.Adam``.

    Per step, with gradient g and parameter p::

        d = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * d;  v = beta2 * v + (1 - beta2) * d * d
        p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params, grads : ndarray of shape (n_params,)
        A model's flat parameter and gradient buffers (``flat_params``,
        ``flat_grads``), updated in place by ``step()``.
    lr : float, default=1e-3
    betas : (float, float), default=(0.9, 0.999)
    eps : float, default=1e-8
    weight_decay : float, default=0.0
        L2 penalty added to the gradient.
    """

    _state = ("m", "v")

    def __init__(self, params, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0):
        super().__init__(params, grads, lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas!r}")
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def _update(self):
        _optim.adam_step(self.params, self.grads, self.m, self.v, self.lr,
                         self.beta1, self.beta2, self.eps, self.weight_decay,
                         self.n_steps)


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Per step: ``p *= 1 - lr * weight_decay``, then Adam's update without L2.

    Parameters
    ----------
    params, grads, lr, betas, eps : as in ``Adam``
    weight_decay : float, default=0.01
    """

    def __init__(self, params, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.01):
        super().__init__(params, grads, lr, betas, eps, weight_decay)

    def _update(self):
        if self.weight_decay:
            _optim.decay_weights(self.params, self.lr * self.weight_decay)
        _optim.adam_step(self.params, self.grads, self.m, self.v, self.lr,
                         self.beta1, self.beta2, self.eps, 0.0, self.n_steps)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (not centered).

    Per step, with gradient g and parameter p::

        d = g + weight_decay * p;  v = alpha * v + (1 - alpha) * d * d
        buf = momentum * buf + d / (sqrt(v) + eps);  p -= lr * buf
        (without momentum: p -= lr * d / (sqrt(v) + eps))

    Parameters
    ----------
    params, grads : ndarray of shape (n_params,)
    lr : float, default=0.01
    alpha : float, default=0.99
    eps : float, default=1e-8
    weight_decay : float, default=0.0
    momentum : float, default=0.0
    """

    _state = ("v", "buf")

    def __init__(self, params, grads, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0):
        super().__init__(params, grads, lr)
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha must lie in [0, 1), got {alpha!r}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.weight_decay, self.momentum = float(weight_decay), float(momentum)

    def _update(self):
        _optim.rmsprop_step(self.params, self.grads, self.v, self.buf, self.lr,
                            self.alpha, self.eps, self.weight_decay, self.momentum)


def _sgd(params, grads, lr, momentum, weight_decay):
    return SGD(params, grads, lr=lr, momentum=momentum, nesterov=momentum > 0,
               weight_decay=weight_decay)


def _adam(params, grads, lr, momentum, weight_decay):
    return Adam(params, grads, lr=lr, weight_decay=weight_decay)


def _adamw(params, grads, lr, momentum, weight_decay):
    return AdamW(params, grads, lr=lr, weight_decay=weight_decay)


def _rmsprop(params, grads, lr, momentum, weight_decay):
    return RMSprop(params, grads, lr=lr, momentum=momentum, weight_decay=weight_decay)


# The estimators' ``optimizer`` names: name -> (class, how the estimators'
# parameters map to it).  A new optimizer is a class above, a kernel in
# src/seqcore/_optim.pyx if it needs one, and an entry here.
OPTIMIZERS = {
    "sgd": (SGD, _sgd),          # Nesterov momentum (``momentum``), L2 as weight decay
    "adam": (Adam, _adam),       # L2 (``alpha``) in the gradient
    "adamw": (AdamW, _adamw),    # decoupled weight decay
    "rmsprop": (RMSprop, _rmsprop),
}


def make_optimizer(name, params, grads, *, lr, momentum=0.9, weight_decay=0.0):
    """The optimizer an estimator's ``optimizer=name`` means, on flat buffers."""
    return OPTIMIZERS[name][1](params, grads, lr, momentum, weight_decay)


def state_copies(name):
    """How many parameter-sized buffers the optimizer keeps."""
    return len(OPTIMIZERS[name][0]._state)


class ExponentialLR:
    """Multiply the optimizer's learning rate by ``gamma`` at each ``step()`` (per epoch).

    Parameters
    ----------
    optimizer : SGD or Adam
        The optimizer whose ``lr`` is scaled.
    gamma : float in (0, 1]
    """

    def __init__(self, optimizer, gamma):
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
        self.optimizer, self.gamma = optimizer, float(gamma)
        self.base_lr = optimizer.lr

    def step(self):
        self.optimizer.lr *= self.gamma

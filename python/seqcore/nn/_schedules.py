"""Learning-rate schedules: the learning rate of each epoch.

Design: a schedule is a small stateless object with one method,
``learning_rate(epoch, base_lr, history)``, that the training engine calls
before every epoch (``epoch`` counts from 0, ``history`` holds the losses
and validation scores so far).  Stateless, so one schedule object can be an
estimator parameter, cloned and reused across fits: what a plateau schedule
remembers is read back from the history.  The estimators take an instance
or one of the names in ``SCHEDULES`` (``learning_rate_schedule=``).
"""

import math
from numbers import Integral, Real


class Schedule:
    """Base of the learning-rate schedules (``learning_rate_schedule=``).

    Subclasses implement ``learning_rate(epoch, base_lr, history)``: the
    rate of epoch ``epoch`` (from 0), given the estimator's
    ``learning_rate`` and the history so far (a dict with 'loss',
    'validation_score' and 'learning_rate' lists, one entry per epoch done).
    """

    def learning_rate(self, epoch, base_lr, history):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class ConstantSchedule(Schedule):
    """The same rate every epoch (what ``learning_rate_schedule=None`` means)."""

    def learning_rate(self, epoch, base_lr, history):
        return base_lr


class ExponentialSchedule(Schedule):
    """``base_lr * gamma ** epoch``.

    Parameters
    ----------
    gamma : float in (0, 1], default=0.95
    """

    def __init__(self, gamma=0.95):
        if isinstance(gamma, bool) or not isinstance(gamma, Real) or not 0 < gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
        self.gamma = float(gamma)

    def learning_rate(self, epoch, base_lr, history):
        return base_lr * self.gamma ** epoch


class CosineSchedule(Schedule):
    """Cosine annealing from ``base_lr`` to ``min_lr`` over ``period`` epochs.

    ``period`` is ``max_iter`` when None; after it the rate stays ``min_lr``::

        min_lr + (base_lr - min_lr) * (1 + cos(pi * epoch / period)) / 2

    Parameters
    ----------
    period : int or None, default=None
    min_lr : float, default=0.0
    """

    def __init__(self, period=None, min_lr=0.0):
        if period is not None and (isinstance(period, bool) or not isinstance(period, Integral)
                                   or period < 1):
            raise ValueError(f"period must be a positive int or None, got {period!r}")
        if isinstance(min_lr, bool) or not isinstance(min_lr, Real) or min_lr < 0:
            raise ValueError(f"min_lr must be a number >= 0, got {min_lr!r}")
        self.period, self.min_lr = period, float(min_lr)

    def learning_rate(self, epoch, base_lr, history):
        period = self.period or history.get("max_iter") or 1
        t = min(epoch, period) / period
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * t)) / 2


class PlateauSchedule(Schedule):
    """Multiply the rate by ``factor`` each time the monitored quantity (the
    validation score when there is one, else the training loss) has not
    improved by ``tol`` for ``patience`` epochs; never below ``min_lr``.

    Parameters
    ----------
    factor : float in (0, 1), default=0.5
    patience : int, default=2
    tol : float, default=1e-4
    min_lr : float, default=0.0
    """

    def __init__(self, factor=0.5, patience=2, tol=1e-4, min_lr=0.0):
        if isinstance(factor, bool) or not isinstance(factor, Real) or not 0 < factor < 1:
            raise ValueError(f"factor must lie in (0, 1), got {factor!r}")
        if isinstance(patience, bool) or not isinstance(patience, Integral) or patience < 1:
            raise ValueError(f"patience must be a positive int, got {patience!r}")
        self.factor, self.patience = float(factor), int(patience)
        self.tol, self.min_lr = float(tol), float(min_lr)

    def learning_rate(self, epoch, base_lr, history):
        scores = history.get("validation_score") or []
        values = list(scores) if scores else [-v for v in history.get("loss", [])]
        # replay the history: count the reductions it has earned so far
        lr, best, stale = base_lr, -math.inf, 0
        for v in values:
            if v > best + self.tol:
                best, stale = v, 0
            else:
                stale += 1
                if stale >= self.patience:
                    lr, stale = max(lr * self.factor, self.min_lr), 0
            best = max(best, v)
        return lr


SCHEDULES = {
    "constant": ConstantSchedule,
    "exponential": ExponentialSchedule,
    "cosine": CosineSchedule,
    "plateau": PlateauSchedule,
}


def get_schedule(spec):
    """``learning_rate_schedule``'s value -> a Schedule (None: constant)."""
    if spec is None:
        return ConstantSchedule()
    if isinstance(spec, Schedule):
        return spec
    try:
        return SCHEDULES[spec]()
    except (KeyError, TypeError):
        raise ValueError(f"learning_rate_schedule must be None, one of {sorted(SCHEDULES)} "
                         f"or a seqcore.nn.Schedule, got {spec!r}") from None

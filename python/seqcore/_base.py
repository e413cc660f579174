"""What every seqcore estimator shares, whatever it models.

Design: the estimators (``RNNClassifier``, ``RNNRegressor``,
``RNNForecaster``, ``RNNLanguageModel``, ``Seq2SeqTranslator``, ...) inherit
``SeqcoreEstimator``, which brings

* pickle versioning (``PICKLE_FORMAT``: a pickle of another layout is
  refused with a clear message, never half-loaded);
* the refuse-concurrent-fit guard (``training``): one object trained from
  two threads at once raises ``RuntimeError``;
* publish-on-fit (``fit_then_publish``, ``consistent``): a fit from scratch
  works on a shallow copy and swaps its attributes in at the end in one
  step, so predictions running meanwhile read the old model or the new one;
* the dtype table and the training parameters' constraints, declared once
  (``TRAINING_CONSTRAINTS``) and checked at ``fit`` by scikit-learn's
  parameter validation, whose messages name the estimator's class.

The training loop itself lives in ``seqcore._engine``.
"""

import functools
import threading
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator

from ._sklearn_compat import Interval, StrOptions
from .nn._optim import OPTIMIZERS
from .nn._schedules import SCHEDULES, Schedule

DTYPES = {"float32": np.float32, "float64": np.float64}

# Version of the pickled layout of fitted models.  Bump it whenever a change
# makes older pickles unreadable; loading another version then fails clearly.
PICKLE_FORMAT = 1

# Every training parameter the engine reads, with its constraint: each
# estimator takes the subset it has in its ``__init__``.
TRAINING_CONSTRAINTS = {
    "optimizer": [StrOptions(set(OPTIMIZERS))],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "learning_rate_schedule": [StrOptions(set(SCHEDULES)), Schedule, None],
    "momentum": [Interval(Real, 0, 1, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
    "clip_value": [Interval(Real, 0, None, closed="neither"), None],
    "callbacks": [list, tuple, None],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "shuffle": ["boolean"],
    "random_state": ["random_state"],
    "dtype": [StrOptions(set(DTYPES))],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
}


def training_constraints(*names):
    """The constraints of the named training parameters."""
    return {name: TRAINING_CONSTRAINTS[name] for name in names}


class SeqcoreEstimator(BaseEstimator):
    """Base of every seqcore estimator: versioned pickles and the fit guard.

    Subclasses whose fitted model holds an optimizer (``_optimizer``) on the
    network's flat buffers get it re-pointed at them after unpickling.
    """

    def __getstate__(self):
        state = super().__getstate__()
        state["_seqcore_pickle_format"] = PICKLE_FORMAT
        return state

    def __setstate__(self, state):
        fmt = state.get("_seqcore_pickle_format")
        if fmt != PICKLE_FORMAT:
            raise ValueError(
                f"this {type(self).__name__} was pickled in seqcore's pickle format "
                f"{fmt!r}, and this version of seqcore reads format {PICKLE_FORMAT}; "
                "load it with the seqcore version that saved it, or refit")
        super().__setstate__(state)
        net, opt = getattr(self, "network_", None), getattr(self, "_optimizer", None)
        if net is not None and opt is not None:
            # joblib stores arrays one by one: point the optimizer at the
            # network's buffers again (pickle keeps the sharing by itself)
            opt.rebind(net.flat_params, net.flat_grads)


# Estimators being trained now (by id): training one object from two threads
# at once is refused.  A registry rather than a lock attribute, so that
# estimators stay plain objects for clone, pickle and get_params.
_TRAINING = set()
_TRAINING_LOCK = threading.Lock()


class training:
    """Context of one fit/partial_fit: refuse a second one on the same object."""

    def __init__(self, estimator):
        self.key = id(estimator)
        self.name = type(estimator).__name__

    def __enter__(self):
        with _TRAINING_LOCK:
            if self.key in _TRAINING:
                raise RuntimeError(
                    f"this {self.name} is being fitted in another thread: training one "
                    "estimator from two threads at once is refused (clone it per thread; "
                    "predict may run in any number of threads meanwhile)")
            _TRAINING.add(self.key)

    def __exit__(self, *exc):
        with _TRAINING_LOCK:
            _TRAINING.discard(self.key)
        return False


def published(estimator):
    """A consistent view of an estimator: a shallow copy of its attributes,
    taken in one step.  A fit from scratch works on such a copy and swaps
    its attributes in at the end, in one step too, so a prediction running
    meanwhile sees the old model or the new one, never parts of both."""
    view = object.__new__(type(estimator))
    view.__dict__ = estimator.__dict__.copy()
    return view


def consistent(method):
    """Run a prediction method on a view of the estimator (see ``published``)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return method(published(self), *args, **kwargs)
    return wrapper


def fit_then_publish(estimator, fit):
    """fit(work) on a view of the estimator, then swap the view's attributes
    in; the estimator is left as it was when fit raises."""
    work = published(estimator)
    fit(work)
    estimator.__dict__ = work.__dict__   # one step: readers see old or new
    return estimator

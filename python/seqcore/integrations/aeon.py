"""seqcore's estimators as aeon classifiers and regressors.

aeon (https://www.aeon-toolkit.org) keeps collections of time series
channel-first: a 3-D array (n_cases, n_channels, n_timepoints), or a list
of 2-D arrays (n_channels, n_timepoints_i) when the lengths differ.
seqcore reads them step-first, (n_timesteps, n_features) per sequence; the
adapters transpose, and pass unequal lengths to seqcore as a list (never
padded, so results are those of each series alone).

``SeqcoreClassifier`` and ``SeqcoreRegressor`` wrap a seqcore estimator
(an ``RNNClassifier``/``RNNRegressor``, or a scikit-learn ``Pipeline``
ending in one, e.g. after a ``SequenceScaler``): every hyper-parameter
stays the seqcore estimator's own, and aeon's ``fit``, ``predict``,
``predict_proba``, ``score``, ``fit_predict`` and its benchmarking tools
work on top.  Needs ``pip install 'seqcore-rnn[aeon]'``.

Examples
--------
>>> import numpy as np
>>> from seqcore import RNNClassifier
>>> from seqcore.integrations.aeon import SeqcoreClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((20, 2, 15))          # (n_cases, n_channels, n_timepoints)
>>> y = (X[:, 0].mean(axis=1) > 0).astype(int)
>>> clf = SeqcoreClassifier(RNNClassifier(cell="gru", hidden_size=8, max_iter=50,
...                                       n_iter_no_change=2, tol=0.01), random_state=0)
>>> clf.fit(X, y).predict(X).shape
(20,)
"""

import numpy as np
from sklearn.base import clone

try:
    from aeon.classification.base import BaseClassifier
    from aeon.regression.base import BaseRegressor
except ImportError as exc:   # pragma: no cover - depends on the environment
    raise ImportError("seqcore.integrations.aeon needs aeon: "
                      "pip install 'seqcore-rnn[aeon]'") from exc

from .._estimators import RNNClassifier, RNNRegressor

__all__ = ["SeqcoreClassifier", "SeqcoreRegressor"]

_TAGS = {
    "X_inner_type": ["np-list", "numpy3D"],
    "capability:multivariate": True,
    "capability:unequal_length": True,
    "algorithm_type": "deeplearning",
    "python_dependencies": "seqcore",
}


def _to_seqcore(X):
    """aeon's channel-first collection -> seqcore's step-first sequences.

    A 3-D array (n_cases, n_channels, n_timepoints) becomes a new 3-D array
    (n_cases, n_timepoints, n_channels); a list of (n_channels,
    n_timepoints_i) arrays a list of (n_timepoints_i, n_channels) ones.
    The caller's arrays are not modified.
    """
    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(X.transpose(0, 2, 1))
    return [np.ascontiguousarray(np.asarray(x).T) for x in X]


def _fitted_copy(template, default, random_state):
    """A fresh clone of the wrapped estimator, seeded with ``random_state``."""
    est = clone(template) if template is not None else default()
    if random_state is not None:
        # the seed of the seqcore estimator (the last step of a pipeline)
        keys = [k for k in est.get_params(deep=True)
                if k == "random_state" or k.endswith("__random_state")]
        est.set_params(**{k: random_state for k in keys})
    return est


class SeqcoreClassifier(BaseClassifier):
    """An aeon classifier running a seqcore recurrent-network classifier.

    Parameters
    ----------
    estimator : RNNClassifier or Pipeline, default=None
        The seqcore classifier (or a pipeline ending in one) to fit on each
        call to ``fit``; cloned, never fitted itself.  ``None`` means
        ``seqcore.RNNClassifier()``.
    random_state : int or None, default=None
        When given, overrides the wrapped estimator's ``random_state``:
        fits are then bit-identical run to run.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    classes_ : ndarray
        The class labels (set by aeon's ``fit``).
    """

    _tags = dict(_TAGS)

    def __init__(self, estimator=None, random_state=None):
        self.estimator = estimator
        self.random_state = random_state
        super().__init__()

    def _fit(self, X, y):
        """Fit the wrapped classifier on the collection X (see aeon's ``fit``)."""
        self.estimator_ = _fitted_copy(self.estimator, RNNClassifier, self.random_state)
        self.estimator_.fit(_to_seqcore(X), y)
        return self

    def _predict(self, X):
        """Predicted labels, (n_cases,)."""
        return self.estimator_.predict(_to_seqcore(X))

    def _predict_proba(self, X):
        """Class probabilities, (n_cases, n_classes), columns in ``classes_`` order."""
        proba = self.estimator_.predict_proba(_to_seqcore(X))
        inner = self.estimator_.classes_
        if len(inner) == len(self.classes_) and np.array_equal(inner, self.classes_):
            return proba
        # aeon's classes_ and seqcore's agree (both sorted unique labels);
        # map by label should they ever differ
        out = np.zeros((proba.shape[0], len(self.classes_)))
        for j, label in enumerate(inner):
            out[:, self._class_dictionary[label]] = proba[:, j]
        return out

    @classmethod
    def _get_test_params(cls, parameter_set="default"):
        """Small, fast settings for aeon's estimator checks."""
        return {"estimator": RNNClassifier(cell="gru", hidden_size=4, max_iter=3, tol=10.0,
                                           n_iter_no_change=1),
                "random_state": 0}


class SeqcoreRegressor(BaseRegressor):
    """An aeon regressor running a seqcore recurrent-network regressor.

    Parameters
    ----------
    estimator : RNNRegressor or Pipeline, default=None
        The seqcore regressor (or a pipeline ending in one) to fit on each
        call to ``fit``; cloned, never fitted itself.  ``None`` means
        ``seqcore.RNNRegressor()``.
    random_state : int or None, default=None
        When given, overrides the wrapped estimator's ``random_state``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone.
    """

    _tags = dict(_TAGS)

    def __init__(self, estimator=None, random_state=None):
        self.estimator = estimator
        self.random_state = random_state
        super().__init__()

    def _fit(self, X, y):
        """Fit the wrapped regressor on the collection X (see aeon's ``fit``)."""
        self.estimator_ = _fitted_copy(self.estimator, RNNRegressor, self.random_state)
        self.estimator_.fit(_to_seqcore(X), y)
        return self

    def _predict(self, X):
        """Predicted targets, (n_cases,)."""
        return np.asarray(self.estimator_.predict(_to_seqcore(X)), dtype=np.float64)

    @classmethod
    def _get_test_params(cls, parameter_set="default"):
        """Small, fast settings for aeon's estimator checks."""
        return {"estimator": RNNRegressor(cell="gru", hidden_size=4, max_iter=3, tol=10.0,
                                          n_iter_no_change=1),
                "random_state": 0}

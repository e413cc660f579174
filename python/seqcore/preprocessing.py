"""Preprocessing for sequences: ``SequenceScaler``, ``pad_sequences`` and ``pad_tokens``."""

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._data import SEQUENCES, check_sequences, pad_sequences, pad_tokens
from ._validation import mean_and_scale

__all__ = ["SequenceScaler", "pad_sequences", "pad_tokens"]


class SequenceScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise each feature over every step of every sequence.

    The statistics of feature j pool all its values in all (valid) steps of
    all sequences, so a sequence's shape over time is kept.  Takes the
    three forms of X of the estimators (3-D array, 2-D array of univariate
    sequences, list of (length_i, n_features) arrays) and returns the same
    form.  For a 2-D array the one feature pools all columns.

    Parameters
    ----------
    with_mean : bool, default=True
    with_std : bool, default=True

    Attributes
    ----------
    mean_ : ndarray of shape (n_step_features,)
    scale_ : ndarray of shape (n_step_features,)
        Standard deviation, 1 where it is 0.
    n_features_in_ : int
    """

    _parameter_constraints = {"with_mean": ["boolean"], "with_std": ["boolean"]}

    def __init__(self, *, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None):
        """Compute the per-feature mean and standard deviation."""
        self._validate_params()
        Xp, lengths, _ = check_sequences(X, estimator=self, dtype=np.float64, reset=True)
        values = Xp[np.arange(Xp.shape[1]) < lengths[:, None]]   # (n_valid_steps, F)
        mean, scale = mean_and_scale(values)
        self.mean_ = mean if self.with_mean else np.zeros(values.shape[1])
        self.scale_ = scale if self.with_std else np.ones(values.shape[1])
        return self

    def transform(self, X):
        """Scale X; returns the same form (3-D array, 2-D array or list)."""
        return self._apply(X, lambda a: (a - self.mean_) / self.scale_)

    def inverse_transform(self, X):
        """Undo ``transform``."""
        return self._apply(X, lambda a: a * self.scale_ + self.mean_)

    def _apply(self, X, fn):
        check_is_fitted(self, "mean_")
        Xp, lengths, mode = check_sequences(X, estimator=self, dtype=np.float64, reset=False)
        out = fn(Xp)
        if mode != SEQUENCES:
            return out[:, :, 0]
        if isinstance(X, (list, tuple)):
            return [out[i, :L] for i, L in enumerate(lengths)]
        return out

"""Callbacks: code that runs after every training epoch and may stop training.

Every estimator takes ``callbacks=[...]``.  A callback is any callable
``callback(estimator, history) -> bool``, called after each epoch, where
``history`` is a dict with the lists ``'loss'``, ``'validation_score'`` and
``'learning_rate'`` (one entry per epoch so far) and ``'epoch'``, the
number of epochs done.  Returning True stops training (the way Keras' and
skorch's callbacks do).  An optional method ``on_train_end(estimator,
history)`` runs once when training ends.

The estimator is never changed by passing a callback: each fit works on a
deep copy of the list, kept afterwards as the fitted attribute
``callbacks_`` (so a callback's state after training can be read there).
"""

import copy
import os
import pickle
import tempfile

import numpy as np

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint"]


class Callback:
    """Base class of the callbacks (optional: any callable works).

    Subclasses override ``__call__`` (after each epoch; return True to stop
    training) and, if they need it, ``on_train_end``.
    """

    def __call__(self, estimator, history):
        """Called after each epoch.

        Parameters
        ----------
        estimator : the estimator being trained
        history : dict
            'loss', 'validation_score', 'learning_rate' (lists, one entry
            per epoch) and 'epoch' (epochs done).

        Returns
        -------
        stop : bool
        """
        return False

    def on_train_end(self, estimator, history):
        """Called once when training ends (same arguments as a call)."""


def _monitored(history, monitor):
    if monitor == "loss":
        return -history["loss"][-1] if history["loss"] else None
    scores = history["validation_score"]
    return scores[-1] if scores else None


class EarlyStopping(Callback):
    """Stop when the monitored quantity has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : {'validation_score', 'loss'}, default='validation_score'
        'validation_score' needs a validation set (``early_stopping=True``);
        without one, the training loss is monitored instead.
    patience : int, default=5
    min_delta : float, default=0.0
        An improvement smaller than this does not count.
    restore_best_weights : bool, default=True
        When training ends, put back the weights of the best epoch.

    Attributes
    ----------
    best_ : float
        The best value seen (the loss is negated, so higher is better).
    best_epoch_ : int
        The epoch (from 1) that reached it.
    stopped_epoch_ : int or None
        The epoch at which this callback stopped training.
    """

    def __init__(self, monitor="validation_score", patience=5, min_delta=0.0,
                 restore_best_weights=True):
        if monitor not in ("validation_score", "loss"):
            raise ValueError(f"monitor must be 'validation_score' or 'loss', got {monitor!r}")
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) \
                or patience < 1:
            raise ValueError(f"patience must be a positive int, got {patience!r}")
        self.monitor, self.patience = monitor, int(patience)
        self.min_delta, self.restore_best_weights = float(min_delta), bool(restore_best_weights)
        self.best_, self.best_epoch_, self.stopped_epoch_ = -np.inf, 0, None
        self._weights, self._wait = None, 0

    def __call__(self, estimator, history):
        monitor = self.monitor
        if monitor == "validation_score" and not history["validation_score"]:
            monitor = "loss"
        value = _monitored(history, monitor)
        if value is None:
            return False
        if value > self.best_ + self.min_delta:
            self.best_, self.best_epoch_, self._wait = value, history["epoch"], 0
            if self.restore_best_weights:
                self._weights = estimator.network_.flat_params.copy()
            return False
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch_ = history["epoch"]
            return True
        return False

    def on_train_end(self, estimator, history):
        if self.restore_best_weights and self._weights is not None:
            net = estimator.network_
            with net.param_lock:
                net.flat_params[:] = self._weights
        self._weights = None   # no copy of the weights kept in the fitted model


class ModelCheckpoint(Callback):
    """Pickle the estimator after an epoch that improves the monitored quantity.

    Parameters
    ----------
    path : str or path-like
        Where to write the pickle; written to a temporary file first and
        moved into place, so a crash never leaves half a file.
    monitor : {'validation_score', 'loss'}, default='validation_score'
        As in ``EarlyStopping``.
    save_best_only : bool, default=True
        False saves after every epoch.

    Attributes
    ----------
    n_saved_ : int
        How many times the file was written.
    """

    def __init__(self, path, monitor="validation_score", save_best_only=True):
        if monitor not in ("validation_score", "loss"):
            raise ValueError(f"monitor must be 'validation_score' or 'loss', got {monitor!r}")
        self.path = os.fspath(path)
        self.monitor, self.save_best_only = monitor, bool(save_best_only)
        self.best_, self.n_saved_ = -np.inf, 0

    def __call__(self, estimator, history):
        monitor = self.monitor
        if monitor == "validation_score" and not history["validation_score"]:
            monitor = "loss"
        value = _monitored(history, monitor)
        if value is None or (self.save_best_only and not value > self.best_):
            return False
        self.best_ = max(self.best_, value)
        folder = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(estimator, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.n_saved_ += 1
        return False


def prepare(callbacks):
    """The callbacks of one fit: a deep copy of the list, each checked callable."""
    if callbacks is None:
        return []
    out = copy.deepcopy(list(callbacks))
    for cb in out:
        if not callable(cb):
            raise TypeError(f"each callback must be callable (estimator, history) -> bool, "
                            f"got {type(cb).__name__}")
    return out

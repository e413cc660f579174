"""The one training loop every seqcore estimator trains through.

Design (after scikit-learn's ``_fit_stochastic`` and Keras' ``fit``): a
model supplies a ``Task``, the engine does the rest.

A task gives
  * ``network``: the model, with ``flat_params``, ``flat_grads`` and
    ``param_lock`` (an optimizer step holds it, so predictions never read
    half a step);
  * ``batches()``: one epoch's batches, in order (shuffling is the task's);
  * ``loss_and_gradient(batch)``: fills ``network.flat_grads`` and returns
    ``(loss, weight)``: the batch's mean loss and its weight in the epoch's
    mean (samples or tokens); ``None`` skips a batch with nothing to learn;
  * ``validation_score()``: higher is better (only when ``has_validation``);
  * optional hooks: ``epoch_loss(mean)`` (adds a penalty to the reported
    loss), ``perfect(score)`` (stop: nothing left to learn),
    ``outputs_finite()`` (the final weights predict finite numbers),
    ``frozen`` (a slice of parameters that never moves).

Per batch the engine checks the loss and the gradients (not finite: restore
the last weights whose loss was finite, warn "training diverged", stop),
clips by value then by norm, and steps the optimizer under the lock.  Per
epoch it records the loss, the validation score and the learning rate,
detects a loss that explodes while staying finite (warns, naming the
learning rate, and keeps the weights of the lowest loss), prints the
verbose line, calls the callbacks (any may stop training), applies early
stopping (``n_iter_no_change`` epochs without an improvement of ``tol``;
with a validation set the best weights are kept) and the learning-rate
schedule.  Ctrl-C stops cleanly: the model keeps the weights trained so
far (the best ones with a validation set) and a warning says so.

The history lives on the estimator (``loss_curve_``, ``validation_scores_``,
``n_iter_``, ``best_loss_``, ...) so that ``partial_fit`` and ``warm_start``
continue it.
"""

import contextlib
import sys
import threading
import time

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from . import _optim as _core_optim
from ._validation import warn_user
from .nn._optim import _clip_norm
from .nn._schedules import get_schedule

# A finite epoch loss above this many times the first batch's loss (and
# above this many nats or squared units) means training has blown up: the
# untrained model is never that far off.
EXPLOSION_FACTOR = 10.0


_local = threading.local()


@contextlib.contextmanager
def interrupts_propagate():
    """Within this block (on this thread), Ctrl-C during training is not
    caught: it propagates to the caller.  A model that trains several
    networks in one fit (``RNNForecaster``) uses it, so that one Ctrl-C
    stops the whole fit instead of only the network training at that moment."""
    before = getattr(_local, "propagate", False)
    _local.propagate = True
    try:
        yield
    finally:
        _local.propagate = before


class Task:
    """What a model gives the engine (see the module's notes)."""

    network = None
    has_validation = False
    frozen = None

    def batches(self):
        raise NotImplementedError

    def loss_and_gradient(self, batch):
        raise NotImplementedError

    def validation_score(self):
        raise NotImplementedError

    def epoch_loss(self, mean):
        return mean

    def perfect(self, score):
        return False

    def outputs_finite(self):
        return bool(np.isfinite(self.network.flat_params).all())


def start_history(est):
    """Fresh training history on the estimator (a fit from scratch)."""
    est.loss_curve_ = []
    est.validation_scores_ = []
    est.learning_rates_ = []
    est.best_loss_ = np.inf
    est.best_validation_score_ = -np.inf
    est._best_params = None
    est._no_improvement = 0
    est.n_iter_ = 0
    est.t_ = 0


def history(est):
    """The history a callback or a schedule reads."""
    return {"epoch": est.n_iter_, "loss": list(est.loss_curve_),
            "validation_score": list(est.validation_scores_),
            "learning_rate": list(getattr(est, "learning_rates_", [])),
            "max_iter": getattr(est, "max_iter", None)}


def _warn_diverged():
    warn_user("training diverged (the loss, the gradients or the weights became NaN or "
              "infinite); kept the last weights with a finite loss. Lower learning_rate "
              "or set clip_norm.", RuntimeWarning)


def _restore(net, flat):
    with net.param_lock:
        net.flat_params[:] = flat


def train(est, task, optimizer, *, epochs, incremental=False, callbacks=None):
    """Train ``task.network`` for up to ``epochs`` epochs (see the module's notes).

    Parameters
    ----------
    est : estimator
        Holds the history and the training parameters (``clip_norm``,
        ``clip_value``, ``n_iter_no_change``, ``tol``, ``verbose``,
        ``learning_rate`` and ``learning_rate_schedule`` where it has them).
    task : Task
    optimizer : seqcore.nn optimizer on the network's flat buffers
    epochs : int
    incremental : bool
        One call of ``partial_fit``: the best weights are restored only when
        early stopping ends training, and no ConvergenceWarning is given.
    callbacks : list, optional
        Prepared callbacks (see ``seqcore.callbacks``).

    Returns
    -------
    stopped : bool
        Whether training stopped before ``epochs`` (early stopping, a
        callback, divergence or Ctrl-C).
    """
    net = task.network
    clip_value = getattr(est, "clip_value", None)
    clip_norm = getattr(est, "clip_norm", None)
    schedule_spec = getattr(est, "learning_rate_schedule", None)
    schedule = None if schedule_spec is None else get_schedule(schedule_spec)
    base_lr = getattr(est, "learning_rate", optimizer.lr)
    callbacks = list(callbacks or ())
    grads = [(net.flat_grads, net.flat_grads)]
    verbose = getattr(est, "verbose", 0)
    stopped, last_good, reference = False, None, None
    # the weights at the end of the epoch of lowest loss (at first, the
    # initial ones): what an explosion falls back to
    lowest_loss, lowest_params = np.inf, None
    try:
        for _ in range(epochs):
            if schedule is not None:
                lr = float(schedule.learning_rate(est.n_iter_, base_lr, history(est)))
                if not (np.isfinite(lr) and lr >= 0):
                    raise ValueError(f"the learning-rate schedule {schedule!r} gave {lr!r} "
                                     f"for epoch {est.n_iter_}: a rate must be finite and >= 0")
                optimizer.lr = lr
                if lr == 0 and base_lr > 0:
                    # e.g. a cosine schedule past its period, which partial_fit's
                    # accumulated epochs reach: more epochs cannot change the weights
                    warn_user(f"the learning-rate schedule {schedule!r} gives a rate of 0 "
                              f"from epoch {est.n_iter_} on: training stops, as further "
                              f"epochs would not change the weights (for partial_fit, "
                              f"give the schedule a longer period or a min_lr > 0)",
                              ConvergenceWarning)
                    stopped = True
                    break
            t0 = time.perf_counter()
            total, weight = 0.0, 0.0
            for batch in _progress(task.batches(), verbose, est.n_iter_):
                before = net.flat_params.copy()
                with np.errstate(over="ignore", invalid="ignore"):
                    out = task.loss_and_gradient(batch)
                    if out is None:
                        continue   # nothing to learn from this batch
                    loss, bw = out
                    finite = np.isfinite(loss) and np.isfinite(net.flat_grads).all()
                    if finite:
                        last_good = before   # weights whose loss is finite
                        if reference is None:
                            reference, lowest_params = float(loss), before
                        if task.frozen is not None:
                            net.flat_grads[task.frozen] = 0
                        if clip_value is not None:
                            _core_optim.clip_value(net.flat_grads, clip_value)
                        if clip_norm is not None:
                            _clip_norm(grads, clip_norm)
                        with net.param_lock:   # predictions never see half a step
                            optimizer.step()
                        est.t_ = getattr(est, "t_", 0) + 1
                if not finite or not np.isfinite(net.flat_params).all():
                    if last_good is not None:
                        _restore(net, last_good)
                    _warn_diverged()
                    stopped = True
                    break
                total += loss * bw
                weight += bw
            if stopped:
                break
            est.n_iter_ += 1
            data_loss = total / weight if weight > 0 else 0.0   # what the reference measures
            epoch_loss = task.epoch_loss(data_loss)             # with a penalty (L2), if any
            est.loss_curve_.append(epoch_loss)
            if hasattr(est, "learning_rates_"):
                est.learning_rates_.append(optimizer.lr)
            if reference is not None and data_loss > EXPLOSION_FACTOR * max(reference, 1.0):
                _restore(net, lowest_params)
                warn_user(
                    f"training diverged: the loss exploded from {reference:.4g} (first "
                    f"batch) to {data_loss:.4g} at epoch {est.n_iter_} while staying "
                    f"finite; learning_rate={optimizer.lr:g} is too large for this model. "
                    "Lower learning_rate (or set clip_norm); kept the weights of the lowest "
                    "epoch loss.", RuntimeWarning)
                stopped = True
                break
            if epoch_loss < lowest_loss:
                lowest_loss, lowest_params = epoch_loss, net.flat_params.copy()
            if _end_of_epoch(est, task, epoch_loss, time.perf_counter() - t0, verbose,
                             callbacks):
                stopped = True
                break
    except KeyboardInterrupt:
        if getattr(_local, "propagate", False):
            raise
        warn_user("training interrupted (Ctrl-C); the model keeps the weights trained so far"
                  + (" (the best on the validation set)" if task.has_validation else ""),
                  RuntimeWarning)
        stopped = True
    if task.has_validation and est._best_params is not None and (stopped or not incremental):
        _restore(net, est._best_params)
    for cb in callbacks:
        end = getattr(cb, "on_train_end", None)
        if end is not None:
            end(est, history(est))
    if last_good is not None:
        # the last step may have left finite weights that predict inf/NaN
        with np.errstate(over="ignore", invalid="ignore"):
            ok = task.outputs_finite()
        if not ok:
            _restore(net, last_good)
            warn_user("training diverged: the final weights predict NaN or infinity; "
                      "kept the last weights with a finite loss. Lower learning_rate or "
                      "set clip_norm.", RuntimeWarning)
            stopped = True
    if not stopped and not incremental:
        warn_user(f"{type(est).__name__} reached max_iter={epochs} epochs before the "
                  f"{'validation score' if task.has_validation else 'loss'} stopped "
                  "improving by tol; consider raising max_iter.", ConvergenceWarning)
    return stopped


def _end_of_epoch(est, task, loss, seconds, verbose, callbacks):
    """Book-keeping after an epoch; True when training should stop."""
    done = False
    if task.has_validation:
        score = task.validation_score()
        est.validation_scores_.append(score)
        improved = score > est.best_validation_score_ + est.tol
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_params = task.network.flat_params.copy()
        done = task.perfect(score)
    else:
        improved = loss < est.best_loss_ - est.tol
    est.best_loss_ = min(est.best_loss_, loss)
    est._no_improvement = 0 if improved else est._no_improvement + 1
    if verbose:
        msg = f"Epoch {est.n_iter_}, loss = {loss:.6f}"
        if task.has_validation:
            msg += f", validation score = {est.validation_scores_[-1]:.6f}"
        print(f"{msg}, {seconds:.2f}s", file=sys.stdout, flush=True)
    if callbacks:
        h = history(est)
        for cb in callbacks:
            if cb(est, h):
                done = True
    return done or est._no_improvement >= est.n_iter_no_change


def _progress(batches, verbose, epoch):
    if verbose < 2:
        return batches
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _TextProgress(batches)
    return tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, unit="batch")


class _TextProgress:
    """A minimal progress bar on stderr for verbose=2 when tqdm is missing."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        n = len(self.items) if hasattr(self.items, "__len__") else None
        for i, item in enumerate(self.items, 1):
            yield item
            print(f"\r  batch {i}" + (f"/{n}" if n else ""), end="", file=sys.stderr,
                  flush=True)
        print(file=sys.stderr)

"""scikit-learn estimators: ``RNNClassifier`` and ``RNNRegressor``.

Design (after scikit-learn's ``neural_network``): one base class holds the
training loop; the classifier and the regressor add only the loss, the
target encoding and the predict methods.  ``__init__`` only stores
arguments; hyper-parameters are checked declaratively at ``fit``.  ``fit``
and ``partial_fit`` both go through ``_fit``.  The model itself is a
``seqcore.nn.SequenceNetwork`` (recurrent stack, dense head, loss) trained
with a compiled optimizer on its flat parameter buffer.
"""

import functools
import sys
import threading
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from . import _optim as _core_optim
from ._data import SEQUENCES, check_sequences, check_tokens
from ._sklearn_compat import Interval, StrOptions
from ._validation import check_real, mean_and_scale, warn_user
from .nn import SGD, Adam, SequenceNetwork
from .nn._cells import CELLS, all_options
from .nn._optim import _clip_norm

_DTYPES = {"float32": np.float32, "float64": np.float64}
# Copies of the parameters that training keeps: parameters, gradients, the
# optimizer's state (Adam's two moments, SGD's momentum), the weights before
# each step and the best ones so far (early stopping).
_TRAINING_COPIES = {"adam": 6, "sgd": 5}

# Version of the pickled layout of fitted models.  Bump it whenever a change
# makes older pickles unreadable; loading another version then fails clearly.
PICKLE_FORMAT = 1


class _VersionedPickle:
    """Stamp pickles with PICKLE_FORMAT and refuse other formats on load."""

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
            opt.params, opt.grads = net.flat_params, net.flat_grads
            for name in ("m", "v", "buf"):
                if hasattr(opt, name) and not getattr(opt, name).flags.writeable:
                    setattr(opt, name, getattr(opt, name).copy())


# Estimators being trained now (by id): training one object from two threads
# at once is refused.  A registry rather than a lock attribute, so that
# estimators stay plain objects for clone, pickle and get_params.
_TRAINING = set()
_TRAINING_LOCK = threading.Lock()


def _published(estimator):
    """A consistent view of an estimator: a shallow copy of its attributes,
    taken in one step.  A fit from scratch works on such a copy and swaps
    its attributes in at the end, in one step too, so a prediction running
    meanwhile sees the old model or the new one, never parts of both."""
    view = object.__new__(type(estimator))
    view.__dict__ = estimator.__dict__.copy()
    return view


def _consistent(method):
    """Run a prediction method on a view of the estimator (see _published)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        return method(_published(self), *args, **kwargs)
    return wrapper


def _fit_then_publish(estimator, fit):
    """fit(work) on a view of the estimator, then swap the view's attributes
    in; the estimator is left as it was when fit raises."""
    work = _published(estimator)
    fit(work)
    estimator.__dict__ = work.__dict__   # one step: readers see old or new
    return estimator


class _Training:
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


def _cell_constraints():
    """The constraints of ``cell`` and of every cell option, from the descriptors."""
    out = {"cell": [StrOptions(set(CELLS))]}
    for name, (_, allowed) in all_options().items():
        out[name] = (["boolean"] if allowed is bool
                     else [Interval(Integral, 0, None, closed="left")] if allowed is int
                     else [StrOptions(set(allowed))])
    return out


class _BaseRNN(_VersionedPickle, BaseEstimator):
    """Training loop shared by the classifier and the regressor."""

    _parameter_constraints = {
        **_cell_constraints(),
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "merge_mode": [StrOptions({"concat", "sum", "mul", "ave"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
        "return_sequences": ["boolean"],
        "dense_layers": [tuple, list],
        "dense_activation": [StrOptions({"relu", "tanh"})],
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "vocab_size": [Interval(Integral, 2, None, closed="left"), None],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
        "clip_value": [Interval(Real, 0, None, closed="neither"), None],
        "bptt_steps": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"float32", "float64"})],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(self, *, cell="lstm", hidden_size=32, num_layers=1,
                 nonlinearity="tanh", reset_after=True, peephole=False, proj_size=0,
                 bidirectional=False, merge_mode="concat", dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, dense_layers=(),
                 dense_activation="relu", embedding_dim=None, vocab_size=None,
                 optimizer="adam", learning_rate=0.01, momentum=0.9,
                 batch_size=32, max_iter=200, clip_norm=5.0, clip_value=None,
                 bptt_steps=None, alpha=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 shuffle=True, random_state=None, dtype="float32", verbose=0,
                 warm_start=False):
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.nonlinearity = nonlinearity
        self.reset_after = reset_after
        self.peephole = peephole
        self.proj_size = proj_size
        self.bidirectional = bidirectional
        self.merge_mode = merge_mode
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.return_sequences = return_sequences
        self.dense_layers = dense_layers
        self.dense_activation = dense_activation
        self.embedding_dim = embedding_dim
        self.vocab_size = vocab_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.bptt_steps = bptt_steps
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.warm_start = warm_start

    # ----------------------------------------------------------- subclasses
    _loss = None            # the SequenceNetwork loss

    def _encode_y(self, y, lengths, first):
        """Targets -> (Y for the network, n_outputs); sets fitted target attributes."""
        raise NotImplementedError

    def _validation_score(self, X, lengths, Y):
        raise NotImplementedError

    # ---------------------------------------------------------------- input
    def _check_X(self, X, reset, keep_empty=False):
        """(padded X, lengths, input form); token ids (n, T) with ``embedding_dim``
        (``keep_empty``: an empty sequence's length is 0, see ``check_tokens``)."""
        if self.embedding_dim is None:
            return check_sequences(X, estimator=self, dtype=_DTYPES[self.dtype], reset=reset)
        ids, lengths, mode = check_tokens(X, estimator=self, reset=reset,
                                          keep_empty=keep_empty)
        top = int(ids.max())
        if reset:
            if self.vocab_size is not None and top >= self.vocab_size:
                raise ValueError(f"X holds token id {top}, outside vocab_size={self.vocab_size}")
            self.vocab_size_ = self.vocab_size if self.vocab_size is not None else max(top + 1, 2)
        elif top >= self.vocab_size_:
            raise ValueError(f"X holds token id {top}, outside the {self.vocab_size_} ids the "
                             "model was fit with; map unseen tokens to the unknown id 1 "
                             "(seqcore.text.SequenceTokenizer does)")
        return ids, lengths, mode

    def _per_step(self, y, lengths, mode, name="y"):
        """Per-step targets (return_sequences): a list or array -> (n, T, ...) padded."""
        n, T = len(lengths), int(lengths.max())
        if isinstance(y, (list, tuple)) and len(y) and np.ndim(y[0]) >= 1 and mode == SEQUENCES \
                and not isinstance(y, np.ndarray):
            if len(y) != n:
                raise ValueError(f"{name} has {len(y)} sequences, X has {n}")
            items = [np.asarray(v) for v in y]
            for i, (v, L) in enumerate(zip(items, lengths)):
                if v.shape[0] != L:
                    raise ValueError(f"{name}[{i}] has {v.shape[0]} steps, but X[{i}] has {L}")
            tail = items[0].shape[1:]
            out = np.zeros((n, T) + tail, dtype=items[0].dtype)
            for i, v in enumerate(items):
                out[i, :len(v)] = v
            return out
        y = np.asarray(y)
        if y.ndim < 2 or y.shape[0] != n or y.shape[1] != T:
            raise ValueError(f"with return_sequences=True, {name} must have shape "
                             f"(n_samples, n_timesteps[, n_outputs]) = ({n}, {T}, ...), "
                             f"got {y.shape}")
        return y

    def _check_sample_weight(self, sample_weight, n):
        if sample_weight is None:
            return np.ones(n)
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim == 0:
            w = np.full(n, float(w))
        if w.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
        if not np.isfinite(w).all():
            raise ValueError("sample_weight contains NaN or infinity")
        if (w < 0).any():
            raise ValueError("sample_weight must be non-negative")
        if not w.any():
            raise ValueError("sample_weight is zero for every sample: nothing to learn from")
        return w

    # ------------------------------------------------------------- training
    def fit(self, X, y, sample_weight=None):
        """Train on sequences X and targets y for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array of shape (n_samples, n_timesteps, n_features), array of
            shape (n_samples, n_timesteps), or list of arrays (length_i, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs); with
            ``return_sequences=True`` one target per step: (n_samples,
            n_timesteps[, n_outputs]) or a list matching each sequence's length
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None, validation_data=None):
        with _Training(self):
            if incremental or (self.warm_start and hasattr(self, "network_")):
                # continues the model in place (its weights change under the
                # network's param_lock, between predictions)
                return self._fit_unguarded(X, y, sample_weight, incremental, classes,
                                           validation_data)
            return _fit_then_publish(self, lambda work: work._fit_unguarded(
                X, y, sample_weight, incremental, classes, validation_data))

    def _fit_unguarded(self, X, y, sample_weight, incremental, classes, validation_data):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             "target y is None")
        fitted = hasattr(self, "network_")
        first = not fitted or not (self.warm_start or incremental)
        if first:
            self._check_architecture()
        Xp, lengths, mode = self._check_X(X, reset=first)
        if first and self.bptt_steps is not None and self.bidirectional \
                and self.bptt_steps < Xp.shape[1]:
            raise ValueError("bptt_steps cannot truncate a bidirectional network: the "
                             "backward direction needs the whole sequence")
        w = self._check_sample_weight(sample_weight, Xp.shape[0])
        if self.return_sequences:
            y = self._per_step(y, lengths, mode)
        Y, w = self._encode_y(y, lengths, w, first=first, classes=classes)

        if first:
            self._rng = check_random_state(self.random_state)
            seed = self._rng.randint(np.iinfo(np.int32).max)
            tokens = self.embedding_dim is not None
            self.network_ = SequenceNetwork(
                self.cell, self.embedding_dim if tokens else Xp.shape[2], self.hidden_size,
                self.n_outputs_, loss=self._loss, return_sequences=self.return_sequences,
                vocab_size=self.vocab_size_ if tokens else None,
                dense_layers=tuple(self.dense_layers), dense_activation=self.dense_activation,
                num_layers=self.num_layers, bidirectional=self.bidirectional,
                merge_mode=self.merge_mode, dropout=self.dropout,
                recurrent_dropout=self.recurrent_dropout, dtype=_DTYPES[self.dtype],
                random_state=seed, training_copies=_TRAINING_COPIES[self.optimizer],
                **self._cell_kwargs())
            net = self.network_
            # L2 as in MLPClassifier: 0.5 * alpha * ||w||^2 / batch_size on each
            # batch's mean loss, i.e. a weight decay of alpha / batch_size
            decay = self.alpha / min(self.batch_size, Xp.shape[0])
            if self.optimizer == "adam":
                self._optimizer = Adam(net.flat_params, net.flat_grads,
                                       lr=self.learning_rate, weight_decay=decay)
            else:
                self._optimizer = SGD(net.flat_params, net.flat_grads, lr=self.learning_rate,
                                      momentum=self.momentum, nesterov=self.momentum > 0,
                                      weight_decay=decay)
            self.loss_curve_ = []
            self.validation_scores_ = []
            self.best_loss_ = np.inf
            self.best_validation_score_ = -np.inf
            self._best_params = None
            self._no_improvement = 0
            self.n_iter_ = 0
            self.t_ = 0

        # the held-out set for early stopping
        val = None
        if validation_data is not None:
            Xv, yv = validation_data
            Xv, lv, mv = self._check_X(Xv, reset=False)
            if self.return_sequences:
                yv = self._per_step(yv, lv, mv, name="validation y")
            val = (Xv, lv, yv)
        elif self.early_stopping and not incremental:
            idx = np.arange(Xp.shape[0])
            stratify = self._stratify(Y, lengths)
            train, test = train_test_split(idx, test_size=self.validation_fraction,
                                           random_state=self._rng.randint(np.iinfo(np.int32).max),
                                           stratify=stratify)
            val = (Xp[test], lengths[test], self._decode_for_score(Y[test], lengths[test]))
            Xp, lengths, Y, w = Xp[train], lengths[train], Y[train], w[train]

        # the training set is checked and laid out once, here: per batch
        # nothing is checked again (SequenceNetwork._train_batch trusts it)
        net, N, T = self.network_, Xp.shape[0], Xp.shape[1]
        Y = net._check_targets(Y, N, T, lengths)
        w = net._check_weights(w, N, T, lengths)
        epochs = 1 if incremental else self.max_iter
        try:
            self._train(Xp, lengths, Y, w, epochs, val, incremental)
        finally:
            if not incremental:   # partial_fit keeps them for its next call
                self.network_.rnn.release_buffers()
        return self

    def _train(self, Xp, lengths, Y, w, epochs, val, incremental):
        net, n = self.network_, Xp.shape[0]
        batch = min(self.batch_size, n)
        T = Xp.shape[1]
        k = T if self.bptt_steps is None else min(self.bptt_steps, T)
        grads = [(net.flat_grads, net.flat_grads)]
        stopped = False
        last_good = None
        try:
            for _ in range(epochs):
                t0 = time.perf_counter()
                order = self._rng.permutation(n) if self.shuffle else np.arange(n)
                total, weight = 0.0, 0.0
                starts = range(0, n, batch)
                for start in self._progress(starts):
                    idx = order[start:start + batch]
                    bw = w[idx].sum()
                    if bw == 0:
                        continue   # nothing to learn from this batch
                    before = net.flat_params.copy()
                    with np.errstate(over="ignore", invalid="ignore"):
                        loss = net._train_batch(Xp, idx, lengths, Y, w, k)
                        if np.isfinite(loss):
                            last_good = before   # weights whose loss is finite
                            if self.clip_value is not None:
                                _core_optim.clip_value(net.flat_grads, self.clip_value)
                            if self.clip_norm is not None:
                                _clip_norm(grads, self.clip_norm)
                            with net.param_lock:   # predictions never see half a step
                                self._optimizer.step()
                            self.t_ += 1
                    if not np.isfinite(loss) or not np.isfinite(net.flat_params).all():
                        if last_good is not None:
                            with net.param_lock:
                                net.flat_params[:] = last_good
                        warn_user(
                            "training diverged (the loss or the weights became NaN or "
                            "infinite); kept the last weights with a finite loss. Lower "
                            "learning_rate or set clip_norm.", RuntimeWarning)
                        stopped = True
                        break
                    total += loss * bw
                    weight += bw
                if stopped:
                    break
                self.n_iter_ += 1
                epoch_loss = total / weight if weight > 0 else 0.0
                if self.alpha:
                    epoch_loss += 0.5 * self._optimizer.weight_decay * float(
                        np.dot(net.flat_params, net.flat_params))
                self.loss_curve_.append(epoch_loss)
                if self._end_of_epoch(epoch_loss, val, time.perf_counter() - t0):
                    stopped = True
                    break
        except KeyboardInterrupt:
            warn_user("training interrupted; the model keeps the weights trained so far",
                          RuntimeWarning)
            stopped = True
        if val is not None and self._best_params is not None and (stopped or not incremental):
            with net.param_lock:
                net.flat_params[:] = self._best_params
        if last_good is not None:
            # the last step may have left finite weights that predict inf/NaN
            probe = slice(0, min(batch, n))
            with np.errstate(over="ignore", invalid="ignore"):
                out = net.decision_function(Xp[probe], lengths[probe])
            if not np.isfinite(out).all():
                with net.param_lock:
                    net.flat_params[:] = last_good
                warn_user("training diverged: the final weights predict NaN or "
                              "infinity; kept the last weights with a finite loss. Lower "
                              "learning_rate or set clip_norm.", RuntimeWarning)
                stopped = True
        if not stopped and not incremental:
            warn_user(f"{type(self).__name__} reached max_iter={self.max_iter} epochs "
                          "before the loss stopped improving by tol; consider raising max_iter.",
                          ConvergenceWarning)

    def _end_of_epoch(self, loss, val, seconds):
        """Book-keeping after an epoch; True when training should stop."""
        if val is not None:
            score = self._validation_score(*val)
            self.validation_scores_.append(score)
            improved = score > self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self.network_.flat_params.copy()
        else:
            improved = loss < self.best_loss_ - self.tol
        self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement = 0 if improved else self._no_improvement + 1
        if self.verbose:
            msg = f"Epoch {self.n_iter_}, loss = {loss:.6f}"
            if val is not None:
                msg += f", validation score = {self.validation_scores_[-1]:.6f}"
            print(f"{msg}, {seconds:.2f}s", file=sys.stdout, flush=True)
        return self._no_improvement >= self.n_iter_no_change

    def _progress(self, starts):
        if self.verbose < 2:
            return starts
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return _TextProgress(starts)
        return tqdm(starts, desc=f"epoch {self.n_iter_ + 1}", leave=False, unit="batch")

    def _stratify(self, Y, lengths):
        return None

    def _decode_for_score(self, Y, lengths):
        return Y

    def _cell_kwargs(self):
        """The options of the chosen cell kind (its descriptor lists them)."""
        return {name: getattr(self, name) for name in CELLS[self.cell].options}

    def _check_architecture(self):
        """What the declarative constraints cannot say."""
        sizes = self.dense_layers
        if not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0
                   for s in sizes):
            raise ValueError(f"dense_layers must be a tuple of positive integers, got "
                             f"{sizes!r}")
        if self.dropout > 0 and self.num_layers == 1:
            warn_user(f"dropout={self.dropout} acts between stacked recurrent layers and "
                      "does nothing with num_layers=1; use recurrent_dropout for a single "
                      "layer", UserWarning)

    # ----------------------------------------------------------- prediction
    def _raw(self, X):
        """Network outputs for X, and the lengths and the input form."""
        check_is_fitted(self, "network_")
        # an empty document runs as one unknown token; its length stays 0 so
        # that per-step results for it are empty
        Xp, lengths, mode = self._check_X(X, reset=False, keep_empty=self.return_sequences)
        Z = self.network_.decision_function(Xp, np.maximum(lengths, 1))
        return np.asarray(Z, dtype=np.float64), lengths, mode

    def _unpad(self, A, lengths, mode):
        """Per-step results: a list per sequence for ragged input, else the array
        (cut to the sequences' one length)."""
        if mode == SEQUENCES and (lengths != lengths[0]).any():
            return [A[i, :L] for i, L in enumerate(lengths)]
        return A if lengths[0] == A.shape[1] else A[:, :lengths[0]]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _as_targets(y):
    """y as an array with a sample axis, or a clear error."""
    if isinstance(y, (dict, set, str, bytes)):
        raise ValueError(f"y must be array-like with one entry per sample, got "
                         f"{type(y).__name__}")
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError("y must be array-like with one entry per sample, got a scalar")
    return y


class _TextProgress:
    """A minimal progress bar on stderr for verbose=2 when tqdm is missing."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        n = len(self.items)
        for i, item in enumerate(self.items, 1):
            yield item
            print(f"\r  batch {i}/{n}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)


class RNNClassifier(ClassifierMixin, _BaseRNN):
    """Recurrent-network classifier of sequences (or of each step of them).

    A recurrent stack (RNN, GRU or LSTM; stacked, bidirectional) reads each
    sequence; a dense layer with a softmax reads its final state (each
    sequence's own last step) or, with ``return_sequences=True``, every step.
    Trained with softmax cross-entropy by Adam or SGD on mini-batches.

    Parameters
    ----------
    cell : {'rnn', 'gru', 'lstm', 'mgu'}, default='lstm'
        The recurrent cell; ``seqcore.nn.CELLS`` describes each kind.
    hidden_size : int, default=32
    num_layers : int, default=1
    nonlinearity : {'tanh', 'relu'}, default='tanh'
        Of the 'rnn' cell.
    reset_after : bool, default=True
        GRU variant (PyTorch's when True).
    peephole : bool, default=False
        LSTM peephole connections.
    proj_size : int, default=0
        LSTM projections (PyTorch's ``proj_size``): the state and outputs
        have this size, ``h = W_hr (o * tanh(c))``; 0 for none.  Must be
        smaller than ``hidden_size``.
    bidirectional : bool, default=False
    merge_mode : {'concat', 'sum', 'mul', 'ave'}, default='concat'
        How a bidirectional layer combines its two directions.
    dropout : float, default=0.0
        Between stacked layers, in training only (warns with num_layers=1,
        where it does nothing).
    recurrent_dropout : float, default=0.0
        Variational dropout on the state entering the recurrent products:
        one mask per sequence and layer direction, the same at every step
        (Keras' semantics), in training only.
    return_sequences : bool, default=False
        One label per step (tagging) instead of one per sequence.
    dense_layers : tuple of int, default=()
        Sizes of dense layers between the recurrent stack and the output.
    dense_activation : {'relu', 'tanh'}, default='relu'
    embedding_dim : int or None, default=None
        Token input: X is a list of 1-D integer arrays, or a 2-D integer
        array (``seqcore.preprocessing.pad_tokens``), of ids, 0 padding and
        1 unknown as ``seqcore.text.SequenceTokenizer`` makes them; an
        embedding of this size feeds the recurrent stack.  One rule for
        both forms: a sequence ends at its last nonzero id (trailing zeros
        are padding, listed or not), and a 0 before that is refused.  An
        empty sequence (or all zeros) is refused at fit; at predict it
        reads as one unknown token, and with ``return_sequences`` gets an
        empty array of per-step results.
    vocab_size : int or None, default=None
        Rows of the embedding; by default one more than the largest id seen
        in fit.  Larger ids are refused at predict.
    optimizer : {'adam', 'sgd'}, default='adam'
    learning_rate : float, default=0.01
    momentum : float, default=0.9
        SGD's Nesterov momentum (plain SGD when 0).
    batch_size : int, default=32
    max_iter : int, default=200
        Epochs.
    clip_norm : float or None, default=5.0
        Clip the global gradient norm of each step to this.
    clip_value : float or None, default=None
        Clip each gradient entry to [-clip_value, clip_value].
    bptt_steps : int or None, default=None
        Truncated backpropagation through time in chunks of this many steps.
    alpha : float, default=0.0
        L2 penalty on all parameters, scaled as in ``MLPClassifier``:
        ``0.5 * alpha * ||w||^2 / batch_size`` added to each batch's mean loss.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified), stop when
        its accuracy has not improved by ``tol`` for ``n_iter_no_change``
        epochs, and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
        Without early stopping, training stops when the training loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs.
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, shuffling, dropout and the validation split: a
        fixed value gives bit-identical results run to run.
    dtype : {'float32', 'float64'}, default='float32'
    verbose : int, default=0
        1: a line per epoch; 2: also a progress bar over batches (tqdm when
        installed).
    warm_start : bool, default=False
    class_weight : dict, 'balanced' or None, default=None

    Attributes
    ----------
    classes_ : ndarray
    n_features_in_ : int
        Features per step (columns, for 2-D X).
    loss_curve_ : list of float
        Training loss of each epoch.
    validation_scores_ : list of float
        Validation accuracy of each epoch (early stopping).
    n_iter_ : int
        Epochs run.
    network_ : seqcore.nn.SequenceNetwork
        The trained network; ``network_.params`` in PyTorch's names.

    Notes
    -----
    BLAS threads: seqcore's matrix products run on the BLAS that SciPy
    loads; the small products inside the time loop run on one thread, the
    large ones before and after it on the BLAS's threads.  When running many
    fits in parallel, give each worker one BLAS thread: joblib's loky backend
    does this itself; Dask workers with ``threads_per_worker=1`` too, or call
    ``seqcore.parallel.limit_worker_blas_threads(client)``; otherwise use
    ``with seqcore.parallel.blas_threads(1):`` around the search.
    """

    _loss = "softmax"
    _parameter_constraints = {
        **_BaseRNN._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, *, cell="lstm", hidden_size=32, num_layers=1,
                 nonlinearity="tanh", reset_after=True, peephole=False, proj_size=0,
                 bidirectional=False, merge_mode="concat", dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, dense_layers=(),
                 dense_activation="relu", embedding_dim=None, vocab_size=None,
                 optimizer="adam", learning_rate=0.01, momentum=0.9,
                 batch_size=32, max_iter=200, clip_norm=5.0, clip_value=None,
                 bptt_steps=None, alpha=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 shuffle=True, random_state=None, dtype="float32", verbose=0,
                 warm_start=False, class_weight=None):
        super().__init__(
            cell=cell, hidden_size=hidden_size, num_layers=num_layers,
            nonlinearity=nonlinearity, reset_after=reset_after, peephole=peephole,
            proj_size=proj_size, bidirectional=bidirectional, merge_mode=merge_mode,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout, return_sequences=return_sequences,
            dense_layers=dense_layers, dense_activation=dense_activation,
            embedding_dim=embedding_dim, vocab_size=vocab_size, optimizer=optimizer,
            learning_rate=learning_rate, momentum=momentum, batch_size=batch_size,
            max_iter=max_iter, clip_norm=clip_norm, clip_value=clip_value,
            bptt_steps=bptt_steps, alpha=alpha, early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, tol=tol, shuffle=shuffle,
            random_state=random_state, dtype=dtype, verbose=verbose,
            warm_start=warm_start)
        self.class_weight = class_weight

    def partial_fit(self, X, y, classes=None, sample_weight=None, validation_data=None):
        """One epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X, y, sample_weight : as in ``fit``
        classes : array-like, required on the first call
            Every label that may ever appear.
        validation_data : tuple (X_val, y_val), optional
            With ``early_stopping=True``: score after this call, keep the best
            weights, and restore them once ``n_iter_no_change`` calls have not
            improved the score by ``tol``.
        """
        if not hasattr(self, "network_"):
            self._validate_params()
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes,
                         validation_data=validation_data if self.early_stopping else None)

    def _encode_y(self, y, lengths, w, first, classes=None):
        y = _as_targets(y)
        n = len(lengths)
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} samples, X has {n}")
        if self.return_sequences:
            valid = np.arange(y.shape[1]) < lengths[:, None]
            if y.ndim != 2:
                raise ValueError("with return_sequences=True the classifier takes one label "
                                 f"per step, y of shape (n_samples, n_timesteps); got {y.shape}")
            labels = y[valid]
        else:
            if y.ndim == 2 and y.shape[1] == 1:
                warn_user("A column-vector y was passed when a 1d array was expected. "
                              "Please change the shape of y to (n_samples,), for example "
                              "using ravel().", DataConversionWarning)
                y = y.ravel()
            if y.ndim != 1:
                raise ValueError(f"y must be 1-D (one label per sequence), got shape {y.shape}")
            labels = y
        kind = type_of_target(labels, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"Unknown label type: {kind!r}. RNNClassifier takes binary or "
                             "multiclass labels")
        if first:
            if classes is not None:
                classes = np.asarray(classes)
                if classes.ndim != 1 or classes.size == 0:
                    raise ValueError("classes must be a non-empty 1-D array of labels")
                if classes.dtype.kind == "f" and not np.isfinite(classes).all():
                    raise ValueError("classes contains NaN or infinity")
                try:
                    unknown = np.setdiff1d(np.unique(labels), classes)
                except TypeError as exc:
                    raise ValueError(f"the labels of y and classes cannot be compared: "
                                     f"{exc}") from exc
                if unknown.size:
                    raise ValueError(f"y contains labels not in classes: {unknown.tolist()}")
            self.classes_ = np.unique(classes if classes is not None else labels)
            if len(self.classes_) < 2:
                raise ValueError("RNNClassifier needs samples of at least 2 classes in the "
                                 f"data, but the data contains only one class: {self.classes_[0]!r}")
            self.n_outputs_ = len(self.classes_)
        else:
            unseen = np.setdiff1d(np.unique(labels), self.classes_)
            if unseen.size:
                raise ValueError(f"y contains labels not seen before: {unseen.tolist()} "
                                 f"(known classes: {self.classes_.tolist()})")
        codes = np.zeros(y.shape, dtype=np.intp)
        if self.return_sequences:
            codes[valid] = np.searchsorted(self.classes_, labels)
        else:
            codes = np.searchsorted(self.classes_, labels).astype(np.intp)
        if self.class_weight is not None:
            cw = compute_sample_weight(self.class_weight, labels)
            if self.return_sequences:
                step_w = np.zeros(y.shape)
                step_w[valid] = cw
                w = w[:, None] * step_w
            else:
                w = w * cw
        return codes, w

    def _stratify(self, Y, lengths):
        if self.return_sequences:
            return None
        counts = np.bincount(Y, minlength=self.n_outputs_)
        return Y if counts[counts > 0].min() >= 2 else None

    def _decode_for_score(self, Y, lengths):
        return self.classes_[Y]

    def _validation_score(self, X, lengths, y):
        pred = self._predict_padded(X, lengths)
        if self.return_sequences:
            valid = np.arange(pred.shape[1]) < lengths[:, None]
            return accuracy_score(np.asarray(y)[valid], pred[valid])
        return accuracy_score(y, pred)

    def _predict_padded(self, Xp, lengths):
        Z = self.network_.decision_function(Xp, lengths)
        return self.classes_[np.argmax(Z, axis=-1)]

    @_consistent
    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes); per step with ``return_sequences``."""
        Z, lengths, mode = self._raw(X)
        Z = Z - Z.max(axis=-1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=-1, keepdims=True)
        return self._unpad(P, lengths, mode) if self.return_sequences else P

    @_consistent
    def predict_log_proba(self, X):
        P = self.predict_proba(X)
        return [np.log(p) for p in P] if isinstance(P, list) else np.log(P)

    @_consistent
    def predict(self, X):
        """Most probable class per sequence (or per step with ``return_sequences``)."""
        Z, lengths, mode = self._raw(X)
        labels = self.classes_[np.argmax(Z, axis=-1)]
        return self._unpad(labels, lengths, mode) if self.return_sequences else labels

    @_consistent
    def score(self, X, y, sample_weight=None):
        """Mean accuracy (over the valid steps of all sequences with ``return_sequences``)."""
        if not self.return_sequences:
            return super().score(X, y, sample_weight=sample_weight)
        pred = self.predict(X)
        pred = np.concatenate([np.ravel(p) for p in pred])
        true = np.concatenate([np.ravel(t) for t in y])
        return accuracy_score(true, pred)


class RNNRegressor(RegressorMixin, _BaseRNN):
    """Recurrent-network regressor of sequences (or of each step of them).

    Same network and training as ``RNNClassifier`` with a linear output and
    the squared error.  Targets are standardised inside (mean 0, variance 1
    per output, from the first fit) and predictions mapped back, so raw units
    train well.

    Parameters
    ----------
    Same as ``RNNClassifier`` except ``class_weight``.  With
    ``early_stopping`` the validation score is R^2.

    Attributes
    ----------
    n_features_in_, loss_curve_, validation_scores_, n_iter_, network_
        As in ``RNNClassifier``.
    n_outputs_ : int
    """

    _loss = "squared_error"

    def partial_fit(self, X, y, sample_weight=None, validation_data=None):
        """One epoch over (X, y), continuing from the current weights; see ``RNNClassifier``."""
        if not hasattr(self, "network_"):
            self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True,
                         validation_data=validation_data if self.early_stopping else None)

    def _encode_y(self, y, lengths, w, first, classes=None):
        y = _as_targets(y)
        check_real(y, "y")
        n = len(lengths)
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"y must be numeric, got dtype {y.dtype}") from exc
        y = y.astype(np.float64)
        if y.shape[0] != n:
            raise ValueError(f"y has {y.shape[0]} samples, X has {n}")
        if self.return_sequences:
            valid = np.arange(y.shape[1]) < lengths[:, None]
            self._y_ndim = y.ndim
            Y = y if y.ndim == 3 else y[:, :, None]
            values = Y[valid]
        else:
            if y.ndim not in (1, 2):
                raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
            self._y_ndim = y.ndim if first else self._y_ndim
            Y = y[:, None] if y.ndim == 1 else y
            values = Y
        if not np.isfinite(values).all():
            raise ValueError("y contains NaN or infinity")
        if first:
            # weighted, so that samples of weight 0 have no influence at all
            vw = (np.broadcast_to(w[:, None], valid.shape)[valid] if self.return_sequences
                  else w)
            self.n_outputs_ = Y.shape[-1]
            self._y_mean, self._y_scale = mean_and_scale(values, vw)
        elif Y.shape[-1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[-1]} outputs, the model {self.n_outputs_}")
        Y = (Y - self._y_mean) / self._y_scale
        if self.return_sequences:
            Y = np.where(valid[:, :, None], Y, 0.0)
        return Y, w

    def _validation_score(self, X, lengths, y):
        pred = self._predict_padded(X, lengths)
        if not np.isfinite(pred).all():
            return -np.inf   # weights that predict NaN or inf: the worst score
        y = np.asarray(y, dtype=np.float64)
        if self.return_sequences:
            valid = np.arange(pred.shape[1]) < lengths[:, None]
            y = y[:, :, None] if y.ndim == 2 else y
            return r2_score(y[valid], pred[valid])
        return r2_score(y.reshape(pred.shape), pred)

    def _decode_for_score(self, Y, lengths):
        return Y * self._y_scale + self._y_mean

    def _predict_padded(self, Xp, lengths):
        Z = self.network_.decision_function(Xp, lengths)
        return Z * self._y_scale + self._y_mean

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_consistent
    def predict(self, X):
        """Predicted targets: (n_samples,) or (n_samples, n_outputs); per step with
        ``return_sequences`` ((n_samples, n_timesteps[, n_outputs]) or a list)."""
        Z, lengths, mode = self._raw(X)
        Y = Z * self._y_scale + self._y_mean
        if self.return_sequences:
            if self._y_ndim == 2:
                Y = Y[..., 0]
            return self._unpad(Y, lengths, mode)
        return Y[:, 0] if self._y_ndim == 1 else Y

    @_consistent
    def score(self, X, y, sample_weight=None):
        """R^2 (over the valid steps of all sequences with ``return_sequences``)."""
        if not self.return_sequences:
            return super().score(X, y, sample_weight=sample_weight)
        pred = self.predict(X)
        pred = np.concatenate([np.ravel(p) for p in pred])
        true = np.concatenate([np.ravel(t) for t in y])
        return r2_score(true, pred)


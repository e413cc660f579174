"""scikit-learn estimators: ``RNNClassifier`` and ``RNNRegressor``.

Design (after scikit-learn's ``neural_network``): one base class holds the
training loop; the classifier and the regressor add only the loss, the
target encoding and the predict methods.  ``__init__`` only stores
arguments; hyper-parameters are checked declaratively at ``fit``.  ``fit``
and ``partial_fit`` both go through ``_fit``.  The model itself is a
``seqcore.nn.SequenceNetwork`` (recurrent stack, dense head, loss) trained
with a compiled optimizer on its flat parameter buffer.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, d2_pinball_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, check_is_fitted

from . import _distributed, _engine
from . import callbacks as _callbacks
from ._base import (DTYPES, SeqcoreEstimator, consistent, fit_then_publish,
                    training, training_constraints)
from ._data import SEQUENCES, check_sequences, check_tokens
from ._sklearn_compat import Interval, StrOptions
from ._validation import all_finite_fast, check_real, mean_and_scale, warn_user
from .nn import SequenceNetwork
from .nn._cells import CELLS, all_options
from .nn._loss import (LOSSES, REGRESSION_LOSSES, Distribution, Huber, NegativeBinomial, Pinball,
                       Poisson, get_loss)
from .nn._optim import make_optimizer, state_copies
from .nn._quantized import decision_function as _decision_function

# Copies of the parameters that training keeps besides the optimizer's own
# state: parameters, gradients, the weights before each step, the best ones
# (early stopping) and those of the lowest epoch loss (an explosion).
_PARAM_COPIES = 5


def _cell_constraints():
    """The constraints of ``cell`` and of every cell option, from the descriptors."""
    out = {"cell": [StrOptions(set(CELLS))]}
    for name, (_, allowed) in all_options().items():
        out[name] = (["boolean"] if allowed is bool
                     else [Interval(Integral, 0, None, closed="left")] if allowed is int
                     else [StrOptions(set(allowed))])
    return out


class _BaseRNN(SeqcoreEstimator):
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
        **training_constraints(
            "optimizer", "learning_rate", "learning_rate_schedule", "momentum", "batch_size",
            "max_iter", "clip_norm", "clip_value", "callbacks", "early_stopping",
            "validation_fraction", "n_iter_no_change", "tol", "shuffle", "random_state",
            "dtype", "verbose", "warm_start"),
        "bptt_steps": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "gradient_shards": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "inference_precision": [StrOptions({"bfloat16", "int8"}), None],
    }

    def __init__(self, *, cell="lstm", hidden_size=32, num_layers=1,
                 nonlinearity="tanh", reset_after=True, peephole=False, proj_size=0,
                 bidirectional=False, merge_mode="concat", dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, dense_layers=(),
                 dense_activation="relu", embedding_dim=None, vocab_size=None,
                 optimizer="adam", learning_rate=0.01, learning_rate_schedule=None,
                 momentum=0.9, batch_size=32, max_iter=200, clip_norm=5.0,
                 clip_value=None, bptt_steps=None, alpha=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 shuffle=True, random_state=None, dtype="float32", verbose=0,
                 warm_start=False, callbacks=None, gradient_shards=None,
                 inference_precision=None):
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
        self.learning_rate_schedule = learning_rate_schedule
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
        self.callbacks = callbacks
        self.gradient_shards = gradient_shards
        self.inference_precision = inference_precision

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
            return check_sequences(X, estimator=self, dtype=DTYPES[self.dtype], reset=reset)
        ids, lengths, mode = check_tokens(X, estimator=self, reset=reset,
                                          keep_empty=keep_empty)
        self._check_vocab(int(ids.max()), reset)
        return ids, lengths, mode

    def _check_vocab(self, top, reset):
        """Token ids up to ``top`` against ``vocab_size``; sets ``vocab_size_`` at a reset."""
        if reset:
            if self.vocab_size is not None and top >= self.vocab_size:
                raise ValueError(f"X holds token id {top}, outside vocab_size={self.vocab_size}")
            self.vocab_size_ = self.vocab_size if self.vocab_size is not None else max(top + 1, 2)
        elif top >= self.vocab_size_:
            raise ValueError(f"X holds token id {top}, outside the {self.vocab_size_} ids the "
                             "model was fit with; map unseen tokens to the unknown id 1 "
                             "(seqcore.text.SequenceTokenizer does)")

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
            A Dask array of these shapes chunked along samples, or a Dask
            bag of sequences, trains data-parallel on the cluster of the
            running ``distributed`` client (the partitions stay on the
            workers; see the "Scaling out" guide); without a client it is
            computed into memory.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs); with
            ``return_sequences=True`` one target per step: (n_samples,
            n_timesteps[, n_outputs]) or a list matching each sequence's length
            (a Dask array or bag is computed into memory)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None, validation_data=None):
        with training(self):
            if incremental or (self.warm_start and hasattr(self, "network_")):
                # continues the model in place (its weights change under the
                # network's param_lock, between predictions)
                return self._fit_unguarded(X, y, sample_weight, incremental, classes,
                                           validation_data)
            return fit_then_publish(self, lambda work: work._fit_unguarded(
                X, y, sample_weight, incremental, classes, validation_data))

    def _fit_unguarded(self, X, y, sample_weight, incremental, classes, validation_data):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             "target y is None")
        fitted = hasattr(self, "network_")
        first = not fitted or not (self.warm_start or incremental)
        if first:
            self._check_architecture()
        else:
            self._check_same_model()
        on_cluster = None
        if _distributed.is_dask_collection(X):
            # data-parallel on the cluster; without a distributed client, in memory
            on_cluster = _distributed.check_sequences_on_cluster(self, X, reset=first)
            if on_cluster is None:
                X = _distributed.local(X)
        y, sample_weight = _distributed.local(y), _distributed.local(sample_weight)
        if on_cluster is None:
            Xp, lengths, mode = self._check_X(X, reset=first)
            shard_of = _distributed.shard_of_rows(Xp.shape[0], self.gradient_shards)
        else:
            Xp, lengths, mode = on_cluster
            shard_of = Xp.partition_of
        try:
            return self._fit_checked(Xp, lengths, mode, shard_of, y, sample_weight,
                                     incremental, first, classes, validation_data)
        finally:
            if on_cluster is not None:
                Xp.close()

    def _fit_checked(self, Xp, lengths, mode, shard_of, y, sample_weight, incremental, first,
                     classes, validation_data):
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
                get_loss(self._loss).n_outputs(self.n_outputs_), loss=self._loss,
                return_sequences=self.return_sequences,
                vocab_size=self.vocab_size_ if tokens else None,
                dense_layers=tuple(self.dense_layers), dense_activation=self.dense_activation,
                num_layers=self.num_layers, bidirectional=self.bidirectional,
                merge_mode=self.merge_mode, dropout=self.dropout,
                recurrent_dropout=self.recurrent_dropout, dtype=DTYPES[self.dtype],
                random_state=seed, training_copies=_PARAM_COPIES + state_copies(self.optimizer),
                **self._cell_kwargs())
            net = self.network_
            # L2 as in MLPClassifier: 0.5 * alpha * ||w||^2 / batch_size on each
            # batch's mean loss, i.e. a weight decay of alpha / batch_size
            decay = self.alpha / min(self.batch_size, Xp.shape[0])
            self._optimizer = make_optimizer(self.optimizer, net.flat_params, net.flat_grads,
                                             lr=self.learning_rate, momentum=self.momentum,
                                             weight_decay=decay)
            _engine.start_history(self)
            self.callbacks_ = _callbacks.prepare(self.callbacks)
            self._signature = self._model_signature()

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
            Xv = Xp[test]   # on a cluster: a view, the rows stay on the workers
            val = (Xv, lengths[test], self._decode_for_score(Y[test], lengths[test]))
            Xp, lengths, Y, w = Xp[train], lengths[train], Y[train], w[train]
            shard_of = None if shard_of is None else shard_of[train]

        # the training set is checked and laid out once, here: per batch
        # nothing is checked again (SequenceNetwork._train_batch trusts it)
        net, N, T = self.network_, Xp.shape[0], Xp.shape[1]
        Y = net._check_targets(Y, N, T, lengths)
        w = net._check_weights(w, N, T, lengths)
        epochs = 1 if incremental else self.max_iter
        try:
            self._train(Xp, lengths, Y, w, epochs, val, incremental, shard_of)
        finally:
            if not incremental:   # partial_fit keeps them for its next call
                self.network_.rnn.release_buffers()
        return self

    def _train(self, Xp, lengths, Y, w, epochs, val, incremental, shard_of=None):
        if not hasattr(self, "callbacks_"):   # partial_fit and warm_start continue them
            self.callbacks_ = _callbacks.prepare(self.callbacks)
        task = _SequenceTask(self, Xp, lengths, Y, w, val, shard_of)
        _engine.train(self, task, self._optimizer,
                      epochs=epochs, incremental=incremental, callbacks=self.callbacks_)

    def _stratify(self, Y, lengths):
        return None

    def _decode_for_score(self, Y, lengths):
        return Y

    def _cell_kwargs(self):
        """The options of the chosen cell kind (its descriptor lists them)."""
        return {name: getattr(self, name) for name in CELLS[self.cell].options}

    # the parameters that define the network: a warm start or partial_fit
    # continues that network, so they may not change in between
    _MODEL_PARAMS = ("cell", "hidden_size", "num_layers", "nonlinearity", "reset_after",
                     "peephole", "proj_size", "bidirectional", "merge_mode",
                     "return_sequences", "dense_layers", "dense_activation", "embedding_dim",
                     "vocab_size", "dtype", "loss", "quantiles")

    def _model_signature(self):
        params = self.get_params(deep=False)
        return {k: repr(params[k]) for k in self._MODEL_PARAMS if k in params}

    def _check_same_model(self):
        """A warm start (or partial_fit) continues the fitted network: refuse
        parameters that would describe another one."""
        before = getattr(self, "_signature", None)
        if before is None:
            return
        changed = sorted(k for k, v in self._model_signature().items() if before.get(k) != v)
        if changed:
            raise ValueError(f"{', '.join(changed)} changed since the network was fit; "
                             "warm_start and partial_fit continue that network: set "
                             "warm_start=False (or clone the estimator) to fit a new one")

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
        if not hasattr(self, "network_"):
            check_is_fitted(self, "network_")
        precision = getattr(self, "inference_precision", None)
        Xp = None if precision is not None else self._plain_input(X)
        if Xp is not None:   # every sequence runs all its steps, in the model's dtype
            Z = self.network_._decide(Xp, None)
            return Z, np.full(Xp.shape[0], Xp.shape[1], dtype=np.int64), SEQUENCES
        # an empty document runs as one unknown token; its length stays 0 so
        # that per-step results for it are empty
        Xp, lengths, mode = self._check_X(X, reset=False, keep_empty=self.return_sequences)
        Z = _decision_function(self.network_, Xp, np.maximum(lengths, 1), precision)
        return np.asarray(Z, dtype=np.float64), lengths, mode

    def _plain_input(self, X):
        """X as the network reads it, when X is the common kind of input
        whose structural checks have one known outcome: a 3-D float32 or
        float64 ndarray with the fitted number of features, for a model fit
        on 3-D sequences without an embedding.  Only its values are left to
        check: when they are all finite (no NaN padding, no infinity), X is
        converted to the network's dtype (no copy when it has it) and
        returned.  None for any other input, which takes the full checks of
        ``_check_X`` and gets their results and errors."""
        if (type(X) is not np.ndarray or X.ndim != 3 or self.embedding_dim is not None
                or X.dtype.type not in (np.float32, np.float64)
                or getattr(self, "_input_mode", None) != SEQUENCES
                or not X.shape[0] or not X.shape[1] or X.shape[2] != self.n_features_in_):
            return None
        Xp = np.ascontiguousarray(X, dtype=self.network_.dtype)
        return Xp if all_finite_fast(Xp) else None

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


def _d2_poisson(true, pred, sample_weight):
    """D^2 of the Poisson deviance, the fraction of the null deviance the
    model explains; with no null deviance (constant y), 1.0 for a perfect
    model and 0.0 otherwise, as ``r2_score`` does."""
    w = np.ones(true.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    mean = np.average(true, axis=0, weights=w)

    def deviance(mu):
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(true > 0, true * np.log(true / mu), 0.0)
        return float(np.average((2 * (term - true + mu)).sum(axis=1), weights=w))

    null, model = deviance(np.broadcast_to(mean, true.shape)), deviance(pred)
    if not null > 0:
        return 1.0 if model == 0 else 0.0
    return 1.0 - model / null


def _d2_pinball(true, pred, quantiles):
    """The mean over the quantiles of scikit-learn's ``d2_pinball_score``
    (unweighted, outputs averaged), computed at once: true (N, K), pred
    (N, K, Q).  The baseline is each column's empirical quantile (the
    average of the two inverted-CDF ones at a tie, as scikit-learn's), and a
    zero baseline loss scores 1 for a perfect prediction, else 0."""
    base = np.percentile(true, quantiles * 100, axis=0, method="averaged_inverted_cdf")

    def loss(P):                                     # (Q, K): mean over the rows
        R = true[None] - P
        q = quantiles[:, None, None]
        return np.maximum(q * R, (q - 1) * R).mean(axis=1)

    num = loss(np.moveaxis(pred, -1, 0))
    den = loss(base[:, None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        d2 = np.where(den > 0, 1 - num / np.where(den > 0, den, 1), np.where(num == 0, 1.0, 0.0))
    return float(d2.mean())


def _outputs(network, Xp, lengths):
    """``network.decision_function``; on a cluster's rows (a validation set
    held by the workers) computed where they are."""
    if isinstance(Xp, _distributed.ShardedSequences):
        return Xp.decision_function(network)
    return network.decision_function(Xp, lengths)


def _check_n_samples(n):
    if not isinstance(n, Integral) or isinstance(n, bool):
        raise TypeError(f"n_samples must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n_samples must be >= 1, got {n}")
    return int(n)


def _generator(random_state):
    """A NumPy Generator from an int, None, a Generator or a RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    return np.random.default_rng(random_state)


def _check_counts(values):
    """The negative binomial's targets: counts (integers >= 0)."""
    if (values < 0).any():
        raise ValueError("loss='negative_binomial' models counts: y must be integers >= 0, "
                         f"got negative values (the smallest {values.min():g})")
    if (values != np.round(values)).any():
        bad = values[values != np.round(values)]
        raise ValueError("loss='negative_binomial' models counts: y must be integers >= 0, "
                         f"got non-integer values such as {bad[0]:g}")


def _as_targets(y):
    """y as an array with a sample axis, or a clear error."""
    if isinstance(y, (dict, set, str, bytes)):
        raise ValueError(f"y must be array-like with one entry per sample, got "
                         f"{type(y).__name__}")
    if sp.issparse(y):
        # a sparse label-indicator matrix, as MultiLabelBinarizer(sparse_output=True) gives
        y = y.toarray()
    y = np.asarray(y)
    if y.ndim == 0:
        raise ValueError("y must be array-like with one entry per sample, got a scalar")
    return y


class _SequenceTask(_engine.Task):
    """The training set of a classifier or regressor, as the engine reads it."""

    def __init__(self, est, Xp, lengths, Y, w, val, shard_of=None):
        self.est, self.network = est, est.network_
        self.Xp, self.lengths, self.Y, self.w, self.val = Xp, lengths, Y, w, val
        self.has_validation = val is not None
        self.batch = min(est.batch_size, Xp.shape[0])
        T = Xp.shape[1]
        self.k = T if est.bptt_steps is None else min(est.bptt_steps, T)
        # gradient shards (seqcore._distributed): the shard of each training
        # row, the cluster's partitions when the data is on one, and the
        # stream of the dropout seeds of the steps
        self.shard_of, self.cluster = shard_of, None
        if shard_of is not None:
            self.seeds = np.random.default_rng(est._rng.randint(np.iinfo(np.int32).max)) \
                if (est.dropout > 0 or est.recurrent_dropout > 0) else None
            if not isinstance(Xp, np.ndarray):
                self.cluster = _distributed.ClusterShards(Xp, self.network, Y, w, self.k)

    def batches(self):
        n = self.Xp.shape[0]
        order = self.est._rng.permutation(n) if self.est.shuffle else np.arange(n)
        return [order[start:start + self.batch] for start in range(0, n, self.batch)]

    def loss_and_gradient(self, idx):
        if self.shard_of is not None:
            return self._sharded(idx)
        bw = self.w[idx].sum()
        if bw == 0:
            return None
        return self.network._train_batch(self.Xp, idx, self.lengths, self.Y, self.w,
                                         self.k), bw

    def _sharded(self, idx):
        """The batch's gradient as the weighted sum of its shards' (in shard
        order), on the cluster or here: the same numbers either way."""
        groups = _distributed.group_by_shard(idx, self.shard_of)
        seed = _distributed.dropout_seed(self.network, self.seeds)
        if self.cluster is not None:
            parts = self.cluster.parts(groups, seed)
        else:
            parts = [_distributed.shard_gradient(self.network, self.Xp, rows, self.lengths,
                                                 self.Y, self.w, self.k, seed, shard)
                     for shard, rows in groups]
        return _distributed.combine(parts, self.network.flat_grads)

    def validation_score(self):
        return self.est._validation_score(*self.val)

    def epoch_loss(self, mean):
        if self.est.alpha:
            mean += 0.5 * self.est._optimizer.weight_decay * float(
                np.dot(self.network.flat_params, self.network.flat_params))
        return mean

    def outputs_finite(self):
        if self.cluster is not None:
            return self.cluster.finite(np.arange(self.batch))
        probe = slice(0, self.batch)
        out = self.network.decision_function(self.Xp[probe], self.lengths[probe])
        return bool(np.isfinite(out).all())


class RNNClassifier(ClassifierMixin, _BaseRNN):
    """Recurrent-network classifier of sequences (or of each step of them).

    A recurrent stack (RNN, GRU or LSTM; stacked, bidirectional) reads each
    sequence; a dense layer with a softmax reads its final state (each
    sequence's own last step) or, with ``return_sequences=True``, every step.
    Trained with softmax cross-entropy on mini-batches through seqcore's
    training engine (optimizers 'adam', 'sgd', 'adamw', 'rmsprop'; schedules;
    callbacks).  A 2-D 0/1 indicator y is multilabel: one sigmoid per label,
    ``predict`` returns the indicator and ``predict_proba`` each label's
    probability.

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
    gradient_shards : int, sequence of int or None, default=None
        Compute each batch's gradient as the weighted sum, in order, of the
        gradients of its rows in each of these blocks of consecutive
        samples (an int: that many blocks of near-equal sizes; a sequence:
        their sizes).  This is how a fit on a Dask cluster computes (its
        shards are the partitions of X): set it to ``X.chunks[0]`` to get
        the cluster's model bit for bit in one process.  It changes the
        rounding, not the mathematics; 1 is the same as None.  See the
        "Scaling out" guide.
    inference_precision : {'bfloat16', 'int8'} or None, default=None
        Precision of the recurrent layers' matrix products in ``predict``,
        ``predict_proba`` and ``score`` (never in training): None keeps the
        model's dtype; 'bfloat16' rounds weights and activations to
        bfloat16; 'int8' quantises the weights per row and the activations
        per step (dynamic quantisation).  Gate math, states and outputs stay
        in the model's dtype.  May be set on a fitted estimator
        (``set_params``); see ``seqcore.nn.QuantizedLayer``.

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

    _parameter_constraints = {
        **_BaseRNN._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(self, *, cell="lstm", hidden_size=32, num_layers=1,
                 nonlinearity="tanh", reset_after=True, peephole=False, proj_size=0,
                 bidirectional=False, merge_mode="concat", dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, dense_layers=(),
                 dense_activation="relu", embedding_dim=None, vocab_size=None,
                 optimizer="adam", learning_rate=0.01, learning_rate_schedule=None,
                 momentum=0.9, batch_size=32, max_iter=200, clip_norm=5.0,
                 clip_value=None, bptt_steps=None, alpha=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 shuffle=True, random_state=None, dtype="float32", verbose=0,
                 warm_start=False, callbacks=None, class_weight=None, gradient_shards=None,
                 inference_precision=None):
        super().__init__(
            cell=cell, hidden_size=hidden_size, num_layers=num_layers,
            nonlinearity=nonlinearity, reset_after=reset_after, peephole=peephole,
            proj_size=proj_size, bidirectional=bidirectional, merge_mode=merge_mode,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout, return_sequences=return_sequences,
            dense_layers=dense_layers, dense_activation=dense_activation,
            embedding_dim=embedding_dim, vocab_size=vocab_size, optimizer=optimizer,
            learning_rate=learning_rate, learning_rate_schedule=learning_rate_schedule,
            momentum=momentum, batch_size=batch_size,
            max_iter=max_iter, clip_norm=clip_norm, clip_value=clip_value,
            bptt_steps=bptt_steps, alpha=alpha, early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, tol=tol, shuffle=shuffle,
            random_state=random_state, dtype=dtype, verbose=verbose,
            warm_start=warm_start, callbacks=callbacks, gradient_shards=gradient_shards,
            inference_precision=inference_precision)
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
            if y.ndim == 2 and type_of_target(y, input_name="y") == "multilabel-indicator":
                return self._encode_multilabel(y, w, first)
            if y.ndim != 1:
                raise ValueError(f"y must be 1-D (one label per sequence), or a 2-D 0/1 "
                                 f"indicator of labels (multilabel), got shape {y.shape}")
            labels = y
        if not first and getattr(self, "_multilabel", False):
            raise ValueError("this RNNClassifier was fit on multilabel (2-D indicator) y; "
                             f"got y of shape {y.shape}")
        if first:
            self._multilabel = False
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

    def _encode_multilabel(self, y, w, first):
        """A 2-D 0/1 indicator y: one sigmoid per label (multilabel)."""
        if self.class_weight is not None:
            raise ValueError("class_weight is not supported with multilabel y")
        if not np.isin(y, (0, 1)).all():
            raise ValueError("a 2-D y is multilabel: a 0/1 indicator of each label; got "
                             f"values {np.unique(y)[:6].tolist()}")
        if first:
            self._multilabel = True
            self.classes_ = np.arange(y.shape[1])
            self.n_outputs_ = y.shape[1]
        elif not self._multilabel or y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[1]} label columns; the model was fit on "
                             + (f"{self.n_outputs_}" if self._multilabel else "single labels"))
        return y.astype(np.float64), w

    @property
    def _loss(self):
        return "sigmoid" if getattr(self, "_multilabel", False) else "softmax"

    def _stratify(self, Y, lengths):
        if self.return_sequences or self._multilabel:
            return None
        counts = np.bincount(Y, minlength=self.n_outputs_)
        return Y if counts[counts > 0].min() >= 2 else None

    def _decode_for_score(self, Y, lengths):
        return Y.astype(int) if self._multilabel else self.classes_[Y]

    def _validation_score(self, X, lengths, y):
        pred = self._predict_padded(X, lengths)
        if self.return_sequences:
            valid = np.arange(pred.shape[1]) < lengths[:, None]
            return accuracy_score(np.asarray(y)[valid], pred[valid])
        return accuracy_score(y, pred)

    def _predict_padded(self, Xp, lengths):
        Z = _outputs(self.network_, Xp, lengths)
        if getattr(self, "_multilabel", False):
            return (Z > 0).astype(int)
        return self.classes_[np.argmax(Z, axis=-1)]

    @consistent
    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes); per step with ``return_sequences``."""
        Z, lengths, mode = self._raw(X)
        if getattr(self, "_multilabel", False):   # a sigmoid per label
            return 0.5 * (1.0 + np.tanh(0.5 * Z))
        # in place: Z is this call's own array
        Z -= np.maximum.reduce(Z, axis=-1, keepdims=True)
        P = np.exp(Z, out=Z)
        P /= np.add.reduce(P, axis=-1, keepdims=True)
        return self._unpad(P, lengths, mode) if self.return_sequences else P

    @consistent
    def predict_log_proba(self, X):
        P = self.predict_proba(X)
        return [np.log(p) for p in P] if isinstance(P, list) else np.log(P)

    @consistent
    def predict(self, X):
        """Most probable class per sequence (or per step with ``return_sequences``)."""
        Z, lengths, mode = self._raw(X)
        if getattr(self, "_multilabel", False):
            return (Z > 0).astype(int)   # the labels whose probability is above 0.5
        labels = self.classes_[Z.argmax(axis=-1)]
        return self._unpad(labels, lengths, mode) if self.return_sequences else labels

    @consistent
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
    a regression loss.  Targets are standardised inside (mean 0, variance 1
    per output, from the first fit; with the Poisson loss only divided by
    their mean) and predictions mapped back, so raw units train well.

    Parameters
    ----------
    loss : {'squared_error', 'absolute_error', 'huber', 'poisson', 'pinball', \
'gaussian', 'student_t', 'negative_binomial'} or a loss object of ``seqcore.nn``, \
default='squared_error'
        'huber' uses delta=1 standard deviation of the targets
        (``seqcore.nn.Huber(delta)`` for another); 'poisson' needs targets
        >= 0 and predicts ``exp`` of the output; 'pinball' trains one
        output per quantile of ``quantiles``.  The likelihood heads
        ('gaussian', 'student_t' with a learnt df > 2, 'negative_binomial'
        for counts: integers >= 0, refused otherwise) train by the negative
        log-likelihood; ``predict`` returns the distribution's mean, and
        ``predict_distribution``, ``predict_samples`` and
        ``predict_quantiles`` the rest (``seqcore.nn.Gaussian`` and the
        others say how each parameter is linked to the outputs).
    quantiles : sequence of floats in (0, 1), default=None
        With ``loss='pinball'``: the quantiles to predict (None: the median).
        With several, ``predict`` returns them on a last axis, in this order.
    Others
        As ``RNNClassifier`` (``gradient_shards`` too) except ``class_weight``.  With
        ``early_stopping`` the validation score is ``score``'s.

    Attributes
    ----------
    n_features_in_, loss_curve_, validation_scores_, n_iter_, network_
        As in ``RNNClassifier``.
    n_outputs_ : int
        The number of targets.
    """

    _parameter_constraints = {
        **_BaseRNN._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES)), Huber, Pinball, Distribution],
        "quantiles": ["array-like", None],
    }

    def __init__(self, *, loss="squared_error", quantiles=None, cell="lstm", hidden_size=32,
                 num_layers=1, nonlinearity="tanh", reset_after=True, peephole=False,
                 proj_size=0, bidirectional=False, merge_mode="concat", dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, dense_layers=(),
                 dense_activation="relu", embedding_dim=None, vocab_size=None,
                 optimizer="adam", learning_rate=0.01, learning_rate_schedule=None,
                 momentum=0.9, batch_size=32, max_iter=200, clip_norm=5.0,
                 clip_value=None, bptt_steps=None, alpha=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
                 shuffle=True, random_state=None, dtype="float32", verbose=0,
                 warm_start=False, callbacks=None, gradient_shards=None,
                 inference_precision=None):
        super().__init__(
            cell=cell, hidden_size=hidden_size, num_layers=num_layers,
            nonlinearity=nonlinearity, reset_after=reset_after, peephole=peephole,
            proj_size=proj_size, bidirectional=bidirectional, merge_mode=merge_mode,
            dropout=dropout, recurrent_dropout=recurrent_dropout,
            return_sequences=return_sequences, dense_layers=dense_layers,
            dense_activation=dense_activation, embedding_dim=embedding_dim,
            vocab_size=vocab_size, optimizer=optimizer, learning_rate=learning_rate,
            learning_rate_schedule=learning_rate_schedule, momentum=momentum,
            batch_size=batch_size, max_iter=max_iter, clip_norm=clip_norm,
            clip_value=clip_value, bptt_steps=bptt_steps, alpha=alpha,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, tol=tol, shuffle=shuffle,
            random_state=random_state, dtype=dtype, verbose=verbose,
            warm_start=warm_start, callbacks=callbacks, gradient_shards=gradient_shards,
            inference_precision=inference_precision)
        self.loss = loss
        self.quantiles = quantiles

    @property
    def _loss(self):
        """The head's loss object, from ``loss`` and ``quantiles``."""
        if not isinstance(self.loss, str):
            return self.loss
        if self.loss == "pinball":
            return Pinball(self.quantiles if self.quantiles is not None else (0.5,))
        if self.quantiles is not None:
            raise ValueError(f"quantiles are for loss='pinball', got loss={self.loss!r}")
        if self.loss == "negative_binomial":   # its mean in the counts' range (see _encode_y)
            return NegativeBinomial(getattr(self, "_count_scale", 1.0))
        return LOSSES[self.loss]()

    def _n_quantiles(self):
        loss = self.network_._loss_fn
        return len(loss.quantiles) if isinstance(loss, Pinball) else 0

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
        # no copy of float64 targets (a cluster fit's client holds them all):
        # y is only read until the standardised copy below
        y = y.astype(np.float64, copy=False)
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
        if get_loss(self._loss).name == "negative_binomial":
            _check_counts(values)
        if first:
            # weighted, so that samples of weight 0 have no influence at all
            vw = (np.broadcast_to(w[:, None], valid.shape)[valid] if self.return_sequences
                  else w)
            self.n_outputs_ = Y.shape[-1]
            if get_loss(self._loss).name == "negative_binomial":
                # counts, not standardised: the head's mean is their mean times
                # softplus of its output
                m = np.average(values, axis=0, weights=vw)
                self._count_scale = np.where(m > 0, m, 1.0)
                self._y_mean, self._y_scale = np.zeros_like(m), np.ones_like(m)
            elif get_loss(self._loss).name == "poisson":
                if (values < 0).any():
                    raise ValueError("loss='poisson' needs targets >= 0; y has negative values")
                # a log link: scale only (a shift would change the model)
                m = np.average(values, axis=0, weights=vw)
                self._y_mean, self._y_scale = np.zeros_like(m), np.where(m > 0, m, 1.0)
            else:
                self._y_mean, self._y_scale = mean_and_scale(values, vw)
        elif Y.shape[-1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[-1]} outputs, the model {self.n_outputs_}")
        Y = Y - self._y_mean   # a new array: divided in place (one copy, not two)
        Y /= self._y_scale
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
            return self._score(y[valid], pred[valid])
        return self._score(y.reshape(pred.shape[:2]), pred)

    def _score(self, true, pred, sample_weight=None):
        """score's measure on (N, n_outputs) targets and predictions
        ((N, n_outputs, Q) with several quantiles)."""
        loss = self.network_._loss_fn
        true = np.asarray(true, dtype=np.float64).reshape(len(true), -1)
        if isinstance(loss, Pinball):
            pred = pred.reshape(true.shape + (len(loss.quantiles),))
            if sample_weight is None and len(true) >= 2:   # each epoch's validation: at once
                return _d2_pinball(true, pred, np.asarray(loss.quantiles))
            return float(np.mean([d2_pinball_score(true, pred[..., j], alpha=q,
                                                   sample_weight=sample_weight)
                                  for j, q in enumerate(loss.quantiles)]))
        pred = pred.reshape(true.shape)
        if loss.name == "poisson":
            return _d2_poisson(true, pred, sample_weight)
        return r2_score(true, pred, sample_weight=sample_weight)

    def _decode_for_score(self, Y, lengths):
        return Y * self._y_scale + self._y_mean

    def _predict_padded(self, Xp, lengths):
        return self._decode_outputs(_outputs(self.network_, Xp, lengths))

    def _decode_outputs(self, Z):
        """The network's outputs -> predictions (N, [T,] n_outputs[, Q]) in the
        targets' units."""
        Z = self.network_._loss_fn.predict(Z)
        Q = self._n_quantiles()
        if Q:
            Z = Z.reshape(Z.shape[:-1] + (self.n_outputs_, Q))
            # quantiles never cross: the heads' values, sorted, in the order
            # of the quantiles (monotone rearrangement)
            order = np.argsort(self.network_._loss_fn.quantiles)
            Z[..., order] = np.sort(Z[..., order], axis=-1)
            return Z * self._y_scale[:, None] + self._y_mean[:, None]
        return Z * self._y_scale + self._y_mean

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @consistent
    def predict(self, X):
        """Predicted targets: (n_samples,) or (n_samples, n_outputs); per step with
        ``return_sequences`` ((n_samples, n_timesteps[, n_outputs]) or a list).
        With several quantiles (``loss='pinball'``) they form a last axis."""
        Z, lengths, mode = self._raw(X)
        Y = self._decode_outputs(Z)
        Q = self._n_quantiles()
        if Q == 1:
            Y = Y[..., 0]
        if self._y_ndim == (2 if self.return_sequences else 1):
            # one target: drop its axis (it stands before the quantiles)
            Y = Y[..., 0, :] if Q > 1 else Y[..., 0]
        return self._unpad(Y, lengths, mode) if self.return_sequences else Y

    @consistent
    def score(self, X, y, sample_weight=None):
        """R^2 for the squared, absolute and Huber losses; D^2 of the Poisson
        deviance for 'poisson'; the mean D^2 pinball score over the quantiles
        for 'pinball' (over the valid steps of all sequences with
        ``return_sequences``).  1 is best."""
        pred = self.predict(X)
        if self.return_sequences:   # the valid steps of every sequence, in order
            pairs = [(np.asarray(t), np.asarray(p)[:len(t)]) for t, p in zip(y, pred)]
            true = np.concatenate([t.reshape(len(t), -1) for t, _ in pairs])
            flat = np.concatenate([p.reshape(len(p), -1) for _, p in pairs])
            steps_w = None
            if sample_weight is not None:   # a sequence's weight on each of its steps
                sw = np.asarray(sample_weight, dtype=np.float64)
                if sw.shape != (len(pairs),):
                    raise ValueError(f"sample_weight must have shape ({len(pairs)},), got "
                                     f"{sw.shape}")
                steps_w = np.repeat(sw, [len(t) for t, _ in pairs])
            return self._score(true, flat, steps_w)
        if isinstance(self.network_._loss_fn, (Pinball, Poisson)):
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
            return self._score(y, np.asarray(pred), sample_weight)
        return r2_score(y, pred, sample_weight=sample_weight)

    # ------------------------------------------- likelihood and quantile heads
    # (separate from predict's path: they read the head's outputs through the
    # loss object, which knows its distribution)
    def _head_params(self, X):
        """The likelihood head's parameters in the targets' units, each (N, [T,]
        n_outputs); the loss, lengths and input form."""
        check_is_fitted(self, "network_")
        loss = self.network_._loss_fn
        if not isinstance(loss, Distribution):
            raise ValueError("this method needs a likelihood head (loss 'gaussian', "
                             "'student_t' or 'negative_binomial'); the model was fit with "
                             f"loss={loss.name!r}")
        Z, lengths, mode = self._raw(X)
        params = loss.rescale(loss.distribution(Z), self._y_mean, self._y_scale)
        return loss, params, lengths, mode

    def _head_shape(self, A, lengths, mode, last_axis):
        """predict's shapes: the target axis dropped for a 1-D y (before a
        ``last_axis`` of quantiles or samples), per-step results unpadded."""
        if self._y_ndim == (2 if self.return_sequences else 1):
            A = A[..., 0, :] if last_axis else A[..., 0]
        return self._unpad(A, lengths, mode) if self.return_sequences else A

    @consistent
    def predict_distribution(self, X):
        """The likelihood head's distribution of each target.

        Returns
        -------
        dict
            Parameter name -> array shaped like ``predict``'s output, in the
            targets' units: 'loc', 'scale' ('gaussian'; 'student_t' adds
            'df'), or 'mu' (the mean) and 'alpha' (the dispersion: variance
            ``mu + alpha * mu**2``) for 'negative_binomial'.
        """
        _, params, lengths, mode = self._head_params(X)
        return {k: self._head_shape(v, lengths, mode, False) for k, v in params.items()}

    @consistent
    def predict_samples(self, X, n_samples=100, random_state=None):
        """Draws from the likelihood head's distribution of each target.

        Parameters
        ----------
        X : as for ``predict``
        n_samples : int, default=100
        random_state : int, RandomState or Generator instance, or None

        Returns
        -------
        ndarray (or list, per step for ragged input) shaped like ``predict``'s
        output plus a last axis of ``n_samples`` draws.  Their mean tends to
        ``predict``'s value (the distribution's mean) as ``n_samples`` grows.
        """
        n = _check_n_samples(n_samples)
        loss, params, lengths, mode = self._head_params(X)
        draws = loss.sample(params, n, _generator(random_state))
        return self._head_shape(draws, lengths, mode, True)

    @consistent
    def predict_quantiles(self, X, q=(0.05, 0.5, 0.95)):
        """Quantiles of each target: the likelihood head's, in closed form
        (the negative binomial's are integers, its exact discrete
        quantiles), or those a pinball head was trained for.

        Parameters
        ----------
        X : as for ``predict``
        q : float or sequence of floats in (0, 1)
            With ``loss='pinball'``, a subset of its ``quantiles``.

        Returns
        -------
        ndarray (or list) shaped like ``predict``'s output plus a last axis
        of len(q) quantiles, non-decreasing along it when q is increasing.
        """
        from ._intervals import _check_levels
        levels = _check_levels(q, "q")
        check_is_fitted(self, "network_")
        loss = self.network_._loss_fn
        if isinstance(loss, Pinball):
            trained = np.asarray(loss.quantiles)
            missing = [float(v) for v in levels if not np.isclose(trained, v).any()]
            if missing:
                raise ValueError(f"the pinball head was trained for the quantiles "
                                 f"{loss.quantiles}; asked for {missing}")
            Z, lengths, mode = self._raw(X)
            Y = self._decode_outputs(Z)                         # (..., n_outputs, Q)
            cols = [int(np.argmin(np.abs(trained - v))) for v in levels]
            return self._head_shape(Y[..., cols], lengths, mode, True)
        loss, params, lengths, mode = self._head_params(X)
        return self._head_shape(loss.quantile(params, levels), lengths, mode, True)


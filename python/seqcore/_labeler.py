"""``RNNSequenceLabeler``: label sequences with no alignment given (CTC).

Design: the model is a (by default bidirectional, stacked) recurrent layer
and a linear layer read at every step, scoring C = n_classes + 1 classes:
the blank (class 0) and the labels seen in fit (``classes_``, class k + 1
for ``classes_[k]``).  Training minimises the CTC loss
(``seqcore.nn.ctc_loss``, PyTorch's 'mean' reduction: each sequence's
negative log-likelihood divided by its number of labels, averaged over the
batch) through the training engine (``seqcore._engine``): the estimator
gives it a ``Task`` (batches, loss and gradient, validation score) and the
engine does the epochs, clipping, optimizer steps, divergence checks,
early stopping, schedules and callbacks like for every other estimator.

Prediction decodes the per-step scores: best path (``beam_width=1``) or a
prefix beam search (``seqcore.nn.ctc_decode``).  The score is ``1 -`` the
label error rate: the edit distance (insertions, deletions, substitutions)
between predicted and true label sequences, summed over the samples and
divided by the total number of true labels.
"""

from collections.abc import Hashable
from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _ctc, _engine
from . import callbacks as _callbacks
from ._base import (DTYPES, SeqcoreEstimator, consistent, fit_then_publish, training,
                    training_constraints)
from ._data import check_sequences
from ._estimators import _cell_constraints
from ._sklearn_compat import Interval, StrOptions
from ._validation import warn_user
from .nn import _layers
from .nn._base import _Holding
from .nn._cells import CELLS
from .nn._ctc import _threads, ctc_decode, min_input_length
from .nn._linear import Linear
from .nn._model import FlatModel
from .nn._optim import make_optimizer, state_copies

BLANK = 0
# Copies of the parameters training keeps besides the optimizer's state:
# parameters, gradients, the weights before each step, the best ones (early
# stopping) and those of the lowest epoch loss (an explosion).
_PARAM_COPIES = 5


class CTCNetwork(FlatModel):
    """Recurrent stack + linear layer at every step, on one flat parameter
    buffer (``seqcore.nn._model.FlatModel``).

    Parameters
    ----------
    cell : {'rnn', 'gru', 'lstm', 'mgu'}
    input_size, hidden_size, n_classes : int
        ``n_classes`` counts the blank.
    training_copies : int
        Parameter-sized buffers training will hold (for the memory check).
    **rnn_kwargs
        ``num_layers``, ``bidirectional``, ``merge_mode``, ``dropout``,
        ``recurrent_dropout``, the cell's options, ``dtype``, ``random_state``.

    The parts are bound in the order [rnn | head]; parameters are named
    ``rnn.weight_ih_l0``, ..., ``head.weight`` (C, F), ``head.bias`` (C,).
    Inference (``logits``) reads a snapshot of the parameters taken under
    ``param_lock``, which the optimizer step holds.
    """

    PARTS = ("rnn", "head")

    def __init__(self, cell, input_size, hidden_size, n_classes, *, training_copies=2,
                 **rnn_kwargs):
        layer_class = getattr(_layers, CELLS[cell].layer)
        self.rnn = layer_class(input_size, hidden_size, **rnn_kwargs)
        self.dtype = self.rnn.dtype
        self.head = Linear(self.rnn.output_size, n_classes, dtype=self.dtype,
                           random_state=self.rnn._rng)
        self._allocate(self.rnn._param_count() + self.head._param_count(), "a CTC network",
                       copies=training_copies)

    def loss_and_gradient(self, X, lengths, targets, starts, n_labels, weights):
        """The CTC loss of a checked batch; fills ``flat_grads``.

        X (B, T, I) of the network's dtype, lengths (B,) int64, the labels of
        every row concatenated (``targets``, class ids >= 1) with the row
        starts (B + 1,) and counts (B,), and the rows' weights (B,), which
        sum to 1.  The loss is ``sum_b weights[b] * nll_b / max(1, n_labels[b])``:
        PyTorch's 'mean' reduction for equal weights.  Returns the loss (inf
        when a sequence is impossible or the outputs overflowed).
        """
        with _Holding(self):
            return self._loss_and_gradient(X, lengths, targets, starts, n_labels, weights)

    def _loss_and_gradient(self, X, lengths, targets, starts, n_labels, weights):
        B = X.shape[0]
        out, _ = self.rnn._forward(X, lengths, None, training=True, trusted=True)
        Z = self.head.forward(out, training=True)                       # (B, T, C)
        if not np.isfinite(Z).all():
            return np.inf
        scale = np.ascontiguousarray(weights / np.maximum(n_labels, 1), dtype=np.float64)
        nll = np.empty(B)
        dZ = np.empty_like(Z)
        _ctc.ctc_loss(Z, lengths.astype(np.intp), targets, starts, BLANK, scale, nll, dZ,
                      False, _threads(Z.size))
        loss = float(np.sum(nll * scale))
        if not np.isfinite(loss):
            return np.inf
        d_out = self.head.backward(dZ)
        self.rnn.backward(d_out, None, input_grad=False)
        return loss

    def logits(self, X, lengths):
        """Per-step scores (B, T, C) at inference, in the network's dtype."""
        P = self._snapshot_views()
        out, _ = self.rnn._forward(X, lengths, None, training=False, params=P["rnn"])
        Z, _ = self.head._affine(out.reshape(-1, out.shape[2]), P["head"], False)
        return Z.reshape(out.shape[:2] + (Z.shape[1],))


def edit_distance(a, b):
    """Levenshtein distance between two sequences (insertions, deletions,
    substitutions, each costing 1)."""
    a, b = list(a), list(b)
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def label_error_rate(y_true, y_pred):
    """Total edit distance over total true labels (0 is perfect).

    Parameters
    ----------
    y_true, y_pred : sequences of label sequences (strings or lists)

    Returns
    -------
    rate : float
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} sequences, y_pred {len(y_pred)}")
    total = sum(len(t) for t in y_true)
    if total == 0:
        raise ValueError("the true label sequences are all empty: the label error rate "
                         "divides by their total length")
    return sum(edit_distance(t, p) for t, p in zip(y_true, y_pred)) / total


class RNNSequenceLabeler(SeqcoreEstimator):
    """Recurrent network that reads a sequence of labels from a longer input
    sequence, with no alignment given (connectionist temporal classification).

    Speech recognition is the model case: T steps of audio features must
    be read as a shorter string of symbols, and no one says which steps
    make which symbol.  The network scores, at every step, the labels and a
    *blank*; training maximises the probability of the true label sequence
    summed over all its alignments (``seqcore.nn.ctc_loss``); prediction
    reads the most probable labelling (``seqcore.nn.ctc_decode``).

    Parameters
    ----------
    cell : {'rnn', 'gru', 'lstm', 'mgu'}, default='lstm'
        The recurrent cell kind, and its options (``nonlinearity``,
        ``reset_after``, ``peephole``, ``proj_size``) as in ``RNNClassifier``.
    hidden_size : int, default=64
    num_layers : int, default=2
    bidirectional : bool, default=True
        Read each sequence in both directions (each step's scores see the
        whole sequence).
    merge_mode : {'concat', 'sum', 'mul', 'ave'}, default='concat'
    dropout : float in [0, 1), default=0.0
        Between stacked layers.
    recurrent_dropout : float in [0, 1), default=0.0
    beam_width : int >= 1, default=1
        Decoding: 1 reads the best path (greedy); more runs a prefix beam
        search of that width.
    optimizer : {'sgd', 'adam', 'adamw', 'rmsprop'}, default='adam'
    learning_rate : float, default=0.005
    learning_rate_schedule : None, str or schedule object, default=None
    momentum : float, default=0.9
    batch_size : int, default=32
    max_iter : int, default=100
        Epochs.
    clip_norm : float or None, default=5.0
    clip_value : float or None, default=None
    alpha : float, default=0.0
        L2 penalty (as a weight decay of ``alpha / batch_size``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training set and stop when
        its score (1 - label error rate, greedy decoding) has not improved
        by ``tol`` for ``n_iter_no_change`` epochs; the best weights are kept.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
    dtype : {'float32', 'float64'}, default='float32'
    verbose : int, default=0
    warm_start : bool, default=False
    callbacks : list of callables or None, default=None
        See ``seqcore.callbacks``.

    Attributes
    ----------
    classes_ : ndarray
        The labels seen in fit (sorted when they can be); class k + 1 of the
        network stands for ``classes_[k]``, class 0 is the blank.
    n_features_in_ : int
    network_ : CTCNetwork
    loss_curve_ : list of float
        Mean CTC loss per epoch (per label, PyTorch's 'mean').
    validation_scores_ : list of float
        With early stopping: 1 - label error rate on the held-out set.
    n_iter_ : int

    Notes
    -----
    X: a 3-D array (n_samples, n_timesteps, n_features) (NaN-padded at the
    end for different lengths), a 2-D array (univariate sequences) or a
    list of (length_i, n_features) arrays.  y: one label sequence per
    sample, either strings (each character a label; ``predict`` then
    returns strings) or sequences of any hashable labels (``predict``
    returns lists).  A label sequence may be empty.  Each must fit its
    input: a step per label, plus one between equal neighbours (a blank
    separates repeats), else ``fit`` raises a ValueError naming the sample.

    ONNX: ``seqcore.onnx.to_onnx`` does not take the estimator itself, but
    its network exports as two graphs, ``to_onnx(model.network_.rnn,
    lengths=True)`` (the recurrent stack, (N, T, I) -> (N, T, F)) and
    ``to_onnx(model.network_.head)`` (rows (N*T, F) -> (N*T, C)); greedy
    decoding is then a few lines of NumPy: the argmax of each step,
    repeats collapsed, blanks (column 0) dropped, class k read as
    ``classes_[k - 1]`` (tested in ``tests/test_labeler.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore import RNNSequenceLabeler
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 12, 3))
    >>> y = ["ab" if x[:6, 0].mean() > 0 else "ba" for x in X]
    >>> model = RNNSequenceLabeler(hidden_size=8, num_layers=1, max_iter=2,
    ...                            random_state=0).fit(X, y)
    >>> len(model.predict(X[:3]))
    3
    """

    _parameter_constraints = {
        **_cell_constraints(),
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "merge_mode": [StrOptions({"concat", "sum", "mul", "ave"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
        "beam_width": [Interval(Integral, 1, None, closed="left")],
        **training_constraints(
            "optimizer", "learning_rate", "learning_rate_schedule", "momentum", "batch_size",
            "max_iter", "clip_norm", "clip_value", "callbacks", "early_stopping",
            "validation_fraction", "n_iter_no_change", "tol", "shuffle", "random_state",
            "dtype", "verbose", "warm_start"),
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, *, cell="lstm", hidden_size=64, num_layers=2, nonlinearity="tanh",
                 reset_after=True, peephole=False, proj_size=0, bidirectional=True,
                 merge_mode="concat", dropout=0.0, recurrent_dropout=0.0, beam_width=1,
                 optimizer="adam", learning_rate=0.005, learning_rate_schedule=None,
                 momentum=0.9, batch_size=32, max_iter=100, clip_norm=5.0, clip_value=None,
                 alpha=0.0, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, tol=1e-4, shuffle=True, random_state=None,
                 dtype="float32", verbose=0, warm_start=False, callbacks=None):
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
        self.beam_width = beam_width
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.clip_norm = clip_norm
        self.clip_value = clip_value
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

    # ------------------------------------------------------------- labels
    @staticmethod
    def _label_sequences(y, n):
        """y as a list of n label lists, and whether they were strings."""
        if isinstance(y, (str, bytes, dict, set)) or y is None:
            raise TypeError("y must be a sequence of label sequences (strings, or lists of "
                            f"labels), one per sample; got {type(y).__name__}")
        if isinstance(y, np.ndarray) and y.ndim == 2 and y.dtype.kind != "O":
            y = list(y)   # rows of a 2-D array: one label sequence each
        try:
            items = list(y)
        except TypeError as exc:
            raise TypeError("y must be a sequence of label sequences, one per sample") from exc
        if len(items) != n:
            raise ValueError(f"y has {len(items)} label sequences, X has {n} samples")
        strings = [isinstance(s, (str, np.str_)) for s in items]
        if all(strings):
            return [list(str(s)) for s in items], True
        if any(strings):
            raise TypeError("y mixes strings with other label sequences: give all as "
                            "strings or all as lists of labels")
        out = []
        for i, s in enumerate(items):
            if isinstance(s, (bytes, dict, set)) or not hasattr(s, "__iter__"):
                raise TypeError(f"y[{i}] must be a sequence of labels (a string or a list), "
                                f"got {type(s).__name__}: {s!r:.60}")
            seq = list(np.asarray(s).tolist() if isinstance(s, np.ndarray) else s)
            for label in seq:
                if not isinstance(label, Hashable) or isinstance(label, float) and label != label:
                    raise TypeError(f"y[{i}] holds {label!r:.60}: labels must be hashable "
                                    "and not NaN")
            out.append(seq)
        return out, False

    def _encode(self, seqs, lengths):
        """Class ids (labels + 1) concatenated, row starts, counts; each label
        sequence checked to fit its input."""
        index = self._index
        flat, counts = [], np.empty(len(seqs), np.intp)
        for i, seq in enumerate(seqs):
            try:
                ids = [index[label] for label in seq]
            except KeyError as exc:
                raise ValueError(f"y[{i}] holds the label {exc.args[0]!r}, not seen in "
                                 "fit") from None
            except TypeError as exc:
                raise TypeError(f"y[{i}] holds an unhashable label") from exc
            if min_input_length(ids) > lengths[i]:
                raise ValueError(
                    f"y[{i}] has {len(ids)} labels, which need at least "
                    f"{min_input_length(ids)} steps (one per label and one between equal "
                    f"neighbours), but X[{i}] has {lengths[i]}")
            flat.extend(ids)
            counts[i] = len(ids)
        starts = np.zeros(len(seqs) + 1, np.intp)
        np.cumsum(counts, out=starts[1:])
        return np.asarray(flat, dtype=np.intp), starts, counts

    def _set_classes(self, seqs):
        labels = {label for seq in seqs for label in seq}
        if not labels:
            raise ValueError("every label sequence in y is empty: nothing to learn")
        try:
            ordered = sorted(labels)
        except TypeError:   # labels of types that do not compare
            seen = {}
            for seq in seqs:
                for label in seq:
                    seen.setdefault(label, None)
            ordered = list(seen)
        if all(isinstance(c, str) for c in ordered):
            self.classes_ = np.array(ordered)
        else:
            self.classes_ = np.empty(len(ordered), dtype=object)
            self.classes_[:] = ordered
        self._index = {c: k + 1 for k, c in enumerate(ordered)}

    # ------------------------------------------------------------- training
    def fit(self, X, y, sample_weight=None):
        """Train on sequences X and their label sequences y.

        Parameters
        ----------
        X : array of shape (n_samples, n_timesteps, n_features), array of
            shape (n_samples, n_timesteps), or list of arrays (length_i, n_features)
        y : list of str, or list of sequences of hashable labels
            One label sequence per sample, no longer than its input allows.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the sequences in the loss (each batch's
            loss is the weighted mean of its sequences' per-label losses).

        Returns
        -------
        self
        """
        self._validate_params()
        with training(self):
            if self.warm_start and hasattr(self, "network_"):
                return self._fit(X, y, sample_weight, first=False)
            return fit_then_publish(
                self, lambda work: work._fit(X, y, sample_weight, first=True))

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights.

        Parameters
        ----------
        X, y, sample_weight : as in ``fit``
        classes : str or list of labels, required on the first call
            Every label that may ever appear (a string stands for its
            characters).

        Returns
        -------
        self
        """
        with training(self):
            first = not hasattr(self, "network_")
            if first:
                self._validate_params()
                if classes is None:
                    raise ValueError("classes must be passed on the first call to "
                                     "partial_fit")
            return self._fit(X, y, sample_weight, first=first, incremental=True,
                             classes=classes)

    @staticmethod
    def _check_sample_weight(sample_weight, n):
        if sample_weight is None:
            return np.ones(n)
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "biuf":
            raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}")
        w = w.astype(np.float64)
        if w.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
        if not np.isfinite(w).all():
            raise ValueError("sample_weight contains NaN or infinity")
        if (w < 0).any():
            raise ValueError("sample_weight must be non-negative")
        if not w.any():
            raise ValueError("sample_weight is zero for every sample: nothing to learn from")
        return w

    def _fit(self, X, y, sample_weight, first, incremental=False, classes=None):
        dtype = DTYPES[self.dtype]
        Xp, lengths, _ = check_sequences(X, estimator=self, dtype=dtype, reset=first)
        seqs, strings = self._label_sequences(y, Xp.shape[0])
        w = self._check_sample_weight(sample_weight, Xp.shape[0])
        if first:
            self._set_classes([list(classes)] if classes is not None else seqs)
            self._strings = strings
        elif strings != self._strings:
            raise TypeError("y must have the form of the first fit: "
                            + ("strings" if self._strings else "lists of labels"))
        flat, starts, counts = self._encode(seqs, lengths)
        if first:
            if self.dropout > 0 and self.num_layers == 1:
                warn_user(f"dropout={self.dropout} acts between stacked recurrent layers and "
                          "does nothing with num_layers=1; use recurrent_dropout for a "
                          "single layer", UserWarning)
            self._rng = check_random_state(self.random_state)
            seed = self._rng.randint(np.iinfo(np.int32).max)
            self.network_ = CTCNetwork(
                self.cell, Xp.shape[2], self.hidden_size, len(self.classes_) + 1,
                num_layers=self.num_layers, bidirectional=self.bidirectional,
                merge_mode=self.merge_mode, dropout=self.dropout,
                recurrent_dropout=self.recurrent_dropout, dtype=dtype, random_state=seed,
                training_copies=_PARAM_COPIES + state_copies(self.optimizer),
                **{name: getattr(self, name) for name in CELLS[self.cell].options})
            net = self.network_
            decay = self.alpha / min(self.batch_size, Xp.shape[0])
            self._optimizer = make_optimizer(self.optimizer, net.flat_params, net.flat_grads,
                                             lr=self.learning_rate, momentum=self.momentum,
                                             weight_decay=decay)
            _engine.start_history(self)
            self.callbacks_ = _callbacks.prepare(self.callbacks)
        rows = [flat[starts[i]:starts[i + 1]] for i in range(Xp.shape[0])]
        val = None
        if self.early_stopping and not incremental:
            idx = np.arange(Xp.shape[0])
            train, test = train_test_split(
                idx, test_size=self.validation_fraction,
                random_state=self._rng.randint(np.iinfo(np.int32).max))
            val = (Xp[test], lengths[test], [seqs[i] for i in test])
            Xp, lengths, rows, w = (Xp[train], lengths[train], [rows[i] for i in train],
                                    w[train])
        task = _LabelerTask(self, Xp, lengths, rows, w, val)
        if not hasattr(self, "callbacks_"):   # partial_fit and warm_start continue them
            self.callbacks_ = _callbacks.prepare(self.callbacks)
        try:
            _engine.train(self, task, self._optimizer, epochs=1 if incremental else self.max_iter,
                          incremental=incremental, callbacks=self.callbacks_)
        finally:
            self.network_.release_buffers()
        return self

    # ----------------------------------------------------------- prediction
    def _logits(self, X):
        check_is_fitted(self, "network_")
        Xp, lengths, _ = check_sequences(X, estimator=self, dtype=DTYPES[self.dtype],
                                         reset=False)
        return self.network_.logits(Xp, lengths), lengths

    def _decode(self, Z, lengths):
        ids = ctc_decode(Z, lengths, self.beam_width, blank=BLANK)
        labels = [[self.classes_[k - 1] for k in row] for row in ids]
        if self._strings:
            return ["".join(row) for row in labels]
        return [[c.item() if isinstance(c, np.generic) else c for c in row] for row in labels]

    @consistent
    def predict(self, X):
        """The label sequence of each input sequence.

        Parameters
        ----------
        X : array or list of sequences, as in ``fit``

        Returns
        -------
        y : list of str (when fit on strings) or list of lists of labels
        """
        Z, lengths = self._logits(X)
        return self._decode(Z, lengths)

    @consistent
    def predict_step_proba(self, X):
        """The probability of the blank and of each label at every step.

        Parameters
        ----------
        X : array or list of sequences, as in ``fit``

        Returns
        -------
        proba : list of ndarray of shape (length_i, n_classes + 1)
            Column 0 is the blank, column k + 1 the label ``classes_[k]``.
        """
        Z, lengths = self._logits(X)
        Z = Z.astype(np.float64)
        Z -= Z.max(axis=2, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(axis=2, keepdims=True)
        return [P[i, :L] for i, L in enumerate(lengths)]

    def label_error_rate(self, X, y):
        """Edit distance between the predicted and true label sequences,
        summed over the samples, divided by the number of true labels.

        Parameters
        ----------
        X : array or list of sequences, as in ``fit``
        y : label sequences, as in ``fit``; labels never seen in fit count
            as errors (nothing predicts them).

        Returns
        -------
        rate : float
            0 is perfect; it can exceed 1 (many insertions).
        """
        pred = self.predict(X)
        seqs, _ = self._label_sequences(y, len(pred))
        return label_error_rate(seqs, pred if not self._strings else [list(p) for p in pred])

    def score(self, X, y):
        """``1 - label_error_rate(X, y)``: 1 is perfect (higher is better).

        Parameters
        ----------
        X : array or list of sequences, as in ``fit``
        y : label sequences, as in ``fit``

        Returns
        -------
        score : float
        """
        return 1.0 - self.label_error_rate(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.target_tags.required = True
        tags.target_tags.one_d_labels = False
        return tags


class _LabelerTask(_engine.Task):
    """The training set of an ``RNNSequenceLabeler``, as the engine reads it."""

    def __init__(self, est, Xp, lengths, rows, w, val):
        self.est, self.network = est, est.network_
        self.Xp, self.lengths, self.rows, self.w, self.val = Xp, lengths, rows, w, val
        self.has_validation = val is not None
        self.batch = min(est.batch_size, Xp.shape[0])

    def batches(self):
        n = self.Xp.shape[0]
        order = self.est._rng.permutation(n) if self.est.shuffle else np.arange(n)
        return [order[start:start + self.batch] for start in range(0, n, self.batch)]

    def loss_and_gradient(self, idx):
        w = self.w[idx]
        total = w.sum()
        if total == 0:
            return None   # nothing to learn from this batch
        lengths = self.lengths[idx]
        T = int(lengths.max())
        X = np.ascontiguousarray(self.Xp[idx, :T])   # the batch's rows, trimmed to it
        rows = [self.rows[i] for i in idx]
        counts = np.array([r.size for r in rows], dtype=np.intp)
        starts = np.zeros(idx.size + 1, np.intp)
        np.cumsum(counts, out=starts[1:])
        flat = np.concatenate(rows).astype(np.intp) if rows else np.empty(0, np.intp)
        loss = self.network.loss_and_gradient(X, lengths, flat, starts, counts, w / total)
        return loss, float(total)

    def validation_score(self):
        X, lengths, seqs = self.val
        pred = self.est._decode(self.network.logits(X, lengths), lengths)
        if self.est._strings:
            pred = [list(p) for p in pred]
        return 1.0 - label_error_rate(seqs, pred)

    def epoch_loss(self, mean):
        if self.est.alpha:
            mean += 0.5 * self.est._optimizer.weight_decay * float(
                np.dot(self.network.flat_params, self.network.flat_params))
        return mean

    def perfect(self, score):
        return score >= 1.0

    def outputs_finite(self):
        probe = slice(0, self.batch)
        return bool(np.isfinite(self.network.logits(self.Xp[probe],
                                                    self.lengths[probe])).all())

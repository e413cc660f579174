"""Connectionist temporal classification (CTC): loss, gradient and decoding.

CTC (Graves et al., 2006) trains a network whose T steps of output must be
read as a shorter sequence of labels, with no alignment of labels to steps
given.  The network emits, at every step, scores over C classes: the labels
and one extra class, the *blank* ("no label here").  A path (one class per
step) reads as a labelling once repeats are collapsed and blanks dropped
(``aa-ab-`` reads ``aab``); the probability of a labelling is the sum over
all paths that read as it, computed by a forward-backward pass.

The compiled work is in ``seqcore._ctc``; this module checks the input and
converts it.  Shape letters: B batch, T steps, C classes, S labels.
"""

import numbers
import os

import numpy as np

from .. import _blas, _ctc
from .._validation import as_float_array

REDUCTIONS = ("mean", "sum", "none")
# Batches with fewer cells (B * T * (C + 2 S + 1)) run on the calling thread
# alone: handing rows to the worker pool costs more than it saves there.
_MIN_SHARED_WORK = 1 << 15


def _check_logits(logits):
    """logits as a C-contiguous (B, T, C) array of float32 or float64."""
    if isinstance(logits, (list, tuple)):
        raise TypeError("logits must be one (B, T, C) array: pad ragged sequences to T "
                        "steps and pass their lengths as input_lengths")
    arr = np.asarray(logits) if not isinstance(logits, np.ndarray) else logits
    dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    arr = as_float_array(arr, dtype, "logits")
    if arr.ndim != 3:
        raise ValueError(f"logits must be 3-D (batch, steps, classes), got shape {arr.shape}")
    B, T, C = arr.shape
    if B == 0 or T == 0:
        raise ValueError(f"logits has shape {arr.shape}: no sequences or no steps")
    if C < 1:
        raise ValueError("logits has no classes (C = 0)")
    return arr


def _check_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _check_int_array(a, name, ndim):
    try:
        arr = np.asarray(a)
    except Exception as exc:
        raise TypeError(f"{name} could not be read as an array of integers: {exc}") from exc
    if arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr)) \
            and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)   # 3.0 is 3; 2.5 is refused below
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.ndim not in ndim:
        raise ValueError(f"{name} must be {' or '.join(f'{n}-D' for n in ndim)}, "
                         f"got shape {arr.shape}")
    return arr.astype(np.intp)


def _check_lengths(input_lengths, B, T):
    if input_lengths is None:
        return np.full(B, T, dtype=np.intp)
    lengths = _check_int_array(input_lengths, "input_lengths", (1,))
    if lengths.shape != (B,):
        raise ValueError(f"input_lengths must have one entry per sequence ({B}), got "
                         f"shape {lengths.shape}")
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"input_lengths must lie in [1, {T}] (T, the steps of logits), got "
                         f"values in [{lengths.min()}, {lengths.max()}]")
    return lengths


def _check_targets(targets, target_lengths, B, C, blank):
    """(concatenated labels, row starts (B + 1,), lengths (B,)) from any of the
    three forms: a list of B label arrays, a padded (B, S) array with
    ``target_lengths``, or PyTorch's concatenated 1-D array with them."""
    if isinstance(targets, (list, tuple)):
        if len(targets) != B:
            raise ValueError(f"targets has {len(targets)} label sequences, logits has {B} "
                             "sequences")
        rows = [_check_int_array(t, f"targets[{i}]", (1,)) for i, t in enumerate(targets)]
        lengths = np.array([r.size for r in rows], dtype=np.intp)
        if target_lengths is not None:
            given = _check_int_array(target_lengths, "target_lengths", (1,))
            if given.shape != (B,) or (given != lengths).any():
                raise ValueError("target_lengths disagree with the lengths of the label "
                                 "sequences in targets (omit them with a list of targets)")
        flat = np.concatenate(rows) if rows else np.empty(0, np.intp)
    else:
        arr = _check_int_array(targets, "targets", (1, 2))
        if arr.ndim == 2:
            if arr.shape[0] != B:
                raise ValueError(f"targets has {arr.shape[0]} rows, logits has {B} sequences")
            S = arr.shape[1]
            if target_lengths is None:
                lengths = np.full(B, S, dtype=np.intp)
            else:
                lengths = _check_int_array(target_lengths, "target_lengths", (1,))
                if lengths.shape != (B,):
                    raise ValueError(f"target_lengths must have shape ({B},), got "
                                     f"{lengths.shape}")
                if lengths.min() < 0 or lengths.max() > S:
                    raise ValueError(f"target_lengths must lie in [0, {S}] (the columns of "
                                     f"targets), got values in [{lengths.min()}, "
                                     f"{lengths.max()}]")
            flat = arr[np.arange(S) < lengths[:, None]]
        else:
            if target_lengths is None:
                raise ValueError("a 1-D targets array (the labels of every sequence "
                                 "concatenated) needs target_lengths")
            lengths = _check_int_array(target_lengths, "target_lengths", (1,))
            if lengths.shape != (B,):
                raise ValueError(f"target_lengths must have shape ({B},), got "
                                 f"{lengths.shape}")
            if lengths.min() < 0 or lengths.sum() != arr.size:
                raise ValueError(f"target_lengths must be >= 0 and sum to len(targets) = "
                                 f"{arr.size}, got sum {lengths.sum()}")
            flat = arr
    flat = np.ascontiguousarray(flat, dtype=np.intp)
    if flat.size and (flat.min() < 0 or flat.max() >= C):
        raise ValueError(f"target labels must lie in [0, {C}) (the classes of logits) and "
                         f"differ from the blank {blank}, got "
                         f"values in [{flat.min()}, {flat.max()}]")
    if (flat == blank).any():
        raise ValueError(f"targets contain the blank index {blank}: the blank is not a label")
    starts = np.zeros(B + 1, dtype=np.intp)
    np.cumsum(lengths, out=starts[1:])
    return flat, starts, lengths


def _threads(work):
    if work < _MIN_SHARED_WORK:
        return 1
    n = _blas.user_blas_threads()
    return n if n > 0 else (os.cpu_count() or 1)


def min_input_length(labels):
    """The fewest steps a CTC path needs to read as ``labels``: one per label,
    and one blank between each two equal neighbours (``aab`` needs 4)."""
    labels = np.asarray(labels)
    return int(labels.size + np.count_nonzero(labels[1:] == labels[:-1]))


def ctc_loss(logits, input_lengths, targets, target_lengths=None, blank=0,
             reduction="mean", *, zero_infinity=False):
    """CTC loss and its gradient with respect to the unnormalised logits.

    The negative log-likelihood of each sequence's labels, summed over every
    alignment of the labels to the sequence's steps (forward-backward in log
    space, compiled, with the GIL released; rows run in parallel on the
    core's worker pool, each independent of the others, so results do not
    depend on the threads).  The log-softmax is taken inside: pass raw
    scores.  PyTorch's ``torch.nn.CTCLoss`` semantics.

    Parameters
    ----------
    logits : array-like of shape (B, T, C)
        Unnormalised scores of C classes (blank included) at each step,
        float32 or float64 (kept; other numbers are converted to float64).
        Steps at or after a sequence's length are never read.
    input_lengths : array-like of int, shape (B,), or None
        Steps of each sequence, in [1, T]; None means T for all.
    targets : list of B 1-D int arrays, or array of shape (B, S) or (sum S_b,)
        The labels of each sequence, ids in [0, C) other than ``blank``: a
        list of arrays (ragged), a padded (B, S) array (with
        ``target_lengths``, else every row is S long), or PyTorch's
        concatenated 1-D form (with ``target_lengths``).  A sequence may have
        no labels (its loss is that of blanks only).
    target_lengths : array-like of int, shape (B,), or None
    blank : int, default=0
        The index of the blank class.
    reduction : {'mean', 'sum', 'none'}, default='mean'
        'mean': each sequence's loss divided by its number of labels (at
        least 1), averaged over the batch (PyTorch's 'mean'); 'sum': the sum
        of the sequences' losses; 'none': the (B,) losses.
    zero_infinity : bool, default=False
        What to do with an *impossible* sequence, one whose labels need more
        steps than it has (``min_input_length(labels) > input_length``: a
        step per label, and a blank between equal neighbours).  Its loss is
        infinite; by default the loss stays inf (so does a 'mean' or 'sum')
        and the sequence's gradient is NaN, as in PyTorch; with
        ``zero_infinity=True`` its loss and gradient are zero (the other
        sequences are unaffected; 'mean' still counts it in B).

    Returns
    -------
    loss : float, or ndarray of shape (B,) with reduction='none'
    gradient : ndarray of shape (B, T, C), the dtype of logits
        d loss / d logits; zero on padded steps.  With 'none', row b holds
        the gradient of loss[b] (the rows do not interact).

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.nn import ctc_loss
    >>> rng = np.random.default_rng(0)
    >>> logits = rng.normal(size=(2, 6, 4))          # B=2, T=6, C=4 (blank 0)
    >>> loss, grad = ctc_loss(logits, [6, 4], [[1, 2, 2], [3]])
    >>> grad.shape
    (2, 6, 4)
    """
    Z = _check_logits(logits)
    B, T, C = Z.shape
    blank = _check_int(blank, "blank")
    if not 0 <= blank < C:
        raise ValueError(f"blank must lie in [0, {C}) (the classes of logits), got {blank}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    lengths = _check_lengths(input_lengths, B, T)
    flat, starts, S = _check_targets(targets, target_lengths, B, C, blank)
    if reduction == "mean":
        scale = 1.0 / (B * np.maximum(S, 1))
    else:
        scale = np.ones(B)
    nll = np.empty(B)
    grad = np.empty_like(Z)
    work = int(lengths.sum()) * (C + 2 * int(S.max()) + 1)
    _ctc.ctc_loss(Z, lengths, flat, starts, blank, scale, nll, grad, bool(zero_infinity),
                  _threads(work))
    if zero_infinity:
        nll[np.isinf(nll)] = 0.0
    if reduction == "none":
        return nll, grad
    if reduction == "sum":
        return float(nll.sum()), grad
    return float(np.sum(nll / np.maximum(S, 1)) / B), grad


def _nll(Z, lengths, flat, starts, blank):
    """Per-sequence negative log-likelihoods of checked arrays, no gradient
    (scoring)."""
    B = Z.shape[0]
    nll = np.empty(B)
    work = int(lengths.sum()) * (Z.shape[2] + 2 * int(np.diff(starts).max(initial=0)) + 1)
    _ctc.ctc_loss(Z, lengths, flat, starts, blank, np.ones(B), nll,
                  np.empty((0, 0, 0), Z.dtype), False, _threads(work))
    return nll


def _check_prior(prior, C):
    """A compiled ``_Prior`` from None, a callable or a (C,) array."""
    if prior is None:
        return None
    if callable(prior):
        return _ctc._Prior(prior, C)
    table = None if isinstance(prior, str) else np.asarray(prior)
    if table is None or table.dtype.kind not in "biuf" or table.shape != (C,):
        raise ValueError(f"prior must be a callable or an array of {C} log-probabilities "
                         f"(one per class), got {prior!r:.80}")
    table = table.astype(np.float64)
    if np.isnan(table).any() or (table == np.inf).any():
        raise ValueError("prior holds NaN or +inf (-inf rules a label out)")
    return _ctc._Prior(lambda prefix: table, C)


def ctc_decode(logits, input_lengths=None, beam_width=1, *, blank=0, prior=None,
               prior_weight=1.0, return_scores=False):
    """Read label sequences from CTC outputs: best path or prefix beam search.

    ``beam_width=1`` with no prior is best path (greedy) decoding: the most
    probable class of each step, repeats collapsed, blanks dropped.  Otherwise
    a prefix beam search (Hannun et al., 2014) keeps the ``beam_width`` most
    probable label prefixes at each step, each scored with the probability
    of every path that reads as it (paths that meet are merged), so it looks
    for the most probable *labelling*, which the best path need not read as.
    Both are compiled; without a prior the GIL is released.

    Parameters
    ----------
    logits : array-like of shape (B, T, C)
        Unnormalised scores (log-probabilities work too: only their
        log-softmax is used).
    input_lengths : array-like of int, shape (B,), or None
        Steps of each sequence, in [1, T]; None means T for all.
    beam_width : int >= 1, default=1
    blank : int, default=0
    prior : None, callable or array of shape (C,), default=None
        A per-label prior (e.g. a language model): a callable that takes a
        prefix (a tuple of label ids) and returns C log-probabilities of the
        next label (the blank's entry is ignored), or one fixed array of
        them.  Growing a prefix by label c adds ``prior_weight * prior[c]``
        to its log-score (shallow fusion).  Called once per prefix that
        enters the beam, holding the GIL; ``language_model_prior`` builds one
        from an ``RNNLanguageModel``.  A prior always runs the beam search.
    prior_weight : float, default=1.0
    return_scores : bool, default=False
        Also return each result's log-score: the log-probability of the best
        path for greedy decoding, of the labelling (plus the weighted prior)
        for the beam search.

    Returns
    -------
    labels : list of B ndarrays of int
    scores : ndarray of shape (B,), only with ``return_scores``

    Notes
    -----
    A prefix beam search of width 1 is not greedy decoding in general: it
    keeps the prefix with the most probable *set* of paths, which on
    uncertain steps can differ from the best single path.  On confident
    outputs (each step's top class well above the others, as a trained
    network gives) the two agree.
    """
    Z = _check_logits(logits)
    B, T, C = Z.shape
    blank = _check_int(blank, "blank")
    if not 0 <= blank < C:
        raise ValueError(f"blank must lie in [0, {C}) (the classes of logits), got {blank}")
    width = _check_int(beam_width, "beam_width")
    if width < 1:
        raise ValueError(f"beam_width must be >= 1, got {width}")
    if isinstance(prior_weight, (bool, np.bool_)) or not isinstance(
            prior_weight, numbers.Real) or not np.isfinite(prior_weight):
        raise ValueError(f"prior_weight must be a finite number, got {prior_weight!r}")
    lengths = _check_lengths(input_lengths, B, T)
    pr = _check_prior(prior, C)
    out = np.zeros((B, T), dtype=np.intp)
    n = np.zeros(B, dtype=np.intp)
    scores = np.zeros(B)
    if width == 1 and pr is None:
        _ctc.greedy(Z, lengths, blank, out, n, scores)
    else:
        _ctc.beam_search(Z, lengths, blank, width, pr, float(prior_weight), out, n, scores)
    labels = [out[b, :n[b]].copy() for b in range(B)]
    return (labels, scores) if return_scores else labels


def language_model_prior(model, symbols, blank=0):
    """A ``ctc_decode`` prior from a fitted character ``RNNLanguageModel``.

    Parameters
    ----------
    model : seqcore.text.RNNLanguageModel
        Fitted with ``analyzer='char'``.
    symbols : sequence of str
        ``symbols[k]`` is the character class k stands for; the blank's
        entry is ignored.  Every other entry must be a character of the
        model's vocabulary.
    blank : int, default=0

    Returns
    -------
    prior : callable
        ``prior(prefix)`` -> C log-probabilities of the next character after
        the text of ``prefix``: ``log p(c | text)`` from the model's public
        ``score`` (``score`` of ``text + c`` times its number of predictions,
        minus that of ``text``).  Uniform over the symbols for an empty
        prefix (the model predicts nothing from nothing).  Each call runs
        the model C times over the prefix: meant for short outputs and small
        beams (``ctc_decode`` calls it once per prefix entering the beam).
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "vocabulary_")
    symbols = list(symbols)
    C = len(symbols)
    blank = _check_int(blank, "blank")
    if not 0 <= blank < C:
        raise ValueError(f"blank must lie in [0, {C}) (the classes), got {blank}")
    labels = [k for k in range(C) if k != blank]
    vocab = model.vocabulary_
    missing = [symbols[k] for k in labels if not isinstance(symbols[k], str)
               or symbols[k] not in vocab]
    if missing:
        raise ValueError(f"symbols {missing!r:.200} are not characters of the language "
                         "model's vocabulary")

    def total(text):
        # score: the mean log p over the len(text) - 1 predictions of the stream
        return model.score([text]) * (len(text) - 1) if len(text) > 1 else 0.0

    def prior(prefix):
        out = np.full(C, -np.log(len(labels)))
        if not prefix:
            return out
        text = "".join(symbols[k] for k in prefix)
        base = total(text)
        for k in labels:
            out[k] = total(text + symbols[k]) - base
        return out

    return prior

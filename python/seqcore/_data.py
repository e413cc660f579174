"""Turn what users pass as X and y into padded arrays and lengths.

Four forms of numeric X:

* a 3-D array (n_samples, n_timesteps, n_features): sequences of one
  length, or of different lengths padded at the end with NaN: trailing steps
  that are NaN in every feature mark the end of a sequence (a NaN before a
  sequence's end is refused);
* a 2-D array (n_samples, n_timesteps): univariate sequences.  This is also
  scikit-learn's tabular X, so the 2-D form keeps scikit-learn's conventions
  (``n_features_in_`` is the number of columns, feature names of a
  DataFrame are kept) and a model fit on it predicts 2-D data of the same
  width;
* a list of 2-D arrays (length_i, n_features): sequences of different
  lengths;
* a list of 1-D arrays of different lengths: univariate sequences of
  different lengths.

Padded or listed, sequences of different lengths give the same model:
padding never touches results.  Token input (``check_tokens``): a list of
1-D integer arrays of different lengths, or a 2-D integer array (see
``pad_tokens``); in both, trailing zeros (the padding id) mark the end of a
sequence and a 0 before its last token is refused; at predict an empty
sequence reads as one unknown token (id 1).
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_array, validate_data

TABLE, SEQUENCES = "table", "sequences"


def _is_ragged_list(X):
    """A list/tuple whose items are 2-D (sequences), as opposed to rows of a table."""
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    return all(np.ndim(x) == 2 for x in X)


def _is_ragged_1d_list(X):
    """A list/tuple of 1-D items of different lengths: univariate sequences
    (items of one length are the rows of a table)."""
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    if not all(np.ndim(x) == 1 for x in X):
        return False
    return len({len(x) for x in X}) > 1


def _nan_padded_lengths(Xp):
    """Lengths of a 3-D array padded at the end with all-NaN steps; the
    padding is set to 0.  None when it holds no NaN at all."""
    nan = np.isnan(Xp)
    if not nan.any():
        return None
    step_nan = nan.all(axis=2)                        # (n, T): a padding step
    T = Xp.shape[1]
    # length = 1 + last step that is not entirely NaN
    real = ~step_nan
    lengths = np.where(real.any(axis=1), T - np.argmax(real[:, ::-1], axis=1), 0)
    inside = np.arange(T) < lengths[:, None]
    if nan[inside].any():
        raise ValueError("X contains NaN inside a sequence: NaN marks padding only when "
                         "a step is NaN in every feature and every later step is too")
    if (lengths == 0).any():
        raise ValueError(f"X[{int(np.flatnonzero(lengths == 0)[0])}] is a sequence of length "
                         "zero (every step is NaN padding)")
    Xp[~inside] = 0.0
    return lengths.astype(np.int64)


def check_tokens(X, *, estimator, reset, keep_empty=False):
    """Validate token input: a list of 1-D integer arrays, or a 2-D integer
    array; in both forms 0 is the padding id.

    One rule for both forms: a sequence ends at its last nonzero id, so
    trailing zeros are padding (``predict(list(P))`` is ``predict(P)``); a 0
    before a sequence's last nonzero id is refused (ValueError: padding goes
    at the end, as ``pad_tokens`` puts it).  A sequence with no nonzero id
    (empty, or all padding) is refused at fit (``reset``); at predict it
    runs as one unknown token (id 1) so that one empty document does not
    fail a batch, and with ``keep_empty`` its length is given as 0 (the
    estimators then return an empty array of per-step results for it).

    Returns
    -------
    ids : ndarray of int64 (n_samples, T), 0 on padding
    lengths : ndarray of int (n_samples,)
        Each sequence's length (1 for an empty one, 0 with ``keep_empty``).
    mode : 'sequences'
    """
    if isinstance(X, str) or (isinstance(X, (list, tuple)) and X and isinstance(X[0], str)):
        raise TypeError("with embedding_dim set, X holds token ids (a list of integer "
                        "arrays); turn text into ids first, e.g. with "
                        "seqcore.text.SequenceTokenizer in a Pipeline")
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError("X has no samples")
        items = []
        for i, x in enumerate(X):
            a = np.asarray(x)
            if a.ndim != 1:
                raise ValueError(f"X[{i}] must be a 1-D array of token ids, got shape {a.shape}")
            items.append(_check_ids(a, f"X[{i}]"))
        ids = np.zeros((len(items), max(a.size for a in items)), np.int64)
        for i, a in enumerate(items):
            ids[i, :a.size] = a
    else:
        a = np.asarray(X)
        if a.ndim != 2:
            raise ValueError("with embedding_dim set, X must be a list of 1-D arrays of "
                             f"token ids or a 2-D array of them, got a {a.ndim}-D array")
        if a.shape[0] == 0:
            raise ValueError("X has no samples")
        ids = _check_ids(a, "X").copy()
    if ids.shape[1] == 0:   # every sequence empty: one padding step, length 0
        ids = np.zeros((len(ids), 1), np.int64)
    T = ids.shape[1]
    nonzero = ids != 0
    # length = 1 + the index of the last nonzero id; 0 when there is none
    lengths = np.where(nonzero.any(axis=1), T - np.argmax(nonzero[:, ::-1], axis=1), 0)
    inner = ~nonzero & (np.arange(T) < lengths[:, None])
    if inner.any():
        i, t = (int(v[0]) for v in np.nonzero(inner))
        raise ValueError(f"X[{i}] has the padding id 0 at step {t}, before its last token "
                         f"(step {int(lengths[i]) - 1}): 0 pads only the end of a sequence; "
                         "map a token to the unknown id 1 instead")
    empty = lengths == 0
    if empty.any():
        if reset:
            raise ValueError(f"X[{int(np.flatnonzero(empty)[0])}] is an empty sequence (no "
                             "token, or only the padding id 0): a sequence of length zero")
        # at predict, an empty document (an empty review in a batch) reads as
        # one unknown token (id 1) rather than failing the whole batch
        ids[empty, 0] = 1
        if not keep_empty:
            lengths = np.maximum(lengths, 1)
    lengths = lengths.astype(np.int64)
    if reset:
        estimator._input_mode = SEQUENCES
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    return ids, lengths, SEQUENCES


_ID_MAX = np.iinfo(np.int64).max


def _check_ids(a, name):
    """Integer ids as int64, >= 0; an id that int64 cannot hold (2**63 and
    above) is refused as too large before the cast could wrap it around to
    a negative number."""
    if a.size and a.dtype.kind == "f":
        if not np.isfinite(a).all() or (a != np.round(a)).any():
            raise TypeError(f"{name} must hold integer token ids, got non-integer floats")
    elif a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer token ids, got dtype {a.dtype}")
    # 2**63 as a float is exactly the first value int64 cannot hold
    if a.size and (a.max() >= 2.0 ** 63 if a.dtype.kind == "f" else a.max() > _ID_MAX):
        raise ValueError(f"{name} holds the token id {a.max():.0f}, too large (token ids "
                         "are below the vocabulary size)")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        raise ValueError(f"{name} holds a negative token id ({int(a.min())}); ids are >= 0 "
                         "(0 is padding, 1 unknown)")
    return a


def pad_sequences(sequences, *, dtype=np.float64, maxlen=None, value=0.0):
    """Pad a list of (length_i, n_features) arrays into one 3-D array.

    Parameters
    ----------
    sequences : list of array-like of shape (length_i, n_features) or (length_i,)
    dtype : dtype, default=np.float64
    maxlen : int, optional
        Pad (at the end) or truncate (keeping the first steps) to this length.
        Defaults to the longest sequence.
    value : float, default=0.0
        Fill value of the padding.

    Returns
    -------
    X : ndarray of shape (n_sequences, maxlen, n_features)
    lengths : ndarray of int of shape (n_sequences,)
        The length of each sequence in ``X`` (after truncation).

    See Also
    --------
    pad_tokens : the 2-D (n_sequences, maxlen) form of token ids.
    """
    if isinstance(sequences, np.ndarray) or not isinstance(sequences, (list, tuple)):
        raise TypeError("sequences must be a list of arrays, one per sequence")
    if len(sequences) == 0:
        raise ValueError("sequences is empty")
    arrays = []
    for i, s in enumerate(sequences):
        a = np.asarray(s)
        if np.iscomplexobj(a):
            raise TypeError(f"sequence {i} is complex; seqcore needs real numbers")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"sequence {i} must be 1-D or 2-D (steps, features), got {a.ndim}-D")
        arrays.append(a)
    n_features = {a.shape[1] for a in arrays}
    if len(n_features) > 1:
        raise ValueError(f"sequences have different numbers of features: {sorted(n_features)}")
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    if maxlen is None:
        maxlen = int(lengths.max())
    elif isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive integer, got {maxlen!r}")
    lengths = np.minimum(lengths, maxlen)
    out = np.full((len(arrays), maxlen, n_features.pop()), value, dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, :lengths[i]] = a[:lengths[i]]
    return out, lengths


def pad_tokens(sequences, *, maxlen=None):
    """Pad a list of 1-D token-id sequences into one 2-D int64 array.

    The 2-D form of token ids that the estimators with ``embedding_dim``
    and their ONNX graphs (input ``ids``) read: sequence i in row i, then
    the padding id 0.  ``pad_sequences`` is for numeric steps (it returns
    (N, T, n_features)).

    Parameters
    ----------
    sequences : list of 1-D array-like of int
        Token ids, e.g. from ``seqcore.text.SequenceTokenizer.transform``.
        Ids must be >= 1 (0 is padding).
    maxlen : int, optional
        Pad (at the end) or truncate (keeping the first tokens) to this
        length.  Defaults to the longest sequence (at least 1).

    Returns
    -------
    ids : ndarray of shape (n_sequences, maxlen), dtype int64
    lengths : ndarray of shape (n_sequences,), dtype int64
        Each sequence's length in ``ids`` (after truncation).

    Examples
    --------
    >>> from seqcore.preprocessing import pad_tokens
    >>> ids, lengths = pad_tokens([[5, 2, 7], [4]])
    >>> ids
    array([[5, 2, 7],
           [4, 0, 0]])
    >>> lengths
    array([3, 1])
    """
    if isinstance(sequences, np.ndarray) or not isinstance(sequences, (list, tuple)):
        raise TypeError("sequences must be a list of 1-D arrays of token ids, one per sequence")
    if len(sequences) == 0:
        raise ValueError("sequences is empty")
    items = []
    for i, s in enumerate(sequences):
        a = np.asarray(s)
        if a.ndim != 1:
            raise ValueError(f"sequence {i} must be 1-D (token ids), got shape {a.shape}")
        a = _check_ids(a, f"sequence {i}")
        if (a == 0).any():
            raise ValueError(f"sequence {i} holds the padding id 0; token ids are >= 1")
        items.append(a)
    lengths = np.array([a.size for a in items], dtype=np.int64)
    if maxlen is None:
        maxlen = max(int(lengths.max()), 1)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive integer, got {maxlen!r}")
    lengths = np.minimum(lengths, maxlen)
    ids = np.zeros((len(items), maxlen), np.int64)
    for i, a in enumerate(items):
        ids[i, :lengths[i]] = a[:lengths[i]]
    return ids, lengths


def check_sequences(X, *, estimator, dtype, reset):
    """Validate X in any of its three forms.

    Returns
    -------
    X : ndarray (n_samples, T, n_features) of ``dtype``, a new array
    lengths : ndarray of int (n_samples,)
    mode : 'table' or 'sequences'
    """
    name = type(estimator).__name__
    if _is_ragged_1d_list(X):   # univariate sequences of different lengths
        X = [np.asarray(x).reshape(-1, 1) for x in X]
    if _is_ragged_list(X):
        arrays = [check_array(x, dtype=dtype, ensure_min_samples=0,
                              input_name=f"X[{i}]") for i, x in enumerate(X)]
        for i, a in enumerate(arrays):
            if a.shape[0] == 0:
                raise ValueError(f"X[{i}] is a sequence of length zero")
        feats = sorted({a.shape[1] for a in arrays})
        if len(feats) > 1:
            raise ValueError(f"the sequences in X have different numbers of features: {feats}")
        Xp, lengths = pad_sequences(arrays, dtype=dtype)
        mode = SEQUENCES
    else:
        if isinstance(X, (list, tuple)) and len(X) and any(np.ndim(x) == 2 for x in X):
            raise ValueError("X mixes sequences (2-D items) with other items; a list X "
                             "must hold one 2-D array (steps, features) per sequence")
        arr = np.asarray(X) if not hasattr(X, "iloc") and not hasattr(X, "tocsr") else None
        if arr is not None and arr.ndim == 3:
            Xp = check_array(X, dtype=dtype, allow_nd=True, copy=True,
                             ensure_all_finite="allow-nan")
            if Xp.shape[1] == 0:
                raise ValueError("X holds sequences of length zero (n_timesteps = 0)")
            if Xp.shape[2] == 0:
                raise ValueError("X has 0 features per step")
            if np.isinf(Xp).any():
                raise ValueError("Input X contains infinity or a value too large for "
                                 f"{np.dtype(dtype).name}.")
            lengths = _nan_padded_lengths(Xp)
            if lengths is None:
                lengths = np.full(Xp.shape[0], Xp.shape[1], dtype=np.int64)
            mode = SEQUENCES
        elif arr is not None and arr.ndim > 3:
            raise ValueError(f"X must be 2-D or 3-D (samples, steps, features), got {arr.ndim}-D")
        else:
            # the tabular form: scikit-learn's own checks and messages
            if reset or getattr(estimator, "_input_mode", None) == TABLE:
                Xp = validate_data(estimator, X, dtype=dtype, reset=reset, copy=True)
            else:
                Xp = check_array(X, dtype=dtype, copy=True)
            lengths = np.full(Xp.shape[0], Xp.shape[1], dtype=np.int64)
            Xp = Xp[:, :, None]
            mode = TABLE

    if reset:
        estimator._input_mode = mode
        if mode == SEQUENCES:
            estimator.n_features_in_ = Xp.shape[2]
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
    else:
        fitted_mode = estimator._input_mode
        if fitted_mode == SEQUENCES and Xp.shape[2] != estimator.n_features_in_:
            if mode == TABLE and estimator.n_features_in_ == 1:
                pass  # univariate sequences given as a 2-D array
            else:
                raise ValueError(f"X has {Xp.shape[2]} features, but {name} is expecting "
                                 f"{estimator.n_features_in_} features as input.")
        if fitted_mode == TABLE and mode == SEQUENCES:
            raise ValueError(f"{name} was fit on a 2-D array ({estimator.n_features_in_} "
                             "columns, univariate sequences); predict on the same form, "
                             "not on 3-D arrays or lists")
        if mode == TABLE and fitted_mode == SEQUENCES and estimator.n_features_in_ != 1:
            raise ValueError(f"X is 2-D (univariate sequences), but {name} was fit on "
                             f"sequences of {estimator.n_features_in_} features")
    if Xp.shape[0] == 0:
        raise ValueError("X has no samples")
    return Xp, lengths, mode

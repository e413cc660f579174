"""``Embedding``: a lookup table of vectors indexed by integer token ids.

Design: the table is the layer's one parameter, ``weight`` (V, E), a view of
the flat parameter buffer like every ``seqcore.nn`` parameter.  Forward is a
row gather and backward a row scatter-add, both in ``seqcore._embedding``
(compiled, without the GIL).  Ids of any shape are flattened to (N,) and
checked (integers in [0, V)) before any work.

Training forward keeps a private copy of the ids on the tape (a caller may
reuse its id array before backward); inference keeps nothing.
"""

import numbers

import numpy as np

from .. import _embedding
from .._validation import as_float_array, check_dtype, check_positive_int
from ._base import Layer, check_memory
from ._linear import _private

_DRAW_BLOCK = 1 << 20


def _fill_normal(rng, out):
    """out[:] = rng.standard_normal(out.size), in blocks (no float64
    temporary of out's size; the values are those of one draw)."""
    flat = out.reshape(-1)
    for i in range(0, flat.size, _DRAW_BLOCK):
        block = flat[i:i + _DRAW_BLOCK]
        block[:] = rng.standard_normal(block.size)


def _check_padding_idx(padding_idx, num_embeddings):
    """None, or the padding row in [0, V) (a negative index counts from the end,
    as in PyTorch)."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, (bool, np.bool_)) or not isinstance(padding_idx, numbers.Integral):
        raise TypeError(f"padding_idx must be an integer or None, got {padding_idx!r}")
    idx = int(padding_idx)
    if not -num_embeddings <= idx < num_embeddings:
        raise ValueError(f"padding_idx must be in [-{num_embeddings}, {num_embeddings}) "
                         f"(num_embeddings={num_embeddings}), got {padding_idx}")
    return idx % num_embeddings


class Embedding(Layer):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``, looked up by id.

    ``forward(ids)[..., :] = weight[ids[...], :]``, as ``torch.nn.Embedding``.

    Parameters
    ----------
    num_embeddings : int
        Size V of the vocabulary: ids are integers in [0, V).
    embedding_dim : int
        Size E of each vector.
    padding_idx : int or None, default=None
        An id whose row is initialised to zero and never receives a gradient
        (stays fixed in training), e.g. 0, the padding id of
        ``seqcore.text.SequenceTokenizer``.  Negative values count from the
        end, as in PyTorch.
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : int, numpy Generator or None
        Seeds the initial table, drawn from N(0, 1) as PyTorch does.

    Attributes
    ----------
    params, grads : dict
        ``{"weight": array of shape (V, E)}``, views of ``flat_params`` and
        ``flat_grads``.
    frozen : bool
        When True (``from_pretrained(..., freeze=True)``) backward leaves
        ``grads["weight"]`` at zero.  ``requires_grad`` is its negation, as in
        PyTorch.  The optimizers of ``seqcore.nn`` work on flat buffers and
        do not read it: plain SGD or Adam steps leave a zero gradient's
        parameters unchanged, but weight decay would not, so leave a frozen
        layer's buffers out of the optimizer (or use no weight decay).

    Notes
    -----
    ``backward`` overwrites ``grads["weight"]`` with the full gradient: the
    whole table is zeroed, then each output row's gradient is added to the
    row of its id, in the order of the flattened ids.  Repeated ids thus add
    up in a fixed order (bit-identical results from run to run).  Zeroing
    the whole table costs O(V * E) per backward; a sparse gradient would not,
    but then clipping and the optimizers could not read one flat buffer.

    Equivalent to::

        out = weight[ids]                      # forward, (..., E)
        d_weight = np.zeros_like(weight)       # backward
        np.add.at(d_weight, ids.ravel(), d_out.reshape(-1, E))
        d_weight[padding_idx] = 0

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.nn import Embedding
    >>> emb = Embedding(10, 3, padding_idx=0, random_state=0)
    >>> emb.forward(np.array([[1, 2, 0]]), training=False).shape
    (1, 3, 3)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, *,
                 dtype=np.float32, random_state=None):
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.padding_idx = _check_padding_idx(padding_idx, self.num_embeddings)
        self.dtype = check_dtype(dtype)
        self.frozen = False
        self.training = True
        self._rng = np.random.default_rng(random_state)
        self._init_params(self.dtype)
        self.reset_parameters()

    # ------------------------------------------------------------------ setup
    def _param_count(self):
        return self.num_embeddings * self.embedding_dim

    def _param_shapes(self):
        return [("weight", (self.num_embeddings, self.embedding_dim))]

    def reset_parameters(self):
        """Draw the table from N(0, 1), as PyTorch does; the padding row is zero."""
        _fill_normal(self._rng, self._flat_params)
        if self.padding_idx is not None:
            self.params["weight"][self.padding_idx] = 0

    @property
    def requires_grad(self):
        """False for a frozen table (backward then leaves its gradient at zero)."""
        return not self.frozen

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, *, dtype=None):
        """An ``Embedding`` holding a copy of the given (V, E) matrix.

        Parameters
        ----------
        embeddings : array-like of shape (V, E)
            The table (NumPy array, nested lists, or a CPU tensor).
        freeze : bool, default=True
            Sets ``frozen``: backward then leaves the gradient at zero.
        padding_idx : int or None, default=None
            As in the constructor, except that its row is kept as given
            (PyTorch's behaviour); it still receives no gradient.
        dtype : {np.float32, np.float64} or None
            Default: float64 for float64 input, else float32.

        Returns
        -------
        Embedding
        """
        if hasattr(embeddings, "detach"):   # a torch tensor, without importing torch
            embeddings = embeddings.detach().cpu().numpy()
        if dtype is None:
            dt = getattr(embeddings, "dtype", None)
            dtype = np.float64 if dt is not None and np.dtype(dt) == np.float64 else np.float32
        dtype = check_dtype(dtype)
        matrix = as_float_array(embeddings, dtype, "embeddings")
        if matrix.ndim != 2:
            raise ValueError(f"embeddings must be 2-D (num_embeddings, embedding_dim), "
                             f"got {matrix.ndim}-D with shape {matrix.shape}")
        if matrix.shape[0] == 0 or matrix.shape[1] == 0:
            raise ValueError(f"embeddings must not be empty, got shape {matrix.shape}")
        if not isinstance(freeze, (bool, np.bool_)):
            raise TypeError(f"freeze must be a bool, got {freeze!r}")
        layer = cls.__new__(cls)
        layer.num_embeddings, layer.embedding_dim = matrix.shape
        layer.padding_idx = _check_padding_idx(padding_idx, layer.num_embeddings)
        layer.dtype = dtype
        layer.frozen = bool(freeze)
        layer.training = True
        layer._rng = np.random.default_rng(None)
        layer._init_params(dtype)
        layer.params["weight"][...] = matrix
        return layer

    # ------------------------------------------------------------- checking
    def _check_ids(self, ids):
        """ids as a flat C-contiguous int64 array and their shape, or raise."""
        try:
            arr = np.asarray(ids)
        except Exception as exc:  # ragged nested lists, broken __array__, ...
            raise TypeError(f"ids could not be read as an integer array ({exc}); pad "
                            "sequences of different lengths to one length first") from exc
        kind = arr.dtype.kind
        if arr.size == 0 and kind in "iuf":
            # nothing to look up ([] reads as float64): an empty result
            return np.empty(0, np.int64), arr.shape
        if kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {arr.dtype}"
                            + (" (round or cast them to int first)" if kind == "f" else ""))
        V = self.num_embeddings
        if arr.dtype == np.uint64 and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"ids must be in [0, {V}), got {arr.max()}")
        flat = np.ascontiguousarray(arr, dtype=np.int64).reshape(-1)
        bad = _embedding.check_ids(flat, V)
        if bad >= 0:
            index = np.unravel_index(bad, arr.shape) if arr.ndim else ()
            raise ValueError(f"ids must be in [0, {V}) (num_embeddings={V}); got "
                             f"{flat[bad]} at index {tuple(int(i) for i in index)}")
        return flat, arr.shape

    # -------------------------------------------------------------- forward
    def forward(self, ids, *, training=None):
        """Look up the vectors of ``ids``.

        Parameters
        ----------
        ids : array-like of int, of any shape, e.g. (B, T)
            Integers in [0, num_embeddings).  Floats are refused (TypeError),
            ids out of range too (ValueError), before any work.
        training : bool, optional
            Training keeps the ids for ``backward``; inference reads the table
            and nothing else, so any number of threads may run it at once.
            Defaults to the mode set by ``train()``/``eval()``.

        Returns
        -------
        out : ndarray of shape ids.shape + (E,)
            A new array (never a view of the table).
        """
        flat, shape = self._check_ids(ids)
        out_shape = tuple(shape) + (self.embedding_dim,)
        n_bytes = flat.size * self.embedding_dim * np.dtype(self.dtype).itemsize
        if n_bytes > 1 << 28:
            check_memory(n_bytes, f"Embedding.forward on {flat.size} ids")
        if not self._mode(training):
            return self._lookup(flat, out_shape)
        with self._training_call():
            out = self._lookup(flat, out_shape)
            # a private copy: the caller may reuse its id array before backward
            self._record((_private(flat, ids), out_shape))
            return out

    __call__ = forward

    def _lookup(self, flat, out_shape, P=None):
        """W[ids] of checked flat ids; ``P``: named views to read instead of
        ``self.params`` (a snapshot)."""
        out = np.empty((flat.size, self.embedding_dim), self.dtype)
        # out = W[ids]   (N, E) from (V, E)
        _embedding.gather((self.params if P is None else P)["weight"], flat, out)
        return out.reshape(out_shape)

    # ------------------------------------------------------------- backward
    def backward(self, d_out):
        """Accumulate the gradient on the table from the last training forward.

        Parameters
        ----------
        d_out : array-like of shape ids.shape + (E,)
            Gradient of the loss on the forward's output.

        Returns
        -------
        None
            Ids are integers: there is no input gradient.

        ``grads["weight"]`` is overwritten with the full gradient (zero
        everywhere but the rows of the ids seen, zero on ``padding_idx``, all
        zero when ``frozen``).
        """
        with self._training_call():
            flat, out_shape = self._recorded()
            d = as_float_array(d_out, self.dtype, "d_out")
            if d.shape != out_shape:
                raise ValueError(f"d_out must have shape {out_shape} (the forward's "
                                 f"output), got {d.shape}")
            dW = self.grads["weight"]
            if self.frozen:
                dW[...] = 0
                return None
            pad = -1 if self.padding_idx is None else self.padding_idx
            # dW = 0; dW[ids[n]] += d_out[n] for n in order   (V, E) from (N, E)
            _embedding.scatter_add(flat, d.reshape(flat.size, self.embedding_dim), dW, pad)
        return None

    def __repr__(self):
        args = [str(self.num_embeddings), str(self.embedding_dim)]
        if self.padding_idx is not None:
            args.append(f"padding_idx={self.padding_idx}")
        if self.frozen:
            args.append("frozen=True")
        args.append(f"dtype={np.dtype(self.dtype).name}")
        return f"Embedding({', '.join(args)})"

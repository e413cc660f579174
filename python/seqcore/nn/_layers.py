"""Recurrent layers: ``RNN``, ``GRU``, ``LSTM`` and ``MGU`` on the compiled core.

Design: one base class holds everything; the subclasses only name their cell
kind, whose descriptor (``_cells.py``) says what the scans need.
A layer is a stack of ``num_layers`` x ``num_directions`` scans, each one call
into ``seqcore._recurrent`` (the time loop, in C).  This module does the
bookkeeping around those calls, all vectorised in NumPy, never per step:

* the batch is sorted by decreasing length and laid out time-major, so at
  step t the running samples are the first ``n_active[t]`` rows and padded
  steps are never computed (PyTorch's packed sequences without the packing);
* a backward direction is the same scan over each sequence reversed within
  its own length;
* layer k+1 reads the concatenated outputs of layer k.

Inference has a fast path for small calls, whose cost is mostly this module's
bookkeeping rather than the core's arithmetic:

* the parameters in the form the scans read them (``_Weights``: W_ih and
  W_hh packed, the summed biases) are built once and kept; they serve while
  the parameters hold the same bits as the private copy they were built from
  (``same_bits``), so any writer (an optimizer step, ``load_state_dict``, a
  direct write into ``params``, unpickling) makes the next call rebuild them,
  without having to announce itself;
* what a batch of one shape needs when every sequence runs all its steps
  (the layout, the row ranges, the memory estimate) is computed once per
  shape (``_Plan``); such a batch is never sorted nor gathered;
* an input of the common kind (a C-contiguous ndarray of the layer's dtype
  and shape) is accepted by a few attribute tests, and only its values are
  checked (``all_finite_fast``: one dot product for a small array).

All parameters live in one flat buffer, exposed as named views in PyTorch's
names, shapes and gate order; the gradients likewise.  Clipping and the
optimizers work on the flat buffers.
"""


import os

import numpy as np

from .. import _blas, _recurrent
from .._validation import (all_finite_fast, as_float_array, check_dtype, check_lengths,
                           check_positive_int)
from ._base import Layer, _in_parallel, check_memory, fill_uniform  # noqa: F401 (re-exported)
from ._cells import CELLS

_MERGE_MODES = ("concat", "sum", "mul", "ave")


# Scans run on several threads (the core releases the GIL): the two
# directions of a bidirectional layer run at once, and the time loop of a
# unidirectional layer splits its batch into row ranges, one per BLAS thread,
# each on a one-thread BLAS (see src/seqcore/_recurrent.pyx).  Set to False to
# run everything on the calling thread.
CONCURRENT_SCANS = True
# A job of the core (a projection, a time loop, the weight gradients) of
# fewer multiply-adds than this runs its parts on the calling thread: the
# smallest size at which sharing never made a fit slower than one thread
# (the measurements are in benchmarks/README.md, "Rules and the runs behind them").
MIN_SHARED_WORK = 1 << 22
# A range keeps at least this many rows, and a time loop of fewer
# multiply-adds (T * B * G*H * H) than MIN_SPLIT_WORK stays whole: its job
# would not be shared, and two ranges in turn make smaller register blocks
# than one.
MIN_ROWS_PER_RANGE = 8
MIN_SPLIT_WORK = MIN_SHARED_WORK
# The input projection and the weight gradients run on the core's packed
# kernels (include/seqcore/matmul.h) rather than the BLAS: on AVX-512 they
# beat OpenBLAS's GEMMs (see benchmarks/README.md).  False: the BLAS.
PACKED_PRODUCTS = True
# How many row ranges a large scan is cut into (see _row_ranges); threads run
# them at once when the user allows more than one BLAS thread.
SCAN_PARTS = 2
# Forward passes whose buffers would take more than this are checked against
# the free memory first (reading it costs more than a small pass).
CHECK_MEMORY_ABOVE = 1 << 28
# Inference of a unidirectional layer runs sequences longer than this in
# chunks of this many steps, carrying the state, so that its working memory
# does not grow with the length.
EVAL_CHUNK_STEPS = 256

def _row_ranges(batch, work):
    """Row ranges of the batch for one scan's time loop.

    Chosen from the shape alone, never from the thread count: the threads
    only decide how many ranges run at once, so results are bit-identical
    for any number of threads (float32 GEMMs round differently on different
    row counts).  Two ranges of about equal work (rows run ``lengths`` steps
    each), or one for small loops.
    """
    parts = min(SCAN_PARTS, batch.B // MIN_ROWS_PER_RANGE)
    if parts < 2 or work < MIN_SPLIT_WORK:
        return _whole_batch(batch.B)
    if batch.full:
        bounds = np.array([batch.B * i // parts for i in range(parts + 1)])
    else:
        steps = np.cumsum(batch.lengths)
        cuts = np.searchsorted(steps, steps[-1] * np.arange(1, parts) / parts) + 1
        bounds = np.unique(np.clip(np.concatenate([[0], cuts, [batch.B]]), 0, batch.B))
    return np.column_stack([bounds[:-1], bounds[1:]]).astype(np.intp)


def _whole_batch(B):
    return np.array([[0, B]], dtype=np.intp)


def _share(threads, work):
    """Threads for one job of the core of ``work`` multiply-adds: jobs below
    MIN_SHARED_WORK run on the caller alone (a worker's hand-off and the
    odd late start cost more than the second core saves there)."""
    return threads if work >= MIN_SHARED_WORK else 1


def _scan_threads():
    """Threads a scan's parts may run on: the user's BLAS thread count (all
    CPUs when it is unknown), 1 without CONCURRENT_SCANS."""
    if not CONCURRENT_SCANS:
        return 1
    n = _blas.user_blas_threads()
    return n if n > 0 else (os.cpu_count() or 1)


# Shapes whose plan a layer keeps (see _plan); more are dropped all at once.
PLANS_KEPT = 32
# Below this many bytes, comparing two arrays' bytes copies both and runs
# one memcmp (the fastest way for small ones); above, NumPy compares them
# as integers without copying.
_BYTES_COMPARE = 1 << 16
_UINTS = {4: np.uint32, 8: np.uint64}
# Zero-size arrays stand for an absent buffer in the core's calls: one per
# dtype and rank, shared (nothing can be written into them).
_EMPTY = {(dt, n): np.empty((0,) * n, dt) for dt in (np.float32, np.float64) for n in range(4)}


def same_bits(a, b):
    """Whether two contiguous 1-D arrays of one dtype hold the same bits (a
    NaN equals itself, -0.0 differs from 0.0): the test that a cache of
    values derived from parameters still describes them, whoever wrote them."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.nbytes <= _BYTES_COMPARE:
        return a.tobytes() == b.tobytes()
    u = _UINTS[a.itemsize]
    return bool(np.array_equal(a.view(u), b.view(u)))


def _read_only(a):
    a.flags.writeable = False
    return a


class _Weights:
    """The parameters in the form the scans read them, per scan (layer k,
    direction d, at index k*D + d) the tuple ``(W_ih, W_ih packed, W_hh,
    (W_hh packed, its gated rows packed), bias, b_hh, extra, W_hr)``.

    Inference keeps the last one (read-only, shared by every thread) with
    ``source``, the private copy of the flat parameters it was built from,
    and ``config``, the module switches that shaped it; training builds one
    per call on the live parameters (``source`` None).
    """

    __slots__ = ("source", "config", "scans")

    def __init__(self, source, config, scans):
        self.source, self.config, self.scans = source, config, scans

    def describes(self, flat):
        """Whether these weights were built from parameters with ``flat``'s
        bits, under the current switches."""
        return (self.config == _weights_config() and self.source is not None
                and same_bits(self.source, flat))


def _weights_config():
    return PACKED_PRODUCTS


class _Plan:
    """What inference on a batch of one shape needs when every sequence runs
    all T steps, computed once per shape: the batch's layout (never sorted),
    its row ranges and the bytes a pass allocates."""

    __slots__ = ("batch", "ranges", "n_bytes", "shapes", "works")

    def __init__(self, batch, ranges, n_bytes, shapes, works):
        self.batch, self.ranges, self.n_bytes = batch, ranges, n_bytes
        # for the plain pass (_infer_plain): the shapes of h_n, c_n, and of
        # one layer's Hs, Cs, gates, aux, work, pwork (None: not needed),
        # and per layer the multiply-adds of its projection and time loop
        self.shapes, self.works = shapes, works


class _Batch:
    """Order and lengths of one batch, in the layout the core wants."""

    def __init__(self, lengths, n_timesteps):
        B, T = len(lengths), n_timesteps
        self.T, self.B = T, B
        self.full = bool((lengths == T).all())
        if self.full:   # the common case, without sorting
            self.order = self.inverse = np.arange(B)
            self.identity = True
            self.lengths = lengths
            self.n_active = np.full(T, B, dtype=np.intc)
        else:
            # sort by decreasing length, stably, so equal lengths keep their order
            self.order = np.argsort(-lengths, kind="stable")
            self.identity = bool(np.all(self.order == np.arange(B)))
            self.inverse = np.argsort(self.order)
            self.lengths = lengths[self.order]
            # n_active[t] = number of samples with length > t
            counts = np.bincount(self.lengths, minlength=T + 1)
            self.n_active = (B - np.cumsum(counts)[:T]).astype(np.intc)
        self._rev_t = None

    def to_time_major(self, a):
        """(B, T, ...) in the caller's order -> (T, B, ...) sorted: always a new array.

        Never a view: the scans keep it for backward, and the caller may
        change its own array in between.
        """
        if not self.identity:
            a = a[self.order]
        return a.swapaxes(0, 1).copy(order="C")

    def to_batch_major(self, a):
        """(T, B, ...) sorted -> (B, T, ...) in the caller's order (a copy)."""
        a = a.swapaxes(0, 1)
        return a[self.inverse] if not self.identity else a.copy()

    def reverse(self, a):
        """Reverse each sequence of a time-major (T, B, ...) array in its length."""
        if self.full:
            return np.ascontiguousarray(a[::-1])
        if self._rev_t is None:
            # time index of step t of the reversed sequence: length - 1 - t
            # inside the sequence, t itself on padding (which stays padding)
            t = np.arange(self.T)[:, None]
            self._rev_t = np.where(t < self.lengths, self.lengths - 1 - t, t)
            self._cols = np.arange(self.B)[None, :]
        return a[self._rev_t, self._cols]

    def sort_states(self, s):
        """(L*D, B, H) in the caller's order -> sorted, contiguous."""
        return np.ascontiguousarray(s[:, self.order])

    def unsort_states(self, s):
        return np.ascontiguousarray(s[:, self.inverse])


class _Scan:
    """The buffers of one forward scan (one layer, one direction)."""

    __slots__ = ("X", "Hs", "Hm", "mask", "Cs", "gates", "aux", "h_n", "c_n", "ranges",
                 "threads")


class _RNNBase(Layer):
    """Base of the recurrent layers; the subclasses only name their cell kind
    (``_cell``, a descriptor of ``nn._cells.CELLS``) and its options."""

    _cell = None

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 bidirectional=False, merge_mode="concat", dropout=0.0,
                 recurrent_dropout=0.0, dtype=np.float32, random_state=None,
                 **options):
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.bidirectional = bool(bidirectional)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {_MERGE_MODES}, got {merge_mode!r}")
        self.merge_mode = merge_mode
        for name, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if (isinstance(value, (bool, np.bool_))
                    or not isinstance(value, (int, float, np.floating)) or not 0 <= value < 1):
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.dtype = check_dtype(dtype)
        self.options = self._cell.check_options(options)
        for name, value in self.options.items():   # e.g. layer.reset_after
            setattr(self, name, value)
        self._layout = self._cell.layout(self.options)
        proj = self.options.get("proj_size", 0)
        if proj and not proj < self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size={self.hidden_size}, "
                             f"got {proj}")
        # P: the size of the state h (and of the outputs): the projection's, or H
        self.state_size = proj or self.hidden_size
        self.training = True
        self._rng = np.random.default_rng(random_state)
        self._workspace = {}
        self._plans, self._inference = {}, None
        self._init_params(self.dtype)
        self.reset_parameters()

    # ------------------------------------------------------------------ setup
    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def output_size(self):
        """Features of each output step: D*P for 'concat', else P (P = H, or
        proj_size)."""
        if self.bidirectional and self.merge_mode == "concat":
            return 2 * self.state_size
        return self.state_size

    @property
    def _proj(self):
        return self.state_size != self.hidden_size

    @property
    def _two_states(self):
        return self._layout.n_states == 2

    def _scan_param_shapes(self, k, d):
        G, H, P = self._layout.G, self.hidden_size, self.state_size
        sfx = f"_l{k}" + ("_reverse" if d else "")
        out = [(f"weight_ih{sfx}", (G * H, self.input_size if k == 0 else self.output_size)),
               (f"weight_hh{sfx}", (G * H, P)),
               (f"bias_ih{sfx}", (G * H,)),
               (f"bias_hh{sfx}", (G * H,))]
        if self._layout.extra_rows:
            out.append((f"{self._layout.extra_name}{sfx}", (self._layout.extra_rows, H)))
        if self._proj:   # PyTorch's name and place: after the biases
            out.append((f"weight_hr{sfx}", (P, H)))
        return out

    def _param_count(self):
        # layers 1 .. L-1 all have the same shapes: count without listing them
        # (a huge num_layers is refused before anything is built)
        D = self.num_directions
        first = sum(int(np.prod(s)) for _, s in self._scan_param_shapes(0, 0))
        rest = (sum(int(np.prod(s)) for _, s in self._scan_param_shapes(1, 0))
                if self.num_layers > 1 else 0)
        return D * (first + (self.num_layers - 1) * rest)

    def _param_shapes(self):
        return [p for k in range(self.num_layers) for d in range(self.num_directions)
                for p in self._scan_param_shapes(k, d)]

    _TRANSIENT = Layer._TRANSIENT + ("_workspace", "_plans", "_inference")

    def __setstate__(self, state):
        super().__setstate__(state)
        self._workspace = {}
        self._plans, self._inference = {}, None

    def reset_parameters(self):
        """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch does."""
        bound = 1.0 / np.sqrt(self.hidden_size)
        fill_uniform(self._rng, self._flat_params, -bound, bound)

    def release_buffers(self):
        """Free the buffers training keeps between calls (and the last
        forward's activations) and the packed weights inference keeps; the
        next call builds them anew."""
        super().release_buffers()
        self._workspace = {}
        self._plans, self._inference = {}, None

    def _buffer(self, key, shape, zero, training):
        """An array for a scan.  Training (which holds the layer's training
        lock) reuses the one of the last call of the same shape: no
        allocation, no page faults; zeroed if ``zero``.  Inference allocates,
        so that threads may share a layer."""
        if not training:
            return np.zeros(shape, self.dtype) if zero else np.empty(shape, self.dtype)
        a = self._workspace.get(key)
        if a is None or a.shape != shape:
            a = self._workspace[key] = np.zeros(shape, self.dtype)
        elif zero:
            a.fill(0)
        return a

    def _work_bytes(self, B, T, training):
        """About the bytes one forward pass over (B, T) allocates (with the
        backward pass's, when training)."""
        G, H = self._layout.G, self.hidden_size
        D, L = self.num_directions, self.num_layers
        if not training and D == 1 and T > EVAL_CHUNK_STEPS:
            T = EVAL_CHUNK_STEPS
        I = max(self.input_size, self.output_size)
        per_scan = (T + 1) * B * H * (self._layout.n_states + 1) + T * B * (G * H + I + 2 * H)
        if training:
            per_scan += T * B * (2 * G * H + I + H)
        return L * D * per_scan * np.dtype(self.dtype).itemsize

    def _scan_params(self, P, k, d):
        """(W_ih, W_hh, b_ih, b_hh, extra, W_hr) of one scan from named views P."""
        sfx = f"_l{k}" + ("_reverse" if d else "")
        extra = (P[f"{self._layout.extra_name}{sfx}"] if self._layout.extra_rows
                 else self._empty(2))
        W_hr = P[f"weight_hr{sfx}"] if self._proj else self._empty(2)
        return [P[f"{n}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + [
            extra, W_hr]

    def _empty(self, ndim):
        return _EMPTY[self.dtype, ndim]

    # ------------------------------------------------------------- weights
    def _weights_of(self, P, source=None):
        """``_Weights`` of named views P (read-only when ``source`` is given:
        views of a private copy)."""
        D, H = self.num_directions, self.hidden_size
        lay = self._layout
        scans = []
        for k in range(self.num_layers):
            for d in range(D):
                W_ih, W_hh, b_ih, b_hh, extra, W_hr = self._scan_params(P, k, d)
                bias = b_ih + b_hh
                if lay.separate_bias >= 0:   # its b_hh sits inside the gate's own product
                    block = slice(lay.separate_bias * H, (lay.separate_bias + 1) * H)
                    bias[block] = b_ih[block]
                W_ih_packed = (_recurrent.pack_matrix(W_ih, True) if PACKED_PRODUCTS
                               else self._empty(1))
                W_packed = self._pack_hidden(W_hh, backward=False)
                if source is not None:
                    for a in (bias, W_ih_packed) + tuple(W_packed):
                        if a.size:
                            _read_only(a)
                scans.append((W_ih, W_ih_packed, W_hh, W_packed, bias, b_hh, extra, W_hr))
        return _Weights(source, _weights_config(), scans)

    def _inference_weights(self):
        """The layer's own parameters as ``_Weights``: the kept ones while the
        parameters hold the bits they were built from, else new ones (kept)."""
        kept, flat = self._inference, self._flat_params
        if kept is not None and kept.describes(flat):
            return kept
        source = _read_only(flat.copy())
        kept = self._inference = self._weights_of(self._views(source), source)
        return kept

    def _plan(self, B, T):
        """The ``_Plan`` of a (B, T) batch of full-length sequences (kept per
        shape and per value of the switches that shape it)."""
        key = (B, T, SCAN_PARTS, MIN_ROWS_PER_RANGE, MIN_SPLIT_WORK)
        plan = self._plans.get(key)
        if plan is None:
            batch = _Batch(np.full(B, T, dtype=np.int64), T)
            lay, H, P, L = self._layout, self.hidden_size, self.state_size, self.num_layers
            GH = lay.G * H
            two = lay.n_states == 2
            shapes = ((L, B, P), (L, B, H) if two else None, (T + 1, B, P),
                      (2, B, H) if two else None, (T, B, GH), (1, B, H) if lay.aux else None,
                      (B, GH), (B, H) if P != H else None)
            works = [(T * B * (self.input_size if k == 0 else self.output_size) * GH,
                      T * B * GH * P) for k in range(L)]
            plan = _Plan(batch, _row_ranges(batch, T * B * GH * H), self._work_bytes(B, T, False),
                         shapes, works)
            if len(self._plans) >= PLANS_KEPT:
                self._plans = {}
            self._plans[key] = plan
        return plan

    # ------------------------------------------------------------- checking
    def _check_X(self, X):
        if (type(X) is np.ndarray and X.dtype.type is self.dtype and X.dtype.isnative
                and X.ndim == 3 and X.flags.c_contiguous and X.flags.aligned
                and X.shape[0] and X.shape[1]
                and X.shape[2] == self.input_size and all_finite_fast(X)):
            # the common kind of input, which every check below would pass
            # as it is: only its values needed checking
            return X
        X = as_float_array(X, self.dtype, "X")
        if X.ndim != 3:
            raise ValueError(
                f"X must be 3-D (batch, time steps, features), got {X.ndim}-D "
                f"with shape {X.shape}")
        B, T, I = X.shape
        if B == 0:
            raise ValueError("X has no samples (batch size 0)")
        if T == 0:
            raise ValueError("X has sequences of length zero")
        if I != self.input_size:
            raise ValueError(f"X has {I} features, but this layer expects "
                             f"input_size={self.input_size}")
        return X

    def _check_state(self, state, B, name):
        """(h, c) as (L*D, B, P) and (L*D, B, H) arrays or None each (c None
        for one-state kinds)."""
        if state is None:
            return None, None
        if self._two_states:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise TypeError(f"{name} of an {type(self).__name__} must be a pair (h, c)")
            h, c = state
        else:
            h, c = state, None
        out = []
        for part, label in ((h, "h"), (c, "c")):
            if part is None:
                out.append(None)
                continue
            shape = (self.num_layers * self.num_directions, B,
                     self.state_size if label == "h" else self.hidden_size)
            arr = as_float_array(part, self.dtype, f"{name} ({label})")
            if arr.shape != shape:
                raise ValueError(f"{name} ({label}) must have shape {shape} "
                                 f"(layers*directions, batch, hidden), got {arr.shape}")
            out.append(arr)
        return tuple(out)

    def _state(self, h, c):
        """What the caller sees: h, or the pair (h, c) for two-state kinds."""
        return (h, c) if self._two_states else h

    # -------------------------------------------------------------- forward
    def forward(self, X, lengths=None, initial_state=None, *, training=None):
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        X : array-like of shape (B, T, I)
            Batch-first input sequences.
        lengths : array-like of int of shape (B,), optional
            Length of each sequence; steps beyond it are padding, which
            changes neither the outputs nor the gradients.
        initial_state : array of shape (L*D, B, H), or a pair (h_0, c_0) of
            them for the LSTM, optional
            Zero when omitted.
        training : bool, optional
            Training keeps what ``backward`` needs and applies dropout;
            inference reads the parameters and nothing else, so any number
            of threads may run it at once.  Defaults to the mode set by
            ``train()``/``eval()`` (training for a new layer).

        Returns
        -------
        outputs : ndarray of shape (B, T, D*H) (B, T, H when a bidirectional
            layer merges its directions by 'sum', 'mul' or 'ave')
            The last layer's hidden state at every step; 0 on padding.
        state : ndarray of shape (L*D, B, H), or the pair (h_n, c_n)
            Each sample's state at its own last step, ordered like PyTorch.
        """
        return self._forward(X, lengths, initial_state, training=self._mode(training))

    __call__ = forward

    def _forward(self, X, lengths, initial_state, outputs=True, training=False,
                 params=None, trusted=False, weights=None):
        """``forward`` in the given mode; ``outputs=False`` may return None for
        the outputs (inference of long sequences then keeps only a chunk's
        worth); ``params``: named views to read instead of ``self.params``
        (inference on a snapshot of the weights); ``weights``: a ``_Weights``
        to read instead (a network's kept ones); ``trusted``: the caller has
        checked X (a C-contiguous (B, T, I) array of the layer's dtype),
        ``lengths`` (int64, or None for all T steps) and the state already
        (a training set checked once in ``fit``)."""
        if trusted:
            B, T, _ = X.shape
            h0, c0 = (None, None) if initial_state is None else (
                initial_state if self._two_states else (initial_state, None))
        else:
            X = self._check_X(X)
            B, T, _ = X.shape
            if lengths is not None:
                lengths = check_lengths(lengths, B, T)
            h0, c0 = (None, None) if initial_state is None else self._check_state(
                initial_state, B, "initial_state")
        if lengths is not None and lengths.min() == T:
            lengths = None   # every sequence runs all steps: the batch's plan serves
        if training:
            self._check_work(B, T, True, None)
            with self._training_call():
                return self._forward_whole(X, _Batch(self._lengths(lengths, B, T), T), h0, c0,
                                           True, self._weights_of(
                                               self.params if params is None else params))
        W = (weights if weights is not None else self._inference_weights() if params is None
             else self._weights_of(params))
        plan = self._plan(B, T) if lengths is None else None
        self._check_work(B, T, False, plan)
        if not self.bidirectional and T > EVAL_CHUNK_STEPS:
            return self._forward_chunked(X, self._lengths(lengths, B, T), h0, c0, outputs, W)
        if plan is not None:
            if not self.bidirectional and h0 is None and c0 is None:
                return self._infer_plain(X, plan, W, outputs)
            return self._forward_whole(X, plan.batch, h0, c0, False, W, plan.ranges)
        return self._forward_whole(X, _Batch(lengths, T), h0, c0, False, W)

    @staticmethod
    def _lengths(lengths, B, T):
        return np.full(B, T, dtype=np.int64) if lengths is None else lengths

    def _check_work(self, B, T, training, plan):
        """Refuse, before allocating, a pass whose buffers the machine cannot hold."""
        n_bytes = plan.n_bytes if plan is not None else self._work_bytes(B, T, training)
        if n_bytes > CHECK_MEMORY_ABOVE:
            check_memory(n_bytes, f"{type(self).__name__}.forward on a batch of {B} "
                                  f"sequences of {T} steps")

    def _forward_chunked(self, X, lengths, h0, c0, outputs, W):
        """Inference in chunks of EVAL_CHUNK_STEPS steps through all layers,
        each chunk starting from the state the last one ended in.  Agrees
        with a whole-sequence pass to rounding (the projection GEMM may round
        differently on fewer rows)."""
        B, T, _ = X.shape
        two, k = self._two_states, EVAL_CHUNK_STEPS
        L = self.num_layers
        h = h0.copy() if h0 is not None else np.zeros((L, B, self.state_size), self.dtype)
        c = ((c0.copy() if c0 is not None else np.zeros((L, B, self.hidden_size), self.dtype))
             if two else None)
        out = np.zeros((B, T, self.output_size), self.dtype) if outputs else None
        for s in range(0, T, k):
            rows = np.flatnonzero(lengths > s)   # samples still running
            if rows.size == 0:
                break
            len_c = np.minimum(lengths[rows] - s, k)
            width = int(len_c.max())
            # a view while every sample runs: no copy of the input chunk
            Xc = X[:, s:s + width] if rows.size == B else X[rows, s:s + width]
            out_c, state = self._forward_whole(Xc, _Batch(len_c, width), h[:, rows],
                                               c[:, rows] if two else None, False, W)
            h[:, rows] = state[0] if two else state
            if two:
                c[:, rows] = state[1]
            if outputs:
                out[rows, s:s + width] = out_c
        return out, self._state(h, c)

    def _forward_whole(self, X, batch, h0, c0, training, W, ranges=None):
        """All layers over the whole batch; ``W`` the ``_Weights`` to read,
        ``ranges`` the batch's row ranges when known (a plan's)."""
        B, T = batch.B, batch.T
        two = self._two_states
        L, D, H, S = self.num_layers, self.num_directions, self.hidden_size, self.state_size
        # no initial state: the scans start from zeros
        if h0 is not None:
            h0 = batch.sort_states(h0)
        if two and c0 is not None:
            c0 = batch.sort_states(c0)
        h_n = np.empty((L * D, B, S), self.dtype)
        c_n = np.empty((L * D, B, H), self.dtype) if two else None
        # a scan splits its batch into row ranges, which the core's pool runs
        # at once; the two directions of a bidirectional layer run at once,
        # each on its own thread (measured faster than in turn on the pool,
        # idle and busy: benchmarks/README.md).  Either way
        # seqcore shares out the work itself and every BLAS call runs on one
        # thread: the idle threads of a multi-threaded BLAS spin for a while
        # after each call and would take the core from the other scan, and
        # float32 GEMMs round differently on different thread counts.
        threads = _scan_threads()
        G = self._layout.G
        if ranges is None:
            ranges = _row_ranges(batch, T * B * G * H * H)
        at_once = threads > 1 and D == 2
        # the ranges never change with the threads (results would round
        # differently): directions at once run theirs on their own thread
        plan = (ranges, 1 if at_once else threads)
        # recurrent dropout: one mask per sequence and scan, drawn here in a
        # fixed order (the scans may run on other threads), in the caller's
        # sample order, then sorted like the batch
        masks_h = [None] * (L * D)
        if training and self.recurrent_dropout > 0:
            keep = 1.0 - self.recurrent_dropout
            for i in range(L * D):
                m = (self._rng.random((B, S)) < keep).astype(self.dtype) / self.dtype(keep)
                masks_h[i] = np.ascontiguousarray(m[batch.order])

        scans, masks, parts = [], [], []
        inp = batch.to_time_major(X)
        for k in range(L):
            outs = []
            def run(d, k=k, inp=inp):
                x_in = batch.reverse(inp) if d else inp
                i = k * D + d
                scan = self._forward_scan(k, d, x_in, batch, None if h0 is None else h0[i],
                                          c0[i] if two and c0 is not None else None,
                                          masks_h[i], plan, training, W.scans[i])
                out = scan.Hs[1:]
                return scan, (batch.reverse(out) if d else out)

            for d, (scan, out) in enumerate(_in_parallel(run, D, at_once)):
                scans.append(scan)
                outs.append(out)
                h_n[k * D + d] = scan.h_n
                if two:
                    c_n[k * D + d] = scan.c_n
            inp = self._merge(outs) if D > 1 else outs[0]
            parts.append(outs)
            if training and self.dropout > 0 and k < L - 1:
                # inverted dropout between layers, drawn from the layer's own
                # rng (training only: the rng is training state)
                keep = 1.0 - self.dropout
                mask = (self._rng.random(inp.shape) < keep).astype(self.dtype) / self.dtype(keep)
                inp = inp * mask
                masks.append(mask)
            else:
                masks.append(None)

        if training:
            self._record((batch, scans, masks, parts, at_once))
        outputs = batch.to_batch_major(inp)   # a copy: never a view of a buffer
        if not batch.identity:   # h_n, c_n are this call's own arrays: no copy otherwise
            h_n = batch.unsort_states(h_n)
            c_n = batch.unsort_states(c_n) if two else None
        return outputs, self._state(h_n, c_n)

    def _infer_plain(self, X, plan, W, outputs):
        """Inference of a unidirectional stack on a full batch from zero
        states: the calls into the core that ``_forward_whole`` makes for it,
        without its general bookkeeping (nothing to sort, reverse, mask or
        hand to another thread; the final states written in place; the
        shapes from the plan), so the same numbers with less Python per call."""
        dt, lay = self.dtype, self._layout
        hn_shape, cn_shape, hs_shape, cs_shape, g_shape, aux_shape, w_shape, pw_shape = (
            plan.shapes)
        two = cn_shape is not None
        e2, e3 = _EMPTY[dt, 2], _EMPTY[dt, 3]
        threads = _scan_threads()
        n_active, ranges, n = plan.batch.n_active, plan.ranges, len(plan.ranges)
        h_n = np.empty(hn_shape, dt)
        c_n = np.empty(cn_shape, dt) if two else None
        x = X.swapaxes(0, 1).copy()   # time-major (T, B, I)
        for k, (W_ih, W_ih_packed, W_hh, W_packed, bias, b_hh, extra, W_hr) in enumerate(
                W.scans):
            Hs = np.empty(hs_shape, dt)
            Hs[0] = 0
            if two:
                Cs = np.empty(cs_shape, dt)   # inference keeps the last state only
                Cs[0] = 0
            gates = np.empty(g_shape, dt)
            work_proj, work_steps = plan.works[k]
            _recurrent.project(x, W_ih, gates, W_ih_packed, n, _share(threads, work_proj))
            _recurrent.forward_steps(
                lay.code, lay.flags, False, n_active, W_hh, bias, b_hh, extra, W_hr,
                np.empty(pw_shape, dt) if pw_shape else e2, e2, Hs, e3, Cs if two else e3,
                gates, np.empty(aux_shape, dt) if aux_shape else e3, np.empty(w_shape, dt),
                h_n[k], c_n[k] if two else e2, *W_packed, ranges, _share(threads, work_steps))
            x = Hs[1:]
        # a copy: never a view of a buffer
        return (x.swapaxes(0, 1).copy() if outputs else None), self._state(h_n, c_n)

    def _forward_scan(self, k, d, x_in, batch, h0, c0, mask, plan, train, w):
        """One scan (one layer, one direction) on its ``_Weights`` entry ``w``;
        h0, c0 None: zeros."""
        T, B, _ = x_in.shape
        lay, H, P = self._layout, self.hidden_size, self.state_size
        G = lay.G
        W_ih, W_ih_packed, W_hh, W_packed, bias, b_hh, extra, W_hr = w
        # padded rows must read 0; a full batch writes every row
        pad = not batch.full
        s = _Scan()
        s.X, (s.ranges, s.threads) = x_in, plan
        n = len(s.ranges)
        s.Hs = self._buffer((k, d, "Hs"), (T + 1, B, P), pad, train)
        s.Hs[0] = 0 if h0 is None else h0
        s.mask = mask if mask is not None else self._empty(2)
        s.Hm = (self._buffer((k, d, "Hm"), (T, B, P), pad, train) if mask is not None
                else self._empty(3))
        if self._two_states:
            s.Cs = self._buffer((k, d, "Cs"), (T + 1 if train else 2, B, H), pad, train)
            s.Cs[0] = 0 if c0 is None else c0
            s.c_n = np.empty((B, H), self.dtype)
        else:
            s.Cs, s.c_n = self._empty(3), self._empty(2)
        s.gates = self._buffer((k, d, "gates"), (T, B, G * H), False, train)
        s.aux = (self._buffer((k, d, "aux"), (T if train else 1, B, H), pad, train)
                 if lay.aux else self._empty(3))
        s.h_n = np.empty((B, P), self.dtype)
        work = self._buffer((k, d, "work"), (B, G * H), False, train)
        pwork = (self._buffer((k, d, "pwork"), (B, H), False, train) if self._proj
                 else self._empty(2))
        # n parts (from the shape), run by the core's worker threads
        GH = G * H
        _recurrent.project(x_in, W_ih, s.gates, W_ih_packed, n,
                           _share(s.threads, T * B * x_in.shape[2] * GH))
        _recurrent.forward_steps(
            lay.code, lay.flags, train, batch.n_active, W_hh, bias, b_hh, extra,
            W_hr, pwork, s.mask, s.Hs, s.Hm, s.Cs, s.gates, s.aux, work, s.h_n, s.c_n,
            *W_packed, s.ranges, _share(s.threads, T * B * GH * P))
        return s

    def _pack_hidden(self, W_hh, backward):
        """W_hh packed once for all steps' products: the rows that multiply h
        and the gated rows (empty when the kind has none)."""
        split = (self._layout.G - self._layout.gated_blocks) * self.hidden_size
        GH = W_hh.shape[0]
        H = self.hidden_size
        return (_recurrent.pack_hidden(W_hh, backward, 0, split, H),
                _recurrent.pack_hidden(W_hh, backward, split, GH, H) if split < GH
                else self._empty(1))

    # ------------------------------------------------------------- backward
    def backward(self, d_outputs, d_state=None, *, input_grad=True):
        """Backpropagate through time from the last training ``forward``.

        Parameters
        ----------
        d_outputs : array of shape (B, T, D*H) or None
            Gradient of the loss on ``outputs`` (entries on padding are ignored).
        d_state : array of shape (L*D, B, H), the pair of them for the LSTM, or None
            Gradient of the loss on the final state(s).
        input_grad : bool, default=True
            Compute the gradient on ``X``; False saves a GEMM and returns None.

        Returns
        -------
        d_X : ndarray of shape (B, T, I), or None
        d_initial_state : ndarray of shape (L*D, B, H), or the pair for the LSTM

        The parameter gradients are written to ``self.grads`` (overwritten,
        not accumulated), keyed like ``state_dict()``.  The forward pass must
        have run in training mode in the same thread; a backward pass while
        another thread trains the layer raises ``RuntimeError``.
        """
        with self._training_call():
            return self._backward(self._recorded(), d_outputs, d_state, input_grad)

    def _backward(self, tape, d_outputs, d_state, input_grad):
        batch, scans, masks, parts, both = tape
        B, T = batch.B, batch.T
        L, D, H, P = self.num_layers, self.num_directions, self.hidden_size, self.state_size
        two = self._two_states
        if d_outputs is None:
            d_out = None
        else:
            d_out = as_float_array(d_outputs, self.dtype, "d_outputs")
            if d_out.shape != (B, T, self.output_size):
                raise ValueError(f"d_outputs must have shape {(B, T, self.output_size)}, "
                                 f"got {d_out.shape}")
            d_out = batch.to_time_major(d_out)
        dh_n, dc_n = self._check_state(d_state, B, "d_state")
        dh_n = batch.sort_states(dh_n) if dh_n is not None else None
        dc_n = batch.sort_states(dc_n) if dc_n is not None else None

        d_h0 = np.empty((L * D, B, P), self.dtype)
        d_c0 = np.empty((L * D, B, H), self.dtype) if two else None
        for k in range(L - 1, -1, -1):
            if d_out is not None and masks[k] is not None:
                d_out = d_out * masks[k]
            d_in = None
            d_parts = self._unmerge(d_out, parts[k]) if D > 1 and d_out is not None else [d_out]
            def run(d, k=k, d_parts=d_parts, d_out=d_out):
                i = k * D + d
                dY = None
                if d_out is not None:
                    dY = np.ascontiguousarray(d_parts[d])
                    if d:
                        dY = batch.reverse(dY)
                dX, dh0, dc0 = self._backward_scan(
                    k, d, scans[i], batch, dY,
                    dh_n[i] if dh_n is not None else None,
                    dc_n[i] if dc_n is not None else None,
                    need_dX=k > 0 or input_grad)
                return (batch.reverse(dX) if d and dX is not None else dX), dh0, dc0

            for d, (dX, dh0, dc0) in enumerate(_in_parallel(run, D, both)):
                i = k * D + d
                d_in = dX if d_in is None or dX is None else d_in + dX
                d_h0[i] = dh0
                if two:
                    d_c0[i] = dc0
            d_out = d_in

        # a copy: never a view of a buffer
        d_X = batch.to_batch_major(d_out) if input_grad else None
        return d_X, self._state(batch.unsort_states(d_h0),
                                batch.unsort_states(d_c0) if two else None)

    def _merge(self, outs):
        f, b = outs
        if self.merge_mode == "concat":
            return np.concatenate(outs, axis=-1)
        if self.merge_mode == "sum":
            return f + b
        if self.merge_mode == "mul":
            return f * b
        return (f + b) * self.dtype(0.5)

    def _unmerge(self, d_out, outs):
        """Gradients on [forward, backward] outputs from the gradient on their merge."""
        H = self.state_size
        if self.merge_mode == "concat":
            return [d_out[..., :H], d_out[..., H:]]
        if self.merge_mode == "sum":
            return [d_out, d_out]
        if self.merge_mode == "mul":
            return [d_out * outs[1], d_out * outs[0]]
        half = d_out * self.dtype(0.5)
        return [half, half]

    def _backward_scan(self, k, d, s, batch, dY, dh_n, dc_n, need_dX):
        T, B, I = s.X.shape
        lay, H, P = self._layout, self.hidden_size, self.state_size
        G, two, masked = lay.G, self._two_states, s.mask.shape[0] > 0
        # padded steps' rows stay 0 so they drop out of the weight GEMMs; a
        # full batch writes every row
        pad = not batch.full
        dG = self._buffer((k, d, "dG"), (T, B, G * H), pad, True)
        dGH = (self._buffer((k, d, "dGH"), (T, B, G * H), pad, True) if lay.hidden_grad
               else self._empty(3))
        dh = np.empty((B, P), self.dtype)
        dhm = np.empty((B, P), self.dtype) if masked else self._empty(2)
        dc = np.empty((B, H), self.dtype) if two else self._empty(2)
        work = self._buffer((k, d, "work"), (B, G * H), False, True)
        pwork = (self._buffer((k, d, "pwork2"), (B, 2 * H), False, True) if self._proj
                 else self._empty(2))
        W_ih, W_hh, _, _, extra, W_hr = self._scan_params(self.params, k, d)
        dW_ih, dW_hh, db_ih, db_hh, dextra, dW_hr = self._scan_params(self.grads, k, d)
        n = len(s.ranges)
        W_packed = self._pack_hidden(W_hh, backward=True)
        # each range accumulates its own gradient on the extra weights and
        # the projection; they add up in range order (the ranges depend on
        # the shape only)
        dextras = (dextra[None] if n == 1 or not lay.extra_rows
                   else np.empty((n,) + dextra.shape, self.dtype))
        dW_hrs = (dW_hr[None] if n == 1 or not self._proj
                  else np.empty((n,) + dW_hr.shape, self.dtype))
        # what the hidden products read: the states, or their masked copies
        Hin = s.Hm if masked else s.Hs
        _recurrent.backward_steps(
            lay.code, lay.flags, batch.n_active, W_hh, extra, W_hr, pwork, dW_hrs,
            s.mask, s.Hs, s.Hm, s.Cs, s.gates, s.aux,
            dY if dY is not None else self._empty(3),
            dh_n if dh_n is not None else self._empty(2),
            dc_n if dc_n is not None else self._empty(2),
            dG, dGH, work, dhm, dh, dc, dextras, *W_packed, s.ranges,
            _share(s.threads, T * B * G * H * P))
        for total, parts in ((dextra, dextras), (dW_hr, dW_hrs)):
            if len(parts) > 1 and total.size:
                total[...] = parts[0]
                for part in parts[1:]:
                    total += part
        dX = self._buffer((k, d, "dX"), (T, B, I), False, True) if need_dX else self._empty(3)
        packed = [self._empty(1)] * 4
        if PACKED_PRODUCTS:
            TB, entries = T * B, _recurrent.packed_entries
            packed = [_recurrent.pack_matrix(W_ih, False) if need_dX else self._empty(1),
                      self._buffer((k, d, "PX"), (entries(TB, I, self.dtype),), False, True),
                      self._buffer((k, d, "PH"), (entries(TB, P, self.dtype),), False, True),
                      (self._buffer((k, d, "PA"), (entries(TB, H, self.dtype),), False, True)
                       if lay.gated_blocks else self._empty(1))]
        _recurrent.weight_gradients(
            lay.code, lay.flags, s.X, W_ih, Hin, s.aux, dG, dGH,
            dX, dW_ih, dW_hh, db_ih, db_hh, *packed, n,
            _share(s.threads, T * B * G * H * (2 * I + P)))
        return (dX if need_dX else None), dh, (dc if two else None)

    def __repr__(self):
        args = [str(self.input_size), str(self.hidden_size)]
        if self.num_layers != 1:
            args.append(f"num_layers={self.num_layers}")
        for name, (default, _) in self._cell.options.items():
            if self.options[name] != default:
                args.append(f"{name}={self.options[name]!r}")
        if self.bidirectional:
            args.append("bidirectional=True")
        if self.dropout:
            args.append(f"dropout={self.dropout}")
        if self.recurrent_dropout:
            args.append(f"recurrent_dropout={self.recurrent_dropout}")
        args.append(f"dtype={np.dtype(self.dtype).name}")
        return f"{type(self).__name__}({', '.join(args)})"


_COMMON_DOC = """
    Parameters
    ----------
    input_size : int
        Number of features I of each step.
    hidden_size : int
        Size H of the hidden state.
    num_layers : int, default=1
        Number of stacked layers L; layer k+1 reads the outputs of layer k.
    bidirectional : bool, default=False
        Add a backward direction per layer (D = 2).
    merge_mode : {'concat', 'sum', 'mul', 'ave'}, default='concat'
        How a bidirectional layer combines [forward, backward] outputs (Keras'
        modes; 'concat' is PyTorch's).  Layer k+1 reads the merged outputs.
    dropout : float, default=0.0
        Inverted dropout on the outputs of every layer but the last, in
        training mode only.
    recurrent_dropout : float, default=0.0
        Variational dropout on the state entering the recurrent products: one
        mask per sequence and layer direction, the same at every step
        (Keras' semantics), in training mode only.
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : int, numpy Generator or None
        Seeds the initial weights (U(-1/sqrt(H), 1/sqrt(H)), as PyTorch) and
        the dropout masks.
"""


def _layer_doc(summary, options_doc, loop):
    return summary + _COMMON_DOC + options_doc + "\n    Equivalent to::\n\n" + loop


class RNN(_RNNBase):
    __doc__ = _layer_doc(
        """Elman RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.
""", """    nonlinearity : {'tanh', 'relu'}, default='tanh'
""", """        for t in range(T):
            h = tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
""")
    _cell = CELLS["rnn"]

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 nonlinearity="tanh", bidirectional=False, merge_mode="concat",
                 dropout=0.0, recurrent_dropout=0.0, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, num_layers,
                         bidirectional=bidirectional, merge_mode=merge_mode,
                         dropout=dropout, recurrent_dropout=recurrent_dropout,
                         dtype=dtype, random_state=random_state, nonlinearity=nonlinearity)


class GRU(_RNNBase):
    __doc__ = _layer_doc(
        """Gated recurrent unit, gates in PyTorch's order (r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     # reset_after=True
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)     # reset_after=False
        h' = (1 - z) * n + z * h
""", """    reset_after : bool, default=True
        Apply the reset gate after the hidden product (PyTorch, cuDNN, Keras
        default) or before it (the original GRU).
""", """        for t in range(T):
            gi, gh = x[:, t] @ W_ih.T + b_ih, h @ W_hh.T + b_hh
            r, z = sigmoid(gi[:, :2H] + gh[:, :2H]).split(2)
            n = tanh(gi[:, 2H:] + r * gh[:, 2H:])
            h = (1 - z) * n + z * h
""")
    _cell = CELLS["gru"]

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 reset_after=True, bidirectional=False, merge_mode="concat",
                 dropout=0.0, recurrent_dropout=0.0, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, num_layers,
                         bidirectional=bidirectional, merge_mode=merge_mode,
                         dropout=dropout, recurrent_dropout=recurrent_dropout,
                         dtype=dtype, random_state=random_state, reset_after=reset_after)


class LSTM(_RNNBase):
    __doc__ = _layer_doc(
        """Long short-term memory, gates in PyTorch's order (i, f, g, o)::

        i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h* [+ p_* * c])
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        c' = f * c + i * g
        h' = o * tanh(c')

    With ``peephole=True``, i and f see ``c`` and o sees ``c'`` through the
    diagonal weights ``weight_peep_l{k}`` of shape (3, H), rows (p_i, p_f, p_o).
    With ``proj_size=P`` (PyTorch's projections), ``h' = W_hr (o * tanh(c'))``
    through ``weight_hr_l{k}`` of shape (P, H): h, the outputs and h_n have P
    entries, c has H.  The state is the pair (h, c).
""", """    peephole : bool, default=False
    proj_size : int, default=0
        Size P < H of the projected state; 0 for none.
""", """        for t in range(T):
            i, f, g, o = split(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4)
            c = sigmoid(f) * c + sigmoid(i) * tanh(g)
            h = sigmoid(o) * tanh(c)
""")
    _cell = CELLS["lstm"]

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 peephole=False, proj_size=0, bidirectional=False, merge_mode="concat",
                 dropout=0.0, recurrent_dropout=0.0, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, num_layers,
                         bidirectional=bidirectional, merge_mode=merge_mode,
                         dropout=dropout, recurrent_dropout=recurrent_dropout,
                         dtype=dtype, random_state=random_state, peephole=peephole,
                         proj_size=proj_size)


class MGU(_RNNBase):
    __doc__ = _layer_doc(
        """Minimal gated unit (Zhou, Wu, Zhang, Zhou 2016), gates (f, n)::

        f = sigmoid(W_if x + b_if + W_hf h + b_hf)
        n = tanh(W_in x + b_in + W_hn (f * h) + b_hn)
        h' = (1 - f) * h + f * n

    One gate fewer than the GRU (G = 2): its forget gate also resets.
""", "", """        for t in range(T):
            gi = x[:, t] @ W_ih.T + b_ih
            f = sigmoid(gi[:, :H] + h @ W_hh[:H].T + b_hh[:H])
            n = tanh(gi[:, H:] + (f * h) @ W_hh[H:].T + b_hh[H:])
            h = (1 - f) * h + f * n
""")
    _cell = CELLS["mgu"]

    def __init__(self, input_size, hidden_size, num_layers=1, *, bidirectional=False,
                 merge_mode="concat", dropout=0.0, recurrent_dropout=0.0, dtype=np.float32,
                 random_state=None):
        super().__init__(input_size, hidden_size, num_layers,
                         bidirectional=bidirectional, merge_mode=merge_mode,
                         dropout=dropout, recurrent_dropout=recurrent_dropout,
                         dtype=dtype, random_state=random_state)

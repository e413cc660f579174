"""Recurrent layers: ``RNN``, ``GRU`` and ``LSTM`` on the compiled core.

Design: one base class holds everything; the subclasses only name the cell.
A layer is a stack of ``num_layers`` x ``num_directions`` scans, each one call
into ``seqcore._recurrent`` (the time loop, in C).  This module does the
bookkeeping around those calls, all vectorised in NumPy, never per step:

* the batch is sorted by decreasing length and laid out time-major, so at
  step t the running samples are the first ``n_active[t]`` rows and padded
  steps are never computed (PyTorch's packed sequences without the packing);
* a backward direction is the same scan over each sequence reversed within
  its own length;
* layer k+1 reads the concatenated outputs of layer k.

All parameters live in one flat buffer, exposed as named views in PyTorch's
names, shapes and gate order; the gradients likewise.  Clipping and the
optimizers work on the flat buffers.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _blas, _recurrent
from .._validation import (as_float_array, check_dtype, check_lengths,
                           check_positive_int)
from ._base import Layer, check_memory, fill_uniform

# Cell kinds; the values match CellKind in src/seqcore/_cells.pxd.
_CELL_RNN, _CELL_GRU, _CELL_LSTM = 0, 1, 2
_MERGE_MODES = ("concat", "sum", "mul", "ave")
_GATES = {_CELL_RNN: 1, _CELL_GRU: 3, _CELL_LSTM: 4}


# Scans run on several threads (the core releases the GIL): the two
# directions of a bidirectional layer run at once, and the time loop of a
# unidirectional layer splits its batch into row ranges, one per BLAS thread,
# each on a one-thread BLAS (see src/seqcore/_recurrent.pyx).  Set to False to
# run everything on the calling thread.
CONCURRENT_SCANS = True
# A range keeps at least this many rows, and a loop of fewer multiply-adds
# (T * B * G*H * H) than MIN_SPLIT_WORK stays whole: below these the thread
# hand-offs (four per training step, some 30 us each) cost more than the
# second core gives.  load_digits' GRU batches (8 steps, 32 rows, H = 64:
# 3.1e6) stay whole; (50 steps, 32 rows, H = 64) splits.
MIN_ROWS_PER_RANGE = 8
MIN_SPLIT_WORK = 1 << 22
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

_executor = None
_executor_lock = threading.Lock()


def _reset_executor():
    global _executor
    _executor = None   # a forked child has no worker threads


os.register_at_fork(after_in_child=_reset_executor)


def _in_parallel(fn, n, parallel=True):
    """[fn(0), ..., fn(n-1)]: fn(0) on the calling thread, the others on
    worker threads when ``parallel``.  The workers never wait on each other,
    so calls from any number of threads cannot deadlock."""
    global _executor
    if n == 1 or not parallel:
        return [fn(i) for i in range(n)]
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1),
                                           thread_name_prefix="seqcore-scan")
        others = [_executor.submit(fn, i) for i in range(1, n)]
    first = fn(0)
    return [first] + [f.result() for f in others]


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
        return [(0, batch.B)]
    if batch.full:
        bounds = [batch.B * i // parts for i in range(parts + 1)]
    else:
        steps = np.cumsum(batch.lengths)
        cuts = np.searchsorted(steps, steps[-1] * np.arange(1, parts) / parts) + 1
        bounds = np.unique(np.clip(np.concatenate([[0], cuts, [batch.B]]), 0, batch.B))
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


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

    __slots__ = ("X", "Hs", "Cs", "gates", "aux", "h_n", "c_n", "ranges", "parallel")


class _RNNBase(Layer):
    """Base of the recurrent layers; see ``RNN``, ``GRU`` and ``LSTM``."""

    _kind = None

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 bidirectional=False, merge_mode="concat", dropout=0.0,
                 dtype=np.float32, random_state=None, nonlinearity="tanh",
                 reset_after=True, peephole=False):
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise TypeError(f"bidirectional must be a bool, got {bidirectional!r}")
        self.bidirectional = bool(bidirectional)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {_MERGE_MODES}, got {merge_mode!r}")
        self.merge_mode = merge_mode
        if not isinstance(dropout, (int, float, np.floating)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.dtype = check_dtype(dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        for flag, value in (("reset_after", reset_after), ("peephole", peephole)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{flag} must be a bool, got {value!r}")
        self.reset_after = bool(reset_after)
        self.peephole = bool(peephole)
        self.training = True
        self._rng = np.random.default_rng(random_state)
        self._workspace = {}
        self._init_params(self.dtype)
        self.reset_parameters()

    # ------------------------------------------------------------------ setup
    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def output_size(self):
        """Features of each output step: D*H for 'concat', else H."""
        if self.bidirectional and self.merge_mode == "concat":
            return 2 * self.hidden_size
        return self.hidden_size

    @property
    def _relu(self):
        return self._kind == _CELL_RNN and self.nonlinearity == "relu"

    @property
    def _peep(self):
        return self._kind == _CELL_LSTM and self.peephole

    def _layer_inputs(self, k):
        return self.input_size if k == 0 else self.output_size

    def _scan_param_shapes(self, k, d):
        G, H = _GATES[self._kind], self.hidden_size
        sfx = f"_l{k}" + ("_reverse" if d else "")
        out = [(f"weight_ih{sfx}", (G * H, self._layer_inputs(k))),
               (f"weight_hh{sfx}", (G * H, H)),
               (f"bias_ih{sfx}", (G * H,)),
               (f"bias_hh{sfx}", (G * H,))]
        if self._peep:
            out.append((f"weight_peep{sfx}", (3, H)))
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

    def __setstate__(self, state):
        super().__setstate__(state)
        self._workspace = {}

    _TRANSIENT = Layer._TRANSIENT + ("_workspace",)

    def reset_parameters(self):
        """Draw every parameter from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch does."""
        bound = 1.0 / np.sqrt(self.hidden_size)
        fill_uniform(self._rng, self._flat_params, -bound, bound)

    def release_buffers(self):
        """Free the buffers training keeps between calls (and the last
        forward's activations); the next training call allocates them anew."""
        super().release_buffers()
        self._workspace = {}

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
        G, H, D, L = _GATES[self._kind], self.hidden_size, self.num_directions, self.num_layers
        if not training and D == 1 and T > EVAL_CHUNK_STEPS:
            T = EVAL_CHUNK_STEPS
        I = max(self.input_size, self.output_size)
        states = 2 if self._kind == _CELL_LSTM else 1
        per_scan = (T + 1) * B * H * (states + 1) + T * B * (G * H + I + 2 * H)
        if training:
            per_scan += T * B * (2 * G * H + I)
        return L * D * per_scan * np.dtype(self.dtype).itemsize

    def _scan_params(self, P, k, d):
        sfx = f"_l{k}" + ("_reverse" if d else "")
        return [P[f"{n}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def _empty(self, ndim):
        return np.empty((0,) * ndim, dtype=self.dtype)

    # ------------------------------------------------------------- checking
    def _check_X(self, X):
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
        """(h, c) as sorted-free (L*D, B, H) arrays or None each."""
        if state is None:
            return None, None
        if self._kind == _CELL_LSTM:
            if not (isinstance(state, (tuple, list)) and len(state) == 2):
                raise TypeError(f"{name} of an LSTM must be a pair (h, c)")
            h, c = state
        else:
            h, c = state, None
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        out = []
        for part, label in ((h, "h"), (c, "c")):
            if part is None:
                out.append(None)
                continue
            arr = as_float_array(part, self.dtype, f"{name} ({label})")
            if arr.shape != shape:
                raise ValueError(f"{name} ({label}) must have shape {shape} "
                                 f"(layers*directions, batch, hidden), got {arr.shape}")
            out.append(arr)
        return tuple(out)

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
                 params=None):
        """``forward`` in the given mode; ``outputs=False`` may return None for
        the outputs (inference of long sequences then keeps only a chunk's
        worth); ``params``: named views to read instead of ``self.params``
        (inference on a snapshot of the weights)."""
        X = self._check_X(X)
        B, T, _ = X.shape
        lengths = check_lengths(lengths, B, T)
        h0, c0 = self._check_state(initial_state, B, "initial_state")
        n_bytes = self._work_bytes(B, T, training)
        if n_bytes > CHECK_MEMORY_ABOVE:
            check_memory(n_bytes, f"{type(self).__name__}.forward on a batch of {B} "
                                  f"sequences of {T} steps")
        P = self.params if params is None else params
        if not training:
            if not self.bidirectional and T > EVAL_CHUNK_STEPS:
                return self._forward_chunked(X, lengths, h0, c0, outputs, P)
            return self._forward_whole(X, lengths, h0, c0, False, P)
        with self._training_call():
            return self._forward_whole(X, lengths, h0, c0, True, P)

    def _forward_chunked(self, X, lengths, h0, c0, outputs, P):
        """Inference in chunks of EVAL_CHUNK_STEPS steps through all layers,
        each chunk starting from the state the last one ended in.  Agrees
        with a whole-sequence pass to rounding (the projection GEMM may round
        differently on fewer rows)."""
        B, T, _ = X.shape
        lstm, k = self._kind == _CELL_LSTM, EVAL_CHUNK_STEPS
        shape = (self.num_layers, B, self.hidden_size)
        h = h0.copy() if h0 is not None else np.zeros(shape, self.dtype)
        c = (c0.copy() if c0 is not None else np.zeros(shape, self.dtype)) if lstm else None
        out = np.zeros((B, T, self.output_size), self.dtype) if outputs else None
        for s in range(0, T, k):
            rows = np.flatnonzero(lengths > s)   # samples still running
            if rows.size == 0:
                break
            len_c = np.minimum(lengths[rows] - s, k)
            width = int(len_c.max())
            # a view while every sample runs: no copy of the input chunk
            Xc = X[:, s:s + width] if rows.size == B else X[rows, s:s + width]
            out_c, state = self._forward_whole(Xc, len_c, h[:, rows],
                                               c[:, rows] if lstm else None, False, P)
            h[:, rows] = state[0] if lstm else state
            if lstm:
                c[:, rows] = state[1]
            if outputs:
                out[rows, s:s + width] = out_c
        return out, ((h, c) if lstm else h)

    def _forward_whole(self, X, lengths, h0, c0, training, P):
        B, T, _ = X.shape
        batch = _Batch(lengths, T)
        lstm = self._kind == _CELL_LSTM
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        h0 = batch.sort_states(h0) if h0 is not None else np.zeros((L * D, B, H), self.dtype)
        if lstm:
            c0 = batch.sort_states(c0) if c0 is not None else np.zeros((L * D, B, H), self.dtype)
        h_n = np.empty((L * D, B, H), self.dtype)
        c_n = np.empty((L * D, B, H), self.dtype) if lstm else None
        # a bidirectional layer's two directions take the threads; a
        # unidirectional one splits its batch into row ranges.  Either way
        # seqcore shares out the work itself and every BLAS call runs on one
        # thread: the idle threads of a multi-threaded BLAS spin for a while
        # after each call and would take the core from the other scan, and
        # float32 GEMMs round differently on different thread counts.
        parallel = CONCURRENT_SCANS and _blas.user_blas_threads() != 1
        G = _GATES[self._kind]
        ranges = _row_ranges(batch, T * B * G * H * H) if D == 1 else [(0, B)]
        plan = (ranges, parallel)

        scans, masks, parts = [], [], []
        inp = batch.to_time_major(X)
        for k in range(L):
            outs = []
            def run(d, k=k, inp=inp):
                x_in = batch.reverse(inp) if d else inp
                scan = self._forward_scan(k, d, x_in, batch, h0[k * D + d],
                                          c0[k * D + d] if lstm else None, plan,
                                          training, P)
                out = scan.Hs[1:]
                return scan, (batch.reverse(out) if d else out)

            for d, (scan, out) in enumerate(_in_parallel(run, D, parallel and D == 2)):
                scans.append(scan)
                outs.append(out)
                h_n[k * D + d] = scan.h_n
                if lstm:
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
            self._record((batch, scans, masks, parts, parallel and D == 2))
        outputs = batch.to_batch_major(inp)   # a copy: never a view of a buffer
        h_n = batch.unsort_states(h_n)
        if lstm:
            return outputs, (h_n, batch.unsort_states(c_n))
        return outputs, h_n

    def _forward_scan(self, k, d, x_in, batch, h0, c0, plan, train, P):
        T, B, _ = x_in.shape
        H, G = self.hidden_size, _GATES[self._kind]
        lstm = self._kind == _CELL_LSTM
        # padded rows must read 0; a full batch writes every row
        pad = not batch.full
        s = _Scan()
        s.X, (s.ranges, s.parallel) = x_in, plan
        ranges, n = s.ranges, len(s.ranges)
        s.Hs = self._buffer((k, d, "Hs"), (T + 1, B, H), pad, train)
        s.Hs[0] = h0
        if lstm:
            s.Cs = self._buffer((k, d, "Cs"), (T + 1 if train else 2, B, H), pad, train)
            s.Cs[0] = c0
            s.c_n = np.empty((B, H), self.dtype)
        else:
            s.Cs, s.c_n = self._empty(3), self._empty(2)
        s.gates = self._buffer((k, d, "gates"), (T, B, G * H), False, train)
        s.aux = (self._empty(3) if self._kind == _CELL_RNN
                 else self._buffer((k, d, "aux"), (T if train else 1, B, H), pad, train))
        s.h_n = np.empty((B, H), self.dtype)
        work = self._buffer((k, d, "work"), (B, G * H), False, train)
        W_ih, W_hh, b_ih, b_hh = self._scan_params(P, k, d)
        peep = self._peep_param(P, k, d)
        W_packed = self._pack_hidden(W_hh, backward=False)
        TB = T * B

        bias = b_ih + b_hh
        if self._kind == _CELL_GRU and self.reset_after:
            bias[2 * H:] = b_ih[2 * H:]   # b_hn sits inside r * (W_hn h + b_hn)

        def project(i):   # a share of the rows of all steps
            _recurrent.project(x_in, W_ih, s.gates, TB * i // n, TB * (i + 1) // n, True)

        def steps(i):     # a range of the batch, through all steps
            _recurrent.forward_steps(
                self._kind, self._relu, self.reset_after, self._peep, train,
                batch.n_active, W_hh, bias, b_hh, peep, s.Hs, s.Cs, s.gates, s.aux,
                work, s.h_n, s.c_n, W_packed, *ranges[i], True)

        _in_parallel(project, n, s.parallel)
        _in_parallel(steps, n, s.parallel)
        return s

    def _pack_hidden(self, W_hh, backward):
        """W_hh packed once for all steps' products (empty: the BLAS does them)."""
        if self._kind == _CELL_GRU and not self.reset_after:
            return self._empty(1)
        return _recurrent.pack_hidden(W_hh, backward)

    def _peep_param(self, P, k, d):
        if not self._peep:
            return self._empty(2)
        return P[f"weight_peep_l{k}" + ("_reverse" if d else "")]

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
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        lstm = self._kind == _CELL_LSTM
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

        d_h0 = np.empty((L * D, B, H), self.dtype)
        d_c0 = np.empty((L * D, B, H), self.dtype) if lstm else None
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
                if lstm:
                    d_c0[i] = dc0
            d_out = d_in

        # a copy: never a view of a buffer
        d_X = batch.to_batch_major(d_out) if input_grad else None
        d_h0 = batch.unsort_states(d_h0)
        if lstm:
            return d_X, (d_h0, batch.unsort_states(d_c0))
        return d_X, d_h0

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
        H = self.hidden_size
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
        H, G = self.hidden_size, _GATES[self._kind]
        lstm = self._kind == _CELL_LSTM
        gru_after = self._kind == _CELL_GRU and self.reset_after
        # padded steps' rows stay 0 so they drop out of the weight GEMMs; a
        # full batch writes every row
        pad = not batch.full
        dG = self._buffer((k, d, "dG"), (T, B, G * H), pad, True)
        dGH = (self._buffer((k, d, "dGH"), (T, B, G * H), pad, True) if gru_after
               else self._empty(3))
        dh = np.empty((B, H), self.dtype)
        dc = np.empty((B, H), self.dtype) if lstm else self._empty(2)
        work = self._buffer((k, d, "work"), (B, G * H), False, True)
        W_ih, W_hh, _, _ = self._scan_params(self.params, k, d)
        dW_ih, dW_hh, db_ih, db_hh = self._scan_params(self.grads, k, d)
        ranges, n = s.ranges, len(s.ranges)
        W_packed = self._pack_hidden(W_hh, backward=True)
        # each range accumulates its own peephole gradient; they add up in
        # range order (the ranges depend on the shape only)
        dpeep = self._peep_param(self.grads, k, d)
        dpeeps = ([dpeep] * len(ranges) if len(ranges) == 1 or not self._peep
                  else [np.empty_like(dpeep) for _ in ranges])

        def steps(i):
            _recurrent.backward_steps(
                self._kind, self._relu, self.reset_after, self._peep,
                batch.n_active, W_hh, self._peep_param(self.params, k, d), s.Hs, s.Cs,
                s.gates, s.aux,
                dY if dY is not None else self._empty(3),
                dh_n if dh_n is not None else self._empty(2),
                dc_n if dc_n is not None else self._empty(2),
                dG, dGH, work, dh, dc, dpeeps[i], W_packed, *ranges[i], True)

        def weights(i):   # a share of every weight gradient
            _recurrent.weight_gradients(
                self._kind, self.reset_after, s.X, W_ih, s.Hs, s.aux, dG, dGH,
                dX, dW_ih, dW_hh, db_ih, db_hh, i, n, True)

        _in_parallel(steps, n, s.parallel)
        if len(dpeeps) > 1:
            dpeep[...] = dpeeps[0]
            for extra in dpeeps[1:]:
                dpeep += extra
        dX = self._buffer((k, d, "dX"), (T, B, I), False, True) if need_dX else self._empty(3)
        _in_parallel(weights, n, s.parallel)
        return (dX if need_dX else None), dh, (dc if lstm else None)

    def __repr__(self):
        args = [str(self.input_size), str(self.hidden_size)]
        if self.num_layers != 1:
            args.append(f"num_layers={self.num_layers}")
        if self.bidirectional:
            args.append("bidirectional=True")
        if self.dropout:
            args.append(f"dropout={self.dropout}")
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
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : int, numpy Generator or None
        Seeds the initial weights (U(-1/sqrt(H), 1/sqrt(H)), as PyTorch) and
        the dropout masks.
"""


class RNN(_RNNBase):
    __doc__ = """Elman RNN: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.
""" + _COMMON_DOC + """    nonlinearity : {'tanh', 'relu'}, default='tanh'

    Equivalent to::

        for t in range(T):
            h = tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
    """
    _kind = _CELL_RNN

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 nonlinearity="tanh", bidirectional=False, merge_mode="concat",
                 dropout=0.0, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, num_layers,
                         bidirectional=bidirectional, merge_mode=merge_mode,
                         dropout=dropout, dtype=dtype, random_state=random_state,
                         nonlinearity=nonlinearity)


class GRU(_RNNBase):
    __doc__ = """Gated recurrent unit, gates in PyTorch's order (r, z, n)::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     # reset_after=True
        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)     # reset_after=False
        h' = (1 - z) * n + z * h
""" + _COMMON_DOC + """    reset_after : bool, default=True
        Apply the reset gate after the hidden product (PyTorch, cuDNN, Keras
        default) or before it (the original GRU).
    """
    _kind = _CELL_GRU

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 reset_after=True, bidirectional=False, merge_mode="concat",
                 dropout=0.0, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, num_layers,
                         bidirectional=bidirectional, merge_mode=merge_mode,
                         dropout=dropout, dtype=dtype, random_state=random_state,
                         reset_after=reset_after)


class LSTM(_RNNBase):
    __doc__ = """Long short-term memory, gates in PyTorch's order (i, f, g, o)::

        i, f, o = sigmoid(W_i* x + b_i* + W_h* h + b_h* [+ p_* * c])
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        c' = f * c + i * g
        h' = o * tanh(c')

    With ``peephole=True``, i and f see ``c`` and o sees ``c'`` through the
    diagonal weights ``weight_peep_l{k}`` of shape (3, H), rows (p_i, p_f, p_o).
""" + _COMMON_DOC + """    peephole : bool, default=False
    """
    _kind = _CELL_LSTM

    def __init__(self, input_size, hidden_size, num_layers=1, *,
                 peephole=False, bidirectional=False, merge_mode="concat",
                 dropout=0.0, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, num_layers,
                         bidirectional=bidirectional, merge_mode=merge_mode,
                         dropout=dropout, dtype=dtype, random_state=random_state,
                         peephole=peephole)

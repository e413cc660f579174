"""Reduced-precision inference: bfloat16 and int8 products for every cell kind.

Design: only the recurrent layer's matrix products change precision.  Per
scan (layer, direction) the weights ``W_ih`` and ``W_hh`` are quantised once
and cached (``quantize_matrix``):

* ``"int8"``: symmetric, one float scale per output row
  (``W ~ scale[j] * q[j]``, q in -127..127); the rows of the activations (the
  inputs of all steps, the state of each step) are quantised when they are
  used, each row on its own asymmetric 8-bit scale (see src/seqcore/_quant.pyx);
  int32 sums (VNNI where the CPU has it), rescaled to the model's dtype.
* ``"bfloat16"``: weights and activations rounded to bfloat16 (nearest,
  ties to even); float32 sums (AVX512_BF16 where present).

Biases, the gate math (``_cells.pyx``'s own kernels), the cell state, the
LSTM's projection ``W_hr``, the dense layers and the head stay in the
model's dtype (float32 or float64): the outputs are in the model's dtype.

The scans run through the layer's own inference path (batching by length,
bidirectional and stacked layers, long sequences in chunks): a copy of the
layer whose ``_forward_scan`` is this module's ``_scan``.  The cache is
keyed by the layer and checked against the weights the scan reads, so
changed weights (a further ``fit``, ``load_state_dict``, an edit in place)
are quantised again before use.
"""

import functools
import threading
import weakref

import numpy as np

from .. import _quant
from . import _layers

PRECISIONS = ("bfloat16", "int8")

# layer -> {(precision, k, d): cached scan weights}; weak, so a model's
# quantised weights go with it
_CACHE = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def check_precision(precision):
    """``precision`` if it is None, "bfloat16" or "int8"; else a ValueError."""
    if precision is not None and (not isinstance(precision, str) or precision not in PRECISIONS):
        raise ValueError(f"precision must be None (the model's dtype), 'bfloat16' or 'int8', "
                         f"got {precision!r}")
    return precision


def _pack(Q, group):
    """Q (N, K) laid out as include/seqcore/quant.h's panels: columns (rows
    of W) in panels of PANEL_COLUMNS, k in groups of ``group``, zero-padded."""
    NR = _quant.PANEL_COLUMNS
    N, K = Q.shape
    Np, Kp = -(-N // NR) * NR, -(-K // group) * group
    full = np.zeros((Np, Kp), Q.dtype)
    full[:N, :K] = Q
    return np.ascontiguousarray(
        full.reshape(Np // NR, NR, Kp // group, group).transpose(0, 2, 1, 3)).ravel(), Kp


def to_bfloat16_bits(W):
    """The bfloat16 nearest to each entry of a float32 or float64 array (ties to
    even), as uint16 bit patterns.  float64 entries are first rounded to
    float32 toward zero with a sticky last bit (round to odd), so that the
    two roundings give the one direct rounding would."""
    W = np.asarray(W)
    if W.dtype == np.float64:
        f = W.astype(np.float32)
        back = f.astype(np.float64)
        u = f.view(np.uint32).astype(np.uint64)
        inexact = back != W
        u[inexact & (np.abs(back) > np.abs(W))] -= 1   # one step toward zero
        u[inexact] |= 1
    elif W.dtype == np.float32:
        u = W.view(np.uint32).astype(np.uint64)
    else:
        raise TypeError(f"expected float32 or float64, got {W.dtype}")
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bfloat16_bits(b):
    """float32 values of uint16 bfloat16 bit patterns (exact)."""
    return (np.asarray(b, np.uint16).astype(np.uint32) << 16).view(np.float32)


def quantize_matrix(W, precision):
    """A weight matrix W (N, K), float32 or float64, in reduced precision.

    Parameters
    ----------
    W : ndarray of shape (N, K)
        The weights; each row is one output (the products are ``A @ W.T``).
    precision : {"int8", "bfloat16"}

    Returns
    -------
    dict
        ``precision``, ``N``, ``K``, ``Kp`` (K padded to the kernels' group),
        ``packed`` (the kernels' layout), and for int8 ``scale`` (N,) in W's
        dtype, ``wsum`` (N,) the int32 row sums of the int8 weights, and
        ``q`` (N, K) the int8 weights themselves.
    """
    check_precision(precision)
    if precision is None:
        raise ValueError("quantize_matrix needs 'bfloat16' or 'int8'")
    W = np.asarray(W)
    if W.dtype not in (np.float32, np.float64) or W.ndim != 2 or 0 in W.shape:
        raise ValueError(f"W must be a non-empty 2-D float32 or float64 array, got "
                         f"{W.dtype} of shape {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError("W holds NaN or inf: there is nothing to quantise")
    N, K = W.shape
    if precision == "bfloat16":
        packed, Kp = _pack(to_bfloat16_bits(W), 2)
        return dict(precision=precision, N=N, K=K, Kp=Kp, packed=packed)
    if -(-K // 4) * 4 > _quant.MAX_INT8_K:
        raise ValueError(f"int8 products sum at most {_quant.MAX_INT8_K} terms in int32; "
                         f"W has {K} columns")
    W64 = W.astype(np.float64)
    amax = np.abs(W64).max(axis=1)
    scale = np.where(amax > 0, amax / 127, 1.0).astype(W.dtype)
    q = np.clip(np.rint(W64 / scale.astype(np.float64)[:, None]), -127, 127).astype(np.int8)
    packed, Kp = _pack(q, 4)
    wsum = q.sum(axis=1, dtype=np.int32)
    Np = packed.size // Kp
    return dict(precision=precision, N=N, K=K, Kp=Kp, packed=packed, scale=scale, wsum=wsum,
                q=q, scale_panels=np.concatenate([scale, np.zeros(Np - N, scale.dtype)]),
                wsum_panels=np.concatenate([wsum, np.zeros(Np - N, np.int32)]))


def _scan_weights(layer, precision, k, d, W_ih, W_hh):
    """The quantised weights of scan (k, d), from the cache when W_ih and W_hh
    are those it was made from, else made now (and cached)."""
    key = (precision, k, d)
    with _CACHE_LOCK:
        entry = _CACHE.setdefault(layer, {}).get(key)
    if (entry is not None and np.array_equal(entry["W_ih"], W_ih)
            and np.array_equal(entry["W_hh"], W_hh)):
        return entry
    split = (layer._layout.G - layer._layout.gated_blocks) * layer.hidden_size
    entry = dict(W_ih=W_ih.copy(), W_hh=W_hh.copy(),
                 qi=quantize_matrix(W_ih, precision),
                 qh=quantize_matrix(W_hh[:split], precision),
                 qh2=(quantize_matrix(W_hh[split:], precision) if split < W_hh.shape[0]
                      else None))
    with _CACHE_LOCK:
        _CACHE.setdefault(layer, {})[key] = entry
    return entry


def _scan(layer, precision, generic, k, d, x_in, batch, h0, c0, mask, plan, train, w):
    """The layer's ``_forward_scan`` at inference, with reduced-precision
    products (same arguments, same result object)."""
    if train or mask is not None:
        raise RuntimeError("reduced precision is for inference only")
    T, B, _ = x_in.shape
    lay, H, P, dtype = layer._layout, layer.hidden_size, layer.state_size, layer.dtype
    GH = lay.G * H
    # the scan's entry of the layer's _Weights; bias: b_ih + b_hh as the core adds them
    W_ih, _, W_hh, _, bias, b_hh, extra, W_hr = w
    q = _scan_weights(layer, precision, k, d, W_ih, W_hh)
    s = _layers._Scan()
    s.X = x_in = np.ascontiguousarray(x_in)
    s.ranges, s.threads = plan
    # padded rows must read 0; a full batch writes every row
    new = np.empty if batch.full else np.zeros
    s.Hs = new((T + 1, B, P), dtype)
    s.Hs[0] = 0 if h0 is None else h0   # None: zeros
    s.mask, s.Hm = None, None
    if layer._two_states:
        s.Cs = new((2, B, H), dtype)
        s.Cs[0] = 0 if c0 is None else c0
        s.c_n = np.empty((B, H), dtype)
    else:
        s.Cs, s.c_n = np.empty((0, 0, 0), dtype), np.empty((0, 0), dtype)
    s.gates = np.empty((T, B, GH), dtype)
    s.aux = np.zeros((1, B, H), dtype) if lay.aux else np.empty((0, 0, 0), dtype)
    s.h_n = np.empty((B, P), dtype)
    work = np.empty((B, GH), dtype)
    pwork = np.empty((B, H), dtype) if layer._proj else np.empty((0, 0), dtype)
    n = len(s.ranges)
    threads = _layers._share(s.threads, T * B * GH * (P + x_in.shape[2]))
    _quant.forward_scan(lay.code, lay.flags, batch.n_active, q["qi"], q["qh"], q["qh2"],
                        x_in, bias, np.ascontiguousarray(b_hh), np.ascontiguousarray(extra),
                        np.ascontiguousarray(W_hr), pwork, s.Hs, s.Cs, s.gates, s.aux, work,
                        s.h_n, s.c_n, s.ranges, threads, n, generic)
    return s


def _layer_view(layer, precision, generic=False):
    """A shallow copy of ``layer`` whose scans run in ``precision``: it
    shares the parameters (read only) and runs the layer's own inference
    path."""
    view = object.__new__(type(layer))
    view.__dict__.update(layer.__dict__)
    view._forward_scan = functools.partial(_scan, layer, precision, generic)
    # the lean pass for plain batches calls the core itself: through the scans instead
    view._infer_plain = functools.partial(_plain_through_scans, view)
    return view


def _plain_through_scans(view, X, plan, W, outputs):
    out, state = view._forward_whole(X, plan.batch, None, None, False, W, plan.ranges)
    return (out if outputs else None), state


class QuantizedLayer:
    """Inference of a recurrent layer with bfloat16 or int8 products.

    Only the products with ``W_ih`` and ``W_hh`` change precision (see the
    module's docstring); results are in the layer's dtype.  The quantised
    weights are cached with the layer and made again whenever its weights
    change.

    Parameters
    ----------
    layer : seqcore.nn.RNN, GRU, LSTM or MGU
        The layer; read, never modified.
    precision : {"bfloat16", "int8"}

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.nn import LSTM
    >>> from seqcore.nn import QuantizedLayer
    >>> lstm = LSTM(3, 16, random_state=0)
    >>> X = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    >>> out, (h, c) = QuantizedLayer(lstm, "int8").forward(X)
    >>> out.shape
    (4, 5, 16)
    """

    def __init__(self, layer, precision):
        if not isinstance(layer, _layers._RNNBase):
            raise TypeError(f"layer must be a seqcore.nn recurrent layer, got "
                            f"{type(layer).__name__}")
        check_precision(precision)
        if precision is None:
            raise ValueError("precision must be 'bfloat16' or 'int8'")
        self.layer = layer
        self.precision = precision

    def forward(self, X, lengths=None, initial_state=None):
        """The layer's ``forward`` at inference, in reduced precision.

        Parameters and returns as ``layer.forward(X, lengths, initial_state,
        training=False)``.
        """
        return _layer_view(self.layer, self.precision)._forward(
            X, lengths, initial_state, training=False)

    __call__ = forward


def decision_function(network, X, lengths, precision):
    """``network.decision_function(X, lengths)`` with the recurrent layer's
    products in ``precision`` (None: the network's own dtype)."""
    if check_precision(precision) is None:
        return network.decision_function(X, lengths)
    view = object.__new__(type(network))
    view.__dict__.update(network.__dict__)
    view.rnn = _layer_view(network.rnn, precision)
    return view.decision_function(X, lengths)

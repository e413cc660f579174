"""``Linear``: an affine map with an optional activation, over the last axis.

Design: inputs of any leading shape (..., I) are viewed as rows (N, I).  The
products run in ``seqcore._dense``, without the GIL, each range of rows (or
of outputs, for the weight gradient) one GEMM on a one-thread BLAS.  How the
work is cut depends on the shapes only (``_parts``), never on a thread count,
so results are bit-identical for any BLAS thread count; large products are
cut in ``PARTS`` ranges that run on as many threads at once.  The tape of a training
forward holds the input rows (a private copy when they are the caller's
array) and the activation's derivative, computed from its output (``1 -
y*y`` for tanh, ``y > 0`` for relu), never the output array handed back to
the caller, which the caller may modify.
"""


import numpy as np

from .. import _blas, _dense
from .._validation import as_float_array, check_dtype, check_positive_int
from ._base import Layer, _in_parallel, check_memory, fill_uniform

_ACTIVATIONS = (None, "relu", "tanh")

# A product of fewer multiply-adds than MIN_SPLIT_WORK runs whole on the
# calling thread (a hand-off to a worker costs more than it saves); a larger one is cut
# in PARTS ranges of at least MIN_PART rows, run at once on PARTS threads
# when the user allows the BLAS more than one thread.
MIN_SPLIT_WORK = 1 << 22
MIN_PART = 8
PARTS = 2

def _parts(n, work):
    """Cut range(n) into (start, stop) ranges, from the shape alone."""
    k = PARTS if work >= MIN_SPLIT_WORK else 1
    k = max(1, min(k, n // MIN_PART))
    bounds = [n * i // k for i in range(k + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _run(fn, parts):
    """fn(start, stop) for every part, on the layers' worker pool, unless the
    user allows the BLAS one thread only (threadpoolctl): then all in turn.
    The parts are the same either way, hence the results."""
    _in_parallel(lambda i: fn(*parts[i]), len(parts), _blas.user_blas_threads() != 1)


def _private(arr, given):
    """``arr``, or a copy of it when it may share memory with what the caller
    gave (which the caller may modify before backward)."""
    if isinstance(given, (list, tuple)):
        return arr          # converted from Python objects: a new array
    if isinstance(given, np.ndarray) and not np.may_share_memory(arr, given):
        return arr
    return arr.copy()       # the caller's array, or an object whose memory it may share


class Linear(Layer):
    """``y = act(x @ weight.T + bias)`` over the last axis, as ``torch.nn.Linear``.

    Parameters
    ----------
    in_features : int
        Size I of each input row.
    out_features : int
        Size K of each output row.
    bias : bool, default=True
        Learn an additive bias.
    activation : {None, 'relu', 'tanh'}, default=None
        Applied to the affine map (None: the identity).
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : int, numpy Generator or None
        Seeds the initial weight and bias, both drawn from
        U(-1/sqrt(I), 1/sqrt(I)) as PyTorch does.

    Attributes
    ----------
    params, grads : dict
        ``weight`` (K, I) and, with ``bias=True``, ``bias`` (K,); views of
        ``flat_params`` and ``flat_grads``.

    Notes
    -----
    Equivalent to::

        Z = X @ W.T + b       # (N, K) = (N, I)(I, K)
        Y = act(Z)
        # backward, from dY:
        dZ = dY * act'(Z)     # from Y: 1 - Y*Y (tanh), Y > 0 (relu)
        dW = dZ.T @ X         # (K, I) = (K, N)(N, I)
        db = dZ.sum(axis=0)
        dX = dZ @ W           # (N, I) = (N, K)(K, I)

    At Z == 0 the derivative of relu is taken as 0, as PyTorch does.

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.nn import Linear
    >>> layer = Linear(4, 2, activation="tanh", random_state=0)
    >>> layer.forward(np.ones((3, 5, 4)), training=False).shape
    (3, 5, 2)
    """

    def __init__(self, in_features, out_features, bias=True, activation=None, *,
                 dtype=np.float32, random_state=None):
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be a bool, got {bias!r}")
        self.bias = bool(bias)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be None, 'relu' or 'tanh', got {activation!r}")
        self.activation = activation
        self.dtype = check_dtype(dtype)
        self.training = True
        self._rng = np.random.default_rng(random_state)
        self._init_params(self.dtype)
        self.reset_parameters()

    # ------------------------------------------------------------------ setup
    def _param_count(self):
        return self.out_features * (self.in_features + (1 if self.bias else 0))

    def _param_shapes(self):
        shapes = [("weight", (self.out_features, self.in_features))]
        if self.bias:
            shapes.append(("bias", (self.out_features,)))
        return shapes

    def reset_parameters(self):
        """Draw weight and bias from U(-1/sqrt(I), 1/sqrt(I)), as PyTorch does."""
        bound = 1.0 / np.sqrt(self.in_features)
        fill_uniform(self._rng, self._flat_params, -bound, bound)

    # ------------------------------------------------------------- checking
    def _check_X(self, X):
        arr = as_float_array(X, self.dtype, "X")
        if arr.ndim == 0:
            raise ValueError(f"X must have at least 1 dimension (..., {self.in_features}), "
                             "got a scalar")
        if arr.shape[-1] != self.in_features:
            raise ValueError(f"X has {arr.shape[-1]} features (last axis), but this layer "
                             f"expects in_features={self.in_features}")
        return arr

    # -------------------------------------------------------------- forward
    def forward(self, X, *, training=None):
        """Apply the layer to the last axis of ``X``.

        Parameters
        ----------
        X : array-like of shape (..., I)
            E.g. (B, I) rows or (B, T, I) sequences.
        training : bool, optional
            Training keeps what ``backward`` needs; inference reads the
            parameters and nothing else, so any number of threads may run it
            at once.  Defaults to the mode set by ``train()``/``eval()``.

        Returns
        -------
        Y : ndarray of shape (..., K)
        """
        arr = self._check_X(X)
        lead = arr.shape[:-1]
        rows = arr.reshape(-1, self.in_features)
        training = self._mode(training)
        n_bytes = rows.shape[0] * (self.out_features * (2 if training else 1)
                                   + (self.in_features if training else 0))
        n_bytes *= np.dtype(self.dtype).itemsize
        if n_bytes > 1 << 28:
            check_memory(n_bytes, f"Linear.forward on {rows.shape[0]} rows")
        if not training:
            Y, _ = self._affine(rows, self.params, False)
            return Y.reshape(lead + (self.out_features,))
        with self._training_call():
            Y, d_act = self._affine(rows, self.params, self.activation is not None)
            # keep a private copy of the rows when they are the caller's memory
            kept = _private(rows, X)
            self._record((kept, d_act, lead))
            return Y.reshape(lead + (self.out_features,))

    __call__ = forward

    def _affine(self, rows, P, derivative):
        """Y = act(rows @ W.T + b) and, if ``derivative``, act'(Z) from Y (else None)."""
        N, K = rows.shape[0], self.out_features
        Y = np.empty((N, K), self.dtype)
        b = P["bias"] if self.bias else np.empty(0, self.dtype)

        def part(r0, r1):
            # Z = X @ W.T + b   (n, K) = (n, I)(I, K)
            _dense.affine_rows(rows, P["weight"], b, Y, r0, r1)

        _run(part, _parts(N, N * K * self.in_features))
        d_act = None
        if self.activation == "relu":
            np.maximum(Y, 0, out=Y)
            if derivative:
                d_act = Y > 0            # relu'(Z), 0 at Z == 0 as in PyTorch
        elif self.activation == "tanh":
            np.tanh(Y, out=Y)
            if derivative:
                d_act = 1 - Y * Y        # tanh'(Z) from Y
        return Y, d_act

    # ------------------------------------------------------------- backward
    def backward(self, d_out, *, input_grad=True):
        """Backpropagate from the last training ``forward``.

        Parameters
        ----------
        d_out : array-like of shape (..., K)
            Gradient of the loss on the forward's output.
        input_grad : bool, default=True
            Compute the gradient on ``X``; False saves a GEMM and returns None.

        Returns
        -------
        d_X : ndarray of shape (..., I), or None

        ``grads`` are overwritten (not accumulated): ``weight`` (K, I) and
        ``bias`` (K,).
        """
        with self._training_call():
            rows, d_act, lead = self._recorded()
            K = self.out_features
            d = as_float_array(d_out, self.dtype, "d_out")
            if d.shape != lead + (K,):
                raise ValueError(f"d_out must have shape {lead + (K,)} (the forward's "
                                 f"output), got {d.shape}")
            dZ = d.reshape(-1, K)
            if d_act is not None:
                dZ = dZ * d_act   # dZ = dY * act'(Z)
            N, I = rows.shape
            work = N * K * I
            db = self.grads["bias"] if self.bias else np.empty(0, self.dtype)

            def weights(k0, k1):
                # dW = dZ.T @ X   (K, I) = (K, N)(N, I);  db = dZ.sum(0)
                _dense.weight_grad_rows(dZ, rows, self.grads["weight"], db, k0, k1)

            _run(weights, _parts(K, work))
            if not input_grad:
                return None
            dX = np.empty((N, I), self.dtype)

            def inputs(r0, r1):
                # dX = dZ @ W   (N, I) = (N, K)(K, I)
                _dense.input_grad_rows(dZ, self.params["weight"], dX, r0, r1)

            _run(inputs, _parts(N, work))
            return dX.reshape(lead + (self.in_features,))

    def __repr__(self):
        args = [str(self.in_features), str(self.out_features)]
        if not self.bias:
            args.append("bias=False")
        if self.activation is not None:
            args.append(f"activation={self.activation!r}")
        args.append(f"dtype={np.dtype(self.dtype).name}")
        return f"Linear({', '.join(args)})"

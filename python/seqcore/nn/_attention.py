"""``Attention``: a query reads a weighted mean of a sequence of keys.

Design: the scores, the masked softmax, the context and their backward run
in ``seqcore._attention`` (compiled, batched over the rows and the source
positions, without the GIL); this module checks the input, projects the
keys (one GEMM over all B*S keys, in ``seqcore._dense``) and keeps the tape.
The key projection is separate from the per-query work because a decoder
attends over the same keys at every step: ``seqcore.nn.Seq2Seq`` projects
them once per batch and runs the per-query part inside its decoder loop.

Shapes: B batch, S source positions, Hq query size, Hk key size, A the
additive attention's size.
"""

import numpy as np

from .. import _attention, _dense
from .._validation import as_float_array, check_dtype, check_lengths, check_positive_int
from ._base import Layer, fill_uniform
from ._linear import _private

KINDS = {"additive": 0, "dot": 1, "general": 2}


def _empty(dtype, ndim):
    return np.empty((0,) * ndim, dtype)


class Attention(Layer):
    """Attention of queries over padded key sequences (Bahdanau or Luong scores).

    For a query q (Hq,) and keys K (S, Hk) of which the first L are valid::

        e_s = v . tanh(W_q q + W_k K_s)     # kind='additive' (Bahdanau)
        e_s = q . K_s                       # kind='dot'      (Luong)
        e_s = q . (W K_s)                   # kind='general'  (Luong: q^T W k)
        w = softmax(e[:L]), 0 on the padding
        context = w @ K                     # (Hk,)

    Parameters
    ----------
    query_size : int
        Size Hq of each query (e.g. a decoder's hidden state).
    key_size : int
        Size Hk of each key (e.g. an encoder's output, 2H when bidirectional).
    kind : {'additive', 'dot', 'general'}, default='additive'
        The score.  'dot' needs ``query_size == key_size`` and has no
        parameters.
    attention_size : int or None, default=None
        Size A of the additive score's hidden layer (default: query_size).
        Only for 'additive'.
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : int, numpy Generator or None
        Seeds the initial weights: each matrix from U(-1/sqrt(n), 1/sqrt(n))
        with n its input size (PyTorch's rule for ``nn.Linear``), ``v`` with
        n = A.

    Attributes
    ----------
    params, grads : dict
        'additive': ``query_weight`` (A, Hq), ``key_weight`` (A, Hk),
        ``score_weight`` (A,) (v); 'general': ``weight`` (Hq, Hk) (W);
        'dot': none.

    Notes
    -----
    ``forward(query, keys, lengths)`` equals, in NumPy::

        Kp = keys @ W_k.T                                   # (B, S, A)
        E = np.tanh((query @ W_q.T)[:, None] + Kp) @ v      # (B, S)  additive
        E = np.einsum("bh,bsh->bs", query, keys @ W.T)      # general
        E[np.arange(S) >= lengths[:, None]] = -np.inf
        weights = softmax(E, axis=1)                        # (B, S)
        context = np.einsum("bs,bsk->bk", weights, keys)    # (B, Hk)

    The general score projects the keys (``keys @ W.T``, once for all
    queries) rather than the query: the same number, and a decoder that
    attends at every step over the same keys projects them once.

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.nn import Attention
    >>> att = Attention(4, 6, kind="additive", random_state=0)
    >>> rng = np.random.default_rng(0)
    >>> context, weights = att.forward(rng.normal(size=(2, 4)), rng.normal(size=(2, 5, 6)),
    ...                                lengths=[5, 3], training=False)
    >>> context.shape, weights.shape
    ((2, 6), (2, 5))
    >>> weights[1, 3:]          # padding gets no weight
    array([0., 0.], dtype=float32)
    """

    def __init__(self, query_size, key_size, kind="additive", attention_size=None, *,
                 dtype=np.float32, random_state=None):
        self.query_size = check_positive_int(query_size, "query_size")
        self.key_size = check_positive_int(key_size, "key_size")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {tuple(KINDS)}, got {kind!r}")
        self.kind = kind
        if kind == "dot" and self.query_size != self.key_size:
            raise ValueError(f"dot attention needs query_size == key_size, got "
                             f"{self.query_size} and {self.key_size} (use 'general' to "
                             "learn a map between them)")
        if attention_size is not None and kind != "additive":
            raise ValueError(f"attention_size is the additive score's size; the {kind!r} "
                             "score has none")
        self.attention_size = (check_positive_int(attention_size, "attention_size")
                               if attention_size is not None else
                               (self.query_size if kind == "additive" else None))
        self.dtype = check_dtype(dtype)
        self.training = True
        self._rng = np.random.default_rng(random_state)
        self._init_params(self.dtype)
        self.reset_parameters()

    # ------------------------------------------------------------------ setup
    @property
    def _code(self):
        return KINDS[self.kind]

    @property
    def projected_size(self):
        """Width P of the projected keys: A (additive), Hq (general), Hk (dot)."""
        return {"additive": self.attention_size, "general": self.query_size,
                "dot": self.key_size}[self.kind]

    def _param_shapes(self):
        Hq, Hk, A = self.query_size, self.key_size, self.attention_size
        if self.kind == "additive":
            return [("query_weight", (A, Hq)), ("key_weight", (A, Hk)), ("score_weight", (A,))]
        if self.kind == "general":
            return [("weight", (Hq, Hk))]
        return []

    def _param_count(self):
        return sum(int(np.prod(s)) for _, s in self._param_shapes())

    def reset_parameters(self):
        """Each matrix from U(-1/sqrt(n), 1/sqrt(n)), n its input size; v with n = A."""
        fan_in = {"query_weight": self.query_size, "key_weight": self.key_size,
                  "score_weight": self.attention_size, "weight": self.key_size}
        for name, _ in self._param_shapes():
            bound = 1.0 / np.sqrt(fan_in[name])
            fill_uniform(self._rng, self.params[name], -bound, bound)

    def _key_matrix(self, P):
        """The matrix that projects the keys (None for the dot kind)."""
        return {"additive": P.get("key_weight"), "general": P.get("weight"),
                "dot": None}[self.kind]

    # ------------------------------------------------------------- checking
    def _check(self, query, keys, lengths):
        q = as_float_array(query, self.dtype, "query")
        K = as_float_array(keys, self.dtype, "keys")
        if q.ndim != 2:
            raise ValueError(f"query must be 2-D (batch, query_size), got shape {q.shape}")
        if K.ndim != 3:
            raise ValueError(f"keys must be 3-D (batch, source positions, key_size), got "
                             f"shape {K.shape}")
        if q.shape[1] != self.query_size:
            raise ValueError(f"query has {q.shape[1]} features, but this layer expects "
                             f"query_size={self.query_size}")
        if K.shape[2] != self.key_size:
            raise ValueError(f"keys have {K.shape[2]} features, but this layer expects "
                             f"key_size={self.key_size}")
        if K.shape[0] != q.shape[0]:
            raise ValueError(f"query has {q.shape[0]} rows and keys {K.shape[0]}: one key "
                             "sequence per query")
        if q.shape[0] == 0:
            raise ValueError("query has no rows (batch size 0)")
        if K.shape[1] == 0:
            raise ValueError("keys have no source positions (length zero)")
        return q, K, check_lengths(lengths, K.shape[0], K.shape[1])

    # ------------------------------------------------------------ the parts
    def project_keys(self, keys, params=None):
        """The keys' part of the score, ``keys @ W.T``, computed once per batch.

        Parameters
        ----------
        keys : ndarray of shape (B, S, Hk)
            C-contiguous, of the layer's dtype.
        params : dict or None, default=None
            Named parameter views to read (e.g. of a snapshot); None: the
            layer's ``params``.

        Returns
        -------
        ndarray of shape (B, S, P)
            The projected keys (P = A for 'additive', Hq for 'general'); the
            keys themselves for 'dot'.
        """
        W = self._key_matrix(self.params if params is None else params)
        if W is None:
            return keys
        B, S, Hk = keys.shape
        Kp = np.empty((B, S, W.shape[0]), self.dtype)
        # Kp = K @ W.T   (B*S, P) = (B*S, Hk)(Hk, P)
        _dense.affine_rows(keys.reshape(B * S, Hk), W, _empty(self.dtype, 1),
                           Kp.reshape(B * S, -1), 0, B * S)
        return Kp

    def _score_params(self, P):
        """(W_q, v) of the additive kind, empty arrays otherwise."""
        if self.kind == "additive":
            return P["query_weight"], P["score_weight"]
        return _empty(self.dtype, 2), _empty(self.dtype, 1)

    # -------------------------------------------------------------- forward
    def forward(self, query, keys, lengths=None, *, training=None):
        """Attend with each query over its own keys.

        Parameters
        ----------
        query : array-like of shape (B, Hq)
        keys : array-like of shape (B, S, Hk)
        lengths : array-like of int of shape (B,), optional
            Valid positions of each key sequence (the rest is padding, which
            gets weight 0 and no gradient).  Default: all S.
        training : bool, optional
            Training keeps what ``backward`` needs; inference reads the
            parameters and nothing else.  Defaults to the mode set by
            ``train()``/``eval()``.

        Returns
        -------
        context : ndarray of shape (B, Hk)
        weights : ndarray of shape (B, S)
            Each row sums to 1 over its valid positions.
        """
        q, K, lengths = self._check(query, keys, lengths)
        if not self._mode(training):
            return self._attend(q, K, lengths, self.params, False)[:2]
        with self._training_call():
            ctx, w, Kp, Z = self._attend(q, K, lengths, self.params, True)
            # private copies: the caller may change its arrays before backward
            self._record((_private(q, query), _private(K, keys), Kp, lengths, Z, w.copy()))
            return ctx, w

    __call__ = forward

    def _attend(self, q, K, lengths, P, keep):
        B, S, _ = K.shape
        Kp = self.project_keys(K, P)
        W_q, v = self._score_params(P)
        Z = (np.empty((B, S, self.attention_size), self.dtype)
             if keep and self.kind == "additive" else _empty(self.dtype, 3))
        w = np.empty((B, S), self.dtype)
        ctx = np.empty((B, self.key_size), self.dtype)
        _attention.attend(self._code, q, W_q, v, K, Kp, lengths, Z, w, ctx)
        return ctx, w, Kp, Z

    # ------------------------------------------------------------- backward
    def backward(self, d_context, d_weights=None):
        """Backpropagate from the last training ``forward``.

        Parameters
        ----------
        d_context : array-like of shape (B, Hk)
        d_weights : array-like of shape (B, S), optional
            Gradient on the weights, when the loss reads them too.

        Returns
        -------
        d_query : ndarray of shape (B, Hq)
        d_keys : ndarray of shape (B, S, Hk)
            0 on padded positions.

        ``grads`` are overwritten (not accumulated).
        """
        with self._training_call():
            q, K, Kp, lengths, Z, w = self._recorded()
            B, S, Hk = K.shape
            dc = as_float_array(d_context, self.dtype, "d_context")
            if dc.shape != (B, Hk):
                raise ValueError(f"d_context must have shape {(B, Hk)}, got {dc.shape}")
            if d_weights is None:
                dw = _empty(self.dtype, 2)
            else:
                dw = as_float_array(d_weights, self.dtype, "d_weights")
                if dw.shape != (B, S):
                    raise ValueError(f"d_weights must have shape {(B, S)}, got {dw.shape}")
            W_q, v = self._score_params(self.params)
            dq = np.empty_like(q)
            dK = np.empty_like(K)
            dKp = np.empty_like(Kp) if self.kind != "dot" else _empty(self.dtype, 3)
            if self.kind == "additive":
                dW_q, dv = self.grads["query_weight"], self.grads["score_weight"]
            else:
                dW_q, dv = _empty(self.dtype, 2), _empty(self.dtype, 1)
            _attention.attend_backward(self._code, dc, dw, q, W_q, v, K, Kp, lengths, Z, w,
                                       dq, dW_q, dv, dK, dKp)
            W = self._key_matrix(self.params)
            if W is not None:
                dW = self._key_matrix(self.grads)
                N = B * S
                dKp2, K2 = dKp.reshape(N, -1), K.reshape(N, Hk)
                # dW = dKp.T @ K   (P, Hk) = (P, B*S)(B*S, Hk)
                _dense.weight_grad_rows(dKp2, K2, dW, _empty(self.dtype, 1), 0, W.shape[0])
                # dK += dKp @ W    (B*S, Hk) = (B*S, P)(P, Hk)
                through = np.empty((N, Hk), self.dtype)
                _dense.input_grad_rows(dKp2, W, through, 0, N)
                dK += through.reshape(B, S, Hk)
            return dq, dK

    def __repr__(self):
        args = [str(self.query_size), str(self.key_size), f"kind={self.kind!r}"]
        if self.kind == "additive" and self.attention_size != self.query_size:
            args.append(f"attention_size={self.attention_size}")
        args.append(f"dtype={np.dtype(self.dtype).name}")
        return f"Attention({', '.join(args)})"

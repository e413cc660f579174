"""``Seq2Seq``: an encoder-decoder network with attention (sequence in, sequence
of another length out).

Design: the network owns one flat parameter buffer and one flat gradient
buffer, to which its parts are bound (as ``SequenceNetwork`` does), in this
order:

* ``source_embedding`` (``Embedding``, padding id 0) and ``encoder``, a
  recurrent layer of any cell kind (stacked, bidirectional), whose outputs
  M (B, S, Hk) are the keys of the attention; a bidirectional encoder has
  ``hidden_size // 2`` units per direction, so that Hk = H (OpenNMT's
  ``brnn``), and every attention kind (the dot one needs Hq = Hk) fits;
* ``bridge``, ``tanh(Linear)`` from the encoder's summary (the last layer's
  final states, [forward at the end, backward at the start]) to the
  decoder's initial hidden state (an LSTM decoder starts with c = 0);
* ``attention`` (``Attention``: additive, dot or general);
* ``decoder``, one recurrent cell of the same kind reading
  [embedding of the previous token, context] (its parameters only: the
  decoder loop runs in ``seqcore._decoder``), ``target_embedding`` and the
  output layer ``output`` (``Linear`` over [h_t, context_t]).

Decoder step (Bahdanau's order: the attention reads the previous state, and
the context enters the cell's input and the output layer)::

    ctx_t, w_t = attention(h_{t-1}, M)
    h_t = cell([emb(y_{t-1}), ctx_t], h_{t-1})
    logits_t = W_out [h_t, ctx_t] + b_out

The input of a step depends on the state before it, so the steps run one
after another, all of them in one compiled call (training forward, training
backward, greedy decoding); Python runs per batch, not per step.  Training
uses teacher forcing (y_{t-1} is the target), optionally feeding the
model's own previous prediction with probability ``sampling_rate``
(scheduled sampling; the choice is not differentiated).  The loss is the
mean softmax cross-entropy over the target tokens (each target ends with
the end id).

Beam search runs all the beams of all the inputs as one batch (B*K rows)
through one compiled decoder step per output position; Python per position
is a handful of NumPy calls over all beams at once (log-softmax, one sort of
the K*V candidates of each input, gathers), none per beam or input.

Threads: inference reads a snapshot of the parameters taken under
``param_lock`` and allocates its own buffers; training calls hold the
network's training lock (a second thread is refused with a RuntimeError).
A batch of ``MIN_SPLIT_ROWS`` rows or more runs the decoder loop in two row
ranges, at once on two threads when the user allows the BLAS more than one
thread; the ranges depend on the batch size alone, and the results on
neither the ranges' threads nor the BLAS's thread count.
"""

import math

import numpy as np

from .. import _blas, _decoder, _dense, _embedding, _losses
from . import _layers
from .._validation import check_dtype, check_positive_int
from ._attention import Attention
from ._base import _Holding, check_memory
from ._cells import get_cell
from ._embedding import Embedding
from ._layers import _in_parallel
from ._linear import Linear
from ._model import FlatModel

# Inference runs in chunks of at most this many inputs, fewer when their
# buffers would take more than about PREDICT_MEMORY bytes (long sources, a
# large max_length or vocabulary), so memory grows with the outputs only...
DECODE_CHUNK = 1024
PREDICT_MEMORY = 64 << 20   # as SequenceNetwork's predictions
# ...and beam search keeps the tokens (and attention) of its hypotheses in
# buffers that start this long and double as the outputs grow, not in
# max_length-long ones (max_length may be far above the outputs' lengths)
BEAM_HISTORY = 64
# ...and training and greedy decoding split a batch of at least this many
# rows into two row ranges, run at once on two threads when the user allows
# the BLAS more than one (the rows are independent; the ranges depend on
# the batch size alone, so results do not depend on the thread count).
MIN_SPLIT_ROWS = 32


def _empty(dtype, ndim):
    return np.empty((0,) * ndim, dtype)


def check_id_batch(ids, lengths, vocab_size, name):
    """ids (B, T) as a C-contiguous int64 array in [0, vocab_size) and
    lengths (B,) in [1, T]; clear errors otherwise."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, steps), got shape {arr.shape}")
    B, T = arr.shape
    if B == 0:
        raise ValueError(f"{name} has no sequences (batch size 0)")
    if T == 0:
        raise ValueError(f"{name} has sequences of length zero")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.min() < 0 or arr.max() >= vocab_size:
        bad = arr[(arr < 0) | (arr >= vocab_size)][0]
        raise ValueError(f"{name} holds id {bad}, outside [0, {vocab_size})")
    if lengths is None:
        lengths = np.full(B, T, np.int64)
    else:
        lengths = np.asarray(lengths)
        if lengths.dtype.kind not in "iu" or lengths.shape != (B,):
            raise ValueError(f"lengths of {name} must be {B} integers, got "
                             f"{lengths.dtype} of shape {lengths.shape}")
        lengths = lengths.astype(np.int64)
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths of {name} must lie in [1, {T}], got values in "
                             f"[{lengths.min()}, {lengths.max()}] (an empty sequence "
                             "cannot be read)")
    return arr, lengths


class Seq2Seq(FlatModel):
    """Encoder-decoder network with attention, for token sequences.

    Parameters
    ----------
    source_vocab_size, target_vocab_size : int
        Sizes of the id ranges (id 0 is padding in both).
    start_id, end_id : int
        Target ids of the start token (the decoder's first input, never
        output) and of the end token (ends every target and every output).
    cell : {'rnn', 'gru', 'lstm', 'mgu'}, default='lstm'
        Kind of the encoder's layers and of the decoder's cell.
    embedding_dim : int, default=32
        Size E of the source and target embeddings.
    hidden_size : int, default=64
        Size H of the decoder's state and of the encoder's outputs (H // 2
        per direction when bidirectional: H must then be even).
    num_layers : int, default=1
        Layers of the encoder (the decoder is one cell).
    bidirectional_encoder : bool, default=True
    attention : {'additive', 'dot', 'general'}, default='additive'
    attention_size : int or None
        Size A of the additive score (default H).
    forbidden_ids : sequence of int, default=()
        Target ids never output (besides padding and the start id), e.g. the
        unknown id.
    dtype : {np.float32, np.float64}, default=np.float32
    random_state : int, numpy Generator or None
        Seeds every part's initial weights and the sampling of scheduled
        sampling.
    **cell_options
        The cell kind's options (``reset_after``, ``peephole``, ...), except
        the LSTM's ``proj_size``, which is refused (ValueError).

    Attributes
    ----------
    flat_params, flat_grads : ndarray
        All parameters (gradients) in one buffer; ``params`` and ``grads``
        name their views by part (``"encoder.weight_ih_l0"``, ...).
    """

    PARTS = ("source_embedding", "encoder", "bridge", "attention", "decoder",
             "target_embedding", "output")

    def __init__(self, source_vocab_size, target_vocab_size, *, start_id, end_id,
                 cell="lstm", embedding_dim=32, hidden_size=64, num_layers=1,
                 bidirectional_encoder=True, attention="additive", attention_size=None,
                 forbidden_ids=(), dtype=np.float32, random_state=None, **cell_options):
        self.source_vocab_size = check_positive_int(source_vocab_size, "source_vocab_size")
        self.target_vocab_size = check_positive_int(target_vocab_size, "target_vocab_size")
        V = self.target_vocab_size
        for name, value in (("start_id", start_id), ("end_id", end_id)):
            check_positive_int(value, name, minimum=1)
            if value >= V:
                raise ValueError(f"{name} must be < target_vocab_size={V}, got {value}")
        if start_id == end_id:
            raise ValueError("start_id and end_id must differ")
        self.start_id, self.end_id = int(start_id), int(end_id)
        spec = get_cell(cell)
        if cell_options.get("proj_size"):
            # the decoder's state feeds the attention, the bridge and the output
            # layer as H entries; a projected state (P < H) fits none of them
            raise ValueError(f"Seq2Seq does not support the LSTM's proj_size (got "
                             f"proj_size={cell_options['proj_size']!r}): the decoder's state "
                             "must keep hidden_size entries; leave proj_size at 0")
        self.cell = cell
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        self.hidden_size = H = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.bidirectional_encoder = bool(bidirectional_encoder)
        D = 2 if self.bidirectional_encoder else 1
        if H % D:
            raise ValueError(f"a bidirectional encoder splits hidden_size between its two "
                             f"directions: hidden_size must be even, got {H}")
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(random_state)
        self._rng = rng
        seeds = iter(rng.integers(0, 2**31 - 1, size=8))
        layer_class = getattr(_layers, spec.layer)
        E = self.embedding_dim
        kw = dict(dtype=self.dtype)
        self.source_embedding = Embedding(self.source_vocab_size, E, padding_idx=0,
                                          random_state=next(seeds), **kw)
        self.encoder = layer_class(E, H // D, self.num_layers,
                                   bidirectional=self.bidirectional_encoder,
                                   random_state=next(seeds), **kw, **cell_options)
        Hk = self.encoder.output_size
        self.bridge = Linear(Hk, H, activation="tanh", random_state=next(seeds), **kw)
        self.attention = Attention(H, Hk, attention, attention_size,
                                   random_state=next(seeds), **kw)
        self.decoder = layer_class(E + Hk, H, 1, random_state=next(seeds), **kw,
                                   **cell_options)
        self.target_embedding = Embedding(V, E, padding_idx=0, random_state=next(seeds), **kw)
        self.output = Linear(H + Hk, V, random_state=next(seeds), **kw)
        allowed = np.ones(V, np.uint8)
        for i in (0, self.start_id, *forbidden_ids):
            if not 0 <= int(i) < V:
                raise ValueError(f"forbidden id {i} is outside [0, {V})")
            if int(i) == self.end_id:
                raise ValueError("the end id cannot be forbidden")
            allowed[int(i)] = 0
        self.allowed = allowed
        self._layout = self.decoder._layout
        self._attn_code = self.attention._code

        self._allocate(sum(getattr(self, p)._param_count() for p in self.PARTS), "a Seq2Seq")

    # ------------------------------------------------------------- the parts
    def _decoder_args(self, P, M, Kp, lengths):
        """The parameter and key arguments of every ``_decoder`` entry point."""
        dec, lay, H = P["decoder"], self._layout, self.hidden_size
        b_ih, b_hh = dec["bias_ih_l0"], dec["bias_hh_l0"]
        bias = b_ih + b_hh
        if lay.separate_bias >= 0:   # its b_hh stays inside the gate's own product
            block = slice(lay.separate_bias * H, (lay.separate_bias + 1) * H)
            bias[block] = b_ih[block]
        extra = (dec[f"{lay.extra_name}_l0"] if lay.extra_rows else _empty(self.dtype, 2))
        W_q, v = self.attention._score_params(P["attention"])
        return (lay.code, lay.flags, self._attn_code, P["target_embedding"]["weight"],
                dec["weight_ih_l0"], dec["weight_hh_l0"], bias, b_hh, extra, W_q, v,
                M, Kp, lengths, P["output"]["weight"], P["output"]["bias"])

    def _summary(self, state):
        """[forward at the end, backward at the start] of the last layer."""
        h_n = state[0] if self.encoder._two_states else state
        if not self.bidirectional_encoder:
            return np.ascontiguousarray(h_n[-1])
        return np.concatenate([h_n[-2], h_n[-1]], axis=1)

    def _encode(self, src, lengths, P):
        """Inference: keys M, projected keys Kp and the decoder's initial state."""
        B, S = src.shape
        E = np.empty((B * S, self.embedding_dim), self.dtype)
        _embedding.gather(P["source_embedding"]["weight"], src.reshape(-1), E)
        M, state = self.encoder._forward(E.reshape(B, S, -1), lengths, None,
                                         training=False, params=P["encoder"])
        M = np.ascontiguousarray(M)
        h0, _ = self.bridge._affine(self._summary(state), P["bridge"], False)
        c0 = np.zeros_like(h0) if self._layout.n_states == 2 else _empty(self.dtype, 2)
        return M, self.attention.project_keys(M, P["attention"]), h0, c0

    # -------------------------------------------------------------- training
    def loss_and_gradient(self, src, src_lengths, targets, target_lengths,
                          sampling_rate=0.0):
        """Training pass: the mean cross-entropy per target token; fills ``flat_grads``.

        Parameters
        ----------
        src : int array of shape (B, S)
            Source ids, padded with 0.
        src_lengths : int array of shape (B,)
            Length of each source.
        targets : int array of shape (B, T)
            Target ids, each sequence ending with ``end_id`` (padding after
            it is ignored).
        target_lengths : int array of shape (B,)
            Length of each target, counting the end id.
        sampling_rate : float in [0, 1], default=0.0
            Probability that a step (after the first) reads the model's own
            previous prediction instead of the target (scheduled sampling).

        Returns
        -------
        float
            The mean cross-entropy per target token (inf when it is not
            finite).

        Raises
        ------
        RuntimeError
            When another thread trains the network now.
        """
        with _Holding(self):
            return self._loss_and_gradient(src, src_lengths, targets, target_lengths,
                                           sampling_rate)

    def _check_targets(self, targets, target_lengths, B):
        Y, lengths = check_id_batch(targets, target_lengths, self.target_vocab_size, "targets")
        if Y.shape[0] != B:
            raise ValueError(f"targets has {Y.shape[0]} sequences, src has {B}")
        T = Y.shape[1]
        valid = np.arange(T) < lengths[:, None]
        if (Y[np.arange(B), lengths - 1] != self.end_id).any():
            raise ValueError(f"every target sequence must end with end_id={self.end_id} at "
                             "its last step")
        inner = Y[valid & (np.arange(T) < (lengths - 1)[:, None])]
        if np.isin(inner, np.flatnonzero(self.allowed == 0)).any() \
                or (inner == self.end_id).any():
            raise ValueError("targets contain the padding, start, end or a forbidden id "
                             "before their last step")
        return Y, lengths, valid

    def _loss_and_gradient(self, src, src_lengths, targets, target_lengths, sampling_rate):
        src, src_lengths = check_id_batch(src, src_lengths, self.source_vocab_size, "src")
        B, S = src.shape
        Y, _, valid = self._check_targets(targets, target_lengths, B)
        T = Y.shape[1]
        if not 0.0 <= sampling_rate <= 1.0:
            raise ValueError(f"sampling_rate must lie in [0, 1], got {sampling_rate!r}")
        dt, H, Hk, E = self.dtype, self.hidden_size, self.encoder.output_size, self.embedding_dim
        lay = self._layout
        two = lay.n_states == 2
        additive = self.attention.kind == "additive"
        A = self.attention.projected_size
        V, O = self.target_vocab_size, H + Hk
        G = lay.G
        # the decoder's buffers, forward and backward, before any work
        n_bytes = np.dtype(dt).itemsize * (
            T * B * (4 * H + 2 * (E + Hk) + 3 * G * H + 2 * S + 3 * A + S * A + 2 * O)
            + 2 * B * S * (Hk + A) + 2 * T * B * V)
        if n_bytes > 1 << 28:
            check_memory(n_bytes, f"Seq2Seq training on {B} pairs of {S} source and {T} "
                                  "target steps")

        # encoder, bridge, keys
        X_src = self.source_embedding.forward(src, training=True)
        M, state = self.encoder.forward(X_src, src_lengths, training=True)
        M = np.ascontiguousarray(M)
        summary = self._summary(state)
        h0 = self.bridge.forward(summary, training=True)
        Kp = self.attention.project_keys(M)

        # decoder loop
        ids = np.empty((T, B), np.int64)
        ids[0] = self.start_id
        ids[1:] = Y[:, :-1].T
        sampled = sampling_rate > 0
        sample = ((self._rng.random((T, B)) < sampling_rate).astype(np.uint8) if sampled
                  else np.empty((0, 0), np.uint8))
        used = np.empty((T, B), np.int64)
        Hs = np.empty((T + 1, B, H), dt)
        Hs[0] = h0
        Cs = np.zeros((T + 1, B, H), dt) if two else _empty(dt, 3)
        Xd = np.empty((T, B, E + Hk), dt)
        gates = np.empty((T, B, G * H), dt)
        aux = np.zeros((T, B, H), dt)
        Z = np.empty((T, B, S, A), dt) if additive else _empty(dt, 4)
        W = np.empty((T, B, S), dt)
        Od = np.empty((T, B, O), dt)
        logits = np.empty((T, B, V), dt) if sampled else _empty(dt, 3)
        args = self._decoder_args({p: getattr(self, p).params for p in self.PARTS},
                                  M, Kp, src_lengths)
        # row ranges from the batch size alone (see DECODE_CHUNK's notes)
        parts = 2 if B >= MIN_SPLIT_ROWS else 1
        bounds = [B * i // parts for i in range(parts + 1)]
        parallel = _blas.user_blas_threads() != 1

        def forward(i):
            _decoder.train_forward(*args, ids, sample, self.allowed, used, Hs, Cs, Xd, gates,
                                   aux, Z, W, Od, logits, bounds[i], bounds[i + 1])

        _in_parallel(forward, parts, parallel)

        # output layer and loss, over all steps at once
        N = T * B
        rows = Od.reshape(N, O)
        if not sampled:
            logits, _ = self.output._affine(rows, self.output.params, False)
        logits = logits.reshape(N, V)
        # the ids never output are outside the distribution (as in decoding)
        logits[:, self.allowed == 0] = -np.inf
        n_valid = int(valid.sum())
        w = (valid.T.reshape(N) / n_valid).astype(dt)
        dZ = np.empty_like(logits)
        loss = _losses.softmax_cross_entropy(logits, np.ascontiguousarray(Y.T.reshape(N),
                                                                          dtype=np.intp),
                                             w, 1.0, dZ)
        if not np.isfinite(loss):
            return np.inf
        og = self.output.grads
        # dW_out = dZ.T @ O   (V, O) = (V, N)(N, O);  db_out = dZ.sum(0)
        _dense.weight_grad_rows(dZ, rows, og["weight"], og["bias"], 0, V)
        dO = np.empty((N, O), dt)
        # dO = dZ @ W_out   (N, O) = (N, V)(V, O)
        _dense.input_grad_rows(dZ, self.output.params["weight"], dO, 0, N)

        # back through the decoder loop
        dg = self.decoder.grads
        sep = lay.separate_bias >= 0
        dG = np.empty((T, B, G * H), dt)
        dGH = np.empty((T, B, G * H), dt) if sep else _empty(dt, 3)
        dXd = np.empty((T, B, E + Hk), dt)
        dQP = np.empty((T, B, A), dt) if additive else _empty(dt, 3)
        dK = np.empty((B, S, Hk), dt)
        dKp = np.empty((B, S, A), dt) if self.attention.kind != "dot" else _empty(dt, 3)
        dh0 = np.empty((B, H), dt)
        dc0 = np.empty((B, H), dt) if two else _empty(dt, 2)
        ag = self.attention.grads
        dW_q, dv = ((ag["query_weight"], ag["score_weight"]) if additive
                    else (_empty(dt, 2), _empty(dt, 1)))
        dextra = dg[f"{lay.extra_name}_l0"] if lay.extra_rows else _empty(dt, 2)
        # each range accumulates its own gradient on v and on the cell's extra
        # weights; they add up in range order
        dvs = [dv] if parts == 1 or not additive else [np.empty_like(dv) for _ in range(parts)]
        dextras = ([dextra] if parts == 1 or not lay.extra_rows
                   else [np.empty_like(dextra) for _ in range(parts)])
        dO = dO.reshape(T, B, O)

        def backward(i):
            _decoder.train_backward(*args, Hs, Cs, Xd, gates, aux, Z, W, dO, dG, dGH, dXd,
                                    dQP, dK, dKp, dh0, dc0, dextras[min(i, len(dextras) - 1)],
                                    dvs[min(i, len(dvs) - 1)], bounds[i], bounds[i + 1])

        def weights(i):
            _decoder.weight_gradients(lay.code, lay.flags, self._attn_code, Hs, Xd, aux, dG,
                                      dGH, dQP, dg["weight_ih_l0"], dg["weight_hh_l0"],
                                      dg["bias_ih_l0"], dg["bias_hh_l0"], dW_q, i, parts)

        _in_parallel(backward, parts, parallel)
        for acc, pieces in ((dv, dvs), (dextra, dextras)):
            if len(pieces) > 1:
                acc[...] = pieces[0]
                for piece in pieces[1:]:
                    acc += piece
        _in_parallel(weights, parts, parallel)
        # the target embedding: its rows' share of dX
        dEmb = np.ascontiguousarray(dXd[:, :, :E]).reshape(N, E)
        _embedding.scatter_add(used.reshape(N), dEmb, self.target_embedding.grads["weight"],
                               0)
        # the key projection
        W_k = self.attention._key_matrix(self.attention.params)
        if W_k is not None:
            dW_k = self.attention._key_matrix(ag)
            dKp2, M2 = dKp.reshape(B * S, -1), M.reshape(B * S, Hk)
            # dW_k = dKp.T @ M   (P, Hk) = (P, B*S)(B*S, Hk)
            _dense.weight_grad_rows(dKp2, M2, dW_k, _empty(dt, 1), 0, W_k.shape[0])
            through = np.empty((B * S, Hk), dt)
            # dM += dKp @ W_k   (B*S, Hk) = (B*S, P)(P, Hk)
            _dense.input_grad_rows(dKp2, W_k, through, 0, B * S)
            dK += through.reshape(B, S, Hk)
        if not (np.isfinite(dh0).all() and np.isfinite(dK).all()):
            # finite loss, overflowed gradients (a step far too large): report
            # it as a non-finite loss, for the training engine to handle
            return np.inf
        # the bridge, then the encoder from its outputs and its final states
        d_summary = self.bridge.backward(dh0)
        enc = self.encoder
        dh_n = np.zeros((enc.num_layers * enc.num_directions, B, enc.hidden_size), dt)
        if self.bidirectional_encoder:
            dh_n[-2], dh_n[-1] = d_summary[:, :enc.hidden_size], d_summary[:, enc.hidden_size:]
        else:
            dh_n[-1] = d_summary
        dX_src, _ = enc.backward(dK, enc._state(dh_n, None))
        self.source_embedding.backward(dX_src)
        return float(loss)

    # ------------------------------------------------------------- inference
    def log_prob(self, src, src_lengths, targets, target_lengths):
        """Log-probability of each target sequence (sum over its steps), in float64.

        A target need not end with the end id (a sequence cut at a maximum
        length then scores its tokens only).  Inference: reads a snapshot of
        the parameters.

        Parameters
        ----------
        src : int array of shape (B, S)
            Source ids, padded with 0.
        src_lengths : int array of shape (B,) or None
            Length of each source (None: all S).
        targets : int array of shape (B, T)
            Target ids, padded with 0.
        target_lengths : int array of shape (B,) or None
            Length of each target (None: all T).

        Returns
        -------
        ndarray of shape (B,)
            Sum of the log-probabilities of each target's tokens.
        """
        src, src_lengths = check_id_batch(src, src_lengths, self.source_vocab_size, "src")
        Y, tgt_lengths = check_id_batch(targets, target_lengths, self.target_vocab_size,
                                        "targets")
        B, S = src.shape
        if Y.shape[0] != B:
            raise ValueError(f"targets has {Y.shape[0]} sequences, src has {B}")
        T = Y.shape[1]
        P = self._snapshot_views()
        M, Kp, h0, _ = self._encode(src, src_lengths, P)
        dt, H, E, Hk = self.dtype, self.hidden_size, self.embedding_dim, M.shape[2]
        lay, A = self._layout, self.attention.projected_size
        ids = np.empty((T, B), np.int64)
        ids[0] = self.start_id
        ids[1:] = Y[:, :-1].T
        Hs = np.empty((T + 1, B, H), dt)
        Hs[0] = h0
        Cs = np.zeros((T + 1, B, H), dt) if lay.n_states == 2 else _empty(dt, 3)
        O = np.empty((T, B, H + Hk), dt)
        _decoder.train_forward(
            *self._decoder_args(P, M, Kp, src_lengths), ids, np.empty((0, 0), np.uint8),
            self.allowed, np.empty((T, B), np.int64), Hs, Cs, np.empty((T, B, E + Hk), dt),
            np.empty((T, B, lay.G * H), dt), np.zeros((T, B, H), dt),
            np.empty((T, B, S, A), dt) if self.attention.kind == "additive" else _empty(dt, 4),
            np.empty((T, B, S), dt), O, _empty(dt, 3), 0, B)
        Z = O.astype(np.float64) @ P["output"]["weight"].T.astype(np.float64) \
            + P["output"]["bias"]
        Z = np.where(self.allowed.astype(bool), Z, -np.inf)
        Z -= Z.max(axis=-1, keepdims=True)
        logp = Z - np.log(np.exp(Z).sum(axis=-1, keepdims=True))
        picked = np.take_along_axis(logp, Y.T[:, :, None], axis=2)[:, :, 0]   # (T, B)
        return np.where(np.arange(T)[:, None] < tgt_lengths, picked, 0.0).sum(axis=0)

    def decode(self, src, src_lengths=None, *, max_length, beam_width=1, length_penalty=1.0,
               return_attention=False):
        """Output sequences for a batch of sources.

        Parameters
        ----------
        src : int array of shape (B, S)
            Source ids, padded with 0.
        src_lengths : int array of shape (B,) or None, default=None
            Length of each source (None: all S).
        max_length : int >= 1
            Most ids per output (the end id not counted).
        beam_width : int >= 1
            1: greedy search (compiled loop); K > 1: beam search over K
            hypotheses per input.
        length_penalty : float >= 0
            Beam search ranks finished hypotheses by ``log p / length **
            length_penalty`` (length counting the end id; 0: no
            normalisation).
        return_attention : bool
            Also return each output's attention weights.

        Returns
        -------
        outputs : list of 1-D int64 arrays (without the end id)
        attention : list of ndarray (len(output), S_i), with return_attention
        """
        max_length = check_positive_int(max_length, "max_length")
        beam_width = check_positive_int(beam_width, "beam_width")
        if not (isinstance(length_penalty, (int, float, np.floating, np.integer))
                and not isinstance(length_penalty, bool) and length_penalty >= 0
                and math.isfinite(length_penalty)):
            raise ValueError(f"length_penalty must be a number >= 0, got {length_penalty!r}")
        src, src_lengths = check_id_batch(src, src_lengths, self.source_vocab_size, "src")
        P = self._snapshot_views()
        outs, atts = [], []
        # longest sources first, so that a chunk's rows have similar lengths
        # and its size follows them; the outputs return in the input's order
        order = np.argsort(-src_lengths, kind="stable")
        results = [None] * src.shape[0]
        start = 0
        while start < src.shape[0]:
            S = int(src_lengths[order[start]])
            chunk = self._rows_per_chunk(S, max_length, beam_width, return_attention)
            rows = order[start:start + chunk]
            start += chunk
            L = src_lengths[rows]
            part = np.ascontiguousarray(src[rows, :S])
            if beam_width == 1:
                o, a = self._greedy(part, L, P, max_length, return_attention)
            else:
                o, a = self._beam(part, L, P, max_length, beam_width, float(length_penalty),
                                  return_attention)
            for i, r in enumerate(rows):
                results[r] = (o[i], a[i] if return_attention else None)
        outs = [r[0] for r in results]
        atts = [r[1] for r in results] if return_attention else []
        return (outs, atts) if return_attention else outs

    def _rows_per_chunk(self, S, max_length, K, with_attn):
        """Inputs of one decoding chunk (sources of up to S ids): their
        buffers take about PREDICT_MEMORY bytes, and at most
        DECODE_CHUNK // K inputs (K hypotheses each) run at once."""
        item = np.dtype(self.dtype).itemsize
        Hk, A, V = self.encoder.output_size, self.attention.projected_size, \
            self.target_vocab_size
        # encoder: embeddings, its scans' buffers, keys and projected keys
        per_input = (self.encoder._work_bytes(1, S, False)
                     + S * (self.embedding_dim + Hk + A) * item)
        if K == 1:   # the compiled loop's buffers: max_length tokens (and weights)
            per_input += max_length * (8 + (S * item if with_attn else 0))
        else:        # K hypotheses: a step's weights and logits (float64 copies), histories
            T = min(max_length, BEAM_HISTORY)
            per_input += K * (S * item + V * (item + 3 * 8) + 4 * T * 8
                              + (4 * T * S * 8 if with_attn else 0))
        return int(max(1, min(DECODE_CHUNK // K, PREDICT_MEMORY // max(per_input, 1))))

    def _greedy(self, src, lengths, P, max_length, with_attn):
        M, Kp, h0, c0 = self._encode(src, lengths, P)
        B, S = src.shape
        tokens = np.empty((B, max_length), np.int64)
        out_len = np.empty(B, np.int64)
        attn = np.empty((B, max_length, S), self.dtype) if with_attn else _empty(self.dtype, 3)
        args = self._decoder_args(P, M, Kp, lengths)
        parts = 2 if B >= MIN_SPLIT_ROWS else 1
        bounds = [B * i // parts for i in range(parts + 1)]

        def run(i):
            _decoder.greedy(*args, h0, c0, self.start_id, self.end_id, self.allowed,
                            tokens, out_len, attn, bounds[i], bounds[i + 1])

        _in_parallel(run, parts, _blas.user_blas_threads() != 1)
        outs = [tokens[b, :out_len[b]].copy() for b in range(B)]
        atts = ([attn[b, :out_len[b], :lengths[b]].astype(np.float64) for b in range(B)]
                if with_attn else [])
        return outs, atts

    def _beam(self, src, lengths, P, max_length, K, alpha, with_attn):
        M, Kp, h0, c0 = self._encode(src, lengths, P)
        B, S = src.shape
        V, n = self.target_vocab_size, B * K
        two = self._layout.n_states == 2
        dt = self.dtype
        args = self._decoder_args(P, M, Kp, lengths)
        src_rows = np.repeat(np.arange(B, dtype=np.intp), K)
        h = np.repeat(h0, K, axis=0)
        c = np.repeat(c0, K, axis=0) if two else _empty(dt, 2)
        h_new, c_new = np.empty_like(h), np.empty_like(c) if two else _empty(dt, 2)
        w = np.empty((n, S), dt)
        logits = np.empty((n, V), dt)
        banned = self.allowed == 0
        scores = np.full((B, K), -np.inf)
        scores[:, 0] = 0.0          # one live hypothesis at the start: no duplicates
        ids = np.full(n, self.start_id, np.int64)
        cap = min(max_length, BEAM_HISTORY)       # the histories' length, doubled as needed
        hist = np.zeros((B, K, cap), np.int64)                      # live tokens
        hist_w = np.zeros((B, K, cap, S)) if with_attn else None
        fin_score = np.full((B, K), -np.inf)                        # finished, best first
        fin_tok = np.zeros((B, K, cap), np.int64)
        fin_len = np.zeros((B, K), np.int64)
        fin_w = np.zeros((B, K, cap, S)) if with_attn else None
        done = np.zeros(B, bool)
        rows_b = np.arange(B)[:, None]

        def grow(a):   # a history twice as long (at most max_length), zeros after
            more = min(2 * a.shape[2], max_length) - a.shape[2]
            return np.concatenate([a, np.zeros(a.shape[:2] + (more,) + a.shape[3:],
                                               a.dtype)], axis=2)

        def finish(cand_score, beam, t, w_step=None):
            """Merge hypotheses (B, C) whose first t tokens are hist[b, beam]
            into the finished ones (best K by normalised score)."""
            nonlocal fin_score, fin_tok, fin_len, fin_w
            tok = hist[rows_b, beam]                                # (B, C, Tmax)
            all_score = np.concatenate([fin_score, cand_score], axis=1)
            order = np.argsort(-all_score, axis=1, kind="stable")[:, :K]
            fin_score = np.take_along_axis(all_score, order, axis=1)
            all_tok = np.concatenate([fin_tok, tok], axis=1)
            fin_tok = all_tok[rows_b, order]
            all_len = np.concatenate([fin_len, np.full(beam.shape, t)], axis=1)
            fin_len = np.take_along_axis(all_len, order, axis=1)
            if with_attn:
                fin_w = np.concatenate([fin_w, hist_w[rows_b, beam]], axis=1)[rows_b, order]

        for t in range(max_length + 1):
            if t == max_length or done.all():
                # hypotheses still running end here, cut at max_length
                live = np.where(done[:, None], -np.inf, scores)
                finish(live / (float(t) ** alpha if alpha else 1.0),
                       np.broadcast_to(np.arange(K), (B, K)), t)
                break
            if t == hist.shape[2]:   # t < max_length here: room for one more token
                hist, fin_tok = grow(hist), grow(fin_tok)
                if with_attn:
                    hist_w, fin_w = grow(hist_w), grow(fin_w)
            _decoder.step(*args, ids, src_rows, h, c, h_new, c_new, w, logits)
            z = logits.astype(np.float64)
            z[:, banned] = -np.inf
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            cand = (scores[:, :, None] + logp.reshape(B, K, V)).reshape(B, K * V)
            cand[done] = -np.inf
            top = np.argsort(-cand, axis=1, kind="stable")[:, :2 * K]    # (B, 2K)
            top_score = np.take_along_axis(cand, top, axis=1)
            beam, tok = top // V, top % V
            ends = (tok == self.end_id) & np.isfinite(top_score)
            # ends among the first K candidates finish (their length t + 1
            # counts the end id)
            first = np.arange(2 * K) < K
            norm = top_score / (float(t + 1) ** alpha if alpha else 1.0)
            finish(np.where(ends & first, norm, -np.inf), beam, t)
            # the first K candidates that do not end go on
            go = ~ends
            rank = np.cumsum(go, axis=1) - 1
            keep = go & (rank < K)
            nxt = np.flatnonzero(keep.ravel()).reshape(B, K) % (2 * K)
            parent = np.take_along_axis(beam, nxt, axis=1)              # (B, K)
            new_tok = np.take_along_axis(tok, nxt, axis=1)
            scores = np.take_along_axis(top_score, nxt, axis=1)
            rows = (rows_b * K + parent).ravel()
            hist = hist[rows_b, parent]
            hist[:, :, t] = new_tok
            if with_attn:
                hist_w = hist_w[rows_b, parent]
                hist_w[:, :, t] = w[rows].reshape(B, K, S)
            h = h_new[rows]
            if two:
                c = c_new[rows]
            ids = new_tok.ravel().astype(np.int64)
            # an input is done once it has K finished hypotheses and none of
            # its running ones, at its length now, beats the worst of them
            # (exact without length normalisation: scores only fall)
            best_live = scores.max(axis=1) / (float(t + 1) ** alpha if alpha else 1.0)
            worst = fin_score[:, K - 1]
            done |= np.isfinite(worst) & (best_live <= worst)
        outs = [fin_tok[b, 0, :fin_len[b, 0]].copy() for b in range(B)]
        atts = ([fin_w[b, 0, :fin_len[b, 0], :lengths[b]] for b in range(B)]
                if with_attn else [])
        return outs, atts

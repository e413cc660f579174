"""The language model's network: embedding -> recurrent stack -> linear
layer over the vocabulary, on one flat parameter buffer (``FlatModel``).

Training (``loss_and_gradient``) reads windows of token ids and carries the
recurrent state from one window to the next; inference
(``log_likelihood``, ``generate``) reads a snapshot of the parameters taken
under ``param_lock``, which the optimizer step holds.
"""

import numpy as np

from .. import _lm
from . import _layers
from ._cells import CELLS
from ._embedding import Embedding
from ._linear import Linear
from ._model import FlatModel

PAD_ID = 0   # the tokenizer's padding id (never in a stream)
# Scoring runs the stream in chunks of at most this many steps (carrying the
# state), fewer when a chunk's logits and buffers would take more than about
# _SCORE_MEMORY bytes (a large vocabulary: V logits per step); the chunking
# depends on the length and the model alone.
_SCORE_CHUNK = 2048
_SCORE_MEMORY = 64 << 20


class LanguageNetwork(FlatModel):
    """Embedding -> recurrent layer -> Linear on one flat parameter buffer.

    Training calls (``loss_and_gradient``) come from one thread at a time
    (the estimator's ``fit`` is guarded); inference reads a snapshot of the
    parameters taken under ``param_lock``, which the optimizer step holds.
    Parameters are named ``embedding.weight``, ``rnn.weight_ih_l0``, ...,
    ``head.weight``, ``head.bias``.
    """

    PARTS = ("embedding", "rnn", "head")

    def __init__(self, cell, vocab_size, embedding_dim, hidden_size, num_layers, dropout,
                 dtype, seed):
        seeds = np.random.SeedSequence(seed).spawn(4)
        self.embedding = Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID, dtype=dtype,
                                   random_state=np.random.default_rng(seeds[0]))
        layer_class = getattr(_layers, CELLS[cell].layer)
        self.rnn = layer_class(embedding_dim, hidden_size, num_layers,
                               dropout=dropout if num_layers > 1 else 0.0, dtype=dtype,
                               random_state=np.random.default_rng(seeds[1]))
        self.head = Linear(hidden_size, vocab_size, dtype=dtype,
                           random_state=np.random.default_rng(seeds[2]))
        self.dropout = float(dropout)
        self._rng = np.random.default_rng(seeds[3])   # dropout on the last layer's outputs
        self.dtype = dtype
        self._allocate(sum(part.flat_params.size for part in self._parts()),
                       "a LanguageNetwork")

    # --------------------------------------------------------------- training
    def loss_and_gradient(self, X, Y, state):
        """Mean cross-entropy (nats per token) of predicting Y (B, T) from X
        (B, T) starting from ``state`` (None for zeros); fills ``flat_grads``
        and returns (loss, the state after the window)."""
        B, T = X.shape
        V = self.head.out_features
        E = self.embedding.forward(X, training=True)                   # (B, T, E)
        out, state = self.rnn.forward(E, None, state, training=True)   # (B, T, H)
        mask = None
        if self.dropout > 0:
            keep = 1.0 - self.dropout
            mask = (self._rng.random(out.shape) < keep).astype(self.dtype) / self.dtype(keep)
            out = out * mask
        Z = self.head.forward(out, training=True).reshape(B * T, V)    # (B*T, V)
        dZ = np.empty_like(Z)
        N = B * T
        # loss = mean_i logsumexp(Z_i) - Z_i[y_i];  dZ = (softmax(Z) - onehot(y)) / N
        loss = _lm.softmax_nll(Z, np.ascontiguousarray(Y, np.intp).reshape(N), 1.0 / N, dZ)
        d_out = self.head.backward(dZ.reshape(B, T, V))
        if mask is not None:
            d_out *= mask
        d_E, _ = self.rnn.backward(d_out, None)
        self.embedding.backward(d_E)
        return loss, state

    # -------------------------------------------------------------- inference
    def log_likelihood(self, ids):
        """Sum of log p(ids[t+1] | ids[:t+1]) over the stream, in float64,
        from a zero state (inference on a snapshot of the parameters)."""
        P_emb, P_rnn, P_head = self._snapshot_views().values()
        W = P_emb["weight"]
        state, total = None, 0.0
        n = len(ids) - 1
        steps = self._score_steps(W.shape[0])
        for s in range(0, n, steps):
            x, y = ids[s:s + steps], ids[s + 1:s + 1 + steps]
            k = len(y)
            x = x[:k]
            out, state = self.rnn._forward(W[x][None], None, state, training=False,
                                           params=P_rnn)
            Z, _ = self.head._affine(out.reshape(k, -1), P_head, False)
            total -= _lm.softmax_nll(Z, np.ascontiguousarray(y, np.intp), 1.0,
                                     np.empty((0, Z.shape[1]), self.dtype))
        return total

    def _score_steps(self, V):
        """Steps of one scoring chunk: its V logits per step (and the layer's
        buffers and the embeddings) take about _SCORE_MEMORY bytes."""
        item = np.dtype(self.dtype).itemsize
        per_step = (V + self.rnn.input_size + self.rnn.output_size) * item \
            + self.rnn._work_bytes(1, 1, False)
        return int(max(1, min(_SCORE_CHUNK, _SCORE_MEMORY // per_step)))

    def generate(self, forced, first_logits, u, temperature, top_k, allowed):
        """Feed ``forced`` ids, then sample len(u) ids (``seqcore._lm.generate``)."""
        P_emb, P_rnn, P_head = self._snapshot_views().values()
        rnn, lay = self.rnn, self.rnn._layout
        H = rnn.hidden_size
        layers = []
        for k in range(rnn.num_layers):
            W_ih, W_hh, b_ih, b_hh, extra, _ = rnn._scan_params(P_rnn, k, 0)   # no W_hr
            bias = b_ih + b_hh        # folded as the time loop folds it
            b_sep = np.empty(0, self.dtype)
            if lay.separate_bias >= 0:
                block = slice(lay.separate_bias * H, (lay.separate_bias + 1) * H)
                bias[block] = b_ih[block]
                b_sep = np.ascontiguousarray(b_hh[block])
            Wf, Wf2 = rnn._pack_hidden(W_hh, backward=False)
            layers.append((np.ascontiguousarray(W_ih.T), W_hh, Wf, Wf2, bias, b_sep, extra))
        return _lm.generate(
            P_emb["weight"], np.ascontiguousarray(P_head["weight"].T), P_head["bias"],
            layers, lay.code, lay.flags, np.ascontiguousarray(forced, np.intp),
            first_logits, u, temperature, 0 if top_k is None else top_k, allowed)

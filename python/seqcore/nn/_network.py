"""Embedding, recurrent stack, dense layers, head and loss: the model the
estimators train.

Design: ``SequenceNetwork`` owns one flat parameter buffer and one flat
gradient buffer; its parts are bound to slices of them, in the order
[recurrent stack | head | dense layers | embedding], so clipping and the
optimizer see the whole model at once.

* Input: float sequences (B, T, I), or token ids (B, T) when the network has
  an embedding (``vocab_size``); the embedding's vectors feed the stack.
* Many-to-one (``return_sequences=False``): the dense layers and the head
  read each sequence's summary, its final state at its own last step (for a
  bidirectional stack the forward direction's state at the last step and the
  backward direction's at the first, merged like the layers merge; never
  ``outputs[:, -1]``).  Many-to-many: they read every step, and padded steps
  get weight 0.
* Dense layers (``dense_layers=(64, ...)``): ``seqcore.nn.Linear`` with
  ``dense_activation`` between the stack and the head.  The head is linear.

The loss is the weighted mean ``sum_i w_i l_i / sum_i w_i`` over samples
(many-to-one) or over the valid steps of all samples (many-to-many), where
``w_i`` is the sample weight.  Truncated BPTT (``bptt_steps=k``) runs the
sequences in chunks of k steps, carries the state forward and stops the
gradient at chunk borders; the gradients of the chunks add up.

Validation: ``loss_and_gradient`` checks everything it is given; the
estimators check a training set once in ``fit`` and train through
``_train_batch``, which trusts its arguments: per batch nothing is checked
again, and the batch's rows are gathered once, straight into the time-major
layout the core reads.

Threads: inference (``decision_function``, ``stream``) reads a snapshot of
the parameters taken under ``param_lock``, so it sees the weights of one
moment between two optimizer steps; whoever writes the parameters (the
estimators' optimizer step) holds the same lock.  The last snapshot is kept
with everything inference derives from it (``_Inference``: the stack's
packed weights, the head in float64) and serves the next call while the
parameters still hold its bits (compared under the lock, which costs what
the copy did): small predictions then pack nothing.  Training from two threads
at once is refused with a ``RuntimeError``.  The head runs in float64 in both
passes: its products are small, and float64 GEMMs round the same way on any
number of BLAS threads.
"""

import numpy as np

from .._validation import check_lengths, check_positive_int
from . import _layers
from ._layers import _read_only, _weights_config, same_bits
from ._base import _Holding, fill_uniform
from ._cells import get_cell
from ._embedding import Embedding
from ._linear import Linear
from ._loss import get_loss
from ._model import FlatModel
DENSE_ACTIVATIONS = ("relu", "tanh")
# Inference runs in batches of rows whose buffers take about this many bytes,
# so predicting many sequences needs memory for the outputs only.
PREDICT_MEMORY = 64 << 20


class _Inference:
    """What inference reads, derived from one snapshot ``source`` of the flat
    parameters (read-only, shared by every thread): the stack's ``_Weights``,
    the head (W.T in float64, b), the dense layers' and the embedding's named
    views."""

    __slots__ = ("source", "config", "rnn", "head", "dense", "embedding")


class SequenceNetwork(FlatModel):
    """[Embedding] + recurrent stack + [dense layers] + head + loss, with one
    flat parameter buffer.

    Parameters
    ----------
    cell : {'rnn', 'gru', 'lstm', 'mgu'} (see ``seqcore.nn.CELLS``)
    input_size, hidden_size : int
        ``input_size`` is the features I of each step, or the embedding's
        dimension when ``vocab_size`` is given.
    n_outputs : int
        Width K of the head: classes for 'softmax', labels for 'sigmoid',
        targets for 'squared_error'.
    loss : {'softmax', 'sigmoid', 'squared_error'}
        Softmax cross-entropy (targets: class indices), sigmoid binary
        cross-entropy (targets: 0/1 per output), squared error (half the mean
        over outputs, scikit-learn's MLP convention).
    return_sequences : bool, default=False
        One target per step instead of one per sequence.
    vocab_size : int or None, default=None
        Token input: X holds ids in [0, vocab_size) (0 is padding) and an
        ``Embedding(vocab_size, input_size, padding_idx=0)`` feeds the stack.
    dense_layers : tuple of int, default=()
        Sizes of the dense layers between the stack and the head.
    dense_activation : {'relu', 'tanh'}, default='relu'
    training_copies : int, default=2
        How many parameter-sized buffers training will hold (parameters and
        gradients, plus an optimizer's state and saved weights): the memory
        check before allocating counts them all.
    **rnn_kwargs
        ``num_layers``, ``bidirectional``, ``merge_mode``, ``dropout``,
        ``recurrent_dropout``, the cell's options, ``dtype``, ``random_state``
        of the recurrent layer.
    """

    def __init__(self, cell, input_size, hidden_size, n_outputs, *, loss,
                 return_sequences=False, vocab_size=None, dense_layers=(),
                 dense_activation="relu", training_copies=2, **rnn_kwargs):
        layer_class = getattr(_layers, get_cell(cell).layer)
        self._loss_fn = get_loss(loss)   # a name of LOSSES or a loss object
        if dense_activation not in DENSE_ACTIVATIONS:
            raise ValueError(f"dense_activation must be one of {DENSE_ACTIVATIONS}, got "
                             f"{dense_activation!r}")
        sizes = tuple(check_positive_int(s, "dense_layers entry") for s in dense_layers)
        self.n_outputs = check_positive_int(n_outputs, "n_outputs")
        self.loss = self._loss_fn.name
        self.return_sequences = bool(return_sequences)
        self.vocab_size = (None if vocab_size is None
                           else check_positive_int(vocab_size, "vocab_size"))
        self.dense_sizes = sizes
        self.dense_activation = dense_activation
        self.rnn = layer_class(input_size, hidden_size, **rnn_kwargs)
        self.dtype = self.rnn.dtype
        rng = self.rnn._rng
        widths = (self.rnn.output_size,) + sizes
        self.dense = [Linear(a, b, activation=dense_activation, dtype=self.dtype,
                             random_state=rng) for a, b in zip(widths[:-1], widths[1:])]
        self.embedding = (None if vocab_size is None else
                          Embedding(self.vocab_size, input_size, padding_idx=0,
                                    dtype=self.dtype, random_state=rng))
        F, K = widths[-1], self.n_outputs
        self._head_size = K * F + K
        n = self.rnn.flat_params.size + self._head_size + sum(
            p.flat_params.size for p in self._extra_parts())
        self._allocate(n, "a SequenceNetwork", copies=training_copies)
        # the head, initialised like torch.nn.Linear: U(-1/sqrt(F), 1/sqrt(F)),
        # drawn right after the stack's weights (the parts made after it drew
        # their own from the same generator when they were made)
        fill_uniform(rng, self._head_flat(self.flat_params), -1 / np.sqrt(F), 1 / np.sqrt(F))

    # ------------------------------------------------------------- layout
    # [recurrent stack | head | dense layers | embedding]; the head is two
    # plain views (weight, bias), not a layer
    _VIEW_ATTRS = ("weight", "bias", "d_weight", "d_bias")

    def _parts(self):
        return [self.rnn] + self._extra_parts()

    def _extra_parts(self):
        return list(self.dense) + ([self.embedding] if self.embedding is not None else [])

    def _head_flat(self, flat):
        n_rnn = self.rnn._param_count()
        return flat[n_rnn:n_rnn + self._head_size]

    def _bind_parts(self):
        """Bind every part to its slice of the flat buffers (copying its values)."""
        n_rnn = self.rnn._param_count()
        self.rnn._bind(self.flat_params[:n_rnn], self.flat_grads[:n_rnn])
        start = n_rnn + self._head_size
        for part in self._extra_parts():
            stop = start + part._param_count()
            part._bind(self.flat_params[start:stop], self.flat_grads[start:stop])
            start = stop
        self.weight, self.bias = self._head_views(self.flat_params)
        self.d_weight, self.d_bias = self._head_views(self.flat_grads)

    def _head_views(self, flat):
        head = self._head_flat(flat)
        K = self.n_outputs
        F = (head.size - K) // K
        return head[:K * F].reshape(K, F), head[K * F:]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_inference", None)   # derived from the parameters: rebuilt on use
        state.pop("_rows", None)
        return state

    def __setstate__(self, state):
        # pickles of older layouts lack these
        state.setdefault("dense", [])
        state.setdefault("embedding", None)
        state.setdefault("vocab_size", None)
        if "_loss_fn" not in state:
            state["_loss_fn"] = get_loss(state["loss"])
        if "_head_size" not in state:
            state["_head_size"] = state["flat_params"].size - state["rnn"]._param_count()
        super().__setstate__(state)

    @property
    def params(self):
        """Named views of every parameter: the stack's by PyTorch's names, then
        ``head.*``, ``dense{i}.*`` and ``embedding.weight``."""
        return self._named(self.rnn.params, (self.weight, self.bias),
                           [p.params for p in self.dense],
                           self.embedding.params if self.embedding is not None else None)

    @property
    def grads(self):
        return self._named(self.rnn.grads, (self.d_weight, self.d_bias),
                           [p.grads for p in self.dense],
                           self.embedding.grads if self.embedding is not None else None)

    @staticmethod
    def _named(rnn, head, dense, embedding):
        out = {**rnn, "head.weight": head[0], "head.bias": head[1]}
        for i, d in enumerate(dense):
            out.update({f"dense{i}.{k}": v for k, v in d.items()})
        if embedding is not None:
            out["embedding.weight"] = embedding["weight"]
        return out

    # ---------------------------------------------------------------- passes
    def _summary(self, state):
        """Each sequence's summary from the final states of the last layer."""
        h_n = state[0] if self.rnn._two_states else state
        if not self.rnn.bidirectional:
            return h_n[-1]
        return self.rnn._merge([h_n[-2], h_n[-1]])

    def _d_state(self, dS, state):
        """Gradient on the final states from the gradient on the summary."""
        h_n = state[0] if self.rnn._two_states else state
        dh = np.zeros_like(h_n)
        if self.rnn.bidirectional:
            dh[-2], dh[-1] = self.rnn._unmerge(dS, [h_n[-2], h_n[-1]])
        else:
            dh[-1] = dS
        return self.rnn._state(dh, None)

    def _check_batch(self, X, lengths):
        """X as a (B, T, I) array of the network's dtype (or (B, T) ids), and
        valid lengths."""
        if self.embedding is not None:
            flat, shape = self.embedding._check_ids(X)
            if len(shape) != 2 or 0 in shape:
                raise ValueError(f"X must be a non-empty 2-D array of token ids (batch, "
                                 f"steps), got shape {tuple(shape)}")
            X = flat.reshape(shape)
        else:
            X = self.rnn._check_X(X)   # the layer's checks and messages
        return X, check_lengths(lengths, X.shape[0], X.shape[1])

    def _snapshot_views(self):
        """Named views of every part of a snapshot: (stack, head (W, b),
        dense layers, embedding)."""
        return self._views_of(self.snapshot())

    def _inference_state(self):
        """The kept ``_Inference`` while the parameters hold the bits it was
        built from, else a new one from a snapshot (kept).  Compared and
        copied under ``param_lock``: never halfway through an optimizer step."""
        kept = getattr(self, "_inference", None)
        with self.param_lock:
            if (kept is not None and kept.config == _weights_config()
                    and same_bits(kept.source, self.flat_params)):
                return kept
            flat = _read_only(self.flat_params.copy())
        P, (W, b), P_dense, P_emb = self._views_of(flat)
        state = _Inference()
        state.source, state.config = flat, _weights_config()
        state.rnn = self.rnn._weights_of(P, flat)
        # the head reads W.T in float64 (see _head64)
        state.head = (_read_only(W.T.astype(np.float64)), b)
        state.dense, state.embedding = P_dense, P_emb
        self._inference = state
        return state

    def _views_of(self, flat):
        """Named views of every part of a flat copy: (stack, head (W, b),
        dense layers, embedding)."""
        n_rnn = self.rnn.flat_params.size
        parts, start = [], n_rnn + self._head_size
        for part in self._extra_parts():
            stop = start + part.flat_params.size
            parts.append(part._views(flat[start:stop]))
            start = stop
        emb = parts.pop() if self.embedding is not None else None
        return self.rnn._views(flat[:n_rnn]), self._head_views(flat), parts, emb

    def _rows_per_batch(self, T):
        """Rows of one inference batch: its buffers take about PREDICT_MEMORY
        (kept per T)."""
        rows = getattr(self, "_rows", None)
        if rows is None:
            rows = self._rows = {}
        n = rows.get(T)
        if n is None:
            if len(rows) >= _layers.PLANS_KEPT:
                rows.clear()
            n = rows[T] = self._rows_for(T)
        return n

    def _rows_for(self, T):
        width = max((self.rnn.output_size,) + self.dense_sizes)
        per_row = (self.rnn._work_bytes(1, T, False) + 8 * T * self.n_outputs
                   + 8 * T * (self.rnn.input_size + width))
        return max(1, PREDICT_MEMORY // max(per_row, 1))

    def _embed(self, ids, P_emb):
        """The embedding's vectors of ids (inference, on snapshot views)."""
        return self.embedding._lookup(ids.reshape(-1), ids.shape + (self.rnn.input_size,),
                                      P_emb)

    def _dense_forward(self, S, P_dense):
        """The dense layers at inference on snapshot views."""
        for layer, P in zip(self.dense, P_dense):
            S, _ = layer._affine(S.reshape(-1, layer.in_features), P, False)
        return S

    def decision_function(self, X, lengths=None):
        """Logits (B, K), or (B, T, K) with ``return_sequences``, in float64.

        Inference: reads a snapshot of the parameters and nothing else, in
        batches of rows whose buffers take about ``PREDICT_MEMORY`` bytes.
        """
        X, lengths = self._check_batch(X, lengths)
        return self._decide(X, lengths)

    def _decide(self, X, lengths):
        """``decision_function`` of a checked X; ``lengths`` None when every
        sequence runs all T steps."""
        B, T = X.shape[0], X.shape[1]
        state_ = self._inference_state()
        rows = self._rows_per_batch(T)
        shape = (B, T, self.n_outputs) if self.return_sequences else (B, self.n_outputs)
        out = None if B <= rows else np.empty(shape)
        for start in range(0, B, rows):
            sl = slice(start, start + rows)
            Xb = X[sl] if self.embedding is None else self._embed(X[sl], state_.embedding)
            # many-to-one needs no outputs: long sequences then run in chunks
            # of bounded memory
            outputs, state = self.rnn._forward(Xb, None if lengths is None else lengths[sl],
                                               None, outputs=self.return_sequences,
                                               training=False, trusted=True,
                                               weights=state_.rnn)
            S = outputs if self.return_sequences else self._summary(state)
            lead = S.shape[:-1]
            S = self._dense_forward(S, state_.dense)
            Z = self._head64(S.reshape(lead + (S.shape[-1],)), *state_.head)
            if out is None:
                return Z
            out[sl] = Z
        return out

    def _head64(self, S, W64T, b):
        """The head at inference, in float64 (``W64T``: W.T in float64): the
        rounding of a float32 GEMM depends on the batch size and the thread
        count, and predictions must not."""
        return S.astype(np.float64) @ W64T + b

    def stream(self, X, state=None, lengths=None):
        """Inference on a chunk of steps continuing from ``state``.

        Returns the logits of every step (B, T, K) and the state after the
        chunk, to pass to the next call: feeding a sequence chunk by chunk
        gives the results of feeding it whole.  A bidirectional network
        cannot stream (its backward direction starts at the sequence's end).
        """
        if self.rnn.bidirectional:
            raise ValueError("stream needs a unidirectional network: the backward direction "
                             "of a bidirectional one starts at the end of the whole sequence")
        X, lengths = self._check_batch(X, lengths)
        state_ = self._inference_state()
        if self.embedding is not None:
            X = self._embed(X, state_.embedding)
        outputs, state = self.rnn._forward(X, lengths, state, training=False,
                                           weights=state_.rnn)
        S = self._dense_forward(outputs, state_.dense)
        return self._head64(S.reshape(outputs.shape[:-1] + (S.shape[-1],)),
                            *state_.head), state

    # --------------------------------------------------------------- training
    def loss_and_gradient(self, X, lengths, Y, sample_weight=None, bptt_steps=None):
        """Training-mode pass: return the loss and fill ``flat_grads``.

        Parameters
        ----------
        X : ndarray (B, T, I) of the network's dtype, or (B, T) token ids
        lengths : ndarray of int (B,)
        Y : targets: (B,) class indices or (B, K) values; with
            ``return_sequences`` (B, T) or (B, T, K) (padded steps ignored).
        sample_weight : ndarray (B,), or (B, T) per step with ``return_sequences``, or None
            Non-negative and finite; normalised in float64 (to sum 1 over the
            valid rows) before anything is rounded to the network's dtype, so
            multiplying every weight by a positive factor changes nothing.
        bptt_steps : int or None
            Truncate backpropagation to chunks of this many steps.

        Raises ``RuntimeError`` when another thread trains the same network
        at the same time.
        """
        X, lengths = self._check_batch(X, lengths)
        B, T = X.shape[0], X.shape[1]
        Y = self._check_targets(Y, B, T, lengths)
        w = self._check_weights(sample_weight, B, T, lengths)
        k = T if bptt_steps is None else min(check_positive_int(bptt_steps, "bptt_steps"), T)
        if k < T and self.rnn.bidirectional:
            raise ValueError("truncated BPTT (bptt_steps < sequence length) cannot run a "
                             "bidirectional network: the backward direction needs the "
                             "whole sequence")
        return self._train_batch(X, np.arange(B), lengths, Y, w, k)

    def _check_targets(self, Y, B, T, lengths):
        Y = np.asarray(Y)
        if Y.ndim == 0 or Y.shape[0] != B:
            raise ValueError(f"Y has {Y.shape[0] if Y.ndim else 0} rows, X has {B} samples")
        if Y.dtype.kind not in "biuf":
            raise ValueError(f"Y must be numeric, got dtype {Y.dtype}")
        valid = (Y[np.arange(T) < lengths[:, None]]
                 if self.return_sequences and Y.ndim >= 2 and Y.shape[1] == T else Y)
        if Y.dtype.kind == "f":   # padded steps may hold anything: they are never read
            if not np.isfinite(valid).all():
                raise ValueError("Y contains NaN or infinity")
            if self.loss == "softmax" and (valid != np.round(valid)).any():
                raise ValueError("Y of a softmax network holds class indices; got values "
                                 "that are not integers")
        if self.loss == "softmax" and valid.size and (valid.min() < 0
                                                      or valid.max() >= self.n_outputs):
            raise ValueError(f"class indices of Y must lie in [0, {self.n_outputs}), got "
                             f"values in [{valid.min()}, {valid.max()}]")
        return Y

    def _check_weights(self, sample_weight, B, T, lengths):
        """Per-row (or per-step) weights, checked; zero on padded steps."""
        if sample_weight is None:
            w = np.ones(B)
        else:
            w = np.asarray(sample_weight)
            if w.dtype.kind not in "biuf":
                raise ValueError(f"sample_weight must be numeric, got dtype {w.dtype}")
            w = w.astype(np.float64)
        if w.ndim not in (1, 2) or w.shape[0] != B or (w.ndim == 2 and w.shape[1] != T):
            raise ValueError(f"sample_weight must have shape ({B},) or, per step, ({B}, {T}); "
                             f"got {w.shape}")
        if w.ndim == 2 and not self.return_sequences:
            raise ValueError("per-step sample weights need return_sequences=True")
        if not np.isfinite(w).all():
            raise ValueError("sample_weight contains NaN or infinity")
        if (w < 0).any():
            raise ValueError("sample_weight must be non-negative")
        if self.return_sequences:
            w = np.broadcast_to(w if w.ndim == 2 else w[:, None], (B, T))
            w = np.where(np.arange(T) < lengths[:, None], w, 0.0)
        if not w.max() > 0:
            raise ValueError("sample weights sum to zero: nothing to learn from")
        return w

    @staticmethod
    def _normalised(w):
        """Weights / their sum, in float64: divided by the largest first, so
        that huge (1e300) or tiny (1e-300) weights neither overflow nor
        underflow.  None when they are all zero."""
        top = w.max()
        if not top > 0:
            return None
        w = w / top
        return w / w.sum()

    def _train_batch(self, X, idx, lengths, Y, w, k):
        """Loss and gradient on rows ``idx`` of a checked training set.

        ``X`` (N, T, I) floats or (N, T) ids, ``lengths`` (N,), ``Y`` and the
        checked, unnormalised weights ``w`` ((N,) or (N, T)) as
        ``loss_and_gradient`` makes them; ``k`` the BPTT chunk (T for none).
        Nothing is checked again.  Returns the loss (inf when it diverged),
        or None when the batch's weights are all zero.
        """
        with _Holding(self):
            w = self._normalised(w[idx])
            if w is None:
                return None
            return self._run_batch(X, idx, lengths[idx], Y, w, k)

    def _run_batch(self, X_all, idx, lengths, Y_all, w, k):
        T = int(lengths.max())
        B = idx.size
        two = self.rnn._two_states
        L = self.rnn.num_layers * self.rnn.num_directions
        P, H = self.rnn.state_size, self.rnn.hidden_size
        h_state = np.zeros((L, B, P), self.dtype) if k < T else None
        c_state = np.zeros((L, B, H), self.dtype) if k < T and two else None
        acc = None if k >= T else np.zeros_like(self.flat_grads)
        loss = 0.0
        for s in range(0, T, k):
            rows = np.flatnonzero(lengths > s)   # samples still running
            if rows.size == 0:
                break   # only padding is left
            len_c = np.minimum(lengths[rows] - s, k)
            Tc = int(len_c.max())
            src = idx[rows]
            outputs, state = self._forward_chunk(X_all, src, s, Tc, len_c, h_state, c_state,
                                                 rows)
            if h_state is not None:
                h_state[:, rows] = state[0] if two else state
                if two:
                    c_state[:, rows] = state[1]
            if self.return_sequences:
                w_rows = w[rows, s:s + Tc].ravel()
            else:
                w_rows = w[rows] * (lengths[rows] <= s + k)
            if acc is not None and not w_rows.any():
                continue   # no loss in this chunk: its gradient is zero
            if self.return_sequences:
                S = outputs.reshape(-1, outputs.shape[2])
                Yc = Y_all[src, s:s + Tc]
                Yc = Yc.reshape((-1,) + Yc.shape[2:])
            else:
                S = self._summary(state)
                Yc = Y_all[src]
            for layer in self.dense:
                S = layer.forward(S, training=True)
            part, dS = self._head_loss(S, Yc, w_rows)
            loss += part
            if not np.isfinite(part):
                return np.inf   # diverged: the gradient means nothing
            if not np.isfinite(dS).all():
                return np.inf   # diverged: the gradient overflows
            for layer in reversed(self.dense):
                dS = layer.backward(dS)
            emb = self.embedding is not None
            if self.return_sequences:
                dX, _ = self.rnn.backward(dS.reshape(outputs.shape), None, input_grad=emb)
            else:
                dX, _ = self.rnn.backward(None, self._d_state(dS, state), input_grad=emb)
            if emb:
                self.embedding.backward(dX)
            if acc is not None:
                acc += self.flat_grads
        if acc is not None:
            self.flat_grads[:] = acc
        return loss

    def _forward_chunk(self, X_all, src, s, Tc, len_c, h_state, c_state, rows):
        """The stack (training) on steps s .. s+Tc of rows ``src`` of the
        training set, from the carried state: (outputs, state)."""
        init = None if s == 0 or h_state is None else self.rnn._state(
            h_state[:, rows], c_state[:, rows] if c_state is not None else None)
        if self.embedding is not None:
            ids = X_all[src, s:s + Tc]
            Xc = self.embedding.forward(ids, training=True)
        else:
            Xc = X_all[src, s:s + Tc]   # the one gather of the batch's rows
        return self.rnn._forward(Xc, len_c, init, training=True, trusted=True)

    def _head_loss(self, S, Y, w_rows):
        """Loss of the head on summaries S (N, F) with normalised weights;
        writes the head's gradients and returns (loss, dS) with dS (N, F) in
        the network's dtype.  All in float64 (see the module's notes)."""
        S64 = S.astype(np.float64)
        W64 = self.weight.astype(np.float64)
        Z = S64 @ W64.T + self.bias
        dZ = np.empty_like(Z)
        w_rows = np.ascontiguousarray(w_rows, dtype=np.float64)
        loss = self._loss_fn(Z, Y, w_rows, dZ)
        # dW = dZ.T @ S   (K, F) = (K, N)(N, F);  db = dZ.sum(0);  dS = dZ @ W
        self.d_weight[...] = dZ.T @ S64
        self.d_bias[:] = dZ.sum(axis=0)
        return loss, (dZ @ W64).astype(self.dtype)

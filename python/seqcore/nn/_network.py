"""A recurrent stack, a dense head and a loss: the model the estimators train.

Design: ``SequenceNetwork`` owns one flat parameter buffer and one flat
gradient buffer; the recurrent stack and the head are bound to slices of
them, so clipping and the optimizer see the whole model at once.

Many-to-one (``return_sequences=False``): the head reads each sequence's
summary, its final state at its own last step (for a bidirectional stack the
forward direction's state at the last step and the backward direction's at
the first, merged like the layers merge; never ``outputs[:, -1]``).
Many-to-many: the head reads every step, and padded steps get weight 0.

The loss is the weighted mean ``sum_i w_i l_i / sum_i w_i`` over samples
(many-to-one) or over the valid steps of all samples (many-to-many), where
``w_i`` is the sample weight.  Truncated BPTT (``bptt_steps=k``) runs the
sequences in chunks of k steps, carries the state forward and stops the
gradient at chunk borders; the gradients of the chunks add up.

Threads: inference (``decision_function``, ``stream``) reads a snapshot of
the parameters taken under ``param_lock``, so it sees the weights of one
moment between two optimizer steps; whoever writes the parameters (the
estimators' optimizer step) holds the same lock.  ``loss_and_gradient`` from
two threads at once is refused with a ``RuntimeError``.  The head runs in
float64 in both passes: its products are small, and float64 GEMMs round the
same way on any number of BLAS threads.
"""

import threading

import numpy as np

from .. import _losses
from .._validation import check_lengths, check_positive_int
from ._base import _Holding, check_memory
from . import _layers
from ._cells import get_cell
LOSSES = ("softmax", "sigmoid", "squared_error")
# Inference runs in batches of rows whose buffers take about this many bytes,
# so predicting many sequences needs memory for the outputs only.
PREDICT_MEMORY = 64 << 20


class SequenceNetwork:
    """Recurrent stack + dense head + loss, with one flat parameter buffer.

    Parameters
    ----------
    cell : {'rnn', 'gru', 'lstm', 'mgu'} (see ``seqcore.nn.CELLS``)
    input_size, hidden_size : int
    n_outputs : int
        Width K of the head: classes for 'softmax', labels for 'sigmoid',
        targets for 'squared_error'.
    loss : {'softmax', 'sigmoid', 'squared_error'}
        Softmax cross-entropy (targets: class indices), sigmoid binary
        cross-entropy (targets: 0/1 per output), squared error (half the mean
        over outputs, scikit-learn's MLP convention).
    return_sequences : bool, default=False
        One target per step instead of one per sequence.
    **rnn_kwargs
        ``num_layers``, ``bidirectional``, ``merge_mode``, ``dropout``,
        ``nonlinearity``, ``reset_after``, ``peephole``, ``dtype``,
        ``random_state`` of the recurrent layer.
    """

    def __init__(self, cell, input_size, hidden_size, n_outputs, *, loss,
                 return_sequences=False, **rnn_kwargs):
        layer_class = getattr(_layers, get_cell(cell).layer)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.n_outputs = check_positive_int(n_outputs, "n_outputs")
        self.loss = loss
        self.return_sequences = bool(return_sequences)
        self.rnn = layer_class(input_size, hidden_size, **rnn_kwargs)
        self.dtype = self.rnn.dtype
        F, K = self.rnn.output_size, self.n_outputs
        n_rnn = self.rnn.flat_params.size
        n = n_rnn + K * F + K
        check_memory(2 * n * np.dtype(self.dtype).itemsize,
                     f"a SequenceNetwork with {n} parameters")
        self._train_lock = threading.Lock()
        self.param_lock = threading.Lock()
        self.flat_params = np.zeros(n, self.dtype)
        self.flat_grads = np.zeros_like(self.flat_params)
        self.rnn._bind(self.flat_params[:n_rnn], self.flat_grads[:n_rnn])
        # the head, initialised like torch.nn.Linear: U(-1/sqrt(F), 1/sqrt(F))
        bound = 1.0 / np.sqrt(F)
        self.flat_params[n_rnn:] = self.rnn._rng.uniform(-bound, bound, K * F + K)
        self._bind_head()

    def _bind_head(self):
        """The head's named views: the tail of the flat buffers."""
        n_rnn, F, K = self.rnn.flat_params.size, self.rnn.output_size, self.n_outputs
        self.weight = self.flat_params[n_rnn:n_rnn + K * F].reshape(K, F)
        self.bias = self.flat_params[n_rnn + K * F:]
        self.d_weight = self.flat_grads[n_rnn:n_rnn + K * F].reshape(K, F)
        self.d_bias = self.flat_grads[n_rnn + K * F:]

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("weight", "bias", "d_weight", "d_bias", "_train_lock", "param_lock"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        # views pickle as copies: bind the parts to the model's buffers again
        self.__dict__.update(state)
        self._train_lock = threading.Lock()
        self.param_lock = threading.Lock()
        for name in ("flat_params", "flat_grads"):   # joblib's mmap_mode='r'
            if not getattr(self, name).flags.writeable:
                setattr(self, name, getattr(self, name).copy())
        n_rnn = self.rnn.flat_params.size
        self.rnn._flat_params = None
        self.rnn._bind(self.flat_params[:n_rnn], self.flat_grads[:n_rnn])
        self._bind_head()

    @property
    def params(self):
        """Named views of every parameter (the head's as ``head.weight``, ``head.bias``)."""
        return {**self.rnn.params, "head.weight": self.weight, "head.bias": self.bias}

    @property
    def grads(self):
        return {**self.rnn.grads, "head.weight": self.d_weight, "head.bias": self.d_bias}

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
        """X as a (B, T, I) array of the network's dtype, and valid lengths."""
        X = self.rnn._check_X(X)   # the layer's checks and messages
        return X, check_lengths(lengths, X.shape[0], X.shape[1])

    def snapshot(self):
        """A copy of the flat parameters, taken while no optimizer step runs."""
        with self.param_lock:
            return self.flat_params.copy()

    def _snapshot_views(self):
        """(recurrent stack's named views, head weight, head bias) of a snapshot."""
        flat = self.snapshot()
        n_rnn, F, K = self.rnn.flat_params.size, self.rnn.output_size, self.n_outputs
        return (self.rnn._views(flat[:n_rnn]),
                flat[n_rnn:n_rnn + K * F].reshape(K, F), flat[n_rnn + K * F:])

    def _rows_per_batch(self, T):
        """Rows of one inference batch: its buffers take about PREDICT_MEMORY."""
        per_row = self.rnn._work_bytes(1, T, False) + 8 * T * self.n_outputs
        return max(1, PREDICT_MEMORY // max(per_row, 1))

    def decision_function(self, X, lengths=None):
        """Logits (B, K), or (B, T, K) with ``return_sequences``, in float64.

        Inference: reads a snapshot of the parameters and nothing else, in
        batches of rows whose buffers take about ``PREDICT_MEMORY`` bytes.
        """
        X, lengths = self._check_batch(X, lengths)
        B, T = X.shape[0], X.shape[1]
        P, W, b = self._snapshot_views()
        rows = self._rows_per_batch(T)
        shape = (B, T, self.n_outputs) if self.return_sequences else (B, self.n_outputs)
        out = None if B <= rows else np.empty(shape)
        for start in range(0, B, rows):
            sl = slice(start, start + rows)
            # many-to-one needs no outputs: long sequences then run in chunks
            # of bounded memory
            outputs, state = self.rnn._forward(X[sl], lengths[sl], None,
                                               outputs=self.return_sequences,
                                               training=False, params=P)
            Z = self._head64(outputs if self.return_sequences else self._summary(state), W, b)
            if out is None:
                return Z
            out[sl] = Z
        return out

    def _head64(self, S, W, b):
        """The head at inference, in float64: the rounding of a float32 GEMM
        depends on the batch size and the thread count, and predictions must
        not."""
        return S.astype(np.float64) @ W.T.astype(np.float64) + b

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
        P, W, b = self._snapshot_views()
        outputs, state = self.rnn._forward(X, lengths, state, training=False, params=P)
        return self._head64(outputs, W, b), state

    def loss_and_gradient(self, X, lengths, Y, sample_weight=None, bptt_steps=None):
        """Training-mode pass: return the loss and fill ``flat_grads``.

        Parameters
        ----------
        X : ndarray (B, T, I) of the network's dtype
        lengths : ndarray of int (B,)
        Y : targets: (B,) class indices or (B, K) values; with
            ``return_sequences`` (B, T) or (B, T, K) (padded steps ignored).
        sample_weight : ndarray (B,), or (B, T) per step with ``return_sequences``, or None
            Non-negative and finite; normalised in float64 (to sum 1 over the
            valid rows) before anything is rounded to the network's dtype, so
            multiplying every weight by a positive factor changes nothing.
        bptt_steps : int or None
            Truncate backpropagation to chunks of this many steps.

        Raises ``RuntimeError`` when another thread runs it on the same
        network at the same time.
        """
        with _Holding(self):
            return self._loss_and_gradient(X, lengths, Y, sample_weight, bptt_steps)

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
        """Per-row (or per-step) weights normalised in float64 to sum 1 over
        what counts: valid steps with ``return_sequences``, else samples."""
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
        # divide by the largest weight first: the sum of huge weights
        # (1e300) must not overflow, nor tiny ones (1e-300) underflow
        top = w.max() if w.size else 0.0
        if not top > 0:
            raise ValueError("sample weights sum to zero: nothing to learn from")
        w = w / top
        return w / w.sum()

    def _loss_and_gradient(self, X, lengths, Y, sample_weight, bptt_steps):
        X, lengths = self._check_batch(X, lengths)
        B, T = X.shape[0], X.shape[1]
        Y = self._check_targets(Y, B, T, lengths)
        w = self._check_weights(sample_weight, B, T, lengths)
        k = T if bptt_steps is None else min(check_positive_int(bptt_steps, "bptt_steps"), T)
        if k < T and self.rnn.bidirectional:
            raise ValueError("truncated BPTT (bptt_steps < sequence length) cannot run a "
                             "bidirectional network: the backward direction needs the "
                             "whole sequence")

        two = self.rnn._two_states
        L, H = self.rnn.num_layers * self.rnn.num_directions, self.rnn.hidden_size
        h_state = np.zeros((L, B, H), self.dtype)
        c_state = np.zeros((L, B, H), self.dtype) if two else None
        acc = None if k == T else np.zeros_like(self.flat_grads)
        loss = 0.0
        for s in range(0, T, k):
            rows = np.flatnonzero(lengths > s)   # samples still running
            if rows.size == 0:
                break   # only padding is left
            len_c = np.minimum(lengths[rows] - s, k)
            init = None if s == 0 else self.rnn._state(
                h_state[:, rows], c_state[:, rows] if two else None)
            outputs, state = self.rnn.forward(X[rows, s:s + k], len_c, init, training=True)
            if k < T:
                h_state[:, rows] = state[0] if two else state
                if two:
                    c_state[:, rows] = state[1]
            if self.return_sequences:
                Tc = outputs.shape[1]
                w_rows = w[rows, s:s + Tc].ravel()
                S = outputs.reshape(-1, outputs.shape[2])
                Yc = Y[rows, s:s + k]
                Yc = Yc.reshape((-1,) + Yc.shape[2:])
            else:
                ends_here = lengths[rows] <= s + k
                w_rows = w[rows] * ends_here
                S = self._summary(state)
                Yc = Y[rows]
            if acc is not None and not w_rows.any():
                continue   # no loss in this chunk: its gradient is zero
            part, dS = self._head_loss(S, Yc, w_rows)
            loss += part
            if not np.isfinite(part):
                return np.inf   # diverged: the gradient means nothing
            if not np.isfinite(dS).all():
                return np.inf   # diverged: the gradient overflows
            if self.return_sequences:
                self.rnn.backward(dS.reshape(outputs.shape), None, input_grad=False)
            else:
                self.rnn.backward(None, self._d_state(dS, state), input_grad=False)
            if acc is not None:
                acc += self.flat_grads
        if acc is not None:
            self.flat_grads[:] = acc
        return loss

    def _head_loss(self, S, Y, w_rows):
        """Loss of the head on summaries S (N, F) with normalised weights;
        writes the head's gradients and returns (loss, dS) with dS (N, F) in
        the network's dtype.  All in float64 (see the module's notes)."""
        S64 = S.astype(np.float64)
        W64 = self.weight.astype(np.float64)
        Z = S64 @ W64.T + self.bias
        dZ = np.empty_like(Z)
        w_rows = np.ascontiguousarray(w_rows, dtype=np.float64)
        if self.loss == "softmax":
            loss = _losses.softmax_cross_entropy(Z, np.ascontiguousarray(Y, dtype=np.intp),
                                                 w_rows, 1.0, dZ)
        else:
            Y = np.ascontiguousarray(Y, dtype=np.float64).reshape(Z.shape)
            fn = (_losses.sigmoid_binary_cross_entropy if self.loss == "sigmoid"
                  else _losses.squared_error)
            loss = fn(Z, Y, w_rows, 1.0, dZ)
        # dW = dZ.T @ S   (K, F) = (K, N)(N, F);  db = dZ.sum(0);  dS = dZ @ W
        self.d_weight[...] = dZ.T @ S64
        self.d_bias[:] = dZ.sum(axis=0)
        return loss, (dZ @ W64).astype(self.dtype)

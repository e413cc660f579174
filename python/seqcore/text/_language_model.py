"""``RNNLanguageModel``: next-token prediction on a stream of text, and sampling.

Design: the model is ``Embedding -> recurrent layer (any kind of
seqcore.nn.CELLS) -> Linear`` over the vocabulary, the three layers bound to
slices of one flat parameter buffer (``_LMNetwork``), so clipping is one norm
and an optimizer step one loop.  The softmax cross-entropy over the
vocabulary and its gradient run in ``seqcore._lm.softmax_nll`` (one
exponential per logit).

Training reads the documents as one stream of token ids (concatenated in
order, no separator) and trains as char-rnn does: the stream is cut into
``batch_size`` parallel tracks, each track into windows of
``sequence_length`` steps; the state at the end of a window is the initial
state of the next window of the same track (stateful training) and the
gradient stops at window borders (truncated BPTT).  Each epoch starts the
tracks at a random offset in [0, sequence_length), so the window borders
move from epoch to epoch, and leaves out the end of each track that does not
fill a whole window (fewer than ``sequence_length`` tokens; tracks shorter
than one window make one window): every step then has the same shape, so
the layers reuse their training buffers, and no step is a few tokens long.

Sampling runs in compiled code, token by token (``seqcore._lm.generate``):
no Python per token.

Ids come from a ``SequenceTokenizer`` fitted on the training documents: 0
is padding (never in a stream), 1 stands for tokens outside the
vocabulary.  The output layer covers all ``vocab_size_`` ids; sampling never
draws the two reserved ones.
"""

import threading
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import _lm
from .._estimators import _Training, _VersionedPickle
from .._sklearn_compat import Interval, StrOptions
from .._validation import warn_user
from ..nn import CELLS, SGD, Adam, Embedding, Linear, clip_grad_norm
from ..nn import _layers
from ._tokenizer import PAD_ID, UNK_ID, SequenceTokenizer

_DTYPES = {"float32": np.float32, "float64": np.float64}
# Scoring runs the stream in chunks of at most this many steps (carrying the
# state), fewer when a chunk's logits and buffers would take more than about
# _SCORE_MEMORY bytes (a large vocabulary: V logits per step); the chunking
# depends on the length and the model alone.
_SCORE_CHUNK = 2048
_SCORE_MEMORY = 64 << 20


class _LMNetwork:
    """Embedding -> recurrent layer -> Linear on one flat parameter buffer.

    Training calls (``loss_and_gradient``) come from one thread at a time
    (the estimator's ``fit`` is guarded); inference reads a snapshot of the
    parameters taken under ``param_lock``, which the optimizer step holds.
    """

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
        n = sum(part.flat_params.size for part in self.parts)
        self.flat_params = np.zeros(n, dtype)
        self.flat_grads = np.zeros(n, dtype)
        self._bind()
        self.param_lock = threading.Lock()

    @property
    def parts(self):
        return (self.embedding, self.rnn, self.head)

    def _bind(self):
        """Each layer's parameters and gradients: a slice of the flat buffers."""
        start = 0
        for part in self.parts:
            stop = start + part._param_count()
            part._bind(self.flat_params[start:stop], self.flat_grads[start:stop])
            start = stop

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("param_lock")
        return state

    def __setstate__(self, state):
        # the layers' views pickle as copies: bind them to the buffers again
        self.__dict__.update(state)
        self.param_lock = threading.Lock()
        for name in ("flat_params", "flat_grads"):   # joblib's mmap_mode='r'
            if not getattr(self, name).flags.writeable:
                setattr(self, name, getattr(self, name).copy())
        for part in self.parts:
            part._flat_params = None   # the values are those of the flat buffer
        self._bind()

    @property
    def params(self):
        """Named views of every parameter: ``embedding.weight``, ``rnn.weight_ih_l0``, ...,
        ``head.weight``, ``head.bias``."""
        return {f"{prefix}.{name}": v
                for prefix, part in zip(("embedding", "rnn", "head"), self.parts)
                for name, v in part.params.items()}

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

    def release_buffers(self):
        for part in self.parts:
            part.release_buffers()

    # -------------------------------------------------------------- inference
    def snapshot(self):
        """Named views of a copy of the parameters (embedding, rnn, head)."""
        with self.param_lock:
            flat = self.flat_params.copy()
        out, start = [], 0
        for part in self.parts:
            stop = start + part.flat_params.size
            out.append(part._views(flat[start:stop]))
            start = stop
        return out

    def log_likelihood(self, ids):
        """Sum of log p(ids[t+1] | ids[:t+1]) over the stream, in float64,
        from a zero state (inference on a snapshot of the parameters)."""
        P_emb, P_rnn, P_head = self.snapshot()
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
        P_emb, P_rnn, P_head = self.snapshot()
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


def _stream(tokenizer, texts, what):
    """The documents' ids, concatenated (int64), or a clear error."""
    docs = tokenizer._documents(texts)
    if not docs:
        raise ValueError(f"{what} has no documents")
    ids = tokenizer._transform(docs)
    stream = np.concatenate(ids) if ids else np.empty(0, np.int64)
    if stream.size < 2:
        raise ValueError(f"{what} has {stream.size} token(s) in all: a language model "
                         "needs at least 2 (one to read, one to predict)")
    return stream


def _diverged(net, last_good):
    """Restore the last weights with a finite loss, warn; True (training stops)."""
    if last_good is not None:
        with net.param_lock:
            net.flat_params[:] = last_good
    warn_user("training diverged (the loss or the weights became NaN or infinite); kept "
              "the last weights with a finite loss. Lower learning_rate or set clip_norm.",
              RuntimeWarning)
    return True


class RNNLanguageModel(_VersionedPickle, BaseEstimator):
    """A recurrent language model of characters or words that writes new text.

    ``fit(texts)`` learns to predict each token of the documents from the
    tokens before it; ``sample`` writes new text one token at a time;
    ``score`` and ``perplexity`` measure how well the model predicts texts.

    The network is an embedding of the token ids, a recurrent stack (any
    kind of ``seqcore.nn.CELLS``) and a linear layer over the vocabulary
    with a softmax.  Training reads the documents as one stream (joined in
    order, nothing in between: end each with ``"\\n"`` if the boundaries
    matter) and runs as char-rnn does: the stream is cut into
    ``batch_size`` parallel tracks, read in windows of ``sequence_length``
    tokens; the state carries from one window to the next of the same track
    and the gradient stops at window borders (truncated backpropagation
    through time).

    Parameters
    ----------
    analyzer : {'char', 'word'} or callable, default='char'
        How documents are cut into tokens (see ``SequenceTokenizer``).
    lowercase : bool, default=False
        Lower-case the documents first (kept off for characters: capitals
        are part of the text the model writes).
    min_frequency : int, default=1
        Tokens seen fewer times in fit become the unknown token ``<unk>``.
    max_tokens : int or None, default=None
        Largest vocabulary, counting the two reserved ids.
    cell : {'rnn', 'gru', 'lstm', 'mgu'}, default='lstm'
        The recurrent cell, with its default options.
    embedding_dim : int, default=32
    hidden_size : int, default=128
    num_layers : int, default=1
    dropout : float in [0, 1), default=0.0
        Inverted dropout on the outputs of every recurrent layer (between
        stacked layers and before the output layer), in training only.
    sequence_length : int, default=64
        Tokens per window (the truncation of backpropagation through time).
    batch_size : int, default=32
        Parallel tracks of the stream (fewer if the stream is shorter).
    max_iter : int, default=20
        Epochs (passes over the stream).
    optimizer : {'adam', 'sgd'}, default='adam'
    learning_rate : float, default=0.005
    momentum : float, default=0.9
        SGD's Nesterov momentum (plain SGD when 0).
    clip_norm : float or None, default=5.0
        Clip the global gradient norm of each step.
    early_stopping : bool, default=False
        Hold out the last ``validation_fraction`` of the stream, stop when
        its mean log-likelihood has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and keep the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=5
    tol : float, default=1e-4
        Without early stopping, training stops when the training loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the epochs' offsets and dropout: a fixed value gives
        bit-identical models run to run, for any number of BLAS threads.
    dtype : {'float32', 'float64'}, default='float32'
    verbose : int, default=0
        1: a line per epoch.

    Attributes
    ----------
    tokenizer_ : SequenceTokenizer
        Fitted on the training documents.
    vocabulary_ : dict of str to int
        The tokens and their ids (``tokenizer_.vocabulary_``).
    vocab_size_ : int
        Ids 0 (padding), 1 (unknown) and the vocabulary: the output layer's size.
    n_tokens_ : int
        Tokens in the training stream (before the validation split).
    loss_curve_ : list of float
        Training loss of each epoch (mean cross-entropy per token, nats).
    validation_scores_ : list of float
        Mean log-likelihood per token of the held-out tail, each epoch
        (early stopping).
    n_iter_ : int
        Epochs run.
    network_ : object
        The layers (``network_.embedding``, ``network_.rnn``,
        ``network_.head``) on one flat buffer; ``network_.params`` names
        every parameter (``rnn.weight_ih_l0`` as in PyTorch).

    Notes
    -----
    - Scores count the predictions of every token but the first of the
      stream (which has no context): ``n - 1`` for a stream of ``n`` tokens.
      ``perplexity = exp(-score)``; bits per token ``= -score / ln 2``.
    - Tokens that ``fit`` never saw count as ``<unk>``.  When the training
      stream had no unknown token (the default ``min_frequency=1``), the
      model never learned that id; scoring such texts warns, and a prefix
      with such tokens is refused by ``sample``.
    - ``sample`` with an empty prefix draws the first token from the
      frequencies of the training tokens (there is nothing to predict it
      from), with the same temperature and top_k.

    Examples
    --------
    >>> from seqcore.text import RNNLanguageModel
    >>> lm = RNNLanguageModel(hidden_size=16, learning_rate=0.02, max_iter=100,
    ...                       random_state=0)
    >>> lm.fit(["abcd" * 200]).sample(8, prefix="ab", random_state=0)
    'abcdabcdab'
    >>> round(lm.perplexity(["abcdabcd"]), 3)
    1.004
    """

    _parameter_constraints = {
        "analyzer": [StrOptions({"word", "char"}), callable],
        "lowercase": ["boolean"],
        "min_frequency": [Interval(Integral, 1, None, closed="left")],
        "max_tokens": [Interval(Integral, 3, None, closed="left"), None],
        "cell": [StrOptions(set(CELLS))],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "sequence_length": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "dtype": [StrOptions({"float32", "float64"})],
        "verbose": ["verbose"],
    }

    def __init__(self, *, analyzer="char", lowercase=False, min_frequency=1, max_tokens=None,
                 cell="lstm", embedding_dim=32, hidden_size=128, num_layers=1, dropout=0.0,
                 sequence_length=64, batch_size=32, max_iter=20, optimizer="adam",
                 learning_rate=0.005, momentum=0.9, clip_norm=5.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=5, tol=1e-4, random_state=None,
                 dtype="float32", verbose=0):
        self.analyzer = analyzer
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.max_tokens = max_tokens
        self.cell = cell
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.sequence_length = sequence_length
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.clip_norm = clip_norm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose

    # -------------------------------------------------------------- training
    def fit(self, X, y=None):
        """Learn the vocabulary of the documents X and train on their stream.

        Parameters
        ----------
        X : list of str (or of token lists)
            The training documents, read as one stream in this order.  A
            single string is refused: wrap it in a list.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        with _Training(self):
            return self._fit(X)

    def _fit(self, X):
        # everything is built in local variables and published at the end, so
        # that inference in other threads meanwhile reads the previous model
        # (or raises NotFittedError), never half of each
        tokenizer = SequenceTokenizer(analyzer=self.analyzer, lowercase=self.lowercase,
                                      min_frequency=self.min_frequency,
                                      max_tokens=self.max_tokens)
        docs = tokenizer._documents(X)
        tokenizer._fit(docs)   # refuses no documents, no tokens, nothing kept
        stream = _stream(tokenizer, docs, "X")
        if not (stream != UNK_ID).any():
            raise ValueError("every token of X is unknown (<unk>): nothing to learn")
        V = tokenizer.vocab_size_
        n_tokens = int(stream.size)
        val = None
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * stream.size))
            if n_val < 2 or stream.size - n_val < 2:
                raise ValueError(f"early_stopping needs at least 2 tokens on each side of "
                                 f"the validation split: X has {stream.size} tokens and "
                                 f"validation_fraction={self.validation_fraction} holds out "
                                 f"{n_val}")
            stream, val = stream[:-n_val], stream[-n_val:]

        rng = np.random.default_rng(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        net = _LMNetwork(self.cell, V, self.embedding_dim, self.hidden_size, self.num_layers,
                         self.dropout, _DTYPES[self.dtype], rng.integers(2**63))
        counts = np.bincount(stream if val is None else np.r_[stream, val],
                             minlength=V).astype(np.float64)
        net.tokenizer = tokenizer
        net.unk_seen = bool(counts[UNK_ID] > 0)
        with np.errstate(divide="ignore"):
            net.unigram_log = np.log(counts / counts.sum())
        if self.optimizer == "adam":
            opt = Adam(net.flat_params, net.flat_grads, lr=self.learning_rate)
        else:
            opt = SGD(net.flat_params, net.flat_grads, lr=self.learning_rate,
                      momentum=self.momentum, nesterov=self.momentum > 0)
        try:
            curves = self._train(net, stream, val, opt, rng)
        finally:
            net.release_buffers()
        self.loss_curve_, self.validation_scores_ = curves
        self.n_iter_ = len(self.loss_curve_)
        self.tokenizer_ = tokenizer
        self.vocabulary_ = tokenizer.vocabulary_
        self.vocab_size_ = V
        self.n_tokens_ = n_tokens
        self.network_ = net
        return self

    @property
    def _unk_seen(self):
        """Whether the training stream had unknown tokens (then <unk> was learned)."""
        return self.network_.unk_seen

    @property
    def _unigram_log(self):
        """Log-frequencies of the training tokens (the first token's distribution)."""
        return self.network_.unigram_log

    def _train(self, net, stream, val, opt, rng):
        """Epochs over the stream; returns (loss curve, validation scores)."""
        T = self.sequence_length
        B = min(self.batch_size, stream.size - 1)
        losses, scores = [], []
        best_loss, best_score, best_params, no_improvement = np.inf, -np.inf, None, 0
        last_good, stopped = None, False
        try:
            for _ in range(self.max_iter):
                t0 = time.perf_counter()
                # tracks start at a random offset, so window borders move
                offset = int(rng.integers(0, min(T, (stream.size - 1) // B)))
                n = (stream.size - 1 - offset) // B          # steps per track
                if n >= T:
                    n -= n % T                               # whole windows only
                X = stream[offset:offset + B * n].reshape(B, n)
                Y = stream[offset + 1:offset + 1 + B * n].reshape(B, n)
                state, total = None, 0.0
                for s in range(0, n, T):
                    before = net.flat_params.copy()
                    with np.errstate(over="ignore", invalid="ignore"):
                        loss, state = net.loss_and_gradient(X[:, s:s + T], Y[:, s:s + T], state)
                    if not np.isfinite(loss) or not np.isfinite(net.flat_grads).all():
                        stopped = _diverged(net, last_good)
                        break
                    last_good = before
                    if self.clip_norm is not None:
                        clip_grad_norm(net.flat_grads, self.clip_norm)
                    with net.param_lock:   # inference never sees half a step
                        opt.step()
                    if not np.isfinite(net.flat_params).all():
                        stopped = _diverged(net, last_good)
                        break
                    total += loss * X[:, s:s + T].size
                if stopped:
                    break
                epoch_loss = total / X.size
                losses.append(epoch_loss)
                msg = f"Epoch {len(losses)}, loss = {epoch_loss:.6f}"
                if val is not None:
                    score = net.log_likelihood(val) / (val.size - 1)
                    scores.append(score)
                    msg += f", validation score = {score:.6f}"
                    improved = score > best_score + self.tol
                    if score > best_score:
                        best_score, best_params = score, net.flat_params.copy()
                else:
                    improved = epoch_loss < best_loss - self.tol
                best_loss = min(best_loss, epoch_loss)
                no_improvement = 0 if improved else no_improvement + 1
                if self.verbose:
                    print(f"{msg}, {time.perf_counter() - t0:.2f}s", flush=True)
                if no_improvement >= self.n_iter_no_change:
                    stopped = True
                    break
        except KeyboardInterrupt:
            warn_user("training interrupted; the model keeps the weights trained so far",
                      RuntimeWarning)
            stopped = True
        if best_params is not None:
            with net.param_lock:
                net.flat_params[:] = best_params
        if not stopped:
            warn_user(f"RNNLanguageModel reached max_iter={self.max_iter} epochs before the "
                      "loss stopped improving by tol; consider raising max_iter.",
                      ConvergenceWarning)
        return losses, scores

    # --------------------------------------------------------------- scoring
    def _log_likelihood(self, X):
        """(sum of the log-likelihoods, number of predictions) of X's stream."""
        check_is_fitted(self, "network_")
        net = self.network_     # read once: a refit in another thread publishes a new one
        stream = _stream(net.tokenizer, X, "X")
        unknown = int((stream == UNK_ID).sum())
        if unknown == stream.size:
            raise ValueError("every token of X is outside the vocabulary learned in fit "
                             "(all are <unk>): nothing to score")
        if unknown and not net.unk_seen:
            warn_user(f"{unknown} of the {stream.size} tokens of X were never seen in fit; "
                      "they count as <unk>, which the model never learned to predict, so "
                      "they lower the score a lot", UserWarning)
        return net.log_likelihood(stream), stream.size - 1

    def score(self, X, y=None):
        """Mean log-likelihood per token (natural log; higher is better).

        Parameters
        ----------
        X : list of str (or of token lists)
            Read as one stream, like the training documents, from a zero state.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``mean_t log p(token_{t+1} | tokens_{<=t})`` over the ``n - 1``
            predictions of the stream's ``n`` tokens.
        """
        total, n = self._log_likelihood(X)
        return float(total / n)

    def perplexity(self, X):
        """``exp(-score(X))``: the effective number of choices per token (lower is better)."""
        return float(np.exp(-self.score(X)))

    # -------------------------------------------------------------- sampling
    def sample(self, n_tokens, prefix="", temperature=1.0, top_k=None, random_state=None):
        """Write ``n_tokens`` new tokens after ``prefix``.

        Parameters
        ----------
        n_tokens : int >= 0
            How many tokens to sample.
        prefix : str, default=''
            Text the model reads first (it sets the state the sampling starts
            from), cut into tokens like the training documents.  Tokens never
            seen in fit are refused (ValueError) unless the training stream
            had unknown tokens (``min_frequency`` > 1 or ``max_tokens``):
            then they read as ``<unk>``.
        temperature : float > 0, default=1.0
            Divides the logits: below 1 sharpens the distribution (safer,
            more repetitive text), above 1 flattens it.
        top_k : int >= 1 or None, default=None
            Draw only among the ``top_k`` most probable tokens (1: greedy).
        random_state : int, RandomState instance or None, default=None
            Seeds the draws: a fixed value gives the same text every time.

        Returns
        -------
        text : str
            The prefix followed by the sampled tokens (characters joined
            directly; words joined by single spaces).  The padding and unknown
            ids are never drawn.
        """
        check_is_fitted(self, "network_")
        if isinstance(n_tokens, (bool, np.bool_)) or not isinstance(n_tokens, Integral):
            raise TypeError(f"n_tokens must be an integer, got {n_tokens!r}")
        if n_tokens < 0:
            raise ValueError(f"n_tokens must be >= 0, got {n_tokens}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        if (isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, Real)
                or not np.isfinite(temperature) or temperature <= 0):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r} "
                             "(for the most probable token at each step, use top_k=1)")
        if top_k is not None:
            if isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, Integral):
                raise TypeError(f"top_k must be an integer or None, got {top_k!r}")
            if top_k < 1:
                raise ValueError(f"top_k must be >= 1 or None, got {top_k}")
        net = self.network_     # read once: a refit in another thread publishes a new one
        tokenizer = net.tokenizer
        tokens = tokenizer._tokens(prefix)
        forced = tokenizer._transform([prefix])[0]
        if (forced == UNK_ID).any() and not net.unk_seen:
            unseen = sorted({t for t, i in zip(tokens, forced) if i == UNK_ID})
            raise ValueError(f"prefix has tokens never seen in fit: {unseen!r:.200}; the "
                             "model cannot read them (it learned no <unk> token)")
        rs = check_random_state(random_state)
        u = rs.random_sample(n_tokens)
        allowed = np.ones(tokenizer.vocab_size_, np.uint8)
        allowed[[PAD_ID, UNK_ID]] = 0
        ids = net.generate(forced, net.unigram_log, u, float(temperature),
                           None if top_k is None else int(top_k), allowed)
        names = tokenizer.get_feature_names_out()
        new = [names[i] for i in ids]
        if tokenizer.analyzer == "char":
            return prefix + "".join(new)
        sep = " " if prefix and not prefix[-1].isspace() and new else ""
        return prefix + sep + " ".join(new)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags

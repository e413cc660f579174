"""``RNNLanguageModel``: next-token prediction on a stream of text, and sampling.

Design: the model is ``Embedding -> recurrent layer (any kind of
seqcore.nn.CELLS) -> Linear`` over the vocabulary, the three layers bound to
slices of one flat parameter buffer (``seqcore.nn._language.LanguageNetwork``), so clipping is one norm
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

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import _distributed, _engine
from .._base import DTYPES, SeqcoreEstimator, fit_then_publish, training, training_constraints
from .._sklearn_compat import Interval, StrOptions
from .._validation import warn_user
from ..callbacks import prepare as prepare_callbacks
from ..nn import CELLS
from ..nn._language import LanguageNetwork
from ..nn._optim import make_optimizer
from ._tokenizer import PAD_ID, UNK_ID, SequenceTokenizer

_LMNetwork = LanguageNetwork   # the name older pickles refer to



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


class _StreamTask(_engine.Task):
    """The training stream as the engine reads it: per epoch, the stream cut
    into ``batch_size`` tracks from a random offset, read in windows of
    ``sequence_length`` tokens, the state carried from window to window."""

    def __init__(self, est, net, stream, val, rng):
        self.network, self.stream, self.val, self.rng = net, stream, val, rng
        self.T = est.sequence_length
        self.B = min(est.batch_size, stream.size - 1)
        self.has_validation = val is not None
        self.state = None

    def batches(self):
        T, B, stream = self.T, self.B, self.stream
        # tracks start at a random offset, so window borders move
        offset = int(self.rng.integers(0, min(T, (stream.size - 1) // B)))
        n = (stream.size - 1 - offset) // B          # steps per track
        if n >= T:
            n -= n % T                               # whole windows only
        X = stream[offset:offset + B * n].reshape(B, n)
        Y = stream[offset + 1:offset + 1 + B * n].reshape(B, n)
        self.state = None
        return [(X[:, s:s + T], Y[:, s:s + T]) for s in range(0, n, T)]

    def loss_and_gradient(self, batch):
        X, Y = batch
        loss, self.state = self.network.loss_and_gradient(X, Y, self.state)
        return loss, X.size

    def validation_score(self):
        return self.network.log_likelihood(self.val) / (self.val.size - 1)

    def outputs_finite(self):
        probe = self.stream[:min(self.stream.size, 2 * self.T)]
        return bool(np.isfinite(self.network.log_likelihood(probe)))


def setup_training(est, tokenizer, counts, n_tokens):
    """The network, optimizer and random stream of a fit from scratch, and the
    fitted attributes (``counts``: of each id in the training documents);
    shared with the fit on a Dask bag (``seqcore._cluster_text``)."""
    rng = np.random.default_rng(
        check_random_state(est.random_state).randint(np.iinfo(np.int32).max))
    V = tokenizer.vocab_size_
    net = LanguageNetwork(est.cell, V, est.embedding_dim, est.hidden_size, est.num_layers,
                          est.dropout, DTYPES[est.dtype], rng.integers(2**63))
    net.tokenizer = tokenizer
    net.unk_seen = bool(counts[UNK_ID] > 0)
    with np.errstate(divide="ignore"):
        net.unigram_log = np.log(counts / counts.sum())
    opt = make_optimizer(est.optimizer, net.flat_params, net.flat_grads,
                         lr=est.learning_rate, momentum=est.momentum)
    est.tokenizer_ = tokenizer
    est.vocabulary_ = tokenizer.vocabulary_
    est.vocab_size_ = V
    est.n_tokens_ = n_tokens
    est.network_ = net
    _engine.start_history(est)
    est.callbacks_ = prepare_callbacks(est.callbacks)
    return net, opt, rng


class RNNLanguageModel(SeqcoreEstimator):
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
    optimizer : {'adam', 'sgd', 'adamw', 'rmsprop'}, default='adam'
    learning_rate : float, default=0.005
    learning_rate_schedule : None, {'constant', 'exponential', 'cosine', \
            'plateau'} or a ``seqcore.nn`` schedule, default=None
        The learning rate of each epoch (None: constant).
    momentum : float, default=0.9
        SGD's Nesterov momentum (plain SGD when 0); RMSprop's momentum.
    clip_norm : float or None, default=5.0
        Clip the global gradient norm of each step.
    clip_value : float or None, default=None
        Clamp each gradient entry to [-clip_value, clip_value] (before clip_norm).
    callbacks : list or None, default=None
        Called after every epoch with (estimator, history); any may stop
        training (see ``seqcore.callbacks``).
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
        **training_constraints(
            "optimizer", "learning_rate", "learning_rate_schedule", "momentum", "clip_norm",
            "clip_value", "callbacks", "early_stopping", "validation_fraction",
            "n_iter_no_change", "tol", "random_state", "dtype", "verbose"),
    }

    def __init__(self, *, analyzer="char", lowercase=False, min_frequency=1, max_tokens=None,
                 cell="lstm", embedding_dim=32, hidden_size=128, num_layers=1, dropout=0.0,
                 sequence_length=64, batch_size=32, max_iter=20, optimizer="adam",
                 learning_rate=0.005, learning_rate_schedule=None, momentum=0.9,
                 clip_norm=5.0, clip_value=None, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=5, tol=1e-4, random_state=None,
                 dtype="float32", verbose=0, callbacks=None):
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
        self.learning_rate_schedule = learning_rate_schedule
        self.momentum = momentum
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.callbacks = callbacks

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
        with training(self):
            # on a view, published in one step at the end, so that inference
            # in other threads meanwhile reads the previous model (or raises
            # NotFittedError), never half of each
            return fit_then_publish(self, lambda work: work._fit(X))

    def _fit(self, X):
        if _distributed.is_dask_collection(X):   # a bag of documents, trained on the cluster
            from .._cluster_text import fit_bag
            return fit_bag(self, X)
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

        counts = np.bincount(stream if val is None else np.r_[stream, val],
                             minlength=V).astype(np.float64)
        net, opt, rng = setup_training(self, tokenizer, counts, n_tokens)
        try:
            _engine.train(self, _StreamTask(self, net, stream, val, rng), opt,
                          epochs=self.max_iter, callbacks=self.callbacks_)
        finally:
            net.release_buffers()
        return self

    @property
    def _unk_seen(self):
        """Whether the training stream had unknown tokens (then <unk> was learned)."""
        return self.network_.unk_seen

    @property
    def _unigram_log(self):
        """Log-frequencies of the training tokens (the first token's distribution)."""
        return self.network_.unigram_log

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

"""``Seq2SeqTranslator``: strings in, strings of another length out.

Design: a scikit-learn estimator around ``seqcore.nn.Seq2Seq``.  Two
``SequenceTokenizer``s number the source and the target tokens (id 0
padding, 1 unknown); the target vocabulary gets two more ids, the end token
(``V``) and the start token (``V + 1``).  Training is mini-batch Adam on the
network's flat buffers with teacher forcing; by default a tenth of the pairs
is held out and training stops when their exact-match accuracy has not
improved for ``n_iter_no_change`` epochs, keeping the best weights.
Batches are drawn by length: the shuffled pairs are cut into windows of 32
batches, sorted by source length within a window, then the batches are
shuffled, so a batch pads little and the order still changes every epoch.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .. import _engine
from .._base import (DTYPES, SeqcoreEstimator, consistent, fit_then_publish, training,
                     training_constraints)
from .._sklearn_compat import Interval, StrOptions
from .._validation import warn_user
from ..callbacks import prepare as prepare_callbacks
from ..nn import Seq2Seq
from ..nn._optim import make_optimizer
from ..nn._cells import CELLS
from ._tokenizer import SequenceTokenizer

# batches of one length window (see the module's notes)
_WINDOW_BATCHES = 32


def _pad(seqs, extra=()):
    """A list of 1-D id arrays (+ ``extra`` ids appended to each) -> (N, T) int64, lengths."""
    lengths = np.array([len(s) + len(extra) for s in seqs], dtype=np.int64)
    out = np.zeros((len(seqs), int(lengths.max()) if len(seqs) else 0), np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
        out[i, len(s):lengths[i]] = extra
    return out, lengths


class _PairsTask(_engine.Task):
    """The padded (source, target) pairs as the engine reads them."""

    def __init__(self, est, src, src_len, tgt, tgt_len, val):
        self.est, self.network = est, est.network_
        self.src, self.src_len, self.tgt, self.tgt_len, self.val = src, src_len, tgt, tgt_len, val
        self.has_validation = val is not None
        self.frozen = getattr(self.network, "_frozen", None)

    def batches(self):
        return self.est._batches(self.src_len)

    def loss_and_gradient(self, b):
        S, T = int(self.src_len[b].max()), int(self.tgt_len[b].max())
        loss = self.network.loss_and_gradient(self.src[b, :S], self.src_len[b],
                                              self.tgt[b, :T], self.tgt_len[b],
                                              self.est.sampling_rate)
        return loss, int(self.tgt_len[b].sum())

    def validation_score(self):
        return self.est._exact_match(*self.val)

    def perfect(self, score):
        return score >= 1.0   # every held-out pair exact: nothing left to learn


class Seq2SeqTranslator(SeqcoreEstimator):
    """Sequence-to-sequence model with attention: text in, text of another length out.

    An encoder (recurrent, bidirectional, stacked) reads the source tokens;
    a decoder writes the target tokens one at a time, attending over the
    encoder's outputs, until it writes the end token (see
    ``seqcore.nn.Seq2Seq`` for the network).  For transliteration,
    normalising dates, addresses or spellings, short translations.

    Parameters
    ----------
    analyzer : {'char', 'word'} or callable, default='char'
        How the source strings are cut into tokens (``SequenceTokenizer``).
        Sources given as token lists are used as they are.
    target_analyzer : {'char', 'word'}, callable or None, default=None
        How the targets are cut (None: as ``analyzer``).  Outputs are joined
        with '' for 'char' and ' ' otherwise.
    lowercase : bool, default=False
        Lower-case the source strings first (targets are never changed).
    cell : {'rnn', 'gru', 'lstm', 'mgu'}, default='lstm'
    embedding_dim : int, default=32
        Size of the source and target token embeddings.
    hidden_size : int, default=64
        The decoder's state size, and the encoder's output size (half per
        direction when bidirectional: then even).
    num_layers : int, default=1
        Encoder layers.
    bidirectional_encoder : bool, default=True
    attention : {'additive', 'dot', 'general'} or None, default='additive'
        The score (Bahdanau's additive, Luong's dot or general).  None: a
        uniform attention over the source (every position weighs the same:
        the context is the mean of the encoder's outputs), for comparison.
    attention_size : int or None, default=None
        Size of the additive score (default: hidden_size).
    beam_width : int, default=1
        1: greedy decoding; more: beam search over this many hypotheses.
    length_penalty : float, default=1.0
        Beam search ranks finished outputs by log-probability divided by
        length ** length_penalty (0: no normalisation).
    max_output_length : int or None, default=None
        Most tokens per output (the end token not counted).  None:
        ``2 * longest training target + 5``.
    sampling_rate : float in [0, 1], default=0.0
        Probability that a decoder step in training reads the model's own
        previous prediction instead of the true previous token (scheduled
        sampling; 0: pure teacher forcing).
    optimizer : {'adam', 'sgd', 'adamw', 'rmsprop'}, default='adam'
    learning_rate : float, default=0.005
        The optimizer's step size.
    learning_rate_schedule : None, {'constant', 'exponential', 'cosine', \
            'plateau'} or a ``seqcore.nn`` schedule, default=None
        The learning rate of each epoch (None: constant).
    momentum : float, default=0.9
        SGD's Nesterov momentum, RMSprop's momentum.
    batch_size : int, default=64
    max_iter : int, default=40
        Epochs.
    clip_norm : float or None, default=5.0
        Clip the global gradient norm of each step.
    clip_value : float or None, default=None
        Clamp each gradient entry to [-clip_value, clip_value] (before clip_norm).
    callbacks : list or None, default=None
        Called after every epoch with (estimator, history); any may stop
        training (see ``seqcore.callbacks``).
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the pairs; stop when their
        exact-match accuracy has not improved by ``tol`` for
        ``n_iter_no_change`` epochs (or is 1), and keep the best weights.
        Without it, training stops when the training loss has not improved
        by ``tol`` for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=4
    tol : float, default=1e-4
    shuffle : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batches, the validation split and the
        sampling: a fixed value gives bit-identical models.
    dtype : {'float32', 'float64'}, default='float32'
    verbose : int, default=0
        1: a line per epoch.
    warm_start : bool, default=False
        Continue from the fitted model (same vocabularies: new target tokens
        are refused).

    Attributes
    ----------
    network_ : seqcore.nn.Seq2Seq
    source_tokenizer_, target_tokenizer_ : SequenceTokenizer
    max_output_length_ : int
    loss_curve_ : list of float
        Mean cross-entropy per target token of each epoch.
    validation_scores_ : list of float
        Exact-match accuracy on the held-out pairs after each epoch.
    n_iter_ : int

    Examples
    --------
    >>> from seqcore.text import Seq2SeqTranslator
    >>> X = ["abc", "hello", "xyz", "seq"] * 50
    >>> y = [s[::-1] for s in X]
    >>> model = Seq2SeqTranslator(hidden_size=32, max_iter=30, early_stopping=False,
    ...                           random_state=0).fit(X, y)         # doctest: +SKIP
    >>> model.predict(["hello"])                                     # doctest: +SKIP
    ['olleh']
    """

    _parameter_constraints = {
        "analyzer": [StrOptions({"char", "word"}), callable],
        "target_analyzer": [StrOptions({"char", "word"}), callable, None],
        "lowercase": ["boolean"],
        "cell": [StrOptions(set(CELLS))],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional_encoder": ["boolean"],
        "attention": [StrOptions({"additive", "dot", "general"}), None],
        "attention_size": [Interval(Integral, 1, None, closed="left"), None],
        "beam_width": [Interval(Integral, 1, None, closed="left")],
        "length_penalty": [Interval(Real, 0, None, closed="left")],
        "max_output_length": [Interval(Integral, 1, None, closed="left"), None],
        "sampling_rate": [Interval(Real, 0, 1, closed="both")],
        **training_constraints(
            "optimizer", "learning_rate", "learning_rate_schedule", "momentum", "batch_size",
            "max_iter", "clip_norm", "clip_value", "callbacks", "early_stopping",
            "validation_fraction", "n_iter_no_change", "tol", "shuffle", "random_state",
            "dtype", "verbose", "warm_start"),
    }

    def __init__(self, *, analyzer="char", target_analyzer=None, lowercase=False,
                 cell="lstm", embedding_dim=32, hidden_size=64, num_layers=1,
                 bidirectional_encoder=True, attention="additive", attention_size=None,
                 beam_width=1, length_penalty=1.0, max_output_length=None,
                 sampling_rate=0.0, optimizer="adam", learning_rate=0.005,
                 learning_rate_schedule=None, momentum=0.9, batch_size=64, max_iter=40,
                 clip_norm=5.0, clip_value=None, early_stopping=True,
                 validation_fraction=0.1, n_iter_no_change=4, tol=1e-4, shuffle=True,
                 random_state=None, dtype="float32", verbose=0, warm_start=False,
                 callbacks=None):
        self.analyzer = analyzer
        self.target_analyzer = target_analyzer
        self.lowercase = lowercase
        self.cell = cell
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional_encoder = bidirectional_encoder
        self.attention = attention
        self.attention_size = attention_size
        self.beam_width = beam_width
        self.length_penalty = length_penalty
        self.max_output_length = max_output_length
        self.sampling_rate = sampling_rate
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.random_state = random_state
        self.dtype = dtype
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks

    # ---------------------------------------------------------------- input
    def _target_analyzer(self):
        return self.analyzer if self.target_analyzer is None else self.target_analyzer

    def _joiner(self):
        return "" if self._target_analyzer() == "char" else " "

    def _sources(self, X, fitting):
        """X as a list of documents; each must have at least one token."""
        tok = (SequenceTokenizer(analyzer=self.analyzer, lowercase=self.lowercase)
               if fitting else self.source_tokenizer_)
        docs = tok._documents(X)
        if not docs:
            raise ValueError("X has no sources")
        tokens = [tok._tokens(d) for d in docs]
        for i, t in enumerate(tokens):
            if not t:
                raise ValueError(f"source {i} is empty (no tokens): an encoder-decoder "
                                 "needs at least one source token to read")
        return docs, tokens, tok

    def _targets(self, y, n):
        if isinstance(y, (str, bytes)):
            raise TypeError("y must be a list of target strings (or token lists), got a "
                            "single string")
        try:
            targets = list(y)
        except TypeError as exc:
            raise TypeError(f"y must be a list of target strings, got "
                            f"{type(y).__name__}") from exc
        if len(targets) != n:
            raise ValueError(f"y has {len(targets)} targets, X has {n} sources")
        return targets

    # ------------------------------------------------------------- training
    def fit(self, X, y):
        """Learn to write y[i] from X[i].

        Parameters
        ----------
        X : list of str, or list of lists of str tokens
            The sources; each must have at least one token.
        y : list of str, or list of lists of str tokens
            The targets (an empty target is allowed: the model then writes
            only the end token).

        Returns
        -------
        self
        """
        self._validate_params()
        with training(self):
            if self.warm_start and hasattr(self, "network_"):
                return self._fit(X, y)   # continues the model in place
            # from scratch: on a view, published in one step at the end, so
            # that predictions meanwhile see the old model or the new one
            return fit_then_publish(self, lambda work: work._fit(X, y))

    def _fit(self, X, y):
        first = not (self.warm_start and hasattr(self, "network_"))
        docs, src_tokens, src_tok = self._sources(X, fitting=first)
        targets = self._targets(y, len(docs))
        if first:
            self.source_tokenizer_ = src_tok.fit(src_tokens)
            self.target_tokenizer_ = SequenceTokenizer(
                analyzer=self._target_analyzer(), lowercase=False)
            tdocs = self.target_tokenizer_._documents(targets)
            if not any(self.target_tokenizer_._tokens(d) for d in tdocs):
                raise ValueError("every target is empty: nothing to learn to write")
            self.target_tokenizer_.fit(tdocs)
        tgt_tok = self.target_tokenizer_
        tdocs = tgt_tok._documents(targets)
        tgt_tokens = [tgt_tok._tokens(d) for d in tdocs]
        vocab = tgt_tok.vocabulary_
        unknown = sorted({t for ts in tgt_tokens for t in ts if t not in vocab})
        if unknown:
            raise ValueError(f"y contains target tokens not in the vocabulary learned at the "
                             f"first fit: {unknown[:10]}" + (" ..." if len(unknown) > 10 else "")
                             + " (refit without warm_start to learn them)")
        src_ids = [np.array([self.source_tokenizer_.vocabulary_.get(t, 1) for t in ts],
                            np.int64) for ts in src_tokens]
        V = tgt_tok.vocab_size_
        self._end_id, self._start_id = V, V + 1
        tgt_ids = [np.array([vocab[t] for t in ts], np.int64) for ts in tgt_tokens]

        if first:
            self._rng = check_random_state(self.random_state)
            longest = max(len(t) for t in tgt_ids)
            self.max_output_length_ = (self.max_output_length if self.max_output_length
                                       is not None else 2 * longest + 5)
            seed = int(self._rng.randint(np.iinfo(np.int32).max))
            attention = self.attention or "dot_uniform"
            self.network_ = self._make_network(attention, V + 2, seed)
            net = self.network_
            self._optimizer = make_optimizer(self.optimizer, net.flat_params, net.flat_grads,
                                             lr=self.learning_rate, momentum=self.momentum)
            _engine.start_history(self)
            self.callbacks_ = prepare_callbacks(self.callbacks)
        elif self.max_output_length is not None:
            self.max_output_length_ = self.max_output_length
        self._warn_if_outputs_are_cut(tgt_ids)

        n = len(src_ids)
        idx = np.arange(n)
        val = None
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * n))
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_fraction={self.validation_fraction} of {n} "
                                 "pairs leaves no training or no validation pairs; set "
                                 "early_stopping=False for so few")
            perm = self._rng.permutation(n)
            val_idx, idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
            val = ([src_ids[i] for i in val_idx], [tgt_ids[i] for i in val_idx])
        src_pad, src_len = _pad([src_ids[i] for i in idx])
        tgt_pad, tgt_len = _pad([tgt_ids[i] for i in idx], extra=(self._end_id,))
        try:
            self._train(src_pad, src_len, tgt_pad, tgt_len, val)
        finally:
            self.network_.release_buffers()
        return self

    def _warn_if_outputs_are_cut(self, tgt_ids):
        """A max_output_length below training targets' lengths cuts their
        outputs: the model cannot write them, and the validation's exact
        match never counts them, so early stopping may end training early."""
        limit = self.max_output_length_
        longer = sum(len(t) > limit for t in tgt_ids)
        if longer:
            longest = max(len(t) for t in tgt_ids)
            warn_user(f"max_output_length={limit} is shorter than {longer} of the "
                      f"{len(tgt_ids)} training targets (the longest has {longest} tokens): "
                      "their outputs are cut, and with early_stopping the validation's exact "
                      "match cannot count them; raise max_output_length (None: twice the "
                      "longest target + 5)", UserWarning)

    def _make_network(self, attention, V, seed):
        uniform = attention == "dot_uniform"
        net = Seq2Seq(self.source_tokenizer_.vocab_size_, V, start_id=V - 1, end_id=V - 2,
                      cell=self.cell, embedding_dim=self.embedding_dim,
                      hidden_size=self.hidden_size, num_layers=self.num_layers,
                      bidirectional_encoder=self.bidirectional_encoder,
                      attention="general" if uniform else attention,
                      attention_size=self.attention_size if attention == "additive" else None,
                      forbidden_ids=(1,), dtype=DTYPES[self.dtype], random_state=seed)
        if uniform:
            # a general score with W = 0 and no gradient: equal weights over
            # the valid positions (the context is the mean of the keys)
            net.attention.params["weight"][...] = 0
            net._frozen = net._slices()["attention"]
        return net

    def _batches(self, lengths):
        """Index arrays of one epoch's batches (see the module's notes)."""
        n, size = len(lengths), min(self.batch_size, len(lengths))
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        window = size * _WINDOW_BATCHES
        batches = []
        for start in range(0, n, window):
            chunk = order[start:start + window]
            chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
            batches += [chunk[i:i + size] for i in range(0, len(chunk), size)]
        if self.shuffle:
            batches = [batches[i] for i in self._rng.permutation(len(batches))]
        return batches

    def _train(self, src, src_len, tgt, tgt_len, val):
        if not hasattr(self, "callbacks_"):   # warm_start continues them
            self.callbacks_ = prepare_callbacks(self.callbacks)
        _engine.train(self, _PairsTask(self, src, src_len, tgt, tgt_len, val),
                      self._optimizer, epochs=self.max_iter, callbacks=self.callbacks_)

    def _exact_match(self, src_ids, tgt_ids):
        src, src_len = _pad(src_ids)
        out = self.network_.decode(src, src_len, max_length=self.max_output_length_,
                                   beam_width=1)
        return float(np.mean([np.array_equal(o, t) for o, t in zip(out, tgt_ids)]))

    # ----------------------------------------------------------- prediction
    def _decode_ids(self, X, return_attention=False):
        check_is_fitted(self, "network_")
        _, tokens, _ = self._sources(X, fitting=False)
        vocab = self.source_tokenizer_.vocabulary_
        src, src_len = _pad([np.array([vocab.get(t, 1) for t in ts], np.int64)
                             for ts in tokens])
        out = self.network_.decode(src, src_len, max_length=self.max_output_length_,
                                   beam_width=self.beam_width,
                                   length_penalty=self.length_penalty,
                                   return_attention=return_attention)
        return out, tokens

    def _id_tokens(self, ids):
        names = self.target_tokenizer_.get_feature_names_out()
        return [str(names[i]) for i in ids]

    @consistent
    def predict(self, X):
        """The output string of each source.

        Parameters
        ----------
        X : list of str, or list of lists of str tokens

        Returns
        -------
        y : list of str
            Tokens joined with '' (char targets) or ' ' (word or callable).
        """
        out, _ = self._decode_ids(X)
        join = self._joiner()
        return [join.join(self._id_tokens(o)) for o in out]

    @consistent
    def predict_attention(self, x):
        """Output tokens and attention weights of one source.

        Parameters
        ----------
        x : str, or list of str tokens
            One source.

        Returns
        -------
        output_tokens : list of str
            Without the end token.
        attention : ndarray of shape (len(output_tokens), n_source_tokens)
            Row i: the weights over the source tokens while writing output
            token i (each row sums to 1).  The source tokens are
            ``source_tokenizer_``'s cut of x (``source_tokens(x)``).
        """
        if not isinstance(x, (str, list, tuple, np.ndarray)):
            raise TypeError(f"x must be one source (a string or a token list), got "
                            f"{type(x).__name__}")
        (out, att), _ = self._decode_ids([x], return_attention=True)
        return self._id_tokens(out[0]), att[0]

    @consistent
    def source_tokens(self, x):
        """The source tokens of one source, as the encoder reads them.

        Parameters
        ----------
        x : str, or list of str tokens
            One source.

        Returns
        -------
        list of str
            Its tokens, cut by ``analyzer`` (after ``lowercase``).
        """
        check_is_fitted(self, "network_")
        return self._sources([x], fitting=False)[1][0]

    @consistent
    def plot_attention(self, x, *, ax=None, cmap="viridis"):
        """Heat map of the attention of one source (needs matplotlib).

        Source tokens on the x axis, output tokens on the y axis.

        Parameters
        ----------
        x : str, or list of str tokens
            One source.
        ax : matplotlib Axes, optional
            Where to draw (default: a new figure sized to the tokens).
        cmap : str or Colormap, default='viridis'
            The colour map of the weights, drawn on [0, 1].

        Returns
        -------
        ax : matplotlib Axes
            The axes drawn on.
        """
        import matplotlib.pyplot as plt

        out, att = self.predict_attention(x)
        src = self.source_tokens(x)
        if ax is None:
            _, ax = plt.subplots(figsize=(max(3, 0.35 * len(src) + 1.5),
                                          max(2.5, 0.35 * len(out) + 1.2)))
        ax.imshow(att, cmap=cmap, vmin=0, vmax=1, aspect="auto")
        show = [repr(t)[1:-1] if t.strip() else "\u2423" for t in src]
        ax.set_xticks(range(len(src)), show)
        ax.set_yticks(range(len(out)), out)
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        return ax

    @consistent
    def score(self, X, y):
        """Exact-match accuracy: the fraction of outputs equal to their target.

        Targets are compared as token sequences (strings cut by
        ``target_analyzer``).

        Parameters
        ----------
        X : list of str, or list of lists of str tokens
            The sources.
        y : list of str, or list of lists of str tokens
            Their targets.

        Returns
        -------
        float
            The fraction of outputs whose tokens equal their target's.
        """
        out, _ = self._decode_ids(X)
        targets = self._targets(y, len(out))
        tok = self.target_tokenizer_
        docs = tok._documents(targets)
        hits = [self._id_tokens(o) == list(tok._tokens(d)) for o, d in zip(out, docs)]
        return float(np.mean(hits))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags

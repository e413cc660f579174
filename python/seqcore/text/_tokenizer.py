"""``SequenceTokenizer``: text to sequences of integer token ids, and back.

Design: a scikit-learn transformer.  ``fit`` counts tokens and numbers them;
``transform`` maps each document to a 1-D int64 array of ids, the input of
``seqcore.nn.Embedding`` and of the estimators' ``embedding_dim`` mode.  Two
ids are reserved: 0 for padding (never produced by ``transform``, dropped by
``inverse_transform``) and 1 for tokens outside the vocabulary.  Ids 2, 3,
... go to the kept tokens by decreasing frequency, ties broken by first
appearance in the training documents, so the numbering depends on the data
alone.
"""

import numbers
import re
import unicodedata
from collections import Counter

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._sklearn_compat import Interval, StrOptions

__all__ = ["SequenceTokenizer"]

PAD_ID, UNK_ID = 0, 1
PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"



def _mark_class():
    """A regex character class of Unicode's combining marks (categories Mn,
    Mc, Me), read from the running Python's Unicode database.  Python's
    ``\\w`` leaves them out, so NFD "cafe\\u0301" or Hindi's vowel signs
    would split a word.  Marks live in planes 0, 1 and 14 only (planes 2 and
    3 hold CJK ideographs): scanning those takes a few hundredths of a
    second, once, at import."""
    ranges, start = [], None
    for block in (range(0x20000), range(0xE0000, 0xE1000)):
        for cp in block:
            mark = unicodedata.category(chr(cp))[0] == "M"
            if mark and start is None:
                start = cp
            elif not mark and start is not None:
                ranges.append((start, cp - 1))
                start = None
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


# Words: runs of word characters (letters, digits, underscore, any script)
# and of the combining marks that belong to them, keeping inner apostrophes
# ("don't", "it's"); every other character that is not white space is a
# token of its own (punctuation, symbols, emoji), with what belongs to it: its
# marks (the emoji variation selector), skin-tone modifiers and the symbols
# joined to it by a zero-width joiner (one family emoji, one token); a flag
# is its pair of regional indicators.
_MARKS = _mark_class()
_W = rf"[\w{_MARKS}]"
_SYMBOL = (r"[\U0001F1E6-\U0001F1FF]{2}"
           rf"|[^\w\s](?:[{_MARKS}\U0001F3FB-\U0001F3FF]|\u200d[^\w\s])*")
WORD_PATTERN = rf"{_W}+(?:['\u2019]{_W}+)*|{_SYMBOL}"
_WORD_RE = re.compile(WORD_PATTERN)
_NORMAL_FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def _describe(obj):
    return type(obj).__name__


class SequenceTokenizer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Turn documents into sequences of integer ids, one per token.

    Parameters
    ----------
    analyzer : {'word', 'char'} or callable, default='word'
        How a string is cut into tokens.

        - 'word': the regular expression ``WORD_PATTERN``: runs of word
          characters and combining marks (an accent or a vowel sign stays in
          its word; inner apostrophes are kept: "don't" is one token),
          and each punctuation mark or other symbol as a token of its own
          (unlike scikit-learn's default ``token_pattern``, which drops them
          and one-letter words: a sequence model reads them).  White space
          only separates tokens.
        - 'char': every character, white space included.
        - a callable: called on each string, normalised by ``normalize``
          (``lowercase`` is then not applied, as in scikit-learn); must
          return a list (or another iterable) of strings.

        Documents given as token lists are never cut: see ``fit``.
    lowercase : bool, default=True
        Lower-case strings before the 'word' or 'char' analyzer.  Neither a
        callable analyzer's input nor token lists are changed.
    normalize : {'NFC', 'NFD', 'NFKC', 'NFKD'} or None, default='NFC'
        The Unicode normal form every string and every token is brought to
        first (``unicodedata.normalize``), so that the same text typed
        composed ("\\u00e9") or decomposed ("e\\u0301") gives the same
        tokens, whichever form it was fitted in.  'NFKC' also folds
        compatibility forms (ligatures, full-width letters).  None: the text
        is used as it comes.
    min_frequency : int >= 1, default=1
        Keep only tokens that occur at least this many times in the training
        documents (counting every occurrence); the others become unknown.
    max_tokens : int >= 3 or None, default=None
        The largest vocabulary size, *counting* the two reserved ids: at most
        ``max_tokens - 2`` tokens are kept, the most frequent ones.  So
        ``vocab_size_ <= max_tokens`` and ``Embedding(max_tokens, ...)`` can
        always hold the ids.  None: no cap.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Each kept token and its id (2, 3, ...).  The reserved ids are not in
        it (a document may contain the text "<unk>" as a token).
    vocab_size_ : int
        ``len(vocabulary_) + 2``: the ``num_embeddings`` an ``Embedding``
        needs for these ids.
    token_counts_ : dict of str to int
        Occurrences of each kept token in the training documents.

    See Also
    --------
    seqcore.nn.Embedding : looks up vectors by these ids (``padding_idx=0``).

    Notes
    -----
    - ``transform`` returns a list of 1-D int64 arrays (one per document, of
      its own length: pad them to a batch with ``seqcore.preprocessing.
      pad_sequences`` or let the estimators do it).  An empty document gives
      an empty array; ``fit`` refuses documents that are all empty.
    - ``inverse_transform`` returns token lists, not strings: joining cannot
      restore the original spacing.  Padding ids are dropped and the unknown
      id reads ``"<unk>"``.
    - Id numbering: decreasing frequency, then first appearance, so it is
      deterministic for given documents.

    Examples
    --------
    >>> from seqcore.text import SequenceTokenizer
    >>> tok = SequenceTokenizer().fit(["The cat sat.", "The dog sat!"])
    >>> tok.vocabulary_
    {'the': 2, 'sat': 3, 'cat': 4, '.': 5, 'dog': 6, '!': 7}
    >>> tok.transform(["The bird sat."])
    [array([2, 1, 3, 5])]
    >>> tok.inverse_transform([[2, 1, 3, 5, 0, 0]])
    [['the', '<unk>', 'sat', '.']]
    """

    PAD_ID, UNK_ID = PAD_ID, UNK_ID
    PAD_TOKEN, UNK_TOKEN = PAD_TOKEN, UNK_TOKEN

    _parameter_constraints = {
        "analyzer": [StrOptions({"word", "char"}), callable],
        "lowercase": ["boolean"],
        "normalize": [StrOptions(set(_NORMAL_FORMS)), None],
        "min_frequency": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_tokens": [Interval(numbers.Integral, 3, None, closed="left"), None],
    }

    def __init__(self, *, analyzer="word", lowercase=True, normalize="NFC", min_frequency=1,
                 max_tokens=None):
        self.analyzer = analyzer
        self.lowercase = lowercase
        self.normalize = normalize
        self.min_frequency = min_frequency
        self.max_tokens = max_tokens

    # ---------------------------------------------------------------- input
    def _documents(self, X):
        """X as a list of documents, each a str or a list of str tokens."""
        if isinstance(X, (str, bytes)):
            raise TypeError(
                "X must be a list of documents (strings or token lists), got a single "
                f"{_describe(X)}: wrap it in a list, e.g. [text]")
        if isinstance(X, np.ndarray) and X.ndim == 0:
            raise TypeError("X must be a list of documents, got a 0-d array")
        try:
            docs = list(X)
        except TypeError as exc:
            raise TypeError(f"X must be a list of documents (strings or token lists), "
                            f"got {_describe(X)}") from exc
        kinds = set()
        for i, doc in enumerate(docs):
            if isinstance(doc, str):
                kinds.add("str")
            elif isinstance(doc, (list, tuple, np.ndarray)):
                kinds.add("tokens")
                for token in doc:
                    if not isinstance(token, str):
                        raise TypeError(f"document {i} is a token list with a "
                                        f"{_describe(token)} ({token!r}); tokens must be strings")
            else:
                raise TypeError(f"document {i} is a {_describe(doc)} ({doc!r:.40}); documents "
                                "must be strings or lists of string tokens")
        if len(kinds) > 1:
            raise TypeError("X mixes strings and token lists: give one kind of document")
        return docs

    def _tokens(self, doc):
        """The tokens of one document (a str or a token list)."""
        form = getattr(self, "normalize", "NFC")   # a model pickled before the option
        if not isinstance(doc, str):
            # a token list: used as it is, in the normal form
            return [unicodedata.normalize(form, t) for t in doc] if form else list(doc)
        if form:
            doc = unicodedata.normalize(form, doc)
        if callable(self.analyzer):
            tokens = self.analyzer(doc)
            if isinstance(tokens, str) or not hasattr(tokens, "__iter__"):
                got = "a str" if isinstance(tokens, str) else f"{tokens!r:.40}"
                raise TypeError(f"the analyzer must return a list of tokens, got {got}")
            tokens = list(tokens)
            for token in tokens:
                if not isinstance(token, str):
                    raise TypeError(f"the analyzer returned a {_describe(token)} "
                                    f"({token!r}); tokens must be strings")
            return tokens
        if self.lowercase:
            doc = doc.lower()
        if self.analyzer == "char":
            return list(doc)
        return _WORD_RE.findall(doc)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Learn the vocabulary of the documents X.

        Parameters
        ----------
        X : list of str, or list of lists of str
            Strings are cut by ``analyzer``; token lists are used as they are
            (no lower-casing).  A single string is refused (TypeError).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        self._fit(self._documents(X))
        return self

    def _fit(self, docs):
        if not docs:
            raise ValueError("X has no documents: the vocabulary would be empty")
        counts = Counter()   # insertion order is first appearance
        for doc in docs:
            counts.update(self._tokens(doc))
        if not counts:
            raise ValueError(f"every one of the {len(docs)} documents is empty (no tokens): "
                             "the vocabulary would be empty")
        # decreasing count; sorted() is stable, so ties keep first appearance
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        kept = [(t, c) for t, c in ranked if c >= self.min_frequency]
        if not kept:
            raise ValueError(f"no token occurs min_frequency={self.min_frequency} times: "
                             f"the vocabulary would be empty (most frequent: "
                             f"{ranked[0][0]!r}, {ranked[0][1]} times)")
        if self.max_tokens is not None:
            kept = kept[:self.max_tokens - 2]
        self.vocabulary_ = {t: i for i, (t, _) in enumerate(kept, start=2)}
        self.token_counts_ = dict(kept)
        self.vocab_size_ = len(self.vocabulary_) + 2
        return docs

    # ------------------------------------------------------------ transform
    def transform(self, X):
        """Map each document to the ids of its tokens.

        Parameters
        ----------
        X : list of str, or list of lists of str

        Returns
        -------
        ids : list of ndarray of shape (n_tokens_i,), dtype int64
            1 for tokens outside the vocabulary; an empty array for an empty
            document.
        """
        check_is_fitted(self, "vocabulary_")
        return self._transform(self._documents(X))

    def _transform(self, docs):
        vocab = self.vocabulary_
        return [np.array([vocab.get(t, UNK_ID) for t in self._tokens(doc)], dtype=np.int64)
                for doc in docs]

    def fit_transform(self, X, y=None):
        """``fit(X).transform(X)``, reading X once (an iterator is fine)."""
        self._validate_params()
        return self._transform(self._fit(self._documents(X)))

    def inverse_transform(self, X):
        """The tokens of sequences of ids.

        Parameters
        ----------
        X : list of 1-D int arrays, or a 2-D int array (padded with 0)

        Returns
        -------
        tokens : list of list of str
            Padding (0) dropped; the unknown id (1) as ``"<unk>"``.
        """
        check_is_fitted(self, "vocabulary_")
        if isinstance(X, (str, bytes)):
            raise TypeError("X must be sequences of integer ids, got a string")
        names = self.get_feature_names_out()
        out = []
        for i, seq in enumerate(X):
            arr = np.asarray(seq)
            if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
                raise TypeError(f"sequence {i} must be a 1-D array of integer ids, got "
                                f"{arr.ndim}-D of dtype {arr.dtype}")
            if arr.size and arr.max() >= self.vocab_size_:   # before int64 could wrap it
                raise ValueError(f"sequence {i} has id {arr.max()}, outside "
                                 f"[0, {self.vocab_size_})")
            arr = arr.astype(np.int64, copy=False)
            if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size_):
                bad = arr[(arr < 0) | (arr >= self.vocab_size_)][0]
                raise ValueError(f"sequence {i} has id {bad}, outside [0, {self.vocab_size_})")
            out.append([names[j] for j in arr if j != PAD_ID])
        return out

    def get_feature_names_out(self, input_features=None):
        """The token of each id: ``names[i]`` is the token of id i.

        Returns
        -------
        names : ndarray of str objects, shape (``vocab_size_``,)
            ``"<pad>"``, ``"<unk>"``, then the vocabulary in id order.
        """
        check_is_fitted(self, "vocabulary_")
        return np.array([PAD_TOKEN, UNK_TOKEN, *self.vocabulary_], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

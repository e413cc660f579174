"""Tests for seqcore.text.SequenceTokenizer: vocabulary, ids, round trips,
scikit-learn conventions, bad input."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks as ec
from sklearn.utils._param_validation import InvalidParameterError

from seqcore.text import SequenceTokenizer

DOCS = ["The cat sat on the mat.", "The dog sat!", "A cat, a dog; the END.", ""]


def test_vocabulary_order_frequency_then_first_appearance():
    tok = SequenceTokenizer().fit(DOCS)
    # the:4, cat:2, sat:2, .:2, dog:2, a:2, then the singletons in order of appearance
    assert list(tok.vocabulary_.items())[:6] == [
        ("the", 2), ("cat", 3), ("sat", 4), (".", 5), ("dog", 6), ("a", 7)]
    assert list(tok.vocabulary_)[6:] == ["on", "mat", "!", ",", ";", "end"]
    assert tok.vocab_size_ == len(tok.vocabulary_) + 2 == 14
    assert tok.token_counts_["the"] == 4
    names = tok.get_feature_names_out()
    assert names.dtype == object and list(names[:3]) == ["<pad>", "<unk>", "the"]
    assert all(names[i] == t for t, i in tok.vocabulary_.items())
    # fitting twice, or a fresh clone, gives the same numbering
    assert clone(tok).fit(DOCS).vocabulary_ == tok.vocabulary_


def test_transform_ids_unknowns_and_empty_documents():
    tok = SequenceTokenizer().fit(DOCS)
    out = tok.transform(["the cat", "", "zebra cat ?"])
    assert isinstance(out, list) and all(a.dtype == np.int64 and a.ndim == 1 for a in out)
    np.testing.assert_array_equal(out[0], [2, 3])
    assert out[1].shape == (0,)
    np.testing.assert_array_equal(out[2], [1, 3, 1])
    assert all((a != 0).all() for a in tok.transform(DOCS))   # 0 is never produced


def test_round_trip():
    docs = ["Hello, world!", "hello there", "World peace."]
    tok = SequenceTokenizer().fit(docs)
    ids = tok.transform(docs)
    assert tok.inverse_transform(ids) == [["hello", ",", "world", "!"],
                                          ["hello", "there"], ["world", "peace", "."]]
    # a padded 2-D batch round-trips too (padding dropped)
    padded = np.zeros((3, 5), dtype=np.int64)
    for i, a in enumerate(ids):
        padded[i, :len(a)] = a
    assert tok.inverse_transform(padded) == tok.inverse_transform(ids)
    assert tok.inverse_transform([[1, 2]]) == [["<unk>", "hello"]]


def test_char_analyzer_round_trip_and_lowercase():
    tok = SequenceTokenizer(analyzer="char").fit(["Ab a", "ba!"])
    assert list(tok.vocabulary_) == ["a", "b", " ", "!"]
    ids = tok.transform(["AB  ?"])
    assert "".join(tok.inverse_transform(ids)[0]) == "ab  <unk>"
    cased = SequenceTokenizer(analyzer="char", lowercase=False).fit(["Ab a"])
    assert list(cased.vocabulary_) == ["A", "b", " ", "a"]   # all once: first appearance


def test_word_pattern_keeps_punctuation_and_contractions():
    tok = SequenceTokenizer().fit(["Don't stop -- it's great!! I love it 😀"])
    # '-' and '!' twice each, then the rest once, in order of appearance
    assert list(tok.vocabulary_) == ["-", "!", "don't", "stop", "it's", "great",
                                     "i", "love", "it", "😀"]


def test_min_frequency_and_max_tokens():
    docs = ["a a a b b c", "a b d"]   # a:4, b:3, c:1, d:1
    assert list(SequenceTokenizer(min_frequency=2).fit(docs).vocabulary_) == ["a", "b"]
    tok = SequenceTokenizer(max_tokens=4).fit(docs)   # 2 reserved + 2 tokens
    assert tok.vocabulary_ == {"a": 2, "b": 3} and tok.vocab_size_ == 4
    np.testing.assert_array_equal(tok.transform(["c a d b"])[0], [1, 2, 1, 3])
    # ties at the cap are kept in order of first appearance
    assert list(SequenceTokenizer(max_tokens=5).fit(docs).vocabulary_) == ["a", "b", "c"]
    big = SequenceTokenizer(max_tokens=100).fit(docs)
    assert big.vocab_size_ == 6 <= 100


def test_callable_analyzer_gets_raw_text():
    def split_on_bar(doc):
        return doc.split("|")

    tok = SequenceTokenizer(analyzer=split_on_bar).fit(["A|b|A", "c"])
    assert tok.vocabulary_ == {"A": 2, "b": 3, "c": 4}   # no lower-casing
    np.testing.assert_array_equal(tok.transform(["c|A|z"])[0], [4, 2, 1])
    with pytest.raises(TypeError, match="tokens must be strings"):
        SequenceTokenizer(analyzer=lambda d: [1, 2]).fit(["x"])
    with pytest.raises(TypeError, match="list of tokens, got a str"):
        SequenceTokenizer(analyzer=lambda d: d).fit(["x"])


def test_token_lists_used_as_they_are():
    sents = [["The", "cat", "sat"], ("the", "Cat"), np.array(["sat", "."])]
    tok = SequenceTokenizer().fit(sents)
    # counts: sat 2, others 1 in order of appearance; no lower-casing, no splitting
    assert list(tok.vocabulary_) == ["sat", "The", "cat", "the", "Cat", "."]
    np.testing.assert_array_equal(tok.transform([["the", "dog"]])[0], [5, 1])
    assert tok.transform([[]])[0].shape == (0,)
    assert tok.inverse_transform(tok.transform(sents)) == [list(s) for s in sents]


def test_iterators_and_arrays_of_strings():
    tok = SequenceTokenizer()
    ids = tok.fit_transform(d for d in DOCS)   # read once
    assert len(ids) == len(DOCS) and tok.vocab_size_ == 14
    same = SequenceTokenizer().fit(np.array(DOCS)).transform(np.array(DOCS, dtype=object))
    assert all(np.array_equal(a, b) for a, b in zip(ids, same))


@pytest.mark.parametrize("X, exc, match", [
    ("a single string", TypeError, "single str.*wrap it in a list"),
    (b"bytes", TypeError, "single bytes"),
    (42, TypeError, "list of documents"),
    (["ok", 3], TypeError, "document 1 is a int"),
    (["ok", None], TypeError, "document 1 is a NoneType"),
    ([b"bytes doc"], TypeError, "document 0 is a bytes"),
    ([["a", 1]], TypeError, "token list with a int"),
    (["text", ["tok"]], TypeError, "mixes strings and token lists"),
    ([], ValueError, "no documents"),
    (["", "   "], ValueError, "every one of the 2 documents is empty"),
])
def test_bad_input(X, exc, match):
    with pytest.raises(exc, match=match):
        SequenceTokenizer().fit(X)


def test_bad_input_at_transform_and_inverse():
    tok = SequenceTokenizer().fit(DOCS)
    with pytest.raises(TypeError, match="single str"):
        tok.transform("the cat")
    with pytest.raises(ValueError, match=r"id 14, outside \[0, 14\)"):
        tok.inverse_transform([[2, 14]])
    with pytest.raises(ValueError, match="id -1"):
        tok.inverse_transform([np.array([-1])])
    with pytest.raises(TypeError, match="integer ids"):
        tok.inverse_transform([[2.0, 3.0]])
    with pytest.raises(TypeError, match="integer ids"):
        tok.inverse_transform("abc")


def test_min_frequency_leaving_nothing_is_refused():
    with pytest.raises(ValueError, match="no token occurs min_frequency=5 times"):
        SequenceTokenizer(min_frequency=5).fit(["a b", "a"])


@pytest.mark.parametrize("params", [
    {"analyzer": "bigram"}, {"min_frequency": 0}, {"min_frequency": 1.5},
    {"max_tokens": 2}, {"lowercase": "yes"}, {"normalize": "NFX"}, {"normalize": True},
])
def test_bad_parameters_raise_at_fit(params):
    tok = SequenceTokenizer(**params)   # __init__ only stores
    with pytest.raises(InvalidParameterError):
        tok.fit(DOCS)


def test_not_fitted():
    tok = SequenceTokenizer()
    for method in (tok.transform, tok.inverse_transform):
        with pytest.raises(NotFittedError):
            method(DOCS)
    with pytest.raises(NotFittedError):
        tok.get_feature_names_out()


# --------------------------------------------- scikit-learn conventions
# The estimator checks that apply to a text transformer (the others feed it
# numeric 2-D arrays).  check_transformer_n_iter does not apply: there is no
# max_iter and no iteration.
SKLEARN_CHECKS = [
    ec.check_get_params_invariance,
    ec.check_parameters_default_constructible,
    ec.check_no_attributes_set_in_init,
    ec.check_set_params,
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_mixin_order,
    ec.check_valid_tag_types,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_param_validation,
]


@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_check(check):
    check("SequenceTokenizer", SequenceTokenizer())


def test_tags_say_text_input():
    from sklearn.utils import get_tags

    tags = get_tags(SequenceTokenizer())
    assert tags.input_tags.string and not tags.input_tags.two_d_array


def test_clone_and_pickle_round_trip():
    tok = SequenceTokenizer(analyzer="char", min_frequency=2, max_tokens=10)
    c = clone(tok)
    assert c.get_params() == tok.get_params() and not hasattr(c, "vocabulary_")
    tok.fit(DOCS)
    back = pickle.loads(pickle.dumps(tok))
    assert back.vocabulary_ == tok.vocabulary_
    assert list(back.vocabulary_) == list(tok.vocabulary_)   # id order kept
    for a, b in zip(back.transform(DOCS), tok.transform(DOCS)):
        np.testing.assert_array_equal(a, b)
    assert tok.fit(DOCS).vocabulary_ == back.vocabulary_     # refit is idempotent


def test_set_output_is_not_wrapped_and_pipeline_works():
    tok = SequenceTokenizer()
    assert not hasattr(tok, "set_output")   # a list of arrays is no table
    pipe = make_pipeline(SequenceTokenizer(max_tokens=5))
    out = pipe.fit_transform(DOCS)
    assert max(int(a.max()) for a in out if a.size) < 5


# issue 22, item 6: combining marks stay in their words; Unicode normal forms
def test_words_keep_their_combining_marks():
    import unicodedata

    nfd = unicodedata.normalize("NFD", "café crème")
    assert len(nfd) == 12                                   # two combining accents
    for form in ("NFC", None):   # with or without normalising, the marks stay
        tok = SequenceTokenizer(normalize=form).fit([nfd])
        assert len(tok.vocabulary_) == 2, tok.vocabulary_
        assert [len(t) for t in tok.inverse_transform(tok.transform([nfd]))[0]] == \
            ([4, 5] if form else [5, 6])
    hindi = "नमस्ते दुनिया"       # vowel signs and a virama are marks (Mc, Mn)
    tok = SequenceTokenizer().fit([hindi])
    assert list(tok.vocabulary_) == ["नमस्ते", "दुनिया"]
    # an inner apostrophe still joins, a mark after white space stands alone
    assert SequenceTokenizer().fit(["ne\u0301e's \u0301"]).vocabulary_ == \
        {"n\u00e9e's": 2, "\u0301": 3}


def test_text_is_normalised_to_nfc_by_default():
    import unicodedata

    composed = ["Le café est noir", "Ça va"]
    decomposed = [unicodedata.normalize("NFD", d) for d in composed]
    assert decomposed != composed
    tok = SequenceTokenizer().fit(composed)
    for a, b in zip(tok.transform(composed), tok.transform(decomposed)):
        np.testing.assert_array_equal(a, b)
    assert all(1 not in ids for ids in tok.transform(decomposed))      # nothing unknown
    # token lists too
    np.testing.assert_array_equal(tok.transform([["café"]])[0],
                                  tok.transform([[unicodedata.normalize("NFD", "café")]])[0])
    raw = SequenceTokenizer(normalize=None).fit(composed)
    assert raw.transform(["café"])[0].tolist() != raw.transform(
        [unicodedata.normalize("NFD", "café")])[0].tolist()
    # NFKC folds compatibility forms: the ligature "ﬁ" is "fi"
    assert list(SequenceTokenizer(normalize="NFKC").fit(["ﬁne"]).vocabulary_) == ["fine"]


def test_callable_analyzer_returning_nothing_is_refused_clearly():
    """issue 22, item 15: not "'NoneType' object is not iterable"."""
    with pytest.raises(TypeError, match="analyzer must return a list of tokens.*None"):
        SequenceTokenizer(analyzer=lambda d: None).fit(["x"])
    with pytest.raises(TypeError, match="analyzer must return a list of tokens.*42"):
        SequenceTokenizer(analyzer=lambda d: 42).fit(["x"])


def test_emoji_sequences_are_one_token_each():
    """A family emoji (joined by zero-width joiners), an emoji with its
    variation selector or skin tone, a flag (two regional indicators): one
    token each, not their code points."""
    tok = SequenceTokenizer().fit(["👩\u200d👩\u200d👧 ❤\ufe0f 👍🏽 🇫🇷🇩🇪 ok!!"])
    assert list(tok.vocabulary_) == ["!", "👩\u200d👩\u200d👧", "❤\ufe0f", "👍🏽", "🇫🇷",
                                     "🇩🇪", "ok"]

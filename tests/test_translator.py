"""Tests for seqcore.text.Seq2SeqTranslator: a copy/reverse task learned to
100% with a fixed seed, scikit-learn conventions (clone, GridSearchCV,
pickle), attention output, determinism and bad input."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks as ec
from sklearn.utils._param_validation import InvalidParameterError

from seqcore.text import Seq2SeqTranslator


def reverse_task(n, seed, alphabet="abcdef", low=2, high=7):
    rng = np.random.default_rng(seed)
    X = ["".join(rng.choice(list(alphabet), size=rng.integers(low, high))) for _ in range(n)]
    return X, [x[::-1] for x in X]


SMALL = dict(hidden_size=32, embedding_dim=16, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    X, y = reverse_task(600, 0)
    model = Seq2SeqTranslator(early_stopping=False, max_iter=40, **SMALL)
    with pytest.warns(ConvergenceWarning, match="max_iter=40"):   # loss still falling
        return model.fit(X, y)


def test_reverse_task_learned_exactly(fitted):
    X_test, y_test = reverse_task(200, 1)
    assert fitted.score(X_test, y_test) == 1.0
    assert fitted.predict(["abcdef", "fa"]) == ["fedcba", "af"]
    # beam search on the learned task writes the same
    beam = clone(fitted).set_params(beam_width=3)
    beam.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    assert beam.predict(X_test[:50]) == y_test[:50]
    assert fitted.n_iter_ == len(fitted.loss_curve_) == 40


def test_early_stopping_keeps_the_best_weights():
    X, y = reverse_task(300, 7, low=1, high=5)
    model = Seq2SeqTranslator(max_iter=30, n_iter_no_change=2, hidden_size=16,
                              embedding_dim=8, random_state=0).fit(X, y)
    scores = model.validation_scores_
    assert model.n_iter_ == len(scores) < 30
    assert scores[-1] == 1.0 or len(scores) - 1 - int(np.argmax(scores)) == 2
    # the held-out pairs (drawn after the network's seed): the model scores
    # on them what its best epoch scored
    rng = np.random.RandomState(0)
    rng.randint(np.iinfo(np.int32).max)
    held_out = np.sort(rng.permutation(len(X))[:30])
    assert model.score([X[i] for i in held_out], [y[i] for i in held_out]) == max(scores)


def test_copy_task_word_analyzer_and_token_lists():
    rng = np.random.default_rng(2)
    words = ["red", "green", "blue", "cat", "dog"]
    X = [" ".join(rng.choice(words, size=rng.integers(1, 4))) for _ in range(300)]
    model = Seq2SeqTranslator(analyzer="word", early_stopping=False, max_iter=30, **SMALL)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, X)
    assert model.score(X[:50], X[:50]) == 1.0
    assert model.predict(["dog cat red"]) == ["dog cat red"]
    # token lists are read as they are
    assert model.predict([["dog", "cat"]]) == ["dog cat"]


def test_predict_attention_and_plot(fitted):
    tokens, att = fitted.predict_attention("abcd")
    assert tokens == ["d", "c", "b", "a"]
    assert att.shape == (4, 4)
    np.testing.assert_allclose(att.sum(axis=1), 1, atol=1e-6)
    assert fitted.source_tokens("abcd") == ["a", "b", "c", "d"]
    # reversing: writing the i-th output token reads mostly the mirrored source token
    assert (att.argmax(axis=1) == [3, 2, 1, 0]).all()
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = fitted.plot_attention("abcd")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["d", "c", "b", "a"]
    assert len(ax.get_xticklabels()) == 4
    plt.close(ax.figure)


def test_grid_search_clone_and_pickle():
    X, y = reverse_task(200, 3, alphabet="abc", low=1, high=4)
    search = GridSearchCV(Seq2SeqTranslator(hidden_size=16, embedding_dim=8, max_iter=15,
                                            early_stopping=False, random_state=0),
                          {"attention": ["additive", "dot"]}, cv=2)
    with pytest.warns(ConvergenceWarning):
        search.fit(X, y)
    assert set(search.cv_results_["param_attention"]) == {"additive", "dot"}
    assert 0.0 <= search.best_score_ <= 1.0
    model = search.best_estimator_
    back = pickle.loads(pickle.dumps(model))
    assert back.predict(X[:20]) == model.predict(X[:20])
    assert clone(model).get_params() == model.get_params()


# scikit-learn's checks that apply to an estimator of strings (the others
# feed numeric 2-D arrays)
APPLICABLE_CHECKS = [
    "check_estimator_cloneable", "check_estimator_repr", "check_no_attributes_set_in_init",
    "check_parameters_default_constructible", "check_get_params_invariance",
    "check_set_params", "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_tags_renamed", "check_valid_tag_types", "check_mixin_order",
]


@pytest.mark.parametrize("check", APPLICABLE_CHECKS)
def test_applicable_sklearn_checks(check):
    getattr(ec, check)("Seq2SeqTranslator", Seq2SeqTranslator())


def test_fixed_seed_is_deterministic_and_input_unchanged():
    X, y = reverse_task(120, 4)
    X0, y0 = list(X), list(y)
    a = Seq2SeqTranslator(hidden_size=16, max_iter=3, early_stopping=False, random_state=5)
    b = clone(a)
    with pytest.warns(Warning, match="max_iter"):
        a.fit(X, y)
    with pytest.warns(Warning, match="max_iter"):
        b.fit(X, y)
    np.testing.assert_array_equal(a.network_.flat_params, b.network_.flat_params)
    assert a.loss_curve_ == b.loss_curve_
    assert X == X0 and y == y0


@pytest.mark.parametrize("cell", ["gru", "mgu"])
def test_other_cells_and_no_attention(cell):
    X, y = reverse_task(100, 5, low=1, high=3)
    for attention in ("general", None):
        model = Seq2SeqTranslator(cell=cell, attention=attention, hidden_size=16,
                                  max_iter=2, early_stopping=False, random_state=0)
        with pytest.warns(Warning, match="max_iter"):
            model.fit(X, y)
        out = model.predict(X[:5])
        assert len(out) == 5 and all(isinstance(o, str) for o in out)
    # no attention: every valid source position weighs the same
    _, att = model.predict_attention("abcde")
    np.testing.assert_allclose(att, 1 / 5, atol=1e-6)


def test_bad_input(fitted):
    X, y = reverse_task(50, 6)
    with pytest.raises(NotFittedError):
        Seq2SeqTranslator().predict(["abc"])
    with pytest.raises(ValueError, match="source 2 is empty"):
        Seq2SeqTranslator(max_iter=1).fit(X[:2] + [""] + X[3:], y)
    with pytest.raises(ValueError, match="source 1 is empty"):
        fitted.predict(["abc", ""])
    with pytest.raises(InvalidParameterError, match="max_output_length"):
        Seq2SeqTranslator(max_output_length=0).fit(X, y)
    with pytest.raises(InvalidParameterError, match="beam_width"):
        Seq2SeqTranslator(beam_width=0).fit(X, y)
    with pytest.raises(ValueError, match="y has 49 targets"):
        Seq2SeqTranslator().fit(X, y[:-1])
    with pytest.raises(TypeError, match="single"):
        fitted.predict("abc")
    with pytest.raises(ValueError, match="every target is empty"):
        Seq2SeqTranslator().fit(X, [""] * len(X))
    with pytest.raises(ValueError, match="must be even"):
        Seq2SeqTranslator(hidden_size=7).fit(X, y)
    # target tokens outside the vocabulary of the first fit
    warm = Seq2SeqTranslator(hidden_size=8, max_iter=1, early_stopping=False,
                             warm_start=True, random_state=0)
    with pytest.warns(Warning, match="max_iter"):
        warm.fit(X, y)
    with pytest.raises(ValueError, match=r"target tokens not in the vocabulary.*'z'"):
        warm.fit(["abc"], ["zz"])
    # unknown source tokens are read as unknown, not refused
    assert isinstance(fitted.predict(["xyz"])[0], str)


# ------------------------------------------- issue 22: items 8, 12, 13
def _peak_bytes(fn):
    """The peak of the memory that NumPy and Python allocate while fn runs
    (tracemalloc sees NumPy's buffers), and fn's result."""
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def _with_fitted(fitted, **params):
    model = clone(fitted).set_params(**params)
    model.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    if "max_output_length" in params:
        model.max_output_length_ = params["max_output_length"]
    return model


def test_predict_memory_is_bounded_on_long_sources(fitted, monkeypatch):
    """It grew by about 1.1 KB per source token within a chunk of 1024
    sources (+2.2 GiB for 1000 sources of 2000 characters): the chunks are
    now sized by the sources' lengths, like the classifier's batches."""
    from seqcore.nn import _seq2seq

    rng = np.random.default_rng(3)
    sources = ["".join(rng.choice(list("abcdef"), 1500)) for _ in range(120)]
    sources[7] = "fa"                        # short ones among them keep their order
    whole = fitted.predict(sources)
    monkeypatch.setattr(_seq2seq, "PREDICT_MEMORY", 4 << 20, raising=False)
    peak, chunked = _peak_bytes(lambda: fitted.predict(sources))
    assert chunked == whole and chunked[7] == "af"
    # 180,000 source tokens: about 200 MB before; now a few budgets' worth
    assert peak < 24 << 20, peak / 2**20


def test_beam_search_memory_follows_the_outputs_not_max_output_length(fitted):
    """max_output_length=100000 took +4.9 GiB and 20 s for 200 short inputs
    (histories of max_output_length tokens per hypothesis, copied each step)."""
    import time

    X = ["abcdef", "fa", "cab", "dd"] * 25
    beam = _with_fitted(fitted, beam_width=4, max_output_length=100_000)
    start = time.perf_counter()
    peak, out = _peak_bytes(lambda: beam.predict(X))
    seconds = time.perf_counter() - start
    assert out == [x[::-1] for x in X]
    assert peak < 32 << 20, peak / 2**20
    assert seconds < 10, seconds                # was about 20 s


def test_max_output_length_below_the_targets_warns_at_fit():
    """It trained silently with outputs cut short, validation exact match 0
    and early stopping ending training after 5 epochs."""
    X, y = reverse_task(60, 4, low=5, high=9)
    with pytest.warns(UserWarning, match=r"max_output_length=3 is shorter than 60 of the 60 "
                                         r"training targets \(the longest has 8 tokens\)"):
        Seq2SeqTranslator(max_output_length=3, max_iter=1, early_stopping=False,
                          hidden_size=4, embedding_dim=2, random_state=0).fit(X, y)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        Seq2SeqTranslator(max_output_length=8, max_iter=1, early_stopping=False,
                          hidden_size=4, embedding_dim=2, random_state=0).fit(X, y)

"""Tests for ``seqcore.text.RNNLanguageModel``: learning, sampling, scoring,
gradients, bad input, scikit-learn conventions.

Every model here is tiny (a few hundred parameters, a few thousand tokens),
so each fit takes a fraction of a second.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import estimator_checks as ec
from threadpoolctl import threadpool_limits

from seqcore.nn import CELLS
from seqcore.text import RNNLanguageModel
from seqcore.nn._language import LanguageNetwork as _LMNetwork
from seqcore.text._language_model import _stream

CELL_NAMES = list(CELLS)


def grammar(n, seed):
    """'a', a coin flip x|y, two dots, the same letter again: the second
    letter is certain only to a model that remembers the first over three
    steps.  Entropy: one bit per 5 tokens."""
    rng = np.random.default_rng(seed)
    return "".join("a" + c + ".." + c for c in rng.choice(["x", "y"], n))


GRAMMAR_ENTROPY = np.log(2) / 5        # nats per token


def small(**kw):
    params = dict(embedding_dim=8, hidden_size=16, sequence_length=32, batch_size=16,
                  max_iter=40, learning_rate=0.02, random_state=0)
    params.update(kw)
    return RNNLanguageModel(**params)


def fit_quiet(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.fixture(scope="module")
def grammar_lm():
    return fit_quiet(small(), [grammar(800, 0)])


# ------------------------------------------------------------------ learning
@pytest.mark.parametrize("cell", CELL_NAMES)
def test_learns_a_grammar_to_its_entropy(cell):
    lm = fit_quiet(small(cell=cell), [grammar(800, 0)])
    test = [grammar(200, 1)]
    # perplexity exp(H) = 1.1487 for the grammar's entropy H
    assert abs(lm.perplexity(test) - np.exp(GRAMMAR_ENTROPY)) < 0.01
    assert lm.score(test) == pytest.approx(-np.log(lm.perplexity(test)))
    assert lm.loss_curve_[-1] < lm.loss_curve_[0]
    # what it writes follows the grammar
    text = lm.sample(200, prefix="a", random_state=0)
    for i in range(0, 195, 5):
        assert text[i] == "a" and text[i + 1] in "xy" and text[i + 2:i + 4] == ".."
        assert text[i + 4] == text[i + 1]


def test_fit_is_bit_identical_for_a_seed_and_any_blas_threads():
    X = [grammar(300, 0)]
    with threadpool_limits(1):
        a = fit_quiet(small(max_iter=5, dropout=0.2, num_layers=2), X)
    with threadpool_limits(2):
        b = fit_quiet(small(max_iter=5, dropout=0.2, num_layers=2), X)
    np.testing.assert_array_equal(a.network_.flat_params, b.network_.flat_params)
    assert a.loss_curve_ == b.loss_curve_
    assert a.sample(50, random_state=3) == b.sample(50, random_state=3)


def test_early_stopping_scores_the_tail_and_keeps_the_best_weights():
    lm = small(early_stopping=True, validation_fraction=0.2, max_iter=200,
               n_iter_no_change=3)
    lm.fit([grammar(600, 0)])       # stops by itself: no ConvergenceWarning
    assert lm.n_iter_ < 200
    assert len(lm.validation_scores_) == lm.n_iter_
    stream = _stream(lm.tokenizer_, [grammar(600, 0)], "X")
    tail = stream[-int(round(0.2 * stream.size)):]
    best = lm.network_.log_likelihood(tail) / (tail.size - 1)
    assert best == pytest.approx(max(lm.validation_scores_))


def test_reaching_max_iter_warns():
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        small(max_iter=2).fit([grammar(50, 0)])


def test_word_analyzer_and_unknown_tokens():
    docs = ["the cat sat on the mat .", "the dog sat on the log .", "a bird ."] * 20
    lm = fit_quiet(small(analyzer="word", min_frequency=2, max_iter=10), docs)
    assert "bird" in lm.vocabulary_ and lm._unk_seen is False
    lm = fit_quiet(small(analyzer="word", max_tokens=8, max_iter=10), docs)
    assert lm.vocab_size_ == 8 and lm._unk_seen
    text = lm.sample(20, prefix="the zebra", random_state=0)   # zebra reads as <unk>
    assert text.startswith("the zebra ") and "<unk>" not in text and "<pad>" not in text
    assert len(text[len("the zebra "):].split(" ")) == 20
    assert np.isfinite(lm.score(["the zebra sat ."]))


# ------------------------------------------------------------------ sampling
def reference_logits(lm, ids):
    """Logits (len(ids), V) after each token of ``ids``, from the layers'
    own inference passes (not the compiled sampling loop)."""
    net = lm.network_
    E = net.embedding.forward(np.asarray(ids)[None], training=False)
    out, _ = net.rnn.forward(E, training=False)
    return net.head.forward(out[0], training=False).astype(np.float64)


def reference_sample(lm, prefix_ids, u, temperature, top_k):
    """The sampling rule of seqcore._lm.generate, written out in NumPy."""
    ids = list(prefix_ids)
    out = []
    for k in range(len(u)):
        z = reference_logits(lm, ids)[-1]
        z[:2] = -np.inf                                # padding, unknown
        if top_k is not None:
            z[np.argsort(-z, kind="stable")[top_k:]] = -np.inf
        p = np.exp((z - z.max()) / temperature)
        tok = int(np.searchsorted(np.cumsum(p), u[k] * p.sum(), side="right"))
        out.append(tok)
        ids.append(tok)
    return out


@pytest.mark.parametrize("cell", CELL_NAMES)
@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.7, 3), (2.0, 1)])
def test_compiled_sampling_agrees_with_the_layers(cell, temperature, top_k):
    # an untrained two-layer float64 model: every kernel path, no learned peaks
    lm = small(cell=cell, num_layers=2, max_iter=1, dtype="float64")
    fit_quiet(lm, ["abcdefgh" * 10])
    prefix = lm.tokenizer_.transform(["cafe"])[0]
    u = np.random.default_rng(0).random(25)
    got = lm.network_.generate(prefix, lm._unigram_log, u, temperature, top_k,
                               np.r_[0, 0, np.ones(lm.vocab_size_ - 2)].astype(np.uint8))
    assert got.tolist() == reference_sample(lm, prefix, u, temperature, top_k)


def test_sample_is_reproducible_for_a_random_state(grammar_lm):
    a = grammar_lm.sample(100, random_state=7)
    assert a == grammar_lm.sample(100, random_state=7)
    assert a == grammar_lm.sample(100, random_state=np.random.RandomState(7))
    assert a != grammar_lm.sample(100, random_state=8)
    assert len(a) == 100


def test_prefix_primes_the_state(grammar_lm):
    # greedy: after "ax.." the model must close with x, after "ay.." with y
    assert grammar_lm.sample(1, prefix="ax..", top_k=1) == "ax..x"
    assert grammar_lm.sample(1, prefix="ay..", top_k=1) == "ay..y"
    assert grammar_lm.sample(0, prefix="ay") == "ay"
    assert grammar_lm.sample(0) == ""


def test_temperature_and_top_k(grammar_lm):
    greedy = grammar_lm.sample(60, prefix="a", top_k=1, random_state=0)
    # top_k=1 ignores the random numbers; a tiny temperature draws the same
    assert greedy == grammar_lm.sample(60, prefix="a", top_k=1, random_state=1)
    assert greedy == grammar_lm.sample(60, prefix="a", temperature=1e-6, random_state=2)
    # a high temperature flattens the distribution: every token shows up
    hot = grammar_lm.sample(2000, prefix="a", temperature=50.0, random_state=0)
    assert set(hot) == set(grammar_lm.vocabulary_)
    # top_k=2 at a high temperature: after "a" only the two likely tokens
    # (x and y) stay, drawn about equally often
    after_a = [grammar_lm.sample(1, prefix="a", temperature=50.0, top_k=2, random_state=i)[-1]
               for i in range(40)]
    assert set(after_a) == {"x", "y"}


def test_sampling_speed_is_not_per_token_python(grammar_lm):
    # 20,000 tokens would take seconds through the layers' forward; the
    # compiled loop takes milliseconds (a loose bound for a busy machine)
    import time
    t0 = time.perf_counter()
    grammar_lm.sample(20000, random_state=0)
    assert time.perf_counter() - t0 < 2.0


# ----------------------------------------------------------------- gradients
def _tiny_network(cell, dtype=np.float64, num_layers=2):
    return _LMNetwork(cell, vocab_size=6, embedding_dim=3, hidden_size=4,
                      num_layers=num_layers, dropout=0.0, dtype=dtype, seed=0)


@pytest.mark.parametrize("cell", CELL_NAMES)
def test_loss_gradient_by_finite_differences(cell):
    net = _tiny_network(cell)
    rng = np.random.default_rng(1)
    X = rng.integers(1, 6, size=(2, 5))       # no padding id: its row is frozen
    Y = rng.integers(0, 6, size=(2, 5))
    L, H = net.rnn.num_layers, net.rnn.hidden_size
    h0 = 0.5 * rng.standard_normal((L, 2, H))
    state = (h0, 0.5 * rng.standard_normal((L, 2, H))) if net.rnn._two_states else h0
    loss, _ = net.loss_and_gradient(X, Y, state)
    grad = net.flat_grads.copy()
    numeric = np.empty_like(grad)
    eps = 1e-6
    for i in range(grad.size):
        keep = net.flat_params[i]
        net.flat_params[i] = keep + eps
        up, _ = net.loss_and_gradient(X, Y, state)
        net.flat_params[i] = keep - eps
        down, _ = net.loss_and_gradient(X, Y, state)
        net.flat_params[i] = keep
        numeric[i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert np.isfinite(loss) and grad[:6 * 3].reshape(6, 3)[0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_loss_and_gradients_agree_with_pytorch(cell):
    torch = pytest.importorskip("torch")
    net = _tiny_network(cell, np.float64)
    rng = np.random.default_rng(2)
    X, Y = rng.integers(1, 6, size=(3, 7)), rng.integers(0, 6, size=(3, 7))
    loss, _ = net.loss_and_gradient(X, Y, None)
    emb = torch.nn.Embedding(6, 3, padding_idx=0).double()
    rnn = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](
        3, 4, num_layers=2, batch_first=True).double()
    head = torch.nn.Linear(4, 6).double()
    for module, part in ((emb, net.embedding), (rnn, net.rnn), (head, net.head)):
        module.load_state_dict({k: torch.from_numpy(v) for k, v in part.state_dict().items()})
    out, _ = rnn(emb(torch.from_numpy(X)))
    t_loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, 6),
                                               torch.from_numpy(Y).reshape(-1))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for module, part in ((emb, net.embedding), (rnn, net.rnn), (head, net.head)):
        for name, p in module.named_parameters():
            np.testing.assert_allclose(part.grads[name], p.grad.numpy(), rtol=1e-9,
                                       atol=1e-12, err_msg=name)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_compiled_softmax_cross_entropy(dtype, rtol):
    from seqcore import _lm
    rng = np.random.default_rng(3)
    Z = (5 * rng.standard_normal((40, 9))).astype(dtype)
    y = rng.integers(0, 9, 40).astype(np.intp)
    Z64 = Z.astype(np.float64)
    logp = Z64 - Z64.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    dZ = np.empty_like(Z)
    loss = _lm.softmax_nll(Z, y, 0.25, dZ)
    assert loss == pytest.approx(-0.25 * logp[np.arange(40), y].sum(), rel=rtol)
    expected = np.exp(logp)
    expected[np.arange(40), y] -= 1
    np.testing.assert_allclose(dZ, 0.25 * expected, rtol=10 * rtol, atol=10 * rtol)
    # scoring only: no gradient rows
    assert _lm.softmax_nll(Z, y, 1.0, np.empty((0, 9), dtype)) == pytest.approx(4 * loss,
                                                                                 rel=rtol)
    with pytest.raises(ValueError, match="target 9 of row 0"):
        _lm.softmax_nll(Z, np.r_[9, y[1:]].astype(np.intp), 1.0, dZ)
    with pytest.raises(ValueError, match="dZ"):
        _lm.softmax_nll(Z, y, 1.0, np.empty((3, 9), dtype))


def test_compiled_generate_checks_its_arguments(grammar_lm):
    from seqcore import _lm
    net = grammar_lm.network_
    V = grammar_lm.vocab_size_
    allowed = np.r_[0, 0, np.ones(V - 2)].astype(np.uint8)
    good = dict(forced=np.array([2]), first_logits=grammar_lm._unigram_log, u=np.zeros(3),
                temperature=1.0, top_k=None, allowed=allowed)

    def call(**kw):
        return net.generate(**{**good, **kw})

    assert call().shape == (3,)
    with pytest.raises(ValueError, match=f"forced id {V} is outside"):
        call(forced=np.array([2, V]))
    with pytest.raises(ValueError, match="outside \\[0, 1\\)"):
        call(u=np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="no token may be drawn"):
        call(allowed=np.zeros(V, np.uint8))
    with pytest.raises(ValueError, match="allowed"):
        call(allowed=allowed[:-1])
    with pytest.raises(ValueError, match="first_logits"):
        call(forced=np.empty(0, np.intp), first_logits=np.zeros(V - 1))
    with pytest.raises(ValueError, match="temperature"):
        call(temperature=0.0)
    # the weights' shapes and dtypes are checked before the loop reads them
    P_emb, P_rnn, P_head = net._snapshot_views().values()
    W_ih, W_hh, b_ih, b_hh, extra, _ = net.rnn._scan_params(P_rnn, 0, 0)
    Wf, Wf2 = net.rnn._pack_hidden(W_hh, backward=False)
    layer = [np.ascontiguousarray(W_ih.T), W_hh, Wf, Wf2, b_ih + b_hh, np.empty(0, np.float32),
             extra]
    head = (np.ascontiguousarray(P_head["weight"].T), P_head["bias"])
    args = (net.rnn._layout.code, net.rnn._layout.flags, np.array([2]), good["first_logits"],
            np.zeros(2), 1.0, 0, allowed)
    assert _lm.generate(P_emb["weight"], *head, [tuple(layer)], *args).shape == (2,)
    for i, bad, match in [(0, W_ih, "W_ih.T of layer 0 has shape"),
                          (1, W_hh[:-1], "W_hh of layer 0"),
                          (2, Wf[:10], "packed W_hh of layer 0 is too short"),
                          (4, b_ih[:-1], "bias of layer 0"),
                          (1, W_hh.astype(np.float64), "float64")]:
        broken = list(layer)
        broken[i] = bad
        with pytest.raises((ValueError, TypeError), match=match):
            _lm.generate(P_emb["weight"], *head, [tuple(broken)], *args)
    with pytest.raises(ValueError, match="head_WT"):
        _lm.generate(P_emb["weight"], head[0][:-1], head[1], [tuple(layer)], *args)
    with pytest.raises(ValueError, match="unknown cell kind"):
        _lm.generate(P_emb["weight"], *head, [tuple(layer)], 99, 0, *args[2:])


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("X, error, match", [
    ([], ValueError, "no documents"),
    (["", ""], ValueError, "empty"),
    (["a"], ValueError, "at least 2"),
    ("abcabc", TypeError, "single str"),
    ([1, 2, 3], TypeError, "documents must be strings"),
])
def test_fit_refuses_bad_texts(X, error, match):
    with pytest.raises(error, match=match):
        small().fit(X)


def test_a_vocabulary_of_only_unknowns_is_refused():
    with pytest.raises(ValueError, match="min_frequency=50"):
        small(min_frequency=50).fit(["abcabc"])
    lm = fit_quiet(small(max_iter=1), ["abcabc"])
    with pytest.raises(ValueError, match="all are <unk>"):
        lm.score(["xyz"])
    with pytest.warns(UserWarning, match="1 of the 4 tokens"):
        lm.score(["abcz"])


def test_bad_hyper_parameters_raise_at_fit():
    with pytest.raises(ValueError, match="cell"):
        RNNLanguageModel(cell="transformer").fit(["abcabc"])
    with pytest.raises(ValueError, match="sequence_length"):
        RNNLanguageModel(sequence_length=0).fit(["abcabc"])
    with pytest.raises(ValueError, match="validation split"):
        RNNLanguageModel(early_stopping=True).fit(["abc"])


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(temperature=0), ValueError, "temperature"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(temperature=float("nan")), ValueError, "temperature"),
    (dict(temperature="hot"), ValueError, "temperature"),
    (dict(top_k=0), ValueError, "top_k"),
    (dict(top_k=2.5), TypeError, "top_k"),
    (dict(prefix="aq"), ValueError, r"never seen in fit: \['q'\]"),
    (dict(prefix=b"ax"), TypeError, "prefix"),
])
def test_sample_refuses_bad_arguments(grammar_lm, kwargs, error, match):
    with pytest.raises(error, match=match):
        grammar_lm.sample(5, **kwargs)


def test_sample_refuses_bad_lengths(grammar_lm):
    with pytest.raises(ValueError, match="n_tokens"):
        grammar_lm.sample(-1)
    with pytest.raises(TypeError, match="n_tokens"):
        grammar_lm.sample(2.0)


def test_unfitted_model_raises():
    for call in (lambda m: m.sample(3), lambda m: m.score(["ab"]),
                 lambda m: m.perplexity(["ab"])):
        with pytest.raises(NotFittedError):
            call(RNNLanguageModel())


def test_input_is_not_modified():
    docs = ["abcabc", "cab"]
    tokens = [list("abc"), list("cab")]
    fit_quiet(small(max_iter=1), docs)
    fit_quiet(small(max_iter=1), tokens)
    assert docs == ["abcabc", "cab"] and tokens == [list("abc"), list("cab")]


# ----------------------------------------------------------------- scikit-learn
def test_clone_and_pickle(grammar_lm):
    c = clone(grammar_lm)
    assert c.get_params() == grammar_lm.get_params() and not hasattr(c, "network_")
    back = pickle.loads(pickle.dumps(grammar_lm))
    assert back.sample(80, random_state=1) == grammar_lm.sample(80, random_state=1)
    assert back.score(["ax..xay..y"]) == grammar_lm.score(["ax..xay..y"])
    # the layers view the model's one flat buffer again
    net = back.network_
    for part in net._parts():
        assert np.shares_memory(part.flat_params, net.flat_params)
        assert np.shares_memory(part.flat_grads, net.flat_grads)


# The estimator checks that apply to a model of raw texts (the others feed it
# numeric 2-D arrays); check_param_validation fits with each bad value, which
# is refused before any training.
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
    check("RNNLanguageModel", RNNLanguageModel())


def test_tags_say_text_input():
    from sklearn.utils import get_tags

    tags = get_tags(RNNLanguageModel())
    assert tags.input_tags.string and not tags.input_tags.two_d_array


def test_grid_search_on_raw_texts():
    docs = [grammar(60, s) for s in range(4)]
    search = GridSearchCV(small(max_iter=3), {"hidden_size": [4, 16]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(docs)
    assert search.best_params_["hidden_size"] in (4, 16)
    assert np.isfinite(search.best_score_)


def test_inference_during_a_refit_reads_one_whole_model():
    """sample and score in one thread while another refits the same model on
    another alphabet: each call sees the old model or the new one, never a
    mix (the fitted attributes are published together at the end of fit)."""
    import threading
    lm = fit_quiet(small(max_iter=5), [grammar(200, 0)])
    old = set(lm.vocabulary_)
    errors = []

    def refit():
        try:
            fit_quiet(lm, ["pqrs" * 3000])
        except Exception as exc:   # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=refit)
    worker.start()
    seen = []
    while worker.is_alive() or not seen:
        text = lm.sample(30, random_state=0)
        assert set(text) <= old or set(text) <= set("pqrs"), text
        seen.append(set(text) <= old)
    worker.join()
    assert not errors
    assert seen[0] and set(lm.vocabulary_) == set("pqrs")
    assert lm.n_iter_ == len(lm.loss_curve_)


def test_params_are_named_like_pytorch(grammar_lm):
    names = set(grammar_lm.network_.params)
    assert {"embedding.weight", "rnn.weight_ih_l0", "rnn.bias_hh_l0", "head.weight",
            "head.bias"} <= names


def test_scoring_memory_is_sized_by_the_vocabulary(monkeypatch):
    """issue 22, item 14: scoring held 2,048 x vocabulary logits at once
    (+774 MiB for a 49k-word vocabulary); the chunk of steps now shrinks as
    the vocabulary grows, to about _SCORE_MEMORY bytes of buffers."""
    import tracemalloc
    import warnings

    from seqcore.nn import _language

    rng = np.random.default_rng(4)
    words = np.array([f"w{i}" for i in range(6000)])
    text = " ".join(rng.choice(words, 12000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm = RNNLanguageModel(analyzer="word", embedding_dim=4, hidden_size=4, max_iter=1,
                              early_stopping=False, random_state=0).fit([text])
    assert lm.vocab_size_ > 5000
    sample = [" ".join(rng.choice(words, 4000))]
    whole = lm.score(sample)
    monkeypatch.setattr(_language, "_SCORE_MEMORY", 2 << 20)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        chunked = lm.score(sample)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)
    # 2,048 steps of 6,000 float32 logits were 49 MB; now about 2 MB of them
    assert peak < 12 << 20, peak / 2**20

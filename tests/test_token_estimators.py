"""Token input, dense layers and the network around them (issue 14, items 2-3).

* ``SequenceNetwork`` with an embedding and dense layers: gradients by
  central differences, for both dense activations, many-to-one and per step.
* Estimators with ``embedding_dim``: lists of id arrays and 2-D id arrays
  with trailing zero padding give the same model; ids outside the
  vocabulary, negative ids, floats and strings are refused; tagging returns
  one label (of any type) per token; a ``Pipeline`` with
  ``SequenceTokenizer`` fits raw sentences and passes ``GridSearchCV``.
"""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from seqcore import RNNClassifier, RNNRegressor
from seqcore.nn import SequenceNetwork
from seqcore.text import SequenceTokenizer

from test_gradcheck import _check, _numeric_grad


# --------------------------------------------------------------- network
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", ["gru", "lstm", "mgu"])
def test_network_with_embedding_and_dense_layers_gradients(activation, return_sequences, cell):
    # relu's kink: a seed whose pre-activations all lie farther than the
    # central difference's step from 0 (else the difference is not a derivative)
    rng = np.random.default_rng(6)
    B, T, V = 3, 4, 7
    net = SequenceNetwork(cell, 3, 4, 3, loss="softmax", return_sequences=return_sequences,
                          vocab_size=V, dense_layers=(5, 4), dense_activation=activation,
                          bidirectional=True, dtype=np.float64, random_state=0)
    lengths = np.array([4, 2, 3])
    ids = rng.integers(1, V, (B, T))
    ids[np.arange(T) >= lengths[:, None]] = 0
    Y = rng.integers(0, 3, (B, T) if return_sequences else B)
    w = rng.uniform(0.5, 2, B)

    def loss():
        return net.loss_and_gradient(ids, lengths, Y, w)

    loss()
    analytic = {k: g.copy() for k, g in net.grads.items()}
    assert "embedding.weight" in analytic and "dense1.weight" in analytic
    for name, value in net.params.items():
        _check(name, analytic[name], _numeric_grad(loss, value))
    # padding (id 0) never gets a gradient, unused ids neither
    assert not analytic["embedding.weight"][0].any()


def test_network_inference_matches_the_training_pass():
    rng = np.random.default_rng(1)
    net = SequenceNetwork("lstm", 3, 4, 2, loss="squared_error", vocab_size=9,
                          dense_layers=(6,), dtype=np.float64, random_state=0)
    ids = rng.integers(1, 9, (5, 6))
    Z = net.decision_function(ids)
    Y = rng.standard_normal((5, 2))
    loss = net.loss_and_gradient(ids, None, Y)
    # squared error: half the mean over outputs, averaged over samples
    assert np.isclose(loss, np.mean(0.5 * np.mean((Z - Y) ** 2, axis=1)), rtol=1e-12)


# ----------------------------------------------------------- estimators
def _token_task(seed=0, n=80):
    """Sequences of ids 2..9 of lengths 3..8; the label: does id 7 occur?"""
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(2, 10, rng.integers(3, 9)) for _ in range(n)]
    y = np.array(["yes" if (s == 7).any() else "no" for s in seqs])
    return seqs, y


def test_token_classifier_learns_and_keeps_the_vocabulary():
    seqs, y = _token_task()
    clf = RNNClassifier(embedding_dim=8, hidden_size=16, max_iter=60, random_state=0)
    clf.fit(seqs, y)
    assert clf.vocab_size_ == 10
    assert clf.score(seqs, y) > 0.9
    assert set(clf.predict(seqs)) <= {"yes", "no"}


def test_list_and_zero_padded_ids_give_the_same_model():
    seqs, y = _token_task(1, 40)
    padded = np.zeros((40, 8), np.int64)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = s
    kw = dict(embedding_dim=4, hidden_size=5, max_iter=3, random_state=0)
    a = RNNClassifier(**kw).fit(seqs, y)
    b = RNNClassifier(**kw).fit(padded, y)
    np.testing.assert_array_equal(a.network_.flat_params, b.network_.flat_params)
    np.testing.assert_array_equal(a.predict_proba(seqs), b.predict_proba(padded))


@pytest.mark.parametrize("X, exc, match", [
    ([np.array([2, 3, 12])], ValueError, r"token id 12, outside the 10 ids"),
    ([np.array([2, -1, 3])], ValueError, r"negative token id"),
    ([np.array([2.5, 3.0])], TypeError, r"integer token ids"),
    (["the cat sat"], TypeError, r"SequenceTokenizer"),
    ([np.array([2, 0, 3])], ValueError, r"X\[0\] has the padding id 0 at step 1"),
    (np.array([[2, 3, 4], [0, 5, 0]]), ValueError, r"X\[1\] has the padding id 0 at step 0"),
])
def test_bad_token_input_is_refused_at_predict(X, exc, match):
    seqs, y = _token_task(2, 30)
    clf = RNNClassifier(embedding_dim=4, hidden_size=4, max_iter=1, random_state=0)
    clf.fit(seqs, y)
    with pytest.raises(exc, match=match):
        clf.predict(X)


def test_vocab_size_is_a_parameter():
    seqs, y = _token_task(3, 30)
    clf = RNNClassifier(embedding_dim=4, hidden_size=4, max_iter=1, vocab_size=50,
                        random_state=0).fit(seqs, y)
    assert clf.vocab_size_ == 50
    clf.predict([np.array([2, 49])])
    with pytest.raises(ValueError, match="vocab_size=5"):
        RNNClassifier(embedding_dim=4, vocab_size=5, max_iter=1).fit(seqs, y)


def test_tagging_returns_one_label_per_token():
    rng = np.random.default_rng(5)
    seqs = [rng.integers(2, 8, rng.integers(2, 9)) for _ in range(60)]
    tags = [np.where(s % 2 == 0, "EVEN", "ODD") for s in seqs]
    clf = RNNClassifier(embedding_dim=6, hidden_size=12, return_sequences=True,
                        bidirectional=True, max_iter=40, random_state=0).fit(seqs, tags)
    pred = clf.predict(seqs)
    assert [len(p) for p in pred] == [len(s) for s in seqs]
    assert clf.score(seqs, tags) > 0.95


def test_token_regressor_with_dense_layers():
    seqs, _ = _token_task(4, 60)
    y = np.array([float((s == 7).sum()) for s in seqs])
    reg = RNNRegressor(embedding_dim=6, hidden_size=12, dense_layers=(16, 8),
                       dense_activation="tanh", max_iter=60, random_state=0).fit(seqs, y)
    assert reg.score(seqs, y) > 0.8
    assert [(d.in_features, d.out_features) for d in reg.network_.dense] == [(12, 16), (16, 8)]
    assert reg.network_.weight.shape == (1, 8)


@pytest.mark.parametrize("bad", [(0,), (3, -1), (2.5,), ("a",)])
def test_bad_dense_layers_are_refused(bad):
    seqs, y = _token_task(4, 20)
    with pytest.raises(ValueError, match="dense_layers"):
        RNNClassifier(embedding_dim=4, dense_layers=bad, max_iter=1).fit(seqs, y)


SENTENCES = [
    "what a great phone, I love it", "terrible battery and awful screen",
    "great sound, great price", "awful, it broke after a day", "I love this case",
    "the worst purchase ever", "works great, love it", "terrible, do not buy",
    "love the color and great fit", "awful quality and terrible support",
] * 4
LABELS = [1, 0, 1, 0, 1, 0, 1, 0, 1, 0] * 4


def test_pipeline_on_raw_sentences_and_grid_search():
    pipe = make_pipeline(SequenceTokenizer(),
                         RNNClassifier(embedding_dim=8, hidden_size=8, max_iter=30,
                                       random_state=0))
    pipe.fit(SENTENCES, LABELS)
    assert pipe.score(SENTENCES, LABELS) == 1.0
    assert list(pipe.predict(["I love it, great", "awful and terrible"])) == [1, 0]
    search = GridSearchCV(pipe, {"rnnclassifier__hidden_size": [4, 8]}, cv=2)
    search.fit(SENTENCES, LABELS)
    assert search.best_params_["rnnclassifier__hidden_size"] in (4, 8)


def test_an_empty_document_at_predict_reads_as_unknown():
    """One empty review in a batch gets a prediction (that of the unknown
    token) instead of failing the batch; at fit it is refused."""
    pipe = make_pipeline(SequenceTokenizer(), RNNClassifier(embedding_dim=4, hidden_size=4,
                                                            max_iter=2, random_state=0))
    pipe.fit(["good day", "bad day"] * 3, [0, 1] * 3)
    pred = pipe.predict(["", "zzz", "good day"])
    np.testing.assert_array_equal(pipe.predict_proba([""]), pipe.predict_proba(["zzz"]))
    assert len(pred) == 3
    with pytest.raises(ValueError, match="empty sequence"):
        RNNClassifier(embedding_dim=4, max_iter=1).fit([np.array([2, 3]), np.array([], int)],
                                                       [0, 1])


# ------------------------------------------ issue 22, items 4, 5 and 16
def test_one_padding_rule_for_listed_and_2d_ids():
    """Trailing zeros are padding in a list as in a 2-D array; an all-zero
    item is the empty sequence in both forms (refused at fit, one unknown
    token at predict); a 0 inside a sequence is refused in both forms."""
    from seqcore.preprocessing import pad_tokens

    seqs, y = _token_task(6, 30)
    clf = RNNClassifier(embedding_dim=4, hidden_size=4, max_iter=2, random_state=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(seqs, y)
    P, lengths = pad_tokens(seqs)
    assert P.shape == (30, 8) and P.dtype == np.int64
    np.testing.assert_array_equal(lengths, [len(s) for s in seqs])
    # the rows of P listed, with their trailing zeros, give P's results
    np.testing.assert_array_equal(clf.predict_proba(list(P)), clf.predict_proba(P))
    np.testing.assert_array_equal(clf.predict_proba(list(P)), clf.predict_proba(seqs))
    # an all-padding item: the same as an empty one, in both forms
    empty = clf.predict_proba([np.array([], np.int64)])
    np.testing.assert_array_equal(clf.predict_proba([np.zeros(3, np.int64)]), empty)
    np.testing.assert_array_equal(clf.predict_proba(np.zeros((1, 3), np.int64)), empty)
    np.testing.assert_array_equal(empty, clf.predict_proba([np.array([1])]))
    for X in ([np.array([2, 3]), np.zeros(2, np.int64)], np.array([[2, 3], [0, 0]])):
        with pytest.raises(ValueError, match=r"X\[1\] is an empty sequence"):
            RNNClassifier(embedding_dim=4, max_iter=1).fit(X, [0, 1])
    for X in ([np.array([2, 0, 3])], np.array([[2, 0, 3]])):
        with pytest.raises(ValueError, match="0 pads only the end"):
            RNNClassifier(embedding_dim=4, max_iter=1).fit(X + X if isinstance(X, list)
                                                           else np.vstack([X, X]), [0, 1])
        with pytest.raises(ValueError, match="0 pads only the end"):
            clf.predict(X)


def test_tagging_an_empty_document_gives_no_labels():
    """issue 22, item 4: zero tokens, zero labels; score then works."""
    rng = np.random.default_rng(5)
    seqs = [rng.integers(2, 8, rng.integers(2, 6)) for _ in range(20)]
    tags = [np.where(s % 2 == 0, "EVEN", "ODD") for s in seqs]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tagger = RNNClassifier(embedding_dim=3, hidden_size=4, return_sequences=True,
                               max_iter=2, random_state=0).fit(seqs, tags)
        reg = RNNRegressor(embedding_dim=3, hidden_size=4, return_sequences=True,
                           max_iter=2, random_state=0).fit(seqs, [s * 0.5 for s in seqs])
    X = [seqs[0], np.array([], np.int64), seqs[1], np.zeros(2, np.int64)]
    pred = tagger.predict(X)
    assert [len(p) for p in pred] == [len(seqs[0]), 0, len(seqs[1]), 0]
    assert [p.shape for p in tagger.predict_proba(X)][1] == (0, 2)
    assert [len(p) for p in reg.predict(X)] == [len(seqs[0]), 0, len(seqs[1]), 0]
    y = [tags[0], np.array([], dtype=str), tags[1], np.array([], dtype=str)]
    assert 0 <= tagger.score(X, y) <= 1
    # a batch of empty documents only: one empty array each
    only_empty = tagger.predict([np.array([], np.int64), np.array([], np.int64)])
    assert np.shape(only_empty) == (2, 0)
    # the other documents' labels do not change with an empty one beside them
    np.testing.assert_array_equal(pred[2], tagger.predict([seqs[1]])[0])


def test_pad_tokens_checks_its_input():
    from seqcore.preprocessing import pad_tokens

    ids, lengths = pad_tokens([[3, 4, 5], [2]], maxlen=2)
    np.testing.assert_array_equal(ids, [[3, 4], [2, 0]])
    np.testing.assert_array_equal(lengths, [2, 1])
    ids, lengths = pad_tokens([[], []])
    assert ids.shape == (2, 1) and not ids.any() and not lengths.any()
    with pytest.raises(ValueError, match="padding id 0"):
        pad_tokens([[2, 0]])
    with pytest.raises(ValueError, match="negative token id"):
        pad_tokens([[2, -3]])
    with pytest.raises(ValueError, match="must be 1-D"):
        pad_tokens([[[2]]])
    with pytest.raises(TypeError, match="list of 1-D arrays"):
        pad_tokens(np.array([[2, 3]]))
    with pytest.raises(ValueError, match="maxlen"):
        pad_tokens([[2]], maxlen=0)


def test_ids_too_large_for_int64_are_not_called_negative():
    """issue 22, item 15: ids at or above 2**63 wrapped around to negative
    numbers in the cast to int64, and the message said "negative"."""
    seqs, y = _token_task(2, 20)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = RNNClassifier(embedding_dim=2, hidden_size=2, max_iter=1, random_state=0)
        clf.fit(seqs, y)
    big = np.array([2, 2**63], dtype=np.uint64)
    for X in ([big], big[None], [[2, 2**63]], [np.array([2.0, 2.0**63])],
              [np.array([2, 2**64 - 1], dtype=np.uint64)]):
        with pytest.raises(ValueError, match="too large") as info:
            clf.predict(X)
        assert "negative" not in str(info.value)
    with pytest.raises(ValueError, match="too large"):
        RNNClassifier(embedding_dim=2, max_iter=1).fit([big, big], [0, 1])
    tok = SequenceTokenizer().fit(["a b"])
    with pytest.raises(ValueError, match=r"id 9223372036854775808, outside \[0, 4\)"):
        tok.inverse_transform([big])

"""RNNSequenceLabeler: learning, label forms, input forms, errors,
persistence, threads, scikit-learn conventions."""

import pickle
import threading
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import (check_get_params_invariance,
                                            check_no_attributes_set_in_init,
                                            check_parameters_default_constructible,
                                            check_set_params)

from seqcore import RNNSequenceLabeler
from seqcore._labeler import edit_distance, label_error_rate

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SYMBOLS = "abc"


def make_task(n, seed, n_features=3, symbols=SYMBOLS, max_labels=4):
    """Toy 'speech': each label is 3-5 steps of its own pattern (one feature
    high), with 1-2 steps of silence between labels, so repeats can be read."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        k = rng.integers(1, max_labels + 1)
        labels = rng.choice(list(symbols), size=k)
        steps = [np.zeros((rng.integers(0, 2), n_features))]
        for s in labels:
            seg = np.zeros((rng.integers(3, 6), n_features))
            seg[:, symbols.index(s) % n_features] = 2.0
            steps += [seg, np.zeros((rng.integers(1, 3), n_features))]
        x = np.concatenate(steps) + rng.normal(scale=0.3, size=(sum(map(len, steps)),
                                                                  n_features))
        X.append(x)
        y.append("".join(labels))
    return X, y


def small(**kwargs):
    params = dict(hidden_size=16, num_layers=1, max_iter=40, learning_rate=0.02,
                  random_state=0)
    params.update(kwargs)
    return RNNSequenceLabeler(**params)


@pytest.fixture(scope="module")
def fitted():
    X, y = make_task(240, 0)
    return small().fit(X, y), X, y


def test_learns_to_read_labels(fitted):
    model, X, y = fitted
    X_test, y_test = make_task(100, 1)
    assert model.loss_curve_[-1] < 0.2 * model.loss_curve_[0]
    assert model.score(X_test, y_test) > 0.9
    assert model.label_error_rate(X_test, y_test) == pytest.approx(
        1 - model.score(X_test, y_test))
    pred = model.predict(X_test)
    assert all(isinstance(p, str) for p in pred)
    assert list(model.classes_) == ["a", "b", "c"]
    assert model.n_features_in_ == 3
    # repeats (read through a blank) come out too
    assert any("aa" in p or "bb" in p or "cc" in p for p in pred)


def test_beam_search_decoding(fitted):
    model, X, y = fitted
    X_test, y_test = make_task(60, 2)
    wide = pickle.loads(pickle.dumps(model)).set_params(beam_width=8)
    assert wide.score(X_test, y_test) >= model.score(X_test, y_test) - 0.02


def test_step_probabilities(fitted):
    model, X, _ = fitted
    P = model.predict_step_proba(X[:5])
    assert [p.shape for p in P] == [(len(x), 4) for x in X[:5]]
    for p in P:
        np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    # greedy decoding of the probabilities is predict
    for p, pred in zip(P, model.predict(X[:5])):
        best = p.argmax(axis=1)
        keep = (best != 0) & np.r_[True, best[1:] != best[:-1]]
        assert "".join(model.classes_[best[keep] - 1]) == pred


def test_input_forms_agree(fitted):
    """A ragged list, a NaN-padded 3-D array and each sequence alone give
    the same predictions and probabilities."""
    model, X, _ = fitted
    X = X[:6]
    T = max(len(x) for x in X)
    padded = np.full((6, T, 3), np.nan)
    for i, x in enumerate(X):
        padded[i, :len(x)] = x
    a = model.predict(X)
    assert model.predict(padded) == a
    assert [model.predict([x])[0] for x in X] == a
    for p, q in zip(model.predict_step_proba(X), model.predict_step_proba(padded)):
        np.testing.assert_array_equal(p, q)


def test_labels_of_any_hashable_type():
    X, y = make_task(120, 3)
    names = {"a": ("alpha", 1), "b": 7, "c": "gamma"}
    y_obj = [[names[c] for c in s] for s in y]
    model = small(max_iter=30).fit(X, y_obj)
    pred = model.predict(X[:20])
    assert all(isinstance(p, list) for p in pred)
    assert {type(label) for p in pred for label in p} <= {tuple, int, str}
    assert model.score(X, y_obj) > 0.8
    # integer labels come back as Python ints, lists of them as lists
    y_int = [[SYMBOLS.index(c) + 10 for c in s] for s in y]
    m2 = small(max_iter=30).fit(X, y_int)
    assert list(m2.classes_) == [10, 11, 12]
    assert all(type(v) is int for p in m2.predict(X[:10]) for v in p)


def test_fit_and_predict_in_float64_and_other_cells():
    X, y = make_task(60, 4)
    for kwargs in (dict(dtype="float64"), dict(cell="gru", bidirectional=False),
                   dict(cell="mgu", num_layers=2), dict(cell="rnn", merge_mode="sum")):
        model = small(max_iter=3, **kwargs).fit(X, y)
        assert len(model.predict(X[:4])) == 4
        assert np.isfinite(model.loss_curve_).all()


def test_empty_label_sequences_and_unseen_labels():
    X, y = make_task(80, 5)
    y = list(y)
    y[0] = ""   # a recording with no symbol in it is allowed
    model = small(max_iter=5).fit(X, y)
    # unseen labels at score count as errors, they do not raise
    rate = model.label_error_rate(X[:10], ["zz"] * 10)
    assert rate >= 1.0
    with pytest.raises(ValueError, match="all empty"):
        model.score(X[:3], ["", "", ""])
    with pytest.raises(ValueError, match="every label sequence in y is empty"):
        small().fit(X[:3], ["", "", ""])


@pytest.mark.parametrize("y, error, match", [
    ("abc", TypeError, "sequence of label sequences"),
    (None, TypeError, "sequence of label sequences"),
    (["ab"] * 5, ValueError, "5 label sequences, X has 6 samples"),
    (["ab", [1], "a", "b", "c", "a"], TypeError, "mixes strings"),
    ([[1], [2], 3, [1], [2], [3]], TypeError, "y\\[2\\] must be a sequence"),
    ([[1], [[2]], [1], [1], [2], [3]], TypeError, "hashable"),
    ([[1], [float("nan")], [1], [1], [2], [3]], TypeError, "not NaN"),
])
def test_bad_y(y, error, match):
    X, _ = make_task(6, 6)
    with pytest.raises(error, match=match):
        small(max_iter=1).fit(X, y)


def test_labels_that_do_not_fit_their_input():
    X = [np.zeros((3, 2)), np.zeros((6, 2))]
    with pytest.raises(ValueError, match=r"y\[0\] has 4 labels.*X\[0\] has 3"):
        small().fit(X, ["abcd", "ab"])
    with pytest.raises(ValueError, match=r"y\[0\] has 3 labels, which need at least 5"):
        small().fit(X, ["aaa", "ab"])   # a blank between equal neighbours
    small(max_iter=1).fit(X, ["aba", "ab"])   # exactly fits: accepted


def test_bad_X_and_parameters(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="3 features"):
        model.predict([np.zeros((5, 2))])
    with pytest.raises(ValueError, match="length zero"):
        model.predict([np.zeros((0, 3))])
    with pytest.raises(ValueError, match="NaN"):
        model.predict([np.zeros((3, 3)), np.array([[0, np.nan, 0]] * 3)])
    with pytest.raises(NotFittedError):
        RNNSequenceLabeler().predict(X[:2])
    for bad in (dict(hidden_size=0), dict(beam_width=0), dict(cell="transformer"),
                dict(optimizer="lbfgs"), dict(dtype="float16")):
        with pytest.raises(ValueError, match=list(bad)[0]):
            RNNSequenceLabeler(**bad).fit(X[:4], y[:4])


def test_input_is_not_modified():
    X, y = make_task(20, 7)
    X0 = [x.copy() for x in X]
    y0 = list(y)
    small(max_iter=1).fit(X, y)
    for a, b in zip(X, X0):
        np.testing.assert_array_equal(a, b)
    assert y == y0


def test_pickle_round_trip(fitted):
    model, X, _ = fitted
    copy = pickle.loads(pickle.dumps(model))
    assert copy.predict(X[:30]) == model.predict(X[:30])
    for p, q in zip(copy.predict_step_proba(X[:5]), model.predict_step_proba(X[:5])):
        np.testing.assert_array_equal(p, q)
    # and it trains on (warm start continues the history)
    copy.set_params(warm_start=True, max_iter=2)
    n = copy.n_iter_
    copy.fit(X[:40], model.predict(X[:40]))
    assert copy.n_iter_ == n + 2


def test_same_seed_same_model():
    X, y = make_task(40, 8)
    a = small(max_iter=3).fit(X, y)
    b = small(max_iter=3).fit(X, y)
    np.testing.assert_array_equal(a.network_.flat_params, b.network_.flat_params)
    assert a.loss_curve_ == b.loss_curve_


def test_early_stopping_and_callbacks():
    X, y = make_task(150, 9)
    seen = []
    model = small(max_iter=60, early_stopping=True, n_iter_no_change=10,
                  callbacks=[lambda est, h: seen.append(h["epoch"]) or False]).fit(X, y)
    assert len(model.validation_scores_) == model.n_iter_ == len(seen)
    assert model.n_iter_ < 60
    assert max(model.validation_scores_) > 0.5


def test_threads_predict_while_another_fits(fitted):
    """Predictions during a refit see the old model or the new one, whole."""
    model, X, y = fitted
    model = pickle.loads(pickle.dumps(model))
    before = model.predict(X[:20])
    errors, results = [], []
    done = threading.Event()

    def predict():
        while not done.is_set():
            try:
                results.append(model.predict(X[:20]))
            except Exception as exc:   # noqa: BLE001 (reported below)
                errors.append(exc)

    readers = [threading.Thread(target=predict) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.set_params(max_iter=5, random_state=1).fit(X, y)
    finally:
        done.set()
        for t in readers:
            t.join()
    after = model.predict(X[:20])
    assert errors == []
    assert results and all(r == before or r == after for r in results)


def test_two_fits_at_once_are_refused():
    X, y = make_task(60, 10)
    model = small(max_iter=500)
    started, stop, errors = threading.Event(), threading.Event(), []

    def hold(est, history):   # keeps the first fit going until told to stop
        started.set()
        return stop.is_set()

    model.set_params(callbacks=[hold])
    t = threading.Thread(target=lambda: model.fit(X, y))
    t.start()
    assert started.wait(60)
    try:
        model.fit(X, y)
    except RuntimeError as exc:
        errors.append(exc)
    finally:
        stop.set()
        t.join()
    assert errors and "another thread" in str(errors[0])
    assert model.n_iter_ < 500   # the first fit, stopped by its callback


def test_scikit_learn_conventions():
    name = "RNNSequenceLabeler"
    check_no_attributes_set_in_init(name, RNNSequenceLabeler())
    check_parameters_default_constructible(name, RNNSequenceLabeler())
    check_get_params_invariance(name, RNNSequenceLabeler())
    check_set_params(name, RNNSequenceLabeler())
    model = RNNSequenceLabeler(hidden_size=5)
    assert clone(model).get_params() == model.get_params()


def test_edit_distance_and_label_error_rate():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], [1, 2]) == 2
    assert edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert edit_distance("ab", "ba") == 2
    assert label_error_rate(["abc", "d"], ["abd", ""]) == pytest.approx(2 / 4)
    with pytest.raises(ValueError, match="2 sequences"):
        label_error_rate(["a", "b"], ["a"])


def test_network_exports_to_onnx_with_greedy_decoding_in_numpy(fitted):
    """The documented route: the recurrent stack and the head export as two
    graphs (seqcore.onnx.to_onnx); greedy decoding is NumPy."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from seqcore.onnx import to_onnx
    from seqcore.preprocessing import pad_sequences

    model, X, _ = fitted

    def run(graph, feeds):
        session = ort.InferenceSession(graph.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        return session.run(None, feeds)[0]

    Xp, lengths = pad_sequences(X[:30], dtype=np.float32)
    out = run(to_onnx(model.network_.rnn, lengths=True), {"X": Xp, "lengths": lengths})
    Z = run(to_onnx(model.network_.head), {"X": out.reshape(-1, out.shape[2])})
    Z = Z.reshape(out.shape[:2] + (-1,))
    decoded = []
    for z, n in zip(Z, lengths):
        best = z[:n].argmax(axis=1)
        keep = (best != 0) & np.r_[True, best[1:] != best[:-1]]   # collapse, drop blanks
        decoded.append("".join(model.classes_[best[keep] - 1]))
    assert decoded == model.predict(X[:30])
    P = np.exp(Z - Z.max(axis=2, keepdims=True))
    P /= P.sum(axis=2, keepdims=True)
    for p, q, n in zip(P, model.predict_step_proba(X[:30]), lengths):
        np.testing.assert_allclose(p[:n], q, atol=1e-5)


def test_sample_weight():
    X, y = make_task(64, 11)
    plain = small(max_iter=3, batch_size=16).fit(X, y)
    tripled = small(max_iter=3, batch_size=16).fit(X, y, sample_weight=np.full(64, 3))
    # only relative weights count: the same steps (the epoch means round apart)
    np.testing.assert_array_equal(tripled.network_.flat_params, plain.network_.flat_params)
    np.testing.assert_allclose(tripled.loss_curve_, plain.loss_curve_, rtol=1e-14)
    # a weight of 0 is a sequence left out: its labels never matter
    net = plain.network_
    from seqcore.preprocessing import pad_sequences
    Xp, lengths = pad_sequences(X[:2], dtype=np.float32)
    ids = [np.array([SYMBOLS.index(c) + 1 for c in s], np.intp) for s in y[:2]]
    starts = np.array([0, ids[0].size, ids[0].size + ids[1].size], np.intp)
    counts = np.array([ids[0].size, ids[1].size], np.intp)
    both = net.loss_and_gradient(Xp, lengths, np.concatenate(ids), starts, counts,
                                 np.array([1.0, 0.0]))
    g_both = net.flat_grads.copy()
    one = net.loss_and_gradient(np.ascontiguousarray(Xp[:1, :lengths[0]]), lengths[:1],
                                ids[0], starts[:2], counts[:1], np.array([1.0]))
    assert both == pytest.approx(one, rel=1e-6)
    np.testing.assert_allclose(net.flat_grads, g_both, rtol=1e-4, atol=1e-6)
    for bad, error in ((np.ones(3), ValueError), (np.full(64, -1.0), ValueError),
                       (np.zeros(64), ValueError), (np.full(64, np.nan), ValueError),
                       (np.array(["a"] * 64), TypeError)):
        with pytest.raises(error, match="sample_weight"):
            small(max_iter=1).fit(X, y, sample_weight=bad)


def test_partial_fit():
    X, y = make_task(120, 12)
    model = RNNSequenceLabeler(hidden_size=16, num_layers=1, learning_rate=0.02, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        model.partial_fit(X, y)
    for epoch in range(30):
        model.partial_fit(X[:60], y[:60], classes="abc")
        model.partial_fit(X[60:], y[60:])
    assert model.n_iter_ == 60 and list(model.classes_) == ["a", "b", "c"]
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    assert model.score(X, y) > 0.8
    with pytest.raises(ValueError, match="not seen in fit"):
        model.partial_fit(X[:2], ["ad", "a"])
    # the classes may hold labels y never shows (yet)
    m2 = RNNSequenceLabeler(hidden_size=4, num_layers=1).partial_fit(X[:4], y[:4],
                                                                     classes="abcd")
    assert list(m2.classes_) == ["a", "b", "c", "d"]
    m2.partial_fit(X[:1], ["d"])

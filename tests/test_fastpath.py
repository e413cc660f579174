"""The fast path of small inference calls (issue 26, item 2).

What it keeps between calls must never show: the packed weights follow
every writer of the parameters, bad input after a good call of the same
shape is still refused, a returned array is never written by a later call,
and threads predicting on one model at once get the right answers.
"""

import copy
import pickle
import threading
import warnings

import numpy as np
import pytest
from conftest import VARIANT_IDS, make_layer

import seqcore
from seqcore.nn import _layers

B, T, I, H = 6, 5, 3, 8


def _X(seed, shape=(B, T, I), dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _uncached(layer, X):
    """The layer's forward on weights built for this call alone (the general
    path, which keeps nothing)."""
    return layer._forward(X, None, None, training=False, params=layer.params)


def _assert_same(a, b):
    """Outputs and states, bit for bit."""
    a_out, a_state = a
    b_out, b_state = b
    np.testing.assert_array_equal(a_out, b_out)
    for x, y in zip(np.atleast_1d(a_state) if not isinstance(a_state, tuple) else a_state,
                    np.atleast_1d(b_state) if not isinstance(b_state, tuple) else b_state):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------- the layer
@pytest.mark.parametrize("variant", VARIANT_IDS)
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_path_gives_the_general_paths_numbers(variant, num_layers, dtype):
    """The lean pass of a full batch equals ``_forward_whole`` on the same
    weights, and the weights kept between calls equal weights built anew,
    to the bit."""
    layer = make_layer(variant, I, H, num_layers, dtype=dtype).eval()
    X = _X(0, dtype=dtype)
    fast = layer.forward(X)
    plan, W = layer._plan(B, T), layer._inference_weights()
    general = layer._forward_whole(X, plan.batch, None, None, False, W, plan.ranges)
    _assert_same(fast, general)
    _assert_same(fast, _uncached(layer, X))
    _assert_same(layer.forward(X), fast)   # second call, on the kept weights


def test_kept_weights_serve_until_the_parameters_change():
    layer = seqcore.nn.LSTM(I, H, random_state=0).eval()
    X = _X(1)
    layer.forward(X)
    kept = layer._inference
    layer.forward(_X(2))
    assert layer._inference is kept, "an unchanged layer must not pack its weights again"
    layer.params["bias_hh_l0"][0] += 1.0
    layer.forward(X)
    assert layer._inference is not kept


def _writers():
    """Ways to change a layer's parameters, each (name, function(layer))."""
    def direct_view(layer):
        layer.params["weight_hh_l0"][...] *= 1.5

    def direct_flat(layer):
        layer.flat_params[:] = layer.flat_params[::-1].copy()

    def one_entry(layer):   # the smallest change: one entry of one array
        layer.params["weight_ih_l0"][0, 0] += 0.25

    def load_state_dict(layer):
        other = type(layer)(layer.input_size, layer.hidden_size, random_state=99)
        layer.load_state_dict(other.state_dict())

    def optimizer_step(layer):   # a compiled optimizer on the flat buffers
        opt = seqcore.nn.Adam(layer.flat_params, layer.flat_grads, 0.05)
        layer.train()
        out, _ = layer.forward(_X(7))
        layer.backward(np.ones_like(out))
        layer.eval()
        opt.step()

    def reset(layer):
        layer.reset_parameters()

    return [direct_view, direct_flat, one_entry, load_state_dict, optimizer_step, reset]


@pytest.mark.parametrize("writer", _writers(), ids=lambda f: f.__name__)
@pytest.mark.parametrize("cls", [seqcore.nn.RNN, seqcore.nn.GRU, seqcore.nn.LSTM,
                                 seqcore.nn.MGU])
def test_every_writer_of_the_parameters_is_seen(cls, writer):
    layer = cls(I, H, random_state=0).eval()
    X = _X(3)
    before, _ = layer.forward(X)
    writer(layer)
    after = layer.forward(X)
    assert not np.array_equal(after[0], before), "the write must change the outputs"
    _assert_same(after, _uncached(layer, X))


def test_unpickled_and_copied_layers_carry_no_kept_weights():
    layer = seqcore.nn.GRU(I, H, random_state=0).eval()
    X = _X(4)
    out, _ = layer.forward(X)
    assert "_inference" not in layer.__getstate__()
    for other in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        assert other._inference is None
        other.params["weight_hh_l0"][...] = 0.0   # the copy's own buffer
        np.testing.assert_array_equal(layer.forward(X)[0], out)   # the original unchanged
        _assert_same(other.forward(X), _uncached(other, X))


@pytest.mark.parametrize("bad, error, match", [
    (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X),
     ValueError, "NaN or infinity"),
    (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.inf, X),
     ValueError, "NaN or infinity"),
    (lambda X: X[..., :-1], ValueError, "features"),
    (lambda X: X[:, :0], ValueError, "length zero"),
    (lambda X: X[:0], ValueError, "no samples"),
    (lambda X: X[0], ValueError, "3-D"),
    (lambda X: X.astype(np.complex64), TypeError, "complex"),
    (lambda X: X.astype(str), TypeError, "numeric"),
])
def test_bad_input_after_a_good_call_of_the_same_shape_is_refused(bad, error, match):
    layer = seqcore.nn.LSTM(I, H, random_state=0).eval()
    X = _X(5)
    layer.forward(X)
    layer.forward(X)
    with pytest.raises(error, match=match):
        layer.forward(bad(X).astype(X.dtype) if error is ValueError else bad(X))


def test_huge_finite_input_is_not_mistaken_for_infinity():
    """Values whose squares overflow: the quick finiteness test cannot
    decide, the exact one does."""
    layer = seqcore.nn.RNN(I, H, random_state=0).eval()
    X = _X(6)
    X[0, 0, 0] = 3e38
    out, _ = layer.forward(X)
    assert np.isfinite(out).all()


def test_returned_arrays_are_never_written_by_later_calls():
    layer = seqcore.nn.LSTM(I, H, num_layers=2, random_state=0).eval()
    X1, X2 = _X(8), _X(9)
    X1_copy = X1.copy()
    out1, (h1, c1) = layer.forward(X1)
    kept = [a.copy() for a in (out1, h1, c1)]
    out2, (h2, c2) = layer.forward(X2)
    for a, b in zip((out1, h1, c1), kept):
        np.testing.assert_array_equal(a, b)
    assert not np.shares_memory(out1, out2) and not np.shares_memory(h1, h2)
    np.testing.assert_array_equal(X1, X1_copy)   # the input untouched


def test_unusual_inputs_still_take_the_checked_path():
    """Fortran order, byte-swapped, other dtypes, lists: the same numbers as
    the plain array."""
    layer = seqcore.nn.GRU(I, H, random_state=0).eval()
    X = _X(10)
    ref, _ = layer.forward(X)
    for other in (np.asfortranarray(X), X.astype(X.dtype.newbyteorder()), X.astype(np.float64),
                  X.tolist()):
        np.testing.assert_array_equal(layer.forward(other)[0], ref)


def test_module_switches_are_part_of_the_kept_state(monkeypatch):
    """Turning the packed products off changes the kept weights (and the
    plans follow the range switches)."""
    layer = seqcore.nn.LSTM(I, H, random_state=0).eval()
    X = _X(11, (24, T, I))
    packed, _ = layer.forward(X)
    monkeypatch.setattr(_layers, "PACKED_PRODUCTS", False)
    blas, _ = layer.forward(X)
    assert layer._inference.scans[0][1].size == 0, "the kept weights must be rebuilt unpacked"
    np.testing.assert_allclose(blas, packed, rtol=1e-5, atol=1e-6)
    one = layer._plan(24, T)
    monkeypatch.setattr(_layers, "MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(_layers, "MIN_ROWS_PER_RANGE", 1)
    assert len(layer._plan(24, T).ranges) > len(one.ranges)


# ----------------------------------------------------------- the estimators
def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 7, 2)).astype(np.float32)
    return X, rng.integers(0, 3, 20), rng.standard_normal(20)


def _fresh(est):
    """A copy that keeps nothing from earlier predictions."""
    return pickle.loads(pickle.dumps(est))


def test_estimator_fast_path_equals_the_checked_path(data):
    X, y, t = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    reg = _fit(seqcore.RNNRegressor(cell="gru", hidden_size=8, max_iter=2, random_state=0),
               X, t)
    as_list = list(X)   # a list of sequences takes the checked path
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(as_list))
    np.testing.assert_array_equal(clf.predict(X), clf.predict(as_list))
    np.testing.assert_array_equal(reg.predict(X), reg.predict(as_list))
    np.testing.assert_array_equal(reg.predict(X.astype(np.float64)), reg.predict(as_list))


def _proba_changes(clf, X, change):
    before = clf.predict_proba(X)
    change()
    after = clf.predict_proba(X)
    assert not np.array_equal(before, after), "the change must show in the predictions"
    np.testing.assert_array_equal(after, _fresh(clf).predict_proba(X))


def test_predictions_follow_partial_fit(data):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    _proba_changes(clf, X, lambda: clf.partial_fit(X, y))


def test_predictions_follow_set_params_and_fit(data):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    _proba_changes(clf, X, lambda: _fit(clf.set_params(hidden_size=5, random_state=1), X, y))


def test_predictions_follow_warm_start_fit(data):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0,
                                     warm_start=True), X, y)
    _proba_changes(clf, X, lambda: _fit(clf, X, y))


def test_predictions_follow_load_state_dict(data):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    other = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=5), X, y)
    _proba_changes(clf, X, lambda: clf.network_.rnn.load_state_dict(
        other.network_.rnn.state_dict()))


@pytest.mark.parametrize("where", ["rnn", "head", "flat"])
def test_predictions_follow_direct_writes(data, where):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0,
                                     dense_layers=(4,)), X, y)
    net = clf.network_

    def write():
        if where == "rnn":
            net.rnn.params["weight_hh_l0"][...] *= -1.0
        elif where == "head":
            net.weight[...] = net.weight[::-1].copy()
        else:
            net.flat_params[:] = net.flat_params[::-1].copy()

    _proba_changes(clf, X, write)


def test_estimator_bad_input_after_a_good_call_is_refused(data):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    clf.predict(X)
    bad = X.copy()
    bad[3, 2, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.predict(bad)
    bad[3, 2, 1] = np.nan   # NaN inside a sequence: not padding
    with pytest.raises(ValueError, match="NaN inside a sequence"):
        clf.predict(bad)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[..., :1])
    with pytest.raises(ValueError, match="length zero|no samples|0 sample"):
        clf.predict(X[:0])


def test_nan_padding_after_a_plain_call_still_means_padding(data):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    clf.predict_proba(X)
    padded = X.copy()
    padded[0, 4:] = np.nan
    ragged = [X[0, :4]] + list(X[1:])
    np.testing.assert_array_equal(clf.predict_proba(padded), clf.predict_proba(ragged))
    assert not np.isnan(padded[0, :4]).any() and np.isnan(padded[0, 4:]).all()


def test_predict_proba_never_returns_a_shared_array(data):
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    X_copy = X.copy()
    p1 = clf.predict_proba(X)
    kept = p1.copy()
    p2 = clf.predict_proba(X[::-1].copy())
    np.testing.assert_array_equal(p1, kept)
    assert not np.shares_memory(p1, p2)
    np.testing.assert_array_equal(X, X_copy)


def test_unfitted_estimator_still_raises_not_fitted(data):
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        seqcore.RNNClassifier().predict(data[0])


# ----------------------------------------------------------------- threads
def test_threads_predicting_on_one_layer_get_the_serial_answers():
    layer = seqcore.nn.LSTM(I, H, num_layers=2, random_state=0).eval()
    inputs = [_X(20 + i, (1 + i % 4, T + i % 3, I)) for i in range(8)]
    expected = [_uncached(layer, X) for X in inputs]
    errors = []
    start = threading.Barrier(4)

    def work(offset):
        start.wait()
        for r in range(60):
            i = (r + offset) % len(inputs)
            try:
                _assert_same(layer.forward(inputs[i]), expected[i])
            except AssertionError as e:   # pragma: no cover - reported below
                errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_threads_predicting_while_the_weights_change_see_one_set_or_the_other(data):
    """Predictions on one estimator from several threads while another
    thread swaps the network's weights between two sets (under the
    network's ``param_lock``, as an optimizer step writes): every result is
    exactly that of one of the two sets, never of kept weights from one and
    parameters from the other."""
    X, y, _ = data
    clf = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=0), X, y)
    other = _fit(seqcore.RNNClassifier(hidden_size=8, max_iter=2, random_state=3), X, y)
    net = clf.network_
    sets = [net.flat_params.copy(), other.network_.flat_params.copy()]
    inputs = [X[:n] for n in (1, 5, 20)]
    refs = []
    for w in sets:
        net.flat_params[:] = w
        refs.append([_fresh(clf).predict_proba(Xi) for Xi in inputs])
    net.flat_params[:] = sets[0]
    stop = threading.Event()
    bad = []

    def swap():
        k = 0
        while not stop.is_set():
            k ^= 1
            with net.param_lock:
                net.flat_params[:] = sets[k]

    def predict(offset):
        for r in range(150):
            i = (r + offset) % len(inputs)
            p = clf.predict_proba(inputs[i])
            if not any(np.array_equal(p, ref[i]) for ref in refs):
                bad.append(i)

    writer = threading.Thread(target=swap)
    readers = [threading.Thread(target=predict, args=(k,)) for k in range(3)]
    writer.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    writer.join()
    assert not bad, f"{len(bad)} predictions matched neither set of weights"


@pytest.mark.parametrize("n_values", [8 * 10, 64 * 30 * 4])   # below and above the dot's limit
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_found_at_any_size(n_values, value):
    from seqcore._validation import _DOT_FINITE, all_finite_fast

    X = _X(12, (n_values // (T * I) + 1, T, I), np.float64)
    assert (X.size <= _DOT_FINITE) == (n_values == 80)
    assert all_finite_fast(X)
    X.reshape(-1)[-1] = value
    assert not all_finite_fast(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        seqcore.nn.RNN(I, H, dtype=np.float64).eval().forward(X)

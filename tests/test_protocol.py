"""The layer protocol under threads, sizes and weights (issue 12, items 1-3, 5, 6).

* Inference reads the parameters only: any number of threads predict while
  another trains, and each prediction equals the reference to the last bit
  (the learning rate is so small that no weight can change).
* Training one object from two threads at once raises ``RuntimeError``;
  it never mixes silently.
* Sizes are computed before allocation; estimators predict in batches.
* Results do not depend on the number of BLAS threads or on ``n_jobs``.
* Sample weights are normalised in float64: scaling them changes nothing.
"""

import os
import subprocess
import sys
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from seqcore import RNNClassifier, RNNRegressor
import seqcore.nn
from seqcore.nn import CELLS, GRU, LSTM, RNN, SequenceNetwork

from conftest import subprocess_env

LAYERS = [getattr(seqcore.nn, cell.layer) for cell in CELLS.values()]
N_THREADS = 4


def _run_threads(fns):
    """Run each fn on its own thread, started together; return (results, errors)."""
    barrier = threading.Barrier(len(fns))
    results, errors = [None] * len(fns), [None] * len(fns)

    def target(i):
        barrier.wait()
        try:
            results[i] = fns[i]()
        except Exception as exc:   # noqa: BLE001 - collected and checked
            errors[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def _data(seed=0, n=64, T=12, I=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, I)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


# ------------------------------------------------------ inference vs training
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_predictions_while_another_thread_trains_are_exact(cell):
    X, y = _data()
    clf = RNNClassifier(cell=cell, hidden_size=8, num_layers=2, dropout=0.5,
                        learning_rate=1e-30, batch_size=16, max_iter=1, random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    reference = clf.predict_proba(X)
    stop = threading.Event()
    train_errors = []

    def train():
        try:
            while not stop.is_set():
                clf.partial_fit(X, y)
        except Exception as exc:   # noqa: BLE001
            train_errors.append(exc)

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        results, errors = _run_threads([lambda: [clf.predict_proba(X) for _ in range(15)]] * 3)
    finally:
        stop.set()
        trainer.join()
    assert not train_errors, train_errors
    assert not any(errors), errors
    for batch in results:
        for proba in batch:
            np.testing.assert_array_equal(proba, reference)


@pytest.mark.parametrize("cls", LAYERS)
def test_layer_inference_in_threads_while_training(cls):
    rng = np.random.default_rng(1)
    layer = cls(3, 6, num_layers=2, dropout=0.5, random_state=0)
    X = rng.standard_normal((9, 7, 3)).astype(np.float32)
    lengths = rng.integers(1, 8, 9)
    reference, _ = layer.forward(X, lengths, training=False)
    stop = threading.Event()

    def train():
        while not stop.is_set():
            out, _ = layer.forward(X, lengths, training=True)
            layer.backward(np.ones_like(out))

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        results, errors = _run_threads(
            [lambda: [layer.forward(X, lengths, training=False)[0] for _ in range(30)]] * 3)
    finally:
        stop.set()
        trainer.join()
    assert not any(errors), errors
    for outs in results:
        for out in outs:
            np.testing.assert_array_equal(out, reference)
    assert layer.training   # nobody flipped the default mode


# ------------------------------------------------- two threads training one
def test_two_threads_fitting_one_estimator_are_refused():
    X, y = _data(n=256, T=20)
    clf = RNNClassifier(cell="gru", hidden_size=16, max_iter=30, tol=0, random_state=0)
    serial = RNNClassifier(cell="gru", hidden_size=16, max_iter=30, tol=0,
                           random_state=0).fit(X, y)
    results, errors = _run_threads([lambda: clf.fit(X, y)] * 2)
    refused = [e for e in errors if e is not None]
    assert len(refused) == 1, errors
    assert isinstance(refused[0], RuntimeError)
    assert "another thread" in str(refused[0])
    # the fit that ran is the serial one, untouched by the refused call
    assert clf.n_iter_ == serial.n_iter_
    np.testing.assert_array_equal(clf.network_.flat_params, serial.network_.flat_params)


@pytest.mark.parametrize("cls", LAYERS)
def test_threads_training_one_layer_never_mix(cls):
    """forward/backward pairs from several threads: each pair either gives
    exactly the single-threaded gradient or raises RuntimeError."""
    rng = np.random.default_rng(2)
    layer = cls(4, 16, random_state=0, dtype=np.float64)
    X = rng.standard_normal((32, 30, 4))
    d_out = rng.standard_normal((32, 30, 16))
    _, _ = layer.forward(X, training=True)
    dX_ref, _ = layer.backward(d_out)
    grads_ref = layer.flat_grads.copy()

    def pairs():
        outcome = []
        for _ in range(40):
            try:
                layer.forward(X, training=True)
                dX, _ = layer.backward(d_out)
                outcome.append(("ok", dX.copy()))
            except RuntimeError as exc:
                outcome.append(("refused", str(exc)))
        return outcome

    results, errors = _run_threads([pairs] * 3)
    assert not any(errors), errors
    n_ok = 0
    for outcome in results:
        for kind, value in outcome:
            if kind == "ok":
                n_ok += 1
                np.testing.assert_array_equal(value, dX_ref)
            else:
                assert "thread" in value or "training mode" in value
    assert n_ok > 0
    layer.forward(X, training=True)
    layer.backward(d_out)
    np.testing.assert_array_equal(layer.flat_grads, grads_ref)


def test_network_loss_and_gradient_from_two_threads():
    rng = np.random.default_rng(3)
    net = SequenceNetwork("lstm", 3, 32, 2, loss="softmax", dtype=np.float64, random_state=0)
    X = rng.standard_normal((64, 40, 3))
    Y = rng.integers(0, 2, 64)
    ref_loss = net.loss_and_gradient(X, None, Y)
    ref = net.flat_grads.copy()

    def many():
        out = []
        for _ in range(10):
            try:
                loss = net.loss_and_gradient(X, None, Y)
                out.append((loss, net.flat_grads.copy()))
            except RuntimeError as exc:
                assert "another thread" in str(exc)
        return out

    results, errors = _run_threads([many] * 2)
    assert not any(errors), errors
    for outcome in results:
        for loss, _ in outcome:
            assert loss == ref_loss
    net.loss_and_gradient(X, None, Y)
    np.testing.assert_array_equal(net.flat_grads, ref)


# ------------------------------------------------------------------- sizes
def test_huge_layers_are_refused_before_allocating():
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError, match="GiB"):
            GRU(4, 8, num_layers=10**9)
        with pytest.raises(MemoryError, match="parameters"):
            LSTM(10**6, 10**5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_construction_makes_no_float64_temporary():
    """RNN(4, 12000) float32: parameters and gradients take 2 x 0.54 GiB / 2;
    the initial draw must not add a float64 copy of them."""
    tracemalloc.start()
    try:
        layer = RNN(4, 3000)   # 9.0e6 parameters: 36 MB each for params and grads
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n_bytes = 2 * layer.flat_params.nbytes
    assert peak < n_bytes + (16 << 20), (peak, n_bytes)


def test_same_draws_as_one_uniform_call():
    layer = GRU(3, 40, num_layers=2, random_state=5)
    bound = 1 / np.sqrt(40)
    expected = np.random.default_rng(5).uniform(-bound, bound, layer.flat_params.size)
    np.testing.assert_array_equal(layer.flat_params, expected.astype(np.float32))


_MEMORY_SCRIPT = r"""
import resource, numpy as np
from seqcore import RNNRegressor
rng = np.random.default_rng(0)
Xs = rng.standard_normal((64, 128, 1)).astype(np.float32)
est = RNNRegressor(cell="lstm", hidden_size=32, max_iter=1, random_state=0).fit(Xs, Xs[:, -1, 0])
X = rng.standard_normal((20000, 128, 1)).astype(np.float32)
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
before = rss()
pred = est.predict(X)
assert pred.shape == (20000,)
print((rss() - before) / 2**20)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_predicting_many_sequences_has_bounded_memory():
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT], capture_output=True,
                         text=True, env=subprocess_env(), timeout=300)
    assert out.returncode == 0, out.stderr
    grown = float(out.stdout.strip().splitlines()[-1])
    assert grown < 300, f"peak memory grew by {grown:.0f} MB"


# ----------------------------------------------------------- determinism
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_is_bit_identical_for_any_blas_thread_count(cell, dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((96, 40, 6))
    y = X[:, :, 0].mean(axis=1)
    fits = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            est = RNNRegressor(cell=cell, hidden_size=64, batch_size=48, max_iter=2,
                               dtype=dtype, random_state=0).fit(X, y)
            fits.append((est.network_.flat_params.copy(), est.predict(X)))
    np.testing.assert_array_equal(fits[0][0], fits[1][0])
    np.testing.assert_array_equal(fits[0][1], fits[1][1])


def test_cross_val_predict_is_identical_for_any_n_jobs():
    from sklearn.model_selection import cross_val_predict
    X, y = _data(n=60, T=10)
    est = RNNClassifier(cell="gru", hidden_size=8, max_iter=3, random_state=0)
    one = cross_val_predict(est, X, y, cv=3, n_jobs=1, method="predict_proba")
    two = cross_val_predict(est, X, y, cv=3, n_jobs=2, method="predict_proba")
    np.testing.assert_array_equal(one, two)


# ---------------------------------------------------------- sample weights
@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=-30, max_value=30))
def test_scaling_every_sample_weight_changes_nothing(log_factor):
    X, y = _data(n=24, T=5)
    w = np.random.default_rng(5).uniform(0.5, 2.0, 24)
    kw = dict(cell="gru", hidden_size=4, max_iter=2, batch_size=8, random_state=0)
    base = RNNClassifier(**kw).fit(X, y, sample_weight=w)
    scaled = RNNClassifier(**kw).fit(X, y, sample_weight=w * 10.0 ** log_factor)
    np.testing.assert_allclose(scaled.network_.flat_params, base.network_.flat_params,
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(scaled.loss_curve_, base.loss_curve_, rtol=1e-6)


def test_tiny_sample_weights_still_train():
    X, y = _data(n=64, T=8)
    kw = dict(cell="gru", hidden_size=8, max_iter=20, random_state=0)
    plain = RNNClassifier(**kw).fit(X, y)
    tiny = RNNClassifier(**kw).fit(X, y, sample_weight=np.full(64, 1e-50))
    huge = RNNClassifier(**kw).fit(X, y, sample_weight=np.full(64, 1e39))
    assert tiny.score(X, y) == plain.score(X, y) == huge.score(X, y)
    assert min(tiny.loss_curve_) > 0


@pytest.mark.parametrize("weights, match", [
    (np.ones(3), r"shape"),
    (np.array([1.0, np.nan, 1.0, 1.0]), r"NaN"),
    (np.array([1.0, -1.0, 1.0, 1.0]), r"non-negative"),
    (np.zeros(4), r"sum to zero"),
    (np.array(["a", "b", "c", "d"]), r"numeric"),
])
def test_loss_and_gradient_checks_sample_weight(weights, match):
    net = SequenceNetwork("gru", 2, 3, 2, loss="softmax", random_state=0)
    X = np.zeros((4, 3, 2), np.float32)
    before = net.flat_grads.copy()
    with pytest.raises(ValueError, match=match):
        net.loss_and_gradient(X, None, np.array([0, 1, 0, 1]), weights)
    np.testing.assert_array_equal(net.flat_grads, before)


@pytest.mark.parametrize("Y, match", [
    (np.array([0.0, 1.5, 0.0, 1.0]), r"not integers"),
    (np.array([0, 1, 2, 1]), r"class indices"),
    (np.array([0, -1, 0, 1]), r"class indices"),
])
def test_loss_and_gradient_checks_class_ids(Y, match):
    net = SequenceNetwork("gru", 2, 3, 2, loss="softmax", random_state=0)
    with pytest.raises(ValueError, match=match):
        net.loss_and_gradient(np.zeros((4, 3, 2), np.float32), None, Y)


def test_stream_refuses_bidirectional_networks():
    net = SequenceNetwork("gru", 2, 3, 1, loss="squared_error", bidirectional=True)
    with pytest.raises(ValueError, match="unidirectional"):
        net.stream(np.zeros((1, 4, 2), np.float32))


def test_predictions_during_a_refit_see_the_old_model_or_the_new_one():
    """A fit from scratch swaps all its fitted attributes in at once: a
    thread predicting meanwhile never pairs the new classes with the old
    network (which raised IndexError, or could mislabel, before)."""
    X, y = _data(n=40, T=6)
    labels = [np.array(["a", "b"])[y], np.array([0, 1, 2])[(X[:, 0, 0] > 0.5) + y]]
    clf = RNNClassifier(cell="gru", hidden_size=4, max_iter=2, random_state=0)
    clf.fit(X, labels[0])
    stop = threading.Event()
    seen = []

    def predict():
        errors = []
        while not stop.is_set():
            try:
                P = clf.predict_proba(X)
                pred = clf.predict(X)
                seen.append((P.shape[1], str(pred.dtype.kind)))
            except Exception as exc:   # noqa: BLE001
                errors.append(exc)
        return errors

    results, errors = [], []
    t = threading.Thread(target=lambda: results.append(predict()))
    t.start()
    try:
        for i in range(8):
            clf.fit(X, labels[i % 2])
    finally:
        stop.set()
        t.join()
    assert results == [[]], results
    assert {shape for shape, _ in seen} <= {2, 3}

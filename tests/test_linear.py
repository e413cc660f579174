"""Tests for seqcore.nn.Linear: shapes, gradients (central differences), torch, protocol."""

import pickle
import threading

import numpy as np
import pytest

from seqcore.nn import Linear

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
ACTIVATIONS = [None, "relu", "tanh"]
EPS = 1e-6


def _act(Z, activation):
    if activation == "relu":
        return np.maximum(Z, 0)
    if activation == "tanh":
        return np.tanh(Z)
    return Z


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_formula(dtype, activation):
    rng = np.random.default_rng(0)
    layer = Linear(5, 3, activation=activation, dtype=dtype, random_state=1)
    X = rng.standard_normal((4, 6, 5))
    Y = layer.forward(X, training=False)
    assert Y.shape == (4, 6, 3) and Y.dtype == dtype
    W, b = (layer.params[k].astype(np.float64) for k in ("weight", "bias"))
    expected = _act(X.astype(dtype).astype(np.float64) @ W.T + b, activation)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(Y, expected, rtol=tol, atol=tol)


def test_initialisation_like_torch():
    layer = Linear(400, 300, dtype=np.float64, random_state=0)
    bound = 1 / np.sqrt(400)
    for name, shape in (("weight", (300, 400)), ("bias", (300,))):
        p = layer.params[name]
        assert p.shape == shape
        assert p.min() >= -bound and p.max() <= bound
    W = layer.params["weight"]
    assert abs(W.std() - bound / np.sqrt(3)) < 1e-3 * bound * 10
    no_bias = Linear(4, 2, bias=False)
    assert list(no_bias.state_dict()) == ["weight"]
    assert no_bias.flat_params.size == 8


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_finite_difference_gradients(activation, bias):
    """L = sum(forward(X) * R): dL/dX, dL/dW, dL/db against central differences."""
    rng = np.random.default_rng(2)
    layer = Linear(4, 3, bias=bias, activation=activation, dtype=np.float64, random_state=3)
    X = rng.standard_normal((2, 5, 4))
    R = rng.standard_normal((2, 5, 3))

    def loss():
        return np.sum(layer.forward(X, training=False) * R)

    layer.forward(X)
    dX = layer.backward(R)
    checked = [(X, dX)] + [(layer.params[k], layer.grads[k].copy()) for k in layer.params]
    for arr, analytic in checked:
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            v = arr[idx]
            arr[idx] = v + EPS
            up = loss()
            arr[idx] = v - EPS
            down = loss()
            arr[idx] = v
            numeric[idx] = (up - down) / (2 * EPS)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)
    if activation == "relu":   # the data does cross the kink
        assert np.any(layer.forward(X, training=False) == 0)


def test_grads_overwritten_and_input_grad_flag():
    rng = np.random.default_rng(4)
    layer = Linear(3, 2, dtype=np.float64, random_state=0)
    X, R = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    layer.forward(X)
    layer.backward(R)
    first = {k: v.copy() for k, v in layer.grads.items()}
    layer.forward(X)
    assert layer.backward(R, input_grad=False) is None
    for k in first:
        np.testing.assert_array_equal(layer.grads[k], first[k])
    np.testing.assert_allclose(first["weight"], R.T @ X)
    np.testing.assert_allclose(first["bias"], R.sum(axis=0))


def test_tape_is_private():
    """Changing the input or the returned output before backward changes nothing."""
    rng = np.random.default_rng(5)
    layer = Linear(3, 2, activation="tanh", dtype=np.float64, random_state=0)
    X, R = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.forward(X.copy())
    dX_ref = layer.backward(R)
    g_ref = layer.grads["weight"].copy()
    X2 = X.copy()
    Y = layer.forward(X2)
    X2[...] = 0
    Y[...] = 0
    np.testing.assert_array_equal(layer.backward(R), dX_ref)
    np.testing.assert_array_equal(layer.grads["weight"], g_ref)


@pytest.mark.parametrize("X, exc, match", [
    (np.ones((2, 4)), ValueError, "4 features.*in_features=3"),
    (np.float64(1.0), ValueError, "at least 1 dimension"),
    (np.array([[1.0, np.nan, 0.0]]), ValueError, "NaN"),
    (np.array([["a", "b", "c"]]), TypeError, "numeric"),
])
def test_bad_input(X, exc, match):
    layer = Linear(3, 2)
    with pytest.raises(exc, match=match):
        layer.forward(X)


def test_bad_constructor_and_backward():
    with pytest.raises(ValueError, match="activation"):
        Linear(2, 2, activation="sigmoid")
    with pytest.raises(TypeError, match="bias"):
        Linear(2, 2, bias=1)
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 2)
    layer = Linear(2, 3)
    with pytest.raises(RuntimeError, match="training mode"):
        layer.backward(np.ones((1, 3)))
    layer.forward(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"d_out must have shape \(4, 3\)"):
        layer.backward(np.ones((4, 2)))


def test_pickle_and_state_dict():
    layer = Linear(3, 2, activation="relu", random_state=0)
    X = np.random.default_rng(6).standard_normal((5, 3))
    clone = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(clone.forward(X, training=False),
                                  layer.forward(X, training=False))
    other = Linear(3, 2, activation="relu", random_state=1)
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other.forward(X, training=False),
                                  layer.forward(X, training=False))


def test_inference_in_threads_while_one_trains():
    rng = np.random.default_rng(7)
    layer = Linear(64, 32, activation="tanh", random_state=0)
    X = rng.standard_normal((256, 64)).astype(np.float32)
    expected = layer.forward(X, training=False)
    Xt, R = rng.standard_normal((256, 64)), rng.standard_normal((256, 32))
    stop, failures, trained = threading.Event(), [], [0]

    def trainer():
        while not stop.is_set():
            layer.forward(Xt, training=True)
            layer.backward(R)
            trained[0] += 1

    def predictor():
        for _ in range(50):
            if not np.array_equal(layer.forward(X, training=False), expected):
                failures.append(1)

    t = threading.Thread(target=trainer)
    t.start()
    ws = [threading.Thread(target=predictor) for _ in range(3)]
    for w in ws:
        w.start()
    for w in ws:
        w.join()
    stop.set()
    t.join()
    assert not failures and trained[0] > 0


def test_bit_identical_for_any_blas_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(8)
    X, R = rng.standard_normal((300, 200)), rng.standard_normal((300, 150))
    results = []
    for n in (1, 2):
        layer = Linear(200, 150, activation="relu", random_state=0)
        with threadpoolctl.threadpool_limits(n):
            Y = layer.forward(X)
            dX = layer.backward(R)
        results.append((Y, dX, layer.flat_grads.copy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_agrees_with_torch(dtype, activation):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    layer = Linear(7, 5, activation=activation, dtype=dtype, random_state=10)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    ref = torch.nn.Linear(7, 5, dtype=tdtype)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    X = rng.standard_normal((3, 4, 7)).astype(dtype)
    R = rng.standard_normal((3, 4, 5)).astype(dtype)
    Xt = torch.from_numpy(X.copy()).requires_grad_(True)
    Yt = ref(Xt)
    if activation == "relu":
        Yt = torch.relu(Yt)
    elif activation == "tanh":
        Yt = torch.tanh(Yt)
    Yt.backward(torch.from_numpy(R))
    Y = layer.forward(X)
    dX = layer.backward(R)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.grads["weight"], ref.weight.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.grads["bias"], ref.bias.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_split_work_matches_formula(monkeypatch, activation):
    """Products cut in parts (run on two threads) give the formula's values."""
    from seqcore.nn import _linear

    monkeypatch.setattr(_linear, "MIN_SPLIT_WORK", 0)
    assert len(_linear._parts(37, 1)) == 2
    rng = np.random.default_rng(11)
    layer = Linear(6, 5, activation=activation, dtype=np.float64, random_state=0)
    X, R = rng.standard_normal((37, 6)), rng.standard_normal((37, 5))
    Y = layer.forward(X)
    dX = layer.backward(R)
    W, b = layer.params["weight"], layer.params["bias"]
    Z = X @ W.T + b
    Y_ref = _act(Z, activation)
    dZ = R * {None: np.ones_like(Z), "relu": (Z > 0), "tanh": 1 - Y_ref ** 2}[activation]
    np.testing.assert_allclose(Y, Y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dX, dZ @ W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], dZ.T @ X, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], dZ.sum(axis=0), rtol=1e-12, atol=1e-12)


def test_compiled_entry_points_check_shapes():
    from seqcore import _dense

    X, W, Y = np.zeros((4, 3)), np.zeros((2, 3)), np.zeros((4, 2))
    with pytest.raises(ValueError, match="columns"):
        _dense.affine_rows(X, np.zeros((2, 4)), np.zeros(2), Y, 0, 4)
    with pytest.raises(ValueError, match="b has length"):
        _dense.affine_rows(X, W, np.zeros(3), Y, 0, 4)
    with pytest.raises(ValueError, match="Y must have shape"):
        _dense.affine_rows(X, W, np.zeros(2), np.zeros((3, 2)), 0, 4)
    with pytest.raises(ValueError, match="range"):
        _dense.affine_rows(X, W, np.zeros(2), Y, 0, 5)
    with pytest.raises(ValueError, match="dX must have shape"):
        _dense.input_grad_rows(Y, W, np.zeros((4, 2)), 0, 4)
    with pytest.raises(ValueError, match="dW must have shape"):
        _dense.weight_grad_rows(Y, X, np.zeros((3, 3)), np.zeros(2), 0, 2)

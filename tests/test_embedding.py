"""Tests for seqcore.nn.Embedding: lookups, gradients, padding, freezing, bad ids, threads."""

import pickle
import threading

import numpy as np
import pytest

from seqcore.nn import Adam, Embedding

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]


def _ids(rng, V, shape):
    return rng.integers(0, V, size=shape)


# ------------------------------------------------------------------ forward
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_is_row_lookup(dtype):
    rng = np.random.default_rng(0)
    emb = Embedding(12, 5, dtype=dtype, random_state=1)
    ids = _ids(rng, 12, (4, 7))
    out = emb.forward(ids, training=False)
    assert out.shape == (4, 7, 5) and out.dtype == dtype
    np.testing.assert_array_equal(out, emb.params["weight"][ids])
    # a new array, never a view of the table
    out[...] = 99
    assert not np.any(emb.params["weight"] == 99)


@pytest.mark.parametrize("shape", [(), (6,), (2, 3), (2, 1, 3)])
def test_any_id_shape(shape):
    emb = Embedding(9, 4, random_state=0)
    ids = np.random.default_rng(1).integers(0, 9, size=shape)
    out = emb.forward(ids)
    assert out.shape == shape + (4,)
    np.testing.assert_array_equal(out, emb.params["weight"][ids])
    emb.backward(np.ones(shape + (4,)))
    counts = np.bincount(np.ravel(ids), minlength=9)
    np.testing.assert_array_equal(emb.grads["weight"], np.repeat(counts[:, None], 4, axis=1))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint32, np.uint64])
def test_integer_dtypes_accepted(dtype):
    emb = Embedding(7, 2, random_state=0)
    ids = np.array([[0, 6, 3]], dtype=dtype)
    np.testing.assert_array_equal(emb.forward(ids, training=False),
                                  emb.params["weight"][ids.astype(np.int64)])


def test_empty_ids_give_empty_output():
    emb = Embedding(5, 3, random_state=0)
    assert emb.forward([], training=False).shape == (0, 3)
    out = emb.forward(np.zeros((2, 0), np.int64))
    assert out.shape == (2, 0, 3)
    emb.backward(np.zeros((2, 0, 3)))
    assert not emb.grads["weight"].any()


def test_initialisation_standard_normal_padding_zero():
    emb = Embedding(2000, 50, padding_idx=3, dtype=np.float64, random_state=0)
    W = emb.params["weight"]
    assert np.all(W[3] == 0)
    rest = np.delete(W, 3, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01
    again = Embedding(2000, 50, padding_idx=3, dtype=np.float64, random_state=0)
    np.testing.assert_array_equal(W, again.params["weight"])


# ----------------------------------------------------------------- gradients
@pytest.mark.parametrize("dtype", DTYPES)
def test_repeated_ids_add_up_in_order(dtype):
    """Repeated ids accumulate, in the order of the flattened ids (bit for bit)."""
    rng = np.random.default_rng(2)
    V, E = 6, 4
    ids = np.array([[1, 1, 4, 1], [4, 0, 1, 5]])
    d_out = rng.standard_normal((2, 4, E)).astype(dtype)
    emb = Embedding(V, E, dtype=dtype, random_state=0)
    emb.forward(ids)
    emb.backward(d_out)
    expected = np.zeros((V, E), dtype)
    for n, i in enumerate(ids.ravel()):   # the documented order, in the layer's dtype
        expected[i] += d_out.reshape(-1, E)[n]
    np.testing.assert_array_equal(emb.grads["weight"], expected)
    assert not emb.grads["weight"][[2, 3]].any()
    first = emb.grads["weight"].copy()
    emb.forward(ids)
    emb.backward(d_out)   # overwritten, not accumulated across calls, and deterministic
    np.testing.assert_array_equal(emb.grads["weight"], first)


def test_finite_difference_gradient():
    """L = sum(forward(ids) * R): dL/dW against central differences (float64)."""
    rng = np.random.default_rng(3)
    V, E, eps = 5, 3, 1e-6
    emb = Embedding(V, E, padding_idx=2, dtype=np.float64, random_state=4)
    ids = np.array([[0, 2, 4, 4], [1, 0, 2, 4]])
    R = rng.standard_normal(ids.shape + (E,))
    emb.forward(ids)
    emb.backward(R)
    analytic = emb.grads["weight"].copy()
    W = emb.params["weight"]
    numeric = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        v = W[idx]
        W[idx] = v + eps
        up = np.sum(emb.forward(ids, training=False) * R)
        W[idx] = v - eps
        down = np.sum(emb.forward(ids, training=False) * R)
        W[idx] = v
        numeric[idx] = (up - down) / (2 * eps)
    numeric[2] = 0   # padding_idx: no gradient by definition
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-8)
    assert np.any(analytic[4] != 0)


def test_padding_idx_gets_no_gradient_and_negative_index():
    emb = Embedding(6, 2, padding_idx=-1, random_state=0)
    assert emb.padding_idx == 5 and not emb.params["weight"][5].any()
    ids = np.array([5, 5, 1])
    out = emb.forward(ids)
    np.testing.assert_array_equal(out[:2], 0)
    emb.backward(np.ones((3, 2)))
    assert not emb.grads["weight"][5].any()
    np.testing.assert_array_equal(emb.grads["weight"][1], [1, 1])


def test_backward_checks():
    emb = Embedding(6, 2, random_state=0)
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        emb.backward(np.ones((1, 2)))
    emb.forward(np.array([[1, 2]]), training=False)
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        emb.backward(np.ones((1, 2, 2)))
    emb.forward(np.array([[1, 2]]))
    with pytest.raises(ValueError, match="d_out must have shape"):
        emb.backward(np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        emb.backward(np.full((1, 2, 2), np.nan))
    assert emb.backward(np.ones((1, 2, 2))) is None


def test_ids_kept_privately_for_backward():
    """Reusing the id array between forward and backward changes nothing."""
    emb = Embedding(6, 2, random_state=0)
    ids = np.array([1, 2, 3], dtype=np.int64)
    emb.forward(ids)
    ids[:] = 0
    emb.backward(np.ones((3, 2)))
    np.testing.assert_array_equal(emb.grads["weight"].sum(axis=1), [0, 2, 2, 2, 0, 0])


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("ids, exc, match", [
    (np.array([[1.0, 2.0]]), TypeError, "must be integers, got dtype float64"),
    (np.array([True, False]), TypeError, "must be integers"),
    (np.array(["a", "b"]), TypeError, "must be integers"),
    (np.array([0, -1, 2]), ValueError, r"in \[0, 7\).*-1 at index \(1,\)"),
    (np.array([[0, 1], [7, 2]]), ValueError, r"7 at index \(1, 0\)"),
    (np.array([2**63 + 5], dtype=np.uint64), ValueError, r"in \[0, 7\)"),
    ([[1, 2], [3]], TypeError, "pad sequences"),
])
def test_bad_ids_refused(ids, exc, match):
    emb = Embedding(7, 3, random_state=0)
    before = emb.params["weight"].copy()
    for training in (False, True):
        with pytest.raises(exc, match=match):
            emb.forward(ids, training=training)
    np.testing.assert_array_equal(emb.params["weight"], before)
    with pytest.raises(RuntimeError):   # no tape was recorded
        emb.backward(np.ones((1, 3)))


@pytest.mark.parametrize("kwargs, exc", [
    ({"num_embeddings": 0, "embedding_dim": 3}, ValueError),
    ({"num_embeddings": 4, "embedding_dim": 2.0}, TypeError),
    ({"num_embeddings": 4, "embedding_dim": 3, "padding_idx": 4}, ValueError),
    ({"num_embeddings": 4, "embedding_dim": 3, "padding_idx": -5}, ValueError),
    ({"num_embeddings": 4, "embedding_dim": 3, "padding_idx": 1.0}, TypeError),
    ({"num_embeddings": 4, "embedding_dim": 3, "dtype": np.int32}, TypeError),
])
def test_bad_constructor_arguments(kwargs, exc):
    with pytest.raises(exc):
        Embedding(**kwargs)


def test_compiled_entry_points_check_shapes():
    from seqcore import _embedding

    W = np.zeros((4, 3))
    ids = np.array([0, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="out must have shape"):
        _embedding.gather(W, ids, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="outside"):
        _embedding.gather(W, np.array([0, 4], dtype=np.int64), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="dout must have shape"):
        _embedding.scatter_add(ids, np.zeros((2, 2)), W, -1)
    with pytest.raises(ValueError, match="padding_idx"):
        _embedding.scatter_add(ids, np.zeros((2, 3)), W, 4)


# ------------------------------------------------- pretrained and frozen
def test_from_pretrained_freeze():
    rng = np.random.default_rng(5)
    M = rng.standard_normal((8, 3))
    emb = Embedding.from_pretrained(M, padding_idx=0)
    assert emb.frozen and not emb.requires_grad
    assert emb.dtype == np.float64 and emb.padding_idx == 0
    np.testing.assert_array_equal(emb.params["weight"], M)   # padding row kept as given
    M[...] = 0
    assert emb.params["weight"].any()                          # a copy
    ids = np.array([[1, 0, 7]])
    out = emb.forward(ids)
    emb.backward(np.ones_like(out))
    assert not emb.grads["weight"].any()
    before = emb.params["weight"].copy()
    opt = Adam(emb.flat_params, emb.flat_grads, lr=0.1)
    opt.step()   # a zero gradient without weight decay leaves the table as it is
    np.testing.assert_array_equal(emb.params["weight"], before)

    trainable = Embedding.from_pretrained(before, freeze=False, padding_idx=0)
    assert trainable.requires_grad
    trainable.forward(ids)
    trainable.backward(np.ones((1, 3, 3)))
    np.testing.assert_array_equal(trainable.grads["weight"].sum(axis=1),
                                  [0, 3, 0, 0, 0, 0, 0, 3])


def test_from_pretrained_checks():
    with pytest.raises(ValueError, match="2-D"):
        Embedding.from_pretrained(np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        Embedding.from_pretrained(np.full((2, 2), np.nan))
    with pytest.raises(TypeError, match="freeze"):
        Embedding.from_pretrained(np.zeros((2, 2)), freeze="yes")
    assert Embedding.from_pretrained(np.zeros((2, 2), np.float32)).dtype == np.float32


def test_state_dict_and_pickle_round_trip():
    emb = Embedding(10, 4, padding_idx=0, random_state=0)
    assert list(emb.state_dict()) == ["weight"]
    other = Embedding(10, 4, padding_idx=0, random_state=1)
    other.load_state_dict(emb.state_dict())
    ids = np.array([[3, 0, 9]])
    np.testing.assert_array_equal(other.forward(ids, training=False),
                                  emb.forward(ids, training=False))
    clone = pickle.loads(pickle.dumps(emb))
    np.testing.assert_array_equal(clone.forward(ids, training=False),
                                  emb.forward(ids, training=False))
    assert clone.params["weight"].base is clone.flat_params


# ------------------------------------------------------------------ threads
def test_inference_in_threads_while_one_trains():
    """Several threads predict while one runs training forward/backward: every
    prediction equals the one made alone; a second trainer is refused."""
    rng = np.random.default_rng(6)
    emb = Embedding(500, 32, padding_idx=0, random_state=0)
    ids = _ids(rng, 500, (64, 40))
    expected = emb.forward(ids, training=False)
    train_ids = _ids(rng, 500, (64, 40))
    d_out = rng.standard_normal((64, 40, 32)).astype(np.float32)
    stop = threading.Event()
    failures, trained = [], [0]

    def trainer():
        while not stop.is_set():
            emb.forward(train_ids, training=True)
            emb.backward(d_out)
            trained[0] += 1

    def predictor():
        for _ in range(50):
            if not np.array_equal(emb.forward(ids, training=False), expected):
                failures.append("differs")

    t = threading.Thread(target=trainer)
    t.start()
    workers = [threading.Thread(target=predictor) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    t.join()
    assert not failures and trained[0] > 0

    # backward in a thread that did not record the tape is refused
    emb.forward(train_ids, training=True)
    errors = []

    def other():
        try:
            emb.backward(d_out)
        except RuntimeError as exc:
            errors.append(str(exc))

    th = threading.Thread(target=other)
    th.start()
    th.join()
    assert errors and "another thread" in errors[0]


# -------------------------------------------------------------------- torch
@pytest.mark.parametrize("padding_idx", [None, 0, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_agrees_with_torch(dtype, padding_idx):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    V, E = 11, 6
    emb = Embedding(V, E, padding_idx=padding_idx, dtype=dtype, random_state=8)
    ids = _ids(rng, V, (5, 9))
    ids[0, :4] = 3   # repeated ids, some on the padding row
    d_out = rng.standard_normal((5, 9, E)).astype(dtype)
    ref = torch.nn.Embedding(V, E, padding_idx=padding_idx,
                             dtype=torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(emb.params["weight"].copy()))
    out_ref = ref(torch.from_numpy(ids))
    out_ref.backward(torch.from_numpy(d_out))
    out = emb.forward(ids)
    emb.backward(d_out)
    np.testing.assert_array_equal(out, out_ref.detach().numpy())
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(emb.grads["weight"], ref.weight.grad.numpy(), rtol=tol, atol=tol)


def test_from_pretrained_agrees_with_torch():
    torch = pytest.importorskip("torch")
    M = np.random.default_rng(9).standard_normal((6, 4)).astype(np.float32)
    ref = torch.nn.Embedding.from_pretrained(torch.from_numpy(M.copy()), freeze=True,
                                             padding_idx=2)
    emb = Embedding.from_pretrained(torch.from_numpy(M.copy()), freeze=True, padding_idx=2)
    assert emb.requires_grad == ref.weight.requires_grad
    ids = np.array([[2, 5, 1]])
    np.testing.assert_array_equal(emb.forward(ids, training=False),
                                  ref(torch.from_numpy(ids)).numpy())

"""Tests for seqcore.nn.Attention: a NumPy reference, finite differences,
PyTorch agreement (padded sources, the three score kinds), padding, the
layer protocol and bad input."""

import pickle

import numpy as np
import pytest

from seqcore import _attention
from seqcore.nn import Attention

KINDS = ["additive", "dot", "general"]
B, S, HQ, HK = 4, 6, 5, 7
LENGTHS = np.array([6, 1, 4, 3])


def make(kind, dtype=np.float64, random_state=0, **kw):
    hq = HK if kind == "dot" else HQ
    return Attention(hq, HK, kind, dtype=dtype, random_state=random_state, **kw)


def data(att, rng, pad_value=None):
    q = rng.normal(size=(B, att.query_size))
    K = rng.normal(size=(B, S, HK))
    if pad_value is not None:
        for b, n in enumerate(LENGTHS):
            K[b, n:] = pad_value
    return q, K


def reference(att, q, K, lengths):
    """The NumPy equivalent of the docstring."""
    P = {k: v.astype(np.float64) for k, v in att.params.items()}
    if att.kind == "additive":
        E = np.tanh((q @ P["query_weight"].T)[:, None] + K @ P["key_weight"].T) \
            @ P["score_weight"]
    elif att.kind == "general":
        E = np.einsum("bh,bsh->bs", q, K @ P["weight"].T)
    else:
        E = np.einsum("bh,bsh->bs", q, K)
    E = np.where(np.arange(K.shape[1]) < lengths[:, None], E, -np.inf)
    w = np.exp(E - E.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("bs,bsk->bk", w, K), w


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_reference(kind, dtype, tol):
    rng = np.random.default_rng(1)
    att = make(kind, dtype)
    q, K = data(att, rng)
    ctx, w = att.forward(q, K, LENGTHS, training=False)
    assert ctx.dtype == dtype and w.dtype == dtype
    ctx_r, w_r = reference(att, q.astype(dtype).astype(np.float64),
                           K.astype(dtype).astype(np.float64), LENGTHS)
    np.testing.assert_allclose(ctx, ctx_r, atol=tol, rtol=0)
    np.testing.assert_allclose(w, w_r, atol=tol, rtol=0)
    np.testing.assert_allclose(w.sum(axis=1), 1, atol=tol)
    assert (w[np.arange(S) >= LENGTHS[:, None]] == 0).all()


def numeric_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("with_dw", [False, True], ids=["d_context", "d_context+d_weights"])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_finite_differences(kind, with_dw):
    rng = np.random.default_rng(2)
    att = make(kind, attention_size=3) if kind == "additive" else make(kind)
    q, K = data(att, rng)
    ctx, w = att.forward(q, K, LENGTHS, training=True)
    dc = rng.normal(size=ctx.shape)
    dw = rng.normal(size=w.shape) if with_dw else None
    dq, dK = att.backward(dc, dw)

    def loss():
        c, ww = reference(att, q, K, LENGTHS)
        return (c * dc).sum() + ((ww * dw).sum() if with_dw else 0.0)

    np.testing.assert_allclose(dq, numeric_grad(loss, q), atol=1e-8)
    np.testing.assert_allclose(dK, numeric_grad(loss, K), atol=1e-8)
    for name, p in att.params.items():
        np.testing.assert_allclose(att.grads[name], numeric_grad(loss, p), atol=1e-8,
                                   err_msg=name)
    # padded keys get no gradient
    assert (dK[np.arange(S) >= LENGTHS[:, None]] == 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_padding_is_never_read(kind):
    rng = np.random.default_rng(3)
    att = make(kind)
    q, K = data(att, rng, pad_value=0.0)
    K2 = K.copy()
    for b, n in enumerate(LENGTHS):
        K2[b, n:] = 1e3 * rng.normal(size=K2[b, n:].shape)
    out = [att.forward(q, k, LENGTHS, training=False) for k in (K, K2)]
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)
    # each row equals the row attended alone over its own length
    for b, n in enumerate(LENGTHS):
        ctx1, w1 = att.forward(q[b:b + 1], K[b:b + 1, :n], training=False)
        np.testing.assert_allclose(ctx1[0], out[0][0][b], atol=1e-12)
        np.testing.assert_allclose(w1[0], out[0][1][b, :n], atol=1e-12)



def torch_attention(att, q, K, lengths, dc, dw):
    """The same attention written with PyTorch, run through autograd."""
    import torch

    t = {k: torch.tensor(v.astype(np.float64), requires_grad=True)
         for k, v in att.params.items()}
    tq = torch.tensor(q, requires_grad=True)
    tK = torch.tensor(K, requires_grad=True)
    if att.kind == "additive":
        hidden = torch.tanh((tq @ t["query_weight"].T).unsqueeze(1) + tK @ t["key_weight"].T)
        E = hidden @ t["score_weight"]
    elif att.kind == "general":
        E = torch.bmm(tK @ t["weight"].T, tq.unsqueeze(2)).squeeze(2)
    else:
        E = torch.bmm(tK, tq.unsqueeze(2)).squeeze(2)
    pad = torch.arange(K.shape[1])[None, :] >= torch.tensor(lengths)[:, None]
    w = torch.softmax(E.masked_fill(pad, float("-inf")), dim=1)
    ctx = torch.bmm(w.unsqueeze(1), tK).squeeze(1)
    ((ctx * torch.tensor(dc)).sum() + (w * torch.tensor(dw)).sum()).backward()
    grads = {k: v.grad.numpy() for k, v in t.items()}
    return ctx.detach().numpy(), w.detach().numpy(), tq.grad.numpy(), tK.grad.numpy(), grads


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("kind", KINDS)
def test_agrees_with_pytorch(kind, dtype, tol):
    pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    att = make(kind, dtype)
    q, K = data(att, rng, pad_value=0.5)
    q, K = q.astype(dtype), K.astype(dtype)
    ctx, w = att.forward(q, K, LENGTHS, training=True)
    dc, dw = rng.normal(size=ctx.shape), rng.normal(size=w.shape)
    dq, dK = att.backward(dc, dw)
    t_ctx, t_w, t_dq, t_dK, t_grads = torch_attention(
        att, q.astype(np.float64), K.astype(np.float64), LENGTHS, dc, dw)
    for ours, theirs in ((ctx, t_ctx), (w, t_w), (dq, t_dq), (dK, t_dK)):
        np.testing.assert_allclose(ours, theirs, atol=tol, rtol=tol)
    for name in att.params:
        np.testing.assert_allclose(att.grads[name], t_grads[name], atol=tol, rtol=tol,
                                   err_msg=name)


def test_parameters_initialisation_and_names():
    att = Attention(4, 6, "additive", attention_size=3, random_state=0)
    assert {k: v.shape for k, v in att.params.items()} == {
        "query_weight": (3, 4), "key_weight": (3, 6), "score_weight": (3,)}
    assert np.abs(att.params["query_weight"]).max() <= 0.5
    assert Attention(4, 6, "general").params["weight"].shape == (4, 6)
    assert Attention(6, 6, "dot").params == {}
    # seeded: the same weights
    np.testing.assert_array_equal(Attention(4, 6, random_state=3).flat_params,
                                  Attention(4, 6, random_state=3).flat_params)
    assert repr(att) == "Attention(4, 6, kind='additive', attention_size=3, dtype=float32)"


def test_protocol_inference_keeps_nothing_and_input_unchanged():
    rng = np.random.default_rng(5)
    att = make("additive")
    q, K = data(att, rng)
    q0, K0 = q.copy(), K.copy()
    att.forward(q, K, LENGTHS, training=False)
    assert att._tape is None
    np.testing.assert_array_equal(q, q0)
    np.testing.assert_array_equal(K, K0)
    with pytest.raises(RuntimeError, match="training mode"):
        att.backward(np.zeros((B, HK)))
    ctx, _ = att.forward(q, K, LENGTHS, training=True)
    q += 1.0   # the caller changes its arrays: backward uses what forward saw
    K += 1.0
    dq, dK = att.backward(np.ones_like(ctx))
    q[...], K[...] = q0, K0
    att.forward(q, K, LENGTHS, training=True)
    dq2, dK2 = att.backward(np.ones_like(ctx))
    np.testing.assert_array_equal(dq, dq2)
    np.testing.assert_array_equal(dK, dK2)
    clone = pickle.loads(pickle.dumps(att))
    np.testing.assert_array_equal(clone.forward(q, K, LENGTHS, training=False)[0],
                                  att.forward(q, K, LENGTHS, training=False)[0])


def test_bad_input():
    att = make("additive")
    q, K = np.zeros((B, HQ)), np.zeros((B, S, HK))
    with pytest.raises(ValueError, match="kind must be one of"):
        Attention(4, 4, "cosine")
    with pytest.raises(ValueError, match="query_size == key_size"):
        Attention(4, 5, "dot")
    with pytest.raises(ValueError, match="attention_size"):
        Attention(4, 4, "general", attention_size=3)
    with pytest.raises(ValueError, match="query has 4 features"):
        att.forward(np.zeros((B, 4)), K)
    with pytest.raises(ValueError, match="keys have 3 features"):
        att.forward(q, np.zeros((B, S, 3)))
    with pytest.raises(ValueError, match="one key sequence per query"):
        att.forward(q, K[:2])
    with pytest.raises(ValueError, match="no source positions"):
        att.forward(q, np.zeros((B, 0, HK)))
    with pytest.raises(ValueError, match="batch size 0"):
        att.forward(q[:0], K[:0])
    with pytest.raises(ValueError, match="lengths must lie in"):
        att.forward(q, K, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        att.forward(np.full((B, HQ), np.nan), K)
    with pytest.raises(ValueError, match="3-D"):
        att.forward(q, K[0])
    att.forward(q, K, training=True)
    with pytest.raises(ValueError, match="d_context must have shape"):
        att.backward(np.zeros((B, HK + 1)))
    with pytest.raises(ValueError, match="d_weights must have shape"):
        att.backward(np.zeros((B, HK)), np.zeros((B, S + 1)))


def test_compiled_entry_points_check_shapes():
    q, W_q, v = np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(4)
    K, Kp = np.zeros((2, 5, 6)), np.zeros((2, 5, 4))
    lengths = np.array([5, 2], np.int64)
    Z, w, ctx = np.zeros((2, 5, 4)), np.zeros((2, 5)), np.zeros((2, 6))
    _attention.attend(0, q, W_q, v, K, Kp, lengths, Z, w, ctx)
    with pytest.raises(ValueError, match="v has shape"):
        _attention.attend(0, q, W_q, np.zeros(3), K, Kp, lengths, Z, w, ctx)
    with pytest.raises(ValueError, match="ctx has shape"):
        _attention.attend(0, q, W_q, v, K, Kp, lengths, Z, w, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="outside"):
        _attention.attend(0, q, W_q, v, K, Kp, np.array([6, 1], np.int64), Z, w, ctx)
    with pytest.raises(ValueError, match="unknown attention kind"):
        _attention.attend(7, q, W_q, v, K, Kp, lengths, Z, w, ctx)
    with pytest.raises(ValueError, match="one size"):
        _attention.attend(1, q, np.zeros((0, 0)), np.zeros(0), K, K, lengths,
                          np.zeros((0, 0, 0)), w, ctx)

"""Clipping and optimizers: hand-worked values, and agreement with torch."""

import numpy as np
import pytest

from seqcore.nn import SGD, Adam, ExponentialLR, clip_grad_norm, clip_grad_value

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-6, np.float64: 1e-13}


def test_clip_grad_norm_by_hand():
    # norm of (3, 4) and (12,) is sqrt(9 + 16 + 144) = 13; max_norm 6.5 halves
    # them (up to the 1e-6 guard): coef = 6.5 / (13 + 1e-6)
    grads = {"a": np.array([3.0, 4.0]), "b": np.array([[12.0]])}
    total = clip_grad_norm(grads, 6.5)
    assert total == pytest.approx(13.0, abs=1e-12)
    coef = 6.5 / (13 + 1e-6)
    np.testing.assert_allclose(grads["a"], [3 * coef, 4 * coef], rtol=1e-14)
    np.testing.assert_allclose(grads["b"], [[12 * coef]], rtol=1e-14)


def test_clip_grad_norm_leaves_small_gradients():
    g = [np.array([0.3, -0.4], dtype=np.float32)]
    assert clip_grad_norm(g, 1.0) == pytest.approx(0.5, rel=1e-6)
    np.testing.assert_array_equal(g[0], np.array([0.3, -0.4], dtype=np.float32))


def test_clip_grad_norm_non_contiguous():
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    view = base[:, ::2]
    expected_norm = np.linalg.norm(view)
    total = clip_grad_norm([view], 1.0)
    assert total == pytest.approx(expected_norm)
    assert np.linalg.norm(view) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_value_by_hand():
    g = np.array([-3.0, -0.5, 0.0, 0.7, 9.0])
    clip_grad_value({"g": g}, 1.0)
    np.testing.assert_array_equal(g, [-1.0, -0.5, 0.0, 0.7, 1.0])


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_clip_rejects_bad_limits(bad):
    with pytest.raises(ValueError, match="must be > 0"):
        clip_grad_norm([np.ones(3)], bad)
    with pytest.raises(ValueError, match="must be > 0"):
        clip_grad_value([np.ones(3)], bad)


def test_clip_rejects_non_float():
    with pytest.raises(TypeError, match="float32 or float64"):
        clip_grad_norm([np.ones(3, dtype=int)], 1.0)


def test_sgd_step_by_hand():
    # p = 1, g = 0.5, lr = 0.1, momentum 0.9, weight decay 0.1, nesterov:
    # d = 0.5 + 0.1 * 1 = 0.6; buf = 0.6 (first step); d = 0.6 + 0.9 * 0.6 = 1.14
    # p = 1 - 0.1 * 1.14 = 0.886
    p, g = np.array([1.0]), np.array([0.5])
    SGD(p, g, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True).step()
    assert p[0] == pytest.approx(0.886, abs=1e-15)


def test_adam_first_step_by_hand():
    # on the first step m_hat = g and v_hat = g^2, so p moves by lr * g / (|g| + eps)
    p, g = np.array([1.0, -2.0]), np.array([0.25, -4.0])
    Adam(p, g, lr=0.01, eps=1e-8).step()
    np.testing.assert_allclose(p, [1.0 - 0.01 * 0.25 / (0.25 + 1e-8),
                                   -2.0 + 0.01 * 4.0 / (4.0 + 1e-8)], rtol=1e-14)


def test_exponential_lr():
    p = np.zeros(2)
    opt = SGD(p, np.zeros(2), lr=1.0)
    sched = ExponentialLR(opt, 0.5)
    sched.step()
    sched.step()
    assert opt.lr == 0.25


def test_optimizer_rejects_mismatched_buffers():
    with pytest.raises(TypeError, match="flat parameter"):
        Adam(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="learning rate"):
        SGD(np.zeros(3), np.zeros(3), lr=0)


# ---------------------------------------------------------------- torch parity

def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_clip_matches_torch(dtype):
    torch = _torch()
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s).astype(dtype) for s in [(4, 3), (7,), (2, 2, 2)]]
    for max_norm in (0.5, 100.0):
        ours = [a.copy() for a in arrays]
        tens = [torch.nn.Parameter(torch.zeros(a.shape, dtype=getattr(torch, np.dtype(dtype).name)))
                for a in arrays]
        for t, a in zip(tens, arrays):
            t.grad = torch.tensor(a)
        total = clip_grad_norm(ours, max_norm)
        ttotal = torch.nn.utils.clip_grad_norm_(tens, max_norm)
        assert total == pytest.approx(float(ttotal), rel=TOL[dtype] * 10)
        for o, t in zip(ours, tens):
            np.testing.assert_allclose(o, t.grad.numpy(), rtol=TOL[dtype] * 10, atol=TOL[dtype])
    ours = [a.copy() for a in arrays]
    for t, a in zip(tens, arrays):
        t.grad = torch.tensor(a)
    clip_grad_value(ours, 0.3)
    torch.nn.utils.clip_grad_value_(tens, 0.3)
    for o, t in zip(ours, tens):
        np.testing.assert_array_equal(o, t.grad.numpy())


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind,kwargs", [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd", dict(lr=0.05, momentum=0.8, dampening=0.1)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
], ids=["sgd", "sgd-momentum-wd", "sgd-nesterov", "sgd-dampening", "adam", "adam-wd"])
def test_optimizers_match_torch(kind, kwargs, dtype):
    torch = _torch()
    rng = np.random.default_rng(1)
    p = rng.normal(size=50).astype(dtype)
    g = np.zeros_like(p)
    tp = torch.nn.Parameter(torch.tensor(p.copy()))
    ours = (SGD if kind == "sgd" else Adam)(p, g, **kwargs)
    theirs = (torch.optim.SGD if kind == "sgd" else torch.optim.Adam)([tp], **kwargs)
    for _ in range(5):
        g[:] = rng.normal(size=p.shape)
        tp.grad = torch.tensor(g.copy())
        ours.step()
        theirs.step()
    np.testing.assert_allclose(p, tp.detach().numpy(), rtol=TOL[dtype] * 10, atol=TOL[dtype])

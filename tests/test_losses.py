"""The fused losses of ``seqcore._losses`` against NumPy, finite differences and torch.

Each loss takes logits Z (N, K), targets (class indices y (N,) or values
Y (N, K)), row weights w (N,), a scale and an output array dZ (N, K); it
returns ``scale * sum_i w_i l_i`` and writes ``dZ = d loss / d Z``:

* softmax cross-entropy  l_i = logsumexp(Z_i) - Z_i[y_i]
* sigmoid binary cross-entropy  l_i = sum_k -y log s(z) - (1 - y) log(1 - s(z))
* squared error  l_i = mean_k (z - y)^2 / 2   (scikit-learn's MLP convention)

With ``scale = 1 / sum(w)`` the loss is the weighted mean torch computes with
``reduction='none'`` followed by ``(l * w).sum() / w.sum()``.
"""

import numpy as np
import pytest

from seqcore import _losses

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
LOSS_NAMES = ["softmax", "sigmoid", "squared_error"]
# relative tolerance of a float32 / float64 result against a float64 formula
TOL = {np.float64: 1e-12, np.float32: 1e-6}
N, K = 7, 4


# ------------------------------------------------------------ NumPy formulas

def np_logsumexp(Z):
    m = Z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]


def np_loss_and_grad(name, Z, T, w, scale):
    """Plain float64 formulas: (loss, dZ)."""
    Z, w = np.asarray(Z, np.float64), np.asarray(w, np.float64)
    if name == "softmax":
        lse = np_logsumexp(Z)
        rows = np.arange(len(Z))
        per_row = lse - Z[rows, T]
        P = np.exp(Z - lse[:, None])
        onehot = np.zeros_like(Z)
        onehot[rows, T] = 1.0
        G = P - onehot
    elif name == "sigmoid":
        Y = np.asarray(T, np.float64)
        # -y log s(z) - (1 - y) log(1 - s(z)) = log(1 + e^z) - y z
        per_row = (np.logaddexp(0.0, Z) - Y * Z).sum(axis=1)
        G = 0.5 * (1.0 + np.tanh(0.5 * Z)) - Y      # sigmoid without overflow
    else:
        Y = np.asarray(T, np.float64)
        per_row = 0.5 * ((Z - Y) ** 2).mean(axis=1)
        G = (Z - Y) / Z.shape[1]
    return scale * np.sum(w * per_row), scale * w[:, None] * G


def call(name, Z, T, w, scale, dZ=None):
    """Call the compiled loss; dZ starts as garbage unless given."""
    dtype = Z.dtype.type
    if dZ is None:
        dZ = np.full(Z.shape, np.nan, dtype)
    if name == "softmax":
        loss = _losses.softmax_cross_entropy(Z, np.ascontiguousarray(T, np.intp), w, scale, dZ)
    elif name == "sigmoid":
        loss = _losses.sigmoid_binary_cross_entropy(Z, T, w, scale, dZ)
    else:
        loss = _losses.squared_error(Z, T, w, scale, dZ)
    return loss, dZ


def make_case(name, dtype, seed, n=N, k=K, z_scale=3.0):
    """Logits, targets and non-uniform weights with a zero."""
    rng = np.random.default_rng(seed)
    Z = (z_scale * rng.standard_normal((n, k))).astype(dtype)
    if name == "softmax":
        T = rng.integers(0, k, n).astype(np.intp)
    elif name == "sigmoid":
        T = rng.integers(0, 2, (n, k)).astype(dtype)
        T[0, 0] = dtype(0.3)       # soft labels are allowed by the formula
    else:
        T = rng.standard_normal((n, k)).astype(dtype)
    w = rng.uniform(0.2, 3.0, n).astype(dtype)
    w[1] = 0
    return Z, T, w


def rel_err(actual, expected):
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(a - e)) / max(1.0, float(np.max(np.abs(e)))))


# ---------------------------------------------------------------- formulas

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_matches_numpy_formula(name, dtype):
    Z, T, w = make_case(name, dtype, seed=LOSS_NAMES.index(name))
    scale = 1.0 / float(w.sum())
    loss, dZ = call(name, Z, T, w, scale)
    exp_loss, exp_dZ = np_loss_and_grad(name, Z, T, w, scale)
    assert isinstance(loss, float)
    assert dZ.dtype == dtype
    assert loss == pytest.approx(exp_loss, rel=TOL[dtype], abs=TOL[dtype])
    assert rel_err(dZ, exp_dZ) < TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_scale_is_linear(name, dtype):
    """``scale`` multiplies the loss and the gradient, nothing else."""
    Z, T, w = make_case(name, dtype, seed=10)
    loss1, dZ1 = call(name, Z, T, w, 1.0)
    loss2, dZ2 = call(name, Z, T, w, 0.37)
    assert loss2 == pytest.approx(0.37 * loss1, rel=1e-14)
    np.testing.assert_allclose(dZ2, 0.37 * dZ1.astype(np.float64), rtol=TOL[dtype])


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_weights_act_like_repeated_rows(name):
    """An integer weight w_i counts row i w_i times."""
    Z, T, _ = make_case(name, np.float64, seed=11, n=4)
    w = np.array([2.0, 1.0, 3.0, 1.0])
    rep = np.repeat(np.arange(4), w.astype(int))
    loss_w, dZ_w = call(name, Z, T, w, 1.0)
    loss_r, dZ_r = call(name, np.ascontiguousarray(Z[rep]), np.ascontiguousarray(T[rep]),
                        np.ones(len(rep)), 1.0)
    assert loss_w == pytest.approx(loss_r, rel=1e-13)
    summed = np.zeros_like(dZ_w)
    np.add.at(summed, rep, dZ_r)
    np.testing.assert_allclose(dZ_w, summed, rtol=1e-13, atol=1e-15)


# ---------------------------------------------------- finite differences

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_gradient_matches_finite_differences(name, dtype):
    """dZ against central differences of the returned loss in every entry of Z.

    float64: eps = 1e-6.  float32: eps = 2^-8, and the step actually taken is
    the difference of the two rounded float32 values (the loss is accumulated
    in double, so that quotient is accurate to O(eps^2)).
    """
    Z, T, w = make_case(name, dtype, seed=20 + LOSS_NAMES.index(name))
    scale = 1.0 / float(w.sum())
    _, dZ = call(name, Z, T, w, scale)
    eps = 1e-6 if dtype is np.float64 else 2.0 ** -8
    numeric = np.zeros(Z.shape)
    for idx in np.ndindex(Z.shape):
        v = Z[idx]
        up, down = Z.copy(), Z.copy()
        up[idx], down[idx] = v + dtype(eps), v - dtype(eps)
        step = float(up[idx]) - float(down[idx])
        numeric[idx] = (call(name, up, T, w, scale)[0] - call(name, down, T, w, scale)[0]) / step
    tol = 1e-8 if dtype is np.float64 else 1e-4
    assert rel_err(dZ, numeric) < tol
    assert np.all(numeric[1] == 0)        # the zero-weight row does not count


# ------------------------------------------------------------ zero weights

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_zero_weight_rows_are_never_read(name, dtype):
    """Rows of weight 0 (padded steps): dZ = 0 exactly and the loss is that of
    the other rows, whatever the rows hold (NaN, inf, huge, bad class index)."""
    Z, T, w = make_case(name, dtype, seed=30)
    w[[2, 5]] = 0
    bad = Z.copy()
    bad[1] = np.nan
    bad[2] = np.inf
    bad[2, 0] = -np.inf
    bad[5] = np.finfo(dtype).max
    T_bad = T.copy()
    if name == "softmax":
        T_bad[[1, 2, 5]] = [-1, K + 100, 10 ** 9]
    else:
        T_bad[[1, 2, 5]] = np.nan
    scale = 1.0 / float(w.sum())
    loss_bad, dZ_bad = call(name, bad, T_bad, w, scale)
    loss, dZ = call(name, Z, T, w, scale)
    keep = w != 0
    assert np.all(dZ_bad[~keep] == 0) and np.all(dZ[~keep] == 0)
    assert np.isfinite(loss_bad) and np.all(np.isfinite(dZ_bad))
    assert loss_bad == loss
    np.testing.assert_array_equal(dZ_bad, dZ)
    # and it equals the loss of the weighted rows alone, same scale
    loss_sub, dZ_sub = call(name, np.ascontiguousarray(Z[keep]), np.ascontiguousarray(T[keep]),
                            np.ascontiguousarray(w[keep]), scale)
    assert loss == pytest.approx(loss_sub, rel=1e-14)
    np.testing.assert_array_equal(dZ[keep], dZ_sub)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_all_weights_zero(name):
    Z, T, w = make_case(name, np.float64, seed=31)
    w[:] = 0
    loss, dZ = call(name, Z, T, w, 1.0)
    assert loss == 0.0
    assert np.all(dZ == 0)


# ------------------------------------------------------------- stability

@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_stable_at_1000(dtype):
    Z = np.array([[1000.0, -1000.0, 0.0],
                  [1000.0, -1000.0, 0.0],
                  [-1000.0, -1000.0, -1000.0],
                  [1000.0, 1000.0, -1000.0]], dtype=dtype)
    y = np.array([0, 1, 2, 0], dtype=np.intp)
    w = np.ones(4, dtype)
    losses = [call("softmax", Z[i:i + 1].copy(), y[i:i + 1], w[:1], 1.0) for i in range(4)]
    for loss, dZ in losses:
        assert np.isfinite(loss) and np.all(np.isfinite(dZ))
    # exp(-1000) and exp(-2000) vanish next to 1 in double precision
    expected_loss = [0.0, 2000.0, np.log(3.0), np.log(2.0)]
    expected_dZ = [[0.0, 0.0, 0.0],
                   [1.0, -1.0, 0.0],
                   [1 / 3, 1 / 3, -2 / 3],
                   [-0.5, 0.5, 0.0]]
    tol = TOL[dtype]
    for (loss, dZ), el, ed in zip(losses, expected_loss, expected_dZ):
        # lse - z_y with both near 1000: an absolute roundoff of ~1000 ulp(1)
        assert loss == pytest.approx(el, rel=1e-15, abs=1e-12)
        np.testing.assert_allclose(dZ, [ed], rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_stable_at_1000(dtype):
    Z = np.array([[1000.0, -1000.0, 1000.0, -1000.0, 0.0]], dtype=dtype)
    Y = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]], dtype=dtype)
    loss, dZ = call("sigmoid", Z, Y, np.ones(1, dtype), 1.0)
    assert np.isfinite(loss) and np.all(np.isfinite(dZ))
    # right, right, wrong (-log s(-1000) = 1000), wrong, and log 2 at z = 0
    assert loss == pytest.approx(2000.0 + np.log(2.0), rel=1e-15)
    np.testing.assert_allclose(dZ, [[0.0, 0.0, 1.0, -1.0, -0.5]], rtol=0, atol=TOL[dtype])
    assert dZ[0, 0] == 0 and dZ[0, 1] == 0         # no 1 - 1.0000001 residue


@pytest.mark.parametrize("dtype", DTYPES)
def test_squared_error_at_1000(dtype):
    Z = np.array([[1000.0, -1000.0]], dtype=dtype)
    Y = np.array([[0.0, 1000.0]], dtype=dtype)
    loss, dZ = call("squared_error", Z, Y, np.full(1, 2.0, dtype), 0.5)
    # 0.5 * 2 * mean(1000^2, 2000^2) / 2
    assert loss == pytest.approx(0.5 * (1e6 + 4e6) / 2, rel=1e-15)
    np.testing.assert_allclose(dZ, [[500.0, -1000.0]], rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["softmax", "sigmoid"])
def test_large_logits_match_formula(name, dtype):
    """Rows of logits spread over [-1000, 1000]: finite and exact."""
    Z, T, w = make_case(name, dtype, seed=40, z_scale=400.0)
    Z[0, 0], Z[2, 1] = 1000, -1000
    loss, dZ = call(name, Z, T, w, 1.0 / float(w.sum()))
    exp_loss, exp_dZ = np_loss_and_grad(name, Z, T, w, 1.0 / float(w.sum()))
    assert np.isfinite(loss) and np.all(np.isfinite(dZ))
    assert loss == pytest.approx(exp_loss, rel=TOL[dtype])
    assert rel_err(dZ, exp_dZ) < TOL[dtype]


# ------------------------------------------------------------------- torch

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_matches_torch(name, dtype):
    """Weighted means against torch: cross_entropy, binary_cross_entropy_with_logits
    and mse_loss (halved and averaged over outputs), reduction='none'."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    Z, T, w = make_case(name, dtype, seed=50 + LOSS_NAMES.index(name))
    Z[0, 0] = 1000 if name != "squared_error" else Z[0, 0]
    scale = 1.0 / float(w.sum())
    loss, dZ = call(name, Z, T, w, scale)

    Zt = torch.tensor(Z, requires_grad=True)
    wt = torch.from_numpy(w)
    if name == "softmax":
        per_row = F.cross_entropy(Zt, torch.from_numpy(T.astype(np.int64)), reduction="none")
    elif name == "sigmoid":
        per_row = F.binary_cross_entropy_with_logits(Zt, torch.from_numpy(T),
                                                     reduction="none").sum(dim=1)
    else:
        per_row = 0.5 * F.mse_loss(Zt, torch.from_numpy(T), reduction="none").mean(dim=1)
    t_loss = (per_row * wt).sum() / wt.sum()
    t_loss.backward()
    tol = 1e-12 if dtype is np.float64 else 1e-5
    assert loss == pytest.approx(t_loss.item(), rel=tol, abs=tol)
    assert rel_err(dZ, Zt.grad.numpy()) < tol


def test_softmax_matches_torch_class_weights():
    """torch's ``weight=`` (per class) is a per-row weight w_i = weight[y_i]."""
    torch = pytest.importorskip("torch")
    Z, y, _ = make_case("softmax", np.float64, seed=60)
    class_w = np.array([0.5, 2.0, 1.0, 3.0])
    w = class_w[y]
    loss, dZ = call("softmax", Z, y, w, 1.0 / w.sum())
    Zt = torch.tensor(Z, requires_grad=True)
    t_loss = torch.nn.functional.cross_entropy(Zt, torch.from_numpy(y.astype(np.int64)),
                                               weight=torch.from_numpy(class_w))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-13)
    assert rel_err(dZ, Zt.grad.numpy()) < 1e-13

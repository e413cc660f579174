"""Property tests of the seqcore.nn layers and SequenceNetwork, with hypothesis.

Each property is checked on random small configurations: cell and variant,
layers, directions, merge mode, batch size B, steps T, input I, hidden H,
per-sample lengths, an initial state or none, dtype.  The data come from
``np.random.default_rng(seed)`` with a seed drawn by hypothesis, so a failing
example is reproduced by its printed configuration.

* padding invariance: a padded batch gives, per sample, what the sequence
  alone gives, whatever garbage fills the padding; outputs and d_X are 0 there;
* batch-order invariance: permuting the batch permutes every result and
  leaves the parameter gradients unchanged;
* float32 agrees with float64 (the same float32-representable weights and
  data) within float32 tolerance, forward and backward;
* a bidirectional stack equals its decomposition into unidirectional
  one-layer scans: direction 0 of layer k is a forward layer with the
  ``_l{k}`` weights, direction 1 a forward layer with the ``_l{k}_reverse``
  weights run on each sequence reversed within its own length, merged as the
  merge mode says; forward, final states and the whole backward pass;
* the layers agree with the NumPy reference of ``tests/reference.py``;
* gradients against central differences (float64): a directional derivative
  over all parameters, over X and over the initial state, a few single
  entries, and for ``SequenceNetwork.loss_and_gradient`` with every loss.

Bounded for CI: ``max_examples=25`` per property (20 for the gradient
checks), no deadline; the whole file runs in well under a minute.
``SEQCORE_PROPERTY_EXAMPLES=1000`` searches deeper.
"""

import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import (VARIANT_IDS, VARIANTS, flat_state, make_layer,  # noqa: E402
                      make_reference, rel_err, variant_kwargs)
from seqcore.nn import SequenceNetwork  # noqa: E402

# SEQCORE_PROPERTY_EXAMPLES=1000 runs a deeper search locally.
N_EXAMPLES = int(os.environ.get("SEQCORE_PROPERTY_EXAMPLES", "25"))
PROPERTY = settings(max_examples=N_EXAMPLES, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow])
GRADCHECK = settings(PROPERTY, max_examples=max(1, N_EXAMPLES * 4 // 5))

MERGE_MODES = ("concat", "sum", "mul", "ave")
# Results of different BLAS problem sizes (a sample alone, a permuted batch,
# a decomposed stack) may round differently: relative-ish error (see
# conftest.rel_err) per dtype.
TIGHT = {np.float64: 1e-10, np.float32: 2e-5}
# float32 against float64 on the same values: float32 rounding accumulated
# over at most 8 steps and 2 layers.
F32_VS_F64 = 1e-5
EPS = 1e-6          # central-difference step (float64)
GRAD_RTOL = 1e-6


# ----------------------------------------------------------------- configs
class Config:
    """One random configuration and its data."""

    def __init__(self, variant, num_layers, bidirectional, merge_mode, B, T, I, H,
                 lengths, with_init, dtype, seed):
        self.variant, self.num_layers, self.bidirectional = variant, num_layers, bidirectional
        self.merge_mode, self.B, self.T, self.I, self.H = merge_mode, B, T, I, H
        self.lengths = np.array(lengths, dtype=np.int64)
        self.with_init, self.dtype, self.seed = with_init, dtype, seed

    def __repr__(self):
        return (f"Config({self.variant}, L={self.num_layers}, bi={self.bidirectional}, "
                f"merge={self.merge_mode}, B={self.B}, T={self.T}, I={self.I}, H={self.H}, "
                f"lengths={self.lengths.tolist()}, init={self.with_init}, "
                f"dtype={np.dtype(self.dtype).name}, seed={self.seed})")

    @property
    def D(self):
        return 2 if self.bidirectional else 1

    @property
    def P(self):
        """The size of h: H, or the (shrunk) projection's."""
        return variant_kwargs(self.variant, self.H).get("proj_size", 0) or self.H

    @property
    def out_size(self):
        return self.D * self.P if self.merge_mode == "concat" else self.P

    def layer(self, dtype=None, random_state=None):
        return make_layer(self.variant, self.I, self.H, self.num_layers, self.bidirectional,
                          self.dtype if dtype is None else dtype,
                          random_state=self.seed if random_state is None else random_state,
                          merge_mode=self.merge_mode)

    def data(self, garbage=1e3):
        """X (padding filled with large garbage), init, d_out, d_state; float64
        values that float32 represents exactly."""
        rng = np.random.default_rng(self.seed)
        X = rng.standard_normal((self.B, self.T, self.I))
        for b, n in enumerate(self.lengths):
            X[b, n:] = garbage * rng.standard_normal(X[b, n:].shape)
        shape = (self.num_layers * self.D, self.B, self.P)
        shape_c = (self.num_layers * self.D, self.B, self.H)
        lstm = VARIANTS[self.variant][0].__name__ == "LSTM"

        def state(scale):
            if lstm:
                return (scale * rng.standard_normal(shape), scale * rng.standard_normal(shape_c))
            return scale * rng.standard_normal(shape)

        init = state(0.5) if self.with_init else None
        d_out = rng.standard_normal((self.B, self.T, self.out_size))
        d_state = state(1.0)
        return _f32(X), _f32(init), _f32(d_out), _f32(d_state)


def _f32(a):
    """Round to float32 values, keep float64 storage (tuples element-wise)."""
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(_f32(x) for x in a)
    return a.astype(np.float32).astype(np.float64)


def _cast(a, dtype):
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(_cast(x, dtype) for x in a)
    return np.asarray(a, dtype=dtype)


def _take(state, idx):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[:, idx] for s in state)
    return state[:, idx]


@st.composite
def configs(draw, dtypes=(np.float64, np.float32), bidirectional=None, merge=True,
            max_B=5, max_T=8, max_I=3, max_H=4, max_layers=2):
    variant = draw(st.sampled_from(VARIANT_IDS))
    num_layers = draw(st.integers(1, max_layers))
    bi = draw(st.booleans()) if bidirectional is None else bidirectional
    merge_mode = draw(st.sampled_from(MERGE_MODES)) if (bi and merge) else "concat"
    B = draw(st.integers(1, max_B))
    T = draw(st.integers(1, max_T))
    I = draw(st.integers(1, max_I))
    H = draw(st.integers(1, max_H))
    lengths = draw(st.lists(st.integers(1, T), min_size=B, max_size=B))
    with_init = draw(st.booleans())
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**32 - 1))
    return Config(variant, num_layers, bi, merge_mode, B, T, I, H, lengths, with_init,
                  dtype, seed)


def _run(layer, X, lengths, init, d_out, d_state):
    """Forward and backward; copies of everything (layer.grads is reused)."""
    layer.train()
    out, state = layer.forward(X, lengths=lengths, initial_state=init)
    dX, d_init = layer.backward(d_out, d_state)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    return out, flat_state(state), dX, flat_state(d_init), grads


# ------------------------------------------------------------- invariances
@PROPERTY
@given(cfg=configs(), fill=st.sampled_from(["zeros", "huge", "other_garbage"]))
def test_padding_invariance(cfg, fill):
    layer = cfg.layer()
    X, init, d_out, d_state = _cast(cfg.data(), cfg.dtype)
    L = cfg.lengths
    out, state, dX, d_init, grads = _run(layer, X, L, init, d_out, d_state)
    assert out.dtype == cfg.dtype and dX.dtype == cfg.dtype
    assert np.isfinite(out).all() and np.isfinite(dX).all()
    tol = TIGHT[cfg.dtype]

    # other values in the padding of X and of d_out: bit-identical results
    rng = np.random.default_rng(cfg.seed + 1)
    X2, d_out2 = X.copy(), d_out.copy()
    for b, n in enumerate(L):
        if fill == "zeros":
            X2[b, n:], d_out2[b, n:] = 0, 0
        elif fill == "huge":
            X2[b, n:], d_out2[b, n:] = 1e30, -1e30
        else:
            X2[b, n:] = rng.standard_normal(X2[b, n:].shape)
            d_out2[b, n:] = rng.standard_normal(d_out2[b, n:].shape)
    again = _run(layer, X2, L, init, d_out2, d_state)
    assert np.array_equal(out, again[0]) and np.array_equal(dX, again[2])
    for a, b in zip(state + d_init, again[1] + again[3]):
        assert np.array_equal(a, b)
    for k in grads:
        assert np.array_equal(grads[k], again[4][k]), k

    # each sample alone, without padding: the same results; the batch's
    # parameter gradients are the sum of the samples' ones
    summed = {k: np.zeros(v.shape) for k, v in grads.items()}
    for b, n in enumerate(L):
        assert np.all(out[b, n:] == 0), "outputs on the padding must be exactly 0"
        assert np.all(dX[b, n:] == 0), "d_X on the padding must be exactly 0"
        sl = slice(b, b + 1)
        o1, s1, dX1, di1, g1 = _run(layer, X[sl, :n], None, _take(init, sl),
                                    d_out[sl, :n], _take(d_state, sl))
        assert rel_err(out[sl, :n], o1) < tol
        assert rel_err(dX[sl, :n], dX1) < tol
        for a, a1 in zip(state + d_init, s1 + di1):
            assert rel_err(a[:, sl], a1) < tol
        for k in summed:
            summed[k] += g1[k]
    for k in grads:
        assert rel_err(grads[k], summed[k]) < tol, k


@PROPERTY
@given(cfg=configs(), data=st.data())
def test_batch_order_invariance(cfg, data):
    perm = np.array(data.draw(st.permutations(range(cfg.B)), label="perm"), dtype=np.intp)
    layer = cfg.layer()
    X, init, d_out, d_state = _cast(cfg.data(), cfg.dtype)
    L = cfg.lengths
    out, state, dX, d_init, grads = _run(layer, X, L, init, d_out, d_state)
    out_p, state_p, dX_p, d_init_p, grads_p = _run(
        layer, X[perm], L[perm], _take(init, perm), d_out[perm], _take(d_state, perm))
    tol = TIGHT[cfg.dtype]
    assert rel_err(out_p, out[perm]) < tol
    assert rel_err(dX_p, dX[perm]) < tol
    for a, a_p in zip(state + d_init, state_p + d_init_p):
        assert rel_err(a_p, a[:, perm]) < tol
    for k in grads:
        assert rel_err(grads_p[k], grads[k]) < tol, k


@PROPERTY
@given(cfg=configs(dtypes=(np.float32,)), eval_mode=st.booleans())
def test_float32_agrees_with_float64(cfg, eval_mode):
    f32 = cfg.layer(np.float32)
    f64 = cfg.layer(np.float64)
    f64.load_state_dict(f32.state_dict())          # the same float32 values
    X, init, d_out, d_state = cfg.data(garbage=10)
    if eval_mode:
        o32, s32 = f32.eval().forward(X, cfg.lengths, _cast(init, np.float32))
        o64, s64 = f64.eval().forward(X, cfg.lengths, init)
        assert o32.dtype == np.float32 and o64.dtype == np.float64
        assert rel_err(o32, o64) < F32_VS_F64
        for a, b in zip(flat_state(s32), flat_state(s64)):
            assert a.dtype == np.float32 and rel_err(a, b) < F32_VS_F64
        return
    r32 = _run(f32, X, cfg.lengths, init, d_out, d_state)   # float64 input: converted
    r64 = _run(f64, X, cfg.lengths, init, d_out, d_state)
    assert r32[0].dtype == np.float32 and r32[2].dtype == np.float32
    assert rel_err(r32[0], r64[0]) < F32_VS_F64
    assert rel_err(r32[2], r64[2]) < F32_VS_F64
    for a, b in zip(r32[1] + r32[3], r64[1] + r64[3]):
        assert a.dtype == np.float32 and rel_err(a, b) < F32_VS_F64
    for k in r64[4]:
        assert r32[4][k].dtype == np.float32
        assert rel_err(r32[4][k], r64[4][k]) < F32_VS_F64, k


# --------------------------------------------------- bidirectional = 2 scans
def _reverse_within(a, lengths):
    """Reverse each sample's first lengths[b] steps; the padding stays put."""
    out = a.copy()
    for b, n in enumerate(lengths):
        out[b, :n] = a[b, :n][::-1]
    return out


def _merge(mode, f, b):
    return {"concat": lambda: np.concatenate([f, b], axis=-1), "sum": lambda: f + b,
            "mul": lambda: f * b, "ave": lambda: (f + b) * f.dtype.type(0.5)}[mode]()


def _unmerge(mode, d, f, b, H):
    if mode == "concat":
        return d[..., :H], d[..., H:]
    if mode == "sum":
        return d, d
    if mode == "mul":
        return d * b, d * f
    half = d * d.dtype.type(0.5)
    return half, half


def _one_scan(cfg, layer, k, d, input_size):
    """A unidirectional one-layer layer holding the weights of layer k, direction d."""
    single = make_layer(cfg.variant, input_size, cfg.H, 1, False, cfg.dtype)
    sfx = f"_l{k}" + ("_reverse" if d else "")
    sd = layer.state_dict()
    # single's names end in "_l0": weight_ih_l0 <- weight_ih_l{k}[_reverse]
    single.load_state_dict({name: sd[name[:-len("_l0")] + sfx] for name in single.state_dict()})
    return single


def _row(state, i):
    """Row i of a state (L*D, B, H) as a (1, B, H) state of a one-layer scan."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[i:i + 1] for s in state)
    return state[i:i + 1]


@PROPERTY
@given(cfg=configs(bidirectional=True))
def test_bidirectional_is_two_unidirectional_scans(cfg):
    layer = cfg.layer()
    X, init, d_out, d_state = _cast(cfg.data(), cfg.dtype)
    L, H = cfg.lengths, cfg.P
    out, state, dX, d_init, grads = _run(layer, X, L, init, d_out, d_state)

    # forward through the decomposition
    scans, cache, inp, states = [], [], X, []
    for k in range(cfg.num_layers):
        size = cfg.I if k == 0 else cfg.out_size
        fwd, bwd = _one_scan(cfg, layer, k, 0, size), _one_scan(cfg, layer, k, 1, size)
        f_out, f_state = fwd.forward(inp, L, _row(init, 2 * k))
        b_rev, b_state = bwd.forward(_reverse_within(inp, L), L, _row(init, 2 * k + 1))
        b_out = _reverse_within(b_rev, L)
        scans.append((fwd, bwd))
        cache.append((f_out, b_out))
        states += [flat_state(f_state), flat_state(b_state)]
        inp = _merge(cfg.merge_mode, f_out, b_out)
    tol = TIGHT[cfg.dtype]
    assert rel_err(out, inp) < tol
    for part, s in enumerate(state):                   # h_n, then c_n
        for i in range(2 * cfg.num_layers):
            assert rel_err(s[i], states[i][part][0]) < tol, f"state row {i}"

    # backward through the decomposition, last layer first (each one-layer
    # scan still holds the activations of its single forward)
    d = d_out
    for k in range(cfg.num_layers - 1, -1, -1):
        fwd, bwd = scans[k]
        f_out, b_out = cache[k]
        dF, dB = _unmerge(cfg.merge_mode, d, f_out, b_out, H)
        d_f, d_h0_f = fwd.backward(dF, _row(d_state, 2 * k))
        d_b_rev, d_h0_b = bwd.backward(_reverse_within(dB, L), _row(d_state, 2 * k + 1))
        d = d_f + _reverse_within(d_b_rev, L)
        for scan_d_init, i in ((d_h0_f, 2 * k), (d_h0_b, 2 * k + 1)):
            for part, s in enumerate(d_init):
                assert rel_err(s[i], flat_state(scan_d_init)[part][0]) < tol, f"d_init row {i}"
        for direction, scan in ((0, fwd), (1, bwd)):
            sfx = f"_l{k}" + ("_reverse" if direction else "")
            for name, g in scan.grads.items():
                full = name[:-len("_l0")] + sfx
                assert rel_err(grads[full], g) < tol, full
    assert rel_err(dX, d) < tol


# ------------------------------------------------------- the NumPy reference
@PROPERTY
@given(cfg=configs(dtypes=(np.float64,), merge=False))
def test_agrees_with_the_numpy_reference(cfg):
    layer = cfg.layer()
    ref = make_reference(cfg.variant, layer)
    X, init, d_out, d_state = cfg.data()
    got = _run(layer, X, cfg.lengths, init, d_out, d_state)
    ref_out, ref_state = ref.forward(X, lengths=cfg.lengths, initial_state=init)
    ref_dX, ref_d_init = ref.backward(d_out, d_state)
    assert rel_err(got[0], ref_out) < TIGHT[np.float64]
    assert rel_err(got[2], ref_dX) < TIGHT[np.float64]
    for a, b in zip(got[1] + got[3], flat_state(ref_state) + flat_state(ref_d_init)):
        assert rel_err(a, b) < TIGHT[np.float64]
    for k, g in ref.grads.items():
        assert rel_err(got[4][k], g) < TIGHT[np.float64], k


# ------------------------------------------------------------ gradient checks
def _eps(variant):
    # a smaller step for the ReLU RNN makes crossing a kink of the ReLU (where
    # central differences are wrong) much less likely
    return 1e-7 if variant == "rnn_relu" else EPS


def _directional(loss, x, v, eps):
    """(loss(x + eps v) - loss(x - eps v)) / (2 eps), x perturbed in place and restored."""
    x0 = x.copy()
    x[...] = x0 + eps * v
    up = loss()
    x[...] = x0 - eps * v
    down = loss()
    x[...] = x0
    return (up - down) / (2 * eps)


def _assert_close(name, numeric, analytic, scale):
    assert abs(numeric - analytic) <= GRAD_RTOL * max(1.0, scale), \
        f"{name}: numeric {numeric!r}, analytic {analytic!r}"


@GRADCHECK
@given(cfg=configs(dtypes=(np.float64,), max_B=3, max_T=5, max_H=3))
def test_layer_gradients_match_central_differences(cfg):
    layer = cfg.layer()
    X, init, R1, R_state = cfg.data()
    L = cfg.lengths
    layer.train().forward(X, L, init)
    dX, d_init = layer.backward(R1, R_state)
    g = layer.flat_grads.copy()
    assert np.isfinite(g).all() and np.isfinite(dX).all()
    eps = _eps(cfg.variant)

    def loss():
        out, state = layer.eval().forward(X, L, init)
        total = np.sum(out * R1)
        for s, r in zip(flat_state(state), flat_state(R_state)):
            total += np.sum(s * r)
        return total

    rng = np.random.default_rng(cfg.seed ^ 0x5EED)
    params = layer.flat_params
    # every parameter at once, along a random direction
    v = rng.standard_normal(params.size)
    _assert_close("params . v", _directional(loss, params, v, eps), g @ v, np.abs(g * v).sum())
    # a few single entries
    for i in rng.choice(params.size, size=min(6, params.size), replace=False):
        e = np.zeros(params.size)
        e[i] = 1.0
        _assert_close(f"flat_params[{i}]", _directional(loss, params, e, eps), g[i], abs(g[i]))
    # X along a random direction on the valid steps; the padding is never read
    valid = np.arange(cfg.T)[None, :, None] < L[:, None, None]
    vX = rng.standard_normal(X.shape) * valid
    _assert_close("X . v", _directional(loss, X, vX, eps), np.sum(dX * vX), np.abs(dX * vX).sum())
    pad = rng.standard_normal(X.shape) * ~valid
    assert _directional(loss, X, pad, 1.0) == 0.0, "the loss depends on the padding"
    assert np.all(dX[~np.broadcast_to(valid, X.shape)] == 0)
    # the initial state (h, and c for the LSTM)
    if init is not None:
        for label, s, ds in zip(("h_0", "c_0"), flat_state(init), flat_state(d_init)):
            vs = rng.standard_normal(s.shape)
            _assert_close(f"{label} . v", _directional(loss, s, vs, eps), np.sum(ds * vs),
                          np.abs(ds * vs).sum())


@st.composite
def network_cases(draw):
    cfg = draw(configs(dtypes=(np.float64,), max_B=4, max_T=5, max_H=3))
    loss = draw(st.sampled_from(["softmax", "sigmoid", "squared_error"]))
    return_sequences = draw(st.booleans())
    K = draw(st.integers(2 if loss == "softmax" else 1, 3))
    weighted = draw(st.booleans())
    return cfg, loss, return_sequences, K, weighted


@GRADCHECK
@given(case=network_cases())
def test_network_loss_gradient_matches_central_differences(case):
    cfg, loss_name, return_sequences, K, weighted = case
    cell = VARIANTS[cfg.variant][2].kind
    net = SequenceNetwork(cell, cfg.I, cfg.H, K, loss=loss_name,
                          return_sequences=return_sequences, num_layers=cfg.num_layers,
                          bidirectional=cfg.bidirectional, merge_mode=cfg.merge_mode,
                          dtype=np.float64, random_state=cfg.seed,
                          **variant_kwargs(cfg.variant, cfg.H))
    rng = np.random.default_rng(cfg.seed)
    X, _, _, _ = cfg.data()
    B, T = cfg.B, cfg.T
    lead = (B, T) if return_sequences else (B,)
    if loss_name == "softmax":
        Y = rng.integers(0, K, size=lead)
    elif loss_name == "sigmoid":
        Y = rng.integers(0, 2, size=lead + (K,)).astype(np.float64)
    else:
        Y = rng.standard_normal(lead + (K,))
    w = rng.uniform(0.1, 2.0, size=lead) if weighted else None
    L = cfg.lengths
    value = net.loss_and_gradient(X, L, Y, w)
    g = net.flat_grads.copy()
    assert np.isfinite(value) and np.isfinite(g).all()

    def loss():
        return net.loss_and_gradient(X, L, Y, w)

    v = rng.standard_normal(g.size)
    _assert_close("params . v", _directional(loss, net.flat_params, v, _eps(cfg.variant)),
                  g @ v, np.abs(g * v).sum())

"""Analytic gradients against central finite differences, float64.

Scalar loss: L = sum(outputs * R1) + sum(h_n * R2) (+ sum(c_n * R3) for the
LSTM), with fixed random R1, R2, R3.  ``backward(R1, R2 or (R2, R3))`` must
give dL/dX, dL/d(initial state) and dL/d(every parameter entry); each entry
is checked against (L(v + eps) - L(v - eps)) / (2 eps), eps = 1e-6.

Error, per array (a parameter tensor, X, h_0 or c_0), with a analytic and n
numeric:

    rel = ||a - n||_2 / max(1e-8, ||a||_2 + ||n||_2)   must be < 1e-6

and, per entry, |a - n| <= 1e-6 * max(1, max |n|) (the roundoff of a central
difference is about 1e-16 |L| / eps, so a per-entry *relative* bound cannot
hold for entries near zero).
"""

import numpy as np
import pytest

from conftest import (VARIANT_IDS, VARIANTS, flat_state, make_layer, pad_with,
                      random_state_like)
from reference import ReferenceStack

B, T, I, H = 3, 4, 2, 3
EPS = 1e-6
RTOL = 1e-6
LENGTHS = np.array([4, 1, 3])      # unsorted, with a sequence of length 1


def _rel(a, n):
    return np.linalg.norm(a - n) / max(1e-8, np.linalg.norm(a) + np.linalg.norm(n))


def _check(name, analytic, numeric):
    analytic, numeric = np.asarray(analytic), np.asarray(numeric)
    assert analytic.shape == numeric.shape, name
    rel = _rel(analytic, numeric)
    assert rel < RTOL, f"{name}: relative error {rel:.3g}"
    worst = np.max(np.abs(analytic - numeric)) / max(1.0, np.max(np.abs(numeric)))
    assert worst < RTOL, f"{name}: worst entry error {worst:.3g}"


def _numeric_grad(f, x):
    """Central differences of the scalar f() in every entry of the array x
    (perturbed in place and restored)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        v = x[idx]
        x[idx] = v + EPS
        up = f()
        x[idx] = v - EPS
        down = f()
        x[idx] = v
        g[idx] = (up - down) / (2 * EPS)
    return g


def _setup(variant, num_layers, bidirectional, with_lengths, with_init, seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(variant, I, H, num_layers, bidirectional, np.float64,
                       random_state=seed)
    X = rng.standard_normal((B, T, I))
    lengths = LENGTHS.copy() if with_lengths else None
    if with_lengths:
        X = pad_with(X, lengths, lambda s: 100 * rng.standard_normal(s))
    init = random_state_like(rng, layer, B) if with_init else None
    R1 = rng.standard_normal((B, T, layer.output_size))
    R_state = random_state_like(rng, layer, B, scale=1.0)
    return layer, X, lengths, init, R1, R_state


def _loss(out, state, R1, R_state):
    total = np.sum(out * R1)
    for s, r in zip(flat_state(state), flat_state(R_state)):
        total += np.sum(s * r)
    return total


def _gradcheck(impl, X, lengths, init, R1, R_state, param_names, load, params):
    """Check every gradient of ``impl`` (a seqcore layer or the reference)."""
    impl.forward(X, lengths=lengths, initial_state=init)
    dX, d_init = impl.backward(R1, R_state)
    grads = {k: np.array(v) for k, v in impl.grads.items()}
    assert set(grads) == set(param_names)

    def loss():
        load()
        return _loss(*impl.forward(X, lengths=lengths, initial_state=init), R1, R_state)

    checked = 0
    for name in param_names:
        _check(name, grads[name], _numeric_grad(loss, params[name]))
        checked += params[name].size
    nX = _numeric_grad(loss, X)
    _check("X", dX, nX)
    checked += X.size
    if lengths is not None:
        for b, n in enumerate(lengths):
            # padding is never read: exactly zero, analytically and numerically
            assert np.all(dX[b, n:] == 0), f"d_X on the padding of sample {b}"
            assert np.all(nX[b, n:] == 0), f"the loss depends on the padding of sample {b}"
    if init is not None:
        for label, s, ds in zip(("h_0", "c_0"), flat_state(init), flat_state(d_init)):
            _check(label, ds, _numeric_grad(loss, s))
            checked += s.size
    return checked


def _gradcheck_layer(layer, X, lengths, init, R1, R_state):
    params = layer.state_dict()           # perturbed in place, loaded before each forward
    n = _gradcheck(layer, X, lengths, init, R1, R_state, list(params),
                   lambda: layer.load_state_dict(params), params)
    assert n == X.size + sum(p.size for p in params.values()) + (
        0 if init is None else sum(s.size for s in flat_state(init)))


@pytest.mark.parametrize("with_init", [False, True], ids=["zero_init", "given_init"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_gradcheck_one_layer(variant, bidirectional, with_lengths, with_init):
    seed = 200 + VARIANT_IDS.index(variant) * 8 + bidirectional * 4 + with_lengths * 2 + with_init
    _gradcheck_layer(*_setup(variant, 1, bidirectional, with_lengths, with_init, seed))


@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_gradcheck_two_layer_bidirectional(variant):
    seed = 300 + VARIANT_IDS.index(variant)
    _gradcheck_layer(*_setup(variant, 2, True, True, True, seed))


@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_gradcheck_reference_itself(variant):
    """The oracle's own hand-written BPTT against finite differences."""
    layer, X, lengths, init, R1, R_state = _setup(variant, 2, True, True, True, seed=400)
    ref = ReferenceStack(VARIANTS[variant][2], layer.state_dict(), num_layers=2,
                         bidirectional=True)
    # ref.params is what forward reads: perturb it directly
    _gradcheck(ref, X, lengths, init, R1, R_state, list(ref.params),
               lambda: None, ref.params)


@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_gradcheck_through_dropout(variant):
    """Dropout between layers, training mode.  ``random_state`` seeds the
    weights and then the masks, so a fresh layer with the same seed draws the
    same mask on its first forward: every evaluation of the loss uses one."""
    seed = 350 + VARIANT_IDS.index(variant)
    _, X, lengths, init, R1, R_state = _setup(variant, 2, True, True, True, seed)

    def fresh():
        return make_layer(variant, I, H, 2, True, np.float64, random_state=seed,
                          dropout=0.4)

    layer = fresh()
    params = layer.state_dict()
    out, _ = layer.forward(X, lengths=lengths, initial_state=init)
    no_drop, _ = fresh().eval().forward(X, lengths=lengths, initial_state=init)
    assert not np.allclose(out, no_drop), "the dropout mask changed nothing"
    dX, d_init = layer.backward(R1, R_state)
    grads = {k: v.copy() for k, v in layer.grads.items()}

    def loss():
        f = fresh()
        f.load_state_dict(params)
        return _loss(*f.forward(X, lengths=lengths, initial_state=init), R1, R_state)

    for name in params:
        _check(name, grads[name], _numeric_grad(loss, params[name]))
    _check("X", dX, _numeric_grad(loss, X))
    for label, s, ds in zip(("h_0", "c_0"), flat_state(init), flat_state(d_init)):
        _check(label, ds, _numeric_grad(loss, s))


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_gradcheck_merge_modes(variant, merge_mode):
    """Bidirectional stacks whose directions are merged other than by concat
    (outputs (B, T, H); layer 1 reads the merged (B, T, H))."""
    seed = 380 + VARIANT_IDS.index(variant)
    rng = np.random.default_rng(seed)
    layer = make_layer(variant, I, H, 2, True, np.float64, random_state=seed,
                       merge_mode=merge_mode)
    X = pad_with(rng.standard_normal((B, T, I)), LENGTHS, np.ones)
    init = random_state_like(rng, layer, B)
    P = layer.state_size
    R1 = rng.standard_normal((B, T, P))
    R_state = random_state_like(rng, layer, B, scale=1.0)
    assert layer.forward(X, lengths=LENGTHS)[0].shape == (B, T, P)
    assert layer.state_dict()["weight_ih_l1"].shape[1] == P
    _gradcheck_layer(layer, X, LENGTHS.copy(), init, R1, R_state)


def test_relu_gradient_is_zero_where_inactive():
    """ReLU RNN: the derivative is 0 for a negative pre-activation (all biases
    very negative: every unit off, so no gradient reaches weights or input)."""
    layer = make_layer("rnn_relu", I, H, dtype=np.float64)
    params = layer.state_dict()
    params["bias_ih_l0"][:] = -100.0
    layer.load_state_dict(params)
    X = np.random.default_rng(0).standard_normal((B, T, I))
    out, h_n = layer.forward(X)
    assert np.all(out == 0) and np.all(h_n == 0)
    dX, dh0 = layer.backward(np.ones_like(out), np.ones_like(h_n))
    assert np.all(dX == 0) and np.all(dh0 == 0)
    assert all(np.all(g == 0) for g in layer.grads.values())

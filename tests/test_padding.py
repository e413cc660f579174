"""Padding, batch order, dtype and mode invariances of seqcore.nn layers.

* A padded batch with ``lengths`` gives, per sample, what the sequence alone
  gives: outputs, final state, d_X, initial-state gradients; the batch's
  parameter gradients are the sum of the per-sequence ones.  The padding is
  filled with large random values; it must never be read, so other garbage
  (or zeros) gives bit-identical results, and the outputs and d_X at padded
  positions are exactly 0.
* Permuting the batch permutes the results.
* float32 and float64 layers with the same weights agree to float32
  tolerance; inference mode (``eval()``) gives bit-identical forward results.

Comparisons that involve a different BLAS problem size (a sample alone, a
permuted batch) can round differently, so they use ``conftest.rel_err``
with 1e-12 (float64) / 1e-5 (float32); everything else is exact.
"""

import numpy as np
import pytest

from conftest import (DTYPES, TOL, VARIANT_IDS, cast_state, flat_state,
                      make_layer, pad_with, random_lengths, random_state_like,
                      rel_err)

B, T, I, H = 6, 8, 3, 4
STACKS = [pytest.param(1, False, id="L1_uni"), pytest.param(2, True, id="L2_bi")]
TIGHT = {np.float64: 1e-12, np.float32: 1e-5}


def _data(layer, seed, garbage_scale=1e4):
    rng = np.random.default_rng(seed)
    dtype = layer.dtype
    lengths = random_lengths(rng, B, T)
    X = rng.standard_normal((B, T, I))
    X = pad_with(X, lengths, lambda s: garbage_scale * rng.standard_normal(s)).astype(dtype)
    init = cast_state(random_state_like(rng, layer, B), dtype)
    d_out = rng.standard_normal((B, T, layer.output_size)).astype(dtype)
    d_state = cast_state(random_state_like(rng, layer, B, scale=1.0), dtype)
    return X, lengths, init, d_out, d_state


def _take(state, idx):
    """Samples idx (a slice or index array) of a state: axis 1."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s[:, idx] for s in state)
    return state[:, idx]


def _run(layer, X, lengths, init, d_out, d_state):
    out, state = layer.forward(X, lengths=lengths, initial_state=init)
    dX, d_init = layer.backward(d_out, d_state)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    return out, flat_state(state), dX, flat_state(d_init), grads


@pytest.mark.parametrize("num_layers,bidirectional", STACKS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_batch_equals_each_sequence_alone(variant, dtype, num_layers, bidirectional):
    layer = make_layer(variant, I, H, num_layers, bidirectional, dtype, random_state=3)
    X, lengths, init, d_out, d_state = _data(layer, seed=VARIANT_IDS.index(variant))
    out, state, dX, d_init, grads = _run(layer, X, lengths, init, d_out, d_state)
    tol = TIGHT[dtype]

    summed = {k: np.zeros(v.shape) for k, v in grads.items()}
    for b, n in enumerate(lengths):
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
    for k, g in grads.items():
        assert rel_err(g, summed[k]) < tol, k


@pytest.mark.parametrize("num_layers,bidirectional", STACKS)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_padding_values_are_never_read(variant, num_layers, bidirectional):
    """Different garbage (and zeros, and the padding of d_outputs) in the padding:
    bit-identical results."""
    layer = make_layer(variant, I, H, num_layers, bidirectional, np.float64, random_state=4)
    X, lengths, init, d_out, d_state = _data(layer, seed=20)
    first = _run(layer, X, lengths, init, d_out, d_state)
    rng = np.random.default_rng(21)
    for fill in (lambda s: 1e6 * rng.standard_normal(s), np.zeros,
                 lambda s: np.full(s, -3e5)):
        X2 = pad_with(X, lengths, fill)
        d_out2 = pad_with(d_out, lengths, fill)
        again = _run(layer, X2, lengths, init, d_out2, d_state)
        for a, b in zip(first[:2] + first[2:4], again[:2] + again[2:4]):
            if isinstance(a, tuple):
                assert all(np.array_equal(x, y) for x, y in zip(a, b))
            else:
                assert np.array_equal(a, b)
        for k in first[4]:
            assert np.array_equal(first[4][k], again[4][k]), k


@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_full_lengths_equal_no_lengths(variant):
    layer = make_layer(variant, I, H, 2, True, np.float64, random_state=5)
    X, _, init, d_out, d_state = _data(layer, seed=30)
    a = _run(layer, X, None, init, d_out, d_state)
    b = _run(layer, X, np.full(B, T), init, d_out, d_state)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    for x, y in zip(a[1] + a[3], b[1] + b[3]):
        assert np.array_equal(x, y)
    for k in a[4]:
        assert np.array_equal(a[4][k], b[4][k]), k


@pytest.mark.parametrize("num_layers,bidirectional", STACKS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_batch_order_invariance(variant, dtype, num_layers, bidirectional):
    layer = make_layer(variant, I, H, num_layers, bidirectional, dtype, random_state=6)
    X, lengths, init, d_out, d_state = _data(layer, seed=40)
    perm = np.random.default_rng(41).permutation(B)
    out, state, dX, d_init, grads = _run(layer, X, lengths, init, d_out, d_state)
    out_p, state_p, dX_p, d_init_p, grads_p = _run(
        layer, X[perm], lengths[perm], _take(init, perm), d_out[perm], _take(d_state, perm))
    tol = TIGHT[dtype]
    assert rel_err(out_p, out[perm]) < tol
    assert rel_err(dX_p, dX[perm]) < tol
    for a, a_p in zip(state + d_init, state_p + d_init_p):
        assert rel_err(a_p, a[:, perm]) < tol
    for k in grads:
        assert rel_err(grads_p[k], grads[k]) < tol, k


@pytest.mark.parametrize("num_layers,bidirectional", STACKS)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_float32_agrees_with_float64(variant, num_layers, bidirectional):
    f32 = make_layer(variant, I, H, num_layers, bidirectional, np.float32, random_state=7)
    f64 = make_layer(variant, I, H, num_layers, bidirectional, np.float64, random_state=8)
    f64.load_state_dict(f32.state_dict())
    X, lengths, init, d_out, d_state = _data(f32, seed=50, garbage_scale=10)
    r32 = _run(f32, X, lengths, init, d_out, d_state)
    r64 = _run(f64, X, lengths, init, d_out, d_state)   # the same float32 values
    assert r32[0].dtype == np.float32 and r64[0].dtype == np.float64
    assert rel_err(r32[0], r64[0]) < TOL[np.float32]
    assert rel_err(r32[2], r64[2]) < TOL[np.float32]
    for a, b in zip(r32[1] + r32[3], r64[1] + r64[3]):
        assert a.dtype == np.float32
        assert rel_err(a, b) < TOL[np.float32]
    for k in r64[4]:
        assert r32[4][k].dtype == np.float32
        assert rel_err(r32[4][k], r64[4][k]) < TOL[np.float32], k


@pytest.mark.parametrize("num_layers,bidirectional", STACKS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_eval_forward_equals_train_forward(variant, dtype, num_layers, bidirectional):
    layer = make_layer(variant, I, H, num_layers, bidirectional, dtype, random_state=9)
    X, lengths, init, _, _ = _data(layer, seed=60)
    for lens, st in [(lengths, init), (None, None)]:
        out_t, state_t = layer.train().forward(X, lengths=lens, initial_state=st)
        out_e, state_e = layer.eval().forward(X, lengths=lens, initial_state=st)
        assert not layer.training
        assert np.array_equal(out_t, out_e)
        for a, b in zip(flat_state(state_t), flat_state(state_e)):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("variant", ["rnn_tanh", "gru", "lstm"])
def test_dropout_is_off_in_eval_and_for_one_layer(variant):
    """dropout acts only between layers and only in training mode."""
    base = make_layer(variant, I, H, 2, True, np.float64, random_state=10)
    cls = type(base)
    drop = cls(I, H, 2, bidirectional=True, dropout=0.5, dtype=np.float64, random_state=11)
    drop.load_state_dict(base.state_dict())
    X, lengths, init, _, _ = _data(base, seed=70)
    out_b, _ = base.eval().forward(X, lengths=lengths, initial_state=init)
    out_d, _ = drop.eval().forward(X, lengths=lengths, initial_state=init)
    assert np.array_equal(out_b, out_d)
    out_tr, _ = drop.train().forward(X, lengths=lengths, initial_state=init)
    assert not np.allclose(out_tr, out_b), "dropout had no effect in training mode"
    for b, n in enumerate(lengths):
        assert np.all(out_tr[b, n:] == 0)

    one = cls(I, H, 1, dropout=0.5, dtype=np.float64, random_state=12)
    one_ref = cls(I, H, 1, dtype=np.float64, random_state=12)
    assert np.array_equal(one.forward(X, lengths=lengths)[0],
                          one_ref.forward(X, lengths=lengths)[0])

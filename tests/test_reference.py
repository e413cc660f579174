"""seqcore.nn against the plain NumPy reference (tests/reference.py).

Every cell and variant, float64 and float32, 1 and 2 layers, uni- and
bidirectional, with and without lengths and initial states.  Compared:
outputs, final states, d_X, initial-state gradients and every parameter
gradient.  The reference runs in float64 on the layer's own parameters and on
the same (dtype-rounded) inputs; the error is ``conftest.rel_err``
(max abs difference over max(1, max |reference|)), below 1e-10 in float64 and
1e-5 in float32.
"""

import numpy as np
import pytest

from conftest import (DTYPES, TOL, VARIANT_IDS, cast_state, make_layer,
                      make_reference, pad_with, random_lengths,
                      random_state_like, rel_err, run_both)

B, T, I, H = 5, 6, 3, 4


def _case(variant, dtype, num_layers, bidirectional, with_lengths, with_init, seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(variant, I, H, num_layers, bidirectional, dtype, random_state=seed)
    ref = make_reference(variant, layer)
    X = rng.standard_normal((B, T, I))
    lengths = random_lengths(rng, B, T) if with_lengths else None
    if lengths is not None:
        X = pad_with(X, lengths, lambda s: 10 * rng.standard_normal(s))
    init = random_state_like(rng, layer, B) if with_init else None
    d_out = rng.standard_normal((B, T, layer.output_size))
    d_state = random_state_like(rng, layer, B, scale=1.0)
    # the same rounded values go to both implementations
    X = X.astype(dtype)
    init, d_out, d_state = (cast_state(a, dtype) for a in (init, d_out, d_state))
    return layer, ref, X, lengths, init, d_out, d_state


@pytest.mark.parametrize("with_init", [False, True], ids=["zero_init", "given_init"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_matches_reference(variant, dtype, num_layers, bidirectional, with_lengths,
                           with_init):
    seed = 1000 + VARIANT_IDS.index(variant) * 16 + num_layers * 8 + bidirectional * 4 \
        + with_lengths * 2 + with_init
    case = _case(variant, dtype, num_layers, bidirectional, with_lengths, with_init, seed)
    layer = case[0]
    got, want = run_both(*case)
    assert set(got) == set(want)
    assert {k for k in got if k.startswith("grad:")} == {"grad:" + k for k in layer.state_dict()}
    for name in want:
        assert got[name].dtype == dtype, name
        err = rel_err(got[name], want[name])
        assert err < TOL[dtype], f"{name}: error {err:.3g}"
    # padding: outputs exactly 0, d_X exactly 0
    _, _, _, lengths, *_ = case
    if lengths is not None:
        for b, n in enumerate(lengths):
            assert np.all(got["outputs"][b, n:] == 0)
            assert np.all(got["d_X"][b, n:] == 0)


@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_reference_backward_without_cotangents(variant):
    """backward(None, None) gives all-zero gradients in both implementations;
    only-outputs and only-state cotangents each match the reference."""
    case = list(_case(variant, np.float64, 2, True, True, True, seed=7))
    layer, ref, X, lengths, init, d_out, d_state = case
    got, want = run_both(layer, ref, X, lengths, init, None, None)
    for name in want:
        if name.startswith(("grad:", "d_")):
            assert np.all(got[name] == 0), name
            assert np.all(want[name] == 0), name
    for cot in [(d_out, None), (None, d_state)]:
        got, want = run_both(layer, ref, X, lengths, init, *cot)
        for name in want:
            err = rel_err(got[name], want[name])
            assert err < TOL[np.float64], f"{name}: error {err:.3g}"


@pytest.mark.parametrize("variant", ["lstm", "lstm_peephole"])
def test_lstm_partial_state_gradient(variant):
    """An LSTM d_state may give only one of (dh_n, dc_n); the other counts as 0."""
    layer, ref, X, lengths, init, d_out, (dh, dc) = _case(
        variant, np.float64, 1, True, True, True, seed=11)
    for d_state in [(dh, None), (None, dc)]:
        got, want = run_both(layer, ref, X, lengths, init, d_out, d_state)
        for name in want:
            err = rel_err(got[name], want[name])
            assert err < TOL[np.float64], f"{name}: error {err:.3g}"


EDGE_SIZES = [
    # B, T, I, H, lengths
    pytest.param(1, 1, 1, 1, None, id="B1_T1_I1_H1"),
    pytest.param(1, 6, 2, 3, [4], id="B1_one_padded_sequence"),
    pytest.param(4, 1, 2, 3, None, id="T1"),
    pytest.param(3, 5, 1, 1, [2, 5, 1], id="I1_H1"),
    pytest.param(3, 6, 2, 3, [2, 2, 2], id="all_shorter_than_T"),
    pytest.param(4, 5, 2, 3, [1, 1, 1, 1], id="all_length_1"),
    pytest.param(2, 4, 3, 9, [3, 1], id="H_gt_B_T_I"),
]


@pytest.mark.parametrize("Bs,Ts,Is,Hs,lengths", EDGE_SIZES)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_edge_sizes(variant, Bs, Ts, Is, Hs, lengths):
    rng = np.random.default_rng(31)
    layer = make_layer(variant, Is, Hs, 2, True, np.float64, random_state=32)
    ref = make_reference(variant, layer)
    X = rng.standard_normal((Bs, Ts, Is))
    init = random_state_like(rng, layer, Bs)
    d_out = rng.standard_normal((Bs, Ts, layer.output_size))
    d_state = random_state_like(rng, layer, Bs, scale=1.0)
    lengths = None if lengths is None else np.array(lengths)
    got, want = run_both(layer, ref, X, lengths, init, d_out, d_state)
    for name in want:
        err = rel_err(got[name], want[name])
        assert err < TOL[np.float64], f"{name}: error {err:.3g}"


@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_backward_overwrites_gradients(variant):
    """Two backward calls after one forward give the same gradients (written,
    not accumulated); a forward on other data then a backward gives that
    data's gradients."""
    layer, ref, X, lengths, init, d_out, d_state = _case(
        variant, np.float64, 2, True, True, True, seed=41)
    layer.forward(X, lengths=lengths, initial_state=init)
    first = layer.backward(d_out, d_state)[0], {k: v.copy() for k, v in layer.grads.items()}
    second = layer.backward(d_out, d_state)[0], {k: v.copy() for k, v in layer.grads.items()}
    assert np.array_equal(first[0], second[0])
    for k in first[1]:
        assert np.array_equal(first[1][k], second[1][k]), k
    got, want = run_both(layer, ref, X[::-1].copy(), lengths[::-1].copy(),
                         None, d_out, None)
    for name in want:
        assert rel_err(got[name], want[name]) < TOL[np.float64], name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_saturated_gates(variant, dtype):
    """Large weights and inputs saturate every gate: no overflow, and the
    tiny gradients still match.  In float32 the derivative 1 - h*h of a
    saturated unit is known only to about 1e-7 absolute, and the weight
    gradients multiply it by inputs 50x larger than elsewhere: the float32
    tolerance is scaled by that factor (torch, computing the same way, is
    matched at 1e-5 in test_torch_parity.py)."""
    layer, ref, X, lengths, init, d_out, d_state = _case(
        variant, dtype, 2, True, True, True, seed=51)
    layer.load_state_dict({k: 3 * v for k, v in layer.state_dict().items()})
    ref = make_reference(variant, layer)
    X = (50 * X).astype(dtype)
    tol = TOL[dtype] * (50 if dtype == np.float32 else 1)
    got, want = run_both(layer, ref, X, lengths, init, d_out, d_state)
    for name in want:
        assert np.all(np.isfinite(got[name])), name
        err = rel_err(got[name], want[name])
        assert err < tol, f"{name}: error {err:.3g}"


def test_every_kind_of_the_descriptor_table_has_a_reference_and_variants():
    """A kind added to seqcore.nn.CELLS without a reference step, variants or
    a layer class fails here (the parametrized tests then cover it)."""
    import seqcore.nn
    from reference import GATES, CellSpec, step_forward
    from seqcore.nn import CELLS

    for name, cell in CELLS.items():
        assert cell.variants, f"{name} has no variants for the tests"
        assert name in GATES, f"the reference has no {name} cell"
        layer_class = getattr(seqcore.nn, cell.layer)
        assert layer_class._cell is cell
        for options in cell.variants.values():
            layout = cell.layout(cell.check_options(options))
            assert layout.G == GATES[name] == len(cell.gates) == len(cell.activations)
            assert layout.n_states == len(cell.states)
            spec = CellSpec(name, **options)
            H, rng = 3, np.random.default_rng(0)
            P = options.get("proj_size", 0) or H
            p = {"W_ih": rng.standard_normal((layout.G * H, 2)),
                 "W_hh": rng.standard_normal((layout.G * H, P)),
                 "b_ih": np.zeros(layout.G * H), "b_hh": np.zeros(layout.G * H),
                 "peep": np.zeros((3, H)), "W_hr": rng.standard_normal((P, H))}
            h, c, _ = step_forward(spec, p, np.ones(2), np.zeros(P), np.zeros(H))
            assert h.shape == (P,) and (c is None) == (layout.n_states == 1)


# issue 22, item 2: the state's size P need not divide the gates' 4 * H rows
PROJECTIONS = [(5, 3), (7, 2), (7, 3), (5, 4), (6, 4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden, proj", PROJECTIONS, ids=[f"H{h}_P{p}" for h, p in PROJECTIONS])
def test_projection_of_any_size_matches_reference(hidden, proj, dtype):
    """LSTM(proj_size=P) for every P < H, 4 * H a multiple of P or not:
    forward and every gradient against the reference, ragged and bidirectional."""
    import seqcore.nn

    rng = np.random.default_rng(hidden * 10 + proj)
    layer = seqcore.nn.LSTM(I, hidden, 2, bidirectional=True, proj_size=proj, dtype=dtype,
                            random_state=3)
    assert layer.params["weight_hh_l0"].shape == (4 * hidden, proj)
    ref = make_reference("lstm_proj", layer)
    assert ref.P == proj and ref.H == hidden
    lengths = random_lengths(rng, B, T)
    X = pad_with(rng.standard_normal((B, T, I)), lengths, lambda s: rng.standard_normal(s))
    init = cast_state(random_state_like(rng, layer, B), dtype)
    d_out = cast_state(rng.standard_normal((B, T, layer.output_size)), dtype)
    d_state = cast_state(random_state_like(rng, layer, B, scale=1.0), dtype)
    got, want = run_both(layer, ref, X.astype(dtype), lengths, init, d_out, d_state)
    assert got["outputs"].shape == (B, T, 2 * proj)
    for name in want:
        err = rel_err(got[name], want[name])
        assert err < TOL[dtype], f"{name}: error {err:.3g}"

"""seqcore.nn against torch.nn.RNN / GRU / LSTM (batch_first=True).

Weights go across by name through ``state_dict``; ragged batches go to torch
as ``pack_padded_sequence(..., enforce_sorted=False)``.  Compared: outputs,
final states and the gradients of L = sum(outputs * R1) + sum(h_n * R2)
(+ sum(c_n * R3)) on every parameter, the input and the initial states.
Error: ``conftest.rel_err`` (max abs difference over max(1, max |torch|)),
below 1e-10 in float64 and 1e-5 in float32.

The GRU with reset_after=False and the peephole LSTM have no torch
counterpart; tests/test_reference.py and tests/test_gradcheck.py cover them.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from conftest import (DTYPES, TOL, flat_state, is_lstm, make_layer,  # noqa: E402
                      pad_with, random_lengths, random_state_like, rel_err)

B, T, I, H = 5, 7, 3, 4
TORCH_VARIANTS = ["rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj"]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def torch_module(variant, layer, copy_weights=True):
    """The torch module of the same architecture, with the layer's weights
    (or torch's own random ones)."""
    kwargs = dict(num_layers=layer.num_layers, bidirectional=layer.bidirectional,
                  batch_first=True, dtype=TORCH_DTYPE[layer.dtype])
    if variant.startswith("rnn"):
        m = torch.nn.RNN(layer.input_size, layer.hidden_size,
                         nonlinearity=variant.split("_")[1], **kwargs)
    elif variant == "gru":
        m = torch.nn.GRU(layer.input_size, layer.hidden_size, **kwargs)
    else:
        m = torch.nn.LSTM(layer.input_size, layer.hidden_size,
                          proj_size=layer.state_size if layer._proj else 0, **kwargs)
    if copy_weights:
        m.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    return m


def torch_run(m, X, lengths, init, R1, R_state):
    """Forward + backward of the scalar loss in torch; NumPy results by name."""
    Xt = torch.tensor(X, requires_grad=True)
    init_t = None
    if init is not None:
        init_t = tuple(torch.tensor(s, requires_grad=True) for s in flat_state(init))
    hx = None if init_t is None else (init_t if len(init_t) == 2 else init_t[0])
    if lengths is None:
        out, state = m(Xt, hx)
    else:
        packed = pack_padded_sequence(Xt, torch.as_tensor(lengths, dtype=torch.int64),
                                      batch_first=True, enforce_sorted=False)
        out, state = m(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    state = state if isinstance(state, tuple) else (state,)
    loss = (out * torch.from_numpy(R1)).sum()
    for s, r in zip(state, flat_state(R_state)):
        loss = loss + (s * torch.from_numpy(r)).sum()
    m.zero_grad()
    loss.backward()
    r = {"outputs": out.detach().numpy(), "d_X": Xt.grad.numpy()}
    for name, s in zip(("h_n", "c_n"), state):
        r[name] = s.detach().numpy()
    if init_t is not None:
        for name, s in zip(("d_h0", "d_c0"), init_t):
            r[name] = s.grad.numpy()
    for name, p in m.named_parameters():
        r["grad:" + name] = p.grad.numpy()
    return r


def seqcore_run(layer, X, lengths, init, R1, R_state):
    out, state = layer.forward(X, lengths=lengths, initial_state=init)
    dX, d_init = layer.backward(R1, R_state)
    r = {"outputs": out, "d_X": dX}
    for name, s in zip(("h_n", "c_n"), flat_state(state)):
        r[name] = s
    if init is not None:
        for name, s in zip(("d_h0", "d_c0"), flat_state(d_init)):
            r[name] = s
    for name, g in layer.grads.items():
        r["grad:" + name] = np.array(g)
    return r


def _case(variant, dtype, num_layers, bidirectional, with_lengths, with_init, seed):
    rng = np.random.default_rng(seed)
    layer = make_layer(variant, I, H, num_layers, bidirectional, dtype, random_state=seed)
    X = rng.standard_normal((B, T, I))
    lengths = random_lengths(rng, B, T) if with_lengths else None
    if with_lengths:
        X = pad_with(X, lengths, lambda s: 10 * rng.standard_normal(s))
    init = random_state_like(rng, layer, B) if with_init else None
    R1 = rng.standard_normal((B, T, layer.output_size))
    R_state = random_state_like(rng, layer, B, scale=1.0)
    cast = (lambda s: None if s is None else
            tuple(a.astype(dtype) for a in s) if isinstance(s, tuple) else s.astype(dtype))
    return layer, X.astype(dtype), lengths, cast(init), R1.astype(dtype), cast(R_state)


@pytest.mark.parametrize("with_init", [False, True], ids=["zero_init", "given_init"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", TORCH_VARIANTS)
def test_matches_torch(variant, dtype, num_layers, bidirectional, with_lengths, with_init):
    seed = 500 + TORCH_VARIANTS.index(variant) * 16 + num_layers * 8 + bidirectional * 4 \
        + with_lengths * 2 + with_init
    layer, X, lengths, init, R1, R_state = _case(
        variant, dtype, num_layers, bidirectional, with_lengths, with_init, seed)
    want = torch_run(torch_module(variant, layer), X, lengths, init, R1, R_state)
    got = seqcore_run(layer, X, lengths, init, R1, R_state)
    assert set(got) == set(want)
    for name in want:
        assert got[name].dtype == dtype, name
        err = rel_err(got[name], want[name])
        assert err < TOL[dtype], f"{name}: error {err:.3g}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("variant", TORCH_VARIANTS)
def test_saturated_gates_match_torch(variant, dtype):
    """Inputs 50x larger than usual drive every gate into saturation: the
    activations must neither overflow nor lose the (tiny) gradients."""
    layer, X, lengths, init, R1, R_state = _case(variant, dtype, 2, True, True, True, seed=77)
    params = {k: 3 * v for k, v in layer.state_dict().items()}
    layer.load_state_dict(params)
    X = (50 * X).astype(dtype)
    want = torch_run(torch_module(variant, layer), X, lengths, init, R1, R_state)
    got = seqcore_run(layer, X, lengths, init, R1, R_state)
    for name in want:
        assert np.all(np.isfinite(got[name])), name
        err = rel_err(got[name], want[name])
        assert err < TOL[dtype], f"{name}: error {err:.3g}"


@pytest.mark.parametrize("variant", TORCH_VARIANTS)
def test_state_dict_round_trip(variant):
    """seqcore -> torch -> seqcore by name, exactly; and torch's own random
    initialisation loads into seqcore and gives torch's outputs."""
    a = make_layer(variant, I, H, 2, True, np.float64, random_state=1)
    m = torch_module(variant, a)
    for name, v in a.state_dict().items():
        assert np.array_equal(m.state_dict()[name].numpy(), v), name
    b = make_layer(variant, I, H, 2, True, np.float64, random_state=2)
    assert any(not np.array_equal(b.state_dict()[k], v) for k, v in a.state_dict().items())
    b.load_state_dict(m.state_dict())                  # torch tensors, as given
    for name, v in a.state_dict().items():
        assert np.array_equal(b.state_dict()[name], v), name

    torch.manual_seed(3)
    fresh = torch_module(variant, a, copy_weights=False)
    c = make_layer(variant, I, H, 2, True, np.float64, random_state=4)
    c.load_state_dict({k: v.numpy() for k, v in fresh.state_dict().items()})
    X = np.random.default_rng(5).standard_normal((B, T, I))
    out, state = c.forward(X)
    with torch.no_grad():
        t_out, t_state = fresh(torch.from_numpy(X))
    assert rel_err(out, t_out.numpy()) < TOL[np.float64]
    t_state = t_state if isinstance(t_state, tuple) else (t_state,)
    for s, ts in zip(flat_state(state), t_state):
        assert rel_err(s, ts.numpy()) < TOL[np.float64]
    assert is_lstm(c) == variant.startswith("lstm")


def test_float32_layer_loads_float64_torch_weights():
    """Weights of another dtype are converted on load."""
    a = make_layer("gru", I, H, 1, False, np.float64, random_state=6)
    m = torch_module("gru", a)
    b = make_layer("gru", I, H, 1, False, np.float32, random_state=7)
    b.load_state_dict(m.state_dict())
    for name, v in b.state_dict().items():
        assert v.dtype == np.float32
        assert np.array_equal(v, a.state_dict()[name].astype(np.float32)), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden, proj", [(5, 3), (7, 2), (7, 3), (5, 4)],
                         ids=["H5_P3", "H7_P2", "H7_P3", "H5_P4"])
def test_projection_not_dividing_the_gates_matches_torch(hidden, proj, dtype):
    """issue 22, item 2: any proj_size < hidden_size, as in PyTorch, also when
    P does not divide 4 * H (the size was read from the wrong dimension)."""
    import seqcore.nn

    rng = np.random.default_rng(hidden * 10 + proj)
    layer = seqcore.nn.LSTM(I, hidden, 2, bidirectional=True, proj_size=proj, dtype=dtype,
                            random_state=4)
    lengths = random_lengths(rng, B, T)
    X = pad_with(rng.standard_normal((B, T, I)), lengths,
                 lambda s: rng.standard_normal(s)).astype(dtype)
    init = tuple(s.astype(dtype) for s in random_state_like(rng, layer, B))
    R1 = rng.standard_normal((B, T, layer.output_size)).astype(dtype)
    R_state = tuple(s.astype(dtype) for s in random_state_like(rng, layer, B, scale=1.0))
    want = torch_run(torch_module("lstm_proj", layer), X, lengths, init, R1, R_state)
    got = seqcore_run(layer, X, lengths, init, R1, R_state)
    assert set(got) == set(want)
    for name in want:
        err = rel_err(got[name], want[name])
        assert err < TOL[dtype], f"{name}: error {err:.3g}"

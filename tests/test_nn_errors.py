"""Input checking of seqcore.nn layers, and what they do to their inputs.

Bad input gets a ValueError or TypeError naming the problem, raised before
any work: the layer (parameters, gradients, the last forward's activations)
is unchanged after a failed call.  Inputs are never modified; read-only,
non-contiguous, Fortran-ordered, big-endian and other-dtype inputs work and
give the same results as plain C-contiguous native arrays.
"""

import numpy as np
import pytest

from conftest import (VARIANT_IDS, flat_state, make_layer, random_lengths,
                      random_state_like)
from seqcore.nn import GRU, LSTM, RNN

B, T, I, H = 3, 5, 2, 4


@pytest.fixture
def rng():
    return np.random.default_rng(123)


def _layers():
    return [pytest.param(v, id=v) for v in ("rnn_tanh", "gru", "lstm")]


def _data(rng, layer):
    X = rng.standard_normal((B, T, I))
    lengths = np.array([5, 2, 4])
    init = random_state_like(rng, layer, B)
    d_out = rng.standard_normal((B, T, layer.output_size))
    d_state = random_state_like(rng, layer, B, scale=1.0)
    return X, lengths, init, d_out, d_state


def _snapshot(layer):
    return ({k: v.copy() for k, v in layer.state_dict().items()},
            {k: v.copy() for k, v in layer.grads.items()})


def _assert_unchanged(layer, snap):
    params, grads = snap
    for k, v in layer.state_dict().items():
        assert np.array_equal(v, params[k]), k
    for k, v in layer.grads.items():
        assert np.array_equal(v, grads[k]), k


# ------------------------------------------------------------------ forward
@pytest.mark.parametrize("variant", _layers())
def test_bad_X(variant, rng):
    layer = make_layer(variant, I, H)
    X = rng.standard_normal((B, T, I))
    bad = [
        (X[0], ValueError, r"3-D.*got 2-D"),
        (X[None], ValueError, r"3-D.*got 4-D"),
        (rng.standard_normal((B, T, I + 1)), ValueError, r"3 features.*input_size=2"),
        (np.where(np.arange(I) == 1, np.nan, X), ValueError, r"X contains NaN or infinity"),
        (np.where(np.arange(I) == 0, np.inf, X), ValueError, r"X contains NaN or infinity"),
        (np.where(np.arange(I) == 0, -np.inf, X), ValueError, r"X contains NaN or infinity"),
        (np.zeros((0, T, I)), ValueError, r"no samples"),
        (np.zeros((B, 0, I)), ValueError, r"length zero"),
        (np.full((B, T, I), "a"), TypeError, r"X must be numeric"),
        (np.full((B, T, I), object()), TypeError, r"X must be numeric"),
        (X.astype(complex), TypeError, r"X is complex"),
        ([[[1.0, 2.0]], [[1.0]]], TypeError, r"X could not be read"),
    ]
    snap = _snapshot(layer)
    for value, exc, match in bad:
        with pytest.raises(exc, match=match):
            layer.forward(value)
    _assert_unchanged(layer, snap)
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        layer.backward(np.zeros((B, T, H)))   # no failed forward left a cache


def test_scalar_X_is_reported_as_0d():
    """A scalar X is 0-D; the message must not call it 1-D with shape (1,)."""
    layer = make_layer("gru", I, H)
    with pytest.raises(ValueError, match=r"X must be 3-D.*got 0-D"):
        layer.forward(np.float64(1.0))
    with pytest.raises(ValueError, match=r"X must be 3-D.*got 0-D"):
        layer.forward(2.5)


@pytest.mark.parametrize("variant", _layers())
def test_bad_lengths(variant, rng):
    layer = make_layer(variant, I, H)
    X = rng.standard_normal((B, T, I))
    bad = [
        ([5, 0, 3], ValueError, r"lengths must lie in \[1, 5\]"),
        ([5, -1, 3], ValueError, r"lengths must lie in \[1, 5\]"),
        ([5, 6, 3], ValueError, r"lengths must lie in \[1, 5\]"),
        (np.array([5.0, 2.0, 3.0]), TypeError, r"lengths must be integers.*float"),
        ([5, 2.5, 3], TypeError, r"lengths must be integers"),
        (["5", "2", "3"], TypeError, r"lengths must be integers"),
        ([True, True, True], TypeError, r"lengths must be integers"),
        ([5, 2], ValueError, r"lengths must have shape \(3,\)"),
        ([5, 2, 3, 1], ValueError, r"lengths must have shape \(3,\)"),
        (np.array([[5, 2, 3]]), ValueError, r"lengths must have shape \(3,\)"),
        (4, ValueError, r"lengths must have shape \(3,\)"),
    ]
    for value, exc, match in bad:
        with pytest.raises(exc, match=match):
            layer.forward(X, lengths=value)


@pytest.mark.parametrize("variant", _layers())
def test_bad_initial_state(variant, rng):
    layer = make_layer(variant, I, H, 2, True)
    X = rng.standard_normal((B, T, I))
    good = random_state_like(rng, layer, B)
    shape = r"\(4, 3, 4\)"
    wrong = [np.zeros((2, B, H)), np.zeros((4, B + 1, H)), np.zeros((4, B, H + 1)),
             np.zeros((4 * B, H))]
    if variant == "lstm":
        h, c = good
        for w in wrong:
            with pytest.raises(ValueError, match=r"initial_state \(h\) must have shape " + shape):
                layer.forward(X, initial_state=(w, c))
            with pytest.raises(ValueError, match=r"initial_state \(c\) must have shape " + shape):
                layer.forward(X, initial_state=(h, w))
        for not_pair in [h, (h,), (h, c, c), {"h": h, "c": c}]:
            with pytest.raises(TypeError, match=r"initial_state of an LSTM must be a pair"):
                layer.forward(X, initial_state=not_pair)
        with pytest.raises(ValueError, match=r"initial_state \(c\) contains NaN"):
            layer.forward(X, initial_state=(h, np.full_like(c, np.nan)))
    else:
        for w in wrong:
            with pytest.raises(ValueError, match=r"initial_state \(h\) must have shape " + shape):
                layer.forward(X, initial_state=w)
        with pytest.raises(ValueError, match=r"initial_state \(h\) contains NaN"):
            layer.forward(X, initial_state=np.full_like(good, np.inf))
        with pytest.raises(TypeError, match=r"initial_state \(h\) must be numeric"):
            layer.forward(X, initial_state=np.full(good.shape, "x"))


def test_failed_forward_changes_nothing(rng):
    """A failed forward leaves parameters, gradients and the last training
    forward's activations as they were: backward still gives the same result."""
    layer = make_layer("lstm", I, H, 2, True)
    X, lengths, init, d_out, d_state = _data(rng, layer)
    layer.forward(X, lengths=lengths, initial_state=init)
    dX, _ = layer.backward(d_out, d_state)
    snap = _snapshot(layer)
    for kwargs in [dict(X=X[..., :1]), dict(X=np.full_like(X, np.nan)),
                   dict(X=X, lengths=[9, 1, 1]), dict(X=X, initial_state=init[0])]:
        with pytest.raises((ValueError, TypeError)):
            layer.forward(**kwargs)
    _assert_unchanged(layer, snap)
    dX2, _ = layer.backward(d_out, d_state)
    assert np.array_equal(dX, dX2)
    _assert_unchanged(layer, snap)


# ------------------------------------------------------------- constructor
@pytest.mark.parametrize("cls", [RNN, GRU, LSTM], ids=["RNN", "GRU", "LSTM"])
def test_bad_constructor_arguments(cls):
    bad = [
        (dict(input_size=I, hidden_size=0), ValueError, r"hidden_size must be >= 1"),
        (dict(input_size=I, hidden_size=-3), ValueError, r"hidden_size must be >= 1"),
        (dict(input_size=0, hidden_size=H), ValueError, r"input_size must be >= 1"),
        (dict(input_size=I, hidden_size=H, num_layers=0), ValueError,
         r"num_layers must be >= 1"),
        (dict(input_size=I, hidden_size=2.5), TypeError, r"hidden_size must be an integer"),
        (dict(input_size="2", hidden_size=H), TypeError, r"input_size must be an integer"),
        (dict(input_size=True, hidden_size=H), TypeError, r"input_size must be an integer"),
        (dict(input_size=I, hidden_size=H, dropout=1.5), ValueError, r"dropout.*\[0, 1\)"),
        (dict(input_size=I, hidden_size=H, dropout=1.0), ValueError, r"dropout.*\[0, 1\)"),
        (dict(input_size=I, hidden_size=H, dropout=-0.1), ValueError, r"dropout.*\[0, 1\)"),
        (dict(input_size=I, hidden_size=H, dropout=float("nan")), ValueError, r"dropout"),
        (dict(input_size=I, hidden_size=H, dropout="0.1"), ValueError, r"dropout"),
        (dict(input_size=I, hidden_size=H, dtype=int), TypeError,
         r"dtype must be float32 or float64"),
        (dict(input_size=I, hidden_size=H, dtype=np.float16), TypeError,
         r"dtype must be float32 or float64"),
        (dict(input_size=I, hidden_size=H, dtype="complex128"), TypeError,
         r"dtype must be float32 or float64"),
        (dict(input_size=I, hidden_size=H, dtype="no such dtype"), TypeError,
         r"dtype must be float32 or float64"),
        (dict(input_size=I, hidden_size=H, bidirectional="yes"), TypeError,
         r"bidirectional must be a bool"),
    ]
    if cls is RNN:
        bad.append((dict(input_size=I, hidden_size=H, nonlinearity="sigmoid"), ValueError,
                    r"nonlinearity must be 'tanh' or 'relu'.*sigmoid"))
    for kwargs, exc, match in bad:
        with pytest.raises(exc, match=match):
            cls(**kwargs)
    # the accepted spellings
    for dtype in (np.float32, np.float64, "float32", np.dtype("float64")):
        layer = cls(I, H, dtype=dtype)
        assert layer.state_dict()["weight_hh_l0"].dtype == np.dtype(dtype)


# ---------------------------------------------------------- load_state_dict
@pytest.mark.parametrize("variant", ["rnn_tanh", "gru", "lstm_peephole"])
def test_bad_load_state_dict(variant):
    layer = make_layer(variant, I, H, 2, True, random_state=0)
    before = layer.state_dict()
    good = make_layer(variant, I, H, 2, True, random_state=1).state_dict()

    missing = dict(good)
    del missing["bias_hh_l1_reverse"]
    extra = dict(good, weight_ih_l2=np.zeros((H, I)))
    renamed = dict(missing, bias_hh_l1_rev=good["bias_hh_l1_reverse"])
    wrong_shape = dict(good, weight_hh_l1=good["weight_hh_l1"].T[:, :-1])
    transposed = dict(good, weight_ih_l0=good["weight_ih_l0"].T)
    nan = dict(good, bias_ih_l0=np.full_like(good["bias_ih_l0"], np.nan))
    text = dict(good, bias_ih_l0=np.full(good["bias_ih_l0"].shape, "x"))
    cases = [
        (missing, ValueError, r"missing keys \['bias_hh_l1_reverse'\]"),
        (extra, ValueError, r"unexpected keys \['weight_ih_l2'\]"),
        (renamed, ValueError, r"missing keys \['bias_hh_l1_reverse'\].*"
                              r"unexpected keys \['bias_hh_l1_rev'\]"),
        (wrong_shape, ValueError, r"weight_hh_l1 has shape"),
        (transposed, ValueError, r"weight_ih_l0 has shape"),
        (nan, ValueError, r"bias_ih_l0 contains NaN"),
        (text, TypeError, r"bias_ih_l0 must be numeric"),
    ]
    if variant == "lstm_peephole":
        no_peep = {k: v for k, v in good.items() if "peep" not in k}
        cases.append((no_peep, ValueError, r"missing keys \['weight_peep_l0'"))
    for bad, exc, match in cases:
        with pytest.raises(exc, match=match):
            layer.load_state_dict(bad)
        # nothing loaded, not even the valid entries
        for k, v in layer.state_dict().items():
            assert np.array_equal(v, before[k]), k
    layer.load_state_dict(good)
    for k, v in layer.state_dict().items():
        assert np.array_equal(v, good[k]), k


def test_state_dict_copies_both_ways():
    layer = make_layer("gru", I, H, random_state=0)
    sd = layer.state_dict()
    sd["weight_ih_l0"][:] = 7.0                       # a copy: layer unchanged
    assert not np.any(layer.state_dict()["weight_ih_l0"] == 7.0)
    new = {k: v + 1.0 for k, v in sd.items()}
    frozen = {k: v.copy() for k, v in new.items()}
    layer.load_state_dict(new)
    new["bias_hh_l0"][:] = -9.0                       # copied in: layer unchanged
    assert np.array_equal(layer.state_dict()["bias_hh_l0"], frozen["bias_hh_l0"])


# ----------------------------------------------------------------- backward
@pytest.mark.parametrize("variant", _layers())
def test_backward_needs_a_training_forward(variant, rng):
    layer = make_layer(variant, I, H)
    X, lengths, init, d_out, d_state = _data(rng, layer)
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        layer.backward(d_out)
    layer.eval().forward(X, lengths=lengths)
    with pytest.raises(RuntimeError, match="forward pass in training mode"):
        layer.backward(d_out)
    layer.train().forward(X, lengths=lengths)
    dX, _ = layer.backward(d_out, d_state)
    grads = layer.flat_grads.copy()
    assert dX.shape == X.shape and np.any(dX != 0)
    # inference leaves no trace: the training forward's tape is still the one
    # backward reads, whatever inference ran in between
    layer.train().forward(X, lengths=lengths)
    layer.forward(X[:, ::-1], training=False)
    layer.eval().forward(X[:2], lengths=lengths[:2])
    dX_again, _ = layer.backward(d_out, d_state)
    np.testing.assert_array_equal(dX_again, dX)
    np.testing.assert_array_equal(layer.flat_grads, grads)


@pytest.mark.parametrize("variant", _layers())
def test_bad_backward_arguments(variant, rng):
    layer = make_layer(variant, I, H, 1, True)
    X, lengths, init, d_out, d_state = _data(rng, layer)
    layer.forward(X, lengths=lengths, initial_state=init)
    snap = _snapshot(layer)
    for bad in [d_out[..., :H], d_out[:, :-1], d_out[:-1], d_out[0]]:
        with pytest.raises(ValueError, match=r"d_outputs must have shape \(3, 5, 8\)"):
            layer.backward(bad)
    with pytest.raises(ValueError, match=r"d_outputs contains NaN"):
        layer.backward(np.full_like(d_out, np.nan))
    h = flat_state(d_state)[0]
    if variant == "lstm":
        with pytest.raises(TypeError, match=r"d_state of an LSTM must be a pair"):
            layer.backward(d_out, h)
        with pytest.raises(ValueError, match=r"d_state \(c\) must have shape"):
            layer.backward(d_out, (h, h[:1]))
    else:
        with pytest.raises(ValueError, match=r"d_state \(h\) must have shape"):
            layer.backward(d_out, h[:1])
        with pytest.raises(ValueError, match=r"d_state \(h\) contains NaN"):
            layer.backward(d_out, np.full_like(h, np.inf))
    _assert_unchanged(layer, snap)


# --------------------------------------------------------- input handling
@pytest.mark.parametrize("variant", VARIANT_IDS)
def test_inputs_are_never_modified(variant, rng):
    layer = make_layer(variant, I, H, 2, True)
    X, lengths, init, d_out, d_state = _data(rng, layer)
    args = (X, lengths, init, d_out, d_state)
    copies = [tuple(a.copy() for a in x) if isinstance(x, tuple) else x.copy() for x in args]
    out, state = layer.forward(X, lengths=lengths, initial_state=init)
    layer.backward(d_out, d_state)
    for a, c in zip(args, copies):
        for x, y in zip(flat_state(a), flat_state(c)):
            assert np.array_equal(x, y)
    # the results own their memory: writing to them changes nothing inside
    out[...] = 0
    for s in flat_state(state):
        s[...] = 0
    dX, _ = layer.backward(d_out, d_state)
    assert np.any(dX != 0)


@pytest.mark.parametrize("shape", [(1, T, I), (B, 1, I), (B, T, I)],
                         ids=["B1", "T1", "BxT"])
@pytest.mark.parametrize("variant", _layers())
def test_backward_uses_the_X_that_forward_saw(variant, shape, rng):
    """Changing X in place between forward and backward must not change the
    gradients: the layer keeps its own copy of what it computed with."""
    layer = make_layer(variant, I, H)
    X = rng.standard_normal(shape)
    out, _ = layer.forward(X)
    d_out = rng.standard_normal(out.shape)
    layer.backward(d_out)
    want = {k: v.copy() for k, v in layer.grads.items()}
    X[...] = 5.0                           # e.g. a reused input buffer
    layer.backward(d_out)
    for k, v in layer.grads.items():
        assert np.array_equal(v, want[k]), f"{k} changed with X after forward"


def _variants_of(a):
    """The same values as read-only, non-contiguous, Fortran-ordered and
    big-endian arrays."""
    ro = a.copy()
    ro.setflags(write=False)
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    strided = big[..., ::2]
    assert not strided.flags.c_contiguous
    fortran = np.asfortranarray(a)
    swapped = a.astype(a.dtype.newbyteorder(">" if a.dtype.byteorder != ">" else "<"))
    return {"read_only": ro, "strided": strided, "fortran": fortran, "byteswapped": swapped}


def _state_variant(state, kind):
    if isinstance(state, tuple):
        return tuple(_variants_of(s)[kind] for s in state)
    return _variants_of(state)[kind]


@pytest.mark.parametrize("kind", ["read_only", "strided", "fortran", "byteswapped"])
@pytest.mark.parametrize("variant", _layers())
def test_unusual_memory_layouts_work(variant, kind, rng):
    layer = make_layer(variant, I, H, 2, True)
    X, lengths, init, d_out, d_state = _data(rng, layer)
    out, state = layer.forward(X, lengths=lengths, initial_state=init)
    dX, d_init = layer.backward(d_out, d_state)

    lengths_v = {"read_only": _variants_of(lengths)["read_only"],
                 "strided": np.repeat(lengths, 2)[::2],
                 "fortran": lengths,
                 "byteswapped": lengths.astype(">i4")}[kind]
    out2, state2 = layer.forward(_variants_of(X)[kind], lengths=lengths_v,
                                 initial_state=_state_variant(init, kind))
    dX2, d_init2 = layer.backward(_variants_of(d_out)[kind],
                                  _state_variant(d_state, kind))
    assert np.array_equal(out, out2) and np.array_equal(dX, dX2)
    for a, b in zip(flat_state(state) + flat_state(d_init),
                    flat_state(state2) + flat_state(d_init2)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("variant", _layers())
def test_other_input_dtypes_are_converted(variant, rng):
    layer = make_layer(variant, I, H, 1, False, np.float32)
    X_int = rng.integers(-3, 4, size=(B, T, I))
    lengths = random_lengths(rng, B, T)
    want, _ = layer.forward(X_int.astype(np.float32), lengths=lengths)
    for X in (X_int, X_int.astype(np.float64), X_int.astype(np.int8), X_int.tolist()):
        out, _ = layer.forward(X, lengths=lengths.astype(np.uint8))
        assert out.dtype == np.float32
        assert np.array_equal(out, want)
    X64 = rng.standard_normal((B, T, I))
    out, _ = layer.forward(X64)
    assert np.array_equal(out, layer.forward(X64.astype(np.float32))[0])

"""The compiled entry points refuse inconsistent shapes, and the BLAS shim
splits products above the BLAS's 32-bit int.

* Shapes: every ``def`` of the core (``_recurrent``, ``_losses``, ``_optim``)
  forms raw pointers from its arguments' shapes.  For each entry point a
  table below gives one valid call; the tests change one dimension of one
  argument at a time, by +1 and by -1, and expect a ValueError that names
  the argument (directly, or as the source of the sizes the others are
  checked against: "T, B from gates").
* Sizes: scipy's BLAS takes int sizes.  ``_blas.gemm`` splits an m, n or k
  above ``max_blas_dim`` (INT_MAX) into several calls; the tests lower the
  threshold so that every product of a training pass is split, and compare
  with the unsplit pass.
"""

import re

import numpy as np
import pytest

from seqcore import _blas, _cells, _losses, _optim, _recurrent

from conftest import VARIANTS

T, B, I, H = 3, 4, 5, 7
F = np.float64


def z(*shape, dtype=F):
    return np.zeros(shape, dtype)


def E(ndim):
    """An empty argument: 'none' or 'unused'."""
    return np.empty((0,) * ndim, F)


# ------------------------------------------------------------ valid calls
# (kind code, flags, training, packed, masked, projected); what a kind needs
# comes from the kernels' own table (_cells.layout), as in the layers
SCANS = {
    "rnn": (0, 0, True, True, False, False),
    "gru": (1, 1, True, True, False, False),
    "gru-before": (1, 0, True, False, True, False),
    "gru-before-packed": (1, 0, True, True, False, False),
    "lstm-peep": (2, 1, True, True, True, False),
    "lstm-eval": (2, 0, False, False, False, False),
    "lstm-proj": (2, 1, True, True, True, True),
    "mgu": (3, 0, True, True, True, False),
}
P_ = 4   # the projection's size (< H)


def _need(kind, flags):
    n = _cells.layout(kind, flags)
    split = (n["G"] - n["gated_blocks"]) * H
    return n, n["G"] * H, split


def _state_size(projected):
    return P_ if projected else H


def _packed(W_hh, backward, kind, flags, packed):
    n, GH, split = _need(kind, flags)
    if not packed:
        return E(1), E(1)
    return (_recurrent.pack_hidden(W_hh, backward, 0, split),
            _recurrent.pack_hidden(W_hh, backward, split, GH) if split < GH else E(1))


def forward_args(kind, flags, training, packed, masked, projected):
    n, GH, split = _need(kind, flags)
    two, S = n["n_states"] == 2, _state_size(projected)
    W_hh = z(GH, S)
    P1, P2 = _packed(W_hh, False, kind, flags, packed)
    masked = masked and training
    return dict(
        kind=kind, flags=flags, training=training, n_active=np.full(T, B, np.intc),
        W_hh=W_hh, bias=z(GH), b_hh=z(GH) if n["separate_bias"] >= 0 else E(1),
        extra=z(n["extra_rows"], H) if n["extra_rows"] else E(2),
        W_hr=z(S, H) if projected else E(2), pwork=z(B, H) if projected else E(2),
        mask=z(B, S) if masked else E(2), Hs=z(T + 1, B, S),
        Hm=z(T, B, S) if masked else E(3),
        Cs=z(T + 1 if training else 2, B, H) if two else E(3), gates=z(T, B, GH),
        aux=z(T if training else 1, B, H) if n["aux"] else E(3),
        work=z(B, GH), h_n=z(B, S), c_n=z(B, H) if two else E(2),
        W_packed=P1, W_packed2=P2, ranges=np.array([[0, B]], np.intp), threads=1)


def backward_args(kind, flags, training, packed, masked, projected):
    n, GH, split = _need(kind, flags)
    two, S = n["n_states"] == 2, _state_size(projected)
    W_hh = z(GH, S)
    P1, P2 = _packed(W_hh, True, kind, flags, packed)
    return dict(
        kind=kind, flags=flags, n_active=np.full(T, B, np.intc), W_hh=W_hh,
        extra=z(n["extra_rows"], H) if n["extra_rows"] else E(2),
        W_hr=z(S, H) if projected else E(2), pwork=z(B, 2 * H) if projected else E(2),
        dW_hr=z(1, S, H) if projected else E(3),
        mask=z(B, S) if masked else E(2), Hs=z(T + 1, B, S),
        Hm=z(T, B, S) if masked else E(3),
        Cs=z(T + 1, B, H) if two else E(3), gates=z(T, B, GH),
        aux=z(T, B, H) if n["aux"] else E(3), dY=z(T, B, S), dh_n=z(B, S),
        dc_n=z(B, H) if two else E(2), dG=z(T, B, GH),
        dGH=z(T, B, GH) if n["separate_bias"] >= 0 else E(3),
        work=z(B, GH), dhm=z(B, S) if masked else E(2), dh=z(B, S),
        dc=z(B, H) if two else E(2),
        dextra=z(1, n["extra_rows"], H) if n["extra_rows"] else E(3),
        W_packed=P1, W_packed2=P2, ranges=np.array([[0, B]], np.intp), threads=1)


def weight_args(kind, flags, training, packed, masked, projected):
    n, GH, split = _need(kind, flags)
    S = _state_size(projected)
    return dict(
        kind=kind, flags=flags, X=z(T, B, I), W_ih=z(GH, I),
        Hin=z(T, B, S) if masked else z(T + 1, B, S),
        aux=z(T, B, H) if n["gated_blocks"] else E(3),
        dG=z(T, B, GH), dGH=z(T, B, GH) if n["separate_bias"] >= 0 else E(3),
        dX=z(T, B, I), dW_ih=z(GH, I), dW_hh=z(GH, S), db_ih=z(GH), db_hh=z(GH),
        W_packed=_recurrent.pack_matrix(z(GH, I), False) if packed else E(1),
        X_packed=z(_recurrent.packed_entries(T * B, I, np.float64)) if packed else E(1),
        H_packed=z(_recurrent.packed_entries(T * B, S, np.float64)) if packed else E(1),
        A_packed=(z(_recurrent.packed_entries(T * B, H, np.float64))
                  if packed and n["gated_blocks"] else E(1)),
        parts=1, threads=1)


def project_args(kind, flags, training, packed, *_):
    GH = _need(kind, flags)[1]
    return dict(X=z(T, B, I), W_ih=z(GH, I), gates=z(T, B, GH),
                W_packed=_recurrent.pack_matrix(z(GH, I), True) if packed else E(1),
                parts=1, threads=1)


def pack_args(kind, flags, *_):
    GH = _need(kind, flags)[1]
    return dict(W_hh=z(GH, H), backward=False, row0=0, row1=GH, H=H)


N, K = 6, 3


def softmax_args(*_):
    return dict(Z=z(N, K), y=np.zeros(N, np.intp), w=np.ones(N), scale=1.0, dZ=z(N, K))


def binary_args(*_):
    return dict(Z=z(N, K), Y=z(N, K), w=np.ones(N), scale=1.0, dZ=z(N, K))


def sgd_args(*_):
    return dict(p=z(N), g=z(N), buf=z(N), lr=0.1, momentum=0.9, dampening=0.0,
                weight_decay=0.0, nesterov=False, first=True)


def adam_args(*_):
    return dict(p=z(N), g=z(N), m=z(N), v=z(N), lr=0.1, beta1=0.9, beta2=0.999,
                eps=1e-8, weight_decay=0.0, step=1)


ENTRY_POINTS = {   # name: (function, valid arguments, configurations)
    "project": (_recurrent.project, project_args, ["rnn", "lstm-peep", "lstm-eval"]),
    "pack_hidden": (_recurrent.pack_hidden, pack_args, ["gru", "lstm-peep"]),
    "forward_steps": (_recurrent.forward_steps, forward_args, list(SCANS)),
    "backward_steps": (_recurrent.backward_steps, backward_args, list(SCANS)),
    "weight_gradients": (_recurrent.weight_gradients, weight_args, list(SCANS)),
    "softmax_cross_entropy": (_losses.softmax_cross_entropy, softmax_args, ["-"]),
    "sigmoid_binary_cross_entropy": (_losses.sigmoid_binary_cross_entropy, binary_args, ["-"]),
    "squared_error": (_losses.squared_error, binary_args, ["-"]),
    "sgd_step": (_optim.sgd_step, sgd_args, ["-"]),
    "adam_step": (_optim.adam_step, adam_args, ["-"]),
}

# changes that keep a call valid: work may have more rows than the batch, Hin
# more steps than T (Hs has T + 1)
STILL_VALID = {("work", 0, +1), ("pwork", 0, +1), ("Hin", 0, +1), ("Hin", 0, -1),
               # pack_hidden: a state smaller than the gates' H is the LSTM's
               # projection (proj_size < H), whatever G*H is (issue 22, item 2)
               ("pack_hidden", "W_hh", 1, -1)}


def _call(name, config):
    fn, make, _ = ENTRY_POINTS[name]
    return fn, make(*SCANS.get(config, SCANS["rnn"]))


def _perturbations():
    for name, (_, _, configs) in ENTRY_POINTS.items():
        for config in configs:
            _, args = _call(name, config)
            for arg, value in args.items():
                if not isinstance(value, np.ndarray) or value.size == 0:
                    continue   # a scalar, or an argument this call does not use
                for axis in range(value.ndim):
                    for delta in (+1, -1):
                        if not {(arg, axis, delta), (name, arg, axis, delta)} & STILL_VALID:
                            yield pytest.param(name, config, arg, axis, delta,
                                               id=f"{name}-{config}-{arg}-{axis}{delta:+d}")


@pytest.mark.parametrize("name, config",
                         [(n, c) for n, (_, _, cs) in ENTRY_POINTS.items() for c in cs])
def test_the_valid_calls_run(name, config):
    fn, args = _call(name, config)
    fn(**args)


@pytest.mark.parametrize("name, config, arg, axis, delta", list(_perturbations()))
def test_one_wrong_dimension_is_refused_naming_the_argument(name, config, arg, axis, delta):
    fn, args = _call(name, config)
    shape = list(args[arg].shape)
    shape[axis] += delta
    args[arg] = np.zeros(shape, args[arg].dtype)
    with pytest.raises(ValueError, match=rf"(?<!\w){re.escape(arg)}\b") as info:
        fn(**args)
    assert name in str(info.value)


def test_the_message_gives_expected_and_given_shapes():
    fn, args = _call("forward_steps", "lstm-peep")
    args["Hs"] = z(T, B, H)
    with pytest.raises(ValueError) as info:
        fn(**args)
    assert str(info.value) == (
        f"forward_steps: Hs has shape {(T, B, H)}, expected {(T + 1, B, H)} "
        "(T, B, G*H from gates, P from W_hh, G from kind)")


@pytest.mark.parametrize("change, match", [
    (dict(kind=7), "unknown cell kind 7"),
    (dict(ranges=np.array([[2, 2]])), r"ranges\[0\] is rows 2\.\.2, out of a batch of 4"),
    (dict(ranges=np.array([[0, B + 1]])), r"rows 0\.\.5, out of a batch of 4"),
    (dict(ranges=np.array([[0, 3], [2, 4]])), r"rows 2\.\.4,.*not after range 0"),
    (dict(ranges=np.empty((0, 2), np.intp)), r"ranges has shape \(0, 2\)"),
    (dict(n_active=np.full(T, B + 1, np.intc)), r"n_active\[0\] = 5 is outside \[0, 4\]"),
])
def test_scan_refuses_bad_kinds_rows_and_counts(change, match):
    for name in ("forward_steps", "backward_steps"):
        fn, args = _call(name, "gru")
        with pytest.raises(ValueError, match=match):
            fn(**{**args, **change})


@pytest.mark.parametrize("name", ["weight_gradients", "project"])
def test_a_part_count_out_of_range_is_refused(name):
    fn, args = _call(name, "gru")
    for parts in (0, 4096):
        with pytest.raises(ValueError, match=rf"parts must be in \[1, 4095\], got {parts}"):
            fn(**{**args, "parts": parts})


def test_a_refused_call_writes_nothing():
    fn, args = _call("forward_steps", "lstm-peep")
    args["h_n"] = z(B - 1, H)
    args["Hs"][0] = 1.0
    args["gates"][:] = 2.0
    with pytest.raises(ValueError, match="h_n"):
        fn(**args)
    assert (args["Hs"][1:] == 0).all() and (args["gates"] == 2).all()


# ------------------------------------------------------- 32-bit BLAS sizes

@pytest.fixture
def tiny_blas_calls():
    """Every ?gemm call at most 3 rows, columns and inner terms: the path a
    product with T*B > INT_MAX takes, on sizes that run in milliseconds."""
    old = _blas.set_max_blas_dim(3)
    try:
        yield
    finally:
        _blas.set_max_blas_dim(old)


def test_the_blas_limit_is_int_max_and_bounded():
    old = _blas.set_max_blas_dim(2**31 - 1)
    assert old == 2**31 - 1
    for bad in (0, 2**31):
        with pytest.raises(ValueError, match="max_blas_dim"):
            _blas.set_max_blas_dim(bad)
    assert _blas.set_max_blas_dim(old) == 2**31 - 1


def _train_pass(layer, X, lengths):
    out, state = layer.train().forward(X, lengths)
    dO = np.random.default_rng(4).standard_normal(out.shape).astype(out.dtype)
    dX, _ = layer.backward(dO, state)
    return out, dX, layer.flat_grads.copy()


@pytest.mark.parametrize("cls, kw", [(c, kw) for c, kw, _ in VARIANTS.values()],
                         ids=list(VARIANTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_blas_calls_agree_with_whole_ones(cls, kw, dtype, request):
    """The projection (m = T*B rows), the per-step products (n = G*H
    columns), dX (m = T*B) and the weight gradients (k = T*B, summed in
    blocks with beta = 1) all split; the results agree to rounding."""
    rng = np.random.default_rng(2)
    Bn, Tn, In, Hn = 5, 6, 4, 9
    X = rng.standard_normal((Bn, Tn, In)).astype(dtype)
    lengths = rng.integers(1, Tn + 1, Bn)

    def make():
        return cls(In, Hn, num_layers=2, bidirectional=True, dtype=dtype,
                   random_state=0, **kw)

    whole = _train_pass(make(), X, lengths)
    request.getfixturevalue("tiny_blas_calls")
    split = _train_pass(make(), X, lengths)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(split, whole):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_weight_gradients_needs_a_step_of_Hin_per_step():
    fn, args = _call("weight_gradients", "mgu")
    with pytest.raises(ValueError, match=r"Hin has 2 steps, needs at least T = 3"):
        fn(**{**args, "Hin": z(T - 1, B, H)})

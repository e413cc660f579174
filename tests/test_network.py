"""SequenceNetwork (recurrent stack + dense head + loss) and what it builds on.

* gradients of ``loss_and_gradient`` against central finite differences in
  every entry of ``flat_params`` (float64, dropout off, or on with a fixed mask);
* the many-to-one summary: each sequence's own last step, and step 0 for the
  backward direction, picked by hand from ``rnn.forward``;
* ``decision_function`` (inference) against the training pass;
* truncated BPTT against an independent chunk-by-chunk computation on the
  NumPy reference of tests/reference.py;
* streaming: chunk by chunk from a carried state equals one whole forward;
* dropout between layers;
* agreement with torch (2-layer bidirectional LSTM / GRU, packed sequences,
  a Linear head, cross-entropy, BCE with logits, MSE);
* learning the adding problem with Adam and gradient clipping.

The loss is ``sum_i w_i l_i / sum_i w_i`` over samples (many-to-one) or over
the valid steps of every sample (``return_sequences=True``).
"""

import time

import numpy as np
import pytest

from conftest import VARIANTS, random_state_like, rel_err
from reference import ReferenceStack
from seqcore.nn import GRU, LSTM, RNN, Adam, SequenceNetwork, clip_grad_norm
from test_losses import np_loss_and_grad

CELL_NAMES = {RNN: "rnn", GRU: "gru", LSTM: "lstm"}
NET_VARIANTS = ["rnn_tanh", "gru", "gru_reset_before", "lstm", "lstm_peephole"]
LOSSES = ["softmax", "sigmoid", "squared_error"]
MERGE_MODES = ["concat", "sum", "mul", "ave"]
SEQ_IDS = {False: "many_to_one", True: "many_to_many"}

# small problem of the gradient checks
B, T, I, H, K = 4, 4, 2, 2, 3
LENGTHS = np.array([3, 4, 1, 3])         # unsorted, a tie, a length 1, a full one
WEIGHTS = np.array([1.5, 0.0, 0.7, 2.0])  # non-uniform, one zero
EPS = 1e-5   # truncation error ~1e-12 and roundoff ~1e-16 / EPS balance here


# ------------------------------------------------------------------ helpers

def make_net(variant, loss, return_sequences=False, dtype=np.float64, input_size=I,
             hidden_size=H, n_outputs=K, random_state=0, **kwargs):
    cls, cell_kwargs, _ = VARIANTS[variant]
    return SequenceNetwork(CELL_NAMES[cls], input_size, hidden_size, n_outputs, loss=loss,
                           return_sequences=return_sequences, dtype=dtype,
                           random_state=random_state, **cell_kwargs, **kwargs)


def make_targets(rng, loss, lengths, n_timesteps, return_sequences, n_outputs=K):
    """Targets of the loss; with ``return_sequences`` the padded steps hold
    garbage (-1 or NaN), which must never be read."""
    n = len(lengths)
    shape = (n, n_timesteps) if return_sequences else (n,)
    if loss == "softmax":
        Y = rng.integers(0, n_outputs, shape)
    elif loss == "sigmoid":
        Y = rng.integers(0, 2, shape + (n_outputs,)).astype(np.float64)
    else:
        Y = rng.standard_normal(shape + (n_outputs,))
    if return_sequences:
        for b, length in enumerate(lengths):
            Y[b, length:] = -1 if loss == "softmax" else np.nan
    return Y


def make_problem(loss, return_sequences, seed, dtype=np.float64, lengths=LENGTHS,
                 n_timesteps=T, input_size=I, n_outputs=K):
    """X with large garbage on the padding, targets, weights."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((len(lengths), n_timesteps, input_size))
    for b, length in enumerate(lengths):
        X[b, length:] = 50 * rng.standard_normal(X[b, length:].shape)
    Y = make_targets(rng, loss, lengths, n_timesteps, return_sequences, n_outputs)
    return X.astype(dtype), lengths.copy(), Y, WEIGHTS.copy() if len(lengths) == B else None


def param_slices(net):
    """name -> slice of flat_params holding that parameter."""
    base = net.flat_params.__array_interface__["data"][0]
    size = net.flat_params.itemsize
    out = {}
    for name, view in net.params.items():
        start = (view.__array_interface__["data"][0] - base) // size
        out[name] = slice(start, start + view.size)
    assert sum(s.stop - s.start for s in out.values()) == net.flat_params.size
    return out


def finite_difference_check(net, X, lengths, Y, w, bptt_steps=None, reseed=None):
    """Analytic ``flat_grads`` against central differences of the returned loss.

    Per parameter array: ||a - n|| / (||a|| + ||n||) < 1e-5 and every entry
    |a - n| < 1e-8 * max(1, max |n|) (measured errors are ~1e-11; a relative
    bound per entry cannot hold for gradients near zero).  ``reseed`` re-seeds the dropout
    generator before each pass, so every pass draws the same masks.
    """
    def loss():
        if reseed is not None:
            net.rnn._rng = np.random.default_rng(reseed)
        return net.loss_and_gradient(X, lengths, Y, w, bptt_steps=bptt_steps)

    loss()
    analytic = net.flat_grads.copy()
    p = net.flat_params
    numeric = np.empty_like(p)
    for i in range(p.size):
        v = p[i]
        p[i] = v + EPS
        up = loss()
        p[i] = v - EPS
        down = loss()
        p[i] = v
        numeric[i] = (up - down) / (2 * EPS)
    assert np.any(analytic != 0)
    worst = {}
    for name, sl in param_slices(net).items():
        a, n = analytic[sl], numeric[sl]
        rel = np.linalg.norm(a - n) / max(1e-8, np.linalg.norm(a) + np.linalg.norm(n))
        entry = np.max(np.abs(a - n)) / max(1.0, np.max(np.abs(n)))
        assert rel < 1e-5, f"{name}: relative error {rel:.3g}"
        assert entry < 1e-8, f"{name}: worst entry error {entry:.3g}"
        worst[name] = entry
    return worst


def np_merge(mode, f, b):
    if mode == "concat":
        return np.concatenate([f, b], axis=-1)
    if mode == "sum":
        return f + b
    if mode == "mul":
        return f * b
    return 0.5 * (f + b)


def hidden(state):
    return state[0] if isinstance(state, tuple) else state


def np_network_loss(net, Z, Y, lengths, w):
    """The network's loss from logits Z, by the NumPy formulas: (loss, dZ rows)."""
    if net.return_sequences:
        Bn, Tn = Z.shape[:2]
        valid = np.arange(Tn) < np.asarray(lengths)[:, None]
        rows_w = (w[:, None] * valid).ravel()
        Yv = np.where(valid if Y.ndim == 2 else valid[..., None], Y, 0)
        Yv = Yv.reshape((Bn * Tn,) + Y.shape[2:])
        return np_loss_and_grad(net.loss, Z.reshape(Bn * Tn, -1), Yv, rows_w,
                                1.0 / np.sum(w * lengths))
    return np_loss_and_grad(net.loss, Z, Y, w, 1.0 / np.sum(w))


# ---------------------------------------------------- finite differences

@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("variant", NET_VARIANTS)
def test_gradcheck_unidirectional(variant, loss, return_sequences):
    """2-layer unidirectional stack, ragged lengths, weights with a zero."""
    net = make_net(variant, loss, return_sequences, num_layers=2,
                   random_state=NET_VARIANTS.index(variant))
    X, lengths, Y, w = make_problem(loss, return_sequences, seed=LOSSES.index(loss))
    finite_difference_check(net, X, lengths, Y, w)


@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("merge_mode", MERGE_MODES)
@pytest.mark.parametrize("variant", NET_VARIANTS)
def test_gradcheck_bidirectional(variant, merge_mode, return_sequences):
    """2-layer bidirectional stack, each merge mode; the loss rotates so that
    every cell meets every loss and every merge mode meets every loss."""
    vi, mi = NET_VARIANTS.index(variant), MERGE_MODES.index(merge_mode)
    loss = LOSSES[(vi + mi + return_sequences) % 3]
    net = make_net(variant, loss, return_sequences, num_layers=2, bidirectional=True,
                   merge_mode=merge_mode, random_state=10 + vi)
    X, lengths, Y, w = make_problem(loss, return_sequences, seed=20 + mi)
    finite_difference_check(net, X, lengths, Y, w)


@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
def test_zero_weight_sample_changes_nothing(return_sequences):
    """A sample of weight 0 (inputs, targets) has no effect on loss or gradient."""
    net = make_net("lstm", "squared_error", return_sequences, num_layers=2, bidirectional=True)
    X, lengths, Y, w = make_problem("squared_error", return_sequences, seed=3)
    loss = net.loss_and_gradient(X, lengths, Y, w)
    grads = net.flat_grads.copy()
    zero = np.flatnonzero(w == 0)[0]
    X2, Y2 = X.copy(), Y.copy()
    X2[zero] = 1e3 * np.random.default_rng(0).standard_normal(X2[zero].shape)
    Y2[zero] = 1e6
    assert net.loss_and_gradient(X2, lengths, Y2, w) == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(net.flat_grads, grads, rtol=1e-13, atol=1e-15)


def test_sample_weights_are_normalised():
    """Scaling every weight by a constant changes nothing; all ones = no weights."""
    net = make_net("gru", "softmax", num_layers=2)
    X, lengths, Y, _ = make_problem("softmax", False, seed=4)
    base = net.loss_and_gradient(X, lengths, Y)
    g = net.flat_grads.copy()
    assert net.loss_and_gradient(X, lengths, Y, np.full(B, 3.5)) == pytest.approx(base, rel=1e-14)
    np.testing.assert_allclose(net.flat_grads, g, rtol=1e-12, atol=1e-16)
    with pytest.raises(ValueError, match="sum to zero"):
        net.loss_and_gradient(X, lengths, Y, np.zeros(B))


# ------------------------------------------------ many-to-one summary

@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("variant", NET_VARIANTS)
def test_summary_is_each_sequences_own_last_step(variant, num_layers, bidirectional):
    """Logits = head(forward output at step len-1 [, backward output at step 0])."""
    net = make_net(variant, "squared_error", num_layers=num_layers,
                   bidirectional=bidirectional, hidden_size=3)
    rng = np.random.default_rng(5)
    lengths = np.array([2, 5, 1, 4, 5])
    X = rng.standard_normal((5, 5, I))
    logits = net.decision_function(X, lengths)
    out, state = net.rnn.eval().forward(X, lengths)
    rows = np.arange(5)
    Hn = net.rnn.hidden_size
    S = out[rows, lengths - 1, :Hn]
    if bidirectional:
        S = np.concatenate([S, out[:, 0, Hn:]], axis=1)
        # the final states are those outputs too: h_n[-2] forward, h_n[-1] backward
        np.testing.assert_array_equal(hidden(state)[-2], out[rows, lengths - 1, :Hn])
        np.testing.assert_array_equal(hidden(state)[-1], out[:, 0, Hn:])
    np.testing.assert_allclose(logits, S @ net.weight.T + net.bias, rtol=1e-13, atol=1e-14)
    # the test can tell: out[:, -1] would give other logits for the short sequences
    wrong = out[:, -1] @ net.weight.T + net.bias
    assert not np.allclose(wrong[lengths < 5], logits[lengths < 5])


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
@pytest.mark.parametrize("variant", NET_VARIANTS)
def test_summary_merges_directions(variant, merge_mode):
    """Merged (not concatenated) bidirectional summaries: a one-layer twin with
    merge_mode='concat' and the same weights exposes both directions."""
    net = make_net(variant, "softmax", num_layers=1, bidirectional=True,
                   merge_mode=merge_mode, hidden_size=3)
    cls, kwargs, _ = VARIANTS[variant]
    twin = cls(I, 3, bidirectional=True, merge_mode="concat", dtype=np.float64, **kwargs)
    twin.load_state_dict(net.rnn.state_dict())
    rng = np.random.default_rng(6)
    lengths = np.array([3, 1, 4, 2])
    X = rng.standard_normal((4, 4, I))
    out, _ = twin.eval().forward(X, lengths)
    S = np_merge(merge_mode, out[np.arange(4), lengths - 1, :3], out[:, 0, 3:])
    np.testing.assert_allclose(net.decision_function(X, lengths), S @ net.weight.T + net.bias,
                               rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("layout", ["uni", "bi_concat", "bi_mul"])
@pytest.mark.parametrize("variant", NET_VARIANTS)
def test_decision_function_matches_training_pass(variant, layout, return_sequences):
    """The inference logits give, by the NumPy formulas, the training pass's loss
    and head gradients (db = sum of dZ rows, dW = dZ^T S)."""
    bidirectional = layout != "uni"
    merge_mode = "mul" if layout == "bi_mul" else "concat"
    loss_name = "softmax" if return_sequences else "squared_error"
    net = make_net(variant, loss_name, return_sequences, num_layers=2,
                   bidirectional=bidirectional, merge_mode=merge_mode, hidden_size=3)
    X, lengths, Y, w = make_problem(loss_name, return_sequences, seed=7)
    Z = net.decision_function(X, lengths)
    assert Z.shape == ((B, T, K) if return_sequences else (B, K))
    out, state = net.rnn.eval().forward(X, lengths)
    if return_sequences:
        S = out.reshape(B * T, -1)
    elif bidirectional:
        S = np_merge(merge_mode, hidden(state)[-2], hidden(state)[-1])
    else:
        S = hidden(state)[-1]
    np.testing.assert_allclose(Z.reshape(S.shape[0], K), S @ net.weight.T + net.bias,
                               rtol=1e-13, atol=1e-14)
    expected_loss, dZ = np_network_loss(net, Z, Y, lengths, w)
    loss = net.loss_and_gradient(X, lengths, Y, w)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(net.grads["head.bias"], dZ.sum(axis=0), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(net.grads["head.weight"], dZ.T @ S, rtol=1e-11, atol=1e-14)


# ------------------------------------------------------- truncated BPTT

def tbptt_reference(net, variant, X, lengths, Y, w, k):
    """Truncated BPTT computed independently: the NumPy reference stack run
    chunk by chunk on the samples still running, the state carried forward as
    a constant (the gradient stops at chunk borders), the head and loss by the
    NumPy formulas, and the gradients of the chunks summed."""
    spec = VARIANTS[variant][2]
    rnn = net.rnn
    L, Hn = rnn.num_layers, rnn.hidden_size
    ref = ReferenceStack(spec, rnn.state_dict(), num_layers=L)
    W, bias = net.weight, net.bias
    lstm = spec.kind == "lstm"
    Bn, Tn = X.shape[:2]
    m2m = net.return_sequences
    scale = 1.0 / (np.sum(w * lengths) if m2m else np.sum(w))
    h = np.zeros((L, Bn, Hn))
    c = np.zeros((L, Bn, Hn))
    grads = {name: np.zeros(v.shape) for name, v in net.params.items()}
    total = 0.0
    for s in range(0, Tn, k):
        rows = np.flatnonzero(lengths > s)
        len_c = np.minimum(lengths[rows] - s, k)
        Xc = X[rows, s:s + k]
        Tc = Xc.shape[1]
        init = (h[:, rows], c[:, rows]) if lstm else h[:, rows]
        out, state = ref.forward(Xc, len_c, init)
        if m2m:
            valid = np.arange(Tc) < len_c[:, None]
            S = out.reshape(len(rows) * Tc, Hn)
            Yc = Y[rows, s:s + Tc]
            Yc = np.where(valid if Yc.ndim == 2 else valid[..., None], Yc, 0)
            Yc = Yc.reshape((len(rows) * Tc,) + Yc.shape[2:])
            w_rows = (w[rows, None] * valid).ravel()
        else:
            S = hidden(state)[-1]
            Yc = Y[rows]
            w_rows = w[rows] * (lengths[rows] <= s + Tc)
        part, dZ = np_loss_and_grad(net.loss, S @ W.T + bias, Yc, w_rows, scale)
        total += part
        grads["head.weight"] += dZ.T @ S
        grads["head.bias"] += dZ.sum(axis=0)
        dS = dZ @ W
        if m2m:
            ref.backward(dS.reshape(out.shape), None)
        else:
            dh = np.zeros((L, len(rows), Hn))
            dh[-1] = dS
            ref.backward(np.zeros_like(out), (dh, np.zeros_like(dh)) if lstm else dh)
        for name, g in ref.grads.items():
            grads[name] += g
        if lstm:
            h[:, rows], c[:, rows] = state
        else:
            h[:, rows] = state
    return total, grads


TB_LENGTHS = np.array([7, 3, 1, 6, 5, 7])   # ends at chunk borders (3, 6) and inside


@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("variant", NET_VARIANTS)
def test_truncated_bptt_matches_chunked_reference(variant, k, return_sequences):
    """``bptt_steps=k`` on a 2-layer stack against ``tbptt_reference``
    (k = 7 = T checks the reference itself against full BPTT)."""
    loss = LOSSES[NET_VARIANTS.index(variant) % 3]
    net = make_net(variant, loss, return_sequences, num_layers=2, hidden_size=3,
                   random_state=40 + k)
    X, lengths, Y, _ = make_problem(loss, return_sequences, seed=41, lengths=TB_LENGTHS,
                                    n_timesteps=7)
    w = np.array([1.0, 0.5, 2.0, 0.0, 1.5, 0.8])
    got = net.loss_and_gradient(X, lengths, Y, w, bptt_steps=k)
    expected_loss, expected = tbptt_reference(net, variant, X, lengths, Y, w, k)
    assert got == pytest.approx(expected_loss, rel=1e-12)
    for name, g in net.grads.items():
        assert rel_err(g, expected[name]) < 1e-10, name


@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("variant", NET_VARIANTS)
def test_truncated_bptt_differs_from_full(variant, return_sequences):
    """k < T really truncates (the test above could not tell otherwise)."""
    net = make_net(variant, "squared_error", return_sequences, num_layers=2, hidden_size=3)
    X, lengths, Y, _ = make_problem("squared_error", return_sequences, seed=42,
                                    lengths=TB_LENGTHS, n_timesteps=7)
    full_loss = net.loss_and_gradient(X, lengths, Y)
    full = net.flat_grads.copy()
    trunc_loss = net.loss_and_gradient(X, lengths, Y, bptt_steps=2)
    assert trunc_loss == pytest.approx(full_loss, rel=1e-12)   # same forward, same loss
    assert rel_err(net.flat_grads, full) > 1e-4


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("variant", ["rnn_tanh", "gru", "lstm"])
def test_truncated_bptt_at_least_T_is_full_bptt(variant, return_sequences, bidirectional):
    net = make_net(variant, "sigmoid", return_sequences, num_layers=2, bidirectional=bidirectional)
    X, lengths, Y, w = make_problem("sigmoid", return_sequences, seed=43)
    loss = net.loss_and_gradient(X, lengths, Y, w)
    full = net.flat_grads.copy()
    for k in (T, T + 5):
        assert net.loss_and_gradient(X, lengths, Y, w, bptt_steps=k) == loss
        np.testing.assert_array_equal(net.flat_grads, full)


@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
def test_truncated_bptt_with_chunks_of_padding_only(return_sequences):
    """A batch padded beyond its longest sequence (T = 6, lengths <= 3, k = 2):
    the last chunk holds no running sample and contributes nothing.  The result
    equals the reference and the same batch cut to T = 4."""
    loss = "squared_error"
    net = make_net("lstm", loss, return_sequences, num_layers=2, hidden_size=3)
    lengths = np.array([3, 1, 2, 3])
    X, lengths, Y, w = make_problem(loss, return_sequences, seed=44, lengths=lengths,
                                    n_timesteps=6)
    got = net.loss_and_gradient(X, lengths, Y, w, bptt_steps=2)
    grads = net.flat_grads.copy()
    expected_loss, expected = tbptt_reference(net, "lstm", X, lengths, Y, w, 2)
    assert got == pytest.approx(expected_loss, rel=1e-12)
    for name, g in net.grads.items():
        assert rel_err(g, expected[name]) < 1e-10, name
    Y4 = Y[:, :4] if return_sequences else Y
    assert net.loss_and_gradient(X[:, :4], lengths, Y4, w, bptt_steps=2) == pytest.approx(
        got, rel=1e-14)
    np.testing.assert_allclose(net.flat_grads, grads, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("variant", ["rnn_tanh", "gru", "lstm"])
def test_truncated_bptt_refuses_bidirectional(variant):
    net = make_net(variant, "softmax", num_layers=2, bidirectional=True)
    X, lengths, Y, w = make_problem("softmax", False, seed=45)
    with pytest.raises(ValueError, match="bidirectional"):
        net.loss_and_gradient(X, lengths, Y, w, bptt_steps=T - 1)


# ------------------------------------------------------------- streaming

STREAM_VARIANTS = ["rnn_tanh", "rnn_relu", "gru", "gru_reset_before", "lstm", "lstm_peephole"]
SCHEDULES = {"chunks": [3, 1, 4, 2], "steps": [1] * 10}


def stream(layer, X, lengths, init, schedule):
    """Feed X chunk by chunk, carrying the state; the samples already finished
    leave the batch (a chunk holds only running samples, each with its own
    length inside the chunk).  Returns padded outputs and the final state."""
    Bn, Tn = X.shape[:2]
    lstm = isinstance(init, tuple)
    h = np.array(init[0] if lstm else init)
    c = np.array(init[1]) if lstm else None
    outputs = np.zeros((Bn, Tn, layer.output_size), layer.dtype)
    s = 0
    for k in schedule:
        rows = np.flatnonzero(lengths > s)
        if rows.size == 0:          # every sequence has ended: nothing to feed
            s += k
            continue
        len_c = np.minimum(lengths[rows] - s, k)
        state = (h[:, rows], c[:, rows]) if lstm else h[:, rows]
        out, state = layer.forward(X[rows, s:s + k], len_c, initial_state=state)
        assert out.shape == (len(rows), min(k, Tn - s), layer.output_size)
        outputs[rows, s:s + k] = out
        if lstm:
            h[:, rows], c[:, rows] = state
        else:
            h[:, rows] = state
        s += k
    assert s == Tn
    return outputs, ((h, c) if lstm else h)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize("batch", [1, 5])
@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("variant", STREAM_VARIANTS)
def test_streaming_equals_whole_sequence(variant, num_layers, schedule, batch, ragged, dtype):
    """Outputs and final states of the stream equal one whole-sequence forward
    from the same initial state.  Measured bit-identical at these sizes; the
    bound allows one rounding (the input-projection GEMM may block differently
    for a different number of rows)."""
    cls, kwargs, _ = VARIANTS[variant]
    layer = cls(3, 4, num_layers, dtype=dtype, random_state=7, **kwargs).eval()
    rng = np.random.default_rng(8 + batch)
    Tn = 10
    X = rng.standard_normal((batch, Tn, 3)).astype(dtype)
    lengths = np.full(batch, Tn)
    if ragged:
        lengths = np.array([4, 10, 1, 7, 3])[:batch] if batch > 1 else np.array([6])
    init = random_state_like(rng, layer, batch)
    init = tuple(s.astype(dtype) for s in init) if isinstance(init, tuple) else init.astype(dtype)
    whole_out, whole_state = layer.forward(X, lengths, initial_state=init)
    out, state = stream(layer, X, lengths, init, SCHEDULES[schedule])
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert rel_err(out, whole_out) <= tol
    for a, e in zip(state if isinstance(state, tuple) else (state,),
                    whole_state if isinstance(whole_state, tuple) else (whole_state,)):
        assert a.dtype == dtype
        assert rel_err(a, e) <= tol


def test_streaming_in_training_mode_and_larger_sizes():
    """Training mode (activations kept) streams the same, H = 32, batch 7."""
    layer = LSTM(5, 32, 2, dtype=np.float64, random_state=1)
    rng = np.random.default_rng(9)
    X = rng.standard_normal((7, 12, 5))
    lengths = np.array([12, 5, 9, 1, 12, 7, 3])
    init = random_state_like(rng, layer, 7)
    whole_out, (h, c) = layer.forward(X, lengths, init)
    out, (h2, c2) = stream(layer, X, lengths, init, [5, 5, 2])
    assert rel_err(out, whole_out) < 1e-12
    assert rel_err(h2, h) < 1e-12 and rel_err(c2, c) < 1e-12


# --------------------------------------------------------------- dropout

def test_dropout_only_in_training_and_between_layers():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((3, 6, 2))
    lengths = np.array([6, 2, 4])
    deep = GRU(2, 5, 2, dropout=0.5, dtype=np.float64, random_state=0)
    train_out, _ = deep.train().forward(X, lengths)
    eval_out, _ = deep.eval().forward(X, lengths)
    eval_again, _ = deep.eval().forward(X, lengths)
    assert not np.allclose(train_out, eval_out)
    np.testing.assert_array_equal(eval_out, eval_again)
    # dropout=0 gives the eval outputs in training mode
    nodrop = GRU(2, 5, 2, dtype=np.float64, random_state=0)
    np.testing.assert_array_equal(nodrop.train().forward(X, lengths)[0], eval_out)
    # one layer: nothing lies between layers, dropout changes nothing
    shallow = GRU(2, 5, 1, dropout=0.5, dtype=np.float64, random_state=0)
    np.testing.assert_array_equal(shallow.train().forward(X, lengths)[0],
                                  shallow.eval().forward(X, lengths)[0])


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("variant", ["rnn_tanh", "gru", "lstm"])
def test_dropout_masks_follow_random_state(variant, bidirectional):
    cls, kwargs, _ = VARIANTS[variant]
    X = np.random.default_rng(11).standard_normal((4, 5, 2))

    def layer(seed):
        return cls(2, 4, 3, bidirectional=bidirectional, dropout=0.3,
                   dtype=np.float64, random_state=seed, **kwargs)

    a, b = layer(3), layer(3)
    first_a, second_a = a.forward(X)[0], a.forward(X)[0]
    first_b, second_b = b.forward(X)[0], b.forward(X)[0]
    np.testing.assert_array_equal(first_a, first_b)
    np.testing.assert_array_equal(second_a, second_b)
    assert not np.allclose(first_a, second_a)      # a new mask each forward
    # re-seeding the generator replays the masks
    a._rng = np.random.default_rng(99)
    replay1 = a.forward(X)[0]
    a._rng = np.random.default_rng(99)
    np.testing.assert_array_equal(a.forward(X)[0], replay1)


@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("variant", ["rnn_tanh", "gru", "lstm"])
def test_gradcheck_with_dropout_fixed_mask(variant, bidirectional, return_sequences):
    """dropout=0.4 on a 3-layer stack, the mask held fixed by re-seeding."""
    net = make_net(variant, "softmax", return_sequences, num_layers=3,
                   bidirectional=bidirectional, dropout=0.4, random_state=12)
    X, lengths, Y, w = make_problem("softmax", return_sequences, seed=13)
    net.rnn._rng = np.random.default_rng(5)
    with_mask_5 = net.loss_and_gradient(X, lengths, Y, w)
    net.rnn._rng = np.random.default_rng(6)
    assert net.loss_and_gradient(X, lengths, Y, w) != with_mask_5   # masks matter
    finite_difference_check(net, X, lengths, Y, w, reseed=5)


# ----------------------------------------------------------------- torch

TORCH_CELLS = ["lstm", "gru"]
TORCH_LOSSES = ["softmax", "squared_error", "sigmoid"]
TORCH_TOL = {np.float64: 1e-10, np.float32: 1e-5}


def torch_network_loss(torch, net, X, lengths, Y, w):
    """The same network in torch: nn.LSTM/GRU on a packed batch, nn.Linear head
    on cat(h_n[-2], h_n[-1]) (or on every step), weighted mean of
    cross_entropy / mse_loss (halved, mean over outputs) / BCE with logits."""
    F = torch.nn.functional
    dt = torch.float64 if net.dtype == np.float64 else torch.float32
    rnn = net.rnn
    cls = torch.nn.LSTM if isinstance(rnn, LSTM) else torch.nn.GRU
    m = cls(rnn.input_size, rnn.hidden_size, rnn.num_layers, bidirectional=rnn.bidirectional,
            batch_first=True, dtype=dt)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in rnn.state_dict().items()})
    head = torch.nn.Linear(net.weight.shape[1], net.n_outputs, dtype=dt)
    head.load_state_dict({"weight": torch.from_numpy(net.weight.copy()),
                          "bias": torch.from_numpy(net.bias.copy())})
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.from_numpy(X), torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
    out, state = m(packed)
    h_n = state[0] if isinstance(state, tuple) else state
    wt = torch.from_numpy(w.astype(X.dtype))
    if net.return_sequences:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                        total_length=X.shape[1])
        valid = torch.arange(X.shape[1])[None, :] < torch.as_tensor(lengths)[:, None]
        Z = head(out[valid])                       # valid steps only
        wt = wt[:, None].expand(valid.shape)[valid]
        Yt = torch.from_numpy(np.asarray(Y))[valid]
    else:
        Z = head(torch.cat([h_n[-2], h_n[-1]], dim=1))
        Yt = torch.from_numpy(np.asarray(Y))
    if net.loss == "softmax":
        per = F.cross_entropy(Z, Yt.long(), reduction="none")
    elif net.loss == "sigmoid":
        per = F.binary_cross_entropy_with_logits(Z, Yt.to(dt), reduction="none").sum(1)
    else:
        per = 0.5 * F.mse_loss(Z, Yt.to(dt), reduction="none").mean(1)
    total = (per * wt).sum() / wt.sum()
    total.backward()
    grads = {name: p.grad.numpy() for name, p in m.named_parameters()}
    grads["head.weight"] = head.weight.grad.numpy()
    grads["head.bias"] = head.bias.grad.numpy()
    return total.item(), grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=SEQ_IDS.get)
@pytest.mark.parametrize("loss", TORCH_LOSSES)
@pytest.mark.parametrize("cell", TORCH_CELLS)
def test_matches_torch(cell, loss, return_sequences, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    In, Hn, Kn, Tn = 3, 5, 4, 6
    lengths = np.array([6, 2, 5, 1, 6, 3])
    net = SequenceNetwork(cell, In, Hn, Kn, loss=loss, return_sequences=return_sequences,
                          num_layers=2, bidirectional=True, dtype=dtype, random_state=15)
    X = rng.standard_normal((6, Tn, In)).astype(dtype)
    Y = make_targets(rng, loss, lengths, Tn, return_sequences, Kn)
    if return_sequences and loss == "softmax":
        Y = np.where(Y < 0, 0, Y)   # torch indexes the valid steps; keep it an int array
    w = rng.uniform(0.2, 2.0, 6)
    w[2] = 0
    ours = net.loss_and_gradient(X, lengths, Y, w)
    theirs, t_grads = torch_network_loss(torch, net, X, lengths, Y, w)
    assert set(t_grads) == set(net.grads)
    tol = TORCH_TOL[dtype]
    errors = {"loss": abs(ours - theirs) / max(1.0, abs(theirs))}
    for name, g in net.grads.items():
        assert np.any(t_grads[name] != 0), name          # a comparison, not 0 == 0
        errors[name] = rel_err(g, t_grads[name])
    worst = max(errors, key=errors.get)
    grad_worst = max((n for n in errors if n != "loss"), key=errors.get)
    print(f"torch parity {cell} {loss} {SEQ_IDS[return_sequences]} {np.dtype(dtype).name}: "
          f"loss {errors['loss']:.2e}, gradients {errors[grad_worst]:.2e} ({grad_worst})")
    assert errors[worst] < tol, (worst, errors[worst])


# ------------------------------------------------------ the adding problem

def adding_problem(rng, n, n_timesteps=50):
    """X (n, T, 2): values U[0, 1] and a 0/1 marker on 2 random steps;
    y (n, 1): the sum of the 2 marked values."""
    X = np.zeros((n, n_timesteps, 2), np.float32)
    X[:, :, 0] = rng.uniform(0, 1, (n, n_timesteps))
    marked = np.argsort(rng.random((n, n_timesteps)), axis=1)[:, :2]
    X[np.arange(n)[:, None], marked, 1] = 1
    y = (X[:, :, 0] * X[:, :, 1]).sum(axis=1, keepdims=True)
    return X, y


# cell -> (hidden_size, learning rate, batch size, max steps).  With seeds 0-9
# these reached MSE < 0.01 within 700-1400 steps (LSTM) and 300-400 (GRU).
ADDING = {"lstm": (8, 0.01, 64, 3000), "gru": (8, 0.01, 32, 2000)}


@pytest.mark.parametrize("cell", list(ADDING))
def test_learns_the_adding_problem(cell):
    """Adam + clip_grad_norm(1.0) on SequenceNetwork(loss='squared_error'):
    test MSE below 0.01 (predicting the mean scores about 0.17); evaluated
    every 100 steps, stopping at the first success."""
    hidden_size, lr, batch, max_steps = ADDING[cell]
    rng = np.random.default_rng(0)
    X_test, y_test = adding_problem(rng, 500)
    assert 0.1 < y_test.var() < 0.25          # the trivial predictor's MSE
    net = SequenceNetwork(cell, 2, hidden_size, 1, loss="squared_error", random_state=0)
    opt = Adam(net.flat_params, net.flat_grads, lr=lr)
    lengths = np.full(batch, 50)
    start, mse, step = time.perf_counter(), np.inf, 0
    while step < max_steps and mse >= 0.01:
        for _ in range(100):
            X, y = adding_problem(rng, batch)
            loss = net.loss_and_gradient(X, lengths, y)
            assert np.isfinite(loss)
            clip_grad_norm(net.flat_grads, 1.0)
            opt.step()
            step += 1
        mse = float(np.mean((net.decision_function(X_test) - y_test) ** 2))
    print(f"adding problem {cell}: H={hidden_size} lr={lr} batch={batch}: "
          f"test MSE {mse:.4f} after {step} steps, {time.perf_counter() - start:.1f} s")
    assert mse < 0.01, f"test MSE {mse:.4f} after {step} steps"

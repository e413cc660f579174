"""Tests for seqcore.nn.Seq2Seq: gradients through teacher forcing (finite
differences, every cell and score kind), scheduled sampling, beam search
(width 1 is greedy; the most probable sequence on an enumerable model),
decoding that does not depend on the batch, determinism, bad input."""

import itertools
import pickle

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from seqcore.nn import Seq2Seq
from seqcore.nn import _seq2seq

START, END = 1, 2


def make(cell="lstm", attention="additive", dtype=np.float64, bidirectional=True,
         num_layers=1, hidden_size=4, random_state=0, scale=1.0, **opts):
    net = Seq2Seq(7, 6, start_id=START, end_id=END, cell=cell, embedding_dim=3,
                  hidden_size=hidden_size, num_layers=num_layers,
                  bidirectional_encoder=bidirectional, attention=attention,
                  attention_size=3 if attention == "additive" else None, dtype=dtype,
                  random_state=random_state, **opts)
    if scale != 1.0:
        net.flat_params[:] *= scale
    return net


def batch(rng, B=3, S=5, T=4):
    """Padded sources and targets (targets end with END), with their lengths."""
    src_len = np.array([S, 2, 4, 1, 3][:B])
    tgt_len = np.array([T, 1, 3, 2, 4][:B])
    src = rng.integers(1, 7, size=(B, S))
    Y = rng.integers(3, 6, size=(B, T))
    for b in range(B):
        src[b, src_len[b]:] = 0
        Y[b, tgt_len[b] - 1] = END
        Y[b, tgt_len[b]:] = 0
    return src, src_len, Y, tgt_len


def finite_difference_check(net, args, rate=0.0, eps=1e-6):
    net._rng = np.random.default_rng(7)   # the same sampled steps in every call
    loss = net.loss_and_gradient(*args, sampling_rate=rate)
    analytic = net.flat_grads.copy()
    numeric = np.zeros_like(analytic)
    for i in range(analytic.size):
        old = net.flat_params[i]
        values = []
        for x in (old + eps, old - eps):
            net.flat_params[i] = x
            net._rng = np.random.default_rng(7)   # the same sampled steps
            values.append(net.loss_and_gradient(*args, sampling_rate=rate))
        net.flat_params[i] = old
        numeric[i] = (values[0] - values[1]) / (2 * eps)
    assert np.isfinite(loss)
    worst = {p: float(np.abs(numeric[s] - analytic[s]).max(initial=0))
             for p, s in net._slices().items()}
    assert max(worst.values()) < 1e-7, worst


@pytest.mark.parametrize("attention", ["additive", "dot", "general"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm", "mgu"])
def test_gradients_teacher_forcing(cell, attention):
    rng = np.random.default_rng(0)
    net = make(cell, attention)
    net.flat_params += rng.normal(scale=0.3, size=net.flat_params.size)
    finite_difference_check(net, batch(rng))


@pytest.mark.parametrize("cell,opts,layers,bidirectional", [
    ("gru", {"reset_after": False}, 2, True),
    ("lstm", {"peephole": True}, 1, True),
    ("lstm", {}, 2, False),
])
def test_gradients_cell_options_and_stacks(cell, opts, layers, bidirectional):
    rng = np.random.default_rng(1)
    net = make(cell, "general", num_layers=layers, bidirectional=bidirectional, **opts)
    finite_difference_check(net, batch(rng))


def test_gradients_with_scheduled_sampling():
    # the sampled steps read the model's own argmax: the gradient holds for
    # a fixed draw of the sampled steps (the choice itself is not differentiated)
    rng = np.random.default_rng(2)
    net = make("lstm", "additive", scale=3.0)
    args = batch(rng)
    finite_difference_check(net, args, rate=0.5)
    net._rng = np.random.default_rng(7)
    a = net.loss_and_gradient(*args, sampling_rate=0.5)
    b = net.loss_and_gradient(*args, sampling_rate=0.0)
    assert a != b   # some step did read a prediction


def test_loss_is_mean_cross_entropy_of_log_prob():
    rng = np.random.default_rng(3)
    net = make("gru", "dot", scale=2.0)
    src, src_len, Y, tgt_len = batch(rng)
    loss = net.loss_and_gradient(src, src_len, Y, tgt_len)
    logp = net.log_prob(src, src_len, Y, tgt_len)
    assert logp.shape == (3,)
    np.testing.assert_allclose(loss, -logp.sum() / tgt_len.sum(), rtol=1e-12)


def decode_all(net, src, src_len, **kw):
    return net.decode(src, src_len, **kw)


@pytest.mark.parametrize("attention", ["additive", "dot", "general"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_width_one_equals_greedy(cell, attention):
    rng = np.random.default_rng(4)
    net = make(cell, attention, hidden_size=6, scale=3.0)
    net.output.params["bias"][END] += 1.0   # outputs of many lengths
    src = rng.integers(1, 7, size=(40, 6))
    src_len = rng.integers(1, 7, size=40)
    greedy, g_att = net.decode(src, src_len, max_length=6, return_attention=True)
    assert any(len(o) for o in greedy) and any(len(o) < 6 for o in greedy)
    P = net._snapshot_views()
    S = int(src_len.max())
    beam, b_att = net._beam(np.ascontiguousarray(src[:, :S]), src_len, P, 6, 1, 1.0, True)
    for g, b, ga, ba in zip(greedy, beam, g_att, b_att):
        np.testing.assert_array_equal(g, b)
        np.testing.assert_allclose(ga, ba, atol=1e-12)


def enumerate_outputs(tokens, max_length):
    """Every output of at most max_length tokens: (ids with END unless cut)."""
    out = []
    for n in range(max_length + 1):
        for seq in itertools.product(tokens, repeat=n):
            out.append(list(seq) + ([END] if n < max_length else []))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_finds_the_most_probable_output(seed):
    rng = np.random.default_rng(seed)
    net = make("lstm", "additive", hidden_size=4, random_state=seed, scale=2.5)
    net.output.params["bias"][END] -= 2.0   # make longer outputs competitive
    tokens, max_length = [3, 4, 5], 3          # ids 0 (pad) and 1 (start) are never output
    seqs = enumerate_outputs(tokens, max_length)
    Y = np.zeros((len(seqs), max_length + 1), np.int64)
    lengths = np.array([len(s) for s in seqs])
    for i, s in enumerate(seqs):
        Y[i, :len(s)] = s
    for b in range(3):
        src = rng.integers(1, 7, size=(1, 4))
        logp = net.log_prob(np.repeat(src, len(seqs), 0), None, Y, lengths)
        best = [t for t in seqs[int(np.argmax(logp))] if t != END]
        out = net.decode(src, max_length=max_length, beam_width=len(seqs),
                         length_penalty=0.0)[0]
        assert out.tolist() == best
        # a narrower beam finds an output at least as probable as greedy's
        narrow = net.decode(src, max_length=max_length, beam_width=3, length_penalty=0.0)[0]
        greedy = net.decode(src, max_length=max_length)[0]

        def score(o):
            target = o.tolist() + ([END] if len(o) < max_length else [])
            return seqs.index(target)

        assert logp[score(narrow)] >= logp[score(greedy)] - 1e-12


def test_decoding_does_not_depend_on_the_batch(monkeypatch):
    rng = np.random.default_rng(5)
    net = make("lstm", "general", dtype=np.float32, hidden_size=8, scale=2.0)
    B = 70
    src = rng.integers(1, 7, size=(B, 9))
    src_len = rng.integers(1, 10, size=B)
    garbage = src.copy()
    for b in range(B):   # what lies beyond a length is never read
        garbage[b, src_len[b]:] = rng.integers(0, 7, size=9 - src_len[b])
    whole, att = net.decode(src, src_len, max_length=7, return_attention=True)
    for kw in ({}, {"beam_width": 3}):
        ref = net.decode(src, src_len, max_length=7, **kw)
        for b in (0, 33, 69):
            alone = net.decode(src[b:b + 1, :src_len[b]], max_length=7, **kw)[0]
            np.testing.assert_array_equal(alone, ref[b])
        out = net.decode(garbage, src_len, max_length=7, **kw)
        for a, r in zip(out, ref):
            np.testing.assert_array_equal(a, r)
    # chunks of rows, and one row range instead of two: the same tokens (the
    # float32 products of other row counts may round the weights differently)
    monkeypatch.setattr(_seq2seq, "DECODE_CHUNK", 16)
    monkeypatch.setattr(_seq2seq, "MIN_SPLIT_ROWS", 10**6)
    chunked, att2 = net.decode(src, src_len, max_length=7, return_attention=True)
    for a, b, wa, wb in zip(whole, chunked, att, att2):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(wa, wb, atol=1e-6)
        assert wa.shape[0] == len(a)
    for w, n in zip(att, src_len):
        assert w.shape[1] == n
        np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-5)


def test_training_is_bit_identical_for_any_blas_thread_count():
    rng = np.random.default_rng(6)
    args = batch(rng, B=5, S=5, T=4)
    grads = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            net = make("lstm", "additive", dtype=np.float32, hidden_size=16)
            net.loss_and_gradient(*args)
            grads.append((net.flat_grads.copy(),
                          net.decode(args[0], args[1], max_length=5, beam_width=2)))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        np.testing.assert_array_equal(a, b)


def test_pickle_round_trip_and_parameter_names():
    rng = np.random.default_rng(7)
    net = make("gru", "additive", scale=2.0)
    names = set(net.params)
    assert {"encoder.weight_ih_l0", "encoder.weight_ih_l0_reverse", "bridge.weight",
            "attention.query_weight", "decoder.weight_hh_l0", "target_embedding.weight",
            "output.bias"} <= names
    assert net.params["decoder.weight_ih_l0"].shape == (3 * 4, 3 + 4)   # [embedding, context]
    src, src_len, Y, tgt_len = batch(rng)
    clone = pickle.loads(pickle.dumps(net))
    assert np.shares_memory(clone.encoder.flat_params, clone.flat_params)
    for a, b in zip(net.decode(src, src_len, max_length=4), clone.decode(src, src_len,
                                                                          max_length=4)):
        np.testing.assert_array_equal(a, b)
    assert clone.loss_and_gradient(src, src_len, Y, tgt_len) == \
        net.loss_and_gradient(src, src_len, Y, tgt_len)


def test_bad_input():
    rng = np.random.default_rng(8)
    net = make()
    src, src_len, Y, tgt_len = batch(rng)
    with pytest.raises(ValueError, match="must be even"):
        make(hidden_size=5)
    with pytest.raises(ValueError, match="start_id and end_id must differ"):
        Seq2Seq(5, 5, start_id=2, end_id=2)
    with pytest.raises(ValueError, match="end_id must be < target_vocab_size"):
        Seq2Seq(5, 5, start_id=1, end_id=5)
    with pytest.raises(ValueError, match="cell must be one of"):
        Seq2Seq(5, 5, start_id=1, end_id=2, cell="transformer")
    with pytest.raises(ValueError, match="must end with end_id"):
        bad = Y.copy()
        bad[0, tgt_len[0] - 1] = 3
        net.loss_and_gradient(src, src_len, bad, tgt_len)
    with pytest.raises(ValueError, match="before their last step"):
        bad = Y.copy()
        bad[0, 0] = START
        net.loss_and_gradient(src, src_len, bad, tgt_len)
    with pytest.raises(ValueError, match="outside"):
        net.loss_and_gradient(src + 10, src_len, Y, tgt_len)
    with pytest.raises(ValueError, match="length zero"):
        net.decode(np.zeros((2, 0), np.int64), max_length=3)
    with pytest.raises(ValueError, match="an empty sequence"):
        net.decode(src, [0, 1, 1], max_length=3)
    with pytest.raises(ValueError, match="max_length must be >= 1"):
        net.decode(src, src_len, max_length=0)
    with pytest.raises(ValueError, match="beam_width must be >= 1"):
        net.decode(src, src_len, max_length=3, beam_width=0)
    with pytest.raises(ValueError, match="length_penalty"):
        net.decode(src, src_len, max_length=3, length_penalty=-1)
    with pytest.raises(TypeError, match="integer ids"):
        net.decode(src.astype(float), src_len, max_length=3)
    with pytest.raises(ValueError, match="sampling_rate"):
        net.loss_and_gradient(src, src_len, Y, tgt_len, sampling_rate=1.5)
    with pytest.raises(ValueError, match="targets has 2 sequences"):
        net.loss_and_gradient(src, src_len, Y[:2], tgt_len[:2])


@pytest.mark.parametrize("attention", ["additive", "general", "dot"])
def test_agrees_with_pytorch(attention):
    """Loss and every gradient against the same network written in PyTorch
    (packed bidirectional LSTM encoder, LSTMCell decoder loop, autograd),
    with seqcore's weights copied in by name."""
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    rng = np.random.default_rng(9)
    net = make("lstm", attention, hidden_size=6, scale=1.5)
    src, src_len, Y, tgt_len = batch(rng, B=4, S=5, T=4)
    loss = net.loss_and_gradient(src, src_len, Y, tgt_len)
    P = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    H, Hd = net.hidden_size, net.encoder.hidden_size

    x = P["source_embedding.weight"][torch.tensor(src)]
    lstm = torch.nn.LSTM(3, Hd, batch_first=True, bidirectional=True).double()
    for name, _ in list(lstm.named_parameters()):   # seqcore's tensors, by name
        delattr(lstm, name)
        setattr(lstm, name, P[f"encoder.{name}"])
    lstm._flat_weights = [getattr(lstm, n) for n in lstm._flat_weights_names]
    packed = pack_padded_sequence(x, torch.tensor(src_len), batch_first=True,
                                  enforce_sorted=False)
    out, (h_n, _) = lstm(packed)
    M, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
    h = torch.tanh(torch.cat([h_n[-2], h_n[-1]], 1) @ P["bridge.weight"].T
                   + P["bridge.bias"])
    c = torch.zeros_like(h)
    mask = torch.arange(src.shape[1])[None] >= torch.tensor(src_len)[:, None]
    if attention == "additive":
        Kp = M @ P["attention.key_weight"].T
    elif attention == "general":
        Kp = M @ P["attention.weight"].T
    else:
        Kp = M
    banned = torch.tensor(net.allowed == 0)
    y_prev = torch.full((len(src),), START)
    total = 0
    for t in range(Y.shape[1]):
        if attention == "additive":
            e = torch.tanh((h @ P["attention.query_weight"].T)[:, None] + Kp) \
                @ P["attention.score_weight"]
        else:
            e = torch.bmm(Kp, h[:, :, None])[:, :, 0]
        w = torch.softmax(e.masked_fill(mask, float("-inf")), dim=1)
        ctx = torch.bmm(w[:, None], M)[:, 0]
        xt = torch.cat([P["target_embedding.weight"][y_prev], ctx], 1)
        h, c = torch._VF.lstm_cell(xt, (h, c), P["decoder.weight_ih_l0"],
                                   P["decoder.weight_hh_l0"], P["decoder.bias_ih_l0"],
                                   P["decoder.bias_hh_l0"])
        z = torch.cat([h, ctx], 1) @ P["output.weight"].T + P["output.bias"]
        z = z.masked_fill(banned, float("-inf"))
        target = torch.tensor(Y[:, t])
        nll = torch.nn.functional.cross_entropy(z, target, ignore_index=0, reduction="sum")
        total = total + nll
        y_prev = target
    t_loss = total / int(tgt_len.sum())
    t_loss.backward()
    np.testing.assert_allclose(loss, t_loss.item(), rtol=1e-12)
    for name, g in net.grads.items():
        theirs = P[name].grad
        theirs = np.zeros_like(g) if theirs is None else theirs.numpy()
        np.testing.assert_allclose(g, theirs, atol=1e-10, rtol=1e-8, err_msg=name)


def test_training_from_two_threads_is_refused_and_inference_runs_meanwhile():
    import threading

    rng = np.random.default_rng(10)
    net = make("lstm", "additive")
    args = batch(rng)
    reference = net.decode(args[0], args[1], max_length=4)
    entered, release = threading.Event(), threading.Event()
    original = net._loss_and_gradient

    def slow(*a):
        entered.set()
        release.wait(10)
        return original(*a)

    net._loss_and_gradient = slow
    worker = threading.Thread(target=net.loss_and_gradient, args=args)
    worker.start()
    try:
        assert entered.wait(10)
        with pytest.raises(RuntimeError, match="another thread"):
            net.loss_and_gradient(*args)
        for a, b in zip(net.decode(args[0], args[1], max_length=4), reference):
            np.testing.assert_array_equal(a, b)
    finally:
        release.set()
        worker.join()


def test_too_large_a_batch_is_refused_before_any_work(monkeypatch):
    rng = np.random.default_rng(11)
    net = make()
    monkeypatch.setattr(_seq2seq, "check_memory", _refuse)
    src = rng.integers(1, 7, size=(4000, 400))
    Y = np.full((4000, 300), 3)
    Y[:, -1] = END
    with pytest.raises(MemoryError, match="Seq2Seq training on 4000 pairs"):
        net.loss_and_gradient(src, None, Y, None)


def _refuse(n_bytes, what):
    raise MemoryError(f"{what} needs {n_bytes} bytes")


def big_batch(rng, B=40, S=6, T=5):
    src_len = rng.integers(1, S + 1, size=B)
    tgt_len = rng.integers(1, T + 1, size=B)
    src = rng.integers(1, 7, size=(B, S))
    Y = rng.integers(3, 6, size=(B, T))
    for b in range(B):
        src[b, src_len[b]:] = 0
        Y[b, tgt_len[b] - 1] = END
        Y[b, tgt_len[b]:] = 0
    return src, src_len, Y, tgt_len


@pytest.mark.parametrize("cell,attention,opts", [
    ("lstm", "additive", {"peephole": True}), ("gru", "general", {}), ("mgu", "dot", {})])
def test_training_row_ranges_agree_with_one_range(monkeypatch, cell, attention, opts):
    # a batch of 40 rows runs in two row ranges (at once on two threads when
    # allowed); the gradients that sum over rows (v, the peepholes, every
    # weight) add up the ranges' shares
    rng = np.random.default_rng(12)
    args = big_batch(rng)
    net = make(cell, attention, hidden_size=6, scale=1.5, **opts)
    split = (net.loss_and_gradient(*args), net.flat_grads.copy())
    monkeypatch.setattr(_seq2seq, "MIN_SPLIT_ROWS", 10**6)
    whole = (net.loss_and_gradient(*args), net.flat_grads.copy())
    np.testing.assert_allclose(split[0], whole[0], rtol=1e-13)
    np.testing.assert_allclose(split[1], whole[1], rtol=1e-10, atol=1e-13)
    assert np.abs(whole[1]).max() > 0


def test_split_training_is_bit_identical_for_any_blas_thread_count():
    rng = np.random.default_rng(13)
    args = big_batch(rng)
    out = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            net = make("lstm", "additive", dtype=np.float32, hidden_size=16, peephole=True)
            loss = net.loss_and_gradient(*args, sampling_rate=0.3)
            out.append((loss, net.flat_grads.copy(),
                        net.decode(args[0], args[1], max_length=5)))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])
    for a, b in zip(out[0][2], out[1][2]):
        np.testing.assert_array_equal(a, b)


def test_projected_lstm_is_refused_at_construction():
    """issue 22, item 3: proj_size used to be accepted and to fail later in
    decoding and the loss with internal shape errors."""
    for cell, proj in (("lstm", 3), ("lstm", 1)):
        with pytest.raises(ValueError, match="does not support the LSTM's proj_size"):
            Seq2Seq(9, 8, start_id=1, end_id=2, cell=cell, hidden_size=8, proj_size=proj)
    # proj_size=0 is the plain LSTM, accepted
    net = Seq2Seq(9, 8, start_id=1, end_id=2, cell="lstm", hidden_size=8, proj_size=0,
                  random_state=0)
    assert net.decoder.state_size == 8


def test_beam_histories_grow_with_the_outputs(monkeypatch):
    """issue 22, item 13: beam search keeps its hypotheses' tokens in buffers
    that grow with the outputs (doubling from BEAM_HISTORY) instead of
    max_length-long ones.  Outputs and attention are the same whatever the
    first length, also for outputs many times longer than it."""
    rng = np.random.default_rng(8)
    net = make("gru", "additive", hidden_size=6, scale=2.0)
    src = rng.integers(1, 7, size=(5, 6))
    lengths = np.array([6, 1, 3, 6, 2])
    ref = net.decode(src, lengths, max_length=40, beam_width=3, return_attention=True)
    assert max(len(o) for o in ref[0]) > 8       # past the small first length below
    monkeypatch.setattr(_seq2seq, "BEAM_HISTORY", 2)
    got = net.decode(src, lengths, max_length=40, beam_width=3, return_attention=True)
    for a, b in zip(ref[0], got[0]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ref[1], got[1]):
        np.testing.assert_array_equal(a, b)

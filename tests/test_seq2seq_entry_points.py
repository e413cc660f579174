"""The compiled entry points of attention and the decoder loop refuse
inconsistent shapes before any work.

For each ``def`` of ``seqcore._attention`` and ``seqcore._decoder`` a valid
call is built from a small network; the test changes one dimension of one
array argument at a time, by +1 and by -1, and expects a ValueError (the
loops form raw pointers from these shapes, so an unchecked one would read or
write out of bounds).  Valid changes would be listed in ALLOWED with the
reason.
"""

import numpy as np
import pytest

from seqcore import _attention, _decoder
from seqcore.nn import Seq2Seq

B, S, T, V = 3, 5, 4, 7


def E(ndim, dtype=np.float64):
    return np.empty((0,) * ndim, dtype)


def decoder_calls(cell, attention):
    net = Seq2Seq(6, V, start_id=1, end_id=2, cell=cell, embedding_dim=3, hidden_size=4,
                  attention=attention, attention_size=3 if attention == "additive" else None,
                  dtype=np.float64, random_state=0)
    rng = np.random.default_rng(0)
    src = rng.integers(1, 6, size=(B, S))
    lengths = np.array([S, 2, 3])
    P = {p: getattr(net, p).params for p in net.PARTS}
    M, Kp, h0, c0 = net._encode(src, lengths, P)
    args = net._decoder_args(P, M, Kp, lengths)
    names = ("kind", "flags", "attn_kind", "emb", "W_ih", "W_hh", "bias", "b_hh", "extra",
             "W_q", "v", "K", "Kp", "lengths", "W_out", "b_out")
    common = dict(zip(names, args))
    lay, H, Hk = net._layout, net.hidden_size, M.shape[2]
    G, A, I, O = lay.G, net.attention.projected_size, 3 + Hk, H + Hk
    two, additive, dot = lay.n_states == 2, attention == "additive", attention == "dot"
    z = np.zeros
    ids = np.full((T, B), 3, np.int64)
    fwd = dict(common, ids=ids, sample=z((T, B), np.uint8), allowed=net.allowed,
               used=z((T, B), np.int64), Hs=z((T + 1, B, H)),
               Cs=z((T + 1, B, H)) if two else E(3), X=z((T, B, I)), gates=z((T, B, G * H)),
               aux=z((T, B, H)), Z=z((T, B, S, A)) if additive else E(4), W=z((T, B, S)),
               O=z((T, B, O)), logits=z((T, B, V)), row0=0, row1=B)
    bwd = dict(common, Hs=fwd["Hs"], Cs=fwd["Cs"], X=fwd["X"], gates=fwd["gates"],
               aux=fwd["aux"], Z=fwd["Z"], W=fwd["W"], dO=z((T, B, O)),
               dG=z((T, B, G * H)),
               dGH=z((T, B, G * H)) if lay.separate_bias >= 0 else E(3),
               dX=z((T, B, I)), dQP=z((T, B, A)) if additive else E(3),
               dK=z((B, S, Hk)), dKp=E(3) if dot else z((B, S, A)), dh0=z((B, H)),
               dc0=z((B, H)) if two else E(2),
               dextra=z((lay.extra_rows, H)) if lay.extra_rows else E(2),
               dv=z(A) if additive else E(1), row0=0, row1=B)
    weights = dict(kind=lay.code, flags=lay.flags, attn_kind=common["attn_kind"],
                   Hs=fwd["Hs"], X=fwd["X"], aux=fwd["aux"], dG=bwd["dG"], dGH=bwd["dGH"],
                   dQP=bwd["dQP"], dW_ih=z((G * H, I)), dW_hh=z((G * H, H)), db_ih=z(G * H),
                   db_hh=z(G * H), dW_q=z((A, H)) if additive else E(2), part=0, parts=2)
    greedy = dict(common, h0=h0, c0=c0, start_id=1, end_id=2, allowed=net.allowed,
                  tokens=z((B, 6), np.int64), out_lengths=z(B, np.int64),
                  attn=z((B, 6, S)), row0=0, row1=B)
    n = 5
    step = dict(common, ids=np.full(n, 3, np.int64), src=np.array([0, 0, 1, 2, 2], np.intp),
                h_prev=z((n, H)), c_prev=z((n, H)) if two else E(2), h=z((n, H)),
                c=z((n, H)) if two else E(2), w=z((n, S)), logits=z((n, V)))
    return {"train_forward": fwd, "train_backward": bwd, "weight_gradients": weights,
            "greedy": greedy, "step": step}


# changes that are valid calls (none so far: greedy's maximum output length
# comes from tokens and its attention output is checked against it)
ALLOWED = set()


def attention_calls():
    z = np.zeros
    q, K = z((B, 4)), z((B, S, 6))
    lengths = np.array([S, 2, 3], np.int64)
    add = dict(kind=0, q=q, W_q=z((3, 4)), v=z(3), K=K, Kp=z((B, S, 3)), lengths=lengths,
               Z=z((B, S, 3)), w=z((B, S)), ctx=z((B, 6)))
    gen = dict(add, kind=2, W_q=E(2), v=E(1), Kp=z((B, S, 4)), Z=E(3))
    add_b = dict(kind=0, dctx=z((B, 6)), dw=z((B, S)), q=q, W_q=add["W_q"], v=add["v"], K=K,
                 Kp=add["Kp"], lengths=lengths, Z=add["Z"], w=add["w"], dq=z((B, 4)),
                 dW_q=z((3, 4)), dv=z(3), dK=z((B, S, 6)), dKp=z((B, S, 3)))
    gen_b = dict(add_b, kind=2, W_q=E(2), v=E(1), Kp=gen["Kp"], Z=E(3), dW_q=E(2), dv=E(1),
                 dKp=z((B, S, 4)))
    return {"attend-additive": (_attention.attend, add),
            "attend-general": (_attention.attend, gen),
            "attend_backward-additive": (_attention.attend_backward, add_b),
            "attend_backward-general": (_attention.attend_backward, gen_b)}


def variations(kwargs):
    for name, value in kwargs.items():
        if not isinstance(value, np.ndarray) or value.size == 0:
            continue
        for axis in range(value.ndim):
            for delta in (+1, -1):
                shape = list(value.shape)
                shape[axis] += delta
                if shape[axis] < 1:
                    continue
                yield name, axis, delta, np.zeros(shape, value.dtype)


def run_variations(fn, kwargs):
    fn(*kwargs.values())   # the valid call runs
    accepted = []
    for name, axis, delta, bad in variations(kwargs):
        call = dict(kwargs, **{name: bad})
        if (name, axis, delta) in ALLOWED:
            continue
        try:
            fn(*call.values())
        except ValueError:
            continue
        accepted.append((name, axis, delta))
    assert not accepted, f"wrong shapes accepted: {accepted}"


@pytest.mark.parametrize("attention", ["additive", "dot", "general"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mgu"])
@pytest.mark.parametrize("entry", ["train_forward", "train_backward", "weight_gradients",
                                   "greedy", "step"])
def test_decoder_entry_points_refuse_wrong_shapes(entry, cell, attention):
    kwargs = decoder_calls(cell, attention)[entry]
    run_variations(getattr(_decoder, entry), kwargs)


@pytest.mark.parametrize("case", list(attention_calls()))
def test_attention_entry_points_refuse_wrong_shapes(case):
    fn, kwargs = attention_calls()[case]
    run_variations(fn, kwargs)


def test_ids_and_rows_out_of_range_are_refused():
    calls = decoder_calls("lstm", "additive")
    fwd = calls["train_forward"]
    bad = fwd["ids"].copy()
    bad[1, 2] = 99
    with pytest.raises(ValueError, match="ids holds id 99"):
        _decoder.train_forward(*dict(fwd, ids=bad).values())
    st = calls["step"]
    with pytest.raises(ValueError, match=r"src\[1\] = 3"):
        _decoder.step(*dict(st, src=np.array([0, 3, 1, 2, 2], np.intp)).values())
    g = calls["greedy"]
    with pytest.raises(ValueError, match="rows"):
        _decoder.greedy(*dict(g, row1=B + 1).values())
    with pytest.raises(ValueError, match="rows"):
        _decoder.train_forward(*dict(fwd, row0=2, row1=1).values())
    with pytest.raises(ValueError, match="part 2 out of 2"):
        _decoder.weight_gradients(*dict(calls["weight_gradients"], part=2).values())
    with pytest.raises(ValueError, match="end_id"):
        _decoder.greedy(*dict(g, end_id=V).values())
    with pytest.raises(ValueError, match="no output id is allowed"):
        _decoder.greedy(*dict(g, allowed=np.zeros(V, np.uint8)).values())
    with pytest.raises(ValueError, match="lengths"):
        _decoder.greedy(*dict(g, lengths=np.array([S + 1, 1, 1])).values())

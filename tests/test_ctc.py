"""seqcore.nn.ctc_loss and ctc_decode: against PyTorch, against a brute-force
sum over every path, against finite differences; impossible alignments,
bad input, decoding by exhaustive enumeration."""

import itertools
import threading

import numpy as np
import pytest

from seqcore import _ctc
from seqcore.nn import ctc_decode, ctc_loss, language_model_prior
from seqcore.nn._ctc import min_input_length

DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]
# loss and gradient tolerances per dtype (relative to the loss, absolute on
# the gradient, whose entries are at most 1 in size)
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def collapse(path, blank):
    """The labelling a path reads as: repeats collapsed, blanks dropped."""
    return tuple(k for k, _ in itertools.groupby(path) if k != blank)


def log_softmax(Z):
    Z = np.asarray(Z, np.float64)
    m = Z.max(axis=-1, keepdims=True)
    return Z - m - np.log(np.exp(Z - m).sum(axis=-1, keepdims=True))


def brute_force_nll(Z, labels, blank):
    """-log of the sum over all C**T paths of one (T, C) sequence that read as labels."""
    lp = log_softmax(Z)
    T, C = lp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        if collapse(path, blank) == tuple(labels):
            total += np.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return -np.log(total)


def random_batch(rng, B, T, C, blank, dtype, min_len=1):
    """Ragged lengths, ragged possible targets (with repeats, some empty)."""
    Z = rng.normal(scale=2.0, size=(B, T, C)).astype(dtype)
    lengths = rng.integers(max(min_len, 1), T + 1, size=B)
    lengths[0] = T   # at least one full row
    labels = np.array([c for c in range(C) if c != blank])
    targets = []
    for b in range(B):
        while True:
            t = rng.choice(labels, size=rng.integers(0, lengths[b] // 2 + 2))
            if min_input_length(t) <= lengths[b]:
                break
        targets.append(t)
    targets[-1] = np.array([labels[0], labels[0]])   # a repeat needing a blank
    lengths[-1] = max(lengths[-1], 3)
    return Z, lengths, targets


# ------------------------------------------------------------ against torch
def torch_ctc(Z, lengths, targets, blank, reduction, zero_infinity=False):
    torch = pytest.importorskip("torch")
    x = torch.tensor(Z, requires_grad=True)
    logp = x.log_softmax(2).transpose(0, 1)   # (T, B, C)
    flat = torch.tensor(np.concatenate(targets).astype(np.int64))
    loss = torch.nn.CTCLoss(blank=blank, reduction=reduction, zero_infinity=zero_infinity)(
        logp, flat, torch.tensor(np.asarray(lengths, np.int64)),
        torch.tensor([len(t) for t in targets], dtype=torch.int64))
    loss.sum().backward()
    return loss.detach().numpy(), x.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("blank", [0, 4])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_torch(dtype, blank, reduction, seed):
    pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    B, T, C = 7, 15, 6
    Z, lengths, targets = random_batch(rng, B, T, C, blank, dtype)
    loss, grad = ctc_loss(Z, lengths, targets, blank=blank, reduction=reduction)
    ref_loss, ref_grad = torch_ctc(Z, lengths, targets, blank, reduction)
    tol = TOL[dtype]
    assert grad.dtype == dtype and grad.shape == Z.shape
    np.testing.assert_allclose(loss, ref_loss, rtol=tol, atol=0)
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch_long_sequences(dtype):
    """T = 300 steps and 40 labels: log space keeps everything finite where
    probabilities would underflow.  The core computes in float64 for float32
    logits too, so it is compared with PyTorch's float64 run on the same
    values: PyTorch's own float32 run drifts by about 1e-3 here."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    B, T, C = 4, 300, 12
    Z = rng.normal(scale=3.0, size=(B, T, C)).astype(dtype)
    lengths = np.array([300, 250, 200, 120])
    targets = [rng.integers(1, C, size=n) for n in (40, 30, 25, 10)]
    for reduction in ("mean", "sum"):
        loss, grad = ctc_loss(Z, lengths, targets, reduction=reduction)
        ref_loss, ref_grad = torch_ctc(Z.astype(np.float64), lengths, targets, 0, reduction)
        assert np.isfinite(loss) and loss > 100 / (1 if reduction == "sum" else 40)
        np.testing.assert_allclose(loss, ref_loss, rtol=TOL[dtype])
        np.testing.assert_allclose(grad, ref_grad, atol=TOL[dtype], rtol=0)


def test_target_forms_agree():
    """A list of label arrays, a padded (B, S) array with lengths and
    PyTorch's concatenated 1-D form give the same results."""
    rng = np.random.default_rng(5)
    Z, lengths, targets = random_batch(rng, 5, 10, 5, 0, np.float64)
    S = max(len(t) for t in targets)
    padded = np.full((5, S), 3)   # padding holds a valid label on purpose: never read
    for b, t in enumerate(targets):
        padded[b, :len(t)] = t
    tl = [len(t) for t in targets]
    a = ctc_loss(Z, lengths, targets)
    b = ctc_loss(Z, lengths, padded, tl)
    c = ctc_loss(Z, lengths, np.concatenate(targets), tl)
    d = ctc_loss(Z, lengths, [list(t) for t in targets], tl)
    for other in (b, c, d):
        assert other[0] == a[0]
        np.testing.assert_array_equal(other[1], a[1])


# --------------------------------------------- against the sum over all paths
@pytest.mark.parametrize("blank", [0, 2])
def test_matches_brute_force_sum_over_paths(blank):
    rng = np.random.default_rng(7)
    T, C = 5, 3
    labels = [c for c in range(C) if c != blank]
    cases = [(), (labels[0],), (labels[1], labels[0]), (labels[0], labels[0]),
             (labels[0], labels[1], labels[0]), (labels[1], labels[1], labels[0])]
    for target in cases:
        for Tb in (T, 3):
            if min_input_length(target) > Tb:
                continue
            Z = rng.normal(size=(1, T, C))
            nll, _ = ctc_loss(Z, [Tb], [np.array(target, int)], blank=blank,
                              reduction="none")
            np.testing.assert_allclose(nll[0], brute_force_nll(Z[0, :Tb], target, blank),
                                       rtol=1e-12)


def test_probabilities_of_all_labellings_sum_to_one():
    """exp(-loss) over every labelling a T-step path can read as adds up to 1."""
    rng = np.random.default_rng(8)
    T, C = 4, 3
    Z = rng.normal(size=(1, T, C))
    labellings = {collapse(p, 0) for p in itertools.product(range(C), repeat=T)}
    total = sum(np.exp(-ctc_loss(Z, [T], [np.array(l, int)], reduction="sum")[0])
                for l in labellings)
    assert len(labellings) == 15   # those of 2 labels that fit 4 steps ('aa' takes 3)
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)


# -------------------------------------------------------- finite differences
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_finite_differences(reduction):
    rng = np.random.default_rng(11)
    Z, lengths, targets = random_batch(rng, 3, 6, 4, 1, np.float64)
    loss, grad = ctc_loss(Z, lengths, targets, blank=1, reduction=reduction)
    eps = 1e-6
    num = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += eps
        Zm[idx] -= eps
        num[idx] = (ctc_loss(Zp, lengths, targets, blank=1, reduction=reduction)[0]
                    - ctc_loss(Zm, lengths, targets, blank=1, reduction=reduction)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, num, atol=1e-8, rtol=1e-6)
    # padded steps: zero gradient, and what they hold is never read
    pad = np.arange(Z.shape[1]) >= np.asarray(lengths)[:, None]
    assert pad.any() and (grad[pad] == 0).all()
    Z2 = Z.copy()
    Z2[pad] = 1e3
    loss2, grad2 = ctc_loss(Z2, lengths, targets, blank=1, reduction=reduction)
    assert loss2 == loss
    np.testing.assert_array_equal(grad2, grad)


def test_gradient_of_each_row_rows_sum_to_zero():
    """Each step's gradient of a softmax input sums to 0 over the classes."""
    rng = np.random.default_rng(12)
    Z, lengths, targets = random_batch(rng, 4, 9, 5, 0, np.float64)
    _, grad = ctc_loss(Z, lengths, targets, reduction="none")
    np.testing.assert_allclose(grad.sum(axis=2), 0, atol=1e-14)


# ------------------------------------------------------ impossible alignments
def test_min_input_length():
    assert min_input_length([]) == 0
    assert min_input_length([1, 2, 3]) == 3
    assert min_input_length([1, 1, 2, 2, 2]) == 8


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_impossible_alignments(reduction):
    """A label sequence longer than its input, or repeats whose blanks do not
    fit: infinite loss and NaN gradient as in PyTorch; zero_infinity zeroes
    both, and the possible rows keep their values."""
    rng = np.random.default_rng(13)
    Z = rng.normal(size=(3, 4, 4))
    lengths = [4, 3, 4]
    targets = [[1, 2], [1, 2, 3, 1], [2, 2, 3, 3]]   # row 1: 4 labels in 3 steps;
    assert min_input_length(targets[2]) == 6          # row 2: needs 6 steps, has 4
    loss, grad = ctc_loss(Z, lengths, targets, reduction=reduction)
    if reduction == "none":
        assert np.isfinite(loss[0]) and np.isinf(loss[1:]).all()
    else:
        assert loss == np.inf
    assert np.isfinite(grad[0]).all() and np.isnan(grad[1, :3]).all()
    assert (grad[1, 3] == 0).all()   # the padded step
    loss0, grad0 = ctc_loss(Z, lengths, targets, reduction=reduction, zero_infinity=True)
    assert (grad0[1:] == 0).all()
    np.testing.assert_array_equal(grad0[0], grad[0])
    alone, _ = ctc_loss(Z[:1], lengths[:1], targets[:1], reduction="sum")
    expected = {"none": [alone, 0, 0], "sum": alone, "mean": alone / 2 / 3}[reduction]
    np.testing.assert_allclose(loss0, expected, rtol=1e-14)
    pytest.importorskip("torch")
    ref_loss, ref_grad = torch_ctc(Z, lengths, [np.array(t) for t in targets], 0, reduction,
                                   zero_infinity=True)
    np.testing.assert_allclose(loss0, ref_loss, rtol=1e-10)
    np.testing.assert_allclose(grad0, ref_grad, atol=1e-10)


def test_labels_exactly_fitting_their_input():
    """The tightest possible alignment is finite: one path only."""
    Z = np.zeros((1, 3, 3))   # uniform: every path has probability 3**-3
    loss, _ = ctc_loss(Z, [3], [[1, 1]], reduction="sum")   # only 1, blank, 1
    np.testing.assert_allclose(loss, 3 * np.log(3), rtol=1e-14)


# ----------------------------------------------------------------- bad input
def good():
    return np.zeros((2, 5, 4)), [5, 4], [[1, 2], [3]]


@pytest.mark.parametrize("change, error, match", [
    (dict(logits=[np.zeros((5, 4))] * 2), TypeError, "one \\(B, T, C\\) array"),
    (dict(logits=np.zeros((5, 4))), ValueError, "3-D"),
    (dict(logits=np.zeros((0, 5, 4))), ValueError, "no sequences"),
    (dict(logits=np.full((2, 5, 4), np.nan)), ValueError, "NaN"),
    (dict(logits=np.full((2, 5, 4), "a")), TypeError, "numeric"),
    (dict(input_lengths=[5, 6]), ValueError, "input_lengths must lie in \\[1, 5\\]"),
    (dict(input_lengths=[5, 0]), ValueError, "input_lengths must lie"),
    (dict(input_lengths=[5]), ValueError, "one entry per sequence"),
    (dict(input_lengths=[5.0, 4.5]), TypeError, "integers"),
    (dict(targets=[[1, 2]]), ValueError, "1 label sequences"),
    (dict(targets=[[1, 2], [4]]), ValueError, "\\[0, 4\\)"),
    (dict(targets=[[1, 2], [-1]]), ValueError, "\\[0, 4\\)"),
    (dict(targets=[[1, 0], [3]]), ValueError, "blank index 0"),
    (dict(targets=[[1, 2], [[3]]]), ValueError, "1-D"),
    (dict(targets=[[1, 2.5], [3]]), TypeError, "integers"),
    (dict(targets=np.array([1, 2, 3])), ValueError, "needs target_lengths"),
    (dict(targets=np.array([1, 2, 3]), target_lengths=[2, 2]), ValueError, "sum to"),
    (dict(targets=np.array([[1, 2], [3, 3]]), target_lengths=[2, 3]), ValueError,
     "\\[0, 2\\]"),
    (dict(target_lengths=[2, 2]), ValueError, "disagree"),
    (dict(blank=4), ValueError, "blank must lie"),
    (dict(blank=True), TypeError, "blank must be an integer"),
    (dict(reduction="avg"), ValueError, "reduction"),
])
def test_bad_input(change, error, match):
    logits, lengths, targets = good()
    kwargs = dict(logits=logits, input_lengths=lengths, targets=targets)
    kwargs.update(change)
    with pytest.raises(error, match=match):
        ctc_loss(**kwargs)


def test_input_is_not_modified_and_ints_convert():
    rng = np.random.default_rng(14)
    Z = rng.normal(size=(2, 5, 4)).astype(np.float32)
    Z0 = Z.copy()
    targets = [np.array([1, 2]), np.array([3])]
    ctc_loss(Z, np.array([5, 4]), targets)
    np.testing.assert_array_equal(Z, Z0)
    loss64, grad64 = ctc_loss(Z.astype(int), [5, 4], targets)   # ints: float64
    assert grad64.dtype == np.float64
    assert targets[0].tolist() == [1, 2]


def test_results_do_not_depend_on_threads():
    rng = np.random.default_rng(15)
    Z, lengths, targets = random_batch(rng, 40, 30, 8, 0, np.float32)
    flat = np.concatenate(targets).astype(np.intp)
    starts = np.concatenate([[0], np.cumsum([len(t) for t in targets])]).astype(np.intp)
    out = []
    for threads in (1, 2, 4):
        nll, grad = np.empty(40), np.empty_like(Z)
        _ctc.ctc_loss(Z, lengths.astype(np.intp), flat, starts, 0, np.ones(40), nll, grad,
                      False, threads)
        out.append((nll, grad))
    for nll, grad in out[1:]:
        np.testing.assert_array_equal(nll, out[0][0])
        np.testing.assert_array_equal(grad, out[0][1])


def test_concurrent_calls():
    """Calls from several threads at once give each its own result."""
    rng = np.random.default_rng(16)
    batches = [random_batch(rng, 6, 20, 5, 0, np.float64) for _ in range(4)]
    expected = [ctc_loss(*b) for b in batches]
    got = [None] * 4

    def run(i):
        for _ in range(20):
            got[i] = ctc_loss(*batches[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (l, g), (le, ge) in zip(got, expected):
        assert l == le
        np.testing.assert_array_equal(g, ge)


# ------------------------------------------------------------------ decoding
def onehot_logits(paths, C, scale=10.0):
    """Logits whose best path is each of the given paths."""
    Z = np.zeros((len(paths), max(map(len, paths)), C))
    for b, p in enumerate(paths):
        Z[b, np.arange(len(p)), p] = scale
    return Z


def beam(Z, lengths, width):
    """The compiled prefix beam search itself (ctc_decode runs greedy
    decoding for width 1 without a prior)."""
    B, T, _ = Z.shape
    lengths = np.full(B, T) if lengths is None else lengths
    out, n, scores = np.zeros((B, T), np.intp), np.zeros(B, np.intp), np.zeros(B)
    _ctc.beam_search(Z, np.asarray(lengths, np.intp), 0, width, None, 0.0, out, n, scores)
    return [out[b, :n[b]] for b in range(B)], scores


def test_greedy_collapses_repeats_and_drops_blanks():
    Z = onehot_logits([[1, 1, 0, 2, 2, 0, 2], [0, 0, 0, 0, 0, 0, 0], [3, 3, 3, 1, 0, 0, 1]], 4)
    labels, scores = ctc_decode(Z, [7, 7, 5], return_scores=True)
    assert [l.tolist() for l in labels] == [[1, 2, 2], [], [3, 1]]
    # the best path's log-probability
    expected = log_softmax(Z).max(axis=2)
    np.testing.assert_allclose(scores, [expected[0].sum(), expected[1].sum(),
                                        expected[2, :5].sum()])
    # another blank index
    Zb = onehot_logits([[1, 1, 3, 2, 2, 3, 2]], 4)
    assert ctc_decode(Zb, blank=3)[0].tolist() == [1, 2, 2]


def test_beam_width_1_equals_greedy_on_confident_outputs():
    """Confident outputs (each step's top class far above the others, like a
    trained network's): a prefix beam of width 1 reads what greedy reads."""
    rng = np.random.default_rng(20)
    B, T, C = 200, 25, 5
    paths = rng.integers(0, C, size=(B, T))
    paths[rng.random((B, T)) < 0.4] = 0   # plenty of blanks
    Z = onehot_logits(list(paths), C, scale=6.0) + rng.normal(scale=0.5, size=(B, T, C))
    lengths = rng.integers(1, T + 1, size=B)
    greedy = ctc_decode(Z, lengths)
    labels, _ = beam(Z, lengths, 1)
    assert sum(len(g) for g in greedy) > 1000
    for g, l in zip(greedy, labels):
        assert l.tolist() == g.tolist()


def test_beam_width_1_can_differ_from_greedy_when_unsure():
    """Documented: width 1 keeps the prefix with the most probable set of
    paths, not the best path.  Step 1: 'a' 0.9; step 2: 'b' 0.4, 'a' 0.35,
    blank 0.25.  The best path 'a b' reads 'ab' (0.36); staying at 'a' (by
    'a a' or 'a -') has 0.54, so the beam keeps 'a', the better labelling."""
    p = np.array([[[0.05, 0.9, 0.05], [0.25, 0.35, 0.4]]])
    Z = np.log(p)
    assert ctc_decode(Z)[0].tolist() == [1, 2]
    labels, score = beam(Z, None, 1)
    assert labels[0].tolist() == [1]
    np.testing.assert_allclose(score[0], np.log(0.9 * 0.25 + 0.9 * 0.35), rtol=1e-12)


def test_best_labelling_can_differ_from_the_best_path():
    """Why beam search: blank is the best class of both steps, so the best
    path reads nothing (0.36), but the paths reading 'a' add up to 0.64."""
    Z = np.log(np.array([[[0.6, 0.4], [0.6, 0.4]]]))
    assert ctc_decode(Z)[0].tolist() == []
    labels, score = ctc_decode(Z, beam_width=2, return_scores=True)
    assert labels[0].tolist() == [1]
    np.testing.assert_allclose(score[0], np.log(0.64), rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("blank", [0, 2])
def test_wide_beam_finds_the_most_probable_labelling(seed, blank):
    """A tiny model: every labelling's probability by exhaustive enumeration
    (through ctc_loss); a wide prefix beam finds the best one, with its
    probability as the score."""
    rng = np.random.default_rng(seed)
    T, C = 6, 3
    Z = rng.normal(scale=1.5, size=(1, T, C))
    labellings = sorted({collapse(p, blank) for p in itertools.product(range(C), repeat=T)})
    nll, _ = ctc_loss(np.repeat(Z, len(labellings), axis=0), None,
                      [np.array(l, int) for l in labellings], blank=blank, reduction="none")
    best = labellings[int(np.argmin(nll))]
    labels, score = ctc_decode(Z, beam_width=len(labellings), blank=blank, return_scores=True)
    assert tuple(labels[0].tolist()) == best
    np.testing.assert_allclose(score[0], -nll.min(), rtol=1e-12)


def test_prior_steers_the_search():
    rng = np.random.default_rng(21)
    Z = rng.normal(size=(3, 12, 4))
    plain = ctc_decode(Z, beam_width=6)
    # weight 0: no effect
    same = ctc_decode(Z, beam_width=6, prior=lambda prefix: np.zeros(4) - 5.0, prior_weight=0.0)
    assert [a.tolist() for a in same] == [a.tolist() for a in plain]
    assert any(2 in a for a in plain)
    # a prior that rules label 2 out
    banned = np.array([0.0, np.log(0.5), -np.inf, np.log(0.5)])
    steered = ctc_decode(Z, beam_width=6, prior=banned, prior_weight=1.0)
    assert all(2 not in a for a in steered)
    # a prior that depends on the prefix: never the same label twice in a row
    seen = []

    def no_repeat(prefix):
        seen.append(prefix)
        out = np.zeros(4)
        if prefix:
            out[prefix[-1]] = -1e9
        return out

    steered = ctc_decode(Z, beam_width=6, prior=no_repeat)
    assert all((np.diff(a) != 0).all() for a in steered)
    assert () in seen and len(set(seen)) == len(seen)   # one call per distinct prefix


def test_prior_errors():
    Z = np.zeros((1, 4, 3))
    with pytest.raises(ValueError, match="3 log-probabilities"):
        ctc_decode(Z, beam_width=2, prior=lambda prefix: np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        ctc_decode(Z, beam_width=2, prior=lambda prefix: np.full(3, np.nan))
    with pytest.raises(ValueError, match="3 log-probabilities"):
        ctc_decode(Z, prior=np.zeros(2))

    def broken(prefix):
        raise KeyError("from the prior")

    with pytest.raises(KeyError, match="from the prior"):
        ctc_decode(Z, beam_width=2, prior=broken)
    with pytest.raises(ValueError, match="beam_width"):
        ctc_decode(Z, beam_width=0)
    with pytest.raises(ValueError, match="prior_weight"):
        ctc_decode(Z, beam_width=2, prior=np.zeros(3), prior_weight=np.nan)
    with pytest.raises(ValueError, match="input_lengths"):
        ctc_decode(Z, [5])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_language_model_prior():
    text = pytest.importorskip("seqcore.text")
    lm = text.RNNLanguageModel(hidden_size=16, embedding_dim=8, sequence_length=16,
                               batch_size=4, max_iter=30, learning_rate=0.02,
                               random_state=0)
    lm.fit(["abcabcabcabcabcabcabcabcabcabcabcabcabcabc"] * 4)
    prior = language_model_prior(lm, ["", "a", "b", "c"])
    after_a = prior((1,))
    assert after_a.shape == (4,) and np.argmax(after_a[1:]) == 1   # 'b' after 'a'
    assert np.log(np.exp(after_a[1:]).sum()) <= 1e-9               # a distribution
    np.testing.assert_allclose(prior(()), np.log(1 / 3))
    # the decoder with it: an ambiguous middle step goes the model's way
    p = np.full((1, 3, 4), 0.02)
    p[0, 0, 1] = 0.9                 # 'a'
    p[0, 1, 2], p[0, 1, 3] = 0.45, 0.47   # 'b' or 'c': 'c' a little ahead
    p[0, 2, 3] = 0.9                 # 'c'
    Z = np.log(p)
    assert ctc_decode(Z, beam_width=4)[0].tolist() == [1, 3]          # 'ac'
    assert ctc_decode(Z, beam_width=4, prior=prior, prior_weight=1.0)[0].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="vocabulary"):
        language_model_prior(lm, ["", "a", "z"])


@pytest.mark.parametrize("width", [1, 4])
def test_decoding_reads_each_row_alone_and_never_its_padding(width):
    rng = np.random.default_rng(22)
    Z = rng.normal(scale=2.0, size=(6, 15, 5)).astype(np.float32)
    lengths = np.array([15, 3, 9, 1, 12, 15])
    labels, scores = ctc_decode(Z, lengths, width, return_scores=True)
    Z2 = Z.copy()
    Z2[np.arange(15) >= lengths[:, None]] = 50.0   # padding that would read as labels
    labels2, scores2 = ctc_decode(Z2, lengths, width, return_scores=True)
    for b in range(6):
        alone, s = ctc_decode(Z[b:b + 1, :lengths[b]], beam_width=width, return_scores=True)
        assert labels[b].tolist() == labels2[b].tolist() == alone[0].tolist()
        assert scores[b] == scores2[b] == s[0]

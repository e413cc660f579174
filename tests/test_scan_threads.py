"""How a scan shares its work, keeps its buffers and bounds its memory.

* Split batches: a unidirectional layer's time loop runs row ranges of the
  batch on separate threads (``seqcore.nn._layers._row_ranges``).  The
  ranges follow from the shape alone, so results are bit-identical for any
  number of threads; against one range they agree to rounding (a GEMM over
  fewer rows may round differently).
* Packed weights: the per-step products run on W_hh packed once per scan
  (include/seqcore/matmul.h); they agree with the BLAS path to rounding.
* Reused buffers: training reuses its buffers between calls; a call never
  sees what an earlier one left (a padded batch after a full one, and back).
* Chunked inference: a unidirectional layer in eval mode runs sequences
  longer than ``EVAL_CHUNK_STEPS`` in chunks, and its working memory stops
  growing with the length.
"""

import tracemalloc

import numpy as np
import pytest

from seqcore import _blas, _recurrent
from seqcore.nn import LSTM, SequenceNetwork, _layers

from conftest import VARIANTS as _ALL

VARIANTS = [(cls, kw) for cls, kw, _ in _ALL.values()]
IDS = list(_ALL)


@pytest.fixture
def split_everything(monkeypatch):
    """Split every unidirectional scan into up to 3 ranges and share every
    job of the core, whatever the machine."""
    monkeypatch.setattr(_layers, "SCAN_PARTS", 3)
    monkeypatch.setattr(_layers, "MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(_layers, "MIN_ROWS_PER_RANGE", 1)
    monkeypatch.setattr(_layers, "MIN_SHARED_WORK", 0)   # and share every job


def _train_pass(layer, X, lengths, seed=3):
    out, state = layer.train().forward(X, lengths)
    dO = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    dX, d0 = layer.backward(dO, state)
    return out, dX, layer.flat_grads.copy()


@pytest.mark.parametrize("cls, kw", VARIANTS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padded", [False, True])
def test_split_batch_equals_whole_batch(cls, kw, dtype, padded, split_everything, monkeypatch):
    B, T, I, H = 23, 9, 5, 7
    rng = np.random.default_rng(11)
    X = rng.standard_normal((B, T, I)).astype(dtype)
    lengths = rng.integers(1, T + 1, B) if padded else None
    batch = _layers._Batch(_layers.check_lengths(lengths, B, T), T)
    assert len(_layers._row_ranges(batch, 1)) == 3, "the fixture must split the batch"
    split = _train_pass(cls(I, H, num_layers=2, dtype=dtype, random_state=1, **kw), X, lengths)
    monkeypatch.setattr(_layers, "MIN_SPLIT_WORK", 1 << 62)   # now one range
    whole = _train_pass(cls(I, H, num_layers=2, dtype=dtype, random_state=1, **kw), X, lengths)
    tol = 100 * np.finfo(dtype).eps
    for a, b in zip(split, whole):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("cls, kw", VARIANTS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_results_do_not_depend_on_the_thread_count(cls, kw, dtype, bidirectional,
                                                   split_everything, monkeypatch):
    B, T, I, H = 23, 9, 5, 7
    rng = np.random.default_rng(12)
    X = rng.standard_normal((B, T, I)).astype(dtype)
    lengths = rng.integers(1, T + 1, B)
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setattr(_blas, "user_blas_threads", lambda n=threads: n)
        layer = cls(I, H, num_layers=2, bidirectional=bidirectional, dtype=dtype,
                    random_state=1, **kw)
        runs.append(_train_pass(layer, X, lengths))
    for run in runs[1:]:
        for a, b in zip(run, runs[0]):
            np.testing.assert_array_equal(a, b)


def test_row_ranges_cover_the_batch_with_equal_work():
    lengths = np.array([50] * 4 + [10] * 60)
    batch = _layers._Batch(lengths, 50)
    ranges = _layers._row_ranges(batch, 1 << 30)
    assert ranges[0][0] == 0 and ranges[-1][1] == 64
    ranges = ranges.tolist()
    assert all(a < b for a, b in ranges)
    assert all(r0[1] == r1[0] for r0, r1 in zip(ranges, ranges[1:]))
    work = [batch.lengths[a:b].sum() for a, b in ranges]
    assert max(work) <= 0.6 * sum(work), work   # not 4 long rows against 60 short
    # small loops or few rows stay whole
    assert _layers._row_ranges(batch, 10).tolist() == [[0, 64]]
    assert _layers._row_ranges(_layers._Batch(np.full(3, 5), 5), 1 << 30).tolist() == [[0, 3]]


@pytest.mark.parametrize("cls, kw", VARIANTS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B", [1, 5, 13, 40])
def test_packed_hidden_product_agrees_with_blas(cls, kw, dtype, B, monkeypatch):
    """The per-step products on W_hh packed (both row blocks of a gated kind)
    against the BLAS path, forward and backward."""
    T, I, H = 4, 3, 37            # H not a multiple of any panel width
    rng = np.random.default_rng(B)
    X = rng.standard_normal((B, T, I)).astype(dtype)
    layer = cls(I, H, dtype=dtype, random_state=3, **kw)
    packed = _train_pass(layer, X, None)
    empty = np.empty(0, dtype)
    monkeypatch.setattr(_layers._RNNBase, "_pack_hidden", lambda self, W, backward: (empty, empty))
    blas = _train_pass(layer, X, None)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for p, a in zip(packed, blas):
        np.testing.assert_allclose(p, a, rtol=tol, atol=tol)


def test_packed_weights_of_the_wrong_block_are_refused():
    """A gated kind's two packed blocks have their own sizes; a kind without
    a gated block takes no second one."""
    H = 40
    GH = 3 * H
    W_hh = np.zeros((GH, H), np.float64)
    gru_after, gru_before = 1, 0
    T, B = 2, 2
    whole = _recurrent.pack_hidden(W_hh, False, 0, GH)
    gated = _recurrent.pack_hidden(W_hh, False, 2 * H, GH)

    def call(flags, P1, P2):
        _recurrent.forward_steps(
            1, flags, True, np.full(T, B, np.intc), W_hh, np.zeros(GH), np.zeros(GH),
            np.empty((0, 0)), np.empty((0, 0)), np.empty((0, 0)),
            np.empty((0, 0)), np.zeros((T + 1, B, H)), np.empty((0, 0, 0)),
            np.empty((0, 0, 0)), np.zeros((T, B, GH)), np.zeros((T, B, H)), np.zeros((B, GH)),
            np.zeros((B, H)), np.zeros((B, H)), P1, P2, np.array([[0, B]]), 1)

    assert whole.size != _recurrent.pack_hidden(W_hh, False, 0, 2 * H).size
    with pytest.raises(ValueError, match="W_packed"):
        call(gru_before, whole, gated)
    with pytest.raises(ValueError, match="no gated block"):
        call(gru_after, whole, gated)
    call(gru_before, _recurrent.pack_hidden(W_hh, False, 0, 2 * H), gated)
    call(gru_after, whole, np.empty(0))


@pytest.mark.parametrize("cls, kw", VARIANTS, ids=IDS)
def test_reused_training_buffers_hold_nothing_stale(cls, kw):
    """full, padded, shorter, full again: each pass equals a fresh layer's."""
    I, H = 4, 6
    rng = np.random.default_rng(5)
    calls = [(rng.standard_normal((6, 8, I)), None),
             (rng.standard_normal((6, 8, I)), np.array([8, 3, 1, 8, 5, 2])),
             (rng.standard_normal((6, 8, I)), np.array([1, 1, 2, 1, 1, 1])),
             (rng.standard_normal((6, 8, I)), None)]
    layer = cls(I, H, num_layers=2, dtype=np.float64, random_state=2, **kw)
    for X, lengths in calls:
        reused = _train_pass(layer, X, lengths)
        fresh = _train_pass(cls(I, H, num_layers=2, dtype=np.float64, random_state=2, **kw),
                            X, lengths)
        for r, f in zip(reused, fresh):
            np.testing.assert_array_equal(r, f)


def test_release_buffers_frees_the_workspace():
    layer = LSTM(3, 8, random_state=0)
    _train_pass(layer, np.ones((4, 20, 3), np.float32), None)
    assert layer._workspace and layer._tape is not None
    layer.release_buffers()
    assert not layer._workspace and layer._tape is None
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(None, np.zeros((1, 4, 8), np.float32))


@pytest.mark.parametrize("cls, kw", VARIANTS, ids=IDS)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_chunked_inference_agrees_with_a_whole_pass(cls, kw, num_layers, monkeypatch):
    monkeypatch.setattr(_layers, "EVAL_CHUNK_STEPS", 7)
    B, T, I, H = 5, 30, 3, 6
    rng = np.random.default_rng(9)
    X = rng.standard_normal((B, T, I))
    lengths = np.array([30, 7, 8, 1, 22])
    layer = cls(I, H, num_layers=num_layers, dtype=np.float64, random_state=4, **kw)
    h0 = rng.standard_normal((num_layers, B, layer.state_size))
    state0 = (h0, rng.standard_normal((num_layers, B, H))) if cls is LSTM else h0
    whole_out, whole_state = layer.train().forward(X, lengths, state0)   # never chunked
    out, state = layer.eval().forward(X, lengths, state0)
    np.testing.assert_allclose(out, whole_out, rtol=1e-12, atol=1e-13)
    for a, b in zip(np.atleast_1d(state) if cls is not LSTM else state,
                    np.atleast_1d(whole_state) if cls is not LSTM else whole_state):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    assert (out[np.arange(T) >= lengths[:, None]] == 0).all()


@pytest.mark.parametrize("return_sequences", [False, True])
def test_chunked_network_inference_agrees(return_sequences, monkeypatch):
    B, T, I, H = 4, 40, 3, 5
    X = np.random.default_rng(12).standard_normal((B, T, I))
    lengths = np.array([40, 13, 2, 27])
    net = SequenceNetwork("gru", I, H, 3, loss="softmax", return_sequences=return_sequences,
                          num_layers=2, dtype=np.float64, random_state=0)
    monkeypatch.setattr(_layers, "EVAL_CHUNK_STEPS", 1 << 30)
    whole = net.decision_function(X, lengths)
    monkeypatch.setattr(_layers, "EVAL_CHUNK_STEPS", 6)
    np.testing.assert_allclose(net.decision_function(X, lengths), whole, rtol=1e-12, atol=1e-13)


def _peak_beyond_input(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_many_to_one_inference_memory_does_not_grow_with_length(cell):
    """Peak working memory of a many-to-one prediction at T = 2,000 and 16,000
    steps (beyond the input itself): equal within a chunk's worth, where a
    whole-sequence pass would need 8x more at the longer length."""
    B, I, H = 4, 8, 64
    net = SequenceNetwork(cell, I, H, 2, loss="softmax", random_state=0)
    rng = np.random.default_rng(13)
    peaks = {}
    for T in (2_000, 16_000):
        X = rng.standard_normal((B, T, I)).astype(np.float32)
        net.decision_function(X[:, :300])
        peaks[T] = _peak_beyond_input(lambda: net.decision_function(X))
    per_step_whole = B * 4 * H * 4    # the LSTM's projection buffer alone, per step
    print(f"\n{cell}: peak beyond input {peaks[2_000] / 2**20:.2f} MB at T=2000, "
          f"{peaks[16_000] / 2**20:.2f} MB at T=16000")
    assert peaks[16_000] < peaks[2_000] + 0.05 * 14_000 * per_step_whole


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_releases_the_training_buffers():
    """A fitted estimator does not carry its training workspace around."""
    from seqcore import RNNRegressor
    X = np.random.default_rng(14).standard_normal((20, 6, 2))
    y = X.sum(axis=(1, 2))
    est = RNNRegressor(hidden_size=4, max_iter=2, random_state=0).fit(X, y)
    assert est.network_.rnn._workspace == {} and est.network_.rnn._tape is None
    est.partial_fit(X, y)   # partial_fit keeps them for its next call
    assert est.network_.rnn._workspace


# ------------------------------------------------------------ the worker pool
@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 4095])
@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_the_pool_runs_every_part_once_per_job(n, threads):
    counts = _blas.pool_self_test(n, threads, 50)
    np.testing.assert_array_equal(counts, np.full(n, 50))


def test_the_pool_serves_callers_on_several_threads_at_once():
    """Jobs posted from 4 threads at once: one has the pool, the others run
    their parts themselves; every part of every job runs exactly once."""
    import threading
    results, errors = [None] * 4, []

    def call(i):
        try:
            results[i] = _blas.pool_self_test(5 + i, 2, 2000)
        except BaseException as e:   # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, counts in enumerate(results):
        np.testing.assert_array_equal(counts, np.full(5 + i, 2000))


def test_the_pool_works_in_a_forked_child():
    import os
    _blas.pool_self_test(4, 2, 10)          # the parent has a worker now
    pid = os.fork()
    if pid == 0:                            # the child: no worker threads
        ok = (_blas.pool_self_test(4, 2, 100) == 100).all()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_scan_split_on_the_pool_matches_one_run_alone(monkeypatch, split_everything):
    """The same split scan on 2 threads and on the caller alone (what a
    backoff does): the same numbers, to the bit."""
    X = np.random.default_rng(5).standard_normal((24, 30, 3)).astype(np.float32)
    runs = []
    for threads in (2, 1):
        monkeypatch.setattr(_layers, "_scan_threads", lambda n=threads: n)
        runs.append(_train_pass(LSTM(3, 16, random_state=0), X, None))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls, kw", VARIANTS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padded", [False, True])
def test_packed_projection_and_weight_gradients_agree_with_blas(cls, kw, dtype, padded,
                                                               split_everything, monkeypatch):
    """The input projection, dX and the weight gradients on the packed
    kernels (the A-transposed variant for dG.T) against the BLAS, with sizes
    that are no multiple of a panel or a register block, on split scans."""
    B, T, I, H = 29, 7, 37, 19
    rng = np.random.default_rng(4)
    X = rng.standard_normal((B, T, I)).astype(dtype)
    lengths = rng.integers(1, T + 1, B) if padded else None
    runs = []
    for packed in (True, False):
        monkeypatch.setattr(_layers, "PACKED_PRODUCTS", packed)
        layer = cls(I, H, num_layers=2, dtype=dtype, random_state=2, **kw)
        runs.append(_train_pass(layer, X, lengths))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for p, b in zip(*runs):
        np.testing.assert_allclose(p, b, rtol=tol, atol=tol)

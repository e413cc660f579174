"""A step's units split across threads (``_recurrent.forward_by_units``).

With more than one thread, a large LSTM time loop cuts each step's units
(whole panels of the packed W_hh) across the threads instead of the batch's
rows, so each thread keeps its own panels in cache.  Every value is computed
as with the row ranges, so the results must be the same bits, in both
dtypes, with padding, peepholes and recurrent dropout; and the plan must
fall back to the rows where the split does not apply.
"""

import numpy as np
import pytest

from seqcore import _blas, _recurrent
from seqcore.nn import LSTM, _layers

LSTM_CODE = 2   # CELL_LSTM in src/seqcore/_cells.pxd


@pytest.fixture
def share_every_job(monkeypatch):
    """Share every job, and split by units from the default threshold on."""
    monkeypatch.setattr(_layers, "MIN_SHARED_WORK", 0)
    old = _recurrent.unit_split_work(_recurrent.DEFAULT_UNIT_SPLIT_WORK)
    yield
    _recurrent.unit_split_work(old)


def _run(threads, monkeypatch, dtype, kw, lengths, training, X):
    monkeypatch.setattr(_blas, "user_blas_threads", lambda: threads)
    layer = LSTM(X.shape[2], 128, dtype=dtype, random_state=4, **kw)
    if not training:
        out, (h, c) = layer.eval().forward(X, lengths)
        return [out, h, c]
    out, (h, c) = layer.train().forward(X, lengths)
    rng = np.random.default_rng(5)
    dO = rng.standard_normal(out.shape).astype(dtype)
    dX, _ = layer.backward(dO, (h, c))
    return [out, h, c, dX, layer.flat_grads.copy()]


# recurrent dropout acts in training only: no inference case for it
_CASES = [(kw, training) for kw in ({}, {"peephole": True}, {"recurrent_dropout": 0.3})
          for training in (False, True) if training or not kw.get("recurrent_dropout")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw, training", _CASES,
                         ids=[f"{'-'.join(kw) or 'plain'}-{'train' if t else 'infer'}"
                              for kw, t in _CASES])
@pytest.mark.parametrize("padded", [False, True])
def test_units_split_gives_the_bits_of_the_row_split(dtype, kw, padded, training,
                                                     share_every_job, monkeypatch):
    B, T, I, H = 40, 6, 3, 128
    # the shape takes the unit split on two threads, the rows on one
    flags = 1 if kw.get("peephole") else 0
    assert _recurrent.unit_parts(LSTM_CODE, flags, B, H, H, dtype, True, 2) == 2
    assert _recurrent.unit_parts(LSTM_CODE, flags, B, H, H, dtype, True, 1) == 0
    rng = np.random.default_rng(6)
    X = rng.standard_normal((B, T, I)).astype(dtype)
    lengths = rng.integers(1, T + 1, B) if padded else None
    one = _run(1, monkeypatch, dtype, kw, lengths, training, X)
    two = _run(2, monkeypatch, dtype, kw, lengths, training, X)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(a).all() for a in two)


def test_units_split_only_where_it_applies(share_every_job):
    f32, f64 = np.float32, np.float64
    big = 64
    assert _recurrent.unit_parts(LSTM_CODE, 0, big, 128, 128, f32, True, 2) == 2
    assert _recurrent.unit_parts(LSTM_CODE, 0, big, 128, 128, f32, True, 4) == 4
    # one thread, no packed W_hh, a projection, a hidden size off the panels
    assert _recurrent.unit_parts(LSTM_CODE, 0, big, 128, 128, f32, True, 1) == 0
    assert _recurrent.unit_parts(LSTM_CODE, 0, big, 128, 128, f32, False, 2) == 0
    assert _recurrent.unit_parts(LSTM_CODE, 0, big, 128, 64, f32, True, 2) == 0
    assert _recurrent.unit_parts(LSTM_CODE, 0, big, 130, 130, f64, True, 2) == 0
    # a small step: the rows
    assert _recurrent.unit_parts(LSTM_CODE, 0, 1, 128, 128, f32, True, 2) == 0
    # the other kinds: the rows
    for code in (0, 1, 3):
        assert _recurrent.unit_parts(code, 0, big, 128, 128, f32, True, 2) == 0
    with pytest.raises(ValueError, match="unknown cell kind"):
        _recurrent.unit_parts(9, 0, big, 128, 128, f32, True, 2)


def test_unit_split_work_is_a_knob():
    old = _recurrent.unit_split_work(0)
    try:
        assert _recurrent.unit_parts(LSTM_CODE, 0, 1, 128, 128, np.float32, True, 2) == 2
        assert _recurrent.unit_split_work(1 << 62) == 0
        assert _recurrent.unit_parts(LSTM_CODE, 0, 64, 128, 128, np.float32, True, 2) == 0
        with pytest.raises(ValueError, match="min_work"):
            _recurrent.unit_split_work(-1)
    finally:
        _recurrent.unit_split_work(old)

"""Tests for seqcore.parallel that need no Dask: the BLAS thread cap, and the
messages naming the extra when dask or distributed is missing.  Prediction
on Dask arrays and the cluster runs are in test_dask.py."""

import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from seqcore.parallel import blas_threads, limit_worker_blas_threads, predict_blocks


def blas_thread_counts():
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_threads_caps_then_restores():
    before = blas_thread_counts()
    assert before, "no BLAS found by threadpoolctl"
    with blas_threads(1):
        assert blas_thread_counts() == [1] * len(before)
    assert blas_thread_counts() == before


def test_blas_threads_none_leaves_them():
    before = blas_thread_counts()
    with blas_threads(None):
        assert blas_thread_counts() == before


def test_predict_blocks_without_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    extra = r'predict_blocks needs dask.*pip install "seqcore-rnn\[dask\]"'
    with pytest.raises(ImportError, match=extra):
        predict_blocks(object(), np.zeros((2, 3, 1)))


def test_limit_worker_blas_threads_without_distributed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setitem(sys.modules, "distributed.diagnostics.plugin", None)
    with pytest.raises(ImportError, match=r'needs distributed.*pip install "seqcore-rnn\[dask\]"'):
        limit_worker_blas_threads(object())

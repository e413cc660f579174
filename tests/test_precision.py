"""Reduced-precision inference (seqcore.nn._quantized, src/seqcore/_quant.pyx).

What is checked: the int8 products against a NumPy model of the same
quantisation (bit for bit), the bfloat16 products against exact sums of the
rounded values; the dispatched kernels (VNNI, AVX512_BF16 where the CPU has
them) against the generic ones, bit for bit; every cell kind's outputs near
float32's; classification agreement with float32 on load_digits and the
sentiment sentences; the cache following changed weights; the errors.
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from seqcore import RNNClassifier, RNNRegressor, _quant
from seqcore.nn import CELLS, QuantizedLayer
from seqcore.nn import _layers
from seqcore.nn import _quantized as Q

PRECISIONS = Q.PRECISIONS


def _layer(kind, dtype=np.float32, **options):
    cls = getattr(_layers, CELLS[kind].layer)
    return cls(options.pop("input_size", 5), options.pop("hidden_size", 24), random_state=0,
               dtype=dtype, **options)


# ------------------------------------------------------------------ products

def _int8_reference(A, W):
    """A @ W.T as the int8 path defines it, in NumPy: W per row symmetric,
    A per row asymmetric (range widened to 0), exact integer sums, then
    ``float(sum) * (scale_row * scale_W)`` in A's dtype."""
    t = A.dtype.type
    qw = Q.quantize_matrix(W, "int8")
    lo = np.minimum(A.min(axis=1), 0)
    hi = np.maximum(A.max(axis=1), 0)
    zero = hi == lo
    scale = np.where(zero, t(1), (hi - lo) / t(255)).astype(A.dtype)
    inv = (t(1) / scale).astype(A.dtype)
    zp = np.clip(np.rint(-lo * inv), 0, 255)
    v = np.clip(A * inv[:, None], -256, 256)
    q = np.clip(np.rint(v) + zp[:, None], 0, 255)
    q[zero] = 0
    zp[zero] = 0
    sums = (q.astype(np.int64) - zp.astype(np.int64)[:, None]) @ qw["q"].T.astype(np.int64)
    return sums.astype(A.dtype) * (scale[:, None] * qw["scale"][None, :])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (13, 37, 70), (50, 33, 129), (5, 64, 3)])
def test_int8_product_is_the_quantisation_model(shape, dtype):
    m, N, K = shape
    rng = np.random.default_rng(1)
    A = rng.normal(size=(m, K)).astype(dtype)
    A[0] = np.abs(A[0])            # a row without negatives: zero point 0
    W = rng.normal(size=(N, K)).astype(dtype)
    qw = Q.quantize_matrix(W, "int8")
    expected = _int8_reference(A, W)
    for generic in (False, True):
        np.testing.assert_array_equal(_quant.matmul(A, qw, generic), expected)


def test_int8_zero_rows_and_zero_weights():
    A = np.zeros((3, 9), np.float32)
    A[1] = np.linspace(-1, 2, 9)
    W = np.zeros((4, 9), np.float32)
    W[2] = 1.0
    out = _quant.matmul(A, Q.quantize_matrix(W, "int8"))
    assert np.all(out[0] == 0) and np.all(out[2] == 0)
    assert np.all(out[:, [0, 1, 3]] == 0)
    np.testing.assert_allclose(out[1, 2], A[1].sum(), atol=0.02)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bfloat16_product_sums_the_rounded_values(dtype):
    rng = np.random.default_rng(2)
    A = rng.normal(size=(29, 101)).astype(dtype)
    W = rng.normal(size=(45, 101)).astype(dtype)
    a = Q.from_bfloat16_bits(Q.to_bfloat16_bits(A)).astype(np.float64)
    w = Q.from_bfloat16_bits(Q.to_bfloat16_bits(W)).astype(np.float64)
    exact = a @ w.T
    bound = 101 * 2.0 ** -23 * (np.abs(a) @ np.abs(w).T)   # float32 summation
    out = _quant.matmul(A, Q.quantize_matrix(W, "bfloat16"))
    assert out.dtype == dtype
    assert np.all(np.abs(out - exact) <= bound)
    # and the rounding is of about bfloat16's precision, nothing coarser
    rel = np.abs(out - A @ W.T).max() / np.abs(A @ W.T).max()
    assert 1e-4 < rel < 2e-2


def test_bfloat16_rounding_is_to_nearest_even():
    # 1 + 2^-8 lies halfway between bfloat16 1 and 1 + 2^-7: to even (1);
    # 1 + 3 * 2^-8 halfway between 1 + 2^-7 and 1 + 2^-6: to even (1 + 2^-6)
    x = np.array([1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -20, -2.5],
                 np.float32)
    got = Q.from_bfloat16_bits(Q.to_bfloat16_bits(x))
    np.testing.assert_array_equal(got, [1.0, 1 + 2.0 ** -6, 1 + 2.0 ** -7, -2.5])
    # from float64 directly: a value just above a tie that float32 rounds
    # onto the tie still rounds up
    d = np.array([1 + 2.0 ** -8 + 2.0 ** -40])
    assert np.float32(d[0]) == np.float32(1 + 2.0 ** -8)
    assert Q.from_bfloat16_bits(Q.to_bfloat16_bits(d))[0] == 1 + 2.0 ** -7


@pytest.mark.parametrize("precision", PRECISIONS)
def test_dispatched_and_generic_products_agree_bit_for_bit(precision):
    rng = np.random.default_rng(3)
    for m, N, K in [(1, 1, 1), (12, 32, 4), (37, 95, 130), (200, 64, 257)]:
        A = rng.normal(size=(m, K)).astype(np.float32)
        qw = Q.quantize_matrix(rng.normal(size=(N, K)).astype(np.float32), precision)
        np.testing.assert_array_equal(_quant.matmul(A, qw), _quant.matmul(A, qw, True))


def test_kernels_names():
    assert _quant.kernels("int8") in ("avx512_vnni", "generic")
    assert _quant.kernels("bfloat16") in ("avx512_bf16", "generic")
    with pytest.raises(ValueError, match="precision"):
        _quant.kernels("int4")


def test_seqcore_kernels_generic_forces_the_generic_products(tmp_path):
    rng = np.random.default_rng(4)
    A = rng.normal(size=(40, 70)).astype(np.float32)
    W = rng.normal(size=(33, 70)).astype(np.float32)
    np.save(tmp_path / "A.npy", A)
    np.save(tmp_path / "W.npy", W)
    code = (
        "import numpy as np, sys\n"
        "from seqcore import _quant\n"
        "from seqcore.nn import _quantized as Q\n"
        f"A = np.load({str(tmp_path / 'A.npy')!r}); W = np.load({str(tmp_path / 'W.npy')!r})\n"
        "print(_quant.kernels('int8'), _quant.kernels('bfloat16'))\n"
        "for p in Q.PRECISIONS:\n"
        f"    np.save({str(tmp_path)!r} + '/' + p + '.npy', _quant.matmul(A, Q.quantize_matrix(W, p)))\n"
    )
    env = dict(os.environ, SEQCORE_KERNELS="generic")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(_quant.__file__)),
                                         env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["generic", "generic"]
    for p in PRECISIONS:
        np.testing.assert_array_equal(np.load(tmp_path / f"{p}.npy"),
                                      _quant.matmul(A, Q.quantize_matrix(W, p)))


def test_quantize_matrix_refuses_bad_weights():
    with pytest.raises(ValueError, match="NaN"):
        Q.quantize_matrix(np.array([[1.0, np.nan]]), "int8")
    with pytest.raises(ValueError, match="2-D"):
        Q.quantize_matrix(np.ones(3), "bfloat16")
    with pytest.raises(ValueError, match="precision"):
        Q.quantize_matrix(np.ones((2, 2)), "int4")
    with pytest.raises(ValueError, match="int32"):
        Q.quantize_matrix(np.ones((1, _quant.MAX_INT8_K + 1), np.float32), "int8")


def test_int8_weights_are_symmetric_per_row():
    W = np.array([[0.5, -1.27, 0.0], [0.0, 0.0, 0.0], [2.0, 1.0, -0.5]], np.float32)
    qw = Q.quantize_matrix(W, "int8")
    np.testing.assert_allclose(qw["scale"], [0.01, 1.0, 2.0 / 127], rtol=1e-6)
    np.testing.assert_array_equal(qw["q"][0], [50, -127, 0])
    np.testing.assert_array_equal(qw["q"][1], [0, 0, 0])
    np.testing.assert_array_equal(qw["wsum"], qw["q"].sum(axis=1))


# -------------------------------------------------------------------- layers

def _variants():
    """Every cell kind with each of its option values, plus the stacked,
    bidirectional and projected layouts."""
    out = []
    for kind, cell in CELLS.items():
        out.append((kind, {}))
        for _, (name, value) in cell.flag_bits.items():
            out.append((kind, {name: value}))
    out += [("lstm", dict(num_layers=2, bidirectional=True)),
            ("gru", dict(num_layers=2, bidirectional=True, merge_mode="sum")),
            ("lstm", dict(proj_size=8))]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind,options", _variants())
def test_layer_outputs_close_to_full_precision(kind, options, precision, dtype):
    layer = _layer(kind, dtype, **options)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(9, 7, 5)).astype(dtype)
    X_before = X.copy()
    lengths = np.array([7, 3, 5, 7, 1, 2, 7, 6, 4])
    ref, ref_state = layer.forward(X, lengths, training=False)
    out, state = QuantizedLayer(layer, precision).forward(X, lengths)
    np.testing.assert_array_equal(X, X_before)
    assert out.dtype == dtype and out.shape == ref.shape
    tol = 0.03 if precision == "int8" else 0.01
    assert np.abs(out - ref).max() < tol
    assert np.abs(out - ref).max() > 0     # the products did change precision
    for a, b in zip(state if isinstance(state, tuple) else (state,),
                    ref_state if isinstance(ref_state, tuple) else (ref_state,)):
        assert np.abs(a - b).max() < 3 * tol
    # padding stays zero, as in full precision
    for i, L in enumerate(lengths):
        assert np.all(out[i, L:] == 0)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", list(CELLS))
def test_layer_generic_path_is_bit_identical(kind, precision):
    layer = _layer(kind, hidden_size=40, num_layers=2, bidirectional=True)
    X = np.random.default_rng(6).normal(size=(20, 6, 5)).astype(np.float32)
    lengths = np.array([6, 2, 5, 6, 1, 3, 6, 4, 6, 6, 5, 1, 2, 3, 4, 5, 6, 6, 6, 2])
    fast = QuantizedLayer(layer, precision).forward(X, lengths)
    generic = Q._layer_view(layer, precision, generic=True)._forward(
        X, lengths, None, training=False)
    np.testing.assert_array_equal(fast[0], generic[0])


def test_layer_initial_state_and_single_sequence_results():
    # a sequence gives the same result alone and in a ragged batch (each row
    # is quantised on its own scale)
    layer = _layer("lstm")
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4, 6, 5)).astype(np.float32)
    lengths = np.array([6, 2, 4, 6])
    h0 = rng.normal(size=(1, 4, 24)).astype(np.float32)
    c0 = rng.normal(size=(1, 4, 24)).astype(np.float32)
    q = QuantizedLayer(layer, "int8")
    out, (h, c) = q.forward(X, lengths, (h0, c0))
    for i in range(4):
        L = lengths[i]
        out_i, (h_i, c_i) = q.forward(X[i:i + 1, :L], None, (h0[:, i:i + 1], c0[:, i:i + 1]))
        np.testing.assert_array_equal(out_i[0], out[i, :L])
        np.testing.assert_array_equal(h_i[:, 0], h[:, i])


def test_long_sequences_run_in_chunks_like_full_precision():
    layer = _layer("gru", hidden_size=8)
    T = _layers.EVAL_CHUNK_STEPS + 37
    X = np.random.default_rng(8).normal(size=(3, T, 5)).astype(np.float32)
    out, h = QuantizedLayer(layer, "bfloat16").forward(X)
    ref, h_ref = layer.forward(X, training=False)
    assert out.shape == ref.shape and np.abs(out - ref).max() < 0.02


def test_cache_follows_changed_weights():
    layer = _layer("gru")
    X = np.random.default_rng(9).normal(size=(5, 4, 5)).astype(np.float32)
    q = QuantizedLayer(layer, "int8")
    before = q.forward(X)[0]
    assert np.array_equal(q.forward(X)[0], before)   # cached: the same
    state = layer.state_dict()
    state["weight_hh_l0"] = state["weight_hh_l0"] * 0.5
    layer.load_state_dict(state)
    after = q.forward(X)[0]
    fresh = _layer("gru")
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(after, QuantizedLayer(fresh, "int8").forward(X)[0])
    assert not np.array_equal(after, before)
    layer.params["weight_ih_l0"][0, 0] += 1.0          # an edit in place
    np.testing.assert_array_equal(q.forward(X)[0],
                                  Q._layer_view(_copy_of(layer), "int8")._forward(
                                      X, None, None, training=False)[0])


def _copy_of(layer):
    fresh = type(layer)(layer.input_size, layer.hidden_size, dtype=layer.dtype)
    fresh.load_state_dict(layer.state_dict())
    return fresh


def test_quantized_layer_refuses_bad_arguments():
    layer = _layer("rnn")
    with pytest.raises(ValueError, match="precision"):
        QuantizedLayer(layer, "fp8")
    with pytest.raises(ValueError, match="precision"):
        QuantizedLayer(layer, None)
    with pytest.raises(TypeError, match="recurrent layer"):
        QuantizedLayer(object(), "int8")
    with pytest.raises(ValueError, match="features"):
        QuantizedLayer(layer, "int8").forward(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="NaN|inf"):
        QuantizedLayer(layer, "int8").forward(np.full((2, 3, 5), np.nan, np.float32))


# ---------------------------------------------------------------- estimators

def _digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).reshape(-1, 8, 8), y


@pytest.mark.parametrize("kind", list(CELLS))
def test_load_digits_agreement_with_float32(kind):
    X, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = RNNClassifier(cell=kind, hidden_size=32, max_iter=8, random_state=0).fit(X, y)
    ref = clf.predict(X)
    assert (ref == y).mean() > 0.9   # a model worth agreeing with
    for precision in PRECISIONS:
        pred = clf.set_params(inference_precision=precision).predict(X)
        assert (pred == ref).mean() >= 0.995, (kind, precision)
        assert clf.predict_proba(X).shape == (len(X), 10)
    clf.set_params(inference_precision=None)
    np.testing.assert_array_equal(clf.predict(X), ref)


def test_sentiment_agreement_with_float32():
    from seqcore.datasets import load_sentiment_sentences
    from seqcore.text import SequenceTokenizer
    from sklearn.pipeline import make_pipeline

    X, y = load_sentiment_sentences(return_X_y=True)
    model = make_pipeline(SequenceTokenizer(),
                          RNNClassifier(cell="lstm", bidirectional=True, embedding_dim=32,
                                        hidden_size=32, max_iter=3, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    ref = model.predict(X)
    assert (ref == np.asarray(y)).mean() > 0.7
    for precision in PRECISIONS:
        model.set_params(rnnclassifier__inference_precision=precision)
        assert (model.predict(X) == ref).mean() >= 0.995, precision


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regressor_predicts_in_reduced_precision(dtype):
    rng = np.random.default_rng(10)
    X = rng.normal(size=(60, 6, 2))
    y = X[:, :, 0].sum(axis=1)
    reg = RNNRegressor(cell="gru", hidden_size=16, max_iter=5, random_state=0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    ref = reg.predict(X)
    for precision in PRECISIONS:
        pred = reg.set_params(inference_precision=precision).predict(X)
        assert pred.dtype == ref.dtype
        assert np.abs(pred - ref).max() < 0.05 * np.abs(ref).max()
        assert not np.array_equal(pred, ref)


def test_inference_precision_is_a_parameter():
    clf = RNNClassifier(inference_precision="int8")
    assert clf.get_params()["inference_precision"] == "int8"
    assert clone(clf).inference_precision == "int8"
    X, y = _digits()
    with pytest.raises(ValueError, match="inference_precision"):
        RNNClassifier(inference_precision="int4", max_iter=1).fit(X[:20], y[:20])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = RNNClassifier(hidden_size=8, max_iter=1, random_state=0).fit(X[:50], y[:50])
    clf.set_params(inference_precision="fp8")
    with pytest.raises(ValueError, match="precision"):
        clf.predict(X[:5])


def test_threads_may_predict_at_once():
    from concurrent.futures import ThreadPoolExecutor

    layer = _layer("lstm", hidden_size=64)
    X = np.random.default_rng(11).normal(size=(40, 12, 5)).astype(np.float32)
    expected = {p: QuantizedLayer(layer, p).forward(X)[0] for p in PRECISIONS}
    Q._CACHE.pop(layer, None)   # the threads build the cache among themselves
    with ThreadPoolExecutor(4) as pool:
        jobs = [(p, pool.submit(lambda p=p: QuantizedLayer(layer, p).forward(X)[0]))
                for p in PRECISIONS * 4]
        for p, job in jobs:
            np.testing.assert_array_equal(job.result(), expected[p])


@pytest.mark.parametrize("precision", PRECISIONS)
def test_plain_batches_run_in_reduced_precision_too(precision):
    """A full unidirectional batch from zero states takes the layers' lean
    pass; in reduced precision it must still run the quantised products
    (the same numbers as the general pass, not the full-precision ones)."""
    from seqcore.nn import LSTM, QuantizedLayer

    lstm = LSTM(3, 16, num_layers=2, random_state=0)
    X = np.random.default_rng(1).normal(size=(4, 6, 3)).astype(np.float32)
    q = QuantizedLayer(lstm, precision)
    plain, (h, c) = q.forward(X)
    zeros = (np.zeros((2, 4, 16), np.float32), np.zeros((2, 4, 16), np.float32))
    general, (h2, c2) = q.forward(X, initial_state=zeros)
    np.testing.assert_array_equal(plain, general)
    np.testing.assert_array_equal(h, h2)
    full, _ = lstm.forward(X)
    assert not np.array_equal(plain, full)

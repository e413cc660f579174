"""seqcore.onnx.to_onnx: onnxruntime agrees with seqcore.

The parity matrix runs every cell variant (from ``seqcore.nn.CELLS``) x
layers x directions (and merge modes) x lengths (full, ragged) x dtypes x
the two ways of writing a recurrent layer (ONNX's operators, a Scan).
Tolerances: 1e-5 in float32, 1e-10 in float64 (the issue's).
"""

import itertools
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import seqcore.nn
from seqcore import RNNClassifier, RNNRegressor
from seqcore.nn import CELLS
from seqcore.onnx import to_onnx
from seqcore.preprocessing import SequenceScaler, pad_sequences

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = {np.float32: 1e-5, np.float64: 1e-10}
VARIANTS = [(cell.layer, opts, vid) for cell in CELLS.values()
            for vid, opts in cell.variants.items()]


def run(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def op_types(model):
    return {n.op_type for n in model.graph.node}


def state_list(state):
    return list(state) if isinstance(state, tuple) else [state]


def layer_cases():
    """(num_layers, bidirectional, merge_mode, ragged, recurrent)."""
    for L, bi, ragged, recurrent in itertools.product((1, 2), (False, True), (False, True),
                                                      ("auto", "scan")):
        for merge in (("concat", "sum", "mul", "ave") if bi else ("concat",)):
            # every merge mode once per variant, not in every combination
            if merge not in ("concat", "ave") and (L, ragged, recurrent) != (2, True, "auto"):
                continue
            yield L, bi, merge, ragged, recurrent


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("layer_name, options, vid", VARIANTS, ids=[v[2] for v in VARIANTS])
def test_layer_parity(layer_name, options, vid, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 7, 3)).astype(dtype)
    lengths = np.array([7, 1, 4, 4, 6])
    X_before = X.copy()
    for L, bi, merge, ragged, recurrent in layer_cases():
        layer = getattr(seqcore.nn, layer_name)(3, 4, L, bidirectional=bi, merge_mode=merge,
                                                dtype=dtype, random_state=1, **options)
        model = to_onnx(layer, lengths=ragged, recurrent=recurrent)
        feeds = {"X": X}
        if ragged:
            feeds["lengths"] = lengths.astype(np.int64)
        got = run(model, feeds)
        out, state = layer.forward(X, lengths if ragged else None, training=False)
        expected = [out] + state_list(state)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.dtype == dtype and g.shape == e.shape
            np.testing.assert_allclose(g, e, rtol=0, atol=TOL[dtype],
                                       err_msg=f"{vid} L={L} bi={bi} {merge} ragged={ragged} "
                                               f"{recurrent}")
    np.testing.assert_array_equal(X, X_before)


@pytest.mark.parametrize("vid", ["rnn_relu", "gru", "gru_reset_before", "lstm_peephole"])
def test_native_operators_are_used(vid):
    """float32 RNN/GRU/LSTM layers become ONNX's own operators, with the
    options as attributes; the MGU and float64 become Scans."""
    name, options, _ = next(v for v in VARIANTS if v[2] == vid)
    layer = getattr(seqcore.nn, name)(2, 3, 2, bidirectional=True, random_state=0, **options)
    model = to_onnx(layer, lengths=True)
    nodes = [n for n in model.graph.node if n.op_type in ("RNN", "GRU", "LSTM")]
    assert len(nodes) == 2 and "Scan" not in op_types(model)   # stacked: one per layer
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs["direction"] == b"bidirectional"
    assert nodes[0].input[4]                                    # sequence_lens
    if vid == "rnn_relu":
        assert attrs["activations"] == [b"Relu", b"Relu"]
    if vid.startswith("gru"):
        assert attrs["linear_before_reset"] == (vid == "gru")
    if vid == "lstm_peephole":
        assert len(nodes[0].input) == 8 and nodes[0].input[7]  # P
    assert "Scan" in op_types(to_onnx(seqcore.nn.MGU(2, 3, random_state=0)))
    f64 = getattr(seqcore.nn, name)(2, 3, dtype=np.float64, random_state=0, **options)
    assert "Scan" in op_types(to_onnx(f64))
    # native float64 is valid ONNX (onnxruntime runs these operators in float32 only)
    assert {"RNN", "GRU", "LSTM"} & op_types(to_onnx(f64, recurrent="native"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_initial_state(name, dtype):
    rng = np.random.default_rng(1)
    layer = getattr(seqcore.nn, name)(3, 4, 2, bidirectional=True, dtype=dtype, random_state=0)
    X = rng.standard_normal((3, 5, 3)).astype(dtype)
    shape = (4, 3, 4)
    state = ((rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype))
             if name == "LSTM" else rng.standard_normal(shape).astype(dtype))
    lengths = np.array([5, 2, 3])
    feeds = {"X": X, "lengths": lengths}
    feeds.update(zip(("h_0", "c_0"), state_list(state)))
    for recurrent in ("auto", "scan"):
        model = to_onnx(layer, lengths=True, initial_state=True, recurrent=recurrent)
        out, st = layer.forward(X, lengths, state, training=False)
        for g, e in zip(run(model, feeds), [out] + state_list(st)):
            np.testing.assert_allclose(g, e, rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_projected_lstm_initial_state(dtype):
    """An LSTM with proj_size: h_0 and h_n have P entries, c_0 and c_n H;
    'auto' writes it as Scans (ONNX's LSTM has no projection), 'native'
    is refused."""
    rng = np.random.default_rng(7)
    layer = seqcore.nn.LSTM(3, 5, 2, proj_size=2, peephole=True, bidirectional=True,
                            dtype=dtype, random_state=0)
    X = rng.standard_normal((3, 6, 3)).astype(dtype)
    h0 = rng.standard_normal((4, 3, 2)).astype(dtype)
    c0 = rng.standard_normal((4, 3, 5)).astype(dtype)
    lengths = np.array([6, 1, 4])
    model = to_onnx(layer, lengths=True, initial_state=True)
    assert "Scan" in op_types(model) and "LSTM" not in op_types(model)
    shapes = {v.name: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.input) + list(model.graph.output)}
    assert shapes["h_0"] == shapes["h_n"] == [4, "N", 2]
    assert shapes["c_0"] == shapes["c_n"] == [4, "N", 5]
    assert shapes["outputs"] == ["N", "T", 4]
    out, st = layer.forward(X, lengths, (h0, c0), training=False)
    got = run(model, {"X": X, "lengths": lengths, "h_0": h0, "c_0": c0})
    for g, e in zip(got, [out] + state_list(st)):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=0, atol=TOL[dtype])
    with pytest.raises(ValueError, match="no projection"):
        to_onnx(layer, recurrent="native")


def test_embedding_and_linear():
    rng = np.random.default_rng(2)
    emb = seqcore.nn.Embedding(10, 3, padding_idx=0, random_state=0)
    ids = rng.integers(0, 10, (4, 6))
    (got,) = run(to_onnx(emb), {"ids": ids})
    np.testing.assert_array_equal(got, emb.forward(ids, training=False))
    for act, dtype in [(None, np.float32), ("tanh", np.float64), ("relu", np.float32)]:
        lin = seqcore.nn.Linear(5, 3, activation=act, dtype=dtype, random_state=0)
        X = rng.standard_normal((7, 5)).astype(dtype)
        (got,) = run(to_onnx(lin), {"X": X})
        np.testing.assert_allclose(got, lin.forward(X, training=False), rtol=0, atol=TOL[dtype])


# ------------------------------------------------------------ estimators
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = [rng.standard_normal((int(n), 3)) * 4 + 1 for n in rng.integers(2, 9, 24)]
    y = np.array(["cat", "dog", "eel"])[rng.integers(0, 3, 24)]
    Y = rng.standard_normal((24, 2)) * 10 + 3
    return X, y, Y


def fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning of the short fits
        return est.fit(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell, bidirectional, num_layers",
                         [("rnn", False, 1), ("gru", True, 1), ("lstm", False, 2),
                          ("lstm", True, 2)])
def test_classifier_pipeline_parity(data, cell, bidirectional, num_layers, dtype):
    X, y, _ = data
    pipe = fit_quiet(make_pipeline(SequenceScaler(), RNNClassifier(
        cell=cell, hidden_size=5, num_layers=num_layers, bidirectional=bidirectional,
        max_iter=3, dtype=dtype, random_state=0)), X, y)
    Xp, lengths = pad_sequences(X, dtype=dtype)
    label, proba = run(to_onnx(pipe, lengths=True), {"X": Xp, "lengths": lengths})
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64   # a plain tensor
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0,
                               atol=TOL[np.dtype(dtype).type])
    np.testing.assert_array_equal(label, pipe.predict(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("peephole, bidirectional, num_layers",
                         [(False, False, 1), (True, True, 2)])
def test_projected_lstm_classifier_parity(data, peephole, bidirectional, num_layers, dtype):
    """RNNClassifier(cell='lstm', proj_size=...) on ragged sequences: the
    summary reads the projected states (P entries per direction)."""
    X, y, _ = data
    clf = fit_quiet(RNNClassifier(cell="lstm", hidden_size=6, proj_size=3, peephole=peephole,
                                  num_layers=num_layers, bidirectional=bidirectional,
                                  max_iter=3, dtype=dtype, random_state=0), X, y)
    assert clf.network_.rnn.params["weight_hr_l0"].shape == (3, 6)
    Xp, lengths = pad_sequences(X, dtype=dtype)
    X_before = Xp.copy()
    for lengths_input in (True, False):
        if lengths_input:
            model = to_onnx(clf, lengths=True)
            label, proba = run(model, {"X": Xp, "lengths": lengths})
            expected, expected_label = clf.predict_proba(X), clf.predict(X)
        else:   # every sequence runs all T steps
            model = to_onnx(clf)
            full = [x for x in X if len(x) == Xp.shape[1]]
            assert len(full) >= 2
            label, proba = run(model, {"X": pad_sequences(full, dtype=dtype)[0]})
            expected, expected_label = clf.predict_proba(full), clf.predict(full)
        assert "Scan" in op_types(model)
        np.testing.assert_allclose(proba, expected, rtol=0, atol=TOL[np.dtype(dtype).type])
        np.testing.assert_array_equal(label, expected_label)
    np.testing.assert_array_equal(Xp, X_before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_regressor_parity(data, cell, dtype):
    X, _, Y = data
    Xp, lengths = pad_sequences(X, dtype=dtype)
    for y in (Y, Y[:, 0]):
        reg = fit_quiet(RNNRegressor(cell=cell, hidden_size=5, bidirectional=True,
                                     max_iter=3, dtype=dtype, random_state=0), X, y)
        (pred,) = run(to_onnx(reg, lengths=True), {"X": Xp, "lengths": lengths})
        assert pred.shape == y.shape
        # the tolerance is on the standardised targets the network predicts
        np.testing.assert_allclose(pred, reg.predict(X), rtol=0,
                                   atol=TOL[np.dtype(dtype).type] * reg._y_scale.max())


def test_table_input_and_return_sequences():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((16, 6))          # univariate sequences as a table
    y = rng.integers(0, 2, 16)
    clf = fit_quiet(RNNClassifier(cell="gru", hidden_size=4, max_iter=2, random_state=0), X, y)
    label, proba = run(to_onnx(clf), {"X": X.astype(np.float32)})
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)

    X3 = X[:, :, None]
    tags = rng.integers(0, 3, (16, 6))
    tagger = fit_quiet(RNNClassifier(cell="lstm", hidden_size=4, max_iter=2, dtype="float64",
                                     return_sequences=True, random_state=0), X3, tags)
    label, proba = run(to_onnx(tagger), {"X": X3})
    assert proba.shape == (16, 6, 3)
    np.testing.assert_array_equal(label, tagger.predict(X3))
    np.testing.assert_allclose(proba, tagger.predict_proba(X3), rtol=0, atol=1e-10)


# ----------------------------------------- embeddings and dense layers
@pytest.fixture(scope="module")
def tokens():
    """Ragged token sequences (ids 1..19; 0 is padding), their padded (N, T)
    array and lengths."""
    rng = np.random.default_rng(5)
    X = [rng.integers(1, 20, int(n)) for n in rng.integers(1, 10, 24)]
    ids, lengths = np.zeros((24, max(map(len, X))), np.int64), np.array([len(x) for x in X])
    for i, x in enumerate(X):
        ids[i, :len(x)] = x
    return X, ids, lengths


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell, bidirectional, activation",
                         [("gru", False, "relu"), ("lstm", True, "tanh"), ("mgu", True, "relu")])
def test_token_classifier_with_dense_layers(tokens, cell, bidirectional, activation, dtype):
    """embedding -> recurrent stack -> summary -> dense layers -> head, on
    ragged sequences: with a ``lengths`` input, and with the lengths read
    from the trailing padding ids as the estimator reads a 2-D array."""
    X, ids, lengths = tokens
    y = np.array(["neg", "pos", "mixed"])[np.random.default_rng(6).integers(0, 3, len(X))]
    clf = fit_quiet(RNNClassifier(cell=cell, embedding_dim=4, hidden_size=5,
                                  bidirectional=bidirectional, dense_layers=(6, 3),
                                  dense_activation=activation, max_iter=2, dtype=dtype,
                                  random_state=0), X, y)
    ids_before = ids.copy()
    expected = clf.predict_proba(X)
    assert np.ptp(expected, axis=0).max() > 1e-3   # the rows differ: lengths matter
    for lengths_input in (True, False):
        model = to_onnx(clf, lengths=lengths_input)
        assert [i.name for i in model.graph.input] == ["ids"] + ["lengths"] * lengths_input
        assert {"Gather", "MatMul", activation.capitalize()} <= op_types(model)
        feeds = {"ids": ids, "lengths": lengths} if lengths_input else {"ids": ids}
        label, proba = run(model, feeds)
        np.testing.assert_allclose(proba, expected, rtol=0, atol=TOL[np.dtype(dtype).type])
        np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_array_equal(ids, ids_before)


def test_token_tagger_with_dense_layers(tokens):
    """return_sequences with an embedding and dense layers: one label per
    step, the valid steps of each sequence compared."""
    X, ids, lengths = tokens
    tags = [x % 3 for x in X]
    tagger = fit_quiet(RNNClassifier(cell="gru", embedding_dim=3, hidden_size=4,
                                     dense_layers=(5,), return_sequences=True, max_iter=2,
                                     dtype="float64", random_state=0), X, tags)
    label, proba = run(to_onnx(tagger, lengths=True), {"ids": ids, "lengths": lengths})
    assert proba.shape == ids.shape + (3,)
    for i, (pred, p) in enumerate(zip(tagger.predict(X), tagger.predict_proba(X))):
        n = lengths[i]
        np.testing.assert_array_equal(label[i, :n], pred)
        np.testing.assert_allclose(proba[i, :n], p, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regressor_with_dense_layers(data, dtype):
    X, _, Y = data
    Xp, lengths = pad_sequences(X, dtype=dtype)
    for y, activation in ((Y, "relu"), (Y[:, 0], "tanh")):
        reg = fit_quiet(RNNRegressor(cell="lstm", hidden_size=5, num_layers=2,
                                     bidirectional=True, merge_mode="sum", dense_layers=(7, 4),
                                     dense_activation=activation, max_iter=2, dtype=dtype,
                                     random_state=0), X, y)
        (pred,) = run(to_onnx(reg, lengths=True), {"X": Xp, "lengths": lengths})
        assert pred.shape == y.shape
        np.testing.assert_allclose(pred, reg.predict(X), rtol=0,
                                   atol=TOL[np.dtype(dtype).type] * reg._y_scale.max())


def test_pipeline_with_dense_layers(data):
    X, y, _ = data
    pipe = fit_quiet(make_pipeline(SequenceScaler(), RNNClassifier(
        cell="gru", hidden_size=4, dense_layers=(5,), max_iter=2, random_state=0)), X, y)
    Xp, lengths = pad_sequences(X, dtype=np.float32)
    label, proba = run(to_onnx(pipe, lengths=True), {"X": Xp, "lengths": lengths})
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, pipe.predict(X))


def test_tokenizer_pipeline_is_refused_with_a_hint():
    from seqcore.text import SequenceTokenizer

    texts = ["a good film", "a bad film", "good", "bad bad"]
    pipe = fit_quiet(make_pipeline(SequenceTokenizer(), RNNClassifier(
        embedding_dim=2, hidden_size=2, max_iter=1, random_state=0)), texts, [1, 0, 1, 0])
    with pytest.raises(TypeError, match=r"export the estimator \(pipeline\[-1\]\)"):
        to_onnx(pipe)
    ids = pipe[:-1].transform(texts)
    (label, _) = run(to_onnx(pipe[-1]), {"ids": pad_ids(ids)})
    np.testing.assert_array_equal(label, pipe.predict(texts))


def pad_ids(seqs):
    out = np.zeros((len(seqs), max(map(len, seqs))), np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def test_export_changes_nothing(data):
    X, y, _ = data
    clf = fit_quiet(RNNClassifier(cell="gru", hidden_size=4, max_iter=1, random_state=0), X, y)
    before = clf.network_.flat_params.copy()
    model = to_onnx(clf)
    onnx.checker.check_model(model, full_check=True)
    np.testing.assert_array_equal(clf.network_.flat_params, before)
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    assert model.opset_import[0].version == 17


def test_bad_input_is_refused(data):
    X, y, _ = data
    with pytest.raises(NotFittedError):
        to_onnx(RNNClassifier())
    with pytest.raises(TypeError, match="to_onnx exports"):
        to_onnx(StandardScaler())
    clf = fit_quiet(RNNClassifier(hidden_size=3, max_iter=1, random_state=0), X, y)
    with pytest.raises(TypeError, match="Pipeline of"):
        to_onnx(make_pipeline(StandardScaler(), clf))
    with pytest.raises(ValueError, match="recurrent must be"):
        to_onnx(clf, recurrent="fast")
    with pytest.raises(ValueError, match="target_opset"):
        to_onnx(clf, target_opset=9)
    with pytest.raises(TypeError, match="lengths must be a bool"):
        to_onnx(clf, lengths="yes")
    with pytest.raises(ValueError, match="initial_state=True applies"):
        to_onnx(clf, initial_state=True)
    with pytest.raises(ValueError, match="no operator for the 'mgu'"):
        to_onnx(seqcore.nn.MGU(2, 3), recurrent="native")
    with pytest.raises(ValueError, match="applies to recurrent layers"):
        to_onnx(seqcore.nn.Linear(2, 3), lengths=True)


def test_unknown_network_parts_are_refused(data):
    """A network with parameters beyond its embedding, recurrent stack, dense
    layers and head is refused rather than exported without them."""
    X, y, _ = data
    clf = fit_quiet(RNNClassifier(hidden_size=3, max_iter=1, random_state=0), X, y)
    net = clf.network_
    net.flat_params = np.concatenate([net.flat_params, np.zeros(4, net.dtype)])
    with pytest.raises(NotImplementedError, match="cannot export yet"):
        to_onnx(clf)


# ------------------------------- default session options, in a subprocess
# The session is built as a user builds it, with onnxruntime's default options
# (its highest optimisation level), in a child process: an export that kills
# onnxruntime (issue 22: float32 return_sequences, a segfault) fails the test
# instead of ending the test run.
_RUNNER = """
import sys
import numpy as np
import onnxruntime as ort

results = {}
for i, path in enumerate(sys.argv[1:-1]):
    print("running", path, file=sys.stderr, flush=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = dict(np.load(path + ".feeds.npz"))
    for j, out in enumerate(session.run(None, feeds)):
        results[f"{i}_{j}"] = out
np.savez(sys.argv[-1], **results)
"""


def run_in_subprocess(models, tmp_path):
    """[(model, feeds)] -> each model's outputs from a fresh process."""
    import subprocess
    import sys

    paths = []
    for i, (model, feeds) in enumerate(models):
        path = str(tmp_path / f"model_{i}.onnx")
        onnx.save(model, path)
        np.savez(path + ".feeds.npz", **feeds)
        paths.append(path)
    out = str(tmp_path / "outputs.npz")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, *paths, out],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"onnxruntime's process ended with code {proc.returncode}"
                                  f" (-11 or 139: a segfault):\n{proc.stderr[-2000:]}")
    with np.load(out, allow_pickle=True) as res:   # string labels are object arrays
        return [[res[f"{i}_{j}"] for j in range(len(model.graph.output))]
                for i, (model, _) in enumerate(models)]


def _estimator_configurations(X, lengths_, dtype, cell):
    """Every estimator configuration of one cell and dtype: classifier and
    regressor, summary and return_sequences, with and without ``lengths``."""
    rng = np.random.default_rng(7)
    full = [x[:4] for x in X if len(x) >= 4]       # every sequence 4 steps long
    tags = [rng.integers(0, 3, len(x)) for x in X]
    targets = [rng.standard_normal(len(x)) for x in X]
    y = rng.integers(0, 3, len(X))
    opts = dict(cell="lstm" if cell == "lstm_proj" else cell, hidden_size=5, max_iter=1,
                dtype=dtype, random_state=0, bidirectional=True)
    if cell == "lstm_proj":
        opts["proj_size"] = 3
    cases = []
    for est, target in ((RNNClassifier(**opts), y), (RNNRegressor(**opts), y * 1.5),
                        (RNNClassifier(return_sequences=True, **opts), tags),
                        (RNNRegressor(return_sequences=True, **opts), targets)):
        fit_quiet(est, X, target)
        for lengths in (True, False):
            data = X if lengths else full
            Xp, ls = pad_sequences(data, dtype=dtype)
            feeds = {"X": Xp, "lengths": ls} if lengths else {"X": Xp}
            cases.append((to_onnx(est, lengths=lengths), feeds, est, data))
    return cases


def _compare(est, data, got):
    """onnxruntime's outputs against the estimator's, on the valid steps."""
    tol = 1e-4 if est.dtype == "float32" else 1e-9
    if isinstance(est, RNNClassifier):
        expected = [est.predict(data), est.predict_proba(data)]
    else:
        expected = [est.predict(data)]
    for g, e in zip(got, expected):
        if est.return_sequences:
            for i, e_i in enumerate(e):
                g_i = g[i, :len(e_i)]
                if g_i.dtype.kind in "fc":
                    np.testing.assert_allclose(g_i, e_i, rtol=0, atol=tol * 10)
                else:
                    np.testing.assert_array_equal(g_i, e_i)
        elif g.dtype.kind in "fc":
            np.testing.assert_allclose(g, e, rtol=0, atol=tol * 10)
        else:
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm", "mgu", "lstm_proj"])
def test_every_estimator_export_runs_under_default_session_options(data, tmp_path, cell,
                                                                   dtype):
    X, _, _ = data
    cases = _estimator_configurations(X, None, dtype, cell)
    outputs = run_in_subprocess([(m, f) for m, f, _, _ in cases], tmp_path)
    for (_, _, est, data_), got in zip(cases, outputs):
        _compare(est, data_, got)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_token_export_runs_under_default_session_options(tokens, tmp_path, dtype):
    """The embedding tagger and classifier, with and without ``lengths``, and
    every recurrent layer, the Embedding and Linear layers."""
    X, ids, lengths = tokens
    rng = np.random.default_rng(8)
    cases = []
    for est, y in ((RNNClassifier(embedding_dim=3, hidden_size=4, return_sequences=True),
                    [x % 3 for x in X]),
                   (RNNClassifier(embedding_dim=3, hidden_size=4, dense_layers=(5,)),
                    rng.integers(0, 2, len(X))),
                   (RNNRegressor(embedding_dim=3, hidden_size=4, return_sequences=True,
                                 cell="lstm", proj_size=2),
                    [x * 0.1 for x in X])):
        est.set_params(max_iter=1, dtype=dtype, random_state=0)
        fit_quiet(est, X, y)
        for with_lengths in (True, False):
            feeds = {"ids": ids, "lengths": lengths} if with_lengths else {"ids": ids}
            cases.append((to_onnx(est, lengths=with_lengths), feeds, est, X))
    layers = [getattr(seqcore.nn, name)(3, 4, 2, bidirectional=True, dtype=dtype,
                                        random_state=0, **opts)
              for name, opts, _ in VARIANTS]
    Xs = rng.standard_normal((3, 5, 3)).astype(dtype)
    layer_cases = [(to_onnx(layer, lengths=True), {"X": Xs, "lengths": np.array([5, 2, 3])})
                   for layer in layers]
    layer_cases.append((to_onnx(seqcore.nn.Embedding(20, 3, dtype=dtype, random_state=0)),
                        {"ids": ids}))
    layer_cases.append((to_onnx(seqcore.nn.Linear(3, 2, dtype=dtype, random_state=0)),
                        {"X": Xs[:, 0]}))
    outputs = run_in_subprocess([(m, f) for m, f, _, _ in cases] + layer_cases, tmp_path)
    for (_, _, est, data_), got in zip(cases, outputs):
        _compare(est, data_, got)
    for layer, got in zip(layers, outputs[len(cases):]):
        out, state = layer.forward(Xs, np.array([5, 2, 3]), training=False)
        np.testing.assert_allclose(got[0], out, rtol=0, atol=TOL[np.dtype(dtype).type])


# --------------------------------------------- token ids: issue 22, items 5, 10
def test_token_graph_follows_the_estimators_padding_rule(tokens):
    """Without a ``lengths`` input the graph reads each row as the estimator
    reads a 2-D array of ids: trailing zeros are padding, and a row of
    zeros only (an empty document) is one unknown token."""
    from seqcore.preprocessing import pad_tokens

    X, _, _ = tokens
    y = np.arange(len(X)) % 2
    for return_sequences in (False, True):
        target = [x % 2 for x in X] if return_sequences else y
        clf = fit_quiet(RNNClassifier(embedding_dim=3, hidden_size=4, max_iter=2,
                                      return_sequences=return_sequences, random_state=0),
                        X, target)
        docs = [X[0], np.array([], np.int64), X[1], X[2]]
        ids, lengths = pad_tokens(docs)
        assert ids.shape == (4, max(map(len, docs)))
        label, proba = run(to_onnx(clf), {"ids": ids})
        expected = clf.predict_proba(docs)
        if not return_sequences:
            np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-5)
            np.testing.assert_allclose(proba[1], clf.predict_proba([np.array([1])])[0],
                                       rtol=0, atol=1e-5)
        else:
            assert len(expected[1]) == 0
            for i, e in enumerate(expected):
                np.testing.assert_allclose(proba[i, :len(e)], e, rtol=0, atol=1e-5)
        # a batch of empty documents only
        label, proba = run(to_onnx(clf), {"ids": np.zeros((2, 3), np.int64)})
        want = clf.predict_proba([np.array([1])])
        want = want[0] if not return_sequences else want[0][0]
        np.testing.assert_allclose(proba[:, 0] if return_sequences else proba,
                                   np.stack([want, want]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("lengths_input", [False, True])
def test_negative_token_ids_fail_the_run(tokens, lengths_input):
    """seqcore refuses a negative id; the graph must not read the table's
    last row for it (ONNX's Gather takes -1 as the last index)."""
    X, ids, lengths = tokens
    clf = fit_quiet(RNNClassifier(embedding_dim=3, hidden_size=4, max_iter=1, random_state=0),
                    X, np.arange(len(X)) % 2)
    model = to_onnx(clf, lengths=lengths_input)
    bad = ids.copy()
    bad[0, 0] = -1
    feeds = {"ids": bad, "lengths": lengths} if lengths_input else {"ids": bad}
    with pytest.raises(Exception, match="out of (data )?bounds"):
        run(model, feeds)
    bad[0, 0] = clf.vocab_size_   # too large: refused too
    with pytest.raises(Exception, match="out of (data )?bounds"):
        run(model, feeds)
    with pytest.raises(ValueError, match="negative token id"):
        clf.predict([np.array([-1, 2])])
    emb = seqcore.nn.Embedding(5, 2, random_state=0)
    with pytest.raises(Exception, match="out of (data )?bounds"):
        run(to_onnx(emb), {"ids": np.array([[1, -2]])})
    # valid ids still run
    label, _ = run(model, {"ids": ids, "lengths": lengths} if lengths_input else {"ids": ids})
    np.testing.assert_array_equal(label, clf.predict(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_empty_batch_runs_under_default_session_options(data, tokens, tmp_path, dtype):
    """N = 0 rows: onnxruntime's own RNN/GRU/LSTM kernels crashed on it (a
    segfault for the token classifier, an abort for a float32 LSTM); the
    graph now gives empty outputs, as seqcore does."""
    X, y, _ = data
    toks, ids, _ = tokens
    clf = fit_quiet(RNNClassifier(hidden_size=3, max_iter=1, dtype=dtype, random_state=0), X, y)
    tok = fit_quiet(RNNClassifier(cell="gru", embedding_dim=2, hidden_size=3, max_iter=1,
                                  dtype=dtype, random_state=0), toks, np.arange(len(toks)) % 2)
    layer = seqcore.nn.LSTM(3, 4, 2, bidirectional=True, dtype=dtype, random_state=0)
    empty_x = np.zeros((0, 5, 3), dtype)
    cases = [(to_onnx(clf), {"X": empty_x}),
             (to_onnx(clf, lengths=True), {"X": empty_x, "lengths": np.zeros(0, np.int64)}),
             (to_onnx(tok), {"ids": np.zeros((0, 4), np.int64)}),
             (to_onnx(layer, lengths=True, initial_state=True),
              {"X": empty_x, "lengths": np.zeros(0, np.int64),
               "h_0": np.zeros((4, 0, 4), dtype), "c_0": np.zeros((4, 0, 4), dtype)})]
    outputs = run_in_subprocess(cases, tmp_path)
    assert [o.shape for o in outputs[0]] == [(0,), (0, 3)]
    assert [o.shape for o in outputs[1]] == [(0,), (0, 3)]
    assert [o.shape for o in outputs[2]] == [(0,), (0, 2)]
    assert [o.shape for o in outputs[3]] == [(0, 5, 8), (4, 0, 4), (4, 0, 4)]

"""seqcore.convert: layers and fitted estimators to and from PyTorch, and
recurrent layers to and from Keras 3, with the outputs agreeing both ways.

Tolerances: 1e-12 in float64, 1e-5 in float32.  One exception, Keras'
own: on its torch (and JAX) backend Keras computes ``keras.ops.matmul`` of
float64 tensors in float32 (``keras.src.backend.common.dtypes`` maps
float64 to float32 for every backend but TensorFlow), which ``SimpleRNN``
and ``GRU(reset_after=False)`` use; its ``LSTM`` and ``GRU(reset_after=True)``
run torch's own kernels in float64.  For the first two, the float64 test
checks the converted weights against a NumPy evaluation of Keras' formulas
(gate order z, r, h; one bias) to 1e-12, and Keras' own outputs to 1e-6.
"""

import os

import numpy as np
import pytest

from seqcore import RNNClassifier, RNNRegressor
from seqcore.convert import from_keras, from_torch, to_keras, to_torch
from seqcore.nn import GRU, LSTM, MGU, RNN
from seqcore.text import SequenceTokenizer

TOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def _torch():
    torch = pytest.importorskip("torch")
    # these models are tiny: torch's threads would only wait on each other
    torch.set_num_threads(1)
    return torch


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":   # the tolerances below are the torch backend's
        pytest.skip(f"Keras runs on {keras.backend.backend()}, these tests on torch")
    return keras


def _X(dtype, B=3, T=6, I=4, seed=0):
    return np.random.default_rng(seed).normal(size=(B, T, I)).astype(dtype)


def _seqcore_out(layer, X):
    out, state = layer.forward(X, training=False)
    return out, state


def _torch_out(module, X):
    torch = _torch()
    with torch.no_grad():
        out, state = module(torch.from_numpy(X))
    if isinstance(state, tuple):
        return out.numpy(), tuple(s.numpy() for s in state)
    return out.numpy(), state.numpy()


def _close(a, b, dtype):
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL[dtype])


TORCH_CASES = [
    ("RNN", dict()),
    ("RNN", dict(nonlinearity="relu", num_layers=2)),
    ("GRU", dict(bidirectional=True)),
    ("GRU", dict(num_layers=2, bidirectional=True, bias=False)),
    ("LSTM", dict()),
    ("LSTM", dict(num_layers=3, bidirectional=True, dropout=0.2)),
    ("LSTM", dict(proj_size=3, num_layers=2, bidirectional=True)),
]


# ---------------------------------------------------------------- torch layers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind, options", TORCH_CASES)
def test_from_torch_layer_agrees(kind, options, dtype):
    torch = _torch()
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(4, 6, batch_first=True,
                                     dtype=getattr(torch, np.dtype(dtype).name), **options)
    layer = from_torch(module)
    assert type(layer).__name__ == kind and layer.dtype == dtype
    assert layer.num_layers == options.get("num_layers", 1)
    assert layer.bidirectional == options.get("bidirectional", False)
    X = _X(dtype, I=4)
    out, state = _seqcore_out(layer, X)
    out_t, state_t = _torch_out(module.eval(), X)
    _close(out, out_t, dtype)
    for s, st in zip(state if kind == "LSTM" else [state], state_t if kind == "LSTM"
                     else [state_t]):
        _close(s, st, dtype)
    if not options.get("bias", True):
        assert all(not v.any() for k, v in layer.params.items() if k.startswith("bias"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [
    lambda d: RNN(4, 6, nonlinearity="relu", bidirectional=True, dtype=d, random_state=1),
    lambda d: GRU(4, 6, num_layers=2, dtype=d, random_state=1),
    lambda d: LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=2, dtype=d,
                   random_state=1),
])
def test_to_torch_layer_agrees_and_round_trips(make, dtype):
    torch = _torch()
    layer = make(dtype)
    module = to_torch(layer)
    assert isinstance(module, torch.nn.Module) and module.batch_first
    X = _X(dtype, I=4, seed=3)
    out, _ = _seqcore_out(layer, X)
    out_t, _ = _torch_out(module, X)
    _close(out, out_t, dtype)
    back = from_torch(module)
    for name, value in layer.params.items():
        np.testing.assert_array_equal(back.params[name], value)


@pytest.mark.parametrize("layer, match", [
    (MGU(3, 4), "no MGU"),
    (LSTM(3, 4, peephole=True), "peephole"),
    (GRU(3, 4, reset_after=False), "reset_after"),
    (GRU(3, 4, bidirectional=True, merge_mode="sum"), "merge_mode"),
])
def test_to_torch_refuses_what_torch_lacks(layer, match):
    _torch()
    with pytest.raises(ValueError, match=match):
        to_torch(layer)


def test_to_torch_warns_about_recurrent_dropout():
    _torch()
    with pytest.warns(UserWarning, match="recurrent_dropout"):
        to_torch(GRU(3, 4, recurrent_dropout=0.3))


def test_from_torch_refuses_other_modules_and_mixed_options():
    torch = _torch()
    with pytest.raises(TypeError, match="torch.nn.RNN, GRU or LSTM"):
        from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(TypeError, match="seqcore.nn recurrent layer"):
        to_torch(np.zeros(3))
    with pytest.raises(ValueError, match="pass head="):
        from_torch(torch.nn.LSTM(3, 4), classes=[0, 1])
    with pytest.raises(TypeError, match="head must be a torch.nn.Linear"):
        from_torch(torch.nn.LSTM(3, 4), head=torch.nn.LSTM(4, 2))
    with pytest.raises(ValueError, match="in_features"):
        from_torch(torch.nn.LSTM(3, 4, bidirectional=True), head=torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="outputs for 3 classes"):
        from_torch(torch.nn.GRU(3, 4), head=torch.nn.Linear(4, 2), classes=[0, 1, 2])
    with pytest.raises(ValueError, match="sorted"):
        from_torch(torch.nn.GRU(3, 4), head=torch.nn.Linear(4, 2), classes=["b", "a"])
    with pytest.raises(ValueError, match="distinct"):
        from_torch(torch.nn.GRU(3, 4), head=torch.nn.Linear(4, 2), classes=["a", "a"])
    with pytest.raises(ValueError, match="dtype"):
        from_torch(torch.nn.GRU(3, 4), head=torch.nn.Linear(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="float32 or all float64"):
        from_torch(torch.nn.GRU(3, 4, dtype=torch.float16))


# ---------------------------------------------------------- torch estimators
class _TorchClassifier:
    """A trained torch LSTM + Linear classifier, as a torch user writes one."""

    def __init__(self, torch, dtype, I=3, H=8, K=3, bidirectional=False, embedding=None):
        torch.manual_seed(0)
        td = getattr(torch, np.dtype(dtype).name)
        self.torch = torch
        self.embedding = (None if embedding is None else
                          torch.nn.Embedding(embedding, I, padding_idx=0, dtype=td))
        self.lstm = torch.nn.LSTM(I, H, num_layers=2, batch_first=True,
                                  bidirectional=bidirectional, dtype=td)
        self.head = torch.nn.Linear(H * (2 if bidirectional else 1), K, dtype=td)

    def train(self, X, y, epochs=30):
        torch = self.torch
        parts = [self.lstm, self.head] + ([self.embedding] if self.embedding else [])
        opt = torch.optim.Adam([p for m in parts for p in m.parameters()], lr=0.02)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        for _ in range(epochs):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.logits(Xt), yt)
            loss.backward()
            opt.step()
        return self

    def logits(self, Xt):
        if self.embedding is not None:
            Xt = self.embedding(Xt)
        _, (h_n, _) = self.lstm(Xt)
        summary = (self.torch.cat([h_n[-2], h_n[-1]], 1) if self.lstm.bidirectional
                   else h_n[-1])
        return self.head(summary)

    def proba(self, X):
        with self.torch.no_grad():
            return self.torch.softmax(self.logits(self.torch.from_numpy(X)), 1).numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_from_torch_lstm_and_head_is_a_fitted_classifier(dtype, bidirectional):
    torch = _torch()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 3)).astype(dtype)
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64) + (X[:, -1, 1] > 1)
    model = _TorchClassifier(torch, dtype, bidirectional=bidirectional).train(X, y, epochs=10)
    clf = from_torch(model.lstm, head=model.head, classes=["a", "b", "c"])
    assert isinstance(clf, RNNClassifier)
    assert clf.classes_.tolist() == ["a", "b", "c"] and clf.n_features_in_ == 3
    assert clf.loss_curve_ == [] and clf.n_iter_ == 0 and clf.validation_scores_ == []
    assert clf.get_params()["num_layers"] == 2 and clf.dtype == np.dtype(dtype).name
    _close(clf.predict_proba(X), model.proba(X), dtype)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[model.proba(X).argmax(1)])
    # and back: the ModuleDict computes the same logits
    parts = to_torch(clf)
    assert set(parts.keys()) == {"rnn", "head"}
    again = _TorchClassifier(torch, dtype, bidirectional=bidirectional)
    again.lstm, again.head = parts["rnn"], parts["head"]
    _close(again.proba(X), model.proba(X), dtype)
    # the ModuleDict reads back into an equal estimator
    _close(from_torch(parts, classes=clf.classes_).predict_proba(X), clf.predict_proba(X),
           dtype)


def test_from_torch_classifier_trains_on_with_warm_start():
    torch = _torch()
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 5, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64)
    model = _TorchClassifier(torch, np.float32, K=2).train(X, y, epochs=40)
    clf = from_torch(model.lstm, head=model.head, classes=[0, 1])
    before = clf.score(X, y)
    assert before > 0.8
    clf.set_params(warm_start=True, max_iter=5, learning_rate=1e-3)
    clf.fit(X, y)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5
    # continued from the imported weights (a fresh start would score near 0.5)
    assert clf.score(X, y) > 0.8


def test_from_torch_binary_logit_head():
    torch = _torch()
    torch.manual_seed(2)
    gru = torch.nn.GRU(3, 5, batch_first=True, dtype=torch.float64)
    head = torch.nn.Linear(5, 1, dtype=torch.float64)
    X = _X(np.float64, B=10, I=3)
    clf = from_torch(gru, head=head, classes=["neg", "pos"])
    with torch.no_grad():
        _, h_n = gru(torch.from_numpy(X))
        p = torch.sigmoid(head(h_n[-1]))[:, 0].numpy()
    _close(clf.predict_proba(X)[:, 1], p, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_from_torch_token_tagger(dtype):
    """Embedding + bidirectional LSTM + Linear on every step: a tagger."""
    torch = _torch()
    model = _TorchClassifier(torch, dtype, I=6, K=4, bidirectional=True, embedding=20)
    ids = np.random.default_rng(3).integers(1, 20, size=(5, 7))
    clf = from_torch(model.lstm, head=model.head, embedding=model.embedding,
                     classes=[0, 1, 2, 3], return_sequences=True)
    with torch.no_grad():
        out, _ = model.lstm(model.embedding(torch.from_numpy(ids)))
        expected = torch.softmax(model.head(out), -1).numpy()
    _close(clf.predict_proba(ids), expected, dtype)
    assert clf.vocab_size_ == 20
    parts = to_torch(clf)
    np.testing.assert_array_equal(parts["embedding"].weight.detach().numpy(),
                                  model.embedding.weight.detach().numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("K", [1, 2])
def test_from_torch_regressor_and_back(dtype, K):
    torch = _torch()
    torch.manual_seed(4)
    td = getattr(torch, np.dtype(dtype).name)
    rnn = torch.nn.RNN(3, 6, num_layers=2, batch_first=True, dtype=td)
    head = torch.nn.Linear(6, K, dtype=td)
    X = _X(dtype, B=9, I=3)
    reg = from_torch(rnn, head=head)
    assert isinstance(reg, RNNRegressor)
    with torch.no_grad():
        _, h_n = rnn(torch.from_numpy(X))
        expected = head(h_n[-1]).numpy()
    pred = reg.predict(X)
    assert pred.shape == ((9,) if K == 1 else (9, K))
    _close(pred, expected[:, 0] if K == 1 else expected, dtype)
    # a regressor trained by seqcore: its target scaling is folded into the head
    y = X.sum(axis=(1, 2)) * 40 + 300
    fitted = RNNRegressor(cell="gru", hidden_size=6, max_iter=3, dtype=np.dtype(dtype).name,
                          random_state=0).fit(X, y)
    parts = to_torch(fitted)
    with torch.no_grad():
        _, h_n = parts["rnn"](torch.from_numpy(X))
        back = parts["head"](h_n[-1])[:, 0].numpy()
    np.testing.assert_allclose(back, fitted.predict(X), rtol=TOL[dtype] * 10,
                               atol=TOL[dtype] * 300)


def test_to_torch_estimator_needs_fit_and_no_dense_layers():
    from sklearn.exceptions import NotFittedError

    _torch()
    with pytest.raises(NotFittedError):
        to_torch(RNNClassifier())
    with pytest.raises(TypeError, match="RNNClassifier or RNNRegressor"):
        to_torch(SequenceTokenizer())
    X = _X(np.float32, B=8, I=2)
    clf = RNNClassifier(hidden_size=4, dense_layers=(3,), max_iter=1, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, [0, 1] * 4)
    with pytest.raises(ValueError, match="dense_layers"):
        to_torch(clf)
    y = np.abs(X[:, :, 0].sum(1))
    reg = RNNRegressor(hidden_size=4, loss="poisson", max_iter=1, random_state=0)
    with pytest.warns(Warning):
        reg.fit(X, y)
    with pytest.raises(ValueError, match="poisson"):
        to_torch(reg)


# ---------------------------------------------------------------- Keras
def _keras_run(keras, layers, X):
    out = X
    for layer in layers if isinstance(layers, list) else [layers]:
        out = layer(out)
    return keras.ops.convert_to_numpy(out)


def _sig(z):
    return 1 / (1 + np.exp(-z))


def _keras_reference(layer, X):
    """Keras' formulas for SimpleRNN and GRU(reset_after=False) in NumPy on
    the Keras layer's own weights: kernel (I, G*H), recurrent_kernel (H, G*H),
    one bias, GRU gates in Keras' order (z, r, h)."""
    weights = layer.get_weights()
    kernel, recurrent = weights[:2]
    bias = weights[2] if len(weights) == 3 else 0.0     # use_bias=False
    act = {"tanh": np.tanh, "relu": lambda a: np.maximum(a, 0)}[
        layer.get_config()["activation"]]
    H = recurrent.shape[0]
    h = np.zeros((X.shape[0], H))
    out = []
    for t in range(X.shape[1]):
        x = X[:, t] @ kernel + bias
        if type(layer).__name__ == "SimpleRNN":
            h = act(x + h @ recurrent)
        else:
            z = _sig(x[:, :H] + h @ recurrent[:, :H])
            r = _sig(x[:, H:2 * H] + h @ recurrent[:, H:2 * H])
            hh = np.tanh(x[:, 2 * H:] + (r * h) @ recurrent[:, 2 * H:])
            h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, 1)


KERAS_CASES = [
    lambda d: LSTM(4, 5, dtype=d, random_state=0),
    lambda d: LSTM(4, 5, num_layers=2, bidirectional=True, dtype=d, random_state=0),
    lambda d: GRU(4, 5, dtype=d, random_state=0),
    lambda d: GRU(4, 5, bidirectional=True, merge_mode="mul", dtype=d, random_state=0),
    lambda d: GRU(4, 5, reset_after=False, dtype=d, random_state=0),
    lambda d: RNN(4, 5, dtype=d, random_state=0),
    lambda d: RNN(4, 5, nonlinearity="relu", bidirectional=True, merge_mode="ave", dtype=d,
                  random_state=0),
    lambda d: RNN(4, 5, num_layers=2, bidirectional=True, merge_mode="sum", dtype=d,
                  random_state=0),
]


def _keras_computes_in_float32(layer):
    return type(layer).__name__ == "RNN" or (type(layer).__name__ == "GRU"
                                             and not layer.reset_after)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", KERAS_CASES)
def test_to_keras_and_back(make, dtype):
    keras = _keras()
    layer = make(dtype)
    converted = to_keras(layer)
    X = _X(dtype, I=4, seed=5)
    out, _ = _seqcore_out(layer, X)
    tol = TOL[dtype]
    if dtype == np.float64 and _keras_computes_in_float32(layer):
        tol = 1e-6
    np.testing.assert_allclose(_keras_run(keras, converted, X), out, rtol=0, atol=tol)
    back = from_keras(converted)
    assert type(back) is type(layer) and back.num_layers == layer.num_layers
    assert back.merge_mode == layer.merge_mode and back.dtype == layer.dtype
    out_back, _ = _seqcore_out(back, X)
    # Keras' one bias holds b_ih + b_hh: equal outputs, up to that sum's rounding
    _close(out_back, out, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("build", [
    lambda k, d: k.layers.LSTM(6, dtype=d, return_sequences=True),
    lambda k, d: k.layers.GRU(6, dtype=d, return_sequences=True),
    lambda k, d: k.layers.GRU(6, reset_after=False, use_bias=False, dtype=d,
                              return_sequences=True),
    lambda k, d: k.layers.SimpleRNN(6, activation="relu", dtype=d, return_sequences=True),
    lambda k, d: k.layers.Bidirectional(k.layers.GRU(6, return_sequences=True, dtype=d),
                                        merge_mode="sum", dtype=d),
    lambda k, d: k.layers.Bidirectional(k.layers.LSTM(6, return_sequences=False, dtype=d),
                                        dtype=d),
])
def test_from_keras_agrees(build, dtype):
    keras = _keras()
    keras.utils.set_random_seed(0)
    layer = build(keras, np.dtype(dtype).name)
    X = _X(dtype, I=4, seed=6)
    expected = _keras_run(keras, layer, X)          # builds it with random weights
    converted = from_keras(layer)
    out, state = _seqcore_out(converted, X)
    if expected.ndim == 2:    # the final outputs: seqcore's summary of h_n
        h_n = state[0] if isinstance(state, tuple) else state
        out = np.concatenate([h_n[-2], h_n[-1]], 1)
    inner = getattr(layer, "forward_layer", layer)
    if dtype == np.float64 and type(inner).__name__ in ("SimpleRNN", "GRU") \
            and not (type(inner).__name__ == "GRU" and inner.reset_after):
        np.testing.assert_allclose(out, _keras_reference(layer, X), rtol=0, atol=1e-12)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)
    else:
        _close(out, expected, dtype)


def test_from_keras_stack():
    keras = _keras()
    keras.utils.set_random_seed(1)
    stack = [keras.layers.GRU(5, return_sequences=True, dtype="float64"),
             keras.layers.GRU(5, return_sequences=True, dtype="float64")]
    X = _X(np.float64, I=3, seed=7)
    expected = _keras_run(keras, stack, X)
    layer = from_keras(stack)
    assert layer.num_layers == 2
    _close(_seqcore_out(layer, X)[0], expected, np.float64)


def test_from_keras_refusals():
    keras = _keras()
    unbuilt = keras.layers.LSTM(3)
    with pytest.raises(ValueError, match="not built"):
        from_keras(unbuilt)
    with pytest.raises(TypeError, match="SimpleRNN, GRU, LSTM or Bidirectional"):
        from_keras(keras.layers.Dense(3))
    odd = keras.layers.LSTM(3, recurrent_activation="hard_sigmoid")
    odd.build((None, None, 2))
    with pytest.raises(ValueError, match="recurrent_activation"):
        from_keras(odd)
    back = keras.layers.GRU(3, go_backwards=True)
    back.build((None, None, 2))
    with pytest.raises(ValueError, match="go_backwards"):
        from_keras(back)
    a, b = keras.layers.GRU(3, return_sequences=True), keras.layers.GRU(4)
    a.build((None, None, 2))
    b.build((None, None, 3))
    with pytest.raises(ValueError, match="layers\\[1\\] differs"):
        from_keras([a, b])
    drop = keras.layers.GRU(3, dropout=0.5)
    drop.build((None, None, 2))
    with pytest.warns(UserWarning, match="input dropout"):
        from_keras(drop)


@pytest.mark.parametrize("layer, match", [
    (MGU(3, 4), "no MGU"),
    (LSTM(3, 4, peephole=True), "peephole"),
    (LSTM(3, 4, proj_size=2), "proj_size"),
])
def test_to_keras_refuses_what_keras_lacks(layer, match):
    _keras()
    with pytest.raises(ValueError, match=match):
        to_keras(layer)


def test_seqcore_imports_neither_framework():
    """torch and keras are imported inside the converters only."""
    import subprocess
    import sys

    code = ("import sys, seqcore, seqcore.convert; "
            "print(sorted(m for m in ('torch', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ,
                                          "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


def test_from_torch_estimator_fine_tunes_with_a_fresh_optimizer():
    """The probe fit leaves no optimizer state: Adam's first step after the
    conversion moves every parameter by the learning rate (m/sqrt(v) is
    sign(g) at step 1), as from freshly set weights."""
    torch = _torch()
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 6, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64)
    model = _TorchClassifier(torch, np.float32, K=2)
    clf = from_torch(model.lstm, head=model.head, classes=[0, 1])
    assert clf.t_ == 0
    before = clf.network_.flat_params.copy()
    clf.set_params(warm_start=True, max_iter=1, batch_size=len(X), clip_norm=None)
    with pytest.warns(Warning):
        clf.fit(X, y)
    step = np.abs(clf.network_.flat_params.astype(np.float64) - before)
    assert np.mean(np.isclose(step, clf.learning_rate, rtol=1e-2)) > 0.9


def test_multilabel_classifier_round_trips_through_torch():
    """A multilabel classifier exports one logit per label and comes back
    with multilabel=True (the hostile review's round trip)."""
    pytest.importorskip("torch")
    import warnings

    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 5, 2))
    Y = np.column_stack([X[:, :, 0].sum(1) > 0, X[:, :, 1].sum(1) > 0]).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = RNNClassifier(cell="gru", hidden_size=6, max_iter=3, dtype="float64",
                            random_state=0).fit(X, Y)
        back = from_torch(to_torch(clf), multilabel=True)
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-12)
    parts = to_torch(clf)
    with pytest.raises(ValueError, match="multilabel"):
        from_torch(parts["rnn"], head=parts["head"], multilabel=True, classes=[0, 1])

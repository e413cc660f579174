"""Bad-input fuzzing of every public entry point.

The contract (SPEC.md, "Errors"): bad input gets a ``ValueError`` or
``TypeError`` whose message names the problem, before any work; anything
else is converted and gives correct results.  Never a crash, never a
modified input, never NaN (or infinite) output.

Every case below goes through ``run_case``, which

* calls the entry point on a deep-frozen copy check of its arguments: the
  caller's arrays, lists and dicts must be unchanged afterwards (values,
  dtype, shape, write flag);
* for an expected error, accepts only ``ValueError`` / ``TypeError`` whose
  message matches a pattern naming the problem (any other exception type is
  a failure, and a crash of the interpreter fails the run);
* for an expected success, checks that every float in the result is finite
  and, for inputs that are the same data in another layout or dtype
  (negative strides, views, read-only, big-endian, Fortran order, lists,
  object arrays of numbers), that the result is bit-identical to the one of
  the plain C-contiguous native array;
* counts the case under its entry point: ``CASES`` (printed at the end of
  the run, in the terminal summary).

Inputs that can crash the interpreter run in a subprocess.  The command line
runs through ``[sys.executable, "-m", "seqcore", ...]``, several at a time.

Already covered elsewhere and not repeated here: the ``nn`` layers' basic
input errors (tests/test_nn_errors.py), the estimators' NaN/inf, dimension,
feature-count and per-step-y errors (tests/test_estimators.py), the
forecaster's basic fit/fh errors (tests/test_forecasting.py), the CLI's usage
errors (tests/test_cli.py).
"""

import collections
import copy
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from conftest import subprocess_env
import pytest

from seqcore import RNNClassifier, RNNForecaster, RNNRegressor
from seqcore import model_selection
from seqcore.nn import GRU, LSTM, RNN, SequenceNetwork, clip_grad_norm, clip_grad_value
from seqcore.preprocessing import SequenceScaler, pad_sequences

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning"),
]

CASES = collections.Counter()      # entry point -> bad-input cases tried
SEED = 20240611
N, T, F = 12, 5, 2                 # samples, steps, features of the clean data
LONG_T = 20_000                    # a very long sequence (batch 1): must work


# ====================================================================== harness
class Err:
    """The call must raise ValueError/TypeError with a message matching ``match``."""

    def __init__(self, match):
        self.match = match

    def __repr__(self):
        return f"Err({self.match!r})"


class Same:
    """The call must succeed with the result of the same call on ``args``
    (the plain C-contiguous native arrays holding the same values)."""

    def __init__(self, *args):
        self.args = args


class Works:
    """The call must succeed with finite results (and pass ``check``, if given)."""

    def __init__(self, check=None):
        self.check = check


class ErrOrSame(Err):
    """Either a clear error or the reference result (e.g. numeric strings)."""

    def __init__(self, match, *args):
        super().__init__(match)
        self.args = args


class ErrOrWorks(Err):
    """Either a clear error or finite results."""


# The problems, by the words a message naming them uses (matched ignoring case).
P_NAN = r"nan|inf"
P_NDIM = r"\b[0-9]-?d\b|dimension|scalar|shape"
P_EMPTY = r"empty|no samples|0 sample|\b[0-9]-?d\b|length zero|minimum|zero"
P_ZERO_LENGTH = r"length zero|zero|n_timesteps = 0"
P_FEATURES = r"features?"
P_NUMERIC = r"numeric|number|convert|string|float|dtype|real"
P_COMPLEX = r"complex"
P_SAMPLES = r"samples?|inconsistent|sequences|shape"
P_LENGTHS = r"lengths"


def _freeze(obj):
    """A deep snapshot of the caller-visible state of an argument."""
    if isinstance(obj, np.ndarray):
        return ("array", obj.copy(), obj.dtype, obj.shape, obj.flags.writeable)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_freeze(x) for x in obj])
    if isinstance(obj, dict):
        return ("dict", {k: _freeze(v) for k, v in obj.items()})
    return ("other", obj)


def _same_array(a, b):
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return np.array_equal(a, b, equal_nan=True)
    if a.shape != b.shape:
        return False
    # objects, strings, labels: element by element, NaN equal to NaN
    return all(x is y or x == y or (x != x and y != y)
               for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))


def _assert_unchanged(obj, snap, where="argument"):
    kind = snap[0]
    if kind == "array":
        _, data, dtype, shape, writeable = snap
        assert obj.dtype == dtype and obj.shape == shape, f"{where}: dtype/shape changed"
        assert obj.flags.writeable == writeable, f"{where}: write flag changed"
        assert _same_array(obj, data), f"{where}: values were modified"
    elif kind in ("list", "tuple"):
        assert len(obj) == len(snap[1]), f"{where}: length changed"
        for i, (o, s) in enumerate(zip(obj, snap[1])):
            _assert_unchanged(o, s, f"{where}[{i}]")
    elif kind == "dict":
        assert set(obj) == set(snap[1]), f"{where}: keys changed"
        for k in obj:
            _assert_unchanged(obj[k], snap[1][k], f"{where}[{k!r}]")


def _floats(result):
    """Every float array / number inside a result (lists, tuples, dicts)."""
    if isinstance(result, np.ndarray):
        if result.dtype.kind in "fc":
            yield result
        elif result.dtype.kind == "O":
            for x in result.ravel():
                yield from _floats(x)
    elif isinstance(result, (float, np.floating)):
        yield np.asarray(result)
    elif isinstance(result, (list, tuple)):
        for x in result:
            yield from _floats(x)
    elif isinstance(result, dict):
        for x in result.values():
            yield from _floats(x)


def _assert_finite(result, entry):
    for a in _floats(result):
        assert np.isfinite(a).all(), f"{entry}: NaN or infinite output"


def _assert_same(result, reference, entry):
    if isinstance(reference, (list, tuple)):
        assert isinstance(result, (list, tuple)) and len(result) == len(reference), entry
        for r, e in zip(result, reference):
            _assert_same(r, e, entry)
        return
    if isinstance(reference, dict):
        assert set(result) == set(reference), entry
        for k in reference:
            _assert_same(result[k], reference[k], f"{entry}[{k!r}]")
        return
    r, e = np.asarray(result), np.asarray(reference)
    assert r.shape == e.shape, f"{entry}: shape {r.shape}, expected {e.shape}"
    assert _same_array(r, e), f"{entry}: result differs from the plain array's"


def run_case(entry, call, args, expect, kwargs=None):
    """Run ``call(*args, **kwargs)`` under the contract; see the module docstring."""
    CASES[entry] += 1
    kwargs = kwargs or {}
    snaps = [_freeze(a) for a in args] + [_freeze(v) for v in kwargs.values()]
    reference = None
    if isinstance(expect, (Same, ErrOrSame)):
        reference = call(*expect.args)
    try:
        result = call(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        if not isinstance(expect, Err):
            raise AssertionError(f"{entry}: expected a result, got {type(exc).__name__}: "
                                 f"{exc}") from exc
        assert re.search(expect.match, str(exc), re.IGNORECASE), (
            f"{entry}: {type(exc).__name__} does not name the problem "
            f"({expect.match!r}): {exc}")
    except Exception as exc:   # noqa: BLE001 - any other type breaks the contract
        raise AssertionError(f"{entry}: {type(exc).__name__} instead of a ValueError or "
                             f"TypeError naming the problem: {exc}") from exc
    else:
        if type(expect) is Err:
            raise AssertionError(f"{entry}: expected {expect}, got a result")
        _assert_finite(result, entry)
        if reference is not None:
            _assert_same(result, reference, entry)
        if isinstance(expect, Works) and expect.check is not None:
            expect.check(result)
    for i, (a, s) in enumerate(zip(list(args) + list(kwargs.values()), snaps)):
        _assert_unchanged(a, s, f"{entry}: argument {i}")


class _Summary:
    """Prints CASES in the terminal summary at the end of the run."""

    def pytest_terminal_summary(self, terminalreporter):
        if not CASES:
            return
        terminalreporter.write_sep("-", "bad-input cases per entry point (test_fuzz_inputs)")
        for entry, n in sorted(CASES.items()):
            terminalreporter.write_line(f"{entry:<48} {n:>5}")
        terminalreporter.write_line(f"{'total':<48} {sum(CASES.values()):>5}")


@pytest.fixture(scope="module", autouse=True)
def _print_counts_at_the_end(request):
    pm = request.config.pluginmanager
    if not pm.has_plugin("seqcore-fuzz-summary"):
        pm.register(_Summary(), "seqcore-fuzz-summary")
    yield


# =========================================================== the X catalogue
def _rng(*salt):
    return np.random.default_rng([SEED, *salt])


def _with(a, index, value):
    a = np.array(a, dtype=np.result_type(a, type(value)) if not isinstance(value, str)
                 else object)
    a[index] = value
    return a


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _strided(a, axis=-1):
    """The same values as a non-contiguous view (every other entry of a bigger array)."""
    shape = list(a.shape)
    shape[axis] *= 2
    big = np.zeros(shape, a.dtype)
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(None, None, 2)
    big[tuple(idx)] = a
    view = big[tuple(idx)]
    assert not view.flags.c_contiguous or a.size <= 1
    return view


def _neg(a, axis):
    """The same values as a negative-stride view."""
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(None, None, -1)
    rev = np.ascontiguousarray(a[tuple(idx)])
    return rev[tuple(idx)]


def _big_endian(a):
    return a.astype(a.dtype.newbyteorder(">"))


def x_catalogue(X):
    """(id, value, expectation) for sequence inputs X (n, T, F) of any entry point.

    ``Same(ref)`` holds the plain array with the same values.
    """
    n, t, f = X.shape
    rng = _rng(1, n, t, f)
    ragged = [X[i, : 1 + i % t] for i in range(n)]
    cases = [
        # --- the same data in another layout or dtype: identical results
        ("negative_stride_batch", _neg(X, 0), Same(X.copy())),
        ("negative_stride_time", _neg(X, 1), Same(X.copy())),
        ("negative_stride_features", _neg(X, 2), Same(X.copy())),
        ("reversed_view", X[::-1], Same(np.ascontiguousarray(X[::-1]))),
        ("strided_view", _strided(X), Same(X.copy())),
        ("fortran_order", np.asfortranarray(X), Same(X.copy())),
        ("transposed_view", np.ascontiguousarray(X.transpose(2, 1, 0)).transpose(2, 1, 0),
         Same(X.copy())),
        ("read_only", _read_only(X), Same(X.copy())),
        ("big_endian_float64", _big_endian(X), Same(X.copy())),
        ("big_endian_float32", _big_endian(X.astype(np.float32)),
         Same(X.astype(np.float32))),
        ("float16", X.astype(np.float16), Same(X.astype(np.float16).astype(np.float64))),
        ("int64", np.round(3 * X).astype(np.int64), Same(np.round(3 * X))),
        ("big_endian_int32", np.round(3 * X).astype(">i4"), Same(np.round(3 * X))),
        ("uint8", np.abs(np.round(3 * X)).astype(np.uint8), Same(np.abs(np.round(3 * X)))),
        ("bool", X > 0, Same((X > 0).astype(np.float64))),
        ("object_array_of_floats", X.astype(object), Same(X.copy())),
        ("nested_lists", X.tolist(), Same(X.copy())),
        ("list_of_arrays", list(X), Same(X.copy())),
        ("tuple_of_arrays", tuple(X), Same(X.copy())),
        ("list_of_negative_stride_views", [_neg(x, 0) for x in X], Same(X.copy())),
        ("list_of_read_only_big_endian", [_read_only(_big_endian(x)) for x in X],
         Same(X.copy())),
        ("numeric_strings", X.astype(str), ErrOrSame(P_NUMERIC, X.copy())),
        # --- valid but unusual: must work
        ("one_step", X[:, :1].copy(), Works()),
        ("one_sample", X[:1].copy(), Works()),
        ("ragged_list_with_length_one", ragged, Works()),
        ("tiny_values", X * 1e-300, Works()),
        ("large_finite_values", X * 1e30, ErrOrWorks(P_NAN + r"|large|overflow")),
        # --- bad input: a clear error
        ("nan", _with(X, (1, 2, 0), np.nan), Err(P_NAN)),
        ("inf", _with(X, (0, 0, 1), np.inf), Err(P_NAN)),
        ("minus_inf", _with(X, (n - 1, t - 1, 0), -np.inf), Err(P_NAN)),
        ("nan_in_list_item", [_with(x, (0, 0), np.nan) if i == 1 else x
                              for i, x in enumerate(X)], Err(P_NAN)),
        ("nan_in_object_array", _with(X.astype(object), (0, 1, 0), np.nan), Err(P_NAN)),
        ("none_in_object_array", _with(X.astype(object), (0, 1, 0), None),
         Err(P_NAN + r"|None|numeric|float")),
        ("too_large_for_float32", np.full(X.shape, 1e39),
         ErrOrWorks(P_NAN + r"|large|float32")),
        ("1d", X[:, 0, 0].copy(), Err(P_NDIM)),
        ("4d", X[:, :, :, None].copy(), Err(P_NDIM)),
        ("0d", np.float64(1.5), Err(P_NDIM)),
        ("python_scalar", 2.0, Err(P_NDIM)),
        ("empty_list", [], Err(P_EMPTY)),
        ("empty_array", np.empty((0,)), Err(P_EMPTY)),
        ("no_samples", np.empty((0, t, f)), Err(P_EMPTY)),
        ("zero_steps", np.empty((n, 0, f)), Err(P_ZERO_LENGTH)),
        ("zero_features", np.empty((n, t, 0)), Err(P_FEATURES + r"|0")),
        ("zero_length_sequence_in_list", [x if i != 2 else x[:0] for i, x in enumerate(X)],
         Err(P_ZERO_LENGTH)),
        ("all_sequences_zero_length", [x[:0] for x in X], Err(P_ZERO_LENGTH)),
        ("feature_count_differs_in_list", [x if i != 1 else np.hstack([x, x])
                                          for i, x in enumerate(X)], Err(P_FEATURES)),
        ("wrong_feature_count", rng.standard_normal((n, t, f + 1)), Err(P_FEATURES)),
        ("strings", np.full(X.shape, "abc"), Err(P_NUMERIC)),
        ("object_strings", np.full(X.shape, "abc", dtype=object), Err(P_NUMERIC)),
        ("bytes", np.full(X.shape, b"1"), ErrOrSame(P_NUMERIC, np.ones(X.shape))),
        ("objects", np.full(X.shape, object()), Err(P_NUMERIC)),
        ("complex", X + 1j, Err(P_COMPLEX + "|" + P_NUMERIC)),
        # scikit-learn's check_array converts datetimes to counts; the layers refuse them
        ("datetime", np.zeros(X.shape, dtype="datetime64[s]"), ErrOrWorks(P_NUMERIC)),
        ("none", None, Err(P_NDIM + r"|None|NaN|numeric")),
        ("dict", {"X": X}, Err(P_NUMERIC + r"|dict|" + P_NDIM)),
        ("string", "abc", Err(P_NUMERIC + "|" + P_NDIM)),
        # a list of 1-D items of different lengths: univariate sequences
        # (1 feature), refused by a model of more features
        ("ragged_nested_lists", [[1.0, 2.0], [3.0]], Err(r"inhomogeneous|sequence|shape|"
                                                        r"ragged|could not|features|" + P_NDIM)),
        ("list_with_none", [X[0], None, X[1]], Err(r"mix|None|sequence|numeric|" + P_NDIM)),
        ("list_with_string", [X[0], "abc", X[1]],
         Err(r"mix|sequence|numeric|convert|" + P_NDIM)),
        ("list_of_3d_arrays", [X[:2], X[2:4]], Err(P_NDIM)),
    ]
    return cases


def _long(f, n=1):
    return _rng(2, n, f).standard_normal((n, LONG_T, f))


# =============================================================== estimators
def _data():
    rng = _rng(3)
    X = rng.standard_normal((N, T, F))
    y = np.arange(N) % 2
    y[0], y[1] = 0, 1
    s = X[:, :, 0].sum(axis=1)
    return X, y, s


X0, Y_CLS, Y_REG = _data()
X_CLEAN = _rng(4).standard_normal((4, T, F))
TINY = dict(hidden_size=4, max_iter=2, batch_size=8, random_state=0)


def _labels_for(X, y):
    """Targets with one entry per sample of X (y itself when X has no length),
    so that every case fails, if it fails, on X."""
    try:
        n = len(X)
    except TypeError:
        return y
    if isinstance(X, (str, dict)):
        return y
    return np.resize(y, n) if n else y[:0]


@pytest.fixture(scope="module")
def fitted():
    """Small fitted models of every estimator, on 3-D X (F=2)."""
    return {
        "RNNClassifier[gru]": RNNClassifier(cell="gru", **TINY).fit(X0, Y_CLS),
        "RNNClassifier[rnn-relu,float64]": RNNClassifier(
            cell="rnn", nonlinearity="relu", dtype="float64", **TINY).fit(X0, Y_CLS),
        "RNNRegressor[lstm,bidirectional]": RNNRegressor(
            cell="lstm", bidirectional=True, **TINY).fit(X0, Y_REG),
        "RNNRegressor[gru,2 layers,float64]": RNNRegressor(
            cell="gru", num_layers=2, dtype="float64", **TINY).fit(X0, Y_REG),
    }


def _targets(name):
    return Y_CLS if name.startswith("RNNClassifier") else Y_REG


PREDICT_METHODS = {
    "RNNClassifier[gru]": ["predict", "predict_proba", "predict_log_proba", "score"],
    "RNNClassifier[rnn-relu,float64]": ["predict_proba", "score"],
    "RNNRegressor[lstm,bidirectional]": ["predict", "score"],
    "RNNRegressor[gru,2 layers,float64]": ["predict"],
}
X_CASES = x_catalogue(X0)
X_IDS = [c[0] for c in X_CASES]


def _predict_call(model, method):
    y_full = _targets_of(model)

    def call(X):
        if method == "score":
            return getattr(model, method)(X, _labels_for(X, y_full))
        return getattr(model, method)(X)
    return call


def _targets_of(model):
    return Y_CLS if isinstance(model, RNNClassifier) else Y_REG


@pytest.mark.parametrize("case", X_CASES, ids=X_IDS)
@pytest.mark.parametrize("model_name,method", [(m, f) for m, fs in PREDICT_METHODS.items()
                                               for f in fs])
def test_estimator_predict_side_X(fitted, model_name, method, case):
    _, value, expect = case
    if method == "score" and case[0] == "one_sample" and "Regressor" in model_name:
        value = X0[:2].copy()      # R^2 of one sample is undefined (NaN in scikit-learn)
    model = fitted[model_name]
    params = model.network_.flat_params.copy()
    run_case(f"{model_name.split('[')[0]}.{method}", _predict_call(model, method),
             (value,), expect)
    assert np.array_equal(model.network_.flat_params, params), "predict changed the model"


def _fit_call(Est, kwargs, method, y_full):
    """Fit on X; the result is the trained weights and, when X had F features,
    the predictions on clean data (identical for the same data in any layout)."""
    def call(X):
        est = Est(**kwargs)
        y = _labels_for(X, y_full)
        if method == "partial_fit" and Est is RNNClassifier:
            est.partial_fit(X, y, classes=[0, 1])
        else:
            getattr(est, method)(X, y)
        out = [est.network_.flat_params.copy()]
        if est.n_features_in_ == F:
            out.append(est.predict_proba(X_CLEAN) if Est is RNNClassifier
                       else est.predict(X_CLEAN))
        return out
    return call


FIT_SIDE = [
    ("RNNClassifier", RNNClassifier, dict(cell="lstm", **TINY), "fit"),
    ("RNNClassifier", RNNClassifier, dict(cell="gru", bidirectional=True, **TINY),
     "partial_fit"),
    ("RNNRegressor", RNNRegressor, dict(cell="rnn", dtype="float64", **TINY), "fit"),
    ("RNNRegressor", RNNRegressor, dict(cell="gru", **TINY), "partial_fit"),
]


@pytest.mark.parametrize("case", X_CASES, ids=X_IDS)
@pytest.mark.parametrize("spec", FIT_SIDE, ids=[f"{n}.{m}" for n, _, _, m in FIT_SIDE])
def test_estimator_fit_side_X(spec, case):
    name, Est, kwargs, method = spec
    _, value, expect = case
    if case[0] in ("wrong_feature_count", "ragged_nested_lists"):
        # at fit, any feature count is the right one (1-D items of different
        # lengths are univariate sequences)
        expect = Works()
    if case[0] == "one_sample" and Est is RNNClassifier and method == "fit":
        expect = Err(r"class")       # one sample: one class
    y_full = Y_CLS if Est is RNNClassifier else Y_REG
    run_case(f"{name}.{method}", _fit_call(Est, kwargs, method, y_full), (value,), expect)


@pytest.mark.parametrize("name", list(PREDICT_METHODS))
def test_estimator_very_long_sequence(fitted, name):
    """T=20000, batch 1: predict works, and equals the prediction of the
    same sequence inside a batch (padded, with lengths)."""
    model = fitted[name]
    X = _long(F)
    method = "predict_proba" if name.startswith("RNNClassifier") else "predict"
    entry = f"{name.split('[')[0]}.{method}"
    run_case(entry, getattr(model, method), (X,), Works())
    alone = getattr(model, method)(X)
    both = getattr(model, method)([X[0], X[0, :7]])
    rtol = 1e-4 if "float64" not in name else 1e-9
    np.testing.assert_allclose(both[:1], alone, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("Est", [RNNClassifier, RNNRegressor])
def test_estimator_fit_on_very_long_sequences(Est):
    X = _long(F, n=2)
    y = np.array([0, 1]) if Est is RNNClassifier else np.array([0.5, -1.0])
    entry = f"{Est.__name__}.fit"
    est = Est(cell="lstm", hidden_size=4, max_iter=1, random_state=0)
    run_case(entry, lambda X: est.fit(X, y).predict(X), (X,), Works())


# ------------------------------------------------------------------- y cases
def y_catalogue(kind):
    y = Y_CLS if kind == "cls" else Y_REG
    n = len(y)
    cases = [
        ("negative_stride", _neg(y, 0), Same(y.copy())),
        ("read_only", _read_only(y), Same(y.copy())),
        ("big_endian", _big_endian(y), Same(y.copy())),
        ("list", y.tolist(), Same(y.copy())),
        ("object", y.astype(object),
         ErrOrSame(r"label type", y.copy()) if kind == "cls" else Same(y.copy())),
        ("short", y[:-1], Err(P_SAMPLES)),
        ("long", np.r_[y, y[:1]], Err(P_SAMPLES)),
        ("empty", y[:0], Err(P_SAMPLES)),
        ("empty_list", [], Err(P_SAMPLES)),
        ("none", None, Err(r"\by\b|None|target")),
        ("scalar", y[0], Err(r"\by\b|1-D|shape|scalar|samples")),
        ("3d", y[:, None, None], Err(P_NDIM)),
        ("nan", _with(y.astype(float), 3, np.nan), Err(P_NAN)),
        ("inf", _with(y.astype(float), 3, np.inf), Err(P_NAN)),
        ("mixed_types", np.array([1, "a"] * (n // 2), dtype=object),
         Err(r"label|numeric|type|convert")),
        ("dict", {"y": y}, Err(r"\by\b|numeric|dict|shape|samples")),
        ("complex", y + 1j, Err(P_COMPLEX)),
    ]
    if kind == "cls":
        cases += [
            ("string_labels", np.where(y == 1, "yes", "no"), Works()),
            ("bool_labels", y.astype(bool), Works()),
            ("float_labels", y.astype(float), Same(y.copy())),
            ("one_class", np.zeros(n, int), Err(r"class")),
            ("continuous", Y_REG, Err(r"label|continuous")),
            # a 2-D 0/1 indicator is multilabel; other 2-D labels are refused
            ("2d_indicator", np.c_[y, 1 - y], Works()),
            ("2d", np.c_[y, y + 2], Err(r"1-D|" + P_NDIM + "|multi")),
            ("none_labels", np.array([None] * n, dtype=object), Err(r"label|unknown")),
        ]
    else:
        cases += [
            ("int", np.round(y).astype(int), Same(np.round(y))),
            ("numeric_strings", y.astype(str), ErrOrSame(P_NUMERIC, y.copy())),
            ("strings", np.full(n, "abc"), Err(P_NUMERIC)),
            ("2d_two_outputs", np.c_[y, -y], Works()),
            ("constant", np.full(n, 3.0), Works()),
            ("huge_but_finite", y * 1e200, ErrOrWorks(r"large|overflow|scale|" + P_NAN)),
            ("tiny", y * 1e-300, ErrOrWorks(r"small|scale")),
        ]
    return cases


Y_SIDE = [
    ("RNNClassifier.fit", RNNClassifier, "cls", "fit"),
    ("RNNClassifier.partial_fit", RNNClassifier, "cls", "partial_fit"),
    ("RNNRegressor.fit", RNNRegressor, "reg", "fit"),
    ("RNNRegressor.partial_fit", RNNRegressor, "reg", "partial_fit"),
]


@pytest.mark.parametrize("spec,case", [(s, c) for s in Y_SIDE for c in y_catalogue(s[2])],
                         ids=[f"{s[0]}-{c[0]}" for s in Y_SIDE for c in y_catalogue(s[2])])
def test_estimator_y(spec, case):
    entry, Est, _, method = spec
    _, value, expect = case
    if case[0] == "one_class" and method == "partial_fit":
        expect = Works()           # classes=[0, 1] is given: one class in y is fine
    # partial_fit's classes: 0 and 1, or the labels of y where they are others
    classes = np.unique(value) if case[0] in ("string_labels", "bool_labels") else [0, 1]

    def call(y):
        est = Est(cell="gru", **TINY)
        if method == "partial_fit" and Est is RNNClassifier:
            est.partial_fit(X0, y, classes=classes)
        else:
            getattr(est, method)(X0, y)
        return est.predict_proba(X_CLEAN) if Est is RNNClassifier else est.predict(X_CLEAN)

    run_case(entry, call, (value,), expect)


SCORE_Y = [(m, c) for m, kind in (("RNNClassifier[gru]", "cls"),
                                   ("RNNRegressor[lstm,bidirectional]", "reg"))
           for c in y_catalogue(kind)
           if c[0] not in ("huge_but_finite", "tiny")]   # scikit-learn's metrics overflow there


@pytest.mark.parametrize("model_name,case", SCORE_Y,
                         ids=[f"{m.split('[')[0]}-{c[0]}" for m, c in SCORE_Y])
def test_estimator_score_y(fitted, model_name, case):
    """score is scikit-learn's mixin: its messages and its choice of what to
    accept; what seqcore owes is no crash, no NaN, no modified input."""
    name, value, expect = case
    model = fitted[model_name]
    if name == "one_class":
        expect = Works()               # scoring on samples of one class is fine
    elif type(expect) is Err:
        expect = Err(r".")
    elif isinstance(expect, (Same, ErrOrSame)):
        expect = ErrOrSame(r".", *expect.args)
    else:
        expect = ErrOrWorks(r".")
    run_case(f"{model_name.split('[')[0]}.score", lambda y: model.score(X0, y), (value,),
             expect)


# ------------------------------------------------------------ sample_weight
SW_CASES = [
    ("read_only", _read_only(np.linspace(0.5, 2, N)), Same(np.linspace(0.5, 2, N))),
    ("big_endian", _big_endian(np.linspace(0.5, 2, N)), Same(np.linspace(0.5, 2, N))),
    ("negative_stride", _neg(np.linspace(0.5, 2, N), 0), Same(np.linspace(0.5, 2, N))),
    ("list", np.linspace(0.5, 2, N).tolist(), Same(np.linspace(0.5, 2, N))),
    ("int", np.arange(N) % 3 + 1, Same((np.arange(N) % 3 + 1).astype(float))),
    ("scalar", 2.0, Works()),
    ("nan", _with(np.ones(N), 2, np.nan), Err(P_NAN)),
    ("inf", _with(np.ones(N), 2, np.inf), Err(P_NAN)),
    ("negative", _with(np.ones(N), 2, -1.0), Err(r"negative")),
    ("all_zero", np.zeros(N), Err(r"zero")),
    ("short", np.ones(N - 1), Err(r"sample_weight|shape")),
    ("2d", np.ones((N, 2)), Err(r"sample_weight|shape")),
    ("strings", np.full(N, "abc"), Err(P_NUMERIC)),
    ("none_items", [None] * N, Err(r"sample_weight|None|NaN|numeric")),
    ("huge_but_finite", np.full(N, 1e308), ErrOrWorks(r"sample_weight|weight")),
    ("tiny", np.full(N, 1e-300), ErrOrWorks(r"sample_weight|weight")),
]


@pytest.mark.parametrize("case", SW_CASES, ids=[c[0] for c in SW_CASES])
@pytest.mark.parametrize("Est", [RNNClassifier, RNNRegressor])
def test_estimator_sample_weight(Est, case):
    _, value, expect = case
    y = Y_CLS if Est is RNNClassifier else Y_REG

    def call(w):
        est = Est(cell="gru", **TINY).fit(X0, y, sample_weight=w)
        return est.predict_proba(X_CLEAN) if Est is RNNClassifier else est.predict(X_CLEAN)
    run_case(f"{Est.__name__}.fit", call, (value,), expect)


# ------------------------------------------------------------ partial_fit classes
def _assert_columns(P, k):
    assert P.shape[1] == k, P.shape


CLASSES_CASES = [
    ("list", [0, 1], Same(np.array([0, 1]))),
    ("reversed", np.array([1, 0]), Same(np.array([0, 1]))),
    ("with_an_extra_class", [0, 1, 2], Works(lambda r: _assert_columns(r[0], 3))),
    ("none", None, Err(r"classes")),
    ("missing_a_label_of_y", [0, 2], Err(r"label|classes|unseen|not seen")),
    ("labels_of_y_above_all_classes", [-1, 0], Err(r"label|classes|unseen|not seen")),
    ("nan", np.array([0.0, 1.0, np.nan]), Err(r"classes|NaN")),
    ("empty", [], Err(r"classes|empty|2 classes")),
    ("one_class", [0], Err(r"class")),
    ("strings_for_int_labels", ["a", "b"], Err(r"label|classes|unseen|not seen|type")),
]


@pytest.mark.parametrize("case", CLASSES_CASES, ids=[c[0] for c in CLASSES_CASES])
def test_partial_fit_classes(case):
    _, value, expect = case

    def call(classes):
        clf = RNNClassifier(cell="gru", **TINY).partial_fit(X0, Y_CLS, classes=classes)
        return clf.predict_proba(X_CLEAN), clf.predict(X_CLEAN).astype(float)
    run_case("RNNClassifier.partial_fit", call, (value,), expect)


# ====================================================== 2-D (tabular) models
TABLE = X0[:, :, 0].copy()
TABLE_CASES = [
    ("negative_stride", _neg(TABLE, 1), Same(TABLE.copy())),
    ("fortran", np.asfortranarray(TABLE), Same(TABLE.copy())),
    ("big_endian", _big_endian(TABLE), Same(TABLE.copy())),
    ("read_only", _read_only(TABLE), Same(TABLE.copy())),
    ("lists", TABLE.tolist(), Same(TABLE.copy())),
    ("nan", _with(TABLE, (2, 2), np.nan), Err(P_NAN)),
    ("inf", _with(TABLE, (2, 2), np.inf), Err(P_NAN)),
    ("wrong_width", TABLE[:, :-1].copy(), Err(P_FEATURES)),
    ("3d", X0, Err(r"2-D|fit on|form|" + P_FEATURES)),
    ("1d", TABLE[0].copy(), Err(P_NDIM)),
    ("no_rows", TABLE[:0].copy(), Err(P_EMPTY)),
    ("strings", np.full(TABLE.shape, "x"), Err(P_NUMERIC)),
]


@pytest.fixture(scope="module")
def table_models():
    return {"RNNClassifier": RNNClassifier(cell="gru", **TINY).fit(TABLE, Y_CLS),
            "RNNRegressor": RNNRegressor(cell="rnn", **TINY).fit(TABLE, Y_REG)}


@pytest.mark.parametrize("case", TABLE_CASES, ids=[c[0] for c in TABLE_CASES])
@pytest.mark.parametrize("name", ["RNNClassifier", "RNNRegressor"])
def test_tabular_model_predict(table_models, name, case):
    _, value, expect = case
    run_case(f"{name}.predict", table_models[name].predict, (value,), expect)


# =================================================================== nn layers
LAYERS = {
    "RNN[relu]": lambda: RNN(F, 3, nonlinearity="relu", dtype=np.float64, random_state=0),
    "GRU[2 layers,bidirectional,float32]": lambda: GRU(F, 3, 2, bidirectional=True,
                                                       random_state=0),
    "LSTM[peephole,bidirectional,mul]": lambda: LSTM(F, 3, peephole=True, bidirectional=True,
                                                     merge_mode="mul", dtype=np.float64,
                                                     random_state=0),
}
LENGTHS = np.array([5, 1, 3, 5, 2, 4, 5, 1, 2, 3, 4, 5])


def _nn_x_expectation(name, expect):
    """The layers take 3-D arrays only (and no lists of sequences)."""
    if name in ("numeric_strings", "bytes"):
        return Err(P_NUMERIC)            # the layers refuse strings outright
    if name in ("list_of_arrays", "tuple_of_arrays", "list_of_negative_stride_views",
                "list_of_read_only_big_endian"):
        return expect                    # equal lengths: a 3-D array
    if name in ("ragged_list_with_length_one", "zero_length_sequence_in_list",
                "feature_count_differs_in_list", "nan_in_list_item",
                "all_sequences_zero_length"):
        return {"ragged_list_with_length_one": Err(r"could not|numeric|" + P_NDIM),
                "zero_length_sequence_in_list": Err(r"could not|numeric|" + P_NDIM),
                "feature_count_differs_in_list": Err(r"could not|numeric|" + P_NDIM),
                "nan_in_list_item": Err(P_NAN),
                "all_sequences_zero_length": Err(P_ZERO_LENGTH)}[name]
    return expect


@pytest.mark.parametrize("case", X_CASES, ids=X_IDS)
@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_layer_forward_X(layer_name, case):
    name, value, expect = case
    expect = _nn_x_expectation(name, expect)
    layer = LAYERS[layer_name]()
    before = layer.flat_params.copy()
    run_case(f"nn.{layer_name.split('[')[0]}.forward", lambda X: layer.forward(X), (value,),
             expect)
    assert np.array_equal(layer.flat_params, before)


LENGTHS_CASES = [
    ("negative_stride", _neg(LENGTHS, 0), Same(LENGTHS.copy())),
    ("read_only", _read_only(LENGTHS), Same(LENGTHS.copy())),
    ("big_endian", LENGTHS.astype(">i8"), Same(LENGTHS.copy())),
    ("uint16", LENGTHS.astype(np.uint16), Same(LENGTHS.copy())),
    ("list", LENGTHS.tolist(), Same(LENGTHS.copy())),
    ("tuple", tuple(LENGTHS.tolist()), Same(LENGTHS.copy())),
    ("all_full", np.full(N, T), Same(None)),   # the same as no lengths
    ("uint64_huge", _with(LENGTHS.astype(np.uint64), 3, np.uint64(2**63 + 5)), Err(P_LENGTHS)),
    ("int64_min", _with(LENGTHS, 3, np.iinfo(np.int64).min), Err(P_LENGTHS)),
    ("zero", _with(LENGTHS, 0, 0), Err(P_LENGTHS)),
    ("nan", _with(LENGTHS.astype(float), 0, np.nan), Err(P_LENGTHS)),
    ("float_whole_numbers", LENGTHS.astype(float), Err(P_LENGTHS)),
    ("object_ints", LENGTHS.astype(object), ErrOrSame(P_LENGTHS, LENGTHS.copy())),
    ("strings", LENGTHS.astype(str), Err(P_LENGTHS)),
    ("empty", np.array([], dtype=int), Err(P_LENGTHS)),
    ("2d", LENGTHS[None], Err(P_LENGTHS)),
    ("scalar", 3, Err(P_LENGTHS)),
    ("dict", {"a": 1}, Err(P_LENGTHS)),
]


@pytest.mark.parametrize("case", LENGTHS_CASES, ids=[c[0] for c in LENGTHS_CASES])
@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_layer_forward_lengths(layer_name, case):
    _, value, expect = case
    layer = LAYERS[layer_name]()
    run_case(f"nn.{layer_name.split('[')[0]}.forward",
             lambda lengths: layer.forward(X0, lengths=lengths), (value,), expect)


def _state_like(layer, B, rng, scale=0.5):
    shape = (layer.num_layers * layer.num_directions, B, layer.hidden_size)
    if isinstance(layer, LSTM):
        return (scale * rng.standard_normal(shape), scale * rng.standard_normal(shape))
    return scale * rng.standard_normal(shape)


def _map_state(state, fn):
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def state_catalogue(layer, B):
    s = _state_like(layer, B, _rng(5))
    plain = _map_state(s, np.copy)
    first = s[0] if isinstance(s, tuple) else s
    return [
        ("negative_stride", _map_state(s, lambda a: _neg(a, 1)), Same(plain)),
        ("read_only", _map_state(s, _read_only), Same(plain)),
        ("big_endian", _map_state(s, _big_endian), Same(plain)),
        ("float32", _map_state(s, lambda a: a.astype(np.float32)),
         Same(_map_state(s, lambda a: a.astype(np.float32).astype(np.float64)))),
        ("lists", _map_state(s, lambda a: a.tolist()), Same(plain)),
        ("nan", _map_state(s, lambda a: _with(a, (0, 0, 0), np.nan)), Err(P_NAN)),
        ("inf", _map_state(s, lambda a: _with(a, (0, 0, 0), np.inf)), Err(P_NAN)),
        ("wrong_batch", _map_state(s, lambda a: a[:, :-1].copy()), Err(r"shape")),
        ("strings", _map_state(s, lambda a: np.full(a.shape, "s")), Err(P_NUMERIC)),
        ("complex", _map_state(s, lambda a: a + 1j), Err(P_COMPLEX)),
        ("state_of_the_other_kind", (first, first, first) if isinstance(s, tuple) else (s, s),
         Err(r"pair|shape|initial_state|" + P_NDIM)),
    ]


def _per_layer(catalogue):
    """(layer_name, case) pairs and their ids, the catalogue built per layer."""
    pairs = [(name, case) for name in LAYERS for case in catalogue(LAYERS[name]())]
    return dict(argvalues=pairs, ids=[f"{name}-{case[0]}" for name, case in pairs])


@pytest.mark.parametrize("layer_name,case", **_per_layer(lambda layer: state_catalogue(layer, N)))
def test_layer_forward_initial_state(layer_name, case):
    _, value, expect = case
    layer = LAYERS[layer_name]()
    run_case(f"nn.{layer_name.split('[')[0]}.forward",
             lambda s: layer.forward(X0, lengths=LENGTHS, initial_state=s), (value,), expect)


def d_out_catalogue(shape):
    d = _rng(6).standard_normal(shape)
    return [
        ("negative_stride", _neg(d, 1), Same(d.copy())),
        ("fortran", np.asfortranarray(d), Same(d.copy())),
        ("read_only", _read_only(d), Same(d.copy())),
        ("big_endian", _big_endian(d), Same(d.copy())),
        ("object", d.astype(object), Same(d.copy())),
        ("lists", d.tolist(), Same(d.copy())),
        ("int", np.round(d).astype(int), Same(np.round(d))),
        ("none", None, Works()),
        ("inf", _with(d, (0, 0, 0), np.inf), Err(P_NAN)),
        ("minus_inf_on_padding", _with(d, (1, 4, 0), -np.inf), Err(P_NAN)),
        ("strings", np.full(d.shape, "x"), Err(P_NUMERIC)),
        ("complex", d + 1j, Err(P_COMPLEX)),
        ("wrong_shape", d[:, :, :1].copy(), Err(r"shape")),
        ("scalar", 1.0, Err(r"shape")),
        ("empty", np.empty((0,)), Err(r"shape")),
    ]


def _backward_catalogue(layer):
    out_shape = (N, T, layer.output_size)
    return ([("d_outputs:" + c[0], "d_outputs", c[1], c[2]) for c in d_out_catalogue(out_shape)]
            + [("d_state:" + c[0], "d_state", c[1], c[2]) for c in state_catalogue(layer, N)])


@pytest.mark.parametrize("layer_name,case", **_per_layer(_backward_catalogue))
def test_layer_backward(layer_name, case):
    _, which, value, expect = case
    layer = LAYERS[layer_name]()
    out, _ = layer.train().forward(X0, lengths=LENGTHS)
    dX_before, _ = layer.backward(np.ones(out.shape))
    entry = f"nn.{layer_name.split('[')[0]}.backward"
    if which == "d_outputs":
        run_case(entry, lambda d: layer.backward(d), (value,), expect)
    else:
        run_case(entry, lambda s: layer.backward(None, s), (value,), expect)
    # a failed call does not spoil the cached forward: backward still gives the same
    dX, _ = layer.backward(np.ones(out.shape))
    assert np.array_equal(dX, dX_before)


@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_layer_very_long_sequence(layer_name):
    """T=20000, batch 1: forward and backward work, finite; streaming the
    sequence in two chunks (unidirectional) gives the same outputs."""
    layer = LAYERS[layer_name]()
    X = _long(F)
    entry = f"nn.{layer_name.split('[')[0]}.forward"

    def forward_backward(X):
        out, state = layer.train().forward(X)
        dX, d_init = layer.backward(np.ones(out.shape) / LONG_T)
        return out, state, dX, d_init
    run_case(entry, forward_backward, (X,), Works())
    CASES[f"nn.{layer_name.split('[')[0]}.backward"] += 1
    if not layer.bidirectional:
        whole, _ = layer.eval().forward(X)
        head, state = layer.forward(X[:, :12_345])
        tail, _ = layer.forward(X[:, 12_345:], initial_state=state)
        rtol = 1e-10 if layer.dtype == np.float64 else 1e-5
        np.testing.assert_allclose(np.concatenate([head, tail], axis=1), whole,
                                   rtol=rtol, atol=rtol)


def state_dict_catalogue(layer):
    sd = {k: v.astype(np.float64) for k, v in layer.state_dict().items()}
    plain = {k: v.copy() for k, v in sd.items()}
    one = next(iter(sd))
    cases = [
        ("lists", {k: v.tolist() for k, v in sd.items()}, Same(plain)),
        ("big_endian", {k: _big_endian(v) for k, v in sd.items()}, Same(plain)),
        ("read_only", {k: _read_only(v) for k, v in sd.items()}, Same(plain)),
        ("negative_stride", {k: _neg(v, 0) for k, v in sd.items()}, Same(plain)),
        ("transposed_views", {k: (np.ascontiguousarray(v.T).T if v.ndim == 2 else v)
                              for k, v in sd.items()}, Same(plain)),
        ("object_arrays", {k: v.astype(object) for k, v in sd.items()}, Same(plain)),
        ("float16", {k: v.astype(np.float16) for k, v in sd.items()},
         Same({k: v.astype(np.float16).astype(np.float64) for k, v in sd.items()})),
        ("none", None, Err(r"state_dict|dict|mapping")),
        ("list_of_pairs", list(sd.items()), Err(r"state_dict|dict|mapping")),
        ("string", "weights", Err(r"state_dict|keys")),
        ("empty", {}, Err(r"missing")),
        ("int_keys", {i: v for i, v in enumerate(sd.values())}, Err(r"missing|keys")),
        ("nan", dict(sd, **{one: _with(sd[one], (0, 0), np.nan)}), Err(P_NAN)),
        ("inf", dict(sd, **{one: _with(sd[one], (0, 0), -np.inf)}), Err(P_NAN)),
        ("object_strings", dict(sd, **{one: np.full(sd[one].shape, "w", dtype=object)}),
         Err(P_NUMERIC)),
        ("complex", dict(sd, **{one: sd[one] + 1j}), Err(P_COMPLEX)),
        ("scalar", dict(sd, **{one: 1.0}), Err(r"shape")),
        ("empty_array", dict(sd, **{one: np.empty((0,))}), Err(r"shape")),
        ("flattened", dict(sd, **{one: sd[one].ravel()}), Err(r"shape")),
        ("none_value", dict(sd, **{one: None}), Err(r"" + one + "|numeric|NaN|shape")),
    ]
    try:
        import torch
    except ImportError:   # torch tensors are only tried where torch is installed
        return cases
    cases.append(("torch_tensors", {k: torch.from_numpy(v.copy()) for k, v in sd.items()},
                  Same(plain)))
    return cases


@pytest.mark.parametrize("layer_name,case", **_per_layer(state_dict_catalogue))
def test_layer_load_state_dict(layer_name, case):
    _, value, expect = case
    layer = LAYERS[layer_name]()
    entry = f"nn.{layer_name.split('[')[0]}.load_state_dict"
    original = layer.state_dict()

    def call(sd):
        layer.load_state_dict(original)
        layer.load_state_dict(sd)
        return layer.state_dict()
    run_case(entry, call, (value,), expect)
    if type(expect) is Err:     # a failed load changes nothing
        for k, v in layer.state_dict().items():
            assert np.array_equal(v, original[k]), k


# ======================================================== SequenceNetwork
def test_sequence_network_class_index_out_of_range_does_not_crash(tmp_path):
    """Class indices outside [0, K) must be refused, not read out of bounds
    (run in a subprocess: an out-of-bounds read can kill the interpreter)."""
    script = textwrap.dedent("""
        import numpy as np
        from seqcore.nn import SequenceNetwork
        net = SequenceNetwork("gru", 2, 3, 2, loss="softmax", dtype=np.float64,
                              random_state=0)
        X = np.random.default_rng(0).standard_normal((4, 5, 2))
        lengths = np.array([5, 3, 2, 5])
        for bad in ([0, 1, 2, 0], [0, -1, 1, 0], [0, 10**9, 1, 0], [0, -10**9, 1, 0]):
            try:
                loss = net.loss_and_gradient(X, lengths, np.array(bad))
            except (ValueError, TypeError) as exc:
                print("refused", bad, exc)
            else:
                print("ACCEPTED", bad, loss)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=_env())
    CASES["nn.SequenceNetwork.loss_and_gradient"] += 4
    assert proc.returncode == 0, (f"the interpreter died (exit code {proc.returncode}): "
                                  f"{proc.stderr[-500:]}")
    assert "ACCEPTED" not in proc.stdout, proc.stdout


SEQNET_CASES = [
    ("lengths_with_zero", dict(lengths=np.array([5, 0, 3, 5])), Err(P_LENGTHS + "|zero")),
    ("lengths_none", dict(lengths=None), ErrOrWorks(P_LENGTHS)),
    ("X_list", dict(X="list"), ErrOrWorks(P_NUMERIC + "|" + P_NDIM + "|X")),
    ("X_nan", dict(X="nan"), Err(P_NAN)),
    ("Y_nan", dict(Y="nan"), Err(P_NAN + r"|Y|target")),
    ("Y_short", dict(Y="short"), Err(r"Y|target|shape|samples")),
    ("sample_weight_nan", dict(w="nan"), Err(P_NAN + r"|weight")),
]


@pytest.mark.parametrize("case", SEQNET_CASES, ids=[c[0] for c in SEQNET_CASES])
def test_sequence_network_loss_and_gradient(case):
    _, change, expect = case
    rng = _rng(7)
    net = SequenceNetwork("lstm", F, 3, 2, loss="squared_error", dtype=np.float64,
                          random_state=0)
    X = rng.standard_normal((4, T, F))
    lengths = np.array([5, 1, 3, 5])
    Y = rng.standard_normal((4, 2))
    w = np.ones(4)
    args = dict(X=X, lengths=lengths, Y=Y, w=w)
    for k, v in change.items():
        if isinstance(v, str):
            v = {"list": X.tolist(), "nan": _with(args[k], (0, 0) if args[k].ndim > 1 else 0,
                                                  np.nan),
                 "short": Y[:3]}[v]
        args[k] = v
    run_case("nn.SequenceNetwork.loss_and_gradient",
             lambda X, lengths, Y, w: (net.loss_and_gradient(X, lengths, Y, w),
                                       net.flat_grads.copy()),
             (args["X"], args["lengths"], args["Y"], args["w"]), expect)


@pytest.mark.parametrize("case", X_CASES, ids=X_IDS)
@pytest.mark.parametrize("method", ["decision_function", "stream"])
def test_sequence_network_decision_function_and_stream(method, case):
    name, value, expect = case
    if method == "decision_function":
        net = SequenceNetwork("gru", F, 3, 2, loss="softmax", bidirectional=True,
                              dtype=np.float64, random_state=0)
    else:
        net = SequenceNetwork("lstm", F, 3, 2, loss="softmax", random_state=0)
    run_case(f"nn.SequenceNetwork.{method}", getattr(net, method), (value,),
             _nn_x_expectation(name, expect))


# =========================================================== preprocessing
@pytest.mark.parametrize("case", X_CASES, ids=X_IDS)
@pytest.mark.parametrize("method", ["fit", "transform", "inverse_transform",
                                    "fit_transform"])
def test_sequence_scaler(method, case):
    name, value, expect = case
    fitted = SequenceScaler().fit(X0)
    if method == "fit":
        def call(X):
            s = SequenceScaler().fit(X)
            return s.mean_, s.scale_
    elif method == "fit_transform":
        def call(X):
            return SequenceScaler().fit_transform(X)
    else:
        call = getattr(fitted, method)
    if method in ("fit", "fit_transform") and name in ("wrong_feature_count",
                                                       "ragged_nested_lists"):
        expect = Works()         # at fit, any feature count is the right one
    run_case(f"SequenceScaler.{method}", call, (value,), expect)


def test_sequence_scaler_large_values_round_trip():
    """Standardising finite data whose standard deviation is representable
    gives finite, standardised values, and inverts."""
    for scale in (1e-150, 1.0, 1e150, 1e200, 1e300):
        X = X0 * scale
        CASES["SequenceScaler.fit"] += 1
        s = SequenceScaler().fit(X)
        assert np.isfinite(s.mean_).all() and np.isfinite(s.scale_).all(), scale
        Z = s.transform(X)
        assert np.isfinite(Z).all(), scale
        flat = Z.reshape(-1, F)
        np.testing.assert_allclose(flat.std(axis=0), 1.0, rtol=1e-6, err_msg=str(scale))
        np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-9, atol=0,
                                   err_msg=str(scale))


PAD_CASES = [
    ("list_of_1d", [np.arange(3.0), np.arange(2.0)], Works()),
    ("tuple", (np.ones((3, 2)), np.ones((1, 2))), Works()),
    ("nested_lists", [[[1.0, 2.0]], [[3.0, 4.0], [5.0, 6.0]]], Works()),
    ("negative_stride_items", [_neg(np.arange(6.0).reshape(3, 2), 0), np.ones((2, 2))],
     Same([np.arange(6.0).reshape(3, 2), np.ones((2, 2))])),
    ("read_only_big_endian_items", [_read_only(_big_endian(np.ones((3, 2)))), np.ones((1, 2))],
     Same([np.ones((3, 2)), np.ones((1, 2))])),
    ("very_long", [np.ones(LONG_T), np.ones(3)], Works()),
    ("empty_list", [], Err(P_EMPTY)),
    ("ndarray", np.ones((3, 4, 2)), Err(r"list")),
    ("none", None, Err(r"list|sequences")),
    ("generator", (x for x in [np.ones(2)]), Err(r"list|sequences")),
    ("3d_item", [np.ones((2, 2, 2))], Err(P_NDIM)),
    ("scalar_items", [1.0, 2.0], Err(P_NDIM)),
    ("features_differ", [np.ones((2, 1)), np.ones((2, 2))], Err(P_FEATURES)),
    ("strings", [np.array(["a", "b"])], Err(P_NUMERIC)),
    ("mixed_object", [np.array([1, "a"], dtype=object)], Err(P_NUMERIC)),
    ("complex", [np.ones(3) + 1j], Err(P_COMPLEX + "|" + P_NUMERIC)),
    ("zero_length_item", [np.ones((0, 2)), np.ones((3, 2))],
     ErrOrWorks(P_ZERO_LENGTH)),
    ("ragged_nested_lists", [[[1.0, 2.0], [3.0]]], Err(r"inhomogeneous|sequence|shape|"
                                                       + P_NDIM)),
]


@pytest.mark.parametrize("case", PAD_CASES, ids=[c[0] for c in PAD_CASES])
def test_pad_sequences(case):
    _, value, expect = case
    run_case("preprocessing.pad_sequences", lambda s: pad_sequences(s), (value,), expect)


PAD_OPTION_CASES = [
    ("maxlen_numpy_int", dict(maxlen=np.int64(2)), Works()),
    ("maxlen_zero", dict(maxlen=0), Err(r"maxlen")),
    ("maxlen_negative", dict(maxlen=-3), Err(r"maxlen")),
    ("maxlen_float", dict(maxlen=2.5), Err(r"maxlen")),
    ("maxlen_string", dict(maxlen="2"), Err(r"maxlen")),
    ("maxlen_bool", dict(maxlen=True), Err(r"maxlen")),
    ("dtype_float32", dict(dtype=np.float32), Works()),
    ("dtype_nonsense", dict(dtype="no such dtype"), Err(r"dtype|data type")),
    ("value_string", dict(value="x"), Err(r"value|convert|float")),
]


@pytest.mark.parametrize("case", PAD_OPTION_CASES, ids=[c[0] for c in PAD_OPTION_CASES])
def test_pad_sequences_options(case):
    _, kwargs, expect = case
    seqs = [np.ones((3, 2)), np.ones((1, 2))]
    run_case("preprocessing.pad_sequences", lambda s, **kw: pad_sequences(s, **kw), (seqs,),
             expect, kwargs=kwargs)


# ================================================================= clipping
def _grads():
    rng = _rng(8)
    return {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}


CLIP_GRADS_CASES = [
    # clipped in place: only the case's own arrays; the arguments are copies
    ("dict", "dict", Works()),
    ("list", "list", Works()),
    ("single_array", "array", Works()),
    ("negative_stride", "neg", Works()),
    ("strided_view", "strided", Works()),
    ("fortran", "fortran", Works()),
    ("float32", "f32", Works()),
    ("empty_list", "empty_list", Works()),
    ("empty_array", "empty_array", Works()),
    ("read_only", "read_only", Err(r"read-only|writeable")),
    ("big_endian", "big", Err(r"float32|float64|dtype|byte")),
    ("int", "int", Err(r"float32|float64|dtype")),
    ("list_of_floats", "floats", Err(r"float32|float64|array")),
    ("none", "none", Err(r"grad")),
    ("scalar", "scalar", Err(r"grad")),
    ("string", "string", Err(r"grad|array")),
]


def _clip_input(kind):
    g = _grads()
    return {
        "dict": g, "list": list(g.values()), "array": g["a"],
        "neg": [_neg(g["a"], 0), _neg(g["b"], 0)],
        "strided": [_strided(g["a"])], "fortran": [np.asfortranarray(g["a"])],
        "f32": [g["a"].astype(np.float32)], "empty_list": [], "empty_array": np.empty(0),
        "read_only": [_read_only(g["a"])], "big": [_big_endian(g["a"])],
        "int": [np.ones(3, int)], "floats": [1.0, 2.0], "none": None, "scalar": 3.0,
        "string": "grads",
    }[kind]


@pytest.mark.parametrize("case", CLIP_GRADS_CASES, ids=[c[0] for c in CLIP_GRADS_CASES])
@pytest.mark.parametrize("fn", [clip_grad_norm, clip_grad_value], ids=["norm", "value"])
def test_clip_functions_grads(fn, case):
    _, kind, expect = case
    grads = _clip_input(kind)
    entry = f"nn.{fn.__name__}"
    CASES[entry] += 1
    if type(expect) is Err:
        snap = _freeze(grads)
        with pytest.raises((ValueError, TypeError)) as info:
            fn(grads, 0.5)
        assert re.search(expect.match, str(info.value), re.IGNORECASE), info.value
        _assert_unchanged(grads, snap)
        return
    arrays = (list(grads.values()) if isinstance(grads, dict)
              else [grads] if isinstance(grads, np.ndarray) else list(grads))
    before = [np.array(a, dtype=np.float64) for a in arrays]
    total = fn(grads, 0.5)
    norm = float(np.sqrt(sum(np.sum(b ** 2) for b in before)))
    if fn is clip_grad_norm:
        assert np.isclose(total, norm, rtol=1e-6)
        coef = min(1.0, 0.5 / (norm + 1e-6))
        for a, b in zip(arrays, before):
            tol = 1e-6 if a.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(a, b * coef, rtol=tol, atol=tol)
    else:
        for a, b in zip(arrays, before):
            np.testing.assert_array_equal(a, np.clip(b, -0.5, 0.5).astype(a.dtype))


CLIP_THRESHOLD_CASES = [
    ("zero", 0.0, Err(r"max_norm|clip_value|> 0")),
    ("negative", -1.0, Err(r"max_norm|clip_value|> 0")),
    ("nan", np.nan, Err(r"max_norm|clip_value|nan")),
    ("string", "1", Err(r"max_norm|clip_value")),
    ("none", None, Err(r"max_norm|clip_value")),
    ("inf", np.inf, Works()),
    ("numpy_float32", np.float32(0.5), Works()),
    ("int", 1, Works()),
]


@pytest.mark.parametrize("case", CLIP_THRESHOLD_CASES,
                         ids=[c[0] for c in CLIP_THRESHOLD_CASES])
@pytest.mark.parametrize("fn", [clip_grad_norm, clip_grad_value], ids=["norm", "value"])
def test_clip_functions_threshold(fn, case):
    _, value, expect = case

    def call(threshold):
        grads = _grads()               # clipped in place: fresh ones each call
        total = fn(grads, threshold)
        return total, grads
    run_case(f"nn.{fn.__name__}", call, (value,), expect)


@pytest.mark.parametrize("scale", [1e150, 1e200, 1e300])
def test_clip_grad_norm_of_extreme_but_finite_gradients(scale):
    """Finite gradients are scaled to max_norm whatever their magnitude: the
    norm must not overflow (or underflow) on the way."""
    CASES["nn.clip_grad_norm"] += 1
    g = _grads()
    expected_dir = np.concatenate([v.ravel() for v in g.values()])
    expected_dir = expected_dir / np.linalg.norm(expected_dir)
    grads = {k: v * scale for k, v in g.items()}
    total = clip_grad_norm(grads, 1.0)
    assert np.isfinite(total) and total > 0, f"total norm {total!r} of finite gradients"
    flat = np.concatenate([v.ravel() for v in grads.values()])
    assert np.isfinite(flat).all()
    if scale > 1:
        np.testing.assert_allclose(flat, expected_dir * 1.0, rtol=1e-6)


def test_clip_functions_on_non_finite_gradients():
    """NaN/inf gradients: either refused, or reported by a non-finite total
    norm (as torch.nn.utils.clip_grad_norm_ does) so the caller can skip the step."""
    for bad in (np.nan, np.inf, -np.inf):
        g = _grads()
        g["b"][1] = bad
        CASES["nn.clip_grad_norm"] += 1
        try:
            total = clip_grad_norm(g, 1.0)
        except ValueError as exc:
            assert re.search(P_NAN, str(exc), re.IGNORECASE), exc
        else:
            assert not np.isfinite(total)
        g = _grads()
        g["b"][1] = bad
        CASES["nn.clip_grad_value"] += 1
        try:
            clip_grad_value(g, 1.0)
        except ValueError as exc:
            assert re.search(P_NAN, str(exc), re.IGNORECASE), exc
        else:
            assert np.all(np.abs(g["a"]) <= 1.0)


# ================================================================ forecaster
def _series(n=72, seed=9):
    t = np.arange(n)
    return 50 + 0.3 * t + 5 * np.sin(2 * np.pi * t / 12) + _rng(seed).standard_normal(n)


Y_SERIES = _series()
FAST = dict(window=6, horizon=3, hidden_size=4, max_iter=2, random_state=0)


def series_catalogue(y):
    n = len(y)
    return [
        ("negative_stride", _neg(y, 0), Same(y.copy())),
        ("strided_view", _strided(y), Same(y.copy())),
        ("read_only", _read_only(y), Same(y.copy())),
        ("big_endian", _big_endian(y), Same(y.copy())),
        ("float32", y.astype(np.float32), Same(y.astype(np.float32).astype(np.float64))),
        ("list", y.tolist(), Same(y.copy())),
        ("object", y.astype(object), Same(y.copy())),
        ("int", np.round(y).astype(int), Same(np.round(y))),
        ("column", y[:, None].copy(), Works()),
        ("constant", np.full(n, 7.0), Works()),
        ("tiny_values", y * 1e-300, ErrOrWorks(r"small|scale")),
        ("huge_but_finite", y * 1e200, ErrOrWorks(r"large|overflow|scale|" + P_NAN)),
        ("very_long", _series(LONG_T, seed=10), Works()),
        ("nan", _with(y, 7, np.nan), Works()),      # a missing value (issue 16)
        ("inf", _with(y, 7, np.inf), Err(P_NAN)),
        ("none", None, Err(r"\by\b|None|numeric|NaN")),
        ("empty", np.array([]), Err(P_EMPTY)),
        ("empty_list", [], Err(P_EMPTY)),
        ("scalar", 3.0, Err(P_NDIM)),
        ("3d", y[:, None, None].copy(), Err(P_NDIM)),
        ("too_short", y[:5].copy(), Err(r"short|window")),
        ("strings", np.full(n, "abc"), Err(P_NUMERIC)),
        ("numeric_strings", y.astype(str), ErrOrSame(P_NUMERIC, y.copy())),
        ("complex", y + 1j, Err(P_COMPLEX)),
        ("dict", {"y": y}, Err(P_NUMERIC + r"|dict")),
        ("list_with_an_empty_series", [y, np.array([])], Err(P_EMPTY)),
        ("list_with_a_nan_series", [y, _with(y, 3, np.nan)], Works()),   # issue 16
    ]


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
@pytest.mark.parametrize("case", series_catalogue(Y_SERIES),
                         ids=[c[0] for c in series_catalogue(Y_SERIES)])
def test_forecaster_fit_y(case, strategy):
    _, value, expect = case
    if case[0] == "very_long" and strategy == "recursive":
        expect = Works()
    if case[0] == "too_short":     # the Theta fallback forecasts it, with a warning
        expect = Works()

    def call(y):
        f = RNNForecaster(strategy=strategy, **dict(FAST, max_iter=1))
        f.fit(y)
        return f.predict(3)
    run_case("RNNForecaster.fit", call, (value,), expect)


@pytest.fixture(scope="module")
def forecasters():
    X = _rng(11).standard_normal((len(Y_SERIES), 2))
    return {
        "direct": RNNForecaster(**FAST).fit(Y_SERIES),
        "recursive": RNNForecaster(strategy="recursive", **FAST).fit(Y_SERIES),
        "exogenous": RNNForecaster(**FAST).fit(Y_SERIES, X=X),
    }


FH_CASES = [
    ("numpy_int", np.int64(2), Same(2)),
    ("list", [1, 2, 3], Same(np.array([1, 2, 3]))),
    ("negative_stride", _neg(np.array([1, 2, 3]), 0), Same(np.array([1, 2, 3]))),
    ("big_endian", np.array([1, 3], dtype=">i8"), Same(np.array([1, 3]))),
    ("read_only", _read_only(np.array([2, 3])), Same(np.array([2, 3]))),
    ("uint8", np.array([1, 2], dtype=np.uint8), Same(np.array([1, 2]))),
    ("unsorted_with_repeats", np.array([3, 1, 3]), Works()),
    ("nan", np.nan, Err(r"fh")),
    ("inf", np.inf, Err(r"fh")),
    ("none", None, Err(r"fh")),
    ("object_ints", np.array([1, 2], dtype=object), ErrOrSame(r"fh", np.array([1, 2]))),
    ("negative_in_array", np.array([1, -2]), Err(r"fh")),
    ("huge", 10**12, Err(r"fh|horizon|steps")),
    ("dict", {"fh": 3}, Err(r"fh")),
]


@pytest.mark.parametrize("case", FH_CASES, ids=[c[0] for c in FH_CASES])
@pytest.mark.parametrize("method", ["predict", "predict_interval"])
@pytest.mark.parametrize("which", ["direct", "recursive"])
def test_forecaster_fh(forecasters, which, method, case):
    _, value, expect = case
    model = forecasters[which]
    run_case(f"RNNForecaster.{method}", getattr(model, method), (value,), expect)


def test_forecaster_long_recursive_horizon(forecasters):
    model = forecasters["recursive"]
    run_case("RNNForecaster.predict", model.predict, (5000,), Works())


COVERAGE_CASES = [
    ("numpy_float32", np.float32(0.8), Works()),
    ("nan", np.nan, Err(r"coverage")),
    ("zero", 0.0, Err(r"coverage")),
    ("one", 1.0, Err(r"coverage")),
    ("string", "0.9", Err(r"coverage")),
    ("none", None, Err(r"coverage")),
    ("list", [0.9], Works()),                   # several coverages (issue 16)
    ("list_with_a_string", [0.9, "0.8"], Err(r"coverage")),
]


@pytest.mark.parametrize("case", COVERAGE_CASES, ids=[c[0] for c in COVERAGE_CASES])
def test_forecaster_coverage(forecasters, case):
    _, value, expect = case
    model = forecasters["direct"]
    run_case("RNNForecaster.predict_interval",
             lambda c: model.predict_interval(3, coverage=c), (value,), expect)


def future_x_catalogue():
    Xf = _rng(12).standard_normal((3, 2))
    return [
        ("negative_stride", _neg(Xf, 0), Same(Xf.copy())),
        ("fortran", np.asfortranarray(Xf), Same(Xf.copy())),
        ("big_endian", _big_endian(Xf), Same(Xf.copy())),
        ("read_only", _read_only(Xf), Same(Xf.copy())),
        ("object", Xf.astype(object), Same(Xf.copy())),
        ("lists", Xf.tolist(), Same(Xf.copy())),
        ("more_rows", np.vstack([Xf, Xf]), Same(Xf.copy())),
        ("nan", _with(Xf, (1, 1), np.nan), Err(P_NAN)),
        ("too_few_rows", Xf[:2].copy(), Err(r"shape|rows")),
        ("wrong_columns", Xf[:, :1].copy(), Err(r"shape|columns")),
        ("3d", Xf[:, :, None].copy(), Err(r"shape|" + P_NDIM)),
        ("strings", np.full(Xf.shape, "x"), Err(P_NUMERIC)),
        ("empty", np.empty((0, 2)), Err(P_EMPTY + "|shape")),
        ("none", None, Err(r"\bX\b|exogenous")),
    ]


@pytest.mark.parametrize("case", future_x_catalogue(), ids=[c[0] for c in future_x_catalogue()])
def test_forecaster_future_X(forecasters, case):
    _, value, expect = case
    model = forecasters["exogenous"]
    run_case("RNNForecaster.predict", lambda X: model.predict(3, X=X), (value,), expect)


def update_catalogue(y):
    new = _series(10, seed=13)[:5] + (y[-1] - 50)
    return [
        ("negative_stride", _neg(new, 0), Same(new.copy())),
        ("read_only", _read_only(new), Same(new.copy())),
        ("big_endian", _big_endian(new), Same(new.copy())),
        ("list", new.tolist(), Same(new.copy())),
        ("one_value", new[:1].copy(), Works()),
        ("very_long", _series(LONG_T, seed=14), Works()),
        ("nan", _with(new, 2, np.nan), Works()),    # a missing value (issue 16)
        ("inf", _with(new, 2, -np.inf), Err(P_NAN)),
        ("empty", new[:0].copy(), Err(P_EMPTY)),
        ("2d", new[:, None].copy(), Err(r"form|" + P_NDIM)),
        ("list_of_series", [new, new], Err(r"form|series")),
        ("strings", np.full(5, "x"), Err(P_NUMERIC)),
        ("none", None, Err(r"\by\b|None|NaN|numeric")),
        ("complex", new + 1j, Err(P_COMPLEX)),
    ]


@pytest.mark.parametrize("case", update_catalogue(Y_SERIES),
                         ids=[c[0] for c in update_catalogue(Y_SERIES)])
@pytest.mark.parametrize("which", ["direct", "recursive"])
def test_forecaster_update(forecasters, which, case):
    _, value, expect = case
    base = forecasters[which]
    before = base.predict(3)

    def call(y_new):
        f = copy.deepcopy(base)
        f.update(y_new)
        return f.predict(3)

    run_case("RNNForecaster.update", call, (value,), expect)
    np.testing.assert_array_equal(base.predict(3), before)


UPDATE_X_CASES = [
    ("wrong_columns", np.ones((4, 3)), Err(r"\bX|columns|shape|regressors")),
    ("wrong_rows", np.ones((3, 2)), Err(r"\bX|rows|shape|time step")),
    ("nan", _with(np.ones((4, 2)), (0, 0), np.nan), Err(P_NAN)),
    ("missing", None, Err(r"X_new|\bX\b")),
    ("strings", np.full((4, 2), "x"), Err(P_NUMERIC)),
    ("big_endian", _big_endian(np.ones((4, 2))), Same(np.ones((4, 2)))),
]


@pytest.mark.parametrize("case", UPDATE_X_CASES, ids=[c[0] for c in UPDATE_X_CASES])
def test_forecaster_update_with_exogenous(forecasters, case):
    """A refused update leaves the forecaster as it was (all checks before any change)."""
    _, value, expect = case
    base = forecasters["exogenous"]
    Xf = _rng(12).standard_normal((3, 2))

    def call(X_new):
        f = copy.deepcopy(base)
        f.update(Y_SERIES[-4:] + 1.0, X_new=X_new)
        return f.predict(3, X=Xf)

    run_case("RNNForecaster.update", call, (value,), expect)


@pytest.mark.parametrize("case", [c for c in UPDATE_X_CASES if type(c[2]) is Err],
                         ids=[c[0] for c in UPDATE_X_CASES if type(c[2]) is Err])
def test_forecaster_refused_update_changes_nothing(forecasters, case):
    """Whatever the message, a refused update must leave the forecaster as it
    was: the same forecasts, history y and regressors X of the same length."""
    _, value, _ = case
    Xf = _rng(12).standard_normal((3, 2))
    f = copy.deepcopy(forecasters["exogenous"])
    before = f.predict(3, X=Xf)
    with pytest.raises(Exception):
        f.update(Y_SERIES[-4:] + 1.0, X_new=value)
    series = f._series[0]
    assert series.y.shape[0] == series.X.shape[0], (
        f"a refused update left a history of {series.y.shape[0]} values of y and "
        f"{series.X.shape[0]} rows of X")
    np.testing.assert_array_equal(f.predict(3, X=Xf), before)


# =========================================================== model_selection
METRIC_CASES = [
    ("lists", ([1.0, 2.0, 3.0], [1.5, 2.0, 2.0]), Works()),
    ("big_endian", (_big_endian(np.array([1.0, 2.0])), np.array([1.0, 3.0])), Works()),
    ("nan_in_y_true", (np.array([1.0, np.nan]), np.array([1.0, 2.0])), Err(P_NAN)),
    ("nan_in_y_pred", (np.array([1.0, 2.0]), np.array([np.nan, 2.0])), Err(P_NAN)),
    ("inf", (np.array([1.0, 2.0]), np.array([np.inf, 2.0])), Err(P_NAN)),
    ("lengths_differ", (np.array([1.0, 2.0]), np.array([1.0])),
     Err(r"length|shape|samples|inconsistent")),
    ("empty", (np.array([]), np.array([])), Err(P_EMPTY)),
    ("strings", (np.array(["a"]), np.array([1.0])), Err(P_NUMERIC)),
]


@pytest.mark.parametrize("case", METRIC_CASES, ids=[c[0] for c in METRIC_CASES])
@pytest.mark.parametrize("metric", ["mae", "smape", "mase"])
def test_metrics(metric, case):
    _, args, expect = case
    fn = getattr(model_selection, metric)
    if metric == "mase":
        def call(y_true, y_pred):
            return fn(y_true, y_pred, np.array([1.0, 3.0, 2.0, 5.0]))
    else:
        call = fn
    run_case(f"model_selection.{metric}", call, args, expect)


BACKTEST_CASES = [
    ("nan_in_test_part", _with(Y_SERIES, len(Y_SERIES) - 1, np.nan), {}, Err(P_NAN)),
    ("nan_in_train_part", _with(Y_SERIES, 5, np.nan), {}, Err(P_NAN)),
    ("inf", _with(Y_SERIES, 20, np.inf), {}, Err(P_NAN)),
    ("2d", Y_SERIES[:, None].copy(), {}, Err(P_NDIM + r"|one series")),
    ("too_short", Y_SERIES[:3].copy(), {}, Err(r"short|origins|shorter")),
    # too short for the network: the Theta fallback forecasts it (issue 24)
    ("short_gets_theta", Y_SERIES[:10].copy(), {}, Works()),
    ("strings", np.full(len(Y_SERIES), "x"), {}, Err(P_NUMERIC)),
    ("horizon_zero", Y_SERIES, dict(horizon=0), Err(r"horizon")),
    ("n_origins_zero", Y_SERIES, dict(n_origins=0), Err(r"n_origins")),
    ("read_only_big_endian", _read_only(_big_endian(Y_SERIES)), {}, Same(Y_SERIES.copy())),
    ("list", Y_SERIES.tolist(), {}, Same(Y_SERIES.copy())),
]


@pytest.mark.parametrize("case", BACKTEST_CASES, ids=[c[0] for c in BACKTEST_CASES])
def test_backtest(case):
    _, value, kwargs, expect = case
    f = RNNForecaster(**dict(FAST, max_iter=1))
    kw = dict(horizon=3)
    kw.update(kwargs)
    run_case("model_selection.backtest",
             lambda y: model_selection.backtest(f, y, **kw)["forecasts"], (value,), expect)


# ====================================================================== CLI
def _env():
    return subprocess_env()


def _csv_files(d):
    rng = _rng(15)
    t = np.arange(60)
    v = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(60)

    def write(name, header, rows):
        path = d / name
        path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
        return path

    write("inf.csv", "value", [*v[:7], "inf", *v[8:]])
    write("minus_inf.csv", "value", [*v[:7], "-inf", *v[8:]])
    write("huge.csv", "value", [f"{x:.6e}" for x in v * 1e300])
    write("one_row.csv", "value", ["1.0"])
    write("missing_value_with_dates.csv", "month,value",
          [f"2010-{i % 12 + 1:02d},{'' if i == 7 else v[i]}" for i in range(36)])
    write("text_column.csv", "value", ["a"] * 40)
    write("many_columns.csv", "a,b,c", [f"{x},{x},{x}" for x in v])
    write("negative.csv", "value", list(v - 200))
    (d / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (d / "nul.csv").write_bytes(b"value\n1\x002\n3\n")
    (d / "folder.csv").mkdir()
    return d


# args (with {d}), exit code, a pattern of the one stderr line (exit 2) or of stdout (exit 0)
CLI_CASES = {
    "inf_value": (["forecast", "{d}/inf.csv"], 2, r"NaN or infinite|infinite"),
    "minus_inf_value": (["forecast", "{d}/minus_inf.csv"], 2, r"NaN or infinite|infinite"),
    "huge_values": (["forecast", "{d}/huge.csv", "--transform", "none", "--max-iter", "1",
                     "--horizon", "3"], (0, 2), r"forecast|large|overflow|scale"),
    "one_row": (["forecast", "{d}/one_row.csv"], 2, r"values|rows"),
    # a missing value is filled now (issue 16); this file is then too short
    # to calibrate intervals on
    "missing_value_with_dates": (["forecast", "{d}/missing_value_with_dates.csv"], 2,
                                 r"non-numeric|missing|line|too few"),
    "text_column": (["forecast", "{d}/text_column.csv", "--column", "value"], 2,
                    r"non-numeric"),
    "three_numeric_columns": (["forecast", "{d}/many_columns.csv"], 2, r"--column"),
    "negative_column_index": (["forecast", "{d}/many_columns.csv", "--column", "-1"], 2,
                              r"column"),
    "log_of_negative": (["forecast", "{d}/negative.csv", "--transform", "log"], 2,
                        r"positive"),
    "binary_file": (["forecast", "{d}/binary.csv"], 2, r"read|decode|numeric|CSV"),
    "nul_bytes": (["forecast", "{d}/nul.csv"], 2, r"numeric|NUL|CSV|read"),
    "a_folder": (["forecast", "{d}/folder.csv"], 2, r"read|directory"),
    # a series shorter than its horizon gets the Theta fallback (issue 24), up
    # to the forecaster's limit of steps
    "horizon_huge": (["forecast", "--horizon", "100000"], (0, 2), r"values|horizon"),
    "horizon_beyond_the_limit": (["forecast", "--horizon", "100001"], 2, r"horizon"),
    "horizon_negative": (["forecast", "--horizon", "-3"], 2, r"horizon"),
    "window_zero": (["forecast", "--window", "0"], 2, r"window"),
    "max_iter_text": (["forecast", "--max-iter", "many"], 2, r"max-iter"),
    "seed_text": (["forecast", "--seed", "x"], 2, r"seed"),
    "coverage_nan": (["forecast", "--coverage", "nan"], 2, r"coverage"),
    "coverage_inf": (["forecast", "--coverage", "inf"], 2, r"coverage"),
    "unknown_strategy": (["forecast", "--strategy", "magic"], 2, r"strategy"),
    "unknown_option": (["forecast", "--bogus"], 2, r"bogus|unrecognized"),
    "output_in_missing_folder": (["forecast", "--max-iter", "1", "--horizon", "2",
                                  "--output", "{d}/no/such/dir/out.csv"], 2,
                                 r"cannot write|No such|does not exist"),
}


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Every CLI case, run as ``python -m seqcore``, four at a time."""
    d = _csv_files(tmp_path_factory.mktemp("cli"))

    def run(case):
        args = [a.format(d=d) for a in CLI_CASES[case][0]]
        return case, subprocess.run([sys.executable, "-m", "seqcore", *args],
                                    capture_output=True, text=True, cwd=d, env=_env(),
                                    timeout=600)

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(run, CLI_CASES))


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli(cli_results, case):
    _, codes, pattern = CLI_CASES[case]
    proc = cli_results[case]
    CASES["cli: python -m seqcore forecast"] += 1
    codes = codes if isinstance(codes, tuple) else (codes,)
    assert proc.returncode in codes, (proc.returncode, proc.stdout[-800:], proc.stderr[-800:])
    assert "Traceback" not in proc.stderr + proc.stdout
    if proc.returncode == 2:
        err = [line for line in proc.stderr.strip().splitlines()
               if line.startswith("seqcore: error: ")]
        assert len(err) == 1, proc.stderr
        assert re.search(pattern, err[0], re.IGNORECASE), err[0]
    else:
        assert re.search(pattern, proc.stdout, re.IGNORECASE), proc.stdout
        assert not re.search(r"\bnan\b|\binf\b", proc.stdout, re.IGNORECASE), (
            "the forecast table holds NaN or infinite values:\n" + proc.stdout)

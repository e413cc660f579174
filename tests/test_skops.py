"""Fitted estimators round-trip through skops.io; untrusted types are refused."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline

from seqcore import RNNClassifier, RNNForecaster, RNNRegressor
from seqcore.persistence import dump, load, trusted_types
from seqcore.preprocessing import SequenceScaler

sio = pytest.importorskip("skops.io")
from skops.io.exceptions import UntrustedTypesFoundException  # noqa: E402


class Doubler(TransformerMixin, BaseEstimator):
    """A type skops does not know: a file holding it must be refused."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [np.asarray(x) * 2 for x in X]


def fit_quiet(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning of the short fits
        return est.fit(*args)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(n), 2)) for n in rng.integers(3, 8, 24)]
    return X, np.arange(24) % 3, rng.standard_normal(24)


@pytest.mark.parametrize("make", [
    lambda: make_pipeline(SequenceScaler(), RNNClassifier(cell="gru", hidden_size=4,
                                                          max_iter=2, random_state=0)),
    lambda: RNNRegressor(cell="lstm", peephole=True, bidirectional=True, hidden_size=3,
                         optimizer="sgd", max_iter=2, dtype="float64", random_state=0),
], ids=["classifier-pipeline", "regressor"])
def test_round_trip(data, make, tmp_path):
    X, y_class, y_value = data
    est = fit_quiet(make(), X, y_class if "Classifier" in repr(make()) else y_value)
    path = tmp_path / "model.skops"
    dump(est, path)
    # everything skops does not know is seqcore's, and trusted_types() lists it
    assert set(sio.get_untrusted_types(file=path)) <= set(trusted_types())
    loaded = load(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    # the loaded model trains on: the same epoch from the same state, bit for bit
    final, final_loaded = est, loaded
    if hasattr(est, "steps"):
        final, final_loaded = est[-1], loaded[-1]
        X = est[0].transform(X)
    y = y_class if hasattr(final, "classes_") else y_value
    final.partial_fit(X, y)
    final_loaded.partial_fit(X, y)
    np.testing.assert_array_equal(final_loaded.network_.flat_params, final.network_.flat_params)
    # the optimizer still steps the network's own buffer
    assert final_loaded._optimizer.params is final_loaded.network_.flat_params


def test_forecaster_round_trip(tmp_path):
    y = np.sin(np.arange(80) / 4) + np.arange(80) / 40
    fc = fit_quiet(RNNForecaster(window=8, horizon=3, hidden_size=4, max_iter=2,
                                 random_state=0), y)
    dump(fc, tmp_path / "fc.skops")
    np.testing.assert_array_equal(load(tmp_path / "fc.skops").predict(3), fc.predict(3))


def test_plain_skops_load_refuses_seqcore_types_until_trusted(data, tmp_path):
    X, y, _ = data
    clf = fit_quiet(RNNClassifier(hidden_size=3, max_iter=1, random_state=0), X, y)
    sio.dump(clf, tmp_path / "m.skops")
    with pytest.raises(UntrustedTypesFoundException):
        sio.load(tmp_path / "m.skops")
    loaded = sio.load(tmp_path / "m.skops", trusted=trusted_types())
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_untrusted_type_is_refused(data, tmp_path):
    X, y, _ = data
    pipe = fit_quiet(make_pipeline(Doubler(), RNNClassifier(hidden_size=3, max_iter=1,
                                                            random_state=0)), X, y)
    path = tmp_path / "p.skops"
    dump(pipe, path)
    with pytest.raises(UntrustedTypesFoundException, match="Doubler"):
        load(path)
    # trusted explicitly by the caller, it loads
    name = f"{Doubler.__module__}.Doubler"
    assert name in sio.get_untrusted_types(file=path)
    np.testing.assert_array_equal(load(path, trusted=[name]).predict(X), pipe.predict(X))
    with pytest.raises(TypeError, match="list of type names"):
        load(path, trusted=name)


def test_trusted_types_names_real_types():
    import importlib
    names = trusted_types()
    assert names == sorted(set(names))
    for name in names:
        module, _, attr = name.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), attr), type)

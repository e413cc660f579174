"""seqcore.integrations.aeon: aeon's own estimator checks and its collection formats.

Every check aeon's ``parametrize_with_checks`` yields for the two adapters
runs; none is skipped.
"""

import warnings

import numpy as np
import pytest

from seqcore import RNNClassifier, RNNRegressor
from seqcore.preprocessing import SequenceScaler

pytest.importorskip("aeon")
from aeon.testing.estimator_checking import parametrize_with_checks  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from seqcore.integrations.aeon import SeqcoreClassifier, SeqcoreRegressor  # noqa: E402


@parametrize_with_checks([SeqcoreClassifier, SeqcoreRegressor])
def test_aeon_estimator_checks(check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning of the short fits
        check()


def collections(rng, n=18, channels=2):
    equal = rng.standard_normal((n, channels, 9))
    unequal = [rng.standard_normal((channels, int(t))) for t in rng.integers(3, 12, n)]
    return equal, unequal


def fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


@pytest.mark.parametrize("form", ["numpy3D", "np-list"])
def test_classifier_equals_seqcore_on_transposed_series(form):
    rng = np.random.default_rng(0)
    X = collections(rng)[form == "np-list"]
    y = np.array(["up", "down", "flat"])[np.arange(18) % 3]
    X_before = [np.copy(x) for x in X]
    params = dict(cell="lstm", hidden_size=4, max_iter=4, random_state=0)
    clf = fit_quiet(SeqcoreClassifier(RNNClassifier(**params)), X, y)
    # seqcore on the same series, step-first: the same model, bit for bit
    steps_first = X.transpose(0, 2, 1) if form == "numpy3D" else [x.T for x in X]
    ref = fit_quiet(RNNClassifier(**params), steps_first, y)
    np.testing.assert_array_equal(clf.predict(X), ref.predict(steps_first))
    np.testing.assert_array_equal(clf.predict_proba(X), ref.predict_proba(steps_first))
    assert list(clf.classes_) == ["down", "flat", "up"]
    for a, b in zip(X, X_before):
        np.testing.assert_array_equal(a, b)   # the caller's series are untouched
    assert not hasattr(clf.estimator, "network_")   # the template is never fitted


def test_regressor_with_pipeline_and_seed():
    rng = np.random.default_rng(1)
    _, X = collections(rng, channels=3)
    y = np.array([x[0].sum() for x in X])
    make = lambda seed: SeqcoreRegressor(  # noqa: E731
        make_pipeline(SequenceScaler(), RNNRegressor(hidden_size=4, max_iter=3)),
        random_state=seed)
    a, b = fit_quiet(make(7), X, y), fit_quiet(make(7), X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))   # seeded: deterministic
    assert a.estimator_[-1].random_state == 7
    assert a.predict(X).shape == (len(X),)
    assert np.isfinite(a.score(X, y))


def test_univariate_2d_collection():
    """aeon's 2-D form (n_cases, n_timepoints) is univariate series."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((12, 7))
    y = np.arange(12) % 2
    clf = fit_quiet(SeqcoreClassifier(RNNClassifier(hidden_size=3, max_iter=2), random_state=0),
                    X, y)
    assert clf.estimator_.n_features_in_ == 1
    assert clf.predict_proba(X).shape == (12, 2)

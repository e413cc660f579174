"""seqcore.integrations.sktime.RNNForecaster: sktime's own estimator checks,
and the adapter's forecasts equal seqcore's.  Skips without sktime."""

import numpy as np
import pytest

pytest.importorskip("sktime")
pd = pytest.importorskip("pandas")

from seqcore import RNNForecaster as SeqcoreForecaster  # noqa: E402
from seqcore.integrations.sktime import RNNForecaster  # noqa: E402

# sktime 1.2 announces, for every forecaster, that remember_data changes in 1.3
pytestmark = pytest.mark.filterwarnings(
    "ignore:The default of config ``remember_data``:FutureWarning")

FAST = dict(hidden_size=4, max_iter=3, n_models=1, random_state=0)


def monthly(n=72, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 20 + 0.1 * t + 3 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(n)
    return pd.Series(values, index=pd.period_range("2015-01", periods=n, freq="M"))


def test_sktime_check_estimator():
    from sktime.utils.estimator_checks import check_estimator
    results = check_estimator(RNNForecaster, raise_exceptions=True)
    failed = {k: v for k, v in results.items() if v != "PASSED"}
    assert not failed, failed
    assert len(results) > 50          # the suite really ran


def test_forecasts_equal_seqcores_and_are_indexed_by_fh():
    y = monthly()
    f = RNNForecaster(**FAST).fit(y, fh=[1, 2, 3, 4])
    pred = f.predict()
    assert list(pred.index) == list(pd.period_range("2021-01", periods=4, freq="M"))
    ours = SeqcoreForecaster(horizon=4, season=12, **FAST).fit(y.to_numpy()).predict(4)
    np.testing.assert_allclose(pred.to_numpy(), ours, rtol=1e-12)
    intervals = f.predict_interval(coverage=[0.8, 0.95])
    assert intervals.shape == (4, 4)
    lo80, hi80 = intervals.iloc[:, 0], intervals.iloc[:, 1]
    lo95, hi95 = intervals.iloc[:, 2], intervals.iloc[:, 3]
    assert (lo95 <= lo80).all() and (lo80 <= pred).all() and (pred <= hi80).all()
    assert (hi80 <= hi95).all()


def test_update_moves_the_cutoff_without_refitting():
    y = monthly(84)
    f = RNNForecaster(**FAST).fit(y.iloc[:72], fh=[1, 2, 3])
    weights = f.forecaster_.regressor_.network_.flat_params.copy()
    f.update(y.iloc[72:78], update_params=False)
    np.testing.assert_array_equal(f.forecaster_.regressor_.network_.flat_params, weights)
    pred = f.predict()
    assert pred.index[0] == y.index[78]
    twin = SeqcoreForecaster(horizon=3, season=12, **FAST).fit(y.iloc[:72].to_numpy())
    twin.update(y.iloc[72:78].to_numpy())
    np.testing.assert_allclose(pred.to_numpy(), twin.predict(3), rtol=1e-12)


def test_missing_values_are_accepted():
    y = monthly()
    y.iloc[[10, 30, 31]] = np.nan
    pred = RNNForecaster(**FAST).fit(y, fh=[1, 2]).predict()
    assert np.isfinite(pred.to_numpy()).all()

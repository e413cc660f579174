"""Scaling out on Dask: a grid search and a cross-validation give the same
results serially, on joblib's loky processes and on a 2-worker
``distributed.LocalCluster``; ``forecast_many`` gives the same results
serially and on the cluster; ``predict_blocks`` on a Dask array equals the
in-memory prediction.

The cluster listens on the loopback interface only and lives for this
module.  Data and networks are tiny: what is tested is that results do not
depend on where they are computed.  Run only these with ``pytest -m dask``.
"""

import joblib
import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("distributed")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

from seqcore import RNNClassifier, RNNRegressor  # noqa: E402
from seqcore.forecasting import RNNForecaster, forecast_many  # noqa: E402
from seqcore.parallel import limit_worker_blas_threads, predict_blocks  # noqa: E402
from seqcore.preprocessing import SequenceScaler  # noqa: E402

pytestmark = [pytest.mark.dask,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

TINY = dict(cell="gru", hidden_size=4, max_iter=4, batch_size=16, random_state=0)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      host="127.0.0.1", dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((72, 8, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def classifier(data):
    return RNNClassifier(**TINY).fit(*data)


def blas_threads_of_workers(client):
    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    return client.run(counts)


# ---------------------------------------------------------- parallel search

def test_cluster_is_local_and_workers_use_one_blas_thread(client):
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
    for counts in blas_threads_of_workers(client).values():
        assert counts and max(counts) == 1


def test_grid_search_same_serially_on_loky_and_on_dask(client, data):
    X, y = data

    def search(n_jobs=None):
        return GridSearchCV(RNNClassifier(**TINY),
                            {"hidden_size": [4, 8], "learning_rate": [0.01, 0.05]},
                            cv=3, n_jobs=n_jobs)

    serial = search().fit(X, y)
    with joblib.parallel_backend("loky"):
        loky = search(n_jobs=2).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_dask = search().fit(X, y)
    keys = [k for k in serial.cv_results_ if k.startswith(("split", "mean_test", "std_test",
                                                          "rank_test"))]
    assert len(keys) == 6
    for other in (loky, on_dask):
        for k in keys:
            np.testing.assert_array_equal(other.cv_results_[k], serial.cv_results_[k],
                                          err_msg=k)
        assert other.cv_results_["params"] == serial.cv_results_["params"]
        assert other.best_params_ == serial.best_params_
        assert other.best_score_ == serial.best_score_
        np.testing.assert_array_equal(other.best_estimator_.predict_proba(X),
                                      serial.best_estimator_.predict_proba(X))


def test_cross_val_score_of_a_regressor_pipeline_on_dask(client, data):
    X, _ = data
    y = X[:, -3:, 1].sum(axis=1)
    model = make_pipeline(SequenceScaler(), RNNRegressor(**TINY))
    cv = KFold(3, shuffle=True, random_state=0)
    serial = cross_val_score(model, X, y, cv=cv)
    with joblib.parallel_backend("dask"):
        on_dask = cross_val_score(model, X, y, cv=cv)
    np.testing.assert_array_equal(on_dask, serial)


def test_limit_worker_blas_threads_plugin(client):
    limit_worker_blas_threads(client, 2)
    try:
        for counts in blas_threads_of_workers(client).values():
            assert max(counts) == 2
    finally:
        client.unregister_worker_plugin("seqcore-blas-threads")
    for counts in blas_threads_of_workers(client).values():  # teardown restored them
        assert max(counts) == 1


# -------------------------------------------------------------- many series

def test_forecast_many_same_serially_and_on_dask(client):
    rng = np.random.default_rng(1)
    t = np.arange(64)
    series = {f"s{i}": 20 + i + 2 * np.sin(2 * np.pi * t / 12) + 0.3 * rng.standard_normal(64)
              for i in range(4)}
    forecaster = RNNForecaster(window=8, horizon=4, hidden_size=4, max_iter=3)
    for global_model in (False, True):
        kwargs = dict(horizon=4, forecaster=forecaster, global_model=global_model,
                      coverage=0.8, season=12, n_origins=2, random_state=0)
        serial = forecast_many(series, **kwargs)
        with joblib.parallel_backend("dask"):
            on_dask = forecast_many(series, **kwargs)
        assert on_dask.names == serial.names
        for k in serial.names:
            for attr in ("forecasts", "lower", "upper"):
                np.testing.assert_array_equal(getattr(on_dask, attr)[k],
                                              getattr(serial, attr)[k])
            np.testing.assert_array_equal(on_dask.backtests[k]["forecasts"],
                                          serial.backtests[k]["forecasts"])
            assert on_dask.scores[k] == serial.scores[k]


# ---------------------------------------------------- out-of-core prediction

@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predict_blocks_on_the_cluster_equals_in_memory(client, data, classifier, method):
    X, _ = data
    Xd = da.from_array(X, chunks=(20, -1, -1))           # uneven blocks: 20, 20, 20, 12
    out = predict_blocks(classifier, Xd, method)
    assert isinstance(out, da.Array)
    expected = getattr(classifier, method)(X)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    assert out.chunks[0] == Xd.chunks[0]
    result = out.compute()                               # on the cluster (default client)
    if method == "predict":
        np.testing.assert_array_equal(result, expected)
    else:
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-7)


def test_predict_blocks_regressor_2d_and_per_step(data):
    X, _ = data
    X2 = X[:, :, 0]                                      # (n, T): univariate sequences
    reg = RNNRegressor(**TINY).fit(X2, X2[:, -2:])       # two outputs
    seq = RNNRegressor(**{**TINY, "return_sequences": True}).fit(X, np.cumsum(X[:, :, 1], 1))
    with dask.config.set(scheduler="synchronous"):
        for est, Xin in ((reg, X2), (seq, X)):
            out = predict_blocks(est, da.from_array(Xin, chunks=(25, -1) + (-1,) * (Xin.ndim - 2)))
            expected = est.predict(Xin)
            assert out.shape == expected.shape
            np.testing.assert_allclose(out.compute(), expected, rtol=1e-5, atol=1e-6)


def test_predict_blocks_pipeline(data):
    X, y = data
    pipe = make_pipeline(SequenceScaler(), RNNClassifier(**TINY)).fit(X, y)
    out = predict_blocks(pipe, da.from_array(X, chunks=(30, -1, -1)), "predict_proba")
    with dask.config.set(scheduler="synchronous"):
        np.testing.assert_allclose(out.compute(), pipe.predict_proba(X), rtol=1e-5, atol=1e-7)


def test_predict_blocks_errors(data, classifier):
    X, _ = data
    rechunk = r"chunked along time or features.*X.rechunk\(\{1: -1, 2: -1\}\)"
    with pytest.raises(ValueError, match=rechunk):
        predict_blocks(classifier, da.from_array(X, chunks=(20, 4, -1)))
    with pytest.raises(ValueError, match="chunked along time or features"):
        predict_blocks(classifier, da.from_array(X, chunks=(20, -1, 1)))
    with pytest.raises(TypeError, match="must be a dask.array.Array"):
        predict_blocks(classifier, X)
    with pytest.raises(ValueError, match="must be 3-D .* or 2-D"):
        predict_blocks(classifier, da.zeros((4, 2, 2, 2)))
    with pytest.raises(ValueError, match="method must be one of"):
        predict_blocks(classifier, da.from_array(X), "fit")
    with pytest.raises(ValueError, match="RNNClassifier has no method 'transform'"):
        predict_blocks(classifier, da.from_array(X), "transform")
    with pytest.raises(NotFittedError):
        predict_blocks(RNNClassifier(), da.from_array(X))
    unknown = da.from_array(X)[da.from_array(np.arange(len(X)) % 2 == 0)]   # nan sizes
    out = predict_blocks(classifier, unknown)            # unknown sample counts are fine
    with dask.config.set(scheduler="synchronous"):
        np.testing.assert_array_equal(out.compute(), classifier.predict(X[::2]))

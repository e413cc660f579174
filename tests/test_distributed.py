"""One model trained data-parallel on a Dask cluster (seqcore._distributed).

A fit on a Dask collection with a ``distributed`` client runs each batch's
gradient on the workers holding its rows and must equal, bit for bit, the
one-process fit with ``gradient_shards`` set to the partitions' sizes: for
the classifier and the regressor, with sample and class weights, early
stopping, dropout, callbacks and ragged sequences from a bag.  The client's
memory stays bounded while fitting data far larger than a budget; a worker
killed mid-fit is replaced and the fit continues (to the same model); a bad
partition is refused before training; unsupported collections are refused
clearly; dask-ml's ``Incremental`` drives every estimator with
``partial_fit``.

The clusters listen on 127.0.0.1 only, with small single-threaded worker
processes.  Run only these with ``pytest -m dask``.
"""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("distributed")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402

import seqcore  # noqa: E402
from seqcore import RNNClassifier, RNNRegressor, _distributed  # noqa: E402

pytestmark = [pytest.mark.dask,
              pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")]

TINY = dict(cell="gru", hidden_size=5, max_iter=3, batch_size=16, random_state=0)


def local_cluster(n_workers=2, **kwargs):
    from distributed import LocalCluster

    return LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                        host="127.0.0.1", dashboard_address=":0", memory_limit="1GiB",
                        **kwargs)


@pytest.fixture(scope="module")
def client():
    from distributed import Client

    with local_cluster() as cluster, Client(cluster) as client:
        client.run(__import__, "seqcore")   # import once, before the timed tests
        yield client


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 7, 3)).astype(np.float32)
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def same_model(a, b):
    np.testing.assert_array_equal(a.network_.flat_params, b.network_.flat_params)
    assert a.loss_curve_ == b.loss_curve_
    assert a.validation_scores_ == b.validation_scores_
    assert a.n_iter_ == b.n_iter_


class StopAt:
    """A callback: records the epochs it saw and stops training after ``epoch``."""

    def __init__(self, epoch):
        self.epoch, self.seen = epoch, []

    def __call__(self, est, history):
        self.seen.append(history["epoch"])
        return history["epoch"] >= self.epoch


# ------------------------------------------------------- bit for bit

def test_classifier_on_the_cluster_equals_one_process(client, data):
    X, y = data
    y = np.where(np.arange(len(y)) % 5 == 0, 2, y)        # three unbalanced classes
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    Xd = da.from_array(X, chunks=(35, -1, -1))            # partitions 35, 35, 20
    params = dict(TINY, max_iter=6, batch_size=24, class_weight="balanced",
                  early_stopping=True, validation_fraction=0.2, n_iter_no_change=2,
                  callbacks=[StopAt(4)])
    on_cluster = RNNClassifier(**params).fit(Xd, da.from_array(y, chunks=30),
                                             sample_weight=w)
    here = RNNClassifier(**params, gradient_shards=Xd.chunks[0]).fit(X, y, sample_weight=w)
    same_model(on_cluster, here)
    assert on_cluster.callbacks_[0].seen == here.callbacks_[0].seen
    assert len(on_cluster.validation_scores_) == on_cluster.n_iter_ >= 2
    np.testing.assert_array_equal(on_cluster.predict_proba(X), here.predict_proba(X))
    # the shards change the rounding only: the plain fit is a different model
    plain = RNNClassifier(**params).fit(X, y, sample_weight=w)
    assert not np.array_equal(plain.network_.flat_params, here.network_.flat_params)
    np.testing.assert_allclose(plain.network_.flat_params, here.network_.flat_params,
                               atol=1e-3)


def test_regressor_with_dropout_and_bptt_on_the_cluster_equals_one_process(client, data):
    X, _ = data
    y = np.stack([X[:, :, 1].sum(axis=1), X[:, -1, 2]], axis=1)
    params = dict(TINY, num_layers=2, dropout=0.3, recurrent_dropout=0.2, bptt_steps=3,
                  loss="huber")
    Xd = da.from_array(X, chunks=(40, -1, -1))
    # an int asks for 3 near-equal shards: the cluster's data is re-chunked to them
    on_cluster = RNNRegressor(**params, gradient_shards=3).fit(Xd, y)
    here = RNNRegressor(**params, gradient_shards=3).fit(X, y)
    same_model(on_cluster, here)


def test_partial_fit_and_dask_sample_weight_on_the_cluster(client, data):
    X, _ = data
    y = X[:, :, 1].sum(axis=1)
    w = np.random.default_rng(4).uniform(0, 2, len(y))
    Xd, wd = da.from_array(X, chunks=(45, -1, -1)), da.from_array(w, chunks=45)
    on_cluster, here = RNNRegressor(**TINY), RNNRegressor(**TINY, gradient_shards=2)
    for _ in range(2):
        on_cluster.partial_fit(Xd, y, sample_weight=wd)
        here.partial_fit(X, y, sample_weight=w)
    same_model(on_cluster, here)
    assert on_cluster.t_ == 2 * 6


def test_ragged_sequences_from_a_bag(client):
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((int(rng.integers(2, 9)), 2)) for _ in range(50)]
    y = np.array([s[:, 0].sum() for s in seqs])
    bag = db.from_sequence(seqs, npartitions=3)
    bag = db.concat([bag, db.from_sequence([], npartitions=1)])   # and an empty one
    sizes = [len(p) for p in dask.compute(*bag.to_delayed())]
    assert len(sizes) == 4 and sizes[-1] == 0
    on_cluster = RNNRegressor(**TINY).fit(bag, y)
    here = RNNRegressor(**TINY, gradient_shards=sizes).fit(seqs, y)
    same_model(on_cluster, here)
    assert on_cluster.n_features_in_ == 2


def test_token_ids_and_the_table_form(client):
    rng = np.random.default_rng(3)
    ids = rng.integers(1, 12, size=(40, 6))
    ids[::3, 4:] = 0                                      # padding at the end
    y = ids[:, 0] % 2
    tok = dict(TINY, embedding_dim=3)
    on_cluster = RNNClassifier(**tok).fit(da.from_array(ids, chunks=15), y)
    here = RNNClassifier(**tok, gradient_shards=(15, 15, 10)).fit(ids, y)
    same_model(on_cluster, here)
    assert on_cluster.vocab_size_ == here.vocab_size_ == 12
    X2 = rng.standard_normal((40, 5))                     # 2-D: univariate, table form
    on_cluster = RNNRegressor(**TINY).fit(da.from_array(X2, chunks=20), X2.sum(axis=1))
    here = RNNRegressor(**TINY, gradient_shards=2).fit(X2, X2.sum(axis=1))
    same_model(on_cluster, here)
    assert on_cluster.n_features_in_ == 5


def test_one_shard_is_the_plain_fit(data):
    X, y = data
    one = RNNClassifier(**TINY, gradient_shards=1).fit(X, y)
    plain = RNNClassifier(**TINY).fit(X, y)
    same_model(one, plain)


def test_shard_rule():
    np.testing.assert_array_equal(_distributed.shard_sizes(10, 4), [2, 3, 2, 3])
    np.testing.assert_array_equal(_distributed.shard_sizes(10, (6, 4)), [6, 4])
    with pytest.raises(ValueError, match="sum to 9, but the training data has 10"):
        _distributed.shard_sizes(10, (5, 4))
    groups = _distributed.group_by_shard(np.array([7, 0, 5, 2, 9]),
                                         np.repeat([0, 1, 2], [3, 4, 3]))
    assert [(k, r.tolist()) for k, r in groups] == [(0, [0, 2]), (1, [5]), (2, [7, 9])]


# ----------------------------------------------------------- memory

def test_client_memory_stays_bounded(client):
    psutil = pytest.importorskip("psutil")
    budget = 6 << 20
    n, T, F = 20000, 25, 32                               # 64 MB of float32
    X = da.random.default_rng(0).standard_normal((n, T, F), chunks=(5000, -1, -1),
                                                 dtype=np.float32)
    assert X.nbytes >= 10 * budget
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)          # made on the workers
    proc = psutil.Process()
    est = RNNClassifier(cell="rnn", hidden_size=3, batch_size=1000, max_iter=1,
                        random_state=0)
    est.fit(X[:500], y[:500])                             # warm up imports and the cluster
    peak, done = [proc.memory_info().rss], threading.Event()

    def watch():
        while not done.is_set():
            peak.append(proc.memory_info().rss)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    start = proc.memory_info().rss
    watcher.start()
    try:
        est.fit(X, y)
    finally:
        done.set()
        watcher.join()
    assert est.n_iter_ == 1 and np.isfinite(est.loss_curve_[0])
    assert max(peak) - start < budget, (max(peak) - start) / 2**20


# ---------------------------------------------- the global forecaster

def series_table(n_series, rng, min_len=5, max_len=60):
    """A long table (id, time, value) of seasonal random walks, rows shuffled."""
    pd = pytest.importorskip("pandas")
    frames = []
    for i in range(n_series):
        n = 6 if i == 1 else int(rng.integers(min_len, max_len + 1))   # one short series
        t = np.arange(n)
        y = 10 + i % 3 + np.sin(2 * np.pi * t / 4) + 0.2 * rng.normal(0, 0.3, n).cumsum()
        frames.append(pd.DataFrame({"id": f"s{i:03d}", "time": t, "value": y}))
    table = pd.concat(frames, ignore_index=True)
    return table.sample(frac=1.0, random_state=0)


FORECASTER = dict(horizon=4, season=4, n_models=1, hidden_size=6, max_iter=2,
                  batch_size=32, random_state=0)


def test_global_forecaster_on_a_table_equals_one_process(client, monkeypatch):
    from seqcore.forecasting import RNNForecaster

    dd = pytest.importorskip("dask.dataframe")
    table = series_table(40, np.random.default_rng(5))
    # partitioned by series: the sorted index puts each id in one partition
    parts = dd.from_pandas(table.set_index("id"), npartitions=3)
    with pytest.warns(UserWarning, match="shorter than the lookback.*series 1,"):
        on_cluster = RNNForecaster(**FORECASTER).fit(parts)
    with monkeypatch.context() as m:   # no client: the partitions computed in memory
        m.setattr(_distributed, "_client", lambda: None)
        with pytest.warns(UserWarning, match="shorter than the lookback.*series 1,"):
            here = RNNForecaster(**FORECASTER).fit(parts)
    assert len(on_cluster.regressors_) == 1
    for a, b in zip(on_cluster.regressors_, here.regressors_):
        same_model(a, b)
    assert on_cluster.combination_weights_ == here.combination_weights_
    assert on_cluster.fallback_ == here.fallback_
    assert on_cluster.series_ids_ == sorted(table["id"].unique()) == here.series_ids_
    np.testing.assert_array_equal(np.stack(on_cluster.predict(4)), np.stack(here.predict(4)))
    _, lo, hi = on_cluster.predict_interval([1, 4], coverage=0.8)
    _, lo2, hi2 = here.predict_interval([1, 4], coverage=0.8)
    np.testing.assert_array_equal(np.stack(lo), np.stack(lo2))
    assert (np.stack(lo) < np.stack(hi)).all()
    # the forecasts are those of the fitted series: series 7 forecast from its history
    y7 = table[table["id"] == "s007"].sort_values("time")["value"].to_numpy()
    np.testing.assert_allclose(on_cluster.predict(4, y=[y7])[0], on_cluster.predict(4)[7],
                               rtol=1e-12)
    with pytest.raises(ValueError, match="fit on a Dask table.*predict\\(fh, y=...\\)"):
        on_cluster.update([y7[:3]])
    import pickle

    again = pickle.loads(pickle.dumps(on_cluster))
    np.testing.assert_array_equal(np.stack(again.predict(4)), np.stack(here.predict(4)))


def test_bad_tables_are_refused_before_training(client):
    from seqcore.forecasting import RNNForecaster

    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    table = series_table(6, np.random.default_rng(6)).sort_values(["id", "time"])
    est = RNNForecaster(**FORECASTER)
    split = dd.from_pandas(table.reset_index(drop=True), npartitions=2, sort=False)
    with pytest.raises(ValueError, match="series 's00.' is in partitions 0 and 1"):
        est.fit(split)
    with pytest.raises(ValueError, match="no column 'value'"):
        est.fit(dd.from_pandas(table.rename(columns={"value": "y"}), npartitions=1))
    bad = table.copy()
    bad.iloc[3, bad.columns.get_loc("value")] = np.inf
    with pytest.raises(ValueError, match="partition 0 of the table: series 's000' contains "
                                         "infinity"):
        est.fit(dd.from_pandas(bad, npartitions=1))
    twice = pd.concat([table, table.iloc[:1]])
    with pytest.raises(ValueError, match="series 's000' has two rows at time=0"):
        est.fit(dd.from_pandas(twice, npartitions=1))
    with pytest.raises(ValueError, match="global model.*got global_method='classic'"):
        RNNForecaster(**FORECASTER, global_method="classic").fit(
            dd.from_pandas(table, npartitions=1))
    with pytest.raises(TypeError, match="Dask DataFrame long table"):
        est.fit(dd.from_pandas(table, npartitions=1)["value"])
    # a missing time was sorted last: its value read as the series' latest
    no_time = table.astype({"time": float})
    no_time.iloc[3, no_time.columns.get_loc("time")] = np.nan
    with pytest.raises(ValueError, match="partition 0 of the table: series 's000' has a "
                                         "missing time"):
        est.fit(dd.from_pandas(no_time, npartitions=1))
    dated = table.assign(time=pd.Timestamp("2000-01-01") + pd.to_timedelta(table["time"], "D"))
    dated.iloc[3, dated.columns.get_loc("time")] = pd.NaT
    with pytest.raises(ValueError, match="series 's000' has a missing time"):
        est.fit(dd.from_pandas(dated, npartitions=1))
    words = table.astype({"time": str})
    words.iloc[3, words.columns.get_loc("time")] = "soon"
    with pytest.raises(ValueError, match="partition 0 of the table: column 'time' holds "
                                         "values that are not times"):
        est.fit(dd.from_pandas(words, npartitions=1))
    assert not hasattr(est, "regressors_")


def test_client_memory_stays_bounded_for_a_table(client):
    # the client keeps O(windows x horizon) book-keeping (the regressor's
    # targets, weights and lengths: some 16 x horizon numbers per series) and
    # H forecasts per series, never the series: long series, few of them
    from seqcore.forecasting import RNNForecaster

    psutil = pytest.importorskip("psutil")
    dd = pytest.importorskip("dask.dataframe")
    table = dd.from_map(synthetic_series, range(4), n_series=125, length=2700)
    budget = 3 << 20
    assert table.memory_usage(deep=True).sum().compute() >= 10 * budget   # the 10x
    params = dict(horizon=3, season=1, n_models=1, combine=False, calibration_size=0,
                  hidden_size=4, max_iter=1, batch_size=2000, early_stopping=False,
                  random_state=0)
    proc = psutil.Process()
    RNNForecaster(**params).fit(table.partitions[:1])   # warm up imports and the cluster
    peak, done = [proc.memory_info().rss], threading.Event()

    def watch():
        while not done.is_set():
            peak.append(proc.memory_info().rss)
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    start = proc.memory_info().rss
    watcher.start()
    try:
        est = RNNForecaster(**params).fit(table)
    finally:
        done.set()
        watcher.join()
    assert est.n_series_ == 500 and np.isfinite(np.stack(est.predict(3))).all()
    assert max(peak) - start < budget, (max(peak) - start) / 2**20


def synthetic_series(k, n_series, length):
    """Partition k of a synthetic long table: n_series random walks (made on a worker)."""
    import pandas as pd

    rng = np.random.default_rng(k)
    values = 100 + rng.standard_normal((n_series, length)).cumsum(axis=1)
    return pd.DataFrame({"id": np.repeat(np.arange(k * n_series, (k + 1) * n_series), length),
                         "time": np.tile(np.arange(length), n_series),
                         "value": values.ravel()})


# ------------------------------------------------------- the language model

def documents(n, rng):
    words = ["the cat ", "a dog ", "sat on ", "the mat. ", "ran off. "]
    return ["".join(rng.choice(words, size=int(rng.integers(3, 12)))) for _ in range(n)]


LM = dict(hidden_size=8, embedding_dim=4, sequence_length=8, batch_size=8, max_iter=3,
          random_state=0)


def test_language_model_one_shard_is_the_plain_fit(monkeypatch):
    from seqcore.text import RNNLanguageModel

    docs = documents(40, np.random.default_rng(7))
    monkeypatch.setattr(_distributed, "_client", lambda: None)
    one = RNNLanguageModel(**LM).fit(db.from_sequence(docs, npartitions=1))
    plain = RNNLanguageModel(**LM).fit(docs)
    np.testing.assert_array_equal(one.network_.flat_params, plain.network_.flat_params)
    assert one.loss_curve_ == plain.loss_curve_ and one.n_tokens_ == plain.n_tokens_
    assert one.vocabulary_ == plain.vocabulary_


def test_language_model_on_the_cluster_equals_one_process(client, monkeypatch):
    from seqcore.text import RNNLanguageModel

    docs = documents(60, np.random.default_rng(8))
    bag = db.from_sequence(docs, npartitions=3)
    params = dict(LM, num_layers=2, dropout=0.2, early_stopping=True, n_iter_no_change=5,
                  analyzer="word", min_frequency=2)
    on_cluster = RNNLanguageModel(**params).fit(bag)
    with monkeypatch.context() as m:   # no client: the partitions computed in memory
        m.setattr(_distributed, "_client", lambda: None)
        here = RNNLanguageModel(**params).fit(bag)
    np.testing.assert_array_equal(on_cluster.network_.flat_params, here.network_.flat_params)
    assert on_cluster.loss_curve_ == here.loss_curve_
    assert on_cluster.validation_scores_ == here.validation_scores_
    assert len(on_cluster.validation_scores_) == on_cluster.n_iter_ == 3
    # the vocabulary from the partitions' counts is the one-pass vocabulary
    plain = RNNLanguageModel(**params).fit(docs)
    assert on_cluster.vocabulary_ == plain.vocabulary_
    np.testing.assert_array_equal(on_cluster.network_.unigram_log, plain.network_.unigram_log)
    assert on_cluster.n_tokens_ == plain.n_tokens_
    assert on_cluster.sample(12, random_state=0) == here.sample(12, random_state=0)
    with pytest.raises(TypeError, match="partition 1 of X: document 0 is a int"):
        RNNLanguageModel(**LM).fit(db.from_sequence(["ab", "cd", 3, "ef"], npartitions=2))
    with pytest.raises(TypeError, match="Dask bag of documents"):
        RNNLanguageModel(**LM).fit(da.zeros((4, 3)))


# ----------------------------------------------------------- bad input

def test_a_bad_partition_is_refused_before_training(client, data):
    X, y = data
    bad = X.copy()
    bad[70, 3, :2] = np.nan                               # NaN inside a sequence, partition 2
    seen = StopAt(99)
    est = RNNClassifier(**TINY, callbacks=[seen])
    with pytest.raises(ValueError, match="partition 2 of X: X contains NaN inside"):
        est.fit(da.from_array(bad, chunks=(30, -1, -1)), y)
    assert not hasattr(est, "network_")
    bad[70, 3, :] = np.inf
    with pytest.raises(ValueError, match="partition 2 of X: .*infinity"):
        est.fit(da.from_array(bad, chunks=(30, -1, -1)), y)
    bag = db.from_sequence([np.zeros((3, 2))] * 4 + [np.zeros((2, 2, 2))], npartitions=2)
    with pytest.raises(ValueError, match="partition 1 of X: item 1 of the partition is 3-D"):
        est.fit(bag, np.arange(5) % 2)
    with pytest.raises(ValueError, match="different numbers of features"):
        est.fit(db.from_sequence([np.zeros((3, 2))] * 2 + [np.zeros((3, 1))] * 2,
                                 npartitions=2), np.arange(4) % 2)


def test_unsupported_collections_are_refused(client, data):
    X, y = data
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    est = RNNClassifier(**TINY)
    table = dd.from_pandas(pd.DataFrame({"a": np.arange(6.0)}), npartitions=2)
    with pytest.raises(TypeError, match="dask.DataFrame.*long table of series is for "
                                        "RNNForecaster.*Dask arrays"):
        est.fit(table, np.arange(6) % 2)
    with pytest.raises(TypeError, match="Delayed"):
        est.fit(dask.delayed(X), y)
    with pytest.raises(ValueError, match=r"chunked along time.*X.rechunk\(\{1: -1, 2: -1\}\)"):
        est.fit(da.from_array(X, chunks=(30, 3, -1)), y)
    unknown = da.from_array(X)[da.from_array(y == 1)]
    with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
        est.fit(unknown, y[y == 1])
    with pytest.raises(ValueError, match="2-D or 3-D Dask array"):
        est.fit(da.zeros((4, 2, 2, 2)), np.arange(4) % 2)
    with pytest.raises(ValueError, match="gradient_shards sizes sum to 80"):
        RNNClassifier(**TINY, gradient_shards=(40, 40)).fit(da.from_array(X), y)
    with pytest.raises(ValueError, match="bag's partitions hold"):
        RNNRegressor(**TINY, gradient_shards=2).fit(
            db.from_sequence([np.zeros((3, 1))] * 5, npartitions=3), np.zeros(5))


def test_without_a_client_the_data_is_computed_in_memory(data, monkeypatch):
    X, y = data
    monkeypatch.setattr(_distributed, "_client", lambda: None)
    est = RNNClassifier(**TINY).fit(da.from_array(X, chunks=30), da.from_array(y, chunks=30))
    same_model(est, RNNClassifier(**TINY).fit(X, y))


def _warnings_raise(on, guard=True):
    """On a worker: every warning raises (on) or the default filters (off);
    without ``guard``, the partitions compute without silencing overflow."""
    import contextlib

    if on:
        warnings.simplefilter("error")
    else:
        warnings.resetwarnings()
    _distributed._quiet = _QUIET if guard else contextlib.nullcontext


_QUIET = _distributed._quiet


def test_divergence_warns_once_on_the_client_and_never_on_the_workers(client, data):
    X, _ = data
    y = 1e3 * X[:, :, 0].sum(axis=1)
    params = dict(TINY, cell="rnn", nonlinearity="relu", optimizer="sgd", learning_rate=1e2,
                  clip_norm=None, max_iter=20)
    # a warning on a worker would now be an error in its gradient call,
    # and the fit would raise it instead of finishing
    Xd = da.from_array(X, chunks=(30, -1, -1))
    client.run(_warnings_raise, True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = RNNRegressor(**params).fit(Xd, y)
        # without the guard the workers' overflow warnings do escape
        client.run(_warnings_raise, True, False)
        with pytest.raises(RuntimeWarning, match="overflow|invalid value"):
            RNNRegressor(**params).fit(Xd, y)
    finally:
        client.run(_warnings_raise, False)
    messages = [str(w.message) for w in caught]
    assert sum("training diverged" in m for m in messages) == 1, messages
    assert not [m for m in messages if "overflow" in m or "invalid value" in m], messages
    assert np.isfinite(est.network_.flat_params).all()


# ------------------------------------------------------- Incremental

def estimators_with_partial_fit():
    """Every public seqcore estimator with partial_fit (from the package itself)."""
    from sklearn.base import BaseEstimator

    found = {}
    for module in (seqcore, seqcore.forecasting, seqcore.text):
        for name in getattr(module, "__all__", dir(module)):
            obj = getattr(module, name, None)
            if isinstance(obj, type) and issubclass(obj, BaseEstimator) \
                    and hasattr(obj, "partial_fit"):
                found[obj.__name__] = obj
    return [found[k] for k in sorted(found)]


def test_the_estimators_with_partial_fit_are_known():
    assert [c.__name__ for c in estimators_with_partial_fit()] == [
        "RNNClassifier", "RNNRegressor", "RNNSequenceLabeler"]


@pytest.mark.parametrize("cls", estimators_with_partial_fit(), ids=lambda c: c.__name__)
def test_dask_ml_incremental(client, data, cls):
    # dask-ml's Incremental addresses the blocks of 2-D arrays only (its graph
    # keys are (name, i, 0)): univariate sequences, the 2-D form
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = data[0][:, :, 0]
    if cls.__name__ == "RNNSequenceLabeler":   # label sequences (strings) to learn
        y = np.where(X[:, 0] > 0, "ab", "b")
        kwargs = {"classes": ["a", "b"]}
    else:
        y = (X.sum(axis=1) > 0).astype(int) if cls is RNNClassifier else X[:, -2:].sum(axis=1)
        kwargs = {"classes": np.unique(y)} if cls is RNNClassifier else {}
    Xd, yd = da.from_array(X, chunks=(30, -1)), da.from_array(y, chunks=30)
    inc = wrappers.Incremental(cls(**TINY), shuffle_blocks=False).fit(Xd, yd, **kwargs)
    by_hand = cls(**TINY)
    for start in range(0, len(X), 30):
        by_hand.partial_fit(X[start:start + 30], y[start:start + 30], **kwargs)
    assert inc.estimator_.t_ == by_hand.t_ == 3 * 2      # 3 blocks of 2 batches
    np.testing.assert_array_equal(inc.estimator_.network_.flat_params,
                                  by_hand.network_.flat_params)
    if cls.__name__ == "RNNSequenceLabeler":
        # its predictions are ragged label sequences, which Incremental.predict
        # (blocks of a dask array) cannot hold: predict with the fitted estimator
        assert inc.estimator_.predict(X) == by_hand.predict(X)
    else:
        np.testing.assert_array_equal(np.asarray(inc.predict(Xd)), by_hand.predict(X))


# ------------------------------------------------------------ faults (last)

class KillAWorker:
    """A callback: after the first epoch, kill (SIGKILL) one worker process
    (it holds partitions of the fit's data: the fit spreads them over both)."""

    def __init__(self, client):
        self.client, self.killed = client, None

    def __call__(self, est, history):
        if self.killed is None:
            pids = self.client.run(os.getpid)
            self.killed = pids[sorted(pids)[0]]
            os.kill(self.killed, signal.SIGKILL)
        return False

    def __deepcopy__(self, memo):   # the client is not copied with the callbacks
        return self


def test_a_killed_worker_is_replaced_and_the_fit_continues(client, data):
    # the last test of the module: its cluster loses a worker (the nanny starts another)
    X, y = data
    params = dict(TINY, max_iter=2, batch_size=30)
    killer = KillAWorker(client)
    Xd = da.from_array(X, chunks=(30, -1, -1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = RNNClassifier(**params, callbacks=[killer]).fit(Xd, y)
    assert killer.killed is not None
    lost = [w for w in caught if "was lost; rebuilding" in str(w.message)]
    assert lost, [str(w.message) for w in caught]
    assert est.n_iter_ == params["max_iter"]
    # the same parameters were used for the repeated step: the same model
    here = RNNClassifier(**params, gradient_shards=Xd.chunks[0]).fit(X, y)
    np.testing.assert_array_equal(est.network_.flat_params, here.network_.flat_params)


def test_too_many_lost_workers_stop_with_a_clear_error(client, data, monkeypatch):
    X, y = data
    monkeypatch.setattr(_distributed, "MAX_RECOVERIES", 0)
    est = RNNClassifier(**TINY, callbacks=[KillAWorker(client)])
    with pytest.raises(RuntimeError, match="lost the workers holding partitions of X 1 "
                                           "times.*A fit from scratch leaves the estimator"):
        est.fit(da.from_array(X, chunks=(30, -1, -1)), y)
    assert not hasattr(est, "network_")   # as it was before fit


def test_a_lost_worker_stops_a_language_model_with_a_clear_error(client):
    from seqcore.text import RNNLanguageModel

    bag = db.from_sequence(documents(60, np.random.default_rng(9)), npartitions=4)
    est = RNNLanguageModel(**dict(LM, max_iter=4), callbacks=[KillAWorker(client)])
    with pytest.raises(RuntimeError, match="lost a worker holding a partition of X: "
                                           "stopped training.*left as it was"):
        est.fit(bag)
    assert not hasattr(est, "network_")


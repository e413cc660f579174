"""Scaling out: BLAS threads per worker, and prediction on Dask arrays.

Design.  seqcore does not schedule work itself: parallel fits go through
joblib (``GridSearchCV(n_jobs=...)``, ``seqcore.forecasting.forecast_many``),
so any joblib backend runs them, ``loky`` on one machine or
``joblib.parallel_config(backend="dask")`` on a ``dask.distributed``
cluster.  What this module adds is what joblib leaves to the caller:

* ``blas_threads``: a context manager that caps the BLAS threads of the
  current process (threadpoolctl).  Every worker of a parallel run should
  use one BLAS thread, or ``n_workers * n_cores`` threads fight for
  ``n_cores`` cores.  joblib's ``loky`` backend already caps its workers
  (to ``cpu_count // n_jobs``); Dask's nanny starts workers with
  ``OPENBLAS_NUM_THREADS=1`` by default; ``limit_worker_blas_threads`` makes
  that explicit on any cluster, present and future workers.
* ``predict_blocks``: a fitted estimator mapped over the blocks of a
  ``dask.array`` of sequences chunked along samples, for data that does not
  fit in memory.  Each block is predicted on its own, so the result equals
  the in-memory prediction.

One model trained data-parallel on a cluster needs nothing from this
module: the estimators' ``fit`` takes a Dask array or bag of sequences when a
``distributed`` client is running (``seqcore._distributed``; the user
guide's "Scaling out" page).

Dask and distributed are optional (``pip install "seqcore-rnn[dask]"``) and
imported only by the functions that need them.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["blas_threads", "limit_worker_blas_threads", "predict_blocks"]

_EXTRA = 'pip install "seqcore-rnn[dask]"'
_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
            "transform")


def _import_dask_array(caller):
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(f"{caller} needs dask[array], which is not installed; "
                          f"install the extra: {_EXTRA}") from exc
    return dask, da


def blas_threads(n_threads=1):
    """Cap the BLAS threads of this process inside a ``with`` block.

    seqcore's matrix products run on the BLAS that SciPy loads (OpenBLAS in
    SciPy's wheels), which by default uses every core.  Inside one worker of
    a parallel run, one thread is right.  This is threadpoolctl's
    ``threadpool_limits(n_threads, user_api="blas")``; the counts are
    restored when the block ends.

    The thread count of a BLAS is process-wide.  With a thread-based
    backend (joblib's ``threading``, a Dask worker with several threads),
    blocks that overlap in several threads restore each other's counts:
    cap once around the whole run instead, or use processes.

    Parameters
    ----------
    n_threads : int or None, default=1
        None leaves the counts unchanged.

    Examples
    --------
    >>> from seqcore.parallel import blas_threads
    >>> with blas_threads(1):
    ...     pass  # fit or predict here
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=n_threads, user_api="blas")


def limit_worker_blas_threads(client, n_threads=1):
    """Cap the BLAS threads of every worker of a ``dask.distributed`` client.

    Registers a worker plugin, so workers that join later (adaptive
    clusters) are capped too.  Dask's nanny already starts workers with
    ``OPENBLAS_NUM_THREADS=1`` unless its ``pre-spawn-environ`` was changed;
    this call does the same through threadpoolctl, whatever the environment.

    Parameters
    ----------
    client : distributed.Client
    n_threads : int, default=1

    Returns
    -------
    dict
        Per worker address, the plugin's registration reply.
    """
    try:
        from distributed.diagnostics.plugin import WorkerPlugin
    except ImportError as exc:
        raise ImportError("limit_worker_blas_threads needs distributed, which is not "
                          f"installed; install the extra: {_EXTRA}") from exc

    class BlasThreadsPlugin(WorkerPlugin):
        """On each worker: threadpool_limits(n_threads, 'blas') until teardown."""

        idempotent = False
        name = "seqcore-blas-threads"

        def __init__(self, n_threads):
            self.n_threads = n_threads
            self._limits = None

        def setup(self, worker):
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=self.n_threads, user_api="blas")

        def teardown(self, worker):
            if self._limits is not None:
                self._limits.restore_original_limits()

    return client.register_plugin(BlasThreadsPlugin(n_threads))


def _apply(block, estimator, method):
    return getattr(estimator, method)(block)


def predict_blocks(estimator, X, method="predict"):
    """Map a fitted estimator over a Dask array of sequences, block by block.

    Parameters
    ----------
    estimator : fitted estimator
        An ``RNNClassifier``, ``RNNRegressor`` or a ``Pipeline`` ending in
        one (any fitted estimator whose ``method`` takes samples along the
        first axis).
    X : dask.array.Array of shape (n_samples, n_timesteps, n_features) or \
(n_samples, n_timesteps)
        Chunked along samples only: one chunk spans all steps and features
        (``X.rechunk({1: -1, 2: -1})`` makes it so).
    method : {'predict', 'predict_proba', 'predict_log_proba', \
'decision_function', 'transform'}, default='predict'

    Returns
    -------
    dask.array.Array
        Lazy; ``.compute()`` gives what ``getattr(estimator, method)(X)``
        gives on the whole array in memory, with the same chunks along
        samples.  The estimator enters the graph once and is sent to each
        worker once.

    Raises
    ------
    ImportError
        dask is not installed.
    TypeError
        X is not a Dask array.
    ValueError
        X is chunked along time or features, has unknown step or feature
        sizes, or the method is not one of the above.
    sklearn.exceptions.NotFittedError
        The estimator is not fitted (checked before building the graph).

    Examples
    --------
    >>> import dask.array as da                               # doctest: +SKIP
    >>> X = da.from_zarr("sequences.zarr")                    # doctest: +SKIP
    >>> proba = predict_blocks(clf, X, "predict_proba")       # doctest: +SKIP
    >>> proba.to_zarr("proba.zarr")                           # doctest: +SKIP
    """
    dask, da = _import_dask_array("predict_blocks")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask.array.Array, got {type(X).__name__}; "
                        "for data in memory call the estimator's method directly, or "
                        "wrap it with dask.array.from_array(X, chunks=(n, -1, -1))")
    if X.ndim not in (2, 3):
        raise ValueError("X must be 3-D (n_samples, n_timesteps, n_features) or 2-D "
                         f"(n_samples, n_timesteps), got {X.ndim}-D")
    if any(np.isnan(s) for s in X.shape[1:]):
        raise ValueError(f"X has unknown sizes along time or features: shape {X.shape}; "
                         "compute them first (X.compute_chunk_sizes())")
    if any(n > 1 for n in X.numblocks[1:]):
        raise ValueError(
            f"X is chunked along time or features (chunks {X.chunksize}, blocks "
            f"{X.numblocks}): each block must hold whole sequences. Chunk along samples "
            "only: X.rechunk({" + ", ".join(f"{a}: -1" for a in range(1, X.ndim)) + "})")
    check_is_fitted(estimator)
    if not hasattr(estimator, method):
        raise ValueError(f"{type(estimator).__name__} has no method {method!r}")

    # The shape and dtype of one sample's result, from one sample of zeros:
    # the graph needs them, and computing a block of X to learn them could be
    # as costly as the whole prediction.
    probe = np.zeros((1,) + tuple(int(s) for s in X.shape[1:]),
                     dtype=X.dtype if X.dtype.kind in "biuf" else np.float64)
    sample = np.asarray(getattr(estimator, method)(probe))
    if sample.ndim == 0 or sample.shape[0] != 1:
        raise ValueError(f"{type(estimator).__name__}.{method} does not return one "
                         "result per sample; it cannot be mapped over blocks")
    tail = sample.shape[1:]
    chunks = (X.chunks[0],) + tuple((s,) for s in tail)
    # the axes X loses (time, features) and the axes the result gains
    drop = list(range(1, X.ndim))
    new = list(range(1, 1 + len(tail)))
    est = dask.delayed(estimator, pure=True)
    return X.map_blocks(_apply, est, method, drop_axis=drop, new_axis=new or None,
                        chunks=chunks, token=method, dtype=sample.dtype,
                        meta=np.empty((0,) * sample.ndim, dtype=sample.dtype))

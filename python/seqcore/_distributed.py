"""One model trained data-parallel on a Dask cluster.

Design.  The training engine (``seqcore._engine``) stays on the client and
does what it always does (clipping, the optimizer step, divergence, early
stopping, callbacks); only the task's ``loss_and_gradient`` changes.

* Shards.  The training set is cut into shards of consecutive samples: the
  partitions of a Dask collection, or, in one process, the blocks set by the
  estimators' ``gradient_shards``.  The gradient of a batch is the weighted
  sum of its shards' gradients, in shard order::

      g = sum_k (W_k / W) g_k      (float64, k = 0, 1, ...; cast once)

  where ``g_k`` is the gradient of the batch's rows in shard k (their mean
  loss, weights normalised within the shard) and ``W_k`` their weight.  The
  shards depend on the data only, never on the number of workers, and both
  paths run the same two functions (``shard_gradient`` for one shard,
  ``combine`` for the sum), so a cluster fit equals the one-process fit with
  ``gradient_shards`` set to the partitions' sizes, bit for bit.
* Workers.  Each partition lives, checked and laid out once, in a
  ``_Partition`` (a Dask actor: a Python object that stays in one worker's
  memory for the whole fit) with its own copy of the network.  Per step the
  client sends each partition holding rows of the batch the parameters and
  those rows' local indices, and gets back (loss, weight, gradient): the
  calls go straight to the workers, all at once, and the client waits for
  them in one hand-over to its event loop (``call_actors``).  Only
  parameters and gradients cross the network (2 x the parameter bytes per
  partition and step); the client never holds X, only O(n) book-keeping
  (lengths, targets, weights: one value per sequence, or per step with
  ``return_sequences``).
* Faults.  A partition whose worker dies is built again on a live worker
  from its graph (the data is recomputed from its source, e.g. the file it
  was read from) and the step is retried with the same parameters, so the
  fit continues as if nothing happened; after ``MAX_RECOVERIES`` losses in
  one fit a ``RuntimeError`` stops it (a fit from scratch then leaves the
  estimator as it was; ``warm_start`` and ``partial_fit`` keep the weights
  of the last step).  A partition that fails the input checks is refused, with
  its index, before training starts.
* Dropout draws its masks per step and shard from a seed the client draws,
  so that masks do not depend on where a shard is computed.
"""

import contextlib
import sys

import numpy as np
from sklearn.base import BaseEstimator

from ._data import SEQUENCES, TABLE, check_sequences, check_tokens

# Worker losses one fit recovers from before giving up.
MAX_RECOVERIES = 3
# How often (seconds) a wait for results checks that the partitions' workers
# live, and how long building a partition again may take.
_POLL = 0.2
REBUILD_TIMEOUT = 120
_EXTRA = 'pip install "seqcore-rnn[dask]"'


# ------------------------------------------------------------------ shards
def shard_sizes(n, gradient_shards):
    """The sizes of the shards of n samples (``gradient_shards``: an int or sizes).

    An int S cuts the samples into S blocks of consecutive samples whose
    sizes differ by at most one (``numpy.array_split``'s rule); a sequence
    gives the sizes themselves (a Dask array's ``chunks[0]``).
    """
    if isinstance(gradient_shards, (int, np.integer)) and not isinstance(gradient_shards, bool):
        S = int(gradient_shards)
        if S < 1:
            raise ValueError(f"gradient_shards must be >= 1, got {S}")
        bounds = (np.arange(S + 1) * n) // S
        return np.diff(bounds)
    sizes = np.asarray(gradient_shards)
    if sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu" or (sizes < 0).any():
        raise ValueError("gradient_shards must be a positive int or a sequence of shard sizes "
                         f"(non-negative ints), got {gradient_shards!r}")
    if sizes.sum() != n:
        raise ValueError(f"gradient_shards sizes sum to {int(sizes.sum())}, but the training "
                         f"data has {n} samples")
    return sizes.astype(np.int64)


def shard_of_rows(n, gradient_shards):
    """The shard of each of n samples, or None when ``gradient_shards`` is None."""
    if gradient_shards is None:
        return None
    sizes = shard_sizes(n, gradient_shards)
    return np.repeat(np.arange(sizes.size), sizes)


def group_by_shard(idx, shard_of):
    """A batch's rows grouped by shard, in shard order: [(k, rows of idx), ...];
    within a shard the rows keep the batch's order."""
    ks = shard_of[idx]
    order = np.argsort(ks, kind="stable")
    ks, rows = ks[order], idx[order]
    cuts = np.flatnonzero(np.diff(ks)) + 1
    return [(int(part[0]), r) for part, r in zip(np.split(ks, cuts), np.split(rows, cuts))]


def dropout_seed(network, seeds):
    """A seed for this step's dropout masks, or None when the network has no dropout."""
    rnn = network.rnn
    if seeds is None or not (rnn.dropout > 0 or rnn.recurrent_dropout > 0):
        return None
    return int(seeds.integers(np.iinfo(np.int64).max))


def shard_gradient(network, X, rows, lengths, Y, w, k, seed, shard):
    """One shard's part of a batch: (loss, weight, gradient) or None when its
    weight is zero.  The same function runs in one process and on a worker."""
    weight = float(w[rows].sum())
    if weight == 0:
        return None
    if seed is not None:   # the masks of this step and shard, wherever it runs
        network.rnn._rng = np.random.default_rng([seed, shard])
    loss = network._train_batch(X, rows, lengths, Y, w, k)
    if loss is None:
        return None
    return float(loss), weight, network.flat_grads.copy()


def combine(parts, out):
    """Sum shard results [(loss, weight, grad) or None, ...] in their order
    into ``out`` (the network's gradient buffer); returns (loss, weight) or
    None when no shard had weight."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    total = 0.0
    for _, weight, _ in parts:
        total += weight
    loss, acc = 0.0, np.zeros(out.shape, np.float64)
    for part_loss, weight, grad in parts:
        share = weight / total
        loss += share * part_loss
        acc += share * grad.astype(np.float64)
    out[:] = acc
    return loss, total


# ---------------------------------------------------------------- routing
def is_dask_collection(obj):
    """Whether obj is a Dask collection (without importing dask when it is not loaded)."""
    if "dask" not in sys.modules:
        return False
    import dask
    return dask.is_dask_collection(obj)


def _client():
    """The current ``distributed`` client, or None."""
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client
    try:
        return default_client()
    except ValueError:
        return None


def _kind(X):
    """'array', 'bag', or a TypeError naming what is supported."""
    import dask.array as da
    if isinstance(X, da.Array):
        return "array"
    try:
        import dask.bag as db
        if isinstance(X, db.Bag):
            return "bag"
    except ImportError:
        pass
    name = type(X).__module__.split(".")[0] + "." + type(X).__name__
    hint = (" (a long table of series is for RNNForecaster)"
            if "dataframe" in type(X).__module__ else "")
    raise TypeError(f"X is a {name}{hint}: seqcore trains on Dask arrays of shape "
                    "(n_samples, n_timesteps[, n_features]) chunked along samples, and on "
                    "Dask bags of sequences (2-D arrays, or 1-D arrays of one feature or of "
                    "token ids)")


def local(obj):
    """A Dask collection's data in memory (arrays as NumPy, bags as lists)."""
    if not is_dask_collection(obj):
        return obj
    out = obj.compute()
    return out if isinstance(out, np.ndarray) else list(out)


# ------------------------------------------------------- partitions (workers)
class _Probe(BaseEstimator):
    """Stands in for the estimator in the input checks run on a worker."""


class _Partition:
    """One partition of the training set on a worker (a Dask actor).

    Checks and lays out its block once, as the estimator checks data in
    memory (so a bad partition is refused before training starts), then
    computes shard gradients with its own copy of the network.
    """

    def __init__(self, block, kind, tokens, dtype, index):
        self.network = self.Y = self.w = None
        if kind == "bag":
            block = list(block)
            if not block:   # e.g. after a filter: holds no shard
                self.X = np.zeros((0, 0) if tokens else (0, 0, 0), np.int64 if tokens else dtype)
                self.lengths = np.zeros(0, np.int64)
                return
        try:
            if kind == "bag" and not tokens:
                block = [_sequence(x, i) for i, x in enumerate(block)]
            if tokens:
                self.X, self.lengths, _ = check_tokens(block, estimator=_Probe(), reset=True)
            else:
                self.X, self.lengths, _ = check_sequences(block, estimator=_Probe(),
                                                          dtype=dtype, reset=True)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"partition {index} of X: {exc}") from exc

    def info(self):
        """(n_samples, n_timesteps, n_features, lengths, largest token id); None
        for what the partition does not have (features of ids, an empty one)."""
        n, tokens = self.X.shape[0], self.X.ndim == 2
        return (n, self.X.shape[1], None if tokens or not n else self.X.shape[2],
                self.lengths, int(self.X.max()) if tokens and n else None)

    # Each method takes one argument, a tuple: calls with several arguments
    # were an order of magnitude slower (more messages per call).
    def attach(self, args):
        """The network to train (a copy) and this partition's targets and weights."""
        self.network, self.Y, self.w = args

    def gradient(self, args):
        params, rows, k, seed, shard = args
        self.network.flat_params[:] = params
        with _quiet():
            return shard_gradient(self.network, self.X, rows, self.lengths, self.Y, self.w,
                                  k, seed, shard)

    def rows(self, idx):
        """Rows idx (padded to this partition's longest) and their lengths."""
        return self.X[idx], self.lengths[idx]

    def decide(self, args):
        """The network's outputs (``decision_function``) with params on rows idx."""
        params, idx = args
        self.network.flat_params[:] = params
        with _quiet():
            return self.network.decision_function(self.X[idx], self.lengths[idx])

    def finite(self, args):
        """Whether the network with params predicts finite numbers on rows idx."""
        params, idx = args
        self.network.flat_params[:] = params
        with _quiet():
            out = self.network.decision_function(self.X[idx], self.lengths[idx])
        return bool(np.isfinite(out).all())

    def nbytes(self):
        return self.X.nbytes


@contextlib.contextmanager
def _quiet():
    """Overflow and NaN on a worker say nothing there: the client's engine
    sees the non-finite loss or gradient and gives the one "training
    diverged" warning (the engine silences them so in one process).  NumPy's
    error state, not a warnings filter: filters are process-wide, and the
    actor's thread is not the worker's only one."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        yield


def _sequence(x, i):
    """One item of a bag of sequences as a 2-D (steps, features) array."""
    a = np.asarray(x)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim != 2:
        raise ValueError(f"item {i} of the partition is {a.ndim}-D; a bag holds sequences: "
                         "2-D arrays (steps, features) or 1-D arrays")
    return a


# ------------------------------------------------------------ the client side
class ShardedSequences:
    """Training sequences held by the workers, one ``_Partition`` per partition.

    Looks like the padded array the estimators train on (``shape``; indexing
    with an array of rows gives a view of those rows), without holding the
    data.  ``gather`` brings rows to the client; ``decision_function`` runs
    the network on a view's rows where they are (the validation set: only
    its outputs reach the client).
    """

    def __init__(self, client, blocks, kind, tokens, table, dtype, actors, infos):
        self.client, self.blocks, self.kind = client, blocks, kind
        self.tokens, self.table, self.dtype = tokens, table, dtype
        self.actors = actors   # the actor futures: holding them keeps the partitions alive
        sizes = np.array([info[0] for info in infos], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)])
        self.partition_of = np.repeat(np.arange(sizes.size), sizes)
        self.T = max(info[1] for info in infos)
        self.n_features = next((info[2] for info in infos if info[2] is not None), None)
        self.rows = np.arange(self.starts[-1])
        # the fit's ClusterShards once training starts, shared with the views
        self.remote = {}

    @property
    def shape(self):
        n = self.rows.size
        return (n, self.T) if self.tokens else (n, self.T, self.n_features)

    def __getitem__(self, idx):
        view = object.__new__(type(self))
        view.__dict__ = self.__dict__.copy()
        view.rows = self.rows[idx]
        return view

    def gather(self, idx):
        """Rows idx of this view as one padded array, in the order of idx."""
        orig = self.rows[idx]
        part = self.partition_of[orig]
        shape = (orig.size, self.T) + (() if self.tokens else (self.n_features,))
        out = np.zeros(shape, np.int64 if self.tokens else self.dtype)
        calls = [(p, np.flatnonzero(part == p)) for p in np.unique(part)]
        futures = [self.actors[p].result().rows(orig[sel] - self.starts[p])
                   for p, sel in calls]
        for (p, sel), fut in zip(calls, futures):
            X, _ = fut.result()
            out[sel, :X.shape[1]] = X
        return out

    def decision_function(self, network):
        """The outputs of ``network`` (its parameters now) on this view's rows,
        in their order, computed by the partitions holding them; padded to
        the longest partition's steps with ``return_sequences``."""
        shards = self.remote.get("shards")
        if shards is None:
            raise RuntimeError("the partitions compute outputs during a fit only")
        part = self.partition_of[self.rows]
        calls = [(p, np.flatnonzero(part == p)) for p in np.unique(part)]
        got = shards.decide([(p, self.rows[sel] - self.starts[p]) for p, sel in calls])
        if not got:
            return np.zeros((0, network.n_outputs))
        lead = (self.rows.size, self.T) if network.return_sequences else (self.rows.size,)
        out = np.zeros(lead + got[0].shape[len(lead):])
        for (_, sel), Z in zip(calls, got):
            out[(sel,) + tuple(slice(0, n) for n in Z.shape[1:-1])] = Z
        return out

    def close(self):
        """Release the partitions (the workers free their memory)."""
        for fut in self.actors:
            fut.release()
        self.actors = []


def check_sequences_on_cluster(estimator, X, reset):
    """The distributed counterpart of ``_BaseRNN._check_X``.

    Returns (ShardedSequences, lengths, mode) when a ``distributed`` client
    is running; otherwise None (X is then computed into memory by the caller).
    """
    client = _client()
    if client is None:
        return None
    kind = _kind(X)
    tokens = estimator.embedding_dim is not None
    dtype = np.dtype(estimator.dtype).type
    shards = getattr(estimator, "gradient_shards", None)
    if kind == "array":
        if tokens and X.ndim != 2:
            raise ValueError("with embedding_dim set, X must be a 2-D Dask array of token "
                             f"ids (n_samples, n_timesteps), got {X.ndim}-D")
        if X.ndim not in (2, 3):
            raise ValueError("X must be a 2-D or 3-D Dask array (n_samples, n_timesteps[, "
                             f"n_features]), got {X.ndim}-D")
        if any(np.isnan(s) for s in X.shape):
            raise ValueError(f"X has unknown chunk sizes (shape {X.shape}); compute them "
                             "first: X.compute_chunk_sizes()")
        if any(nb > 1 for nb in X.numblocks[1:]):
            raise ValueError(
                f"X is chunked along time or features (chunks {X.chunksize}): each partition "
                "must hold whole sequences. Chunk along samples only: X.rechunk({"
                + ", ".join(f"{a}: -1" for a in range(1, X.ndim)) + "})")
        if shards is not None:   # the shards the estimator asks for
            sizes = tuple(int(s) for s in shard_sizes(X.shape[0], shards))
            if sizes != X.chunks[0]:
                X = X.rechunk({0: sizes})   # moves data between workers, once
        blocks = list(X.to_delayed().ravel())
    else:
        blocks = list(X.to_delayed())
    futures = client.compute(blocks)
    actors = [client.submit(_Partition, f, kind, tokens, dtype, i, actor=True, pure=False)
              for i, f in enumerate(futures)]
    try:
        _wait_all(actors)
        handles = [a.result() for a in actors]
        infos = [h.info() for h in handles]
        infos = [f.result() for f in infos]
    except BaseException:
        for a in actors:
            a.release()
        raise
    finally:
        del futures   # the partitions hold their own (checked) copies
    table = kind == "array" and X.ndim == 2 and not tokens   # univariate, the 2-D form
    data = ShardedSequences(client, blocks, kind, tokens, table, dtype, actors, infos)
    if kind == "bag" and shards is not None:
        sizes = shard_sizes(int(data.starts[-1]), shards)
        if not np.array_equal(sizes, np.diff(data.starts)):
            data.close()
            raise ValueError(f"gradient_shards={shards!r} asks for shards of sizes "
                             f"{sizes.tolist()}, but the bag's partitions hold "
                             f"{np.diff(data.starts).tolist()} sequences; repartition the "
                             "bag or leave gradient_shards=None (the partitions)")
    try:
        lengths = np.concatenate([info[3] for info in infos])
        _check_meta(estimator, data, infos, reset)
    except BaseException:
        data.close()
        raise
    return data, lengths, TABLE if table else SEQUENCES


def _wait_all(actors):
    """Wait for the partitions to be built; the first refused one raises here."""
    from distributed import wait
    wait(actors)
    for a in actors:
        if a.status == "error":
            a.result()   # raises the partition's ValueError / TypeError


def _check_meta(est, data, infos, reset):
    """What the estimator's checks say about the whole of X, from the partitions."""
    feats = sorted({info[2] for info in infos if info[2] is not None})
    if len(feats) > 1:
        raise ValueError(f"the partitions of X have different numbers of features: {feats}")
    name = type(est).__name__
    if data.tokens:
        est._check_vocab(max(info[4] for info in infos if info[4] is not None), reset)
        if reset:
            est._input_mode = SEQUENCES
        return
    mode = TABLE if data.table else SEQUENCES
    width = data.T if mode == TABLE else data.n_features
    if reset:
        est._input_mode = mode
        est.n_features_in_ = width
        if hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    elif est._input_mode != mode or est.n_features_in_ != width:
        raise ValueError(f"X has {width} {'columns' if mode == TABLE else 'features'} "
                         f"({mode} form), but {name} was fit on {est.n_features_in_} "
                         f"({est._input_mode} form)")


# ------------------------------------------------------------------ the task
def _lost(exc):
    """Whether an exception says a worker went away (rather than a bug or bad data)."""
    return isinstance(exc, (OSError, TimeoutError)) or (
        isinstance(exc, RuntimeError) and "lost" in str(exc))


class Lost:
    """The result of a call whose actor's worker went away."""


def call_actors(client, handles, actors, calls):
    """Results of calls [(p, method, argument), ...] on the actors ``handles[p]``
    (``actors[p]``: their futures), in order; ``Lost()`` for a call whose
    actor's worker went away.

    All calls go out at once, straight to the workers (an actor's own calls
    from a client travel through the scheduler unless the client talks to
    workers directly), and the client waits for them in one hand-over to its
    event loop: per step, one message to and one from each actor.
    """
    return client.sync(_send_all, client, handles, actors, calls)


async def _send_all(client, handles, actors, calls):
    import asyncio

    tasks = [asyncio.ensure_future(_send_one(client, handles[p], method, arg))
             for p, method, arg in calls]
    pending, dropped = set(tasks), set()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=_POLL)
        for task, (p, _, _) in zip(tasks, calls):
            # still computing, or its worker gone (the scheduler says so)?
            if task in pending and actors[p].status != "finished":
                task.cancel()
                pending.discard(task)
                dropped.add(task)
    if dropped:   # let the cancellations finish
        await asyncio.wait(dropped)
    out = []
    for task in tasks:
        if task in dropped:
            out.append(Lost())
            continue
        exc = task.exception()
        if exc is None:
            out.append(task.result())
        elif _lost(exc):
            out.append(Lost())
        else:
            raise exc
    return out


async def _send_one(client, handle, method, arg):
    from distributed.protocol import to_serialize

    reply = await client.rpc(handle._address).actor_execute(
        function=method, actor=handle.key, args=[to_serialize(arg)], kwargs={})
    if reply["status"] != "OK":
        raise reply["exception"]
    return reply["result"]


class ClusterShards:
    """The shards of a training set held by the workers: the remote side of
    ``_SequenceTask`` (see the module's notes)."""

    def __init__(self, data, network, Y, w, k):
        from ._validation import warn_user

        self._warn = warn_user
        self.data, self.network, self.k = data, network, k
        self.recoveries = 0
        self.Y, self.w = Y, w
        self.handles = [a.result() for a in data.actors]
        data.remote["shards"] = self   # the validation rows' outputs (decide)
        # one partition at a time: the client holds one partition's copy of
        # the targets at most, beside the training set's
        for p in range(len(data.actors)):
            self._call([(p, "attach", (network,) + self.targets(p))])

    def targets(self, p):
        """This fit's targets and weights of partition p, laid out as it holds
        its rows (rows held out for validation get weight 0: never in a batch)."""
        data, Y, w = self.data, self.Y, self.w
        orig = data.rows
        sel = np.flatnonzero(data.partition_of[orig] == p)
        size = int(data.starts[p + 1] - data.starts[p])
        Yp = np.zeros((size,) + Y.shape[1:], Y.dtype)
        wp = np.zeros((size,) + w.shape[1:], w.dtype)
        Yp[orig[sel] - data.starts[p]] = Y[sel]
        wp[orig[sel] - data.starts[p]] = w[sel]
        return Yp, wp

    def local(self, rows):
        """Training rows -> (partition, local indices), grouped in partition order."""
        orig = self.data.rows[rows]
        return [(p, orig[r] - self.data.starts[p])
                for p, r in group_by_shard(np.arange(rows.size), self.data.partition_of[orig])]

    def parts(self, groups, seed):
        """Each group's (loss, weight, gradient), in the order of groups."""
        params = self.network.flat_params.copy()
        return self._call([(p, "gradient", (params, self.data.rows[rows] - self.data.starts[p],
                                                self.k, seed, p))
                           for p, rows in groups])

    def decide(self, groups):
        """The network's outputs on each group [(partition, local rows), ...]."""
        params = self.network.flat_params.copy()
        return self._call([(p, "decide", (params, local)) for p, local in groups])

    def finite(self, rows):
        params = self.network.flat_params.copy()
        return all(self._call([(p, "finite", (params, local))
                               for p, local in self.local(rows)]))

    def _call(self, calls):
        """The results of calls [(partition, method, argument), ...], in order
        (``call_actors``); when a partition's worker is lost, the partition is
        built again on a live worker and its call repeated."""
        data = self.data
        results = call_actors(data.client, self.handles, data.actors, calls)
        for i, (p, method, arg) in enumerate(calls):
            while isinstance(results[i], Lost):
                self._rebuild(p)
                results[i] = call_actors(data.client, self.handles, data.actors,
                                         [(p, method, arg)])[0]
        return results

    def _rebuild(self, p):
        self.recoveries += 1
        if self.recoveries > MAX_RECOVERIES:
            raise RuntimeError(
                f"lost the workers holding partitions of X {self.recoveries} times in one "
                f"fit (more than MAX_RECOVERIES={MAX_RECOVERIES}); stopped training. A fit "
                "from scratch leaves the estimator as it was (warm_start and partial_fit "
                "keep the weights of the last step); check the cluster and fit again"
                ) from None
        self._warn(f"the worker holding partition {p} of X was lost; rebuilding the "
                   "partition on another worker from its graph and repeating the step "
                   "with the same parameters", RuntimeWarning)
        data = self.data
        data.actors[p].release()
        client = data.client
        block = client.compute(data.blocks[p])
        fut = client.submit(_Partition, block, data.kind, data.tokens, data.dtype, p,
                            actor=True, pure=False)
        try:
            handle = fut.result(timeout=REBUILD_TIMEOUT)
            handle.attach((self.network,) + self.targets(p)).result(timeout=REBUILD_TIMEOUT)
        except Exception as exc:   # noqa: BLE001
            raise RuntimeError(f"could not rebuild partition {p} of X after losing its "
                               f"worker ({type(exc).__name__}: {exc}); stopped training. "
                               "A fit from scratch leaves the estimator as it was") from exc
        data.actors[p], self.handles[p] = fut, handle

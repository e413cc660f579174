"""``RNNLanguageModel`` trained data-parallel on a Dask bag of documents.

Design.  ``RNNLanguageModel.fit(bag)``, ``bag`` a Dask bag of documents
(strings, or lists of string tokens), trains one model without bringing the
text to the client.  The bag's partitions are the shards; each runs, on
the worker holding it (a Dask actor) when a ``distributed`` client runs,
else in this process on the computed partitions, the same ``_StreamShard``;
the client combines their results in partition order, so both give the
same model bit for bit.

* Vocabulary: each partition counts its tokens (a ``Counter`` in order of
  first appearance); the client adds the counters in partition order, which
  gives the very counts and first-appearance order of one pass over all the
  documents, and ranks them as ``SequenceTokenizer`` does.  Only
  (token, count) pairs cross, never text.
* Streams: each partition's documents become its own stream of ids (the
  documents concatenated in order).  With ``early_stopping`` each stream
  holds out its own last ``validation_fraction`` of tokens; the validation
  score is the summed log-likelihood of those tails over their summed
  predictions.
* Steps: the global batch's ``batch_size`` tracks are shared among the
  shards in proportion to their tokens (at least one each); each epoch one
  offset (drawn on the client, below every shard's ``sequence_length`` and
  track length) starts every shard's tracks, and step j reads window j of
  every shard that has one, each shard carrying its own tracks' states.
  The step's gradient is the token-weighted sum of the shards' gradients
  (``seqcore._distributed.combine``).  With one shard this is exactly the
  in-memory fit of a list of documents.
* Dropout draws its masks per step and shard from a seed the client draws.

A worker lost mid-fit stops training with a clear error (the shards' track
states cannot be rebuilt from the bag's graph alone).
"""

from collections import Counter

import numpy as np

from . import _distributed, _engine
from .text._tokenizer import UNK_ID, SequenceTokenizer


# ------------------------------------------------------- per partition (workers)
def _tokenizer(params):
    return SequenceTokenizer(**params)


def count(docs, index, params):
    """The token counts of a partition's documents (first-appearance order)."""
    tokenizer = _tokenizer(params)
    docs = _checked(tokenizer, docs, index)
    counts = Counter()
    for doc in docs:
        counts.update(tokenizer._tokens(doc))
    return counts, len(docs)


def _checked(tokenizer, docs, index):
    try:
        return tokenizer._documents(list(docs))
    except TypeError as exc:
        raise TypeError(f"partition {index} of X: {exc}") from None


class _StreamShard:
    """One partition's stream of ids and its part of each step (see the notes)."""

    def __init__(self, docs, index, tokenizer, validation_fraction):
        docs = _checked(tokenizer, docs, index)
        ids = tokenizer._transform(docs)
        stream = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        self.counts = np.bincount(stream, minlength=tokenizer.vocab_size_)
        self.unknown_only = not (stream != UNK_ID).any()
        self.val = None
        if validation_fraction is not None:
            n_val = int(round(validation_fraction * stream.size))
            if n_val < 2 or stream.size - n_val < 2:
                raise ValueError(
                    f"early_stopping needs at least 2 tokens on each side of the validation "
                    f"split in every partition: partition {index} of X has {stream.size} "
                    f"tokens and validation_fraction={validation_fraction} holds out {n_val}")
            stream, self.val = stream[:-n_val], stream[-n_val:]
        self.stream, self.index = stream, index
        self.network = self.windows = self.state = None

    def info(self):
        return (self.stream.size, None if self.val is None else self.val.size,
                self.counts, self.unknown_only)

    # Each method takes one argument (one message per call; see _Partition).
    def attach(self, network):
        self.network = network

    def epoch(self, args):
        """Cut this epoch's tracks: B tracks from offset; returns the windows' count."""
        offset, B, T = args
        stream = self.stream
        n = (stream.size - 1 - offset) // B           # steps per track
        if n >= T:
            n -= n % T                                 # whole windows only
        X = stream[offset:offset + B * n].reshape(B, n)
        Y = stream[offset + 1:offset + 1 + B * n].reshape(B, n)
        self.windows = [(X[:, s:s + T], Y[:, s:s + T]) for s in range(0, n, T)]
        self.state = None
        return len(self.windows)

    def gradient(self, args):
        params, j, seed = args
        if j >= len(self.windows):
            return None
        net = self.network
        net.flat_params[:] = params
        if seed is not None:   # the masks of this step and shard, wherever it runs
            net._rng = np.random.default_rng([seed, self.index, 0])
            net.rnn._rng = np.random.default_rng([seed, self.index, 1])
        X, Y = self.windows[j]
        with _distributed._quiet():
            loss, self.state = net.loss_and_gradient(X, Y, self.state)
        return float(loss), float(X.size), net.flat_grads.copy()

    def log_likelihood(self, params):
        """(log-likelihood of the held-out tail, its predictions)."""
        self.network.flat_params[:] = params
        with _distributed._quiet():
            return float(self.network.log_likelihood(self.val)), self.val.size - 1

    def finite(self, args):
        params, T = args
        self.network.flat_params[:] = params
        with _distributed._quiet():
            probe = self.stream[:min(self.stream.size, 2 * T)]
            return bool(np.isfinite(self.network.log_likelihood(probe)))


# ------------------------------------------------------------ where they run
class _InProcess:
    """The shards in this process (the bag computed, partition by partition)."""

    def __init__(self, bag):
        import dask
        self.blocks = [list(b) for b in dask.compute(*bag.to_delayed())]
        self.shards = None

    def map_blocks(self, fn, *args):
        return [fn(b, i, *args) for i, b in enumerate(self.blocks)]

    def build(self, tokenizer, fraction):
        self.shards = [_StreamShard(b, i, tokenizer, fraction) for i, b in enumerate(self.blocks)]
        self.blocks = None
        return [s.info() for s in self.shards]

    def keep(self, which):
        self.shards = [self.shards[i] for i in which]

    def call(self, calls):
        return [getattr(self.shards[p], method)(arg) for p, method, arg in calls]

    def close(self):
        self.shards = None


class _OnCluster:
    """The shards as actors on the workers holding the bag's partitions."""

    def __init__(self, client, bag):
        self.client = client
        self.blocks = client.compute(list(bag.to_delayed()))
        self.actors = self.handles = None

    def map_blocks(self, fn, *args):
        return self.client.gather([self.client.submit(fn, b, i, *args, pure=False)
                                   for i, b in enumerate(self.blocks)])

    def build(self, tokenizer, fraction):
        from distributed import wait
        client = self.client
        self.actors = [client.submit(_StreamShard, b, i, tokenizer, fraction, actor=True,
                                     pure=False) for i, b in enumerate(self.blocks)]
        wait(self.actors)
        for a in self.actors:
            if a.status == "error":
                a.result()   # the partition's ValueError / TypeError
        self.blocks = None   # the shards hold their streams
        self.handles = [a.result() for a in self.actors]
        return [f.result() for f in [h.info() for h in self.handles]]

    def keep(self, which):
        for i in set(range(len(self.actors))) - set(which):
            self.actors[i].release()
        self.actors = [self.actors[i] for i in which]
        self.handles = [self.handles[i] for i in which]

    def call(self, calls):
        out = _distributed.call_actors(self.client, self.handles, self.actors, calls)
        if any(isinstance(r, _distributed.Lost) for r in out):
            raise RuntimeError("lost a worker holding a partition of X: stopped training "
                               "(a language model's shards cannot be rebuilt mid-fit); the "
                               "estimator is left as it was before fit")
        return out

    def close(self):
        for a in self.actors or ():
            a.release()
        self.actors = self.handles = None


# ------------------------------------------------------------------ the task
class _ShardedStreamTask(_engine.Task):
    """The shards' streams as the engine reads them (see the module's notes)."""

    def __init__(self, est, net, shards, sizes, has_validation, rng):
        self.network, self.shards, self.rng = net, shards, rng
        self.T = est.sequence_length
        N = int(sizes.sum())
        self.B = min(est.batch_size, N - 1)
        # the tracks of each shard: in proportion to its tokens, at least one
        self.tracks = [max(1, min(int(round(self.B * n / N)), int(n) - 1)) for n in sizes]
        self.sizes = sizes
        self.has_validation = has_validation
        self.seeds = (np.random.default_rng(rng.integers(2**63))
                      if net.dropout > 0 or net.rnn.dropout > 0 else None)

    def batches(self):
        # the offset below every shard's sequence_length and track length
        top = min(min(self.T, (int(n) - 1) // b) for n, b in zip(self.sizes, self.tracks))
        offset = int(self.rng.integers(0, max(top, 1)))
        counts = self.shards.call([(p, "epoch", (offset, b, self.T))
                                   for p, b in enumerate(self.tracks)])
        return range(max(counts))

    def loss_and_gradient(self, j):
        seed = None if self.seeds is None else int(self.seeds.integers(np.iinfo(np.int64).max))
        params = self.network.flat_params.copy()
        parts = self.shards.call([(p, "gradient", (params, j, seed))
                                  for p in range(len(self.tracks))])
        return _distributed.combine(parts, self.network.flat_grads)

    def validation_score(self):
        params = self.network.flat_params.copy()
        got = self.shards.call([(p, "log_likelihood", params) for p in range(len(self.tracks))])
        total, predictions = 0.0, 0
        for ll, n in got:
            total += ll
            predictions += n
        return total / predictions

    def outputs_finite(self):
        return self.shards.call([(0, "finite", (self.network.flat_params.copy(), self.T))])[0]


# ------------------------------------------------------------ the entry point
def fit_bag(est, bag):
    """``RNNLanguageModel.fit`` on a Dask bag of documents (see the module's notes)."""
    import dask.bag as db

    from .text._language_model import setup_training

    if not isinstance(bag, db.Bag):
        raise TypeError(f"X is a Dask {type(bag).__name__}: RNNLanguageModel trains on a "
                        "Dask bag of documents (strings or lists of string tokens)")
    params = dict(analyzer=est.analyzer, lowercase=est.lowercase,
                  min_frequency=est.min_frequency, max_tokens=est.max_tokens)
    client = _distributed._client()
    shards = _InProcess(bag) if client is None else _OnCluster(client, bag)
    try:
        counted = shards.map_blocks(count, params)
        total, n_docs = Counter(), 0
        for counts, n in counted:   # partition order: first appearance over all documents
            total.update(counts)
            n_docs += n
        del counted
        tokenizer = _tokenizer(params)
        _vocabulary(tokenizer, total, n_docs)
        infos = shards.build(tokenizer, est.validation_fraction if est.early_stopping
                             else None)
        if all(info[3] for info in infos):
            raise ValueError("every token of X is unknown (<unk>): nothing to learn")
        sizes = np.array([info[0] for info in infos], dtype=np.int64)
        if sizes.sum() < 2:
            raise ValueError(f"X has {int(sizes.sum())} token(s) in all: a language model "
                             "needs at least 2 (one to read, one to predict)")
        keep = np.flatnonzero(sizes >= 2)   # a shard of fewer tokens has no track
        shards.keep(list(keep))
        counts = np.sum([info[2] for info in infos], axis=0).astype(np.float64)
        n_tokens = int(sum(info[0] + (info[1] or 0) for info in infos))
        net, opt, rng = setup_training(est, tokenizer, counts, n_tokens)
        shards.call([(p, "attach", net) for p in range(len(keep))])
        task = _ShardedStreamTask(est, net, shards, sizes[keep], est.early_stopping, rng)
        try:
            _engine.train(est, task, opt, epochs=est.max_iter, callbacks=est.callbacks_)
        finally:
            net.release_buffers()
    finally:
        shards.close()
    return est


def _vocabulary(tokenizer, counts, n_docs):
    """The vocabulary of these counts, as ``SequenceTokenizer`` ranks them."""
    if not n_docs:
        raise ValueError("X has no documents: the vocabulary would be empty")
    if not counts:
        raise ValueError(f"every one of the {n_docs} documents is empty (no tokens): the "
                         "vocabulary would be empty")
    ranked = sorted(counts.items(), key=lambda item: -item[1])   # stable: ties keep order
    kept = [(t, c) for t, c in ranked if c >= tokenizer.min_frequency]
    if not kept:
        raise ValueError(f"no token occurs min_frequency={tokenizer.min_frequency} times: "
                         f"the vocabulary would be empty (most frequent: {ranked[0][0]!r}, "
                         f"{ranked[0][1]} times)")
    if tokenizer.max_tokens is not None:
        kept = kept[:tokenizer.max_tokens - 2]
    tokenizer.vocabulary_ = {t: i for i, (t, _) in enumerate(kept, start=2)}
    tokenizer.token_counts_ = dict(kept)
    tokenizer.vocab_size_ = len(tokenizer.vocabulary_) + 2

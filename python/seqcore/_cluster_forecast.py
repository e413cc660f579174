"""The global forecaster trained on a long table of series held by a Dask cluster.

Design.  ``RNNForecaster.fit(table)``, ``table`` a Dask DataFrame with
columns ``id``, ``value`` and (optional) ``time`` whose partitions each hold
whole series, fits the global model of ``seqcore._global`` without bringing
the series to the client.  The partitions are the gradient shards.  Each
stage runs one function per partition: on the worker holding it (the
result stays there, a Dask future) when a ``distributed`` client runs, else
in this process on the computed partitions; both paths run the same
functions and combine their results in partition order, so they give the
same model bit for bit.

1. ``read``: the partition's rows -> its series, grouped by id in order of
   first appearance and sorted by time, checked; the client gets the ids
   and lengths (and each series' detected season when ``season='auto'``).
2. ``prepare``: every series in the global model's space (logs, seasonal
   indices, scale, the Theta base of every prefix), and the same for the
   series without their last H steps (the held-out stage).
3. ``windows``: each network's training windows, cut from the partition's
   own series.  A series draws its windows with a generator keyed by
   (network seed, series number) instead of one stream over all series,
   so that every partition draws its own.  The windows stay on the worker
   as one block of the Dask array the ``RNNRegressor`` trains on
   (``seqcore._distributed``): only parameters and gradients cross per step.
4. ``evaluate``: the held-out forecasts (network, its Theta base, Theta)
   and truths; the client chooses the combination weights as in one process.
5. ``forecast``: each series' forecast from its end.  The client keeps
   these (H numbers a series) and the interval scales, not the histories:
   ``predict`` without ``y`` returns them, ``predict(y=...)`` forecasts new
   histories in memory, and ``update`` is refused.

What else crosses: one id and length per series, the window targets
(N x H: the regressor's y, kept on the client as a classifier's labels
are), with early stopping the network's outputs on the validation windows
each epoch (the windows stay on the workers, which compute them), and H
numbers per series back (held-out errors and forecasts).
"""

import numpy as np

from . import _distributed
from ._global import (_MIN_CONTEXT, COMPONENTS, GlobalModel, _conformal_quantile, _Delegate,
                      chosen_weights, _filled, _kind, _prepare, _score_weights, _space, _squash,
                      _warn_short, cut_windows, no_windows, publish)
from ._seasonality import detect_season

ID, TIME, VALUE = "id", "time", "value"


# ----------------------------------------------------- per partition (workers)
class _Part:
    """The series of one partition (and, once prepared, their global-model forms)."""

    def __init__(self, ids, ys, raw_seasons):
        self.ids, self.ys, self.raw_seasons = ids, ys, raw_seasons
        self.first = 0
        self.series = self.vseries = self.held = None


def read(frame, index, has_time, log_transform, detect):
    """A partition of the table (pandas) -> its ``_Part``, or a clear error."""
    import pandas as pd

    where = f"partition {index} of the table"
    if len(frame) == 0:
        return _Part([], [], [])
    codes, uniques = pd.factorize(frame[ID], sort=False)
    if (codes < 0).any():
        raise ValueError(f"{where} has a missing id")
    try:
        values = frame[VALUE].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where}: column {VALUE!r} must be numeric ({exc})") from None
    if has_time:
        times = frame[TIME].to_numpy()
        if times.dtype == object:
            try:
                times = pd.to_datetime(frame[TIME]).to_numpy()
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: column {TIME!r} holds values that are not times "
                                 f"(numbers or dates): {exc}") from None
        gone = pd.isna(times)
        if gone.any():   # else sorted last: its value read as the series' latest
            row = int(np.argmax(gone))
            raise ValueError(f"{where}: series {_plain(uniques[codes[row]])!r} has a "
                             f"missing time ({TIME!r}): every row needs its time")
        order = np.lexsort((times, codes))
        same = (np.diff(codes[order]) == 0) & (times[order][1:] == times[order][:-1])
        if same.any():
            row = order[np.flatnonzero(same)[0]]
            raise ValueError(f"{where}: series {_plain(uniques[codes[row]])!r} has two rows "
                             f"at {TIME}={_plain(times[row])!r}")
    else:
        order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    ids, ys, seasons = [], [], []
    for rows in np.split(order, cuts):
        name = _plain(uniques[codes[rows[0]]])
        a = values[rows]
        if np.isinf(a).any():
            raise ValueError(f"{where}: series {name!r} contains infinity")
        observed = np.isfinite(a)
        if not observed.any():
            raise ValueError(f"{where}: series {name!r} has no observed value (all NaN)")
        if log_transform and (a[observed] <= 0).any():
            raise ValueError(f"{where}: series {name!r} has values <= 0; transform='log' "
                             "needs positive series")
        if detect:
            seasons.append(detect_season(a))
        ids.append(name)
        ys.append(_filled(a))
    return _Part(ids, ys, seasons)


def _plain(value):
    """A NumPy scalar as the Python value (for messages and ids)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def prepare(part, first, m, H):
    """The partition's series in the global model's space (see the notes)."""
    out = _Part(part.ids, part.ys, None)
    out.first = first
    out.series = _prepare(part.ys, m, H)
    out.held = [i for i, y in enumerate(part.ys) if len(y) >= _MIN_CONTEXT + 2 * H]
    out.vseries = _prepare([part.ys[i][:-H] for i in out.held], m, H)
    return out


def windows(part, held, seed, L, H, k):
    """Network k's windows of the partition: (X (N, L, 2) float32, Y (N, H))."""
    series = [_space(s, k) for s in (part.vseries if held else part.series)]
    number = part.first + (np.asarray(part.held, dtype=np.int64) if held
                           else np.arange(len(series)))
    X, Y = cut_windows(series, 0, L, H,
                       lambda i: np.random.default_rng([seed, int(number[i])]))
    if not X:
        return np.zeros((0, L, 2), np.float32), np.zeros((0, H))
    return np.stack(X).astype(np.float32), _squash(np.stack(Y))


def evaluate(part, model, regs):
    """The held-out forecasts (C, S, H) of the ``COMPONENTS`` (the network,
    then the statistical ones), truths (S, H) and MASE scales (S,) of the
    partition's long series."""
    H, vs = model.H, part.vseries
    if not vs:
        return np.zeros((len(COMPONENTS), 0, H)), np.zeros((0, H)), np.zeros(0)
    net = np.stack(model._network(regs, vs, 0))
    stat = model._statistical([part.ys[i][:-H] for i in part.held], vs)
    truth = np.stack([part.ys[i][-H:] for i in part.held])
    scales = np.array([s.mase_scale for s in vs])
    return np.stack([net] + stat), truth, scales


def forecast(part, model):
    """Each series' forecast (S, H) from its end, its MASE scale, and whether
    it was deseasonalised and logged."""
    if not part.series:
        return np.zeros((0, model.H)), np.zeros(0), [], []
    out, _ = model.forecast(part.ys, part.series, warn=False)
    return (np.stack(out), np.array([s.mase_scale for s in part.series]),
            [s.seasonal is not None for s in part.series], [s.log for s in part.series])


def _rows(pair):
    return len(pair[0])


def _first(pair):
    return pair[0]


def _second(pair):
    return pair[1]


# ------------------------------------------------------------ where they run
class _InProcess:
    """The partitions computed into this process (no ``distributed`` client)."""

    def __init__(self, table):
        import dask
        self.parts = list(dask.compute(*table.to_delayed()))

    def stage(self, fn, args):
        """Replace each partition by fn(partition, *its args)."""
        self.parts = [fn(p, *a) for p, a in zip(self.parts, args)]

    def map(self, fn, *args):
        return [fn(p, *args) for p in self.parts]

    def windows(self, held, seed, L, H, k):
        blocks = [b for b in self.map(windows, held, seed, L, H, k) if len(b[0])]
        if not blocks:
            return None
        return (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks]),
                tuple(len(b[0]) for b in blocks))

    def close(self):
        self.parts = []


class _OnCluster:
    """The partitions held by the workers: each a future, computed where it lives."""

    def __init__(self, client, table):
        self.client = client
        self.parts = client.compute(list(table.to_delayed()))

    def stage(self, fn, args):
        self.parts = [self.client.submit(fn, p, *a, pure=False)
                      for p, a in zip(self.parts, args)]

    def map(self, fn, *args):
        # the arguments (the model, its networks) sent once, not per partition
        args = [self.client.scatter(a, hash=False, broadcast=False) for a in args]
        return self.client.gather([self.client.submit(fn, p, *args, pure=False)
                                   for p in self.parts])

    def windows(self, held, seed, L, H, k):
        import dask
        import dask.array as da

        client = self.client
        pairs = [client.submit(windows, p, held, seed, L, H, k, pure=False)
                 for p in self.parts]
        sizes = client.gather([client.submit(_rows, f, pure=False) for f in pairs])
        pairs = [f for f, n in zip(pairs, sizes) if n]
        sizes = [n for n in sizes if n]
        if not pairs:
            return None
        # the targets, one partition at a time (no second copy of them all)
        Y = np.empty((sum(sizes), H))
        start = 0
        for f, n in zip([client.submit(_second, f, pure=False) for f in pairs], sizes):
            Y[start:start + n] = f.result()
            start += n
        # the blocks of X are computed where their windows are (the futures)
        X = da.concatenate([da.from_delayed(dask.delayed(_first)(f), (n, L, 2), np.float32)
                            for f, n in zip(pairs, sizes)])
        return X, Y, None   # the regressor's shards: X's chunks

    def close(self):
        for f in self.parts:
            f.release()
        self.parts = []


# ---------------------------------------------------------------- the model
class ShardedGlobalModel(GlobalModel):
    """``GlobalModel`` over the partitions of a table (see the module's notes):
    its fit follows ``GlobalModel.fit`` stage by stage, on the partitions."""

    def __init__(self, est, season, parts, lengths):
        super().__init__(est, season)
        self.parts, self.lengths = parts, lengths

    def __getstate__(self):   # shipped to the workers without the client side
        state = self.__dict__.copy()
        state["parts"] = None
        return state

    def windows(self, series, cut, seed, L, k):
        out = self.parts.windows(series == "held", seed, L, self.H, k)
        if out is None:
            raise no_windows(self.H, cut)
        X, Y, shards = out
        return X, Y, shards

    def fit(self):
        H, n = self.H, self.lengths
        self.fallback_ = [_kind(int(k), self.L) for k in n]
        self.weights_ = (1.0,) + (0.0,) * (len(COMPONENTS) - 1)   # the network alone
        self.validation_ = None
        quantile_errors = None
        if (n >= _MIN_CONTEXT + 2 * H).any() and (self.combine == "auto" or self.calibrate):
            regs = self._train("held", 0, self.seeds)
            got = [r for r in self.parts.map(evaluate, self, regs) if r[1].shape[0]]
            parts = np.concatenate([r[0] for r in got], axis=1)
            truth = np.concatenate([r[1] for r in got])
            scales = np.concatenate([r[2] for r in got])
            self.validation_ = _score_weights(truth, parts, scales)
            if self.combine == "auto":   # as GlobalModel.fit
                self.weights_ = chosen_weights(self.validation_)
            combined = np.tensordot(np.array(self.weights_), parts, axes=1)
            quantile_errors = (truth - combined) / scales[:, None]
        else:
            regs = None
        if not (n >= _MIN_CONTEXT + H).any():   # nothing to learn from: Theta everywhere
            self.fallback_ = ["theta" if k >= 2 else "naive" for k in n]
            regs = []
        elif self.refit or regs is None:
            regs = self._train("all", 0, self.seeds)
        self.regressors_ = regs
        self.errors_ = quantile_errors
        got = self.parts.map(forecast, self)
        self.forecasts_ = np.concatenate([r[0] for r in got])
        self.scales_ = np.concatenate([r[1] for r in got])
        self.deseasonalized_ = [d for r in got for d in r[2]]
        self.log_ = [g for r in got for g in r[3]]
        self.parts = None
        return self


class _TableDelegate(_Delegate):
    """Predictions of a forecaster fit on a table: the fitted series'
    forecasts were made on the workers; new histories are forecast here."""

    def __init__(self, model):
        self.model, self.hist = model, None

    def _inputs(self, est, fh, X, y, X_past=None, static=None):
        if y is not None:
            return super()._inputs(est, fh, X, y, X_past, static)
        if X_past is not None or static is not None:
            raise ValueError("this forecaster was fit on a Dask table without covariates: "
                             "predict takes X_past and static only with y= (new series)")
        if X is not None:
            raise ValueError("this forecaster was fit without exogenous regressors: "
                             "predict takes no X")
        return est._check_fh(fh), None, None, est._tindex, True, 1

    def _point(self, hist, prep, fitted, h):
        if fitted:
            return list(self.model.forecasts_)
        return self.model.forecast(hist, prep, warn=True)[0]

    def _offsets(self, hist, alphas, h, prep=None, method=None):
        if hist is not None or self.model.errors_ is None:
            return self.model.spread([] if hist is None else hist, alphas, prep, method)
        q = np.stack([_conformal_quantile(self.model.errors_, a) for a in alphas], axis=-1)
        return self.model.scales_[:, None, None] * q[None]

    def _draws(self, hist, prep, h, n, rng):
        m = self.model
        if hist is not None:
            return m.sample_offsets(hist, n, rng, prep)
        if m.errors_ is None:   # the fitted series: held-out errors, scaled, per step
            raise ValueError("no held-out errors to draw from: fit with calibration_size > 0 "
                             f"on series of {_MIN_CONTEXT + 2 * m.H} values or more")
        pick = rng.integers(0, m.errors_.shape[0], (len(m.scales_), m.H, n))
        return m.scales_[:, None, None] * m.errors_[pick, np.arange(m.H)[None, :, None]]

    def update(self, est, y_new, X_new, X_past_new=None):
        raise ValueError("this forecaster was fit on a Dask table: the histories stayed on "
                         "the workers, so update cannot extend them; fit again on the "
                         "grown table, or forecast new histories with predict(fh, y=...)")


# ------------------------------------------------------------ the entry point
def fit_table(est, table, X):
    """``RNNForecaster.fit`` on a Dask DataFrame long table (see the module's notes)."""
    import dask.dataframe as dd

    if not isinstance(table, dd.DataFrame):
        raise TypeError(f"y is a Dask {type(table).__name__}: RNNForecaster trains on a Dask "
                        f"DataFrame long table (columns {ID!r}, {VALUE!r} and optionally "
                        f"{TIME!r}), partitioned by series")
    if X is not None:
        raise ValueError("a fit on a Dask table takes no X (exogenous regressors)")
    if getattr(est, "distribution", None) is not None:
        raise ValueError(f"distribution={est.distribution!r}: a fit on a Dask table trains "
                         "point forecasts with conformal intervals only (distribution=None)")
    if est.global_method == "classic" or est.strategy != "direct":
        raise ValueError("a Dask table trains the global model (global_method='auto' or "
                         "'normalised', strategy='direct'), got global_method="
                         f"{est.global_method!r}, strategy={est.strategy!r}")
    if ID not in table.columns and table.index.name == ID:   # e.g. after set_index
        table = table.reset_index()
    missing = [c for c in (ID, VALUE) if c not in table.columns]
    if missing:
        raise ValueError(f"the Dask table has no column {missing[0]!r} (columns: "
                         f"{list(table.columns)}); it needs {ID!r}, {VALUE!r} and "
                         f"optionally {TIME!r}")
    has_time = TIME in table.columns
    client = _distributed._client()
    parts = _InProcess(table) if client is None else _OnCluster(client, table)
    try:
        detect = est.season == "auto"
        parts.stage(read, [(i, has_time, est.transform == "log", detect)
                           for i in range(len(parts.parts))])
        infos = parts.map(_info)
        ids = [k for info in infos for k in info[0]]
        lengths = np.array([n for info in infos for n in info[1]], dtype=np.int64)
        if not ids:
            raise ValueError("the Dask table has no rows: there is nothing to forecast")
        _check_partitioned(infos)
        if detect:
            found = [m for info in infos for m in info[2]]
            values, counts = np.unique(found, return_counts=True)
            season = int(values[np.argmax(counts)])
        else:
            season = int(est.season)
        firsts = np.concatenate([[0], np.cumsum([len(info[0]) for info in infos])])
        parts.stage(prepare, [(int(f), season, int(est.horizon)) for f in firsts[:-1]])
        model = ShardedGlobalModel(est, season, parts, lengths).fit()
    finally:
        parts.close()
    _warn_short(model.fallback_)
    est._is_list, est._y_ndim, est._tindex = True, 1, [None] * len(ids)
    est.n_series_, est.n_targets_, est._n_exog = len(ids), 1, None
    est.series_ids_ = ids
    return publish(est, model, _TableDelegate(model), season, model.deseasonalized_,
                   model.log_)


def _info(part):
    """What the client learns of a partition: ids, lengths, detected seasons."""
    return part.ids, [len(y) for y in part.ys], part.raw_seasons


def _check_partitioned(infos):
    seen = {}
    for p, info in enumerate(infos):
        for name in info[0]:
            key = (type(name).__name__, name)
            if key in seen and seen[key] != p:
                raise ValueError(f"series {name!r} is in partitions {seen[key]} and {p} of "
                                 "the table: each partition must hold whole series "
                                 f"(e.g. table.shuffle(on={ID!r}) or "
                                 f"table.set_index({ID!r}))")
            seen[key] = p

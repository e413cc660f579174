"""The forecasting panel: seqcore's RNNForecaster with its defaults against
the seasonal naive forecast, ETS and SARIMA (statsmodels) on real series.

Every series ships inside an installable package (statsmodels' datasets,
sktime's bundled data) and loads offline.  Per series the last ``horizon``
values are held out, from up to three rolling origins ``horizon`` apart
when the series is long enough (the splitter is
``seqcore.model_selection.RollingOrigin``).  Scores: sMAPE (%) and MASE
(scaled by the in-sample MAE of the seasonal naive forecast of the
series' calendar period, 1 for yearly data), averaged over the origins;
for seqcore also the share of held-out values inside its 90% interval and
the training time of each fit (calibration, refit and every network).

Run (about 3 minutes on 2 cores; needs statsmodels and sktime)::

    python benchmarks/forecast_panel.py                  # the whole panel
    python benchmarks/forecast_panel.py --series airline lynx --methods seqcore naive
    python benchmarks/forecast_panel.py --markdown       # the README table

seqcore runs with ``RNNForecaster(horizon=H, random_state=0)`` and nothing
else, one BLAS thread.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from seqcore import RNNForecaster  # noqa: E402
from seqcore.model_selection import RollingOrigin, mase, seasonal_naive, smape  # noqa: E402

HORIZONS = {"Y": 6, "Q": 8, "M": 12, "W": 13}
PERIODS = {"Y": 1, "Q": 4, "M": 12, "W": 52}


# ------------------------------------------------------------------ data
def _sm(name):
    import importlib
    return importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data


def _years(values, start):
    return pd.Series(np.asarray(values, float),
                     index=pd.period_range(str(start), periods=len(values), freq="Y"))


def _quarters(values, start):
    return pd.Series(np.asarray(values, float),
                     index=pd.period_range(start, periods=len(values), freq="Q"))


def load_panel():
    """name -> (series with a PeriodIndex or DatetimeIndex, frequency letter, note)."""
    from sktime import datasets as skd
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["airline"] = (skd.load_airline(), "M", "sktime: airline passengers 1949-60")
        el = _sm("elnino")
        sst = el.drop(columns="YEAR").to_numpy().reshape(-1)
        out["elnino_sst"] = (pd.Series(sst, index=pd.period_range(
            f"{int(el.YEAR.iloc[0])}-01", periods=len(sst), freq="M")), "M",
            "statsmodels: Nino 1+2 sea-surface temperature 1950-2010")
        sb = pd.read_csv(os.path.join(os.path.dirname(skd.__file__), "data", "seatbelts",
                                      "seatbelts.csv"))
        out["uk_seatbelts"] = (pd.Series(sb.KSI.to_numpy(float), index=pd.period_range(
            sb.iloc[0, 0][:7], periods=len(sb), freq="M")), "M",
            "sktime: UK drivers killed or seriously injured 1969-84")
        ee = _sm("elec_equip").iloc[:, 0]
        out["elec_equip"] = (pd.Series(ee.to_numpy(float), index=pd.period_range(
            "1995-01", periods=len(ee), freq="M")), "M",
            "statsmodels: euro-area electrical equipment orders 1995-2016")
        out["shampoo"] = (skd.load_shampoo_sales(), "M", "sktime: shampoo sales, 3 years")
        co2 = _sm("co2")["co2"]
        co2 = co2[co2.index >= "1990-01-01"]
        out["co2_weekly"] = (co2.asfreq("W-SAT"), "W",
                             f"statsmodels: Mauna Loa CO2 1990-2001, {int(co2.isna().sum())} gaps")
        md = _sm("macrodata")
        out["us_gdp"] = (_quarters(md.realgdp, "1959Q1"), "Q", "statsmodels: US real GDP")
        out["us_unemp"] = (_quarters(md.unemp, "1959Q1"), "Q", "statsmodels: US unemployment")
        uc = skd.load_uschange()[0]
        out["us_consumption"] = (_quarters(uc.to_numpy(), "1970Q1"), "Q",
                                 "sktime: US consumption growth")
        ii = _sm("interest_inflation")
        out["de_inflation"] = (_quarters(ii.Dp, "1972Q2"), "Q",
                               "statsmodels: German quarterly inflation")
        out["lynx"] = (skd.load_lynx(), "Y", "sktime: lynx trappings 1821-1934")
        ss = _sm("sunspots")
        out["sunspots"] = (_years(ss.SUNACTIVITY, int(ss.YEAR.iloc[0])), "Y",
                           "statsmodels: yearly sunspots 1700-2008")
        nile = _sm("nile")
        out["nile"] = (_years(nile.volume, int(nile.year.iloc[0])), "Y",
                       "statsmodels: Nile flow 1871-1970")
    return out


def n_origins_for(n, H):
    """Three origins when the series keeps at least 6 horizons (and 60 values)
    before the first, else one."""
    return 3 if n - 3 * H >= max(6 * H, 60) else 1


# ------------------------------------------------------------------ methods
# Extra RNNForecaster parameters for ablations (--param name=value); the
# published table uses none.
EXTRA = {}


def forecast_seqcore(train, H, m):
    f = RNNForecaster(horizon=H, random_state=0, **EXTRA)
    t0 = time.perf_counter()
    f.fit(train)
    seconds = time.perf_counter() - t0
    if f.n_calibration_errors_ == 0:       # too short to hold out a calibration tail
        return np.asarray(f.predict(H)), None, seconds
    fc, lo, hi = f.predict_interval(H, coverage=0.9)
    return np.asarray(fc), (np.asarray(lo), np.asarray(hi)), seconds


def forecast_naive(train, H, m):
    return seasonal_naive(_filled(train), H, m), None, 0.0


def _filled(train):
    return train.interpolate(limit_direction="both").to_numpy(float)


def forecast_ets(train, H, m):
    """statsmodels ETSModel, the configuration of lowest AICc among additive
    errors, no / damped additive trend, no / additive / multiplicative season."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    y = _filled(train)
    positive = (y > 0).all()
    seasons = [None] + (["add"] + (["mul"] if positive else []) if m > 1 and len(y) >= 2 * m
                        else [])
    best = None
    t0 = time.perf_counter()
    for trend in (None, "add"):
        for seasonal in seasons:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = ETSModel(y, error="add", trend=trend, damped_trend=trend is not None,
                                   seasonal=seasonal, seasonal_periods=m if seasonal else None
                                   ).fit(disp=False)
                    fc = res.forecast(H)
            except Exception:          # a configuration that does not fit this series
                continue
            if np.isfinite(res.aicc) and np.isfinite(fc).all() and (
                    best is None or res.aicc < best[0]):
                best = (res.aicc, fc)
    return np.asarray(best[1]), None, time.perf_counter() - t0


def forecast_sarima(train, H, m):
    """statsmodels SARIMAX: the airline model (0,1,1)(0,1,1)_m on seasonal
    data, ARIMA(1,1,1) with drift otherwise; in logs for a positive series."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    if m > 24:
        return None, None, 0.0          # a 52-week seasonal ARIMA is too slow to be useful
    y = _filled(train)
    log = (y > 0).all()
    z = np.log(y) if log else y
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if m > 1:
            model = SARIMAX(z, order=(0, 1, 1), seasonal_order=(0, 1, 1, m))
        else:
            model = SARIMAX(z, order=(1, 1, 1), trend="t")
        fc = model.fit(disp=False).forecast(H)
    fc = np.exp(fc) if log else fc
    return np.asarray(fc), None, time.perf_counter() - t0


METHODS = {"seqcore": forecast_seqcore, "naive": forecast_naive, "ets": forecast_ets,
           "sarima": forecast_sarima}


# ------------------------------------------------------------------ run
def run(names, methods, verbose=True):
    panel = load_panel()
    rows = []
    for name in names:
        y, freq, note = panel[name]
        H, m = HORIZONS[freq], PERIODS[freq]
        values = y.to_numpy(float)
        k = n_origins_for(len(y), H)
        splitter = RollingOrigin(horizon=H, n_origins=k)
        for method in methods:
            sm, ms, cov, secs, used = [], [], [], [], 0
            for train_idx, test_idx in splitter.split(values):
                train, test = y.iloc[train_idx], values[test_idx]
                fc, interval, seconds = METHODS[method](train, H, m)
                if fc is None:
                    break
                ok = np.isfinite(test)
                scale_train = _filled(train)
                sm.append(smape(test[ok], fc[ok]))
                ms.append(mase(test[ok], fc[ok], scale_train, m))
                secs.append(seconds)
                if interval is not None:
                    lo, hi = interval
                    cov.append(((lo[ok] <= test[ok]) & (test[ok] <= hi[ok])))
                used += 1
            if not used:
                continue
            row = dict(series=name, freq=freq, n=len(y), H=H, origins=used, method=method,
                       smape=float(np.mean(sm)), mase=float(np.mean(ms)),
                       seconds=float(np.max(secs)),
                       coverage=float(np.mean(np.concatenate(cov))) if cov else np.nan,
                       covered=int(np.concatenate(cov).sum()) if cov else 0,
                       points=int(np.concatenate(cov).size) if cov else 0)
            rows.append(row)
            if verbose:
                cover = "" if np.isnan(row["coverage"]) else f"cov90 {row['coverage']:.2f}"
                print(f"{name:<15}{method:<8} sMAPE {row['smape']:6.2f}  MASE {row['mase']:6.3f}"
                      f"  {cover}  {row['seconds']:.1f}s", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summary(df):
    smape_t = df.pivot(index="series", columns="method", values="smape")
    mase_t = df.pivot(index="series", columns="method", values="mase")
    order = [s for s in df.series.unique()]
    smape_t, mase_t = smape_t.loc[order], mase_t.loc[order]
    return smape_t, mase_t


def markdown(df, panel):
    smape_t, mase_t = summary(df)
    methods = [m for m in METHODS if m in smape_t.columns]
    seq = df[df.method == "seqcore"].set_index("series")
    head = ("| series | freq | n | H | origins | "
            + " | ".join(f"sMAPE {m}" for m in methods) + " | "
            + " | ".join(f"MASE {m}" for m in methods) + " | seqcore 90% cover | seqcore fit s |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for s in smape_t.index:
        r = seq.loc[s]
        lines.append(
            f"| {s} | {r.freq} | {r.n} | {r.H} | {r.origins} | "
            + " | ".join(_fmt(smape_t.loc[s, m], 2) for m in methods) + " | "
            + " | ".join(_fmt(mase_t.loc[s, m], 3) for m in methods)
            + f" | {r.covered}/{r.points} | {r.seconds:.1f} |")
    med_s = smape_t[methods].median()
    med_m = mase_t[methods].median()
    lines.append("| **median** | | | | | " + " | ".join(_fmt(med_s[m], 2) for m in methods)
                 + " | " + " | ".join(_fmt(med_m[m], 3) for m in methods) + " | "
                 + f"{seq.covered.sum()}/{seq.points.sum()} = "
                 f"{seq.covered.sum() / seq.points.sum():.3f} | max {seq.seconds.max():.1f} |")
    return "\n".join(lines)


def _fmt(v, digits):
    return "n/a" if pd.isna(v) else f"{v:.{digits}f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", nargs="*", help="series names (default: all)")
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--markdown", action="store_true", help="print the README table")
    p.add_argument("--csv", help="write the per-series rows to this CSV")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="an RNNForecaster parameter for an ablation (Python literal)")
    args = p.parse_args(argv)
    import ast
    for item in args.param:
        name, _, value = item.partition("=")
        try:
            EXTRA[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            EXTRA[name] = value
    panel = load_panel()
    names = args.series or list(panel)
    df = run(names, args.methods)
    if args.csv:
        df.to_csv(args.csv, index=False)
    smape_t, mase_t = summary(df)
    pd.set_option("display.width", 200)
    print("sMAPE (%)\n", smape_t.round(2), "\n\nMASE\n", mase_t.round(3))
    print("\nmedian sMAPE:", smape_t.median().round(2).to_dict())
    print("median MASE:", mase_t.median().round(3).to_dict())
    seq = df[df.method == "seqcore"]
    if len(seq) and seq.points.sum():
        print(f"seqcore 90% interval coverage: {seq.covered.sum()}/{seq.points.sum()} = "
              f"{seq.covered.sum() / seq.points.sum():.3f}; longest fit {seq.seconds.max():.1f}s")
    if args.markdown:
        print()
        print(markdown(df, panel))


if __name__ == "__main__":
    main()

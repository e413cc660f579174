"""The ``seqcore`` command line: ``seqcore forecast [CSV] ...``.

With no CSV it forecasts the bundled airline series.  Every user error ends
with one line on stderr and exit code 2, never a traceback.
"""

import argparse
import csv
import sys
import time
import warnings

import numpy as np

EXIT_USAGE = 2


class _UsageError(Exception):
    """A problem with what the user asked for: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _parser():
    p = _Parser(prog="seqcore", description="Recurrent-network forecasting from the shell.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    f = sub.add_parser("forecast", help="forecast a CSV column (default: the bundled "
                                        "airline passengers series)")
    f.add_argument("csv", nargs="?", help="CSV file with a header row; omit for the "
                                          "bundled airline series")
    f.add_argument("--column", help="column to forecast (name or 0-based index); "
                                    "default: the only numeric column")
    f.add_argument("--horizon", type=_positive_int, default=12, help="steps ahead (default 12)")
    f.add_argument("--cell", choices=("rnn", "gru", "lstm"), default="lstm")
    f.add_argument("--window", type=_positive_int, help="input length (default: "
                                                        "2 seasons, or 24)")
    f.add_argument("--strategy", choices=("direct", "recursive"), default="direct")
    f.add_argument("--season", type=_positive_int,
                   help="seasonal period for the naive benchmark and MASE (default: 12 "
                        "for monthly dates, 4 quarterly, 7 daily, else 1)")
    f.add_argument("--transform", choices=("auto", "none", "log"), default="auto",
                   help="log for a positive series (auto), or none")
    f.add_argument("--coverage", type=_coverage, default=0.9,
                   help="prediction interval coverage (default 0.9)")
    f.add_argument("--max-iter", type=_positive_int, default=200, help="training epochs")
    f.add_argument("--plot", metavar="PNG", help="write a plot of history, forecast and "
                                                 "interval (needs matplotlib)")
    f.add_argument("--output", metavar="CSV", help="write the forecast table as CSV")
    f.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _coverage(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


# --------------------------------------------------------------------- data
def _read_csv(path, column):
    """(values, period labels or None, column name) from a CSV file."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    except FileNotFoundError:
        raise _UsageError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"cannot read {path}: {exc}") from None
    except csv.Error as exc:
        raise _UsageError(f"{path} is not a valid CSV file: {exc}") from None
    if len(rows) < 2:
        raise _UsageError(f"{path} has no data rows (a header row and values are needed)")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    if any(len(r) != len(header) for r in body):
        raise _UsageError(f"{path}: rows have different numbers of fields than the header")
    if column is None:
        numeric = [j for j in range(len(header)) if all(_is_number(r[j]) for r in body)]
        if len(numeric) != 1:
            raise _UsageError(f"{path} has {len(numeric)} numeric columns; choose one with "
                              f"--column (columns: {', '.join(header)})")
        j = numeric[0]
    elif column in header:
        j = header.index(column)
    elif column.isdigit() and int(column) < len(header):
        j = int(column)
    else:
        raise _UsageError(f"no column {column!r} in {path} (columns: {', '.join(header)})")
    bad = [i for i, r in enumerate(body, 2) if not _is_number(r[j])]
    if bad:
        raise _UsageError(f"column {header[j]!r} of {path} has non-numeric values "
                          f"(first at line {bad[0]}: {body[bad[0] - 2][j]!r})")
    values = np.array([float(r[j]) for r in body])
    if not np.isfinite(values).all():
        raise _UsageError(f"column {header[j]!r} of {path} has NaN or infinite values")
    dates = None
    if j != 0:
        dates = _parse_dates([r[0].strip() for r in body])
    return values, dates, header[j]


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _parse_dates(labels):
    """Regular dates (monthly, quarterly as months, daily, yearly) or None."""
    for unit in ("M", "D", "Y"):
        try:
            d = np.array(labels, dtype=f"datetime64[{unit}]")
        except ValueError:
            continue
        steps = np.diff(d).astype(np.int64)
        if len(steps) and (steps == steps[0]).all() and steps[0] > 0:
            return d
    return None


def _infer_season(dates):
    if dates is None or len(dates) < 2:
        return 1
    step = int((dates[1] - dates[0]).astype(np.int64))
    unit = np.datetime_data(dates.dtype)[0]
    return {("M", 1): 12, ("M", 3): 4, ("D", 1): 7}.get((unit, step), 1)


# --------------------------------------------------------------------- run
def _forecast(args):
    from . import RNNForecaster
    from .model_selection import mase, seasonal_naive, smape

    if args.plot:
        _matplotlib()   # fail before training, not after
    if args.csv is None:
        from .datasets import load_airline
        y, dates = load_airline(return_dates=True)
        name = "passengers (airline, 1949-1960, thousands)"
        if args.column is not None:
            raise _UsageError("--column needs a CSV file")
    else:
        y, dates, name = _read_csv(args.csv, args.column)
    season = args.season or _infer_season(dates)
    H = args.horizon
    transform = {"auto": "log" if (y > 0).all() else None, "none": None, "log": "log"}[args.transform]
    if transform == "log" and (y <= 0).any():
        raise _UsageError("--transform log needs a positive series")
    window = args.window or (2 * season if season > 1 else 24)
    longest = max(2, (len(y) - 2 * H) // 3)
    if window > longest:
        if args.window:
            print(f"seqcore: note: --window {args.window} is too long for {len(y)} values "
                  f"and horizon {H}; using {longest}", file=sys.stderr)
        window = longest
    min_len = window + 2 * H + 4
    if len(y) < min_len:
        raise _UsageError(f"the series has {len(y)} values; with horizon {H} at least "
                          f"{min_len} are needed")
    params = dict(window=window, horizon=H, strategy=args.strategy, cell=args.cell,
                  transform=transform, max_iter=args.max_iter, random_state=args.seed)

    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    print(f"seqcore forecast: {name}, {len(y)} values, horizon {H}, {args.cell}, "
          f"window {window}, season {season}", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        progress(f"[1/2] backtest: training on the first {len(y) - H} values ...")
        bt = RNNForecaster(calibration_size=0, **params).fit(y[:-H])
        bt_pred = bt.predict(H)
        progress(f"[2/2] training on all {len(y)} values, calibrating the intervals ...")
        model = RNNForecaster(**params).fit(y)
        fc, lo, hi = model.predict_interval(H, coverage=args.coverage)
        seconds = time.perf_counter() - t0

    naive = seasonal_naive(y[:-H], H, season)

    def scaled(pred):
        try:
            return f"{mase(test, pred, y[:-H], season):>10.3f}"
        except ValueError:   # a series the seasonal naive forecast fits exactly
            return f"{'n/a':>10}"
    test = y[-H:]
    future = (dates[-1] + (dates[1] - dates[0]) * np.arange(1, H + 1)) if dates is not None else None
    pct = int(round(args.coverage * 100))
    lines = [f"{'step':>4}  {'period':>10}  {'forecast':>12}  {f'lower {pct}%':>12}  {f'upper {pct}%':>12}"]
    for h in range(H):
        period = str(future[h]) if future is not None else "-"
        lines.append(f"{h + 1:>4}  {period:>10}  {fc[h]:>12.2f}  {lo[h]:>12.2f}  {hi[h]:>12.2f}")
    print("\n".join(lines))
    print(f"\nBacktest on the last {H} values (model fit on the values before them):")
    print(f"  {'':<22}{'sMAPE %':>10}{'MASE':>10}")
    print(f"  {'seqcore (' + args.cell + ')':<22}{smape(test, bt_pred):>10.2f}{scaled(bt_pred)}")
    print(f"  {f'seasonal naive (m={season})':<22}{smape(test, naive):>10.2f}{scaled(naive)}")
    print(f"\ntrained in {seconds:.1f}s")

    if args.output:
        try:
            with open(args.output, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["step", "period", "forecast", "lower", "upper"])
                for h in range(H):
                    w.writerow([h + 1, str(future[h]) if future is not None else "",
                                f"{fc[h]:.6g}", f"{lo[h]:.6g}", f"{hi[h]:.6g}"])
        except OSError as exc:
            raise _UsageError(f"cannot write {args.output}: {exc}") from None
        print(f"forecast written to {args.output}")
    if args.plot:
        _plot(args.plot, y, dates, future, fc, lo, hi, name, pct)
        print(f"plot written to {args.plot}")


def _matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise _UsageError("--plot needs matplotlib: pip install 'seqcore[plot]'") from None
    return plt


def _plot(path, y, dates, future, fc, lo, hi, name, pct):
    plt = _matplotlib()
    x_hist = dates.astype("datetime64[D]") if dates is not None else np.arange(len(y))
    x_fut = future.astype("datetime64[D]") if future is not None else np.arange(len(y), len(y) + len(fc))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(x_hist, y, color="0.2", lw=1.2, label="history")
    ax.plot(x_fut, fc, color="C0", lw=1.6, label="forecast")
    ax.fill_between(x_fut, lo, hi, color="C0", alpha=0.25, label=f"{pct}% interval")
    ax.set_title(f"seqcore forecast: {name}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as exc:
        raise _UsageError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(fig)


def main(argv=None):
    """Entry point of the ``seqcore`` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
        if args.command != "forecast":
            raise _UsageError("choose a command: seqcore forecast [CSV] [options] "
                              "(seqcore forecast --help)")
        _forecast(args)
    except _UsageError as exc:
        print(f"seqcore: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # a data problem found by the forecaster
        print(f"seqcore: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("seqcore: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:   # --help
        return exc.code if isinstance(exc.code, int) else 0
    return 0

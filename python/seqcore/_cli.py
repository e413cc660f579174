"""The ``seqcore`` command line: ``seqcore forecast [CSV] ...``.

With no CSV it forecasts the bundled airline series.  Every user error ends
with one line on stderr and exit code 2, never a traceback, and is found
before any training: the input, every option and every path to write.

Design: a run reads and checks everything (``_read_csv``, ``_check_run``,
``_destination``), trains, stages each output file in a temporary file next
to its destination, then renames the staged files into place (``_Staged``):
an error, Ctrl-C or a closed pipe never leaves a partial file, and the input
file is never a destination.  Ctrl-C exits 130 even though the estimator's
training loop catches ``KeyboardInterrupt`` (it warns and keeps the weights
trained so far): the CLI turns that warning into an error and also keeps
its own SIGINT flag (``_sigint``).
"""

import argparse
import contextlib
import csv
import os
import re
import signal
import stat
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

from . import __version__
from ._cli_common import (_INTERRUPTED_TRAINING, _destination, _fit, _guarded,  # noqa: F401
                          _is_special, _positive_int, _same_file, _seed, _stage, _UsageError)
from .nn._cells import CELLS

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130    # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_BROKEN_PIPE = 141    # 128 + SIGPIPE, as for `yes | head -1`

class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _parser():
    p = _Parser(prog="seqcore", description=(
        "Recurrent networks from the shell: forecast a CSV column (seqcore forecast) "
        "or train a language model on a text and write new text (seqcore generate)."))
    p.add_argument("--version", action="version", version=f"seqcore {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    f = sub.add_parser("forecast", help="forecast a CSV column (default: the bundled "
                                        "airline passengers series)")
    f.add_argument("csv", nargs="?", help="CSV file with a header row; omit for the "
                                          "bundled airline series")
    f.add_argument("--column", help="column to forecast (name or 0-based index); "
                                    "default: the only numeric column (besides the "
                                    "--past and --static ones)")
    f.add_argument("--past", metavar="COL", action="append", type=_column_names, default=[],
                   help="a column of past-only covariates: values known up to each row's "
                        "time only (e.g. a competitor's sales), read by the network over "
                        "its input window and never needed for the forecast period; "
                        "repeat the option or give a comma list (COL1,COL2)")
    f.add_argument("--id", metavar="COL", help="the CSV is a long table of several series, "
                                               "one per value of COL: one global network "
                                               "forecasts every series")
    f.add_argument("--static", metavar="COL", action="append", type=_column_names,
                   default=[],
                   help="with --id: a column of static features, one value per series "
                        "(numbers are standardised, anything else is a category, one-hot "
                        "encoded); repeat the option or give a comma list")
    f.add_argument("--time", metavar="COL", help="with --id: the column of times or dates "
                                                 "(default: the first column not otherwise "
                                                 "used; none: the rows' order)")
    f.add_argument("--sep", type=_separator, default=None,
                   help="field separator of the CSV: one character, or 'tab' (default: "
                        "found from the file among , ; tab and |)")
    f.add_argument("--horizon", type=_positive_int, default=12, help="steps ahead (default 12)")
    f.add_argument("--cell", choices=tuple(CELLS), default="lstm")
    f.add_argument("--window", type=_positive_int, help="input length (default: "
                                                        "2 seasons, or 24)")
    f.add_argument("--strategy", choices=("direct", "recursive"), default="direct")
    f.add_argument("--season", type=_positive_int,
                   help="seasonal period for the naive benchmark and MASE (default: 12 "
                        "for monthly dates, 4 quarterly, 52 weekly, 7 daily, else 1)")
    f.add_argument("--transform", choices=("auto", "none", "log"), default="auto",
                   help="log for a positive series (auto), or none")
    f.add_argument("--coverage", type=_coverage, default=0.9,
                   help="prediction interval coverage (default 0.9)")
    f.add_argument("--max-iter", type=_positive_int, default=200,
                   help="most training epochs (default 200)")
    f.add_argument("--patience", type=_positive_int, default=10,
                   help="stop training after this many epochs without improvement "
                        "(default 10)")
    f.add_argument("--plot", metavar="PNG", help="write a plot of history, forecast and "
                                                 "interval (needs matplotlib)")
    f.add_argument("--output", metavar="CSV", help="write the forecast table as CSV")
    f.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    from ._cli_generate import add_parser   # seqcore generate: its own module
    add_parser(sub)
    return p


def _column_names(text):
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got "
                                         f"{text!r}")
    return names


def _separator(text):
    value = "\t" if text in ("tab", "\\t", "\t") else text
    if len(value) != 1 or value in "\"\r\n" or value.isalnum():
        raise argparse.ArgumentTypeError(f"expected one character that is not a letter, a "
                                         f"digit, a quote or a newline (or 'tab'), got {text!r}")
    return value


_SEPARATORS = ",;\t|"


def _sniff_separator(sample):
    """The field separator of a CSV sample: the one of , ; tab | that splits
    every line of the sample into the same number of fields (more than one);
    a comma when none does (a file of one column)."""
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]   # the last line of a sample may be cut
    best, fields = ",", 1
    for sep in _SEPARATORS:
        counts = {len(next(csv.reader([line], delimiter=sep))) for line in lines}
        if len(counts) == 1 and (n := counts.pop()) > fields:
            best, fields = sep, n
    return best


def _coverage(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


# --------------------------------------------------------------------- data
def _read_rows(path, sep=None):
    """(header, data rows) of a CSV file whose fields are separated by
    ``sep`` (None: found from the file)."""
    try:
        # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the header
        with open(path, newline="", encoding="utf-8-sig") as fh:
            if sep is None:
                sep = _sniff_separator(fh.read(64 * 1024))
                fh.seek(0)
            rows = [r for r in csv.reader(fh, delimiter=sep) if r and any(c.strip() for c in r)]
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
    return header, body


def _column_index(path, header, column, option):
    """The index of a column named (or numbered, from 0) on the command line."""
    if column in header:
        return header.index(column)
    if column.isdigit() and int(column) < len(header):
        return int(column)
    raise _UsageError(f"argument {option}: no column {column!r} in {path} (columns: "
                      f"{', '.join(header)})")


def _covariate_column(path, header, body, j, option):
    """A column of past-only covariates: numbers, none missing."""
    bad = [i for i, r in enumerate(body, 2) if not _is_number(r[j])]
    if bad:
        cell = body[bad[0] - 2][j]
        what = "a missing value" if _is_missing(cell) else f"a non-numeric value {cell!r}"
        raise _UsageError(f"argument {option}: column {header[j]!r} of {path} has {what} at "
                          f"line {bad[0]}: covariates must be complete numbers")
    values = np.array([float(r[j]) for r in body])
    if not np.isfinite(values).all():
        raise _UsageError(f"argument {option}: column {header[j]!r} of {path} has infinite "
                          "values")
    return values


def _read_csv(path, column, sep=None, exclude=(), rows=None, dates=True):
    """(values, period labels or None, column name) from a CSV file whose
    fields are separated by ``sep`` (None: found from the file); the
    columns ``exclude`` (indexes) are not candidates for the default column."""
    header, body = _read_rows(path, sep) if rows is None else rows
    if column is None:
        numeric = [j for j in range(len(header))
                   if j not in exclude
                   and all(_is_number(r[j]) or _is_missing(r[j]) for r in body)
                   and any(_is_number(r[j]) for r in body)]
        if len(numeric) != 1:
            hint = ""
            comma = next((r[j] for r in body for j in range(len(header))
                          if "," in r[j] and _is_number(r[j].replace(",", "."))), None)
            if not numeric and comma is not None:
                hint = (f"; values such as {comma.strip()!r} have a decimal comma, and seqcore "
                        "reads a decimal point (convert the file)")
            raise _UsageError(f"{path} has {len(numeric)} numeric columns; choose one with "
                              f"--column (columns: {', '.join(header)}){hint}")
        j = numeric[0]
    elif column in header:
        j = header.index(column)
    elif column.isdigit() and int(column) < len(header):
        j = int(column)
    else:
        raise _UsageError(f"no column {column!r} in {path} (columns: {', '.join(header)})")
    bad = [i for i, r in enumerate(body, 2) if not (_is_number(r[j]) or _is_missing(r[j]))]
    if bad:
        raise _UsageError(f"column {header[j]!r} of {path} has non-numeric values "
                          f"(first at line {bad[0]}: {body[bad[0] - 2][j]!r}); missing values "
                          f"may be empty or one of {', '.join(repr(m) for m in _MISSING_SHOWN)}")
    values = np.array([np.nan if _is_missing(r[j]) else float(r[j]) for r in body])
    if np.isinf(values).any():
        raise _UsageError(f"column {header[j]!r} of {path} has infinite values")
    if np.isnan(values).all():
        raise _UsageError(f"column {header[j]!r} of {path} has no values, only missing ones")
    labels = None
    if dates and j != 0 and 0 not in exclude:
        labels = _parse_dates([r[0].strip() for r in body])
    return values, labels, header[j]


# Cells read as a missing value (case does not matter), besides an empty one.
_MISSING_SHOWN = ("NA", "N/A", "NaN", "null", "None", "#N/A", "-", ".", "?")
_MISSING = {"", *(m.lower() for m in _MISSING_SHOWN)}


def _is_missing(text):
    return text.strip().lower() in _MISSING


def _is_number(text):
    if _is_missing(text):
        return False
    try:
        float(text)
        return True
    except ValueError:
        return False


def _parse_dates(labels):
    """Regular dates (monthly, quarterly as months, daily, weekly as days,
    yearly) or None.  Quarters may be written 2010Q1 or 2010-Q1 (read as the
    quarter's first month)."""
    quarters = [re.fullmatch(r"(\d{4})-?[Qq]([1-4])", label) for label in labels]
    if labels and all(quarters):
        labels = [f"{m[1]}-{3 * int(m[2]) - 2:02d}" for m in quarters]
    for unit in ("M", "D", "Y"):
        try:
            d = np.array(labels, dtype=f"datetime64[{unit}]")
        except ValueError:
            continue
        if unit == "M" and not _month_starts(labels, d):
            continue   # days within months (daily, weekly): NumPy's months drop the day
        steps = np.diff(d).astype(np.int64)
        if len(steps) and (steps == steps[0]).all() and steps[0] > 0:
            return d
        if unit in ("M", "D") and len(steps) and (steps <= 0).any():
            # real dates out of order (a newest-first export) or repeated: a
            # forecast of the rows as given would run backwards in time
            i = int(np.flatnonzero(steps <= 0)[0])
            raise _UsageError(f"the dates of the first column are not in increasing order "
                              f"({labels[i]!r} then {labels[i + 1]!r} at lines {i + 2} and "
                              f"{i + 3}): sort the file by date, one row per date")
    return None


def _month_starts(labels, months):
    """Whether the labels are months: "2010-01", or the first day of each."""
    try:
        days = np.array(labels, dtype="datetime64[D]")
    except ValueError:
        return True
    return bool((days == months.astype("datetime64[D]")).all())


# NumPy's datetime units as pandas frequency aliases
_PANDAS_UNITS = {"Y": "Y", "M": "M", "W": "W", "D": "D", "h": "h", "m": "min", "s": "s"}


def _infer_season(dates):
    """The season of the dates' step, read from the forecaster's own calendar
    table (``season_from_freq``): a year of months, quarters or weeks, a week
    of days, a day of hours."""
    from ._seasonality import season_from_freq

    if dates is None or len(dates) < 2:
        return 1
    step = int((dates[1] - dates[0]).astype(np.int64))
    unit = np.datetime_data(dates.dtype)[0]
    freq = "W" if (unit, step) == ("D", 7) else f"{step}{_PANDAS_UNITS.get(unit, unit)}"
    return season_from_freq(freq) or 1


# -------------------------------------------------------------------- paths
def _bundled_airline_path():
    """The bundled airline file, when it is a file on disk (not in a zip)."""
    from importlib import resources

    path = resources.files("seqcore.datasets") / "data" / "airline.csv"
    return os.fspath(path) if isinstance(path, os.PathLike) else None


def _plot_format(path):
    """The image format of ``path`` (its extension, else matplotlib's default)."""
    plt = _matplotlib()
    from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    ext = os.path.splitext(path)[1][1:].lower()
    fmt = ext or plt.rcParams["savefig.format"]
    if fmt not in supported:
        raise _UsageError(f"argument --plot: cannot write a {ext!r} image; use one of "
                          f"{', '.join(sorted(supported))}")
    return fmt


def _new_file_mode(path):
    """Permissions for the file replacing ``path``: its own, or 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


class _Staged:
    """Output files written first beside their destinations, under temporary
    names; ``commit`` renames them into place (``os.replace``, atomic within
    a folder), ``discard`` removes whatever was not committed."""

    def __init__(self):
        self._pending = []    # (temporary path, destination)
        self._direct = []     # (device or pipe, writer, binary)

    def add(self, dest, write, binary=False):
        if _is_special(dest):
            self._direct.append((dest, write, binary))
            return
        folder, name = os.path.split(dest)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        self._pending.append((tmp, dest))
        with _open_for(fd, binary) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(dest))

    def commit(self):
        while self._direct:
            dest, write, binary = self._direct.pop(0)
            with _open_for(dest, binary) as fh:
                write(fh)
        while self._pending:
            tmp, dest = self._pending[0]
            os.replace(tmp, dest)
            self._pending.pop(0)

    def discard(self):
        while self._pending:
            tmp, _ = self._pending.pop()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._direct = []


def _open_for(file, binary):
    if binary:
        return open(file, "wb")
    return open(file, "w", newline="", encoding="utf-8")


# ------------------------------------------------------------------- Ctrl-C
@contextlib.contextmanager
def _sigint():
    """Within the block, Ctrl-C sets ``flag["hit"]`` and raises KeyboardInterrupt.

    The flag outlives a KeyboardInterrupt that library code catches (the
    estimators' training loop does).  Installed only over Python's own
    handler in the main thread: an ignored SIGINT (``nohup``, a background
    job) stays ignored.
    """
    flag = {"hit": False}

    def handler(signum, frame):
        flag["hit"] = True
        raise KeyboardInterrupt

    own = (threading.current_thread() is threading.main_thread()
           and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if own:
        signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        if own:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def _quiet_stdout():
    """Point stdout at the null device: its reader has gone (``| head -1``), and
    Python's flush at exit must not report a BrokenPipeError."""
    with contextlib.suppress(OSError, ValueError):   # not a real file (tests)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


# --------------------------------------------------------------------- run
def _forecast(args, interrupted, staged):
    from . import RNNForecaster
    from ._length_rules import _Plan
    from ._theta import ThetaForecaster
    from .model_selection import mase, seasonal_naive, smape

    if args.plot is not None and args.id is None:
        _matplotlib()   # fail before training, not after
    if args.horizon > RNNForecaster.MAX_STEPS:
        raise _UsageError(f"argument --horizon: at most {RNNForecaster.MAX_STEPS} steps, got "
                          f"{args.horizon}")
    past_cols = [c for group in args.past for c in group]
    static_cols = [c for group in args.static for c in group]
    if args.id is not None:
        return _forecast_panel(args, interrupted, staged, past_cols, static_cols)
    if static_cols:
        raise _UsageError("argument --static needs --id: static features describe each "
                          "series of a long table; a single series' static feature is a "
                          "constant, which nothing can learn from")
    if args.time is not None:
        raise _UsageError("argument --time needs --id (a single series' dates are its "
                          "first column)")
    past = None
    if args.csv is None:
        from .datasets import load_airline
        for option, value in (("--column", args.column), ("--sep", args.sep),
                              ("--past", past_cols or None)):
            if value is not None:
                raise _UsageError(f"{option} needs a CSV file")
        y, dates = load_airline(return_dates=True)
        name = "passengers (airline, 1949-1960, thousands)"
        source = _bundled_airline_path()
    else:
        header, body = _read_rows(args.csv, args.sep)
        pj = _distinct_columns(args.csv, header, past_cols, "--past")
        y, dates, name = _read_csv(args.csv, args.column, rows=(header, body), exclude=pj)
        if header.index(name) in pj:
            raise _UsageError(f"argument --past: column {name!r} is the column to forecast")
        if pj:
            past = np.column_stack([_covariate_column(args.csv, header, body, j, "--past")
                                    for j in pj])
        source = args.csv

    # every path and option, before any training
    output = None if args.output is None else _destination(args.output, "--output", source)
    plot = None if args.plot is None else _destination(args.plot, "--plot", source)
    if output is not None and plot is not None and _same_file(output, plot):
        raise _UsageError("arguments --output and --plot name the same file")
    plot_format = None if plot is None else _plot_format(args.plot)
    n, H = len(y), args.horizon
    n_missing = int(np.isnan(y).sum())
    observed = y[np.isfinite(y)]
    season = args.season or _infer_season(dates)
    transform = {"auto": "log" if (observed > 0).all() else None, "none": None,
                 "log": "log"}[args.transform]
    if transform == "log" and (observed <= 0).any():
        raise _UsageError("--transform log needs a positive series")
    if past is not None and args.strategy == "recursive":
        raise _UsageError("argument --past needs --strategy direct: the recursive strategy "
                          "would need the covariates' future values")
    params = dict(window="auto", horizon=H, strategy=args.strategy, cell=args.cell,
                  season=season if (args.season or dates is not None) else "auto",
                  transform=transform, max_iter=args.max_iter,
                  n_iter_no_change=args.patience, random_state=args.seed)
    rules = RNNForecaster(**params)
    plan = rules._plan([y[:, None]])

    def window_for(n, d=plan.differencing):
        """The window a run on n values uses: --window, or the forecaster's own
        rule (``_Plan``) for a final fit on n values; the backtest uses the same."""
        auto = _Plan(rules, [n], plan.season, d).window
        return args.window if args.window is not None else auto

    longest = max(2, (n - 2 * H) // 3)
    window = window_for(n)
    params["window"] = window
    if args.window is not None and args.window > longest:
        raise _UsageError(f"argument --window: {args.window} is too long for {n} values "
                          f"and horizon {H} (at most {longest})")
    # A series too short for the network's run (a backtest, then a fit with a
    # tail held out to calibrate the intervals) gets the Theta method, as
    # forecast_many and RNNForecaster give a series too short for the network
    fallback = not _long_enough(RNNForecaster, params, y)
    if fallback:
        if observed.size < 2:
            raise _UsageError(f"the series has {observed.size} observed value: too few "
                              "values to forecast from (the Theta method needs 2)")
        # say what the network's run needs, in the user's terms: the
        # forecaster's own rules speak of the backtest's shorter series, not of
        # the file.  They depend on the data too: a differenced series (a
        # trend; a test on the values decides) needs one value more per fit
        fewest = []
        for d in (0, 1):
            plan.differencing = d
            fewest.append(next((m for m in range(n + 1, n + 100_000) if _long_enough(
                RNNForecaster, dict(params, window=window_for(m, d)), m, plan)), None))
        need = (f"at least {fewest[0]} values" + (f", {fewest[1]} for a series with a trend"
                                                  if fewest[1] != fewest[0] else "")
                if fewest[0] else "more values")
        print(f"seqcore: warning: the series has {n} values, too few for the network with "
              f"horizon {H} (its run needs {need}: it fits on all but the last {H} "
              f"value{'s' if H > 1 else ''} to backtest, then on all of them with a tail "
              "held out to calibrate the intervals); forecasting with the Theta method "
              "instead (fallback: theta)"
              + ("; Theta does not read the --past covariates" if past is not None else ""),
              file=sys.stderr, flush=True)
    # the seasonal naive benchmark and MASE need a season and one more value
    # before the held-out ones: a --season too long is refused; the season of
    # the dates of a series too short for the network skips the backtest
    can_backtest = season < n - H and np.isfinite(y[:-H]).sum() >= 2
    if not can_backtest and (args.season or not fallback):
        origin, hint = ("argument --season", "") if args.season else (
            "the season inferred from the dates", "; set --season")
        raise _UsageError(f"{origin}: {season} is too long for {n} values and horizon {H} "
                          f"(at most {n - H - 1}{hint})")

    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    model_name = "Theta method (fallback: too few values for the network)" if fallback else (
        f"{args.cell}, window {window}")
    print(f"seqcore forecast: {name}, {n} values, horizon {H}, {model_name}, "
          f"season {season}"
          + (f", past-only covariates {', '.join(header[j] for j in pj)}"
             if past is not None and not fallback else ""), flush=True)
    if n_missing:
        print(f"filled {n_missing} missing value{'s' if n_missing > 1 else ''} (interpolated "
              + ("before the Theta method)" if fallback else
                 "in the network's inputs, left out of its training targets)"), flush=True)
    filled = _interpolated(y)                # the benchmark and the scales need every value
    fit_kw = {} if past is None else {"X_past": past}
    back_kw = {} if past is None else {"X_past": past[:-H]}
    bt_pred = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if fallback:
            if can_backtest:
                progress(f"[1/2] backtest: the Theta method on the first {n - H} values ...")
                bt_pred = ThetaForecaster(season=season).fit(filled[:-H]).predict(H)
            progress(f"[2/2] the Theta method on all {n} values ...")
            fc, lo, hi = ThetaForecaster(season=season).fit(filled).predict_interval(
                H, coverage=args.coverage)
        else:
            progress(f"[1/2] backtest: training on the first {n - H} values ...")
            bt = _fit(RNNForecaster(calibration_size=0, **params), y[:-H], interrupted,
                      **back_kw)
            bt_pred = bt.predict(H)
            progress(f"[2/2] training on all {n} values, calibrating the intervals ...")
            model = _fit(RNNForecaster(**params), y, interrupted, **fit_kw)
            fc, lo, hi = model.predict_interval(H, coverage=args.coverage)
        seconds = time.perf_counter() - t0

    seen = np.isfinite(y[-H:]) if can_backtest else None   # scored on the observed values
    test = y[-H:][seen] if can_backtest else None
    naive = seasonal_naive(filled[:-H], H, season) if can_backtest else None

    def scaled(pred):
        try:
            return f"{mase(test, pred[seen], filled[:-H], season):>10.3f}"
        except ValueError:   # a series the seasonal naive forecast fits exactly
            return f"{'n/a':>10}"
    future = (dates[-1] + (dates[1] - dates[0]) * np.arange(1, H + 1)) if dates is not None else None
    pct = int(round(args.coverage * 100))

    # the files first, all or none: a closed stdout must not lose them
    if output is not None:
        def write_table(fh):
            w = csv.writer(fh)
            w.writerow(["step", "period", "forecast", "lower", "upper"])
            for h in range(H):
                w.writerow([h + 1, str(future[h]) if future is not None else "",
                            f"{fc[h]:.6g}", f"{lo[h]:.6g}", f"{hi[h]:.6g}"])
        _stage(staged, output, args.output, write_table)
    if plot is not None:
        fig = _plot_figure(y, dates, future, fc, lo, hi, name, pct)
        try:
            _stage(staged, plot, args.plot,
                   lambda fh: fig.savefig(fh, format=plot_format, dpi=100), binary=True)
        finally:
            _matplotlib().close(fig)
    try:
        staged.commit()
    except OSError as exc:
        raise _UsageError(f"cannot write the output files: {exc}") from None

    lines = [f"{'step':>4}  {'period':>10}  {'forecast':>12}  {f'lower {pct}%':>12}  {f'upper {pct}%':>12}"]
    for h in range(H):
        period = str(future[h]) if future is not None else "-"
        lines.append(f"{h + 1:>4}  {period:>10}  {fc[h]:>12.2f}  {lo[h]:>12.2f}  {hi[h]:>12.2f}")
    print("\n".join(lines))
    label = "theta (fallback)" if fallback else f"seqcore ({args.cell})"
    if not can_backtest:
        print(f"\nBacktest: none (the series is too short to hold out its last {H} "
              f"value{'s' if H > 1 else ''} and fit on the rest)")
    else:
        print(f"\nBacktest on the last {H} values (model fit on the values before them):")
        print(f"  {'':<22}{'sMAPE %':>10}{'MASE':>10}")
        if not seen.any():
            print("  (the last values are all missing: nothing to score)")
        else:
            print(f"  {label:<22}{smape(test, bt_pred[seen]):>10.2f}{scaled(bt_pred)}")
            print(f"  {f'seasonal naive (m={season})':<22}{smape(test, naive[seen]):>10.2f}"
                  f"{scaled(naive)}")
    if fallback:
        print("\nmodel: the Theta method (fallback: the series is too short for the network)")
    print(f"\ntrained in {seconds:.1f}s")
    if output is not None:
        print(f"forecast written to {args.output}")
    if plot is not None:
        print(f"plot written to {args.plot}")


def _forecast_panel(args, interrupted, staged, past_cols, static_cols):
    """``seqcore forecast FILE --id COL``: every series of a long table, by one
    global network (``forecast_many(global_model=True)``)."""
    from . import RNNForecaster
    from .forecasting import forecast_many

    if args.csv is None:
        raise _UsageError("argument --id needs a CSV file (a long table of several series)")
    if args.plot is not None:
        raise _UsageError("argument --plot draws one series; with --id write the forecasts "
                          "with --output")
    header, body = _read_rows(args.csv, args.sep)
    ij = _column_index(args.csv, header, args.id, "--id")
    pj = _distinct_columns(args.csv, header, past_cols, "--past")
    sj = _distinct_columns(args.csv, header, static_cols, "--static")
    roles = {ij: "--id"}
    for option, idx in (("--past", pj), ("--static", sj)):
        for j in idx:
            if j in roles:
                raise _UsageError(f"argument {option}: column {header[j]!r} is already "
                                  f"the {roles[j][2:]} column")
            roles[j] = option
    y, _, name = _read_csv(args.csv, args.column, rows=(header, body), exclude=set(roles),
                           dates=False)
    j = header.index(name)
    if j in roles:
        raise _UsageError(f"argument {roles[j]}: column {name!r} is the column to forecast")
    roles[j] = "--column"
    if args.time is not None and args.time.lower() == "none" and args.time not in header:
        tj = None    # the rows' order
    elif args.time is not None:
        tj = _column_index(args.csv, header, args.time, "--time")
        if tj in roles:
            raise _UsageError(f"argument --time: column {header[tj]!r} is "
                              + ("the column to forecast" if roles[tj] == "--column"
                                 else f"already the {roles[tj][2:]} column"))
    else:
        tj = next((k for k in range(len(header)) if k not in roles), None)
    if np.isnan(y).any():
        line = int(np.flatnonzero(np.isnan(y))[0]) + 2
        raise _UsageError(f"column {name!r} of {args.csv} has a missing value (line {line}): "
                          "a table of several series must be complete")
    blank = next((i for i, r in enumerate(body) if not r[ij].strip()), None)
    if blank is not None:   # else a series of its own
        raise _UsageError(f"column {header[ij]!r} of {args.csv} has a missing value (line "
                          f"{blank + 2}): every row needs the id of its series")
    output = None if args.output is None else _destination(args.output, "--output", args.csv)
    H = args.horizon
    # the table's columns keep the file's names: forecast_many's messages name them
    table = {header[ij]: [r[ij].strip() for r in body], name: y}
    times = None
    if tj is not None:
        labels = [r[tj].strip() for r in body]
        if all(_is_number(v) for v in labels):
            times = np.array([float(v) for v in labels])
        else:   # quarters written 2010Q1 or 2010-Q1 read as their first month
            quarters = [re.fullmatch(r"(\d{4})-?[Qq]([1-4])", v) for v in labels]
            times = ([f"{m[1]}-{3 * int(m[2]) - 2:02d}" for m in quarters] if all(quarters)
                     else labels)
        table[header[tj]] = times
    for k in pj:
        table[header[k]] = _covariate_column(args.csv, header, body, k, "--past")
    for k in sj:
        cells = [r[k].strip() for r in body]
        numbers = all(_is_number(v) for v in cells)
        table[header[k]] = [float(v) if numbers else (None if _is_missing(v) else v)
                            for v in cells]
    season = args.season or _panel_season(table[header[ij]],
                                          None if tj is None else table[header[tj]])
    if args.transform == "log" and (y <= 0).any():
        raise _UsageError("--transform log needs positive series")
    transform = {"auto": "auto", "none": None, "log": "log"}[args.transform]
    forecaster = RNNForecaster(
        window="auto" if args.window is None else args.window, horizon=H,
        strategy=args.strategy, cell=args.cell,
        season=args.season if args.season else "auto", transform=transform,
        max_iter=args.max_iter, n_iter_no_change=args.patience, random_state=args.seed)
    past_names = [header[k] for k in pj] or None
    static_names = [header[k] for k in sj] or None
    time_name = None if tj is None else header[tj]
    backtest = _panel_can_backtest(forecaster, table, header[ij], time_name, name,
                                   past_names, static_names, H, args.coverage, season)

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = _guarded(lambda: forecast_many(
            table, horizon=H, forecaster=forecaster, global_model=True,
            coverage=args.coverage, backtest=backtest, season=season, random_state=args.seed,
            return_models=True, id_col=header[ij], time_col=time_name, value_col=name,
            past=past_names, static=static_names), interrupted)
    seconds = time.perf_counter() - t0
    # after the run: forecast_many checks the table (static values constant
    # within a series, ...) before it trains, and a refusal prints nothing here
    print(f"seqcore forecast: {len(res.names)} series of {name} by {header[ij]}, horizon {H}, "
          f"one global {args.cell} network"
          + (f", past-only covariates {', '.join(header[k] for k in pj)}" if pj else "")
          + (f", static features {', '.join(header[k] for k in sj)}" if sj else ""),
          flush=True)
    model = res.models[res.names[0]]
    kinds = dict(zip(res.names, model.fallback_))
    periods = {k: ([str(t)[:10] for t in res.times[k]] if res.times is not None
                   else ["-"] * H) for k in res.names}
    pct = int(round(args.coverage * 100))

    if output is not None:
        def write_table(fh):
            w = csv.writer(fh)
            w.writerow([header[ij], "step", "period", "forecast", "lower", "upper", "model"])
            for k in res.names:
                for h in range(H):
                    w.writerow([k, h + 1, "" if periods[k][h] == "-" else periods[k][h],
                                f"{res.forecasts[k][h]:.6g}", f"{res.lower[k][h]:.6g}",
                                f"{res.upper[k][h]:.6g}", kinds[k]])
        _stage(staged, output, args.output, write_table)
    try:
        staged.commit()
    except OSError as exc:
        raise _UsageError(f"cannot write the output files: {exc}") from None

    width = max(len(str(k)) for k in res.names + [header[ij]])
    lines = [f"{header[ij]:>{width}}  {'step':>4}  {'period':>10}  {'forecast':>12}  "
             f"{f'lower {pct}%':>12}  {f'upper {pct}%':>12}  model"]
    for k in res.names:
        for h in range(H):
            lines.append(f"{str(k):>{width}}  {h + 1:>4}  {periods[k][h]:>10}  "
                         f"{res.forecasts[k][h]:>12.2f}  {res.lower[k][h]:>12.2f}  "
                         f"{res.upper[k][h]:>12.2f}  {kinds[k]}")
    print("\n".join(lines))
    short = [k for k in res.names if kinds[k] != "network"]
    if short:
        print(f"\n{len(short)} series too short for the network's lookback: "
              + ", ".join(f"{k} ({kinds[k]})" for k in short[:10])
              + (", ..." if len(short) > 10 else "")
              + " (short_context: the network from a shorter window; theta: the Theta "
                "method; naive: the last value)")
    if backtest:
        m = res.mean_scores
        print(f"\nBacktest on the last {H} values of every series (mean over the series):")
        print(f"  {'':<22}{'sMAPE %':>10}{'MASE':>10}")
        print(f"  {'seqcore (global ' + args.cell + ')':<22}{m['smape']:>10.2f}"
              f"{m['mase']:>10.3f}")
        print(f"  {f'seasonal naive (m={season})':<22}{m['naive_smape']:>10.2f}"
              f"{m['naive_mase']:>10.3f}")
    else:
        print(f"\nBacktest: none (a series is too short to fit on all but its last {H} "
              f"value{'s' if H > 1 else ''} and score them against the seasonal naive "
              f"forecast, m={season})")
    print(f"\ntrained in {seconds:.1f}s")
    if output is not None:
        print(f"forecast written to {args.output}")


def _panel_can_backtest(forecaster, table, id_col, time_col, value_col, past, static, H,
                        coverage, season):
    """Whether forecast_many can backtest every series of the table (its own
    rules, read before any training; the table's errors show here too)."""
    from .forecasting import _check_lengths, _read_series
    from .model_selection import RollingOrigin
    names, ys, *_ = _read_series(table, id_col, time_col, value_col, None, past or (),
                                 static or ())
    try:
        _check_lengths(forecaster, names, ys, H, coverage, True, True,
                       RollingOrigin(H, 1, H, min_train=season + 1), season)
    except ValueError:
        return False
    return True


def _panel_season(ids, times):
    """The season of the benchmark: from the dates of the first series, else 1."""
    if times is None or isinstance(times, np.ndarray):
        return 1
    labels = [t for i, t in zip(ids, times) if i == ids[0]]
    try:
        dates = _parse_dates(sorted(labels))
    except _UsageError:
        return 1
    return _infer_season(dates)


def _distinct_columns(path, header, names, option):
    """The indexes of the columns an option names, each once."""
    idx = [_column_index(path, header, c, option) for c in names]
    if len(set(idx)) != len(idx):
        dup = next(header[j] for j in idx if idx.count(j) > 1)
        raise _UsageError(f"argument {option}: column {dup!r} is named twice")
    return idx


def _long_enough(forecaster, params, y, like=None):
    """Whether the forecaster's own length rules accept the run on y: the
    backtest fit on all but the last H values, and the final fit with its
    calibration tail.  With ``like`` (a plan of another series), y is a
    length, and the rules are read with that plan's season and differencing."""
    from ._length_rules import _Plan

    H = params["horizon"]
    rules = forecaster(**params)
    if like is None:
        n = len(y)
        backtest = rules._plan([y[:-H, None]] if n > H else [y[:, None]])
        final = rules._plan([y[:, None]])
    else:
        n = y
        backtest = _Plan(rules, [max(n - H, 0)], like.season, like.differencing)
        final = _Plan(rules, [n], like.season, like.differencing)
    try:
        backtest.check([max(n - H, 0)])
        final.check([n], need_calibration=True)
    except ValueError:
        return False
    return True


def _interpolated(y):
    """y with its missing values filled linearly (constant beyond the ends)."""
    ok = np.isfinite(y)
    if ok.all():
        return y
    t = np.arange(len(y))
    return np.interp(t, t[ok], y[ok])


def _matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise _UsageError("--plot needs matplotlib: pip install 'seqcore-rnn[plot]'") from None
    return plt


def _plot_figure(y, dates, future, fc, lo, hi, name, pct):
    """History, forecast and interval with labelled axes: seqcore's
    ForecastDisplay, on a figure of its own."""
    plt = _matplotlib()
    from .plotting import ForecastDisplay
    x_hist = dates.astype("datetime64[D]") if dates is not None else None
    x_fut = (future.astype("datetime64[D]") if future is not None
             else np.arange(len(y), len(y) + len(fc)))
    fig, ax = plt.subplots(figsize=(9, 4))
    ForecastDisplay(y, fc, lo, hi, index=x_hist, forecast_index=x_fut, coverage=pct / 100,
                    series_name=name).plot(ax=ax, title=f"seqcore forecast: {name}")
    fig.tight_layout()
    return fig


def main(argv=None):
    """Entry point of the ``seqcore`` console script; returns the exit code."""
    staged = _Staged()
    try:
        with _sigint() as interrupted:
            args = _parser().parse_args(argv)
            if args.command not in ("forecast", "generate"):
                raise _UsageError("choose a command: seqcore forecast [CSV] [options] "
                                  "(seqcore forecast --help), or seqcore generate [TEXTFILE]")
            getattr(args, "run", _forecast)(args, interrupted, staged)
            sys.stdout.flush()      # a closed pipe shows here, not at exit
    except _UsageError as exc:
        print(f"seqcore: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # a data problem found by the forecaster
        print(f"seqcore: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("seqcore: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except SystemExit as exc:   # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    finally:
        staged.discard()
    return 0

"""Tests for the ``seqcore`` command line, end to end in a subprocess
(``python -m seqcore``, so they run against the installed package) and
through the console-script function ``seqcore._cli.main``.

Only the default run trains for real (about 10-20 s); other runs use a few
epochs because what they check is the plumbing, not accuracy.  Runs that
must be refused before training ask for 100000 epochs (``LONG``), so that
training at all would show; the Ctrl-C test interrupts such a run.
"""

import csv
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

from conftest import subprocess_env
from seqcore._cli import main
from seqcore.datasets import load_airline
from seqcore.forecasting import ThetaForecaster
from seqcore.model_selection import mase, seasonal_naive, smape

# "   1     1961-01        449.36        410.82        491.51"
ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+(-?\d+\.\d+)\s*$")
# "  seasonal naive (m=12)      10.57     1.571"
SCORE = re.compile(r"^\s+(.+?)\s+(\d+\.\d+)\s+(\d+\.\d+)\s*$")


def run_cli(*args, cwd, env=None):
    """``python -m seqcore ARGS`` in a fresh interpreter, with this environment."""
    return subprocess.run([sys.executable, "-m", "seqcore", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd,
                          env=subprocess_env() if env is None else env, timeout=600)


def table(stdout):
    """The forecast table: (step, period, forecast, lower, upper) per row."""
    rows = []
    for line in stdout.splitlines():
        m = ROW.match(line)
        if m:
            rows.append((int(m[1]), m[2], float(m[3]), float(m[4]), float(m[5])))
    return rows


def scores(stdout):
    """The backtest lines: label -> (sMAPE, MASE)."""
    out = {}
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Backtest"))
    for line in lines[start + 2:start + 4]:
        m = SCORE.match(line)
        assert m, line
        out[m[1]] = (float(m[2]), float(m[3]))
    return out


def assert_usage_error(proc, match):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert err[0].startswith("seqcore: error: "), err
    assert re.search(match, err[0]), err[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def months(start_year, n):
    return [f"{start_year + i // 12}-{i % 12 + 1:02d}" for i in range(n)]


@pytest.fixture(scope="module")
def monthly_csv(tmp_path_factory):
    """60 months (2010-01 .. 2014-12): a date column and one value column."""
    rng = np.random.default_rng(0)
    t = np.arange(60)
    sales = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(60)
    path = tmp_path_factory.mktemp("csv") / "sales.csv"
    return write_csv(path, ["month", "sales"], [[m, f"{v:.3f}"] for m, v in zip(months(2010, 60), sales)])


@pytest.fixture(scope="module")
def two_column_csv(tmp_path_factory):
    """60 months with two numeric columns, sales and price."""
    rng = np.random.default_rng(1)
    t = np.arange(60)
    sales = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(60)
    price = 5 + rng.standard_normal(60).cumsum() * 0.1
    path = tmp_path_factory.mktemp("csv") / "two.csv"
    return write_csv(path, ["month", "sales", "price"],
                     [[m, f"{s:.3f}", f"{p:.3f}"] for m, s, p in zip(months(2010, 60), sales, price)])


# ------------------------------------------------------------- successful runs

def test_default_run_on_bundled_airline(tmp_path):
    proc = run_cli("forecast", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.startswith("seqcore forecast: passengers")
    assert "season 12" in proc.stdout.splitlines()[0]
    rows = table(proc.stdout)
    assert [r[0] for r in rows] == list(range(1, 13))
    assert [r[1] for r in rows] == [f"1961-{m:02d}" for m in range(1, 13)]
    for _, _, fc, lo, hi in rows:
        assert 0 < lo <= fc <= hi
    # progress on stderr while it trains
    assert "[1/2]" in proc.stderr and "[2/2]" in proc.stderr
    s = scores(proc.stdout)
    assert set(s) == {"seqcore (lstm)", "seasonal naive (m=12)"}
    y = load_airline()
    naive = seasonal_naive(y[:132], 12, season=12)
    assert s["seasonal naive (m=12)"] == (round(smape(y[132:], naive), 2),
                                          round(mase(y[132:], naive, y[:132], 12), 3))
    # the main job's claim: seqcore beats the seasonal naive forecast
    assert s["seqcore (lstm)"][0] < s["seasonal naive (m=12)"][0]


def test_csv_with_date_column_horizon_and_output(tmp_path, monthly_csv):
    out = tmp_path / "forecast.csv"
    proc = run_cli("forecast", monthly_csv, "--horizon", 6, "--max-iter", 3, "--output", out,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert "sales, 60 values, horizon 6" in header and "season 12" in header
    rows = table(proc.stdout)
    assert [r[1] for r in rows] == [f"2015-{m:02d}" for m in range(1, 7)]
    assert set(scores(proc.stdout)) == {"seqcore (lstm)", "seasonal naive (m=12)"}
    assert f"forecast written to {out}" in proc.stdout
    with open(out, newline="", encoding="utf-8") as fh:
        written = list(csv.reader(fh))
    assert written[0] == ["step", "period", "forecast", "lower", "upper"]
    assert len(written) == 7
    for (step, period, fc, lo, hi), line in zip(rows, written[1:]):
        assert int(line[0]) == step and line[1] == period
        values = [float(v) for v in line[2:]]
        np.testing.assert_allclose(values, [fc, lo, hi], atol=0.006)   # table: 2 decimals
        assert values[1] <= values[0] <= values[2]


def test_column_by_name_and_by_index_agree(tmp_path, two_column_csv):
    runs = {}
    for column in ("sales", "1"):
        out = tmp_path / f"out_{column}.csv"
        proc = run_cli("forecast", two_column_csv, "--column", column, "--horizon", 4,
                       "--max-iter", 2, "--output", out, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("seqcore forecast: sales, 60 values, horizon 4")
        assert len(table(proc.stdout)) == 4
        runs[column] = out.read_text()
    assert runs["sales"] == runs["1"]      # same column, same seed: same forecast


def test_help_lists_the_options(tmp_path):
    proc = run_cli("forecast", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for option in ("--column", "--horizon", "--cell", "--window", "--coverage", "--plot",
                   "--output", "--seed", "--past", "--static", "--id", "--time"):
        assert option in proc.stdout


# ------------------------------------------------------------------- plotting

def test_plot_without_matplotlib_is_a_clear_error(tmp_path, monthly_csv):
    """A ``matplotlib`` that fails to import stands in for a missing one."""
    fake = tmp_path / "fake"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text(
        "raise ImportError('No module named matplotlib (test stand-in)')\n")
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(fake), env.get("PYTHONPATH")) if p)
    png = tmp_path / "plot.png"
    proc = run_cli("forecast", monthly_csv, "--horizon", 3, "--max-iter", 1, "--plot", png,
                   cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("seqcore: error: ") and "matplotlib" in last
    assert "pip install" in last
    assert "Traceback" not in proc.stderr
    assert not png.exists()


def test_plot_writes_png(tmp_path, monthly_csv):
    pytest.importorskip("matplotlib")
    png = tmp_path / "plot.png"
    proc = run_cli("forecast", monthly_csv, "--horizon", 3, "--max-iter", 1, "--plot", png,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in proc.stdout


# ---------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    n = 60
    write_csv(d / "text.csv", ["month", "value"],
              [[m, "abc" if i == 7 else str(100 + i)] for i, m in enumerate(months(2010, n))])
    write_csv(d / "inf.csv", ["month", "value"],
              [[m, "inf" if i == 7 else str(100 + i)] for i, m in enumerate(months(2010, n))])
    write_csv(d / "all_missing.csv", ["month", "value"],
              [[m, "NA"] for m in months(2010, n)])
    write_csv(d / "short.csv", ["month", "value"], [[m, str(100 + i)] for i, m in
                                                    enumerate(months(2010, 20))])
    write_csv(d / "negative.csv", ["month", "value"], [[m, str(i - 30)] for i, m in
                                                       enumerate(months(2010, n))])
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("month,value\n")
    (d / "ragged.csv").write_text("month,value\n2010-01,1\n2010-02,2,3\n")
    write_csv(d / "gappy_price.csv", ["month", "sales", "price"],
              [[m, str(100 + i), "" if i == 3 else str(5 + i % 3)]
               for i, m in enumerate(months(2010, n))])
    return d


# case id -> (arguments, with {d} for the bad-files folder; message pattern)
BAD_INPUT = {
    "no_command": ([], "choose a command"),
    "unknown_command": (["bogus"], "invalid choice"),
    "missing_file": (["forecast", "{d}/missing.csv"], "no such file"),
    "no_such_column": (["forecast", "{two}", "--column", "revenue"], "no column 'revenue'"),
    "column_index_out_of_range": (["forecast", "{two}", "--column", "7"], "no column '7'"),
    "several_numeric_columns": (["forecast", "{two}"], "2 numeric columns.*--column"),
    "non_numeric_values": (["forecast", "{d}/text.csv", "--column", "value"],
                           "non-numeric.*line 9.*'abc'"),
    "non_numeric_column": (["forecast", "{two}", "--column", "month"], "non-numeric"),
    "inf_values": (["forecast", "{d}/inf.csv"], "infinite values"),
    "only_missing_values": (["forecast", "{d}/all_missing.csv", "--column", "value"],
                            "no values, only missing ones"),
    "empty_csv": (["forecast", "{d}/empty.csv"], "no data rows"),
    "header_only_csv": (["forecast", "{d}/header_only.csv"], "no data rows"),
    "ragged_rows": (["forecast", "{d}/ragged.csv"], "different numbers of fields"),
    "horizon_zero": (["forecast", "--horizon", "0"], "--horizon.*positive integer"),
    "horizon_not_integer": (["forecast", "--horizon", "1.5"], "--horizon.*positive integer"),
    "horizon_text": (["forecast", "--horizon", "soon"], "--horizon.*positive integer"),
    "static_without_id": (["forecast", "{two}", "--column", "sales", "--static", "price"],
                          "--static needs --id"),
    "past_is_the_target": (["forecast", "{two}", "--column", "sales", "--past", "sales"],
                           "--past: column 'sales' is the column to forecast"),
    "past_no_such_column": (["forecast", "{two}", "--column", "sales", "--past", "promo"],
                            "--past: no column 'promo'"),
    "past_named_twice": (["forecast", "{two}", "--past", "price,price"],
                         "--past: column 'price' is named twice"),
    "past_with_a_missing_value": (["forecast", "{d}/gappy_price.csv", "--column", "sales",
                                   "--past", "price"],
                                  "--past: column 'price'.*missing value at line 5"),
    "past_without_csv": (["forecast", "--past", "price"], "--past needs a CSV"),
    "past_with_the_recursive_strategy": (["forecast", "{two}", "--column", "sales", "--past",
                                          "price", "--strategy", "recursive"],
                                         "--past needs --strategy direct"),
    "time_without_id": (["forecast", "{two}", "--column", "sales", "--time", "month"],
                        "--time needs --id"),
    "id_without_csv": (["forecast", "--id", "store"], "--id needs a CSV"),
    "id_no_such_column": (["forecast", "{two}", "--id", "store"], "--id: no column 'store'"),
    "coverage_above_one": (["forecast", "--coverage", "1.5"], "--coverage.*\\(0, 1\\)"),
    "coverage_zero": (["forecast", "--coverage", "0"], "--coverage"),
    "unknown_cell": (["forecast", "--cell", "transformer"], "--cell.*invalid choice"),
    "column_without_csv": (["forecast", "--column", "value"], "--column needs a CSV"),
    "log_of_non_positive": (["forecast", "{d}/negative.csv", "--transform", "log"], "positive"),
}


# End to end in a subprocess (an interpreter start each, ~2 s): the paths the
# issue names. Every case also runs in-process through main() below.
SUBPROCESS_CASES = ["no_command", "missing_file", "no_such_column", "non_numeric_values",
                    "several_numeric_columns", "horizon_zero", "horizon_not_integer",
                    "static_without_id", "empty_csv", "coverage_above_one"]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_bad_input_exits_2_with_one_line(case, bad_files, two_column_csv, tmp_path):
    args, match = BAD_INPUT[case]
    args = [a.format(d=bad_files, two=two_column_csv) for a in args]
    proc = run_cli(*args, cwd=tmp_path)
    assert_usage_error(proc, match)
    assert proc.stdout == ""          # nothing ran


# ------------------------------------------------------- console-script function

@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_main_bad_input_returns_2_with_one_line(case, bad_files, two_column_csv, capsys):
    args, match = BAD_INPUT[case]
    args = [a.format(d=bad_files, two=two_column_csv) for a in args]
    assert main(args) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqcore: error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert out == ""


def test_main_returns_0_on_a_small_csv_without_dates(capsys, tmp_path):
    """A single value column: no dates, so season 1 and no periods."""
    rng = np.random.default_rng(2)
    path = write_csv(tmp_path / "values.csv", ["value"],
                     [[f"{v:.4f}"] for v in 10 + rng.standard_normal(40).cumsum() * 0.1])
    assert main(["forecast", str(path), "--horizon", "3", "--max-iter", "1"]) == 0
    out = capsys.readouterr().out
    assert "value, 40 values, horizon 3" in out and "season 1" in out
    rows = table(out)
    assert [(r[0], r[1]) for r in rows] == [(1, "-"), (2, "-"), (3, "-")]
    assert "seasonal naive (m=1)" in out


# ---------------------------------------------- paths and options, before training

# A run that would train for minutes if it started: every refusal below must
# come first (stdout stays empty: the header line is printed just before
# training).
LONG = ["--max-iter", "100000", "--patience", "100000"]


@pytest.fixture
def workdir(tmp_path, monthly_csv):
    """A folder holding a copy of the monthly series and an empty subfolder."""
    (tmp_path / "sales.csv").write_bytes(monthly_csv.read_bytes())
    (tmp_path / "sub").mkdir()
    return tmp_path


def listing(folder):
    """Every file under folder with its bytes: "wrote nothing" is equality."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def no_training(monkeypatch):
    """In-process runs: training at all fails the test."""
    import seqcore

    def refuse(self, *args, **kwargs):
        raise AssertionError("the forecaster was trained before the refusal")
    monkeypatch.setattr(seqcore.RNNForecaster, "fit", refuse)


# case id -> (arguments after "forecast sales.csv", message pattern); run in workdir
BAD_OPTIONS = {
    "output_is_a_directory": (["--output", "sub"], "--output: sub is a directory"),
    "output_is_the_current_folder": (["--output", "."], "--output: \\. is a directory"),
    "plot_is_a_directory": (["--plot", "sub"], "--plot: sub is a directory"),
    "output_in_a_missing_folder": (["--output", "missing/out.csv"], "--output.*missing does not exist"),
    "plot_in_a_missing_folder": (["--plot", "missing/plot.png"], "--plot.*missing does not exist"),
    "output_under_a_file": (["--output", "sales.csv/out.csv"], "--output.*sales.csv is not a folder"),
    "output_names_a_folder": (["--output", "new/"], "--output: new/ names a folder"),
    "output_empty_name": (["--output", ""], "--output: expected a file name"),
    "output_and_plot_the_same": (["--output", "x.png", "--plot", "x.png"], "--output and --plot"),
    "plot_unknown_format": (["--plot", "plot.xyz"], "--plot: cannot write a 'xyz' image"),
    # 60 values, horizon 12: the seasonal naive benchmark needs season < 48
    "season_too_long": (["--season", "48"], "--season: 48 is too long for 60 values.*at most 47"),
    "season_far_too_long": (["--season", "1000"], "--season: 1000 is too long"),
    # 60 values, horizon 12: window at most (60 - 24) // 3 = 12
    "window_too_long": (["--window", "13"], "--window: 13 is too long for 60 values.*at most 12"),
    "seed_negative": (["--seed", "-1"], "--seed"),
    "patience_zero": (["--patience", "0"], "--patience.*positive integer"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_main_refuses_bad_options_before_training(case, workdir, no_training, monkeypatch,
                                                 capsys):
    if "--plot" in BAD_OPTIONS[case][0]:
        pytest.importorskip("matplotlib")
    args, match = BAD_OPTIONS[case]
    monkeypatch.chdir(workdir)
    before = listing(workdir)
    assert main(["forecast", "sales.csv", *args, *LONG]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqcore: error: "), err
    assert re.search(match, lines[0]), lines[0]
    assert out == ""
    assert listing(workdir) == before


@pytest.mark.parametrize("case", ["output_is_a_directory", "output_in_a_missing_folder",
                                  "season_too_long", "window_too_long"])
def test_bad_options_refused_fast_in_a_subprocess(case, workdir):
    args, match = BAD_OPTIONS[case]
    before = listing(workdir)
    start = time.perf_counter()
    proc = run_cli("forecast", "sales.csv", *args, *LONG, cwd=workdir)
    # an interpreter start, not 100000 epochs
    assert time.perf_counter() - start < 15
    assert_usage_error(proc, match)
    assert proc.stdout == ""
    assert listing(workdir) == before


def test_limits_of_season_and_window_are_accepted(workdir, monkeypatch, capsys):
    """The largest --season and --window the refusals allow do run."""
    monkeypatch.chdir(workdir)
    assert main(["forecast", "sales.csv", "--season", "47", "--window", "12",
                 "--max-iter", "1"]) == 0
    out = capsys.readouterr().out
    assert "window 12, season 47" in out and "seasonal naive (m=47)" in out


def unwritable_folder(candidates):
    """The first folder in which this user cannot create a file, or None."""
    for folder in candidates:
        try:
            fd, probe = tempfile.mkstemp(dir=folder)
        except OSError:
            return folder
        os.close(fd)
        os.unlink(probe)
    return None


def test_output_in_a_folder_that_cannot_be_written(workdir, no_training, capsys):
    locked = workdir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        # root writes anywhere, except in sysfs and procfs
        folder = unwritable_folder([locked, "/sys", "/proc"])
        if folder is None:
            pytest.skip("no folder this user cannot write to")
        target = os.path.join(folder, "seqcore-forecast.csv")
        before = listing(workdir)
        assert main(["forecast", str(workdir / "sales.csv"), "--output", target, *LONG]) == 2
        out, err = capsys.readouterr()
        assert re.match(r"seqcore: error: argument --output: cannot write in \S+: ", err), err
        assert len(err.strip().splitlines()) == 1
        assert out == "" and listing(workdir) == before
        assert not os.path.exists(target)
    finally:
        locked.chmod(0o755)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write a read-only file; nothing to refuse")
def test_read_only_output_file_is_refused(workdir, no_training, capsys):
    target = workdir / "out.csv"
    target.write_text("keep me\n")
    target.chmod(0o444)
    assert main(["forecast", str(workdir / "sales.csv"), "--output", str(target), *LONG]) == 2
    assert "is read-only" in capsys.readouterr().err
    assert target.read_text() == "keep me\n"


# ---------------------------------------------------------- never the input file

def same_file_names(workdir):
    """Ways to name workdir/sales.csv: as given, another spelling, a symlink, a hard link."""
    names = {"as_given": "sales.csv",
             "other_spelling": os.path.join("sub", "..", ".", "sales.csv"),
             "absolute": str(workdir / "sales.csv")}
    if hasattr(os, "symlink"):
        os.symlink("sales.csv", workdir / "link.csv")
        names["symlink"] = "link.csv"
    if hasattr(os, "link"):
        os.link(workdir / "sales.csv", workdir / "hard.csv")
        names["hard_link"] = "hard.csv"
    return names


@pytest.mark.parametrize("option", ["--output", "--plot"])
def test_main_refuses_to_overwrite_the_input(option, workdir, no_training, monkeypatch,
                                             capsys):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    monkeypatch.chdir(workdir)
    names = same_file_names(workdir)
    original = (workdir / "sales.csv").read_bytes()
    for how, name in names.items():
        assert main(["forecast", "sales.csv", option, name, *LONG]) == 2, how
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"seqcore: error: argument {option}: {name} is the input file"), err
        assert len(err.strip().splitlines()) == 1
        assert (workdir / "sales.csv").read_bytes() == original, how
    assert len(names) >= 3


def test_same_file_refused_in_a_subprocess(workdir):
    """The reported bug, end to end: `seqcore forecast data.csv --output data.csv`."""
    data = workdir / "sales.csv"
    original, mtime = data.read_bytes(), data.stat().st_mtime_ns
    proc = run_cli("forecast", data, "--output", data, *LONG, cwd=workdir)
    assert_usage_error(proc, "is the input file")
    assert proc.stdout == ""
    assert data.read_bytes() == original and data.stat().st_mtime_ns == mtime


def test_output_to_the_bundled_series_file_is_refused(no_training, capsys):
    from importlib import resources
    bundled = resources.files("seqcore.datasets") / "data" / "airline.csv"
    if not isinstance(bundled, os.PathLike):
        pytest.skip("the bundled data is not a file on disk")
    original = bundled.read_bytes()
    assert main(["forecast", "--output", os.fspath(bundled), *LONG]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert bundled.read_bytes() == original


# ------------------------------------------------------------------ writing

def test_output_replaces_a_file_through_its_symlink(workdir, monkeypatch, capsys):
    """An existing output is replaced whole, through a symlink (the link stays
    a link), with its permissions, and no temporary file is left behind."""
    if not hasattr(os, "symlink"):
        pytest.skip("no symlinks on this system")
    monkeypatch.chdir(workdir)
    target = workdir / "sub" / "forecast.csv"
    target.write_text("old\n")
    target.chmod(0o640)
    os.symlink(os.path.join("sub", "forecast.csv"), workdir / "latest.csv")
    assert main(["forecast", "sales.csv", "--horizon", "4", "--max-iter", "1",
                 "--output", "latest.csv"]) == 0
    assert "forecast written to latest.csv" in capsys.readouterr().out
    assert os.path.islink(workdir / "latest.csv")
    with open(target, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["step", "period", "forecast", "lower", "upper"] and len(rows) == 5
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (workdir / "sub").iterdir()) == ["forecast.csv"]


def test_csv_with_a_byte_order_mark(tmp_path, capsys):
    """Excel's "CSV UTF-8" starts with a BOM: the first header is still 'value'."""
    rng = np.random.default_rng(3)
    path = tmp_path / "bom.csv"
    text = "value\r\n" + "".join(f"{v:.4f}\r\n" for v in 10 + rng.standard_normal(40).cumsum())
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert main(["forecast", str(path), "--column", "value", "--horizon", "3",
                 "--max-iter", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seqcore forecast: value, 40 values, horizon 3")
    assert len(table(out)) == 3


# -------------------------------------------------- Ctrl-C and a closed pipe

def test_ctrl_c_while_training_exits_130_and_writes_nothing(workdir):
    """SIGINT mid-training through a real process: the estimator's loop
    catches KeyboardInterrupt and keeps its weights, yet the run ends with
    exit 130, one line, no traceback, no forecast and the old output intact."""
    old = workdir / "out.csv"
    old.write_text("previous forecast\n")
    before = listing(workdir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqcore", "forecast", "sales.csv", "--output", "out.csv", *LONG],
        cwd=workdir, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
        first = lines.get(timeout=15)       # printed just before the first fit starts
        assert first.startswith("[1/2] backtest: training"), first
        time.sleep(1.0)                     # well inside the training loop by now
        assert proc.poll() is None, "finished before the signal: not a long run"
        start = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        stdout = proc.stdout.read()
        assert proc.wait(timeout=10) == 130
        assert time.perf_counter() - start < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest == ["seqcore: interrupted\n"], rest
    assert stdout.count("\n") == 1 and stdout.startswith("seqcore forecast: sales")
    assert listing(workdir) == before       # out.csv untouched, no temporary file


def test_fit_helper_ends_the_run_when_the_estimator_catches_ctrl_c(monkeypatch):
    """The estimator's contract the CLI relies on: KeyboardInterrupt in its
    training loop becomes a RuntimeWarning starting "training interrupted"."""
    from seqcore._cli import _INTERRUPTED_TRAINING, _fit

    from seqcore import RNNForecaster, _engine

    def interrupt(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(_engine, "_end_of_epoch", interrupt)
    y = load_airline()[:60]
    # one network alone catches it and warns; the forecaster (several
    # networks) lets it through, which ends the run as well
    from seqcore import RNNRegressor
    with pytest.warns(RuntimeWarning, match=f"^{_INTERRUPTED_TRAINING}"):
        RNNRegressor(max_iter=5, random_state=0).fit(np.zeros((8, 4, 1)), np.arange(8.0))
    with pytest.raises(KeyboardInterrupt):
        RNNForecaster(window=6, horizon=2, max_iter=5, random_state=0).fit(y)
    with pytest.raises(KeyboardInterrupt):
        _fit(RNNForecaster(window=6, horizon=2, max_iter=5, random_state=0), y, {"hit": False})


@pytest.mark.skipif(not hasattr(signal, "raise_signal"), reason="needs signal.raise_signal")
def test_sigint_flag_catches_an_interrupt_swallowed_silently():
    """A library that swallows KeyboardInterrupt without a word: the flag set
    by the CLI's handler still ends the run."""
    from seqcore._cli import _fit, _sigint

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")

    class Swallows:
        def fit(self, y):
            try:
                signal.raise_signal(signal.SIGINT)
            except KeyboardInterrupt:
                pass
            return self

    with _sigint() as flag:
        with pytest.raises(KeyboardInterrupt):
            _fit(Swallows(), None, flag)
        assert flag["hit"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigint_handler_leaves_an_ignored_sigint_alone():
    from seqcore._cli import _sigint

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _sigint():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_closed_pipe_exits_quietly_and_keeps_the_file(workdir):
    """`seqcore forecast ... | head -1`: the reader leaves after the first line."""
    errors = workdir / "stderr.txt"
    with open(errors, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "seqcore", "forecast", "--horizon", "3", "--max-iter", "30",
             "--patience", "30", "--output", "out.csv"],
            cwd=workdir, env=subprocess_env(), stdout=subprocess.PIPE, stderr=err)
        try:
            first = proc.stdout.readline()
            proc.stdout.close()             # as head -1 does; training has just begun
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert first.startswith(b"seqcore forecast: passengers")
    assert code == 141                      # 128 + SIGPIPE, as `yes | head -1` reports
    text = errors.read_text()
    assert "Traceback" not in text and "Exception ignored" not in text
    assert "BrokenPipeError" not in text
    assert text.splitlines() == ["[1/2] backtest: training on the first 141 values ...",
                                 "[2/2] training on all 144 values, calibrating the intervals ..."]
    # the file asked for is written before the report that could not be shown
    assert (workdir / "out.csv").read_text().startswith("step,period,forecast,lower,upper")


# ------------------------------------------------------------------ version

def test_version(tmp_path, capsys):
    import seqcore

    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", seqcore.__version__)
    proc = run_cli("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"seqcore {seqcore.__version__}\n"
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"seqcore {seqcore.__version__}\n"


@pytest.mark.parametrize("marker", ["", "NA", "n/a", "NaN", "null", "-", "?"])
def test_missing_values_are_filled_and_counted(marker, capsys, tmp_path):
    """Empty cells and the common missing-value markers are read as missing:
    the run goes on, says how many it filled, and forecasts finite values."""
    rng = np.random.default_rng(3)
    t = np.arange(60)
    values = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(60)
    cells = [marker if i in (7, 30, 31) else f"{v:.3f}" for i, v in enumerate(values)]
    path = write_csv(tmp_path / "gaps.csv", ["month", "sales"],
                     [[m, c] for m, c in zip(months(2010, 60), cells)])
    assert main(["forecast", str(path), "--horizon", "3", "--max-iter", "2"]) == 0
    out = capsys.readouterr().out
    assert "filled 3 missing values" in out
    rows = table(out)
    assert len(rows) == 3 and all(np.isfinite(r[2:]).all() for r in rows)


def test_missing_value_in_the_held_out_tail_is_not_scored(capsys, tmp_path):
    rng = np.random.default_rng(4)
    values = 50 + rng.standard_normal(48).cumsum()
    cells = ["NA" if i == 46 else f"{v:.3f}" for i, v in enumerate(values)]
    path = write_csv(tmp_path / "tail.csv", ["value"], [[c] for c in cells])
    assert main(["forecast", str(path), "--horizon", "4", "--max-iter", "2"]) == 0
    out = capsys.readouterr().out
    assert "filled 1 missing value " in out
    assert "seasonal naive (m=1)" in out


@pytest.mark.parametrize("rows", [["2020-03,3", "2020-02,2", "2020-01,1"],
                                  ["2020-01,1", "2020-02,2", "2020-02,3"]],
                         ids=["newest_first", "repeated_date"])
def test_dates_out_of_order_are_refused_before_training(tmp_path, rows):
    path = tmp_path / "data.csv"
    path.write_text("month,value\n" + "\n".join(rows * 20) + "\n")
    from seqcore._cli import main
    assert main(["forecast", str(path)]) == 2


# ------------------------------------- Ctrl-C while importing (issue 22, item 15)
# Ctrl-C at the moment seqcore imports scikit-learn, made deterministic: an
# import hook raises KeyboardInterrupt there, as Python's SIGINT handler would.
_CTRL_C_AT_IMPORT = """
import sys

class _CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, _CtrlC())
"""


def _assert_interrupted(proc):
    assert proc.returncode == 130, (proc.returncode, proc.stderr)
    assert proc.stderr.splitlines() == ["seqcore: interrupted"], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_ctrl_c_while_the_command_imports_exits_130_with_one_line(tmp_path):
    env = subprocess_env()
    # the console script, as pip writes it: a file named seqcore
    script = tmp_path / "bin" / "seqcore"
    script.parent.mkdir()
    script.write_text(_CTRL_C_AT_IMPORT + "from seqcore._cli import main\nsys.exit(main())\n")
    _assert_interrupted(subprocess.run([sys.executable, str(script), "forecast"], env=env,
                                       capture_output=True, text=True, timeout=120))
    # python -m seqcore: the hook comes in through sitecustomize
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_CTRL_C_AT_IMPORT)
    env_m = dict(env, PYTHONPATH=str(site) + os.pathsep + env["PYTHONPATH"])
    _assert_interrupted(run_cli("forecast", cwd=tmp_path, env=env_m))
    # in a user's own program the interrupt goes on as usual
    proc = subprocess.run([sys.executable, "-c", _CTRL_C_AT_IMPORT + "import seqcore\n"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr


@pytest.mark.parametrize("delay", [0.2, 0.3, 0.5, 1.0])
def test_a_real_ctrl_c_soon_after_start_exits_130_with_one_line(workdir, delay):
    """Whenever it lands (while importing, or once training), one line and
    130 (an interpreter finalising after an interrupted import ended by the
    signal, -2, at some of these delays)."""
    proc = subprocess.Popen([sys.executable, "-m", "seqcore", "forecast", "sales.csv", *LONG],
                            cwd=workdir, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(delay)   # past the interpreter's start: in seqcore's imports, or later
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert stderr.splitlines()[-1] == "seqcore: interrupted", stderr
    assert "Traceback" not in stderr + stdout


# ------------------------------------- issue 22, items 15, 16, 17: the CLI
def _seasonal_rows(n, period, start):
    rng = np.random.default_rng(3)
    t = np.arange(n)
    values = 100 + t + 10 * np.sin(2 * np.pi * t / period) + rng.standard_normal(n)
    return [[label, f"{v:.3f}"] for label, v in zip(start(n), values)]


def quarter_labels(style):
    def labels(n):
        return [(f"{2000 + i // 4}Q{i % 4 + 1}" if style == "Q"
                 else f"{2000 + i // 4}-{3 * (i % 4) + 1:02d}-01") for i in range(n)]
    return labels


def week_labels(n):
    return [str(np.datetime64("2015-01-05") + np.timedelta64(7 * i, "D")) for i in range(n)]


@pytest.mark.parametrize("labels, n, season, first_period", [
    (quarter_labels("Q"), 48, 4, "2012-01"),
    (quarter_labels("-"), 48, 4, "2012-01"),
    (week_labels, 200, 52, "2018-11-05"),
], ids=["quarters-2000Q1", "quarters-as-dates", "weeks"])
def test_quarterly_and_weekly_files_get_their_season(labels, n, season, first_period, tmp_path,
                                                     capsys):
    """A quarterly file's season is 4 (a year), a weekly file's 52, as
    seqcore.season_from_freq says; the forecast periods follow the file."""
    path = write_csv(tmp_path / "q.csv", ["period", "value"], _seasonal_rows(n, season, labels))
    assert main(["forecast", str(path), "--horizon", "4", "--max-iter", "1"]) == 0
    out = capsys.readouterr().out
    assert f"season {season}" in out.splitlines()[0]
    assert f"seasonal naive (m={season})" in out
    assert table(out)[0][1] == first_period


def test_a_short_series_gets_the_theta_fallback_with_a_warning(tmp_path, capsys):
    """It stopped with "the series has 5 values, too few for horizon 12";
    now the Theta method forecasts it, a warning says
    why, and the output says which model ran."""
    values = [10 + np.sin(i) for i in range(5)]
    path = write_csv(tmp_path / "five.csv", ["x"], [[f"{v:.4f}"] for v in values])
    out_csv = tmp_path / "out.csv"
    for horizon in (12, 2):
        assert main(["forecast", str(path), "--horizon", str(horizon),
                     "--output", str(out_csv)]) == 0
        out, err = capsys.readouterr()
        warning = [line for line in err.splitlines() if line.startswith("seqcore: warning")]
        assert len(warning) == 1, err
        m = re.search(rf"the series has 5 values, too few for the network with horizon "
                      rf"{horizon} \(its run needs at least (\d+) values(?:, (\d+) for a "
                      r"series with a trend)?.*fallback: theta", warning[0])
        assert m, warning[0]
        assert "Theta method (fallback" in out.splitlines()[0]
        rows = table(out)
        assert [r[0] for r in rows] == list(range(1, horizon + 1))
        expected = ThetaForecaster().fit(np.array(values)).predict_interval(
            horizon, coverage=0.9)
        np.testing.assert_allclose([r[2] for r in rows], expected[0], atol=0.006)
        np.testing.assert_allclose([r[3] for r in rows], expected[1], atol=0.006)
        written = list(csv.reader(open(out_csv, newline="")))
        assert written[0] == ["step", "period", "forecast", "lower", "upper"]
        assert len(written) == horizon + 1
        if horizon == 2:   # 3 values before the last 2: Theta is backtested too
            assert scores(out)["theta (fallback)"][0] >= 0
        else:
            assert "Backtest: none" in out
        # the numbers it names are right: a series with a trend of that many
        # values runs the network; one value fewer than the least falls back
        fewest, trend = int(m[1]), int(m[2] or m[1])
        ok = write_csv(tmp_path / "ok.csv", ["x"], [[v] for v in range(1, trend + 1)])
        assert main(["forecast", str(ok), "--horizon", str(horizon), "--max-iter", "1"]) == 0
        out, err = capsys.readouterr()
        assert "fallback" not in out + err
        short = write_csv(tmp_path / "short.csv", ["x"],
                          [[f"{10 + np.sin(i):.3f}"] for i in range(fewest - 1)])
        assert main(["forecast", str(short), "--horizon", str(horizon), "--max-iter", "1"]) == 0
        out, err = capsys.readouterr()
        assert "fallback: theta" in err and "Theta method (fallback" in out


def test_a_short_quarterly_series_runs_through_the_fallback_in_a_subprocess(tmp_path):
    """M1's quarterly series of 10 values with its horizon of 8: the case the
    issue names.  Its season (4, from the dates) leaves no backtest."""
    rows = [[f"{2000 + i // 4}Q{i % 4 + 1}", f"{100 + 3 * i + (i % 4):.1f}"] for i in range(10)]
    path = write_csv(tmp_path / "q.csv", ["quarter", "value"], rows)
    proc = run_cli("forecast", path, "--horizon", "8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "fallback: theta" in proc.stderr and "Traceback" not in proc.stderr
    assert "season 4" in proc.stdout.splitlines()[0]
    rows = table(proc.stdout)
    assert len(rows) == 8 and rows[0][1] == "2002-07"
    assert all(lo <= fc <= hi for _, _, fc, lo, hi in rows)


def test_a_short_series_with_past_columns_says_theta_does_not_read_them(tmp_path, capsys):
    path = write_csv(tmp_path / "short.csv", ["month", "sales", "lead"], _lead_rows(9, 3))
    assert main(["forecast", str(path), "--past", "lead", "--horizon", "3"]) == 0
    out, err = capsys.readouterr()
    assert "fallback: theta" in err and "Theta does not read the --past covariates" in err
    assert len(table(out)) == 3


def test_main_refuses_a_single_value(tmp_path, capsys):
    path = write_csv(tmp_path / "one.csv", ["x"], [["3.5"]])
    assert main(["forecast", str(path), "--horizon", "2"]) == 2
    assert "1 observed value: too few values to forecast from" in capsys.readouterr().err


@pytest.mark.parametrize("sep, name", [(";", "semicolon"), ("\t", "tab"), ("|", "bar")])
def test_csv_separated_by_semicolons_or_tabs(sep, name, tmp_path, capsys, monthly_csv):
    """The separator is found from the file, or given with --sep."""
    rows = list(csv.reader(open(monthly_csv, newline="")))
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh, delimiter=sep).writerows(rows)
    assert main(["forecast", str(monthly_csv), "--horizon", "3", "--max-iter", "1"]) == 0
    want = capsys.readouterr().out
    assert main(["forecast", str(path), "--horizon", "3", "--max-iter", "1"]) == 0
    def same(out):   # all but the file name and the time taken
        return [line for line in out.splitlines() if not line.startswith("trained in")][1:]
    assert same(capsys.readouterr().out) == same(want)
    given = "tab" if sep == "\t" else sep
    assert main(["forecast", str(path), "--sep", given, "--horizon", "3",
                 "--max-iter", "1"]) == 0
    assert table(capsys.readouterr().out) == table(want)
    # the wrong separator given: one column, a clear error
    assert main(["forecast", str(path), "--sep", ","]) == 2
    assert "numeric columns" in capsys.readouterr().err
    for bad in ("ab", "x", '"', ""):
        assert main(["forecast", str(path), "--sep", bad]) == 2
        assert "argument --sep" in capsys.readouterr().err


def test_generate_on_a_tiny_text_is_refused_before_training(tmp_path, capsys):
    """It reported early_stopping and validation_fraction, options the
    command line does not have, after announcing the training."""
    path = tmp_path / "two.txt"
    path.write_text("ab", encoding="utf-8")
    assert main(["generate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("seqcore: error: two.txt has 2 characters; training needs at least "
                           "15 (it holds out the last tenth of the text to know when to stop)"
                           ).replace("two.txt", str(path))
    assert "early_stopping" not in err and "training a" not in err
    path.write_text("abcdefghijklmno", encoding="utf-8")
    assert main(["generate", str(path), "--max-iter", "1", "--length", "3"]) == 0


def test_daily_dates_are_days_not_repeated_months(tmp_path, capsys):
    """NumPy reads "2020-01-02" as the month 2020-01: a daily file was refused
    as "not in increasing order"."""
    days = [str(np.datetime64("2020-01-01") + np.timedelta64(i, "D")) for i in range(60)]
    path = write_csv(tmp_path / "daily.csv", ["day", "value"],
                     _seasonal_rows(60, 7, lambda n: days[:n]))
    assert main(["forecast", str(path), "--horizon", "3", "--max-iter", "1"]) == 0
    out = capsys.readouterr().out
    assert "season 7" in out.splitlines()[0]
    assert table(out)[0][1] == "2020-03-01"


def test_decimal_commas_are_named_in_the_message(tmp_path, capsys):
    """A semicolon file from a European spreadsheet: the separator is found,
    and its decimal commas are named instead of "0 numeric columns" alone."""
    path = tmp_path / "euro.csv"
    path.write_text("month;sales\n" + "".join(f"2010-{m:02d};{100 + m},5\n"
                                              for m in range(1, 13)), encoding="utf-8")
    assert main(["forecast", str(path)]) == 2
    assert "values such as '101,5' have a decimal comma" in capsys.readouterr().err


# ------------------------------------------------------ covariates (issue 24)

def _lead_rows(n, horizon, seed=0, start_year=2010):
    """Monthly rows (month, sales, lead) whose 'lead' is the sales' driver
    ``horizon`` months ahead: a past-only covariate."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n + horizon)
    return [[m, f"{50 + 3 * x[t]:.4f}", f"{x[t + horizon]:.4f}"]
            for t, m in enumerate(months(start_year, n))]


@pytest.fixture
def fit_spy(monkeypatch):
    """Records the keyword arguments of every RNNForecaster.fit (and fits)."""
    import seqcore
    calls = []
    original = seqcore.RNNForecaster.fit

    def spy(self, y, *args, **kwargs):
        calls.append((y, kwargs))
        return original(self, y, *args, **kwargs)
    monkeypatch.setattr(seqcore.RNNForecaster, "fit", spy)
    return calls


def test_past_columns_reach_the_network(tmp_path, capsys, fit_spy):
    rows = _lead_rows(48, 3)
    path = write_csv(tmp_path / "lead.csv", ["month", "sales", "lead"], rows)
    # no --column: the only numeric column besides the --past one
    assert main(["forecast", str(path), "--past", "lead", "--horizon", "3",
                 "--max-iter", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("seqcore forecast: sales, 48 values, horizon 3")
    assert "past-only covariates lead" in out.splitlines()[0]
    lead = np.array([float(r[2]) for r in rows])
    (y_bt, kw_bt), (y_all, kw_all) = fit_spy
    assert len(y_bt) == 45 and len(y_all) == 48
    np.testing.assert_array_equal(kw_bt["X_past"][:, 0], lead[:45])
    np.testing.assert_array_equal(kw_all["X_past"][:, 0], lead)
    assert len(table(out)) == 3


def _panel_csv(path, short=True):
    """Long table: store, month, sales, lead, region, size; store s0 shorter."""
    rows = []
    for i in range(6):
        n = 8 if (short and i == 0) else 30
        for month, sales, lead in _lead_rows(n, 3, seed=i, start_year=2015):
            rows.append([f"s{i}", month, sales, lead, "north" if i % 2 else "south", 10 * i])
    return write_csv(path, ["store", "month", "sales", "lead", "region", "size"], rows)


def test_a_long_table_with_past_and_static_columns_end_to_end(tmp_path):
    path = _panel_csv(tmp_path / "panel.csv")
    out = tmp_path / "out.csv"
    proc = run_cli("forecast", path, "--id", "store", "--column", "sales", "--past", "lead",
                   "--static", "region", "--static", "size", "--horizon", "3",
                   "--max-iter", "3", "--output", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("seqcore forecast: 6 series of sales by store, horizon 3")
    assert "past-only covariates lead" in first and "static features region, size" in first
    written = list(csv.reader(open(out, newline="")))
    assert written[0] == ["store", "step", "period", "forecast", "lower", "upper", "model"]
    body = written[1:]
    assert len(body) == 6 * 3
    assert [r[0] for r in body[::3]] == [f"s{i}" for i in range(6)]
    kinds = {r[0]: r[6] for r in body}
    assert kinds["s0"] == "short_context" and kinds["s1"] == "network"
    assert body[0][2] == "2015-09-01" and body[3][2] == "2017-07-01"
    for r in body:
        assert float(r[4]) <= float(r[3]) <= float(r[5])
    assert "s0 (short_context)" in proc.stdout


def test_static_and_past_columns_reach_the_global_model(tmp_path, capsys, fit_spy):
    path = _panel_csv(tmp_path / "panel.csv", short=False)
    assert main(["forecast", str(path), "--id", "store", "--column", "sales", "--past", "lead",
                 "--static", "region,size", "--horizon", "3", "--max-iter", "2"]) == 0
    capsys.readouterr()
    ys, kw = fit_spy[0]          # the final fit on every series (then the backtest's)
    assert len(ys) == 6
    static = kw["static"]
    assert list(np.asarray(static)[:, 0]) == ["south", "north"] * 3
    assert list(np.asarray(static)[:, 1].astype(float)) == [0, 10, 20, 30, 40, 50]
    for i, past in enumerate(kw["X_past"]):
        lead = np.array([float(r[2]) for r in _lead_rows(30, 3, seed=i, start_year=2015)])
        np.testing.assert_array_equal(past[:, 0], lead)
    assert len(fit_spy) == 2 and len(fit_spy[1][1]["X_past"][0]) == 27   # the backtest


@pytest.mark.parametrize("args, match", [
    (["--static", "store"], "--static: column 'store' is already the id column"),
    (["--past", "lead", "--static", "lead"], "--static: column 'lead' is already the past"),
    (["--time", "store"], "--time: column 'store' is already the id column"),
    (["--time", "sales"], "--time: column 'sales' is the column to forecast"),
    (["--plot", "p.png"], "--plot draws one series"),
    (["--static", "month,region,size", "--past", "lead"],
     "static column 'month' changes within series 's0'"),
    (["--time", "region"], "column 'region' holds strings that are not dates"),
])
def test_bad_long_table_options_are_refused_before_training(args, match, tmp_path,
                                                           no_training, capsys):
    path = _panel_csv(tmp_path / "panel.csv")
    assert main(["forecast", str(path), "--id", "store", "--column", "sales", *args,
                 *LONG]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and re.search(match, lines[0]), err
    assert out == ""


def test_a_blank_id_cell_is_refused_before_training(tmp_path, no_training, capsys):
    # a blank id made a one-row series of its own, forecast by the naive fallback
    path = _panel_csv(tmp_path / "panel.csv", short=False)
    lines = open(path).read().splitlines()
    lines[5] = "," + lines[5].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    assert main(["forecast", str(path), "--id", "store", "--column", "sales", *LONG]) == 2
    out, err = capsys.readouterr()
    assert re.search(r"column 'store' .*missing value \(line 6\)", err), err
    assert out == ""


def test_time_none_keeps_the_row_order(tmp_path, capsys, fit_spy):
    # --help promises "--time none: the rows' order"; it was read as a column name
    path = _panel_csv(tmp_path / "panel.csv", short=False)
    assert main(["forecast", str(path), "--id", "store", "--column", "sales", "--time", "none",
                 "--horizon", "3", "--max-iter", "2"]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("seqcore forecast: 6 series of sales by store")
    ys, _ = fit_spy[0]
    sales = [float(r[1]) for r in _lead_rows(30, 3, seed=0, start_year=2015)]
    np.testing.assert_array_equal(np.ravel(ys[0]), sales)

"""Tests for the ``seqcore`` command line, end to end in a subprocess
(``python -m seqcore``, so they run against the installed package) and
through the console-script function ``seqcore._cli.main``.

Only the default run trains for real (about 10-20 s); every other run uses
``--max-iter`` 1-3 because what it checks is the plumbing, not accuracy.
"""

import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import subprocess_env
from seqcore._cli import main
from seqcore.datasets import load_airline
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
                   "--output", "--seed"):
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
    write_csv(d / "nan.csv", ["month", "value"],
              [[m, "nan" if i == 7 else str(100 + i)] for i, m in enumerate(months(2010, n))])
    write_csv(d / "short.csv", ["month", "value"], [[m, str(100 + i)] for i, m in
                                                    enumerate(months(2010, 20))])
    write_csv(d / "negative.csv", ["month", "value"], [[m, str(i - 30)] for i, m in
                                                       enumerate(months(2010, n))])
    (d / "empty.csv").write_text("")
    (d / "header_only.csv").write_text("month,value\n")
    (d / "ragged.csv").write_text("month,value\n2010-01,1\n2010-02,2,3\n")
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
    "nan_values": (["forecast", "{d}/nan.csv"], "NaN"),
    "empty_csv": (["forecast", "{d}/empty.csv"], "no data rows"),
    "header_only_csv": (["forecast", "{d}/header_only.csv"], "no data rows"),
    "ragged_rows": (["forecast", "{d}/ragged.csv"], "different numbers of fields"),
    "horizon_zero": (["forecast", "--horizon", "0"], "--horizon.*positive integer"),
    "horizon_not_integer": (["forecast", "--horizon", "1.5"], "--horizon.*positive integer"),
    "horizon_text": (["forecast", "--horizon", "soon"], "--horizon.*positive integer"),
    "too_short_for_horizon": (["forecast", "{d}/short.csv", "--horizon", "12"],
                              "20 values.*horizon 12"),
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
                    "too_short_for_horizon", "empty_csv", "coverage_above_one"]


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

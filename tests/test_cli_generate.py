"""Tests for ``seqcore generate``: in-process through ``seqcore._cli.main``
for the plumbing (tiny models, a few epochs), in a subprocess for Ctrl-C and
a closed pipe.  One run trains on the bundled chapter for real (a few
seconds)."""

import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings

import pytest

from conftest import subprocess_env
from seqcore._cli import main
from seqcore.datasets import load_text

QUICK = ["--max-iter", "2", "--hidden-size", "8"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "story.txt").write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    return tmp_path


@pytest.fixture(scope="module")
def good_model():
    """The bytes of a trained model file (on the story's characters)."""
    from sklearn.exceptions import ConvergenceWarning

    from seqcore.text import RNNLanguageModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RNNLanguageModel(hidden_size=8, max_iter=1).fit(["the cat sat on the mat. "])
    return pickle.dumps(model)


def run(capsys, *args):
    code = main(["generate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def listing(folder):
    return sorted(os.listdir(folder))


def test_default_run_trains_on_the_bundled_chapter(workdir, capsys):
    code, out, err = run(capsys, "--length", "200", "--max-iter", "30", "--hidden-size", "64",
                         "--prefix", "Alice")
    assert code == 0, err
    assert out.startswith("Alice") and len(out) == len("Alice") + 200 + 1   # + newline
    assert set(out[5:-1]) <= set(load_text())
    lines = err.splitlines()
    assert lines[0].startswith("seqcore generate: training a char lstm language model on "
                               "Alice's Adventures in Wonderland, chapter I (11,485 characters)")
    assert lines[1].startswith("trained in ") and "bits per token" in lines[1]


def test_save_then_load_writes_the_same_text(workdir, capsys):
    code, first, err = run(capsys, "story.txt", "--save", "m.pkl", "--seed", "3",
                           "--length", "60", *QUICK)
    assert code == 0, err
    assert "model written to m.pkl" in err
    code, again, err = run(capsys, "--load", "m.pkl", "--seed", "3", "--length", "60")
    assert code == 0, err
    assert again == first and err == ""        # no training when loading
    code, other, _ = run(capsys, "--load", "m.pkl", "--seed", "4", "--length", "60")
    assert other != first
    with open("m.pkl", "rb") as fh:
        model = pickle.load(fh)
    assert model.sample(60, temperature=0.8, random_state=3) + "\n" == first
    assert listing(workdir) == ["m.pkl", "story.txt"]     # no temporary file left


def test_word_analyzer_and_options(workdir, capsys):
    code, out, err = run(capsys, "story.txt", "--analyzer", "word", "--cell", "gru",
                         "--length", "12", "--top-k", "2", "--temperature", "1.5",
                         "--prefix", "the cat", *QUICK)
    assert code == 0, err
    assert "word gru" in err
    words = out.split()
    assert words[:2] == ["the", "cat"] and len(words) == 14
    assert set(words) <= {"the", "cat", "sat", "on", "mat", "."}


@pytest.mark.parametrize("args, message", [
    (["--temperature", "0"], "argument --temperature: expected a number > 0"),
    (["--temperature", "nan"], "argument --temperature: expected a number > 0"),
    (["--length", "-1"], "argument --length: expected a whole number >= 0"),
    (["--top-k", "0"], "argument --top-k: expected a positive integer"),
    (["missing.txt"], "no such file: missing.txt"),
    (["empty.txt"], "empty.txt has no text"),
    (["latin1.txt"], "latin1.txt is not UTF-8 text"),
    (["story.txt", "--save", "story.txt"], "is the input file; refusing to overwrite it"),
    (["--save", "no/such/folder/m.pkl"], "does not exist"),
    (["--save", "."], "is a directory"),
    (["--load", "story.txt"], "story.txt is not a saved seqcore model"),
    (["--load", "other.pkl"], "holds a dict, not a trained seqcore RNNLanguageModel"),
    (["--load", "none.pkl"], "argument --load: no such file: none.pkl"),
    (["story.txt", "--load", "other.pkl"], "TEXTFILE sets up training"),
    (["--load", "other.pkl", "--cell", "gru"], "--cell sets up training"),
    (["story.txt", "--prefix", "xyzzy!"], "argument --prefix: ['!', 'x', 'y', 'z'] never occur"),
    (["--load", "good.pkl", "--prefix", "Q"], "argument --prefix: ['Q'] never occur"),
])
def test_usage_errors_exit_2_with_one_line_before_training(workdir, capsys, good_model,
                                                           args, message):
    (workdir / "empty.txt").write_text("  \n", encoding="utf-8")
    (workdir / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with open(workdir / "other.pkl", "wb") as fh:
        pickle.dump({"not": "a model"}, fh)
    (workdir / "good.pkl").write_bytes(good_model)
    before = {name: (workdir / name).read_bytes() for name in listing(workdir)
              if (workdir / name).is_file()}
    code, out, err = run(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("seqcore: error: ") and message in err, err
    assert out == ""
    assert "seqcore generate: training" not in err     # refused before any training
    after = {name: (workdir / name).read_bytes() for name in listing(workdir)
             if (workdir / name).is_file()}
    assert after == before                             # nothing written or changed


def test_a_text_too_short_to_validate_is_one_line(workdir, capsys):
    (workdir / "tiny.txt").write_text("ab", encoding="utf-8")
    code, out, err = run(capsys, "tiny.txt", *QUICK)
    # one line, before training starts (issue 22, item 15), in the command's terms
    assert code == 2 and err.count("\n") == 1, err
    assert "training needs at least 15" in err and "early_stopping" not in err


def test_help_lists_generate(capsys):
    assert main(["--help"]) == 0
    assert "generate" in capsys.readouterr().out
    assert main(["generate", "--help"]) == 0
    help_text = capsys.readouterr().out
    for option in ("--length", "--temperature", "--top-k", "--save", "--load", "--seed"):
        assert option in help_text


def test_ctrl_c_while_training_exits_130_and_writes_nothing(workdir):
    (workdir / "long.txt").write_text(load_text() * 4, encoding="utf-8")
    before = listing(workdir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqcore", "generate", "long.txt", "--save", "m.pkl",
         "--max-iter", "100000"],
        cwd=workdir, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()
        first = lines.get(timeout=30)
        assert first.startswith("seqcore generate: training"), first
        time.sleep(1.0)                     # well inside the training loop by now
        assert proc.poll() is None, "finished before the signal: not a long run"
        proc.send_signal(signal.SIGINT)
        stdout = proc.stdout.read()
        assert proc.wait(timeout=10) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert rest == ["seqcore: interrupted\n"], rest
    assert stdout == ""
    assert listing(workdir) == before       # no model file, no temporary file


def test_closed_pipe_exits_quietly(workdir):
    subprocess.run([sys.executable, "-m", "seqcore", "generate", "story.txt", "--save",
                    "m.pkl", *QUICK], cwd=workdir, env=subprocess_env(), check=True,
                   capture_output=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seqcore", "generate", "--load", "m.pkl", "--length", "300000"],
        cwd=workdir, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdout.read(10)
        proc.stdout.close()                 # as `| head -c 10` does
        code = proc.wait(timeout=60)
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 141, err
    assert err == ""

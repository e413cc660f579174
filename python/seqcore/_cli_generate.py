"""``seqcore generate [TEXTFILE]``: train a language model on a text and write new text.

With no TEXTFILE it trains on the bundled Alice chapter
(``seqcore.datasets.load_text``).  The generated text goes to stdout (so it
can be piped); progress and the training summary go to stderr.

Same rules as ``seqcore forecast`` (``_cli.py``, whose helpers this module
uses): every user error is one line on stderr and exit code 2, found before
any training (the input file, every option, the path of ``--save``); the
model file is staged and renamed into place, never left half written, and
never written over the input file or the ``--load`` file; Ctrl-C exits 130
with one line; a closed stdout (``| head``) ends quietly.

``--load`` reads a model saved by ``--save`` with pickle: load only files
you trust (unpickling can run code).
"""

import math
import os
import pickle
import sys
import time
import warnings

from ._cli import _destination, _fit, _positive_int, _same_file, _seed, _stage, _UsageError


def add_parser(sub):
    """The ``generate`` subcommand, on the subparsers of ``_cli._parser``."""
    from .nn import CELLS

    g = sub.add_parser("generate", help="train a language model on a text file (default: "
                                        "the bundled Alice chapter) and write new text")
    g.add_argument("textfile", nargs="?", help="UTF-8 text to train on; omit for the bundled "
                                               "first chapter of Alice in Wonderland")
    g.add_argument("--length", type=_count, default=500,
                   help="tokens to write (characters, or words with --analyzer word; "
                        "default 500)")
    g.add_argument("--temperature", type=_temperature, default=0.8,
                   help="below 1: safer, more repetitive text; above 1: wilder (default 0.8)")
    g.add_argument("--top-k", type=_positive_int, default=None,
                   help="draw only among the k most probable tokens")
    g.add_argument("--prefix", default="", help="text the model reads before writing "
                                                "(printed first)")
    # training options: None when not given (--load refuses them)
    g.add_argument("--analyzer", choices=("char", "word"), help="tokens: characters "
                                                                "(default) or words")
    g.add_argument("--cell", choices=tuple(CELLS), help="recurrent cell (default lstm)")
    g.add_argument("--hidden-size", type=_positive_int, help="default 128")
    g.add_argument("--max-iter", type=_positive_int,
                   help="most training epochs (default 300; training stops earlier when "
                        "the held-out last tenth of the text stops improving)")
    g.add_argument("--save", metavar="PKL", help="write the trained model to this file")
    g.add_argument("--load", metavar="PKL", help="use a model written by --save instead of "
                                                 "training (a pickle: load only files you trust)")
    g.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    g.set_defaults(run=run)
    return g


def _count(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise _argument_error(f"expected a whole number >= 0, got {text!r}")
    return value


def _temperature(text):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise _argument_error(f"expected a number > 0, got {text!r}")
    return value


def _argument_error(message):
    import argparse
    return argparse.ArgumentTypeError(message)


def _read_text(path):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise _UsageError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise _UsageError(f"{path} is a directory") from None
    except UnicodeDecodeError:
        raise _UsageError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise _UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not text.strip():
        raise _UsageError(f"{path} has no text")
    return text


def _load(path):
    from .text import RNNLanguageModel

    try:
        with open(path, "rb") as fh:
            model = pickle.load(fh)
    except FileNotFoundError:
        raise _UsageError(f"argument --load: no such file: {path}") from None
    except OSError as exc:
        raise _UsageError(f"argument --load: cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:   # not a pickle, or one from another seqcore
        raise _UsageError(f"argument --load: {path} is not a saved seqcore model "
                          f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                          ) from None
    if not isinstance(model, RNNLanguageModel) or not hasattr(model, "network_"):
        raise _UsageError(f"argument --load: {path} holds a {type(model).__name__}, not a "
                          "trained seqcore RNNLanguageModel")
    return model


def _enough_to_hold_out(n_tokens, fraction):
    """Whether a text of n tokens leaves 2 on each side of the language
    model's validation split (``RNNLanguageModel``'s rule at fit)."""
    n_val = int(round(fraction * n_tokens))
    return n_val >= 2 and n_tokens - n_val >= 2


def run(args, interrupted, staged):
    """Run ``seqcore generate`` (called by ``_cli.main``)."""
    from .text import RNNLanguageModel, SequenceTokenizer

    def progress(msg):
        print(msg, file=sys.stderr, flush=True)

    # everything the user asked for, checked before any training
    if args.load is not None:
        for value, option in ((args.textfile, "TEXTFILE"), (args.analyzer, "--analyzer"),
                              (args.cell, "--cell"), (args.hidden_size, "--hidden-size"),
                              (args.max_iter, "--max-iter")):
            if value is not None:
                raise _UsageError(f"{option} sets up training; --load uses a trained model "
                                  "instead")
        source = os.path.realpath(args.load)
        model = _load(args.load)
        tokenizer, unknown_learned = model.tokenizer_, model._unk_seen
    else:
        if args.textfile is None:
            from .datasets import load_text
            text, name = load_text(), "Alice's Adventures in Wonderland, chapter I"
            source = None
        else:
            text, name = _read_text(args.textfile), args.textfile
            source = os.path.realpath(args.textfile)
        model = RNNLanguageModel(analyzer=args.analyzer or "char", cell=args.cell or "lstm",
                                 hidden_size=args.hidden_size or 128,
                                 max_iter=args.max_iter or 300, dropout=0.1,
                                 early_stopping=True, validation_fraction=0.1,
                                 n_iter_no_change=10, random_state=args.seed)
        # the vocabulary the model will learn (fit makes the same one)
        tokenizer = SequenceTokenizer(analyzer=model.analyzer, lowercase=model.lowercase)
        try:
            tokenizer.fit([text])
        except ValueError:
            raise _UsageError(f"{name} has no {model.analyzer}s to train on") from None
        unknown_learned = False    # min_frequency=1: every token of the text is known
        # the model holds out the text's last tenth to stop training: both parts
        # need 2 tokens (said here, in the command's terms, before training)
        n_tokens = len(tokenizer._tokens(text))
        if not _enough_to_hold_out(n_tokens, model.validation_fraction):
            fewest = next(n for n in range(n_tokens, n_tokens + 1000)
                          if _enough_to_hold_out(n, model.validation_fraction))
            unit = "characters" if model.analyzer == "char" else "words and marks"
            raise _UsageError(f"{name} has {n_tokens} {unit}; training needs at least "
                              f"{fewest} (it holds out the last tenth of the text to know "
                              "when to stop)")
    unseen = sorted({t for t in tokenizer._tokens(args.prefix)
                     if t not in tokenizer.vocabulary_})
    if unseen and not unknown_learned:
        raise _UsageError(f"argument --prefix: {unseen!r:.200} never occur in the training "
                          "text; the model cannot read them")
    save = None if args.save is None else _destination(args.save, "--save", source)
    if save is not None and args.load is not None and _same_file(save, args.load):
        raise _UsageError("arguments --save and --load name the same file")

    if args.load is None:
        progress(f"seqcore generate: training a {model.analyzer} {model.cell} language model "
                 f"on {name} ({len(text):,} characters) ...")
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _fit(model, [text], interrupted)
        bits = -max(model.validation_scores_) / math.log(2)
        progress(f"trained in {time.perf_counter() - t0:.1f}s, {model.n_iter_} epochs; "
                 f"{model.vocab_size_ - 2} distinct tokens; held-out tenth: {bits:.2f} bits "
                 "per token")
    generated = model.sample(args.length, prefix=args.prefix, temperature=args.temperature,
                             top_k=args.top_k, random_state=args.seed)
    if save is not None:
        _stage(staged, save, args.save, lambda fh: pickle.dump(model, fh), binary=True)
    try:
        staged.commit()
    except OSError as exc:
        raise _UsageError(f"cannot write the model file: {exc}") from None
    if save is not None:
        progress(f"model written to {args.save}")
    print(generated)

"""What both commands of the ``seqcore`` command line share (``seqcore
forecast`` in ``_cli``, ``seqcore generate`` in ``_cli_generate``): usage
errors, argument types, output paths and staging, and running a fit that
Ctrl-C may interrupt.  Both import it; neither imports the other's helpers.
"""

import argparse
import os
import stat
import tempfile
import warnings

# The start of the RuntimeWarning the estimators emit when KeyboardInterrupt
# ends their training loop (seqcore/_estimators.py).
_INTERRUPTED_TRAINING = "training interrupted"


class _UsageError(Exception):
    """A problem with what the user asked for: one line, exit code 2."""


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text!r}")
    return value


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)    # hard links, bind mounts
    except OSError:                      # one of them does not exist
        return False


def _is_special(path):
    """A device or a pipe (``/dev/null``, ``/dev/stdout``): written in place."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _destination(path, option, source):
    """The real path that ``option`` writes, once it is known to be writable.

    Refuses the input file ``source``, a directory, a missing folder and a
    place that cannot be written, each with a one-line ``_UsageError``.
    """
    if not path:
        raise _UsageError(f"argument {option}: expected a file name")
    if path.endswith(("/", os.sep)):
        raise _UsageError(f"argument {option}: {path} names a folder, not a file")
    real = os.path.realpath(path)        # through a symlink: the link stays a link
    if source is not None and _same_file(real, source):
        raise _UsageError(f"argument {option}: {path} is the input file; refusing to "
                          "overwrite it (choose another file name)")
    if os.path.isdir(real):
        raise _UsageError(f"argument {option}: {path} is a directory")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise _UsageError(f"argument {option}: the folder {folder} {what}")
    if _is_special(real):
        return real
    if os.path.exists(real) and not os.access(real, os.W_OK):
        raise _UsageError(f"argument {option}: {path} is read-only")
    try:        # what the final write needs: a new file in that folder
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".seqcore-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _UsageError(f"argument {option}: cannot write in {folder}: "
                          f"{exc.strerror or exc}") from None
    return real


def _fit(model, y, interrupted, **fit_kw):
    """``model.fit(y, **fit_kw)``, ending the run on Ctrl-C even if the
    estimator caught it."""
    _guarded(lambda: model.fit(y, **fit_kw), interrupted)
    return model


def _guarded(call, interrupted):
    """``call()`` (anything that trains: a fit, ``forecast_many``), ending the
    run on Ctrl-C even if the estimator caught it; returns what it returns."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=_INTERRUPTED_TRAINING, category=RuntimeWarning)
        try:
            out = call()
        except RuntimeWarning as exc:
            if str(exc).startswith(_INTERRUPTED_TRAINING):
                raise KeyboardInterrupt from None
            raise
    if interrupted["hit"]:
        raise KeyboardInterrupt
    return out


def _stage(staged, dest, shown, write, binary=False):
    try:
        staged.add(dest, write, binary)
    except (OSError, ValueError) as exc:
        raise _UsageError(f"cannot write {shown}: {exc}") from None

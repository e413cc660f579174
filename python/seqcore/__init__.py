"""seqcore: recurrent neural networks for scikit-learn users, on a Cython/BLAS core.

Estimators: ``RNNClassifier``, ``RNNRegressor``, ``RNNSequenceLabeler`` (label
sequences without alignment, CTC); forecasting: ``RNNForecaster``
(many series: ``seqcore.forecasting``; backtesting: ``seqcore.model_selection``).
Layers with explicit forward and backward passes, optimizers, schedules and
losses: ``seqcore.nn``; code run after each training epoch:
``seqcore.callbacks``.  Figures:
``LossCurveDisplay``, ``ForecastDisplay``.  Interoperability: ``seqcore.convert``
(weights to and from PyTorch and Keras), ``seqcore.onnx``
(ONNX export), ``seqcore.persistence`` (skops), ``seqcore.integrations``
(aeon, sktime; imported on their own).
"""

import os as _os
import sys as _sys


def _importing_for_the_command():
    """Whether this import starts the ``seqcore`` command: its console script
    (the ``__main__`` file named seqcore) or ``python -m seqcore`` (``-m`` is
    argv[0] while Python imports the package of the module to run)."""
    main = _sys.modules.get("__main__")
    script = _os.path.basename(getattr(main, "__file__", None) or "")
    return _sys.argv[:1] == ["-m"] or _os.path.splitext(script)[0] in ("seqcore",
                                                                     "seqcore-script")


try:
    from . import _threads  # noqa: F401  (BLAS threads per shape)
    from . import (callbacks, convert, datasets, forecasting, model_selection, nn, onnx,
                   parallel, persistence, preprocessing, text)
    from ._estimators import RNNClassifier, RNNRegressor
    from ._forecasting import RNNForecaster
    from ._labeler import RNNSequenceLabeler
    from .plotting import ForecastDisplay, LossCurveDisplay
except KeyboardInterrupt:
    # Ctrl-C while the command is still importing (SciPy and scikit-learn take
    # a moment): one line and exit 130, as once it runs (seqcore._cli), not a
    # traceback.  In a program of the user's, the interrupt goes on.
    if not _importing_for_the_command():
        raise
    print("seqcore: interrupted", file=_sys.stderr, flush=True)
    # _exit: nothing is written yet, and an interpreter that finalises after
    # an interrupted import may still end by the signal (exit -2, not 130)
    _os._exit(130)

# The one place the version is written: pyproject.toml reads it from here
# ([tool.setuptools.dynamic]), and `seqcore --version` prints it.
__version__ = "0.1.0"

__all__ = ["RNNClassifier", "RNNRegressor", "RNNForecaster", "RNNSequenceLabeler",
           "LossCurveDisplay", "ForecastDisplay",
           "callbacks", "convert", "datasets", "forecasting", "model_selection", "nn", "onnx",
           "parallel", "persistence", "preprocessing", "text", "__version__"]

"""seqcore: recurrent neural networks for scikit-learn users, on a Cython/BLAS core.

Estimators: ``RNNClassifier``, ``RNNRegressor``; forecasting: ``RNNForecaster``
(many series: ``seqcore.forecasting``; backtesting: ``seqcore.model_selection``).
Layers with explicit forward and backward passes, optimizers, schedules and
losses: ``seqcore.nn``; code run after each training epoch:
``seqcore.callbacks``.  Figures:
``LossCurveDisplay``, ``ForecastDisplay``.  Interoperability: ``seqcore.onnx``
(ONNX export), ``seqcore.persistence`` (skops), ``seqcore.integrations``
(aeon, sktime; imported on their own).
"""

from . import _threads  # noqa: F401  (BLAS threads per shape)
from . import (callbacks, datasets, forecasting, model_selection, nn, onnx, parallel,
               persistence, preprocessing, text)
from ._estimators import RNNClassifier, RNNRegressor
from ._forecasting import RNNForecaster
from .plotting import ForecastDisplay, LossCurveDisplay

# The one place the version is written: pyproject.toml reads it from here
# ([tool.setuptools.dynamic]), and `seqcore --version` prints it.
__version__ = "0.1.0"

__all__ = ["RNNClassifier", "RNNRegressor", "RNNForecaster",
           "LossCurveDisplay", "ForecastDisplay",
           "callbacks", "datasets", "forecasting", "model_selection", "nn", "onnx", "parallel",
           "persistence", "preprocessing", "text", "__version__"]

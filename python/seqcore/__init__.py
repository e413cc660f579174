"""seqcore: recurrent neural networks for scikit-learn users, on a Cython/BLAS core.

Estimators: ``RNNClassifier``, ``RNNRegressor``; forecasting: ``RNNForecaster``
(backtesting in ``seqcore.model_selection``).  Layers with explicit
forward and backward passes: ``seqcore.nn``.
"""

from . import _threads, datasets, nn, text  # noqa: F401  (_threads: BLAS threads per shape)
from ._estimators import RNNClassifier, RNNRegressor
from ._forecasting import RNNForecaster

# The one place the version is written: pyproject.toml reads it from here
# ([tool.setuptools.dynamic]), and `seqcore --version` prints it.
__version__ = "0.1.0"

__all__ = ["RNNClassifier", "RNNRegressor", "RNNForecaster", "datasets", "nn", "text",
           "__version__"]

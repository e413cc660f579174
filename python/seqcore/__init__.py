"""seqcore: recurrent neural networks for scikit-learn users, on a Cython/BLAS core."""

from . import nn

__version__ = "0.1.0"

__all__ = ["nn", "__version__"]

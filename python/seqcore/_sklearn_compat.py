"""The one module that imports scikit-learn's private helpers.

scikit-learn's declarative parameter validation (``Interval``,
``StrOptions``) lives in a private module; keeping every such import here
means a change in scikit-learn touches one file.
"""

from sklearn.utils._param_validation import Interval, StrOptions  # noqa: F401

__all__ = ["Interval", "StrOptions"]

"""``seqcore.integrations.sktime.RNNForecaster``: seqcore's forecaster as a
sktime forecaster.

Design.  A thin adapter on sktime's ``BaseForecaster``: sktime checks and
converts the input (``y`` arrives as a ``pd.Series``), keeps the cutoff and
turns ``fh`` into steps; the adapter fits a ``seqcore.RNNForecaster`` on the
values (NaN for missing ones) with ``horizon`` the furthest step of ``fh``
(sktime passes ``fh`` to ``fit``), the season from the index's frequency,
and indexes the forecasts by ``fh.to_absolute_index(cutoff)``.  Quantiles
come from seqcore's calibrated quantiles; sktime derives
``predict_interval`` from them.  A series too short to hold out a
calibration tail gets Gaussian quantiles instead, with the spread of its
first differences growing as the square root of the step.  ``update``
appends the new values to the history (``update_params=False``) or refits
on the whole history, which the adapter keeps itself (it does not depend
on sktime's ``remember_data``).

Requires sktime (``pip install 'seqcore-rnn[sktime]'``).
"""

import numpy as np
import pandas as pd

try:
    from sktime.forecasting.base import BaseForecaster
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("seqcore.integrations.sktime needs sktime, which is not a dependency "
                      "of seqcore: pip install 'seqcore-rnn[sktime]'") from exc

from .._forecasting import RNNForecaster as _RNNForecaster
from .._forecasting import season_from_freq

__all__ = ["RNNForecaster"]


class RNNForecaster(BaseForecaster):
    """seqcore's recurrent-network forecaster behind sktime's interface.

    Parameters
    ----------
    window, strategy, season, deseasonalize, transform, differencing, \
n_models, calibration_size, cell, hidden_size, num_layers, learning_rate, \
batch_size, max_iter, random_state
        As in ``seqcore.RNNForecaster`` (the other training options keep
        their defaults).  ``horizon`` is not a parameter: it is the furthest
        step of the ``fh`` given to ``fit``.  ``season='auto'`` reads the
        frequency of the index first.

    Attributes
    ----------
    forecaster_ : seqcore.RNNForecaster
        The fitted seqcore model.

    Examples
    --------
    >>> from sktime.datasets import load_airline
    >>> from seqcore.integrations.sktime import RNNForecaster
    >>> y = load_airline()
    >>> f = RNNForecaster(n_models=1, max_iter=20, random_state=0).fit(y, fh=[1, 2, 3])
    >>> f.predict().shape
    (3,)
    >>> f.predict_interval(coverage=0.9).shape
    (3, 2)
    """

    _tags = {
        "authors": ["seqcore developers"],
        "maintainers": ["seqcore developers"],
        # no "python_dependencies": sktime checks them by installed
        # distribution name, and this class ships inside seqcore itself (the
        # distribution seqcore-rnn, or a source tree on sys.path)
        "y_inner_mtype": "pd.Series",
        "X_inner_mtype": "pd.DataFrame",
        "capability:multivariate": False,
        "capability:exogenous": False,
        "capability:insample": False,
        "capability:pred_int": True,
        "capability:pred_int:insample": False,
        "capability:missing_values": True,
        "capability:update": True,
        "requires-fh-in-fit": True,
        "capability:random_state": True,
    }

    def __init__(self, window="auto", strategy="direct", season="auto",
                 deseasonalize="auto", transform="auto", differencing="auto", n_models=5,
                 calibration_size=0.5, cell="lstm", hidden_size=32, num_layers=1,
                 learning_rate=0.01, batch_size=32, max_iter=200, random_state=None):
        self.window = window
        self.strategy = strategy
        self.season = season
        self.deseasonalize = deseasonalize
        self.transform = transform
        self.differencing = differencing
        self.n_models = n_models
        self.calibration_size = calibration_size
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.random_state = random_state
        super().__init__()

    # ------------------------------------------------------------------ fit
    def _steps(self, fh):
        return np.asarray(fh.to_relative(self.cutoff), dtype=np.int64)

    def _fit(self, y, X=None, fh=None):
        steps = self._steps(fh)
        self._horizon = int(steps.max())
        values = y.to_numpy(dtype=np.float64, na_value=np.nan)
        season = self.season
        if season == "auto":
            m = season_from_freq(getattr(y.index, "freq", None))
            season = m if m is not None else "auto"
        params = {p: getattr(self, p) for p in (
            "window", "strategy", "deseasonalize", "transform", "differencing", "n_models",
            "calibration_size", "cell", "hidden_size", "num_layers", "learning_rate",
            "batch_size", "max_iter", "random_state")}
        self.forecaster_ = _RNNForecaster(horizon=self._horizon, season=season, **params)
        self.forecaster_.fit(values)
        self._history = y.copy()
        changes = np.diff(values[np.isfinite(values)])
        self._spread = float(np.std(changes)) if changes.size > 1 else 0.0
        return self

    # -------------------------------------------------------------- predict
    def _predict(self, fh, X=None):
        steps = self._steps(fh)
        pred = self.forecaster_.predict(steps)
        return _series(pred, fh.to_absolute_index(self.cutoff), self._history.name)

    def _predict_quantiles(self, fh, X=None, alpha=None):
        steps = self._steps(fh)
        alpha = list(alpha)
        if self.forecaster_.n_calibration_errors_ > 0:
            q = np.asarray(self.forecaster_.predict_quantiles(steps, alpha=alpha))
        else:   # too short to calibrate: Gaussian, spread of the changes * sqrt(step)
            from scipy.stats import norm
            point = np.asarray(self.forecaster_.predict(steps))
            width = self._spread * np.sqrt(steps)[:, None]
            q = point[:, None] + width * norm.ppf(alpha)[None, :]
        names = self._get_varnames()
        columns = pd.MultiIndex.from_product([names, alpha])
        return pd.DataFrame(q, index=fh.to_absolute_index(self.cutoff), columns=columns)

    # --------------------------------------------------------------- update
    def _update(self, y, X=None, update_params=True):
        new = y[~y.index.isin(self._history.index)]       # values not seen yet
        history = pd.concat([self._history, new], sort=False) if len(new) else self._history
        if update_params:
            return self._fit(history, None, self._fh)
        if len(new):
            self.forecaster_.update(new.to_numpy(dtype=np.float64, na_value=np.nan))
            self._history = history
        return self

    @classmethod
    def get_test_params(cls, parameter_set="default"):
        """Small, fast settings for sktime's estimator checks."""
        return [
            {"hidden_size": 4, "max_iter": 3, "n_models": 1, "random_state": 0},
            {"window": 3, "strategy": "recursive", "hidden_size": 4, "max_iter": 2,
             "n_models": 2, "cell": "gru", "calibration_size": 0.3, "random_state": 1},
        ]


def _series(values, index, name):
    return pd.Series(np.asarray(values, dtype=np.float64), index=index, name=name)

"""Displays in scikit-learn's style: ``LossCurveDisplay`` and ``ForecastDisplay``.

Design (after ``sklearn.metrics.RocCurveDisplay``): a display object holds
the numbers of one figure; ``plot(ax=None)`` draws them and keeps the
matplotlib artists as attributes ending in ``_`` (``ax_``, ``figure_``,
the lines), so a user restyles the figure afterwards; ``from_estimator``
computes the numbers from a fitted model and plots.  matplotlib is imported
only when drawing (``pip install 'seqcore-rnn[plot]'``).
"""

import numbers

import numpy as np

__all__ = ["LossCurveDisplay", "ForecastDisplay"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'seqcore-rnn[plot]'") from exc
    return plt


def _axes(ax):
    if ax is None:
        _, ax = _pyplot().subplots()
    return ax


def _final_estimator(estimator):
    """The last step of a Pipeline, else the estimator itself."""
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _finite_1d(values, name):
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a


class LossCurveDisplay:
    """The training loss per epoch, with the validation score when there is one.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss of each epoch (an estimator's ``loss_curve_``).
    validation_scores : array-like of shape (n_epochs,), default=None
        Validation score of each epoch (``validation_scores_``, with early
        stopping); drawn on a second y axis.
    estimator_name : str, default=None
        Shown in the title.

    Attributes
    ----------
    line_ : matplotlib Line2D
        The training loss.
    validation_line_ : matplotlib Line2D or None
    ax_ : matplotlib Axes
        The axes of the loss.
    ax_validation_ : matplotlib Axes or None
        The second y axis, of the validation score.
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore import LossCurveDisplay, RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((40, 6, 2)), np.arange(40) % 2
    >>> clf = RNNClassifier(hidden_size=4, max_iter=50, n_iter_no_change=2, tol=0.01,
    ...                     random_state=0).fit(X, y)
    >>> disp = LossCurveDisplay.from_estimator(clf)
    >>> disp.ax_.get_xlabel(), disp.ax_.get_ylabel()
    ('epoch', 'training loss')
    """

    def __init__(self, loss_curve, validation_scores=None, *, estimator_name=None):
        self.loss_curve = loss_curve
        self.validation_scores = validation_scores
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, log_scale=False, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        log_scale : bool, default=False
            A logarithmic loss axis.
        **kwargs
            Passed to ``ax.plot`` for the loss line.

        Returns
        -------
        display : LossCurveDisplay
            This object, with the artists stored in it.
        """
        loss = _finite_1d(self.loss_curve, "loss_curve")
        if loss.size == 0:
            raise ValueError("loss_curve is empty: nothing to plot")
        ax = _axes(ax)
        epochs = np.arange(1, loss.size + 1)
        (self.line_,) = ax.plot(epochs, loss, **{"color": "C0", "label": "training loss",
                                                 **kwargs})
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss")
        if log_scale:
            ax.set_yscale("log")
        self.validation_line_ = self.ax_validation_ = None
        handles = [self.line_]
        scores = (None if self.validation_scores is None
                  else _finite_1d(self.validation_scores, "validation_scores"))
        if scores is not None and scores.size:
            self.ax_validation_ = ax.twinx()
            (self.validation_line_,) = self.ax_validation_.plot(
                np.arange(1, scores.size + 1), scores, color="C1", label="validation score")
            self.ax_validation_.set_ylabel("validation score")
            handles.append(self.validation_line_)
        ax.legend(handles=handles, loc="center right")
        if self.estimator_name:
            ax.set_title(self.estimator_name)
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, log_scale=False, **kwargs):
        """Plot the loss curve of a fitted estimator.

        Parameters
        ----------
        estimator : fitted RNNClassifier, RNNRegressor, RNNForecaster or Pipeline
            Anything with ``loss_curve_`` (a forecaster's ``regressor_``, a
            pipeline's last step).
        ax : matplotlib Axes, default=None
        log_scale : bool, default=False
        **kwargs
            Passed to ``ax.plot`` for the loss line.

        Returns
        -------
        display : LossCurveDisplay
        """
        final = _final_estimator(estimator)
        source = getattr(final, "regressor_", final)
        if not hasattr(source, "loss_curve_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError(f"this {type(final).__name__} has no loss_curve_: fit it "
                                 "first (or pass an estimator that records one)")
        disp = cls(source.loss_curve_, getattr(source, "validation_scores_", None),
                   estimator_name=type(final).__name__)
        return disp.plot(ax=ax, log_scale=log_scale, **kwargs)


class ForecastDisplay:
    """A series' history, its forecast and the forecast's interval.

    Parameters
    ----------
    y : array-like of shape (n_history,)
        The history (the last part of it, if you like).
    forecast : array-like of shape (n_steps,)
    lower, upper : array-like of shape (n_steps,), default=None
        The prediction interval; none drawn when None.
    index : array-like of shape (n_history,), default=None
        x values of the history (e.g. dates); steps 0, 1, ... when None.
    forecast_index : array-like of shape (n_steps,), default=None
        x values of the forecast; continues ``index`` by its last spacing
        (or the step numbers) when None.
    coverage : float, default=None
        The interval's coverage, for the legend.
    series_name : str, default=None
        The y axis label ("value" when None).

    Attributes
    ----------
    history_line_, forecast_line_ : matplotlib Line2D
    interval_ : matplotlib PolyCollection or None
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore import ForecastDisplay
    >>> disp = ForecastDisplay(np.arange(10.0), [10.0, 11.0], [9.5, 10.0], [10.5, 12.0],
    ...                        coverage=0.9).plot()
    >>> disp.ax_.get_xlabel(), disp.ax_.get_ylabel()
    ('time step', 'value')
    """

    def __init__(self, y, forecast, lower=None, upper=None, *, index=None,
                 forecast_index=None, coverage=None, series_name=None):
        self.y = y
        self.forecast = forecast
        self.lower = lower
        self.upper = upper
        self.index = index
        self.forecast_index = forecast_index
        self.coverage = coverage
        self.series_name = series_name

    def _x(self, n_hist, n_fc):
        """x values of the history and of the forecast."""
        if self.index is None:
            x_hist = np.arange(n_hist)
        else:
            x_hist = np.asarray(self.index)
            if x_hist.shape != (n_hist,):
                raise ValueError(f"index must have one entry per value of y ({n_hist}), "
                                 f"got shape {x_hist.shape}")
        if self.forecast_index is not None:
            x_fc = np.asarray(self.forecast_index)
            if x_fc.shape != (n_fc,):
                raise ValueError(f"forecast_index must have one entry per forecast step "
                                 f"({n_fc}), got shape {x_fc.shape}")
        elif self.index is None:
            x_fc = np.arange(n_hist, n_hist + n_fc)
        elif n_hist >= 2:
            x_fc = x_hist[-1] + (x_hist[-1] - x_hist[-2]) * np.arange(1, n_fc + 1)
        else:
            raise ValueError("pass forecast_index: one history value gives no spacing "
                             "to continue index by")
        return x_hist, x_fc

    def plot(self, ax=None, *, title=None):
        """Draw history, forecast and interval.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; a new figure when None.
        title : str, default=None

        Returns
        -------
        display : ForecastDisplay
            This object, with the artists stored in it.
        """
        y = _finite_1d(self.y, "y")
        fc = _finite_1d(self.forecast, "forecast")
        if (self.lower is None) != (self.upper is None):
            raise ValueError("pass both lower and upper, or neither")
        bounds = None
        if self.lower is not None:
            bounds = (_finite_1d(self.lower, "lower"), _finite_1d(self.upper, "upper"))
            if any(b.shape != fc.shape for b in bounds):
                raise ValueError(f"lower and upper must have the forecast's shape {fc.shape}")
        x_hist, x_fc = self._x(y.size, fc.size)
        ax = _axes(ax)
        (self.history_line_,) = ax.plot(x_hist, y, color="0.2", lw=1.2, label="history")
        (self.forecast_line_,) = ax.plot(x_fc, fc, color="C0", lw=1.6, label="forecast")
        self.interval_ = None
        if bounds is not None:
            label = (f"{round(100 * self.coverage)}% interval" if self.coverage is not None
                     else "interval")
            self.interval_ = ax.fill_between(x_fc, *bounds, color="C0", alpha=0.25,
                                             label=label)
        ax.set_xlabel("time step" if self.index is None else "time")
        ax.set_ylabel(self.series_name or "value")
        if title:
            ax.set_title(title)
        ax.legend(loc="upper left")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(cls, forecaster, y, fh, *, X=None, coverage=0.9, index=None,
                       series=None, target=None, series_name=None, ax=None, title=None):
        """Forecast with a fitted ``RNNForecaster`` and plot.

        Parameters
        ----------
        forecaster : fitted RNNForecaster
        y : array-like of shape (n_history,)
            The history to show: the series the forecaster was fit on (or
            updated with), or its last part.
        fh : int or array-like of int
            Steps ahead, as in ``forecaster.predict``.
        X : array-like, default=None
            Future exogenous values, as in ``forecaster.predict``.
        coverage : float or None, default=0.9
            Coverage of the interval (``predict_interval``); None draws no
            interval.
        index : array-like of shape (n_history,), default=None
            x values of the history (e.g. dates); the forecast continues
            them by their last spacing.
        series : int, default=None
            Which series, for a forecaster fit on a list of series.
        target : int, default=None
            Which column, for a forecaster fit on a 2-D series.
        series_name : str, default=None
            The y axis label.
        ax : matplotlib Axes, default=None
        title : str, default=None

        Returns
        -------
        display : ForecastDisplay
        """
        from sklearn.utils.validation import check_is_fitted
        check_is_fitted(forecaster, "regressor_")
        if coverage is None:
            fc, lo, hi = forecaster.predict(fh, X=X), None, None
        else:
            fc, lo, hi = forecaster.predict_interval(fh, X=X, coverage=coverage)
        pick = lambda a: None if a is None else _pick(a, series, target)  # noqa: E731
        fc, lo, hi = pick(fc), pick(lo), pick(hi)
        steps = (np.arange(1, int(fh) + 1) if isinstance(fh, numbers.Integral)
                 else np.asarray(fh))
        y = _pick(np.asarray(y) if not isinstance(y, (list, tuple)) else y, series, target)
        forecast_index = None
        if index is None:
            forecast_index = len(y) - 1 + steps
        else:
            x_hist = np.asarray(index)
            if x_hist.shape != (len(y),) or len(y) < 2:
                raise ValueError(f"index must have one entry per value of y ({len(y)}, at "
                                 f"least 2), got shape {x_hist.shape}")
            forecast_index = x_hist[-1] + (x_hist[-1] - x_hist[-2]) * steps
        disp = cls(y, fc, lo, hi, index=index, forecast_index=forecast_index,
                   coverage=coverage, series_name=series_name)
        return disp.plot(ax=ax, title=title)


def _pick(a, series, target):
    """One 1-D series out of a list of series and/or 2-D columns."""
    if isinstance(a, (list, tuple)):
        if series is None:
            raise ValueError("the forecaster holds several series: choose one with series=")
        a = a[series]
    elif series not in (None, 0):
        raise ValueError("series= applies to a forecaster fit on a list of series")
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        if target is None:
            raise ValueError("the series has several target columns: choose one with target=")
        a = a[:, target]
    elif target not in (None, 0):
        raise ValueError("target= applies to a forecaster fit on a 2-D series")
    return a

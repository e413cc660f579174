"""
Forecast airline passengers with an interval
============================================

:class:`~seqcore.RNNForecaster` on the bundled monthly airline-passengers
series: a log transform for its multiplicative seasonality, a direct model
for the next 12 months, and a split-conformal 90% interval calibrated on
the last part of the series.  :class:`~seqcore.ForecastDisplay` draws the
history, the forecast and the interval against the months.
"""

import numpy as np

from seqcore import ForecastDisplay, RNNForecaster
from seqcore.datasets import load_airline

y = load_airline()
months = np.arange("1949-01", "1961-01", dtype="datetime64[M]")

forecaster = RNNForecaster(window=24, horizon=12, transform="log", hidden_size=16,
                           max_iter=100, random_state=0).fit(y)
forecast, lower, upper = forecaster.predict_interval(12, coverage=0.9)
print(np.round(forecast[:6]))

# %%
# The last four years of history, the forecast and its interval:
disp = ForecastDisplay.from_estimator(forecaster, y[-48:], 12, coverage=0.9,
                                      index=months[-48:], series_name="passengers (1000s)",
                                      title="Airline passengers")

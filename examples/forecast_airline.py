"""Forecast the airline passengers series with an LSTM, with 90% intervals.

The classic Box & Jenkins series (monthly international airline passengers,
1949-1960, bundled with seqcore) has a trend and a yearly season that grows
with the level, so the forecaster models the log of the series
(``transform='log'``) in first differences (the default), reads two years
(``window=24``) and forecasts the next year in one shot (``strategy='direct'``,
``horizon=12``). Its intervals are split-conformal: the last 20% of the
series is held out once to measure the forecast errors per horizon.

It then backtests from three origins (the model is refit on the data before
each) against the seasonal naive forecast (same month last year), and plots
history, forecast and interval band when matplotlib is installed.

Run:  python examples/forecast_airline.py [plot.png]
"""

import sys
import time

import numpy as np

from seqcore import RNNForecaster
from seqcore.datasets import load_airline
from seqcore.model_selection import backtest

SEASON, HORIZON = 12, 12


def make_forecaster():
    return RNNForecaster(window=24, horizon=HORIZON, strategy="direct", transform="log",
                         cell="lstm", hidden_size=32, max_iter=200, random_state=0)


def main(png="airline_forecast.png"):
    y, months = load_airline(return_dates=True)
    print(f"airline passengers: {len(y)} months, {months[0]} to {months[-1]} (thousands)")

    t0 = time.perf_counter()
    forecaster = make_forecaster().fit(y)
    forecast, lower, upper = forecaster.predict_interval(HORIZON, coverage=0.9)
    print(f"fit and calibrated in {time.perf_counter() - t0:.1f}s\n")

    future = months[-1] + np.arange(1, HORIZON + 1)
    print(f"{'month':>8}  {'forecast':>9}  {'90% interval':>19}")
    for m, f, lo, hi in zip(future, forecast, lower, upper):
        print(f"{str(m):>8}  {f:9.1f}  [{lo:7.1f}, {hi:7.1f}]")

    print("\nbacktest: 3 origins a year apart, each forecasting the next 12 months")
    t0 = time.perf_counter()
    result = backtest(make_forecaster(), y, horizon=HORIZON, n_origins=3, season=SEASON)
    print(f"{'origin':>8}  {'seqcore sMAPE':>13}  {'MASE':>6}  {'naive sMAPE':>11}  {'MASE':>6}")
    for i, origin in enumerate(result["origins"]):
        print(f"{str(months[origin]):>8}  {result['smape'][i]:12.2f}%  {result['mase'][i]:6.3f}"
              f"  {result['naive_smape'][i]:10.2f}%  {result['naive_mase'][i]:6.3f}")
    mean = result["mean"]
    print(f"{'mean':>8}  {mean['smape']:12.2f}%  {mean['mase']:6.3f}"
          f"  {mean['naive_smape']:10.2f}%  {mean['naive_mase']:6.3f}")
    print(f"(backtest took {time.perf_counter() - t0:.1f}s; naive = same month last year)")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\nmatplotlib is not installed: no plot (pip install 'seqcore-rnn[plot]')")
        return
    x_hist = months.astype("datetime64[D]")
    x_fut = future.astype("datetime64[D]")
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(x_hist, y, color="0.2", lw=1.2, label="history")
    ax.plot(x_fut, forecast, color="C0", lw=1.6, label="forecast")
    ax.fill_between(x_fut, lower, upper, color="C0", alpha=0.25, label="90% interval")
    ax.set_title("Airline passengers (thousands): seqcore LSTM forecast")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    print(f"\nplot written to {png}")


if __name__ == "__main__":
    main(*sys.argv[1:2])

"""The length rules of the forecaster, in one place: ``_Plan`` turns a
series length (and its season) into the window, the calibration tail and
the shortest series a fit accepts; ``RNNForecaster.fit``,
``forecast_many`` and the command line all ask it.
"""


class _Plan:
    """Window, calibration tail and shortest series of one fit: the one
    place these rules live (``fit``, ``forecast_many`` and the CLI use it)."""

    def __init__(self, est, lengths, season, differencing):
        d, H = differencing, est.horizon
        direct = est.strategy == "direct"
        self.season, self._cal_size = season, est.calibration_size
        self._H = H
        after = d + (H if direct else 1)               # steps a window needs after it
        self.what = f"window + differencing + {'horizon' if direct else '1'}"
        tails = [self.tail(n) for n in lengths]
        if est.window == "auto":
            preferred = min(2 * season, max(season, 24)) if season > 1 else max(2 * H, 12)
            head = min(n - t for n, t in zip(lengths, tails))
            # at least about as many training windows as input steps
            self.window = int(max(2, min(preferred, (head - after) // 2)))
        else:
            self.window = int(est.window)
        self.min_fit = self.window + after
        # calibration only when every series keeps enough to fit on
        ok = all(t and n - t >= self.min_fit + 2 for n, t in zip(lengths, tails))
        self.calibration = tails if ok else [0] * len(lengths)

    def tail(self, n):
        """The calibration tail of a series of length n (0: none)."""
        if self._cal_size == 0:
            return 0
        return max(int(round(self._cal_size * n)), self._H + 2)

    def check(self, lengths, names=None, need_calibration=False, global_model=False):
        """Raise a ValueError for a series too short to fit (or to calibrate)."""
        def label(i):
            return f"series {names[i]!r}" if names is not None else (
                "the series" if len(lengths) == 1 else f"series {i}")
        for i, n in enumerate(lengths):
            if n < self.min_fit:
                raise ValueError(f"{label(i)} has {n} values: shorter than {self.what} = "
                                 f"{self.min_fit} (window={self.window})")
        if need_calibration and not all(self.calibration):
            for i, n in enumerate(lengths):
                t = self.tail(n)
                if t == 0 or n - t < self.min_fit + 2:
                    raise ValueError(
                        f"{label(i)} has {n} values, too few to hold out a tail for "
                        f"calibrating intervals (calibration_size={self._cal_size}); it "
                        f"needs {self.min_fit + 2} values before a tail of "
                        f"{max(t, self._H + 2)}"
                        + ("; a global model calibrates only when every series can"
                           if global_model else ""))

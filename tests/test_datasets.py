"""Tests for seqcore.datasets: the bundled values, their dates, the text, pandas."""

import hashlib
import sys

import numpy as np
import pytest

from seqcore.datasets import load_airline, load_lynx, load_text

# The airline values as printed in R's datasets::AirPassengers and checked
# against an independent CSV copy (see load_airline's docstring), one row a year.
AIRLINE_BY_YEAR = np.array([
    [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118],  # 1949
    [115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140],  # 1950
    [145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166],  # 1951
    [171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194],  # 1952
    [196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201],  # 1953
    [204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229],  # 1954
    [242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278],  # 1955
    [284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306],  # 1956
    [315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336],  # 1957
    [340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337],  # 1958
    [360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405],  # 1959
    [417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432],  # 1960
], dtype=np.float64)

# The lynx values of R's datasets::lynx and of fma::lynx, which agree, one
# decade a row from 1821 (the last row holds 1931-1934).
LYNX_BY_DECADE = [
    [269, 321, 585, 871, 1475, 2821, 3928, 5943, 4950, 2577],
    [523, 98, 184, 279, 409, 2285, 2685, 3409, 1824, 409],
    [151, 45, 68, 213, 546, 1033, 2129, 2536, 957, 361],
    [377, 225, 360, 731, 1638, 2725, 2871, 2119, 684, 299],
    [236, 245, 552, 1623, 3311, 6721, 4254, 687, 255, 473],
    [358, 784, 1594, 1676, 2251, 1426, 756, 299, 201, 229],
    [469, 736, 2042, 2811, 4431, 2511, 389, 73, 39, 49],
    [59, 188, 377, 1292, 4031, 3495, 587, 105, 153, 387],
    [758, 1307, 3465, 6991, 6313, 3794, 1836, 345, 382, 808],
    [1388, 2713, 3800, 3091, 2985, 3790, 674, 81, 80, 108],
    [229, 399, 1132, 2432, 3574, 2935, 1537, 529, 485, 662],
    [1000, 1590, 2657, 3396],
]
LYNX = np.array([v for row in LYNX_BY_DECADE for v in row], dtype=np.float64)

# SHA-256 of the bundled text: any edit to the file, however small, shows here.
TEXT_SHA256 = "c08b8b3ae5f7c0213c2bfa340e3845bafb84e1f0be20096d0d1b0055fe7ae06b"


# --- airline -----------------------------------------------------------------

def test_airline_default_is_1d_float64():
    y = load_airline()
    assert isinstance(y, np.ndarray)
    assert y.shape == (144,)
    assert y.dtype == np.float64
    assert np.all(np.isfinite(y))


def test_airline_check_sums():
    y = load_airline()
    assert y[0] == 112 and y[-1] == 432
    assert y.sum() == 40363
    assert y.max() == 622 and y.argmax() == 138  # July 1960
    assert y.min() == 104 and y.argmin() == 10   # November 1949


def test_airline_every_value():
    np.testing.assert_array_equal(load_airline(), AIRLINE_BY_YEAR.ravel())


def test_airline_dates():
    y, months = load_airline(return_dates=True)
    assert months.dtype == np.dtype("datetime64[M]")
    assert months.shape == y.shape == (144,)
    assert months[0] == np.datetime64("1949-01")
    assert months[-1] == np.datetime64("1960-12")
    np.testing.assert_array_equal(np.diff(months).astype(int), 1)
    # Months line up with values: the Julys are column 6 of the table above.
    month_of_year = (months - months.astype("datetime64[Y]")).astype(int)
    np.testing.assert_array_equal(y[month_of_year == 6], AIRLINE_BY_YEAR[:, 6])


# --- lynx ----------------------------------------------------------------------

def test_lynx_default_is_1d_float64():
    y = load_lynx()
    assert isinstance(y, np.ndarray)
    assert y.shape == (114,)
    assert y.dtype == np.float64
    assert np.all(np.isfinite(y))


def test_lynx_check_sums():
    y = load_lynx()
    assert y[0] == 269 and y[-1] == 3396
    assert y.sum() == 175334
    assert y.max() == 6991 and y.argmax() == 1904 - 1821
    assert y.min() == 39 and y.argmin() == 1889 - 1821
    # The one value where a transcription of Elton & Nicholson (1942) differs
    # (4245): the standard series (R, fma, Brockwell & Davis) has 4254.
    assert y[1867 - 1821] == 4254


def test_lynx_every_value():
    np.testing.assert_array_equal(load_lynx(), LYNX)


def test_lynx_dates():
    y, years = load_lynx(return_dates=True)
    assert years.dtype == np.dtype("datetime64[Y]")
    assert years.shape == y.shape == (114,)
    assert years[0] == np.datetime64("1821")
    assert years[-1] == np.datetime64("1934")
    np.testing.assert_array_equal(np.diff(years).astype(int), 1)


# --- both series -----------------------------------------------------------------

@pytest.mark.parametrize("loader", [load_airline, load_lynx])
def test_fresh_array_every_call(loader):
    """Editing a returned array in place never changes the next load."""
    first = loader()
    expected = first.copy()
    first[:] = -1.0
    np.testing.assert_array_equal(loader(), expected)


@pytest.mark.parametrize("loader", [load_airline, load_lynx])
def test_options_are_keyword_only(loader):
    with pytest.raises(TypeError):
        loader(True)


# --- text ----------------------------------------------------------------------

def test_text_is_the_bundled_chapter():
    text = load_text()
    assert isinstance(text, str)
    assert len(text) == 11485
    assert text.count("\n") == 220
    assert text.startswith("  Alice was beginning to get very tired of sitting by her sister\n")
    assert text.endswith("  So she set to work, and very soon finished off the cake.\n")
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == TEXT_SHA256


def test_text_is_plain_ascii():
    text = load_text()
    assert text.isascii()
    assert text.encode("ascii").decode("utf-8") == text
    assert "\r" not in text and "\t" not in text
    assert all(ch == "\n" or ch.isprintable() for ch in text)
    assert len(set(text)) == 64  # the vocabulary of a character model


# --- pandas --------------------------------------------------------------------

def test_airline_as_frame():
    pd = pytest.importorskip("pandas")
    s = load_airline(as_frame=True)
    assert isinstance(s, pd.Series)
    assert s.name == "passengers"
    assert s.dtype == np.float64
    assert isinstance(s.index, pd.PeriodIndex)
    assert s.index.name == "month"
    assert s.index[0] == pd.Period("1949-01", freq="M")
    assert s.index[-1] == pd.Period("1960-12", freq="M")
    assert s[pd.Period("1960-07", freq="M")] == 622
    np.testing.assert_array_equal(s.to_numpy(), load_airline())


def test_lynx_as_frame():
    pd = pytest.importorskip("pandas")
    s = load_lynx(as_frame=True)
    assert isinstance(s, pd.Series)
    assert s.name == "trappings"
    assert isinstance(s.index, pd.PeriodIndex)
    assert s.index.name == "year"
    assert s.index[0].year == 1821 and s.index[-1].year == 1934
    assert s[pd.Period("1904", freq=s.index.freq)] == 6991
    np.testing.assert_array_equal(s.to_numpy(), load_lynx())


@pytest.mark.parametrize("loader", [load_airline, load_lynx])
def test_as_frame_without_pandas_says_so(loader, monkeypatch):
    # A None entry in sys.modules makes "import pandas" raise ImportError,
    # whether or not pandas is installed.
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"needs pandas.*pip install pandas"):
        loader(as_frame=True)
    # The numpy paths do not need pandas.
    assert loader().ndim == 1

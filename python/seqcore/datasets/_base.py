"""Loaders for the small data sets shipped inside the package.

Design: each data set is one file in ``seqcore/datasets/data/`` read with
:mod:`importlib.resources`, so it works from a wheel, an in-place build or a
zip import, and nothing is ever downloaded. A series file is a CSV with a
header and two columns, the period (``YYYY-MM`` or ``YYYY``) and the value;
the loaders parse the periods into ``datetime64`` and check that they are
consecutive, so the file is the single source of truth for both.

pandas is not a dependency of seqcore: ``as_frame=True`` imports it lazily
and raises an ``ImportError`` naming the fix when it is missing.
"""

import csv
import io
from importlib import resources

import numpy as np

__all__ = ["load_airline", "load_lynx", "load_text", "load_sentiment_sentences"]

_DATA = "data"


def _read_data_file(name):
    """Return the text of ``data/<name>`` from inside the installed package."""
    return (resources.files(__package__) / _DATA / name).read_text(encoding="utf-8")


def _read_series(name, unit):
    """Read a two-column CSV into (values float64, periods datetime64[unit])."""
    reader = csv.reader(io.StringIO(_read_data_file(name)))
    next(reader)  # header
    rows = [row for row in reader if row]
    periods = np.array([row[0] for row in rows], dtype=f"datetime64[{unit}]")
    values = np.array([row[1] for row in rows], dtype=np.float64)
    steps = np.diff(periods).astype(np.int64)
    if not np.all(steps == 1):  # a damaged data file, never user input
        raise RuntimeError(f"bundled data file {name!r} has non-consecutive periods")
    return values, periods


def _import_pandas(caller):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            f"{caller}(as_frame=True) needs pandas, which is not a dependency of "
            "seqcore. Install it (pip install pandas), or call "
            f"{caller}(as_frame=False) to get a numpy array."
        ) from exc
    return pd


def _finish(values, periods, *, return_dates, as_frame, caller, name, index_name, freq):
    """Shape a loaded series as asked: array, (array, periods) or pandas Series."""
    if as_frame:
        pd = _import_pandas(caller)
        index = pd.DatetimeIndex(periods).to_period(freq).rename(index_name)
        return pd.Series(values, index=index, name=name)
    if return_dates:
        return values, periods
    return values


def load_airline(*, return_dates=False, as_frame=False):
    """Monthly totals of international airline passengers, 1949-1960.

    The classic "airline" series of Box and Jenkins (series G): monthly totals
    of international airline passengers, in thousands, from January 1949 to
    December 1960 (144 months). Strong trend and a multiplicative yearly
    season make it the usual first test of a forecaster.

    Parameters
    ----------
    return_dates : bool, default=False
        If True, also return the months as a ``datetime64[M]`` array.
    as_frame : bool, default=False
        If True, return a ``pandas.Series`` named ``"passengers"`` with a
        monthly ``PeriodIndex`` named ``"month"`` (``return_dates`` is then
        not needed: the index holds the months). Needs pandas, which seqcore
        does not depend on; without it an ``ImportError`` says so.

    Returns
    -------
    y : ndarray of shape (144,), dtype float64
        Passengers (thousands), January 1949 first. Returned alone by default.
    dates : ndarray of shape (144,), dtype datetime64[M]
        Only with ``return_dates=True``: ``(y, dates)`` is returned.
    series : pandas.Series
        Only with ``as_frame=True``, instead of the above.

    Notes
    -----
    Source: G. E. P. Box and G. M. Jenkins (1976), *Time Series Analysis:
    Forecasting and Control*, revised edition, Holden-Day, series G; the
    same 144 values as R's ``datasets::AirPassengers``.

    The bundled values were taken from R's source
    (https://github.com/wch/r-source, ``src/library/datasets/data/AirPassengers.R``)
    and checked value by value, with their months, against an independent
    CSV copy (https://github.com/selva86/datasets, ``AirPassengers.csv``).
    Check sums: first 112, last 432, sum 40363, maximum 622 (July 1960).

    Examples
    --------
    >>> from seqcore.datasets import load_airline
    >>> y, months = load_airline(return_dates=True)
    >>> y.shape, y[:3], months[0], months[-1]
    ((144,), array([112., 118., 132.]), np.datetime64('1949-01'), np.datetime64('1960-12'))
    """
    values, months = _read_series("airline.csv", "M")
    return _finish(values, months, return_dates=return_dates, as_frame=as_frame,
                   caller="load_airline", name="passengers", index_name="month", freq="M")


def load_lynx(*, return_dates=False, as_frame=False):
    """Annual Canadian lynx trappings, 1821-1934.

    Numbers of lynx trapped each year in the Mackenzie River district of
    north-west Canada (Hudson's Bay Company records), 1821 to 1934 (114
    years). A classic non-linear series with a strong, irregular cycle of
    about ten years and no trend.

    Parameters
    ----------
    return_dates : bool, default=False
        If True, also return the years as a ``datetime64[Y]`` array.
    as_frame : bool, default=False
        If True, return a ``pandas.Series`` named ``"trappings"`` with a
        yearly ``PeriodIndex`` named ``"year"`` (``return_dates`` is then
        not needed: the index holds the years). Needs pandas, which seqcore
        does not depend on; without it an ``ImportError`` says so.

    Returns
    -------
    y : ndarray of shape (114,), dtype float64
        Lynx trapped per year, 1821 first. Returned alone by default.
    dates : ndarray of shape (114,), dtype datetime64[Y]
        Only with ``return_dates=True``: ``(y, dates)`` is returned.
    series : pandas.Series
        Only with ``as_frame=True``, instead of the above.

    Notes
    -----
    Source: P. J. Brockwell and R. A. Davis (1991), second edition,
    Springer, series G, p. 557 (the source named by R's documentation of
    ``datasets::lynx``, whose 114 values these are); the series studied by
    M. J. Campbell and A. M. Walker (1977), "A survey of statistical work on
    the Mackenzie River series of annual Canadian lynx trappings for the
    years 1821-1934 and a new analysis", *Journal of the Royal Statistical
    Society, Series A*, 140, 411-431, https://doi.org/10.2307/2345277.

    The bundled values were taken from R's source
    (https://github.com/wch/r-source, ``src/library/datasets/data/lynx.R``)
    and checked value by value against the copy in the ``fma`` package of
    Makridakis, Wheelwright and Hyndman (1998), *Forecasting: Methods and
    Applications*, Wiley (https://github.com/robjhyndman/fma, ``R/lynx.R``).
    Check sums: first 269, last 3396, sum 175334, maximum 6991 (1904),
    minimum 39 (1889). One transcription of Elton and Nicholson's 1942 table
    gives 4245 for 1867 where this series has 4254; the value here is that
    of the standard series above.

    Examples
    --------
    >>> from seqcore.datasets import load_lynx
    >>> y, years = load_lynx(return_dates=True)
    >>> y.shape, y[:3], years[0], years[-1]
    ((114,), array([269., 321., 585.]), np.datetime64('1821'), np.datetime64('1934'))
    """
    values, years = _read_series("lynx.csv", "Y")
    return _finish(values, years, return_dates=return_dates, as_frame=as_frame,
                   caller="load_lynx", name="trappings", index_name="year", freq="Y")


def load_text():
    """A short public-domain English text for character-level language models.

    Chapter I ("Down the Rabbit-Hole") of *Alice's Adventures in Wonderland*
    by Lewis Carroll (first published 1865, public domain everywhere), about
    11 KB of plain ASCII: 11,485 characters, 220 lines, 64 distinct
    characters (the vocabulary of a character model).

    Returns
    -------
    text : str
        The chapter's body text, lines ending in ``"\\n"``.

    Notes
    -----
    Source: the Project Gutenberg etext #11, "The Millennium Fulcrum Edition
    3.0" (``alice30.txt``, released March 1994). The text is that edition's
    Chapter I body, from "Alice was beginning to get very tired" to "very
    soon finished off the cake.", reproduced exactly: its layout (two-space
    paragraph indent, lines of about 65 characters, two spaces after a full
    stop), its ASCII quotes (```like this'``), capitals for italics, and its
    few typos ("her head though the doorway", "if I only know how to
    begin"). The license header and the chapter heading are left out; the
    work itself is in the public domain.

    The bundled file was taken from one public copy of ``alice30.txt``
    (https://github.com/Aleks-gdb/CECS277) and compared character for
    character with a second (https://github.com/powcoder/SE480-Software-Architecture-I).

    Examples
    --------
    >>> from seqcore.datasets import load_text
    >>> text = load_text()
    >>> len(text), text[:22]
    (11485, '  Alice was beginning ')
    >>> chars = sorted(set(text))   # the vocabulary of a character model
    """
    return _read_data_file("alice_chapter1.txt")


# domain -> bundled file of the Sentiment Labelled Sentences (see
# data/SENTIMENT_README.md for the licence, citation and check sums)
_SENTIMENT_FILES = {"amazon": "amazon_cells_labelled.txt", "yelp": "yelp_labelled.txt"}


def _read_labelled_sentences(name):
    """(sentences, labels) of a ``sentence<TAB>label`` file."""
    sentences, labels = [], []
    for i, line in enumerate(_read_data_file(name).splitlines(), start=1):
        sentence, sep, label = line.rpartition("\t")
        if not sep or label not in ("0", "1"):   # a damaged data file, never user input
            raise RuntimeError(f"bundled data file {name!r}, line {i}: expected "
                               "'sentence<TAB>0 or 1'")
        sentences.append(sentence)
        labels.append(int(label))
    return sentences, labels


def load_sentiment_sentences(domains=("amazon", "yelp"), *, return_X_y=False):
    """Review sentences labelled positive or negative (binary sentiment).

    1,000 sentences from each of two domains, 500 positive and 500
    negative each: reviews of phones and accessories on amazon.com
    ("amazon") and of restaurants on yelp.com ("yelp").  Short, clearly
    polar sentences (a median of 9 words), for text classifiers.

    ==================  ==================================
    Samples per domain  1,000 (500 positive, 500 negative)
    Domains             'amazon', 'yelp'
    Classes             0 (negative), 1 (positive)
    ==================  ==================================

    Parameters
    ----------
    domains : str or sequence of str, default=('amazon', 'yelp')
        Which domains to load, in this order; a single name loads one.
    return_X_y : bool, default=False
        If True, return ``(sentences, labels)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : list of str
            The sentences, domain by domain, each in its file's order.
        target : ndarray of shape (n_sentences,), dtype int64
            1 positive, 0 negative.
        domain : ndarray of shape (n_sentences,), dtype object
            The domain of each sentence ('amazon' or 'yelp'), e.g. for a
            grouped split (``GroupKFold``) or a cross-domain test.
        target_names : ndarray of str
            ``['negative', 'positive']``.
        domains : tuple of str
            The domains loaded.
        DESCR : str
            This description.
    (sentences, labels) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    ValueError
        For an unknown, repeated or empty list of domains.

    Notes
    -----
    The files are bundled unchanged (UTF-8; a few sentences repeat within a
    domain: 990 distinct of 1,000 in amazon, 996 in yelp).  Licence:
    Creative Commons Attribution 4.0 (CC BY 4.0).  Please cite:

        D. Kotzias, M. Denil, N. de Freitas and P. Smyth, "From Group to
        Individual Labels using Deep Features", ACM SIGKDD Conference on
        Knowledge Discovery and Data Mining (KDD), 2015.

    Distributed by the UCI Machine Learning Repository as "Sentiment
    Labelled Sentences" (its third file, of IMDb reviews, is not bundled).
    See ``seqcore/datasets/data/SENTIMENT_README.md``.

    Examples
    --------
    >>> from seqcore.datasets import load_sentiment_sentences
    >>> bunch = load_sentiment_sentences()
    >>> len(bunch.data), bunch.target[:2], bunch.domain[0]
    (2000, array([0, 1]), 'amazon')
    >>> X, y = load_sentiment_sentences("yelp", return_X_y=True)
    >>> X[0], y[0]
    ('Wow... Loved this place.', np.int64(1))
    """
    if isinstance(domains, str):
        domains = (domains,)
    try:
        domains = tuple(domains)
    except TypeError:
        raise TypeError(f"domains must be a domain name or a sequence of them, got "
                        f"{type(domains).__name__}") from None
    known = tuple(_SENTIMENT_FILES)
    if not domains:
        raise ValueError(f"domains is empty: choose from {known}")
    for d in domains:
        if d not in _SENTIMENT_FILES:
            raise ValueError(f"unknown domain {d!r}: choose from {known}")
    if len(set(domains)) != len(domains):
        raise ValueError(f"domains has repeats: {domains}")
    sentences, labels, domain = [], [], []
    for d in domains:
        s, y = _read_labelled_sentences(_SENTIMENT_FILES[d])
        sentences += s
        labels += y
        domain += [d] * len(s)
    target = np.array(labels, dtype=np.int64)
    if return_X_y:
        return sentences, target
    from sklearn.utils import Bunch

    return Bunch(data=sentences, target=target, domain=np.array(domain, dtype=object),
                 target_names=np.array(["negative", "positive"]), domains=domains,
                 DESCR=load_sentiment_sentences.__doc__)

"""Small real data sets bundled with seqcore; nothing is ever downloaded.

- :func:`load_airline`: monthly international airline passengers, 1949-1960
  (Box & Jenkins series G), 144 values.
- :func:`load_lynx`: annual Canadian lynx trappings, 1821-1934, 114 values.
- :func:`load_text`: Chapter I of Lewis Carroll's *Alice's Adventures in
  Wonderland* (public domain), for character-level language models.
- :func:`load_sentiment_sentences`: 2,000 review sentences (amazon, yelp)
  labelled positive or negative (CC BY 4.0, Kotzias et al., KDD 2015).

The series loaders return a 1-D float64 array by default, ``(y, dates)`` with
``return_dates=True`` (``datetime64[M]`` or ``datetime64[Y]``), or a pandas
Series with ``as_frame=True`` when pandas is installed.
"""

from ._base import load_airline, load_lynx, load_sentiment_sentences, load_text

__all__ = ["load_airline", "load_lynx", "load_text", "load_sentiment_sentences"]

"""
Sequence to sequence with attention: dates to ISO 8601
======================================================

:class:`~seqcore.text.Seq2SeqTranslator` is an encoder-decoder with
attention: it writes one sequence from another of a different length.
Translation between languages is its best-known use, but no package
installable from PyPI ships a parallel corpus that could be read here
without a download, so this example translates between two notations of
the same thing instead: dates as people write them ("Tuesday, March 5,
2019", "05.03.19", "the 3rd of May, 1979") into ISO 8601 ("2019-03-05").
The pairs are generated with the standard library's calendar; the
conventions (day first, two-digit years below 50 in the 2000s) give every
string one meaning.  ``examples/dates_to_iso.py`` in the repository trains
on 10,000 pairs with the default settings and reaches an exact match near 1.

The attention heat map shows where the decoder looks while it writes each
character of the output.
"""

import datetime
import random

from seqcore.text import Seq2SeqTranslator

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def written(d, rng):
    """The date d as a person might write it (one of six formats)."""
    month, yy = MONTHS[d.month - 1], f"{d.year % 100:02d}"
    return rng.choice([
        f"{d.day} {month} {d.year}",                                # 3 May 1979
        f"{DAYS[d.weekday()]}, {month} {d.day}, {d.year}",          # Tuesday, March 5, 2019
        f"{d.day:02d}.{d.month:02d}.{yy}",                          # 05.03.19
        f"{month[:3]} {d.day}, {d.year}",                           # Mar 5, 2019
        f"{d.day:02d}/{d.month:02d}/{d.year}",                      # 05/03/2019
        f"{month.lower()} {d.day} {yy}",                            # march 5 19
    ])


rng = random.Random(0)
first = datetime.date(1950, 1, 1)
dates = [first + datetime.timedelta(days=rng.randrange(36500)) for _ in range(3000)]   # to 2049
X = [written(d, rng) for d in dates]
y = [d.isoformat() for d in dates]
X_train, y_train, X_test, y_test = X[:2500], y[:2500], X[2500:], y[2500:]

model = Seq2SeqTranslator(embedding_dim=16, hidden_size=48, max_iter=12,
                          learning_rate=0.01, random_state=0)
model.fit(X_train, y_train)
print(f"{model.n_iter_} epochs; exact match on {len(X_test)} held-out dates: "
      f"{model.score(X_test, y_test):.3f}")
for x, pred in zip(X_test[:5], model.predict(X_test[:5])):
    print(f"{x!r:32} -> {pred}")

# %%
# Rows are the characters written, columns the characters read.  While
# writing the year the decoder reads the year's digits, while writing the
# month the month's name.
example = "Tuesday, March 5, 2019"
ax = model.plot_attention(example)
ax.set_title(f"{example!r} -> {model.predict([example])[0]!r}")
ax.figure.tight_layout()

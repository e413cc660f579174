"""Normalise human-written dates to ISO 8601 with an encoder-decoder and attention.

Dates are generated with the standard library in a dozen formats ("3 May
1979", "Tuesday, March 5, 2019", "05.03.19", "march 5th 19", ...) and a
``Seq2SeqTranslator`` with its default settings (only ``random_state`` set)
learns to write them as "1979-05-03", character by character.  It trains
on 10,000 pairs and is scored on 2,000 held-out dates (none of whose strings
occur in training), then the attention of one date is drawn as a heat map:
while writing the year the decoder reads the year, while writing the month
the month name, and so on.

Conventions (so that every string has one meaning): numeric dates put the
day first ("05.03.19" is 5 March 2019); two-digit years below 50 are in
the 2000s, the others in the 1900s.

Run: ``python examples/dates_to_iso.py`` (about a minute on two cores; the
heat map is saved to ``dates_attention.png``).
"""

import datetime
import random
import time

import matplotlib

matplotlib.use("Agg")   # write the figure to a file, no window
import matplotlib.pyplot as plt  # noqa: E402

from seqcore.text import Seq2SeqTranslator  # noqa: E402

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


def ordinal(n):
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def formats(d):
    """The date d written in each of the formats."""
    month, mon = MONTHS[d.month - 1], MONTHS[d.month - 1][:3]
    day, dy = DAYS[d.weekday()], DAYS[d.weekday()][:3]
    yy = f"{d.year % 100:02d}"
    return [
        f"{d.day} {month} {d.year}",                       # 3 May 1979
        f"{day}, {month} {d.day}, {d.year}",               # Tuesday, March 5, 2019
        f"{d.day:02d}.{d.month:02d}.{yy}",                 # 05.03.19
        f"{month.lower()} {ordinal(d.day)} {yy}",          # march 5th 19
        f"{d.day:02d}/{d.month:02d}/{d.year}",             # 05/03/2019
        f"{month} {d.day}, {d.year}",                      # May 3, 1979
        f"{dy} {d.day:02d} {mon} {d.year}",                # Thu 03 May 1979
        f"{d.day} {mon} {yy}",                             # 3 May 79
        f"the {ordinal(d.day)} of {month}, {d.year}",      # the 3rd of May, 1979
        f"{d.day:02d}-{mon.upper()}-{d.year}",             # 03-MAY-1979
        f"{mon.lower()} {d.day} {d.year}",                 # may 3 1979
        f"{day.lower()} {d.day} {month.lower()} {yy}",     # thursday 3 may 79
    ]


def make_dates(n, rng, exclude=()):
    """n (human date, ISO date) pairs, none of whose strings is in exclude."""
    pairs, seen = [], set(exclude)
    span = (LAST - FIRST).days
    while len(pairs) < n:
        d = FIRST + datetime.timedelta(days=rng.randrange(span + 1))
        text = rng.choice(formats(d))
        if text in seen:
            continue
        seen.add(text)
        pairs.append((text, d.isoformat()))
    return pairs


def main():
    rng = random.Random(0)
    train = make_dates(10_000, rng)
    test = make_dates(2_000, rng, exclude=[x for x, _ in train])
    X_train, y_train = map(list, zip(*train))
    X_test, y_test = map(list, zip(*test))

    model = Seq2SeqTranslator(random_state=0)
    t0 = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - t0
    accuracy = model.score(X_test, y_test)
    print(f"trained on {len(X_train)} pairs in {seconds:.1f} s ({model.n_iter_} epochs)")
    print(f"exact match on {len(X_test)} held-out dates: {accuracy:.4f}")
    for x, pred in zip(X_test[:5], model.predict(X_test[:5])):
        print(f"  {x!r:32} -> {pred}")

    example = "Tuesday, March 5, 2019"
    ax = model.plot_attention(example)
    ax.set_title(f"{example} -> {model.predict([example])[0]}")
    ax.figure.tight_layout()
    ax.figure.savefig("dates_attention.png", dpi=120)
    plt.close(ax.figure)
    print("attention heat map saved to dates_attention.png")


if __name__ == "__main__":
    main()

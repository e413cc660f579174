"""Tests for seqcore.datasets.load_sentiment_sentences (the bundled files only)."""

import hashlib
from importlib import resources

import numpy as np
import pytest

from seqcore.datasets import load_sentiment_sentences

# the check sums in seqcore/datasets/data/SENTIMENT_README.md
SHA256 = {
    "amazon_cells_labelled.txt": "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3",
    "yelp_labelled.txt": "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea",
}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_bundled_files_unchanged(name):
    data = (resources.files("seqcore.datasets") / "data" / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[name]
    note = (resources.files("seqcore.datasets") / "data" / "SENTIMENT_README.md").read_text()
    assert SHA256[name] in note and "CC BY 4.0" in note and "Kotzias" in note


def test_bunch_counts_and_balance():
    b = load_sentiment_sentences()
    assert len(b.data) == 2000 and b.target.shape == (2000,) and b.domain.shape == (2000,)
    assert b.target.dtype == np.int64 and set(np.unique(b.target)) == {0, 1}
    assert all(isinstance(s, str) and s for s in b.data)
    assert b.domains == ("amazon", "yelp")
    assert list(b.target_names) == ["negative", "positive"]
    for d in ("amazon", "yelp"):
        mask = b.domain == d
        assert mask.sum() == 1000
        assert np.bincount(b.target[mask]).tolist() == [500, 500]
    # domain by domain, in the order asked
    assert (b.domain[:1000] == "amazon").all() and (b.domain[1000:] == "yelp").all()
    assert "Kotzias" in b.DESCR and "CC BY 4.0" in b.DESCR


def test_known_rows_and_order():
    X, y = load_sentiment_sentences(("yelp", "amazon"), return_X_y=True)
    assert len(X) == 2000 and isinstance(X, list)
    assert (X[0], y[0]) == ("Wow... Loved this place.", 1)
    assert X[1000].startswith("So there is no way for me to plug it in here") and y[1000] == 0
    assert "The crêpe was delicate and thin and moist." in X[:1000]   # UTF-8 read as such


def test_single_domain_as_a_string():
    X, y = load_sentiment_sentences("amazon", return_X_y=True)
    assert len(X) == 1000 and y.sum() == 500
    assert load_sentiment_sentences(["yelp"]).domains == ("yelp",)


@pytest.mark.parametrize("domains, exc, match", [
    ("imdb", ValueError, "unknown domain 'imdb'"),
    (("amazon", "Yelp"), ValueError, "unknown domain 'Yelp'"),
    ((), ValueError, "empty"),
    (("yelp", "yelp"), ValueError, "repeats"),
    (3, TypeError, "domains must be"),
])
def test_bad_domains_refused(domains, exc, match):
    with pytest.raises(exc, match=match):
        load_sentiment_sentences(domains)


def test_tokenizer_on_the_sentences():
    from seqcore.text import SequenceTokenizer

    X, y = load_sentiment_sentences(return_X_y=True)
    tok = SequenceTokenizer(min_frequency=2)
    ids = tok.fit_transform(X)
    assert len(ids) == 2000 and all(a.size for a in ids)
    assert list(tok.vocabulary_)[:2] == [".", "the"]

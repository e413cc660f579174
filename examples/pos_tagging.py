"""Part-of-speech tagging: one tag per word with a bidirectional LSTM.

Data: the development set of the Universal Dependencies English Web Treebank
(UD_English-EWT, Silveira et al. 2014, CC BY-SA 4.0): 2,001 sentences
with a universal POS tag (NOUN, VERB, ADP, ...) on every word.  Its licence
asks for attribution and share-alike, so it is not bundled with seqcore:
download ``en_ewt-ud-dev.conllu`` from the treebank's repository,
https://github.com/UniversalDependencies/UD_English-EWT (described at
https://universaldependencies.org/treebanks/en_ewt/), and give its path
(plain or gzipped) as the argument.  Without one, the script looks in
``../shared/data/pos`` beside the repository (the project's own copy).  The
small CoNLL-U reader below reads it; no package is needed.

The sentences are split 80/20.  Words are lower-cased and numbered by
``SequenceTokenizer``; ``RNNClassifier`` with ``embedding_dim`` and
``return_sequences=True`` reads each sentence in both directions and tags
every word.  Predictions come back per sentence, each as long as its
sentence.

Words never seen in training cause most errors.  Against them, words seen
only once in training, and unseen words at test, are replaced by a
*signature* of their shape (capital letter, digits, hyphen, a telling suffix
such as -ing, -ly, -s: ``<unk-cap-ing>``), so the model learns what the
shape of a new word says about its tag.  On this split that takes the
accuracy on unseen words from about 0.45 to 0.75 (benchmarks/bench_text.py
measures both).  The script also prints a most-frequent-tag baseline.

Run:  python examples/pos_tagging.py path/to/en_ewt-ud-dev.conllu   (about a minute)
"""

import gzip
import os
import sys
from collections import Counter

import numpy as np

from seqcore import RNNClassifier
from seqcore.text import SequenceTokenizer

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                       "data", "pos", "en_ewt-ud-dev.conllu.gz")


def read_conllu(path):
    """(words, universal POS tags) of each sentence of a CoNLL-U file (.gz or not).

    Lines: ``# comments``, blank lines between sentences, and one token per
    line in 10 tab-separated columns (ID, FORM, LEMMA, UPOS, ...).  Multi-word
    tokens (ID ``3-4``) and empty nodes (ID ``3.1``) are skipped: the words
    are the lines whose ID is a plain number.
    """
    opener = gzip.open if path.endswith(".gz") else open
    sentences, words, tags = [], [], []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
            elif not line.startswith("#"):
                cols = line.split("\t")
                if cols[0].isdigit():
                    words.append(cols[1])
                    tags.append(cols[3])
    if words:
        sentences.append((words, tags))
    return sentences


SUFFIXES = ("ing", "ed", "ly", "ion", "er", "est", "al", "ive", "able", "ous", "ful", "ic",
            "s")


def signature(word):
    """The class of a rare or unseen word from its shape, e.g. ``<unk-cap-ing>``."""
    sig = "<unk"
    if word[:1].isupper():
        sig += "-cap"
    if any(c.isdigit() for c in word):
        sig += "-num"
    elif "-" in word:
        sig += "-dash"
    elif not any(c.isalpha() for c in word):
        sig += "-sym"
    low = word.lower()
    for suffix in SUFFIXES:
        if low.endswith(suffix) and len(low) > len(suffix) + 2:
            sig += "-" + suffix
            break
    return sig + ">"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(DEFAULT)
    if not os.path.exists(path):
        sys.exit(f"no CoNLL-U file at {path}; give its path as the first argument")
    sentences = read_conllu(path)
    order = np.random.default_rng(0).permutation(len(sentences))
    cut = int(0.8 * len(sentences))
    train = [sentences[i] for i in order[:cut]]
    test = [sentences[i] for i in order[cut:]]

    # lower-cased words; words seen once in training, and unseen ones, by signature
    counts = Counter(w.lower() for words, _ in train for w in words)

    def feature(w):
        return w.lower() if counts[w.lower()] >= 2 else signature(w)

    tokenizer = SequenceTokenizer()
    X_train = tokenizer.fit_transform([[feature(w) for w in words] for words, _ in train])
    y_train = [np.array(tags) for _, tags in train]
    X_test = tokenizer.transform([[feature(w) for w in words] for words, _ in test])
    y_test = [np.array(tags) for _, tags in test]
    n_test = sum(len(t) for t in y_test)
    print(f"{len(train)} sentences ({sum(len(t) for t in y_train)} words) to train on, "
          f"{len(test)} ({n_test} words) to test; {tokenizer.vocab_size_ - 2} tokens (words "
          f"seen twice or more, and signatures); {len(set(np.concatenate(y_train)))} tags")

    tagger = RNNClassifier(cell="lstm", embedding_dim=64, hidden_size=64, bidirectional=True,
                           return_sequences=True, vocab_size=tokenizer.vocab_size_,
                           batch_size=32, learning_rate=0.005, max_iter=30,
                           early_stopping=True, n_iter_no_change=3, random_state=0)
    tagger.fit(X_train, y_train)      # stops when a held-out tenth stops improving
    predicted = tagger.predict(X_test)
    assert all(len(p) == len(t) for p, t in zip(predicted, y_test))   # one tag per word

    pred, true = np.concatenate(predicted), np.concatenate(y_test)
    train_words = {w.lower() for words, _ in train for w in words}
    unseen = np.array([w.lower() not in train_words for words, _ in test for w in words])
    print(f"BiLSTM tagger ({tagger.n_iter_} epochs): accuracy {np.mean(pred == true):.3f}; "
          f"on the {unseen.sum()} words never seen in training "
          f"{np.mean(pred[unseen] == true[unseen]):.3f}")

    # baseline: each word's most frequent training tag, NOUN for unseen words
    tag_counts = {}
    for words, tags in train:
        for w, t in zip(words, tags):
            tag_counts.setdefault(w.lower(), Counter())[t] += 1
    base = np.array([tag_counts[w.lower()].most_common(1)[0][0] if w.lower() in tag_counts
                     else "NOUN" for words, _ in test for w in words])
    print(f"most frequent tag per word:     accuracy {np.mean(base == true):.3f}")

    words, tags = test[0]
    print("\n" + " ".join(f"{w}/{t}" for w, t in zip(words, predicted[0])))


if __name__ == "__main__":
    main()

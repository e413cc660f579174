"""
Tagging: the bass note under each note of a Bach chorale melody
===============================================================

Token tagging gives every step of a sequence its own label: part-of-speech
tagging is the best-known case.  No package installable from PyPI ships a
part-of-speech corpus that could be read here without a download (the
user guide's tagging page reads the Universal Dependencies English Web
Treebank, CC BY-SA 4.0, which you download yourself), so this example tags
notes instead, on real data that music21 ships: for each note of the
melody (soprano) of a four-part chorale, which scale degree does Bach put
in the bass under it?  That is the first step of harmonising a melody, and
it needs context: the same melody note takes different bass notes in
different places of a phrase.

Each melody note becomes a token ``degree_duration`` (its scale degree in
semitones above the tonic, its length in quarter notes); the tag is the
bass's degree sounding at the note's onset, in the usual names (1 the
tonic, 5 the dominant, b3 a minor third above the tonic, ...).  The tonic
is the last bass note (a chorale ends on it).  A
:class:`~seqcore.text.SequenceTokenizer` numbers the tokens and an
:class:`~seqcore.RNNClassifier` with ``return_sequences=True`` and a
bidirectional GRU tags every note, reading the melody both ways.  The
baseline tags each melody degree with its most frequent bass degree.  The
notes come from the chorales' MusicXML through the small reader of the
gallery's melody example (the notes ``music21.corpus.parse`` finds, without
building its full score model).
"""

import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict

import matplotlib.pyplot as plt
import numpy as np
from music21 import corpus
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import ConfusionMatrixDisplay

from seqcore import RNNClassifier
from seqcore.text import SequenceTokenizer

STEPS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def read_score(path):
    """The MusicXML tree of a compressed .mxl score."""
    with zipfile.ZipFile(path) as z:
        container = ET.fromstring(z.read("META-INF/container.xml"))
        return ET.fromstring(z.read(container.find(".//rootfile").get("full-path")))


def read_part(score, index):
    """(onset, MIDI pitch or None for a rest, duration) of the notes of one
    part, in quarter notes; tied notes are merged, only voice 1 is read."""
    notes, divisions, time = [], 1, 0.0
    for measure in score.findall("part")[index].findall("measure"):
        for el in measure:
            if el.tag == "attributes" and el.find("divisions") is not None:
                divisions = int(el.find("divisions").text)
            elif el.tag in ("backup", "forward"):
                step = int(el.find("duration").text) / divisions
                time += step if el.tag == "forward" else -step
            elif el.tag == "note" and el.find("grace") is None and el.find("chord") is None:
                duration = int(el.find("duration").text) / divisions
                voice = el.find("voice")
                pitch = el.find("pitch")
                if voice is not None and voice.text != "1":
                    time += duration
                    continue
                midi = None
                if pitch is not None:
                    alter = pitch.find("alter")
                    midi = (12 * (int(pitch.find("octave").text) + 1)
                            + STEPS[pitch.find("step").text]
                            + (round(float(alter.text)) if alter is not None else 0))
                tied = any(t.get("type") == "stop" for t in el.findall("tie"))
                if tied and notes and notes[-1][1] == midi:
                    notes[-1] = (notes[-1][0], midi, notes[-1][2] + duration)
                else:
                    notes.append((time, midi, duration))
                time += duration
    return notes


DEGREES = ["1", "b2", "2", "b3", "3", "4", "#4", "5", "b6", "6", "b7", "7"]


def melody_and_bass(path):
    """(melody tokens, bass degree under each melody note) of a four-part chorale."""
    score = read_score(path)
    if len(score.findall("part")) != 4:
        return None
    bass = [n for n in read_part(score, 3) if n[1] is not None]
    tonic = bass[-1][1] % 12
    onsets = np.array([onset for onset, _, _ in bass])
    tokens, tags = [], []
    for onset, midi, duration in read_part(score, 0):
        if midi is None:
            continue
        under = bass[max(np.searchsorted(onsets, onset + 1e-9) - 1, 0)][1]
        tokens.append(f"{(midi - tonic) % 12}_{duration:g}")
        tags.append(DEGREES[(under - tonic) % 12])
    return tokens, np.array(tags)


paths = sorted(p for p in corpus.getComposer("bach") if p.suffix == ".mxl")[:220]
chorales = [c for c in map(melody_and_bass, paths) if c]
rng = np.random.default_rng(0)
order = rng.permutation(len(chorales))
cut = int(0.8 * len(chorales))
train = [chorales[i] for i in order[:cut]]
test = [chorales[i] for i in order[cut:]]

tokenizer = SequenceTokenizer()     # token lists are numbered as they are
X_train = tokenizer.fit_transform([tokens for tokens, _ in train])
X_test = tokenizer.transform([tokens for tokens, _ in test])
y_train = [tags for _, tags in train]
y_test = [tags for _, tags in test]
print(f"{len(train)} chorales ({sum(map(len, y_train))} notes) to train on, "
      f"{len(test)} ({sum(map(len, y_test))} notes) to test")

tagger = RNNClassifier(cell="gru", embedding_dim=16, hidden_size=32, bidirectional=True,
                       return_sequences=True, vocab_size=tokenizer.vocab_size_,
                       learning_rate=0.01, batch_size=16, max_iter=15, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)   # a fixed 15 epochs, on purpose
    tagger.fit(X_train, y_train)
predicted = np.concatenate(tagger.predict(X_test))
true = np.concatenate(y_test)
print(f"BiGRU tagger: {np.mean(predicted == true):.3f} of the test notes get Bach's bass degree")

# the baseline: each melody degree's most frequent bass degree in training
table = defaultdict(Counter)
for tokens, tags in train:
    for token, tag in zip(tokens, tags):
        table[token.split("_")[0]][tag] += 1
baseline = np.array([table[t.split("_")[0]].most_common(1)[0][0] if table[t.split("_")[0]]
                     else "1" for tokens, _ in test for t in tokens])
print(f"most frequent bass per melody degree: {np.mean(baseline == true):.3f}")

# %%
# The confusion matrix over the test notes (rows: Bach's bass degree),
# normalised per row, for the degrees with at least 20 test notes.  The
# tonic (1) and the dominant (5) are tagged best and the errors lean
# towards them, the two most frequent bass notes; the leading tone (7),
# which belongs to the dominant's chord, is often taken for 5.
labels = [d for d in DEGREES if (true == d).sum() >= 20]
keep = np.isin(true, labels) & np.isin(predicted, labels)
fig, ax = plt.subplots(figsize=(6, 5))
ConfusionMatrixDisplay.from_predictions(true[keep], predicted[keep], labels=labels,
                                        normalize="true", values_format=".2f", ax=ax,
                                        colorbar=False)
ax.set_xlabel("predicted bass degree")
ax.set_ylabel("Bach's bass degree")
fig.tight_layout()

"""
Music generation: melodies in the style of Bach's chorales
==========================================================

music21 (``pip install music21``) ships a corpus of scores, among them the
four-part chorales Bach harmonised, as compressed MusicXML files in the
package itself: :func:`music21.corpus.getComposer` lists them without a
download.  This example reads the melody (the soprano part) of each
four-part chorale, moves it to C (the tonic taken from the last bass note:
a chorale ends on its tonic), writes every note as a token
``pitch_duration`` (MIDI pitch, length in quarter notes) and ends each
chorale with ``|``.  An :class:`~seqcore.text.RNNLanguageModel` learns to
predict the next note from the notes before it, then writes a new melody
note by note, drawn below as a piano roll beside a real one.

``music21.corpus.parse`` builds a full score model of each chorale, more
than this example needs and an order of magnitude slower; the small reader
below takes the notes of one part straight from the MusicXML with the
standard library (it finds the same notes as
``music21.corpus.parse(path).parts[i].flatten().notesAndRests.stream().stripTies()``).
"""

import warnings
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from music21 import corpus
from sklearn.exceptions import ConvergenceWarning

from seqcore.text import RNNLanguageModel

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


def melody_in_c(path):
    """The soprano's notes as tokens, moved so that the tonic is C."""
    score = read_score(path)
    if len(score.findall("part")) != 4:
        return None
    bass = [n for n in read_part(score, 3) if n[1] is not None]
    shift = -(bass[-1][1] % 12)
    shift += 12 if shift < -6 else 0          # move by at most a tritone
    return [f"{'r' if m is None else m + shift}_{d:g}" for _, m, d in read_part(score, 0)]


paths = sorted(p for p in corpus.getComposer("bach") if p.suffix == ".mxl")[:160]
melodies = [m for m in map(melody_in_c, paths) if m]
n_train = len(melodies) - 20
train = " ".join(" ".join(m + ["|"]) for m in melodies[:n_train])
held_out = " ".join(" ".join(m + ["|"]) for m in melodies[n_train:])
print(f"{len(melodies)} chorale melodies, {sum(map(len, melodies))} notes")

# notes seen once become <unk>, so that the model learns to expect rare notes
lm = RNNLanguageModel(analyzer=str.split, min_frequency=2, embedding_dim=32,
                      hidden_size=96, sequence_length=32, batch_size=16, learning_rate=0.01,
                      max_iter=15, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)   # a fixed 15 epochs, on purpose
    lm.fit([train])
counts = np.array(list(Counter(train.split()).values()))
frequencies = counts / counts.sum()
print(f"{lm.vocab_size_ - 2} distinct notes; perplexity on the 20 held-out melodies: "
      f"{lm.perplexity([held_out]):.1f} (choosing notes by their frequency alone: "
      f"{np.exp(-np.sum(frequencies * np.log(frequencies))):.1f})")

# %%
# A new melody, sampled after the end-of-chorale token until the model ends
# it (or 60 notes), beside the first held-out chorale.
new = lm.sample(60, prefix="|", temperature=0.8, random_state=3).split()[1:]
new = [t for t in (new[:new.index("|")] if "|" in new else new) if t != "<unk>"]
print("new melody:", " ".join(new))


def piano_roll(ax, tokens, title):
    t = 0.0
    for token in tokens:
        pitch, duration = token.split("_")
        if pitch != "r":
            ax.add_patch(plt.Rectangle((t, int(pitch) - 0.4), float(duration), 0.8,
                                       color="tab:blue"))
        t += float(duration)
    pitches = [int(tok.split("_")[0]) for tok in tokens if not tok.startswith("r")]
    low, high = min(pitches) - 2, max(pitches) + 2
    ax.set_xlim(0, t)
    ax.set_ylim(low, high)
    names = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    ticks = [p for p in range(low, high + 1) if p % 12 in (0, 4, 7)]
    ax.set_yticks(ticks, [f"{names[p % 12]}{p // 12 - 1}" for p in ticks])
    ax.set_xlabel("quarter notes")
    ax.set_title(title)


fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5))
piano_roll(ax1, new, "a melody sampled from the model (in C)")
piano_roll(ax2, melodies[n_train], "a chorale melody by Bach, held out (moved to C)")
fig.tight_layout()

"""
A character language model that writes new text
================================================

:class:`~seqcore.text.RNNLanguageModel` learns to predict each character of
the first chapter of *Alice's Adventures in Wonderland* (public domain,
bundled: :func:`~seqcore.datasets.load_text`) from the characters before
it, then writes new text one character at a time
(:meth:`~seqcore.text.RNNLanguageModel.sample`).  The shell command
``seqcore generate`` does the same from a terminal::

    seqcore generate --max-iter 40 --length 300 --temperature 0.7

The chapter is 11 KB, so a small model trained for seconds writes
English-looking words rather than sentences; the bits per character on the
held-out last tenth of the chapter measure how far it got.
"""

import math
import textwrap

import matplotlib.pyplot as plt

from seqcore.datasets import load_text
from seqcore.text import RNNLanguageModel

text = load_text()
cut = int(0.9 * len(text))
train, held_out = text[:cut], text[cut:]

lm = RNNLanguageModel(embedding_dim=16, hidden_size=96, sequence_length=48, batch_size=16,
                      learning_rate=0.01, max_iter=25, early_stopping=True,
                      n_iter_no_change=5, random_state=0)
lm.fit([train])
bits = -lm.score([held_out]) / math.log(2)
print(f"{lm.n_iter_} epochs; held-out text: {bits:.2f} bits per character "
      f"(uniform over the {lm.vocab_size_ - 2} characters: "
      f"{math.log2(lm.vocab_size_ - 2):.2f})")

# %%
# Samples at two temperatures: below 1 the model takes its likelier
# characters (safer, more repetitive), at 1 it samples its own distribution.
samples = {t: lm.sample(160, prefix="Alice ", temperature=t, random_state=1)
           for t in (0.5, 1.0)}
for t, s in samples.items():
    print(f"--- temperature {t} ---\n{s}\n")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6),
                               gridspec_kw={"width_ratios": [1, 1.6]})
ax1.plot([l / math.log(2) for l in lm.loss_curve_], label="training")
# early stopping's validation set: the last tenth of the training text
ax1.plot([-s / math.log(2) for s in lm.validation_scores_], label="validation")
ax1.set_xlabel("epoch")
ax1.set_ylabel("bits per character")
ax1.legend()
ax2.axis("off")
y = 1.0
for t, s in samples.items():
    ax2.text(0, y, f"temperature {t}", weight="bold", va="top", transform=ax2.transAxes)
    body = "\n".join(textwrap.wrap(s.replace("\n", " "), 60))
    ax2.text(0, y - 0.08, body, family="monospace", fontsize=8, va="top",
             transform=ax2.transAxes)
    y -= 0.5
fig.tight_layout()

"""A character-level language model on Alice in Wonderland, chapter I.

``seqcore.text.RNNLanguageModel`` learns to predict each character of the
chapter from the characters before it (an embedding, an LSTM and a softmax
over the 64 characters), reading the text as char-rnn does: 16 parallel
tracks, windows of 64 characters, the LSTM state carried from one window to
the next.  It holds out the last tenth of what it trains on and stops when
its predictions there stop improving.  Then it writes new text one
character at a time, in compiled code (``sample``).

A temperature below 1 sharpens the next-character distribution (safer,
more repetitive text); 1 samples the model as it is.

The chapter is only 11 KB, so the model soon starts to learn it by heart.
To show that the samples are still new text, the script prints the share of
sampled words that are words of the chapter and the longest stretch copied
verbatim from it.

Run:  python examples/char_language_model.py      (about 10 s on 2 cores)
"""

import math
import re

import numpy as np

from seqcore.datasets import load_text
from seqcore.text import RNNLanguageModel


def longest_copied(generated, text):
    """Length of the longest stretch of ``generated`` found verbatim in ``text``."""
    best = 0
    for i in range(len(generated)):
        while i + best < len(generated) and generated[i:i + best + 1] in text:
            best += 1
    return best


def main():
    text = load_text()
    split = int(0.9 * len(text))
    train, held_out = text[:split], text[split:]

    lm = RNNLanguageModel(embedding_dim=32, hidden_size=128, sequence_length=64,
                          batch_size=16, learning_rate=0.01, dropout=0.1,
                          early_stopping=True, n_iter_no_change=10, max_iter=500,
                          random_state=0)
    lm.fit([train])
    V = lm.vocab_size_ - 2          # the characters (ids 0 and 1 are reserved)
    counts = np.array([lm.tokenizer_.token_counts_[c] for c in lm.vocabulary_])
    unigram = -np.sum(counts / counts.sum() * np.log2(counts / counts.sum()))
    print(f"Alice, chapter I: {len(train)} characters to train on ({V} distinct), "
          f"{len(held_out)} held out")
    print(f"trained {lm.n_iter_} epochs; held-out text: "
          f"{-lm.score([held_out]) / math.log(2):.2f} bits per character "
          f"(character frequencies alone: {unigram:.2f}, uniform: {math.log2(V):.2f})")

    words = set(re.findall(r"[a-z]+", text.lower()))
    for temperature in (0.5, 1.0):
        generated = lm.sample(400, prefix="Alice ", temperature=temperature, random_state=1)
        new = re.findall(r"[a-z]+", generated[6:].lower())
        known = np.mean([w in words for w in new]) if new else 0.0
        longest = longest_copied(generated[6:], text)
        print(f"\n--- temperature {temperature}: {100 * known:.0f}% of {len(new)} words "
              f"are words of the chapter; longest run copied from it: {longest} characters ---")
        print(generated)


if __name__ == "__main__":
    main()

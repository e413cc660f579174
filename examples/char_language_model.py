"""A character-level language model on Alice in Wonderland, chapter I.

An LSTM reads one-hot characters and predicts the next character at every
step (``SequenceNetwork(loss='softmax', return_sequences=True)``). It trains
with Adam and gradient-norm clipping on random chunks of the bundled text
(``seqcore.datasets.load_text()``, public domain), then writes new text one
character at a time: each sampled character is fed back through
``SequenceNetwork.stream``, which carries the LSTM state from call to call,
so generation costs one step per character (one-to-many generation).

A temperature below 1 sharpens the next-character distribution (safer,
more repetitive text); 1 samples the model as it is.

The chapter is only 10 KB: after about 200 steps the held-out loss stops
improving while the training loss keeps falling (the model starts to learn
the text by heart). To show that the samples are still new text, the script
prints the share of sampled words that are words of the chapter and the
longest stretch copied verbatim from it.

Run:  python examples/char_language_model.py      (about a minute on 2 cores)
"""

import re
import time

import numpy as np

from seqcore.datasets import load_text
from seqcore.nn import Adam, SequenceNetwork, clip_grad_norm

HIDDEN = 128         # LSTM units
CHUNK = 64           # characters per training sequence
BATCH = 32           # sequences per step
STEPS = 300          # optimizer steps: ~60 passes over the text, about a minute
LEARNING_RATE = 0.01
MAX_NORM = 5.0       # gradient clipping
SEED = 0


def log_softmax(Z):
    Z = Z - Z.max(axis=-1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=-1, keepdims=True))


def bits_per_char(net, one_hot, codes):
    """Mean cross-entropy (bits) of predicting codes[1:] from codes[:-1]."""
    Z, _ = net.stream(one_hot[codes[:-1]][None])
    logp = log_softmax(Z[0].astype(np.float64))
    return float(-logp[np.arange(len(codes) - 1), codes[1:]].mean() / np.log(2))


def sample(net, one_hot, chars, prime, length, temperature, rng):
    """Stream the prime, then one sampled character at a time, state carried."""
    index = {c: i for i, c in enumerate(chars)}
    Z, state = net.stream(one_hot[[index[c] for c in prime]][None])
    out = []
    for _ in range(length):
        logits = Z[0, -1].astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        code = rng.choice(len(chars), p=p / p.sum())
        out.append(chars[code])
        Z, state = net.stream(one_hot[[code]][None], state)   # (1, 1, V): one step
    return prime + "".join(out)


def longest_copied(generated, text):
    """Length of the longest stretch of ``generated`` found verbatim in ``text``."""
    best = 0
    for i in range(len(generated)):
        while i + best < len(generated) and generated[i:i + best + 1] in text:
            best += 1
    return best


def main():
    text = load_text()
    chars = sorted(set(text))
    V = len(chars)
    codes = np.array([chars.index(c) for c in text])
    one_hot = np.eye(V, dtype=np.float32)
    split = int(0.9 * len(codes))
    train, valid = codes[:split], codes[split:]
    print(f"Alice, chapter I: {len(text)} characters, {V} distinct; "
          f"{len(train)} to train on, {len(valid)} held out")

    net = SequenceNetwork("lstm", V, HIDDEN, V, loss="softmax", return_sequences=True,
                          dtype=np.float32, random_state=SEED)
    optimizer = Adam(net.flat_params, net.flat_grads, lr=LEARNING_RATE)
    rng = np.random.default_rng(SEED)
    lengths = np.full(BATCH, CHUNK)
    print(f"LSTM({V} -> {HIDDEN}) + softmax head, {net.flat_params.size} parameters; "
          f"untrained: {bits_per_char(net, one_hot, valid):.2f} bits/char held out "
          f"(uniform: {np.log2(V):.2f})")

    t0 = time.perf_counter()
    for step in range(1, STEPS + 1):
        starts = rng.integers(0, len(train) - CHUNK - 1, size=BATCH)
        rows = starts[:, None] + np.arange(CHUNK)
        X, Y = one_hot[train[rows]], train[rows + 1]    # (B, T, V) inputs, (B, T) next chars
        loss = net.loss_and_gradient(X, lengths, Y)
        clip_grad_norm(net.flat_grads, MAX_NORM)
        optimizer.step()
        if step % 50 == 0:
            print(f"step {step:4d}  train loss {loss / np.log(2):.2f} bits/char  "
                  f"held out {bits_per_char(net, one_hot, valid):.2f}  "
                  f"({time.perf_counter() - t0:.0f}s)", flush=True)

    words = set(re.findall(r"[a-z]+", text.lower()))
    for temperature in (0.5, 1.0):
        generated = sample(net, one_hot, chars, "Alice ", 400, temperature,
                           np.random.default_rng(SEED + 1))
        new = re.findall(r"[a-z]+", generated[6:].lower())
        known = np.mean([w in words for w in new]) if new else 0.0
        longest = longest_copied(generated[6:], text)
        print(f"\n--- temperature {temperature}: {100 * known:.0f}% of {len(new)} words "
              f"are words of the chapter; longest run copied from it: {longest} characters ---")
        print(generated)


if __name__ == "__main__":
    main()

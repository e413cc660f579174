"""
Export a classifier to ONNX and run it with onnxruntime
=======================================================

A classifier of sequences of different lengths, exported with
:func:`seqcore.onnx.to_onnx` and run by onnxruntime on the padded batch and
its lengths.  The two agree to float32 rounding; the figure plots
onnxruntime's probabilities against seqcore's.
"""

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort

from seqcore import RNNClassifier
from seqcore.onnx import to_onnx
from seqcore.preprocessing import pad_sequences

rng = np.random.default_rng(0)
# sequences of 5 to 30 steps; the class: does the first feature drift up?
X = [rng.standard_normal((n, 2)).cumsum(axis=0) for n in rng.integers(5, 31, 300)]
y = np.array(["up" if x[-1, 0] > x[0, 0] else "down" for x in X])
clf = RNNClassifier(cell="lstm", hidden_size=16, max_iter=40, n_iter_no_change=3,
                    random_state=0).fit(X, y)

model = to_onnx(clf, lengths=True)
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
X_padded, lengths = pad_sequences(X, dtype=np.float32)
label, proba = session.run(None, {"X": X_padded, "lengths": lengths})

print("inputs:", [i.name for i in session.get_inputs()],
      "outputs:", [o.name for o in session.get_outputs()])
print("same labels:", bool((label == clf.predict(X)).all()))
print(f"largest probability difference: {np.abs(proba - clf.predict_proba(X)).max():.1e}")

# %%
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(clf.predict_proba(X)[:, 1], proba[:, 1], s=8)
ax.set_xlabel("seqcore: P(up)")
ax.set_ylabel("onnxruntime: P(up)")
ax.set_title("The exported graph agrees")

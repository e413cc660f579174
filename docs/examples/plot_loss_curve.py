"""
Classify digits read row by row, and watch training
===================================================

Each 8x8 image of scikit-learn's digits becomes a sequence of 8 steps of 8
features (one row per step).  A GRU classifier with early stopping holds
out a tenth of the training set; :class:`~seqcore.LossCurveDisplay` draws
the training loss and the held-out accuracy per epoch.
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from seqcore import LossCurveDisplay, RNNClassifier
from seqcore.preprocessing import SequenceScaler

X, y = load_digits(return_X_y=True)
X = X.reshape(-1, 8, 8)                       # (n_samples, 8 steps, 8 features)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

model = make_pipeline(
    SequenceScaler(),
    RNNClassifier(cell="gru", hidden_size=32, max_iter=60, early_stopping=True,
                  n_iter_no_change=5, random_state=0),
)
model.fit(X_train, y_train)
print(f"test accuracy: {model.score(X_test, y_test):.3f} after {model[-1].n_iter_} epochs")

# %%
# The loss keeps falling while the held-out accuracy levels off: early
# stopping ends training there and keeps the best weights.
disp = LossCurveDisplay.from_estimator(model)

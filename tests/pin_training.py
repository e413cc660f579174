"""The fixed-seed runs whose numbers the training engine must not change.

``python tests/pin_training.py`` writes tests/data/training_pins.npz (loss
curves, validation scores and predictions of each estimator, and the CPU
they were computed on); tests/test_engine.py reruns the same cases and
compares.  Regenerate only when a change is *meant* to change numbers.
"""
import os
import platform
import sys
import warnings

import numpy as np

import seqcore
from seqcore import RNNClassifier, RNNForecaster, RNNRegressor
from seqcore.datasets import load_airline
from seqcore.text import RNNLanguageModel, Seq2SeqTranslator

HERE = os.path.dirname(os.path.abspath(__file__))
PINS = os.path.join(HERE, "data", "training_pins.npz")


def cpu_signature():
    """The CPU model and the BLAS core type: the bits of a float32/64 run
    depend on both (kernels differ between processors)."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}|{os.environ.get('OPENBLAS_CORETYPE', '')}"


def _dates(n, seed):
    rng = np.random.default_rng(seed)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
              "Nov", "Dec"]
    X, y = [], []
    for _ in range(n):
        d, m, yr = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1950, 2050))
        X.append(f"{d} {months[m - 1]} {yr}")
        y.append(f"{yr}-{m:02d}-{d:02d}")
    return X, y


def cases():
    """name -> a function returning a dict of arrays."""
    from sklearn.datasets import load_digits

    def classifier():
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).reshape(-1, 8, 8)[:600]
        y = y[:600]
        m = RNNClassifier(cell="gru", hidden_size=16, max_iter=6, random_state=0,
                          early_stopping=True, n_iter_no_change=50).fit(X[:500], y[:500])
        return {"loss": m.loss_curve_, "val": m.validation_scores_,
                "proba": m.predict_proba(X[500:])}

    def classifier_sgd():
        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).reshape(-1, 8, 8)[:400]
        y = y[:400]
        m = RNNClassifier(cell="lstm", hidden_size=12, max_iter=4, optimizer="sgd",
                          learning_rate=0.05, momentum=0.9, clip_norm=1.0, clip_value=0.5,
                          alpha=1e-3, random_state=1, dtype="float64").fit(X[:300], y[:300])
        return {"loss": m.loss_curve_, "proba": m.predict_proba(X[300:])}

    def regressor():
        rng = np.random.default_rng(3)
        X = rng.normal(size=(200, 15, 3))
        y = X[:, :, 0].cumsum(1)[:, -1] + 0.1 * rng.normal(size=200)
        m = RNNRegressor(cell="lstm", hidden_size=16, max_iter=8, random_state=2,
                         batch_size=16).fit(X[:150], y[:150])
        return {"loss": m.loss_curve_, "pred": m.predict(X[150:])}

    def forecaster():
        y = load_airline()
        f = RNNForecaster(horizon=12, random_state=0).fit(y)
        return {"pred": np.asarray(f.predict(12), float)}

    def language_model():
        text = seqcore.datasets.load_alice() if hasattr(seqcore.datasets, "load_alice") else None
        if text is None:
            path = os.path.join(os.path.dirname(seqcore.__file__), "datasets", "data",
                                "alice_chapter1.txt")
            with open(path, encoding="utf-8") as f:
                text = f.read()
        docs = [text[:6000]]
        m = RNNLanguageModel(hidden_size=32, embedding_dim=16, max_iter=3, sequence_length=32,
                             random_state=0, early_stopping=True, n_iter_no_change=50).fit(docs)
        return {"loss": m.loss_curve_, "val": m.validation_scores_,
                "score": [m.score([text[6000:7000]])]}

    def translator():
        X, y = _dates(300, 0)
        m = Seq2SeqTranslator(hidden_size=24, embedding_dim=12, max_iter=4, random_state=0,
                              n_iter_no_change=50).fit(X, y)
        Xt, _ = _dates(20, 1)
        return {"loss": m.loss_curve_, "val": m.validation_scores_,
                "pred": np.array([len(s) for s in m.predict(Xt)], float),
                "text": np.frombuffer("|".join(m.predict(Xt)).encode(), np.uint8).astype(float)}

    return {"classifier": classifier, "classifier_sgd": classifier_sgd,
            "regressor": regressor, "forecaster": forecaster,
            "language_model": language_model, "translator": translator}


def run(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = cases()[name]()
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


if __name__ == "__main__":
    arrays = {"cpu": np.array(cpu_signature())}
    for name in cases():
        for k, v in run(name).items():
            arrays[f"{name}/{k}"] = v
        print(name, "done", file=sys.stderr)
    np.savez(PINS, **arrays)
    print("wrote", PINS)

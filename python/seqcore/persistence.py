"""Saving fitted models: pickle, or ``skops.io`` when the file comes from elsewhere.

pickle (and ``joblib.dump``) keeps any object and is fast, but loading a
pickle runs whatever code the file names: load only files you made
yourself.  ``skops.io`` stores the same objects as data and, on load,
refuses every type it was not told to trust, so a file from a colleague,
a model hub or a ticket cannot run code.  ``trusted_types()`` lists the
seqcore types a fitted seqcore model is made of; ``load`` trusts them and
nothing else beyond what skops trusts by default (NumPy, SciPy and
scikit-learn's own types).

Examples
--------
>>> import numpy as np
>>> from seqcore import RNNClassifier
>>> from seqcore.persistence import dump, load
>>> rng = np.random.default_rng(0)
>>> X, y = rng.standard_normal((20, 5, 2)), np.arange(20) % 2
>>> clf = RNNClassifier(hidden_size=4, max_iter=50, n_iter_no_change=2, tol=0.01,
...                     random_state=0).fit(X, y)
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "model.skops")
>>> dump(clf, path)
>>> bool((load(path).predict(X) == clf.predict(X)).all())
True
"""

__all__ = ["trusted_types", "dump", "load"]


def _seqcore_types():
    from . import _estimators, _forecasting, nn, preprocessing, text
    from .nn import _cells, _language, _loss, _optim, _schedules

    return [
        # estimators and transformers
        _estimators.RNNClassifier, _estimators.RNNRegressor,
        _forecasting.RNNForecaster, _forecasting._Series,
        preprocessing.SequenceScaler, text.SequenceTokenizer,
        # what a fitted estimator holds: its network, layers and optimizer
        nn.SequenceNetwork, nn.RNN, nn.GRU, nn.LSTM, nn.MGU, nn.Embedding, nn.Linear,
        _cells.Layout, _optim.SGD, _optim.Adam, _optim.AdamW, _optim.RMSprop,
        _optim.ExponentialLR, *_loss.LOSSES.values(), *_schedules.SCHEDULES.values(),
        _language.LanguageNetwork,
    ]


def trusted_types():
    """The seqcore types a skops file of a seqcore model may hold.

    Pass them to ``skops.io.load(file, trusted=trusted_types())`` (``load``
    here does): a file holding any other type that skops does not trust by
    default is refused.  Other objects in the file (a custom transformer in
    a pipeline) must be trusted by the caller, after reading
    ``skops.io.get_untrusted_types(file=...)``.

    Returns
    -------
    list of str
        Fully qualified names, such as
        ``'seqcore._estimators.RNNClassifier'``, sorted.
    """
    return sorted(f"{cls.__module__}.{cls.__qualname__}" for cls in _seqcore_types())


def _skops_io():
    try:
        import skops.io
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("saving with skops needs the skops package: "
                          "pip install skops") from exc
    return skops.io


def dump(model, file):
    """Save a model with ``skops.io.dump``.

    Parameters
    ----------
    model : object
        A fitted seqcore estimator, or a pipeline holding one.
    file : str or path-like
        Where to write (the ``.skops`` suffix is customary).
    """
    _skops_io().dump(model, file)


def load(file, trusted=()):
    """Load a model saved by ``dump`` (or ``skops.io.dump``), trusting only
    seqcore's types and those in ``trusted``.

    Parameters
    ----------
    file : str or path-like
    trusted : sequence of str, default=()
        Further type names to trust (see ``skops.io.get_untrusted_types``).

    Returns
    -------
    object
        The model.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        When the file holds a type that is neither seqcore's nor trusted by
        skops by default nor in ``trusted``; nothing of the file has run.
    """
    if isinstance(trusted, str):
        raise TypeError("trusted must be a list of type names, not one string")
    return _skops_io().load(file, trusted=trusted_types() + list(trusted))

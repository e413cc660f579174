"""Weights to and from PyTorch and Keras 3: layers and fitted estimators.

* ``from_torch(module)``: a ``torch.nn.RNN``, ``GRU`` or ``LSTM`` becomes the
  equivalent ``seqcore.nn`` layer; with a ``head=torch.nn.Linear`` (and an
  optional ``embedding=torch.nn.Embedding``) a fitted ``RNNClassifier``
  (``classes=`` given) or ``RNNRegressor`` (no ``classes``).
* ``to_torch(obj)``: a ``seqcore.nn`` layer becomes the torch module; a
  fitted estimator a ``torch.nn.ModuleDict`` of ``'rnn'``, ``'head'`` (and
  ``'embedding'``), which ``from_torch`` reads back.
* ``from_keras(layer)`` / ``to_keras(layer)``: Keras 3 ``SimpleRNN``,
  ``GRU``, ``LSTM`` and ``Bidirectional`` (a list of them for a stack).

Neither framework is a dependency of seqcore: each function imports its
framework when called (``from_keras`` needs none: it reads
``layer.get_weights()``).

Design: seqcore's parameters already carry PyTorch's names, shapes and gate
orders (``weight_ih_l{k}`` (G*H, I), gates i, f, g, o and r, z, n), so the
torch side is a copy by name.  Keras keeps, per layer and direction, a
``kernel`` (I, G*H), a ``recurrent_kernel`` (H, G*H) and one ``bias``:

* transposes: ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``;
* gate order: Keras' LSTM gates (i, f, c, o) are PyTorch's (i, f, g, o)
  under another name for the candidate; Keras' GRU gates are (z, r, h), so
  the blocks are permuted to (r, z, n);
* biases: Keras' LSTM and SimpleRNN have one bias, which becomes
  ``bias_ih`` with ``bias_hh = 0`` (and ``bias_ih + bias_hh`` going back);
  a GRU with ``reset_after=True`` has two bias rows (input, recurrent),
  which map to ``bias_ih`` and ``bias_hh`` one to one, because the
  recurrent row sits inside the reset product in both; with
  ``reset_after=False`` the one bias is the sum of the two.

What has no counterpart is refused with a ``ValueError`` naming it (a
peephole LSTM or an MGU in torch or Keras, a GRU with ``reset_after=False``
in torch, ``proj_size`` in Keras, activations other than the standard ones).
Settings that act in training only and have no counterpart (Keras' input
``dropout``; seqcore's ``recurrent_dropout`` in torch) are left out with a
warning: inference is unchanged.
"""

import warnings

import numpy as np

from ._base import DTYPES
from . import _engine
from . import nn as _nn

__all__ = ["from_torch", "to_torch", "from_keras", "to_keras"]

# class name (seqcore.nn and torch.nn alike) -> cell kind, and back
_CLASS_CELL = {"RNN": "rnn", "GRU": "gru", "LSTM": "lstm"}
_CELL_CLASS = {v: k for k, v in _CLASS_CELL.items()}
# Keras recurrent layer class name -> seqcore cell
_KERAS_CELLS = {"SimpleRNN": "rnn", "GRU": "gru", "LSTM": "lstm"}
_KERAS_NAMES = {v: k for k, v in _KERAS_CELLS.items()}
_DTYPES = DTYPES
# regression losses whose predictions are the head's outputs (in target units)
_IDENTITY_LOSSES = ("squared_error", "absolute_error", "huber")


def _numpy(tensor):
    return tensor.detach().cpu().numpy()


def _torch_dtype(module):
    """The numpy dtype of a torch module's parameters (float32 or float64)."""
    dtypes = {p.dtype for p in module.parameters()}
    names = {str(d).replace("torch.", "") for d in dtypes}
    if len(names) != 1 or not names <= set(_DTYPES):
        raise ValueError(f"the module's parameters must all be float32 or all float64, got "
                         f"{sorted(names)}")
    return _DTYPES[names.pop()]


def _layer_kind(layer):
    if not isinstance(layer, (_nn.RNN, _nn.GRU, _nn.LSTM, _nn.MGU)):
        raise TypeError(f"expected a seqcore.nn recurrent layer (RNN, GRU, LSTM, MGU), got "
                        f"{type(layer).__name__}")
    return type(layer).__name__


# ---------------------------------------------------------------- torch
def _torch_rnn_to_layer(module):
    """A torch.nn.RNN/GRU/LSTM -> the seqcore.nn layer with its weights."""
    import torch

    kind = next((n for n in _CLASS_CELL if isinstance(module, getattr(torch.nn, n))), None)
    if kind is None:
        raise TypeError(f"expected torch.nn.RNN, GRU or LSTM, got {type(module).__name__}")
    dtype = _torch_dtype(module)
    options = {}
    if kind == "RNN":
        options["nonlinearity"] = module.nonlinearity
    if kind == "LSTM":
        options["proj_size"] = module.proj_size
    layer = getattr(_nn, kind)(module.input_size, module.hidden_size, module.num_layers,
                               bidirectional=module.bidirectional,
                               dropout=float(module.dropout), dtype=dtype, **options)
    given = {name: _numpy(value) for name, value in module.state_dict().items()}
    # bias=False: a bias of zero computes the same
    layer.load_state_dict({name: given.get(name, np.zeros_like(value))
                           for name, value in layer.params.items()})
    return layer


def _layer_to_torch(layer):
    """A seqcore.nn layer -> the torch module with its weights."""
    import torch

    kind = _layer_kind(layer)
    if kind == "MGU":
        raise ValueError("torch has no MGU cell")
    if layer.bidirectional and layer.merge_mode != "concat":
        raise ValueError(f"torch concatenates the two directions; this layer has "
                         f"merge_mode={layer.merge_mode!r}")
    if kind == "GRU" and not layer.reset_after:
        raise ValueError("torch's GRU applies the reset gate after the hidden product "
                         "(reset_after=True); this layer has reset_after=False")
    if kind == "LSTM" and layer.peephole:
        raise ValueError("torch's LSTM has no peephole connections")
    if layer.recurrent_dropout:
        warnings.warn(f"torch has no recurrent dropout: recurrent_dropout="
                      f"{layer.recurrent_dropout} is left out (it acts in training only)",
                      UserWarning, stacklevel=3)
    options = {}
    if kind == "RNN":
        options["nonlinearity"] = layer.nonlinearity
    if kind == "LSTM":
        options["proj_size"] = layer.proj_size
    dtype = getattr(torch, np.dtype(layer.dtype).name)
    module = getattr(torch.nn, kind)(layer.input_size, layer.hidden_size, layer.num_layers,
                                     batch_first=True, bidirectional=layer.bidirectional,
                                     dropout=layer.dropout if layer.num_layers > 1 else 0.0,
                                     dtype=dtype, **options)
    module.load_state_dict({name: torch.from_numpy(value.copy())
                            for name, value in layer.params.items()})
    return module


def _check_torch_parts(module, head, embedding):
    import torch

    if not isinstance(head, torch.nn.Linear):
        raise TypeError(f"head must be a torch.nn.Linear, got {type(head).__name__}")
    if embedding is not None and not isinstance(embedding, torch.nn.Embedding):
        raise TypeError(f"embedding must be a torch.nn.Embedding, got "
                        f"{type(embedding).__name__}")
    width = (module.proj_size or module.hidden_size) if hasattr(module, "proj_size") \
        else module.hidden_size
    width *= 2 if module.bidirectional else 1
    if head.in_features != width:
        raise ValueError(f"head.in_features is {head.in_features}, but the recurrent module "
                         f"gives {width} features")
    if embedding is not None and embedding.embedding_dim != module.input_size:
        raise ValueError(f"embedding.embedding_dim is {embedding.embedding_dim}, but the "
                         f"recurrent module reads {module.input_size} features")


def _fitted_estimator(estimator, layer, W, b, n_features, vocab_size, y_probe):
    """``estimator`` fitted on a probe set (so that every fitted attribute the
    estimator needs exists, whatever its training engine keeps), then given
    the converted weights and an empty history."""
    from sklearn.exceptions import ConvergenceWarning

    n = len(y_probe)
    if vocab_size is None:
        X = np.zeros((n, 1, n_features))
    else:   # id 1: the probe must not be padding
        X = np.ones((n, 1), dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y_probe)
    net = estimator.network_
    with net.param_lock:
        for name, value in layer.params.items():
            net.params[name][...] = value
        net.params["head.weight"][...] = W
        net.params["head.bias"][...] = b
    # the probe's history and optimizer state are not the model's: training
    # on (warm_start, partial_fit) starts as from fresh weights
    _engine.start_history(estimator)
    optimizer = estimator._optimizer
    for name in optimizer._state:
        getattr(optimizer, name)[...] = 0
    optimizer.n_steps = 0
    optimizer.lr = float(estimator.learning_rate)
    return estimator


def from_torch(module, *, head=None, embedding=None, classes=None, return_sequences=False,
               multilabel=False):
    """A seqcore layer, or a fitted estimator, with the weights of a torch model.

    Parameters
    ----------
    module : torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM or torch.nn.ModuleDict
        The recurrent module; every option that changes what it computes
        carries over (``num_layers``, ``bidirectional``, ``nonlinearity``,
        ``proj_size``, ``bias=False`` as zero biases; ``dropout`` between
        layers, which acts in training only).  ``batch_first`` does not
        matter: seqcore is batch first.  A ``ModuleDict`` with keys
        ``'rnn'``, ``'head'`` and optionally ``'embedding'`` (what
        ``to_torch`` returns for an estimator) stands for all three.
    head : torch.nn.Linear, optional
        The output layer on top of the recurrent module.  Without it the
        result is a ``seqcore.nn`` layer; with it a fitted estimator.  The
        head reads the last layer's final state, ``h_n[-1]`` (both
        directions: ``torch.cat([h_n[-2], h_n[-1]], 1)``), or with
        ``return_sequences=True`` the outputs of every step.
    embedding : torch.nn.Embedding, optional
        Token input: the estimator reads token ids through it.  In a 2-D id
        array seqcore reads trailing zeros as padding (id 0, as
        ``SequenceTokenizer`` numbers them); a list of 1-D id arrays has no
        padding at all.
    classes : array-like, optional
        The class labels of the head's outputs, in order: the result is an
        ``RNNClassifier`` whose ``predict_proba`` is the softmax of the
        head's logits.  A head with one output and two classes is a binary
        logit (``BCEWithLogitsLoss``): the probability of ``classes[1]`` is
        its sigmoid.  Without ``classes`` the result is an ``RNNRegressor``
        that predicts the head's outputs.
    return_sequences : bool, default=False
        The head reads every step (tagging, per-step regression).
    multilabel : bool, default=False
        The head's outputs are one logit per label (``BCEWithLogitsLoss``):
        the result is a multilabel ``RNNClassifier`` (``classes_`` the label
        indices), as ``to_torch`` exports one.  Not with ``classes``.

    Returns
    -------
    seqcore.nn.RNN, GRU, LSTM, or a fitted RNNClassifier or RNNRegressor
        Same dtype as the module's parameters.  A fitted estimator has an
        empty ``loss_curve_`` and ``n_iter_ = 0``; ``warm_start=True`` (or
        ``partial_fit``) trains on from the imported weights.

    Examples
    --------
    >>> import torch
    >>> from seqcore.convert import from_torch
    >>> lstm, linear = torch.nn.LSTM(3, 16, batch_first=True), torch.nn.Linear(16, 2)
    >>> clf = from_torch(lstm, head=linear, classes=["no", "yes"])
    >>> clf.classes_.tolist()
    ['no', 'yes']
    """
    import torch

    from ._estimators import RNNClassifier, RNNRegressor

    if isinstance(module, torch.nn.ModuleDict):
        if head is not None or embedding is not None:
            raise ValueError("a ModuleDict brings its own head and embedding: pass neither")
        unknown = set(module.keys()) - {"rnn", "head", "embedding"}
        if "rnn" not in module or "head" not in module or unknown:
            raise ValueError(f"a ModuleDict must hold 'rnn', 'head' and optionally "
                             f"'embedding'; got {sorted(module.keys())}")
        head = module["head"]
        embedding = module["embedding"] if "embedding" in module else None
        module = module["rnn"]
    if head is None:
        if embedding is not None or classes is not None or return_sequences or multilabel:
            raise ValueError("embedding, classes and return_sequences describe an "
                             "estimator: pass head= too")
        return _torch_rnn_to_layer(module)
    if not isinstance(return_sequences, (bool, np.bool_)):
        raise TypeError(f"return_sequences must be a bool, got {return_sequences!r}")
    layer = _torch_rnn_to_layer(module)
    _check_torch_parts(module, head, embedding)
    dtype = np.dtype(layer.dtype).name
    if _torch_dtype(head) != layer.dtype or (
            embedding is not None and _torch_dtype(embedding) != layer.dtype):
        raise ValueError("the head and embedding must have the recurrent module's dtype "
                         f"({dtype})")
    W = _numpy(head.weight).astype(np.float64)
    b = (_numpy(head.bias).astype(np.float64) if head.bias is not None
         else np.zeros(head.out_features))
    K = head.out_features
    params = dict(cell=type(module).__name__.lower(), hidden_size=module.hidden_size,
                  num_layers=module.num_layers, bidirectional=module.bidirectional,
                  dropout=float(module.dropout) if module.num_layers > 1 else 0.0,
                  return_sequences=bool(return_sequences), dtype=dtype, max_iter=1,
                  shuffle=False, random_state=0, **layer.options)
    if embedding is not None:
        params.update(embedding_dim=embedding.embedding_dim,
                      vocab_size=embedding.num_embeddings)
    if multilabel:
        if classes is not None or return_sequences:
            raise ValueError("multilabel=True reads one logit per label: pass neither classes "
                             "nor return_sequences")
        y = np.array([[0] * K, [1] * K])   # a 0/1 indicator: the multilabel form
        estimator = RNNClassifier(**params)
    elif classes is not None:
        classes = np.asarray(classes)
        if classes.ndim != 1 or len(classes) < 2 or len(np.unique(classes)) != len(classes):
            raise ValueError(f"classes must be at least 2 distinct labels in a 1-D array, "
                             f"got {classes!r}")
        if not np.array_equal(np.sort(classes), classes):
            raise ValueError("classes must be sorted, as an estimator's classes_ are "
                             "(np.unique); reorder the head's rows to match")
        if K == 1 and len(classes) == 2:
            # softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]
            W, b = np.vstack([np.zeros_like(W), W]), np.concatenate([[0.0], b])
        elif K != len(classes):
            raise ValueError(f"the head has {K} outputs for {len(classes)} classes")
        y = classes[:, None] if return_sequences else classes
        estimator = RNNClassifier(**params)
    else:
        # a probe of mean 0 and standard deviation 1 per output: the
        # regressor's target scaling is then the identity
        y = np.array([[-1.0] * K, [1.0] * K])
        y = y[:, 0] if K == 1 else y
        y = y[:, None] if return_sequences else y
        estimator = RNNRegressor(**params)
    fitted = _fitted_estimator(estimator, layer, W, b, module.input_size,
                               None if embedding is None else embedding.num_embeddings, y)
    if embedding is not None:
        with fitted.network_.param_lock:
            fitted.network_.params["embedding.weight"][...] = _numpy(embedding.weight)
    return fitted


def to_torch(obj):
    """The torch module with the weights of a seqcore layer or fitted estimator.

    Parameters
    ----------
    obj : seqcore.nn.RNN, GRU, LSTM, or a fitted RNNClassifier or RNNRegressor
        A layer becomes ``torch.nn.RNN``, ``GRU`` or ``LSTM`` with
        ``batch_first=True`` and the layer's dtype.  Refused (``ValueError``):
        an MGU, a peephole LSTM, a GRU with ``reset_after=False``, a
        bidirectional layer whose ``merge_mode`` is not ``'concat'``.  An
        estimator's network must have no ``dense_layers``.

    Returns
    -------
    torch.nn.Module
        For a layer, the recurrent module.  For an estimator, a
        ``torch.nn.ModuleDict`` with ``'rnn'``, ``'head'`` (``nn.Linear``,
        reading ``h_n[-1]`` or ``torch.cat([h_n[-2], h_n[-1]], 1)``, or
        every step with ``return_sequences``) and, for token input,
        ``'embedding'``.  The head's outputs are the classifier's logits
        (softmax them for ``predict_proba``, in the order of ``classes_``;
        a multilabel classifier's are one logit per label, to sigmoid) or
        the regressor's predictions (its target scaling is folded into the
        head; the losses 'squared_error', 'absolute_error' and 'huber',
        whose predictions are the head's outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.nn import GRU
    >>> from seqcore.convert import to_torch
    >>> to_torch(GRU(4, 8, num_layers=2, dtype=np.float64))
    GRU(4, 8, num_layers=2, batch_first=True)
    """
    import torch

    from ._estimators import RNNClassifier, RNNRegressor

    if not isinstance(obj, (RNNClassifier, RNNRegressor)):
        if hasattr(obj, "get_params"):
            raise TypeError(f"to_torch converts a fitted RNNClassifier or RNNRegressor (or a "
                            f"seqcore.nn recurrent layer), got {type(obj).__name__}")
        return _layer_to_torch(obj)
    if not hasattr(obj, "network_"):
        from sklearn.exceptions import NotFittedError
        raise NotFittedError(f"this {type(obj).__name__} is not fitted yet: fit it before "
                             "converting it")
    net = obj.network_
    if net.dense:
        raise ValueError("torch has no single module for dense_layers: convert an "
                         "estimator without them")
    loss = obj.get_params().get("loss", "squared_error")
    loss = getattr(loss, "name", loss)
    if isinstance(obj, RNNRegressor) and loss not in _IDENTITY_LOSSES:
        raise ValueError(f"a regressor trained with loss={loss!r} does not predict its head's "
                         f"outputs (a link function or sorted quantiles); to_torch converts "
                         f"the losses {_IDENTITY_LOSSES}")
    with net.param_lock:
        layer = _copy_layer(net.rnn)
        W, b = net.weight.astype(np.float64), net.bias.astype(np.float64)
        emb = None if net.embedding is None else net.embedding.params["weight"].copy()
    scale = getattr(obj, "_y_scale", None)
    if scale is not None:   # a regressor: predictions are Z * scale + mean
        W, b = W * scale[:, None], b * scale + obj._y_mean
    dtype = getattr(torch, np.dtype(layer.dtype).name)
    head = torch.nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
    head.load_state_dict({"weight": torch.from_numpy(W.astype(layer.dtype)),
                          "bias": torch.from_numpy(b.astype(layer.dtype))})
    parts = {"rnn": _layer_to_torch(layer), "head": head}
    if emb is not None:
        module = torch.nn.Embedding(emb.shape[0], emb.shape[1], padding_idx=0, dtype=dtype)
        module.load_state_dict({"weight": torch.from_numpy(emb)})
        parts = {"embedding": module, **parts}
    return torch.nn.ModuleDict(parts)


def _copy_layer(layer):
    """A standalone copy of a layer bound to a model's buffer."""
    kind = _layer_kind(layer)
    options = dict(layer.options)
    copy = getattr(_nn, kind)(layer.input_size, layer.hidden_size, layer.num_layers,
                              bidirectional=layer.bidirectional, merge_mode=layer.merge_mode,
                              dropout=layer.dropout, recurrent_dropout=layer.recurrent_dropout,
                              dtype=layer.dtype, **options)
    copy.load_state_dict(layer.state_dict())
    return copy


# ---------------------------------------------------------------- Keras
def _gate_blocks(a, G, order):
    """The G gate blocks of the last axis of a, put in ``order``."""
    blocks = np.split(a, G, axis=-1)
    return np.concatenate([blocks[i] for i in order], axis=-1)


# Keras GRU (z, r, h) <-> PyTorch (r, z, n): the permutation is its own inverse
_GRU_ORDER = (1, 0, 2)


def _keras_config(layer):
    """(cell kind, config) of one Keras recurrent layer, or a clear error."""
    name = type(layer).__name__
    if name not in _KERAS_CELLS:
        raise TypeError(f"expected a Keras SimpleRNN, GRU, LSTM or Bidirectional layer, got "
                        f"{name}")
    if not getattr(layer, "built", False):
        raise ValueError(f"the Keras layer {layer.name!r} is not built: call it on data or "
                         "build(input_shape) first")
    cfg = layer.get_config()
    kind = _KERAS_CELLS[name]
    act = cfg.get("activation")
    allowed = ("tanh", "relu") if kind == "rnn" else ("tanh",)
    if act not in allowed:
        raise ValueError(f"{name} with activation={act!r} has no seqcore counterpart "
                         f"(allowed: {allowed})")
    if kind != "rnn" and cfg.get("recurrent_activation") != "sigmoid":
        raise ValueError(f"{name} with recurrent_activation="
                         f"{cfg.get('recurrent_activation')!r} has no seqcore counterpart "
                         "(seqcore's gates use the sigmoid)")
    return kind, cfg


def _keras_direction(layer, kind, cfg):
    """The seqcore parameters (weight_ih, weight_hh, bias_ih, bias_hh) of
    one Keras layer."""
    weights = layer.get_weights()
    kernel, recurrent = weights[0], weights[1]
    H = cfg["units"]
    G = kernel.shape[1] // H
    if cfg.get("use_bias", True):
        bias = weights[2]
    else:
        bias = np.zeros((2, G * H) if kind == "gru" and cfg.get("reset_after") else G * H,
                        dtype=kernel.dtype)
    if kind == "gru":
        kernel, recurrent = (_gate_blocks(kernel, G, _GRU_ORDER),
                             _gate_blocks(recurrent, G, _GRU_ORDER))
        bias = _gate_blocks(bias, G, _GRU_ORDER)
    if bias.ndim == 2:     # GRU reset_after=True: rows (input, recurrent)
        b_ih, b_hh = bias[0], bias[1]
    else:
        b_ih, b_hh = bias, np.zeros_like(bias)
    return [kernel.T, recurrent.T, b_ih, b_hh]


def _keras_layer_info(layer):
    """(kind, cfg, [forward layer, backward layer or None], merge_mode)."""
    if type(layer).__name__ == "Bidirectional":
        if layer.merge_mode not in ("concat", "sum", "mul", "ave"):
            raise ValueError(f"Bidirectional with merge_mode={layer.merge_mode!r} has no "
                             "seqcore counterpart ('concat', 'sum', 'mul' or 'ave')")
        fwd, bwd = layer.forward_layer, layer.backward_layer
        kind, cfg = _keras_config(fwd)
        kind_b, cfg_b = _keras_config(bwd)
        if fwd.go_backwards or not bwd.go_backwards:
            raise ValueError("a Bidirectional layer's forward layer must read forwards and "
                             "its backward layer backwards")
        keys = ("units", "activation", "reset_after", "use_bias")
        if kind_b != kind or any(cfg.get(k) != cfg_b.get(k) for k in keys):
            raise ValueError("the two directions of a Bidirectional layer must be the same "
                             "kind of layer with the same settings")
        return kind, cfg, [fwd, bwd], layer.merge_mode
    kind, cfg = _keras_config(layer)
    if cfg.get("go_backwards"):
        raise ValueError("a Keras layer with go_backwards=True reads its sequences backwards "
                         "alone, which no seqcore layer does: wrap it in Bidirectional, or "
                         "reverse the sequences")
    return kind, cfg, [layer], "concat"


def from_keras(layers):
    """The seqcore layer with the weights of Keras 3 recurrent layers.

    Parameters
    ----------
    layers : keras layer or list of keras layers
        A built ``keras.layers.SimpleRNN``, ``GRU``, ``LSTM``, or a
        ``Bidirectional`` wrapper of one (merge modes 'concat', 'sum', 'mul',
        'ave').  A list of them is a stack: all of one kind and size, each
        reading the previous one's outputs; it becomes one layer with
        ``num_layers=len(layers)``.  The activations must be Keras'
        defaults (``tanh``, gates ``sigmoid``; ``relu`` allowed for
        ``SimpleRNN``).  ``recurrent_dropout`` carries over (the same
        semantics); Keras' input ``dropout`` has no seqcore counterpart and is
        left out with a warning (it acts in training only).

    Returns
    -------
    seqcore.nn.RNN, GRU or LSTM
        With the Keras layers' dtype (float32 or float64).  Gate order:
        Keras' LSTM gates (i, f, c, o) are PyTorch's and seqcore's
        (i, f, g, o); its GRU gates (z, r, h) become (r, z, n); a GRU's
        ``reset_after`` carries over.

    Examples
    --------
    >>> import os; os.environ.setdefault("KERAS_BACKEND", "torch")  # doctest: +SKIP
    >>> import keras
    >>> from seqcore.convert import from_keras
    >>> k = keras.layers.GRU(8)
    >>> k.build((None, None, 3))
    >>> from_keras(k)                                                 # doctest: +SKIP
    GRU(3, 8, dtype=float32)
    """
    stack = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not stack:
        raise ValueError("layers is empty")
    infos = [_keras_layer_info(layer) for layer in stack]
    kind, cfg, first, merge = infos[0]
    for k, (kind_k, cfg_k, parts_k, merge_k) in enumerate(infos[1:], 1):
        if (kind_k != kind or len(parts_k) != len(first) or merge_k != merge
                or any(cfg_k.get(key) != cfg.get(key)
                       for key in ("units", "activation", "reset_after", "recurrent_dropout"))):
            raise ValueError(f"layers[{k}] differs from layers[0] in kind, size or settings: "
                             "a stack converts to one seqcore layer, so every layer must "
                             "match")
    if any(info[1].get("dropout") for info in infos):
        warnings.warn("Keras' input dropout has no seqcore counterpart and is left out (it "
                      "acts in training only)", UserWarning, stacklevel=2)
    weights = [[_keras_direction(part, kind, cfg) for part in info[2]] for info in infos]
    dtype = weights[0][0][0].dtype
    if dtype.name not in _DTYPES or any(w.dtype != dtype for layer in weights
                                        for direction in layer for w in direction):
        raise ValueError(f"the Keras weights must all be float32 or all float64, got {dtype}")
    options = {}
    if kind == "rnn":
        options["nonlinearity"] = cfg["activation"]
    if kind == "gru":
        options["reset_after"] = bool(cfg.get("reset_after", True))
    H, I = cfg["units"], weights[0][0][0].shape[1]
    out = getattr(_nn, _CELL_CLASS[kind])(
        I, H, len(stack), bidirectional=len(first) == 2, merge_mode=merge,
        recurrent_dropout=float(cfg.get("recurrent_dropout", 0.0)),
        dtype=_DTYPES[dtype.name], **options)
    state = {}
    for k, layer_weights in enumerate(weights):
        for d, direction in enumerate(layer_weights):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), direction):
                state[name + sfx] = value
    out.load_state_dict(state)   # checks every shape (a stack whose sizes do not chain)
    return out


def to_keras(layer, *, return_sequences=True):
    """Keras 3 layers with the weights of a seqcore layer.

    Parameters
    ----------
    layer : seqcore.nn.RNN, GRU or LSTM
        Refused (``ValueError``): an MGU, a peephole LSTM, an LSTM with
        ``proj_size`` (none of which Keras has).
    return_sequences : bool, default=True
        Of the last Keras layer (the earlier ones of a stack always return
        sequences): every step's outputs, or only the final ones.

    Returns
    -------
    keras layer or list of keras layers
        ``SimpleRNN``, ``GRU`` (with the layer's ``reset_after``) or
        ``LSTM``, wrapped in ``Bidirectional`` (with the layer's
        ``merge_mode``) for a bidirectional layer; built, with the layer's
        dtype.  A stack (``num_layers > 1``) gives a list, one Keras layer
        per seqcore layer, to apply in order.  Keras' LSTM and SimpleRNN
        have one bias: it holds ``bias_ih + bias_hh``.  Dropout between
        layers is not carried over (it acts in training only).
    """
    import keras

    kind = _layer_kind(layer)
    if kind == "MGU":
        raise ValueError("Keras has no MGU cell")
    if kind == "LSTM" and (layer.peephole or layer.proj_size):
        raise ValueError("Keras' LSTM has neither peephole connections nor projections "
                         "(proj_size)")
    if not isinstance(return_sequences, (bool, np.bool_)):
        raise TypeError(f"return_sequences must be a bool, got {return_sequences!r}")
    cell = _CLASS_CELL[kind]
    dtype = np.dtype(layer.dtype).name
    H, G = layer.hidden_size, layer._layout.G
    out = []
    for k in range(layer.num_layers):
        options = dict(recurrent_dropout=layer.recurrent_dropout, dtype=dtype,
                       return_sequences=return_sequences or k < layer.num_layers - 1)
        if kind == "RNN":
            options["activation"] = layer.nonlinearity
        if kind == "GRU":
            options["reset_after"] = layer.reset_after
        directions = []
        for d in range(layer.num_directions):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            W_ih, W_hh, b_ih, b_hh = (layer.params[n + sfx] for n in
                                      ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            kernel, recurrent = W_ih.T, W_hh.T
            if kind == "GRU" and layer.reset_after:
                bias = np.stack([b_ih, b_hh])
            else:
                bias = b_ih + b_hh
            if kind == "GRU":
                kernel, recurrent, bias = (_gate_blocks(a, G, _GRU_ORDER)
                                           for a in (kernel, recurrent, bias))
            directions.append([np.ascontiguousarray(a) for a in (kernel, recurrent, bias)])
        keras_class = getattr(keras.layers, _KERAS_NAMES[cell])
        if layer.bidirectional:
            new = keras.layers.Bidirectional(keras_class(H, **options),
                                             merge_mode=layer.merge_mode, dtype=dtype)
        else:
            new = keras_class(H, **options)
        width = layer.input_size if k == 0 else layer.output_size
        new.build((None, None, width))
        new.set_weights([a for direction in directions for a in direction])
        out.append(new)
    return out[0] if len(out) == 1 else out


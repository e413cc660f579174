"""Export fitted models and ``seqcore.nn`` layers to ONNX: ``to_onnx``.

Design: a graph is built part by part, one function per part, each taking
the names of its input tensors and returning the names of its outputs:

* ``_scaler``: a ``SequenceScaler`` in front, ``(X - mean_) / scale_`` in
  float64 as seqcore computes it;
* ``_embedding``: ``nn.Embedding``, a ``Gather`` of the table's rows (an
  estimator with ``embedding_dim`` reads int64 token ids);
* ``_recurrent``: a stack of ``nn.RNN``/``GRU``/``LSTM``/``MGU`` layers, per
  layer either ONNX's own ``RNN``/``GRU``/``LSTM`` operator (gates reordered
  from PyTorch's, ``linear_before_reset`` for the GRU's ``reset_after``,
  peepholes, ``sequence_lens``, both directions in one operator) or a
  ``Scan`` over the steps whose body is the cell's step (the MGU and the
  LSTM's ``proj_size``, which ONNX lacks, and float64, which onnxruntime's
  operators refuse);
* ``_merge``: the two directions' outputs combined by ``merge_mode``;
* ``_linear``: ``nn.Linear``, ``act(X @ W.T + b)`` (the estimators' dense
  layers, between the summary and the head, and the head itself);
* ``_head``: the estimators' output, labels and probabilities for a
  classifier, un-standardised targets for a regressor.

Tensors inside the recurrent stack are time-major, (T, N, F), the layout
of ONNX's operators; the graph's inputs and outputs are batch-first like
seqcore's.  Shape letters: N batch, T steps, I input, H hidden, G gates,
D directions, L layers, K outputs; P the size of the state h (the LSTM's
``proj_size``, else H).

``onnx`` is imported only when a graph is built: ``pip install
seqcore-rnn[onnx]`` installs it and ``onnxruntime`` to run the graphs.
"""

import numpy as np

from ._data import SEQUENCES
from .nn import Embedding, Linear
from .nn._layers import _RNNBase

__all__ = ["to_onnx"]

# The default operator set: ReverseSequence (10), Softmax on one axis (13),
# Squeeze/Unsqueeze with axes as inputs (13), Shape with start/end (15).
DEFAULT_OPSET = 17
MIN_OPSET = 15
_RECURRENT = ("auto", "native", "scan")
_NATIVE_OPS = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}   # the MGU has none
# seqcore's gate blocks (PyTorch's order) in the order of ONNX's operators:
# GRU (r, z, n) -> (z, r, h); LSTM (i, f, g, o) -> (i, o, f, c)
_GATE_ORDER = {"rnn": [0], "gru": [1, 0, 2], "lstm": [0, 3, 1, 2]}
# peepholes: seqcore's rows (p_i, p_f, p_o) -> ONNX's (i, o, f)
_PEEPHOLE_ORDER = [0, 2, 1]


def _require_onnx():
    try:
        import onnx
    except ImportError as exc:   # pragma: no cover - depends on the environment
        raise ImportError("seqcore.onnx.to_onnx needs the onnx package: "
                          "pip install 'seqcore-rnn[onnx]' (onnx and onnxruntime)") from exc
    return onnx


class _Graph:
    """Nodes, initializers, inputs and outputs of one ONNX graph, with fresh names.

    A subgraph (a ``Scan`` body) shares its parent's names and initializers:
    it reads the weights from the outer scope.
    """

    def __init__(self, onnx, parent=None, name="seqcore"):
        self.onnx, self.parent, self.name = onnx, parent, name
        self.nodes, self.inputs, self.outputs = [], [], []
        self.initializers = parent.initializers if parent else []
        self._count = parent._count if parent else [0]

    def fresh(self, hint):
        self._count[0] += 1
        return f"{hint}_{self._count[0]}"

    def const(self, value, hint="c"):
        """An initializer holding ``value`` (an array); returns its name."""
        name = self.fresh(hint)
        value = np.asarray(value)
        if value.dtype.kind == "U":
            value = value.astype(object)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def ints(self, values, hint="idx"):
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def op(self, op_type, inputs, n_out=1, hint=None, **attrs):
        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def add_input(self, name, elem_type, shape):
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def add_output(self, tensor, name, elem_type, shape):
        """Expose ``tensor`` as the graph output ``name`` (through an Identity)."""
        self.nodes.append(self.onnx.helper.make_node("Identity", [tensor], [name]))
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def graph(self):
        return self.onnx.helper.make_graph(
            self.nodes, self.name, self.inputs, self.outputs,
            initializer=self.initializers if self.parent is None else [])


def _elem_type(onnx, dtype):
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


# ------------------------------------------------------------------ parts
def _scaler(g, X, scaler, dtype):
    """(X - mean_) / scale_ in float64, then in the model's dtype."""
    X64 = g.op("Cast", [X], to=_elem_type(g.onnx, np.float64))
    Z = g.op("Div", [g.op("Sub", [X64, g.const(scaler.mean_, "mean")]),
                     g.const(scaler.scale_, "scale")])
    return g.op("Cast", [Z], to=_elem_type(g.onnx, dtype), hint="scaled")


def _embedding(g, ids, layer):
    """weight[ids]: (..., E) rows of the table for integer ids of any shape.

    An id outside [0, num_embeddings) fails the run, as seqcore refuses it:
    ONNX's ``Gather`` reads a negative index from the end of the table, so
    negative ids are first mapped to ``num_embeddings``, an index that
    ``Gather`` refuses (onnxruntime: "indices element out of data bounds")."""
    V = layer.params["weight"].shape[0]
    ids = g.op("Where", [g.op("Less", [ids, g.ints(0)]), g.ints(V), ids], hint="ids_checked")
    return g.op("Gather", [g.const(layer.params["weight"], "embedding"), ids], axis=0,
                hint="embedded")


def _linear(g, X, weight, bias, activation=None, float64=False):
    """act(X @ W.T + b) over the last axis; in float64 when ``float64`` (the
    estimators' head computes in float64 whatever the model's dtype)."""
    if float64:
        X = g.op("Cast", [X], to=_elem_type(g.onnx, np.float64))
        weight = np.asarray(weight, dtype=np.float64)
    # Y = X @ W.T + b   (..., K) = (..., F)(F, K)
    Y = g.op("MatMul", [X, g.const(np.ascontiguousarray(weight.T), "weight_t")])
    if bias is not None:
        Y = g.op("Add", [Y, g.const(np.asarray(bias, dtype=weight.dtype), "bias")])
    if activation == "relu":
        Y = g.op("Relu", [Y])
    elif activation == "tanh":
        Y = g.op("Tanh", [Y])
    elif activation is not None:
        raise NotImplementedError(f"no ONNX export of the activation {activation!r}")
    return Y


def _merge(g, outs, mode, dtype):
    """The directions' (.., H) tensors combined like ``layer._merge``."""
    f, b = outs
    if mode == "concat":
        return g.op("Concat", [f, b], axis=-1)
    if mode == "sum":
        return g.op("Add", [f, b])
    if mode == "mul":
        return g.op("Mul", [f, b])
    # 'ave': (f + b) * 0.5, in this order, as seqcore computes it
    return g.op("Mul", [g.op("Add", [f, b]), g.const(np.array(0.5, dtype), "half")])


def _layer_params(layer, k, d):
    """(W_ih, W_hh, b_ih, b_hh, extra, W_hr) of layer k, direction d, by their
    names; extra (peepholes) and W_hr (the LSTM's projection, (P, H)) are None
    for a layer without them."""
    sfx = f"_l{k}" + ("_reverse" if d else "")
    P = layer.params
    extra = P.get(f"{layer._layout.extra_name}{sfx}") if layer._layout.extra_rows else None
    W_hr = P[f"weight_hr{sfx}"] if layer._proj else None
    return (P[f"weight_ih{sfx}"], P[f"weight_hh{sfx}"], P[f"bias_ih{sfx}"],
            P[f"bias_hh{sfx}"], extra, W_hr)


def _blocks(a, order, H):
    """Gate blocks of the rows of ``a`` (G*H, ...) rearranged in ``order``."""
    return np.concatenate([a[i * H:(i + 1) * H] for i in order], axis=0)


def _native_layer(g, layer, k, x, seq_lens, h0, c0):
    """Layer k as one ONNX RNN/GRU/LSTM operator over both directions.

    x (T, N, I) -> per-direction outputs [(T, N, H)] * D, h_n (D, N, H), c_n.
    """
    cell, H, D = layer._cell.name, layer.hidden_size, layer.num_directions
    order = _GATE_ORDER[cell]
    W, R, B, P = [], [], [], []
    for d in range(D):
        W_ih, W_hh, b_ih, b_hh, extra, _ = _layer_params(layer, k, d)
        W.append(_blocks(W_ih, order, H))
        R.append(_blocks(W_hh, order, H))
        B.append(np.concatenate([_blocks(b_ih, order, H), _blocks(b_hh, order, H)]))
        if extra is not None:
            P.append(extra[_PEEPHOLE_ORDER].reshape(-1))
    attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if cell == "rnn":
        act = "Relu" if layer.options["nonlinearity"] == "relu" else "Tanh"
        attrs["activations"] = [act] * D
    elif cell == "gru":
        attrs["linear_before_reset"] = int(layer.options["reset_after"])
    # onnxruntime's RNN/GRU/LSTM kernels crash on an empty batch (N = 0: a
    # segfault or an abort): the operator always sees one more row, of zeros
    # (length 1), which is cut from its outputs.  The rows are independent.
    def one_more_row(t, axis, value_dtype):
        shape = g.op("Shape", [t])
        row_shape = g.op("ScatterElements", [shape, g.ints([axis]), g.ints([1])], axis=0)
        row = g.op("ConstantOfShape", [row_shape],
                   value=g.onnx.numpy_helper.from_array(np.zeros(1, value_dtype)))
        return g.op("Concat", [t, row], axis=axis)

    def drop_last_row(t, axis):
        return g.op("Slice", [t, g.ints([0]), g.ints([-1]), g.ints([axis])])

    x = one_more_row(x, 1, layer.dtype)
    if seq_lens:
        seq_lens = g.op("Concat", [seq_lens, g.const(np.array([1], np.int32), "one_len")],
                        axis=0)
    h0 = one_more_row(h0, 1, layer.dtype) if h0 else h0
    c0 = one_more_row(c0, 1, layer.dtype) if c0 else c0
    inputs = [x, g.const(np.stack(W), "W"), g.const(np.stack(R), "R"),
              g.const(np.stack(B), "B"), seq_lens or "", h0 or ""]
    if cell == "lstm":
        inputs += [c0 or "", g.const(np.stack(P), "P") if P else ""]
    while inputs[-1] == "":
        inputs.pop()
    n_out = 3 if cell == "lstm" else 2
    res = g.op(_NATIVE_OPS[cell], inputs, n_out=n_out, hint=f"{cell}_l{k}", **attrs)
    Y, h_n = drop_last_row(res[0], 2), drop_last_row(res[1], 1)   # (T, D, N, H), (D, N, H)
    c_n = drop_last_row(res[2], 1) if cell == "lstm" else None
    # Y (T, D, N, H) -> one (T, N, H) per direction
    outs = [g.op("Squeeze", [Y, g.ints([1])])] if D == 1 else \
        [g.op("Gather", [Y, g.ints(d)], axis=1) for d in range(D)]
    return outs, h_n, c_n


def _step_body(g, layer, k, d, masked):
    """The Scan body of one direction: one step of the cell.

    State inputs h (N, P) [and c (N, H)]; scan inputs gx (N, G*H), the
    step's input product ``x @ W_ih.T + b_ih``, [and m (N, 1), whether the
    step is inside the sequence].  Outputs the new state and the step's
    output (N, P).
    """
    onnx = g.onnx
    cell, H, P, dt = layer._cell.name, layer.hidden_size, layer.state_size, layer.dtype
    two = layer._two_states
    body = _Graph(onnx, parent=g, name=f"{cell}_step_l{k}_d{d}")
    T = _elem_type(onnx, dt)
    h = body.add_input(body.fresh("h"), T, ["N", P])
    c = body.add_input(body.fresh("c"), T, ["N", H]) if two else None
    gx = body.add_input(body.fresh("gx"), T, ["N", layer._layout.G * H])
    m = body.add_input(body.fresh("m"), onnx.TensorProto.BOOL, ["N", 1]) if masked else None
    _, W_hh, _, b_hh, extra, W_hr = _layer_params(layer, k, d)

    def block(a, i, j=None):   # gate blocks i..j-1 of a tensor's last axis
        j = i + 1 if j is None else j
        return body.op("Slice", [a, body.ints([i * H]), body.ints([j * H]), body.ints([-1])])

    def hidden(state, rows):   # state @ W_hh[rows].T + b_hh[rows]   (N, r) = (N, P)(P, r)
        return body.op("Add", [body.op("MatMul", [state, body.const(
            np.ascontiguousarray(W_hh[rows].T), "W_hh_t")]), body.const(b_hh[rows], "b_hh")])

    one = lambda: body.const(np.array(1, dt), "one")   # noqa: E731
    sig = lambda a: body.op("Sigmoid", [a])          # noqa: E731
    tanh = lambda a: body.op("Tanh", [a])            # noqa: E731
    add = lambda a, b: body.op("Add", [a, b])        # noqa: E731
    mul = lambda a, b: body.op("Mul", [a, b])        # noqa: E731
    c_new = None
    if cell == "rnn":
        z = add(gx, hidden(h, slice(None)))
        h_new = body.op("Relu" if layer.options["nonlinearity"] == "relu" else "Tanh", [z])
    elif cell == "gru":
        if layer.options["reset_after"]:
            gh = hidden(h, slice(None))
            rz = sig(add(block(gx, 0, 2), block(gh, 0, 2)))
            r, z = block(rz, 0), block(rz, 1)
            n = tanh(add(block(gx, 2), mul(r, block(gh, 2))))
        else:
            rz = sig(add(block(gx, 0, 2), hidden(h, slice(0, 2 * H))))
            r, z = block(rz, 0), block(rz, 1)
            n = tanh(add(block(gx, 2), hidden(mul(r, h), slice(2 * H, 3 * H))))
        # h' = (1 - z) * n + z * h
        h_new = add(mul(body.op("Sub", [one(), z]), n), mul(z, h))
    elif cell == "lstm":
        a = add(gx, hidden(h, slice(None)))
        ai, af, ag, ao = (block(a, i) for i in range(4))
        if extra is not None:   # i, f see c; o sees c'
            ai = add(ai, mul(body.const(extra[0], "p_i"), c))
            af = add(af, mul(body.const(extra[1], "p_f"), c))
        c_new = add(mul(sig(af), c), mul(sig(ai), tanh(ag)))
        if extra is not None:
            ao = add(ao, mul(body.const(extra[2], "p_o"), c_new))
        h_new = mul(sig(ao), tanh(c_new))
        if W_hr is not None:
            # h' = (o * tanh(c')) @ W_hr.T   (N, P) = (N, H)(H, P)
            h_new = body.op("MatMul", [h_new, body.const(np.ascontiguousarray(W_hr.T),
                                                          "W_hr_t")])
    elif cell == "mgu":
        f = sig(add(block(gx, 0), hidden(h, slice(0, H))))
        n = tanh(add(block(gx, 1), hidden(mul(f, h), slice(H, 2 * H))))
        # h' = (1 - f) * h + f * n
        h_new = add(mul(body.op("Sub", [one(), f]), h), mul(f, n))
    else:   # pragma: no cover - a kind added to CELLS without an export
        raise NotImplementedError(f"no ONNX step for the {cell!r} cell")

    y = h_new
    if masked:   # past a sequence's end: keep the state, output 0
        zero = body.const(np.array(0, dt), "zero")
        y = body.op("Where", [m, h_new, zero])
        h_new = body.op("Where", [m, h_new, h])
        if two:
            c_new = body.op("Where", [m, c_new, c])
    outs = [(h_new, "h_out", P)] + ([(c_new, "c_out", H)] if two else []) + [(y, "y", P)]
    for tensor, hint, size in outs:
        body.add_output(tensor, body.fresh(hint), T, ["N", size])
    return body.graph()


def _scan_layer(g, layer, k, x, lengths, mask, h0, c0):
    """Layer k as one ``Scan`` per direction; the same results as
    ``_native_layer``.  A backward direction reads each sequence reversed
    within its length (``ReverseSequence``) and reverses its outputs back."""
    H, P, D, dt = layer.hidden_size, layer.state_size, layer.num_directions, layer.dtype
    two = layer._two_states
    outs, h_ns, c_ns = [], [], []
    zeros = {}   # size -> an (N, size) zeros tensor, built once
    for d in range(D):
        W_ih, _, b_ih, _, _, _ = _layer_params(layer, k, d)
        x_d = x
        if d:
            x_d = (g.op("ReverseSequence", [x, lengths], batch_axis=1, time_axis=0)
                   if lengths else g.op("Slice", [x, g.ints([-1]), g.ints([np.iinfo(np.int64).min]),
                                                  g.ints([0]), g.ints([-1])]))
        # gx = x @ W_ih.T + b_ih   (T, N, G*H) = (T, N, I)(I, G*H)
        gx = g.op("Add", [g.op("MatMul", [x_d, g.const(np.ascontiguousarray(W_ih.T), "W_ih_t")]),
                          g.const(b_ih, "b_ih")])

        def initial(s, name, size):
            if s is not None:
                return g.op("Gather", [s, g.ints(d)], axis=0, hint=name)
            if size not in zeros:   # (N, size) zeros
                N = g.op("Shape", [x], start=1, end=2)
                shape = g.op("Concat", [N, g.ints([size])], axis=0)
                zeros[size] = g.op("ConstantOfShape", [shape], hint="zeros",
                                   value=g.onnx.numpy_helper.from_array(np.zeros(1, dt)))
            return zeros[size]

        states = [initial(h0, "h0", P)] + ([initial(c0, "c0", H)] if two else [])
        body = _step_body(g, layer, k, d, masked=mask is not None)
        res = g.op("Scan", states + [gx] + ([mask] if mask is not None else []),
                   n_out=len(states) + 1, hint=f"scan_l{k}_d{d}", body=body,
                   num_scan_inputs=2 if mask is not None else 1)
        y = res[-1]
        if d:
            y = (g.op("ReverseSequence", [y, lengths], batch_axis=1, time_axis=0)
                 if lengths else g.op("Slice", [y, g.ints([-1]), g.ints([np.iinfo(np.int64).min]),
                                                g.ints([0]), g.ints([-1])]))
        outs.append(y)
        h_ns.append(g.op("Unsqueeze", [res[0], g.ints([0])]))
        if two:
            c_ns.append(g.op("Unsqueeze", [res[1], g.ints([0])]))
    h_n = h_ns[0] if D == 1 else g.op("Concat", h_ns, axis=0)
    c_n = (c_ns[0] if D == 1 else g.op("Concat", c_ns, axis=0)) if two else None
    return outs, h_n, c_n


def _use_native(layer, recurrent):
    native = layer._cell.name in _NATIVE_OPS
    if recurrent == "native":
        if not native:
            raise ValueError(f"ONNX has no operator for the {layer._cell.name!r} cell: "
                             "use recurrent='scan' or 'auto'")
        if layer._proj:
            raise ValueError("ONNX's LSTM operator has no projection (proj_size="
                             f"{layer.state_size}): use recurrent='scan' or 'auto'")
        return True
    if recurrent == "scan":
        return False
    # onnxruntime runs its RNN/GRU/LSTM kernels in float32 only
    return native and not layer._proj and layer.dtype == np.float32


def _recurrent(g, layer, x, lengths=None, h0=None, c0=None, recurrent="auto"):
    """A recurrent stack on x (T, N, I) time-major.

    lengths: an int64 (N,) tensor or None (every sequence runs T steps);
    h0 (L*D, N, P), c0 (L*D, N, H): tensors or None (zeros).  Returns
    (outputs (T, N, F) of the last layer merged, h_n (L*D, N, P), c_n or None).
    """
    D = layer.num_directions
    native = _use_native(layer, recurrent)
    seq_lens = g.op("Cast", [lengths], to=g.onnx.TensorProto.INT32) if (
        lengths and native) else None
    mask = None
    if lengths and not native:
        # mask[t, n] = t < lengths[n]   (T, N, 1)
        T = g.op("Shape", [x], start=0, end=1)
        steps = g.op("Range", [g.ints(0), g.op("Squeeze", [T, g.ints([0])]), g.ints(1)])
        mask = g.op("Less", [g.op("Unsqueeze", [steps, g.ints([1])]),
                             g.op("Unsqueeze", [lengths, g.ints([0])])])
        mask = g.op("Unsqueeze", [mask, g.ints([2])], hint="mask")
    h_ns, c_ns = [], []
    for k in range(layer.num_layers):
        def states(s):
            if s is None:
                return None
            return g.op("Slice", [s, g.ints([k * D]), g.ints([(k + 1) * D]), g.ints([0])])
        if native:
            outs, h_n, c_n = _native_layer(g, layer, k, x, seq_lens, states(h0), states(c0))
        else:
            outs, h_n, c_n = _scan_layer(g, layer, k, x, lengths, mask, states(h0), states(c0))
        x = outs[0] if D == 1 else _merge(g, outs, layer.merge_mode, layer.dtype)
        h_ns.append(h_n)
        c_ns.append(c_n)
    cat = lambda parts: parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=0)  # noqa: E731
    return x, cat(h_ns), (cat(c_ns) if layer._two_states else None)


def _summary(g, layer, h_n):
    """Each sequence's final state of the last layer (N, F), like
    ``SequenceNetwork._summary``: the forward direction's last step and the
    backward direction's first, merged."""
    L, D = layer.num_layers, layer.num_directions
    last = [g.op("Gather", [h_n, g.ints(L * D - D + d)], axis=0) for d in range(D)]
    return last[0] if D == 1 else _merge(g, last, layer.merge_mode, layer.dtype)


def _head(g, est, S):
    """The estimator's outputs from the head's logits, all in float64.

    Returns [(tensor, output name, element type, shape)]."""
    onnx = g.onnx
    net = est.network_
    Z = _linear(g, S, net.weight, net.bias, float64=True)
    seq = net.return_sequences
    lead = ["N", "T"] if seq else ["N"]
    f64 = _elem_type(onnx, np.float64)
    if net.loss == "softmax":
        proba = g.op("Softmax", [Z], axis=-1)
        classes = est.classes_
        if classes.dtype.kind in "iub":
            classes = classes.astype(np.int64) if classes.dtype.kind != "b" else classes
        elif classes.dtype.kind == "f":
            classes = classes.astype(np.float64)
        elif classes.dtype.kind not in "UO":
            raise NotImplementedError(f"no ONNX export of labels of dtype {classes.dtype}")
        label = g.op("Gather", [g.const(classes, "classes"),
                                g.op("ArgMax", [Z], axis=-1, keepdims=0)], axis=0)
        label_type = (onnx.TensorProto.STRING if classes.dtype.kind in "UO"
                      else _elem_type(onnx, classes.dtype))
        return [(label, "label", label_type, lead),
                (proba, "probabilities", f64, lead + [len(est.classes_)])]
    if net.loss == "squared_error":
        Y = g.op("Add", [g.op("Mul", [Z, g.const(np.asarray(est._y_scale, np.float64),
                                                 "y_scale")]),
                         g.const(np.asarray(est._y_mean, np.float64), "y_mean")])
        one_column = est._y_ndim == (2 if seq else 1)
        if one_column:
            Y = g.op("Squeeze", [Y, g.ints([-1])])
        return [(Y, "prediction", f64, lead + ([] if one_column else [est.n_outputs_]))]
    raise NotImplementedError(f"no ONNX export of a network with loss {net.loss!r}")


# ------------------------------------------------------------------ models
def _check_network(net):
    """Refuse a network with parts this exporter does not know (their
    parameters would be missing from the graph)."""
    known = (net.rnn.flat_params.size + net.weight.size + net.bias.size
             + sum(p.flat_params.size for p in net._extra_parts()))
    if net.flat_params.size != known:
        raise NotImplementedError(
            "this network has parts beyond its embedding, recurrent stack, dense "
            "layers and head that seqcore.onnx.to_onnx cannot export yet")


def _token_lengths(g, ids):
    """Each row's length and its ids, by the estimators' rule for a 2-D array
    of ids (``seqcore._data.check_tokens``): a row ends at its last nonzero
    id; a row of zeros only (an empty document) runs as one unknown token
    (id 1).  Returns (ids (N, T), lengths (N,) int64)."""
    int64 = g.onnx.TensorProto.INT64
    nonzero = g.op("Cast", [g.op("Not", [g.op("Equal", [ids, g.ints(0)])])],
                   to=g.onnx.TensorProto.INT32)
    last = g.op("ArgMax", [nonzero], axis=1, keepdims=1, select_last_index=1)   # (N, 1)
    # whether the row has a nonzero id: the entry at its last nonzero index
    # (ArgMax of a row of zeros gives T - 1, whose entry is 0)
    has = g.op("Cast", [g.op("GatherElements", [nonzero, last], axis=1)], to=int64)  # (N, 1)
    empty = g.op("Sub", [g.ints(1), has])                                         # (N, 1)
    # ids[:, 0] += empty: an empty row reads (1, 0, 0, ...)
    T = g.op("Shape", [ids], start=1, end=2)
    first = g.op("Cast", [g.op("Equal", [g.op("Range", [g.ints(0), g.op(
        "Squeeze", [T, g.ints([0])]), g.ints(1)]), g.ints(0)])], to=int64)
    ids = g.op("Add", [ids, g.op("Mul", [empty, first])], hint="ids")
    # length = last + 1, or 1 for an empty row
    lengths = g.op("Add", [g.op("Mul", [g.op("Add", [last, g.ints(1)]), has]), empty])
    return ids, g.op("Squeeze", [lengths, g.ints([1])], hint="lengths")


def _estimator_graph(g, est, scaler, lengths, recurrent):
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(est, "network_")
    if scaler is not None:
        check_is_fitted(scaler, "mean_")
    net = est.network_
    _check_network(net)
    layer, dt = net.rnn, net.rnn.dtype
    onnx = g.onnx
    if net.embedding is not None:
        # token ids (N, T) -> their vectors, time-major (T, N, E)
        ids = g.add_input("ids", onnx.TensorProto.INT64, ["N", "T"])
        if lengths:
            L = g.add_input("lengths", onnx.TensorProto.INT64, ["N"])
        else:
            ids, L = _token_lengths(g, ids)
        x = _embedding(g, g.op("Transpose", [ids], perm=[1, 0]), net.embedding)
        table = False
    else:
        table = getattr(est, "_input_mode", SEQUENCES) != SEQUENCES
        # a model fit on a 2-D table reads univariate sequences of n_features_in_ steps
        shape = ["N", est.n_features_in_] if table else ["N", "T", est.n_features_in_]
        X = g.add_input("X", _elem_type(onnx, dt), shape)
        if table:
            X = g.op("Unsqueeze", [X, g.ints([2])])
        L = g.add_input("lengths", onnx.TensorProto.INT64, ["N"]) if lengths else None
        if scaler is not None:
            X = _scaler(g, X, scaler, dt)
        x = g.op("Transpose", [X], perm=[1, 0, 2], hint="time_major")
    Y, h_n, _ = _recurrent(g, layer, x, L, recurrent=recurrent)
    # With return_sequences the dense layers and the head read the steps
    # time-major, (T, N, F), and only their outputs turn batch-first.  A
    # Transpose feeding the head's Cast to float64 and its MatMul crashes
    # onnxruntime (>= 1.24, x86-64) under its default optimisation level:
    # MatmulTransposeFusion swaps the Transpose and the Cast and leaves the new
    # Cast without its operator schema, which NchwcTransformer then reads
    # (onnxruntime issue 28392).  No Transpose before a MatMul, no crash.
    S = Y if net.return_sequences else _summary(g, layer, h_n)
    for dense in net.dense:   # in the model's dtype, as seqcore computes them
        S = _linear(g, S, dense.params["weight"],
                    dense.params["bias"] if dense.bias else None, dense.activation)
    for tensor, name, elem, shape in _head(g, est, S):
        if net.return_sequences:
            # (T, N, ...) -> (N, T, ...)
            tensor = g.op("Transpose", [tensor], perm=[1, 0] + list(range(2, len(shape))),
                          hint="batch_first")
            if table:
                shape = ["N", est.n_features_in_] + shape[2:]
        g.add_output(tensor, name, elem, shape)


def _layer_graph(g, layer, lengths, initial_state, recurrent):
    onnx = g.onnx
    elem = _elem_type(onnx, layer.dtype)
    if isinstance(layer, _RNNBase):
        LD, H, P = layer.num_layers * layer.num_directions, layer.hidden_size, layer.state_size
        X = g.add_input("X", elem, ["N", "T", layer.input_size])
        L = g.add_input("lengths", onnx.TensorProto.INT64, ["N"]) if lengths else None
        h0 = c0 = None
        if initial_state:
            h0 = g.add_input("h_0", elem, [LD, "N", P])
            if layer._two_states:
                c0 = g.add_input("c_0", elem, [LD, "N", H])
        x = g.op("Transpose", [X], perm=[1, 0, 2], hint="time_major")
        Y, h_n, c_n = _recurrent(g, layer, x, L, h0, c0, recurrent)
        g.add_output(g.op("Transpose", [Y], perm=[1, 0, 2]), "outputs", elem,
                     ["N", "T", layer.output_size])
        g.add_output(h_n, "h_n", elem, [LD, "N", P])
        if c_n is not None:
            g.add_output(c_n, "c_n", elem, [LD, "N", H])
    elif isinstance(layer, Embedding):
        ids = g.add_input("ids", onnx.TensorProto.INT64, ["N", "T"])
        g.add_output(_embedding(g, ids, layer), "outputs", elem,
                     ["N", "T", layer.embedding_dim])
    elif isinstance(layer, Linear):
        X = g.add_input("X", elem, ["N", layer.in_features])
        Y = _linear(g, X, layer.params["weight"],
                    layer.params["bias"] if layer.bias else None, layer.activation)
        g.add_output(Y, "outputs", elem, ["N", layer.out_features])


def _unwrap(model):
    """(estimator, scaler or None) of what to_onnx was given; TypeError for
    anything else."""
    from sklearn.pipeline import Pipeline

    from ._estimators import RNNClassifier, RNNRegressor
    from .preprocessing import SequenceScaler

    what = ("a fitted RNNClassifier or RNNRegressor, a Pipeline of a SequenceScaler "
            "and one of them, or a seqcore.nn layer (RNN, GRU, LSTM, MGU, Embedding, Linear)")
    if isinstance(model, Pipeline):
        steps = [s for _, s in model.steps if s not in (None, "passthrough")]
        if (len(steps) == 2 and isinstance(steps[0], SequenceScaler)
                and isinstance(steps[1], (RNNClassifier, RNNRegressor))):
            return steps[1], steps[0]
        if len(steps) == 1 and isinstance(steps[0], (RNNClassifier, RNNRegressor)):
            return steps[0], None
        hint = ""
        if any(type(s).__name__ == "SequenceTokenizer" for s in steps):
            hint = ("; a tokenizer works on strings, which the graph cannot: export the "
                    "estimator (pipeline[-1]) and feed it the ids of pipeline[:-1].transform")
        raise TypeError(f"to_onnx exports {what}; got a Pipeline of "
                        f"{[type(s).__name__ for s in steps]}{hint}")
    if isinstance(model, (RNNClassifier, RNNRegressor)):
        return model, None
    raise TypeError(f"to_onnx exports {what}; got {type(model).__name__}")


def to_onnx(model, *, lengths=False, initial_state=False, recurrent="auto",
            target_opset=DEFAULT_OPSET, name=None):
    """Export a fitted estimator or a ``seqcore.nn`` layer as an ONNX model.

    The graph computes what seqcore computes at inference: onnxruntime's
    results agree with seqcore's to about 1e-6 in float32 and 1e-12 in
    float64 (tested to 1e-5 and 1e-10).

    Parameters
    ----------
    model : estimator, Pipeline or layer
        A fitted ``RNNClassifier`` or ``RNNRegressor``; a ``Pipeline`` of a
        fitted ``seqcore.preprocessing.SequenceScaler`` and one of them; or
        a ``seqcore.nn`` layer: ``RNN``, ``GRU``, ``LSTM``, ``MGU``,
        ``Embedding``, ``Linear``.
    lengths : bool, default=False
        Add an int64 input ``lengths`` of shape (N,): the length of each
        sequence of a padded batch (see ``seqcore.preprocessing.pad_sequences``),
        as the lists of different-length sequences seqcore takes (each at
        least 1).  Without it every sequence runs all T steps, except for an
        estimator with ``embedding_dim``: its graph reads each row's length
        by the estimator's rule for token ids (``RNNClassifier``'s
        ``embedding_dim``): a row ends at its last nonzero id, and a row of
        padding only (an empty document) runs as one unknown token (id 1).
    initial_state : bool, default=False
        For a recurrent layer: add the inputs ``h_0`` of shape (L*D, N, P)
        (and ``c_0``, (L*D, N, H), for the LSTM); zeros without them.  P is
        the LSTM's ``proj_size`` when it has one, else H.
    recurrent : {'auto', 'native', 'scan'}, default='auto'
        How a recurrent layer is written.  'native': ONNX's ``RNN``, ``GRU``
        and ``LSTM`` operators (no MGU, no LSTM with ``proj_size``: ONNX's
        LSTM has no projection; onnxruntime runs them in float32 only).
        'scan': a ``Scan`` over the steps whose body is the cell's step,
        with the projection's product for an LSTM with ``proj_size`` (every
        kind, every dtype).  'auto': native for float32 RNN, GRU and LSTM
        layers without ``proj_size``, else scan.
    target_opset : int, default=17
        The ONNX operator set (at least 15).
    name : str, optional
        The graph's name (default: the model's class name).

    Returns
    -------
    onnx.ModelProto
        Inputs and outputs, batch first (N samples, T steps):

        * estimators: ``X`` (N, T, n_features) in the model's dtype, or
          (N, ``n_features_in_``) for a model fit on a 2-D array, or with
          ``embedding_dim`` ``ids`` (N, T) int64 token ids padded with 0
          (``seqcore.preprocessing.pad_tokens``; an id outside [0,
          ``vocab_size_``), negative ones included, fails the run with
          onnxruntime's "out of data bounds" error, as seqcore refuses it; a
          0 before a row's last token, which seqcore refuses, reads as the
          padding vector), [``lengths``]; dense layers (``dense_layers``) run between
          the recurrent stack and the head;
          a classifier outputs ``label`` (N,) and ``probabilities``
          (N, n_classes), a regressor ``prediction`` (N,) or (N, n_outputs),
          both float64 as seqcore's; with ``return_sequences`` one per step,
          (N, T, ...), padded steps holding values of no meaning.
        * recurrent layers: ``X`` (N, T, I) [``lengths``] [``h_0``, ``c_0``]
          -> ``outputs`` (N, T, D*P or P), ``h_n`` (L*D, N, P)
          [``c_n`` (L*D, N, H)].
        * ``Embedding``: ``ids`` (N, T) int64 -> ``outputs`` (N, T, E); an
          id outside [0, num_embeddings) fails the run.
        * ``Linear``: ``X`` (N, in_features) -> ``outputs`` (N, out_features).

    Raises
    ------
    ImportError
        Without the ``onnx`` package.
    TypeError
        For a model of another kind.
    ValueError
        For a bad option, or ``recurrent='native'`` on a layer that ONNX's
        operators cannot express (an MGU, an LSTM with ``proj_size``).
    sklearn.exceptions.NotFittedError
        For an estimator that is not fitted.
    NotImplementedError
        For parts with no export yet (an estimator's network with parts
        beyond its embedding, recurrent stack, dense layers and head).

    Examples
    --------
    >>> import numpy as np
    >>> from seqcore.nn import GRU
    >>> from seqcore.onnx import to_onnx
    >>> layer = GRU(3, 8, bidirectional=True, random_state=0)
    >>> model = to_onnx(layer, lengths=True)
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['X', 'lengths'], ['outputs', 'h_n'])
    """
    if recurrent not in _RECURRENT:
        raise ValueError(f"recurrent must be one of {_RECURRENT}, got {recurrent!r}")
    for flag, label in ((lengths, "lengths"), (initial_state, "initial_state")):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{label} must be a bool, got {flag!r}")
    if (isinstance(target_opset, (bool, np.bool_)) or not isinstance(target_opset, int)
            or target_opset < MIN_OPSET):
        raise ValueError(f"target_opset must be an int >= {MIN_OPSET}, got {target_opset!r}")
    layer = isinstance(model, (_RNNBase, Embedding, Linear))
    if not layer:
        est, scaler = _unwrap(model)
    if initial_state and not isinstance(model, _RNNBase):
        raise ValueError("initial_state=True applies to recurrent layers only")
    if lengths and isinstance(model, (Embedding, Linear)):
        raise ValueError("lengths=True applies to recurrent layers and estimators only")
    onnx = _require_onnx()
    if target_opset > onnx.defs.onnx_opset_version():
        raise ValueError(f"target_opset={target_opset} is newer than this onnx package "
                         f"knows ({onnx.defs.onnx_opset_version()})")
    g = _Graph(onnx, name=name or type(model).__name__)
    if layer:
        _layer_graph(g, model, bool(lengths), bool(initial_state), recurrent)
    else:
        _estimator_graph(g, est, scaler, bool(lengths), recurrent)
    from . import __version__
    proto = onnx.helper.make_model(
        g.graph(), producer_name="seqcore", producer_version=__version__,
        opset_imports=[onnx.helper.make_opsetid("", target_opset)],
        doc_string=f"{type(model).__name__} exported by seqcore.onnx.to_onnx")
    # the oldest IR version that the operator set allows: older runtimes load it
    proto.ir_version = 8 if target_opset <= 17 else proto.ir_version
    onnx.checker.check_model(proto)
    return proto

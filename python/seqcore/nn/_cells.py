"""What a cell kind is: one descriptor per kind, read by everything else.

Design: a cell kind is its equations (the two step kernels in
``src/seqcore/_cells.pyx``, forward and backward) and this descriptor, which
says everything the rest of seqcore needs to know about it: its gates and
their activations, the states it carries, the per-step value its backward
needs, how its biases fold, which gate blocks read the gated state, its
options and its extra parameters.  The time-loop driver
(``_recurrent.pyx``), the layers and the network (``nn``), the estimators,
the forecaster, the CLI and the tests' reference all read this table and
never branch on a kind themselves.

Adding a kind: a ``Cell`` entry here, its two kernels (and their row in the
kernel table) in ``_cells.pyx``, a layer class in ``_layers.py``, a step in
the tests' NumPy reference.

Vocabulary (shape letters as everywhere: B batch, H hidden, G gates):

* ``states``: ('h',) or ('h', 'c'): what a step carries to the next.
* ``aux``: the kernel saves one (B, H) value per step for its backward (the
  GRU's ``W_hn h + b_hn`` or ``r * h``, the LSTM's ``tanh(c)``, the MGU's
  ``f * h``).
* ``gated_blocks``: the last gate blocks whose hidden product reads the
  gated state ``gate * h`` (the GRU with reset_before, the MGU) rather than
  ``h``; their weight gradient reads ``aux``, which then holds it.
* ``separate_bias``: the gate block whose ``b_hh`` stays inside the gate's
  own product (the GRU with reset_after: ``r * (W_hn h + b_hn)``), so it
  cannot fold into ``b_ih + b_hh``; its hidden side sees another gradient
  than the input side (``hidden_grad``).
* ``flags``: bits the kernels read for their own options.
"""

from dataclasses import dataclass, field

SIGMOID, TANH = "sigmoid", "tanh"


@dataclass(frozen=True)
class Layout:
    """A kind with its options resolved: what the driver and layers need."""

    G: int
    n_states: int
    aux: bool
    gated_blocks: int
    separate_bias: int      # gate block index, or -1
    flags: int
    extra_params: tuple     # ((name, rows), ...): extra (rows, H) weights per scan

    @property
    def hidden_grad(self):
        """The hidden side sees another gate gradient than the input side."""
        return self.separate_bias >= 0


@dataclass(frozen=True)
class Cell:
    """One cell kind.  ``options`` maps each option to (default, allowed
    values); ``variants`` names the option sets the tests run."""

    name: str
    code: int               # the row of its kernels in _cells.pyx's table
    layer: str              # its class in seqcore.nn
    gates: tuple
    activations: tuple      # one per gate; 'act' for the RNN's option
    states: tuple
    options: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)
    equations: str = ""

    def check_options(self, options):
        """Options with defaults filled in; unknown or bad values raise."""
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"the {self.name} cell takes no option {sorted(unknown)}; its "
                            f"options are {sorted(self.options)}")
        out = {}
        for name, (default, allowed) in self.options.items():
            value = options.get(name, default)
            if allowed is bool:
                if not isinstance(value, bool) and type(value).__name__ != "bool_":
                    raise TypeError(f"{name} must be a bool, got {value!r}")
                value = bool(value)
            elif value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
            out[name] = value
        return out

    def layout(self, options):
        """The resolved ``Layout`` for checked options (see check_options)."""
        return _LAYOUTS[self.name](options)


CELLS = {
    "rnn": Cell(
        "rnn", 0, "RNN", gates=("h",), activations=("act",), states=("h",),
        options={"nonlinearity": ("tanh", ("tanh", "relu"))},
        variants={"rnn_tanh": {"nonlinearity": "tanh"}, "rnn_relu": {"nonlinearity": "relu"}},
        equations="h' = act(W_ih x + b_ih + W_hh h + b_hh)"),
    "gru": Cell(
        "gru", 1, "GRU", gates=("r", "z", "n"), activations=(SIGMOID, SIGMOID, TANH),
        states=("h",), options={"reset_after": (True, bool)},
        variants={"gru": {"reset_after": True}, "gru_reset_before": {"reset_after": False}},
        equations="n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) n + z h"),
    "lstm": Cell(
        "lstm", 2, "LSTM", gates=("i", "f", "g", "o"),
        activations=(SIGMOID, SIGMOID, TANH, SIGMOID), states=("h", "c"),
        options={"peephole": (False, bool)},
        variants={"lstm": {"peephole": False}, "lstm_peephole": {"peephole": True}},
        equations="c' = f c + i g; h' = o tanh(c')"),
    "mgu": Cell(
        "mgu", 3, "MGU", gates=("f", "n"), activations=(SIGMOID, TANH), states=("h",),
        variants={"mgu": {}},
        equations="n = tanh(W_in x + b_in + W_hn (f * h) + b_hn); h' = (1 - f) h + f n"),
}

_LAYOUTS = {
    # flags bit 0: relu
    "rnn": lambda o: Layout(1, 1, False, 0, -1, int(o["nonlinearity"] == "relu"), ()),
    # flags bit 0: reset_after.  After: b_hn stays inside r * (...); before:
    # the n block reads r * h.
    "gru": lambda o: (Layout(3, 1, True, 0, 2, 1, ()) if o["reset_after"]
                      else Layout(3, 1, True, 1, -1, 0, ())),
    # flags bit 0: peephole, with rows (p_i, p_f, p_o)
    "lstm": lambda o: Layout(4, 2, True, 0, -1, int(o["peephole"]),
                             (("weight_peep", 3),) if o["peephole"] else ()),
    # the n block reads f * h
    "mgu": lambda o: Layout(2, 1, True, 1, -1, 0, ()),
}


def get_cell(name):
    """The descriptor of a kind by name, or a ValueError listing the kinds."""
    try:
        return CELLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"cell must be one of {tuple(CELLS)}, got {name!r}") from None


def all_options():
    """Every option of every kind, with its default: what the estimators expose."""
    return {name: spec for cell in CELLS.values() for name, spec in cell.options.items()}

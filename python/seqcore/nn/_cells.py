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
* ``proj_size`` (an option of kinds whose kernels allow it, ``proj_ok``):
  the state h is ``W_hr (o * tanh(c))`` of size P < H, PyTorch's LSTM
  projections; the driver does the projection, not the kernels.
"""

from dataclasses import dataclass, field

from numbers import Integral

import numpy as np

from .. import _cells

SIGMOID, TANH = "sigmoid", "tanh"


@dataclass(frozen=True)
class Layout:
    """A kind with its options resolved: what the driver and the layers need.

    ``flags`` comes from the descriptor; the rest is what the kind's kernels
    say they need (``seqcore._cells.layout``), read, never restated.
    """

    code: int
    flags: int
    G: int
    n_states: int
    aux: bool
    gated_blocks: int
    separate_bias: int      # gate block index, or -1
    extra_rows: int         # rows of the extra (rows, H) weights, 0 for none
    extra_name: str         # their parameter name prefix
    proj_ok: bool           # h may be projected (the LSTM's proj_size)

    @property
    def hidden_grad(self):
        """The hidden side sees another gate gradient than the input side."""
        return self.separate_bias >= 0


@dataclass(frozen=True)
class Cell:
    """One cell kind.

    ``options`` maps each option to (default, allowed values or ``bool``);
    ``flag_bits`` maps a bit of the kernels' ``flags`` to the (option, value)
    that sets it; ``variants`` names the option sets the tests run;
    ``extra_name`` names the kernels' extra weights, if any.
    """

    name: str
    code: int               # the kind's value in src/seqcore/_cells.pxd
    layer: str              # its class in seqcore.nn
    gates: tuple
    activations: tuple      # one per gate; 'act' for the RNN's option
    states: tuple
    options: dict = field(default_factory=dict)
    flag_bits: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)
    extra_name: str = ""
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
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{name} must be a bool, got {value!r}")
                value = bool(value)
            elif allowed is int:
                if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) \
                        or value < 0:
                    raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
                value = int(value)
            elif value not in allowed:
                raise ValueError(f"{name} must be " + " or ".join(map(repr, allowed))
                                 + f", got {value!r}")
            out[name] = value
        return out

    def layout(self, options):
        """The resolved ``Layout`` for checked options (see check_options)."""
        flags = sum(bit for bit, (name, value) in self.flag_bits.items()
                    if options[name] == value)
        need = _cells.layout(self.code, flags)
        return Layout(code=self.code, flags=flags, extra_name=self.extra_name, **need)


CELLS = {
    "rnn": Cell(
        "rnn", 0, "RNN", gates=("h",), activations=("act",), states=("h",),
        options={"nonlinearity": ("tanh", ("tanh", "relu"))},
        flag_bits={1: ("nonlinearity", "relu")},
        variants={"rnn_tanh": {"nonlinearity": "tanh"}, "rnn_relu": {"nonlinearity": "relu"}},
        equations="h' = act(W_ih x + b_ih + W_hh h + b_hh)"),
    "gru": Cell(
        "gru", 1, "GRU", gates=("r", "z", "n"), activations=(SIGMOID, SIGMOID, TANH),
        states=("h",), options={"reset_after": (True, bool)},
        flag_bits={1: ("reset_after", True)},
        variants={"gru": {"reset_after": True}, "gru_reset_before": {"reset_after": False}},
        equations="n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) n + z h"),
    "lstm": Cell(
        "lstm", 2, "LSTM", gates=("i", "f", "g", "o"),
        activations=(SIGMOID, SIGMOID, TANH, SIGMOID), states=("h", "c"),
        options={"peephole": (False, bool), "proj_size": (0, int)},
        flag_bits={1: ("peephole", True)},
        variants={"lstm": {"peephole": False}, "lstm_peephole": {"peephole": True},
                  "lstm_proj": {"proj_size": 2}, "lstm_peephole_proj": {"peephole": True,
                                                                         "proj_size": 2}},
        extra_name="weight_peep",
        equations="c' = f c + i g; h' = o tanh(c')"),
    "mgu": Cell(
        "mgu", 3, "MGU", gates=("f", "n"), activations=(SIGMOID, TANH), states=("h",),
        variants={"mgu": {}},
        equations="n = tanh(W_in x + b_in + W_hn (f * h) + b_hn); h' = (1 - f) h + f n"),
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

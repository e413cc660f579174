"""Shared helpers for the seqcore.nn tests: variants, layers, data, errors."""

import numpy as np
import pytest

import seqcore.nn
from seqcore.nn import CELLS

from reference import CellSpec, ReferenceStack

# Every cell and variant, from the descriptor table, by a readable id:
# (layer class, constructor kwargs, reference spec).  A kind added to
# seqcore.nn.CELLS runs every test parametrized over VARIANTS (and fails
# where the reference lacks it).
VARIANTS = {
    vid: (getattr(seqcore.nn, cell.layer), dict(opts), CellSpec(cell.name, **opts))
    for cell in CELLS.values() for vid, opts in cell.variants.items()
}
VARIANT_IDS = list(VARIANTS)
DTYPES = [pytest.param(np.float64, id="float64"), pytest.param(np.float32, id="float32")]


def variant_kwargs(variant, hidden_size):
    """The variant's options for a layer of hidden_size H: a projection must
    be smaller than H, so it shrinks to the largest one H allows (none for
    H = 1)."""
    kwargs = VARIANTS[variant][1]
    if kwargs.get("proj_size", 0) >= hidden_size:
        kwargs = {**kwargs, "proj_size": hidden_size - 1}
    return kwargs


def make_layer(variant, input_size, hidden_size, num_layers=1, bidirectional=False,
               dtype=np.float64, random_state=0, **extra):
    cls = VARIANTS[variant][0]
    kwargs = variant_kwargs(variant, hidden_size)
    return cls(input_size, hidden_size, num_layers, bidirectional=bidirectional,
               dtype=dtype, random_state=random_state, **kwargs, **extra)


def make_reference(variant, layer):
    """The NumPy reference with the layer's own (dtype-rounded) parameters."""
    spec = VARIANTS[variant][2]
    if spec.proj_size and spec.proj_size != getattr(layer, "proj_size", 0):
        spec = CellSpec(spec.kind, **{**spec.options, "proj_size": layer.proj_size})
    return ReferenceStack(spec, layer.state_dict(),
                          num_layers=layer.num_layers, bidirectional=layer.bidirectional)


def is_lstm(layer):
    """A layer whose state is the pair (h, c)."""
    return layer._two_states


def state_shape(layer, batch, part="h"):
    """The shape of h (whose size is P: H, or the projection's) or of c (H)."""
    size = layer.state_size if part == "h" else layer.hidden_size
    return (layer.num_layers * layer.num_directions, batch, size)


def random_state_like(rng, layer, batch, scale=0.5):
    """A random state of the layer's structure: an array, or (h, c) for the LSTM."""
    h = scale * rng.standard_normal(state_shape(layer, batch))
    if is_lstm(layer):
        return (h, scale * rng.standard_normal(state_shape(layer, batch, "c")))
    return h


def random_lengths(rng, batch, T):
    """Unsorted lengths in [1, T] with a 1, a T and, when possible, a tie."""
    lengths = rng.integers(1, T + 1, size=batch)
    lengths[0] = T
    if batch > 1:
        lengths[1] = 1
    if batch > 3:
        lengths[3] = lengths[2]
    return rng.permutation(lengths)


def pad_with(X, lengths, value_fn):
    """Overwrite the padding of X (t >= lengths[b]) with value_fn(shape)."""
    X = X.copy()
    for b, n in enumerate(lengths):
        X[b, n:] = value_fn(X[b, n:].shape)
    return X


def cast_state(state, dtype):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(np.asarray(s, dtype=dtype) for s in state)
    return np.asarray(state, dtype=dtype)


def flat_state(state):
    """A state or state gradient as a tuple of arrays (one for RNN/GRU, two for LSTM)."""
    return tuple(state) if isinstance(state, tuple) else (state,)


def rel_err(actual, expected):
    """max |actual - expected| / max(1, max |expected|), computed in float64.

    Relative to the array's scale when that exceeds 1, absolute below: the
    "relative-ish" error every comparison of the suite uses.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, (a.shape, e.shape)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - e)) / max(1.0, float(np.max(np.abs(e)))))


TOL = {np.float64: 1e-10, np.float32: 1e-5}


def run_both(layer, ref, X, lengths, init, d_out, d_state):
    """Forward and backward through seqcore and the reference.

    Returns two dicts name -> array with outputs, final states, d_X, initial
    state gradients and every parameter gradient ("grad:<name>").
    """
    results = []
    for impl in (layer, ref):
        out, state = impl.forward(X, lengths=lengths, initial_state=init)
        dX, d_init = impl.backward(d_out, d_state)
        r = {"outputs": out, "d_X": dX}
        for name, s in zip(("h_n", "c_n"), flat_state(state)):
            r[name] = s
        for name, s in zip(("d_h0", "d_c0"), flat_state(d_init)):
            r[name] = s
        for name, g in impl.grads.items():
            r["grad:" + name] = np.array(g)   # a copy: layer.grads is reused
        results.append(r)
    return results


def subprocess_env():
    """The environment for a child interpreter that must import this seqcore.

    The package the tests import is the one the child must see: put its parent
    folder first on PYTHONPATH (a build in place under ``python/``, or the
    installed package in site-packages, where this is harmless).
    """
    import os

    import seqcore

    env = os.environ.copy()
    parent = os.path.dirname(os.path.dirname(os.path.abspath(seqcore.__file__)))
    env["PYTHONPATH"] = parent + os.pathsep + env.get("PYTHONPATH", "")
    return env


def public_objects():
    """Every object in the ``__all__`` of seqcore and of its public modules
    (module paths without a leading underscore, the integrations included),
    as {qualified name: object}.  Found from the package, so that tests that
    say "every" cover a new public name without anyone adding it; a module
    whose optional framework is missing (it raises ImportError saying so) is
    left out."""
    import importlib
    import pkgutil

    import seqcore

    modules = [seqcore]
    for info in pkgutil.walk_packages(seqcore.__path__, "seqcore."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError as exc:
            if isinstance(exc, ModuleNotFoundError) and exc.name \
                    and exc.name.split(".")[0] == "seqcore":
                raise
    found = {}
    for module in modules:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            found[f"{getattr(obj, '__module__', module.__name__)}."
                  f"{getattr(obj, '__qualname__', name)}"] = obj
    return found

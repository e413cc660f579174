"""The base of every network a seqcore estimator trains.

Design: a network (``SequenceNetwork``, ``Seq2Seq``, ``LanguageNetwork``)
is a few layers whose parameters and gradients are views of ONE flat
parameter buffer and ONE flat gradient buffer, so that clipping is one norm
and an optimizer step one loop.  ``FlatModel`` does what every such network
needs, once:

* ``_allocate(n)``: the memory check (sizes before allocation), the two
  buffers, the locks, and the binding of the parts to slices of them;
* ``param_lock``: held by whoever writes the parameters (the optimizer
  step); inference reads a ``snapshot`` taken under it;
* pickling: the locks and the view attributes are dropped, and on loading
  the parts are bound to the (copied, writeable) buffers again;
* ``release_buffers``: drop what the parts keep between a training forward
  and its backward.

A subclass lists its parts in ``PARTS`` (attribute names, bound in that
order), or overrides ``_bind_parts`` for a layout of its own.
"""

import threading

import numpy as np

from ._base import check_memory


class FlatModel:
    """Layers bound to one flat parameter buffer and one flat gradient buffer."""

    PARTS = ()             # attribute names of the parts, in buffer order
    _VIEW_ATTRS = ()       # attributes that are views of the buffers (rebound on load)

    def _parts(self):
        """The layers bound to the buffers (for unpickling and releasing)."""
        return [getattr(self, name) for name in self.PARTS]

    def _allocate(self, n, what, copies=2):
        """Check the memory of ``copies`` buffers of n parameters, allocate the
        two buffers and the locks, and bind the parts (copying their values)."""
        n = int(n)
        check_memory(copies * n * np.dtype(self.dtype).itemsize,
                     f"{what} with {n} parameters ({copies} copies of them for training)")
        self._train_lock = threading.Lock()
        self.param_lock = threading.Lock()
        self.flat_params = np.zeros(n, self.dtype)
        self.flat_grads = np.zeros_like(self.flat_params)
        self._bind_parts()

    def _slices(self):
        """name -> slice of the buffers, for the parts of ``PARTS``."""
        out, start = {}, 0
        for name in self.PARTS:
            stop = start + getattr(self, name)._param_count()
            out[name] = slice(start, stop)
            start = stop
        return out

    def _bind_parts(self):
        """Bind every part to its slice of the flat buffers (copying its values)."""
        for name, sl in self._slices().items():
            getattr(self, name)._bind(self.flat_params[sl], self.flat_grads[sl])

    @property
    def params(self):
        """Named views of every parameter, ``"<part>.<name>"``."""
        return {f"{p}.{k}": v for p in self.PARTS for k, v in getattr(self, p).params.items()}

    @property
    def grads(self):
        return {f"{p}.{k}": v for p in self.PARTS for k, v in getattr(self, p).grads.items()}

    def snapshot(self):
        """A copy of the flat parameters, taken while no optimizer step runs."""
        with self.param_lock:
            return self.flat_params.copy()

    def _snapshot_views(self):
        """name -> the part's named views of one snapshot."""
        flat = self.snapshot()
        return {p: getattr(self, p)._views(flat[sl]) for p, sl in self._slices().items()}

    def release_buffers(self):
        """Drop the tapes the parts keep between a training forward and backward."""
        for part in self._parts():
            part.release_buffers()

    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_train_lock", "param_lock") + tuple(self._VIEW_ATTRS):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        # views pickle as copies: bind the parts to the model's buffers again
        self.__dict__.update(state)
        self._train_lock = threading.Lock()
        self.param_lock = threading.Lock()
        for name in ("flat_params", "flat_grads"):   # joblib's mmap_mode='r'
            if not getattr(self, name).flags.writeable:
                setattr(self, name, getattr(self, name).copy())
        for part in self._parts():
            part._flat_params = None   # the values are those of the flat buffer
        saved = self.flat_params.copy()
        self._bind_parts()
        self.flat_params[:] = saved

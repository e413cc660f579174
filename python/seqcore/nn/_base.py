"""The layer protocol: what every ``seqcore.nn`` layer shares.

Design (after scikit-learn's ``_forward_pass_fast``, which writes nothing
shared):

* **Parameters** live in one flat buffer per layer, exposed as named views
  (``params``), the gradients likewise (``grads``).  A model made of several
  layers binds each to a slice of its own buffers (``_bind``), so the whole
  model has one of each: clipping is one norm, an optimizer step one loop.
* **Inference reads the parameters and nothing else that another call
  writes.**  ``forward(..., training=False)`` allocates its own buffers,
  draws no dropout and leaves no trace on the layer, so any number of
  threads may predict while one trains.  The mode is an argument of the
  call; ``train()``/``eval()`` only set the default that ``forward`` reads
  once, when the call starts.
* **Training state belongs to one call at a time.**  A training forward
  records a tape (what ``backward`` needs) owned by the calling thread; the
  training calls of one layer (forward and backward) hold the layer's
  training lock for their duration, and a second thread that tries to train
  the same layer meanwhile gets a ``RuntimeError`` at once.  ``backward``
  refuses a tape that another thread recorded.  Nothing mixes silently.
* **Sizes first.**  Parameter and buffer sizes are computed before anything
  is allocated; a request larger than the memory the machine has free is
  refused with a ``MemoryError`` that names the sizes (``check_memory``).
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _blas
from .._validation import as_float_array

# Parameters are drawn in blocks of this many values: the float64 draws of
# NumPy's generator never make a temporary of the parameters' size (the
# stream of values is the same as one draw of all of them).
_DRAW_BLOCK = 1 << 20


def available_memory():
    """Bytes of memory free for a new allocation (Linux's MemAvailable, else
    the physical memory, else None when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import os
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(n_bytes, what):
    """Refuse with a MemoryError, before allocating, a request of ``n_bytes``
    that cannot fit in the memory the machine has free."""
    free = available_memory()
    if free is not None and n_bytes > free:
        raise MemoryError(f"{what} needs {n_bytes / 2**30:.3g} GiB ({n_bytes} bytes), "
                          f"more than the {free / 2**30:.3g} GiB of memory available")


def fill_uniform(rng, out, low, high):
    """out[:] = rng.uniform(low, high, out.size), in blocks (no float64 temporary
    of out's size; the values are those of one draw)."""
    flat = out.reshape(-1)
    for i in range(0, flat.size, _DRAW_BLOCK):
        block = flat[i:i + _DRAW_BLOCK]
        block[:] = rng.uniform(low, high, block.size)


# One pool of worker threads for every layer that shares out its work (the
# recurrent scans, the dense products, the decoder): the workers never wait
# on each other, so calls from any number of threads cannot deadlock.
_executor = None
_executor_lock = threading.Lock()


def _reset_executor():
    global _executor
    _executor = None   # a forked child has no worker threads


os.register_at_fork(after_in_child=_reset_executor)


def _in_parallel(fn, n, parallel=True):
    """[fn(0), ..., fn(n-1)]: fn(0) on the calling thread, the others on
    worker threads when ``parallel``."""
    global _executor
    if n == 1 or not parallel or _blas.pool_backing_off():
        # the core's pool found a worker without a core lately: the machine
        # is busy, and waiting on a thread would cost more than it saves
        return [fn(i) for i in range(n)]
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1),
                                           thread_name_prefix="seqcore")
        others = [_executor.submit(fn, i) for i in range(1, n)]
    first = fn(0)
    return [first] + [f.result() for f in others]



class _Tape:
    """What ``backward`` needs from one training forward, and who recorded it."""

    __slots__ = ("thread", "data")

    def __init__(self, data):
        self.thread = threading.get_ident()
        self.data = data


class Layer:
    """Base of every ``seqcore.nn`` layer: parameters, modes, the training lock.

    Subclasses define ``_param_count()`` (an int, computed without building
    anything), ``_param_shapes()`` (name, shape) pairs in buffer order, and
    ``reset_parameters()``; they call ``_init_params(dtype)`` in
    ``__init__``, wrap their training calls in ``with self._training_call():``
    and keep what backward needs with ``_record``/``_recorded``.
    """

    training = True

    # ----------------------------------------------------------- parameters
    def _init_params(self, dtype):
        n = self._param_count()
        itemsize = np.dtype(dtype).itemsize
        # parameters and gradients, checked before building the shape list
        check_memory(2 * n * itemsize, f"{type(self).__name__} with {n} parameters")
        self._train_lock = threading.Lock()
        self._tape = None
        self._flat_params = None
        self._bind(np.zeros(n, dtype), np.zeros(n, dtype))

    @property
    def flat_params(self):
        """All parameters in one contiguous 1-D buffer (``params`` are views of it)."""
        return self._flat_params

    @property
    def flat_grads(self):
        """All gradients in one contiguous 1-D buffer (``grads`` are views of it)."""
        return self._flat_grads

    def _views(self, flat):
        """Named views of a flat buffer laid out like the parameters."""
        out, start = {}, 0
        for name, shape in self._param_shapes():
            stop = start + int(np.prod(shape))
            out[name] = flat[start:stop].reshape(shape)
            start = stop
        return out

    def _bind(self, flat_params, flat_grads):
        """Keep parameters and gradients in the given 1-D buffers, as named views.

        A model made of several parts binds each part to a slice of its own
        buffers, so the whole model has one of each.  The current values are
        copied over.
        """
        if self._flat_params is not None:
            flat_params[:] = self._flat_params
        self._flat_params, self._flat_grads = flat_params, flat_grads
        self.params, self.grads = self._views(flat_params), self._views(flat_grads)

    def state_dict(self):
        """Copies of the parameters, by name."""
        return {name: v.copy() for name, v in self.params.items()}

    def load_state_dict(self, state_dict):
        """Load parameters by name (NumPy arrays, or CPU tensors of any framework).

        Every entry is checked before anything changes.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError("state_dict must be a mapping of parameter names to arrays, got "
                            f"{type(state_dict).__name__}")
        expected, given = set(self.params), set(state_dict)
        if given != expected:
            raise ValueError(
                f"state_dict does not match this layer: missing keys "
                f"{sorted(expected - given)}, unexpected keys {sorted(given - expected)}")
        loaded = {}
        for name, value in state_dict.items():
            if hasattr(value, "detach"):  # a torch tensor, without importing torch
                value = value.detach().cpu().numpy()
            arr = as_float_array(value, self._flat_params.dtype, name)
            if arr.shape != self.params[name].shape:
                raise ValueError(f"{name} has shape {arr.shape}, expected "
                                 f"{self.params[name].shape}")
            loaded[name] = arr
        for name, arr in loaded.items():
            self.params[name][...] = arr

    # ---------------------------------------------------------------- modes
    def train(self, mode=True):
        """Set the default mode of ``forward``: training keeps what ``backward``
        needs (and applies dropout).  Returns the layer."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Make inference the default mode of ``forward``.  Returns the layer."""
        return self.train(False)

    def _mode(self, training):
        """The mode of one call, read once: the argument, else the default."""
        return self.training if training is None else bool(training)

    # ------------------------------------------------------- training state
    def _training_call(self):
        """Hold the layer's training lock for one training call, or refuse."""
        return _Holding(self)

    def _record(self, data):
        """Keep what backward needs, owned by the calling thread."""
        self._tape = _Tape(data)

    def _recorded(self):
        """The calling thread's tape of the last training forward, or raise."""
        tape = self._tape
        if tape is None:
            raise RuntimeError(f"backward needs a forward pass in training mode of this "
                               f"{type(self).__name__} first (forward(..., training=True), "
                               "or layer.train() before forward)")
        if tape.thread != threading.get_ident():
            raise RuntimeError(f"the last training forward of this {type(self).__name__} "
                               "ran in another thread: training one layer from two threads "
                               "at once is refused (give each thread its own copy)")
        return tape.data

    def release_buffers(self):
        """Drop the last training forward's tape and any buffers kept for reuse."""
        self._tape = None

    # ------------------------------------------------------------ pickling
    _TRANSIENT = ("params", "grads", "_tape", "_train_lock")

    def __getstate__(self):
        # the named views would pickle as separate arrays, losing the flat
        # buffers they view: keep the buffers, rebuild the views on load
        state = self.__dict__.copy()
        for key in self._TRANSIENT:
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._tape = None
        self._train_lock = threading.Lock()
        flat_params, flat_grads = self._flat_params, self._flat_grads
        self._flat_params = None
        self._bind(flat_params, flat_grads)


class _Holding:
    """Context of one training call: the layer's lock, taken without waiting."""

    __slots__ = ("layer",)

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        if not self.layer._train_lock.acquire(blocking=False):
            raise RuntimeError(
                f"this {type(self.layer).__name__} is being trained by another thread: "
                "training one layer from two threads at once is refused (give each "
                "thread its own copy; inference, forward(..., training=False), may run "
                "in any number of threads)")
        return self.layer

    def __exit__(self, *exc):
        self.layer._train_lock.release()
        return False

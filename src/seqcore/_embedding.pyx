"""Embedding lookups: the row gather of forward and the row scatter-add of backward.

Design: an embedding table W (V, E) maps each id n of a flat id array
``ids`` (N,) to the row W[ids[n]].  Callers flatten any id shape to (N,) and
the outputs or output gradients to (N, E).

* ``check_ids`` finds the first id outside [0, V) (or returns -1), so the
  Python layer refuses bad ids before any work and every later loop may
  index W without checks.
* ``gather`` writes ``out[n] = W[ids[n]]``; one pass, no temporaries.
* ``scatter_add`` zeroes the whole gradient table dW (V, E) and adds
  ``dout[n]`` into ``dW[ids[n]]`` for n = 0, 1, ..., N-1, in that order, so
  repeated ids add up in a fixed order and results are bit-identical from
  run to run (no threads, no atomics).  Rows of ``padding_idx`` get nothing.
  The whole table is zeroed (not only the rows used): the gradient buffer
  always holds the full gradient, which clipping and optimizers read as one
  flat buffer.

All loops run without the GIL; index arithmetic is 64-bit (Py_ssize_t).
"""

from cython cimport floating
from libc.stdint cimport int64_t
from libc.string cimport memset, memcpy


def check_ids(const int64_t[::1] ids, Py_ssize_t num_embeddings):
    """Return the position of the first id outside [0, num_embeddings), or -1."""
    cdef Py_ssize_t n, N = ids.shape[0], bad = -1
    cdef int64_t v, V = num_embeddings
    with nogil:
        for n in range(N):
            v = ids[n]
            if v < 0 or v >= V:
                bad = n
                break
    return bad


cdef _check_table(const int64_t[::1] ids, Py_ssize_t V, Py_ssize_t N, Py_ssize_t E,
                  Py_ssize_t rows, Py_ssize_t cols, str what):
    """Shapes first, then the ids: every index the loops use is in range."""
    if rows != N or cols != E:
        raise ValueError(f"{what} must have shape ({N}, {E}), got ({rows}, {cols})")
    cdef Py_ssize_t bad = check_ids(ids, V)
    if bad >= 0:
        raise ValueError(f"id {ids[bad]} at position {bad} is outside [0, {V})")


def gather(const floating[:, ::1] W, const int64_t[::1] ids, floating[:, ::1] out):
    """out[n, :] = W[ids[n], :]   (N, E) from (V, E)."""
    cdef Py_ssize_t V = W.shape[0], E = W.shape[1], N = ids.shape[0], n
    _check_table(ids, V, N, E, out.shape[0], out.shape[1], "out")
    if N == 0 or E == 0:
        return
    with nogil:
        for n in range(N):
            memcpy(&out[n, 0], &W[ids[n], 0], E * sizeof(floating))


def scatter_add(const int64_t[::1] ids, const floating[:, ::1] dout,
                floating[:, ::1] dW, Py_ssize_t padding_idx):
    """dW[:] = 0; then dW[ids[n], :] += dout[n, :] for n in order, skipping padding_idx.

    ``padding_idx`` < 0 means no padding row.  Equivalent to::

        dW[:] = 0
        np.add.at(dW, ids, dout)
        if padding_idx >= 0:
            dW[padding_idx] = 0
    """
    cdef Py_ssize_t V = dW.shape[0], E = dW.shape[1], N = ids.shape[0], n, e
    cdef int64_t row
    cdef floating* dst
    cdef const floating* src
    _check_table(ids, V, N, E, dout.shape[0], dout.shape[1], "dout")
    if padding_idx >= V:
        raise ValueError(f"padding_idx {padding_idx} is outside [0, {V})")
    if V == 0 or E == 0:
        return
    with nogil:
        memset(&dW[0, 0], 0, V * E * sizeof(floating))
        for n in range(N):
            row = ids[n]
            if row == padding_idx:
                continue
            dst = &dW[row, 0]
            src = &dout[n, 0]
            for e in range(E):
                dst[e] += src[e]

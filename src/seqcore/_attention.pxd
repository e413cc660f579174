# Attention over the rows of a batch, forward and backward; see _attention.pyx.

from cython cimport floating
from libc.stdint cimport int64_t

cpdef enum AttnKind:
    ATTN_ADDITIVE = 0   # e = v . tanh(W_q q + W_k k)        (Bahdanau)
    ATTN_DOT = 1        # e = q . k                            (Luong)
    ATTN_GENERAL = 2    # e = q . (W k)                        (Luong)

ctypedef struct AttnSpec:
    int kind
    Py_ssize_t S        # source positions (the keys' second axis)
    Py_ssize_t Hq       # query size
    Py_ssize_t Hk       # key size (the context's size)
    Py_ssize_t P        # width of the projected keys Kp: A (additive), Hq (general), Hk (dot)

cdef void attend_rows(const AttnSpec* a, Py_ssize_t n, const floating* q,
                      const floating* qp, const floating* K, const floating* Kp,
                      const Py_ssize_t* src, const int64_t* lengths,
                      const floating* v, floating* Z, bint keep_z,
                      floating* w, floating* ctx, Py_ssize_t ldctx) noexcept nogil

cdef void attend_backward_rows(const AttnSpec* a, Py_ssize_t n, const floating* q,
                               const floating* K, const floating* Kp,
                               const int64_t* lengths, const floating* v,
                               const floating* Z, const floating* w,
                               const floating* dctx, Py_ssize_t lddctx,
                               const floating* dw, floating* de,
                               floating* dq, floating* dqp,
                               floating* dK, floating* dKp, floating* dv) noexcept nogil

# One-step kernels of each cell kind, forward and backward; see _cells.pyx.

from cython cimport floating

cpdef enum CellKind:
    CELL_RNN = 0
    CELL_GRU = 1
    CELL_LSTM = 2

ctypedef struct CellSpec:
    int kind          # a CellKind
    Py_ssize_t H      # hidden size
    Py_ssize_t G      # gates: 1 (RNN), 3 (GRU: r, z, n), 4 (LSTM: i, f, g, o)
    bint relu         # RNN: relu instead of tanh
    bint reset_after  # GRU: r applied after the hidden product (PyTorch, cuDNN)
    bint peephole     # LSTM: diagonal peephole weights
    # W_hh packed for the per-step products (see include/seqcore/matmul.h),
    # or NULL to call the BLAS: Wf for h @ W_hh.T, Wb for dG @ W_hh
    const void* Wf
    const void* Wb

cdef int n_gates(int kind) noexcept nogil

cdef void cell_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                       const floating* h_prev, floating* h,
                       const floating* c_prev, floating* c,
                       floating* aux, floating* work,
                       const floating* W_hh, const floating* bias,
                       const floating* b_hn,
                       const floating* peep) noexcept nogil

cdef void cell_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                        const floating* dy, floating* dh, floating* dc,
                        const floating* h_prev, const floating* h,
                        const floating* c_prev, const floating* c,
                        const floating* aux, floating* dG, floating* dGH,
                        floating* work, const floating* W_hh,
                        const floating* peep, floating* dpeep) noexcept nogil

cdef size_t packed_size(Py_ssize_t K, Py_ssize_t N, bint double_precision) noexcept nogil
cdef void pack(Py_ssize_t K, Py_ssize_t N, const floating* B, Py_ssize_t rs,
               Py_ssize_t cs, floating* P) noexcept nogil

# One-step kernels of each cell kind, forward and backward; see _cells.pyx.

from cython cimport floating

cpdef enum CellKind:
    CELL_RNN = 0
    CELL_GRU = 1
    CELL_LSTM = 2
    CELL_MGU = 3
    N_KINDS = 4

# A replacement for the per-step hidden products (reduced-precision inference,
# _quant.pyx): C (n, N) (+)= A (n, P) @ W_hh[rows].T for the rows of the
# h block, or of the gated block when ``gated``; pointers in the spec's dtype.
ctypedef void (*hidden_product_fn)(const void* s, Py_ssize_t n, const void* A, void* C,
                                   Py_ssize_t ldc, bint accumulate,
                                   bint gated) noexcept nogil

ctypedef struct CellSpec:
    int kind          # a CellKind
    int flags         # the kind's own option bits (see its kernels)
    Py_ssize_t H      # hidden size (of the gates, and of c)
    Py_ssize_t P      # size of the state h the products read: H, or the
                      # projection's size (LSTM proj_size), set by the driver
    # what the kind's kernels need, filled by kernel_layout:
    Py_ssize_t G      # gates
    int n_states      # 1 (h) or 2 (h, c)
    bint aux          # saves one (n, H) value per step for its backward
    int gated_blocks  # last gate blocks whose hidden product reads aux (gate * h)
    int separate_bias # gate block whose b_hh stays out of the folded bias, or -1
    int extra_rows    # rows of its extra (rows, H) weights (LSTM peepholes)
    bint proj_ok      # its h may be projected to P < H (h = W_hr h_full)
    bint unitwise     # cell_forward_units takes any range of units (the
                      # driver may split a step's units across threads)
    Py_ssize_t split  # (G - gated_blocks) * H: rows of W_hh that multiply h
    # W_hh[:split] and W_hh[split:] packed for the per-step products (see
    # include/seqcore/matmul.h), or NULL to call the BLAS: Wf/Wf2 for
    # h @ W_hh[:split].T and aux @ W_hh[split:].T, Wb/Wb2 for dG @ W_hh
    const void* Wf
    const void* Wf2
    const void* Wb
    const void* Wb2
    # set by _quant.pyx only (kernel_layout sets NULL): when not NULL, the
    # forward kernels' hidden products call it, with the spec, instead
    hidden_product_fn hidden_product
    void* hidden_ctx

cdef int kernel_layout(int kind, int flags, CellSpec* s) noexcept nogil

cdef void cell_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                       const floating* h_prev, const floating* h_in, floating* h,
                       const floating* c_prev, floating* c,
                       floating* aux, floating* work,
                       const floating* W_hh, const floating* bias,
                       const floating* b_sep,
                       const floating* extra) noexcept nogil

cdef void cell_forward_units(const CellSpec* s, Py_ssize_t n, floating* gates,
                             const floating* h_prev, const floating* h_in, floating* h,
                             const floating* c_prev, floating* c,
                             floating* aux, floating* work,
                             const floating* W_hh, const floating* bias,
                             const floating* b_sep,
                             const floating* extra,
                             Py_ssize_t u0, Py_ssize_t u1) noexcept nogil

cdef void cell_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                        const floating* dy, floating* dh, floating* dhin, floating* dc,
                        const floating* h_prev, const floating* h_in, const floating* h,
                        const floating* c_prev, const floating* c,
                        const floating* aux, floating* dG, floating* dGH,
                        floating* work, const floating* W_hh,
                        const floating* extra, floating* dextra) noexcept nogil

cdef size_t packed_size(Py_ssize_t K, Py_ssize_t N, bint double_precision) noexcept nogil
cdef Py_ssize_t panel_width(bint double_precision) noexcept nogil
cdef void pack(Py_ssize_t K, Py_ssize_t N, const floating* B, Py_ssize_t rs,
               Py_ssize_t cs, floating* P) noexcept nogil
cdef void matmul_packed(bint a_transposed, Py_ssize_t m, Py_ssize_t N, Py_ssize_t K,
                        const floating* A, Py_ssize_t lda, const floating* P,
                        floating* C, Py_ssize_t ldc, bint accumulate) noexcept nogil

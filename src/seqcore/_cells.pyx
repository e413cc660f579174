"""One time step of each cell kind, forward and backward.

Design: this module is the only place that knows a cell's equations.  Each
kind has two kernels (forward, backward) and a row in ``kernel_layout``,
which says what its kernels need: gates, states, the per-step ``aux``
value, the gate blocks whose hidden product reads the gated state, the
block whose hidden bias stays separate, its extra weights.  The Python
descriptor (python/seqcore/nn/_cells.py) reads that row; the time-loop
driver (_recurrent.pyx) reads only the resulting ``CellSpec`` and never
branches on a kind.  An unknown kind is refused where a spec is made.

The driver hands each kernel the rows of one step:

* ``gates`` (n, G*H): on entry the input projection ``x @ W_ih.T`` plus the
  folded bias ``b_ih + b_hh`` (added by ``cell_forward``: on rows already in
  cache, rather than broadcast over the whole projection beforehand); on
  exit the gate values after their activations, kept for the backward pass.
  ``b_sep`` is the separate hidden bias block, if the kind has one (the
  GRU's ``b_hn`` inside ``r * (W_hn h + b_hn)``).
* ``h_prev``, ``h`` (n, H) and, for two-state kinds, ``c_prev``, ``c``.
  ``h_in`` is what the hidden products read: ``h_prev``, or ``h_prev * mask``
  under recurrent dropout (the update itself reads ``h_prev``).
* ``aux`` (n, H): the one extra per-step value a kind's backward needs:
  GRU reset_after: ``W_hn h + b_hn``; GRU reset_before: ``r * h_in``;
  LSTM: ``tanh(c)``; MGU: ``f * h_in``.  Unused by the RNN.
* ``work`` (n, G*H): scratch for hidden-side products.
* ``extra`` (rows, H): a kind's extra weights (the LSTM's peepholes).

With a projection (the LSTM's proj_size) ``h`` and ``dh`` are the kernel's
(n, H) ``o * tanh(c)`` and its gradient; the driver projects them to and
from the (n, P) state.

Backward kernels read ``dh`` (this step's output gradient already added,
plus the gradient flowing back from step t+1) and ``dc``, write the
pre-activation gate gradients ``dG`` (n, G*H), and leave the gradient on
``h_prev`` in ``dh`` and the one on ``h_in`` in ``dhin``: the driver scales
the latter by the dropout mask and adds it to ``dh``.  Without dropout
``dhin`` is ``dh`` itself and holds their sum: a kernel writes its first
contribution to ``dhin`` with ``accumulate = dhin == dh``.  When the hidden
side sees another gradient than the input side (the GRU's separate bias),
it goes to ``dGH``.

Derivatives use the saved outputs (``1 - t*t`` for tanh, ``s*(1-s)`` for the
logistic), never a second call to exp.
"""

import os

from libc.string cimport memcpy, memset

from seqcore._blas cimport gemm, NoTrans, Transpose


cdef extern from "seqcore/cpu.h" nogil:
    const char* sc_cpu_kernels()


# SEQCORE_KERNELS caps the kernels (include/seqcore/cpu.h reads it at their
# first use); a value that cpu.h would silently take for "auto" is refused here,
# at import, so a typo cannot leave the wide kernels on unnoticed.
KERNEL_CHOICES = ("auto", "generic", "avx2", "avx512")
_requested = os.environ.get("SEQCORE_KERNELS", "")
if _requested not in ("",) + KERNEL_CHOICES:
    raise ValueError(f"SEQCORE_KERNELS={_requested!r}: expected one of {KERNEL_CHOICES} "
                     "(or unset)")


def active_kernels():
    """The kernels the per-step products and activations run on.

    Returns
    -------
    str
        ``"generic"`` (the baseline: SSE2 on x86-64, NEON on aarch64, plain C
        where the compiler has no vector extensions), ``"avx2"`` (AVX2 and
        FMA) or ``"avx512"`` (AVX-512F): the widest the CPU runs, capped by
        the environment variable ``SEQCORE_KERNELS`` (``"generic"`` forces
        the generic kernels).
    """
    return sc_cpu_kernels().decode("ascii")


cdef extern from "seqcore/activations.h" nogil:
    float sc_relu_f(float x)
    double sc_relu_d(double x)
    void sc_sigmoid_inplace_f(float* x, Py_ssize_t n)
    void sc_sigmoid_inplace_d(double* x, Py_ssize_t n)
    void sc_tanh_inplace_f(float* x, Py_ssize_t n)
    void sc_tanh_inplace_d(double* x, Py_ssize_t n)


cdef extern from "seqcore/matmul.h" nogil:
    size_t sc_packed_size_f(Py_ssize_t K, Py_ssize_t N)
    size_t sc_packed_size_d(Py_ssize_t K, Py_ssize_t N)
    void sc_pack_f(Py_ssize_t K, Py_ssize_t N, const float* B, Py_ssize_t rs,
                   Py_ssize_t cs, float* P)
    void sc_pack_d(Py_ssize_t K, Py_ssize_t N, const double* B, Py_ssize_t rs,
                   Py_ssize_t cs, double* P)
    void sc_matmul_packed_f(Py_ssize_t m, Py_ssize_t N, Py_ssize_t K, const float* A,
                            Py_ssize_t lda, const float* P, float* C, Py_ssize_t ldc,
                            int accumulate)
    void sc_matmul_packed_d(Py_ssize_t m, Py_ssize_t N, Py_ssize_t K, const double* A,
                            Py_ssize_t lda, const double* P, double* C, Py_ssize_t ldc,
                            int accumulate)
    void sc_matmul_packed_t_f(Py_ssize_t m, Py_ssize_t N, Py_ssize_t K, const float* A,
                              Py_ssize_t lda, const float* P, float* C, Py_ssize_t ldc,
                              int accumulate)
    void sc_matmul_packed_t_d(Py_ssize_t m, Py_ssize_t N, Py_ssize_t K, const double* A,
                              Py_ssize_t lda, const double* P, double* C, Py_ssize_t ldc,
                              int accumulate)


cdef size_t packed_size(Py_ssize_t K, Py_ssize_t N, bint double_precision) noexcept nogil:
    """Entries of the packed form of a (K, N) matrix."""
    return sc_packed_size_d(K, N) if double_precision else sc_packed_size_f(K, N)


cdef Py_ssize_t panel_width(bint double_precision) noexcept nogil:
    """Columns of one panel of a packed matrix (include/seqcore/matmul.h): a
    column range of the packed matrix that starts at a multiple of it starts
    a panel."""
    return packed_size(1, 1, double_precision)


cdef void pack(Py_ssize_t K, Py_ssize_t N, const floating* B, Py_ssize_t rs,
               Py_ssize_t cs, floating* P) noexcept nogil:
    """P <- the (K, N) matrix with entries B[k * rs + j * cs], packed."""
    if floating is float:
        sc_pack_f(K, N, B, rs, cs, P)
    else:
        sc_pack_d(K, N, B, rs, cs, P)


cdef void matmul_packed(bint a_transposed, Py_ssize_t m, Py_ssize_t N, Py_ssize_t K,
                        const floating* A, Py_ssize_t lda, const floating* P,
                        floating* C, Py_ssize_t ldc, bint accumulate) noexcept nogil:
    """C (m, N) (+)= op(A) (m, K) @ the packed (K, N) matrix P; op(A) is A, or
    with ``a_transposed`` the matrix whose (i, k) entry is A[k * lda + i]."""
    if floating is float:
        if a_transposed:
            sc_matmul_packed_t_f(m, N, K, A, lda, P, C, ldc, accumulate)
        else:
            sc_matmul_packed_f(m, N, K, A, lda, P, C, ldc, accumulate)
    else:
        if a_transposed:
            sc_matmul_packed_t_d(m, N, K, A, lda, P, C, ldc, accumulate)
        else:
            sc_matmul_packed_d(m, N, K, A, lda, P, C, ldc, accumulate)


# --------------------------------------------------------------------------
# What each kind's kernels need (the C half of its descriptor).
# --------------------------------------------------------------------------

cdef int kernel_layout(int kind, int flags, CellSpec* s) noexcept nogil:
    """Fill the kind's fields of ``s`` for its option ``flags``; -1 for an
    unknown kind."""
    s.kind, s.flags = kind, flags
    s.n_states, s.aux, s.gated_blocks, s.separate_bias, s.extra_rows = 1, True, 0, -1, 0
    s.proj_ok = s.unitwise = False
    s.hidden_product, s.hidden_ctx = NULL, NULL
    if kind == CELL_RNN:             # flags & 1: relu
        s.G, s.aux = 1, False
    elif kind == CELL_GRU:           # flags & 1: reset_after
        s.G = 3
        if flags & 1:
            s.separate_bias = 2      # b_hn inside r * (W_hn h + b_hn)
        else:
            s.gated_blocks = 1       # n reads W_hn (r * h)
    elif kind == CELL_LSTM:          # flags & 1: peepholes (p_i, p_f, p_o)
        s.G, s.n_states = 4, 2
        s.extra_rows = 3 if flags & 1 else 0
        s.proj_ok = True             # h = W_hr (o * tanh(c)) (PyTorch's proj_size)
        s.unitwise = True            # a step runs by unit ranges (cell_forward_units)
    elif kind == CELL_MGU:
        s.G, s.gated_blocks = 2, 1   # n reads W_hn (f * h)
    else:
        return -1
    s.split = (s.G - s.gated_blocks) * s.H
    return 0


def layout(int kind, int flags):
    """What the kernels of a kind with option ``flags`` need, as a dict (read
    by python/seqcore/nn/_cells.py); ValueError for an unknown kind."""
    cdef CellSpec s
    s.H = 1
    if kernel_layout(kind, flags, &s) < 0:
        raise ValueError(f"unknown cell kind {kind}")
    return dict(G=s.G, n_states=s.n_states, aux=bool(s.aux), gated_blocks=s.gated_blocks,
                separate_bias=s.separate_bias, extra_rows=s.extra_rows,
                proj_ok=bool(s.proj_ok))


# --------------------------------------------------------------------------
# The per-step hidden products.  W_hh (G*H, P) splits at row ``split``:
# rows above it multiply h_in, rows below it the gated state aux.  P is the
# size of h: H, or the projection's (only kinds with proj_ok).
# --------------------------------------------------------------------------

cdef inline void forward_product(const CellSpec* s, Py_ssize_t n, const floating* A,
                                 const floating* W_hh, floating* C, Py_ssize_t ldc,
                                 bint accumulate, bint gated) noexcept nogil:
    """C (n, N) = A (n, P) @ W_hh[:split].T, or @ W_hh[split:].T when
    ``gated`` (N the rows taken); += when accumulate."""
    cdef Py_ssize_t r0 = s.split if gated else 0
    cdef Py_ssize_t N = s.G * s.H - s.split if gated else s.split
    cdef const void* W = s.Wf2 if gated else s.Wf
    if s.hidden_product != NULL:   # reduced precision (_quant.pyx)
        s.hidden_product(s, n, A, C, ldc, accumulate, gated)
    elif W == NULL:
        gemm(NoTrans, Transpose, n, N, s.P, 1, A, s.P, W_hh + r0 * s.P, s.P,
             1 if accumulate else 0, C, ldc)
    elif floating is float:
        sc_matmul_packed_f(n, N, s.P, A, s.P, <const float*> W, C, ldc, accumulate)
    else:
        sc_matmul_packed_d(n, N, s.P, A, s.P, <const double*> W, C, ldc, accumulate)


cdef inline void forward_columns(const CellSpec* s, Py_ssize_t n, const floating* A,
                                 const floating* W_hh, Py_ssize_t r0, Py_ssize_t N,
                                 floating* C, Py_ssize_t ldc) noexcept nogil:
    """C (n, N) += A (n, P) @ W_hh[r0:r0 + N].T, rows of W_hh that multiply h.
    On the packed W_hh, r0 must start a panel (a multiple of
    ``panel_width``): the driver only asks for such ranges.  Each entry is the
    same dot product as in the whole ``forward_product``, summed in the same
    order: the result does not depend on the range."""
    cdef Py_ssize_t NR = panel_width(floating is double)
    if s.Wf == NULL:
        gemm(NoTrans, Transpose, n, N, s.P, 1, A, s.P, W_hh + r0 * s.P, s.P, 1, C, ldc)
    elif floating is float:
        sc_matmul_packed_f(n, N, s.P, A, s.P, <const float*> s.Wf + (r0 // NR) * s.P * NR,
                           C, ldc, True)
    else:
        sc_matmul_packed_d(n, N, s.P, A, s.P, <const double*> s.Wf + (r0 // NR) * s.P * NR,
                           C, ldc, True)


cdef inline void backward_product(const CellSpec* s, Py_ssize_t n, const floating* A,
                                  Py_ssize_t lda, const floating* W_hh, floating* C,
                                  bint accumulate, bint gated) noexcept nogil:
    """C (n, P) = A (n, K) @ W_hh[:split], or @ W_hh[split:] when ``gated``
    (K the rows taken); += when accumulate."""
    cdef Py_ssize_t r0 = s.split if gated else 0
    cdef Py_ssize_t K = s.G * s.H - s.split if gated else s.split
    cdef const void* W = s.Wb2 if gated else s.Wb
    if W == NULL:
        gemm(NoTrans, NoTrans, n, s.P, K, 1, A, lda, W_hh + r0 * s.P, s.P,
             1 if accumulate else 0, C, s.P)
    elif floating is float:
        sc_matmul_packed_f(n, s.P, K, A, lda, <const float*> W, C, s.P, accumulate)
    else:
        sc_matmul_packed_d(n, s.P, K, A, lda, <const double*> W, C, s.P, accumulate)


# Activations are applied in place to contiguous blocks: the C loops
# vectorise (see include/seqcore/activations.h).

cdef inline void sigmoid_(floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        sc_sigmoid_inplace_f(x, n)
    else:
        sc_sigmoid_inplace_d(x, n)


cdef inline void tanh_(floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        sc_tanh_inplace_f(x, n)
    else:
        sc_tanh_inplace_d(x, n)


cdef inline floating relu(floating x) noexcept nogil:
    if floating is float:
        return sc_relu_f(x)
    else:
        return sc_relu_d(x)


# --------------------------------------------------------------------------
# RNN: h = act(W_ih x + b_ih + W_hh h_prev + b_hh)
# --------------------------------------------------------------------------

cdef void rnn_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                      const floating* h_in, floating* h,
                      const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, i
    # gates += h_in @ W_hh.T      (n, H) += (n, H)(H, H)
    forward_product(s, n, h_in, W_hh, gates, H, True, False)
    if s.flags & 1:
        for i in range(n * H):
            h[i] = relu(gates[i])
    else:
        memcpy(h, gates, n * H * sizeof(floating))
        tanh_(h, n * H)


cdef void rnn_backward(const CellSpec* s, Py_ssize_t n, floating* dh, floating* dhin,
                       const floating* h, floating* dG,
                       const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, i
    if s.flags & 1:
        for i in range(n * H):
            dG[i] = dh[i] if h[i] > 0 else 0
    else:
        for i in range(n * H):
            dG[i] = dh[i] * (1 - h[i] * h[i])
    # dh_in = dG @ W_hh           (n, H) = (n, H)(H, H); no direct path
    backward_product(s, n, dG, H, W_hh, dhin, False, False)
    if dhin != dh:
        memset(dh, 0, n * H * sizeof(floating))


# --------------------------------------------------------------------------
# GRU: r, z = sigma(...); n = tanh(x_n + r * (W_hn h + b_hn))  [reset_after]
#                         n = tanh(x_n + W_hn (r * h) + b_hn)  [reset_before]
#      h' = (1 - z) * n + z * h, computed as n + z * (h - n) like PyTorch.
# --------------------------------------------------------------------------

cdef void gru_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                      const floating* h_prev, const floating* h_in, floating* h,
                      floating* aux, floating* work, const floating* W_hh,
                      const floating* b_hn) noexcept nogil:
    cdef Py_ssize_t H = s.H, G3 = 3 * s.H, b, j
    cdef floating nv
    cdef floating* g
    cdef floating* w
    # work[:, :split] = h_in @ W_hh[:split].T  (all gates after, r and z before)
    forward_product(s, n, h_in, W_hh, work, G3, False, False)
    if s.flags & 1:
        for b in range(n):
            g = gates + b * G3
            w = work + b * G3
            for j in range(2 * H):
                g[j] += w[j]
            sigmoid_(g, 2 * H)                       # r, z
            for j in range(H):
                aux[b * H + j] = w[2 * H + j] + b_hn[j]
                g[2 * H + j] += g[j] * aux[b * H + j]
            tanh_(g + 2 * H, H)                      # n
            for j in range(H):
                nv = g[2 * H + j]
                h[b * H + j] = nv + g[H + j] * (h_prev[b * H + j] - nv)
        return
    for b in range(n):
        g = gates + b * G3
        w = work + b * G3
        for j in range(2 * H):
            g[j] += w[j]
        sigmoid_(g, 2 * H)                           # r, z
        for j in range(H):
            aux[b * H + j] = g[j] * h_in[b * H + j]
    # work[:, 2H:] = (r * h_in) @ W_hn.T  (n, H) = (n, H)(H, H)
    forward_product(s, n, aux, W_hh, work + 2 * H, G3, False, True)
    for b in range(n):
        g = gates + b * G3
        w = work + b * G3
        for j in range(H):
            g[2 * H + j] += w[2 * H + j]
        tanh_(g + 2 * H, H)                          # n
        for j in range(H):
            nv = g[2 * H + j]
            h[b * H + j] = nv + g[H + j] * (h_prev[b * H + j] - nv)


cdef void gru_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                       floating* dh, floating* dhin,
                       const floating* h_prev, const floating* h_in,
                       const floating* aux, floating* dG, floating* dGH,
                       floating* work, const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, G3 = 3 * s.H, b, j, k
    cdef floating d, r, z, nv, dn, dr, drh
    cdef const floating* g
    cdef floating* dg
    cdef floating* dgh
    cdef bint alias = dhin == dh
    if s.flags & 1:
        for b in range(n):
            g = gates + b * G3
            dg = dG + b * G3
            dgh = dGH + b * G3
            for j in range(H):
                k = b * H + j
                d = dh[k]
                r = g[j]
                z = g[H + j]
                nv = g[2 * H + j]
                dn = d * (1 - z) * (1 - nv * nv)
                dr = dn * aux[k]
                dg[j] = dr * r * (1 - r)
                dg[H + j] = d * (h_prev[k] - nv) * z * (1 - z)
                dg[2 * H + j] = dn
                dgh[j] = dr * r * (1 - r)
                dgh[H + j] = d * (h_prev[k] - nv) * z * (1 - z)
                dgh[2 * H + j] = dn * r
                dh[k] = d * z
        # dh_in (+)= dGH @ W_hh     (n, H) = (n, 3H)(3H, H)
        backward_product(s, n, dGH, G3, W_hh, dhin, alias, False)
        return
    for b in range(n):
        g = gates + b * G3
        dg = dG + b * G3
        for j in range(H):
            k = b * H + j
            d = dh[k]
            z = g[H + j]
            nv = g[2 * H + j]
            dg[H + j] = d * (h_prev[k] - nv) * z * (1 - z)
            dg[2 * H + j] = d * (1 - z) * (1 - nv * nv)
            dh[k] = d * z
    # d(r * h_in) = dn @ W_hn     (n, H) = (n, H)(H, H)
    backward_product(s, n, dG + 2 * H, G3, W_hh, work, False, True)
    for b in range(n):
        g = gates + b * G3
        dg = dG + b * G3
        if alias:   # two loops, so that each vectorises
            for j in range(H):
                k = b * H + j
                r = g[j]
                drh = work[k]
                dg[j] = drh * h_in[k] * r * (1 - r)
                dh[k] += drh * r
        else:
            for j in range(H):
                k = b * H + j
                r = g[j]
                drh = work[k]
                dg[j] = drh * h_in[k] * r * (1 - r)
                dhin[k] = drh * r
    # dh_in += dG[:, :2H] @ W_hr,z   (n, H) += (n, 2H)(2H, H)
    backward_product(s, n, dG, G3, W_hh, dhin, True, False)


# --------------------------------------------------------------------------
# LSTM: i, f, g, o = sigma, sigma, tanh, sigma; c' = f c + i g; h' = o tanh(c')
# peepholes (flags & 1): i, f see c_prev, o sees c'; rows (p_i, p_f, p_o).
# --------------------------------------------------------------------------

cdef void lstm_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                       const floating* h_in, floating* h,
                       const floating* c_prev, floating* c, floating* aux,
                       const floating* W_hh, const floating* peep,
                       Py_ssize_t u0, Py_ssize_t u1) noexcept nogil:
    """Units u0 .. u1-1 of the step (all of them: 0, H): the gate columns of
    those units, their cell and hidden values.  A part of the units reads
    all of h_in and writes only its own columns, so parts of a step may run
    at once (the driver's column split); every value is computed as with
    the whole range."""
    cdef Py_ssize_t H = s.H, G4 = 4 * s.H, U = u1 - u0, b, j, q
    cdef bint peephole = s.flags & 1
    cdef floating* g
    cdef const floating* cp
    cdef floating* cn
    cdef floating* tc
    if U == H:
        # gates += h_in @ W_hh.T      (n, 4H) += (n, P)(P, 4H)
        forward_product(s, n, h_in, W_hh, gates, G4, True, False)
    else:
        # the four gate blocks' columns of these units
        for q in range(4):
            forward_columns(s, n, h_in, W_hh, q * H + u0, U, gates + q * H + u0, G4)
    for b in range(n):
        g = gates + b * G4
        cp = c_prev + b * H
        cn = c + b * H
        tc = aux + b * H
        if peephole:
            for j in range(u0, u1):
                g[j] += peep[j] * cp[j]
                g[H + j] += peep[H + j] * cp[j]
        sigmoid_(g + u0, U)                          # i
        sigmoid_(g + H + u0, U)                      # f
        tanh_(g + 2 * H + u0, U)                     # g
        for j in range(u0, u1):
            cn[j] = g[H + j] * cp[j] + g[j] * g[2 * H + j]
        if peephole:
            for j in range(u0, u1):
                g[3 * H + j] += peep[2 * H + j] * cn[j]
        sigmoid_(g + 3 * H + u0, U)                  # o
        memcpy(tc + u0, cn + u0, U * sizeof(floating))
        tanh_(tc + u0, U)
        for j in range(u0, u1):
            h[b * H + j] = g[3 * H + j] * tc[j]


cdef void lstm_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                        floating* dh, floating* dhin, floating* dc,
                        const floating* c_prev, const floating* c,
                        const floating* aux, floating* dG,
                        const floating* W_hh, const floating* peep,
                        floating* dpeep) noexcept nogil:
    cdef Py_ssize_t H = s.H, G4 = 4 * s.H, b, j, k
    cdef floating d, ig, fg, gg, og, tc, dcn, di, df, do
    cdef const floating* g
    cdef floating* dg
    for b in range(n):
        g = gates + b * G4
        dg = dG + b * G4
        if s.flags & 1:
            for j in range(H):
                k = b * H + j
                d = dh[k]
                ig = g[j]
                fg = g[H + j]
                gg = g[2 * H + j]
                og = g[3 * H + j]
                tc = aux[k]
                do = d * tc * og * (1 - og)
                dcn = dc[k] + d * og * (1 - tc * tc) + peep[2 * H + j] * do
                di = dcn * gg * ig * (1 - ig)
                df = dcn * c_prev[k] * fg * (1 - fg)
                dg[j] = di
                dg[H + j] = df
                dg[2 * H + j] = dcn * ig * (1 - gg * gg)
                dg[3 * H + j] = do
                dc[k] = dcn * fg + peep[j] * di + peep[H + j] * df
                dpeep[j] += di * c_prev[k]
                dpeep[H + j] += df * c_prev[k]
                dpeep[2 * H + j] += do * c[k]
        else:
            for j in range(H):
                k = b * H + j
                d = dh[k]
                ig = g[j]
                fg = g[H + j]
                gg = g[2 * H + j]
                og = g[3 * H + j]
                tc = aux[k]
                do = d * tc * og * (1 - og)
                dcn = dc[k] + d * og * (1 - tc * tc)
                di = dcn * gg * ig * (1 - ig)
                df = dcn * c_prev[k] * fg * (1 - fg)
                dg[j] = di
                dg[H + j] = df
                dg[2 * H + j] = dcn * ig * (1 - gg * gg)
                dg[3 * H + j] = do
                dc[k] = dcn * fg
    # dh_in = dG @ W_hh           (n, P) = (n, 4H)(4H, P); no direct path
    backward_product(s, n, dG, G4, W_hh, dhin, False, False)
    if dhin != dh:
        memset(dh, 0, n * H * sizeof(floating))


# --------------------------------------------------------------------------
# MGU (minimal gated unit; Zhou, Wu, Zhang, Zhou 2016):
#   f = sigma(W_if x + b_if + W_hf h + b_hf)
#   n = tanh(W_in x + b_in + W_hn (f * h) + b_hn)
#   h' = (1 - f) * h + f * n, computed as h + f * (n - h)
# --------------------------------------------------------------------------

cdef void mgu_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                      const floating* h_prev, const floating* h_in, floating* h,
                      floating* aux, const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, G2 = 2 * s.H, b, j
    cdef floating* g
    # gates[:, :H] += h_in @ W_hf.T       (n, H) += (n, H)(H, H)
    forward_product(s, n, h_in, W_hh, gates, G2, True, False)
    for b in range(n):
        g = gates + b * G2
        sigmoid_(g, H)                               # f
        for j in range(H):
            aux[b * H + j] = g[j] * h_in[b * H + j]
    # gates[:, H:] += (f * h_in) @ W_hn.T   (n, H) += (n, H)(H, H)
    forward_product(s, n, aux, W_hh, gates + H, G2, True, True)
    for b in range(n):
        g = gates + b * G2
        tanh_(g + H, H)                              # n
        for j in range(H):
            h[b * H + j] = h_prev[b * H + j] + g[j] * (g[H + j] - h_prev[b * H + j])


cdef void mgu_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                       floating* dh, floating* dhin,
                       const floating* h_prev, const floating* h_in,
                       floating* dG, floating* work, const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, G2 = 2 * s.H, b, j, k
    cdef floating d, f, nv, daux, df
    cdef const floating* g
    cdef floating* dg
    cdef bint alias = dhin == dh
    for b in range(n):
        g = gates + b * G2
        dg = dG + b * G2
        for j in range(H):
            nv = g[H + j]
            dg[H + j] = dh[b * H + j] * g[j] * (1 - nv * nv)
    # d(f * h_in) = dn @ W_hn     (n, H) = (n, H)(H, H)
    backward_product(s, n, dG + H, G2, W_hh, work, False, True)
    for b in range(n):
        g = gates + b * G2
        dg = dG + b * G2
        if alias:   # two loops, so that each vectorises
            for j in range(H):
                k = b * H + j
                d = dh[k]
                f = g[j]
                daux = work[k]
                df = d * (g[H + j] - h_prev[k]) + daux * h_in[k]
                dg[j] = df * f * (1 - f)
                dh[k] = d * (1 - f) + daux * f
        else:
            for j in range(H):
                k = b * H + j
                d = dh[k]
                f = g[j]
                daux = work[k]
                df = d * (g[H + j] - h_prev[k]) + daux * h_in[k]
                dg[j] = df * f * (1 - f)
                dh[k] = d * (1 - f)
                dhin[k] = daux * f
    # dh_in += dG[:, :H] @ W_hf   (n, H) += (n, H)(H, H)
    backward_product(s, n, dG, G2, W_hh, dhin, True, False)


# --------------------------------------------------------------------------
# The one cell interface the driver calls: the kernel table.
# --------------------------------------------------------------------------

cdef void cell_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                       const floating* h_prev, const floating* h_in, floating* h,
                       const floating* c_prev, floating* c,
                       floating* aux, floating* work,
                       const floating* W_hh, const floating* bias,
                       const floating* b_sep,
                       const floating* extra) noexcept nogil:
    cell_forward_units(s, n, gates, h_prev, h_in, h, c_prev, c, aux, work, W_hh, bias,
                       b_sep, extra, 0, s.H)


cdef void cell_forward_units(const CellSpec* s, Py_ssize_t n, floating* gates,
                             const floating* h_prev, const floating* h_in, floating* h,
                             const floating* c_prev, floating* c,
                             floating* aux, floating* work,
                             const floating* W_hh, const floating* bias,
                             const floating* b_sep,
                             const floating* extra,
                             Py_ssize_t u0, Py_ssize_t u1) noexcept nogil:
    """cell_forward on units u0 .. u1-1 of every gate block; a part of the
    units only for kinds with ``s.unitwise`` (the others take 0, H)."""
    cdef Py_ssize_t GH = s.G * s.H, H = s.H, b, j, q
    cdef floating* row
    for b in range(n):
        row = gates + b * GH
        if u1 - u0 == H:
            for j in range(GH):
                row[j] += bias[j]
        else:
            for q in range(s.G):
                for j in range(q * H + u0, q * H + u1):
                    row[j] += bias[j]
    if s.kind == CELL_RNN:
        rnn_forward(s, n, gates, h_in, h, W_hh)
    elif s.kind == CELL_GRU:
        gru_forward(s, n, gates, h_prev, h_in, h, aux, work, W_hh, b_sep)
    elif s.kind == CELL_LSTM:
        lstm_forward(s, n, gates, h_in, h, c_prev, c, aux, W_hh, extra, u0, u1)
    elif s.kind == CELL_MGU:
        mgu_forward(s, n, gates, h_prev, h_in, h, aux, W_hh)


cdef void cell_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                        const floating* dy, floating* dh, floating* dhin, floating* dc,
                        const floating* h_prev, const floating* h_in, const floating* h,
                        const floating* c_prev, const floating* c,
                        const floating* aux, floating* dG, floating* dGH,
                        floating* work, const floating* W_hh,
                        const floating* extra, floating* dextra) noexcept nogil:
    cdef Py_ssize_t i
    if dy != NULL:   # the step's output gradient joins the one from step t+1
        for i in range(n * s.H):
            dh[i] += dy[i]
    if s.kind == CELL_RNN:
        rnn_backward(s, n, dh, dhin, h, dG, W_hh)
    elif s.kind == CELL_GRU:
        gru_backward(s, n, gates, dh, dhin, h_prev, h_in, aux, dG, dGH, work, W_hh)
    elif s.kind == CELL_LSTM:
        lstm_backward(s, n, gates, dh, dhin, dc, c_prev, c, aux, dG, W_hh, extra, dextra)
    elif s.kind == CELL_MGU:
        mgu_backward(s, n, gates, dh, dhin, h_prev, h_in, dG, work, W_hh)

"""One time step of each cell kind, forward and backward.

Design: this module is the only place that knows a cell's equations.  The
time-loop driver (_recurrent.pyx) hands each kernel the rows of one step:

* ``gates`` (n, G*H): on entry the input projection ``x @ W_ih.T``; on exit
  the gate values after their activations, kept for the backward pass.
* ``bias`` (G*H): what ``cell_forward`` adds to the projection first:
  ``b_ih + b_hh``, except the GRU's ``b_hn`` when ``reset_after``, which sits
  inside ``r * (...)`` and comes separately.  Added here, on rows already in
  cache, rather than broadcast over the whole projection buffer beforehand.
* ``h_prev``, ``h`` (n, H) and, for the LSTM, ``c_prev``, ``c`` (n, H).
* ``aux`` (n, H): the one extra per-step value a cell's backward needs:
  GRU reset_after: ``W_hn h + b_hn``; GRU reset_before: ``r * h_prev``;
  LSTM: ``tanh(c)``.  Unused by the RNN.
* ``work`` (n, G*H): scratch for hidden-side products.

Backward kernels read ``dy`` (gradient on this step's output, or NULL) and
``dh``/``dc`` (gradient flowing back from step t+1), write the pre-activation
gate gradients ``dG`` (n, G*H) and replace ``dh``/``dc`` with the gradient on
``h_prev``/``c_prev``.  For the GRU with reset_after the hidden side sees a
different gradient in the n block (``dn * r``): it goes to ``dGH``.

Derivatives use the saved outputs (``1 - t*t`` for tanh, ``s*(1-s)`` for the
logistic), never a second call to exp.
"""

from libc.string cimport memcpy

from seqcore._blas cimport gemm, NoTrans, Transpose


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


cdef size_t packed_size(Py_ssize_t K, Py_ssize_t N, bint double_precision) noexcept nogil:
    """Entries of the packed form of a (K, N) matrix."""
    return sc_packed_size_d(K, N) if double_precision else sc_packed_size_f(K, N)


cdef void pack(Py_ssize_t K, Py_ssize_t N, const floating* B, Py_ssize_t rs,
               Py_ssize_t cs, floating* P) noexcept nogil:
    """P <- the (K, N) matrix with entries B[k * rs + j * cs], packed."""
    if floating is float:
        sc_pack_f(K, N, B, rs, cs, P)
    else:
        sc_pack_d(K, N, B, rs, cs, P)


# The per-step hidden products.  W_hh is (G*H, H); the packed forms hold all
# of it, so these serve the products over all gates (every cell but the GRU
# with reset_before, which calls the BLAS on the blocks it needs).

cdef inline void times_W_t(const CellSpec* s, Py_ssize_t n, Py_ssize_t N,
                           const floating* A, Py_ssize_t lda, const floating* W_hh,
                           floating* C, Py_ssize_t ldc, bint accumulate) noexcept nogil:
    """C (n, N) = A (n, H) @ W_hh[:N].T, or += when accumulate."""
    if s.Wf == NULL:
        gemm(NoTrans, Transpose, n, N, s.H, 1, A, lda, W_hh, s.H,
             1 if accumulate else 0, C, ldc)
    elif floating is float:
        sc_matmul_packed_f(n, N, s.H, A, lda, <const float*> s.Wf, C, ldc, accumulate)
    else:
        sc_matmul_packed_d(n, N, s.H, A, lda, <const double*> s.Wf, C, ldc, accumulate)


cdef inline void times_W(const CellSpec* s, Py_ssize_t n, Py_ssize_t K,
                         const floating* A, Py_ssize_t lda, const floating* W_hh,
                         floating* C, Py_ssize_t ldc, bint accumulate) noexcept nogil:
    """C (n, H) = A (n, K) @ W_hh[:K], or += when accumulate."""
    if s.Wb == NULL:
        gemm(NoTrans, NoTrans, n, s.H, K, 1, A, lda, W_hh, s.H,
             1 if accumulate else 0, C, ldc)
    elif floating is float:
        sc_matmul_packed_f(n, s.H, K, A, lda, <const float*> s.Wb, C, ldc, accumulate)
    else:
        sc_matmul_packed_d(n, s.H, K, A, lda, <const double*> s.Wb, C, ldc, accumulate)


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


cdef int n_gates(int kind) noexcept nogil:
    if kind == CELL_GRU:
        return 3
    if kind == CELL_LSTM:
        return 4
    return 1


cdef inline void add_output_gradient(Py_ssize_t m, floating* dh,
                                     const floating* dy) noexcept nogil:
    """dh += dy: the step's output gradient joins the one from step t+1."""
    cdef Py_ssize_t i
    if dy != NULL:
        for i in range(m):
            dh[i] += dy[i]


# --------------------------------------------------------------------------
# RNN: h = act(W_ih x + b_ih + W_hh h_prev + b_hh)
# --------------------------------------------------------------------------

cdef void rnn_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                      const floating* h_prev, floating* h,
                      const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, i
    # gates += h_prev @ W_hh.T      (n, H) += (n, H)(H, H)
    times_W_t(s, n, H, h_prev, H, W_hh, gates, H, True)
    if s.relu:
        for i in range(n * H):
            h[i] = relu(gates[i])
    else:
        memcpy(h, gates, n * H * sizeof(floating))
        tanh_(h, n * H)


cdef void rnn_backward(const CellSpec* s, Py_ssize_t n, const floating* dy,
                       floating* dh, const floating* h, floating* dG,
                       const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, i
    add_output_gradient(n * H, dh, dy)
    if s.relu:
        for i in range(n * H):
            dG[i] = dh[i] if h[i] > 0 else 0
    else:
        for i in range(n * H):
            dG[i] = dh[i] * (1 - h[i] * h[i])
    # dh_prev = dG @ W_hh           (n, H) = (n, H)(H, H)
    times_W(s, n, H, dG, H, W_hh, dh, H, False)


# --------------------------------------------------------------------------
# GRU: r, z = sigma(...); n = tanh(x_n + r * (W_hn h + b_hn))  [reset_after]
#                         n = tanh(x_n + W_hn (r * h) + b_hn)  [reset_before]
#      h' = (1 - z) * n + z * h, computed as n + z * (h - n) like PyTorch.
# --------------------------------------------------------------------------

cdef void gru_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                      const floating* h_prev, floating* h, floating* aux,
                      floating* work, const floating* W_hh,
                      const floating* b_hn) noexcept nogil:
    cdef Py_ssize_t H = s.H, G3 = 3 * s.H, b, j
    cdef floating nv
    cdef floating* g
    cdef floating* w
    if s.reset_after:
        # work = h_prev @ W_hh.T    (n, 3H) = (n, H)(H, 3H)
        times_W_t(s, n, G3, h_prev, H, W_hh, work, G3, False)
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
    else:
        # work[:, :2H] = h_prev @ W_hr,z.T      (n, 2H) = (n, H)(H, 2H)
        gemm(NoTrans, Transpose, n, 2 * H, H, 1, h_prev, H, W_hh, H, 0, work, G3)
        for b in range(n):
            g = gates + b * G3
            w = work + b * G3
            for j in range(2 * H):
                g[j] += w[j]
            sigmoid_(g, 2 * H)                       # r, z
            for j in range(H):
                aux[b * H + j] = g[j] * h_prev[b * H + j]
        # work[:, 2H:] = (r * h_prev) @ W_hn.T  (n, H) = (n, H)(H, H)
        gemm(NoTrans, Transpose, n, H, H, 1, aux, H, W_hh + 2 * H * H, H, 0,
             work + 2 * H, G3)
        for b in range(n):
            g = gates + b * G3
            w = work + b * G3
            for j in range(H):
                g[2 * H + j] += w[2 * H + j]
            tanh_(g + 2 * H, H)                      # n
            for j in range(H):
                nv = g[2 * H + j]
                h[b * H + j] = nv + g[H + j] * (h_prev[b * H + j] - nv)


cdef void gru_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                       const floating* dy, floating* dh,
                       const floating* h_prev, const floating* aux,
                       floating* dG, floating* dGH, floating* work,
                       const floating* W_hh) noexcept nogil:
    cdef Py_ssize_t H = s.H, G3 = 3 * s.H, b, j, k
    cdef floating d, r, z, nv, dn, dr, drh
    cdef const floating* g
    cdef floating* dg
    cdef floating* dgh
    cdef bint after = s.reset_after
    add_output_gradient(n * H, dh, dy)
    for b in range(n):
        g = gates + b * G3
        dg = dG + b * G3
        dgh = dGH + b * G3
        if after:   # two loops, so that each vectorises
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
        else:
            for j in range(H):
                k = b * H + j
                d = dh[k]
                z = g[H + j]
                nv = g[2 * H + j]
                dg[H + j] = d * (h_prev[k] - nv) * z * (1 - z)
                dg[2 * H + j] = d * (1 - z) * (1 - nv * nv)
                dh[k] = d * z
    if after:
        # dh_prev += dGH @ W_hh     (n, H) += (n, 3H)(3H, H)
        times_W(s, n, G3, dGH, G3, W_hh, dh, H, True)
        return
    # d(r * h_prev) = dn @ W_hn     (n, H) = (n, H)(H, H)
    gemm(NoTrans, NoTrans, n, H, H, 1, dG + 2 * H, G3, W_hh + 2 * H * H, H, 0,
         work, H)
    for b in range(n):
        g = gates + b * G3
        dg = dG + b * G3
        for j in range(H):
            k = b * H + j
            r = g[j]
            drh = work[k]
            dg[j] = drh * h_prev[k] * r * (1 - r)
            dh[k] += drh * r
    # dh_prev += dG[:, :2H] @ W_hr,z   (n, H) += (n, 2H)(2H, H)
    gemm(NoTrans, NoTrans, n, H, 2 * H, 1, dG, G3, W_hh, H, 1, dh, H)


# --------------------------------------------------------------------------
# LSTM: i, f, g, o = sigma, sigma, tanh, sigma; c' = f c + i g; h' = o tanh(c')
# peepholes: i, f see c_prev, o sees c'; peep rows are (p_i, p_f, p_o).
# --------------------------------------------------------------------------

cdef void lstm_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                       const floating* h_prev, floating* h,
                       const floating* c_prev, floating* c, floating* aux,
                       const floating* W_hh, const floating* peep) noexcept nogil:
    cdef Py_ssize_t H = s.H, G4 = 4 * s.H, b, j
    cdef floating* g
    cdef const floating* cp
    cdef floating* cn
    cdef floating* tc
    # gates += h_prev @ W_hh.T      (n, 4H) += (n, H)(H, 4H)
    times_W_t(s, n, G4, h_prev, H, W_hh, gates, G4, True)
    for b in range(n):
        g = gates + b * G4
        cp = c_prev + b * H
        cn = c + b * H
        tc = aux + b * H
        if s.peephole:
            for j in range(H):
                g[j] += peep[j] * cp[j]
                g[H + j] += peep[H + j] * cp[j]
        sigmoid_(g, 2 * H)                           # i, f
        tanh_(g + 2 * H, H)                          # g
        for j in range(H):
            cn[j] = g[H + j] * cp[j] + g[j] * g[2 * H + j]
        if s.peephole:
            for j in range(H):
                g[3 * H + j] += peep[2 * H + j] * cn[j]
        sigmoid_(g + 3 * H, H)                       # o
        memcpy(tc, cn, H * sizeof(floating))
        tanh_(tc, H)
        for j in range(H):
            h[b * H + j] = g[3 * H + j] * tc[j]


cdef void lstm_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                        const floating* dy, floating* dh, floating* dc,
                        const floating* c_prev, const floating* c,
                        const floating* aux, floating* dG,
                        const floating* W_hh, const floating* peep,
                        floating* dpeep) noexcept nogil:
    cdef Py_ssize_t H = s.H, G4 = 4 * s.H, b, j, k
    cdef floating d, ig, fg, gg, og, tc, dcn, di, df, do
    cdef const floating* g
    cdef floating* dg
    add_output_gradient(n * H, dh, dy)
    for b in range(n):
        g = gates + b * G4
        dg = dG + b * G4
        if s.peephole:
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
    # dh_prev = dG @ W_hh           (n, H) = (n, 4H)(4H, H)
    times_W(s, n, G4, dG, G4, W_hh, dh, H, False)


# --------------------------------------------------------------------------
# The one cell interface the driver calls.
# --------------------------------------------------------------------------

cdef void cell_forward(const CellSpec* s, Py_ssize_t n, floating* gates,
                       const floating* h_prev, floating* h,
                       const floating* c_prev, floating* c,
                       floating* aux, floating* work,
                       const floating* W_hh, const floating* bias,
                       const floating* b_hn,
                       const floating* peep) noexcept nogil:
    cdef Py_ssize_t GH = s.G * s.H, b, j
    cdef floating* row
    for b in range(n):
        row = gates + b * GH
        for j in range(GH):
            row[j] += bias[j]
    if s.kind == CELL_RNN:
        rnn_forward(s, n, gates, h_prev, h, W_hh)
    elif s.kind == CELL_GRU:
        gru_forward(s, n, gates, h_prev, h, aux, work, W_hh, b_hn)
    else:
        lstm_forward(s, n, gates, h_prev, h, c_prev, c, aux, W_hh, peep)


cdef void cell_backward(const CellSpec* s, Py_ssize_t n, const floating* gates,
                        const floating* dy, floating* dh, floating* dc,
                        const floating* h_prev, const floating* h,
                        const floating* c_prev, const floating* c,
                        const floating* aux, floating* dG, floating* dGH,
                        floating* work, const floating* W_hh,
                        const floating* peep, floating* dpeep) noexcept nogil:
    if s.kind == CELL_RNN:
        rnn_backward(s, n, dy, dh, h, dG, W_hh)
    elif s.kind == CELL_GRU:
        gru_backward(s, n, gates, dy, dh, h_prev, aux, dG, dGH, work, W_hh)
    else:
        lstm_backward(s, n, gates, dy, dh, dc, c_prev, c, aux, dG, W_hh,
                      peep, dpeep)

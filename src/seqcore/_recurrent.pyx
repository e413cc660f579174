"""The time-loop driver: one layer, one direction, forward and backward.

Design: the Python layer (python/seqcore/nn/_layers.py) sorts the batch by
decreasing length and lays it out time-major, so at step t the samples still
running are rows ``0 .. n_active[t] - 1``: padded steps are never computed
(PyTorch's packed sequences, without the packing).  It allocates every
buffer; this module only fills them, with the GIL released and nothing
allocated inside the loops.

Buffers (B batch, T steps, I input, H hidden, G gates, GH = G * H):

* ``Hs`` (T+1, B, H): ``Hs[0]`` the initial state, ``Hs[t+1]`` the output of
  step t (0 at padded positions).  ``Hs[:T]`` is the matrix of previous
  states for the weight gradient.
* ``Cs``: LSTM cell states, laid out like ``Hs`` when training; two rows
  used in turn at inference.
* ``gates`` (T, B, GH): the input projection of all steps, then the gate
  activations.  ``aux`` (T, B, H): the extra per-step value of a cell (see
  _cells.pyx); one row at inference.

Forward: one GEMM for the input projection of all steps, then per step the
hidden-side product and the gate math (_cells.pyx).  Backward: per step the
gate gradients and ``dh @ W_hh``; after the loop one GEMM for each of
``dX``, ``dW_ih``, ``dW_hh``.
"""

from cython cimport floating
from libc.string cimport memcpy, memset

from seqcore._blas cimport (gemm, colsum, NoTrans, Transpose,
                            serial_blas_begin, serial_blas_end)
from seqcore._cells cimport (CellSpec, CELL_GRU, CELL_LSTM, n_gates,
                             cell_forward, cell_backward)


# Per-step products smaller than this (B * G*H * H multiply-adds) run on one
# BLAS thread: below it the thread hand-off costs more than it saves
# (measured in benchmarks/bench_rnn.py).
cdef long SERIAL_STEP_WORK = 1 << 23


cdef CellSpec make_spec(int kind, int H, bint relu, bint reset_after,
                        bint peephole) noexcept nogil:
    cdef CellSpec s
    s.kind = kind
    s.H = H
    s.G = n_gates(kind)
    s.relu = relu
    s.reset_after = reset_after
    s.peephole = peephole
    return s


def forward(int kind, bint relu, bint reset_after, bint peephole, bint training,
            const floating[:, :, ::1] X,
            const int[::1] n_active,
            const floating[:, ::1] W_ih,
            const floating[:, ::1] W_hh,
            const floating[::1] b_ih,
            const floating[::1] b_hh,
            const floating[:, ::1] peep,
            floating[:, :, ::1] Hs,
            floating[:, :, ::1] Cs,
            floating[:, :, ::1] gates,
            floating[:, :, ::1] aux,
            floating[:, ::1] work,
            floating[:, ::1] h_n,
            floating[:, ::1] c_n):
    """Run one layer in one direction over a time-major, length-sorted batch.

    On entry ``Hs[0]`` (and ``Cs[0]`` for the LSTM) hold the initial state.
    Fills ``Hs[1:]``, ``gates``, ``aux`` (all steps when ``training``) and the
    final states ``h_n``, ``c_n`` (each sample's state at its own last step).
    """
    cdef CellSpec s = make_spec(kind, W_hh.shape[1], relu, reset_after, peephole)
    cdef int T = X.shape[0], B = X.shape[1], I = X.shape[2]
    cdef int H = s.H, GH = s.G * s.H, BH = B * H
    cdef int t, n, n_next, j, row
    cdef bint serial
    cdef bint lstm = kind == CELL_LSTM
    cdef bint split_bhn = kind == CELL_GRU and reset_after
    cdef floating* G_ = &gates[0, 0, 0]
    cdef floating* Hp = &Hs[0, 0, 0]
    cdef floating* Cp = &Cs[0, 0, 0] if lstm else NULL
    cdef floating* A = &aux[0, 0, 0] if aux.shape[0] > 0 else NULL
    cdef floating* c_prev = NULL
    cdef floating* c = NULL
    cdef floating* a = A
    cdef const floating* P = &peep[0, 0] if peephole else NULL
    cdef const floating* b_hn = &b_hh[2 * H] if split_bhn else NULL

    with nogil:
        # gates = X @ W_ih.T + b_ih + b_hh     (T*B, GH) = (T*B, I)(I, GH)
        # (the GRU's b_hn stays out when reset_after: it sits inside r * (...))
        for j in range(GH):
            work[0, j] = b_ih[j] + (0 if split_bhn and j >= 2 * H else b_hh[j])
        for row in range(T * B):
            memcpy(G_ + <size_t> row * GH, &work[0, 0], GH * sizeof(floating))
        gemm(NoTrans, Transpose, T * B, GH, I, 1, &X[0, 0, 0], I,
             &W_ih[0, 0], I, 1, G_, GH)

        serial = <long> B * GH * H < SERIAL_STEP_WORK
        if serial:
            serial_blas_begin()
        for t in range(T):
            n = n_active[t]
            if lstm:
                if training:
                    c_prev = Cp + <size_t> t * BH
                    c = c_prev + BH
                else:
                    c_prev = Cp + (t % 2) * BH
                    c = Cp + ((t + 1) % 2) * BH
            if training and A != NULL:
                a = A + <size_t> t * BH
            cell_forward(&s, n, G_ + <size_t> t * B * GH,
                         Hp + <size_t> t * BH, Hp + <size_t> (t + 1) * BH,
                         c_prev, c, a, &work[0, 0], &W_hh[0, 0], b_hn, P)
            # rows n_next .. n - 1 took their last step: keep their state
            n_next = n_active[t + 1] if t + 1 < T else 0
            if n > n_next:
                memcpy(&h_n[n_next, 0], Hp + <size_t> (t + 1) * BH + n_next * H,
                       (n - n_next) * H * sizeof(floating))
                if lstm:
                    memcpy(&c_n[n_next, 0], c + n_next * H,
                           (n - n_next) * H * sizeof(floating))
        if serial:
            serial_blas_end()


def backward(int kind, bint relu, bint reset_after, bint peephole,
             const floating[:, :, ::1] X,
             const int[::1] n_active,
             const floating[:, ::1] W_ih,
             const floating[:, ::1] W_hh,
             const floating[:, ::1] peep,
             const floating[:, :, ::1] Hs,
             const floating[:, :, ::1] Cs,
             const floating[:, :, ::1] gates,
             const floating[:, :, ::1] aux,
             const floating[:, :, ::1] dY,
             const floating[:, ::1] dh_n,
             const floating[:, ::1] dc_n,
             floating[:, :, ::1] dG,
             floating[:, :, ::1] dGH,
             floating[:, ::1] work,
             floating[:, ::1] dh,
             floating[:, ::1] dc,
             floating[:, :, ::1] dX,
             floating[:, ::1] dW_ih,
             floating[:, ::1] dW_hh,
             floating[::1] db_ih,
             floating[::1] db_hh,
             floating[:, ::1] dpeep):
    """Backpropagate through time over the buffers a training forward filled.

    ``dY`` (T, B, H) is the gradient on the outputs, or empty for none;
    ``dh_n``/``dc_n`` (B, H) the gradient on the final states, or empty.
    ``dG`` (and ``dGH`` for the GRU with reset_after) must come zeroed: the
    rows of padded steps stay 0 so they drop out of the weight GEMMs.
    Writes ``dh``/``dc`` (gradient on the initial state), ``dX`` and every
    parameter gradient (overwritten, not accumulated).
    """
    cdef CellSpec s = make_spec(kind, W_hh.shape[1], relu, reset_after, peephole)
    cdef int T = X.shape[0], B = X.shape[1], I = X.shape[2]
    cdef int H = s.H, GH = s.G * s.H, BH = B * H, TB = T * B
    cdef int t, n, n_next
    cdef bint serial
    cdef bint lstm = kind == CELL_LSTM
    cdef bint gru_after = kind == CELL_GRU and reset_after
    cdef bint gru_before = kind == CELL_GRU and not reset_after
    cdef floating* dGp = &dG[0, 0, 0]
    # the gradient the hidden side sees; differs from dG only for gru_after
    cdef floating* dGh = &dGH[0, 0, 0] if gru_after else dGp
    cdef const floating* Hp = &Hs[0, 0, 0]
    cdef const floating* Cp = &Cs[0, 0, 0] if lstm else NULL
    cdef const floating* A = &aux[0, 0, 0] if aux.shape[0] > 0 else NULL
    cdef const floating* dYp = &dY[0, 0, 0] if dY.shape[0] > 0 else NULL
    cdef bint has_dhn = dh_n.shape[0] > 0
    cdef bint has_dcn = lstm and dc_n.shape[0] > 0
    cdef const floating* P = &peep[0, 0] if peephole else NULL
    cdef floating* dP = &dpeep[0, 0] if peephole else NULL
    cdef floating* dcp = &dc[0, 0] if lstm else NULL

    with nogil:
        memset(&dh[0, 0], 0, BH * sizeof(floating))
        if lstm:
            memset(dcp, 0, BH * sizeof(floating))
        if peephole:
            memset(dP, 0, 3 * H * sizeof(floating))
        serial = <long> B * GH * H < SERIAL_STEP_WORK
        if serial:
            serial_blas_begin()
        for t in range(T - 1, -1, -1):
            n = n_active[t]
            n_next = n_active[t + 1] if t + 1 < T else 0
            # rows n_next .. n - 1 end at step t: the final-state gradient
            # enters there (their dh, dc are still 0)
            if n > n_next and has_dhn:
                memcpy(&dh[n_next, 0], &dh_n[n_next, 0],
                       (n - n_next) * H * sizeof(floating))
            if n > n_next and has_dcn:
                memcpy(dcp + n_next * H, &dc_n[n_next, 0],
                       (n - n_next) * H * sizeof(floating))
            cell_backward(&s, n, &gates[t, 0, 0],
                          dYp + <size_t> t * BH if dYp != NULL else NULL,
                          &dh[0, 0], dcp,
                          Hp + <size_t> t * BH, Hp + <size_t> (t + 1) * BH,
                          Cp + <size_t> t * BH if lstm else NULL,
                          Cp + <size_t> (t + 1) * BH if lstm else NULL,
                          A + <size_t> t * BH if A != NULL else NULL,
                          dGp + <size_t> t * B * GH,
                          dGh + <size_t> t * B * GH,
                          &work[0, 0], &W_hh[0, 0], P, dP)
        if serial:
            serial_blas_end()

        # dX = dG @ W_ih                 (T*B, I) = (T*B, GH)(GH, I)
        gemm(NoTrans, NoTrans, TB, I, GH, 1, dGp, GH, &W_ih[0, 0], I, 0,
             &dX[0, 0, 0], I)
        # dW_ih = dG.T @ X               (GH, I) = (GH, T*B)(T*B, I)
        gemm(Transpose, NoTrans, GH, I, TB, 1, dGp, GH, &X[0, 0, 0], I, 0,
             &dW_ih[0, 0], I)
        if gru_before:
            # dW_hr,z = dG[:, :2H].T @ Hs[:T]   (2H, H) = (2H, T*B)(T*B, H)
            gemm(Transpose, NoTrans, 2 * H, H, TB, 1, dGp, GH, Hp, H, 0,
                 &dW_hh[0, 0], H)
            # dW_hn = dG[:, 2H:].T @ (r * h_prev)   (H, H) = (H, T*B)(T*B, H)
            gemm(Transpose, NoTrans, H, H, TB, 1, dGp + 2 * H, GH, A, H, 0,
                 &dW_hh[2 * H, 0], H)
        else:
            # dW_hh = dGh.T @ Hs[:T]     (GH, H) = (GH, T*B)(T*B, H)
            gemm(Transpose, NoTrans, GH, H, TB, 1, dGh, GH, Hp, H, 0,
                 &dW_hh[0, 0], H)
        colsum(TB, GH, dGp, GH, &db_ih[0])
        colsum(TB, GH, dGh, GH, &db_hh[0])

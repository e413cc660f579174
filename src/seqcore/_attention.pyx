"""Attention of a batch of queries over a batch of key sequences, forward and backward.

Design: a query q (Hq,) attends over the keys K (S, Hk) of its own source
sequence, of which the first L = lengths[b] positions are valid:

* additive (Bahdanau): ``e_s = v . tanh(qp + Kp_s)`` with ``qp = W_q q``
  (P = A, the attention size) and ``Kp = K @ W_k.T`` (S, A);
* dot (Luong): ``e_s = q . K_s`` (Kp is K itself, Hq = Hk);
* general (Luong): ``e_s = q . Kp_s`` with ``Kp = K @ W.T`` (S, Hq), which is
  ``q^T W K_s``: the keys are projected once, not the query at every step.

then ``w = softmax(e)`` over the valid positions (0 on the padding) and the
context ``c = w @ K`` (Hk,).  The key projection Kp is one GEMM over all
B*S keys, done by the caller (it does not change while a decoder attends
over the same keys at every step); so is its backward.

Buffers (B rows of queries, S source positions, P the projected width):

* ``q`` (B, Hq), ``K`` (B, S, Hk), ``Kp`` (B, S, P), ``lengths`` (B,).
* ``Z`` (B, S, A): ``tanh(qp + Kp)`` of the additive kind, kept for the
  backward pass when training (else one row of scratch).
* ``w`` (B, S): the attention weights; ``ctx`` (B, Hk): the contexts.

The cdef functions (``attend_rows``, ``attend_backward_rows``) work on rows
and raw pointers, without the GIL and without allocating, for the decoder
loop (_decoder.pyx); a query row may read another row's keys (``src``: the
beams of beam search share their input's keys).  The ``def`` entry points
serve ``seqcore.nn.Attention``: they check every shape first (the loops
trust them), then run the rows and the query-side products.

Backward, from dctx (B, Hk) and an optional dw (B, S)::

    da_s = dctx . K_s + dw_s          dK_s += w_s dctx
    de_s = w_s (da_s - sum_s' w_s' da_s')          (the softmax)
    additive: dz = de_s v (1 - z*z);  dqp += dz;  dKp_s += dz;  dv += de_s z
    dot/general: dq += de_s Kp_s;  dKp_s += de_s q
    additive: dq = dqp @ W_q;  dW_q = dqp.T @ q      (after the rows)
"""

from cython cimport floating
from libc.math cimport exp
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from seqcore._blas cimport (gemm, NoTrans, Transpose,
                            serial_blas_begin, serial_blas_end)
from seqcore._checks cimport check_shape, check_blas_ld


cdef extern from "seqcore/activations.h" nogil:
    void sc_tanh_inplace_f(float* x, Py_ssize_t n)
    void sc_tanh_inplace_d(double* x, Py_ssize_t n)


cdef inline void tanh_(floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        sc_tanh_inplace_f(x, n)
    else:
        sc_tanh_inplace_d(x, n)


cdef inline floating dot_(const floating* a, const floating* b, Py_ssize_t n) noexcept nogil:
    """sum(a[j] * b[j]) with eight running sums: a single sum is one chain
    of dependent additions that the compiler may not reorder (no
    -ffast-math), so it cannot vectorise; eight independent ones fill the
    vector units.  The order is fixed: results are the same on every run."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0
    cdef Py_ssize_t j = 0
    while j + 8 <= n:
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
        j += 8
    while j < n:
        s0 += a[j] * b[j]
        j += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


cdef void attend_rows(const AttnSpec* a, Py_ssize_t n, const floating* q,
                      const floating* qp, const floating* K, const floating* Kp,
                      const Py_ssize_t* src, const int64_t* lengths,
                      const floating* v, floating* Z, bint keep_z,
                      floating* w, floating* ctx, Py_ssize_t ldctx) noexcept nogil:
    """Weights w[r] (S,) and context ctx[r] (Hk,, row stride ldctx) of rows
    r < n.  Row r reads the keys of source row ``src[r]`` (r when src is
    NULL) and its length.  ``qp`` (n, P): the projected queries (additive);
    ``Z``: (n, S, P) kept when ``keep_z``, else (S, P) scratch."""
    cdef Py_ssize_t S = a.S, Hq = a.Hq, Hk = a.Hk, P = a.P
    cdef Py_ssize_t r, b, s, j, L
    cdef floating* wr
    cdef floating* zr
    cdef floating* z
    cdef floating* c
    cdef const floating* Kb
    cdef const floating* Kpb
    cdef const floating* qr
    cdef floating e, ws
    cdef double m, total, inv
    for r in range(n):
        b = src[r] if src != NULL else r
        L = lengths[b]
        wr = w + r * S
        Kb = K + b * S * Hk
        Kpb = Kp + b * S * P
        if a.kind == ATTN_ADDITIVE:
            # Z = tanh(qp + Kp)   (L, A);  e = Z @ v   (L,) = (L, A)(A,)
            zr = Z + (r * S * P if keep_z else 0)
            qr = qp + r * P
            for s in range(L):
                z = zr + s * P
                for j in range(P):
                    z[j] = qr[j] + Kpb[s * P + j]
            tanh_(zr, L * P)
            for s in range(L):
                wr[s] = dot_(v, zr + s * P, P)
        else:
            # e = Kp @ q   (L,) = (L, P)(P,)
            qr = q + r * Hq
            for s in range(L):
                wr[s] = dot_(qr, Kpb + s * P, P)
        # masked softmax over the L valid positions
        m = wr[0]
        for s in range(1, L):
            if wr[s] > m:
                m = wr[s]
        total = 0
        for s in range(L):
            e = <floating> exp(wr[s] - m)
            wr[s] = e
            total += e
        inv = 1.0 / total
        for s in range(L):
            wr[s] = <floating> (wr[s] * inv)
        for s in range(L, S):
            wr[s] = 0
        # c = w @ K   (Hk,) = (L,)(L, Hk)
        c = ctx + r * ldctx
        for j in range(Hk):
            c[j] = 0
        for s in range(L):
            ws = wr[s]
            for j in range(Hk):
                c[j] = c[j] + ws * Kb[s * Hk + j]


cdef void attend_backward_rows(const AttnSpec* a, Py_ssize_t n, const floating* q,
                               const floating* K, const floating* Kp,
                               const int64_t* lengths, const floating* v,
                               const floating* Z, const floating* w,
                               const floating* dctx, Py_ssize_t lddctx,
                               const floating* dw, floating* de,
                               floating* dq, floating* dqp,
                               floating* dK, floating* dKp, floating* dv) noexcept nogil:
    """Backward of ``attend_rows`` for rows r < n reading source row r.

    ``dctx`` (n, Hk) with row stride lddctx; ``dw`` (n, S) or NULL; ``de``
    (S,) scratch.  Adds into ``dK`` (n, S, Hk), ``dKp`` (n, S, P) (the same
    array as dK for the dot kind) and ``dv`` (P,); additive: writes ``dqp``
    (n, P) (the caller multiplies it by W_q); dot, general: adds into ``dq``
    (n, Hq).  Positions beyond a row's length are never touched."""
    cdef Py_ssize_t S = a.S, Hq = a.Hq, Hk = a.Hk, P = a.P
    cdef Py_ssize_t r, s, j, L
    cdef const floating* wr
    cdef const floating* dc
    cdef const floating* Kr
    cdef const floating* z
    cdef const floating* kp
    cdef const floating* qr
    cdef floating* dKr
    cdef floating* dkp
    cdef floating* dqr
    cdef floating da, ws, d, g
    cdef double total
    for r in range(n):
        L = lengths[r]
        wr = w + r * S
        dc = dctx + r * lddctx
        Kr = K + r * S * Hk
        dKr = dK + r * S * Hk
        total = 0
        for s in range(L):
            # da_s = dctx . K_s (+ dw_s);  dK_s += w_s dctx
            da = dot_(dc, Kr + s * Hk, Hk)
            if dw != NULL:
                da = da + dw[r * S + s]
            de[s] = da
            ws = wr[s]
            total += ws * da
            for j in range(Hk):
                dKr[s * Hk + j] += ws * dc[j]
        for s in range(L):
            de[s] = <floating> (wr[s] * (de[s] - total))
        if a.kind == ATTN_ADDITIVE:
            dqr = dqp + r * P
            for j in range(P):
                dqr[j] = 0
            for s in range(L):
                z = Z + (r * S + s) * P
                dkp = dKp + (r * S + s) * P
                d = de[s]
                for j in range(P):
                    g = d * v[j] * (1 - z[j] * z[j])
                    dqr[j] += g
                    dkp[j] += g
                    dv[j] += d * z[j]
        else:
            qr = q + r * Hq
            dqr = dq + r * Hq
            for s in range(L):
                d = de[s]
                kp = Kp + (r * S + s) * P
                dkp = dKp + (r * S + s) * P
                for j in range(P):
                    dqr[j] += d * kp[j]
                    dkp[j] += d * qr[j]


cdef AttnSpec make_spec(str fn, int kind, const Py_ssize_t* q_shape,
                        const Py_ssize_t* K_shape, const Py_ssize_t* Kp_shape,
                        const Py_ssize_t* Wq_shape, const Py_ssize_t* v_shape,
                        const Py_ssize_t* len_shape) except *:
    """The spec of a call, after checking every shape it implies."""
    cdef AttnSpec a
    cdef Py_ssize_t B = q_shape[0]
    if kind not in (ATTN_ADDITIVE, ATTN_DOT, ATTN_GENERAL):
        raise ValueError(f"{fn}: unknown attention kind {kind}")
    a.kind, a.Hq, a.S, a.Hk, a.P = kind, q_shape[1], K_shape[1], K_shape[2], Kp_shape[2]
    of = "B, Hq from q, S, Hk from K, P from Kp"
    check_shape(fn, "K", K_shape, (B, None, None), of)
    check_shape(fn, "Kp", Kp_shape, (B, a.S, None), of)
    check_shape(fn, "lengths", len_shape, (B,), of)
    if kind == ATTN_ADDITIVE:
        check_shape(fn, "W_q", Wq_shape, (a.P, a.Hq), of)
        check_shape(fn, "v", v_shape, (a.P,), of)
    elif kind == ATTN_DOT:
        check_shape(fn, "Kp", Kp_shape, (B, a.S, a.Hk), "the dot kind reads K itself")
        if a.Hq != a.Hk:
            raise ValueError(f"{fn}: the dot kind needs queries and keys of one size, got "
                             f"Hq={a.Hq}, Hk={a.Hk}")
    else:
        check_shape(fn, "Kp", Kp_shape, (B, a.S, a.Hq), of)
    for d in (a.Hq, a.Hk, a.P):
        check_blas_ld(fn, "a row length", d)
    return a


cdef int check_lengths(str fn, const int64_t[::1] lengths, Py_ssize_t S) except -1:
    cdef Py_ssize_t b
    for b in range(lengths.shape[0]):
        if not 1 <= lengths[b] <= S:
            raise ValueError(f"{fn}: lengths[{b}] = {lengths[b]} is outside [1, {S}]")
    return 0


def attend(int kind, const floating[:, ::1] q, const floating[:, ::1] W_q,
           const floating[::1] v, const floating[:, :, ::1] K,
           const floating[:, :, ::1] Kp, const int64_t[::1] lengths,
           floating[:, :, ::1] Z, floating[:, ::1] w, floating[:, ::1] ctx):
    """Attention weights ``w`` (B, S) and contexts ``ctx`` (B, Hk) of the
    queries ``q`` (B, Hq) over the keys ``K`` (B, S, Hk), given their
    projection ``Kp`` (B, S, P; K itself for the dot kind).

    ``W_q`` (A, Hq) and ``v`` (A,): the additive kind's (empty otherwise).
    ``Z`` (B, S, A): the additive kind's tanh values, kept for backward, or
    empty (inference).
    """
    cdef str fn = "attend"
    cdef AttnSpec a = make_spec(fn, kind, q.shape, K.shape, Kp.shape, W_q.shape, v.shape,
                                lengths.shape)
    cdef Py_ssize_t B = q.shape[0], S = a.S, P = a.P
    cdef bint keep = Z.shape[0] > 0, additive = kind == ATTN_ADDITIVE
    check_shape(fn, "w", w.shape, (B, S), "B from q, S from K")
    check_shape(fn, "ctx", ctx.shape, (B, a.Hk), "B from q, Hk from K")
    if keep and additive:
        check_shape(fn, "Z", Z.shape, (B, S, P), "B from q, S from K, A from Kp")
    check_lengths(fn, lengths, S)
    if B == 0:
        return
    cdef floating* qp = NULL
    cdef floating* zbuf = NULL
    cdef const floating* vp = &v[0] if additive else NULL
    with nogil:
        if additive:
            qp = <floating*> malloc(B * P * sizeof(floating))
            zbuf = &Z[0, 0, 0] if keep else <floating*> malloc(S * P * sizeof(floating))
            if qp == NULL or zbuf == NULL:
                free(qp)
                if not keep:
                    free(zbuf)
                with gil:
                    raise MemoryError(f"{fn}: no memory for ({B}, {P}) projected queries")
            serial_blas_begin()
            # qp = q @ W_q.T   (B, A) = (B, Hq)(Hq, A)
            gemm(NoTrans, Transpose, B, P, a.Hq, 1, &q[0, 0], a.Hq, &W_q[0, 0], a.Hq,
                 0, qp, P)
            serial_blas_end()
        attend_rows(&a, B, &q[0, 0], qp, &K[0, 0, 0], &Kp[0, 0, 0], NULL, &lengths[0],
                    vp, zbuf, keep, &w[0, 0], &ctx[0, 0], a.Hk)
        free(qp)
        if additive and not keep:
            free(zbuf)


def attend_backward(int kind, const floating[:, ::1] dctx, const floating[:, ::1] dw,
                    const floating[:, ::1] q, const floating[:, ::1] W_q,
                    const floating[::1] v, const floating[:, :, ::1] K,
                    const floating[:, :, ::1] Kp, const int64_t[::1] lengths,
                    const floating[:, :, ::1] Z, const floating[:, ::1] w,
                    floating[:, ::1] dq, floating[:, ::1] dW_q, floating[::1] dv,
                    floating[:, :, ::1] dK, floating[:, :, ::1] dKp):
    """Gradients of ``attend``'s outputs ``(ctx, w)`` back to its inputs.

    ``dctx`` (B, Hk); ``dw`` (B, S) or empty.  Overwrites ``dq`` (B, Hq),
    ``dK`` (B, S, Hk) and, but for the dot kind (whose Kp is K: its gradient
    goes to dK; pass dKp empty), ``dKp`` (B, S, P); the additive kind also
    ``dW_q`` (A, Hq) and ``dv`` (A,) (empty otherwise).  ``Z`` and ``w``
    are the forward pass's.  The caller takes the key projection's share:
    ``dK += dKp @ W_k`` and ``dW_k = dKp.T @ K``.
    """
    cdef str fn = "attend_backward"
    cdef AttnSpec a = make_spec(fn, kind, q.shape, K.shape, Kp.shape, W_q.shape, v.shape,
                                lengths.shape)
    cdef Py_ssize_t B = q.shape[0], S = a.S, P = a.P, Hq = a.Hq
    cdef bint additive = kind == ATTN_ADDITIVE, dot = kind == ATTN_DOT
    cdef str of = "B, Hq from q, S, Hk from K, P from Kp"
    check_shape(fn, "dctx", dctx.shape, (B, a.Hk), of)
    if dw.shape[0] > 0:
        check_shape(fn, "dw", dw.shape, (B, S), of)
    check_shape(fn, "w", w.shape, (B, S), of)
    check_shape(fn, "dq", dq.shape, (B, Hq), of)
    check_shape(fn, "dK", dK.shape, (B, S, a.Hk), of)
    if not dot:
        check_shape(fn, "dKp", dKp.shape, (B, S, P), of)
    if additive:
        check_shape(fn, "Z", Z.shape, (B, S, P), of)
        check_shape(fn, "dW_q", dW_q.shape, (P, Hq), of)
        check_shape(fn, "dv", dv.shape, (P,), of)
    check_lengths(fn, lengths, S)
    if B == 0:
        return
    cdef floating* dkp = &dK[0, 0, 0] if dot else &dKp[0, 0, 0]
    cdef floating* dqp = NULL
    cdef floating* de = NULL
    with nogil:
        de = <floating*> malloc(S * sizeof(floating))
        if additive:
            dqp = <floating*> malloc(B * P * sizeof(floating))
        if de == NULL or (additive and dqp == NULL):
            free(de)
            free(dqp)
            with gil:
                raise MemoryError(f"{fn}: no memory for ({B}, {P}) query gradients")
        memset(&dq[0, 0], 0, B * Hq * sizeof(floating))
        memset(&dK[0, 0, 0], 0, B * S * a.Hk * sizeof(floating))
        if not dot:
            memset(dkp, 0, B * S * P * sizeof(floating))
        if additive:
            memset(&dv[0], 0, P * sizeof(floating))
        attend_backward_rows(&a, B, &q[0, 0], &K[0, 0, 0], &Kp[0, 0, 0], &lengths[0],
                             &v[0] if additive else NULL,
                             &Z[0, 0, 0] if additive else NULL, &w[0, 0],
                             &dctx[0, 0], a.Hk, &dw[0, 0] if dw.shape[0] > 0 else NULL,
                             de, &dq[0, 0], dqp, &dK[0, 0, 0], dkp,
                             &dv[0] if additive else NULL)
        if additive:
            serial_blas_begin()
            # dq = dqp @ W_q    (B, Hq) = (B, A)(A, Hq)
            gemm(NoTrans, NoTrans, B, Hq, P, 1, dqp, P, &W_q[0, 0], Hq, 0, &dq[0, 0], Hq)
            # dW_q = dqp.T @ q  (A, Hq) = (A, B)(B, Hq)
            gemm(Transpose, NoTrans, P, Hq, B, 1, dqp, P, &q[0, 0], Hq, 0, &dW_q[0, 0], Hq)
            serial_blas_end()
        free(dqp)
        free(de)

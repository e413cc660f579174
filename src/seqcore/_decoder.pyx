"""The decoder loop of an encoder-decoder network with attention, in C.

Design: the decoder of ``seqcore.nn.Seq2Seq`` is one recurrent cell (any
kind: the cell kernels of _cells.pyx, read through their ``CellSpec``) that
attends over the encoder's outputs (_attention.pyx).  Its input at a step
depends on the step before (the previous state chooses the attention, the
previous output token is read next), so the steps run one after another;
this module runs all of them in one call, without the GIL and without
Python per step.  Step t (Bahdanau's order: the attention reads the
previous state)::

    ctx_t, w_t = attention(h_{t-1}, keys)                   # (B, Hk), (B, S)
    x_t = [emb[y_{t-1}], ctx_t]                              # (B, I), I = E + Hk
    h_t (, c_t) = cell(x_t @ W_ih.T + b, h_{t-1} (, c_{t-1}))
    o_t = [h_t, ctx_t]                                       # (B, O), O = H + Hk
    logits_t = o_t @ W_out.T + b_out                         # (B, V)

Buffers (T steps, B rows, S source positions, H hidden, G gates, GH = G*H,
A the additive attention's size, P the projected keys' width):

* ``Hs`` (T+1, B, H): ``Hs[0]`` the initial state, ``Hs[t+1]`` = h_t;
  ``Cs`` likewise for two-state kinds (else empty).
* ``X`` (T, B, I), ``gates`` (T, B, GH), ``aux`` (T, B, H): each step's
  input, gate values and the cell's saved value (see _cells.pyx).
* ``Z`` (T, B, S, A): the additive attention's tanh values (else empty);
  ``W`` (T, B, S): the attention weights; ``O`` (T, B, O): the outputs.
* ``K`` (B, S, Hk): the encoder's outputs (the keys); ``Kp`` (B, S, P) their
  projection (K itself for the dot kind), computed once by the caller.

Entry points:

* ``train_forward``: teacher forcing (the input at step t is the target of
  step t-1; ``ids`` holds them), where ``sample`` says so the step reads
  instead the model's own prediction of the step before (argmax of its
  logits over the allowed ids: scheduled sampling; gradients do not flow
  through the choice).  Keeps every step's values for
* ``train_backward``: backpropagation through the steps from the gradient on
  the outputs ``dO`` (the caller's output layer turned the loss gradient
  into it, in one GEMM over all steps); then
* ``weight_gradients``: one GEMM per weight gradient over all steps.
* ``greedy``: inference, most probable token at each step, until every row
  has written its end token or ``max_length`` tokens.
* ``step``: one inference step for rows that may share their keys (``src``:
  the beams of one input read its keys); beam search runs it once per step
  on all the beams of all the inputs at once.

Rows are independent: training and greedy decoding work on a range of rows
at a time (the weight gradients on a share of their output rows), so the
caller may run disjoint ranges on different threads at once; it cuts them
from the shapes alone.  The per-step products (x @ W_ih.T, h @ W_q.T,
o @ W_out.T, the cell's W_hh blocks, dG @ W_ih, dqp @ W_q) run on weights
packed once per call (include/seqcore/matmul.h): a BLAS call would re-pack
them at every step, and each entry of a packed product is one dot product
in k order whatever the number of rows, so results do not depend on how
the rows are cut.  The weight gradients after the loop are BLAS GEMMs on
one thread (serial_blas_begin/end): float32 products must round the same
for any thread count.  Every entry point checks the shapes it relies on
first.
"""

from cython cimport floating
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

from seqcore._attention cimport (AttnSpec, ATTN_ADDITIVE, ATTN_DOT, ATTN_GENERAL,
                                 attend_rows, attend_backward_rows)
from seqcore._blas cimport (gemm, colsum, NoTrans, Transpose,
                            serial_blas_begin, serial_blas_end)
from seqcore._cells cimport (CellSpec, kernel_layout, cell_forward, cell_backward,
                             packed_size, pack, matmul_packed)
from seqcore._checks cimport check_shape, check_blas_ld


cdef void* pack_new(Py_ssize_t K, Py_ssize_t N, const floating* B, Py_ssize_t rs,
                    Py_ssize_t cs) noexcept nogil:
    """A new packed copy of the (K, N) matrix with entries B[k * rs + j * cs]
    (include/seqcore/matmul.h), or NULL when out of memory."""
    cdef size_t size = packed_size(K, N, floating is double) * sizeof(floating)
    cdef void* P = malloc(size if size > 0 else 1)
    if P != NULL:
        pack(K, N, B, rs, cs, <floating*> P)
    return P


cdef inline void mm(Py_ssize_t m, Py_ssize_t N, Py_ssize_t K, const floating* A,
                    Py_ssize_t lda, const void* P, floating* C, Py_ssize_t ldc,
                    bint accumulate) noexcept nogil:
    """C (m, N) = A (m, K) @ (the packed matrix P), += when accumulate.  Each
    entry is one dot product in k order, whatever m: results do not depend
    on how the rows are cut."""
    matmul_packed(False, m, N, K, A, lda, <const floating*> P, C, ldc, accumulate)


ctypedef struct Dec:
    CellSpec cell
    AttnSpec att
    Py_ssize_t E, I, H, GH, V, O, Bs, Vin
    const void* emb       # (Vin, E)
    const void* W_ih      # (GH, I)
    const void* W_hh      # (GH, H)
    const void* bias      # (GH,): b_ih + b_hh, b_ih alone in a separate bias block
    const void* b_sep     # the separate bias block of b_hh, or NULL
    const void* extra     # (extra_rows, H) or NULL
    const void* W_q       # (A, H) (additive) or NULL
    const void* v         # (A,) (additive) or NULL
    const void* K         # (Bs, S, Hk)
    const void* Kp        # (Bs, S, P)
    const int64_t* lengths   # (Bs,)
    const void* W_out     # (V, O)
    const void* b_out     # (V,)
    # the weights of the per-step products, packed once per call (pack_dec):
    # x @ W_ih.T, h @ W_q.T, o @ W_out.T (forward), dG @ W_ih, dqp @ W_q
    # (backward); the cell's W_hh blocks go to cell.Wf/Wf2/Wb/Wb2
    void* P_ih
    void* P_q
    void* P_out
    void* P_ih_b
    void* P_q_b


cdef Dec make_dec(str fn, int kind, int flags, int attn_kind,
                  const floating[:, ::1] emb, const floating[:, ::1] W_ih,
                  const floating[:, ::1] W_hh, const floating[::1] bias,
                  const floating[::1] b_hh, const floating[:, ::1] extra,
                  const floating[:, ::1] W_q, const floating[::1] v,
                  const floating[:, :, ::1] K, const floating[:, :, ::1] Kp,
                  const int64_t[::1] lengths, const floating[:, ::1] W_out,
                  const floating[::1] b_out) except *:
    """The decoder's description, after checking every shape it implies."""
    cdef Dec d
    cdef Py_ssize_t b
    d.cell.H = W_hh.shape[1]
    if kernel_layout(kind, flags, &d.cell) < 0:
        raise ValueError(f"{fn}: unknown cell kind {kind}")
    d.cell.P = d.cell.H   # the decoder's state has no projection
    d.cell.Wf = d.cell.Wf2 = d.cell.Wb = d.cell.Wb2 = NULL
    if attn_kind not in (ATTN_ADDITIVE, ATTN_DOT, ATTN_GENERAL):
        raise ValueError(f"{fn}: unknown attention kind {attn_kind}")
    d.H, d.GH = d.cell.H, d.cell.G * d.cell.H
    d.Bs, d.E, d.Vin = K.shape[0], emb.shape[1], emb.shape[0]
    d.att.kind, d.att.S, d.att.Hk, d.att.Hq, d.att.P = (attn_kind, K.shape[1], K.shape[2],
                                                        d.H, Kp.shape[2])
    d.I, d.O, d.V = d.E + d.att.Hk, d.H + d.att.Hk, W_out.shape[0]
    of = "H from W_hh, G from kind, E from emb, B, S, Hk from K, V from W_out"
    check_shape(fn, "W_hh", W_hh.shape, (d.GH, d.H), of)
    check_shape(fn, "W_ih", W_ih.shape, (d.GH, d.I), of + "; I = E + Hk")
    check_shape(fn, "bias", bias.shape, (d.GH,), of)
    check_shape(fn, "b_hh", b_hh.shape, (d.GH,), of)
    if d.cell.extra_rows > 0:
        check_shape(fn, "extra", extra.shape, (d.cell.extra_rows, d.H), of)
    check_shape(fn, "Kp", Kp.shape, (d.Bs, d.att.S, None), of)
    if attn_kind == ATTN_ADDITIVE:
        check_shape(fn, "W_q", W_q.shape, (d.att.P, d.H), of + ", A from Kp")
        check_shape(fn, "v", v.shape, (d.att.P,), of + ", A from Kp")
    elif attn_kind == ATTN_DOT:
        check_shape(fn, "Kp", Kp.shape, (d.Bs, d.att.S, d.att.Hk), "the dot kind reads K")
        if d.H != d.att.Hk:
            raise ValueError(f"{fn}: dot attention needs the decoder's hidden size "
                             f"({d.H}) to equal the keys' size ({d.att.Hk})")
    else:
        check_shape(fn, "Kp", Kp.shape, (d.Bs, d.att.S, d.H), of)
    check_shape(fn, "lengths", lengths.shape, (d.Bs,), of)
    for b in range(d.Bs):
        if not 1 <= lengths[b] <= d.att.S:
            raise ValueError(f"{fn}: lengths[{b}] = {lengths[b]} is outside [1, {d.att.S}]")
    check_shape(fn, "W_out", W_out.shape, (d.V, d.O), of + "; O = H + Hk")
    # the decoder reads back the ids it writes: one vocabulary on both sides
    check_shape(fn, "emb", emb.shape, (d.V, d.E), "V from W_out: ids written are read back")
    check_shape(fn, "b_out", b_out.shape, (d.V,), of)
    for n in (d.I, d.O, d.GH, d.H, d.att.P, d.V):
        check_blas_ld(fn, "a row length", n)
    if d.Vin == 0 or d.E == 0 or d.Bs == 0:
        raise ValueError(f"{fn}: empty embedding table or batch")
    d.emb, d.W_ih, d.W_hh, d.bias = &emb[0, 0], &W_ih[0, 0], &W_hh[0, 0], &bias[0]
    d.b_sep = &b_hh[0] + d.cell.separate_bias * d.H if d.cell.separate_bias >= 0 else NULL
    d.extra = &extra[0, 0] if d.cell.extra_rows > 0 else NULL
    d.W_q = &W_q[0, 0] if attn_kind == ATTN_ADDITIVE else NULL
    d.v = &v[0] if attn_kind == ATTN_ADDITIVE else NULL
    d.K, d.Kp, d.lengths = &K[0, 0, 0], &Kp[0, 0, 0], &lengths[0]
    d.W_out, d.b_out = &W_out[0, 0], &b_out[0]
    d.P_ih = d.P_q = d.P_out = d.P_ih_b = d.P_q_b = NULL
    return d


cdef int pack_dec(Dec* d, bint forward, bint backward, const floating* W_ih,
                  const floating* W_hh, const floating* W_q,
                  const floating* W_out) except -1:
    """Pack the weights of the per-step products a call needs (freed by
    free_dec); MemoryError when there is no memory for them."""
    cdef Py_ssize_t H = d.H, GH = d.GH, I = d.I, A = d.att.P, O = d.O, V = d.V
    cdef Py_ssize_t split = d.cell.split
    cdef bint additive = d.att.kind == ATTN_ADDITIVE, gated = split < GH, ok = True
    if forward:
        # (k, j) entries: W_ih[j, k] for x @ W_ih.T, and so on
        d.P_ih = pack_new(I, GH, W_ih, 1, I)
        d.P_out = pack_new(O, V, W_out, 1, O)
        d.cell.Wf = pack_new(H, split, W_hh, 1, H)
        ok = d.P_ih != NULL and d.P_out != NULL and d.cell.Wf != NULL
        if gated:
            d.cell.Wf2 = pack_new(H, GH - split, W_hh + split * H, 1, H)
            ok = ok and d.cell.Wf2 != NULL
        if additive:
            d.P_q = pack_new(H, A, W_q, 1, H)
            ok = ok and d.P_q != NULL
    if backward:
        d.P_ih_b = pack_new(GH, I, W_ih, I, 1)
        d.cell.Wb = pack_new(split, H, W_hh, H, 1)
        ok = ok and d.P_ih_b != NULL and d.cell.Wb != NULL
        if gated:
            d.cell.Wb2 = pack_new(GH - split, H, W_hh + split * H, H, 1)
            ok = ok and d.cell.Wb2 != NULL
        if additive:
            d.P_q_b = pack_new(A, H, W_q, H, 1)
            ok = ok and d.P_q_b != NULL
    if not ok:
        free_dec(d)
        raise MemoryError("no memory for the decoder's packed weights")
    return 0


cdef void free_dec(Dec* d) noexcept nogil:
    free(d.P_ih)
    free(d.P_q)
    free(d.P_out)
    free(d.P_ih_b)
    free(d.P_q_b)
    free(<void*> d.cell.Wf)
    free(<void*> d.cell.Wf2)
    free(<void*> d.cell.Wb)
    free(<void*> d.cell.Wb2)
    d.P_ih = d.P_q = d.P_out = d.P_ih_b = d.P_q_b = NULL
    d.cell.Wf = d.cell.Wf2 = d.cell.Wb = d.cell.Wb2 = NULL


cdef int check_ids(str fn, str name, const int64_t* ids, Py_ssize_t n, Py_ssize_t V) except -1:
    cdef Py_ssize_t i
    for i in range(n):
        if not 0 <= ids[i] < V:
            raise ValueError(f"{fn}: {name} holds id {ids[i]} at position {i}, outside "
                             f"[0, {V})")
    return 0


cdef void dec_step(const Dec* d, Py_ssize_t n, const int64_t* ids, const Py_ssize_t* src,
                   const floating* h_prev, const floating* c_prev, floating* h, floating* c,
                   floating* x, floating* gates, floating* aux, floating* work,
                   floating* qp, floating* Z, bint keep_z, floating* w, floating* o,
                   floating* logits) noexcept nogil:
    """One decoder step on n rows (see the module's notes).  ``src``: the
    keys each row reads (NULL: its own row).  ``logits`` may be NULL."""
    cdef Py_ssize_t E = d.E, I = d.I, H = d.H, Hk = d.att.Hk, O = d.O, GH = d.GH
    cdef Py_ssize_t V = d.V, A = d.att.P, r, j
    cdef const floating* b_out = <const floating*> d.b_out
    cdef floating* lr
    if d.att.kind == ATTN_ADDITIVE:
        # qp = h_prev @ W_q.T   (n, A) = (n, H)(H, A)
        mm(n, A, H, h_prev, H, d.P_q, qp, A, False)
    # the context of the previous state goes to x[:, E:]
    attend_rows(&d.att, n, h_prev, qp, <const floating*> d.K, <const floating*> d.Kp,
                src, d.lengths, <const floating*> d.v, Z, keep_z, w, x + E, I)
    for r in range(n):
        memcpy(x + r * I, <const floating*> d.emb + ids[r] * E, E * sizeof(floating))
        memcpy(o + r * O + H, x + r * I + E, Hk * sizeof(floating))
    # gates = x @ W_ih.T   (n, GH) = (n, I)(I, GH)
    mm(n, GH, I, x, I, d.P_ih, gates, GH, False)
    cell_forward(&d.cell, n, gates, h_prev, h_prev, h, c_prev, c, aux, work,
                 <const floating*> d.W_hh, <const floating*> d.bias,
                 <const floating*> d.b_sep, <const floating*> d.extra)
    for r in range(n):
        memcpy(o + r * O, h + r * H, H * sizeof(floating))
    if logits != NULL:
        # logits = o @ W_out.T + b_out   (n, V) = (n, O)(O, V)
        mm(n, V, O, o, O, d.P_out, logits, V, False)
        for r in range(n):
            lr = logits + r * V
            for j in range(V):
                lr[j] += b_out[j]


cdef inline int64_t argmax_allowed(const floating* z, Py_ssize_t V,
                                   const uint8_t* allowed) noexcept nogil:
    """The first index of the largest allowed entry of z (V,)."""
    cdef Py_ssize_t j, best = -1
    for j in range(V):
        if allowed != NULL and not allowed[j]:
            continue
        if best < 0 or z[j] > z[best]:
            best = j
    return best


cdef int check_allowed(str fn, const uint8_t[::1] allowed, Py_ssize_t V) except -1:
    cdef Py_ssize_t j, n = 0
    check_shape(fn, "allowed", allowed.shape, (V,), "V from W_out")
    for j in range(V):
        n += allowed[j] != 0
    if n == 0:
        raise ValueError(f"{fn}: no output id is allowed")
    return 0


cdef int check_rows(str fn, Py_ssize_t row0, Py_ssize_t row1, Py_ssize_t B) except -1:
    if not 0 <= row0 <= row1 <= B:
        raise ValueError(f"{fn}: rows {row0}..{row1} outside [0, {B}]")
    return 0


cdef void shift_rows(Dec* d, Py_ssize_t row0, const floating* K) noexcept:
    """Make row ``row0`` of the keys, projected keys and lengths the
    decoder's row 0 (a range of rows then reads its own keys)."""
    d.K = K + row0 * d.att.S * d.att.Hk
    d.Kp = (<const floating*> d.Kp) + row0 * d.att.S * d.att.P
    d.lengths = d.lengths + row0


def train_forward(int kind, int flags, int attn_kind,
                  const floating[:, ::1] emb, const floating[:, ::1] W_ih,
                  const floating[:, ::1] W_hh, const floating[::1] bias,
                  const floating[::1] b_hh, const floating[:, ::1] extra,
                  const floating[:, ::1] W_q, const floating[::1] v,
                  const floating[:, :, ::1] K, const floating[:, :, ::1] Kp,
                  const int64_t[::1] lengths, const floating[:, ::1] W_out,
                  const floating[::1] b_out,
                  const int64_t[:, ::1] ids, const uint8_t[:, ::1] sample,
                  const uint8_t[::1] allowed, int64_t[:, ::1] used,
                  floating[:, :, ::1] Hs, floating[:, :, ::1] Cs,
                  floating[:, :, ::1] X, floating[:, :, ::1] gates,
                  floating[:, :, ::1] aux, floating[:, :, :, ::1] Z,
                  floating[:, :, ::1] W, floating[:, :, ::1] O,
                  floating[:, :, ::1] logits, Py_ssize_t row0, Py_ssize_t row1):
    """Run the decoder over T steps on rows row0 .. row1-1, keeping what
    ``train_backward`` needs (the rows are independent: threads may run
    disjoint ranges at once).

    ``ids`` (T, B): the input id of each step (the start id, then the
    targets: teacher forcing).  ``sample`` (T, B) or empty: where 1 (and
    t > 0) the step reads instead the argmax over ``allowed`` of the
    logits of step t-1, which must then be computed (``logits`` (T, B, V),
    else empty).  ``used`` (T, B) receives the ids read.  ``Hs[0]`` (and
    ``Cs[0]``) hold the initial state on entry.
    """
    cdef str fn = "train_forward"
    cdef Dec d = make_dec(fn, kind, flags, attn_kind, emb, W_ih, W_hh, bias, b_hh, extra,
                          W_q, v, K, Kp, lengths, W_out, b_out)
    cdef Py_ssize_t T = ids.shape[0], B = d.Bs, H = d.H, S = d.att.S, A = d.att.P
    cdef Py_ssize_t V = d.V, t, r
    cdef bint two = d.cell.n_states == 2, additive = attn_kind == ATTN_ADDITIVE
    cdef bint sampled = sample.shape[0] > 0, with_logits = logits.shape[0] > 0
    of = "T, B from ids, B from K, H from W_hh"
    check_shape(fn, "ids", ids.shape, (T, B), "B from K")
    if sampled:
        check_shape(fn, "sample", sample.shape, (T, B), of)
        if not with_logits:
            raise ValueError(f"{fn}: sampling the model's predictions needs the logits")
    if with_logits:
        check_shape(fn, "logits", logits.shape, (T, B, V), of + ", V from W_out")
    check_allowed(fn, allowed, V)
    check_shape(fn, "used", used.shape, (T, B), of)
    check_shape(fn, "Hs", Hs.shape, (T + 1, B, H), of)
    if two:
        check_shape(fn, "Cs", Cs.shape, (T + 1, B, H), of)
    check_shape(fn, "X", X.shape, (T, B, d.I), of + ", I = E + Hk")
    check_shape(fn, "gates", gates.shape, (T, B, d.GH), of)
    check_shape(fn, "aux", aux.shape, (T, B, H), of)
    if additive:
        check_shape(fn, "Z", Z.shape, (T, B, S, A), of + ", S from K, A from Kp")
    check_shape(fn, "W", W.shape, (T, B, S), of + ", S from K")
    check_shape(fn, "O", O.shape, (T, B, d.O), of + ", O = H + Hk")
    check_ids(fn, "ids", &ids[0, 0], T * B, d.Vin)
    check_rows(fn, row0, row1, B)
    if T == 0 or row0 == row1:
        return
    cdef Py_ssize_t n = row1 - row0
    shift_rows(&d, row0, &K[0, 0, 0])
    cdef floating* work = NULL
    cdef floating* qp = NULL
    cdef int64_t* step_ids = NULL
    pack_dec(&d, True, False, &W_ih[0, 0], &W_hh[0, 0], &W_q[0, 0] if additive else NULL,
             &W_out[0, 0])
    with nogil:
        work = <floating*> malloc(n * d.GH * sizeof(floating))
        qp = <floating*> malloc(n * (A if additive else 1) * sizeof(floating))
        step_ids = <int64_t*> malloc(n * sizeof(int64_t))
        if work == NULL or qp == NULL or step_ids == NULL:
            free(work)
            free(qp)
            free(step_ids)
            free_dec(&d)
            with gil:
                raise MemoryError(f"{fn}: no memory for the step buffers")
        serial_blas_begin()
        for t in range(T):
            for r in range(row0, row1):
                step_ids[r - row0] = ids[t, r]
                if sampled and t > 0 and sample[t, r]:
                    step_ids[r - row0] = argmax_allowed(&logits[t - 1, r, 0], V, &allowed[0])
                used[t, r] = step_ids[r - row0]
            dec_step(&d, n, step_ids, NULL, &Hs[t, row0, 0],
                     &Cs[t, row0, 0] if two else NULL,
                     &Hs[t + 1, row0, 0], &Cs[t + 1, row0, 0] if two else NULL,
                     &X[t, row0, 0], &gates[t, row0, 0], &aux[t, row0, 0], work, qp,
                     &Z[t, row0, 0, 0] if additive else NULL, True, &W[t, row0, 0],
                     &O[t, row0, 0], &logits[t, row0, 0] if with_logits else NULL)
        serial_blas_end()
        free(work)
        free(qp)
        free(step_ids)
        free_dec(&d)


def train_backward(int kind, int flags, int attn_kind,
                   const floating[:, ::1] emb, const floating[:, ::1] W_ih,
                   const floating[:, ::1] W_hh, const floating[::1] bias,
                   const floating[::1] b_hh, const floating[:, ::1] extra,
                   const floating[:, ::1] W_q, const floating[::1] v,
                   const floating[:, :, ::1] K, const floating[:, :, ::1] Kp,
                   const int64_t[::1] lengths, const floating[:, ::1] W_out,
                   const floating[::1] b_out,
                   const floating[:, :, ::1] Hs, const floating[:, :, ::1] Cs,
                   const floating[:, :, ::1] X, const floating[:, :, ::1] gates,
                   const floating[:, :, ::1] aux, const floating[:, :, :, ::1] Z,
                   const floating[:, :, ::1] W, const floating[:, :, ::1] dO,
                   floating[:, :, ::1] dG, floating[:, :, ::1] dGH,
                   floating[:, :, ::1] dX, floating[:, :, ::1] dQP,
                   floating[:, :, ::1] dK, floating[:, :, ::1] dKp,
                   floating[:, ::1] dh0, floating[:, ::1] dc0,
                   floating[:, ::1] dextra, floating[::1] dv,
                   Py_ssize_t row0, Py_ssize_t row1):
    """Backpropagate through the steps of the last ``train_forward``, on
    rows row0 .. row1-1 (independent of the others).

    ``dO`` (T, B, O): the gradient on the outputs o_t = [h_t, ctx_t].
    Writes, in the range's rows, the gate gradients ``dG`` (and ``dGH``
    when the kind's hidden side sees another one, else empty), the inputs'
    ``dX`` (T, B, I), the additive attention's ``dQP`` (T, B, A) (else
    empty), the keys' ``dK`` (B, S, Hk) and projected keys' ``dKp`` (B, S,
    P) (empty for the dot kind, whose share goes to dK), the initial state's
    ``dh0`` (and ``dc0``).  Overwrites the range's own gradients on the
    weights it accumulates over rows, ``dextra`` (the cell's extra weights,
    else empty) and ``dv`` (the additive score's v, else empty): one buffer
    per concurrent range, summed by the caller.  ``weight_gradients`` then
    makes the other weight gradients from dG, dGH and dQP.  The caller turns
    ``dX[..., :E]`` into the embedding's gradient and ``dKp`` into the key
    projection's.
    """
    cdef str fn = "train_backward"
    cdef Dec d = make_dec(fn, kind, flags, attn_kind, emb, W_ih, W_hh, bias, b_hh, extra,
                          W_q, v, K, Kp, lengths, W_out, b_out)
    cdef Py_ssize_t T = dO.shape[0], B = d.Bs, H = d.H, S = d.att.S, A = d.att.P
    cdef Py_ssize_t I = d.I, E = d.E, Hk = d.att.Hk, GH = d.GH, O = d.O, t, r, j, n
    cdef CellSpec* s = &d.cell
    cdef bint two = s.n_states == 2, additive = attn_kind == ATTN_ADDITIVE
    cdef bint dot = attn_kind == ATTN_DOT, hidden_grad = s.separate_bias >= 0
    of = "T, B from dO, H from W_hh"
    check_shape(fn, "dO", dO.shape, (T, B, O), "B from K, O = H + Hk")
    check_shape(fn, "Hs", Hs.shape, (T + 1, B, H), of)
    if two:
        check_shape(fn, "Cs", Cs.shape, (T + 1, B, H), of)
        check_shape(fn, "dc0", dc0.shape, (B, H), of)
    check_shape(fn, "X", X.shape, (T, B, I), of)
    check_shape(fn, "gates", gates.shape, (T, B, GH), of)
    check_shape(fn, "aux", aux.shape, (T, B, H), of)
    check_shape(fn, "W", W.shape, (T, B, S), of)
    check_shape(fn, "dG", dG.shape, (T, B, GH), of)
    if hidden_grad:
        check_shape(fn, "dGH", dGH.shape, (T, B, GH), of)
    check_shape(fn, "dX", dX.shape, (T, B, I), of)
    if additive:
        check_shape(fn, "Z", Z.shape, (T, B, S, A), of)
        check_shape(fn, "dQP", dQP.shape, (T, B, A), of)
        check_shape(fn, "dv", dv.shape, (A,), of)
    check_shape(fn, "dK", dK.shape, (B, S, Hk), of)
    if not dot:
        check_shape(fn, "dKp", dKp.shape, (B, S, A), of)
    check_shape(fn, "dh0", dh0.shape, (B, H), of)
    if s.extra_rows > 0:
        check_shape(fn, "dextra", dextra.shape, (s.extra_rows, H), of)
    check_rows(fn, row0, row1, B)
    n = row1 - row0
    if n == 0:
        return
    shift_rows(&d, row0, &K[0, 0, 0])
    cdef floating* dh = &dh0[row0, 0]
    cdef floating* dc = &dc0[row0, 0] if two else NULL
    cdef floating* dKr = &dK[row0, 0, 0]
    cdef floating* dkp = dKr if dot else &dKp[row0, 0, 0]
    cdef floating* dctx = NULL
    cdef floating* de = NULL
    cdef floating* work = NULL
    cdef floating* dGp
    cdef floating* dGh
    cdef const floating* dOr
    cdef floating* dXr
    cdef floating* dcr
    pack_dec(&d, False, True, &W_ih[0, 0], &W_hh[0, 0], &W_q[0, 0] if additive else NULL,
             &W_out[0, 0])
    with nogil:
        dctx = <floating*> malloc(n * Hk * sizeof(floating))
        de = <floating*> malloc(S * sizeof(floating))
        work = <floating*> malloc(n * GH * sizeof(floating))
        if dctx == NULL or de == NULL or work == NULL:
            free(dctx)
            free(de)
            free(work)
            free_dec(&d)
            with gil:
                raise MemoryError(f"{fn}: no memory for the step buffers")
        memset(dh, 0, n * H * sizeof(floating))
        if two:
            memset(dc, 0, n * H * sizeof(floating))
        memset(dKr, 0, n * S * Hk * sizeof(floating))
        if not dot:
            memset(dkp, 0, n * S * A * sizeof(floating))
        if additive:
            memset(&dv[0], 0, A * sizeof(floating))
        if s.extra_rows > 0:
            memset(&dextra[0, 0], 0, s.extra_rows * H * sizeof(floating))
        serial_blas_begin()
        for t in range(T - 1, -1, -1):
            dGp = &dG[t, row0, 0]
            dGh = &dGH[t, row0, 0] if hidden_grad else dGp
            # the output's share of the gradient on h_t joins the recurrent one
            for r in range(n):
                dOr = &dO[t, row0 + r, 0]
                for j in range(H):
                    dh[r * H + j] += dOr[j]
            cell_backward(s, n, &gates[t, row0, 0], NULL, dh, dh, dc,
                          &Hs[t, row0, 0], &Hs[t, row0, 0], &Hs[t + 1, row0, 0],
                          &Cs[t, row0, 0] if two else NULL,
                          &Cs[t + 1, row0, 0] if two else NULL,
                          &aux[t, row0, 0], dGp, dGh, work, &W_hh[0, 0],
                          &extra[0, 0] if s.extra_rows > 0 else NULL,
                          &dextra[0, 0] if s.extra_rows > 0 else NULL)
            # dX_t = dG_t @ W_ih   (n, I) = (n, GH)(GH, I)
            mm(n, I, GH, dGp, GH, d.P_ih_b, &dX[t, row0, 0], I, False)
            # the context reaches the output and the next input
            for r in range(n):
                dOr = &dO[t, row0 + r, 0]
                dXr = &dX[t, row0 + r, 0]
                dcr = dctx + r * Hk
                for j in range(Hk):
                    dcr[j] = dOr[H + j] + dXr[E + j]
            # the attention read h_{t-1}: its query gradient joins dh
            attend_backward_rows(&d.att, n, &Hs[t, row0, 0], <const floating*> d.K,
                                 <const floating*> d.Kp, d.lengths,
                                 &v[0] if additive else NULL,
                                 &Z[t, row0, 0, 0] if additive else NULL, &W[t, row0, 0],
                                 dctx, Hk, NULL, de, dh,
                                 &dQP[t, row0, 0] if additive else NULL, dKr, dkp,
                                 &dv[0] if additive else NULL)
            if additive:
                # dh += dqp @ W_q   (n, H) = (n, A)(A, H)
                mm(n, H, A, &dQP[t, row0, 0], A, d.P_q_b, dh, H, True)
        serial_blas_end()
        free(dctx)
        free(de)
        free(work)
        free_dec(&d)


cdef inline Py_ssize_t share(Py_ssize_t n, Py_ssize_t part, Py_ssize_t parts) noexcept nogil:
    return n * part // parts


def weight_gradients(int kind, int flags, int attn_kind,
                     const floating[:, :, ::1] Hs, const floating[:, :, ::1] X,
                     const floating[:, :, ::1] aux, const floating[:, :, ::1] dG,
                     const floating[:, :, ::1] dGH, const floating[:, :, ::1] dQP,
                     floating[:, ::1] dW_ih, floating[:, ::1] dW_hh,
                     floating[::1] db_ih, floating[::1] db_hh, floating[:, ::1] dW_q,
                     Py_ssize_t part, Py_ssize_t parts):
    """The decoder's weight gradients over all steps, one GEMM each, from
    ``train_backward``'s gate gradients (and the additive score's dQP).

    Part ``part`` of ``parts`` computes its share of the rows of every
    result, so that threads may share the work (the shares depend on the
    shapes only).
    """
    cdef str fn = "weight_gradients"
    cdef CellSpec s
    s.H = dW_hh.shape[1]
    if kernel_layout(kind, flags, &s) < 0:
        raise ValueError(f"{fn}: unknown cell kind {kind}")
    s.P = s.H
    cdef Py_ssize_t T = dG.shape[0], B = dG.shape[1], H = s.H, GH = s.G * s.H
    cdef Py_ssize_t I = X.shape[2], TB = T * B, A = dQP.shape[2] if dQP.shape[0] else 0
    cdef bint additive = attn_kind == ATTN_ADDITIVE, hidden_grad = s.separate_bias >= 0
    cdef bint gated = s.gated_blocks > 0
    of = "T, B from dG, H from dW_hh, G from kind, I from X"
    check_shape(fn, "dG", dG.shape, (T, B, GH), of)
    if hidden_grad:
        check_shape(fn, "dGH", dGH.shape, (T, B, GH), of)
    check_shape(fn, "Hs", Hs.shape, (T + 1, B, H), of)
    check_shape(fn, "X", X.shape, (T, B, I), of)
    check_shape(fn, "aux", aux.shape, (T, B, H), of)
    check_shape(fn, "dW_ih", dW_ih.shape, (GH, I), of)
    check_shape(fn, "dW_hh", dW_hh.shape, (GH, H), of)
    check_shape(fn, "db_ih", db_ih.shape, (GH,), of)
    check_shape(fn, "db_hh", db_hh.shape, (GH,), of)
    if additive:
        check_shape(fn, "dQP", dQP.shape, (T, B, None), of)
        check_shape(fn, "dW_q", dW_q.shape, (A, H), of + ", A from dQP")
    for n in (I, H, GH, A):
        check_blas_ld(fn, "a row length", n)
    if not 0 <= part < parts:
        raise ValueError(f"{fn}: part {part} out of {parts} parts")
    if TB == 0:
        return
    # this part's rows of the gate gradients (g0 .. g1-1) and of dW_q
    cdef Py_ssize_t g0 = share(GH, part, parts), g1 = share(GH, part + 1, parts)
    cdef Py_ssize_t a0 = share(A, part, parts), a1 = share(A, part + 1, parts)
    # gate rows below split read h, the gated rows from split on read aux
    cdef Py_ssize_t gmid = g1 if g1 < s.split else (g0 if g0 > s.split else s.split)
    cdef const floating* dGp = &dG[0, 0, 0]
    cdef const floating* dGh = &dGH[0, 0, 0] if hidden_grad else dGp
    with nogil:
        serial_blas_begin()
        # dW_ih = dG.T @ X   (GH, I) = (GH, T*B)(T*B, I)
        gemm(Transpose, NoTrans, g1 - g0, I, TB, 1, dGp + g0, GH, &X[0, 0, 0], I, 0,
             &dW_ih[0, 0] + g0 * I, I)
        # dW_hh[:split] = dGh.T @ Hs[:T]   (split, H) = (split, T*B)(T*B, H)
        gemm(Transpose, NoTrans, gmid - g0, H, TB, 1, dGh + g0, GH, &Hs[0, 0, 0], H, 0,
             &dW_hh[0, 0] + g0 * H, H)
        if gated:
            # dW_hh[split:] = dG[:, split:].T @ aux   (the gated state gate * h)
            gemm(Transpose, NoTrans, g1 - gmid, H, TB, 1, dGp + gmid, GH, &aux[0, 0, 0], H,
                 0, &dW_hh[0, 0] + gmid * H, H)
        colsum(TB, g1 - g0, dGp + g0, GH, &db_ih[0] + g0)
        if hidden_grad:
            colsum(TB, g1 - g0, dGh + g0, GH, &db_hh[0] + g0)
        else:
            memcpy(&db_hh[0] + g0, &db_ih[0] + g0, (g1 - g0) * sizeof(floating))
        if additive and a1 > a0:
            # dW_q = dQP.T @ Hs[:T]   (A, H) = (A, T*B)(T*B, H)
            gemm(Transpose, NoTrans, a1 - a0, H, TB, 1, &dQP[0, 0, 0] + a0, A, &Hs[0, 0, 0],
                 H, 0, &dW_q[0, 0] + a0 * H, H)
        serial_blas_end()


def greedy(int kind, int flags, int attn_kind,
           const floating[:, ::1] emb, const floating[:, ::1] W_ih,
           const floating[:, ::1] W_hh, const floating[::1] bias,
           const floating[::1] b_hh, const floating[:, ::1] extra,
           const floating[:, ::1] W_q, const floating[::1] v,
           const floating[:, :, ::1] K, const floating[:, :, ::1] Kp,
           const int64_t[::1] lengths, const floating[:, ::1] W_out,
           const floating[::1] b_out,
           const floating[:, ::1] h0, const floating[:, ::1] c0,
           int64_t start_id, int64_t end_id, const uint8_t[::1] allowed,
           int64_t[:, ::1] tokens, int64_t[::1] out_lengths, floating[:, :, ::1] attn,
           Py_ssize_t row0, Py_ssize_t row1):
    """Greedy decoding of rows row0 .. row1-1 (independent of the others:
    threads may share the rows).

    Each step feeds back the most probable allowed id.  A row stops at the
    end id (not written) or after ``max_length = tokens.shape[1]`` ids.
    Writes ``tokens`` (B, max_length) (0 after a row's end),
    ``out_lengths`` (B,) and, unless empty, ``attn`` (B, max_length, S):
    each written token's attention weights (0 after the end).
    """
    cdef str fn = "greedy"
    cdef Dec d = make_dec(fn, kind, flags, attn_kind, emb, W_ih, W_hh, bias, b_hh, extra,
                          W_q, v, K, Kp, lengths, W_out, b_out)
    cdef Py_ssize_t B = d.Bs, H = d.H, S = d.att.S, A = d.att.P, V = d.V
    cdef Py_ssize_t Tmax = tokens.shape[1], n = row1 - row0, t, r, i, live
    cdef bint two = d.cell.n_states == 2, additive = attn_kind == ATTN_ADDITIVE
    cdef bint with_attn = attn.shape[0] > 0
    of = "B from K, H from W_hh"
    check_shape(fn, "h0", h0.shape, (B, H), of)
    if two:
        check_shape(fn, "c0", c0.shape, (B, H), of)
    check_shape(fn, "tokens", tokens.shape, (B, None), of)
    check_shape(fn, "out_lengths", out_lengths.shape, (B,), of)
    if with_attn:
        check_shape(fn, "attn", attn.shape, (B, Tmax, S), of + ", S from K, max_length "
                    "from tokens")
    check_allowed(fn, allowed, V)
    if not 0 <= start_id < d.Vin:
        raise ValueError(f"{fn}: start_id {start_id} is outside [0, {d.Vin})")
    if not 0 <= end_id < V:
        raise ValueError(f"{fn}: end_id {end_id} is outside [0, {V})")
    if not 0 <= row0 <= row1 <= B:
        raise ValueError(f"{fn}: rows {row0}..{row1} outside [0, {B}]")
    if n == 0 or Tmax == 0:
        return
    # one block: states (2 x 2), x, gates, aux, work, qp, Z scratch, w, o, logits
    cdef Py_ssize_t I = d.I, GH = d.GH, O = d.O
    cdef Py_ssize_t sizes[11]
    sizes[:] = [n * H, n * H, n * H, n * H, n * I, n * GH, n * H, n * GH,
                n * (A if additive else 1), S * (A if additive else 1), n * S]
    cdef Py_ssize_t total = 0, k
    for k in range(11):
        total += sizes[k]
    total += n * O + n * V
    cdef floating* block = NULL
    cdef floating* p
    cdef floating* hp
    cdef floating* hn
    cdef floating* cp
    cdef floating* cn
    cdef floating* x
    cdef floating* gates
    cdef floating* aux
    cdef floating* work
    cdef floating* qp
    cdef floating* zs
    cdef floating* w
    cdef floating* o
    cdef floating* logits
    cdef floating* tmp
    cdef int64_t* ids = NULL
    cdef Py_ssize_t* src = NULL
    cdef uint8_t* done = NULL
    cdef int64_t tok
    pack_dec(&d, True, False, &W_ih[0, 0], &W_hh[0, 0], &W_q[0, 0] if additive else NULL,
             &W_out[0, 0])
    with nogil:
        block = <floating*> malloc(total * sizeof(floating))
        ids = <int64_t*> malloc(n * sizeof(int64_t))
        src = <Py_ssize_t*> malloc(n * sizeof(Py_ssize_t))
        done = <uint8_t*> malloc(n)
        if block == NULL or ids == NULL or src == NULL or done == NULL:
            free(block)
            free(ids)
            free(src)
            free(done)
            free_dec(&d)
            with gil:
                raise MemoryError(f"{fn}: no memory for {n} rows of step buffers")
        p = block
        hp = p; p += sizes[0]
        hn = p; p += sizes[1]
        cp = p; p += sizes[2]
        cn = p; p += sizes[3]
        x = p; p += sizes[4]
        gates = p; p += sizes[5]
        aux = p; p += sizes[6]
        work = p; p += sizes[7]
        qp = p; p += sizes[8]
        zs = p; p += sizes[9]
        w = p; p += sizes[10]
        o = p; p += n * O
        logits = p
        memcpy(hp, &h0[row0, 0], n * H * sizeof(floating))
        if two:
            memcpy(cp, &c0[row0, 0], n * H * sizeof(floating))
        for i in range(n):
            ids[i] = start_id
            src[i] = row0 + i
            done[i] = 0
            out_lengths[row0 + i] = Tmax
        memset(&tokens[row0, 0], 0, n * Tmax * sizeof(int64_t))
        if with_attn:
            memset(&attn[row0, 0, 0], 0, n * Tmax * S * sizeof(floating))
        serial_blas_begin()
        live = n
        for t in range(Tmax):
            if live == 0:
                break
            dec_step(&d, n, ids, src, hp, cp if two else NULL, hn, cn if two else NULL,
                     x, gates, aux, work, qp, zs, False, w, o, logits)
            for i in range(n):
                if done[i]:
                    continue
                r = row0 + i
                tok = argmax_allowed(logits + i * V, V, &allowed[0])
                if tok == end_id:
                    done[i] = 1
                    live -= 1
                    out_lengths[r] = t
                    continue
                tokens[r, t] = tok
                ids[i] = tok
                if with_attn:
                    memcpy(&attn[r, t, 0], w + i * S, S * sizeof(floating))
            tmp = hp; hp = hn; hn = tmp
            tmp = cp; cp = cn; cn = tmp
        serial_blas_end()
        free(block)
        free(ids)
        free(src)
        free(done)
        free_dec(&d)


def step(int kind, int flags, int attn_kind,
         const floating[:, ::1] emb, const floating[:, ::1] W_ih,
         const floating[:, ::1] W_hh, const floating[::1] bias,
         const floating[::1] b_hh, const floating[:, ::1] extra,
         const floating[:, ::1] W_q, const floating[::1] v,
         const floating[:, :, ::1] K, const floating[:, :, ::1] Kp,
         const int64_t[::1] lengths, const floating[:, ::1] W_out,
         const floating[::1] b_out,
         const int64_t[::1] ids, const Py_ssize_t[::1] src,
         const floating[:, ::1] h_prev, const floating[:, ::1] c_prev,
         floating[:, ::1] h, floating[:, ::1] c, floating[:, ::1] w,
         floating[:, ::1] logits):
    """One inference step of n rows: row i reads input id ``ids[i]``, the
    keys of source row ``src[i]`` and its state ``h_prev[i]`` (``c_prev``);
    writes its new state ``h`` (``c``), attention weights ``w`` (n, S) and
    ``logits`` (n, V)."""
    cdef str fn = "step"
    cdef Dec d = make_dec(fn, kind, flags, attn_kind, emb, W_ih, W_hh, bias, b_hh, extra,
                          W_q, v, K, Kp, lengths, W_out, b_out)
    cdef Py_ssize_t n = ids.shape[0], H = d.H, S = d.att.S, A = d.att.P, i
    cdef bint two = d.cell.n_states == 2, additive = attn_kind == ATTN_ADDITIVE
    of = "n from ids, H from W_hh, S from K, V from W_out"
    check_shape(fn, "src", src.shape, (n,), of)
    check_shape(fn, "h_prev", h_prev.shape, (n, H), of)
    check_shape(fn, "h", h.shape, (n, H), of)
    if two:
        check_shape(fn, "c_prev", c_prev.shape, (n, H), of)
        check_shape(fn, "c", c.shape, (n, H), of)
    check_shape(fn, "w", w.shape, (n, S), of)
    check_shape(fn, "logits", logits.shape, (n, d.V), of)
    check_ids(fn, "ids", &ids[0], n, d.Vin)
    for i in range(n):
        if not 0 <= src[i] < d.Bs:
            raise ValueError(f"{fn}: src[{i}] = {src[i]} is outside [0, {d.Bs})")
    if n == 0:
        return
    cdef Py_ssize_t total = n * (d.I + 2 * d.GH + d.H + (A if additive else 0) + d.O) \
        + S * (A if additive else 1)
    cdef floating* block = NULL
    cdef floating* x
    cdef floating* gates
    cdef floating* aux
    cdef floating* work
    cdef floating* qp
    cdef floating* o
    cdef floating* zs
    pack_dec(&d, True, False, &W_ih[0, 0], &W_hh[0, 0], &W_q[0, 0] if additive else NULL,
             &W_out[0, 0])
    with nogil:
        block = <floating*> malloc(total * sizeof(floating))
        if block == NULL:
            free_dec(&d)
            with gil:
                raise MemoryError(f"{fn}: no memory for {n} rows of step buffers")
        x = block
        gates = x + n * d.I
        work = gates + n * d.GH
        aux = work + n * d.GH
        o = aux + n * d.H
        qp = o + n * d.O
        zs = qp + (n * A if additive else 0)
        serial_blas_begin()
        dec_step(&d, n, &ids[0], &src[0], &h_prev[0, 0], &c_prev[0, 0] if two else NULL,
                 &h[0, 0], &c[0, 0] if two else NULL, x, gates, aux, work, qp, zs, False,
                 &w[0, 0], o, &logits[0, 0])
        serial_blas_end()
        free(block)
        free_dec(&d)

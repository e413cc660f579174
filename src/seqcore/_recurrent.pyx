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
* ``Cs``: the second state of two-state kinds (the LSTM's cell), laid out
  like ``Hs`` when training; two rows used in turn at inference.
* ``gates`` (T, B, GH): the input projection of all steps, then the gate
  activations.  ``aux`` (T, B, H): the extra per-step value of a cell (see
  _cells.pyx); one row at inference.
* ``mask`` (B, H) and ``Hm`` (T, B, H): recurrent dropout (training only):
  the hidden products read ``Hm[t] = Hs[t] * mask`` instead of ``Hs[t]``,
  and the weight gradient reads ``Hm``.

What a cell kind needs comes from its ``CellSpec`` (``_cells.kernel_layout``):
the driver reads the spec's fields (states, aux, gated blocks, separate
bias) and never branches on a kind.

Forward: ``project`` is one GEMM for the input projection of all steps;
``forward_steps`` then runs, per step, the hidden-side product and the gate
math (_cells.pyx).  Backward: ``backward_steps`` runs, per step, the gate
gradients and ``dh @ W_hh``; ``weight_gradients`` then does one GEMM for
each of ``dX``, ``dW_ih``, ``dW_hh``.

The step functions take disjoint row ranges of the batch: the rows of a
step are independent, so each range runs through all steps as one part, and
the core's worker pool (include/seqcore/pool.h, through _blas.run_parts)
runs the parts at once, each on a one-thread BLAS.  That keeps both cores
busy on the small per-step products where a multi-threaded BLAS would spend
its time handing off work.  ``project`` and ``weight_gradients`` cut their
GEMMs into parts the same way.  The caller cuts the parts from the shape
alone, so results never depend on the threads.

Every entry point first checks, in O(1), that its arguments' shapes agree
with each other (a ValueError naming the argument otherwise): the loops
trust them.  Sizes, offsets and index products are Py_ssize_t throughout.
"""

from cython cimport floating
from libc.string cimport memcpy, memset
from cpython.pyport cimport PY_SSIZE_T_MAX

from seqcore._blas cimport (gemm, colsum, NoTrans, Transpose, run_parts,
                            serial_blas_begin, serial_blas_end)
from seqcore._cells cimport (CellSpec, kernel_layout, cell_forward, cell_forward_units,
                             cell_backward, packed_size, panel_width, pack, matmul_packed)
from seqcore._checks cimport check_shape, check_blas_ld

import numpy as np



cdef CellSpec make_spec(str fn, int kind, int flags, Py_ssize_t GH, Py_ssize_t P,
                        str gh_from, str p_from) except *:
    """The spec of a kind with its option flags, G*H gate columns (read from
    the argument ``gh_from``) and a state of size P (from ``p_from``); an
    unknown kind, or a projection the kind cannot have, is refused."""
    cdef CellSpec s
    s.H = 1
    if kernel_layout(kind, flags, &s) < 0:
        raise ValueError(f"{fn}: unknown cell kind {kind}")
    if GH % s.G:
        raise ValueError(f"{fn}: {gh_from} has {GH} gate columns, not a multiple of "
                         f"G = {s.G} (kind {kind})")
    s.H = GH // s.G
    kernel_layout(kind, flags, &s)   # again, for split with the real H
    s.P = P
    if P != s.H and not s.proj_ok:
        raise ValueError(f"{fn}: kind {kind} has no projection: {gh_from} gives H = {s.H}, "
                         f"but {p_from} gives a state of {P}")
    s.Wf = s.Wf2 = s.Wb = s.Wb2 = NULL
    return s


def pack_hidden(const floating[:, ::1] W_hh, bint backward, Py_ssize_t row0,
                Py_ssize_t row1, Py_ssize_t H=0):
    """Rows row0 .. row1-1 of W_hh (G*H, P) packed for the per-step products
    of the time loop: ``h @ W_hh[row0:row1].T`` (forward) or
    ``dG[:, row0:row1] @ W_hh[row0:row1]`` (backward).  P, the size of the
    state h, is H, or the LSTM's ``proj_size`` P < H: the row count G*H need
    not be a multiple of P.  With the gates' size ``H`` (> 0) the shape is
    checked: a multiple of H rows, at most H columns.  A new 1-D array; see
    include/seqcore/matmul.h."""
    cdef Py_ssize_t GH = W_hh.shape[0], P = W_hh.shape[1], R = row1 - row0
    if H > 0 and (GH % H or P > H):
        raise ValueError(f"pack_hidden: W_hh has shape {(GH, P)}, expected G*H rows, a "
                         f"multiple of H = {H}, and at most H columns (P: H, or the "
                         "projection's proj_size < H)")
    if not 0 <= row0 < row1 <= GH:
        raise ValueError(f"pack_hidden: rows {row0}..{row1} out of W_hh's {GH}")
    # forward multiplies by W_hh[rows].T: K = P, N = R, entry (k, j) = W_hh[row0 + j, k]
    cdef Py_ssize_t K = R if backward else P, N = P if backward else R
    cdef Py_ssize_t rs = P if backward else 1, cs = 1 if backward else P
    dtype = np.float32 if floating is float else np.float64
    out = np.empty(packed_size(K, N, floating is double), dtype=dtype)
    cdef floating[::1] Wp = out
    if P > 0:
        with nogil:
            pack(K, N, &W_hh[row0, 0], rs, cs, &Wp[0])
    return out


def pack_matrix(const floating[:, ::1] W, bint transpose):
    """W (R, C), or its transpose, packed as the right-hand (K, N) matrix of
    the core's products (include/seqcore/matmul.h): ``X @ W_ih.T`` in
    ``project`` (transpose) and ``dG @ W_ih`` in ``weight_gradients``.  A new
    1-D array."""
    cdef Py_ssize_t R = W.shape[0], C = W.shape[1]
    cdef Py_ssize_t K = C if transpose else R, N = R if transpose else C
    dtype = np.float32 if floating is float else np.float64
    out = np.empty(packed_size(K, N, floating is double), dtype=dtype)
    cdef floating[::1] P = out
    if R > 0 and C > 0:
        with nogil:
            pack(K, N, &W[0, 0], 1 if transpose else C, C if transpose else 1, &P[0])
    return out


def packed_entries(Py_ssize_t K, Py_ssize_t N, dtype):
    """How many entries the packed form of a (K, N) matrix takes."""
    return packed_size(K, N, np.dtype(dtype) == np.float64)


# --------------------------------------------------------------------------
# The entry points check their arguments and fill one of these with raw
# pointers (NULL for an empty array; void*, since a struct cannot hold a fused
# type), then hand its parts to the worker pool (_blas.run_parts).  A part's
# body casts the pointers back to the dtype in `dbl`.
# --------------------------------------------------------------------------

# What a job of the pool does with a Scan (run_job)
cdef enum Job:
    PROJECT, FORWARD, BACKWARD, PACK, WEIGHTS, STEP_UNITS


cdef struct Scan:
    int job                    # a Job: what run_job does with the rest
    CellSpec s
    bint dbl, training, masked, proj, two, hidden_grad
    Py_ssize_t T, B
    const int* n_active
    const Py_ssize_t* ranges   # (parts, 2) rows of the batch, or NULL
    Py_ssize_t parts
    # a step split by units (forward_by_units): the step, its rows, and the
    # unit blocks (of panel_width units) cut into `parts`
    Py_ssize_t t, n, blocks
    # forward and backward
    const void* W_hh
    const void* extra
    const void* W_hr
    void* pwork
    const void* mask
    void* Hs
    void* Hm
    void* Cs
    void* gates
    void* aux
    void* work
    # forward
    const void* bias
    const void* b_sep
    void* h_n
    void* c_n
    # backward
    void* dW_hr                # (parts, P, H): one per range
    const void* dY
    const void* dh_n
    const void* dc_n
    void* dG
    void* dGH
    void* dhm
    void* dh
    void* dc
    void* dextra               # (parts, rows, H): one per range
    # project and weight_gradients
    const void* X
    const void* W_ih
    void* dX
    void* dW_ih
    void* dW_hh
    void* db_ih
    void* db_hh
    Py_ssize_t I
    # packed right-hand matrices (NULL: the BLAS does the product): W_ih.T
    # for project, W_ih for dX; X, Hin and aux for the weight gradients,
    # packed by the parts of a first job
    const void* PW
    void* PX
    void* PH
    void* PA


# An array's first entry, or NULL when it is empty.  The const goes: the
# struct's fields say which arrays the parts write.
cdef inline void* ptr(const floating[::1] a) noexcept:
    return <void*> &a[0] if a.shape[0] > 0 else NULL


cdef inline void* ptr2(const floating[:, ::1] a) noexcept:
    return <void*> &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL


cdef inline void* ptr3(const floating[:, :, ::1] a) noexcept:
    return (<void*> &a[0, 0, 0] if a.shape[0] > 0 and a.shape[1] > 0 and a.shape[2] > 0
            else NULL)


cdef void run(Job job, Scan* a, int threads) noexcept nogil:
    """The parts of a job on the pool, every BLAS call on one thread: the
    pool's threads share the work, and float32 GEMMs round differently on
    different BLAS thread counts."""
    a.job = job
    serial_blas_begin()
    run_parts(run_job, a, a.parts, threads)
    serial_blas_end()


cdef void run_job(void* ctx, Py_ssize_t part) noexcept nogil:
    """Part ``part`` of the job in the Scan ``ctx``, in its dtype (the pool's
    part function)."""
    cdef Scan* a = <Scan*> ctx
    if a.dbl:
        job_part(a, part, <double*> NULL)
    else:
        job_part(a, part, <float*> NULL)


cdef void job_part(Scan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    if a.job == PROJECT:
        project_rows(a, part, tag)
    elif a.job == FORWARD:
        forward_rows(a, a.ranges[2 * part], a.ranges[2 * part + 1], tag)
    elif a.job == BACKWARD:
        backward_rows(a, part, tag)
    elif a.job == PACK:
        pack_share(a, part, tag)
    elif a.job == STEP_UNITS:
        step_units(a, part, tag)
    else:
        weights_share(a, part, tag)


def project(const floating[:, :, ::1] X,
            const floating[:, ::1] W_ih,
            floating[:, :, ::1] gates,
            const floating[::1] W_packed,
            Py_ssize_t parts, int threads):
    """gates = X @ W_ih.T over all steps: one GEMM (the biases come in the
    time loop).  ``W_packed``: ``pack_matrix(W_ih, True)``, or empty for the
    BLAS.

    The (T*B, I) rows are cut in ``parts`` blocks, run on up to ``threads``
    threads (each on a one-thread BLAS); the caller chooses ``parts`` from
    the shape alone, so the result does not depend on the threads.
    """
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t GH = W_ih.shape[0]
    check_shape("project", "W_ih", W_ih.shape, (None, I), "I from X")
    check_shape("project", "gates", gates.shape, (T, B, GH),
                "T, B from X, G*H from W_ih")
    check_blas_ld("project", "I", I)
    check_blas_ld("project", "G*H", GH)
    check_parts("project", parts)
    if W_packed.shape[0] > 0:
        check_shape("project", "W_packed", W_packed.shape,
                    (packed_size(I, GH, floating is double),), "pack_matrix(W_ih, True).size")
    cdef Scan a
    a.PW = ptr(W_packed)
    a.dbl = floating is double
    a.T, a.B, a.I, a.parts = T, B, I, parts
    a.s.G, a.s.H = 1, GH   # only G*H is read
    a.X, a.W_ih, a.gates = ptr3(X), ptr2(W_ih), ptr3(gates)
    with nogil:
        run(PROJECT, &a, threads)


cdef void project_rows(const Scan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    cdef Py_ssize_t TB = a.T * a.B, I = a.I, GH = a.s.G * a.s.H
    cdef Py_ssize_t r0 = share(TB, part, a.parts), r1 = share(TB, part + 1, a.parts)
    if a.X == NULL or a.gates == NULL or a.W_ih == NULL:
        return
    # gates = X @ W_ih.T     (rows, GH) = (rows, I)(I, GH)
    if a.PW != NULL:
        matmul_packed(False, r1 - r0, GH, I, <const floating*> a.X + r0 * I, I,
                      <const floating*> a.PW, <floating*> a.gates + r0 * GH, GH, False)
    else:
        gemm(NoTrans, Transpose, r1 - r0, GH, I, 1,
             <const floating*> a.X + r0 * I, I, <const floating*> a.W_ih, I, 0,
             <floating*> a.gates + r0 * GH, GH)


def forward_steps(int kind, int flags, bint training,
                  const int[::1] n_active,
                  const floating[:, ::1] W_hh,
                  const floating[::1] bias,
                  const floating[::1] b_hh,
                  const floating[:, ::1] extra,
                  const floating[:, ::1] W_hr,
                  floating[:, ::1] pwork,
                  const floating[:, ::1] mask,
                  floating[:, :, ::1] Hs,
                  floating[:, :, ::1] Hm,
                  floating[:, :, ::1] Cs,
                  floating[:, :, ::1] gates,
                  floating[:, :, ::1] aux,
                  floating[:, ::1] work,
                  floating[:, ::1] h_n,
                  floating[:, ::1] c_n,
                  const floating[::1] W_packed,
                  const floating[::1] W_packed2,
                  const Py_ssize_t[:, ::1] ranges, int threads):
    """Run the time loop of one layer, one direction.

    On entry ``gates`` holds the projection (``project``), ``Hs[0]`` (and
    ``Cs[0]`` for two-state kinds) the initial state.  ``bias`` (G*H) is
    ``b_ih + b_hh``, but ``b_ih`` alone in the kind's separate bias block,
    which reads its ``b_hh`` from ``b_hh``.  ``extra``: the kind's extra
    weights or empty.  ``W_hr`` (P, H): the projection of the state
    (``h = h_full @ W_hr.T``, the LSTM's proj_size), or empty; ``pwork``
    (B, H) its scratch.  ``mask`` (B, P): recurrent dropout (training only),
    or empty; ``Hm`` then receives the masked states the products read.  Fills
    ``Hs[1:]``, ``gates``, ``aux`` (all steps when ``training``) and the final
    states ``h_n``, ``c_n`` (each sample's state at its own last step).
    ``W_packed``/``W_packed2`` are ``pack_hidden`` of the rows of W_hh that
    read h and of the gated rows (empty: the BLAS does the products).

    ``ranges`` (parts, 2): disjoint, increasing row ranges [row0, row1) of the
    batch, each run through all steps as one part, on up to ``threads``
    threads (each on a one-thread BLAS).
    """
    cdef CellSpec s = make_spec("forward_steps", kind, flags, gates.shape[2], W_hh.shape[1],
                                "gates", "W_hh")
    check_scan("forward_steps", &s, training, False, n_active, W_hh, extra, W_hr, mask, Hs,
               Hm, Cs, gates, aux, work, W_packed, W_packed2, ranges)
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1]
    cdef Py_ssize_t H = s.H, P = s.P, GH = s.G * s.H
    cdef bint two = s.n_states == 2, masked = mask.shape[0] > 0, proj = P != H
    cdef str fn = "forward_steps", of = "T, B, G*H from gates, P from W_hh, G from kind"
    check_shape(fn, "bias", bias.shape, (GH,), of)
    if s.separate_bias >= 0:
        check_shape(fn, "b_hh", b_hh.shape, (GH,), of)
    check_shape(fn, "h_n", h_n.shape, (B, P), of)
    if two:
        check_shape(fn, "c_n", c_n.shape, (B, H), of)
    if proj:
        check_shape(fn, "pwork", pwork.shape, (B, H), of, True)
    if masked and not training:
        raise ValueError(f"{fn}: recurrent dropout (a mask) runs in training only")
    s.Wf = ptr(W_packed)
    s.Wf2 = ptr(W_packed2)
    cdef Scan a
    a.s, a.dbl, a.training, a.masked, a.proj, a.two = s, floating is double, training, \
        masked, proj, two
    a.T, a.B, a.n_active = T, B, &n_active[0] if T > 0 else NULL
    a.ranges, a.parts = &ranges[0, 0], ranges.shape[0]
    a.W_hh, a.extra, a.W_hr, a.pwork = ptr2(W_hh), ptr2(extra), ptr2(W_hr), ptr2(pwork)
    a.mask, a.Hs, a.Hm, a.Cs = ptr2(mask), ptr3(Hs), ptr3(Hm), ptr3(Cs)
    a.gates, a.aux, a.work = ptr3(gates), ptr3(aux), ptr2(work)
    a.bias = ptr(bias)
    a.b_sep = (<const floating*> ptr(b_hh) + s.separate_bias * H if s.separate_bias >= 0
               else NULL)
    a.h_n, a.c_n = ptr2(h_n), ptr2(c_n)
    cdef Py_ssize_t unit_parts = units_split(&s, floating is double, B, threads)
    with nogil:
        if unit_parts > 1:
            forward_by_units(&a, unit_parts, threads)
        else:
            run(FORWARD, &a, threads)


# A time loop whose step has at least this many multiply-adds in its hidden
# product (B * G*H * P) splits each step's units across the threads
# (forward_by_units) rather than its rows: a step then waits for the slowest
# thread, so it must be long enough to pay for that hand-off.  Off by default
# (unit_split_work() sets it): on this project's shared 2-vCPU machine the
# per-step barrier made inference 1.4-1.8x slower under load, where the row
# split's claimed parts let the caller finish a late worker's share
# (benchmarks/README.md, "Round three").
cdef Py_ssize_t MIN_UNIT_SPLIT_WORK = PY_SSIZE_T_MAX
# the threshold that makes the split worth its hand-offs when both threads run
DEFAULT_UNIT_SPLIT_WORK = 1 << 21


cdef Py_ssize_t units_split(const CellSpec* s, bint dbl, Py_ssize_t B,
                            int threads) noexcept nogil:
    """How many parts forward_by_units cuts each step's units into, or 0 for
    the row ranges.  Why: with the rows split, every thread reads all of the
    packed W_hh at every step (4 MB at H = 512 in float32, beyond a core's
    L2); with the units split, each reads the panels of its own units, which
    stay in its cache from step to step, and runs every row against them.
    For kinds whose step works unit by unit (``unitwise``), without a
    projection, on the packed W_hh whose gate blocks start panels (H a
    multiple of the panel width), in steps of at least MIN_UNIT_SPLIT_WORK.
    Every value is computed as with the rows split, whatever the parts:
    results are the same bits as the row ranges', for any threads.  One part
    per thread (at most one per unit block)."""
    cdef Py_ssize_t NR = panel_width(dbl), blocks
    if (threads < 2 or not s.unitwise or s.P != s.H or s.Wf == NULL or s.H % NR
            or B * s.G * s.H * s.P < MIN_UNIT_SPLIT_WORK):
        return 0
    blocks = s.H // NR
    return min(blocks, threads) if blocks >= 2 else 0


def unit_split_work(min_work=None):
    """The smallest hidden product per step (B * G*H * P multiply-adds) whose
    time loop splits its steps' units across threads; with ``min_work``, set
    it (a benchmark's knob: results are the same bits either way) and return
    the previous value."""
    global MIN_UNIT_SPLIT_WORK
    old = MIN_UNIT_SPLIT_WORK
    if min_work is not None:
        if min_work < 0:
            raise ValueError(f"unit_split_work: min_work must be >= 0, got {min_work}")
        MIN_UNIT_SPLIT_WORK = min_work
    return old


def unit_parts(int kind, int flags, Py_ssize_t B, Py_ssize_t H, Py_ssize_t P, dtype,
               bint packed, int threads):
    """How many parts ``forward_steps`` cuts each step's units into for a
    layer of this kind, batch B, hidden size H, state size P and dtype, with
    a packed W_hh (``packed``) on ``threads`` threads: 0 when it splits the
    batch's rows instead (see units_split).  For tests and benchmarks."""
    cdef CellSpec s = make_spec("unit_parts", kind, flags, H * layout_G(kind, flags), P,
                                "H", "P")
    s.Wf = <const void*> 1 if packed else NULL
    return units_split(&s, np.dtype(dtype) == np.float64, B, threads)


cdef Py_ssize_t layout_G(int kind, int flags) except -1:
    cdef CellSpec s
    s.H = 1
    if kernel_layout(kind, flags, &s) < 0:
        raise ValueError(f"unknown cell kind {kind}")
    return s.G


cdef void forward_by_units(Scan* a, Py_ssize_t parts, int threads) noexcept nogil:
    """forward_steps with each step's units cut into ``parts`` (of whole
    panels), all running rows at once: one job of the pool per step, whose
    end is the step's barrier (the next step reads all of h)."""
    cdef Py_ssize_t T = a.T, t, n, ended
    a.blocks = a.s.H // panel_width(a.dbl)
    a.parts = parts
    serial_blas_begin()
    for t in range(T):
        n = a.n_active[t]
        if n == 0:
            break   # sorted by length: every later step is padding too
        a.t, a.n = t, n
        ended = a.n_active[t + 1] if t + 1 < T else 0
        if a.dbl:
            step_prepare(a, <double*> NULL)
        else:
            step_prepare(a, <float*> NULL)
        a.job = STEP_UNITS
        run_parts(run_job, a, parts, threads)
        if n > ended:
            if a.dbl:
                keep_final(a, ended, <double*> NULL)
            else:
                keep_final(a, ended, <float*> NULL)
    serial_blas_end()


cdef void step_prepare(Scan* a, floating* tag) noexcept nogil:
    """Before step a.t of forward_by_units: the masked state its products
    read (recurrent dropout), all rows."""
    cdef Py_ssize_t P = a.s.P, BP = a.B * P, t = a.t, i
    cdef const floating* Hp = <const floating*> a.Hs
    cdef const floating* mk = <const floating*> a.mask
    cdef floating* Mp = <floating*> a.Hm
    if a.masked:
        for i in range(a.n * P):
            Mp[t * BP + i] = Hp[t * BP + i] * mk[i]


cdef void keep_final(Scan* a, Py_ssize_t ended, floating* tag) noexcept nogil:
    """After step a.t of forward_by_units: rows ended .. a.n - 1 took their
    last step; keep their states."""
    cdef Py_ssize_t H = a.s.H, P = a.s.P, B = a.B, t = a.t, n = a.n
    cdef const floating* Hp = <const floating*> a.Hs
    cdef const floating* c
    memcpy(<floating*> a.h_n + ended * P, Hp + (t + 1) * B * P + ended * P,
           (n - ended) * P * sizeof(floating))
    if a.two:
        c = <const floating*> a.Cs + ((t + 1) if a.training else (t + 1) % 2) * B * H
        memcpy(<floating*> a.c_n + ended * H, c + ended * H,
               (n - ended) * H * sizeof(floating))


cdef void step_units(const Scan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    """Part ``part`` of step a.t's units (whole unit blocks of panel_width),
    for its a.n running rows, in pieces of SUB_BLOCKS unit blocks: the gate
    math of a piece runs while its products are still in cache."""
    cdef const CellSpec* s = &a.s
    cdef Py_ssize_t T = a.T, B = a.B, H = s.H, P = s.P, GH = s.G * s.H
    cdef Py_ssize_t BH = B * H, BP = B * P, t = a.t, n = a.n
    cdef Py_ssize_t NR = panel_width(floating is double)
    cdef Py_ssize_t b0 = share(a.blocks, part, a.parts), b1 = share(a.blocks, part + 1, a.parts)
    cdef Py_ssize_t u, u_end
    cdef floating* Hp = <floating*> a.Hs
    cdef floating* Cp = <floating*> a.Cs
    cdef floating* c_prev = NULL
    cdef floating* c = NULL
    cdef floating* ap = <floating*> a.aux
    cdef const floating* h_in = <const floating*> (a.Hm if a.masked else a.Hs) + t * BP
    if a.two:
        if a.training:
            c_prev = Cp + t * BH
            c = c_prev + BH
        else:
            c_prev = Cp + (t % 2) * BH
            c = Cp + ((t + 1) % 2) * BH
    if a.training and ap != NULL:
        ap = ap + t * BH
    u = b0 * NR
    while u < b1 * NR:
        u_end = min(u + SUB_BLOCKS * NR, b1 * NR)
        cell_forward_units(s, n, <floating*> a.gates + t * B * GH,
                           Hp + t * BP, h_in, Hp + (t + 1) * BP,
                           c_prev, c, ap, <floating*> a.work + 0, <const floating*> a.W_hh,
                           <const floating*> a.bias, <const floating*> a.b_sep,
                           <const floating*> a.extra, u, u_end)
        u = u_end


# forward_by_units runs a part's units in pieces of this many unit blocks
# (panel_width units each): a piece's gates for every row, 4 * 64 units of
# 64 rows in float32, stay in L2 between their products and their math
cdef Py_ssize_t SUB_BLOCKS = 2


cdef void forward_rows(const Scan* a, Py_ssize_t row0, Py_ssize_t row1,
                       floating* tag) noexcept nogil:
    """forward_steps on rows row0 .. row1-1 of the batch."""
    cdef const CellSpec* s = &a.s
    cdef Py_ssize_t T = a.T, B = a.B, H = s.H, P = s.P, GH = s.G * s.H
    cdef Py_ssize_t BH = B * H, BP = B * P
    cdef Py_ssize_t t, n, ended, i
    cdef bint two = a.two, training = a.training, masked = a.masked, proj = a.proj
    # every pointer below starts at row0: a step's rows are contiguous, so
    # the kernels see an ordinary (n, width) block with the step stride B
    cdef floating* G_ = <floating*> a.gates + row0 * GH
    cdef floating* Hp = <floating*> a.Hs + row0 * P
    cdef floating* Mp = <floating*> a.Hm + row0 * P if masked else NULL
    cdef const floating* mk = <const floating*> a.mask + row0 * P if masked else NULL
    cdef floating* Cp = <floating*> a.Cs + row0 * H if two else NULL
    cdef floating* A = <floating*> a.aux + row0 * H if s.aux else NULL
    cdef floating* hf = <floating*> a.pwork + row0 * H if proj else NULL
    cdef floating* work = <floating*> a.work + row0 * GH
    cdef floating* h_n = <floating*> a.h_n
    cdef floating* c_n = <floating*> a.c_n
    cdef floating* c_prev = NULL
    cdef floating* c = NULL
    cdef floating* ap = A
    cdef floating* h_in
    for t in range(T):
        n = rows_active(a.n_active, t, row0, row1)
        if n == 0:
            break   # sorted by length: every later step is padding too
        if two:
            if training:
                c_prev = Cp + t * BH
                c = c_prev + BH
            else:
                c_prev = Cp + (t % 2) * BH
                c = Cp + ((t + 1) % 2) * BH
        if training and A != NULL:
            ap = A + t * BH
        h_in = Hp + t * BP
        if masked:
            h_in = Mp + t * BP
            for i in range(n * P):
                h_in[i] = Hp[t * BP + i] * mk[i]
        cell_forward(s, n, G_ + t * B * GH,
                     Hp + t * BP, h_in, hf if proj else Hp + (t + 1) * BP,
                     c_prev, c, ap, work, <const floating*> a.W_hh,
                     <const floating*> a.bias, <const floating*> a.b_sep,
                     <const floating*> a.extra)
        if proj:
            # h = h_full @ W_hr.T      (n, P) = (n, H)(H, P)
            gemm(NoTrans, Transpose, n, P, H, 1, hf, H, <const floating*> a.W_hr, H, 0,
                 Hp + (t + 1) * BP, P)
        # rows ended .. n - 1 (of the range) took their last step: keep
        # their state
        ended = rows_active(a.n_active, t + 1, row0, row1) if t + 1 < T else 0
        if n > ended:
            memcpy(h_n + (row0 + ended) * P, Hp + (t + 1) * BP + ended * P,
                   (n - ended) * P * sizeof(floating))
            if two:
                memcpy(c_n + (row0 + ended) * H, c + ended * H,
                       (n - ended) * H * sizeof(floating))


def backward_steps(int kind, int flags,
                   const int[::1] n_active,
                   const floating[:, ::1] W_hh,
                   const floating[:, ::1] extra,
                   const floating[:, ::1] W_hr,
                   floating[:, ::1] pwork,
                   floating[:, :, ::1] dW_hr,
                   const floating[:, ::1] mask,
                   const floating[:, :, ::1] Hs,
                   const floating[:, :, ::1] Hm,
                   const floating[:, :, ::1] Cs,
                   const floating[:, :, ::1] gates,
                   const floating[:, :, ::1] aux,
                   const floating[:, :, ::1] dY,
                   const floating[:, ::1] dh_n,
                   const floating[:, ::1] dc_n,
                   floating[:, :, ::1] dG,
                   floating[:, :, ::1] dGH,
                   floating[:, ::1] work,
                   floating[:, ::1] dhm,
                   floating[:, ::1] dh,
                   floating[:, ::1] dc,
                   floating[:, :, ::1] dextra,
                   const floating[::1] W_packed,
                   const floating[::1] W_packed2,
                   const Py_ssize_t[:, ::1] ranges, int threads):
    """Backpropagate through time after a training forward.

    ``dY`` (T, B, H) is the gradient on the outputs, or empty for none;
    ``dh_n``/``dc_n`` (B, H) the gradient on the final states, or empty.
    ``mask``/``Hm`` as in ``forward_steps``; ``dhm`` (B, P) is scratch for
    the gradient on the masked states when masked (else empty).  With a
    projection ``W_hr`` (P, H), ``pwork`` (B, 2H) is its scratch and
    ``dW_hr`` (parts, P, H) receives each range's gradient on ``W_hr``;
    ``dextra`` (parts, rows, H) each range's gradient on the extra weights
    (the caller adds them up in range order).  Writes the gate gradients
    ``dG`` (and ``dGH`` when the kind's hidden side sees another one),
    except at padded steps, whose rows the caller must have zeroed, and
    ``dh``/``dc`` (the gradient on the initial state).  ``W_packed``/
    ``W_packed2`` are ``pack_hidden(..., True, ...)`` of the two row blocks,
    or empty; ``ranges`` and ``threads`` as in ``forward_steps``.
    """
    cdef CellSpec s = make_spec("backward_steps", kind, flags, gates.shape[2],
                                W_hh.shape[1], "gates", "W_hh")
    check_scan("backward_steps", &s, True, True, n_active, W_hh, extra, W_hr, mask, Hs, Hm,
               Cs, gates, aux, work, W_packed, W_packed2, ranges)
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], parts = ranges.shape[0]
    cdef Py_ssize_t H = s.H, P = s.P, GH = s.G * s.H
    cdef bint two = s.n_states == 2, masked = mask.shape[0] > 0, proj = P != H
    cdef bint hidden_grad = s.separate_bias >= 0
    cdef str fn = "backward_steps", of = "T, B, G*H from gates, P from W_hh, G from kind"
    if dY.shape[0] > 0:
        check_shape(fn, "dY", dY.shape, (T, B, P), of)
    if dh_n.shape[0] > 0:
        check_shape(fn, "dh_n", dh_n.shape, (B, P), of)
    if two and dc_n.shape[0] > 0:
        check_shape(fn, "dc_n", dc_n.shape, (B, H), of)
    check_shape(fn, "dG", dG.shape, (T, B, GH), of)
    if hidden_grad:
        check_shape(fn, "dGH", dGH.shape, (T, B, GH), of)
    if masked:
        check_shape(fn, "dhm", dhm.shape, (B, P), of)
    check_shape(fn, "dh", dh.shape, (B, P), of)
    if proj:
        check_shape(fn, "pwork", pwork.shape, (B, 2 * H), of, True)
        check_shape(fn, "dW_hr", dW_hr.shape, (parts, P, H), of + ", parts from ranges")
    if two:
        check_shape(fn, "dc", dc.shape, (B, H), of)
    if s.extra_rows > 0:
        check_shape(fn, "dextra", dextra.shape, (parts, s.extra_rows, H),
                    of + ", parts from ranges")
    s.Wb = ptr(W_packed)
    s.Wb2 = ptr(W_packed2)
    cdef Scan a
    a.s, a.dbl, a.training, a.masked, a.proj, a.two = s, floating is double, True, \
        masked, proj, two
    a.hidden_grad = hidden_grad
    a.T, a.B, a.n_active = T, B, &n_active[0] if T > 0 else NULL
    a.ranges, a.parts = &ranges[0, 0], parts
    a.W_hh, a.extra, a.W_hr, a.pwork = ptr2(W_hh), ptr2(extra), ptr2(W_hr), ptr2(pwork)
    a.mask, a.Hs, a.Hm, a.Cs = ptr2(mask), ptr3(Hs), ptr3(Hm), ptr3(Cs)
    a.gates, a.aux, a.work = ptr3(gates), ptr3(aux), ptr2(work)
    a.dW_hr, a.dY, a.dh_n, a.dc_n = ptr3(dW_hr), ptr3(dY), ptr2(dh_n), ptr2(dc_n)
    a.dG, a.dGH, a.dhm, a.dh, a.dc = ptr3(dG), ptr3(dGH), ptr2(dhm), ptr2(dh), ptr2(dc)
    a.dextra = ptr3(dextra)
    with nogil:
        run(BACKWARD, &a, threads)


cdef void backward_rows(const Scan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    """backward_steps on the rows of range ``part``."""
    cdef const CellSpec* s = &a.s
    cdef Py_ssize_t row0 = a.ranges[2 * part], row1 = a.ranges[2 * part + 1]
    cdef Py_ssize_t T = a.T, B = a.B, H = s.H, P = s.P, GH = s.G * s.H
    cdef Py_ssize_t BH = B * H, BP = B * P
    cdef Py_ssize_t t, n, ended, i, j
    cdef bint two = a.two, masked = a.masked, proj = a.proj
    cdef floating* dGp = <floating*> a.dG + row0 * GH
    # the gradient the hidden side sees; differs from dG only with a separate bias
    cdef floating* dGh = <floating*> a.dGH + row0 * GH if a.hidden_grad else dGp
    cdef const floating* gates = <const floating*> a.gates
    cdef const floating* Hp = <const floating*> a.Hs + row0 * P
    cdef const floating* Mp = <const floating*> a.Hm + row0 * P if masked else NULL
    cdef const floating* mk = <const floating*> a.mask + row0 * P if masked else NULL
    cdef const floating* Cp = <const floating*> a.Cs + row0 * H if two else NULL
    cdef const floating* A = <const floating*> a.aux + row0 * H if s.aux else NULL
    cdef const floating* dYp = (<const floating*> a.dY + row0 * P if a.dY != NULL
                                else NULL)
    cdef const floating* dh_n = <const floating*> a.dh_n
    cdef const floating* dc_n = <const floating*> a.dc_n if two else NULL
    cdef floating* dX_ = (<floating*> a.dextra + part * s.extra_rows * H
                          if s.extra_rows > 0 else NULL)
    cdef floating* dW_hr = <floating*> a.dW_hr + part * P * H if proj else NULL
    cdef floating* dhp = <floating*> a.dh + row0 * P
    # the gradient on what the products read: dh itself, unless masked
    cdef floating* dhin = <floating*> a.dhm + row0 * P if masked else dhp
    cdef floating* dcp = <floating*> a.dc + row0 * H if two else NULL
    # with a projection: the kernel's h_full and its gradient, per step
    cdef floating* hf = <floating*> a.pwork + row0 * 2 * H if proj else NULL
    cdef floating* dhf = hf + (row1 - row0) * H if proj else NULL
    cdef floating* work = <floating*> a.work + row0 * GH
    cdef const floating* o_
    cdef const floating* a_

    memset(dhp, 0, (row1 - row0) * P * sizeof(floating))
    if two:
        memset(dcp, 0, (row1 - row0) * H * sizeof(floating))
    if s.extra_rows > 0:
        memset(dX_, 0, s.extra_rows * H * sizeof(floating))
    if proj:
        memset(dW_hr, 0, P * H * sizeof(floating))
    for t in range(T - 1, -1, -1):
        n = rows_active(a.n_active, t, row0, row1)
        if n == 0:
            continue   # padding of every row of the range
        ended = rows_active(a.n_active, t + 1, row0, row1) if t + 1 < T else 0
        # rows ended .. n - 1 end at step t: the final-state gradient
        # enters there (their dh, dc are still 0)
        if n > ended and dh_n != NULL:
            memcpy(dhp + ended * P, dh_n + (row0 + ended) * P,
                   (n - ended) * P * sizeof(floating))
        if n > ended and dc_n != NULL:
            memcpy(dcp + ended * H, dc_n + (row0 + ended) * H,
                   (n - ended) * H * sizeof(floating))
        if proj:
            # the projection h = h_full @ W_hr.T, backwards: h_full is
            # o * tanh(c), from the saved gates and aux
            if dYp != NULL:
                for i in range(n * P):
                    dhp[i] += dYp[t * BP + i]
            for i in range(n):
                o_ = gates + (t * B + row0 + i) * GH + 3 * H
                a_ = A + t * BH + i * H
                for j in range(H):
                    hf[i * H + j] = o_[j] * a_[j]
            # dW_hr += dh.T @ h_full      (P, H) += (P, n)(n, H)
            gemm(Transpose, NoTrans, P, H, n, 1, dhp, P, hf, H, 1, dW_hr, H)
            # d h_full = dh @ W_hr        (n, H) = (n, P)(P, H)
            gemm(NoTrans, NoTrans, n, H, P, 1, dhp, P, <const floating*> a.W_hr, H, 0,
                 dhf, H)
            memset(dhp, 0, n * P * sizeof(floating))
        cell_backward(s, n, gates + (t * B + row0) * GH,
                      NULL if proj or dYp == NULL else dYp + t * BP,
                      dhf if proj else dhp, dhin, dcp,
                      Hp + t * BP, (Mp if masked else Hp) + t * BP, Hp + (t + 1) * BP,
                      Cp + t * BH if two else NULL,
                      Cp + (t + 1) * BH if two else NULL,
                      A + t * BH if A != NULL else NULL,
                      dGp + t * B * GH,
                      dGh + t * B * GH,
                      work, <const floating*> a.W_hh, <const floating*> a.extra, dX_)
        if masked:
            # h_in = h_prev * mask: its gradient reaches h_prev masked
            for i in range(n * P):
                dhp[i] += dhin[i] * mk[i]


def weight_gradients(int kind, int flags,
                     const floating[:, :, ::1] X,
                     const floating[:, ::1] W_ih,
                     const floating[:, :, ::1] Hin,
                     const floating[:, :, ::1] aux,
                     const floating[:, :, ::1] dG,
                     const floating[:, :, ::1] dGH,
                     floating[:, :, ::1] dX,
                     floating[:, ::1] dW_ih,
                     floating[:, ::1] dW_hh,
                     floating[::1] db_ih,
                     floating[::1] db_hh,
                     const floating[::1] W_packed,
                     floating[::1] X_packed,
                     floating[::1] H_packed,
                     floating[::1] A_packed,
                     Py_ssize_t parts, int threads):
    """The gradients on the input and the weights from the gate gradients of
    all steps: one GEMM each.  ``dX`` empty skips the input gradient.
    ``Hin`` holds what the hidden products read at each step: ``Hs`` (its
    first T rows are used) or, under recurrent dropout, ``Hm``.

    The products run on the core's packed kernels where the caller gives
    their right-hand matrices' buffers, else on the BLAS: ``W_packed`` is
    ``pack_matrix(W_ih, False)`` (for dX); ``X_packed``, ``H_packed`` and
    ``A_packed`` (``packed_entries(T*B, I or P or H)``) receive X, Hin and
    aux packed, by the parts of a first job.

    The work is cut in ``parts`` (each a block of the rows of dX, of dW_ih
    and dW_hh, of the bias entries), run on up to ``threads`` threads, each
    on a one-thread BLAS.  A BLAS product whose inner dimension T*B exceeds
    the BLAS's int is summed in blocks (see _blas.gemm).
    """
    cdef str fn = "weight_gradients", of = "T, B, I from X, G*H from W_ih, P from dW_hh"
    cdef CellSpec s = make_spec(fn, kind, flags, W_ih.shape[0], dW_hh.shape[1], "W_ih",
                                "dW_hh")
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t H = s.H, P = s.P, GH = s.G * H
    cdef bint hidden_grad = s.separate_bias >= 0, gated = s.gated_blocks > 0
    check_shape(fn, "W_ih", W_ih.shape, (GH, I), of)
    if Hin.shape[0] < T:
        raise ValueError(f"{fn}: Hin has {Hin.shape[0]} steps, needs at least T = {T} "
                         "(T from X)")
    check_shape(fn, "Hin", Hin.shape, (None, B, P), of)
    if gated:
        check_shape(fn, "aux", aux.shape, (T, B, H), of)
    check_shape(fn, "dG", dG.shape, (T, B, GH), of)
    if hidden_grad:
        check_shape(fn, "dGH", dGH.shape, (T, B, GH), of)
    if dX.shape[0] > 0:
        check_shape(fn, "dX", dX.shape, (T, B, I), of)
    check_shape(fn, "dW_ih", dW_ih.shape, (GH, I), of)
    check_shape(fn, "dW_hh", dW_hh.shape, (GH, P), of)
    check_shape(fn, "db_ih", db_ih.shape, (GH,), of)
    check_shape(fn, "db_hh", db_hh.shape, (GH,), of)
    check_blas_ld(fn, "I", I)
    check_blas_ld(fn, "P", P)
    check_blas_ld(fn, "G*H", GH)
    check_parts(fn, parts)
    cdef bint dbl = floating is double
    cdef Py_ssize_t TB = T * B
    if W_packed.shape[0] > 0:
        check_shape(fn, "W_packed", W_packed.shape, (packed_size(GH, I, dbl),),
                    "pack_matrix(W_ih, False).size")
    if X_packed.shape[0] > 0:
        check_shape(fn, "X_packed", X_packed.shape, (packed_size(TB, I, dbl),),
                    "packed_entries(T*B, I)")
    if H_packed.shape[0] > 0:
        check_shape(fn, "H_packed", H_packed.shape, (packed_size(TB, P, dbl),),
                    "packed_entries(T*B, P)")
    if A_packed.shape[0] > 0:
        if not gated:
            raise ValueError(f"{fn}: A_packed given, but kind {s.kind} has no gated block")
        check_shape(fn, "A_packed", A_packed.shape, (packed_size(TB, H, dbl),),
                    "packed_entries(T*B, H)")
    cdef Scan a
    a.PW, a.PX, a.PH, a.PA = ptr(W_packed), ptr(X_packed), ptr(H_packed), ptr(A_packed)
    a.s, a.dbl, a.hidden_grad = s, floating is double, hidden_grad
    a.T, a.B, a.I, a.parts = T, B, I, parts
    a.X, a.W_ih, a.Hs, a.aux = ptr3(X), ptr2(W_ih), ptr3(Hin), ptr3(aux)
    a.dG, a.dGH, a.dX = ptr3(dG), ptr3(dGH), ptr3(dX)
    a.dW_ih, a.dW_hh, a.db_ih, a.db_hh = ptr2(dW_ih), ptr2(dW_hh), ptr(db_ih), ptr(db_hh)
    if a.X == NULL or a.dG == NULL or a.Hs == NULL:
        return   # T * B == 0 (the layers never ask for it)
    with nogil:
        if a.PX != NULL or a.PH != NULL or a.PA != NULL:
            run(PACK, &a, threads)
        run(WEIGHTS, &a, threads)


cdef void pack_share(const Scan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    """Part ``part``'s share of the panels of X, Hin and aux, packed."""
    cdef Py_ssize_t TB = a.T * a.B
    if a.PX != NULL:
        pack_panels(TB, a.I, <const floating*> a.X, <floating*> a.PX, part, a.parts)
    if a.PH != NULL:
        pack_panels(TB, a.s.P, <const floating*> a.Hs, <floating*> a.PH, part, a.parts)
    if a.PA != NULL:
        pack_panels(TB, a.s.H, <const floating*> a.aux, <floating*> a.PA, part, a.parts)


cdef void pack_panels(Py_ssize_t K, Py_ssize_t N, const floating* M, floating* P,
                      Py_ssize_t part, Py_ssize_t parts) noexcept nogil:
    """Share ``part`` of the panels of the row-major (K, N) matrix M, packed
    into P where pack() would put them."""
    cdef Py_ssize_t NR = packed_size(1, 1, floating is double)   # the panel width
    cdef Py_ssize_t panels = (N + NR - 1) // NR
    cdef Py_ssize_t p0 = share(panels, part, parts), p1 = share(panels, part + 1, parts)
    cdef Py_ssize_t c0 = p0 * NR, c1 = min(p1 * NR, N)
    if c1 > c0:
        pack(K, c1 - c0, M + c0, N, 1, P + c0 * K)


cdef void weights_share(const Scan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    """weight_gradients' share ``part`` of every result."""
    cdef const CellSpec* s = &a.s
    cdef Py_ssize_t TB = a.T * a.B, I = a.I, H = s.H, P = s.P, GH = s.G * H
    cdef Py_ssize_t parts = a.parts
    cdef const floating* dGp = <const floating*> a.dG
    cdef const floating* dGh = <const floating*> a.dGH if a.hidden_grad else dGp
    cdef const floating* X = <const floating*> a.X
    cdef floating* dW_ih = <floating*> a.dW_ih
    cdef floating* dW_hh = <floating*> a.dW_hh
    cdef floating* db_ih = <floating*> a.db_ih
    cdef floating* db_hh = <floating*> a.db_hh
    # this part's rows of dX (r0 .. r1-1) and gates (g0 .. g1-1)
    cdef Py_ssize_t r0 = share(TB, part, parts), r1 = share(TB, part + 1, parts)
    cdef Py_ssize_t g0 = share(GH, part, parts), g1 = share(GH, part + 1, parts)
    # gate rows below split read Hin, the gated rows from split on read aux
    cdef Py_ssize_t gmid = g1 if g1 < s.split else (g0 if g0 > s.split else s.split)
    if a.dX != NULL:
        # dX = dG @ W_ih             (T*B, I) = (T*B, GH)(GH, I)
        if a.PW != NULL:
            matmul_packed(False, r1 - r0, I, GH, dGp + r0 * GH, GH,
                          <const floating*> a.PW, <floating*> a.dX + r0 * I, I, False)
        else:
            gemm(NoTrans, NoTrans, r1 - r0, I, GH, 1, dGp + r0 * GH, GH,
                 <const floating*> a.W_ih, I, 0, <floating*> a.dX + r0 * I, I)
    # dW_ih = dG.T @ X               (GH, I) = (GH, T*B)(T*B, I)
    if a.PX != NULL:
        matmul_packed(True, g1 - g0, I, TB, dGp + g0, GH, <const floating*> a.PX,
                      dW_ih + g0 * I, I, False)
    else:
        gemm(Transpose, NoTrans, g1 - g0, I, TB, 1, dGp + g0, GH, X, I, 0,
             dW_ih + g0 * I, I)
    # dW_hh[:split] = dGh.T @ Hin[:T]   (split, P) = (split, T*B)(T*B, P)
    if a.PH != NULL:
        matmul_packed(True, gmid - g0, P, TB, dGh + g0, GH, <const floating*> a.PH,
                      dW_hh + g0 * P, P, False)
    else:
        gemm(Transpose, NoTrans, gmid - g0, P, TB, 1, dGh + g0, GH,
             <const floating*> a.Hs, P, 0, dW_hh + g0 * P, P)
    if s.gated_blocks > 0:
        # dW_hh[split:] = dG[:, split:].T @ aux   (gated state gate * h_in;
        # kinds with gated blocks have no projection: P = H)
        if a.PA != NULL:
            matmul_packed(True, g1 - gmid, H, TB, dGp + gmid, GH, <const floating*> a.PA,
                          dW_hh + gmid * H, H, False)
        else:
            gemm(Transpose, NoTrans, g1 - gmid, H, TB, 1, dGp + gmid, GH,
                 <const floating*> a.aux, H, 0, dW_hh + gmid * H, H)
    # the bias gradients are column sums of the gate gradients; the
    # hidden bias sees the hidden side's (the same except in a separate
    # bias block)
    colsum(TB, g1 - g0, dGp + g0, GH, db_ih + g0)
    if a.hidden_grad:
        colsum(TB, g1 - g0, dGh + g0, GH, db_hh + g0)
    else:
        memcpy(db_hh + g0, db_ih + g0, (g1 - g0) * sizeof(floating))


cdef inline Py_ssize_t share(Py_ssize_t n, Py_ssize_t part,
                             Py_ssize_t parts) noexcept nogil:
    """Where part ``part`` of ``n`` items split in ``parts`` starts."""
    return n * part // parts


cdef inline Py_ssize_t rows_active(const int* n_active, Py_ssize_t t,
                                   Py_ssize_t row0, Py_ssize_t row1) noexcept nogil:
    """How many rows of row0 .. row1-1 run at step t (they come first)."""
    cdef Py_ssize_t n = n_active[t]
    if n > row1:
        n = row1
    return n - row0 if n > row0 else 0


# --------------------------------------------------------------------------
# Checks of the entry points' arguments: O(1) (O(parts) for the ranges),
# before any pointer is formed.
# --------------------------------------------------------------------------

# the pool's limit on the parts of one job (include/seqcore/pool.h)
cdef Py_ssize_t MAX_PARTS = 4095


cdef int check_parts(str fn, Py_ssize_t parts) except -1:
    if not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"{fn}: parts must be in [1, {MAX_PARTS}], got {parts}")
    return 0


cdef int check_ranges(str fn, const Py_ssize_t[:, ::1] ranges, Py_ssize_t B) except -1:
    """Disjoint, increasing row ranges [row0, row1) of a batch of B: the
    parts write their own rows only, so they may run at once."""
    cdef Py_ssize_t i, prev = 0
    if ranges.shape[1] != 2 or not 1 <= ranges.shape[0] <= MAX_PARTS:
        raise ValueError(f"{fn}: ranges has shape {tuple(ranges.shape)[:2]}, expected "
                         f"(parts, 2) with 1 <= parts <= {MAX_PARTS}")
    for i in range(ranges.shape[0]):
        if not prev <= ranges[i, 0] < ranges[i, 1] <= B:
            raise ValueError(f"{fn}: ranges[{i}] is rows {ranges[i, 0]}..{ranges[i, 1]}, "
                             f"out of a batch of {B}"
                             + (f" or not after range {i - 1}'s" if i else ""))
        prev = ranges[i, 1]
    return 0


cdef int check_scan(str fn, const CellSpec* s, bint training, bint backward,
                    const int[::1] n_active, const floating[:, ::1] W_hh,
                    const floating[:, ::1] extra, const floating[:, ::1] W_hr,
                    const floating[:, ::1] mask,
                    const floating[:, :, ::1] Hs, const floating[:, :, ::1] Hm,
                    const floating[:, :, ::1] Cs,
                    const floating[:, :, ::1] gates, const floating[:, :, ::1] aux,
                    const floating[:, ::1] work, const floating[::1] W_packed,
                    const floating[::1] W_packed2,
                    const Py_ssize_t[:, ::1] ranges) except -1:
    """The arguments forward_steps and backward_steps share: T, B and G*H
    come from ``gates``, P from ``W_hh``, G and what the kind needs from its
    spec."""
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], H = s.H, P = s.P
    cdef Py_ssize_t G = s.G, GH = G * H, gated = GH - s.split
    cdef str of = "T, B, G*H from gates, P from W_hh, G from kind"
    check_shape(fn, "W_hh", W_hh.shape, (GH, P),
                f"G*H from gates, G = {G} for kind {s.kind}, P from W_hh")
    if P != H:
        check_shape(fn, "W_hr", W_hr.shape, (P, H), of)
    check_shape(fn, "n_active", n_active.shape, (T,), of)
    if T > 0 and not 0 <= n_active[0] <= B:
        raise ValueError(f"{fn}: n_active[0] = {n_active[0]} is outside "
                         f"[0, {B}] ({of})")
    check_shape(fn, "Hs", Hs.shape, (T + 1, B, P), of)
    if mask.shape[0] > 0:
        check_shape(fn, "mask", mask.shape, (B, P), of)
        check_shape(fn, "Hm", Hm.shape, (T, B, P), of)
    if s.n_states == 2:
        check_shape(fn, "Cs", Cs.shape, (T + 1 if training else 2, B, H), of)
    if s.aux:
        check_shape(fn, "aux", aux.shape, (T if training else 1, B, H), of)
    check_shape(fn, "work", work.shape, (B, GH), of, True)
    if s.extra_rows > 0:
        check_shape(fn, "extra", extra.shape, (s.extra_rows, H), of)
    if W_packed.shape[0] > 0:
        check_shape(fn, "W_packed", W_packed.shape,
                    (packed_size(s.split if backward else P, P if backward else s.split,
                                 floating is double),),
                    f"pack_hidden(W_hh, {backward}, 0, {s.split}).size")
    if W_packed2.shape[0] > 0:
        if gated == 0:
            raise ValueError(f"{fn}: W_packed2 given, but kind {s.kind} has no gated block")
        check_shape(fn, "W_packed2", W_packed2.shape,
                    (packed_size(gated if backward else P, P if backward else gated,
                                 floating is double),),
                    f"pack_hidden(W_hh, {backward}, {s.split}, {GH}).size")
    check_blas_ld(fn, "H", H)
    check_blas_ld(fn, "P", P)
    check_blas_ld(fn, "G*H", GH)
    check_ranges(fn, ranges, B)
    return 0

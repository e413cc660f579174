"""Reduced-precision inference: one scan with int8 or bfloat16 products.

Design: only the matrix products change precision.  The weights W_ih and
W_hh are stored once, quantised (python/seqcore/nn/_quantized.py packs
them: int8 per output row with a scale, or bfloat16 rounded to nearest
even); everything else (biases, gate math, the cell state, the outputs)
stays in the model's dtype, and the gate math is _cells.pyx's own
``cell_forward``: the spec's ``hidden_product`` hook sends its per-step
hidden products here instead of to the float kernels.

A product ``C (n, N) (+)= A (n, K) @ W.T`` runs in three passes, in row
chunks:

1. quantise the rows of A: int8, each row on its own asymmetric scale
   (``a ~ scale * (q - zp)``, q and zp in 0..255, the range widened to hold
   0, as PyTorch's dynamic quantisation does per tensor); bfloat16, each
   entry rounded to nearest even;
2. the dot products (include/seqcore/quant.h): int32 sums of uint8 x int8
   (VNNI where present) or float sums of bfloat16 pairs (AVX512_BF16);
3. rescale: ``C (+)= (sum - zp * rowsum(W_q)) * scale_row * scale_W``
   (int8), or ``C (+)= sum`` (bfloat16), in the model's dtype.

For float32 models passes 1 (int8) and 3 run in quant.h, with AVX-512 and
generic variants that compute the same IEEE operations; for float64
models, and the bfloat16 rounding, they are plain code here.  Either way
the int8 results of the VNNI and the generic kernels are identical bit for
bit, and the bfloat16 ones too (quant.h says where they could differ:
subnormals).

Buffers of ``forward_scan`` (T steps, B batch, I input, H hidden, P state,
G gates, GH = G * H), laid out as in _recurrent.pyx at inference:
``X`` (T, B, I) time-major input, ``Hs`` (T+1, B, P), ``Cs`` (2, B, H) for
two-state kinds, ``gates`` (T, B, GH), ``aux`` (1, B, H), ``work`` (B, GH),
``pwork`` (B, H) with a projection; each part gets its own scratch for
the quantised rows and the sums.
"""

from cython cimport floating
from libc.stdint cimport uint8_t, int8_t, uint16_t, int32_t, uint32_t, int64_t
from libc.string cimport memcpy, memset
from libc.math cimport fabs
from cpython.mem cimport PyMem_Malloc, PyMem_Free

from seqcore._blas cimport gemm, NoTrans, Transpose, run_parts, serial_blas_begin, \
    serial_blas_end
from seqcore._cells cimport CellSpec, kernel_layout, cell_forward
from seqcore._checks cimport check_shape

import numpy as np


cdef extern from "seqcore/quant.h" nogil:
    int SC_Q_NR
    int SC_Q8_MAX_K
    int sc_q_features()
    void sc_q8_gemm(Py_ssize_t m, Py_ssize_t N, Py_ssize_t Kp, const uint8_t* A,
                    Py_ssize_t lda, const int8_t* P, int32_t* C, Py_ssize_t ldc,
                    int force_generic)
    void sc_q8_quantise(Py_ssize_t m, Py_ssize_t K, Py_ssize_t Kp, const float* A,
                        Py_ssize_t lda, uint8_t* Q, float* sa, int32_t* zp,
                        int force_generic)
    void sc_q8_gemm_f(Py_ssize_t m, Py_ssize_t N, Py_ssize_t Kp, const uint8_t* A,
                      Py_ssize_t lda, const int8_t* P, float* C, Py_ssize_t ldc,
                      int accumulate, const float* sa, const int32_t* zp, const float* sw,
                      const int32_t* wsum, int force_generic)
    void sc_bf16_gemm(Py_ssize_t m, Py_ssize_t N, Py_ssize_t Kp, const uint16_t* A,
                      Py_ssize_t lda, const uint16_t* P, float* C, Py_ssize_t ldc,
                      int accumulate, int force_generic)


PANEL_COLUMNS = SC_Q_NR
MAX_INT8_K = SC_Q8_MAX_K

# Rows of A quantised and multiplied at a time (the scratch's rows): the
# input projection runs over T*B rows in chunks of this many.
CHUNK_ROWS = 192


def kernels(str precision):
    """The kernels the products of ``precision`` run on: "avx512_vnni" or
    "generic" for int8, "avx512_bf16" or "generic" for bfloat16 (generic also
    when SEQCORE_KERNELS caps the kernels below AVX-512)."""
    cdef int f = sc_q_features()
    if precision == "int8":
        return "avx512_vnni" if f & 1 else "generic"
    if precision == "bfloat16":
        return "avx512_bf16" if f & 2 else "generic"
    raise ValueError(f"precision must be 'int8' or 'bfloat16', got {precision!r}")


# --------------------------------------------------------------------------
# One quantised matrix and the scratch of one part
# --------------------------------------------------------------------------

cdef struct QMat:
    bint int8                  # int8 (else bfloat16)
    Py_ssize_t N, K, Kp        # W is (N, K); rows of A padded to Kp
    const void* packed         # int8_t or uint16_t, quant.h's layout
    const void* scale          # int8: scale per row, in the model's dtype
    const int32_t* wsum        # int8: row sums of the int8 weights
                               # (both zero-padded to whole panels)


cdef struct QWork:
    Py_ssize_t rows            # rows the buffers hold
    void* qa                   # (rows, Kp) uint8_t or uint16_t
    void* sa                   # (rows,) the rows' scales, model dtype
    int32_t* zp                # (rows,) the rows' zero points
    void* acc                  # (rows, N) int32_t or float


cdef class Workspace:
    """Scratch for the parts of one job: numpy arrays that outlive the job."""
    cdef object arrays
    cdef QWork* works
    cdef Py_ssize_t n

    def __cinit__(self):
        self.arrays = []
        self.works = NULL
        self.n = 0

    def __dealloc__(self):
        PyMem_Free(self.works)


cdef Workspace make_workspace(Py_ssize_t parts, Py_ssize_t rows, Py_ssize_t Kp,
                              Py_ssize_t N, bint int8, object dtype):
    cdef Workspace w = Workspace()
    cdef Py_ssize_t i
    w.works = <QWork*> PyMem_Malloc(max(parts, 1) * sizeof(QWork))
    if w.works == NULL:
        raise MemoryError("reduced-precision scratch")
    w.n = parts
    cdef uint8_t[:, ::1] qa8
    cdef uint16_t[:, ::1] qa16
    cdef int32_t[:, ::1] acc32
    cdef float[:, ::1] accf
    cdef int32_t[::1] zp
    cdef int8_t[::1] sa
    # the sums pass through ``acc`` only for float64 models (float32 ones
    # have them rescaled, or added, inside the kernels)
    cdef Py_ssize_t acc_rows = rows if np.dtype(dtype) == np.float64 else 1
    for i in range(parts):
        zp = np.empty(rows, np.int32)
        sa = np.empty(rows * np.dtype(dtype).itemsize, np.int8)
        if int8:
            qa8 = np.empty((rows, Kp), np.uint8)
            acc32 = np.empty((acc_rows, N), np.int32)
            w.arrays += [qa8, acc32, zp, sa]
            w.works[i].qa = &qa8[0, 0]
            w.works[i].acc = &acc32[0, 0]
        else:
            qa16 = np.empty((rows, Kp), np.uint16)
            accf = np.empty((acc_rows, N), np.float32)
            w.arrays += [qa16, accf, zp, sa]
            w.works[i].qa = &qa16[0, 0]
            w.works[i].acc = &accf[0, 0]
        w.works[i].rows = rows
        w.works[i].zp = &zp[0]
        w.works[i].sa = <void*> &sa[0]
    return w


cdef int fill_qmat(QMat* q, dict m, object dtype, str name) except -1:
    """q <- the packed matrix m (a dict of _quantized.quantize_matrix)."""
    cdef const int8_t[::1] p8
    cdef const uint16_t[::1] p16
    cdef const int32_t[::1] ws
    cdef const int8_t[::1] sc
    q.int8 = m["precision"] == "int8"
    q.N, q.K, q.Kp = m["N"], m["K"], m["Kp"]
    if q.N <= 0 or q.K <= 0 or q.Kp < q.K:
        raise ValueError(f"{name}: bad packed matrix sizes {(q.N, q.K, q.Kp)}")
    n_panels = (q.N + SC_Q_NR - 1) // SC_Q_NR
    if q.int8:
        if q.Kp % 4 or q.Kp > SC_Q8_MAX_K:
            raise ValueError(f"{name}: Kp = {q.Kp} must be a multiple of 4 and at most "
                             f"{SC_Q8_MAX_K}")
        p8 = m["packed"]
        check_shape(name, "packed", p8.shape, (n_panels * SC_Q_NR * q.Kp,), "N, Kp")
        ws = m["wsum_panels"]
        check_shape(name, "wsum_panels", ws.shape, (n_panels * SC_Q_NR,), "N")
        scale = m["scale_panels"]
        if (scale.dtype != dtype or scale.shape != (n_panels * SC_Q_NR,)
                or not scale.flags.c_contiguous):
            raise ValueError(f"{name}: scale_panels must be a contiguous "
                             f"({n_panels * SC_Q_NR},) array of {dtype}")
        sc = scale.view(np.int8)
        q.packed, q.wsum, q.scale = &p8[0], &ws[0], <const void*> &sc[0]
    else:
        if q.Kp % 2:
            raise ValueError(f"{name}: Kp = {q.Kp} must be even")
        p16 = m["packed"]
        check_shape(name, "packed", p16.shape, (n_panels * SC_Q_NR * q.Kp,), "N, Kp")
        q.packed, q.wsum, q.scale = &p16[0], NULL, NULL
    return 0


# --------------------------------------------------------------------------
# The three passes of a product (shared by every instruction set)
# --------------------------------------------------------------------------

cdef inline floating round_even(floating v) noexcept nogil:
    """v rounded to the nearest integer, ties to even, for |v| < 2^22: adding
    and removing 1.5 * 2^23 (2^52 for double) leaves no fraction bits."""
    cdef floating magic = 12582912.0 if floating is float else 6755399441055744.0
    return (v + magic) - magic


cdef void quantise_u8(Py_ssize_t m, Py_ssize_t K, Py_ssize_t Kp, const floating* A,
                      Py_ssize_t lda, uint8_t* Q, floating* sa, int32_t* zp) noexcept nogil:
    """Q[i] = clamp(round(A[i] / sa[i]) + zp[i], 0, 255), sa[i] and zp[i] from
    the row's range widened to hold 0 (so 0 is exact)."""
    cdef Py_ssize_t i, k, u, K8 = K - K % 8
    cdef floating lo, hi, v, inv, scale, z
    cdef floating lo8[8]
    cdef floating hi8[8]
    cdef const floating* a
    cdef uint8_t* q
    for i in range(m):
        a = A + i * lda
        q = Q + i * Kp
        # the range in 8 independent lanes (a loop-carried min would not
        # vectorise: the compiler may not reorder it), then across them
        for u in range(8):
            lo8[u] = 0
            hi8[u] = 0
        for k in range(0, K8, 8):
            for u in range(8):
                v = a[k + u]
                lo8[u] = v if v < lo8[u] else lo8[u]
                hi8[u] = v if v > hi8[u] else hi8[u]
        lo = 0
        hi = 0
        for u in range(8):
            lo = lo8[u] if lo8[u] < lo else lo
            hi = hi8[u] if hi8[u] > hi else hi
        for k in range(K8, K):
            v = a[k]
            lo = v if v < lo else lo
            hi = v if v > hi else hi
        if hi == lo:   # a zero row
            sa[i] = 1
            zp[i] = 0
            memset(q, 0, Kp)
            continue
        scale = (hi - lo) / 255
        inv = 1 / scale
        z = round_even(-lo * inv)
        z = 0 if z < 0 else (255 if z > 255 else z)
        sa[i] = scale
        zp[i] = <int32_t> z
        for k in range(K):
            v = a[k] * inv
            v = -256 if v < -256 else (256 if v > 256 else v)
            v = round_even(v) + z
            q[k] = <uint8_t> (0 if v < 0 else (255 if v > 255 else v))
        for k in range(K, Kp):
            q[k] = <uint8_t> z   # times a zero weight


cdef inline uint16_t float_to_bf16(float f) noexcept nogil:
    """The bfloat16 nearest to f, ties to even (f finite)."""
    cdef uint32_t u
    memcpy(&u, &f, 4)
    return <uint16_t> ((u + 0x7FFF + ((u >> 16) & 1)) >> 16)


cdef inline uint16_t double_to_bf16(double d) noexcept nogil:
    """The bfloat16 nearest to d, ties to even: rounded to float toward zero
    with a sticky last bit (round to odd), then to bfloat16, so that the two
    roundings make one."""
    cdef float f = <float> d
    cdef uint32_t u
    memcpy(&u, &f, 4)
    if <double> f != d:
        if fabs(<double> f) > fabs(d):
            u -= 1          # one step toward zero (f != 0 here)
        u |= 1
    return <uint16_t> ((u + 0x7FFF + ((u >> 16) & 1)) >> 16)


cdef void to_bf16(Py_ssize_t m, Py_ssize_t K, Py_ssize_t Kp, const floating* A,
                  Py_ssize_t lda, uint16_t* Q) noexcept nogil:
    cdef Py_ssize_t i, k
    for i in range(m):
        for k in range(K):
            if floating is float:
                Q[i * Kp + k] = float_to_bf16(A[i * lda + k])
            else:
                Q[i * Kp + k] = double_to_bf16(A[i * lda + k])
        for k in range(K, Kp):
            Q[i * Kp + k] = 0


cdef void qproduct(const QMat* W, Py_ssize_t n, const floating* A, Py_ssize_t lda,
                   floating* C, Py_ssize_t ldc, bint accumulate, QWork* w,
                   bint generic) noexcept nogil:
    """C (n, N) (+)= A (n, K) @ W.T in W's precision, w.rows rows at a time."""
    cdef Py_ssize_t r0, m, i, j, N = W.N, Kp = W.Kp
    cdef const floating* sw = <const floating*> W.scale
    cdef floating* sa = <floating*> w.sa
    cdef const int32_t* acc
    cdef const float* accf
    cdef floating* c
    cdef floating si
    cdef int32_t z
    r0 = 0
    while r0 < n:
        m = min(w.rows, n - r0)
        if floating is float:
            # float32 models: the kernels rescale and add into C themselves
            if W.int8:
                sc_q8_quantise(m, W.K, Kp, A + r0 * lda, lda, <uint8_t*> w.qa, sa, w.zp,
                               generic)
                # C (+)= rescaled Q @ W_q.T   (m, N) = (m, Kp)(Kp, N)
                sc_q8_gemm_f(m, N, Kp, <const uint8_t*> w.qa, Kp, <const int8_t*> W.packed,
                             C + r0 * ldc, ldc, accumulate, sa, w.zp, sw, W.wsum, generic)
            else:
                to_bf16(m, W.K, Kp, A + r0 * lda, lda, <uint16_t*> w.qa)
                # C (+)= bf16(A) @ W_b.T   (m, N) = (m, Kp)(Kp, N), float sums
                sc_bf16_gemm(m, N, Kp, <const uint16_t*> w.qa, Kp,
                             <const uint16_t*> W.packed, C + r0 * ldc, ldc, accumulate,
                             generic)
        elif W.int8:
            quantise_u8(m, W.K, Kp, A + r0 * lda, lda, <uint8_t*> w.qa, sa, w.zp)
            # acc = Q @ W_q.T      (m, N) = (m, Kp)(Kp, N), int32
            sc_q8_gemm(m, N, Kp, <const uint8_t*> w.qa, Kp, <const int8_t*> W.packed,
                       <int32_t*> w.acc, N, generic)
            for i in range(m):
                acc = <const int32_t*> w.acc + i * N
                c = C + (r0 + i) * ldc
                si = sa[i]
                z = w.zp[i]
                # sum((q - zp) * w) = acc - zp * rowsum(w): no term leaves
                # int32 while Kp <= SC_Q8_MAX_K (checked where W is packed)
                if accumulate:
                    for j in range(N):
                        c[j] += <floating> (acc[j] - z * W.wsum[j]) * (si * sw[j])
                else:
                    for j in range(N):
                        c[j] = <floating> (acc[j] - z * W.wsum[j]) * (si * sw[j])
        else:
            to_bf16(m, W.K, Kp, A + r0 * lda, lda, <uint16_t*> w.qa)
            # acc = bf16(A) @ W_b.T   (m, N) = (m, Kp)(Kp, N), float sums
            sc_bf16_gemm(m, N, Kp, <const uint16_t*> w.qa, Kp, <const uint16_t*> W.packed,
                         <float*> w.acc, N, False, generic)
            for i in range(m):
                accf = <const float*> w.acc + i * N
                c = C + (r0 + i) * ldc
                if accumulate:
                    for j in range(N):
                        c[j] += accf[j]
                else:
                    for j in range(N):
                        c[j] = accf[j]
        r0 += m


# --------------------------------------------------------------------------
# A product on its own (for the tests: the paths side by side)
# --------------------------------------------------------------------------

def matmul(const floating[:, ::1] A, dict W, bint generic=False):
    """``A @ W.T`` in the precision of the packed matrix ``W``
    (``_quantized.quantize_matrix``), as the scans compute it; ``generic``
    forces the generic kernels.  A new (n, N) array of A's dtype."""
    dtype = np.float32 if floating is float else np.float64
    cdef QMat q
    fill_qmat(&q, W, np.dtype(dtype), "matmul")
    cdef Py_ssize_t n = A.shape[0]
    check_shape("matmul", "A", A.shape, (None, q.K), "K from W")
    out = np.zeros((n, q.N), dtype)
    cdef floating[:, ::1] C = out
    if n == 0:
        return out
    cdef Workspace ws = make_workspace(1, min(n, CHUNK_ROWS), q.Kp, q.N, q.int8, dtype)
    with nogil:
        qproduct(&q, n, &A[0, 0], q.K, &C[0, 0], q.N, False, &ws.works[0], generic)
    return out


# --------------------------------------------------------------------------
# One scan (one layer, one direction) at inference
# --------------------------------------------------------------------------

cdef enum Job:
    PROJECT, FORWARD


cdef struct Part:
    CellSpec s                 # the scan's spec, its hook's context this Part
    QWork* work
    const QMat* Wh             # W_hh[:split]
    const QMat* Wh2            # W_hh[split:] (gated kinds)
    bint dbl, generic


cdef struct QScan:
    int job
    bint dbl, generic, proj, two
    Py_ssize_t T, B, I, parts
    const int* n_active
    const Py_ssize_t* ranges
    Part* part                 # (parts,) for the time loop
    QWork* work                # (parts,) for the projection
    const QMat* Wi
    const void* X
    const void* bias
    const void* b_sep
    const void* extra
    const void* W_hr
    void* pwork
    void* Hs
    void* Cs
    void* gates
    void* aux
    void* work_g
    void* h_n
    void* c_n


cdef void hidden_product(const void* sp, Py_ssize_t n, const void* A, void* C,
                         Py_ssize_t ldc, bint accumulate, bint gated) noexcept nogil:
    """The spec's hook (see _cells.pxd): the step's hidden product, quantised."""
    cdef const CellSpec* s = <const CellSpec*> sp
    cdef Part* p = <Part*> s.hidden_ctx
    cdef const QMat* W = p.Wh2 if gated else p.Wh
    if p.dbl:
        qproduct(W, n, <const double*> A, s.P, <double*> C, ldc, accumulate, p.work,
                 p.generic)
    else:
        qproduct(W, n, <const float*> A, s.P, <float*> C, ldc, accumulate, p.work,
                 p.generic)


cdef void run_job(void* ctx, Py_ssize_t part) noexcept nogil:
    cdef QScan* a = <QScan*> ctx
    if a.dbl:
        job_part(a, part, <double*> NULL)
    else:
        job_part(a, part, <float*> NULL)


cdef void job_part(QScan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    cdef Py_ssize_t TB = a.T * a.B, GH = a.Wi.N
    cdef Py_ssize_t r0, r1
    if a.job == PROJECT:
        r0 = TB * part // a.parts
        r1 = TB * (part + 1) // a.parts
        # gates = X @ W_ih.T     (rows, GH) = (rows, I)(I, GH), quantised
        if r1 > r0:
            qproduct(a.Wi, r1 - r0, <const floating*> a.X + r0 * a.I, a.I,
                     <floating*> a.gates + r0 * GH, GH, False, &a.work[part], a.generic)
    else:
        forward_rows(a, part, tag)


cdef inline Py_ssize_t rows_active(const int* n_active, Py_ssize_t t,
                                   Py_ssize_t row0, Py_ssize_t row1) noexcept nogil:
    """How many rows of row0 .. row1-1 run at step t (they come first)."""
    cdef Py_ssize_t n = n_active[t]
    if n > row1:
        n = row1
    return n - row0 if n > row0 else 0


cdef void forward_rows(QScan* a, Py_ssize_t part, floating* tag) noexcept nogil:
    """The time loop on the rows of range ``part``: _recurrent.forward_rows at
    inference (no mask, two rows of Cs in turn), on the part's spec."""
    cdef Part* p = &a.part[part]
    cdef const CellSpec* s = &p.s
    cdef Py_ssize_t row0 = a.ranges[2 * part], row1 = a.ranges[2 * part + 1]
    cdef Py_ssize_t T = a.T, B = a.B, H = s.H, P = s.P, GH = s.G * s.H
    cdef Py_ssize_t BH = B * H, BP = B * P, t, n, ended
    cdef bint two = a.two, proj = a.proj
    cdef floating* G_ = <floating*> a.gates + row0 * GH
    cdef floating* Hp = <floating*> a.Hs + row0 * P
    cdef floating* Cp = <floating*> a.Cs + row0 * H if two else NULL
    cdef floating* A = <floating*> a.aux + row0 * H if s.aux else NULL
    cdef floating* hf = <floating*> a.pwork + row0 * H if proj else NULL
    cdef floating* work = <floating*> a.work_g + row0 * GH
    cdef floating* h_n = <floating*> a.h_n
    cdef floating* c_n = <floating*> a.c_n
    cdef floating* c_prev = NULL
    cdef floating* c = NULL
    for t in range(T):
        n = rows_active(a.n_active, t, row0, row1)
        if n == 0:
            break   # sorted by length: every later step is padding too
        if two:
            c_prev = Cp + (t % 2) * BH
            c = Cp + ((t + 1) % 2) * BH
        cell_forward(s, n, G_ + t * B * GH, Hp + t * BP, Hp + t * BP,
                     hf if proj else Hp + (t + 1) * BP, c_prev, c, A, work,
                     <const floating*> NULL, <const floating*> a.bias,
                     <const floating*> a.b_sep, <const floating*> a.extra)
        if proj:
            # h = h_full @ W_hr.T      (n, P) = (n, H)(H, P), in the model's dtype
            gemm(NoTrans, Transpose, n, P, H, 1, hf, H, <const floating*> a.W_hr, H, 0,
                 Hp + (t + 1) * BP, P)
        ended = rows_active(a.n_active, t + 1, row0, row1) if t + 1 < T else 0
        if n > ended:
            memcpy(h_n + (row0 + ended) * P, Hp + (t + 1) * BP + ended * P,
                   (n - ended) * P * sizeof(floating))
            if two:
                memcpy(c_n + (row0 + ended) * H, c + ended * H,
                       (n - ended) * H * sizeof(floating))


def expect_shape(str fn, str name, a, tuple shape, str origin):
    if a.shape != shape:
        raise ValueError(f"{fn}: {name} has shape {a.shape}, expected {shape} ({origin})")


cdef inline void* ptr(object a):
    """The first entry of a non-empty C-contiguous array, else NULL."""
    cdef Py_ssize_t addr
    if a.size == 0:
        return NULL
    addr = a.ctypes.data
    return <void*> addr


def forward_scan(int kind, int flags, const int[::1] n_active, dict W_ih, dict W_hh,
                 dict W_hh2, X, bias, b_hh, extra, W_hr, pwork, Hs, Cs, gates, aux,
                 work, h_n, c_n, const Py_ssize_t[:, ::1] ranges, int threads,
                 Py_ssize_t project_parts=1, bint generic=False):
    """One scan (layer, direction) at inference with reduced-precision products.

    ``W_ih``, ``W_hh`` (the rows that read h) and ``W_hh2`` (the gated rows,
    or None) are packed matrices of ``_quantized.quantize_matrix``; the other
    arrays are those of ``_recurrent.project`` and ``forward_steps`` at
    inference, all of one dtype, C-contiguous: ``X`` (T, B, I), ``Hs``
    (T+1, B, P) with the initial state in ``Hs[0]``, ``Cs`` (2, B, H) with
    ``Cs[0]`` the initial cell (two-state kinds; else empty), ``gates``
    (T, B, GH), ``aux`` (1, B, H) or empty, ``work`` (B, GH), ``pwork``
    (B, H) with a projection ``W_hr`` (P, H), ``h_n`` (B, P), ``c_n``
    (B, H).  ``bias``: ``b_ih + b_hh`` (but ``b_ih`` alone in a separate
    bias block, whose ``b_hh`` comes from ``b_hh``).  ``ranges`` (parts, 2):
    the row ranges of the time loop; the projection runs in
    ``project_parts`` blocks of rows; both on up to ``threads`` threads.
    ``generic`` forces the generic kernels (tests).
    """
    dtype = X.dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"forward_scan: X must be float32 or float64, got {dtype}")
    arrays = dict(X=X, bias=bias, b_hh=b_hh, extra=extra, W_hr=W_hr, pwork=pwork, Hs=Hs,
                  Cs=Cs, gates=gates, aux=aux, work=work, h_n=h_n, c_n=c_n)
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or not arr.flags.c_contiguous:
            raise TypeError(f"forward_scan: {name} must be a C-contiguous array of {dtype}")
    if X.ndim != 3 or gates.ndim != 3:
        raise ValueError("forward_scan: X and gates must be 3-D")
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], I = X.shape[2]
    cdef Py_ssize_t GH = gates.shape[2], P = Hs.shape[2] if Hs.ndim == 3 else -1
    cdef CellSpec s
    s.H = 1
    if kernel_layout(kind, flags, &s) < 0:
        raise ValueError(f"forward_scan: unknown cell kind {kind}")
    if GH % s.G:
        raise ValueError(f"forward_scan: gates has {GH} columns, not a multiple of G = {s.G}")
    s.H = GH // s.G
    kernel_layout(kind, flags, &s)
    s.P = P
    s.Wf = s.Wf2 = s.Wb = s.Wb2 = NULL
    cdef Py_ssize_t H = s.H
    cdef bint two = s.n_states == 2, proj = P != H
    if proj and not s.proj_ok:
        raise ValueError(f"forward_scan: kind {kind} has no projection (P = {P}, H = {H})")
    cdef str fn = "forward_scan", of = "T, B, I from X, G*H from gates, P from Hs"
    expect_shape(fn, "gates", gates, (T, B, GH), of)
    expect_shape(fn, "Hs", Hs, (T + 1, B, P), of)
    if n_active.shape[0] != T:
        raise ValueError(f"{fn}: n_active has {n_active.shape[0]} entries, expected T = {T}")
    expect_shape(fn, "bias", bias, (GH,), of)
    if s.separate_bias >= 0:
        expect_shape(fn, "b_hh", b_hh, (GH,), of)
    if two:
        expect_shape(fn, "Cs", Cs, (2, B, H), of)
        expect_shape(fn, "c_n", c_n, (B, H), of)
    if s.aux:
        expect_shape(fn, "aux", aux, (1, B, H), of)
    if s.extra_rows > 0:
        expect_shape(fn, "extra", extra, (s.extra_rows, H), of)
    if proj:
        expect_shape(fn, "W_hr", W_hr, (P, H), of)
        expect_shape(fn, "pwork", pwork, (B, H), of)
    expect_shape(fn, "work", work, (B, GH), of)
    expect_shape(fn, "h_n", h_n, (B, P), of)
    cdef Py_ssize_t i, prev = 0, parts = ranges.shape[0]
    if ranges.shape[1] != 2 or not 1 <= parts <= 4095:
        raise ValueError(f"{fn}: ranges must have shape (parts, 2), 1 <= parts <= 4095")
    for i in range(parts):
        if not prev <= ranges[i, 0] < ranges[i, 1] <= B:
            raise ValueError(f"{fn}: ranges[{i}] is not an increasing range of the batch")
        prev = ranges[i, 1]
    if T > 0 and not 0 <= n_active[0] <= B:
        raise ValueError(f"{fn}: n_active[0] = {n_active[0]} is outside [0, {B}]")
    if not 1 <= project_parts <= 4095:
        raise ValueError(f"{fn}: project_parts must be in [1, 4095]")

    cdef QMat qi, qh, qh2
    fill_qmat(&qi, W_ih, dtype, "W_ih")
    fill_qmat(&qh, W_hh, dtype, "W_hh")
    if qi.N != GH or qi.K != I:
        raise ValueError(f"{fn}: W_ih is ({qi.N}, {qi.K}), expected ({GH}, {I}) ({of})")
    if qh.N != s.split or qh.K != P:
        raise ValueError(f"{fn}: W_hh is ({qh.N}, {qh.K}), expected ({s.split}, {P}) ({of})")
    if s.split < GH:
        if W_hh2 is None:
            raise ValueError(f"{fn}: kind {kind} needs W_hh2, the gated rows of W_hh")
        fill_qmat(&qh2, W_hh2, dtype, "W_hh2")
        if qh2.N != GH - s.split or qh2.K != P:
            raise ValueError(f"{fn}: W_hh2 is ({qh2.N}, {qh2.K}), expected "
                             f"({GH - s.split}, {P})")
        if qh2.int8 != qh.int8:
            raise ValueError(f"{fn}: W_hh and W_hh2 differ in precision")
    if qi.int8 != qh.int8:
        raise ValueError(f"{fn}: W_ih and W_hh differ in precision")
    if T == 0 or B == 0:
        return

    cdef Py_ssize_t max_rows = 0
    for i in range(parts):
        max_rows = max(max_rows, ranges[i, 1] - ranges[i, 0])
    cdef Workspace wp = make_workspace(project_parts, min(CHUNK_ROWS, T * B), qi.Kp, GH,
                                       qi.int8, dtype)
    cdef Workspace wh = make_workspace(parts, min(CHUNK_ROWS, max_rows), qh.Kp,
                                       max(s.split, GH - s.split), qi.int8, dtype)
    cdef Part* part_ = <Part*> PyMem_Malloc(parts * sizeof(Part))
    if part_ == NULL:
        raise MemoryError("forward_scan: parts")
    cdef QScan a
    cdef bint dbl = dtype == np.float64
    try:
        for i in range(parts):
            part_[i].s = s
            part_[i].s.hidden_product = hidden_product
            part_[i].s.hidden_ctx = &part_[i]
            part_[i].work = &wh.works[i]
            part_[i].Wh = &qh
            part_[i].Wh2 = &qh2 if s.split < GH else NULL
            part_[i].dbl = dbl
            part_[i].generic = generic
        a.dbl, a.generic, a.proj, a.two = dbl, generic, proj, two
        a.T, a.B, a.I = T, B, I
        a.n_active = &n_active[0]
        a.ranges = &ranges[0, 0]
        a.part, a.work, a.Wi = part_, wp.works, &qi
        a.X, a.bias, a.extra, a.W_hr = ptr(X), ptr(bias), ptr(extra), ptr(W_hr)
        a.b_sep = NULL
        if s.separate_bias >= 0:
            a.b_sep = ptr(b_hh)
            a.b_sep = <const char*> a.b_sep + s.separate_bias * H * (8 if dbl else 4)
        a.pwork, a.Hs, a.Cs, a.gates = ptr(pwork), ptr(Hs), ptr(Cs), ptr(gates)
        a.aux, a.work_g, a.h_n, a.c_n = ptr(aux), ptr(work), ptr(h_n), ptr(c_n)
        with nogil:
            serial_blas_begin()
            a.job = PROJECT
            a.parts = project_parts
            run_parts(run_job, &a, project_parts, threads)
            a.job = FORWARD
            a.parts = parts
            run_parts(run_job, &a, parts, threads)
            serial_blas_end()
    finally:
        PyMem_Free(part_)

"""Row-major BLAS shim.

Design: every matrix in seqcore is C-ordered.  A C-ordered (m, n) matrix is
the Fortran-ordered (n, m) matrix of its transpose, so the row-major product
``C = op(A) @ op(B)`` is the column-major product ``C.T = op(B).T @ op(A).T``:
we call ?gemm with the operands swapped and the transpose flags unchanged.
"""

from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock,
                               PyThread_acquire_lock, PyThread_release_lock,
                               WAIT_LOCK)
from libc.limits cimport INT_MAX
from scipy.linalg.cython_blas cimport sgemm, dgemm

cdef extern from "seqcore/pool.h" nogil:
    ctypedef void (*sc_part_fn)(void* ctx, Py_ssize_t part) noexcept nogil
    void sc_pool_run(sc_part_fn fn, void* ctx, Py_ssize_t n, int threads)
    int sc_pool_backing_off()
    ctypedef struct sc_pool_t:
        int n_workers
        long long n_shared, n_alone, n_backoffs, last_own_ns, last_wait_ns, n_moves, n_cold
    sc_pool_t sc_pool


# The largest m, n or k of one ?gemm call: scipy's BLAS is LP64, its sizes are
# C ints.  Only the tests lower it (set_max_blas_dim), to run the splitting on
# small problems.
cdef Py_ssize_t max_blas_dim = INT_MAX


def set_max_blas_dim(Py_ssize_t n):
    """Set the largest m, n or k passed to one ?gemm call (default INT_MAX)
    and return the previous value.  For tests: a lower value splits products
    that would fit in one call, so the splitting runs on small sizes."""
    global max_blas_dim
    if not 1 <= n <= INT_MAX:
        raise ValueError(f"max_blas_dim must be in [1, {INT_MAX}], got {n}")
    old, max_blas_dim = max_blas_dim, n
    return old


cdef void gemm(Trans ta, Trans tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
               floating alpha, const floating* A, Py_ssize_t lda,
               const floating* B, Py_ssize_t ldb,
               floating beta, floating* C, Py_ssize_t ldc) noexcept nogil:
    """C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C, row-major.

    lda, ldb, ldc must fit in an int (the entry points check them with
    _checks.check_blas_ld).  An m, n or k above max_blas_dim is split into
    calls of at most max_blas_dim: blocks of rows or columns of C, or blocks
    of the inner dimension summed into C (beta, then 1).  A product that fits
    is one call with the same arguments as ever, so its result is unchanged.
    """
    cdef char cta = b"T" if ta == Transpose else b"N"
    cdef char ctb = b"T" if tb == Transpose else b"N"
    cdef Py_ssize_t i, j, c = max_blas_dim
    cdef int im, in_, ik, ilda, ildb, ildc
    if m <= 0 or n <= 0:
        return
    if m > c:
        # rows i.. of C are rows i.. of op(A): of A, or columns of A.T
        i = 0
        while i < m:
            gemm(ta, tb, min(c, m - i), n, k, alpha,
                 A + i * (lda if ta == NoTrans else 1), lda, B, ldb, beta,
                 C + i * ldc, ldc)
            i += c
        return
    if n > c:
        # columns j.. of C are columns j.. of op(B)
        j = 0
        while j < n:
            gemm(ta, tb, m, min(c, n - j), k, alpha, A, lda,
                 B + j * (1 if tb == NoTrans else ldb), ldb, beta, C + j, ldc)
            j += c
        return
    if k > c:
        # C = beta * C + the sum over blocks i.. of k of op(A)[:, i..] @ op(B)[i..]
        i = 0
        while i < k:
            gemm(ta, tb, m, n, min(c, k - i), alpha,
                 A + i * (1 if ta == NoTrans else lda), lda,
                 B + i * (ldb if tb == NoTrans else 1), ldb,
                 beta if i == 0 else 1, C, ldc)
            i += c
        return
    if k <= 0:
        # BLAS would leave C untouched for k == 0 only when beta == 1;
        # spell the degenerate case out.
        for i in range(m):
            for j in range(n):
                C[i * ldc + j] = 0 if beta == 0 else beta * C[i * ldc + j]
        return
    im, in_, ik = <int> m, <int> n, <int> k
    ilda, ildb, ildc = <int> lda, <int> ldb, <int> ldc
    if floating is float:
        sgemm(&ctb, &cta, &in_, &im, &ik, &alpha, <float*> B, &ildb,
              <float*> A, &ilda, &beta, C, &ildc)
    else:
        dgemm(&ctb, &cta, &in_, &im, &ik, &alpha, <double*> B, &ildb,
              <double*> A, &ilda, &beta, C, &ildc)


cdef void colsum(Py_ssize_t m, Py_ssize_t n, const floating* A, Py_ssize_t lda,
                 floating* out) noexcept nogil:
    """out (n,) = A.sum(axis=0) for a row-major (m, n) block with leading dim lda."""
    cdef Py_ssize_t i, j
    for j in range(n):
        out[j] = 0
    for i in range(m):
        for j in range(n):
            out[j] += A[i * lda + j]


cdef double sumsq(Py_ssize_t n, const floating* x) noexcept nogil:
    """(x ** 2).sum(), accumulated in double for float32 too."""
    cdef double acc = 0
    cdef Py_ssize_t i
    for i in range(n):
        acc += <double> x[i] * x[i]
    return acc


# --------------------------------------------------------------------------
# BLAS threads chosen per shape.
#
# A multi-threaded BLAS pays a thread hand-off on every call; on the small
# products of one time step ((B, H) x (H, G*H)) that costs more than it
# saves, while the large products before and after the loop gain from it.
# The driver brackets its time loop with serial_blas_begin/end, which drop
# the BLAS to one thread.  The thread count of OpenBLAS is process-wide, so
# the calls are counted under a lock: the first caller in saves the count,
# the last caller out restores it, whatever the interleaving of threads.
# Other threads' BLAS calls run on one thread meanwhile.  Without a known
# BLAS (seqcore.set_blas_thread_control not called) these do nothing.
# --------------------------------------------------------------------------

ctypedef int (*get_threads_t)() noexcept nogil
ctypedef void (*set_threads_t)(int) noexcept nogil

cdef get_threads_t _get_threads = NULL
cdef set_threads_t _set_threads = NULL
cdef int _saved_threads = 0
cdef int _serial_depth = 0
cdef PyThread_type_lock _lock = PyThread_allocate_lock()


def set_thread_control(size_t get_address, size_t set_address):
    """Install the BLAS's get/set-number-of-threads functions (addresses; 0 to remove)."""
    global _get_threads, _set_threads
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    if _serial_depth == 0:
        _get_threads = <get_threads_t> get_address if get_address and set_address else NULL
        _set_threads = <set_threads_t> set_address if get_address and set_address else NULL
    PyThread_release_lock(_lock)
    return _set_threads != NULL


cdef void serial_blas_begin() noexcept nogil:
    global _saved_threads, _serial_depth
    if _set_threads == NULL:
        return
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    if _serial_depth == 0:
        _saved_threads = _get_threads()
        if _saved_threads > 1:
            _set_threads(1)
    _serial_depth += 1
    PyThread_release_lock(_lock)


cdef void serial_blas_end() noexcept nogil:
    global _serial_depth
    if _set_threads == NULL:
        return
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    _serial_depth -= 1
    if _serial_depth == 0 and _saved_threads > 1:
        _set_threads(_saved_threads)
    PyThread_release_lock(_lock)


def user_blas_threads():
    """The BLAS thread count the user set (not the one a time loop runs on
    meanwhile), or 0 when the BLAS's controls are unknown."""
    cdef int n
    if _get_threads == NULL:
        return 0
    PyThread_acquire_lock(_lock, WAIT_LOCK)
    n = _saved_threads if _serial_depth > 0 else _get_threads()
    PyThread_release_lock(_lock)
    return n


cdef void run_parts(part_fn fn, void* ctx, Py_ssize_t n, int threads) noexcept nogil:
    sc_pool_run(<sc_part_fn> fn, ctx, n, threads)


cdef void _noop_part(void* ctx, Py_ssize_t part) noexcept nogil:
    (<int*> ctx)[part] += 1


def pool_self_test(Py_ssize_t n, int threads, Py_ssize_t rounds):
    """Run ``rounds`` jobs of ``n`` parts on the worker pool; each part adds
    one to its own counter.  Returns the counters (each must equal rounds).
    For tests and for timing the hand-off."""
    import numpy as np
    counts = np.zeros(n, dtype=np.intc)
    cdef int[::1] c = counts
    cdef Py_ssize_t r
    if n > 0:
        with nogil:
            for r in range(rounds):
                run_parts(_noop_part, &c[0], n, threads)
    return counts


def pool_stats():
    """The worker pool's counts: workers, jobs shared, jobs run alone during a
    backoff, backoffs started, workers moved off their caller's CPU, jobs run
    alone because the workers slept; and the own and waiting times of the
    last job that started a backoff."""
    return {"workers": sc_pool.n_workers, "shared": sc_pool.n_shared,
            "alone": sc_pool.n_alone, "backoffs": sc_pool.n_backoffs,
            "moves": sc_pool.n_moves, "cold": sc_pool.n_cold, "last_backoff_own_ns": sc_pool.last_own_ns,
            "last_backoff_wait_ns": sc_pool.last_wait_ns}


def pool_backing_off():
    """Whether the pool runs jobs on the caller alone for now (a worker lost
    its core lately): the Python-level thread hand-offs follow it too."""
    return bool(sc_pool_backing_off())


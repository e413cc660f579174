"""Row-major BLAS shim.

Design: every matrix in seqcore is C-ordered.  A C-ordered (m, n) matrix is
the Fortran-ordered (n, m) matrix of its transpose, so the row-major product
``C = op(A) @ op(B)`` is the column-major product ``C.T = op(B).T @ op(A).T``:
we call ?gemm with the operands swapped and the transpose flags unchanged.
"""

from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock,
                               PyThread_acquire_lock, PyThread_release_lock,
                               WAIT_LOCK)
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef void gemm(Trans ta, Trans tb, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil:
    """C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C, row-major."""
    cdef char cta = b"T" if ta == Transpose else b"N"
    cdef char ctb = b"T" if tb == Transpose else b"N"
    cdef int i, j
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        # BLAS would leave C untouched for k == 0 only when beta == 1;
        # spell the degenerate case out.
        for i in range(m):
            for j in range(n):
                C[i * ldc + j] = 0 if beta == 0 else beta * C[i * ldc + j]
        return
    if floating is float:
        sgemm(&ctb, &cta, &n, &m, &k, &alpha, <float*> B, &ldb,
              <float*> A, &lda, &beta, C, &ldc)
    else:
        dgemm(&ctb, &cta, &n, &m, &k, &alpha, <double*> B, &ldb,
              <double*> A, &lda, &beta, C, &ldc)


cdef void colsum(int m, int n, const floating* A, int lda, floating* out) noexcept nogil:
    """out (n,) = A.sum(axis=0) for a row-major (m, n) block with leading dim lda."""
    cdef int i, j
    for j in range(n):
        out[j] = 0
    for i in range(m):
        for j in range(n):
            out[j] += A[i * lda + j]


cdef double sumsq(int n, const floating* x) noexcept nogil:
    """(x ** 2).sum(), accumulated in double for float32 too."""
    cdef double acc = 0
    cdef int i
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

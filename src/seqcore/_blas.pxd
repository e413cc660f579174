# BLAS shim over the fused type ``floating``: sgemm for float32, dgemm for
# float64.  Callers think in C (row-major) order; see _blas.pyx.

from cython cimport floating

cpdef enum Trans:
    NoTrans = 0
    Transpose = 1

# Sizes, strides and offsets are Py_ssize_t; gemm splits any m, n or k above
# the BLAS's 32-bit int into several calls.  Its leading dimensions cannot be
# split: the def entry points refuse one above INT_MAX (_checks.pxd).
cdef void gemm(Trans ta, Trans tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
               floating alpha, const floating* A, Py_ssize_t lda,
               const floating* B, Py_ssize_t ldb,
               floating beta, floating* C, Py_ssize_t ldc) noexcept nogil

cdef void colsum(Py_ssize_t m, Py_ssize_t n, const floating* A, Py_ssize_t lda,
                 floating* out) noexcept nogil

cdef double sumsq(Py_ssize_t n, const floating* x) noexcept nogil

cdef void serial_blas_begin() noexcept nogil
cdef void serial_blas_end() noexcept nogil

# The core's worker threads (include/seqcore/pool.h): fn(ctx, i) for i in
# 0 .. n-1 on the calling thread and up to threads - 1 C workers, which never
# touch Python; returns when every part is done.
ctypedef void (*part_fn)(void* ctx, Py_ssize_t part) noexcept nogil
cdef void run_parts(part_fn fn, void* ctx, Py_ssize_t n, int threads) noexcept nogil

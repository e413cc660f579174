# BLAS shim over the fused type ``floating``: sgemm for float32, dgemm for
# float64.  Callers think in C (row-major) order; see _blas.pyx.

from cython cimport floating

cpdef enum Trans:
    NoTrans = 0
    Transpose = 1

cdef void gemm(Trans ta, Trans tb, int m, int n, int k, floating alpha,
               const floating* A, int lda, const floating* B, int ldb,
               floating beta, floating* C, int ldc) noexcept nogil

cdef void colsum(int m, int n, const floating* A, int lda, floating* out) noexcept nogil

cdef double sumsq(int n, const floating* x) noexcept nogil

cdef void serial_blas_begin() noexcept nogil
cdef void serial_blas_end() noexcept nogil

"""Row-major BLAS shim.

Design: every matrix in seqcore is C-ordered.  A C-ordered (m, n) matrix is
the Fortran-ordered (n, m) matrix of its transpose, so the row-major product
``C = op(A) @ op(B)`` is the column-major product ``C.T = op(B).T @ op(A).T``:
we call ?gemm with the operands swapped and the transpose flags unchanged.
"""

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

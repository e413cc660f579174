"""The products of a dense (affine) layer, on a range of rows or outputs at a time.

Design: ``seqcore.nn.Linear`` views its input as rows X (N, I) and keeps
W (K, I), b (K,).  Each function here fills one range of its output with
one GEMM on a one-thread BLAS (serial_blas_begin/end), so the caller decides
how the work is cut, from the shapes alone, and may run disjoint ranges on
different threads at once: results are then bit-identical whatever the
BLAS thread count (a multi-threaded BLAS partitions a product by its thread
count, which changes the rounding of some entries).

* ``affine_rows``: Y[r] = X[r] @ W.T + b (the activation is applied by
  the caller, with NumPy's vectorised ufuncs: a scalar libm tanh per entry
  cost 8 times the GEMM of a (1024, 128) x (128, 128) product).
* ``input_grad_rows``: dX[r] = dZ[r] @ W.
* ``weight_grad_rows``: dW[k] = dZ[:, k].T @ X and db[k] = dZ[:, k].sum(0),
  a range k of the outputs; each entry sums over all N rows in one call.

Shapes are checked before any work; GEMM sizes must fit a BLAS int.
"""

from cython cimport floating

from seqcore._blas cimport (gemm, colsum, NoTrans, Transpose,
                            serial_blas_begin, serial_blas_end)

# activation codes, as python/seqcore/nn/_linear.py passes them
cdef Py_ssize_t INT_MAX = 2147483647


cdef _check_range(Py_ssize_t a, Py_ssize_t b, Py_ssize_t n, str what):
    if not 0 <= a <= b <= n:
        raise ValueError(f"{what} range [{a}, {b}) is outside [0, {n})")


cdef _check_blas_sizes(Py_ssize_t N, Py_ssize_t I, Py_ssize_t K):
    if N > INT_MAX or I > INT_MAX or K > INT_MAX:
        raise ValueError(f"sizes (N={N}, I={I}, K={K}) exceed the BLAS int range")


def affine_rows(const floating[:, ::1] X, const floating[:, ::1] W, const floating[::1] b,
                floating[:, ::1] Y, Py_ssize_t r0, Py_ssize_t r1):
    """Y[r0:r1] = X[r0:r1] @ W.T + b   (n, K) = (n, I)(I, K).

    ``b`` of length 0 means no bias.
    """
    cdef Py_ssize_t N = X.shape[0], I = X.shape[1], K = W.shape[0], r, k
    cdef bint has_bias = b.shape[0] != 0
    if W.shape[1] != I:
        raise ValueError(f"W has {W.shape[1]} columns, X has {I}")
    if has_bias and b.shape[0] != K:
        raise ValueError(f"b has length {b.shape[0]}, expected {K}")
    if Y.shape[0] != N or Y.shape[1] != K:
        raise ValueError(f"Y must have shape ({N}, {K}), got ({Y.shape[0]}, {Y.shape[1]})")
    _check_range(r0, r1, N, "row")
    _check_blas_sizes(N, I, K)
    if r1 == r0 or K == 0:
        return
    with nogil:
        serial_blas_begin()
        gemm(NoTrans, Transpose, <int> (r1 - r0), <int> K, <int> I, 1,
             &X[r0, 0], <int> I, &W[0, 0], <int> I, 0, &Y[r0, 0], <int> K)
        serial_blas_end()
        if has_bias:
            for r in range(r0, r1):
                for k in range(K):
                    Y[r, k] += b[k]


def input_grad_rows(const floating[:, ::1] dZ, const floating[:, ::1] W,
                    floating[:, ::1] dX, Py_ssize_t r0, Py_ssize_t r1):
    """dX[r0:r1] = dZ[r0:r1] @ W   (n, I) = (n, K)(K, I)."""
    cdef Py_ssize_t N = dZ.shape[0], K = dZ.shape[1], I = W.shape[1]
    if W.shape[0] != K:
        raise ValueError(f"W has {W.shape[0]} rows, dZ has {K} columns")
    if dX.shape[0] != N or dX.shape[1] != I:
        raise ValueError(f"dX must have shape ({N}, {I}), got ({dX.shape[0]}, {dX.shape[1]})")
    _check_range(r0, r1, N, "row")
    _check_blas_sizes(N, I, K)
    if r1 == r0 or I == 0:
        return
    with nogil:
        serial_blas_begin()
        gemm(NoTrans, NoTrans, <int> (r1 - r0), <int> I, <int> K, 1,
             &dZ[r0, 0], <int> K, &W[0, 0], <int> I, 0, &dX[r0, 0], <int> I)
        serial_blas_end()


def weight_grad_rows(const floating[:, ::1] dZ, const floating[:, ::1] X,
                     floating[:, ::1] dW, floating[::1] db, Py_ssize_t k0, Py_ssize_t k1):
    """dW[k0:k1] = dZ[:, k0:k1].T @ X   (k, I) = (k, N)(N, I);  db[k0:k1] = dZ[:, k0:k1].sum(0).

    ``db`` of length 0 means no bias.
    """
    cdef Py_ssize_t N = dZ.shape[0], K = dZ.shape[1], I = X.shape[1]
    cdef bint has_bias = db.shape[0] != 0
    if X.shape[0] != N:
        raise ValueError(f"X has {X.shape[0]} rows, dZ has {N}")
    if dW.shape[0] != K or dW.shape[1] != I:
        raise ValueError(f"dW must have shape ({K}, {I}), got ({dW.shape[0]}, {dW.shape[1]})")
    if has_bias and db.shape[0] != K:
        raise ValueError(f"db has length {db.shape[0]}, expected {K}")
    _check_range(k0, k1, K, "output")
    _check_blas_sizes(N, I, K)
    if k1 == k0:
        return
    with nogil:
        serial_blas_begin()
        gemm(Transpose, NoTrans, <int> (k1 - k0), <int> I, <int> N, 1,
             &dZ[0, k0], <int> K, &X[0, 0], <int> I, 0, &dW[k0, 0], <int> I)
        serial_blas_end()
        if has_bias:
            colsum(<int> N, <int> (k1 - k0), &dZ[0, k0], <int> K, &db[k0])

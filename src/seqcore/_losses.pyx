"""Losses fused with their gradients, over rows of logits.

Design: a head produces logits Z (N, K), one row per sample (many-to-one)
or per step (many-to-many).  Each function returns the weighted loss
``scale * sum_i w_i * l_i`` and writes ``dZ = d loss / d Z`` in one pass.
A row of weight 0 (a padded step, a sample out of the batch) is skipped:
its dZ is 0 and it is never read, so padding never touches results.
Numerically stable forms throughout: log-sum-exp for the softmax,
``max(z, 0) - z*y + log1p(exp(-|z|))`` for the logistic.
"""

from cython cimport floating
from libc.math cimport exp, log, log1p, fabs

from seqcore._checks cimport check_shape


cdef int check_against_Z(str fn, const floating[:, ::1] Z, const floating[:, ::1] Y,
                         const floating[::1] w, floating[:, ::1] dZ) except -1:
    """Y and dZ must match Z (N, K), w have N entries."""
    cdef tuple NK = (Z.shape[0], Z.shape[1])
    check_shape(fn, "Y", Y.shape, NK, "(N, K) from Z")
    check_shape(fn, "w", w.shape, NK[:1], "N from Z")
    check_shape(fn, "dZ", dZ.shape, NK, "(N, K) from Z")
    return 0


def softmax_cross_entropy(const floating[:, ::1] Z, const Py_ssize_t[::1] y,
                          const floating[::1] w, double scale,
                          floating[:, ::1] dZ):
    """l_i = logsumexp(Z_i) - Z_i[y_i];  dZ_i = scale * w_i * (softmax(Z_i) - onehot(y_i))."""
    cdef Py_ssize_t N = Z.shape[0], K = Z.shape[1], i, k
    cdef double total = 0, zmax, lse, wi, p
    check_shape("softmax_cross_entropy", "y", y.shape, (N,), "N from Z")
    check_shape("softmax_cross_entropy", "w", w.shape, (N,), "N from Z")
    check_shape("softmax_cross_entropy", "dZ", dZ.shape, (N, K), "(N, K) from Z")
    for i in range(N):   # an index out of range would read outside Z
        if w[i] != 0 and not 0 <= y[i] < K:
            raise ValueError(f"class index {y[i]} of row {i} is outside [0, {K})")
    with nogil:
        for i in range(N):
            wi = w[i]
            if wi == 0:
                for k in range(K):
                    dZ[i, k] = 0
                continue
            zmax = Z[i, 0]
            for k in range(1, K):
                if Z[i, k] > zmax:
                    zmax = Z[i, k]
            lse = 0
            for k in range(K):
                lse += exp(Z[i, k] - zmax)
            lse = zmax + log(lse)
            total += wi * (lse - Z[i, y[i]])
            for k in range(K):
                p = exp(Z[i, k] - lse)
                dZ[i, k] = <floating> (scale * wi * (p - (1.0 if k == y[i] else 0.0)))
    return scale * total


def sigmoid_binary_cross_entropy(const floating[:, ::1] Z, const floating[:, ::1] Y,
                                 const floating[::1] w, double scale,
                                 floating[:, ::1] dZ):
    """l_i = sum_k max(z,0) - z*y + log1p(exp(-|z|));  dZ = scale * w_i * (sigmoid(z) - y)."""
    cdef Py_ssize_t N = Z.shape[0], K = Z.shape[1], i, k
    cdef double total = 0, wi, z, e, s
    check_against_Z("sigmoid_binary_cross_entropy", Z, Y, w, dZ)
    with nogil:
        for i in range(N):
            wi = w[i]
            for k in range(K):
                if wi == 0:
                    dZ[i, k] = 0
                    continue
                z = Z[i, k]
                e = exp(-fabs(z))
                total += wi * ((z if z > 0 else 0) - z * Y[i, k] + log1p(e))
                s = 1 / (1 + e) if z >= 0 else e / (1 + e)
                dZ[i, k] = <floating> (scale * wi * (s - Y[i, k]))
    return scale * total


def squared_error(const floating[:, ::1] Z, const floating[:, ::1] Y,
                  const floating[::1] w, double scale, floating[:, ::1] dZ):
    """l_i = mean_k (z - y)^2 / 2 (scikit-learn's MLP convention);  dZ = scale * w_i * (z - y) / K."""
    cdef Py_ssize_t N = Z.shape[0], K = Z.shape[1], i, k
    cdef double total = 0, wi, r
    check_against_Z("squared_error", Z, Y, w, dZ)
    with nogil:
        for i in range(N):
            wi = w[i]
            for k in range(K):
                if wi == 0:
                    dZ[i, k] = 0
                    continue
                r = <double> Z[i, k] - Y[i, k]
                total += wi * 0.5 * r * r / K
                dZ[i, k] = <floating> (scale * wi * r / K)
    return scale * total

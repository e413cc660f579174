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


cdef _check_shapes(const floating[:, ::1] Z, const floating[:, ::1] Y,
                   const floating[::1] w, floating[:, ::1] dZ):
    if (Y.shape[0] != Z.shape[0] or Y.shape[1] != Z.shape[1] or w.shape[0] != Z.shape[0]
            or dZ.shape[0] != Z.shape[0] or dZ.shape[1] != Z.shape[1]):
        raise ValueError("Z, Y, w and dZ must have matching shapes")


def softmax_cross_entropy(const floating[:, ::1] Z, const Py_ssize_t[::1] y,
                          const floating[::1] w, double scale,
                          floating[:, ::1] dZ):
    """l_i = logsumexp(Z_i) - Z_i[y_i];  dZ_i = scale * w_i * (softmax(Z_i) - onehot(y_i))."""
    cdef Py_ssize_t N = Z.shape[0], K = Z.shape[1], i, k
    cdef double total = 0, zmax, lse, wi, p
    if y.shape[0] != N or w.shape[0] != N or dZ.shape[0] != N or dZ.shape[1] != K:
        raise ValueError("Z, y, w and dZ must have matching shapes")
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
    _check_shapes(Z, Y, w, dZ)
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
    _check_shapes(Z, Y, w, dZ)
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

"""Gradient clipping and optimizer updates over flat parameter buffers.

Design: a model keeps all its parameters in one contiguous buffer and all
its gradients in another (python/seqcore/nn/_layers.py), so clipping is one
norm and an optimizer step one loop, here in C.  The updates follow
PyTorch's single-tensor formulas operation by operation, in the buffer's
own precision, so that a step agrees with ``torch.optim`` to rounding.
"""

from cython cimport floating
from libc.math cimport sqrt

from seqcore._blas cimport sumsq
from seqcore._checks cimport check_shape


def sum_squares(const floating[::1] x):
    """Return ``(x ** 2).sum()`` accumulated in double."""
    cdef double out
    with nogil:
        out = sumsq(x.shape[0], &x[0]) if x.shape[0] else 0.0
    return out


def scale(floating[::1] x, double factor):
    """``x *= factor`` in place."""
    cdef Py_ssize_t i
    cdef floating f = <floating> factor
    with nogil:
        for i in range(x.shape[0]):
            x[i] *= f


def clip_value(floating[::1] x, double limit):
    """Clamp ``x`` to ``[-limit, limit]`` in place (NaN stays NaN)."""
    cdef Py_ssize_t i
    cdef floating hi = <floating> limit
    with nogil:
        for i in range(x.shape[0]):
            if x[i] > hi:
                x[i] = hi
            elif x[i] < -hi:
                x[i] = -hi


def sgd_step(floating[::1] p, const floating[::1] g, floating[::1] buf,
             double lr, double momentum, double dampening,
             double weight_decay, bint nesterov, bint first):
    """One SGD step in place, as ``torch.optim.SGD``.

    d = g + wd * p; buf = d (first step) or momentum * buf + (1 - dampening) * d;
    d = d + momentum * buf (nesterov) or buf; p -= lr * d.
    """
    cdef Py_ssize_t i
    cdef floating d, wd = <floating> weight_decay, mu = <floating> momentum
    cdef floating damp = <floating> (1.0 - dampening), step = <floating> lr
    check_shape("sgd_step", "g", g.shape, (p.shape[0],), "as p")
    if momentum != 0:
        check_shape("sgd_step", "buf", buf.shape, (p.shape[0],), "as p, with momentum")
    with nogil:
        for i in range(p.shape[0]):
            d = g[i]
            if weight_decay != 0:
                d = d + wd * p[i]
            if momentum != 0:
                if first:
                    buf[i] = d
                else:
                    buf[i] = buf[i] * mu + damp * d
                if nesterov:
                    d = d + mu * buf[i]
                else:
                    d = buf[i]
            p[i] = p[i] - step * d


def adam_step(floating[::1] p, const floating[::1] g, floating[::1] m,
              floating[::1] v, double lr, double beta1, double beta2,
              double eps, double weight_decay, long step):
    """One Adam step in place (bias-corrected, L2 in the gradient), as ``torch.optim.Adam``.

    d = g + wd * p; m += (1 - b1) * (d - m); v = b2 * v + (1 - b2) * d * d;
    p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps).
    """
    cdef Py_ssize_t i
    cdef floating d, den
    cdef floating wd = <floating> weight_decay
    cdef floating w1 = <floating> (1.0 - beta1)
    cdef floating b2 = <floating> beta2, w2 = <floating> (1.0 - beta2)
    cdef floating step_size = <floating> (lr / (1.0 - beta1 ** step))
    cdef floating bc2_sqrt = <floating> sqrt(1.0 - beta2 ** step)
    cdef floating e = <floating> eps
    check_shape("adam_step", "g", g.shape, (p.shape[0],), "as p")
    check_shape("adam_step", "m", m.shape, (p.shape[0],), "as p")
    check_shape("adam_step", "v", v.shape, (p.shape[0],), "as p")
    with nogil:
        for i in range(p.shape[0]):
            d = g[i]
            if weight_decay != 0:
                d = d + wd * p[i]
            m[i] = m[i] + w1 * (d - m[i])
            v[i] = v[i] * b2 + w2 * d * d
            # kept in the buffer's precision, in torch's order of operations
            den = <floating> sqrt(v[i])
            den = den / bc2_sqrt + e
            p[i] = p[i] + (-step_size) * m[i] / den


def decay_weights(floating[::1] p, double factor):
    """Decoupled weight decay, as ``torch.optim.AdamW``: ``p *= 1 - lr * wd``
    (the caller passes ``factor = lr * wd``)."""
    cdef Py_ssize_t i
    cdef floating keep = <floating> (1.0 - factor)
    with nogil:
        for i in range(p.shape[0]):
            p[i] = p[i] * keep


def rmsprop_step(floating[::1] p, const floating[::1] g, floating[::1] v,
                 floating[::1] buf, double lr, double alpha, double eps,
                 double weight_decay, double momentum):
    """One RMSprop step in place, as ``torch.optim.RMSprop`` (not centered).

    d = g + wd * p; v = alpha * v + (1 - alpha) * d * d; den = sqrt(v) + eps;
    with momentum: buf = momentum * buf + d / den, p -= lr * buf;
    else p -= lr * d / den.
    """
    cdef Py_ssize_t i
    cdef floating d, den
    cdef floating wd = <floating> weight_decay, a = <floating> alpha
    cdef floating w = <floating> (1.0 - alpha), e = <floating> eps
    cdef floating mu = <floating> momentum, step = <floating> lr
    check_shape("rmsprop_step", "g", g.shape, (p.shape[0],), "as p")
    check_shape("rmsprop_step", "v", v.shape, (p.shape[0],), "as p")
    if momentum != 0:
        check_shape("rmsprop_step", "buf", buf.shape, (p.shape[0],), "as p, with momentum")
    with nogil:
        for i in range(p.shape[0]):
            d = g[i]
            if weight_decay != 0:
                d = d + wd * p[i]
            v[i] = v[i] * a + w * d * d
            den = <floating> sqrt(v[i])
            den = den + e
            if momentum != 0:
                buf[i] = buf[i] * mu + d / den
                p[i] = p[i] - step * buf[i]
            else:
                p[i] = p[i] - step * (d / den)

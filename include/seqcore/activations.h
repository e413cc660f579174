/* Scalar activations shared by the Cython step kernels.
 *
 * C cannot overload, so each function is written once in a macro and
 * expanded for float (suffix _f) and double (suffix _d).  The Cython side
 * wraps each pair in one fused-type inline function (src/seqcore/_cells.pyx).
 *
 * Accuracy first: these call the libm exp/tanh, so results agree with
 * PyTorch to rounding, and NaN propagates (no -ffast-math anywhere).
 */
#ifndef SEQCORE_ACTIVATIONS_H
#define SEQCORE_ACTIVATIONS_H

#include <math.h>

#define SEQCORE_DEFINE_ACTIVATIONS(T, SUF, EXP, TANH)                        \
    /* logistic; split by sign so exp() never overflows */                  \
    static inline T sc_sigmoid_##SUF(T x)                                   \
    {                                                                       \
        if (x >= (T)0) {                                                    \
            return (T)1 / ((T)1 + EXP(-x));                                 \
        }                                                                   \
        T e = EXP(x);                                                       \
        return e / ((T)1 + e);                                              \
    }                                                                       \
    static inline T sc_tanh_##SUF(T x) { return TANH(x); }                  \
    /* written so that NaN passes through (x > 0 would map NaN to 0) */     \
    static inline T sc_relu_##SUF(T x) { return x < (T)0 ? (T)0 : x; }

SEQCORE_DEFINE_ACTIVATIONS(float, f, expf, tanhf)
SEQCORE_DEFINE_ACTIVATIONS(double, d, exp, tanh)

#undef SEQCORE_DEFINE_ACTIVATIONS

#endif /* SEQCORE_ACTIVATIONS_H */

/* Activations for the Cython step kernels (src/seqcore/_cells.pyx).
 *
 * Two layers:
 *  - scalar functions, sc_<name>_<sfx>(x), with sfx f (float) or d (double):
 *    C cannot overload, so the Cython side wraps each pair in one fused-type
 *    inline function;
 *  - in-place block functions, sc_<name>_inplace_<sfx>(x, n), that the
 *    kernels call on contiguous gate blocks.  Their loops hold plain
 *    arithmetic only (no libm call, no branch), so gcc -O3 vectorises them
 *    without -ffast-math.
 *
 * The kernels live in activations_impl.h, compiled three times: for the
 * baseline and, on x86 under GCC's `#pragma GCC target(...)` or clang's
 * `#pragma clang attribute`, for AVX2 + FMA and for AVX-512F; the block
 * functions pick one at run time (cpu.h's one CPU check), so a wheel built
 * without -march flags still runs 8 or 16 floats at a time where it can.  The AVX builds contract a*b+c into FMA, which
 * changes results in the last bit only.
 *
 * exp is our own: Cody-Waite range reduction x = k ln2 + r, |r| <= ln2/2,
 * a Taylor polynomial for exp(r) (degree 7 for float: truncation 5e-9
 * relative; degree 13 for double: 4e-18), and 2^k built in the exponent
 * bits.  tanh(x) is an odd Taylor polynomial for |x| < 0.4 (no cancellation
 * near 0) and 1 - 2 / (exp(2|x|) + 1) beyond.  Measured against libm over
 * all float32 inputs in [-20, 20]: a few ulp; the gradient checks and the
 * PyTorch parity tests hold at their tolerances.  NaN propagates (every
 * clamp is written `x < lo ? lo : x`, false for NaN).
 */
#ifndef SEQCORE_ACTIVATIONS_H
#define SEQCORE_ACTIVATIONS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "portable.h"

#define SC_CAT2(a, b) a##_##b
#define SC_CAT(a, b) SC_CAT2(a, b)
#define SC_FN(name) SC_CAT(name, SC_ISA)

#define SC_ISA generic
#include "activations_impl.h"
#undef SC_ISA

#if SC_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define SC_ISA avx2
#include "activations_impl.h"
#undef SC_ISA
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
/* AVX-512: twice the lanes, and blends on mask registers */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
#define SC_ISA avx512
#include "activations_impl.h"
#undef SC_ISA
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#define SC_DISPATCH(name, T)                                                \
    static inline void name(T *x, ptrdiff_t n)                              \
    {                                                                       \
        switch (sc_cpu_level()) {                                           \
        case 2: SC_CAT(name, avx512)(x, n); break;                          \
        case 1: SC_CAT(name, avx2)(x, n); break;                            \
        default: SC_CAT(name, generic)(x, n);                               \
        }                                                                   \
    }
#else
#define SC_DISPATCH(name, T)                                                \
    static inline void name(T *x, ptrdiff_t n) { SC_CAT(name, generic)(x, n); }
#endif

/* The block functions the kernels call: in place on n contiguous values. */
SC_DISPATCH(sc_sigmoid_inplace_f, float)
SC_DISPATCH(sc_sigmoid_inplace_d, double)
SC_DISPATCH(sc_tanh_inplace_f, float)
SC_DISPATCH(sc_tanh_inplace_d, double)
#undef SC_DISPATCH

/* Scalar versions (baseline ISA), for tests and one-off values. */
static inline float sc_sigmoid_f(float x) { return sc_sigmoid_f_generic(x); }
static inline double sc_sigmoid_d(double x) { return sc_sigmoid_d_generic(x); }
static inline float sc_tanh_f(float x) { return sc_tanh_f_generic(x); }
static inline double sc_tanh_d(double x) { return sc_tanh_d_generic(x); }

/* written so that NaN passes through (x > 0 would map NaN to 0) */
static inline float sc_relu_f(float x) { return x < 0.0f ? 0.0f : x; }
static inline double sc_relu_d(double x) { return x < 0.0 ? 0.0 : x; }

#endif /* SEQCORE_ACTIVATIONS_H */

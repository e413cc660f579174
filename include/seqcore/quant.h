/* Reduced-precision matrix products for inference: int8 and bfloat16.
 *
 * The instruction-set-specific parts of src/seqcore/_quant.pyx's products,
 * one kernel per instruction set, each with a generic twin of plain C:
 *
 *   sc_q8_quantise(m, K, Kp, A, lda, Q, sa, zp): the rows of a float A
 *       (m, K) to uint8 Q (m, Kp), each on its own asymmetric scale sa[i]
 *       with zero point zp[i] (see sc_q8_quantise_generic for the rule);
 *   sc_q8_gemm_f(m, N, Kp, Q, ldq, P, C, ldc, accumulate, sa, zp, sw, wsum):
 *       C (m, N) float (+)= (sum_k Q[i,k] W[j,k] - zp[i] wsum[j]) * (sa[i] sw[j]),
 *       W (N, Kp) int8 packed in P, sw its row scales, wsum its row sums;
 *   sc_q8_gemm(m, N, Kp, Q, ldq, P, C, ldc): the int32 sums alone (float64
 *       models rescale them in _quant.pyx);
 *   sc_bf16_gemm(m, N, Kp, A, lda, P, C, ldc, accumulate): C (m, N) float
 *       (+)= A (m, Kp) bfloat16 @ W.T, W (N, Kp) bfloat16 packed in P.
 *
 * Same results on every path.  int8: integer sums are exact while no sum
 * leaves int32 (|sum| <= Kp * 255 * 128; the caller keeps Kp below
 * SC_Q8_MAX_K), and the quantisation and the rescale are the same IEEE
 * operations on every path (the AVX-512 code uses explicitly rounded ones,
 * which the compiler cannot fuse into multiply-adds; the row parameters
 * come from one out-of-line function of plain code): the outputs agree bit
 * for bit.  bfloat16: the product of two bfloat16 numbers is exact in
 * float, and each path adds the same products in the same order (pairs
 * k = 2q, 2q+1, the odd one first, as VDPBF16PS does); they differ only
 * where the instruction flushes a subnormal (below 2^-126) to zero.
 *
 * Packed layout (both): panels of SC_Q_NR columns of W; within a panel, for
 * each group of KG consecutive k (KG = 4 for int8, 2 for bfloat16), the
 * group's entries of column 0, then column 1, ...: panel p, group g, column
 * jj, entry q at P[((p * Kp / KG + g) * NR + jj) * KG + q].  Columns past N
 * and k past K are zero.  The layout does not depend on the instruction set,
 * so one packed matrix serves every path.
 *
 * Dispatch: the AVX-512 kernels (VNNI's VPDPBUSD for int8, AVX512_BF16's
 * VDPBF16PS) run where cpu.h's level is 2 (AVX-512F, not capped by
 * SEQCORE_KERNELS) and the CPU has the extension; the generic kernels
 * (plain C loops) everywhere else.
 */
#ifndef SEQCORE_QUANT_H
#define SEQCORE_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "portable.h"

#define SC_Q_NR 32          /* columns of a panel */
#ifndef SC_Q_MR
#define SC_Q_MR 12          /* rows of a register block */
#endif
#define SC_Q_MC 96          /* rows of a chunk (its A stays in L2) */
/* the largest Kp whose int8 sums cannot leave int32: Kp * 255 * 128 < 2^31 */
#define SC_Q8_MAX_K 65792

/* ---------------------------------------------------------------- generic */

/* One row of A against one panel: acc[jj] for the panel's SC_Q_NR columns. */
static inline void sc_q8_row_generic(ptrdiff_t Kp, const uint8_t *a, const int8_t *panel,
                                     int32_t *acc)
{
    for (int jj = 0; jj < SC_Q_NR; jj++)
        acc[jj] = 0;
    for (ptrdiff_t g = 0; g < Kp / 4; g++) {
        const int8_t *w = panel + g * SC_Q_NR * 4;
        const int32_t a0 = a[4 * g], a1 = a[4 * g + 1], a2 = a[4 * g + 2], a3 = a[4 * g + 3];
        for (int jj = 0; jj < SC_Q_NR; jj++)
            acc[jj] += a0 * w[4 * jj] + a1 * w[4 * jj + 1] + a2 * w[4 * jj + 2]
                       + a3 * w[4 * jj + 3];
    }
}

static inline void sc_q8_gemm_generic(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp,
                                      const uint8_t *A, ptrdiff_t lda, const int8_t *P,
                                      int32_t *C, ptrdiff_t ldc)
{
    ptrdiff_t n_panels = (N + SC_Q_NR - 1) / SC_Q_NR;
    int32_t acc[SC_Q_NR];
    for (ptrdiff_t p = 0; p < n_panels; p++) {
        ptrdiff_t nc = N - p * SC_Q_NR < SC_Q_NR ? N - p * SC_Q_NR : SC_Q_NR;
        for (ptrdiff_t i = 0; i < m; i++) {
            sc_q8_row_generic(Kp, A + i * lda, P + p * Kp * SC_Q_NR, acc);
            memcpy(C + i * ldc + p * SC_Q_NR, acc, (size_t) nc * sizeof(int32_t));
        }
    }
}

/* The rescale of an int8 product into float, one output entry:
 * (float) (sum - zp * wsum) * (sa * sw), added to c when accumulating.
 * Every path computes exactly these operations (the AVX-512 kernel with
 * explicitly rounded ones, which the compiler cannot fuse). */
static inline float sc_q8_rescale(int32_t sum, int32_t zp, int32_t wsum, float sa, float sw)
{
    float scale = sa * sw;
    return (float) (sum - zp * wsum) * scale;
}

/* C (m, N) float (+)= rescaled A @ W.T: the product and the rescale in one
 * pass (sa, zp per row of A; sw, wsum per column, padded to whole panels). */
static inline void sc_q8_gemm_f_generic(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp,
                                        const uint8_t *A, ptrdiff_t lda, const int8_t *P,
                                        float *C, ptrdiff_t ldc, int accumulate,
                                        const float *sa, const int32_t *zp, const float *sw,
                                        const int32_t *wsum)
{
    ptrdiff_t n_panels = (N + SC_Q_NR - 1) / SC_Q_NR;
    int32_t acc[SC_Q_NR];
    for (ptrdiff_t p = 0; p < n_panels; p++) {
        ptrdiff_t nc = N - p * SC_Q_NR < SC_Q_NR ? N - p * SC_Q_NR : SC_Q_NR;
        for (ptrdiff_t i = 0; i < m; i++) {
            float *c = C + i * ldc + p * SC_Q_NR;
            sc_q8_row_generic(Kp, A + i * lda, P + p * Kp * SC_Q_NR, acc);
            for (ptrdiff_t jj = 0; jj < nc; jj++) {
                ptrdiff_t j = p * SC_Q_NR + jj;
                float y = sc_q8_rescale(acc[jj], zp[i], wsum[j], sa[i], sw[j]);
                c[jj] = accumulate ? c[jj] + y : y;
            }
        }
    }
}

/* ------------------------------------------------------- int8 activations
 *
 * Each row of A on its own asymmetric scale: the range [lo, hi] of the row,
 * widened to hold 0 (so 0 is exact), maps to 0..255:
 *   scale = (hi - lo) / 255, zp = round(-lo / scale),
 *   q = clamp(round(a * (1 / scale)) + zp, 0, 255)   (round: to even);
 * a row of zeros gets scale 1, zp 0.  Entries k >= K of a padded row are zp
 * (they meet zero weights).  The row's parameters come from one out-of-line
 * function of plain code, so every path computes them alike; the entries
 * are exact operations (a product, clamps, a rounding to an integer, an
 * integer sum), which every path computes alike too. */

#define SC_Q_MAGIC 12582912.0f   /* 1.5 * 2^23: x + it - it rounds x to even */

static SC_NOINLINE void sc_q8_params(float lo, float hi, float *scale, float *inv,
                                     int32_t *zp)
{
    if (hi == lo) {
        *scale = 1.0f;
        *inv = 0.0f;
        *zp = 0;
        return;
    }
    float s = (hi - lo) / 255.0f;
    float i = 1.0f / s;
    float t = -lo * i;
    float z = (t + SC_Q_MAGIC) - SC_Q_MAGIC;
    *scale = s;
    *inv = i;
    *zp = z < 0.0f ? 0 : z > 255.0f ? 255 : (int32_t) z;
}

static inline void sc_q8_quantise_generic(ptrdiff_t m, ptrdiff_t K, ptrdiff_t Kp,
                                          const float *A, ptrdiff_t lda, uint8_t *Q,
                                          float *sa, int32_t *zp)
{
    ptrdiff_t K8 = K - K % 8;
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *a = A + i * lda;
        uint8_t *q = Q + i * Kp;
        /* the range in 8 independent lanes: a loop-carried min would not
         * vectorise (the compiler may not reorder it) */
        float lo8[8] = {0}, hi8[8] = {0}, lo = 0.0f, hi = 0.0f, inv;
        for (ptrdiff_t k = 0; k < K8; k += 8)
            for (int u = 0; u < 8; u++) {
                float v = a[k + u];
                lo8[u] = v < lo8[u] ? v : lo8[u];
                hi8[u] = v > hi8[u] ? v : hi8[u];
            }
        for (int u = 0; u < 8; u++) {
            lo = lo8[u] < lo ? lo8[u] : lo;
            hi = hi8[u] > hi ? hi8[u] : hi;
        }
        for (ptrdiff_t k = K8; k < K; k++) {
            lo = a[k] < lo ? a[k] : lo;
            hi = a[k] > hi ? a[k] : hi;
        }
        sc_q8_params(lo, hi, sa + i, &inv, zp + i);
        const float z = (float) zp[i];
        for (ptrdiff_t k = 0; k < K; k++) {
            float v = a[k] * inv;
            v = v < -256.0f ? -256.0f : v > 256.0f ? 256.0f : v;
            v = (v + SC_Q_MAGIC) - SC_Q_MAGIC + z;
            q[k] = (uint8_t) (v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
        }
        for (ptrdiff_t k = K; k < Kp; k++)
            q[k] = (uint8_t) zp[i];
    }
}

/* bfloat16 bits -> float (exact: the bits are the float's upper half) */
static inline float sc_bf16_to_float(uint16_t b)
{
    uint32_t u = (uint32_t) b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline void sc_bf16_gemm_generic(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp,
                                        const uint16_t *A, ptrdiff_t lda, const uint16_t *P,
                                        float *C, ptrdiff_t ldc, int accumulate)
{
    ptrdiff_t n_panels = (N + SC_Q_NR - 1) / SC_Q_NR;
    float acc[SC_Q_NR];
    for (ptrdiff_t p = 0; p < n_panels; p++) {
        ptrdiff_t nc = N - p * SC_Q_NR < SC_Q_NR ? N - p * SC_Q_NR : SC_Q_NR;
        const uint16_t *panel = P + p * Kp * SC_Q_NR;
        for (ptrdiff_t i = 0; i < m; i++) {
            const uint16_t *a = A + i * lda;
            for (int jj = 0; jj < SC_Q_NR; jj++)
                acc[jj] = 0.0f;
            for (ptrdiff_t g = 0; g < Kp / 2; g++) {
                const uint16_t *w = panel + g * SC_Q_NR * 2;
                const float a0 = sc_bf16_to_float(a[2 * g]), a1 = sc_bf16_to_float(a[2 * g + 1]);
                for (int jj = 0; jj < SC_Q_NR; jj++) {
                    /* two roundings, in VDPBF16PS's order; each product is
                     * exact, so a fused multiply-add would round the same */
                    float t = acc[jj] + a1 * sc_bf16_to_float(w[2 * jj + 1]);
                    acc[jj] = t + a0 * sc_bf16_to_float(w[2 * jj]);
                }
            }
            float *c = C + i * ldc + p * SC_Q_NR;
            for (ptrdiff_t jj = 0; jj < nc; jj++)
                c[jj] = accumulate ? c[jj] + acc[jj] : acc[jj];
        }
    }
}

/* ---------------------------------------------------------------- AVX-512 */

#if SC_X86
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vnni,avx512bf16"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vnni,avx512bf16")
#endif

#define SC_Q_RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* the columns of a partial panel */
static inline __mmask16 sc_q_mask(ptrdiff_t nc, int v)
{
    ptrdiff_t k = nc - 16 * v;
    return k >= 16 ? (__mmask16) 0xFFFF : k <= 0 ? (__mmask16) 0 : (__mmask16) ((1u << k) - 1);
}

/* 16 entries of C (+)= sc_q8_rescale of the sums acc; the columns in k. */
static SC_ALWAYS_INLINE void sc_q8_store(__m512i acc, float *c, __mmask16 k, __m512i z,
                                         __m512 s, const int32_t *wsum, const float *sw,
                                         int accumulate)
{
    const __m512 scale = _mm512_mul_round_ps(s, _mm512_loadu_ps(sw), SC_Q_RNE);
    const __m512i sum = _mm512_sub_epi32(acc, _mm512_mullo_epi32(z, _mm512_loadu_si512(
        (const void *) wsum)));
    __m512 y = _mm512_mul_round_ps(_mm512_cvtepi32_ps(sum), scale, SC_Q_RNE);
    if (accumulate)
        y = _mm512_add_round_ps(_mm512_maskz_loadu_ps(k, c), y, SC_Q_RNE);
    _mm512_mask_storeu_ps(c, k, y);
}

static SC_ALWAYS_INLINE void sc_bf16_store(__m512 y, float *c, __mmask16 k, int accumulate)
{
    if (accumulate)
        y = _mm512_add_round_ps(_mm512_maskz_loadu_ps(k, c), y, SC_Q_RNE);
    _mm512_mask_storeu_ps(c, k, y);
}

/* C[0:mr, 0:nc] (+)= rescaled A[0:mr] @ panel (sc_q8_rescale per entry); mr
 * is a constant after inlining, so the mr x 2 accumulators stay in
 * registers.  sw and wsum point at the panel's columns. */
static SC_ALWAYS_INLINE void sc_q8_block_vnni(const int mr, ptrdiff_t Kp, const uint8_t *A,
                                              ptrdiff_t lda, const int8_t *panel,
                                              float *C, ptrdiff_t ldc, ptrdiff_t nc,
                                              int accumulate, const float *sa,
                                              const int32_t *zp, const float *sw,
                                              const int32_t *wsum)
{
    __m512i acc[SC_Q_MR][2];
    for (int i = 0; i < mr; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_si512();
    for (ptrdiff_t g = 0; g < Kp / 4; g++) {
        const __m512i b0 = _mm512_loadu_si512((const void *) (panel + g * 128));
        const __m512i b1 = _mm512_loadu_si512((const void *) (panel + g * 128 + 64));
        for (int i = 0; i < mr; i++) {
            int32_t q;
            memcpy(&q, A + i * lda + 4 * g, sizeof q);
            const __m512i a = _mm512_set1_epi32(q);
            acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], a, b0);
            acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], a, b1);
        }
    }
    /* the sums go through L1: rescaling them straight from the registers
     * made GCC copy every accumulator on every k */
    int32_t sums[SC_Q_MR][SC_Q_NR] __attribute__((aligned(64)));
    for (int i = 0; i < mr; i++) {
        _mm512_store_si512((void *) sums[i], acc[i][0]);
        _mm512_store_si512((void *) (sums[i] + 16), acc[i][1]);
    }
    for (int i = 0; i < mr; i++) {
        const __m512i z = _mm512_set1_epi32(zp[i]);
        const __m512 s = _mm512_set1_ps(sa[i]);
        for (int v = 0; v < 2; v++)
            sc_q8_store(_mm512_load_si512((const void *) (sums[i] + 16 * v)),
                        C + i * ldc + 16 * v, sc_q_mask(nc, v), z, s, wsum + 16 * v,
                        sw + 16 * v, accumulate);
    }
}

static SC_ALWAYS_INLINE void sc_bf16_block_avx512(const int mr, ptrdiff_t Kp, const uint16_t *A,
                                                  ptrdiff_t lda, const uint16_t *panel,
                                                  float *C, ptrdiff_t ldc, ptrdiff_t nc,
                                                  int accumulate)
{
    __m512 acc[SC_Q_MR][2];
    for (int i = 0; i < mr; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (ptrdiff_t g = 0; g < Kp / 2; g++) {
        const __m512bh b0 = (__m512bh) _mm512_loadu_si512((const void *) (panel + g * 64));
        const __m512bh b1 = (__m512bh) _mm512_loadu_si512((const void *) (panel + g * 64 + 32));
        for (int i = 0; i < mr; i++) {
            int32_t q;
            memcpy(&q, A + i * lda + 2 * g, sizeof q);
            const __m512bh a = (__m512bh) _mm512_set1_epi32(q);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
        }
    }
    for (int i = 0; i < mr; i++) {
        sc_bf16_store(acc[i][0], C + i * ldc, sc_q_mask(nc, 0), accumulate);
        sc_bf16_store(acc[i][1], C + i * ldc + 16, sc_q_mask(nc, 1), accumulate);
    }
}

/* Rows in chunks of SC_Q_MC (A's chunk stays in L2 while the panels pass),
 * then panels (one stays in L1 across the chunk's row blocks), then row
 * blocks of SC_Q_MR and a tail of 8, 4, 2, 1 rows.  EXTRA: the block's
 * arguments after nc, with i the block's first row and p the panel. */
#define SC_Q_DRIVER(name, block, TA, TP, PARAMS, EXTRA)                             \
    static SC_NOINLINE void name(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp, const TA *A,  \
                                 ptrdiff_t lda, const TP *P, float *C, ptrdiff_t ldc,  \
                                 int accumulate PARAMS)                                \
    {                                                                              \
        ptrdiff_t n_panels = (N + SC_Q_NR - 1) / SC_Q_NR;                          \
        for (ptrdiff_t i0 = 0; i0 < m; i0 += SC_Q_MC) {                            \
            ptrdiff_t i1 = m - i0 < SC_Q_MC ? m : i0 + SC_Q_MC;                    \
            for (ptrdiff_t p = 0; p < n_panels; p++) {                             \
                const TP *panel = P + p * Kp * SC_Q_NR;                            \
                ptrdiff_t nc = N - p * SC_Q_NR < SC_Q_NR ? N - p * SC_Q_NR : SC_Q_NR; \
                float *Cp = C + p * SC_Q_NR;                                       \
                ptrdiff_t i = i0;                                                  \
                for (; i + SC_Q_MR <= i1; i += SC_Q_MR)                            \
                    block(SC_Q_MR, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc, \
                          accumulate EXTRA);                                       \
                if (i1 - i >= 8) {                                                 \
                    block(8, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc,   \
                          accumulate EXTRA);                                       \
                    i += 8;                                                        \
                }                                                                  \
                if (i1 - i >= 4) {                                                 \
                    block(4, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc,   \
                          accumulate EXTRA);                                       \
                    i += 4;                                                        \
                }                                                                  \
                if (i1 - i >= 2) {                                                 \
                    block(2, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc,   \
                          accumulate EXTRA);                                       \
                    i += 2;                                                        \
                }                                                                  \
                if (i1 - i >= 1)                                                   \
                    block(1, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc,   \
                          accumulate EXTRA);                                       \
            }                                                                      \
        }                                                                          \
    }

#define SC_Q8_PARAMS , const float *sa, const int32_t *zp, const float *sw, const int32_t *wsum
#define SC_Q8_EXTRA , sa + i, zp + i, sw + p * SC_Q_NR, wsum + p * SC_Q_NR
SC_Q_DRIVER(sc_q8_gemm_f_vnni, sc_q8_block_vnni, uint8_t, int8_t, SC_Q8_PARAMS, SC_Q8_EXTRA)
#define SC_Q_NOTHING
SC_Q_DRIVER(sc_bf16_gemm_avx512, sc_bf16_block_avx512, uint16_t, uint16_t, SC_Q_NOTHING,
            SC_Q_NOTHING)
#undef SC_Q_NOTHING
#undef SC_Q8_PARAMS
#undef SC_Q8_EXTRA
#undef SC_Q_DRIVER

/* sc_q8_quantise_generic on AVX-512: the same operations, 16 entries at
 * a time (the rounding by VRNDSCALEPS, to even, as the generic magic sum) */
static SC_NOINLINE void sc_q8_quantise_avx512(ptrdiff_t m, ptrdiff_t K, ptrdiff_t Kp,
                                              const float *A, ptrdiff_t lda, uint8_t *Q,
                                              float *sa, int32_t *zp)
{
    for (ptrdiff_t i = 0; i < m; i++) {
        const float *a = A + i * lda;
        uint8_t *q = Q + i * Kp;
        __m512 lo16 = _mm512_setzero_ps(), hi16 = _mm512_setzero_ps();
        for (ptrdiff_t k = 0; k < K; k += 16) {
            const __mmask16 mk = sc_q_mask(K - k, 0);
            const __m512 v = _mm512_maskz_loadu_ps(mk, a + k);   /* 0 outside: in range */
            lo16 = _mm512_min_ps(v, lo16);     /* v < lo ? v : lo */
            hi16 = _mm512_max_ps(v, hi16);     /* v > hi ? v : hi */
        }
        float lo = _mm512_reduce_min_ps(lo16), hi = _mm512_reduce_max_ps(hi16), inv;
        sc_q8_params(lo, hi, sa + i, &inv, zp + i);
        const __m512 vinv = _mm512_set1_ps(inv), z = _mm512_set1_ps((float) zp[i]);
        const __m512 lim = _mm512_set1_ps(256.0f), top = _mm512_set1_ps(255.0f);
        for (ptrdiff_t k = 0; k < K; k += 16) {
            const __mmask16 mk = sc_q_mask(K - k, 0);
            __m512 v = _mm512_mul_round_ps(_mm512_maskz_loadu_ps(mk, a + k), vinv, SC_Q_RNE);
            v = _mm512_min_ps(_mm512_max_ps(v, _mm512_sub_ps(_mm512_setzero_ps(), lim)), lim);
            v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            v = _mm512_add_round_ps(v, z, SC_Q_RNE);
            v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), top);
            _mm512_mask_cvtepi32_storeu_epi8(q + k, mk, _mm512_cvttps_epi32(v));
        }
        for (ptrdiff_t k = K; k < Kp; k++)
            q[k] = (uint8_t) zp[i];
    }
}

/* The int32 sums alone (float64 models rescale them themselves): the
 * same register blocks, stored without the rescale. */
static SC_NOINLINE void sc_q8_gemm_vnni(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp,
                                        const uint8_t *A, ptrdiff_t lda, const int8_t *P,
                                        int32_t *C, ptrdiff_t ldc)
{
    ptrdiff_t n_panels = (N + SC_Q_NR - 1) / SC_Q_NR;
    for (ptrdiff_t p = 0; p < n_panels; p++) {
        const int8_t *panel = P + p * Kp * SC_Q_NR;
        ptrdiff_t nc = N - p * SC_Q_NR < SC_Q_NR ? N - p * SC_Q_NR : SC_Q_NR;
        for (ptrdiff_t i = 0; i < m; i++) {
            __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
            for (ptrdiff_t g = 0; g < Kp / 4; g++) {
                int32_t q;
                memcpy(&q, A + i * lda + 4 * g, sizeof q);
                const __m512i a = _mm512_set1_epi32(q);
                acc0 = _mm512_dpbusd_epi32(acc0, a, _mm512_loadu_si512(
                    (const void *) (panel + g * 128)));
                acc1 = _mm512_dpbusd_epi32(acc1, a, _mm512_loadu_si512(
                    (const void *) (panel + g * 128 + 64)));
            }
            int32_t *c = C + i * ldc + p * SC_Q_NR;
            _mm512_mask_storeu_epi32(c, sc_q_mask(nc, 0), acc0);
            _mm512_mask_storeu_epi32(c + 16, sc_q_mask(nc, 1), acc1);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static int sc_q_features_state = -1;

/* bit 0: VNNI int8 kernels, bit 1: BF16 kernels (0 under a capped level) */
static inline int sc_q_features(void)
{
    if (sc_q_features_state < 0) {
        int f = 0;
        if (sc_cpu_level() == 2) {
            __builtin_cpu_init();
            if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
                f |= 1;
            if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512bf16"))
                f |= 2;
        }
        sc_q_features_state = f;
    }
    return sc_q_features_state;
}
#else
static inline int sc_q_features(void) { return 0; }
#endif

/* ---------------------------------------------------------------- dispatch */

/* force_generic: the generic kernel whatever the CPU (for the tests that
 * compare the paths) */
static inline void sc_q8_gemm(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp, const uint8_t *A,
                              ptrdiff_t lda, const int8_t *P, int32_t *C, ptrdiff_t ldc,
                              int force_generic)
{
    (void) force_generic;   /* unused where only the generic kernels are built */
#if SC_X86
    if (!force_generic && (sc_q_features() & 1)) {
        sc_q8_gemm_vnni(m, N, Kp, A, lda, P, C, ldc);
        return;
    }
#endif
    sc_q8_gemm_generic(m, N, Kp, A, lda, P, C, ldc);
}

static inline void sc_q8_quantise(ptrdiff_t m, ptrdiff_t K, ptrdiff_t Kp, const float *A,
                                  ptrdiff_t lda, uint8_t *Q, float *sa, int32_t *zp,
                                  int force_generic)
{
    (void) force_generic;   /* unused where only the generic kernels are built */
#if SC_X86
    if (!force_generic && (sc_q_features() & 1)) {
        sc_q8_quantise_avx512(m, K, Kp, A, lda, Q, sa, zp);
        return;
    }
#endif
    sc_q8_quantise_generic(m, K, Kp, A, lda, Q, sa, zp);
}

static inline void sc_q8_gemm_f(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp, const uint8_t *A,
                                ptrdiff_t lda, const int8_t *P, float *C, ptrdiff_t ldc,
                                int accumulate, const float *sa, const int32_t *zp,
                                const float *sw, const int32_t *wsum, int force_generic)
{
    (void) force_generic;   /* unused where only the generic kernels are built */
#if SC_X86
    if (!force_generic && (sc_q_features() & 1)) {
        sc_q8_gemm_f_vnni(m, N, Kp, A, lda, P, C, ldc, accumulate, sa, zp, sw, wsum);
        return;
    }
#endif
    sc_q8_gemm_f_generic(m, N, Kp, A, lda, P, C, ldc, accumulate, sa, zp, sw, wsum);
}

static inline void sc_bf16_gemm(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp, const uint16_t *A,
                                ptrdiff_t lda, const uint16_t *P, float *C, ptrdiff_t ldc,
                                int accumulate, int force_generic)
{
    (void) force_generic;   /* unused where only the generic kernels are built */
#if SC_X86
    if (!force_generic && (sc_q_features() & 2)) {
        sc_bf16_gemm_avx512(m, N, Kp, A, lda, P, C, ldc, accumulate);
        return;
    }
#endif
    sc_bf16_gemm_generic(m, N, Kp, A, lda, P, C, ldc, accumulate);
}

#endif /* SEQCORE_QUANT_H */

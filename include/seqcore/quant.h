/* Reduced-precision matrix products for inference: int8 and bfloat16.
 *
 * Only the integer (int8) or bfloat16 dot products live here, one kernel per
 * instruction set; quantising the activations and rescaling the sums are
 * plain code in src/seqcore/_quant.pyx, shared by every path, so that the
 * paths differ in nothing but the instructions that form the sums.
 *
 *   sc_q8_gemm(m, N, Kp, A, lda, P, C, ldc):
 *       C (m, N) int32 = A (m, Kp) uint8 @ W.T, W (N, Kp) int8, packed in P.
 *       Integer sums: every path gives the same C, exactly, while no sum
 *       leaves int32 (|C| <= Kp * 255 * 128; the caller keeps Kp below
 *       SC_Q8_MAX_K).
 *   sc_bf16_gemm(m, N, Kp, A, lda, P, C, ldc):
 *       C (m, N) float = A (m, Kp) bfloat16 @ W.T, W (N, Kp) bfloat16, packed
 *       in P.  The product of two bfloat16 numbers is exact in float, so each
 *       path adds the same exact products in the same order (pairs k = 2q,
 *       2q+1, the odd one first, as VDPBF16PS does); they differ only where
 *       the instruction flushes a subnormal (below 2^-126) to zero.
 *
 * Packed layout (both): panels of SC_Q_NR columns of W; within a panel, for
 * each group of SC_Q_KG consecutive k (4 for int8, 2 for bfloat16), the
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
#define SC_Q_MR 12          /* rows of a register block */
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
                                        float *C, ptrdiff_t ldc)
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
            memcpy(C + i * ldc + p * SC_Q_NR, acc, (size_t) nc * sizeof(float));
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

/* C[0:mr, 0:nc] = A[0:mr] @ panel; mr is a constant after inlining, so the
 * mr x 2 accumulators stay in registers. */
static SC_ALWAYS_INLINE void sc_q8_block_vnni(const int mr, ptrdiff_t Kp, const uint8_t *A,
                                              ptrdiff_t lda, const int8_t *panel,
                                              int32_t *C, ptrdiff_t ldc, ptrdiff_t nc)
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
    for (int i = 0; i < mr; i++) {
        int32_t *c = C + i * ldc;
        if (nc == SC_Q_NR) {
            _mm512_storeu_si512((void *) c, acc[i][0]);
            _mm512_storeu_si512((void *) (c + 16), acc[i][1]);
        } else {
            int32_t tmp[SC_Q_NR];
            _mm512_storeu_si512((void *) tmp, acc[i][0]);
            _mm512_storeu_si512((void *) (tmp + 16), acc[i][1]);
            memcpy(c, tmp, (size_t) nc * sizeof(int32_t));
        }
    }
}

static SC_ALWAYS_INLINE void sc_bf16_block_avx512(const int mr, ptrdiff_t Kp, const uint16_t *A,
                                                  ptrdiff_t lda, const uint16_t *panel,
                                                  float *C, ptrdiff_t ldc, ptrdiff_t nc)
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
        float *c = C + i * ldc;
        if (nc == SC_Q_NR) {
            _mm512_storeu_ps(c, acc[i][0]);
            _mm512_storeu_ps(c + 16, acc[i][1]);
        } else {
            float tmp[SC_Q_NR];
            _mm512_storeu_ps(tmp, acc[i][0]);
            _mm512_storeu_ps(tmp + 16, acc[i][1]);
            memcpy(c, tmp, (size_t) nc * sizeof(float));
        }
    }
}

/* Rows in chunks of SC_Q_MC (A's chunk stays in L2 while the panels pass),
 * then panels (one stays in L1 across the chunk's row blocks), then row
 * blocks of SC_Q_MR and a tail of 8, 4, 2, 1 rows. */
#define SC_Q_DRIVER(name, block, TA, TP, TC, KG)                                  \
    static SC_NOINLINE void name(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp, const TA *A,  \
                                 ptrdiff_t lda, const TP *P, TC *C, ptrdiff_t ldc)     \
    {                                                                              \
        ptrdiff_t n_panels = (N + SC_Q_NR - 1) / SC_Q_NR;                          \
        for (ptrdiff_t i0 = 0; i0 < m; i0 += SC_Q_MC) {                            \
            ptrdiff_t i1 = m - i0 < SC_Q_MC ? m : i0 + SC_Q_MC;                    \
            for (ptrdiff_t p = 0; p < n_panels; p++) {                             \
                const TP *panel = P + p * Kp * SC_Q_NR;                            \
                ptrdiff_t nc = N - p * SC_Q_NR < SC_Q_NR ? N - p * SC_Q_NR : SC_Q_NR; \
                TC *Cp = C + p * SC_Q_NR;                                          \
                ptrdiff_t i = i0;                                                  \
                for (; i + SC_Q_MR <= i1; i += SC_Q_MR)                            \
                    block(SC_Q_MR, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc); \
                if (i1 - i >= 8) {                                                 \
                    block(8, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc);  \
                    i += 8;                                                        \
                }                                                                  \
                if (i1 - i >= 4) {                                                 \
                    block(4, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc);  \
                    i += 4;                                                        \
                }                                                                  \
                if (i1 - i >= 2) {                                                 \
                    block(2, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc);  \
                    i += 2;                                                        \
                }                                                                  \
                if (i1 - i >= 1)                                                   \
                    block(1, Kp, A + i * lda, lda, panel, Cp + i * ldc, ldc, nc);  \
            }                                                                      \
        }                                                                          \
    }

SC_Q_DRIVER(sc_q8_gemm_vnni, sc_q8_block_vnni, uint8_t, int8_t, int32_t, 4)
SC_Q_DRIVER(sc_bf16_gemm_avx512, sc_bf16_block_avx512, uint16_t, uint16_t, float, 2)
#undef SC_Q_DRIVER

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
#if SC_X86
    if (!force_generic && (sc_q_features() & 1)) {
        sc_q8_gemm_vnni(m, N, Kp, A, lda, P, C, ldc);
        return;
    }
#endif
    sc_q8_gemm_generic(m, N, Kp, A, lda, P, C, ldc);
}

static inline void sc_bf16_gemm(ptrdiff_t m, ptrdiff_t N, ptrdiff_t Kp, const uint16_t *A,
                                ptrdiff_t lda, const uint16_t *P, float *C, ptrdiff_t ldc,
                                int force_generic)
{
#if SC_X86
    if (!force_generic && (sc_q_features() & 2)) {
        sc_bf16_gemm_avx512(m, N, Kp, A, lda, P, C, ldc);
        return;
    }
#endif
    sc_bf16_gemm_generic(m, N, Kp, A, lda, P, C, ldc);
}

#endif /* SEQCORE_QUANT_H */

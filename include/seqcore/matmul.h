/* The per-step hidden product on a weight matrix packed once per scan.
 *
 * Why: a time loop multiplies a few rows (the batch) by the same weight
 * matrix at every step.  A BLAS call re-packs that matrix on every call (for
 * a batch of 32 at H = 128 the packing took a fifth of the loop's time in
 * `perf`, and both threads of a split batch paid it).  Here the matrix is
 * packed once per scan, in panels of NR columns laid out k-major, and a
 * register-blocked kernel (MR rows x NR columns of accumulators) runs over
 * the rows.
 *
 *   sc_pack_<sfx>(K, N, B, rs, cs, P): P <- the (K, N) matrix whose (k, j)
 *       entry is B[k * rs + j * cs] (so both W and W.T pack from one
 *       buffer), panel p holding columns p*NR .. p*NR + NR - 1, zero-padded;
 *   sc_packed_size_<sfx>(K, N): the entries P needs;
 *   sc_matmul_packed_<sfx>(m, N, K, A, lda, P, C, ldc, accumulate):
 *       C (m, N) = A (m, K) @ B, or C += A @ B when accumulate; row-major.
 *   sc_matmul_packed_t_<sfx>(...): the same with A stored transposed: entry
 *       (i, k) at A[k * lda + i] (the weight gradients' dG.T).
 *
 * Sizes, strides and offsets are ptrdiff_t (size_t for the entry count), so
 * no index product wraps at 2^31.
 *
 * Each output entry is one dot product summed in k order, whatever m, the
 * row's position or the thread: results do not depend on how the batch is
 * split.  The kernels are written with GCC vector extensions in
 * matmul_impl.h and compiled for three vector widths (SSE2 baseline, AVX2 +
 * FMA, AVX-512F); cpu.h's one CPU check picks the widest the CPU runs, for
 * packing and products alike (the panel width NR depends on it).  Where
 * there are no vector extensions (MSVC; portable.h's SC_GNU is 0) the
 * register block is a plain array of the same shape, summed in the same
 * order, which compilers vectorise on their own.
 */
#ifndef SEQCORE_MATMUL_H
#define SEQCORE_MATMUL_H

#include <stddef.h>
#include <string.h>

#include "cpu.h"
#include "portable.h"

/* A register block is SC_MM_MR rows by SC_MM_NV vectors of accumulators,
 * sized per instruction set to its registers (16 for SSE2 and AVX2, 32 for
 * AVX-512), by measurement on 32..64 rows, K = 128..512.  K runs in blocks
 * of SC_MM_KC: a block of a panel (SC_MM_KC x NR) then fits in L1. */
#ifndef SC_MM_KC
#define SC_MM_KC 128
#endif
/* Rows run in chunks of SC_MM_MC (a multiple of every MR): a chunk's
 * KC-block of A (MC x KC) stays in L2 while the panels pass over it. */
#ifndef SC_MM_MC
#define SC_MM_MC 96
#endif

#define SC_MM_CAT3(a, b, c) a##_##b##_##c
#define SC_MM_NAME3(a, b, c) SC_MM_CAT3(a, b, c)
#define SC_MM(name) SC_MM_NAME3(name, SC_MM_SFX, SC_MM_ISA)

/* generic: 16-byte vectors (SSE2, the x86-64 baseline; NEON on aarch64) */
#define SC_MM_ISA generic
#define SC_MM_VB 16
#define SC_MM_MR 6
#define SC_MM_NV 2
#include "matmul_isa.h"
#undef SC_MM_ISA
#undef SC_MM_VB
#undef SC_MM_MR
#undef SC_MM_NV

#if SC_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define SC_MM_ISA avx2
#define SC_MM_VB 32
#define SC_MM_MR 6
#define SC_MM_NV 2
#include "matmul_isa.h"
#undef SC_MM_ISA
#undef SC_MM_VB
#undef SC_MM_MR
#undef SC_MM_NV
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
#define SC_MM_ISA avx512
#define SC_MM_VB 64
#define SC_MM_MR 12
#define SC_MM_NV 2
#include "matmul_isa.h"
#undef SC_MM_ISA
#undef SC_MM_VB
#undef SC_MM_MR
#undef SC_MM_NV
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

/* SC_MM_PICK: return the kernel's value; SC_MM_RUN: run the (void) kernel */
#if SC_X86
#define SC_MM_PICK(name, sfx, args)                                        \
    switch (sc_cpu_level()) {                                              \
    case 2: return SC_MM_NAME3(name, sfx, avx512) args;                    \
    case 1: return SC_MM_NAME3(name, sfx, avx2) args;                      \
    default: return SC_MM_NAME3(name, sfx, generic) args;                  \
    }
#define SC_MM_RUN(name, sfx, args)                                         \
    switch (sc_cpu_level()) {                                              \
    case 2: SC_MM_NAME3(name, sfx, avx512) args; break;                    \
    case 1: SC_MM_NAME3(name, sfx, avx2) args; break;                      \
    default: SC_MM_NAME3(name, sfx, generic) args;                         \
    }
#else
#define SC_MM_PICK(name, sfx, args) return SC_MM_NAME3(name, sfx, generic) args;
#define SC_MM_RUN(name, sfx, args) SC_MM_NAME3(name, sfx, generic) args;
#endif

#define SC_MM_DISPATCH(sfx, T)                                             \
    static inline size_t sc_packed_size_##sfx(ptrdiff_t K, ptrdiff_t N)    \
    {                                                                      \
        SC_MM_PICK(sc_packed_size, sfx, (K, N))                            \
    }                                                                      \
    static inline void sc_pack_##sfx(ptrdiff_t K, ptrdiff_t N, const T *B, \
                                     ptrdiff_t rs, ptrdiff_t cs, T *P)     \
    {                                                                      \
        SC_MM_RUN(sc_pack, sfx, (K, N, B, rs, cs, P))                     \
    }                                                                      \
    static inline void sc_matmul_packed_##sfx(ptrdiff_t m, ptrdiff_t N,    \
                                              ptrdiff_t K, const T *A,     \
                                              ptrdiff_t lda, const T *P,   \
                                              T *C, ptrdiff_t ldc,         \
                                              int accumulate)              \
    {                                                                      \
        SC_MM_RUN(sc_matmul_packed, sfx,                                  \
                   (m, N, K, A, lda, P, C, ldc, accumulate))               \
    }                                                                      \
    static inline void sc_matmul_packed_t_##sfx(ptrdiff_t m, ptrdiff_t N,  \
                                                ptrdiff_t K, const T *A,   \
                                                ptrdiff_t lda, const T *P, \
                                                T *C, ptrdiff_t ldc,       \
                                                int accumulate)            \
    {                                                                      \
        SC_MM_RUN(sc_matmul_packed_t, sfx,                                \
                   (m, N, K, A, lda, P, C, ldc, accumulate))               \
    }

SC_MM_DISPATCH(f, float)
SC_MM_DISPATCH(d, double)
#undef SC_MM_DISPATCH
#undef SC_MM_PICK
#undef SC_MM_RUN

#endif /* SEQCORE_MATMUL_H */

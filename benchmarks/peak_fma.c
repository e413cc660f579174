/* Register-only float32 FMA loops for benchmarks/peak_fma.py.
 *
 * Each loop keeps 24 (zmm) or 12 (ymm) independent accumulators (more than FMA latency x
 * FMA pipes on any current x86 core, so the loop is bound by FMA throughput,
 * not latency) and touches no memory inside the loop.  peak_fma.py compiles
 * this file with the system C compiler at run time and calls it through
 * ctypes (which releases the GIL, so two Python threads run two loops at
 * once).  Each function returns the sum of its accumulators so that the
 * compiler cannot drop the work.
 */
#include <immintrin.h>

int peak_cpu_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 1;
    return 0;
}

/* The accumulators are named variables, not an array: an array indexed in
 * a loop may live in memory at -O2, and the loop would then measure stores.
 * X(i) expands a statement for each chain. */
#define CHAINS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CHAINS24(X) CHAINS12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) \
    X(20) X(21) X(22) X(23)

/* multiply-adds done: iters * 24 * 16 */
__attribute__((target("avx512f"))) float peak_fma_zmm(long iters, float seed)
{
    __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(seed * 1e-7f);
#define DECL(i) __m512 acc##i = _mm512_set1_ps(seed + (float) (i));
    CHAINS24(DECL)
#undef DECL
    for (long it = 0; it < iters; it++) {
#define STEP(i) acc##i = _mm512_fmadd_ps(acc##i, a, b);
        CHAINS24(STEP)
#undef STEP
        /* a and b stay opaque registers: nothing folds */
        __asm__ volatile("" : "+v"(a), "+v"(b));
    }
    __m512 s = _mm512_setzero_ps();
#define SUM(i) s = _mm512_add_ps(s, acc##i);
    CHAINS24(SUM)
#undef SUM
    return _mm512_reduce_add_ps(s);
}

/* multiply-adds done: iters * 12 * 8 (16 ymm registers: 12 chains, a, b) */
__attribute__((target("avx2,fma"))) float peak_fma_ymm(long iters, float seed)
{
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(seed * 1e-7f);
#define DECL(i) __m256 acc##i = _mm256_set1_ps(seed + (float) (i));
    CHAINS12(DECL)
#undef DECL
    for (long it = 0; it < iters; it++) {
#define STEP(i) acc##i = _mm256_fmadd_ps(acc##i, a, b);
        CHAINS12(STEP)
#undef STEP
        __asm__ volatile("" : "+x"(a), "+x"(b));
    }
    __m256 s = _mm256_setzero_ps();
#define SUM(i) s = _mm256_add_ps(s, acc##i);
    CHAINS12(SUM)
#undef SUM
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

/* the multiply-adds of one iteration */
int peak_per_iter_zmm(void) { return 24 * 16; }
int peak_per_iter_ymm(void) { return 12 * 8; }

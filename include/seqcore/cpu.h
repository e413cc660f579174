/* The widest vector instruction set this CPU runs, for the kernels compiled
 * once per instruction set (activations.h, matmul.h).
 *
 * SC_X86 is 1 where gcc can build the AVX2 and AVX-512F variants (under
 * `#pragma GCC target`); sc_cpu_level() is then 2 with AVX-512F, 1 with AVX2
 * and FMA, 0 otherwise, checked once (the race on the first call is benign:
 * every thread writes the same value).  One check serves every kernel, so
 * packing and products always agree on the panel width.
 */
#ifndef SEQCORE_CPU_H
#define SEQCORE_CPU_H

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SC_X86 1
#else
#define SC_X86 0
#endif

static int sc_cpu_level_state = -1;

static inline int sc_cpu_level(void)
{
#if SC_X86
    if (sc_cpu_level_state < 0) {
        __builtin_cpu_init();
        sc_cpu_level_state = __builtin_cpu_supports("avx512f") ? 2
            : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
    }
    return sc_cpu_level_state;
#else
    return 0;
#endif
}

#endif /* SEQCORE_CPU_H */

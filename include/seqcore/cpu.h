/* The widest vector instruction set this CPU runs, for the kernels compiled
 * once per instruction set (activations.h, matmul.h).
 *
 * SC_X86 is 1 where the compiler can build the AVX2 and AVX-512F variants
 * (GCC under `#pragma GCC target`, clang under `#pragma clang attribute`);
 * sc_cpu_level() is then 2 with AVX-512F, 1 with AVX2 and FMA, 0 otherwise,
 * checked once (the race on the first call is benign: every thread writes
 * the same value).  One check serves every kernel, so packing and products
 * always agree on the panel width.  Elsewhere (MSVC, ARM64, mingw-w64, whose
 * GCC does not align the stack for AVX spills) only the generic kernels are
 * built: 16-byte GCC/clang vectors, which are NEON on aarch64, or plain C
 * loops where there are no vector extensions (portable.h).
 *
 * The environment variable SEQCORE_KERNELS caps the level, read at the
 * first call: "generic" forces the generic kernels, "avx2" the AVX2 ones at
 * most; "auto", empty or unset take the widest the CPU runs (the Python
 * package refuses other values at import).  sc_cpu_kernels() names the
 * kernels in use.
 */
#ifndef SEQCORE_CPU_H
#define SEQCORE_CPU_H

#include <stdlib.h>
#include <string.h>

#include "portable.h"

#if SC_GNU && (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
#define SC_X86 1
#else
#define SC_X86 0
#endif

static int sc_cpu_level_state = -1;

static inline int sc_cpu_level(void)
{
    if (sc_cpu_level_state < 0) {
        int level = 0;
        const char *cap = getenv("SEQCORE_KERNELS");
#if SC_X86
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx512f") ? 2
            : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
#endif
        if (cap != NULL && strcmp(cap, "generic") == 0)
            level = 0;
        else if (cap != NULL && strcmp(cap, "avx2") == 0 && level > 1)
            level = 1;
        sc_cpu_level_state = level;
    }
    return sc_cpu_level_state;
}

/* The kernels in use: "generic", "avx2" or "avx512". */
static inline const char *sc_cpu_kernels(void)
{
    static const char *const names[3] = {"generic", "avx2", "avx512"};
    return names[sc_cpu_level()];
}

#endif /* SEQCORE_CPU_H */

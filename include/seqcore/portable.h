/* What the compiler offers, decided once for every header of the core.
 *
 * The kernels and the worker pool are written for GCC and clang (vector
 * extensions, __atomic builtins, function attributes) and build with MSVC
 * through the portable paths below; each use of an extension sits behind
 * one of these macros, with a plain C fallback of the same interface.
 *
 *   SC_GNU: 1 where GNU C extensions are there (GCC, clang, also mingw-w64),
 *       0 under MSVC and other C compilers.  Defining SC_NO_GNU_EXTENSIONS
 *       forces 0, so that GCC and clang compile (and tests/c runs) the code
 *       MSVC gets.
 *   SC_ALWAYS_INLINE, SC_NOINLINE: the inlining the kernels rely on
 *       (register blocks whose sizes are constants after inlining; one
 *       out-of-line block loop, so every value takes the same instructions).
 *   sc_atomic_*: the atomic operations of the worker pool, on 32- and 64-bit
 *       integers, with GCC's memory orders (SC_RELAXED, SC_ACQUIRE,
 *       SC_RELEASE, SC_ACQ_REL, SC_SEQ_CST).  MSVC gets the Interlocked
 *       functions, which are full barriers: as strong as any order asked.
 *       SC_HAVE_ATOMICS is 0 where neither exists; the pool then runs every
 *       part on the calling thread.
 */
#ifndef SEQCORE_PORTABLE_H
#define SEQCORE_PORTABLE_H

#include <stdint.h>

#if (defined(__GNUC__) || defined(__clang__)) && !defined(SC_NO_GNU_EXTENSIONS)
#define SC_GNU 1
#else
#define SC_GNU 0
#endif

#if SC_GNU
#define SC_ALWAYS_INLINE inline __attribute__((always_inline))
#define SC_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define SC_ALWAYS_INLINE __forceinline
#define SC_NOINLINE __declspec(noinline)
#else
#define SC_ALWAYS_INLINE inline
#define SC_NOINLINE
#endif

/* ------------------------------------------------------------- atomics */

#if SC_GNU

#define SC_HAVE_ATOMICS 1
#define SC_RELAXED __ATOMIC_RELAXED
#define SC_ACQUIRE __ATOMIC_ACQUIRE
#define SC_RELEASE __ATOMIC_RELEASE
#define SC_ACQ_REL __ATOMIC_ACQ_REL
#define SC_SEQ_CST __ATOMIC_SEQ_CST

#define sc_atomic_load32(p, order) __atomic_load_n((p), (order))
#define sc_atomic_load64(p, order) __atomic_load_n((p), (order))
#define sc_atomic_store32(p, v, order) __atomic_store_n((p), (v), (order))
#define sc_atomic_store64(p, v, order) __atomic_store_n((p), (v), (order))
#define sc_atomic_exchange32(p, v, order) __atomic_exchange_n((p), (v), (order))
/* *p += v; the new value */
#define sc_atomic_add64(p, v, order) __atomic_add_fetch((p), (v), (order))
/* if *p == *expected: *p = desired, 1; else *expected = *p, 0 */
#define sc_atomic_cas64(p, expected, desired, order) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, (order), SC_ACQUIRE)

#elif defined(_WIN32)

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#define SC_HAVE_ATOMICS 1
#define SC_RELAXED 0
#define SC_ACQUIRE 0
#define SC_RELEASE 0
#define SC_ACQ_REL 0
#define SC_SEQ_CST 0

/* the int and 64-bit fields of the pool: LONG is 32 bits on Windows */
#define sc_atomic_load32(p, order) ((int) InterlockedOr((volatile LONG *) (p), 0))
#define sc_atomic_load64(p, order) InterlockedOr64((volatile LONG64 *) (p), 0)
#define sc_atomic_store32(p, v, order) ((void) InterlockedExchange((volatile LONG *) (p), (LONG) (v)))
#define sc_atomic_store64(p, v, order) \
    ((void) InterlockedExchange64((volatile LONG64 *) (p), (LONG64) (v)))
#define sc_atomic_exchange32(p, v, order) ((int) InterlockedExchange((volatile LONG *) (p), (LONG) (v)))
static inline int64_t sc_atomic_add64_win(volatile int64_t *p, int64_t v)
{
    return (int64_t) InterlockedExchangeAdd64((volatile LONG64 *) p, (LONG64) v) + v;
}
#define sc_atomic_add64(p, v, order) sc_atomic_add64_win((p), (v))

static inline int sc_atomic_cas64_win(volatile uint64_t *p, uint64_t *expected, uint64_t desired)
{
    uint64_t seen = (uint64_t) InterlockedCompareExchange64((volatile LONG64 *) p, (LONG64) desired,
                                                            (LONG64) *expected);
    if (seen == *expected)
        return 1;
    *expected = seen;
    return 0;
}
#define sc_atomic_cas64(p, expected, desired, order) sc_atomic_cas64_win((p), (expected), (desired))

#else

#define SC_HAVE_ATOMICS 0

#endif

#endif /* SEQCORE_PORTABLE_H */

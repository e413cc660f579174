/* The core's C kernels and worker pool, outside Python: built by
 * tests/c/run.sh with gcc, clang, with and without GNU extensions (the code
 * MSVC gets), and cross-compiled for aarch64 to run under qemu-user.
 *
 * Checks:
 *  - sc_matmul_packed / _t (float, double, accumulate or not) against a
 *    double-precision product, over sizes that hit every row tail, partial
 *    panels and more than one K block;
 *  - the same rows computed in one call and row by row are bit-identical
 *    (results must not depend on how a batch is split among threads);
 *  - sigmoid and tanh (scalar and in-place block functions) against libm,
 *    NaN propagation, saturation;
 *  - the worker pool runs every part of many jobs exactly once, with 1 to 4
 *    threads (or serially, where it has no threads);
 *  - SEQCORE_KERNELS=generic forces the generic kernels.
 *
 * Prints the kernels in use and a checksum of the bits of a fixed product
 * computed by the generic kernels (run.sh compares it between builds: on
 * x86-64, where the generic kernels use no FMA, the vector and the plain C
 * code must agree to the bit).  Exit status 0 when every check passed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seqcore/activations.h"
#include "seqcore/cpu.h"
#include "seqcore/matmul.h"
#include "seqcore/pool.h"

static int failures = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                    \
            printf(__VA_ARGS__);                                           \
            printf("\n");                                                  \
        }                                                                  \
    } while (0)

/* a fixed pseudo-random sequence in [-1, 1) (xorshift64) */
static uint64_t rng_state = 88172645463325252ULL;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double) (rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = (const unsigned char *) data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---------------------------------------------------------------- matmul */

/* C (m, N) (+)= op(A) (m, K) @ B (K, N), B read as B[k * rs + j * cs]; the
 * reference in double.  ta: A stored transposed (entry (i, k) at A[k*lda+i]). */
#define DEFINE_MATMUL_TEST(T, sfx, TOL)                                          \
    static uint64_t test_matmul_##sfx(ptrdiff_t m, ptrdiff_t N, ptrdiff_t K,     \
                                      int ta, int accumulate, int transposed_b)  \
    {                                                                            \
        ptrdiff_t lda = ta ? m + 3 : K + 2, ldc = N + 1;                         \
        ptrdiff_t rs = transposed_b ? 1 : N, cs = transposed_b ? K : 1;          \
        ptrdiff_t n_a = ta ? K * lda : m * lda;                                  \
        T *A = (T *) malloc(sizeof(T) * (size_t) n_a);                           \
        T *B = (T *) malloc(sizeof(T) * (size_t) (K * N));                       \
        T *P = (T *) malloc(sizeof(T) * sc_packed_size_##sfx(K, N));             \
        T *C0 = (T *) malloc(sizeof(T) * (size_t) (m * ldc));                    \
        T *C = (T *) malloc(sizeof(T) * (size_t) (m * ldc));                     \
        T *C_rows = (T *) malloc(sizeof(T) * (size_t) (m * ldc));                \
        double worst = 0;                                                        \
        for (ptrdiff_t i = 0; i < n_a; i++)                                      \
            A[i] = (T) uniform();                                                \
        for (ptrdiff_t i = 0; i < K * N; i++)                                    \
            B[i] = (T) uniform();                                                \
        for (ptrdiff_t i = 0; i < m * ldc; i++)                                  \
            C0[i] = (T) uniform();                                               \
        memcpy(C, C0, sizeof(T) * (size_t) (m * ldc));                           \
        memcpy(C_rows, C0, sizeof(T) * (size_t) (m * ldc));                      \
        sc_pack_##sfx(K, N, B, rs, cs, P);                                       \
        if (ta) {                                                                \
            sc_matmul_packed_t_##sfx(m, N, K, A, lda, P, C, ldc, accumulate);    \
            for (ptrdiff_t i = 0; i < m; i++)                                    \
                sc_matmul_packed_t_##sfx(1, N, K, A + i, lda, P, C_rows + i * ldc,\
                                         ldc, accumulate);                       \
        } else {                                                                 \
            sc_matmul_packed_##sfx(m, N, K, A, lda, P, C, ldc, accumulate);      \
            for (ptrdiff_t i = 0; i < m; i++)                                    \
                sc_matmul_packed_##sfx(1, N, K, A + i * lda, lda, P,             \
                                       C_rows + i * ldc, ldc, accumulate);       \
        }                                                                        \
        for (ptrdiff_t i = 0; i < m; i++) {                                      \
            for (ptrdiff_t j = 0; j < N; j++) {                                  \
                /* the reference in double, and the size of its terms */        \
                double ref = accumulate ? (double) C0[i * ldc + j] : 0.0;        \
                double scale = fabs(ref);                                        \
                for (ptrdiff_t k = 0; k < K; k++) {                              \
                    double a = ta ? A[k * lda + i] : A[i * lda + k];             \
                    double prod = a * (double) B[k * rs + j * cs];               \
                    ref += prod;                                                 \
                    scale += fabs(prod);                                         \
                }                                                                \
                double err = fabs((double) C[i * ldc + j] - ref) / (scale + 1e-300);\
                worst = err > worst ? err : worst;                               \
            }                                                                    \
            /* the padding column past N is never written */                     \
            CHECK(C[i * ldc + N] == C0[i * ldc + N],                             \
                  #sfx " matmul wrote past N (m=%d N=%d K=%d)", (int) m, (int) N,\
                  (int) K);                                                      \
        }                                                                        \
        CHECK(memcmp(C, C_rows, sizeof(T) * (size_t) (m * ldc)) == 0,            \
              #sfx " matmul: rows alone differ from the batch (m=%d N=%d K=%d "  \
              "ta=%d)", (int) m, (int) N, (int) K, ta);                          \
        CHECK(worst <= TOL, #sfx " matmul m=%d N=%d K=%d ta=%d acc=%d tb=%d: "   \
              "relative error %.3g > %.3g", (int) m, (int) N, (int) K, ta,       \
              accumulate, transposed_b, worst, (double) TOL);                    \
        uint64_t h = fnv1a(1469598103934665603ULL, C, sizeof(T) * (size_t) (m * ldc));\
        free(A);                                                                 \
        free(B);                                                                 \
        free(P);                                                                 \
        free(C0);                                                                \
        free(C);                                                                 \
        free(C_rows);                                                            \
        return h;                                                                \
    }

/* relative to the sum of |products|: a few roundings per term */
DEFINE_MATMUL_TEST(float, f, 4e-6)
DEFINE_MATMUL_TEST(double, d, 1e-14)

static uint64_t test_matmuls(void)
{
    static const ptrdiff_t ms[] = {1, 2, 3, 5, 7, 12, 13, 31, 97, 200};
    static const ptrdiff_t Ns[] = {1, 3, 8, 17, 33, 64};
    static const ptrdiff_t Ks[] = {1, 4, 127, 129, 300};
    uint64_t h = 1469598103934665603ULL;
    int n = 0;
    for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
            for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++) {
                /* every combination of the flags over the sizes, not all of
                 * them at every size: that would take minutes under qemu */
                int flags = (int) ((a + 2 * b + 3 * c) % 8);
                uint64_t hf = test_matmul_f(ms[a], Ns[b], Ks[c], flags & 1, (flags >> 1) & 1,
                                            (flags >> 2) & 1);
                uint64_t hd = test_matmul_d(ms[a], Ns[b], Ks[c], flags & 1, (flags >> 1) & 1,
                                            (flags >> 2) & 1);
                h = fnv1a(fnv1a(h, &hf, sizeof hf), &hd, sizeof hd);
                n += 2;
            }
    printf("matmul: %d products checked\n", n);
    return h;
}

/* ----------------------------------------------------------- activations */

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

static void test_activations(void)
{
    double worst_sf = 0, worst_tf = 0, worst_sd = 0, worst_td = 0;
    enum { N = 20001 };
    static float xf[N], sf[N], tf[N];
    static double xd[N], sd[N], td[N];
    for (int i = 0; i < N; i++) {
        xd[i] = -20.0 + 40.0 * i / (N - 1);
        xf[i] = (float) xd[i];
    }
    memcpy(sf, xf, sizeof xf);
    memcpy(tf, xf, sizeof xf);
    memcpy(sd, xd, sizeof xd);
    memcpy(td, xd, sizeof xd);
    /* n not a multiple of the block: the tail goes through the block too */
    sc_sigmoid_inplace_f(sf, N);
    sc_tanh_inplace_f(tf, N);
    sc_sigmoid_inplace_d(sd, N);
    sc_tanh_inplace_d(td, N);
    for (int i = 0; i < N; i++) {
        double x = xf[i];
        /* absolute error for sigmoid (in (0, 1)), relative for tanh (odd) */
        double e;
        e = fabs(sf[i] - sigmoid_ref(x));
        worst_sf = e > worst_sf ? e : worst_sf;
        e = fabs(tf[i] - tanh(x)) / (fabs(tanh(x)) + 1e-30);
        worst_tf = e > worst_tf ? e : worst_tf;
        e = fabs(sd[i] - sigmoid_ref(xd[i]));
        worst_sd = e > worst_sd ? e : worst_sd;
        e = fabs(td[i] - tanh(xd[i])) / (fabs(tanh(xd[i])) + 1e-300);
        worst_td = e > worst_td ? e : worst_td;
        /* the scalar functions are the generic kernels' */
        CHECK(sc_cpu_level() > 0 || (sc_sigmoid_f(xf[i]) == sf[i] && sc_tanh_f(xf[i]) == tf[i]),
              "scalar and block float functions differ at x=%g", x);
    }
    printf("activations: worst errors sigmoid f %.2g d %.2g, tanh f %.2g d %.2g (relative)\n",
           worst_sf, worst_sd, worst_tf, worst_td);
    /* float: a few ulp (ulp of 1 is 1.2e-7); double: a few ulp of 2.2e-16 */
    CHECK(worst_sf < 5e-7, "float sigmoid error %g", worst_sf);
    CHECK(worst_tf < 5e-7, "float tanh error %g", worst_tf);
    CHECK(worst_sd < 2e-15, "double sigmoid error %g", worst_sd);
    CHECK(worst_td < 2e-15, "double tanh error %g", worst_td);
    {
        float v[3] = {NAN, 1000.0f, -1000.0f};
        double w[3] = {NAN, 1e6, -1e6};
        sc_tanh_inplace_f(v, 3);
        sc_sigmoid_inplace_d(w, 3);
        CHECK(isnan(v[0]) && v[1] == 1.0f && v[2] == -1.0f, "float tanh NaN/saturation");
        CHECK(isnan(w[0]) && w[1] == 1.0 && w[2] >= 0.0 && w[2] < 1e-300,
              "double sigmoid NaN/saturation");
        CHECK(isnan(sc_sigmoid_f(NAN)) && isnan(sc_tanh_d(NAN)) && isnan(sc_relu_f(NAN)),
              "scalar NaN propagation");
    }
}

/* ------------------------------------------------------------------ pool */

typedef struct {
    int *hits;
} pool_job;

static void count_part(void *ctx, ptrdiff_t part)
{
    pool_job *job = (pool_job *) ctx;
    /* each part writes its own slot: a part run twice or never shows */
    job->hits[part] += 1;
}

static void test_pool(void)
{
    int total = 0;
    for (int threads = 1; threads <= 4; threads++) {
        for (int round = 0; round < 2000; round++) {
            int n = 1 + (round * 7 + threads) % 40;
            int hits[40] = {0};
            pool_job job = {hits};
            sc_pool_run(count_part, &job, n, threads);
            for (int i = 0; i < n; i++)
                CHECK(hits[i] == 1, "pool: part %d of %d ran %d times (threads %d)", i, n,
                      hits[i], threads);
            total += n;
        }
    }
    printf("pool: %d parts run (threads %s, %d workers, %lld jobs shared)\n", total,
           SC_POOL_THREADS ? "on" : "off", sc_pool.n_workers, (long long) sc_pool.n_shared);
}

int main(void)
{
    const char *cap = getenv("SEQCORE_KERNELS");
    uint64_t h;
    printf("kernels: %s (SC_GNU %d, SC_X86 %d, pool threads %d)\n", sc_cpu_kernels(), SC_GNU,
           SC_X86, SC_POOL_THREADS);
    if (cap != NULL && strcmp(cap, "generic") == 0)
        CHECK(strcmp(sc_cpu_kernels(), "generic") == 0, "SEQCORE_KERNELS=generic ignored");
    h = test_matmuls();
    test_activations();
    test_pool();
    printf("checksum %s %016llx\n", sc_cpu_kernels(), (unsigned long long) h);
    if (failures) {
        printf("%d checks failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}

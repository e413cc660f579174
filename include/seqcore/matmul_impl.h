/* The packed hidden-product kernels, compiled once per vector width and type.
 *
 * Included six times by matmul.h, with SC_MM_ISA (generic, avx2, avx512),
 * SC_MM_VB (vector bytes) and SC_MM_T / SC_MM_SFX (float f, double d) set;
 * SC_MM(name) appends type and ISA to every name.  No include guard on
 * purpose.  See matmul.h for the layout and the contract.
 */

#if SC_GNU
/* aligned(sizeof(T)): loads and stores through V need no 64-byte alignment */
typedef SC_MM_T SC_MM(vec) __attribute__((vector_size(SC_MM_VB), aligned(sizeof(SC_MM_T))));
#define SC_MM_V SC_MM(vec)
#endif

#define SC_MM_L ((ptrdiff_t) (SC_MM_VB / sizeof(SC_MM_T)))   /* lanes */
#define SC_MM_NR (SC_MM_NV * SC_MM_L)                      /* panel width */
/* A block of `rows` rows (fewer than MR) runs over SC_MM_NP(rows) panels at
 * once: as many as keep its accumulators within the main block's MR x NV,
 * 1, 2, 4 or 8 (SC_MM_NPMAX) */
#define SC_MM_NPMAX 8
#define SC_MM_FITS(rows, np) ((rows) * (np) <= SC_MM_MR)
#define SC_MM_NP(rows) (SC_MM_FITS(rows, 8) ? 8 : SC_MM_FITS(rows, 4) ? 4 \
                        : SC_MM_FITS(rows, 2) ? 2 : 1)

static inline size_t SC_MM(sc_packed_size)(ptrdiff_t K, ptrdiff_t N)
{
    return (size_t) ((N + SC_MM_NR - 1) / SC_MM_NR) * SC_MM_NR * (size_t) K;
}

static inline void SC_MM(sc_pack)(ptrdiff_t K, ptrdiff_t N, const SC_MM_T *B,
                                  ptrdiff_t rs, ptrdiff_t cs, SC_MM_T *P)
{
    ptrdiff_t n_panels = (N + SC_MM_NR - 1) / SC_MM_NR;
    for (ptrdiff_t p = 0; p < n_panels; p++) {
        SC_MM_T *panel = P + p * K * SC_MM_NR;
        for (ptrdiff_t k = 0; k < K; k++) {
            for (ptrdiff_t jj = 0; jj < SC_MM_NR; jj++) {
                ptrdiff_t j = p * SC_MM_NR + jj;
                panel[k * SC_MM_NR + jj] = j < N ? B[k * rs + j * cs] : 0;
            }
        }
    }
}

/* C[0:mr, 0:nc] (+)= A[0:mr, :] @ np panels side by side (panel q at
 * panel + q * ps, its columns at C + q * NR); mr, np and ta are constants
 * after inlining, so the mr x np x SC_MM_NV vector accumulators live in
 * registers.  nc: the columns of the last of the np panels (NR unless it is
 * the matrix's last, partial one).  ta: A is stored transposed, entry (i, k)
 * at A[k * lda + i].
 *
 * Why several panels: a block of few rows has few accumulators, each a chain
 * of dependent FMAs; with one panel (2 vectors) a 1-row block waited on the
 * FMA latency at every k (a batch of 1 ran at a fraction of the FMA rate).
 * Each entry is still summed alone, in k order, so the result is the same
 * for any np. */
#if SC_GNU
static SC_ALWAYS_INLINE void
SC_MM(sc_block)(const int mr, const int np, const int ta, ptrdiff_t K, const SC_MM_T *A,
                ptrdiff_t lda, const SC_MM_T *panel, ptrdiff_t ps, SC_MM_T *C, ptrdiff_t ldc,
                ptrdiff_t nc, int accumulate)
{
    SC_MM_V acc[SC_MM_MR][SC_MM_NPMAX * SC_MM_NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < np * SC_MM_NV; v++)
            acc[i][v] = (SC_MM_V) {0};
    for (ptrdiff_t k = 0; k < K; k++) {
        SC_MM_V b[SC_MM_NPMAX * SC_MM_NV];
        for (int q = 0; q < np; q++)
            for (int v = 0; v < SC_MM_NV; v++)
                b[q * SC_MM_NV + v] =
                    *(const SC_MM_V *) (panel + q * ps + k * SC_MM_NR + v * SC_MM_L);
        for (int i = 0; i < mr; i++) {
            const SC_MM_T a = ta ? A[k * lda + i] : A[i * lda + k];
            for (int v = 0; v < np * SC_MM_NV; v++)
                acc[i][v] += a * b[v];
        }
    }
    for (int i = 0; i < mr; i++) {
        for (int q = 0; q < np; q++) {
            SC_MM_T *c = C + i * ldc + q * SC_MM_NR;
            if (q < np - 1 || nc == SC_MM_NR) {
                for (int v = 0; v < SC_MM_NV; v++) {
                    SC_MM_V r = acc[i][q * SC_MM_NV + v];
                    if (accumulate)
                        r += *(SC_MM_V *) (c + v * SC_MM_L);
                    *(SC_MM_V *) (c + v * SC_MM_L) = r;
                }
            } else {
                SC_MM_T tmp[SC_MM_NR];
                memcpy(tmp, &acc[i][q * SC_MM_NV], sizeof(tmp));
                for (ptrdiff_t j = 0; j < nc; j++)
                    c[j] = accumulate ? c[j] + tmp[j] : tmp[j];
            }
        }
    }
}
#else
/* The same block without vector extensions: the accumulators are a plain
 * (mr, np * NR) array, each entry summed in k order as above, so results
 * equal the vector code's wherever both run without FMA. */
static SC_ALWAYS_INLINE void
SC_MM(sc_block)(const int mr, const int np, const int ta, ptrdiff_t K, const SC_MM_T *A,
                ptrdiff_t lda, const SC_MM_T *panel, ptrdiff_t ps, SC_MM_T *C, ptrdiff_t ldc,
                ptrdiff_t nc, int accumulate)
{
    SC_MM_T acc[SC_MM_MR][SC_MM_NPMAX * SC_MM_NR];
    for (int i = 0; i < mr; i++)
        for (ptrdiff_t j = 0; j < np * SC_MM_NR; j++)
            acc[i][j] = 0;
    for (ptrdiff_t k = 0; k < K; k++) {
        for (int i = 0; i < mr; i++) {
            const SC_MM_T a = ta ? A[k * lda + i] : A[i * lda + k];
            for (int q = 0; q < np; q++) {
                const SC_MM_T *b = panel + q * ps + k * SC_MM_NR;
                for (ptrdiff_t j = 0; j < SC_MM_NR; j++)
                    acc[i][q * SC_MM_NR + j] += a * b[j];
            }
        }
    }
    for (int i = 0; i < mr; i++) {
        for (int q = 0; q < np; q++) {
            SC_MM_T *c = C + i * ldc + q * SC_MM_NR;
            ptrdiff_t w = q < np - 1 ? SC_MM_NR : nc;
            for (ptrdiff_t j = 0; j < w; j++)
                c[j] = accumulate ? c[j] + acc[i][q * SC_MM_NR + j]
                                  : acc[i][q * SC_MM_NR + j];
        }
    }
}
#endif

/* C (m, N) (+)= op(A) (m, K) @ the packed (K, N) matrix P.
 *
 * Loops, outer to inner: K in blocks of SC_MM_KC (a panel's block, KC x NR,
 * then fits in L1), rows in chunks of SC_MM_MC (their KC-block of A stays in
 * L2 while every panel passes), panels, row blocks of SC_MM_MR; then the
 * chunk's last rows (fewer than MR) in blocks of 8, 4, 2, 1, each over as
 * many panels at once as the accumulators allow (SC_MM_NP).  Every entry
 * sums its K blocks in order and each block in k order, whatever m, the
 * chunking, the blocks or the thread: results do not depend on how rows are
 * split. */
static SC_ALWAYS_INLINE void
SC_MM(sc_matmul_any)(const int ta, ptrdiff_t m, ptrdiff_t N, ptrdiff_t K,
                     const SC_MM_T *A, ptrdiff_t lda, const SC_MM_T *P,
                     SC_MM_T *C, ptrdiff_t ldc, int accumulate)
{
    ptrdiff_t n_panels = (N + SC_MM_NR - 1) / SC_MM_NR;
    ptrdiff_t ps = K * SC_MM_NR;   /* from one panel to the next */
    for (ptrdiff_t k0 = 0; k0 < K; k0 += SC_MM_KC) {
        ptrdiff_t kc = K - k0 < SC_MM_KC ? K - k0 : SC_MM_KC;
        int acc = accumulate || k0 > 0;
        const SC_MM_T *Ak = ta ? A + k0 * lda : A + k0;
        for (ptrdiff_t i0 = 0; i0 < m; i0 += SC_MM_MC) {
            ptrdiff_t i1 = m - i0 < SC_MM_MC ? m : i0 + SC_MM_MC;
            ptrdiff_t tail = i0 + (i1 - i0) / SC_MM_MR * SC_MM_MR;
            ptrdiff_t i, p;
#define SC_MM_AT(i) (ta ? Ak + (i) : Ak + (i) * lda)
#define SC_MM_NC(p, np) (N - ((p) + (np) - 1) * SC_MM_NR < SC_MM_NR \
                         ? N - ((p) + (np) - 1) * SC_MM_NR : SC_MM_NR)
            if (tail > i0) {
                for (p = 0; p < n_panels; p++) {
                    const SC_MM_T *panel = P + (p * K + k0) * SC_MM_NR;
                    for (i = i0; i < tail; i += SC_MM_MR)
                        SC_MM(sc_block)(SC_MM_MR, 1, ta, kc, SC_MM_AT(i), lda, panel, ps,
                                        C + i * ldc + p * SC_MM_NR, ldc, SC_MM_NC(p, 1),
                                        acc);
                }
            }
            i = tail;
            /* the last rows: a block of `rows` rows over np panels at a time,
             * then the panels left in fewer at a time; each size a constant */
#define SC_MM_PANELS(rows, np)                                              \
            for (; p + (np) <= n_panels; p += (np))                        \
                SC_MM(sc_block)(rows, np, ta, kc, SC_MM_AT(i), lda,          \
                                P + (p * K + k0) * SC_MM_NR, ps,             \
                                C + i * ldc + p * SC_MM_NR, ldc,             \
                                SC_MM_NC(p, np), acc);
#define SC_MM_TAIL(rows)                                                    \
            if (SC_MM_MR > rows && i1 - i >= rows) {                       \
                p = 0;                                                      \
                SC_MM_PANELS(rows, SC_MM_NP(rows))                          \
                if (SC_MM_NP(rows) > 4)                                     \
                    SC_MM_PANELS(rows, 4)                                   \
                if (SC_MM_NP(rows) > 2)                                     \
                    SC_MM_PANELS(rows, 2)                                   \
                SC_MM_PANELS(rows, 1)                                       \
                i += rows;                                                  \
            }
            SC_MM_TAIL(8)
            SC_MM_TAIL(4)
            SC_MM_TAIL(2)
            SC_MM_TAIL(1)
#undef SC_MM_TAIL
#undef SC_MM_PANELS
#undef SC_MM_NC
#undef SC_MM_AT
        }
    }
}

static inline void SC_MM(sc_matmul_packed)(ptrdiff_t m, ptrdiff_t N, ptrdiff_t K,
                                           const SC_MM_T *A, ptrdiff_t lda,
                                           const SC_MM_T *P, SC_MM_T *C, ptrdiff_t ldc,
                                           int accumulate)
{
    SC_MM(sc_matmul_any)(0, m, N, K, A, lda, P, C, ldc, accumulate);
}

static inline void SC_MM(sc_matmul_packed_t)(ptrdiff_t m, ptrdiff_t N, ptrdiff_t K,
                                             const SC_MM_T *A, ptrdiff_t lda,
                                             const SC_MM_T *P, SC_MM_T *C, ptrdiff_t ldc,
                                             int accumulate)
{
    SC_MM(sc_matmul_any)(1, m, N, K, A, lda, P, C, ldc, accumulate);
}

#if SC_GNU
#undef SC_MM_V
#endif
#undef SC_MM_L
#undef SC_MM_NR
#undef SC_MM_NPMAX
#undef SC_MM_FITS
#undef SC_MM_NP

/* The activation kernels, compiled once per instruction set.
 *
 * Included twice by activations.h, with SC_ISA set to `generic` (x86-64
 * baseline, SSE2) and to `avx2` (under `#pragma GCC target("avx2,fma")`);
 * SC_FN(name) appends the ISA to every name.  No include guard on purpose.
 * See activations.h for the method and its accuracy.
 */

/* ---------------------------------------------------------------- exp */

static inline float SC_FN(sc_exp_core_f)(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* k = round(x / ln2) by the 1.5 * 2^23 trick (no libm call); the low
     * mantissa bits of kf then hold k itself, in two's complement */
    float kf = x * 1.44269504088896341f + 12582912.0f;
    uint32_t kbits;
    memcpy(&kbits, &kf, sizeof kbits);
    float k = kf - 12582912.0f;
    /* ln2 split in a short high part (k * hi is exact) and a low part */
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.98412698e-4f;           /* 1/7! */
    p = p * r + 1.38888889e-3f;         /* 1/6! */
    p = p * r + 8.33333333e-3f;         /* 1/5! */
    p = p * r + 4.16666667e-2f;         /* 1/4! */
    p = p * r + 1.66666667e-1f;         /* 1/3! */
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^k: (k + 127) in the exponent field; only the low 9 bits of
     * kbits + 127 survive the shift, and they are k + 127 (no float-to-int
     * conversion, which SSE2 lacks for doubles) */
    uint32_t bits = (kbits + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline double SC_FN(sc_exp_core_d)(double x)
{
    x = x < -708.0 ? -708.0 : x;
    x = x > 709.0 ? 709.0 : x;
    double kf = x * 1.44269504088896338700e+00 + 6755399441055744.0;
    uint64_t kbits;
    memcpy(&kbits, &kf, sizeof kbits);
    double k = kf - 6755399441055744.0;
    double r = x - k * 6.93147180369123816490e-01;
    r = r - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;      /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits = (kbits + 1023u) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* ------------------------------------------------------ scalar functions */

/* Odd Taylor series of tanh, through x^13 (float) or x^27 (double): on
 * |x| < 0.4 the first omitted term is below half an ulp. */
static inline float SC_FN(sc_tanh_small_f)(float x)
{
    float x2 = x * x;
    float p = 21844.0f / 6081075.0f;
    p = p * x2 - 1382.0f / 155925.0f;
    p = p * x2 + 62.0f / 2835.0f;
    p = p * x2 - 17.0f / 315.0f;
    p = p * x2 + 2.0f / 15.0f;
    p = p * x2 - 1.0f / 3.0f;
    return x + x * x2 * p;
}

static inline double SC_FN(sc_tanh_small_d)(double x)
{
    /* coefficients c_k = 2^2k (2^2k - 1) B_2k / (2k)!, for x^3 .. x^27 */
    static const double c[13] = {
        -3.33333333333333315e-01, 1.33333333333333331e-01,
        -5.39682539682539708e-02, 2.18694885361552030e-02,
        -8.86323552990219733e-03, 3.59212803657248114e-03,
        -1.45583438705131833e-03, 5.90027440945585947e-04,
        -2.39129114243552478e-04, 9.69153795692945095e-05,
        -3.92783238833168327e-05, 1.59189050693289637e-05,
        -6.45168921565543065e-06};
    double x2 = x * x;
    double p = c[12];
    for (int i = 11; i >= 0; --i) {
        p = p * x2 + c[i];
    }
    return x + x * x2 * p;
}

#ifndef SC_BLOCK
#define SC_BLOCK 32
#endif
#define SC_BLOCKWISE(block, T, x, n)                                        \
    ptrdiff_t i = 0;                                                        \
    for (; i + SC_BLOCK <= (n); i += SC_BLOCK) {                            \
        block((x) + i);                                                     \
    }                                                                       \
    if (i < (n)) {                                                          \
        T tmp[SC_BLOCK] = {0};                                              \
        memcpy(tmp, (x) + i, (size_t) ((n) - i) * sizeof(T));               \
        block(tmp);                                                         \
        memcpy((x) + i, tmp, (size_t) ((n) - i) * sizeof(T));               \
    }

#define SC_DEFINE_ACTIVATIONS(T, SUF, SMALL_CUT)                        \
    /* logistic: 1 / (1 + exp(-x)); the clamp inside exp keeps it finite */  \
    static inline T SC_FN(sc_sigmoid_##SUF)(T x)                                   \
    {                                                                       \
        return (T)1 / ((T)1 + SC_FN(sc_exp_core_##SUF)(-x));                       \
    }                                                                       \
    static inline T SC_FN(sc_tanh_##SUF)(T x)                                      \
    {                                                                       \
        T ax = x < (T)0 ? -x : x;                                           \
        T e = SC_FN(sc_exp_core_##SUF)((T)2 * ax);                                 \
        T big = (T)1 - (T)2 / (e + (T)1);                                   \
        big = x < (T)0 ? -big : big;                                        \
        T near0 = SC_FN(sc_tanh_small_##SUF)(x);                                   \
        return ax < (T)SMALL_CUT ? near0 : big;                             \
    }                                                                       \
                                                                            \
    /* Blocks of SC_BLOCK values through one out-of-line loop, the tail     \
     * padded into a block too: every value takes the same instructions     \
     * wherever it sits in the array (a vector body and a scalar tail could  \
     * round differently), so results do not depend on how rows are split. */\
    static SC_NOINLINE void SC_FN(sc_sigmoid_block_##SUF)(T *x) \
    {                                                                       \
        for (int i = 0; i < SC_BLOCK; ++i) {                                \
            x[i] = SC_FN(sc_sigmoid_##SUF)(x[i]);                           \
        }                                                                   \
    }                                                                       \
    static SC_NOINLINE void SC_FN(sc_tanh_block_##SUF)(T *x)  \
    {                                                                       \
        for (int i = 0; i < SC_BLOCK; ++i) {                                \
            x[i] = SC_FN(sc_tanh_##SUF)(x[i]);                              \
        }                                                                   \
    }                                                                       \
    static void SC_FN(sc_sigmoid_inplace_##SUF)(T *x, ptrdiff_t n)          \
    {                                                                       \
        SC_BLOCKWISE(SC_FN(sc_sigmoid_block_##SUF), T, x, n)                \
    }                                                                       \
    static void SC_FN(sc_tanh_inplace_##SUF)(T *x, ptrdiff_t n)             \
    {                                                                       \
        SC_BLOCKWISE(SC_FN(sc_tanh_block_##SUF), T, x, n)                   \
    }

SC_DEFINE_ACTIVATIONS(float, f, 0.4)
SC_DEFINE_ACTIVATIONS(double, d, 0.4)

#undef SC_DEFINE_ACTIVATIONS
#undef SC_BLOCKWISE

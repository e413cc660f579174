/* One LSTM time step's parts, timed on one thread, for peak_fma.py --step.
 *
 * Compiled at run time with the system C compiler and the extension's flags
 * (-O3 -fno-trapping-math) against include/seqcore
 * (the core's own packed kernels and activations, as the time loop calls
 * them): the hidden product h @ W_hh.T on the packed W_hh (n rows, K = H,
 * N = 4H, accumulated into the gates as in _cells.lstm_forward) and the gate
 * math of _cells.lstm_forward (3 logistic, 2 tanh, the cell update), each
 * repeated T times; the best of 5 rounds of each.  Prints one line of
 * key=value pairs for peak_fma.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seqcore/activations.h"
#include "seqcore/matmul.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + 1e-9 * (double) t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s ROWS H STEPS\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]), H = atol(argv[2]), T = atol(argv[3]);
    long P = H, GH = 4 * H;
    if (n < 1 || H < 1 || T < 1)
        return 2;
    float *W = malloc(sizeof(float) * (size_t) (GH * P));
    float *Wp = malloc(sizeof(float) * sc_packed_size_f(P, GH));
    float *h = malloc(sizeof(float) * (size_t) (n * P));
    float *g = malloc(sizeof(float) * (size_t) (n * GH));
    float *c = calloc((size_t) (n * H), sizeof(float));
    float *tc = malloc(sizeof(float) * (size_t) (n * H));
    if (!W || !Wp || !h || !g || !c || !tc)
        return 3;
    for (long i = 0; i < GH * P; i++)
        W[i] = (float) ((i * 7919) % 101 - 50) * 1e-3f;
    for (long i = 0; i < n * P; i++)
        h[i] = (float) ((i * 31) % 17 - 8) * 1e-2f;
    for (long i = 0; i < n * GH; i++)
        g[i] = 0.1f;
    /* W_hh (4H, H): h @ W_hh.T packs entry (k, j) = W[j * P + k] */
    sc_pack_f(P, GH, W, 1, P, Wp);
    double best_mm = 1e30, best_gate = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
        for (long t = 0; t < T; t++)
            sc_matmul_packed_f(n, GH, P, h, P, Wp, g, GH, 1);
        double t1 = now();
        for (long t = 0; t < T; t++) {
            for (long b = 0; b < n; b++) {
                float *gb = g + b * GH, *cb = c + b * H, *tb = tc + b * H;
                sc_sigmoid_inplace_f(gb, H);
                sc_sigmoid_inplace_f(gb + H, H);
                sc_tanh_inplace_f(gb + 2 * H, H);
                for (long j = 0; j < H; j++)
                    cb[j] = gb[H + j] * cb[j] + gb[j] * gb[2 * H + j];
                sc_sigmoid_inplace_f(gb + 3 * H, H);
                memcpy(tb, cb, sizeof(float) * (size_t) H);
                sc_tanh_inplace_f(tb, H);
                for (long j = 0; j < H; j++)
                    h[b * P + j] = gb[3 * H + j] * tb[j];
                /* keep the values in range for the next step's product */
                for (long j = 0; j < 4 * H; j++)
                    gb[j] = 0.1f;
            }
        }
        double t2 = now();
        if (t1 - t0 < best_mm)
            best_mm = t1 - t0;
        if (t2 - t1 < best_gate)
            best_gate = t2 - t1;
    }
    printf("kernels=%s rows=%ld H=%ld steps=%ld product_s=%.9f gates_s=%.9f madds=%.0f\n",
           sc_cpu_kernels(), n, H, T, best_mm, best_gate, (double) n * (double) P * (double) GH * (double) T);
    return 0;
}

/* bench/bench_train.c — trainer throughput: samples/s of full training
 * steps of vlocr-nano (random crops and labels, widths 256 and 512, batch
 * 24) and the share of the machine's sgemm rate, measured in the same run
 * with the same thread count (VLOCR_THREADS, default 2). Two ways to use
 * the threads, same run: OpenBLAS threaded with the other ops on one
 * thread (the trainer before), and the trainer's way now: OpenBLAS on one
 * thread, GEMMs split by rows and every other op on the OpenMP threads. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/trn.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int enc(void *ud, const char *text, int32_t *ids, int cap)
{
    (void)ud;
    int n = (int)strlen(text);
    for (int i = 0; i < n && i < cap; i++) ids[i] = 8 + (unsigned char)text[i] % 90;
    return n;
}

static double sgemm_gflops(int m, int n, int k)
{
    float *a = calloc((size_t)m * k, 4), *b = calloc((size_t)k * n, 4), *c = calloc((size_t)m * n, 4);
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
    ocr_sgemm(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
    int reps = 0;
    double t0 = now_s();
    while (now_s() - t0 < 1.0) {
        ocr_sgemm(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        reps++;
    }
    double dt = now_s() - t0;
    free(a); free(b); free(c);
    return 2.0 * m * n * (double)k * reps / dt / 1e9;
}

int main(void)
{
    int threads = getenv("VLOCR_THREADS") ? atoi(getenv("VLOCR_THREADS")) : 2;
    ocr_blas_set_threads(threads);
    trn_config c = trn_config_nano();
    ocr_err e = {0};
    trn_model *m = NULL;
    if (trn_model_create(&m, &c, &e) != OCR_OK) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return 1;
    }
    trn_model_init(m, 1);
    printf("vlocr-nano: %zu parameters, %d threads\n", m->n_floats, threads);
    double peak = sgemm_gflops(2048, 2048, 2048);
    double shape = sgemm_gflops(24 * 256, 576, 192);
    printf("sgemm 2048^3: %.1f GFLOP/s; model shape 6144x576x192: %.1f GFLOP/s\n", peak, shape);
    const int widths[2] = {256, 512}, lens[2] = {32, 60}, B = 24;
    trn_limits lim = {B, 32, 512, 2 + trn_image_rows(&c, 32, 512) + 64};
    trn_state *s = NULL;
    trn_batch b;
    if (trn_state_create(&s, m, &lim, &e) != OCR_OK || trn_batch_alloc(&b, &c, &lim, &e) != OCR_OK) {
        fprintf(stderr, "bench_train: %s\n", e.msg);
        return 1;
    }
    trn_opt_params op = trn_opt_default_params();
    double *load = calloc((size_t)c.layers * c.n_routed, sizeof(double));
    /* The trainer's way first: once OpenBLAS has run threaded, its idle
     * workers spin for a while and slow the OpenMP threads down. */
    for (int mode = 1; mode >= 0; mode--)
    for (int k = 0; k < 2; k++) {
        /* mode 0: threaded OpenBLAS, ops on one thread; 1: the trainer's */
        ocr_blas_set_threads(mode == 0 ? threads : 1);
        omp_set_num_threads(mode == 0 ? 1 : threads);
        trn_sample sm[24];
        trn_sample *ps[24];
        uint64_t r = 7;
        for (int i = 0; i < B; i++) {
            sm[i].w = widths[k];
            sm[i].h = 32;
            sm[i].kind = 0;
            sm[i].gray = malloc((size_t)widths[k] * 32);
            for (int j = 0; j < widths[k] * 32; j++) {
                r ^= r << 13; r ^= r >> 7; r ^= r << 17;
                sm[i].gray[j] = (uint8_t)r;
            }
            sm[i].text = malloc((size_t)lens[k] + 1);
            for (int j = 0; j < lens[k]; j++) sm[i].text[j] = (char)('a' + (i + j) % 26);
            sm[i].text[lens[k]] = 0;
            ps[i] = &sm[i];
        }
        trn_batch_build(&b, &c, &lim, ps, B, enc, NULL, 60, &e);
        trn_step_stats st;
        trn_step(m, s, &b, &op, 1000, 0.0f, load, &st, &e); /* warm-up */
        int steps = 3;
        double t0 = now_s();
        for (int i = 0; i < steps; i++) trn_step(m, s, &b, &op, 1000 + i, 0.0f, load, &st, &e);
        double dt = (now_s() - t0) / steps;
        double fl = trn_step_flops(&c, B, b.H, b.W, b.T, b.n_targets);
        printf("%s | 32x%d, %d text tokens, batch %d: %.2f s/step, %.1f samples/s, %.1f GFLOP/step, "
               "%.1f GFLOP/s = %.0f%% of the sgemm rate\n",
               mode == 0 ? "OpenBLAS threads" : "OpenMP ops     ", widths[k], lens[k], B, dt, B / dt,
               fl / 1e9, fl / dt / 1e9, 100.0 * fl / dt / 1e9 / peak);
        for (int i = 0; i < B; i++) trn_sample_free(&sm[i]);
    }
    free(load);
    trn_batch_free(&b);
    trn_state_destroy(&s);
    trn_model_destroy(&m);
    return 0;
}

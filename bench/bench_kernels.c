/* bench/bench_kernels.c — matmul throughput and the decode matvec's memory
 * bandwidth, each reported against a baseline measured in the same run:
 *
 *   (a) sgemm 512x1280x1280 GFLOP/s (OpenBLAS through ocr_matmul_f32): the
 *       reference rate of this machine;
 *   (b) ocr_matmul_bf16 time / ocr_matmul_f32 time on the same shapes, for a
 *       prefill-like n=64 and a decode n=1 (1280x1280 weights);
 *   (c) memcpy bandwidth over 512 MiB (best of 5) and the bf16 matvec's weight
 *       bytes per second over a 128 MiB weight as a fraction of it.
 *
 * Every row is measured at 1 and at 2 threads. Runs in ~10 s.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ocr.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xalloc(size_t n)
{
    void *p = ocr_aligned_alloc(n);
    if (!p) {
        fprintf(stderr, "bench_kernels: cannot allocate %zu bytes\n", n);
        exit(1);
    }
    memset(p, 0, n); /* fault the pages in before timing */
    return p;
}

static void fill(float *x, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

typedef struct {
    float *y;
    const float *x;
    const float *w;
    const uint16_t *wh;
    int n, in, out;
} mm_args;

static void run_f32(const mm_args *a)
{
    ocr_matmul_f32(a->y, a->x, a->w, NULL, a->n, a->in, a->out);
}

static void run_bf16(const mm_args *a)
{
    ocr_matmul_bf16(a->y, a->x, a->wh, NULL, a->n, a->in, a->out);
}

/* Seconds per call: best over `reps` timings of `iters` calls each. */
static double time_mm(void (*fn)(const mm_args *), const mm_args *a, int reps,
                      int iters)
{
    fn(a); /* warm caches and BLAS threads */
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < iters; i++) fn(a);
        double t = (now() - t0) / iters;
        if (t < best) best = t;
    }
    return best;
}

/* ------------------------------------------------------------ memcpy */

typedef struct {
    char *dst;
    const char *src;
    size_t n;
} cp_job;

static void *cp_thread(void *arg)
{
    cp_job *j = arg;
    memcpy(j->dst, j->src, j->n);
    return NULL;
}

/* Copy bandwidth counted as bytes read + bytes written (the STREAM "copy"
 * convention), with `nt` threads each copying a contiguous share. */
static double copy_bw(char *dst, const char *src, size_t n, int nt)
{
    double best = INFINITY;
    for (int r = 0; r < 5; r++) {
        cp_job jobs[2];
        pthread_t tid[2];
        size_t share = n / (size_t)nt;
        double t0 = now();
        for (int t = 0; t < nt; t++) {
            jobs[t] = (cp_job){dst + t * share, src + t * share,
                               t == nt - 1 ? n - t * share : share};
            if (t) pthread_create(&tid[t], NULL, cp_thread, &jobs[t]);
        }
        cp_thread(&jobs[0]);
        for (int t = 1; t < nt; t++) pthread_join(tid[t], NULL);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    return 2.0 * (double)n / best;
}

int main(void)
{
    const int nthreads[2] = {1, 2};
    double gflops[2], r64[2], r1[2], cbw[2], mvbw[2], mvbw32[2];

    /* (a), (b): 1280x1280 weights */
    const int D = 1280, N = 512;
    float *x = xalloc((size_t)N * D * sizeof(float));
    float *w = xalloc((size_t)D * D * sizeof(float));
    float *y = xalloc((size_t)N * D * sizeof(float));
    uint16_t *wh = xalloc((size_t)D * D * sizeof(uint16_t));
    fill(x, (size_t)N * D, 1);
    fill(w, (size_t)D * D, 2);
    for (size_t i = 0; i < (size_t)D * D; i++) wh[i] = ocr_f32_to_bf16(w[i]);

    for (int k = 0; k < 2; k++) {
        ocr_blas_set_threads(nthreads[k]);
        mm_args a = {y, x, w, wh, N, D, D};
        double t = time_mm(run_f32, &a, 5, 3);
        gflops[k] = 2.0 * N * D * D / t * 1e-9;

        a.n = 64;
        r64[k] = time_mm(run_bf16, &a, 5, 10) / time_mm(run_f32, &a, 5, 10);
        a.n = 1;
        r1[k] = time_mm(run_bf16, &a, 5, 200) / time_mm(run_f32, &a, 5, 200);
    }
    free(x);
    free(w);
    free(y);
    free(wh);

    /* (c) memcpy of 512 MiB */
    const size_t CP = (size_t)512 << 20;
    char *src = xalloc(CP), *dst = xalloc(CP);
    memset(src, 1, CP);
    for (int k = 0; k < 2; k++) cbw[k] = copy_bw(dst, src, CP, nthreads[k]);
    free(src);
    free(dst);

    /* bf16 matvec over 128 MiB of weights, four times the L3 of typical
     * desktop and server parts, so every call streams from DRAM. */
    const int MO = 8192, MI = 8192;
    uint16_t *mw = xalloc((size_t)MO * MI * sizeof(uint16_t));
    float *mx = xalloc((size_t)MI * sizeof(float)), *my = xalloc((size_t)MO * sizeof(float));
    fill(mx, (size_t)MI, 3);
    {
        /* Ordinary values: subnormal products would time microcode assists,
         * not memory. */
        uint32_t seed = 5;
        for (size_t i = 0; i < (size_t)MO * MI; i++) {
            seed = seed * 1664525u + 1013904223u;
            mw[i] = ocr_f32_to_bf16((float)(seed >> 8) * (2.0f / 16777216.0f) - 1.0f);
        }
    }
    for (int k = 0; k < 2; k++) {
        ocr_blas_set_threads(nthreads[k]);
        mm_args a = {my, mx, NULL, mw, 1, MI, MO};
        mvbw[k] = (double)MO * MI * sizeof(uint16_t) / time_mm(run_bf16, &a, 5, 2);
    }
    free(mw);
    /* the same shape in f32 through OpenBLAS sgemv, for comparison */
    float *mw32 = xalloc((size_t)MO * MI * sizeof(float));
    fill(mw32, (size_t)MO * MI, 4);
    for (int k = 0; k < 2; k++) {
        ocr_blas_set_threads(nthreads[k]);
        mm_args a = {my, mx, mw32, NULL, 1, MI, MO};
        mvbw32[k] = (double)MO * MI * sizeof(float) / time_mm(run_f32, &a, 5, 2);
    }
    free(mw32);
    free(mx);
    free(my);

    printf("| measure | 1 thread | 2 threads |\n|---|---|---|\n");
    printf("| (a) sgemm 512x1280x1280, GFLOP/s | %.1f | %.1f |\n", gflops[0], gflops[1]);
    printf("| (b) bf16 / f32 time, n=64, 1280x1280 | %.2f | %.2f |\n", r64[0], r64[1]);
    printf("| (b) bf16 / f32 time, n=1, 1280x1280 | %.2f | %.2f |\n", r1[0], r1[1]);
    printf("| (c) memcpy 512 MiB, GB/s (read+write) | %.1f | %.1f |\n", cbw[0] * 1e-9,
           cbw[1] * 1e-9);
    printf("| (c) bf16 matvec 8192x8192, weight GB/s | %.1f | %.1f |\n", mvbw[0] * 1e-9,
           mvbw[1] * 1e-9);
    printf("| (c) bf16 matvec / memcpy | %.2f | %.2f |\n", mvbw[0] / cbw[0],
           mvbw[1] / cbw[1]);
    printf("| (c) f32 sgemv 8192x8192, weight GB/s | %.1f | %.1f |\n", mvbw32[0] * 1e-9,
           mvbw32[1] * 1e-9);
    printf("| (c) f32 sgemv / memcpy | %.2f | %.2f |\n", mvbw32[0] / cbw[0],
           mvbw32[1] / cbw[1]);
    return 0;
}

/* bench/bench_vision.c — the full-size DeepEncoder (SAM-B 768x12, CLIP-L
 * 1024x24, projector 2048->1280) with random F32 weights built in memory:
 *
 *   (a) sgemm 2048³ through ocr_sgemm: the reference rate of this machine,
 *       sampled before, between and after the encoder runs (best sample);
 *   (b) one 1024x1024 view (the base mode, and gundam's global view): best
 *       of 2 runs, GEMM FLOPs ÷ seconds as a fraction of (a), and the time
 *       of every stage;
 *   (c) a gundam page: a 1280x1920 image -> 2x3 tiles of 640 + the 1024
 *       global view, through vis_preprocess and vis_encode.
 *
 * FLOPs count every GEMM the encoder runs (vis_view_flops: 2·m·n·k, padded
 * windows included). Each rate is given per wall-second and per CPU-second
 * of the process: when other jobs share the cores, the wall figures of the
 * baseline and the encoder are taken at different moments and wander, while
 * FLOPs per CPU-second compare work with work (it counts BLAS threads
 * spinning between calls against the encoder, so it errs low). Threads:
 * VLOCR_THREADS or every CPU. About 1-2 minutes on two idle cores.
 *
 *   make build/bench/bench_vision && build/bench/bench_vision [--quick]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ocr.h"
#include "vision/vis.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const ocr_err *e)
{
    fprintf(stderr, "bench_vision: %s: %s\n", what, e ? e->msg : "out of memory");
    exit(1);
}

static float *xalloc(size_t n)
{
    float *p = ocr_aligned_alloc(n * sizeof(float));
    if (!p) die("alloc", NULL);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u) >> 8 & 0xffff) / 65536.0f - 0.5f;
    return p;
}

/* Stage timings through the state's tap: seconds since the previous tap. */
typedef struct {
    double last;
    char names[64][32];
    double secs[64];
    int n;
    bool on;
} stage_clock;

static void on_tap(void *ud, const vis_tap_event *ev)
{
    stage_clock *c = ud;
    double t = now();
    if (c->on && c->n < 64) {
        snprintf(c->names[c->n], sizeof c->names[0], "%s", ev->stage);
        c->secs[c->n++] = t - c->last;
    }
    c->last = t;
}

/* Process CPU seconds, all threads. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double wall, cpu; /* best GFLOP per wall-second / per CPU-second */
} rate;

static void rate_keep(rate *r, double flop, double wall, double cpu)
{
    if (flop / wall * 1e-9 > r->wall) r->wall = flop / wall * 1e-9;
    if (flop / cpu * 1e-9 > r->cpu) r->cpu = flop / cpu * 1e-9;
}

/* Samples of sgemm m x n x k kept in r (best of `reps`). */
static void sgemm_sample(rate *r, int m, int n, int k, int reps)
{
    float *a = xalloc((size_t)m * k), *b = xalloc((size_t)n * k), *c = xalloc((size_t)m * n);
    ocr_sgemm(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n); /* warm */
    for (int i = 0; i < reps; i++) {
        double t0 = now(), c0 = cpu_now();
        ocr_sgemm(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        rate_keep(r, 2.0 * m * n * k, now() - t0, cpu_now() - c0);
    }
    free(a);
    free(b);
    free(c);
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    int threads = ocr_threads_default();
    ocr_blas_set_threads(threads);
    ocr_config cfg;
    ocr_config_default_params(&cfg); /* the official encoder's sizes */
    cfg.vis.present = true;
    ocr_err e = {0};
    vis_model *m = NULL;
    double t0 = now(), c0;
    if (vis_model_create_random(&m, &cfg.vis, 1, &e) != OCR_OK) die("model", &e);
    printf("bench_vision: %d threads, random F32 encoder (SAM-B 768x12, CLIP-L 1024x24, "
           "projector 2048->1280) built in %.1f s\n",
           threads, now() - t0);

    rate peak = {0, 0}, qkv = {0, 0};
    sgemm_sample(&peak, 2048, 2048, 2048, 3);
    sgemm_sample(&qkv, 4900, 2304, 768, 2);

    vis_state *s = NULL;
    if (vis_state_create(&s, m, 1024, &e) != OCR_OK) die("state", &e);
    size_t plane = (size_t)1024 * 1024;
    float *pix = xalloc(3 * plane), *tok = xalloc((size_t)256 * m->n_embed);
    double f1024 = vis_view_flops(m, 1024), best_wall = INFINITY, best_cpu = INFINITY;
    rate view = {0, 0};
    stage_clock clk = {0};
    vis_state_set_tap(s, on_tap, &clk);
    int runs = quick ? 1 : 2;
    for (int r = 0; r < runs; r++) {
        clk.n = 0;
        clk.on = r == runs - 1;
        t0 = clk.last = now();
        c0 = cpu_now();
        if (vis_encode_view(s, pix, 1024, tok, false, 0, &e) != OCR_OK) die("encode", &e);
        double tw = now() - t0, tc = cpu_now() - c0;
        if (tw < best_wall) best_wall = tw;
        if (tc < best_cpu) best_cpu = tc;
        rate_keep(&view, f1024, tw, tc);
        sgemm_sample(&peak, 2048, 2048, 2048, 2);
    }
    vis_state_set_tap(s, NULL, NULL);

    rate page = {0, 0};
    double tp = 0, tg = 0, cg = 0, fg = 0;
    int rows = 0;
    vis_views v = {0};
    if (!quick) {
        /* A 1280x1920 page: aspect 2/3 -> 2x3 tiles of 640, + 1024 global. */
        int w = 1280, h = 1920;
        uint8_t *rgb = malloc((size_t)3 * w * h);
        if (!rgb) die("alloc", NULL);
        for (size_t i = 0; i < (size_t)3 * w * h; i++) rgb[i] = (uint8_t)(i * 31 + (i >> 11));
        vis_prep_params p = vis_prep_default_params();
        t0 = now();
        if (vis_preprocess(&v, rgb, w, h, &p, &e) != OCR_OK) die("preprocess", &e);
        tp = now() - t0;
        rows = vis_encode_rows(m, &v);
        float *out = xalloc((size_t)rows * m->n_embed);
        fg = v.n_tiles * vis_view_flops(m, v.tile_size) + vis_view_flops(m, v.view_size);
        t0 = now();
        c0 = cpu_now();
        if (vis_encode(s, &v, out, rows, &e) != OCR_OK) die("encode page", &e);
        tg = now() - t0;
        cg = cpu_now() - c0;
        rate_keep(&page, fg, tg, cg);
        sgemm_sample(&peak, 2048, 2048, 2048, 2);
        free(out);
        free(rgb);
    }

    printf("(a) sgemm 2048^3: %.1f GFLOP/s wall, %.1f per CPU-second   (SAM qkv shape "
           "4900x2304x768: %.1f wall, %.1f per CPU-s)\n",
           peak.wall, peak.cpu, qkv.wall, qkv.cpu);
    printf("(b) 1024x1024 view, %.0f GFLOP: %.2f s wall (%.2f CPU-s): %.1f GFLOP/s = %.0f%% of sgemm "
           "wall; %.1f per CPU-s = %.0f%% of sgemm per CPU-s\n",
           f1024 * 1e-9, best_wall, best_cpu, view.wall, 100 * view.wall / peak.wall, view.cpu,
           100 * view.cpu / peak.cpu);
    printf("    stages of the last run (wall s):");
    for (int i = 0; i < clk.n; i++)
        printf("%s %s %.2f", i % 4 ? "," : "\n     ", clk.names[i], clk.secs[i]);
    printf("\n");
    if (!quick)
        printf("(c) gundam page 1280x1920 -> %dx%d tiles of %d + %d global, %d image rows, %.0f "
               "GFLOP: preprocess %.2f s; encoder %.2f s wall (%.2f CPU-s): %.1f GFLOP/s = %.0f%% "
               "of sgemm wall; %.1f per CPU-s = %.0f%% of sgemm per CPU-s\n",
               v.tiles_w, v.tiles_h, v.tile_size, v.view_size, rows, fg * 1e-9, tp, tg, cg,
               page.wall, 100 * page.wall / peak.wall, page.cpu, 100 * page.cpu / peak.cpu);
    vis_views_free(&v);
    free(pix);
    free(tok);
    vis_state_destroy(&s);
    vis_model_destroy(&m);
    return 0;
}

/* bench/bench_synth.c — synthetic-data generator throughput per kind.
 *
 * For each kind: samples per second on one thread (syn_gen), with the
 * queue on 2 threads (syn_queue, what the trainer runs), and on one thread
 * with every degradation switched off (p_clean = 1): the in-process
 * baseline that shows what the degradations cost on top of rendering.
 * Math kinds read the formula bank (train/cache/bank; build it with
 * `vlocr synth --build-bank`) and are skipped without it.
 *
 *   build/bench/bench_synth [seconds-per-measurement]     (default 2)
 *
 * Prints a markdown table. The trainer consumes ~50-200 samples/s on 2
 * cores; the generator has to deliver 10x that on the cores it is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/syn.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    double rate;   /* samples/s, wall clock */
    double per_cpu;/* samples per CPU-second: robust when others share the machine */
    double mean_w; /* output width, px */
    long n;
} result;

typedef ocr_status (*next_fn)(void *src, syn_sample *s, ocr_err *e);

static ocr_status gen_next(void *g, syn_sample *s, ocr_err *e) { return syn_gen_next(g, s, e); }
static ocr_status queue_next(void *q, syn_sample *s, ocr_err *e) { return syn_queue_next(q, s, e); }

/* Draw samples from `src` for `secs` seconds; CPU time from `clock` (the
 * thread's own for one generator, the process's for the threaded queue). */
static bool run_loop(void *src, next_fn next, clockid_t clock, double secs, result *r)
{
    ocr_err e = {0};
    double t0 = now(), c0 = cpu(clock), t;
    long n = 0;
    double w = 0;
    do {
        syn_sample s;
        if (next(src, &s, &e) != OCR_OK) {
            fprintf(stderr, "bench_synth: %s\n", e.msg);
            return false;
        }
        w += s.w;
        n++;
        syn_sample_free(&s);
        t = now() - t0;
    } while (t < secs);
    r->per_cpu = (double)n / (cpu(clock) - c0);
    r->rate = (double)n / t;
    r->mean_w = w / (double)n;
    r->n = n;
    return true;
}

static bool run_gen(const syn_ctx *c, double secs, result *r)
{
    syn_gen *g = NULL;
    ocr_err e = {0};
    if (syn_gen_create(&g, c, 2024, &e) != OCR_OK) {
        fprintf(stderr, "bench_synth: %s\n", e.msg);
        return false;
    }
    bool ok = run_loop(g, gen_next, CLOCK_THREAD_CPUTIME_ID, secs, r);
    syn_gen_destroy(&g);
    return ok;
}

static bool run_queue(const syn_ctx *c, int threads, double secs, result *r)
{
    syn_queue *q = NULL;
    ocr_err e = {0};
    if (syn_queue_create(&q, c, 2024, 0, threads, 8 * threads, &e) != OCR_OK) {
        fprintf(stderr, "bench_synth: %s\n", e.msg);
        return false;
    }
    bool ok = run_loop(q, queue_next, CLOCK_PROCESS_CPUTIME_ID, secs, r);
    syn_queue_destroy(&q);
    return ok;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    if (secs <= 0) secs = 2.0;
    static const syn_kind kinds[] = {SYN_KIND_LINE, SYN_KIND_CELL, SYN_KIND_INLINE,
                                     SYN_KIND_FORMULA, SYN_KIND_MIX};
    printf("| kind | height px | mean width px | 1 thread: samples/s | 1 thread: samples per "
           "CPU-s | 2-thread queue: samples/s | queue: samples per CPU-s | clean render: samples "
           "per CPU-s | CPU cost degraded / clean |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    int failures = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        syn_params p = syn_default_params();
        p.kind = kinds[k];
        syn_ctx *c = NULL;
        ocr_err e = {0};
        if (syn_ctx_create(&c, &p, &e) != OCR_OK) {
            printf("| %s | | | skipped: %s | | | | | |\n", syn_kind_name(kinds[k]), e.msg);
            fflush(stdout);
            continue;
        }
        syn_params pc = p;
        pc.dg.p_clean = 1;
        syn_ctx *cc = NULL;
        result one = {0}, two = {0}, clean = {0};
        bool ok = run_gen(c, secs, &one) && run_queue(c, 2, secs, &two) &&
                  syn_ctx_create(&cc, &pc, &e) == OCR_OK && run_gen(cc, secs, &clean);
        if (!ok) {
            failures++;
            printf("| %s | | | failed | | | | | |\n", syn_kind_name(kinds[k]));
        } else {
            int h = kinds[k] == SYN_KIND_FORMULA  ? p.height_formula
                    : kinds[k] == SYN_KIND_INLINE ? p.height_inline
                    : kinds[k] == SYN_KIND_MIX    ? 0
                                                  : p.height_text;
            char hs[16];
            snprintf(hs, sizeof hs, h ? "%d" : "mixed", h);
            printf("| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f |\n",
                   syn_kind_name(kinds[k]), hs, one.mean_w, one.rate, one.per_cpu, two.rate,
                   two.per_cpu, clean.per_cpu, clean.per_cpu / one.per_cpu);
        }
        fflush(stdout);
        syn_ctx_destroy(&cc);
        syn_ctx_destroy(&c);
    }
    return failures ? 1 : 0;
}

/* cli/cli_read.c — `vlocr [options] FILE...`, the main job.
 *
 * With a DeepSeek-OCR checkpoint (--model DIR: config.json with a
 * vision_config, safetensors, tokenizer.json), every page of every input
 * goes through the model (pipeline/pipe_dsocr.c), its grounded output is
 * parsed into blocks, and the document is written as Markdown, text,
 * JSON or hOCR. A file that fails is reported with its reason and the
 * batch goes on; the exit status says whether all, some or none succeeded.
 * Inputs are expanded by pipeline/pipe_inputs.c (directories, @lists,
 * --include/--exclude, --pages) and run by the batch runner
 * (pipeline/pipe_batch.c: -j workers, resume, --force, progress); see
 * "the batch" below.
 *
 * With vlocr-nano (the default, models/vlocr-nano, or any --model DIR whose
 * config.json has a "vlocr_nano" section) each page goes through layout
 * analysis and line recognition instead (pipeline/pipe_nano.c), through the
 * same batch runner with one recogniser per worker.
 *
 * Without a usable model the inputs are still decoded and checked first,
 * so a file that cannot be read is reported (named, with the reason), and
 * the missing model is then said plainly. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vlocr [options] FILE...\n"
            "  Recognise images and PDF pages ('-' = stdin).\n"
            "\n"
            "  --model DIR          model directory (default: $VLOCR_MODEL or models/vlocr-nano);\n"
            "                       a DeepSeek-OCR checkpoint: config.json, *.safetensors,\n"
            "                       tokenizer.json [+ tokenizer_config.json]\n"
            "  --mode M             tiny|small|base|large|gundam (default gundam)\n"
            "  --prompt P           markdown (default), ocr, free, figure, describe, locate:TEXT,\n"
            "                       or any text (\"<image>\\n\" is put in front when missing)\n"
            "  --region K           read each input as one crop, K = line|cell|formula, with\n"
            "                       vlocr-nano (as vlocr recognize); -f is then txt, latex or\n"
            "                       tsv (file, confidence, text)\n"
            "  -f, --format F       md|txt|json|hocr, or several: md,json,hocr (needs -o)\n"
            "  -o, --output OUT     output file for one input; else a directory that mirrors the\n"
            "                       input tree (default: stdout). Markdown saves image regions as\n"
            "                       OUT_images/<page>-<k>.png. Complete outputs are kept (resume)\n"
            "  --overlay            also draw each page's blocks (boxes by type, reading order)\n"
            "                       as OUT_overlay/<page>.png (needs -o)\n"
            "  -j, --jobs N         pages recognised at once, one model state each (default 1;\n"
            "                       with N > 1 each page runs on one thread)\n"
            "  --include GLOB       in directories, only files matching GLOB (repeatable; default:\n"
            "                       image and PDF extensions); matched against the path under the\n"
            "                       directory, and against the base name when GLOB has no '/'\n"
            "  --exclude GLOB       skip matching files and directories (repeatable)\n"
            "  --pages LIST         pages of multi-page inputs, e.g. 1-5,9 or 3- (1-based)\n"
            "  --force              redo documents whose outputs already exist\n"
            "  --beam N             vlocr-nano: beam width for formulas (default 1 = greedy)\n"
            "  --beam-text N        vlocr-nano: beam width for text lines and cells (default 1)\n"
            "  --inverted-text      vlocr-nano: also read light text on dark grounds (banners,\n"
            "                       dark heading bars), off by default (pipeline/README.md)\n"
            "  -q, --quiet          no progress display and no summary\n"
            "  --max-new-tokens N   generation limit per page (default 8192)\n"
            "  --ngram N            no-repeat n-gram size, 0 = off (default 20, as HF infer())\n"
            "  --ngram-window W     only the last W generated tokens, <td></td> exempt (vLLM)\n"
            "  --vllm-ngram         the vLLM script's guard: --ngram 30 --ngram-window 90\n"
            "  --no-loop-check      do not stop on a repeating output\n"
            "  --base-size N, --image-size N, --crop-threshold N, --min-tiles N, --max-tiles N\n"
            "                       override the mode's preprocessing sizes\n"
            "  --max-pixels N       refuse images over N pixels before decoding (default 200000000)\n"
            "  --dpi D              resolution PDF pages are rendered at (default 200)\n"
            "  -t, --threads N      compute threads\n"
            "  -v, --verbose        per-page timing and token counts on stderr (-vv: token ids)\n"
            "  -h, --help           this help\n"
            "\n"
            "  FILE: an image or PDF, '-' (stdin), a directory (searched recursively, hidden entries\n"
            "  skipped), or @LIST (one path per line, '#' comments; @- reads the list from stdin).\n"
            "  Exit status: 0 all done, 3 some inputs failed, 1 all failed, 130 interrupted.\n");
}

enum {
    OPT_MODE = 256,
    OPT_REGION,
    OPT_PROMPT,
    OPT_MAX_NEW,
    OPT_NGRAM,
    OPT_NGRAM_WINDOW,
    OPT_VLLM_NGRAM,
    OPT_NO_LOOP,
    OPT_BASE,
    OPT_IMAGE,
    OPT_THRESH,
    OPT_MIN_TILES,
    OPT_MAX_TILES,
    OPT_OVERLAY,
    OPT_INCLUDE,
    OPT_EXCLUDE,
    OPT_PAGES,
    OPT_FORCE,
    OPT_INVERT,
    OPT_BEAM,
    OPT_BEAM_TEXT,
};

#define MAX_GLOBS 64

typedef struct {
    const char *model;
    pipe_dsocr_params p;
    char prompt[4096];
    int fmt[PIPE_FMT_COUNT];
    int n_fmt;
    const char *out;
    bool out_dir;
    int verbose;
    bool overlay;
    img_limits lim;
    /* batch */
    int jobs;
    bool force, quiet;
    bool invert;     /* --inverted-text: read light text on dark grounds */
    int beam, beam_text; /* --beam, --beam-text (0: the recogniser's defaults) */
    const char *include[MAX_GLOBS], *exclude[MAX_GLOBS];
    int n_include, n_exclude;
    pipe_pages pages;
} read_opts;

bool cli_parse_int(const char *opt, const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "vlocr: %s: '%s' is not an integer in %d..%d\n", opt, s, lo, hi);
        return false;
    }
    *out = (int)v;
    return true;
}

static bool parse_formats(read_opts *o, const char *s)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    o->n_fmt = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int f = pipe_format_parse(t);
        if (f < 0) {
            fprintf(stderr, "vlocr: -f: unknown format '%s' (md, txt, json, hocr)\n", t);
            return false;
        }
        bool dup = false;
        for (int i = 0; i < o->n_fmt; i++) dup = dup || o->fmt[i] == f;
        if (!dup) o->fmt[o->n_fmt++] = f;
    }
    if (!o->n_fmt) {
        fprintf(stderr, "vlocr: -f: no format given\n");
        return false;
    }
    return true;
}

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool mkdir_p(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) return false;
            *s = '/';
        }
    return (mkdir(p, 0777) == 0 || errno == EEXIST) && is_dir(p);
}

static void report_page(const read_opts *o, const char *name, const pipe_page *pg)
{
    const pipe_run_stats *st = &pg->stats;
    if (!st->stop) { /* a vlocr-nano page: layout + line recognition */
        if (o->verbose >= 1)
            fprintf(stderr, "vlocr: %s: %dx%d, %d blocks\n", name, pg->width, pg->height, pg->n_blocks);
        return;
    }
    if (!strcmp(st->stop, "loop"))
        fprintf(stderr,
                "vlocr: warning: %s: the output repeats (period %d tokens, %d times from token "
                "%d); generation stopped and the text was cut after the first period\n",
                name, st->loop_period, st->loop_repeats, st->loop_start);
    else if (!strcmp(st->stop, "length"))
        fprintf(stderr,
                "vlocr: warning: %s: stopped at the token limit (--max-new-tokens %d); the page "
                "may be incomplete\n",
                name, o->p.max_new_tokens);
    else if (!strcmp(st->stop, "context"))
        fprintf(stderr, "vlocr: warning: %s: the context is full; the page may be incomplete\n",
                name);
    if (o->verbose >= 1) {
        char tiles[32] = "no tiles";
        if (st->n_tiles > 0) snprintf(tiles, sizeof tiles, "tiles %dx%d", st->tiles_w, st->tiles_h);
        double tps = st->t_decode > 0 && st->n_generated > 1 ? (st->n_generated - 1) / st->t_decode : 0;
        fprintf(stderr,
                "vlocr: %s: %dx%d, %s, prompt %d tokens (%d image), %d generated (%s); "
                "preprocess %.3f s, encode %.3f s, prefill %.3f s, decode %.3f s (%.1f tokens/s); "
                "%d blocks%s\n",
                name, pg->width, pg->height, tiles, st->n_prompt, st->n_image, st->n_generated,
                st->stop, st->t_prep, st->t_encode, st->t_prefill, st->t_decode, tps, pg->n_blocks,
                pg->grounded ? "" : " (no grounding)");
    }
    if (o->verbose >= 2) {
        fprintf(stderr, "vlocr: %s: generated ids:", name);
        for (int i = 0; i < pg->n_ids; i++) fprintf(stderr, " %d", (int)pg->ids[i]);
        fprintf(stderr, "\n");
    }
}

/* ------------------------------------------------------------ the batch
 *
 * Every DeepSeek-OCR run, one file or ten thousand, goes through the batch
 * runner (pipeline/pipe_batch.c): -j N workers share the loaded model and
 * own one state each, pages are recognised in parallel, each document is
 * written when all its pages are done, complete documents are skipped on a
 * rerun (--force redoes them), and every file is written atomically.
 * Ctrl-C: no new page starts, the pages in progress finish and the
 * documents they complete are written; a second Ctrl-C stops at once.
 * Either way nothing half-written is left under a final name, and running
 * the same command again finishes the job. */

static atomic_int g_cancel;

static void on_sigint(int sig)
{
    static const char msg[] = "\nvlocr: interrupted: finishing the pages in progress "
                              "(Ctrl-C again stops at once; rerun to finish)\n";
    atomic_store(&g_cancel, 1);
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    signal(sig, SIG_DFL);
}

#define PROGRESS_LINE_S 10.0 /* plain progress lines when stderr is not a TTY */

typedef struct {
    const read_opts *o;
    const pipe_dsocr *m;
    bool show;       /* progress and summary (a batch, not -q) */
    bool tty;        /* stderr is a terminal: a bar redrawn in place */
    bool bar;        /* the bar is on screen */
    double last_line;
    bool stdout_failed;
} cli_batch;

static void clear_bar(cli_batch *c)
{
    if (c->bar) fputs("\r\033[K", stderr);
    c->bar = false;
}

static void fmt_eta(char *b, size_t cap, double s)
{
    if (s < 0) snprintf(b, cap, "?");
    else if (s >= 3600) snprintf(b, cap, "%d:%02d:%02d", (int)(s / 3600), (int)(s / 60) % 60, (int)s % 60);
    else snprintf(b, cap, "%d:%02d", (int)(s / 60), (int)s % 60);
}

static void show_progress(cli_batch *c, const pipe_batch_progress *pr)
{
    char eta[32];
    fmt_eta(eta, sizeof eta, pr->eta_s);
    const char *approx = pr->total_exact ? "" : "~";
    if (c->tty) {
        int width = 24, fill = 0;
        if (pr->pages_total > 0) fill = (int)(width * (double)pr->pages_done / (double)pr->pages_total);
        if (fill > width) fill = width;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[K[%s] %ld/%s%ld pages  %.2f pages/s  ETA %s  (%d done, %d skipped, %d failed)",
                bar, pr->pages_done, approx, pr->pages_total, pr->pages_per_s, eta, pr->docs_done,
                pr->docs_skipped, pr->docs_failed);
        c->bar = true;
    } else if (pr->elapsed_s - c->last_line >= PROGRESS_LINE_S) {
        c->last_line = pr->elapsed_s;
        fprintf(stderr, "vlocr: %ld/%s%ld pages, %.2f pages/s, ETA %s (%d done, %d skipped, %d failed of %d)\n",
                pr->pages_done, approx, pr->pages_total, pr->pages_per_s, eta, pr->docs_done,
                pr->docs_skipped, pr->docs_failed, pr->docs);
    }
    fflush(stderr);
}

static void on_event(void *ctx, const pipe_batch_event *ev)
{
    cli_batch *c = ctx;
    const pipe_input *x = ev->in;
    switch (ev->kind) {
    case PIPE_EV_PROGRESS:
        if (c->show) show_progress(c, &ev->progress);
        break;
    case PIPE_EV_PAGE:
        clear_bar(c);
        report_page(c->o, ev->page->name, ev->pg);
        break;
    case PIPE_EV_DOC_FAILED:
        clear_bar(c);
        if (x && ev->msg && !strstr(ev->msg, x->path))
            fprintf(stderr, "vlocr: %s: %s\n", !strcmp(x->path, "-") ? "<stdin>" : x->path, ev->msg);
        else
            fprintf(stderr, "vlocr: %s\n", ev->msg ? ev->msg : "failed");
        break;
    case PIPE_EV_DOC_DONE:
        if (c->o->verbose && x)
            for (int i = 0; i < c->o->n_fmt; i++)
                if (x->out[c->o->fmt[i]]) {
                    clear_bar(c);
                    fprintf(stderr, "vlocr: %s -> %s\n", x->path, x->out[c->o->fmt[i]]);
                }
        break;
    case PIPE_EV_DOC_SKIPPED:
        if (c->o->verbose && x) {
            clear_bar(c);
            fprintf(stderr, "vlocr: %s: outputs complete, skipped (--force redoes it)\n", x->path);
        }
        break;
    case PIPE_EV_OUTPUT:
        if (!c->stdout_failed && (fwrite(ev->data, 1, ev->len, stdout) != ev->len || fflush(stdout) != 0)) {
            clear_bar(c);
            fprintf(stderr, "vlocr: <stdout>: write failed: %s\n", strerror(errno));
            c->stdout_failed = true;
        }
        break;
    case PIPE_EV_NOTE:
        clear_bar(c);
        fprintf(stderr, "vlocr: %s\n", ev->msg);
        break;
    }
}

static ocr_status ds_process(void *ctx, void *state, const pipe_batch_page *job, PIX *pix,
                             pipe_page *pg, ocr_err *e)
{
    return pipe_dsocr_page(state, pix, pg, e);
}

static ocr_status ds_state_create(void *ctx, int worker, void **state, ocr_err *e)
{
    cli_batch *c = ctx;
    pipe_dsocr_state *s = NULL;
    ocr_status rc = pipe_dsocr_state_create(&s, c->m, &c->o->p, e);
    *state = s;
    return rc;
}

static void ds_state_destroy(void *ctx, void *state)
{
    pipe_dsocr_state *s = state;
    pipe_dsocr_state_destroy(&s);
}

/* vlocr-nano (pipeline/pipe_nano.c): one recogniser per worker, since it
 * takes one call at a time; a page's crops run on one thread when several
 * workers share the machine. */
static ocr_status nano_process(void *ctx, void *state, const pipe_batch_page *job, PIX *pix,
                               pipe_page *pg, ocr_err *e)
{
    return pipe_nano_page(state, pix, pg, e);
}

static ocr_status nano_state_create(void *ctx, int worker, void **state, ocr_err *e)
{
    cli_batch *c = ctx;
    pipe_nano_params p = pipe_nano_default_params();
    p.threads = c->o->jobs > 1 ? 1 : 0;
    p.lay.invert = c->o->invert;
    p.beam_formula = c->o->beam;
    p.beam_text = c->o->beam_text;
    pipe_nano *n = NULL;
    ocr_status rc = pipe_nano_create(&n, c->o->model, &p, e);
    *state = n;
    return rc;
}

static void nano_state_destroy(void *ctx, void *state)
{
    pipe_nano *n = state;
    pipe_nano_destroy(&n);
}

/* Run the planned inputs through the model (m NULL: vlocr-nano); the exit
 * status. */
static int run_batch(const read_opts *o, const pipe_dsocr *m, const pipe_inputs *in)
{
    cli_batch c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.m = m;
    c.show = !o->quiet && (in->n > 1 || in->from_dirs);
    c.tty = isatty(STDERR_FILENO) == 1;
    pipe_batch_params bp = pipe_batch_default_params();
    bp.n_workers = o->jobs;
    bp.force = o->force;
    bp.pages = &o->pages;
    for (int i = 0; i < o->n_fmt; i++) bp.fmt[i] = o->fmt[i];
    bp.n_fmt = o->n_fmt;
    bp.overlay = o->overlay;
    bp.lim = o->lim;
    bp.ctx = &c;
    bp.process = m ? ds_process : nano_process;
    bp.state_create = m ? ds_state_create : nano_state_create;
    bp.state_destroy = m ? ds_state_destroy : nano_state_destroy;
    bp.on_event = on_event;
    bp.progress_interval_s = c.tty ? 0.25 : 1.0;
    atomic_store(&g_cancel, 0);
    bp.cancel = &g_cancel;

    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    pipe_batch_result r;
    ocr_err e = {0};
    ocr_status st = pipe_batch_run(in, &bp, &r, &e);
    sigaction(SIGINT, &old, NULL);
    clear_bar(&c);
    if (st != OCR_OK) {
        cli_report(NULL, &e);
        pipe_batch_result_free(&r);
        return CLI_EXIT_FAIL;
    }
    if (c.show) {
        fprintf(stderr, "vlocr: %d done, %d skipped (already complete), %d failed", r.done, r.skipped,
                r.failed);
        if (r.cancelled) fprintf(stderr, ", %d left by the interruption", r.cancelled);
        fprintf(stderr, "; %ld page%s in %.1f s (%.2f pages/s)", r.pages, r.pages == 1 ? "" : "s",
                r.seconds, r.pages_per_s);
        if (r.pages_resumed) fprintf(stderr, "; %ld pages kept from an interrupted run", r.pages_resumed);
        fprintf(stderr, "\n");
        if (r.failed > 1) {
            int shown = 0;
            fprintf(stderr, "vlocr: failed:\n");
            for (int i = 0; i < r.docs && shown < 50; i++)
                if (r.reasons[i]) {
                    fprintf(stderr, "  %s\n", r.reasons[i]);
                    shown++;
                }
            if (r.failed > shown) fprintf(stderr, "  ... and %d more\n", r.failed - shown);
        }
    }
    int rc;
    if (r.was_cancelled) {
        fprintf(stderr, "vlocr: interrupted: %d document%s unfinished; run the same command again to "
                        "finish (complete outputs are kept)\n",
                r.cancelled, r.cancelled == 1 ? "" : "s");
        rc = 130; /* 128 + SIGINT, as a shell reports it */
    } else if (c.stdout_failed || (r.failed > 0 && r.done + r.skipped == 0)) {
        rc = CLI_EXIT_FAIL;
    } else {
        rc = r.failed ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
    }
    pipe_batch_result_free(&r);
    return rc;
}

/* No usable model: decode every input anyway, naming the bad ones. */
static int check_inputs_only(const read_opts *o, const pipe_inputs *in)
{
    int bad = 0;
    for (int i = 0; i < in->n; i++) {
        if (in->v[i].error) {
            fprintf(stderr, "vlocr: %s\n", in->v[i].error);
            bad++;
        } else if (cli_check_input(in->v[i].path, &o->lim, false) != 0) {
            bad++;
        }
    }
    return bad;
}

/* The DeepSeek-OCR path after the command line: the model, then the batch. */
static int read_with_model(read_opts *o, const char *mode, pipe_inputs *in)
{
    ocr_err e = {0};
    int n = in->n;
    char cfg_path[4200];
    struct stat sb;
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", o->model);
    if (stat(cfg_path, &sb) != 0) {
        int bad = check_inputs_only(o, in);
        fprintf(stderr,
                "vlocr: no recognition model: %s not found (the default vlocr-nano "
                "model is models/vlocr-nano; --model DIR selects a checkpoint). %d of %d input(s) decoded fine.\n",
                cfg_path, n - bad, n);
        return CLI_EXIT_FAIL;
    }
    ocr_config cfg;
    if (ocr_config_load(&cfg, cfg_path, &e) != OCR_OK) {
        cli_report(cfg_path, &e);
        return CLI_EXIT_FAIL;
    }
    /* vlocr-nano (a "vlocr_nano" section): layout + line recognition. */
    bool nano = pipe_nano_is_model_dir(o->model);
    if (nano) {
        char w_path[4200];
        snprintf(w_path, sizeof w_path, "%s/model.safetensors", o->model);
        if (stat(w_path, &sb) != 0) {
            int bad = check_inputs_only(o, in);
            fprintf(stderr,
                    "vlocr: no recognition model: %s not found (the vlocr-nano weights; --model "
                    "DIR selects a checkpoint). %d of %d input(s) decoded fine.\n",
                    w_path, n - bad, n);
            return CLI_EXIT_FAIL;
        }
    }
    if (!nano && !cfg.vis.present) {
        int bad = check_inputs_only(o, in);
        if (!strcmp(cfg.model_type, "vlocr_nano"))
            fprintf(stderr,
                    "vlocr: %s: model_type is vlocr_nano but config.json has no \"vlocr_nano\" "
                    "section describing the encoder (a broken export?). %d of %d input(s) decoded "
                    "fine.\n",
                    cfg_path, n - bad, n);
        else
            fprintf(stderr,
                    "vlocr: %s: no vision_config: not a DeepSeek-OCR checkpoint (model_type "
                    "'%s'). %d of %d input(s) decoded fine.\n",
                    cfg_path, cfg.model_type, n - bad, n);
        return CLI_EXIT_FAIL;
    }
    pipe_dsocr *m = NULL;
    if (!nano && pipe_dsocr_load(&m, o->model, &e) != OCR_OK) {
        cli_report(o->model, &e);
        return CLI_EXIT_FAIL;
    }
    if (o->out_dir && !mkdir_p(o->out)) {
        fprintf(stderr, "vlocr: %s: cannot create the output directory: %s\n", o->out,
                strerror(errno));
        pipe_dsocr_destroy(&m);
        return CLI_EXIT_FAIL;
    }
    int before = in->n_notes;
    if (pipe_inputs_plan(in, o->out && o->out_dir ? o->out : NULL, o->out && !o->out_dir ? o->out : NULL,
                         o->fmt, o->n_fmt, &e) != OCR_OK) {
        cli_report("-o", &e);
        pipe_dsocr_destroy(&m);
        return CLI_EXIT_FAIL;
    }
    for (int i = before; i < in->n_notes; i++) fprintf(stderr, "vlocr: %s\n", in->notes[i]);
    if (o->verbose && nano) {
        fprintf(stderr, "vlocr: %s: vlocr-nano, layout analysis + line recognition%s\n", o->model,
                o->jobs > 1 ? "; one recogniser per worker" : "");
    } else if (o->verbose) {
        char d[1024];
        pipe_dsocr_describe(m, d, sizeof d);
        fprintf(stderr, "vlocr: %s\n", d);
        fprintf(stderr, "vlocr: mode %s: base %d, image %d, %s (threshold %d, tiles %d..%d); "
                        "max %d new tokens, n-gram %d%s\n",
                mode, o->p.prep.base_size, o->p.prep.image_size,
                o->p.prep.crop_mode ? "tiles" : "no tiles", o->p.prep.crop_threshold,
                o->p.prep.min_tiles, o->p.prep.max_tiles, o->p.max_new_tokens, o->p.ngram_size,
                o->p.ngram_window ? " (windowed)" : "");
        if (o->jobs > 1) fprintf(stderr, "vlocr: %d workers, one model state each\n", o->jobs);
    }
    int rc = run_batch(o, m, in);
    pipe_dsocr_destroy(&m);
    return rc;
}

int cli_read_main(int argc, char **argv)
{
    read_opts o;
    memset(&o, 0, sizeof o);
    o.lim = img_default_limits();
    o.p = pipe_dsocr_default_params();
    o.fmt[0] = PIPE_FMT_MD;
    o.n_fmt = 1;
    o.jobs = 1;
    o.model = getenv("VLOCR_MODEL");
    if (!o.model || !*o.model) o.model = "models/vlocr-nano";
    const char *mode = "gundam", *prompt = "markdown";
    const char *region = NULL, *fmt_arg = NULL;
    int ov[5] = {-1, -1, -1, -1, -1}; /* base, image, threshold, min, max */
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"mode", required_argument, NULL, OPT_MODE},
        {"region", required_argument, NULL, OPT_REGION},
        {"prompt", required_argument, NULL, OPT_PROMPT},
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"max-new-tokens", required_argument, NULL, OPT_MAX_NEW},
        {"ngram", required_argument, NULL, OPT_NGRAM},
        {"ngram-window", required_argument, NULL, OPT_NGRAM_WINDOW},
        {"vllm-ngram", no_argument, NULL, OPT_VLLM_NGRAM},
        {"overlay", no_argument, NULL, OPT_OVERLAY},
        {"no-loop-check", no_argument, NULL, OPT_NO_LOOP},
        {"base-size", required_argument, NULL, OPT_BASE},
        {"image-size", required_argument, NULL, OPT_IMAGE},
        {"crop-threshold", required_argument, NULL, OPT_THRESH},
        {"min-tiles", required_argument, NULL, OPT_MIN_TILES},
        {"max-tiles", required_argument, NULL, OPT_MAX_TILES},
        {"max-pixels", required_argument, NULL, 'p'},
        {"dpi", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},
        {"jobs", required_argument, NULL, 'j'},
        {"include", required_argument, NULL, OPT_INCLUDE},
        {"exclude", required_argument, NULL, OPT_EXCLUDE},
        {"pages", required_argument, NULL, OPT_PAGES},
        {"force", no_argument, NULL, OPT_FORCE},
        {"inverted-text", no_argument, NULL, OPT_INVERT},
        {"beam", required_argument, NULL, OPT_BEAM},
        {"beam-text", required_argument, NULL, OPT_BEAM_TEXT},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:f:o:t:j:qvh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case OPT_MODE: mode = optarg; break;
        case OPT_PROMPT: prompt = optarg; break;
        case OPT_REGION: region = optarg; break;
        case 'f': fmt_arg = optarg; break; /* parsed below: its meaning depends on --region */
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "vlocr: -o: empty path\n");
                return CLI_EXIT_USAGE;
            }
            o.out = optarg;
            break;
        case OPT_MAX_NEW:
            if (!cli_parse_int("--max-new-tokens", optarg, 1, 1 << 20, &o.p.max_new_tokens))
                return CLI_EXIT_USAGE;
            break;
        case OPT_NGRAM:
            if (!cli_parse_int("--ngram", optarg, 0, 1 << 16, &o.p.ngram_size)) return CLI_EXIT_USAGE;
            break;
        case OPT_NGRAM_WINDOW:
            if (!cli_parse_int("--ngram-window", optarg, 0, 1 << 20, &o.p.ngram_window))
                return CLI_EXIT_USAGE;
            break;
        case OPT_VLLM_NGRAM:
            o.p.ngram_size = 30;
            o.p.ngram_window = 90;
            break;
        case OPT_NO_LOOP: o.p.loop_max_period = 0; break;
        case OPT_OVERLAY: o.overlay = true; break;
        case OPT_BASE:
        case OPT_IMAGE:
        case OPT_THRESH:
        case OPT_MIN_TILES:
        case OPT_MAX_TILES: {
            static const char *nm[] = {"--base-size", "--image-size", "--crop-threshold",
                                       "--min-tiles", "--max-tiles"};
            int k = c - OPT_BASE;
            if (!cli_parse_int(nm[k], optarg, k >= 3 ? 1 : 16, k >= 3 ? 64 : 8192, &ov[k]))
                return CLI_EXIT_USAGE;
            break;
        }
        case 'd': {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v >= 10 && v <= 2400)) {
                fprintf(stderr, "%s: --dpi: '%s' is not a resolution in 10..2400\n", "vlocr", optarg);
                return CLI_EXIT_USAGE;
            }
            o.lim.pdf_dpi = v;
            break;
        }
        case 'p':
            if (!cli_parse_pixels(optarg, &o.lim.max_pixels)) {
                fprintf(stderr, "vlocr: --max-pixels: '%s' is not a positive count\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 't': {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*end || t < 1 || t > 256) {
                fprintf(stderr, "vlocr: --threads: '%s' is not a count in 1..256\n", optarg);
                return CLI_EXIT_USAGE;
            }
            ocr_blas_set_threads((int)t);
            break;
        }
        case 'j':
            if (!cli_parse_int("--jobs", optarg, 1, 256, &o.jobs)) return CLI_EXIT_USAGE;
            break;
        case OPT_INCLUDE:
        case OPT_EXCLUDE: {
            int *n = c == OPT_INCLUDE ? &o.n_include : &o.n_exclude;
            if (*n == MAX_GLOBS) {
                fprintf(stderr, "vlocr: --%s: more than %d globs\n", c == OPT_INCLUDE ? "include" : "exclude",
                        MAX_GLOBS);
                return CLI_EXIT_USAGE;
            }
            (c == OPT_INCLUDE ? o.include : o.exclude)[(*n)++] = optarg;
            break;
        }
        case OPT_PAGES: {
            ocr_err pe = {0};
            pipe_pages_free(&o.pages);
            if (pipe_pages_parse(&o.pages, optarg, &pe) != OCR_OK) {
                fprintf(stderr, "vlocr: %s\n", pe.msg);
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case OPT_FORCE: o.force = true; break;
        case OPT_INVERT: o.invert = true; break;
        case OPT_BEAM:
            if (!cli_parse_int("--beam", optarg, 1, 64, &o.beam)) return CLI_EXIT_USAGE;
            break;
        case OPT_BEAM_TEXT:
            if (!cli_parse_int("--beam-text", optarg, 1, 64, &o.beam_text)) return CLI_EXIT_USAGE;
            break;
        case 'q': o.quiet = true; break;
        case 'v': o.verbose++; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }

    /* --region: each input is one crop read by vlocr-nano (cli_recognize.c). */
    if (region) {
        if (o.out || o.overlay) {
            fprintf(stderr, "vlocr: --region prints to stdout (no -o, --overlay)\n");
            return CLI_EXIT_USAGE;
        }
        return cli_recognize_files(o.model, region, fmt_arg,
                                   strcmp(region, "formula") == 0 ? o.beam : o.beam_text, argc - optind,
                                   argv + optind);
    }
    if (fmt_arg && !parse_formats(&o, fmt_arg)) return CLI_EXIT_USAGE;

    /* Everything the command line says is checked before any work. */
    ocr_err e = {0};
    if (vis_prep_params_mode(&o.p.prep, mode, &e) != OCR_OK) {
        fprintf(stderr, "vlocr: --mode: unknown mode '%s' (tiny, small, base, large, gundam)\n", mode);
        return CLI_EXIT_USAGE;
    }
    int *fields[5] = {&o.p.prep.base_size, &o.p.prep.image_size, &o.p.prep.crop_threshold,
                      &o.p.prep.min_tiles, &o.p.prep.max_tiles};
    for (int k = 0; k < 5; k++)
        if (ov[k] >= 0) *fields[k] = ov[k];
    if (vis_prep_params_check(&o.p.prep, &e) != OCR_OK) {
        fprintf(stderr, "vlocr: preprocessing: %s\n", e.msg);
        return CLI_EXIT_USAGE;
    }
    if (pipe_dsocr_prompt(o.prompt, sizeof o.prompt, prompt, &e) != OCR_OK) {
        fprintf(stderr, "vlocr: --prompt: %s\n", e.msg);
        return CLI_EXIT_USAGE;
    }
    o.p.prompt = o.prompt;
    if (o.n_fmt > 1 && !o.out) {
        fprintf(stderr, "vlocr: -f: several formats need -o (stdout takes one)\n");
        return CLI_EXIT_USAGE;
    }
    if (o.overlay && !o.out) {
        fprintf(stderr, "vlocr: --overlay needs -o (overlays are files)\n");
        return CLI_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "vlocr: no input files (vlocr --help)\n");
        return CLI_EXIT_USAGE;
    }
    /* The inputs: files, directories, @lists, stdin. */
    pipe_inputs in;
    pipe_inputs_params ip;
    memset(&ip, 0, sizeof ip);
    ip.include = o.include;
    ip.n_include = o.n_include;
    ip.exclude = o.exclude;
    ip.n_exclude = o.n_exclude;
    ip.skip_dir = o.out; /* outputs inside an input tree are not inputs */
    if (pipe_inputs_expand(&in, argv + optind, argc - optind, &ip, &e) != OCR_OK) {
        cli_report(NULL, &e);
        pipe_pages_free(&o.pages);
        return CLI_EXIT_FAIL;
    }
    for (int i = 0; i < in.n_notes; i++) fprintf(stderr, "vlocr: %s\n", in.notes[i]);
    if (in.n == 0) {
        fprintf(stderr, "vlocr: no input files found (directories are searched for image and PDF "
                        "files; see --include)\n");
        pipe_inputs_free(&in);
        pipe_pages_free(&o.pages);
        return CLI_EXIT_FAIL;
    }
    if (o.out) {
        size_t l = strlen(o.out);
        o.out_dir = in.n > 1 || in.from_dirs || o.out[l - 1] == '/' || is_dir(o.out);
    }
    int rc = read_with_model(&o, mode, &in);
    pipe_inputs_free(&in);
    pipe_pages_free(&o.pages);
    return rc;
}

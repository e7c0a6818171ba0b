/* cli/cli_read.c — `vlocr [options] FILE...`, the main job.
 *
 * With a DeepSeek-OCR checkpoint (--model DIR: config.json with a
 * vision_config, safetensors, tokenizer.json), every page of every input
 * goes through the model (pipeline/pipe_dsocr.c), its grounded output is
 * parsed into blocks, and the document is written as Markdown, text or
 * JSON. A file that fails is reported with its reason and the batch goes
 * on; the exit status says whether all, some or none succeeded.
 *
 * Without a usable model the inputs are still decoded and checked first,
 * so a file that cannot be read is reported (named, with the reason), and
 * the missing model is then said plainly. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
            "  -f, --format F       md|txt|json, or several: md,json (needs -o)\n"
            "  -o, --output OUT     output file; a directory with several inputs (default: stdout).\n"
            "                       Markdown saves image regions as OUT_images/<page>-<k>.png\n"
            "  --overlay            also draw each page's blocks (boxes by type, reading order)\n"
            "                       as OUT_overlay/<page>.png (needs -o)\n"
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
            "  -h, --help           this help\n");
}

enum {
    OPT_MODE = 256,
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
};

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
} read_opts;

static bool parse_int(const char *opt, const char *s, int lo, int hi, int *out)
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
            fprintf(stderr, "vlocr: -f: unknown format '%s' (md, txt, json)\n", t);
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

/* Create the directory `path` is in, when it has one. */
static bool parent_dir_ok(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return true;
    char dir[4200];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return is_dir(dir) || mkdir_p(dir);
}

/* Base name of `path` without its extension ("-" → "stdin"). */
static void stem_of(char *out, size_t cap, const char *path)
{
    if (!strcmp(path, "-")) {
        snprintf(out, cap, "stdin");
        return;
    }
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t e = n;
    for (size_t i = n; i > b + 1; i--)
        if (path[i - 1] == '.') {
            e = i - 1;
            break;
        }
    snprintf(out, cap, "%.*s", (int)(e - b), path + b);
}

/* `path` without a trailing .md/.mmd/.txt/.json. */
static void strip_known_ext(char *out, size_t cap, const char *path)
{
    static const char *ext[] = {".md", ".mmd", ".markdown", ".txt", ".json"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t m = strlen(ext[i]);
        const char *slash = strrchr(path, '/');
        if (n > m && !strcmp(path + n - m, ext[i]) && (!slash || (size_t)(slash - path) + 1 < n - m)) {
            n -= m;
            break;
        }
    }
    snprintf(out, cap, "%.*s", (int)n, path);
}

/* Where the outputs of input `path` go: base (path without extension, for
 * the images folder), and one file per format. */
typedef struct {
    char base[4096];
    char file[PIPE_FMT_COUNT][4200];
    char images_dir[4200], images_link[1024];
    char overlay_dir[4200];
} out_paths;

static void plan_outputs(out_paths *op, const read_opts *o, const char *input)
{
    memset(op, 0, sizeof *op);
    if (!o->out) return;
    char stem[1024];
    stem_of(stem, sizeof stem, input);
    if (o->out_dir) {
        size_t n = strlen(o->out);
        while (n > 1 && o->out[n - 1] == '/') n--;
        snprintf(op->base, sizeof op->base, "%.*s/%s", (int)n, o->out, stem);
        for (int i = 0; i < o->n_fmt; i++)
            snprintf(op->file[i], sizeof op->file[i], "%s.%s", op->base,
                     pipe_format_ext((pipe_format)o->fmt[i]));
    } else {
        strip_known_ext(op->base, sizeof op->base, o->out);
        for (int i = 0; i < o->n_fmt; i++) {
            if (o->n_fmt == 1)
                snprintf(op->file[i], sizeof op->file[i], "%s", o->out);
            else
                snprintf(op->file[i], sizeof op->file[i], "%s.%s", op->base,
                         pipe_format_ext((pipe_format)o->fmt[i]));
        }
    }
    snprintf(op->images_dir, sizeof op->images_dir, "%s_images", op->base);
    snprintf(op->overlay_dir, sizeof op->overlay_dir, "%s_overlay", op->base);
    const char *slash = strrchr(op->images_dir, '/');
    snprintf(op->images_link, sizeof op->images_link, "%s", slash ? slash + 1 : op->images_dir);
}

static void page_name(char *out, size_t cap, const img_source *src, int page)
{
    if (src->n_pages > 1) snprintf(out, cap, "%s page %d", src->name, page + 1);
    else snprintf(out, cap, "%s", src->name);
}

static void report_page(const read_opts *o, const char *name, const pipe_page *pg)
{
    const pipe_run_stats *st = &pg->stats;
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

/* One input: every page through the model, then the outputs. 0 or -1. */
static int read_file(const read_opts *o, pipe_dsocr_state *st, const char *path)
{
    ocr_err e = {0};
    img_source src;
    pipe_doc doc;
    memset(&doc, 0, sizeof doc);
    if (img_source_open(&src, path, &o->lim, &e) != OCR_OK) {
        cli_report(path, &e);
        return -1;
    }
    out_paths op;
    plan_outputs(&op, o, path);
    bool crops = false;
    for (int i = 0; i < o->n_fmt; i++) crops = crops || (o->out && o->fmt[i] == PIPE_FMT_MD);
    int rc = 0;
    if (pipe_doc_init(&doc, src.name, &e) != OCR_OK) {
        cli_report(src.name, &e);
        rc = -1;
    }
    for (int p = 0; rc == 0 && p < src.n_pages; p++) {
        char name[600];
        page_name(name, sizeof name, &src, p);
        PIX *pix = NULL;
        pipe_page *pg = NULL;
        if (img_source_decode(&pix, &src, p, &o->lim, &e) != OCR_OK ||
            pipe_doc_add_page(&doc, &pg, p + 1, pixGetWidth(pix), pixGetHeight(pix), &e) != OCR_OK ||
            pipe_dsocr_page(st, pix, pg, &e) != OCR_OK) {
            cli_report(name, &e);
            rc = -1;
        } else {
            report_page(o, name, pg);
            if (crops && pipe_page_save_crops(pg, pix, op.images_dir, op.images_link, &e) != OCR_OK) {
                cli_report(name, &e);
                rc = -1;
            }
            if (rc == 0 && o->overlay) {
                char ovl[4300];
                snprintf(ovl, sizeof ovl, "%s/%d.png", op.overlay_dir, p + 1);
                if (!mkdir_p(op.overlay_dir)) {
                    fprintf(stderr, "vlocr: %s: cannot create directory: %s\n", op.overlay_dir,
                            strerror(errno));
                    rc = -1;
                } else if (ovl_page_write(pix, pg, ovl, &e) != OCR_OK) {
                    cli_report(ovl, &e);
                    rc = -1;
                }
            }
        }
        pixDestroy(&pix);
    }
    for (int i = 0; rc == 0 && i < o->n_fmt; i++) {
        pipe_format f = (pipe_format)o->fmt[i];
        if (o->out) {
            if (!parent_dir_ok(op.file[i])) {
                fprintf(stderr, "vlocr: %s: cannot create its directory: %s\n", op.file[i],
                        strerror(errno));
                rc = -1;
            } else if (pipe_doc_write(&doc, f, op.file[i], &e) != OCR_OK) {
                cli_report(op.file[i], &e);
                rc = -1;
            } else if (o->verbose) {
                fprintf(stderr, "vlocr: %s -> %s\n", src.name, op.file[i]);
            }
        } else {
            char *s = NULL;
            size_t n = 0;
            if (pipe_doc_render(&doc, f, &s, &n, &e) != OCR_OK) {
                cli_report(src.name, &e);
                rc = -1;
            } else if (fwrite(s, 1, n, stdout) != n || fflush(stdout) != 0) {
                fprintf(stderr, "vlocr: <stdout>: write failed: %s\n", strerror(errno));
                rc = -1;
            }
            free(s);
        }
    }
    pipe_doc_free(&doc);
    img_source_free(&src);
    return rc;
}

static int check_inputs_only(const read_opts *o, int n, char **files)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (cli_check_input(files[i], &o->lim, false) != 0) bad++;
    return bad;
}

int cli_read_main(int argc, char **argv)
{
    read_opts o;
    memset(&o, 0, sizeof o);
    o.lim = img_default_limits();
    o.p = pipe_dsocr_default_params();
    o.fmt[0] = PIPE_FMT_MD;
    o.n_fmt = 1;
    o.model = getenv("VLOCR_MODEL");
    if (!o.model || !*o.model) o.model = "models/vlocr-nano";
    const char *mode = "gundam", *prompt = "markdown";
    int ov[5] = {-1, -1, -1, -1, -1}; /* base, image, threshold, min, max */
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"mode", required_argument, NULL, OPT_MODE},
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
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:f:o:t:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case OPT_MODE: mode = optarg; break;
        case OPT_PROMPT: prompt = optarg; break;
        case 'f':
            if (!parse_formats(&o, optarg)) return CLI_EXIT_USAGE;
            break;
        case 'o':
            if (!*optarg) {
                fprintf(stderr, "vlocr: -o: empty path\n");
                return CLI_EXIT_USAGE;
            }
            o.out = optarg;
            break;
        case OPT_MAX_NEW:
            if (!parse_int("--max-new-tokens", optarg, 1, 1 << 20, &o.p.max_new_tokens))
                return CLI_EXIT_USAGE;
            break;
        case OPT_NGRAM:
            if (!parse_int("--ngram", optarg, 0, 1 << 16, &o.p.ngram_size)) return CLI_EXIT_USAGE;
            break;
        case OPT_NGRAM_WINDOW:
            if (!parse_int("--ngram-window", optarg, 0, 1 << 20, &o.p.ngram_window))
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
            if (!parse_int(nm[k], optarg, k >= 3 ? 1 : 16, k >= 3 ? 64 : 8192, &ov[k]))
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
        case 'v': o.verbose++; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }

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
    int n = argc - optind;
    char **files = argv + optind;
    if (o.out) {
        size_t l = strlen(o.out);
        o.out_dir = n > 1 || o.out[l - 1] == '/' || is_dir(o.out);
    }

    /* The model. */
    char cfg_path[4200];
    struct stat sb;
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", o.model);
    if (stat(cfg_path, &sb) != 0) {
        int bad = check_inputs_only(&o, n, files);
        fprintf(stderr,
                "vlocr: no recognition model: %s not found (vlocr-nano is not shipped yet; "
                "--model DIR selects a checkpoint). %d of %d input(s) decoded fine.\n",
                cfg_path, n - bad, n);
        return CLI_EXIT_FAIL;
    }
    ocr_config cfg;
    if (ocr_config_load(&cfg, cfg_path, &e) != OCR_OK) {
        cli_report(cfg_path, &e);
        return CLI_EXIT_FAIL;
    }
    if (!cfg.vis.present) {
        int bad = check_inputs_only(&o, n, files);
        if (!strcmp(cfg.model_type, "vlocr_nano"))
            fprintf(stderr,
                    "vlocr: %s is a vlocr-nano checkpoint, which reads region crops (vlocr "
                    "recognize); whole pages need the layout pipeline, not in this build yet. "
                    "%d of %d input(s) decoded fine.\n",
                    o.model, n - bad, n);
        else
            fprintf(stderr,
                    "vlocr: %s: no vision_config: not a DeepSeek-OCR checkpoint (model_type "
                    "'%s'). %d of %d input(s) decoded fine.\n",
                    cfg_path, cfg.model_type, n - bad, n);
        return CLI_EXIT_FAIL;
    }
    pipe_dsocr *m = NULL;
    pipe_dsocr_state *st = NULL;
    if (pipe_dsocr_load(&m, o.model, &e) != OCR_OK) {
        cli_report(o.model, &e);
        return CLI_EXIT_FAIL;
    }
    if (pipe_dsocr_state_create(&st, m, &o.p, &e) != OCR_OK) {
        cli_report(o.model, &e);
        pipe_dsocr_destroy(&m);
        return CLI_EXIT_FAIL;
    }
    if (o.out_dir && !mkdir_p(o.out)) {
        fprintf(stderr, "vlocr: %s: cannot create the output directory: %s\n", o.out,
                strerror(errno));
        pipe_dsocr_state_destroy(&st);
        pipe_dsocr_destroy(&m);
        return CLI_EXIT_FAIL;
    }
    if (o.verbose) {
        char d[1024];
        pipe_dsocr_describe(m, d, sizeof d);
        fprintf(stderr, "vlocr: %s\n", d);
        fprintf(stderr, "vlocr: mode %s: base %d, image %d, %s (threshold %d, tiles %d..%d); "
                        "max %d new tokens, n-gram %d%s\n",
                mode, o.p.prep.base_size, o.p.prep.image_size,
                o.p.prep.crop_mode ? "tiles" : "no tiles", o.p.prep.crop_threshold,
                o.p.prep.min_tiles, o.p.prep.max_tiles, o.p.max_new_tokens, o.p.ngram_size,
                o.p.ngram_window ? " (windowed)" : "");
    }

    int bad = 0;
    for (int i = 0; i < n; i++)
        if (read_file(&o, st, files[i]) != 0) bad++;
    pipe_dsocr_state_destroy(&st);
    pipe_dsocr_destroy(&m);
    if (n > 1 && bad) fprintf(stderr, "vlocr: %d of %d input(s) failed\n", bad, n);
    if (bad == 0) return CLI_EXIT_OK;
    return bad == n ? CLI_EXIT_FAIL : CLI_EXIT_PARTIAL;
}

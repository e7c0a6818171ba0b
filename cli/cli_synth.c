/* cli/cli_synth.c — `vlocr synth`: look at (and make) synthetic training data.
 *
 *   vlocr synth --kind line|cell|inline|formula|mix --n N --seed S --out DIR
 *   vlocr synth --build-bank [--bank DIR] [--bank-formulas N] [--bank-inline N]
 *   vlocr synth --list-fonts [--split val]
 *
 * Writes DIR/<kind>-<index>.png + .txt pairs (each atomically) and
 * DIR/contact.png, a contact sheet of the first 64 samples.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "train/syn.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vlocr synth --kind line|cell|inline|formula|mix --n N --seed S --out DIR\n"
            "                   [--threads T] [--split train|val] [--corpus DIR] [--bank DIR]\n"
            "                   [--height-text H] [--height-inline H] [--height-formula H]\n"
            "                   [--max-width-text W] [--max-width-math W] [--clean]\n"
            "                   [--math-fallback] [--no-sheet] [--sheet-width W]\n"
            "       vlocr synth --build-bank [--bank DIR] [--bank-formulas N] [--bank-inline N]\n"
            "                   [--bank-seed S] [--dpi D] [--batch B] [--threads T] [--corpus DIR]\n"
            "       vlocr synth --list-fonts [--split train|val]\n"
            "\n"
            "Formula and inline kinds read a bank of TeX renders (default train/cache/bank);\n"
            "when it is missing it is built first, which needs latex and dvipng\n"
            "('make train-deps').\n");
}

static bool parse_u64(const char *s, unsigned long long *v)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return !errno && !*end && s[0] != '-';
}

static bool parse_int(const char *s, int lo, int hi, int *v)
{
    unsigned long long u;
    if (!parse_u64(s, &u) || u < (unsigned long long)lo || u > (unsigned long long)hi) return false;
    *v = (int)u;
    return true;
}

static void progress(void *user, int done, int total, int failed)
{
    (void)user;
    fprintf(stderr, "\rvlocr synth: formula bank: %d/%d TeX batches%s", done, total,
            failed ? " (some failed)" : "");
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

static int build_bank(const char *dir, const syn_bank_params *bp, const char *corpus_dir)
{
    ocr_err e = {0};
    syn_corpus *c = NULL;
    ocr_status st = syn_corpus_load(&c, corpus_dir, bp->n_inline > 0, true, &e);
    if (st != OCR_OK) {
        cli_report("synth", &e);
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "vlocr synth: rendering %d formulas and %d inline-math lines with TeX "
                    "into %s\n", bp->n_formula, bp->n_inline, dir);
    st = syn_bank_build(dir, bp, c, progress, NULL, &e);
    syn_corpus_destroy(&c);
    if (st != OCR_OK) {
        cli_report("synth", &e);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cli_synth_main(int argc, char **argv)
{
    syn_params p = syn_default_params();
    syn_bank_params bp = syn_bank_default_params();
    bool have_kind = false, build = false, list = false, sheet = true;
    unsigned long long n = 0, seed = 0;
    bool have_n = false, have_seed = false;
    const char *out = NULL;
    int threads = 2, sheet_w = 1600;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, used = true;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--kind")) {
            ok = syn_kind_parse(v, &p.kind);
            have_kind = ok;
        } else if (!strcmp(a, "--n")) {
            ok = parse_u64(v, &n) && n <= 100000000ULL;
            have_n = ok;
        } else if (!strcmp(a, "--seed")) {
            ok = parse_u64(v, &seed);
            have_seed = ok;
        } else if (!strcmp(a, "--out")) {
            out = v;
            ok = v != NULL;
        } else if (!strcmp(a, "--threads")) {
            ok = parse_int(v, 1, 256, &threads);
            bp.threads = threads;
        } else if (!strcmp(a, "--split")) {
            ok = v && (!strcmp(v, "train") || !strcmp(v, "val"));
            if (ok) p.split = !strcmp(v, "val") ? SYN_SPLIT_VAL : SYN_SPLIT_TRAIN;
        } else if (!strcmp(a, "--corpus")) {
            p.corpus_dir = v;
            ok = v != NULL;
        } else if (!strcmp(a, "--bank")) {
            p.bank_dir = v;
            ok = v != NULL;
        } else if (!strcmp(a, "--height-text")) {
            ok = parse_int(v, 8, 512, &p.height_text);
        } else if (!strcmp(a, "--height-inline")) {
            ok = parse_int(v, 8, 512, &p.height_inline);
        } else if (!strcmp(a, "--height-formula")) {
            ok = parse_int(v, 8, 512, &p.height_formula);
        } else if (!strcmp(a, "--max-width-text")) {
            ok = parse_int(v, 16, 65535, &p.max_width_text);
        } else if (!strcmp(a, "--max-width-math")) {
            ok = parse_int(v, 16, 65535, &p.max_width_math);
        } else if (!strcmp(a, "--sheet-width")) {
            ok = parse_int(v, 200, 8000, &sheet_w);
        } else if (!strcmp(a, "--bank-formulas")) {
            ok = parse_int(v, 0, 10000000, &bp.n_formula);
        } else if (!strcmp(a, "--bank-inline")) {
            ok = parse_int(v, 0, 10000000, &bp.n_inline);
        } else if (!strcmp(a, "--bank-seed")) {
            unsigned long long s = 0;
            ok = parse_u64(v, &s);
            bp.seed = s;
        } else if (!strcmp(a, "--dpi")) {
            ok = parse_int(v, 50, 1200, &bp.dpi);
        } else if (!strcmp(a, "--batch")) {
            ok = parse_int(v, 1, 5000, &bp.batch);
        } else {
            used = false;
            if (!strcmp(a, "--clean")) {
                p.dg = syn_degrade_default_params();
                p.dg.p_clean = 1;
            } else if (!strcmp(a, "--math-fallback")) {
                p.math_fallback = true;
            } else if (!strcmp(a, "--no-sheet")) {
                sheet = false;
            } else if (!strcmp(a, "--build-bank")) {
                build = true;
            } else if (!strcmp(a, "--list-fonts")) {
                list = true;
            } else {
                fprintf(stderr, "vlocr synth: unknown option '%s'\n", a);
                usage(stderr);
                return CLI_EXIT_USAGE;
            }
        }
        if (!ok) {
            fprintf(stderr, "vlocr synth: bad or missing value for %s\n", a);
            return CLI_EXIT_USAGE;
        }
        if (used) i++;
    }
    ocr_err e = {0};
    if (list) {
        syn_fonts *f = NULL;
        if (syn_fonts_create(&f, p.split, &e) != OCR_OK) {
            cli_report("synth", &e);
            return CLI_EXIT_FAIL;
        }
        for (size_t i = 0; i < syn_fonts_n_faces(f); i++) {
            const syn_face *sf = syn_fonts_face(f, i);
            printf("%s\t%s\n", sf->family, sf->desc);
        }
        fprintf(stderr, "%zu families, %zu faces (%s split)\n", syn_fonts_n_families(f),
                syn_fonts_n_faces(f), p.split == SYN_SPLIT_VAL ? "validation" : "training");
        syn_fonts_destroy(&f);
        return CLI_EXIT_OK;
    }
    if (build) {
        int rc = build_bank(p.bank_dir, &bp, p.corpus_dir);
        if (rc != CLI_EXIT_OK || !have_kind) return rc;
    }
    if (!have_kind || !have_n || !have_seed || !out) {
        fprintf(stderr, "vlocr synth: --kind, --n, --seed and --out are required\n");
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "vlocr synth: %s: %s\n", out, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    syn_ctx *ctx = NULL;
    ocr_status st = syn_ctx_create(&ctx, &p, &e);
    bool wants_math = syn_kind_is_math(p.kind) ||
                      (p.kind == SYN_KIND_MIX && (p.mix[SYN_KIND_INLINE] > 0 || p.mix[SYN_KIND_FORMULA] > 0));
    if (st == OCR_E_NOTFOUND && wants_math && syn_tex_available(NULL, 0)) {
        /* No bank yet: make the default one, then try again. */
        if (build_bank(p.bank_dir, &bp, p.corpus_dir) != CLI_EXIT_OK) return CLI_EXIT_FAIL;
        st = syn_ctx_create(&ctx, &p, &e);
    }
    if (st != OCR_OK) {
        cli_report("synth", &e);
        return CLI_EXIT_FAIL;
    }
    syn_queue *q = NULL;
    st = syn_queue_create(&q, ctx, seed, 0, threads, 4 * threads, &e);
    if (st != OCR_OK) {
        syn_ctx_destroy(&ctx);
        cli_report("synth", &e);
        return CLI_EXIT_FAIL;
    }
    size_t keep = sheet ? (n < 64 ? (size_t)n : 64) : 0;
    syn_sample *first = keep ? calloc(keep, sizeof *first) : NULL;
    double t0 = now_s();
    int rc = CLI_EXIT_OK;
    for (unsigned long long i = 0; i < n; i++) {
        syn_sample s;
        st = syn_queue_next(q, &s, &e);
        if (st == OCR_OK) {
            char stem[64];
            snprintf(stem, sizeof stem, "%s-%06llu", syn_kind_name(s.kind), i);
            st = syn_sample_write(&s, out, stem, &e);
        }
        if (st != OCR_OK) {
            cli_report("synth", &e);
            rc = CLI_EXIT_FAIL;
            syn_sample_free(&s);
            break;
        }
        if (first && i < keep) first[i] = s;
        else syn_sample_free(&s);
    }
    double dt = now_s() - t0;
    syn_queue_destroy(&q);
    if (rc == CLI_EXIT_OK && first) {
        PIX *pix = NULL;
        st = syn_contact_sheet(&pix, first, keep, sheet_w, &e);
        if (st == OCR_OK) {
            l_uint8 *png = NULL;
            size_t len = 0;
            char path[1100];
            snprintf(path, sizeof path, "%s/contact.png", out);
            if (pixWriteMem(&png, &len, pix, IFF_PNG) == 0 && png)
                st = ocr_file_write_atomic(path, png, len, &e);
            else
                st = ocr_err_set(&e, OCR_E_IO, "%s: PNG encoding failed", path);
            lept_free(png);
            pixDestroy(&pix);
        }
        if (st != OCR_OK) {
            cli_report("synth", &e);
            rc = CLI_EXIT_FAIL;
        }
    }
    for (size_t i = 0; i < keep; i++) syn_sample_free(&first[i]);
    free(first);
    syn_ctx_destroy(&ctx);
    if (rc == CLI_EXIT_OK)
        fprintf(stderr, "vlocr synth: wrote %llu %s samples to %s (%.1f samples/s on %d threads)\n",
                n, syn_kind_name(p.kind), out, dt > 0 ? (double)n / dt : 0.0, threads);
    return rc;
}

/* tests/test_syn.c — synthetic training data (train/syn_*).
 *
 * Needs the corpus (../shared/corpus) and one Latin font (fonts-dejavu-core
 * from `make deps`) for the text kinds; TeX parts are skipped when latex or
 * dvipng is not on PATH, the eval-exclusion check when ../shared/eval is
 * absent.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/tst.h"
#include "train/syn.h"

#define CORPUS "../shared/corpus"
#define EVAL_FORMULAS "../shared/eval/formulas"

static bool have_corpus(void)
{
    struct stat st;
    return stat(CORPUS "/text/gutenberg.txt", &st) == 0 &&
           stat(CORPUS "/formulas/arxiv.txt", &st) == 0;
}

static bool sanitized(void) { return getenv("VLOCR_SANITIZED") != NULL; }

/* ------------------------------------------------------------ normaliser */

static void check_norm(const char *in, const char *want, int line)
{
    char *got = NULL, *again = NULL;
    ocr_err e = {0};
    ocr_status st = syn_latex_normalize(in, &got, &e);
    tst_check(st == OCR_OK, __FILE__, line, "normalize '%s': %s", in, e.msg);
    if (st != OCR_OK) return;
    tst_check(strcmp(got, want) == 0, __FILE__, line, "normalize '%s' = '%s', want '%s'", in, got,
              want);
    st = syn_latex_normalize(got, &again, &e);
    tst_check(st == OCR_OK && strcmp(again, got) == 0, __FILE__, line,
              "normalize is idempotent on '%s' (got '%s')", got, again ? again : e.msg);
    free(got);
    free(again);
}

static void test_latex_normalize(void)
{
    /* Argument bracing: one spelling for scripts and command arguments. */
    check_norm("\\frac12", "\\frac{1}{2}", __LINE__);
    check_norm("\\frac 1 2", "\\frac{1}{2}", __LINE__);
    check_norm("x^2", "x^{2}", __LINE__);
    check_norm("x^{2}", "x^{2}", __LINE__);
    check_norm("x^{{2}}", "x^{2}", __LINE__);
    check_norm("x^2_i", "x_{i}^{2}", __LINE__);
    check_norm("x_i^2", "x_{i}^{2}", __LINE__);
    check_norm("x^\\alpha", "x^{\\alpha}", __LINE__);
    check_norm("x^\\frac12", "x^{\\frac{1}{2}}", __LINE__);
    check_norm("\\sqrt[3] x", "\\sqrt[3]{x}", __LINE__);
    check_norm("\\hat a+\\vec{b}", "\\hat{a}+\\vec{b}", __LINE__);
    /* Spacing: none, except where TeX needs it. */
    check_norm("  a  +  b = c ", "a+b=c", __LINE__);
    check_norm("\\alpha x + \\beta", "\\alpha x+\\beta", __LINE__);
    check_norm("\\alpha2", "\\alpha2", __LINE__);
    check_norm("\\left( x \\right)", "\\left(x\\right)", __LINE__);
    check_norm("\\left\\langle v\\right\\rangle", "\\left\\langle v\\right\\rangle", __LINE__);
    check_norm("\\text{if } x", "\\text{if }x", __LINE__);
    check_norm("\\mbox{a   b}", "\\text{a b}", __LINE__);
    /* Synonyms and old syntax. */
    check_norm("a \\le b \\ne c \\to d", "a\\leq b\\neq c\\rightarrow d", __LINE__);
    check_norm("{a \\over b}", "\\frac{a}{b}", __LINE__);
    check_norm("{n \\choose k}", "\\binom{n}{k}", __LINE__);
    check_norm("{\\rm d}x", "\\mathrm{d}x", __LINE__);
    check_norm("\\bf x", "\\mathbf{x}", __LINE__);
    check_norm("\\not= \\not\\in", "\\neq\\notin", __LINE__);
    check_norm("\\lbrace x \\rbrace", "\\{x\\}", __LINE__);
    check_norm("\\left\\lbrace x \\right.", "\\left\\{x\\right.", __LINE__);
    check_norm("\\big{[} x \\big{]}", "\\big[x\\big]", __LINE__);
    check_norm("\\operatorname{sin} x", "\\sin x", __LINE__);
    check_norm("\\operatorname{ e x p }", "\\exp", __LINE__);
    check_norm("\\operatorname{Tr}A", "\\operatorname{Tr}A", __LINE__);
    check_norm("x^{\\prime}", "x'", __LINE__);
    check_norm("x^{\\prime\\prime}", "x''", __LINE__);
    check_norm("\\dots", "\\ldots", __LINE__);
    check_norm("a~b", "a\\ b", __LINE__);
    check_norm("\\bm{x}", "\\boldsymbol{x}", __LINE__);
    /* Grouping that matters is kept; empty nuclei are spelled {}. */
    check_norm("a{=}b", "a{=}b", __LINE__);
    check_norm("{}^{14}C", "{}^{14}C", __LINE__);
    check_norm("^{14}C", "{}^{14}C", __LINE__);
    check_norm("{x}", "x", __LINE__);
    check_norm("{\\alpha}", "\\alpha", __LINE__);
    /* Environments: trailing row break dropped, column spec compacted. */
    check_norm("\\begin{pmatrix} a & b \\\\ c & d \\\\ \\end{pmatrix}",
               "\\begin{pmatrix}a&b\\\\c&d\\end{pmatrix}", __LINE__);
    check_norm("\\begin{array}{c c} 1 & 2 \\end{array}", "\\begin{array}{cc}1&2\\end{array}",
               __LINE__);
    check_norm("\\sum\\limits_{i=1}^n", "\\sum\\limits_{i=1}^{n}", __LINE__);

    /* Strict mode refuses malformed input with a message. */
    static const char *const bad[] = {"x^{2", "x}", "\\left( x", "\\frac{1}", "\\begin{matrix} a",
                                      "\\end{matrix}", "\\right)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *o = NULL;
        ocr_err e = {0};
        ocr_status st = syn_latex_normalize(bad[i], &o, &e);
        TST_CHECK(st == OCR_E_FORMAT && o == NULL && strstr(e.msg, "syn_latex_normalize"),
                  "strict rejects '%s' (status %d, '%s')", bad[i], (int)st, e.msg);
        free(o);
        /* Lenient (for predictions) repairs and is then stable. */
        st = syn_latex_normalize_lenient(bad[i], &o, &e);
        TST_CHECK(st == OCR_OK && o, "lenient repairs '%s'", bad[i]);
        if (o) {
            char *o2 = NULL;
            TST_CHECK(syn_latex_normalize(o, &o2, &e) == OCR_OK,
                      "lenient output of '%s' is well-formed ('%s': %s)", bad[i], o, e.msg);
            free(o2);
        }
        free(o);
    }
    /* Hostile nesting ends in an error, not a stack overflow. */
    char deep[4096];
    for (int i = 0; i < 2000; i++) deep[i] = '{';
    deep[2000] = 0;
    char *o = NULL;
    TST_CHECK(syn_latex_normalize_lenient(deep, &o, NULL) != OCR_OK || o != NULL,
              "deep nesting handled");
    free(o);
}

/* --------------------------------------------------------------- the PRNG */

static void test_rng(void)
{
    syn_rng a, b, c;
    syn_rng_init(&a, 42, 7);
    syn_rng_init(&b, 42, 7);
    syn_rng_init(&c, 42, 8);
    bool same = true, diff = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = syn_rng_next(&a), y = syn_rng_next(&b), z = syn_rng_next(&c);
        same &= x == y;
        diff |= x != z;
    }
    TST_CHECK(same, "same seed and stream: same sequence");
    TST_CHECK(diff, "another stream: another sequence");
    bool in_range = true;
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = syn_rng_unit(&a);
        int k = syn_rng_below(&a, 7);
        in_range &= u >= 0 && u < 1 && k >= 0 && k < 7;
        sum += u;
    }
    TST_CHECK(in_range, "unit in [0,1), below(7) in [0,7)");
    TST_CHECK(sum > 4800 && sum < 5200, "unit mean %.3f near 0.5", sum / 10000);
}

/* ------------------------------------------------------------ degradations */

static PIX *test_image(void)
{
    /* Dark bars and dots on paper: enough structure for every op. */
    PIX *p = pixCreate(160, 40, 8);
    pixSetAllArbitrary(p, 255);
    for (int y = 10; y < 30; y++)
        for (int x = 10; x < 150; x++)
            if ((x / 7) % 2 == 0 || y == 20) pixSetPixel(p, x, y, 20);
    return p;
}

static void test_degradations(void)
{
    syn_rng r;
    syn_rng_init(&r, 3, 0);
    static const float amount[SYN_DG_COUNT] = {0.8f, 1.2f, 10, 0.01f, 30, 0.3f, 10, 0.5f, 1.0f,
                                               3.0f, 0.1f, 0.2f, 0.5f};
    for (int op = 0; op < SYN_DG_COUNT; op++) {
        PIX *p = test_image();
        ocr_err e = {0};
        ocr_status st = syn_degrade_apply(&p, (syn_dg_op)op, amount[op], &r, &e);
        TST_CHECK(st == OCR_OK, "%s applies: %s", syn_dg_name((syn_dg_op)op), e.msg);
        TST_CHECK(p && pixGetWidth(p) == 160 && pixGetHeight(p) == 40 && pixGetDepth(p) == 8 &&
                      !pixGetColormap(p),
                  "%s keeps 160x40 8 bpp (got %dx%d %d bpp)", syn_dg_name((syn_dg_op)op),
                  p ? pixGetWidth(p) : 0, p ? pixGetHeight(p) : 0, p ? pixGetDepth(p) : 0);
        pixDestroy(&p);
    }
    /* Each op is deterministic given its stream. */
    for (int op = 0; op < SYN_DG_COUNT; op++) {
        PIX *a = test_image(), *b = test_image();
        syn_rng r1, r2;
        syn_rng_init(&r1, 9, (uint64_t)op);
        syn_rng_init(&r2, 9, (uint64_t)op);
        syn_degrade_apply(&a, (syn_dg_op)op, amount[op], &r1, NULL);
        syn_degrade_apply(&b, (syn_dg_op)op, amount[op], &r2, NULL);
        l_int32 same = 0;
        pixEqual(a, b, &same);
        TST_CHECK(same, "%s is reproducible", syn_dg_name((syn_dg_op)op));
        pixDestroy(&a);
        pixDestroy(&b);
    }
    PIX *p = test_image(), *q = NULL;
    ocr_err e = {0};
    PIX *bad = pixCreate(10, 10, 32);
    TST_CHECK(syn_degrade_apply(&bad, SYN_DG_BLUR, 1, &r, &e) == OCR_E_ARG,
              "32 bpp input refused: %s", e.msg);
    pixDestroy(&bad);
    q = syn_resample(p, 77, 13, false);
    TST_CHECK(q && pixGetWidth(q) == 77 && pixGetHeight(q) == 13, "resample to exact size");
    pixDestroy(&q);
    q = syn_resample(p, 400, 100, true);
    TST_CHECK(q && pixGetWidth(q) == 400 && pixGetHeight(q) == 100, "nearest resample, enlarging");
    pixDestroy(&q);
    double box[4] = {10, 10, 150, 30};
    q = syn_degrade_warp(p, 2.0, 0, 0, &r, box);
    TST_CHECK(q && pixGetWidth(q) == 160 && box[3] - box[1] > 20 && box[2] - box[0] < 141,
              "rotated box grows in height (%.1f..%.1f)", box[1], box[3]);
    pixDestroy(&q);
    pixDestroy(&p);
}

/* --------------------------------------------------------- text samples */

static bool samples_equal(const syn_sample *a, const syn_sample *b)
{
    return a->w == b->w && a->h == b->h && a->kind == b->kind && a->text && b->text &&
           strcmp(a->text, b->text) == 0 &&
           memcmp(a->gray, b->gray, (size_t)a->w * (size_t)a->h) == 0;
}

static syn_ctx *text_ctx(syn_kind kind)
{
    syn_params p = syn_default_params();
    p.kind = kind;
    p.math_fallback = true;
    p.corpus_dir = CORPUS;
    p.bank_dir = "/nonexistent/bank"; /* mix: text kinds only, explicitly */
    syn_ctx *c = NULL;
    ocr_err e = {0};
    ocr_status st = syn_ctx_create(&c, &p, &e);
    TST_CHECK(st == OCR_OK, "context for %s: %s", syn_kind_name(kind), e.msg);
    return c;
}

static void test_text_samples(void)
{
    if (!have_corpus()) {
        tst_skip("text samples", CORPUS " not found");
        return;
    }
    static const syn_kind kinds[] = {SYN_KIND_LINE, SYN_KIND_CELL, SYN_KIND_MIX};
    int n = sanitized() ? 6 : 16;
    for (size_t k = 0; k < 3; k++) {
        syn_ctx *c = text_ctx(kinds[k]);
        if (!c) return;
        const syn_params *P = syn_ctx_params(c);
        syn_gen *g = NULL;
        ocr_err e = {0};
        TST_CHECK(syn_gen_create(&g, c, 11, &e) == OCR_OK, "generator: %s", e.msg);
        int ok = 0, printable = 0, sized = 0, inked = 0;
        for (int i = 0; g && i < n; i++) {
            syn_sample s;
            ocr_status st = syn_gen_next(g, &s, &e);
            if (st != OCR_OK) {
                TST_CHECK(false, "%s sample %d: %s", syn_kind_name(kinds[k]), i, e.msg);
                continue;
            }
            ok++;
            printable += syn_text_printable(s.text);
            sized += s.h == P->height_text && s.w >= 4 && s.w <= P->max_width_text &&
                     !syn_kind_is_math(s.kind);
            int dark = 255;
            for (size_t j = 0; j < (size_t)s.w * s.h; j++)
                if (s.gray[j] < dark) dark = s.gray[j];
            inked += dark < 200;
            syn_sample_free(&s);
        }
        TST_CHECK(ok == n, "%s: %d/%d samples", syn_kind_name(kinds[k]), ok, n);
        TST_CHECK(printable == ok, "%s: %d/%d labels non-empty and printable",
                  syn_kind_name(kinds[k]), printable, ok);
        TST_CHECK(sized == ok, "%s: %d/%d crops %d px high within %d px", syn_kind_name(kinds[k]),
                  sized, ok, P->height_text, P->max_width_text);
        TST_CHECK(inked == ok, "%s: %d/%d crops show ink", syn_kind_name(kinds[k]), inked, ok);
        syn_gen_destroy(&g);
        syn_ctx_destroy(&c);
    }
}

static void test_determinism(void)
{
    if (!have_corpus()) {
        tst_skip("determinism", CORPUS " not found");
        return;
    }
    syn_ctx *c = text_ctx(SYN_KIND_MIX);
    if (!c) return;
    syn_gen *a = NULL, *b = NULL, *d = NULL;
    ocr_err e = {0};
    syn_gen_create(&a, c, 1234, &e);
    syn_gen_create(&b, c, 1234, &e);
    syn_gen_create(&d, c, 1235, &e);
    int n = sanitized() ? 4 : 10, same = 0, differ = 0;
    /* b draws in reverse order: a sample must not depend on its history. */
    for (int i = 0; a && b && d && i < n; i++) {
        syn_sample x, y, z;
        ocr_status s1 = syn_gen_sample(a, (uint64_t)i, &x, &e);
        ocr_status s2 = syn_gen_sample(b, (uint64_t)(n - 1 - i), &y, &e);
        syn_sample y2;
        ocr_status s4 = syn_gen_sample(b, (uint64_t)i, &y2, &e);
        ocr_status s3 = syn_gen_sample(d, (uint64_t)i, &z, &e);
        if (s1 == OCR_OK && s4 == OCR_OK) same += samples_equal(&x, &y2);
        if (s1 == OCR_OK && s3 == OCR_OK) differ += !samples_equal(&x, &z);
        (void)s2;
        syn_sample_free(&x);
        syn_sample_free(&y);
        syn_sample_free(&y2);
        syn_sample_free(&z);
    }
    TST_CHECK(same == n, "same seed and index: identical image and text (%d/%d)", same, n);
    TST_CHECK(differ == n, "another seed: different samples (%d/%d)", differ, n);
    syn_gen_destroy(&a);
    syn_gen_destroy(&b);
    syn_gen_destroy(&d);

    /* The queue yields the same stream with 1 and 2 threads, starting
     * anywhere, and the same as the generator alone. */
    syn_queue *q1 = NULL, *q2 = NULL;
    TST_CHECK(syn_queue_create(&q1, c, 77, 5, 1, 2, &e) == OCR_OK, "queue, 1 thread: %s", e.msg);
    TST_CHECK(syn_queue_create(&q2, c, 77, 5, 2, 3, &e) == OCR_OK, "queue, 2 threads: %s", e.msg);
    syn_gen_create(&a, c, 77, &e);
    int m = sanitized() ? 5 : 12, eq = 0, eqg = 0, ordered = 0;
    for (int i = 0; q1 && q2 && a && i < m; i++) {
        syn_sample x, y, z;
        ocr_status s1 = syn_queue_next(q1, &x, &e);
        ocr_status s2 = syn_queue_next(q2, &y, &e);
        ocr_status s3 = syn_gen_sample(a, 5 + (uint64_t)i, &z, &e);
        if (s1 == OCR_OK && s2 == OCR_OK) eq += samples_equal(&x, &y);
        if (s1 == OCR_OK && s3 == OCR_OK) eqg += samples_equal(&x, &z);
        ordered += x.index == 5 + (uint64_t)i && y.index == 5 + (uint64_t)i;
        syn_sample_free(&x);
        syn_sample_free(&y);
        syn_sample_free(&z);
    }
    TST_CHECK(eq == m, "1 vs 2 threads: identical samples (%d/%d)", eq, m);
    TST_CHECK(eqg == m, "queue = generator for the same index (%d/%d)", eqg, m);
    TST_CHECK(ordered == m, "queue yields indices in order (%d/%d)", ordered, m);
    syn_queue_destroy(&q1);
    syn_queue_destroy(&q2); /* with samples still in flight */
    syn_gen_destroy(&a);
    syn_ctx_destroy(&c);
}

static void test_fonts_split(void)
{
    syn_fonts *tr = NULL, *va = NULL;
    ocr_err e = {0};
    TST_CHECK(syn_fonts_create(&tr, SYN_SPLIT_TRAIN, &e) == OCR_OK, "training fonts: %s", e.msg);
    size_t held = 0;
    for (size_t i = 0; tr && i < syn_fonts_n_families(tr); i++)
        for (size_t k = 0; k < syn_n_heldout_families; k++)
            held += strcmp(syn_fonts_family(tr, i), syn_heldout_families[k]) == 0;
    TST_CHECK(held == 0, "no held-out family among the %zu training families",
              syn_fonts_n_families(tr));
    ocr_status st = syn_fonts_create(&va, SYN_SPLIT_VAL, &e);
    if (st == OCR_E_NOTFOUND) {
        tst_skip("validation fonts", "no held-out family installed (make train-deps)");
    } else {
        size_t bad = 0;
        for (size_t i = 0; va && i < syn_fonts_n_families(va); i++) {
            bool in = false;
            for (size_t k = 0; k < syn_n_heldout_families; k++)
                in |= strcmp(syn_fonts_family(va, i), syn_heldout_families[k]) == 0;
            bad += !in;
        }
        TST_CHECK(st == OCR_OK && bad == 0, "validation uses only held-out families");
    }
    /* The inventory is stable: a second enumeration is identical. */
    syn_fonts *tr2 = NULL;
    syn_fonts_create(&tr2, SYN_SPLIT_TRAIN, &e);
    bool same = tr && tr2 && syn_fonts_n_faces(tr) == syn_fonts_n_faces(tr2);
    for (size_t i = 0; same && i < syn_fonts_n_faces(tr); i++)
        same = strcmp(syn_fonts_face(tr, i)->desc, syn_fonts_face(tr2, i)->desc) == 0;
    TST_CHECK(same, "font inventory is stable across enumerations");
    syn_fonts_destroy(&tr);
    syn_fonts_destroy(&tr2);
    syn_fonts_destroy(&va);
}

static void test_files_and_sheet(void)
{
    if (!have_corpus()) {
        tst_skip("files", CORPUS " not found");
        return;
    }
    syn_ctx *c = text_ctx(SYN_KIND_LINE);
    if (!c) return;
    syn_gen *g = NULL;
    ocr_err e = {0};
    syn_gen_create(&g, c, 5, &e);
    syn_sample s[3];
    memset(s, 0, sizeof s);
    for (int i = 0; g && i < 3; i++) syn_gen_next(g, &s[i], &e);
    ocr_status st = syn_sample_write(&s[0], tst_tmpdir(), "line-0", &e);
    TST_CHECK(st == OCR_OK, "sample written: %s", e.msg);
    char path[600];
    snprintf(path, sizeof path, "%s/line-0.png", tst_tmpdir());
    PIX *back = pixRead(path);
    PIX *orig = NULL;
    syn_sample_to_pix(&s[0], &orig, &e);
    l_int32 same = 0;
    if (back && orig) pixEqual(back, orig, &same);
    TST_CHECK(same, "PNG reads back identical");
    snprintf(path, sizeof path, "%s/line-0.txt", tst_tmpdir());
    FILE *f = fopen(path, "r");
    char buf[4096] = {0};
    if (f) {
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        buf[k] = 0;
        fclose(f);
    }
    size_t tl = strlen(s[0].text ? s[0].text : "");
    TST_CHECK(f && strncmp(buf, s[0].text, tl) == 0 && buf[tl] == '\n' && buf[tl + 1] == 0,
              "label file is the text plus a newline");
    PIX *sheet = NULL;
    st = syn_contact_sheet(&sheet, s, 3, 1200, &e);
    TST_CHECK(st == OCR_OK && sheet && pixGetWidth(sheet) == 1200 && pixGetDepth(sheet) == 8,
              "contact sheet: %s", e.msg);
    pixDestroy(&sheet);
    pixDestroy(&back);
    pixDestroy(&orig);
    for (int i = 0; i < 3; i++) syn_sample_free(&s[i]);
    syn_gen_destroy(&g);
    syn_ctx_destroy(&c);
}

/* -------------------------------------------------------------- math, TeX */

static void test_math_without_tex(void)
{
    /* No bank and no TeX: a clear error, never a crash. */
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    setenv("PATH", "/nonexistent", 1);
    char why[256];
    TST_CHECK(!syn_tex_available(why, sizeof why) && strstr(why, "train-deps"),
              "TeX absence explained: %s", why);
    static const syn_kind kinds[] = {SYN_KIND_FORMULA, SYN_KIND_INLINE, SYN_KIND_MIX};
    for (size_t k = 0; k < 3; k++) {
        syn_params p = syn_default_params();
        p.kind = kinds[k];
        p.bank_dir = "/nonexistent/bank";
        p.corpus_dir = CORPUS;
        syn_ctx *c = NULL;
        ocr_err e = {0};
        ocr_status st = syn_ctx_create(&c, &p, &e);
        TST_CHECK(st == OCR_E_UNSUPPORTED && c == NULL && strstr(e.msg, "make train-deps") &&
                      strstr(e.msg, "/nonexistent/bank"),
                  "%s without bank or TeX: '%s'", syn_kind_name(kinds[k]), e.msg);
    }
    syn_bank_params bp = syn_bank_default_params();
    ocr_err e = {0};
    TST_CHECK(syn_bank_build("/nonexistent/bank", &bp, NULL, NULL, NULL, &e) == OCR_E_UNSUPPORTED,
              "bank build without TeX: '%s'", e.msg);
    if (saved) setenv("PATH", saved, 1);
    free(saved);
}

static void test_tex_bank(void)
{
    char why[256];
    if (!syn_tex_available(why, sizeof why)) {
        tst_skip("TeX bank", why);
        return;
    }
    if (!have_corpus()) {
        tst_skip("TeX bank", CORPUS " not found");
        return;
    }
    syn_corpus *corpus = NULL;
    ocr_err e = {0};
    TST_CHECK(syn_corpus_load(&corpus, CORPUS, true, true, &e) == OCR_OK, "corpus: %s", e.msg);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/bank", tst_tmpdir());
    syn_bank_params bp = syn_bank_default_params();
    bp.n_formula = 24;
    bp.n_inline = 12;
    bp.batch = 24;
    bp.threads = 2;
    bp.seed = 3;
    bp.setups = "lmodern,times"; /* probing all fifteen takes seconds */
    ocr_status st = syn_bank_build(dir, &bp, corpus, NULL, NULL, &e);
    TST_CHECK(st == OCR_OK, "bank built with TeX: %s", e.msg);
    /* Same parameters: resumable no-op; other parameters: refused. */
    TST_CHECK(syn_bank_build(dir, &bp, corpus, NULL, NULL, &e) == OCR_OK, "rebuild is a no-op");
    bp.seed = 4;
    TST_CHECK(syn_bank_build(dir, &bp, corpus, NULL, NULL, &e) == OCR_E_ARG,
              "other parameters refused: %s", e.msg);
    syn_bank *b = NULL;
    st = syn_bank_open(&b, dir, &e);
    TST_CHECK(st == OCR_OK, "bank opens: %s", e.msg);
    size_t nf = syn_bank_count(b, SYN_KIND_FORMULA), ni = syn_bank_count(b, SYN_KIND_INLINE);
    TST_CHECK(nf >= 16 && ni >= 8, "bank holds %zu formulas, %zu lines", nf, ni);
    int good = 0;
    for (size_t i = 0; i < nf; i++) {
        syn_bank_entry en;
        uint8_t *g = NULL;
        if (syn_bank_get(b, SYN_KIND_FORMULA, i, &en, &g, &e) != OCR_OK) continue;
        char *n2 = NULL;
        /* Labels are already normalised. */
        if (syn_latex_normalize(en.text, &n2, NULL) == OCR_OK && strcmp(n2, en.text) == 0 &&
            en.w > 0 && en.h > 0)
            good++;
        free(n2);
        free(g);
    }
    TST_CHECK((size_t)good == nf, "%d/%zu formula labels normalised, images decode", good, nf);
    syn_bank_destroy(&b);
    syn_corpus_destroy(&corpus);

    static const syn_kind kinds[] = {SYN_KIND_FORMULA, SYN_KIND_INLINE};
    for (size_t k = 0; k < 2; k++) {
        syn_params p = syn_default_params();
        p.kind = kinds[k];
        p.bank_dir = dir;
        syn_ctx *c = NULL;
        st = syn_ctx_create(&c, &p, &e);
        TST_CHECK(st == OCR_OK, "%s context: %s", syn_kind_name(kinds[k]), e.msg);
        syn_gen *g1 = NULL, *g2 = NULL;
        syn_gen_create(&g1, c, 8, &e);
        syn_gen_create(&g2, c, 8, &e);
        int want_h = kinds[k] == SYN_KIND_FORMULA ? p.height_formula : p.height_inline;
        int same = 0, sized = 0, n = 4;
        for (int i = 0; g1 && g2 && i < n; i++) {
            syn_sample x, y;
            ocr_status s1 = syn_gen_sample(g1, (uint64_t)i, &x, &e);
            ocr_status s2 = syn_gen_sample(g2, (uint64_t)i, &y, &e);
            if (s1 == OCR_OK && s2 == OCR_OK) {
                same += samples_equal(&x, &y);
                sized += x.h == want_h && x.w <= p.max_width_math && syn_text_printable(x.text);
            } else {
                TST_CHECK(false, "%s sample %d: %s", syn_kind_name(kinds[k]), i, e.msg);
            }
            syn_sample_free(&x);
            syn_sample_free(&y);
        }
        TST_CHECK(same == n && sized == n, "%s: deterministic (%d/%d), %d px high (%d/%d)",
                  syn_kind_name(kinds[k]), same, n, want_h, sized, n);
        syn_gen_destroy(&g1);
        syn_gen_destroy(&g2);
        syn_ctx_destroy(&c);
    }

    /* fit_math: formulas wider than the width are scaled down to it (lower
     * than height_formula, as the recogniser reads them), never cut. */
    {
        syn_params p = syn_default_params();
        p.kind = SYN_KIND_FORMULA;
        p.bank_dir = dir;
        p.max_width_math = 3 * p.height_formula;
        p.fit_math = 4.0;
        syn_ctx *c = NULL;
        syn_gen *g = NULL;
        st = syn_ctx_create(&c, &p, &e);
        if (st == OCR_OK) st = syn_gen_create(&g, c, 9, &e);
        TST_CHECK(st == OCR_OK, "fit context: %s", e.msg);
        int n = 0, shrunk = 0, bad = 0;
        for (int i = 0; g && i < 16; i++) {
            syn_sample x;
            if (syn_gen_sample(g, (uint64_t)i, &x, &e) != OCR_OK) continue;
            n++;
            if (x.h < p.height_formula) shrunk++;
            /* lower only when at the full width, and never below 1/fit */
            if (x.w > p.max_width_math || x.h > p.height_formula ||
                (x.h < p.height_formula && x.w != p.max_width_math) ||
                x.h < (int)(p.height_formula / p.fit_math) - 1)
                bad++;
            syn_sample_free(&x);
        }
        TST_CHECK(n == 16 && shrunk > 0 && bad == 0,
                  "fit_math 4 at %d px: %d samples, %d scaled down, %d out of shape", p.max_width_math,
                  n, shrunk, bad);
        syn_gen_destroy(&g);
        syn_ctx_destroy(&c);
        p.fit_math = 0.5;
        TST_CHECK(syn_ctx_create(&c, &p, &e) == OCR_E_ARG && strstr(e.msg, "fit_math"),
                  "fit_math below 1 refused: %s", e.msg);
    }
}

/* ------------------------------------------------------- eval exclusion */

static char *strip_ws(const char *s)
{
    char *o = malloc(strlen(s) + 1), *p = o;
    if (!o) return NULL;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') *p++ = *s;
    *p = 0;
    return o;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_eval_exclusion(void)
{
    struct stat st;
    if (stat(EVAL_FORMULAS "/gt", &st) != 0) {
        tst_skip("eval exclusion", EVAL_FORMULAS " not present");
        return;
    }
    if (!have_corpus()) {
        tst_skip("eval exclusion", CORPUS " not found");
        return;
    }
    /* Keys of the eval ground truths: raw and normalised, whitespace
     * removed. Only compared against; never used as content. */
    char **keys = NULL;
    size_t nk = 0;
    static const char *const sub[] = {EVAL_FORMULAS "/gt", EVAL_FORMULAS "/gt_norm"};
    for (int s = 0; s < 2; s++) {
        DIR *d = opendir(sub[s]);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strstr(de->d_name, ".tex")) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", sub[s], de->d_name);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            char buf[8192];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            char *norm = NULL;
            syn_latex_normalize_lenient(buf, &norm, NULL);
            char **q = realloc(keys, (nk + 2) * sizeof *q);
            if (!q) break;
            keys = q;
            keys[nk++] = strip_ws(buf);
            keys[nk++] = strip_ws(norm ? norm : buf);
            free(norm);
        }
        if (d) closedir(d);
    }
    TST_CHECK(nk > 0, "eval formula ground truths found (%zu keys)", nk);
    qsort(keys, nk, sizeof *keys, cmp_str);
    syn_corpus *c = NULL;
    ocr_err e = {0};
    TST_CHECK(syn_corpus_load(&c, CORPUS, false, true, &e) == OCR_OK, "formula corpus: %s", e.msg);
    size_t checked = 0, hits = 0, step = sanitized() ? 3 : 1;
    for (int src = 0; c && src < SYN_N_FORM_SRC; src++) {
        size_t n = syn_corpus_n_formulas(c, src);
        for (size_t i = 0; i < n; i += step) {
            size_t len;
            const char *f = syn_corpus_formula(c, src, i, &len);
            char *raw = malloc(len + 1);
            if (!raw) break;
            memcpy(raw, f, len);
            raw[len] = 0;
            char *norm = NULL;
            /* What the bank would hold is the normalised form. */
            if (syn_latex_normalize(raw, &norm, NULL) == OCR_OK) {
                char *k = strip_ws(norm);
                if (k && bsearch(&k, keys, nk, sizeof *keys, cmp_str)) {
                    if (hits < 5) printf("  eval formula in corpus: %s\n", raw);
                    hits++;
                }
                free(k);
                checked++;
            }
            free(norm);
            free(raw);
        }
    }
    /* The grammar must not produce them either. */
    syn_rng r;
    syn_rng_init(&r, 1, 0);
    for (int i = 0; i < 2000; i++) {
        ocr_buf f = {0};
        syn_formula_random(&r, &f, i % 2);
        char *norm = NULL;
        if (syn_latex_normalize(ocr_buf_cstr(&f), &norm, NULL) == OCR_OK) {
            char *k = strip_ws(norm);
            if (k && bsearch(&k, keys, nk, sizeof *keys, cmp_str)) hits++;
            free(k);
            checked++;
        }
        free(norm);
        ocr_buf_free(&f);
    }
    TST_CHECK(checked > 10000, "checked %zu corpus and generated formulas", checked);
    TST_CHECK(hits == 0, "no eval formula in the bank sources (%zu hits)", hits);
    for (size_t i = 0; i < nk; i++) free(keys[i]);
    free(keys);
    syn_corpus_destroy(&c);
}

static void test_generated_formulas(void)
{
    /* The grammar's output always normalises (and so renders as labelled). */
    syn_rng r;
    syn_rng_init(&r, 5, 0);
    int ok = 0, n = 3000;
    for (int i = 0; i < n; i++) {
        ocr_buf f = {0};
        syn_formula_random(&r, &f, i % 3 == 0);
        char *norm = NULL;
        ok += syn_latex_normalize(ocr_buf_cstr(&f), &norm, NULL) == OCR_OK && norm && *norm;
        free(norm);
        ocr_buf_free(&f);
    }
    TST_CHECK(ok == n, "%d/%d generated formulas normalise", ok, n);
}

int main(void)
{
    TST_RUN(test_latex_normalize);
    TST_RUN(test_rng);
    TST_RUN(test_degradations);
    TST_RUN(test_generated_formulas);
    TST_RUN(test_fonts_split);
    TST_RUN(test_text_samples);
    TST_RUN(test_determinism);
    TST_RUN(test_files_and_sheet);
    TST_RUN(test_math_without_tex);
    TST_RUN(test_tex_bank);
    TST_RUN(test_eval_exclusion);
    return tst_finish();
}

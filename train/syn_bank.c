/* train/syn_bank.c — formulas and math lines rendered by real TeX, cached.
 *
 * TeX is far too slow to call per sample, so formulas are rendered in
 * batches (hundreds per latex + dvipng run, one preview page each) into
 * shard files on disk (train/cache/, ignored by git); training samples
 * read them from memory and degrade them on the fly. Each batch uses one
 * math font setup; setups rotate over batches.
 *
 * Ground truth is the normalised LaTeX (syn_latex_normalize), and what is
 * rendered is that same normalised string, so image and label cannot
 * disagree. A formula TeX rejects is dropped, found through the `l.N`
 * line of the error in the log (one formula per source line).
 *
 * Shard format (host byte order; the cache is machine-local):
 *   "SYNBANK1" u32 count, then per entry:
 *   u8 kind (0 formula, 1 inline) u8 setup u16 dpi u16 w u16 h i16 baseline
 *   u16 text_len u32 zlen, text bytes, zlib(w*h grey bytes)
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "train/syn.h"

extern char **environ;

/* Append-only: shards store the index. `cm` keeps OT1 text, so inline
 * lines (which need T1 for <, >, |) never use it. */
const syn_tex_setup syn_tex_setups[] = {
    {"cm", "\\usepackage{amsmath,amssymb}"},
    {"lmodern", "\\usepackage[T1]{fontenc}\\usepackage{lmodern}\\usepackage{amsmath,amssymb}"},
    {"times", "\\usepackage[T1]{fontenc}\\usepackage{amsmath,amssymb}\\usepackage{mathptmx}"},
    {"palatino", "\\usepackage[T1]{fontenc}\\usepackage{amsmath,amssymb}\\usepackage{mathpazo}"},
    {"txfonts", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage{txfonts}"},
    {"pxfonts", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage{pxfonts}"},
    {"newtx", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage{newtxtext,newtxmath}"},
    {"newpx", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage{newpxtext,newpxmath}"},
    {"libertine", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage{libertine}"
                  "\\usepackage[libertine]{newtxmath}"},
    {"fourier", "\\usepackage[T1]{fontenc}\\usepackage{amsmath,amssymb}\\usepackage{fourier}"},
    {"kpfonts", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage{kpfonts}"},
    {"euler", "\\usepackage[T1]{fontenc}\\usepackage{amsmath,amssymb}\\usepackage{palatino}"
              "\\usepackage{eulervm}"},
    {"cmbright", "\\usepackage[T1]{fontenc}\\usepackage{amsmath,amssymb}\\usepackage{cmbright}"},
    {"stix", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage{stix}"},
    {"charter", "\\usepackage[T1]{fontenc}\\usepackage{amsmath}\\usepackage[charter]{mathdesign}"},
};
const size_t syn_n_tex_setups = sizeof syn_tex_setups / sizeof syn_tex_setups[0];

#define MAX_SETUPS 32

syn_bank_params syn_bank_default_params(void)
{
    syn_bank_params p;
    memset(&p, 0, sizeof p);
    p.n_formula = 6000;
    p.n_inline = 3000;
    p.batch = 250;
    p.dpi = 300;
    p.threads = 2;
    p.seed = 1;
    p.p_generated = 0.15;
    p.timeout_s = 60; /* a batch of 250 takes ~3 s; more is a TeX loop */
    return p;
}

/* ------------------------------------------------------------ processes */

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/bin:/bin";
    char buf[1024];
    while (*path) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n + strlen(prog) + 2 < sizeof buf) {
            memcpy(buf, path, n);
            buf[n] = '/';
            strcpy(buf + n + 1, prog);
            if (access(buf, X_OK) == 0) return true;
        }
        path += n;
        if (*path == ':') path++;
    }
    return false;
}

bool syn_tex_available(char *why, size_t cap)
{
    bool latex = on_path("latex"), dvipng = on_path("dvipng");
    if (why && cap) {
        if (latex && dvipng) snprintf(why, cap, "latex and dvipng found");
        else
            snprintf(why, cap, "%s%s%s not on PATH (install with 'make train-deps')",
                     latex ? "" : "latex", !latex && !dvipng ? " and " : "", dvipng ? "" : "dvipng");
    }
    return latex && dvipng;
}

/* Run argv in `dir` with stdout/stderr to files there; kill after timeout.
 * Returns the exit status, or -1 (spawn failure / timeout). */
static int run_in(const char *dir, char *const argv[], const char *out_name, int timeout_s)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    struct timespec ts = {0, 20 * 1000 * 1000};
    long waited_ms = 0;
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (w < 0 && errno != EINTR) return -1;
        if (waited_ms > (long)timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        nanosleep(&ts, NULL);
        waited_ms += 20;
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (n < cap) break;
        cap *= 2;
        char *q = realloc(b, cap + 1);
        if (!q) {
            free(b);
            b = NULL;
        }
        b = q;
    }
    fclose(f);
    if (b) b[n] = 0;
    if (len) *len = n;
    return b;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char p[1200];
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static ocr_status mkdir_p(const char *path, ocr_err *e)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return ocr_err_set(e, OCR_E_IO, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return ocr_err_set(e, OCR_E_IO, "mkdir %s: %s", tmp, strerror(errno));
    return OCR_OK;
}

/* ------------------------------------------------------------ TeX source */

typedef struct {
    char *tex;    /* what TeX renders (body of the preview) */
    char *gt;     /* ground truth */
    int kind;     /* 0 formula, 1 inline */
} item;

static const double FORM_W[SYN_N_FORM_SRC] = {0.35, 0.2, 0.3, 0.15};

/* A normalised formula: from the corpus or the grammar. NULL if none. */
static char *pick_formula(syn_rng *r, const syn_corpus *c, const syn_bank_params *p,
                          size_t max_len)
{
    for (int tries = 0; tries < 40; tries++) {
        ocr_buf raw = {0};
        if (!c || syn_rng_chance(r, p->p_generated)) {
            syn_formula_random(r, &raw, max_len < 60);
        } else {
            int src = syn_rng_weighted(r, FORM_W, SYN_N_FORM_SRC);
            size_t n = syn_corpus_n_formulas(c, src), len;
            if (n == 0) {
                ocr_buf_free(&raw);
                continue;
            }
            const char *f = syn_corpus_formula(c, src, (size_t)syn_rng_next(r) % n, &len);
            if (len > max_len * 2) {
                ocr_buf_free(&raw);
                continue;
            }
            ocr_buf_put(&raw, f, len);
        }
        char *norm = NULL;
        bool ok = !raw.oom && syn_latex_normalize(ocr_buf_cstr(&raw), &norm, NULL) == OCR_OK;
        ocr_buf_free(&raw);
        if (ok && strlen(norm) >= 1 && strlen(norm) <= max_len) return norm;
        free(norm);
    }
    return NULL;
}

/* Text for an inline-math line: the label keeps the characters as they are
 * printed (curly quotes, dashes), the TeX source escapes them. Returns
 * false for characters T1 cannot set. */
static bool text_to_tex(const char *t, size_t n, ocr_buf *tex, ocr_buf *gt)
{
    size_t i = 0;
    while (i < n) {
        uint32_t c;
        int k = syn_utf8_decode(t + i, n - i, &c);
        if (k <= 0) return false;
        const char *seq = NULL, *g = NULL;
        switch (c) {
        case '\\': seq = "\\textbackslash{}"; break;
        case '{': seq = "\\{"; break;
        case '}': seq = "\\}"; break;
        case '$': seq = "\\$"; break;
        case '&': seq = "\\&"; break;
        case '#': seq = "\\#"; break;
        case '%': seq = "\\%"; break;
        case '_': seq = "\\_"; break;
        case '^': seq = "\\textasciicircum{}"; break;
        case '~': seq = "\\textasciitilde{}"; break;
        case '<': seq = "\\textless{}"; break;
        case '>': seq = "\\textgreater{}"; break;
        case '|': seq = "\\textbar{}"; break;
        case '"': seq = "\\textquotedbl{}"; break;
        /* Straight quotes would need TS1 glyphs that several text fonts
         * lack (newtx: a missing-font error); TeX sets ' and ` as curly
         * quotes, so that is what the label says. `{}` keeps pairs from
         * ligaturing into double quotes. */
        case '\'': seq = i + 1 < n && t[i + 1] == '\'' ? "'{}" : "'"; g = "’"; break;
        case '`': seq = i + 1 < n && t[i + 1] == '`' ? "`{}" : "`"; g = "‘"; break;
        case ',': seq = i + 1 < n && t[i + 1] == ',' ? ",{}" : ","; break;
        case '-': seq = i + 1 < n && t[i + 1] == '-' ? "-{}" : "-"; break;
        case 0x2013: seq = "--"; g = "–"; break;
        case 0x2014: seq = "---"; g = "—"; break;
        case 0x2018: seq = "`"; g = "‘"; break;
        case 0x2019: seq = "'"; g = "’"; break;
        case 0x201C: seq = "``"; g = "“"; break;
        case 0x201D: seq = "''"; g = "”"; break;
        case 0x2026: seq = "\\ldots{}"; g = "…"; break;
        case '!': case '?': seq = i + 1 < n && t[i + 1] == '`' ? (c == '!' ? "!{}" : "?{}") : NULL; break;
        default:
            /* Latin-1 letters work through inputenc + T1; the rest does not. */
            if (c > 0xFF || (c >= 0x80 && c < 0xC0 && c != 0xA0)) return false;
        }
        if (seq) ocr_buf_puts(tex, seq);
        else ocr_buf_put(tex, t + i, (size_t)k);
        if (g) ocr_buf_puts(gt, g);
        else ocr_buf_put(gt, t + i, (size_t)k);
        i += (size_t)k;
    }
    return true;
}

static bool make_inline(syn_rng *r, const syn_corpus *c, const syn_bank_params *p, item *it)
{
    static const double SRC_W[SYN_N_TEXT_SRC] = {0.3, 0.4, 0.2, 0.1};
    for (int tries = 0; tries < 20; tries++) {
        ocr_buf txt = {0};
        int src = syn_rng_weighted(r, SRC_W, SYN_N_TEXT_SRC);
        syn_text_snippet(r, c, src, 20, (size_t)syn_rng_between(r, 30, 80), false, &txt);
        if (txt.n < 10 || txt.oom) {
            ocr_buf_free(&txt);
            continue;
        }
        /* Word starts where math spans go. */
        size_t cuts[16], nc = 0;
        int spans = syn_rng_between(r, 1, 3);
        for (int s = 0; s < spans; s++) {
            size_t at = (size_t)syn_rng_next(r) % txt.n;
            while (at < txt.n && txt.p[at] != ' ') at++;
            if (at >= txt.n) at = txt.n;
            cuts[nc++] = at;
        }
        for (size_t a = 1; a < nc; a++) /* sort */
            for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
                size_t t = cuts[b];
                cuts[b] = cuts[b - 1];
                cuts[b - 1] = t;
            }
        ocr_buf tex = {0}, gt = {0};
        bool ok = true;
        size_t pos = 0;
        for (size_t s = 0; s < nc && ok; s++) {
            if (cuts[s] < pos) continue;
            ok = text_to_tex(txt.p + pos, cuts[s] - pos, &tex, &gt);
            char *f = pick_formula(r, c, p, 40);
            if (!f) {
                ok = false;
                break;
            }
            ocr_buf_printf(&tex, " $%s$", f);
            ocr_buf_printf(&gt, " $%s$", f);
            free(f);
            pos = cuts[s];
        }
        if (ok) ok = text_to_tex(txt.p + pos, txt.n - pos, &tex, &gt);
        ocr_buf_free(&txt);
        if (ok && !tex.oom && !gt.oom) {
            /* " $x$" at the start leaves a leading blank: trim. */
            char *g = ocr_buf_steal(&gt), *t = ocr_buf_steal(&tex);
            if (!g || !t) {
                free(g);
                free(t);
                return false;
            }
            size_t lead = strspn(g, " ");
            memmove(g, g + lead, strlen(g + lead) + 1);
            /* One line: a preview page of running text would wrap. */
            ocr_buf box = {0};
            ocr_buf_printf(&box, "\\mbox{%s}", t);
            free(t);
            t = ocr_buf_steal(&box);
            if (!t) {
                free(g);
                return false;
            }
            it->gt = g;
            it->tex = t;
            it->kind = 1;
            return true;
        }
        ocr_buf_free(&tex);
        ocr_buf_free(&gt);
    }
    return false;
}

static bool make_formula(syn_rng *r, const syn_corpus *c, const syn_bank_params *p, item *it)
{
    char *f = pick_formula(r, c, p, 300);
    if (!f) return false;
    ocr_buf tex = {0};
    /* Mostly display style; some text style, as inline formulas are cut
     * out of lines too. */
    ocr_buf_printf(&tex, syn_rng_chance(r, 0.75) ? "$\\displaystyle %s$" : "$%s$", f);
    if (tex.oom) {
        free(f);
        return false;
    }
    it->tex = ocr_buf_steal(&tex);
    it->gt = f;
    it->kind = 0;
    return true;
}

static void items_free(item *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].tex);
        free(v[i].gt);
    }
    free(v);
}

/* Write the .tex for the items whose keep[] is set; line_of[k] gets the
 * source line of item k. */
static bool write_tex(const char *path, int setup, const item *v, size_t n, const bool *keep,
                      int *line_of)
{
    FILE *f = fopen(path, "w");
    if (!f) return false;
    int line = 1;
    fprintf(f, "\\documentclass[10pt]{article}\n");
    line++;
    fprintf(f, "%s\n", syn_tex_setups[setup].preamble);
    line++;
    fprintf(f, "\\usepackage[active,tightpage]{preview}\\setlength{\\PreviewBorder}{0pt}\n");
    line++;
    fprintf(f, "\\begin{document}\n");
    line++;
    for (size_t k = 0; k < n; k++) {
        line_of[k] = -1;
        if (!keep[k]) continue;
        fprintf(f, "\\begin{preview}%s\\end{preview}\n", v[k].tex);
        line_of[k] = line++;
    }
    fprintf(f, "\\end{document}\n");
    return fclose(f) == 0;
}

/* Mark items whose source line TeX complained about. Returns how many
 * errors the log reports (marked or not). */
static int parse_log_errors(const char *log, const int *line_of, size_t n, bool *keep,
                            bool suspect_previous)
{
    int errors = 0;
    const char *p = log;
    while ((p = strstr(p, "\n! ")) != NULL) {
        errors++;
        const char *l = strstr(p, "\nl.");
        p += 3;
        if (!l) continue;
        int ln = atoi(l + 3);
        /* A runaway argument is reported on the line after its formula:
         * when an error survives a pass, drop the line before it too. */
        for (size_t k = 0; k < n; k++)
            if (line_of[k] == ln || (suspect_previous && line_of[k] == ln - 1)) keep[k] = false;
    }
    if (!strncmp(log, "! ", 2)) errors++;
    return errors;
}

static int log_pages(const char *log)
{
    const char *p = strstr(log, "Output written on ");
    if (!p) return 0;
    p = strchr(p, '(');
    return p ? atoi(p + 1) : 0;
}

/* ---------------------------------------------------------------- build */

typedef struct {
    const char *dir;
    const syn_bank_params *p;
    const syn_corpus *c;
    int setups[MAX_SETUPS];
    int n_setups, n_text_setups;
    int text_setups[MAX_SETUPS];
    int n_batches, n_fbatches;
    int next, done, failed;
    pthread_mutex_t mu;
    syn_bank_progress cb;
    void *user;
    ocr_status st;
    ocr_err err;
} build_job;

static void put_u16(ocr_buf *s, unsigned v)
{
    uint16_t x = (uint16_t)v;
    ocr_buf_put(s, (const char *)&x, 2);
}

static void put_u32(ocr_buf *s, uint32_t v) { ocr_buf_put(s, (const char *)&v, 4); }

static ocr_status build_batch(build_job *J, int b, ocr_err *e)
{
    const syn_bank_params *p = J->p;
    bool is_inline = b >= J->n_fbatches;
    char shard[1100];
    snprintf(shard, sizeof shard, "%s/%c%05d.syb", J->dir, is_inline ? 'i' : 'f',
             is_inline ? b - J->n_fbatches : b);
    if (access(shard, F_OK) == 0) return OCR_OK; /* resumable */
    int total = is_inline ? p->n_inline : p->n_formula;
    int first = (is_inline ? b - J->n_fbatches : b) * p->batch;
    size_t n = (size_t)(total - first < p->batch ? total - first : p->batch);
    int setup = is_inline ? J->text_setups[(b - J->n_fbatches) % J->n_text_setups]
                          : J->setups[b % J->n_setups];
    syn_rng r;
    syn_rng_init(&r, p->seed, ((uint64_t)(is_inline ? 2 : 1) << 40) + (uint64_t)b);
    item *v = calloc(n, sizeof *v);
    bool *keep = calloc(n, sizeof *keep);
    int *line_of = calloc(n, sizeof *line_of);
    if (!v || !keep || !line_of) {
        free(v);
        free(keep);
        free(line_of);
        return ocr_err_set(e, OCR_E_NOMEM, "syn_bank_build: out of memory");
    }
    for (size_t k = 0; k < n; k++)
        keep[k] = is_inline ? make_inline(&r, J->c, p, &v[k]) : make_formula(&r, J->c, p, &v[k]);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s/tmp-%c%05d-%ld", J->dir, is_inline ? 'i' : 'f', b, (long)getpid());
    rm_tree(tmp);
    ocr_status st = mkdir_p(tmp, e);
    char path[1200];
    char *log = NULL;
    int pages = 0;
    for (int pass = 0; st == OCR_OK && pass < 4; pass++) {
        snprintf(path, sizeof path, "%s/b.tex", tmp);
        if (!write_tex(path, setup, v, n, keep, line_of)) {
            st = ocr_err_set(e, OCR_E_IO, "syn_bank_build: cannot write %s", path);
            break;
        }
        char *argv[] = {"latex", "-interaction=batchmode", "-no-shell-escape", "b.tex", NULL};
        int rc = run_in(tmp, argv, "latex.out", p->timeout_s);
        free(log);
        snprintf(path, sizeof path, "%s/b.log", tmp);
        log = slurp(path, NULL);
        if (!log) {
            st = ocr_err_set(e, OCR_E_IO, "syn_bank_build: latex produced no log in %s (exit %d)",
                             tmp, rc);
            break;
        }
        int errors = parse_log_errors(log, line_of, n, keep, pass > 0);
        pages = log_pages(log);
        if (errors == 0 && rc == 0) break;
        /* Killed at the time limit (a formula that sends TeX into a loop)
         * or not started: the same input would do the same again. */
        if (rc < 0) {
            pages = -1;
            break;
        }
        if (pass == 3) pages = -1; /* still failing: give up on this batch */
    }
    size_t kept = 0;
    for (size_t k = 0; k < n; k++) kept += keep[k];
    ocr_buf out = {0};
    ocr_buf_puts(&out, "SYNBANK1");
    put_u32(&out, 0);
    uint32_t count = 0;
    if (st == OCR_OK && pages > 0 && (size_t)pages == kept) {
        char dpi[16];
        snprintf(dpi, sizeof dpi, "%d", p->dpi);
        char *argv[] = {"dvipng", "-q", "-D", dpi, "--depth", "--height", "-bg", "White",
                        "-z", "1", "-o", "p%05d.png", "b.dvi", NULL};
        int rc = run_in(tmp, argv, "dvipng.out", p->timeout_s);
        snprintf(path, sizeof path, "%s/dvipng.out", tmp);
        char *rep = slurp(path, NULL);
        const char *q = rep;
        int page = 0;
        for (size_t k = 0; rc == 0 && rep && k < n; k++) {
            if (!keep[k]) continue;
            page++;
            const char *dp = q ? strstr(q, "depth=") : NULL;
            const char *hp = dp ? strstr(dp, "height=") : NULL;
            if (!hp) break;
            int depth = atoi(dp + 6), height = atoi(hp + 7);
            q = hp + 7;
            snprintf(path, sizeof path, "%s/p%05d.png", tmp, page);
            PIX *pix = pixRead(path);
            if (!pix) continue;
            PIX *g8 = pixConvertTo8(pix, 0);
            pixDestroy(&pix);
            if (!g8) continue;
            int w = pixGetWidth(g8), h = pixGetHeight(g8);
            /* Keep only what can be used: some ink, a sane size, and an
             * aspect that fits a crop of the widest setting. */
            l_int32 minv = 255;
            pixGetExtremeValue(g8, 1, L_SELECT_MIN, NULL, NULL, NULL, &minv);
            if (minv > 160 || w < 2 || h < 2 || w > 65535 || h > 65535 || height < -32768 ||
                height > 32767 || (double)w / (h > 40 ? h : 40) > 40) {
                pixDestroy(&g8);
                continue;
            }
            uLong raw = (uLong)w * (uLong)h;
            uint8_t *gray = malloc(raw);
            uLongf zcap = compressBound(raw);
            uint8_t *z = malloc(zcap);
            if (!gray || !z) {
                free(gray);
                free(z);
                pixDestroy(&g8);
                st = ocr_err_set(e, OCR_E_NOMEM, "syn_bank_build: out of memory");
                break;
            }
            const l_uint32 *d = pixGetData(g8);
            int wpl = pixGetWpl(g8);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    gray[(size_t)y * w + x] = (uint8_t)GET_DATA_BYTE(d + (size_t)y * wpl, x);
            pixDestroy(&g8);
            if (compress2(z, &zcap, gray, raw, 6) == Z_OK && strlen(v[k].gt) < 65535) {
                ocr_buf_putc(&out, (char)v[k].kind);
                ocr_buf_putc(&out, (char)setup);
                put_u16(&out, (unsigned)p->dpi);
                put_u16(&out, (unsigned)w);
                put_u16(&out, (unsigned)h);
                put_u16(&out, (unsigned)(uint16_t)(int16_t)height);
                put_u16(&out, (unsigned)strlen(v[k].gt));
                put_u32(&out, (uint32_t)zcap);
                ocr_buf_puts(&out, v[k].gt);
                ocr_buf_put(&out, (const char *)z, zcap);
                count++;
            }
            (void)depth;
            free(gray);
            free(z);
        }
        free(rep);
    }
    free(log);
    items_free(v, n);
    free(keep);
    free(line_of);
    rm_tree(tmp);
    if (st == OCR_OK && out.oom) st = ocr_err_set(e, OCR_E_NOMEM, "syn_bank_build: out of memory");
    if (st == OCR_OK) {
        memcpy(out.p + 8, &count, 4);
        st = ocr_file_write_atomic(shard, out.p, out.n, e);
    }
    ocr_buf_free(&out);
    if (st == OCR_OK && count == 0) return OCR_E_FORMAT; /* counted as failed */
    return st;
}

static void *build_worker(void *arg)
{
    build_job *J = arg;
    for (;;) {
        pthread_mutex_lock(&J->mu);
        int b = J->st == OCR_OK && J->next < J->n_batches ? J->next++ : -1;
        pthread_mutex_unlock(&J->mu);
        if (b < 0) break;
        ocr_err e = {0};
        ocr_status st = build_batch(J, b, &e);
        pthread_mutex_lock(&J->mu);
        J->done++;
        if (st == OCR_E_FORMAT) J->failed++;
        else if (st != OCR_OK && J->st == OCR_OK) {
            J->st = st;
            J->err = e;
        }
        if (J->cb) J->cb(J->user, J->done, J->n_batches, J->failed);
        pthread_mutex_unlock(&J->mu);
    }
    return NULL;
}

/* Which setups compile here: one small document per setup. */
static bool setup_wanted(const char *list, const char *name)
{
    if (!list) return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && !strncmp(p, name, n)) return true;
        p += k;
        if (*p == ',') p++;
    }
    return false;
}

static int probe_setups(const char *dir, const char *wanted, int *ok, int timeout_s)
{
    static const char probe[] =
        "$\\displaystyle \\mathbb{R}\\ni x\\leq\\frac{1}{2}\\sum_{i=1}^{n}\\alpha_{i}^{2}"
        "+\\mathcal{L}\\boldsymbol{x}\\begin{pmatrix}a\\\\b\\end{pmatrix}\\text{ if }y$";
    int n = 0;
    char tmp[1100], path[1200];
    snprintf(tmp, sizeof tmp, "%s/tmp-probe-%ld", dir, (long)getpid());
    for (size_t s = 0; s < syn_n_tex_setups && n < MAX_SETUPS; s++) {
        if (!setup_wanted(wanted, syn_tex_setups[s].name)) continue;
        rm_tree(tmp);
        if (mkdir(tmp, 0755) != 0) break;
        snprintf(path, sizeof path, "%s/b.tex", tmp);
        FILE *f = fopen(path, "w");
        if (!f) break;
        fprintf(f, "\\documentclass[10pt]{article}\n%s\n\\usepackage[active,tightpage]{preview}\n"
                   "\\begin{document}\n\\begin{preview}%s\\end{preview}\n"
                   "\\begin{preview}Text ``with'' <|> --- $x$\\end{preview}\n\\end{document}\n",
                syn_tex_setups[s].preamble, probe);
        fclose(f);
        char *argv[] = {"latex", "-interaction=batchmode", "-no-shell-escape", "b.tex", NULL};
        int rc = run_in(tmp, argv, "latex.out", timeout_s);
        snprintf(path, sizeof path, "%s/b.log", tmp);
        char *log = slurp(path, NULL);
        if (rc == 0 && log && !strstr(log, "\n! ") && log_pages(log) == 2) {
            char *argv2[] = {"dvipng", "-q", "-D", "100", "-o", "p%d.png", "b.dvi", NULL};
            if (run_in(tmp, argv2, "dvipng.out", timeout_s) == 0) ok[n++] = (int)s;
        }
        free(log);
    }
    rm_tree(tmp);
    return n;
}

ocr_status syn_bank_build(const char *dir, const syn_bank_params *p, const syn_corpus *c,
                          syn_bank_progress cb, void *user, ocr_err *e)
{
    if (!dir || !p || p->batch < 1 || p->batch > 5000 || p->dpi < 50 || p->dpi > 1200 ||
        p->n_formula < 0 || p->n_inline < 0 || p->threads < 1)
        return ocr_err_set(e, OCR_E_ARG, "syn_bank_build: bad parameters");
    char why[256];
    if (!syn_tex_available(why, sizeof why))
        return ocr_err_set(e, OCR_E_UNSUPPORTED, "syn_bank_build: %s", why);
    if (p->n_inline > 0 && !c)
        return ocr_err_set(e, OCR_E_ARG, "syn_bank_build: inline lines need the text corpus");
    ocr_status st = mkdir_p(dir, e);
    if (st != OCR_OK) return ocr_err_prefix(e, "syn_bank_build");
    build_job J;
    memset(&J, 0, sizeof J);
    J.dir = dir;
    J.p = p;
    J.c = c;
    J.cb = cb;
    J.user = user;
    /* The meta file pins what the shards were made with. */
    char meta_path[1100];
    snprintf(meta_path, sizeof meta_path, "%s/bank.meta", dir);
    char *old = slurp(meta_path, NULL);
    if (old) {
        char key[64];
        snprintf(key, sizeof key, "seed %llu ", (unsigned long long)p->seed);
        const char *sl = strstr(old, "setups ");
        int n = 0;
        if (sl) {
            sl += 7;
            while (*sl && *sl != '\n' && n < MAX_SETUPS) {
                char name[32];
                size_t k = strcspn(sl, ",\n");
                snprintf(name, sizeof name, "%.*s", (int)(k < 31 ? k : 31), sl);
                for (size_t s = 0; s < syn_n_tex_setups; s++)
                    if (!strcmp(name, syn_tex_setups[s].name)) J.setups[n++] = (int)s;
                sl += k;
                if (*sl == ',') sl++;
            }
        }
        char want[256];
        snprintf(want, sizeof want, "vlocr-syn-bank 1\nseed %llu formula %d inline %d batch %d "
                 "dpi %d generated %.3f\n", (unsigned long long)p->seed, p->n_formula, p->n_inline,
                 p->batch, p->dpi, p->p_generated);
        bool same = strncmp(old, want, strlen(want)) == 0;
        free(old);
        if (!same)
            return ocr_err_set(e, OCR_E_ARG,
                               "syn_bank_build: %s holds a bank built with other parameters; "
                               "remove the folder or choose another one", dir);
        J.n_setups = n;
    } else {
        /* the first run of a setup may build its fonts: a longer limit */
        J.n_setups = probe_setups(dir, p->setups, J.setups, p->timeout_s > 180 ? p->timeout_s : 180);
        if (J.n_setups == 0)
            return ocr_err_set(e, OCR_E_UNSUPPORTED,
                               "syn_bank_build: no math font setup compiles (is texlive "
                               "installed? run 'make train-deps')");
        ocr_buf m = {0};
        ocr_buf_printf(&m, "vlocr-syn-bank 1\nseed %llu formula %d inline %d batch %d dpi %d "
                       "generated %.3f\nsetups ", (unsigned long long)p->seed, p->n_formula,
                       p->n_inline, p->batch, p->dpi, p->p_generated);
        for (int s = 0; s < J.n_setups; s++)
            ocr_buf_printf(&m, "%s%s", s ? "," : "", syn_tex_setups[J.setups[s]].name);
        ocr_buf_putc(&m, '\n');
        st = m.oom ? ocr_err_set(e, OCR_E_NOMEM, "syn_bank_build: out of memory")
                   : ocr_file_write_atomic(meta_path, m.p, m.n, e);
        ocr_buf_free(&m);
        if (st != OCR_OK) return st;
    }
    for (int s = 0; s < J.n_setups; s++)
        if (strcmp(syn_tex_setups[J.setups[s]].name, "cm") != 0) J.text_setups[J.n_text_setups++] = J.setups[s];
    if (J.n_text_setups == 0) J.text_setups[J.n_text_setups++] = J.setups[0];
    J.n_fbatches = (p->n_formula + p->batch - 1) / p->batch;
    J.n_batches = J.n_fbatches + (p->n_inline + p->batch - 1) / p->batch;
    pthread_mutex_init(&J.mu, NULL);
    int nt = p->threads > 64 ? 64 : p->threads;
    pthread_t th[64];
    int started = 0;
    for (int i = 0; i < nt; i++)
        if (pthread_create(&th[i], NULL, build_worker, &J) == 0) started++;
    if (started == 0) build_worker(&J);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    pthread_mutex_destroy(&J.mu);
    if (J.st != OCR_OK) {
        if (e) *e = J.err;
        return J.st;
    }
    if (J.failed == J.n_batches && J.n_batches > 0)
        return ocr_err_set(e, OCR_E_FORMAT, "syn_bank_build: every TeX batch failed (see a "
                                            "batch by hand: latex on the formulas)");
    return OCR_OK;
}

/* ----------------------------------------------------------------- load */

typedef struct {
    const uint8_t *text;
    const uint8_t *z;
    uint32_t zlen;
    uint16_t w, h, dpi, tlen;
    int16_t baseline;
    uint8_t kind, setup;
} bank_ent;

struct syn_bank {
    char *texts; /* every entry's label, NUL-terminated, back to back */
    uint8_t **files;
    size_t n_files;
    bank_ent *ents;
    size_t n;
    size_t *by_kind[2];
    size_t n_kind[2];
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

ocr_status syn_bank_open(syn_bank **out, const char *dir, ocr_err *e)
{
    *out = NULL;
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return ocr_err_set(e, OCR_E_NOTFOUND, "syn_bank_open: %s: %s", dir ? dir : "(null)",
                           strerror(errno));
    char **names = NULL;
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l != 10 || strcmp(de->d_name + 6, ".syb") != 0) continue;
        char **q = realloc(names, (nn + 1) * sizeof *q);
        if (!q) break;
        names = q;
        names[nn] = strdup(de->d_name);
        if (names[nn]) nn++;
    }
    closedir(d);
    if (nn == 0) {
        free(names);
        return ocr_err_set(e, OCR_E_NOTFOUND, "syn_bank_open: %s holds no bank shards", dir);
    }
    qsort(names, nn, sizeof *names, cmp_names);
    syn_bank *B = calloc(1, sizeof *B);
    ocr_status st = B ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "syn_bank_open: out of memory");
    if (B) B->files = calloc(nn, sizeof *B->files);
    if (B && !B->files) st = ocr_err_set(e, OCR_E_NOMEM, "syn_bank_open: out of memory");
    size_t cap = 0;
    for (size_t i = 0; i < nn && st == OCR_OK; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        uint8_t *buf = NULL;
        size_t len = 0;
        st = ocr_file_read(path, (size_t)1 << 31, &buf, &len, e);
        if (st != OCR_OK) break;
        B->files[B->n_files++] = buf;
        if (len < 12 || memcmp(buf, "SYNBANK1", 8) != 0) {
            st = ocr_err_set(e, OCR_E_FORMAT, "syn_bank_open: %s: not a bank shard", path);
            break;
        }
        uint32_t count;
        memcpy(&count, buf + 8, 4);
        size_t off = 12;
        for (uint32_t k = 0; k < count; k++) {
            if (off + 18 > len) {
                st = ocr_err_set(e, OCR_E_FORMAT, "syn_bank_open: %s: truncated entry %u", path, k);
                break;
            }
            bank_ent en;
            en.kind = buf[off];
            en.setup = buf[off + 1];
            memcpy(&en.dpi, buf + off + 2, 2);
            memcpy(&en.w, buf + off + 4, 2);
            memcpy(&en.h, buf + off + 6, 2);
            memcpy(&en.baseline, buf + off + 8, 2);
            memcpy(&en.tlen, buf + off + 10, 2);
            memcpy(&en.zlen, buf + off + 12, 4);
            off += 16;
            if (en.kind > 1 || en.setup >= syn_n_tex_setups || en.w == 0 || en.h == 0 ||
                en.dpi == 0 || off + en.tlen + (size_t)en.zlen > len) {
                st = ocr_err_set(e, OCR_E_FORMAT, "syn_bank_open: %s: bad entry %u", path, k);
                break;
            }
            en.text = buf + off;
            en.z = buf + off + en.tlen;
            off += en.tlen + (size_t)en.zlen;
            if (B->n == cap) {
                cap = cap ? cap * 2 : 1024;
                bank_ent *q = realloc(B->ents, cap * sizeof *q);
                if (!q) {
                    st = ocr_err_set(e, OCR_E_NOMEM, "syn_bank_open: out of memory");
                    break;
                }
                B->ents = q;
            }
            B->ents[B->n++] = en;
        }
    }
    for (size_t i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (st == OCR_OK) {
        for (int k = 0; k < 2 && st == OCR_OK; k++) {
            B->by_kind[k] = malloc((B->n ? B->n : 1) * sizeof(size_t));
            if (!B->by_kind[k]) st = ocr_err_set(e, OCR_E_NOMEM, "syn_bank_open: out of memory");
        }
        for (size_t i = 0; st == OCR_OK && i < B->n; i++) {
            int k = B->ents[i].kind;
            B->by_kind[k][B->n_kind[k]++] = i;
        }
        if (st == OCR_OK && B->n == 0)
            st = ocr_err_set(e, OCR_E_NOTFOUND, "syn_bank_open: %s: the bank is empty", dir);
        /* Labels are stored unterminated in the shards; give each a
         * terminated copy so syn_bank_get can hand out plain strings. */
        size_t total = 0;
        for (size_t i = 0; st == OCR_OK && i < B->n; i++) total += B->ents[i].tlen + 1u;
        if (st == OCR_OK && !(B->texts = malloc(total ? total : 1)))
            st = ocr_err_set(e, OCR_E_NOMEM, "syn_bank_open: out of memory");
        for (size_t i = 0, off = 0; st == OCR_OK && i < B->n; i++) {
            memcpy(B->texts + off, B->ents[i].text, B->ents[i].tlen);
            B->texts[off + B->ents[i].tlen] = 0;
            B->ents[i].text = (const uint8_t *)(B->texts + off);
            off += B->ents[i].tlen + 1u;
        }
    }
    if (st != OCR_OK) {
        syn_bank_destroy(&B);
        return st;
    }
    *out = B;
    return OCR_OK;
}

void syn_bank_destroy(syn_bank **pb)
{
    if (!pb || !*pb) return;
    syn_bank *B = *pb;
    for (size_t i = 0; i < B->n_files; i++) free(B->files[i]);
    free(B->files);
    free(B->texts);
    free(B->ents);
    free(B->by_kind[0]);
    free(B->by_kind[1]);
    free(B);
    *pb = NULL;
}

size_t syn_bank_count(const syn_bank *b, syn_kind kind)
{
    if (!b) return 0;
    if (kind == SYN_KIND_FORMULA) return b->n_kind[0];
    if (kind == SYN_KIND_INLINE) return b->n_kind[1];
    return 0;
}

ocr_status syn_bank_get(const syn_bank *b, syn_kind kind, size_t i, syn_bank_entry *ent,
                        uint8_t **gray, ocr_err *e)
{
    if (gray) *gray = NULL;
    int k = kind == SYN_KIND_FORMULA ? 0 : kind == SYN_KIND_INLINE ? 1 : -1;
    if (!b || k < 0 || i >= b->n_kind[k])
        return ocr_err_set(e, OCR_E_ARG, "syn_bank_get: no %s entry %zu", syn_kind_name(kind), i);
    const bank_ent *en = &b->ents[b->by_kind[k][i]];
    ent->text = (const char *)en->text;
    ent->kind = kind;
    ent->setup = en->setup;
    ent->w = en->w;
    ent->h = en->h;
    ent->baseline = en->baseline;
    ent->dpi = en->dpi;
    if (gray) {
        uLongf n = (uLongf)en->w * en->h;
        uint8_t *g = malloc(n);
        if (!g) return ocr_err_set(e, OCR_E_NOMEM, "syn_bank_get: out of memory");
        if (uncompress(g, &n, en->z, en->zlen) != Z_OK || n != (uLongf)en->w * en->h) {
            free(g);
            return ocr_err_set(e, OCR_E_FORMAT, "syn_bank_get: %s entry %zu: corrupt image",
                               syn_kind_name(kind), i);
        }
        *gray = g;
    }
    return OCR_OK;
}

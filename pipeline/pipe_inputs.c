/* pipeline/pipe_inputs.c — the command line of a batch as a list of
 * documents: page selections ("1-5,9"), files, directories walked
 * recursively with include/exclude globs, @list files, stdin; and the
 * output paths of each document (OUTDIR mirrors the input tree).
 *
 * Nothing here opens an image: page counts are learnt by the runner when
 * it opens a document, so that expanding a tree of thousands of scans
 * costs one directory listing, not one decode per file. The walk is
 * deterministic (names in byte order), so two runs over the same tree,
 * and -j 1 and -j 8, see the same documents in the same order and give
 * them the same output names. */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "pipeline/pipe.h"

/* ------------------------------------------------------------- helpers */

static char *OCR_PRINTF(1, 2) xfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *xdup(const char *s) { return s ? xfmt("%s", s) : NULL; }

/* --------------------------------------------------------- page ranges */

/* Parse a positive decimal at s[0..n); false when it is not one. */
static bool parse_page_no(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 9) return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = (int)v;
    return true;
}

ocr_status pipe_pages_parse(pipe_pages *sel, const char *spec, ocr_err *e)
{
    memset(sel, 0, sizeof *sel);
    if (!spec) return OCR_OK;
    size_t len = strlen(spec);
    bool any = false;
    for (size_t i = 0; i < len; i++) any = any || (spec[i] != ' ' && spec[i] != '\t');
    if (!any) return OCR_OK;
    int cap = 1;
    for (size_t i = 0; i < len; i++) cap += spec[i] == ',';
    sel->v = calloc((size_t)cap, sizeof *sel->v);
    if (!sel->v) return ocr_err_set(e, OCR_E_NOMEM, "pages: out of memory");
    const char *p = spec;
    while (true) {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        const char *a = p;
        while (n && (*a == ' ' || *a == '\t')) a++, n--;
        while (n && (a[n - 1] == ' ' || a[n - 1] == '\t')) n--;
        char item[64];
        snprintf(item, sizeof item, "%.*s", (int)(n < 40 ? n : 40), a);
        if (n == 0) {
            pipe_pages_free(sel);
            return ocr_err_set(e, OCR_E_ARG, "pages: empty item in '%s' (expected e.g. 1-5,9)", spec);
        }
        const char *dash = memchr(a, '-', n);
        int lo, hi;
        if (!dash) {
            if (!parse_page_no(a, n, &lo)) {
                pipe_pages_free(sel);
                return ocr_err_set(e, OCR_E_ARG, "pages: '%s' is not a page number or a range (e.g. 1-5,9)",
                                   item);
            }
            hi = lo;
        } else {
            size_t nl = (size_t)(dash - a), nh = n - nl - 1;
            if (!parse_page_no(a, nl, &lo) || (nh && !parse_page_no(dash + 1, nh, &hi))) {
                pipe_pages_free(sel);
                return ocr_err_set(e, OCR_E_ARG, "pages: '%s' is not a page number or a range (e.g. 1-5,9)",
                                   item);
            }
            if (!nh) hi = INT_MAX;
        }
        if (lo < 1 || hi < 1) {
            pipe_pages_free(sel);
            return ocr_err_set(e, OCR_E_ARG, "pages: '%s': pages count from 1", item);
        }
        if (hi < lo) {
            pipe_pages_free(sel);
            return ocr_err_set(e, OCR_E_ARG, "pages: '%s' is not a range (%d > %d)", item, lo, hi);
        }
        sel->v[sel->n].lo = lo;
        sel->v[sel->n].hi = hi;
        sel->n++;
        if (!q) break;
        p = q + 1;
    }
    return OCR_OK;
}

bool pipe_pages_has(const pipe_pages *sel, int page)
{
    if (!sel || sel->n == 0) return true;
    for (int i = 0; i < sel->n; i++)
        if (page >= sel->v[i].lo && page <= sel->v[i].hi) return true;
    return false;
}

void pipe_pages_free(pipe_pages *sel)
{
    if (!sel) return;
    free(sel->v);
    memset(sel, 0, sizeof *sel);
}

/* -------------------------------------------------------------- the list */

bool pipe_inputs_note(pipe_inputs *in, const char *fmt, ...)
{
    if (in->n_notes == in->cap_notes) {
        int nc = in->cap_notes ? in->cap_notes * 2 : 8;
        char **v = realloc(in->notes, (size_t)nc * sizeof *v);
        if (!v) return false;
        in->notes = v;
        in->cap_notes = nc;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return false;
    char *s = malloc((size_t)n + 1);
    if (!s) return false;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    in->notes[in->n_notes++] = s;
    return true;
}

static void input_free(pipe_input *x)
{
    free(x->path);
    free(x->rel);
    free(x->error);
    for (int f = 0; f < PIPE_FMT_COUNT; f++) free(x->out[f]);
    free(x->base);
    free(x->images_dir);
    free(x->images_link);
    free(x->overlay_dir);
    memset(x, 0, sizeof *x);
}

void pipe_inputs_free(pipe_inputs *in)
{
    if (!in) return;
    for (int i = 0; i < in->n; i++) input_free(&in->v[i]);
    free(in->v);
    for (int i = 0; i < in->n_notes; i++) free(in->notes[i]);
    free(in->notes);
    memset(in, 0, sizeof *in);
}

/* Append a document (path and rel copied; error may be NULL). */
static bool add(pipe_inputs *in, const char *path, const char *rel, const char *error)
{
    if (in->n == in->cap) {
        int nc = in->cap ? in->cap * 2 : 16;
        pipe_input *v = realloc(in->v, (size_t)nc * sizeof *v);
        if (!v) return false;
        in->v = v;
        in->cap = nc;
    }
    pipe_input *x = &in->v[in->n];
    memset(x, 0, sizeof *x);
    x->path = xdup(path);
    x->rel = xdup(rel);
    x->error = error ? xdup(error) : NULL;
    if (!x->path || !x->rel || (error && !x->error)) {
        input_free(x);
        return false;
    }
    in->n++;
    return true;
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    return path + b;
}

/* A plain file argument: named by its base name. */
static bool add_file(pipe_inputs *in, const char *path)
{
    if (!strcmp(path, "-")) return add(in, "-", "stdin", NULL);
    const char *b = base_name(path);
    size_t n = strlen(b);
    while (n > 1 && b[n - 1] == '/') n--;
    char *rel = xfmt("%.*s", (int)n, b);
    if (!rel) return false;
    bool ok = add(in, path, *rel ? rel : path, NULL);
    free(rel);
    return ok;
}

/* --------------------------------------------------------------- the walk */

typedef struct {
    pipe_inputs *in;
    const pipe_inputs_params *p;
    struct stat skip; /* skip_dir's identity when have_skip */
    bool have_skip;
    bool oom;
} walker;

static bool glob_match(const char *pat, const char *rel)
{
    if (fnmatch(pat, rel, 0) == 0) return true;
    return !strchr(pat, '/') && fnmatch(pat, base_name(rel), 0) == 0;
}

static bool any_match(const char *const *pats, int n, const char *rel)
{
    for (int i = 0; i < n; i++)
        if (pats[i] && glob_match(pats[i], rel)) return true;
    return false;
}

static bool image_ext(const char *name)
{
    static const char *ext[] = {"png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp", "pnm",
                                "pbm", "pgm", "ppm", "gif", "jp2", "j2k", "pdf"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return false;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot + 1, ext[i])) return true;
    return false;
}

static bool want_file(const walker *w, const char *rel)
{
    const pipe_inputs_params *p = w->p;
    bool in = p && p->n_include > 0 ? any_match(p->include, p->n_include, rel) : image_ext(rel);
    return in && !(p && any_match(p->exclude, p->n_exclude, rel));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A failed entry "<path>: <what>: <strerror(err)>". */
static void fail_entry(walker *w, const char *path, const char *rel, const char *what, int err)
{
    char *msg = xfmt("%s: %s: %s", path, what, strerror(err));
    if (!msg || !add(w->in, path, *rel ? rel : base_name(path), msg)) w->oom = true;
    free(msg);
}

/* Walk `dir` (its path under the directory argument is `rel`, "" at the
 * top); append what it holds in byte order of names. */
static void walk(walker *w, const char *dir, const char *rel, int depth)
{
    if (w->oom) return;
    if (depth > 256) {
        if (!add(w->in, dir, *rel ? rel : base_name(dir), "directory tree deeper than 256 levels"))
            w->oom = true;
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fail_entry(w, dir, rel, "cannot read directory", errno);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue; /* ".", "..", hidden */
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **v = realloc(names, nc * sizeof *v);
            if (!v) {
                w->oom = true;
                break;
            }
            names = v;
            cap = nc;
        }
        if (!(names[n] = xdup(de->d_name))) {
            w->oom = true;
            break;
        }
        n++;
        errno = 0;
    }
    int read_err = de == NULL ? errno : 0;
    closedir(d);
    if (!w->oom && read_err) fail_entry(w, dir, rel, "cannot read directory", read_err);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    size_t dl = strlen(dir);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    for (size_t i = 0; i < n && !w->oom; i++) {
        char *path = xfmt("%s%s%s", dir, slash ? "" : "/", names[i]);
        char *r = *rel ? xfmt("%s/%s", rel, names[i]) : xdup(names[i]);
        if (!path || !r) {
            w->oom = true;
        } else {
            struct stat ls, st;
            if (lstat(path, &ls) != 0) {
                /* ENOENT: vanished since readdir, nothing to do. */
                if (errno != ENOENT) fail_entry(w, path, r, "cannot read", errno);
            } else if (S_ISLNK(ls.st_mode)) {
                if (stat(path, &st) != 0) {
                    if (want_file(w, r) && !add(w->in, path, r, NULL)) w->oom = true; /* dangling: fails by name */
                } else if (S_ISDIR(st.st_mode)) {
                    if (!pipe_inputs_note(w->in, "%s: symbolic link to a directory, not followed", path))
                        w->oom = true;
                } else if (S_ISREG(st.st_mode) && want_file(w, r) && !add(w->in, path, r, NULL)) {
                    w->oom = true;
                }
            } else if (S_ISDIR(ls.st_mode)) {
                bool skip = w->have_skip && ls.st_dev == w->skip.st_dev && ls.st_ino == w->skip.st_ino;
                if (!skip && w->p && any_match(w->p->exclude, w->p->n_exclude, r)) skip = true;
                if (!skip) walk(w, path, r, depth + 1);
            } else if (S_ISREG(ls.st_mode) && want_file(w, r) && !add(w->in, path, r, NULL)) {
                w->oom = true;
            }
        }
        free(path);
        free(r);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* One argument (a path or "-"): a directory is walked, else a file. */
static void expand_one(walker *w, const char *arg)
{
    struct stat st;
    if (strcmp(arg, "-") != 0 && stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        w->in->from_dirs = true;
        walk(w, arg, "", 0);
    } else if (!add_file(w->in, arg)) {
        w->oom = true;
    }
}

/* "@FILE": one path per line. */
static void expand_list(walker *w, const char *list)
{
    w->in->from_dirs = true;
    uint8_t *buf = NULL;
    size_t len = 0;
    ocr_err le = {0};
    if (ocr_file_read(list, (size_t)1 << 30, &buf, &len, &le) != OCR_OK) {
        char msg[1100];
        snprintf(msg, sizeof msg, "list file %s", le.msg);
        if (!add(w->in, list, base_name(list), msg)) w->oom = true;
        return;
    }
    char *s = (char *)buf;
    for (size_t i = 0; i < len && !w->oom;) {
        size_t j = i;
        while (j < len && s[j] != '\n') j++;
        size_t a = i, b = j;
        while (a < b && (s[a] == ' ' || s[a] == '\t')) a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) b--;
        if (b > a && s[a] != '#') {
            char *path = xfmt("%.*s", (int)(b - a), s + a);
            if (!path) w->oom = true;
            else if (memchr(path, 0, b - a)) {
                if (!add(w->in, list, base_name(list), "list file holds a NUL byte")) w->oom = true;
            } else {
                expand_one(w, path);
            }
            free(path);
        }
        i = j + 1;
    }
    free(buf);
}

typedef struct {
    const char *path;
    int idx;
} path_idx;

static int cmp_path_idx(const void *a, const void *b)
{
    const path_idx *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Keep the first of documents with the same path (stdin is never a
 * duplicate of anything but stdin, which can be read once). */
static bool dedupe(pipe_inputs *in)
{
    if (in->n < 2) return true;
    path_idx *v = malloc((size_t)in->n * sizeof *v);
    bool *drop = calloc((size_t)in->n, sizeof *drop);
    if (!v || !drop) {
        free(v);
        free(drop);
        return false;
    }
    for (int i = 0; i < in->n; i++) v[i] = (path_idx){in->v[i].path, i};
    qsort(v, (size_t)in->n, sizeof *v, cmp_path_idx);
    bool ok = true;
    for (int i = 1; i < in->n; i++)
        if (!strcmp(v[i].path, v[i - 1].path) && !in->v[v[i].idx].error) {
            drop[v[i].idx] = true;
            ok = ok && pipe_inputs_note(in, "%s: given more than once; read once",
                                        !strcmp(v[i].path, "-") ? "<stdin>" : v[i].path);
        }
    free(v);
    int k = 0;
    for (int i = 0; i < in->n; i++) {
        if (drop[i]) input_free(&in->v[i]);
        else in->v[k++] = in->v[i];
    }
    in->n = k;
    free(drop);
    return ok;
}

ocr_status pipe_inputs_expand(pipe_inputs *out, char *const *args, int n,
                              const pipe_inputs_params *p, ocr_err *e)
{
    memset(out, 0, sizeof *out);
    walker w;
    memset(&w, 0, sizeof w);
    w.in = out;
    w.p = p;
    if (p && p->skip_dir && stat(p->skip_dir, &w.skip) == 0 && S_ISDIR(w.skip.st_mode))
        w.have_skip = true;
    for (int i = 0; i < n && !w.oom; i++) {
        if (args[i][0] == '@' && args[i][1]) expand_list(&w, args[i] + 1);
        else expand_one(&w, args[i]);
    }
    if (w.oom || !dedupe(out)) {
        pipe_inputs_free(out);
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_inputs_expand: out of memory");
    }
    return OCR_OK;
}

/* --------------------------------------------------------------- planning */

/* Length of path without its extension (a '.' in the last component that
 * is not its first character). */
static size_t stem_len(const char *path)
{
    size_t n = strlen(path);
    const char *b = base_name(path);
    const char *dot = strrchr(b, '.');
    return dot && dot > b ? (size_t)(dot - path) : n;
}

/* `path` without a trailing output extension. */
static size_t strip_out_ext(const char *path)
{
    static const char *ext[] = {".md", ".mmd", ".markdown", ".txt", ".json", ".hocr"};
    size_t n = strlen(path);
    const char *b = base_name(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t m = strlen(ext[i]);
        if (n > m && path + n - m > b && !strcmp(path + n - m, ext[i])) return n - m;
    }
    return n;
}

/* Fill x's derived paths from its base (owned by x). */
static bool set_derived(pipe_input *x)
{
    const char *stem = base_name(x->base);
    x->images_dir = xfmt("%s_images", x->base);
    x->images_link = xfmt("%s_images", stem);
    x->overlay_dir = xfmt("%s_overlay", x->base);
    return x->images_dir && x->images_link && x->overlay_dir;
}

typedef struct {
    char *name; /* base relative to the output directory */
    int idx;
    const char *path;
    bool renamed; /* name is a fallback, not the input's own */
} plan_ent;

/* By name; among equal names an input's own name first, then byte order
 * of paths. */
static int cmp_plan(const void *a, const void *b)
{
    const plan_ent *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    if (x->renamed != y->renamed) return x->renamed ? 1 : -1;
    c = strcmp(x->path, y->path);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

ocr_status pipe_inputs_plan(pipe_inputs *in, const char *out_dir, const char *out_file,
                            const int *fmt, int n_fmt, ocr_err *e)
{
    for (int i = 0; i < in->n; i++) {
        pipe_input *x = &in->v[i];
        for (int f = 0; f < PIPE_FMT_COUNT; f++) {
            free(x->out[f]);
            x->out[f] = NULL;
        }
        free(x->base);
        free(x->images_dir);
        free(x->images_link);
        free(x->overlay_dir);
        x->base = x->images_dir = x->images_link = x->overlay_dir = NULL;
    }
    if (!out_dir && !out_file) return OCR_OK;
    for (int k = 0; k < n_fmt; k++)
        if (fmt[k] < 0 || fmt[k] >= PIPE_FMT_COUNT)
            return ocr_err_set(e, OCR_E_ARG, "pipe_inputs_plan: bad format %d", fmt[k]);
    if (n_fmt < 1) return ocr_err_set(e, OCR_E_ARG, "pipe_inputs_plan: no format");

    if (!out_dir) {
        if (in->n != 1)
            return ocr_err_set(e, OCR_E_ARG,
                               "an output file takes one input, not %d (give a directory)", in->n);
        pipe_input *x = &in->v[0];
        size_t bn = strip_out_ext(out_file);
        x->base = xfmt("%.*s", (int)bn, out_file);
        bool ok = x->base && set_derived(x);
        for (int k = 0; ok && k < n_fmt; k++) {
            x->out[fmt[k]] = n_fmt == 1 ? xdup(out_file)
                                        : xfmt("%s.%s", x->base, pipe_format_ext((pipe_format)fmt[k]));
            ok = x->out[fmt[k]] != NULL;
        }
        return ok ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "pipe_inputs_plan: out of memory");
    }

    size_t dn = strlen(out_dir);
    while (dn > 1 && out_dir[dn - 1] == '/') dn--;
    plan_ent *v = calloc((size_t)(in->n ? in->n : 1), sizeof *v);
    int m = 0;
    bool ok = v != NULL;
    for (int i = 0; ok && i < in->n; i++) {
        if (in->v[i].error) continue;
        const char *rel = in->v[i].rel;
        v[m].name = xfmt("%.*s", (int)stem_len(rel), rel);
        v[m].idx = i;
        v[m].path = in->v[i].path;
        ok = v[m].name != NULL;
        m++;
    }
    /* Clashes: the first in byte order of paths keeps the name, the others
     * keep their input's extension, then take ~2, ~3... until unique; an
     * input's own name always wins over another's fallback. */
    for (int round = 0; ok; round++) {
        qsort(v, (size_t)m, sizeof *v, cmp_plan);
        bool clash = false;
        for (int i = 1; ok && i < m;) {
            if (strcmp(v[i].name, v[i - 1].name) != 0) {
                i++;
                continue;
            }
            int first = i - 1, j = i;
            while (j < m && !strcmp(v[j].name, v[first].name)) j++;
            for (int k = first + 1; ok && k < j; k++) {
                const char *rel = in->v[v[k].idx].rel;
                char *nn = !v[k].renamed && strcmp(rel, v[k].name) != 0
                               ? xdup(rel)
                               : xfmt("%s~%d", v[k].name, k - first + 1);
                ok = nn != NULL &&
                     pipe_inputs_note(in, "%s and %s both map to %.*s/%s.*; %s writes %.*s/%s.*",
                                      v[first].path, v[k].path, (int)dn, out_dir, v[first].name,
                                      v[k].path, (int)dn, out_dir, nn ? nn : "");
                free(v[k].name);
                v[k].name = nn;
                v[k].renamed = true;
            }
            clash = true;
            i = j + 1; /* v[j] starts the next group; v[j - 1] may be renamed */
        }
        if (!clash) break;
        if (round > 64) {
            ok = false;
            break;
        }
    }
    for (int i = 0; ok && i < m; i++) {
        pipe_input *x = &in->v[v[i].idx];
        x->base = xfmt("%.*s/%s", (int)dn, out_dir, v[i].name);
        ok = x->base && set_derived(x);
        for (int k = 0; ok && k < n_fmt; k++) {
            x->out[fmt[k]] = xfmt("%s.%s", x->base, pipe_format_ext((pipe_format)fmt[k]));
            ok = x->out[fmt[k]] != NULL;
        }
    }
    for (int i = 0; v && i < m; i++) free(v[i].name);
    free(v);
    return ok ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "pipe_inputs_plan: out of memory");
}

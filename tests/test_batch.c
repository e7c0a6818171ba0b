/* tests/test_batch.c — the batch machinery: page selections, input
 * expansion (trees, globs, list files), output planning (mirroring,
 * clashes), the runner (resume, --force, failures, concurrency, stale
 * temporaries, cancellation, checkpoints of multi-page documents, stdout
 * order), a SIGKILL half-way through 200 pages, and the hOCR writer.
 *
 * The recogniser here is TEST SCAFFOLDING (fake_process): it does not read
 * anything, it writes the page's size as its text ("fake page 3: 17x12"),
 * so that every output can be checked exactly without a model. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/pipe.h"
#include "tests/tst.h"

#define CHECK TST_CHECK

/* ------------------------------------------------------------- helpers */

static char *path_in(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

static void mkdirs(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0777);
            *s = '/';
        }
    mkdir(p, 0777);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *s = strrchr(d, '/');
    if (s) {
        *s = 0;
        mkdirs(d);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n)) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    size_t got;
    while (s && (got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *t = realloc(s, cap * 2);
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (s) s[n] = 0;
    if (len) *len = n;
    return s;
}

/* A gray w x h PNG with a pattern (so sizes and crops are real pixels). */
static void write_png(const char *path, int w, int h)
{
    img_lept_quiet();
    PIX *pix = pixCreate(w, h, 8);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) pixSetPixel(pix, x, y, (l_uint32)((x * 7 + y * 13) & 255));
    l_uint8 *data = NULL;
    size_t n = 0;
    if (pixWriteMemPng(&data, &n, pix, 0.0f) != 0) {
        fprintf(stderr, "cannot encode PNG\n");
        exit(2);
    }
    write_bytes(path, data, n);
    free(data);
    pixDestroy(&pix);
}

/* A multi-page TIFF: page k is (w + k) x h. */
static bool write_tiff(const char *path, int pages, int w, int h)
{
    img_lept_quiet();
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *s = strrchr(d, '/');
    if (s) {
        *s = 0;
        mkdirs(d);
    }
    for (int k = 0; k < pages; k++) {
        PIX *pix = pixCreate(w + k, h, 8);
        pixSetAll(pix);
        if (pixWriteTiff(path, pix, IFF_TIFF_ZIP, k ? "a" : "w") != 0) {
            pixDestroy(&pix);
            return false;
        }
        pixDestroy(&pix);
    }
    return true;
}

/* Files under dir (recursively) whose name contains `needle`. */
static int count_files(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    char p[4096];
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) n += count_files(p, needle);
        else if (strstr(de->d_name, needle)) n++;
    }
    closedir(d);
    return n;
}

/* Whether the trees a and b hold the same files with the same bytes. */
static bool same_tree(const char *a, const char *b, int *n_files)
{
    DIR *d = opendir(a);
    if (!d) return false;
    bool same = true;
    struct dirent *de;
    char pa[4096], pb[4096];
    while (same && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, de->d_name);
        struct stat sa, sb;
        if (lstat(pa, &sa) != 0 || lstat(pb, &sb) != 0) {
            printf("  only in %s: %s\n", a, de->d_name);
            same = false;
        } else if (S_ISDIR(sa.st_mode)) {
            same = S_ISDIR(sb.st_mode) && same_tree(pa, pb, n_files);
        } else {
            size_t la, lb;
            char *x = read_all(pa, &la), *y = read_all(pb, &lb);
            same = x && y && la == lb && memcmp(x, y, la) == 0;
            if (!same) printf("  differ: %s %s\n", pa, pb);
            free(x);
            free(y);
            (*n_files)++;
        }
    }
    closedir(d);
    /* and nothing extra in b */
    int na = 0, nb = 0;
    if (same) {
        na = count_files(a, "");
        nb = count_files(b, "");
        same = na == nb;
        if (!same) printf("  %s has %d files, %s has %d\n", a, na, b, nb);
    }
    return same;
}

static const char *tmp(const char *name)
{
    static char bufs[8][1024];
    static int slot;
    char *p = bufs[slot++ & 7];
    snprintf(p, 1024, "%s/%s", tst_tmpdir(), name);
    return p;
}

/* ------------------------------------- the fake recogniser (TEST SCAFFOLDING) */

typedef struct {
    atomic_int calls;
    atomic_int states;
    int sleep_us;       /* per page */
    bool image_block;   /* also an "image" block (exercises crops) */
    const char *fail_name; /* a page whose job name contains this fails */
    int fail_page;      /* ... with this 0-based page (-1: any) */
    atomic_int *cancel_after_flag; /* set *cancel_after_flag after N calls */
    int cancel_after;
    bool jitter;        /* vary the sleep by page (shuffles completion order) */
    /* events */
    atomic_int ev_failed, ev_done, ev_skipped, ev_progress, ev_pages, ev_notes;
    char failed_names[8][512];
    int n_failed_names;
    char *outputs;      /* PIPE_EV_OUTPUT data, concatenated */
    size_t outputs_len;
    int last_output_doc;
    bool outputs_in_order;
    bool concurrent_event; /* on_event entered while another was running */
    atomic_int in_event;
} fake_ctx;

static void fake_fill(pipe_page *pg, int w, int h, bool image_block)
{
    char text[128];
    snprintf(text, sizeof text, "fake page %d: %dx%d", pg->number, w, h);
    pipe_block *b = NULL;
    if (pipe_page_add_block(pg, &b, "text", 4, text, strlen(text), NULL) != OCR_OK) return;
    pipe_block_add_box(b, (pipe_box){0, 0, w, h}, NULL);
    b->confidence = 0.875f;
    /* Lines, so that checkpoints carry them: a box and a confidence; no
     * box, unknown confidence and bytes that are not UTF-8. */
    pipe_block_add_line(b, &(pipe_box){0, 0, w, h / 2}, text, strlen(text), 0.3f + 0.01f * (float)pg->number, NULL);
    pipe_block_add_line(b, NULL, "bad \xff line", 10, -1, NULL);
    if (image_block) {
        if (pipe_page_add_block(pg, &b, "image", 5, NULL, 0, NULL) != OCR_OK) return;
        pipe_block_add_box(b, (pipe_box){1, 1, w / 2 + 1, h / 2 + 1}, NULL);
        b->confidence = -1;
    }
}

static ocr_status fake_state_create(void *ctx, int worker, void **state, ocr_err *e)
{
    fake_ctx *c = ctx;
    atomic_fetch_add(&c->states, 1);
    *state = malloc(16); /* something ASan can see leak if not destroyed */
    return *state ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "state");
}

static void fake_state_destroy(void *ctx, void *state)
{
    (void)ctx;
    free(state);
}

static ocr_status fake_process(void *ctx, void *state, const pipe_batch_page *job, PIX *pix,
                               pipe_page *pg, ocr_err *e)
{
    fake_ctx *c = ctx;
    int n = atomic_fetch_add(&c->calls, 1) + 1;
    if (!state) return ocr_err_set(e, OCR_E_ARG, "no state");
    int us = c->sleep_us;
    if (c->jitter) us += ((job->doc * 7919 + job->page * 104729) % 5) * 300;
    if (us > 0) {
        struct timespec ts = {0, (long)us * 1000};
        nanosleep(&ts, NULL);
    }
    if (c->cancel_after_flag && n >= c->cancel_after) atomic_store(c->cancel_after_flag, 1);
    if (c->fail_name && strstr(job->name, c->fail_name) && (c->fail_page < 0 || c->fail_page == job->page))
        return ocr_err_set(e, OCR_E_NUMERIC, "fake recogniser: told to fail on this page");
    fake_fill(pg, pixGetWidth(pix), pixGetHeight(pix), c->image_block);
    return OCR_OK;
}

static void fake_event(void *ctx, const pipe_batch_event *ev)
{
    fake_ctx *c = ctx;
    if (atomic_fetch_add(&c->in_event, 1) != 0) c->concurrent_event = true;
    switch (ev->kind) {
    case PIPE_EV_DOC_FAILED:
        atomic_fetch_add(&c->ev_failed, 1);
        if (c->n_failed_names < 8)
            snprintf(c->failed_names[c->n_failed_names++], 512, "%s", ev->msg ? ev->msg : "");
        break;
    case PIPE_EV_DOC_DONE: atomic_fetch_add(&c->ev_done, 1); break;
    case PIPE_EV_DOC_SKIPPED: atomic_fetch_add(&c->ev_skipped, 1); break;
    case PIPE_EV_PROGRESS: atomic_fetch_add(&c->ev_progress, 1); break;
    case PIPE_EV_PAGE: atomic_fetch_add(&c->ev_pages, 1); break;
    case PIPE_EV_NOTE: atomic_fetch_add(&c->ev_notes, 1); break;
    case PIPE_EV_OUTPUT: {
        if (ev->doc <= c->last_output_doc) c->outputs_in_order = false;
        c->last_output_doc = ev->doc;
        char *p = realloc(c->outputs, c->outputs_len + ev->len + 1);
        if (p) {
            memcpy(p + c->outputs_len, ev->data, ev->len);
            c->outputs_len += ev->len;
            p[c->outputs_len] = 0;
            c->outputs = p;
        }
        break;
    }
    }
    atomic_fetch_sub(&c->in_event, 1);
}

static void fake_reset(fake_ctx *c)
{
    free(c->outputs);
    memset(c, 0, sizeof *c);
    c->fail_page = -1;
    c->last_output_doc = -1;
    c->outputs_in_order = true;
}

static pipe_batch_params fake_params(fake_ctx *c, int workers)
{
    pipe_batch_params p = pipe_batch_default_params();
    p.n_workers = workers;
    p.fmt[0] = PIPE_FMT_MD;
    p.n_fmt = 1;
    p.ctx = c;
    p.process = fake_process;
    p.state_create = fake_state_create;
    p.state_destroy = fake_state_destroy;
    p.on_event = fake_event;
    p.progress_interval_s = 0;
    return p;
}

/* Expand one directory, plan into out with formats, run. */
static ocr_status run_dir(const char *in_dir, const char *out_dir, const pipe_batch_params *p,
                          pipe_batch_result *r)
{
    pipe_inputs in;
    ocr_err e = {0};
    char a0[1024];
    snprintf(a0, sizeof a0, "%s", in_dir);
    char *args[1] = {a0};
    pipe_inputs_params ip = {0};
    ip.skip_dir = out_dir;
    if (pipe_inputs_expand(&in, args, 1, &ip, &e) != OCR_OK) return e.code;
    ocr_status rc = pipe_inputs_plan(&in, out_dir, NULL, p->fmt, p->n_fmt, &e);
    if (rc == OCR_OK) rc = pipe_batch_run(&in, p, r, &e);
    if (rc != OCR_OK) printf("  run_dir: %s\n", e.msg);
    pipe_inputs_free(&in);
    return rc;
}

/* The Markdown the fake recogniser gives for a single-page w x h input. */
static char *expected_md(int w, int h, bool image_block, const char *images_link)
{
    pipe_doc d;
    pipe_page *pg = NULL;
    ocr_err e = {0};
    pipe_doc_init(&d, "x", &e);
    pipe_doc_add_page(&d, &pg, 1, w, h, &e);
    fake_fill(pg, w, h, image_block);
    if (image_block && images_link) {
        for (int i = 0; i < pg->n_blocks; i++)
            if (!strcmp(pg->blocks[i].type, "image")) {
                pg->blocks[i].crops = calloc((size_t)pg->blocks[i].cap_boxes, sizeof(char *));
                char l[512];
                snprintf(l, sizeof l, "%s/1-0.png", images_link);
                pg->blocks[i].crops[0] = strdup(l);
            }
    }
    char *s = NULL;
    size_t n = 0;
    pipe_doc_render(&d, PIPE_FMT_MD, &s, &n, &e);
    pipe_doc_free(&d);
    return s;
}

/* ----------------------------------------------------------- page ranges */

static void test_pages(void)
{
    pipe_pages s;
    ocr_err e = {0};
    CHECK(pipe_pages_parse(&s, "1-5,9", &e) == OCR_OK, "1-5,9: %s", e.msg);
    CHECK(s.n == 2, "two ranges");
    bool ok = true;
    for (int p = 1; p <= 12; p++) ok = ok && pipe_pages_has(&s, p) == ((p >= 1 && p <= 5) || p == 9);
    CHECK(ok, "1-5,9 selects 1..5 and 9 only");
    pipe_pages_free(&s);

    CHECK(pipe_pages_parse(&s, " 2 , 7- ", &e) == OCR_OK, "open range with spaces: %s", e.msg);
    CHECK(pipe_pages_has(&s, 2) && !pipe_pages_has(&s, 3) && pipe_pages_has(&s, 7) &&
              pipe_pages_has(&s, 100000),
          "2,7- selects 2 and 7 onwards");
    pipe_pages_free(&s);

    CHECK(pipe_pages_parse(&s, "", &e) == OCR_OK && s.n == 0 && pipe_pages_has(&s, 42), "empty = all");
    CHECK(pipe_pages_parse(&s, NULL, &e) == OCR_OK && s.n == 0, "NULL = all");
    CHECK(pipe_pages_has(NULL, 3), "NULL selection = all");

    static const struct {
        const char *spec, *msg;
    } bad[] = {
        {"3-1", "pages: '3-1' is not a range"},
        {"0", "pages count from 1"},
        {"0-4", "pages count from 1"},
        {"a", "'a' is not a page number"},
        {"1,,2", "empty item"},
        {"1-2-3", "'1-2-3' is not a page number"},
        {"-5", "'-5' is not a page number"},
        {"99999999999", "is not a page number"},
        {"1,", "empty item"},
        {"2x", "'2x' is not"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        ocr_status rc = pipe_pages_parse(&s, bad[i].spec, &e);
        CHECK(rc == OCR_E_ARG && strstr(e.msg, bad[i].msg) && s.n == 0 && !s.v,
              "pages '%s': want /%s/, got %d '%s'", bad[i].spec, bad[i].msg, rc, e.msg);
    }
}

/* ---------------------------------------------------------------- inputs */

static bool rel_is(const pipe_inputs *in, int i, const char *rel)
{
    return i < in->n && !strcmp(in->v[i].rel, rel) && !in->v[i].error;
}

static void dump_inputs(const pipe_inputs *in)
{
    for (int i = 0; i < in->n; i++)
        printf("  [%d] %s rel=%s%s%s\n", i, in->v[i].path, in->v[i].rel, in->v[i].error ? " error=" : "",
               in->v[i].error ? in->v[i].error : "");
    for (int i = 0; i < in->n_notes; i++) printf("  note: %s\n", in->notes[i]);
}

static void make_tree(const char *root)
{
    char p[1024];
    write_png(path_in(p, sizeof p, root, "a.png"), 10, 8);
    write_png(path_in(p, sizeof p, root, "b.jpg"), 11, 8); /* PNG bytes; the extension chooses */
    write_png(path_in(p, sizeof p, root, "sub/c.png"), 12, 8);
    write_tiff(path_in(p, sizeof p, root, "sub/deep/d.tiff"), 3, 9, 7);
    write_png(path_in(p, sizeof p, root, "sub/e.PNG"), 13, 8);
    write_png(path_in(p, sizeof p, root, ".hidden.png"), 5, 5);
    write_png(path_in(p, sizeof p, root, ".hid/x.png"), 5, 5);
    write_bytes(path_in(p, sizeof p, root, "notes.txt"), "notes", 5);
    write_png(path_in(p, sizeof p, root, "out/old.png"), 5, 5); /* the output dir */
}

static void test_expand_tree(void)
{
    const char *root = tmp("tree");
    make_tree(root);
    char link[1024], target[1024];
    if (symlink(path_in(target, sizeof target, root, "sub"), path_in(link, sizeof link, root, "zlink")) != 0)
        perror("symlink");
    pipe_inputs in;
    ocr_err e = {0};
    char a0[1024];
    snprintf(a0, sizeof a0, "%s", root);
    char *args[1] = {a0};
    pipe_inputs_params ip = {0};
    ip.skip_dir = tmp("tree/out");
    CHECK(pipe_inputs_expand(&in, args, 1, &ip, &e) == OCR_OK, "expand: %s", e.msg);
    bool ok = in.n == 5 && rel_is(&in, 0, "a.png") && rel_is(&in, 1, "b.jpg") &&
              rel_is(&in, 2, "sub/c.png") && rel_is(&in, 3, "sub/deep/d.tiff") &&
              rel_is(&in, 4, "sub/e.PNG") && in.from_dirs;
    CHECK(ok, "walk: sorted, recursive, hidden, non-images and the output dir skipped");
    bool noted = false;
    for (int i = 0; i < in.n_notes; i++) noted = noted || strstr(in.notes[i], "zlink: symbolic link to a directory");
    CHECK(noted, "a symbolic link to a directory is noted, not followed");
    if (!ok || !noted) dump_inputs(&in);
    pipe_inputs_free(&in);

    const char *inc[] = {"*.png"};
    ip.include = inc;
    ip.n_include = 1;
    CHECK(pipe_inputs_expand(&in, args, 1, &ip, &e) == OCR_OK, "expand");
    ok = in.n == 2 && rel_is(&in, 0, "a.png") && rel_is(&in, 1, "sub/c.png");
    CHECK(ok, "--include '*.png' matches across '/', case-sensitively");
    if (!ok) dump_inputs(&in);
    pipe_inputs_free(&in);

    const char *inc2[] = {"*.png", "*.tiff", "*.jpg"};
    const char *exc[] = {"sub/deep/*", "a.*"};
    ip.include = inc2;
    ip.n_include = 3;
    ip.exclude = exc;
    ip.n_exclude = 2;
    CHECK(pipe_inputs_expand(&in, args, 1, &ip, &e) == OCR_OK, "expand");
    ok = in.n == 2 && rel_is(&in, 0, "b.jpg") && rel_is(&in, 1, "sub/c.png");
    CHECK(ok, "--exclude: a path glob and a base-name glob");
    if (!ok) dump_inputs(&in);
    pipe_inputs_free(&in);

    const char *exc2[] = {"sub"};
    ip.include = NULL;
    ip.n_include = 0;
    ip.exclude = exc2;
    ip.n_exclude = 1;
    CHECK(pipe_inputs_expand(&in, args, 1, &ip, &e) == OCR_OK, "expand");
    ok = in.n == 2 && rel_is(&in, 0, "a.png") && rel_is(&in, 1, "b.jpg");
    CHECK(ok, "--exclude on a directory prunes it");
    if (!ok) dump_inputs(&in);
    pipe_inputs_free(&in);

    /* Files, stdin, duplicates, a missing file. */
    char pa[1024], pmiss[1024];
    path_in(pa, sizeof pa, root, "a.png");
    path_in(pmiss, sizeof pmiss, root, "missing.png");
    char *args2[] = {pa, (char *)"-", pmiss, pa, (char *)"notes-but-explicit.txt"};
    CHECK(pipe_inputs_expand(&in, args2, 5, NULL, &e) == OCR_OK, "expand files");
    ok = in.n == 4 && rel_is(&in, 0, "a.png") && rel_is(&in, 1, "stdin") && !strcmp(in.v[1].path, "-") &&
         rel_is(&in, 2, "missing.png") && rel_is(&in, 3, "notes-but-explicit.txt") && !in.from_dirs;
    CHECK(ok, "files: base names, '-' is stdin, explicit files are taken whatever their extension");
    noted = in.n_notes == 1 && strstr(in.notes[0], "given more than once");
    CHECK(noted, "a duplicate is read once and noted");
    if (!ok || !noted) dump_inputs(&in);
    pipe_inputs_free(&in);
}

/* An unreadable directory inside a tree is a failed entry, not the end of
 * the walk. As root, chmod cannot make one, so a path longer than PATH_MAX
 * does (opendir fails with ENAMETOOLONG). */
static void test_unreadable_dir(void)
{
    const char *root = tmp("unread");
    char p[1024];
    write_png(path_in(p, sizeof p, root, "a.png"), 6, 6);
    write_png(path_in(p, sizeof p, root, "z.png"), 6, 6);
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    char name[201];
    memset(name, 'd', 200);
    name[200] = 0;
    for (int i = 0; i < 24 && fd >= 0; i++) {
        mkdirat(fd, name, 0777);
        int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = nfd;
    }
    if (fd >= 0) close(fd);
    if (geteuid() != 0) {
        write_png(path_in(p, sizeof p, root, "locked/x.png"), 6, 6);
        chmod(path_in(p, sizeof p, root, "locked"), 0);
    }
    pipe_inputs in;
    ocr_err e = {0};
    char a0[1024];
    snprintf(a0, sizeof a0, "%s", root);
    char *args[1] = {a0};
    CHECK(pipe_inputs_expand(&in, args, 1, NULL, &e) == OCR_OK, "expand: %s", e.msg);
    int errors = 0;
    for (int i = 0; i < in.n; i++)
        if (in.v[i].error) {
            errors++;
            CHECK(strstr(in.v[i].error, "cannot read") != NULL, "reason: %.200s", in.v[i].error);
        }
    CHECK(errors == (geteuid() != 0 ? 2 : 1), "unreadable directories become failed entries (%d)", errors);
    CHECK(in.n >= 3 && rel_is(&in, 0, "a.png") && rel_is(&in, in.n - 1, "z.png"),
          "and the walk goes on past them");
    pipe_inputs_free(&in);
    if (geteuid() != 0) chmod(path_in(p, sizeof p, root, "locked"), 0755);
}

static void test_list_file(void)
{
    const char *root = tmp("list");
    char p[1024], list[4096];
    write_png(path_in(p, sizeof p, root, "one.png"), 6, 6);
    write_png(path_in(p, sizeof p, root, "dir/two.png"), 6, 6);
    write_png(path_in(p, sizeof p, root, "dir/three.tif.png"), 6, 6);
    snprintf(list, sizeof list,
             "# scans to read\n"
             "\n"
             "   %s/one.png  \r\n"
             "\t# indented comment\n"
             "%s/dir\n"
             "%s/nope.png",
             root, root, root);
    const char *lp = tmp("list/files.txt");
    write_bytes(lp, list, strlen(list));
    char arg[1100], arg2[1100];
    snprintf(arg, sizeof arg, "@%s", lp);
    snprintf(arg2, sizeof arg2, "@%s", tmp("list/absent.txt"));
    char *args[] = {arg, arg2};
    pipe_inputs in;
    ocr_err e = {0};
    CHECK(pipe_inputs_expand(&in, args, 2, NULL, &e) == OCR_OK, "expand: %s", e.msg);
    bool ok = in.n == 5 && rel_is(&in, 0, "one.png") && rel_is(&in, 1, "three.tif.png") &&
              rel_is(&in, 2, "two.png") && rel_is(&in, 3, "nope.png") && in.v[4].error &&
              strstr(in.v[4].error, "absent.txt") && in.from_dirs;
    CHECK(ok, "list: comments, blank lines, CRLF and spaces; a listed directory walked; a missing list fails");
    if (!ok) dump_inputs(&in);
    pipe_inputs_free(&in);
}

static void test_plan(void)
{
    const char *root = tmp("plan");
    char p[1024];
    write_png(path_in(p, sizeof p, root, "a.png"), 6, 6);
    write_png(path_in(p, sizeof p, root, "a.jpg"), 6, 6);
    write_png(path_in(p, sizeof p, root, "sub/b.png"), 6, 6);
    write_png(path_in(p, sizeof p, root, "a.png.tif"), 6, 6); /* its name is a.png's fallback */
    pipe_inputs in;
    ocr_err e = {0};
    char a0[1024];
    snprintf(a0, sizeof a0, "%s", root);
    char *args[] = {a0, (char *)"-"};
    CHECK(pipe_inputs_expand(&in, args, 2, NULL, &e) == OCR_OK, "expand");
    int fmt[] = {PIPE_FMT_MD, PIPE_FMT_JSON};
    const char *out = tmp("plan-out/");
    CHECK(pipe_inputs_plan(&in, out, NULL, fmt, 2, &e) == OCR_OK, "plan: %s", e.msg);
    char want[1024];
    /* in order: a.jpg, a.png, a.png.tif, sub/b.png, stdin */
    bool ok = in.n == 5;
    const char *bases[] = {"a", "a.png~2", "a.png", "sub/b", "stdin"};
    for (int i = 0; ok && i < 5; i++) {
        snprintf(want, sizeof want, "%s/plan-out/%s.md", tst_tmpdir(), bases[i]);
        ok = in.v[i].out[PIPE_FMT_MD] && !strcmp(in.v[i].out[PIPE_FMT_MD], want);
        if (!ok) printf("  [%d] %s, want %s\n", i, in.v[i].out[PIPE_FMT_MD], want);
        snprintf(want, sizeof want, "%s/plan-out/%s.json", tst_tmpdir(), bases[i]);
        ok = ok && !strcmp(in.v[i].out[PIPE_FMT_JSON], want) && !in.v[i].out[PIPE_FMT_TXT];
    }
    CHECK(ok, "mirrored names; clashes resolved deterministically (ext kept, then ~2)");
    snprintf(want, sizeof want, "%s/plan-out/sub/b_images", tst_tmpdir());
    CHECK(in.v[3].images_dir && !strcmp(in.v[3].images_dir, want) && !strcmp(in.v[3].images_link, "b_images"),
          "images dir <base>_images, linked as <stem>_images");
    int clash_notes = 0;
    for (int i = 0; i < in.n_notes; i++) clash_notes += strstr(in.notes[i], "both map to") != NULL;
    CHECK(clash_notes == 2, "each clash is noted (%d)", clash_notes);
    if (!ok || clash_notes != 2) dump_inputs(&in);

    /* one input to one file */
    CHECK(pipe_inputs_plan(&in, NULL, "x.md", fmt, 1, &e) == OCR_E_ARG, "a file output takes one input");
    pipe_inputs_free(&in);
    char *one[] = {p};
    CHECK(pipe_inputs_expand(&in, one, 1, NULL, &e) == OCR_OK, "expand");
    CHECK(pipe_inputs_plan(&in, NULL, "r/res.md", fmt, 2, &e) == OCR_OK &&
              !strcmp(in.v[0].out[PIPE_FMT_MD], "r/res.md") && !strcmp(in.v[0].out[PIPE_FMT_JSON], "r/res.json") &&
              !strcmp(in.v[0].images_dir, "r/res_images"),
          "-o FILE with two formats: base + each extension");
    int f1[] = {PIPE_FMT_HOCR};
    CHECK(pipe_inputs_plan(&in, NULL, "r/res.xml", f1, 1, &e) == OCR_OK &&
              !strcmp(in.v[0].out[PIPE_FMT_HOCR], "r/res.xml"),
          "-o FILE with one format: exactly that file");
    CHECK(pipe_inputs_plan(&in, NULL, NULL, f1, 1, &e) == OCR_OK && !in.v[0].base && !in.v[0].out[PIPE_FMT_HOCR],
          "no output: nothing planned");
    pipe_inputs_free(&in);
}

/* ---------------------------------------------------------------- runner */

/* A tree of n PNGs (some in subdirectories) with `bad` corrupt ones. */
static void make_pngs(const char *root, int n, const int *bad, int n_bad)
{
    static const unsigned char trunc_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I',
                                              'H', 'D', 'R', 0, 0, 0, 20, 0, 0, 0, 20, 8, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        char name[256], p[1024];
        snprintf(name, sizeof name, "%s/p%03d.png", i % 3 == 0 ? "s1" : i % 3 == 1 ? "s2/t" : ".", i);
        path_in(p, sizeof p, root, name);
        bool corrupt = false;
        for (int k = 0; k < n_bad; k++) corrupt = corrupt || bad[k] == i;
        if (!corrupt) write_png(p, 8 + i % 29, 6 + (i * 7) % 31);
        else if (i % 3 == 0) write_bytes(p, "this is not a PNG at all", 24);
        else if (i % 3 == 1) write_bytes(p, trunc_png, sizeof trunc_png);
        else write_bytes(p, "", 0);
    }
}

static void png_out_name(char *out, size_t cap, const char *dir, int i, const char *ext)
{
    snprintf(out, cap, "%s/%s/p%03d.%s", dir, i % 3 == 0 ? "s1" : i % 3 == 1 ? "s2/t" : ".", i, ext);
}

/* Whether output i exists and is exactly the fake recogniser's page. */
static bool png_out_ok(const char *dir, int i)
{
    char p[1024];
    png_out_name(p, sizeof p, dir, i, "md");
    char *got = read_all(p, NULL);
    char *want = expected_md(8 + i % 29, 6 + (i * 7) % 31, false, NULL);
    bool ok = got && want && !strcmp(got, want);
    free(got);
    free(want);
    return ok;
}

static void test_batch_basic(void)
{
    const char *in = tmp("b1"), *out = tmp("b1-out");
    int bad[] = {4, 11, 15};
    make_pngs(in, 24, bad, 3);
    fake_ctx c;
    memset(&c, 0, sizeof c);
    fake_reset(&c);
    pipe_batch_params p = fake_params(&c, 2);
    pipe_batch_result r;
    CHECK(run_dir(in, out, &p, &r) == OCR_OK, "run");
    CHECK(r.docs == 24 && r.done == 21 && r.failed == 3 && r.skipped == 0 && r.pages == 21,
          "21 done, 3 failed (%d/%d/%d, %ld pages)", r.done, r.failed, r.skipped, r.pages);
    int good = 0;
    for (int i = 0; i < 24; i++) good += png_out_ok(out, i);
    CHECK(good == 21, "21 outputs mirrored and exact (%d)", good);
    char p4[1024];
    png_out_name(p4, sizeof p4, out, 4, "md");
    CHECK(!exists(p4), "no output for a corrupt input");
    const char *why[3] = {NULL, NULL, NULL};
    for (int i = 0; i < r.docs; i++)
        for (int k = 0; k < 3; k++) {
            char nm[32];
            snprintf(nm, sizeof nm, "p%03d.png", bad[k]);
            if (r.reasons[i] && strstr(r.reasons[i], nm)) why[k] = r.reasons[i];
        }
    CHECK(why[0] && why[1] && why[2] && strstr(why[1], "empty") && strstr(why[2], "not a supported image"),
          "failures named, with their reasons: %s | %s | %s", why[0], why[1], why[2]);
    CHECK(c.ev_failed == 3 && c.ev_done == 21 && c.ev_pages == 21 && c.ev_progress >= 1,
          "events: %d failed, %d done, %d pages, %d progress", c.ev_failed, c.ev_done, c.ev_pages, c.ev_progress);
    CHECK(!c.concurrent_event, "events never run concurrently");
    CHECK(c.states <= 2 && c.states >= 1, "one state per worker (%d)", c.states);
    CHECK(count_files(out, ".tmp.") == 0, "no temporaries left");
    pipe_batch_result_free(&r);

    /* Rerun: everything complete is skipped; the corrupt ones fail again. */
    fake_reset(&c);
    CHECK(run_dir(in, out, &p, &r) == OCR_OK, "rerun");
    CHECK(r.skipped == 21 && r.failed == 3 && r.done == 0 && c.calls == 0,
          "resume: 21 skipped, 3 failed, recogniser not called (%d/%d/%d, %d calls)", r.skipped, r.failed,
          r.done, (int)c.calls);
    pipe_batch_result_free(&r);

    /* A deleted output is redone, and only it. */
    char p7[1024];
    png_out_name(p7, sizeof p7, out, 7, "md");
    unlink(p7);
    fake_reset(&c);
    CHECK(run_dir(in, out, &p, &r) == OCR_OK, "rerun");
    CHECK(r.done == 1 && r.skipped == 20 && c.calls == 1 && png_out_ok(out, 7),
          "a missing output is redone alone (%d done, %d calls)", r.done, (int)c.calls);
    pipe_batch_result_free(&r);

    /* A new format makes every document incomplete. */
    fake_reset(&c);
    pipe_batch_params p2 = p;
    p2.fmt[1] = PIPE_FMT_JSON;
    p2.n_fmt = 2;
    CHECK(run_dir(in, out, &p2, &r) == OCR_OK, "rerun md,json");
    CHECK(r.done == 21 && c.calls == 21, "md,json: the missing json redoes all (%d)", r.done);
    pipe_batch_result_free(&r);
    char j9[1024];
    png_out_name(j9, sizeof j9, out, 9, "json");
    unlink(j9);
    fake_reset(&c);
    CHECK(run_dir(in, out, &p2, &r) == OCR_OK, "rerun");
    CHECK(r.done == 1 && c.calls == 1 && exists(j9), "one of two formats missing: the document is redone");
    pipe_batch_result_free(&r);

    /* --force redoes everything. */
    fake_reset(&c);
    p.force = true;
    CHECK(run_dir(in, out, &p, &r) == OCR_OK, "force");
    CHECK(r.done == 21 && r.skipped == 0 && c.calls == 21, "--force redoes all (%d, %d calls)", r.done,
          (int)c.calls);
    pipe_batch_result_free(&r);

    /* All failing. */
    const char *in2 = tmp("b1-bad");
    write_bytes(tmp("b1-bad/x.png"), "nope", 4);
    write_bytes(tmp("b1-bad/y.png"), "", 0);
    fake_reset(&c);
    p.force = false;
    CHECK(run_dir(in2, tmp("b1-bad-out"), &p, &r) == OCR_OK, "all bad");
    CHECK(r.failed == 2 && r.done == 0 && r.skipped == 0, "every input failing: failed 2, done 0");
    pipe_batch_result_free(&r);
    free(c.outputs);
}

/* N=1 and N=4 give byte-identical trees (with crops, multi-page TIFFs,
 * all four formats, and pages finishing out of order). */
static void test_concurrency(void)
{
    const char *in = tmp("cc");
    int bad[] = {5};
    make_pngs(in, 18, bad, 1);
    CHECK(write_tiff(tmp("cc/multi.tif"), 5, 20, 14), "tiff");
    CHECK(write_tiff(tmp("cc/s1/two.tiff"), 2, 9, 9), "tiff");
    fake_ctx c;
    memset(&c, 0, sizeof c);
    pipe_batch_result r1, r4;
    for (int run = 0; run < 2; run++) {
        fake_reset(&c);
        c.image_block = true;
        c.jitter = true;
        pipe_batch_params p = fake_params(&c, run ? 4 : 1);
        p.fmt[0] = PIPE_FMT_MD;
        p.fmt[1] = PIPE_FMT_JSON;
        p.fmt[2] = PIPE_FMT_TXT;
        p.fmt[3] = PIPE_FMT_HOCR;
        p.n_fmt = 4;
        CHECK(run_dir(in, tmp(run ? "cc-out4" : "cc-out1"), &p, run ? &r4 : &r1) == OCR_OK, "run");
        CHECK(c.states <= (run ? 4 : 1), "states %d", (int)c.states);
    }
    CHECK(r1.done == 19 && r4.done == 19 && r1.failed == 1 && r4.failed == 1 && r1.pages == 24 && r4.pages == 24,
          "same counts: %d/%d done, %ld/%ld pages", r1.done, r4.done, r1.pages, r4.pages);
    int nf = 0;
    CHECK(same_tree(tmp("cc-out1"), tmp("cc-out4"), &nf), "N=1 and N=4: identical outputs");
    CHECK(nf == 19 * 4 + 24, "%d files (4 formats per document + a crop per page)", nf);
    char *md = read_all(tmp("cc-out4/multi.md"), NULL);
    CHECK(md && strstr(md, "fake page 1: 20x14") && strstr(md, "fake page 5: 24x14") &&
              strstr(md, "fake page 1: 20x14") < strstr(md, "fake page 2: 21x14") &&
              strstr(md, "fake page 4: 23x14") < strstr(md, "fake page 5: 24x14") &&
              strstr(md, "multi_images/3-0.png"),
          "multi-page: one file, pages in order, crops linked");
    free(md);
    CHECK(exists(tmp("cc-out4/multi_images/5-0.png")) && !exists(tmp("cc-out4/.multi.vlocr-partial")),
          "crops saved; checkpoints removed once the document is written");
    pipe_batch_result_free(&r1);
    pipe_batch_result_free(&r4);
    free(c.outputs);
}

static void test_pages_selection(void)
{
    CHECK(write_tiff(tmp("sel/m.tif"), 4, 10, 10), "tiff");
    write_png(tmp("sel/single.png"), 7, 7);
    fake_ctx c;
    memset(&c, 0, sizeof c);
    fake_reset(&c);
    pipe_batch_params p = fake_params(&c, 2);
    pipe_pages sel;
    ocr_err e = {0};
    CHECK(pipe_pages_parse(&sel, "2-3", &e) == OCR_OK, "parse");
    p.pages = &sel;
    pipe_batch_result r;
    CHECK(run_dir(tmp("sel"), tmp("sel-out"), &p, &r) == OCR_OK, "run");
    char *md = read_all(tmp("sel-out/m.md"), NULL);
    CHECK(md && !strstr(md, "fake page 1:") && strstr(md, "fake page 2: 11x10") && strstr(md, "fake page 3: 12x10") &&
              !strstr(md, "fake page 4:"),
          "--pages 2-3 of a 4-page TIFF");
    CHECK(r.done == 1 && r.failed == 1 && r.reasons[1] && strstr(r.reasons[1], "single.png: 1 page, none of them selected"),
          "a document with no selected page fails with its reason: %s", r.reasons[1] ? r.reasons[1] : "");
    free(md);
    pipe_batch_result_free(&r);
    pipe_pages_free(&sel);
    free(c.outputs);
}

/* A multi-page document killed (here: failed) half-way keeps its finished
 * pages; the rerun recognises only the others. */
static void test_checkpoints(void)
{
    CHECK(write_tiff(tmp("ck/book.tif"), 5, 10, 6), "tiff");
    fake_ctx c;
    memset(&c, 0, sizeof c);
    fake_reset(&c);
    c.fail_name = "book.tif";
    c.fail_page = 2;
    c.image_block = true;
    pipe_batch_params p = fake_params(&c, 1);
    pipe_batch_result r;
    CHECK(run_dir(tmp("ck"), tmp("ck-out"), &p, &r) == OCR_OK, "run");
    CHECK(r.failed == 1 && r.reasons[0] && strstr(r.reasons[0], "book.tif page 3") &&
              strstr(r.reasons[0], "told to fail"),
          "page 3 fails the document: %s", r.reasons[0] ? r.reasons[0] : "");
    CHECK(!exists(tmp("ck-out/book.md")), "no output for a failed document");
    CHECK(exists(tmp("ck-out/.book.vlocr-partial/page-0001.json")) &&
              exists(tmp("ck-out/.book.vlocr-partial/page-0002.json")) &&
              !exists(tmp("ck-out/.book.vlocr-partial/page-0004.json")),
          "pages 1-2 kept; the pages after the failure were not started");
    pipe_batch_result_free(&r);

    fake_reset(&c);
    c.image_block = true;
    CHECK(run_dir(tmp("ck"), tmp("ck-out"), &p, &r) == OCR_OK, "rerun");
    CHECK(r.done == 1 && c.calls == 3 && r.pages == 3 && r.pages_resumed == 2,
          "rerun recognises pages 3-5 only (%d calls, %ld resumed)", (int)c.calls, r.pages_resumed);
    pipe_batch_result_free(&r);
    /* Same bytes as a run that never stopped. */
    fake_reset(&c);
    c.image_block = true;
    p.fmt[1] = PIPE_FMT_JSON;
    p.n_fmt = 2;
    CHECK(run_dir(tmp("ck"), tmp("ck-clean"), &p, &r) == OCR_OK, "clean run");
    pipe_batch_result_free(&r);
    fake_reset(&c);
    c.image_block = true;
    c.fail_name = "book.tif";
    c.fail_page = 3;
    CHECK(run_dir(tmp("ck"), tmp("ck-out2"), &p, &r) == OCR_OK, "failing run");
    pipe_batch_result_free(&r);
    fake_reset(&c);
    c.image_block = true;
    CHECK(run_dir(tmp("ck"), tmp("ck-out2"), &p, &r) == OCR_OK, "resumed run");
    pipe_batch_result_free(&r);
    int nf = 0;
    CHECK(same_tree(tmp("ck-clean"), tmp("ck-out2"), &nf) && nf == 2 + 5,
          "resumed document = uninterrupted one, byte for byte (md, json, crops)");
    free(c.outputs);
}

static void test_stale_cleanup(void)
{
    const char *in = tmp("st"), *out = tmp("st-out");
    write_png(tmp("st/a.png"), 9, 9);
    write_png(tmp("st/sub/b.png"), 9, 9);
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/a.md.tmp.%d", out, (int)dead);
    write_bytes(p, "half a fi", 9);
    snprintf(p, sizeof p, "%s/sub/b.json.tmp.%d", out, (int)dead);
    write_bytes(p, "{\"hal", 5);
    snprintf(p, sizeof p, "%s/sub/b_images/1-0.png.tmp.%d", out, (int)dead);
    write_bytes(p, "\x89PN", 3);
    snprintf(p, sizeof p, "%s/a.md.tmp.%d", out, (int)getppid()); /* a live process's */
    write_bytes(p, "in progress", 11);
    snprintf(p, sizeof p, "%s/notes.tmp.%d", out, (int)dead); /* not one of ours */
    write_bytes(p, "keep", 4);
    fake_ctx c;
    memset(&c, 0, sizeof c);
    fake_reset(&c);
    pipe_batch_params p1 = fake_params(&c, 2);
    pipe_batch_result r;
    CHECK(run_dir(in, out, &p1, &r) == OCR_OK, "run");
    CHECK(r.stale_removed == 3 && c.ev_notes == 1, "3 stale temporaries removed and noted (%d)", r.stale_removed);
    CHECK(count_files(out, ".tmp.") == 2, "a live process's temporary and a foreign file are kept");
    CHECK(r.done == 2, "and the batch ran");
    pipe_batch_result_free(&r);
    free(c.outputs);
}

static void test_cancel(void)
{
    const char *in = tmp("cn"), *out = tmp("cn-out");
    make_pngs(in, 30, NULL, 0);
    fake_ctx c;
    memset(&c, 0, sizeof c);
    fake_reset(&c);
    atomic_int cancel = 0;
    c.cancel_after_flag = &cancel;
    c.cancel_after = 10;
    c.sleep_us = 1000;
    pipe_batch_params p = fake_params(&c, 3);
    p.cancel = &cancel;
    pipe_batch_result r;
    CHECK(run_dir(in, out, &p, &r) == OCR_OK, "run");
    CHECK(r.was_cancelled && r.cancelled > 0 && r.done >= 10 && r.done < 30 && r.done + r.cancelled == 30,
          "cancelled: %d done, %d left", r.done, r.cancelled);
    int good = 0;
    for (int i = 0; i < 30; i++) good += png_out_ok(out, i);
    CHECK(good == r.done && count_files(out, ".md") == r.done && count_files(out, ".tmp.") == 0,
          "pages in progress finished cleanly; nothing partial");
    int done1 = r.done;
    pipe_batch_result_free(&r);
    fake_reset(&c);
    p.cancel = NULL;
    CHECK(run_dir(in, out, &p, &r) == OCR_OK, "rerun");
    CHECK(r.skipped == done1 && r.done == 30 - done1, "rerun finishes the rest");
    pipe_batch_result_free(&r);
    free(c.outputs);
}

/* Without outputs, documents come back through PIPE_EV_OUTPUT in input
 * order whatever order they finish in. */
static void test_stdout_order(void)
{
    const char *in = tmp("so");
    make_pngs(in, 12, NULL, 0);
    fake_ctx c;
    memset(&c, 0, sizeof c);
    fake_reset(&c);
    c.jitter = true;
    pipe_batch_params p = fake_params(&c, 4);
    pipe_inputs pi;
    ocr_err e = {0};
    char a0[1024];
    snprintf(a0, sizeof a0, "%s", in);
    char *args[] = {a0};
    CHECK(pipe_inputs_expand(&pi, args, 1, NULL, &e) == OCR_OK, "expand");
    pipe_batch_result r;
    CHECK(pipe_batch_run(&pi, &p, &r, &e) == OCR_OK, "run");
    CHECK(r.done == 12 && c.outputs_in_order, "12 outputs, in input order");
    /* the concatenation is the docs' Markdown in expansion order */
    size_t off = 0;
    bool ok = c.outputs != NULL;
    for (int i = 0; ok && i < pi.n; i++) {
        PIX *pix = NULL;
        ok = img_load(&pix, pi.v[i].path, NULL, &e) == OCR_OK;
        char *want = ok ? expected_md(pixGetWidth(pix), pixGetHeight(pix), false, NULL) : NULL;
        pixDestroy(&pix);
        ok = want && !strncmp(c.outputs + off, want, strlen(want));
        if (want) off += strlen(want);
        free(want);
    }
    CHECK(ok && off == c.outputs_len, "stdout stream = documents in order");
    pipe_batch_result_free(&r);
    pipe_inputs_free(&pi);
    free(c.outputs);
}

/* --------------------------------------------------------------- SIGKILL */

static void test_kill(void)
{
    const char *in = tmp("kill"), *out = tmp("kill-out");
    int bad[] = {17, 101, 170};
    make_pngs(in, 200, bad, 3);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        fake_ctx c;
        memset(&c, 0, sizeof c);
        fake_reset(&c);
        c.sleep_us = 2000;
        pipe_batch_params p = fake_params(&c, 3);
        p.on_event = NULL;
        pipe_batch_result r;
        run_dir(in, out, &p, &r);
        _exit(0);
    }
    /* Kill once about half the outputs exist. */
    int seen = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        seen = count_files(out, ".md");
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) * 1e-9;
        if (seen >= 90 || el > 60) break;
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was killed (status %#x)", status);
    int present = 0, whole = 0;
    for (int i = 0; i < 200; i++) {
        char p[1024];
        png_out_name(p, sizeof p, out, i, "md");
        if (!exists(p)) continue;
        present++;
        whole += png_out_ok(out, i);
    }
    int tmps = count_files(out, ".tmp.");
    printf("  killed with %d outputs present (%d temporaries)\n", present, tmps);
    CHECK(present >= 40 && present < 197, "killed part-way (%d of 197 outputs)", present);
    CHECK(whole == present, "every output present is whole (%d of %d)", whole, present);

    fake_ctx c;
    memset(&c, 0, sizeof c);
    fake_reset(&c);
    c.sleep_us = 2000;
    pipe_batch_params p = fake_params(&c, 3);
    pipe_batch_result r;
    CHECK(run_dir(in, out, &p, &r) == OCR_OK, "rerun");
    CHECK(r.skipped == present && r.done == 197 - present && r.failed == 3,
          "rerun: %d skipped, %d done, %d failed", r.skipped, r.done, r.failed);
    CHECK(r.stale_removed == tmps, "the killed run's temporaries removed (%d of %d)", r.stale_removed, tmps);
    int good = 0;
    for (int i = 0; i < 200; i++) good += png_out_ok(out, i);
    CHECK(good == 197 && count_files(out, ".md") == 197, "all 197 outputs exist and are whole (%d)", good);
    CHECK(count_files(out, ".tmp.") == 0, "no temporaries left");
    int named = 0;
    for (int k = 0; k < 3; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "p%03d.png", bad[k]);
        for (int i = 0; i < r.docs; i++)
            if (r.reasons[i] && strstr(r.reasons[i], nm)) {
                named++;
                break;
            }
    }
    CHECK(named == 3, "the 3 corrupt files reported by name");
    pipe_batch_result_free(&r);
    free(c.outputs);
}

/* ------------------------------------------------------------------ hOCR */

/* Tags balance (a stack of names), no stray '<' or '&' outside markup. */
static bool well_formed(const char *s, char *why, size_t cap)
{
    char stack[64][32];
    int depth = 0;
    const char *p = s;
    if (strncmp(p, "<?xml", 5) == 0) p = strstr(p, "?>") + 2;
    while (*p) {
        if (*p == '&') {
            const char *semi = strchr(p, ';');
            if (!semi || semi - p > 8) {
                snprintf(why, cap, "bare '&' at %d", (int)(p - s));
                return false;
            }
            p = semi + 1;
            continue;
        }
        if (*p != '<') {
            if (*p == '>') {
                snprintf(why, cap, "bare '>' at %d", (int)(p - s));
                return false;
            }
            p++;
            continue;
        }
        if (!strncmp(p, "<!DOCTYPE", 9)) {
            p = strchr(p, '>') + 1;
            continue;
        }
        const char *end = strchr(p, '>');
        if (!end) {
            snprintf(why, cap, "unterminated tag");
            return false;
        }
        for (const char *q = p + 1; q < end; q++)
            if (*q == '<') {
                snprintf(why, cap, "'<' inside a tag at %d", (int)(q - s));
                return false;
            }
        bool closing = p[1] == '/', empty = end[-1] == '/';
        const char *n = p + 1 + closing;
        size_t nl = strcspn(n, " />\n");
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(nl < 31 ? nl : 31), n);
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0) {
                snprintf(why, cap, "</%s> closes <%s>", name, depth ? stack[depth - 1] : "(nothing)");
                return false;
            }
            depth--;
        } else if (!empty) {
            if (depth == 64) return false;
            snprintf(stack[depth++], 32, "%s", name);
        }
        p = end + 1;
    }
    if (depth) snprintf(why, cap, "<%s> not closed", stack[depth - 1]);
    return depth == 0;
}

static void test_hocr(void)
{
    pipe_doc d;
    pipe_page *pg = NULL;
    pipe_block *b = NULL;
    ocr_err e = {0};
    pipe_doc_init(&d, "scans/a&b \"1\".png", &e);
    pipe_doc_add_page(&d, &pg, 1, 100, 50, &e);
    const char *t1 = "Title <b> & \"q\" 'x'\nsecond line\n\n  third\x01 \xff\xfe bad";
    pipe_page_add_block(pg, &b, "title", 5, t1, strlen(t1), &e);
    pipe_block_add_box(b, (pipe_box){10, 20, 30, 50}, &e);
    b->confidence = 0.874f;
    pipe_page_add_block(pg, &b, "image", 5, NULL, 0, &e);
    pipe_block_add_box(b, (pipe_box){0, 0, 5, 5}, &e);
    const char *t2 = "no box here";
    pipe_page_add_block(pg, &b, "text", 4, t2, strlen(t2), &e);
    pipe_page_add_block(pg, &b, "text", 4, "one\ntwo", 7, &e);
    pipe_block_add_box(b, (pipe_box){1, 2, 3, 4}, &e);
    pipe_block_add_box(b, (pipe_box){5, 6, 7, 8}, &e);
    b->confidence = 1.0f;
    pipe_doc_add_page(&d, &pg, 2, 64, 32, &e);
    char *s = NULL;
    size_t n = 0;
    CHECK(pipe_doc_render(&d, PIPE_FMT_HOCR, &s, &n, &e) == OCR_OK && s && n == strlen(s), "render hocr");
    char why[256] = "";
    CHECK(s && well_formed(s, why, sizeof why), "well-formed: %s", why);
    CHECK(s && strstr(s, "class=\"ocr_page\" id=\"page_1\" title=\"image &quot;scans/a&amp;b &quot;1&quot;.png&quot;; bbox 0 0 100 50; ppageno 0\""),
          "page bbox and image name escaped");
    CHECK(s && strstr(s, "id=\"page_2\"") && strstr(s, "bbox 0 0 64 32; ppageno 1"), "second page");
    CHECK(s && strstr(s, "<div class=\"ocr_carea\" id=\"block_1_1\" title=\"bbox 10 20 30 50\">"), "carea bbox");
    CHECK(s && strstr(s, "<p class=\"ocr_par\" id=\"par_1_1\" title=\"bbox 10 20 30 50\">"), "par bbox");
    /* 3 lines in a 30-pixel-high box: bands of 10 */
    CHECK(s && strstr(s, "title=\"bbox 10 20 30 30; x_wconf 87\">Title &lt;b&gt; &amp; &quot;q&quot; &#39;x&#39;</span>"),
          "line 1: band bbox, x_wconf, escaped text");
    CHECK(s && strstr(s, "title=\"bbox 10 30 30 40; x_wconf 87\">second line</span>"), "line 2");
    CHECK(s && strstr(s, "title=\"bbox 10 40 30 50; x_wconf 87\">third  \xEF\xBF\xBD\xEF\xBF\xBD bad</span>"),
          "line 3: control char -> space, invalid UTF-8 -> U+FFFD");
    CHECK(s && strstr(s, "<div class=\"ocr_photo\" id=\"block_1_2\" title=\"bbox 0 0 5 5\"></div>"), "image block");
    CHECK(s && strstr(s, "<span class=\"ocr_line\" id=\"line_1_4\">no box here</span>"), "no box: no bbox");
    CHECK(s && strstr(s, "title=\"bbox 1 2 3 4; x_wconf 100\">one</span>") &&
              strstr(s, "title=\"bbox 5 6 7 8; x_wconf 100\">two</span>"),
          "one box per line: each line gets its box");
    free(s);
    pipe_doc_free(&d);
    CHECK(pipe_format_parse("hocr") == PIPE_FMT_HOCR && !strcmp(pipe_format_ext(PIPE_FMT_HOCR), "hocr"),
          "format name");
}

int main(void)
{
    TST_RUN(test_pages);
    TST_RUN(test_expand_tree);
    TST_RUN(test_unreadable_dir);
    TST_RUN(test_list_file);
    TST_RUN(test_plan);
    TST_RUN(test_batch_basic);
    TST_RUN(test_concurrency);
    TST_RUN(test_pages_selection);
    TST_RUN(test_checkpoints);
    TST_RUN(test_stale_cleanup);
    TST_RUN(test_cancel);
    TST_RUN(test_stdout_order);
    TST_RUN(test_hocr);
    TST_RUN(test_kill);
    return tst_finish();
}

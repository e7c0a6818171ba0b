/* pipeline/pipe_batch.c — the batch runner: N workers recognise the pages
 * of many documents through a caller's callback, and each document's
 * outputs are written once all its pages are done.
 *
 * Scheduling is by page, so a 300-page PDF keeps every worker busy, while
 * documents are opened one at a time in input order (the page count is
 * learnt then), so only about N documents are held open at once. A worker
 * takes a queued page if there is one, else opens the next document and
 * queues its pages; the pages of a document are decoded under the
 * document's lock (one img_source, possibly a poppler document, is never
 * used by two threads at once) and recognised concurrently.
 *
 * Crash safety is the order of writes: a page's crops and overlay, then
 * (multi-page documents) its checkpoint in .<stem>.vlocr-partial/, and the
 * document's format outputs only when every page is in; every file goes
 * through ocr_file_write_atomic (temporary + rename). So after a SIGKILL
 * at any moment, "every format output exists" still means "complete", the
 * checkpoints hold whole pages, and the rest is temporaries <name>.tmp.<pid>
 * that the next run removes when <pid> is gone.
 *
 * Reports go through one callback, serialised by report_mu; the library
 * prints nothing. Lock order: mu (queue and counters) is never held while
 * report_mu is taken. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/pipe.h"

pipe_batch_params pipe_batch_default_params(void)
{
    pipe_batch_params p;
    memset(&p, 0, sizeof p);
    p.n_workers = 1;
    p.crops = true;
    p.lim = img_default_limits();
    p.progress_interval_s = 0.25;
    return p;
}

void pipe_batch_result_free(pipe_batch_result *r)
{
    if (!r) return;
    if (r->reasons)
        for (int i = 0; i < r->docs; i++) free(r->reasons[i]);
    free(r->reasons);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- state */

typedef struct {
    pthread_mutex_t mu; /* src and n_decoded */
    bool mu_init;
    img_source src;
    bool src_open;
    int n_pages;       /* pages of the source */
    int n_sel;         /* selected pages */
    int *sel;          /* [n_sel] 0-based page indices, ascending */
    pipe_page *slots;  /* [n_sel] */
    bool *have;        /* [n_sel] */
    int n_queued;      /* pages recognised in this run */
    int n_decoded;     /* of n_queued, decoded (or given up) */
    int n_left;        /* of n_queued, not finished */
    bool opened, finished, failed, skipped;
    char *reason;      /* first failure */
    char *partial_dir; /* checkpoints; NULL when none are kept */
    char *rendered;    /* stdout mode: the document in fmt[0] */
    size_t rendered_len;
    bool emit_ready;   /* report_mu */
} bdoc;

typedef struct {
    int doc, slot;
} bitem;

typedef struct batch batch;

typedef struct {
    batch *b;
    int id;
    void *state;
    bool state_made;
    pthread_t tid;
    bool started;
} bworker;

struct batch {
    const pipe_inputs *in;
    const pipe_batch_params *p;
    bool planned;
    bool want_crops;
    bdoc *docs;
    int n;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bitem *q;
    int q_head, q_n, q_cap;
    int next_doc;
    int opening;
    int unopened;      /* documents not yet opened, skipped or failed */
    long pages_known;  /* pages queued over opened documents */
    long pages_done, pages_failed, pages_resumed;
    int docs_done, docs_skipped, docs_failed;
    bool fatal;
    ocr_err fatal_err;
    double t0, last_progress;

    pthread_mutex_t report_mu;
    int next_emit;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool cancelled(const batch *b)
{
    return b->p->cancel && atomic_load(b->p->cancel) != 0;
}

static void snapshot(batch *b, pipe_batch_progress *pr)
{
    pthread_mutex_lock(&b->mu);
    memset(pr, 0, sizeof *pr);
    pr->docs = b->n;
    pr->docs_done = b->docs_done;
    pr->docs_skipped = b->docs_skipped;
    pr->docs_failed = b->docs_failed;
    pr->pages_done = b->pages_done;
    pr->pages_total = b->pages_known + b->unopened;
    pr->total_exact = b->unopened == 0;
    pthread_mutex_unlock(&b->mu);
    pr->elapsed_s = now_s() - b->t0;
    pr->pages_per_s = pr->elapsed_s > 0 && pr->pages_done > 0 ? pr->pages_done / pr->elapsed_s : 0;
    pr->eta_s = pr->pages_per_s > 0 ? (pr->pages_total - pr->pages_done) / pr->pages_per_s : -1;
    if (pr->eta_s < -1) pr->eta_s = 0;
}

static void report(batch *b, pipe_batch_event *ev)
{
    if (!b->p->on_event) return;
    snapshot(b, &ev->progress);
    pthread_mutex_lock(&b->report_mu);
    b->p->on_event(b->p->ctx, ev);
    pthread_mutex_unlock(&b->report_mu);
}

static void report_doc(batch *b, pipe_batch_event_kind kind, int d, const char *msg)
{
    pipe_batch_event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.doc = d;
    ev.in = d >= 0 ? &b->in->v[d] : NULL;
    ev.msg = msg;
    report(b, &ev);
}

static void report_note(batch *b, const char *msg) { report_doc(b, PIPE_EV_NOTE, -1, msg); }

/* A PROGRESS event when the interval has passed (or `force`). */
static void maybe_progress(batch *b, bool force)
{
    bool send = force;
    double t = now_s();
    pthread_mutex_lock(&b->mu);
    if (t - b->last_progress >= b->p->progress_interval_s) send = true;
    if (send) b->last_progress = t;
    pthread_mutex_unlock(&b->mu);
    if (send) report_doc(b, PIPE_EV_PROGRESS, -1, NULL);
}

/* Stdout mode: hand over finished documents in input order. */
static void emit_ready(batch *b, int d, bool flush_all)
{
    pthread_mutex_lock(&b->report_mu);
    if (d >= 0) b->docs[d].emit_ready = true;
    while (b->next_emit < b->n && (b->docs[b->next_emit].emit_ready || flush_all)) {
        bdoc *D = &b->docs[b->next_emit];
        if (D->emit_ready && D->rendered && b->p->on_event) {
            pipe_batch_event ev;
            memset(&ev, 0, sizeof ev);
            ev.kind = PIPE_EV_OUTPUT;
            ev.doc = b->next_emit;
            ev.in = &b->in->v[b->next_emit];
            ev.data = D->rendered;
            ev.len = D->rendered_len;
            snapshot(b, &ev.progress); /* lock order: report_mu, then mu */
            b->p->on_event(b->p->ctx, &ev);
        }
        free(D->rendered);
        D->rendered = NULL;
        b->next_emit++;
    }
    pthread_mutex_unlock(&b->report_mu);
}

/* ------------------------------------------------------------ file helpers */

static bool is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* mkdir -p; false with errno set. */
static bool mkdir_p(const char *dir)
{
    if (is_dir(dir)) return true;
    size_t n = strlen(dir);
    char *p = malloc(n + 1);
    if (!p) return false;
    memcpy(p, dir, n + 1);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                free(p);
                return false;
            }
            *s = '/';
        }
    bool ok = (mkdir(p, 0777) == 0 || errno == EEXIST) && is_dir(p);
    if (!ok && errno == EEXIST) errno = ENOTDIR;
    free(p);
    return ok;
}

/* The directory part of path (malloc'd; "." when it has none). */
static char *dir_of(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s) return strdup(".");
    if (s == path) return strdup("/");
    size_t n = (size_t)(s - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

/* <dir of base>/.<stem>.vlocr-partial */
static char *partial_dir_of(const char *base)
{
    const char *s = strrchr(base, '/');
    const char *stem = s ? s + 1 : base;
    int dn = s ? (int)(s - base) : 0;
    size_t cap = strlen(base) + 32;
    char *p = malloc(cap);
    if (!p) return NULL;
    if (s) snprintf(p, cap, "%.*s/.%s.vlocr-partial", dn, base, stem);
    else snprintf(p, cap, ".%s.vlocr-partial", stem);
    return p;
}

/* Remove a checkpoint directory: its page-*.json files (and temporaries of
 * them), then the directory. Anything else in it is left alone. */
static void remove_partial(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    char path[4352];
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "page-", 5) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* "<name>.tmp.<pid>" of ocr_file_write_atomic, for one of the files this
 * runner writes (by extension), of a process that no longer exists. */
static bool stale_temp(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    if (!t) return false;
    const char *last;
    while ((last = strstr(t + 1, ".tmp.")) != NULL) t = last;
    const char *digits = t + 5;
    if (!*digits) return false;
    long pid = 0;
    for (const char *c = digits; *c; c++) {
        if (*c < '0' || *c > '9' || pid > 1 << 30) return false;
        pid = pid * 10 + (*c - '0');
    }
    static const char *ext[] = {".md", ".txt", ".json", ".hocr", ".png"};
    bool ours = false;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t m = strlen(ext[i]);
        ours = ours || ((size_t)(t - name) > m && !strncmp(t - m, ext[i], m));
    }
    if (!ours || pid <= 0 || pid == (long)getpid()) return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Remove stale temporaries from every directory this batch writes to. */
static int clean_stale(batch *b)
{
    int cap = b->n * 4 + 1, n = 0, removed = 0;
    char **dirs = calloc((size_t)cap, sizeof *dirs);
    if (!dirs) return 0;
    for (int i = 0; i < b->n; i++) {
        const pipe_input *x = &b->in->v[i];
        if (!x->base) continue;
        dirs[n++] = dir_of(x->base);
        dirs[n++] = x->images_dir ? strdup(x->images_dir) : NULL;
        dirs[n++] = x->overlay_dir ? strdup(x->overlay_dir) : NULL;
        dirs[n++] = partial_dir_of(x->base);
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (dirs[i]) dirs[m++] = dirs[i];
    qsort(dirs, (size_t)m, sizeof *dirs, cmp_cstr);
    char path[4352];
    for (int i = 0; i < m; i++) {
        if (i > 0 && !strcmp(dirs[i], dirs[i - 1])) continue;
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (stale_temp(de->d_name)) {
                snprintf(path, sizeof path, "%s/%s", dirs[i], de->d_name);
                if (unlink(path) == 0) removed++;
            }
        closedir(d);
    }
    for (int i = 0; i < m; i++) free(dirs[i]);
    free(dirs);
    return removed;
}

/* ------------------------------------------------------------ checkpoints
 *
 * A finished page of a multi-page document as JSON, so that a killed run's
 * rerun redoes only unfinished pages. Everything the writers read is kept
 * exactly (blocks with their boxes, crops and lines); a string that is not
 * valid UTF-8 (jansson refuses those) is kept as {"hex": ...}. A checkpoint
 * of another format version (1: before lines) is not taken: its page is
 * redone. */

#define CK_VERSION 2

static json_t *ck_str(const char *s)
{
    if (!s) return json_null();
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *h = malloc(2 * n + 1);
    if (!h) return NULL;
    for (size_t i = 0; i < n; i++) snprintf(h + 2 * i, 3, "%02x", (unsigned char)s[i]);
    j = json_pack("{s:s}", "hex", h);
    free(h);
    return j;
}

/* The string of a ck_str value (malloc'd); *ok false when malformed. */
static char *ck_get_str(json_t *j, bool *ok)
{
    if (!j || json_is_null(j)) return NULL;
    if (json_is_string(j)) {
        char *s = strdup(json_string_value(j));
        if (!s) *ok = false;
        return s;
    }
    json_t *h = json_object_get(j, "hex");
    const char *hs = json_is_string(h) ? json_string_value(h) : NULL;
    size_t n = hs ? strlen(hs) : 1;
    if (!hs || n % 2) {
        *ok = false;
        return NULL;
    }
    char *s = malloc(n / 2 + 1);
    if (!s) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hs + 2 * i, "%2x", &v) != 1 || v == 0) {
            free(s);
            *ok = false;
            return NULL;
        }
        s[i] = (char)v;
    }
    s[n / 2] = 0;
    return s;
}

static const char *stop_name(const char *s)
{
    static const char *names[] = {"eos", "length", "loop", "context"};
    if (!s) return NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i])) return names[i];
    return NULL;
}

static ocr_status ck_write(const char *path, const pipe_page *pg, ocr_err *e)
{
    const pipe_run_stats *st = &pg->stats;
    json_t *blocks = json_array();
    json_t *ids = json_array();
    bool ok = blocks && ids;
    for (int i = 0; ok && i < pg->n_ids; i++) ok = json_array_append_new(ids, json_integer(pg->ids[i])) == 0;
    for (int i = 0; ok && i < pg->n_blocks; i++) {
        const pipe_block *bl = &pg->blocks[i];
        json_t *boxes = json_array(), *crops = bl->crops ? json_array() : json_null();
        ok = boxes && crops;
        for (int k = 0; ok && k < bl->n_boxes; k++) {
            const pipe_box *x = &bl->boxes[k];
            ok = json_array_append_new(boxes, json_pack("[iiii]", x->x1, x->y1, x->x2, x->y2)) == 0;
            if (ok && bl->crops) ok = json_array_append_new(crops, ck_str(bl->crops[k])) == 0;
        }
        /* lines: [[x1,y1,x2,y2] or null, text, confidence], ... */
        json_t *lines = ok ? json_array() : NULL;
        ok = ok && lines;
        for (int k = 0; ok && k < bl->n_lines; k++) {
            const pipe_line *l = &bl->lines[k];
            json_t *bx = l->has_box ? json_pack("[iiii]", l->box.x1, l->box.y1, l->box.x2, l->box.y2)
                                    : json_null();
            ok = json_array_append_new(lines, json_pack("[o, o, f]", bx, ck_str(l->text ? l->text : ""),
                                                        (double)l->confidence)) == 0;
        }
        json_t *o = ok ? json_pack("{s:o, s:o, s:f, s:o, s:o, s:o}", "type", ck_str(bl->type), "text",
                                   ck_str(bl->text ? bl->text : ""), "confidence",
                                   (double)bl->confidence, "boxes", boxes, "crops", crops, "lines",
                                   lines)
                       : NULL;
        if (!o) {
            if (!ok) {
                json_decref(boxes);
                json_decref(crops);
                json_decref(lines);
            }
            ok = false;
        } else {
            ok = json_array_append_new(blocks, o) == 0;
        }
    }
    json_t *stats = ok ? json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:i, s:i, s:i, s:f, s:f, s:f, s:f}",
                                   "tiles_w", st->tiles_w, "tiles_h", st->tiles_h, "n_tiles",
                                   st->n_tiles, "n_prompt", st->n_prompt, "n_image", st->n_image,
                                   "n_generated", st->n_generated, "stop",
                                   st->stop ? json_string(st->stop) : json_null(), "loop_period",
                                   st->loop_period, "loop_repeats", st->loop_repeats,
                                   "loop_start", st->loop_start, "t_prep", st->t_prep,
                                   "t_encode", st->t_encode, "t_prefill", st->t_prefill,
                                   "t_decode", st->t_decode)
                       : NULL;
    json_t *root = NULL;
    if (ok && stats) {
        root = json_pack("{s:i, s:i, s:i, s:i, s:b, s:o, s:o, s:o, s:o}", "vlocr_page", CK_VERSION,
                         "number", pg->number, "width", pg->width, "height", pg->height, "grounded",
                         pg->grounded, "raw", ck_str(pg->raw), "ids", ids, "stats", stats,
                         "blocks", blocks);
        ids = blocks = stats = NULL; /* stolen, even on failure */
    }
    json_decref(ids);
    json_decref(blocks);
    json_decref(stats);
    char *s = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!s) return ocr_err_set(e, OCR_E_NOMEM, "%s: cannot serialise the page", path);
    ocr_status rc = ocr_file_write_atomic(path, s, strlen(s), e);
    free(s);
    return rc;
}

/* Load a checkpoint of page `number` into pg (zeroed first); false when
 * it is missing or not a whole, matching page. */
static bool ck_read(const char *path, int number, pipe_page *pg)
{
    memset(pg, 0, sizeof *pg);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return false;
    bool ok = json_integer_value(json_object_get(root, "vlocr_page")) == CK_VERSION &&
              json_integer_value(json_object_get(root, "number")) == number;
    pg->number = number;
    pg->width = (int)json_integer_value(json_object_get(root, "width"));
    pg->height = (int)json_integer_value(json_object_get(root, "height"));
    pg->grounded = json_is_true(json_object_get(root, "grounded"));
    pg->raw = ck_get_str(json_object_get(root, "raw"), &ok);
    json_t *st = json_object_get(root, "stats");
    ok = ok && json_is_object(st);
    if (ok) {
        pipe_run_stats *s = &pg->stats;
        s->tiles_w = (int)json_integer_value(json_object_get(st, "tiles_w"));
        s->tiles_h = (int)json_integer_value(json_object_get(st, "tiles_h"));
        s->n_tiles = (int)json_integer_value(json_object_get(st, "n_tiles"));
        s->n_prompt = (int)json_integer_value(json_object_get(st, "n_prompt"));
        s->n_image = (int)json_integer_value(json_object_get(st, "n_image"));
        s->n_generated = (int)json_integer_value(json_object_get(st, "n_generated"));
        s->stop = stop_name(json_string_value(json_object_get(st, "stop")));
        s->loop_period = (int)json_integer_value(json_object_get(st, "loop_period"));
        s->loop_repeats = (int)json_integer_value(json_object_get(st, "loop_repeats"));
        s->loop_start = (int)json_integer_value(json_object_get(st, "loop_start"));
        s->t_prep = json_number_value(json_object_get(st, "t_prep"));
        s->t_encode = json_number_value(json_object_get(st, "t_encode"));
        s->t_prefill = json_number_value(json_object_get(st, "t_prefill"));
        s->t_decode = json_number_value(json_object_get(st, "t_decode"));
    }
    json_t *ids = json_object_get(root, "ids");
    ok = ok && json_is_array(ids);
    if (ok && json_array_size(ids) > 0) {
        size_t n = json_array_size(ids);
        pg->ids = malloc(n * sizeof *pg->ids);
        ok = pg->ids != NULL;
        for (size_t i = 0; ok && i < n; i++) pg->ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        if (ok) pg->n_ids = (int)n;
    }
    json_t *blocks = json_object_get(root, "blocks");
    ok = ok && json_is_array(blocks);
    for (size_t i = 0; ok && i < json_array_size(blocks); i++) {
        json_t *o = json_array_get(blocks, i);
        const char *type = json_string_value(json_object_get(o, "type"));
        char *text = ck_get_str(json_object_get(o, "text"), &ok);
        pipe_block *bl = NULL;
        ok = ok && type && pipe_page_add_block(pg, &bl, type, strlen(type), text ? text : "",
                                               text ? strlen(text) : 0, NULL) == OCR_OK;
        free(text);
        if (!ok) break;
        bl->confidence = (float)json_number_value(json_object_get(o, "confidence"));
        json_t *boxes = json_object_get(o, "boxes"), *crops = json_object_get(o, "crops");
        ok = json_is_array(boxes);
        for (size_t k = 0; ok && k < json_array_size(boxes); k++) {
            json_t *x = json_array_get(boxes, k);
            pipe_box bx = {(int)json_integer_value(json_array_get(x, 0)),
                           (int)json_integer_value(json_array_get(x, 1)),
                           (int)json_integer_value(json_array_get(x, 2)),
                           (int)json_integer_value(json_array_get(x, 3))};
            ok = json_array_size(x) == 4 && pipe_block_add_box(bl, bx, NULL) == OCR_OK;
        }
        if (ok && json_is_array(crops)) {
            ok = json_array_size(crops) == (size_t)bl->n_boxes &&
                 (bl->crops = calloc((size_t)(bl->cap_boxes > 0 ? bl->cap_boxes : 1), sizeof *bl->crops));
            for (int k = 0; ok && k < bl->n_boxes; k++)
                bl->crops[k] = ck_get_str(json_array_get(crops, (size_t)k), &ok);
        }
        json_t *lines = json_object_get(o, "lines");
        ok = ok && json_is_array(lines);
        for (size_t k = 0; ok && k < json_array_size(lines); k++) {
            json_t *l = json_array_get(lines, k), *x = json_array_get(l, 0);
            ok = json_array_size(l) == 3 && (json_is_null(x) || json_array_size(x) == 4) &&
                 json_is_number(json_array_get(l, 2));
            char *t = ok ? ck_get_str(json_array_get(l, 1), &ok) : NULL;
            pipe_box bx = {(int)json_integer_value(json_array_get(x, 0)),
                           (int)json_integer_value(json_array_get(x, 1)),
                           (int)json_integer_value(json_array_get(x, 2)),
                           (int)json_integer_value(json_array_get(x, 3))};
            ok = ok && pipe_block_add_line(bl, json_is_null(x) ? NULL : &bx, t, t ? strlen(t) : 0,
                                           (float)json_number_value(json_array_get(l, 2)),
                                           NULL) == OCR_OK;
            free(t);
        }
    }
    json_decref(root);
    if (!ok) pipe_page_free(pg);
    return ok;
}

/* ---------------------------------------------------------------- queue */

static bool q_push(batch *b, int doc, int slot)
{
    if (b->q_n == b->q_cap) {
        int nc = b->q_cap ? b->q_cap * 2 : 64;
        bitem *v = realloc(b->q, (size_t)nc * sizeof *v);
        if (!v) return false;
        b->q = v;
        b->q_cap = nc;
    }
    b->q[b->q_n++] = (bitem){doc, slot};
    return true;
}

static void set_fatal(batch *b, const ocr_err *e)
{
    pthread_mutex_lock(&b->mu);
    if (!b->fatal) {
        b->fatal = true;
        b->fatal_err = *e;
    }
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* ------------------------------------------------------------ documents */

static const char *source_name(const pipe_input *x) { return strcmp(x->path, "-") ? x->path : "<stdin>"; }

/* Mark d finished (done, skipped or failed) and report it. */
static void doc_finish(batch *b, int d, pipe_batch_event_kind kind, const char *reason)
{
    bdoc *D = &b->docs[d];
    pthread_mutex_lock(&b->mu);
    D->finished = true;
    if (kind == PIPE_EV_DOC_FAILED) {
        D->failed = true;
        if (!D->reason) D->reason = strdup(reason ? reason : "failed");
        b->docs_failed++;
    } else if (kind == PIPE_EV_DOC_SKIPPED) {
        D->skipped = true;
        b->docs_skipped++;
    } else {
        b->docs_done++;
    }
    pthread_mutex_unlock(&b->mu);
    report_doc(b, kind, d, kind == PIPE_EV_DOC_FAILED ? (D->reason ? D->reason : reason) : NULL);
    emit_ready(b, d, false);
}

static void doc_release(bdoc *D)
{
    if (D->src_open) img_source_free(&D->src);
    D->src_open = false;
    if (D->slots)
        for (int k = 0; k < D->n_sel; k++)
            if (D->have && D->have[k]) pipe_page_free(&D->slots[k]);
    free(D->slots);
    free(D->have);
    free(D->sel);
    D->slots = NULL;
    D->have = NULL;
    D->sel = NULL;
}

/* Every page is in: write the outputs (or render for stdout). */
static void doc_write(batch *b, int d)
{
    bdoc *D = &b->docs[d];
    const pipe_input *x = &b->in->v[d];
    if (D->failed) {
        doc_release(D);
        doc_finish(b, d, PIPE_EV_DOC_FAILED, D->reason);
        return;
    }
    ocr_err e = {0};
    pipe_doc doc;
    ocr_status rc = pipe_doc_init(&doc, source_name(x), &e);
    if (rc == OCR_OK) {
        doc.pages = D->slots;
        doc.n_pages = doc.cap_pages = D->n_sel;
        D->slots = NULL; /* the document owns the pages now */
        free(D->have);
        D->have = NULL;
    }
    if (rc == OCR_OK && b->planned) {
        for (int k = 0; rc == OCR_OK && k < b->p->n_fmt; k++) {
            int f = b->p->fmt[k];
            if (x->out[f]) rc = pipe_doc_write(&doc, (pipe_format)f, x->out[f], &e);
        }
        if (rc == OCR_OK && D->partial_dir) remove_partial(D->partial_dir);
    } else if (rc == OCR_OK) {
        rc = pipe_doc_render(&doc, (pipe_format)b->p->fmt[0], &D->rendered, &D->rendered_len, &e);
    }
    pipe_doc_free(&doc);
    doc_release(D);
    if (rc == OCR_OK) doc_finish(b, d, PIPE_EV_DOC_DONE, NULL);
    else doc_finish(b, d, PIPE_EV_DOC_FAILED, e.msg);
}

/* A document's input-level failure (before any page was queued). */
static void doc_fail_early(batch *b, int d, const char *msg)
{
    pthread_mutex_lock(&b->mu);
    b->unopened--;
    pthread_mutex_unlock(&b->mu);
    doc_release(&b->docs[d]);
    doc_finish(b, d, PIPE_EV_DOC_FAILED, msg);
}

static bool doc_complete(const batch *b, const pipe_input *x)
{
    if (!b->planned || !x->base || b->p->force || !strcmp(x->path, "-")) return false;
    for (int k = 0; k < b->p->n_fmt; k++) {
        const char *o = x->out[b->p->fmt[k]];
        if (o && !exists(o)) return false;
    }
    return true;
}

/* Open document d: skip it, fail it, or queue its pages. */
static void doc_open(batch *b, int d)
{
    bdoc *D = &b->docs[d];
    const pipe_input *x = &b->in->v[d];
    D->opened = true;
    if (x->error) {
        doc_fail_early(b, d, x->error);
        return;
    }
    if (doc_complete(b, x)) {
        char *pd = partial_dir_of(x->base);
        if (pd && is_dir(pd)) remove_partial(pd); /* killed after writing, before cleaning */
        free(pd);
        pthread_mutex_lock(&b->mu);
        b->unopened--;
        pthread_mutex_unlock(&b->mu);
        doc_finish(b, d, PIPE_EV_DOC_SKIPPED, NULL);
        return;
    }
    char msg[1400];
    if (b->planned) {
        char *dir = dir_of(x->base);
        bool ok = dir && mkdir_p(dir);
        if (!ok) snprintf(msg, sizeof msg, "%s: cannot create the output directory: %s", dir ? dir : x->base,
                          strerror(errno));
        free(dir);
        if (!ok) {
            doc_fail_early(b, d, msg);
            return;
        }
    }
    ocr_err e = {0};
    if (img_source_open(&D->src, x->path, &b->p->lim, &e) != OCR_OK) {
        doc_fail_early(b, d, e.msg);
        return;
    }
    D->src_open = true;
    D->n_pages = D->src.n_pages;
    D->sel = malloc((size_t)(D->n_pages > 0 ? D->n_pages : 1) * sizeof *D->sel);
    if (!D->sel) {
        doc_fail_early(b, d, "out of memory");
        return;
    }
    for (int pgi = 0; pgi < D->n_pages; pgi++)
        if (pipe_pages_has(b->p->pages, pgi + 1)) D->sel[D->n_sel++] = pgi;
    if (D->n_sel == 0) {
        snprintf(msg, sizeof msg, "%s: %d page%s, none of them selected by the page selection",
                 source_name(x), D->n_pages, D->n_pages == 1 ? "" : "s");
        doc_fail_early(b, d, msg);
        return;
    }
    D->slots = calloc((size_t)D->n_sel, sizeof *D->slots);
    D->have = calloc((size_t)D->n_sel, sizeof *D->have);
    if (!D->slots || !D->have) {
        doc_fail_early(b, d, "out of memory");
        return;
    }
    /* Multi-page documents keep their finished pages across runs. */
    int resumed = 0;
    if (b->planned && D->n_sel > 1 && strcmp(x->path, "-") != 0) {
        D->partial_dir = partial_dir_of(x->base);
        if (D->partial_dir && b->p->force) remove_partial(D->partial_dir);
        else if (D->partial_dir && is_dir(D->partial_dir)) {
            char path[4352];
            for (int k = 0; k < D->n_sel; k++) {
                snprintf(path, sizeof path, "%s/page-%04d.json", D->partial_dir, D->sel[k] + 1);
                if (ck_read(path, D->sel[k] + 1, &D->slots[k])) {
                    D->have[k] = true;
                    resumed++;
                }
            }
        }
    }
    D->n_queued = D->n_sel - resumed;
    D->n_left = D->n_queued;
    if (D->n_queued == 0) {
        img_source_free(&D->src);
        D->src_open = false;
        pthread_mutex_lock(&b->mu);
        b->unopened--;
        b->pages_resumed += resumed;
        pthread_mutex_unlock(&b->mu);
        doc_write(b, d);
        return;
    }
    bool ok = true;
    pthread_mutex_lock(&b->mu);
    for (int k = 0; ok && k < D->n_sel; k++)
        if (!D->have[k]) ok = q_push(b, d, k);
    b->unopened--;
    b->pages_known += D->n_queued;
    b->pages_resumed += resumed;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (!ok) {
        ocr_err oe = {0};
        ocr_err_set(&oe, OCR_E_NOMEM, "pipe_batch_run: out of memory queueing pages");
        set_fatal(b, &oe);
    }
}

/* One page: decode, recognise, crops/overlay/checkpoint, then hand it to
 * the document; the worker that finishes a document's last page writes it. */
static void page_run(batch *b, bworker *w, int d, int k)
{
    bdoc *D = &b->docs[d];
    const pipe_input *x = &b->in->v[d];
    int page = D->sel[k];
    char name[1100];
    if (D->n_pages > 1) snprintf(name, sizeof name, "%s page %d", source_name(x), page + 1);
    else snprintf(name, sizeof name, "%s", source_name(x));
    pipe_batch_page job = {x, d, page, D->n_pages, w->id, name};

    ocr_err e = {0};
    ocr_status rc = OCR_OK;
    PIX *pix = NULL;
    pthread_mutex_lock(&b->mu);
    bool skip = D->failed; /* another page of the document failed */
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_lock(&D->mu);
    if (!skip) rc = img_source_decode(&pix, &D->src, page, &b->p->lim, &e);
    if (++D->n_decoded == D->n_queued && D->src_open) {
        img_source_free(&D->src);
        D->src_open = false;
    }
    pthread_mutex_unlock(&D->mu);

    pipe_page pg;
    memset(&pg, 0, sizeof pg);
    if (!skip && rc == OCR_OK) {
        pg.number = page + 1;
        pg.width = pixGetWidth(pix);
        pg.height = pixGetHeight(pix);
        rc = b->p->process(b->p->ctx, w->state, &job, pix, &pg, &e);
        if (rc == OCR_OK) pg.number = page + 1;
    }
    if (!skip && rc == OCR_OK && b->want_crops && x->images_dir)
        rc = pipe_page_save_crops(&pg, pix, x->images_dir, x->images_link, &e);
    if (!skip && rc == OCR_OK && b->p->overlay && x->overlay_dir) {
        char path[4352];
        snprintf(path, sizeof path, "%s/%d.png", x->overlay_dir, page + 1);
        if (!mkdir_p(x->overlay_dir))
            rc = ocr_err_set(&e, OCR_E_IO, "%s: cannot create directory: %s", x->overlay_dir,
                             strerror(errno));
        else
            rc = ovl_page_write(pix, &pg, path, &e);
    }
    if (!skip && rc == OCR_OK && D->partial_dir) {
        char path[4352];
        snprintf(path, sizeof path, "%s/page-%04d.json", D->partial_dir, page + 1);
        if (!mkdir_p(D->partial_dir))
            rc = ocr_err_set(&e, OCR_E_IO, "%s: cannot create directory: %s", D->partial_dir,
                             strerror(errno));
        else
            rc = ck_write(path, &pg, &e);
    }
    pixDestroy(&pix);

    if (!skip && rc == OCR_OK) {
        pipe_batch_event ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = PIPE_EV_PAGE;
        ev.doc = d;
        ev.in = x;
        ev.page = &job;
        ev.pg = &pg;
        report(b, &ev);
    }
    char reason[1200] = "";
    if (!skip && rc != OCR_OK) {
        if (strstr(e.msg, source_name(x))) snprintf(reason, sizeof reason, "%s", e.msg);
        else snprintf(reason, sizeof reason, "%s: %s", name, e.msg);
    }
    pthread_mutex_lock(&b->mu);
    if (!skip && rc == OCR_OK) {
        D->slots[k] = pg;
        D->have[k] = true;
        b->pages_done++;
    } else {
        pipe_page_free(&pg);
        b->pages_known--; /* the total counts pages that will be recognised */
        if (!skip) {
            b->pages_failed++;
            if (!D->failed) {
                D->failed = true;
                D->reason = strdup(reason);
            }
        }
    }
    bool last = --D->n_left == 0;
    pthread_mutex_unlock(&b->mu);
    if (last) doc_write(b, d);
    maybe_progress(b, false);
}

/* ---------------------------------------------------------------- workers */

static void *worker_main(void *arg)
{
    bworker *w = arg;
    batch *b = w->b;
    for (;;) {
        int kind = 0, d = -1, k = -1; /* 0 none, 1 open, 2 page */
        pthread_mutex_lock(&b->mu);
        for (;;) {
            if (b->fatal || cancelled(b)) break;
            if (b->q_head < b->q_n) {
                kind = 2;
                d = b->q[b->q_head].doc;
                k = b->q[b->q_head].slot;
                b->q_head++;
                break;
            }
            if (b->next_doc < b->n) {
                kind = 1;
                d = b->next_doc++;
                b->opening++;
                break;
            }
            if (b->opening == 0) break;
            /* Another worker is opening a document that may queue pages;
             * wake up now and then to see a cancellation. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
        pthread_mutex_unlock(&b->mu);
        if (kind == 0) break;
        if (kind == 1) {
            doc_open(b, d);
            pthread_mutex_lock(&b->mu);
            b->opening--;
            pthread_cond_broadcast(&b->cv);
            pthread_mutex_unlock(&b->mu);
            continue;
        }
        if (!w->state_made) {
            ocr_err e = {0};
            w->state = NULL;
            if (b->p->state_create && b->p->state_create(b->p->ctx, w->id, &w->state, &e) != OCR_OK) {
                ocr_err_prefix(&e, "worker %d: cannot create the recogniser state", w->id);
                /* Fatal: the page is dropped, so its document stays
                 * unfinished (no output; the next run redoes it). */
                set_fatal(b, &e);
                break;
            }
            w->state_made = true;
        }
        page_run(b, w, d, k);
    }
    return NULL;
}

ocr_status pipe_batch_run(const pipe_inputs *in, const pipe_batch_params *p, pipe_batch_result *r,
                          ocr_err *e)
{
    memset(r, 0, sizeof *r);
    if (!in || !p || !p->process)
        return ocr_err_set(e, OCR_E_ARG, "pipe_batch_run: inputs, params and process are required");
    if (p->n_fmt < 1 || p->n_fmt > PIPE_FMT_COUNT)
        return ocr_err_set(e, OCR_E_ARG, "pipe_batch_run: %d formats", p->n_fmt);
    for (int k = 0; k < p->n_fmt; k++)
        if (p->fmt[k] < 0 || p->fmt[k] >= PIPE_FMT_COUNT)
            return ocr_err_set(e, OCR_E_ARG, "pipe_batch_run: bad format %d", p->fmt[k]);
    if (p->n_workers < 1 || p->n_workers > 1024)
        return ocr_err_set(e, OCR_E_ARG, "pipe_batch_run: %d workers (1..1024)", p->n_workers);

    batch B;
    memset(&B, 0, sizeof B);
    B.in = in;
    B.p = p;
    B.n = in->n;
    for (int i = 0; i < in->n; i++)
        if (in->v[i].base) B.planned = true;
    for (int k = 0; k < p->n_fmt; k++) B.want_crops = B.want_crops || (p->crops && p->fmt[k] == PIPE_FMT_MD);
    B.want_crops = B.want_crops && B.planned;
    B.docs = calloc((size_t)(in->n ? in->n : 1), sizeof *B.docs);
    r->reasons = calloc((size_t)(in->n ? in->n : 1), sizeof *r->reasons);
    bworker *wk = calloc((size_t)p->n_workers, sizeof *wk);
    if (!B.docs || !r->reasons || !wk) {
        free(B.docs);
        free(wk);
        pipe_batch_result_free(r);
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_batch_run: out of memory");
    }
    r->docs = in->n;
    pthread_mutex_init(&B.mu, NULL);
    pthread_cond_init(&B.cv, NULL);
    pthread_mutex_init(&B.report_mu, NULL);
    for (int i = 0; i < B.n; i++) {
        pthread_mutex_init(&B.docs[i].mu, NULL);
        B.docs[i].mu_init = true;
    }
    B.unopened = B.n;
    B.t0 = now_s();
    B.last_progress = B.t0;

    if (B.planned) {
        r->stale_removed = clean_stale(&B);
        if (r->stale_removed) {
            char msg[160];
            snprintf(msg, sizeof msg, "removed %d temporary file%s left by an interrupted run",
                     r->stale_removed, r->stale_removed == 1 ? "" : "s");
            report_note(&B, msg);
        }
    }

    /* One level of parallelism: with several workers, BLAS runs on one
     * thread inside each. */
    int saved_blas = ocr_blas_get_threads();
    if (p->n_workers > 1) ocr_blas_set_threads(1);
    for (int i = 0; i < p->n_workers; i++) {
        wk[i].b = &B;
        wk[i].id = i;
    }
    for (int i = 1; i < p->n_workers; i++)
        wk[i].started = pthread_create(&wk[i].tid, NULL, worker_main, &wk[i]) == 0;
    worker_main(&wk[0]);
    for (int i = 1; i < p->n_workers; i++)
        if (wk[i].started) pthread_join(wk[i].tid, NULL);
    if (p->n_workers > 1) ocr_blas_set_threads(saved_blas);
    for (int i = 0; i < p->n_workers; i++)
        if (wk[i].state_made && p->state_destroy) p->state_destroy(p->ctx, wk[i].state);

    emit_ready(&B, -1, true);
    maybe_progress(&B, true);

    r->was_cancelled = cancelled(&B);
    for (int i = 0; i < B.n; i++) {
        bdoc *D = &B.docs[i];
        if (D->finished && D->failed) r->failed++;
        else if (D->finished && D->skipped) r->skipped++;
        else if (D->finished) r->done++;
        else r->cancelled++;
        if (D->finished && D->failed) r->reasons[i] = D->reason ? strdup(D->reason) : strdup("failed");
        free(D->reason);
        free(D->partial_dir);
        free(D->rendered);
        doc_release(D);
        pthread_mutex_destroy(&D->mu);
    }
    r->pages = B.pages_done;
    r->pages_resumed = B.pages_resumed;
    r->seconds = now_s() - B.t0;
    r->pages_per_s = r->seconds > 0 ? r->pages / r->seconds : 0;
    ocr_status rc = OCR_OK;
    if (B.fatal) {
        if (e) *e = B.fatal_err;
        rc = B.fatal_err.code != OCR_OK ? B.fatal_err.code : OCR_E_ARG;
    }
    free(B.q);
    free(B.docs);
    free(wk);
    pthread_mutex_destroy(&B.mu);
    pthread_cond_destroy(&B.cv);
    pthread_mutex_destroy(&B.report_mu);
    return rc;
}

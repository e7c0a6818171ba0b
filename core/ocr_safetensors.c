/* core/ocr_safetensors.c — safetensors reader (mmap) and atomic writer.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON mapping
 * tensor names to {dtype, shape, data_offsets:[begin,end]} (plus an optional
 * "__metadata__" object of strings), then the raw little-endian data; offsets
 * are relative to the start of the data. Files come from the internet, so
 * every number is checked before it is used: header length against the file
 * size and a limit, byte ranges against the data size, element counts
 * against byte counts (with overflow checks), and ranges against each other
 * (no two tensors may share bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ocr.h"

typedef struct {
    char *path;          /* as opened, for messages */
    const uint8_t *map;  /* whole file (or caller's buffer) */
    size_t size;
    bool mapped;         /* munmap on close */
} st_file;

typedef struct {
    ocr_tensor t;
    char *name;      /* owned; t.name points here */
    int file;        /* index into files */
    uint64_t begin;  /* data offsets, for overlap checks and messages */
    uint64_t end;
    void *copy;      /* owned aligned copy when the mmap'd bytes are misaligned */
} st_entry;

struct ocr_st {
    char *path;
    st_file *files;
    size_t n_files;
    st_entry *ents; /* sorted by name */
    size_t n, cap;
};

ocr_st_limits ocr_st_default_limits(void)
{
    ocr_st_limits l = {.max_header_bytes = 100u << 20, .max_tensors = 1000000};
    return l;
}

static uint64_t rd_u64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int ent_cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

typedef struct {
    uint64_t begin, end;
    size_t idx;
} range;

static int range_cmp(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : (x->end > y->end);
}

/* Read one non-negative integer from a JSON value that must be an integer. */
static bool json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v)) return false;
    json_int_t i = json_integer_value(v);
    if (i < 0) return false;
    *out = (uint64_t)i;
    return true;
}

static ocr_status add_entry(ocr_st *st, st_entry *en, ocr_err *e)
{
    if (st->n == st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 64;
        st_entry *p = realloc(st->ents, ncap * sizeof *p);
        if (!p) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", st->path);
        st->ents = p;
        st->cap = ncap;
    }
    st->ents[st->n++] = *en;
    return OCR_OK;
}

/* Parse the header of files[fi] and append its tensors. */
static ocr_status parse_file(ocr_st *st, int fi, const ocr_st_limits *lim, ocr_err *e)
{
    const st_file *f = &st->files[fi];
    const char *fn = f->path;
    if (f->size < 8)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: file is %zu bytes, too short for a safetensors header", fn, f->size);
    uint64_t hlen = rd_u64le(f->map);
    if (hlen > lim->max_header_bytes)
        return ocr_err_set(e, OCR_E_LIMIT,
                           "%s: header length %llu bytes exceeds the limit of %llu bytes",
                           fn, (unsigned long long)hlen, (unsigned long long)lim->max_header_bytes);
    if (hlen > f->size - 8)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: header length %llu runs past the end of the file (%zu bytes)",
                           fn, (unsigned long long)hlen, f->size);
    if (hlen < 2)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: header length %llu is too short for JSON",
                           fn, (unsigned long long)hlen);
    const uint8_t *data = f->map + 8 + hlen;
    uint64_t data_size = f->size - 8 - hlen;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map + 8, (size_t)hlen,
                              JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: invalid JSON header: %s (line %d, column %d)",
                           fn, jerr.text, jerr.line, jerr.column);
    ocr_status rc = OCR_OK;
    if (!json_is_object(root)) {
        rc = ocr_err_set(e, OCR_E_FORMAT, "%s: JSON header is not an object", fn);
        goto out;
    }
    if (json_object_size(root) > lim->max_tensors + 1) {
        rc = ocr_err_set(e, OCR_E_LIMIT, "%s: %zu header entries exceed the limit of %zu",
                         fn, json_object_size(root), lim->max_tensors);
        goto out;
    }
    size_t first = st->n;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = ocr_err_set(e, OCR_E_FORMAT, "%s: __metadata__ is not an object", fn);
                goto out;
            }
            continue;
        }
        if (strlen(key) == 0 || strlen(key) > 1024) {
            rc = ocr_err_set(e, OCR_E_FORMAT, "%s: tensor name of length %zu is invalid", fn,
                             strlen(key));
            goto out;
        }
        if (!json_is_object(val)) {
            rc = ocr_err_set(e, OCR_E_FORMAT, "%s: tensor '%s': entry is not an object", fn, key);
            goto out;
        }
        json_t *jd = json_object_get(val, "dtype");
        json_t *js = json_object_get(val, "shape");
        json_t *jo = json_object_get(val, "data_offsets");
        if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo)) {
            rc = ocr_err_set(e, OCR_E_FORMAT,
                             "%s: tensor '%s': needs string dtype, array shape and array data_offsets",
                             fn, key);
            goto out;
        }
        st_entry en;
        memset(&en, 0, sizeof en);
        en.file = fi;
        if (!ocr_dtype_parse(json_string_value(jd), &en.t.dtype)) {
            rc = ocr_err_set(e, OCR_E_DTYPE, "%s: tensor '%s': unknown dtype '%s'", fn, key,
                             json_string_value(jd));
            goto out;
        }
        size_t nd = json_array_size(js);
        if (nd > OCR_MAX_DIMS) {
            rc = ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s': %zu dimensions (at most %d)", fn,
                             key, nd, OCR_MAX_DIMS);
            goto out;
        }
        size_t numel = 1;
        en.t.ndim = (int)nd;
        for (size_t i = 0; i < nd; i++) {
            uint64_t d;
            if (!json_u64(json_array_get(js, i), &d) || d > (uint64_t)INT64_MAX ||
                !ocr_mul_ok(numel, (size_t)d, &numel)) {
                rc = ocr_err_set(e, OCR_E_SHAPE,
                                 "%s: tensor '%s': shape entry %zu is not a valid size", fn, key, i);
                goto out;
            }
            en.t.shape[i] = (int64_t)d;
        }
        size_t nbytes;
        if (!ocr_mul_ok(numel, ocr_dtype_size(en.t.dtype), &nbytes)) {
            rc = ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s': byte size overflows", fn, key);
            goto out;
        }
        if (json_array_size(jo) != 2 || !json_u64(json_array_get(jo, 0), &en.begin) ||
            !json_u64(json_array_get(jo, 1), &en.end)) {
            rc = ocr_err_set(e, OCR_E_FORMAT,
                             "%s: tensor '%s': data_offsets must be two non-negative integers", fn,
                             key);
            goto out;
        }
        if (en.begin > en.end || en.end > data_size) {
            rc = ocr_err_set(e, OCR_E_FORMAT,
                             "%s: tensor '%s': data_offsets [%llu,%llu] out of range (data is %llu bytes)",
                             fn, key, (unsigned long long)en.begin, (unsigned long long)en.end,
                             (unsigned long long)data_size);
            goto out;
        }
        if (en.end - en.begin != nbytes) {
            char sb[160];
            rc = ocr_err_set(e, OCR_E_SHAPE,
                             "%s: tensor '%s': %s %s needs %zu bytes but data_offsets span %llu",
                             fn, key, ocr_dtype_name(en.t.dtype),
                             ocr_shape_str(sb, sizeof sb, en.t.ndim, en.t.shape), nbytes,
                             (unsigned long long)(en.end - en.begin));
            goto out;
        }
        en.name = strdup(key);
        if (!en.name) {
            rc = ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", fn);
            goto out;
        }
        en.t.name = en.name;
        en.t.nbytes = nbytes;
        en.t.data = data + en.begin;
        /* mmap'd data is only as aligned as the header makes it; readers
         * take typed pointers, so misaligned tensors get an aligned copy. */
        size_t al = ocr_dtype_size(en.t.dtype);
        if (al > 1 && ((uintptr_t)en.t.data % al) != 0) {
            en.copy = ocr_aligned_alloc(nbytes);
            if (!en.copy) {
                free(en.name);
                rc = ocr_err_set(e, OCR_E_NOMEM, "%s: tensor '%s': out of memory", fn, key);
                goto out;
            }
            memcpy(en.copy, en.t.data, nbytes);
            en.t.data = en.copy;
        }
        if ((rc = add_entry(st, &en, e)) != OCR_OK) {
            free(en.name);
            free(en.copy);
            goto out;
        }
    }
    /* No two tensors of this file may share bytes. */
    size_t nf = st->n - first;
    if (nf > 1) {
        range *r = malloc(nf * sizeof *r);
        if (!r) {
            rc = ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", fn);
            goto out;
        }
        for (size_t i = 0; i < nf; i++)
            r[i] = (range){st->ents[first + i].begin, st->ents[first + i].end, first + i};
        qsort(r, nf, sizeof *r, range_cmp);
        for (size_t i = 1; i < nf; i++) {
            if (r[i].begin < r[i - 1].end && r[i].end > r[i].begin) {
                rc = ocr_err_set(e, OCR_E_FORMAT,
                                 "%s: tensors '%s' [%llu,%llu) and '%s' [%llu,%llu) overlap", fn,
                                 st->ents[r[i - 1].idx].name, (unsigned long long)r[i - 1].begin,
                                 (unsigned long long)r[i - 1].end, st->ents[r[i].idx].name,
                                 (unsigned long long)r[i].begin, (unsigned long long)r[i].end);
                break;
            }
        }
        free(r);
    }
out:
    json_decref(root);
    return rc;
}

static ocr_st *st_new(const char *path)
{
    ocr_st *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->path = strdup(path);
    if (!st->path) {
        free(st);
        return NULL;
    }
    return st;
}

void ocr_st_close(ocr_st **pst)
{
    if (!pst || !*pst) return;
    ocr_st *st = *pst;
    for (size_t i = 0; i < st->n; i++) {
        free(st->ents[i].name);
        free(st->ents[i].copy);
    }
    free(st->ents);
    for (size_t i = 0; i < st->n_files; i++) {
        if (st->files[i].mapped && st->files[i].size)
            munmap((void *)(uintptr_t)st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    free(st->path);
    free(st);
    *pst = NULL;
}

static ocr_status add_file_slot(ocr_st *st, const char *path, ocr_err *e)
{
    st_file *p = realloc(st->files, (st->n_files + 1) * sizeof *p);
    if (!p) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", path);
    st->files = p;
    memset(&p[st->n_files], 0, sizeof p[0]);
    p[st->n_files].path = strdup(path);
    if (!p[st->n_files].path) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", path);
    st->n_files++;
    return OCR_OK;
}

static ocr_status map_file(st_file *f, ocr_err *e)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ocr_err_set(e, OCR_E_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ocr_err_set(e, OCR_E_IO, "%s: not a regular file", f->path);
    }
    f->size = (size_t)sb.st_size;
    if (f->size == 0) {
        close(fd);
        return ocr_err_set(e, OCR_E_FORMAT, "%s: empty file", f->path);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return ocr_err_set(e, OCR_E_IO, "%s: mmap failed: %s", f->path, strerror(errno));
    f->map = m;
    f->mapped = true;
    return OCR_OK;
}

/* Sort by name, reject duplicates, attach F8 block scales. */
static ocr_status finish(ocr_st *st, ocr_err *e)
{
    qsort(st->ents, st->n, sizeof *st->ents, ent_cmp_name);
    for (size_t i = 1; i < st->n; i++)
        if (strcmp(st->ents[i].name, st->ents[i - 1].name) == 0)
            return ocr_err_set(e, OCR_E_FORMAT, "%s: tensor '%s' appears in %s and %s", st->path,
                               st->ents[i].name, st->files[st->ents[i - 1].file].path,
                               st->files[st->ents[i].file].path);
    for (size_t i = 0; i < st->n; i++) {
        ocr_tensor *t = &st->ents[i].t;
        if (t->dtype != OCR_DT_F8_E4M3) continue;
        char sname[1100];
        snprintf(sname, sizeof sname, "%s_scale_inv", t->name);
        const ocr_tensor *s = ocr_st_find(st, sname);
        if (!s) continue;
        if (t->ndim != 2 || s->ndim != 2 || s->dtype != OCR_DT_F32)
            return ocr_err_set(e, OCR_E_SHAPE, "%s: '%s': F8 scales must be a 2-D F32 tensor",
                               ocr_st_file_of(st, s), sname);
        const int blk = 128;
        int64_t want[2] = {(t->shape[0] + blk - 1) / blk, (t->shape[1] + blk - 1) / blk};
        if (!ocr_tensor_has_shape(s, 2, want)) {
            char a[64], b[64];
            return ocr_err_set(e, OCR_E_SHAPE, "%s: '%s' shape %s, expected %s for 128x128 blocks of %s",
                               ocr_st_file_of(st, s), sname, ocr_shape_str(a, sizeof a, 2, s->shape),
                               ocr_shape_str(b, sizeof b, 2, want), t->name);
        }
        t->scale = s;
        t->block = blk;
    }
    return OCR_OK;
}

ocr_status ocr_st_open_memory(ocr_st **out, const void *buf, size_t n, const char *name,
                              const ocr_st_limits *lim, ocr_err *e)
{
    *out = NULL;
    ocr_st_limits dl = ocr_st_default_limits();
    if (!lim) lim = &dl;
    ocr_st *st = st_new(name);
    if (!st) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", name);
    ocr_status rc = add_file_slot(st, name, e);
    if (rc == OCR_OK) {
        st->files[0].map = buf;
        st->files[0].size = n;
        rc = parse_file(st, 0, lim, e);
    }
    if (rc == OCR_OK) rc = finish(st, e);
    if (rc != OCR_OK) {
        ocr_st_close(&st);
        return rc;
    }
    *out = st;
    return OCR_OK;
}

/* Shards are named relative to the index's directory; refuse anything that
 * could escape it. */
static bool shard_name_ok(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static ocr_status open_index(ocr_st *st, const char *ipath, const ocr_st_limits *lim, ocr_err *e)
{
    uint8_t *buf;
    size_t len;
    ocr_status rc = ocr_file_read(ipath, 64u << 20, &buf, &len, e);
    if (rc) return rc;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    free(buf);
    if (!root)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: invalid JSON: %s (line %d)", ipath, jerr.text,
                           jerr.line);
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        json_decref(root);
        return ocr_err_set(e, OCR_E_FORMAT, "%s: missing or empty \"weight_map\" object", ipath);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", ipath);
    char *slash = strrchr(dir, '/');
    if (slash) slash[1] = '\0';
    else dir[0] = '\0';

    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val)
    {
        if (!json_is_string(val) || !shard_name_ok(json_string_value(val))) {
            rc = ocr_err_set(e, OCR_E_FORMAT, "%s: weight_map['%s'] is not a plain shard file name",
                             ipath, key);
            goto out;
        }
        char p[4352];
        snprintf(p, sizeof p, "%s%s", dir, json_string_value(val));
        bool seen = false;
        for (size_t i = 0; i < st->n_files; i++)
            if (strcmp(st->files[i].path, p) == 0) seen = true;
        if (seen) continue;
        if ((rc = add_file_slot(st, p, e)) != OCR_OK) goto out;
        if ((rc = map_file(&st->files[st->n_files - 1], e)) != OCR_OK) goto out;
        if ((rc = parse_file(st, (int)st->n_files - 1, lim, e)) != OCR_OK) goto out;
    }
    if ((rc = finish(st, e)) != OCR_OK) goto out;
    /* The index must agree with the shards it names. */
    json_object_foreach(wm, key, val)
    {
        const ocr_tensor *t = ocr_st_find(st, key);
        if (!t) {
            rc = ocr_err_set(e, OCR_E_NOTFOUND, "%s: tensor '%s' is listed for %s but not in it",
                             ipath, key, json_string_value(val));
            goto out;
        }
        const char *f = ocr_st_file_of(st, t);
        const char *base = strrchr(f, '/');
        base = base ? base + 1 : f;
        if (strcmp(base, json_string_value(val)) != 0) {
            rc = ocr_err_set(e, OCR_E_FORMAT, "%s: tensor '%s' is listed for %s but found in %s",
                             ipath, key, json_string_value(val), f);
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

static bool is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

ocr_status ocr_st_open_limits(ocr_st **out, const char *path, const ocr_st_limits *lim,
                              ocr_err *e)
{
    *out = NULL;
    ocr_st_limits dl = ocr_st_default_limits();
    if (!lim) lim = &dl;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ocr_err_set(e, OCR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char p[4352];
    bool index = false;
    if (S_ISDIR(sb.st_mode)) {
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", path);
        if (is_file(p)) index = true;
        else {
            snprintf(p, sizeof p, "%s/model.safetensors", path);
            if (!is_file(p))
                return ocr_err_set(e, OCR_E_NOTFOUND,
                                   "%s: no model.safetensors or model.safetensors.index.json", path);
        }
    } else {
        snprintf(p, sizeof p, "%s", path);
        index = ends_with(path, ".json");
    }
    ocr_st *st = st_new(p);
    if (!st) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", path);
    ocr_status rc;
    if (index) rc = open_index(st, p, lim, e);
    else {
        rc = add_file_slot(st, p, e);
        if (rc == OCR_OK) rc = map_file(&st->files[0], e);
        if (rc == OCR_OK) rc = parse_file(st, 0, lim, e);
        if (rc == OCR_OK) rc = finish(st, e);
    }
    if (rc != OCR_OK) {
        ocr_st_close(&st);
        return rc;
    }
    *out = st;
    return OCR_OK;
}

ocr_status ocr_st_open(ocr_st **out, const char *path, ocr_err *e)
{
    return ocr_st_open_limits(out, path, NULL, e);
}

size_t ocr_st_count(const ocr_st *st) { return st->n; }

const ocr_tensor *ocr_st_at(const ocr_st *st, size_t i)
{
    return i < st->n ? &st->ents[i].t : NULL;
}

const ocr_tensor *ocr_st_find(const ocr_st *st, const char *name)
{
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->ents[mid].name);
        if (c == 0) return &st->ents[mid].t;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

const char *ocr_st_file_of(const ocr_st *st, const ocr_tensor *t)
{
    /* t is always the first member of its st_entry. */
    const st_entry *en = (const st_entry *)(const void *)t;
    if (en < st->ents || en >= st->ents + st->n) return st->path;
    return st->files[en->file].path;
}

const char *ocr_st_path(const ocr_st *st) { return st->path; }

ocr_status ocr_st_get(const ocr_st *st, const char *name, int ndim, const int64_t *shape,
                      const ocr_tensor **out, ocr_err *e)
{
    const ocr_tensor *t = ocr_st_find(st, name);
    *out = NULL;
    if (!t) return ocr_err_set(e, OCR_E_NOTFOUND, "%s: tensor '%s' not found", st->path, name);
    if (shape && !ocr_tensor_has_shape(t, ndim, shape)) {
        char a[160], b[160];
        return ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s' shape %s, config says %s",
                           ocr_st_file_of(st, t), name, ocr_shape_str(a, sizeof a, t->ndim, t->shape),
                           ocr_shape_str(b, sizeof b, ndim, shape));
    }
    *out = t;
    return OCR_OK;
}

/* ---- writer -------------------------------------------------------------- */

typedef struct {
    const ocr_tensor *t;
} wslot;

static int wslot_cmp(const void *a, const void *b)
{
    const ocr_tensor *x = ((const wslot *)a)->t, *y = ((const wslot *)b)->t;
    /* Widest dtype first keeps every tensor naturally aligned after an
     * 8-aligned header. */
    size_t sx = ocr_dtype_size(x->dtype), sy = ocr_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

ocr_status ocr_st_write(const char *path, const ocr_tensor *tensors, size_t n,
                        const char *const *metadata, ocr_err *e)
{
    wslot *order = malloc((n ? n : 1) * sizeof *order);
    json_t *root = json_object();
    char *hdr = NULL;
    FILE *f = NULL;
    char tmp[4200];
    ocr_status rc = OCR_OK;
    if (!order || !root) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) order[i].t = &tensors[i];
    qsort(order, n, sizeof *order, wslot_cmp);
    if (metadata) {
        json_t *md = json_object();
        for (size_t i = 0; metadata[i] && metadata[i + 1]; i += 2)
            json_object_set_new(md, metadata[i], json_string(metadata[i + 1]));
        json_object_set_new(root, "__metadata__", md);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const ocr_tensor *t = order[i].t;
        size_t want;
        if (!ocr_mul_ok((size_t)ocr_tensor_numel(t), ocr_dtype_size(t->dtype), &want) ||
            want != t->nbytes || !t->name) {
            rc = ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s': nbytes %zu does not match its shape",
                             path, t->name ? t->name : "?", t->nbytes);
            goto out;
        }
        json_t *sh = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(sh, json_integer(t->shape[d]));
        json_t *o = json_pack("{s:s, s:o, s:[I,I]}", "dtype", ocr_dtype_name(t->dtype), "shape", sh,
                              "data_offsets", (json_int_t)off, (json_int_t)(off + t->nbytes));
        if (!o || json_object_set_new(root, t->name, o) != 0) {
            rc = ocr_err_set(e, OCR_E_NOMEM, "%s: cannot build header", path);
            goto out;
        }
        off += t->nbytes;
    }
    hdr = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!hdr) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "%s: cannot serialise header", path);
        goto out;
    }
    size_t hl = strlen(hdr), padded = (hl + 7) & ~(size_t)7;
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f) {
        rc = ocr_err_set(e, OCR_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    bool ok = fwrite(lenb, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl;
    for (size_t i = hl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (size_t i = 0; ok && i < n; i++)
        ok = order[i].t->nbytes == 0 ||
             fwrite(order[i].t->data, 1, order[i].t->nbytes, f) == order[i].t->nbytes;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    f = NULL;
    if (!ok || rename(tmp, path) != 0) {
        rc = ocr_err_set(e, OCR_E_IO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    if (f) {
        fclose(f);
        unlink(tmp);
    }
    free(hdr);
    json_decref(root);
    free(order);
    return rc;
}

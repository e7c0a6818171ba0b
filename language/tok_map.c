/* language/tok_map.c — the tokenizer's containers: growable byte and id
 * vectors, the string → id map (vocab, added tokens) and the pair → merge
 * map. Open addressing with linear probing at load factor <= 1/2: the vocab
 * is built once and then only read, so deletions are never needed. */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- vectors */

ocr_status tok_buf_reserve(tok_buf *b, size_t extra)
{
    if (extra <= b->cap - b->n) return OCR_OK;
    size_t need;
    if (!ocr_add_ok(b->n, extra, &need)) return OCR_E_NOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return OCR_E_NOMEM;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return OCR_E_NOMEM;
    b->p = p;
    b->cap = cap;
    return OCR_OK;
}

ocr_status tok_buf_append(tok_buf *b, const void *data, size_t len)
{
    ocr_status rc = tok_buf_reserve(b, len);
    if (rc != OCR_OK) return rc;
    if (len) memcpy(b->p + b->n, data, len);
    b->n += len;
    return OCR_OK;
}

void tok_buf_free(tok_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

ocr_status tok_ivec_push(tok_ivec *v, int32_t x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *v->p) return OCR_E_NOMEM;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return OCR_E_NOMEM;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return OCR_OK;
}

void tok_ivec_free(tok_ivec *v)
{
    free(v->p);
    v->p = NULL;
    v->n = v->cap = 0;
}

/* -------------------------------------------------------- string map */

/* FNV-1a: short keys, no adversary that could pick collisions cheaper than
 * the linear probing already tolerates. */
static uint32_t str_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static ocr_status strmap_grow(tok_strmap *m, size_t cap)
{
    tok_sm_slot *slot = malloc(cap * sizeof *slot);
    if (!slot) return OCR_E_NOMEM;
    for (size_t i = 0; i < cap; i++) slot[i].id = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slot[i].id < 0) continue;
        size_t j = m->slot[i].hash & (cap - 1);
        while (slot[j].id >= 0) j = (j + 1) & (cap - 1);
        slot[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    return OCR_OK;
}

ocr_status tok_strmap_reserve(tok_strmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 16;
    while (cap < 2 * n) {
        if (cap > SIZE_MAX / (4 * sizeof(tok_sm_slot))) return OCR_E_NOMEM;
        cap *= 2;
    }
    return cap > m->cap ? strmap_grow(m, cap) : OCR_OK;
}

ocr_status tok_strmap_put(tok_strmap *m, const char *pool, uint32_t off,
                          uint32_t len, int32_t id, int32_t *prev)
{
    if (prev) *prev = -1;
    ocr_status rc = tok_strmap_reserve(m, m->n + 1);
    if (rc != OCR_OK) return rc;
    uint32_t h = str_hash(pool + off, len);
    size_t j = h & (m->cap - 1);
    while (m->slot[j].id >= 0) {
        tok_sm_slot *s = &m->slot[j];
        if (s->hash == h && s->len == len &&
            memcmp(pool + s->off, pool + off, len) == 0) {
            if (prev) *prev = s->id;
            s->id = id;
            return OCR_OK;
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slot[j] = (tok_sm_slot){.off = off, .len = len, .hash = h, .id = id};
    m->n++;
    return OCR_OK;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *pool, const char *s,
                       size_t len)
{
    if (!m->cap || len > UINT32_MAX) return -1;
    uint32_t h = str_hash(s, len);
    size_t j = h & (m->cap - 1);
    while (m->slot[j].id >= 0) {
        const tok_sm_slot *x = &m->slot[j];
        if (x->hash == h && x->len == len && memcmp(pool + x->off, s, len) == 0)
            return x->id;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = m->n = 0;
}

/* ---------------------------------------------------------- pair map */

#define PM_EMPTY UINT64_MAX

static uint64_t pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

/* Fibonacci hashing spreads the (small, dense) ids over the table. */
static size_t pair_slot(uint64_t key, size_t cap)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static ocr_status pairmap_grow(tok_pairmap *m, size_t cap)
{
    tok_pm_slot *slot = malloc(cap * sizeof *slot);
    if (!slot) return OCR_E_NOMEM;
    for (size_t i = 0; i < cap; i++) slot[i].key = PM_EMPTY;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slot[i].key == PM_EMPTY) continue;
        size_t j = pair_slot(m->slot[i].key, cap);
        while (slot[j].key != PM_EMPTY) j = (j + 1) & (cap - 1);
        slot[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    return OCR_OK;
}

ocr_status tok_pairmap_reserve(tok_pairmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 16;
    while (cap < 2 * n) {
        if (cap > SIZE_MAX / (4 * sizeof(tok_pm_slot))) return OCR_E_NOMEM;
        cap *= 2;
    }
    return cap > m->cap ? pairmap_grow(m, cap) : OCR_OK;
}

ocr_status tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank,
                           int32_t id)
{
    ocr_status rc = tok_pairmap_reserve(m, m->n + 1);
    if (rc != OCR_OK) return rc;
    uint64_t key = pair_key(a, b);
    size_t j = pair_slot(key, m->cap);
    while (m->slot[j].key != PM_EMPTY && m->slot[j].key != key)
        j = (j + 1) & (m->cap - 1);
    if (m->slot[j].key == PM_EMPTY) m->n++;
    m->slot[j] = (tok_pm_slot){.key = key, .rank = rank, .id = id};
    return OCR_OK;
}

bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b,
                     int32_t *rank, int32_t *id)
{
    if (!m->cap) return false;
    uint64_t key = pair_key(a, b);
    size_t j = pair_slot(key, m->cap);
    while (m->slot[j].key != PM_EMPTY) {
        if (m->slot[j].key == key) {
            *rank = m->slot[j].rank;
            *id = m->slot[j].id;
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return false;
}

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->slot);
    m->slot = NULL;
    m->cap = m->n = 0;
}

/* train/trn_data.c — batches and the width-bucketed, resumable loader.
 *
 * Determinism is the point: sample i of a source is a pure function of i,
 * a pool is a fixed range of indices, its batches are cut from the pool
 * sorted by (height, width) and taken in an order shuffled from (seed,
 * pool). The cursor (pool, batch_in_pool) therefore names exactly the next
 * batch, across processes and sessions. One producer thread builds the next
 * pool while the trainer works on the current one; only that thread calls
 * the source, so sources need not be thread-safe.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "train/trn.h"

void trn_sample_free(trn_sample *s)
{
    if (!s) return;
    free(s->gray);
    free(s->text);
    memset(s, 0, sizeof *s);
}

ocr_status trn_batch_alloc(trn_batch *b, const trn_config *c, const trn_limits *lim, ocr_err *e)
{
    (void)c;
    memset(b, 0, sizeof *b);
    size_t n = (size_t)lim->max_B * lim->max_T;
    b->img = malloc(sizeof(float) * (size_t)lim->max_B * lim->max_H * lim->max_W);
    b->ids = malloc(sizeof(int32_t) * n);
    b->targets = malloc(sizeof(int32_t) * n);
    b->img_mask = malloc(n);
    if (!b->img || !b->ids || !b->targets || !b->img_mask) {
        trn_batch_free(b);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_batch_alloc: out of memory");
    }
    return OCR_OK;
}

void trn_batch_free(trn_batch *b)
{
    free(b->img);
    free(b->ids);
    free(b->targets);
    free(b->img_mask);
    memset(b, 0, sizeof *b);
}

/* Pixel (x, y) of a sample fitted into a Hb × Wb canvas: scaled down when
 * larger (nearest neighbour, aspect kept), top-left aligned, paper around. */
static void put_image(float *dst, int Hb, int Wb, const trn_sample *s)
{
    double f = 1.0;
    if (s->h > Hb) f = (double)s->h / Hb;
    if (s->w > Wb * f) f = (double)s->w / Wb;
    int h = (int)(s->h / f), w = (int)(s->w / f);
    for (int y = 0; y < Hb; y++)
        for (int x = 0; x < Wb; x++) {
            float v = 0.0f;
            if (y < h && x < w) {
                int sy = f == 1.0 ? y : (int)(y * f), sx = f == 1.0 ? x : (int)(x * f);
                if (sy >= s->h) sy = s->h - 1;
                if (sx >= s->w) sx = s->w - 1;
                /* ink = 1, paper = 0: padding is blank paper */
                v = 1.0f - s->gray[(size_t)sy * s->w + sx] / 255.0f;
            }
            dst[(size_t)y * Wb + x] = v;
        }
}

ocr_status trn_batch_build(trn_batch *b, const trn_config *c, const trn_limits *lim,
                               trn_sample *const *s, int n, trn_encode_fn enc, void *ud,
                               int max_text, ocr_err *e)
{
    if (n < 1 || n > lim->max_B) return ocr_err_set(e, OCR_E_ARG, "trn_batch_build: %d samples", n);
    const int unit = 8 * c->merge;
    int Hb = 0, Wb = 0;
    for (int i = 0; i < n; i++) {
        int h = s[i]->h, w = s[i]->w;
        Hb = h > Hb ? h : Hb;
        Wb = w > Wb ? w : Wb;
    }
    Hb = (Hb + unit - 1) / unit * unit;
    if (Hb > lim->max_H) Hb = lim->max_H;
    Wb = (Wb + 7) / 8 * 8;
    if (Wb < 16) Wb = 16;
    if (Wb > lim->max_W) Wb = lim->max_W;
    const int n_img = trn_image_rows(c, Hb, Wb);
    int cap = lim->max_T - 2 - n_img;
    if (cap < 1) return ocr_err_set(e, OCR_E_LIMIT, "trn_batch_build: no room for text (T %d)", lim->max_T);
    if (max_text > cap) max_text = cap;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n * (max_text + 1));
    int *len = malloc(sizeof(int) * (size_t)n);
    if (!tok || !len) {
        free(tok);
        free(len);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_batch_build: out of memory");
    }
    int Lmax = 0;
    for (int i = 0; i < n; i++) {
        int k = enc(ud, s[i]->text ? s[i]->text : "", tok + (size_t)i * (max_text + 1), max_text + 1);
        if (k < 0) k = 0;
        /* Too long: cut, and append EOS only when it all fit. */
        len[i] = k > max_text ? max_text : k;
        Lmax = len[i] > Lmax ? len[i] : Lmax;
    }
    const int T = 2 + n_img + Lmax;
    b->B = n; b->H = Hb; b->W = Wb; b->T = T;
    b->n_targets = 0;
    for (int i = 0; i < n; i++) {
        put_image(b->img + (size_t)i * Hb * Wb, Hb, Wb, s[i]);
        int32_t *id = b->ids + (size_t)i * T, *tg = b->targets + (size_t)i * T;
        uint8_t *mk = b->img_mask + (size_t)i * T;
        for (int t = 0; t < T; t++) id[t] = c->pad, tg[t] = -1, mk[t] = 0;
        id[0] = c->bos;
        for (int t = 1; t <= n_img; t++) mk[t] = 1;
        int p = 1 + n_img;
        id[p] = s[i]->kind == 1 ? c->tok_formula : c->tok_text;
        const int32_t *tx = tok + (size_t)i * (max_text + 1);
        for (int k = 0; k < len[i]; k++) {
            tg[p + k] = tx[k];
            id[p + 1 + k] = tx[k];
        }
        bool cut = len[i] == max_text && enc(ud, s[i]->text ? s[i]->text : "", NULL, 0) > max_text;
        if (!cut) tg[p + len[i]] = c->eos;
        for (int t = 0; t < T; t++) b->n_targets += tg[t] >= 0;
    }
    free(tok);
    free(len);
    return OCR_OK;
}

/* ------------------------------------------------------------------ loader */

struct trn_loader {
    trn_source src;
    uint64_t seed;
    int B, nb, P;
    trn_phase_fn phase;
    void *phase_ud;
    bool threaded;
    /* current pool */
    uint64_t cur_pool;
    bool have_cur;
    trn_sample *cur;      /* [P] */
    int *order;           /* [P] sample slots sorted by (h, w) */
    int *batch_perm;      /* [nb] */
    trn_sample **view;    /* [B] */
    /* next pool, made by the producer */
    trn_sample *next;
    uint64_t next_pool;
    bool next_busy, next_ready;
    ocr_status next_rc;
    ocr_err next_err;
    pthread_t thr;
    bool thr_started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void free_pool(trn_sample *p, int n)
{
    for (int i = 0; i < n; i++) trn_sample_free(&p[i]);
}

static ocr_status make_pool(trn_loader *l, trn_sample *dst, uint64_t pool, ocr_err *e)
{
    int ph = l->phase ? l->phase(l->phase_ud, pool) : 0;
    for (int i = 0; i < l->P; i++) {
        trn_sample_free(&dst[i]);
        ocr_status rc = l->src.get(l->src.ud, pool * (uint64_t)l->P + (uint64_t)i, ph, &dst[i], e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

static void *producer(void *arg)
{
    trn_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !(l->next_busy && !l->next_ready)) pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) break;
        uint64_t pool = l->next_pool;
        pthread_mutex_unlock(&l->mu);
        ocr_err e = {0};
        ocr_status rc = make_pool(l, l->next, pool, &e);
        pthread_mutex_lock(&l->mu);
        l->next_rc = rc;
        l->next_err = e;
        l->next_ready = true;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const trn_sample *sort_base;
static int cmp_slot(const void *a, const void *b)
{
    const trn_sample *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    return *(const int *)a < *(const int *)b ? -1 : 1;
}

static void arrange(trn_loader *l)
{
    for (int i = 0; i < l->P; i++) l->order[i] = i;
    /* qsort with a total order (ties broken by slot) is deterministic. */
    sort_base = l->cur;
    qsort(l->order, (size_t)l->P, sizeof(int), cmp_slot);
    uint64_t st = mix64(l->seed ^ mix64(l->cur_pool + 0x51ED));
    for (int i = 0; i < l->nb; i++) l->batch_perm[i] = i;
    for (int i = l->nb - 1; i > 0; i--) {
        st = mix64(st);
        int j = (int)(st % (uint64_t)(i + 1));
        int t = l->batch_perm[i];
        l->batch_perm[i] = l->batch_perm[j];
        l->batch_perm[j] = t;
    }
}

static void request_next(trn_loader *l, uint64_t pool)
{
    pthread_mutex_lock(&l->mu);
    l->next_pool = pool;
    l->next_busy = true;
    l->next_ready = false;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

ocr_status trn_loader_create(trn_loader **out, const trn_source *src, uint64_t seed, int B,
                             int pool_batches, uint64_t pool, trn_phase_fn phase, void *phase_ud,
                             bool threaded, ocr_err *e)
{
    *out = NULL;
    if (B < 1 || pool_batches < 1) return ocr_err_set(e, OCR_E_ARG, "trn_loader_create: bad sizes");
    trn_loader *l = calloc(1, sizeof *l);
    if (!l) return ocr_err_set(e, OCR_E_NOMEM, "trn_loader_create: out of memory");
    l->src = *src;
    l->seed = seed;
    l->B = B;
    l->nb = pool_batches;
    l->P = B * pool_batches;
    l->phase = phase;
    l->phase_ud = phase_ud;
    l->threaded = threaded;
    l->cur = calloc((size_t)l->P, sizeof *l->cur);
    l->next = calloc((size_t)l->P, sizeof *l->next);
    l->order = calloc((size_t)l->P, sizeof(int));
    l->batch_perm = calloc((size_t)l->nb, sizeof(int));
    l->view = calloc((size_t)B, sizeof *l->view);
    if (!l->cur || !l->next || !l->order || !l->batch_perm || !l->view) {
        trn_loader_destroy(&l);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_loader_create: out of memory");
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (threaded) {
        if (pthread_create(&l->thr, NULL, producer, l) != 0) {
            trn_loader_destroy(&l);
            return ocr_err_set(e, OCR_E_IO, "trn_loader_create: cannot start the producer");
        }
        l->thr_started = true;
        request_next(l, pool);
    }
    *out = l;
    return OCR_OK;
}

ocr_status trn_loader_batch(trn_loader *l, uint64_t pool, uint64_t bip, trn_sample ***out,
                            ocr_err *e)
{
    if (bip >= (uint64_t)l->nb) return ocr_err_set(e, OCR_E_ARG, "trn_loader_batch: batch %llu", (unsigned long long)bip);
    if (!l->have_cur || l->cur_pool != pool) {
        if (l->threaded) {
            pthread_mutex_lock(&l->mu);
            if (!(l->next_busy && l->next_pool == pool)) {
                /* wait for whatever runs, then ask for this pool */
                while (l->next_busy && !l->next_ready) pthread_cond_wait(&l->cv, &l->mu);
                l->next_pool = pool;
                l->next_busy = true;
                l->next_ready = false;
                pthread_cond_broadcast(&l->cv);
            }
            while (!l->next_ready) pthread_cond_wait(&l->cv, &l->mu);
            ocr_status rc = l->next_rc;
            if (rc != OCR_OK && e) *e = l->next_err;
            trn_sample *t = l->cur;
            l->cur = l->next;
            l->next = t;
            l->next_busy = false;
            l->next_ready = false;
            pthread_mutex_unlock(&l->mu);
            if (rc != OCR_OK) return rc;
        } else {
            ocr_status rc = make_pool(l, l->cur, pool, e);
            if (rc != OCR_OK) return rc;
        }
        l->cur_pool = pool;
        l->have_cur = true;
        arrange(l);
        if (l->threaded) request_next(l, pool + 1);
    }
    int b = l->batch_perm[bip];
    for (int i = 0; i < l->B; i++) l->view[i] = &l->cur[l->order[b * l->B + i]];
    *out = l->view;
    return OCR_OK;
}

void trn_loader_destroy(trn_loader **pl)
{
    if (!pl || !*pl) return;
    trn_loader *l = *pl;
    if (l->thr_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thr, NULL);
    }
    if (l->cur) free_pool(l->cur, l->P);
    if (l->next) free_pool(l->next, l->P);
    free(l->cur);
    free(l->next);
    free(l->order);
    free(l->batch_perm);
    free(l->view);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
    *pl = NULL;
}

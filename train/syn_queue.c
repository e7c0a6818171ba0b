/* train/syn_queue.c — generator threads feeding the trainer in order.
 *
 * Workers claim indices from a counter and write each finished sample into
 * slot index % capacity; the consumer takes index after index. A worker
 * never runs more than `capacity` indices ahead of the consumer, so a slot
 * is always free when its sample arrives. The sample for an index depends
 * only on (seed, index), so the stream is the same for any thread count.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "train/syn.h"

typedef struct {
    syn_sample s;
    ocr_status st;
    ocr_err err;
    uint64_t idx;
    bool ready;
} slot;

typedef struct {
    struct syn_queue *q;
    syn_gen *gen;
} worker;

struct syn_queue {
    int n_threads, started, cap;
    pthread_t *th;
    worker *w;
    slot *slots;
    uint64_t next_claim, next_take;
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv_ready, cv_space;
};

static void *work(void *arg)
{
    worker *w = arg;
    struct syn_queue *q = w->q;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        while (!q->stop && q->next_claim >= q->next_take + (uint64_t)q->cap)
            pthread_cond_wait(&q->cv_space, &q->mu);
        if (q->stop) {
            pthread_mutex_unlock(&q->mu);
            break;
        }
        uint64_t idx = q->next_claim++;
        pthread_mutex_unlock(&q->mu);
        syn_sample s;
        ocr_err err = {0};
        ocr_status st = syn_gen_sample(w->gen, idx, &s, &err);
        pthread_mutex_lock(&q->mu);
        slot *sl = &q->slots[idx % (uint64_t)q->cap];
        sl->s = s;
        sl->st = st;
        sl->err = err;
        sl->idx = idx;
        sl->ready = true;
        pthread_cond_broadcast(&q->cv_ready);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

ocr_status syn_queue_create(syn_queue **out, const syn_ctx *ctx, uint64_t seed,
                            uint64_t first_index, int threads, int capacity, ocr_err *e)
{
    *out = NULL;
    if (!ctx || threads < 1 || threads > 256 || capacity < 1 || capacity > 1 << 20)
        return ocr_err_set(e, OCR_E_ARG, "syn_queue_create: need 1..256 threads and a capacity "
                                         "of 1..%d (got %d, %d)", 1 << 20, threads, capacity);
    if (capacity < threads) capacity = threads;
    struct syn_queue *q = calloc(1, sizeof *q);
    if (!q) return ocr_err_set(e, OCR_E_NOMEM, "syn_queue_create: out of memory");
    q->n_threads = threads;
    q->cap = capacity;
    q->next_claim = q->next_take = first_index;
    q->th = calloc((size_t)threads, sizeof *q->th);
    q->w = calloc((size_t)threads, sizeof *q->w);
    q->slots = calloc((size_t)capacity, sizeof *q->slots);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv_ready, NULL);
    pthread_cond_init(&q->cv_space, NULL);
    ocr_status st = q->th && q->w && q->slots
                        ? OCR_OK
                        : ocr_err_set(e, OCR_E_NOMEM, "syn_queue_create: out of memory");
    /* Generators are made here, not in the threads, so that a failure is
     * reported by create instead of by the first next(). */
    for (int i = 0; i < threads && st == OCR_OK; i++) {
        q->w[i].q = q;
        st = syn_gen_create(&q->w[i].gen, ctx, seed, e);
    }
    for (int i = 0; i < threads && st == OCR_OK; i++) {
        if (pthread_create(&q->th[i], NULL, work, &q->w[i]) != 0)
            st = ocr_err_set(e, OCR_E_NOMEM, "syn_queue_create: cannot start thread %d", i);
        else
            q->started++;
    }
    if (st != OCR_OK) {
        syn_queue_destroy(&q);
        return st;
    }
    *out = q;
    return OCR_OK;
}

ocr_status syn_queue_next(syn_queue *q, syn_sample *out, ocr_err *e)
{
    memset(out, 0, sizeof *out);
    if (!q) return ocr_err_set(e, OCR_E_ARG, "syn_queue_next: no queue");
    pthread_mutex_lock(&q->mu);
    slot *sl = &q->slots[q->next_take % (uint64_t)q->cap];
    while (!(sl->ready && sl->idx == q->next_take)) pthread_cond_wait(&q->cv_ready, &q->mu);
    *out = sl->s;
    ocr_status st = sl->st;
    if (st != OCR_OK && e) *e = sl->err;
    memset(sl, 0, sizeof *sl);
    q->next_take++;
    pthread_cond_broadcast(&q->cv_space);
    pthread_mutex_unlock(&q->mu);
    return st;
}

void syn_queue_destroy(syn_queue **pq)
{
    if (!pq || !*pq) return;
    struct syn_queue *q = *pq;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv_space);
    pthread_cond_broadcast(&q->cv_ready);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->started; i++) pthread_join(q->th[i], NULL);
    if (q->slots)
        for (int i = 0; i < q->cap; i++) syn_sample_free(&q->slots[i].s);
    if (q->w)
        for (int i = 0; i < q->n_threads; i++) syn_gen_destroy(&q->w[i].gen);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv_ready);
    pthread_cond_destroy(&q->cv_space);
    free(q->th);
    free(q->w);
    free(q->slots);
    free(q);
    *pq = NULL;
}

/* language/lm_gen.c — generation: sampling, the no-repeat-n-gram guard, the
 * loop detector and the prefill + cached-decode loop.
 *
 * Greedy decoding with a no-repeat n-gram filter is what the official
 * DeepSeek-OCR runs (HF infer(): no_repeat_ngram_size 20 over the whole
 * sequence; vLLM: 30 within a 90-token window, <td>/</td> exempt).
 * Repetition loops are its most reported failure, so a run that starts
 * repeating a block is stopped and reported instead of running to the
 * token limit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"

/* ------------------------------------------------------------- n-grams */

static bool contains(const int32_t *v, int n, int32_t x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x) return true;
    return false;
}

int lm_ngram_banned(int32_t *banned, int cap, const int32_t *seq, int len, int n, int window,
                    const int32_t *whitelist, int n_whitelist)
{
    /* Fewer than n tokens hold no complete n-gram. */
    if (n <= 0 || len < n) return 0;
    int start = window > 0 && len - window > 0 ? len - window : 0;
    int end = len - n + 1; /* n-grams start at [start, end) */
    const int32_t *prefix = seq + len - (n - 1);
    size_t plen = (size_t)(n - 1) * sizeof(int32_t);
    int nb = 0;
    for (int i = start; i < end; i++) {
        if (plen && memcmp(seq + i, prefix, plen) != 0) continue;
        int32_t t = seq[i + n - 1];
        if (contains(whitelist, n_whitelist, t) || contains(banned, nb, t)) continue;
        if (nb < cap) banned[nb++] = t;
    }
    return nb;
}

/* ------------------------------------------------------- loop detector */

ocr_status lm_loop_init(lm_loop *d, int max_period, int min_repeats, int min_tokens, ocr_err *e)
{
    memset(d, 0, sizeof *d);
    if (max_period <= 0 || min_repeats < 2)
        return ocr_err_set(e, OCR_E_ARG, "lm_loop_init: max_period %d, min_repeats %d",
                           max_period, min_repeats);
    d->run = calloc((size_t)max_period + 1, sizeof(int));
    if (!d->run) return ocr_err_set(e, OCR_E_NOMEM, "lm_loop_init: out of memory");
    d->max_period = max_period;
    d->min_repeats = min_repeats;
    d->min_tokens = min_tokens;
    d->min_period = 1;
    return OCR_OK;
}

void lm_loop_free(lm_loop *d)
{
    if (!d) return;
    free(d->run);
    memset(d, 0, sizeof *d);
}

void lm_loop_reset(lm_loop *d)
{
    if (d->run) memset(d->run, 0, ((size_t)d->max_period + 1) * sizeof(int));
    d->len = 0;
}

/* run[p] counts the trailing tokens t with seq[t] == seq[t-p]: the tail of
 * length run[p] + p is p-periodic, i.e. (run[p] + p) / p repeats of a block. */
static void loop_step(lm_loop *d, const int32_t *seq, int len)
{
    int t = len - 1;
    for (int p = 1; p <= d->max_period; p++)
        d->run[p] = t - p >= 0 && seq[t] == seq[t - p] ? d->run[p] + 1 : 0;
    d->len = len;
}

bool lm_loop_push(lm_loop *d, const int32_t *seq, int len, int *period, int *repeats, int *start)
{
    if (!d->run || len <= 0) return false;
    if (len != d->len + 1) { /* not fed one by one: rebuild from the start */
        lm_loop_reset(d);
        for (int i = 1; i < len; i++) loop_step(d, seq, i);
    }
    loop_step(d, seq, len);
    for (int p = d->min_period > 1 ? d->min_period : 1; p <= d->max_period; p++) {
        int span = d->run[p] + p, reps = span / p;
        /* a run of one token is periodic at every p: below min_period it
         * is not a loop at any */
        if (d->min_period > 1 && d->run[1] + 1 >= span) continue;
        if (d->run[p] > 0 && reps >= d->min_repeats && span >= d->min_tokens) {
            *period = p;
            *repeats = reps;
            *start = len - reps * p;
            return true;
        }
    }
    return false;
}

/* -------------------------------------------------------------- sampling */

lm_gen_params lm_gen_default_params(void)
{
    lm_gen_params p;
    memset(&p, 0, sizeof p);
    p.max_new_tokens = 8192;
    p.temperature = 0.0f;
    p.top_p = 1.0f;
    p.ngram_size = 20;
    p.ngram_window = 0;
    p.ngram_include_prompt = true;
    p.loop_max_period = 128;
    p.loop_min_repeats = 8;
    p.loop_min_tokens = 256;
    p.loop_min_period = 1;
    return p;
}

/* Sift-down for a max-heap of ids keyed by prob[id]; heapsort then leaves
 * them ascending, and the caller walks from the end. */
static void sift(int32_t *h, int n, int i, const float *prob)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, big = i;
        if (l < n && prob[h[l]] > prob[h[big]]) big = l;
        if (r < n && prob[h[r]] > prob[h[big]]) big = r;
        if (big == i) return;
        int32_t t = h[i];
        h[i] = h[big];
        h[big] = t;
        i = big;
    }
}

static void sort_by_prob(int32_t *ids, int n, const float *prob)
{
    for (int i = n / 2 - 1; i >= 0; i--) sift(ids, n, i, prob);
    for (int end = n - 1; end > 0; end--) {
        int32_t t = ids[0];
        ids[0] = ids[end];
        ids[end] = t;
        sift(ids, end, 0, prob);
    }
}

static int32_t argmax_logits(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best] || (isnan(x[best]) && !isnan(x[i]))) best = i;
    return best;
}

int32_t lm_sample(float *logits, int vocab, const lm_gen_params *p, ocr_rng *rng, float *prob,
                  int32_t *ids)
{
    if (p->temperature <= 0.0f) return argmax_logits(logits, vocab);
    /* softmax(logits / T) */
    float mx = logits[argmax_logits(logits, vocab)];
    if (!isfinite(mx)) return argmax_logits(logits, vocab);
    double sum = 0.0;
    for (int i = 0; i < vocab; i++) {
        prob[i] = expf((logits[i] - mx) / p->temperature);
        sum += prob[i];
    }
    for (int i = 0; i < vocab; i++) prob[i] = (float)(prob[i] / sum);
    double r = ocr_rng_uniform(rng);
    if (p->top_p > 0.0f && p->top_p < 1.0f) {
        /* Nucleus: the fewest most likely tokens whose mass reaches top_p.
         * A token below (1-top_p)/(V-1) can never be in it (the rest of
         * the vocab could not make up the missing mass), so only the
         * others are sorted. */
        float cut = vocab > 1 ? (1.0f - p->top_p) / (float)(vocab - 1) : 0.0f;
        int n = 0;
        for (int i = 0; i < vocab; i++)
            if (prob[i] >= cut) ids[n++] = i;
        if (n == 0) return argmax_logits(logits, vocab);
        sort_by_prob(ids, n, prob);
        double mass = 0.0;
        int last = n - 1, k = n - 1;
        for (; k >= 0; k--) {
            mass += prob[ids[k]];
            if (mass >= p->top_p) break;
        }
        last = k < 0 ? 0 : k;
        double target = r * mass, acc = 0.0;
        for (int j = n - 1; j >= last; j--) {
            acc += prob[ids[j]];
            if (target < acc) return ids[j];
        }
        return ids[last];
    }
    double acc = 0.0;
    for (int i = 0; i < vocab; i++) {
        acc += prob[i];
        if (r < acc) return i;
    }
    return argmax_logits(logits, vocab);
}

float lm_logsumexp(const float *x, int n)
{
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    if (!isfinite(mx)) return mx;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    return mx + (float)log(sum);
}

/* ------------------------------------------------------------ generate */

ocr_status lm_generate(lm_state *st, const lm_gen_params *p, const int32_t *prompt,
                       const uint8_t *img_mask, const float *img_rows, int n_img_rows,
                       int n_prompt, int32_t *out, int cap, float *step_logits,
                       lm_gen_result *res, ocr_err *e)
{
    memset(res, 0, sizeof *res);
    const int V = st->m->vocab;
    int max_new = cap < p->max_new_tokens ? cap : p->max_new_tokens;
    if (max_new < 0) max_new = 0;
    if (n_prompt <= 0) return ocr_err_set(e, OCR_E_ARG, "lm_generate: empty prompt");

    /* Everything the loop needs, allocated once per call. */
    int32_t *seq = malloc(((size_t)n_prompt + (size_t)max_new + 1) * sizeof(int32_t));
    float *logits = malloc((size_t)V * sizeof(float));
    float *prob = malloc((size_t)V * sizeof(float));
    int32_t *ids = malloc((size_t)V * sizeof(int32_t));
    lm_loop loop;
    memset(&loop, 0, sizeof loop);
    ocr_status rc = OCR_OK;
    if (!seq || !logits || !prob || !ids) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "lm_generate: out of memory");
        goto done;
    }
    if (p->loop_max_period > 0 &&
        (rc = lm_loop_init(&loop, p->loop_max_period, p->loop_min_repeats, p->loop_min_tokens,
                           e)) != OCR_OK)
        goto done;
    loop.min_period = p->loop_min_period;
    memcpy(seq, prompt, (size_t)n_prompt * sizeof(int32_t));
    ocr_rng rng;
    ocr_rng_seed(&rng, p->seed);

    lm_state_reset(st);
    res->reason = LM_STOP_LENGTH;
    if (max_new == 0) goto done;
    rc = lm_forward(st, prompt, img_mask, img_rows, n_img_rows, n_prompt, LM_LOGITS_LAST, logits,
                    e);
    double prob_sum = 0.0;
    for (int t = 0; rc == OCR_OK && t < max_new; t++) {
        if (step_logits) memcpy(step_logits + (size_t)t * (size_t)V, logits, (size_t)V * sizeof(float));
        /* Before the bans: the confidence is the model's, not the guard's.
         * The token picked is never a banned one, so its logit below is
         * still the raw value. */
        const float lse = p->track_prob ? lm_logsumexp(logits, V) : -INFINITY;
        if (p->ngram_size > 0) {
            /* NoRepeatNGram: HF looks at prompt + output, vLLM's variant at
             * the output only. */
            const int32_t *base = p->ngram_include_prompt ? seq : seq + n_prompt;
            int len = p->ngram_include_prompt ? n_prompt + t : t;
            int nb = lm_ngram_banned(ids, V, base, len, p->ngram_size, p->ngram_window,
                                     p->ngram_whitelist, p->n_ngram_whitelist);
            for (int j = 0; j < nb; j++) logits[ids[j]] = -INFINITY;
            res->n_banned += nb;
        }
        int32_t tok = lm_sample(logits, V, p, &rng, prob, ids);
        out[t] = tok;
        seq[n_prompt + t] = tok;
        res->n_tokens = t + 1;
        if (p->track_prob) {
            if (isfinite(lse)) prob_sum += exp((double)logits[tok] - lse);
            res->mean_prob = (float)(prob_sum / res->n_tokens);
        }
        if (p->on_token && !p->on_token(p->on_token_ud, tok)) {
            res->reason = LM_STOP_CALLER;
            break;
        }
        if (contains(p->stop_ids, p->n_stop, tok)) {
            res->reason = LM_STOP_TOKEN;
            res->stop_token = tok;
            break;
        }
        int per, reps, start;
        if (loop.run && lm_loop_push(&loop, out, t + 1, &per, &reps, &start)) {
            res->reason = LM_STOP_LOOP;
            res->loop_period = per;
            res->loop_repeats = reps;
            res->loop_start = start;
            break;
        }
        if (t + 1 == max_new) break;
        if (st->n_past >= st->max_pos) {
            res->reason = LM_STOP_CONTEXT;
            break;
        }
        rc = lm_decode(st, tok, logits, e);
    }
done:
    lm_loop_free(&loop);
    free(seq);
    free(logits);
    free(prob);
    free(ids);
    return rc;
}

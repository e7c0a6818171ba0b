/* language/lm_beam.c — beam search over the cached decoder.
 *
 * Greedy decoding commits to each token; a formula read greedily that takes
 * one wrong brace early cannot recover. Beam search keeps the `beam` best
 * partial reads (sum of token log-probabilities) and ends with the best
 * finished one by mean log-probability per token (length_alpha 1; 0 ranks
 * by the plain sum, which favours short reads).
 *
 * Each beam owns a decoder state; reordering the beams copies KV caches
 * (lm_state_copy). The caches of a small model are small (vlocr-nano: 4
 * layers × 80 floats per token), so copying is cheap next to decoding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"

ocr_status lm_state_copy(lm_state *dst, const lm_state *src, ocr_err *e)
{
    if (dst == src) return OCR_OK;
    if (dst->m != src->m || dst->max_pos != src->max_pos)
        return ocr_err_set(e, OCR_E_ARG, "lm_state_copy: states of another model or size");
    const ocr_lm_config *c = &src->m->cfg;
    /* Per layer: a first block [max_pos, a] and a second [max_pos, b]
     * (MHA: K and V; MLA: latent and RoPE key), as lm_state_cache_k/v. */
    size_t a = c->use_mla ? (size_t)c->kv_lora_rank : (size_t)src->m->n_kv_heads * (size_t)src->m->head_dim;
    size_t b = c->use_mla ? (size_t)c->qk_rope_head_dim : a;
    size_t n = (size_t)src->n_past;
    for (int l = 0; l < src->m->n_layers; l++) {
        memcpy(lm_state_cache_k(dst, l), lm_state_cache_k(src, l), n * a * sizeof(float));
        memcpy(lm_state_cache_v(dst, l), lm_state_cache_v(src, l), n * b * sizeof(float));
    }
    dst->n_past = src->n_past;
    return OCR_OK;
}

typedef struct {
    int32_t *tok; /* [max_new] */
    float *lp;    /* [max_new] log-probability of each token */
    int n;
    double sum;   /* sum of lp */
    int st;       /* index of its decoder state */
    bool done;    /* finished: a stop token, a loop (cut), the length */
    lm_stop_reason reason;
    int loop_period, loop_repeats, loop_start;
} beam_hyp;

typedef struct {
    double score; /* sum so far + the candidate's log-probability */
    int parent;
    int32_t tok;
    float lp;
} beam_cand;

static int cand_cmp(const void *x, const void *y)
{
    const beam_cand *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->parent != b->parent) return a->parent < b->parent ? -1 : 1;
    return a->tok < b->tok ? -1 : a->tok > b->tok;
}

static double norm_score(const beam_hyp *h, float alpha)
{
    return h->n > 0 ? h->sum / pow((double)h->n, alpha) : -INFINITY;
}

static bool is_stop(const lm_gen_params *p, int32_t t)
{
    for (int i = 0; i < p->n_stop; i++)
        if (p->stop_ids[i] == t) return true;
    return false;
}

/* The k largest log-softmax entries of logits [V] into ids/lps (k <= V). */
static void top_k(const float *logits, int V, int k, int32_t *ids, float *lps)
{
    float lse = lm_logsumexp(logits, V);
    int n = 0;
    for (int v = 0; v < V; v++) {
        float x = logits[v] - lse;
        if (n == k && x <= lps[n - 1]) continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && lps[i - 1] < x) {
            lps[i] = lps[i - 1];
            ids[i] = ids[i - 1];
            i--;
        }
        lps[i] = x;
        ids[i] = v;
    }
}

ocr_status lm_beam_search(lm_state **st, int beam, float length_alpha, const lm_gen_params *p,
                          const int32_t *prompt, const uint8_t *img_mask, const float *img_rows,
                          int n_img_rows, int n_prompt, int32_t *out, int cap, lm_gen_result *res,
                          ocr_err *e)
{
    memset(res, 0, sizeof *res);
    if (beam < 1 || beam > 64) return ocr_err_set(e, OCR_E_ARG, "lm_beam_search: beam %d (1..64)", beam);
    if (n_prompt <= 0) return ocr_err_set(e, OCR_E_ARG, "lm_beam_search: empty prompt");
    const int V = st[0]->m->vocab, K = beam, KK = beam < V ? beam : V; /* KK: per beam */
    int max_new = cap < p->max_new_tokens ? cap : p->max_new_tokens;
    if (max_new < 0) max_new = 0;
    res->reason = LM_STOP_LENGTH;
    if (max_new == 0) return OCR_OK;

    /* Live beams [K] and finished reads [K]; candidates [K * KK]. */
    beam_hyp *live = calloc((size_t)K, sizeof *live), *nxt = calloc((size_t)K, sizeof *nxt);
    beam_hyp *fin = calloc((size_t)K, sizeof *fin);
    beam_cand *cand = malloc(sizeof *cand * (size_t)K * KK);
    float *logits = malloc(sizeof(float) * (size_t)V * K);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)KK);
    float *lps = malloc(sizeof(float) * (size_t)KK);
    bool *used = calloc(2 * (size_t)K, 1);
    lm_loop loop;
    memset(&loop, 0, sizeof loop);
    ocr_status rc = OCR_OK;
    int n_live = 0, n_fin = 0;
    if (!live || !nxt || !fin || !cand || !logits || !ids || !lps || !used) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "lm_beam_search: out of memory");
        goto done;
    }
    for (int i = 0; i < K; i++) {
        beam_hyp *hs[3] = {&live[i], &nxt[i], &fin[i]};
        for (int j = 0; j < 3; j++) {
            hs[j]->tok = malloc(sizeof(int32_t) * (size_t)max_new);
            hs[j]->lp = malloc(sizeof(float) * (size_t)max_new);
            if (!hs[j]->tok || !hs[j]->lp) {
                rc = ocr_err_set(e, OCR_E_NOMEM, "lm_beam_search: out of memory");
                goto done;
            }
        }
    }
    if (p->loop_max_period > 0) {
        rc = lm_loop_init(&loop, p->loop_max_period, p->loop_min_repeats, p->loop_min_tokens, e);
        if (rc != OCR_OK) goto done;
        loop.min_period = p->loop_min_period;
    }

    /* Prefill once; every first beam starts from that cache. */
    lm_state_reset(st[0]);
    rc = lm_forward(st[0], prompt, img_mask, img_rows, n_img_rows, n_prompt, LM_LOGITS_LAST, logits, e);
    if (rc != OCR_OK) goto done;
    live[0].n = 0;
    live[0].sum = 0;
    live[0].st = 0;
    n_live = 1;

    for (int t = 0; t < max_new && n_live > 0; t++) {
        /* Candidates: each live beam's K best next tokens. */
        int nc = 0;
        for (int b = 0; b < n_live; b++) {
            top_k(logits + (size_t)b * V, V, KK, ids, lps);
            for (int j = 0; j < KK; j++)
                cand[nc++] = (beam_cand){live[b].sum + lps[j], b, ids[j], lps[j]};
        }
        qsort(cand, (size_t)nc, sizeof *cand, cand_cmp);
        /* Down the ranking until K beams go on; a finished candidate
         * within the first K ranks joins the finished reads (HF's rule). */
        int n_next = 0;
        for (int c = 0; c < nc && n_next < K; c++) {
            const beam_hyp *par = &live[cand[c].parent];
            beam_hyp *h = &nxt[n_next];
            memcpy(h->tok, par->tok, sizeof(int32_t) * (size_t)par->n);
            memcpy(h->lp, par->lp, sizeof(float) * (size_t)par->n);
            h->n = par->n + 1;
            h->tok[par->n] = cand[c].tok;
            h->lp[par->n] = cand[c].lp;
            h->sum = cand[c].score;
            h->st = par->st; /* for now: the parent's state */
            h->done = false;
            h->reason = LM_STOP_LENGTH;
            int per, reps, start;
            if (is_stop(p, cand[c].tok)) {
                h->done = true;
                h->reason = LM_STOP_TOKEN;
            } else if (loop.run && (lm_loop_reset(&loop), lm_loop_push(&loop, h->tok, h->n, &per, &reps, &start))) {
                /* A loop is cut back to its first copy and scored so. */
                h->done = true;
                h->reason = LM_STOP_LOOP;
                h->loop_period = per;
                h->loop_repeats = reps;
                h->loop_start = start;
                h->n = start + per;
                h->sum = 0;
                for (int i = 0; i < h->n; i++) h->sum += h->lp[i];
            } else if (h->n == max_new || st[par->st]->n_past >= st[par->st]->max_pos) {
                h->done = true;
                h->reason = h->n == max_new ? LM_STOP_LENGTH : LM_STOP_CONTEXT;
            }
            if (!h->done) {
                n_next++;
                continue;
            }
            if (c >= K) continue;
            /* Keep the K best finished reads. */
            int slot = n_fin;
            if (n_fin == K) {
                slot = 0;
                for (int i = 1; i < K; i++)
                    if (norm_score(&fin[i], length_alpha) < norm_score(&fin[slot], length_alpha)) slot = i;
                if (norm_score(h, length_alpha) <= norm_score(&fin[slot], length_alpha)) continue;
            } else {
                n_fin++;
            }
            beam_hyp tmp = fin[slot];
            fin[slot] = *h;
            *h = tmp; /* the slot's buffers come back for reuse */
        }
        /* States: a parent's first child takes the parent's state, the
         * others get copies into states no beam goes on with. Copies are
         * made before any decoding, so every source is still as it was. */
        memset(used, 0, 2 * (size_t)K);
        for (int i = 0; i < n_next; i++) {
            if (!used[nxt[i].st]) used[nxt[i].st] = true;
            else nxt[i].st = -1 - nxt[i].st; /* needs a copy of state -1 - st */
        }
        for (int i = 0, f = 0; i < n_next; i++) {
            if (nxt[i].st >= 0) continue;
            while (used[f]) f++;
            used[f] = true;
            rc = lm_state_copy(st[f], st[-1 - nxt[i].st], e);
            if (rc != OCR_OK) goto done;
            nxt[i].st = f;
        }
        beam_hyp *sw = live;
        live = nxt;
        nxt = sw;
        n_live = n_next;
        /* Done when K reads are finished and no live beam ranks above the
         * worst of them (exact for length_alpha 0: log-probabilities only
         * fall as tokens are added; HF's estimate otherwise). */
        if (n_fin == K) {
            double worst = INFINITY, best_live = -INFINITY;
            for (int i = 0; i < K; i++) worst = fmin(worst, norm_score(&fin[i], length_alpha));
            for (int i = 0; i < n_live; i++) best_live = fmax(best_live, norm_score(&live[i], length_alpha));
            if (best_live <= worst) break;
        }
        for (int b = 0; rc == OCR_OK && b < n_live; b++)
            rc = lm_decode(st[live[b].st], live[b].tok[live[b].n - 1], logits + (size_t)b * V, e);
        if (rc != OCR_OK) goto done;
    }
    {
        /* The best finished read; a live one only when none finished. */
        const beam_hyp *best = NULL;
        for (int i = 0; i < n_fin; i++)
            if (!best || norm_score(&fin[i], length_alpha) > norm_score(best, length_alpha)) best = &fin[i];
        for (int i = 0; !n_fin && i < n_live; i++)
            if (!best || norm_score(&live[i], length_alpha) > norm_score(best, length_alpha)) best = &live[i];
        if (best) {
            /* A loop's repeats were cut from n; out gets the read as kept. */
            int n = best->n;
            memcpy(out, best->tok, sizeof(int32_t) * (size_t)n);
            res->n_tokens = n;
            res->reason = best->reason;
            if (best->reason == LM_STOP_TOKEN) res->stop_token = best->tok[n - 1];
            if (best->reason == LM_STOP_LOOP) {
                res->loop_period = best->loop_period;
                res->loop_repeats = best->loop_repeats;
                res->loop_start = best->loop_start;
            }
            if (p->track_prob && n > 0) {
                double ps = 0;
                for (int i = 0; i < n; i++) ps += exp((double)best->lp[i]);
                res->mean_prob = (float)(ps / n);
            }
        }
    }
done:
    for (int i = 0; i < K; i++) {
        if (live) free(live[i].tok), free(live[i].lp);
        if (nxt) free(nxt[i].tok), free(nxt[i].lp);
        if (fin) free(fin[i].tok), free(fin[i].lp);
    }
    free(live);
    free(nxt);
    free(fin);
    free(cand);
    free(logits);
    free(ids);
    free(lps);
    free(used);
    lm_loop_free(&loop);
    return rc;
}

/* language/lm_moe.c — the decoder's feed-forward: dense SwiGLU
 * (DeepseekV2MLP) and the mixture of experts (DeepseekV2MoE + MoEGate,
 * modeling_deepseekv2.py).
 *
 * Routed experts run the way moe_infer does: tokens are bucketed by expert,
 * and each expert that received tokens computes them as one GEMM over its
 * gathered rows, whose outputs are scatter-added with their gate weights.
 * With one token (decode) that is k matvecs over the active experts only.
 */
#include <math.h>
#include <string.h>

#include "language/lm.h"

static ocr_status no_scratch(ocr_err *e)
{
    return ocr_err_set(e, OCR_E_NOMEM, "lm_ffn_forward: scratch arena exhausted (sizing bug)");
}

/* DeepseekV2MLP: down_proj(silu(gate_proj(x)) * up_proj(x)); out [n, D]. */
static ocr_status mlp_forward(lm_state *st, const lm_mlp *mp, float *out, const float *x, int n,
                              ocr_err *e)
{
    size_t mark = ocr_arena_mark(&st->scratch);
    size_t ni = (size_t)n * (size_t)mp->inter;
    float *g = ocr_arena_alloc(&st->scratch, ni * sizeof(float));
    float *u = ocr_arena_alloc(&st->scratch, ni * sizeof(float));
    ocr_status rc;
    if (!g || !u) return no_scratch(e);
    if ((rc = ocr_matmul(g, x, mp->gate.w, mp->gate.b, n, e)) == OCR_OK &&
        (rc = ocr_matmul(u, x, mp->up.w, mp->up.b, n, e)) == OCR_OK) {
        ocr_swiglu(g, u, ni);
        rc = ocr_matmul(out, g, mp->down.w, mp->down.b, n, e);
    }
    ocr_arena_reset(&st->scratch, mark);
    return rc;
}

/* Index of the largest v[i] over i < n; the first one on ties (NaNs lose). */
static int argmax_f(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best] || (v[best] != v[best] && v[i] == v[i])) best = i;
    return best;
}

void lm_router_topk(int32_t *ids, float *weights, const float *logits, const float *bias, int n,
                    const lm_router_params *p, float *scratch)
{
    const int E = p->n_experts, k = p->top_k;
    const int G = p->method == LM_TOPK_GREEDY ? 1 : p->n_group, gs = E / G;
    float *scores = scratch, *choice = scratch + E, *gscore = scratch + 2 * E;

    for (int t = 0; t < n; t++) {
        const float *lg = logits + (size_t)t * (size_t)E;
        /* scores: softmax over experts, or element-wise sigmoid (fp32) */
        if (p->scoring == LM_SCORE_SOFTMAX) {
            memcpy(scores, lg, (size_t)E * sizeof(float));
            ocr_softmax(scores, 1, E);
        } else {
            for (int i = 0; i < E; i++) scores[i] = 1.0f / (1.0f + expf(-lg[i]));
        }
        /* noaux_tc chooses by score + e_score_correction_bias; the bias
         * never reaches the weights. */
        for (int i = 0; i < E; i++)
            choice[i] = p->method == LM_TOPK_NOAUX_TC && bias ? scores[i] + bias[i] : scores[i];

        if (p->method != LM_TOPK_GREEDY) {
            /* Group score: max of the group (group_limited_greedy) or the
             * sum of its two best (noaux_tc). Keep topk_group groups and,
             * as the official HF code does, give every expert of the other
             * groups a choice of 0.0 (not -inf: with sigmoid + bias a kept
             * expert may score below 0 and lose to a masked one). */
            for (int g = 0; g < G; g++) {
                const float *cg = choice + (size_t)g * (size_t)gs;
                int b1 = argmax_f(cg, gs);
                if (p->method == LM_TOPK_GROUP_LIMITED) {
                    gscore[g] = cg[b1];
                } else {
                    int b2 = b1 == 0 ? 1 : 0;
                    for (int i = 0; i < gs; i++)
                        if (i != b1 && cg[i] > cg[b2]) b2 = i;
                    gscore[g] = cg[b1] + cg[b2];
                }
            }
            /* Mark kept groups by setting their score to +inf. */
            for (int j = 0; j < p->topk_group; j++) {
                int best = -1;
                for (int g = 0; g < G; g++)
                    if (gscore[g] != INFINITY && (best < 0 || gscore[g] > gscore[best])) best = g;
                if (best >= 0) gscore[best] = INFINITY;
            }
            for (int g = 0; g < G; g++)
                if (gscore[g] != INFINITY)
                    for (int i = 0; i < gs; i++) choice[(size_t)g * (size_t)gs + (size_t)i] = 0.0f;
        }

        int32_t *id = ids + (size_t)t * (size_t)k;
        float *w = weights + (size_t)t * (size_t)k;
        float sum = 0.0f;
        for (int j = 0; j < k; j++) {
            int best = argmax_f(choice, E);
            id[j] = best;
            w[j] = scores[best];
            sum += w[j];
            choice[best] = -INFINITY;
        }
        if (k > 1 && p->norm_topk_prob) {
            float den = sum + 1e-20f;
            for (int j = 0; j < k; j++) w[j] = w[j] / den;
        }
        for (int j = 0; j < k; j++) w[j] *= p->routed_scaling_factor;
    }
}

/* DeepseekV2MoE.forward (inference): y = moe_infer(h) + shared_experts(h). */
static ocr_status moe_forward(lm_state *st, const lm_layer *L, int l, float *out, const float *h,
                              int n, int pos0, ocr_err *e)
{
    const lm_model *m = st->m;
    const lm_router_params *rp = &m->router;
    const int D = m->dim, E = rp->n_experts, k = rp->top_k;
    const size_t nk = (size_t)n * (size_t)k;
    ocr_arena *a = &st->scratch;
    ocr_status rc;

    float *logits = ocr_arena_alloc(a, (size_t)n * (size_t)E * sizeof(float));
    int32_t *ids = ocr_arena_alloc(a, nk * sizeof(int32_t));
    float *w = ocr_arena_alloc(a, nk * sizeof(float));
    float *rs = ocr_arena_alloc(a, (size_t)(2 * E + rp->n_group + 1) * sizeof(float));
    int32_t *cnt = ocr_arena_alloc(a, (size_t)(E + 1) * sizeof(int32_t));
    int32_t *tok = ocr_arena_alloc(a, nk * sizeof(int32_t));
    float *tw = ocr_arena_alloc(a, nk * sizeof(float));
    float *xe = ocr_arena_alloc(a, (size_t)n * (size_t)D * sizeof(float));
    float *ye = ocr_arena_alloc(a, (size_t)n * (size_t)D * sizeof(float));
    if (!logits || !ids || !w || !rs || !cnt || !tok || !tw || !xe || !ye) return no_scratch(e);

    /* MoEGate: logits = F.linear(h.float(), W.float()) */
    if ((rc = ocr_matmul(logits, h, L->router, NULL, n, e)) != OCR_OK) return rc;
    lm_router_topk(ids, w, logits, L->router_bias, n, rp, rs);
    if (st->trace) {
        lm_trace_event ev = {LM_TRACE_ROUTER, l, pos0, n, k, NULL, ids, w};
        st->trace(st->trace_ud, &ev);
    }

    /* Bucket (token, weight) pairs by expert, tokens ascending within each:
     * a counting sort, cnt[x] ending as the start of expert x's bucket. */
    memset(cnt, 0, (size_t)(E + 1) * sizeof(int32_t));
    for (size_t j = 0; j < nk; j++) cnt[ids[j] + 1]++;
    for (int x = 0; x < E; x++) cnt[x + 1] += cnt[x];
    for (size_t j = 0; j < nk; j++) {
        int32_t at = cnt[ids[j]]++;
        tok[at] = (int32_t)(j / (size_t)k);
        tw[at] = w[j];
    }
    /* cnt[x] is now the end of bucket x; bucket x starts at cnt[x-1]. */
    memset(out, 0, (size_t)n * (size_t)D * sizeof(float));
    for (int x = 0; x < E; x++) {
        int b0 = x ? cnt[x - 1] : 0, ne = cnt[x] - b0;
        if (ne == 0) continue;
        const float *xin = h;
        if (ne != n) { /* all tokens in order need no gather */
            for (int j = 0; j < ne; j++)
                memcpy(xe + (size_t)j * (size_t)D, h + (size_t)tok[b0 + j] * (size_t)D,
                       (size_t)D * sizeof(float));
            xin = xe;
        }
        if ((rc = mlp_forward(st, &L->experts[x], ye, xin, ne, e)) != OCR_OK) return rc;
        for (int j = 0; j < ne; j++) {
            float *o = out + (size_t)tok[b0 + j] * (size_t)D;
            const float *y = ye + (size_t)j * (size_t)D;
            float wt = tw[b0 + j];
            for (int d = 0; d < D; d++) o[d] += wt * y[d];
        }
    }
    if (L->shared.inter) {
        if ((rc = mlp_forward(st, &L->shared, ye, h, n, e)) != OCR_OK) return rc;
        for (size_t i = 0; i < (size_t)n * (size_t)D; i++) out[i] += ye[i];
    }
    return OCR_OK;
}

ocr_status lm_ffn_forward(lm_state *st, int l, float *out, const float *h, int n, int pos0,
                          ocr_err *e)
{
    if (n <= 0) return OCR_OK;
    const lm_layer *L = &st->m->layers[l];
    size_t mark = ocr_arena_mark(&st->scratch);
    ocr_status rc = L->moe ? moe_forward(st, L, l, out, h, n, pos0, e)
                           : mlp_forward(st, &L->dense, out, h, n, e);
    ocr_arena_reset(&st->scratch, mark);
    return rc;
}

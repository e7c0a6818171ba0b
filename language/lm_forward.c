/* language/lm_forward.c — per-request state and the decoder forward pass
 * (DeepseekV2Model.forward + lm_head, modeling_deepseekv2.py):
 *
 *   x = embed(ids), image rows scattered in where the mask is set
 *   per layer: x += attn(rmsnorm(x)); x += ffn(rmsnorm(x))
 *   logits = rmsnorm(x)·lm_headᵀ
 *
 * Every buffer a pass needs is sized here once, from the hyper-parameters,
 * the cache length and the chunk size; a pass only bumps the arena.
 */
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"

/* ---------------------------------------------------------------- state */

static size_t fb(size_t nfloats)
{
    return nfloats * sizeof(float) + OCR_ALIGN;
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* Upper bound of the scratch one chunk of B tokens uses with a cache of T
 * positions; mirrors the allocations in lm_attn.c and lm_moe.c. */
static size_t scratch_bytes(const lm_model *m, size_t B, size_t T)
{
    const ocr_lm_config *c = &m->cfg;
    const size_t D = (size_t)m->dim, H = (size_t)m->n_heads;
    size_t attn;
    if (c->use_mla) {
        size_t r = (size_t)c->kv_lora_rank, dr = (size_t)c->qk_rope_head_dim;
        size_t dn = (size_t)c->qk_nope_head_dim, dv = (size_t)c->v_head_dim;
        size_t proj = fb(B * (size_t)c->q_lora_rank) + fb(B * (r + dr)) + fb(dr + 1);
        size_t core = 2 * fb(B * (dr / 2)) + fb(dr) + fb(H * (dn + dv) * r) + fb(B * H * r) +
                      fb(B * T) + fb(B * r) + fb(B * H * dv);
        attn = fb(B * (size_t)m->q_width) + max_sz(proj, core);
    } else {
        size_t hd = (size_t)m->head_dim;
        attn = 2 * fb(B * (size_t)m->q_width) + 2 * fb(B * (hd / 2)) + fb(B * T);
    }
    size_t inter = (size_t)(c->intermediate_size > 0 ? c->intermediate_size : 0);
    size_t mi = (size_t)(c->moe_intermediate_size > 0 ? c->moe_intermediate_size : 0);
    size_t si = mi * (size_t)(c->n_shared_experts > 0 ? c->n_shared_experts : 0);
    size_t widest = max_sz(inter, max_sz(mi, si));
    size_t E = (size_t)(c->n_routed_experts > 0 ? c->n_routed_experts : 0);
    size_t k = (size_t)(c->num_experts_per_tok > 0 ? c->num_experts_per_tok : 0);
    size_t ffn = fb(B * E) + 4 * fb(B * k) + fb(2 * E + (size_t)m->router.n_group + 1) +
                 fb(E + 1) + 2 * fb(B * D) + 2 * fb(B * widest);
    size_t fwd = 2 * fb(B * D) + fb(D);
    return fwd + max_sz(attn, ffn) + 4096;
}

ocr_status lm_state_create(lm_state **out, const lm_model *m, int max_pos, int max_batch,
                           ocr_err *e)
{
    *out = NULL;
    if (!m || max_pos <= 0 || max_batch < 0)
        return ocr_err_set(e, OCR_E_ARG, "lm_state_create: max_pos %d, max_batch %d", max_pos,
                           max_batch);
    const ocr_lm_config *c = &m->cfg;
    lm_state *st = calloc(1, sizeof *st);
    if (!st) return ocr_err_set(e, OCR_E_NOMEM, "lm_state_create: out of memory");
    st->m = m;
    st->max_pos = max_pos;
    int B = max_batch ? max_batch : 512;
    st->max_batch = B < max_pos ? B : max_pos;
    size_t row = c->use_mla ? (size_t)c->kv_lora_rank + (size_t)c->qk_rope_head_dim
                            : 2 * (size_t)m->n_kv_heads * (size_t)m->head_dim;
    size_t per_layer, total, bytes;
    ocr_status rc = OCR_OK;
    if (!ocr_mul_ok(row, (size_t)max_pos, &per_layer) ||
        !ocr_mul_ok(per_layer, (size_t)m->n_layers, &total) ||
        !ocr_mul_ok(total, sizeof(float), &bytes)) {
        rc = ocr_err_set(e, OCR_E_LIMIT, "lm_state_create: KV cache of %d positions overflows",
                         max_pos);
        goto fail;
    }
    st->kv_layer_floats = per_layer;
    st->kv = ocr_aligned_alloc(bytes);
    st->x = ocr_aligned_alloc((size_t)st->max_batch * (size_t)m->dim * sizeof(float));
    st->pos = malloc((size_t)st->max_batch * sizeof(int));
    if (!st->kv || !st->x || !st->pos) {
        rc = ocr_err_set(e, OCR_E_NOMEM,
                         "lm_state_create: cannot allocate a KV cache of %zu bytes (%d positions)",
                         bytes, max_pos);
        goto fail;
    }
    rc = ocr_arena_init(&st->scratch, scratch_bytes(m, (size_t)st->max_batch, (size_t)max_pos), e);
    if (rc != OCR_OK) goto fail;
    *out = st;
    return OCR_OK;
fail:
    lm_state_destroy(&st);
    return rc;
}

void lm_state_destroy(lm_state **pst)
{
    if (!pst || !*pst) return;
    lm_state *st = *pst;
    free(st->kv);
    free(st->x);
    free(st->pos);
    ocr_arena_free(&st->scratch);
    free(st);
    *pst = NULL;
}

void lm_state_reset(lm_state *st)
{
    st->n_past = 0;
}

void lm_state_truncate(lm_state *st, int n_keep)
{
    if (n_keep >= 0 && n_keep < st->n_past) st->n_past = n_keep;
}

void lm_state_set_trace(lm_state *st, lm_trace_fn fn, void *ud)
{
    st->trace = fn;
    st->trace_ud = ud;
}

/* ------------------------------------------------------------ embedding */

/* Rows of the chunk [i0, i0+n): token embeddings, or the next image row
 * (*img_next) where the mask is set. */
static ocr_status embed_rows(const lm_model *m, float *x, const int32_t *ids,
                             const uint8_t *img_mask, const float *img_rows, int n_img_rows,
                             int n, int *img_next, ocr_err *e)
{
    const int D = m->dim;
    for (int i = 0; i < n; i++) {
        float *xi = x + (size_t)i * (size_t)D;
        if (img_mask && img_mask[i]) {
            if (!img_rows || *img_next >= n_img_rows)
                return ocr_err_set(e, OCR_E_ARG,
                                   "lm_embed: the image mask has more positions than the "
                                   "%d image rows given",
                                   n_img_rows);
            memcpy(xi, img_rows + (size_t)(*img_next)++ * (size_t)D, (size_t)D * sizeof(float));
            continue;
        }
        if (ids[i] < 0 || ids[i] >= m->vocab)
            return ocr_err_set(e, OCR_E_ARG, "lm_embed: token id %d at %d outside vocab %d",
                               (int)ids[i], i, m->vocab);
        ocr_status rc = ocr_tensor_rows_to_f32(xi, m->embed, ids[i], 1, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

static int count_mask(const uint8_t *mask, int n)
{
    int k = 0;
    for (int i = 0; mask && i < n; i++) k += mask[i] != 0;
    return k;
}

ocr_status lm_embed(const lm_model *m, float *x, const int32_t *ids, const uint8_t *img_mask,
                    const float *img_rows, int n_img_rows, int n, ocr_err *e)
{
    int k = count_mask(img_mask, n), next = 0;
    if (k != n_img_rows)
        return ocr_err_set(e, OCR_E_ARG, "lm_embed: image mask has %d positions, %d rows given",
                           k, n_img_rows);
    return embed_rows(m, x, ids, img_mask, img_rows, n_img_rows, n, &next, e);
}

/* -------------------------------------------------------------- forward */

static void trace_x(const lm_state *st, lm_trace_kind kind, int layer, const float *x, int n)
{
    if (!st->trace) return;
    lm_trace_event ev = {kind, layer, st->n_past, n, st->m->dim, x, NULL, NULL};
    st->trace(st->trace_ud, &ev);
}

static void add_inplace(float *x, const float *a, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += a[i];
}

/* DeepseekV2Model.forward over st->x [n, D] (one chunk), then the final
 * norm and lm_head as `mode` asks. Advances n_past. */
static ocr_status forward_chunk(lm_state *st, int n, lm_logits_mode mode, float *logits,
                                ocr_err *e)
{
    const lm_model *m = st->m;
    const int D = m->dim;
    const float eps = m->cfg.rms_norm_eps;
    const size_t nd = (size_t)n * (size_t)D;
    float *x = st->x;
    ocr_status rc = OCR_OK;
    size_t mark = ocr_arena_mark(&st->scratch);
    float *h = ocr_arena_alloc(&st->scratch, nd * sizeof(float));
    float *a = ocr_arena_alloc(&st->scratch, nd * sizeof(float));
    if (!h || !a) return ocr_err_set(e, OCR_E_NOMEM, "lm_forward: scratch exhausted (sizing bug)");

    trace_x(st, LM_TRACE_EMBED, -1, x, n);
    for (int l = 0; l < m->n_layers && rc == OCR_OK; l++) {
        const lm_layer *L = &m->layers[l];
        /* DeepseekV2DecoderLayer.forward */
        ocr_rmsnorm(h, x, L->attn_norm, n, D, eps);
        if ((rc = lm_attn_forward(st, l, a, h, n, e)) != OCR_OK) break;
        add_inplace(x, a, nd);
        ocr_rmsnorm(h, x, L->mlp_norm, n, D, eps);
        if (L->moe) trace_x(st, LM_TRACE_MOE_INPUT, l, h, n);
        if ((rc = lm_ffn_forward(st, l, a, h, n, st->n_past, e)) != OCR_OK) break;
        add_inplace(x, a, nd);
        trace_x(st, LM_TRACE_LAYER_OUT, l, x, n);
    }
    if (rc == OCR_OK) {
        if (mode == LM_LOGITS_ALL || st->trace) {
            ocr_rmsnorm(h, x, m->final_norm, n, D, eps);
            trace_x(st, LM_TRACE_FINAL_NORM, -1, h, n);
        } else if (mode == LM_LOGITS_LAST) {
            ocr_rmsnorm(h + (size_t)(n - 1) * (size_t)D, x + (size_t)(n - 1) * (size_t)D,
                        m->final_norm, 1, D, eps);
        }
        if (mode == LM_LOGITS_ALL)
            rc = ocr_matmul(logits, h, m->lm_head, NULL, n, e);
        else if (mode == LM_LOGITS_LAST)
            rc = ocr_matmul(logits, h + (size_t)(n - 1) * (size_t)D, m->lm_head, NULL, 1, e);
    }
    ocr_arena_reset(&st->scratch, mark);
    if (rc == OCR_OK) st->n_past += n;
    return rc;
}

static ocr_status check_room(const lm_state *st, int n, lm_logits_mode mode, const float *logits,
                             ocr_err *e)
{
    if (n <= 0) return ocr_err_set(e, OCR_E_ARG, "lm_forward: %d tokens", n);
    if (mode != LM_LOGITS_NONE && !logits)
        return ocr_err_set(e, OCR_E_ARG, "lm_forward: logits requested into NULL");
    if (n > st->max_pos - st->n_past)
        return ocr_err_set(e, OCR_E_LIMIT,
                           "lm_forward: %d cached + %d new positions exceed the cache of %d",
                           st->n_past, n, st->max_pos);
    return OCR_OK;
}

ocr_status lm_forward(lm_state *st, const int32_t *ids, const uint8_t *img_mask,
                      const float *img_rows, int n_img_rows, int n, lm_logits_mode mode,
                      float *logits, ocr_err *e)
{
    ocr_status rc = check_room(st, n, mode, logits, e);
    if (rc != OCR_OK) return rc;
    int k = count_mask(img_mask, n);
    if (k != n_img_rows)
        return ocr_err_set(e, OCR_E_ARG, "lm_forward: image mask has %d positions, %d rows given",
                           k, n_img_rows);
    const size_t V = (size_t)st->m->vocab;
    int next = 0;
    for (int i0 = 0; i0 < n; i0 += st->max_batch) {
        int nc = n - i0 < st->max_batch ? n - i0 : st->max_batch;
        bool last = i0 + nc == n;
        rc = embed_rows(st->m, st->x, ids + i0, img_mask ? img_mask + i0 : NULL, img_rows,
                        n_img_rows, nc, &next, e);
        if (rc != OCR_OK) return rc;
        lm_logits_mode cm = mode == LM_LOGITS_ALL ? mode : last ? mode : LM_LOGITS_NONE;
        rc = forward_chunk(st, nc, cm, mode == LM_LOGITS_ALL ? logits + (size_t)i0 * V : logits, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

ocr_status lm_forward_embeds(lm_state *st, const float *x, int n, lm_logits_mode mode,
                             float *logits, ocr_err *e)
{
    ocr_status rc = check_room(st, n, mode, logits, e);
    if (rc != OCR_OK) return rc;
    const size_t V = (size_t)st->m->vocab, D = (size_t)st->m->dim;
    for (int i0 = 0; i0 < n; i0 += st->max_batch) {
        int nc = n - i0 < st->max_batch ? n - i0 : st->max_batch;
        bool last = i0 + nc == n;
        memcpy(st->x, x + (size_t)i0 * D, (size_t)nc * D * sizeof(float));
        lm_logits_mode cm = mode == LM_LOGITS_ALL ? mode : last ? mode : LM_LOGITS_NONE;
        rc = forward_chunk(st, nc, cm, mode == LM_LOGITS_ALL ? logits + (size_t)i0 * V : logits, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

ocr_status lm_decode(lm_state *st, int32_t token, float *logits, ocr_err *e)
{
    return lm_forward(st, &token, NULL, NULL, 0, 1, LM_LOGITS_LAST, logits, e);
}

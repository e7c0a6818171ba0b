/* language/lm_attn.c — decoder self-attention with a KV cache.
 *
 *   MHA: transformers 4.46 LlamaAttention (eager), which the released
 *        DeepSeek-OCR picks through ATTENTION_CLASSES["mha_eager"]:
 *        rotate_half RoPE over the whole head, q·kᵀ/√d, causal softmax in
 *        fp32. The cache holds the rotated K and V of every token.
 *   MLA: DeepseekV2Attention (modeling_deepseekv2.py, DeepSeek-VL2/OCR),
 *        which already runs in the absorbed form: W_UK is folded into the
 *        query and W_UV into the output, so attention runs in the latent
 *        space and the cache holds only c = kv_a_layernorm(c_raw)
 *        [kv_lora_rank] and the rotated k_pe [qk_rope_head_dim] per token.
 *
 * Both take positions n_past .. n_past+n-1, write the new tokens' cache rows
 * and leave n_past alone (lm_forward advances it after the last layer).
 * The `_ref` twins are plain loops over the same cache: the MHA one follows
 * LlamaAttention literally, the MLA one is DeepSeek-V3 inference/model.py's
 * "naive" form (keys and values expanded per head, interleaved RoPE).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"

/* kv_a_layernorm and q_a_layernorm are DeepseekV2RMSNorm(dim) with the
 * class default eps, not config.rms_norm_eps. */
#define LM_LATENT_NORM_EPS 1e-6f

float *lm_state_cache_k(const lm_state *st, int l)
{
    return st->kv + (size_t)l * st->kv_layer_floats;
}

float *lm_state_cache_v(const lm_state *st, int l)
{
    const lm_model *m = st->m;
    size_t row = m->cfg.use_mla ? (size_t)m->cfg.kv_lora_rank
                                : (size_t)m->n_kv_heads * (size_t)m->head_dim;
    return lm_state_cache_k(st, l) + (size_t)st->max_pos * row;
}

static float *scratch(lm_state *st, size_t nfloats)
{
    return ocr_arena_alloc(&st->scratch, nfloats * sizeof(float));
}

static ocr_status no_scratch(ocr_err *e, const char *fn)
{
    return ocr_err_set(e, OCR_E_NOMEM, "%s: scratch arena exhausted (sizing bug)", fn);
}

static ocr_status linear(float *y, const float *x, const lm_linear *lin, int n, ocr_err *e)
{
    return ocr_matmul(y, x, lin->w, lin->b, n, e);
}

/* cos/sin rows for positions pos0 .. pos0+n-1. */
static void rope_rows(lm_state *st, float *cs, float *sn, int n, int pos0)
{
    const lm_model *m = st->m;
    for (int i = 0; i < n; i++) st->pos[i] = pos0 + i;
    ocr_rope_table(cs, sn, st->pos, n, m->inv_freq, m->rope_dim / 2, m->rope_mscale);
}

/* Row i is the query at position pos0+i: it sees keys 0..pos0+i (the
 * 4-D causal mask's 0 / finfo.min, whose exp is exactly 0). */
static void causal_softmax(float *s, int n, int T, int pos0)
{
    for (int i = 0; i < n; i++) {
        float *row = s + (size_t)i * (size_t)T;
        int len = pos0 + i + 1;
        ocr_softmax(row, 1, len);
        if (len < T) memset(row + len, 0, (size_t)(T - len) * sizeof(float));
    }
}

/* HF apply_rotary_pos_emb (DeepSeek-V2): view(d/2, 2).transpose(), i.e.
 * [x0 x1 x2 x3 ...] -> [x0 x2 ... | x1 x3 ...], so that rotate_half then
 * rotates the original (2i, 2i+1) pairs. */
static void deinterleave(float *dst, const float *src, int d, float *tmp)
{
    for (int i = 0; i < d / 2; i++) {
        tmp[i] = src[2 * i];
        tmp[d / 2 + i] = src[2 * i + 1];
    }
    memcpy(dst, tmp, (size_t)d * sizeof(float));
}

/* ------------------------------------------------------------------ MHA */

/* LlamaAttention.forward (transformers 4.46, eager). */
static ocr_status attn_mha(lm_state *st, int l, float *out, const float *h, int n, ocr_err *e)
{
    const lm_model *m = st->m;
    const lm_layer *L = &m->layers[l];
    const int H = m->n_heads, KV = m->n_kv_heads, hd = m->head_dim, group = H / KV;
    const int kvw = KV * hd, qw = H * hd, pos0 = st->n_past, T = pos0 + n;
    float *K = lm_state_cache_k(st, l), *V = lm_state_cache_v(st, l);
    float *Kn = K + (size_t)pos0 * (size_t)kvw, *Vn = V + (size_t)pos0 * (size_t)kvw;
    ocr_status rc;

    float *q = scratch(st, (size_t)n * (size_t)qw);
    float *cs = scratch(st, (size_t)n * (size_t)(hd / 2));
    float *sn = scratch(st, (size_t)n * (size_t)(hd / 2));
    float *s = scratch(st, (size_t)n * (size_t)T);
    float *o = scratch(st, (size_t)n * (size_t)qw);
    if (!q || !cs || !sn || !s || !o) return no_scratch(e, "lm_attn_forward");

    if ((rc = linear(q, h, &L->q, n, e)) != OCR_OK) return rc;
    if ((rc = linear(Kn, h, &L->k, n, e)) != OCR_OK) return rc;
    if ((rc = linear(Vn, h, &L->v, n, e)) != OCR_OK) return rc;
    rope_rows(st, cs, sn, n, pos0);
    ocr_rope_neox(q, n, H, hd, hd, cs, sn);
    ocr_rope_neox(Kn, n, KV, hd, hd, cs, sn);

    for (int hh = 0; hh < H; hh++) {
        int g = hh / group; /* repeat_kv */
        ocr_sgemm(false, true, n, T, hd, m->softmax_scale, q + (size_t)hh * (size_t)hd, qw,
                  K + (size_t)g * (size_t)hd, kvw, 0.0f, s, T);
        causal_softmax(s, n, T, pos0);
        ocr_sgemm(false, false, n, hd, T, 1.0f, s, T, V + (size_t)g * (size_t)hd, kvw, 0.0f,
                  o + (size_t)hh * (size_t)hd, qw);
    }
    return linear(out, o, &L->o, n, e);
}

/* ------------------------------------------------------------------ MLA */

/* kv_b_proj as float [H*(dn+dv), r]: the tensor itself when F32, else
 * widened into scratch (it is read once per call either way). */
static const float *kvb_f32(lm_state *st, const lm_layer *L, ocr_err *e, ocr_status *rc)
{
    const ocr_tensor *t = L->kv_b.w;
    *rc = OCR_OK;
    if (t->dtype == OCR_DT_F32) return (const float *)t->data;
    float *w = scratch(st, (size_t)ocr_tensor_numel(t));
    if (!w) {
        *rc = no_scratch(e, "lm_attn_forward");
        return NULL;
    }
    *rc = ocr_tensor_to_f32(w, t, e);
    return w;
}

/* Shared by the absorbed form and its oracle: q [n, H*(dn+dr)] before
 * RoPE, and the latent/rope cache rows of the new tokens (c normalised,
 * k_pe de-interleaved but not yet rotated). */
static ocr_status mla_project(lm_state *st, const lm_layer *L, float *q, const float *h,
                              int n, ocr_err *e)
{
    const lm_model *m = st->m;
    const ocr_lm_config *c = &m->cfg;
    const int r = c->kv_lora_rank, dr = c->qk_rope_head_dim, pos0 = st->n_past;
    int l = (int)(L - m->layers);
    float *C = lm_state_cache_k(st, l), *KPE = lm_state_cache_v(st, l);
    ocr_status rc;
    size_t mark = ocr_arena_mark(&st->scratch);

    if (c->q_lora_rank > 0) {
        /* q = q_b_proj(q_a_layernorm(q_a_proj(h))) */
        float *qa = scratch(st, (size_t)n * (size_t)c->q_lora_rank);
        if (!qa) return no_scratch(e, "lm_attn_forward");
        if ((rc = linear(qa, h, &L->q_a, n, e)) != OCR_OK) return rc;
        ocr_rmsnorm(qa, qa, L->q_a_norm, n, c->q_lora_rank, LM_LATENT_NORM_EPS);
        rc = linear(q, qa, &L->q_b, n, e);
    } else {
        rc = linear(q, h, &L->q, n, e);
    }
    if (rc != OCR_OK) return rc;

    /* [c_raw | k_pe] = kv_a_proj_with_mqa(h); c = kv_a_layernorm(c_raw) */
    float *kva = scratch(st, (size_t)n * (size_t)(r + dr));
    float *tmp = scratch(st, (size_t)dr + 1);
    if (!kva || !tmp) return no_scratch(e, "lm_attn_forward");
    if ((rc = linear(kva, h, &L->kv_a, n, e)) != OCR_OK) return rc;
    for (int i = 0; i < n; i++) {
        const float *row = kva + (size_t)i * (size_t)(r + dr);
        ocr_rmsnorm(C + (size_t)(pos0 + i) * (size_t)r, row, L->kv_a_norm, 1, r,
                    LM_LATENT_NORM_EPS);
        if (dr) deinterleave(KPE + (size_t)(pos0 + i) * (size_t)dr, row + r, dr, tmp);
    }
    ocr_arena_reset(&st->scratch, mark);
    return OCR_OK;
}

/* DeepseekV2Attention.forward (absorbed):
 *   q_lat[h] = q_nope[h]·W_UK[h]          (dn -> r)
 *   s[h]     = (q_pe[h]·k_peᵀ + q_lat[h]·cᵀ)·softmax_scale, causal softmax
 *   o[h]     = (s[h]·c)·W_UV[h]ᵀ          (r -> dv)
 *   out      = o_proj(concat_h o[h])                                       */
static ocr_status attn_mla(lm_state *st, int l, float *out, const float *h, int n, ocr_err *e)
{
    const lm_model *m = st->m;
    const ocr_lm_config *c = &m->cfg;
    const lm_layer *L = &m->layers[l];
    const int H = m->n_heads, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim;
    const int dv = c->v_head_dim, r = c->kv_lora_rank, qhd = dn + dr, qw = H * qhd;
    const int pos0 = st->n_past, T = pos0 + n;
    const float *C = lm_state_cache_k(st, l);
    float *KPE = lm_state_cache_v(st, l);
    ocr_status rc;

    float *q = scratch(st, (size_t)n * (size_t)qw);
    if (!q) return no_scratch(e, "lm_attn_forward");
    if ((rc = mla_project(st, L, q, h, n, e)) != OCR_OK) return rc;

    if (dr) {
        float *cs = scratch(st, (size_t)n * (size_t)(dr / 2));
        float *sn = scratch(st, (size_t)n * (size_t)(dr / 2));
        float *tmp = scratch(st, (size_t)dr);
        if (!cs || !sn || !tmp) return no_scratch(e, "lm_attn_forward");
        for (int i = 0; i < n; i++)
            for (int hh = 0; hh < H; hh++) {
                float *pe = q + (size_t)i * (size_t)qw + (size_t)hh * (size_t)qhd + dn;
                deinterleave(pe, pe, dr, tmp);
            }
        rope_rows(st, cs, sn, n, pos0);
        ocr_rope_neox(q + dn, n, H, qhd, dr, cs, sn);
        ocr_rope_neox(KPE + (size_t)pos0 * (size_t)dr, n, 1, dr, dr, cs, sn);
    }

    const float *kvb = kvb_f32(st, L, e, &rc);
    if (!kvb) return rc;
    float *qlat = scratch(st, (size_t)n * (size_t)H * (size_t)r);
    float *s = scratch(st, (size_t)n * (size_t)T);
    float *olat = scratch(st, (size_t)n * (size_t)r);
    float *o = scratch(st, (size_t)n * (size_t)H * (size_t)dv);
    if (!qlat || !s || !olat || !o) return no_scratch(e, "lm_attn_forward");

    for (int hh = 0; hh < H; hh++) {
        const float *wuk = kvb + (size_t)hh * (size_t)(dn + dv) * (size_t)r;
        const float *wuv = wuk + (size_t)dn * (size_t)r;
        float *ql = qlat + (size_t)hh * (size_t)r;
        if (dn)
            ocr_sgemm(false, false, n, r, dn, 1.0f, q + (size_t)hh * (size_t)qhd, qw, wuk, r,
                      0.0f, ql, H * r);
        if (dr)
            ocr_sgemm(false, true, n, T, dr, m->softmax_scale,
                      q + (size_t)hh * (size_t)qhd + dn, qw, KPE, dr, 0.0f, s, T);
        if (dn)
            ocr_sgemm(false, true, n, T, r, m->softmax_scale, ql, H * r, C, r,
                      dr ? 1.0f : 0.0f, s, T);
        causal_softmax(s, n, T, pos0);
        ocr_sgemm(false, false, n, r, T, 1.0f, s, T, C, r, 0.0f, olat, r);
        ocr_sgemm(false, true, n, dv, r, 1.0f, olat, r, wuv, r, 0.0f,
                  o + (size_t)hh * (size_t)dv, H * dv);
    }
    return linear(out, o, &L->o, n, e);
}

ocr_status lm_attn_forward(lm_state *st, int l, float *out, const float *h, int n, ocr_err *e)
{
    if (n <= 0) return OCR_OK;
    if (st->n_past + n > st->max_pos)
        return ocr_err_set(e, OCR_E_LIMIT, "lm_attn_forward: %d + %d positions exceed the "
                           "cache of %d", st->n_past, n, st->max_pos);
    size_t mark = ocr_arena_mark(&st->scratch);
    ocr_status rc = st->m->cfg.use_mla ? attn_mla(st, l, out, h, n, e)
                                       : attn_mha(st, l, out, h, n, e);
    ocr_arena_reset(&st->scratch, mark);
    return rc;
}

/* ------------------------------------------------------------ oracles */

static float *ref_alloc(size_t n)
{
    return calloc(n ? n : 1, sizeof(float));
}

static ocr_status ref_linear(float *y, const float *x, const lm_linear *lin, int n, ocr_err *e)
{
    return ocr_matmul_ref(y, x, lin->w, lin->b, n, e);
}

/* cos/sin for one position, by the definition. */
static void ref_rope_row(const lm_model *m, float *cs, float *sn, int pos)
{
    ocr_rope_table(cs, sn, &pos, 1, m->inv_freq, m->rope_dim / 2, m->rope_mscale);
}

ocr_status lm_attn_mha_ref(lm_state *st, int l, float *out, const float *h, int n, ocr_err *e)
{
    const lm_model *m = st->m;
    const lm_layer *L = &m->layers[l];
    const int H = m->n_heads, KV = m->n_kv_heads, hd = m->head_dim;
    const int kvw = KV * hd, qw = H * hd, pos0 = st->n_past, T = pos0 + n;
    if (m->cfg.use_mla) return ocr_err_set(e, OCR_E_ARG, "lm_attn_mha_ref: model uses MLA");
    if (T > st->max_pos) return ocr_err_set(e, OCR_E_LIMIT, "lm_attn_mha_ref: cache full");
    float *K = lm_state_cache_k(st, l), *V = lm_state_cache_v(st, l);
    float *q = ref_alloc((size_t)n * (size_t)qw), *o = ref_alloc((size_t)n * (size_t)qw);
    float *p = ref_alloc((size_t)T), *cs = ref_alloc((size_t)hd), *sn = ref_alloc((size_t)hd);
    ocr_status rc = OCR_E_NOMEM;
    if (!q || !o || !p || !cs || !sn) goto done;
    if ((rc = ref_linear(q, h, &L->q, n, e)) != OCR_OK) goto done;
    if ((rc = ref_linear(K + (size_t)pos0 * (size_t)kvw, h, &L->k, n, e)) != OCR_OK) goto done;
    if ((rc = ref_linear(V + (size_t)pos0 * (size_t)kvw, h, &L->v, n, e)) != OCR_OK) goto done;
    for (int i = 0; i < n; i++) {
        ref_rope_row(m, cs, sn, pos0 + i);
        ocr_rope_neox_ref(q + (size_t)i * (size_t)qw, 1, H, hd, hd, cs, sn);
        ocr_rope_neox_ref(K + (size_t)(pos0 + i) * (size_t)kvw, 1, KV, hd, hd, cs, sn);
    }
    for (int i = 0; i < n; i++)
        for (int hh = 0; hh < H; hh++) {
            const float *qi = q + (size_t)i * (size_t)qw + (size_t)hh * (size_t)hd;
            int g = hh / (H / KV), len = pos0 + i + 1;
            for (int j = 0; j < len; j++) {
                const float *kj = K + (size_t)j * (size_t)kvw + (size_t)g * (size_t)hd;
                float d = 0.0f;
                for (int t = 0; t < hd; t++) d += qi[t] * kj[t];
                p[j] = d / sqrtf((float)hd);
            }
            ocr_softmax_ref(p, 1, len);
            float *oi = o + (size_t)i * (size_t)qw + (size_t)hh * (size_t)hd;
            for (int t = 0; t < hd; t++) {
                float acc = 0.0f;
                for (int j = 0; j < len; j++)
                    acc += p[j] * V[(size_t)j * (size_t)kvw + (size_t)g * (size_t)hd + (size_t)t];
                oi[t] = acc;
            }
        }
    rc = ref_linear(out, o, &L->o, n, e);
done:
    if (rc == OCR_E_NOMEM) ocr_err_set(e, rc, "lm_attn_mha_ref: out of memory");
    free(q);
    free(o);
    free(p);
    free(cs);
    free(sn);
    return rc;
}

/* DeepSeek-V3 inference/model.py MLA.forward, attn_impl == "naive":
 *   k = [c·W_UKᵀ | k_pe], v = c·W_UVᵀ per head, RoPE on consecutive pairs
 *   (apply_rotary_emb with complex numbers), scores·softmax_scale. The
 * rotated k_pe is stored in the cache in HF's de-interleaved order so that
 * both forms share one cache layout. */
ocr_status lm_attn_mla_ref(lm_state *st, int l, float *out, const float *h, int n, ocr_err *e)
{
    const lm_model *m = st->m;
    const ocr_lm_config *c = &m->cfg;
    const lm_layer *L = &m->layers[l];
    const int H = m->n_heads, dn = c->qk_nope_head_dim, dr = c->qk_rope_head_dim;
    const int dv = c->v_head_dim, r = c->kv_lora_rank, qhd = dn + dr, qw = H * qhd;
    const int pos0 = st->n_past, T = pos0 + n;
    if (!c->use_mla) return ocr_err_set(e, OCR_E_ARG, "lm_attn_mla_ref: model uses MHA");
    if (T > st->max_pos) return ocr_err_set(e, OCR_E_LIMIT, "lm_attn_mla_ref: cache full");
    float *C = lm_state_cache_k(st, l), *KPE = lm_state_cache_v(st, l);
    const int kvbw = H * (dn + dv);
    float *q = ref_alloc((size_t)n * (size_t)qw), *qa = NULL;
    float *kva = ref_alloc((size_t)n * (size_t)(r + dr));
    float *wkvb = ref_alloc((size_t)kvbw * (size_t)r);
    float *knope = ref_alloc((size_t)T * (size_t)H * (size_t)dn);
    float *vv = ref_alloc((size_t)T * (size_t)H * (size_t)dv);
    float *o = ref_alloc((size_t)n * (size_t)H * (size_t)dv);
    float *p = ref_alloc((size_t)T), *tmp = ref_alloc((size_t)dr + 1);
    float *cs = ref_alloc((size_t)dr / 2 + 1), *sn = ref_alloc((size_t)dr / 2 + 1);
    ocr_status rc = OCR_E_NOMEM;
    if (!q || !kva || !wkvb || !knope || !vv || !o || !p || !tmp || !cs || !sn) goto done;

    if (c->q_lora_rank > 0) {
        qa = ref_alloc((size_t)n * (size_t)c->q_lora_rank);
        if (!qa) goto done;
        if ((rc = ref_linear(qa, h, &L->q_a, n, e)) != OCR_OK) goto done;
        ocr_rmsnorm_ref(qa, qa, L->q_a_norm, n, c->q_lora_rank, LM_LATENT_NORM_EPS);
        rc = ref_linear(q, qa, &L->q_b, n, e);
    } else {
        rc = ref_linear(q, h, &L->q, n, e);
    }
    if (rc != OCR_OK) goto done;
    if ((rc = ref_linear(kva, h, &L->kv_a, n, e)) != OCR_OK) goto done;
    for (int i = 0; i < n; i++) {
        float *row = kva + (size_t)i * (size_t)(r + dr);
        ocr_rmsnorm_ref(C + (size_t)(pos0 + i) * (size_t)r, row, L->kv_a_norm, 1, r,
                        LM_LATENT_NORM_EPS);
        if (!dr) continue;
        ref_rope_row(m, cs, sn, pos0 + i);
        ocr_rope_interleaved_ref(row + r, 1, 1, dr, dr, cs, sn);
        deinterleave(KPE + (size_t)(pos0 + i) * (size_t)dr, row + r, dr, tmp);
        for (int hh = 0; hh < H; hh++) {
            float *pe = q + (size_t)i * (size_t)qw + (size_t)hh * (size_t)qhd + dn;
            ocr_rope_interleaved_ref(pe, 1, 1, dr, dr, cs, sn);
            deinterleave(pe, pe, dr, tmp);
        }
    }
    if ((rc = ocr_tensor_to_f32(wkvb, L->kv_b.w, e)) != OCR_OK) goto done;
    /* kv = wkv_b(kv_norm(kv)) for every cached token. */
    for (int j = 0; j < T; j++)
        for (int hh = 0; hh < H; hh++)
            for (int t = 0; t < dn + dv; t++) {
                const float *w = wkvb + ((size_t)hh * (size_t)(dn + dv) + (size_t)t) * (size_t)r;
                const float *cj = C + (size_t)j * (size_t)r;
                float acc = 0.0f;
                for (int u = 0; u < r; u++) acc += w[u] * cj[u];
                if (t < dn)
                    knope[((size_t)j * (size_t)H + (size_t)hh) * (size_t)dn + (size_t)t] = acc;
                else
                    vv[((size_t)j * (size_t)H + (size_t)hh) * (size_t)dv + (size_t)(t - dn)] = acc;
            }
    for (int i = 0; i < n; i++)
        for (int hh = 0; hh < H; hh++) {
            const float *qi = q + (size_t)i * (size_t)qw + (size_t)hh * (size_t)qhd;
            int len = pos0 + i + 1;
            for (int j = 0; j < len; j++) {
                const float *kn = knope + ((size_t)j * (size_t)H + (size_t)hh) * (size_t)dn;
                const float *kp = KPE + (size_t)j * (size_t)dr;
                float d = 0.0f;
                for (int t = 0; t < dn; t++) d += qi[t] * kn[t];
                for (int t = 0; t < dr; t++) d += qi[dn + t] * kp[t];
                p[j] = d * m->softmax_scale;
            }
            ocr_softmax_ref(p, 1, len);
            float *oi = o + ((size_t)i * (size_t)H + (size_t)hh) * (size_t)dv;
            for (int t = 0; t < dv; t++) {
                float acc = 0.0f;
                for (int j = 0; j < len; j++)
                    acc += p[j] * vv[((size_t)j * (size_t)H + (size_t)hh) * (size_t)dv + (size_t)t];
                oi[t] = acc;
            }
        }
    rc = ref_linear(out, o, &L->o, n, e);
done:
    if (rc == OCR_E_NOMEM) ocr_err_set(e, rc, "lm_attn_mla_ref: out of memory");
    free(q);
    free(qa);
    free(kva);
    free(wkvb);
    free(knope);
    free(vv);
    free(o);
    free(p);
    free(tmp);
    free(cs);
    free(sn);
    return rc;
}

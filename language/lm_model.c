/* language/lm_model.c — the decoder's weights: config checks, RoPE set-up,
 * and the one walk over every tensor a DeepSeek-V2/V3 config implies
 * (modeling_deepseekv2.py's module tree), run against a checkpoint or
 * against an in-memory random weight set.
 *
 * The walk runs twice: a sizing pass that looks every tensor up (or counts
 * the bytes a random one needs) and a filling pass that stores the views.
 * That way every owned buffer is allocated once at its final size, and a
 * random model goes through exactly the code path a loaded one does.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"

/* ------------------------------------------------------------- config */

/* DeepseekV2DecoderLayer: MoE when routed experts exist, past the dense
 * prefix, and on the MoE frequency. */
static bool layer_is_moe(const ocr_lm_config *c, int l)
{
    return c->n_routed_experts > 0 && l >= c->first_k_dense_replace &&
           l % (c->moe_layer_freq > 0 ? c->moe_layer_freq : 1) == 0;
}

static bool any_moe(const ocr_lm_config *c)
{
    for (int l = 0; l < c->num_hidden_layers; l++)
        if (layer_is_moe(c, l)) return true;
    return false;
}

#define CFG_BAD(...) return ocr_err_set(e, OCR_E_CONFIG, "lm config: " __VA_ARGS__)

ocr_status lm_config_check(const ocr_lm_config *c, ocr_err *e)
{
    if (c->hidden_size <= 0 || c->vocab_size <= 0 || c->num_hidden_layers <= 0 ||
        c->num_attention_heads <= 0)
        CFG_BAD("hidden_size %d, vocab_size %d, num_hidden_layers %d, "
                "num_attention_heads %d must all be positive",
                c->hidden_size, c->vocab_size, c->num_hidden_layers,
                c->num_attention_heads);
    if (c->hidden_act[0] && strcmp(c->hidden_act, "silu") != 0)
        return ocr_err_set(e, OCR_E_UNSUPPORTED,
                           "lm config: hidden_act '%s' (only silu)", c->hidden_act);
    if (!(c->rms_norm_eps > 0.0f)) CFG_BAD("rms_norm_eps %g must be > 0", (double)c->rms_norm_eps);
    if (!(c->rope_theta > 0.0f)) CFG_BAD("rope_theta %g must be > 0", (double)c->rope_theta);
    if (c->use_mla) {
        if (c->kv_lora_rank <= 0) CFG_BAD("use_mla needs kv_lora_rank > 0, got %d", c->kv_lora_rank);
        if (c->q_lora_rank < 0) CFG_BAD("q_lora_rank %d < 0", c->q_lora_rank);
        if (c->qk_nope_head_dim < 0 || c->qk_rope_head_dim < 0 || c->v_head_dim <= 0 ||
            c->qk_nope_head_dim + c->qk_rope_head_dim <= 0)
            CFG_BAD("qk_nope_head_dim %d, qk_rope_head_dim %d, v_head_dim %d",
                    c->qk_nope_head_dim, c->qk_rope_head_dim, c->v_head_dim);
        if (c->qk_rope_head_dim % 2)
            CFG_BAD("qk_rope_head_dim %d must be even", c->qk_rope_head_dim);
    } else {
        if (c->hidden_size % c->num_attention_heads)
            CFG_BAD("hidden_size %d is not a multiple of num_attention_heads %d",
                    c->hidden_size, c->num_attention_heads);
        if ((c->hidden_size / c->num_attention_heads) % 2)
            CFG_BAD("head_dim %d must be even for RoPE", c->hidden_size / c->num_attention_heads);
        if (c->num_key_value_heads < 0 ||
            (c->num_key_value_heads && c->num_attention_heads % c->num_key_value_heads))
            CFG_BAD("num_key_value_heads %d must divide num_attention_heads %d",
                    c->num_key_value_heads, c->num_attention_heads);
    }
    if (c->rope_scaling.enabled) {
        const char *t = c->rope_scaling.type;
        if (strcmp(t, "linear") != 0 && strcmp(t, "yarn") != 0)
            return ocr_err_set(e, OCR_E_UNSUPPORTED,
                               "lm config: rope_scaling type '%s' (linear, yarn)", t);
        if (!c->use_mla && strcmp(t, "yarn") == 0)
            /* LlamaAttention's YaRN differs from DeepSeek's and changed
             * between transformers releases; refuse rather than guess. */
            return ocr_err_set(e, OCR_E_UNSUPPORTED,
                               "lm config: rope_scaling 'yarn' with use_mla=false");
        if (!(c->rope_scaling.factor > 0.0f))
            CFG_BAD("rope_scaling.factor %g must be > 0", (double)c->rope_scaling.factor);
    }
    if (any_moe(c)) {
        int E = c->n_routed_experts, k = c->num_experts_per_tok;
        if (c->moe_intermediate_size <= 0)
            CFG_BAD("moe_intermediate_size %d must be > 0", c->moe_intermediate_size);
        if (k <= 0 || k > E)
            CFG_BAD("num_experts_per_tok %d must be in 1..n_routed_experts %d", k, E);
        if (c->n_shared_experts < 0) CFG_BAD("n_shared_experts %d < 0", c->n_shared_experts);
        bool greedy = strcmp(c->topk_method, "greedy") == 0;
        bool glg = strcmp(c->topk_method, "group_limited_greedy") == 0;
        bool noaux = strcmp(c->topk_method, "noaux_tc") == 0;
        if (!greedy && !glg && !noaux)
            return ocr_err_set(e, OCR_E_UNSUPPORTED,
                               "lm config: topk_method '%s' (greedy, "
                               "group_limited_greedy, noaux_tc)", c->topk_method);
        if (strcmp(c->scoring_func, "softmax") != 0 && strcmp(c->scoring_func, "sigmoid") != 0)
            return ocr_err_set(e, OCR_E_UNSUPPORTED,
                               "lm config: scoring_func '%s' (softmax, sigmoid)",
                               c->scoring_func);
        if (glg || noaux) {
            int g = c->n_group, tg = c->topk_group;
            if (g <= 0 || E % g) CFG_BAD("n_group %d must divide n_routed_experts %d", g, E);
            if (tg <= 0 || tg > g) CFG_BAD("topk_group %d must be in 1..n_group %d", tg, g);
            if (noaux && E / g < 2)
                CFG_BAD("noaux_tc needs >= 2 experts per group, got %d", E / g);
            if (k > tg * (E / g))
                CFG_BAD("num_experts_per_tok %d exceeds the %d experts of "
                        "topk_group %d groups", k, tg * (E / g), tg);
        }
    }
    for (int l = 0; l < c->num_hidden_layers; l++)
        if (!layer_is_moe(c, l) && c->intermediate_size <= 0)
            CFG_BAD("intermediate_size %d must be > 0 (layer %d is dense)",
                    c->intermediate_size, l);
    return OCR_OK;
}

size_t lm_kv_bytes_per_token(const ocr_lm_config *c)
{
    size_t per_layer;
    if (c->use_mla)
        per_layer = (size_t)c->kv_lora_rank + (size_t)c->qk_rope_head_dim;
    else
        per_layer = 2 * (size_t)(c->num_key_value_heads > 0 ? c->num_key_value_heads
                                                          : c->num_attention_heads) *
                    (size_t)(c->hidden_size / c->num_attention_heads);
    return per_layer * sizeof(float) * (size_t)c->num_hidden_layers;
}

/* ------------------------------------------------------------------ RoPE */

/* yarn_get_mscale (modeling_deepseekv2.py). */
static double yarn_get_mscale(double scale, double mscale)
{
    if (scale <= 1.0) return 1.0;
    return 0.1 * mscale * log(scale) + 1.0;
}

/* yarn_find_correction_dim: the dimension whose wavelength completes
 * num_rotations turns over the original context. */
static double yarn_correction_dim(double num_rot, int dim, double base, double max_pos)
{
    return (dim * log(max_pos / (num_rot * 2.0 * M_PI))) / (2.0 * log(base));
}

ocr_status lm_rope_init(float *inv_freq, float *mscale, float *softmax_scale,
                        const ocr_lm_config *c, ocr_err *e)
{
    int dim = c->use_mla ? c->qk_rope_head_dim : c->hidden_size / c->num_attention_heads;
    int half = dim / 2;
    float base = c->rope_theta;
    /* DeepseekV2RotaryEmbedding / LlamaRotaryEmbedding: the exponent and the
     * power are float32 tensor ops in the reference. */
    for (int i = 0; i < half; i++)
        inv_freq[i] = 1.0f / powf(base, (float)(2 * i) / (float)dim);
    *mscale = 1.0f;
    if (c->use_mla) {
        /* DeepseekV2Attention.__init__ */
        double s = pow((double)(c->qk_nope_head_dim + c->qk_rope_head_dim), -0.5);
        if (c->rope_scaling.enabled && c->rope_scaling.mscale_all_dim != 0.0f) {
            double m = yarn_get_mscale(c->rope_scaling.factor, c->rope_scaling.mscale_all_dim);
            s = s * m * m;
        }
        *softmax_scale = (float)s;
    } else {
        *softmax_scale = (float)(1.0 / sqrt((double)dim));
    }
    if (!c->rope_scaling.enabled) return OCR_OK;
    float factor = c->rope_scaling.factor;
    if (strcmp(c->rope_scaling.type, "linear") == 0) {
        /* Linear scaling divides the positions by the factor. */
        for (int i = 0; i < half; i++) inv_freq[i] /= factor;
        return OCR_OK;
    }
    if (strcmp(c->rope_scaling.type, "yarn") != 0)
        return ocr_err_set(e, OCR_E_UNSUPPORTED, "lm_rope_init: rope_scaling '%s'",
                           c->rope_scaling.type);
    /* DeepseekV2YarnRotaryEmbedding._set_cos_sin_cache: blend the
     * interpolated and extrapolated frequencies with a linear ramp between
     * the correction dims of beta_fast and beta_slow. */
    double omax = c->rope_scaling.original_max_position_embeddings;
    double low = floor(yarn_correction_dim(c->rope_scaling.beta_fast, dim, base, omax));
    double high = ceil(yarn_correction_dim(c->rope_scaling.beta_slow, dim, base, omax));
    if (low < 0) low = 0;
    if (high > dim - 1) high = dim - 1;
    if (low == high) high += 0.001;
    for (int i = 0; i < half; i++) {
        float p = powf(base, (float)(2 * i) / (float)dim);
        float extra = 1.0f / p;
        float inter = 1.0f / (factor * p);
        float ramp = (float)(((double)i - low) / (high - low));
        ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
        float mask = 1.0f - ramp;
        inv_freq[i] = inter * (1.0f - mask) + extra * mask;
    }
    *mscale = (float)(yarn_get_mscale(factor, c->rope_scaling.mscale) /
                      yarn_get_mscale(factor, c->rope_scaling.mscale_all_dim));
    return OCR_OK;
}

/* ------------------------------------------------------- weight sources */

/* Where the walk gets its tensors: a checkpoint, or a random weight set
 * built in memory. */
typedef struct {
    const ocr_st *st; /* NULL in random mode */
    const char *prefix;
    bool sizing;
    /* random mode */
    ocr_dtype dt;
    size_t bytes, n_tensors, names_len; /* totals found by the sizing pass */
    uint8_t *block;
    ocr_tensor *tens;
    char *names;
    size_t b_used, t_used, n_used;
    uint8_t *kind; /* per tensor: K_MATRIX, K_GAIN or K_BIAS (how to fill it) */
    /* vectors */
    size_t vec_floats;
} wsrc;

enum { K_MATRIX, K_GAIN, K_BIAS };

static bool float_dtype(ocr_dtype dt)
{
    return dt == OCR_DT_F32 || dt == OCR_DT_BF16 || dt == OCR_DT_F16 ||
           dt == OCR_DT_F8_E4M3;
}

/* snprintf into a fixed name buffer. */
static const char *nm(char *buf, size_t cap, const char *fmt, ...) OCR_PRINTF(3, 4);
static const char *nm(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return buf;
}

/* Look up (or create) one tensor of the given shape; `name` lacks the
 * checkpoint's prefix. */
static ocr_status w_tensor(wsrc *s, const ocr_tensor **out, int kind, int ndim,
                           int64_t d0, int64_t d1, const char *base, ocr_err *e)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", s->prefix, base);
    int64_t shape[2] = {d0, d1};
    *out = NULL;
    if (s->st) {
        const ocr_tensor *t = NULL;
        ocr_status rc = ocr_st_get(s->st, name, ndim, shape, &t, e);
        if (rc != OCR_OK) return rc;
        if (!float_dtype(t->dtype))
            return ocr_err_set(e, OCR_E_DTYPE,
                               "%s: tensor '%s' has dtype %s, expected F32, "
                               "BF16, F16 or F8_E4M3",
                               ocr_st_file_of(s->st, t), name, ocr_dtype_name(t->dtype));
        *out = t;
        return OCR_OK;
    }
    /* Random mode: vectors are always F32 so they need no widening. */
    ocr_dtype dt = ndim == 1 ? OCR_DT_F32 : s->dt;
    size_t numel = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    size_t nb = (numel * ocr_dtype_size(dt) + OCR_ALIGN - 1) & ~(size_t)(OCR_ALIGN - 1);
    size_t nl = strlen(name) + 1;
    if (s->sizing) {
        s->bytes += nb;
        s->n_tensors++;
        s->names_len += nl;
        return OCR_OK;
    }
    ocr_tensor *t = &s->tens[s->t_used];
    s->kind[s->t_used] = (uint8_t)kind;
    s->t_used++;
    memcpy(s->names + s->n_used, name, nl);
    memset(t, 0, sizeof *t);
    t->name = s->names + s->n_used;
    s->n_used += nl;
    t->dtype = dt;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 0;
    t->data = s->block + s->b_used;
    t->nbytes = numel * ocr_dtype_size(dt);
    s->b_used += nb;
    *out = t;
    return OCR_OK;
}

/* A 1-D vector as float: the tensor's own memory when it is aligned F32,
 * otherwise a widened copy in the model's vector pool. */
static ocr_status w_vec(wsrc *s, lm_model *m, const float **out, int kind,
                        int64_t len, const char *name, ocr_err *e)
{
    const ocr_tensor *t;
    ocr_status rc = w_tensor(s, &t, kind, 1, len, 0, name, e);
    *out = NULL;
    if (rc != OCR_OK) return rc;
    bool direct = t && t->dtype == OCR_DT_F32 && ((uintptr_t)t->data % sizeof(float)) == 0;
    if (s->sizing) {
        if (s->st && !direct) s->vec_floats += (size_t)len + OCR_ALIGN / sizeof(float);
        return OCR_OK;
    }
    if (direct) {
        *out = (const float *)t->data;
        return OCR_OK;
    }
    float *dst = m->vec_pool + m->vec_used;
    m->vec_used += (size_t)len + OCR_ALIGN / sizeof(float);
    rc = ocr_tensor_to_f32(dst, t, e);
    *out = dst;
    return rc;
}

static ocr_status load_linear(wsrc *s, lm_model *m, lm_linear *lin, int l,
                              const char *what, int64_t out, int64_t in,
                              bool bias, ocr_err *e)
{
    char b[192];
    ocr_status rc = w_tensor(s, &lin->w, K_MATRIX, 2, out, in,
                             nm(b, sizeof b, "model.layers.%d.%s.weight", l, what), e);
    if (rc != OCR_OK || !bias) return rc;
    return w_vec(s, m, &lin->b, K_BIAS, out, nm(b, sizeof b, "model.layers.%d.%s.bias", l, what), e);
}

static ocr_status load_mlp(wsrc *s, lm_model *m, lm_mlp *mlp, int l,
                           const char *base, int64_t inter, ocr_err *e)
{
    char b[128];
    int64_t D = m->dim;
    ocr_status rc;
    mlp->inter = (int)inter;
    if ((rc = load_linear(s, m, &mlp->gate, l, nm(b, sizeof b, "%s.gate_proj", base), inter, D,
                          false, e)) != OCR_OK)
        return rc;
    if ((rc = load_linear(s, m, &mlp->up, l, nm(b, sizeof b, "%s.up_proj", base), inter, D,
                          false, e)) != OCR_OK)
        return rc;
    return load_linear(s, m, &mlp->down, l, nm(b, sizeof b, "%s.down_proj", base), D, inter,
                       false, e);
}

/* One pass over every decoder tensor, in the order of the module tree. */
static ocr_status walk(wsrc *s, lm_model *m, ocr_err *e)
{
    const ocr_lm_config *c = &m->cfg;
    const int64_t D = m->dim, H = m->n_heads;
    const bool ab = c->attention_bias;
    ocr_status rc;
    size_t n_exp = 0;
    char b[192];

#define TRY(x) do { if ((rc = (x)) != OCR_OK) return rc; } while (0)
#define LNAME(suffix) nm(b, sizeof b, "model.layers.%d.%s", l, suffix)
    TRY(w_tensor(s, &m->embed, K_MATRIX, 2, m->vocab, D, "model.embed_tokens.weight", e));
    for (int l = 0; l < m->n_layers; l++) {
        lm_layer *L = &m->layers[l];
        TRY(w_vec(s, m, &L->attn_norm, K_GAIN, D, LNAME("input_layernorm.weight"), e));
        TRY(w_vec(s, m, &L->mlp_norm, K_GAIN, D, LNAME("post_attention_layernorm.weight"), e));
        if (c->use_mla) {
            int64_t qk = m->qk_head_dim, r = c->kv_lora_rank, dr = c->qk_rope_head_dim;
            if (c->q_lora_rank > 0) {
                TRY(load_linear(s, m, &L->q_a, l, "self_attn.q_a_proj", c->q_lora_rank, D, ab, e));
                TRY(w_vec(s, m, &L->q_a_norm, K_GAIN, c->q_lora_rank,
                          LNAME("self_attn.q_a_layernorm.weight"), e));
                TRY(load_linear(s, m, &L->q_b, l, "self_attn.q_b_proj", H * qk, c->q_lora_rank,
                                false, e));
            } else {
                /* DeepseekV2Attention: q_proj has no bias even with
                 * attention_bias; q_a_proj, kv_a_proj_with_mqa and o_proj do. */
                TRY(load_linear(s, m, &L->q, l, "self_attn.q_proj", H * qk, D, false, e));
            }
            TRY(load_linear(s, m, &L->kv_a, l, "self_attn.kv_a_proj_with_mqa", r + dr, D, ab, e));
            TRY(w_vec(s, m, &L->kv_a_norm, K_GAIN, r, LNAME("self_attn.kv_a_layernorm.weight"), e));
            TRY(load_linear(s, m, &L->kv_b, l, "self_attn.kv_b_proj",
                            H * (c->qk_nope_head_dim + c->v_head_dim), r, false, e));
            TRY(load_linear(s, m, &L->o, l, "self_attn.o_proj", D, H * c->v_head_dim, ab, e));
        } else {
            int64_t hd = m->head_dim, KV = m->n_kv_heads;
            TRY(load_linear(s, m, &L->q, l, "self_attn.q_proj", H * hd, D, ab, e));
            TRY(load_linear(s, m, &L->k, l, "self_attn.k_proj", KV * hd, D, ab, e));
            TRY(load_linear(s, m, &L->v, l, "self_attn.v_proj", KV * hd, D, ab, e));
            TRY(load_linear(s, m, &L->o, l, "self_attn.o_proj", D, H * hd, ab, e));
        }
        L->moe = layer_is_moe(c, l);
        if (!L->moe) {
            TRY(load_mlp(s, m, &L->dense, l, "mlp", c->intermediate_size, e));
            continue;
        }
        int64_t E = c->n_routed_experts;
        TRY(w_tensor(s, &L->router, K_MATRIX, 2, E, D, LNAME("mlp.gate.weight"), e));
        if (m->router.method == LM_TOPK_NOAUX_TC)
            TRY(w_vec(s, m, &L->router_bias, K_BIAS, E,
                      LNAME("mlp.gate.e_score_correction_bias"), e));
        lm_mlp *ex = s->sizing ? NULL : m->experts + n_exp;
        L->experts = ex;
        for (int64_t x = 0; x < E; x++) {
            char base[64];
            lm_mlp tmp;
            snprintf(base, sizeof base, "mlp.experts.%lld", (long long)x);
            TRY(load_mlp(s, m, ex ? &ex[x] : &tmp, l, base, c->moe_intermediate_size, e));
        }
        n_exp += (size_t)E;
        if (c->n_shared_experts > 0)
            TRY(load_mlp(s, m, &L->shared, l, "mlp.shared_experts",
                         (int64_t)c->moe_intermediate_size * c->n_shared_experts, e));
    }
    TRY(w_vec(s, m, &m->final_norm, K_GAIN, D, "model.norm.weight", e));
    if (c->tie_word_embeddings)
        m->lm_head = m->embed;
    else
        TRY(w_tensor(s, &m->lm_head, K_MATRIX, 2, m->vocab, D, "lm_head.weight", e));
#undef LNAME
#undef TRY
    return OCR_OK;
}

/* ------------------------------------------------------------ assembly */

static ocr_status model_init(lm_model *m, const ocr_lm_config *c, ocr_err *e)
{
    ocr_status rc = lm_config_check(c, e);
    if (rc != OCR_OK) return rc;
    m->cfg = *c;
    m->n_layers = c->num_hidden_layers;
    m->dim = c->hidden_size;
    m->vocab = c->vocab_size;
    m->n_heads = c->num_attention_heads;
    if (c->use_mla) {
        m->n_kv_heads = m->n_heads;
        m->head_dim = 0;
        m->qk_head_dim = c->qk_nope_head_dim + c->qk_rope_head_dim;
        m->q_width = m->n_heads * m->qk_head_dim;
        m->v_width = m->n_heads * c->v_head_dim;
        m->rope_dim = c->qk_rope_head_dim;
    } else {
        /* 0 = as many as query heads (the config class default) */
        m->n_kv_heads = c->num_key_value_heads > 0 ? c->num_key_value_heads : m->n_heads;
        m->head_dim = c->hidden_size / c->num_attention_heads;
        m->qk_head_dim = m->head_dim;
        m->q_width = m->n_heads * m->head_dim;
        m->v_width = m->q_width;
        m->rope_dim = m->head_dim;
    }
    lm_router_params *rp = &m->router;
    rp->n_experts = c->n_routed_experts;
    rp->top_k = c->num_experts_per_tok;
    rp->n_group = c->n_group > 0 ? c->n_group : 1;
    rp->topk_group = c->topk_group > 0 ? c->topk_group : 1;
    rp->method = strcmp(c->topk_method, "noaux_tc") == 0 ? LM_TOPK_NOAUX_TC
                 : strcmp(c->topk_method, "group_limited_greedy") == 0 ? LM_TOPK_GROUP_LIMITED
                                                                     : LM_TOPK_GREEDY;
    rp->scoring = strcmp(c->scoring_func, "sigmoid") == 0 ? LM_SCORE_SIGMOID : LM_SCORE_SOFTMAX;
    rp->norm_topk_prob = c->norm_topk_prob;
    rp->routed_scaling_factor = c->routed_scaling_factor;

    m->inv_freq = calloc((size_t)(m->rope_dim / 2 + 1), sizeof(float));
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    size_t n_moe = 0;
    for (int l = 0; l < m->n_layers; l++) n_moe += layer_is_moe(c, l);
    if (n_moe) m->experts = calloc(n_moe * (size_t)c->n_routed_experts, sizeof *m->experts);
    if (!m->inv_freq || !m->layers || (n_moe && !m->experts))
        return ocr_err_set(e, OCR_E_NOMEM, "lm_model: out of memory");
    return lm_rope_init(m->inv_freq, &m->rope_mscale, &m->softmax_scale, c, e);
}

static ocr_status model_build(lm_model *m, wsrc *s, ocr_err *e)
{
    s->sizing = true;
    ocr_status rc = walk(s, m, e);
    if (rc != OCR_OK) return rc;
    if (s->vec_floats) {
        m->vec_cap = s->vec_floats;
        m->vec_pool = ocr_aligned_alloc(m->vec_cap * sizeof(float));
        if (!m->vec_pool) return ocr_err_set(e, OCR_E_NOMEM, "lm_model: out of memory");
    }
    if (!s->st) {
        m->rand_block = s->block = ocr_aligned_alloc(s->bytes);
        m->rand_tensors = s->tens = calloc(s->n_tensors, sizeof *s->tens);
        m->rand_n = s->n_tensors;
        m->rand_names = s->names = malloc(s->names_len);
        s->kind = malloc(s->n_tensors);
        if (!s->block || !s->tens || !s->names || !s->kind)
            return ocr_err_set(e, OCR_E_NOMEM,
                               "lm_model_create_random: cannot allocate %zu bytes of weights",
                               s->bytes);
    }
    s->sizing = false;
    return walk(s, m, e);
}

void lm_model_destroy(lm_model **pm)
{
    if (!pm || !*pm) return;
    lm_model *m = *pm;
    free(m->inv_freq);
    free(m->layers);
    free(m->experts);
    free(m->vec_pool);
    free(m->rand_block);
    free(m->rand_tensors);
    free(m->rand_names);
    ocr_st_close(&m->st_owned);
    free(m);
    *pm = NULL;
}

/* HF OCR checkpoints name the decoder model.*; DeepSeek-VL2 nests it as
 * language.model.*. */
static const char *detect_prefix(const ocr_st *st)
{
    if (ocr_st_find(st, "model.embed_tokens.weight")) return "";
    if (ocr_st_find(st, "language.model.embed_tokens.weight")) return "language.";
    return "";
}

ocr_status lm_model_create(lm_model **out, const ocr_lm_config *c,
                           const ocr_st *st, ocr_err *e)
{
    *out = NULL;
    lm_model *m = calloc(1, sizeof *m);
    if (!m) return ocr_err_set(e, OCR_E_NOMEM, "lm_model_create: out of memory");
    ocr_status rc = model_init(m, c, e);
    wsrc s = {.st = st, .prefix = detect_prefix(st)};
    if (rc == OCR_OK && s.prefix[0] == '\0') {
        /* The whole list first, so one message reports every missing or
         * misshaped tensor, not only the first. */
        ocr_spec spec = {0};
        ocr_spec_result res = {0};
        rc = lm_spec_build(&spec, c, e);
        if (rc == OCR_OK) {
            rc = ocr_spec_check(&spec, st, &res, e);
            if (rc != OCR_OK && res.report)
                rc = ocr_err_set(e, rc, "%s: %zu missing, %zu misshaped decoder tensors:\n%s",
                                 ocr_st_path(st), res.n_missing, res.n_misshaped, res.report);
        }
        ocr_spec_result_free(&res);
        ocr_spec_free(&spec);
    }
    if (rc == OCR_OK) rc = model_build(m, &s, e);
    if (rc != OCR_OK) {
        lm_model_destroy(&m);
        return rc;
    }
    *out = m;
    return OCR_OK;
}

ocr_status lm_model_load(lm_model **out, const char *dir, ocr_err *e)
{
    *out = NULL;
    ocr_config cfg;
    ocr_config_default_params(&cfg);
    ocr_status rc = ocr_config_load(&cfg, dir, e);
    if (rc != OCR_OK) return rc;
    ocr_st *st = NULL;
    rc = ocr_st_open(&st, dir, e);
    if (rc != OCR_OK) return rc;
    rc = lm_model_create(out, &cfg.lm, st, e);
    if (rc != OCR_OK) {
        ocr_st_close(&st);
        return rc;
    }
    (*out)->st_owned = st;
    return OCR_OK;
}

/* ------------------------------------------------------- random weights */

typedef struct {
    const wsrc *s;
    uint64_t seed;
    size_t t0, t1;
} fill_job;

/* Uniform with the variance of N(0, 1/fan_in) for matrices, so activations
 * keep their scale through the layers as the official init intends. */
static void fill_tensor(const ocr_tensor *t, int kind, uint64_t seed)
{
    size_t n = (size_t)ocr_tensor_numel(t);
    uint64_t st = seed;
    float amp = kind == K_GAIN ? 0.1f : kind == K_BIAS ? 0.1f
                                                       : sqrtf(3.0f / (float)t->shape[1]);
    float off = kind == K_GAIN ? 1.0f : 0.0f;
    const float inv = 1.0f / 8388608.0f; /* 2^-23 */
    if (t->dtype == OCR_DT_BF16) {
        uint16_t *w = (uint16_t *)(uintptr_t)t->data;
        for (size_t i = 0; i < n; i += 2) {
            uint64_t r = ocr_splitmix64(&st);
            float a = ((float)(uint32_t)(r & 0x7fffff) * inv * 2.0f - 1.0f) * amp + off;
            float b = ((float)(uint32_t)((r >> 32) & 0x7fffff) * inv * 2.0f - 1.0f) * amp + off;
            w[i] = ocr_f32_to_bf16(a);
            if (i + 1 < n) w[i + 1] = ocr_f32_to_bf16(b);
        }
    } else {
        float *w = (float *)(uintptr_t)t->data;
        for (size_t i = 0; i < n; i += 2) {
            uint64_t r = ocr_splitmix64(&st);
            w[i] = ((float)(uint32_t)(r & 0x7fffff) * inv * 2.0f - 1.0f) * amp + off;
            if (i + 1 < n)
                w[i + 1] = ((float)(uint32_t)((r >> 32) & 0x7fffff) * inv * 2.0f - 1.0f) * amp + off;
        }
    }
}

static void *fill_thread(void *arg)
{
    const fill_job *j = arg;
    for (size_t i = j->t0; i < j->t1; i++) {
        uint64_t x = j->seed ^ (0x632be59bd9b4e019ull * (i + 1));
        fill_tensor(&j->s->tens[i], j->s->kind[i], ocr_splitmix64(&x));
    }
    return NULL;
}

ocr_status lm_model_create_random(lm_model **out, const ocr_lm_config *c,
                                  ocr_dtype dt, uint64_t seed, int n_threads,
                                  ocr_err *e)
{
    *out = NULL;
    if (dt != OCR_DT_F32 && dt != OCR_DT_BF16)
        return ocr_err_set(e, OCR_E_ARG, "lm_model_create_random: dtype %s (F32 or BF16)",
                           ocr_dtype_name(dt));
    lm_model *m = calloc(1, sizeof *m);
    if (!m) return ocr_err_set(e, OCR_E_NOMEM, "lm_model_create_random: out of memory");
    wsrc s = {.st = NULL, .prefix = "", .dt = dt};
    ocr_status rc = model_init(m, c, e);
    if (rc == OCR_OK) rc = model_build(m, &s, e);
    if (rc == OCR_OK) {
        /* Tensors are dealt to threads in contiguous runs of equal bytes;
         * each tensor's stream depends only on its index, so the weights
         * do not depend on the thread count. */
        enum { MAXT = 16 };
        int nt = n_threads < 1 ? 1 : n_threads > MAXT ? MAXT : n_threads;
        fill_job jobs[MAXT];
        pthread_t tid[MAXT];
        bool started[MAXT] = {0};
        size_t per = s.bytes / (size_t)nt + 1, acc = 0, t = 0;
        for (int k = 0; k < nt; k++) {
            jobs[k] = (fill_job){&s, seed, t, t};
            while (t < s.n_tensors && (acc < per * (size_t)(k + 1) || k == nt - 1)) {
                acc += s.tens[t].nbytes;
                t++;
            }
            jobs[k].t1 = t;
        }
        for (int k = 1; k < nt; k++)
            started[k] = pthread_create(&tid[k], NULL, fill_thread, &jobs[k]) == 0;
        fill_thread(&jobs[0]);
        for (int k = 1; k < nt; k++) {
            if (started[k])
                pthread_join(tid[k], NULL);
            else
                fill_thread(&jobs[k]);
        }
    }
    free(s.kind);
    if (rc != OCR_OK) {
        lm_model_destroy(&m);
        return rc;
    }
    *out = m;
    return OCR_OK;
}

/* --------------------------------------------------------- byte counts */

static size_t tbytes(const ocr_tensor *t)
{
    return t ? (size_t)ocr_tensor_numel(t) * ocr_dtype_size(t->dtype) : 0;
}

static size_t lin_bytes(const lm_linear *l)
{
    return tbytes(l->w) + (l->b ? (size_t)l->w->shape[0] * sizeof(float) : 0);
}

static size_t mlp_bytes(const lm_mlp *m)
{
    return m->inter ? lin_bytes(&m->gate) + lin_bytes(&m->up) + lin_bytes(&m->down) : 0;
}

size_t lm_decode_weight_bytes(const lm_model *m)
{
    const ocr_lm_config *c = &m->cfg;
    size_t b = (size_t)m->dim * ocr_dtype_size(m->embed->dtype); /* one row */
    for (int l = 0; l < m->n_layers; l++) {
        const lm_layer *L = &m->layers[l];
        b += 2 * (size_t)m->dim * sizeof(float);
        b += lin_bytes(&L->q) + lin_bytes(&L->k) + lin_bytes(&L->v) + lin_bytes(&L->o);
        b += lin_bytes(&L->q_a) + lin_bytes(&L->q_b) + lin_bytes(&L->kv_a) + lin_bytes(&L->kv_b);
        if (L->q_a_norm) b += (size_t)c->q_lora_rank * sizeof(float);
        if (L->kv_a_norm) b += (size_t)c->kv_lora_rank * sizeof(float);
        if (!L->moe) {
            b += mlp_bytes(&L->dense);
            continue;
        }
        b += tbytes(L->router) + (L->router_bias ? (size_t)c->n_routed_experts * sizeof(float) : 0);
        b += mlp_bytes(&L->shared);
        b += (size_t)c->num_experts_per_tok * mlp_bytes(&L->experts[0]);
    }
    b += (size_t)m->dim * sizeof(float) + tbytes(m->lm_head);
    return b;
}

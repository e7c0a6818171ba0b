/* train/trn_model.c — vlocr-nano: configuration, parameter layout (one flat
 * buffer, llm.c style), initialisation.
 *
 * Every parameter is registered once with its export name, so that the flat
 * buffer, the gradient buffer, AdamW's moments, the checkpoint and the
 * exported model.safetensors share one table. Routed experts are registered
 * one by one (their HF names) but land contiguously, so that expert e of a
 * layer is W.dl[l].eg + e·moe_inter·d.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trn.h"

trn_config trn_config_nano(void)
{
    trn_config c;
    memset(&c, 0, sizeof c);
    c.c1 = 32; c.c2 = 64; c.c3 = 128;
    c.vd = 192; c.v_layers = 4; c.v_heads = 3; c.v_mlp = 768;
    c.max_rows = 8; c.max_cols = 64; c.merge = 4;
    c.d = 256; c.layers = 4; c.heads = 4; c.nope = 48; c.rope = 16; c.vdim = 64;
    c.kv_lora = 64; c.inter = 768; c.moe_inter = 192; c.n_routed = 16; c.n_shared = 1;
    c.topk = 2; c.first_dense = 1;
    c.vocab = 640;
    c.rope_theta = 10000.0f; c.rms_eps = 1e-6f; c.ln_eps = 1e-5f;
    c.routed_scale = 1.0f;
    c.bos = 0; c.eos = 1; c.pad = 2; c.tok_text = 5; c.tok_formula = 6;
    return c;
}

trn_config trn_config_tiny(void)
{
    trn_config c = trn_config_nano();
    c.c1 = 2; c.c2 = 3; c.c3 = 4;
    c.vd = 6; c.v_layers = 1; c.v_heads = 2; c.v_mlp = 8;
    c.max_rows = 4; c.max_cols = 4; c.merge = 2;
    c.d = 8; c.layers = 2; c.heads = 2; c.nope = 4; c.rope = 2; c.vdim = 3;
    c.kv_lora = 4; c.inter = 6; c.moe_inter = 3; c.n_routed = 4; c.n_shared = 1;
    c.topk = 2; c.first_dense = 1;
    c.vocab = 12;
    c.tok_text = 5; c.tok_formula = 6;
    return c;
}

ocr_status trn_config_check(const trn_config *c, ocr_err *e)
{
    if (c->c1 < 1 || c->c2 < 1 || c->c3 < 1 || c->vd < 1 || c->v_heads < 1 ||
        c->vd % c->v_heads || c->v_layers < 0 || c->v_mlp < 1 || c->merge < 1 ||
        c->max_rows < c->merge || c->max_cols < 1 || c->d < 1 || c->layers < 1 ||
        c->heads < 1 || c->nope < 1 || c->rope < 2 || c->rope % 2 || c->vdim < 1 ||
        c->kv_lora < 1 || c->inter < 1 || c->vocab < 8 || c->topk < 1 ||
        (c->n_routed > 0 && (c->topk > c->n_routed || c->moe_inter < 1)) ||
        c->first_dense < 0)
        return ocr_err_set(e, OCR_E_ARG, "trn_config_check: inconsistent sizes");
    if (c->bos < 0 || c->eos < 0 || c->pad < 0 || c->tok_text < 0 || c->tok_formula < 0 ||
        c->bos >= c->vocab || c->eos >= c->vocab || c->pad >= c->vocab ||
        c->tok_text >= c->vocab || c->tok_formula >= c->vocab)
        return ocr_err_set(e, OCR_E_ARG, "trn_config_check: special ids outside the vocab");
    return OCR_OK;
}

/* ------------------------------------------------------------------ layout */

typedef struct {
    trn_model *m;
    trn_weights *W;
    float *base;   /* NULL while counting */
    bool record;
    size_t off;
    ocr_status rc;
} layout_ctx;

static float *add(layout_ctx *L, bool decay, int ndim, int64_t a, int64_t b,
                  const char *fmt, ...) OCR_PRINTF(6, 7);

static float *add(layout_ctx *L, bool decay, int ndim, int64_t a, int64_t b,
                  const char *fmt, ...)
{
    size_t numel = (size_t)a * (size_t)(ndim > 1 ? b : 1);
    /* 16-float alignment keeps each tensor on a cache line for the GEMMs. */
    size_t off = L->off;
    L->off += (numel + 15) & ~(size_t)15;
    if (L->record) {
        trn_model *m = L->m;
        if (m->n_params >= TRN_MAX_PARAMS) {
            L->rc = OCR_E_LIMIT;
            return NULL;
        }
        trn_param *p = &m->params[m->n_params++];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->name, sizeof p->name, fmt, ap);
        va_end(ap);
        p->ndim = ndim;
        p->shape[0] = a;
        p->shape[1] = b;
        p->off = off;
        p->numel = numel;
        p->decay = decay;
    }
    return L->base ? L->base + off : NULL;
}

static bool is_moe(const trn_config *c, int l) { return c->n_routed > 0 && l >= c->first_dense; }

static void layout(layout_ctx *L)
{
    const trn_config *c = &L->m->cfg;
    trn_weights *W = L->W;
    const int cins[3] = {1, c->c1, c->c2}, couts[3] = {c->c1, c->c2, c->c3};
    for (int i = 0; i < 3; i++) {
        W->conv_w[i] = add(L, true, 2, couts[i], 9 * cins[i], "model.vision.stem.%d.weight", i);
        W->conv_b[i] = add(L, false, 1, couts[i], 0, "model.vision.stem.%d.bias", i);
    }
    W->patch_w = add(L, true, 2, c->vd, c->c3, "model.vision.patch_proj.weight");
    W->patch_b = add(L, false, 1, c->vd, 0, "model.vision.patch_proj.bias");
    W->pos_row = add(L, false, 2, c->max_rows, c->vd, "model.vision.pos_row");
    W->pos_col = add(L, false, 2, c->max_cols, c->vd, "model.vision.pos_col");
    for (int l = 0; l < c->v_layers; l++) {
        const char *p = "model.vision.blocks";
        W->vl[l].ln1_w = add(L, false, 1, c->vd, 0, "%s.%d.norm1.weight", p, l);
        W->vl[l].ln1_b = add(L, false, 1, c->vd, 0, "%s.%d.norm1.bias", p, l);
        W->vl[l].qkv_w = add(L, true, 2, 3 * c->vd, c->vd, "%s.%d.attn.qkv.weight", p, l);
        W->vl[l].qkv_b = add(L, false, 1, 3 * c->vd, 0, "%s.%d.attn.qkv.bias", p, l);
        W->vl[l].proj_w = add(L, true, 2, c->vd, c->vd, "%s.%d.attn.proj.weight", p, l);
        W->vl[l].proj_b = add(L, false, 1, c->vd, 0, "%s.%d.attn.proj.bias", p, l);
        W->vl[l].ln2_w = add(L, false, 1, c->vd, 0, "%s.%d.norm2.weight", p, l);
        W->vl[l].ln2_b = add(L, false, 1, c->vd, 0, "%s.%d.norm2.bias", p, l);
        W->vl[l].fc1_w = add(L, true, 2, c->v_mlp, c->vd, "%s.%d.mlp.fc1.weight", p, l);
        W->vl[l].fc1_b = add(L, false, 1, c->v_mlp, 0, "%s.%d.mlp.fc1.bias", p, l);
        W->vl[l].fc2_w = add(L, true, 2, c->vd, c->v_mlp, "%s.%d.mlp.fc2.weight", p, l);
        W->vl[l].fc2_b = add(L, false, 1, c->vd, 0, "%s.%d.mlp.fc2.bias", p, l);
    }
    W->vln_w = add(L, false, 1, c->vd, 0, "model.vision.norm.weight");
    W->vln_b = add(L, false, 1, c->vd, 0, "model.vision.norm.bias");
    W->comp_w = add(L, true, 2, c->d, c->merge * c->vd, "model.vision.compressor.weight");
    W->comp_b = add(L, false, 1, c->d, 0, "model.vision.compressor.bias");
    W->proj_w = add(L, true, 2, c->d, c->d, "model.projector.layers.weight");
    W->proj_b = add(L, false, 1, c->d, 0, "model.projector.layers.bias");
    W->newline = add(L, false, 1, c->d, 0, "model.image_newline");
    W->embed = add(L, true, 2, c->vocab, c->d, "model.embed_tokens.weight");
    const int H = c->heads, qk = c->nope + c->rope;
    for (int l = 0; l < c->layers; l++) {
        const char *p = "model.layers";
        W->dl[l].attn_norm = add(L, false, 1, c->d, 0, "%s.%d.input_layernorm.weight", p, l);
        W->dl[l].q = add(L, true, 2, H * qk, c->d, "%s.%d.self_attn.q_proj.weight", p, l);
        W->dl[l].kv_a = add(L, true, 2, c->kv_lora + c->rope, c->d,
                            "%s.%d.self_attn.kv_a_proj_with_mqa.weight", p, l);
        W->dl[l].kv_norm = add(L, false, 1, c->kv_lora, 0,
                               "%s.%d.self_attn.kv_a_layernorm.weight", p, l);
        W->dl[l].kv_b = add(L, true, 2, H * (c->nope + c->vdim), c->kv_lora,
                            "%s.%d.self_attn.kv_b_proj.weight", p, l);
        W->dl[l].o = add(L, true, 2, c->d, H * c->vdim, "%s.%d.self_attn.o_proj.weight", p, l);
        W->dl[l].mlp_norm = add(L, false, 1, c->d, 0, "%s.%d.post_attention_layernorm.weight", p, l);
        if (!is_moe(c, l)) {
            W->dl[l].gate = add(L, true, 2, c->inter, c->d, "%s.%d.mlp.gate_proj.weight", p, l);
            W->dl[l].up = add(L, true, 2, c->inter, c->d, "%s.%d.mlp.up_proj.weight", p, l);
            W->dl[l].down = add(L, true, 2, c->d, c->inter, "%s.%d.mlp.down_proj.weight", p, l);
            W->dl[l].router = W->dl[l].eg = W->dl[l].eu = W->dl[l].ed = NULL;
            continue;
        }
        W->dl[l].router = add(L, true, 2, c->n_routed, c->d, "%s.%d.mlp.gate.weight", p, l);
        const int E = c->n_routed, mi = c->moe_inter;
        for (int x = 0; x < E; x++) {
            float *t = add(L, true, 2, mi, c->d, "%s.%d.mlp.experts.%d.gate_proj.weight", p, l, x);
            if (x == 0) W->dl[l].eg = t;
        }
        for (int x = 0; x < E; x++) {
            float *t = add(L, true, 2, mi, c->d, "%s.%d.mlp.experts.%d.up_proj.weight", p, l, x);
            if (x == 0) W->dl[l].eu = t;
        }
        for (int x = 0; x < E; x++) {
            float *t = add(L, true, 2, c->d, mi, "%s.%d.mlp.experts.%d.down_proj.weight", p, l, x);
            if (x == 0) W->dl[l].ed = t;
        }
        const int si = mi * c->n_shared;
        if (si > 0) {
            W->dl[l].gate = add(L, true, 2, si, c->d, "%s.%d.mlp.shared_experts.gate_proj.weight", p, l);
            W->dl[l].up = add(L, true, 2, si, c->d, "%s.%d.mlp.shared_experts.up_proj.weight", p, l);
            W->dl[l].down = add(L, true, 2, c->d, si, "%s.%d.mlp.shared_experts.down_proj.weight", p, l);
        } else {
            W->dl[l].gate = W->dl[l].up = W->dl[l].down = NULL;
        }
    }
    W->final_norm = add(L, false, 1, c->d, 0, "model.norm.weight");
    W->lm_head = add(L, true, 2, c->vocab, c->d, "lm_head.weight");
    /* Training-only tensors last: the inference tensors keep their offsets
     * (a checkpoint without them is a prefix of the flat buffer). */
    W->ctc_w = add(L, true, 2, (int64_t)TRN_CTC_SPLIT * c->vocab, c->d, "train.ctc_head.weight");
    W->ctc_b = add(L, false, 1, (int64_t)TRN_CTC_SPLIT * c->vocab, 0, "train.ctc_head.bias");
}

ocr_status trn_model_create(trn_model **out, const trn_config *c, ocr_err *e)
{
    *out = NULL;
    ocr_status rc = trn_config_check(c, e);
    if (rc != OCR_OK) return rc;
    trn_model *m = calloc(1, sizeof *m);
    if (!m) return ocr_err_set(e, OCR_E_NOMEM, "trn_model_create: out of memory");
    m->cfg = *c;
    m->params = calloc(TRN_MAX_PARAMS, sizeof *m->params);
    m->W.vl = calloc((size_t)c->v_layers + 1, sizeof *m->W.vl);
    m->G.vl = calloc((size_t)c->v_layers + 1, sizeof *m->G.vl);
    m->W.dl = calloc((size_t)c->layers, sizeof *m->W.dl);
    m->G.dl = calloc((size_t)c->layers, sizeof *m->G.dl);
    m->moe_bias = calloc((size_t)c->layers * (size_t)(c->n_routed + 1), sizeof(float));
    if (!m->params || !m->W.vl || !m->G.vl || !m->W.dl || !m->G.dl || !m->moe_bias) {
        trn_model_destroy(&m);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_model_create: out of memory");
    }
    layout_ctx L = {m, &m->W, NULL, true, 0, OCR_OK};
    layout(&L);
    if (L.rc != OCR_OK) {
        trn_model_destroy(&m);
        return ocr_err_set(e, OCR_E_LIMIT, "trn_model_create: more than %d tensors", TRN_MAX_PARAMS);
    }
    m->n_floats = L.off;
    m->w = ocr_aligned_alloc(m->n_floats * sizeof(float));
    m->g = ocr_aligned_alloc(m->n_floats * sizeof(float));
    m->m = ocr_aligned_alloc(m->n_floats * sizeof(float));
    m->v = ocr_aligned_alloc(m->n_floats * sizeof(float));
    if (!m->w || !m->g || !m->m || !m->v) {
        trn_model_destroy(&m);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_model_create: out of memory (%zu floats)",
                           m ? (size_t)0 : (size_t)0);
    }
    memset(m->w, 0, m->n_floats * sizeof(float));
    memset(m->g, 0, m->n_floats * sizeof(float));
    memset(m->m, 0, m->n_floats * sizeof(float));
    memset(m->v, 0, m->n_floats * sizeof(float));
    layout_ctx Lw = {m, &m->W, m->w, false, 0, OCR_OK};
    layout(&Lw);
    layout_ctx Lg = {m, &m->G, m->g, false, 0, OCR_OK};
    layout(&Lg);
    *out = m;
    return OCR_OK;
}

void trn_model_destroy(trn_model **pm)
{
    if (!pm || !*pm) return;
    trn_model *m = *pm;
    free(m->params);
    free(m->W.vl);
    free(m->G.vl);
    free(m->W.dl);
    free(m->G.dl);
    free(m->moe_bias);
    free(m->w);
    free(m->g);
    free(m->m);
    free(m->v);
    free(m);
    *pm = NULL;
}

const trn_param *trn_model_find(const trn_model *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return &m->params[i];
    return NULL;
}

/* --------------------------------------------------------------------- init */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_uniform(uint64_t *s) /* [-1, 1) */
{
    return (float)((rng_next(s) >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

void trn_model_init(trn_model *m, uint64_t seed)
{
    const trn_config *c = &m->cfg;
    memset(m->moe_bias, 0, (size_t)c->layers * (size_t)(c->n_routed + 1) * sizeof(float));
    for (int i = 0; i < m->n_params; i++) {
        const trn_param *p = &m->params[i];
        float *w = m->w + p->off;
        uint64_t s = seed * 0x100000001B3ull + (uint64_t)i * 7919u + 1;
        const char *n = p->name;
        float amp = 0.0f, base = 0.0f;
        if (p->ndim == 1) {
            /* Norm gains start at 1, biases at 0; the newline token small. */
            base = (ends_with(n, "norm.weight") || ends_with(n, "layernorm.weight") ||
                    strstr(n, "norm1.weight") || strstr(n, "norm2.weight") ||
                    strcmp(n, "model.norm.weight") == 0)
                       ? 1.0f : 0.0f;
            if (strcmp(n, "model.image_newline") == 0) amp = 0.02f * 1.7320508f;
        } else if (strstr(n, "pos_row") || strstr(n, "pos_col")) {
            amp = 0.02f * 1.7320508f;
        } else if (strncmp(n, "train.ctc_head", 14) == 0) {
            amp = 0.0f; /* uniform frames at the start: the CTC loss begins at
                           T·log V, and its gradient does not swamp the decoder's */
        } else if (strcmp(n, "model.embed_tokens.weight") == 0) {
            amp = 1.7320508f; /* unit variance, like the image rows */
        } else {
            /* Uniform with variance 1/fan_in; residual outputs scaled by
             * 1/sqrt(2·layers) (GPT-2) so the stream does not grow with depth. */
            float fan_in = (float)p->shape[1];
            amp = sqrtf(3.0f / fan_in);
            if (strstr(n, "stem")) amp *= 1.4142135f; /* GELU halves the variance */
            if (strstr(n, "attn.proj") || strstr(n, "fc2") || strstr(n, "o_proj") ||
                strstr(n, "down_proj"))
                amp /= sqrtf(2.0f * (strstr(n, "vision") ? c->v_layers : c->layers));
            if (strstr(n, "mlp.gate.weight")) amp *= 0.1f;
        }
        for (size_t j = 0; j < p->numel; j++) w[j] = base + amp * rng_uniform(&s);
    }
    memset(m->m, 0, m->n_floats * sizeof(float));
    memset(m->v, 0, m->n_floats * sizeof(float));
    memset(m->g, 0, m->n_floats * sizeof(float));
}

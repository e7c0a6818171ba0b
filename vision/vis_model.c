/* vision/vis_model.c — the DeepEncoder's weights: SAM ViT-B, CLIP-L, the
 * linear projector and the two layout vectors, checked against
 * vis_spec_build and bound into a read-only vis_model.
 *
 * Linear weights stay views into the checkpoint in whatever float dtype it
 * stores (ocr_matmul widens them). Everything small or re-laid-out — norm
 * gains, biases, position tables, conv kernels (permuted to channels-last so
 * that im2col copies contiguous runs) — is converted to float32 once, into
 * one pool the model owns.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vis.h"

/* Where tensors come from: an opened checkpoint, or the random model's own
 * array. */
typedef struct {
    const ocr_st *st;
    const ocr_tensor *tensors;
    size_t n;
} tsrc;

static const ocr_tensor *tsrc_find(const tsrc *s, const char *name)
{
    if (s->st) return ocr_st_find(s->st, name);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->tensors[i].name, name) == 0) return &s->tensors[i];
    return NULL;
}

static bool is_global_block(const ocr_vis_config *c, int b)
{
    for (int i = 0; i < c->sam.n_global_attn; i++)
        if (c->sam.global_attn_indexes[i] == b) return true;
    return false;
}

#define POOL_ALIGN 16 /* floats: 64 bytes */

static size_t pool_round(size_t n) { return (n + POOL_ALIGN - 1) / POOL_ALIGN * POOL_ALIGN; }

/* Floats the pool needs for config c: mirrors build() below item by item. */
static size_t pool_floats(const ocr_vis_config *c)
{
    size_t W = (size_t)c->sam.width, P = (size_t)c->sam.patch_size;
    size_t G = (size_t)(c->sam.img_size / c->sam.patch_size), hd = W / (size_t)c->sam.heads;
    size_t mlp = W * (size_t)c->sam.mlp_ratio, oc = (size_t)c->sam.out_chans;
    size_t d0 = (size_t)c->sam.downsample_channels[0], d1 = (size_t)c->sam.downsample_channels[1];
    size_t n = pool_round(W * 3 * P * P) + pool_round(W) + pool_round(G * G * W);
    for (int b = 0; b < c->sam.layers; b++) {
        size_t span = is_global_block(c, b) ? G : (size_t)c->sam.window_size;
        n += 4 * pool_round(W) + pool_round(3 * W) + pool_round(W) + pool_round(mlp) + pool_round(W);
        n += 2 * pool_round((2 * span - 1) * hd);
    }
    n += pool_round(oc * W) + 2 * pool_round(oc) + pool_round(oc * oc * 9) + 2 * pool_round(oc);
    n += pool_round(d0 * oc * 9) + pool_round(d1 * d0 * 9);
    size_t CW = (size_t)c->clip.width, CG = (size_t)(c->clip.image_size / c->clip.patch_size);
    size_t ffn = (size_t)c->clip.ffn_hidden_size;
    n += pool_round(CW) + pool_round((CG * CG + 1) * CW) + 2 * pool_round(CW);
    n += (size_t)c->clip.layers *
         (4 * pool_round(CW) + pool_round(3 * CW) + pool_round(CW) + pool_round(ffn) + pool_round(CW));
    n += 3 * pool_round((size_t)c->projector.n_embed);
    return n;
}

static float *pool_take(vis_model *m, size_t n)
{
    size_t r = pool_round(n);
    if (m->pool_used + r > m->pool_cap) return NULL;
    float *p = m->pool + m->pool_used;
    m->pool_used += r;
    return p;
}

typedef struct {
    vis_model *m;
    const tsrc *src;
    ocr_err *e;
    ocr_status rc;
} binder;

/* A tensor that vis_spec_build promised (shapes were checked already). */
static const ocr_tensor *need(binder *b, const char *name)
{
    if (b->rc) return NULL;
    const ocr_tensor *t = tsrc_find(b->src, name);
    if (!t) b->rc = ocr_err_set(b->e, OCR_E_NOTFOUND, "vis_model: tensor '%s' is missing", name);
    return t;
}

/* Convert a whole tensor to float32 in the pool. */
static const float *f32(binder *b, const char *name)
{
    const ocr_tensor *t = need(b, name);
    if (!t) return NULL;
    float *p = pool_take(b->m, (size_t)ocr_tensor_numel(t));
    if (!p) {
        b->rc = ocr_err_set(b->e, OCR_E_NOMEM, "vis_model: pool exhausted at '%s'", name);
        return NULL;
    }
    ocr_status rc = ocr_tensor_to_f32(p, t, b->e);
    if (rc != OCR_OK) {
        b->rc = ocr_err_prefix(b->e, "vis_model: '%s'", name);
        return NULL;
    }
    return p;
}

/* A conv kernel [cout][cin][k][k] converted and permuted to [cout][k][k][cin]. */
static const float *conv_f32(binder *b, const char *name)
{
    const ocr_tensor *t = need(b, name);
    if (!t) return NULL;
    size_t n = (size_t)ocr_tensor_numel(t);
    float *tmp = malloc(n * sizeof(float));
    float *p = pool_take(b->m, n);
    if (!tmp || !p) {
        free(tmp);
        b->rc = ocr_err_set(b->e, OCR_E_NOMEM, "vis_model: out of memory at '%s'", name);
        return NULL;
    }
    if (ocr_tensor_to_f32(tmp, t, b->e) != OCR_OK) {
        free(tmp);
        b->rc = ocr_err_prefix(b->e, "vis_model: '%s'", name);
        return NULL;
    }
    vis_conv_weight_nhwc(p, tmp, (int)t->shape[0], (int)t->shape[1], (int)t->shape[2]);
    free(tmp);
    return p;
}

static vis_linear lin(binder *b, const char *wname, const char *bname)
{
    vis_linear l = {need(b, wname), bname ? f32(b, bname) : NULL};
    return l;
}

static ocr_status check_config(const ocr_vis_config *c, ocr_err *e)
{
    if (!c->present)
        return ocr_err_set(e, OCR_E_CONFIG, "vis_model: config has no vision_config");
    if (c->sam.width <= 0 || c->sam.heads <= 0 || c->sam.width % c->sam.heads ||
        c->clip.width <= 0 || c->clip.heads <= 0 || c->clip.width % c->clip.heads)
        return ocr_err_set(e, OCR_E_CONFIG, "vis_model: vision width not divisible by heads");
    if (c->sam.patch_size <= 0 || c->sam.img_size < c->sam.patch_size || c->sam.window_size <= 0 ||
        c->clip.patch_size <= 0 || c->clip.image_size < c->clip.patch_size)
        return ocr_err_set(e, OCR_E_CONFIG, "vis_model: bad SAM/CLIP image, patch or window size");
    if (c->sam.downsample_channels[1] != c->clip.width)
        return ocr_err_set(e, OCR_E_CONFIG,
                           "vis_model: SAM net_3 gives %d channels but CLIP width is %d (CLIP takes "
                           "SAM's features as patch embeddings)",
                           c->sam.downsample_channels[1], c->clip.width);
    if (c->projector.input_dim != c->clip.width + c->sam.downsample_channels[1])
        return ocr_err_set(e, OCR_E_CONFIG,
                           "vis_model: projector input_dim %d, expected CLIP %d + SAM %d",
                           c->projector.input_dim, c->clip.width, c->sam.downsample_channels[1]);
    if (c->projector.n_embed <= 0)
        return ocr_err_set(e, OCR_E_CONFIG, "vis_model: projector n_embed must be positive");
    return OCR_OK;
}

static ocr_status build(vis_model *m, const tsrc *src, ocr_err *e)
{
    const ocr_vis_config *c = &m->cfg;
    binder b = {m, src, e, OCR_OK};
    char n1[160], n2[160];
    m->sam_dim = c->sam.width;
    m->sam_heads = c->sam.heads;
    m->sam_head_dim = c->sam.width / c->sam.heads;
    m->sam_mlp = c->sam.width * c->sam.mlp_ratio;
    m->patch = c->sam.patch_size;
    m->pos_grid = c->sam.img_size / c->sam.patch_size;
    m->neck_ch = c->sam.out_chans;
    m->net2_ch = c->sam.downsample_channels[0];
    m->net3_ch = c->sam.downsample_channels[1];
    m->clip_dim = c->clip.width;
    m->clip_heads = c->clip.heads;
    m->clip_head_dim = c->clip.width / c->clip.heads;
    m->clip_ffn = c->clip.ffn_hidden_size;
    m->clip_grid = c->clip.image_size / c->clip.patch_size;
    m->n_embed = c->projector.n_embed;

    m->pool_cap = pool_floats(c);
    m->pool = ocr_aligned_alloc(m->pool_cap * sizeof(float));
    m->blocks = calloc((size_t)(c->sam.layers > 0 ? c->sam.layers : 1), sizeof *m->blocks);
    m->layers = calloc((size_t)(c->clip.layers > 0 ? c->clip.layers : 1), sizeof *m->layers);
    if (!m->pool || !m->blocks || !m->layers)
        return ocr_err_set(e, OCR_E_NOMEM, "vis_model: out of memory (%zu floats)", m->pool_cap);

    const char *sp = "model.sam_model";
    snprintf(n1, sizeof n1, "%s.patch_embed.proj.weight", sp);
    m->patch_w = f32(&b, n1); /* [D][3][P][P] is already (c, ky, kx) rows */
    snprintf(n1, sizeof n1, "%s.patch_embed.proj.bias", sp);
    m->patch_b = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.pos_embed", sp);
    m->pos = f32(&b, n1);
    for (int i = 0; i < c->sam.layers && !b.rc; i++) {
        vis_sam_block *k = &m->blocks[i];
#define SAMN(buf, suffix) (snprintf(buf, sizeof buf, "%s.blocks.%d.%s", sp, i, suffix), buf)
        k->norm1_w = f32(&b, SAMN(n1, "norm1.weight"));
        k->norm1_b = f32(&b, SAMN(n1, "norm1.bias"));
        k->norm2_w = f32(&b, SAMN(n1, "norm2.weight"));
        k->norm2_b = f32(&b, SAMN(n1, "norm2.bias"));
        k->qkv = lin(&b, SAMN(n1, "attn.qkv.weight"), SAMN(n2, "attn.qkv.bias"));
        k->proj = lin(&b, SAMN(n1, "attn.proj.weight"), SAMN(n2, "attn.proj.bias"));
        k->lin1 = lin(&b, SAMN(n1, "mlp.lin1.weight"), SAMN(n2, "mlp.lin1.bias"));
        k->lin2 = lin(&b, SAMN(n1, "mlp.lin2.weight"), SAMN(n2, "mlp.lin2.bias"));
        const ocr_tensor *rh = need(&b, SAMN(n1, "attn.rel_pos_h"));
        k->rel_len = rh ? (int)rh->shape[0] : 0;
        k->rel_h = f32(&b, SAMN(n1, "attn.rel_pos_h"));
        k->rel_w = f32(&b, SAMN(n1, "attn.rel_pos_w"));
        k->window = is_global_block(c, i) ? 0 : c->sam.window_size;
#undef SAMN
    }
    snprintf(n1, sizeof n1, "%s.neck.0.weight", sp);
    m->neck0_w = f32(&b, n1); /* [oc][D][1][1] == [oc][D] */
    snprintf(n1, sizeof n1, "%s.neck.1.weight", sp);
    m->neck1_w = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.neck.1.bias", sp);
    m->neck1_b = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.neck.2.weight", sp);
    m->neck2_w = conv_f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.neck.3.weight", sp);
    m->neck3_w = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.neck.3.bias", sp);
    m->neck3_b = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.net_2.weight", sp);
    m->net2_w = conv_f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.net_3.weight", sp);
    m->net3_w = conv_f32(&b, n1);

    const char *cp = "model.vision_model";
    snprintf(n1, sizeof n1, "%s.embeddings.class_embedding", cp);
    m->cls = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.embeddings.position_embedding.weight", cp);
    m->clip_pos = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.pre_layrnorm.weight", cp);
    m->pre_w = f32(&b, n1);
    snprintf(n1, sizeof n1, "%s.pre_layrnorm.bias", cp);
    m->pre_b = f32(&b, n1);
    for (int i = 0; i < c->clip.layers && !b.rc; i++) {
        vis_clip_layer *l = &m->layers[i];
#define CLN(buf, suffix) \
    (snprintf(buf, sizeof buf, "%s.transformer.layers.%d.%s", cp, i, suffix), buf)
        l->ln1_w = f32(&b, CLN(n1, "layer_norm1.weight"));
        l->ln1_b = f32(&b, CLN(n1, "layer_norm1.bias"));
        l->ln2_w = f32(&b, CLN(n1, "layer_norm2.weight"));
        l->ln2_b = f32(&b, CLN(n1, "layer_norm2.bias"));
        l->qkv = lin(&b, CLN(n1, "self_attn.qkv_proj.weight"), CLN(n2, "self_attn.qkv_proj.bias"));
        l->out = lin(&b, CLN(n1, "self_attn.out_proj.weight"), CLN(n2, "self_attn.out_proj.bias"));
        l->fc1 = lin(&b, CLN(n1, "mlp.fc1.weight"), CLN(n2, "mlp.fc1.bias"));
        l->fc2 = lin(&b, CLN(n1, "mlp.fc2.weight"), CLN(n2, "mlp.fc2.bias"));
#undef CLN
    }
    m->projector = lin(&b, "model.projector.layers.weight", "model.projector.layers.bias");
    m->newline = f32(&b, "model.image_newline");
    m->separator = f32(&b, "model.view_seperator");
    return b.rc;
}

static ocr_status check_spec(const ocr_vis_config *c, const ocr_st *st, ocr_err *e)
{
    ocr_spec spec = {0};
    ocr_spec_result res = {0};
    ocr_status rc = vis_spec_build(&spec, c, e);
    if (rc == OCR_OK) {
        rc = ocr_spec_check(&spec, st, &res, e);
        if (rc != OCR_OK && res.report)
            rc = ocr_err_set(e, rc, "vis_model: %s: %zu missing, %zu misshaped vision tensors:\n%s",
                             ocr_st_path(st), res.n_missing, res.n_misshaped, res.report);
    }
    ocr_spec_result_free(&res);
    ocr_spec_free(&spec);
    return rc;
}

ocr_status vis_model_create(vis_model **out, const ocr_vis_config *c, const ocr_st *st, ocr_err *e)
{
    *out = NULL;
    if (!c || !st) return ocr_err_set(e, OCR_E_ARG, "vis_model_create: NULL config or checkpoint");
    ocr_status rc = check_config(c, e);
    if (rc == OCR_OK) rc = check_spec(c, st, e);
    if (rc != OCR_OK) return rc;
    vis_model *m = calloc(1, sizeof *m);
    if (!m) return ocr_err_set(e, OCR_E_NOMEM, "vis_model_create: out of memory");
    m->cfg = *c;
    tsrc src = {st, NULL, 0};
    rc = build(m, &src, e);
    if (rc != OCR_OK) {
        vis_model_destroy(&m);
        return rc;
    }
    *out = m;
    return OCR_OK;
}

/* xorshift64* uniform in [-a, a) */
static float urand(uint64_t *s, float a)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    uint64_t r = *s * 2685821657736338717ULL;
    return ((float)(r >> 40) / 16777216.0f * 2.0f - 1.0f) * a;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

ocr_status vis_model_create_random(vis_model **out, const ocr_vis_config *c, uint64_t seed,
                                   ocr_err *e)
{
    *out = NULL;
    ocr_status rc = check_config(c, e);
    if (rc != OCR_OK) return rc;
    ocr_spec spec = {0};
    rc = vis_spec_build(&spec, c, e);
    if (rc != OCR_OK) {
        ocr_spec_free(&spec);
        return rc;
    }
    vis_model *m = calloc(1, sizeof *m);
    size_t total = 0, nt = 0;
    for (size_t i = 0; i < spec.n; i++) {
        if (spec.v[i].optional) continue;
        size_t k = 1;
        for (int d = 0; d < spec.v[i].ndim; d++) k *= (size_t)spec.v[i].shape[d];
        total += pool_round(k);
        nt++;
    }
    if (m) {
        m->cfg = *c;
        m->rand_tensors = calloc(nt ? nt : 1, sizeof *m->rand_tensors);
        m->rand_names = calloc(nt ? nt : 1, 128);
        m->rand_block = ocr_aligned_alloc(total * sizeof(float));
    }
    if (!m || !m->rand_tensors || !m->rand_names || !m->rand_block) {
        ocr_spec_free(&spec);
        vis_model_destroy(&m);
        return ocr_err_set(e, OCR_E_NOMEM, "vis_model_create_random: out of memory (%zu floats)",
                           total);
    }
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    size_t off = 0;
    for (size_t i = 0; i < spec.n; i++) {
        const ocr_spec_entry *se = &spec.v[i];
        if (se->optional) continue;
        ocr_tensor *t = &m->rand_tensors[m->n_rand];
        char *name = m->rand_names + m->n_rand * 128;
        snprintf(name, 128, "%s", se->name);
        size_t k = 1, fan_in = 1;
        for (int d = 0; d < se->ndim; d++) {
            k *= (size_t)se->shape[d];
            if (d > 0) fan_in *= (size_t)se->shape[d];
        }
        float *p = m->rand_block + off;
        off += pool_round(k);
        /* Gains near 1, small biases, fan-in scaled matrices: activations
         * keep unit scale through any depth, as trained weights do. */
        bool gain = se->ndim == 1 && ends_with(name, ".weight");
        float a = se->ndim == 1 ? 0.05f : sqrtf(3.0f / (float)fan_in);
        if (strstr(name, "pos_embed") || strstr(name, "position_embedding") ||
            strstr(name, "rel_pos"))
            a = 0.1f;
        for (size_t j = 0; j < k; j++) p[j] = (gain ? 1.0f : 0.0f) + urand(&s, gain ? 0.1f : a);
        t->name = name;
        t->dtype = OCR_DT_F32;
        t->ndim = se->ndim;
        for (int d = 0; d < se->ndim; d++) t->shape[d] = se->shape[d];
        t->data = p;
        t->nbytes = k * sizeof(float);
        m->n_rand++;
    }
    ocr_spec_free(&spec);
    tsrc src = {NULL, m->rand_tensors, m->n_rand};
    rc = build(m, &src, e);
    if (rc != OCR_OK) {
        vis_model_destroy(&m);
        return rc;
    }
    *out = m;
    return OCR_OK;
}

void vis_model_destroy(vis_model **mp)
{
    if (!mp || !*mp) return;
    vis_model *m = *mp;
    free(m->pool);
    free(m->blocks);
    free(m->layers);
    free(m->rand_tensors);
    free(m->rand_names);
    free(m->rand_block);
    free(m);
    *mp = NULL;
}

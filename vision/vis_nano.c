/* vision/vis_nano.c — the vlocr-nano vision encoder for inference.
 *
 * Mirrors the trainer's forward (train/trn_fwd.c, encoder_forward) op for
 * op: conv stem 3×3 s2 ×3 with GELU → patch projection + row/column
 * position tables → pre-LN ViT blocks with global attention → LayerNorm →
 * compressor over `merge_rows` rows → GELU → projector; image_newline after
 * each compressed row. Weights are widened to F32 once at load (about 3 M
 * parameters), so the per-crop work is plain sgemm.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vis.h"

typedef struct {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
} nano_block;

struct vis_nano {
    vis_nano_config c;
    float *conv_w[3], *conv_b[3];
    float *patch_w, *patch_b, *pos_row, *pos_col;
    nano_block *bl;
    float *vln_w, *vln_b, *comp_w, *comp_b, *proj_w, *proj_b, *newline;
    float *block; /* all weights */
};

static int jint(const json_t *o, const char *k, int def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

ocr_status vis_nano_config_load(vis_nano_config *c, const char *dir, ocr_err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return vis_nano_config_read(c, path, e);
}

ocr_status vis_nano_config_read(vis_nano_config *c, const char *path, ocr_err *e)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return ocr_err_set(e, OCR_E_FORMAT, "%s:%d: %s", path, je.line, je.text);
    const json_t *n = json_object_get(j, "vlocr_nano");
    if (!json_is_object(n)) {
        json_decref(j);
        return ocr_err_set(e, OCR_E_CONFIG, "%s: no \"vlocr_nano\" section (not a vlocr-nano model)", path);
    }
    memset(c, 0, sizeof *c);
    c->c1 = jint(n, "conv_channels_1", 32);
    c->c2 = jint(n, "conv_channels_2", 64);
    c->c3 = jint(n, "conv_channels_3", 128);
    c->vd = jint(n, "vit_width", 192);
    c->v_layers = jint(n, "vit_layers", 4);
    c->v_heads = jint(n, "vit_heads", 3);
    c->v_mlp = jint(n, "vit_mlp", 768);
    c->max_rows = jint(n, "max_rows", 8);
    c->max_cols = jint(n, "max_cols", 64);
    c->merge = jint(n, "merge_rows", 4);
    const json_t *eps = json_object_get(n, "layer_norm_eps");
    c->ln_eps = json_is_number(eps) ? (float)json_number_value(eps) : 1e-5f;
    c->height_text = jint(n, "height_text", 32);
    c->height_formula = jint(n, "height_formula", 64);
    c->tok_text = jint(n, "text_token_id", 5);
    c->tok_formula = jint(n, "formula_token_id", 6);
    c->d = jint(j, "hidden_size", 256);
    c->bos = jint(j, "bos_token_id", 0);
    c->eos = jint(j, "eos_token_id", 1);
    json_decref(j);
    if (c->c1 < 1 || c->c2 < 1 || c->c3 < 1 || c->vd < 1 || c->v_heads < 1 || c->vd % c->v_heads ||
        c->v_layers < 0 || c->v_mlp < 1 || c->merge < 1 || c->max_rows < c->merge ||
        c->max_cols < 1 || c->d < 1 || c->height_text % (8 * c->merge) ||
        c->height_formula % (8 * c->merge))
        return ocr_err_set(e, OCR_E_CONFIG, "%s: inconsistent vlocr_nano sizes", path);
    return OCR_OK;
}

static ocr_status get_w(float **dst, float **cursor, const ocr_st *st, const char *name,
                        int64_t n0, int64_t n1, ocr_err *e)
{
    const ocr_tensor *t = ocr_st_find(st, name);
    int64_t want = n0 * (n1 > 0 ? n1 : 1);
    if (!t)
        return ocr_err_set(e, OCR_E_NOTFOUND, "%s: no tensor '%s'", ocr_st_path(st), name);
    if (ocr_tensor_numel(t) != want)
        return ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s' has %lld elements, config says %lld",
                           ocr_st_path(st), name, (long long)ocr_tensor_numel(t), (long long)want);
    *dst = *cursor;
    *cursor += (want + 15) & ~(int64_t)15;
    return ocr_tensor_to_f32(*dst, t, e);
}

ocr_status vis_nano_create(vis_nano **out, const vis_nano_config *c, const ocr_st *st, ocr_err *e)
{
    *out = NULL;
    vis_nano *m = calloc(1, sizeof *m);
    if (!m) return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_create: out of memory");
    m->c = *c;
    m->bl = calloc((size_t)c->v_layers + 1, sizeof *m->bl);
    /* Upper bound of the weights, each rounded up to 16 floats. */
    size_t vd = (size_t)c->vd, tot = 0;
    tot += (size_t)c->c1 * 9 + (size_t)c->c2 * 9 * c->c1 + (size_t)c->c3 * 9 * c->c2 + 3 * 16 * 2 +
           (size_t)(c->c1 + c->c2 + c->c3);
    tot += vd * c->c3 + vd + (size_t)(c->max_rows + c->max_cols) * vd + 64;
    tot += (size_t)c->v_layers * (4 * vd * vd + 2 * vd * c->v_mlp + 9 * vd + c->v_mlp + 12 * 16);
    tot += 2 * vd + (size_t)c->d * c->merge * vd + (size_t)c->d * c->d + 3 * (size_t)c->d + 8 * 16;
    m->block = ocr_aligned_alloc(tot * sizeof(float));
    if (!m->bl || !m->block) {
        vis_nano_destroy(&m);
        return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_create: out of memory");
    }
    float *cur = m->block;
    ocr_status rc = OCR_OK;
    char nm[128];
    const int cins[3] = {1, c->c1, c->c2}, couts[3] = {c->c1, c->c2, c->c3};
#define GW(dst, n0, n1, ...)                                             \
    do {                                                                 \
        snprintf(nm, sizeof nm, __VA_ARGS__);                            \
        if (rc == OCR_OK) rc = get_w(&(dst), &cur, st, nm, n0, n1, e);   \
    } while (0)
    for (int i = 0; i < 3; i++) {
        GW(m->conv_w[i], couts[i], 9 * cins[i], "model.vision.stem.%d.weight", i);
        GW(m->conv_b[i], couts[i], 0, "model.vision.stem.%d.bias", i);
    }
    GW(m->patch_w, c->vd, c->c3, "model.vision.patch_proj.weight");
    GW(m->patch_b, c->vd, 0, "model.vision.patch_proj.bias");
    GW(m->pos_row, c->max_rows, c->vd, "model.vision.pos_row");
    GW(m->pos_col, c->max_cols, c->vd, "model.vision.pos_col");
    for (int l = 0; l < c->v_layers; l++) {
        nano_block *b = &m->bl[l];
        GW(b->ln1_w, c->vd, 0, "model.vision.blocks.%d.norm1.weight", l);
        GW(b->ln1_b, c->vd, 0, "model.vision.blocks.%d.norm1.bias", l);
        GW(b->qkv_w, 3 * c->vd, c->vd, "model.vision.blocks.%d.attn.qkv.weight", l);
        GW(b->qkv_b, 3 * c->vd, 0, "model.vision.blocks.%d.attn.qkv.bias", l);
        GW(b->proj_w, c->vd, c->vd, "model.vision.blocks.%d.attn.proj.weight", l);
        GW(b->proj_b, c->vd, 0, "model.vision.blocks.%d.attn.proj.bias", l);
        GW(b->ln2_w, c->vd, 0, "model.vision.blocks.%d.norm2.weight", l);
        GW(b->ln2_b, c->vd, 0, "model.vision.blocks.%d.norm2.bias", l);
        GW(b->fc1_w, c->v_mlp, c->vd, "model.vision.blocks.%d.mlp.fc1.weight", l);
        GW(b->fc1_b, c->v_mlp, 0, "model.vision.blocks.%d.mlp.fc1.bias", l);
        GW(b->fc2_w, c->vd, c->v_mlp, "model.vision.blocks.%d.mlp.fc2.weight", l);
        GW(b->fc2_b, c->vd, 0, "model.vision.blocks.%d.mlp.fc2.bias", l);
    }
    GW(m->vln_w, c->vd, 0, "model.vision.norm.weight");
    GW(m->vln_b, c->vd, 0, "model.vision.norm.bias");
    GW(m->comp_w, c->d, c->merge * c->vd, "model.vision.compressor.weight");
    GW(m->comp_b, c->d, 0, "model.vision.compressor.bias");
    GW(m->proj_w, c->d, c->d, "model.projector.layers.weight");
    GW(m->proj_b, c->d, 0, "model.projector.layers.bias");
    GW(m->newline, c->d, 0, "model.image_newline");
#undef GW
    if (rc != OCR_OK) {
        vis_nano_destroy(&m);
        return rc;
    }
    *out = m;
    return OCR_OK;
}

void vis_nano_destroy(vis_nano **pm)
{
    if (!pm || !*pm) return;
    free((*pm)->bl);
    free((*pm)->block);
    free(*pm);
    *pm = NULL;
}

const vis_nano_config *vis_nano_cfg(const vis_nano *m) { return &m->c; }

int vis_nano_rows(const vis_nano *m, int h, int w)
{
    return (h / 8 / m->c.merge) * (w / 8 + 1);
}

static void linear(float *y, const float *x, const float *w, const float *b, int n, int in, int out)
{
    ocr_sgemm_xwt(y, x, w, b, n, in, out, false);
}

/* erf as a rational function of x (odd/even minimax polynomials, the
 * Eigen/XLA float erf): |error| ≤ 5e-7 against erf over the reals, no
 * branches or libm calls, so the loop below vectorises; libm's erff was
 * the encoder's largest cost after the GEMMs. */
static inline float erf_fast(float a)
{
    float x = a > 4.0f ? 4.0f : a < -4.0f ? -4.0f : a;
    float x2 = x * x;
    float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = x2 * p - 2.10102402082508e-06f;
    p = x2 * p - 5.69250639462346e-05f;
    p = x2 * p - 7.34990630326855e-04f;
    p = x2 * p - 2.95459980854025e-03f;
    p = x2 * p - 1.60960333262415e-02f;
    float q = x2 * -1.45660718464996e-05f - 2.13374055278905e-04f;
    q = x2 * q - 1.68282697438203e-03f;
    q = x2 * q - 7.37332916720468e-03f;
    q = x2 * q - 1.42647390514189e-02f;
    return x * p / q;
}

/* GELU as the trainer computes it (erf form, float; erf to ~5e-7). */
static void gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erf_fast(x[i] * (float)M_SQRT1_2));
}

static void layernorm(float *y, const float *x, const float *w, const float *b, int n, int d, float eps)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double s = 0, ss = 0;
        for (int j = 0; j < d; j++) s += xi[j];
        double mu = s / d;
        for (int j = 0; j < d; j++) ss += (xi[j] - mu) * (xi[j] - mu);
        float r = (float)(1.0 / sqrt(ss / d + eps));
        float *yi = y + (size_t)i * d;
        for (int j = 0; j < d; j++) yi[j] = (float)((xi[j] - mu) * r) * w[j] + b[j];
    }
}

ocr_status vis_nano_encode(const vis_nano *m, const float *ink, int h, int w, float *out,
                           ocr_err *e)
{
    const vis_nano_config *c = &m->c;
    if (h % (8 * c->merge) || w % 8 || h / 8 > c->max_rows || w / 8 > c->max_cols || w < 8)
        return ocr_err_set(e, OCR_E_ARG,
                           "vis_nano_encode: crop %dx%d: height must be a multiple of %d up to %d, "
                           "width a multiple of 8 up to %d",
                           w, h, 8 * c->merge, 8 * c->max_rows, 8 * c->max_cols);
    const int R = h / 8, C = w / 8, N = R * C, vd = c->vd, G = R / c->merge;
    const int cins[3] = {1, c->c1, c->c2}, couts[3] = {c->c1, c->c2, c->c3};
    /* One scratch block per call, exactly what the carving below uses. */
    size_t need = 0;
    for (int i = 0, Hh = h, Ww = w; i < 3; i++, Hh /= 2, Ww /= 2)
        need += (size_t)(Hh / 2) * (Ww / 2) * (9 * (size_t)cins[i] + (size_t)couts[i]);
    need += (size_t)N * (7 * (size_t)vd + (size_t)c->v_mlp + (size_t)N) +
            (size_t)G * C * ((size_t)c->merge * vd + 2 * (size_t)c->d);
    float *buf = ocr_aligned_alloc(need * sizeof(float));
    if (!buf) return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_encode: out of memory");
    float *cur = buf;
    const float *src = ink;
    int H = h, W = w;
    float *outs[3];
    for (int i = 0; i < 3; i++) {
        int Ho = H / 2, Wo = W / 2, kc = 9 * cins[i];
        float *cl = cur;
        cur += (size_t)Ho * Wo * kc;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float *cc = cl + ((size_t)oy * Wo + ox) * kc;
                for (int ky = 0; ky < 3; ky++) {
                    int iy = oy * 2 + ky - 1;
                    for (int kx = 0; kx < 3; kx++) {
                        int ix = ox * 2 + kx - 1;
                        float *d = cc + (ky * 3 + kx) * cins[i];
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            memset(d, 0, sizeof(float) * cins[i]);
                        else
                            memcpy(d, src + ((size_t)iy * W + ix) * cins[i], sizeof(float) * cins[i]);
                    }
                }
            }
        outs[i] = cur;
        cur += (size_t)Ho * Wo * couts[i];
        linear(outs[i], cl, m->conv_w[i], m->conv_b[i], Ho * Wo, kc, couts[i]);
        gelu(outs[i], (size_t)Ho * Wo * couts[i]);
        src = outs[i];
        H = Ho;
        W = Wo;
    }
    float *x = cur;       cur += (size_t)N * vd;
    float *ln = cur;      cur += (size_t)N * vd;
    float *qkv = cur;     cur += (size_t)N * 3 * vd;
    float *att = cur;     cur += (size_t)N * vd;
    float *tmp = cur;     cur += (size_t)N * vd;
    float *f1 = cur;      cur += (size_t)N * c->v_mlp;
    float *P = cur;       cur += (size_t)N * N;
    linear(x, outs[2], m->patch_w, m->patch_b, N, c->c3, vd);
    for (int r = 0; r < R; r++)
        for (int cc = 0; cc < C; cc++) {
            float *t = x + ((size_t)r * C + cc) * vd;
            for (int j = 0; j < vd; j++) t[j] += m->pos_row[(size_t)r * vd + j] + m->pos_col[(size_t)cc * vd + j];
        }
    const int hd = vd / c->v_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int l = 0; l < c->v_layers; l++) {
        const nano_block *b = &m->bl[l];
        layernorm(ln, x, b->ln1_w, b->ln1_b, N, vd, c->ln_eps);
        linear(qkv, ln, b->qkv_w, b->qkv_b, N, vd, 3 * vd);
        for (int hh = 0; hh < c->v_heads; hh++) {
            ocr_sgemm(false, true, N, N, hd, scale, qkv + hh * hd, 3 * vd, qkv + vd + hh * hd, 3 * vd,
                      0.0f, P, N);
            for (int i = 0; i < N; i++) {
                float *row = P + (size_t)i * N;
                float mx = row[0];
                for (int j = 1; j < N; j++) mx = row[j] > mx ? row[j] : mx;
                double s = 0;
                for (int j = 0; j < N; j++) {
                    row[j] = expf(row[j] - mx);
                    s += row[j];
                }
                float inv = (float)(1.0 / s);
                for (int j = 0; j < N; j++) row[j] *= inv;
            }
            ocr_sgemm(false, false, N, hd, N, 1.0f, P, N, qkv + 2 * vd + hh * hd, 3 * vd, 0.0f,
                      att + hh * hd, vd);
        }
        linear(tmp, att, b->proj_w, b->proj_b, N, vd, vd);
        for (size_t i = 0; i < (size_t)N * vd; i++) x[i] += tmp[i];
        layernorm(ln, x, b->ln2_w, b->ln2_b, N, vd, c->ln_eps);
        linear(f1, ln, b->fc1_w, b->fc1_b, N, vd, c->v_mlp);
        gelu(f1, (size_t)N * c->v_mlp);
        linear(tmp, f1, b->fc2_w, b->fc2_b, N, c->v_mlp, vd);
        for (size_t i = 0; i < (size_t)N * vd; i++) x[i] += tmp[i];
    }
    layernorm(ln, x, m->vln_w, m->vln_b, N, vd, c->ln_eps);
    const int mv = c->merge * vd, Nc = G * C;
    float *cin = cur;  cur += (size_t)Nc * mv;
    float *cp = cur;   cur += (size_t)Nc * c->d;
    float *rows = cur;
    for (int g = 0; g < G; g++)
        for (int cc = 0; cc < C; cc++)
            for (int k = 0; k < c->merge; k++)
                memcpy(cin + ((size_t)g * C + cc) * mv + (size_t)k * vd,
                       ln + ((size_t)(g * c->merge + k) * C + cc) * vd, sizeof(float) * vd);
    linear(cp, cin, m->comp_w, m->comp_b, Nc, mv, c->d);
    gelu(cp, (size_t)Nc * c->d);
    linear(rows, cp, m->proj_w, m->proj_b, Nc, c->d, c->d);
    for (int g = 0; g < G; g++) {
        for (int cc = 0; cc < C; cc++)
            memcpy(out + ((size_t)g * (C + 1) + cc) * c->d, rows + ((size_t)g * C + cc) * c->d,
                   sizeof(float) * c->d);
        memcpy(out + ((size_t)g * (C + 1) + C) * c->d, m->newline, sizeof(float) * c->d);
    }
    free(buf);
    return OCR_OK;
}

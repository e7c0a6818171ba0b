/* train/trn_fwd.c — forward and backward of the whole vlocr-nano model.
 *
 * trn_forward keeps every activation the backward needs in the state
 * (buffers allocated once for the limits); trn_backward walks the same ops
 * in reverse and accumulates into the model's gradient buffer. The decoder
 * follows HF modeling_deepseek(v2).py in its naive (non-absorbed) MLA form:
 * k = [c·W_UKᵀ, k_pe], v = c·W_UVᵀ, which the inference engine's absorbed
 * form reproduces exactly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/trn.h"

typedef struct {
    float *ln1, *m1, *r1, *qkv, *P, *att, *xmid, *ln2, *m2, *r2, *f1, *f1a;
} enc_layer;

typedef struct {
    float *x, *h1, *r1, *q, *kva, *c, *rc, *kvb, *K, *V, *P, *att, *xmid, *h2, *r2;
    float *g, *u, *a;          /* dense MLP or shared experts [N, inter] */
    float *s;                  /* router sigmoid scores [N, E] */
    int32_t *ids;              /* [N, K] chosen experts (−1: not routed) */
    float *wts;                /* [N, K] gate weights */
    int32_t *row_tok, *row_k;  /* [R]: token and slot of each routed row */
    int32_t *tok_row;          /* [N, K]: row of each token slot */
    int *off;                  /* [E + 1] expert row offsets */
    float *Xe, *ge, *ue, *ae, *oe;
} dec_layer;

struct trn_state {
    trn_config c;
    trn_limits lim;
    /* shapes of the last forward */
    int B, H, W, R, C, G, Ne, Nc, n_img, T, N, Nt, nrouted;
    /* encoder */
    float *col[3], *pre[3], *act[3];
    float **xs;       /* [v_layers + 1] residual stream of the ViT */
    enc_layer *el;
    float *vln, *vm, *vr, *cin, *cpre, *cact, *rows;
    /* decoder */
    dec_layer *dl;
    float *xf, *hf, *rf, *hg, *logits, *dlogits;
    int32_t *tgt_idx, *tgt;
    int *pos;
    uint8_t *valid;
    /* backward scratch */
    float *d_x, *d_res, *d_h, *d_a, *d_b, *d_c, *d_e, *d_f, *d_col, *d_img, *d_att;
    float *sc_tt;
    /* CTC auxiliary loss (training only) */
    float ctc_weight;
    bool ctc_active;
    float *ctc_logits, *ctc_dlogits;
    int32_t *ctc_lab;
    double xent, ctc;
    int ctc_used;
    double loss;
    void **allocs;
    int n_allocs, cap_allocs;
};

/* ------------------------------------------------------------ allocation */

static float *A(trn_state *s, size_t n, bool *ok)
{
    if (!*ok) return NULL;
    if (s->n_allocs == s->cap_allocs) {
        int cap = s->cap_allocs ? 2 * s->cap_allocs : 256;
        void **p = realloc(s->allocs, (size_t)cap * sizeof *p);
        if (!p) { *ok = false; return NULL; }
        s->allocs = p;
        s->cap_allocs = cap;
    }
    float *p = ocr_aligned_alloc((n ? n : 1) * sizeof(float));
    if (!p) { *ok = false; return NULL; }
    memset(p, 0, (n ? n : 1) * sizeof(float));
    s->allocs[s->n_allocs++] = p;
    return p;
}

static size_t zmax(size_t a, size_t b) { return a > b ? a : b; }

int trn_image_rows(const trn_config *c, int H, int W)
{
    return (H / 8 / c->merge) * (W / 8 + 1);
}

static bool is_moe(const trn_config *c, int l) { return c->n_routed > 0 && l >= c->first_dense; }

/* Distance between consecutive experts' matrices in the flat buffer: every
 * tensor starts on a 16-float boundary (trn_model.c). */
static size_t ES(int mi, int d) { return ((size_t)mi * (size_t)d + 15) & ~(size_t)15; }

ocr_status trn_state_create(trn_state **out, const trn_model *m, const trn_limits *lim,
                            ocr_err *e)
{
    *out = NULL;
    const trn_config *c = &m->cfg;
    if (lim->max_B < 1 || lim->max_H < 8 || lim->max_W < 8 || lim->max_H % 8 ||
        lim->max_W % 8 || lim->max_H / 8 > c->max_rows || lim->max_W / 8 > c->max_cols ||
        (lim->max_H / 8) % c->merge || lim->max_T < 4)
        return ocr_err_set(e, OCR_E_ARG,
                           "trn_state_create: limits B %d H %d W %d T %d do not fit the model "
                           "(H, W multiples of 8, H/8 ≤ %d and a multiple of %d, W/8 ≤ %d)",
                           lim->max_B, lim->max_H, lim->max_W, lim->max_T, c->max_rows,
                           c->merge, c->max_cols);
    trn_state *s = calloc(1, sizeof *s);
    if (!s) return ocr_err_set(e, OCR_E_NOMEM, "trn_state_create: out of memory");
    s->c = *c;
    s->lim = *lim;
    bool ok = true;
    const size_t B = (size_t)lim->max_B, H = (size_t)lim->max_H, W = (size_t)lim->max_W;
    const size_t R = H / 8, C = W / 8, Ne = B * R * C, Tenc = R * C;
    const size_t N1 = B * (H / 2) * (W / 2), N2 = B * (H / 4) * (W / 4);
    const size_t Nc = B * (R / (size_t)c->merge) * C;
    const size_t T = (size_t)lim->max_T, N = B * T;
    const size_t vd = (size_t)c->vd, d = (size_t)c->d, Hh = (size_t)c->heads;
    const size_t qk = (size_t)(c->nope + c->rope), K = (size_t)c->topk, E = (size_t)c->n_routed;
    const size_t Rm = N * K;
    const size_t si = (size_t)c->moe_inter * (size_t)c->n_shared;
    const size_t ffw = zmax((size_t)c->inter, si);
    const size_t ns[3] = {N1, N2, Ne}, cins[3] = {1, (size_t)c->c1, (size_t)c->c2};
    const size_t couts[3] = {(size_t)c->c1, (size_t)c->c2, (size_t)c->c3};
    size_t maxcol = 0;
    for (int i = 0; i < 3; i++) {
        s->col[i] = A(s, ns[i] * 9 * cins[i], &ok);
        s->pre[i] = A(s, ns[i] * couts[i], &ok);
        s->act[i] = A(s, ns[i] * couts[i], &ok);
        maxcol = zmax(maxcol, ns[i] * 9 * cins[i]);
    }
    s->xs = calloc((size_t)c->v_layers + 1, sizeof *s->xs);
    s->el = calloc((size_t)c->v_layers + 1, sizeof *s->el);
    s->dl = calloc((size_t)c->layers, sizeof *s->dl);
    if (!s->xs || !s->el || !s->dl) ok = false;
    for (int l = 0; ok && l <= c->v_layers; l++) s->xs[l] = A(s, Ne * vd, &ok);
    for (int l = 0; ok && l < c->v_layers; l++) {
        enc_layer *L = &s->el[l];
        L->ln1 = A(s, Ne * vd, &ok); L->m1 = A(s, Ne, &ok); L->r1 = A(s, Ne, &ok);
        L->qkv = A(s, Ne * 3 * vd, &ok);
        L->P = A(s, B * (size_t)c->v_heads * Tenc * Tenc, &ok);
        L->att = A(s, Ne * vd, &ok); L->xmid = A(s, Ne * vd, &ok);
        L->ln2 = A(s, Ne * vd, &ok); L->m2 = A(s, Ne, &ok); L->r2 = A(s, Ne, &ok);
        L->f1 = A(s, Ne * (size_t)c->v_mlp, &ok); L->f1a = A(s, Ne * (size_t)c->v_mlp, &ok);
    }
    s->vln = A(s, Ne * vd, &ok); s->vm = A(s, Ne, &ok); s->vr = A(s, Ne, &ok);
    s->cin = A(s, Nc * (size_t)c->merge * vd, &ok);
    s->cpre = A(s, Nc * d, &ok); s->cact = A(s, Nc * d, &ok); s->rows = A(s, Nc * d, &ok);
    for (int l = 0; ok && l < c->layers; l++) {
        dec_layer *L = &s->dl[l];
        L->x = A(s, N * d, &ok);
        L->h1 = A(s, N * d, &ok); L->r1 = A(s, N, &ok);
        L->q = A(s, N * Hh * qk, &ok);
        L->kva = A(s, N * (size_t)(c->kv_lora + c->rope), &ok);
        L->c = A(s, N * (size_t)c->kv_lora, &ok); L->rc = A(s, N, &ok);
        L->kvb = A(s, N * Hh * (size_t)(c->nope + c->vdim), &ok);
        L->K = A(s, N * Hh * qk, &ok);
        L->V = A(s, N * Hh * (size_t)c->vdim, &ok);
        L->P = A(s, B * Hh * T * T, &ok);
        L->att = A(s, N * Hh * (size_t)c->vdim, &ok);
        L->xmid = A(s, N * d, &ok);
        L->h2 = A(s, N * d, &ok); L->r2 = A(s, N, &ok);
        size_t w = is_moe(c, l) ? si : (size_t)c->inter;
        L->g = A(s, N * w, &ok); L->u = A(s, N * w, &ok); L->a = A(s, N * w, &ok);
        if (is_moe(c, l)) {
            L->s = A(s, N * E, &ok);
            L->ids = (int32_t *)A(s, N * K, &ok);
            L->wts = A(s, N * K, &ok);
            L->row_tok = (int32_t *)A(s, Rm, &ok);
            L->row_k = (int32_t *)A(s, Rm, &ok);
            L->tok_row = (int32_t *)A(s, N * K, &ok);
            L->off = (int *)A(s, E + 1, &ok);
            L->Xe = A(s, Rm * d, &ok);
            L->ge = A(s, Rm * (size_t)c->moe_inter, &ok);
            L->ue = A(s, Rm * (size_t)c->moe_inter, &ok);
            L->ae = A(s, Rm * (size_t)c->moe_inter, &ok);
            L->oe = A(s, Rm * d, &ok);
        }
    }
    s->xf = A(s, N * d, &ok); s->hf = A(s, N * d, &ok); s->rf = A(s, N, &ok);
    s->hg = A(s, N * d, &ok);
    s->logits = A(s, N * (size_t)c->vocab, &ok);
    s->dlogits = A(s, N * (size_t)c->vocab, &ok);
    s->tgt_idx = (int32_t *)A(s, N, &ok);
    s->tgt = (int32_t *)A(s, N, &ok);
    s->pos = (int *)A(s, N, &ok);
    s->valid = (uint8_t *)A(s, N, &ok);
    /* Backward scratch: each is as large as the largest tensor it stands in for. */
    size_t big = zmax(zmax(Ne * (size_t)c->v_mlp, Ne * 3 * vd), zmax(N * ffw, Rm * (size_t)c->moe_inter));
    big = zmax(big, zmax(N * Hh * qk, N * Hh * (size_t)(c->nope + c->vdim)));
    big = zmax(big, zmax(ns[0] * couts[0], zmax(ns[1] * couts[1], ns[2] * couts[2])));
    big = zmax(big, zmax(Rm * d, N * E));
    s->d_x = A(s, zmax(N * d, Ne * vd), &ok);
    s->d_res = A(s, N * d, &ok);
    s->d_h = A(s, zmax(zmax(N * d, Ne * vd), big), &ok);
    s->d_a = A(s, big, &ok);
    s->d_b = A(s, big, &ok);
    s->d_c = A(s, big, &ok);
    s->d_e = A(s, big, &ok);
    s->d_f = A(s, big, &ok);
    s->d_att = A(s, big, &ok);
    s->d_col = A(s, maxcol, &ok);
    s->d_img = A(s, zmax(Nc * d, Nc * (size_t)c->merge * vd), &ok);
    s->sc_tt = A(s, TRN_ATTN_THREADS * zmax(T * T, Tenc * Tenc), &ok); /* per attention thread */
    s->ctc_logits = A(s, Nc * TRN_CTC_SPLIT * (size_t)c->vocab, &ok);
    s->ctc_dlogits = A(s, Nc * TRN_CTC_SPLIT * (size_t)c->vocab, &ok);
    s->ctc_lab = (int32_t *)A(s, T, &ok);
    if (!ok) {
        trn_state_destroy(&s);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_state_create: out of memory for B %d H %d W %d T %d",
                           lim->max_B, lim->max_H, lim->max_W, lim->max_T);
    }
    *out = s;
    return OCR_OK;
}

void trn_state_destroy(trn_state **ps)
{
    if (!ps || !*ps) return;
    trn_state *s = *ps;
    for (int i = 0; i < s->n_allocs; i++) free(s->allocs[i]);
    free(s->allocs);
    free(s->xs);
    free(s->el);
    free(s->dl);
    free(s);
    *ps = NULL;
}

/* ---------------------------------------------------------------- encoder */

static void encoder_forward(trn_model *m, trn_state *s, const trn_batch *b)
{
    const trn_config *c = &m->cfg;
    const trn_weights *W = &m->W;
    const int B = b->B;
    int H = b->H, Wd = b->W;
    const int cins[3] = {1, c->c1, c->c2}, couts[3] = {c->c1, c->c2, c->c3};
    const float *x = b->img;
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)B * (H / 2) * (Wd / 2) * couts[i];
        trn_conv_forward(s->pre[i], s->col[i], x, W->conv_w[i], W->conv_b[i], B, H, Wd,
                         cins[i], couts[i]);
        trn_gelu_forward(s->act[i], s->pre[i], n);
        x = s->act[i];
        H /= 2;
        Wd /= 2;
    }
    const int R = H, C = Wd, vd = c->vd, Ne = B * R * C;
    s->R = R; s->C = C; s->Ne = Ne;
    float *x0 = s->xs[0];
    trn_linear_forward(x0, s->act[2], W->patch_w, W->patch_b, Ne, c->c3, vd);
    for (int bb = 0; bb < B; bb++)
        for (int r = 0; r < R; r++)
            for (int cc = 0; cc < C; cc++) {
                float *t = x0 + (((size_t)bb * R + r) * C + cc) * vd;
                for (int j = 0; j < vd; j++)
                    t[j] += W->pos_row[(size_t)r * vd + j] + W->pos_col[(size_t)cc * vd + j];
            }
    const int hd = vd / c->v_heads;
    trn_attn_shape as = {B, R * C, c->v_heads, hd, hd, 3 * vd, 3 * vd, 3 * vd, vd,
                         1.0f / sqrtf((float)hd), false};
    for (int l = 0; l < c->v_layers; l++) {
        enc_layer *L = &s->el[l];
        const float *xi = s->xs[l];
        float *xo = s->xs[l + 1];
        trn_layernorm_forward(L->ln1, L->m1, L->r1, xi, W->vl[l].ln1_w, W->vl[l].ln1_b, Ne, vd, c->ln_eps);
        trn_linear_forward(L->qkv, L->ln1, W->vl[l].qkv_w, W->vl[l].qkv_b, Ne, vd, 3 * vd);
        trn_attn_forward(L->att, L->P, L->qkv, L->qkv + vd, L->qkv + 2 * vd, &as);
        trn_linear_forward(L->xmid, L->att, W->vl[l].proj_w, W->vl[l].proj_b, Ne, vd, vd);
        for (size_t i = 0; i < (size_t)Ne * vd; i++) L->xmid[i] += xi[i];
        trn_layernorm_forward(L->ln2, L->m2, L->r2, L->xmid, W->vl[l].ln2_w, W->vl[l].ln2_b, Ne, vd, c->ln_eps);
        trn_linear_forward(L->f1, L->ln2, W->vl[l].fc1_w, W->vl[l].fc1_b, Ne, vd, c->v_mlp);
        trn_gelu_forward(L->f1a, L->f1, (size_t)Ne * c->v_mlp);
        trn_linear_forward(xo, L->f1a, W->vl[l].fc2_w, W->vl[l].fc2_b, Ne, c->v_mlp, vd);
        for (size_t i = 0; i < (size_t)Ne * vd; i++) xo[i] += L->xmid[i];
    }
    trn_layernorm_forward(s->vln, s->vm, s->vr, s->xs[c->v_layers], W->vln_w, W->vln_b, Ne, vd, c->ln_eps);
    /* Compressor: the `merge` rows of each column of a row group become one
     * token (DeepSeek-OCR's 16x compressor squeezes space the same way). */
    const int G = R / c->merge, Nc = B * G * C, mv = c->merge * vd;
    s->G = G; s->Nc = Nc;
    for (int bb = 0; bb < B; bb++)
        for (int g = 0; g < G; g++)
            for (int cc = 0; cc < C; cc++)
                for (int k = 0; k < c->merge; k++)
                    memcpy(s->cin + (((size_t)bb * G + g) * C + cc) * mv + (size_t)k * vd,
                           s->vln + (((size_t)bb * R + g * c->merge + k) * C + cc) * vd,
                           sizeof(float) * vd);
    trn_linear_forward(s->cpre, s->cin, W->comp_w, W->comp_b, Nc, mv, c->d);
    trn_gelu_forward(s->cact, s->cpre, (size_t)Nc * c->d);
    trn_linear_forward(s->rows, s->cact, W->proj_w, W->proj_b, Nc, c->d, c->d);
}

/* d_rows [Nc, d] → parameter gradients (the image is not differentiated). */
static void encoder_backward(trn_model *m, trn_state *s, const trn_batch *b, float *d_rows)
{
    const trn_config *c = &m->cfg;
    const trn_weights *W = &m->W;
    trn_weights *G = &m->G;
    const int B = b->B, R = s->R, C = s->C, Ne = s->Ne, Nc = s->Nc, vd = c->vd, d = c->d;
    const int mv = c->merge * vd;
    float *d_cact = s->d_a, *d_cin = s->d_b;
    memset(d_cact, 0, sizeof(float) * (size_t)Nc * d);
    trn_linear_backward(d_cact, G->proj_w, G->proj_b, d_rows, s->cact, W->proj_w, Nc, d, d);
    float *d_cpre = s->d_c;
    memset(d_cpre, 0, sizeof(float) * (size_t)Nc * d);
    trn_gelu_backward(d_cpre, d_cact, s->cpre, (size_t)Nc * d);
    memset(d_cin, 0, sizeof(float) * (size_t)Nc * mv);
    trn_linear_backward(d_cin, G->comp_w, G->comp_b, d_cpre, s->cin, W->comp_w, Nc, mv, d);
    float *d_vln = s->d_h;
    for (int bb = 0; bb < B; bb++)
        for (int g = 0; g < s->G; g++)
            for (int cc = 0; cc < C; cc++)
                for (int k = 0; k < c->merge; k++)
                    memcpy(d_vln + (((size_t)bb * R + g * c->merge + k) * C + cc) * vd,
                           d_cin + (((size_t)bb * s->G + g) * C + cc) * mv + (size_t)k * vd,
                           sizeof(float) * vd);
    float *dx = s->d_x;
    memset(dx, 0, sizeof(float) * (size_t)Ne * vd);
    trn_layernorm_backward(dx, G->vln_w, G->vln_b, d_vln, s->xs[c->v_layers], s->vm, s->vr,
                           W->vln_w, Ne, vd);
    const int hd = vd / c->v_heads;
    trn_attn_shape as = {B, R * C, c->v_heads, hd, hd, 3 * vd, 3 * vd, 3 * vd, vd,
                         1.0f / sqrtf((float)hd), false};
    for (int l = c->v_layers - 1; l >= 0; l--) {
        enc_layer *L = &s->el[l];
        /* dx is the gradient of xs[l+1] = xmid + fc2(gelu(fc1(ln2(xmid)))) */
        float *d_f1a = s->d_a, *d_f1 = s->d_b, *d_ln = s->d_h;
        memset(d_f1a, 0, sizeof(float) * (size_t)Ne * c->v_mlp);
        trn_linear_backward(d_f1a, G->vl[l].fc2_w, G->vl[l].fc2_b, dx, L->f1a, W->vl[l].fc2_w, Ne, c->v_mlp, vd);
        memset(d_f1, 0, sizeof(float) * (size_t)Ne * c->v_mlp);
        trn_gelu_backward(d_f1, d_f1a, L->f1, (size_t)Ne * c->v_mlp);
        memset(d_ln, 0, sizeof(float) * (size_t)Ne * vd);
        trn_linear_backward(d_ln, G->vl[l].fc1_w, G->vl[l].fc1_b, d_f1, L->ln2, W->vl[l].fc1_w, Ne, vd, c->v_mlp);
        trn_layernorm_backward(dx, G->vl[l].ln2_w, G->vl[l].ln2_b, d_ln, L->xmid, L->m2, L->r2, W->vl[l].ln2_w, Ne, vd);
        /* dx is now the gradient of xmid = x + proj(attn(ln1(x))) */
        float *d_att = s->d_att, *d_qkv = s->d_c;
        memset(d_att, 0, sizeof(float) * (size_t)Ne * vd);
        trn_linear_backward(d_att, G->vl[l].proj_w, G->vl[l].proj_b, dx, L->att, W->vl[l].proj_w, Ne, vd, vd);
        memset(d_qkv, 0, sizeof(float) * (size_t)Ne * 3 * vd);
        trn_attn_backward(d_qkv, d_qkv + vd, d_qkv + 2 * vd, d_att, L->P, L->qkv, L->qkv + vd,
                          L->qkv + 2 * vd, &as, s->sc_tt);
        memset(d_ln, 0, sizeof(float) * (size_t)Ne * vd);
        trn_linear_backward(d_ln, G->vl[l].qkv_w, G->vl[l].qkv_b, d_qkv, L->ln1, W->vl[l].qkv_w, Ne, vd, 3 * vd);
        trn_layernorm_backward(dx, G->vl[l].ln1_w, G->vl[l].ln1_b, d_ln, s->xs[l], L->m1, L->r1, W->vl[l].ln1_w, Ne, vd);
    }
    /* Position embeddings and the patch projection. */
    for (int bb = 0; bb < B; bb++)
        for (int r = 0; r < R; r++)
            for (int cc = 0; cc < C; cc++) {
                const float *t = dx + (((size_t)bb * R + r) * C + cc) * vd;
                for (int j = 0; j < vd; j++) {
                    G->pos_row[(size_t)r * vd + j] += t[j];
                    G->pos_col[(size_t)cc * vd + j] += t[j];
                }
            }
    const int cins[3] = {1, c->c1, c->c2}, couts[3] = {c->c1, c->c2, c->c3};
    float *d_act = s->d_a;
    memset(d_act, 0, sizeof(float) * (size_t)Ne * c->c3);
    trn_linear_backward(d_act, G->patch_w, G->patch_b, dx, s->act[2], W->patch_w, Ne, c->c3, vd);
    int Hs[3] = {b->H, b->H / 2, b->H / 4}, Ws[3] = {b->W, b->W / 2, b->W / 4};
    for (int i = 2; i >= 0; i--) {
        size_t n = (size_t)B * (Hs[i] / 2) * (Ws[i] / 2) * couts[i];
        float *d_pre = s->d_b;
        memset(d_pre, 0, sizeof(float) * n);
        trn_gelu_backward(d_pre, d_act, s->pre[i], n);
        float *d_in = NULL;
        if (i > 0) {
            d_in = s->d_c;
            memset(d_in, 0, sizeof(float) * (size_t)B * Hs[i] * Ws[i] * cins[i]);
        }
        trn_conv_backward(d_in, G->conv_w[i], G->conv_b[i], s->d_col, d_pre, s->col[i],
                          W->conv_w[i], B, Hs[i], Ws[i], cins[i], couts[i]);
        if (i > 0) {
            /* swap so the next iteration reads d_act */
            float *t = s->d_a;
            s->d_a = s->d_c;
            s->d_c = t;
            d_act = s->d_a;
        }
    }
}

/* ------------------------------------------------------------------- MoE */

static void moe_route(trn_state *s, const trn_model *m, int l, bool freeze, double *load)
{
    const trn_config *c = &m->cfg;
    dec_layer *L = &s->dl[l];
    const int N = s->N, E = c->n_routed, K = c->topk;
    const float *bias = m->moe_bias + (size_t)l * (E + 1);
    /* s = sigmoid(h·Wgᵀ) */
    trn_linear_forward(L->s, L->h2, m->W.dl[l].router, NULL, N, c->d, E);
    for (size_t i = 0; i < (size_t)N * E; i++) L->s[i] = 1.0f / (1.0f + expf(-L->s[i]));
    for (int i = 0; i < N; i++) {
        int32_t *id = L->ids + (size_t)i * K;
        float *w = L->wts + (size_t)i * K;
        const float *sc = L->s + (size_t)i * E;
        if (!s->valid[i]) {
            for (int k = 0; k < K; k++) id[k] = -1, w[k] = 0.0f;
            continue;
        }
        if (!freeze) {
            /* Top-k on score + bias (bias selects only); first index wins ties. */
            for (int k = 0; k < K; k++) {
                int best = -1;
                float bv = 0.0f;
                for (int x = 0; x < E; x++) {
                    bool used = false;
                    for (int j = 0; j < k; j++) used |= id[j] == x;
                    if (used) continue;
                    float v = sc[x] + bias[x];
                    if (best < 0 || v > bv) best = x, bv = v;
                }
                id[k] = best;
            }
        }
        double sum = 0;
        for (int k = 0; k < K; k++) sum += sc[id[k]];
        for (int k = 0; k < K; k++)
            w[k] = (float)(sc[id[k]] / (sum + 1e-20)) * c->routed_scale;
    }
    /* Rows grouped by expert, tokens in order inside each group. */
    int *off = L->off;
    memset(off, 0, sizeof(int) * (size_t)(E + 1));
    for (int i = 0; i < N * K; i++)
        if (L->ids[i] >= 0) off[L->ids[i] + 1]++;
    if (load)
        for (int x = 0; x < E; x++) load[(size_t)l * E + x] += off[x + 1];
    for (int x = 0; x < E; x++) off[x + 1] += off[x];
    int cur[1024];
    for (int x = 0; x < E; x++) cur[x] = off[x];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++) {
            int x = L->ids[(size_t)i * K + k];
            if (x < 0) {
                L->tok_row[(size_t)i * K + k] = -1;
                continue;
            }
            int r = cur[x]++;
            L->row_tok[r] = i;
            L->row_k[r] = k;
            L->tok_row[(size_t)i * K + k] = r;
        }
    s->nrouted = off[E];
}

static void mlp_forward(float *out, float *g, float *u, float *a, const float *h,
                        const float *wg, const float *wu, const float *wd, int n, int d, int inter)
{
    trn_linear_forward(g, h, wg, NULL, n, d, inter);
    trn_linear_forward(u, h, wu, NULL, n, d, inter);
    trn_swiglu_forward(a, g, u, (size_t)n * inter);
    trn_linear_forward(out, a, wd, NULL, n, inter, d);
}

/* dh += ∂/∂h of out = down(silu(gate h)·up h); uses s->d_e/d_f/d_att as scratch. */
static void mlp_backward(trn_state *s, float *dh, float *dwg, float *dwu, float *dwd,
                         const float *dout, const float *g, const float *u, const float *a,
                         const float *h, const float *wg, const float *wu, const float *wd,
                         int n, int d, int inter)
{
    if (n <= 0) return;
    float *da = s->d_e, *dg = s->d_f, *du = s->d_att;
    size_t ni = (size_t)n * inter;
    memset(da, 0, sizeof(float) * ni);
    trn_linear_backward(da, dwd, NULL, dout, a, wd, n, inter, d);
    memset(dg, 0, sizeof(float) * ni);
    memset(du, 0, sizeof(float) * ni);
    trn_swiglu_backward(dg, du, da, g, u, ni);
    trn_linear_backward(dh, dwg, NULL, dg, h, wg, n, d, inter);
    trn_linear_backward(dh, dwu, NULL, du, h, wu, n, d, inter);
}

static void moe_forward(trn_state *s, const trn_model *m, int l, float *out, bool freeze,
                        double *load)
{
    const trn_config *c = &m->cfg;
    dec_layer *L = &s->dl[l];
    const int N = s->N, d = c->d, E = c->n_routed, K = c->topk, mi = c->moe_inter;
    const int si = mi * c->n_shared;
    moe_route(s, m, l, freeze, load);
    if (si > 0)
        mlp_forward(out, L->g, L->u, L->a, L->h2, m->W.dl[l].gate, m->W.dl[l].up,
                    m->W.dl[l].down, N, d, si);
    else
        memset(out, 0, sizeof(float) * (size_t)N * d);
    for (int r = 0; r < s->nrouted; r++)
        memcpy(L->Xe + (size_t)r * d, L->h2 + (size_t)L->row_tok[r] * d, sizeof(float) * d);
    for (int x = 0; x < E; x++) {
        int r0 = L->off[x], n = L->off[x + 1] - r0;
        if (n == 0) continue;
        mlp_forward(L->oe + (size_t)r0 * d, L->ge + (size_t)r0 * mi, L->ue + (size_t)r0 * mi,
                    L->ae + (size_t)r0 * mi, L->Xe + (size_t)r0 * d,
                    m->W.dl[l].eg + ES(mi, d) * x, m->W.dl[l].eu + ES(mi, d) * x,
                    m->W.dl[l].ed + ES(mi, d) * x, n, d, mi);
    }
    for (int r = 0; r < s->nrouted; r++) {
        int i = L->row_tok[r];
        float w = L->wts[(size_t)i * K + L->row_k[r]];
        float *o = out + (size_t)i * d;
        const float *oe = L->oe + (size_t)r * d;
        for (int j = 0; j < d; j++) o[j] += w * oe[j];
    }
}

/* dout [N,d] → dh2 (+=) and parameter gradients. */
static void moe_backward(trn_state *s, trn_model *m, int l, float *dh2, const float *dout)
{
    const trn_config *c = &m->cfg;
    dec_layer *L = &s->dl[l];
    const trn_weights *W = &m->W;
    trn_weights *G = &m->G;
    const int N = s->N, d = c->d, E = c->n_routed, K = c->topk, mi = c->moe_inter;
    const int si = mi * c->n_shared;
    if (si > 0)
        mlp_backward(s, dh2, G->dl[l].gate, G->dl[l].up, G->dl[l].down, dout, L->g, L->u, L->a,
                     L->h2, W->dl[l].gate, W->dl[l].up, W->dl[l].down, N, d, si);
    float *doe = s->d_a, *dXe = s->d_b, *dw = s->d_c, *dlog = s->d_h;
    memset(dw, 0, sizeof(float) * (size_t)N * K);
    for (int r = 0; r < s->nrouted; r++) {
        int i = L->row_tok[r], k = L->row_k[r];
        float w = L->wts[(size_t)i * K + k];
        const float *dy = dout + (size_t)i * d, *oe = L->oe + (size_t)r * d;
        float *de = doe + (size_t)r * d;
        double dot = 0;
        for (int j = 0; j < d; j++) {
            de[j] = w * dy[j];
            dot += (double)dy[j] * oe[j];
        }
        dw[(size_t)i * K + k] = (float)dot;
    }
    memset(dXe, 0, sizeof(float) * (size_t)s->nrouted * d);
    for (int x = 0; x < E; x++) {
        int r0 = L->off[x], n = L->off[x + 1] - r0;
        if (n == 0) continue;
        mlp_backward(s, dXe + (size_t)r0 * d, G->dl[l].eg + ES(mi, d) * x,
                     G->dl[l].eu + ES(mi, d) * x, G->dl[l].ed + ES(mi, d) * x,
                     doe + (size_t)r0 * d, L->ge + (size_t)r0 * mi, L->ue + (size_t)r0 * mi,
                     L->ae + (size_t)r0 * mi, L->Xe + (size_t)r0 * d,
                     W->dl[l].eg + ES(mi, d) * x, W->dl[l].eu + ES(mi, d) * x,
                     W->dl[l].ed + ES(mi, d) * x, n, d, mi);
    }
    for (int r = 0; r < s->nrouted; r++) {
        float *o = dh2 + (size_t)L->row_tok[r] * d;
        const float *g = dXe + (size_t)r * d;
        for (int j = 0; j < d; j++) o[j] += g[j];
    }
    /* Router: w_k = rsf·s_k/Σs over the selected; s = sigmoid(logit). The
     * bias chose the experts and has no gradient. */
    memset(dlog, 0, sizeof(float) * (size_t)N * E);
    for (int i = 0; i < N; i++) {
        const int32_t *id = L->ids + (size_t)i * K;
        if (id[0] < 0) continue;
        const float *sc = L->s + (size_t)i * E;
        const float *dwi = dw + (size_t)i * K;
        double S = 1e-20, t = 0;
        for (int k = 0; k < K; k++) S += sc[id[k]];
        for (int k = 0; k < K; k++) t += (double)dwi[k] * sc[id[k]];
        for (int k = 0; k < K; k++) {
            double ds = c->routed_scale * (dwi[k] / S - t / (S * S));
            float sv = sc[id[k]];
            dlog[(size_t)i * E + id[k]] += (float)(ds * sv * (1.0f - sv));
        }
    }
    trn_linear_backward(dh2, G->dl[l].router, NULL, dlog, L->h2, W->dl[l].router, N, d, E);
}

/* ---------------------------------------------------------------- decoder */

static void mla_forward(trn_state *s, const trn_model *m, int l, float *out)
{
    const trn_config *c = &m->cfg;
    dec_layer *L = &s->dl[l];
    const trn_weights *W = &m->W;
    const int N = s->N, d = c->d, H = c->heads, qk = c->nope + c->rope;
    const int kvw = c->kv_lora + c->rope, bw = c->nope + c->vdim;
    trn_linear_forward(L->q, L->h1, W->dl[l].q, NULL, N, d, H * qk);
    trn_rope_forward(L->q + c->nope, s->pos, N, H, H * qk, qk, c->rope, c->rope_theta);
    trn_linear_forward(L->kva, L->h1, W->dl[l].kv_a, NULL, N, d, kvw);
    /* c = RMSNorm(c_raw): the latent is normalised before the up-projection. */
    for (int i = 0; i < N; i++)
        memcpy(L->c + (size_t)i * c->kv_lora, L->kva + (size_t)i * kvw, sizeof(float) * c->kv_lora);
    trn_rmsnorm_forward(L->c, L->rc, L->c, W->dl[l].kv_norm, N, c->kv_lora, c->rms_eps);
    trn_rope_forward(L->kva + c->kv_lora, s->pos, N, 1, kvw, 0, c->rope, c->rope_theta);
    trn_linear_forward(L->kvb, L->c, W->dl[l].kv_b, NULL, N, c->kv_lora, H * bw);
    for (int i = 0; i < N; i++)
        for (int h = 0; h < H; h++) {
            float *k = L->K + ((size_t)i * H + h) * qk;
            const float *src = L->kvb + ((size_t)i * H + h) * bw;
            memcpy(k, src, sizeof(float) * c->nope);
            memcpy(k + c->nope, L->kva + (size_t)i * kvw + c->kv_lora, sizeof(float) * c->rope);
            memcpy(L->V + ((size_t)i * H + h) * c->vdim, src + c->nope, sizeof(float) * c->vdim);
        }
    trn_attn_shape as = {s->B, s->T, H, qk, c->vdim, H * qk, H * qk, H * c->vdim, H * c->vdim,
                         1.0f / sqrtf((float)qk), true};
    trn_attn_forward(L->att, L->P, L->q, L->K, L->V, &as);
    trn_linear_forward(out, L->att, W->dl[l].o, NULL, N, H * c->vdim, d);
}

/* dout [N,d] → dh1 (+=). */
static void mla_backward(trn_state *s, trn_model *m, int l, float *dh1, const float *dout)
{
    const trn_config *c = &m->cfg;
    dec_layer *L = &s->dl[l];
    const trn_weights *W = &m->W;
    trn_weights *G = &m->G;
    const int N = s->N, d = c->d, H = c->heads, qk = c->nope + c->rope;
    const int kvw = c->kv_lora + c->rope, bw = c->nope + c->vdim;
    float *datt = s->d_att;
    memset(datt, 0, sizeof(float) * (size_t)N * H * c->vdim);
    trn_linear_backward(datt, G->dl[l].o, NULL, dout, L->att, W->dl[l].o, N, H * c->vdim, d);
    float *dQ = s->d_a, *dK = s->d_b, *dV = s->d_c;
    memset(dQ, 0, sizeof(float) * (size_t)N * H * qk);
    memset(dK, 0, sizeof(float) * (size_t)N * H * qk);
    memset(dV, 0, sizeof(float) * (size_t)N * H * c->vdim);
    trn_attn_shape as = {s->B, s->T, H, qk, c->vdim, H * qk, H * qk, H * c->vdim, H * c->vdim,
                         1.0f / sqrtf((float)qk), true};
    trn_attn_backward(dQ, dK, dV, datt, L->P, L->q, L->K, L->V, &as, s->sc_tt);
    trn_rope_backward(dQ + c->nope, s->pos, N, H, H * qk, qk, c->rope, c->rope_theta);
    trn_linear_backward(dh1, G->dl[l].q, NULL, dQ, L->h1, W->dl[l].q, N, d, H * qk);
    float *dkvb = s->d_e, *dkva = s->d_f;
    memset(dkva, 0, sizeof(float) * (size_t)N * kvw);
    for (int i = 0; i < N; i++)
        for (int h = 0; h < H; h++) {
            const float *k = dK + ((size_t)i * H + h) * qk;
            float *b = dkvb + ((size_t)i * H + h) * bw;
            memcpy(b, k, sizeof(float) * c->nope);
            memcpy(b + c->nope, dV + ((size_t)i * H + h) * c->vdim, sizeof(float) * c->vdim);
            float *kp = dkva + (size_t)i * kvw + c->kv_lora;
            for (int j = 0; j < c->rope; j++) kp[j] += k[c->nope + j];
        }
    trn_rope_backward(dkva + c->kv_lora, s->pos, N, 1, kvw, 0, c->rope, c->rope_theta);
    float *dc = s->d_h;
    memset(dc, 0, sizeof(float) * (size_t)N * c->kv_lora);
    trn_linear_backward(dc, G->dl[l].kv_b, NULL, dkvb, L->c, W->dl[l].kv_b, N, c->kv_lora, H * bw);
    /* RMSNorm backward needs the raw latent: it is the first kv_lora of kva. */
    float *craw = s->d_a; /* dQ is consumed */
    float *dcraw = s->d_b;
    for (int i = 0; i < N; i++)
        memcpy(craw + (size_t)i * c->kv_lora, L->kva + (size_t)i * kvw, sizeof(float) * c->kv_lora);
    memset(dcraw, 0, sizeof(float) * (size_t)N * c->kv_lora);
    trn_rmsnorm_backward(dcraw, G->dl[l].kv_norm, dc, craw, L->rc, W->dl[l].kv_norm, N, c->kv_lora);
    for (int i = 0; i < N; i++)
        memcpy(dkva + (size_t)i * kvw, dcraw + (size_t)i * c->kv_lora, sizeof(float) * c->kv_lora);
    trn_linear_backward(dh1, G->dl[l].kv_a, NULL, dkva, L->h1, W->dl[l].kv_a, N, d, kvw);
}

static void decoder_embed(trn_model *m, trn_state *s, const trn_batch *b)
{
    const trn_config *c = &m->cfg;
    const int d = c->d, T = b->T, C = s->C;
    float *x = s->dl[0].x;
    for (int bb = 0; bb < b->B; bb++) {
        int r = 0; /* image row of this sample */
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)bb * T + t;
            s->pos[i] = t;
            s->valid[i] = b->img_mask[i] || b->ids[i] != c->pad;
            float *xi = x + i * d;
            if (b->img_mask[i]) {
                int g = r / (C + 1), col = r % (C + 1);
                if (col == C)
                    memcpy(xi, m->W.newline, sizeof(float) * d);
                else
                    memcpy(xi, s->rows + (((size_t)bb * s->G + g) * C + col) * d, sizeof(float) * d);
                r++;
            } else {
                int id = b->ids[i];
                if (id < 0 || id >= c->vocab) id = c->pad;
                memcpy(xi, m->W.embed + (size_t)id * d, sizeof(float) * d);
            }
        }
    }
}

/* Text of sample bb as a CTC label (its targets without EOS); 0 when the
 * text was cut (no EOS: the image shows more than the label) or empty. */
static int ctc_label(const trn_config *c, const trn_batch *b, int bb, int32_t *lab)
{
    const int32_t *tg = b->targets + (size_t)bb * b->T;
    int L = 0;
    bool eos = false;
    for (int t = 0; t < b->T; t++) {
        if (tg[t] < 0) continue;
        if (tg[t] == c->eos) eos = true;
        else lab[L++] = tg[t];
    }
    return eos ? L : 0;
}

/* The auxiliary CTC loss on the compressed image tokens (text-line crops:
 * one row group). Each column token gives TRN_CTC_SPLIT frames through the
 * CTC head; blank is the pad id. Returns weight · Σ(−log p) / Σ label
 * lengths over the samples that can be aligned; others are skipped. */
static double ctc_forward(trn_model *m, trn_state *s, const trn_batch *b)
{
    const trn_config *c = &m->cfg;
    if (s->ctc_weight <= 0.0f || s->G != 1) return 0.0;
    const int V = c->vocab, F = TRN_CTC_SPLIT, C = s->C, Tf = C * F;
    trn_linear_forward(s->ctc_logits, s->rows, m->W.ctc_w, m->W.ctc_b, s->Nc, c->d, F * V);
    long nlab = 0;
    for (int bb = 0; bb < b->B; bb++) {
        int L = ctc_label(c, b, bb, s->ctc_lab);
        if (L > 0 && trn_ctc_min_frames(s->ctc_lab, L) <= Tf) nlab += L;
    }
    memset(s->ctc_dlogits, 0, sizeof(float) * (size_t)s->Nc * F * V);
    if (nlab == 0) return 0.0;
    const float scale = s->ctc_weight / (float)nlab;
    double sum = 0;
    for (int bb = 0; bb < b->B; bb++) {
        int L = ctc_label(c, b, bb, s->ctc_lab);
        if (L <= 0 || trn_ctc_min_frames(s->ctc_lab, L) > Tf) continue;
        size_t o = (size_t)bb * Tf * V;
        double nll = trn_ctc_forward_backward(s->ctc_dlogits + o, s->ctc_logits + o, Tf, V,
                                              s->ctc_lab, L, c->pad, scale);
        if (nll < 0) {
            memset(s->ctc_dlogits + o, 0, sizeof(float) * (size_t)Tf * V);
            continue;
        }
        sum += nll;
        s->ctc_used++;
    }
    s->ctc_active = true;
    s->ctc = sum / (double)nlab;
    return s->ctc_weight * s->ctc;
}

double trn_forward(trn_model *m, trn_state *s, const trn_batch *b, bool freeze_routing,
                   float label_smoothing, double *load)
{
    const trn_config *c = &m->cfg;
    if (b->B > s->lim.max_B || b->H > s->lim.max_H || b->W > s->lim.max_W || b->T > s->lim.max_T)
        return NAN;
    s->B = b->B; s->H = b->H; s->W = b->W; s->T = b->T; s->N = b->B * b->T;
    encoder_forward(m, s, b);
    s->n_img = trn_image_rows(c, b->H, b->W);
    decoder_embed(m, s, b);
    const int N = s->N, d = c->d;
    for (int l = 0; l < c->layers; l++) {
        dec_layer *L = &s->dl[l];
        float *xo = l + 1 < c->layers ? s->dl[l + 1].x : s->xf;
        trn_rmsnorm_forward(L->h1, L->r1, L->x, m->W.dl[l].attn_norm, N, d, c->rms_eps);
        mla_forward(s, m, l, L->xmid);
        for (size_t i = 0; i < (size_t)N * d; i++) L->xmid[i] += L->x[i];
        trn_rmsnorm_forward(L->h2, L->r2, L->xmid, m->W.dl[l].mlp_norm, N, d, c->rms_eps);
        if (is_moe(c, l))
            moe_forward(s, m, l, xo, freeze_routing, load);
        else
            mlp_forward(xo, L->g, L->u, L->a, L->h2, m->W.dl[l].gate, m->W.dl[l].up,
                        m->W.dl[l].down, N, d, c->inter);
        for (size_t i = 0; i < (size_t)N * d; i++) xo[i] += L->xmid[i];
    }
    trn_rmsnorm_forward(s->hf, s->rf, s->xf, m->W.final_norm, N, d, c->rms_eps);
    /* The head runs only on rows that carry a target. */
    int nt = 0;
    for (int i = 0; i < N; i++)
        if (b->targets[i] >= 0) {
            s->tgt_idx[nt] = i;
            s->tgt[nt] = b->targets[i];
            memcpy(s->hg + (size_t)nt * d, s->hf + (size_t)i * d, sizeof(float) * d);
            nt++;
        }
    s->Nt = nt;
    s->ctc_active = false;
    s->xent = s->ctc = 0;
    s->ctc_used = 0;
    if (nt == 0) return 0.0;
    trn_linear_forward(s->logits, s->hg, m->W.lm_head, NULL, nt, d, c->vocab);
    double sum = trn_xent_forward_backward(s->dlogits, s->logits, s->tgt, nt, c->vocab,
                                           label_smoothing, 1.0f / nt);
    s->xent = sum / nt;
    s->loss = s->xent + ctc_forward(m, s, b);
    return s->loss;
}

void trn_backward(trn_model *m, trn_state *s, const trn_batch *b)
{
    const trn_config *c = &m->cfg;
    const trn_weights *W = &m->W;
    trn_weights *G = &m->G;
    const int N = s->N, d = c->d, nt = s->Nt;
    float *dx = s->d_x; /* gradient of the residual stream */
    memset(dx, 0, sizeof(float) * (size_t)N * d);
    if (nt > 0) {
        float *dhg = s->d_h;
        memset(dhg, 0, sizeof(float) * (size_t)nt * d);
        trn_linear_backward(dhg, G->lm_head, NULL, s->dlogits, s->hg, W->lm_head, nt, d, c->vocab);
        float *dhf = s->d_a;
        memset(dhf, 0, sizeof(float) * (size_t)N * d);
        for (int k = 0; k < nt; k++)
            memcpy(dhf + (size_t)s->tgt_idx[k] * d, dhg + (size_t)k * d, sizeof(float) * d);
        trn_rmsnorm_backward(dx, G->final_norm, dhf, s->xf, s->rf, W->final_norm, N, d);
    }
    for (int l = c->layers - 1; l >= 0; l--) {
        dec_layer *L = &s->dl[l];
        /* xo = xmid + ffn(norm(xmid)); dx is d xo. */
        float *dh = s->d_res;
        memset(dh, 0, sizeof(float) * (size_t)N * d);
        if (is_moe(c, l))
            moe_backward(s, m, l, dh, dx);
        else
            mlp_backward(s, dh, G->dl[l].gate, G->dl[l].up, G->dl[l].down, dx, L->g, L->u, L->a,
                         L->h2, W->dl[l].gate, W->dl[l].up, W->dl[l].down, N, d, c->inter);
        trn_rmsnorm_backward(dx, G->dl[l].mlp_norm, dh, L->xmid, L->r2, W->dl[l].mlp_norm, N, d);
        memset(dh, 0, sizeof(float) * (size_t)N * d);
        mla_backward(s, m, l, dh, dx);
        trn_rmsnorm_backward(dx, G->dl[l].attn_norm, dh, L->x, L->r1, W->dl[l].attn_norm, N, d);
    }
    /* dx is now d(input embeddings): split into token embeddings and image rows. */
    const int T = b->T, C = s->C;
    float *drows = s->d_img;
    memset(drows, 0, sizeof(float) * (size_t)s->Nc * d);
    for (int bb = 0; bb < b->B; bb++) {
        int r = 0;
        for (int t = 0; t < T; t++) {
            size_t i = (size_t)bb * T + t;
            const float *g = dx + i * d;
            float *dst;
            if (b->img_mask[i]) {
                int gi = r / (C + 1), col = r % (C + 1);
                dst = col == C ? G->newline
                               : drows + (((size_t)bb * s->G + gi) * C + col) * d;
                r++;
            } else {
                int id = b->ids[i];
                if (id < 0 || id >= c->vocab) id = c->pad;
                dst = G->embed + (size_t)id * d;
            }
            for (int j = 0; j < d; j++) dst[j] += g[j];
        }
    }
    if (s->ctc_active)
        trn_linear_backward(drows, G->ctc_w, G->ctc_b, s->ctc_dlogits, s->rows, W->ctc_w, s->Nc,
                            d, TRN_CTC_SPLIT * c->vocab);
    encoder_backward(m, s, b, drows);
}

ocr_status trn_encode_rows(trn_model *m, trn_state *s, const trn_batch *b, float *out,
                           ocr_err *e)
{
    if (b->B > s->lim.max_B || b->H > s->lim.max_H || b->W > s->lim.max_W)
        return ocr_err_set(e, OCR_E_LIMIT, "trn_encode_rows: batch beyond the state's limits");
    const int d = m->cfg.d;
    s->B = b->B; s->H = b->H; s->W = b->W;
    encoder_forward(m, s, b);
    const int C = s->C, n_img = trn_image_rows(&m->cfg, b->H, b->W);
    for (int bb = 0; bb < b->B; bb++)
        for (int r = 0; r < n_img; r++) {
            int g = r / (C + 1), col = r % (C + 1);
            const float *src = col == C ? m->W.newline
                                        : s->rows + (((size_t)bb * s->G + g) * C + col) * d;
            memcpy(out + ((size_t)bb * n_img + r) * d, src, sizeof(float) * d);
        }
    return OCR_OK;
}

/* Greedy decoding by re-running the full forward for each new token: no KV
 * cache, O(T²) but simple and exactly the trained function; validation
 * only (inference uses language/lm_*). b must hold the prompt [BOS][img]
 * [task] with T = prompt length; ids/targets are rewritten. */
ocr_status trn_greedy_decode(trn_model *m, trn_state *s, trn_batch *b, int task_token,
                             int max_new, int32_t *out, int *out_len, ocr_err *e)
{
    const trn_config *c = &m->cfg;
    const int B = b->B, T0 = b->T, d = c->d;
    (void)task_token;
    if (T0 + max_new > s->lim.max_T)
        return ocr_err_set(e, OCR_E_LIMIT, "trn_greedy_decode: %d + %d tokens exceed T %d", T0,
                           max_new, s->lim.max_T);
    /* Rebuild the batch arrays with room for the generated tokens. */
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * (T0 + max_new));
    uint8_t *mask = malloc((size_t)B * (T0 + max_new));
    bool *done = calloc((size_t)B, sizeof(bool));
    if (!ids || !mask || !done) {
        free(ids); free(mask); free(done);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_greedy_decode: out of memory");
    }
    for (int bb = 0; bb < B; bb++) {
        memcpy(ids + (size_t)bb * (T0 + max_new), b->ids + (size_t)bb * T0, sizeof(int32_t) * T0);
        memcpy(mask + (size_t)bb * (T0 + max_new), b->img_mask + (size_t)bb * T0, (size_t)T0);
        out_len[bb] = 0;
    }
    encoder_forward(m, s, b);
    for (int step = 0; step < max_new; step++) {
        int T = T0 + step;
        trn_batch tb = *b;
        tb.T = T;
        /* pack rows [bb, 0..T) contiguously */
        for (int bb = 0; bb < B; bb++) {
            memmove(b->ids + (size_t)bb * T, ids + (size_t)bb * (T0 + max_new), sizeof(int32_t) * T);
            memmove(b->img_mask + (size_t)bb * T, mask + (size_t)bb * (T0 + max_new), (size_t)T);
        }
        tb.ids = b->ids;
        tb.img_mask = b->img_mask;
        s->B = B; s->T = T; s->N = B * T;
        decoder_embed(m, s, &tb);
        const int N = s->N;
        for (int l = 0; l < c->layers; l++) {
            dec_layer *L = &s->dl[l];
            float *xo = l + 1 < c->layers ? s->dl[l + 1].x : s->xf;
            trn_rmsnorm_forward(L->h1, L->r1, L->x, m->W.dl[l].attn_norm, N, d, c->rms_eps);
            mla_forward(s, m, l, L->xmid);
            for (size_t i = 0; i < (size_t)N * d; i++) L->xmid[i] += L->x[i];
            trn_rmsnorm_forward(L->h2, L->r2, L->xmid, m->W.dl[l].mlp_norm, N, d, c->rms_eps);
            if (is_moe(c, l))
                moe_forward(s, m, l, xo, false, NULL);
            else
                mlp_forward(xo, L->g, L->u, L->a, L->h2, m->W.dl[l].gate, m->W.dl[l].up,
                            m->W.dl[l].down, N, d, c->inter);
            for (size_t i = 0; i < (size_t)N * d; i++) xo[i] += L->xmid[i];
        }
        bool all = true;
        for (int bb = 0; bb < B; bb++) {
            size_t i = (size_t)bb * T + T - 1;
            trn_rmsnorm_forward(s->hg, s->rf, s->xf + i * d, m->W.final_norm, 1, d, c->rms_eps);
            trn_linear_forward(s->logits, s->hg, m->W.lm_head, NULL, 1, d, c->vocab);
            int best = 0;
            for (int v = 1; v < c->vocab; v++)
                if (s->logits[v] > s->logits[best]) best = v;
            int32_t tok = done[bb] ? c->pad : best;
            ids[(size_t)bb * (T0 + max_new) + T] = tok;
            mask[(size_t)bb * (T0 + max_new) + T] = 0;
            if (!done[bb]) {
                if (best == c->eos) done[bb] = true;
                else out[(size_t)bb * max_new + out_len[bb]++] = best;
            }
            all &= done[bb];
        }
        if (all) break;
    }
    free(ids);
    free(mask);
    free(done);
    return OCR_OK;
}

void trn_state_set_ctc(trn_state *s, float weight) { s->ctc_weight = weight; }

void trn_state_losses(const trn_state *s, double *xent, double *ctc, int *ctc_samples)
{
    if (xent) *xent = s->xent;
    if (ctc) *ctc = s->ctc;
    if (ctc_samples) *ctc_samples = s->ctc_used;
}

const float *trn_debug_logits(const trn_state *s, int *n_rows)
{
    *n_rows = s->Nt;
    return s->logits;
}

const float *trn_debug_residual(const trn_state *s, int l)
{
    return l < s->c.layers ? s->dl[l].x : s->xf;
}

double trn_step_flops(const trn_config *c, int B, int H, int W, int T, int n_targets)
{
    double f = 0;
    const double vd = c->vd, d = c->d;
    const int cins[3] = {1, c->c1, c->c2}, couts[3] = {c->c1, c->c2, c->c3};
    int h = H, w = W;
    for (int i = 0; i < 3; i++) {
        h /= 2;
        w /= 2;
        f += 2.0 * B * h * w * 9.0 * cins[i] * couts[i];
    }
    const double Te = (double)h * w, Ne = B * Te;
    f += 2.0 * Ne * c->c3 * vd;
    f += c->v_layers * (2.0 * Ne * vd * 3 * vd + 4.0 * B * Te * Te * vd + 2.0 * Ne * vd * vd +
                        4.0 * Ne * vd * c->v_mlp);
    const double Nc = (double)B * (h / c->merge) * w;
    f += 2.0 * Nc * c->merge * vd * d + 2.0 * Nc * d * d;
    const double N = (double)B * T, Hh = c->heads, qk = c->nope + c->rope;
    for (int l = 0; l < c->layers; l++) {
        f += 2.0 * N * d * Hh * qk + 2.0 * N * d * (c->kv_lora + c->rope) +
             2.0 * N * c->kv_lora * Hh * (c->nope + c->vdim) + 2.0 * B * Hh * T * (double)T * (qk + c->vdim) +
             2.0 * N * Hh * c->vdim * d;
        if (c->n_routed > 0 && l >= c->first_dense)
            f += 2.0 * N * d * c->n_routed + 6.0 * N * d * c->moe_inter * c->n_shared +
                 6.0 * N * c->topk * d * c->moe_inter;
        else
            f += 6.0 * N * d * c->inter;
    }
    f += 2.0 * n_targets * d * c->vocab;
    return 3.0 * f; /* backward ≈ twice the forward */
}

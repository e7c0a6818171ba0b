/* vision/vis_encode.c — per-request state and the whole encoder: views
 * through SAM, CLIP and the projector, then laid out as the decoder's image
 * rows (modeling_deepseekocr.py DeepseekOCRModel.forward).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vis.h"

/* Rows per GEMM where a layer is cut into chunks (MLP hidden, im2col) and
 * query rows per attention score block: large enough for sgemm to run near
 * its peak, small enough to keep the scratch far below the activations. */
#define VIS_ROW_CHUNK 1024
#define VIS_QCHUNK 1024

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int vis_view_tokens(const vis_model *m, int size)
{
    int g = size / m->patch;
    int g4 = vis_conv_out(vis_conv_out(g, 3, 2, 1), 3, 2, 1);
    return g4 * g4;
}

void vis_tap(vis_state *s, const char *stage, bool local, int view, int h, int w, int c,
             const float *x)
{
    if (!s->tap) return;
    vis_tap_event ev = {stage, local, view, h, w, c, x};
    s->tap(s->tap_ud, &ev);
}

void vis_state_set_tap(vis_state *s, vis_tap_fn fn, void *ud)
{
    s->tap = fn;
    s->tap_ud = ud;
}

/* Every buffer's size for views up to `size`; when `s` has an arena, also
 * carve them. Returns the bytes needed. */
static size_t layout(vis_state *s, const vis_model *m, int size, bool carve)
{
    const ocr_vis_config *c = &m->cfg;
    size_t D = (size_t)m->sam_dim, hd = (size_t)m->sam_head_dim;
    int g = size / m->patch, G = m->pos_grid;
    size_t n = (size_t)g * (size_t)g, npad = n, rel = (size_t)(2 * g - 1);
    int wmax = 0;
    for (int b = 0; b < c->sam.layers; b++) {
        int w = m->blocks[b].window;
        if (w <= 0) continue;
        size_t gp = (size_t)((g + w - 1) / w * w);
        npad = max_sz(npad, gp * gp);
        rel = max_sz(rel, (size_t)(2 * w - 1));
        if (w > wmax) wmax = w;
    }
    int g2 = vis_conv_out(g, 3, 2, 1), g4 = vis_conv_out(g2, 3, 2, 1);
    size_t n4 = (size_t)g4 * (size_t)g4, T = n4 + 1;
    size_t C = (size_t)m->clip_dim, oc = (size_t)m->neck_ch;
    size_t d0 = (size_t)m->net2_ch, d1 = (size_t)m->net3_ch;
    int qchunk = VIS_QCHUNK;
    size_t attn = vis_attn_scratch(g * g, (int)hd, qchunk);
    if (wmax) attn = max_sz(attn, vis_attn_scratch(wmax * wmax, (int)hd, qchunk));
    attn = max_sz(attn, vis_attn_scratch((int)T, m->clip_head_dim, qchunk));
    /* Rel-pos projections: every padded token on a window table, or every
     * token on a global table. */
    size_t proj = max_sz(n * (size_t)(2 * g - 1), wmax ? npad * (size_t)(2 * wmax - 1) : 0);
    int chunk = (int)(n < VIS_ROW_CHUNK ? n : VIS_ROW_CHUNK);
    size_t K = max_sz(max_sz((size_t)(3 * m->patch * m->patch), 9 * oc), 9 * d0);
    size_t CG = (size_t)m->clip_grid;
    size_t interp = max_sz((size_t)G * (size_t)max_sz((size_t)g, (size_t)G) * D,
                           CG * max_sz(CG, (size_t)g4) * C);
    struct {
        float **p;
        size_t n;
    } bufs[] = {
        {&s->x, n * D},
        {&s->ln, npad * D},
        {&s->qkv, npad * 3 * D},
        {&s->att, npad * D},
        {&s->mlp, (size_t)chunk * (size_t)m->sam_mlp},
        {&s->pos, n * D},
        {&s->rel_h, rel * hd},
        {&s->rel_w, rel * hd},
        {&s->cols, (size_t)chunk * K},
        {&s->attn_tmp, attn},
        {&s->rel_ph, proj},
        {&s->rel_pw, proj},
        {&s->interp_tmp, interp},
        {&s->neck_a, n * oc},
        {&s->neck_b, n * oc},
        {&s->net2, (size_t)g2 * (size_t)g2 * d0},
        {&s->net3, n4 * d1},
        {&s->cx, T * C},
        {&s->cln, T * C},
        {&s->cqkv, T * 3 * C},
        {&s->catt, T * C},
        {&s->cffn, T * (size_t)m->clip_ffn},
        {&s->cpos, n4 * C},
        {&s->feat, n4 * (C + d1)},
        {&s->tokens, n4 * (size_t)m->n_embed},
    };
    size_t bytes = 0;
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        size_t b = (bufs[i].n ? bufs[i].n : 1) * sizeof(float);
        bytes += (b + OCR_ALIGN - 1) / OCR_ALIGN * OCR_ALIGN;
        if (carve) *bufs[i].p = ocr_arena_alloc(&s->arena, b);
    }
    if (carve) {
        s->mlp_chunk = chunk;
        s->cols_chunk = chunk;
        s->qchunk = qchunk;
    }
    return bytes;
}

ocr_status vis_state_create(vis_state **out, const vis_model *m, int max_view, ocr_err *e)
{
    *out = NULL;
    if (!m) return ocr_err_set(e, OCR_E_ARG, "vis_state_create: NULL model");
    if (max_view < 4 * m->patch || max_view / m->patch > VIS_MAX_GRID)
        return ocr_err_set(e, OCR_E_ARG, "vis_state_create: view size %d outside %d..%d", max_view,
                           4 * m->patch, VIS_MAX_GRID * m->patch);
    vis_state *s = calloc(1, sizeof *s);
    if (!s) return ocr_err_set(e, OCR_E_NOMEM, "vis_state_create: out of memory");
    s->m = m;
    s->max_view = max_view;
    size_t bytes = layout(s, m, max_view, false);
    ocr_status rc = ocr_arena_init(&s->arena, bytes, e);
    if (rc != OCR_OK) {
        free(s);
        return ocr_err_prefix(e, "vis_state_create (%zu MiB for %d-pixel views)", bytes >> 20,
                              max_view);
    }
    layout(s, m, max_view, true);
    *out = s;
    return OCR_OK;
}

void vis_state_destroy(vis_state **sp)
{
    if (!sp || !*sp) return;
    ocr_arena_free(&(*sp)->arena);
    free(*sp);
    *sp = NULL;
}

ocr_status vis_encode_view(vis_state *s, const float *pix, int size, float *tokens, bool local,
                           int view, ocr_err *e)
{
    const vis_model *m = s->m;
    if (size > s->max_view || size < m->patch * 4)
        return ocr_err_set(e, OCR_E_ARG, "vis_encode_view: view size %d outside %d..%d", size,
                           m->patch * 4, s->max_view);
    ocr_status rc = vis_sam_forward(s, pix, size, local, view, e);
    if (rc != OCR_OK) return rc;
    int g4 = vis_conv_out(vis_conv_out(size / m->patch, 3, 2, 1), 3, 2, 1);
    return vis_clip_forward(s, g4, tokens, local, view, e);
}

static int side(const vis_model *m, int size) { return (int)lrint(sqrt(vis_view_tokens(m, size))); }

int vis_encode_rows(const vis_model *m, const vis_views *v)
{
    int h = side(m, v->view_size);
    int rows = h * (h + 1) + 1;
    if (v->n_tiles) {
        int h2 = side(m, v->tile_size);
        rows += v->tiles_h * h2 * (v->tiles_w * h2 + 1);
    }
    return rows;
}

ocr_status vis_encode(vis_state *s, const vis_views *v, float *out, int out_rows, ocr_err *e)
{
    const vis_model *m = s->m;
    int C = m->n_embed, need = vis_encode_rows(m, v);
    if (out_rows < need)
        return ocr_err_set(e, OCR_E_ARG, "vis_encode: %d output rows, the views need %d", out_rows,
                           need);
    size_t row = (size_t)C * sizeof(float);
    ocr_status rc;
    float *o = out;
    if (v->n_tiles) {
        /* Tiles come row-major; their h2 x w2 grids form one big
         * (th*h2) x (tw*w2) grid, and every row of it ends in a newline. */
        size_t tp = (size_t)3 * v->tile_size * v->tile_size;
        int h2 = side(m, v->tile_size), W = v->tiles_w * h2 + 1;
        for (int t = 0; t < v->n_tiles; t++) {
            rc = vis_encode_view(s, v->tiles + t * tp, v->tile_size, s->tokens, true, t, e);
            if (rc != OCR_OK) return ocr_err_prefix(e, "tile %d", t);
            int tx = t % v->tiles_w, ty = t / v->tiles_w;
            for (int r = 0; r < h2; r++)
                memcpy(o + ((size_t)(ty * h2 + r) * W + (size_t)tx * h2) * C,
                       s->tokens + (size_t)r * h2 * C, (size_t)h2 * row);
        }
        for (int r = 0; r < v->tiles_h * h2; r++)
            memcpy(o + ((size_t)r * W + W - 1) * C, m->newline, row);
        o += (size_t)v->tiles_h * h2 * W * C;
    }
    int h = side(m, v->view_size);
    rc = vis_encode_view(s, v->view, v->view_size, s->tokens, false, 0, e);
    if (rc != OCR_OK) return ocr_err_prefix(e, "global view");
    for (int r = 0; r < h; r++) {
        memcpy(o, s->tokens + (size_t)r * h * C, (size_t)h * row);
        memcpy(o + (size_t)h * C, m->newline, row);
        o += (size_t)(h + 1) * C;
    }
    memcpy(o, m->separator, row);
    return OCR_OK;
}

double vis_view_flops(const vis_model *m, int size)
{
    const ocr_vis_config *c = &m->cfg;
    double D = m->sam_dim, hd = m->sam_head_dim, H = m->sam_heads, mlp = m->sam_mlp;
    int g = size / m->patch;
    double n = (double)g * g, f = 2 * n * 3 * m->patch * m->patch * D;
    for (int b = 0; b < c->sam.layers; b++) {
        int w = m->blocks[b].window;
        double rows = n, attn;
        if (w > 0) {
            double gp = (g + w - 1) / w * w, nwin = (gp / w) * (gp / w), wt = (double)w * w;
            rows = gp * gp;
            attn = nwin * H * (4 * wt * wt * hd + 2 * wt * hd * 2 * w);
        } else {
            attn = H * (4 * n * n * hd + 2 * n * hd * 2 * g);
        }
        f += 2 * rows * D * 4 * D + attn + 2 * n * D * mlp * 2;
    }
    double oc = m->neck_ch, d0 = m->net2_ch, d1 = m->net3_ch;
    int g2 = vis_conv_out(g, 3, 2, 1), g4 = vis_conv_out(g2, 3, 2, 1);
    f += 2 * n * D * oc + 2 * n * 9 * oc * oc;
    f += 2.0 * g2 * g2 * 9 * oc * d0 + 2.0 * g4 * g4 * 9 * d0 * d1;
    double C = m->clip_dim, T = (double)g4 * g4 + 1, ffn = m->clip_ffn;
    f += c->clip.layers * (2 * T * C * 4 * C + 4 * T * T * C + 2 * T * C * ffn * 2);
    f += 2.0 * g4 * g4 * (C + d1) * m->n_embed;
    return f;
}

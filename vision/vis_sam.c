/* vision/vis_sam.c — SAM ViT-B as DeepSeek-OCR runs it (deepencoder.py
 * ImageEncoderViT.forward): patch embedding, absolute positions (resized
 * with antialiased bicubic for grids other than the pretraining one),
 * windowed and global blocks with decomposed relative positions, the neck
 * and the two stride-2 convs (net_2, net_3) that compress 16x.
 *
 * Activations are channels-last [h][w][c] throughout, which is SAM's own
 * block layout (NHWC); the neck's NCHW convs run as im2col GEMMs on it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vision/vis.h"

/* PatchEmbed: Conv2d(3 -> D, k = s = P) on planar pixels, as GEMMs over
 * chunks of patches. Rows of cols are (c, ky, kx), the kernel's own order. */
static void patch_embed(vis_state *s, const float *pix, int size)
{
    const vis_model *m = s->m;
    int P = m->patch, g = size / P, K = 3 * P * P, n = g * g;
    size_t plane = (size_t)size * (size_t)size;
    for (int r0 = 0; r0 < n; r0 += s->cols_chunk) {
        int nr = n - r0 < s->cols_chunk ? n - r0 : s->cols_chunk;
        for (int r = 0; r < nr; r++) {
            int py = (r0 + r) / g, px = (r0 + r) % g;
            float *row = s->cols + (size_t)r * (size_t)K;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < P; ky++)
                    memcpy(row + ((size_t)c * P + ky) * (size_t)P,
                           pix + (size_t)c * plane + (size_t)(py * P + ky) * (size_t)size +
                               (size_t)px * (size_t)P,
                           (size_t)P * sizeof(float));
        }
        ocr_sgemm_xwt(s->x + (size_t)r0 * (size_t)m->sam_dim, s->cols, m->patch_w, m->patch_b, nr,
                      K, m->sam_dim, false);
    }
}

/* get_rel_pos: the table spans 2·max(q, k) - 1 offsets; a table trained for
 * another grid is linearly resized first (F.interpolate mode='linear'). */
static const float *rel_table(vis_state *s, const float *table, int len, int grid, int hd,
                              float *buf)
{
    int want = 2 * grid - 1;
    if (len == want) return table;
    vis_interp_linear(buf, want, table, len, hd);
    return buf;
}

/* Attention.forward for every head over `nwin` grids of grid x grid tokens
 * whose qkv rows (stride 3D) follow each other from `qkv`; outputs (stride
 * D) likewise at `out`. */
static void attention(vis_state *s, const float *qkv, float *out, int grid, int nwin,
                      const float *rh, const float *rw)
{
    const vis_model *m = s->m;
    int D = m->sam_dim, hd = m->sam_head_dim, wt = grid * grid, L = 2 * grid - 1;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < m->sam_heads; h++) {
        const float *q = qkv + (size_t)h * hd;
        vis_attn_rel(s->rel_ph, s->rel_pw, q, 3 * D, nwin * wt, hd, rh, L, rw, L);
        for (int win = 0; win < nwin; win++) {
            const float *qw = q + (size_t)win * wt * 3 * D;
            vis_attn_head(out + (size_t)win * wt * D + (size_t)h * hd, D, qw, qw + D, qw + 2 * D,
                          3 * D, hd, grid, grid, s->rel_ph + (size_t)win * wt * L,
                          s->rel_pw + (size_t)win * wt * L, scale, s->attn_tmp, s->qchunk);
        }
    }
}

static ocr_status sam_block(vis_state *s, const vis_sam_block *blk, int g, ocr_err *e)
{
    const vis_model *m = s->m;
    int D = m->sam_dim, n = g * g;
    float eps = m->cfg.sam.eps;
    ocr_status rc;
    if (blk->window > 0) {
        /* window_partition: zero-pad bottom/right to a multiple of the
         * window; the padded tokens are attended to like any other (they
         * are not masked), so they must hold exactly what torch gives them:
         * norm1 runs before the padding, so they are zeros. */
        int w = blk->window, gp = (g + w - 1) / w * w, nwin = gp / w, wt = w * w;
        int npad = gp * gp;
        vis_layernorm_rows(s->att, s->x, blk->norm1_w, blk->norm1_b, n, D, eps);
        for (int wy = 0; wy < nwin; wy++)
            for (int wx = 0; wx < nwin; wx++)
                for (int iy = 0; iy < w; iy++) {
                    int y = wy * w + iy, nx = g - wx * w;
                    float *dst = s->ln + ((size_t)(wy * nwin + wx) * wt + iy * w) * D;
                    nx = y < g ? (nx < w ? nx : w) : 0; /* real tokens in this window row */
                    if (nx > 0)
                        memcpy(dst, s->att + ((size_t)y * g + wx * w) * D,
                               (size_t)nx * D * sizeof(float));
                    memset(dst + (size_t)nx * D, 0, (size_t)(w - nx) * D * sizeof(float));
                }
        if ((rc = ocr_matmul(s->qkv, s->ln, blk->qkv.w, blk->qkv.b, npad, e))) return rc;
        const float *rh = rel_table(s, blk->rel_h, blk->rel_len, w, m->sam_head_dim, s->rel_h);
        const float *rw = rel_table(s, blk->rel_w, blk->rel_len, w, m->sam_head_dim, s->rel_w);
        attention(s, s->qkv, s->att, w, nwin * nwin, rh, rw);
        if ((rc = ocr_matmul(s->ln, s->att, blk->proj.w, blk->proj.b, npad, e))) return rc;
        /* window_unpartition, crop, residual. */
        for (int y = 0; y < g; y++)
            for (int x = 0; x < g; x++) {
                int wy = y / w, wx = x / w, iy = y % w, ix = x % w;
                const float *src = s->ln + ((size_t)(wy * nwin + wx) * wt + iy * w + ix) * D;
                float *dst = s->x + ((size_t)y * g + x) * D;
                for (int c = 0; c < D; c++) dst[c] += src[c];
            }
    } else {
        vis_layernorm_rows(s->ln, s->x, blk->norm1_w, blk->norm1_b, n, D, eps);
        if ((rc = ocr_matmul(s->qkv, s->ln, blk->qkv.w, blk->qkv.b, n, e))) return rc;
        const float *rh = rel_table(s, blk->rel_h, blk->rel_len, g, m->sam_head_dim, s->rel_h);
        const float *rw = rel_table(s, blk->rel_w, blk->rel_len, g, m->sam_head_dim, s->rel_w);
        attention(s, s->qkv, s->att, g, 1, rh, rw);
        if ((rc = ocr_matmul(s->ln, s->att, blk->proj.w, blk->proj.b, n, e))) return rc;
        vis_add_rows(s->x, s->ln, n, D);
    }
    /* x = x + mlp(norm2(x)), a chunk of rows at a time. */
    for (int r0 = 0; r0 < n; r0 += s->mlp_chunk) {
        int nr = n - r0 < s->mlp_chunk ? n - r0 : s->mlp_chunk;
        float *xr = s->x + (size_t)r0 * D;
        vis_layernorm_rows(s->ln, xr, blk->norm2_w, blk->norm2_b, nr, D, eps);
        if ((rc = ocr_matmul(s->mlp, s->ln, blk->lin1.w, blk->lin1.b, nr, e))) return rc;
        vis_gelu_erf_rows(s->mlp, nr, m->sam_mlp);
        if ((rc = ocr_matmul(s->att, s->mlp, blk->lin2.w, blk->lin2.b, nr, e))) return rc;
        vis_add_rows(xr, s->att, nr, D);
    }
    return OCR_OK;
}

ocr_status vis_sam_forward(vis_state *s, const float *pix, int size, bool local, int view,
                           ocr_err *e)
{
    const vis_model *m = s->m;
    int D = m->sam_dim, g = size / m->patch, n = g * g, G = m->pos_grid;
    ocr_status rc;
    char name[48];
    patch_embed(s, pix, size);
    /* get_abs_pos: the 64x64 table (for 1024 pixels) resized to g x g. */
    const float *pos = m->pos;
    if (g != G) {
        vis_interp_bicubic_aa(s->pos, g, g, m->pos, G, G, D, s->interp_tmp);
        pos = s->pos;
    }
    vis_add_rows(s->x, pos, n, D);
    vis_tap(s, "sam_block_in", local, view, g, g, D, s->x);
    for (int b = 0; b < m->cfg.sam.layers; b++) {
        if ((rc = sam_block(s, &m->blocks[b], g, e))) return ocr_err_prefix(e, "SAM block %d", b);
        snprintf(name, sizeof name, "sam_block%d_out", b);
        vis_tap(s, name, local, view, g, g, D, s->x);
    }
    /* neck: 1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d. LayerNorm2d
     * normalises each pixel over its channels with the biased variance,
     * which is LayerNorm over the last axis of channels-last data. */
    int oc = m->neck_ch;
    float neps = m->cfg.sam.neck_eps;
    vis_conv2d_nhwc(s->neck_a, s->x, g, g, D, m->neck0_w, NULL, oc, 1, 1, 0, s->cols, s->cols_chunk);
    vis_layernorm_rows(s->neck_a, s->neck_a, m->neck1_w, m->neck1_b, n, oc, neps);
    vis_conv2d_nhwc(s->neck_b, s->neck_a, g, g, oc, m->neck2_w, NULL, oc, 3, 1, 1, s->cols,
                    s->cols_chunk);
    vis_layernorm_rows(s->neck_b, s->neck_b, m->neck3_w, m->neck3_b, n, oc, neps);
    vis_tap(s, "sam_neck_out", local, view, g, g, oc, s->neck_b);
    int g2 = vis_conv_out(g, 3, 2, 1), g4 = vis_conv_out(g2, 3, 2, 1);
    vis_conv2d_nhwc(s->net2, s->neck_b, g, g, oc, m->net2_w, NULL, m->net2_ch, 3, 2, 1, s->cols,
                    s->cols_chunk);
    vis_tap(s, "sam_net2_out", local, view, g2, g2, m->net2_ch, s->net2);
    vis_conv2d_nhwc(s->net3, s->net2, g2, g2, m->net2_ch, m->net3_w, NULL, m->net3_ch, 3, 2, 1,
                    s->cols, s->cols_chunk);
    vis_tap(s, "sam_net3_out", local, view, g4, g4, m->net3_ch, s->net3);
    return OCR_OK;
}

/* vision/vis_clip.c — CLIP-L on SAM's features, and the projector
 * (deepencoder.py VitModel.forward with patch_embeds = SAM's net_3 output,
 * then modeling_deepseekocr.py's concat + MlpProjector).
 *
 * CLIP never sees pixels here: its patch embedding conv is unused and SAM's
 * [g4, g4, 1024] output becomes the token sequence after a class token.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vision/vis.h"

/* NoTPAttention: fused qkv rows (q | k | v, heads contiguous inside each),
 * plain softmax attention with scale 1/sqrt(head_dim), no mask. */
static void clip_attention(vis_state *s, int T)
{
    const vis_model *m = s->m;
    int C = m->clip_dim, hd = m->clip_head_dim;
    float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < m->clip_heads; h++)
        vis_attn_head(s->catt + (size_t)h * hd, C, s->cqkv + (size_t)h * hd,
                      s->cqkv + C + (size_t)h * hd, s->cqkv + 2 * C + (size_t)h * hd, 3 * C, hd, T,
                      1, NULL, NULL, scale, s->attn_tmp, s->qchunk);
}

ocr_status vis_clip_forward(vis_state *s, int g4, float *tokens, bool local, int view, ocr_err *e)
{
    const vis_model *m = s->m;
    int C = m->clip_dim, n = g4 * g4, T = n + 1, CG = m->clip_grid;
    ocr_status rc = OCR_OK;
    char name[48];
    /* CLIPVisionEmbeddings: [class; patches] + positions. get_abs_pos keeps
     * the class row and resizes the CG x CG patch rows (bicubic, antialias)
     * to int(sqrt(T)) = g4 when the grid differs. */
    const float *pos = m->clip_pos + C;
    if (g4 != CG) {
        vis_interp_bicubic_aa(s->cpos, g4, g4, m->clip_pos + C, CG, CG, C, s->interp_tmp);
        pos = s->cpos;
    }
    for (int c = 0; c < C; c++) s->cx[c] = m->cls[c] + m->clip_pos[c];
    for (size_t i = 0; i < (size_t)n * C; i++) s->cx[C + i] = s->net3[i] + pos[i];
    vis_tap(s, "clip_embeddings_out", local, view, T, 1, C, s->cx);
    ocr_layernorm(s->cx, s->cx, m->pre_w, m->pre_b, T, C, m->cfg.clip.pre_eps);
    vis_tap(s, "clip_pre_layrnorm_out", local, view, T, 1, C, s->cx);
    float eps = m->cfg.clip.eps;
    for (int l = 0; l < m->cfg.clip.layers; l++) {
        const vis_clip_layer *L = &m->layers[l];
        /* NoTPTransformerBlock: h = x + attn(ln1(x)); out = h + mlp(ln2(h)). */
        ocr_layernorm(s->cln, s->cx, L->ln1_w, L->ln1_b, T, C, eps);
        if ((rc = ocr_matmul(s->cqkv, s->cln, L->qkv.w, L->qkv.b, T, e))) break;
        clip_attention(s, T);
        if ((rc = ocr_matmul(s->cln, s->catt, L->out.w, L->out.b, T, e))) break;
        for (size_t i = 0; i < (size_t)T * C; i++) s->cx[i] += s->cln[i];
        ocr_layernorm(s->cln, s->cx, L->ln2_w, L->ln2_b, T, C, eps);
        if ((rc = ocr_matmul(s->cffn, s->cln, L->fc1.w, L->fc1.b, T, e))) break;
        vis_quick_gelu_rows(s->cffn, T, m->clip_ffn);
        if ((rc = ocr_matmul(s->cln, s->cffn, L->fc2.w, L->fc2.b, T, e))) break;
        for (size_t i = 0; i < (size_t)T * C; i++) s->cx[i] += s->cln[i];
        snprintf(name, sizeof name, "clip_layer%d_out", l);
        vis_tap(s, name, local, view, T, 1, C, s->cx);
    }
    if (rc != OCR_OK) return ocr_err_prefix(e, "CLIP");
    /* feat = [clip_out[:, 1:], sam.flatten(2).transpose(1, 2)]: CLIP first. */
    int d1 = m->net3_ch, F = C + d1;
    for (int t = 0; t < n; t++) {
        memcpy(s->feat + (size_t)t * F, s->cx + (size_t)(t + 1) * C, (size_t)C * sizeof(float));
        memcpy(s->feat + (size_t)t * F + C, s->net3 + (size_t)t * d1, (size_t)d1 * sizeof(float));
    }
    if ((rc = ocr_matmul(tokens, s->feat, m->projector.w, m->projector.b, n, e)))
        return ocr_err_prefix(e, "projector");
    vis_tap(s, "projector_out", local, view, n, 1, m->n_embed, tokens);
    return OCR_OK;
}

/* vision/vis_spec.c — the DeepEncoder tensors a config implies (SAM ViT-B,
 * CLIP-L, linear projector, layout vectors), named as in the released
 * DeepSeek-OCR checkpoint (deepencoder.py module tree). */
#include "vision/vis.h"

#define ADD(opt, nd, ...)                                                   \
    do {                                                                    \
        if ((rc = ocr_spec_add(s, opt, nd, sh, __VA_ARGS__)) != OCR_OK)     \
            return ocr_err_set(e, rc, "vis_spec_build: out of memory");     \
    } while (0)
#define SH1(a) (sh[0] = (a), 1)
#define SH2(a, b) (sh[0] = (a), sh[1] = (b), 2)
#define SH4(a, b, c_, d) (sh[0] = (a), sh[1] = (b), sh[2] = (c_), sh[3] = (d), 4)

static bool is_global_block(const ocr_vis_config *c, int b)
{
    for (int i = 0; i < c->sam.n_global_attn; i++)
        if (c->sam.global_attn_indexes[i] == b) return true;
    return false;
}

ocr_status vis_spec_build(ocr_spec *s, const ocr_vis_config *c, ocr_err *e)
{
    ocr_status rc;
    int64_t sh[4];
    int nd;
    const int64_t W = c->sam.width, P = c->sam.patch_size, G = c->sam.img_size / P;
    const int64_t hd = W / c->sam.heads, mlp = W * c->sam.mlp_ratio, oc = c->sam.out_chans;
    const char *sp = "model.sam_model";

    nd = SH4(W, 3, P, P);
    ADD(false, nd, "%s.patch_embed.proj.weight", sp);
    nd = SH1(W);
    ADD(false, nd, "%s.patch_embed.proj.bias", sp);
    nd = SH4(1, G, G, W);
    ADD(false, nd, "%s.pos_embed", sp);
    for (int b = 0; b < c->sam.layers; b++) {
        nd = SH1(W);
        ADD(false, nd, "%s.blocks.%d.norm1.weight", sp, b);
        ADD(false, nd, "%s.blocks.%d.norm1.bias", sp, b);
        ADD(false, nd, "%s.blocks.%d.norm2.weight", sp, b);
        ADD(false, nd, "%s.blocks.%d.norm2.bias", sp, b);
        nd = SH2(3 * W, W);
        ADD(false, nd, "%s.blocks.%d.attn.qkv.weight", sp, b);
        nd = SH1(3 * W);
        ADD(false, nd, "%s.blocks.%d.attn.qkv.bias", sp, b);
        nd = SH2(W, W);
        ADD(false, nd, "%s.blocks.%d.attn.proj.weight", sp, b);
        nd = SH1(W);
        ADD(false, nd, "%s.blocks.%d.attn.proj.bias", sp, b);
        /* Relative-position tables span every offset of the attended grid:
         * the window in windowed blocks, the whole patch grid in global ones. */
        int64_t span = is_global_block(c, b) ? G : c->sam.window_size;
        nd = SH2(2 * span - 1, hd);
        ADD(false, nd, "%s.blocks.%d.attn.rel_pos_h", sp, b);
        ADD(false, nd, "%s.blocks.%d.attn.rel_pos_w", sp, b);
        nd = SH2(mlp, W);
        ADD(false, nd, "%s.blocks.%d.mlp.lin1.weight", sp, b);
        nd = SH1(mlp);
        ADD(false, nd, "%s.blocks.%d.mlp.lin1.bias", sp, b);
        nd = SH2(W, mlp);
        ADD(false, nd, "%s.blocks.%d.mlp.lin2.weight", sp, b);
        nd = SH1(W);
        ADD(false, nd, "%s.blocks.%d.mlp.lin2.bias", sp, b);
    }
    nd = SH4(oc, W, 1, 1);
    ADD(false, nd, "%s.neck.0.weight", sp);
    nd = SH1(oc);
    ADD(false, nd, "%s.neck.1.weight", sp);
    ADD(false, nd, "%s.neck.1.bias", sp);
    nd = SH4(oc, oc, 3, 3);
    ADD(false, nd, "%s.neck.2.weight", sp);
    nd = SH1(oc);
    ADD(false, nd, "%s.neck.3.weight", sp);
    ADD(false, nd, "%s.neck.3.bias", sp);
    const int64_t d0 = c->sam.downsample_channels[0], d1 = c->sam.downsample_channels[1];
    nd = SH4(d0, oc, 3, 3);
    ADD(false, nd, "%s.net_2.weight", sp);
    nd = SH4(d1, d0, 3, 3);
    ADD(false, nd, "%s.net_3.weight", sp);

    const char *cp = "model.vision_model";
    const int64_t CW = c->clip.width, CP = c->clip.patch_size, CG = c->clip.image_size / CP;
    const int64_t ffn = c->clip.ffn_hidden_size;
    nd = SH1(CW);
    ADD(false, nd, "%s.embeddings.class_embedding", cp);
    /* Present in the release but never used: CLIP takes SAM's features as
     * its patch embeddings. */
    nd = SH4(CW, 3, CP, CP);
    ADD(true, nd, "%s.embeddings.patch_embedding.weight", cp);
    nd = SH2(CG * CG + 1, CW);
    ADD(false, nd, "%s.embeddings.position_embedding.weight", cp);
    nd = SH1(CW);
    ADD(false, nd, "%s.pre_layrnorm.weight", cp);
    ADD(false, nd, "%s.pre_layrnorm.bias", cp);
    for (int l = 0; l < c->clip.layers; l++) {
        const char *lp = "transformer.layers";
        nd = SH1(CW);
        ADD(false, nd, "%s.%s.%d.layer_norm1.weight", cp, lp, l);
        ADD(false, nd, "%s.%s.%d.layer_norm1.bias", cp, lp, l);
        ADD(false, nd, "%s.%s.%d.layer_norm2.weight", cp, lp, l);
        ADD(false, nd, "%s.%s.%d.layer_norm2.bias", cp, lp, l);
        nd = SH2(3 * CW, CW);
        ADD(false, nd, "%s.%s.%d.self_attn.qkv_proj.weight", cp, lp, l);
        nd = SH1(3 * CW);
        ADD(false, nd, "%s.%s.%d.self_attn.qkv_proj.bias", cp, lp, l);
        nd = SH2(CW, CW);
        ADD(false, nd, "%s.%s.%d.self_attn.out_proj.weight", cp, lp, l);
        nd = SH1(CW);
        ADD(false, nd, "%s.%s.%d.self_attn.out_proj.bias", cp, lp, l);
        nd = SH2(ffn, CW);
        ADD(false, nd, "%s.%s.%d.mlp.fc1.weight", cp, lp, l);
        nd = SH1(ffn);
        ADD(false, nd, "%s.%s.%d.mlp.fc1.bias", cp, lp, l);
        nd = SH2(CW, ffn);
        ADD(false, nd, "%s.%s.%d.mlp.fc2.weight", cp, lp, l);
        nd = SH1(CW);
        ADD(false, nd, "%s.%s.%d.mlp.fc2.bias", cp, lp, l);
    }
    /* Buffer some re-saved checkpoints carry. */
    nd = SH2(1, CG * CG + 1);
    ADD(true, nd, "%s.embeddings.position_ids", cp);

    const int64_t N = c->projector.n_embed;
    nd = SH2(N, c->projector.input_dim);
    ADD(false, nd, "model.projector.layers.weight");
    nd = SH1(N);
    ADD(false, nd, "model.projector.layers.bias");
    ADD(false, nd, "model.image_newline");
    ADD(false, nd, "model.view_seperator");
    return OCR_OK;
}

/* vlocr-nano's encoder (vision/vis_nano.c), as the trainer exports it:
 * conv stem weights flattened to [out, 9·in], learned row/column position
 * tables, pre-LN ViT blocks, a final LayerNorm, the row-merging compressor,
 * the projector and image_newline. */
ocr_status vis_nano_spec_build(ocr_spec *s, const vis_nano_config *c, ocr_err *e)
{
    ocr_status rc;
    int64_t sh[4];
    int nd;
    const int cin[3] = {1, c->c1, c->c2}, cout[3] = {c->c1, c->c2, c->c3};
    for (int i = 0; i < 3; i++) {
        nd = SH2(cout[i], 9 * cin[i]);
        ADD(false, nd, "model.vision.stem.%d.weight", i);
        nd = SH1(cout[i]);
        ADD(false, nd, "model.vision.stem.%d.bias", i);
    }
    const int64_t vd = c->vd;
    nd = SH2(vd, c->c3);
    ADD(false, nd, "model.vision.patch_proj.weight");
    nd = SH1(vd);
    ADD(false, nd, "model.vision.patch_proj.bias");
    nd = SH2(c->max_rows, vd);
    ADD(false, nd, "model.vision.pos_row");
    nd = SH2(c->max_cols, vd);
    ADD(false, nd, "model.vision.pos_col");
    for (int l = 0; l < c->v_layers; l++) {
        const char *bp = "model.vision.blocks";
        nd = SH1(vd);
        ADD(false, nd, "%s.%d.norm1.weight", bp, l);
        ADD(false, nd, "%s.%d.norm1.bias", bp, l);
        ADD(false, nd, "%s.%d.norm2.weight", bp, l);
        ADD(false, nd, "%s.%d.norm2.bias", bp, l);
        nd = SH2(3 * vd, vd);
        ADD(false, nd, "%s.%d.attn.qkv.weight", bp, l);
        nd = SH1(3 * vd);
        ADD(false, nd, "%s.%d.attn.qkv.bias", bp, l);
        nd = SH2(vd, vd);
        ADD(false, nd, "%s.%d.attn.proj.weight", bp, l);
        nd = SH1(vd);
        ADD(false, nd, "%s.%d.attn.proj.bias", bp, l);
        nd = SH2(c->v_mlp, vd);
        ADD(false, nd, "%s.%d.mlp.fc1.weight", bp, l);
        nd = SH1(c->v_mlp);
        ADD(false, nd, "%s.%d.mlp.fc1.bias", bp, l);
        nd = SH2(vd, c->v_mlp);
        ADD(false, nd, "%s.%d.mlp.fc2.weight", bp, l);
        nd = SH1(vd);
        ADD(false, nd, "%s.%d.mlp.fc2.bias", bp, l);
    }
    nd = SH1(vd);
    ADD(false, nd, "model.vision.norm.weight");
    ADD(false, nd, "model.vision.norm.bias");
    nd = SH2(c->d, (int64_t)c->merge * vd);
    ADD(false, nd, "model.vision.compressor.weight");
    nd = SH1(c->d);
    ADD(false, nd, "model.vision.compressor.bias");
    nd = SH2(c->d, c->d);
    ADD(false, nd, "model.projector.layers.weight");
    nd = SH1(c->d);
    ADD(false, nd, "model.projector.layers.bias");
    ADD(false, nd, "model.image_newline");
    return OCR_OK;
}

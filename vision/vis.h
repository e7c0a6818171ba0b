/* vision/vis.h — internal header of vision/: preprocessing, SAM-B and CLIP-L
 * blocks, compressor, projector (vis_). */
#ifndef VLOCR_VISION_VIS_H
#define VLOCR_VISION_VIS_H

#include "core/ocr.h"

/* Every tensor a DeepEncoder with config `c` must have, appended to s
 * (model.sam_model.*, model.vision_model.*, model.projector.*,
 * model.image_newline, model.view_seperator). */
ocr_status vis_spec_build(ocr_spec *s, const ocr_vis_config *c, ocr_err *e);

/* ============================================================ resampling
 *
 * Three resamplers, each a bit-faithful port of the reference it names:
 * preprocessing uses PIL's, the encoder's position tables use torch's. */

/* PIL Image.resize((dw, dh), Image.BICUBIC) of `nplanes` 8-bit planes
 * src[nplanes][sh][sw] into dst[nplanes][dh][dw] (Pillow libImaging
 * Resample.c: a = -0.5 cubic whose support widens by the downscale factor,
 * 22-bit fixed-point coefficients, a horizontal pass then a vertical pass,
 * each rounded and clipped to 8 bits). Allocates its coefficient tables and
 * the intermediate image; dst must not overlap src. */
ocr_status vis_resize_pil_bicubic(uint8_t *dst, int dw, int dh,
                                  const uint8_t *src, int sw, int sh,
                                  int nplanes, ocr_err *e);

/* F.interpolate(x, size=(dh, dw), mode='bicubic', antialias=True,
 * align_corners=False) for float32 (ATen's separable AA kernel: a = -0.5,
 * support scaled when downsizing, weights renormalised at the borders,
 * width pass then height pass, all in float). Channels-last:
 * src[sh][sw][c] -> dst[dh][dw][c]. tmp holds sh*dw*c floats. */
void vis_interp_bicubic_aa(float *dst, int dh, int dw, const float *src,
                           int sh, int sw, int c, float *tmp);

/* Weights ATen's AA bicubic gives output sample i of a resize from in_size to
 * out_size: w[0..n) apply to inputs xmin..xmin+n-1. Returns n, or -1 when
 * more than `cap` taps are needed. For tests. */
int vis_aa_bicubic_weights(float *w, int cap, int *xmin, int i, int in_size,
                           int out_size);

/* F.interpolate(x, size=dn, mode='linear', align_corners=False) along the
 * rows of src[sn][c] -> dst[dn][c] (rel-pos tables). */
void vis_interp_linear(float *dst, int dn, const float *src, int sn, int c);

/* ========================================================= preprocessing
 *
 * The official infer(): tile choice (dynamic_preprocess), ImageOps.pad of the
 * global view, PIL bicubic resizes, ToTensor + Normalize, and the image-slot
 * count of the prompt. Images are planar 8-bit RGB: rgb[3][h][w]. */

typedef struct {
    int base_size;        /* global view edge in crop mode (1024) */
    int image_size;       /* tile edge in crop mode, view edge otherwise */
    bool crop_mode;
    int crop_threshold;   /* no tiles when w <= t and h <= t (640) */
    int min_tiles;        /* dynamic_preprocess min_num (2) */
    int max_tiles;        /* dynamic_preprocess max_num (9; vLLM uses 6) */
    int patch_size;       /* 16 */
    int downsample_ratio; /* 4: SAM's two stride-2 convs */
    uint8_t pad_rgb[3];   /* ImageOps.pad colour: int(0.5 * 255) = 127 */
    float mean[3], std[3];
} vis_prep_params;

/* Gundam, as infer() runs it: base 1024, tiles of 640, threshold 640,
 * 2..9 tiles, patch 16, downsample 4, pad 127, mean = std = 0.5. */
vis_prep_params vis_prep_default_params(void);
/* The official modes: "tiny" (512), "small" (640), "base" (1024), "large"
 * (1280) without tiles, "gundam" (1024 + 640 tiles). OCR_E_ARG otherwise. */
ocr_status vis_prep_params_mode(vis_prep_params *p, const char *mode,
                                ocr_err *e);
/* OCR_E_ARG naming the field when p cannot be run. */
ocr_status vis_prep_params_check(const vis_prep_params *p, ocr_err *e);

/* The (tiles_w, tiles_h) grid dynamic_preprocess picks for a w x h image:
 * every (i, j) with min <= i*j <= max ordered by i*j, the closest aspect
 * ratio, a later ratio winning a tie when w*h > 0.5*tile²*i*j. */
void vis_tile_grid(int *tiles_w, int *tiles_h, int w, int h,
                   const vis_prep_params *p);

/* Image slots infer() puts in the prompt (§3.6):
 *   crop mode: (nb+1)*nb + 1, plus (nq*tw+1)*(nq*th) when there are tiles,
 *   otherwise: (nq+1)*nq + 1,
 * with nb = ceil(base/patch/ratio) and nq = ceil(image_size/patch/ratio). */
int vis_image_slots(const vis_prep_params *p, int n_tiles, int tiles_w,
                    int tiles_h);

/* The model inputs of one image. */
typedef struct {
    int src_w, src_h;
    int tiles_w, tiles_h; /* images_spatial_crop; 1, 1 without tiles */
    int n_tiles;          /* tiles_w*tiles_h, or 0: global view only */
    int tile_size;        /* edge of a tile (image_size) */
    int view_size;        /* edge of the global view */
    int n_slots;          /* image slots in the prompt (vis_image_slots) */
    uint8_t *tiles_rgb;   /* [n_tiles][3][tile][tile], row-major tiles */
    uint8_t *view_rgb;    /* [3][view][view] */
    float *tiles;         /* same, ToTensor + Normalize */
    float *view;
} vis_views;

/* Build the views of a planar RGB image rgb[3][h][w]. Crop mode: tiles from
 * a bicubic resize to (tile*tw, tile*th) when the image exceeds the
 * threshold, and a global view ImageOps.pad-ed to base_size. Otherwise:
 * image_size <= 640 squashes to image_size² first (as infer() does), then
 * pads to image_size. On success free with vis_views_free. */
ocr_status vis_preprocess(vis_views *v, const uint8_t *rgb, int w, int h,
                          const vis_prep_params *p, ocr_err *e);
void vis_views_free(vis_views *v);

/* ImageOps.pad(img, (size, size), BICUBIC, color): fit inside, keeping the
 * aspect ratio (Python round(), half to even, for the new size and the
 * offset), centred on `color`. dst[3][size][size]. */
ocr_status vis_pad_square(uint8_t *dst, int size, const uint8_t *rgb, int w,
                          int h, const uint8_t color[3], ocr_err *e);

/* ToTensor + Normalize of n planar pixels per channel: (u/255 - mean)/std,
 * in float as torchvision computes it. */
void vis_normalize(float *dst, const uint8_t *rgb, size_t plane,
                   const float mean[3], const float std[3]);

/* Prompt ids as infer() builds them: [bos] + before + n_slots x image_id +
 * after; mask[i] = 1 on image slots (images_seq_mask). Writes *n entries;
 * OCR_E_LIMIT when more than cap. */
ocr_status vis_prompt_build(int32_t *ids, uint8_t *mask, size_t cap,
                            size_t *n, int32_t bos, const int32_t *before,
                            size_t n_before, int32_t image_id, int n_slots,
                            const int32_t *after, size_t n_after, ocr_err *e);

/* Decode an image file into planar RGB (caller frees *rgb with free()).
 * Uses the pipeline's loader (Leptonica). */
ocr_status vis_image_load(uint8_t **rgb, int *w, int *h, const char *path,
                          ocr_err *e);

/* ============================================================ kernels
 *
 * Convolutions and attention as GEMMs. Activations are channels-last
 * ([h][w][c]); weights as the checkpoint stores them unless noted. */

/* y[oh*ow, cout] = conv2d(x[h][w][cin]) with square kernel k, stride s,
 * zero padding p. w is [cout][k][k][cin] (the checkpoint's [cout][cin][k][k]
 * permuted once at load so that im2col copies runs of cin). cols is scratch
 * of chunk*k*k*cin floats; rows of the output are produced `chunk` at a
 * time (chunk >= 1). */
void vis_conv2d_nhwc(float *y, const float *x, int h, int wd, int cin,
                     const float *w, const float *bias, int cout, int k,
                     int s, int p, float *cols, int chunk);
void vis_conv2d_nhwc_ref(float *y, const float *x, int h, int wd, int cin,
                         const float *w, const float *bias, int cout, int k,
                         int s, int p);
/* Output edge of a conv: (n + 2p - k)/s + 1. */
int vis_conv_out(int n, int k, int s, int p);

/* Permute a conv weight [cout][cin][k][k] -> [cout][k][k][cin]. */
void vis_conv_weight_nhwc(float *dst, const float *src, int cout, int cin,
                          int k);

/* One head of attention over a gh x gw token grid (SAM's Attention with
 * decomposed relative positions; plain softmax attention when ph is NULL):
 *   S[(i,j),(kk,l)] = q·k·scale + ph[t][i - kk + gh - 1] + pw[t][j - l + gw - 1]
 *   out = softmax(S) v
 * q, k, v rows have stride ld (the fused qkv row), out rows stride ldo;
 * n = gh*gw tokens (gh = n, gw = 1 for a sequence). ph [n][2gh-1] and
 * pw [n][2gw-1] are the queries' projections on the rel-pos tables
 * (vis_attn_rel), which use the unscaled q. Query rows are processed
 * qchunk at a time; scratch holds vis_attn_scratch(n, hd, qchunk) floats. */
size_t vis_attn_scratch(int n, int hd, int qchunk);
void vis_attn_head(float *out, int ldo, const float *q, const float *k,
                   const float *v, int ld, int hd, int gh, int gw,
                   const float *ph, const float *pw, float scale,
                   float *scratch, int qchunk);
/* ph[t][m] = q_t·rh[m] (m < lh), pw[t][m] = q_t·rw[m] (m < lw) for n
 * queries of stride ld: two GEMMs. */
void vis_attn_rel(float *ph, float *pw, const float *q, int ld, int n, int hd,
                  const float *rh, int lh, const float *rw, int lw);
/* Naive twin of vis_attn_head, taking the tables rh [2gh-1][hd] and
 * rw [2gw-1][hd] themselves (double accumulation). */
void vis_attn_head_ref(float *out, int ldo, const float *q, const float *k,
                       const float *v, int ld, int hd, int gh, int gw,
                       const float *rh, const float *rw, float scale);

/* Row softmax in place (max-subtracted), as ocr_softmax, with a vectorised
 * exp (relative error ~2 ulp). */
void vis_softmax_rows(float *x, int n, int d);

/* Largest token grid edge attention supports (rel-pos terms per row). */
#define VIS_MAX_GRID 1024

/* Run fn(ctx, r0, r1) over [0, n) split by rows across up to the BLAS
 * thread count, when n·row_cost elements are worth it; otherwise inline.
 * fn must not call BLAS. */
typedef void (*vis_range_fn)(void *ctx, int r0, int r1);
void vis_parallel_rows(int n, size_t row_cost, vis_range_fn fn, void *ctx);

/* Exact-erf GELU in place with ATen's vectorised erf (A&S 7.1.26,
 * |Δerf| < 1.5e-7): x/2·(1 + erf(x/√2)). */
void vis_gelu_erf(float *x, size_t n);

/* ocr_layernorm / vis_gelu_erf / ocr_quick_gelu / y += x over n rows of d,
 * split across threads by rows. */
void vis_layernorm_rows(float *out, const float *x, const float *w,
                        const float *b, int n, int d, float eps);
void vis_gelu_erf_rows(float *x, int n, int d);
void vis_quick_gelu_rows(float *x, int n, int d);
void vis_add_rows(float *y, const float *x, int n, int d);

/* ================================================================= model
 *
 * A loaded DeepEncoder is read-only and may be shared by many states.
 * Linear weights are views into the checkpoint (any float dtype; ocr_matmul
 * widens them). Vectors, position tables and conv kernels are converted to
 * float32 once at load into the model's own pool. */

typedef struct {
    const ocr_tensor *w; /* [out, in] */
    const float *b;      /* [out] or NULL */
} vis_linear;

typedef struct {
    const float *norm1_w, *norm1_b, *norm2_w, *norm2_b;
    vis_linear qkv, proj, lin1, lin2;
    const float *rel_h, *rel_w; /* [rel_len][head_dim] */
    int rel_len;
    int window; /* window edge; 0 = global attention */
} vis_sam_block;

typedef struct {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    vis_linear qkv, out, fc1, fc2;
} vis_clip_layer;

typedef struct vis_model {
    ocr_vis_config cfg;
    /* SAM ViT-B */
    int sam_dim, sam_heads, sam_head_dim, sam_mlp, patch, pos_grid;
    int neck_ch, net2_ch, net3_ch;
    const float *patch_w; /* [D][3*P*P], (c, ky, kx) order */
    const float *patch_b; /* [D] */
    const float *pos;     /* [G][G][D] */
    vis_sam_block *blocks;
    const float *neck0_w;            /* [oc][D] (1x1 conv) */
    const float *neck1_w, *neck1_b;  /* LayerNorm2d */
    const float *neck2_w;            /* [oc][3][3][oc] */
    const float *neck3_w, *neck3_b;
    const float *net2_w;             /* [d0][3][3][oc] */
    const float *net3_w;             /* [d1][3][3][d0] */
    /* CLIP-L */
    int clip_dim, clip_heads, clip_head_dim, clip_ffn, clip_grid;
    const float *cls;      /* [CW] */
    const float *clip_pos; /* [CG*CG+1][CW] */
    const float *pre_w, *pre_b;
    vis_clip_layer *layers;
    /* Projector and layout vectors. */
    vis_linear projector; /* [n_embed][CW + d1] */
    const float *newline, *separator; /* [n_embed] */
    int n_embed;
    /* Owned storage. */
    float *pool;
    size_t pool_used, pool_cap;
    ocr_tensor *rand_tensors; /* vis_model_create_random */
    size_t n_rand;
    float *rand_block;
    char *rand_names;
} vis_model;

/* Build the encoder from a parsed config and an open checkpoint, checking
 * every tensor against vis_spec_build (a report of every missing or
 * misshaped tensor on failure). `st` is borrowed and must outlive the
 * model. *out is NULL on failure. */
ocr_status vis_model_create(vis_model **out, const ocr_vis_config *c,
                            const ocr_st *st, ocr_err *e);
/* Random F32 weights (uniform, fan-in scaled; gains 1 ± 0.1) held in one
 * owned block, deterministic in `seed`: for tests and benchmarks. */
ocr_status vis_model_create_random(vis_model **out, const ocr_vis_config *c,
                                   uint64_t seed, ocr_err *e);
/* Accepts NULL and *m == NULL; nulls the pointer. */
void vis_model_destroy(vis_model **m);

/* ================================================================= state */

/* Stage taps for conformance: called synchronously with each intermediate
 * of each view (valid only during the call). Names follow the fixtures:
 * sam_block_in, sam_block{i}_out, sam_neck_out, sam_net2_out, sam_net3_out
 * ([h][w][c], channels-last even where the goldens are NCHW),
 * clip_embeddings_out, clip_pre_layrnorm_out, clip_layer{i}_out ([T][C]),
 * projector_out ([n][C]). `local` is true for tiles; `view` is the tile
 * index (0 for the global view). */
typedef struct {
    const char *stage;
    bool local;
    int view;
    int h, w, c; /* h*w rows of c floats (h = T, w = 1 for sequences) */
    const float *x;
} vis_tap_event;
typedef void (*vis_tap_fn)(void *ud, const vis_tap_event *ev);

/* Per-request scratch for views of edge up to max_view, sized once (one
 * arena; no allocation while encoding). */
typedef struct vis_state {
    const vis_model *m;
    int max_view;
    ocr_arena arena;
    vis_tap_fn tap;
    void *tap_ud;
    /* SAM: residual x [g²][D]; ln, qkv, att over the window-padded grid;
     * mlp [chunk][4D]; resized pos [g²][D] and rel-pos tables; query
     * projections on the tables; im2col and attention scratch; neck and
     * compressor outputs. */
    float *x, *ln, *qkv, *att, *mlp, *pos, *rel_h, *rel_w, *cols, *attn_tmp;
    float *rel_ph, *rel_pw;
    float *interp_tmp, *neck_a, *neck_b, *net2, *net3;
    int mlp_chunk, cols_chunk, qchunk;
    /* CLIP (T = g4² + 1 rows) and the projector. */
    float *cx, *cln, *cqkv, *catt, *cffn, *cpos, *feat, *tokens;
} vis_state;

ocr_status vis_state_create(vis_state **out, const vis_model *m, int max_view,
                            ocr_err *e);
void vis_state_destroy(vis_state **s);
void vis_state_set_tap(vis_state *s, vis_tap_fn fn, void *ud);

/* Tokens one view of edge `size` yields: (ceil(size/patch/4))². */
int vis_view_tokens(const vis_model *m, int size);

/* SAM + CLIP + projector on one view pix[3][size][size] (normalised) into
 * tokens[vis_view_tokens][n_embed]. `local`/`view` only label taps. */
ocr_status vis_encode_view(vis_state *s, const float *pix, int size,
                           float *tokens, bool local, int view, ocr_err *e);

/* The stages vis_encode_view runs, on the state's buffers: SAM leaves its
 * [g4][g4][d1] output in s->net3 (g4 = ceil(size/patch/4)); CLIP and the
 * projector turn it into tokens[g4*g4][n_embed]. */
ocr_status vis_sam_forward(vis_state *s, const float *pix, int size, bool local,
                           int view, ocr_err *e);
ocr_status vis_clip_forward(vis_state *s, int g4, float *tokens, bool local,
                            int view, ocr_err *e);
/* Report a stage to the state's tap, if any. */
void vis_tap(vis_state *s, const char *stage, bool local, int view, int h,
             int w, int c, const float *x);

/* Rows vis_encode writes for these views (equals v->n_slots). */
int vis_encode_rows(const vis_model *m, const vis_views *v);
/* All views of an image laid out as the decoder consumes them:
 * [tile grid, image_newline after each row] [global grid, newline after each
 * row] [view_seperator]; out[vis_encode_rows][n_embed]. */
ocr_status vis_encode(vis_state *s, const vis_views *v, float *out,
                      int out_rows, ocr_err *e);

/* Matmul FLOPs (2·m·n·k of every GEMM) of one view, for benchmarks. */
double vis_view_flops(const vis_model *m, int size);

/* =========================================================== conformance */

typedef struct {
    const char *name;  /* "preprocess/pixel_values_global", "vision/local/sam_block0_out", ... */
    double max_abs;    /* worst |got - ref| (0 for exact comparisons) */
    double tol;        /* allowed |Δ| */
    bool pass;
    const char *note;  /* "" or why it failed (shape, missing stage, ...) */
} vis_conform_line;
typedef void (*vis_conform_line_fn)(void *ud, const vis_conform_line *line);

/* Run preprocessing from common_dir/test_image.png (parameters from
 * common_dir/preprocess.json, prompt through the fixtures' synthetic byte
 * tokenizer) and the encoder of fixture_dir (config.json +
 * model.safetensors), and compare against every golden present:
 * common/{global_view.png, crop_*.png, pixel_values_*.npy,
 * images_spatial_crop.npy, input_ids.npy, images_seq_mask.npy},
 * common/global_only/ (same files), fixture/vision/{local,global}/<stage>.npy
 * and fixture/vision/image_embeddings.npy. One callback per compared file,
 * in order; *n_fail (may be NULL) counts failed lines. A golden file
 * without a matching stage is a failed line. common_dir NULL means
 * fixture_dir/../common; fixture_dir NULL runs the preprocessing checks
 * only. When img_rows is non-NULL and the encoder ran, *img_rows receives
 * our image rows [*n_img_rows][n_embed] (malloc'd; caller frees) — the
 * decoder's conformance can then run on them instead of the golden
 * image_embeddings, end to end from the PNG. Returns non-OK only when the
 * comparison could not run (missing model, unreadable image...). */
ocr_status vis_conform(const char *fixture_dir, const char *common_dir,
                       vis_conform_line_fn cb, void *ud, int *n_fail,
                       float **img_rows, int *n_img_rows, ocr_err *e);

/* ================================================= vlocr-nano encoder
 * (vision/vis_nano*.c; owned by the trainer's author: the vlocr-nano model
 * of train/, run at inference). A grayscale crop of height 32 (text) or 64
 * (formula), width a multiple of 8 up to 8·max_cols, ink = 1 − gray/255,
 * becomes image rows for the DeepSeek-V2 decoder (language/lm_*). */

typedef struct {
    int c1, c2, c3;               /* conv stem channels */
    int vd, v_layers, v_heads, v_mlp;
    int max_rows, max_cols, merge;
    float ln_eps;
    int height_text, height_formula;
    int d;                        /* decoder width (hidden_size) */
    int bos, eos, tok_text, tok_formula;
} vis_nano_config;

/* Every encoder tensor a vlocr-nano config implies (vision/vis_spec.c). */
ocr_status vis_nano_spec_build(ocr_spec *s, const vis_nano_config *c, ocr_err *e);

typedef struct vis_nano vis_nano;

/* DIR/config.json: the "vlocr_nano" section + hidden_size and token ids. */
ocr_status vis_nano_config_load(vis_nano_config *c, const char *dir, ocr_err *e);
/* The same from the config.json at `path` (the trainer reads its encoder
 * sizes through this too). */
ocr_status vis_nano_config_read(vis_nano_config *c, const char *path, ocr_err *e);
/* Weights from an open checkpoint (any float dtype, widened to F32 once);
 * st may be closed afterwards. */
ocr_status vis_nano_create(vis_nano **out, const vis_nano_config *c, const ocr_st *st,
                           ocr_err *e);
void vis_nano_destroy(vis_nano **m);
const vis_nano_config *vis_nano_cfg(const vis_nano *m);
/* Image rows of an h×w crop: (h/8/merge)·(w/8 + 1). */
int vis_nano_rows(const vis_nano *m, int h, int w);
/* ink [h, w] → out [vis_nano_rows, d]. Allocates its scratch per call. */
ocr_status vis_nano_encode(const vis_nano *m, const float *ink, int h, int w, float *out,
                           ocr_err *e);

/* The recogniser: encoder + decoder (language/lm_) + tokenizer of a model
 * directory (config.json, model.safetensors, tokenizer.json). Read-only
 * after load; one call at a time per recogniser (it owns one lm_state). */
typedef struct vis_nano_recog vis_nano_recog;

ocr_status vis_nano_recog_load(vis_nano_recog **out, const char *dir, ocr_err *e);
void vis_nano_recog_destroy(vis_nano_recog **r);
/* Beam widths for text (lines, cells) and formulas, 1..64 (default 1:
 * greedy; 0 leaves a width as it is). Wider beams read crops one at a
 * time, beams as the batch. */
void vis_nano_recog_set_beam(vis_nano_recog *r, int text, int formula);
/* How many pieces vis_nano_recognize reads the crop in (0: no ink; -1 on
 * error, with e set). */
int vis_nano_pieces(const vis_nano_recog *r, const uint8_t *gray, int w, int h, int stride, bool formula,
                    ocr_err *e);
/* Text of a crop: gray [h][stride] (0 = ink), any size. The crop is
 * trimmed to its ink, scaled to the model's height (text or formula);
 * text lines wider than the model's width are cut at word gaps
 * (vis_nano_cut_at) and read piece by piece; formulas up to 1.5 × its
 * width are scaled down to fit it, wider ones are cut the same way.
 * *text is malloc'd UTF-8 (caller frees). *conf, if conf
 * is non-NULL, receives the confidence: the mean probability the model gave
 * the tokens it emitted (end of text included), over all pieces, in [0, 1];
 * -1 for a crop without ink (nothing was read). */
ocr_status vis_nano_recognize(vis_nano_recog *r, const uint8_t *gray, int w, int h, int stride,
                              bool formula, char **text, float *conf, ocr_err *e);

/* Where vis_nano_recognize cuts a line wider than the model: col[W] holds
 * the ink per column at height H, the piece starts at `start` and may be
 * maxW wide. Returns the first column of the next piece, in the middle of
 * the widest blank run of the piece's last third (a word gap, not a gap
 * between letters; the rightmost of equals), else at the emptiest column.
 * *gap: the run is a word space wide (≥ H/6), so the texts join with one. */
int vis_nano_cut_at(const double *col, int W, int start, int maxW, int H, bool *gap);

/* Balance the braces of malloc'd LaTeX *s in place (formula reads end
 * with it): a '}' with no open group is dropped, groups still open at the
 * end are closed; escaped \\{ and \\} are text. *s may be reallocated. */
ocr_status vis_latex_balance(char **s, ocr_err *e);

/* A crop for vis_nano_recognize_many: gray [h][stride], 0 = ink. */
typedef struct {
    const uint8_t *gray;
    int w, h, stride;
} vis_nano_crop;
/* Texts of n crops (the lines of a page, the cells of a table), read by
 * `threads` workers at once (≤ 0: the BLAS thread count), each with its own
 * decoder state and single-threaded matmuls; the BLAS thread count is
 * restored on return. texts[i] is malloc'd (NULL where that crop failed;
 * rcs[i], if rcs is non-NULL, says why); confs[i], if confs is non-NULL,
 * the crop's confidence as in vis_nano_recognize (-1 where it failed or had
 * no ink); returns the first failure. Not reentrant for one recogniser. */
ocr_status vis_nano_recognize_many(vis_nano_recog *r, const vis_nano_crop *crops, int n,
                                   bool formula, int threads, char **texts, float *confs,
                                   ocr_status *rcs, ocr_err *e);

#endif

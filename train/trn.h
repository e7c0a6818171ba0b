/* train/trn.h — the vlocr-nano trainer (trn_): forward and backward of every
 * op of the nano model, the model (parameters in one contiguous buffer, named
 * as they are exported), AdamW with a warmup + WSD schedule, DeepSeek-V3
 * auxiliary-loss-free MoE balancing, checkpoints that resume bit-for-bit,
 * width-bucketed batches from a sample source, and the training loop.
 *
 * Style follows karpathy/llm.c: each op is a pair of plain functions,
 * `_forward` and `_backward`; backward functions ACCUMULATE (+=) into the
 * gradients of their inputs and weights, so the caller zeroes gradients once
 * per step. Activations are channels-last, row-major; weights are [out, in]
 * so that y = x·Wᵀ (the convention of core/ocr.h and of the HF checkpoints).
 *
 * The model (vlocr-nano):
 *   gray crop [H, W] (H 32 for text, 64 for math; W a multiple of 8, ≤ 8·max_cols)
 *   → conv 3×3 s2 1→c1, GELU → conv 3×3 s2 c1→c2, GELU → conv 3×3 s2 c2→c3, GELU
 *   → linear c3→vd + learned row/column position embeddings        (local stage)
 *   → v_layers pre-LN ViT blocks, global attention over the grid    (global stage)
 *   → LayerNorm → compressor: each column of `merge` rows (merge·vd) → d, GELU
 *   → projector linear d→d; one image_newline vector after each compressed row
 *   → decoder prompt [BOS][image rows][task token] text … EOS
 *   → DeepSeek-V2 decoder: RMSNorm, MLA (no q LoRA, RoPE on a decoupled part),
 *     layer 0 dense SwiGLU, then MoE: shared + routed experts, sigmoid scores,
 *     top-k on scores + e_score_correction_bias, weights from unbiased scores.
 * The decoder is causal over the whole sequence, image prefix included, as
 * the inference engine (language/lm_*) runs it.
 *
 * Library code never prints: the training loop reports through a callback
 * and writes its own log file in the run directory.
 */
#ifndef VLOCR_TRAIN_TRN_H
#define VLOCR_TRAIN_TRN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ocr.h"

/* ===================================================================== ops
 * Shapes in comments; N = rows. All buffers float32. */

/* y[N,out] = x[N,in]·Wᵀ + b (b may be NULL). */
void trn_linear_forward(float *y, const float *x, const float *w, const float *b,
                        int n, int in, int out);
/* dx += dy·W (dx may be NULL), dW += dyᵀ·x, db += Σ dy (db may be NULL). */
void trn_linear_backward(float *dx, float *dw, float *db, const float *dy,
                         const float *x, const float *w, int n, int in, int out);

/* LayerNorm over rows of x[N,d]; saves mean/rstd [N] for backward. */
void trn_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
                           const float *w, const float *b, int n, int d, float eps);
void trn_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *mean, const float *rstd,
                            const float *w, int n, int d);
/* RMSNorm: y = x·rsqrt(mean(x²)+eps)·w; saves rstd [N]. */
void trn_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w,
                         int n, int d, float eps);
void trn_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                          const float *rstd, const float *w, int n, int d);

/* Exact (erf) GELU, elementwise over n. */
void trn_gelu_forward(float *y, const float *x, size_t n);
void trn_gelu_backward(float *dx, const float *dy, const float *x, size_t n);
/* a[n] = silu(g)·u. */
void trn_swiglu_forward(float *a, const float *g, const float *u, size_t n);
void trn_swiglu_backward(float *dg, float *du, const float *da, const float *g,
                         const float *u, size_t n);

/* 3×3 stride-2 pad-1 convolution, channels-last:
 * x[B,H,W,Cin] → y[B,H/2,W/2,Cout], w[Cout, 3·3·Cin] (ky, kx, ci order),
 * b[Cout]. `col` [B·(H/2)·(W/2), 9·Cin] is the im2col scratch, kept for the
 * backward. H and W must be even. */
void trn_conv_forward(float *y, float *col, const float *x, const float *w,
                      const float *b, int B, int H, int W, int cin, int cout);
/* dx (may be NULL) += col2im(dy·W); dw += dyᵀ·col; db += Σ dy. dcol is a
 * scratch as large as col. */
void trn_conv_backward(float *dx, float *dw, float *db, float *dcol,
                       const float *dy, const float *col, const float *w,
                       int B, int H, int W, int cin, int cout);

/* Multi-head attention for B sequences of T tokens:
 * q,k [B,T,Hh,dq] (row stride ldq, ldk floats per token), v [B,T,Hh,dv]
 * (stride ldv), out [B,T,Hh,dv] (stride ldo). P [B,Hh,T,T] keeps the
 * softmax for the backward. Causal masks j > i. Scale multiplies q·k. */
typedef struct {
    int B, T, H, dq, dv;
    int ldq, ldk, ldv, ldo;
    float scale;
    bool causal;
} trn_attn_shape;
void trn_attn_forward(float *out, float *P, const float *q, const float *k,
                      const float *v, const trn_attn_shape *s);
/* dq, dk, dv += ...; scratch holds TRN_ATTN_THREADS·T·T floats (one T×T
 * block per thread). */
void trn_attn_backward(float *dq, float *dk, float *dv, const float *dout,
                       const float *P, const float *q, const float *k,
                       const float *v, const trn_attn_shape *s, float *scratch);

/* RoPE on pairs (2i, 2i+1) of the first `dim` entries of each of `nh`
 * vectors per row: x[N, stride]; vector h starts at h·hstride. Row r uses
 * position pos[r]; frequencies theta^(-2i/dim). Rotating consecutive pairs
 * and the HF de-interleaved layout give the same q·k dot products (HF
 * permutes both q and k the same way), so exported weights run unchanged in
 * the inference engine. Backward = rotation by the opposite angle. */
void trn_rope_forward(float *x, const int *pos, int n, int nh, int stride,
                      int hstride, int dim, float theta);
void trn_rope_backward(float *dx, const int *pos, int n, int nh, int stride,
                       int hstride, int dim, float theta);

/* Cross-entropy of logits[N,V] against targets[N] (−1: ignored) with label
 * smoothing ls; writes dlogits = (softmax − onehot_ls)·scale (rows of ignored
 * targets zero) and returns Σ loss over counted rows (double). `logits` is
 * left untouched. */
double trn_xent_forward_backward(float *dlogits, const float *logits,
                                 const int32_t *targets, int n, int V, float ls,
                                 float scale);

/* CTC (training-only auxiliary loss): −log p(label | frames) of logits
 * [T, V] with class `blank`, forward-backward in log space (double).
 * Writes dlogits = (softmax − occupancy)·scale and returns −log p, or −1
 * when the label cannot be aligned (T < trn_ctc_min_frames). */
double trn_ctc_forward_backward(float *dlogits, const float *logits, int T, int V,
                                const int32_t *label, int L, int blank, float scale);
/* Frames a label needs: its length plus one blank between repeats. */
int trn_ctc_min_frames(const int32_t *label, int L);

/* ================================================================== config */

typedef struct {
    /* vision */
    int c1, c2, c3;        /* conv stem channels */
    int vd, v_layers, v_heads, v_mlp;
    int max_rows, max_cols; /* grid limits after the stem (H/8, W/8) */
    int merge;             /* rows merged by the compressor */
    /* decoder (DeepSeek-V2 names) */
    int d, layers, heads, nope, rope, vdim, kv_lora;
    int inter, moe_inter, n_routed, n_shared, topk, first_dense;
    int vocab;
    float rope_theta, rms_eps, ln_eps;
    float routed_scale;
    /* special token ids */
    int bos, eos, pad, tok_text, tok_formula;
} trn_config;

/* The vlocr-nano sizes (≈ 10 M parameters). */
trn_config trn_config_nano(void);
/* A micro model for gradient checks and resume tests (a few thousand
 * parameters). */
trn_config trn_config_tiny(void);
ocr_status trn_config_check(const trn_config *c, ocr_err *e);
/* Read/write the config.json the inference engine reads (HF DeepSeek-V2
 * keys + a "vlocr_nano" section for the encoder). */
ocr_status trn_config_write_json(const trn_config *c, const char *path, ocr_err *e);
ocr_status trn_config_read_json(trn_config *c, const char *path, ocr_err *e);

/* =================================================================== model */

#define TRN_MAX_PARAMS 1024
/* Threads for the ops (train/trn_ops.c): loops shorter than TRN_PAR_MIN
 * elements stay on one thread (a parallel region costs microseconds);
 * attention runs on at most TRN_ATTN_THREADS threads, each with its own
 * T×T gradient scratch (the caller's dP holds that many). */
#define TRN_PAR_MIN 16384
#define TRN_ATTN_THREADS 8

/* The CTC head reads each compressed column token as TRN_CTC_SPLIT frames
 * (left to right), so a W-pixel line gives W/8·TRN_CTC_SPLIT frames: 4 px
 * per frame, enough for dense text where W/8 alone is shorter than the
 * label. Parameters named "train.*" are the trainer's own (the CTC head):
 * placed last in the flat buffer, never exported. */
#define TRN_CTC_SPLIT 2

typedef struct {
    char name[96];     /* export name, e.g. model.layers.1.mlp.gate.weight */
    int ndim;
    int64_t shape[4];
    size_t off, numel; /* into the flat buffer */
    bool decay;        /* weight decay (matrices only) */
} trn_param;

/* Pointers into the flat buffer (parameters or gradients share a layout). */
typedef struct {
    float *conv_w[3], *conv_b[3];
    float *patch_w, *patch_b, *pos_row, *pos_col;
    struct {
        float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
        float *ln2_w, *ln2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    } *vl;
    float *vln_w, *vln_b, *comp_w, *comp_b, *proj_w, *proj_b, *newline;
    float *embed, *final_norm, *lm_head;
    float *ctc_w, *ctc_b; /* training-only CTC head [TRN_CTC_SPLIT·vocab, d]: never exported */
    struct {
        float *attn_norm, *mlp_norm, *q, *kv_a, *kv_norm, *kv_b, *o;
        float *gate, *up, *down;          /* dense, or shared experts */
        float *router;                    /* [E, d] */
        float *eg, *eu, *ed;              /* routed experts, stacked [E, ...] */
    } *dl;
} trn_weights;

/* Model: config, parameter table, flat parameters, gradients, AdamW
 * moments, MoE correction biases (a buffer, not a parameter). */
typedef struct {
    trn_config cfg;
    trn_param *params;
    int n_params;
    size_t n_floats;
    float *w, *g, *m, *v; /* [n_floats] each */
    trn_weights W, G;
    float *moe_bias;      /* [layers, n_routed]; rows of dense layers unused */
} trn_model;

ocr_status trn_model_create(trn_model **out, const trn_config *c, ocr_err *e);
void trn_model_destroy(trn_model **m);
/* Deterministic initialisation from `seed`. */
void trn_model_init(trn_model *m, uint64_t seed);
const trn_param *trn_model_find(const trn_model *m, const char *name);

/* A batch: B crops of the same H and W (W multiple of 8), pixels as
 * ink = 1 − gray/255, and per sample the decoder input ids and targets. */
typedef struct {
    int B, H, W, T;      /* T: decoder sequence length (padded) */
    float *img;          /* [B, H, W] */
    int32_t *ids;        /* [B, T]; image positions hold cfg.pad */
    int32_t *targets;    /* [B, T]; −1 where no loss */
    uint8_t *img_mask;   /* [B, T]; 1 on image rows */
    int n_targets;
} trn_batch;

/* Activations of one step, sized once for the limits. */
typedef struct trn_state trn_state;

typedef struct {
    int max_B, max_H, max_W, max_T;
} trn_limits;

ocr_status trn_state_create(trn_state **out, const trn_model *m,
                            const trn_limits *lim, ocr_err *e);
void trn_state_destroy(trn_state **s);

/* Image rows the encoder produces for an H×W crop (grid rows/merge groups,
 * each followed by one newline). */
int trn_image_rows(const trn_config *c, int H, int W);

/* Forward: returns the mean loss over targets (NaN on error). With
 * freeze_routing the MoE reuses the expert choice of the previous forward
 * (for finite differences). Expert load of this forward is accumulated into
 * `load` [layers, n_routed] when non-NULL. */
double trn_forward(trn_model *m, trn_state *s, const trn_batch *b,
                   bool freeze_routing, float label_smoothing, double *load);
/* Weight of the training-only CTC loss (default 0: off). When > 0, crops of
 * one row group (text lines) add weight · CTC per label token on the
 * compressed column tokens (TRN_CTC_SPLIT frames each, blank = pad id) to
 * the loss trn_forward returns; labels that cannot be aligned in the
 * frames, or were cut, are skipped. */
void trn_state_set_ctc(trn_state *s, float weight);
/* Parts of the last forward's loss: cross-entropy per target, CTC per label
 * token (0 when off), samples the CTC term used. */
void trn_state_losses(const trn_state *s, double *xent, double *ctc, int *ctc_samples);
/* Backward of the last forward: accumulates into m->g. */
void trn_backward(trn_model *m, trn_state *s, const trn_batch *b);
/* Encoder only: the image rows of each crop as the decoder consumes them,
 * out [B, trn_image_rows(H, W), d] (compressed tokens row by row, the
 * image_newline vector after each row). */
ocr_status trn_encode_rows(trn_model *m, trn_state *s, const trn_batch *b, float *out,
                           ocr_err *e);
/* Greedy decoding of prompts b ([BOS][image][task], no text) with the
 * trainer's own forward (no KV cache): up to max_new tokens per crop into
 * out [B, max_new], lengths in out_len (EOS not included). */
ocr_status trn_greedy_decode(trn_model *m, trn_state *s, trn_batch *b,
                             int task_token, int max_new, int32_t *out,
                             int *out_len, ocr_err *e);

/* Matmul FLOPs of one training step (forward + backward ≈ 3 × forward
 * GEMMs, attention included) for a batch of these shapes: for benchmarks. */
double trn_step_flops(const trn_config *c, int B, int H, int W, int T, int n_targets);
/* Logits [Nt, vocab] of the target rows of the last forward (tests). */
const float *trn_debug_logits(const trn_state *s, int *n_rows);
/* Residual stream [B·T, d] entering decoder layer l (l = layers: after the
 * last layer, before the final norm) of the last forward (tests). */
const float *trn_debug_residual(const trn_state *s, int l);

/* ============================================================== optimiser */

typedef struct {
    float lr, min_lr_frac, beta1, beta2, eps, wd, clip;
    int64_t warmup, decay_start, total_steps; /* WSD: constant after warmup
                                                 until decay_start, then
                                                 linear to min_lr at total */
    float bias_gamma;   /* aux-loss-free balancing speed; 0 = off */
} trn_opt_params;

trn_opt_params trn_opt_default_params(void);
float trn_lr_at(const trn_opt_params *p, int64_t step);
/* Clip the global gradient norm to p->clip; returns the norm before. */
double trn_clip_grads(trn_model *m, float clip);
/* One AdamW step (t = 1-based step for bias correction). */
void trn_adamw_step(trn_model *m, const trn_opt_params *p, float lr, int64_t t);
/* b_i += γ·sign(mean load − load_i) per MoE layer. */
void trn_balance_update(trn_model *m, const double *load, float gamma);

/* ============================================================= checkpoint */

/* Training position saved with a checkpoint. */
typedef struct {
    int64_t step;
    uint64_t seed;
    uint64_t pool, batch_in_pool; /* data cursor */
    double samples_seen;
    double train_seconds;
} trn_progress;

/* Everything needed to resume: weights, moments, MoE biases, progress. */
ocr_status trn_ckpt_save(const trn_model *m, const trn_progress *p,
                         const char *path, ocr_err *e);
ocr_status trn_ckpt_load(trn_model *m, trn_progress *p, const char *path,
                         ocr_err *e);
/* Warm start: the weights and MoE biases of another run's checkpoint (same
 * config; it may lack the trainer-only tensors at the end of the layout,
 * which keep their initialisation); moments stay zero. *from gets that
 * checkpoint's progress (step, samples seen, hours) for the record. */
ocr_status trn_ckpt_warm_start(trn_model *m, const char *path, trn_progress *from, ocr_err *e);
/* Inference checkpoint: model.safetensors (BF16 matrices or F32) +
 * config.json in dir. */
ocr_status trn_export(const trn_model *m, const char *dir, bool bf16, ocr_err *e);
/* Load weights from an exported model.safetensors (any float dtype). */
ocr_status trn_import(trn_model *m, const char *safetensors_path, ocr_err *e);

/* ================================================================== data */

/* One training sample: an 8-bit crop (0 = ink) and its label. */
typedef struct {
    int w, h;
    uint8_t *gray; /* owned */
    char *text;    /* owned */
    int kind;      /* 0 text, 1 formula */
} trn_sample;
void trn_sample_free(trn_sample *s);

/* A sample source: sample `index` is a pure function of the index. */
typedef struct {
    ocr_status (*get)(void *ud, uint64_t index, int phase, trn_sample *out, ocr_err *e);
    void *ud;
} trn_source;

/* Text → ids for the model (tokenizer wrapper): writes up to cap ids (ids
 * may be NULL when cap is 0) and returns how many the text needs, or −1. */
typedef int (*trn_encode_fn)(void *ud, const char *text, int32_t *ids, int cap);

/* Assemble a batch from n samples: common H = max, W = max rounded to 8
 * (pad with paper), ids = [BOS][img][task] text, targets text EOS.
 * Texts longer than max_text tokens are cut (no EOS). */
ocr_status trn_batch_build(trn_batch *b, const trn_config *c, const trn_limits *lim,
                           trn_sample *const *s, int n, trn_encode_fn enc, void *enc_ud,
                           int max_text, ocr_err *e);
ocr_status trn_batch_alloc(trn_batch *b, const trn_config *c, const trn_limits *lim,
                           ocr_err *e);
void trn_batch_free(trn_batch *b);

/* Pools of pool_batches·B consecutive sample indices are generated (by a
 * producer thread, one pool ahead), sorted by (height, width) and cut into
 * batches taken in a seeded shuffled order: bucketed by width and
 * deterministic, with the cursor (pool, batch_in_pool). */
typedef struct trn_loader trn_loader;
typedef int (*trn_phase_fn)(void *ud, uint64_t pool);
ocr_status trn_loader_create(trn_loader **out, const trn_source *src, uint64_t seed,
                             int B, int pool_batches, uint64_t pool,
                             trn_phase_fn phase, void *phase_ud, bool threaded,
                             ocr_err *e);
/* Samples of batch `batch_in_pool` of pool `pool`: *out gets an array of B
 * pointers owned by the loader, valid until the next call. */
ocr_status trn_loader_batch(trn_loader *l, uint64_t pool, uint64_t batch_in_pool,
                            trn_sample ***out, ocr_err *e);
void trn_loader_destroy(trn_loader **l);

/* ================================================================ training */

typedef struct {
    double loss, grad_norm;
    float lr;
} trn_step_stats;

/* One optimiser step on batch b at 0-based step `step`: zero grads, forward
 * (expert load added to `load` [layers, n_routed]), backward, clip, AdamW,
 * bias update. */
ocr_status trn_step(trn_model *m, trn_state *s, const trn_batch *b, const trn_opt_params *p,
                    int64_t step, float label_smoothing, double *load, trn_step_stats *st,
                    ocr_err *e);

/* A training run as the recipe file describes it (train/recipe/nano.json). */
typedef struct {
    char name[64];
    uint64_t seed;
    int batch, pool_batches, threads, max_text;
    int max_H, max_W;
    double formula_fit;       /* syn_params.fit_math (1: wide formulas redrawn) */
    trn_opt_params opt;
    float label_smoothing;
    char tokenizer[512], corpus[512], bank[512];
    double mix[4];            /* line, cell, inline, formula */
    int n_phases;
    int64_t phase_until[8];   /* step where a phase ends (last: −1) */
    int phase_width[8];       /* max crop width in the phase */
    double phase_mix[8][4];   /* the phase's kind mix (default: mix) */
    int log_every, val_every, val_n;
    double ckpt_every_s;
    uint64_t val_seed;
    float ctc_weight;         /* auxiliary CTC loss on the image tokens (0: off) */
    char init_from[512];      /* warm start: another run's checkpoint ("": none) */
} trn_recipe;

ocr_status trn_recipe_load(trn_recipe *r, const char *path, ocr_err *e);

/* Progress lines for the CLI (the run also appends them to RUN/train.log). */
typedef void (*trn_log_fn)(void *ud, const char *line);

typedef struct {
    const char *recipe_path;
    const char *run_dir;
    bool resume;          /* continue from RUN/ckpt.safetensors */
    int64_t max_steps;    /* stop after this many steps in this call (0: none) */
    double max_hours;     /* stop after this wall time (0: none) */
    int64_t until_step;   /* stop at this global step (0: none) */
    const char *export_dir; /* export here at the end (NULL: no) */
    volatile int *stop;   /* set asynchronously (signal) to stop cleanly */
    trn_log_fn log;
    void *log_ud;
} trn_run_params;

ocr_status trn_run(const trn_run_params *p, ocr_err *e);

/* The learning curve of a run (train.log) as a PNG drawn with cairo. */
ocr_status trn_plot_log(const char *log_path, const char *png_path, const char *title,
                        ocr_err *e);

/* ========================================================= edit distance */

/* Levenshtein distance over Unicode code points (invalid bytes count as
 * one each); *ref_len gets the code points of b. */
int trn_edit_distance(const char *a, const char *b, int *ref_len);

#endif /* VLOCR_TRAIN_TRN_H */

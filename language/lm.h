/* language/lm.h — internal header of language/: the DeepSeek-V2/V3 decoder
 * (lm_): weights, attention (MHA / MLA), MoE, KV cache, generation. The
 * tokenizer has its own header, language/tok.h.
 */
#ifndef VLOCR_LANGUAGE_LM_H
#define VLOCR_LANGUAGE_LM_H

#include "core/ocr.h"

/* Every tensor a decoder with config `c` must have (names as in the HF
 * checkpoints: model.layers.N.self_attn.q_proj.weight, ...), appended to s. */
ocr_status lm_spec_build(ocr_spec *s, const ocr_lm_config *c, ocr_err *e);

/* =================================================================== model
 *
 * A loaded decoder is read-only and may be shared by any number of states.
 * Matrices are views (ocr_tensor) into the checkpoint's mmap in whatever
 * dtype it stores (F32, BF16, F16, F8_E4M3 + block scales); ocr_matmul
 * widens them on the fly. Only 1-D vectors (norm gains, biases, the router
 * correction bias) that are not already aligned F32 are widened once at load.
 */

/* y = x·Wᵀ (+ b). */
typedef struct {
    const ocr_tensor *w; /* [out, in]; NULL when the projection is absent */
    const float *b;      /* [out] or NULL */
} lm_linear;

/* SwiGLU MLP: down(silu(gate(x)) * up(x)) (DeepseekV2MLP). */
typedef struct {
    lm_linear gate, up, down;
    int inter; /* intermediate width; 0 = absent */
} lm_mlp;

typedef struct {
    const float *attn_norm; /* input_layernorm [D] */
    const float *mlp_norm;  /* post_attention_layernorm [D] */
    /* MHA: q, k, v, o.  MLA: q (or q_a → q_a_norm → q_b), kv_a, kv_b, o. */
    lm_linear q, k, v, o;
    lm_linear q_a, q_b, kv_a, kv_b;
    const float *q_a_norm;  /* [q_lora_rank] or NULL */
    const float *kv_a_norm; /* [kv_lora_rank] */
    /* Feed-forward: dense MLP, or router + shared + routed experts. */
    bool moe;
    lm_mlp dense;
    const ocr_tensor *router;     /* mlp.gate.weight [E, D] */
    const float *router_bias;     /* e_score_correction_bias [E] or NULL */
    lm_mlp shared;                /* inter 0 when there are no shared experts */
    const lm_mlp *experts;        /* [E], indexed by expert id */
} lm_layer;

/* Router methods and scoring functions (MoEGate). */
typedef enum { LM_TOPK_GREEDY, LM_TOPK_GROUP_LIMITED, LM_TOPK_NOAUX_TC } lm_topk_method;
typedef enum { LM_SCORE_SOFTMAX, LM_SCORE_SIGMOID } lm_score_func;

/* Router hyper-parameters, split out so that the router can be unit-tested. */
typedef struct {
    int n_experts, top_k, n_group, topk_group;
    lm_topk_method method;
    lm_score_func scoring;
    bool norm_topk_prob;
    float routed_scaling_factor;
} lm_router_params;

typedef struct lm_model {
    ocr_lm_config cfg;
    /* Derived sizes. */
    int n_layers, dim, vocab, n_heads, n_kv_heads;
    int head_dim;      /* MHA head width */
    int qk_head_dim;   /* MLA: nope + rope */
    int q_width;       /* row width of q: H*head_dim or H*qk_head_dim */
    int v_width;       /* width fed to o_proj: H*head_dim or H*v_head_dim */
    int rope_dim;      /* rotated dims per head (MHA: head_dim; MLA: rope) */
    float softmax_scale;
    float rope_mscale; /* YaRN: multiplies cos and sin */
    float *inv_freq;   /* [rope_dim/2], owned */
    lm_router_params router;
    /* Weights. */
    const ocr_tensor *embed;   /* [V, D] */
    const ocr_tensor *lm_head; /* [V, D] (the embedding when tied) */
    const float *final_norm;   /* [D] */
    lm_layer *layers;          /* [n_layers] */
    lm_mlp *experts;           /* all routed experts, one array */
    /* Owned storage. */
    float *vec_pool;
    size_t vec_used, vec_cap;
    ocr_st *st_owned;       /* lm_model_load opened it */
    void *rand_block;       /* lm_model_create_random's weights */
    ocr_tensor *rand_tensors; /* [rand_n] */
    size_t rand_n;
    char *rand_names;
} lm_model;

/* Read DIR/config.json and the safetensors in DIR (file or sharded index),
 * check every decoder tensor by name, dtype and shape, and build the model.
 * The model owns the mapping. On failure *out is NULL and e names the
 * tensor and the expected vs actual shape. */
ocr_status lm_model_load(lm_model **out, const char *dir, ocr_err *e);
/* Same from an already parsed config and an open checkpoint; `st` is
 * borrowed and must outlive the model. */
ocr_status lm_model_create(lm_model **out, const ocr_lm_config *c,
                           const ocr_st *st, ocr_err *e);
/* A model with random weights of dtype `dt` (F32 or BF16) held in one
 * owned block: for tests and benchmarks. Matrices are N(0, 1/fan_in)-like
 * uniform, norm gains 1 ± 0.1, router bias ±0.1. Deterministic in `seed`.
 * Uses `n_threads` threads to fill (0 = 1). */
ocr_status lm_model_create_random(lm_model **out, const ocr_lm_config *c,
                                  ocr_dtype dt, uint64_t seed, int n_threads,
                                  ocr_err *e);
/* Accepts NULL and *m == NULL; nulls the pointer. */
void lm_model_destroy(lm_model **m);

/* Check a decoder config for values this engine cannot run (message names
 * the key). Called by the constructors. */
ocr_status lm_config_check(const ocr_lm_config *c, ocr_err *e);
/* KV-cache bytes per token (all layers, f32) that config `c` needs. */
size_t lm_kv_bytes_per_token(const ocr_lm_config *c);
/* Bytes of weights one decode token reads: embedding row, attention, dense
 * MLPs, router, shared experts, top_k routed experts per MoE layer, final
 * norm and lm_head (norms included; KV cache not). */
size_t lm_decode_weight_bytes(const lm_model *m);

/* =================================================================== state
 *
 * Per-request state: a KV cache preallocated for `max_pos` positions (MHA:
 * rotated K and V per layer; MLA: only the normalised latent c
 * [kv_lora_rank] and the rotated RoPE key k_pe [qk_rope_head_dim] per token),
 * the residual stream and one scratch arena, all sized at creation. Forward
 * calls of more than `max_batch` tokens are cut into chunks. */

typedef enum {
    LM_TRACE_EMBED,      /* x [n, D]: inputs_embeds */
    LM_TRACE_LAYER_OUT,  /* x [n, D]: residual after layer `layer` */
    LM_TRACE_MOE_INPUT,  /* x [n, D]: post_attention_layernorm of a MoE layer */
    LM_TRACE_ROUTER,     /* ids/weights [n, k] of a MoE layer */
    LM_TRACE_FINAL_NORM  /* x [n, D]: after model.norm */
} lm_trace_kind;

typedef struct {
    lm_trace_kind kind;
    int layer; /* -1 for EMBED and FINAL_NORM */
    int pos0;  /* position of row 0 */
    int n, d;  /* rows and row width of x (d = k for ROUTER) */
    const float *x;
    const int32_t *ids;   /* ROUTER only */
    const float *weights; /* ROUTER only */
} lm_trace_event;

/* Called synchronously during a forward pass; pointers are valid only for
 * the duration of the call. */
typedef void (*lm_trace_fn)(void *ud, const lm_trace_event *ev);

typedef struct lm_state {
    const lm_model *m;
    int max_pos, max_batch;
    int n_past; /* tokens already in the cache */
    float *kv;  /* one block: per layer [max_pos, kv_row] x2 (MHA) or
                   [max_pos, kv_lora] + [max_pos, rope] (MLA) */
    size_t kv_layer_floats;
    float *x;   /* residual [max_batch, D] */
    ocr_arena scratch;
    int *pos;   /* [max_batch] position ids of the current chunk */
    lm_trace_fn trace;
    void *trace_ud;
} lm_state;

/* max_pos: cache length (prompt + generated); max_batch: tokens per forward
 * chunk (0 = min(max_pos, 512)). Threads: the matmuls use the count set with
 * ocr_blas_set_threads (the caller owns that policy); the state starts none. */
ocr_status lm_state_create(lm_state **out, const lm_model *m, int max_pos,
                           int max_batch, ocr_err *e);
void lm_state_destroy(lm_state **st);
/* Forget the cache (start a new sequence). */
void lm_state_reset(lm_state *st);
/* Drop cached positions >= n_keep (n_keep <= n_past). */
void lm_state_truncate(lm_state *st, int n_keep);
void lm_state_set_trace(lm_state *st, lm_trace_fn fn, void *ud);
/* Per-token cache rows of layer l (for tests): MHA K,V [max_pos, kv_heads *
 * head_dim]; MLA c [max_pos, kv_lora_rank], k_pe [max_pos, rope]. */
float *lm_state_cache_k(const lm_state *st, int l);
float *lm_state_cache_v(const lm_state *st, int l);

/* ================================================================= forward */

typedef enum {
    LM_LOGITS_NONE = 0, /* fill the cache only */
    LM_LOGITS_LAST,     /* logits [vocab] of the last token */
    LM_LOGITS_ALL       /* logits [n, vocab] of every token */
} lm_logits_mode;

/* Token embeddings with image rows spliced in: x[i] = embed[ids[i]], except
 * where img_mask[i] != 0, where x[i] is the next row of img_rows [*, D]
 * (masked_scatter_ order). img_mask may be NULL; the mask must flag exactly
 * n_img_rows positions. */
ocr_status lm_embed(const lm_model *m, float *x, const int32_t *ids,
                    const uint8_t *img_mask, const float *img_rows,
                    int n_img_rows, int n, ocr_err *e);

/* Run n tokens at positions n_past.. through the decoder and append them to
 * the cache (prefill when n_past == 0, decode when n == 1). Image rows as in
 * lm_embed; logits as `mode` (out may be NULL for LM_LOGITS_NONE). */
ocr_status lm_forward(lm_state *st, const int32_t *ids,
                      const uint8_t *img_mask, const float *img_rows,
                      int n_img_rows, int n, lm_logits_mode mode,
                      float *logits, ocr_err *e);
/* Same from ready-made input embeddings x [n, D]. */
ocr_status lm_forward_embeds(lm_state *st, const float *x, int n,
                             lm_logits_mode mode, float *logits, ocr_err *e);
/* One token at position n_past; logits [vocab]. */
ocr_status lm_decode(lm_state *st, int32_t token, float *logits, ocr_err *e);

/* ---- layer pieces (exposed for tests; they read and write st's scratch) */

/* Attention of layer l for h [n, D] at positions n_past.., writing the new
 * tokens into the cache and out [n, D]. Dispatches MHA or absorbed MLA. */
ocr_status lm_attn_forward(lm_state *st, int l, float *out, const float *h,
                           int n, ocr_err *e);
/* Naive MLA (DeepSeek-V3 inference/model.py, attn_impl "naive"): expands
 * the cached latents into per-head keys and values. The oracle of the
 * absorbed form. Same contract as lm_attn_forward; mallocs freely. */
ocr_status lm_attn_mla_ref(lm_state *st, int l, float *out, const float *h,
                           int n, ocr_err *e);
/* MHA with plain loops (transformers 4.46 LlamaAttention eager): oracle. */
ocr_status lm_attn_mha_ref(lm_state *st, int l, float *out, const float *h,
                           int n, ocr_err *e);

/* MoEGate: scores [n, E] → ids/weights [n, k] (HF modeling_deepseekv2.py
 * MoEGate.forward). logits are the router outputs h·Wgᵀ; bias may be NULL.
 * scratch holds 2*E + n_group floats. Ids come out ordered by selection. */
void lm_router_topk(int32_t *ids, float *weights, const float *logits,
                    const float *bias, int n, const lm_router_params *p,
                    float *scratch);
/* Feed-forward of layer l on h [n, D] into out [n, D]: dense SwiGLU or
 * MoE (routed experts one GEMM per expert over its tokens). */
ocr_status lm_ffn_forward(lm_state *st, int l, float *out, const float *h,
                          int n, int pos0, ocr_err *e);

/* RoPE inverse frequencies for config c (default, linear or YaRN), with the
 * cos/sin multiplier and the attention softmax scale they imply. */
ocr_status lm_rope_init(float *inv_freq, float *mscale, float *softmax_scale,
                        const ocr_lm_config *c, ocr_err *e);

/* ============================================================== generation */

/* Tokens that would complete an n-gram already present (HF
 * NoRepeatNGramLogitsProcessor when window == 0: n-grams anywhere in
 * seq[0..len), prompt included; DeepSeek-OCR vLLM NoRepeatNGram when
 * window > 0: only n-grams starting at >= len - window). Whitelisted ids are
 * never banned. Writes up to cap distinct ids; returns how many. */
int lm_ngram_banned(int32_t *banned, int cap, const int32_t *seq, int len,
                    int n, int window, const int32_t *whitelist,
                    int n_whitelist);

/* Loop detector: after each token, is the tail a block of period p
 * (1 <= p <= max_period) repeated at least min_repeats times and spanning
 * at least min_tokens tokens? O(max_period) per token. */
typedef struct {
    int max_period, min_repeats, min_tokens;
    int min_period; /* shorter periods are not loops, nor runs of one token
                       at any period when above 1 (init: 1; a caller may
                       raise it: dot leaders are text) */
    int *run; /* [max_period + 1]: trailing length of seq[i] == seq[i-p] */
    int len;
} lm_loop;

ocr_status lm_loop_init(lm_loop *d, int max_period, int min_repeats,
                        int min_tokens, ocr_err *e);
void lm_loop_free(lm_loop *d);
void lm_loop_reset(lm_loop *d);
/* Feed seq[len-1] (seq holds every token fed so far). Returns true when a
 * loop is found, with its period, repeat count and the index in seq where
 * the repeated run begins. */
bool lm_loop_push(lm_loop *d, const int32_t *seq, int len, int *period,
                  int *repeats, int *start);

typedef struct {
    int max_new_tokens;
    float temperature;  /* <= 0: greedy (argmax) */
    float top_p;        /* (0,1]; 1 = off */
    uint64_t seed;
    const int32_t *stop_ids; /* generation stops after emitting one */
    int n_stop;
    /* No-repeat n-gram: 0 = off. HF: n 20, window 0, include prompt.
     * vLLM DeepSeek-OCR: n 30, window 90, generated tokens only,
     * whitelist {<td>, </td>}. */
    int ngram_size;
    int ngram_window;
    bool ngram_include_prompt;
    const int32_t *ngram_whitelist;
    int n_ngram_whitelist;
    /* Loop detector over generated tokens: 0 = off. */
    int loop_max_period, loop_min_repeats, loop_min_tokens;
    int loop_min_period; /* see lm_loop (default 1) */
    bool track_prob;     /* fill lm_gen_result.mean_prob (one pass over the
                            vocab per token; off by default) */
    /* Streaming: called after each emitted token; return false to stop. */
    bool (*on_token)(void *ud, int32_t token);
    void *on_token_ud;
} lm_gen_params;

/* max_new_tokens 8192, greedy, ngram 20 whole sequence (the official HF
 * infer()), loop detector period <= 64, >= 8 repeats over >= 64 tokens. */
lm_gen_params lm_gen_default_params(void);

typedef enum {
    LM_STOP_LENGTH = 0, /* max_new_tokens reached */
    LM_STOP_TOKEN,      /* a stop token was emitted */
    LM_STOP_LOOP,       /* the loop detector fired */
    LM_STOP_CONTEXT,    /* the KV cache is full */
    LM_STOP_CALLER      /* on_token returned false */
} lm_stop_reason;

typedef struct {
    int n_tokens;       /* tokens written to out */
    lm_stop_reason reason;
    int32_t stop_token; /* LM_STOP_TOKEN */
    int loop_period, loop_repeats, loop_start; /* LM_STOP_LOOP; loop_start
                                                  indexes the generated tokens */
    int n_banned;       /* tokens the n-gram guard banned, summed over steps */
    float mean_prob;    /* with track_prob: mean probability of the tokens
                           written to out under the model's own
                           distribution (the logits before bans and
                           temperature), a confidence in [0, 1]; else 0 */
} lm_gen_result;

/* log(sum(exp(x))) over x[n], computed from the maximum so that large
 * logits do not overflow; -inf when every x is -inf. A token's probability
 * under logits x is exp(x[tok] - lm_logsumexp(x, n)). */
float lm_logsumexp(const float *x, int n);

/* Pick the next token from logits [vocab] (modified in place: bans,
 * temperature). Greedy when p->temperature <= 0 (first maximum wins). */
int32_t lm_sample(float *logits, int vocab, const lm_gen_params *p,
                  ocr_rng *rng, float *scratch, int32_t *iscratch);

/* Copy src's cache (its n_past positions) into dst, a state of the same
 * model and max_pos: dst then continues src's sequence. */
ocr_status lm_state_copy(lm_state *dst, const lm_state *src, ocr_err *e);

/* Beam search (language/lm_beam.c): prefill the prompt into st[0], then keep
 * the `beam` (1..64) best partial reads by summed token log-probability;
 * the result is the best finished read by sum / length^length_alpha (1: the
 * mean log-probability per token; 0: the sum). st: 2 × beam states of one
 * model and max_pos. From p: max_new_tokens, stop_ids, the loop detector
 * (a looping read finishes, cut to its first copy and scored so) and
 * track_prob (mean_prob of the read); sampling and n-gram fields are not
 * used. beam 1 picks the tokens greedy lm_generate picks (a loop comes
 * back already cut to its first copy). */
ocr_status lm_beam_search(lm_state **st, int beam, float length_alpha, const lm_gen_params *p,
                          const int32_t *prompt, const uint8_t *img_mask, const float *img_rows,
                          int n_img_rows, int n_prompt, int32_t *out, int cap, lm_gen_result *res,
                          ocr_err *e);

/* Prefill prompt ids [n_prompt] (with image rows as in lm_embed) into a
 * reset state, then generate up to min(cap, max_new_tokens) tokens into out
 * with the KV cache. step_logits, if non-NULL, receives [cap, vocab]: the
 * model's logits at each step, before the n-gram ban and temperature. */
ocr_status lm_generate(lm_state *st, const lm_gen_params *p,
                       const int32_t *prompt, const uint8_t *img_mask,
                       const float *img_rows, int n_img_rows, int n_prompt,
                       int32_t *out, int cap, float *step_logits,
                       lm_gen_result *res, ocr_err *e);

/* ============================================================= conformance
 *
 * The decoder half of `vlocr conform`: load FIXTURE/config.json +
 * model.safetensors, take COMMON/input_ids.npy + images_seq_mask.npy and the
 * image rows (img_rows if non-NULL, else FIXTURE/vision/image_embeddings.npy),
 * and compare every golden file present (decoder/, logits_prefill,
 * generation/, global_only/) with the engine: activations within 1e-4,
 * logits within 5e-4, ids exactly, router top-k as sets with weights matched
 * by expert id. Stages come back as data; the caller prints them. */

typedef enum { LM_STAGE_PASS, LM_STAGE_FAIL, LM_STAGE_SKIP } lm_stage_status;

typedef struct {
    char name[128];
    lm_stage_status status;
    double max_abs; /* max |engine - golden| (mismatch count for ids) */
    double tol;
    long mismatches;
    char note[192];
} lm_stage;

typedef struct {
    lm_stage *v;
    int n, cap;
    int n_pass, n_fail, n_skip;
} lm_conform_report;

/* common NULL = FIXTURE/../common. Returns an error only when the fixture
 * cannot be run at all (missing model or inputs); failed comparisons are
 * FAIL stages in r. Free r with lm_conform_report_free either way. */
ocr_status lm_conform_run(lm_conform_report *r, const char *fixture, const char *common,
                          const float *img_rows, int n_img_rows, ocr_err *e);
/* Append a stage (used by the CLI for stages other components own). */
ocr_status lm_conform_add(lm_conform_report *r, lm_stage_status status, const char *name,
                          double max_abs, double tol, long mismatches, const char *note_fmt, ...)
    OCR_PRINTF(7, 8);
void lm_conform_report_free(lm_conform_report *r);

#endif

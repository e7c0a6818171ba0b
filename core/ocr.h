/* core/ocr.h — internal header of core/: errors, arena, tensors and dtypes,
 * safetensors, config.json, threads, BLAS wrapper and numeric kernels.
 *
 * Conventions (see DESIGN.md): names are ocr_<object>_<verb>; kernels take the
 * output first and state shapes in a comment; matrices are row-major and
 * weights are [out, in] so that y = x·Wᵀ. Each optimised kernel has a naive
 * `_ref` twin that serves as its test oracle.
 */
#ifndef VLOCR_CORE_OCR_H
#define VLOCR_CORE_OCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../vlocr.h"

#if defined(__GNUC__)
#define OCR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define OCR_PRINTF(a, b)
#endif

/* ------------------------------------------------------------------ errors */

/* Fill `e` (may be NULL) with `code` and a formatted message; returns `code`
 * so that callers can write `return ocr_err_set(e, OCR_E_IO, ...)`. */
ocr_status ocr_err_set(ocr_err *e, ocr_status code, const char *fmt, ...)
    OCR_PRINTF(3, 4);
/* Prepend "prefix: " to an existing message (adds context on the way up). */
ocr_status ocr_err_prefix(ocr_err *e, const char *fmt, ...) OCR_PRINTF(2, 3);
void ocr_err_clear(ocr_err *e);

/* Checked size arithmetic: return false on overflow. */
bool ocr_mul_ok(size_t a, size_t b, size_t *out);
bool ocr_add_ok(size_t a, size_t b, size_t *out);

/* ------------------------------------------------------------------- arena */

#define OCR_ALIGN 64

/* A bump allocator over one 64-byte aligned block, sized once from the
 * hyper-parameters and limits so that hot loops never call malloc. */
typedef struct {
    uint8_t *base;
    size_t cap;
    size_t used;
    size_t peak;
} ocr_arena;

ocr_status ocr_arena_init(ocr_arena *a, size_t cap, ocr_err *e);
/* 64-byte aligned, uninitialised; NULL when the arena is exhausted. */
void *ocr_arena_alloc(ocr_arena *a, size_t nbytes);
/* Same but zeroed. */
void *ocr_arena_calloc(ocr_arena *a, size_t nbytes);
size_t ocr_arena_mark(const ocr_arena *a);
void ocr_arena_reset(ocr_arena *a, size_t mark);
/* Frees the block; safe on a zeroed or already freed arena. */
void ocr_arena_free(ocr_arena *a);

/* 64-byte aligned heap allocation for long-lived buffers; free with free(). */
void *ocr_aligned_alloc(size_t nbytes);

/* ------------------------------------------------------- dtypes, tensors */

typedef enum {
    OCR_DT_F32 = 0,
    OCR_DT_F16,
    OCR_DT_BF16,
    OCR_DT_F8_E4M3, /* float8_e4m3fn; 128x128 block scales in a companion */
    OCR_DT_I8,
    OCR_DT_U8,
    OCR_DT_BOOL,
    OCR_DT_I32,
    OCR_DT_I64,
    OCR_DT_F64,
    OCR_DT_COUNT
} ocr_dtype;

#define OCR_MAX_DIMS 8

/* Bytes per element; 0 for an invalid dtype. */
size_t ocr_dtype_size(ocr_dtype dt);
/* Safetensors spelling ("F32", "BF16", "F8_E4M3", ...). */
const char *ocr_dtype_name(ocr_dtype dt);
/* Parse a safetensors dtype name; returns false for unknown names. */
bool ocr_dtype_parse(const char *name, ocr_dtype *out);

/* A view: it never owns `data`. For F8_E4M3 weights `scale` points at the
 * companion `<name>_scale_inv` F32 tensor of shape
 * [ceil(rows/block), ceil(cols/block)], block = 128 in DeepSeek-V3. */
typedef struct ocr_tensor {
    const char *name;
    ocr_dtype dtype;
    int ndim;
    int64_t shape[OCR_MAX_DIMS];
    const void *data;
    size_t nbytes;
    const struct ocr_tensor *scale;
    int block; /* block edge for F8 scales, 0 when unscaled */
} ocr_tensor;

int64_t ocr_tensor_numel(const ocr_tensor *t);
/* "[85,64]" into buf; returns buf. */
char *ocr_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);
/* True when t has exactly this shape. */
bool ocr_tensor_has_shape(const ocr_tensor *t, int ndim, const int64_t *shape);
/* Convert/dequantise the whole tensor to float32 (out has numel floats).
 * Supports every floating dtype and F8 with or without block scales. */
ocr_status ocr_tensor_to_f32(float *out, const ocr_tensor *t, ocr_err *e);
/* Rows [r0, r0+nr) of a 2-D (or flattened [rows, last-dim]) tensor. */
ocr_status ocr_tensor_rows_to_f32(float *out, const ocr_tensor *t, int64_t r0,
                                  int64_t nr, ocr_err *e);

/* Scalar conversions (round-to-nearest-even where narrowing). */
float ocr_bf16_to_f32(uint16_t h);
uint16_t ocr_f32_to_bf16(float f);
float ocr_f16_to_f32(uint16_t h);
uint16_t ocr_f32_to_f16(float f);
float ocr_f8e4m3_to_f32(uint8_t b);
uint8_t ocr_f32_to_f8e4m3(float f);

/* ------------------------------------------------------------- safetensors */

/* Limits applied while parsing untrusted files. */
typedef struct {
    uint64_t max_header_bytes; /* JSON header; default 100 MiB */
    size_t max_tensors;        /* default 1,000,000 */
} ocr_st_limits;
ocr_st_limits ocr_st_default_limits(void);

/* An opened checkpoint: one file, or several shards tied together by a
 * model.safetensors.index.json. Tensors are views into read-only mmaps.
 * The handle owns the maps; tensors are valid until ocr_st_close. */
typedef struct ocr_st ocr_st;

/* `path` is a .safetensors file, an index .json, or a directory holding
 * model.safetensors or model.safetensors.index.json. Every offset and size is
 * bounds- and overflow-checked, ranges may not overlap, dtypes and shapes must
 * agree with byte counts. On failure *out is NULL. */
ocr_status ocr_st_open(ocr_st **out, const char *path, ocr_err *e);
ocr_status ocr_st_open_limits(ocr_st **out, const char *path,
                              const ocr_st_limits *lim, ocr_err *e);
/* Parse a safetensors image held in memory (not copied; must outlive st).
 * `name` is used in messages. */
ocr_status ocr_st_open_memory(ocr_st **out, const void *buf, size_t n,
                              const char *name, const ocr_st_limits *lim,
                              ocr_err *e);
void ocr_st_close(ocr_st **st);

size_t ocr_st_count(const ocr_st *st);
const ocr_tensor *ocr_st_at(const ocr_st *st, size_t i); /* sorted by name */
const ocr_tensor *ocr_st_find(const ocr_st *st, const char *name);
/* Name of the file that holds tensor i (for messages). */
const char *ocr_st_file_of(const ocr_st *st, const ocr_tensor *t);
/* Display name of the checkpoint (path given to open). */
const char *ocr_st_path(const ocr_st *st);

/* Checked lookup: the tensor must exist and have `ndim`/`shape`
 * (shape NULL = any). Error message names the file and the tensor. */
ocr_status ocr_st_get(const ocr_st *st, const char *name, int ndim,
                      const int64_t *shape, const ocr_tensor **out,
                      ocr_err *e);

/* Write tensors to `path` atomically (temporary file + rename). `metadata`
 * may be NULL or a NULL-terminated list of key, value pairs. */
ocr_status ocr_st_write(const char *path, const ocr_tensor *tensors, size_t n,
                        const char *const *metadata, ocr_err *e);

/* ---------------------------------------------------------------- npy */

/* A NumPy v1/v2 array read into memory (little-endian, C order). */
typedef struct {
    ocr_dtype dtype;
    int ndim;
    int64_t shape[OCR_MAX_DIMS];
    void *data; /* owned, 64-byte aligned */
    size_t nbytes;
} ocr_npy;

ocr_status ocr_npy_load(ocr_npy *out, const char *path, ocr_err *e);
void ocr_npy_free(ocr_npy *a);
int64_t ocr_npy_numel(const ocr_npy *a);

/* ------------------------------------------------------------------ config */

/* DeepSeek-V2/V3 decoder hyper-parameters, as in HF config.json. Absent
 * optional integers are 0 (q_lora_rank null -> 0). */
typedef struct {
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    int moe_intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int num_key_value_heads;
    int n_shared_experts;
    int n_routed_experts;
    int num_experts_per_tok;
    int moe_layer_freq;
    int first_k_dense_replace;
    int n_group;
    int topk_group;
    char topk_method[32];  /* greedy | group_limited_greedy | noaux_tc */
    char scoring_func[16]; /* softmax | sigmoid */
    bool norm_topk_prob;
    float routed_scaling_factor;
    bool use_mla;
    int q_lora_rank;
    int kv_lora_rank;
    int qk_nope_head_dim;
    int qk_rope_head_dim;
    int v_head_dim;
    char hidden_act[16];
    float rms_norm_eps;
    float rope_theta;
    int max_position_embeddings;
    bool attention_bias;
    bool tie_word_embeddings;
    int bos_token_id;
    int eos_token_id;
    int pad_token_id; /* -1 when null */
    struct {
        bool enabled;
        char type[16]; /* "yarn", "linear", "dynamic" */
        float factor;
        int original_max_position_embeddings;
        float beta_fast, beta_slow, mscale, mscale_all_dim;
    } rope_scaling;
} ocr_lm_config;

/* DeepEncoder (SAM-B + CLIP-L + projector) hyper-parameters. Keys the
 * released config lacks take the values the official code hard-codes. */
typedef struct {
    bool present;
    int image_size; /* vision_config.image_size */
    struct {
        int img_size, patch_size, width, layers, heads, window_size;
        int out_chans, mlp_ratio;
        int global_attn_indexes[16];
        int n_global_attn;
        int downsample_channels[2];
        float eps, neck_eps;
    } sam;
    struct {
        int width, layers, heads, ffn_hidden_size, image_size, patch_size;
        float eps, pre_eps;
    } clip;
    struct {
        char type[32]; /* "linear" */
        int input_dim, n_embed;
    } projector;
} ocr_vis_config;

typedef struct {
    char model_type[64];   /* "deepseek_vl_v2", "deepseek_v3", "vlocr_nano" */
    char architecture[96]; /* first of "architectures" */
    char torch_dtype[16];
    ocr_lm_config lm;
    ocr_vis_config vis;
    /* FP8 block quantisation ("quantization_config"). */
    bool fp8;
    int fp8_block[2];
} ocr_config;

/* Defaults of configuration_deepseek_v2.py for keys a config may omit. */
void ocr_config_default_params(ocr_config *c);
/* Read config.json; `path` is the file or its directory. */
ocr_status ocr_config_load(ocr_config *c, const char *path, ocr_err *e);
/* Parse a config held in memory; `name` is used in messages. */
ocr_status ocr_config_parse(ocr_config *c, const char *json, size_t len,
                            const char *name, ocr_err *e);

/* ------------------------------------------------- expected-tensor specs */

/* What a config implies a checkpoint holds: name + shape. Built by
 * lm_spec_build / vis_spec_build and checked by ocr_spec_check. */
typedef struct {
    char name[128];
    int ndim;
    int64_t shape[4];
    bool optional; /* e.g. unused CLIP patch_embedding */
} ocr_spec_entry;

typedef struct {
    ocr_spec_entry *v;
    size_t n, cap;
} ocr_spec;

ocr_status ocr_spec_add(ocr_spec *s, bool optional, int ndim,
                        const int64_t *shape, const char *fmt, ...)
    OCR_PRINTF(5, 6);
void ocr_spec_free(ocr_spec *s);

typedef struct {
    size_t n_expected;      /* required entries */
    size_t n_found;         /* required entries present */
    size_t n_optional_found;
    size_t n_missing, n_misshaped, n_unexpected;
    /* Human-readable lines, one per problem, '\n'-separated (owned). */
    char *report;
} ocr_spec_result;

/* Compare a checkpoint against a spec. Returns OCR_OK when there are no
 * missing or misshaped tensors (unexpected ones are reported, not fatal:
 * checkpoints may carry buffers). */
ocr_status ocr_spec_check(const ocr_spec *s, const ocr_st *st,
                          ocr_spec_result *r, ocr_err *e);
void ocr_spec_result_free(ocr_spec_result *r);

/* ----------------------------------------------------------------- threads */

/* Thread-count policy: VLOCR_THREADS if set, else the number of online CPUs
 * (at least 1, at most 64). */
int ocr_threads_default(void);
/* Set the BLAS library's thread count. In batch mode callers set 1 and
 * parallelise across pages instead (never nest threaded BLAS). */
void ocr_blas_set_threads(int n);
int ocr_blas_get_threads(void);
/* The core type whose kernels OpenBLAS uses ("Haswell", "SkylakeX", ...). */
const char *ocr_blas_core(void);

/* Every cairo/pango text call in the process goes through this lock (cairo
 * 1.16 corrupts its shared font caches under concurrent use). */
void ocr_text_lock(void);
void ocr_text_unlock(void);

/* ------------------------------------------------------------------- BLAS */

/* y[n,out] = x[n,in] · W[out,in]ᵀ (+ bias[out] if non-NULL), through
 * OpenBLAS sgemm. beta_acc=true accumulates into y instead of overwriting. */
void ocr_sgemm_xwt(float *y, const float *x, const float *w, const float *bias,
                   int n, int in, int out, bool accumulate);
/* General row-major C[m,n] = alpha·op(A)·op(B) + beta·C (thin sgemm wrapper). */
void ocr_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc);

/* ----------------------------------------------------------------- kernels */

/* y[n,out] = x[n,in]·Wᵀ + bias, W a 2-D weight tensor of any floating dtype
 * (F32, BF16, F16, F64, F8_E4M3 with block scales). BF16 goes to its own
 * kernel (a vectorised matvec for n <= 3, widened panels + sgemm above);
 * F16/F8/F64 are widened in panels. F8 scales must be F32 of shape
 * [ceil(out/blk), ceil(in/blk)] (checked); nbytes is checked when non-zero.
 * Integer weights give OCR_E_DTYPE naming the tensor, non-2-D OCR_E_SHAPE. */
ocr_status ocr_matmul(float *y, const float *x, const ocr_tensor *w,
                      const float *bias, int n, ocr_err *e);
ocr_status ocr_matmul_ref(float *y, const float *x, const ocr_tensor *w,
                          const float *bias, int n, ocr_err *e);
/* F32 weights given as a plain array. */
void ocr_matmul_f32(float *y, const float *x, const float *w,
                    const float *bias, int n, int in, int out);
void ocr_matmul_f32_ref(float *y, const float *x, const float *w,
                        const float *bias, int n, int in, int out);
/* BF16 weights (uint16 bit patterns). */
void ocr_matmul_bf16(float *y, const float *x, const uint16_t *w,
                     const float *bias, int n, int in, int out);
void ocr_matmul_bf16_ref(float *y, const float *x, const uint16_t *w,
                         const float *bias, int n, int in, int out);

/* out[n,d] = x / sqrt(mean(x²) + eps) * w    (in place allowed) */
void ocr_rmsnorm(float *out, const float *x, const float *w, int n, int d,
                 float eps);
void ocr_rmsnorm_ref(float *out, const float *x, const float *w, int n, int d,
                     float eps);
/* out[n,d] = (x - mean) / sqrt(var + eps) * w + b   (w/b may be NULL) */
void ocr_layernorm(float *out, const float *x, const float *w, const float *b,
                   int n, int d, float eps);
void ocr_layernorm_ref(float *out, const float *x, const float *w,
                       const float *b, int n, int d, float eps);
/* Row-wise softmax over x[n,d], in place; max-subtracted. A row that is
 * entirely -inf (fully masked) becomes zeros, not NaN. */
void ocr_softmax(float *x, int n, int d);
void ocr_softmax_ref(float *x, int n, int d);
/* Elementwise activations over x[n], in place. */
void ocr_silu(float *x, size_t n);
void ocr_silu_ref(float *x, size_t n);
void ocr_gelu_erf(float *x, size_t n);
void ocr_gelu_erf_ref(float *x, size_t n);
void ocr_gelu_tanh(float *x, size_t n);
void ocr_gelu_tanh_ref(float *x, size_t n);
void ocr_quick_gelu(float *x, size_t n);
void ocr_quick_gelu_ref(float *x, size_t n);
/* g[n] = silu(g) * u   (the SwiGLU gate) */
void ocr_swiglu(float *g, const float *u, size_t n);
void ocr_swiglu_ref(float *g, const float *u, size_t n);

/* RoPE tables: cos/sin[npos, dim/2] for positions pos[0..npos) and the
 * given inverse frequencies inv_freq[dim/2], times `mscale`. */
void ocr_rope_table(float *cos_t, float *sin_t, const int *pos, int npos,
                    const float *inv_freq, int half, float mscale);
/* Apply RoPE to x[n, nheads, stride] on the first `dim` entries of each head,
 * using row t of the tables for token t.
 *   neox (rotate_half):  pairs (i, i+dim/2)
 *   interleaved:         pairs (2i, 2i+1)                                 */
void ocr_rope_neox(float *x, int n, int nheads, int stride, int dim,
                   const float *cos_t, const float *sin_t);
void ocr_rope_neox_ref(float *x, int n, int nheads, int stride, int dim,
                       const float *cos_t, const float *sin_t);
void ocr_rope_interleaved(float *x, int n, int nheads, int stride, int dim,
                          const float *cos_t, const float *sin_t);
void ocr_rope_interleaved_ref(float *x, int n, int nheads, int stride, int dim,
                              const float *cos_t, const float *sin_t);
void ocr_rope_table_ref(float *cos_t, float *sin_t, const int *pos, int npos,
                        const float *inv_freq, int half, float mscale);

/* ---------------------------------------------------------- string buffer */

/* Growable NUL-terminated text; zero-initialise to start. A failed
 * allocation sets `oom` and turns later appends into no-ops, so callers
 * check it once when done. `p` is malloc'd (NULL while empty). */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} ocr_buf;

void ocr_buf_put(ocr_buf *b, const char *s, size_t n);
void ocr_buf_puts(ocr_buf *b, const char *s);
void ocr_buf_putc(ocr_buf *b, char c);
void ocr_buf_printf(ocr_buf *b, const char *fmt, ...) OCR_PRINTF(2, 3);
/* Empty the text but keep the allocation (and `oom`) for reuse. */
void ocr_buf_clear(ocr_buf *b);
/* Cut the text to its first n bytes; no-op when it is not longer. */
void ocr_buf_truncate(ocr_buf *b, size_t n);
/* The text, "" while nothing was ever appended; valid until the next append. */
const char *ocr_buf_cstr(const ocr_buf *b);
/* Hand the text over (caller frees) and reset b to empty; `oom` is kept,
 * so check it first. An empty buffer gives a malloc'd "", so NULL means
 * an allocation failed (here, or before anything was stored). */
char *ocr_buf_steal(ocr_buf *b);
void ocr_buf_free(ocr_buf *b);

/* -------------------------------------------------------------------- PRNG */

/* xoshiro256**; seed with ocr_rng_seed (splitmix64 expansion) or fill s[]
 * yourself from a stream of ocr_splitmix64 values (never all zero). */
typedef struct {
    uint64_t s[4];
} ocr_rng;

/* Advance a splitmix64 state and return its next output. */
uint64_t ocr_splitmix64(uint64_t *state);
void ocr_rng_seed(ocr_rng *r, uint64_t seed);
uint64_t ocr_rng_next(ocr_rng *r);
double ocr_rng_uniform(ocr_rng *r); /* [0, 1) with 53 random bits */

/* ------------------------------------------------------------------ files */

/* Read a whole file (or "-" for stdin) into a malloc'd buffer, refusing
 * files larger than max_bytes. Caller frees *buf. */
ocr_status ocr_file_read(const char *path, size_t max_bytes, uint8_t **buf,
                         size_t *len, ocr_err *e);
/* Write atomically: `path.tmp.<pid>` then rename. */
ocr_status ocr_file_write_atomic(const char *path, const void *data,
                                 size_t len, ocr_err *e);

#endif /* VLOCR_CORE_OCR_H */

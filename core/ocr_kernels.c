/* core/ocr_kernels.c — the optimised numeric kernels: matmul over every weight
 * dtype, norms, softmax, activations and RoPE. Each one has a naive twin in
 * ocr_kernels_ref.c that the tests use as the oracle.
 *
 * Numerics: IEEE float throughout, no fast-math and no FMA contraction (the
 * build is -std=c11, so gcc keeps a*b+c as two roundings). Our own
 * reductions use a fixed number of partial sums in a fixed order, so their
 * results do not depend on the instruction set or the thread count; the
 * sgemm paths inherit whatever OpenBLAS does.
 */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"

/* ------------------------------------------------------------ vector types */

/* The bf16 matvec is the decode hot loop: it must stream weights at close
 * to memory bandwidth. gcc -O2 without fast-math will not vectorise a float
 * reduction by itself (that would reorder the sum), so the reduction is
 * written out with GNU vector types, which are plain IEEE lane-wise
 * arithmetic, and compiled three times: baseline (SSE2 on x86-64), AVX2
 * and AVX-512F, picked at run time.
 *
 * All three compute the same canonical sum, so results are bit-identical
 * whichever variant runs (and at any thread count, since a thread owns
 * whole rows): the row is consumed in steps of 32 elements into 32 lanes
 * (lane j holds Σ w[32k+j]·x[32k+j]), lanes j and j+16 are added, the 16
 * lanes are summed in a fixed tree, and the < 32 leftover elements are added
 * one by one. No FMA: -std=c11 means -ffp-contract=off, so a*b+c keeps its
 * two roundings in every variant. */
typedef float v8f __attribute__((vector_size(32)));
typedef uint16_t v8h __attribute__((vector_size(16)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
typedef uint16_t v16h __attribute__((vector_size(32)));
typedef uint32_t v16u __attribute__((vector_size(64)));

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#if defined(__GNUC__) && defined(__x86_64__)
#define OCR_X86_DISPATCH 1
#else
#define OCR_X86_DISPATCH 0
#endif

static inline float bf16_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* memcpy-based loads: the weights come from an mmap with no alignment
 * promise beyond the element size, and memcpy is how C spells an unaligned
 * load without breaking aliasing rules (gcc emits one vmovdqu). bf16 -> f32
 * is a 16-bit left shift of the zero-extended pattern. */
#define LOAD_BF16x8(dst, p)                                  \
    do {                                                     \
        v8h h_;                                              \
        memcpy(&h_, (p), sizeof h_);                         \
        v8u u_ = __builtin_convertvector(h_, v8u) << 16;     \
        memcpy(&(dst), &u_, sizeof u_);                      \
    } while (0)
#define LOAD_BF16x16(dst, p)                                 \
    do {                                                     \
        v16h h_;                                             \
        memcpy(&h_, (p), sizeof h_);                         \
        v16u u_ = __builtin_convertvector(h_, v16u) << 16;   \
        memcpy(&(dst), &u_, sizeof u_);                      \
    } while (0)
#define LOAD_F32x8(dst, p) memcpy(&(dst), (p), sizeof(v8f))
#define LOAD_F32x16(dst, p) memcpy(&(dst), (p), sizeof(v16f))

/* Software prefetch this far ahead of the weight stream. The hardware
 * prefetcher alone left one core's stream at 13 GB/s where a plain read
 * loop pulls 40 (Zen 5 VM of the bench); 8 KiB ahead brought the matvec to
 * ~35 GB/s, and 2-32 KiB were all within noise of that. The address is formed as an
 * integer because it may lie past the end of the weights: prefetch never
 * faults, but pointer arithmetic out of bounds would be undefined. */
#define PREFETCH_BYTES 8192
#define PREFETCH(p) \
    __builtin_prefetch((const void *)((uintptr_t)(p) + PREFETCH_BYTES))

/* The fixed reduction tree shared by every variant. */
static inline float sum16_tree(const float t[16])
{
    float q[8];
    for (int k = 0; k < 8; k++) q[k] = t[2 * k] + t[2 * k + 1];
    return ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]));
}

static inline float dot_tail(float s, const uint16_t *w, const float *x,
                             int i, int in)
{
    for (; i < in; i++) s += bf16_f32(w[i]) * x[i];
    return s;
}

/* Σ w[i]·x[i] over one bf16 row, eight lanes at a time: four independent
 * accumulators, so the adds do not wait on each other. */
ALWAYS_INLINE float dot_bf16_v8(const uint16_t *w, const float *x, int in)
{
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    int i = 0;
    for (; i + 32 <= in; i += 32) {
        v8f w0, w1, w2, w3, x0, x1, x2, x3;
        PREFETCH(w + i);
        LOAD_BF16x8(w0, w + i);
        LOAD_BF16x8(w1, w + i + 8);
        LOAD_BF16x8(w2, w + i + 16);
        LOAD_BF16x8(w3, w + i + 24);
        LOAD_F32x8(x0, x + i);
        LOAD_F32x8(x1, x + i + 8);
        LOAD_F32x8(x2, x + i + 16);
        LOAD_F32x8(x3, x + i + 24);
        a0 += w0 * x0;
        a1 += w1 * x1;
        a2 += w2 * x2;
        a3 += w3 * x3;
    }
    v8f lo = a0 + a2, hi = a1 + a3; /* lanes j and j+16 */
    float t[16];
    memcpy(t, &lo, sizeof lo);
    memcpy(t + 8, &hi, sizeof hi);
    return dot_tail(sum16_tree(t), w, x, i, in);
}

/* The same sum, sixteen lanes at a time (one zmm per accumulator). */
ALWAYS_INLINE float dot_bf16_v16(const uint16_t *w, const float *x, int in)
{
    v16f a0 = {0}, a1 = {0};
    int i = 0;
    for (; i + 32 <= in; i += 32) {
        v16f w0, w1, x0, x1;
        PREFETCH(w + i);
        LOAD_BF16x16(w0, w + i);
        LOAD_BF16x16(w1, w + i + 16);
        LOAD_F32x16(x0, x + i);
        LOAD_F32x16(x1, x + i + 16);
        a0 += w0 * x0;
        a1 += w1 * x1;
    }
    v16f a = a0 + a1;
    float t[16];
    memcpy(t, &a, sizeof a);
    return dot_tail(sum16_tree(t), w, x, i, in);
}

/* y[r, o] = x[r]·w[o] + bias[o] for o in [o0, o1), every r < n. The weight
 * row is read from memory once; the passes for rows r > 0 find it in L1. */
#define MATVEC_ROWS_BODY(DOT)                                                \
    for (int o = o0; o < o1; o++) {                                          \
        const uint16_t *wo = w + (size_t)o * (size_t)in;                     \
        float b = bias ? bias[o] : 0.0f;                                     \
        for (int r = 0; r < n; r++)                                          \
            y[(size_t)r * (size_t)out + (size_t)o] =                         \
                DOT(wo, x + (size_t)r * (size_t)in, in) + b;                 \
    }

#define MATVEC_ROWS_ARGS                                                     \
    float *y, const float *x, const uint16_t *w, const float *bias, int n,   \
        int in, int out, int o0, int o1

ALWAYS_INLINE void widen_bf16_v8(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f v;
        LOAD_BF16x8(v, src + i);
        memcpy(dst + i, &v, sizeof v);
    }
    for (; i < n; i++) dst[i] = bf16_f32(src[i]);
}

ALWAYS_INLINE void widen_bf16_v16(float *dst, const uint16_t *src, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16f v;
        LOAD_BF16x16(v, src + i);
        memcpy(dst + i, &v, sizeof v);
    }
    for (; i < n; i++) dst[i] = bf16_f32(src[i]);
}

static void matvec_rows_generic(MATVEC_ROWS_ARGS) { MATVEC_ROWS_BODY(dot_bf16_v8) }

static void widen_bf16_generic(float *dst, const uint16_t *src, size_t n)
{
    widen_bf16_v8(dst, src, n);
}

#if OCR_X86_DISPATCH
__attribute__((target("avx2"))) static void
matvec_rows_avx2(MATVEC_ROWS_ARGS) { MATVEC_ROWS_BODY(dot_bf16_v8) }

__attribute__((target("avx512f"))) static void
matvec_rows_avx512(MATVEC_ROWS_ARGS) { MATVEC_ROWS_BODY(dot_bf16_v16) }

__attribute__((target("avx2"))) static void
widen_bf16_avx2(float *dst, const uint16_t *src, size_t n)
{
    widen_bf16_v8(dst, src, n);
}

__attribute__((target("avx512f"))) static void
widen_bf16_avx512(float *dst, const uint16_t *src, size_t n)
{
    widen_bf16_v16(dst, src, n);
}

/* 2 = AVX-512F, 1 = AVX2, 0 = baseline. __builtin_cpu_supports reads a
 * table libgcc fills before main, so asking on every call is cheap. */
static int x86_level(void)
{
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2")) return 1;
    return 0;
}
#endif

static void matvec_rows(MATVEC_ROWS_ARGS)
{
#if OCR_X86_DISPATCH
    switch (x86_level()) {
    case 2: matvec_rows_avx512(y, x, w, bias, n, in, out, o0, o1); return;
    case 1: matvec_rows_avx2(y, x, w, bias, n, in, out, o0, o1); return;
    default: break;
    }
#endif
    matvec_rows_generic(y, x, w, bias, n, in, out, o0, o1);
}

static void widen_bf16(float *dst, const uint16_t *src, size_t n)
{
#if OCR_X86_DISPATCH
    switch (x86_level()) {
    case 2: widen_bf16_avx512(dst, src, n); return;
    case 1: widen_bf16_avx2(dst, src, n); return;
    default: break;
    }
#endif
    widen_bf16_generic(dst, src, n);
}

/* ------------------------------------------------------- threaded matvec */

/* Threads are started per call (no pool: kernels hold no state), which
 * costs 15-60 µs to start and join, and one core alone already streams a
 * large part of the machine's bandwidth (on the 2-core VM the bench runs
 * on: ~40 of ~45-75 GB/s). Measured with weights streaming from DRAM,
 * splitting a 1280x1280 or 2048x2048 bf16 matvec across two threads was
 * 10-40% slower than one thread; 4096x2048 (16 MiB) broke even or better.
 * Below this size the matvec stays on the caller's thread. */
#define MATVEC_MT_MIN_BYTES ((size_t)8 << 20)
#define MATVEC_MAX_THREADS 64

typedef struct {
    float *y;
    const float *x;
    const uint16_t *w;
    const float *bias;
    int n, in, out, o0, o1;
} matvec_job;

static void *matvec_thread(void *arg)
{
    const matvec_job *j = arg;
    matvec_rows(j->y, j->x, j->w, j->bias, j->n, j->in, j->out, j->o0, j->o1);
    return NULL;
}

static void matvec_bf16(float *y, const float *x, const uint16_t *w,
                        const float *bias, int n, int in, int out)
{
    size_t bytes = (size_t)in * (size_t)out * sizeof(uint16_t);
    int nt = ocr_blas_get_threads();
    if (nt > MATVEC_MAX_THREADS) nt = MATVEC_MAX_THREADS;
    if (nt > out / 16) nt = out / 16;
    if (nt <= 1 || bytes < MATVEC_MT_MIN_BYTES) {
        matvec_rows(y, x, w, bias, n, in, out, 0, out);
        return;
    }
    /* We run between BLAS calls, so OpenBLAS's workers are parked or
     * yield-spinning: borrowing the same thread count keeps one thread per
     * core the caller granted. */
    matvec_job jobs[MATVEC_MAX_THREADS];
    pthread_t tid[MATVEC_MAX_THREADS];
    bool started[MATVEC_MAX_THREADS];
    /* Chunk edges on multiples of 16 rows keep each thread's y writes on
     * cache lines of its own. */
    int per = ((out + nt - 1) / nt + 15) & ~15;
    for (int t = 0; t < nt; t++) {
        int o0 = t * per, o1 = o0 + per;
        if (o0 > out) o0 = out;
        if (o1 > out) o1 = out;
        jobs[t] = (matvec_job){y, x, w, bias, n, in, out, o0, o1};
        started[t] = false;
    }
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&tid[t], NULL, matvec_thread, &jobs[t]) == 0;
    matvec_thread(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            matvec_thread(&jobs[t]); /* could not start: do its share here */
    }
}

/* --------------------------------------------------------------- matmul */

/* Rows of x below which a matvec beats widening + sgemm: each weight element
 * is then used at most this many times, too few to pay for the widen. */
#define MATVEC_MAX_N 3
/* Widened weights per sgemm call, at most. Few, large calls keep OpenBLAS's
 * threads busy (a 64x256x1280 call is too short to split well across two
 * cores); 4 MiB still sits in L3 while sgemm walks it. */
#define PANEL_MAX_BYTES ((size_t)4 << 20)

/* Rows per panel: panels of equal size (a multiple of 16 rows), each at
 * most PANEL_MAX_BYTES unless a single 16-row strip is already larger. */
static int panel_rows(int in, int out)
{
    size_t row = (size_t)in * sizeof(float);
    size_t per = PANEL_MAX_BYTES / row;
    if (per < 16) per = 16;
    size_t npanels = ((size_t)out + per - 1) / per;
    size_t rows = (((size_t)out + npanels - 1) / npanels + 15) & ~(size_t)15;
    return rows < (size_t)out ? (int)rows : out;
}

/* The widen buffer: `floats` floats, 64-byte aligned, in *base's block
 * (free(*base) releases it). Plain malloc plus manual alignment rather than
 * posix_memalign: glibc raises its mmap threshold to the size of a freed
 * large block, but a memalign request is padded past that size, so every
 * call would get a fresh mmap and pay a page fault per 4 KiB of panel
 * (~0.3 ms for a 3 MiB panel, a third of a 64-row sgemm). A plain malloc of
 * the same size is served from the heap from the second call on. */
static float *panel_alloc(size_t floats, void **base)
{
    size_t bytes;
    if (!ocr_mul_ok(floats, sizeof(float), &bytes) ||
        !ocr_add_ok(bytes, OCR_ALIGN, &bytes))
        return NULL;
    *base = malloc(bytes);
    if (!*base) return NULL;
    uintptr_t p = ((uintptr_t)*base + OCR_ALIGN - 1) & ~(uintptr_t)(OCR_ALIGN - 1);
    return (float *)p;
}

/* y[n, o0:o0+np] = x[n,in] · panel[np,in]ᵀ + bias[o0:o0+np]  (y row stride out) */
static void panel_gemm(float *y, const float *x, const float *panel,
                       const float *bias, int n, int in, int out, int o0,
                       int np)
{
    if (n == 1) {
        ocr_sgemm_xwt(y + o0, x, panel, bias ? bias + o0 : NULL, 1, in, np,
                      false);
        return;
    }
    if (bias)
        for (int r = 0; r < n; r++)
            memcpy(y + (size_t)r * (size_t)out + (size_t)o0, bias + o0,
                   (size_t)np * sizeof(float));
    ocr_sgemm(false, true, n, np, in, 1.0f, x, in, panel, in,
              bias ? 1.0f : 0.0f, y + o0, out);
}

void ocr_matmul_f32(float *y, const float *x, const float *w,
                    const float *bias, int n, int in, int out)
{
    ocr_sgemm_xwt(y, x, w, bias, n, in, out, false);
}

/* y[n,out] = x[n,in] · W[out,in]ᵀ + bias, W in bf16 */
void ocr_matmul_bf16(float *y, const float *x, const uint16_t *w,
                     const float *bias, int n, int in, int out)
{
    if (n <= 0 || out <= 0) return;
    if (n <= MATVEC_MAX_N) {
        matvec_bf16(y, x, w, bias, n, in, out);
        return;
    }
    int panel = panel_rows(in, out);
    void *base = NULL;
    float *buf = panel_alloc((size_t)panel * (size_t)in, &base);
    if (!buf) {
        /* This function cannot fail; the matvec needs no memory, only time. */
        matvec_bf16(y, x, w, bias, n, in, out);
        return;
    }
    for (int o0 = 0; o0 < out; o0 += panel) {
        int np = out - o0 < panel ? out - o0 : panel;
        widen_bf16(buf, w + (size_t)o0 * (size_t)in, (size_t)np * (size_t)in);
        panel_gemm(y, x, buf, bias, n, in, out, o0, np);
    }
    free(base);
}

static bool is_float_dtype(ocr_dtype dt)
{
    return dt == OCR_DT_F32 || dt == OCR_DT_F16 || dt == OCR_DT_BF16 ||
           dt == OCR_DT_F8_E4M3 || dt == OCR_DT_F64;
}

/* Shape, dtype and scale checks shared by every ocr_matmul path; fills
 * in and out from W's shape. */
static ocr_status matmul_check(const float *y, const float *x,
                               const ocr_tensor *w, int n, int *in, int *out,
                               ocr_err *e)
{
    char sb[64];
    if (!w) return ocr_err_set(e, OCR_E_ARG, "ocr_matmul: weight is NULL");
    const char *name = w->name ? w->name : "?";
    if (!is_float_dtype(w->dtype))
        return ocr_err_set(e, OCR_E_DTYPE,
                           "ocr_matmul: tensor '%s' has dtype %s, expected "
                           "F32, BF16, F16 or F8_E4M3",
                           name, ocr_dtype_name(w->dtype));
    if (w->ndim != 2 || w->shape[0] <= 0 || w->shape[1] <= 0 ||
        w->shape[0] > INT_MAX || w->shape[1] > INT_MAX)
        return ocr_err_set(e, OCR_E_SHAPE,
                           "ocr_matmul: tensor '%s' shape %s, expected 2-D "
                           "[out,in] with positive dims below 2^31",
                           name, ocr_shape_str(sb, sizeof sb, w->ndim, w->shape));
    if (n < 0)
        return ocr_err_set(e, OCR_E_ARG, "ocr_matmul: tensor '%s': n = %d rows",
                           name, n);
    if (!w->data || (n > 0 && (!x || !y)))
        return ocr_err_set(e, OCR_E_ARG,
                           "ocr_matmul: tensor '%s': NULL data, input or output",
                           name);
    size_t numel = (size_t)w->shape[0] * (size_t)w->shape[1];
    /* Views built by hand may leave nbytes at 0; loaded ones always set it. */
    if (w->nbytes && w->nbytes < numel * ocr_dtype_size(w->dtype))
        return ocr_err_set(e, OCR_E_SHAPE,
                           "ocr_matmul: tensor '%s' shape %s needs %zu bytes "
                           "of %s, view has %zu",
                           name, ocr_shape_str(sb, sizeof sb, 2, w->shape),
                           numel * ocr_dtype_size(w->dtype),
                           ocr_dtype_name(w->dtype), w->nbytes);
    if (w->dtype == OCR_DT_F8_E4M3 && w->scale) {
        /* The widen indexes the scale grid without bounds checks; a
         * mismatched grid must be caught here, not read past its end. */
        const ocr_tensor *s = w->scale;
        int64_t blk = w->block > 0 ? w->block : 128;
        int64_t want[2] = {(w->shape[0] + blk - 1) / blk,
                           (w->shape[1] + blk - 1) / blk};
        char sb2[64];
        if (s->dtype != OCR_DT_F32 || !s->data || !ocr_tensor_has_shape(s, 2, want) ||
            (s->nbytes && s->nbytes < (size_t)(want[0] * want[1]) * sizeof(float)))
            return ocr_err_set(e, OCR_E_SHAPE,
                               "ocr_matmul: tensor '%s': scale '%s' is %s %s, "
                               "expected F32 %s for block %lld",
                               name, s->name ? s->name : "?",
                               ocr_dtype_name(s->dtype),
                               ocr_shape_str(sb, sizeof sb, s->ndim, s->shape),
                               ocr_shape_str(sb2, sizeof sb2, 2, want),
                               (long long)blk);
    }
    *out = (int)w->shape[0];
    *in = (int)w->shape[1];
    return OCR_OK;
}

ocr_status ocr_matmul(float *y, const float *x, const ocr_tensor *w,
                      const float *bias, int n, ocr_err *e)
{
    int in = 0, out = 0;
    ocr_status st = matmul_check(y, x, w, n, &in, &out, e);
    if (st != OCR_OK || n == 0) return st;
    switch (w->dtype) {
    case OCR_DT_F32:
        ocr_matmul_f32(y, x, (const float *)w->data, bias, n, in, out);
        return OCR_OK;
    case OCR_DT_BF16:
        ocr_matmul_bf16(y, x, (const uint16_t *)w->data, bias, n, in, out);
        return OCR_OK;
    default:
        break;
    }
    /* F16, F8 (scaled or not), F64: widen panels through the tensor code,
     * which knows the block-scale layout. */
    int panel = panel_rows(in, out);
    void *base = NULL;
    float *buf = panel_alloc((size_t)panel * (size_t)in, &base);
    if (!buf)
        return ocr_err_set(e, OCR_E_NOMEM,
                           "ocr_matmul: tensor '%s': cannot allocate a %dx%d "
                           "panel",
                           w->name ? w->name : "?", panel, in);
    for (int o0 = 0; o0 < out; o0 += panel) {
        int np = out - o0 < panel ? out - o0 : panel;
        st = ocr_tensor_rows_to_f32(buf, w, o0, np, e);
        if (st != OCR_OK) break;
        panel_gemm(y, x, buf, bias, n, in, out, o0, np);
    }
    free(base);
    return st;
}

/* ------------------------------------------------------------------ norms */

/* Σ x² with eight partial sums, which gcc can keep in one vector register
 * without reassociating anything. */
static float sumsq8(const float *x, int d)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= d; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k] * x[i + k];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
              ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < d; i++) s += x[i] * x[i];
    return s;
}

static float sum8(const float *x, int d)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= d; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
              ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < d; i++) s += x[i];
    return s;
}

static float sumsqdev8(const float *x, int d, float mean)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= d; i += 8)
        for (int k = 0; k < 8; k++) {
            float t = x[i + k] - mean;
            acc[k] += t * t;
        }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
              ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < d; i++) {
        float t = x[i] - mean;
        s += t * t;
    }
    return s;
}

/* out[n,d] = x / sqrt(mean(x²) + eps) * w — in float, as DeepseekV2RMSNorm
 * does after its upcast: (x · rsqrt(var + eps)) first, then · weight. */
void ocr_rmsnorm(float *out, const float *x, const float *w, int n, int d,
                 float eps)
{
    if (d <= 0) return;
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)d;
        float *orow = out + (size_t)r * (size_t)d;
        float rs = 1.0f / sqrtf(sumsq8(xr, d) / (float)d + eps);
        if (w)
            for (int i = 0; i < d; i++) orow[i] = w[i] * (xr[i] * rs);
        else
            for (int i = 0; i < d; i++) orow[i] = xr[i] * rs;
    }
}

/* out[n,d] = (x - mean) / sqrt(var + eps) * w + b. Two passes in float (mean,
 * then the mean of squared deviations) rather than E[x²]-E[x]², which loses
 * everything when |mean| ≫ std, as activations after a residual often are. */
void ocr_layernorm(float *out, const float *x, const float *w, const float *b,
                   int n, int d, float eps)
{
    if (d <= 0) return;
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * (size_t)d;
        float *orow = out + (size_t)r * (size_t)d;
        float mean = sum8(xr, d) / (float)d;
        float var = sumsqdev8(xr, d, mean) / (float)d;
        float rs = 1.0f / sqrtf(var + eps);
        for (int i = 0; i < d; i++) {
            float v = (xr[i] - mean) * rs;
            if (w) v *= w[i];
            if (b) v += b[i];
            orow[i] = v;
        }
    }
}

/* ---------------------------------------------------------------- softmax */

/* Row-wise, in place. Subtracting the row max keeps expf in range. A row
 * that is entirely -inf (every key masked) has no distribution; it becomes
 * zeros rather than the NaNs a literal evaluation gives, so that a fully
 * masked row contributes nothing instead of poisoning what follows. */
void ocr_softmax(float *x, int n, int d)
{
    if (d <= 0) return;
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * (size_t)d;
        float mx = xr[0];
        for (int i = 1; i < d; i++) mx = xr[i] > mx ? xr[i] : mx;
        if (mx == -INFINITY) {
            memset(xr, 0, (size_t)d * sizeof(float));
            continue;
        }
        for (int i = 0; i < d; i++) xr[i] = expf(xr[i] - mx);
        float inv = 1.0f / sum8(xr, d);
        for (int i = 0; i < d; i++) xr[i] *= inv;
    }
}

/* ------------------------------------------------------------ activations */

void ocr_silu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void ocr_gelu_erf(float *x, size_t n)
{
    const float r2 = 0.70710678118654752f; /* 1/√2 */
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * r2));
}

void ocr_gelu_tanh(float *x, size_t n)
{
    const float k = 0.79788456080286536f; /* √(2/π) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
    }
}

/* CLIP's x·σ(1.702x), written as a quotient so that large |x| gives x or -0
 * instead of inf·0. */
void ocr_quick_gelu(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void ocr_swiglu(float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* ------------------------------------------------------------------ RoPE */

/* The angle is the float product pos·inv_freq, rounded as HF rounds it
 * (torch.outer in float32), so that long positions land on the same angles
 * as the reference; only then cos/sin and the (YaRN) mscale. */
void ocr_rope_table(float *cos_t, float *sin_t, const int *pos, int npos,
                    const float *inv_freq, int half, float mscale)
{
    for (int p = 0; p < npos; p++) {
        float fp = (float)pos[p];
        for (int i = 0; i < half; i++) {
            float a = fp * inv_freq[i];
            cos_t[(size_t)p * (size_t)half + (size_t)i] = cosf(a) * mscale;
            sin_t[(size_t)p * (size_t)half + (size_t)i] = sinf(a) * mscale;
        }
    }
}

void ocr_rope_neox(float *x, int n, int nheads, int stride, int dim,
                   const float *cos_t, const float *sin_t)
{
    int h = dim / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cos_t + (size_t)t * (size_t)h;
        const float *s = sin_t + (size_t)t * (size_t)h;
        for (int hd = 0; hd < nheads; hd++) {
            float *v = x + ((size_t)t * (size_t)nheads + (size_t)hd) * (size_t)stride;
            for (int i = 0; i < h; i++) {
                float a = v[i], b = v[i + h];
                v[i] = a * c[i] - b * s[i];
                v[i + h] = b * c[i] + a * s[i];
            }
        }
    }
}

void ocr_rope_interleaved(float *x, int n, int nheads, int stride, int dim,
                          const float *cos_t, const float *sin_t)
{
    int h = dim / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cos_t + (size_t)t * (size_t)h;
        const float *s = sin_t + (size_t)t * (size_t)h;
        for (int hd = 0; hd < nheads; hd++) {
            float *v = x + ((size_t)t * (size_t)nheads + (size_t)hd) * (size_t)stride;
            for (int i = 0; i < h; i++) {
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * c[i] - b * s[i];
                v[2 * i + 1] = b * c[i] + a * s[i];
            }
        }
    }
}

/* vision/vis_ops.c — convolution and attention as GEMMs (with naive `_ref`
 * twins), and the elementwise work between them.
 *
 * Convolutions: im2col over channels-last activations, a chunk of output
 * pixels at a time, then one sgemm against the [cout][k·k·cin] kernel.
 * Attention: SAM's Attention.forward for one head (deepencoder.py /
 * sam_vary_sdpa.py: add_decomposed_rel_pos + scaled_dot_product_attention),
 * with the relative-position terms computed as one GEMM of the queries
 * against each whole table instead of materialising Rh/Rw per query.
 * Softmax and GELU are vectorised by hand, and they and the layer norms are
 * split across threads by rows between the BLAS calls.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vis.h"

/* ------------------------------------------------------------- convolution */

int vis_conv_out(int n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }

void vis_conv_weight_nhwc(float *dst, const float *src, int cout, int cin, int k)
{
    for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++)
                    dst[(((size_t)o * k + ky) * k + kx) * cin + c] =
                        src[(((size_t)o * cin + c) * k + ky) * k + kx];
}

void vis_conv2d_nhwc(float *y, const float *x, int h, int wd, int cin, const float *w,
                     const float *bias, int cout, int k, int s, int p, float *cols, int chunk)
{
    int oh = vis_conv_out(h, k, s, p), ow = vis_conv_out(wd, k, s, p);
    int K = k * k * cin, npix = oh * ow;
    if (k == 1 && s == 1 && p == 0) {
        /* A 1x1 conv over channels-last pixels is a linear layer. */
        ocr_sgemm_xwt(y, x, w, bias, npix, cin, cout, false);
        return;
    }
    if (chunk < 1) chunk = 1;
    size_t run = (size_t)cin * sizeof(float);
    for (int r0 = 0; r0 < npix; r0 += chunk) {
        int nr = npix - r0 < chunk ? npix - r0 : chunk;
        for (int r = 0; r < nr; r++) {
            int oy = (r0 + r) / ow, ox = (r0 + r) % ow;
            float *row = cols + (size_t)r * (size_t)K;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * s + ky - p;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * s + kx - p;
                    float *dst = row + ((size_t)ky * k + kx) * (size_t)cin;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                        memset(dst, 0, run);
                    else
                        memcpy(dst, x + ((size_t)iy * wd + ix) * (size_t)cin, run);
                }
            }
        }
        ocr_sgemm_xwt(y + (size_t)r0 * (size_t)cout, cols, w, bias, nr, K, cout, false);
    }
}

void vis_conv2d_nhwc_ref(float *y, const float *x, int h, int wd, int cin, const float *w,
                         const float *bias, int cout, int k, int s, int p)
{
    int oh = vis_conv_out(h, k, s, p), ow = vis_conv_out(wd, k, s, p);
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
            for (int o = 0; o < cout; o++) {
                double acc = bias ? bias[o] : 0.0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = oy * s + ky - p, ix = ox * s + kx - p;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                        const float *xi = x + ((size_t)iy * wd + ix) * (size_t)cin;
                        const float *wo = w + (((size_t)o * k + ky) * k + kx) * (size_t)cin;
                        for (int c = 0; c < cin; c++) acc += (double)xi[c] * wo[c];
                    }
                y[((size_t)oy * ow + ox) * (size_t)cout + o] = (float)acc;
            }
}

/* ---------------------------------------------------------- threads */

/* Elementwise work between GEMMs (softmax, GELU, layer norms) would run on
 * one core while the BLAS threads wait; it is split by rows across the same
 * number of threads instead. The BLAS pool is idle meanwhile (we are between
 * BLAS calls), so this does not oversubscribe, and no BLAS call is made from
 * these threads. Each thread owns whole rows, so results do not depend on
 * the thread count. */
#define VIS_MAX_THREADS 16

typedef struct {
    vis_range_fn fn;
    void *ctx;
    int r0, r1;
} range_job;

static void *range_thread(void *arg)
{
    const range_job *j = arg;
    j->fn(j->ctx, j->r0, j->r1);
    return NULL;
}

void vis_parallel_rows(int n, size_t row_cost, vis_range_fn fn, void *ctx)
{
    int nt = ocr_blas_get_threads();
    if (nt > VIS_MAX_THREADS) nt = VIS_MAX_THREADS;
    /* Below ~64k elements per thread a thread costs more than it saves. */
    size_t per_thread = (size_t)1 << 16;
    if ((size_t)n * row_cost < per_thread * 2 || n < 2) nt = 1;
    else if ((size_t)nt > (size_t)n * row_cost / per_thread)
        nt = (int)((size_t)n * row_cost / per_thread);
    if (nt > n) nt = n;
    if (nt <= 1) {
        fn(ctx, 0, n);
        return;
    }
    range_job jobs[VIS_MAX_THREADS];
    pthread_t tid[VIS_MAX_THREADS];
    bool started[VIS_MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        jobs[t] = (range_job){fn, ctx, (int)((int64_t)n * t / nt), (int)((int64_t)n * (t + 1) / nt)};
        started[t] = false;
    }
    for (int t = 1; t < nt; t++)
        started[t] = pthread_create(&tid[t], NULL, range_thread, &jobs[t]) == 0;
    range_thread(&jobs[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            range_thread(&jobs[t]); /* could not start: do its share here */
    }
}

/* Row-parallel wrappers of the core elementwise kernels. */
typedef struct {
    float *out;
    const float *x;
    const float *w, *b;
    int d;
    float eps;
    int op; /* 0 layernorm, 1 gelu_erf, 2 quick_gelu, 3 out += x */
} elem_job;

static void elem_rows(void *ctx, int r0, int r1)
{
    const elem_job *j = ctx;
    size_t o = (size_t)r0 * (size_t)j->d, n = (size_t)(r1 - r0) * (size_t)j->d;
    switch (j->op) {
    case 0: ocr_layernorm(j->out + o, j->x + o, j->w, j->b, r1 - r0, j->d, j->eps); break;
    case 1: vis_gelu_erf(j->out + o, n); break;
    case 2: ocr_quick_gelu(j->out + o, n); break;
    default:
        for (size_t i = 0; i < n; i++) j->out[o + i] += j->x[o + i];
        break;
    }
}

void vis_layernorm_rows(float *out, const float *x, const float *w, const float *b, int n, int d,
                        float eps)
{
    elem_job j = {out, x, w, b, d, eps, 0};
    vis_parallel_rows(n, (size_t)d, elem_rows, &j);
}

void vis_gelu_erf_rows(float *x, int n, int d)
{
    elem_job j = {x, NULL, NULL, NULL, d, 0, 1};
    vis_parallel_rows(n, (size_t)d * 4, elem_rows, &j); /* exp + divide per element */
}

void vis_quick_gelu_rows(float *x, int n, int d)
{
    elem_job j = {x, NULL, NULL, NULL, d, 0, 2};
    vis_parallel_rows(n, (size_t)d * 8, elem_rows, &j);
}

void vis_add_rows(float *y, const float *x, int n, int d)
{
    elem_job j = {y, x, NULL, NULL, d, 0, 3};
    vis_parallel_rows(n, (size_t)d, elem_rows, &j);
}

/* ---------------------------------------------------------------- softmax */

/* Softmax over a 4096² attention map per head is, after the GEMMs, the
 * largest cost in the encoder, and libm's expf is scalar. So the row
 * kernel is written with GNU vector types (plain IEEE lane-wise arithmetic)
 * and compiled three times — baseline, AVX2, AVX-512F — picked at run time.
 * Every variant uses the same 16-lane layout and the same reduction order,
 * so results are bit-identical whichever runs.
 *
 * exp: Cody-Waite reduction x = n·ln2 + r, |r| <= ln2/2, and Cephes'
 * degree-6 polynomial (relative error ~2 ulp); arguments are <= 0 after the
 * max is subtracted and are clamped at -87 so that 2^n stays normal (such
 * terms are below 1e-37 of the row's largest and do not show in the sum). */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#define ALWAYS_INLINE static inline __attribute__((always_inline))

#if defined(__GNUC__) && defined(__x86_64__)
#define VIS_X86_DISPATCH 1
#else
#define VIS_X86_DISPATCH 0
#endif

#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
#define EXP_LOG2E 1.44269504088896341f
#define EXP_MAGIC 12582912.0f /* 1.5·2^23: adding it rounds to an integer */
#define EXP_MIN -87.0f

ALWAYS_INLINE float exp_neg(float x)
{
    x = x < EXP_MIN ? EXP_MIN : x;
    float n = (x * EXP_LOG2E + EXP_MAGIC) - EXP_MAGIC;
    float r = x - n * EXP_LN2_HI - n * EXP_LN2_LO;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t u = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &u, sizeof s);
    return p * s;
}

/* Vectors go by pointer: passing 64-byte vectors by value changes the ABI
 * between the baseline and AVX-512 variants. */
ALWAYS_INLINE void vmax16(v16f *a, const v16f *b)
{
    v16i m = *a > *b;
    *a = (v16f)(((v16i)*a & m) | ((v16i)*b & ~m));
}

ALWAYS_INLINE void exp_neg16(v16f *xp)
{
    const v16f lo = (v16f){0} + EXP_MIN, magic = (v16f){0} + EXP_MAGIC;
    v16f x = *xp;
    vmax16(&x, &lo);
    v16f n = (x * EXP_LOG2E + magic) - magic;
    v16f r = x - n * EXP_LN2_HI - n * EXP_LN2_LO;
    v16f p = (v16f){0} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
    *xp = p * (v16f)e;
}

ALWAYS_INLINE float hsum16(const v16f *v)
{
    float t[16];
    memcpy(t, v, sizeof t);
    for (int k = 0; k < 8; k++) t[k] += t[k + 8];
    for (int k = 0; k < 4; k++) t[k] += t[k + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

ALWAYS_INLINE float hmax16(const v16f *v)
{
    float t[16];
    memcpy(t, v, sizeof t);
    float m = t[0];
    for (int k = 1; k < 16; k++) m = t[k] > m ? t[k] : m;
    return m;
}

/* One row: optional decomposed rel-pos bias (row t of the gh x gw key grid
 * gets bh[kk] + bw[l], both already in key order), then softmax. */
#define SOFTMAX_ROW_BODY                                                        \
    {                                                                           \
        int i = 0;                                                              \
        if (bh) {                                                               \
            for (int kk = 0; kk < gh; kk++) {                                   \
                float *sk = x + (size_t)kk * gw;                                \
                v16f hv = (v16f){0} + bh[kk];                                   \
                int l = 0;                                                      \
                for (; l + 16 <= gw; l += 16) {                                 \
                    v16f a, b;                                                  \
                    memcpy(&a, sk + l, sizeof a);                               \
                    memcpy(&b, bw + l, sizeof b);                               \
                    a += hv + b;                                                \
                    memcpy(sk + l, &a, sizeof a);                               \
                }                                                               \
                for (; l < gw; l++) sk[l] += bh[kk] + bw[l];                    \
            }                                                                   \
        }                                                                       \
        v16f mv = (v16f){0} - INFINITY;                                         \
        for (i = 0; i + 16 <= d; i += 16) {                                     \
            v16f a;                                                             \
            memcpy(&a, x + i, sizeof a);                                        \
            vmax16(&mv, &a);                                                    \
        }                                                                       \
        float mx = hmax16(&mv);                                                 \
        for (; i < d; i++) mx = x[i] > mx ? x[i] : mx;                          \
        v16f sv = (v16f){0}, mxv = (v16f){0} + mx;                              \
        for (i = 0; i + 16 <= d; i += 16) {                                     \
            v16f a;                                                             \
            memcpy(&a, x + i, sizeof a);                                        \
            a -= mxv;                                                           \
            exp_neg16(&a);                                                      \
            sv += a;                                                            \
            memcpy(x + i, &a, sizeof a);                                        \
        }                                                                       \
        float sum = hsum16(&sv);                                                \
        for (; i < d; i++) sum += x[i] = exp_neg(x[i] - mx);                    \
        float inv = 1.0f / sum;                                                 \
        v16f iv = (v16f){0} + inv;                                              \
        for (i = 0; i + 16 <= d; i += 16) {                                     \
            v16f a;                                                             \
            memcpy(&a, x + i, sizeof a);                                        \
            a *= iv;                                                            \
            memcpy(x + i, &a, sizeof a);                                        \
        }                                                                       \
        for (; i < d; i++) x[i] *= inv;                                         \
    }

#define SOFTMAX_ROW_ARGS float *x, int d, const float *bh, const float *bw, int gh, int gw

static void softmax_row_generic(SOFTMAX_ROW_ARGS) SOFTMAX_ROW_BODY

#if VIS_X86_DISPATCH
__attribute__((target("avx2"))) static void softmax_row_avx2(SOFTMAX_ROW_ARGS) SOFTMAX_ROW_BODY
__attribute__((target("avx512f"))) static void softmax_row_avx512(SOFTMAX_ROW_ARGS) SOFTMAX_ROW_BODY

static int x86_level(void)
{
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2")) return 1;
    return 0;
}
#endif

static void softmax_row(SOFTMAX_ROW_ARGS)
{
#if VIS_X86_DISPATCH
    switch (x86_level()) {
    case 2: softmax_row_avx512(x, d, bh, bw, gh, gw); return;
    case 1: softmax_row_avx2(x, d, bh, bw, gh, gw); return;
    default: break;
    }
#endif
    softmax_row_generic(x, d, bh, bw, gh, gw);
}

/* GELU(x) = x/2·(1 + erf(x/√2)) with ATen's vectorised erf (Abramowitz &
 * Stegun 7.1.26, |error| < 1.5e-7: erf = 1 - (p1 t + .. + p5 t^5)·e^{-x²},
 * t = 1/(1 + p·|x|)), which is what torch's fp32 GELU runs on AVX2/AVX-512;
 * libm's erff is scalar and costs as much as a tenth of SAM's MLP. */
#define ERF_P 0.3275911f
#define ERF_P1 0.254829592f
#define ERF_P2 -0.284496736f
#define ERF_P3 1.421413741f
#define ERF_P4 -1.453152027f
#define ERF_P5 1.061405429f
#define GELU_ALPHA 0.70710678118654752f

ALWAYS_INLINE float gelu1(float x)
{
    float z = x * GELU_ALPHA, az = z < 0 ? -z : z;
    float t = 1.0f / (ERF_P * az + 1.0f);
    float r = (((ERF_P5 * t + ERF_P4) * t + ERF_P3) * t + ERF_P2) * t + ERF_P1;
    float e = 1.0f - r * t * exp_neg(-(z * z));
    return x * 0.5f * (1.0f + (z < 0 ? -e : e));
}

#define GELU_BODY                                                               \
    {                                                                           \
        size_t i = 0;                                                           \
        const v16f one = (v16f){0} + 1.0f, zero = (v16f){0};                    \
        for (; i + 16 <= n; i += 16) {                                          \
            v16f x, z, az, t, r, e, ex;                                         \
            memcpy(&x, p + i, sizeof x);                                        \
            z = x * GELU_ALPHA;                                                 \
            v16i neg = z < zero;                                                \
            az = (v16f)(((v16i)-z & neg) | ((v16i)z & ~neg));                   \
            t = one / (az * ERF_P + one);                                       \
            r = (((t * ERF_P5 + ERF_P4) * t + ERF_P3) * t + ERF_P2) * t + ERF_P1; \
            ex = -(z * z);                                                      \
            exp_neg16(&ex);                                                     \
            e = one - r * t * ex;                                               \
            e = (v16f)(((v16i)-e & neg) | ((v16i)e & ~neg));                    \
            x = x * 0.5f * (one + e);                                           \
            memcpy(p + i, &x, sizeof x);                                        \
        }                                                                       \
        for (; i < n; i++) p[i] = gelu1(p[i]);                                  \
    }

static void gelu_generic(float *p, size_t n) GELU_BODY
#if VIS_X86_DISPATCH
__attribute__((target("avx2"))) static void gelu_avx2(float *p, size_t n) GELU_BODY
__attribute__((target("avx512f"))) static void gelu_avx512(float *p, size_t n) GELU_BODY
#endif

void vis_gelu_erf(float *x, size_t n)
{
#if VIS_X86_DISPATCH
    switch (x86_level()) {
    case 2: gelu_avx512(x, n); return;
    case 1: gelu_avx2(x, n); return;
    default: break;
    }
#endif
    gelu_generic(x, n);
}

void vis_softmax_rows(float *x, int n, int d)
{
    for (int r = 0; r < n; r++) softmax_row(x + (size_t)r * (size_t)d, d, NULL, NULL, 0, 0);
}

/* -------------------------------------------------------------- attention */

size_t vis_attn_scratch(int n, int hd, int qchunk)
{
    int qc = qchunk < n ? qchunk : n;
    /* scores [qc, n] + packed k and v [n, hd] */
    return (size_t)qc * (size_t)n + 2 * (size_t)n * (size_t)hd;
}

void vis_attn_rel(float *ph, float *pw, const float *q, int ld, int n, int hd, const float *rh,
                  int lh, const float *rw, int lw)
{
    /* add_decomposed_rel_pos needs q·Rh[i - kk + gh - 1] for the query's row
     * i and every key row kk: a window of the table that slides with i.
     * Projecting every query on the whole table (2gh - 1 rows) is one GEMM
     * for all queries and all windows, where per-row windows would be
     * hundreds of tiny ones; the softmax picks the slice it needs. */
    ocr_sgemm(false, true, n, lh, hd, 1.0f, q, ld, rh, hd, 0.0f, ph, lh);
    ocr_sgemm(false, true, n, lw, hd, 1.0f, q, ld, rw, hd, 0.0f, pw, lw);
}

/* Rows [r0, r1) of a score block: rel-pos bias, then softmax. */
typedef struct {
    float *S;
    int n, row0;
    const float *ph, *pw;
    int gh, gw;
} softmax_job;

static void softmax_rows_job(void *ctx, int r0, int r1)
{
    const softmax_job *j = ctx;
    float bh[VIS_MAX_GRID], bw[VIS_MAX_GRID];
    int lh = 2 * j->gh - 1, lw = 2 * j->gw - 1;
    for (int t = r0; t < r1; t++) {
        float *x = j->S + (size_t)t * (size_t)j->n;
        if (j->ph) {
            /* Query (i, j): key (kk, l) gets ph[i - kk + gh - 1] + pw[j - l + gw - 1]. */
            int q = j->row0 + t, qi = q / j->gw, qj = q % j->gw;
            const float *h = j->ph + (size_t)q * lh + qi + j->gh - 1;
            const float *w = j->pw + (size_t)q * lw + qj + j->gw - 1;
            for (int kk = 0; kk < j->gh; kk++) bh[kk] = h[-kk];
            for (int l = 0; l < j->gw; l++) bw[l] = w[-l];
            softmax_row(x, j->n, bh, bw, j->gh, j->gw);
        } else {
            softmax_row(x, j->n, NULL, NULL, 0, 0);
        }
    }
}

void vis_attn_head(float *out, int ldo, const float *q, const float *k, const float *v, int ld,
                   int hd, int gh, int gw, const float *ph, const float *pw, float scale,
                   float *scratch, int qchunk)
{
    int n = gh * gw;
    int qc = qchunk < n ? qchunk : n;
    float *S = scratch, *kp = S + (size_t)qc * (size_t)n, *vp = kp + (size_t)n * (size_t)hd;
    /* k and v of one head are strided slices of the fused qkv rows; packed,
     * the GEMMs stream them from contiguous memory. */
    for (int t = 0; t < n; t++) {
        memcpy(kp + (size_t)t * hd, k + (size_t)t * ld, (size_t)hd * sizeof(float));
        memcpy(vp + (size_t)t * hd, v + (size_t)t * ld, (size_t)hd * sizeof(float));
    }
    for (int r0 = 0; r0 < n; r0 += qc) {
        int nr = n - r0 < qc ? n - r0 : qc;
        ocr_sgemm(false, true, nr, n, hd, scale, q + (size_t)r0 * ld, ld, kp, hd, 0.0f, S, n);
        /* SDPA adds attn_bias = rel_h + rel_w to the scaled scores. */
        softmax_job job = {S, n, r0, ph, pw, gh, gw};
        vis_parallel_rows(nr, (size_t)n, softmax_rows_job, &job);
        ocr_sgemm(false, false, nr, hd, n, 1.0f, S, n, vp, hd, 0.0f, out + (size_t)r0 * ldo, ldo);
    }
}

void vis_attn_head_ref(float *out, int ldo, const float *q, const float *k, const float *v,
                       int ld, int hd, int gh, int gw, const float *rh, const float *rw,
                       float scale)
{
    int n = gh * gw;
    double *s = malloc((size_t)n * sizeof(double));
    if (!s) return;
    for (int t = 0; t < n; t++) {
        int i = t / gw, j = t % gw;
        const float *qt = q + (size_t)t * ld;
        double mx = -INFINITY;
        for (int u = 0; u < n; u++) {
            int kk = u / gw, l = u % gw;
            const float *ku = k + (size_t)u * ld;
            double dot = 0, bh = 0, bw = 0;
            for (int c = 0; c < hd; c++) dot += (double)qt[c] * ku[c];
            if (rh) {
                const float *th = rh + (size_t)(i - kk + gh - 1) * hd;
                const float *tw = rw + (size_t)(j - l + gw - 1) * hd;
                for (int c = 0; c < hd; c++) {
                    bh += (double)qt[c] * th[c];
                    bw += (double)qt[c] * tw[c];
                }
            }
            s[u] = dot * scale + bh + bw;
            if (s[u] > mx) mx = s[u];
        }
        double sum = 0;
        for (int u = 0; u < n; u++) sum += s[u] = exp(s[u] - mx);
        for (int c = 0; c < hd; c++) {
            double acc = 0;
            for (int u = 0; u < n; u++) acc += s[u] * v[(size_t)u * ld + c];
            out[(size_t)t * ldo + c] = (float)(acc / sum);
        }
    }
    free(s);
}

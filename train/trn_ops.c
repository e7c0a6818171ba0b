/* train/trn_ops.c — forward and backward of the ops of vlocr-nano.
 *
 * Backward functions accumulate (+=) into gradients (llm.c convention), so
 * a tensor used twice (a residual, k_pe shared by all heads) gets the sum
 * for free. GEMMs go through OpenBLAS (ocr_sgemm); the rest are plain loops
 * over rows, with statistics accumulated in double where rounding matters.
 *
 * Threads: GEMMs split by rows (gemm below), elementwise ops, per-row ops
 * and the attention of each (sample, head) run on the OpenMP threads; the
 * trainer keeps OpenBLAS on one thread. Only loops whose iterations write
 * disjoint outputs are split, and sums across rows (norm weight gradients,
 * the loss) stay serial, so a given thread count gives the same bits every
 * time (a run and its resume agree). Across thread counts only the split
 * GEMMs round differently (OpenBLAS blocks a smaller product otherwise):
 * float-level differences, tested in tests/test_trn.c.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "train/trn.h"

/* ------------------------------------------------------------------ linear */

/* C = alpha·op(A)·op(B) + beta·C with the rows of C split across the OpenMP
 * threads, each a single-threaded OpenBLAS call on its block. The trainer
 * runs OpenBLAS on one thread and every op on the OpenMP threads: OpenBLAS's
 * own workers spin between calls and would keep a core from the ops that
 * run between GEMMs. When OpenBLAS itself is threaded, or the product is
 * small, the call goes through whole. */
static void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc)
{
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nt > m / 16) nt = m / 16;
    if (nt <= 1 || ocr_blas_get_threads() > 1 || (double)m * n * k < 262144.0) {
        ocr_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        /* blocks of whole 16-row groups, the last one takes the rest */
        int per = (m / 16 + nt - 1) / nt * 16;
        int m0 = t * per, m1 = t == nt - 1 ? m : (t + 1) * per;
        if (m1 > m) m1 = m;
        if (m0 >= m1) continue;
        /* op(A) rows m0..: A's rows, or A's columns when transposed */
        const float *at = ta ? a + m0 : a + (size_t)m0 * lda;
        ocr_sgemm(ta, tb, m1 - m0, n, k, alpha, at, lda, b, ldb, beta, c + (size_t)m0 * ldc, ldc);
    }
}

void trn_linear_forward(float *y, const float *x, const float *w, const float *b,
                        int n, int in, int out)
{
    /* y = x·Wᵀ */
    gemm(false, true, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
    if (b) {
#pragma omp parallel for schedule(static) if ((size_t)n * out >= TRN_PAR_MIN)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) y[(size_t)i * out + o] += b[o];
    }
}

void trn_linear_backward(float *dx, float *dw, float *db, const float *dy,
                         const float *x, const float *w, int n, int in, int out)
{
    if (n <= 0) return;
    if (dx) gemm(false, false, n, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    /* dW[out,in] += dyᵀ[out,n]·x[n,in] */
    gemm(true, false, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (db)
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
}

/* ------------------------------------------------------------------- norms */

void trn_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
                           const float *w, const float *b, int n, int d, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)n * d >= TRN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double s = 0, ss = 0;
        for (int j = 0; j < d; j++) s += xi[j];
        double mu = s / d;
        for (int j = 0; j < d; j++) ss += (xi[j] - mu) * (xi[j] - mu);
        float r = (float)(1.0 / sqrt(ss / d + eps));
        mean[i] = (float)mu;
        rstd[i] = r;
        float *yi = y + (size_t)i * d;
        for (int j = 0; j < d; j++) yi[j] = (float)((xi[j] - mu) * r) * w[j] + b[j];
    }
}

void trn_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *mean, const float *rstd,
                            const float *w, int n, int d)
{
    /* dx row by row (independent rows: threads), then the weight gradients
     * summed over rows in row order (serial: the same bits every time). */
#pragma omp parallel for schedule(static) if ((size_t)n * d >= TRN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        float mu = mean[i], r = rstd[i];
        double sdn = 0, sdnx = 0;
        for (int j = 0; j < d; j++) {
            float xh = (xi[j] - mu) * r;
            float dn = dyi[j] * w[j];
            sdn += dn;
            sdnx += (double)dn * xh;
        }
        float m1 = (float)(sdn / d), m2 = (float)(sdnx / d);
        float *dxi = dx + (size_t)i * d;
        for (int j = 0; j < d; j++) {
            float xh = (xi[j] - mu) * r;
            dxi[j] += r * (dyi[j] * w[j] - m1 - xh * m2);
        }
    }
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        float mu = mean[i], r = rstd[i];
        for (int j = 0; j < d; j++) {
            float xh = (xi[j] - mu) * r;
            dw[j] += dyi[j] * xh;
            db[j] += dyi[j];
        }
    }
}

void trn_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w,
                         int n, int d, float eps)
{
#pragma omp parallel for schedule(static) if ((size_t)n * d >= TRN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)xi[j] * xi[j];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        rstd[i] = r;
        float *yi = y + (size_t)i * d;
        for (int j = 0; j < d; j++) yi[j] = xi[j] * r * w[j];
    }
}

void trn_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                          const float *rstd, const float *w, int n, int d)
{
    /* dx on the threads, dw serial in row order (see layernorm). */
#pragma omp parallel for schedule(static) if ((size_t)n * d >= TRN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        float r = rstd[i];
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)dyi[j] * w[j] * xi[j];
        /* d/dx of x·r: r·(g − x·r²·mean(g·x)) with g = dy·w */
        float c = (float)(s / d) * r * r * r;
        float *dxi = dx + (size_t)i * d;
        for (int j = 0; j < d; j++) dxi[j] += dyi[j] * w[j] * r - xi[j] * c;
    }
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        float r = rstd[i];
        for (int j = 0; j < d; j++) dw[j] += dyi[j] * xi[j] * r;
    }
}

/* ------------------------------------------------------------- activations */

/* GELU with erf. The conv stem's activations make GELU a third of a
 * training step with libm's erff and expf, so erf here is Abramowitz &
 * Stegun 7.1.26 (|error| <= 1.5e-7, under float rounding of the result)
 * over an exp of our own: both branch-free, so the loops vectorise, and the
 * backward pass gets the normal density from the same exp(-x^2/2). Checked
 * against double-precision erf in tests/test_trn.c. */

/* e^x for x <= 0 (-x^2/2 here), relative error ~2e-7: x = n ln2 + r with
 * |r| <= ln2/2, e^r by its degree-6 Taylor polynomial, 2^n put in the
 * exponent bits. Below -87 the result flushes to 0. */
static inline float exp_neg(float x)
{
    x = x < -87.0f ? -87.0f : x;
    /* round to nearest by the 1.5·2^23 trick: plain arithmetic, so it
     * vectorises (rounding builtins need errno-free math to) */
    const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    const float r = x - n * 0.693145752f - n * 1.42860677e-6f; /* ln2 in two parts */
    const float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f +
                    r * (0.00833333377f + r * 0.00138888892f)))));
    const int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

/* erf(|x|/√2) and e^{-x²/2}: GELU's Φ(x) = 0.5 (1 ± erf) and φ(x) = that
 * exp / √(2π). */
static inline float erf_abs(float x, float *e)
{
    const float z = fabsf(x) * 0.707106781f;
    const float t = 1.0f / (1.0f + 0.3275911f * z);
    *e = exp_neg(-z * z);
    const float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f +
                       t * (-1.453152027f + t * 1.061405429f))));
    return 1.0f - poly * *e;
}

void trn_gelu_forward(float *y, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= TRN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float e;
        const float a = erf_abs(x[i], &e);
        const float cdf = 0.5f + (x[i] < 0.0f ? -0.5f : 0.5f) * a;
        y[i] = x[i] * cdf;
    }
}

void trn_gelu_backward(float *dx, const float *dy, const float *x, size_t n)
{
#pragma omp parallel for simd schedule(static) if (n >= TRN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float e;
        const float a = erf_abs(x[i], &e);
        const float cdf = 0.5f + (x[i] < 0.0f ? -0.5f : 0.5f) * a;
        dx[i] += dy[i] * (cdf + x[i] * 0.398942280f * e);
    }
}

void trn_swiglu_forward(float *a, const float *g, const float *u, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= TRN_PAR_MIN)
    for (size_t i = 0; i < n; i++) a[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void trn_swiglu_backward(float *dg, float *du, const float *da, const float *g,
                         const float *u, size_t n)
{
#pragma omp parallel for schedule(static) if (n >= TRN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * s;
        du[i] += da[i] * silu;
        dg[i] += da[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
    }
}

/* -------------------------------------------------------------------- conv */

static void im2col(float *col, const float *x, int B, int H, int W, int cin)
{
    int Ho = H / 2, Wo = W / 2, kc = 9 * cin;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float *c = col + (((size_t)b * Ho + oy) * Wo + ox) * kc;
                for (int ky = 0; ky < 3; ky++) {
                    int iy = oy * 2 + ky - 1;
                    for (int kx = 0; kx < 3; kx++) {
                        int ix = ox * 2 + kx - 1;
                        float *cc = c + (ky * 3 + kx) * cin;
                        if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                            memset(cc, 0, sizeof(float) * cin);
                        else
                            memcpy(cc, x + (((size_t)b * H + iy) * W + ix) * cin,
                                   sizeof(float) * cin);
                    }
                }
            }
}

static void col2im_add(float *dx, const float *dcol, int B, int H, int W, int cin)
{
    int Ho = H / 2, Wo = W / 2, kc = 9 * cin;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                const float *c = dcol + (((size_t)b * Ho + oy) * Wo + ox) * kc;
                for (int ky = 0; ky < 3; ky++) {
                    int iy = oy * 2 + ky - 1;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < 3; kx++) {
                        int ix = ox * 2 + kx - 1;
                        if (ix < 0 || ix >= W) continue;
                        const float *cc = c + (ky * 3 + kx) * cin;
                        float *d = dx + (((size_t)b * H + iy) * W + ix) * cin;
                        for (int i = 0; i < cin; i++) d[i] += cc[i];
                    }
                }
            }
}

void trn_conv_forward(float *y, float *col, const float *x, const float *w,
                      const float *b, int B, int H, int W, int cin, int cout)
{
    im2col(col, x, B, H, W, cin);
    trn_linear_forward(y, col, w, b, B * (H / 2) * (W / 2), 9 * cin, cout);
}

void trn_conv_backward(float *dx, float *dw, float *db, float *dcol,
                       const float *dy, const float *col, const float *w,
                       int B, int H, int W, int cin, int cout)
{
    int n = B * (H / 2) * (W / 2);
    if (dx) memset(dcol, 0, sizeof(float) * (size_t)n * 9 * cin);
    trn_linear_backward(dx ? dcol : NULL, dw, db, dy, col, w, n, 9 * cin, cout);
    if (dx) col2im_add(dx, dcol, B, H, W, cin);
}

/* --------------------------------------------------------------- attention */

/* The (sample, head) pairs on the threads, each with single-threaded
 * GEMMs (small T×T products parallelise better across pairs than inside
 * one); the BLAS thread count is restored after. */
static int attn_threads_begin(int pairs, int *saved_blas)
{
    int nt = omp_get_max_threads();
    if (nt > TRN_ATTN_THREADS) nt = TRN_ATTN_THREADS;
    if (nt > pairs) nt = pairs;
    if (nt < 1) nt = 1;
    *saved_blas = ocr_blas_get_threads();
    if (nt > 1) ocr_blas_set_threads(1);
    return nt;
}

static void attn_threads_end(int nt, int saved_blas)
{
    if (nt > 1) ocr_blas_set_threads(saved_blas);
}

/* Offsets of pair bh = (sample, head) in q/k, v and out. */
typedef struct {
    size_t q, k, v, o;
} attn_at;
static attn_at attn_pair(const trn_attn_shape *s, int bh)
{
    const size_t b = (size_t)(bh / s->H), h = (size_t)(bh % s->H), T = (size_t)s->T;
    return (attn_at){b * T * s->ldq + h * s->dq, b * T * s->ldk + h * s->dq, b * T * s->ldv + h * s->dv,
                     b * T * s->ldo + h * s->dv};
}

void trn_attn_forward(float *out, float *P, const float *q, const float *k,
                      const float *v, const trn_attn_shape *s)
{
    const int T = s->T, pairs = s->B * s->H;
    int saved;
    const int nt = attn_threads_begin(pairs, &saved);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int bh = 0; bh < pairs; bh++) {
        const attn_at at = attn_pair(s, bh);
        float *p = P + (size_t)bh * T * T;
        const float *qb = q + at.q, *kb = k + at.k, *vb = v + at.v;
        float *ob = out + at.o;
        ocr_sgemm(false, true, T, T, s->dq, s->scale, qb, s->ldq, kb, s->ldk, 0.0f, p, T);
        for (int i = 0; i < T; i++) {
            float *r = p + (size_t)i * T;
            int nj = s->causal ? i + 1 : T;
            float mx = r[0];
            for (int j = 1; j < nj; j++) mx = r[j] > mx ? r[j] : mx;
            double sum = 0;
            for (int j = 0; j < nj; j++) {
                r[j] = expf(r[j] - mx);
                sum += r[j];
            }
            float inv = (float)(1.0 / sum);
            for (int j = 0; j < nj; j++) r[j] *= inv;
            for (int j = nj; j < T; j++) r[j] = 0.0f;
        }
        ocr_sgemm(false, false, T, s->dv, T, 1.0f, p, T, vb, s->ldv, 0.0f, ob, s->ldo);
    }
    attn_threads_end(nt, saved);
}

void trn_attn_backward(float *dq, float *dk, float *dv, const float *dout,
                       const float *P, const float *q, const float *k,
                       const float *v, const trn_attn_shape *s, float *dP)
{
    const int T = s->T, pairs = s->B * s->H;
    int saved;
    const int nt = attn_threads_begin(pairs, &saved);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int bh = 0; bh < pairs; bh++) {
        const attn_at at = attn_pair(s, bh);
        float *dPt = dP + (size_t)(nt > 1 ? omp_get_thread_num() : 0) * T * T;
        const float *p = P + (size_t)bh * T * T;
        const float *qb = q + at.q, *kb = k + at.k, *vb = v + at.v, *dob = dout + at.o;
        float *dqb = dq + at.q, *dkb = dk + at.k, *dvb = dv + at.v;
        /* dV += Pᵀ·dO ; dP = dO·Vᵀ */
        ocr_sgemm(true, false, T, s->dv, T, 1.0f, p, T, dob, s->ldo, 1.0f, dvb, s->ldv);
        ocr_sgemm(false, true, T, T, s->dv, 1.0f, dob, s->ldo, vb, s->ldv, 0.0f, dPt, T);
        /* dS = P ⊙ (dP − rowsum(dP ⊙ P)), times the scale */
        for (int i = 0; i < T; i++) {
            const float *pr = p + (size_t)i * T;
            float *dr = dPt + (size_t)i * T;
            int nj = s->causal ? i + 1 : T;
            double dot = 0;
            for (int j = 0; j < nj; j++) dot += (double)pr[j] * dr[j];
            for (int j = 0; j < nj; j++) dr[j] = pr[j] * (dr[j] - (float)dot) * s->scale;
            for (int j = nj; j < T; j++) dr[j] = 0.0f;
        }
        /* dQ += dS·K ; dK += dSᵀ·Q */
        ocr_sgemm(false, false, T, s->dq, T, 1.0f, dPt, T, kb, s->ldk, 1.0f, dqb, s->ldq);
        ocr_sgemm(true, false, T, s->dq, T, 1.0f, dPt, T, qb, s->ldq, 1.0f, dkb, s->ldk);
    }
    attn_threads_end(nt, saved);
}

/* -------------------------------------------------------------------- rope */

static void rope_apply(float *x, const int *pos, int n, int nh, int stride,
                       int hstride, int dim, float theta, float sign)
{
    int half = dim / 2;
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < half; i++) {
            /* Angles in double: positions reach a few hundred and the
             * inference engine computes its tables in double as well. */
            double inv = pow((double)theta, -2.0 * i / dim);
            double a = pos[r] * inv;
            float c = (float)cos(a), sn = sign * (float)sin(a);
            for (int h = 0; h < nh; h++) {
                float *v = x + (size_t)r * stride + (size_t)h * hstride + 2 * i;
                float x0 = v[0], x1 = v[1];
                v[0] = x0 * c - x1 * sn;
                v[1] = x1 * c + x0 * sn;
            }
        }
    }
}

void trn_rope_forward(float *x, const int *pos, int n, int nh, int stride,
                      int hstride, int dim, float theta)
{
    rope_apply(x, pos, n, nh, stride, hstride, dim, theta, 1.0f);
}

void trn_rope_backward(float *dx, const int *pos, int n, int nh, int stride,
                       int hstride, int dim, float theta)
{
    rope_apply(dx, pos, n, nh, stride, hstride, dim, theta, -1.0f);
}

/* ----------------------------------------------------------- cross-entropy */

double trn_xent_forward_backward(float *dlogits, const float *logits,
                                 const int32_t *targets, int n, int V, float ls,
                                 float scale)
{
    /* Rows on the threads; their losses summed in row order after. */
    double *row = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!row) return NAN;
#pragma omp parallel for schedule(static) if ((size_t)n * V >= TRN_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * V;
        float *d = dlogits + (size_t)i * V;
        int t = targets[i];
        row[i] = 0.0;
        if (t < 0 || t >= V) {
            memset(d, 0, sizeof(float) * V);
            continue;
        }
        float mx = l[0];
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        double sum = 0, sl = 0;
        for (int j = 0; j < V; j++) {
            sum += exp((double)l[j] - mx);
            sl += (double)l[j] - mx;
        }
        double lse = log(sum);
        /* (1−ls)·(−log p_t) + ls·mean_j(−log p_j) */
        row[i] = (1.0 - ls) * (lse - (l[t] - mx)) + ls * (lse - sl / V);
        for (int j = 0; j < V; j++) {
            double p = exp((double)l[j] - mx - lse);
            double y = ls / V + (j == t ? 1.0 - ls : 0.0);
            d[j] = (float)((p - y) * scale);
        }
    }
    double total = 0;
    for (int i = 0; i < n; i++) total += row[i];
    free(row);
    return total;
}

/* -------------------------------------------------------------------- CTC */

static double lse2(double a, double b)
{
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

int trn_ctc_min_frames(const int32_t *label, int L)
{
    int need = L;
    for (int i = 1; i < L; i++) need += label[i] == label[i - 1];
    return need;
}

double trn_ctc_forward_backward(float *dlogits, const float *logits, int T, int V,
                                const int32_t *label, int L, int blank, float scale)
{
    if (T < 1 || L < 0 || trn_ctc_min_frames(label, L) > T) return -1.0;
    const int S = 2 * L + 1;
    /* log-softmax per frame, α and β over the extended label (blank, l1,
     * blank, l2, …, blank), all in double. */
    double *lp = malloc(sizeof(double) * ((size_t)T * V + 2 * (size_t)T * S));
    if (!lp) return -1.0;
    double *al = lp + (size_t)T * V, *be = al + (size_t)T * S;
    for (int t = 0; t < T; t++) {
        const float *l = logits + (size_t)t * V;
        double mx = l[0], sum = 0;
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < V; j++) sum += exp((double)l[j] - mx);
        double lz = mx + log(sum);
        for (int j = 0; j < V; j++) lp[(size_t)t * V + j] = (double)l[j] - lz;
    }
#define LAB(s) ((s) % 2 == 0 ? blank : label[(s) / 2])
    for (size_t i = 0; i < 2 * (size_t)T * S; i++) al[i] = -INFINITY;
    al[0] = lp[blank];
    if (S > 1) al[1] = lp[LAB(1)];
    for (int t = 1; t < T; t++)
        for (int s = 0; s < S; s++) {
            double a = al[(size_t)(t - 1) * S + s];
            if (s >= 1) a = lse2(a, al[(size_t)(t - 1) * S + s - 1]);
            if (s >= 2 && s % 2 == 1 && LAB(s) != LAB(s - 2))
                a = lse2(a, al[(size_t)(t - 1) * S + s - 2]);
            al[(size_t)t * S + s] = a == -INFINITY ? a : a + lp[(size_t)t * V + LAB(s)];
        }
    be[(size_t)(T - 1) * S + S - 1] = lp[(size_t)(T - 1) * V + blank];
    if (S > 1) be[(size_t)(T - 1) * S + S - 2] = lp[(size_t)(T - 1) * V + LAB(S - 2)];
    for (int t = T - 2; t >= 0; t--)
        for (int s = S - 1; s >= 0; s--) {
            double b = be[(size_t)(t + 1) * S + s];
            if (s + 1 < S) b = lse2(b, be[(size_t)(t + 1) * S + s + 1]);
            if (s + 2 < S && s % 2 == 1 && LAB(s) != LAB(s + 2))
                b = lse2(b, be[(size_t)(t + 1) * S + s + 2]);
            be[(size_t)t * S + s] = b == -INFINITY ? b : b + lp[(size_t)t * V + LAB(s)];
        }
    double logp = al[(size_t)(T - 1) * S + S - 1];
    if (S > 1) logp = lse2(logp, al[(size_t)(T - 1) * S + S - 2]);
    if (!isfinite(logp)) {
        free(lp);
        return -1.0;
    }
    /* ∂(−log p)/∂logit[t,k] = softmax[t,k] − Σ_{s: lab(s)=k} α_t(s)β_t(s) / (p·y_t(k)):
     * α and β both include y_t, so the occupancy is exp(α+β−lp−logp). */
    double *occ = malloc(sizeof(double) * (size_t)V);
    if (!occ) {
        free(lp);
        return -1.0;
    }
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < V; j++) occ[j] = -INFINITY;
        for (int s = 0; s < S; s++) {
            double ab = al[(size_t)t * S + s] + be[(size_t)t * S + s];
            if (ab == -INFINITY) continue;
            int k = LAB(s);
            occ[k] = lse2(occ[k], ab - lp[(size_t)t * V + k]);
        }
        float *d = dlogits + (size_t)t * V;
        for (int j = 0; j < V; j++) {
            double p = exp(lp[(size_t)t * V + j]);
            double q = occ[j] == -INFINITY ? 0.0 : exp(occ[j] - logp);
            d[j] = (float)((p - q) * scale);
        }
    }
#undef LAB
    free(occ);
    free(lp);
    return -logp;
}

/* ---------------------------------------------------------- edit distance */

static int utf8_cps(const char *s, uint32_t *out, int cap)
{
    int n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && n < cap) {
        uint32_t c = *p;
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80) { len = 1; break; }
        if (len > 1) {
            c &= 0xFFu >> (len + 1);
            for (int i = 1; i < len; i++) c = (c << 6) | (p[i] & 0x3F);
        }
        out[n++] = c;
        p += len;
    }
    return n;
}

int trn_edit_distance(const char *a, const char *b, int *ref_len)
{
    enum { CAP = 2048 };
    static _Thread_local uint32_t ca[CAP], cb[CAP];
    static _Thread_local int row[CAP + 1];
    int na = utf8_cps(a, ca, CAP), nb = utf8_cps(b, cb, CAP);
    if (ref_len) *ref_len = nb;
    for (int j = 0; j <= nb; j++) row[j] = j;
    for (int i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (ca[i - 1] != cb[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

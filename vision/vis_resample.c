/* vision/vis_resample.c — the three resamplers the encoder's references use.
 *
 * Preprocessing resizes with PIL (Pillow 9.4 libImaging/Resample.c:
 * precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc /
 * ImagingResampleVertical_8bpc). The encoder resizes its position tables
 * with torch (ATen UpSampleKernel.cpp: the separable antialiased bicubic of
 * F.interpolate(antialias=True), and upsample_linear1d). Each port keeps the
 * reference's arithmetic types, because the goldens were made with them:
 * PIL's 8-bit path is exact integer arithmetic on double-derived
 * coefficients, ATen's float path rounds every step to float.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vision/vis.h"

/* ------------------------------------------------------------ PIL bicubic */

/* Pillow's PRECISION_BITS: 8 bits of result, 2 of headroom for the
 * negative lobes, in a 32-bit accumulator. */
#define PIL_PRECISION_BITS (32 - 8 - 2)
#define PIL_BICUBIC_SUPPORT 2.0

/* Keys cubic with a = -0.5 (Resample.c bicubic_filter). */
static double pil_bicubic_filter(double x)
{
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* precompute_coeffs + normalize_coeffs_8bpc for box (0, in_size): per
 * output sample its first input and tap count in bounds[2*i], bounds[2*i+1]
 * and ksize fixed-point weights. Returns ksize, or 0 when out of memory. */
static int pil_coeffs(int in_size, int out_size, int **bounds_out,
                      int32_t **kk_out)
{
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    /* The support widens with the downscale factor: this is PIL's
     * antialiasing. */
    double support = PIL_BICUBIC_SUPPORT * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc((size_t)ksize * sizeof(double));
    int *bounds = malloc((size_t)out_size * 2 * sizeof(int));
    int32_t *kk = calloc((size_t)out_size * (size_t)ksize, sizeof(int32_t));
    if (!k || !bounds || !kk) {
        free(k);
        free(bounds);
        free(kk);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = pil_bicubic_filter((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++) {
            if (ww != 0.0) k[x] /= ww;
            /* Round half away from zero, as (int)(±0.5 + v) does. */
            double v = k[x] * (1 << PIL_PRECISION_BITS);
            kk[(size_t)xx * (size_t)ksize + (size_t)x] =
                (int32_t)(v < 0 ? -0.5 + v : 0.5 + v);
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

/* clip8: the accumulator already holds the rounding half; shift and clamp. */
static inline uint8_t pil_clip8(int64_t in)
{
    if (in <= 0) return 0;
    int64_t v = in >> PIL_PRECISION_BITS;
    return (uint8_t)(v > 255 ? 255 : v);
}

ocr_status vis_resize_pil_bicubic(uint8_t *dst, int dw, int dh,
                                  const uint8_t *src, int sw, int sh,
                                  int nplanes, ocr_err *e)
{
    if (!dst || !src || dw <= 0 || dh <= 0 || sw <= 0 || sh <= 0 || nplanes <= 0)
        return ocr_err_set(e, OCR_E_ARG,
                           "vis_resize_pil_bicubic: bad arguments %dx%d -> %dx%d x%d",
                           sw, sh, dw, dh, nplanes);
    size_t splane = (size_t)sw * (size_t)sh, dplane = (size_t)dw * (size_t)dh;
    /* PIL skips a pass whose size does not change (and Image.resize returns
     * a copy when neither does); a unit-scale pass is the identity anyway. */
    bool need_h = dw != sw, need_v = dh != sh;
    if (!need_h && !need_v) {
        memcpy(dst, src, splane * (size_t)nplanes);
        return OCR_OK;
    }
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh = need_h ? pil_coeffs(sw, dw, &bh, &kh) : 1;
    int ksv = need_v ? pil_coeffs(sh, dh, &bv, &kv) : 1;
    /* The horizontal pass keeps every source row; PIL trims to the rows the
     * vertical pass reads, which changes no value. */
    uint8_t *tmp = need_h && need_v ? malloc((size_t)dw * (size_t)sh) : NULL;
    if (!ksh || !ksv || (need_h && need_v && !tmp)) {
        free(bh);
        free(bv);
        free(kh);
        free(kv);
        free(tmp);
        return ocr_err_set(e, OCR_E_NOMEM, "vis_resize_pil_bicubic: out of memory (%dx%d -> %dx%d)",
                           sw, sh, dw, dh);
    }
    const int64_t half = (int64_t)1 << (PIL_PRECISION_BITS - 1);
    for (int p = 0; p < nplanes; p++) {
        const uint8_t *in = src + (size_t)p * splane;
        uint8_t *out = dst + (size_t)p * dplane;
        const uint8_t *mid = in;
        if (need_h) {
            /* Horizontal pass: rows of width dw, height sh. */
            uint8_t *hout = need_v ? tmp : out;
            for (int y = 0; y < sh; y++) {
                const uint8_t *row = in + (size_t)y * (size_t)sw;
                for (int xx = 0; xx < dw; xx++) {
                    int xmin = bh[2 * xx], n = bh[2 * xx + 1];
                    const int32_t *k = kh + (size_t)xx * (size_t)ksh;
                    int64_t ss = half;
                    for (int x = 0; x < n; x++) ss += (int64_t)row[xmin + x] * k[x];
                    hout[(size_t)y * (size_t)dw + (size_t)xx] = pil_clip8(ss);
                }
            }
            mid = hout;
        }
        if (need_v) {
            int w = dw; /* mid has width dw (== sw when there was no h pass) */
            for (int yy = 0; yy < dh; yy++) {
                int ymin = bv[2 * yy], n = bv[2 * yy + 1];
                const int32_t *k = kv + (size_t)yy * (size_t)ksv;
                for (int xx = 0; xx < w; xx++) {
                    int64_t ss = half;
                    for (int y = 0; y < n; y++)
                        ss += (int64_t)mid[(size_t)(ymin + y) * (size_t)w + (size_t)xx] * k[y];
                    out[(size_t)yy * (size_t)w + (size_t)xx] = pil_clip8(ss);
                }
            }
        }
    }
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    free(tmp);
    return OCR_OK;
}

/* ---------------------------------------------------- ATen AA bicubic */

/* HelperInterpCubic::_filter: the argument is the tensor's scalar type,
 * the polynomial is evaluated in double (the literals are double) and the
 * result rounded back to float. a = -0.5 as in PIL: F.interpolate's
 * antialiased bicubic is PIL-compatible, unlike its plain bicubic (a = -0.75). */
static float aa_bicubic_filter(float xf)
{
    const double a = -0.5;
    double x = xf < 0.0f ? -xf : xf;
    if (x < 1.0) return (float)(((a + 2.0) * x - (a + 3.0)) * x * x + 1);
    if (x < 2.0) return (float)((((x - 5) * x + 8) * x - 4) * a);
    return 0.0f;
}

typedef struct {
    float scale, support, invscale;
} aa_axis;

static aa_axis aa_axis_make(int in_size, int out_size)
{
    aa_axis ax;
    /* area_pixel_compute_scale<float>: float(in) / out. */
    ax.scale = (float)in_size / (float)out_size;
    ax.support = ax.scale >= 1.0f ? (float)((4 * 0.5) * ax.scale) : (float)(4 * 0.5);
    ax.invscale = ax.scale >= 1.0f ? (float)(1.0 / ax.scale) : 1.0f;
    return ax;
}

/* HelperInterpBase::_compute_weights_aa with scalar_t = float, without a
 * tap buffer: the caller asks for weight j of sample i. */
static void aa_span(const aa_axis *ax, int i, int in_size, int *xmin, int *n,
                    float *total)
{
    float center = (float)(ax->scale * (i + 0.5));
    int64_t lo = (int64_t)(center - ax->support + 0.5);
    if (lo < 0) lo = 0;
    int64_t hi = (int64_t)(center + ax->support + 0.5);
    if (hi > in_size) hi = in_size;
    *xmin = (int)lo;
    *n = (int)(hi - lo);
    float t = 0.0f;
    for (int j = 0; j < *n; j++)
        t += aa_bicubic_filter((float)(((float)(j + lo) - center + 0.5) * ax->invscale));
    *total = t;
}

static inline float aa_weight(const aa_axis *ax, int i, int xmin, int j, float total)
{
    float center = (float)(ax->scale * (i + 0.5));
    float w = aa_bicubic_filter((float)(((float)(j + xmin) - center + 0.5) * ax->invscale));
    return total != 0.0f ? w / total : w;
}

int vis_aa_bicubic_weights(float *w, int cap, int *xmin, int i, int in_size,
                           int out_size)
{
    aa_axis ax = aa_axis_make(in_size, out_size);
    int n;
    float total;
    aa_span(&ax, i, in_size, xmin, &n, &total);
    if (n > cap) return -1;
    for (int j = 0; j < n; j++) w[j] = aa_weight(&ax, i, *xmin, j, total);
    return n;
}

void vis_interp_bicubic_aa(float *dst, int dh, int dw, const float *src,
                           int sh, int sw, int c, float *tmp)
{
    /* Weights are computed per output sample into a small stack buffer (a
     * downscale by more than 120x needs more taps: those are recomputed at
     * each use instead). */
    enum { MAXTAP = 512 };
    float wt[MAXTAP];
    aa_axis axw = aa_axis_make(sw, dw), axh = aa_axis_make(sh, dh);
    /* Width pass: tmp[y][ox][:] = Σ_j w_j · src[y][xmin+j][:]. */
    for (int ox = 0; ox < dw; ox++) {
        int xmin, n;
        float total;
        aa_span(&axw, ox, sw, &xmin, &n, &total);
        for (int j = 0; j < n && n <= MAXTAP; j++) wt[j] = aa_weight(&axw, ox, xmin, j, total);
        for (int y = 0; y < sh; y++) {
            float *o = tmp + ((size_t)y * (size_t)dw + (size_t)ox) * (size_t)c;
            const float *s0 = src + ((size_t)y * (size_t)sw + (size_t)xmin) * (size_t)c;
            if (n == 0) memset(o, 0, (size_t)c * sizeof(float));
            for (int j = 0; j < n; j++) {
                float wj = n <= MAXTAP ? wt[j] : aa_weight(&axw, ox, xmin, j, total);
                const float *sj = s0 + (size_t)j * (size_t)c;
                if (j == 0)
                    for (int ch = 0; ch < c; ch++) o[ch] = sj[ch] * wj;
                else
                    for (int ch = 0; ch < c; ch++) o[ch] += sj[ch] * wj;
            }
        }
    }
    /* Height pass. */
    for (int oy = 0; oy < dh; oy++) {
        int ymin, n;
        float total;
        aa_span(&axh, oy, sh, &ymin, &n, &total);
        float *o = dst + (size_t)oy * (size_t)dw * (size_t)c;
        size_t row = (size_t)dw * (size_t)c;
        const float *s0 = tmp + (size_t)ymin * row;
        if (n == 0) memset(o, 0, row * sizeof(float));
        for (int j = 0; j < n; j++) {
            float wj = aa_weight(&axh, oy, ymin, j, total);
            const float *sj = s0 + (size_t)j * row;
            if (j == 0)
                for (size_t k = 0; k < row; k++) o[k] = sj[k] * wj;
            else
                for (size_t k = 0; k < row; k++) o[k] += sj[k] * wj;
        }
    }
}

/* ------------------------------------------------------------ ATen linear */

void vis_interp_linear(float *dst, int dn, const float *src, int sn, int c)
{
    if (dn == sn) {
        memcpy(dst, src, (size_t)dn * (size_t)c * sizeof(float));
        return;
    }
    /* compute_source_index_and_lambda with opmath float. */
    float scale = (float)sn / (float)dn;
    for (int i = 0; i < dn; i++) {
        float real = (float)(scale * (i + 0.5) - 0.5);
        if (real < 0) real = 0;
        int64_t i0 = (int64_t)real;
        if (i0 > sn - 1) i0 = sn - 1;
        int64_t i1 = i0 + (i0 < sn - 1 ? 1 : 0);
        float l1 = real - (float)i0;
        if (l1 < 0) l1 = 0;
        if (l1 > 1) l1 = 1;
        float l0 = 1.0f - l1;
        const float *a = src + (size_t)i0 * (size_t)c, *b = src + (size_t)i1 * (size_t)c;
        float *o = dst + (size_t)i * (size_t)c;
        for (int k = 0; k < c; k++) o[k] = a[k] * l0 + b[k] * l1;
    }
}

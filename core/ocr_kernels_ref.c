/* core/ocr_kernels_ref.c — naive twins of the kernels in ocr_kernels.c.
 *
 * These are the test oracles: the most literal transcription of each formula,
 * accumulating in double where a sum is involved, with no blocking, no
 * threads and no vector code. Speed is not a goal here.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"

void ocr_matmul_f32_ref(float *y, const float *x, const float *w,
                        const float *bias, int n, int in, int out)
{
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int i = 0; i < in; i++)
                s += (double)x[(size_t)r * in + i] * w[(size_t)o * in + i];
            y[(size_t)r * out + o] = (float)s;
        }
}

void ocr_matmul_bf16_ref(float *y, const float *x, const uint16_t *w,
                         const float *bias, int n, int in, int out)
{
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int i = 0; i < in; i++)
                s += (double)x[(size_t)r * in + i] *
                     ocr_bf16_to_f32(w[(size_t)o * in + i]);
            y[(size_t)r * out + o] = (float)s;
        }
}

ocr_status ocr_matmul_ref(float *y, const float *x, const ocr_tensor *w,
                          const float *bias, int n, ocr_err *e)
{
    if (!w) return ocr_err_set(e, OCR_E_ARG, "ocr_matmul_ref: weight is NULL");
    const char *name = w->name ? w->name : "?";
    switch (w->dtype) {
    case OCR_DT_F32: case OCR_DT_F16: case OCR_DT_BF16:
    case OCR_DT_F8_E4M3: case OCR_DT_F64:
        break;
    default:
        return ocr_err_set(e, OCR_E_DTYPE,
                           "ocr_matmul_ref: tensor '%s' has dtype %s, expected "
                           "a floating dtype",
                           name, ocr_dtype_name(w->dtype));
    }
    if (w->ndim != 2 || w->shape[0] <= 0 || w->shape[1] <= 0 ||
        w->shape[0] > 0x7fffffff || w->shape[1] > 0x7fffffff || n < 0)
        return ocr_err_set(e, OCR_E_SHAPE,
                           "ocr_matmul_ref: tensor '%s' is not a 2-D [out,in] "
                           "weight",
                           name);
    int out = (int)w->shape[0], in = (int)w->shape[1];
    float *wf = malloc((size_t)out * (size_t)in * sizeof(float));
    if (!wf)
        return ocr_err_set(e, OCR_E_NOMEM, "ocr_matmul_ref: tensor '%s': "
                           "cannot widen %dx%d", name, out, in);
    ocr_status st = ocr_tensor_to_f32(wf, w, e);
    if (st == OCR_OK) ocr_matmul_f32_ref(y, x, wf, bias, n, in, out);
    free(wf);
    return st;
}

void ocr_rmsnorm_ref(float *out, const float *x, const float *w, int n, int d,
                     float eps)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * d;
        double ss = 0.0;
        for (int i = 0; i < d; i++) ss += (double)xr[i] * xr[i];
        double rs = 1.0 / sqrt(ss / d + eps);
        for (int i = 0; i < d; i++)
            out[(size_t)r * d + i] = (float)(xr[i] * rs * (w ? w[i] : 1.0));
    }
}

void ocr_layernorm_ref(float *out, const float *x, const float *w,
                       const float *b, int n, int d, float eps)
{
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * d;
        double mean = 0.0, var = 0.0;
        for (int i = 0; i < d; i++) mean += xr[i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= d;
        double rs = 1.0 / sqrt(var + eps);
        for (int i = 0; i < d; i++)
            out[(size_t)r * d + i] =
                (float)((xr[i] - mean) * rs * (w ? w[i] : 1.0) + (b ? b[i] : 0.0));
    }
}

void ocr_softmax_ref(float *x, int n, int d)
{
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * d;
        double mx = -INFINITY, s = 0.0;
        for (int i = 0; i < d; i++)
            if (xr[i] > mx) mx = xr[i];
        if (mx == -INFINITY) { /* fully masked row: zeros, as the fast twin */
            for (int i = 0; i < d; i++) xr[i] = 0.0f;
            continue;
        }
        for (int i = 0; i < d; i++) s += exp(xr[i] - mx);
        for (int i = 0; i < d; i++) xr[i] = (float)(exp(xr[i] - mx) / s);
    }
}

void ocr_silu_ref(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] / (1.0 + exp(-(double)x[i])));
}

void ocr_gelu_erf_ref(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0))));
}

void ocr_gelu_tanh_ref(float *x, size_t n)
{
    const double k = sqrt(2.0 / 3.14159265358979323846);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + tanh(k * (v + 0.044715 * v * v * v))));
    }
}

void ocr_quick_gelu_ref(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(x[i] / (1.0 + exp(-1.702 * x[i])));
}

void ocr_swiglu_ref(float *g, const float *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = (float)(g[i] / (1.0 + exp(-(double)g[i])) * u[i]);
}

/* The angle keeps HF's float32 rounding of pos·inv_freq (it is part of the
 * definition, not an approximation); cos/sin and mscale are in double. */
static float rope_angle(int pos, float inv_freq)
{
    return (float)pos * inv_freq;
}

void ocr_rope_neox_ref(float *x, int n, int nheads, int stride, int dim,
                       const float *cos_t, const float *sin_t)
{
    int h = dim / 2;
    for (int t = 0; t < n; t++)
        for (int hd = 0; hd < nheads; hd++) {
            float *v = x + ((size_t)t * nheads + hd) * stride;
            for (int i = 0; i < h; i++) {
                double c = cos_t[(size_t)t * h + i], s = sin_t[(size_t)t * h + i];
                double a = v[i], b = v[i + h];
                v[i] = (float)(a * c - b * s);
                v[i + h] = (float)(b * c + a * s);
            }
        }
}

void ocr_rope_interleaved_ref(float *x, int n, int nheads, int stride, int dim,
                              const float *cos_t, const float *sin_t)
{
    int h = dim / 2;
    for (int t = 0; t < n; t++)
        for (int hd = 0; hd < nheads; hd++) {
            float *v = x + ((size_t)t * nheads + hd) * stride;
            for (int i = 0; i < h; i++) {
                double c = cos_t[(size_t)t * h + i], s = sin_t[(size_t)t * h + i];
                double a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = (float)(a * c - b * s);
                v[2 * i + 1] = (float)(b * c + a * s);
            }
        }
}

void ocr_rope_table_ref(float *cos_t, float *sin_t, const int *pos, int npos,
                        const float *inv_freq, int half, float mscale)
{
    for (int p = 0; p < npos; p++)
        for (int i = 0; i < half; i++) {
            double a = rope_angle(pos[p], inv_freq[i]);
            cos_t[(size_t)p * half + i] = (float)(cos(a) * mscale);
            sin_t[(size_t)p * half + i] = (float)(sin(a) * mscale);
        }
}

/* core/ocr_tensor.c — dtypes, scalar conversions and tensor views. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ocr.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[OCR_DT_COUNT] = {
    [OCR_DT_F32] = {"F32", 4},  [OCR_DT_F16] = {"F16", 2},
    [OCR_DT_BF16] = {"BF16", 2}, [OCR_DT_F8_E4M3] = {"F8_E4M3", 1},
    [OCR_DT_I8] = {"I8", 1},    [OCR_DT_U8] = {"U8", 1},
    [OCR_DT_BOOL] = {"BOOL", 1}, [OCR_DT_I32] = {"I32", 4},
    [OCR_DT_I64] = {"I64", 8},  [OCR_DT_F64] = {"F64", 8},
};

size_t ocr_dtype_size(ocr_dtype dt)
{
    return (unsigned)dt < OCR_DT_COUNT ? dtype_info[dt].size : 0;
}

const char *ocr_dtype_name(ocr_dtype dt)
{
    return (unsigned)dt < OCR_DT_COUNT ? dtype_info[dt].name : "INVALID";
}

bool ocr_dtype_parse(const char *name, ocr_dtype *out)
{
    for (int i = 0; i < OCR_DT_COUNT; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            *out = (ocr_dtype)i;
            return true;
        }
    }
    return false;
}

int64_t ocr_tensor_numel(const ocr_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

char *ocr_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t o = 0;
    if (cap == 0) return buf;
    buf[0] = '\0';
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

bool ocr_tensor_has_shape(const ocr_tensor *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim) return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return false;
    return true;
}

/* ---- scalar conversions ------------------------------------------------ */

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ocr_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t ocr_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float ocr_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return u2f(sign | 0x7f800000u | (man << 13));
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t ocr_f32_to_f16(float f)
{
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    float a = fabsf(f);
    if (isnan(f)) return sign | 0x7e00;
    if (a >= 65520.0f) return sign | 0x7c00; /* rounds to inf */
    if (a < 0x1p-14f) {
        /* subnormal: round a / 2^-24 to nearest even integer */
        float q = a * 0x1p24f;
        uint32_t m = (uint32_t)nearbyintf(q);
        return sign | (uint16_t)m;
    }
    uint32_t ua = f2u(a);
    uint32_t exp = (ua >> 23) - 112, man = ua & 0x7fffff;
    uint32_t r = (exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return sign | (uint16_t)r;
}

/* e4m3fn: bias 7, no infinities, S.1111.111 is NaN, max 448. */
float ocr_f8e4m3_to_f32(uint8_t b)
{
    float sign = (b & 0x80) ? -1.0f : 1.0f;
    int exp = (b >> 3) & 0xf, man = b & 7;
    if (exp == 15 && man == 7) return NAN;
    if (exp == 0) return sign * (float)man * 0x1p-9f;
    return sign * ldexpf(1.0f + (float)man / 8.0f, exp - 7);
}

uint8_t ocr_f32_to_f8e4m3(float f)
{
    if (isnan(f)) return 0x7f;
    uint8_t sign = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (a >= 448.0f) return sign | 0x7e; /* saturate, as torch's cast does not: callers clamp */
    /* Search the 127 finite magnitudes for the nearest, ties to even code. */
    uint8_t best = 0;
    float bestd = INFINITY;
    for (int c = 0; c <= 0x7e; c++) {
        float d = fabsf(ocr_f8e4m3_to_f32((uint8_t)c) - a);
        if (d < bestd || (d == bestd && (c & 1) == 0)) {
            bestd = d;
            best = (uint8_t)c;
        }
    }
    return sign | best;
}

/* ---- tensor widening ---------------------------------------------------- */

static ocr_status rows_to_f32(float *out, const ocr_tensor *t, int64_t r0, int64_t nr,
                              int64_t cols, ocr_err *e)
{
    size_t off = (size_t)(r0 * cols), n = (size_t)(nr * cols);
    switch (t->dtype) {
    case OCR_DT_F32:
        memcpy(out, (const float *)t->data + off, n * sizeof(float));
        return OCR_OK;
    case OCR_DT_F64: {
        const double *s = (const double *)t->data + off;
        for (size_t i = 0; i < n; i++) out[i] = (float)s[i];
        return OCR_OK;
    }
    case OCR_DT_BF16: {
        const uint16_t *s = (const uint16_t *)t->data + off;
        for (size_t i = 0; i < n; i++) out[i] = ocr_bf16_to_f32(s[i]);
        return OCR_OK;
    }
    case OCR_DT_F16: {
        const uint16_t *s = (const uint16_t *)t->data + off;
        for (size_t i = 0; i < n; i++) out[i] = ocr_f16_to_f32(s[i]);
        return OCR_OK;
    }
    case OCR_DT_F8_E4M3: {
        const uint8_t *s = (const uint8_t *)t->data + off;
        float lut[256];
        for (int i = 0; i < 256; i++) lut[i] = ocr_f8e4m3_to_f32((uint8_t)i);
        if (!t->scale) {
            for (size_t i = 0; i < n; i++) out[i] = lut[s[i]];
            return OCR_OK;
        }
        const float *sc = (const float *)t->scale->data;
        int64_t bc = t->scale->shape[t->scale->ndim - 1];
        int blk = t->block > 0 ? t->block : 128;
        for (int64_t r = 0; r < nr; r++)
            for (int64_t c = 0; c < cols; c++)
                out[r * cols + c] = lut[s[r * cols + c]] *
                                    sc[((r0 + r) / blk) * bc + c / blk];
        return OCR_OK;
    }
    case OCR_DT_I8: case OCR_DT_U8: case OCR_DT_BOOL:
    case OCR_DT_I32: case OCR_DT_I64: case OCR_DT_COUNT:
        break;
    }
    return ocr_err_set(e, OCR_E_DTYPE, "tensor '%s': cannot widen %s to F32",
                       t->name ? t->name : "?", ocr_dtype_name(t->dtype));
}

ocr_status ocr_tensor_rows_to_f32(float *out, const ocr_tensor *t, int64_t r0, int64_t nr,
                                  ocr_err *e)
{
    int64_t cols = t->ndim ? t->shape[t->ndim - 1] : 1;
    int64_t rows = cols ? ocr_tensor_numel(t) / cols : 0;
    if (r0 < 0 || nr < 0 || r0 + nr > rows)
        return ocr_err_set(e, OCR_E_ARG, "tensor '%s': rows [%lld,%lld) out of range (%lld rows)",
                           t->name ? t->name : "?", (long long)r0, (long long)(r0 + nr),
                           (long long)rows);
    return rows_to_f32(out, t, r0, nr, cols, e);
}

ocr_status ocr_tensor_to_f32(float *out, const ocr_tensor *t, ocr_err *e)
{
    int64_t cols = t->ndim ? t->shape[t->ndim - 1] : 1;
    int64_t rows = cols ? ocr_tensor_numel(t) / cols : 0;
    return rows_to_f32(out, t, 0, rows, cols, e);
}

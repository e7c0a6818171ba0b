/* tests/test_kernels.c — every optimised kernel against its naive `_ref` twin
 * over odd sizes, plus known values, invariants and the dtype conversions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"
#include "tests/tst.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static const int SIZES[] = {1, 3, 7, 17, 33, 65, 127, 257};
#define NSIZES ((int)(sizeof SIZES / sizeof SIZES[0]))
static const int ROWS[] = {1, 2, 3, 5, 64};
#define NROWS ((int)(sizeof ROWS / sizeof ROWS[0]))

static float *falloc(size_t n) { return tst_falloc(n); }

static float *frand(size_t n, float lo, float hi) { return tst_frand(n, lo, hi, &rng); }

static void fill_nan(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = NAN;
}

static float matmul_atol(int in) { return 1e-4f * sqrtf((float)in); }

static bool all_finite(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return false;
    return true;
}

/* ---------------------------------------------------------- conversions */

static void test_bf16_roundtrip(void)
{
    int bad = 0, first = -1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ocr_bf16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (ocr_f32_to_bf16(f) != h) {
            if (first < 0) first = (int)h;
            bad++;
        }
    }
    TST_CHECK(bad == 0, "bf16 f32->16->f32 round trip: %d bad, first 0x%04x", bad,
              (unsigned)first);
    TST_CHECK(ocr_bf16_to_f32(0x3f80) == 1.0f, "bf16 0x3f80 = 1");
    TST_CHECK(ocr_bf16_to_f32(0xc000) == -2.0f, "bf16 0xc000 = -2");
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even code. */
    TST_CHECK(ocr_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80, "bf16 tie to even (down)");
    TST_CHECK(ocr_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82, "bf16 tie to even (up)");
    TST_CHECK(isnan(ocr_bf16_to_f32(ocr_f32_to_bf16(NAN))), "bf16 NaN stays NaN");
}

static void test_f16_roundtrip(void)
{
    int bad = 0, first = -1;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ocr_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (ocr_f32_to_f16(f) != h) {
            if (first < 0) first = (int)h;
            bad++;
        }
    }
    TST_CHECK(bad == 0, "f16 f32->16->f32 round trip: %d bad, first 0x%04x", bad,
              (unsigned)first);
    TST_CHECK(ocr_f16_to_f32(0x3c00) == 1.0f, "f16 0x3c00 = 1");
    TST_CHECK(ocr_f16_to_f32(0x7bff) == 65504.0f, "f16 max = 65504");
    TST_CHECK(ocr_f16_to_f32(0x0001) == 0x1p-24f, "f16 smallest subnormal");
    TST_CHECK(ocr_f16_to_f32(0x7c00) == INFINITY, "f16 inf");
    TST_CHECK(isnan(ocr_f16_to_f32(ocr_f32_to_f16(NAN))), "f16 NaN stays NaN");
}

static void test_f8_roundtrip(void)
{
    int bad = 0, nans = 0;
    for (int c = 0; c < 256; c++) {
        float f = ocr_f8e4m3_to_f32((uint8_t)c);
        if (isnan(f)) {
            nans++;
            continue;
        }
        if (ocr_f32_to_f8e4m3(f) != c) bad++;
    }
    TST_CHECK(bad == 0, "e4m3 round trip of all 254 finite codes: %d bad", bad);
    TST_CHECK(nans == 2, "e4m3 has exactly two NaN codes (got %d)", nans);
    TST_CHECK(ocr_f8e4m3_to_f32(0x7e) == 448.0f, "e4m3 0x7e = 448");
    TST_CHECK(ocr_f8e4m3_to_f32(0xfe) == -448.0f, "e4m3 0xfe = -448");
    TST_CHECK(ocr_f8e4m3_to_f32(0x08) == 0x1p-6f, "e4m3 0x08 = 2^-6");
    TST_CHECK(ocr_f8e4m3_to_f32(0x01) == 0x1p-9f, "e4m3 0x01 = 2^-9");
    TST_CHECK(ocr_f8e4m3_to_f32(0x38) == 1.0f, "e4m3 0x38 = 1");
}

/* ---------------------------------------------------------------- BLAS */

static void test_threads(void)
{
    const char *old = getenv("VLOCR_THREADS");
    char *saved = old ? strdup(old) : NULL;
    setenv("VLOCR_THREADS", "", 1);
    int dflt = ocr_threads_default();
    TST_CHECK(dflt >= 1 && dflt <= 64, "default thread count %d in 1..64", dflt);
    setenv("VLOCR_THREADS", "3", 1);
    TST_CHECK(ocr_threads_default() == 3, "VLOCR_THREADS=3");
    setenv("VLOCR_THREADS", "1000", 1);
    TST_CHECK(ocr_threads_default() == 64, "VLOCR_THREADS=1000 clamps to 64");
    setenv("VLOCR_THREADS", "0", 1);
    TST_CHECK(ocr_threads_default() == dflt, "VLOCR_THREADS=0 ignored");
    setenv("VLOCR_THREADS", "4x", 1);
    TST_CHECK(ocr_threads_default() == dflt, "VLOCR_THREADS=4x ignored");
    if (saved) {
        setenv("VLOCR_THREADS", saved, 1);
        free(saved);
    } else {
        unsetenv("VLOCR_THREADS");
    }

    int before = ocr_blas_get_threads();
    ocr_blas_set_threads(1);
    TST_CHECK(ocr_blas_get_threads() == 1, "blas threads set to 1");
    ocr_blas_set_threads(0);
    TST_CHECK(ocr_blas_get_threads() == 1, "blas threads 0 clamps to 1");
    ocr_blas_set_threads(before);
}

static void naive_gemm(float *c, bool ta, bool tb, int m, int n, int k,
                       float alpha, const float *a, int lda, const float *b,
                       int ldb, float beta, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                double av = ta ? a[p * lda + i] : a[i * lda + p];
                double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            c[i * ldc + j] = (float)(alpha * s + beta * c[i * ldc + j]);
        }
}

static void test_sgemm(void)
{
    const int m = 7, n = 17, k = 33;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = ta ? m + 2 : k + 1, ldb = tb ? k + 3 : n + 1, ldc = n + 4;
            float *a = frand((size_t)(ta ? k : m) * lda, -1, 1);
            float *b = frand((size_t)(tb ? n : k) * ldb, -1, 1);
            float *c = frand((size_t)m * ldc, -1, 1);
            float *cr = falloc((size_t)m * ldc);
            memcpy(cr, c, (size_t)m * ldc * sizeof(float));
            ocr_sgemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, c, ldc);
            naive_gemm(cr, ta, tb, m, n, k, 0.5f, a, lda, b, ldb, 0.25f, ldc);
            char what[64];
            snprintf(what, sizeof what, "ocr_sgemm ta=%d tb=%d", ta, tb);
            TST_CLOSE(what, c, cr, (size_t)m * ldc, matmul_atol(k), 1e-4f);
            free(a);
            free(b);
            free(c);
            free(cr);
        }
}

/* accumulate=true adds x·Wᵀ + bias on top of what y holds. */
static void test_sgemm_xwt_accumulate(void)
{
    const int in = 65, out = 33;
    const int ns[] = {1, 5};
    for (int ni = 0; ni < 2; ni++)
        for (int hb = 0; hb < 2; hb++) {
            int n = ns[ni];
            float *x = frand((size_t)n * in, -1, 1);
            float *w = frand((size_t)out * in, -1, 1);
            float *b = hb ? frand((size_t)out, -1, 1) : NULL;
            float *y0 = frand((size_t)n * out, -1, 1);
            float *y = falloc((size_t)n * out), *yr = falloc((size_t)n * out);
            memcpy(y, y0, (size_t)n * out * sizeof(float));
            ocr_sgemm_xwt(y, x, w, b, n, in, out, true);
            ocr_matmul_f32_ref(yr, x, w, b, n, in, out);
            for (int i = 0; i < n * out; i++) yr[i] += y0[i];
            char what[64];
            snprintf(what, sizeof what, "sgemm_xwt accumulate n=%d bias=%d", n, hb);
            TST_CLOSE(what, y, yr, (size_t)n * out, matmul_atol(in), 1e-4f);
            /* and without accumulate, NaN garbage in y must not survive */
            fill_nan(y, (size_t)n * out);
            ocr_sgemm_xwt(y, x, w, b, n, in, out, false);
            ocr_matmul_f32_ref(yr, x, w, b, n, in, out);
            snprintf(what, sizeof what, "sgemm_xwt overwrite n=%d bias=%d", n, hb);
            TST_CLOSE(what, y, yr, (size_t)n * out, matmul_atol(in), 1e-4f);
            free(x);
            free(w);
            free(b);
            free(y0);
            free(y);
            free(yr);
        }
}

/* -------------------------------------------------------------- matmul */

static uint16_t *to_bf16(const float *f, size_t n)
{
    uint16_t *h = malloc(n * sizeof *h);
    if (!h) exit(2);
    for (size_t i = 0; i < n; i++) h[i] = ocr_f32_to_bf16(f[i]);
    return h;
}

static void test_matmul_f32_bf16_sizes(void)
{
    int nbad_f32 = 0, nbad_bf16 = 0, ncase = 0;
    for (int ii = 0; ii < NSIZES; ii++)
        for (int oi = 0; oi < NSIZES; oi += 2) /* out in 1, 7, 33, 127 */
            for (int ri = 0; ri < NROWS; ri++) {
                int in = SIZES[ii], out = SIZES[oi], n = ROWS[ri];
                bool hb = (ii + oi + ri) & 1;
                float *x = frand((size_t)n * in, -1, 1);
                float *w = frand((size_t)out * in, -1, 1);
                float *b = hb ? frand((size_t)out, -1, 1) : NULL;
                uint16_t *wh = to_bf16(w, (size_t)out * in);
                float *y = falloc((size_t)n * out), *yr = falloc((size_t)n * out);
                char what[96];

                fill_nan(y, (size_t)n * out);
                ocr_matmul_f32(y, x, w, b, n, in, out);
                ocr_matmul_f32_ref(yr, x, w, b, n, in, out);
                snprintf(what, sizeof what, "matmul_f32 n=%d in=%d out=%d bias=%d",
                         n, in, out, hb);
                if (!TST_CLOSE(what, y, yr, (size_t)n * out, matmul_atol(in), 1e-4f))
                    nbad_f32++;

                fill_nan(y, (size_t)n * out);
                ocr_matmul_bf16(y, x, wh, b, n, in, out);
                ocr_matmul_bf16_ref(yr, x, wh, b, n, in, out);
                snprintf(what, sizeof what, "matmul_bf16 n=%d in=%d out=%d bias=%d",
                         n, in, out, hb);
                if (!TST_CLOSE(what, y, yr, (size_t)n * out, matmul_atol(in), 1e-4f))
                    nbad_bf16++;
                ncase++;
                free(x);
                free(w);
                free(b);
                free(wh);
                free(y);
                free(yr);
            }
    TST_CHECK(nbad_f32 == 0 && nbad_bf16 == 0,
              "%d shape cases: %d f32 and %d bf16 failures", ncase, nbad_f32,
              nbad_bf16);
}

/* Shapes that reach the threaded matvec (≥ 8 MiB of weights) and the
 * sgemm over several panels, the last one partial. */
static void test_matmul_bf16_large(void)
{
    const int in = 1029, out = 4099;
    int before = ocr_blas_get_threads();
    const int nts[] = {1, 2, 3};
    float *w = frand((size_t)out * in, -1, 1);
    uint16_t *wh = to_bf16(w, (size_t)out * in);
    float *b = frand((size_t)out, -1, 1);
    for (int ti = 0; ti < 3; ti++) {
        ocr_blas_set_threads(nts[ti]);
        for (int ri = 0; ri < NROWS; ri++) {
            int n = ROWS[ri];
            if (n == 64 && nts[ti] != 2) continue; /* the slow oracle, once */
            float *x = frand((size_t)n * in, -1, 1);
            float *y = falloc((size_t)n * out), *yr = falloc((size_t)n * out);
            fill_nan(y, (size_t)n * out);
            ocr_matmul_bf16(y, x, wh, b, n, in, out);
            ocr_matmul_bf16_ref(yr, x, wh, b, n, in, out);
            char what[96];
            snprintf(what, sizeof what, "matmul_bf16 %dx%d n=%d threads=%d", out,
                     in, n, nts[ti]);
            TST_CLOSE(what, y, yr, (size_t)n * out, matmul_atol(in), 1e-4f);
            free(x);
            free(y);
            free(yr);
        }
    }
    /* Threads must not change the answer, not even in the last bit. */
    float *x = frand(in, -1, 1);
    float *y1 = falloc(out), *y2 = falloc(out);
    ocr_blas_set_threads(1);
    ocr_matmul_bf16(y1, x, wh, b, 1, in, out);
    ocr_blas_set_threads(2);
    ocr_matmul_bf16(y2, x, wh, b, 1, in, out);
    TST_CHECK(memcmp(y1, y2, (size_t)out * sizeof(float)) == 0,
              "bf16 matvec bit-identical at 1 and 2 threads");
    ocr_blas_set_threads(before);
    free(x);
    free(y1);
    free(y2);
    free(w);
    free(wh);
    free(b);
}

typedef struct {
    ocr_tensor t, scale;
    void *data;
    float *sdata;
} wtensor;

/* A weight of `dt` with shape [out,in]; F8 gets block scales when blk > 0. */
static void make_weight(wtensor *wt, ocr_dtype dt, int out, int in, int blk,
                        const char *name)
{
    memset(wt, 0, sizeof *wt);
    size_t numel = (size_t)out * in;
    float *f = frand(numel, -1, 1);
    size_t es = ocr_dtype_size(dt);
    wt->data = malloc(numel * es);
    if (!wt->data) exit(2);
    for (size_t i = 0; i < numel; i++) {
        switch (dt) {
        case OCR_DT_F32: ((float *)wt->data)[i] = f[i]; break;
        case OCR_DT_F64: ((double *)wt->data)[i] = f[i]; break;
        case OCR_DT_BF16: ((uint16_t *)wt->data)[i] = ocr_f32_to_bf16(f[i]); break;
        case OCR_DT_F16: ((uint16_t *)wt->data)[i] = ocr_f32_to_f16(f[i]); break;
        case OCR_DT_F8_E4M3: {
            /* uniform over finite codes, so every exponent is exercised */
            uint8_t c = (uint8_t)((f[i] + 1.0f) * 127.99f);
            if ((c & 0x7f) == 0x7f) c ^= 1;
            ((uint8_t *)wt->data)[i] = c;
            break;
        }
        default: ((int32_t *)wt->data)[i] = (int32_t)(f[i] * 100); break;
        }
    }
    free(f);
    wt->t = (ocr_tensor){.name = name, .dtype = dt, .ndim = 2,
                         .shape = {out, in}, .data = wt->data,
                         .nbytes = numel * es};
    if (dt == OCR_DT_F8_E4M3 && blk > 0) {
        int64_t sr = (out + blk - 1) / blk, sc = (in + blk - 1) / blk;
        wt->sdata = frand((size_t)(sr * sc), 0.5f, 2.0f);
        wt->scale = (ocr_tensor){.name = "scale_inv", .dtype = OCR_DT_F32,
                                 .ndim = 2, .shape = {sr, sc},
                                 .data = wt->sdata,
                                 .nbytes = (size_t)(sr * sc) * sizeof(float)};
        wt->t.scale = &wt->scale;
        wt->t.block = blk;
    }
}

static void free_weight(wtensor *wt)
{
    free(wt->data);
    free(wt->sdata);
}

static void check_matmul_tensor(ocr_dtype dt, int out, int in, int blk)
{
    wtensor wt;
    make_weight(&wt, dt, out, in, blk, "w");
    for (int ri = 0; ri < NROWS; ri++)
        for (int hb = 0; hb < 2; hb++) {
            int n = ROWS[ri];
            float *x = frand((size_t)n * in, -1, 1);
            float *b = hb ? frand((size_t)out, -1, 1) : NULL;
            float *y = falloc((size_t)n * out), *yr = falloc((size_t)n * out);
            fill_nan(y, (size_t)n * out);
            ocr_err e1 = {0}, e2 = {0};
            ocr_status s1 = ocr_matmul(y, x, &wt.t, b, n, &e1);
            ocr_status s2 = ocr_matmul_ref(yr, x, &wt.t, b, n, &e2);
            char what[128];
            snprintf(what, sizeof what, "ocr_matmul %s%s %dx%d n=%d bias=%d",
                     ocr_dtype_name(dt), blk ? " scaled" : "", out, in, n, hb);
            TST_CHECK(s1 == OCR_OK && s2 == OCR_OK, "%s: status %d/%d (%s%s)", what,
                      s1, s2, e1.msg, e2.msg);
            /* scaled F8 weights reach |w| ≈ 900: scale the tolerance with them */
            float big = dt == OCR_DT_F8_E4M3 ? (blk ? 900.0f : 448.0f) : 1.0f;
            TST_CLOSE(what, y, yr, (size_t)n * out, matmul_atol(in) * big, 1e-4f);
            free(x);
            free(b);
            free(y);
            free(yr);
        }
    free_weight(&wt);
}

static void test_matmul_dtypes(void)
{
    check_matmul_tensor(OCR_DT_F32, 65, 33, 0);
    check_matmul_tensor(OCR_DT_F64, 17, 65, 0);
    check_matmul_tensor(OCR_DT_BF16, 257, 127, 0);
    check_matmul_tensor(OCR_DT_BF16, 300, 200, 0); /* partial last panel */
    check_matmul_tensor(OCR_DT_F16, 257, 127, 0);
    check_matmul_tensor(OCR_DT_F16, 300, 7, 0);
    check_matmul_tensor(OCR_DT_F8_E4M3, 33, 17, 0);
    /* 200x300 with 128x128 blocks: the last block row and column are partial */
    check_matmul_tensor(OCR_DT_F8_E4M3, 200, 300, 128);
    check_matmul_tensor(OCR_DT_F8_E4M3, 257, 129, 128);
    check_matmul_tensor(OCR_DT_F8_E4M3, 65, 33, 16);
}

/* The scale really is applied per block: doubling one block's scale doubles
 * exactly that block's contribution. */
static void test_matmul_f8_block_scale(void)
{
    const int out = 200, in = 300, blk = 128;
    wtensor wt;
    make_weight(&wt, OCR_DT_F8_E4M3, out, in, blk, "w");
    float *x = falloc(in);
    for (int i = 0; i < in; i++) x[i] = i >= 256 ? 1.0f : 0.0f; /* last column block */
    float *y1 = falloc(out), *y2 = falloc(out), *y2r = falloc(out);
    ocr_err e = {0};
    ocr_matmul(y1, x, &wt.t, NULL, 1, &e);
    wt.sdata[1 * 3 + 2] *= 2.0f; /* block (1,2): rows 128..199, cols 256..299 */
    ocr_matmul(y2, x, &wt.t, NULL, 1, &e);
    for (int o = 0; o < out; o++) y2r[o] = o >= 128 ? 2.0f * y1[o] : y1[o];
    TST_CLOSE("f8 partial block scale", y2, y2r, out, 1e-3f, 1e-5f);
    free(x);
    free(y1);
    free(y2);
    free(y2r);
    free_weight(&wt);
}

static void test_matmul_errors(void)
{
    float x[8] = {0}, y[8];
    ocr_err e = {0};
    wtensor wt;
    make_weight(&wt, OCR_DT_I32, 2, 4, 0, "layers.3.mlp.gate.weight");
    ocr_status s = ocr_matmul(y, x, &wt.t, NULL, 1, &e);
    TST_CHECK(s == OCR_E_DTYPE, "I32 weight rejected with OCR_E_DTYPE (got %d)", s);
    TST_CHECK(strstr(e.msg, "layers.3.mlp.gate.weight") != NULL,
              "message names the tensor: %s", e.msg);
    ocr_err_clear(&e);
    s = ocr_matmul_ref(y, x, &wt.t, NULL, 1, &e);
    TST_CHECK(s == OCR_E_DTYPE && strstr(e.msg, "layers.3.mlp.gate.weight"),
              "ref rejects I32 too: %d %s", s, e.msg);

    wt.t.dtype = OCR_DT_I8;
    wt.t.shape[1] = 16;
    ocr_err_clear(&e);
    s = ocr_matmul(y, x, &wt.t, NULL, 1, &e);
    TST_CHECK(s == OCR_E_DTYPE && strstr(e.msg, "I8"), "I8 rejected: %s", e.msg);
    free_weight(&wt);

    make_weight(&wt, OCR_DT_F32, 2, 4, 0, "proj.weight");
    wt.t.ndim = 3;
    wt.t.shape[0] = 1;
    wt.t.shape[1] = 2;
    wt.t.shape[2] = 4;
    ocr_err_clear(&e);
    s = ocr_matmul(y, x, &wt.t, NULL, 1, &e);
    TST_CHECK(s == OCR_E_SHAPE && strstr(e.msg, "proj.weight"),
              "3-D weight rejected with OCR_E_SHAPE: %s", e.msg);
    wt.t.ndim = 2;
    wt.t.shape[0] = 2;
    wt.t.shape[1] = 4;
    wt.t.nbytes = 4; /* claims fewer bytes than [2,4] F32 needs */
    ocr_err_clear(&e);
    s = ocr_matmul(y, x, &wt.t, NULL, 1, &e);
    TST_CHECK(s == OCR_E_SHAPE, "short view rejected: %s", e.msg);
    wt.t.nbytes = 32;
    s = ocr_matmul(y, x, &wt.t, NULL, 0, &e);
    TST_CHECK(s == OCR_OK, "n = 0 is a no-op");
    s = ocr_matmul(y, x, &wt.t, NULL, -1, &e);
    TST_CHECK(s == OCR_E_ARG, "n < 0 rejected");
    s = ocr_matmul(y, x, NULL, NULL, 1, &e);
    TST_CHECK(s == OCR_E_ARG, "NULL weight rejected");
    free_weight(&wt);

    /* F8 whose scale grid does not match its shape must not be read past */
    make_weight(&wt, OCR_DT_F8_E4M3, 200, 300, 128, "experts.7.down_proj.weight");
    wt.scale.shape[1] = 2; /* should be 3 */
    float *xx = frand(300, -1, 1), *yy = falloc(200);
    ocr_err_clear(&e);
    s = ocr_matmul(yy, xx, &wt.t, NULL, 1, &e);
    TST_CHECK(s == OCR_E_SHAPE && strstr(e.msg, "experts.7.down_proj.weight"),
              "mismatched F8 scale grid rejected: %s", e.msg);
    free(xx);
    free(yy);
    free_weight(&wt);
}

/* ---------------------------------------------------------------- norms */

static void test_norms(void)
{
    const int ns[] = {1, 3, 5};
    for (int ni = 0; ni < 3; ni++)
        for (int di = 0; di < NSIZES; di++)
            for (int variant = 0; variant < 3; variant++) {
                int n = ns[ni], d = SIZES[di];
                size_t nd = (size_t)n * d;
                float *x = frand(nd, -3, 3);
                /* variant 2: a large common offset, where a one-pass
                 * variance would cancel catastrophically */
                if (variant == 2)
                    for (size_t i = 0; i < nd; i++) x[i] += 1000.0f;
                float *w = variant ? frand((size_t)d, 0.5f, 1.5f) : NULL;
                float *b = variant == 1 ? frand((size_t)d, -1, 1) : NULL;
                float *y = falloc(nd), *yr = falloc(nd);
                char what[96];

                ocr_rmsnorm(y, x, w, n, d, 1e-6f);
                ocr_rmsnorm_ref(yr, x, w, n, d, 1e-6f);
                snprintf(what, sizeof what, "rmsnorm n=%d d=%d v=%d", n, d, variant);
                TST_CLOSE(what, y, yr, nd, 1e-5f, 1e-5f);

                /* in place */
                float *xc = falloc(nd);
                memcpy(xc, x, nd * sizeof(float));
                ocr_rmsnorm(xc, xc, w, n, d, 1e-6f);
                TST_CHECK(memcmp(xc, y, nd * sizeof(float)) == 0,
                          "rmsnorm in place n=%d d=%d", n, d);

                ocr_layernorm(y, x, w, b, n, d, 1e-5f);
                ocr_layernorm_ref(yr, x, w, b, n, d, 1e-5f);
                snprintf(what, sizeof what, "layernorm n=%d d=%d v=%d", n, d,
                         variant);
                /* with a 1000 offset the inputs themselves carry ~6e-5 of
                 * rounding relative to a spread of 3 */
                TST_CLOSE(what, y, yr, nd, variant == 2 ? 2e-3f : 2e-5f, 1e-4f);
                memcpy(xc, x, nd * sizeof(float));
                ocr_layernorm(xc, xc, w, b, n, d, 1e-5f);
                TST_CHECK(memcmp(xc, y, nd * sizeof(float)) == 0,
                          "layernorm in place n=%d d=%d", n, d);
                free(xc);
                free(x);
                free(w);
                free(b);
                free(y);
                free(yr);
            }
    /* known: a constant row c normalises to sign(c) under RMSNorm and to
     * zero under LayerNorm */
    float x[6] = {2, 2, 2, -4, -4, -4}, y[6];
    ocr_rmsnorm(y, x, NULL, 2, 3, 0.0f);
    float want[6] = {1, 1, 1, -1, -1, -1};
    TST_CLOSE("rmsnorm of constant rows", y, want, 6, 1e-6f, 0);
    ocr_layernorm(y, x, NULL, NULL, 2, 3, 1e-5f);
    float zero[6] = {0};
    TST_CLOSE("layernorm of constant rows", y, zero, 6, 0, 0);
}

/* -------------------------------------------------------------- softmax */

static void test_softmax(void)
{
    for (int ri = 0; ri < NROWS; ri++)
        for (int di = 0; di < NSIZES; di++) {
            int n = ROWS[ri], d = SIZES[di];
            size_t nd = (size_t)n * d;
            float *x = frand(nd, -20, 20);
            float *y = falloc(nd), *yr = falloc(nd), *ys = falloc(nd);
            memcpy(y, x, nd * sizeof(float));
            memcpy(yr, x, nd * sizeof(float));
            ocr_softmax(y, n, d);
            ocr_softmax_ref(yr, n, d);
            char what[96];
            snprintf(what, sizeof what, "softmax n=%d d=%d", n, d);
            TST_CLOSE(what, y, yr, nd, 1e-7f, 1e-5f);
            double worst = 0;
            for (int r = 0; r < n; r++) {
                double s = 0;
                for (int i = 0; i < d; i++) s += y[(size_t)r * d + i];
                if (fabs(s - 1.0) > worst) worst = fabs(s - 1.0);
            }
            TST_CHECK(worst < 1e-5, "%s rows sum to 1 (worst |sum-1| %g)", what, worst);
            /* adding a constant to a row changes nothing */
            for (size_t i = 0; i < nd; i++) ys[i] = x[i] + 100.0f;
            ocr_softmax(ys, n, d);
            snprintf(what, sizeof what, "softmax(x+100) n=%d d=%d", n, d);
            TST_CLOSE(what, ys, y, nd, 1e-6f, 1e-4f);
            free(x);
            free(y);
            free(yr);
            free(ys);
        }
    /* no overflow for large logits; masked entries get 0; a fully masked row
     * becomes zeros, not NaN */
    float x[8] = {1000, 1000, -INFINITY, 999, -INFINITY, -INFINITY, -INFINITY,
                  -INFINITY};
    ocr_softmax(x, 2, 4);
    double e1 = exp(-1.0), s = 2 + e1;
    float want[8] = {(float)(1 / s), (float)(1 / s), 0, (float)(e1 / s), 0, 0, 0, 0};
    TST_CLOSE("softmax large/masked/fully-masked", x, want, 8, 1e-7f, 1e-6f);
}

/* ---------------------------------------------------------- activations */

typedef void (*act_fn)(float *, size_t);

static void check_act(const char *name, act_fn fast, act_fn ref)
{
    const size_t ns[] = {1, 3, 7, 17, 33, 65, 127, 257, 4099};
    for (int k = 0; k < 9; k++) {
        size_t n = ns[k];
        float *x = frand(n, -12, 12), *xr = falloc(n);
        memcpy(xr, x, n * sizeof(float));
        fast(x, n);
        ref(xr, n);
        char what[64];
        snprintf(what, sizeof what, "%s n=%zu", name, n);
        TST_CLOSE(what, x, xr, n, 1e-6f, 1e-5f);
        free(x);
        free(xr);
    }
    /* the tails: large |x| gives x or 0, never NaN or inf */
    float t[6] = {-1e30f, -200, -100, 100, 200, 1e30f}, tr[6];
    memcpy(tr, t, sizeof t);
    fast(t, 6);
    ref(tr, 6);
    char what[64];
    snprintf(what, sizeof what, "%s tails", name);
    TST_CHECK(all_finite(t, 6), "%s finite", what);
    TST_CLOSE(what, t, tr, 6, 1e-6f, 1e-6f);
}

static float act1(act_fn f, float v)
{
    f(&v, 1);
    return v;
}

static void test_activations(void)
{
    check_act("silu", ocr_silu, ocr_silu_ref);
    check_act("gelu_erf", ocr_gelu_erf, ocr_gelu_erf_ref);
    check_act("gelu_tanh", ocr_gelu_tanh, ocr_gelu_tanh_ref);
    check_act("quick_gelu", ocr_quick_gelu, ocr_quick_gelu_ref);

    struct {
        const char *what;
        act_fn f;
        float x, want, tol;
    } known[] = {
        {"gelu_erf(1)", ocr_gelu_erf, 1.0f, 0.8413447f, 1e-6f},
        {"gelu_erf(-1)", ocr_gelu_erf, -1.0f, -0.1586553f, 1e-6f},
        {"gelu_erf(0)", ocr_gelu_erf, 0.0f, 0.0f, 0.0f},
        {"gelu_tanh(1)", ocr_gelu_tanh, 1.0f, 0.8411920f, 1e-6f},
        {"gelu_tanh(0)", ocr_gelu_tanh, 0.0f, 0.0f, 0.0f},
        {"quick_gelu(0)", ocr_quick_gelu, 0.0f, 0.0f, 0.0f},
        {"quick_gelu(1)", ocr_quick_gelu, 1.0f, 0.8457957f, 1e-6f},
        {"silu(0)", ocr_silu, 0.0f, 0.0f, 0.0f},
        {"silu(1)", ocr_silu, 1.0f, 0.7310586f, 1e-6f},
        {"silu(-1)", ocr_silu, -1.0f, -0.2689414f, 1e-6f},
        {"silu(-100)", ocr_silu, -100.0f, 0.0f, 1e-30f},
        {"silu(-1e30)", ocr_silu, -1e30f, 0.0f, 0.0f},
        {"silu(100)", ocr_silu, 100.0f, 100.0f, 0.0f},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        float got = act1(known[i].f, known[i].x);
        TST_CHECK(fabsf(got - known[i].want) <= known[i].tol,
                  "%s = %.9g, want %.9g", known[i].what, got, known[i].want);
    }

    for (int k = 0; k < NSIZES; k++) {
        size_t n = (size_t)SIZES[k] * 5;
        float *g = frand(n, -10, 10), *u = frand(n, -2, 2);
        float *gr = falloc(n), *gs = falloc(n);
        memcpy(gr, g, n * sizeof(float));
        memcpy(gs, g, n * sizeof(float));
        ocr_swiglu(g, u, n);
        ocr_swiglu_ref(gr, u, n);
        char what[64];
        snprintf(what, sizeof what, "swiglu n=%zu", n);
        TST_CLOSE(what, g, gr, n, 1e-6f, 1e-5f);
        ocr_silu(gs, n);
        for (size_t i = 0; i < n; i++) gs[i] *= u[i];
        snprintf(what, sizeof what, "swiglu = silu(g)*u n=%zu", n);
        TST_CLOSE(what, g, gs, n, 1e-6f, 1e-6f);
        free(g);
        free(u);
        free(gr);
        free(gs);
    }
}

/* ------------------------------------------------------------------ RoPE */

static float *inv_freqs(int half, float theta)
{
    float *f = falloc((size_t)half);
    for (int i = 0; i < half; i++)
        f[i] = (float)(1.0 / pow(theta, 2.0 * i / (2.0 * half)));
    return f;
}

static void test_rope_table(void)
{
    const int pos[] = {0, 1, 2, 7, 100, 4095, 8191, 65535};
    const int np = 8;
    const float mscales[] = {1.0f, 1.3465736f};
    const int halves[] = {1, 3, 16, 32, 65};
    for (int hi = 0; hi < 5; hi++)
        for (int mi = 0; mi < 2; mi++) {
            int half = halves[hi];
            float *f = inv_freqs(half, 10000.0f);
            size_t nt = (size_t)np * half;
            float *c = falloc(nt), *s = falloc(nt), *cr = falloc(nt), *sr = falloc(nt);
            ocr_rope_table(c, s, pos, np, f, half, mscales[mi]);
            ocr_rope_table_ref(cr, sr, pos, np, f, half, mscales[mi]);
            char what[64];
            snprintf(what, sizeof what, "rope cos half=%d mscale=%g", half, mscales[mi]);
            TST_CLOSE(what, c, cr, nt, 1e-6f, 1e-6f);
            snprintf(what, sizeof what, "rope sin half=%d mscale=%g", half, mscales[mi]);
            TST_CLOSE(what, s, sr, nt, 1e-6f, 1e-6f);
            /* cos² + sin² = mscale² */
            double worst = 0;
            for (size_t i = 0; i < nt; i++) {
                double r = (double)c[i] * c[i] + (double)s[i] * s[i];
                double m2 = (double)mscales[mi] * mscales[mi];
                if (fabs(r - m2) > worst) worst = fabs(r - m2);
            }
            TST_CHECK(worst < 1e-5, "rope table cos²+sin² = mscale² (worst %g)", worst);
            /* position 0 is the identity (times mscale) */
            for (int i = 0; i < half; i++)
                TST_CHECK(c[i] == mscales[mi] && s[i] == 0.0f,
                          "pos 0 -> cos=mscale sin=0 at %d", i);
            free(f);
            free(c);
            free(s);
            free(cr);
            free(sr);
        }
}

static void test_rope_apply(void)
{
    const int dims[] = {2, 6, 34, 64, 130};
    const int nhs[] = {1, 3};
    const int ns[] = {1, 3, 5};
    const float mscales[] = {1.0f, 1.25f};
    for (int di = 0; di < 5; di++)
        for (int hi = 0; hi < 2; hi++)
            for (int ni = 0; ni < 3; ni++)
                for (int mi = 0; mi < 2; mi++) {
                    int dim = dims[di], half = dim / 2, nh = nhs[hi], n = ns[ni];
                    int stride = dim + 5; /* entries past dim are not rotated */
                    float ms = mscales[mi];
                    int *pos = malloc((size_t)n * sizeof *pos);
                    for (int t = 0; t < n; t++) pos[t] = t == 0 ? 0 : 37 * t + 1000 * mi;
                    float *f = inv_freqs(half, 10000.0f);
                    float *c = falloc((size_t)n * half), *s = falloc((size_t)n * half);
                    ocr_rope_table(c, s, pos, n, f, half, ms);
                    size_t nx = (size_t)n * nh * stride;
                    float *x = frand(nx, -1, 1), *a = falloc(nx), *ar = falloc(nx);
                    char what[96];

                    for (int kind = 0; kind < 2; kind++) {
                        memcpy(a, x, nx * sizeof(float));
                        memcpy(ar, x, nx * sizeof(float));
                        if (kind == 0) {
                            ocr_rope_neox(a, n, nh, stride, dim, c, s);
                            ocr_rope_neox_ref(ar, n, nh, stride, dim, c, s);
                        } else {
                            ocr_rope_interleaved(a, n, nh, stride, dim, c, s);
                            ocr_rope_interleaved_ref(ar, n, nh, stride, dim, c, s);
                        }
                        snprintf(what, sizeof what, "rope_%s n=%d nh=%d dim=%d ms=%g",
                                 kind ? "interleaved" : "neox", n, nh, dim, ms);
                        TST_CLOSE(what, a, ar, nx, 1e-6f, 1e-6f);
                        /* per pair: norm × mscale; untouched tail; pos 0 = ×mscale */
                        double worst = 0;
                        bool tail_ok = true, pos0_ok = true;
                        for (int t = 0; t < n; t++)
                            for (int hd = 0; hd < nh; hd++) {
                                size_t o = ((size_t)t * nh + hd) * stride;
                                for (int i = 0; i < half; i++) {
                                    int i0 = kind ? 2 * i : i, i1 = kind ? 2 * i + 1 : i + half;
                                    double n0 = hypot(x[o + i0], x[o + i1]) * ms;
                                    double n1 = hypot(a[o + i0], a[o + i1]);
                                    if (fabs(n1 - n0) > worst) worst = fabs(n1 - n0);
                                }
                                for (int i = dim; i < stride; i++)
                                    tail_ok &= a[o + i] == x[o + i];
                                if (t == 0 && ms == 1.0f)
                                    for (int i = 0; i < dim; i++)
                                        pos0_ok &= a[o + i] == x[o + i];
                            }
                        TST_CHECK(worst < 1e-5, "%s preserves pair norms (worst %g)",
                                  what, worst);
                        TST_CHECK(tail_ok, "%s leaves entries past dim alone", what);
                        TST_CHECK(pos0_ok, "%s is the identity at position 0", what);
                    }

                    /* interleaved(x) = neox(deinterleave(x)), dims permuted:
                     * p[i] = x[2i], p[i+half] = x[2i+1] */
                    float *p = falloc(nx);
                    memcpy(a, x, nx * sizeof(float));
                    memcpy(p, x, nx * sizeof(float));
                    for (size_t hv = 0; hv < (size_t)n * nh; hv++)
                        for (int i = 0; i < half; i++) {
                            p[hv * stride + i] = x[hv * stride + 2 * i];
                            p[hv * stride + i + half] = x[hv * stride + 2 * i + 1];
                        }
                    ocr_rope_interleaved(a, n, nh, stride, dim, c, s);
                    ocr_rope_neox(p, n, nh, stride, dim, c, s);
                    for (size_t hv = 0; hv < (size_t)n * nh; hv++)
                        for (int i = 0; i < half; i++) {
                            ar[hv * stride + 2 * i] = p[hv * stride + i];
                            ar[hv * stride + 2 * i + 1] = p[hv * stride + i + half];
                        }
                    for (size_t hv = 0; hv < (size_t)n * nh; hv++)
                        for (int i = dim; i < stride; i++)
                            ar[hv * stride + i] = p[hv * stride + i];
                    snprintf(what, sizeof what, "interleaved = permuted neox n=%d nh=%d dim=%d",
                             n, nh, dim);
                    TST_CLOSE(what, a, ar, nx, 0, 0);
                    free(p);
                    free(pos);
                    free(f);
                    free(c);
                    free(s);
                    free(x);
                    free(a);
                    free(ar);
                }

    /* a known rotation: (1, 0) at angle θ becomes (cos θ, sin θ) */
    int pos = 3;
    float invf = 0.5f, c, s;
    ocr_rope_table(&c, &s, &pos, 1, &invf, 1, 1.0f);
    float v[2] = {1, 0};
    ocr_rope_neox(v, 1, 1, 2, 2, &c, &s);
    float want[2] = {(float)cos(1.5), (float)sin(1.5)};
    TST_CLOSE("rope rotates (1,0) by pos*inv_freq", v, want, 2, 1e-7f, 1e-6f);
}

int main(void)
{
    TST_RUN(test_bf16_roundtrip);
    TST_RUN(test_f16_roundtrip);
    TST_RUN(test_f8_roundtrip);
    TST_RUN(test_threads);
    TST_RUN(test_sgemm);
    TST_RUN(test_sgemm_xwt_accumulate);
    TST_RUN(test_matmul_f32_bf16_sizes);
    TST_RUN(test_matmul_bf16_large);
    TST_RUN(test_matmul_dtypes);
    TST_RUN(test_matmul_f8_block_scale);
    TST_RUN(test_matmul_errors);
    TST_RUN(test_norms);
    TST_RUN(test_softmax);
    TST_RUN(test_activations);
    TST_RUN(test_rope_table);
    TST_RUN(test_rope_apply);
    return tst_finish();
}

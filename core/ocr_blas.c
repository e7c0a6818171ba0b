/* core/ocr_blas.c — thread-count policy and the OpenBLAS wrapper.
 *
 * Everything that touches cblas.h lives here so that the rest of the library
 * sees only row-major, [out, in] weights and y = x·Wᵀ.
 */
#include <cblas.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ocr.h"

#define OCR_MAX_THREADS 64

static int clamp_threads(long n)
{
    if (n < 1) return 1;
    if (n > OCR_MAX_THREADS) return OCR_MAX_THREADS;
    return (int)n;
}

int ocr_threads_default(void)
{
    const char *s = getenv("VLOCR_THREADS");
    if (s && *s) {
        char *end = NULL;
        errno = 0;
        long v = strtol(s, &end, 10);
        /* A typo ("4x", "", "0") must not silently become one thread or 2^31:
         * anything that is not a whole positive number falls back to the CPU
         * count. */
        if (errno == 0 && end != s && *end == '\0' && v >= 1)
            return clamp_threads(v);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return clamp_threads(ncpu);
}

void ocr_blas_set_threads(int n)
{
    openblas_set_num_threads(clamp_threads(n));
}

int ocr_blas_get_threads(void)
{
    return clamp_threads(openblas_get_num_threads());
}

const char *ocr_blas_core(void)
{
    const char *c = openblas_get_corename();
    return c ? c : "unknown";
}

void ocr_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc)
{
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
                ldb, beta, c, ldc);
}

/* y[n,out] (+)= x[n,in] · W[out,in]ᵀ + bias[out] */
void ocr_sgemm_xwt(float *y, const float *x, const float *w, const float *bias,
                   int n, int in, int out, bool accumulate)
{
    if (n <= 0 || out <= 0) return;
    /* The bias goes into y first so that BLAS adds the product on top with
     * beta = 1: one pass over y instead of two. */
    bool have_c = accumulate;
    if (bias) {
        for (int r = 0; r < n; r++) {
            float *yr = y + (size_t)r * (size_t)out;
            if (accumulate)
                for (int o = 0; o < out; o++) yr[o] += bias[o];
            else
                memcpy(yr, bias, (size_t)out * sizeof(float));
        }
        have_c = true;
    }
    if (n == 1) {
        /* OpenBLAS 0.3.21 does not forward M=1 sgemm to gemv, and gemv is
         * the bandwidth-bound path decode needs. Its beta=0 handling has
         * varied between releases (NaN in y propagating or not), so y is
         * cleared here rather than trusting beta=0. */
        if (!have_c) memset(y, 0, (size_t)out * sizeof(float));
        if (in <= 0) return;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, w, in, x, 1,
                    1.0f, y, 1);
        return;
    }
    if (in <= 0) {
        if (!have_c)
            memset(y, 0, (size_t)n * (size_t)out * sizeof(float));
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x,
                in, w, in, have_c ? 1.0f : 0.0f, y, out);
}

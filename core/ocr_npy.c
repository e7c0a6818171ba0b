/* core/ocr_npy.c — NumPy .npy reader for reference dumps (conformance
 * goldens). Only what the fixtures use: little-endian or byte-sized scalars,
 * C order, versions 1-3. The header is a Python dict literal; we read its
 * three keys with a small scanner rather than a general parser because the
 * format fixes its spelling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"

static const char *find_key(const char *h, const char *key)
{
    const char *p = strstr(h, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ' || *p == '\'' || *p == '"' || *p == ':') p++;
    return p;
}

static bool parse_descr(const char *p, ocr_dtype *dt)
{
    static const struct { const char *s; ocr_dtype dt; } map[] = {
        {"<f4", OCR_DT_F32}, {"<f8", OCR_DT_F64}, {"<f2", OCR_DT_F16},
        {"<i8", OCR_DT_I64}, {"<i4", OCR_DT_I32}, {"|i1", OCR_DT_I8},
        {"|u1", OCR_DT_U8},  {"|b1", OCR_DT_BOOL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strncmp(p, map[i].s, 3) == 0 && (p[3] == '\'' || p[3] == '"')) {
            *dt = map[i].dt;
            return true;
        }
    return false;
}

ocr_status ocr_npy_load(ocr_npy *a, const char *path, ocr_err *e)
{
    memset(a, 0, sizeof *a);
    uint8_t *buf;
    size_t len;
    ocr_status rc = ocr_file_read(path, (size_t)4 << 30, &buf, &len, e);
    if (rc) return rc;
    rc = OCR_E_FORMAT;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        ocr_err_set(e, rc, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    int major = buf[6];
    size_t hl, ho;
    if (major == 1) {
        hl = (size_t)buf[8] | (size_t)buf[9] << 8;
        ho = 10;
    } else if ((major == 2 || major == 3) && len >= 12) {
        hl = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        ho = 12;
    } else {
        ocr_err_set(e, rc, "%s: unsupported .npy version %d", path, major);
        goto out;
    }
    if (hl > len - ho) {
        ocr_err_set(e, rc, "%s: header length %zu runs past the end of the file", path, hl);
        goto out;
    }
    char *h = malloc(hl + 1);
    if (!h) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    memcpy(h, buf + ho, hl);
    h[hl] = '\0';
    const char *d = find_key(h, "'descr'"), *fo = find_key(h, "'fortran_order'"),
               *sh = find_key(h, "'shape'");
    if (!d || !fo || !sh) {
        ocr_err_set(e, rc, "%s: header lacks descr/fortran_order/shape", path);
        free(h);
        goto out;
    }
    if (!parse_descr(d, &a->dtype)) {
        rc = ocr_err_set(e, OCR_E_DTYPE, "%s: unsupported dtype %.8s", path, d);
        free(h);
        goto out;
    }
    if (strncmp(fo, "False", 5) != 0) {
        rc = ocr_err_set(e, OCR_E_UNSUPPORTED, "%s: Fortran-order arrays are not supported", path);
        free(h);
        goto out;
    }
    if (*sh != '(') {
        ocr_err_set(e, rc, "%s: malformed shape", path);
        free(h);
        goto out;
    }
    size_t numel = 1;
    const char *p = sh + 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || a->ndim == OCR_MAX_DIMS || !ocr_mul_ok(numel, (size_t)v, &numel)) {
            ocr_err_set(e, rc, "%s: malformed shape", path);
            free(h);
            goto out;
        }
        a->shape[a->ndim++] = v;
        p = end;
    }
    free(h);
    size_t nbytes;
    if (!ocr_mul_ok(numel, ocr_dtype_size(a->dtype), &nbytes) || nbytes != len - ho - hl) {
        ocr_err_set(e, rc, "%s: data is %zu bytes, shape needs %zu", path, len - ho - hl, nbytes);
        goto out;
    }
    a->data = ocr_aligned_alloc(nbytes);
    if (!a->data) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", path);
        goto out;
    }
    memcpy(a->data, buf + ho + hl, nbytes);
    a->nbytes = nbytes;
    rc = OCR_OK;
out:
    free(buf);
    if (rc != OCR_OK) {
        free(a->data);
        memset(a, 0, sizeof *a);
    }
    return rc;
}

void ocr_npy_free(ocr_npy *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

int64_t ocr_npy_numel(const ocr_npy *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

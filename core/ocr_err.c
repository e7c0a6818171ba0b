/* core/ocr_err.c — status codes and error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/ocr.h"

const char *ocr_status_str(ocr_status s)
{
    switch (s) {
    case OCR_OK: return "ok";
    case OCR_E_ARG: return "invalid argument";
    case OCR_E_IO: return "I/O error";
    case OCR_E_FORMAT: return "format error";
    case OCR_E_LIMIT: return "limit exceeded";
    case OCR_E_NOMEM: return "out of memory";
    case OCR_E_DTYPE: return "dtype error";
    case OCR_E_SHAPE: return "shape error";
    case OCR_E_NOTFOUND: return "not found";
    case OCR_E_CONFIG: return "config error";
    case OCR_E_UNSUPPORTED: return "unsupported";
    case OCR_E_NUMERIC: return "numeric error";
    case OCR_E_COUNT: break;
    }
    return "unknown status";
}

const char *vlocr_version(void) { return VLOCR_VERSION; }

ocr_status ocr_err_set(ocr_err *e, ocr_status code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

ocr_status ocr_err_prefix(ocr_err *e, const char *fmt, ...)
{
    if (!e) return OCR_OK;
    char pre[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", pre, old);
    return e->code;
}

void ocr_err_clear(ocr_err *e)
{
    if (e) {
        e->code = OCR_OK;
        e->msg[0] = '\0';
    }
}

bool ocr_mul_ok(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

bool ocr_add_ok(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return false;
    *out = a + b;
    return true;
}

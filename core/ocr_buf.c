/* core/ocr_buf.c — a growable NUL-terminated string buffer for writers
 * (Markdown, JSON, hOCR, reports). Allocation failure is sticky: later
 * appends do nothing and the caller checks `oom` once at the end, so
 * rendering code stays a straight sequence of appends. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"

void ocr_buf_put(ocr_buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 1024;
        while (nc < b->n + n + 1) {
            if (nc > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            nc *= 2;
        }
        char *p = realloc(b->p, nc);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = nc;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void ocr_buf_puts(ocr_buf *b, const char *s) { ocr_buf_put(b, s, strlen(s)); }

void ocr_buf_printf(ocr_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        ocr_buf_put(b, tmp, (size_t)n);
        return;
    }
    /* Longer than the stack buffer: format again into a heap copy. */
    if (b->oom) return;
    char *space = malloc((size_t)n + 1);
    if (!space) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(space, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ocr_buf_put(b, space, (size_t)n);
    free(space);
}

void ocr_buf_free(ocr_buf *b)
{
    if (!b) return;
    free(b->p);
    memset(b, 0, sizeof *b);
}

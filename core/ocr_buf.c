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

void ocr_buf_putc(ocr_buf *b, char c) { ocr_buf_put(b, &c, 1); }

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

void ocr_buf_clear(ocr_buf *b)
{
    b->n = 0;
    if (b->p) b->p[0] = 0;
}

void ocr_buf_truncate(ocr_buf *b, size_t n)
{
    if (n < b->n) {
        b->n = n;
        b->p[n] = 0;
    }
}

const char *ocr_buf_cstr(const ocr_buf *b) { return b->p ? b->p : ""; }

char *ocr_buf_steal(ocr_buf *b)
{
    char *p = b->p;
    /* A fresh "" rather than NULL so that NULL means only "out of memory". */
    if (!p && !b->oom) p = calloc(1, 1);
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

void ocr_buf_free(ocr_buf *b)
{
    if (!b) return;
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* train/syn_str.c — a growable byte string and UTF-8 helpers shared by the
 * text and LaTeX generators.
 *
 * Allocation failure is sticky (`oom`) so that callers can append freely and
 * check once at the end instead of after every call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/syn.h"

static bool str_reserve(syn_str *s, size_t extra)
{
    if (s->oom) return false;
    size_t need = s->n + extra + 1;
    if (need <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < need) cap *= 2;
    char *p = realloc(s->s, cap);
    if (!p) {
        s->oom = true;
        return false;
    }
    s->s = p;
    s->cap = cap;
    return true;
}

void syn_str_putn(syn_str *s, const char *p, size_t n)
{
    if (!str_reserve(s, n)) return;
    memcpy(s->s + s->n, p, n);
    s->n += n;
    s->s[s->n] = '\0';
}

void syn_str_puts(syn_str *s, const char *p) { syn_str_putn(s, p, strlen(p)); }

void syn_str_putc(syn_str *s, char c) { syn_str_putn(s, &c, 1); }

void syn_str_printf(syn_str *s, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        syn_str_putn(s, tmp, (size_t)n);
        return;
    }
    if (!str_reserve(s, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(s->s + s->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->n += (size_t)n;
}

void syn_str_clear(syn_str *s)
{
    s->n = 0;
    if (s->s) s->s[0] = '\0';
}

void syn_str_truncate(syn_str *s, size_t n)
{
    if (n < s->n) {
        s->n = n;
        s->s[n] = '\0';
    }
}

const char *syn_str_cstr(const syn_str *s) { return s->s ? s->s : ""; }

char *syn_str_steal(syn_str *s)
{
    char *p = s->s;
    if (!p && !s->oom) p = calloc(1, 1);
    s->s = NULL;
    s->n = s->cap = 0;
    return p;
}

void syn_str_free(syn_str *s)
{
    free(s->s);
    s->s = NULL;
    s->n = s->cap = 0;
    s->oom = false;
}

int syn_utf8_decode(const char *p, size_t n, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n == 0) return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int len;
    uint32_t c;
    if ((u[0] & 0xE0) == 0xC0) {
        len = 2;
        c = u[0] & 0x1F;
    } else if ((u[0] & 0xF0) == 0xE0) {
        len = 3;
        c = u[0] & 0x0F;
    } else if ((u[0] & 0xF8) == 0xF0) {
        len = 4;
        c = u[0] & 0x07;
    } else {
        return -1;
    }
    if ((size_t)len > n) return -1;
    for (int i = 1; i < len; i++) {
        if ((u[i] & 0xC0) != 0x80) return -1;
        c = (c << 6) | (u[i] & 0x3F);
    }
    /* Reject overlong forms and surrogates: they never come from a sane
     * corpus and would make "the same text" have two byte spellings. */
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
        (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *cp = c;
    return len;
}

void syn_str_put_cp(syn_str *s, uint32_t c)
{
    char b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (c >> 18));
        b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    syn_str_putn(s, b, n);
}

bool syn_text_printable(const char *t)
{
    size_t n = strlen(t), i = 0;
    if (n == 0) return false;
    bool ink = false;
    while (i < n) {
        uint32_t c;
        int k = syn_utf8_decode(t + i, n - i, &c);
        if (k <= 0) return false;
        /* No control characters, no line breaks, no invisible format
         * characters: the label must be what a reader sees. */
        if (c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0xAD ||
            (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) ||
            c == 0xFEFF || (c >= 0xFFF0))
            return false;
        if (c != ' ' && c != 0xA0) ink = true;
        i += (size_t)k;
    }
    return ink;
}

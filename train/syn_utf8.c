/* train/syn_utf8.c — UTF-8 decoding and encoding for the text and LaTeX
 * generators, and the check that a ground-truth label is printable text.
 */
#include <string.h>

#include "train/syn.h"

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

void syn_utf8_put(ocr_buf *s, uint32_t c)
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
    ocr_buf_put(s, b, n);
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

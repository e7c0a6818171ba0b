/* language/tok_utf8.c — UTF-8 validation and lossy decoding, White_Space,
 * and the GPT-2 byte-level alphabet. */
#define TOK_INTERNAL
#include "language/tok.h"

#include <string.h>

size_t tok_utf8_check(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0) lo = 0xA0; /* overlong */
            if (b == 0xED) hi = 0x9F; /* surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0) lo = 0x90; /* overlong */
            if (b == 0xF4) hi = 0x8F; /* > U+10FFFF */
        } else
            return i;
        if (n - i <= need) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += need + 1;
    }
    return n;
}

size_t tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t b = s[0];
    if (b < 0x80 || n < 2) {
        *cp = b;
        return 1;
    }
    if (b < 0xE0) {
        *cp = (uint32_t)(b & 0x1F) << 6 | (s[1] & 0x3F);
        return 2;
    }
    if (b < 0xF0 || n < 4) {
        *cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 |
              (s[2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
          (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    return 4;
}

size_t tok_utf8_put(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

bool tok_is_white_space(uint32_t cp)
{
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

/* The 188 bytes 33..126, 161..172 and 174..255 are their own symbols; the
 * other 68 (0..32, 127..160, 173) are numbered 256.. in byte order, which
 * gives the three closed forms below. */
uint32_t tok_byte_to_cp(uint8_t b)
{
    if (b <= 32) return 256u + b;
    if (b >= 127 && b <= 160) return (uint32_t)b + 162u;
    if (b == 173) return 323u;
    return b;
}

int tok_cp_to_byte(uint32_t cp)
{
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) ||
        (cp >= 174 && cp <= 255))
        return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(cp - 162);
    if (cp == 323) return 173;
    return -1;
}

/* ------------------------------------------------------- lossy decode */

static const uint8_t REPLACEMENT[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */

static void state_clear(tok_utf8_state *st)
{
    st->npend = 0;
    st->need = 0;
    st->lo = 0x80;
    st->hi = 0xBF;
}

void tok_utf8_state_init(tok_utf8_state *st)
{
    memset(st->pend, 0, sizeof st->pend);
    state_clear(st);
}

static void put_bytes(tok_buf *out, const void *p, size_t n)
{
    memcpy(out->p + out->n, p, n);
    out->n += n;
}

ocr_status tok_utf8_lossy_feed(tok_utf8_state *st, const uint8_t *s, size_t n,
                               tok_buf *out)
{
    /* Worst case every byte becomes a 3-byte U+FFFD; reserving once keeps
     * the loop free of allocation checks. */
    size_t worst;
    if (!ocr_mul_ok(n, 3, &worst) || !ocr_add_ok(worst, 4, &worst))
        return OCR_E_NOMEM;
    if (tok_buf_reserve(out, worst) != OCR_OK) return OCR_E_NOMEM;
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (st->need == 0) {
            i++;
            if (b < 0x80) {
                out->p[out->n++] = (char)b;
                continue;
            }
            if (b >= 0xC2 && b <= 0xDF) st->need = 1;
            else if (b >= 0xE0 && b <= 0xEF) {
                st->need = 2;
                if (b == 0xE0) st->lo = 0xA0;
                if (b == 0xED) st->hi = 0x9F;
            } else if (b >= 0xF0 && b <= 0xF4) {
                st->need = 3;
                if (b == 0xF0) st->lo = 0x90;
                if (b == 0xF4) st->hi = 0x8F;
            } else {
                put_bytes(out, REPLACEMENT, 3);
                continue;
            }
            st->pend[st->npend++] = b;
            continue;
        }
        if (b < st->lo || b > st->hi) {
            /* The held bytes are a maximal invalid subsequence; `b` is
             * looked at again as the start of a new one (no i++). */
            put_bytes(out, REPLACEMENT, 3);
            state_clear(st);
            continue;
        }
        i++;
        st->lo = 0x80;
        st->hi = 0xBF;
        st->pend[st->npend++] = b;
        if (st->npend == st->need + 1) {
            put_bytes(out, st->pend, st->npend);
            state_clear(st);
        }
    }
    return OCR_OK;
}

ocr_status tok_utf8_lossy_end(tok_utf8_state *st, tok_buf *out)
{
    if (st->need) {
        if (tok_buf_append(out, REPLACEMENT, 3) != OCR_OK) return OCR_E_NOMEM;
        state_clear(st);
    }
    return OCR_OK;
}

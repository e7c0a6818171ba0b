/* language/tok_regex.c — the pre-tokenizer's regexes on PCRE2.
 *
 * tokenizer.json patterns are written for Oniguruma (the Rust `onig` crate,
 * Ruby syntax). PCRE2 in UTF + UCP mode reads them the same way except for a
 * few escapes, which are rewritten before compiling:
 *   \s \S  Oniguruma means Unicode White_Space; PCRE2's \s also takes
 *          U+180E (it follows the pre-6.3 \h list), which the golden cases
 *          pin as not a space. Both become \p{White_Space} / \P{...}.
 *   \w \W  Oniguruma: Letter | Mark | Number | Connector_Punctuation;
 *          PCRE2 10.42 leaves out marks and connectors other than '_'.
 * Ruby's ^ and $ always match at line breaks, hence PCRE2_MULTILINE.
 */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD_CLASS "\\p{L}\\p{M}\\p{N}\\p{Pc}"

static ocr_status put(tok_buf *b, const char *s)
{
    return tok_buf_append(b, s, strlen(s));
}

/* Rewrite the escapes listed above; tracks character classes because \w
 * expands differently inside and outside one. */
static ocr_status rewrite(tok_buf *out, const char *p, size_t n)
{
    bool in_class = false;
    size_t i = 0;
    ocr_status rc = OCR_OK;
    while (i < n && rc == OCR_OK) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 'Q') { /* \Q...\E is literal text: copy untouched */
                size_t j = i + 2;
                while (j < n && !(p[j] == '\\' && j + 1 < n && p[j + 1] == 'E')) j++;
                j = j < n ? j + 2 : n;
                rc = tok_buf_append(out, p + i, j - i);
                i = j;
                continue;
            }
            switch (d) {
            case 's': rc = put(out, "\\p{White_Space}"); break;
            case 'S': rc = put(out, "\\P{White_Space}"); break;
            case 'w': rc = put(out, in_class ? WORD_CLASS : "[" WORD_CLASS "]"); break;
            /* A negated set cannot be spliced into an enclosing class;
             * there PCRE2's own \W is the closest available. */
            case 'W': rc = put(out, in_class ? "\\W" : "[^" WORD_CLASS "]"); break;
            default: rc = tok_buf_append(out, p + i, 2); break;
            }
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            size_t j = i + 1;
            if (j < n && p[j] == '^') j++;
            if (j < n && p[j] == ']') j++; /* leading ']' is a literal */
            rc = tok_buf_append(out, p + i, j - i);
            i = j;
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && p[i + 1] == ':') {
            /* POSIX [:name:] inside a class */
            const char *end = NULL;
            for (size_t j = i + 2; j + 1 < n; j++)
                if (p[j] == ':' && p[j + 1] == ']') {
                    end = p + j + 2;
                    break;
                }
            if (end) {
                rc = tok_buf_append(out, p + i, (size_t)(end - (p + i)));
                i = (size_t)(end - p);
                continue;
            }
        }
        if (in_class && c == ']') in_class = false;
        rc = tok_buf_append(out, &c, 1);
        i++;
    }
    return rc;
}

ocr_status tok_regex_compile(pcre2_code **out, const char *pat, size_t len,
                             bool literal, const char *file,
                             const char *where, ocr_err *e)
{
    *out = NULL;
    tok_buf b = {0};
    ocr_status rc = literal ? tok_buf_append(&b, pat, len) : rewrite(&b, pat, len);
    if (rc != OCR_OK) {
        tok_buf_free(&b);
        return ocr_err_set(e, OCR_E_NOMEM, "%s: %s: out of memory", file, where);
    }
    if (tok_utf8_check((const uint8_t *)pat, len) != len) {
        tok_buf_free(&b);
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s: pattern is not valid UTF-8",
                           file, where);
    }
    /* PCRE2_LITERAL accepts only a few other options; UCP and the like
     * mean nothing to a literal anyway. */
    uint32_t opt = literal ? PCRE2_UTF | PCRE2_LITERAL
                           : PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C | PCRE2_MULTILINE;
    int err = 0;
    PCRE2_SIZE eoff = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(b.p ? b.p : ""), b.n, opt, &err,
                                   &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(err, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", err);
        int shown = len > 80 ? 80 : (int)len;
        ocr_err_set(e, OCR_E_FORMAT,
                    "%s: %s: bad regex '%.*s%s': %s (at offset %zu of the "
                    "PCRE2 form)",
                    file, where, shown, pat, len > 80 ? "..." : "",
                    (const char *)msg, (size_t)eoff);
        tok_buf_free(&b);
        return OCR_E_FORMAT;
    }
    tok_buf_free(&b);
    /* JIT is an optimisation only: when it is unavailable (no JIT support
     * in this PCRE2, W^X policies) pcre2_match interprets. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    *out = re;
    return OCR_OK;
}

ocr_status tok_spans_push(tok_spans *v, size_t start, size_t end, int32_t tag)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *v->p) return OCR_E_NOMEM;
        tok_span *p = realloc(v->p, cap * sizeof *p);
        if (!p) return OCR_E_NOMEM;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (tok_span){start, end, tag};
    return OCR_OK;
}

void tok_spans_free(tok_spans *v)
{
    free(v->p);
    v->p = NULL;
    v->n = v->cap = 0;
}

/* Iterates like the onig crate's find_iter: the next search starts where
 * the last match ended, and an empty match right at the end of the previous
 * match is refused by stepping one character on. */
ocr_status tok_regex_find_all(const pcre2_code *re, pcre2_match_data *md,
                              const char *s, size_t len, tok_spans *m,
                              const char *file, ocr_err *e)
{
    size_t from = 0, last_match_end = 0;
    bool have_last = false;
    const PCRE2_SPTR subj = (PCRE2_SPTR)(len ? s : "");
    while (from <= len) {
        /* The whole text was validated once by tok_encode; re-checking it
         * on every call would make long pieces quadratic. */
        int rc = pcre2_match(re, subj, len, from, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter uses heap */
            rc = pcre2_match(re, subj, len, from, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                             md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            if (pcre2_get_error_message(rc, msg, sizeof msg) < 0)
                snprintf((char *)msg, sizeof msg, "error %d", rc);
            return ocr_err_set(e, rc == PCRE2_ERROR_NOMEMORY ? OCR_E_NOMEM : OCR_E_LIMIT,
                               "%s: pre-tokenizer regex failed on a %zu-byte "
                               "piece: %s",
                               file, len, (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > me) ms = me; /* \K tricks; never in tokenizer patterns */
        if (ms == me && have_last && last_match_end == me) {
            if (from >= len) break;
            uint32_t cp;
            from += tok_utf8_next((const uint8_t *)s + from, len - from, &cp);
            continue;
        }
        from = me;
        have_last = true;
        last_match_end = me;
        if (tok_spans_push(m, ms, me, 1) != OCR_OK)
            return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory in the pre-tokenizer",
                               file);
    }
    return OCR_OK;
}

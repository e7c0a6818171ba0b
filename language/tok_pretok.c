/* language/tok_pretok.c — the pre-tokenizer: parsing the "pre_tokenizer"
 * object and running it.
 *
 * Supported: Sequence, Split (Regex or String pattern; Removed, Isolated,
 * MergedWithPrevious, MergedWithNext, Contiguous; invert), ByteLevel
 * (add_prefix_space, use_regex with GPT-2's pattern) and Digits. Each step
 * runs on every piece the previous one left, and a regex never sees past
 * its piece: that is why DeepSeek's `\s+(?!\S)` behaves differently on
 * "word  123" and "word  x". Empty pieces are dropped, as in the reference.
 */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ByteLevel pre-tokenizer's built-in pattern (tokenizers' byte_level.rs,
 * from GPT-2's encoder.py). */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Nesting beyond this is not a real tokenizer; refuse it before recursion
 * gets deep. */
#define MAX_DEPTH 16

static ocr_status add_regex(tok_tokenizer *t, const char *pat, size_t len,
                            bool literal, const char *where, int *idx,
                            ocr_err *e)
{
    if (t->n_re == t->cap_re) {
        size_t cap = t->cap_re ? 2 * t->cap_re : 4;
        pcre2_code **p = realloc(t->re, cap * sizeof *p);
        if (!p) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
        t->re = p;
        t->cap_re = cap;
    }
    pcre2_code *re;
    ocr_status rc = tok_regex_compile(&re, pat, len, literal, t->name, where, e);
    if (rc != OCR_OK) return rc;
    t->re[t->n_re] = re;
    *idx = (int)t->n_re++;
    return OCR_OK;
}

static ocr_status add_step(tok_tokenizer *t, tok_pre_step st, ocr_err *e)
{
    if (t->n_pre == t->cap_pre) {
        size_t cap = t->cap_pre ? 2 * t->cap_pre : 4;
        tok_pre_step *p = realloc(t->pre, cap * sizeof *p);
        if (!p) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
        t->pre = p;
        t->cap_pre = cap;
    }
    t->pre[t->n_pre++] = st;
    return OCR_OK;
}

/* Optional boolean member: absent or null gives `dflt`. */
static ocr_status get_bool(const tok_tokenizer *t, const json_t *obj,
                           const char *key, bool dflt, bool *out,
                           const char *where, ocr_err *e)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return OCR_OK;
    }
    if (!json_is_boolean(v))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.%s: expected true or false",
                           t->name, where, key);
    *out = json_is_true(v);
    return OCR_OK;
}

static ocr_status parse_split(tok_tokenizer *t, const json_t *j,
                              const char *where, ocr_err *e)
{
    tok_pre_step st = {.kind = TOK_PRE_SPLIT, .re = -1};
    const json_t *pat = json_object_get(j, "pattern");
    const json_t *rx = json_is_object(pat) ? json_object_get(pat, "Regex") : NULL;
    const json_t *lit = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
    const json_t *ps = rx ? rx : lit;
    if (!json_is_string(ps))
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: %s.pattern: expected {\"Regex\": string} or "
                           "{\"String\": string}",
                           t->name, where);
    char w[300];
    snprintf(w, sizeof w, "%s.pattern.%s", where, rx ? "Regex" : "String");
    ocr_status rc = OCR_OK;
    /* The reference gives an empty String pattern no matches at all (a
     * regex would match the empty string everywhere): re stays -1. */
    if (rx || json_string_length(ps) > 0)
        rc = add_regex(t, json_string_value(ps), json_string_length(ps), rx == NULL, w,
                       &st.re, e);
    if (rc != OCR_OK) return rc;

    static const struct {
        const char *name;
        tok_split_behavior b;
    } behaviors[] = {
        {"Removed", TOK_SPLIT_REMOVED},
        {"Isolated", TOK_SPLIT_ISOLATED},
        {"MergedWithPrevious", TOK_SPLIT_MERGED_PREV},
        {"MergedWithNext", TOK_SPLIT_MERGED_NEXT},
        {"Contiguous", TOK_SPLIT_CONTIGUOUS},
    };
    const char *bs = json_string_value(json_object_get(j, "behavior"));
    if (!bs)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.behavior: expected a string",
                           t->name, where);
    size_t k = 0, nb = sizeof behaviors / sizeof behaviors[0];
    while (k < nb && strcmp(bs, behaviors[k].name) != 0) k++;
    if (k == nb)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: %s.behavior: unknown split behavior '%s'",
                           t->name, where, bs);
    st.behavior = behaviors[k].b;
    rc = get_bool(t, j, "invert", false, &st.invert, where, e);
    if (rc != OCR_OK) return rc;
    return add_step(t, st, e);
}

static ocr_status parse_step(tok_tokenizer *t, const json_t *j,
                             const char *where, int depth, ocr_err *e)
{
    if (depth > MAX_DEPTH)
        return ocr_err_set(e, OCR_E_LIMIT, "%s: %s: Sequence nested too deeply",
                           t->name, where);
    if (!json_is_object(j))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s: expected an object",
                           t->name, where);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.type: expected a string",
                           t->name, where);
    ocr_status rc;
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(j, "pretokenizers");
        if (!json_is_array(list))
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: %s.pretokenizers: expected an array",
                               t->name, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char w[300];
            snprintf(w, sizeof w, "%s.pretokenizers[%zu]", where, i);
            rc = parse_step(t, json_array_get(list, i), w, depth + 1, e);
            if (rc != OCR_OK) return rc;
        }
        return OCR_OK;
    }
    if (strcmp(type, "Split") == 0) return parse_split(t, j, where, e);
    if (strcmp(type, "ByteLevel") == 0) {
        tok_pre_step st = {.kind = TOK_PRE_BYTELEVEL, .re = -1};
        bool use_regex = true;
        /* Both default to true in the reference (ByteLevel::default). */
        rc = get_bool(t, j, "add_prefix_space", true, &st.add_prefix_space, where, e);
        if (rc == OCR_OK) rc = get_bool(t, j, "use_regex", true, &use_regex, where, e);
        if (rc == OCR_OK && use_regex) {
            char w[300];
            snprintf(w, sizeof w, "%s (ByteLevel's GPT-2 regex)", where);
            rc = add_regex(t, GPT2_PATTERN, strlen(GPT2_PATTERN), false, w, &st.re, e);
        }
        return rc == OCR_OK ? add_step(t, st, e) : rc;
    }
    if (strcmp(type, "Digits") == 0) {
        /* The reference splits on char::is_numeric, one match per
         * character: \p{N} with the same behaviors. */
        tok_pre_step st = {.kind = TOK_PRE_SPLIT, .re = -1};
        bool individual = false;
        rc = get_bool(t, j, "individual_digits", false, &individual, where, e);
        if (rc != OCR_OK) return rc;
        st.behavior = individual ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS;
        char w[300];
        snprintf(w, sizeof w, "%s (Digits)", where);
        rc = add_regex(t, "\\p{N}", 5, false, w, &st.re, e);
        return rc == OCR_OK ? add_step(t, st, e) : rc;
    }
    return ocr_err_set(e, OCR_E_UNSUPPORTED,
                       "%s: %s: pre-tokenizer type '%s' is not supported "
                       "(Sequence, Split, ByteLevel, Digits are)",
                       t->name, where, type);
}

ocr_status tok_pretok_parse(tok_tokenizer *t, const json_t *pre, ocr_err *e)
{
    if (!pre || json_is_null(pre)) return OCR_OK;
    return parse_step(t, pre, "pre_tokenizer", 0, e);
}

/* ------------------------------------------------------------- running */

static ocr_status emit(tok_buf *buf, tok_spans *out, const char *p, size_t n)
{
    if (n == 0) return OCR_OK; /* empty pieces are dropped */
    size_t at = buf->n;
    if (tok_buf_append(buf, p, n) != OCR_OK) return OCR_E_NOMEM;
    return tok_spans_push(out, at, at + n, 0);
}

/* Apply one Split step to the piece p[0..n). */
static ocr_status split_piece(const tok_tokenizer *t, const tok_pre_step *st,
                              tok_pre_scratch *ps, const char *p, size_t n,
                              tok_buf *buf, tok_spans *out, ocr_err *e)
{
    ps->match.n = 0;
    ps->seg.n = 0;
    ocr_status rc = st->re < 0 ? OCR_OK
                               : tok_regex_find_all(t->re[st->re], ps->md, p, n,
                                                    &ps->match, t->name, e);
    if (rc != OCR_OK) return rc;

    /* Matches and the stretches between them, tagged 1 / 0 (flipped by
     * invert). */
    size_t prev = 0;
    int32_t m1 = st->invert ? 0 : 1, m0 = 1 - m1;
    for (size_t i = 0; i < ps->match.n && rc == OCR_OK; i++) {
        const tok_span *m = &ps->match.p[i];
        if (prev != m->start) rc = tok_spans_push(&ps->seg, prev, m->start, m0);
        if (rc == OCR_OK) rc = tok_spans_push(&ps->seg, m->start, m->end, m1);
        prev = m->end;
    }
    if (rc == OCR_OK && prev != n) rc = tok_spans_push(&ps->seg, prev, n, m0);
    if (rc != OCR_OK) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);

    /* Behaviors rewrite the list in place (tags become "keep"), exactly as
     * the reference's folds do, including their quirks: MergedWithPrevious
     * only merges a match into a preceding non-match, Contiguous also joins
     * runs of non-matches. */
    tok_span *s = ps->seg.p;
    size_t ns = ps->seg.n, k = 0;
    bool prev_match = false;
    switch (st->behavior) {
    case TOK_SPLIT_ISOLATED:
        for (size_t i = 0; i < ns; i++) s[i].tag = 1;
        k = ns;
        break;
    case TOK_SPLIT_REMOVED:
        for (size_t i = 0; i < ns; i++)
            if (!s[i].tag) s[k++] = (tok_span){s[i].start, s[i].end, 1};
        break;
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < ns; i++) {
            bool is_match = s[i].tag;
            if (is_match == prev_match && k > 0) s[k - 1].end = s[i].end;
            else s[k++] = (tok_span){s[i].start, s[i].end, 1};
            prev_match = is_match;
        }
        break;
    case TOK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < ns; i++) {
            bool is_match = s[i].tag;
            if (is_match && !prev_match && k > 0) s[k - 1].end = s[i].end;
            else s[k++] = (tok_span){s[i].start, s[i].end, 1};
            prev_match = is_match;
        }
        break;
    case TOK_SPLIT_MERGED_NEXT: {
        /* The reference folds from the right; so do we, filling from the
         * top of the array down. */
        size_t top = ns;
        for (size_t i = ns; i-- > 0;) {
            bool is_match = s[i].tag;
            if (is_match && !prev_match && top < ns) s[top].start = s[i].start;
            else s[--top] = (tok_span){s[i].start, s[i].end, 1};
            prev_match = is_match;
        }
        memmove(s, s + top, (ns - top) * sizeof *s);
        k = ns - top;
        break;
    }
    }
    for (size_t i = 0; i < k; i++) {
        rc = emit(buf, out, p + s[i].start, s[i].end - s[i].start);
        if (rc != OCR_OK) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
    }
    return OCR_OK;
}

/* Map bytes to the byte-level alphabet (each byte becomes 1 or 2 UTF-8
 * bytes). */
static ocr_status map_bytes(tok_buf *buf, tok_spans *out, const char *p,
                            size_t n)
{
    if (n == 0) return OCR_OK;
    size_t at = buf->n;
    if (tok_buf_reserve(buf, 2 * n) != OCR_OK) return OCR_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = tok_byte_to_cp((uint8_t)p[i]);
        if (cp < 0x80) {
            buf->p[buf->n++] = (char)cp;
        } else {
            buf->p[buf->n++] = (char)(0xC0 | cp >> 6);
            buf->p[buf->n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return tok_spans_push(out, at, buf->n, 0);
}

static ocr_status byte_level_piece(const tok_tokenizer *t,
                                   const tok_pre_step *st, tok_pre_scratch *ps,
                                   const char *p, size_t n, tok_buf *buf,
                                   tok_spans *out, ocr_err *e)
{
    if (st->add_prefix_space && p[0] != ' ') {
        ps->tmp.n = 0;
        if (tok_buf_append(&ps->tmp, " ", 1) != OCR_OK ||
            tok_buf_append(&ps->tmp, p, n) != OCR_OK)
            return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
        p = ps->tmp.p;
        n = ps->tmp.n;
    }
    ocr_status rc = OCR_OK;
    if (st->re < 0) {
        rc = map_bytes(buf, out, p, n);
    } else {
        ps->match.n = 0;
        rc = tok_regex_find_all(t->re[st->re], ps->md, p, n, &ps->match, t->name, e);
        if (rc != OCR_OK) return rc;
        size_t prev = 0; /* Isolated: matches and gaps alike */
        for (size_t i = 0; i < ps->match.n && rc == OCR_OK; i++) {
            const tok_span *m = &ps->match.p[i];
            if (prev != m->start) rc = map_bytes(buf, out, p + prev, m->start - prev);
            if (rc == OCR_OK) rc = map_bytes(buf, out, p + m->start, m->end - m->start);
            prev = m->end;
        }
        if (rc == OCR_OK) rc = map_bytes(buf, out, p + prev, n - prev);
    }
    if (rc != OCR_OK) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
    return OCR_OK;
}

ocr_status tok_pretok_run(const tok_tokenizer *t, tok_pre_scratch *ps,
                          const char *s, size_t len, ocr_err *e)
{
    int cur = 0;
    ps->buf[0].n = 0;
    ps->piece[0].n = 0;
    if (emit(&ps->buf[0], &ps->piece[0], s, len) != OCR_OK)
        return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
    for (size_t k = 0; k < t->n_pre; k++) {
        const tok_pre_step *st = &t->pre[k];
        int nxt = 1 - cur;
        tok_buf *buf = &ps->buf[nxt];
        tok_spans *out = &ps->piece[nxt];
        buf->n = 0;
        out->n = 0;
        for (size_t i = 0; i < ps->piece[cur].n; i++) {
            const tok_span *pc = &ps->piece[cur].p[i];
            const char *p = ps->buf[cur].p + pc->start;
            size_t n = pc->end - pc->start;
            ocr_status rc = st->kind == TOK_PRE_SPLIT
                                ? split_piece(t, st, ps, p, n, buf, out, e)
                                : byte_level_piece(t, st, ps, p, n, buf, out, e);
            if (rc != OCR_OK) return rc;
        }
        cur = nxt;
    }
    ps->cur = cur;
    return OCR_OK;
}

void tok_pre_scratch_free(tok_pre_scratch *ps)
{
    for (int i = 0; i < 2; i++) {
        tok_buf_free(&ps->buf[i]);
        tok_spans_free(&ps->piece[i]);
    }
    tok_spans_free(&ps->match);
    tok_spans_free(&ps->seg);
    tok_buf_free(&ps->tmp);
    if (ps->md) pcre2_match_data_free(ps->md);
    ps->md = NULL;
}

/* language/tok_encode.c — text → ids: added tokens, pre-tokenizer, BPE,
 * post-processing, in the reference's order (see tok.h). All scratch is
 * local to the call, so one tokenizer serves many threads. */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    tok_spans seg[2]; /* added-token cuts after pass 0 and pass 1 */
    tok_pre_scratch pre;
    tok_bpe_scratch bpe;
    pcre2_match_data *md;
} enc_scratch;

static void scratch_free(enc_scratch *s)
{
    tok_spans_free(&s->seg[0]);
    tok_spans_free(&s->seg[1]);
    tok_pre_scratch_free(&s->pre); /* frees s->pre.md */
    tok_bpe_scratch_free(&s->bpe);
    if (s->md) pcre2_match_data_free(s->md);
}

static ocr_status push_all(const tok_tokenizer *t, tok_ivec *v,
                           const int32_t *ids, size_t n, ocr_err *e)
{
    for (size_t i = 0; i < n; i++)
        if (tok_ivec_push(v, ids[i]) != OCR_OK)
            return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
    return OCR_OK;
}

static ocr_status encode_vec(const tok_tokenizer *t, const char *text,
                             size_t len, bool add_special, tok_ivec *out,
                             ocr_err *e)
{
    if (!t || (!text && len))
        return ocr_err_set(e, OCR_E_ARG, "tok_encode: NULL argument");
    size_t bad = tok_utf8_check((const uint8_t *)text, len);
    if (bad != len)
        return ocr_err_set(e, OCR_E_ARG,
                           "tok_encode: text is not valid UTF-8 (byte %zu of %zu)", bad, len);

    enc_scratch s;
    memset(&s, 0, sizeof s);
    /* One ovector pair is all we read; a pattern with groups still reports
     * the whole match in it (pcre2_match then returns 0). */
    s.md = pcre2_match_data_create(1, NULL);
    s.pre.md = pcre2_match_data_create(1, NULL);
    ocr_status rc = s.md && s.pre.md ? OCR_OK
                                     : ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
    if (rc == OCR_OK && add_special) rc = push_all(t, out, t->post_pre, t->n_post_pre, e);

    /* Added tokens: normalized:false ones on the raw text, then
     * normalized:true ones on the text between (the normalizer being the
     * identity, "normalized text" is the same bytes). */
    if (rc == OCR_OK) rc = tok_added_split(t, 0, s.md, text, len, 0, &s.seg[0], e);
    for (size_t i = 0; i < s.seg[0].n && rc == OCR_OK; i++) {
        tok_span g = s.seg[0].p[i];
        if (g.tag >= 0)
            rc = tok_spans_push(&s.seg[1], g.start, g.end, g.tag) == OCR_OK
                     ? OCR_OK
                     : ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", t->name);
        else
            rc = tok_added_split(t, 1, s.md, text + g.start, g.end - g.start, g.start,
                                 &s.seg[1], e);
    }

    for (size_t i = 0; i < s.seg[1].n && rc == OCR_OK; i++) {
        tok_span g = s.seg[1].p[i];
        if (g.tag >= 0) {
            rc = push_all(t, out, &g.tag, 1, e);
            continue;
        }
        rc = tok_pretok_run(t, &s.pre, text + g.start, g.end - g.start, e);
        const tok_spans *pieces = &s.pre.piece[s.pre.cur];
        const char *buf = s.pre.buf[s.pre.cur].p;
        for (size_t k = 0; k < pieces->n && rc == OCR_OK; k++)
            rc = tok_bpe_word(t, &s.bpe, buf + pieces->p[k].start,
                              pieces->p[k].end - pieces->p[k].start, out, e);
    }
    if (rc == OCR_OK && add_special) rc = push_all(t, out, t->post_suf, t->n_post_suf, e);
    scratch_free(&s);
    return rc;
}

ocr_status tok_encode(const tok_tokenizer *t, const char *text, size_t len,
                      bool add_special, int32_t **ids, size_t *n, ocr_err *e)
{
    if (!ids || !n) return ocr_err_set(e, OCR_E_ARG, "tok_encode: NULL argument");
    *ids = NULL;
    *n = 0;
    tok_ivec v = {0};
    ocr_status rc = encode_vec(t, text, len, add_special, &v, e);
    if (rc != OCR_OK || v.n == 0) {
        tok_ivec_free(&v);
        return rc;
    }
    *ids = v.p;
    *n = v.n;
    return OCR_OK;
}

ocr_status tok_encode_into(const tok_tokenizer *t, const char *text,
                           size_t len, bool add_special, int32_t *ids,
                           size_t cap, size_t *n, ocr_err *e)
{
    if (!n || (!ids && cap)) return ocr_err_set(e, OCR_E_ARG, "tok_encode_into: NULL argument");
    *n = 0;
    tok_ivec v = {0};
    ocr_status rc = encode_vec(t, text, len, add_special, &v, e);
    if (rc == OCR_OK) {
        *n = v.n;
        if (v.n && cap) memcpy(ids, v.p, (v.n < cap ? v.n : cap) * sizeof *ids);
        if (v.n > cap)
            rc = ocr_err_set(e, OCR_E_LIMIT, "tok_encode_into: the text needs %zu ids, the "
                             "buffer holds %zu", v.n, cap);
    }
    tok_ivec_free(&v);
    return rc;
}

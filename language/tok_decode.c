/* language/tok_decode.c — ids → UTF-8, whole or streamed.
 *
 * The reference's ByteLevel decoder concatenates the bytes of all tokens
 * and only then decodes them lossily, so a character split across tokens
 * comes out whole. The stream does the same with a decoder that carries an
 * unfinished character from one id to the next; since lossy UTF-8
 * decoding is itself a streaming algorithm (WHATWG), streamed output equals
 * the whole decode byte for byte.
 */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdlib.h>
#include <string.h>

struct tok_stream {
    const tok_tokenizer *t;
    bool skip_special;
    bool any; /* a token has been emitted (for the space-join decoder) */
    tok_utf8_state st;
    tok_buf out;
};

static bool keep(const tok_tokenizer *t, int32_t id, bool skip_special)
{
    if (id < 0 || id >= t->n_ids || t->tok_off[id] == UINT32_MAX) return false;
    return !(skip_special && (t->flags[id] & TOK_F_SPECIAL));
}

/* Feed one id's bytes; false only when out of memory. */
static bool feed(const tok_tokenizer *t, int32_t id, bool *any,
                 tok_utf8_state *st, tok_buf *out)
{
    if (t->dec_join_space && *any &&
        tok_utf8_lossy_feed(st, (const uint8_t *)" ", 1, out) != OCR_OK)
        return false;
    *any = true;
    return tok_utf8_lossy_feed(st, (const uint8_t *)t->dpool.p + t->dec_off[id],
                               t->dec_len[id], out) == OCR_OK;
}

ocr_status tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n,
                      bool skip_special, char **text, size_t *len, ocr_err *e)
{
    if (!text || !len || !t || (!ids && n))
        return ocr_err_set(e, OCR_E_ARG, "tok_decode: NULL argument");
    *text = NULL;
    *len = 0;
    tok_buf out = {0};
    tok_utf8_state st;
    tok_utf8_state_init(&st);
    bool any = false, ok = true;
    for (size_t i = 0; i < n && ok; i++)
        if (keep(t, ids[i], skip_special)) ok = feed(t, ids[i], &any, &st, &out);
    ok = ok && tok_utf8_lossy_end(&st, &out) == OCR_OK;
    ok = ok && tok_buf_append(&out, "", 1) == OCR_OK;
    if (!ok) {
        tok_buf_free(&out);
        return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory decoding %zu ids", t->name, n);
    }
    *text = out.p;
    *len = out.n - 1;
    return OCR_OK;
}

ocr_status tok_stream_create(tok_stream **out, const tok_tokenizer *t,
                             bool skip_special, ocr_err *e)
{
    if (!out || !t) return ocr_err_set(e, OCR_E_ARG, "tok_stream_create: NULL argument");
    *out = NULL;
    tok_stream *s = calloc(1, sizeof *s);
    if (!s) return ocr_err_set(e, OCR_E_NOMEM, "tok_stream_create: out of memory");
    s->t = t;
    s->skip_special = skip_special;
    tok_utf8_state_init(&s->st);
    *out = s;
    return OCR_OK;
}

void tok_stream_destroy(tok_stream **sp)
{
    if (!sp || !*sp) return;
    tok_buf_free(&(*sp)->out);
    free(*sp);
    *sp = NULL;
}

static void result(const tok_stream *s, const char **text, size_t *len)
{
    *text = s->out.n ? s->out.p : "";
    *len = s->out.n;
}

ocr_status tok_stream_put(tok_stream *s, int32_t id, const char **text,
                          size_t *len, ocr_err *e)
{
    if (!s || !text || !len) return ocr_err_set(e, OCR_E_ARG, "tok_stream_put: NULL argument");
    s->out.n = 0;
    if (keep(s->t, id, s->skip_special) && !feed(s->t, id, &s->any, &s->st, &s->out)) {
        *text = "";
        *len = 0;
        return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory in the decode stream",
                           s->t->name);
    }
    result(s, text, len);
    return OCR_OK;
}

ocr_status tok_stream_flush(tok_stream *s, const char **text, size_t *len,
                            ocr_err *e)
{
    if (!s || !text || !len)
        return ocr_err_set(e, OCR_E_ARG, "tok_stream_flush: NULL argument");
    s->out.n = 0;
    s->any = false;
    if (tok_utf8_lossy_end(&s->st, &s->out) != OCR_OK) {
        *text = "";
        *len = 0;
        return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory in the decode stream",
                           s->t->name);
    }
    result(s, text, len);
    return OCR_OK;
}

void tok_stream_reset(tok_stream *s)
{
    if (!s) return;
    s->out.n = 0;
    s->any = false;
    tok_utf8_state_init(&s->st);
}

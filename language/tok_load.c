/* language/tok_load.c — parsing tokenizer.json and tokenizer_config.json
 * into a tok_tokenizer (the files themselves are found and read by
 * tok_file.c); the tokenizer's accessors.
 *
 * Everything that can be computed once is computed here so that encode and
 * decode only read: the vocab and merge maps, one-character token ids for
 * the byte-level alphabet, the decoded bytes of every token, the
 * added-token trie and the BOS/EOS rule.
 */
#define TOK_INTERNAL
#include "language/tok.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

#define NOMEM(t, e) ocr_err_set((e), OCR_E_NOMEM, "%s: out of memory", (t)->name)

/* Append a string plus a NUL to the pool; *off receives its offset. The
 * pool is addressed by 32-bit offsets. */
static ocr_status pool_add(tok_buf *pool, const char *s, size_t len,
                           uint32_t *off)
{
    if (pool->n > UINT32_MAX - len - 1) return OCR_E_LIMIT;
    *off = (uint32_t)pool->n;
    if (tok_buf_append(pool, s, len) != OCR_OK) return OCR_E_NOMEM;
    return tok_buf_append(pool, "", 1);
}

static ocr_status get_bool(const tok_tokenizer *t, const char *file,
                           const json_t *obj, const char *key, bool dflt,
                           bool *out, const char *where, ocr_err *e)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return OCR_OK;
    }
    if (!json_is_boolean(v))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s%s%s: expected true or false",
                           file ? file : t->name, where, *where ? "." : "", key);
    *out = json_is_true(v);
    return OCR_OK;
}

/* An id from JSON: an integer in [0, TOK_MAX_ID). */
static bool get_id(const json_t *v, int32_t *id)
{
    if (!json_is_integer(v)) return false;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= TOK_MAX_ID) return false;
    *id = (int32_t)x;
    return true;
}

/* null or "": fine; anything else we do not implement. */
static bool empty_or_null(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0);
}

/* -------------------------------------------------------------- model */

static ocr_status parse_vocab(tok_tokenizer *t, const json_t *vocab,
                              int32_t *max_id, ocr_err *e)
{
    if (!json_is_object(vocab))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: model.vocab: expected an object "
                           "of token → id", t->name);
    if (tok_strmap_reserve(&t->vocab, json_object_size(vocab)) != OCR_OK)
        return NOMEM(t, e);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)vocab, key, val) {
        int32_t id;
        if (!get_id(val, &id))
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: model.vocab['%.100s']: expected an integer id in "
                               "[0, %d)",
                               t->name, key, (int)TOK_MAX_ID);
        size_t len = strlen(key);
        uint32_t off;
        ocr_status rc = pool_add(&t->pool, key, len, &off);
        if (rc == OCR_OK) rc = tok_strmap_put(&t->vocab, t->pool.p, off, (uint32_t)len, id, NULL);
        if (rc != OCR_OK) return NOMEM(t, e);
        if (id > *max_id) *max_id = id;
    }
    return OCR_OK;
}

static ocr_status parse_merges(tok_tokenizer *t, const json_t *merges,
                               ocr_err *e)
{
    if (!json_is_array(merges))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: model.merges: expected an array",
                           t->name);
    size_t n = json_array_size(merges);
    if (n >= (size_t)INT32_MAX)
        return ocr_err_set(e, OCR_E_LIMIT, "%s: model.merges: too many merges", t->name);
    if (tok_pairmap_reserve(&t->merges, n) != OCR_OK) return NOMEM(t, e);
    tok_buf cat = {0};
    ocr_status rc = OCR_OK;
    for (size_t i = 0; i < n && rc == OCR_OK; i++) {
        const json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t la, lb;
        if (json_is_string(m)) { /* "left right" */
            a = json_string_value(m);
            const char *sp = memchr(a, ' ', json_string_length(m));
            if (!sp) {
                rc = ocr_err_set(e, OCR_E_FORMAT,
                                 "%s: model.merges[%zu]: expected \"left right\", got "
                                 "'%.100s'",
                                 t->name, i, a);
                break;
            }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = json_string_length(m) - la - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) { /* ["left", "right"] */
            a = json_string_value(json_array_get(m, 0));
            la = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            lb = json_string_length(json_array_get(m, 1));
        } else {
            rc = ocr_err_set(e, OCR_E_FORMAT,
                             "%s: model.merges[%zu]: expected a \"left right\" string "
                             "or a [left, right] pair",
                             t->name, i);
            break;
        }
        int32_t ia = tok_strmap_get(&t->vocab, t->pool.p, a, la);
        int32_t ib = tok_strmap_get(&t->vocab, t->pool.p, b, lb);
        if (ia < 0 || ib < 0) {
            const char *bad = ia < 0 ? a : b;
            int lbad = (int)(ia < 0 ? la : lb);
            rc = ocr_err_set(e, OCR_E_FORMAT,
                             "%s: model.merges[%zu]: token '%.*s' is not in the vocab",
                             t->name, i, lbad > 100 ? 100 : lbad, bad);
            break;
        }
        cat.n = 0;
        if (tok_buf_append(&cat, a, la) != OCR_OK || tok_buf_append(&cat, b, lb) != OCR_OK) {
            rc = NOMEM(t, e);
            break;
        }
        int32_t im = tok_strmap_get(&t->vocab, t->pool.p, cat.p, cat.n);
        if (im < 0) {
            int lc = (int)cat.n;
            rc = ocr_err_set(e, OCR_E_FORMAT,
                             "%s: model.merges[%zu]: merged token '%.*s' is not in the "
                             "vocab",
                             t->name, i, lc > 100 ? 100 : lc, cat.p);
            break;
        }
        if (tok_pairmap_put(&t->merges, ia, ib, (int32_t)i, im) != OCR_OK) rc = NOMEM(t, e);
    }
    tok_buf_free(&cat);
    return rc;
}

static ocr_status parse_model(tok_tokenizer *t, const json_t *model,
                              int32_t *max_id, ocr_err *e)
{
    if (!json_is_object(model))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: model: expected an object", t->name);
    /* Older files (GPT-2's) carry no "type": vocab + merges mean BPE. */
    const json_t *type = json_object_get(model, "type");
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "BPE") == 0))
        return ocr_err_set(e, OCR_E_UNSUPPORTED,
                           "%s: model.type '%.40s' is not supported (only BPE is)",
                           t->name, json_is_string(type) ? json_string_value(type) : "?");
    const json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) &&
        !(json_is_number(dropout) && json_number_value(dropout) == 0.0))
        return ocr_err_set(e, OCR_E_UNSUPPORTED,
                           "%s: model.dropout: BPE dropout is not supported", t->name);
    static const char *const affixes[] = {"continuing_subword_prefix",
                                          "end_of_word_suffix"};
    for (int k = 0; k < 2; k++)
        if (!empty_or_null(json_object_get(model, affixes[k])))
            return ocr_err_set(e, OCR_E_UNSUPPORTED, "%s: model.%s is not supported",
                               t->name, affixes[k]);

    ocr_status rc = parse_vocab(t, json_object_get(model, "vocab"), max_id, e);
    if (rc == OCR_OK) rc = parse_merges(t, json_object_get(model, "merges"), e);
    if (rc == OCR_OK)
        rc = get_bool(t, NULL, model, "ignore_merges", false, &t->ignore_merges, "model", e);
    if (rc == OCR_OK)
        rc = get_bool(t, NULL, model, "byte_fallback", false, &t->byte_fallback, "model", e);
    if (rc == OCR_OK) rc = get_bool(t, NULL, model, "fuse_unk", false, &t->fuse_unk, "model", e);
    if (rc != OCR_OK) return rc;

    t->unk_id = -1;
    const json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk))
            return ocr_err_set(e, OCR_E_FORMAT, "%s: model.unk_token: expected a string",
                               t->name);
        t->unk_id = tok_strmap_get(&t->vocab, t->pool.p, json_string_value(unk),
                                   json_string_length(unk));
        if (t->unk_id < 0)
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: model.unk_token '%.100s' is not in the vocab",
                               t->name, json_string_value(unk));
    }
    return OCR_OK;
}

/* ------------------------------------------------------- added tokens */

static ocr_status add_added(tok_tokenizer *t, const tok_added *a,
                            const char *content, size_t len)
{
    if (t->n_added == t->cap_added) {
        size_t cap = t->cap_added ? 2 * t->cap_added : 64;
        tok_added *p = realloc(t->added, cap * sizeof *p);
        if (!p) return OCR_E_NOMEM;
        t->added = p;
        t->cap_added = cap;
    }
    tok_added x = *a;
    ocr_status rc = pool_add(&t->pool, content, len, &x.off);
    if (rc != OCR_OK) return rc;
    x.len = (uint32_t)len;
    t->added[t->n_added++] = x;
    return OCR_OK;
}

/* One added-token object (tokenizer.json's added_tokens[i], or a value of
 * tokenizer_config.json's added_tokens_decoder whose id is its key). */
static ocr_status parse_added_one(tok_tokenizer *t, const char *file,
                                  const json_t *o, const char *where,
                                  int32_t id, bool have_id, int32_t *max_id,
                                  ocr_err *e)
{
    if (!json_is_object(o))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s: expected an object", file, where);
    tok_added a = {0};
    if (have_id) a.id = id;
    else if (!get_id(json_object_get(o, "id"), &a.id))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.id: expected an integer id in [0, %d)",
                           file, where, (int)TOK_MAX_ID);
    const json_t *c = json_object_get(o, "content");
    if (!json_is_string(c))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.content: expected a string", file, where);
    if (tok_utf8_check((const uint8_t *)json_string_value(c), json_string_length(c)) !=
        json_string_length(c))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.content: not valid UTF-8", file, where);
    ocr_status rc = get_bool(t, file, o, "special", false, &a.special, where, e);
    if (rc == OCR_OK) rc = get_bool(t, file, o, "single_word", false, &a.single_word, where, e);
    if (rc == OCR_OK) rc = get_bool(t, file, o, "lstrip", false, &a.lstrip, where, e);
    if (rc == OCR_OK) rc = get_bool(t, file, o, "rstrip", false, &a.rstrip, where, e);
    /* The reference's default: special tokens are matched on raw text. */
    if (rc == OCR_OK) rc = get_bool(t, file, o, "normalized", !a.special, &a.normalized, where, e);
    if (rc != OCR_OK) return rc;
    if (add_added(t, &a, json_string_value(c), json_string_length(c)) != OCR_OK)
        return NOMEM(t, e);
    if (a.id > *max_id) *max_id = a.id;
    return OCR_OK;
}

static ocr_status parse_added(tok_tokenizer *t, const json_t *arr,
                              int32_t *max_id, ocr_err *e)
{
    if (!arr || json_is_null(arr)) return OCR_OK;
    if (!json_is_array(arr))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: added_tokens: expected an array", t->name);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char w[64];
        snprintf(w, sizeof w, "added_tokens[%zu]", i);
        ocr_status rc = parse_added_one(t, t->name, json_array_get(arr, i), w, 0, false,
                                        max_id, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

/* ------------------------------------ normalizer, post-processor, decoder */

static ocr_status parse_normalizer(tok_tokenizer *t, const json_t *j,
                                   const char *where, int depth, ocr_err *e)
{
    if (!j || json_is_null(j)) return OCR_OK;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.type: expected a string", t->name, where);
    if (strcmp(type, "Sequence") == 0 && depth < 16) {
        const json_t *list = json_object_get(j, "normalizers");
        if (!json_is_array(list))
            return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.normalizers: expected an array",
                               t->name, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char w[300];
            snprintf(w, sizeof w, "%s.normalizers[%zu]", where, i);
            ocr_status rc = parse_normalizer(t, json_array_get(list, i), w, depth + 1, e);
            if (rc != OCR_OK) return rc;
        }
        return OCR_OK;
    }
    /* Byte-level BPE files use no normalization; an unimplemented one would
     * silently change every id, so it is refused. */
    return ocr_err_set(e, OCR_E_UNSUPPORTED,
                       "%s: %s: normalizer type '%.40s' is not supported (only null and "
                       "empty Sequence are)",
                       t->name, where, type);
}

static ocr_status id_list(tok_tokenizer *t, const json_t *ids, int32_t **v,
                          size_t *n, const char *where, ocr_err *e)
{
    if (!json_is_array(ids))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.ids: expected an array", t->name, where);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        int32_t id;
        if (!get_id(json_array_get(ids, i), &id))
            return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.ids[%zu]: expected an id",
                               t->name, where, i);
        int32_t *p = realloc(*v, (*n + 1) * sizeof *p);
        if (!p) return NOMEM(t, e);
        *v = p;
        p[(*n)++] = id;
    }
    return OCR_OK;
}

static ocr_status parse_template(tok_tokenizer *t, const json_t *j,
                                 const char *where, ocr_err *e)
{
    const json_t *single = json_object_get(j, "single");
    const json_t *specials = json_object_get(j, "special_tokens");
    if (!json_is_array(single))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.single: expected an array",
                           t->name, where);
    if (t->n_post_pre || t->n_post_suf)
        return ocr_err_set(e, OCR_E_UNSUPPORTED, "%s: %s: more than one TemplateProcessing",
                           t->name, where);
    bool after = false;
    for (size_t i = 0; i < json_array_size(single); i++) {
        const json_t *it = json_array_get(single, i);
        char w[300];
        snprintf(w, sizeof w, "%s.single[%zu]", where, i);
        if (json_object_get(it, "Sequence")) {
            if (after)
                return ocr_err_set(e, OCR_E_UNSUPPORTED, "%s: %s: a second $A sequence",
                                   t->name, w);
            after = true;
            continue;
        }
        const char *name = json_string_value(
            json_object_get(json_object_get(it, "SpecialToken"), "id"));
        if (!name)
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: %s: expected {\"SpecialToken\": {\"id\": ...}} or "
                               "{\"Sequence\": ...}",
                               t->name, w);
        const json_t *st = json_object_get(specials, name);
        if (!json_is_object(st))
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: %s.special_tokens: no entry for '%.100s'", t->name,
                               where, name);
        snprintf(w, sizeof w, "%s.special_tokens['%.100s']", where, name);
        ocr_status rc = after ? id_list(t, json_object_get(st, "ids"), &t->post_suf,
                                        &t->n_post_suf, w, e)
                              : id_list(t, json_object_get(st, "ids"), &t->post_pre,
                                        &t->n_post_pre, w, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

static ocr_status parse_post(tok_tokenizer *t, const json_t *j,
                             const char *where, int depth, ocr_err *e)
{
    if (!j || json_is_null(j)) return OCR_OK;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.type: expected a string", t->name, where);
    if (strcmp(type, "ByteLevel") == 0) return OCR_OK; /* offsets only */
    if (strcmp(type, "TemplateProcessing") == 0) return parse_template(t, j, where, e);
    if (strcmp(type, "Sequence") == 0 && depth < 16) {
        const json_t *list = json_object_get(j, "processors");
        if (!json_is_array(list))
            return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.processors: expected an array",
                               t->name, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char w[300];
            snprintf(w, sizeof w, "%s.processors[%zu]", where, i);
            ocr_status rc = parse_post(t, json_array_get(list, i), w, depth + 1, e);
            if (rc != OCR_OK) return rc;
        }
        return OCR_OK;
    }
    return ocr_err_set(e, OCR_E_UNSUPPORTED,
                       "%s: %s: post-processor type '%.40s' is not supported (ByteLevel, "
                       "TemplateProcessing, Sequence are)",
                       t->name, where, type);
}

static ocr_status parse_decoder(tok_tokenizer *t, const json_t *j,
                                const char *where, int depth, ocr_err *e)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.type: expected a string", t->name, where);
    if (strcmp(type, "ByteLevel") == 0) {
        t->dec_join_space = false;
        return OCR_OK;
    }
    if (strcmp(type, "Sequence") == 0 && depth < 16) {
        const json_t *list = json_object_get(j, "decoders");
        if (!json_is_array(list) || json_array_size(list) == 0)
            return ocr_err_set(e, OCR_E_FORMAT, "%s: %s.decoders: expected a non-empty array",
                               t->name, where);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char w[300];
            snprintf(w, sizeof w, "%s.decoders[%zu]", where, i);
            ocr_status rc = parse_decoder(t, json_array_get(list, i), w, depth + 1, e);
            if (rc != OCR_OK) return rc;
        }
        return OCR_OK;
    }
    return ocr_err_set(e, OCR_E_UNSUPPORTED,
                       "%s: %s: decoder type '%.40s' is not supported (ByteLevel is)",
                       t->name, where, type);
}

/* ------------------------------------------------ tokenizer_config.json */

typedef struct {
    bool rule;             /* add_bos_token / add_eos_token present */
    bool add_bos, add_eos;
    const char *bos, *eos; /* token contents; point into the JSON */
    size_t bos_len, eos_len;
} cfg_info;

static ocr_status cfg_token(const char *file, const json_t *cfg,
                            const char *key, const char **s, size_t *len,
                            ocr_err *e)
{
    const json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content"); /* AddedToken form */
    if (!v || json_is_null(v)) return OCR_OK;
    if (!json_is_string(v))
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: %s: expected a string or {\"content\": string}", file, key);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return OCR_OK;
}

static ocr_status parse_config(tok_tokenizer *t, const json_t *cfg,
                               const char *file, cfg_info *ci, int32_t *max_id,
                               ocr_err *e)
{
    if (!json_is_object(cfg))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: expected a JSON object", file);
    ci->rule = json_object_get(cfg, "add_bos_token") || json_object_get(cfg, "add_eos_token");
    ocr_status rc = get_bool(t, file, cfg, "add_bos_token", false, &ci->add_bos, "", e);
    if (rc == OCR_OK) rc = get_bool(t, file, cfg, "add_eos_token", false, &ci->add_eos, "", e);
    if (rc == OCR_OK) rc = cfg_token(file, cfg, "bos_token", &ci->bos, &ci->bos_len, e);
    if (rc == OCR_OK) rc = cfg_token(file, cfg, "eos_token", &ci->eos, &ci->eos_len, e);
    if (rc != OCR_OK) return rc;

    /* transformers adds these when tokenizer.json lacks them; ids already
     * in added_tokens keep the tokenizer.json entry. */
    const json_t *dec = json_object_get(cfg, "added_tokens_decoder");
    if (!dec || json_is_null(dec)) return OCR_OK;
    if (!json_is_object(dec))
        return ocr_err_set(e, OCR_E_FORMAT, "%s: added_tokens_decoder: expected an object", file);
    size_t n_file = t->n_added;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)dec, key, val) {
        char *end;
        errno = 0;
        long id = strtol(key, &end, 10);
        char w[160];
        snprintf(w, sizeof w, "added_tokens_decoder['%.40s']", key);
        if (errno || end == key || *end || id < 0 || id >= TOK_MAX_ID)
            return ocr_err_set(e, OCR_E_FORMAT, "%s: %s: key is not an id", file, w);
        bool known = false;
        for (size_t k = 0; k < n_file && !known; k++) known = t->added[k].id == (int32_t)id;
        if (known) continue;
        rc = parse_added_one(t, file, val, w, (int32_t)id, true, max_id, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

/* --------------------------------------------------------- finishing */

/* Per-id tables, decoded bytes, quick lookups, trie. */
static ocr_status finish(tok_tokenizer *t, int32_t max_id, ocr_err *e)
{
    int32_t n = max_id + 1;
    t->n_ids = n;
    size_t un = (size_t)(n > 0 ? n : 1);
    t->tok_off = malloc(un * sizeof *t->tok_off);
    t->tok_len = calloc(un, sizeof *t->tok_len);
    t->dec_off = calloc(un, sizeof *t->dec_off);
    t->dec_len = calloc(un, sizeof *t->dec_len);
    t->flags = calloc(un, 1);
    if (!t->tok_off || !t->tok_len || !t->dec_off || !t->dec_len || !t->flags)
        return NOMEM(t, e);
    for (int32_t i = 0; i < n; i++) t->tok_off[i] = UINT32_MAX;

    /* Vocab strings; for an id listed twice the first slot found wins (the
     * reference's choice is a hash-order accident too). */
    for (size_t k = 0; k < t->vocab.cap; k++) {
        const tok_sm_slot *s = &t->vocab.slot[k];
        if (s->id < 0 || t->tok_off[s->id] != UINT32_MAX) continue;
        t->tok_off[s->id] = s->off;
        t->tok_len[s->id] = s->len;
        t->flags[s->id] |= TOK_F_MODEL;
    }
    /* Added tokens override the vocab for id → string, as in the reference
     * (added vocabulary first, then the model). */
    if (tok_strmap_reserve(&t->amap, t->n_added) != OCR_OK) return NOMEM(t, e);
    for (size_t k = 0; k < t->n_added; k++) {
        const tok_added *a = &t->added[k];
        t->tok_off[a->id] = a->off;
        t->tok_len[a->id] = a->len;
        t->flags[a->id] |= TOK_F_ADDED | (a->special ? TOK_F_SPECIAL : 0);
        if (tok_strmap_put(&t->amap, t->pool.p, a->off, a->len, a->id, NULL) != OCR_OK)
            return NOMEM(t, e);
        /* skip_special compares token strings, so a vocab entry spelled like
         * a special token is skipped as well. */
        int32_t v = tok_strmap_get(&t->vocab, t->pool.p, t->pool.p + a->off, a->len);
        if (a->special && v >= 0) t->flags[v] |= TOK_F_SPECIAL;
    }

    /* Decoded bytes: ByteLevel maps every character back to its byte, but a
     * token with any character outside the alphabet (an added token such as
     * "<｜User｜>") is taken as its UTF-8 text, as the reference does. */
    for (int32_t i = 0; i < n; i++) {
        if (t->tok_off[i] == UINT32_MAX) continue;
        const uint8_t *s = (const uint8_t *)t->pool.p + t->tok_off[i];
        size_t len = t->tok_len[i], at = t->dpool.n;
        if (at > UINT32_MAX - len) return ocr_err_set(e, OCR_E_LIMIT, "%s: vocab too large", t->name);
        if (tok_buf_reserve(&t->dpool, len) != OCR_OK) return NOMEM(t, e);
        bool mapped = !t->dec_join_space;
        for (size_t j = 0; j < len && mapped;) {
            uint32_t cp;
            j += tok_utf8_next(s + j, len - j, &cp);
            int b = tok_cp_to_byte(cp);
            if (b < 0) mapped = false;
            else t->dpool.p[t->dpool.n++] = (char)b;
        }
        if (!mapped) {
            t->dpool.n = at;
            memcpy(t->dpool.p + at, s, len);
            t->dpool.n += len;
        }
        t->dec_off[i] = (uint32_t)at;
        t->dec_len[i] = (uint32_t)(t->dpool.n - at);
    }

    for (uint32_t cp = 0; cp < TOK_CHAR_TABLE; cp++) {
        uint8_t u[4];
        size_t l = tok_utf8_put(cp, u);
        t->char_id[cp] = tok_strmap_get(&t->vocab, t->pool.p, (const char *)u, l);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->fb_id[b] = t->byte_fallback ? tok_strmap_get(&t->vocab, t->pool.p, name, 6) : -1;
    }
    return tok_added_build(t, e);
}

static ocr_status resolve_config(tok_tokenizer *t, const cfg_info *ci,
                                 const char *cfg_name, ocr_err *e)
{
    t->bos = ci->bos ? tok_id_n(t, ci->bos, ci->bos_len) : -1;
    t->eos = ci->eos ? tok_id_n(t, ci->eos, ci->eos_len) : -1;
    if (!ci->rule) return OCR_OK;
    /* LlamaTokenizerFast rebuilds the post-processor from these flags,
     * replacing whatever tokenizer.json says. */
    free(t->post_pre);
    free(t->post_suf);
    t->post_pre = t->post_suf = NULL;
    t->n_post_pre = t->n_post_suf = 0;
    if (ci->add_bos) {
        if (t->bos < 0)
            return ocr_err_set(e, OCR_E_CONFIG,
                               "%s: add_bos_token is true but bos_token '%.100s' is not a "
                               "token of %s",
                               cfg_name, ci->bos ? ci->bos : "(none)", t->name);
        if (!(t->post_pre = malloc(sizeof *t->post_pre))) return NOMEM(t, e);
        t->post_pre[t->n_post_pre++] = t->bos;
    }
    if (ci->add_eos) {
        if (t->eos < 0)
            return ocr_err_set(e, OCR_E_CONFIG,
                               "%s: add_eos_token is true but eos_token '%.100s' is not a "
                               "token of %s",
                               cfg_name, ci->eos ? ci->eos : "(none)", t->name);
        if (!(t->post_suf = malloc(sizeof *t->post_suf))) return NOMEM(t, e);
        t->post_suf[t->n_post_suf++] = t->eos;
    }
    return OCR_OK;
}

static ocr_status json_parse(json_t **out, const char *buf, size_t len,
                             const char *file, ocr_err *e)
{
    json_error_t je;
    *out = json_loadb(buf, len, JSON_ALLOW_NUL, &je);
    if (!*out)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: invalid JSON at line %d column %d: %s",
                           file, je.line, je.column, je.text);
    return OCR_OK;
}

ocr_status tok_load_json(tok_tokenizer **out, const char *json, size_t len,
                         const char *name, const char *cfg, size_t cfg_len,
                         const char *cfg_name, ocr_err *e)
{
    *out = NULL;
    tok_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", name);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->bos = t->eos = t->unk_id = -1;

    json_t *root = NULL, *croot = NULL;
    int32_t max_id = -1;
    cfg_info ci = {0};
    ocr_status rc = json_parse(&root, json, len, t->name, e);
    if (rc == OCR_OK && !json_is_object(root))
        rc = ocr_err_set(e, OCR_E_FORMAT, "%s: expected a JSON object at the top", t->name);
    if (rc == OCR_OK) rc = parse_model(t, json_object_get(root, "model"), &max_id, e);
    if (rc == OCR_OK) rc = parse_added(t, json_object_get(root, "added_tokens"), &max_id, e);
    if (rc == OCR_OK)
        rc = parse_normalizer(t, json_object_get(root, "normalizer"), "normalizer", 0, e);
    if (rc == OCR_OK) rc = tok_pretok_parse(t, json_object_get(root, "pre_tokenizer"), e);
    if (rc == OCR_OK)
        rc = parse_post(t, json_object_get(root, "post_processor"), "post_processor", 0, e);
    if (rc == OCR_OK) {
        const json_t *d = json_object_get(root, "decoder");
        t->dec_join_space = true; /* the reference's fallback: join with " " */
        if (d && !json_is_null(d)) rc = parse_decoder(t, d, "decoder", 0, e);
    }
    if (rc == OCR_OK && cfg) {
        rc = json_parse(&croot, cfg, cfg_len, cfg_name, e);
        if (rc == OCR_OK) rc = parse_config(t, croot, cfg_name, &ci, &max_id, e);
    }
    if (rc == OCR_OK && max_id < 0)
        rc = ocr_err_set(e, OCR_E_FORMAT, "%s: model.vocab is empty", t->name);
    if (rc == OCR_OK) rc = finish(t, max_id, e);
    if (rc == OCR_OK) rc = resolve_config(t, &ci, cfg_name, e);
    json_decref(croot); /* ci points into croot: only now */
    json_decref(root);
    if (rc != OCR_OK) {
        tok_destroy(&t);
        return rc;
    }
    *out = t;
    return OCR_OK;
}

ocr_status tok_load_memory(tok_tokenizer **out, const char *json, size_t len,
                           const char *config, size_t config_len,
                           const char *name, ocr_err *e)
{
    if (!out || !json)
        return ocr_err_set(e, OCR_E_ARG, "tok_load_memory: NULL argument");
    return tok_load_json(out, json, len, name ? name : "tokenizer.json", config, config_len,
                         "tokenizer_config.json", e);
}

void tok_destroy(tok_tokenizer **tp)
{
    if (!tp || !*tp) return;
    tok_tokenizer *t = *tp;
    free(t->tok_off);
    free(t->tok_len);
    free(t->dec_off);
    free(t->dec_len);
    free(t->flags);
    tok_buf_free(&t->pool);
    tok_buf_free(&t->dpool);
    tok_strmap_free(&t->vocab);
    tok_strmap_free(&t->amap);
    tok_pairmap_free(&t->merges);
    free(t->added);
    free(t->trie);
    if (t->word_re) pcre2_code_free(t->word_re);
    free(t->pre);
    for (size_t i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    free(t->re);
    free(t->post_pre);
    free(t->post_suf);
    free(t);
    *tp = NULL;
}

/* ------------------------------------------------------------- queries */

int32_t tok_id_n(const tok_tokenizer *t, const char *token, size_t len)
{
    if (!t || !token) return -1;
    int32_t id = tok_strmap_get(&t->amap, t->pool.p, token, len);
    return id >= 0 ? id : tok_strmap_get(&t->vocab, t->pool.p, token, len);
}

int32_t tok_id(const tok_tokenizer *t, const char *token)
{
    return token ? tok_id_n(t, token, strlen(token)) : -1;
}

const char *tok_token_str(const tok_tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_ids || t->tok_off[id] == UINT32_MAX) return NULL;
    return t->pool.p + t->tok_off[id];
}

int32_t tok_vocab_size(const tok_tokenizer *t) { return t ? t->n_ids : 0; }
int32_t tok_bos(const tok_tokenizer *t) { return t ? t->bos : -1; }
int32_t tok_eos(const tok_tokenizer *t) { return t ? t->eos : -1; }

bool tok_is_special(const tok_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids && (t->flags[id] & TOK_F_SPECIAL);
}

bool tok_is_added(const tok_tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_ids && (t->flags[id] & TOK_F_ADDED);
}

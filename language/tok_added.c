/* language/tok_added.c — added tokens: cut out of the text before anything
 * else sees it.
 *
 * The reference runs an Aho-Corasick automaton in leftmost-longest mode
 * over the token contents; a byte trie walked from every position gives
 * the same matches (the leftmost start, then the longest token there) and
 * is plenty for a few thousand tokens that mostly share a "<" prefix.
 * Contents and text are valid UTF-8, so matches start on character
 * boundaries. Flags follow added_vocabulary.rs: single_word refuses a match
 * touching a word character (Rust regex \w) on either side; lstrip / rstrip
 * pull the whitespace beside the match into the token.
 */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdlib.h>
#include <string.h>

/* Rust regex's Unicode \w, used by the reference for single_word. */
static const char WORD_CHAR[] =
    "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";

static int32_t trie_child(const tok_tokenizer *t, int32_t node, uint8_t b)
{
    for (int32_t c = t->trie[node].child; c >= 0; c = t->trie[c].sibling)
        if (t->trie[c].byte == b) return c;
    return -1;
}

static int32_t trie_new(tok_tokenizer *t, uint8_t b)
{
    if (t->n_trie == t->cap_trie) {
        size_t cap = t->cap_trie ? 2 * t->cap_trie : 256;
        if (cap > (size_t)INT32_MAX) return -1;
        tok_trie_node *p = realloc(t->trie, cap * sizeof *p);
        if (!p) return -1;
        t->trie = p;
        t->cap_trie = cap;
    }
    t->trie[t->n_trie] = (tok_trie_node){.child = -1, .sibling = -1,
                                         .term = {-1, -1}, .byte = b};
    return (int32_t)t->n_trie++;
}

ocr_status tok_added_build(tok_tokenizer *t, ocr_err *e)
{
    t->n_trie = 0;
    if (trie_new(t, 0) < 0) goto nomem;
    bool single_word = false;
    for (size_t k = 0; k < t->n_added; k++) {
        const tok_added *a = &t->added[k];
        if (a->len == 0) continue; /* would match everywhere; never matched */
        const uint8_t *c = (const uint8_t *)t->pool.p + a->off;
        int32_t node = 0;
        for (uint32_t i = 0; i < a->len; i++) {
            int32_t nx = trie_child(t, node, c[i]);
            if (nx < 0) {
                nx = trie_new(t, c[i]);
                if (nx < 0) goto nomem;
                t->trie[nx].sibling = t->trie[node].child;
                t->trie[node].child = nx;
            }
            node = nx;
        }
        int set = a->normalized ? 1 : 0;
        if (t->trie[node].term[set] < 0) t->trie[node].term[set] = (int32_t)k;
        t->added_pass[set] = true;
        single_word = single_word || a->single_word;
    }
    if (single_word && !t->word_re)
        return tok_regex_compile(&t->word_re, WORD_CHAR, strlen(WORD_CHAR), false,
                                 t->name, "added_tokens (single_word)", e);
    return OCR_OK;
nomem:
    return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory building the added-token trie",
                       t->name);
}

static bool is_word_char(const tok_tokenizer *t, pcre2_match_data *md,
                         const char *c, size_t n)
{
    return pcre2_match(t->word_re, (PCRE2_SPTR)c, n, 0,
                       PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, NULL) >= 0;
}

/* Start of the character that ends at s[end) (s valid UTF-8, end > 0). */
static size_t char_before(const char *s, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && end - i < 4 && ((uint8_t)s[i] & 0xC0) == 0x80) i--;
    return i;
}

ocr_status tok_added_split(const tok_tokenizer *t, int pass,
                           pcre2_match_data *md, const char *s, size_t len,
                           size_t base, tok_spans *segs, ocr_err *e)
{
    size_t done = 0; /* end of the last cut; the reference's start_offset */
    size_t i = 0;
    ocr_status rc = OCR_OK;
    while (t->added_pass[pass] && i < len && rc == OCR_OK) {
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t j = i; j < len; j++) {
            node = trie_child(t, node, (uint8_t)s[j]);
            if (node < 0) break;
            if (t->trie[node].term[pass] >= 0) {
                best = t->trie[node].term[pass];
                best_end = j + 1;
            }
        }
        if (best < 0) {
            i++;
            continue;
        }
        const tok_added *a = &t->added[best];
        size_t ms = i, me = best_end;
        /* The automaton's iterator resumes after a match even when the
         * match is then refused. */
        i = me;
        if (a->single_word) {
            uint32_t cp;
            bool left_word = ms > 0 && is_word_char(t, md, s + char_before(s, ms),
                                                     ms - char_before(s, ms));
            bool right_word = me < len &&
                              is_word_char(t, md, s + me,
                                           tok_utf8_next((const uint8_t *)s + me,
                                                         len - me, &cp));
            if (left_word || right_word) continue;
        }
        if (a->lstrip) {
            size_t ns = ms;
            while (ns > 0) {
                size_t p = char_before(s, ns);
                uint32_t cp;
                tok_utf8_next((const uint8_t *)s + p, ns - p, &cp);
                if (!tok_is_white_space(cp)) break;
                ns = p;
            }
            ms = ns > done ? ns : done; /* never reach into the last cut */
        }
        if (a->rstrip) {
            while (me < len) {
                uint32_t cp;
                size_t cl = tok_utf8_next((const uint8_t *)s + me, len - me, &cp);
                if (!tok_is_white_space(cp)) break;
                me += cl;
            }
            i = me;
        }
        if (done < ms) rc = tok_spans_push(segs, base + done, base + ms, -1);
        if (rc == OCR_OK) rc = tok_spans_push(segs, base + ms, base + me, a->id);
        done = me;
    }
    if (rc == OCR_OK && done < len) rc = tok_spans_push(segs, base + done, base + len, -1);
    if (rc != OCR_OK)
        return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory splitting added tokens",
                           t->name);
    return OCR_OK;
}

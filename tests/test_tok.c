/* tests/test_tok.c — the tokenizer (language/tok_*.c).
 *
 * 1. Small hand-written tokenizer.json files in tests/data/tok/, one per
 *    feature, with ids worked out by hand in the comments.
 * 2. Hostile inputs: every one must fail with a message naming the file.
 * 3. The golden fixtures in $VLOCR_SHARED/conformance/tokenizer (default
 *    ../shared): DeepSeek-V3 (read gzip-compressed) and GPT-2, every encode
 *    and decode case, streamed decoding, and DeepSeek-OCR's prompt ids.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/ocr.h"
#include "language/tok.h"
#include "tests/tst.h"

#define DATA "tests/data/tok/"
#define MAXN 64

/* ------------------------------------------------------------ helpers */

static tok_tokenizer *load(const char *path)
{
    tok_tokenizer *t = NULL;
    ocr_err e = {0};
    ocr_status rc = tok_load(&t, path, &e);
    TST_CHECK(rc == OCR_OK && t, "load %s: %s", path, e.msg);
    return t;
}

static void fmt_ids(char *buf, size_t cap, const int32_t *ids, size_t n)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && at + 16 < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%d", i ? "," : "", ids[i]);
}

/* Encode `text` and compare with the expected ids (n of them). */
static void check_enc(const tok_tokenizer *t, const char *what, const char *text,
                      bool add_special, const int32_t *want, size_t nwant,
                      const char *file, int line)
{
    int32_t *ids = NULL;
    size_t n = 0;
    ocr_err e = {0};
    ocr_status rc = tok_encode(t, text, strlen(text), add_special, &ids, &n, &e);
    bool ok = rc == OCR_OK && n == nwant && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    char got[512], exp[512];
    fmt_ids(got, sizeof got, ids, n);
    fmt_ids(exp, sizeof exp, want, nwant);
    tst_check(ok, file, line, "%s: encode '%s' -> [%s], want [%s] %s", what, text, got, exp,
              rc == OCR_OK ? "" : e.msg);
    free(ids);
}

#define ENC(t, what, text, ...)                                                     \
    do {                                                                            \
        const int32_t want_[] = {__VA_ARGS__};                                      \
        check_enc((t), (what), (text), false, want_, sizeof want_ / sizeof *want_, \
                  __FILE__, __LINE__);                                              \
    } while (0)
#define ENC_SPECIAL(t, what, text, ...)                                            \
    do {                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                     \
        check_enc((t), (what), (text), true, want_, sizeof want_ / sizeof *want_, \
                  __FILE__, __LINE__);                                             \
    } while (0)

static void check_dec(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip,
                      const char *want, size_t wlen, const char *file, int line)
{
    char *s = NULL;
    size_t len = 0;
    ocr_err e = {0};
    ocr_status rc = tok_decode(t, ids, n, skip, &s, &len, &e);
    bool ok = rc == OCR_OK && len == wlen && memcmp(s, want, len) == 0 && s[len] == 0;
    tst_check(ok, file, line, "decode -> '%s', want '%s' %s", s ? s : "(null)", want,
              rc == OCR_OK ? "" : e.msg);
    free(s);
}

#define DEC(t, skip, want, ...)                                                          \
    do {                                                                                 \
        const int32_t ids_[] = {__VA_ARGS__};                                            \
        check_dec((t), ids_, sizeof ids_ / sizeof *ids_, (skip), (want), strlen(want), \
                  __FILE__, __LINE__);                                                   \
    } while (0)

/* Read a file into a NUL-terminated buffer (tests only: exits on failure
 * of the harness, not of the code under test). */
static char *slurp(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    ocr_err e = {0};
    if (ocr_file_read(path, 1u << 30, &buf, len, &e) != OCR_OK) return NULL;
    char *s = realloc(buf, *len + 1);
    if (!s) {
        free(buf);
        return NULL;
    }
    s[*len] = 0;
    return s;
}

/* Copy of `src` with the first `from` replaced by `to`, written to the
 * scratch dir as `name`; returns the new path. */
static const char *variant(const char *src, const char *name, const char *from, const char *to)
{
    size_t len;
    char *s = slurp(src, &len);
    char *p = s ? strstr(s, from) : NULL;
    if (!p) {
        free(s);
        TST_CHECK(false, "variant of %s: '%s' not found", src, from);
        return NULL;
    }
    size_t lf = strlen(from), lt = strlen(to);
    char *out = malloc(len - lf + lt + 1);
    size_t pre = (size_t)(p - s);
    memcpy(out, s, pre);
    memcpy(out + pre, to, lt);
    memcpy(out + pre + lt, p + lf, len - pre - lf);
    const char *path = tst_write_file(name, out, len - lf + lt);
    free(out);
    free(s);
    return path;
}

/* Does every chunk of a stream hold only complete UTF-8? */
static bool utf8_complete(const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] < 0x80 ? 1 : u[i] < 0xE0 ? 2 : u[i] < 0xF0 ? 3 : 4;
        if (u[i] >= 0x80 && u[i] < 0xC2) return false;
        if (i + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if ((u[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}

/* Stream `ids` one by one; the output must be complete UTF-8 at every step
 * and add up to `want`. */
static bool stream_matches(const tok_tokenizer *t, const int32_t *ids, size_t n, bool skip,
                           const char *want, size_t wlen)
{
    tok_stream *s = NULL;
    ocr_err e = {0};
    if (tok_stream_create(&s, t, skip, &e) != OCR_OK) return false;
    char *acc = malloc(wlen + 64);
    size_t at = 0;
    bool ok = acc != NULL;
    for (size_t i = 0; i <= n && ok; i++) {
        const char *chunk;
        size_t cl;
        ocr_status rc = i < n ? tok_stream_put(s, ids[i], &chunk, &cl, &e)
                              : tok_stream_flush(s, &chunk, &cl, &e);
        ok = rc == OCR_OK && utf8_complete(chunk, cl) && at + cl <= wlen + 32;
        if (ok) {
            memcpy(acc + at, chunk, cl);
            at += cl;
        }
    }
    ok = ok && at == wlen && memcmp(acc, want, wlen) == 0;
    free(acc);
    tok_stream_destroy(&s);
    return ok;
}

/* ------------------------------------------------ (1) feature tests */

static void test_merges(void)
{
    tok_tokenizer *t = load(DATA "merges.json");
    if (!t) return;
    /* a b c: "b c" (rank 0) beats "a b" (rank 1), then "a bc" → abc. */
    ENC(t, "rank order", "abc", 6);
    /* a b c d: "b c" first, so "c d" never forms: abc + d, not abcd (which
     * a left-to-right merger would reach through ab, cd, abcd). */
    ENC(t, "rank order", "abcd", 6, 10);
    /* Equal ranks merge leftmost first: aa + a. */
    ENC(t, "leftmost", "aaa", 7, 0);
    /* aa a a a → aa aa a → aaaa a. */
    ENC(t, "cascade", "aaaaa", 17, 0);
    /* " ab": one piece Ġab; "a b" (1) beats "Ġ a" (5), and Ġ+ab has no
     * merge, so Ġab (9) is unreachable. */
    ENC(t, "rank order", " ab", 3, 4);
    /* No merges: characters. "xyz" is a token but merges cannot reach it. */
    ENC(t, "no merge", "xyz", 14, 15, 16);
    /* GPT-2 regex pieces: "ab" | " abc" */
    ENC(t, "pieces", "ab abc", 4, 3, 6);
    check_enc(t, "empty", "", false, NULL, 0, __FILE__, __LINE__);
    DEC(t, false, "abcd ab", 6, 10, 3, 4);
    TST_CHECK(tok_vocab_size(t) == 18, "vocab size %d", tok_vocab_size(t));
    TST_CHECK(tok_id(t, "Ġab") == 9 && tok_id(t, "nope") == -1, "tok_id");
    TST_CHECK(tok_token_str(t, 12) && strcmp(tok_token_str(t, 12), "abcd") == 0, "tok_token_str");
    TST_CHECK(tok_token_str(t, 18) == NULL && tok_token_str(t, -1) == NULL, "no token");
    TST_CHECK(tok_bos(t) == -1 && tok_eos(t) == -1, "no bos/eos without a config");
    /* Characters missing from the vocab (no unk, no byte fallback) are
     * dropped, as the reference does. */
    ENC(t, "missing chars", "aq", 0);
    /* Text that is not UTF-8 is refused. */
    int32_t *ids = NULL;
    size_t n = 0;
    ocr_err e = {0};
    TST_CHECK(tok_encode(t, "a\xC3(", 3, false, &ids, &n, &e) == OCR_E_ARG && !ids,
              "invalid UTF-8 refused: %s", e.msg);
    /* Caller buffer variant. */
    int32_t buf[2];
    TST_CHECK(tok_encode_into(t, "abcd", 4, false, buf, 2, &n, &e) == OCR_OK && n == 2 &&
                  buf[0] == 6 && buf[1] == 10,
              "encode_into");
    /* "abcd" | " abcd" = abc d | Ġ abc d: 5 ids */
    TST_CHECK(tok_encode_into(t, "abcd abcd", 9, false, buf, 2, &n, &e) == OCR_E_LIMIT && n == 5,
              "encode_into too small: %s", e.msg);
    tok_destroy(&t);
    TST_CHECK(t == NULL, "destroy nulls");
    tok_destroy(&t);
    tok_destroy(NULL);
}

static void test_merges_pairs(void)
{
    /* Same vocab and merges written as [a, b] pairs, plus ignore_merges. */
    tok_tokenizer *t = load(DATA "merges_pairs.json");
    if (!t) return;
    ENC(t, "pairs", "aaaaa", 17, 0);
    /* " ab" is the piece "Ġab", which is a token: taken whole (merges.json
     * gives Ġ ab). */
    ENC(t, "ignore_merges", " ab", 9);
    /* ignore_merges: a piece that is a token is taken whole. */
    ENC(t, "ignore_merges", "abcd", 12);
    ENC(t, "ignore_merges", "xyz", 13);
    ENC(t, "ignore_merges", " xyz", 3, 14, 15, 16); /* "Ġxyz" is not a token */
    DEC(t, false, "xyz", 13);
    tok_destroy(&t);
}

static void test_added(void)
{
    tok_tokenizer *t = load(DATA "added.json");
    if (!t) return;
    /* Added tokens are cut first; "ab" (normalized) in the gap too. */
    ENC(t, "added", "<s>ab</s>", 20, 27, 21);
    /* Longest match: "[a]b" over "[a]"; then "[a]" and a plain "c". */
    ENC(t, "longest", "[a]b[a]c", 23, 22, 2);
    /* single_word "xx": only with no word character on either side. */
    ENC(t, "single_word", "xx a", 24, 4, 0);
    ENC(t, "single_word", "b xx", 1, 4, 24);
    ENC(t, "single_word", "xx", 24);
    ENC(t, "single_word refused", "axx", 0, 3, 3);
    ENC(t, "single_word refused", "xxa", 3, 3, 0);
    /* lstrip: the spaces before <L> belong to it. */
    ENC(t, "lstrip", "a  <L>b", 0, 25, 1);
    /* rstrip: the spaces after <R> belong to it. */
    ENC(t, "rstrip", "a<R>  b", 0, 26, 1);
    /* Without the flags the spaces stay text: " " → Ġ. */
    ENC(t, "no strip", "a <R>", 0, 4, 26);
    /* normalized:false tokens are cut before normalized:true ones, so
     * "<s>" wins over the earlier-starting "a<s". */
    ENC(t, "pass order", "a<s>", 0, 20);
    ENC(t, "normalized token", "a<sb", 28, 1);
    /* Template post-processor: <s> $A </s>. */
    ENC_SPECIAL(t, "template", "ab", 20, 27, 21);
    ENC_SPECIAL(t, "template", "", 20, 21);
    /* Decoding: added contents verbatim; skip_special drops special only. */
    DEC(t, false, "<s>a[a]</s>", 20, 0, 22, 21);
    DEC(t, true, "a[a]", 20, 0, 22, 21);
    /* Ids with no token (gaps 14..19, past the end, negative) are dropped. */
    DEC(t, false, "ab", 0, 14, 1, 99, -5);
    TST_CHECK(tok_is_special(t, 20) && tok_is_special(t, 21) && !tok_is_special(t, 22) &&
                  !tok_is_special(t, 0) && !tok_is_special(t, 500),
              "special flags");
    TST_CHECK(tok_is_added(t, 22) && !tok_is_added(t, 0), "added flags");
    TST_CHECK(tok_id(t, "[a]b") == 23 && tok_id(t, "Ġ") == 4, "tok_id");
    TST_CHECK(tok_vocab_size(t) == 29, "vocab size %d", tok_vocab_size(t));
    tok_destroy(&t);
}

static void test_split(void)
{
    static const struct {
        const char *behavior;
        bool invert;
        const char *text;
        int32_t want[6];
        size_t n;
    } cases[] = {
        /* "ab-cd": pieces per behavior; ids 5 ab, 4 -, 6 cd, 7 ab-, 8 -cd */
        {"Isolated", false, "ab-cd", {5, 4, 6}, 3},
        {"Removed", false, "ab-cd", {5, 6}, 2},
        {"MergedWithPrevious", false, "ab-cd", {7, 6}, 2},
        {"MergedWithNext", false, "ab-cd", {5, 8}, 2},
        {"Contiguous", false, "ab-cd", {5, 4, 6}, 3},
        /* "ab--cd": two adjacent matches (9 is "--") */
        {"Isolated", false, "ab--cd", {5, 4, 4, 6}, 4},
        {"Contiguous", false, "ab--cd", {5, 9, 6}, 3},
        {"Removed", false, "ab--cd", {5, 6}, 2},
        /* a match only merges into a non-match: ab- | - | cd */
        {"MergedWithPrevious", false, "ab--cd", {7, 4, 6}, 3},
        {"MergedWithNext", false, "ab--cd", {5, 4, 8}, 3},
        /* invert: the stretches between dashes are the "matches" */
        {"Removed", true, "ab-cd", {4}, 1},
        {"MergedWithPrevious", true, "ab-cd", {5, 8}, 2},
        {"MergedWithNext", true, "ab-cd", {7, 6}, 2},
        {"Isolated", true, "ab-cd", {5, 4, 6}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char to[128], name[64], what[96];
        snprintf(to, sizeof to, "\"behavior\": \"%s\", \"invert\": %s", cases[i].behavior,
                 cases[i].invert ? "true" : "false");
        snprintf(name, sizeof name, "split_%zu.json", i);
        snprintf(what, sizeof what, "Split %s%s", cases[i].behavior,
                 cases[i].invert ? " invert" : "");
        const char *path = variant(DATA "split.json", name,
                                   "\"behavior\": \"Isolated\", \"invert\": false", to);
        tok_tokenizer *t = path ? load(path) : NULL;
        if (!t) continue;
        check_enc(t, what, cases[i].text, false, cases[i].want, cases[i].n, __FILE__, __LINE__);
        tok_destroy(&t);
    }
    /* A Regex pattern instead of a String one: "-+" isolates "--". */
    const char *path = variant(DATA "split.json", "split_regex.json", "{\"String\": \"-\"}",
                               "{\"Regex\": \"-+\"}");
    tok_tokenizer *t = path ? load(path) : NULL;
    if (t) {
        ENC(t, "Split regex", "ab--cd", 5, 9, 6);
        DEC(t, false, "ab--cd", 5, 9, 6);
        tok_destroy(&t);
    }
    /* \s is Unicode White_Space, as in Oniguruma: U+180E is not a space
     * (PCRE2's own \s says it is). Characters without a token are dropped,
     * so "-" U+180E "-" in one piece merges to "--" (9); split, it is - -. */
    path = variant(DATA "split.json", "split_ws.json",
                   "{\"String\": \"-\"}, \"behavior\": \"Isolated\"",
                   "{\"Regex\": \"\\\\s+\"}, \"behavior\": \"Removed\"");
    t = path ? load(path) : NULL;
    if (t) {
        ENC(t, "\\s is White_Space", "-\xE1\xA0\x8E-", 9); /* U+180E */
        ENC(t, "\\s is White_Space", "-\xE2\x80\x8B-", 9); /* U+200B */
        ENC(t, "\\s is White_Space", "- -", 4, 4);
        ENC(t, "\\s is White_Space", "-\xE3\x80\x80-", 4, 4); /* U+3000 */
        ENC(t, "\\s is White_Space", "-\xC2\x85-", 4, 4);     /* U+0085 */
        tok_destroy(&t);
    }
    /* \w includes marks in Oniguruma: U+0301 alone is a word. */
    path = variant(DATA "split.json", "split_word.json",
                   "{\"String\": \"-\"}, \"behavior\": \"Isolated\"",
                   "{\"Regex\": \"\\\\w+\"}, \"behavior\": \"Removed\"");
    t = path ? load(path) : NULL;
    if (t) {
        ENC(t, "\\w has marks", "-\xCC\x81-", 4, 4);
        ENC(t, "\\w", "-ab-", 4, 4);
        ENC(t, "\\w", "-+-", 9);
        tok_destroy(&t);
    }
    /* A String pattern is literal: "." must not match any character. */
    path = variant(DATA "split.json", "split_dot.json", "{\"String\": \"-\"}",
                   "{\"String\": \".\"}");
    t = path ? load(path) : NULL;
    if (t) {
        /* one piece a b - c d: ab (rank 0), cd (1), ab- (2); "- cd" cannot
         * apply once "-" is inside ab- */
        ENC(t, "Split literal", "ab-cd", 7, 6);
        tok_destroy(&t);
    }
}

static void test_split_empty(void)
{
    /* An empty String pattern never matches (the reference special-cases
     * it): one piece, and with invert the whole piece is the "match". */
    const char *path = variant(DATA "split.json", "split_empty.json", "{\"String\": \"-\"}",
                               "{\"String\": \"\"}");
    tok_tokenizer *t = path ? load(path) : NULL;
    if (t) {
        ENC(t, "Split empty String", "ab-cd", 7, 6);
        tok_destroy(&t);
    }
    path = variant(DATA "split.json", "split_empty_inv.json",
                   "{\"String\": \"-\"}, \"behavior\": \"Isolated\", \"invert\": false",
                   "{\"String\": \"\"}, \"behavior\": \"Removed\", \"invert\": true");
    t = path ? load(path) : NULL;
    if (t) {
        check_enc(t, "Split empty String inverted+Removed", "ab-cd", false, NULL, 0, __FILE__,
                  __LINE__);
        tok_destroy(&t);
    }
}

static void test_bytelevel(void)
{
    tok_tokenizer *t = load(DATA "bytelevel.json"); /* model without "type" */
    if (!t) return;
    /* add_prefix_space → " a  b"; GPT-2 regex: " a", " " (\s+(?!\S) gives
     * back the space before b), " b". */
    ENC(t, "gpt2 regex", "a  b", 3, 0, 4);
    ENC(t, "prefix space kept once", " a", 3);
    ENC(t, "newline", "a\n", 3, 5);
    ENC(t, "digits", "12", 0, 6, 7);
    /* é = C3 A9 → symbols Ã © → merged. */
    ENC(t, "bytes", "\xC3\xA9", 0, 11);
    DEC(t, false, " a  b", 3, 0, 4);
    DEC(t, false, "\xC3\xA9", 9, 10);
    /* A lone lead byte is U+FFFD; a lone continuation byte too. */
    DEC(t, false, "\xEF\xBF\xBD", 9);
    DEC(t, false, "\xEF\xBF\xBD\xEF\xBF\xBD", 10, 10);
    DEC(t, false, "\xEF\xBF\xBD a", 9, 3);

    /* Streaming: the lead byte is held back until its continuation. */
    tok_stream *s = NULL;
    ocr_err e = {0};
    const char *out;
    size_t n;
    TST_CHECK(tok_stream_create(&s, t, false, &e) == OCR_OK, "stream create");
    if (s) {
        TST_CHECK(tok_stream_put(s, 9, &out, &n, &e) == OCR_OK && n == 0, "held back");
        TST_CHECK(tok_stream_put(s, 10, &out, &n, &e) == OCR_OK && n == 2 &&
                      memcmp(out, "\xC3\xA9", 2) == 0,
                  "completed");
        /* A lead byte followed by a byte that cannot continue it: U+FFFD at
         * once, then the new byte. */
        TST_CHECK(tok_stream_put(s, 9, &out, &n, &e) == OCR_OK && n == 0, "held back");
        TST_CHECK(tok_stream_put(s, 3, &out, &n, &e) == OCR_OK && n == 5 &&
                      memcmp(out, "\xEF\xBF\xBD a", 5) == 0,
                  "invalid continuation");
        /* Incomplete at the end: flush gives U+FFFD. */
        TST_CHECK(tok_stream_put(s, 9, &out, &n, &e) == OCR_OK && n == 0, "held back");
        TST_CHECK(tok_stream_flush(s, &out, &n, &e) == OCR_OK && n == 3 &&
                      memcmp(out, "\xEF\xBF\xBD", 3) == 0,
                  "flush");
        TST_CHECK(tok_stream_flush(s, &out, &n, &e) == OCR_OK && n == 0, "flush twice");
        /* reset drops what is held. */
        TST_CHECK(tok_stream_put(s, 9, &out, &n, &e) == OCR_OK && n == 0, "held back");
        tok_stream_reset(s);
        TST_CHECK(tok_stream_put(s, 1, &out, &n, &e) == OCR_OK && n == 1 && out[0] == 'a',
                  "after reset");
        TST_CHECK(tok_stream_put(s, 12345, &out, &n, &e) == OCR_OK && n == 0, "unknown id");
        tok_stream_destroy(&s);
        TST_CHECK(s == NULL, "stream destroy nulls");
        tok_stream_destroy(&s);
    }
    tok_destroy(&t);
}

static void test_digits(void)
{
    tok_tokenizer *t = load(DATA "digits.json");
    if (t) {
        ENC(t, "individual digits", "a123", 0, 1, 2, 3);
        ENC(t, "individual digits", "a1", 0, 1); /* not "a1" */
        tok_destroy(&t);
    }
    const char *path = variant(DATA "digits.json", "digits_runs.json",
                               "\"individual_digits\": true", "\"individual_digits\": false");
    t = path ? load(path) : NULL;
    if (t) {
        ENC(t, "digit runs", "a123", 0, 5);
        ENC(t, "digit runs", "12a3", 4, 0, 3);
        tok_destroy(&t);
    }
}

static void test_fallback(void)
{
    /* No pre-tokenizer, no decoder: plain character BPE. */
    tok_tokenizer *t = load(DATA "fallback.json");
    if (t) {
        /* é has no token: its bytes' <0xC3> <0xA9> do. */
        ENC(t, "byte_fallback", "ab\xC3\xA9", 5, 2, 3);
        /* € = E2 82 AC: no <0xE2>, so unk; not fused. */
        ENC(t, "unk", "a\xE2\x82\xAC\xE2\x82\xAC", 1, 0, 0);
        ENC(t, "unk literal", "<unk>a", 0, 1);
        /* The reference joins tokens with spaces when there is no decoder. */
        DEC(t, false, "ab b", 5, 4);
        DEC(t, true, "a", 0, 1);
        tok_destroy(&t);
    }
    const char *path = variant(DATA "fallback.json", "fallback_fuse.json",
                               "\"fuse_unk\": false", "\"fuse_unk\": true");
    t = path ? load(path) : NULL;
    if (t) {
        ENC(t, "fuse_unk", "a\xE2\x82\xAC\xE2\x82\xAC" "b\xE2\x82\xAC", 1, 0, 4, 0);
        tok_destroy(&t);
    }
    path = variant(DATA "fallback.json", "fallback_nobf.json", "\"byte_fallback\": true",
                   "\"byte_fallback\": false");
    t = path ? load(path) : NULL;
    if (t) {
        ENC(t, "no byte_fallback", "ab\xC3\xA9", 5, 0);
        tok_destroy(&t);
    }
}

/* Gzip `n` bytes (gzip framing, as `gzip` writes). */
static uint8_t *gzip_bytes(const void *in, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int zr = out ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_gzip_and_dir(void)
{
    size_t len, gz_len;
    char *json = slurp(DATA "merges.json", &len);
    uint8_t *gz = json ? gzip_bytes(json, len, &gz_len) : NULL;
    TST_CHECK(gz != NULL, "gzip fixture");
    if (gz) {
        /* The name does not matter: the magic bytes do. */
        tok_tokenizer *t = load(tst_write_file("small.json.gz", gz, gz_len));
        if (t) ENC(t, "gzip", "abcd", 6, 10);
        tok_destroy(&t);
        ocr_err e = {0};
        const char *p = tst_write_file("truncated.json.gz", gz, gz_len / 2);
        ocr_status rc = tok_load(&t, p, &e);
        TST_CHECK(rc == OCR_E_FORMAT && !t && strstr(e.msg, "truncated.json.gz") &&
                      strstr(e.msg, "truncated"),
                  "truncated gzip: %s", e.msg);
        uint8_t *bad = malloc(gz_len);
        memcpy(bad, gz, gz_len);
        for (size_t i = 12; i < gz_len - 8; i += 7) bad[i] ^= 0x5A;
        p = tst_write_file("corrupt.json.gz", bad, gz_len);
        rc = tok_load(&t, p, &e);
        TST_CHECK(rc != OCR_OK && !t && strstr(e.msg, "corrupt.json.gz"), "corrupt gzip: %s",
                  e.msg);
        free(bad);
    }

    /* A model directory: tokenizer.json + tokenizer_config.json beside it. */
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/model", tst_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "model/tokenizer.json");
    if (json) tst_write_file(path, json, len);
    static const char cfg[] =
        "{\"add_bos_token\": true, \"add_eos_token\": false,"
        " \"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"Ġ\"}, \"eos_token\": \"z\","
        " \"added_tokens_decoder\": {\"40\": {\"content\": \"<image>\", \"special\": true,"
        " \"normalized\": false, \"lstrip\": false, \"rstrip\": false, \"single_word\": false}}}";
    tst_write_file("model/tokenizer_config.json", cfg, strlen(cfg));
    tok_tokenizer *t = load(dir);
    if (t) {
        TST_CHECK(tok_bos(t) == 3 && tok_eos(t) == 16, "bos %d eos %d", tok_bos(t), tok_eos(t));
        ENC_SPECIAL(t, "add_bos_token", "abcd", 3, 6, 10);
        ENC(t, "no specials", "abcd", 6, 10);
        TST_CHECK(tok_id(t, "<image>") == 40 && tok_is_special(t, 40), "config added token");
        ENC(t, "config added token", "a<image>b", 0, 40, 1);
        DEC(t, true, "ab", 0, 40, 1);
        TST_CHECK(tok_vocab_size(t) == 41, "vocab size %d", tok_vocab_size(t));
        tok_destroy(&t);
    }
    /* add_bos_token with a bos that is no token. */
    static const char bad_cfg[] = "{\"add_bos_token\": true, \"bos_token\": \"<nope>\"}";
    tst_write_file("model/tokenizer_config.json", bad_cfg, strlen(bad_cfg));
    ocr_err e = {0};
    ocr_status rc = tok_load(&t, dir, &e);
    TST_CHECK(rc == OCR_E_CONFIG && !t && strstr(e.msg, "tokenizer_config.json") &&
                  strstr(e.msg, "<nope>"),
              "bad bos: %s", e.msg);
    tst_write_file("model/tokenizer_config.json", "{\"add_bos_token\": 1}", 20);
    rc = tok_load(&t, dir, &e);
    TST_CHECK(rc == OCR_E_FORMAT && strstr(e.msg, "tokenizer_config.json") &&
                  strstr(e.msg, "add_bos_token"),
              "bad config type: %s", e.msg);
    tst_write_file("model/tokenizer_config.json", "{oops", 5);
    rc = tok_load(&t, dir, &e);
    TST_CHECK(rc == OCR_E_FORMAT && strstr(e.msg, "tokenizer_config.json") &&
                  strstr(e.msg, "invalid JSON"),
              "bad config JSON: %s", e.msg);
    free(gz);
    free(json);
}

/* ------------------------------------------------ (2) hostile inputs */

static void expect_fail(const char *name, const char *json, ocr_status want,
                        const char *needle, int line)
{
    const char *path = tst_write_file(name, json, strlen(json));
    tok_tokenizer *t = NULL;
    ocr_err e = {0};
    ocr_status rc = tok_load(&t, path, &e);
    tst_check(rc == want && t == NULL && strstr(e.msg, name) && strstr(e.msg, needle), __FILE__,
              line, "%s: status %s, message '%s' (want %s and '%s')", name, ocr_status_str(rc),
              e.msg, ocr_status_str(want), needle);
    tok_destroy(&t);
}

#define FAIL_LOAD(name, json, want, needle) expect_fail(name, json, want, needle, __LINE__)

static void test_hostile(void)
{
    tok_tokenizer *t = NULL;
    ocr_err e = {0};
    ocr_status rc = tok_load(&t, DATA "does_not_exist.json", &e);
    TST_CHECK(rc == OCR_E_IO && !t && strstr(e.msg, "does_not_exist.json"), "missing: %s",
              e.msg);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/emptydir", tst_tmpdir());
    mkdir(dir, 0755);
    rc = tok_load(&t, dir, &e);
    TST_CHECK(rc == OCR_E_NOTFOUND && !t && strstr(e.msg, "emptydir"), "empty dir: %s", e.msg);
    TST_CHECK(tok_load(NULL, "x", &e) == OCR_E_ARG, "NULL out");

#define MODEL(v, m) "{\"model\": {\"vocab\": " v ", \"merges\": " m "}"
    FAIL_LOAD("empty.json", "", OCR_E_FORMAT, "invalid JSON");
    FAIL_LOAD("truncated.json", "{\"model\": {\"vocab\": {\"a\": 0", OCR_E_FORMAT, "invalid JSON");
    FAIL_LOAD("array.json", "[1, 2]", OCR_E_FORMAT, "object");
    FAIL_LOAD("nomodel.json", "{}", OCR_E_FORMAT, "model");
    FAIL_LOAD("vocab_array.json", MODEL("[\"a\"]", "[]") "}", OCR_E_FORMAT, "model.vocab");
    FAIL_LOAD("vocab_str_id.json", MODEL("{\"a\": \"0\"}", "[]") "}", OCR_E_FORMAT,
              "model.vocab['a']");
    FAIL_LOAD("vocab_neg_id.json", MODEL("{\"a\": -1}", "[]") "}", OCR_E_FORMAT, "integer id");
    FAIL_LOAD("vocab_huge_id.json", MODEL("{\"a\": 99999999999}", "[]") "}", OCR_E_FORMAT,
              "integer id");
    FAIL_LOAD("vocab_empty.json", MODEL("{}", "[]") "}", OCR_E_FORMAT, "empty");
    FAIL_LOAD("no_merges.json", "{\"model\": {\"vocab\": {\"a\": 0}}}", OCR_E_FORMAT,
              "model.merges");
    FAIL_LOAD("merge_unknown.json", MODEL("{\"a\": 0, \"b\": 1}", "[\"a q\"]") "}",
              OCR_E_FORMAT, "'q' is not in the vocab");
    FAIL_LOAD("merge_result.json", MODEL("{\"a\": 0, \"b\": 1}", "[\"a b\"]") "}", OCR_E_FORMAT,
              "merged token 'ab'");
    FAIL_LOAD("merge_nospace.json", MODEL("{\"a\": 0}", "[\"aa\"]") "}", OCR_E_FORMAT,
              "model.merges[0]");
    FAIL_LOAD("merge_pair3.json", MODEL("{\"a\": 0}", "[[\"a\", \"a\", \"a\"]]") "}",
              OCR_E_FORMAT, "model.merges[0]");
    FAIL_LOAD("merge_int.json", MODEL("{\"a\": 0}", "[7]") "}", OCR_E_FORMAT, "model.merges[0]");
    FAIL_LOAD("wordpiece.json",
              "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
              OCR_E_UNSUPPORTED, "WordPiece");
    FAIL_LOAD("unk_missing.json",
              "{\"model\": {\"unk_token\": \"<unk>\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
              OCR_E_FORMAT, "unk_token");
    FAIL_LOAD("bad_regex.json",
              MODEL("{\"a\": 0}", "[]") ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
                                        "{\"Regex\": \"(a\"}, \"behavior\": \"Isolated\"}}",
              OCR_E_FORMAT, "bad regex");
    FAIL_LOAD("bad_prop.json",
              MODEL("{\"a\": 0}", "[]") ", \"pre_tokenizer\": {\"type\": \"Sequence\", "
                                        "\"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
                                        "{\"Regex\": \"\\\\p{Nope}\"}, \"behavior\": "
                                        "\"Isolated\"}]}}",
              OCR_E_FORMAT, "pre_tokenizer.pretokenizers[0].pattern.Regex");
    FAIL_LOAD("bad_behavior.json",
              MODEL("{\"a\": 0}", "[]") ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
                                        "{\"String\": \"a\"}, \"behavior\": \"Sideways\"}}",
              OCR_E_FORMAT, "Sideways");
    FAIL_LOAD("bad_pattern.json",
              MODEL("{\"a\": 0}", "[]") ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
                                        "\"a\", \"behavior\": \"Isolated\"}}",
              OCR_E_FORMAT, "pattern");
    FAIL_LOAD("pretok_type.json",
              MODEL("{\"a\": 0}", "[]") ", \"pre_tokenizer\": {\"type\": \"Metaspace\"}}",
              OCR_E_UNSUPPORTED, "Metaspace");
    FAIL_LOAD("normalizer.json",
              MODEL("{\"a\": 0}", "[]") ", \"normalizer\": {\"type\": \"NFKC\"}}",
              OCR_E_UNSUPPORTED, "NFKC");
    FAIL_LOAD("decoder.json", MODEL("{\"a\": 0}", "[]") ", \"decoder\": {\"type\": \"WordPiece\"}}",
              OCR_E_UNSUPPORTED, "decoder");
    FAIL_LOAD("added_noid.json",
              MODEL("{\"a\": 0}", "[]") ", \"added_tokens\": [{\"content\": \"<x>\"}]}",
              OCR_E_FORMAT, "added_tokens[0].id");
    FAIL_LOAD("added_nocontent.json",
              MODEL("{\"a\": 0}", "[]") ", \"added_tokens\": [{\"id\": 3}]}", OCR_E_FORMAT,
              "added_tokens[0].content");
    FAIL_LOAD("added_flag.json",
              MODEL("{\"a\": 0}", "[]") ", \"added_tokens\": [{\"id\": 3, \"content\": \"x\", "
                                        "\"special\": \"yes\"}]}",
              OCR_E_FORMAT, "special");
    FAIL_LOAD("template.json",
              MODEL("{\"a\": 0}", "[]") ", \"post_processor\": {\"type\": \"TemplateProcessing\", "
                                        "\"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}], "
                                        "\"special_tokens\": {}}}",
              OCR_E_FORMAT, "<s>");
    /* Sequence nested 20 deep. */
    char deep[2048] = "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": ";
    for (int i = 0; i < 20; i++) strcat(deep, "{\"type\": \"Sequence\", \"pretokenizers\": [");
    for (int i = 0; i < 20; i++) strcat(deep, "]}");
    strcat(deep, "}");
    FAIL_LOAD("deep.json", deep, OCR_E_LIMIT, "nested");
#undef MODEL

    /* In-memory loading and its argument checks. */
    static const char mini[] = "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}}";
    rc = tok_load_memory(&t, mini, strlen(mini), NULL, 0, "mini", &e);
    TST_CHECK(rc == OCR_OK && t, "load_memory: %s", e.msg);
    if (t) ENC(t, "mini", "aa", 0, 0);
    tok_destroy(&t);
    rc = tok_load_memory(&t, "{", 1, NULL, 0, "mini-bad", &e);
    TST_CHECK(rc == OCR_E_FORMAT && strstr(e.msg, "mini-bad"), "load_memory bad: %s", e.msg);

    /* Every prefix of a valid file must fail cleanly (or, for the whole
     * file, load). */
    size_t len;
    char *json = slurp(DATA "added.json", &len);
    int bad = 0;
    for (size_t cut = 0; json && cut < len; cut += 7) {
        rc = tok_load_memory(&t, json, cut, NULL, 0, "prefix", &e);
        if (rc == OCR_OK || t || !strstr(e.msg, "prefix")) bad++;
        tok_destroy(&t);
    }
    TST_CHECK(json && bad == 0, "truncated prefixes: %d loaded or bad message", bad);

    /* Corrupted bytes: any status is fine, a crash or leak is not; what
     * still loads must encode and decode. */
    static const char junk[] = "\"{}[]:,0-9a\\\xC3\xFF ";
    int loaded = 0, failed_named = 0, failed = 0;
    for (size_t i = 0; json && i < len; i += 3) {
        char *c = malloc(len);
        memcpy(c, json, len);
        c[i] = junk[i % (sizeof junk - 1)];
        rc = tok_load_memory(&t, c, len, NULL, 0, "corrupt", &e);
        if (rc == OCR_OK) {
            int32_t *ids = NULL;
            size_t n = 0;
            char *d = NULL;
            size_t dl = 0;
            loaded++;
            if (tok_encode(t, "<s>ab [a]b xx\n", 13, true, &ids, &n, &e) == OCR_OK)
                tok_decode(t, ids, n, false, &d, &dl, &e);
            free(ids);
            free(d);
        } else {
            failed++;
            failed_named += strstr(e.msg, "corrupt") != NULL;
        }
        tok_destroy(&t);
        free(c);
    }
    TST_CHECK(failed_named == failed && loaded + failed > 0,
              "corrupted files: %d loaded, %d refused, %d without the name", loaded, failed,
              failed - failed_named);
    free(json);
}

/* --------------------------------------------- (3) golden fixtures */

static const char *shared_dir(void)
{
    static char dir[1024];
    const char *s = getenv("VLOCR_SHARED");
    snprintf(dir, sizeof dir, "%s/conformance/tokenizer", s && *s ? s : "../shared");
    return dir;
}

static bool json_ids(const json_t *arr, int32_t **ids, size_t *n)
{
    *n = json_array_size(arr);
    *ids = malloc((*n ? *n : 1) * sizeof **ids);
    if (!*ids || !json_is_array(arr)) return false;
    for (size_t i = 0; i < *n; i++) (*ids)[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return true;
}

static bool str_eq(const char *a, size_t la, const json_t *b)
{
    return json_is_string(b) && json_string_length(b) == la &&
           memcmp(a, json_string_value(b), la) == 0;
}

/* Each line of a .jsonl file, parsed; returns the count, -1 when the file
 * cannot be read. */
typedef void (*line_fn)(const json_t *o, void *ctx);
static int each_line(const char *path, line_fn fn, void *ctx)
{
    size_t len;
    char *s = slurp(path, &len);
    if (!s) return -1;
    int n = 0;
    for (char *p = s; p < s + len;) {
        char *nl = memchr(p, '\n', (size_t)(s + len - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(s + len - p);
        if (ll) {
            json_error_t je;
            json_t *o = json_loadb(p, ll, JSON_ALLOW_NUL, &je);
            TST_CHECK(o != NULL, "%s line %d: %s", path, n + 1, je.text);
            if (o) fn(o, ctx);
            json_decref(o);
            n++;
        }
        p += ll + 1;
    }
    free(s);
    return n;
}

typedef struct {
    const tok_tokenizer *t;
    const char *label;
    int total, pass, stream_pass, shown;
} case_ctx;

static void encode_case(const json_t *o, void *vctx)
{
    case_ctx *c = vctx;
    const json_t *text = json_object_get(o, "text");
    const json_t *dec = json_object_get(o, "decoded");
    const json_t *dec_skip = json_object_get(o, "decoded_skip_special");
    if (!dec_skip) dec_skip = dec;
    int32_t *want = NULL, *got = NULL;
    size_t nwant = 0, ngot = 0;
    bool ok = json_ids(json_object_get(o, "ids"), &want, &nwant) && json_is_string(text);
    ocr_err e = {0};
    ok = ok && tok_encode(c->t, json_string_value(text), json_string_length(text), false, &got,
                          &ngot, &e) == OCR_OK;
    bool enc_ok = ok && ngot == nwant && (!nwant || memcmp(got, want, nwant * sizeof *got) == 0);
    char *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    bool dec_ok = ok && tok_decode(c->t, want, nwant, false, &d1, &l1, &e) == OCR_OK &&
                  str_eq(d1, l1, dec);
    bool skip_ok = ok && tok_decode(c->t, want, nwant, true, &d2, &l2, &e) == OCR_OK &&
                   str_eq(d2, l2, dec_skip);
    bool stream_ok = ok && stream_matches(c->t, want, nwant, false, json_string_value(dec),
                                          json_string_length(dec));
    c->total++;
    if (enc_ok && dec_ok && skip_ok) c->pass++;
    if (stream_ok) c->stream_pass++;
    if (!(enc_ok && dec_ok && skip_ok && stream_ok) && c->shown++ < 8) {
        char g[2048], w[2048];
        fmt_ids(g, sizeof g, got, ngot);
        fmt_ids(w, sizeof w, want, nwant);
        printf("  %s %s: enc %s dec %s skip %s stream %s\n    got  [%s]\n    want [%s]\n",
               c->label, json_string_value(json_object_get(o, "id")), enc_ok ? "ok" : "FAIL",
               dec_ok ? "ok" : "FAIL", skip_ok ? "ok" : "FAIL", stream_ok ? "ok" : "FAIL", g, w);
    }
    free(want);
    free(got);
    free(d1);
    free(d2);
}

static void decode_case(const json_t *o, void *vctx)
{
    case_ctx *c = vctx;
    int32_t *ids = NULL;
    size_t n = 0;
    bool skip = json_is_true(json_object_get(o, "skip_special_tokens"));
    const json_t *want = json_object_get(o, "decoded");
    bool ok = json_ids(json_object_get(o, "ids"), &ids, &n) && json_is_string(want);
    char *d = NULL;
    size_t l = 0;
    ocr_err e = {0};
    bool dec_ok = ok && tok_decode(c->t, ids, n, skip, &d, &l, &e) == OCR_OK && str_eq(d, l, want);
    bool stream_ok = ok && stream_matches(c->t, ids, n, skip, json_string_value(want),
                                          json_string_length(want));
    c->total++;
    if (dec_ok) c->pass++;
    if (stream_ok) c->stream_pass++;
    if (!(dec_ok && stream_ok) && c->shown++ < 8)
        printf("  %s %s: got '%s' want '%s' (stream %s)\n", c->label,
               json_string_value(json_object_get(o, "id")), d ? d : "(null)",
               json_string_value(want), stream_ok ? "ok" : "FAIL");
    free(ids);
    free(d);
}

static void run_golden(const tok_tokenizer *t, const char *label, const char *dir,
                       int want_cases, int want_decode)
{
    char path[1200];
    case_ctx c = {.t = t, .label = label};
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    int n = each_line(path, encode_case, &c);
    printf("%s cases: %d/%d (streamed decode %d/%d)\n", label, c.pass, c.total, c.stream_pass,
           c.total);
    TST_CHECK(n == want_cases && c.pass == n && c.stream_pass == n, "%s cases %d/%d of %d",
              label, c.pass, n, want_cases);

    case_ctx d = {.t = t, .label = label};
    snprintf(path, sizeof path, "%s/decode_cases.jsonl", dir);
    n = each_line(path, decode_case, &d);
    printf("%s decode cases: %d/%d (streamed %d/%d)\n", label, d.pass, d.total, d.stream_pass,
           d.total);
    TST_CHECK(n == want_decode && d.pass == n && d.stream_pass == n,
              "%s decode cases %d/%d of %d", label, d.pass, n, want_decode);
}

/* Several threads share one tokenizer: same ids as the single-threaded
 * run (the fixture's ids). */
typedef struct {
    const tok_tokenizer *t;
    const char *path;
    int fails;
} thread_arg;

static void thread_case(const json_t *o, void *vctx)
{
    thread_arg *a = vctx;
    const json_t *text = json_object_get(o, "text");
    int32_t *want = NULL, *got = NULL;
    size_t nw = 0, ng = 0;
    ocr_err e = {0};
    bool ok = json_ids(json_object_get(o, "ids"), &want, &nw) &&
              tok_encode(a->t, json_string_value(text), json_string_length(text), false, &got, &ng,
                         &e) == OCR_OK &&
              ng == nw && (!nw || memcmp(got, want, nw * sizeof *got) == 0);
    if (!ok) a->fails++;
    free(want);
    free(got);
}

static void *thread_main(void *p)
{
    thread_arg *a = p;
    /* tst_check is not thread-safe: each_line only reports bad JSON, which
     * the main thread has already ruled out. */
    for (int r = 0; r < 2; r++) {
        size_t len;
        char *s = slurp(a->path, &len);
        if (!s) {
            a->fails++;
            return NULL;
        }
        for (char *q = s; q < s + len;) {
            char *nl = memchr(q, '\n', (size_t)(s + len - q));
            size_t ll = nl ? (size_t)(nl - q) : (size_t)(s + len - q);
            json_error_t je;
            json_t *o = ll ? json_loadb(q, ll, JSON_ALLOW_NUL, &je) : NULL;
            if (o) thread_case(o, a);
            json_decref(o);
            q += ll + 1;
        }
        free(s);
    }
    return NULL;
}

static void test_threads(const tok_tokenizer *t, const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/cases.jsonl", dir);
    enum { NT = 4 };
    pthread_t th[NT];
    thread_arg args[NT];
    int started = 0;
    for (int i = 0; i < NT; i++) {
        args[i] = (thread_arg){.t = t, .path = path};
        if (pthread_create(&th[i], NULL, thread_main, &args[i]) == 0) started++;
        else break;
    }
    int fails = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        fails += args[i].fails;
    }
    TST_CHECK(started == NT && fails == 0, "%d threads sharing one tokenizer: %d mismatches",
              started, fails);
}

static size_t put_utf8(char *out, uint32_t cp)
{
    uint8_t *u = (uint8_t *)out;
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | cp >> 6);
        u[1] = (uint8_t)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | cp >> 12);
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
        u[2] = (uint8_t)(0x80 | (cp & 63));
        return 3;
    }
    u[0] = (uint8_t)(0xF0 | cp >> 18);
    u[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
    u[2] = (uint8_t)(0x80 | ((cp >> 6) & 63));
    u[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

/* Random valid UTF-8 (ASCII, spaces of every kind, Latin, combining marks,
 * CJK, emoji, controls, noncharacters) must survive encode → decode exactly:
 * a byte-level vocab can spell anything. */
static void check_roundtrip(const tok_tokenizer *t, const char *label)
{
    static const uint32_t pool[] = {' ', ' ', ' ', '\n', '\t', '\r', 0, 0x85, 0xA0, 0x180E,
                                    0x200B, 0x2028, 0x3000, 0xFEFF, 0x301, 0x308, 0xE9,
                                    0x4E2D, 0x3042, 0x30AB, 0xAC00, 0x1F600, 0x1F468, 0x200D,
                                    0x1F1EF, 0xFFFF, 0x10FFFF, '1', '2', '<', '>', '|',
                                    0xFF5C, 0x2581, 0x120, 0x10A};
    uint64_t st = 0x9E3779B97F4A7C15ull;
    int bad = 0, stream_bad = 0;
    char buf[1200];
    for (int r = 0; r < 300; r++) {
        size_t n = 0;
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        int chars = (int)(st % 200);
        for (int k = 0; k < chars; k++) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            uint32_t cp = (st >> 8) % 3 == 0 ? pool[(st >> 16) % (sizeof pool / sizeof *pool)]
                                             : (uint32_t)(0x20 + (st >> 24) % 0x5F);
            n += put_utf8(buf + n, cp);
        }
        int32_t *ids = NULL;
        size_t ni = 0;
        char *d = NULL;
        size_t dl = 0;
        ocr_err e = {0};
        bool ok = tok_encode(t, buf, n, false, &ids, &ni, &e) == OCR_OK &&
                  tok_decode(t, ids, ni, false, &d, &dl, &e) == OCR_OK && dl == n &&
                  memcmp(d, buf, n) == 0;
        bad += !ok;
        stream_bad += ok && !stream_matches(t, ids, ni, false, buf, n);
        free(ids);
        free(d);
    }
    printf("%s random UTF-8 round trips: %d/300 (streamed %d/300)\n", label, 300 - bad,
           300 - bad - stream_bad);
    TST_CHECK(bad == 0 && stream_bad == 0, "%s round trips: %d failed, %d streams", label, bad,
              stream_bad);
}

static void test_deepseek_v3(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/tokenizer.json.gz", shared_dir());
    struct stat st;
    if (stat(path, &st) != 0) {
        tst_skip("deepseek-v3 fixtures", "tokenizer.json.gz not found (set VLOCR_SHARED)");
        return;
    }
    tok_tokenizer *t = load(path); /* gzip read directly; config beside it */
    if (!t) return;
    TST_CHECK(tok_vocab_size(t) == 128815, "vocab size %d", tok_vocab_size(t));
    TST_CHECK(tok_bos(t) == 0 && tok_eos(t) == 1, "bos %d eos %d", tok_bos(t), tok_eos(t));
    run_golden(t, "deepseek-v3", shared_dir(), 271, 89);

    /* DeepSeek-OCR's prompt pieces (fixture README, from mllm). */
    ENC(t, "ocr prompt", "\n", 201);
    ENC(t, "ocr prompt", "Convert the document to markdown. ", 21842, 270, 4940, 304, 2121, 7919,
        16, 223);
    /* add_bos_token: true in tokenizer_config.json → BOS 0 in front, as
     * LlamaTokenizerFast does and DeepSeek-OCR's text_encode does by hand. */
    ENC_SPECIAL(t, "bos", "\n", 0, 201);
    /* This V3 file has none of DeepSeek-OCR's extra added tokens: they are
     * plain text here (report for the lead). */
    static const char *const ocr_tokens[] = {"<image>", "<|ref|>", "<|/ref|>", "<|det|>",
                                             "<|/det|>", "<|grounding|>"};
    int present = 0;
    for (size_t i = 0; i < sizeof ocr_tokens / sizeof *ocr_tokens; i++)
        present += tok_id(t, ocr_tokens[i]) >= 0;
    printf("deepseek-v3: DeepSeek-OCR tokens (<image>, <|ref|>, ...) present: %d of 6; "
           "id 128815 has %s\n",
           present, tok_token_str(t, 128815) ? "a token" : "no token");
    TST_CHECK(present == 0 && tok_token_str(t, 128815) == NULL,
              "V3 fixture carries no OCR tokens");
    TST_CHECK(tok_id(t, "<｜begin▁of▁sentence｜>") == 0 && tok_id(t, "<|EOT|>") == 128805 &&
                  tok_is_special(t, 128805) && !tok_is_special(t, 128803),
              "V3 special tokens");

    /* Streaming a text with emoji, ZWJ sequences and CJK: pieces of a
     * character never come out alone. */
    static const char text[] = "Hello 😀 世界! 👨‍👩‍👧‍👦 naïve café 🇯🇵 数学 $x^2$";
    int32_t *ids = NULL;
    size_t n = 0;
    ocr_err e = {0};
    TST_CHECK(tok_encode(t, text, strlen(text), false, &ids, &n, &e) == OCR_OK, "encode: %s",
              e.msg);
    TST_CHECK(stream_matches(t, ids, n, false, text, strlen(text)), "stream emoji/CJK");
    int partial = 0;
    for (size_t i = 0; i < n; i++) {
        char *d = NULL;
        size_t l = 0;
        tok_decode(t, ids + i, 1, false, &d, &l, &e);
        partial += d && strstr(d, "\xEF\xBF\xBD") != NULL;
        free(d);
    }
    TST_CHECK(partial > 0, "some single tokens are partial characters (%d)", partial);
    free(ids);

    check_roundtrip(t, "deepseek-v3");
    test_threads(t, shared_dir());
    tok_destroy(&t);
}

static void test_gpt2(void)
{
    char dir[1200], path[1300];
    snprintf(dir, sizeof dir, "%s/gpt2", shared_dir());
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        tst_skip("gpt2 fixtures", "gpt2/tokenizer.json not found (set VLOCR_SHARED)");
        return;
    }
    tok_tokenizer *t = load(dir); /* as a model directory */
    if (!t) return;
    TST_CHECK(tok_vocab_size(t) == 50257, "vocab size %d", tok_vocab_size(t));
    TST_CHECK(tok_id(t, "<|endoftext|>") == 50256 && tok_is_special(t, 50256), "endoftext");
    run_golden(t, "gpt2", dir, 271, 119);
    /* No add_bos_token and a ByteLevel post-processor: nothing is added. */
    ENC_SPECIAL(t, "gpt2 specials", "Hello", 15496);
    check_roundtrip(t, "gpt2");
    tok_destroy(&t);
}

int main(void)
{
    TST_RUN(test_merges);
    TST_RUN(test_merges_pairs);
    TST_RUN(test_added);
    TST_RUN(test_split);
    TST_RUN(test_split_empty);
    TST_RUN(test_bytelevel);
    TST_RUN(test_digits);
    TST_RUN(test_fallback);
    TST_RUN(test_gzip_and_dir);
    TST_RUN(test_hostile);
    TST_RUN(test_deepseek_v3);
    TST_RUN(test_gpt2);
    return tst_finish();
}

/* language/tok.h — the tokenizer (tok_): a Hugging Face `tokenizer.json`
 * with a byte-level BPE model, as shipped with DeepSeek-V3 / DeepSeek-OCR
 * and GPT-2.
 *
 * Encoding follows the `tokenizers` library step by step:
 *   1. added tokens are cut out of the raw text first (leftmost-longest;
 *      `normalized: false` ones on the raw text, then `normalized: true` ones
 *      on the pieces between them; `single_word`, `lstrip`, `rstrip` honoured);
 *   2. the normalizer (only the identity ones: null or an empty Sequence);
 *   3. the pre-tokenizer: Sequence / Split (PCRE2 in UTF+UCP mode, with `\s`
 *      and `\w` rewritten to the Oniguruma meanings) / ByteLevel / Digits,
 *      each step working on the pieces the previous one left;
 *   4. BPE on each piece (merge ranks, leftmost among equal ranks;
 *      ignore_merges, byte_fallback, unk_token + fuse_unk);
 *   5. with add_special: BOS/EOS as tokenizer_config.json's add_bos_token /
 *      add_eos_token say (what transformers' LlamaTokenizerFast does, which
 *      replaces the file's post-processor); without those keys, the file's
 *      TemplateProcessing post-processor (single-sequence template).
 * Decoding maps ids to token strings, drops ids that have no token (as the
 * reference does) and, with skip_special, added tokens marked `special`,
 * undoes the byte-level mapping and turns the bytes into UTF-8 with one
 * U+FFFD per maximal invalid subsequence (Rust's from_utf8_lossy).
 *
 * Threads: a loaded tok_tokenizer is read-only; any number of threads may
 * encode and decode with it at once. Every call keeps its scratch to itself.
 * A tok_stream belongs to one thread at a time.
 */
#ifndef VLOCR_LANGUAGE_TOK_H
#define VLOCR_LANGUAGE_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ocr.h"

typedef struct tok_tokenizer tok_tokenizer;
typedef struct tok_stream tok_stream;

/* Load a tokenizer. `path` is a tokenizer.json, a gzip-compressed one
 * (recognised by its magic bytes, e.g. tokenizer.json.gz), or a model
 * directory holding tokenizer.json (or tokenizer.json.gz). A
 * tokenizer_config.json in the same directory, when present, supplies
 * bos_token / eos_token / add_bos_token / add_eos_token and any
 * added_tokens_decoder entries the tokenizer.json lacks. On failure *out is
 * NULL and `e` names the file, the JSON key and the problem. The caller
 * frees the result with tok_destroy. */
ocr_status tok_load(tok_tokenizer **out, const char *path, ocr_err *e);

/* Same from memory: `json` is the tokenizer.json text; `config` (may be
 * NULL) the tokenizer_config.json text. Neither is kept. `name` is used in
 * messages. */
ocr_status tok_load_memory(tok_tokenizer **out, const char *json, size_t len,
                           const char *config, size_t config_len,
                           const char *name, ocr_err *e);

/* Frees everything; nulls *t; accepts NULL and *t == NULL. */
void tok_destroy(tok_tokenizer **t);

/* Encode `len` bytes of UTF-8 `text` (NULs allowed). With add_special, BOS /
 * EOS / template tokens are added as described above (DeepSeek: BOS 0 in
 * front). On success *ids is a malloc'd array of *n ids that the caller
 * frees with free() (NULL when *n is 0). Text that is not valid UTF-8 is
 * refused with OCR_E_ARG. */
ocr_status tok_encode(const tok_tokenizer *t, const char *text, size_t len,
                      bool add_special, int32_t **ids, size_t *n, ocr_err *e);

/* Same into a caller buffer of `cap` ids. *n is the number of ids the text
 * needs; when that exceeds cap, nothing beyond cap is written and the result
 * is OCR_E_LIMIT. */
ocr_status tok_encode_into(const tok_tokenizer *t, const char *text,
                           size_t len, bool add_special, int32_t *ids,
                           size_t cap, size_t *n, ocr_err *e);

/* Decode ids to UTF-8. Ids with no token (negative, past the end, or gaps
 * such as DeepSeek-OCR's image ids in a plain V3 file) are dropped. With
 * skip_special, added tokens with `special: true` are dropped too. *text is
 * malloc'd and NUL-terminated (the text itself may hold NULs, hence *len);
 * the caller frees it with free(). */
ocr_status tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n,
                      bool skip_special, char **text, size_t *len,
                      ocr_err *e);

/* Id of a token given as it is written in tokenizer.json (added-token
 * content such as "<｜begin▁of▁sentence｜>" or "<image>", or a vocab entry in
 * the byte-level alphabet such as "Ġthe"); -1 when there is none. Added
 * tokens win over vocab entries, as in the reference. */
int32_t tok_id(const tok_tokenizer *t, const char *token);
/* Same with an explicit length. */
int32_t tok_id_n(const tok_tokenizer *t, const char *token, size_t len);

/* The token string of `id` as written in tokenizer.json (NUL-terminated,
 * owned by the tokenizer); NULL when the id has no token. */
const char *tok_token_str(const tok_tokenizer *t, int32_t id);

/* One past the largest id that has a token (128815 for DeepSeek-V3; the
 * model's embedding may have more rows). */
int32_t tok_vocab_size(const tok_tokenizer *t);
/* BOS / EOS ids from tokenizer_config.json; -1 when not configured. */
int32_t tok_bos(const tok_tokenizer *t);
int32_t tok_eos(const tok_tokenizer *t);
/* True for added tokens with `special: true` (what skip_special drops). */
bool tok_is_special(const tok_tokenizer *t, int32_t id);
/* True for any id listed in added_tokens. */
bool tok_is_added(const tok_tokenizer *t, int32_t id);

/* ---------------------------------------------------------- streaming */

/* Incremental decoding for generation: ids go in one at a time and only
 * complete UTF-8 comes out. Bytes of a character split across tokens are
 * held back until the character is complete; a byte that cannot continue
 * the character turns what was held into U+FFFD at once, as the full decode
 * would. The concatenation of everything put + flushed equals tok_decode of
 * the same ids. The stream keeps a pointer to `t`, which must outlive it. */
ocr_status tok_stream_create(tok_stream **out, const tok_tokenizer *t,
                             bool skip_special, ocr_err *e);
/* Frees; nulls *s; accepts NULL. */
void tok_stream_destroy(tok_stream **s);
/* Feed one id. *text / *len receive the text completed by this id (possibly
 * empty); the pointer stays valid until the next call on `s`. */
ocr_status tok_stream_put(tok_stream *s, int32_t id, const char **text,
                          size_t *len, ocr_err *e);
/* End of stream: held-back bytes of an incomplete character come out as one
 * U+FFFD. The stream is then empty and may be reused. */
ocr_status tok_stream_flush(tok_stream *s, const char **text, size_t *len,
                            ocr_err *e);
/* Drop whatever is held back, without output. */
void tok_stream_reset(tok_stream *s);

/* ================================================================ */
/* Internals shared by language/tok_*.c; other code uses the API above. */
#ifdef TOK_INTERNAL

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <jansson.h>
#include <pcre2.h>

/* Largest id accepted in a file: far above real vocabularies (~260k), low
 * enough that a hostile id cannot make the per-id tables huge. */
#define TOK_MAX_ID ((int32_t)1 << 22)
/* Largest tokenizer.json read, compressed or not. */
#define TOK_MAX_FILE ((size_t)1 << 30)

/* Growable byte and id vectors (per call or per load, never shared). */
typedef struct {
    char *p;
    size_t n, cap;
} tok_buf;
typedef struct {
    int32_t *p;
    size_t n, cap;
} tok_ivec;

ocr_status tok_buf_reserve(tok_buf *b, size_t extra);
ocr_status tok_buf_append(tok_buf *b, const void *data, size_t len);
void tok_buf_free(tok_buf *b);
ocr_status tok_ivec_push(tok_ivec *v, int32_t x);
void tok_ivec_free(tok_ivec *v);

/* String → id, open addressing. Keys live in a pool addressed by offset so
 * that the pool may be realloc'd while the map is being filled. */
typedef struct {
    uint32_t off, len, hash;
    int32_t id; /* -1: empty slot */
} tok_sm_slot;
typedef struct {
    tok_sm_slot *slot;
    size_t cap, n; /* cap is a power of two */
} tok_strmap;

ocr_status tok_strmap_reserve(tok_strmap *m, size_t n);
/* Insert, or replace the id of an equal key; *prev (may be NULL) receives
 * the replaced id or -1. */
ocr_status tok_strmap_put(tok_strmap *m, const char *pool, uint32_t off,
                          uint32_t len, int32_t id, int32_t *prev);
int32_t tok_strmap_get(const tok_strmap *m, const char *pool, const char *s,
                       size_t len);
void tok_strmap_free(tok_strmap *m);

/* (left id, right id) → (merge rank, merged id). */
typedef struct {
    uint64_t key; /* UINT64_MAX: empty */
    int32_t rank, id;
} tok_pm_slot;
typedef struct {
    tok_pm_slot *slot;
    size_t cap, n;
} tok_pairmap;

ocr_status tok_pairmap_reserve(tok_pairmap *m, size_t n);
/* Insert or overwrite (a later duplicate merge wins, as in the reference).
 * Grows as needed. */
ocr_status tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank,
                           int32_t id);
bool tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b,
                     int32_t *rank, int32_t *id);
void tok_pairmap_free(tok_pairmap *m);

/* UTF-8 helpers (tok_utf8.c). */
/* Offset of the first byte that is not part of a valid UTF-8 sequence;
 * n when all of s is valid. */
size_t tok_utf8_check(const uint8_t *s, size_t n);
/* Decode one character of valid UTF-8; returns its byte length. */
size_t tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);
/* Encode cp (<= 0x10FFFF); returns 1..4. */
size_t tok_utf8_put(uint32_t cp, uint8_t out[4]);
/* Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s
 * mean). */
bool tok_is_white_space(uint32_t cp);
/* GPT-2 bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 * other 68 take code points 256..323 in byte order. */
uint32_t tok_byte_to_cp(uint8_t b);
/* Inverse; -1 for code points outside the alphabet. */
int tok_cp_to_byte(uint32_t cp);

/* Lossy UTF-8 as a streaming state machine (WHATWG decoder, equal to Rust
 * from_utf8_lossy): valid sequences are copied, each maximal invalid
 * subsequence becomes U+FFFD, an unfinished sequence is held in `pend`. */
typedef struct {
    uint8_t pend[4];
    uint8_t npend, need, lo, hi;
} tok_utf8_state;
void tok_utf8_state_init(tok_utf8_state *st);
ocr_status tok_utf8_lossy_feed(tok_utf8_state *st, const uint8_t *s, size_t n,
                               tok_buf *out);
ocr_status tok_utf8_lossy_end(tok_utf8_state *st, tok_buf *out);

/* Regexes (tok_regex.c). */
/* A byte range with a tag: a regex match flag, or an added-token id (-1 for
 * plain text). */
typedef struct {
    size_t start, end;
    int32_t tag;
} tok_span;
typedef struct {
    tok_span *p;
    size_t n, cap;
} tok_spans;
ocr_status tok_spans_push(tok_spans *v, size_t start, size_t end,
                          int32_t tag);
void tok_spans_free(tok_spans *v);

/* Compile a tokenizer.json pattern (`literal`: a Split "String" pattern).
 * Messages name `file` and `where` (the JSON path). */
ocr_status tok_regex_compile(pcre2_code **out, const char *pat, size_t len,
                             bool literal, const char *file,
                             const char *where, ocr_err *e);
/* All matches of `re` in s[0..len) (valid UTF-8) in Oniguruma find_iter
 * order, appended to *m. `md` must hold at least one pair. */
ocr_status tok_regex_find_all(const pcre2_code *re, pcre2_match_data *md,
                              const char *s, size_t len, tok_spans *m,
                              const char *file, ocr_err *e);

/* Pre-tokenizer steps, a flattened Sequence. Digits is a Split on \p{N}. */
typedef enum { TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL } tok_pre_kind;
typedef enum {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS
} tok_split_behavior;
typedef struct {
    tok_pre_kind kind;
    int re; /* index into tok_tokenizer.re; -1: none (ByteLevel w/o regex) */
    tok_split_behavior behavior;
    bool invert;
    bool add_prefix_space; /* ByteLevel */
} tok_pre_step;

/* An added token; content lives in the tokenizer's string pool. */
typedef struct {
    int32_t id;
    uint32_t off, len;
    bool special, single_word, lstrip, rstrip, normalized;
} tok_added;

/* Byte trie over added-token contents. term[0] indexes tok_added for the
 * normalized:false set, term[1] for normalized:true; -1 when none. */
typedef struct {
    int32_t child, sibling;
    int32_t term[2];
    uint8_t byte;
} tok_trie_node;

#define TOK_F_MODEL 1u   /* in model.vocab */
#define TOK_F_ADDED 2u   /* in added_tokens */
#define TOK_F_SPECIAL 4u /* dropped by skip_special */

/* Single-character tokens below this code point are found by table lookup
 * during BPE (covers the whole byte-level alphabet). */
#define TOK_CHAR_TABLE 1024

struct tok_tokenizer {
    char name[512]; /* file name for messages */

    /* Per id: token string (NUL-terminated, in `pool`), decoded bytes (in
     * `dpool`), flags. tok_off[id] == UINT32_MAX: no token. */
    int32_t n_ids;
    uint32_t *tok_off, *tok_len;
    uint32_t *dec_off, *dec_len;
    uint8_t *flags;
    tok_buf pool, dpool;

    /* Model. */
    tok_strmap vocab;  /* model.vocab only: what BPE looks up */
    tok_strmap amap;   /* added tokens by content */
    tok_pairmap merges;
    int32_t char_id[TOK_CHAR_TABLE];
    int32_t fb_id[256]; /* "<0xXX>" tokens for byte_fallback; -1: none */
    bool ignore_merges, byte_fallback, fuse_unk;
    int32_t unk_id; /* -1: none */

    /* Added tokens and their trie (node 0 is the root). */
    tok_added *added;
    size_t n_added, cap_added;
    tok_trie_node *trie;
    size_t n_trie, cap_trie;
    bool added_pass[2]; /* whether any token is in set 0 / set 1 */
    pcre2_code *word_re; /* \w of Rust's regex, for single_word */

    /* Pre-tokenizer and its regexes. */
    tok_pre_step *pre;
    size_t n_pre, cap_pre;
    pcre2_code **re;
    size_t n_re, cap_re;

    /* Post-processing with add_special. */
    int32_t *post_pre, *post_suf;
    size_t n_post_pre, n_post_suf;

    /* Decoder: ByteLevel (decoded bytes per id) or none (tokens joined by
     * a space, the reference's fallback). */
    bool dec_join_space;

    int32_t bos, eos;
};

/* Parse tokenizer.json text (and tokenizer_config.json text, may be NULL);
 * `name` / `cfg_name` are used in messages (tok_load.c). */
ocr_status tok_load_json(tok_tokenizer **out, const char *json, size_t len,
                         const char *name, const char *cfg, size_t cfg_len,
                         const char *cfg_name, ocr_err *e);

/* Components. */
/* Parse the "pre_tokenizer" value (may be JSON null) into t->pre / t->re. */
ocr_status tok_pretok_parse(tok_tokenizer *t, const json_t *pre, ocr_err *e);
ocr_status tok_added_build(tok_tokenizer *t, ocr_err *e);
/* Cut the added tokens of set `pass` (0: normalized false, 1: true) out of
 * s[0..len): appends spans covering all of it to *segs, tagged with the
 * token id or -1 for the text between. `md` is for the single_word regex. */
ocr_status tok_added_split(const tok_tokenizer *t, int pass,
                           pcre2_match_data *md, const char *s, size_t len,
                           size_t base, tok_spans *segs, ocr_err *e);

/* Per-call pre-tokenizer scratch: pieces alternate between two buffers,
 * one per step. */
typedef struct {
    tok_buf buf[2];
    tok_spans piece[2];
    int cur; /* which pair holds the result of tok_pretok_run */
    tok_spans match, seg;
    tok_buf tmp;
    pcre2_match_data *md;
} tok_pre_scratch;
/* Pre-tokenize s[0..len); the pieces are ps->piece[ps->cur] into
 * ps->buf[ps->cur]. `ps->md` must be set. */
ocr_status tok_pretok_run(const tok_tokenizer *t, tok_pre_scratch *ps,
                          const char *s, size_t len, ocr_err *e);
void tok_pre_scratch_free(tok_pre_scratch *ps);

typedef struct {
    int32_t id, prev, next;
} tok_sym;
typedef struct {
    int32_t rank, pos, id;
} tok_heap_ent;
typedef struct {
    tok_sym *sym;
    size_t sym_cap;
    tok_heap_ent *heap;
    size_t heap_cap;
} tok_bpe_scratch;
/* BPE one pre-tokenized piece `w` (in the model's alphabet); ids appended
 * to *out. */
ocr_status tok_bpe_word(const tok_tokenizer *t, tok_bpe_scratch *s,
                        const char *w, size_t len, tok_ivec *out, ocr_err *e);
void tok_bpe_scratch_free(tok_bpe_scratch *s);

#endif /* TOK_INTERNAL */

#endif /* VLOCR_LANGUAGE_TOK_H */

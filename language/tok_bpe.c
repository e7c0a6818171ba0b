/* language/tok_bpe.c — the BPE model on one pre-tokenized piece.
 *
 * Same algorithm as the reference (tokenizers' models/bpe/word.rs): the
 * piece starts as one symbol per character; a min-heap holds every adjacent
 * pair that has a merge, ordered by merge rank and then by position, so
 * equal pairs merge left to right ("aaa" → "aa" "a"). Popped entries whose
 * symbols have changed since they were pushed are skipped. O(n log n) in
 * the piece length, so long runs (a line of dashes, a base64 blob) stay
 * cheap.
 */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdlib.h>

static bool heap_less(const tok_heap_ent *a, const tok_heap_ent *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(tok_heap_ent *h, size_t *n, tok_heap_ent x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!heap_less(&x, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = x;
}

static tok_heap_ent heap_pop(tok_heap_ent *h, size_t *n)
{
    tok_heap_ent top = h[0], x = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = x;
    return top;
}

static ocr_status reserve(tok_bpe_scratch *s, size_t len)
{
    /* At most one symbol per byte; at most 3 heap pushes per symbol (one
     * initial pair, two new neighbours per merge). */
    if (len > (SIZE_MAX / sizeof(tok_heap_ent) - 4) / 3) return OCR_E_NOMEM;
    if (s->sym_cap < len) {
        tok_sym *p = realloc(s->sym, len * sizeof *p);
        if (!p) return OCR_E_NOMEM;
        s->sym = p;
        s->sym_cap = len;
    }
    size_t hcap = 3 * len + 4;
    if (s->heap_cap < hcap) {
        tok_heap_ent *p = realloc(s->heap, hcap * sizeof *p);
        if (!p) return OCR_E_NOMEM;
        s->heap = p;
        s->heap_cap = hcap;
    }
    return OCR_OK;
}

ocr_status tok_bpe_word(const tok_tokenizer *t, tok_bpe_scratch *s,
                        const char *w, size_t len, tok_ivec *out, ocr_err *e)
{
    if (len == 0) return OCR_OK;
    if (len > (size_t)INT32_MAX / 4) /* symbol positions are int32 */
        return ocr_err_set(e, OCR_E_LIMIT, "%s: a %zu-byte pre-tokenized piece is "
                           "too long for BPE", t->name, len);
    if (t->ignore_merges) { /* a piece that is itself a token is taken whole */
        int32_t id = tok_strmap_get(&t->vocab, t->pool.p, w, len);
        if (id >= 0) {
            if (tok_ivec_push(out, id) != OCR_OK) goto nomem;
            return OCR_OK;
        }
    }
    if (reserve(s, len) != OCR_OK) goto nomem;

    /* Initial symbols. A character missing from the vocab becomes its
     * "<0xXX>" byte tokens (byte_fallback), else the unk token (runs fused
     * with fuse_unk), else it is dropped, as the reference does. */
    tok_sym *sym = s->sym;
    int32_t n = 0;
    bool unk_pending = false;
    const uint8_t *u = (const uint8_t *)w;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t cl = tok_utf8_next(u + i, len - i, &cp);
        int32_t id = cp < TOK_CHAR_TABLE ? t->char_id[cp]
                                         : tok_strmap_get(&t->vocab, t->pool.p, w + i, cl);
        if (id >= 0) {
            if (unk_pending) sym[n++].id = t->unk_id;
            unk_pending = false;
            sym[n++].id = id;
            i += cl;
            continue;
        }
        if (t->byte_fallback) {
            bool all = true;
            for (size_t k = 0; k < cl; k++) all = all && t->fb_id[u[i + k]] >= 0;
            if (all) {
                if (unk_pending) sym[n++].id = t->unk_id;
                unk_pending = false;
                for (size_t k = 0; k < cl; k++) sym[n++].id = t->fb_id[u[i + k]];
                i += cl;
                continue;
            }
        }
        if (t->unk_id >= 0) {
            if (unk_pending && !t->fuse_unk) sym[n++].id = t->unk_id;
            unk_pending = true;
        }
        i += cl;
    }
    if (unk_pending) sym[n++].id = t->unk_id;
    if (n == 0) return OCR_OK;

    for (int32_t i = 0; i < n; i++) {
        sym[i].prev = i - 1;
        sym[i].next = i + 1 < n ? i + 1 : -1;
    }
    tok_heap_ent *heap = s->heap;
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < n; i++) {
        int32_t rank, id;
        if (tok_pairmap_get(&t->merges, sym[i].id, sym[i + 1].id, &rank, &id))
            heap_push(heap, &nh, (tok_heap_ent){rank, i, id});
    }
    while (nh) {
        tok_heap_ent top = heap_pop(heap, &nh);
        int32_t a = top.pos;
        if (sym[a].id < 0) continue; /* merged into its left neighbour */
        int32_t b = sym[a].next;
        if (b < 0) continue;
        int32_t rank, id;
        /* Stale entry: the pair at `a` is no longer the one pushed. The
         * reference compares only the merged id; so do we. */
        if (!tok_pairmap_get(&t->merges, sym[a].id, sym[b].id, &rank, &id) ||
            id != top.id)
            continue;
        sym[a].id = id;
        sym[a].next = sym[b].next;
        if (sym[b].next >= 0) sym[sym[b].next].prev = a;
        sym[b].id = -1;
        int32_t p = sym[a].prev, q = sym[a].next;
        if (p >= 0 && tok_pairmap_get(&t->merges, sym[p].id, id, &rank, &b))
            heap_push(heap, &nh, (tok_heap_ent){rank, p, b});
        if (q >= 0 && tok_pairmap_get(&t->merges, id, sym[q].id, &rank, &b))
            heap_push(heap, &nh, (tok_heap_ent){rank, a, b});
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        if (tok_ivec_push(out, sym[i].id) != OCR_OK) goto nomem;
    return OCR_OK;
nomem:
    return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory in BPE", t->name);
}

void tok_bpe_scratch_free(tok_bpe_scratch *s)
{
    free(s->sym);
    free(s->heap);
    s->sym = NULL;
    s->heap = NULL;
    s->sym_cap = s->heap_cap = 0;
}

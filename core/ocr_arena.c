/* core/ocr_arena.c — 64-byte aligned bump allocator.
 *
 * Scratch memory for a forward pass is sized once from the hyper-parameters;
 * a pass takes a mark, allocates freely, and resets to the mark when done, so
 * the hot path never touches malloc. */
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"

void *ocr_aligned_alloc(size_t nbytes)
{
    void *p = NULL;
    size_t n = (nbytes + OCR_ALIGN - 1) & ~(size_t)(OCR_ALIGN - 1);
    if (n < nbytes) return NULL;
    if (posix_memalign(&p, OCR_ALIGN, n ? n : OCR_ALIGN) != 0) return NULL;
    return p;
}

ocr_status ocr_arena_init(ocr_arena *a, size_t cap, ocr_err *e)
{
    memset(a, 0, sizeof *a);
    a->base = ocr_aligned_alloc(cap);
    if (!a->base)
        return ocr_err_set(e, OCR_E_NOMEM, "ocr_arena_init: cannot allocate %zu bytes", cap);
    a->cap = cap;
    return OCR_OK;
}

void *ocr_arena_alloc(ocr_arena *a, size_t nbytes)
{
    size_t start = (a->used + OCR_ALIGN - 1) & ~(size_t)(OCR_ALIGN - 1);
    if (start < a->used || start > a->cap || nbytes > a->cap - start) return NULL;
    a->used = start + nbytes;
    if (a->used > a->peak) a->peak = a->used;
    return a->base + start;
}

void *ocr_arena_calloc(ocr_arena *a, size_t nbytes)
{
    void *p = ocr_arena_alloc(a, nbytes);
    if (p) memset(p, 0, nbytes);
    return p;
}

size_t ocr_arena_mark(const ocr_arena *a) { return a->used; }

void ocr_arena_reset(ocr_arena *a, size_t mark)
{
    if (mark <= a->used) a->used = mark;
}

void ocr_arena_free(ocr_arena *a)
{
    if (!a) return;
    free(a->base);
    memset(a, 0, sizeof *a);
}

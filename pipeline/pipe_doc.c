/* pipeline/pipe_doc.c — the document model: pages of blocks {type, boxes,
 * text, confidence, lines {box, text, confidence}}, filled by the
 * recognisers (pipe_dsocr.c through the grounding parser and
 * pipe_page_lines_from_text, pipe_nano.c through pipe_assemble.c) and read
 * by the writers (pipe_write*.c, pipe_hocr.c). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Grow *v (of *cap elements of `size` bytes) to hold at least `need`. */
static bool grow(void **v, int *cap, int need, size_t size)
{
    if (need <= *cap) return true;
    int nc = *cap ? *cap : 4;
    while (nc < need) {
        if (nc > (1 << 28)) return false;
        nc *= 2;
    }
    void *p = realloc(*v, (size_t)nc * size);
    if (!p) return false;
    memset((char *)p + (size_t)*cap * size, 0, (size_t)(nc - *cap) * size);
    *v = p;
    *cap = nc;
    return true;
}

ocr_status pipe_doc_init(pipe_doc *d, const char *source, ocr_err *e)
{
    memset(d, 0, sizeof *d);
    if (!source) source = "";
    d->source = dup_n(source, strlen(source));
    if (!d->source) return ocr_err_set(e, OCR_E_NOMEM, "pipe_doc_init: out of memory");
    return OCR_OK;
}

static void block_free(pipe_block *b)
{
    if (b->crops)
        for (int i = 0; i < b->n_boxes; i++) free(b->crops[i]);
    free(b->crops);
    free(b->type);
    free(b->text);
    free(b->boxes);
    for (int i = 0; i < b->n_lines; i++) free(b->lines[i].text);
    free(b->lines);
    memset(b, 0, sizeof *b);
}

void pipe_page_free(pipe_page *pg)
{
    if (!pg) return;
    for (int i = 0; i < pg->n_blocks; i++) block_free(&pg->blocks[i]);
    free(pg->blocks);
    free(pg->raw);
    free(pg->ids);
    memset(pg, 0, sizeof *pg);
}

void pipe_doc_free(pipe_doc *d)
{
    if (!d) return;
    for (int i = 0; i < d->n_pages; i++) pipe_page_free(&d->pages[i]);
    free(d->pages);
    free(d->source);
    memset(d, 0, sizeof *d);
}

ocr_status pipe_doc_add_page(pipe_doc *d, pipe_page **out, int number, int width, int height,
                             ocr_err *e)
{
    if (!grow((void **)&d->pages, &d->cap_pages, d->n_pages + 1, sizeof *d->pages))
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_doc_add_page: out of memory");
    pipe_page *pg = &d->pages[d->n_pages++];
    memset(pg, 0, sizeof *pg);
    pg->number = number;
    pg->width = width;
    pg->height = height;
    if (out) *out = pg;
    return OCR_OK;
}

ocr_status pipe_page_add_block(pipe_page *pg, pipe_block **out, const char *type,
                               size_t type_len, const char *text, size_t text_len, ocr_err *e)
{
    if (!grow((void **)&pg->blocks, &pg->cap_blocks, pg->n_blocks + 1, sizeof *pg->blocks))
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_page_add_block: out of memory");
    pipe_block *b = &pg->blocks[pg->n_blocks];
    memset(b, 0, sizeof *b);
    b->confidence = -1.0f;
    b->type = dup_n(type ? type : "", type ? type_len : 0);
    b->text = dup_n(text ? text : "", text ? text_len : 0);
    if (!b->type || !b->text) {
        block_free(b);
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_page_add_block: out of memory");
    }
    pg->n_blocks++;
    if (out) *out = b;
    return OCR_OK;
}

ocr_status pipe_block_add_box(pipe_block *b, pipe_box box, ocr_err *e)
{
    if (!grow((void **)&b->boxes, &b->cap_boxes, b->n_boxes + 1, sizeof *b->boxes))
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_block_add_box: out of memory");
    if (b->crops) {
        /* Keep crops parallel to boxes. */
        char **c = realloc(b->crops, (size_t)b->cap_boxes * sizeof *c);
        if (!c) return ocr_err_set(e, OCR_E_NOMEM, "pipe_block_add_box: out of memory");
        b->crops = c;
        b->crops[b->n_boxes] = NULL;
    }
    b->boxes[b->n_boxes++] = box;
    return OCR_OK;
}

bool pipe_block_bbox(const pipe_block *b, pipe_box *out)
{
    if (b->n_boxes <= 0) return false;
    pipe_box u = b->boxes[0];
    for (int i = 1; i < b->n_boxes; i++) {
        const pipe_box *x = &b->boxes[i];
        if (x->x1 < u.x1) u.x1 = x->x1;
        if (x->y1 < u.y1) u.y1 = x->y1;
        if (x->x2 > u.x2) u.x2 = x->x2;
        if (x->y2 > u.y2) u.y2 = x->y2;
    }
    *out = u;
    return true;
}

ocr_status pipe_block_add_line(pipe_block *b, const pipe_box *box, const char *text, size_t len,
                               float confidence, ocr_err *e)
{
    if (!grow((void **)&b->lines, &b->cap_lines, b->n_lines + 1, sizeof *b->lines))
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_block_add_line: out of memory");
    pipe_line *l = &b->lines[b->n_lines];
    memset(l, 0, sizeof *l);
    if (!(l->text = dup_n(text ? text : "", text ? len : 0)))
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_block_add_line: out of memory");
    if (box) {
        l->box = *box;
        l->has_box = true;
    }
    /* NaN and negatives: unknown; above 1 cannot be a probability. */
    l->confidence = confidence >= 0 ? (confidence > 1 ? 1.0f : confidence) : -1.0f;
    b->n_lines++;
    return OCR_OK;
}

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* Non-blank lines of t[0..n): count, or (with b) add them as lines. */
static ocr_status split_lines(pipe_block *b, const char *t, int *count, ocr_err *e)
{
    pipe_box u;
    bool has = b ? pipe_block_bbox(b, &u) : false;
    int k = 0;
    for (const char *p = t; *p;) {
        const char *q = strchr(p, '\n');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        size_t a = 0;
        while (a < len && blank(p[a])) a++;
        while (len > a && blank(p[len - 1])) len--;
        if (len > a) {
            if (b) {
                pipe_box x = has && b->n_boxes == *count ? b->boxes[k] : u;
                ocr_status rc = pipe_block_add_line(b, has ? &x : NULL, p + a, len - a, b->confidence, e);
                if (rc != OCR_OK) return rc;
            }
            k++;
        }
        if (!q) break;
        p = q + 1;
    }
    if (!b) *count = k;
    return OCR_OK;
}

ocr_status pipe_page_lines_from_text(pipe_page *pg, ocr_err *e)
{
    for (int i = 0; i < pg->n_blocks; i++) {
        pipe_block *b = &pg->blocks[i];
        if (b->n_lines > 0 || !b->text) continue;
        int n = 0;
        split_lines(NULL, b->text, &n, e);
        ocr_status rc = split_lines(b, b->text, &n, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

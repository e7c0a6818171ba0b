/* pipeline/lay_cc.c — connected components of the analysis image and the
 * small geometric helpers the layout stages share (boxes, quantiles). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

ocr_status lay_cc_find(PIX *bin, lay_cc **out, int *n, ocr_err *e)
{
    *out = NULL;
    *n = 0;
    if (!bin || pixGetDepth(bin) != 1) return ocr_err_set(e, OCR_E_ARG, "lay_cc_find: need a 1 bpp image");
    img_lept_quiet();
    BOXA *ba = pixConnCompBB(bin, 8);
    if (!ba) return ocr_err_set(e, OCR_E_NOMEM, "lay_cc_find: pixConnCompBB failed");
    int m = boxaGetCount(ba);
    if (m == 0) {
        boxaDestroy(&ba);
        return OCR_OK;
    }
    lay_cc *v = calloc((size_t)m, sizeof *v);
    if (!v) {
        boxaDestroy(&ba);
        return ocr_err_set(e, OCR_E_NOMEM, "lay_cc_find: out of memory (%d components)", m);
    }
    for (int i = 0; i < m; i++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(ba, i, &x, &y, &w, &h);
        v[i] = (lay_cc){x, y, x + w, y + h, 0, 0, -1};
    }
    boxaDestroy(&ba);
    *out = v;
    *n = m;
    return OCR_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float lay_quantile(float *v, int n, float q)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_float);
    int k = (int)(q * (float)(n - 1) + 0.5f);
    if (k < 0) k = 0;
    if (k > n - 1) k = n - 1;
    return v[k];
}

/* Two passes: the median over everything that could be a glyph, then the
 * median over components within a factor of it, which drops specks and
 * rules that happen to dominate a sparse page. */
float lay_cc_char_height(const lay_cc *cc, int n, int page_h)
{
    if (n <= 0) return 0;
    float *h = malloc((size_t)n * sizeof *h);
    if (!h) return 0;
    int m = 0;
    int hmax = page_h / 8 > 8 ? page_h / 8 : 8;
    for (int i = 0; i < n; i++) {
        int w = cc[i].x2 - cc[i].x1, hh = cc[i].y2 - cc[i].y1;
        if (hh < 4 || hh > hmax || w > 6 * hh || hh > 8 * w + 8) continue;
        h[m++] = (float)hh;
    }
    float med = lay_quantile(h, m, 0.5f);
    int k = 0;
    for (int i = 0; i < m; i++)
        if (h[i] >= 0.5f * med && h[i] <= 2.5f * med) h[k++] = h[i];
    float r = k ? lay_quantile(h, k, 0.5f) : med;
    free(h);
    return r;
}

int lay_count_ink(PIX *bin, pipe_box b)
{
    int W = pixGetWidth(bin), H = pixGetHeight(bin);
    b = lay_box_clip(b, W, H);
    if (b.x2 <= b.x1 || b.y2 <= b.y1) return 0;
    BOX *box = boxCreate(b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1);
    l_int32 c = 0;
    if (box) pixCountPixelsInRect(bin, box, &c, NULL);
    boxDestroy(&box);
    return c;
}

pipe_box lay_box_union(pipe_box a, pipe_box b)
{
    if (a.x2 <= a.x1 || a.y2 <= a.y1) return b;
    if (b.x2 <= b.x1 || b.y2 <= b.y1) return a;
    pipe_box u = a;
    if (b.x1 < u.x1) u.x1 = b.x1;
    if (b.y1 < u.y1) u.y1 = b.y1;
    if (b.x2 > u.x2) u.x2 = b.x2;
    if (b.y2 > u.y2) u.y2 = b.y2;
    return u;
}

double lay_box_iou(pipe_box a, pipe_box b)
{
    int ow = lay_overlap(a.x1, a.x2, b.x1, b.x2), oh = lay_overlap(a.y1, a.y2, b.y1, b.y2);
    if (ow <= 0 || oh <= 0) return 0;
    double inter = (double)ow * oh;
    double ua = (double)lay_box_w(a) * lay_box_h(a) + (double)lay_box_w(b) * lay_box_h(b) - inter;
    return ua > 0 ? inter / ua : 0;
}

pipe_box lay_box_clip(pipe_box b, int w, int h)
{
    if (b.x1 < 0) b.x1 = 0;
    if (b.y1 < 0) b.y1 = 0;
    if (b.x2 > w) b.x2 = w;
    if (b.y2 > h) b.y2 = h;
    if (b.x2 < b.x1) b.x2 = b.x1;
    if (b.y2 < b.y1) b.y2 = b.y1;
    return b;
}

ocr_status lay_blocks_push(lay_blocks *bs, const lay_block *b, ocr_err *e)
{
    if (bs->n == bs->cap) {
        int nc = bs->cap ? bs->cap * 2 : 16;
        lay_block *v = realloc(bs->v, (size_t)nc * sizeof *v);
        if (!v) return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory");
        bs->v = v;
        bs->cap = nc;
    }
    bs->v[bs->n++] = *b;
    return OCR_OK;
}

void lay_block_free(lay_block *b)
{
    if (!b) return;
    free(b->lines);
    free(b->cells);
    memset(b, 0, sizeof *b);
}

void lay_blocks_free(lay_blocks *bs)
{
    if (!bs) return;
    for (int i = 0; i < bs->n; i++) lay_block_free(&bs->v[i]);
    free(bs->v);
    memset(bs, 0, sizeof *bs);
}

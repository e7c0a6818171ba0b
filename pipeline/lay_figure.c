/* pipeline/lay_figure.c — pictures: halftones and photographs (Leptonica's
 * halftone mask, run at the ~150-200 ppi scale it is tuned for), solid or
 * drawn regions (large components that are not glyphs), merged with their
 * neighbours. Components inside a figure are taken out of the text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

/* Median component height at the resolution pixGenerateHalftoneMask
 * expects (10 pt text at ~175 ppi). */
#define HT_TARGET_CH 14.0f

/* OR Leptonica's halftone mask of bin into m (both full size). */
static bool halftone_mask(PIX *bin, float ch, PIX *m)
{
    float f = HT_TARGET_CH / ch;
    if (f > 2.0f) f = 2.0f;
    if (f < 0.125f) f = 0.125f;
    bool scaled = fabsf(f - 1.0f) > 0.15f;
    PIX *s = scaled ? pixScaleBinary(bin, f, f) : pixClone(bin);
    if (!s) return false;
    bool ok = true;
    if (pixGetWidth(s) >= 100 && pixGetHeight(s) >= 100) {
        l_int32 found = 0;
        PIX *hm = pixGenerateHalftoneMask(s, NULL, &found, NULL);
        if (hm && found) {
            /* photographs, not the odd bold letter of a headline */
            int minsz = (int)(8 * ch * f);
            PIX *big = pixSelectBySize(hm, minsz, minsz, 8, L_SELECT_IF_BOTH, L_SELECT_IF_GTE, NULL);
            pixDestroy(&hm);
            hm = big;
        }
        if (hm && found) {
            PIX *full = scaled ? pixScaleBinary(hm, 1.0f / f, 1.0f / f) : pixClone(hm);
            if (full)
                pixRasterop(m, 0, 0, pixGetWidth(full), pixGetHeight(full), PIX_SRC | PIX_DST, full, 0, 0);
            else
                ok = false;
            pixDestroy(&full);
        }
        pixDestroy(&hm);
    }
    pixDestroy(&s);
    return ok;
}

/* Pixels of the largest component of bin inside box b, ORed into m at b
 * (or, with erase, cleared from bin). */
static bool component_pixels(PIX *bin, pipe_box b, PIX *m, bool erase)
{
    BOX *box = boxCreate(b.x1, b.y1, lay_box_w(b), lay_box_h(b));
    PIX *clip = box ? pixClipRectangle(bin, box, NULL) : NULL;
    boxDestroy(&box);
    if (!clip) return false;
    PIXA *pa = NULL;
    BOXA *ba = pixConnComp(clip, &pa, 8);
    int best = -1, barea = 0;
    for (int k = 0; ba && k < boxaGetCount(ba); k++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(ba, k, &x, &y, &w, &h);
        if (w * h > barea) {
            barea = w * h;
            best = k;
        }
    }
    if (best >= 0) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(ba, best, &x, &y, &w, &h);
        PIX *pc = pixaGetPix(pa, best, L_CLONE);
        if (pc) {
            if (erase)
                pixRasterop(bin, b.x1 + x, b.y1 + y, w, h, PIX_NOT(PIX_SRC) & PIX_DST, pc, 0, 0);
            else
                pixRasterop(m, b.x1 + x, b.y1 + y, w, h, PIX_SRC | PIX_DST, pc, 0, 0);
        }
        pixDestroy(&pc);
    }
    boxaDestroy(&ba);
    pixaDestroy(&pa);
    pixDestroy(&clip);
    return true;
}

ocr_status lay_border_clean(PIX *bin, lay_cc *cc, int n, ocr_err *e)
{
    int W = pixGetWidth(bin), H = pixGetHeight(bin);
    double page = (double)W * H;
    for (int i = 0; i < n; i++) {
        lay_cc *c = &cc[i];
        if (c->x1 > 1 && c->y1 > 1 && c->x2 < W - 1 && c->y2 < H - 1) continue;
        pipe_box b = {c->x1, c->y1, c->x2, c->y2};
        double area = (double)lay_box_w(b) * lay_box_h(b);
        if (area < 0.01 * page) continue;
        if (!c->ink) c->ink = lay_count_ink(bin, b);
        /* a dark frame is sparse in its box; one that covers most of
         * the page goes whatever its density (it may hold a photo
         * bleeding off the page: text matters more here) */
        if ((double)c->ink >= 0.3 * area && area < 0.5 * page) continue;
        if (!component_pixels(bin, b, NULL, true)) return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory");
        c->flags |= LAY_CC_NONTEXT;
    }
    return OCR_OK;
}

static bool inside(const lay_cc *c, pipe_box b, int tol)
{
    return c->x1 >= b.x1 - tol && c->y1 >= b.y1 - tol && c->x2 <= b.x2 + tol && c->y2 <= b.y2 + tol;
}

/* Is the large component i a glyph (a heading letter, a drop capital) or
 * a frame drawn around text rather than a picture? */
static bool text_like(PIX *bin, lay_cc *cc, int n, int i, float ch)
{
    lay_cc *c = &cc[i];
    int w = c->x2 - c->x1, h = c->y2 - c->y1;
    pipe_box b = {c->x1, c->y1, c->x2, c->y2};
    if (!c->ink) c->ink = lay_count_ink(bin, b);
    double dens = (double)c->ink / ((double)w * h);
    /* headline letters reach ~7 times the body's component height */
    if ((float)h <= 8 * ch && w <= 3 * h && dens >= 0.08 && dens <= 0.75) return true;
    int glyphs = 0;
    double garea = 0;
    for (int j = 0; j < n; j++) {
        if (j == i) continue;
        const lay_cc *d = &cc[j];
        int dh = d->y2 - d->y1;
        if ((float)dh < 0.4f * ch || (float)dh > 2.5f * ch) continue;
        if (!inside(d, b, 0)) continue;
        glyphs++;
        garea += (double)(d->x2 - d->x1) * dh;
    }
    if (dens < 0.25 && glyphs >= 40 && garea >= 0.15 * (double)w * h) {
        c->flags |= LAY_CC_NONTEXT; /* a frame: its text stays text */
        return true;
    }
    return false;
}

/* The figure mask is built from pixels, not boxes, so that text beside a
 * picture, or around it in an L-shape, is never swallowed by a box. */
ocr_status lay_figures_find(PIX *bin, lay_cc *cc, int n, float ch, lay_blocks *out, ocr_err *e)
{
    if (ch < 2) ch = 2;
    int W = pixGetWidth(bin), H = pixGetHeight(bin);
    ocr_status rc = OCR_OK;
    PIX *m = pixCreate(W, H, 1);
    if (!m || !halftone_mask(bin, ch, m)) goto oom;
    /* large components that are not glyphs, pixel by pixel */
    for (int i = 0; i < n; i++) {
        lay_cc *c = &cc[i];
        if (c->flags & LAY_CC_NONTEXT) continue;
        int w = c->x2 - c->x1, h = c->y2 - c->y1;
        bool big = ((float)w >= 4 * ch && (float)h >= 4 * ch) ||
                   ((float)w * (float)h >= 40 * ch * ch && (float)(w < h ? w : h) >= 2 * ch);
        if (!big || text_like(bin, cc, n, i, ch)) continue;
        if (!component_pixels(bin, (pipe_box){c->x1, c->y1, c->x2, c->y2}, m, false)) goto oom;
    }
    /* pieces of one picture (a chart's axes and curves) join */
    int cs = (int)ch | 1;
    pixCloseSafeBrick(m, m, cs, cs);
    BOXA *fb = pixConnCompBB(m, 8);
    if (!fb) goto oom;
    for (int k = 0; k < boxaGetCount(fb) && rc == OCR_OK; k++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(fb, k, &x, &y, &w, &h);
        if ((float)w < 3 * ch || (float)h < 3 * ch) continue;
        lay_block blk;
        memset(&blk, 0, sizeof blk);
        blk.type = LAY_FIGURE;
        blk.box = (pipe_box){x, y, x + w, y + h};
        blk.column = -1;
        rc = lay_blocks_push(out, &blk, e);
    }
    boxaDestroy(&fb);
    /* components lying mostly on the mask belong to the picture */
    for (int i = 0; i < n && rc == OCR_OK; i++) {
        lay_cc *c = &cc[i];
        if (c->flags & LAY_CC_NONTEXT) continue;
        pipe_box b = {c->x1, c->y1, c->x2, c->y2};
        int on = lay_count_ink(m, b);
        if (on * 2 >= lay_box_w(b) * lay_box_h(b)) c->flags |= LAY_CC_NONTEXT;
    }
    pixDestroy(&m);
    return rc;
oom:
    pixDestroy(&m);
    return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (figures)");
}

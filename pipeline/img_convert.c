/* pipeline/img_convert.c — normalising decoded images to the two layouts the
 * rest of the pipeline reads: 8-bit gray and 32-bit RGB, as PIX or as plain
 * planes.
 *
 * Every result is a new image that shares no pixels with its input (never a
 * pixClone), so a caller may modify it freely. Transparency is composited
 * onto white rather than dropped: a transparent PNG page usually stores
 * black (0,0,0,0) behind its text, which would otherwise become a black
 * page.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

/* Luminance weights of ITU-R BT.601, the usual gray conversion. */
#define GRAY_WR 0.299f
#define GRAY_WG 0.587f
#define GRAY_WB 0.114f

/* Replace *p by r (destroying the old one) unless r is NULL. */
static bool take(PIX **p, PIX *r)
{
    if (!r) return false;
    pixDestroy(p);
    *p = r;
    return true;
}

/* Start from an independent copy with no colormap and no alpha. Colormaps
 * are expanded according to their content (gray maps to 8 bpp, colour to
 * 32 bpp) so that the weights below, not Leptonica's colormap rule, decide
 * the gray value of colour entries. */
static ocr_status flatten(PIX **out, PIX *in, const char *fn, ocr_err *e)
{
    *out = NULL;
    if (!in) return ocr_err_set(e, OCR_E_ARG, "%s: input image is NULL", fn);
    img_lept_quiet();
    PIX *p = pixGetColormap(in) ? pixRemoveColormap(in, REMOVE_CMAP_BASED_ON_SRC)
                                : pixCopy(NULL, in);
    if (!p) goto nomem;
    if (pixGetDepth(p) == 24 && !take(&p, pixConvert24To32(p))) goto fail;
    if (pixGetDepth(p) == 32 && pixGetSpp(p) == 4) {
        if (!take(&p, pixAlphaBlendUniform(p, 0xffffff00))) goto fail;
        pixSetSpp(p, 3);
    }
    *out = p;
    return OCR_OK;
fail:
    pixDestroy(&p);
nomem:
    return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory converting a %dx%d image", fn,
                       pixGetWidth(in), pixGetHeight(in));
}

ocr_status img_to_gray8(PIX **out, PIX *in, ocr_err *e)
{
    if (!out) return ocr_err_set(e, OCR_E_ARG, "img_to_gray8: out is NULL");
    PIX *p = NULL;
    ocr_status rc = flatten(&p, in, "img_to_gray8", e);
    if (rc != OCR_OK) return rc;
    bool ok = true;
    switch (pixGetDepth(p)) {
    case 1: /* Leptonica's binary convention: 1 = black */
        ok = take(&p, pixConvert1To8(NULL, p, 255, 0));
        break;
    case 2:
    case 4: /* spread 0..3 / 0..15 over 0..255 */
        ok = take(&p, pixConvertTo8(p, 0));
        break;
    case 8: break;
    case 16: ok = take(&p, pixConvert16To8(p, L_MS_BYTE)); break;
    case 32: ok = take(&p, pixConvertRGBToGray(p, GRAY_WR, GRAY_WG, GRAY_WB)); break;
    default:
        rc = ocr_err_set(e, OCR_E_UNSUPPORTED, "img_to_gray8: images of depth %d are not supported",
                         pixGetDepth(p));
        pixDestroy(&p);
        return rc;
    }
    if (!ok || pixGetDepth(p) != 8) {
        pixDestroy(&p);
        return ocr_err_set(e, OCR_E_NOMEM, "img_to_gray8: out of memory converting a %dx%d image",
                           pixGetWidth(in), pixGetHeight(in));
    }
    *out = p;
    return OCR_OK;
}

ocr_status img_to_rgb32(PIX **out, PIX *in, ocr_err *e)
{
    if (!out) return ocr_err_set(e, OCR_E_ARG, "img_to_rgb32: out is NULL");
    PIX *p = NULL;
    ocr_status rc = flatten(&p, in, "img_to_rgb32", e);
    if (rc != OCR_OK) return rc;
    int d = pixGetDepth(p);
    if (d != 1 && d != 2 && d != 4 && d != 8 && d != 16 && d != 32) {
        pixDestroy(&p);
        return ocr_err_set(e, OCR_E_UNSUPPORTED, "img_to_rgb32: images of depth %d are not supported", d);
    }
    /* Gray depths go through img_to_gray8's rules so that both conversions
     * agree on what a 1, 2, 4 or 16 bpp value means. */
    if (d != 32 && d != 8) {
        PIX *g = NULL;
        rc = img_to_gray8(&g, p, e);
        pixDestroy(&p);
        if (rc != OCR_OK) return rc;
        p = g;
    }
    if (pixGetDepth(p) == 8 && !take(&p, pixConvert8To32(p))) {
        pixDestroy(&p);
        return ocr_err_set(e, OCR_E_NOMEM, "img_to_rgb32: out of memory converting a %dx%d image",
                           pixGetWidth(in), pixGetHeight(in));
    }
    pixSetSpp(p, 3);
    *out = p;
    return OCR_OK;
}

/* w*h*planes bytes, checked. */
static uint8_t *alloc_planes(int w, int h, size_t planes)
{
    size_t n;
    if (!ocr_mul_ok((size_t)w, (size_t)h, &n) || !ocr_mul_ok(n, planes, &n)) return NULL;
    return malloc(n ? n : 1);
}

ocr_status img_gray_planes(uint8_t **gray, int *w, int *h, PIX *in, ocr_err *e)
{
    if (!gray || !w || !h) return ocr_err_set(e, OCR_E_ARG, "img_gray_planes: NULL output");
    *gray = NULL;
    *w = *h = 0;
    PIX *g = NULL;
    ocr_status rc = img_to_gray8(&g, in, e);
    if (rc != OCR_OK) return rc;
    int W = pixGetWidth(g), H = pixGetHeight(g), wpl = pixGetWpl(g);
    uint8_t *out = alloc_planes(W, H, 1);
    if (!out) {
        pixDestroy(&g);
        return ocr_err_set(e, OCR_E_NOMEM, "img_gray_planes: out of memory for %dx%d", W, H);
    }
    /* Leptonica packs bytes big-endian within 32-bit words, so a row is not
     * a plain byte array on little-endian machines: go through the macro. */
    const l_uint32 *data = pixGetData(g);
    for (int y = 0; y < H; y++) {
        const l_uint32 *line = data + (size_t)y * (size_t)wpl;
        uint8_t *row = out + (size_t)y * (size_t)W;
        for (int x = 0; x < W; x++) row[x] = (uint8_t)GET_DATA_BYTE(line, x);
    }
    pixDestroy(&g);
    *gray = out;
    *w = W;
    *h = H;
    return OCR_OK;
}

ocr_status img_rgb_planes(uint8_t **rgb, int *w, int *h, PIX *in, ocr_err *e)
{
    if (!rgb || !w || !h) return ocr_err_set(e, OCR_E_ARG, "img_rgb_planes: NULL output");
    *rgb = NULL;
    *w = *h = 0;
    PIX *c = NULL;
    ocr_status rc = img_to_rgb32(&c, in, e);
    if (rc != OCR_OK) return rc;
    int W = pixGetWidth(c), H = pixGetHeight(c), wpl = pixGetWpl(c);
    uint8_t *out = alloc_planes(W, H, 3);
    if (!out) {
        pixDestroy(&c);
        return ocr_err_set(e, OCR_E_NOMEM, "img_rgb_planes: out of memory for 3x%dx%d", W, H);
    }
    size_t plane = (size_t)W * (size_t)H;
    uint8_t *r = out, *g = out + plane, *b = out + 2 * plane;
    const l_uint32 *data = pixGetData(c);
    for (int y = 0; y < H; y++) {
        const l_uint32 *line = data + (size_t)y * (size_t)wpl;
        size_t o = (size_t)y * (size_t)W;
        for (int x = 0; x < W; x++) {
            l_uint32 px = line[x];
            r[o + (size_t)x] = (uint8_t)(px >> L_RED_SHIFT);
            g[o + (size_t)x] = (uint8_t)(px >> L_GREEN_SHIFT);
            b[o + (size_t)x] = (uint8_t)(px >> L_BLUE_SHIFT);
        }
    }
    pixDestroy(&c);
    *rgb = out;
    *w = W;
    *h = H;
    return OCR_OK;
}

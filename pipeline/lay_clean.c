/* pipeline/lay_clean.c — page cleanup before layout analysis: 8-bit gray,
 * background normalisation (paper to white), orientation (0/90/180/270,
 * Leptonica's ascender/descender statistics), skew (Leptonica's
 * sweep-and-search over the projection profiles), and a binarised copy for
 * analysis. Recognition reads the cleaned grayscale, never the binary.
 *
 * Leptonica's orientation and skew detectors are tuned for ~300 ppi text,
 * so they run on a copy of the binary scaled until the median component
 * height is what 10 pt text has at 300 ppi. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

/* Median component height of 10-11 pt text at 300 ppi. */
#define ORIENT_TARGET_CH 24.0f

lay_params lay_default_params(void)
{
    lay_params p;
    memset(&p, 0, sizeof p);
    p.orient = true;
    p.orient_min_conf = 8.0f;
    p.orient_min_ratio = 2.5f;
    p.deskew = true;
    p.skew_max_deg = 5.0f;
    p.skew_min_deg = 0.05f;
    p.skew_min_conf = 3.0f;
    p.bg_norm = true;
    p.min_char_h = 8.0f;
    p.upscale_char_h = 16.0f;
    p.bin_thresh = 0.65f;
    p.invert = false;
    p.invert_min_glyphs = 4;
    p.invert_min_dense = 0.3f;
    p.invert_min_solid = 0.05f;
    p.invert_max_rough = 8.0f;
    p.pad_v = 0.12f;
    p.pad_h = 0.3f;
    p.gutter_rows = 3;
    p.margin_zone = 0.1f;
    p.heading_ratio = 1.25f;
    p.bold_ratio = 1.3f;
    p.tables = p.figures = p.formulas = p.lists = true;
    return p;
}

void lay_clean_result_free(lay_clean_result *r)
{
    if (!r) return;
    pixDestroy(&r->gray);
    pixDestroy(&r->bin);
    free(r->inverted);
    memset(r, 0, sizeof *r);
}

/* Paper to 255, ink kept: Leptonica maps the local background to 200, and
 * a linear stretch takes 200 back to white. Its default foreground
 * threshold (60) would count a mid-grey picture as paper and wash it out;
 * 120 keeps pictures dark while tinted paper and shading still go white. */
static PIX *normalise(PIX *g)
{
    PIX *n = pixBackgroundNorm(g, NULL, NULL, 10, 15, 120, 40, 200, 2, 1);
    if (!n) return pixCopy(NULL, g);
    pixGammaTRC(n, n, 1.0f, 0, 200);
    return n;
}

static PIX *binarise(PIX *g, float frac)
{
    int t = (int)lrintf(frac * 255.0f);
    if (t < 1) t = 1;
    if (t > 255) t = 255;
    return pixThresholdToBinary(g, t);
}

static float char_height(PIX *bin, ocr_err *e, ocr_status *rc)
{
    lay_cc *cc = NULL;
    int n = 0;
    *rc = lay_cc_find(bin, &cc, &n, e);
    if (*rc != OCR_OK) return 0;
    float ch = lay_cc_char_height(cc, n, pixGetHeight(bin));
    free(cc);
    return ch;
}

/* Clockwise quarter turns that make the text upright; 0 when unsure. */
static int detect_orientation(PIX *bin, float ch, const lay_params *p, lay_clean_result *r)
{
    float f = ORIENT_TARGET_CH / ch;
    if (f < 0.25f) f = 0.25f;
    if (f > 4.0f) f = 4.0f;
    PIX *s = fabsf(f - 1.0f) > 0.15f ? pixScaleBinary(bin, f, f) : pixClone(bin);
    if (!s) return 0;
    l_float32 up = 0, left = 0;
    if (pixGetWidth(s) >= 100 && pixGetHeight(s) >= 100) pixOrientDetect(s, &up, &left, 0, 0);
    pixDestroy(&s);
    r->up_conf = up;
    r->left_conf = left;
    l_int32 orient = L_TEXT_ORIENT_UNKNOWN;
    if (up != 0 && left != 0)
        makeOrientDecision(up, left, p->orient_min_conf, p->orient_min_ratio, &orient, 0);
    switch (orient) {
    case L_TEXT_ORIENT_UP: r->orient_conf = fabsf(up); return 0;
    case L_TEXT_ORIENT_LEFT: r->orient_conf = fabsf(left); return 1;
    case L_TEXT_ORIENT_DOWN: r->orient_conf = fabsf(up); return 2;
    case L_TEXT_ORIENT_RIGHT: r->orient_conf = fabsf(left); return 3;
    default: r->orient_conf = 0; return 0;
    }
}

/* Leptonica's reductions are 1, 2, 4 or 8; search at a scale where the
 * median component is ~12 px high, sweep at twice that reduction. */
static void skew_reductions(float ch, int *sweep, int *search)
{
    int rs = 1;
    while (rs < 4 && ch / (float)(rs * 2) >= 12.0f) rs *= 2;
    *search = rs;
    *sweep = rs * 2 > 8 ? 8 : rs * 2;
}

ocr_status lay_clean(PIX *page, const lay_params *p, lay_clean_result *r, ocr_err *e)
{
    memset(r, 0, sizeof *r);
    lay_params def = lay_default_params();
    if (!p) p = &def;
    if (!page) return ocr_err_set(e, OCR_E_ARG, "lay_clean: no page");
    img_lept_quiet();
    r->in_width = pixGetWidth(page);
    r->in_height = pixGetHeight(page);

    PIX *g = NULL;
    ocr_status rc = img_to_gray8(&g, page, e);
    if (rc != OCR_OK) return ocr_err_prefix(e, "lay_clean");
    /* A bilevel scan has nothing to normalise. */
    if (p->bg_norm && pixGetDepth(page) != 1) {
        PIX *n = normalise(g);
        pixDestroy(&g);
        g = n;
    }
    if (!g) return ocr_err_set(e, OCR_E_NOMEM, "lay_clean: background normalisation failed");
    PIX *b = binarise(g, p->bin_thresh);
    if (!b) {
        pixDestroy(&g);
        return ocr_err_set(e, OCR_E_NOMEM, "lay_clean: binarisation failed");
    }
    float ch = char_height(b, e, &rc);
    if (rc != OCR_OK) goto fail;
    r->scale = 1;
    /* Small print (a 72 ppi screenshot of a newspaper): morphology and
     * gap rules need a few pixels per stroke, so enlarge. */
    if (p->min_char_h > 0 && ch >= 2 && ch < p->min_char_h && p->upscale_char_h > ch) {
        float f = p->upscale_char_h / ch;
        if (f > 4) f = 4;
        double px = (double)pixGetWidth(g) * f * (double)pixGetHeight(g) * f;
        if (px <= 60e6) {
            PIX *g2 = pixScale(g, f, f);
            PIX *b2 = g2 ? binarise(g2, p->bin_thresh) : NULL;
            if (!g2 || !b2) {
                pixDestroy(&g2);
                pixDestroy(&b2);
                rc = ocr_err_set(e, OCR_E_NOMEM, "lay_clean: scaling failed");
                goto fail;
            }
            pixDestroy(&g);
            pixDestroy(&b);
            g = g2;
            b = b2;
            r->scale = f;
            ch = char_height(b, e, &rc);
            if (rc != OCR_OK) goto fail;
        }
    }

    if (p->orient && ch >= 3) {
        int q = detect_orientation(b, ch, p, r);
        if (q) {
            PIX *g2 = pixRotateOrth(g, q), *b2 = pixRotateOrth(b, q);
            if (!g2 || !b2) {
                pixDestroy(&g2);
                pixDestroy(&b2);
                rc = ocr_err_set(e, OCR_E_NOMEM, "lay_clean: rotation failed");
                goto fail;
            }
            pixDestroy(&g);
            pixDestroy(&b);
            g = g2;
            b = b2;
            r->rotation = 90 * q;
        }
    }

    if (p->deskew && ch >= 3) {
        int sweep, search;
        skew_reductions(ch, &sweep, &search);
        l_float32 angle = 0, conf = 0;
        float range = p->skew_max_deg > 0.5f ? p->skew_max_deg : 0.5f;
        if (pixFindSkewSweepAndSearch(b, &angle, &conf, sweep, search, range, 1.0f, 0.01f) == 0) {
            r->skew_conf = conf;
            if (conf >= p->skew_min_conf) r->skew_deg = angle;
        }
        /* pixRotate turns clockwise for a positive angle; lines rising to
         * the right (counter-clockwise skew) are corrected by a clockwise
         * turn of the same angle. */
        if (r->skew_deg != 0 && fabsf(r->skew_deg) >= p->skew_min_deg) {
            PIX *g2 = pixRotate(g, (l_float32)(r->skew_deg * M_PI / 180.0), L_ROTATE_AREA_MAP,
                                L_BRING_IN_WHITE, 0, 0);
            PIX *b2 = g2 ? binarise(g2, p->bin_thresh) : NULL;
            if (!g2 || !b2) {
                pixDestroy(&g2);
                pixDestroy(&b2);
                rc = ocr_err_set(e, OCR_E_NOMEM, "lay_clean: deskew failed");
                goto fail;
            }
            pixDestroy(&g);
            pixDestroy(&b);
            g = g2;
            b = b2;
            r->deskewed = true;
            ch = char_height(b, e, &rc);
            if (rc != OCR_OK) goto fail;
        }
    }
    /* Light text on a dark ground made dark on light, last, so that the
     * regions' boxes are in the cleaned page's pixels. */
    if (p->invert && ch >= 3) {
        rc = lay_invert_text(g, b, ch, p, &r->inverted, &r->n_inverted, e);
        if (rc != OCR_OK) goto fail;
        if (r->n_inverted > 0) {
            ch = char_height(b, e, &rc);
            if (rc != OCR_OK) goto fail;
        }
    }
    r->gray = g;
    r->bin = b;
    r->char_h = ch;
    return OCR_OK;
fail:
    pixDestroy(&g);
    pixDestroy(&b);
    free(r->inverted);
    memset(r, 0, sizeof *r);
    return rc;
}

/* Cleaned (u, v) -> input (x, y): undo the deskew (a turn about the
 * image centre, as pixRotate makes it), the scale, then the quarter
 * turns of pixRotateOrth. */
static void map_point(const lay_clean_result *r, double u, double v, double *x, double *y)
{
    if (r->deskewed && r->gray) {
        double cx = pixGetWidth(r->gray) / 2.0, cy = pixGetHeight(r->gray) / 2.0;
        double a = -(double)r->skew_deg * M_PI / 180.0, c = cos(a), s = sin(a);
        double du = u - cx, dv = v - cy;
        u = cx + du * c - dv * s;
        v = cy + du * s + dv * c;
    }
    double f = r->scale > 0 ? r->scale : 1;
    u /= f;
    v /= f;
    double W = r->in_width, H = r->in_height;
    switch (r->rotation) {
    case 90: *x = v; *y = H - u; break;
    case 180: *x = W - u; *y = H - v; break;
    case 270: *x = W - v; *y = u; break;
    default: *x = u; *y = v; break;
    }
}

pipe_box lay_clean_map_box(const lay_clean_result *r, pipe_box b)
{
    double xs[4], ys[4];
    map_point(r, b.x1, b.y1, &xs[0], &ys[0]);
    map_point(r, b.x2, b.y1, &xs[1], &ys[1]);
    map_point(r, b.x1, b.y2, &xs[2], &ys[2]);
    map_point(r, b.x2, b.y2, &xs[3], &ys[3]);
    double x1 = xs[0], x2 = xs[0], y1 = ys[0], y2 = ys[0];
    for (int i = 1; i < 4; i++) {
        x1 = fmin(x1, xs[i]);
        x2 = fmax(x2, xs[i]);
        y1 = fmin(y1, ys[i]);
        y2 = fmax(y2, ys[i]);
    }
    pipe_box o = {(int)floor(x1), (int)floor(y1), (int)ceil(x2), (int)ceil(y2)};
    return lay_box_clip(o, r->in_width, r->in_height);
}

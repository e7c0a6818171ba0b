/* train/syn_degrade.c — make a clean render look scanned or photographed.
 *
 * Which degradations and why (research/training.md §2.2): blur is
 * mandatory (no scanner is as sharp as a render), stroke weight (ink
 * bleed/erosion) is Tesseract's main axis, then low-amplitude noise, tiny
 * rotation, illumination ramps, paper texture, JPEG, binarisation, and the
 * resolution itself (render size vs. output size). Every operation works
 * on 8 bpp images, keeps their size, and takes its randomness from the
 * sample's own stream so that results are reproducible.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/syn.h"

syn_degrade_params syn_degrade_default_params(void)
{
    syn_degrade_params d;
    memset(&d, 0, sizeof d);
    d.p_clean = 0.08f;
    d.scale = (syn_range){1, 0.55f, 2.4f};
    d.p_nearest = (syn_range){0.04f, 0, 0};
    d.paper = (syn_range){0.55f, 200, 255};
    d.ink = (syn_range){0.5f, 0, 90};
    d.ink_bleed = (syn_range){0.35f, -0.7f, 0.75f};
    d.blur = (syn_range){0.75f, 0.25f, 1.1f};
    d.noise = (syn_range){0.55f, 2, 14};
    d.salt_pepper = (syn_range){0.12f, 0.0005f, 0.006f};
    d.jpeg = (syn_range){0.3f, 25, 92};
    d.illumination = (syn_range){0.3f, 0.05f, 0.35f};
    d.texture = (syn_range){0.3f, 3, 14};
    d.binarize = (syn_range){0.1f, 0.35f, 0.65f};
    d.rotate = (syn_range){0.35f, -1.2f, 1.2f};
    d.shear = (syn_range){0.15f, -4, 4};
    d.perspective = (syn_range){0.15f, 0, 0.12f};
    d.crop_v = (syn_range){1, -0.04f, 0.35f};
    d.crop_h = (syn_range){1, 0.05f, 0.9f};
    d.neighbours = (syn_range){0.35f, 1.05f, 1.5f};
    d.rules = (syn_range){0.12f, 0.6f, 2.2f};
    d.bleed_through = (syn_range){0.06f, 0.05f, 0.22f};
    return d;
}

const char *syn_dg_name(syn_dg_op op)
{
    static const char *const names[SYN_DG_COUNT] = {
        "ink", "blur", "noise", "salt_pepper", "jpeg", "illumination", "texture",
        "binarize", "rotate", "shear", "perspective", "bleed_through", "levels"};
    return op >= 0 && op < SYN_DG_COUNT ? names[op] : "?";
}

/* ------------------------------------------------------------ pixel access */

static inline uint8_t px_get(const l_uint32 *line, int x) { return (uint8_t)GET_DATA_BYTE(line, x); }
static inline void px_set(l_uint32 *line, int x, int v)
{
    SET_DATA_BYTE(line, x, v < 0 ? 0 : v > 255 ? 255 : v);
}

static inline double gauss_fast(syn_rng *r)
{
    /* Irwin–Hall of four 16-bit uniforms from one draw: close enough to a
     * normal for pixel noise, and 5x cheaper than Box–Muller per pixel. */
    uint64_t u = syn_rng_next(r);
    double s = (double)(u & 0xFFFF) + (double)((u >> 16) & 0xFFFF) +
               (double)((u >> 32) & 0xFFFF) + (double)(u >> 48);
    return (s - 2.0 * 65535.0) / (65535.0 * 0.5773502691896258);
}

/* ----------------------------------------------------------------- the ops */

static PIX *op_ink(PIX *pix, float a)
{
    if (fabsf(a) < 0.02f) return pixCopy(NULL, pix);
    int h = pixGetHeight(pix);
    /* 3x3 is already a full pixel of stroke at typical scan sizes; 5x5
     * only when the canvas is large enough for strokes to be thick. */
    int k = fabsf(a) > 0.66f && h > 90 ? 5 : 3;
    /* Grey erosion (min) spreads dark ink; dilation (max) eats it. */
    PIX *m = a > 0 ? pixErodeGray(pix, k, k) : pixDilateGray(pix, k, k);
    if (!m) return NULL;
    PIX *out = pixCopy(NULL, pix);
    if (!out) {
        pixDestroy(&m);
        return NULL;
    }
    float f = fabsf(a) > 1 ? 1 : fabsf(a);
    int w = pixGetWidth(pix), wpl = pixGetWpl(pix);
    l_uint32 *d = pixGetData(out), *s = pixGetData(m);
    for (int y = 0; y < h; y++) {
        l_uint32 *dl = d + (size_t)y * wpl, *sl = s + (size_t)y * wpl;
        for (int x = 0; x < w; x++) {
            float v = (1 - f) * px_get(dl, x) + f * px_get(sl, x);
            px_set(dl, x, (int)lrintf(v));
        }
    }
    pixDestroy(&m);
    return out;
}

/* Separable Gaussian with replicated edges. Both passes run over whole
 * rows of floats so that the compiler vectorises them. */
static PIX *op_blur(PIX *pix, float sigma)
{
    PIX *out = pixCopy(NULL, pix);
    if (!out || sigma < 0.15f) return out;
    int w = pixGetWidth(pix), h = pixGetHeight(pix), wpl = pixGetWpl(pix);
    int rad = (int)ceilf(3 * sigma);
    if (rad > 40) rad = 40;
    float k[81], ks = 0;
    for (int i = -rad; i <= rad; i++) ks += k[i + rad] = expf(-0.5f * (float)(i * i) / (sigma * sigma));
    for (int i = 0; i <= 2 * rad; i++) k[i] /= ks;
    float *tmp = malloc((size_t)w * h * sizeof *tmp);
    float *row = malloc((size_t)(w + 2 * rad) * sizeof *row);
    float *acc = malloc((size_t)w * sizeof *acc);
    if (!tmp || !row || !acc) {
        free(tmp);
        free(row);
        free(acc);
        pixDestroy(&out);
        return NULL;
    }
    const l_uint32 *s = pixGetData(pix);
    for (int y = 0; y < h; y++) {
        const l_uint32 *sl = s + (size_t)y * wpl;
        for (int x = 0; x < w; x++) row[rad + x] = px_get(sl, x);
        for (int i = 0; i < rad; i++) {
            row[i] = row[rad];
            row[rad + w + i] = row[rad + w - 1];
        }
        float *tl = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++) tl[x] = 0;
        for (int i = 0; i <= 2 * rad; i++) {
            const float *src = row + i;
            float kk = k[i];
            for (int x = 0; x < w; x++) tl[x] += kk * src[x];
        }
    }
    l_uint32 *d = pixGetData(out);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) acc[x] = 0;
        for (int i = -rad; i <= rad; i++) {
            int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
            const float *src = tmp + (size_t)yy * w;
            float kk = k[i + rad];
            for (int x = 0; x < w; x++) acc[x] += kk * src[x];
        }
        l_uint32 *dl = d + (size_t)y * wpl;
        for (int x = 0; x < w; x++) px_set(dl, x, (int)(acc[x] + 0.5f));
    }
    free(tmp);
    free(row);
    free(acc);
    return out;
}

static PIX *op_noise(PIX *pix, float sigma, syn_rng *r)
{
    PIX *out = pixCopy(NULL, pix);
    if (!out) return NULL;
    int w = pixGetWidth(out), h = pixGetHeight(out), wpl = pixGetWpl(out);
    l_uint32 *d = pixGetData(out);
    for (int y = 0; y < h; y++) {
        l_uint32 *dl = d + (size_t)y * wpl;
        for (int x = 0; x < w; x++)
            px_set(dl, x, (int)lrint(px_get(dl, x) + sigma * gauss_fast(r)));
    }
    return out;
}

static PIX *op_salt_pepper(PIX *pix, float frac, syn_rng *r)
{
    PIX *out = pixCopy(NULL, pix);
    if (!out) return NULL;
    int w = pixGetWidth(out), h = pixGetHeight(out), wpl = pixGetWpl(out);
    l_uint32 *d = pixGetData(out);
    long n = lrintf(frac * (float)w * (float)h);
    for (long i = 0; i < n; i++) {
        int x = syn_rng_below(r, w), y = syn_rng_below(r, h);
        /* Mostly dark specks (dust, toner) with some white dropouts; a
         * few specks span two pixels as real ones do. */
        bool dark = syn_rng_chance(r, 0.75);
        int v = dark ? syn_rng_between(r, 0, 90) : syn_rng_between(r, 200, 255);
        int sz = syn_rng_chance(r, 0.2) ? 2 : 1;
        for (int dy = 0; dy < sz && y + dy < h; dy++)
            for (int dx = 0; dx < sz && x + dx < w; dx++)
                px_set(d + (size_t)(y + dy) * wpl, x + dx, v);
    }
    return out;
}

static PIX *op_jpeg(PIX *pix, float quality)
{
    l_uint8 *buf = NULL;
    size_t n = 0;
    int q = (int)lrintf(quality);
    q = q < 5 ? 5 : q > 100 ? 100 : q;
    if (pixWriteMemJpeg(&buf, &n, pix, q, 0) != 0 || !buf) return NULL;
    PIX *dec = pixReadMemJpeg(buf, n, 0, 1, NULL, 0);
    lept_free(buf);
    if (!dec) return NULL;
    if (pixGetDepth(dec) != 8) {
        PIX *g = pixConvertTo8(dec, 0);
        pixDestroy(&dec);
        dec = g;
    }
    return dec;
}

/* A smooth multiplicative light field: a linear ramp in a random direction
 * plus, sometimes, a soft shadow band (page curl, a finger, a fold). */
static PIX *op_illumination(PIX *pix, float depth, syn_rng *r)
{
    PIX *out = pixCopy(NULL, pix);
    if (!out) return NULL;
    int w = pixGetWidth(out), h = pixGetHeight(out), wpl = pixGetWpl(out);
    double ang = syn_rng_range(r, 0, 6.283185307179586);
    double cx = cos(ang), cy = sin(ang);
    double span = fabs(cx) * w + fabs(cy) * h + 1;
    double off = (cx < 0 ? -cx * w : 0) + (cy < 0 ? -cy * h : 0);
    bool band = syn_rng_chance(r, 0.3);
    double bx = syn_rng_range(r, 0, w), bw = syn_rng_range(r, 0.05, 0.3) * w + 1;
    l_uint32 *d = pixGetData(out);
    for (int y = 0; y < h; y++) {
        l_uint32 *dl = d + (size_t)y * wpl;
        for (int x = 0; x < w; x++) {
            double t = (cx * x + cy * y + off) / span; /* 0..1 */
            double f = 1 - depth * t;
            if (band) {
                double u = (x - bx) / bw;
                f *= 1 - 0.6 * depth * exp(-u * u);
            }
            px_set(dl, x, (int)lrint(px_get(dl, x) * f));
        }
    }
    return out;
}

/* Paper texture: low-frequency blotches (bilinear over a coarse random
 * grid) plus fine grain; it shows on paper more than under ink. */
static PIX *op_texture(PIX *pix, float amp, syn_rng *r)
{
    PIX *out = pixCopy(NULL, pix);
    if (!out) return NULL;
    int w = pixGetWidth(out), h = pixGetHeight(out), wpl = pixGetWpl(out);
    int cell = syn_rng_between(r, 6, 28);
    int gw = w / cell + 2, gh = h / cell + 2;
    float *g = malloc((size_t)gw * gh * sizeof *g);
    if (!g) {
        pixDestroy(&out);
        return NULL;
    }
    for (int i = 0; i < gw * gh; i++) g[i] = (float)gauss_fast(r);
    float grain = amp * (float)syn_rng_range(r, 0.1, 0.45);
    l_uint32 *d = pixGetData(out);
    for (int y = 0; y < h; y++) {
        l_uint32 *dl = d + (size_t)y * wpl;
        float fy = (float)y / cell;
        int iy = (int)fy;
        float ty = fy - iy;
        for (int x = 0; x < w; x++) {
            float fx = (float)x / cell;
            int ix = (int)fx;
            float tx = fx - ix;
            const float *g0 = g + (size_t)iy * gw + ix, *g1 = g0 + gw;
            float lo = (g0[0] * (1 - tx) + g0[1] * tx) * (1 - ty) + (g1[0] * (1 - tx) + g1[1] * tx) * ty;
            float v = px_get(dl, x);
            float t = amp * lo + grain * (float)gauss_fast(r);
            px_set(dl, x, (int)lrintf(v + t * (0.25f + 0.75f * v / 255.0f)));
        }
    }
    free(g);
    return out;
}

static void percentiles(PIX *pix, int *lo, int *hi)
{
    unsigned hist[256] = {0};
    int w = pixGetWidth(pix), h = pixGetHeight(pix), wpl = pixGetWpl(pix);
    const l_uint32 *d = pixGetData(pix);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) hist[px_get(d + (size_t)y * wpl, x)]++;
    size_t n = (size_t)w * h, acc = 0;
    *lo = 0;
    *hi = 255;
    for (int i = 0; i < 256; i++) {
        acc += hist[i];
        if (acc >= n / 50 + 1) {
            *lo = i;
            break;
        }
    }
    acc = 0;
    for (int i = 255; i >= 0; i--) {
        acc += hist[i];
        if (acc >= n / 50 + 1) {
            *hi = i;
            break;
        }
    }
}

static PIX *op_binarize(PIX *pix, float t)
{
    PIX *out = pixCopy(NULL, pix);
    if (!out) return NULL;
    int lo, hi;
    percentiles(out, &lo, &hi);
    if (hi - lo < 16) return out; /* blank: nothing to threshold */
    int thr = lo + (int)lrintf(t * (float)(hi - lo));
    int w = pixGetWidth(out), h = pixGetHeight(out), wpl = pixGetWpl(out);
    l_uint32 *d = pixGetData(out);
    for (int y = 0; y < h; y++) {
        l_uint32 *dl = d + (size_t)y * wpl;
        for (int x = 0; x < w; x++) px_set(dl, x, px_get(dl, x) < thr ? 0 : 255);
    }
    return out;
}

static PIX *op_bleed_through(PIX *pix, float opacity, syn_rng *r)
{
    /* The back of the page, seen through it: the line mirrored, shifted,
     * blurred by the paper. */
    PIX *m = pixFlipLR(NULL, pix);
    if (!m) return NULL;
    PIX *b = op_blur(m, (float)syn_rng_range(r, 0.8, 2.0));
    pixDestroy(&m);
    if (!b) return NULL;
    PIX *out = pixCopy(NULL, pix);
    if (!out) {
        pixDestroy(&b);
        return NULL;
    }
    int w = pixGetWidth(out), h = pixGetHeight(out), wpl = pixGetWpl(out);
    int dy = syn_rng_between(r, -h / 2, h / 2), dx = syn_rng_between(r, -w / 8, w / 8);
    l_uint32 *d = pixGetData(out);
    const l_uint32 *s = pixGetData(b);
    for (int y = 0; y < h; y++) {
        int sy = y + dy;
        if (sy < 0 || sy >= h) continue;
        l_uint32 *dl = d + (size_t)y * wpl;
        const l_uint32 *sl = s + (size_t)sy * wpl;
        for (int x = 0; x < w; x++) {
            int sx = x + dx;
            if (sx < 0 || sx >= w) continue;
            float f = 1 - opacity * (1 - px_get(sl, sx) / 255.0f);
            px_set(dl, x, (int)lrintf(px_get(dl, x) * f));
        }
    }
    pixDestroy(&b);
    return out;
}

PIX *syn_degrade_levels(PIX *pix, int paper, int ink)
{
    PIX *out = pixCopy(NULL, pix);
    if (!out) return NULL;
    int w = pixGetWidth(out), h = pixGetHeight(out), wpl = pixGetWpl(out);
    int lut[256];
    for (int v = 0; v < 256; v++) lut[v] = ink + (paper - ink) * v / 255;
    l_uint32 *d = pixGetData(out);
    for (int y = 0; y < h; y++) {
        l_uint32 *dl = d + (size_t)y * wpl;
        for (int x = 0; x < w; x++) px_set(dl, x, lut[px_get(dl, x)]);
    }
    return out;
}

/* --------------------------------------------------------------- geometry */

/* Inverse-mapped projective warp with bilinear interpolation and white
 * outside: c maps output (x, y) to source coordinates. The numerator and
 * denominator are linear along a row, so each pixel costs one division
 * (Leptonica's pixProjectiveGray recomputes the full map per pixel and was
 * the largest single cost of a sample). */
static PIX *warp_gray(PIX *pix, const l_float32 *c)
{
    int w = pixGetWidth(pix), h = pixGetHeight(pix), wpl = pixGetWpl(pix);
    uint8_t *src = malloc((size_t)w * h);
    PIX *out = pixCreate(w, h, 8);
    if (!src || !out) {
        free(src);
        if (out) pixDestroy(&out);
        return NULL;
    }
    const l_uint32 *sd = pixGetData(pix);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) src[(size_t)y * w + x] = px_get(sd + (size_t)y * wpl, x);
    l_uint32 *dd = pixGetData(out);
    int dwpl = pixGetWpl(out);
    for (int y = 0; y < h; y++) {
        double nx = c[1] * y + c[2], ny = c[4] * y + c[5], dn = c[7] * y + 1;
        l_uint32 *dl = dd + (size_t)y * dwpl;
        for (int x = 0; x < w; x++, nx += c[0], ny += c[3], dn += c[6]) {
            double q = 1.0 / dn, fx = nx * q, fy = ny * q;
            int v = 255;
            if (fx > -1 && fy > -1 && fx < w && fy < h) {
                int x0 = (int)floor(fx), y0 = (int)floor(fy);
                double ax = fx - x0, ay = fy - y0;
                int p00 = 255, p01 = 255, p10 = 255, p11 = 255;
                if (y0 >= 0) {
                    const uint8_t *r0 = src + (size_t)y0 * w;
                    if (x0 >= 0) p00 = r0[x0];
                    if (x0 + 1 < w) p01 = r0[x0 + 1];
                }
                if (y0 + 1 < h) {
                    const uint8_t *r1 = src + (size_t)(y0 + 1) * w;
                    if (x0 >= 0) p10 = r1[x0];
                    if (x0 + 1 < w) p11 = r1[x0 + 1];
                }
                double top = p00 + ax * (p01 - p00), bot = p10 + ax * (p11 - p10);
                v = (int)(top + ay * (bot - top) + 0.5);
            }
            SET_DATA_BYTE(dl, x, v);
        }
    }
    free(src);
    return out;
}

PIX *syn_degrade_warp(PIX *pix, double rot_deg, double shear_deg, double persp,
                      syn_rng *r, double box[4])
{
    int w = pixGetWidth(pix), h = pixGetHeight(pix);
    double cx = w / 2.0, cy = h / 2.0;
    double a = rot_deg * 3.141592653589793 / 180, sh = tan(shear_deg * 3.141592653589793 / 180);
    double ca = cos(a), sa = sin(a);
    double bh = box ? box[3] - box[1] : h;
    PTA *src = ptaCreate(4), *dst = ptaCreate(4);
    if (!src || !dst) {
        ptaDestroy(&src);
        ptaDestroy(&dst);
        return NULL;
    }
    const double cx4[4] = {0, (double)w, 0, (double)w}, cy4[4] = {0, 0, (double)h, (double)h};
    for (int i = 0; i < 4; i++) {
        /* shear (x += (y - cy)·tan), then rotate about the centre, then
         * move each corner a little: a mild perspective. */
        double x = cx4[i] - cx, y = cy4[i] - cy;
        x += y * sh;
        double xr = ca * x - sa * y, yr = sa * x + ca * y;
        if (persp > 0) {
            xr += syn_rng_range(r, -persp, persp) * bh;
            yr += syn_rng_range(r, -persp, persp) * bh;
        }
        ptaAddPt(src, (float)cx4[i], (float)cy4[i]);
        ptaAddPt(dst, (float)(xr + cx), (float)(yr + cy));
    }
    PIX *out = NULL;
    l_float32 *inv = NULL;
    if (getProjectiveXformCoeffs(dst, src, &inv) == 0 && inv) {
        out = warp_gray(pix, inv);
        lept_free(inv);
    }
    if (out && box) {
        l_float32 *vc = NULL;
        if (getProjectiveXformCoeffs(src, dst, &vc) == 0 && vc) {
            double nb[4] = {1e30, 1e30, -1e30, -1e30};
            const double bx[4] = {box[0], box[2], box[0], box[2]};
            const double by[4] = {box[1], box[1], box[3], box[3]};
            for (int i = 0; i < 4; i++) {
                l_float32 xp, yp;
                projectiveXformPt(vc, (l_int32)lrint(bx[i]), (l_int32)lrint(by[i]), &xp, &yp);
                if (xp < nb[0]) nb[0] = xp;
                if (yp < nb[1]) nb[1] = yp;
                if (xp > nb[2]) nb[2] = xp;
                if (yp > nb[3]) nb[3] = yp;
            }
            memcpy(box, nb, sizeof nb);
            lept_free(vc);
        }
    }
    ptaDestroy(&src);
    ptaDestroy(&dst);
    return out;
}

/* ---------------------------------------------------------------- resample */

/* Resample to exactly (wd, hd): a tent filter whose support grows with the
 * reduction (bilinear when enlarging, area-like when shrinking), or nearest
 * neighbour. Exact output size, no sharpening, deterministic. */
typedef struct {
    int first, n;
    float w[64];
} taps;

static taps *make_taps(int in, int out, bool nearest)
{
    taps *t = malloc((size_t)out * sizeof *t);
    if (!t) return NULL;
    double scale = (double)in / out;
    double rad = scale > 1 ? scale : 1;
    if (rad > 31) rad = 31;
    for (int o = 0; o < out; o++) {
        double c = (o + 0.5) * scale - 0.5;
        taps *tp = &t[o];
        if (nearest) {
            int i = (int)floor(c + 0.5);
            tp->first = i < 0 ? 0 : i >= in ? in - 1 : i;
            tp->n = 1;
            tp->w[0] = 1;
            continue;
        }
        int a = (int)ceil(c - rad), b = (int)floor(c + rad);
        if (b - a + 1 > 64) b = a + 63;
        double sum = 0;
        tp->n = 0;
        tp->first = a;
        for (int i = a; i <= b; i++) {
            double wt = 1 - fabs(i - c) / rad;
            if (wt < 0) wt = 0;
            tp->w[tp->n++] = (float)wt;
            sum += wt;
        }
        if (sum <= 0) {
            tp->first = (int)floor(c + 0.5);
            tp->n = 1;
            tp->w[0] = 1;
            sum = 1;
        }
        for (int k = 0; k < tp->n; k++) tp->w[k] = (float)(tp->w[k] / sum);
    }
    return t;
}

PIX *syn_resample(PIX *pix, int wd, int hd, bool nearest)
{
    int w = pixGetWidth(pix), h = pixGetHeight(pix), wpl = pixGetWpl(pix);
    if (wd < 1 || hd < 1) return NULL;
    taps *tx = make_taps(w, wd, nearest), *ty = make_taps(h, hd, nearest);
    float *tmp = malloc((size_t)wd * h * sizeof *tmp);
    PIX *out = pixCreate(wd, hd, 8);
    if (!tx || !ty || !tmp || !out) {
        free(tx);
        free(ty);
        free(tmp);
        if (out) pixDestroy(&out);
        return NULL;
    }
    const l_uint32 *s = pixGetData(pix);
    for (int y = 0; y < h; y++) {
        const l_uint32 *sl = s + (size_t)y * wpl;
        for (int x = 0; x < wd; x++) {
            const taps *t = &tx[x];
            float acc = 0;
            for (int k = 0; k < t->n; k++) {
                int i = t->first + k;
                i = i < 0 ? 0 : i >= w ? w - 1 : i;
                acc += t->w[k] * px_get(sl, i);
            }
            tmp[(size_t)y * wd + x] = acc;
        }
    }
    l_uint32 *d = pixGetData(out);
    int dwpl = pixGetWpl(out);
    for (int y = 0; y < hd; y++) {
        const taps *t = &ty[y];
        l_uint32 *dl = d + (size_t)y * dwpl;
        for (int x = 0; x < wd; x++) {
            float acc = 0;
            for (int k = 0; k < t->n; k++) {
                int i = t->first + k;
                i = i < 0 ? 0 : i >= h ? h - 1 : i;
                acc += t->w[k] * tmp[(size_t)i * wd + x];
            }
            px_set(dl, x, (int)lrintf(acc));
        }
    }
    free(tx);
    free(ty);
    free(tmp);
    return out;
}

/* -------------------------------------------------------------- dispatcher */

ocr_status syn_degrade_apply(PIX **pix, syn_dg_op op, float amount, syn_rng *r,
                             ocr_err *e)
{
    if (!pix || !*pix || pixGetDepth(*pix) != 8 || pixGetColormap(*pix))
        return ocr_err_set(e, OCR_E_ARG, "syn_degrade_apply(%s): need an 8 bpp grey image",
                           syn_dg_name(op));
    PIX *in = *pix, *out = NULL;
    switch (op) {
    case SYN_DG_INK: out = op_ink(in, amount); break;
    case SYN_DG_BLUR: out = op_blur(in, amount); break;
    case SYN_DG_NOISE: out = op_noise(in, amount, r); break;
    case SYN_DG_SALT_PEPPER: out = op_salt_pepper(in, amount, r); break;
    case SYN_DG_JPEG: out = op_jpeg(in, amount); break;
    case SYN_DG_ILLUMINATION: out = op_illumination(in, amount, r); break;
    case SYN_DG_TEXTURE: out = op_texture(in, amount, r); break;
    case SYN_DG_BINARIZE: out = op_binarize(in, amount); break;
    case SYN_DG_ROTATE: out = syn_degrade_warp(in, amount, 0, 0, r, NULL); break;
    case SYN_DG_SHEAR: out = syn_degrade_warp(in, 0, amount, 0, r, NULL); break;
    case SYN_DG_PERSPECTIVE: out = syn_degrade_warp(in, 0, 0, amount, r, NULL); break;
    case SYN_DG_BLEED_THROUGH: out = op_bleed_through(in, amount, r); break;
    case SYN_DG_LEVELS: {
        float a = amount < 0 ? 0 : amount > 1 ? 1 : amount;
        out = syn_degrade_levels(in, 255 - (int)lrintf(60 * a), (int)lrintf(120 * a));
        break;
    }
    default:
        return ocr_err_set(e, OCR_E_ARG, "syn_degrade_apply: unknown op %d", (int)op);
    }
    if (!out) return ocr_err_set(e, OCR_E_NOMEM, "syn_degrade_apply(%s): failed on %dx%d",
                                 syn_dg_name(op), pixGetWidth(in), pixGetHeight(in));
    pixDestroy(pix);
    *pix = out;
    return OCR_OK;
}

/* The photometric chain applied to a crop at scan resolution. `scale` is
 * render size / output size: blur is specified in output pixels. Returns
 * a rough strength in 0..1 for inspection. */
ocr_status syn_degrade_chain(PIX **pix, const syn_degrade_params *d, double scale,
                             syn_rng *r, float *strength, ocr_err *e)
{
    float s = 0;
    ocr_status st = OCR_OK;
#define DRAW(f) ((float)syn_rng_range(r, (f).lo, (f).hi))
#define FRAC(f, v) ((f).hi > (f).lo ? ((v) - (f).lo) / ((f).hi - (f).lo) : 0)
    int paper = 255, ink = 0;
    if (syn_rng_chance(r, d->paper.p)) paper = (int)lrintf(DRAW(d->paper));
    if (syn_rng_chance(r, d->ink.p)) ink = (int)lrintf(DRAW(d->ink));
    if (ink > paper - 60) ink = paper - 60 < 0 ? 0 : paper - 60;
    if (paper != 255 || ink != 0) {
        PIX *o = syn_degrade_levels(*pix, paper, ink);
        if (!o) return ocr_err_set(e, OCR_E_NOMEM, "syn_degrade_chain: levels");
        pixDestroy(pix);
        *pix = o;
        s += (float)(255 - paper + ink) / 400.0f;
    }
    if (st == OCR_OK && syn_rng_chance(r, d->illumination.p)) {
        float v = DRAW(d->illumination);
        st = syn_degrade_apply(pix, SYN_DG_ILLUMINATION, v, r, e);
        s += 0.5f * FRAC(d->illumination, v);
    }
    if (st == OCR_OK && syn_rng_chance(r, d->texture.p)) {
        float v = DRAW(d->texture);
        st = syn_degrade_apply(pix, SYN_DG_TEXTURE, v, r, e);
        s += 0.5f * FRAC(d->texture, v);
    }
    if (st == OCR_OK && syn_rng_chance(r, d->bleed_through.p)) {
        float v = DRAW(d->bleed_through);
        st = syn_degrade_apply(pix, SYN_DG_BLEED_THROUGH, v, r, e);
        s += 0.5f * FRAC(d->bleed_through, v);
    }
    if (st == OCR_OK && syn_rng_chance(r, d->blur.p)) {
        float v = DRAW(d->blur);
        st = syn_degrade_apply(pix, SYN_DG_BLUR, v * (float)scale, r, e);
        s += FRAC(d->blur, v);
    }
    if (st == OCR_OK && syn_rng_chance(r, d->noise.p)) {
        float v = DRAW(d->noise);
        st = syn_degrade_apply(pix, SYN_DG_NOISE, v, r, e);
        s += FRAC(d->noise, v);
    }
    if (st == OCR_OK && syn_rng_chance(r, d->salt_pepper.p)) {
        float v = DRAW(d->salt_pepper);
        st = syn_degrade_apply(pix, SYN_DG_SALT_PEPPER, v, r, e);
        s += 0.5f * FRAC(d->salt_pepper, v);
    }
    bool binarized = false;
    if (st == OCR_OK && syn_rng_chance(r, d->binarize.p)) {
        st = syn_degrade_apply(pix, SYN_DG_BINARIZE, DRAW(d->binarize), r, e);
        binarized = true;
        s += 0.7f;
    }
    /* Binary scans are stored losslessly (fax/TIFF G4), not as JPEG. */
    if (st == OCR_OK && !binarized && syn_rng_chance(r, d->jpeg.p)) {
        float v = DRAW(d->jpeg);
        st = syn_degrade_apply(pix, SYN_DG_JPEG, v, r, e);
        s += 1 - FRAC(d->jpeg, v);
    }
#undef DRAW
#undef FRAC
    if (strength) *strength = s / 4 > 1 ? 1 : s / 4;
    return st;
}

/* pipeline/lay_invert.c — light text on a dark ground (a chapter banner,
 * a heading on a coloured bar, a white-on-black table header, a slide's
 * title band) turned into dark print on light paper, in the cleaned
 * grayscale the recogniser reads and in the binary the layout analyses,
 * so the rest of the pipeline needs no special case for it.
 *
 * A candidate is a large, dense component of the binary (the dark
 * ground). Its holes (the light pixels it encloses) are the lettering
 * when enough of them are glyph-sized and sit in rows: linked left to
 * right with similar heights, bottoms on a common straight baseline
 * (which may slope: a tilted banner). A photograph or a textured picture
 * has light specks too, but of any size, in no rows, on a ground that
 * changes from place to place; so the region must also hold more aligned
 * glyphs than stray holes, and its ground must be smooth (3x3 means of
 * gray a few pixels apart differ little: a gradient or a scan's pixel
 * noise is smooth at that scale, a picture's texture and the strokes of
 * smudged dark print merged into one blob are not) and thick (more than
 * the lines of a grid of small squares).
 *
 * Off by default (lay_params.invert): the recogniser reads the display
 * type of banners poorly, so on the evaluation pages the text gained did
 * not yet outweigh the junk read (pipeline/README.md).
 *
 * The inversion maps the ground's light end to white and the lettering's
 * level to black, over the ground and the holes up to glyph size only: a
 * large light hole (a white box of ordinary print inside the banner) is
 * left as it is. The ground's outer rim is whitened so that the band
 * leaves no outline behind. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

typedef struct {
    int x1, y1, x2, y2; /* box in the region's clip, x2/y2 exclusive */
    int idx;            /* index in the hole components (its mask) */
    int parent;         /* union-find over rows */
    bool glyph;         /* glyph-sized */
    bool text;          /* in an accepted row */
} hole_t;

static int uf_find(hole_t *h, int i)
{
    while (h[i].parent != i) i = h[i].parent = h[h[i].parent].parent;
    return i;
}

static int cmp_hole_x(const void *a, const void *b)
{
    const hole_t *p = a, *q = b;
    return (p->x1 > q->x1) - (p->x1 < q->x1);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static inline int hh(const hole_t *g) { return g->y2 - g->y1; }
static inline int hw(const hole_t *g) { return g->x2 - g->x1; }

/* Link every glyph to its nearest neighbour on the right on the same
 * row (overlapping vertically by half the smaller, heights within 2.2x,
 * at most 1.2 of the taller's height apart); accept the rows of >= 3
 * whose heights agree and whose bottoms lie on a straight line. Returns
 * the glyphs in accepted rows. g is sorted by x1. */
static int text_rows(hole_t *g, int n)
{
    for (int i = 0; i < n; i++) g[i].parent = i;
    for (int i = 0; i < n; i++) {
        if (!g[i].glyph) continue;
        int best = -1, bgap = 1 << 30;
        for (int j = i + 1; j < n; j++) {
            if (!g[j].glyph) continue;
            int hi = hh(&g[i]), hj = hh(&g[j]);
            int hmax = hi > hj ? hi : hj, hmin = hi < hj ? hi : hj;
            if (g[j].x1 > g[i].x2 + 2 * hmax) break; /* sorted by x1: no nearer one follows */
            if (g[j].x1 + g[j].x2 <= g[i].x1 + g[i].x2) continue;
            if (hmax > 2.2f * (float)hmin) continue;
            int ov = lay_overlap(g[i].y1, g[i].y2, g[j].y1, g[j].y2);
            if (2 * ov < hmin) continue;
            int gap = g[j].x1 - g[i].x2;
            if ((float)gap > 1.2f * (float)hmax || gap >= bgap) continue;
            best = j;
            bgap = gap;
        }
        if (best >= 0) {
            int a = uf_find(g, i), b = uf_find(g, best);
            if (a != b) g[b].parent = a;
        }
    }
    int total = 0;
    int *mem = malloc((size_t)(n > 0 ? n : 1) * sizeof *mem);
    float *hv = malloc((size_t)(n > 0 ? n : 1) * sizeof *hv);
    if (!mem || !hv) {
        free(mem);
        free(hv);
        return 0;
    }
    for (int r = 0; r < n; r++) {
        if (!g[r].glyph || uf_find(g, r) != r) continue;
        int m = 0;
        for (int i = 0; i < n; i++)
            if (g[i].glyph && uf_find(g, i) == r) mem[m++] = i;
        if (m < 3) continue;
        for (int k = 0; k < m; k++) hv[k] = (float)hh(&g[mem[k]]);
        qsort(hv, (size_t)m, sizeof *hv, cmp_float);
        float mh = hv[m / 2];
        /* baseline: least squares of the bottoms over the centres */
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int k = 0; k < m; k++) {
            double x = 0.5 * (g[mem[k]].x1 + g[mem[k]].x2), y = g[mem[k]].y2;
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
        }
        double den = m * sxx - sx * sx, a = den > 0 ? (m * sxy - sx * sy) / den : 0;
        if (fabs(a) > 0.4) continue; /* steeper than ~22 degrees: no row */
        double c = (sy - a * sx) / m;
        int on_base = 0, even = 0;
        for (int k = 0; k < m; k++) {
            const hole_t *q = &g[mem[k]];
            double x = 0.5 * (q->x1 + q->x2);
            on_base += fabs(q->y2 - (a * x + c)) <= 0.25 * mh;
            even += hh(q) >= 0.55f * mh && hh(q) <= 1.8f * mh;
        }
        if (on_base * 10 < 6 * m || even * 10 < 7 * m) continue;
        for (int k = 0; k < m; k++) g[mem[k]].text = true;
        total += m;
    }
    free(mem);
    free(hv);
    return total;
}

#define PIX_BIT(line, x) GET_DATA_BIT(line, x)

/* Texture of the ground: the mean absolute difference between 3x3 means
 * of gray 3 px apart (horizontally and vertically) over the eroded ground
 * m (1 bpp clip); means, so that a scan's pixel noise counts little and
 * a picture's texture counts. g8 (8 bpp clip): gray; its values on the
 * ground go to vals. */
static double ground_roughness(PIX *g8, PIX *m, float *vals, int *nvals)
{
    *nvals = 0;
    PIX *sm = pixBlockconvGray(g8, NULL, 1, 1);
    if (!sm) return 1e9;
    int w = pixGetWidth(m), h = pixGetHeight(m);
    int wg = pixGetWpl(g8), ws = pixGetWpl(sm), wm = pixGetWpl(m);
    l_uint32 *dg = pixGetData(g8), *ds = pixGetData(sm), *dm = pixGetData(m);
    double s = 0;
    long n = 0;
    int nv = 0;
    for (int y = 0; y < h; y++) {
        l_uint32 *lm = dm + (size_t)y * (size_t)wm, *lm2 = y + 3 < h ? lm + 3 * wm : NULL;
        l_uint32 *lg = dg + (size_t)y * (size_t)wg;
        l_uint32 *ls = ds + (size_t)y * (size_t)ws, *ls2 = ls + 3 * ws;
        for (int x = 0; x < w; x++) {
            if (!PIX_BIT(lm, x)) continue;
            vals[nv++] = (float)GET_DATA_BYTE(lg, x);
            int v = (int)GET_DATA_BYTE(ls, x);
            if (x + 3 < w && PIX_BIT(lm, x + 3)) {
                s += abs((int)GET_DATA_BYTE(ls, x + 3) - v);
                n++;
            }
            if (lm2 && PIX_BIT(lm2, x)) {
                s += abs((int)GET_DATA_BYTE(ls2, x) - v);
                n++;
            }
        }
    }
    pixDestroy(&sm);
    *nvals = nv;
    return n ? s / (double)n : 1e9;
}

/* Gray values of the light pixels (not ink in bin) of mask m. */
static int light_values(PIX *g8, PIX *b1, PIX *m, float *vals)
{
    int w = pixGetWidth(m), h = pixGetHeight(m);
    int wg = pixGetWpl(g8), wm = pixGetWpl(m), wb = pixGetWpl(b1);
    l_uint32 *dg = pixGetData(g8), *dm = pixGetData(m), *db = pixGetData(b1);
    int nv = 0;
    for (int y = 0; y < h; y++) {
        l_uint32 *lm = dm + (size_t)y * (size_t)wm, *lb = db + (size_t)y * (size_t)wb;
        l_uint32 *lg = dg + (size_t)y * (size_t)wg;
        for (int x = 0; x < w; x++)
            if (PIX_BIT(lm, x) && !PIX_BIT(lb, x)) vals[nv++] = (float)GET_DATA_BYTE(lg, x);
    }
    return nv;
}

typedef struct {
    pipe_box *v;
    int n, cap;
    bool oom;
} box_list;

static void box_push(box_list *l, pipe_box b)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        pipe_box *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = b;
}

/* One candidate: cm, the component's mask at (bx, by) in the page.
 * Returns true when it was inverted; the boxes of its rows of lettering
 * (page pixels) are pushed onto rows. */
static bool invert_region(PIX *gray, PIX *bin, PIX *cm, int bx, int by, float ch, const lay_params *p,
                          box_list *rows)
{
    int bw = pixGetWidth(cm), bh = pixGetHeight(cm);
    bool done = false;
    PIX *holes = pixHolesByFilling(cm, 4);
    PIXA *hpa = NULL;
    BOXA *hba = holes ? pixConnComp(holes, &hpa, 4) : NULL;
    int nh = hba ? boxaGetCount(hba) : 0;
    hole_t *g = nh ? calloc((size_t)nh, sizeof *g) : NULL;
    PIX *g8 = NULL, *b1 = NULL, *ground = NULL, *solid = NULL, *glyphs = NULL, *region = NULL;
    float *vals = NULL;
    if (!g) goto out;

    /* glyph-sized holes: not specks, not the region's whole height */
    float hmin = 0.5f * ch > 4 ? 0.5f * ch : 4;
    for (int i = 0; i < nh; i++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(hba, i, &x, &y, &w, &h);
        g[i] = (hole_t){x, y, x + w, y + h, i, i, false, false};
        g[i].glyph = (float)h >= hmin && h <= 0.95f * (float)bh && w <= 3 * h && h <= 12 * w + 8;
    }
    qsort(g, (size_t)nh, sizeof *g, cmp_hole_x);
    int n_text = text_rows(g, nh);
    if (n_text < p->invert_min_glyphs) goto out;
    vals = malloc((size_t)bw * (size_t)bh * sizeof *vals);
    if (!vals) goto out;
    int nv = 0;
    for (int i = 0; i < nh; i++)
        if (g[i].text) vals[nv++] = (float)hh(&g[i]);
    float mh = lay_quantile(vals, nv, 0.5f);
    BOX *box = boxCreate(bx, by, bw, bh);
    g8 = box ? pixClipRectangle(gray, box, NULL) : NULL;
    b1 = box ? pixClipRectangle(bin, box, NULL) : NULL;
    boxDestroy(&box);
    if (!g8 || !b1) goto out;
    /* stray holes: not specks, up to glyph size, in no row */
    int n_stray = 0;
    for (int i = 0; i < nh; i++) {
        if (g[i].text) continue;
        int h = hh(&g[i]), w = hw(&g[i]);
        if ((h >= 0.3f * mh || w >= 0.3f * mh) && h <= 2.5f * mh) n_stray++;
    }
    if (n_stray > n_text) goto out;

    /* the ground: smooth, thick, darker than the lettering */
    ground = pixErodeBrick(NULL, cm, 5, 5);
    if (!ground) goto out;
    int s = (int)lrintf(0.3f * mh);
    if (s < 3) s = 3;
    solid = pixErodeBrick(NULL, cm, s, s);
    l_int32 n_cm = 0, n_solid = 0;
    pixCountPixels(cm, &n_cm, NULL);
    if (!solid || pixCountPixels(solid, &n_solid, NULL)) goto out;
    if (n_solid < p->invert_min_solid * (float)n_cm) goto out;
    nv = 0;
    double rough = ground_roughness(g8, ground, vals, &nv);
    if (nv < 16 || rough > p->invert_max_rough) goto out;
    float bg_med = lay_quantile(vals, nv, 0.5f), bg_hi = lay_quantile(vals, nv, 0.8f);
    glyphs = pixCreate(bw, bh, 1);
    if (!glyphs) goto out;
    for (int i = 0; i < nh; i++) {
        if (!g[i].text) continue;
        PIX *hm = pixaGetPix(hpa, g[i].idx, L_CLONE);
        if (hm) pixRasterop(glyphs, g[i].x1, g[i].y1, hw(&g[i]), hh(&g[i]), PIX_SRC | PIX_DST, hm, 0, 0);
        pixDestroy(&hm);
    }
    nv = light_values(g8, b1, glyphs, vals);
    float fg = lay_quantile(vals, nv, 0.5f);
    if (nv < 16 || fg - bg_med < 60 || fg - bg_hi < 30) goto out;

    /* the region: ground and holes up to glyph size */
    region = pixCopy(NULL, cm);
    if (!region) goto out;
    for (int i = 0; i < nh; i++) {
        if ((float)hh(&g[i]) > 2.5f * mh) continue;
        PIX *hm = pixaGetPix(hpa, g[i].idx, L_CLONE);
        if (hm) pixRasterop(region, g[i].x1, g[i].y1, hw(&g[i]), hh(&g[i]), PIX_SRC | PIX_DST, hm, 0, 0);
        pixDestroy(&hm);
    }
    /* the rim: ground within 3 px of the outside */
    PIX *filled = pixOr(NULL, cm, holes);
    PIX *inner = filled ? pixErodeBrick(NULL, filled, 7, 7) : NULL;
    pixDestroy(&filled);
    if (!inner) goto out;
    int t = (int)lrintf(p->bin_thresh * 255.0f);
    int wg = pixGetWpl(gray), wb = pixGetWpl(bin), wr = pixGetWpl(region), wi = pixGetWpl(inner);
    l_uint32 *dg = pixGetData(gray), *db = pixGetData(bin), *dr = pixGetData(region), *di = pixGetData(inner);
    double k = 255.0 / (double)(fg - bg_hi);
    for (int y = 0; y < bh; y++) {
        l_uint32 *lr = dr + (size_t)y * (size_t)wr, *li = di + (size_t)y * (size_t)wi;
        l_uint32 *lg = dg + (size_t)(y + by) * (size_t)wg, *lb = db + (size_t)(y + by) * (size_t)wb;
        for (int x = 0; x < bw; x++) {
            if (!PIX_BIT(lr, x)) continue;
            int X = x + bx, v = 255;
            if (PIX_BIT(li, x)) {
                double nvv = k * ((double)fg - (double)GET_DATA_BYTE(lg, X));
                v = nvv < 0 ? 0 : nvv > 255 ? 255 : (int)lrint(nvv);
            }
            SET_DATA_BYTE(lg, X, v);
            if (v < t)
                SET_DATA_BIT(lb, X);
            else
                CLEAR_DATA_BIT(lb, X);
        }
    }
    pixDestroy(&inner);
    done = true;
    for (int r = 0; r < nh; r++) {
        if (!g[r].text || uf_find(g, r) != r) continue;
        pipe_box u = {0, 0, 0, 0};
        for (int i = 0; i < nh; i++)
            if (g[i].text && uf_find(g, i) == r)
                u = lay_box_union(u, (pipe_box){g[i].x1 + bx, g[i].y1 + by, g[i].x2 + bx, g[i].y2 + by});
        box_push(rows, u);
    }
out:
    free(vals);
    free(g);
    pixDestroy(&region);
    pixDestroy(&glyphs);
    pixDestroy(&solid);
    pixDestroy(&ground);
    pixDestroy(&g8);
    pixDestroy(&b1);
    boxaDestroy(&hba);
    pixaDestroy(&hpa);
    pixDestroy(&holes);
    return done;
}

ocr_status lay_invert_text(PIX *gray, PIX *bin, float ch, const lay_params *p, pipe_box **boxes,
                           int *n_regions, ocr_err *e)
{
    *boxes = NULL;
    *n_regions = 0;
    if (!gray || !bin || pixGetDepth(gray) != 8 || pixGetDepth(bin) != 1 ||
        pixGetWidth(gray) != pixGetWidth(bin) || pixGetHeight(gray) != pixGetHeight(bin))
        return ocr_err_set(e, OCR_E_ARG, "lay_invert_text: need an 8 bpp gray and a 1 bpp binary of one size");
    if (ch < 3) return OCR_OK;
    /* the ground holds at least a row of three glyphs of half the page's
     * height with some margin */
    int minw = (int)(3 * ch), minh = (int)(0.8f * ch);
    PIX *big = pixSelectBySize(bin, minw, minh, 8, L_SELECT_IF_BOTH, L_SELECT_IF_GTE, NULL);
    if (!big) return ocr_err_set(e, OCR_E_NOMEM, "lay_invert_text: component selection failed");
    PIXA *pa = NULL;
    BOXA *ba = pixConnComp(big, &pa, 8);
    pixDestroy(&big);
    if (!ba) return ocr_err_set(e, OCR_E_NOMEM, "lay_invert_text: components failed");
    int n = boxaGetCount(ba);
    box_list rows = {0};
    for (int i = 0; i < n && !rows.oom; i++) {
        l_int32 x, y, w, h, cnt = 0;
        boxaGetBoxGeometry(ba, i, &x, &y, &w, &h);
        PIX *cm = pixaGetPix(pa, i, L_CLONE);
        if (!cm) continue;
        pixCountPixels(cm, &cnt, NULL);
        /* dense: a ground, not a frame, a rule grid or a letter */
        if ((double)cnt >= p->invert_min_dense * (double)w * h) invert_region(gray, bin, cm, x, y, ch, p, &rows);
        pixDestroy(&cm);
    }
    boxaDestroy(&ba);
    pixaDestroy(&pa);
    ocr_status rc = OCR_OK;
    if (rows.oom) {
        free(rows.v);
        rc = ocr_err_set(e, OCR_E_NOMEM, "lay_invert_text: out of memory");
    } else {
        *boxes = rows.v;
        *n_regions = rows.n;
    }
    return rc;
}

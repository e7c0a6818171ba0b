/* pipeline/lay_lines.c — text lines from connected components.
 *
 * 0. The stacked pieces of each display formula (a big operator's limits,
 *    a fraction's numerator and denominator) and what stands beside them
 *    on the formula's rows are grouped into one fragment (formula_groups).
 * 1. Glyph-sized components ("main": at least 0.4 of the page's median
 *    component height, at most 10 times it) are linked to their right
 *    neighbours when they overlap vertically and the gap is under 0.45
 *    of the taller one's height: letters and ordinary word spaces join
 *    into fragments. Fragments well under a glyph's height and short
 *    (quotes, dashes) are set aside with the punctuation.
 * 2. Each fragment is paired with its nearest fragment to the right on
 *    the same row (one-to-one). A gap under 0.6 line heights joins the
 *    pair, one over 3.5 line heights separates it; in between it is a
 *    candidate gutter, and it separates only when
 *      - candidate gaps on >= 6 consecutive rows line up (a column
 *        gutter), or on gutter_rows..5 rows and this gap is twice the
 *        row's other gaps (an unruled table's column; a river of wide
 *        spaces in a loosely justified column has even spaces), or
 *      - it is white for a line height above and below, with text on
 *        both sides on a neighbouring row, or with the words on either
 *        side ending and starting where >= 3 other lines of the region
 *        end and start (a column margin).
 *    Other candidates (a loose word space) join.
 * 3. A line inside a bigger one (the i-dot of large type) or overlapping
 *    a third of it (fraction parts, scripts) joins it; a line that is
 *    only "(n)" well right of another line on its row joins it as its
 *    equation number (lay_line.eqno_x).
 * 4. Punctuation, dots and accents are attached to the line whose band
 *    holds them; solid blobs (bullets, full stops) also beside a line;
 *    specks are dropped.
 * 5. Each line gets a baseline (a low quantile of its glyph bottoms), an
 *    x-height, a font size estimate, a stroke width (ink per horizontal
 *    run) and a crop: the line's logical band, ascender to descender,
 *    estimated from the baseline and glyph heights, padded as the
 *    recogniser's training crops are (train/syn_gen.c: margins are
 *    fractions of the logical height). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

#define LINK_GAP 0.45f     /* letter/word gap, x taller component height */
#define LINK_OVERLAP 0.4f  /* vertical overlap, x shorter component height */
#define JOIN_GAP 0.6f      /* fragment gap always joined, x line height */
#define HARD_GAP 3.5f      /* fragment gap never joined, x line height */
#define LONG_CHAIN 6       /* rows of aligned gaps that are a gutter outright */

typedef struct {
    int *p;
    int n;
} uf_t;

static int uf_find(uf_t *u, int a)
{
    while (u->p[a] != a) {
        u->p[a] = u->p[u->p[a]];
        a = u->p[a];
    }
    return a;
}

static void uf_union(uf_t *u, int a, int b)
{
    a = uf_find(u, a);
    b = uf_find(u, b);
    if (a != b) u->p[a < b ? b : a] = a < b ? a : b;
}

static bool uf_init(uf_t *u, int n)
{
    u->n = n;
    u->p = malloc((size_t)(n > 0 ? n : 1) * sizeof *u->p);
    if (!u->p) return false;
    for (int i = 0; i < n; i++) u->p[i] = i;
    return true;
}

typedef struct {
    int x1, y1, x2, y2;
    int h;        /* height for gap rules */
    int right;    /* nearest fragment to the right on the row, -1 */
    int gap;      /* its distance */
    int kind;     /* of that gap: 0 none, 1 join, 2 candidate, 3 hard */
    bool minor;   /* quotes, dashes: attached later like punctuation */
} frag;

typedef struct {
    int f;        /* left fragment */
    int x1, x2;   /* the gap */
    int y1, y2;   /* the row band */
    int h;
} gapc;

static const lay_cc *g_sort_cc;
static int cmp_cc_x(const void *a, const void *b)
{
    const lay_cc *x = &g_sort_cc[*(const int *)a], *y = &g_sort_cc[*(const int *)b];
    return (x->x1 > y->x1) - (x->x1 < y->x1);
}

static const frag *g_sort_fr;
static int cmp_frag_x(const void *a, const void *b)
{
    const frag *x = &g_sort_fr[*(const int *)a], *y = &g_sort_fr[*(const int *)b];
    return (x->x1 > y->x1) - (x->x1 < y->x1);
}

static int cmp_gap_y(const void *a, const void *b)
{
    const gapc *x = a, *y = b;
    int cx = x->y1 + x->y2, cy = y->y1 + y->y2;
    return (cx > cy) - (cx < cy);
}

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

/* Stroke width: ink pixels per horizontal run of ink inside the box. */
static float stroke_width(PIX *bin, pipe_box b)
{
    if (!bin) return 0;
    int W = pixGetWidth(bin), H = pixGetHeight(bin);
    b = lay_box_clip(b, W, H);
    l_uint32 *data = pixGetData(bin);
    int wpl = pixGetWpl(bin);
    long ink = 0, runs = 0;
    for (int y = b.y1; y < b.y2; y++) {
        const l_uint32 *row = data + (size_t)y * (size_t)wpl;
        int prev = 0;
        for (int x = b.x1; x < b.x2; x++) {
            int v = GET_DATA_BIT(row, x);
            ink += v;
            runs += v && !prev;
            prev = v;
        }
    }
    return runs ? (float)ink / (float)runs : 0;
}

void lay_line_measure(lay_line *l, const lay_cc *cc, const int *members, int n, PIX *bin,
                      const lay_params *p)
{
    pipe_box box = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        const lay_cc *c = &cc[members[i]];
        box = lay_box_union(box, (pipe_box){c->x1, c->y1, c->x2, c->y2});
    }
    l->box = box;
    l->n_cc = n;
    int lh = lay_box_h(box);
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v || n == 0) {
        free(v);
        l->baseline = box.y2;
        l->x_height = (float)lh * 0.5f;
        l->size = (float)lh;
        l->crop = box;
        l->stroke = 0;
        return;
    }
    /* Glyph-sized members: those at least half the median height. */
    for (int i = 0; i < n; i++) v[i] = (float)(cc[members[i]].y2 - cc[members[i]].y1);
    float hmed = lay_quantile(v, n, 0.5f);
    int m = 0;
    for (int i = 0; i < n; i++) {
        const lay_cc *c = &cc[members[i]];
        if ((float)(c->y2 - c->y1) >= 0.5f * hmed) v[m++] = (float)c->y2;
    }
    int base = m ? (int)lrintf(lay_quantile(v, m, 0.4f)) : box.y2;
    float tol = 0.08f * (float)lh > 1.0f ? 0.08f * (float)lh : 1.0f;
    int k = 0;
    for (int i = 0; i < n; i++) {
        const lay_cc *c = &cc[members[i]];
        if ((float)(c->y2 - c->y1) >= 0.5f * hmed && fabsf((float)(c->y2 - base)) <= tol)
            v[k++] = (float)(base - c->y1);
    }
    float xh = k ? lay_quantile(v, k, 0.3f) : 0.5f * (float)lh;
    float asc = k ? lay_quantile(v, k, 0.9f) : (float)lh;
    free(v);
    if (xh < 1) xh = 1;
    l->baseline = base;
    l->x_height = xh;
    /* An em from the ascenders when the line has some, else from the
     * x-height alone (caps-only lines, digits). */
    float em = asc >= 1.25f * xh ? asc / 0.72f : xh / 0.6f;
    float top = (float)base - 0.95f * em, bot = (float)base + 0.27f * em;
    float L = 1.22f * em;
    l->size = em;
    const lay_params def = lay_default_params();
    if (!p) p = &def;
    pipe_box c;
    c.y1 = (int)floorf(fminf((float)box.y1, top) - p->pad_v * L);
    c.y2 = (int)ceilf(fmaxf((float)box.y2, bot) + p->pad_v * L);
    c.x1 = (int)floorf((float)box.x1 - p->pad_h * L);
    c.x2 = (int)ceilf((float)box.x2 + p->pad_h * L);
    if (bin) c = lay_box_clip(c, pixGetWidth(bin), pixGetHeight(bin));
    l->crop = c;
    l->stroke = stroke_width(bin, box);
}

/* The widest stretch of [*x1, *x2) that no fragment (minor ones aside)
 * in rows [y1, y2) covers, written back to *x1, *x2; false when it is
 * narrower than minw. */
static bool white_run(const frag *fr, int nf, int y1, int y2, int *x1, int *x2, int minw)
{
    int lo = *x1, hi = *x2, best = -1, b1 = lo, b2 = lo;
    if (hi - lo < minw) return false;
    /* sweep: the start of the current white stretch moves past every
     * fragment met in x order; fragments are few per band, so a simple
     * repeated scan is fine */
    int cur = lo;
    for (;;) {
        int nx = hi, ne = hi; /* next covering fragment at or after cur */
        for (int q = 0; q < nf; q++) {
            const frag *f = &fr[q];
            if (f->minor || f->y1 >= y2 || f->y2 <= y1 || f->x2 <= cur || f->x1 >= hi) continue;
            int s = f->x1 > cur ? f->x1 : cur;
            if (s < nx || (s == nx && f->x2 > ne)) {
                nx = s;
                ne = f->x2;
            }
        }
        if (nx - cur > best) {
            best = nx - cur;
            b1 = cur;
            b2 = nx;
        }
        if (nx >= hi) break;
        cur = ne;
        /* fragments overlapping the stretch just covered extend it */
        for (bool grew = true; grew;) {
            grew = false;
            for (int q = 0; q < nf; q++) {
                const frag *f = &fr[q];
                if (f->minor || f->y1 >= y2 || f->y2 <= y1) continue;
                if (f->x1 < cur && f->x2 > cur) {
                    cur = f->x2;
                    grew = true;
                }
            }
        }
        if (cur >= hi) break;
    }
    if (best < minw) return false;
    *x1 = b1;
    *x2 = b2;
    return true;
}

/* Gaps on consecutive rows whose x-ranges overlap chain into gutters. */
static ocr_status find_gutters(frag *fr, int nf, float ch, int min_rows, ocr_err *e)
{
    int ng = 0;
    for (int i = 0; i < nf; i++) ng += fr[i].kind >= 2;
    if (ng == 0) return OCR_OK;
    gapc *g = malloc((size_t)ng * sizeof *g);
    uf_t u = {0};
    int *cnt = NULL;
    if (!g || !uf_init(&u, ng) || !(cnt = calloc((size_t)ng, sizeof *cnt))) {
        free(g);
        free(u.p);
        return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory");
    }
    int k = 0;
    for (int i = 0; i < nf; i++) {
        if (fr[i].kind < 2) continue;
        const frag *a = &fr[i], *b = &fr[a->right];
        g[k++] = (gapc){i, a->x2, b->x1, imin(a->y1, b->y1), imax(a->y2, b->y2), imax(a->h, b->h)};
    }
    qsort(g, (size_t)ng, sizeof *g, cmp_gap_y);
    int hmax = 0;
    for (int i = 0; i < ng; i++) hmax = imax(hmax, g[i].h);
    for (int i = 0; i < ng; i++) {
        for (int j = i + 1; j < ng; j++) {
            if (g[j].y1 > g[i].y2 + 1.6f * (float)hmax + ch) break;
            int hh = imax(g[i].h, g[j].h);
            /* next row: below, but not further than a blank line */
            if ((g[j].y1 + g[j].y2) - (g[i].y1 + g[i].y2) < imin(g[i].h, g[j].h)) continue;
            if ((float)(g[j].y1 - g[i].y2) > 1.6f * (float)hh) continue;
            int ov = lay_overlap(g[i].x1, g[i].x2, g[j].x1, g[j].x2);
            if ((float)ov < 0.3f * (float)imin(g[i].x2 - g[i].x1, g[j].x2 - g[j].x1) || ov <= 0)
                continue;
            uf_union(&u, i, j);
        }
    }
    int *lnb = malloc((size_t)nf * sizeof *lnb); /* left neighbours */
    if (!lnb) {
        free(cnt);
        free(u.p);
        free(g);
        return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory");
    }
    for (int i = 0; i < nf; i++) lnb[i] = -1;
    for (int i = 0; i < nf; i++)
        if (fr[i].right >= 0) lnb[fr[i].right] = i;
    for (int i = 0; i < ng; i++) cnt[uf_find(&u, i)]++;
    for (int i = 0; i < ng; i++)
        if (cnt[uf_find(&u, i)] >= LONG_CHAIN)
            fr[g[i].f].kind = 3;
        else if (cnt[uf_find(&u, i)] >= min_rows && fr[g[i].f].kind == 2)
            fr[g[i].f].kind = 4;
    /* A gap with white above and below it for a line's height (the rows
     * there end short or start late) is a gutter too, even where the
     * chain breaks because a neighbour row has nothing on one side. */
    for (int i = 0; i < ng; i++) {
        if (fr[g[i].f].kind >= 3 || (float)(g[i].x2 - g[i].x1) < 0.8f * (float)g[i].h) continue;
        /* the space after a list's enumerator ("1.", "a)") is white above
         * and below when the items' numbers line up: a short token left
         * of a narrow gap is no column */
        if (fr[g[i].f].x2 - fr[g[i].f].x1 <= g[i].h && g[i].x2 - g[i].x1 < 2 * g[i].h) continue;
        int d = (g[i].x2 - g[i].x1) / 6;
        int x1 = g[i].x1 + d, x2 = g[i].x2 - d, reach = (int)(1.3f * (float)g[i].h);
        int y1 = g[i].y1 - reach, y2 = g[i].y2 + reach;
        /* the white part: a short line's gap reaches past the gutter into
         * the neighbour column's margin, where the justified lines above
         * and below end; the gutter is the widest stretch of the gap that
         * the rows around leave white (a line's height at least) */
        if (!white_run(fr, nf, y1, y2, &x1, &x2, (int)(0.8f * (float)g[i].h))) continue;
        bool white = x2 > x1;
        int la = 0, ra = 0, lb = 0, rb = 0, near = 10 * g[i].h;
        for (int q = 0; q < nf && white; q++) {
            const frag *f = &fr[q];
            if (f->minor) continue;
            if (f->y1 >= y2 || f->y2 <= y1) continue;
            if (f->x1 < x2 && f->x2 > x1) {
                white = false;
                break;
            }
            int cy = (f->y1 + f->y2) / 2;
            bool above = cy < g[i].y1, below = cy > g[i].y2;
            bool left = f->x2 <= x1 && f->x2 >= x1 - near, right = f->x1 >= x2 && f->x1 <= x2 + near;
            la += above && left;
            ra += above && right;
            lb += below && left;
            rb += below && right;
        }
        /* ... between text on both sides on a neighbouring row */
        if (white && ((la && ra) || (lb && rb))) {
            fr[g[i].f].kind = 3;
            continue;
        }
        /* ... or where a column's margins run: the words on either side
         * end and start where other lines of the region end and start
         * (a justified line's wide space is mid-line, aligned with
         * nothing) */
        if (white) {
            const frag *a = &fr[g[i].f], *b = &fr[a->right];
            int tol = g[i].h / 6 + 1, span = 10 * g[i].h, ends = 0, starts = 0;
            for (int q = 0; q < nf; q++) {
                const frag *f = &fr[q];
                if (f == a || f == b || f->minor || f->y2 < g[i].y1 - span || f->y1 > g[i].y2 + span) continue;
                if (abs(f->x2 - a->x2) <= tol && (f->right < 0 || f->kind >= 2)) ends++;
                if (abs(f->x1 - b->x1) <= tol && (lnb[q] < 0 || fr[lnb[q]].kind >= 2)) starts++;
            }
            if (ends >= 3 && starts >= 3) fr[g[i].f].kind = 3;
        }
    }
    free(lnb);
    free(cnt);
    free(u.p);
    free(g);
    return OCR_OK;
}

typedef struct {
    int *start; /* [n_lines + 1] */
    int *idx;
} csr_t;

/* Members of each line (main then small components) from cc[].line. */
static void build_csr(csr_t *cs, const lay_cc *cc, const int *main_i, int nm, const int *small_i, int ns,
                      int nl)
{
    memset(cs->start, 0, (size_t)(nl + 1) * sizeof *cs->start);
    for (int pass = 0; pass < 2; pass++) {
        for (int t = 0; t < 2; t++) {
            const int *arr = t ? small_i : main_i;
            int cnt = t ? ns : nm;
            for (int i = 0; i < cnt; i++) {
                int l = cc[arr[i]].line;
                if (l < 0) continue;
                if (pass)
                    cs->idx[cs->start[l]++] = arr[i];
                else
                    cs->start[l + 1]++;
            }
        }
        if (!pass)
            for (int l = 0; l < nl; l++) cs->start[l + 1] += cs->start[l];
        else
            for (int l = nl; l > 0; l--) cs->start[l] = cs->start[l - 1];
        if (pass) cs->start[0] = 0;
    }
}

/* A parenthesis: a tall thin glyph from above the x-height to below the
 * baseline. */
static bool paren_like(const lay_cc *c, const lay_line *l)
{
    int w = c->x2 - c->x1, h = c->y2 - c->y1;
    float xh = l->x_height;
    return (float)h >= 1.1f * xh && w * 2 <= h && (float)c->y2 >= (float)l->baseline + 0.08f * xh &&
           (float)c->y1 <= (float)l->baseline - 0.9f * xh;
}

/* Lines that are only "(n)" and sit well right of another line on the
 * same row join it; eqx[target] = where the number starts. Returns
 * whether anything moved. */
static bool eqno_merge(const lay_line *L, int nl, lay_cc *cc, const csr_t *cs, int *eqx)
{
    bool moved = false;
    for (int e = 0; e < nl; e++) {
        const lay_line *l = &L[e];
        int s0 = cs->start[e], s1 = cs->start[e + 1];
        if (s1 - s0 < 3 || s1 - s0 > 10 || l->size <= 0) continue;
        float em = l->size;
        if ((float)lay_box_w(l->box) > 5 * em) continue;
        int first = -1, last = -1;
        for (int k = s0; k < s1; k++) {
            int i = cs->idx[k];
            if (first < 0 || cc[i].x1 < cc[first].x1) first = i;
            if (last < 0 || cc[i].x2 > cc[last].x2) last = i;
        }
        if (!paren_like(&cc[first], l) || !paren_like(&cc[last], l)) continue;
        int m = -1;
        for (int j = 0; j < nl; j++) {
            if (j == e || eqx[j] < 0) continue;
            const pipe_box *b = &L[j].box;
            int ov = lay_overlap(b->y1, b->y2, l->box.y1, l->box.y2);
            if (ov * 2 < imin(lay_box_h(*b), lay_box_h(l->box))) continue;
            if ((float)(l->box.x1 - b->x2) < 1.5f * em) continue;
            if (m < 0 || b->x2 > L[m].box.x2) m = j;
        }
        if (m < 0) continue;
        for (int k = s0; k < s1; k++) cc[cs->idx[k]].line = m;
        eqx[m] = l->box.x1;
        eqx[e] = -1;
        moved = true;
    }
    return moved;
}

/* Display formula groups. The stacked pieces of a display formula (the
 * limits of a big operator, a fraction's numerator and denominator) and
 * what stands beside them on the formula's row are one fragment, so the
 * formula becomes one line instead of scraps. Anchors:
 *   - a big operator: a component 1.8..4.5 component heights tall, about
 *     twice as tall as anything beside it on its row (a heading's letters
 *     have neighbours of their own height), with its limits: what lies
 *     just above or below it over its width;
 *   - a fraction bar: a thin component at least 0.8 component heights
 *     wide with glyphs just above and just below it inside its width and
 *     nothing else on those two rows near its ends (an underline has the
 *     rest of the line beside the underlined words).
 * The anchor and its stacked pieces are the core; components lying
 * mostly (60 %) within the core's height (a quarter of a component
 * height of slack)
 * and within 2 component heights (about an em) of the group join, left and right,
 * until none does. A group holding two separate rows of >= 8 glyphs (a
 * drop capital beside its lines) is no formula. grp[i] (positions in
 * idx) gets the group's number or -1. */
#define FG_MAX_ANCHORS 256
static ocr_status formula_groups(const lay_cc *cc, const int *idx, int n, float ch, int *grp, ocr_err *e)
{
    for (int i = 0; i < n; i++) grp[i] = -1;
    if (n < 3) return OCR_OK;
    int *mem = malloc((size_t)n * sizeof *mem);
    unsigned char *in = calloc((size_t)n, 1);
    if (!mem || !in) {
        free(mem);
        free(in);
        return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (formulas)");
    }
    int ng = 0, tried = 0;
    float glyph = 0.4f * ch, thin = fmaxf(2.0f, 0.3f * ch);
    for (int a = 0; a < n && tried < FG_MAX_ANCHORS; a++) {
        const lay_cc *A = &cc[idx[a]];
        if (grp[a] >= 0) continue;
        int aw = A->x2 - A->x1, ah = A->y2 - A->y1;
        bool bigop = (float)ah >= 1.8f * ch && (float)ah <= 4.5f * ch && aw <= ah + ah / 2;
        bool bar = (float)ah <= thin && (float)aw >= 0.8f * ch && aw >= 4 * ah;
        if (!bigop && !bar) continue;
        if (bigop) { /* taller than its neighbours on the row */
            int hn = 0;
            for (int i = 0; i < n; i++) {
                const lay_cc *c = &cc[idx[i]];
                int h = c->y2 - c->y1;
                if (i == a || (float)h < glyph) continue;
                int ov = lay_overlap(A->y1, A->y2, c->y1, c->y2);
                if (ov * 2 < imin(ah, h)) continue;
                int gap = c->x1 >= A->x2 ? c->x1 - A->x2 : A->x1 >= c->x2 ? A->x1 - c->x2 : 0;
                if ((float)gap > 1.5f * ch) continue;
                hn = imax(hn, h);
            }
            if (hn == 0 || hn * 10 > ah * 6) continue;
        }
        tried++;
        /* the core: the anchor and what is stacked on it */
        int nm = 0;
        mem[nm++] = a;
        in[a] = 1;
        int tol = (int)(bar ? 0.25f * ch : 1.0f * ch);
        int lo = A->x1 - tol, hi = A->x2 + tol;
        int above = 0, below = 0;
        bool reject = false;
        for (int side = 0; side < 2 && !reject; side++) {
            int s0 = nm;
            for (int i = 0; i < n; i++) {
                const lay_cc *c = &cc[idx[i]];
                int h = c->y2 - c->y1;
                if (in[i] || (float)h < glyph) continue;
                float vg = bar ? 0.7f * ch : 1.0f * ch;
                bool near = side == 0 ? c->y2 <= A->y1 + (bar ? 1 : ah / 4) && (float)c->y2 >= (float)A->y1 - vg
                                      : c->y1 >= A->y2 - (bar ? 1 : ah / 4) && (float)c->y1 <= (float)A->y2 + vg;
                if (!near) continue;
                if (bar) {
                    bool inside = c->x1 >= lo && c->x2 <= hi;
                    bool close = c->x2 > (int)((float)A->x1 - 1.2f * ch) && c->x1 < (int)((float)A->x2 + 1.2f * ch);
                    if (close && !inside) reject = true;
                    if (!inside) continue;
                } else {
                    if (lay_overlap(c->x1, c->x2, A->x1, A->x2) <= 0 || h * 10 > ah * 8) continue;
                }
                mem[nm++] = i;
                in[i] = 1;
            }
            /* the rest of that row: over the anchor's width, overlapping
             * the seeds' band */
            if (nm > s0) {
                int y1 = 1 << 30, y2 = -(1 << 30);
                for (int k = s0; k < nm; k++) {
                    y1 = imin(y1, cc[idx[mem[k]]].y1);
                    y2 = imax(y2, cc[idx[mem[k]]].y2);
                }
                for (int i = 0; i < n; i++) {
                    const lay_cc *c = &cc[idx[i]];
                    if (in[i] || c->x1 < lo || c->x2 > hi) continue;
                    if (lay_overlap(c->y1, c->y2, y1, y2) * 2 < c->y2 - c->y1) continue;
                    if (side == 0 ? c->y2 > A->y1 + 1 : c->y1 < A->y2 - 1) continue;
                    mem[nm++] = i;
                    in[i] = 1;
                }
            }
            if (side == 0)
                above = nm - s0;
            else
                below = nm - s0;
        }
        if (reject || (bar && (above == 0 || below == 0))) {
            for (int k = 0; k < nm; k++) in[mem[k]] = 0;
            continue;
        }
        int cy1 = 1 << 30, cy2 = -(1 << 30), rx1 = 1 << 30, rx2 = -(1 << 30);
        for (int k = 0; k < nm; k++) {
            const lay_cc *c = &cc[idx[mem[k]]];
            cy1 = imin(cy1, c->y1);
            cy2 = imax(cy2, c->y2);
            rx1 = imin(rx1, c->x1);
            rx2 = imax(rx2, c->x2);
        }
        int core = nm, slack = (int)(0.25f * ch), reach = (int)(2.0f * ch);
        for (bool again = true; again;) {
            again = false;
            for (int i = 0; i < n; i++) {
                const lay_cc *c = &cc[idx[i]];
                int ch_ = c->y2 - c->y1;
                if (in[i] || lay_overlap(c->y1, c->y2, cy1 - slack, cy2 + slack) * 10 < ch_ * 6) continue;
                int gap = c->x1 >= rx2 ? c->x1 - rx2 : rx1 >= c->x2 ? rx1 - c->x2 : 0;
                if (gap > reach) continue;
                mem[nm++] = i;
                in[i] = 1;
                rx1 = imin(rx1, c->x1);
                rx2 = imax(rx2, c->x2);
                again = true;
            }
        }
        /* two separate rows of text beside the anchor: not a formula */
        int rows = 0;
        {
            int *o = malloc((size_t)(nm - core + 1) * sizeof *o), no = 0;
            if (!o) {
                free(mem);
                free(in);
                return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (formulas)");
            }
            for (int k = core; k < nm; k++)
                if ((float)(cc[idx[mem[k]]].y2 - cc[idx[mem[k]]].y1) >= glyph) o[no++] = mem[k];
            /* sort by top (insertion: groups are small) */
            for (int p = 1; p < no; p++)
                for (int q = p; q > 0 && cc[idx[o[q]]].y1 < cc[idx[o[q - 1]]].y1; q--) {
                    int t = o[q];
                    o[q] = o[q - 1];
                    o[q - 1] = t;
                }
            int cnt = 0, bend = -(1 << 30);
            for (int p = 0; p < no; p++) {
                const lay_cc *c = &cc[idx[o[p]]];
                if (c->y1 >= bend) {
                    rows += cnt >= 8;
                    cnt = 0;
                }
                cnt++;
                bend = imax(bend, c->y2);
            }
            rows += cnt >= 8;
            free(o);
        }
        if (rows >= 2) {
            for (int k = 0; k < nm; k++) in[mem[k]] = 0;
            continue;
        }
        /* joins groups it reaches */
        int g = ng++;
        for (int k = 0; k < nm; k++) {
            int i = mem[k];
            if (grp[i] >= 0 && grp[i] != g) {
                int old = grp[i];
                for (int j = 0; j < n; j++)
                    if (grp[j] == old) grp[j] = g;
            }
            grp[i] = g;
            in[i] = 0;
        }
    }
    free(mem);
    free(in);
    return OCR_OK;
}

ocr_status lay_lines_build(lay_cc *cc, const int *idx, int n, float ch, PIX *bin,
                           const lay_params *p, lay_line **lines, int *n_lines, ocr_err *e)
{
    *lines = NULL;
    *n_lines = 0;
    lay_params def = lay_default_params();
    if (!p) p = &def;
    if (n <= 0) return OCR_OK;
    if (ch < 2) ch = 2;
    int min_main = (int)fmaxf(3.0f, 0.4f * ch);
    int noise_area = ch >= 10 ? 4 : 1;

    ocr_status rc = OCR_OK;
    int *main_i = malloc((size_t)n * sizeof *main_i);
    int *small_i = malloc((size_t)n * sizeof *small_i);
    uf_t u = {0}, uf2 = {0};
    frag *fr = NULL;
    int *order = NULL, *froot = NULL, *lid = NULL;
    lay_line *out = NULL;
    int *eqx = NULL;
    csr_t cs = {0};
    if (!main_i || !small_i) goto oom;
    int nm = 0, ns = 0;
    for (int i = 0; i < n; i++) {
        lay_cc *c = &cc[idx[i]];
        c->line = -1;
        if (c->flags & LAY_CC_NONTEXT) continue;
        int w = c->x2 - c->x1, h = c->y2 - c->y1;
        if (w * h <= noise_area) continue;
        /* taller than any heading: a picture's or a frame's remnant */
        if ((float)h > 10 * ch) continue;
        if (h >= min_main)
            main_i[nm++] = idx[i];
        else
            small_i[ns++] = idx[i];
    }
    if (nm == 0) goto done;
    /* display formulas: their stacked pieces, one group each */
    {
        int *grp = malloc((size_t)n * sizeof *grp);
        if (!grp) goto oom;
        rc = formula_groups(cc, idx, n, ch, grp, e);
        for (int i = 0; i < n; i++) cc[idx[i]].line = grp[i];
        free(grp);
        if (rc != OCR_OK) goto done;
    }

    /* 1. components -> fragments */
    g_sort_cc = cc;
    qsort(main_i, (size_t)nm, sizeof *main_i, cmp_cc_x);
    if (!uf_init(&u, nm)) goto oom;
    int hmax = 0;
    for (int i = 0; i < nm; i++) hmax = imax(hmax, cc[main_i[i]].y2 - cc[main_i[i]].y1);
    for (int i = 0; i < nm; i++) {
        const lay_cc *a = &cc[main_i[i]];
        int ha = a->y2 - a->y1;
        float reach = LINK_GAP * (float)imax(ha, hmax);
        for (int j = i + 1; j < nm; j++) {
            const lay_cc *b = &cc[main_i[j]];
            if ((float)(b->x1 - a->x2) > reach) break;
            int hb = b->y2 - b->y1;
            if ((float)(b->x1 - a->x2) > LINK_GAP * (float)imax(ha, hb)) continue;
            int ov = lay_overlap(a->y1, a->y2, b->y1, b->y2);
            if ((float)ov < LINK_OVERLAP * (float)imin(ha, hb)) continue;
            if (imax(ha, hb) > 3 * imin(ha, hb)) continue;
            uf_union(&u, i, j);
        }
    }
    { /* a formula group is one fragment */
        int *first = malloc((size_t)n * sizeof *first);
        if (!first) goto oom;
        for (int i = 0; i < n; i++) first[i] = -1;
        for (int i = 0; i < nm; i++) {
            int g = cc[main_i[i]].line;
            if (g < 0 || g >= n) continue;
            if (first[g] < 0)
                first[g] = i;
            else
                uf_union(&u, first[g], i);
        }
        free(first);
        for (int i = 0; i < n; i++) cc[idx[i]].line = -1;
    }
    froot = malloc((size_t)(nm > 0 ? nm : 1) * sizeof *froot);
    if (!froot) goto oom;
    int nf = 0;
    for (int i = 0; i < nm; i++) froot[i] = -1;
    for (int i = 0; i < nm; i++) {
        int r = uf_find(&u, i);
        if (froot[r] < 0) froot[r] = nf++;
    }
    fr = calloc((size_t)nf, sizeof *fr);
    order = malloc((size_t)nf * sizeof *order);
    if (!fr || !order) goto oom;
    for (int i = 0; i < nf; i++) fr[i] = (frag){1 << 30, 1 << 30, -1, -1, 0, -1, 0, 0, false};
    for (int i = 0; i < nm; i++) {
        frag *f = &fr[froot[uf_find(&u, i)]];
        const lay_cc *c = &cc[main_i[i]];
        f->x1 = imin(f->x1, c->x1);
        f->y1 = imin(f->y1, c->y1);
        f->x2 = imax(f->x2, c->x2);
        f->y2 = imax(f->y2, c->y2);
    }
    /* A fragment well under a glyph's height and short (a quote mark, a
     * dash) would cut the chain of neighbours on its row. */
    for (int i = 0; i < nf; i++)
        fr[i].minor = (float)(fr[i].y2 - fr[i].y1) < 0.75f * ch && (float)(fr[i].x2 - fr[i].x1) < 2 * ch;
    /* 2. right neighbours and the kind of each gap */
    for (int i = 0; i < nf; i++) {
        /* a word without ascenders or descenders is short: measure gaps
         * against at least a typical line's height */
        fr[i].h = imax(fr[i].y2 - fr[i].y1, (int)(1.6f * ch));
        order[i] = i;
    }
    g_sort_fr = fr;
    qsort(order, (size_t)nf, sizeof *order, cmp_frag_x);
    for (int oi = 0; oi < nf; oi++) {
        frag *a = &fr[order[oi]];
        int best = -1, bgap = 0;
        if (a->minor) continue;
        float limit = 8.0f * (float)a->h;
        for (int oj = oi + 1; oj < nf; oj++) {
            const frag *b = &fr[order[oj]];
            int gap = b->x1 - a->x2;
            if ((float)gap > limit) break;
            if (b->minor) continue;
            if (best >= 0 && gap >= bgap) continue;
            if (b->x1 <= a->x1) continue;
            int ha = a->y2 - a->y1, hb = b->y2 - b->y1;
            int ov = lay_overlap(a->y1, a->y2, b->y1, b->y2);
            if ((float)ov < 0.5f * (float)imin(ha, hb)) continue;
            /* a little horizontal overlap (kerning, italics) is a join */
            if (gap < -imin(a->x2 - a->x1, b->x2 - b->x1) / 3) continue;
            best = order[oj];
            bgap = gap;
        }
        a->right = best;
        a->gap = bgap;
    }
    /* one left neighbour per fragment: the nearest claim wins */
    {
        int *claim = malloc((size_t)nf * sizeof *claim);
        if (!claim) goto oom;
        for (int i = 0; i < nf; i++) claim[i] = -1;
        for (int i = 0; i < nf; i++) {
            int r = fr[i].right;
            if (r < 0) continue;
            if (claim[r] < 0 || fr[claim[r]].gap > fr[i].gap) claim[r] = i;
        }
        for (int i = 0; i < nf; i++)
            if (fr[i].right >= 0 && claim[fr[i].right] != i) fr[i].right = -1;
        free(claim);
    }
    for (int i = 0; i < nf; i++) {
        frag *a = &fr[i];
        if (a->right < 0) continue;
        int H = imax(a->h, fr[a->right].h);
        if ((float)a->gap <= JOIN_GAP * (float)H)
            a->kind = 1;
        else
            a->kind = (float)a->gap > HARD_GAP * (float)H ? 3 : 2;
    }
    rc = find_gutters(fr, nf, ch, p->gutter_rows > 1 ? p->gutter_rows : 2, e);
    if (rc != OCR_OK) goto done;
    /* A short chain may be a river of wide spaces down a loosely
     * justified column; justification spreads a line's spaces evenly, so
     * a short chain's gap counts only when twice the row's other gaps. */
    {
        int *left = malloc((size_t)nf * sizeof *left), *gv = malloc((size_t)nf * sizeof *gv);
        float *tmp = malloc((size_t)nf * sizeof *tmp);
        if (!left || !gv || !tmp) {
            free(left);
            free(gv);
            free(tmp);
            goto oom;
        }
        for (int i = 0; i < nf; i++) left[i] = -1;
        for (int i = 0; i < nf; i++)
            if (fr[i].right >= 0) left[fr[i].right] = i;
        for (int i = 0; i < nf; i++) {
            if (left[i] >= 0 || fr[i].right < 0) continue;
            int nr = 0;
            for (int k = i; fr[k].right >= 0 && nr < nf; k = fr[k].right) gv[nr++] = k;
            for (int a = 0; a < nr; a++) {
                frag *f = &fr[gv[a]];
                if (f->kind != 4) continue;
                int m = 0;
                for (int b = 0; b < nr; b++)
                    if (b != a && fr[gv[b]].kind != 3) tmp[m++] = (float)fr[gv[b]].gap;
                float med = m ? lay_quantile(tmp, m, 0.5f) : 0;
                f->kind = m >= 2 && (float)f->gap < 2.0f * med ? 1 : 3;
            }
        }
        free(left);
        free(gv);
        free(tmp);
    }

    /* A list's enumerator ("4." "b)") at the start of its row, a short
     * gap before the item's text, joins that text even where the numbers
     * of a column of items line up with each other and the items' hanging
     * text starts in line (which looks like a column margin): split off,
     * the numbers would be read as a column of their own. */
    {
        bool *has_left = calloc((size_t)nf + 1, sizeof *has_left);
        if (!has_left) goto oom;
        for (int i = 0; i < nf; i++)
            if (fr[i].right >= 0 && fr[i].kind != 3) has_left[fr[i].right] = true;
        for (int i = 0; i < nf; i++) {
            frag *a = &fr[i];
            if (a->right < 0 || a->kind < 2 || has_left[i] || a->minor) continue;
            int H = imax(a->h, fr[a->right].h);
            if (a->x2 - a->x1 <= a->h && (float)(a->y2 - a->y1) <= 1.5f * ch && a->gap < 2 * H &&
                fr[a->right].x2 - fr[a->right].x1 >= 2 * (a->x2 - a->x1))
                a->kind = 1;
        }
        free(has_left);
    }
    /* 3. fragments -> lines */
    if (!uf_init(&uf2, nf)) goto oom;
    for (int i = 0; i < nf; i++)
        if (fr[i].kind == 1 || fr[i].kind == 2) uf_union(&uf2, i, fr[i].right);
    lid = malloc((size_t)nf * sizeof *lid);
    if (!lid) goto oom;
    int nl = 0;
    for (int i = 0; i < nf; i++) lid[i] = -1;
    for (int i = 0; i < nf; i++) {
        int r = uf_find(&uf2, i);
        if (lid[r] < 0 && !fr[i].minor) lid[r] = nl++;
    }
    out = calloc((size_t)nl, sizeof *out);
    if (!out) goto oom;
    for (int i = 0; i < nl; i++) out[i].box = (pipe_box){0, 0, 0, 0};
    for (int i = 0; i < nm; i++) {
        int l = lid[uf_find(&uf2, froot[uf_find(&u, i)])];
        lay_cc *c = &cc[main_i[i]];
        if (l < 0) { /* a minor fragment's component */
            c->line = -1;
            small_i[ns++] = main_i[i];
            main_i[i] = -1;
            continue;
        }
        c->line = l;
        out[l].box = lay_box_union(out[l].box, (pipe_box){c->x1, c->y1, c->x2, c->y2});
    }
    {
        int k2 = 0;
        for (int i = 0; i < nm; i++)
            if (main_i[i] >= 0) main_i[k2++] = main_i[i];
        nm = k2;
    }
    /* A line inside a bigger one (an i-dot of large type, which is
     * glyph-sized but too small to link) joins it, and so do lines that
     * overlap by a good part of the smaller (the numerator and the
     * denominator of a fraction, raised and lowered scripts). Text lines
     * of one column never overlap that much. */
    {
        bool merged = false;
        for (int pass = 0, again = 1; again && pass < 4; pass++) {
            again = 0;
            for (int a = 0; a < nl; a++) {
                pipe_box A = out[a].box;
                if (lay_box_w(A) <= 0 || (float)lay_box_h(A) > 8 * ch) continue;
                double aa = (double)lay_box_w(A) * lay_box_h(A);
                for (int b = 0; b < nl; b++) {
                    if (b == a) continue;
                    pipe_box B = out[b].box;
                    int bh = lay_box_h(B);
                    if (lay_box_w(B) <= 0 || (float)bh > 8 * ch) continue;
                    double ba = (double)lay_box_w(B) * bh;
                    if (ba < aa) continue; /* a joins the bigger one */
                    int tol = bh / 4;
                    bool inside = lay_box_h(A) * 2 <= bh && A.x1 >= B.x1 - tol && A.x2 <= B.x2 + tol &&
                                  A.y1 >= B.y1 - tol && A.y2 <= B.y2 + tol;
                    int ow = lay_overlap(A.x1, A.x2, B.x1, B.x2), oh = lay_overlap(A.y1, A.y2, B.y1, B.y2);
                    bool over = ow > 0 && oh > 0 && (double)ow * oh >= 0.3 * aa;
                    if (!inside && !over) continue;
                    out[b].box = lay_box_union(B, A);
                    out[a].box = (pipe_box){0, 0, 0, 0};
                    for (int i = 0; i < nm; i++)
                        if (cc[main_i[i]].line == a) cc[main_i[i]].line = b;
                    merged = true;
                    again = 1;
                    break;
                }
            }
        }
        if (merged) { /* renumber without the emptied lines */
            int *map = malloc((size_t)nl * sizeof *map), k = 0;
            if (!map) goto oom;
            for (int l = 0; l < nl; l++) {
                map[l] = lay_box_w(out[l].box) > 0 ? k : -1;
                if (map[l] >= 0) out[k++] = out[l];
            }
            for (int i = 0; i < nm; i++) cc[main_i[i]].line = map[cc[main_i[i]].line];
            free(map);
            nl = k;
        }
    }
    /* Small components: onto the line whose band holds their centre,
     * beside the line only when they are solid enough to be a bullet or
     * a full stop rather than a speck. */
    {
        int H = pixGetHeight(bin) > 0 ? pixGetHeight(bin) : 1;
        int nb = (int)((float)H / ch) + 2;
        int *bstart = calloc((size_t)nb + 1, sizeof *bstart), *bidx = NULL;
        if (!bstart) goto oom;
        for (int pass = 0; pass < 2; pass++) {
            int *fill = pass ? calloc((size_t)nb, sizeof *fill) : NULL;
            if (pass && !fill) {
                free(bstart);
                free(bidx);
                goto oom;
            }
            for (int l = 0; l < nl; l++) {
                int lh = lay_box_h(out[l].box);
                int b0 = (int)((float)(out[l].box.y1 - lh / 2) / ch);
                int b1 = (int)((float)(out[l].box.y2 + lh / 3) / ch);
                for (int b = imax(b0, 0); b <= imin(b1, nb - 1); b++) {
                    if (pass)
                        bidx[bstart[b] + fill[b]++] = l;
                    else
                        bstart[b + 1]++;
                }
            }
            if (!pass) {
                for (int b = 0; b < nb; b++) bstart[b + 1] += bstart[b];
                bidx = malloc((size_t)(bstart[nb] > 0 ? bstart[nb] : 1) * sizeof *bidx);
                if (!bidx) {
                    free(bstart);
                    goto oom;
                }
            }
            free(fill);
        }
        for (int s = 0; s < ns; s++) {
            lay_cc *c = &cc[small_i[s]];
            int cy = (c->y1 + c->y2) / 2, cx1 = c->x1, cx2 = c->x2;
            int b = (int)((float)cy / ch);
            if (b < 0 || b >= nb) continue;
            int w = c->x2 - c->x1, h = c->y2 - c->y1;
            bool solid = (float)w >= 0.15f * ch && (float)h >= 0.15f * ch &&
                         (float)(w * h) >= 0.0625f * ch * ch;
            /* a dash of glyph width left of a line is the bullet of a dash
             * list ("– item"), set a bullet's gap apart from its text */
            bool dash = (float)w >= 0.4f * ch && (float)w <= 1.5f * ch && h >= 2 && w >= 3 * h;
            int best = -1;
            float bd = 1e30f;
            for (int k = bstart[b]; k < bstart[b + 1]; k++) {
                const lay_line *l = &out[bidx[k]];
                int lh = lay_box_h(l->box);
                if (cy < l->box.y1 - lh / 2 || cy > l->box.y2 + lh / 3) continue;
                int xtol = solid || (dash && cx2 <= l->box.x1) ? (int)(2.5f * (float)lh) : lh / 4;
                if (cx2 < l->box.x1 - xtol || cx1 > l->box.x2 + xtol) continue;
                float d = cy < l->box.y1 ? (float)(l->box.y1 - cy)
                          : cy > l->box.y2 ? (float)(cy - l->box.y2) : 0.0f;
                int dx = cx2 < l->box.x1 ? l->box.x1 - cx2 : cx1 > l->box.x2 ? cx1 - l->box.x2 : 0;
                d += 0.25f * (float)dx;
                if (d < bd) {
                    bd = d;
                    best = bidx[k];
                }
            }
            c->line = best;
        }
        free(bstart);
        free(bidx);
    }
    /* members per line, then measure */
    cs.start = calloc((size_t)nl + 1, sizeof *cs.start);
    cs.idx = malloc((size_t)(nm + ns) * sizeof *cs.idx);
    eqx = calloc((size_t)nl + 1, sizeof *eqx);
    if (!cs.start || !cs.idx || !eqx) goto oom;
    build_csr(&cs, cc, main_i, nm, small_i, ns, nl);
    /* An equation number "(12)" far right of a display formula belongs to
     * the formula's line. */
    for (int l = 0; l < nl; l++) {
        memset(&out[l], 0, sizeof out[l]);
        lay_line_measure(&out[l], cc, cs.idx + cs.start[l], cs.start[l + 1] - cs.start[l], bin, p);
    }
    if (eqno_merge(out, nl, cc, &cs, eqx)) build_csr(&cs, cc, main_i, nm, small_i, ns, nl);
    int kept = 0;
    for (int l = 0; l < nl; l++) {
        int s0 = cs.start[l], s1 = cs.start[l + 1];
        lay_line L;
        memset(&L, 0, sizeof L);
        if (s1 == s0) continue; /* merged into another line */
        lay_line_measure(&L, cc, cs.idx + s0, s1 - s0, bin, p);
        L.cell = -1;
        L.eqno_x = eqx[l] > 0 ? eqx[l] : 0;
        /* a lone speck-sized component is not a line */
        if (s1 - s0 == 1 && (float)lay_box_w(L.box) < 0.6f * ch && (float)lay_box_h(L.box) < 0.8f * ch) {
            cc[cs.idx[s0]].line = -1;
            continue;
        }
        for (int k = s0; k < s1; k++) cc[cs.idx[k]].line = kept;
        out[kept++] = L;
    }
    nl = kept;
    *lines = out;
    *n_lines = nl;
    out = NULL;
    goto done;
oom:
    rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (lines)");
done:
    free(out);
    free(eqx);
    free(cs.start);
    free(cs.idx);
    free(lid);
    free(uf2.p);
    free(order);
    free(fr);
    free(froot);
    free(u.p);
    free(main_i);
    free(small_i);
    return rc;
}

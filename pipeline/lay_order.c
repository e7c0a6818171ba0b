/* pipeline/lay_order.c — reading order and columns.
 *
 * Breuel's partial order for text blocks (Breuel 2003, "High performance
 * document layout analysis"): a comes before b when
 *   (1) they overlap horizontally and a is above b, or
 *   (2) a lies entirely left of b and no third block lying vertically
 *       between them overlaps both horizontally.
 * A topological sort of that order, taking the topmost (then leftmost)
 * ready block first, reads column by column, top to bottom, with blocks
 * that span columns (titles, wide figures) read where they cut the
 * columns. Headers come first and footers last, each top to bottom.
 *
 * Columns: per region (below); a block over a gutter of its region, or
 * of the nearest region of columns, spans (column -1). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

static inline int imin(int a, int b) { return a < b ? a : b; }

/* Overlap of two blocks' x-ranges counts when over a tenth of the
 * narrower (ragged edges and specks aside). */
static bool xov(const pipe_box *a, const pipe_box *b)
{
    int ov = lay_overlap(a->x1, a->x2, b->x1, b->x2);
    return ov > 0 && ov * 10 > imin(lay_box_w(*a), lay_box_w(*b));
}

/* Does block c, lying between a and b, separate them? Text does when it
 * overlaps both; a figure or table only when it covers most of both (a
 * picture the columns wrap around does not cut them). */
static bool cuts(const lay_block *c, const pipe_box *a, const pipe_box *b)
{
    if (!xov(&c->box, a) || !xov(&c->box, b)) return false;
    if (c->type != LAY_FIGURE && c->type != LAY_TABLE) return true;
    int oa = lay_overlap(c->box.x1, c->box.x2, a->x1, a->x2), ob = lay_overlap(c->box.x1, c->box.x2, b->x1, b->x2);
    return oa * 10 >= lay_box_w(*a) * 6 && ob * 10 >= lay_box_w(*b) * 6;
}

static int group_of(const lay_block *b, int page_h)
{
    int cy = (b->box.y1 + b->box.y2) / 2;
    if (b->type == LAY_HEADER) return 0;
    if (b->type == LAY_FOOTER) return 2;
    if (b->type == LAY_PAGE_NUMBER) return cy < page_h / 2 ? 0 : 2;
    return 1;
}

static const lay_block *g_blk;
static int cmp_yx(const void *a, const void *b)
{
    const lay_block *x = &g_blk[*(const int *)a], *y = &g_blk[*(const int *)b];
    if (x->box.y1 != y->box.y1) return (x->box.y1 > y->box.y1) - (x->box.y1 < y->box.y1);
    return (x->box.x1 > y->box.x1) - (x->box.x1 < y->box.x1);
}

/* Topological order of idx[0..n) (n small enough for an n^2 matrix). */
static bool topo(const lay_block *v, int *idx, int n)
{
    if (n < 2) return true;
    unsigned char *before = calloc((size_t)n * (size_t)n, 1);
    int *indeg = calloc((size_t)n, sizeof *indeg), *res = malloc((size_t)n * sizeof *res);
    bool *done = calloc((size_t)n, sizeof *done);
    if (!before || !indeg || !res || !done) {
        free(before);
        free(indeg);
        free(res);
        free(done);
        return false;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            const pipe_box *a = &v[idx[i]].box, *b = &v[idx[j]].box;
            int ca = a->y1 + a->y2, cb = b->y1 + b->y2;
            bool ab = false;
            if (xov(a, b))
                ab = ca < cb || (ca == cb && a->x1 < b->x1);
            else if (a->x2 <= b->x1 + lay_box_w(*a) / 10 && a->x1 < b->x1) {
                ab = true;
                int lo = ca < cb ? ca : cb, hi = ca < cb ? cb : ca;
                for (int k = 0; k < n && ab; k++) {
                    if (k == i || k == j) continue;
                    const pipe_box *c = &v[idx[k]].box;
                    int cc = c->y1 + c->y2;
                    if (cc > lo && cc < hi && cuts(&v[idx[k]], a, b)) ab = false;
                }
            }
            if (ab) {
                before[(size_t)i * n + j] = 1;
                indeg[j]++;
            }
        }
    for (int r = 0; r < n; r++) {
        int pick = -1;
        for (int i = 0; i < n; i++) {
            if (done[i] || indeg[i] > 0) continue;
            if (pick < 0 || cmp_yx(&idx[i], &idx[pick]) < 0) pick = i;
        }
        if (pick < 0) /* a cycle: take the topmost remaining block */
            for (int i = 0; i < n; i++)
                if (!done[i] && (pick < 0 || cmp_yx(&idx[i], &idx[pick]) < 0)) pick = i;
        done[pick] = true;
        res[r] = idx[pick];
        for (int j = 0; j < n; j++)
            if (before[(size_t)pick * n + j]) indeg[j]--;
    }
    memcpy(idx, res, (size_t)n * sizeof *idx);
    free(before);
    free(indeg);
    free(res);
    free(done);
    return true;
}

/* Page-wide columns from the horizontal coverage of running text (the
 * fallback when no region of columns is found, e.g. when stray lines
 * cross every gutter): x where the lines
 * of paragraphs and list items pile up are columns, the valleys between
 * them (under a fifth of the peak) gutters. A caption or a stray line
 * across a gutter barely raises it. */
static int coverage_columns(lay_block *v, int n, int page_w)
{
    if (page_w <= 0) return 1;
    float *cov = calloc((size_t)page_w + 1, sizeof *cov);
    int (*run)[2] = malloc((size_t)(page_w / 2 + 2) * sizeof *run);
    if (!cov || !run) {
        free(cov);
        free(run);
        return 1;
    }
    float em = 0;
    int nem = 0;
    for (int i = 0; i < n; i++) {
        if (v[i].type != LAY_PARAGRAPH && v[i].type != LAY_LIST_ITEM) continue;
        for (int k = 0; k < v[i].n_lines; k++) {
            const lay_line *l = &v[i].lines[k];
            int x1 = l->box.x1 < 0 ? 0 : l->box.x1, x2 = l->box.x2 > page_w ? page_w : l->box.x2;
            if (x2 <= x1) continue;
            float h = (float)lay_box_h(l->box);
            cov[x1] += h;
            cov[x2] -= h;
            em += l->size;
            nem++;
        }
    }
    em = nem ? em / (float)nem : 0;
    float peak = 0, acc = 0;
    for (int x = 0; x < page_w; x++) {
        acc += cov[x];
        cov[x] = acc;
        if (acc > peak) peak = acc;
    }
    int nr = 0;
    for (int x = 0; x < page_w && peak > 0;) {
        if (cov[x] < 0.2f * peak) {
            x++;
            continue;
        }
        int s0 = x;
        while (x < page_w && cov[x] >= 0.2f * peak) x++;
        if ((float)(x - s0) >= 5 * em) {
            run[nr][0] = s0;
            run[nr][1] = x;
            nr++;
        }
    }
    for (int i = 0; i < n; i++) {
        int col = -1, hits = 0, best = 0;
        for (int k = 0; k < nr; k++) {
            int ov = lay_overlap(v[i].box.x1, v[i].box.x2, run[k][0], run[k][1]);
            if (ov <= 0) continue;
            if (ov * 10 >= (run[k][1] - run[k][0]) * 3) hits++;
            if (ov > best) {
                best = ov;
                col = k;
            }
        }
        v[i].column = nr <= 1 ? 0 : hits >= 2 ? -1 : col;
    }
    free(cov);
    free(run);
    return nr > 1 ? nr : 1;
}

/* ------------------------------------------------------------ regions
 *
 * Regions (Manhattan layouts): the body blocks cut into horizontal bands
 * where no block crosses (a vertical projection profile), then
 * consecutive bands grouped while they share a white vertical strip at
 * least an em wide: a region of columns (the strip, narrowed band by
 * band, is its gutter). A band without an inner gap (a title, an
 * abstract, a figure or table over most of the width) ends a region of
 * columns and starts or joins a full-width region. Figures and tables
 * narrower than 60 % of the text do not take part (text wraps around
 * them); they go with the region at their centre. Reading order: region
 * by region top to bottom; inside one, Breuel's order (column by column). */
#define MAX_GAPS 64
typedef struct {
    int y1, y2;            /* the region's rows */
    int ng;                /* gutters */
    int g[MAX_GAPS][2];
} region_t;

static int gaps_of(const lay_block *v, const int *idx, int n, int x1, int x2, int gw, int (*out)[2])
{
    /* white stretches of [x1, x2) not under any of the blocks */
    int m = 0, cur = x1;
    int *o = malloc((size_t)(n > 0 ? n : 1) * sizeof *o);
    if (!o) return 0;
    memcpy(o, idx, (size_t)n * sizeof *o);
    for (int i = 1; i < n; i++) /* by left edge */
        for (int k = i; k > 0 && v[o[k]].box.x1 < v[o[k - 1]].box.x1; k--) {
            int t = o[k];
            o[k] = o[k - 1];
            o[k - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        const pipe_box *b = &v[o[i]].box;
        if (b->x1 - cur >= gw && m < MAX_GAPS) {
            out[m][0] = cur;
            out[m][1] = b->x1;
            m++;
        }
        if (b->x2 > cur) cur = b->x2;
    }
    if (x2 - cur >= gw && m < MAX_GAPS) {
        out[m][0] = cur;
        out[m][1] = x2;
        m++;
    }
    free(o);
    return m;
}

static bool in_bands(const lay_block *b, int body_w)
{
    if (b->type != LAY_FIGURE && b->type != LAY_TABLE) return true;
    return lay_box_w(b->box) * 10 >= body_w * 6;
}

/* Region of each body block (reg[i], by position in idx[0..n)); returns
 * the number of regions, fills R (capacity n). */
static int find_regions(const lay_block *v, const int *idx, int n, int em, int *reg, region_t *R)
{
    int X1 = 1 << 30, X2 = -(1 << 30);
    for (int i = 0; i < n; i++) {
        X1 = imin(X1, v[idx[i]].box.x1);
        X2 = v[idx[i]].box.x2 > X2 ? v[idx[i]].box.x2 : X2;
    }
    int body_w = X2 - X1, gw = em > 2 ? em : 2, colw = 5 * (em > 2 ? em : 2);
    int *o = malloc((size_t)(n > 0 ? n : 1) * sizeof *o), *band = malloc((size_t)(n > 0 ? n : 1) * sizeof *band);
    int (*gi)[2] = malloc(MAX_GAPS * sizeof *gi), (*gp)[2] = malloc(MAX_GAPS * sizeof *gp);
    int nr = 0;
    if (!o || !band || !gi || !gp) goto out;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (in_bands(&v[idx[i]], body_w)) o[m++] = idx[i];
    for (int i = 1; i < m; i++) /* by top */
        for (int k = i; k > 0 && v[o[k]].box.y1 < v[o[k - 1]].box.y1; k--) {
            int t = o[k];
            o[k] = o[k - 1];
            o[k - 1] = t;
        }
    for (int s = 0; s < m;) {
        int e = s + 1, y2 = v[o[s]].box.y2, bx1 = v[o[s]].box.x1, bx2 = v[o[s]].box.x2;
        while (e < m && v[o[e]].box.y1 < y2) {
            if (v[o[e]].box.y2 > y2) y2 = v[o[e]].box.y2;
            bx1 = imin(bx1, v[o[e]].box.x1);
            bx2 = v[o[e]].box.x2 > bx2 ? v[o[e]].box.x2 : bx2;
            e++;
        }
        int ni = gaps_of(v, o + s, e - s, bx1, bx2, gw, gi); /* inner gaps */
        int np = gaps_of(v, o + s, e - s, X1, X2, gw, gp);   /* gaps on the page */
        bool joined = false;
        if (nr > 0) {
            region_t *r = &R[nr - 1];
            if (r->ng > 0) { /* columns: keep the gutters this band leaves white */
                int k = 0, G[MAX_GAPS][2];
                for (int a = 0; a < r->ng; a++)
                    for (int b = 0; b < np && k < MAX_GAPS; b++) {
                        int lo = r->g[a][0] > gp[b][0] ? r->g[a][0] : gp[b][0];
                        int hi = imin(r->g[a][1], gp[b][1]);
                        if (hi - lo >= gw) {
                            G[k][0] = lo;
                            G[k][1] = hi;
                            k++;
                        }
                    }
                if (k > 0) {
                    r->ng = k;
                    memcpy(r->g, G, sizeof G[0] * (size_t)k);
                    joined = true;
                }
            } else if (ni == 0)
                joined = true;
            if (joined && y2 > r->y2) r->y2 = y2;
        }
        if (!joined) {
            region_t *r = &R[nr++];
            r->y1 = v[o[s]].box.y1;
            r->y2 = y2;
            r->ng = ni;
            memcpy(r->g, gi, sizeof gi[0] * (size_t)ni);
        }
        for (int k = s; k < e; k++) band[k] = nr - 1;
        s = e;
    }
    /* columns narrower than 5 em are no columns: drop the gutter */
    for (int r = 0; r < nr; r++) {
        int k = 0, prev = X1;
        for (int a = 0; a < R[r].ng; a++) {
            int next = a + 1 < R[r].ng ? R[r].g[a + 1][0] : X2;
            if (R[r].g[a][0] - prev < colw || next - R[r].g[a][1] < colw) continue;
            R[r].g[k][0] = R[r].g[a][0];
            R[r].g[k][1] = R[r].g[a][1];
            prev = R[r].g[k][1];
            k++;
        }
        R[r].ng = k;
    }
    for (int i = 0; i < n; i++) {
        int b = idx[i], r = -1;
        for (int k = 0; k < m; k++)
            if (o[k] == b) r = band[k];
        if (r < 0) { /* a narrow figure or table: the region at its centre, or the nearest */
            int cy = (v[b].box.y1 + v[b].box.y2) / 2, bd = 1 << 30;
            for (int k = 0; k < nr; k++) {
                int d = cy < R[k].y1 ? R[k].y1 - cy : cy > R[k].y2 ? cy - R[k].y2 : 0;
                if (d < bd) {
                    bd = d;
                    r = k;
                }
            }
        }
        reg[i] = r < 0 ? 0 : r;
    }
out:
    free(o);
    free(band);
    free(gi);
    free(gp);
    return nr;
}

int lay_order(lay_blocks *bs, int page_w, int page_h)
{
    int n = bs->n;
    if (n == 0) return 0;
    int *idx = malloc((size_t)n * sizeof *idx), *reg = malloc((size_t)n * sizeof *reg);
    lay_block *tmp = malloc((size_t)n * sizeof *tmp);
    region_t *R = malloc((size_t)n * sizeof *R);
    if (!idx || !tmp || !reg || !R) {
        free(idx);
        free(tmp);
        free(reg);
        free(R);
        return 1;
    }
    g_blk = bs->v;
    /* an em of running text */
    float em = 0;
    int nem = 0;
    for (int i = 0; i < n; i++) {
        if (bs->v[i].type != LAY_PARAGRAPH && bs->v[i].type != LAY_LIST_ITEM) continue;
        for (int k = 0; k < bs->v[i].n_lines; k++) {
            em += bs->v[i].lines[k].size;
            nem++;
        }
    }
    int iem = nem ? (int)(em / (float)nem) : page_w / 100;
    int k = 0, ncols = 1, nr = 0;
    for (int g = 0; g < 3; g++) {
        int s = k;
        for (int i = 0; i < n; i++)
            if (group_of(&bs->v[i], page_h) == g) idx[k++] = i;
        qsort(idx + s, (size_t)(k - s), sizeof *idx, cmp_yx);
        if (g != 1) continue;
        nr = find_regions(bs->v, idx + s, k - s, iem, reg, R);
        /* region by region (stable: regions are top to bottom) */
        for (int a = 1; a < k - s; a++)
            for (int b = a; b > 0 && reg[b] < reg[b - 1]; b--) {
                int t = reg[b];
                reg[b] = reg[b - 1];
                reg[b - 1] = t;
                t = idx[s + b];
                idx[s + b] = idx[s + b - 1];
                idx[s + b - 1] = t;
            }
        for (int a = 0; a < k - s;) {
            int b = a;
            while (b < k - s && reg[b] == reg[a]) b++;
            if (b - a <= 400) topo(bs->v, idx + s + a, b - a);
            a = b;
        }
        /* columns: per region; blocks outside regions of columns span
         * when the page has columns and they cross a gutter of the
         * region of columns nearest to them */
        for (int r = 0; r < nr; r++)
            if (R[r].ng + 1 > ncols) ncols = R[r].ng + 1;
        for (int a = 0; a < k - s; a++) {
            lay_block *blk = &bs->v[idx[s + a]];
            const region_t *r = &R[reg[a]];
            if (ncols <= 1) {
                blk->column = 0;
                continue;
            }
            if (r->ng == 0) { /* the nearest region of columns */
                int bd = 1 << 30;
                for (int q = 0; q < nr; q++) {
                    if (R[q].ng == 0) continue;
                    int d = abs(q - reg[a]);
                    if (d < bd) {
                        bd = d;
                        r = &R[q];
                    }
                }
            }
            int col = 0, cx = (blk->box.x1 + blk->box.x2) / 2;
            bool spans = false;
            for (int q = 0; q < r->ng; q++) {
                if (blk->box.x1 < r->g[q][0] && blk->box.x2 > r->g[q][1]) spans = true;
                if (cx >= r->g[q][1]) col = q + 1;
            }
            blk->column = spans ? -1 : col;
        }
    }
    for (int i = 0; i < n; i++) {
        if (group_of(&bs->v[i], page_h) != 1) bs->v[i].column = 0;
    }
    for (int i = 0; i < n; i++) tmp[i] = bs->v[idx[i]];
    memcpy(bs->v, tmp, (size_t)n * sizeof *tmp);
    if (ncols <= 1) ncols = coverage_columns(bs->v, n, page_w);
    free(tmp);
    free(idx);
    free(reg);
    free(R);
    return ncols;
}

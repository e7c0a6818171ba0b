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
 * Columns: where the lines of running text pile up horizontally; a block
 * over two or more of them spans (column -1). */
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

/* Columns from the horizontal coverage of running text: x where the lines
 * of paragraphs and list items pile up are columns, the valleys between
 * them (under a fifth of the peak) gutters. A caption or a stray line
 * across a gutter barely raises it. */
static int assign_columns(lay_block *v, int n, int page_w)
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

int lay_order(lay_blocks *bs, int page_w, int page_h)
{
    int n = bs->n;
    if (n == 0) return 0;
    int *idx = malloc((size_t)n * sizeof *idx);
    lay_block *tmp = malloc((size_t)n * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx);
        free(tmp);
        return 1;
    }
    g_blk = bs->v;
    int k = 0;
    for (int g = 0; g < 3; g++) {
        int s = k;
        for (int i = 0; i < n; i++)
            if (group_of(&bs->v[i], page_h) == g) idx[k++] = i;
        qsort(idx + s, (size_t)(k - s), sizeof *idx, cmp_yx);
        if (g == 1 && k - s <= 400) topo(bs->v, idx + s, k - s);
    }
    for (int i = 0; i < n; i++) tmp[i] = bs->v[idx[i]];
    memcpy(bs->v, tmp, (size_t)n * sizeof *tmp);
    free(tmp);
    free(idx);
    return assign_columns(bs->v, n, page_w);
}

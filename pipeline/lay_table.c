/* pipeline/lay_table.c — tables.
 *
 * Ruled: morphological openings with long horizontal and vertical bricks
 * keep only rules; each connected grid of rules with >= 2 rules both ways
 * becomes a table whose row and column boundaries are the rules'
 * positions (outer edges added where the rules stop short of the grid's
 * box). Two neighbouring grid cells with no rule between them are one
 * cell spanning both. The text inside is cut into lines cell by cell.
 *
 * Unruled: rows of lines (lines that share a baseline band) stacked on
 * >= 3 consecutive rows whose white gaps stay open all the way down are a
 * table, one column per gap. Running text in columns passes the same
 * test, so a run whose columns are wide and filled edge to edge (text
 * columns) is not a table; text columns at the run's edges are dropped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

ocr_status lay_rules_find(PIX *bin, float ch, PIX **hmask, PIX **vmask, ocr_err *e)
{
    *hmask = *vmask = NULL;
    if (ch < 2) ch = 2;
    int lh = imax(25, (int)(5 * ch)), lv = imax(12, (int)(1.8f * ch));
    /* Close one-pixel breaks of scanned rules first. */
    PIX *c = pixCloseSafeBrick(NULL, bin, 3, 1);
    PIX *h = c ? pixOpenBrick(NULL, c, lh, 1) : NULL;
    pixDestroy(&c);
    c = pixCloseSafeBrick(NULL, bin, 1, 3);
    PIX *v = c ? pixOpenBrick(NULL, c, 1, lv) : NULL;
    pixDestroy(&c);
    /* Rules are thin: solid areas (a filled box, a photograph) open to
     * themselves and are not rules. */
    int thick = imax(4, (int)(0.5f * ch));
    PIX *h2 = h ? pixSelectBySize(h, 0, thick, 8, L_SELECT_HEIGHT, L_SELECT_IF_LTE, NULL) : NULL;
    PIX *v2 = v ? pixSelectBySize(v, thick, 0, 8, L_SELECT_WIDTH, L_SELECT_IF_LTE, NULL) : NULL;
    pixDestroy(&h);
    pixDestroy(&v);
    if (!h2 || !v2) {
        pixDestroy(&h2);
        pixDestroy(&v2);
        return ocr_err_set(e, OCR_E_NOMEM, "layout: rule detection failed");
    }
    *hmask = h2;
    *vmask = v2;
    return OCR_OK;
}

typedef struct {
    float pos;       /* centre */
    int lo, hi;      /* extent along the rule */
    int n;
} rule_grp;

static int cmp_grp(const void *a, const void *b)
{
    float x = ((const rule_grp *)a)->pos, y = ((const rule_grp *)b)->pos;
    return (x > y) - (x < y);
}

/* Cluster segments (centre, extent) whose centres are within tol. */
static int cluster(rule_grp *g, int n, float tol)
{
    if (n == 0) return 0;
    qsort(g, (size_t)n, sizeof *g, cmp_grp);
    int k = 0;
    for (int i = 1; i < n; i++) {
        /* g[k].pos is a running sum of g[k].n centres */
        if (fabsf(g[i].pos - g[k].pos / (float)g[k].n) <= tol) {
            g[k].pos += g[i].pos;
            g[k].n++;
            g[k].lo = imin(g[k].lo, g[i].lo);
            g[k].hi = imax(g[k].hi, g[i].hi);
        } else {
            g[k].pos /= (float)g[k].n;
            g[k].n = 1;
            g[++k] = g[i];
        }
    }
    g[k].pos /= (float)g[k].n;
    g[k].n = 1;
    return k + 1;
}

/* Fraction of positions t in [a, b) where mask has ink within +-tol of
 * the line at `at` (vertical: x = at, t runs over rows). */
static float rule_cover(PIX *mask, bool vertical, int at, int a, int b, int tol)
{
    int W = pixGetWidth(mask), H = pixGetHeight(mask), wpl = pixGetWpl(mask);
    l_uint32 *d = pixGetData(mask);
    int n = 0, hit = 0;
    for (int t = a; t < b; t++) {
        bool found = false;
        for (int s = at - tol; s <= at + tol && !found; s++) {
            int x = vertical ? s : t, y = vertical ? t : s;
            if (x < 0 || y < 0 || x >= W || y >= H) continue;
            found = GET_DATA_BIT(d + (size_t)y * (size_t)wpl, x);
        }
        n++;
        hit += found;
    }
    return n ? (float)hit / (float)n : 0;
}

static int uf_find(int *p, int a)
{
    while (p[a] != a) a = p[a] = p[p[a]];
    return a;
}

/* The rules of `rules` lying inside cand (3 px of slack) as groups: a
 * horizontal rule by its middle row and x extent, a vertical one by its
 * middle column and y extent. Returns how many went to out. */
static int rules_inside(BOXA *rules, pipe_box cand, bool vertical, rule_grp *out)
{
    const int slack = 3;
    int n = 0;
    for (int i = 0; i < boxaGetCount(rules); i++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(rules, i, &x, &y, &w, &h);
        if (x < cand.x1 - slack || y < cand.y1 - slack || x + w > cand.x2 + slack ||
            y + h > cand.y2 + slack)
            continue;
        out[n++] = vertical ? (rule_grp){(float)x + (float)w / 2, y, y + h, 1}
                            : (rule_grp){(float)y + (float)h / 2, x, x + w, 1};
    }
    return n;
}

static ocr_status grid_table(PIX *hmask, PIX *vmask, BOXA *hb, BOXA *vb, pipe_box cand, float ch,
                             lay_blocks *out, ocr_err *e)
{
    int nh = boxaGetCount(hb), nv = boxaGetCount(vb);
    rule_grp *ys = malloc((size_t)(nh + 2) * sizeof *ys), *xs = malloc((size_t)(nv + 2) * sizeof *xs);
    int *par = NULL;
    lay_cell *cells = NULL;
    ocr_status rc = OCR_OK;
    if (!ys || !xs) goto oom;
    int ny = rules_inside(hb, cand, false, ys), nx = rules_inside(vb, cand, true, xs);
    float tol = fmaxf(3.0f, 0.4f * ch);
    ny = cluster(ys, ny, tol);
    nx = cluster(xs, nx, tol);
    if (ny < 2 || nx < 2) goto done;
    /* Rules that stop short of the grid's box leave an outer row/column. */
    if (xs[0].pos - (float)cand.x1 > ch) {
        memmove(xs + 1, xs, (size_t)nx * sizeof *xs);
        xs[0] = (rule_grp){(float)cand.x1, cand.y1, cand.y2, 0};
        nx++;
    }
    if ((float)cand.x2 - xs[nx - 1].pos > ch) xs[nx++] = (rule_grp){(float)cand.x2, cand.y1, cand.y2, 0};
    if (ys[0].pos - (float)cand.y1 > ch) {
        memmove(ys + 1, ys, (size_t)ny * sizeof *ys);
        ys[0] = (rule_grp){(float)cand.y1, cand.x1, cand.x2, 0};
        ny++;
    }
    if ((float)cand.y2 - ys[ny - 1].pos > ch) ys[ny++] = (rule_grp){(float)cand.y2, cand.x1, cand.x2, 0};
    int R = ny - 1, C = nx - 1;
    if (R * C < 2) goto done;
    par = malloc((size_t)(R * C) * sizeof *par);
    cells = calloc((size_t)(R * C), sizeof *cells);
    if (!par || !cells) goto oom;
    for (int i = 0; i < R * C; i++) par[i] = i;
    int t = imax(2, (int)(0.15f * ch)), rt = imax(2, (int)(0.25f * ch));
    for (int r = 0; r < R; r++)
        for (int c = 0; c + 1 < C; c++) {
            int a = (int)ys[r].pos + t, b = (int)ys[r + 1].pos - t;
            if (b <= a) continue;
            int m = (b - a) / 5;
            if (rule_cover(vmask, true, (int)lrintf(xs[c + 1].pos), a + m, b - m, rt) < 0.6f) {
                int p = uf_find(par, r * C + c), q = uf_find(par, r * C + c + 1);
                par[imax(p, q)] = imin(p, q);
            }
        }
    for (int r = 0; r + 1 < R; r++)
        for (int c = 0; c < C; c++) {
            int a = (int)xs[c].pos + t, b = (int)xs[c + 1].pos - t;
            if (b <= a) continue;
            int m = (b - a) / 5;
            if (rule_cover(hmask, false, (int)lrintf(ys[r + 1].pos), a + m, b - m, rt) < 0.6f) {
                int p = uf_find(par, r * C + c), q = uf_find(par, (r + 1) * C + c);
                par[imax(p, q)] = imin(p, q);
            }
        }
    int nc = 0;
    for (int i = 0; i < R * C; i++) {
        if (uf_find(par, i) != i) continue;
        int r0 = R, r1 = -1, c0 = C, c1 = -1;
        for (int j = i; j < R * C; j++)
            if (uf_find(par, j) == i) {
                r0 = imin(r0, j / C);
                r1 = imax(r1, j / C);
                c0 = imin(c0, j % C);
                c1 = imax(c1, j % C);
            }
        lay_cell *cl = &cells[nc++];
        cl->row = r0;
        cl->col = c0;
        cl->row_span = r1 - r0 + 1;
        cl->col_span = c1 - c0 + 1;
        cl->box = (pipe_box){(int)lrintf(xs[c0].pos), (int)lrintf(ys[r0].pos),
                             (int)lrintf(xs[c1 + 1].pos), (int)lrintf(ys[r1 + 1].pos)};
    }
    lay_block blk;
    memset(&blk, 0, sizeof blk);
    blk.type = LAY_TABLE;
    blk.box = cand;
    blk.column = -1;
    blk.ruled = true;
    blk.cells = cells;
    blk.n_cells = nc;
    blk.n_rows = R;
    blk.n_cols = C;
    rc = lay_blocks_push(out, &blk, e);
    if (rc == OCR_OK) cells = NULL;
    goto done;
oom:
    rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (tables)");
done:
    free(cells);
    free(par);
    free(xs);
    free(ys);
    return rc;
}

ocr_status lay_tables_ruled(PIX *hmask, PIX *vmask, float ch, lay_blocks *out, ocr_err *e)
{
    if (ch < 2) ch = 2;
    PIX *g = pixOr(NULL, hmask, vmask);
    PIX *gd = g ? pixDilateBrick(NULL, g, 5, 5) : NULL;
    pixDestroy(&g);
    BOXA *cb = gd ? pixConnCompBB(gd, 8) : NULL;
    pixDestroy(&gd);
    BOXA *hb = pixConnCompBB(hmask, 8), *vb = pixConnCompBB(vmask, 8);
    ocr_status rc = OCR_OK;
    if (!cb || !hb || !vb) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "layout: table detection failed");
        goto done;
    }
    for (int i = 0; i < boxaGetCount(cb) && rc == OCR_OK; i++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(cb, i, &x, &y, &w, &h);
        /* undo the dilation */
        pipe_box b = {x + 2, y + 2, x + w - 2, y + h - 2};
        if ((float)lay_box_w(b) < 4 * ch || (float)lay_box_h(b) < 1.5f * ch) continue;
        rc = grid_table(hmask, vmask, hb, vb, b, ch, out, e);
    }
done:
    boxaDestroy(&cb);
    boxaDestroy(&hb);
    boxaDestroy(&vb);
    return rc;
}

ocr_status lay_table_fill(lay_block *t, lay_cc *cc, int n, float ch, PIX *bin, const lay_params *p,
                          ocr_err *e)
{
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    if (!idx) return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (table)");
    ocr_status rc = OCR_OK;
    for (int k = 0; k < t->n_cells && rc == OCR_OK; k++) {
        pipe_box b = t->cells[k].box;
        int m = 0;
        for (int i = 0; i < n; i++) {
            const lay_cc *c = &cc[i];
            if (c->flags & LAY_CC_NONTEXT) continue;
            int cx = (c->x1 + c->x2) / 2, cy = (c->y1 + c->y2) / 2;
            if (cx >= b.x1 && cx < b.x2 && cy >= b.y1 && cy < b.y2) idx[m++] = i;
        }
        lay_line *ls = NULL;
        int nl = 0;
        rc = lay_lines_build(cc, idx, m, ch, bin, p, &ls, &nl, e);
        if (rc != OCR_OK) break;
        if (nl) {
            lay_line *v = realloc(t->lines, (size_t)(t->n_lines + nl) * sizeof *v);
            if (!v) {
                free(ls);
                rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (table)");
                break;
            }
            t->lines = v;
            for (int j = 0; j < nl; j++) {
                ls[j].cell = k;
                t->lines[t->n_lines++] = ls[j];
            }
        }
        free(ls);
    }
    /* Everything inside the table is the table's. */
    for (int i = 0; i < n; i++) {
        lay_cc *c = &cc[i];
        int cx = (c->x1 + c->x2) / 2, cy = (c->y1 + c->y2) / 2;
        if (cx >= t->box.x1 && cx < t->box.x2 && cy >= t->box.y1 && cy < t->box.y2)
            c->flags |= LAY_CC_NONTEXT;
    }
    free(idx);
    return rc;
}

/* ------------------------------------------------------------ unruled */

typedef struct {
    int first, n;    /* into the sorted line order */
    int y1, y2;
    int x1, x2;
} row_t;

typedef struct {
    int x1, x2;      /* white interval */
} sep_t;

static const lay_line *g_lines;
static int cmp_line_y(const void *a, const void *b)
{
    const lay_line *x = &g_lines[*(const int *)a], *y = &g_lines[*(const int *)b];
    int cx = x->box.y1 + x->box.y2, cy = y->box.y1 + y->box.y2;
    if (cx != cy) return (cx > cy) - (cx < cy);
    return (x->box.x1 > y->box.x1) - (x->box.x1 < y->box.x1);
}

static int cmp_line_x(const void *a, const void *b)
{
    const lay_line *x = &g_lines[*(const int *)a], *y = &g_lines[*(const int *)b];
    return (x->box.x1 > y->box.x1) - (x->box.x1 < y->box.x1);
}

/* Intersect the separators with the white space of one row. */
static int cut_seps(sep_t *s, int ns, const lay_line *L, const int *ord, const row_t *r, int minw)
{
    int k = 0;
    for (int i = 0; i < ns; i++) {
        sep_t a = s[i];
        bool dead = false;
        for (int j = 0; j < r->n && !dead; j++) {
            const pipe_box *b = &L[ord[r->first + j]].box;
            if (b->x2 <= a.x1 || b->x1 >= a.x2) continue;
            /* the line covers part of the gap: keep the wider white side */
            int left = b->x1 - a.x1, right = a.x2 - b->x2;
            if (left >= right && left >= minw)
                a.x2 = b->x1;
            else if (right > left && right >= minw)
                a.x1 = b->x2;
            else
                dead = true;
        }
        if (!dead && a.x2 - a.x1 >= minw) s[k++] = a;
    }
    return k;
}

static ocr_status emit_unruled(lay_line *L, const int *ord, const row_t *rows, int r0, int r1,
                               sep_t *seps, int ns, float em, float body_xh, lay_blocks *out, ocr_err *e)
{
    /* Column bounds: [edge, sep0), [sep0, sep1), ... */
    int x1 = 1 << 30, x2 = -1;
    for (int r = r0; r < r1; r++) {
        x1 = imin(x1, rows[r].x1);
        x2 = imax(x2, rows[r].x2);
    }
    for (;;) {
        if (ns < 1) return OCR_OK;
        int ncol = ns + 1;
        /* text-like columns at the edges are page columns, not cells:
         * their lines are long (a table cell holds a few words) */
        int drop = -1;
        bool textlike_inside = false;
        for (int c = 0; c < ncol; c++) {
            int cx1 = c == 0 ? x1 : seps[c - 1].x2, cx2 = c == ncol - 1 ? x2 : seps[c].x1;
            float wv[256];
            int n = 0;
            for (int r = r0; r < r1; r++)
                for (int j = 0; j < rows[r].n && n < 256; j++) {
                    const pipe_box *b = &L[ord[rows[r].first + j]].box;
                    if (b->x1 >= cx2 || b->x2 <= cx1) continue;
                    wv[n++] = (float)(b->x2 - b->x1);
                }
            if (lay_quantile(wv, n, 0.5f) < 8 * em) continue;
            if (c == 0 || c == ncol - 1) {
                if (drop < 0) drop = c;
            } else {
                textlike_inside = true;
            }
        }
        if (textlike_inside) return OCR_OK;
        if (drop < 0) break;
        if (drop == 0) {
            x1 = seps[0].x2;
            memmove(seps, seps + 1, (size_t)(ns - 1) * sizeof *seps);
        } else {
            x2 = seps[ns - 1].x1;
        }
        ns--;
    }
    /* the cells must be text of about the body's size (not the specks of
     * a halftone or the letters of a headline) */
    if (body_xh > 0) {
        int n = 0, ok = 0;
        for (int r = r0; r < r1; r++)
            for (int j = 0; j < rows[r].n; j++) {
                const lay_line *l = &L[ord[rows[r].first + j]];
                n++;
                ok += l->x_height >= 0.6f * body_xh && l->x_height <= 1.6f * body_xh;
            }
        if (ok * 10 < n * 8) return OCR_OK;
    }
    int ncol = ns + 1, nrow = r1 - r0;
    lay_block blk;
    memset(&blk, 0, sizeof blk);
    blk.type = LAY_TABLE;
    blk.column = -1;
    blk.n_rows = nrow;
    blk.n_cols = ncol;
    int maxl = 0;
    for (int r = r0; r < r1; r++) maxl += rows[r].n;
    blk.lines = malloc((size_t)maxl * sizeof *blk.lines);
    blk.cells = malloc((size_t)(nrow * ncol) * sizeof *blk.cells);
    if (!blk.lines || !blk.cells) {
        lay_block_free(&blk);
        return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (table)");
    }
    blk.box = (pipe_box){0, 0, 0, 0};
    for (int r = r0; r < r1; r++) {
        for (int j = 0; j < rows[r].n; j++) {
            lay_line *l = &L[ord[rows[r].first + j]];
            if (l->box.x2 <= x1 || l->box.x1 >= x2) continue;
            int c0 = ncol - 1, c1 = 0;
            for (int c = 0; c < ncol; c++) {
                int cx1 = c == 0 ? x1 : seps[c - 1].x2, cx2 = c == ncol - 1 ? x2 : seps[c].x1;
                if (l->box.x1 < cx2 && c < c0) c0 = c;
                if (l->box.x2 > cx1) c1 = c;
            }
            if (c1 < c0) c1 = c0;
            /* merge into an existing cell of this row and column */
            int k;
            for (k = 0; k < blk.n_cells; k++)
                if (blk.cells[k].row == r - r0 && blk.cells[k].col == c0) break;
            if (k == blk.n_cells) {
                blk.cells[k] = (lay_cell){l->box, r - r0, c0, 1, c1 - c0 + 1};
                blk.n_cells++;
            } else {
                blk.cells[k].box = lay_box_union(blk.cells[k].box, l->box);
                if (c1 - c0 + 1 > blk.cells[k].col_span) blk.cells[k].col_span = c1 - c0 + 1;
            }
            lay_line copy = *l;
            copy.cell = k;
            blk.lines[blk.n_lines++] = copy;
            blk.box = lay_box_union(blk.box, l->box);
            l->n_cc = 0;
        }
    }
    ocr_status rc = lay_blocks_push(out, &blk, e);
    if (rc != OCR_OK) lay_block_free(&blk);
    return rc;
}

/* Tables among the lines ord[0..m) (a strip of the page): rows of lines,
 * then runs of rows whose white gaps stay open. */
static ocr_status unruled_in(lay_line *lines, int *ord, int m, row_t *rows, sep_t *seps, sep_t *tmp,
                             int min_rows, float em, const lay_page *stats, lay_blocks *out, ocr_err *e)
{
    ocr_status rc = OCR_OK;
    g_lines = lines;
    qsort(ord, (size_t)m, sizeof *ord, cmp_line_y);
    /* rows: lines that overlap the first line of the row by half */
    int nr = 0;
    for (int i = 0; i < m;) {
        const pipe_box *a = &lines[ord[i]].box;
        int j = i + 1;
        while (j < m) {
            const pipe_box *b = &lines[ord[j]].box;
            int ov = lay_overlap(a->y1, a->y2, b->y1, b->y2);
            if ((float)ov < 0.5f * (float)imin(lay_box_h(*a), lay_box_h(*b))) break;
            j++;
        }
        qsort(ord + i, (size_t)(j - i), sizeof *ord, cmp_line_x);
        row_t r = {i, j - i, 1 << 30, -1, 1 << 30, -1};
        for (int k = i; k < j; k++) {
            const pipe_box *b = &lines[ord[k]].box;
            r.y1 = imin(r.y1, b->y1);
            r.y2 = imax(r.y2, b->y2);
            r.x1 = imin(r.x1, b->x1);
            r.x2 = imax(r.x2, b->x2);
        }
        rows[nr++] = r;
        i = j;
    }
    int minw = (int)(0.5f * em);
    for (int r0 = 0; r0 < nr && rc == OCR_OK;) {
        if (rows[r0].n < 2) {
            r0++;
            continue;
        }
        int ns = 0;
        for (int j = 0; j + 1 < rows[r0].n; j++) {
            int a = lines[ord[rows[r0].first + j]].box.x2, b = lines[ord[rows[r0].first + j + 1]].box.x1;
            if (b - a >= minw) seps[ns++] = (sep_t){a, b};
        }
        int r1 = r0 + 1;
        while (r1 < nr && ns > 0) {
            const row_t *pr = &rows[r1 - 1], *cr = &rows[r1];
            int hh = imax(pr->y2 - pr->y1, cr->y2 - cr->y1);
            if (cr->y1 - pr->y2 > 2 * hh || cr->n < 2) break;
            if (lay_overlap(cr->x1, cr->x2, rows[r0].x1, rows[r0].x2) < (cr->x2 - cr->x1) / 2) break;
            memcpy(tmp, seps, (size_t)ns * sizeof *tmp);
            int nt = cut_seps(tmp, ns, lines, ord, cr, minw);
            if (nt == 0) break;
            memcpy(seps, tmp, (size_t)nt * sizeof *tmp);
            ns = nt;
            r1++;
        }
        if (r1 - r0 >= min_rows && ns > 0) {
            rc = emit_unruled(lines, ord, rows, r0, r1, seps, ns, em, stats->x_height, out, e);
            r0 = r1;
        } else {
            r0++;
        }
    }
    return rc;
}

/* Page gutters: x-stretches that lie between two lines of a row on many
 * rows (>= 6) and under a line on hardly any (a tenth as many), with
 * running text (>= 3 lines of >= 8 em) on both sides. An unruled table
 * sits inside one column; without this, a row of answer choices in one
 * column and the lines beside it in the next read as a table across the
 * gutter. Writes the gutters' centres to cut[] (sorted), returns their
 * number. */
static int page_gutters(const lay_line *lines, const int *ord, int m, float em, int minw, int *cut, int maxcut)
{
    int X = 0;
    for (int i = 0; i < m; i++) X = imax(X, lines[ord[i]].box.x2);
    if (X <= 0) return 0;
    int *cover = calloc((size_t)X + 2, sizeof *cover), *betw = calloc((size_t)X + 2, sizeof *betw);
    int *o = malloc((size_t)(m > 0 ? m : 1) * sizeof *o);
    int nc = 0;
    if (!cover || !betw || !o) goto out;
    memcpy(o, ord, (size_t)m * sizeof *o);
    g_lines = lines;
    qsort(o, (size_t)m, sizeof *o, cmp_line_y);
    for (int i = 0; i < m;) {
        const pipe_box *a = &lines[o[i]].box;
        int j = i + 1;
        while (j < m && (float)lay_overlap(a->y1, a->y2, lines[o[j]].box.y1, lines[o[j]].box.y2) >=
                            0.5f * (float)imin(lay_box_h(*a), lay_box_h(lines[o[j]].box)))
            j++;
        qsort(o + i, (size_t)(j - i), sizeof *o, cmp_line_x);
        for (int k = i; k < j; k++) {
            const pipe_box *b = &lines[o[k]].box;
            cover[imax(b->x1, 0)]++;
            cover[b->x2]--;
            if (k + 1 < j && lines[o[k + 1]].box.x1 - b->x2 >= minw) {
                betw[b->x2]++;
                betw[lines[o[k + 1]].box.x1]--;
            }
        }
        i = j;
    }
    for (int x = 1; x <= X; x++) {
        cover[x] += cover[x - 1];
        betw[x] += betw[x - 1];
    }
    for (int x = 0; x < X && nc < maxcut;) {
        if (!(betw[x] >= 6 && cover[x] * 10 <= betw[x])) {
            x++;
            continue;
        }
        int x0 = x;
        while (x < X && betw[x] >= 6 && cover[x] * 10 <= betw[x]) x++;
        if (x - x0 < minw) continue;
        /* running text on both sides */
        int left = 0, right = 0;
        for (int i = 0; i < m; i++) {
            const pipe_box *b = &lines[ord[i]].box;
            if ((float)lay_box_w(*b) < 8 * em) continue;
            left += b->x2 <= x0 && (nc == 0 || b->x1 >= cut[nc - 1]);
            right += b->x1 >= x;
        }
        if (left >= 3 && right >= 3) cut[nc++] = (x0 + x) / 2;
    }
out:
    free(cover);
    free(betw);
    free(o);
    return nc;
}

ocr_status lay_tables_unruled(lay_line *lines, int n_lines, const lay_page *stats, const lay_params *p,
                              lay_blocks *out, ocr_err *e)
{
    if (n_lines < 6) return OCR_OK;
    int min_rows = p && p->gutter_rows > 2 ? p->gutter_rows : 3;
    float em = stats->x_height > 0 ? 2.0f * stats->x_height : 2.0f * stats->char_h;
    if (em < 4) em = 4;
    int *ord = malloc((size_t)n_lines * sizeof *ord), *sub = malloc((size_t)n_lines * sizeof *sub);
    row_t *rows = malloc((size_t)n_lines * sizeof *rows);
    sep_t *seps = malloc((size_t)(n_lines + 1) * sizeof *seps);
    sep_t *tmp = malloc((size_t)(n_lines + 1) * sizeof *tmp);
    ocr_status rc = OCR_OK;
    if (!ord || !sub || !rows || !seps || !tmp) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (tables)");
        goto done;
    }
    int m = 0;
    for (int i = 0; i < n_lines; i++)
        if (lines[i].n_cc > 0) ord[m++] = i;
    /* strip by strip between the page's gutters (a line by its centre) */
    int cut[16];
    int nc = page_gutters(lines, ord, m, em, (int)(0.5f * em), cut, 16);
    for (int s = 0; s <= nc && rc == OCR_OK; s++) {
        int lo = s == 0 ? -(1 << 30) : cut[s - 1], hi = s == nc ? 1 << 30 : cut[s], k = 0;
        for (int i = 0; i < m; i++) {
            const pipe_box *b = &lines[ord[i]].box;
            int cx = (b->x1 + b->x2) / 2;
            if (lines[ord[i]].n_cc > 0 && cx >= lo && cx < hi) sub[k++] = ord[i];
        }
        rc = unruled_in(lines, sub, k, rows, seps, tmp, min_rows, em, stats, out, e);
    }
done:
    free(ord);
    free(sub);
    free(rows);
    free(seps);
    free(tmp);
    return rc;
}

/* ------------------------------------------- horizontal rules only */

typedef struct {
    int y, lo, hi;   /* centre row, x extent */
} hrule_t;

static int cmp_hrule(const void *a, const void *b)
{
    const hrule_t *x = a, *y = b;
    if (x->y != y->y) return (x->y > y->y) - (x->y < y->y);
    return (x->lo > y->lo) - (x->lo < y->lo);
}

typedef struct {
    int y1, y2;      /* extent of the row's main glyphs */
    int band;        /* between rules band and band + 1 */
    int trow;        /* table row */
    int occ;         /* columns with ink */
} trow_t;

static const lay_cc *g_hcc;
static int cmp_cc_cy(const void *a, const void *b)
{
    const lay_cc *x = &g_hcc[*(const int *)a], *y = &g_hcc[*(const int *)b];
    int cx = x->y1 + x->y2, cy = y->y1 + y->y2;
    return (cx > cy) - (cx < cy);
}

/* Scratch for one try; sized for the page once. */
typedef struct {
    int *idx, *row;      /* components inside, their text row */
    trow_t *rows;
    int *cnt;            /* text rows with ink per column of pixels */
    int *gap1, *gap2;    /* column gaps */
    float *wv;
} hr_scratch;

static ocr_status hr_grid(const hrule_t *r, int m, const lay_cc *cc, float ch, hr_scratch *s, int k,
                          int nr, int x1, int x2, unsigned char *mark, lay_blocks *out, bool *ok, ocr_err *e);

/* Is the region between rules r[0..m) (one extent, top to bottom) a
 * table? Rows are the text rows inside (in a table whose bands mostly hold
 * one row, a band is one row and its further text rows are wrapped cell
 * text); columns are the gaps white on (nearly) every text row. Pushes the
 * table and returns true. */
static ocr_status hr_try(const hrule_t *r, int m, const lay_cc *cc, int n, float ch, hr_scratch *s,
                         int W, lay_blocks *out, bool *ok, ocr_err *e)
{
    *ok = false;
    int x1 = r[0].lo, x2 = r[0].hi;
    for (int i = 1; i < m; i++) {
        x1 = imin(x1, r[i].lo);
        x2 = imax(x2, r[i].hi);
    }
    x1 = imax(0, x1);
    x2 = imin(W, x2);
    int y1 = r[0].y, y2 = r[m - 1].y, tw = x2 - x1;
    if (tw < 8 || y2 - y1 < ch) return OCR_OK;
    /* the components inside: glyph-sized only (a picture is no table) */
    int k = 0;
    for (int i = 0; i < n; i++) {
        const lay_cc *c = &cc[i];
        if (c->flags & LAY_CC_NONTEXT) continue;
        int cx = (c->x1 + c->x2) / 2, cy = (c->y1 + c->y2) / 2;
        if (cx < x1 || cx >= x2 || cy <= y1 || cy >= y2) continue;
        if ((float)(c->y2 - c->y1) > 4 * ch) return OCR_OK;
        s->idx[k++] = i;
    }
    if (k < 4) return OCR_OK;
    /* text rows from the main glyphs, sorted by centre */
    g_hcc = cc;
    qsort(s->idx, (size_t)k, sizeof *s->idx, cmp_cc_cy);
    int nr = 0;
    for (int j = 0; j < k; j++) {
        const lay_cc *c = &cc[s->idx[j]];
        int h = c->y2 - c->y1;
        s->row[j] = -1;
        if ((float)h < 0.5f * ch) continue;
        if (nr > 0) {
            trow_t *t = &s->rows[nr - 1];
            int ov = lay_overlap(c->y1, c->y2, t->y1, t->y2);
            if ((float)ov >= 0.5f * (float)imin(h, t->y2 - t->y1)) {
                t->y1 = imin(t->y1, c->y1);
                t->y2 = imax(t->y2, c->y2);
                s->row[j] = nr - 1;
                continue;
            }
        }
        s->rows[nr] = (trow_t){c->y1, c->y2, 0, 0, 0};
        s->row[j] = nr++;
    }
    if (nr < 2) return OCR_OK;
    /* glyphs of about the page's text size (not a headline's, nor the
     * strokes of a picture) */
    int nw = 0;
    for (int j = 0; j < k; j++)
        if (s->row[j] >= 0) s->wv[nw++] = (float)(cc[s->idx[j]].y2 - cc[s->idx[j]].y1);
    float hmed = lay_quantile(s->wv, nw, 0.5f);
    if (hmed < 0.6f * ch || hmed > 2.5f * ch) return OCR_OK;
    /* small glyphs (dots, commas, accents) go to the row around them */
    for (int j = 0; j < k; j++) {
        if (s->row[j] >= 0) continue;
        const lay_cc *c = &cc[s->idx[j]];
        int cy = (c->y1 + c->y2) / 2, best = -1, bd = (int)ch + 1;
        for (int t = 0; t < nr; t++) {
            int d = cy < s->rows[t].y1 ? s->rows[t].y1 - cy : cy >= s->rows[t].y2 ? cy - s->rows[t].y2 + 1 : 0;
            if (d < bd) {
                bd = d;
                best = t;
            }
        }
        s->row[j] = best;
    }
    for (int t = 0; t < nr; t++) {
        int cy = (s->rows[t].y1 + s->rows[t].y2) / 2, b = 0;
        while (b + 2 < m && cy > r[b + 1].y) b++;
        s->rows[t].band = b;
    }
    /* three rules at least (two around one block of text is a frame, or
     * the separators of an exam question), every band holding text but
     * for a double rule */
    if (m < 3) return OCR_OK;
    for (int b = 0, t = 0; b + 1 < m; b++) {
        bool any = false;
        while (t < nr && s->rows[t].band == b) {
            any = true;
            t++;
        }
        if (!any && (float)(r[b + 1].y - r[b].y) > 1.5f * ch) return OCR_OK;
    }
    /* ink per text row and column of pixels */
    unsigned char *mark = calloc((size_t)nr * (size_t)tw, 1);
    if (!mark) return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (tables)");
    ocr_status rc = hr_grid(r, m, cc, ch, s, k, nr, x1, x2, mark, out, ok, e);
    free(mark);
    return rc;
}

/* hr_try's second half: columns, rows, the table test and the cells. */
static ocr_status hr_grid(const hrule_t *r, int m, const lay_cc *cc, float ch, hr_scratch *s, int k,
                          int nr, int x1, int x2, unsigned char *mark, lay_blocks *out, bool *ok, ocr_err *e)
{
    int tw = x2 - x1, y1 = r[0].y, y2 = r[m - 1].y;
    memset(s->cnt, 0, (size_t)tw * sizeof *s->cnt);
    for (int j = 0; j < k; j++) {
        if (s->row[j] < 0) continue;
        const lay_cc *c = &cc[s->idx[j]];
        unsigned char *mk = mark + (size_t)s->row[j] * (size_t)tw;
        for (int x = imax(x1, c->x1 - 1); x < imin(x2, c->x2 + 1); x++) mk[x - x1] = 1;
    }
    for (int t = 0; t < nr; t++)
        for (int x = 0; x < tw; x++) s->cnt[x] += mark[(size_t)t * (size_t)tw + (size_t)x];
    /* column gaps: white on all text rows but a quarter (cells spanning
     * columns), wider than word spaces, inside the ink */
    int allow = nr / 4, xl = 0, xr = tw - 1;
    while (xl < tw && s->cnt[xl] == 0) xl++;
    while (xr >= 0 && s->cnt[xr] == 0) xr--;
    int mingap = imax(6, (int)(1.2f * ch)), ng = 0;
    for (int x = xl; x <= xr;) {
        if (s->cnt[x] > allow) {
            x++;
            continue;
        }
        int a = x, mn = s->cnt[x];
        while (x <= xr && s->cnt[x] <= allow) mn = imin(mn, s->cnt[x++]);
        if (x > xr) break;
        /* the gap proper: the longest stretch crossed by fewest rows (a
         * cell's text running into the gap on one row is no span) */
        int ba = a, bb = a;
        for (int q = a; q < x;) {
            if (s->cnt[q] != mn) {
                q++;
                continue;
            }
            int q0 = q;
            while (q < x && s->cnt[q] == mn) q++;
            if (q - q0 > bb - ba) {
                ba = q0;
                bb = q;
            }
        }
        if (bb - ba >= mingap) {
            s->gap1[ng] = ba;
            s->gap2[ng++] = bb;
        }
    }
    if (ng < 1) return OCR_OK;
    int C = ng + 1;
    /* columns occupied per text row */
    for (int t = 0; t < nr; t++) {
        const unsigned char *mk = mark + (size_t)t * (size_t)tw;
        int occ = 0;
        for (int c = 0; c < C; c++) {
            int a = c == 0 ? 0 : s->gap2[c - 1], b = c == C - 1 ? tw : s->gap1[c];
            for (int x = a; x < b; x++)
                if (mk[x]) {
                    occ++;
                    break;
                }
        }
        s->rows[t].occ = occ;
    }
    /* rows: one per band when the bands mostly hold one text row (rules
     * between rows; a band's later rows with fewer cells are wrapped
     * text), else one per text row (booktabs) */
    int nb = 0, single = 0;
    for (int t = 0; t < nr;) {
        int u = t;
        while (u < nr && s->rows[u].band == s->rows[t].band) u++;
        nb++;
        single += u - t == 1;
        t = u;
    }
    bool per_band = nb >= 3 && 2 * single > nb;
    int R = 0;
    for (int t = 0; t < nr; t++) {
        bool first = t == 0 || s->rows[t].band != s->rows[t - 1].band;
        if (!first && per_band) {
            int f = t;
            while (f > 0 && s->rows[f - 1].band == s->rows[t].band) f--;
            if (s->rows[t].occ < s->rows[f].occ) {
                s->rows[t].trow = R - 1;
                continue;
            }
        }
        s->rows[t].trow = R++;
    }
    if (R < 2) return OCR_OK;
    /* cells of table text, not running text: at most one column of long
     * lines (a description column), and two or more columns of words */
    int textlike = 0, wordy = 0, full_rows = 0;
    for (int t = 0; t < nr; t++) full_rows += s->rows[t].occ >= 2;
    if (full_rows < 2) return OCR_OK;
    for (int c = 0; c < C; c++) {
        int a = c == 0 ? 0 : s->gap2[c - 1], b = c == C - 1 ? tw : s->gap1[c], nw = 0;
        for (int t = 0; t < nr; t++) {
            const unsigned char *mk = mark + (size_t)t * (size_t)tw;
            int lo = -1, hi = -1;
            for (int x = a; x < b; x++)
                if (mk[x]) {
                    if (lo < 0) lo = x;
                    hi = x;
                }
            if (lo >= 0) s->wv[nw++] = (float)(hi - lo + 1);
        }
        float med = lay_quantile(s->wv, nw, 0.5f);
        if (med >= 12 * ch) textlike++;
        else if (med >= 1.5f * ch) wordy++;
    }
    if (textlike >= 2 || wordy + textlike < 2 || wordy < 1) return OCR_OK;
    /* row bounds: the rules, or halfway between text rows inside a band */
    int *ry = malloc((size_t)(R + 1) * sizeof *ry);
    lay_cell *cells = calloc((size_t)R * (size_t)C, sizeof *cells);
    int *par = malloc((size_t)R * (size_t)C * sizeof *par);
    if (!ry || !cells || !par) {
        free(ry);
        free(cells);
        free(par);
        return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (tables)");
    }
    for (int t = 0; t < nr; t++) {
        int tr = s->rows[t].trow;
        if (t > 0 && s->rows[t - 1].trow == tr) continue;
        bool first = t == 0 || s->rows[t].band != s->rows[t - 1].band;
        ry[tr] = first ? r[s->rows[t].band].y : (s->rows[t - 1].y2 + s->rows[t].y1) / 2;
    }
    ry[R] = y2;
    ry[0] = y1;
    /* a text row with ink in a gap spans the columns on both sides */
    for (int i = 0; i < R * C; i++) par[i] = i;
    for (int t = 0; t < nr; t++) {
        const unsigned char *mk = mark + (size_t)t * (size_t)tw;
        for (int g = 0; g < ng; g++) {
            bool ink = false;
            for (int x = s->gap1[g]; x < s->gap2[g] && !ink; x++) ink = mk[x];
            if (!ink) continue;
            int p = uf_find(par, s->rows[t].trow * C + g), q = uf_find(par, s->rows[t].trow * C + g + 1);
            par[imax(p, q)] = imin(p, q);
        }
    }
    int nc = 0;
    for (int i = 0; i < R * C; i++) {
        if (uf_find(par, i) != i) continue;
        int c0 = C, c1 = -1, row = i / C;
        for (int j = i; j < (row + 1) * C; j++)
            if (uf_find(par, j) == i) {
                c0 = imin(c0, j % C);
                c1 = imax(c1, j % C);
            }
        int bx1 = c0 == 0 ? x1 : x1 + (s->gap1[c0 - 1] + s->gap2[c0 - 1]) / 2;
        int bx2 = c1 == C - 1 ? x2 : x1 + (s->gap1[c1] + s->gap2[c1]) / 2;
        cells[nc++] = (lay_cell){{bx1, ry[row], bx2, ry[row + 1]}, row, c0, 1, c1 - c0 + 1};
    }
    lay_block blk;
    memset(&blk, 0, sizeof blk);
    blk.type = LAY_TABLE;
    blk.box = (pipe_box){x1, y1, x2, y2 + 1};
    blk.column = -1;
    blk.ruled = true;
    blk.cells = cells;
    blk.n_cells = nc;
    blk.n_rows = R;
    blk.n_cols = C;
    free(ry);
    free(par);
    ocr_status rc = lay_blocks_push(out, &blk, e);
    if (rc != OCR_OK) free(cells);
    *ok = rc == OCR_OK;
    return rc;
}

ocr_status lay_tables_hruled(PIX *hmask, const lay_cc *cc, int n, float ch, lay_blocks *out, ocr_err *e)
{
    if (ch < 2) ch = 2;
    int W = pixGetWidth(hmask);
    BOXA *hb = pixConnCompBB(hmask, 8);
    if (!hb) return ocr_err_set(e, OCR_E_NOMEM, "layout: table detection failed");
    int nh = boxaGetCount(hb), nr = 0;
    ocr_status rc = OCR_OK;
    hrule_t *r = malloc((size_t)(nh > 0 ? nh : 1) * sizeof *r);
    int *chain = malloc((size_t)(nh > 0 ? nh : 1) * sizeof *chain);
    bool *used = calloc((size_t)(nh > 0 ? nh : 1), sizeof *used);
    hr_scratch s;
    memset(&s, 0, sizeof s);
    if (!r || !chain || !used) goto oom;
    int tol = imax(3, (int)(0.4f * ch));
    for (int i = 0; i < nh; i++) {
        l_int32 x, y, w, h;
        boxaGetBoxGeometry(hb, i, &x, &y, &w, &h);
        /* rules of the ruled tables found already are theirs */
        bool inside = false;
        for (int t = 0; t < out->n && !inside; t++) {
            const pipe_box *b = &out->v[t].box;
            inside = out->v[t].type == LAY_TABLE && x + w / 2 >= b->x1 - 3 && x + w / 2 < b->x2 + 3 &&
                     y + h / 2 >= b->y1 - 3 && y + h / 2 < b->y2 + 3;
        }
        if (!inside) r[nr++] = (hrule_t){y + h / 2, x, x + w};
    }
    qsort(r, (size_t)nr, sizeof *r, cmp_hrule);
    /* pieces of one broken rule */
    int m = 0;
    for (int i = 0; i < nr; i++) {
        int j;
        for (j = m - 1; j >= 0 && r[i].y - r[j].y <= tol; j--)
            if (r[i].lo - r[j].hi <= (int)(2 * ch) && r[j].lo - r[i].hi <= (int)(2 * ch)) break;
        if (j >= 0 && r[i].y - r[j].y <= tol) {
            r[j].lo = imin(r[j].lo, r[i].lo);
            r[j].hi = imax(r[j].hi, r[i].hi);
        } else {
            r[m++] = r[i];
        }
    }
    nr = 0;
    for (int i = 0; i < m; i++)
        if ((float)(r[i].hi - r[i].lo) >= 8 * ch) r[nr++] = r[i];
    qsort(r, (size_t)nr, sizeof *r, cmp_hrule);
    if (nr < 2) goto done;
    s.idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *s.idx);
    s.row = malloc((size_t)(n > 0 ? n : 1) * sizeof *s.row);
    s.rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *s.rows);
    s.wv = malloc((size_t)(n > 0 ? n : 1) * sizeof *s.wv);
    s.cnt = malloc((size_t)(W > 0 ? W : 1) * sizeof *s.cnt);
    s.gap1 = malloc((size_t)(W > 0 ? W : 1) * sizeof *s.gap1);
    s.gap2 = malloc((size_t)(W > 0 ? W : 1) * sizeof *s.gap2);
    if (!s.idx || !s.row || !s.rows || !s.wv || !s.cnt || !s.gap1 || !s.gap2) goto oom;
    /* chains of rules of one extent, top to bottom */
    for (int i = 0; i < nr && rc == OCR_OK; i++) {
        if (used[i]) continue;
        int len = r[i].hi - r[i].lo, tx = imax((int)(2 * ch), len / 25), k = 0;
        chain[k++] = i;
        for (int j = i + 1; j < nr; j++)
            if (!used[j] && abs(r[j].lo - r[i].lo) <= tx && abs(r[j].hi - r[i].hi) <= tx &&
                r[j].y - r[chain[k - 1]].y > tol)
                chain[k++] = j;
        if (k < 2) continue;
        if (k > 32) k = 32;
        hrule_t sub[32];
        /* the longest run of the chain that holds a table, then the rest */
        for (int a = 0; a + 1 < k && rc == OCR_OK;) {
            bool ok = false;
            int b;
            for (b = k - 1; b > a && rc == OCR_OK; b--) {
                int mm = b - a + 1;
                for (int q = 0; q < mm; q++) sub[q] = r[chain[a + q]];
                rc = hr_try(sub, mm, cc, n, ch, &s, W, out, &ok, e);
                if (ok) break;
            }
            if (ok) {
                for (int q = a; q <= b; q++) used[chain[q]] = true;
                a = b + 1;
            } else {
                a++;
            }
        }
    }
    goto done;
oom:
    rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (tables)");
done:
    free(s.idx);
    free(s.row);
    free(s.rows);
    free(s.wv);
    free(s.cnt);
    free(s.gap1);
    free(s.gap2);
    free(r);
    free(chain);
    free(used);
    boxaDestroy(&hb);
    return rc;
}

/* pipeline/lay_page.c — the layout driver: rules and ruled tables, the
 * text image without rules, components, figures, the tables' cell lines,
 * text lines, body statistics, unruled tables, blocks and types, reading
 * order; and the conversion to the document model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

static const char *const type_names[LAY_TYPE_COUNT] = {
    "paragraph", "heading", "list_item", "formula", "table",
    "figure",    "header",  "footer",    "page_number",
};

const char *lay_type_name(lay_type t)
{
    return (unsigned)t < LAY_TYPE_COUNT ? type_names[t] : "unknown";
}

const char *lay_type_doc_label(lay_type t, int level)
{
    switch (t) {
    case LAY_PARAGRAPH: return "text";
    case LAY_HEADING: return level <= 1 ? "title" : "sub_title";
    case LAY_LIST_ITEM: return "list";
    case LAY_FORMULA: return "equation";
    case LAY_TABLE: return "table";
    case LAY_FIGURE: return "image";
    case LAY_HEADER: return "header";
    case LAY_FOOTER: return "footer";
    case LAY_PAGE_NUMBER: return "page_number";
    default: return "text";
    }
}

void lay_page_free(lay_page *lp)
{
    if (!lp) return;
    for (int i = 0; i < lp->n_blocks; i++) lay_block_free(&lp->blocks[i]);
    free(lp->blocks);
    memset(lp, 0, sizeof *lp);
}

int lay_page_count_lines(const lay_page *lp)
{
    int n = 0;
    for (int i = 0; i < lp->n_blocks; i++) n += lp->blocks[i].n_lines;
    return n;
}

typedef struct {
    float v, w;
} wv_t;

static int cmp_wv(const void *a, const void *b)
{
    float x = ((const wv_t *)a)->v, y = ((const wv_t *)b)->v;
    return (x > y) - (x < y);
}

/* Median of v weighted by w. */
static float wmedian(wv_t *a, int n)
{
    if (n == 0) return 0;
    qsort(a, (size_t)n, sizeof *a, cmp_wv);
    double tot = 0, acc = 0;
    for (int i = 0; i < n; i++) tot += a[i].w;
    for (int i = 0; i < n; i++) {
        acc += a[i].w;
        if (acc >= tot / 2) return a[i].v;
    }
    return a[n - 1].v;
}

/* Body statistics: sizes weighted by glyph count (long lines of running
 * text outweigh headings and captions), and the median baseline pitch
 * between a line and the next one under it. */
static ocr_status body_stats(lay_page *st, const lay_line *L, int n, ocr_err *e)
{
    if (n == 0) return OCR_OK;
    wv_t *a = malloc((size_t)n * sizeof *a);
    float *pv = malloc((size_t)n * sizeof *pv);
    if (!a || !pv) {
        free(a);
        free(pv);
        return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory");
    }
    for (int i = 0; i < n; i++) a[i] = (wv_t){L[i].x_height, (float)L[i].n_cc};
    st->x_height = wmedian(a, n);
    for (int i = 0; i < n; i++) a[i] = (wv_t){L[i].size, (float)L[i].n_cc};
    st->size = wmedian(a, n);
    for (int i = 0; i < n; i++) a[i] = (wv_t){L[i].stroke, (float)L[i].n_cc};
    st->stroke = wmedian(a, n);
    int np = 0;
    for (int i = 0; i < n; i++) {
        int best = -1, bd = 1 << 30;
        if (L[i].n_cc <= 0) continue;
        for (int j = 0; j < n; j++) {
            if (j == i || L[j].n_cc <= 0 || L[j].baseline <= L[i].baseline) continue;
            int wmin = lay_box_w(L[i].box) < lay_box_w(L[j].box) ? lay_box_w(L[i].box) : lay_box_w(L[j].box);
            if (lay_overlap(L[i].box.x1, L[i].box.x2, L[j].box.x1, L[j].box.x2) * 2 < wmin) continue;
            int d = L[j].baseline - L[i].baseline;
            if (d < bd) {
                bd = d;
                best = j;
            }
        }
        if (best >= 0 && (float)bd < 3 * st->size && L[i].size > 0 &&
            fabsf(L[best].size - L[i].size) < 0.2f * L[i].size)
            pv[np++] = (float)bd;
    }
    st->line_pitch = lay_quantile(pv, np, 0.5f);
    free(a);
    free(pv);
    return OCR_OK;
}

/* Rules to take out of the text image: every long horizontal rule, the
 * long vertical ones, and every vertical rule inside a ruled table. */
static PIX *rule_removal(PIX *hm, PIX *vm, float ch, const lay_blocks *bs)
{
    PIX *vl = pixSelectBySize(vm, 1, (l_int32)(3 * ch), 8, L_SELECT_HEIGHT, L_SELECT_IF_GTE, NULL);
    PIX *rm = vl ? pixOr(NULL, hm, vl) : NULL;
    pixDestroy(&vl);
    if (!rm) return NULL;
    for (int i = 0; i < bs->n; i++) {
        if (bs->v[i].type != LAY_TABLE) continue;
        pipe_box b = bs->v[i].box;
        BOX *box = boxCreate(b.x1, b.y1, lay_box_w(b), lay_box_h(b));
        PIX *clip = box ? pixClipRectangle(vm, box, NULL) : NULL;
        if (clip) pixRasterop(rm, b.x1, b.y1, lay_box_w(b), lay_box_h(b), PIX_SRC | PIX_DST, clip, 0, 0);
        pixDestroy(&clip);
        boxDestroy(&box);
    }
    PIX *d = pixDilateBrick(NULL, rm, 3, 3);
    pixDestroy(&rm);
    return d;
}

/* A grid whose cells are (nearly) all empty is a drawing (squares to
 * shade, an answer grid), not a table: as a table it would give rows of
 * empty cells; as a figure it is a picture of the grid. "Nearly": at most
 * one cell in ten holds text (one cell at most for small grids). */
static void table_to_figure(lay_block *t)
{
    if (t->n_cells < 4) return;
    int filled = 0;
    for (int k = 0; k < t->n_cells; k++) {
        bool has = false;
        for (int l = 0; l < t->n_lines && !has; l++) has = t->lines[l].cell == k;
        filled += has;
    }
    if (filled > (t->n_cells / 10 > 1 ? t->n_cells / 10 : 1)) return;
    free(t->lines);
    free(t->cells);
    t->lines = NULL;
    t->cells = NULL;
    t->n_lines = t->n_cells = t->n_rows = t->n_cols = 0;
    t->ruled = false;
    t->type = LAY_FIGURE;
}

ocr_status lay_analyze(lay_page *out, PIX *gray, PIX *bin, const lay_params *p, ocr_err *e)
{
    return lay_analyze_marked(out, gray, bin, NULL, 0, p, e);
}

ocr_status lay_analyze_marked(lay_page *out, PIX *gray, PIX *bin, const pipe_box *inverted,
                              int n_inverted, const lay_params *p, ocr_err *e)
{
    memset(out, 0, sizeof *out);
    lay_params def = lay_default_params();
    if (!p) p = &def;
    if (!bin || pixGetDepth(bin) != 1)
        return ocr_err_set(e, OCR_E_ARG, "lay_analyze: need the 1 bpp analysis image");
    if (gray && (pixGetWidth(gray) != pixGetWidth(bin) || pixGetHeight(gray) != pixGetHeight(bin)))
        return ocr_err_set(e, OCR_E_ARG, "lay_analyze: gray %dx%d and binary %dx%d differ",
                           pixGetWidth(gray), pixGetHeight(gray), pixGetWidth(bin), pixGetHeight(bin));
    img_lept_quiet();
    int W = pixGetWidth(bin), H = pixGetHeight(bin);
    out->width = W;
    out->height = H;

    ocr_status rc = OCR_OK;
    lay_blocks bs = {0};
    lay_cc *cc = NULL;
    int ncc = 0, nl = 0;
    lay_line *lines = NULL;
    int *idx = NULL;
    PIX *hm = NULL, *vm = NULL, *rm = NULL, *tb = NULL;

    rc = lay_cc_find(bin, &cc, &ncc, e);
    if (rc != OCR_OK) goto done;
    float ch = lay_cc_char_height(cc, ncc, H);
    free(cc);
    cc = NULL;
    if (ch < 3) goto done; /* blank, or nothing glyph-sized */

    rc = lay_rules_find(bin, ch, &hm, &vm, e);
    if (rc != OCR_OK) goto done;
    if (p->tables) {
        rc = lay_tables_ruled(hm, vm, ch, &bs, e);
        if (rc != OCR_OK) goto done;
    }
    rm = rule_removal(hm, vm, ch, &bs);
    tb = rm ? pixSubtract(NULL, bin, rm) : NULL;
    if (!tb) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "layout: rule removal failed");
        goto done;
    }
    rc = lay_cc_find(tb, &cc, &ncc, e);
    if (rc == OCR_OK) rc = lay_border_clean(tb, cc, ncc, e);
    if (rc != OCR_OK) goto done;
    out->char_h = ch;
    if (p->tables) rc = lay_tables_hruled(hm, cc, ncc, ch, &bs, e);
    if (rc != OCR_OK) goto done;
    for (int i = 0; i < bs.n && rc == OCR_OK; i++)
        if (bs.v[i].type == LAY_TABLE) {
            rc = lay_table_fill(&bs.v[i], cc, ncc, ch, tb, p, e);
            if (rc == OCR_OK) table_to_figure(&bs.v[i]);
        }
    if (rc == OCR_OK && p->figures) rc = lay_figures_find(tb, cc, ncc, ch, &bs, e);
    if (rc != OCR_OK) goto done;

    idx = malloc((size_t)(ncc > 0 ? ncc : 1) * sizeof *idx);
    if (!idx) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory");
        goto done;
    }
    int m = 0;
    for (int i = 0; i < ncc; i++)
        if (!(cc[i].flags & LAY_CC_NONTEXT)) idx[m++] = i;
    rc = lay_lines_build(cc, idx, m, ch, tb, p, &lines, &nl, e);
    if (rc != OCR_OK) goto done;
    /* text inside a picture (a banner's lettering, a chart's labels)
     * belongs to the picture */
    for (int l = 0; l < nl; l++)
        for (int i = 0; i < bs.n; i++) {
            if (bs.v[i].type != LAY_FIGURE) continue;
            pipe_box f = bs.v[i].box, b = lines[l].box;
            int ow = lay_overlap(f.x1, f.x2, b.x1, b.x2), oh = lay_overlap(f.y1, f.y2, b.y1, b.y2);
            if (ow > 0 && oh > 0 && (double)ow * oh >= 0.8 * (double)lay_box_w(b) * lay_box_h(b)) {
                lines[l].n_cc = 0;
                break;
            }
        }
    /* lines set light on dark (mostly inside a region cleanup inverted) */
    for (int l = 0; l < nl; l++) {
        pipe_box b = lines[l].box;
        for (int i = 0; i < n_inverted && !lines[l].inverted; i++) {
            pipe_box f = inverted[i];
            int ow = lay_overlap(f.x1, f.x2, b.x1, b.x2), oh = lay_overlap(f.y1, f.y2, b.y1, b.y2);
            lines[l].inverted = ow > 0 && oh > 0 && (double)ow * oh >= 0.5 * (double)lay_box_w(b) * lay_box_h(b);
        }
    }
    rc = body_stats(out, lines, nl, e);
    /* A "line" many times taller than its own type, with an x-height of
     * a fraction of the body's, is no text: the pieces of a light picture
     * (line art, a washed-out photo) that the figure mask missed. Read,
     * it gives a few junk characters. */
    for (int l = 0; rc == OCR_OK && l < nl; l++) {
        const lay_line *ln = &lines[l];
        if (ln->n_cc <= 0 || ln->size <= 0 || out->x_height <= 0) continue;
        if ((float)lay_box_h(ln->box) > 5.0f * ln->size && ln->x_height < 0.5f * out->x_height)
            lines[l].n_cc = 0;
    }
    if (rc == OCR_OK && p->tables) rc = lay_tables_unruled(lines, nl, out, p, &bs, e);
    if (rc == OCR_OK) rc = lay_blocks_from_lines(lines, nl, out, cc, ncc, tb, p, &bs, e);
    if (rc != OCR_OK) goto done;
    out->n_columns = lay_order(&bs, W, H);
    out->blocks = bs.v;
    out->n_blocks = bs.n;
    out->cap_blocks = bs.cap;
    memset(&bs, 0, sizeof bs);
done:
    lay_blocks_free(&bs);
    free(lines);
    free(idx);
    free(cc);
    pixDestroy(&hm);
    pixDestroy(&vm);
    pixDestroy(&rm);
    pixDestroy(&tb);
    if (rc != OCR_OK) lay_page_free(out);
    return rc;
}

ocr_status lay_page_run(PIX *page, const lay_params *p, lay_clean_result *clean, lay_page *out,
                        ocr_err *e)
{
    memset(out, 0, sizeof *out);
    ocr_status rc = lay_clean(page, p, clean, e);
    if (rc != OCR_OK) return rc;
    rc = lay_analyze_marked(out, clean->gray, clean->bin, clean->inverted, clean->n_inverted, p, e);
    if (rc != OCR_OK) lay_clean_result_free(clean);
    return rc;
}

ocr_status lay_page_to_doc(const lay_page *lp, pipe_page *pg, ocr_err *e)
{
    pg->width = lp->width;
    pg->height = lp->height;
    for (int i = 0; i < lp->n_blocks; i++) {
        const lay_block *b = &lp->blocks[i];
        const char *lab = lay_type_doc_label(b->type, b->level);
        pipe_block *pb = NULL;
        ocr_status rc = pipe_page_add_block(pg, &pb, lab, strlen(lab), NULL, 0, e);
        if (rc == OCR_OK) rc = pipe_block_add_box(pb, b->box, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

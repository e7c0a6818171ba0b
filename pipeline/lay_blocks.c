/* pipeline/lay_blocks.c — lines to typed blocks.
 *
 * 1. Stacks: each line is linked to the nearest line above it that
 *    overlaps it horizontally by half the narrower one, lies within about
 *    an em, and has a compatible size and stroke (so headings do not join
 *    their body); links are one-to-one.
 * 2. Paragraphs: a stack is cut where the baseline pitch jumps, at a
 *    first-line indent, after a short line in justified text, and before
 *    every list item start.
 * 3. List items start with a bullet (a small solid blob, or a dash, at the
 *    x-height band, then a gap) or an enumerator (a short token of digits
 *    or one letter, ending in '.' or ')', then a gap) -- unless the line
 *    is heading-sized or bold (4.): "1. Introduction" is a heading.
 * 4. Headings: short blocks whose font size is heading_ratio over the
 *    body's, or body-size blocks bold_ratio heavier (level 3).
 * 5. Display formulas: short blocks centred in their column (an equation
 *    number at the right edge aside) with glyphs that running text does
 *    not have: large operators or brackets, fraction bars, scripts.
 * 6. Headers, footers and page numbers: short body-size blocks alone in
 *    the top or bottom margin zone; a page number is 1-4 digit-like
 *    glyphs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

typedef struct {
    const lay_line *L;
    int n;
    const lay_cc *cc;
    int *mstart, *midx; /* members of each line, sorted by x1 */
    const lay_page *st;
    const lay_params *p;
    float em;           /* body font size, px */
    PIX *bin;
} ctx_t;

static const lay_cc *g_cc;
static int cmp_cc_x(const void *a, const void *b)
{
    const lay_cc *x = &g_cc[*(const int *)a], *y = &g_cc[*(const int *)b];
    return (x->x1 > y->x1) - (x->x1 < y->x1);
}

static const lay_line *g_L;
static int cmp_line_y1(const void *a, const void *b)
{
    const lay_line *x = &g_L[*(const int *)a], *y = &g_L[*(const int *)b];
    if (x->box.y1 != y->box.y1) return (x->box.y1 > y->box.y1) - (x->box.y1 < y->box.y1);
    return (x->box.x1 > y->box.x1) - (x->box.x1 < y->box.x1);
}

static float ratio(float a, float b)
{
    if (a <= 0 || b <= 0) return 1;
    return a > b ? a / b : b / a;
}

/* ---------------------------------------------------------------- lists */

/* Does line l start with a bullet or an enumerator? *text_x: where the
 * item's text starts. */
static bool list_start(const ctx_t *c, int l, int *text_x)
{
    const lay_line *ln = &c->L[l];
    int s0 = c->mstart[l], s1 = c->mstart[l + 1];
    if (s1 - s0 < 2) return false;
    float xh = ln->x_height, em = ln->size > 0 ? ln->size : 2 * xh;
    int base = ln->baseline;
    const lay_cc *cc = c->cc;
    /* first token: components up to the first gap of 0.25 em */
    int end = s0 + 1, right = cc[c->midx[s0]].x2;
    while (end < s1) {
        const lay_cc *d = &cc[c->midx[end]];
        if ((float)(d->x1 - right) >= 0.25f * em) break;
        right = imax(right, d->x2);
        end++;
    }
    if (end >= s1) return false;
    int gap = cc[c->midx[end]].x1 - right;
    *text_x = cc[c->midx[end]].x1;
    int ntok = end - s0;
    const lay_cc *f = &cc[c->midx[s0]];
    int fw = f->x2 - f->x1, fh = f->y2 - f->y1;
    float fcy = 0.5f * (float)(f->y1 + f->y2);
    /* bullet: one solid blob (or a dash) in the x-height band */
    if (ntok == 1 && (float)gap >= 0.3f * em && fcy >= (float)base - 1.1f * xh &&
        fcy <= (float)base - 0.1f * xh && (float)fh <= 1.05f * xh && (float)fw <= 1.2f * em) {
        /* dashes up to an em dash; a blob no wider than the x-height */
        bool dash = fw >= 2 * fh && (float)fw >= 0.3f * em;
        if (!dash && (float)fw > 1.2f * xh) return false;
        bool blob = fw * 5 >= fh * 2 && fh * 5 >= fw * 2 && (float)fh >= 0.25f * xh;
        int ink = blob && c->bin ? lay_count_ink(c->bin, (pipe_box){f->x1, f->y1, f->x2, f->y2}) : 0;
        if (dash || (blob && (float)ink >= 0.6f * (float)(fw * fh))) return true;
    }
    /* enumerator: digits or one letter, then '.' or ')' */
    if (ntok < 2 || ntok > 4 || (float)(right - f->x1) > 2.5f * em || (float)gap < 0.2f * em) return false;
    const lay_cc *last = &cc[c->midx[end - 1]];
    int lw = last->x2 - last->x1, lh = last->y2 - last->y1;
    bool dot = (float)lh <= 0.35f * xh && (float)lw <= 0.4f * xh && abs(last->y2 - base) <= imax(2, (int)(0.2f * xh));
    /* ')' rises above the x-height and dips below the baseline */
    bool paren = (float)lh >= 1.1f * xh && lw * 2 <= lh && (float)last->y2 >= (float)base + fmaxf(1.0f, 0.12f * xh);
    if (!dot && !paren) return false;
    int tall = 0, small = 0;
    for (int k = s0; k < end - 1; k++) {
        const lay_cc *d = &cc[c->midx[k]];
        int h = d->y2 - d->y1;
        if (abs(d->y2 - base) > imax(2, (int)(0.15f * xh)) && !(paren && k == s0)) return false;
        if ((float)h >= 1.2f * xh)
            tall++;
        else if ((float)h >= 0.7f * xh)
            small++;
        else if (!(paren && k == s0))
            return false;
    }
    /* "12." / "a)" / "(iv)": digits (tall) alone or one lowercase letter */
    return (small == 0 && tall >= 1 && tall <= 3) || (tall == 0 && small == 1);
}

/* ------------------------------------------------------------- formulas */

/* Glyphs running text does not have: large operators and tall brackets
 * (taller than any letter, parentheses included), fraction bars, and
 * sub/superscripts (letter-sized glyphs off the x-height band; commas
 * and quotes are too narrow to count). */
static bool odd_glyphs(const ctx_t *c, const int *ls, int nl)
{
    int tall = 0, bars = 0, scripts = 0, n = 0;
    for (int i = 0; i < nl; i++) {
        const lay_line *ln = &c->L[ls[i]];
        float xh = ln->x_height, em = ln->size;
        for (int k = c->mstart[ls[i]]; k < c->mstart[ls[i] + 1]; k++) {
            const lay_cc *d = &c->cc[c->midx[k]];
            int w = d->x2 - d->x1, h = d->y2 - d->y1;
            n++;
            if ((float)h >= 1.35f * em) tall++;
            if (w >= 4 * h && (float)w >= 0.8f * em && (float)h <= 0.15f * em) bars++;
            float cy = 0.5f * (float)(d->y1 + d->y2), mid = (float)ln->baseline - 0.5f * xh;
            if ((float)h >= 0.45f * xh && (float)h <= 0.8f * xh && (float)w >= 0.35f * xh &&
                fabsf(cy - mid) >= 0.6f * xh)
                scripts++;
        }
    }
    if (n == 0) return false;
    return tall >= 1 || bars >= 1 || scripts >= 3;
}

/* x-range of the column around box b: the usual left and right edges of
 * the lines above and below that overlap it (quantiles, so that a stray
 * wide or indented line does not decide); false when there are none. */
static bool column_range(const ctx_t *c, pipe_box b, int *x1, int *x2)
{
    float reach = 6 * c->em;
    float v1[64], v2[64];
    int n = 0;
    for (int i = 0; i < c->n && n < 64; i++) {
        const lay_line *l = &c->L[i];
        if (l->n_cc <= 0) continue;
        if (l->box.y2 > b.y1 - 1 && l->box.y1 < b.y2 + 1) continue; /* beside, not above/below */
        float dy = l->box.y2 <= b.y1 ? (float)(b.y1 - l->box.y2) : (float)(l->box.y1 - b.y2);
        if (dy > reach) continue;
        if (lay_overlap(l->box.x1, l->box.x2, b.x1, b.x2) <= 0) continue;
        v1[n] = (float)l->box.x1;
        v2[n] = (float)l->box.x2;
        n++;
    }
    if (n == 0) return false;
    *x1 = (int)lay_quantile(v1, n, 0.2f);
    *x2 = (int)lay_quantile(v2, n, 0.8f);
    return true;
}

static bool is_formula(const ctx_t *c, const int *ls, int nl, pipe_box b)
{
    if (nl > 4) return false;
    int cx1, cx2;
    if (!column_range(c, b, &cx1, &cx2)) return false;
    float em = c->em;
    /* an equation number at the right: the last token after a wide gap */
    int right = b.x2;
    if (nl == 1) {
        int l = ls[0], s0 = c->mstart[l], s1 = c->mstart[l + 1];
        if (s1 - s0 >= 3) {
            int k = s1 - 1, x = c->cc[c->midx[k]].x1;
            int prev_right = -1;
            for (int j = s0; j < s1 - 1; j++)
                if (c->cc[c->midx[j]].x2 <= x) prev_right = imax(prev_right, c->cc[c->midx[j]].x2);
            /* walk left over the number's glyphs */
            for (int j = s1 - 2; j >= s0; j--) {
                const lay_cc *d = &c->cc[c->midx[j]];
                if ((float)(x - d->x2) >= 1.5f * em) break;
                x = imin(x, d->x1);
            }
            prev_right = -1;
            for (int j = s0; j < s1; j++)
                if (c->cc[c->midx[j]].x2 <= x) prev_right = imax(prev_right, c->cc[c->midx[j]].x2);
            if (prev_right > 0 && (float)(x - prev_right) >= 2 * em && (float)(b.x2 - x) <= 5 * em &&
                (float)(cx2 - b.x2) <= 1.5f * em)
                right = prev_right;
        }
    }
    int lm = b.x1 - cx1, rm = cx2 - right;
    float colw = (float)(cx2 - cx1);
    if ((float)lm < 2 * em || (float)rm < 2 * em) return false;
    if ((float)abs(lm - rm) > fmaxf(2 * em, 0.15f * colw)) return false;
    return odd_glyphs(c, ls, nl);
}

/* A display formula line: it carries an equation number, or it has
 * formula glyphs and stands indented from both sides of its column. */
static bool formula_line(const ctx_t *c, int l)
{
    const lay_line *ln = &c->L[l];
    if (ln->eqno_x > 0) return true;
    if (!odd_glyphs(c, &l, 1)) return false;
    int cx1, cx2;
    if (!column_range(c, ln->box, &cx1, &cx2)) return false;
    return (float)(ln->box.x1 - cx1) >= 1.5f * c->em && (float)(cx2 - ln->box.x2) >= 2 * c->em;
}

/* --------------------------------------------------------------- blocks */

static ocr_status push_block(const ctx_t *c, const int *ls, int nl, lay_type t, lay_blocks *out,
                             ocr_err *e)
{
    lay_block b;
    memset(&b, 0, sizeof b);
    b.type = t;
    b.column = -1;
    b.lines = malloc((size_t)nl * sizeof *b.lines);
    if (!b.lines) return ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (blocks)");
    b.box = (pipe_box){0, 0, 0, 0};
    for (int i = 0; i < nl; i++) {
        b.lines[i] = c->L[ls[i]];
        b.box = lay_box_union(b.box, c->L[ls[i]].box);
    }
    b.n_lines = nl;
    ocr_status rc = lay_blocks_push(out, &b, e);
    if (rc != OCR_OK) lay_block_free(&b);
    return rc;
}

static float median_of(const ctx_t *c, const int *ls, int nl, int what)
{
    float v[64];
    int n = 0;
    for (int i = 0; i < nl && n < 64; i++) {
        const lay_line *l = &c->L[ls[i]];
        v[n++] = what == 0 ? l->size : what == 1 ? l->stroke : l->x_height;
    }
    return lay_quantile(v, n, 0.5f);
}

/* Heading (level) or 0. */
static int heading_level(const ctx_t *c, const int *ls, int nl)
{
    if (nl > 3 || c->st->size <= 0 || c->st->x_height <= 0) return 0;
    /* a word at least: a lone bold letter is an option label, not a title */
    int glyphs = 0, w = 0;
    for (int i = 0; i < nl; i++) {
        glyphs += c->L[ls[i]].n_cc;
        w = imax(w, lay_box_w(c->L[ls[i]].box));
    }
    if (glyphs < 3 || (float)w < 1.5f * median_of(c, ls, nl, 0)) return 0;
    /* larger by both measures (caps-only lines have a large x-height) */
    float r = fminf(median_of(c, ls, nl, 0) / c->st->size, median_of(c, ls, nl, 2) / c->st->x_height);
    if (r >= 1.6f) return 1;
    if (r >= c->p->heading_ratio) return 2;
    float s = c->st->stroke > 0 ? median_of(c, ls, nl, 1) / c->st->stroke : 1;
    if (nl <= 2 && r >= 0.85f && s >= c->p->bold_ratio) return 3;
    return 0;
}

/* Split a stack (lines ls[0..n) top to bottom) into paragraphs and list
 * items and emit them. */
static ocr_status emit_stack(const ctx_t *c, const int *ls, int n, lay_blocks *out, ocr_err *e)
{
    float em = median_of(c, ls, n, 0);
    if (em <= 0) em = c->em;
    bool *brk = calloc((size_t)n + 1, sizeof *brk), *item = calloc((size_t)n + 1, sizeof *item);
    int *txt = calloc((size_t)n + 1, sizeof *txt);
    float *pv = malloc((size_t)n * sizeof *pv);
    ocr_status rc = OCR_OK;
    if (!brk || !item || !txt || !pv) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (blocks)");
        goto done;
    }
    /* pitch jumps */
    int np = 0;
    for (int i = 0; i + 1 < n; i++) pv[np++] = (float)(c->L[ls[i + 1]].baseline - c->L[ls[i]].baseline);
    float mp = np >= 2 ? lay_quantile(pv, np, 0.5f) : 0;
    float page_pitch = c->st->line_pitch;
    if (mp <= 0 && page_pitch > 0 && ratio(em, c->st->size) < 1.15f) mp = page_pitch;
    for (int i = 0; i + 1 < n && mp > 0; i++) {
        float pitch = (float)(c->L[ls[i + 1]].baseline - c->L[ls[i]].baseline);
        if (pitch > 1.3f * mp && pitch - mp > 0.25f * em) brk[i + 1] = true;
    }
    /* display formulas stand apart from the text around them */
    bool *fl = calloc((size_t)n + 1, sizeof *fl);
    if (!fl) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (blocks)");
        goto done;
    }
    if (c->p->formulas)
        for (int i = 0; i < n; i++) {
            fl[i] = formula_line(c, ls[i]);
            if (i > 0 && fl[i] != fl[i - 1]) brk[i] = true;
        }
    /* list items; a numbered line whose size or stroke makes it a heading
     * ("1. Introduction" in larger or bold type) is a heading that starts
     * with its number, set apart from the lines after it */
    if (c->p->lists)
        for (int i = 0; i < n; i++) {
            if (fl[i] || !list_start(c, ls[i], &txt[i])) continue;
            brk[i] = true;
            if (!heading_level(c, ls + i, 1)) {
                item[i] = true;
                continue;
            }
            if (i + 1 < n && !heading_level(c, ls + i + 1, 1)) brk[i + 1] = true;
        }
    /* first-line indents (not inside list items: their hanging indent) */
    bool in_item = false;
    for (int i = 0; i < n; i++) {
        if (item[i]) in_item = true;
        else if (brk[i]) in_item = false;
        if (i == 0 || in_item || brk[i]) continue;
        int x = c->L[ls[i]].box.x1, xp = c->L[ls[i - 1]].box.x1;
        int ref = i + 1 < n ? imin(xp, c->L[ls[i + 1]].box.x1) : xp;
        bool next_back = i + 1 >= n || (float)abs(c->L[ls[i + 1]].box.x1 - xp) <= 0.5f * em;
        if ((float)(x - ref) >= 0.8f * em && (float)(x - ref) <= 8 * em && next_back) brk[i] = true;
    }
    /* a line ending well short of the lines above and below it ends a
     * paragraph in justified text */
    if (n >= 3) {
        int full = 0;
        for (int i = 1; i + 1 < n; i++) {
            int r = imin(c->L[ls[i - 1]].box.x2, c->L[ls[i + 1]].box.x2);
            full += (float)abs(c->L[ls[i]].box.x2 - r) <= 0.5f * em;
        }
        if ((float)full >= 0.5f * (float)(n - 2))
            for (int i = 1; i + 1 < n; i++) {
                int r = imin(c->L[ls[i - 1]].box.x2, c->L[ls[i + 1]].box.x2);
                if ((float)(r - c->L[ls[i]].box.x2) >= 3 * em) brk[i + 1] = true;
            }
    }
    brk[0] = true;
    for (int i = 0; i < n && rc == OCR_OK;) {
        int j = i + 1;
        while (j < n && !brk[j]) j++;
        lay_type t = item[i] ? LAY_LIST_ITEM : LAY_PARAGRAPH;
        int level = 0;
        if (fl[i]) t = LAY_FORMULA;
        if (t == LAY_PARAGRAPH) {
            level = heading_level(c, ls + i, j - i);
            if (level) t = LAY_HEADING;
        }
        if (t == LAY_PARAGRAPH && c->p->formulas) {
            pipe_box b = {0, 0, 0, 0};
            for (int k = i; k < j; k++) b = lay_box_union(b, c->L[ls[k]].box);
            if (is_formula(c, ls + i, j - i, b)) t = LAY_FORMULA;
        }
        rc = push_block(c, ls + i, j - i, t, out, e);
        if (rc == OCR_OK && level) out->v[out->n - 1].level = level;
        i = j;
    }
    free(fl);
done:
    free(brk);
    free(item);
    free(txt);
    free(pv);
    return rc;
}

/* Headers, footers and page numbers among the text blocks [b0, out->n). */
static void mark_margins(const ctx_t *c, lay_blocks *out, int b0)
{
    if (out->n == 0) return;
    pipe_box content = {0, 0, 0, 0};
    for (int i = 0; i < out->n; i++) content = lay_box_union(content, out->v[i].box);
    float zone = c->p->margin_zone * (float)c->st->height;
    float pitch = c->st->line_pitch > 0 ? c->st->line_pitch : 1.2f * c->em;
    for (int i = b0; i < out->n; i++) {
        lay_block *b = &out->v[i];
        if (b->type != LAY_PARAGRAPH && b->type != LAY_HEADING) continue;
        if (b->n_lines > 2) continue;
        /* display type set light on a dark band (a chapter banner's
         * subtitle) is no running head */
        bool inv = false;
        for (int k = 0; k < b->n_lines; k++) inv = inv || b->lines[k].inverted;
        if (inv) continue;
        bool top = (float)b->box.y2 <= (float)content.y1 + zone;
        bool bot = (float)b->box.y1 >= (float)content.y2 - zone;
        /* running heads sit in the page's own margins: a slide's title a
         * sixth of the way down is not one, however bare the space above */
        float H = (float)c->st->height;
        if (H > 0) {
            top = top && (float)b->box.y2 <= 0.12f * H;
            bot = bot && (float)b->box.y1 >= 0.88f * H;
        }
        if (!top && !bot) continue;
        /* nor is a block with running text beside it on its rows (the top
         * of one column of a page whose other columns start higher) */
        bool beside = false;
        for (int j = 0; j < out->n && !beside; j++) {
            const lay_block *o = &out->v[j];
            if (j == i || o->n_lines < 3 || (o->type != LAY_PARAGRAPH && o->type != LAY_LIST_ITEM)) continue;
            beside = lay_overlap(o->box.y1, o->box.y2, b->box.y1, b->box.y2) * 2 > lay_box_h(b->box);
        }
        if (beside) continue;
        /* isolation from the body: the nearest block on the body side */
        float gap = 1e9f;
        for (int j = 0; j < out->n; j++) {
            if (j == i) continue;
            const pipe_box *o = &out->v[j].box;
            if (lay_overlap(o->y1, o->y2, b->box.y1, b->box.y2) > 0) continue; /* same row */
            if ((float)lay_box_h(*o) < 0.5f * c->em && (float)lay_box_w(*o) < 2 * c->em) continue; /* a speck */
            float g = top ? (float)(o->y1 - b->box.y2) : (float)(b->box.y1 - o->y2);
            if (g < -0.5f * (float)lay_box_h(b->box)) continue;
            if (g < gap) gap = g;
        }
        /* page number: 1-4 digit-sized glyphs on the baseline */
        bool number = false;
        if (b->n_lines == 1) {
            const lay_line *l = &b->lines[0];
            int li = -1;
            for (int k = 0; k < c->n && li < 0; k++)
                if (c->L[k].box.x1 == l->box.x1 && c->L[k].box.y1 == l->box.y1 &&
                    c->L[k].box.x2 == l->box.x2 && c->L[k].box.y2 == l->box.y2)
                    li = k;
            if (li >= 0) {
                int lh = lay_box_h(l->box), nmain = 0, hmin = 1 << 30, hmax = 0;
                bool ok = true;
                for (int k = c->mstart[li]; k < c->mstart[li + 1]; k++) {
                    const lay_cc *d = &c->cc[c->midx[k]];
                    int h = d->y2 - d->y1, w = d->x2 - d->x1;
                    if (h * 2 < lh) continue;
                    nmain++;
                    hmin = imin(hmin, h);
                    hmax = imax(hmax, h);
                    if (w > h || abs(d->y2 - l->baseline) > imax(2, lh / 8)) ok = false;
                }
                number = ok && nmain >= 1 && nmain <= 4 && (float)hmax <= 1.25f * (float)hmin &&
                         (float)lay_box_w(l->box) <= 4 * c->em && (float)hmin >= 0.5f * c->em;
            }
        }
        if (number && gap >= 0.5f * pitch) {
            b->type = LAY_PAGE_NUMBER;
            b->level = 0;
            continue;
        }
        /* a title at the top of the page is not a running header */
        if (b->type == LAY_HEADING && b->level <= 2) continue;
        if (gap >= 0.75f * pitch) {
            b->type = top ? LAY_HEADER : LAY_FOOTER;
            b->level = 0;
        }
    }
}

ocr_status lay_blocks_from_lines(const lay_line *lines, int n_lines, const lay_page *stats,
                                 const lay_cc *cc, int n_cc, PIX *bin, const lay_params *p,
                                 lay_blocks *out, ocr_err *e)
{
    lay_params def = lay_default_params();
    if (!p) p = &def;
    ctx_t c = {lines, n_lines, cc, NULL, NULL, stats, p, 0, bin};
    c.em = stats->size > 0 ? stats->size : 2 * stats->char_h;
    if (c.em < 4) c.em = 4;
    ocr_status rc = OCR_OK;
    int *ord = NULL, *pred = NULL, *succ = NULL, *chain = NULL;
    c.mstart = calloc((size_t)n_lines + 1, sizeof *c.mstart);
    c.midx = malloc((size_t)(n_cc > 0 ? n_cc : 1) * sizeof *c.midx);
    ord = malloc((size_t)(n_lines > 0 ? n_lines : 1) * sizeof *ord);
    pred = malloc((size_t)(n_lines > 0 ? n_lines : 1) * sizeof *pred);
    succ = malloc((size_t)(n_lines > 0 ? n_lines : 1) * sizeof *succ);
    chain = malloc((size_t)(n_lines > 0 ? n_lines : 1) * sizeof *chain);
    if (!c.mstart || !c.midx || !ord || !pred || !succ || !chain) goto oom;
    for (int i = 0; i < n_cc; i++) {
        int l = cc[i].line;
        if (l >= 0 && l < n_lines && !(cc[i].flags & LAY_CC_NONTEXT)) c.mstart[l + 1]++;
    }
    for (int l = 0; l < n_lines; l++) c.mstart[l + 1] += c.mstart[l];
    {
        int *fill = calloc((size_t)n_lines + 1, sizeof *fill);
        if (!fill) goto oom;
        for (int i = 0; i < n_cc; i++) {
            int l = cc[i].line;
            if (l >= 0 && l < n_lines && !(cc[i].flags & LAY_CC_NONTEXT)) c.midx[c.mstart[l] + fill[l]++] = i;
        }
        free(fill);
    }
    g_cc = cc;
    for (int l = 0; l < n_lines; l++)
        qsort(c.midx + c.mstart[l], (size_t)(c.mstart[l + 1] - c.mstart[l]), sizeof *c.midx, cmp_cc_x);

    int m = 0;
    for (int i = 0; i < n_lines; i++) {
        pred[i] = succ[i] = -1;
        if (lines[i].n_cc > 0) ord[m++] = i;
    }
    g_L = lines;
    qsort(ord, (size_t)m, sizeof *ord, cmp_line_y1);
    /* 1. links to the nearest compatible line above */
    for (int oi = 0; oi < m; oi++) {
        const lay_line *l = &lines[ord[oi]];
        int best = -1;
        float bgap = 0;
        int bov = 0;
        for (int oj = oi - 1; oj >= 0; oj--) {
            const lay_line *q = &lines[ord[oj]];
            if ((float)(l->box.y1 - q->box.y1) > 8 * c.em) break;
            if (q->baseline >= l->baseline) continue;
            int wmin = imin(lay_box_w(l->box), lay_box_w(q->box));
            int ov = lay_overlap(l->box.x1, l->box.x2, q->box.x1, q->box.x2);
            if (ov * 2 < wmin) continue;
            float em = fminf(l->size, q->size);
            float gap = (float)(l->box.y1 - q->box.y2);
            if (gap > 1.2f * em || gap < -0.4f * em) continue;
            /* size estimates of short lines are rough: either measure */
            if (ratio(l->size, q->size) > 1.25f && ratio(l->x_height, q->x_height) > 1.25f) continue;
            if (l->stroke > 0 && q->stroke > 0 && ratio(l->stroke, q->stroke) > 1.4f) continue;
            if (best < 0 || gap < bgap || (gap == bgap && ov > bov)) {
                best = ord[oj];
                bgap = gap;
                bov = ov;
            }
        }
        pred[ord[oi]] = best;
    }
    /* one-to-one: the nearest claim on a line above wins */
    for (int oi = 0; oi < m; oi++) {
        int l = ord[oi], q = pred[l];
        if (q < 0) continue;
        if (succ[q] < 0)
            succ[q] = l;
        else {
            int o = succ[q];
            float go = (float)(lines[o].box.y1 - lines[q].box.y2), gl = (float)(lines[l].box.y1 - lines[q].box.y2);
            if (gl < go) {
                pred[o] = -1;
                succ[q] = l;
            } else {
                pred[l] = -1;
            }
        }
    }
    /* 2.-5. stacks to blocks */
    int b0 = out->n;
    for (int oi = 0; oi < m && rc == OCR_OK; oi++) {
        int l = ord[oi];
        if (pred[l] >= 0) continue;
        int n = 0;
        for (int k = l; k >= 0 && n < m; k = succ[k]) chain[n++] = k;
        rc = emit_stack(&c, chain, n, out, e);
    }
    if (rc == OCR_OK) mark_margins(&c, out, b0);
    goto done;
oom:
    rc = ocr_err_set(e, OCR_E_NOMEM, "layout: out of memory (blocks)");
done:
    free(c.mstart);
    free(c.midx);
    free(ord);
    free(pred);
    free(succ);
    free(chain);
    return rc;
}

/* tests/test_lay.c — page cleanup and layout analysis on synthetic pages
 * typeset here with pango/cairo, where every line's ink box, every
 * block's type and the reading order are known:
 *   - one column: a heading, paragraphs, a bullet list, a page number;
 *   - two columns under a full-width title (reading order);
 *   - a ruled 3x4 table (rows x columns exact);
 *   - tables with horizontal rules only: booktabs 3x4, rules between the
 *     rows of a 4x3 (rows x columns and every cell's text exact);
 *   - numbered headings at two sizes ("1. ...", "1.1 ...") and a
 *     numbered list in the body font;
 *   - a filled rectangle as a figure;
 *   - white titles on a dark band and on a dark blue bar (inverted, read
 *     as heading lines in place, no figure), and a noisy shaded picture
 *     with light specks (a figure, nothing inverted);
 *   - the one-column page turned 90/180/270 (orientation exact) and
 *     skewed by 2 and -3 degrees with noise (skew within 0.3 degrees).
 * Lines: the count within a small tolerance, and every true line matched
 * by a found line with IoU >= 0.5.
 *
 * VLOCR_LAY_DUMP=DIR writes each page and its layout overlay there. */
#include <cairo.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"
#include "tests/tst.h"

#define CHECK TST_CHECK
#define PAGE_W 1000
#define PAGE_H 1300
#define MAX_TRUTH 256

/* ------------------------------------------------------ synthetic pages */

typedef struct {
    cairo_surface_t *s;
    cairo_t *cr;
    pipe_box line[MAX_TRUTH]; /* true line ink boxes */
    int line_blk[MAX_TRUTH];  /* their block, numbered in reading order */
    int n_lines;
    lay_type blk_type[64];
    int n_blocks;
    pipe_box figure, table;
    int table_rows, table_cols;
} page_t;

static const char *P1 =
    "The quick survey of printed pages shows that most of them are built from a few simple "
    "parts: headings that announce a topic, paragraphs of running text, lists of short "
    "items, tables of figures, and pictures with their captions. A reader finds these parts "
    "without effort, because the typesetter placed them with care, aligned them on a grid and "
    "kept a steady rhythm of lines.";
static const char *P2 =
    "Layout analysis tries to recover that plan from the pixels alone. It looks for the white "
    "space between columns, for the baseline of every line of text, and for the larger or "
    "bolder type that marks a heading. None of this needs a model of the language; it needs "
    "only patient geometry and a few robust rules.";
static const char *P3 =
    "When the page has been cut into lines, each line is handed to the recogniser, which reads "
    "it from left to right and returns the text together with its confidence.";
static const char *ITEMS[3] = {
    "Find the orientation of the page and turn it upright before anything else.",
    "Measure the skew of the text lines and rotate the page by the opposite angle so that "
    "every baseline becomes horizontal again.",
    "Group the lines into blocks and put the blocks in reading order.",
};
static const char *C1 =
    "Reading order matters as soon as a page has more than one column. The text of the left "
    "column must be read from top to bottom before the first line of the right column, even "
    "though the two columns sit side by side and their lines are level with each other.";
static const char *C2 =
    "A title that spans both columns is read first, and a figure that cuts across the page "
    "divides the columns above it from the columns below it.";
static const char *C3 =
    "The gutter between the columns is a narrow band of white that runs down the whole page. "
    "Finding it is the key step: once it is known, lines on either side of it are never "
    "joined, however close they happen to be.";
static const char *C4 =
    "Word spaces in justified text can be wide, but they do not line up from one line to the "
    "next the way a gutter does, so the two are easy to tell apart.";

static void page_init(page_t *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PAGE_W, PAGE_H);
    pg->cr = cairo_create(pg->s);
    cairo_set_source_rgb(pg->cr, 1, 1, 1);
    cairo_paint(pg->cr);
    cairo_set_source_rgb(pg->cr, 0, 0, 0);
}

static void page_done(page_t *pg)
{
    cairo_destroy(pg->cr);
    cairo_surface_destroy(pg->s);
}

static int new_block(page_t *pg, lay_type t)
{
    pg->blk_type[pg->n_blocks] = t;
    return pg->n_blocks++;
}

/* Typeset `text` at (x, y) in a box `width` wide; every line becomes a
 * true line of block `blk` (-1: a new block of type t). Returns the
 * height used. */
static int text(page_t *pg, int x, int y, int width, const char *font, double px, bool bold,
                bool justify, bool centre, int indent, const char *s, lay_type t, int blk)
{
    PangoLayout *lay = pango_cairo_create_layout(pg->cr);
    PangoFontDescription *fd = pango_font_description_from_string(font);
    pango_font_description_set_absolute_size(fd, px * PANGO_SCALE);
    if (bold) pango_font_description_set_weight(fd, PANGO_WEIGHT_BOLD);
    pango_layout_set_font_description(lay, fd);
    pango_font_description_free(fd);
    pango_layout_set_width(lay, width * PANGO_SCALE);
    pango_layout_set_wrap(lay, PANGO_WRAP_WORD);
    pango_layout_set_justify(lay, justify);
    pango_layout_set_alignment(lay, centre ? PANGO_ALIGN_CENTER : PANGO_ALIGN_LEFT);
    pango_layout_set_indent(lay, indent * PANGO_SCALE);
    pango_layout_set_text(lay, s, -1);
    cairo_move_to(pg->cr, x, y);
    pango_cairo_show_layout(pg->cr, lay);
    if (blk < 0) blk = new_block(pg, t);
    PangoLayoutIter *it = pango_layout_get_iter(lay);
    do {
        PangoRectangle ink, log;
        pango_layout_iter_get_line_extents(it, &ink, &log);
        if (ink.width <= 0 || pg->n_lines >= MAX_TRUTH) continue;
        pipe_box b = {x + (int)floor((double)ink.x / PANGO_SCALE), y + (int)floor((double)ink.y / PANGO_SCALE),
                      x + (int)ceil((double)(ink.x + ink.width) / PANGO_SCALE),
                      y + (int)ceil((double)(ink.y + ink.height) / PANGO_SCALE)};
        pg->line[pg->n_lines] = b;
        pg->line_blk[pg->n_lines++] = blk;
    } while (pango_layout_iter_next_line(it));
    pango_layout_iter_free(it);
    int w, h;
    pango_layout_get_pixel_size(lay, &w, &h);
    g_object_unref(lay);
    return h;
}

#define SERIF "DejaVu Serif"
#define BODY 17.0

/* A bullet item: the bullet and the text's first line are one true line. */
static int bullet_item(page_t *pg, int x, int y, int width, const char *s)
{
    int first = pg->n_lines;
    int blk = new_block(pg, LAY_LIST_ITEM);
    text(pg, x, y, 30, SERIF, BODY, false, false, false, 0, "\xe2\x80\xa2", LAY_LIST_ITEM, blk);
    pipe_box bullet = pg->line[first];
    pg->n_lines = first;
    int h = text(pg, x + 30, y, width - 30, SERIF, BODY, false, false, false, 0, s, LAY_LIST_ITEM, blk);
    pg->line[first] = lay_box_union(pg->line[first], bullet);
    return h;
}

static void one_column(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 70;
    y += text(pg, x, y, w, SERIF, 30, true, false, false, 0, "Reading Pages Without a Model",
              LAY_HEADING, -1) + 28;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1) + 14;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 30, P2, LAY_PARAGRAPH, -1) + 16;
    for (int i = 0; i < 3; i++) y += bullet_item(pg, x + 20, y, w - 20, ITEMS[i]) + 8;
    y += 10;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 30, P3, LAY_PARAGRAPH, -1);
    text(pg, 0, 1215, PAGE_W, SERIF, 15, false, false, true, 0, "7", LAY_PAGE_NUMBER, -1);
}

static void two_columns(page_t *pg)
{
    page_init(pg);
    int x = 70, gut = 44, cw = (PAGE_W - 2 * x - gut) / 2, y0 = 80;
    int y = y0 + text(pg, x, y0, PAGE_W - 2 * x, SERIF, 30, true, false, true, 0,
                      "Columns, Gutters and Order", LAY_HEADING, -1) + 34;
    int yl = y;
    yl += text(pg, x, yl, cw, SERIF, BODY, false, true, false, 0, C1, LAY_PARAGRAPH, -1) + 18;
    yl += text(pg, x, yl, cw, SERIF, BODY, false, true, false, 0, C2, LAY_PARAGRAPH, -1) + 18;
    int yr = y, xr = x + cw + gut;
    yr += text(pg, xr, yr, cw, SERIF, BODY, false, true, false, 0, C3, LAY_PARAGRAPH, -1) + 18;
    text(pg, xr, yr, cw, SERIF, BODY, false, true, false, 0, C4, LAY_PARAGRAPH, -1);
}

/* Two columns under a title and a full-width abstract. */
static void abstract_columns(page_t *pg)
{
    page_init(pg);
    int x = 70, gut = 44, cw = (PAGE_W - 2 * x - gut) / 2, y = 70;
    y += text(pg, x, y, PAGE_W - 2 * x, SERIF, 30, true, false, true, 0, "Columns Below an Abstract",
              LAY_HEADING, -1) + 30;
    y += text(pg, x, y, PAGE_W - 2 * x, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1) + 34;
    int yl = y;
    yl += text(pg, x, yl, cw, SERIF, BODY, false, true, false, 0, C1, LAY_PARAGRAPH, -1) + 18;
    text(pg, x, yl, cw, SERIF, BODY, false, true, false, 0, C2, LAY_PARAGRAPH, -1);
    int yr = y, xr = x + cw + gut;
    yr += text(pg, xr, yr, cw, SERIF, BODY, false, true, false, 0, C3, LAY_PARAGRAPH, -1) + 18;
    text(pg, xr, yr, cw, SERIF, BODY, false, true, false, 0, C4, LAY_PARAGRAPH, -1);
}

/* A piece of a formula at (x, y); returns its ink box. */
static pipe_box piece(page_t *pg, int x, int y, double px, const char *s, int blk)
{
    int n0 = pg->n_lines;
    text(pg, x, y, 600, SERIF, px, false, false, false, 0, s, LAY_FORMULA, blk);
    pipe_box b = pg->line[n0];
    pg->n_lines = n0;
    return b;
}

/* A paragraph, a display formula (a big sum with limits, a fraction), a
 * paragraph. The formula's ink box is pg->figure (not a figure). */
static void formula_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 90;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1) + 30;
    int fb = new_block(pg, LAY_FORMULA);
    int sx = 330, top = y;
    pipe_box f = piece(pg, sx + 6, top, 13, "n", fb);
    pipe_box sig = piece(pg, sx, top + 12, 44, "\xe2\x88\x91", fb);
    f = lay_box_union(f, sig);
    f = lay_box_union(f, piece(pg, sx - 4, sig.y2 + 2, 13, "k=1", fb));
    int axis = (sig.y1 + sig.y2) / 2;
    f = lay_box_union(f, piece(pg, sig.x2 + 8, axis - 16, 22, "k\xc2\xb2 =", fb));
    int fx = sig.x2 + 66;
    pipe_box num = piece(pg, fx, axis - 30, 20, "n(n+1)(2n+1)", fb);
    f = lay_box_union(f, num);
    cairo_rectangle(pg->cr, fx - 3, axis, num.x2 - fx + 6, 2);
    cairo_fill(pg->cr);
    f = lay_box_union(f, (pipe_box){fx - 3, axis, num.x2 + 3, axis + 2});
    f = lay_box_union(f, piece(pg, (fx + num.x2) / 2 - 6, axis + 5, 20, "6", fb));
    pg->line[pg->n_lines] = f;
    pg->line_blk[pg->n_lines++] = fb;
    pg->figure = f;
    y = f.y2 + 34;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1);
}

/* Ruled grid of rows x cols cells of cw x rh px at (x, y), lines lw px. */
static void grid(cairo_t *cr, int x, int y, int rows, int cols, int cw, int rh, int lw)
{
    cairo_set_line_width(cr, lw);
    for (int r = 0; r <= rows; r++) {
        cairo_move_to(cr, x, y + r * rh + 0.5);
        cairo_line_to(cr, x + cols * cw, y + r * rh + 0.5);
    }
    for (int c = 0; c <= cols; c++) {
        cairo_move_to(cr, x + c * cw + 0.5, y);
        cairo_line_to(cr, x + c * cw + 0.5, y + rows * rh);
    }
    cairo_stroke(cr);
}

static void table_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 90;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1) + 40;
    static const char *cells[3][4] = {
        {"Item", "Quantity", "Price", "Total"},
        {"Paper", "12", "3.50", "42.00"},
        {"Ink", "3", "18.25", "54.75"},
    };
    int tx = 150, cwid = 175, rh = 52, lw = 2;
    int tb = new_block(pg, LAY_TABLE);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            text(pg, tx + c * cwid + 16, y + r * rh + 14, cwid - 30, SERIF, BODY, false, false, false, 0,
                 cells[r][c], LAY_TABLE, tb);
    grid(pg->cr, tx, y, 3, 4, cwid, rh, lw);
    pg->table = (pipe_box){tx, y, tx + 4 * cwid, y + 3 * rh};
    pg->table_rows = 3;
    pg->table_cols = 4;
    y += 3 * rh + 40;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1);
}

static void figure_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 90;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1) + 40;
    new_block(pg, LAY_FIGURE);
    cairo_set_source_rgb(pg->cr, 0.3, 0.3, 0.3);
    cairo_rectangle(pg->cr, 250, y, 500, 320);
    cairo_fill(pg->cr);
    cairo_set_source_rgb(pg->cr, 0, 0, 0);
    pg->figure = (pipe_box){250, y, 750, y + 320};
    y += 320 + 40;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1);
}

/* A table without rules: 3 columns, 4 rows of short cells. */
static void unruled_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 90;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P3, LAY_PARAGRAPH, -1) + 40;
    static const char *cells[4][3] = {
        {"Fruit", "Count", "Price"},
        {"Apples", "12", "3.50"},
        {"Pears", "7", "2.10"},
        {"Plums", "30", "0.80"},
    };
    static const int cx[3] = {150, 430, 690};
    int tb = new_block(pg, LAY_TABLE);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            text(pg, cx[c], y + r * 34, 200, SERIF, BODY, r == 0, false, false, 0, cells[r][c], LAY_TABLE, tb);
    y += 4 * 34 + 40;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1);
}

/* A table with horizontal rules only. booktabs: a heavy rule above the
 * header, a light one under it and a heavy one at the bottom, nrow rows
 * (the header and the body rows between the last two rules); else a rule
 * between every two rows. No vertical rules. */
static void hrule_table(page_t *pg, int y, bool booktabs, int nrow, int ncol, const char *const *cells,
                        const int *cx, int x1, int x2, int rh)
{
    int tb = new_block(pg, LAY_TABLE);
    int top = y;
    y += 10;
    for (int r = 0; r < nrow; r++) {
        for (int c = 0; c < ncol; c++)
            text(pg, cx[c], y, 220, SERIF, BODY, false, false, false, 0, cells[r * ncol + c], LAY_TABLE, tb);
        y += rh;
        if (r + 1 < nrow && (!booktabs || r == 0)) {
            cairo_set_line_width(pg->cr, 1);
            cairo_move_to(pg->cr, x1, y + 0.5);
            cairo_line_to(pg->cr, x2, y + 0.5);
            cairo_stroke(pg->cr);
            y += 10;
        }
    }
    int bot = y;
    cairo_set_line_width(pg->cr, booktabs ? 2 : 1);
    cairo_move_to(pg->cr, x1, top + 1);
    cairo_line_to(pg->cr, x2, top + 1);
    cairo_move_to(pg->cr, x1, bot + 1);
    cairo_line_to(pg->cr, x2, bot + 1);
    cairo_stroke(pg->cr);
    pg->table = (pipe_box){x1, top, x2, bot + 2};
    pg->table_rows = nrow;
    pg->table_cols = ncol;
}

/* A booktabs 3x4 table under a paragraph and a caption; a table with
 * rules between its 4x3 rows under it. */
static void hrule_page(page_t *pg, bool booktabs)
{
    page_init(pg);
    int x = 90, w = 820, y = 90;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1) + 30;
    y += text(pg, x, y, w, SERIF, BODY, false, false, false, 0, "Table 1. Supplies bought this month.",
              LAY_PARAGRAPH, -1) + 14;
    static const char *bt[12] = {"Item", "Quantity", "Price", "Total", "Paper", "12", "3.50", "42.00",
                                 "Ink", "3", "18.25", "54.75"};
    static const int bx[4] = {110, 330, 540, 740};
    static const char *rr[12] = {"Engine", "Pages/s", "Errors", "vlocr", "4.2", "1.1 %",
                                 "reference", "0.9", "0.8 %", "baseline", "2.5", "3.0 %"};
    static const int rx[3] = {110, 420, 700};
    if (booktabs)
        hrule_table(pg, y, true, 3, 4, bt, bx, 100, 900, 30);
    else
        hrule_table(pg, y, false, 4, 3, rr, rx, 100, 900, 30);
    y = pg->table.y2 + 36;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1);
}

/* Numbered headings in larger bold type at two sizes, a numbered list in
 * the body font. */
static void numbered_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 70;
    y += text(pg, x, y, w, SERIF, 30, true, false, false, 0, "1. Reading documents with vlocr", LAY_HEADING, -1) +
         24;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1) + 22;
    y += text(pg, x, y, w, SERIF, 24, true, false, false, 0, "1.1 Cleaning the page", LAY_HEADING, -1) + 18;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1) + 16;
    for (int i = 0; i < 3; i++) {
        char item[256];
        snprintf(item, sizeof item, "%d. %s", i + 1, ITEMS[i]);
        y += text(pg, x + 20, y, w - 20, SERIF, BODY, false, false, false, 0, item, LAY_LIST_ITEM, -1) + 8;
    }
    y += 18;
    y += text(pg, x, y, w, SERIF, 24, true, false, false, 0, "2. Results", LAY_HEADING, -1) + 18;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P3, LAY_PARAGRAPH, -1);
    text(pg, 0, 1215, PAGE_W, SERIF, 15, false, false, true, 0, "7", LAY_PAGE_NUMBER, -1);
}

/* ------------------------------------------ column and list details */

#define SANS "DejaVu Sans"

/* Width in pixels of s set in one line. */
static int text_w(page_t *pg, const char *font, double px, bool bold, const char *s)
{
    PangoLayout *lay = pango_cairo_create_layout(pg->cr);
    PangoFontDescription *fd = pango_font_description_from_string(font);
    pango_font_description_set_absolute_size(fd, px * PANGO_SCALE);
    if (bold) pango_font_description_set_weight(fd, PANGO_WEIGHT_BOLD);
    pango_layout_set_font_description(lay, fd);
    pango_font_description_free(fd);
    pango_layout_set_text(lay, s, -1);
    int w, h;
    pango_layout_get_pixel_size(lay, &w, &h);
    g_object_unref(lay);
    return w;
}

/* A slide: a bold body-size title a sixth of the way down, then items
 * whose bullets are en dashes set a bullet's gap before the text. */
static void slide_page(page_t *pg)
{
    page_init(pg);
    static const char *items[3] = {"Competence of every member.", "Common focus on the goal.",
                                   "Collaboration across the team."};
    int x = 90, y = 220;
    y += text(pg, x, y, 800, SANS, 26, true, false, false, 0, "Human Factors", LAY_HEADING, -1) + 40;
    y += text(pg, x, y, 800, SANS, 26, false, false, false, 0,
              "The process molds to the needs of the people and the team, not the other way around.",
              LAY_PARAGRAPH, -1) + 24;
    for (int i = 0; i < 3; i++) {
        int first = pg->n_lines, blk = new_block(pg, LAY_LIST_ITEM);
        text(pg, x + 30, y, 40, SANS, 26, false, false, false, 0, "\xe2\x80\x93", LAY_LIST_ITEM, blk);
        pipe_box dash = pg->line[first];
        pg->n_lines = first;
        y += text(pg, x + 70, y, 700, SANS, 26, false, false, false, 0, items[i], LAY_LIST_ITEM, blk) + 20;
        pg->line[first] = lay_box_union(pg->line[first], dash);
    }
}

/* Two columns with a narrow gutter; a left paragraph ends in a short
 * line whose end comes close to the gutter, level with a right-column
 * line; below, short pairs of answer choices in the left column beside
 * running text in the right. pg->table: the gutter (x1, x2). */
static void gutter_page(page_t *pg)
{
    page_init(pg);
    int x = 70, gut = 30, cw = 415, y0 = 80, xr = x + cw + gut;
    int yl = y0 + text(pg, x, y0, cw, SERIF, BODY, false, true, false, 0, C1, LAY_PARAGRAPH, -1);
    const char *tail = "on the same row.";
    int tw = text_w(pg, SERIF, BODY, false, tail);
    text(pg, x + cw - 22 - tw, yl, cw, SERIF, BODY, false, false, false, 0, tail, LAY_PARAGRAPH,
         pg->line_blk[pg->n_lines - 1]);
    yl += 60;
    int yr = y0 + text(pg, xr, y0, cw, SERIF, BODY, false, true, false, 0, C3, LAY_PARAGRAPH, -1) + 18;
    yr += text(pg, xr, yr, cw, SERIF, BODY, false, true, false, 0, C4, LAY_PARAGRAPH, -1) + 18;
    text(pg, xr, yr, cw, SERIF, BODY, false, true, false, 0, C2, LAY_PARAGRAPH, -1);
    static const char *ch[3][2] = {{"A 12", "C 15"}, {"B 13", "D 17"}, {"E 21", "F 23"}};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++)
            text(pg, x + 40 + 160 * c, yl + 40 * r, 120, SERIF, BODY, false, false, false, 0, ch[r][c],
                 LAY_PARAGRAPH, -1);
    pg->table = (pipe_box){x + cw, 0, xr, PAGE_H};
}

/* A ruled 5x4 grid with nothing in its cells (squares to shade) under a
 * paragraph. pg->figure: the grid. */
static void grid_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 90;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P3, LAY_PARAGRAPH, -1) + 40;
    new_block(pg, LAY_FIGURE);
    int gx = 300, cs = 60;
    grid(pg->cr, gx, y, 4, 5, cs, cs, 3);
    pg->figure = (pipe_box){gx, y, gx + 5 * cs, y + 4 * cs};
}

/* A dark band across the top holding a white title (a chapter banner),
 * then paragraphs; a dark blue bar (dark in gray) with a white section
 * heading between them. pg->figure: the band; pg->table: the bar. The
 * white lines are true lines like the black ones. */
static void banner_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 60;
    cairo_set_source_rgb(pg->cr, 0.15, 0.15, 0.18);
    cairo_rectangle(pg->cr, 40, y, 920, 130);
    cairo_fill(pg->cr);
    pg->figure = (pipe_box){40, y, 960, y + 130};
    cairo_set_source_rgb(pg->cr, 1, 1, 1);
    text(pg, x, y + 35, w, SANS, 40, true, false, false, 0, "Warming Up Exercises", LAY_HEADING, -1);
    cairo_set_source_rgb(pg->cr, 0, 0, 0);
    y += 130 + 50;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P1, LAY_PARAGRAPH, -1) + 40;
    cairo_set_source_rgb(pg->cr, 0.05, 0.2, 0.45);
    cairo_rectangle(pg->cr, x - 10, y, 520, 50);
    cairo_fill(pg->cr);
    pg->table = (pipe_box){x - 10, y, x + 510, y + 50};
    cairo_set_source_rgb(pg->cr, 1, 1, 1);
    text(pg, x + 10, y + 10, 480, SANS, 24, true, false, false, 0, "Reading the Results", LAY_HEADING, -1);
    cairo_set_source_rgb(pg->cr, 0, 0, 0);
    y += 50 + 30;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1);
}

/* A photograph-like picture: smooth gradients under strong pixel noise,
 * with a few light specks and blobs of assorted sizes, between two
 * paragraphs. pg->figure: the picture. */
static void photo_page(page_t *pg)
{
    page_init(pg);
    int x = 90, w = 820, y = 90;
    y += text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P2, LAY_PARAGRAPH, -1) + 40;
    new_block(pg, LAY_FIGURE);
    int fx = 200, fw = 600, fh = 360;
    pg->figure = (pipe_box){fx, y, fx + fw, y + fh};
    cairo_surface_flush(pg->s);
    unsigned char *d = cairo_image_surface_get_data(pg->s);
    int stride = cairo_image_surface_get_stride(pg->s);
    uint64_t r = 0x9e3779b97f4a7c15ull;
    for (int j = 0; j < fh; j++)
        for (int i = 0; i < fw; i++) {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            double v = 40 + 50 * sin(i / 37.0) * cos(j / 23.0) + 30.0 * j / fh + (double)(r % 61) - 30;
            unsigned g = v < 0 ? 0 : v > 255 ? 255 : (unsigned)v;
            uint32_t *px = (uint32_t *)(void *)(d + (size_t)(y + j) * (size_t)stride) + fx + i;
            *px = (g << 16) | (g << 8) | g;
        }
    cairo_surface_mark_dirty(pg->s);
    cairo_set_source_rgb(pg->cr, 0.95, 0.95, 0.95);
    static const int sp[8][3] = {{60, 50, 4},   {150, 90, 9},  {260, 70, 14}, {330, 200, 6},
                                 {420, 120, 22}, {500, 260, 11}, {120, 280, 17}, {540, 60, 5}};
    for (int k = 0; k < 8; k++) {
        cairo_arc(pg->cr, fx + sp[k][0], y + sp[k][1], sp[k][2], 0, 2 * M_PI);
        cairo_fill(pg->cr);
    }
    cairo_set_source_rgb(pg->cr, 0, 0, 0);
    y += fh + 40;
    text(pg, x, y, w, SERIF, BODY, false, true, false, 0, P3, LAY_PARAGRAPH, -1);
}

/* The page as an 8 bpp PIX (the green channel). */
static PIX *page_pix(page_t *pg)
{
    cairo_surface_flush(pg->s);
    const unsigned char *d = cairo_image_surface_get_data(pg->s);
    int stride = cairo_image_surface_get_stride(pg->s);
    PIX *p = pixCreate(PAGE_W, PAGE_H, 8);
    for (int y = 0; y < PAGE_H; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(d + (size_t)y * (size_t)stride);
        for (int x = 0; x < PAGE_W; x++) pixSetPixel(p, x, y, (row[x] >> 8) & 0xff);
    }
    return p;
}

/* Gaussian noise of sigma grey levels (xorshift + Box-Muller). */
static void add_noise(PIX *p, double sigma, uint64_t seed)
{
    int w = pixGetWidth(p), h = pixGetHeight(p);
    uint64_t s = seed;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            double u1 = (double)((s * 2685821657736338717ull) >> 11) / 9007199254740992.0 + 1e-12;
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            double u2 = (double)((s * 2685821657736338717ull) >> 11) / 9007199254740992.0;
            double n = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2) * sigma;
            l_uint32 v;
            pixGetPixel(p, x, y, &v);
            double nv = (double)v + n;
            pixSetPixel(p, x, y, (l_uint32)(nv < 0 ? 0 : nv > 255 ? 255 : nv));
        }
}

/* -------------------------------------------------------------- helpers */

static void dump(const char *name, PIX *pix, const lay_page *lp)
{
    const char *dir = getenv("VLOCR_LAY_DUMP");
    if (!dir || !*dir) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    ocr_err e = {0};
    if (lay_overlay_write(pix, lp, path, &e) != OCR_OK) fprintf(stderr, "dump %s: %s\n", path, e.msg);
    snprintf(path, sizeof path, "%s/%s-page.png", dir, name);
    pixWrite(path, pix, IFF_PNG);
}

/* Lines of the layout in reading order, with their block. */
typedef struct {
    pipe_box box;
    int blk;
} found_line;

static int collect(const lay_page *lp, found_line *v, int cap)
{
    int n = 0;
    for (int i = 0; i < lp->n_blocks; i++)
        for (int k = 0; k < lp->blocks[i].n_lines && n < cap; k++) v[n++] = (found_line){lp->blocks[i].lines[k].box, i};
    return n;
}

/* Every true line matched by IoU >= 0.5; *match[t] = found line index. */
static int match_lines(const page_t *pg, const found_line *f, int nf, int *match)
{
    int ok = 0;
    for (int t = 0; t < pg->n_lines; t++) {
        double best = 0;
        match[t] = -1;
        for (int k = 0; k < nf; k++) {
            double iou = lay_box_iou(pg->line[t], f[k].box);
            if (iou > best) {
                best = iou;
                match[t] = k;
            }
        }
        if (best >= 0.5)
            ok++;
        else {
            match[t] = -1;
            printf("   true line %d [%d,%d,%d,%d] best IoU %.2f\n", t, pg->line[t].x1, pg->line[t].y1,
                   pg->line[t].x2, pg->line[t].y2, best);
        }
    }
    return ok;
}

static void check_lines(const char *what, const page_t *pg, const lay_page *lp, int *match_out)
{
    found_line f[512];
    int nf = collect(lp, f, 512);
    int match[MAX_TRUTH];
    int ok = match_lines(pg, f, nf, match);
    int tol = pg->n_lines / 20 + 1;
    CHECK(abs(nf - pg->n_lines) <= tol, "%s: %d lines found, %d true (tolerance %d)", what, nf, pg->n_lines,
          tol);
    CHECK(ok == pg->n_lines, "%s: %d of %d true lines matched with IoU >= 0.5", what, ok, pg->n_lines);
    if (match_out) memcpy(match_out, match, sizeof match);
}

static bool has_type(const lay_page *lp, lay_type t)
{
    for (int i = 0; i < lp->n_blocks; i++)
        if (lp->blocks[i].type == t) return true;
    return false;
}

static void print_layout(const lay_page *lp)
{
    for (int i = 0; i < lp->n_blocks; i++) {
        const lay_block *b = &lp->blocks[i];
        printf("   %2d %-11s col %2d [%4d,%4d,%4d,%4d] lines %d\n", i + 1, lay_type_name(b->type), b->column,
               b->box.x1, b->box.y1, b->box.x2, b->box.y2, b->n_lines);
    }
}

static bool run(PIX *pix, lay_clean_result *cr, lay_page *lp)
{
    ocr_err e = {0};
    ocr_status rc = lay_page_run(pix, NULL, cr, lp, &e);
    CHECK(rc == OCR_OK, "lay_page_run: %s", e.msg);
    return rc == OCR_OK;
}

static bool run_p(PIX *pix, const lay_params *p, lay_clean_result *cr, lay_page *lp)
{
    ocr_err e = {0};
    ocr_status rc = lay_page_run(pix, p, cr, lp, &e);
    CHECK(rc == OCR_OK, "lay_page_run: %s", e.msg);
    return rc == OCR_OK;
}

/* ---------------------------------------------------------------- tests */

static void test_one_column(void)
{
    page_t pg;
    one_column(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("one_column", cr.gray, &lp);
        print_layout(&lp);
        CHECK(cr.rotation == 0, "upright page: rotation %d", cr.rotation);
        CHECK(fabsf(cr.skew_deg) < 0.3f, "straight page: skew %.2f", cr.skew_deg);
        check_lines("one column", &pg, &lp, NULL);
        CHECK(has_type(&lp, LAY_HEADING), "heading found");
        CHECK(has_type(&lp, LAY_PAGE_NUMBER), "page number found");
        int items = 0;
        for (int i = 0; i < lp.n_blocks; i++) items += lp.blocks[i].type == LAY_LIST_ITEM;
        CHECK(items == 3, "3 list items, found %d", items);
        CHECK(lp.n_blocks > 0 && lp.blocks[0].type == LAY_HEADING, "the heading is read first");
        CHECK(lp.n_blocks > 0 && lp.blocks[lp.n_blocks - 1].type == LAY_PAGE_NUMBER,
              "the page number is read last");
        CHECK(lp.n_columns == 1, "one column, found %d", lp.n_columns);
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

static void columns_test(void (*build)(page_t *), const char *name)
{
    page_t pg;
    build(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump(name, cr.gray, &lp);
        print_layout(&lp);
        int match[MAX_TRUTH];
        check_lines(name, &pg, &lp, match);
        /* reading order: the true blocks of the found lines, in the order
         * the layout reads them, never go back */
        found_line f[512];
        int nf = collect(&lp, f, 512);
        int *tblk = malloc((size_t)(nf > 0 ? nf : 1) * sizeof *tblk);
        for (int k = 0; k < nf; k++) tblk[k] = -1;
        for (int t = 0; t < pg.n_lines; t++)
            if (match[t] >= 0) tblk[match[t]] = pg.line_blk[t];
        int prev = -1, back = 0;
        for (int k = 0; k < nf; k++) {
            if (tblk[k] < 0) continue;
            if (tblk[k] < prev) back++;
            if (tblk[k] > prev) prev = tblk[k];
        }
        free(tblk);
        CHECK(back == 0, "%s: reading order across columns: %d lines read out of order", name, back);
        CHECK(lp.n_columns == 2, "%s: two columns, found %d", name, lp.n_columns);
        CHECK(lp.n_blocks > 0 && lp.blocks[0].type == LAY_HEADING && lp.blocks[0].column == -1,
              "the spanning title comes first");
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

static void test_two_columns(void) { columns_test(two_columns, "two_columns"); }

/* A full-width abstract above the columns: still two columns, read
 * title, abstract, left column, right column. */
static void test_abstract_columns(void) { columns_test(abstract_columns, "abstract_columns"); }

/* A display formula with a big sum with limits and a fraction is one
 * formula block holding all its ink, with no paragraph scraps. */
static void test_display_formula(void)
{
    page_t pg;
    formula_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("formula", cr.gray, &lp);
        print_layout(&lp);
        int nfm = 0, scraps = 0, fi = -1;
        pipe_box f = pg.figure;
        for (int i = 0; i < lp.n_blocks; i++) {
            const lay_block *b = &lp.blocks[i];
            if (b->type == LAY_FORMULA) {
                nfm++;
                fi = i;
            } else if (lay_overlap(b->box.y1, b->box.y2, f.y1, f.y2) > 0 &&
                       lay_overlap(b->box.x1, b->box.x2, f.x1, f.x2) > 0)
                scraps++;
        }
        CHECK(nfm == 1, "one formula block, found %d", nfm);
        CHECK(scraps == 0, "no other block over the formula, found %d", scraps);
        if (fi >= 0) {
            const lay_block *b = &lp.blocks[fi];
            CHECK(b->n_lines == 1, "the formula is one line, found %d", b->n_lines);
            /* (a long fraction bar is taken out with the rules: its
             * overhang may be outside the glyphs' box, not the crop) */
            CHECK(b->box.x1 <= f.x1 + 5 && b->box.y1 <= f.y1 + 2 && b->box.x2 >= f.x2 - 5 && b->box.y2 >= f.y2 - 2,
                  "formula box [%d,%d,%d,%d] holds its ink [%d,%d,%d,%d]", b->box.x1, b->box.y1, b->box.x2,
                  b->box.y2, f.x1, f.y1, f.x2, f.y2);
            if (b->n_lines == 1) {
                pipe_box c = b->lines[0].crop;
                CHECK(c.x1 <= f.x1 && c.y1 <= f.y1 && c.x2 >= f.x2 && c.y2 >= f.y2, "the crop holds the formula");
            }
        }
        CHECK(lp.n_columns == 1, "formula page: one column, found %d", lp.n_columns);
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

/* The last block of that type on the page (NULL: none). */
static const lay_block *last_block(const lay_page *lp, lay_type type)
{
    const lay_block *b = NULL;
    for (int i = 0; i < lp->n_blocks; i++)
        if (lp->blocks[i].type == type) b = &lp->blocks[i];
    return b;
}

static void test_table(void)
{
    page_t pg;
    table_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("table", cr.gray, &lp);
        print_layout(&lp);
        check_lines("table page", &pg, &lp, NULL);
        const lay_block *t = last_block(&lp, LAY_TABLE);
        CHECK(t != NULL, "table found");
        if (t) {
            CHECK(t->ruled, "found from its rules");
            CHECK(t->n_rows == 3 && t->n_cols == 4, "3x4 grid, found %dx%d", t->n_rows, t->n_cols);
            CHECK(t->n_cells == 12, "12 cells, found %d", t->n_cells);
            CHECK(lay_box_iou(t->box, pg.table) >= 0.9, "table box IoU %.2f", lay_box_iou(t->box, pg.table));
            int in_cells = 0;
            for (int k = 0; k < t->n_lines; k++) in_cells += t->lines[k].cell >= 0;
            CHECK(t->n_lines == 12 && in_cells == 12, "one line per cell: %d lines, %d in cells", t->n_lines,
                  in_cells);
            bool spans = true;
            for (int k = 0; k < t->n_cells; k++)
                spans = spans && t->cells[k].row_span == 1 && t->cells[k].col_span == 1;
            CHECK(spans, "no spans");
        }
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

static void test_figure(void)
{
    page_t pg;
    figure_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("figure", cr.gray, &lp);
        print_layout(&lp);
        check_lines("figure page", &pg, &lp, NULL);
        const lay_block *f = last_block(&lp, LAY_FIGURE);
        CHECK(f != NULL, "figure found");
        if (f) CHECK(lay_box_iou(f->box, pg.figure) >= 0.9, "figure box IoU %.2f", lay_box_iou(f->box, pg.figure));
        CHECK(lp.n_blocks == 3, "paragraph, figure, paragraph: %d blocks", lp.n_blocks);
        if (lp.n_blocks == 3) CHECK(lp.blocks[1].type == LAY_FIGURE, "the figure is read between the paragraphs");
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

static void test_unruled_table(void)
{
    page_t pg;
    unruled_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("unruled", cr.gray, &lp);
        print_layout(&lp);
        check_lines("unruled table page", &pg, &lp, NULL);
        const lay_block *t = last_block(&lp, LAY_TABLE);
        CHECK(t != NULL, "unruled table found");
        if (t) {
            CHECK(!t->ruled, "not ruled");
            CHECK(t->n_rows == 4 && t->n_cols == 3, "4x3 grid, found %dx%d", t->n_rows, t->n_cols);
            CHECK(t->n_cells == 12 && t->n_lines == 12, "12 cells (%d), 12 lines (%d)", t->n_cells, t->n_lines);
        }
        int tables = 0;
        for (int i = 0; i < lp.n_blocks; i++) tables += lp.blocks[i].type == LAY_TABLE;
        CHECK(tables == 1, "the paragraphs are not tables: %d tables", tables);
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

/* A slide's bold title a sixth of the way down is a heading, not a
 * running header; en-dash items are list items (the dash was dropped as
 * a speck, the items ran into one paragraph). */
static void test_slide(void)
{
    page_t pg;
    slide_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("slide", cr.gray, &lp);
        print_layout(&lp);
        check_lines("slide", &pg, &lp, NULL);
        CHECK(!has_type(&lp, LAY_HEADER), "no running header on the slide");
        CHECK(lp.n_blocks > 0 && lp.blocks[0].type == LAY_HEADING, "the title is a heading");
        int items = 0;
        for (int i = 0; i < lp.n_blocks; i++) items += lp.blocks[i].type == LAY_LIST_ITEM;
        CHECK(items == 3, "3 dash items, found %d", items);
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

/* A short line ending near a narrow gutter does not join the line level
 * with it in the next column; answer choices in one column and the text
 * beside them in the next are no table across the gutter. */
static void test_gutter(void)
{
    page_t pg;
    gutter_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("gutter", cr.gray, &lp);
        print_layout(&lp);
        check_lines("gutter", &pg, &lp, NULL);
        int gx = (pg.table.x1 + pg.table.x2) / 2, crossing = 0, tables = 0;
        for (int i = 0; i < lp.n_blocks; i++) {
            const lay_block *b = &lp.blocks[i];
            tables += b->type == LAY_TABLE && b->box.x1 < gx && b->box.x2 > gx;
            for (int k = 0; k < b->n_lines; k++) crossing += b->lines[k].box.x1 < gx && b->lines[k].box.x2 > gx;
        }
        CHECK(crossing == 0, "no line crosses the gutter: %d do", crossing);
        CHECK(tables == 0, "no table across the gutter: %d", tables);
        CHECK(lp.n_columns == 2, "2 columns, found %d", lp.n_columns);
        /* every left-column block is read before every right-column one */
        int last_left = -1, first_right = lp.n_blocks;
        for (int i = 0; i < lp.n_blocks; i++) {
            if (lp.blocks[i].box.x2 <= gx) last_left = i;
            if (lp.blocks[i].box.x1 >= gx && i < first_right) first_right = i;
        }
        CHECK(last_left < first_right, "left column read first (last left %d, first right %d)", last_left,
              first_right);
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

/* A ruled grid with empty cells is a figure, not a table of empty rows. */
static void test_empty_grid(void)
{
    page_t pg;
    grid_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("grid", cr.gray, &lp);
        print_layout(&lp);
        CHECK(!has_type(&lp, LAY_TABLE), "no table");
        const lay_block *f = last_block(&lp, LAY_FIGURE);
        CHECK(f != NULL, "the grid is a figure");
        if (f) CHECK(lay_box_iou(f->box, pg.figure) >= 0.8, "figure box IoU %.2f", lay_box_iou(f->box, pg.figure));
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

static void test_hrule_tables(void)
{
    for (int v = 0; v < 2; v++) {
        bool booktabs = v == 0;
        const char *name = booktabs ? "booktabs" : "rules between rows";
        page_t pg;
        hrule_page(&pg, booktabs);
        PIX *pix = page_pix(&pg);
        lay_clean_result cr;
        lay_page lp;
        if (run(pix, &cr, &lp)) {
            dump(booktabs ? "booktabs" : "hrules", cr.gray, &lp);
            print_layout(&lp);
            check_lines(name, &pg, &lp, NULL);
            const lay_block *t = NULL;
            int tables = 0;
            for (int i = 0; i < lp.n_blocks; i++)
                if (lp.blocks[i].type == LAY_TABLE) {
                    t = &lp.blocks[i];
                    tables++;
                }
            CHECK(tables == 1, "%s: one table, found %d", name, tables);
            if (t) {
                int R = pg.table_rows, C = pg.table_cols, in_cells = 0;
                CHECK(t->ruled, "%s: found from its rules", name);
                CHECK(t->n_rows == R && t->n_cols == C, "%s: %dx%d grid, found %dx%d", name, R, C, t->n_rows,
                      t->n_cols);
                CHECK(t->n_cells == R * C, "%s: %d cells, found %d", name, R * C, t->n_cells);
                CHECK(lay_box_iou(t->box, pg.table) >= 0.9, "%s: table box IoU %.2f", name,
                      lay_box_iou(t->box, pg.table));
                for (int k = 0; k < t->n_lines; k++) in_cells += t->lines[k].cell >= 0;
                CHECK(t->n_lines == R * C && in_cells == R * C, "%s: one line per cell: %d lines, %d in cells",
                      name, t->n_lines, in_cells);
                /* every cell in its place: cell (r, c) holds true line r*C+c of the table */
                int bad = 0;
                for (int k = 0; k < t->n_lines; k++) {
                    const lay_cell *cl = &t->cells[t->lines[k].cell];
                    int best = -1;
                    double bi = 0;
                    for (int q = 0; q < pg.n_lines; q++)
                        if (pg.blk_type[pg.line_blk[q]] == LAY_TABLE && lay_box_iou(pg.line[q], t->lines[k].box) > bi) {
                            bi = lay_box_iou(pg.line[q], t->lines[k].box);
                            best = q;
                        }
                    int first = 0;
                    while (first < pg.n_lines && pg.blk_type[pg.line_blk[first]] != LAY_TABLE) first++;
                    best -= first;
                    if (best < 0 || cl->row != best / C || cl->col != best % C) bad++;
                }
                CHECK(bad == 0, "%s: %d lines in the wrong cell", name, bad);
            }
            int paras = 0;
            for (int i = 0; i < lp.n_blocks; i++) paras += lp.blocks[i].type == LAY_PARAGRAPH;
            CHECK(paras == 3, "%s: the paragraphs and the caption stay text: %d paragraphs", name, paras);
        }
        lay_page_free(&lp);
        lay_clean_result_free(&cr);
        pixDestroy(&pix);
        page_done(&pg);
    }
}

static void test_numbered_headings(void)
{
    page_t pg;
    numbered_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_clean_result cr;
    lay_page lp;
    if (run(pix, &cr, &lp)) {
        dump("numbered", cr.gray, &lp);
        print_layout(&lp);
        int match[MAX_TRUTH];
        check_lines("numbered headings", &pg, &lp, match);
        /* the type of the block of every true line's match */
        int wrong = 0, heads = 0, items = 0;
        found_line f[512];
        int nf = collect(&lp, f, 512);
        for (int t = 0; t < pg.n_lines; t++) {
            if (match[t] < 0 || match[t] >= nf) continue;
            lay_type want = pg.blk_type[pg.line_blk[t]], got = lp.blocks[f[match[t]].blk].type;
            if (want != got) {
                wrong++;
                printf("   true line %d: %s, found %s\n", t, lay_type_name(want), lay_type_name(got));
            }
        }
        for (int i = 0; i < lp.n_blocks; i++) {
            heads += lp.blocks[i].type == LAY_HEADING;
            items += lp.blocks[i].type == LAY_LIST_ITEM;
        }
        CHECK(wrong == 0, "numbered headings: %d lines of the wrong type", wrong);
        CHECK(heads == 3, "3 numbered headings, found %d", heads);
        CHECK(items == 3, "the numbered list in the body font stays a list: %d items", items);
        /* the number is part of the heading */
        bool num = lp.n_blocks > 0 && lp.blocks[0].type == LAY_HEADING &&
                   abs(lp.blocks[0].box.x1 - pg.line[0].x1) <= 3;
        CHECK(num, "\"1.\" belongs to the heading");
        CHECK(lp.n_blocks > 0 && lp.blocks[0].level == 1, "the 30 px heading is level 1");
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

/* Small print is enlarged for analysis; boxes map back to the input. */
static void test_small_print(void)
{
    page_t pg;
    one_column(&pg);
    PIX *pix = page_pix(&pg);
    const float f = 0.6f;
    PIX *small = pixScale(pix, f, f);
    lay_clean_result cr;
    lay_page lp;
    if (run(small, &cr, &lp)) {
        dump("small", cr.gray, &lp);
        CHECK(cr.scale > 1.5f, "enlarged for analysis: scale %.2f", cr.scale);
        page_t t = pg; /* the truth in the small page's pixels */
        for (int i = 0; i < t.n_lines; i++) {
            pipe_box b = pg.line[i];
            t.line[i] = (pipe_box){(int)floorf((float)b.x1 * f), (int)floorf((float)b.y1 * f),
                                   (int)ceilf((float)b.x2 * f), (int)ceilf((float)b.y2 * f)};
        }
        for (int i = 0; i < lp.n_blocks; i++)
            for (int k = 0; k < lp.blocks[i].n_lines; k++)
                lp.blocks[i].lines[k].box = lay_clean_map_box(&cr, lp.blocks[i].lines[k].box);
        check_lines("small print, input pixels", &t, &lp, NULL);
        CHECK(has_type(&lp, LAY_HEADING) && has_type(&lp, LAY_PAGE_NUMBER), "heading and page number found");
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&small);
    pixDestroy(&pix);
    page_done(&pg);
}

static void test_orientation(void)
{
    page_t pg;
    one_column(&pg);
    PIX *pix = page_pix(&pg);
    for (int q = 1; q <= 3; q++) {
        PIX *rot = pixRotateOrth(pix, q);
        lay_clean_result cr;
        lay_page lp;
        if (run(rot, &cr, &lp)) {
            char name[32];
            snprintf(name, sizeof name, "rot%d", 90 * q);
            dump(name, cr.gray, &lp);
            int want = (360 - 90 * q) % 360;
            CHECK(cr.rotation == want, "page turned %d cw: correction %d, want %d (up %.1f left %.1f)", 90 * q,
                  cr.rotation, want, cr.up_conf, cr.left_conf);
            if (cr.rotation == want) {
                check_lines(name, &pg, &lp, NULL);
                /* the heading's box, back in the turned input */
                pipe_box h = lay_clean_map_box(&cr, lp.blocks[0].box);
                pipe_box tr = pg.line[0];
                pipe_box want_box = q == 1   ? (pipe_box){PAGE_H - tr.y2, tr.x1, PAGE_H - tr.y1, tr.x2}
                                    : q == 2 ? (pipe_box){PAGE_W - tr.x2, PAGE_H - tr.y2, PAGE_W - tr.x1, PAGE_H - tr.y1}
                                             : (pipe_box){tr.y1, PAGE_W - tr.x2, tr.y2, PAGE_W - tr.x1};
                CHECK(lay_box_iou(h, want_box) >= 0.7, "%s: heading maps back to the input (IoU %.2f)", name,
                      lay_box_iou(h, want_box));
            }
        }
        lay_page_free(&lp);
        lay_clean_result_free(&cr);
        pixDestroy(&rot);
    }
    pixDestroy(&pix);
    page_done(&pg);
}

static void test_skew(void)
{
    page_t pg;
    one_column(&pg);
    PIX *pix = page_pix(&pg);
    static const float angles[2] = {2.0f, -3.0f};
    for (int i = 0; i < 2; i++) {
        /* pixRotate turns clockwise for a positive angle: lines then fall
         * to the right, a negative (clockwise) skew */
        PIX *sk = pixRotate(pix, (l_float32)(angles[i] * M_PI / 180), L_ROTATE_AREA_MAP, L_BRING_IN_WHITE, 0, 0);
        add_noise(sk, 14.0, 1234 + (uint64_t)i);
        lay_clean_result cr;
        lay_page lp;
        if (run(sk, &cr, &lp)) {
            char name[32];
            snprintf(name, sizeof name, "skew%+.0f", angles[i]);
            dump(name, cr.gray, &lp);
            CHECK(cr.rotation == 0, "%s: rotation %d", name, cr.rotation);
            CHECK(fabsf(cr.skew_deg + angles[i]) <= 0.3f, "%s: skew found %.2f, want %.2f", name, cr.skew_deg,
                  -angles[i]);
            CHECK(cr.deskewed, "%s: deskewed", name);
            int match[MAX_TRUTH];
            check_lines(name, &pg, &lp, match);
            /* found lines taken back to the skewed input land where the
             * true lines were turned to */
            found_line fl[512];
            int nf = collect(&lp, fl, 512), bad = 0;
            double a = angles[i] * M_PI / 180, cx = PAGE_W / 2.0, cy = PAGE_H / 2.0;
            for (int t = 0; t < pg.n_lines; t++) {
                if (match[t] < 0 || match[t] >= nf) continue;
                pipe_box m = lay_clean_map_box(&cr, fl[match[t]].box);
                double tx = (pg.line[t].x1 + pg.line[t].x2) / 2.0 - cx, ty = (pg.line[t].y1 + pg.line[t].y2) / 2.0 - cy;
                double rx = cx + tx * cos(a) - ty * sin(a), ry = cy + tx * sin(a) + ty * cos(a);
                double mx = (m.x1 + m.x2) / 2.0, my = (m.y1 + m.y2) / 2.0;
                if (fabs(mx - rx) > 8 || fabs(my - ry) > 8) bad++;
            }
            CHECK(bad == 0, "%s: %d lines map back off their place in the input", name, bad);
        }
        lay_page_free(&lp);
        lay_clean_result_free(&cr);
        pixDestroy(&sk);
    }
    pixDestroy(&pix);
    page_done(&pg);
}

static void test_degenerate(void)
{
    /* blank, tiny and 1 bpp inputs: no crash, no blocks */
    PIX *blank = pixCreate(300, 200, 8);
    pixSetAll(blank);
    lay_clean_result cr;
    lay_page lp;
    if (run(blank, &cr, &lp)) CHECK(lp.n_blocks == 0, "blank page: %d blocks", lp.n_blocks);
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&blank);
    PIX *tiny = pixCreate(3, 2, 1);
    pixSetPixel(tiny, 1, 1, 1);
    if (run(tiny, &cr, &lp)) CHECK(lp.n_blocks == 0, "tiny page: %d blocks", lp.n_blocks);
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&tiny);
    ocr_err e = {0};
    CHECK(lay_clean(NULL, NULL, &cr, &e) == OCR_E_ARG, "NULL page refused");
    lay_clean_result_free(&cr);
    /* document model */
    page_t pg;
    one_column(&pg);
    PIX *pix = page_pix(&pg);
    if (run(pix, &cr, &lp)) {
        pipe_page pp;
        memset(&pp, 0, sizeof pp);
        CHECK(lay_page_to_doc(&lp, &pp, &e) == OCR_OK, "to doc: %s", e.msg);
        CHECK(pp.n_blocks == lp.n_blocks, "one doc block per layout block");
        if (pp.n_blocks > 0) CHECK(!strcmp(pp.blocks[0].type, "title"), "heading -> title: %s", pp.blocks[0].type);
        uint8_t *png = NULL;
        size_t n = 0;
        CHECK(lay_overlay_render(cr.gray, &lp, &png, &n, &e) == OCR_OK && n > 8 && !memcmp(png, "\x89PNG", 4),
              "overlay renders a PNG: %s", e.msg);
        free(png);
        pipe_page_free(&pp);
        for (int i = 0; i < lp.n_blocks; i++)
            for (int k = 0; k < lp.blocks[i].n_lines; k++) {
                const lay_line *l = &lp.blocks[i].lines[k];
                if (!(l->crop.x1 <= l->box.x1 && l->crop.y1 <= l->box.y1 && l->crop.x2 >= l->box.x2 &&
                      l->crop.y2 >= l->box.y2 && l->baseline > l->box.y1 && l->baseline <= l->box.y2 &&
                      l->x_height > 0)) {
                    CHECK(false, "line %d.%d: crop holds the ink, baseline inside", i, k);
                    i = lp.n_blocks;
                    break;
                }
            }
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

/* White text on a dark band and on a dark blue bar is inverted and read
 * as text lines where it stands: no figure over the band, the titles are
 * headings (not a running header), their lines marked inverted; the page
 * is also right under noise, as a scan. */
static void test_inverted_text(void)
{
    for (int noisy = 0; noisy < 2; noisy++) {
        page_t pg;
        banner_page(&pg);
        PIX *pix = page_pix(&pg);
        if (noisy) add_noise(pix, 8, 7);
        lay_params p = lay_default_params();
        p.invert = true;
        lay_clean_result cr;
        lay_page lp;
        const char *what = noisy ? "banner (noisy)" : "banner";
        if (run_p(pix, &p, &cr, &lp)) {
            dump(noisy ? "banner_noisy" : "banner", cr.gray, &lp);
            print_layout(&lp);
            CHECK(cr.n_inverted == 2, "%s: 2 inverted rows (band, bar), found %d", what, cr.n_inverted);
            int match[MAX_TRUTH];
            check_lines(what, &pg, &lp, match);
            for (int i = 0; i < lp.n_blocks; i++) {
                const lay_block *b = &lp.blocks[i];
                if (b->type != LAY_FIGURE) continue;
                int ow = lay_overlap(b->box.x1, b->box.x2, pg.figure.x1, pg.figure.x2);
                int oh = lay_overlap(b->box.y1, b->box.y2, pg.figure.y1, pg.figure.y2);
                CHECK(ow <= 0 || oh <= 0, "%s: figure [%d,%d,%d,%d] over the band", what, b->box.x1, b->box.y1,
                      b->box.x2, b->box.y2);
            }
            found_line f[512];
            int nf = collect(&lp, f, 512);
            (void)nf;
            /* true lines 0 (band) and the bar's title are headings, inverted */
            for (int t = 0; t < pg.n_lines; t++) {
                if (pg.blk_type[pg.line_blk[t]] != LAY_HEADING || match[t] < 0) continue;
                const lay_block *b = &lp.blocks[f[match[t]].blk];
                CHECK(b->type == LAY_HEADING, "%s: true line %d is a heading, found %s", what, t,
                      lay_type_name(b->type));
                bool inv = false;
                for (int k = 0; k < b->n_lines; k++) inv = inv || b->lines[k].inverted;
                CHECK(inv, "%s: true line %d marked inverted", what, t);
            }
            CHECK(!has_type(&lp, LAY_HEADER), "%s: no running header", what);
        }
        lay_page_free(&lp);
        lay_clean_result_free(&cr);
        pixDestroy(&pix);
        page_done(&pg);
    }
}

/* A noisy, shaded picture with a few light specks stays a figure and
 * nothing of it is inverted. */
static void test_photo_not_inverted(void)
{
    page_t pg;
    photo_page(&pg);
    PIX *pix = page_pix(&pg);
    lay_params p = lay_default_params();
    p.invert = true;
    lay_clean_result cr;
    lay_page lp;
    if (run_p(pix, &p, &cr, &lp)) {
        dump("photo", cr.gray, &lp);
        print_layout(&lp);
        CHECK(cr.n_inverted == 0, "photo: nothing inverted, found %d", cr.n_inverted);
        check_lines("photo page", &pg, &lp, NULL);
        const lay_block *f = last_block(&lp, LAY_FIGURE);
        CHECK(f != NULL, "photo: figure found");
        if (f) CHECK(lay_box_iou(f->box, pg.figure) >= 0.8, "photo: figure box IoU %.2f", lay_box_iou(f->box, pg.figure));
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cr);
    pixDestroy(&pix);
    page_done(&pg);
}

int main(void)
{
    img_lept_quiet();
    TST_RUN(test_one_column);
    TST_RUN(test_two_columns);
    TST_RUN(test_abstract_columns);
    TST_RUN(test_display_formula);
    TST_RUN(test_table);
    TST_RUN(test_figure);
    TST_RUN(test_unruled_table);
    TST_RUN(test_hrule_tables);
    TST_RUN(test_slide);
    TST_RUN(test_gutter);
    TST_RUN(test_empty_grid);
    TST_RUN(test_numbered_headings);
    TST_RUN(test_small_print);
    TST_RUN(test_orientation);
    TST_RUN(test_skew);
    TST_RUN(test_degenerate);
    TST_RUN(test_inverted_text);
    TST_RUN(test_photo_not_inverted);
    return tst_finish();
}

/* tests/test_assemble.c — Markdown assembly (pipeline/pipe_assemble.c) on
 * hand-built layout pages with given line texts, exact expected Markdown
 * through the document writer; and the vlocr-nano page driver
 * (pipeline/pipe_nano.c) end to end on a page typeset here with
 * pango/cairo, checking structure only (the model's reading is not
 * judged). The end-to-end test needs models/vlocr-nano (SKIP without). */
#include <cairo.h>
#include <jansson.h>
#include <math.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/pipe.h"
#include "tests/tst.h"

#define CHECK TST_CHECK
#define MAXB 16
#define MAXL 16

/* ------------------------------------------------- hand-built pages */

typedef struct {
    lay_page lp;
    lay_block b[MAXB];
    lay_line l[MAXB][MAXL];
    lay_cell c[MAXB][MAXL];
    const char *t[MAXB][MAXL];
    const char *const *tb[MAXB];
} hpage;

static void hp_init(hpage *h)
{
    memset(h, 0, sizeof *h);
    h->lp.width = 1000;
    h->lp.height = 1400;
    h->lp.blocks = h->b;
    h->lp.size = 20;
    h->lp.x_height = 9;
    h->lp.char_h = 14;
    h->lp.n_columns = 1;
}

/* A block of `type` at y with lines of `size`; returns it. */
static lay_block *hp_block(hpage *h, lay_type type, int y, float size, const char *const *texts, int n)
{
    int bi = h->lp.n_blocks++;
    lay_block *b = &h->b[bi];
    b->type = type;
    b->level = 1;
    b->lines = h->l[bi];
    b->n_lines = n;
    b->box = (pipe_box){100, y, 900, y + (n ? n : 1) * 30};
    for (int i = 0; i < n; i++) {
        lay_line *l = &h->l[bi][i];
        l->box = (pipe_box){100, y + 30 * i, 900, y + 30 * i + 25};
        l->crop = l->box;
        l->size = size;
        l->x_height = size * 0.45f;
        l->cell = -1;
        h->t[bi][i] = texts[i];
    }
    h->tb[bi] = h->t[bi];
    return b;
}

/* Assemble into a one-page document and render it in format f. */
static char *hp_render(hpage *h, pipe_format f, const char *crops_dir)
{
    pipe_doc d;
    pipe_page *pg = NULL;
    ocr_err e = {0};
    char *out = NULL;
    size_t n = 0;
    if (pipe_doc_init(&d, "hand", &e) != OCR_OK) return NULL;
    ocr_status rc = pipe_doc_add_page(&d, &pg, 1, h->lp.width, h->lp.height, &e);
    if (rc == OCR_OK) rc = pipe_assemble_page(&h->lp, (pipe_line_texts)h->tb, NULL, NULL, pg, &e);
    if (rc == OCR_OK && crops_dir) {
        PIX *pix = pixCreate(h->lp.width, h->lp.height, 8);
        pixSetAll(pix);
        rc = pipe_page_save_crops(pg, pix, crops_dir, "imgs", &e);
        pixDestroy(&pix);
    }
    if (rc == OCR_OK) rc = pipe_doc_render(&d, f, &out, &n, &e);
    CHECK(rc == OCR_OK, "assemble + render: %s", e.msg);
    pipe_doc_free(&d);
    return out;
}

static void expect_md(hpage *h, const char *want, const char *what)
{
    char *got = hp_render(h, PIPE_FMT_MD, NULL);
    CHECK(got && !strcmp(got, want), "%s:\n--- got\n%s--- want\n%s", what, got ? got : "(null)", want);
    free(got);
}

static void test_join(void)
{
    const char *a[] = {"  The exam-", "ple shows", NULL, "  ", "well-", "Known words-", "\xc3\xa9t\xc3\xa9", "a -",
                       "b soft\xc2\xad", "Hyphen"};
    char *s = NULL;
    ocr_err e = {0};
    CHECK(pipe_assemble_join(a, 10, &s, &e) == OCR_OK, "join");
    const char *want = "The example shows well-Known words\xc3\xa9t\xc3\xa9 a - b softHyphen";
    CHECK(s && !strcmp(s, want), "join: '%s'", s ? s : "(null)");
    free(s);
    CHECK(pipe_assemble_join(a, 0, &s, &e) == OCR_OK && s && !*s, "join of nothing is \"\"");
    free(s);
}

static void test_headings_paragraphs(void)
{
    hpage h;
    hp_init(&h);
    const char *t1[] = {"Reading Pages"};
    const char *t2[] = {"Background"};
    const char *t3[] = {"A scanned page is first clea-", "ned: its skew is re-", "Moved and the", "page is flat."};
    const char *t4[] = {"# not a heading", "really"};
    const char *t5[] = {"1. not a list"};
    hp_block(&h, LAY_HEADING, 50, 36, t1, 1);
    hp_block(&h, LAY_HEADING, 120, 24, t2, 1)->level = 2;
    hp_block(&h, LAY_PARAGRAPH, 200, 20, t3, 4);
    hp_block(&h, LAY_PARAGRAPH, 400, 20, t4, 2);
    hp_block(&h, LAY_PARAGRAPH, 500, 20, t5, 1);
    expect_md(&h,
              "# Reading Pages\n\n## Background\n\n"
              "A scanned page is first cleaned: its skew is re-Moved and the page is flat.\n\n"
              "\\# not a heading really\n\n1\\. not a list\n",
              "headings and paragraphs");
    CHECK(pipe_assemble_heading_level(&h.lp, &h.b[0]) == 1, "36 px over a 20 px body is level 1");
    CHECK(pipe_assemble_heading_level(&h.lp, &h.b[1]) == 2, "24 px over 20 px is level 2");
    h.lp.size = 0, h.lp.x_height = 0, h.lp.char_h = 0;
    CHECK(pipe_assemble_heading_level(&h.lp, &h.b[1]) == 2, "no body statistics: the layout's level");
    h.b[1].level = 1;
    CHECK(pipe_assemble_heading_level(&h.lp, &h.b[1]) == 1, "no body statistics: the layout's level 1");
    /* The document labels agree with the levels. */
    hp_init(&h);
    hp_block(&h, LAY_HEADING, 50, 36, t1, 1);
    hp_block(&h, LAY_HEADING, 120, 24, t2, 1);
    char *js = hp_render(&h, PIPE_FMT_JSON, NULL);
    CHECK(js && strstr(js, "\"type\":\"title\"") && strstr(js, "\"type\":\"sub_title\""), "labels title, sub_title: %s",
          js ? js : "");
    free(js);
}

static void test_lists(void)
{
    hpage h;
    hp_init(&h);
    const char *i1[] = {"\xe2\x80\xa2 First item that runs on-", "to a second line"};
    const char *i2[] = {"\xe2\x97\xa6Second"};
    const char *i3[] = {"\xe2\x96\xaa third"};
    const char *i4[] = {"\xe2\x80\x93 fourth"};
    const char *i5[] = {"* fifth"};
    const char *i6[] = {"no bullet read"};
    const char *p[] = {"Between."};
    const char *n1[] = {"1. one"};
    const char *n2[] = {"2) two"};
    const char *n3[] = {"(3) three"};
    hp_block(&h, LAY_LIST_ITEM, 50, 20, i1, 2);
    hp_block(&h, LAY_LIST_ITEM, 110, 20, i2, 1);
    hp_block(&h, LAY_LIST_ITEM, 140, 20, i3, 1);
    hp_block(&h, LAY_LIST_ITEM, 170, 20, i4, 1);
    hp_block(&h, LAY_LIST_ITEM, 200, 20, i5, 1);
    hp_block(&h, LAY_LIST_ITEM, 230, 20, i6, 1);
    hp_block(&h, LAY_PARAGRAPH, 260, 20, p, 1);
    hp_block(&h, LAY_LIST_ITEM, 300, 20, n1, 1);
    hp_block(&h, LAY_LIST_ITEM, 330, 20, n2, 1);
    hp_block(&h, LAY_LIST_ITEM, 360, 20, n3, 1);
    expect_md(&h,
              "- First item that runs onto a second line\n- Second\n- third\n- fourth\n- fifth\n"
              "- no bullet read\n\nBetween.\n\n1. one\n2. two\n3. three\n",
              "lists");
    char *js = hp_render(&h, PIPE_FMT_JSON, NULL);
    CHECK(js && strstr(js, "\"boxes\":[[100,50,900,110],[100,110,900,140]"), "a list block keeps one box per item");
    free(js);
}

static void test_tables(void)
{
    hpage h;
    hp_init(&h);
    const char *t[] = {"Item", "Qty", "Paper", "1|2", "Ink", "3", "more"};
    lay_block *b = hp_block(&h, LAY_TABLE, 50, 20, t, 7);
    b->cells = h.c[0];
    b->n_cells = 6, b->n_rows = 3, b->n_cols = 2;
    for (int i = 0; i < 6; i++) h.c[0][i] = (lay_cell){{0, 0, 0, 0}, i / 2, i % 2, 1, 1};
    for (int i = 0; i < 7; i++) h.l[0][i].cell = i < 6 ? i : 5;
    expect_md(&h, "| Item | Qty |\n| --- | --- |\n| Paper | 1\\|2 |\n| Ink | 3 more |\n", "pipe table");
    /* A hole in the grid stays an empty cell. */
    h.l[0][2].cell = h.l[0][3].cell = 4;
    b->n_cells = 5;
    h.c[0][2] = (lay_cell){{0, 0, 0, 0}, 2, 0, 1, 1};
    h.c[0][3] = (lay_cell){{0, 0, 0, 0}, 1, 1, 1, 1};
    h.c[0][4] = (lay_cell){{0, 0, 0, 0}, 2, 1, 1, 1};
    for (int i = 0; i < 7; i++) h.l[0][i].cell = (int[]){0, 1, 2, 3, 4, 4, 4}[i];
    expect_md(&h, "| Item | Qty |\n| --- | --- |\n| | 1\\|2 |\n| Paper | Ink 3 more |\n", "pipe table with a hole");

    /* Spans: HTML. */
    hp_init(&h);
    const char *s[] = {"Name", "Scores", "A<B", "1", "2"};
    b = hp_block(&h, LAY_TABLE, 50, 20, s, 5);
    b->cells = h.c[0];
    b->n_cells = 5, b->n_rows = 2, b->n_cols = 3;
    h.c[0][0] = (lay_cell){{0, 0, 0, 0}, 0, 0, 2, 1};
    h.c[0][1] = (lay_cell){{0, 0, 0, 0}, 0, 1, 1, 2};
    h.c[0][2] = (lay_cell){{0, 0, 0, 0}, 1, 1, 1, 1};
    h.c[0][3] = (lay_cell){{0, 0, 0, 0}, 1, 2, 1, 1};
    h.c[0][4] = (lay_cell){{0, 0, 0, 0}, 1, 0, 0, 0}; /* an empty cell of no lines */
    int cell_of[5] = {0, 1, 2, 3, 3};
    h.b[0].n_cells = 4;
    for (int i = 0; i < 5; i++) h.l[0][i].cell = cell_of[i];
    expect_md(&h,
              "<table>\n<tr><td rowspan=\"2\">Name</td><td colspan=\"2\">Scores</td></tr>\n"
              "<tr><td>A&lt;B</td><td>1 2</td></tr>\n</table>\n",
              "HTML table for spans");
}

/* What a block is written as depends on what was read: a heading needs
 * two letters (a lone option label, a digit or a symbol read from a speck
 * is no title), and a table none of whose cells holds text is a picture
 * of a grid (an image block: no empty pipe-table rows). */
static void test_written_types(void)
{
    hpage h;
    hp_init(&h);
    const char *g1[] = {"\xce\xa3"}; /* a lone sigma */
    const char *g2[] = {"A"};
    const char *g3[] = {"18"};
    const char *g4[] = {"Results"};
    const char *g5[] = {"\xe4\xb8\x80"}; /* one CJK ideograph: a word */
    hp_block(&h, LAY_HEADING, 50, 36, g1, 1);
    hp_block(&h, LAY_HEADING, 100, 36, g2, 1);
    hp_block(&h, LAY_HEADING, 150, 36, g3, 1);
    hp_block(&h, LAY_HEADING, 200, 36, g4, 1);
    hp_block(&h, LAY_HEADING, 250, 36, g5, 1);
    expect_md(&h, "\xce\xa3\n\nA\n\n18\n\n# Results\n\n# \xe4\xb8\x80\n", "headings need letters");
    char *js = hp_render(&h, PIPE_FMT_JSON, NULL);
    CHECK(js && strstr(js, "\"type\":\"text\"") && strstr(js, "\"type\":\"title\""),
          "demoted headings are text blocks: %s", js ? js : "");
    free(js);

    hp_init(&h);
    const char *p[] = {"Shade the grid."};
    const char *e[] = {"", " ", NULL, "", "", ""};
    hp_block(&h, LAY_PARAGRAPH, 50, 20, p, 1);
    lay_block *b = hp_block(&h, LAY_TABLE, 100, 20, e, 6);
    b->cells = h.c[1];
    b->n_cells = 6, b->n_rows = 2, b->n_cols = 3;
    for (int i = 0; i < 6; i++) {
        h.c[1][i] = (lay_cell){{100 + 100 * (i % 3), 100 + 30 * (i / 3), 200 + 100 * (i % 3), 130 + 30 * (i / 3)},
                               i / 3, i % 3, 1, 1};
        h.l[1][i].cell = i;
    }
    char *md = hp_render(&h, PIPE_FMT_MD, NULL);
    CHECK(md && !strstr(md, "|"), "an empty grid is no table: %s", md ? md : "(null)");
    free(md);
    js = hp_render(&h, PIPE_FMT_JSON, NULL);
    CHECK(js && strstr(js, "\"type\":\"image\"") && !strstr(js, "\"type\":\"table\""),
          "an empty grid is an image block: %s", js ? js : "");
    free(js);
    /* one cell read: still a table */
    const char *one[] = {"", "", "x", "", "", ""};
    for (int i = 0; i < 6; i++) h.t[1][i] = one[i];
    md = hp_render(&h, PIPE_FMT_MD, NULL);
    CHECK(md && strstr(md, "| x |"), "a grid with text stays a table: %s", md ? md : "(null)");
    free(md);
}

static void test_formulas_figures_furniture(void)
{
    hpage h;
    hp_init(&h);
    const char *hd[] = {"Running head"};
    const char *p[] = {"Energy is $E = mc^2$ as", "usual."};
    const char *f[] = {"$$ \\int_0^1 x\\,dx = \\frac{1}{2} $$", "\\[a = b\\]", NULL};
    const char *fig[] = {"ignored"};
    const char *ft[] = {"Footer text"};
    const char *pn[] = {"7"};
    hp_block(&h, LAY_HEADER, 10, 14, hd, 1);
    hp_block(&h, LAY_PARAGRAPH, 100, 20, p, 2);
    hp_block(&h, LAY_FORMULA, 200, 20, f, 3);
    hp_block(&h, LAY_FIGURE, 400, 20, fig, 0)->box = (pipe_box){200, 400, 600, 700};
    hp_block(&h, LAY_FOOTER, 1300, 14, ft, 1);
    hp_block(&h, LAY_PAGE_NUMBER, 1350, 14, pn, 1);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/assemble-imgs", tst_tmpdir());
    char *md = hp_render(&h, PIPE_FMT_MD, dir);
    const char *want = "Energy is $E = mc^2$ as usual.\n\n$$\n\\int_0^1 x\\,dx = \\frac{1}{2} \\\\ a = b\n$$\n\n"
                       "![](imgs/1-0.png)\n";
    CHECK(md && !strcmp(md, want), "formulas, figure, furniture dropped:\n--- got\n%s--- want\n%s",
          md ? md : "(null)", want);
    free(md);
    char path[600];
    struct stat sb;
    snprintf(path, sizeof path, "%s/1-0.png", dir);
    CHECK(stat(path, &sb) == 0 && sb.st_size > 0, "figure crop saved at %s", path);
    char *js = hp_render(&h, PIPE_FMT_JSON, NULL);
    CHECK(js && strstr(js, "\"type\":\"header\"") && strstr(js, "Running head") && strstr(js, "\"type\":\"footer\"") &&
              strstr(js, "\"type\":\"page_number\"") && strstr(js, "\"type\":\"equation\"") &&
              strstr(js, "\"type\":\"image\""),
          "JSON keeps every block with its type: %s", js ? js : "");
    free(js);
    char *txt = hp_render(&h, PIPE_FMT_TXT, NULL);
    CHECK(txt && strstr(txt, "Running head") && strstr(txt, "Footer text"), "text keeps the furniture");
    free(txt);
    char *hocr = hp_render(&h, PIPE_FMT_HOCR, NULL);
    CHECK(hocr && strstr(hocr, "ocr_photo") && strstr(hocr, "usual."), "hOCR renders the blocks");
    free(hocr);
    /* A DeepSeek-OCR page (raw output present) keeps its header in Markdown. */
    pipe_doc d;
    pipe_page *pg;
    ocr_err e = {0};
    pipe_doc_init(&d, "ds", &e);
    pipe_doc_add_page(&d, &pg, 1, 100, 100, &e);
    pg->raw = strdup("x");
    pipe_page_add_block(pg, NULL, "header", 6, "Head", 4, &e);
    char *o = NULL;
    CHECK(pipe_doc_render(&d, PIPE_FMT_MD, &o, NULL, &e) == OCR_OK && o && !strcmp(o, "Head\n"),
          "DeepSeek-OCR pages are unchanged: '%s'", o ? o : "");
    free(o);
    pipe_doc_free(&d);
    /* Unread lines and an empty page. */
    hp_init(&h);
    const char *none[] = {NULL, NULL};
    hp_block(&h, LAY_HEADING, 50, 36, none, 2);
    hp_block(&h, LAY_FORMULA, 150, 20, none, 2);
    expect_md(&h, "", "nothing read: no Markdown");
}

/* ------------------------------------------------- end to end (nano) */

#define PW 1000
#define PH 1300

static int typeset(cairo_t *cr, int x, int y, int width, double px, bool bold, const char *s)
{
    PangoLayout *lay = pango_cairo_create_layout(cr);
    PangoFontDescription *fd = pango_font_description_from_string("DejaVu Serif");
    pango_font_description_set_absolute_size(fd, px * PANGO_SCALE);
    if (bold) pango_font_description_set_weight(fd, PANGO_WEIGHT_BOLD);
    pango_layout_set_font_description(lay, fd);
    pango_font_description_free(fd);
    pango_layout_set_width(lay, width * PANGO_SCALE);
    pango_layout_set_wrap(lay, PANGO_WRAP_WORD);
    pango_layout_set_text(lay, s, -1);
    cairo_move_to(cr, x, y);
    pango_cairo_show_layout(cr, lay);
    int w, h;
    pango_layout_get_pixel_size(lay, &w, &h);
    g_object_unref(lay);
    return h;
}

static PIX *synthetic_page(void)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, PW, PH);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    int x = 90, w = 820, y = 80;
    y += typeset(cr, x, y, w, 32, true, "Reading Pages Without Help") + 30;
    y += typeset(cr, x, y, w, 17, false,
                 "A scanned page is first cleaned: its skew is measured and removed, the background "
                 "is flattened and a binary copy is made for the analysis of its layout.") + 16;
    y += typeset(cr, x, y, w, 17, false,
                 "Layout analysis then finds columns, blocks and text lines and puts them in reading "
                 "order, so that each line can be read by the recogniser on its own.") + 18;
    static const char *items[3] = {"Find the orientation of the page.", "Measure and remove the skew.",
                                   "Group the lines into blocks."};
    for (int i = 0; i < 3; i++) {
        typeset(cr, x + 20, y, 30, 17, false, "\xe2\x80\xa2");
        y += typeset(cr, x + 50, y, w - 50, 17, false, items[i]) + 8;
    }
    y += 40;
    static const char *cells[3][3] = {{"Item", "Count", "Price"}, {"Paper", "12", "3.50"}, {"Ink", "3", "18.25"}};
    int tx = 150, cw = 220, rh = 52;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) typeset(cr, tx + c * cw + 16, y + r * rh + 14, cw - 30, 17, false, cells[r][c]);
    cairo_set_line_width(cr, 2);
    for (int r = 0; r <= 3; r++) {
        cairo_move_to(cr, tx, y + r * rh + 0.5);
        cairo_line_to(cr, tx + 3 * cw, y + r * rh + 0.5);
    }
    for (int c = 0; c <= 3; c++) {
        cairo_move_to(cr, tx + c * cw + 0.5, y);
        cairo_line_to(cr, tx + c * cw + 0.5, y + 3 * rh);
    }
    cairo_stroke(cr);
    cairo_surface_flush(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    PIX *p = pixCreate(PW, PH, 8);
    for (int yy = 0; p && yy < PH; yy++) {
        const uint32_t *row = (const uint32_t *)(const void *)(d + (size_t)yy * (size_t)stride);
        for (int xx = 0; xx < PW; xx++) pixSetPixel(p, xx, yy, (row[xx] >> 8) & 0xff);
    }
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return p;
}

/* ------------------------------------------------------- document lines */

/* JSON of a rendered page parsed back: every block has a "lines" array
 * whose boxes lie inside the block's box; the boxes of the lines with
 * text go to lb[0..*n) (at most cap), in order. False (with why) when
 * malformed. */
static bool json_lines(const char *js, pipe_box *lb, int cap, int *n, char *why, size_t wcap)
{
    *n = 0;
    json_error_t je;
    json_t *j = js ? json_loads(js, 0, &je) : NULL;
    if (!j) {
        snprintf(why, wcap, "JSON does not parse: %s", js ? je.text : "none");
        return false;
    }
    bool ok = true;
    json_t *pages = json_object_get(j, "pages");
    for (size_t p = 0; ok && p < json_array_size(pages); p++) {
        json_t *blocks = json_object_get(json_array_get(pages, p), "blocks");
        for (size_t b = 0; ok && b < json_array_size(blocks); b++) {
            json_t *bo = json_array_get(blocks, b), *bb = json_object_get(bo, "box");
            json_t *lines = json_object_get(bo, "lines");
            if (!json_is_array(lines)) {
                snprintf(why, wcap, "block %zu: no lines array", b);
                ok = false;
                break;
            }
            for (size_t l = 0; ok && l < json_array_size(lines); l++) {
                json_t *lo = json_array_get(lines, l), *x = json_object_get(lo, "box");
                json_t *c = json_object_get(lo, "confidence");
                const char *t = json_string_value(json_object_get(lo, "text"));
                int v[4], u[4];
                for (int k = 0; k < 4; k++) {
                    v[k] = (int)json_integer_value(json_array_get(x, (size_t)k));
                    u[k] = (int)json_integer_value(json_array_get(bb, (size_t)k));
                }
                if (!t || json_array_size(x) != 4 || json_array_size(bb) != 4 ||
                    !(json_is_null(c) || (json_is_number(c) && json_number_value(c) >= 0 &&
                                           json_number_value(c) <= 1))) {
                    snprintf(why, wcap, "block %zu line %zu: malformed", b, l);
                    ok = false;
                } else if (v[0] < u[0] || v[1] < u[1] || v[2] > u[2] || v[3] > u[3] || v[0] > v[2] ||
                           v[1] > v[3]) {
                    snprintf(why, wcap, "block %zu line %zu: box [%d,%d,%d,%d] not inside [%d,%d,%d,%d]", b,
                             l, v[0], v[1], v[2], v[3], u[0], u[1], u[2], u[3]);
                    ok = false;
                } else if (strspn(t, " \t") < strlen(t)) {
                    if (*n < cap) lb[*n] = (pipe_box){v[0], v[1], v[2], v[3]};
                    (*n)++;
                }
            }
        }
    }
    json_decref(j);
    return ok;
}

/* The bboxes of hOCR's ocr_line spans equal lb[0..n), in order. */
static bool hocr_lines_are(const char *h, const pipe_box *lb, int n, char *why, size_t wcap)
{
    int k = 0;
    for (const char *p = h; p && (p = strstr(p, "class=\"ocr_line\"")); p++, k++) {
        const char *t = strstr(p, "title=\"bbox ");
        const char *end = strchr(p, '>');
        pipe_box x;
        if (!t || !end || t > end || sscanf(t, "title=\"bbox %d %d %d %d", &x.x1, &x.y1, &x.x2, &x.y2) != 4) {
            snprintf(why, wcap, "line %d: no bbox", k);
            return false;
        }
        if (k >= n || x.x1 != lb[k].x1 || x.y1 != lb[k].y1 || x.x2 != lb[k].x2 || x.y2 != lb[k].y2) {
            snprintf(why, wcap, "line %d: hOCR bbox %d %d %d %d", k, x.x1, x.y1, x.x2, x.y2);
            return false;
        }
    }
    if (k != n) snprintf(why, wcap, "%d hOCR lines for %d lines", k, n);
    return k == n;
}

static void test_lines(void)
{
    hpage h;
    hp_init(&h);
    const char *p[] = {"First line of", "the paragraph."};
    const char *f[] = {"a = b", NULL};
    const char *fig[] = {"ignored"};
    const char *t[] = {"Item", "Qty", "Paper", "2"};
    hp_block(&h, LAY_PARAGRAPH, 100, 20, p, 2);
    hp_block(&h, LAY_FORMULA, 200, 20, f, 2);
    hp_block(&h, LAY_FIGURE, 300, 20, fig, 1);
    lay_block *tb = hp_block(&h, LAY_TABLE, 500, 20, t, 4);
    tb->cells = h.c[3];
    tb->n_cells = 4, tb->n_rows = 2, tb->n_cols = 2;
    for (int i = 0; i < 4; i++) {
        h.c[3][i] = (lay_cell){{100 + 400 * (i % 2), 500 + 30 * (i / 2), 500 + 400 * (i % 2), 530 + 30 * (i / 2)},
                               i / 2, i % 2, 1, 1};
        h.l[3][i].cell = i;
        h.l[3][i].box = (pipe_box){110 + 400 * (i % 2), 502 + 30 * (i / 2), 300 + 400 * (i % 2), 525 + 30 * (i / 2)};
    }
    /* Confidences of the paragraph's lines; the others unknown. */
    const float pc[] = {0.5f, 0.25f};
    const float *conf[MAXB] = {pc};
    pipe_doc d;
    pipe_page *pg = NULL;
    ocr_err e = {0};
    pipe_doc_init(&d, "lines", &e);
    pipe_doc_add_page(&d, &pg, 1, h.lp.width, h.lp.height, &e);
    CHECK(pipe_assemble_page(&h.lp, (pipe_line_texts)h.tb, (pipe_line_confs)conf, NULL, pg, &e) == OCR_OK,
          "assemble: %s", e.msg);
    CHECK(pg->n_blocks == 4, "4 blocks");
    if (pg->n_blocks == 4) {
        const pipe_block *b0 = &pg->blocks[0], *b1 = &pg->blocks[1], *b2 = &pg->blocks[2], *b3 = &pg->blocks[3];
        CHECK(b0->n_lines == 2 && !strcmp(b0->lines[1].text, "the paragraph.") && b0->lines[0].has_box &&
                  b0->lines[0].box.y1 == 100 && b0->lines[0].box.y2 == 125 && b0->lines[1].box.y1 == 130 &&
                  b0->lines[0].confidence == 0.5f && b0->lines[1].confidence == 0.25f,
              "paragraph: one line per line read, ink boxes, confidences");
        CHECK(b1->n_lines == 1 && !strcmp(b1->lines[0].text, "a = b") && b1->lines[0].confidence == -1.0f,
              "formula: the unread line is left out; confidence unknown");
        /* A block's confidence: its known lines', weighted by length + 1
         * ("First line of" 14, "the paragraph." 15). */
        CHECK(fabsf(b0->confidence - (14 * 0.5f + 15 * 0.25f) / 29) < 1e-6f && b1->confidence == -1.0f,
              "block confidence %g (paragraph), %g (formula, none known)", b0->confidence, b1->confidence);
        CHECK(b2->n_lines == 0, "figure: no lines");
        CHECK(b3->n_lines == 4 && !strcmp(b3->lines[2].text, "Paper") && b3->lines[3].box.x1 == 510,
              "table: its cells' lines are the table's lines");
    }
    char *js = NULL, *hocr = NULL;
    pipe_doc_render(&d, PIPE_FMT_JSON, &js, NULL, &e);
    pipe_doc_render(&d, PIPE_FMT_HOCR, &hocr, NULL, &e);
    pipe_box lb[16];
    int n = 0;
    char why[256] = "";
    CHECK(json_lines(js, lb, 16, &n, why, sizeof why) && n == 7, "JSON lines (%d): %s", n, why);
    CHECK(js && strstr(js, "\"lines\":[{\"box\":[100,100,900,125],\"text\":\"First line of\",\"confidence\":0.5}"),
          "JSON line: box, text, confidence:\n%s", js ? js : "");
    CHECK(js && strstr(js, "\"text\":\"a = b\",\"confidence\":null}"), "unknown confidence is null");
    CHECK(js && strstr(js, "\"type\":\"image\",\"box\":[100,300,900,330],\"text\":\"\",\"lines\":[]"),
          "figure: empty lines:\n%s", js ? js : "");
    CHECK(hocr && hocr_lines_are(hocr, lb, n, why, sizeof why), "hOCR line bboxes = line boxes: %s", why);
    CHECK(hocr && strstr(hocr, "title=\"bbox 100 130 900 155; x_wconf 25\">the paragraph.</span>"),
          "hOCR: x_wconf from the line's confidence");
    free(js);
    free(hocr);
    pipe_doc_free(&d);
}

/* Lines of md that start a pipe-table row, and the columns of the first. */
static void pipe_table_shape(const char *md, int *rows, int *cols)
{
    *rows = *cols = 0;
    for (const char *l = md; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        if (n > 1 && l[0] == '|' && l[n - 1] == '|') {
            if (*rows == 0)
                for (size_t i = 0; i + 1 < n; i++) *cols += l[i] == '|' && (i == 0 || l[i - 1] != '\\');
            if (!(n > 4 && !strncmp(l, "| ---", 5))) (*rows)++;
        }
        l = nl ? nl + 1 : NULL;
    }
}

static void test_nano_page(void)
{
    const char *dir = "models/vlocr-nano";
    struct stat sb;
    if (stat("models/vlocr-nano/model.safetensors", &sb) != 0) {
        tst_skip("nano page", "models/vlocr-nano/model.safetensors not found");
        return;
    }
    CHECK(pipe_nano_is_model_dir(dir), "models/vlocr-nano is a vlocr-nano directory");
    CHECK(!pipe_nano_is_model_dir("tests"), "tests/ is not");
    pipe_nano_params p = pipe_nano_default_params();
    p.threads = 1;
    pipe_nano *n = NULL;
    ocr_err e = {0};
    if (!CHECK(pipe_nano_create(&n, dir, &p, &e) == OCR_OK, "load: %s", e.msg)) return;
    PIX *pix = synthetic_page();
    pipe_doc d;
    pipe_page *pg = NULL;
    pipe_doc_init(&d, "synthetic", &e);
    pipe_doc_add_page(&d, &pg, 1, PW, PH, &e);
    lay_page lp;
    lay_clean_result cl;
    memset(&lp, 0, sizeof lp);
    memset(&cl, 0, sizeof cl);
    ocr_status rc = pipe_nano_page_layout(n, pix, pg, &lp, &cl, &e);
    CHECK(rc == OCR_OK, "page: %s", e.msg);
    char *md = NULL;
    if (rc == OCR_OK && pipe_doc_render(&d, PIPE_FMT_MD, &md, NULL, &e) == OCR_OK) {
        if (getenv("VLOCR_ASSEMBLE_DUMP")) fprintf(stderr, "%s", md);
        CHECK(pg->width == PW && pg->height == PH && pg->n_blocks >= 4, "%d blocks", pg->n_blocks);
        CHECK(!strncmp(md, "# ", 2) || strstr(md, "\n# "), "a '# ' heading line:\n%s", md);
        int rows, cols;
        pipe_table_shape(md, &rows, &cols);
        /* The layout's table, as the layout found it, is what the
         * Markdown must show; the page has a 3x3 ruled table. */
        int t_rows = 0, t_cols = 0;
        for (int i = 0; i < lp.n_blocks; i++)
            if (lp.blocks[i].type == LAY_TABLE) t_rows = lp.blocks[i].n_rows, t_cols = lp.blocks[i].n_cols;
        CHECK(t_rows == 3 && t_cols == 3, "layout table %dx%d", t_rows, t_cols);
        CHECK(rows == 3 && cols == 3, "a 3x3 pipe table: %d rows, %d cols:\n%s", rows, cols, md);
        int items = 0, list_lines = 0;
        for (int i = 0; i < lp.n_blocks; i++) items += lp.blocks[i].type == LAY_LIST_ITEM;
        /* "- ", or "N. " when the model read the bullet as a number. */
        for (const char *l = md; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            size_t k = strspn(l, "0123456789");
            list_lines += !strncmp(l, "- ", 2) || (k > 0 && k < 4 && !strncmp(l + k, ". ", 2));
        }
        CHECK(items >= 1 && list_lines == items, "every list item starts with '- ' (or 'N. '): %d items, %d lines",
              items, list_lines);
        int paras = 0;
        for (int i = 0; i < pg->n_blocks; i++) paras += !strcmp(pg->blocks[i].type, "text");
        CHECK(paras >= 2, "two paragraphs: %d", paras);
    }
    free(md);
    /* Lines: one per line read, boxes inside their block's, the same in
     * JSON and hOCR; the table's lines are its cells'. */
    if (rc == OCR_OK) {
        int read = 0, table_lines = 0, doc_lines = 0, table_doc_lines = 0;
        for (int i = 0; i < lp.n_blocks; i++)
            if (lp.blocks[i].type != LAY_FIGURE) {
                read += lp.blocks[i].n_lines;
                if (lp.blocks[i].type == LAY_TABLE) table_lines += lp.blocks[i].n_lines;
            }
        for (int i = 0; i < pg->n_blocks; i++) {
            doc_lines += pg->blocks[i].n_lines;
            if (!strcmp(pg->blocks[i].type, "table")) table_doc_lines += pg->blocks[i].n_lines;
            /* Every line read has a box and a confidence, the mean token
             * probability: in (0, 1]. */
            for (int k = 0; k < pg->blocks[i].n_lines; k++) {
                float c = pg->blocks[i].lines[k].confidence;
                CHECK(c > 0.0f && c <= 1.0f && pg->blocks[i].lines[k].has_box,
                      "block %d line %d: box, confidence %g", i, k, c);
            }
        }
        CHECK(doc_lines == read && read > 0, "every line read is a line of its block: %d of %d", doc_lines, read);
        CHECK(table_lines >= 9 && table_doc_lines == table_lines, "table lines: %d of %d", table_doc_lines,
              table_lines);
        char *js = NULL, *hocr = NULL;
        pipe_doc_render(&d, PIPE_FMT_JSON, &js, NULL, &e);
        pipe_doc_render(&d, PIPE_FMT_HOCR, &hocr, NULL, &e);
        if (getenv("VLOCR_ASSEMBLE_DUMP") && js) fprintf(stderr, "%s", js);
        pipe_box *lb = calloc((size_t)read + 1, sizeof *lb);
        int nl = 0;
        char why[256] = "";
        CHECK(lb && json_lines(js, lb, read, &nl, why, sizeof why) && nl > 0 && nl <= read,
              "JSON lines inside their blocks (%d): %s", nl, why);
        CHECK(lb && hocr && hocr_lines_are(hocr, lb, nl, why, sizeof why), "hOCR line bboxes = line boxes: %s",
              why);
        free(lb);
        free(js);
        free(hocr);
    }
    /* The crop-by-crop path gives the same blocks. */
    pipe_nano_destroy(&n);
    p.batch = false;
    if (CHECK(pipe_nano_create(&n, dir, &p, &e) == OCR_OK, "load: %s", e.msg)) {
        pipe_page pg2;
        memset(&pg2, 0, sizeof pg2);
        CHECK(pipe_nano_page(n, pix, &pg2, &e) == OCR_OK && pg2.n_blocks == pg->n_blocks,
              "crop by crop: %d blocks", pg2.n_blocks);
        for (int i = 0; i < pg2.n_blocks && i < pg->n_blocks; i++) {
            CHECK(!strcmp(pg2.blocks[i].type, pg->blocks[i].type), "block %d type", i);
            /* The same greedy reads give the same confidences (the batched
             * decoder sums in another order: float tolerance). */
            for (int k = 0; k < pg2.blocks[i].n_lines && k < pg->blocks[i].n_lines; k++) {
                float a = pg->blocks[i].lines[k].confidence, b = pg2.blocks[i].lines[k].confidence;
                CHECK(fabsf(a - b) <= 2e-3f, "block %d line %d: confidence %g batched, %g crop by crop", i, k,
                      a, b);
            }
        }
        pipe_page_free(&pg2);
    }
    lay_page_free(&lp);
    lay_clean_result_free(&cl);
    pipe_doc_free(&d);
    pixDestroy(&pix);
    pipe_nano_destroy(&n);
}

/* The shipped recogniser, or NULL after a SKIP (no model) or a failed
 * load (a failed check). */
static vis_nano_recog *nano_or_skip(const char *what)
{
    struct stat sb;
    if (stat("models/vlocr-nano/model.safetensors", &sb) != 0) {
        tst_skip(what, "models/vlocr-nano/model.safetensors not found");
        return NULL;
    }
    vis_nano_recog *r = NULL;
    ocr_err e = {0};
    CHECK(vis_nano_recog_load(&r, "models/vlocr-nano", &e) == OCR_OK, "load: %s", e.msg);
    return r;
}

/* The confidence means something: a clean typeset line reads with a
 * higher mean token probability than a crop of random specks, and a crop
 * without ink reads as nothing (-1). */
static void test_nano_confidence(void)
{
    vis_nano_recog *r = nano_or_skip("nano confidence");
    if (!r) return;
    ocr_err e = {0};
    enum { W = 520, H = 40 };
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_A8, W, H);
    cairo_t *cr = cairo_create(sf);
    ocr_text_lock();
    typeset(cr, 6, 6, W - 12, 22, false, "Results of the second survey are given below.");
    ocr_text_unlock();
    cairo_surface_flush(sf);
    uint8_t *clean = malloc((size_t)W * H), *noise = malloc((size_t)W * H), *blank = malloc((size_t)W * H);
    const unsigned char *a = cairo_image_surface_get_data(sf);
    int st = cairo_image_surface_get_stride(sf);
    ocr_rng rng;
    ocr_rng_seed(&rng, 11);
    for (int y = 0; clean && noise && blank && y < H; y++)
        for (int x = 0; x < W; x++) {
            clean[y * W + x] = (uint8_t)(255 - a[y * st + x]);
            noise[y * W + x] = ocr_rng_uniform(&rng) < 0.12 ? 0 : 255;
            blank[y * W + x] = 250;
        }
    float cc = -2, cn = -2, cb = -2;
    char *tc = NULL, *tn = NULL, *tb = NULL;
    CHECK(clean && vis_nano_recognize(r, clean, W, H, W, false, &tc, &cc, &e) == OCR_OK, "clean: %s", e.msg);
    CHECK(noise && vis_nano_recognize(r, noise, W, H, W, false, &tn, &cn, &e) == OCR_OK, "noise: %s", e.msg);
    CHECK(blank && vis_nano_recognize(r, blank, W, H, W, false, &tb, &cb, &e) == OCR_OK, "blank: %s", e.msg);
    CHECK(cc > 0.8f && cc <= 1.0f, "clean line '%s': confidence %g", tc ? tc : "", cc);
    CHECK(cn >= 0.0f && cn < cc - 0.1f, "noise '%s': confidence %g, clean %g", tn ? tn : "", cn, cc);
    CHECK(tb && !tb[0] && cb == -1.0f, "blank: '%s', confidence %g", tb ? tb : "", cb);
    /* The batched reader reports the same. */
    vis_nano_crop crops[2] = {{clean, W, H, W}, {noise, W, H, W}};
    char *texts[2] = {NULL, NULL};
    float confs[2] = {-2, -2};
    CHECK(clean && noise && vis_nano_recognize_many(r, crops, 2, false, 2, texts, confs, NULL, &e) == OCR_OK,
          "many: %s", e.msg);
    CHECK(fabsf(confs[0] - cc) < 2e-3f && fabsf(confs[1] - cn) < 2e-3f, "many: %g %g vs %g %g", confs[0],
          confs[1], cc, cn);
    free(texts[0]);
    free(texts[1]);
    free(tc);
    free(tn);
    free(tb);
    free(clean);
    free(noise);
    free(blank);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    vis_nano_recog_destroy(&r);
}

/* Words in their place: a line several times the model's width is read in
 * pieces cut at word gaps, so no word comes back split in two (a cut
 * between letters used to read "unfortu nate"), and no space is lost. */
static void test_nano_long_line(void)
{
    vis_nano_recog *r = nano_or_skip("nano long line");
    if (!r) return;
    ocr_err e = {0};
    static const char *const line =
        "The committee reported that maintenance of the northern embankment was completed "
        "before winter, although several measurements remain unfortunately incomplete.";
    enum { W = 2200, H = 40 };
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_A8, W, H);
    cairo_t *cr = cairo_create(sf);
    ocr_text_lock();
    typeset(cr, 6, 6, W - 12, 22, false, line);
    ocr_text_unlock();
    cairo_surface_flush(sf);
    uint8_t *g = malloc((size_t)W * H);
    const unsigned char *a = cairo_image_surface_get_data(sf);
    int st = cairo_image_surface_get_stride(sf);
    for (int y = 0; g && y < H; y++)
        for (int x = 0; x < W; x++) g[y * W + x] = (uint8_t)(255 - a[y * st + x]);
    char *t = NULL;
    CHECK(g && vis_nano_recognize(r, g, W, H, W, false, &t, NULL, &e) == OCR_OK, "read: %s", e.msg);
    /* Words of the output found among the line's words, and counts. */
    int n_in = 0, n_out = 0, found = 0;
    for (const char *p = line; *p;) {
        while (*p == ' ') p++;
        if (*p) n_in++;
        while (*p && *p != ' ') p++;
    }
    for (char *p = t ? t : ""; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        char word[64];
        int k = 0;
        while (*p && *p != ' ') {
            if (k < 63) word[k++] = *p;
            p++;
        }
        word[k] = 0;
        n_out++;
        char pat[70];
        snprintf(pat, sizeof pat, " %s ", word);
        char padded[512];
        snprintf(padded, sizeof padded, " %s ", line);
        found += strstr(padded, pat) != NULL;
    }
    CHECK(n_out == n_in && found >= n_in - 2, "'%s': %d words (want %d), %d of them in the line", t ? t : "",
          n_out, n_in, found);
    int pieces = vis_nano_pieces(r, g, W, H, W, false, &e);
    CHECK(pieces >= 3, "the line is read in %d pieces (want >= 3)", pieces);
    /* Formulas: up to 1.5 × the model's width in one piece (scaled down),
     * wider ones cut. Ink 40 px high, bars with word-like gaps; at 64 px
     * the box (+30 % height, +0.6 height width) is 1.3 × and 2 × 512 px. */
    for (int k = 0; k < 2; k++) {
        const int bw = k == 0 ? 517 : 808, fw = bw + 60, fh = 80;
        uint8_t *f = malloc((size_t)fw * fh);
        for (int y = 0; f && y < fh; y++)
            for (int x = 0; x < fw; x++) {
                int xi = x - 30, in = xi >= 0 && xi < bw && y >= 20 && y < 60;
                f[y * fw + x] = in && (xi % 50 < 38 || xi == bw - 1) && xi % 6 < 4 ? 0 : 255;
            }
        int np = f ? vis_nano_pieces(r, f, fw, fh, fw, true, &e) : -1;
        CHECK(k == 0 ? np == 1 : np >= 2, "formula %.1f x the model's width: %d pieces", k == 0 ? 1.3 : 2.0, np);
        free(f);
    }
    free(t);
    free(g);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    vis_nano_recog_destroy(&r);
}

int main(void)
{
    img_lept_quiet();
    TST_RUN(test_join);
    TST_RUN(test_headings_paragraphs);
    TST_RUN(test_lists);
    TST_RUN(test_tables);
    TST_RUN(test_written_types);
    TST_RUN(test_formulas_figures_furniture);
    TST_RUN(test_lines);
    TST_RUN(test_nano_page);
    TST_RUN(test_nano_confidence);
    TST_RUN(test_nano_long_line);
    return tst_finish();
}

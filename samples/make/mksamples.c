/* samples/make/mksamples.c — typeset the sample pages of samples/ and write
 * their expected outputs from the same source text.
 *
 *   mksamples OUTDIR     (samples/make/make.sh builds and runs it)
 *
 * Each sample is a list of blocks (title, heading, paragraph, bullet,
 * display formula, table, page number). The same list is typeset with
 * pango/cairo (text) and TeX (latex + dvipng: display formulas, and inline
 * `$…$` spans placed in the text line as pango shapes) and written as
 * Markdown in the project's conventions (`#` headings, a paragraph a line,
 * `- ` lists, `$…$`/`$$…$$` math normalised by syn_latex_normalize, pipe
 * tables; page numbers left out as the Markdown writer does). The page is
 * then degraded like a printed scan with train/'s syn_degrade_apply (skew,
 * blur, noise, contrast; JPEG by the writer). Deterministic for one set of
 * fonts, TeX and libraries: every random draw comes from a fixed seed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairo.h>
#include <pango/pangocairo.h>

#include "train/syn.h"

#define DPI 150.0

static const char *g_out = "samples";
static ocr_err g_err;

static void die(const char *fmt, ...) OCR_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mksamples: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void check(ocr_status st, const char *what)
{
    if (st != OCR_OK) die("%s: %s", what, g_err.msg);
}

/* ------------------------------------------------------------------ TeX */

/* A formula rendered by TeX: an A8 ink mask and its depth below the
 * baseline, in pixels. */
typedef struct {
    cairo_surface_t *mask;
    int w, h, depth;
} tex_img;

static int tex_count;

/* Render `latex` (math content, no delimiters) at `pt` points and `dpi`. */
static tex_img tex_render(const char *latex, bool display, int pt, double dpi, int setup)
{
    char dir[] = "/tmp/mksamples-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp failed");
    char path[256];
    snprintf(path, sizeof path, "%s/f.tex", dir);
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write %s", path);
    fprintf(f, "\\documentclass[%dpt]{article}\n%s\n", pt, syn_tex_setups[setup].preamble);
    fprintf(f, "\\usepackage[active,tightpage]{preview}\\setlength{\\PreviewBorder}{0pt}\n");
    fprintf(f, "\\begin{document}\\begin{preview}$%s%s$\\end{preview}\\end{document}\n",
            display ? "\\displaystyle " : "", latex);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && latex -interaction=batchmode -no-shell-escape f.tex >/dev/null 2>&1 && "
             "dvipng -q -D %.0f --depth --height -bg White -z 1 -o f.png f.dvi >dvipng.out 2>&1",
             dir, dpi);
    if (system(cmd) != 0) die("latex/dvipng failed on '%s' (see %s)", latex, dir);
    snprintf(path, sizeof path, "%s/dvipng.out", dir);
    f = fopen(path, "r");
    char rep[4096] = {0};
    if (!f || fread(rep, 1, sizeof rep - 1, f) == 0) die("no dvipng report in %s", dir);
    fclose(f);
    const char *dp = strstr(rep, "depth=");
    if (!dp) die("no depth in %s/dvipng.out", dir);
    snprintf(path, sizeof path, "%s/f.png", dir);
    PIX *p = pixRead(path);
    if (!p) die("cannot read %s", path);
    PIX *g = pixConvertTo8(p, 0);
    pixDestroy(&p);
    tex_img t = {0};
    t.w = (int)pixGetWidth(g);
    t.h = (int)pixGetHeight(g);
    t.depth = atoi(dp + 6);
    t.mask = cairo_image_surface_create(CAIRO_FORMAT_A8, t.w, t.h);
    cairo_surface_flush(t.mask);
    unsigned char *d = cairo_image_surface_get_data(t.mask);
    int stride = cairo_image_surface_get_stride(t.mask);
    for (int y = 0; y < t.h; y++)
        for (int x = 0; x < t.w; x++) {
            l_uint32 v;
            pixGetPixel(g, x, y, &v);
            d[y * stride + x] = (unsigned char)(255 - v);
        }
    cairo_surface_mark_dirty(t.mask);
    pixDestroy(&g);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "mksamples: could not remove %s\n", dir);
    tex_count++;
    return t;
}

static void tex_paint(cairo_t *cr, const tex_img *t, double x, double y)
{
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_mask_surface(cr, t->mask, x, y);
}

/* Normalised LaTeX (the expected output), malloc'd. */
static char *norm(const char *latex)
{
    char *out = NULL;
    check(syn_latex_normalize(latex, &out, &g_err), "syn_latex_normalize");
    return out;
}

/* --------------------------------------------------------------- blocks */

typedef enum { B_TITLE, B_HEADING, B_PARA, B_BULLET, B_DISPLAY, B_TABLE, B_PAGENUM } bkind;

typedef struct {
    bkind k;
    const char *text;          /* text; for B_DISPLAY the LaTeX */
    const char *const *cells;  /* B_TABLE: rows*cols, row 0 the header */
    int rows, cols;
    bool booktabs;             /* B_TABLE: horizontal rules only */
} block;

typedef struct {
    const char *font;  /* pango family */
    double body_pt, title_pt, heading_pt;
    double leading;    /* baseline distance / font size */
    double gap;        /* space between blocks, in body lines */
    double indent;     /* first-line indent of paragraphs, px (0: none) */
    bool justify;
    int tex_setup;     /* index into syn_tex_setups: math matching the text face */
} style;

typedef struct {
    cairo_t *cr;
    PangoContext *ctx;
    const style *st;
} typesetter;

/* Shapes: the pango_cairo shape renderer paints inline formulas. */
static void shape_render(cairo_t *cr, PangoAttrShape *attr, gboolean do_path, gpointer data)
{
    (void)data;
    if (do_path || !attr->data) return;
    const tex_img *t = attr->data;
    double x, y;
    cairo_get_current_point(cr, &x, &y);
    tex_paint(cr, t, x, y - (t->h - t->depth));
}

/* A pango layout of `text` whose `$…$` spans are TeX images. */
static PangoLayout *make_layout(typesetter *T, const char *text, double pt, bool bold,
                                double width, bool justify, double indent)
{
    PangoLayout *L = pango_layout_new(T->ctx);
    PangoFontDescription *fd = pango_font_description_new();
    pango_font_description_set_family(fd, T->st->font); /* not parsed: "Roman" is a style word */
    pango_font_description_set_size(fd, (gint)(pt * PANGO_SCALE));
    if (bold) pango_font_description_set_weight(fd, PANGO_WEIGHT_BOLD);
    pango_layout_set_font_description(L, fd);
    pango_font_description_free(fd);
    pango_layout_set_width(L, (int)(width * PANGO_SCALE));
    pango_layout_set_wrap(L, PANGO_WRAP_WORD);
    pango_layout_set_justify(L, justify);
    pango_layout_set_indent(L, (int)(indent * PANGO_SCALE));
    pango_layout_set_spacing(L, 0);
    PangoAttrList *al = pango_attr_list_new();
    pango_attr_list_insert(al, pango_attr_insert_hyphens_new(FALSE));
    GString *s = g_string_new(NULL);
    for (const char *p = text; *p;) {
        const char *a = strchr(p, '$');
        if (!a) {
            g_string_append(s, p);
            break;
        }
        const char *b = strchr(a + 1, '$');
        if (!b) die("unbalanced $ in '%s'", text);
        g_string_append_len(s, p, a - p);
        char *math = g_strndup(a + 1, (gsize)(b - a - 1));
        tex_img *t = malloc(sizeof *t);
        if (!t) die("out of memory");
        *t = tex_render(math, false, (int)(pt + 0.5), DPI, T->st->tex_setup);
        g_free(math);
        PangoRectangle r = {0, -(t->h - t->depth) * PANGO_SCALE, t->w * PANGO_SCALE,
                            t->h * PANGO_SCALE};
        PangoAttribute *at = pango_attr_shape_new_with_data(&r, &r, t, NULL, NULL);
        at->start_index = (guint)s->len;
        g_string_append(s, "\xEF\xBF\xBC"); /* U+FFFC */
        at->end_index = (guint)s->len;
        pango_attr_list_insert(al, at);
        p = b + 1;
    }
    pango_layout_set_text(L, s->str, (int)s->len);
    pango_layout_set_attributes(L, al);
    pango_attr_list_unref(al);
    g_string_free(s, TRUE);
    return L;
}

static double line_px(const typesetter *T, double pt) { return pt * DPI / 72.0 * T->st->leading; }

static double show_layout(typesetter *T, PangoLayout *L, double x, double y, double pt)
{
    double lp = line_px(T, pt);
    pango_layout_set_spacing(L, 0);
    PangoLayoutIter *it = pango_layout_get_iter(L);
    int n = 0;
    double base0 = 0;
    do {
        PangoLayoutLine *ln = pango_layout_iter_get_line_readonly(it);
        PangoRectangle lr;
        pango_layout_iter_get_line_extents(it, NULL, &lr);
        double base = pango_layout_iter_get_baseline(it) / (double)PANGO_SCALE;
        if (n == 0) base0 = base;
        cairo_move_to(T->cr, x + lr.x / (double)PANGO_SCALE, y + base0 + n * lp);
        pango_cairo_show_layout_line(T->cr, ln);
        n++;
    } while (pango_layout_iter_next_line(it));
    pango_layout_iter_free(it);
    return n * lp;
}

static double text_width(typesetter *T, const char *text, double pt, bool bold)
{
    PangoLayout *L = make_layout(T, text, pt, bold, -1, false, 0);
    pango_layout_set_width(L, -1);
    int w, h;
    pango_layout_get_pixel_size(L, &w, &h);
    g_object_unref(L);
    return w;
}

static void rule(cairo_t *cr, double x0, double y0, double x1, double y1, double w)
{
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, w);
    cairo_move_to(cr, x0, y0);
    cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
}

/* A table: columns as wide as their widest cell plus padding, spread to
 * `width` when `fill`; returns its height. */
static double draw_table(typesetter *T, const block *b, double x, double y, double width, bool fill)
{
    double pt = T->st->body_pt, pad = pt * DPI / 72.0 * 0.8;
    double colw[16] = {0}, total = 0;
    for (int c = 0; c < b->cols; c++) {
        for (int r = 0; r < b->rows; r++) {
            double w = text_width(T, b->cells[r * b->cols + c], pt, r == 0) + 2 * pad;
            if (w > colw[c]) colw[c] = w;
        }
        total += colw[c];
    }
    bool numcol[16];
    for (int c = 0; c < b->cols; c++) {
        numcol[c] = c > 0;
        for (int r = 1; r < b->rows; r++) {
            char ch = b->cells[r * b->cols + c][0];
            if (!(ch >= '0' && ch <= '9')) numcol[c] = false;
        }
    }
    if (fill && total < width)
        for (int c = 0; c < b->cols; c++) colw[c] += (width - total) / b->cols;
    total = 0;
    for (int c = 0; c < b->cols; c++) total += colw[c];
    if (!fill && total < width) x += (width - total) / 2; /* centred at natural width */
    double rowh = line_px(T, pt) * 1.5, thick = b->booktabs ? 2.0 : 1.5, thin = 1.2;
    double yy = y;
    for (int r = 0; r < b->rows; r++) {
        double xx = x;
        for (int c = 0; c < b->cols; c++) {
            const char *t = b->cells[r * b->cols + c];
            PangoLayout *L = make_layout(T, t, pt, r == 0, -1, false, 0);
            pango_layout_set_width(L, -1);
            int w, h;
            pango_layout_get_pixel_size(L, &w, &h);
            double tx = numcol[c] ? xx + colw[c] - pad - w : xx + pad;
            cairo_set_source_rgb(T->cr, 0, 0, 0);
            cairo_move_to(T->cr, tx, yy + (rowh - h) / 2);
            pango_cairo_show_layout(T->cr, L);
            g_object_unref(L);
            xx += colw[c];
        }
        yy += rowh;
    }
    if (b->booktabs) {
        rule(T->cr, x, y, x + total, y, thick);
        rule(T->cr, x, y + rowh, x + total, y + rowh, thin);
        rule(T->cr, x, yy, x + total, yy, thick);
    } else {
        for (int r = 0; r <= b->rows; r++)
            rule(T->cr, x, y + r * rowh, x + total, y + r * rowh, r == 1 ? 2.5 : thick);
        double xx = x;
        for (int c = 0; c <= b->cols; c++) {
            rule(T->cr, xx, y, xx, yy, thick);
            if (c < b->cols) xx += colw[c];
        }
    }
    return yy - y;
}

/* Typeset blocks top to bottom in a column; returns the y after the last. */
static double flow(typesetter *T, const block *v, int n, double x, double y, double width)
{
    const style *st = T->st;
    double body = line_px(T, st->body_pt);
    for (int i = 0; i < n; i++) {
        const block *b = &v[i];
        if (i > 0 && !(b->k == B_BULLET && v[i - 1].k == B_BULLET)) y += st->gap * body;
        switch (b->k) {
        case B_TITLE:
        case B_HEADING: {
            double pt = b->k == B_TITLE ? st->title_pt : st->heading_pt;
            PangoLayout *L = make_layout(T, b->text, pt, true, width, false, 0);
            y += show_layout(T, L, x, y, pt);
            g_object_unref(L);
            break;
        }
        case B_PARA: {
            PangoLayout *L = make_layout(T, b->text, st->body_pt, false, width, st->justify,
                                         st->indent);
            y += show_layout(T, L, x, y, st->body_pt);
            g_object_unref(L);
            break;
        }
        case B_BULLET: {
            double ind = body * 1.2;
            PangoLayout *B = make_layout(T, "\xE2\x80\xA2", st->body_pt, false, -1, false, 0);
            show_layout(T, B, x + ind * 0.35, y, st->body_pt);
            g_object_unref(B);
            PangoLayout *L = make_layout(T, b->text, st->body_pt, false, width - ind, false, 0);
            y += show_layout(T, L, x + ind, y, st->body_pt);
            g_object_unref(L);
            break;
        }
        case B_DISPLAY: {
            tex_img t = tex_render(b->text, true, (int)(st->body_pt + 0.5), DPI, st->tex_setup);
            tex_paint(T->cr, &t, x + (width - t.w) / 2, y + body * 0.3);
            y += t.h + body * 0.6;
            cairo_surface_destroy(t.mask);
            break;
        }
        case B_TABLE:
            y += draw_table(T, b, x, y + body * 0.3, width, !b->booktabs) + body * 0.3;
            break;
        case B_PAGENUM: break; /* placed by the page */
        }
    }
    return y;
}

/* --------------------------------------------------------------- Markdown */

static void md_block(FILE *f, const block *b, bool *first, bool prev_bullet)
{
    if (b->k == B_PAGENUM) return;
    if (!*first) fputs(b->k == B_BULLET && prev_bullet ? "\n" : "\n\n", f);
    *first = false;
    switch (b->k) {
    case B_TITLE: fprintf(f, "# %s", b->text); break;
    case B_HEADING: fprintf(f, "## %s", b->text); break;
    case B_BULLET: fputs("- ", f); /* fall through */
    case B_PARA:
        for (const char *p = b->text; *p;) {
            const char *a = strchr(p, '$');
            if (!a) {
                fputs(p, f);
                break;
            }
            const char *e = strchr(a + 1, '$');
            fwrite(p, 1, (size_t)(a - p), f);
            char *m = g_strndup(a + 1, (gsize)(e - a - 1)), *nm = norm(m);
            fprintf(f, "$%s$", nm);
            free(nm);
            g_free(m);
            p = e + 1;
        }
        break;
    case B_DISPLAY: {
        char *nm = norm(b->text);
        fprintf(f, "$$\n%s\n$$", nm);
        free(nm);
        break;
    }
    case B_TABLE:
        for (int r = 0; r < b->rows; r++) {
            if (r) fputs("\n", f);
            for (int c = 0; c < b->cols; c++) fprintf(f, "| %s ", b->cells[r * b->cols + c]);
            fputs("|", f);
            if (r == 0) {
                fputs("\n", f);
                for (int c = 0; c < b->cols; c++) fputs("| --- ", f);
                fputs("|", f);
            }
        }
        break;
    case B_PAGENUM: break;
    }
}

static void write_md(const char *name, const block *const *lists, const int *ns, int nl)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_out, name);
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write %s", path);
    bool first = true, prev_bullet = false;
    for (int l = 0; l < nl; l++)
        for (int i = 0; i < ns[l]; i++) {
            md_block(f, &lists[l][i], &first, prev_bullet);
            if (lists[l][i].k != B_PAGENUM) prev_bullet = lists[l][i].k == B_BULLET;
        }
    fputs("\n", f);
    if (fclose(f) != 0) die("cannot write %s", path);
    printf("wrote %s\n", path);
}

/* ------------------------------------------------------------------ pages */

typedef struct {
    cairo_surface_t *surf;
    typesetter T;
    int w, h;
} canvas;

static void canvas_open(canvas *c, int w, int h, const style *st)
{
    c->w = w;
    c->h = h;
    c->surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    c->T.cr = cairo_create(c->surf);
    c->T.st = st;
    cairo_set_source_rgb(c->T.cr, 1, 1, 1);
    cairo_paint(c->T.cr);
    cairo_set_source_rgb(c->T.cr, 0, 0, 0);
    c->T.ctx = pango_cairo_create_context(c->T.cr);
    pango_cairo_context_set_resolution(c->T.ctx, DPI);
    pango_cairo_context_set_shape_renderer(c->T.ctx, shape_render, NULL, NULL);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    pango_cairo_context_set_font_options(c->T.ctx, fo);
    cairo_font_options_destroy(fo);
}

/* Degrade like a printed scan and write; quality 0 writes PNG. */
typedef struct {
    float rotate, blur, noise, levels, illum;
    int jpeg_q;
} scan;

static void canvas_close(canvas *c, const char *name, const scan *s, uint64_t seed)
{
    cairo_surface_flush(c->surf);
    PIX *pix = pixCreate(c->w, c->h, 8);
    const unsigned char *d = cairo_image_surface_get_data(c->surf);
    int stride = cairo_image_surface_get_stride(c->surf);
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            uint32_t v = *(const uint32_t *)(const void *)(d + y * stride + 4 * x);
            pixSetPixel(pix, x, y, (v >> 8) & 255);
        }
    g_object_unref(c->T.ctx);
    cairo_destroy(c->T.cr);
    cairo_surface_destroy(c->surf);
    syn_rng r;
    syn_rng_init(&r, 0x5a3b1e5ULL, seed);
    if (s->levels > 0) check(syn_degrade_apply(&pix, SYN_DG_LEVELS, s->levels, &r, &g_err), "levels");
    if (s->illum > 0)
        check(syn_degrade_apply(&pix, SYN_DG_ILLUMINATION, s->illum, &r, &g_err), "illumination");
    if (s->rotate != 0) check(syn_degrade_apply(&pix, SYN_DG_ROTATE, s->rotate, &r, &g_err), "rotate");
    if (s->blur > 0) check(syn_degrade_apply(&pix, SYN_DG_BLUR, s->blur, &r, &g_err), "blur");
    if (s->noise > 0) check(syn_degrade_apply(&pix, SYN_DG_NOISE, s->noise, &r, &g_err), "noise");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_out, name);
    int rc = s->jpeg_q > 0 ? pixWriteJpeg(path, pix, s->jpeg_q, 0) : pixWritePng(path, pix, 0);
    if (rc != 0) die("cannot write %s", path);
    pixDestroy(&pix);
    printf("wrote %s (%dx%d)\n", path, c->w, c->h);
}

/* ------------------------------------------------------------- samples */

static void page_number(canvas *c, const char *num, double y)
{
    PangoLayout *L = make_layout(&c->T, num, c->T.st->body_pt, false, -1, false, 0);
    int w, h;
    pango_layout_get_pixel_size(L, &w, &h);
    cairo_move_to(c->T.cr, (c->w - w) / 2.0, y);
    pango_cairo_show_layout(c->T.cr, L);
    g_object_unref(L);
}

/* 1. A one-column page: heading, two paragraphs, a list, a booktabs table. */
static void sample_page(void)
{
    static const char *const tab[] = {
        "Sample", "Pages", "Errors",
        "Invoices", "124", "3",
        "Letters", "87", "11",
    };
    static const block v[] = {
        {B_TITLE, "Notes on Reading Printed Pages", NULL, 0, 0, false},
        {B_PARA, "A scanner sees a page as a grid of grey dots. Before any word can be read, the "
                 "page is turned upright, its slight skew is measured and removed, and the "
                 "background is evened out so that faint print and dark paper do not confuse "
                 "the later steps. Only then are the lines of text found and cut out one by one.",
         NULL, 0, 0, false},
        {B_PARA, "Each line is read by a small neural network that looks at the whole line at "
                 "once and writes out its characters in order. The blocks of the page are then "
                 "put back together in reading order, with headings, lists and tables kept as "
                 "they were printed.",
         NULL, 0, 0, false},
        {B_BULLET, "Straighten the page and clean its background.", NULL, 0, 0, false},
        {B_BULLET, "Find the columns, blocks and lines of text.", NULL, 0, 0, false},
        {B_BULLET, "Read every line and join them into paragraphs.", NULL, 0, 0, false},
        {B_TABLE, NULL, tab, 3, 3, true},
        {B_PAGENUM, "7", NULL, 0, 0, false},
    };
    static const style st = {"TeX Gyre Termes", 12, 20, 14, 1.25, 1.0, 0, true, 2};
    canvas c;
    canvas_open(&c, 1240, 1754, &st);
    double margin = 150;
    flow(&c.T, v, (int)(sizeof v / sizeof v[0]), margin, 150, c.w - 2 * margin);
    page_number(&c, "7", c.h - 120);
    scan s = {0.6f, 0.6f, 7.0f, 0.12f, 0.08f, 72};
    canvas_close(&c, "page-scan.jpg", &s, 1);
    const block *lists[] = {v};
    int ns[] = {(int)(sizeof v / sizeof v[0])};
    write_md("page-scan.md", lists, ns, 1);
}

/* 2. A two-column article page with display and inline formulas. */
static void sample_two_column(void)
{
    static const block title[] = {
        {B_TITLE, "Smooth Functions and Their Fourier Transforms", NULL, 0, 0, false},
        {B_PARA, "Abstract. We recall how the smoothness of a function is reflected in the decay of its Fourier transform, and we prove an elementary identity for sums of squares that is used when counting lattice points near a circle. Both results are classical; the aim of this note is a short and self-contained account.", NULL, 0, 0, false},
    };
    static const block left[] = {
        {B_HEADING, "1 Introduction", NULL, 0, 0, false},
        {B_PARA, "The Fourier transform takes a function of time to a function of frequency. "
                 "For an integrable function on the real line it is defined by the integral",
         NULL, 0, 0, false},
        {B_DISPLAY, "\\hat{f}(\\xi)=\\int_{-\\infty}^{\\infty}f(x)e^{-2\\pi ix\\xi}\\,dx", NULL,
         0, 0, false},
        {B_PARA, "and the transform of a smooth function decays quickly. When the function has "
                 "compact support, its transform extends to an entire function of the complex "
                 "variable, and its growth along the imaginary axis is controlled by the size "
                 "of the support.",
         NULL, 0, 0, false},
        {B_PARA, "These two facts are the starting point of the theory of distributions, in "
                 "which smooth functions with compact support play the role of test functions.",
         NULL, 0, 0, false},
    };
    static const block right[] = {
        {B_HEADING, "2 A Simple Sum", NULL, 0, 0, false},
        {B_PARA, "Many estimates in the theory reduce to elementary sums. A point lies on the "
                 "circle of radius $r$ exactly when $x^2+y^2=r^2$, and counting lattice points "
                 "near such a circle leads to sums of squares, the simplest of which is",
         NULL, 0, 0, false},
        {B_DISPLAY, "\\sum_{k=1}^{n}k^2=\\frac{n(n+1)(2n+1)}{6}", NULL, 0, 0, false},
        {B_PARA, "which is proved by induction on the number of terms. The same method gives "
                 "the sums of cubes and of higher powers, each a polynomial in the number of "
                 "terms whose degree is one more than the power.",
         NULL, 0, 0, false},
        {B_PAGENUM, "3", NULL, 0, 0, false},
    };
    static const style st = {"TeX Gyre Termes", 11, 18, 13, 1.25, 0.9, 0, true, 2};
    canvas c;
    canvas_open(&c, 1240, 1754, &st);
    double margin = 120, gutter = 50, colw = (c.w - 2 * margin - gutter) / 2;
    double y = flow(&c.T, title, 2, margin, 140, c.w - 2 * margin);
    y += 60;
    flow(&c.T, left, (int)(sizeof left / sizeof left[0]), margin, y, colw);
    flow(&c.T, right, (int)(sizeof right / sizeof right[0]), margin + colw + gutter, y, colw);
    page_number(&c, "3", c.h - 120);
    scan s = {-0.4f, 0.55f, 6.0f, 0.1f, 0.06f, 75};
    canvas_close(&c, "two-column.jpg", &s, 2);
    const block *lists[] = {title, left, right};
    int ns[] = {2, (int)(sizeof left / sizeof left[0]), (int)(sizeof right / sizeof right[0])};
    write_md("two-column.md", lists, ns, 3);
}

/* 3. A display formula crop; expected output its normalised LaTeX. */
static void sample_formula(void)
{
    const char *src = "\\lim_{n\\to\\infty}\\left(1+\\frac1n\\right)^n=e=\\sum_{k=0}^\\infty\\frac{1}{k!}";
    double dpi = 200;
    tex_img t = tex_render(src, true, 12, dpi, 1);
    static const style st = {"Latin Modern Roman", 12, 12, 12, 1.2, 1, 0, false, 1};
    int pad = 24;
    canvas c;
    canvas_open(&c, t.w + 2 * pad, t.h + 2 * pad, &st);
    tex_paint(c.T.cr, &t, pad, pad);
    cairo_surface_destroy(t.mask);
    scan s = {0.3f, 0.5f, 4.0f, 0.08f, 0, 0};
    canvas_close(&c, "formula.png", &s, 3);
    char path[512];
    snprintf(path, sizeof path, "%s/formula.tex", g_out);
    FILE *f = fopen(path, "w");
    char *nm = norm(src);
    if (!f || fprintf(f, "%s\n", nm) < 0 || fclose(f) != 0) die("cannot write %s", path);
    free(nm);
    printf("wrote %s\n", path);
}

/* 4. A fully ruled 4x4 table with a bold header row, cropped with a margin. */
static void sample_table(void)
{
    static const char *const tab[] = {
        "Model", "Parameters", "Lines/s", "CER",
        "Tesseract 5", "n/a", "41", "4.8",
        "vlocr-nano", "5.6M", "230", "3.9",
        "DeepSeek-OCR", "3.3B", "6", "1.7",
    };
    static const block v[] = {
        {B_TABLE, NULL, tab, 4, 4, false},
    };
    static const style st = {"DejaVu Sans", 10, 10, 10, 1.25, 0.6, 0, false, 0};
    canvas c;
    canvas_open(&c, 1000, 240, &st);
    flow(&c.T, v, 1, 50, 22, 900);
    scan s = {0.25f, 0.5f, 4.0f, 0.08f, 0, 0};
    canvas_close(&c, "table.png", &s, 4);
    const block *lists[] = {v};
    int ns[] = {1};
    write_md("table.md", lists, ns, 1);
}

int main(int argc, char **argv)
{
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: mksamples [OUTDIR]   (default samples)\n");
        return 2;
    }
    if (argc == 2) g_out = argv[1];
    char why[512];
    if (!syn_tex_available(why, sizeof why)) die("%s", why);
    sample_page();
    sample_two_column();
    sample_formula();
    sample_table();
    printf("%d TeX renders\n", tex_count);
    return 0;
}

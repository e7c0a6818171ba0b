/* tests/test_pdf.c — PDF input: pages rendered through poppler + cairo at a
 * chosen DPI, through the same img_source path as images; limits and broken
 * files. The PDFs are drawn by cairo in the test. */
#include <cairo-pdf.h>
#include <cairo.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"
#include "tests/tst.h"

typedef struct {
    unsigned char *p;
    size_t n, cap;
} membuf;

static cairo_status_t mem_write(void *closure, const unsigned char *data, unsigned int len)
{
    membuf *b = closure;
    if (b->n + len > b->cap) {
        size_t cap = (b->n + len) * 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) return CAIRO_STATUS_NO_MEMORY;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

/* Two A4 pages (595x842 pt): page 1 has a black box at (100,100)-(200,150)
 * pt; page 2 is landscape-sized (842x595) with a box at its right edge. */
static membuf make_pdf(void)
{
    membuf b = {0};
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(mem_write, &b, 595, 842);
    cairo_t *c = cairo_create(s);
    cairo_set_source_rgb(c, 0, 0, 0);
    cairo_rectangle(c, 100, 100, 100, 50);
    cairo_fill(c);
    cairo_select_font_face(c, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(c, 24);
    cairo_move_to(c, 100, 300);
    cairo_show_text(c, "vlocr reads PDF pages");
    cairo_show_page(c);
    cairo_pdf_surface_set_size(s, 842, 595);
    cairo_rectangle(c, 742, 0, 100, 595);
    cairo_fill(c);
    cairo_show_page(c);
    cairo_destroy(c);
    cairo_surface_finish(s);
    cairo_surface_destroy(s);
    return b;
}

static int gray_at(PIX *pix, int x, int y)
{
    l_uint32 v = 0;
    pixGetPixel(pix, x, y, &v);
    l_int32 r, g, bl;
    extractRGBValues(v, &r, &g, &bl);
    return (r + g + bl) / 3;
}

static void test_render(void)
{
    membuf b = make_pdf();
    img_source src;
    ocr_err e = {0};
    img_limits lim = img_default_limits();
    TST_CHECK(lim.pdf_dpi == 200.0, "default DPI is 200");
    if (!TST_CHECK(img_source_from_memory(&src, b.p, b.n, "two.pdf", &lim, &e) == OCR_OK,
                   "open PDF: %s", e.msg)) {
        free(b.p);
        return;
    }
    TST_CHECK(src.format == IMG_FMT_PDF && src.n_pages == 2, "2 pages (%d)", src.n_pages);
    lim.pdf_dpi = 144; /* 2 px per pt */
    PIX *p = NULL;
    TST_CHECK(img_source_decode(&p, &src, 0, &lim, &e) == OCR_OK && p, "render page 1: %s", e.msg);
    if (p) {
        TST_CHECK(pixGetWidth(p) == 1190 && pixGetHeight(p) == 1684, "A4 at 144 dpi is 1190x1684 (%dx%d)",
                  pixGetWidth(p), pixGetHeight(p));
        TST_CHECK(gray_at(p, 300, 250) < 10, "box is black at its centre");
        TST_CHECK(gray_at(p, 100, 100) > 245, "paper is white");
        TST_CHECK(gray_at(p, 390, 250) < 10 && gray_at(p, 410, 250) > 245, "box edge at 200 pt = 400 px");
        l_int32 xr = 0, yr = 0;
        pixGetResolution(p, &xr, &yr);
        TST_CHECK(xr == 144 && yr == 144, "resolution recorded (%d)", xr);
        pixDestroy(&p);
    }
    lim.pdf_dpi = 72;
    TST_CHECK(img_source_decode(&p, &src, 1, &lim, &e) == OCR_OK && p, "render page 2: %s", e.msg);
    if (p) {
        TST_CHECK(pixGetWidth(p) == 842 && pixGetHeight(p) == 595, "page 2 own size (%dx%d)",
                  pixGetWidth(p), pixGetHeight(p));
        TST_CHECK(gray_at(p, 800, 300) < 10 && gray_at(p, 700, 300) > 245, "page 2 content");
        pixDestroy(&p);
    }
    TST_CHECK(img_source_decode(&p, &src, 2, &lim, &e) == OCR_E_ARG && strstr(e.msg, "two.pdf") && !p,
              "page out of range: %s", e.msg);
    lim.max_pixels = 1000000;
    lim.pdf_dpi = 200;
    TST_CHECK(img_source_decode(&p, &src, 0, &lim, &e) == OCR_E_LIMIT && strstr(e.msg, "two.pdf") &&
                  strstr(e.msg, "megapixel") && !p,
              "pixel limit applies before rendering: %s", e.msg);
    lim = img_default_limits();
    lim.pdf_dpi = 5;
    TST_CHECK(img_source_decode(&p, &src, 0, &lim, &e) == OCR_E_ARG && strstr(e.msg, "DPI"),
              "absurd DPI refused: %s", e.msg);
    img_source_free(&src);
    TST_CHECK(src.pdf == NULL, "free releases the document");

    /* Broken PDFs: every truncation opens-or-fails with the file's name,
     * never crashes; a garbage body fails. */
    int handled = 0, total = 0;
    for (size_t cut = 4; cut < b.n; cut += b.n / 23 + 1) {
        total++;
        ocr_status rc = img_source_from_memory(&src, b.p, cut, "cut.pdf", NULL, &e);
        if (rc == OCR_OK) {
            /* poppler repairs some cuts; rendering must then work or fail cleanly */
            PIX *q = NULL;
            lim = img_default_limits();
            lim.pdf_dpi = 36;
            ocr_status r2 = img_source_decode(&q, &src, 0, &lim, &e);
            if (r2 == OCR_OK ? q != NULL : strstr(e.msg, "cut.pdf") != NULL) handled++;
            pixDestroy(&q);
            img_source_free(&src);
        } else if (strstr(e.msg, "cut.pdf")) {
            handled++;
        }
    }
    TST_CHECK(handled == total, "truncated PDFs handled (%d/%d)", handled, total);
    const char junk[] = "%PDF-1.4\nthis is not a pdf body at all\n";
    TST_CHECK(img_source_from_memory(&src, junk, sizeof junk - 1, "junk.pdf", NULL, &e) == OCR_E_FORMAT &&
                  strstr(e.msg, "junk.pdf"),
              "garbage PDF refused: %s", e.msg);
    free(b.p);
}

int main(void)
{
    TST_RUN(test_render);
    return tst_finish();
}

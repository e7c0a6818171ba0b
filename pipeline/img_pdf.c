/* pipeline/img_pdf.c — PDF pages rendered to images through poppler-glib
 * and cairo.
 *
 * The page size is known before rendering, so the pixel limit is applied to
 * width x height at the requested DPI before any surface is allocated: a PDF
 * page declaring a 200 x 200 inch MediaBox is refused, not rendered. */
#include <cairo.h>
#include <math.h>
#include <poppler.h>
#include <string.h>

#include "pipeline/pipe.h"

struct img_pdf {
    PopplerDocument *doc;
    GBytes *bytes;
    char name[512];
};

ocr_status img_pdf_open(img_pdf **out, const void *data, size_t len, const char *name,
                        ocr_err *e)
{
    *out = NULL;
    img_pdf *p = g_new0(img_pdf, 1);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->bytes = g_bytes_new(data, len);
    GError *gerr = NULL;
    p->doc = poppler_document_new_from_bytes(p->bytes, NULL, &gerr);
    if (!p->doc) {
        ocr_status rc = ocr_err_set(e, OCR_E_FORMAT, "%s: cannot open PDF: %s", name,
                                    gerr && gerr->message ? gerr->message : "unknown error");
        if (gerr) g_error_free(gerr);
        img_pdf_close(&p);
        return rc;
    }
    if (poppler_document_get_n_pages(p->doc) < 1) {
        img_pdf_close(&p);
        return ocr_err_set(e, OCR_E_FORMAT, "%s: PDF has no pages", name);
    }
    *out = p;
    return OCR_OK;
}

int img_pdf_page_count(const img_pdf *p) { return poppler_document_get_n_pages(p->doc); }

ocr_status img_pdf_render(PIX **out, const img_pdf *p, int page, double dpi, const img_limits *lim,
                          ocr_err *e)
{
    *out = NULL;
    int n = img_pdf_page_count(p);
    if (page < 0 || page >= n)
        return ocr_err_set(e, OCR_E_ARG, "%s: page %d does not exist (the PDF has %d)", p->name,
                           page + 1, n);
    if (!(dpi >= 10 && dpi <= 2400))
        return ocr_err_set(e, OCR_E_ARG, "%s: DPI %g is outside 10..2400", p->name, dpi);
    PopplerPage *pg = poppler_document_get_page(p->doc, page);
    if (!pg) return ocr_err_set(e, OCR_E_FORMAT, "%s: page %d cannot be read", p->name, page + 1);
    double wpt = 0, hpt = 0;
    poppler_page_get_size(pg, &wpt, &hpt);
    double wf = ceil(wpt * dpi / 72.0), hf = ceil(hpt * dpi / 72.0);
    if (!(wf >= 1 && hf >= 1) || wf > 1e6 || hf > 1e6 ||
        wf * hf > (double)(lim ? lim->max_pixels : img_default_limits().max_pixels)) {
        g_object_unref(pg);
        return ocr_err_set(e, OCR_E_LIMIT,
                           "%s: page %d is %.0fx%.0f pixels at %g DPI, over the %.0f megapixel limit "
                           "(--max-pixels, --dpi)",
                           p->name, page + 1, wf, hf, dpi,
                           (double)(lim ? lim->max_pixels : img_default_limits().max_pixels) / 1e6);
    }
    int w = (int)wf, h = (int)hf;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        g_object_unref(pg);
        return ocr_err_set(e, OCR_E_NOMEM, "%s: page %d: cannot allocate %dx%d surface", p->name,
                           page + 1, w, h);
    }
    cairo_t *cr = cairo_create(s);
    /* PDF pages have no background of their own: paper is white. */
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, dpi / 72.0, dpi / 72.0);
    poppler_page_render_for_printing(pg, cr);
    cairo_destroy(cr);
    cairo_surface_flush(s);
    g_object_unref(pg);

    PIX *pix = pixCreate(w, h, 32);
    if (!pix) {
        cairo_surface_destroy(s);
        return ocr_err_set(e, OCR_E_NOMEM, "%s: page %d: out of memory", p->name, page + 1);
    }
    const unsigned char *src = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    l_uint32 *dst = pixGetData(pix);
    int wpl = pixGetWpl(pix);
    for (int y = 0; y < h; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(src + (size_t)y * (size_t)stride);
        for (int x = 0; x < w; x++) {
            uint32_t v = row[x]; /* cairo RGB24: 0x00RRGGBB in native order */
            composeRGBPixel((l_int32)((v >> 16) & 0xff), (l_int32)((v >> 8) & 0xff),
                            (l_int32)(v & 0xff), dst + (size_t)y * (size_t)wpl + x);
        }
    }
    cairo_surface_destroy(s);
    pixSetResolution(pix, (l_int32)lround(dpi), (l_int32)lround(dpi));
    *out = pix;
    return OCR_OK;
}

void img_pdf_close(img_pdf **pp)
{
    if (!pp || !*pp) return;
    img_pdf *p = *pp;
    if (p->doc) g_object_unref(p->doc);
    if (p->bytes) g_bytes_unref(p->bytes);
    g_free(p);
    *pp = NULL;
}

/* train/syn_sheet.c — samples to files, and contact sheets for people.
 *
 * A contact sheet shows each crop at its real size inside a thin grey
 * frame (so the crop's extent is visible) with its label printed under it:
 * the quickest way to see that labels match images and that fonts and
 * degradations vary as they should.
 */
#include <stdlib.h>
#include <string.h>

#include <pango/pangocairo.h>

#include "train/syn.h"

ocr_status syn_sample_to_pix(const syn_sample *s, PIX **out, ocr_err *e)
{
    *out = NULL;
    if (!s || !s->gray || s->w < 1 || s->h < 1)
        return ocr_err_set(e, OCR_E_ARG, "syn_sample_to_pix: empty sample");
    PIX *p = pixCreate(s->w, s->h, 8);
    if (!p) return ocr_err_set(e, OCR_E_NOMEM, "syn_sample_to_pix: %dx%d", s->w, s->h);
    l_uint32 *d = pixGetData(p);
    int wpl = pixGetWpl(p);
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++)
            SET_DATA_BYTE(d + (size_t)y * wpl, x, s->gray[(size_t)y * s->w + x]);
    *out = p;
    return OCR_OK;
}

ocr_status syn_sample_write(const syn_sample *s, const char *dir, const char *stem, ocr_err *e)
{
    PIX *p;
    ocr_status st = syn_sample_to_pix(s, &p, e);
    if (st != OCR_OK) return st;
    l_uint8 *png = NULL;
    size_t n = 0;
    int rc = pixWriteMem(&png, &n, p, IFF_PNG);
    pixDestroy(&p);
    if (rc != 0 || !png) return ocr_err_set(e, OCR_E_IO, "syn_sample_write: PNG encoding failed");
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.png", dir, stem);
    st = ocr_file_write_atomic(path, png, n, e);
    lept_free(png);
    if (st != OCR_OK) return st;
    snprintf(path, sizeof path, "%s/%s.txt", dir, stem);
    size_t tl = strlen(s->text ? s->text : "");
    char *t = malloc(tl + 2);
    if (!t) return ocr_err_set(e, OCR_E_NOMEM, "syn_sample_write: out of memory");
    memcpy(t, s->text ? s->text : "", tl);
    t[tl] = '\n';
    st = ocr_file_write_atomic(path, t, tl + 1, e);
    free(t);
    return st;
}

#define PAD 10
#define LABEL_H 16
#define LABEL_MIN_W 150

ocr_status syn_contact_sheet(PIX **out, const syn_sample *s, size_t n, int width, ocr_err *e)
{
    *out = NULL;
    if (!s || n == 0 || width < 64 || width > 20000)
        return ocr_err_set(e, OCR_E_ARG, "syn_contact_sheet: nothing to show or bad width %d", width);
    /* Shelf packing: samples left to right, a new row when one is full. */
    int *px = malloc(n * sizeof *px), *py = malloc(n * sizeof *py), *cw = malloc(n * sizeof *cw);
    if (!px || !py || !cw) {
        free(px);
        free(py);
        free(cw);
        return ocr_err_set(e, OCR_E_NOMEM, "syn_contact_sheet: out of memory");
    }
    int sx = PAD, sy = PAD, rowh = 0;
    for (size_t i = 0; i < n; i++) {
        int w = s[i].w < width - 2 * PAD ? s[i].w : width - 2 * PAD;
        int c = w > LABEL_MIN_W ? w : LABEL_MIN_W;
        if (c > width - 2 * PAD) c = width - 2 * PAD;
        if (sx > PAD && sx + c > width - PAD) {
            sx = PAD;
            sy += rowh + LABEL_H + PAD + 4;
            rowh = 0;
        }
        px[i] = sx;
        py[i] = sy;
        cw[i] = c;
        sx += c + 2 * PAD;
        if (s[i].h > rowh) rowh = s[i].h;
    }
    int H = sy + rowh + LABEL_H + PAD + 4;
    PIX *sheet = pixCreate(width, H, 8);
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_A8, width, H);
    if (!sheet || cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        if (sheet) pixDestroy(&sheet);
        cairo_surface_destroy(surf);
        free(px);
        free(py);
        free(cw);
        return ocr_err_set(e, OCR_E_NOMEM, "syn_contact_sheet: %dx%d", width, H);
    }
    pixSetAllArbitrary(sheet, 255);
    syn_text_lock();
    cairo_t *cr = cairo_create(surf);
    PangoFontMap *fm = pango_cairo_font_map_new();
    PangoContext *pc = pango_font_map_create_context(fm);
    PangoLayout *L = pango_layout_new(pc);
    PangoFontDescription *fd = pango_font_description_from_string("DejaVu Sans");
    pango_font_description_set_absolute_size(fd, 11 * PANGO_SCALE);
    pango_layout_set_font_description(L, fd);
    pango_font_description_free(fd);
    pango_layout_set_ellipsize(L, PANGO_ELLIPSIZE_END);
    pango_layout_set_single_paragraph_mode(L, TRUE);
    l_uint32 *d = pixGetData(sheet);
    int wpl = pixGetWpl(sheet);
    for (size_t i = 0; i < n; i++) {
        int cx = px[i], cy = py[i];
        int w = s[i].w < width - 2 * PAD ? s[i].w : width - 2 * PAD;
        for (int y = 0; y < s[i].h; y++)
            for (int x = 0; x < w; x++)
                SET_DATA_BYTE(d + (size_t)(cy + y) * wpl, cx + x, s[i].gray[(size_t)y * s[i].w + x]);
        /* Frame one pixel outside the crop. */
        for (int x = cx - 2; x < cx + w + 2; x++) {
            SET_DATA_BYTE(d + (size_t)(cy - 2) * wpl, x, 170);
            SET_DATA_BYTE(d + (size_t)(cy + s[i].h + 1) * wpl, x, 170);
        }
        for (int y = cy - 2; y < cy + s[i].h + 2; y++) {
            SET_DATA_BYTE(d + (size_t)y * wpl, cx - 2, 170);
            SET_DATA_BYTE(d + (size_t)y * wpl, cx + w + 1, 170);
        }
        pango_layout_set_width(L, cw[i] * PANGO_SCALE);
        pango_layout_set_text(L, s[i].text ? s[i].text : "", -1);
        cairo_move_to(cr, cx, cy + s[i].h + 3);
        pango_cairo_show_layout(cr, L);
    }
    g_object_unref(L);
    g_object_unref(pc);
    g_object_unref(fm);
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    syn_text_unlock();
    /* Labels in dark grey over the sheet. */
    const unsigned char *a = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < width; x++) {
            int al = a[(size_t)y * stride + x];
            if (!al) continue;
            int v = (int)GET_DATA_BYTE(d + (size_t)y * wpl, x);
            int lab = 255 - al * 200 / 255;
            if (lab < v) SET_DATA_BYTE(d + (size_t)y * wpl, x, lab);
        }
    cairo_surface_destroy(surf);
    free(px);
    free(py);
    free(cw);
    *out = sheet;
    return OCR_OK;
}

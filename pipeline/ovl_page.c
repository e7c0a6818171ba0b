/* pipeline/ovl_page.c — a page with its blocks drawn over it (cairo): each
 * box outlined in its type's colour with a light fill (titles with a wider
 * line, as the official script draws them) and numbered in reading order
 * (the order of the blocks). PNG. */
#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

typedef struct {
    const char *type;
    double r, g, b;
} type_colour;

static const type_colour colours[] = {
    {"title", 0.85, 0.10, 0.10},         {"sub_title", 0.90, 0.35, 0.10},
    {"text", 0.10, 0.35, 0.85},          {"table", 0.05, 0.60, 0.25},
    {"table_caption", 0.30, 0.65, 0.45}, {"image", 0.60, 0.20, 0.75},
    {"image_caption", 0.75, 0.45, 0.85}, {"equation", 0.95, 0.55, 0.00},
    {"formula", 0.95, 0.55, 0.00},       {"list", 0.00, 0.55, 0.60},
    {"header", 0.45, 0.45, 0.45},        {"footer", 0.45, 0.45, 0.45},
    {"page_number", 0.45, 0.45, 0.45},
};

/* Types we do not know get a colour from their name, stable across runs. */
static void colour_of(const char *type, double rgb[3])
{
    for (size_t i = 0; i < sizeof colours / sizeof colours[0]; i++)
        if (!strcmp(type, colours[i].type)) {
            rgb[0] = colours[i].r;
            rgb[1] = colours[i].g;
            rgb[2] = colours[i].b;
            return;
        }
    uint32_t h = 2166136261u;
    for (const char *p = type; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    for (int c = 0; c < 3; c++) rgb[c] = 0.15 + 0.6 * (double)((h >> (8 * c)) & 0xff) / 255.0;
}

typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} png_buf;

static cairo_status_t png_write(void *closure, const unsigned char *data, unsigned int len)
{
    png_buf *b = closure;
    if (b->n + len > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 65536;
        while (nc < b->n + len) nc *= 2;
        uint8_t *p = realloc(b->p, nc);
        if (!p) {
            b->oom = true;
            return CAIRO_STATUS_NO_MEMORY;
        }
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return CAIRO_STATUS_SUCCESS;
}

/* Each line's text at the line's position on the right panel (x offset w),
 * sized to the line's height and narrowed to fit the line's width. */
static void draw_text_panel(cairo_t *cr, const pipe_page *pg, int w)
{
    cairo_select_font_face(cr, "serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    for (int i = 0; i < pg->n_blocks; i++) {
        const pipe_block *b = &pg->blocks[i];
        double c[3];
        colour_of(b->type, c);
        for (int k = 0; k < b->n_lines; k++) {
            const pipe_line *l = &b->lines[k];
            if (!l->has_box || !l->text[0]) continue;
            double lw = l->box.x2 - l->box.x1, lh = l->box.y2 - l->box.y1;
            if (lw < 4 || lh < 4) continue;
            double size = 0.8 * lh;
            cairo_set_font_size(cr, size);
            cairo_text_extents_t te;
            cairo_text_extents(cr, l->text, &te);
            if (te.x_advance > lw && te.x_advance > 0) {
                size *= lw / te.x_advance;
                cairo_set_font_size(cr, size);
            }
            cairo_rectangle(cr, w + l->box.x1, l->box.y1, lw, lh);
            cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.10);
            cairo_fill(cr);
            cairo_move_to(cr, w + l->box.x1, l->box.y2 - 0.2 * lh);
            /* Uncertain lines in red when the recogniser reports confidence. */
            if (l->confidence >= 0 && l->confidence < 0.5) cairo_set_source_rgb(cr, 0.8, 0, 0);
            else cairo_set_source_rgb(cr, 0.05, 0.05, 0.1);
            cairo_show_text(cr, l->text);
        }
    }
}

ocr_status ovl_page_render(PIX *pix, const pipe_page *pg, uint8_t **png, size_t *len, ocr_err *e)
{
    *png = NULL;
    *len = 0;
    PIX *rgb = NULL;
    ocr_status rc = img_to_rgb32(&rgb, pix, e);
    if (rc != OCR_OK) return rc;
    int w = pixGetWidth(rgb), h = pixGetHeight(rgb);
    /* Recognised text goes on a second panel beside the page, each line at
     * its own height, so boxes and reading stay legible side by side. */
    bool panel = false;
    for (int i = 0; i < pg->n_blocks && !panel; i++)
        for (int k = 0; k < pg->blocks[i].n_lines && !panel; k++)
            panel = pg->blocks[i].lines[k].has_box && pg->blocks[i].lines[k].text[0];
    int cw = panel ? 2 * w : w;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cw, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        pixDestroy(&rgb);
        return ocr_err_set(e, OCR_E_NOMEM, "overlay: cannot allocate a %dx%d surface", w, h);
    }
    cairo_surface_flush(s);
    unsigned char *dst = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    const l_uint32 *src = pixGetData(rgb);
    int wpl = pixGetWpl(rgb);
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(void *)(dst + (size_t)y * (size_t)stride);
        const l_uint32 *sr = src + (size_t)y * (size_t)wpl;
        for (int x = 0; x < w; x++) {
            l_int32 r, g, b;
            extractRGBValues(sr[x], &r, &g, &b);
            row[x] = ((uint32_t)r << 16) | ((uint32_t)g << 8) | (uint32_t)b;
        }
    }
    pixDestroy(&rgb);
    cairo_surface_mark_dirty(s);

    cairo_t *cr = cairo_create(s);
    if (panel) {
        cairo_rectangle(cr, w, 0, w, h);
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_fill(cr);
    }
    ocr_text_lock();
    double scale = (w > h ? w : h) / 1000.0;
    if (scale < 1) scale = 1;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 12 * scale);
    for (int i = 0; i < pg->n_blocks; i++) {
        const pipe_block *b = &pg->blocks[i];
        double c[3];
        colour_of(b->type, c);
        bool title = !strcmp(b->type, "title");
        for (int k = 0; k < b->n_boxes; k++) {
            const pipe_box *x = &b->boxes[k];
            double bw = x->x2 - x->x1, bh = x->y2 - x->y1;
            cairo_rectangle(cr, x->x1, x->y1, bw, bh);
            cairo_set_source_rgba(cr, c[0], c[1], c[2], 0.12);
            cairo_fill_preserve(cr);
            cairo_set_source_rgb(cr, c[0], c[1], c[2]);
            cairo_set_line_width(cr, (title ? 4 : 2) * scale);
            cairo_stroke(cr);
            /* Reading-order number (and type) on a tab at the top left. */
            char label[96];
            snprintf(label, sizeof label, "%d %.60s", i + 1, b->type);
            cairo_text_extents_t te;
            cairo_text_extents(cr, label, &te);
            double pad = 2 * scale, tw = te.x_advance + 2 * pad, th = 14 * scale + 2 * pad;
            double tx = x->x1, ty = x->y1 - th;
            if (ty < 0) ty = x->y1;
            if (tx + tw > w) tx = w - tw;
            if (tx < 0) tx = 0;
            cairo_rectangle(cr, tx, ty, tw, th);
            cairo_set_source_rgb(cr, c[0], c[1], c[2]);
            cairo_fill(cr);
            cairo_move_to(cr, tx + pad, ty + pad + 11 * scale);
            cairo_set_source_rgb(cr, 1, 1, 1);
            cairo_show_text(cr, label);
        }
    }
    if (panel) draw_text_panel(cr, pg, w);
    ocr_text_unlock();
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    png_buf buf = {0};
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_write_to_png_stream(s, png_write, &buf);
    cairo_surface_destroy(s);
    if (cs != CAIRO_STATUS_SUCCESS || buf.oom) {
        free(buf.p);
        return ocr_err_set(e, buf.oom ? OCR_E_NOMEM : OCR_E_IO, "overlay: cairo: %s",
                           cairo_status_to_string(cs));
    }
    *png = buf.p;
    *len = buf.n;
    return OCR_OK;
}

ocr_status ovl_page_write(PIX *pix, const pipe_page *pg, const char *path, ocr_err *e)
{
    uint8_t *png = NULL;
    size_t n = 0;
    ocr_status rc = ovl_page_render(pix, pg, &png, &n, e);
    if (rc == OCR_OK) rc = ocr_file_write_atomic(path, png, n, e);
    free(png);
    return rc;
}

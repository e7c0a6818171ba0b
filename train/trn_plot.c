/* train/trn_plot.c — the learning curve of a run as a PNG (cairo): training
 * loss per log interval and validation CER, against samples seen, read
 * back from RUN/train.log. */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trn.h"

typedef struct {
    double *x, *y;
    int n, cap;
} series;

static int push(series *s, double x, double y)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *nx = realloc(s->x, sizeof(double) * (size_t)cap);
        if (!nx) return -1;
        s->x = nx;
        double *ny = realloc(s->y, sizeof(double) * (size_t)cap);
        if (!ny) return -1;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 0;
}

static void draw(cairo_t *cr, const series *s, double x0, double y0, double w, double h,
                 double xmax, double ylo, double yhi, bool logy, double r, double g, double b)
{
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 1.5);
    for (int i = 0; i < s->n; i++) {
        double yv = logy ? log10(fmax(s->y[i], 1e-4)) : s->y[i];
        double lo = logy ? log10(ylo) : ylo, hi = logy ? log10(yhi) : yhi;
        double px = x0 + w * s->x[i] / xmax, py = y0 + h * (1.0 - (yv - lo) / (hi - lo));
        if (py < y0) py = y0;
        if (py > y0 + h) py = y0 + h;
        if (i == 0) cairo_move_to(cr, px, py);
        else cairo_line_to(cr, px, py);
    }
    cairo_stroke(cr);
}

ocr_status trn_plot_log(const char *log_path, const char *png_path, const char *title, ocr_err *e)
{
    FILE *f = fopen(log_path, "r");
    if (!f) return ocr_err_set(e, OCR_E_IO, "%s: cannot open", log_path);
    series loss = {0}, cer = {0}, ctc = {0}, swap = {0};
    char line[4096];
    double seen = 0, last_seen_at_step = 0;
    long step_last = 0;
    while (fgets(line, sizeof line, f)) {
        long st;
        double l;
        const char *p;
        if (sscanf(line, "step %ld loss %lf", &st, &l) == 2 && (p = strstr(line, " seen "))) {
            seen = atof(p + 6);
            step_last = st;
            last_seen_at_step = seen;
            push(&loss, seen, l);
            if ((p = strstr(line, " ctc "))) push(&ctc, seen, atof(p + 5));
        } else if (sscanf(line, "val step %ld cer %lf", &st, &l) == 2) {
            /* samples seen at that step: interpolate from the last log line */
            double x = step_last > 0 ? last_seen_at_step * (double)st / (double)step_last : 0;
            push(&cer, x, l);
            /* the image-swap gap: validation loss with shuffled images − with its own */
            double a, b2;
            if ((p = strstr(line, ") loss ")) && sscanf(p, ") loss %lf swapped %lf", &a, &b2) == 2)
                push(&swap, x, b2 - a > 1e-3 ? b2 - a : 1e-3);
        }
    }
    fclose(f);
    const int W = 900, H = 560;
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(sf);
    ocr_text_lock(); /* cairo text is not thread-safe (core/ocr_textlock.c) */
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    const double x0 = 70, y0 = 40, w = W - 140, h = H - 100;
    double xmax = 1;
    for (int i = 0; i < loss.n; i++) xmax = fmax(xmax, loss.x[i]);
    cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
    cairo_set_line_width(cr, 1);
    for (int k = 0; k <= 4; k++) {
        cairo_move_to(cr, x0, y0 + h * k / 4);
        cairo_line_to(cr, x0 + w, y0 + h * k / 4);
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, x0, y0, w, h);
    cairo_stroke(cr);
    /* loss: log scale 0.01..10 on the left; CER: log 0.001..3 on the right */
    draw(cr, &loss, x0, y0, w, h, xmax, 0.01, 10, true, 0.1, 0.3, 0.8);
    draw(cr, &cer, x0, y0, w, h, xmax, 0.001, 3, true, 0.85, 0.2, 0.1);
    draw(cr, &ctc, x0, y0, w, h, xmax, 0.01, 10, true, 0.2, 0.65, 0.3);
    draw(cr, &swap, x0, y0, w, h, xmax, 0.01, 10, true, 0.6, 0.3, 0.7);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 13);
    char buf[256];
    for (int k = 0; k <= 4; k++) {
        double yl = pow(10, 1 - 3.0 * k / 4), yc = pow(10, log10(3) - (log10(3) + 3) * k / 4);
        cairo_set_source_rgb(cr, 0.1, 0.3, 0.8);
        snprintf(buf, sizeof buf, "%.3g", yl);
        cairo_move_to(cr, 8, y0 + h * k / 4 + 4);
        cairo_show_text(cr, buf);
        cairo_set_source_rgb(cr, 0.85, 0.2, 0.1);
        snprintf(buf, sizeof buf, "%.3g", yc);
        cairo_move_to(cr, x0 + w + 8, y0 + h * k / 4 + 4);
        cairo_show_text(cr, buf);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    for (int k = 0; k <= 4; k++) {
        snprintf(buf, sizeof buf, "%.0fk", xmax * k / 4 / 1000);
        cairo_move_to(cr, x0 + w * k / 4 - 12, y0 + h + 20);
        cairo_show_text(cr, buf);
    }
    cairo_move_to(cr, x0 + w / 2 - 60, y0 + h + 45);
    cairo_show_text(cr, "training samples seen");
    cairo_move_to(cr, x0, 25);
    snprintf(buf, sizeof buf, "%s — training loss (blue, left), validation CER on held-out fonts (red, right)",
             title ? title : "vlocr-nano");
    cairo_show_text(cr, buf);
    if (ctc.n || swap.n) {
        cairo_move_to(cr, x0, y0 + h + 45);
        cairo_set_source_rgb(cr, 0.2, 0.65, 0.3);
        cairo_show_text(cr, "CTC loss (green, left)");
        cairo_move_to(cr, x0 + w - 250, y0 + h + 45);
        cairo_set_source_rgb(cr, 0.6, 0.3, 0.7);
        cairo_show_text(cr, "image-swap loss gap (purple, left)");
    }
    ocr_text_unlock();
    cairo_destroy(cr);
    cairo_status_t cs = cairo_surface_write_to_png(sf, png_path);
    cairo_surface_destroy(sf);
    free(loss.x); free(loss.y); free(cer.x); free(cer.y);
    free(ctc.x); free(ctc.y); free(swap.x); free(swap.y);
    if (cs != CAIRO_STATUS_SUCCESS) return ocr_err_set(e, OCR_E_IO, "%s: cannot write the PNG", png_path);
    return OCR_OK;
}

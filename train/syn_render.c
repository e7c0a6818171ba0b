/* train/syn_render.c — draw a text line with pango/cairo onto a canvas.
 *
 * The canvas holds the line plus what a line segmenter's crop picks up
 * around it on a real page: parts of the lines above and below, rules of a
 * table, an underline. The caller gets the box of the line itself and cuts
 * the crop later, after the geometric distortion, so that neighbours and
 * rules enter the crop as fragments the way they do in real crops.
 *
 * Text is shaped directly with one PangoFont per face (HarfBuzz through
 * pango_shape: kerning, ligatures), not through PangoLayout: a layout looks
 * up a fontset per (face, size), and with hundreds of faces pango's fontset
 * cache thrashes and every miss is a fontconfig sort over all installed
 * fonts — half of the generator's time. Glyphs are shaped at one size and
 * drawn scaled (unhinted outlines scale exactly). Rendering is unhinted,
 * grey-antialiased, with unrounded positions: it must not depend on the
 * machine's fontconfig settings, and scans are not hinted either.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <pango/pangocairo.h>

#include "train/syn.h"

#define SHAPE_PX 64.0 /* the size glyphs are shaped at */

struct syn_renderer {
    PangoFontMap *fm;
    PangoContext *pc;
    PangoFont **fonts; /* per face of the inventory, loaded on first use */
    size_t n_fonts;
};

/* Every pango/cairo text call goes through the process-wide text lock
 * (core/ocr_textlock.c explains why); degradation, the larger share of a
 * sample's cost, runs outside it. */
void syn_text_lock(void) { ocr_text_lock(); }
void syn_text_unlock(void) { ocr_text_unlock(); }

ocr_status syn_renderer_create(syn_renderer **out, size_t n_faces, ocr_err *e)
{
    *out = NULL;
    syn_renderer *R = calloc(1, sizeof *R);
    if (R) R->fonts = calloc(n_faces ? n_faces : 1, sizeof *R->fonts);
    if (!R || !R->fonts) {
        free(R);
        return ocr_err_set(e, OCR_E_NOMEM, "syn_renderer_create: out of memory");
    }
    R->n_fonts = n_faces;
    syn_text_lock();
    /* A private font map per generator thread: pango objects are not
     * thread-safe. */
    R->fm = pango_cairo_font_map_new();
    R->pc = R->fm ? pango_font_map_create_context(R->fm) : NULL;
    if (R->pc) {
        cairo_font_options_t *fo = cairo_font_options_create();
        cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
        cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
        cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
        pango_cairo_context_set_font_options(R->pc, fo);
        cairo_font_options_destroy(fo);
        pango_cairo_context_set_resolution(R->pc, 72.0);
        pango_context_set_round_glyph_positions(R->pc, FALSE);
    }
    syn_text_unlock();
    if (!R->pc) {
        syn_renderer_destroy(&R);
        return ocr_err_set(e, OCR_E_UNSUPPORTED, "syn_renderer_create: no pango font map");
    }
    *out = R;
    return OCR_OK;
}

void syn_renderer_destroy(syn_renderer **pr)
{
    if (!pr || !*pr) return;
    syn_renderer *R = *pr;
    syn_text_lock();
    for (size_t i = 0; i < R->n_fonts; i++)
        if (R->fonts[i]) g_object_unref(R->fonts[i]);
    if (R->pc) g_object_unref(R->pc);
    if (R->fm) g_object_unref(R->fm);
    syn_text_unlock();
    free(R->fonts);
    free(R);
    *pr = NULL;
}

/* Called with the lock held. */
static PangoFont *face_font(syn_renderer *R, size_t face, const char *desc)
{
    if (face < R->n_fonts && R->fonts[face]) return R->fonts[face];
    PangoFontDescription *d = pango_font_description_from_string(desc);
    pango_font_description_set_absolute_size(d, SHAPE_PX * PANGO_SCALE);
    PangoFont *f = pango_font_map_load_font(R->fm, R->pc, d);
    pango_font_description_free(d);
    if (f && face < R->n_fonts) R->fonts[face] = f;
    return f;
}

/* A shaped run: glyphs at SHAPE_PX, in pango units. */
typedef struct {
    PangoGlyphString *gs;
    PangoRectangle ink, log; /* relative to the origin on the baseline */
} run;

static void shape(PangoFont *font, const char *text, size_t len, double spacing, run *r)
{
    PangoAnalysis a;
    memset(&a, 0, sizeof a);
    a.font = font;
    a.level = 0;
    a.gravity = PANGO_GRAVITY_SOUTH;
    a.script = PANGO_SCRIPT_LATIN;
    a.language = pango_language_from_string("en");
    r->gs = pango_glyph_string_new();
    pango_shape_with_flags(text, (int)len, text, (int)len, &a, r->gs, PANGO_SHAPE_NONE);
    if (spacing != 0) {
        /* Letter spacing: extra advance after every cluster but the last. */
        int add = (int)lround(spacing * SHAPE_PX * PANGO_SCALE);
        for (int i = 0; i + 1 < r->gs->num_glyphs; i++)
            if (r->gs->log_clusters[i + 1] != r->gs->log_clusters[i]) r->gs->glyphs[i].geometry.width += add;
    }
    pango_glyph_string_extents(r->gs, font, &r->ink, &r->log);
}

static void run_free(run *r)
{
    if (r->gs) pango_glyph_string_free(r->gs);
    r->gs = NULL;
}

/* The longest prefix of `text` that ends at a word boundary and whose
 * advance fits in `width` (pango units); at least the first word. Sets
 * *next to the start of the rest. */
static size_t cut_at_width(const char *text, size_t len, const run *r, double width, size_t *next)
{
    const PangoGlyphString *gs = r->gs;
    double x = 0;
    size_t best = 0;
    bool fits = true;
    for (int i = 0; i < gs->num_glyphs; i++) {
        size_t at = (size_t)gs->log_clusters[i];
        if (at < len && text[at] == ' ' && fits && at > 0) best = at;
        x += gs->glyphs[i].geometry.width;
        if (x > width) fits = false;
        if (!fits && best) break;
    }
    if (fits) best = len;
    if (best == 0) { /* one word wider than the line: take it whole */
        best = strcspn(text, " ");
        if (best > len) best = len;
    }
    size_t n = best;
    while (n > 0 && text[n - 1] == ' ') n--;
    size_t k = best;
    while (k < len && text[k] == ' ') k++;
    *next = k;
    return n;
}

static ocr_status render_line(syn_renderer *R, const syn_line_spec *s, syn_rng *r,
                              syn_line_render *out, ocr_err *e)
{
    PangoFont *font = face_font(R, s->face, s->desc);
    if (!font) return ocr_err_set(e, OCR_E_NOTFOUND, "syn_render_line: cannot load '%s'", s->desc);
    double k = s->px / SHAPE_PX / PANGO_SCALE; /* pango units at SHAPE_PX to pixels */
    double wmax = s->max_width / k;
    /* 1. Cut the candidate to the width, maybe with a hyphenated word. */
    size_t tl = strlen(s->text), next = 0;
    run full = {0};
    shape(font, s->text, tl, s->letter_spacing, &full);
    size_t n = cut_at_width(s->text, tl, &full, wmax, &next);
    run_free(&full);
    ocr_buf line = {0};
    ocr_buf_put(&line, s->text, n);
    run main_r = {0};
    shape(font, ocr_buf_cstr(&line), line.n, s->letter_spacing, &main_r);
    if (s->hyphenate && next < tl) {
        const char *w = s->text + next;
        size_t wl = strcspn(w, " ");
        size_t hp = syn_text_hyphen_point(r, w, wl);
        if (hp) {
            ocr_buf t = {0};
            ocr_buf_printf(&t, "%s %.*s-", ocr_buf_cstr(&line), (int)hp, w);
            run tr = {0};
            if (!t.oom) shape(font, t.p, t.n, s->letter_spacing, &tr);
            if (!t.oom && tr.ink.x + tr.ink.width <= wmax) {
                ocr_buf_free(&line);
                line = t;
                run_free(&main_r);
                main_r = tr;
            } else {
                ocr_buf_free(&t);
                run_free(&tr);
            }
        }
    }
    if (line.oom || line.n == 0 || main_r.ink.width <= 0) {
        run_free(&main_r);
        ocr_buf_free(&line);
        return ocr_err_set(e, line.oom ? OCR_E_NOMEM : OCR_E_ARG,
                           "syn_render_line: '%.40s' draws nothing", s->text);
    }
    /* 2. Canvas geometry, in pixels. */
    double ix0 = main_r.ink.x * k, iw = main_r.ink.width * k;
    double asc = -main_r.log.y * k, lh = main_r.log.height * k;
    double lead = s->leading * s->px;
    if (lead < lh * 0.8) lead = lh * 0.8;
    double top = s->above ? lead + 2 : lh * 0.6 + 2;
    double bot = s->below ? lead + 2 : lh * 0.6 + 2;
    double mx = s->margin_x;
    int W = (int)ceil(iw + 2 * mx), H = (int)ceil(top + lh + bot);
    if ((double)W * H > 40e6 || W < 1 || H < 1) {
        run_free(&main_r);
        ocr_buf_free(&line);
        return ocr_err_set(e, OCR_E_LIMIT, "syn_render_line: canvas %dx%d out of range", W, H);
    }
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_A8, W, H);
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgba(cr, 0, 0, 0, 1);
    double x0 = mx - ix0, base = top + asc, sc = s->px / SHAPE_PX;
    cairo_save(cr);
    cairo_translate(cr, x0, base);
    cairo_scale(cr, sc, sc);
    cairo_move_to(cr, 0, 0);
    pango_cairo_show_glyph_string(cr, font, main_r.gs);
    cairo_restore(cr);
    run_free(&main_r);
    /* Neighbours share the left margin of a paragraph, not the ink start. */
    const char *nb[2] = {s->above, s->below};
    for (int i = 0; i < 2; i++) {
        if (!nb[i] || !*nb[i]) continue;
        size_t nl = strlen(nb[i]), nn;
        run rr = {0};
        shape(font, nb[i], nl, s->letter_spacing, &rr);
        size_t m = cut_at_width(nb[i], nl, &rr, wmax * 1.2, &nn);
        run_free(&rr);
        if (m == 0) continue;
        shape(font, nb[i], m, s->letter_spacing, &rr);
        cairo_save(cr);
        cairo_translate(cr, x0 + s->neighbour_dx * s->px, base + (i ? lead : -lead));
        cairo_scale(cr, sc, sc);
        cairo_move_to(cr, 0, 0);
        pango_cairo_show_glyph_string(cr, font, rr.gs);
        cairo_restore(cr);
        run_free(&rr);
    }
    /* 3. Rules: an underline below the baseline, table rules around. */
    double bx0 = mx, bx1 = mx + iw, by0 = top, by1 = top + lh;
    if (s->rules) {
        double t = s->rule_px > 0.5 ? s->rule_px : 0.5;
        if (s->rules & SYN_RULE_UNDER) {
            double y = base + 0.12 * s->px + t / 2;
            double a = bx0 + (bx1 - bx0) * s->rule_pos[0], b = bx0 + (bx1 - bx0) * s->rule_pos[1];
            cairo_rectangle(cr, a, y, b - a, t);
        }
        if (s->rules & SYN_RULE_TOP) cairo_rectangle(cr, 0, by0 - s->rule_gap[0] * lh - t, W, t);
        if (s->rules & SYN_RULE_BOTTOM) cairo_rectangle(cr, 0, by1 + s->rule_gap[1] * lh, W, t);
        if (s->rules & SYN_RULE_LEFT) cairo_rectangle(cr, bx0 - s->rule_gap[2] * lh - t, 0, t, H);
        if (s->rules & SYN_RULE_RIGHT) cairo_rectangle(cr, bx1 + s->rule_gap[3] * lh, 0, t, H);
        cairo_fill(cr);
    }
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    /* 4. Coverage (alpha) to paper-white grey. */
    PIX *pix = pixCreate(W, H, 8);
    if (!pix || cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        if (pix) pixDestroy(&pix);
        cairo_surface_destroy(surf);
        ocr_buf_free(&line);
        return ocr_err_set(e, OCR_E_NOMEM, "syn_render_line: canvas %dx%d", W, H);
    }
    const unsigned char *src = cairo_image_surface_get_data(surf);
    int stride = cairo_image_surface_get_stride(surf);
    l_uint32 *data = pixGetData(pix);
    int wpl = pixGetWpl(pix);
    for (int y = 0; y < H; y++) {
        const unsigned char *a = src + (size_t)y * (size_t)stride;
        l_uint32 *d = data + (size_t)y * (size_t)wpl;
        for (int x = 0; x < W; x++) SET_DATA_BYTE(d, x, 255 - a[x]);
    }
    cairo_surface_destroy(surf);
    out->pix = pix;
    out->text = ocr_buf_steal(&line);
    out->box[0] = bx0;
    out->box[1] = by0;
    out->box[2] = bx1;
    out->box[3] = by1;
    out->baseline = base;
    out->line_h = lh;
    return OCR_OK;
}

ocr_status syn_render_line(syn_renderer *R, const syn_line_spec *s, syn_rng *r,
                           syn_line_render *out, ocr_err *e)
{
    memset(out, 0, sizeof *out);
    if (!R || !s->text || !*s->text || !s->desc || s->px < 2 || s->px > 400 || s->max_width < 4)
        return ocr_err_set(e, OCR_E_ARG, "syn_render_line: bad spec (px %.1f, width %.0f)",
                           s->px, s->max_width);
    syn_text_lock();
    ocr_status st = render_line(R, s, r, out, e);
    syn_text_unlock();
    return st;
}

void syn_line_render_free(syn_line_render *o)
{
    if (!o) return;
    if (o->pix) pixDestroy(&o->pix);
    free(o->text);
    memset(o, 0, sizeof *o);
}

double syn_render_line_height(syn_renderer *R, size_t face, const char *desc)
{
    syn_text_lock();
    PangoFont *f = face_font(R, face, desc);
    double v = 0;
    if (f) {
        run r = {0};
        shape(f, "Hxg", 3, 0, &r);
        v = (double)r.log.height / PANGO_SCALE / SHAPE_PX;
        run_free(&r);
    }
    syn_text_unlock();
    return v;
}

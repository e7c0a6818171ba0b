/* train/syn_gen.c — one generator: sample i of seed s, any kind.
 *
 * Every sample follows the same path: a clean render on a canvas at "scan
 * resolution" (a random multiple of the output height, which is how the
 * dpi varies), stroke weight, a geometric warp of the whole canvas (so the
 * crop picks up neighbours and rules as fragments, like a segmenter's crop
 * on a skewed page), the crop with jittered margins around the line box,
 * the photometric chain, and a resample to the fixed output height.
 *
 * All randomness comes from syn_rng_init(seed, index): the generator keeps
 * only caches whose content does not depend on what was drawn before.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/syn.h"

struct syn_gen {
    const syn_ctx *ctx;
    uint64_t seed;
    uint64_t next;
    syn_renderer *R;
    double *lh;  /* per face: logical line height per px of font size (0 = unknown) */
    size_t n_lh;
};

ocr_status syn_gen_create(syn_gen **out, const syn_ctx *ctx, uint64_t seed, ocr_err *e)
{
    *out = NULL;
    if (!ctx) return ocr_err_set(e, OCR_E_ARG, "syn_gen_create: no context");
    syn_gen *g = calloc(1, sizeof *g);
    if (!g) return ocr_err_set(e, OCR_E_NOMEM, "syn_gen_create: out of memory");
    g->ctx = ctx;
    g->seed = seed;
    const syn_fonts *f = syn_ctx_fonts(ctx);
    if (f) {
        ocr_status st = syn_renderer_create(&g->R, syn_fonts_n_faces(f), e);
        if (st != OCR_OK) {
            free(g);
            return st;
        }
        g->n_lh = syn_fonts_n_faces(f);
        g->lh = calloc(g->n_lh ? g->n_lh : 1, sizeof *g->lh);
        if (!g->lh) {
            syn_gen_destroy(&g);
            return ocr_err_set(e, OCR_E_NOMEM, "syn_gen_create: out of memory");
        }
    }
    *out = g;
    return OCR_OK;
}

void syn_gen_destroy(syn_gen **pg)
{
    if (!pg || !*pg) return;
    syn_renderer_destroy(&(*pg)->R);
    free((*pg)->lh);
    free(*pg);
    *pg = NULL;
}

void syn_sample_free(syn_sample *s)
{
    if (!s) return;
    free(s->gray);
    free(s->text);
    memset(s, 0, sizeof *s);
}

#define DRAW(f) syn_rng_range(r, (f).lo, (f).hi)

/* --------------------------------------------------------- shared finish */

typedef struct {
    int out_h, max_w;
    double fit; /* > 1: a crop up to fit × max_w wide is scaled down to max_w */
    bool clean;
    double scale; /* scan px per output px (approximately) */
    double mt, mb, ml, mr;
} finish_spec;

/* Warp, crop, degrade, resample. Takes ownership of *canvas. Returns
 * OCR_E_LIMIT when the result would be wider than max_w (caller retries),
 * unless fs->fit allows it to be scaled down to max_w: the sample is then
 * less than out_h high (training batches put it top-left on paper). */
static ocr_status finish(PIX **canvas, double box[4], const finish_spec *fs, syn_rng *r,
                         const syn_degrade_params *D, syn_sample *out, ocr_err *e)
{
    ocr_status st = OCR_OK;
    float strength = 0;
    double ink = 0, rot = 0, sh = 0, pe = 0;
    if (!fs->clean) {
        if (syn_rng_chance(r, D->ink_bleed.p)) ink = DRAW(D->ink_bleed);
        if (syn_rng_chance(r, D->rotate.p)) rot = DRAW(D->rotate);
        if (syn_rng_chance(r, D->shear.p)) sh = DRAW(D->shear);
        if (syn_rng_chance(r, D->perspective.p)) pe = DRAW(D->perspective);
    }
    {
        /* Cut the canvas down to what the crop can reach after the warp:
         * the morphology and the warp then touch only those pixels. */
        double bh0 = box[3] - box[1], bw0 = box[2] - box[0];
        double ang = (fabs(rot) + fabs(sh)) * 3.141592653589793 / 180;
        double sx = (fs->ml > fs->mr ? fs->ml : fs->mr) * bh0 + 0.3 * bh0 + 4;
        double sy = (fs->mt > fs->mb ? fs->mt : fs->mb) * bh0 + 0.5 * bw0 * sin(ang) +
                    2 * pe * bh0 + 0.3 * bh0 + 4;
        int W0 = pixGetWidth(*canvas), H0 = pixGetHeight(*canvas);
        int cx0 = (int)floor(box[0] - sx), cy0 = (int)floor(box[1] - sy);
        int cx1 = (int)ceil(box[2] + sx), cy1 = (int)ceil(box[3] + sy);
        if (cx0 < 0) cx0 = 0;
        if (cy0 < 0) cy0 = 0;
        if (cx1 > W0) cx1 = W0;
        if (cy1 > H0) cy1 = H0;
        if (cx1 - cx0 >= 2 && cy1 - cy0 >= 2 && (cx0 > 0 || cy0 > 0 || cx1 < W0 || cy1 < H0)) {
            BOX *pb = boxCreate(cx0, cy0, cx1 - cx0, cy1 - cy0);
            PIX *c = pb ? pixClipRectangle(*canvas, pb, NULL) : NULL;
            boxDestroy(&pb);
            if (!c) return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: crop failed");
            pixDestroy(canvas);
            *canvas = c;
            box[0] -= cx0;
            box[2] -= cx0;
            box[1] -= cy0;
            box[3] -= cy0;
        }
    }
    if (ink != 0) {
        st = syn_degrade_apply(canvas, SYN_DG_INK, (float)ink, r, e);
        strength += (float)fabs(ink) * 0.25f;
        if (st != OCR_OK) return st;
    }
    {
        if (rot != 0 || sh != 0 || pe != 0) {
            PIX *w = syn_degrade_warp(*canvas, rot, sh, pe, r, box);
            if (!w) return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: warp failed");
            pixDestroy(canvas);
            *canvas = w;
        }
    }
    int W = pixGetWidth(*canvas), H = pixGetHeight(*canvas);
    double bh = box[3] - box[1];
    int x0 = (int)floor(box[0] - fs->ml * bh), x1 = (int)ceil(box[2] + fs->mr * bh);
    int y0 = (int)floor(box[1] - fs->mt * bh), y1 = (int)ceil(box[3] + fs->mb * bh);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > W) x1 = W;
    if (y1 > H) y1 = H;
    if (x1 - x0 < 2 || y1 - y0 < 2) return ocr_err_set(e, OCR_E_LIMIT, "syn_gen: empty crop");
    int wd = (int)lround((double)(x1 - x0) * fs->out_h / (y1 - y0)), ht = fs->out_h;
    if (wd < 4) wd = 4;
    if (wd > fs->max_w) {
        if (wd > fs->max_w * fs->fit) return ocr_err_set(e, OCR_E_LIMIT, "syn_gen: crop too wide");
        ht = (int)lround((double)fs->out_h * fs->max_w / wd);
        wd = fs->max_w;
    }
    BOX *b = boxCreate(x0, y0, x1 - x0, y1 - y0);
    PIX *crop = b ? pixClipRectangle(*canvas, b, NULL) : NULL;
    boxDestroy(&b);
    pixDestroy(canvas);
    if (!crop) return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: crop failed");
    if (!fs->clean) {
        float s2 = 0;
        double scan = (double)(y1 - y0) / ht;
        st = syn_degrade_chain(&crop, D, scan, r, &s2, e);
        strength += s2;
        if (st != OCR_OK) {
            pixDestroy(&crop);
            return st;
        }
    }
    bool nearest = syn_rng_chance(r, D->p_nearest.p);
    PIX *fin = syn_resample(crop, wd, ht, nearest);
    pixDestroy(&crop);
    if (!fin) return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: resample failed");
    out->w = wd;
    out->h = ht;
    out->gray = malloc((size_t)wd * ht);
    if (!out->gray) {
        pixDestroy(&fin);
        return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: out of memory");
    }
    const l_uint32 *d = pixGetData(fin);
    int wpl = pixGetWpl(fin);
    for (int y = 0; y < ht; y++)
        for (int x = 0; x < wd; x++)
            out->gray[(size_t)y * wd + x] = (uint8_t)GET_DATA_BYTE(d + (size_t)y * wpl, x);
    pixDestroy(&fin);
    out->strength = strength > 1 ? 1 : strength;
    return OCR_OK;
}

/* ------------------------------------------------------------ text kinds */

static double face_lh(syn_gen *g, size_t face, const char *desc)
{
    if (face < g->n_lh && g->lh[face] > 0) return g->lh[face];
    double v = syn_render_line_height(g->R, face, desc);
    if (v < 0.5 || v > 4) v = 1.2;
    if (face < g->n_lh) g->lh[face] = v;
    return v;
}

/* Remove characters the face lacks (the label must be what is drawn). */
static void strip_uncovered(const syn_fonts *f, size_t face, ocr_buf *t)
{
    ocr_buf o = {0};
    size_t i = 0;
    while (i < t->n) {
        uint32_t cp;
        int k = syn_utf8_decode(t->p + i, t->n - i, &cp);
        if (k <= 0) {
            i++;
            continue;
        }
        if (syn_fonts_covers(f, face, cp)) ocr_buf_put(&o, t->p + i, (size_t)k);
        i += (size_t)k;
    }
    /* Collapse the double spaces a removal can leave. */
    ocr_buf c = {0};
    for (size_t j = 0; j < o.n; j++)
        if (!(o.p[j] == ' ' && (c.n == 0 || c.p[c.n - 1] == ' '))) ocr_buf_putc(&c, o.p[j]);
    while (c.n && c.p[c.n - 1] == ' ') ocr_buf_truncate(&c, c.n - 1);
    ocr_buf_free(&o);
    ocr_buf_free(t);
    *t = c;
}

static ocr_status gen_text(syn_gen *g, syn_rng *r, bool cell, syn_sample *out, ocr_err *e)
{
    const syn_params *P = syn_ctx_params(g->ctx);
    const syn_degrade_params *D = &P->dg;
    const syn_fonts *F = syn_ctx_fonts(g->ctx);
    const syn_corpus *C = syn_ctx_corpus(g->ctx);
    ocr_status st = OCR_E_LIMIT;
    for (int attempt = 0; attempt < 8; attempt++) {
        ocr_buf cand = {0};
        syn_text_info info;
        if (cell) syn_text_cell(r, C, &cand, &info);
        else syn_text_line(r, C, &cand, &info);
        size_t face = syn_fonts_pick(F, r);
        for (int t = 0; t < 4 && !syn_fonts_covers_text(F, face, ocr_buf_cstr(&cand)); t++)
            face = syn_fonts_pick(F, r);
        if (!syn_fonts_covers_text(F, face, ocr_buf_cstr(&cand))) strip_uncovered(F, face, &cand);
        if (cand.oom) {
            ocr_buf_free(&cand);
            return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: out of memory");
        }
        if (!syn_text_printable(ocr_buf_cstr(&cand))) {
            ocr_buf_free(&cand);
            continue;
        }
        const syn_face *sf = syn_fonts_face(F, face);
        finish_spec fs = {0};
        fs.out_h = P->height_text;
        fs.max_w = P->max_width_text;
        fs.clean = syn_rng_chance(r, D->p_clean);
        fs.scale = syn_rng_logrange(r, D->scale.lo, D->scale.hi);
        fs.mt = DRAW(D->crop_v);
        fs.mb = DRAW(D->crop_v);
        fs.ml = DRAW(D->crop_h);
        fs.mr = DRAW(D->crop_h);
        if (cell) { /* cells are padded by the table, not cut by a segmenter */
            fs.mt += syn_rng_range(r, 0.05, 0.45);
            fs.mb += syn_rng_range(r, 0.05, 0.45);
        }
        double ratio = face_lh(g, face, sf->desc);
        double line_h = fs.out_h * fs.scale / (1 + fs.mt + fs.mb);
        syn_line_spec sp = {0};
        sp.text = ocr_buf_cstr(&cand);
        sp.face = face;
        sp.desc = sf->desc;
        sp.px = line_h / ratio;
        if (sp.px < 4) sp.px = 4;
        double u = cell ? 1 : syn_rng_chance(r, 0.6) ? syn_rng_range(r, 0.75, 1.0)
                                                     : syn_rng_range(r, 0.12, 0.75);
        double full = (double)fs.max_w * fs.out_h * fs.scale / fs.out_h -
                      (fs.ml + fs.mr) * line_h;
        sp.max_width = u * full * (1 - 0.1 * attempt);
        if (sp.max_width < 2 * sp.px) sp.max_width = 2 * sp.px;
        if (syn_rng_chance(r, 0.12)) sp.letter_spacing = syn_rng_range(r, -0.03, 0.15);
        sp.hyphenate = info.hyphenate && syn_rng_chance(r, 0.12);
        ocr_buf above = {0}, below = {0};
        if (!cell && !fs.clean && syn_rng_chance(r, D->neighbours.p)) {
            int src = syn_rng_below(r, SYN_N_TEXT_SRC);
            if (syn_rng_chance(r, 0.8)) syn_text_snippet(r, C, src, 10, 300, false, &above);
            if (syn_rng_chance(r, 0.8)) syn_text_snippet(r, C, src, 10, 300, false, &below);
            if (above.n && syn_fonts_covers_text(F, face, above.p)) sp.above = above.p;
            if (below.n && syn_fonts_covers_text(F, face, below.p)) sp.below = below.p;
            sp.leading = DRAW(D->neighbours) * ratio;
            sp.neighbour_dx = syn_rng_chance(r, 0.3) ? syn_rng_range(r, -2, 2) : 0;
        }
        if (syn_rng_chance(r, cell ? 0.55 : D->rules.p)) {
            if (cell) {
                for (int b = 1; b < 5; b++)
                    if (syn_rng_chance(r, 0.5)) sp.rules |= 1 << b;
            } else {
                sp.rules = syn_rng_chance(r, 0.5) ? SYN_RULE_UNDER
                                                  : syn_rng_chance(r, 0.5) ? SYN_RULE_TOP : SYN_RULE_BOTTOM;
            }
            sp.rule_px = DRAW(D->rules) * fs.scale;
            for (int k = 0; k < 4; k++) sp.rule_gap[k] = syn_rng_range(r, 0.02, 0.5);
            sp.rule_pos[0] = syn_rng_chance(r, 0.5) ? 0 : syn_rng_range(r, 0, 0.6);
            sp.rule_pos[1] = syn_rng_chance(r, 0.5) ? 1 : syn_rng_range(r, sp.rule_pos[0] + 0.1, 1);
        }
        double mmax = fs.ml > fs.mr ? fs.ml : fs.mr;
        sp.margin_x = (mmax + 0.7) * line_h + sp.rule_px + 2;
        syn_line_render lr;
        st = syn_render_line(g->R, &sp, r, &lr, e);
        ocr_buf_free(&above);
        ocr_buf_free(&below);
        ocr_buf_free(&cand);
        if (st == OCR_E_ARG) continue; /* nothing drawable: draw new content */
        if (st != OCR_OK) return st;
        if (!syn_text_printable(lr.text)) {
            syn_line_render_free(&lr);
            st = OCR_E_LIMIT;
            continue;
        }
        st = finish(&lr.pix, lr.box, &fs, r, D, out, e);
        if (st == OCR_OK) {
            out->text = lr.text;
            lr.text = NULL;
            snprintf(out->font, sizeof out->font, "%.200s %.1fpx%s", sf->desc, sp.px,
                     sp.letter_spacing != 0 ? " spaced" : "");
        }
        syn_line_render_free(&lr);
        if (st != OCR_E_LIMIT) return st;
    }
    return ocr_err_set(e, OCR_E_LIMIT, "syn_gen: no %s sample fit in %d px after 8 tries",
                       cell ? "cell" : "line", P->max_width_text);
}

/* ------------------------------------------------------------ math kinds */

/* Min of two grey images, the second pasted at (dx, dy). */
static void paste_min(PIX *dst, const uint8_t *g, int w, int h, int dx, int dy)
{
    int W = pixGetWidth(dst), H = pixGetHeight(dst), wpl = pixGetWpl(dst);
    l_uint32 *d = pixGetData(dst);
    for (int y = 0; y < h; y++) {
        int yy = y + dy;
        if (yy < 0 || yy >= H) continue;
        l_uint32 *dl = d + (size_t)yy * wpl;
        for (int x = 0; x < w; x++) {
            int xx = x + dx;
            if (xx < 0 || xx >= W) continue;
            int v = g[(size_t)y * w + x];
            if (v < (int)GET_DATA_BYTE(dl, xx)) SET_DATA_BYTE(dl, xx, v);
        }
    }
}

static ocr_status gen_math(syn_gen *g, syn_rng *r, syn_kind kind, syn_sample *out, ocr_err *e)
{
    const syn_params *P = syn_ctx_params(g->ctx);
    const syn_degrade_params *D = &P->dg;
    const syn_bank *B = syn_ctx_bank(g->ctx);
    size_t n = B ? syn_bank_count(B, kind) : 0;
    if (n == 0)
        return ocr_err_set(e, OCR_E_NOTFOUND, "syn_gen: the formula bank has no %s entries",
                           syn_kind_name(kind));
    int out_h = kind == SYN_KIND_FORMULA ? P->height_formula : P->height_inline;
    ocr_status st = OCR_E_LIMIT;
    for (int attempt = 0; attempt < 12; attempt++) {
        syn_bank_entry ent;
        uint8_t *gray = NULL;
        st = syn_bank_get(B, kind, (size_t)syn_rng_next(r) % n, &ent, &gray, e);
        if (st != OCR_OK) return st;
        finish_spec fs = {0};
        fs.out_h = out_h;
        fs.max_w = P->max_width_math;
        /* Display formulas wider than the model are read scaled down to
         * its width (vision/vis_nano_recog.c), so they are trained so. */
        fs.fit = kind == SYN_KIND_FORMULA ? P->fit_math : 1.0;
        fs.clean = syn_rng_chance(r, D->p_clean);
        fs.scale = syn_rng_logrange(r, D->scale.lo, D->scale.hi);
        fs.mt = DRAW(D->crop_v);
        fs.mb = DRAW(D->crop_v);
        fs.ml = DRAW(D->crop_h);
        fs.mr = DRAW(D->crop_h);
        /* The line box: the TeX box, at least a strut (0.7/0.3 of a 12 pt
         * baselineskip around the baseline), so that `x+y` is not blown
         * up to the full height. */
        double em = ent.dpi * 10.0 / 72.27;
        double top = 0, bot = ent.h;
        if (ent.baseline - 0.84 * em < top) top = ent.baseline - 0.84 * em;
        if (ent.baseline + 0.36 * em > bot) bot = ent.baseline + 0.36 * em;
        double bh = bot - top;
        /* Fast reject before any pixel work. */
        double est_w = (ent.w + (fs.ml + fs.mr) * bh) * out_h / (bh * (1 + fs.mt + fs.mb));
        if (est_w > fs.max_w * fs.fit) {
            free(gray);
            st = OCR_E_LIMIT;
            continue;
        }
        /* Canvas at bank resolution with room for what the crop can reach:
         * its margins plus slack for the warp (a neighbour line beyond
         * that would never show, so it is not pasted). */
        double mx = (fs.ml > fs.mr ? fs.ml : fs.mr) * bh + 0.4 * bh + 4;
        double my = (fs.mt > fs.mb ? fs.mt : fs.mb) * bh + 0.5 * bh + 0.015 * ent.w + 4;
        bool nb = kind == SYN_KIND_INLINE && !fs.clean && syn_rng_chance(r, D->neighbours.p);
        int W = (int)ceil(ent.w + 2 * mx), H = (int)ceil(bh + 2 * my);
        PIX *canvas = pixCreate(W, H, 8);
        if (!canvas) {
            free(gray);
            return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: canvas %dx%d", W, H);
        }
        pixSetAllArbitrary(canvas, 255);
        int ox = (int)lround(mx), oy = (int)lround(my - top);
        paste_min(canvas, gray, ent.w, ent.h, ox, oy);
        if (nb) { /* neighbouring lines of the same paragraph */
            double lead = syn_rng_range(r, 1.1, 1.45) * 12.0 / 72.27 * ent.dpi;
            for (int k = 0; k < 2; k++) {
                if (!syn_rng_chance(r, 0.75)) continue;
                syn_bank_entry e2;
                uint8_t *g2 = NULL;
                if (syn_bank_get(B, kind, (size_t)syn_rng_next(r) % n, &e2, &g2, NULL) == OCR_OK &&
                    e2.setup == ent.setup) {
                    int dy = (int)lround(ent.baseline + (k ? lead : -lead)) - e2.baseline;
                    paste_min(canvas, g2, e2.w, e2.h, ox, oy + dy);
                }
                free(g2);
            }
        }
        free(gray);
        double box[4] = {ox, oy + top, ox + ent.w, oy + bot};
        /* Bring the canvas to scan resolution: the crop should be about
         * out_h * scale pixels high. */
        double k = out_h * fs.scale / (bh * (1 + fs.mt + fs.mb));
        if (fabs(k - 1) > 0.02) {
            int nw = (int)lround(W * k), nh = (int)lround(H * k);
            if (nw < 8 || nh < 8 || (double)nw * nh > 30e6) {
                pixDestroy(&canvas);
                st = OCR_E_LIMIT;
                continue;
            }
            PIX *s = syn_resample(canvas, nw, nh, false);
            pixDestroy(&canvas);
            if (!s) return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: resample failed");
            canvas = s;
            double kx = (double)nw / W, ky = (double)nh / H;
            box[0] *= kx;
            box[2] *= kx;
            box[1] *= ky;
            box[3] *= ky;
        }
        if (!fs.clean && syn_rng_chance(r, D->rules.p * 0.5)) {
            /* A rule under or over the formula: fraction-like strokes of
             * tables and boxed equations. */
            int t = (int)lround(DRAW(D->rules) * fs.scale);
            if (t < 1) t = 1;
            double bb = box[3] - box[1];
            int y = (int)lround(syn_rng_chance(r, 0.5) ? box[1] - syn_rng_range(r, 0.05, 0.4) * bb - t
                                                      : box[3] + syn_rng_range(r, 0.05, 0.4) * bb);
            BOX *rb = boxCreate(0, y, pixGetWidth(canvas), t);
            if (rb) {
                pixClearInRect(canvas, rb);
                boxDestroy(&rb);
            }
        }
        st = finish(&canvas, box, &fs, r, D, out, e);
        if (canvas) pixDestroy(&canvas);
        if (st == OCR_OK) {
            out->text = strdup(ent.text);
            if (!out->text) return ocr_err_set(e, OCR_E_NOMEM, "syn_gen: out of memory");
            snprintf(out->font, sizeof out->font, "tex:%s %ddpi x%.2f",
                     syn_tex_setups[ent.setup].name, ent.dpi, k);
            return OCR_OK;
        }
        if (st != OCR_E_LIMIT) return st;
    }
    return ocr_err_set(e, OCR_E_LIMIT, "syn_gen: no %s sample fit in %d px after 12 tries",
                       syn_kind_name(kind), P->max_width_math);
}

/* ----------------------------------------------------------------- public */

ocr_status syn_gen_sample(syn_gen *g, uint64_t index, syn_sample *out, ocr_err *e)
{
    memset(out, 0, sizeof *out);
    if (!g) return ocr_err_set(e, OCR_E_ARG, "syn_gen_sample: no generator");
    const syn_params *P = syn_ctx_params(g->ctx);
    syn_rng r;
    syn_rng_init(&r, g->seed, index);
    syn_kind kind = P->kind;
    if (kind == SYN_KIND_MIX) kind = (syn_kind)syn_rng_weighted(&r, P->mix, SYN_N_KINDS);
    out->kind = kind;
    out->index = index;
    ocr_status st;
    if (syn_kind_is_math(kind)) {
        st = gen_math(g, &r, kind, out, e);
    } else {
        if (!g->R) return ocr_err_set(e, OCR_E_ARG, "syn_gen_sample: context has no fonts");
        st = gen_text(g, &r, kind == SYN_KIND_CELL, out, e);
    }
    if (st != OCR_OK) {
        syn_sample_free(out);
        return ocr_err_prefix(e, "sample %llu", (unsigned long long)index);
    }
    out->kind = kind;
    out->index = index;
    return OCR_OK;
}

ocr_status syn_gen_next(syn_gen *g, syn_sample *out, ocr_err *e)
{
    if (!g) return ocr_err_set(e, OCR_E_ARG, "syn_gen_next: no generator");
    return syn_gen_sample(g, g->next++, out, e);
}

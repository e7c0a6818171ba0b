/* vision/vis_nano_recog.c — reading a crop with vlocr-nano: trim, scale,
 * cut long lines at blank columns, encode (vis_nano), decode greedily with
 * the shared decoder engine (language/lm_), detokenise.
 *
 * The crop geometry imitates what the model saw in training (train/syn_):
 * the line box plus a margin of a fraction of the line height on each side,
 * scaled to the model's fixed height with the aspect kept.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"
#include "language/tok.h"
#include "vision/vis.h"

struct vis_nano_recog {
    vis_nano *enc;
    lm_model *lm;
    lm_state *st;
    tok_tokenizer *tok;
    int max_new;
};

void vis_nano_recog_destroy(vis_nano_recog **pr)
{
    if (!pr || !*pr) return;
    vis_nano_recog *r = *pr;
    vis_nano_destroy(&r->enc);
    lm_state_destroy(&r->st);
    lm_model_destroy(&r->lm);
    tok_destroy(&r->tok);
    free(r);
    *pr = NULL;
}

ocr_status vis_nano_recog_load(vis_nano_recog **out, const char *dir, ocr_err *e)
{
    *out = NULL;
    vis_nano_recog *r = calloc(1, sizeof *r);
    if (!r) return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recog_load: out of memory");
    vis_nano_config c;
    ocr_status rc = vis_nano_config_load(&c, dir, e);
    if (rc == OCR_OK) rc = lm_model_load(&r->lm, dir, e);
    if (rc == OCR_OK) {
        ocr_st *st = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = ocr_st_open(&st, path, e);
        if (rc == OCR_OK) rc = vis_nano_create(&r->enc, &c, st, e);
        ocr_st_close(&st);
    }
    r->max_new = 256;
    /* Room for the tallest, widest crop plus the text. */
    int max_rows = (c.max_rows / c.merge) * (c.max_cols + 1);
    if (rc == OCR_OK) rc = lm_state_create(&r->st, r->lm, 2 + max_rows + r->max_new + 8, 0, e);
    if (rc == OCR_OK) rc = tok_load(&r->tok, dir, e);
    if (rc != OCR_OK) {
        vis_nano_recog_destroy(&r);
        return rc;
    }
    *out = r;
    return OCR_OK;
}

/* Decode one prepared ink image [H][W] (W multiple of 8). */
static ocr_status read_piece(vis_nano_recog *r, const float *ink, int H, int W, bool formula,
                             char **text, ocr_err *e)
{
    const vis_nano_config *c = vis_nano_cfg(r->enc);
    const int n_img = vis_nano_rows(r->enc, H, W), np = n_img + 2;
    float *rows = malloc(sizeof(float) * (size_t)n_img * c->d);
    int32_t *ids = calloc((size_t)np, sizeof(int32_t));
    uint8_t *mask = calloc((size_t)np, 1);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)r->max_new);
    ocr_status rc = OCR_OK;
    if (!rows || !ids || !mask || !out) rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    if (rc == OCR_OK) rc = vis_nano_encode(r->enc, ink, H, W, rows, e);
    lm_gen_result res;
    memset(&res, 0, sizeof res);
    if (rc == OCR_OK) {
        ids[0] = c->bos;
        for (int i = 1; i <= n_img; i++) mask[i] = 1;
        ids[np - 1] = formula ? c->tok_formula : c->tok_text;
        lm_gen_params gp = lm_gen_default_params();
        int32_t stop = c->eos;
        gp.max_new_tokens = r->max_new;
        gp.stop_ids = &stop;
        gp.n_stop = 1;
        gp.ngram_size = 0;
        rc = lm_generate(r->st, &gp, ids, mask, rows, n_img, np, out, r->max_new, NULL, &res, e);
    }
    if (rc == OCR_OK) {
        int n = res.n_tokens;
        if (n > 0 && out[n - 1] == c->eos) n--;
        size_t len = 0;
        rc = tok_decode(r->tok, out, (size_t)n, true, text, &len, e);
    }
    free(rows);
    free(ids);
    free(mask);
    free(out);
    return rc;
}

ocr_status vis_nano_recognize(vis_nano_recog *r, const uint8_t *gray, int w, int h, int stride,
                              bool formula, char **text, ocr_err *e)
{
    *text = NULL;
    const vis_nano_config *c = vis_nano_cfg(r->enc);
    if (w < 1 || h < 1 || stride < w) return ocr_err_set(e, OCR_E_ARG, "vis_nano_recognize: bad size");
    /* Ink threshold halfway between the darkest and lightest levels. */
    int lo = 255, hi = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = gray[(size_t)y * stride + x];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    int thr = (lo + hi) / 2, x0 = w, x1 = -1, y0 = h, y1 = -1;
    if (hi - lo >= 32)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (gray[(size_t)y * stride + x] < thr) {
                    x0 = x < x0 ? x : x0;
                    x1 = x > x1 ? x : x1;
                    y0 = y < y0 ? y : y0;
                    y1 = y > y1 ? y : y1;
                }
    if (x1 < 0) {
        *text = calloc(1, 1);
        return *text ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    }
    /* Margins as in training: a fraction of the line height around the ink. */
    int ih = y1 - y0 + 1;
    int mv = (int)lround(ih * 0.15), mh = (int)lround(ih * 0.3);
    int bx = x0 - mh, by = y0 - mv, bw = x1 - x0 + 1 + 2 * mh, bh = ih + 2 * mv;
    const int H = formula ? c->height_formula : c->height_text;
    const int maxW = 8 * c->max_cols;
    double scale = (double)H / bh;
    int W = (int)lround(bw * scale);
    if (W < 16) W = 16;
    float *ink = malloc(sizeof(float) * (size_t)H * (W + 8));
    if (!ink) return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    /* Resample the whole box (pixels outside the image read as paper). */
    {
        double fx = (double)bw / W, fy = (double)bh / H;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double acc = 0, wt = 0;
                double sy0 = by + y * fy, sy1 = by + (y + 1) * fy, sx0 = bx + x * fx, sx1 = bx + (x + 1) * fx;
                for (int yy = (int)floor(sy0); yy < (int)ceil(sy1); yy++) {
                    double wy = fmin(sy1, yy + 1) - fmax(sy0, yy);
                    if (wy <= 0) continue;
                    for (int xx = (int)floor(sx0); xx < (int)ceil(sx1); xx++) {
                        double wx = fmin(sx1, xx + 1) - fmax(sx0, xx);
                        if (wx <= 0) continue;
                        double v = 0;
                        if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                            v = 1.0 - gray[(size_t)yy * stride + xx] / 255.0;
                        acc += v * wx * wy;
                        wt += wx * wy;
                    }
                }
                ink[(size_t)y * W + x] = wt > 0 ? (float)(acc / wt) : 0.0f;
            }
    }
    /* Cut into pieces of at most maxW columns at the emptiest column of the
     * last third of each piece (word gaps), then read each piece. */
    char *acc = calloc(1, 1);
    size_t alen = 0;
    ocr_status rc = acc ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    int start = 0;
    float *piece = malloc(sizeof(float) * (size_t)H * maxW);
    if (!piece) rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    while (rc == OCR_OK && start < W) {
        int end = W;
        if (W - start > maxW) {
            int best = start + maxW, lo2 = start + maxW * 2 / 3;
            double bv = INFINITY;
            for (int x = start + maxW - 1; x >= lo2; x--) {
                double s = 0;
                for (int y = 0; y < H; y++) s += ink[(size_t)y * W + x];
                if (s < bv - 1e-6) bv = s, best = x;
            }
            end = best;
        }
        int pw = end - start, PW = (pw + 7) / 8 * 8;
        if (PW < 16) PW = 16;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < PW; x++)
                piece[(size_t)y * PW + x] = x < pw ? ink[(size_t)y * W + start + x] : 0.0f;
        char *t = NULL;
        rc = read_piece(r, piece, H, PW, formula, &t, e);
        if (rc == OCR_OK && t) {
            size_t tl = strlen(t);
            char *n2 = realloc(acc, alen + tl + 2);
            if (!n2) {
                free(t);
                rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
                break;
            }
            acc = n2;
            if (alen > 0 && tl > 0 && acc[alen - 1] != ' ' && t[0] != ' ') acc[alen++] = ' ';
            memcpy(acc + alen, t, tl);
            alen += tl;
            acc[alen] = 0;
        }
        free(t);
        start = end;
    }
    free(piece);
    free(ink);
    if (rc != OCR_OK) {
        free(acc);
        return rc;
    }
    *text = acc;
    return OCR_OK;
}

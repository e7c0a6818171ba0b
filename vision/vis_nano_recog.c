/* vision/vis_nano_recog.c — reading a crop with vlocr-nano: trim, scale,
 * cut long lines at blank columns, encode (vis_nano), decode greedily with
 * the shared decoder engine (language/lm_), detokenise.
 *
 * The crop geometry imitates what the model saw in training (train/syn_):
 * the line box plus a margin of a fraction of the line height on each side,
 * scaled to the model's fixed height with the aspect kept.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"
#include "language/tok.h"
#include "vision/vis.h"

#define NANO_MAX_WORKERS 16
/* Formulas up to this many times the model's width are scaled down to it;
 * wider ones are cut like text (see cut_crop). */
#define NANO_FORMULA_FIT 1.5

struct vis_nano_recog {
    vis_nano *enc;
    lm_model *lm;
    lm_state *st[NANO_MAX_WORKERS]; /* decoder states: [0] for single crops */
    lm_state *bst[64];               /* vis_nano_recognize_many: one per piece of a group */
    int max_pos;
    tok_tokenizer *tok;
    int max_new;
    int beam[2];                 /* beam width: [0] text, [1] formulas (1: greedy) */
    lm_state *beam_st[128];      /* 2 × beam states, made on first use */
};

void vis_nano_recog_destroy(vis_nano_recog **pr)
{
    if (!pr || !*pr) return;
    vis_nano_recog *r = *pr;
    vis_nano_destroy(&r->enc);
    for (int i = 0; i < NANO_MAX_WORKERS; i++) lm_state_destroy(&r->st[i]);
    for (int i = 0; i < 64; i++) lm_state_destroy(&r->bst[i]);
    for (int i = 0; i < 128; i++) lm_state_destroy(&r->beam_st[i]);
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
    r->beam[0] = r->beam[1] = 1;
    if (rc == OCR_OK) {
        /* Room for the tallest, widest crop plus the text (c is only
         * known once its config has loaded). */
        int max_rows = (c.max_rows / c.merge) * (c.max_cols + 1);
        r->max_pos = 2 + max_rows + r->max_new + 8;
        rc = lm_state_create(&r->st[0], r->lm, r->max_pos, 0, e);
    }
    if (rc == OCR_OK) rc = tok_load(&r->tok, dir, e);
    if (rc != OCR_OK) {
        vis_nano_recog_destroy(&r);
        return rc;
    }
    *out = r;
    return OCR_OK;
}

void vis_nano_recog_set_beam(vis_nano_recog *r, int text, int formula)
{
    if (text > 0) r->beam[0] = text > 64 ? 64 : text;
    if (formula > 0) r->beam[1] = formula > 64 ? 64 : formula;
}

/* Generation settings for a crop: greedy, no n-gram ban, and a loop guard
 * sized for crops rather than pages (the page defaults need 256 repeated
 * tokens, more than a crop ever gets). A block of up to 32 tokens repeated
 * 5 times over at least 12 tokens ("he (he (he (he (he (") ends the read,
 * and the read is cut back to the block's first copy. In text a run of one
 * token is no loop (dot leaders are text); in LaTeX 12 equal tokens
 * ("\\,\\,\\,...") are. On the real UW-III lines this took the mean
 * CER of a step-6165 export from 6.3 % to 4.2 % (models/vlocr-nano/README.md). */
static lm_gen_params crop_gen_params(bool formula)
{
    lm_gen_params gp = lm_gen_default_params();
    gp.ngram_size = 0;
    gp.loop_max_period = 32;
    gp.loop_min_repeats = 5;
    gp.loop_min_tokens = 12;
    gp.loop_min_period = formula ? 1 : 2;
    gp.track_prob = true; /* the confidence */
    return gp;
}

/* Decode one prepared ink image [H][W] (W multiple of 8). */
static ocr_status read_piece(vis_nano_recog *r, lm_state *st, const float *ink, int H, int W,
                             bool formula, char **text, double *prob_sum, int *n_prob, ocr_err *e)
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
        lm_gen_params gp = crop_gen_params(formula);
        int32_t stop = c->eos;
        gp.max_new_tokens = r->max_new;
        gp.stop_ids = &stop;
        gp.n_stop = 1;
        const int beam = r->beam[formula];
        for (int i = 0; beam > 1 && rc == OCR_OK && i < 2 * beam; i++)
            if (!r->beam_st[i]) rc = lm_state_create(&r->beam_st[i], r->lm, r->max_pos, 0, e);
        if (rc == OCR_OK && beam > 1)
            rc = lm_beam_search(r->beam_st, beam, 1.0f, &gp, ids, mask, rows, n_img, np, out, r->max_new,
                                &res, e);
        else if (rc == OCR_OK)
            rc = lm_generate(st, &gp, ids, mask, rows, n_img, np, out, r->max_new, NULL, &res, e);
    }
    if (rc == OCR_OK) {
        int n = res.n_tokens;
        /* A loop: its first copy stays, the repeats go (the confidence
         * keeps counting them: the model was that sure of the loop). */
        *prob_sum += (double)res.mean_prob * n;
        *n_prob += n;
        if (res.reason == LM_STOP_LOOP && res.loop_start + res.loop_period < n)
            n = res.loop_start + res.loop_period;
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

/* The pieces a crop is read in: inks [H, W] (W a multiple of 8), in order. */
typedef struct {
    float *ink;
    int H, W;
    bool space; /* a word gap before this piece (pieces after the first) */
} nano_cut;
typedef struct {
    nano_cut *v;
    int n, cap;
} cut_list;

static void cut_list_free(cut_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i].ink);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static ocr_status cut_push(cut_list *l, float *ink, int H, int W, bool space, ocr_err *e)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        nano_cut *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) {
            free(ink);
            return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (nano_cut){ink, H, W, space};
    return OCR_OK;
}

/* The cut in the middle of the widest blank run of the last third of the
 * piece: a word gap, not the gap between two letters (a cut there reads
 * as two words). A run of a word space's width (a sixth of the height)
 * sets *gap; without a blank column the emptiest one is taken. */
int vis_nano_cut_at(const double *col, int W, int start, int maxW, int H, bool *gap)
{
    const double blank = 0.02 * H;
    int lo = start + maxW * 2 / 3, hi = start + maxW; /* cut in [lo, hi] */
    if (hi > W - 1) hi = W - 1;
    int best = -1, bestw = 0;
    for (int x = lo; x <= hi;) {
        if (col[x] > blank) {
            x++;
            continue;
        }
        int x0 = x, x1 = x;
        while (x1 + 1 < W && col[x1 + 1] <= blank) x1++;
        while (x0 > start && col[x0 - 1] <= blank) x0--;
        int mid = (x0 + x1 + 1) / 2, rw = x1 - x0 + 1;
        if (mid > hi) mid = hi;
        if (mid < lo) mid = lo;
        if (rw >= bestw) best = mid, bestw = rw;
        x = x1 + 1;
    }
    *gap = best >= 0 && bestw * 6 >= H;
    if (best >= 0) return best;
    double bv = INFINITY;
    best = hi;
    for (int x = hi - 1; x >= lo; x--)
        if (col[x] < bv - 1e-6) bv = col[x], best = x;
    return best;
}

/* Trim the crop to its ink, scale it to the model's height (text or
 * formula) and cut lines wider than the model's width at blank columns:
 * the pieces go to `out` (none for a crop without ink). */
static ocr_status cut_crop(const vis_nano_recog *r, const uint8_t *gray, int w, int h, int stride,
                           bool formula, cut_list *out, ocr_err *e)
{
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
    if (x1 < 0) return OCR_OK;
    /* Margins as in training: a fraction of the line height around the ink. */
    int ih = y1 - y0 + 1;
    int mv = (int)lround(ih * 0.15), mh = (int)lround(ih * 0.3);
    int bx = x0 - mh, by = y0 - mv, bw = x1 - x0 + 1 + 2 * mh, bh = ih + 2 * mv;
    const int H = formula ? c->height_formula : c->height_text;
    const int maxW = 8 * c->max_cols;
    double scale = (double)H / bh;
    int W = (int)lround(bw * scale);
    if (W < 16) W = 16;
    /* A formula a little wider than the model is scaled down to fit it,
     * at the top of a full-height canvas as training batches hold such
     * samples (train/trn_data.c, formula_fit); scaled further its symbols
     * get too small to read, and pieces cut at blank columns read better
     * (measured: models/vlocr-nano/README.md). Text lines are cut at word
     * gaps. */
    int Hs = H;
    if (formula && W > maxW && W <= NANO_FORMULA_FIT * maxW) {
        Hs = (int)lround(H * (double)maxW / W);
        if (Hs < 8) Hs = 8;
        W = maxW;
    }
    float *ink = calloc((size_t)H * (W + 8), sizeof(float));
    if (!ink) return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    /* Resample the whole box (pixels outside the image read as paper). */
    {
        double fx = (double)bw / W, fy = (double)bh / Hs;
        for (int y = 0; y < Hs; y++)
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
    /* Cut into pieces of at most maxW columns (vis_nano_cut_at). */
    ocr_status rc = OCR_OK;
    double *col = NULL; /* ink per column, for the cuts */
    if (W > maxW) {
        if (!(col = calloc((size_t)W, sizeof(double)))) {
            free(ink);
            return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) col[x] += ink[(size_t)y * W + x];
    }
    int start = 0;
    bool space = false;
    while (rc == OCR_OK && start < W) {
        int end = W;
        bool gap = false;
        if (W - start > maxW) end = vis_nano_cut_at(col, W, start, maxW, H, &gap);
        int pw = end - start, PW = (pw + 7) / 8 * 8;
        if (PW < 16) PW = 16;
        float *piece = malloc(sizeof(float) * (size_t)H * PW);
        if (!piece) {
            rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
            break;
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < PW; x++)
                piece[(size_t)y * PW + x] = x < pw ? ink[(size_t)y * W + start + x] : 0.0f;
        rc = cut_push(out, piece, H, PW, space, e);
        start = end;
        space = gap;
    }
    free(col);
    free(ink);
    return rc;
}

int vis_nano_pieces(const vis_nano_recog *r, const uint8_t *gray, int w, int h, int stride, bool formula,
                    ocr_err *e)
{
    cut_list cl = {NULL, 0, 0};
    ocr_status rc = cut_crop(r, gray, w, h, stride, formula, &cl, e);
    int n = cl.n;
    cut_list_free(&cl);
    return rc == OCR_OK ? n : -1;
}

/* A formula read as LaTeX gets its braces balanced (vis.h): a misread
 * brace otherwise makes the whole formula fail to compile. */
ocr_status vis_latex_balance(char **s, ocr_err *e)
{
    char *t = *s;
    size_t w = 0;
    int depth = 0;
    for (size_t i = 0; t[i]; i++) {
        if (t[i] == '\\' && t[i + 1]) { /* a command or an escaped char: copy both */
            t[w++] = t[i++];
            t[w++] = t[i];
            continue;
        }
        if (t[i] == '{') depth++;
        else if (t[i] == '}') {
            if (depth == 0) continue;
            depth--;
        }
        t[w++] = t[i];
    }
    t[w] = 0;
    if (depth == 0) return OCR_OK;
    char *n = realloc(t, w + (size_t)depth + 1);
    if (!n) return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    memset(n + w, '}', (size_t)depth);
    n[w + (size_t)depth] = 0;
    *s = n;
    return OCR_OK;
}

/* Append a piece's text to *acc: a space before it when the cut was at a
 * word gap (unless one is there already), none inside a word. */
static ocr_status join_text(char **acc, size_t *alen, const char *t, bool space, ocr_err *e)
{
    size_t tl = strlen(t);
    char *n2 = realloc(*acc, *alen + tl + 2);
    if (!n2) return ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    *acc = n2;
    if (space && *alen > 0 && tl > 0 && n2[*alen - 1] != ' ' && t[0] != ' ') n2[(*alen)++] = ' ';
    memcpy(n2 + *alen, t, tl);
    *alen += tl;
    n2[*alen] = 0;
    return OCR_OK;
}

static ocr_status recognize_with(vis_nano_recog *r, lm_state *st, const uint8_t *gray, int w,
                                 int h, int stride, bool formula, char **text, float *conf,
                                 ocr_err *e)
{
    *text = NULL;
    if (conf) *conf = -1.0f;
    double psum = 0.0;
    int np = 0;
    cut_list cl = {NULL, 0, 0};
    ocr_status rc = cut_crop(r, gray, w, h, stride, formula, &cl, e);
    char *acc = calloc(1, 1);
    size_t alen = 0;
    if (rc == OCR_OK && !acc) rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    for (int i = 0; rc == OCR_OK && i < cl.n; i++) {
        char *t = NULL;
        rc = read_piece(r, st, cl.v[i].ink, cl.v[i].H, cl.v[i].W, formula, &t, &psum, &np, e);
        if (rc == OCR_OK && t) rc = join_text(&acc, &alen, t, cl.v[i].space, e);
        free(t);
    }
    cut_list_free(&cl);
    if (rc != OCR_OK) {
        free(acc);
        return rc;
    }
    if (formula && (rc = vis_latex_balance(&acc, e)) != OCR_OK) {
        free(acc);
        return rc;
    }
    *text = acc;
    if (conf && np > 0) *conf = (float)(psum / np);
    return OCR_OK;
}

ocr_status vis_nano_recognize(vis_nano_recog *r, const uint8_t *gray, int w, int h, int stride,
                              bool formula, char **text, float *conf, ocr_err *e)
{
    return recognize_with(r, r->st[0], gray, w, h, stride, formula, text, conf, e);
}

/* ------------------------------------------------------------ many crops
 *
 * A page's crops at once, in stages: (1) cut every crop into pieces and
 * encode them, (2) prefill each piece's prompt into a decoder state of its
 * own — both spread over the threads, one piece per thread at a time with
 * single-threaded matmuls — then (3) decode all pieces of a group together:
 * one step runs every unfinished piece's next token through each layer as
 * one batch (the projections and experts become GEMMs over the batch; only
 * the attention over each piece's own cache stays per piece). Greedy, the
 * same stop rules as lm_generate with read_piece's parameters. */

#define NANO_GROUP 64 /* pieces decoded together */

typedef struct {
    int crop;
    const nano_cut *cut;
    float *rows;
    int n_img;
    int32_t *out;
    int n_out;
    double prob_sum; /* probabilities of the n_gen tokens generated, summed */
    int n_gen;       /* tokens generated (n_out less a loop's repeats) */
    bool done;
    lm_loop loop;
} nano_seq;

typedef struct {
    vis_nano_recog *r;
    const vis_nano_crop *crops;
    bool formula;
    cut_list *cuts;     /* [n crops] */
    nano_seq *seqs;     /* [n_seqs] */
    lm_state **bst;     /* [NANO_GROUP]: the group's decoder states */
    float *logits;      /* [NANO_GROUP, V] */
    int g0;             /* first piece of the group */
    ocr_status *rcs;    /* per crop */
    ocr_err *errs;      /* per crop */
    int stage, n_items, next;
    pthread_mutex_t mu;
} many_job;

static void fail_crop(many_job *j, int crop, ocr_status rc, const ocr_err *e)
{
    pthread_mutex_lock(&j->mu);
    if (j->rcs[crop] == OCR_OK) {
        j->rcs[crop] = rc;
        if (e) j->errs[crop] = *e;
    }
    pthread_mutex_unlock(&j->mu);
}

static void many_item(many_job *j, int i)
{
    vis_nano_recog *r = j->r;
    const vis_nano_config *c = vis_nano_cfg(r->enc);
    ocr_err e = {0};
    ocr_status rc = OCR_OK;
    if (j->stage == 0) {
        const vis_nano_crop *cr = &j->crops[i];
        rc = cut_crop(r, cr->gray, cr->w, cr->h, cr->stride, j->formula, &j->cuts[i], &e);
        if (rc != OCR_OK) fail_crop(j, i, rc, &e);
        return;
    }
    nano_seq *q = &j->seqs[j->stage == 1 ? i : j->g0 + i];
    pthread_mutex_lock(&j->mu);
    bool failed = j->rcs[q->crop] != OCR_OK;
    pthread_mutex_unlock(&j->mu);
    if (failed) return;
    if (j->stage == 1) {
        q->n_img = vis_nano_rows(r->enc, q->cut->H, q->cut->W);
        q->rows = malloc(sizeof(float) * (size_t)q->n_img * c->d);
        if (!q->rows) rc = ocr_err_set(&e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
        if (rc == OCR_OK) rc = vis_nano_encode(r->enc, q->cut->ink, q->cut->H, q->cut->W, q->rows, &e);
    } else {
        /* Prefill [BOS][image rows][task] into this piece's state. */
        const int np = q->n_img + 2;
        int32_t *ids = calloc((size_t)np, sizeof(int32_t));
        uint8_t *mask = calloc((size_t)np, 1);
        if (!ids || !mask) rc = ocr_err_set(&e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
        if (rc == OCR_OK) {
            ids[0] = c->bos;
            for (int k = 1; k <= q->n_img; k++) mask[k] = 1;
            ids[np - 1] = j->formula ? c->tok_formula : c->tok_text;
            lm_state *st = j->bst[i];
            lm_state_reset(st);
            rc = lm_forward(st, ids, mask, q->rows, q->n_img, np, LM_LOGITS_LAST,
                            j->logits + (size_t)i * r->lm->vocab, &e);
        }
        free(ids);
        free(mask);
    }
    if (rc != OCR_OK) fail_crop(j, q->crop, rc, &e);
}

static void *many_thread(void *arg)
{
    many_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n_items) break;
        many_item(j, i);
    }
    return NULL;
}

/* Run stage `stage` over n items on `threads` threads (the caller is one). */
static void many_stage(many_job *j, int stage, int n, int threads)
{
    j->stage = stage;
    j->n_items = n;
    j->next = 0;
    if (threads > n) threads = n;
    pthread_t tid[NANO_MAX_WORKERS];
    bool started[NANO_MAX_WORKERS] = {false};
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tid[t], NULL, many_thread, j) == 0;
    many_thread(j);
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tid[t], NULL);
}

static int argmax(const float *x, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Greedy decoding of pieces g0+lo .. g0+lo+gn-1 of the group (prefilled;
 * first logits in j->logits rows lo..) together, one token of every
 * unfinished piece per step. Slices of a group run on separate threads:
 * each uses its own rows of j->logits and its own states. */
static ocr_status decode_group(many_job *j, int lo, int gn, ocr_err *e)
{
    vis_nano_recog *r = j->r;
    const lm_model *m = r->lm;
    const vis_nano_config *c = vis_nano_cfg(r->enc);
    const int D = m->dim, V = m->vocab;
    const float eps = m->cfg.rms_norm_eps;
    lm_gen_params gp = crop_gen_params(j->formula);
    float *x = malloc(sizeof(float) * (size_t)gn * D * 3);
    int *act = malloc(sizeof(int) * (size_t)gn);
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)gn);
    ocr_status rc = x && act && tok ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
    float *h = x ? x + (size_t)gn * D : NULL, *a = x ? h + (size_t)gn * D : NULL;
    for (int i = 0; rc == OCR_OK && i < gn; i++) {
        nano_seq *q = &j->seqs[j->g0 + lo + i];
        q->done = j->rcs[q->crop] != OCR_OK;
        if (!q->done) {
            q->out = malloc(sizeof(int32_t) * (size_t)r->max_new);
            if (!q->out) rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize: out of memory");
            else if (gp.loop_max_period > 0)
                rc = lm_loop_init(&q->loop, gp.loop_max_period, gp.loop_min_repeats,
                                  gp.loop_min_tokens, e);
            q->loop.min_period = gp.loop_min_period;
        }
    }
    for (int t = 0; rc == OCR_OK && t < r->max_new; t++) {
        /* Pick each active piece's token from its logits; stop rules. */
        int na = 0;
        for (int i = 0; i < gn; i++) {
            nano_seq *q = &j->seqs[j->g0 + lo + i];
            if (q->done) continue;
            const float *lg = j->logits + (size_t)(lo + i) * V;
            int32_t tk = argmax(lg, V);
            q->out[q->n_out++] = tk;
            const float lse = lm_logsumexp(lg, V);
            if (isfinite(lse)) q->prob_sum += exp((double)lg[tk] - lse);
            q->n_gen++;
            int per, reps, start;
            if (tk == c->eos) q->done = true;
            else if (q->loop.run && lm_loop_push(&q->loop, q->out, q->n_out, &per, &reps, &start)) {
                q->done = true;
                q->n_out = start + per; /* the first copy stays (crop_gen_params) */
            }
            else if (q->n_out == r->max_new || j->bst[lo + i]->n_past >= j->bst[lo + i]->max_pos)
                q->done = true;
            if (!q->done) act[na] = i, tok[na] = tk, na++;
        }
        if (na == 0) break;
        /* One decoder step for the na active pieces. */
        for (int k = 0; rc == OCR_OK && k < na; k++)
            rc = lm_embed(m, x + (size_t)k * D, &tok[k], NULL, NULL, 0, 1, e);
        for (int l = 0; rc == OCR_OK && l < m->n_layers; l++) {
            const lm_layer *L = &m->layers[l];
            ocr_rmsnorm(h, x, L->attn_norm, na, D, eps);
            for (int k = 0; rc == OCR_OK && k < na; k++)
                rc = lm_attn_forward(j->bst[lo + act[k]], l, a + (size_t)k * D, h + (size_t)k * D, 1, e);
            for (size_t q = 0; q < (size_t)na * D; q++) x[q] += a[q];
            ocr_rmsnorm(h, x, L->mlp_norm, na, D, eps);
            if (rc == OCR_OK) rc = lm_ffn_forward(j->bst[lo + act[0]], l, a, h, na, 0, e);
            for (size_t q = 0; q < (size_t)na * D; q++) x[q] += a[q];
        }
        if (rc == OCR_OK) {
            ocr_rmsnorm(h, x, m->final_norm, na, D, eps);
            /* logits rows in act order, then back to the pieces' slots */
            rc = ocr_matmul(j->logits + (size_t)(NANO_GROUP + lo) * V, h, m->lm_head, NULL, na, e);
        }
        for (int k = 0; rc == OCR_OK && k < na; k++) {
            memcpy(j->logits + (size_t)(lo + act[k]) * V, j->logits + (size_t)(NANO_GROUP + lo + k) * V,
                   sizeof(float) * V);
            j->bst[lo + act[k]]->n_past++;
        }
    }
    for (int i = 0; i < gn; i++) lm_loop_free(&j->seqs[j->g0 + lo + i].loop);
    free(x);
    free(act);
    free(tok);
    return rc;
}

typedef struct {
    many_job *j;
    int lo, gn;
    ocr_status rc;
    ocr_err e;
} decode_slice;

static void *decode_thread(void *arg)
{
    decode_slice *d = arg;
    d->rc = decode_group(d->j, d->lo, d->gn, &d->e);
    return NULL;
}

ocr_status vis_nano_recognize_many(vis_nano_recog *r, const vis_nano_crop *crops, int n,
                                   bool formula, int threads, char **texts, float *confs,
                                   ocr_status *rcs, ocr_err *e)
{
    if (n < 0 || (n > 0 && (!crops || !texts)))
        return ocr_err_set(e, OCR_E_ARG, "vis_nano_recognize_many: bad arguments");
    if (n == 0) return OCR_OK;
    for (int i = 0; i < n; i++) texts[i] = NULL;
    for (int i = 0; confs && i < n; i++) confs[i] = -1.0f;
    if (r->beam[formula] > 1) {
        /* Beam search reads one crop at a time (its beams are the batch). */
        ocr_status first = OCR_OK;
        for (int i = 0; i < n; i++) {
            ocr_err ei = {0};
            ocr_status rci = recognize_with(r, r->st[0], crops[i].gray, crops[i].w, crops[i].h,
                                            crops[i].stride, formula, &texts[i], confs ? &confs[i] : NULL, &ei);
            if (rcs) rcs[i] = rci;
            if (rci != OCR_OK && first == OCR_OK) {
                first = rci;
                if (e) *e = ei;
            }
        }
        return first;
    }
    if (threads < 1) threads = ocr_blas_get_threads();
    if (threads > NANO_MAX_WORKERS) threads = NANO_MAX_WORKERS;
    const vis_nano_config *c = vis_nano_cfg(r->enc);
    const int V = r->lm->vocab;
    ocr_status rc = OCR_OK;
    many_job j;
    memset(&j, 0, sizeof j);
    j.r = r;
    j.crops = crops;
    j.formula = formula;
    j.cuts = calloc((size_t)n, sizeof *j.cuts);
    j.rcs = rcs ? rcs : calloc((size_t)n, sizeof *j.rcs);
    j.errs = calloc((size_t)n, sizeof *j.errs);
    j.bst = r->bst;
    j.logits = malloc(sizeof(float) * (size_t)2 * NANO_GROUP * V);
    pthread_mutex_init(&j.mu, NULL);
    if (!j.cuts || !j.rcs || !j.errs || !j.logits)
        rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize_many: out of memory");
    for (int i = 0; rc == OCR_OK && i < n; i++) j.rcs[i] = OCR_OK;
    for (int i = 0; rc == OCR_OK && i < NANO_GROUP; i++)
        if (!r->bst[i]) rc = lm_state_create(&r->bst[i], r->lm, r->max_pos, 0, e);
    int saved = ocr_blas_get_threads();
    /* Every stage: one crop or piece (or slice of pieces) per thread, the
     * matmuls of each on one thread. */
    if (rc == OCR_OK) {
        if (threads > 1) ocr_blas_set_threads(1);
        many_stage(&j, 0, n, threads);
        int ns = 0;
        for (int i = 0; i < n; i++) ns += j.cuts[i].n;
        j.seqs = calloc((size_t)(ns ? ns : 1), sizeof *j.seqs);
        if (!j.seqs) rc = ocr_err_set(e, OCR_E_NOMEM, "vis_nano_recognize_many: out of memory");
        for (int i = 0, k = 0; rc == OCR_OK && i < n; i++)
            for (int p = 0; p < j.cuts[i].n; p++, k++) j.seqs[k] = (nano_seq){.crop = i, .cut = &j.cuts[i].v[p]};
        if (rc == OCR_OK) many_stage(&j, 1, ns, threads);
        /* Groups: prefill on the threads, then decode together with the
         * matmuls on all threads. */
        for (int g0 = 0; rc == OCR_OK && g0 < ns; g0 += NANO_GROUP) {
            int gn = ns - g0 < NANO_GROUP ? ns - g0 : NANO_GROUP;
            j.g0 = g0;
            many_stage(&j, 2, gn, threads);
            /* The group in `threads` slices, each decoded as a batch on its own
             * thread (single-threaded matmuls: no BLAS workers spinning). */
            int nsl = threads < gn ? threads : gn;
            decode_slice sl[NANO_MAX_WORKERS];
            pthread_t tid[NANO_MAX_WORKERS];
            bool started[NANO_MAX_WORKERS] = {false};
            for (int t = 0, lo = 0; t < nsl; t++) {
                int cnt = gn / nsl + (t < gn % nsl);
                sl[t] = (decode_slice){&j, lo, cnt, OCR_OK, {0}};
                lo += cnt;
            }
            for (int t = 1; t < nsl; t++) started[t] = pthread_create(&tid[t], NULL, decode_thread, &sl[t]) == 0;
            decode_thread(&sl[0]);
            for (int t = 1; t < nsl; t++) {
                if (started[t]) pthread_join(tid[t], NULL);
                else decode_thread(&sl[t]);
            }
            for (int t = 0; t < nsl && rc == OCR_OK; t++)
                if (sl[t].rc != OCR_OK) {
                    rc = sl[t].rc;
                    if (e) *e = sl[t].e;
                }
        }
        ocr_blas_set_threads(saved);
        /* Texts: each crop's pieces detokenised and joined in order. */
        for (int i = 0, k = 0; rc == OCR_OK && i < n; i++) {
            char *acc = calloc(1, 1);
            size_t alen = 0;
            ocr_status rci = acc ? j.rcs[i] : OCR_E_NOMEM;
            double psum = 0.0;
            int np = 0;
            for (int p = 0; p < j.cuts[i].n; p++, k++) {
                nano_seq *q = &j.seqs[k];
                if (rci != OCR_OK) continue;
                psum += q->prob_sum;
                np += q->n_gen;
                int nt = q->n_out;
                if (nt > 0 && q->out[nt - 1] == c->eos) nt--;
                char *t = NULL;
                size_t tl = 0;
                rci = tok_decode(r->tok, q->out, (size_t)nt, true, &t, &tl, &j.errs[i]);
                if (rci == OCR_OK) rci = join_text(&acc, &alen, t, j.cuts[i].v[p].space, &j.errs[i]);
                free(t);
            }
            if (rci == OCR_OK && formula) rci = vis_latex_balance(&acc, &j.errs[i]);
            if (rci == OCR_OK) {
                texts[i] = acc;
                if (confs && np > 0) confs[i] = (float)(psum / np);
            } else {
                free(acc);
                if (j.rcs[i] == OCR_OK) j.rcs[i] = rci;
            }
        }
    }
    /* The first failure is the call's error; the other texts stand. */
    for (int i = 0; rc == OCR_OK && i < n; i++)
        if (j.rcs[i] != OCR_OK) {
            rc = j.rcs[i];
            if (e) *e = j.errs[i];
        }
    if (j.seqs && j.cuts) {
        int ns = 0;
        for (int i = 0; i < n; i++) ns += j.cuts[i].n;
        for (int k = 0; k < ns; k++) {
            free(j.seqs[k].rows);
            free(j.seqs[k].out);
        }
    }
    for (int i = 0; j.cuts && i < n; i++) cut_list_free(&j.cuts[i]);
    free(j.cuts);
    free(j.seqs);
    if (!rcs) free(j.rcs);
    free(j.errs);
    free(j.logits);
    pthread_mutex_destroy(&j.mu);
    return rc;
}

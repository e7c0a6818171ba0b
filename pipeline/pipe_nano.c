/* pipeline/pipe_nano.c — the page driver of the default model, vlocr-nano:
 * cleanup and layout (lay_page_run), every text line of the cleaned
 * grayscale read by the recogniser, assembly into the document model
 * (pipe_assemble.c).
 *
 * The recogniser (vision/vis_nano_recog.c) holds the weights and one
 * decoder state and takes one call at a time, so a pipe_nano is a worker's:
 * the batch runner makes one per worker. A page's crops go through
 * vis_nano_recognize_many in two batches (text lines and table cells with
 * the text task, display formulas with the formula task), on one thread
 * when several workers share the machine. The decoder's loop guard stops
 * every crop that repeats. Every line read becomes a line of its block
 * (pipe_assemble_page) with its confidence: the mean probability the
 * recogniser gave the tokens it emitted. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

struct pipe_nano {
    vis_nano_recog *r;
    pipe_nano_params p;
};

pipe_nano_params pipe_nano_default_params(void)
{
    pipe_nano_params p;
    memset(&p, 0, sizeof p);
    p.lay = lay_default_params();
    p.threads = 0;
    p.batch = true;
    return p;
}

bool pipe_nano_is_model_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    bool yes = root && json_is_object(json_object_get(root, "vlocr_nano"));
    json_decref(root);
    return yes;
}

ocr_status pipe_nano_create(pipe_nano **out, const char *dir, const pipe_nano_params *p, ocr_err *e)
{
    *out = NULL;
    pipe_nano *n = calloc(1, sizeof *n);
    if (!n) return ocr_err_set(e, OCR_E_NOMEM, "pipe_nano_create: out of memory");
    n->p = p ? *p : pipe_nano_default_params();
    ocr_status rc = vis_nano_recog_load(&n->r, dir, e);
    if (rc != OCR_OK) {
        free(n);
        return rc;
    }
    vis_nano_recog_set_beam(n->r, n->p.beam_text, n->p.beam_formula);
    *out = n;
    return OCR_OK;
}

void pipe_nano_destroy(pipe_nano **pn)
{
    if (!pn || !*pn) return;
    vis_nano_recog_destroy(&(*pn)->r);
    free(*pn);
    *pn = NULL;
}

/* Crops of one task and where their texts go. */
typedef struct {
    vis_nano_crop *c;
    int *dst; /* index into the page's texts */
    int n;
} crop_set;

static void set_push(crop_set *s, const uint8_t *g, int stride, pipe_box b, int dst)
{
    s->c[s->n] = (vis_nano_crop){g + (size_t)b.y1 * stride + b.x1, b.x2 - b.x1, b.y2 - b.y1, stride};
    s->dst[s->n++] = dst;
}

/* Read the crops of s into texts[s->dst[i]] and their confidences into
 * confs[s->dst[i]]. A crop that fails is left unread (NULL, -1); the page
 * fails only when memory runs out or no crop at all could be read. */
static ocr_status read_set(pipe_nano *n, const crop_set *s, bool formula, char **texts,
                           float *confs, ocr_err *e)
{
    if (s->n == 0) return OCR_OK;
    char **out = calloc((size_t)s->n, sizeof *out);
    float *cf = malloc((size_t)s->n * sizeof *cf);
    ocr_status *rcs = calloc((size_t)s->n, sizeof *rcs);
    if (!out || !cf || !rcs) {
        free(out);
        free(cf);
        free(rcs);
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_nano_page: out of memory");
    }
    for (int i = 0; i < s->n; i++) cf[i] = -1.0f;
    ocr_err first = {0};
    ocr_status rc = OCR_OK;
    if (n->p.batch) {
        rc = vis_nano_recognize_many(n->r, s->c, s->n, formula, n->p.threads, out, cf, rcs, &first);
    } else {
        for (int i = 0; i < s->n; i++) {
            ocr_err ei = {0};
            rcs[i] = vis_nano_recognize(n->r, s->c[i].gray, s->c[i].w, s->c[i].h, s->c[i].stride,
                                        formula, &out[i], &cf[i], &ei);
            if (rcs[i] != OCR_OK && rc == OCR_OK) rc = rcs[i], first = ei;
            if (rcs[i] == OCR_E_NOMEM) break;
        }
    }
    int ok = 0;
    for (int i = 0; i < s->n; i++) {
        if (out[i]) ok++;
        if (rcs[i] == OCR_E_NOMEM) rc = OCR_E_NOMEM;
        texts[s->dst[i]] = out[i];
        confs[s->dst[i]] = out[i] ? cf[i] : -1.0f;
    }
    free(out);
    free(cf);
    free(rcs);
    if (rc != OCR_OK && (rc == OCR_E_NOMEM || ok == 0)) {
        if (e) *e = first;
        return first.code != OCR_OK ? first.code : ocr_err_set(e, rc, "pipe_nano_page: recognition failed");
    }
    return OCR_OK;
}

/* "(12)" read beside a display formula becomes " \tag{12}" after it. */
static char *with_tag(const char *formula, const char *eqno)
{
    const char *t = eqno;
    while (*t == ' ') t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ') n--;
    /* Only a clean "(…)": anything else is not trusted as a number. */
    if (n < 3 || t[0] != '(' || t[n - 1] != ')' || memchr(t + 1, '(', n - 2) || memchr(t + 1, ')', n - 2))
        return NULL;
    t++;
    n -= 2;
    size_t fl = formula ? strlen(formula) : 0;
    char *s = malloc(fl + n + 16);
    if (s) snprintf(s, fl + n + 16, "%s \\tag{%.*s}", formula ? formula : "", (int)n, t);
    return s;
}

ocr_status pipe_nano_page_layout(pipe_nano *n, PIX *pix, pipe_page *pg, lay_page *lp,
                                 lay_clean_result *clean, ocr_err *e)
{
    ocr_status rc = lay_page_run(pix, &n->p.lay, clean, lp, e);
    if (rc != OCR_OK) return rc;
    uint8_t *g = NULL;
    int W = 0, H = 0;
    rc = img_gray_planes(&g, &W, &H, clean->gray, e);
    if (rc != OCR_OK) return rc;

    int total = lay_page_count_lines(lp);
    size_t cap = (size_t)(total > 0 ? total : 1);
    /* texts[0..total): each line's text; texts[total..2 total): the
     * equation numbers beside formula lines. */
    char **texts = calloc(2 * cap, sizeof *texts);
    const char ***per = calloc((size_t)(lp->n_blocks > 0 ? lp->n_blocks : 1), sizeof *per);
    const char **lines = calloc(cap, sizeof *lines);
    /* confs[k]: line k's confidence in [0, 1], -1 while unknown;
     * confs[total + k]: its equation number's. */
    float *confs = malloc(2 * cap * sizeof *confs);
    const float **cper = calloc((size_t)(lp->n_blocks > 0 ? lp->n_blocks : 1), sizeof *cper);
    crop_set ts = {calloc(2 * cap, sizeof(vis_nano_crop)), calloc(2 * cap, sizeof(int)), 0};
    crop_set fs = {calloc(cap, sizeof(vis_nano_crop)), calloc(cap, sizeof(int)), 0};
    if (!texts || !per || !lines || !confs || !cper || !ts.c || !ts.dst || !fs.c || !fs.dst)
        rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_nano_page: out of memory");
    for (size_t k = 0; confs && k < 2 * cap; k++) confs[k] = -1.0f;
    for (int b = 0, k = 0; rc == OCR_OK && b < lp->n_blocks; b++) {
        const lay_block *bl = &lp->blocks[b];
        per[b] = lines + k;
        cper[b] = confs + k;
        for (int i = 0; i < bl->n_lines; i++, k++) {
            if (bl->type == LAY_FIGURE) continue;
            const lay_line *l = &bl->lines[i];
            pipe_box c = lay_box_clip(l->crop, W, H);
            if (c.x2 <= c.x1 || c.y2 <= c.y1) continue;
            if (bl->type != LAY_FORMULA) {
                set_push(&ts, g, W, c, k);
                continue;
            }
            if (l->eqno_x > c.x1 + 8 && l->eqno_x < c.x2) {
                pipe_box q = c;
                q.x1 = l->eqno_x;
                c.x2 = l->eqno_x;
                set_push(&ts, g, W, q, total + k);
            }
            set_push(&fs, g, W, c, k);
        }
    }
    if (rc == OCR_OK) rc = read_set(n, &ts, false, texts, confs, e);
    if (rc == OCR_OK) rc = read_set(n, &fs, true, texts, confs, e);
    for (int k = 0; rc == OCR_OK && k < total; k++) {
        if (texts[total + k]) {
            char *t = with_tag(texts[k], texts[total + k]);
            if (t) {
                free(texts[k]);
                texts[k] = t;
                /* The tag is part of the line: the less sure read counts. */
                float q = confs[total + k];
                if (q >= 0.0f && (confs[k] < 0.0f || q < confs[k])) confs[k] = q;
            }
        }
        lines[k] = texts[k];
    }
    if (rc == OCR_OK)
        rc = pipe_assemble_page(lp, (pipe_line_texts)per, (pipe_line_confs)cper, clean, pg, e);
    if (rc == OCR_OK) {
        pg->width = pixGetWidth(pix);
        pg->height = pixGetHeight(pix);
    }
    for (size_t k = 0; texts && k < 2 * cap; k++) free(texts[k]);
    free(texts);
    free(per);
    free(lines);
    free(confs);
    free(cper);
    free(ts.c);
    free(ts.dst);
    free(fs.c);
    free(fs.dst);
    free(g);
    return rc;
}

ocr_status pipe_nano_page(pipe_nano *n, PIX *pix, pipe_page *pg, ocr_err *e)
{
    lay_page lp;
    lay_clean_result clean;
    memset(&lp, 0, sizeof lp);
    memset(&clean, 0, sizeof clean);
    ocr_status rc = pipe_nano_page_layout(n, pix, pg, &lp, &clean, e);
    lay_page_free(&lp);
    lay_clean_result_free(&clean);
    return rc;
}

/* language/lm_conform.c — the decoder half of `vlocr conform`: run the
 * decoder of a conformance fixture (config.json + model.safetensors +
 * goldens dumped from the official PyTorch code, ../shared/conformance) and
 * compare every golden file present, stage by stage.
 *
 * Nothing is hard-wired to the public fixtures' sizes: layers come from the
 * config, stages from the files that exist, prompt and generation lengths
 * from the arrays. Files this code has no check for are reported as SKIP so
 * that a fixture with more dumps than we know still shows them.
 */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "language/lm.h"

#define TOL_ACT 1e-4
#define TOL_LOGIT 5e-4

/* --------------------------------------------------------------- report */

ocr_status lm_conform_add(lm_conform_report *r, lm_stage_status status, const char *name,
                          double max_abs, double tol, long mismatches, const char *note_fmt, ...)
{
    if (r->n == r->cap) {
        int ncap = r->cap ? 2 * r->cap : 64;
        lm_stage *v = realloc(r->v, (size_t)ncap * sizeof *v);
        if (!v) return OCR_E_NOMEM;
        r->v = v;
        r->cap = ncap;
    }
    lm_stage *s = &r->v[r->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->status = status;
    s->max_abs = max_abs;
    s->tol = tol;
    s->mismatches = mismatches;
    if (note_fmt) {
        va_list ap;
        va_start(ap, note_fmt);
        vsnprintf(s->note, sizeof s->note, note_fmt, ap);
        va_end(ap);
    }
    if (status == LM_STAGE_PASS) r->n_pass++;
    else if (status == LM_STAGE_FAIL) r->n_fail++;
    else r->n_skip++;
    return OCR_OK;
}

void lm_conform_report_free(lm_conform_report *r)
{
    if (!r) return;
    free(r->v);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- files */

typedef struct {
    char fix[2048], common[2048];
    char done[256][96]; /* relative paths of goldens already checked */
    int n_done;
} ctx;

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool dir_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void mark_done(ctx *c, const char *rel)
{
    if (c->n_done < (int)(sizeof c->done / sizeof c->done[0]))
        snprintf(c->done[c->n_done++], sizeof c->done[0], "%s", rel);
}

static bool is_done(const ctx *c, const char *rel)
{
    for (int i = 0; i < c->n_done; i++)
        if (strcmp(c->done[i], rel) == 0) return true;
    return false;
}

/* Load FIX/rel if it exists: 1 loaded, 0 absent, <0 error (in e). */
static int golden(ctx *c, const char *rel, ocr_npy *a, ocr_err *e)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", c->fix, rel);
    memset(a, 0, sizeof *a);
    if (!file_exists(p)) return 0;
    mark_done(c, rel);
    return ocr_npy_load(a, p, e) == OCR_OK ? 1 : -1;
}

static ocr_status load_required(ocr_npy *a, const char *dir, const char *rel, ocr_err *e)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return ocr_npy_load(a, p, e);
}

/* Integer or boolean array → int32. */
static int32_t *to_i32(const ocr_npy *a)
{
    int64_t n = ocr_npy_numel(a);
    int32_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) {
        switch (a->dtype) {
        case OCR_DT_I64: v[i] = (int32_t)((const int64_t *)a->data)[i]; break;
        case OCR_DT_I32: v[i] = ((const int32_t *)a->data)[i]; break;
        case OCR_DT_U8:
        case OCR_DT_BOOL: v[i] = ((const uint8_t *)a->data)[i]; break;
        case OCR_DT_I8: v[i] = ((const int8_t *)a->data)[i]; break;
        default: free(v); return NULL;
        }
    }
    return v;
}

/* ------------------------------------------------------------- compares */

static void shape_note(char *buf, size_t cap, const ocr_npy *a)
{
    ocr_shape_str(buf, cap, a->ndim, a->shape);
}

/* Float stage: the golden must hold exactly n floats. */
static ocr_status cmp_f32(lm_conform_report *r, const char *name, const float *got, size_t n,
                          const ocr_npy *ref, double tol)
{
    char sh[64];
    shape_note(sh, sizeof sh, ref);
    if (ref->dtype != OCR_DT_F32 || (size_t)ocr_npy_numel(ref) != n)
        return lm_conform_add(r, LM_STAGE_FAIL, name, INFINITY, tol, 0,
                              "golden %s %s, engine produced %zu floats",
                              ocr_dtype_name(ref->dtype), sh, n);
    const float *g = ref->data;
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)g[i]);
        if (isnan(d)) d = INFINITY;
        if (d > worst) {
            worst = d;
            at = i;
        }
    }
    return lm_conform_add(r, worst <= tol ? LM_STAGE_PASS : LM_STAGE_FAIL, name, worst, tol, 0,
                          "%s, worst at flat index %zu", sh, at);
}

static ocr_status cmp_ids(lm_conform_report *r, const char *name, const int32_t *got, size_t n,
                          const ocr_npy *ref)
{
    char sh[64];
    shape_note(sh, sizeof sh, ref);
    int32_t *g = to_i32(ref);
    if (!g || (size_t)ocr_npy_numel(ref) != n) {
        free(g);
        return lm_conform_add(r, LM_STAGE_FAIL, name, INFINITY, 0, (long)n,
                              "golden %s %s, engine produced %zu ids", ocr_dtype_name(ref->dtype),
                              sh, n);
    }
    long bad = 0;
    size_t first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != g[i] && bad++ == 0) first = i;
    ocr_status rc;
    if (bad)
        rc = lm_conform_add(r, LM_STAGE_FAIL, name, (double)bad, 0, bad,
                            "%s, first mismatch at %zu: %d vs golden %d", sh, first,
                            (int)got[first], (int)g[first]);
    else
        rc = lm_conform_add(r, LM_STAGE_PASS, name, 0, 0, 0, "%s, all %zu equal", sh, n);
    free(g);
    return rc;
}

/* Compare FIX/rel (if present) with n floats: 0 done or absent, else the
 * status of a failure to read it. */
static ocr_status stage_f32(ctx *c, lm_conform_report *r, const char *rel, const char *name,
                            const float *got, size_t n, double tol, ocr_err *e)
{
    ocr_npy a;
    int h = golden(c, rel, &a, e);
    if (h <= 0) return h < 0 ? e->code : OCR_OK;
    ocr_status rc = cmp_f32(r, name, got, n, &a, tol);
    ocr_npy_free(&a);
    return rc;
}

static void sort_pairs(int32_t *id, float *w, int k)
{
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && id[j - 1] > id[j]; j--) {
            int32_t t = id[j];
            id[j] = id[j - 1];
            id[j - 1] = t;
            float u = w[j];
            w[j] = w[j - 1];
            w[j - 1] = u;
        }
}

/* ------------------------------------------------------------ collector */

typedef struct {
    int n, D, L, k;
    float *embed, *final_norm, *layer_out, *moe_in, *w;
    int32_t *ids;
    bool *moe_seen;
} collect;

static void on_trace(void *ud, const lm_trace_event *ev)
{
    collect *c = ud;
    size_t D = (size_t)c->D, N = (size_t)c->n, off = (size_t)ev->pos0;
    if ((int)off + ev->n > c->n) return;
    size_t rows = (size_t)ev->n * D * sizeof(float);
    switch (ev->kind) {
    case LM_TRACE_EMBED: memcpy(c->embed + off * D, ev->x, rows); break;
    case LM_TRACE_FINAL_NORM: memcpy(c->final_norm + off * D, ev->x, rows); break;
    case LM_TRACE_LAYER_OUT:
        memcpy(c->layer_out + (size_t)ev->layer * N * D + off * D, ev->x, rows);
        break;
    case LM_TRACE_MOE_INPUT:
        memcpy(c->moe_in + (size_t)ev->layer * N * D + off * D, ev->x, rows);
        c->moe_seen[ev->layer] = true;
        break;
    case LM_TRACE_ROUTER: {
        size_t k = (size_t)c->k, base = (size_t)ev->layer * N * k + off * k;
        memcpy(c->ids + base, ev->ids, (size_t)ev->n * k * sizeof(int32_t));
        memcpy(c->w + base, ev->weights, (size_t)ev->n * k * sizeof(float));
        break;
    }
    }
}

static void collect_free(collect *c)
{
    free(c->embed);
    free(c->final_norm);
    free(c->layer_out);
    free(c->moe_in);
    free(c->w);
    free(c->ids);
    free(c->moe_seen);
}

static bool collect_init(collect *c, const lm_model *m, int n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->D = m->dim;
    c->L = m->n_layers;
    c->k = m->router.top_k > 0 ? m->router.top_k : 1;
    size_t nd = (size_t)n * (size_t)c->D, nk = (size_t)n * (size_t)c->k;
    c->embed = calloc(nd, sizeof(float));
    c->final_norm = calloc(nd, sizeof(float));
    c->layer_out = calloc(nd * (size_t)c->L, sizeof(float));
    c->moe_in = calloc(nd * (size_t)c->L, sizeof(float));
    c->w = calloc(nk * (size_t)c->L, sizeof(float));
    c->ids = calloc(nk * (size_t)c->L, sizeof(int32_t));
    c->moe_seen = calloc((size_t)c->L, sizeof(bool));
    return c->embed && c->final_norm && c->layer_out && c->moe_in && c->w && c->ids && c->moe_seen;
}

/* ---------------------------------------------------------- generation */

typedef struct {
    int ngram;
    int eos;
    bool have_eos;
} gen_kwargs;

/* generation.json may name no_repeat_ngram_size / eos_token_id at its top
 * level or inside decoder_kwargs; the official infer() uses 20 and eos 1. */
static void read_gen_kwargs(ctx *c, gen_kwargs *g, const lm_model *m, const char *sub)
{
    g->ngram = 20;
    g->eos = m->cfg.eos_token_id;
    g->have_eos = m->cfg.eos_token_id >= 0;
    char p[4200];
    snprintf(p, sizeof p, "%s/%s/generation.json", c->fix, sub);
    json_t *root = json_load_file(p, 0, NULL);
    if (!root) return;
    const json_t *objs[2] = {root, json_object_get(root, "decoder_kwargs")};
    const char *ngk[] = {"no_repeat_ngram_size", "ngram_size", "no_repeat_ngram"};
    for (int o = 0; o < 2; o++) {
        if (!json_is_object(objs[o])) continue;
        for (size_t i = 0; i < sizeof ngk / sizeof ngk[0]; i++) {
            json_t *v = json_object_get(objs[o], ngk[i]);
            if (json_is_integer(v)) g->ngram = (int)json_integer_value(v);
        }
        json_t *v = json_object_get(objs[o], "eos_token_id");
        if (json_is_integer(v)) {
            g->eos = (int)json_integer_value(v);
            g->have_eos = true;
        }
    }
    json_decref(root);
}

/* Greedy generation with the KV cache, compared with step_logits and
 * generated_ids under `sub` (e.g. "generation" or "global_only"). */
static ocr_status check_generation(ctx *c, lm_conform_report *r, lm_state *st,
                                   const int32_t *ids, const uint8_t *mask, const float *img,
                                   int n_img, int n, const char *sub, const char *json_sub,
                                   ocr_err *e)
{
    const lm_model *m = st->m;
    const size_t V = (size_t)m->vocab;
    char rel_steps[128], rel_ids[128], name[128];
    snprintf(rel_steps, sizeof rel_steps, "%s/step_logits.npy", sub);
    snprintf(rel_ids, sizeof rel_ids, "%s/generated_ids.npy", sub);
    ocr_npy gsteps, gids;
    int hs = golden(c, rel_steps, &gsteps, e);
    if (hs < 0) return e->code;
    int hi = golden(c, rel_ids, &gids, e);
    if (hi < 0) {
        ocr_npy_free(&gsteps);
        return e->code;
    }
    ocr_status rc = OCR_OK;
    if (!hs && !hi) return OCR_OK;
    int G = hi ? (int)ocr_npy_numel(&gids) : (int)gsteps.shape[0];
    int32_t *out = calloc((size_t)G + 1, sizeof *out);
    float *steps = calloc((size_t)G * V + 1, sizeof(float));
    gen_kwargs kw;
    read_gen_kwargs(c, &kw, m, json_sub);
    lm_gen_params p = lm_gen_default_params();
    p.max_new_tokens = G;
    p.ngram_size = kw.ngram;
    p.loop_max_period = 0; /* the reference has no loop detector */
    int32_t eos = kw.eos;
    p.stop_ids = &eos;
    p.n_stop = kw.have_eos ? 1 : 0;
    lm_gen_result res;
    if (!out || !steps) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
        goto done;
    }
    if (n + G > st->max_pos) {
        rc = ocr_err_set(e, OCR_E_LIMIT, "conform: state too small");
        goto done;
    }
    rc = lm_generate(st, &p, ids, mask, img, n_img, n, out, G, steps, &res, e);
    if (rc != OCR_OK) goto done;
    if (hs) {
        snprintf(name, sizeof name, "%s/step_logits (cached decode)", sub);
        if (res.n_tokens < (int)gsteps.shape[0])
            rc = lm_conform_add(r, LM_STAGE_FAIL, name, INFINITY, TOL_LOGIT, 0,
                                "generation stopped after %d of %lld steps", res.n_tokens,
                                (long long)gsteps.shape[0]);
        else
            rc = cmp_f32(r, name, steps, (size_t)gsteps.shape[0] * V, &gsteps, TOL_LOGIT);
    }
    if (rc == OCR_OK && hi) {
        snprintf(name, sizeof name, "%s/generated_ids (greedy, ngram %d)", sub, kw.ngram);
        rc = cmp_ids(r, name, out, (size_t)G, &gids);
    }
done:
    free(out);
    free(steps);
    ocr_npy_free(&gsteps);
    ocr_npy_free(&gids);
    return rc;
}

/* ----------------------------------------------------------- inputs */

typedef struct {
    ocr_npy ids_a, mask_a, img_a;
    int32_t *ids;
    uint8_t *mask;
    int n, n_img;
} inputs;

static void inputs_free(inputs *in)
{
    ocr_npy_free(&in->ids_a);
    ocr_npy_free(&in->mask_a);
    ocr_npy_free(&in->img_a);
    free(in->ids);
    free(in->mask);
    memset(in, 0, sizeof *in);
}

/* ids + mask from `cdir`, image rows from `img_path` (absolute) unless the
 * caller supplied them. */
static ocr_status inputs_load(inputs *in, const lm_model *m, const char *cdir,
                              const char *img_path, const float *img_rows, int n_img_rows,
                              ocr_err *e)
{
    memset(in, 0, sizeof *in);
    ocr_status rc;
    if ((rc = load_required(&in->ids_a, cdir, "input_ids.npy", e)) != OCR_OK) return rc;
    in->n = (int)ocr_npy_numel(&in->ids_a);
    in->ids = to_i32(&in->ids_a);
    if (!in->ids || in->n <= 0)
        return ocr_err_set(e, OCR_E_FORMAT, "%s/input_ids.npy: expected integer ids", cdir);
    char p[4200];
    snprintf(p, sizeof p, "%s/images_seq_mask.npy", cdir);
    if (file_exists(p)) {
        if ((rc = ocr_npy_load(&in->mask_a, p, e)) != OCR_OK) return rc;
        int32_t *mk = to_i32(&in->mask_a);
        if (!mk || ocr_npy_numel(&in->mask_a) != in->n) {
            free(mk);
            return ocr_err_set(e, OCR_E_SHAPE, "%s: %lld entries for %d input ids", p,
                               (long long)ocr_npy_numel(&in->mask_a), in->n);
        }
        in->mask = malloc((size_t)in->n);
        if (!in->mask) {
            free(mk);
            return ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
        }
        for (int i = 0; i < in->n; i++) in->mask[i] = mk[i] != 0;
        free(mk);
    }
    int need = 0;
    for (int i = 0; in->mask && i < in->n; i++) need += in->mask[i];
    if (need == 0) return OCR_OK;
    if (img_rows) {
        in->n_img = n_img_rows;
    } else {
        if ((rc = ocr_npy_load(&in->img_a, img_path, e)) != OCR_OK) return rc;
        int64_t rows = in->img_a.ndim >= 1 ? ocr_npy_numel(&in->img_a) / m->dim : 0;
        if (in->img_a.dtype != OCR_DT_F32 || rows * m->dim != ocr_npy_numel(&in->img_a) ||
            in->img_a.shape[in->img_a.ndim - 1] != m->dim) {
            char sh[64];
            return ocr_err_set(e, OCR_E_SHAPE, "%s: %s %s, expected F32 [*, %d]", img_path,
                               ocr_dtype_name(in->img_a.dtype),
                               ocr_shape_str(sh, sizeof sh, in->img_a.ndim, in->img_a.shape),
                               m->dim);
        }
        in->n_img = (int)rows;
    }
    if (in->n_img != need)
        return ocr_err_set(e, OCR_E_SHAPE, "conform: image mask has %d positions, %d image rows",
                           need, in->n_img);
    return OCR_OK;
}

/* ---------------------------------------------------------------- stages */

static ocr_status decoder_stages(ctx *c, lm_conform_report *r, lm_state *st, const inputs *in,
                                 const float *img, ocr_err *e)
{
    const lm_model *m = st->m;
    const int n = in->n, D = m->dim, L = m->n_layers;
    const size_t V = (size_t)m->vocab, nd = (size_t)n * (size_t)D;
    collect col;
    float *logits = malloc((size_t)n * V * sizeof(float));
    ocr_status rc = OCR_OK;
    ocr_npy a;
    char rel[128], name[160];
    if (!collect_init(&col, m, n) || !logits) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
        goto done;
    }
    lm_state_reset(st);
    lm_state_set_trace(st, on_trace, &col);
    rc = lm_forward(st, in->ids, in->mask, img, in->n_img, n, LM_LOGITS_ALL, logits, e);
    lm_state_set_trace(st, NULL, NULL);
    if (rc != OCR_OK) goto done;

    rc = stage_f32(c, r, "decoder/inputs_embeds.npy", "decoder/inputs_embeds", col.embed, nd,
                   TOL_ACT, e);
    for (int l = 0; l < L && rc == OCR_OK; l++) {
        snprintf(rel, sizeof rel, "decoder/dec_layer%d_gate_input.npy", l);
        snprintf(name, sizeof name, "decoder/dec_layer%d_gate_input", l);
        if (col.moe_seen[l])
            rc = stage_f32(c, r, rel, name, col.moe_in + (size_t)l * nd, nd, TOL_ACT, e);
        else if (golden(c, rel, &a, e) > 0) {
            rc = lm_conform_add(r, LM_STAGE_FAIL, name, INFINITY, TOL_ACT, 0,
                                "golden exists but layer %d is dense in this config", l);
            ocr_npy_free(&a);
        }
        if (rc != OCR_OK) break;
        /* Router: top-k as sets per token, weights matched by expert id. */
        snprintf(rel, sizeof rel, "decoder/dec_layer%d_gate_topk_idx.npy", l);
        ocr_npy gi, gw;
        int hi = golden(c, rel, &gi, e);
        if (hi < 0) { rc = e->code; break; }
        snprintf(rel, sizeof rel, "decoder/dec_layer%d_gate_topk_weight.npy", l);
        int hw = golden(c, rel, &gw, e);
        if (hw < 0) { ocr_npy_free(&gi); rc = e->code; break; }
        if (hi || hw) {
            int k = col.k;
            size_t nk = (size_t)n * (size_t)k;
            int32_t *mi = malloc(nk * sizeof *mi);
            float *mw = malloc(nk * sizeof *mw);
            int32_t *gid = hi ? to_i32(&gi) : NULL;
            if (!mi || !mw || (hi && !gid)) {
                rc = ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
            } else {
                memcpy(mi, col.ids + (size_t)l * nk, nk * sizeof *mi);
                memcpy(mw, col.w + (size_t)l * nk, nk * sizeof *mw);
                for (int t = 0; t < n; t++) sort_pairs(mi + (size_t)t * k, mw + (size_t)t * k, k);
                bool shapes_ok = !hi || (size_t)ocr_npy_numel(&gi) == nk;
                shapes_ok = shapes_ok && (!hw || (size_t)ocr_npy_numel(&gw) == nk);
                shapes_ok = shapes_ok && col.moe_seen[l];
                if (!shapes_ok) {
                    snprintf(name, sizeof name, "decoder/dec_layer%d_gate_topk", l);
                    rc = lm_conform_add(r, LM_STAGE_FAIL, name, INFINITY, 0, 0,
                                        "golden router arrays do not match [%d, %d]%s", n, k,
                                        col.moe_seen[l] ? "" : " (layer is dense here)");
                } else {
                    /* Golden rows are ascending by expert id too. */
                    long bad_sets = 0;
                    for (int t = 0; hi && t < n; t++) {
                        int32_t gs[64];
                        int kk = k < 64 ? k : 64;
                        memcpy(gs, gid + (size_t)t * k, (size_t)kk * sizeof *gs);
                        float dummy[64] = {0};
                        sort_pairs(gs, dummy, kk);
                        if (memcmp(gs, mi + (size_t)t * k, (size_t)kk * sizeof *gs) != 0)
                            bad_sets++;
                    }
                    if (hi) {
                        snprintf(name, sizeof name, "decoder/dec_layer%d_gate_topk_idx (sets)", l);
                        if (bad_sets)
                            rc = lm_conform_add(r, LM_STAGE_FAIL, name, (double)bad_sets, 0,
                                                bad_sets, "%ld of %d tokens chose other experts",
                                                bad_sets, n);
                        else
                            rc = lm_conform_add(r, LM_STAGE_PASS, name, 0, 0, 0,
                                                "all %d tokens equal", n);
                    }
                    if (rc == OCR_OK && hw) {
                        /* Compare weights by expert id: reorder the golden
                         * weights as its ids sort. */
                        float *gwv = malloc(nk * sizeof *gwv);
                        int32_t *gis = malloc(nk * sizeof *gis);
                        if (!gwv || !gis) {
                            rc = ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
                        } else {
                            memcpy(gwv, gw.data, nk * sizeof *gwv);
                            if (hi) memcpy(gis, gid, nk * sizeof *gis);
                            else memcpy(gis, mi, nk * sizeof *gis);
                            /* Tokens that chose other experts failed the
                             * set stage; their weights are not comparable. */
                            int skipped = 0;
                            for (int t = 0; t < n; t++) {
                                size_t o = (size_t)t * (size_t)k;
                                sort_pairs(gis + o, gwv + o, k);
                                if (memcmp(gis + o, mi + o, (size_t)k * sizeof *gis) != 0) {
                                    memcpy(gwv + o, mw + o, (size_t)k * sizeof *gwv);
                                    skipped++;
                                }
                            }
                            ocr_npy tmp = gw;
                            tmp.data = gwv;
                            snprintf(name, sizeof name,
                                     "decoder/dec_layer%d_gate_topk_weight (by id)", l);
                            if (gw.dtype != OCR_DT_F32)
                                rc = lm_conform_add(r, LM_STAGE_FAIL, name, INFINITY, TOL_ACT, 0,
                                                    "golden dtype %s", ocr_dtype_name(gw.dtype));
                            else
                                rc = cmp_f32(r, name, mw, nk, &tmp, TOL_ACT);
                            if (rc == OCR_OK && skipped) {
                                lm_stage *sg = &r->v[r->n - 1];
                                size_t ln = strlen(sg->note);
                                snprintf(sg->note + ln, sizeof sg->note - ln,
                                         "; %d tokens with other experts not compared", skipped);
                            }
                        }
                        free(gwv);
                        free(gis);
                    }
                }
            }
            free(mi);
            free(mw);
            free(gid);
        }
        ocr_npy_free(&gi);
        ocr_npy_free(&gw);
        if (rc != OCR_OK) break;
        snprintf(rel, sizeof rel, "decoder/dec_layer%d_out.npy", l);
        snprintf(name, sizeof name, "decoder/dec_layer%d_out", l);
        rc = stage_f32(c, r, rel, name, col.layer_out + (size_t)l * nd, nd, TOL_ACT, e);
    }
    if (rc == OCR_OK)
        rc = stage_f32(c, r, "decoder/dec_final_norm_out.npy", "decoder/dec_final_norm_out",
                       col.final_norm, nd, TOL_ACT, e);
    if (rc == OCR_OK)
        rc = stage_f32(c, r, "logits_prefill.npy", "logits_prefill (every position)", logits,
                       (size_t)n * V, TOL_LOGIT, e);
done:
    free(logits);
    collect_free(&col);
    return rc;
}

/* No-cache forward over prompt + the golden continuation. */
static ocr_status recompute_stage(ctx *c, lm_conform_report *r, lm_state *st, const inputs *in,
                                  const float *img, ocr_err *e)
{
    ocr_npy gold, gids;
    int hg = golden(c, "generation/logits_full_recompute.npy", &gold, e);
    if (hg <= 0) return hg < 0 ? e->code : OCR_OK;
    ocr_status rc = OCR_OK;
    const size_t V = (size_t)st->m->vocab;
    int rows = gold.ndim == 2 ? (int)gold.shape[0] : 0, G = rows - in->n;
    int32_t *ids = NULL, *cont = NULL;
    uint8_t *mask = NULL;
    float *logits = NULL;
    char p[4200];
    memset(&gids, 0, sizeof gids);
    snprintf(p, sizeof p, "%s/generation/generated_ids.npy", c->fix);
    if (G < 0 || !file_exists(p) || ocr_npy_load(&gids, p, e) != OCR_OK ||
        ocr_npy_numel(&gids) < G || rows > st->max_pos) {
        rc = lm_conform_add(r, LM_STAGE_FAIL, "generation/logits_full_recompute", INFINITY,
                            TOL_LOGIT, 0, "cannot rebuild the %d-token sequence", rows);
        goto done;
    }
    cont = to_i32(&gids);
    ids = malloc((size_t)rows * sizeof *ids);
    mask = calloc((size_t)rows, 1);
    logits = malloc((size_t)rows * V * sizeof(float));
    if (!cont || !ids || !mask || !logits) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
        goto done;
    }
    memcpy(ids, in->ids, (size_t)in->n * sizeof *ids);
    memcpy(ids + in->n, cont, (size_t)G * sizeof *ids);
    if (in->mask) memcpy(mask, in->mask, (size_t)in->n);
    lm_state_reset(st);
    rc = lm_forward(st, ids, mask, img, in->n_img, rows, LM_LOGITS_ALL, logits, e);
    if (rc == OCR_OK)
        rc = cmp_f32(r, "generation/logits_full_recompute (no cache)", logits, (size_t)rows * V,
                     &gold, TOL_LOGIT);
done:
    free(ids);
    free(cont);
    free(mask);
    free(logits);
    ocr_npy_free(&gold);
    ocr_npy_free(&gids);
    return rc;
}

/* Every .npy under FIX/sub (depth <= 2) that no stage consumed. */
static ocr_status list_unchecked(ctx *c, lm_conform_report *r, const char *sub, int depth,
                                 const char *reason)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s%s%s", c->fix, sub[0] ? "/" : "", sub);
    DIR *d = opendir(dir);
    if (!d) return OCR_OK;
    /* Sorted output: collect names first. */
    char (*names)[256] = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char (*nn)[256] = realloc(names, (size_t)cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        snprintf(names[n++], 256, "%s", de->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[256];
            memcpy(t, names[j], 256);
            memcpy(names[j], names[j - 1], 256);
            memcpy(names[j - 1], t, 256);
        }
    ocr_status rc = OCR_OK;
    for (int i = 0; i < n && rc == OCR_OK; i++) {
        char rel[600], full[4800];
        snprintf(rel, sizeof rel, "%s%s%s", sub, sub[0] ? "/" : "", names[i]);
        snprintf(full, sizeof full, "%s/%s", c->fix, rel);
        if (dir_exists(full)) {
            if (depth > 0) rc = list_unchecked(c, r, rel, depth - 1, reason);
            continue;
        }
        size_t len = strlen(rel);
        if (len < 4 || strcmp(rel + len - 4, ".npy") != 0 || is_done(c, rel)) continue;
        char stage[128];
        snprintf(stage, sizeof stage, "%.*s", (int)(len - 4), rel);
        rc = lm_conform_add(r, LM_STAGE_SKIP, stage, 0, 0, 0, "%s", reason);
    }
    free(names);
    return rc;
}

ocr_status lm_conform_run(lm_conform_report *r, const char *fixture, const char *common,
                          const float *img_rows, int n_img_rows, ocr_err *e)
{
    memset(r, 0, sizeof *r);
    ctx *c = calloc(1, sizeof *c);
    if (!c) return ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
    snprintf(c->fix, sizeof c->fix, "%s", fixture);
    if (common && *common)
        snprintf(c->common, sizeof c->common, "%s", common);
    else
        snprintf(c->common, sizeof c->common, "%s/../common", fixture);

    lm_model *m = NULL;
    lm_state *st = NULL;
    inputs in;
    memset(&in, 0, sizeof in);
    ocr_status rc = lm_model_load(&m, fixture, e);
    if (rc != OCR_OK) goto done;
    char img_path[4200];
    snprintf(img_path, sizeof img_path, "%s/vision/image_embeddings.npy", fixture);
    if (!img_rows) mark_done(c, "vision/image_embeddings.npy");
    if ((rc = inputs_load(&in, m, c->common, img_path, img_rows, n_img_rows, e)) != OCR_OK)
        goto done;
    const float *img = img_rows ? img_rows : (const float *)in.img_a.data;

    /* Room for the prompt plus the longest continuation any golden holds. */
    int extra = 64;
    {
        char p[4200];
        ocr_npy g;
        snprintf(p, sizeof p, "%s/generation/logits_full_recompute.npy", fixture);
        if (file_exists(p) && ocr_npy_load(&g, p, e) == OCR_OK) {
            if (g.ndim == 2 && g.shape[0] - in.n + 8 > extra) extra = (int)(g.shape[0] - in.n + 8);
            ocr_npy_free(&g);
        }
        snprintf(p, sizeof p, "%s/generation/generated_ids.npy", fixture);
        if (file_exists(p) && ocr_npy_load(&g, p, e) == OCR_OK) {
            if (ocr_npy_numel(&g) + 8 > extra) extra = (int)ocr_npy_numel(&g) + 8;
            ocr_npy_free(&g);
        }
        ocr_err_clear(e);
    }
    int max_pos = in.n + extra;
    if ((rc = lm_state_create(&st, m, max_pos, max_pos, e)) != OCR_OK) goto done;

    if ((rc = decoder_stages(c, r, st, &in, img, e)) != OCR_OK) goto done;
    if ((rc = check_generation(c, r, st, in.ids, in.mask, img, in.n_img, in.n, "generation",
                               "generation", e)) != OCR_OK)
        goto done;
    if ((rc = recompute_stage(c, r, st, &in, img, e)) != OCR_OK) goto done;

    /* The global-only (no tiles) case: its own prompt and image rows. */
    char gdir[4200], gcommon[4200];
    snprintf(gdir, sizeof gdir, "%s/global_only", fixture);
    snprintf(gcommon, sizeof gcommon, "%s/global_only", c->common);
    if (dir_exists(gdir) && dir_exists(gcommon)) {
        inputs gin;
        char gimg[4200];
        snprintf(gimg, sizeof gimg, "%s/global_only/image_embeddings.npy", fixture);
        mark_done(c, "global_only/image_embeddings.npy");
        rc = inputs_load(&gin, m, gcommon, gimg, NULL, 0, e);
        if (rc == OCR_OK && gin.n + extra > st->max_pos) {
            lm_state_destroy(&st);
            rc = lm_state_create(&st, m, gin.n + extra, gin.n + extra, e);
        }
        if (rc == OCR_OK) {
            const float *gi = (const float *)gin.img_a.data;
            ocr_npy a;
            int h = golden(c, "global_only/logits_prefill.npy", &a, e);
            if (h < 0) rc = e->code;
            if (h > 0) {
                size_t V = (size_t)m->vocab;
                float *lg = malloc((size_t)gin.n * V * sizeof(float));
                if (!lg) rc = ocr_err_set(e, OCR_E_NOMEM, "conform: out of memory");
                lm_state_reset(st);
                if (rc == OCR_OK)
                    rc = lm_forward(st, gin.ids, gin.mask, gi, gin.n_img, gin.n, LM_LOGITS_ALL,
                                    lg, e);
                if (rc == OCR_OK)
                    rc = cmp_f32(r, "global_only/logits_prefill (every position)", lg,
                                 (size_t)gin.n * V, &a, TOL_LOGIT);
                free(lg);
                ocr_npy_free(&a);
            }
            if (rc == OCR_OK)
                rc = check_generation(c, r, st, gin.ids, gin.mask, gi, gin.n_img, gin.n,
                                      "global_only", "generation", e);
        }
        inputs_free(&gin);
        if (rc != OCR_OK) goto done;
    }

    if ((rc = list_unchecked(c, r, "", 0, "no check for this file")) != OCR_OK) goto done;
    if ((rc = list_unchecked(c, r, "decoder", 1, "no check for this file")) != OCR_OK) goto done;
    if ((rc = list_unchecked(c, r, "generation", 1, "no check for this file")) != OCR_OK)
        goto done;
    if ((rc = list_unchecked(c, r, "global_only", 1, "no check for this file")) != OCR_OK)
        goto done;
done:
    inputs_free(&in);
    lm_state_destroy(&st);
    lm_model_destroy(&m);
    free(c);
    return rc;
}

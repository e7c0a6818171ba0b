/* train/trn_run.c — a training run: recipe, synthetic-data source,
 * tokenizer, validation CER on held-out fonts, log file, checkpoints.
 *
 * RUN/ holds recipe.json (a copy of the recipe the run started with),
 * ckpt.safetensors (the latest checkpoint, replaced atomically) and
 * train.log (appended; one line per log interval, one per validation).
 * A resumed run continues from the checkpoint's cursor: the batches,
 * the schedule and the balancing biases are those of an uninterrupted run.
 */
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "language/tok.h"
#include "train/syn.h"
#include "train/trn.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ------------------------------------------------------------------ recipe */

static const char *jstr(const json_t *o, const char *k, const char *def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : def;
}
static double jnum(const json_t *o, const char *k, double def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : def;
}

ocr_status trn_recipe_load(trn_recipe *r, const char *path, ocr_err *e)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return ocr_err_set(e, OCR_E_FORMAT, "%s:%d: %s", path, je.line, je.text);
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", jstr(j, "name", "nano"));
    r->seed = (uint64_t)jnum(j, "seed", 1);
    r->batch = (int)jnum(j, "batch", 24);
    r->pool_batches = (int)jnum(j, "pool_batches", 16);
    r->threads = (int)jnum(j, "threads", 2);
    r->max_text = (int)jnum(j, "max_text_tokens", 120);
    r->formula_fit = jnum(j, "formula_fit", 1.0);
    r->max_H = (int)jnum(j, "max_height", 32);
    r->max_W = (int)jnum(j, "max_width", 512);
    r->label_smoothing = (float)jnum(j, "label_smoothing", 0.0);
    snprintf(r->tokenizer, sizeof r->tokenizer, "%s", jstr(j, "tokenizer", "models/vlocr-nano/tokenizer.json"));
    snprintf(r->corpus, sizeof r->corpus, "%s", jstr(j, "corpus", "../shared/corpus"));
    snprintf(r->bank, sizeof r->bank, "%s", jstr(j, "bank", "train/cache/bank"));
    r->opt = trn_opt_default_params();
    const json_t *o = json_object_get(j, "opt");
    if (json_is_object(o)) {
        r->opt.lr = (float)jnum(o, "lr", r->opt.lr);
        r->opt.min_lr_frac = (float)jnum(o, "min_lr_frac", r->opt.min_lr_frac);
        r->opt.beta1 = (float)jnum(o, "beta1", r->opt.beta1);
        r->opt.beta2 = (float)jnum(o, "beta2", r->opt.beta2);
        r->opt.eps = (float)jnum(o, "eps", r->opt.eps);
        r->opt.wd = (float)jnum(o, "weight_decay", r->opt.wd);
        r->opt.clip = (float)jnum(o, "clip", r->opt.clip);
        r->opt.warmup = (int64_t)jnum(o, "warmup", (double)r->opt.warmup);
        r->opt.decay_start = (int64_t)jnum(o, "decay_start", (double)r->opt.decay_start);
        r->opt.total_steps = (int64_t)jnum(o, "total_steps", (double)r->opt.total_steps);
        r->opt.bias_gamma = (float)jnum(o, "bias_gamma", r->opt.bias_gamma);
    }
    const json_t *mx = json_object_get(j, "mix");
    r->mix[0] = jnum(mx, "line", 0.8);
    r->mix[1] = jnum(mx, "cell", 0.2);
    r->mix[2] = jnum(mx, "inline", 0.0);
    r->mix[3] = jnum(mx, "formula", 0.0);
    const json_t *ph = json_object_get(j, "phases");
    r->n_phases = 0;
    if (json_is_array(ph))
        for (size_t i = 0; i < json_array_size(ph) && r->n_phases < 8; i++) {
            const json_t *p = json_array_get(ph, i);
            r->phase_until[r->n_phases] = (int64_t)jnum(p, "until_step", -1);
            r->phase_width[r->n_phases] = (int)jnum(p, "max_width", r->max_W);
            /* A phase may change the mix (e.g. formulas from some step on);
             * kinds it does not name keep the run's share. */
            const json_t *pm = json_object_get(p, "mix");
            static const char *const kinds[4] = {"line", "cell", "inline", "formula"};
            for (int k = 0; k < 4; k++) r->phase_mix[r->n_phases][k] = jnum(pm, kinds[k], r->mix[k]);
            r->n_phases++;
        }
    if (r->n_phases == 0) {
        r->n_phases = 1;
        r->phase_until[0] = -1;
        r->phase_width[0] = r->max_W;
        for (int k = 0; k < 4; k++) r->phase_mix[0][k] = r->mix[k];
    }
    r->log_every = (int)jnum(j, "log_every", 10);
    r->val_every = (int)jnum(j, "val_every", 500);
    r->val_n = (int)jnum(j, "val_samples", 64);
    r->val_seed = (uint64_t)jnum(j, "val_seed", 777);
    r->ckpt_every_s = jnum(j, "ckpt_every_s", 600);
    r->ctc_weight = (float)jnum(j, "ctc_weight", 0.0);
    snprintf(r->init_from, sizeof r->init_from, "%s", jstr(j, "init_from", ""));
    json_decref(j);
    if (r->batch < 1 || r->pool_batches < 1 || r->max_text < 4 || r->max_H % 32 || r->max_W % 8)
        return ocr_err_set(e, OCR_E_CONFIG, "%s: bad batch/pool/max sizes", path);
    return OCR_OK;
}

/* -------------------------------------------------------- export */

/* A model directory is complete with its tokenizer: the recipe's
 * tokenizer.json (and the tokenizer_config.json beside it, if any) go next
 * to the exported weights, unless they are already the same files. */
static ocr_status export_tokenizer(const char *tok_path, const char *dir, ocr_err *e)
{
    char src_dir[1024], dst[1100];
    snprintf(src_dir, sizeof src_dir, "%s", tok_path);
    char *slash = strrchr(src_dir, '/');
    if (slash) *slash = 0;
    else snprintf(src_dir, sizeof src_dir, ".");
    static const char *const files[2] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char src[1100];
        if (i == 0) snprintf(src, sizeof src, "%s", tok_path);
        else snprintf(src, sizeof src, "%s/%s", src_dir, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        struct stat a, b;
        if (stat(src, &a) != 0) {
            if (i == 0) return ocr_err_set(e, OCR_E_NOTFOUND, "%s: cannot read the tokenizer", src);
            continue; /* no tokenizer_config.json: nothing to copy */
        }
        if (stat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) continue;
        uint8_t *buf = NULL;
        size_t len = 0;
        ocr_status rc = ocr_file_read(src, (size_t)1 << 28, &buf, &len, e);
        if (rc == OCR_OK) rc = ocr_file_write_atomic(dst, buf, len, e);
        free(buf);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

/* -------------------------------------------------------- synthetic source */

typedef struct {
    const trn_recipe *r;
    syn_split split;
    uint64_t seed;
    syn_ctx *ctx[8];
    syn_gen *gen[8];
} syn_source;

static ocr_status syn_get(void *ud, uint64_t index, int phase, trn_sample *out, ocr_err *e)
{
    syn_source *s = ud;
    if (phase < 0 || phase >= 8) phase = 0;
    if (!s->gen[phase]) {
        syn_params p = syn_default_params();
        p.kind = SYN_KIND_MIX;
        for (int k = 0; k < SYN_N_KINDS; k++) p.mix[k] = s->r->phase_mix[phase][k];
        p.split = s->split;
        p.height_text = 32;
        p.height_inline = 64;
        p.height_formula = 64;
        p.max_width_text = s->r->phase_width[phase];
        p.max_width_math = s->r->phase_width[phase];
        p.fit_math = s->r->formula_fit;
        p.corpus_dir = s->r->corpus;
        p.bank_dir = s->r->bank;
        p.math_fallback = true;
        ocr_status rc = syn_ctx_create(&s->ctx[phase], &p, e);
        if (rc == OCR_OK) rc = syn_gen_create(&s->gen[phase], s->ctx[phase], s->seed, e);
        if (rc != OCR_OK) return rc;
    }
    syn_sample sm;
    memset(&sm, 0, sizeof sm);
    ocr_status rc = syn_gen_sample(s->gen[phase], index, &sm, e);
    if (rc != OCR_OK) return rc;
    out->w = sm.w;
    out->h = sm.h;
    out->gray = sm.gray;
    out->text = sm.text;
    out->kind = syn_kind_is_math(sm.kind) && sm.kind == SYN_KIND_FORMULA ? 1 : 0;
    sm.gray = NULL;
    sm.text = NULL;
    syn_sample_free(&sm);
    return OCR_OK;
}

static void syn_source_free(syn_source *s)
{
    for (int i = 0; i < 8; i++) {
        syn_gen_destroy(&s->gen[i]);
        syn_ctx_destroy(&s->ctx[i]);
    }
}

static int phase_of(void *ud, uint64_t pool)
{
    const trn_recipe *r = ud;
    int64_t step = (int64_t)pool * r->pool_batches;
    for (int i = 0; i < r->n_phases; i++)
        if (r->phase_until[i] < 0 || step < r->phase_until[i]) return i;
    return r->n_phases - 1;
}

static int tok_enc(void *ud, const char *text, int32_t *ids, int cap)
{
    const tok_tokenizer *t = ud;
    size_t n = 0;
    ocr_status rc = tok_encode_into(t, text, strlen(text), false, ids, (size_t)cap, &n, NULL);
    if (rc != OCR_OK && rc != OCR_E_LIMIT) return -1;
    return (int)n;
}

/* ------------------------------------------------------------- validation */

typedef struct {
    trn_sample *s;
    int n;
} val_set;

static int cmp_w(const void *a, const void *b)
{
    const trn_sample *x = a, *y = b;
    if (x->h != y->h) return x->h - y->h;
    return x->w - y->w;
}

/* Greedy CER over the set: Σ edits / Σ reference characters. */
static ocr_status validate(trn_model *m, trn_state *st, trn_batch *b, const trn_limits *lim,
                           const val_set *vs, tok_tokenizer *tok, int max_new,
                           double *cer, double *exact, char *example, size_t excap, ocr_err *e)
{
    long edits = 0, chars = 0, ok = 0;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)lim->max_B * max_new);
    int *len = malloc(sizeof(int) * (size_t)lim->max_B);
    if (!out || !len) {
        free(out);
        free(len);
        return ocr_err_set(e, OCR_E_NOMEM, "validate: out of memory");
    }
    ocr_status rc = OCR_OK;
    example[0] = 0;
    for (int i0 = 0; i0 < vs->n && rc == OCR_OK; i0 += lim->max_B) {
        int n = vs->n - i0 < lim->max_B ? vs->n - i0 : lim->max_B;
        trn_sample *ptr[256];
        trn_sample blank[256];
        for (int i = 0; i < n; i++) {
            blank[i] = vs->s[i0 + i];
            blank[i].text = (char *)"";
            ptr[i] = &blank[i];
        }
        rc = trn_batch_build(b, &m->cfg, lim, ptr, n, tok_enc, (void *)tok, 1, e);
        if (rc != OCR_OK) break;
        /* The prompt ends with the task token: drop the padding column. */
        int T0 = b->T - 0;
        int mn = lim->max_T - T0 < max_new ? lim->max_T - T0 : max_new;
        rc = trn_greedy_decode(m, st, b, m->cfg.tok_text, mn, out, len, e);
        for (int i = 0; i < n && rc == OCR_OK; i++) {
            char *txt = NULL;
            size_t tl = 0;
            if (tok_decode(tok, out + (size_t)i * mn, (size_t)len[i], true, &txt, &tl, NULL) != OCR_OK)
                continue;
            int ref = 0;
            int d = trn_edit_distance(txt, vs->s[i0 + i].text, &ref);
            edits += d;
            chars += ref;
            ok += d == 0;
            if (i0 == 0 && i == n / 2)
                snprintf(example, excap, "ref «%s» got «%s»", vs->s[i0 + i].text, txt);
            free(txt);
        }
    }
    free(out);
    free(len);
    *cer = chars ? (double)edits / (double)chars : 0.0;
    *exact = vs->n ? (double)ok / vs->n : 0.0;
    return rc;
}

/* Does the model read the image? Cross-entropy of the first batch of the
 * validation set with its own images, then with the images moved one
 * sample over (same texts): the gap is what the image is worth. */
static ocr_status image_swap_losses(trn_model *m, trn_state *st, trn_batch *b,
                                    const trn_limits *lim, const val_set *vs, tok_tokenizer *tok,
                                    int max_text, double *same, double *swapped, ocr_err *e)
{
    int n = vs->n < lim->max_B ? vs->n : lim->max_B;
    trn_sample tmp[256], *ptr[256];
    if (n < 2) return OCR_OK;
    trn_state_set_ctc(st, 0.0f);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            tmp[i] = vs->s[pass ? (i + 1) % n : i];
            tmp[i].text = vs->s[i].text;
            ptr[i] = &tmp[i];
        }
        ocr_status rc = trn_batch_build(b, &m->cfg, lim, ptr, n, tok_enc, tok, max_text, e);
        if (rc != OCR_OK) return rc;
        double l = trn_forward(m, st, b, false, 0.0f, NULL);
        *(pass ? swapped : same) = l;
    }
    return OCR_OK;
}

/* -------------------------------------------------------------------- run */

typedef struct {
    FILE *f;
    trn_log_fn cb;
    void *ud;
} logger;

static void logf_(logger *L, const char *fmt, ...) OCR_PRINTF(2, 3);
static void logf_(logger *L, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (L->f) {
        fprintf(L->f, "%s\n", line);
        fflush(L->f);
    }
    if (L->cb) L->cb(L->ud, line);
}

static ocr_status copy_file(const char *from, const char *to, ocr_err *e)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    ocr_status rc = ocr_file_read(from, 1 << 24, &buf, &n, e);
    if (rc == OCR_OK) rc = ocr_file_write_atomic(to, buf, n, e);
    free(buf);
    return rc;
}

ocr_status trn_run(const trn_run_params *rp, ocr_err *e)
{
    char path[4096], ckpt[4096];
    trn_recipe r;
    const char *recipe_path = rp->recipe_path;
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", rp->run_dir);
    snprintf(path, sizeof path, "%s/recipe.json", rp->run_dir);
    /* A resumed run reads the recipe it started with, not a later edit,
     * unless a recipe is named explicitly. */
    if (rp->resume && !recipe_path) recipe_path = path;
    if (!recipe_path) return ocr_err_set(e, OCR_E_ARG, "trn_run: no recipe");
    ocr_status rc = trn_recipe_load(&r, recipe_path, e);
    if (rc != OCR_OK) return rc;
    mkdir(rp->run_dir, 0755);
    if (!rp->resume || strcmp(recipe_path, path) != 0) {
        rc = copy_file(recipe_path, path, e);
        if (rc != OCR_OK) return rc;
    }
    snprintf(path, sizeof path, "%s/train.log", rp->run_dir);
    logger L = {fopen(path, "a"), rp->log, rp->log_ud};
    if (!L.f) return ocr_err_set(e, OCR_E_IO, "%s: cannot open for appending", path);
    /* Every op, GEMMs included, on the OpenMP threads; OpenBLAS on one
     * (see trn_ops.c: its spinning workers would starve the other ops). */
    ocr_blas_set_threads(1);
    omp_set_num_threads(r.threads > 0 ? r.threads : 1);

    tok_tokenizer *tok = NULL;
    trn_model *m = NULL;
    trn_state *st = NULL;
    trn_loader *ld = NULL;
    trn_batch b;
    memset(&b, 0, sizeof b);
    syn_source src = {&r, SYN_SPLIT_TRAIN, r.seed, {0}, {0}};
    syn_source vsrc = {&r, SYN_SPLIT_VAL, r.val_seed, {0}, {0}};
    val_set vs = {NULL, 0};
    double *load = NULL, *load_acc = NULL;
    trn_config c = trn_config_nano();
    rc = tok_load(&tok, r.tokenizer, e);
    if (rc == OCR_OK && tok_vocab_size(tok) > c.vocab)
        rc = ocr_err_set(e, OCR_E_CONFIG, "%s: %d tokens, the model has %d", r.tokenizer,
                         tok_vocab_size(tok), c.vocab);
    if (rc == OCR_OK) rc = trn_model_create(&m, &c, e);
    trn_progress pr = {0, r.seed, 0, 0, 0, 0};
    if (rc == OCR_OK) {
        trn_model_init(m, r.seed);
        if (rp->resume) {
            rc = trn_ckpt_load(m, &pr, ckpt, e);
            if (rc == OCR_OK)
                logf_(&L, "resume step %lld pool %llu batch %llu samples %.0f train_h %.2f",
                      (long long)pr.step, (unsigned long long)pr.pool,
                      (unsigned long long)pr.batch_in_pool, pr.samples_seen, pr.train_seconds / 3600);
        } else {
            logf_(&L, "start %s seed %llu params %zu floats (%d tensors) ctc %.2f", r.name,
                  (unsigned long long)r.seed, m->n_floats, m->n_params, (double)r.ctc_weight);
            if (r.init_from[0]) {
                /* Warm start: weights and biases of another run, fresh moments and
                 * schedule; samples and hours continue from it (for the record). */
                trn_progress from;
                struct stat ist;
                if (stat(r.init_from, &ist) == 0 && S_ISDIR(ist.st_mode)) {
                    /* An exported model directory (e.g. models/vlocr-nano, which is
                     * what carries a run from one session to the next): its
                     * weights and MoE biases; the trainer-only CTC head starts
                     * at zero as in a fresh run. */
                    char mp[600];
                    snprintf(mp, sizeof mp, "%s/model.safetensors", r.init_from);
                    rc = trn_import(m, mp, e);
                    if (rc == OCR_OK)
                        logf_(&L, "init from exported model %s (BF16 weights widened)", r.init_from);
                } else if ((rc = trn_ckpt_warm_start(m, r.init_from, &from, e)) == OCR_OK) {
                    pr.samples_seen = from.samples_seen;
                    pr.train_seconds = from.train_seconds;
                    logf_(&L, "init from %s (step %lld, samples %.0f, train_h %.2f)", r.init_from,
                          (long long)from.step, from.samples_seen, from.train_seconds / 3600);
                }
            }
        }
    }
    const int n_img_max = trn_image_rows(&c, r.max_H, r.max_W);
    trn_limits lim = {r.batch, r.max_H, r.max_W, 2 + n_img_max + r.max_text};
    if (rc == OCR_OK) rc = trn_state_create(&st, m, &lim, e);
    if (rc == OCR_OK) trn_state_set_ctc(st, r.ctc_weight);
    if (rc == OCR_OK) rc = trn_batch_alloc(&b, &c, &lim, e);
    trn_source s = {syn_get, &src};
    if (rc == OCR_OK)
        rc = trn_loader_create(&ld, &s, r.seed, r.batch, r.pool_batches, pr.pool, phase_of, &r, true, e);
    /* Held-out fonts, made once; the widest phase's width. */
    if (rc == OCR_OK && r.val_n > 0) {
        vs.s = calloc((size_t)r.val_n, sizeof *vs.s);
        if (!vs.s) rc = ocr_err_set(e, OCR_E_NOMEM, "trn_run: out of memory");
        for (int i = 0; rc == OCR_OK && i < r.val_n; i++, vs.n++)
            rc = syn_get(&vsrc, (uint64_t)i, r.n_phases - 1, &vs.s[i], e);
        if (rc == OCR_OK) qsort(vs.s, (size_t)vs.n, sizeof *vs.s, cmp_w);
    }
    const size_t nl = (size_t)c.layers * (size_t)c.n_routed;
    if (rc == OCR_OK) {
        load = calloc(nl + 1, sizeof *load);
        load_acc = calloc(nl + 1, sizeof *load_acc);
        if (!load || !load_acc) rc = ocr_err_set(e, OCR_E_NOMEM, "trn_run: out of memory");
    }
    double t_start = now_s(), t_ckpt = t_start, t_log = t_start, loss_acc = 0, gn_acc = 0;
    double xent_acc = 0, ctc_acc = 0;
    long ctc_n_acc = 0;
    long n_acc = 0, samp_acc = 0, tok_acc = 0;
    int64_t steps_here = 0;
    while (rc == OCR_OK) {
        if (rp->stop && *rp->stop) break;
        if (rp->max_steps != 0 && steps_here >= rp->max_steps) break;
        if (rp->until_step > 0 && pr.step >= rp->until_step) break;
        if (rp->max_hours > 0 && now_s() - t_start > rp->max_hours * 3600) break;
        trn_sample **sm = NULL;
        rc = trn_loader_batch(ld, pr.pool, pr.batch_in_pool, &sm, e);
        if (rc != OCR_OK) break;
        rc = trn_batch_build(&b, &c, &lim, sm, r.batch, tok_enc, tok, r.max_text, e);
        if (rc != OCR_OK) break;
        trn_step_stats ss;
        double t0 = now_s();
        rc = trn_step(m, st, &b, &r.opt, pr.step, r.label_smoothing, load, &ss, e);
        if (rc != OCR_OK) break;
        double dt = now_s() - t0;
        pr.train_seconds += dt;
        pr.step++;
        steps_here++;
        pr.samples_seen += r.batch;
        if (++pr.batch_in_pool == (uint64_t)r.pool_batches) pr.batch_in_pool = 0, pr.pool++;
        for (size_t i = 0; i < nl; i++) load_acc[i] += load[i];
        {
            double xe = 0, cl = 0;
            int used = 0;
            trn_state_losses(st, &xe, &cl, &used);
            xent_acc += xe;
            ctc_acc += cl;
            ctc_n_acc += used;
        }
        loss_acc += ss.loss;
        gn_acc += ss.grad_norm;
        n_acc++;
        samp_acc += r.batch;
        tok_acc += b.n_targets;
        if (pr.step % r.log_every == 0) {
            double now = now_s(), el = now - t_log;
            char lb[512];
            size_t o = 0;
            lb[0] = 0;
            for (int l = c.first_dense; l < c.layers && o < sizeof lb - 32; l++) {
                double mx = 0, mean = 0;
                for (int x = 0; x < c.n_routed; x++) {
                    double v = load_acc[(size_t)l * c.n_routed + x];
                    mean += v;
                    mx = v > mx ? v : mx;
                }
                mean /= c.n_routed;
                o += (size_t)snprintf(lb + o, sizeof lb - o, " %.2f", mean > 0 ? mx / mean : 0.0);
            }
            /* loss: cross-entropy per text token (the curve); ctc: the auxiliary
             * loss per label token and the share of crops it covered. */
            char cb[96] = "";
            if (r.ctc_weight > 0)
                snprintf(cb, sizeof cb, " ctc %.4f (%.0f%%)", ctc_acc / n_acc,
                         100.0 * (double)ctc_n_acc / (double)samp_acc);
            logf_(&L, "step %lld loss %.4f lr %.2e gnorm %.2f samples/s %.2f tokens/step %.0f "
                      "W %d load_max/mean%s seen %.0f h %.3f%s",
                  (long long)pr.step, xent_acc / n_acc, ss.lr, gn_acc / n_acc, samp_acc / el,
                  (double)tok_acc / n_acc, b.W, lb, pr.samples_seen, pr.train_seconds / 3600, cb);
            memset(load_acc, 0, sizeof(double) * nl);
            loss_acc = gn_acc = xent_acc = ctc_acc = 0;
            ctc_n_acc = 0;
            n_acc = samp_acc = tok_acc = 0;
            t_log = now;
        }
        if (r.val_every > 0 && vs.n > 0 && pr.step % r.val_every == 0) {
            double cer = 0, ex = 0, tv = now_s();
            char example[1024];
            rc = validate(m, st, &b, &lim, &vs, tok, r.max_text, &cer, &ex, example, sizeof example, e);
            if (rc != OCR_OK) break;
            double l_same = 0, l_swap = 0;
            if (rc == OCR_OK) rc = image_swap_losses(m, st, &b, &lim, &vs, tok, r.max_text, &l_same, &l_swap, e);
            trn_state_set_ctc(st, r.ctc_weight);
            if (rc != OCR_OK) break;
            logf_(&L, "val step %lld cer %.4f exact %.3f n %d (%.1fs) loss %.4f swapped %.4f %s",
                  (long long)pr.step, cer, ex, vs.n, now_s() - tv, l_same, l_swap, example);
            t_log += now_s() - tv;
        }
        if (now_s() - t_ckpt > r.ckpt_every_s) {
            rc = trn_ckpt_save(m, &pr, ckpt, e);
            if (rc != OCR_OK) break;
            logf_(&L, "checkpoint step %lld", (long long)pr.step);
            t_ckpt = now_s();
        }
    }
    if (rc == OCR_OK && m && steps_here > 0) {
        rc = trn_ckpt_save(m, &pr, ckpt, e);
        if (rc == OCR_OK) logf_(&L, "checkpoint step %lld (stop)", (long long)pr.step);
    }
    if (rc == OCR_OK && m && rp->export_dir) {
        rc = trn_export(m, rp->export_dir, true, e);
        if (rc == OCR_OK) rc = export_tokenizer(r.tokenizer, rp->export_dir, e);
        if (rc == OCR_OK) logf_(&L, "exported step %lld to %s", (long long)pr.step, rp->export_dir);
    }
    if (rc != OCR_OK) logf_(&L, "error: %s", e ? e->msg : "?");
    trn_loader_destroy(&ld);
    for (int i = 0; i < vs.n; i++) trn_sample_free(&vs.s[i]);
    free(vs.s);
    syn_source_free(&src);
    syn_source_free(&vsrc);
    trn_batch_free(&b);
    trn_state_destroy(&st);
    trn_model_destroy(&m);
    tok_destroy(&tok);
    free(load);
    free(load_acc);
    fclose(L.f);
    return rc;
}

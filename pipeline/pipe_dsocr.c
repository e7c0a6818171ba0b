/* pipeline/pipe_dsocr.c — a whole page through a DeepSeek-OCR checkpoint, as
 * the official infer() runs it (research/deepseek-ocr-arch.md §3, §9):
 *
 *   image ─► vis_preprocess (mode: tiles + global view) ─► vis_encode (image
 *   rows) ─► [BOS] + ids(text before <image>) + image slots + ids(text after)
 *   ─► lm_generate (greedy, EOS, no-repeat n-gram) ─► decode with special
 *   tokens kept, EOS stripped, strip() ─► pipe_ground_parse into blocks
 *   ─► pipe_page_lines_from_text (each block's text lines, block boxes).
 *
 * The model (pipe_dsocr) is read-only after load and may be shared; each
 * request runs on its own pipe_dsocr_state (encoder scratch, KV cache sized
 * for the largest prompt the tiling allows plus max_new_tokens). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "language/lm.h"
#include "language/tok.h"
#include "pipeline/pipe.h"
#include "vision/vis.h"

/* infer() hard-codes the image token; used when the tokenizer lacks it. */
#define DSOCR_IMAGE_ID 128815

struct pipe_dsocr {
    char dir[1024];
    ocr_config cfg;
    ocr_st *st;
    vis_model *vis;
    lm_model *lm;
    tok_tokenizer *tok;
    int32_t image_id, bos, eos;
    int32_t td[2]; /* <td>, </td> (-1: none) */
};

struct pipe_dsocr_state {
    const pipe_dsocr *m;
    pipe_dsocr_params p;
    int32_t *before, *after; /* prompt text ids around <image> */
    size_t n_before, n_after;
    int max_slots, max_pos;
    vis_state *vs;
    lm_state *ls;
    int32_t *out; /* [max_new_tokens] */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

pipe_dsocr_params pipe_dsocr_default_params(void)
{
    pipe_dsocr_params p;
    memset(&p, 0, sizeof p);
    vis_prep_params_mode(&p.prep, "gundam", NULL);
    p.prompt = NULL;
    lm_gen_params g = lm_gen_default_params();
    p.max_new_tokens = g.max_new_tokens;
    p.ngram_size = 20;
    p.ngram_window = 0;
    p.loop_max_period = g.loop_max_period;
    p.loop_min_repeats = g.loop_min_repeats;
    p.loop_min_tokens = g.loop_min_tokens;
    return p;
}

/* The official prompts (DeepSeek-OCR README / run_dpsk_ocr.py). */
ocr_status pipe_dsocr_prompt(char *out, size_t cap, const char *spec, ocr_err *e)
{
    static const struct {
        const char *name, *text;
    } named[] = {
        {"markdown", "<image>\n<|grounding|>Convert the document to markdown."},
        {"ocr", "<image>\n<|grounding|>OCR this image."},
        {"free", "<image>\nFree OCR."},
        {"figure", "<image>\nParse the figure."},
        {"describe", "<image>\nDescribe this image in detail."},
    };
    if (!spec || !*spec) spec = "markdown";
    int n;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (strcmp(spec, named[i].name) == 0) {
            n = snprintf(out, cap, "%s", named[i].text);
            goto check;
        }
    if (strncmp(spec, "locate:", 7) == 0) {
        const char *q = spec + 7;
        while (*q == ' ') q++;
        if (!*q) return ocr_err_set(e, OCR_E_ARG, "prompt 'locate:': the text to locate is empty");
        n = snprintf(out, cap, "<image>\nLocate <|ref|>%s<|/ref|> in the image.", q);
        goto check;
    }
    {
        const char *img = strstr(spec, "<image>");
        if (img && strstr(img + 7, "<image>"))
            return ocr_err_set(e, OCR_E_ARG,
                               "prompt: more than one <image> (one page is one image)");
        n = snprintf(out, cap, "%s%s", img ? "" : "<image>\n", spec);
    }
check:
    if (n < 0 || (size_t)n >= cap) return ocr_err_set(e, OCR_E_LIMIT, "prompt: longer than %zu bytes", cap);
    return OCR_OK;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

void pipe_dsocr_destroy(pipe_dsocr **pm)
{
    if (!pm || !*pm) return;
    pipe_dsocr *m = *pm;
    lm_model_destroy(&m->lm);
    vis_model_destroy(&m->vis);
    tok_destroy(&m->tok);
    ocr_st_close(&m->st);
    free(m);
    *pm = NULL;
}

ocr_status pipe_dsocr_load(pipe_dsocr **out, const char *dir, ocr_err *e)
{
    *out = NULL;
    pipe_dsocr *m = calloc(1, sizeof *m);
    if (!m) return ocr_err_set(e, OCR_E_NOMEM, "pipe_dsocr_load: out of memory");
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[1200];
    ocr_status rc;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!file_exists(path)) {
        rc = ocr_err_set(e, OCR_E_NOTFOUND, "%s: not found (a model directory holds config.json, "
                         "*.safetensors and tokenizer.json)", path);
        goto fail;
    }
    if ((rc = ocr_config_load(&m->cfg, path, e)) != OCR_OK) goto fail;
    if (!m->cfg.vis.present) {
        rc = ocr_err_set(e, OCR_E_UNSUPPORTED,
                         "%s: no vision_config: not a DeepSeek-OCR checkpoint (model_type '%s')",
                         path, m->cfg.model_type);
        goto fail;
    }
    /* The tokenizer first: it is small, and its absence is the common
     * mistake with hand-assembled directories. */
    char tj[1200], tz[1200];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    snprintf(tz, sizeof tz, "%s/tokenizer.json.gz", dir);
    if (!file_exists(tj) && !file_exists(tz)) {
        rc = ocr_err_set(e, OCR_E_NOTFOUND,
                         "%s: not found (the checkpoint's tokenizer is needed to build the prompt "
                         "and read the output)", tj);
        goto fail;
    }
    if ((rc = tok_load(&m->tok, dir, e)) != OCR_OK) goto fail;
    if ((rc = ocr_st_open(&m->st, dir, e)) != OCR_OK) goto fail;
    if ((rc = vis_model_create(&m->vis, &m->cfg.vis, m->st, e)) != OCR_OK) goto fail;
    if ((rc = lm_model_create(&m->lm, &m->cfg.lm, m->st, e)) != OCR_OK) goto fail;
    if (m->vis->n_embed != m->lm->dim) {
        rc = ocr_err_set(e, OCR_E_CONFIG, "%s: projector width %d differs from the decoder's "
                         "hidden_size %d", path, m->vis->n_embed, m->lm->dim);
        goto fail;
    }
    m->image_id = tok_id(m->tok, "<image>");
    if (m->image_id < 0) m->image_id = DSOCR_IMAGE_ID;
    m->bos = tok_bos(m->tok) >= 0 ? tok_bos(m->tok) : m->cfg.lm.bos_token_id;
    m->eos = tok_eos(m->tok) >= 0 ? tok_eos(m->tok) : m->cfg.lm.eos_token_id;
    m->td[0] = tok_id(m->tok, "<td>");
    m->td[1] = tok_id(m->tok, "</td>");
    int V = m->lm->vocab;
    if (m->image_id >= V || m->bos < 0 || m->bos >= V || m->eos < 0 || m->eos >= V) {
        rc = ocr_err_set(e, OCR_E_CONFIG,
                         "%s: token ids out of the decoder's vocabulary of %d (image %d, BOS %d, "
                         "EOS %d)", dir, V, (int)m->image_id, (int)m->bos, (int)m->eos);
        goto fail;
    }
    *out = m;
    return OCR_OK;
fail:
    pipe_dsocr_destroy(&m);
    return rc;
}

void pipe_dsocr_describe(const pipe_dsocr *m, char *out, size_t cap)
{
    const ocr_lm_config *c = &m->cfg.lm;
    snprintf(out, cap,
             "%s: DeepSeek-OCR (%s), decoder %d layers x %d, %s, %d routed experts top-%d + %d "
             "shared, vocab %d; encoder SAM %d x %d + CLIP %d x %d -> %d; image token %d",
             m->dir, m->cfg.model_type[0] ? m->cfg.model_type : "?", c->num_hidden_layers,
             c->hidden_size, c->use_mla ? "MLA" : "MHA", c->n_routed_experts,
             c->num_experts_per_tok, c->n_shared_experts, c->vocab_size, m->cfg.vis.sam.layers,
             m->cfg.vis.sam.width, m->cfg.vis.clip.layers, m->cfg.vis.clip.width, m->vis->n_embed,
             (int)m->image_id);
}

/* The most image slots a prompt of these parameters can hold. */
static int max_image_slots(const vis_prep_params *p)
{
    int best = vis_image_slots(p, 0, 1, 1);
    if (!p->crop_mode) return best;
    for (int tw = 1; tw <= p->max_tiles; tw++)
        for (int th = 1; tw * th <= p->max_tiles; th++) {
            if (tw * th < p->min_tiles) continue;
            int n = vis_image_slots(p, tw * th, tw, th);
            if (n > best) best = n;
        }
    return best;
}

void pipe_dsocr_state_destroy(pipe_dsocr_state **ps)
{
    if (!ps || !*ps) return;
    pipe_dsocr_state *s = *ps;
    vis_state_destroy(&s->vs);
    lm_state_destroy(&s->ls);
    free(s->before);
    free(s->after);
    free(s->out);
    free(s);
    *ps = NULL;
}

static const char WS[] = " \t\n\r\f\v";

ocr_status pipe_dsocr_state_create(pipe_dsocr_state **out, const pipe_dsocr *m,
                                   const pipe_dsocr_params *p, ocr_err *e)
{
    *out = NULL;
    ocr_status rc = vis_prep_params_check(&p->prep, e);
    if (rc != OCR_OK) return rc;
    if (p->max_new_tokens < 1 || p->max_new_tokens > (1 << 20))
        return ocr_err_set(e, OCR_E_ARG, "max_new_tokens %d: want 1..1048576", p->max_new_tokens);
    if (p->ngram_size < 0 || p->ngram_window < 0)
        return ocr_err_set(e, OCR_E_ARG, "no-repeat n-gram size and window must be >= 0");
    pipe_dsocr_state *s = calloc(1, sizeof *s);
    if (!s) return ocr_err_set(e, OCR_E_NOMEM, "pipe_dsocr_state_create: out of memory");
    s->m = m;
    s->p = *p;
    s->p.prompt = NULL; /* borrowed only until we return */

    /* The plain template: the user text strip()ped, split at <image>. */
    char def[128];
    const char *text = p->prompt;
    if (!text) {
        pipe_dsocr_prompt(def, sizeof def, "markdown", NULL);
        text = def;
    }
    size_t len = strlen(text);
    while (len && strchr(WS, text[len - 1])) len--;
    while (len && strchr(WS, *text)) text++, len--;
    const char *img = NULL;
    for (size_t i = 0; i + 7 <= len && !img; i++)
        if (memcmp(text + i, "<image>", 7) == 0) img = text + i;
    if (!img) {
        rc = ocr_err_set(e, OCR_E_ARG, "prompt has no <image>");
        goto fail;
    }
    size_t nb = (size_t)(img - text), na = len - nb - 7;
    if (nb && (rc = tok_encode(m->tok, text, nb, false, &s->before, &s->n_before, e)) != OCR_OK)
        goto fail;
    if (na && (rc = tok_encode(m->tok, img + 7, na, false, &s->after, &s->n_after, e)) != OCR_OK)
        goto fail;
    for (size_t i = 0; i + 7 <= na; i++)
        if (memcmp(img + 7 + i, "<image>", 7) == 0) {
            rc = ocr_err_set(e, OCR_E_ARG, "prompt has more than one <image>");
            goto fail;
        }

    s->max_slots = max_image_slots(&p->prep);
    size_t max_pos = 1 + s->n_before + s->n_after + (size_t)s->max_slots + (size_t)p->max_new_tokens;
    if (max_pos > (size_t)1 << 24) {
        rc = ocr_err_set(e, OCR_E_LIMIT, "prompt + max_new_tokens = %zu positions: too many", max_pos);
        goto fail;
    }
    s->max_pos = (int)max_pos;
    int max_view = p->prep.base_size > p->prep.image_size ? p->prep.base_size : p->prep.image_size;
    if ((rc = vis_state_create(&s->vs, m->vis, max_view, e)) != OCR_OK) goto fail;
    if ((rc = lm_state_create(&s->ls, m->lm, s->max_pos, 0, e)) != OCR_OK) goto fail;
    if (!(s->out = malloc((size_t)p->max_new_tokens * sizeof *s->out))) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_dsocr_state_create: out of memory");
        goto fail;
    }
    *out = s;
    return OCR_OK;
fail:
    pipe_dsocr_state_destroy(&s);
    return rc;
}

typedef struct {
    double t_first;
} gen_clock;

static bool on_token(void *ud, int32_t tok)
{
    (void)tok;
    gen_clock *c = ud;
    if (c->t_first == 0) c->t_first = now();
    return true;
}

static const char *stop_name(lm_stop_reason r)
{
    switch (r) {
    case LM_STOP_TOKEN: return "eos";
    case LM_STOP_LOOP: return "loop";
    case LM_STOP_CONTEXT: return "context";
    case LM_STOP_CALLER: return "caller";
    case LM_STOP_LENGTH:
    default: return "length";
    }
}

ocr_status pipe_dsocr_run(pipe_dsocr_state *s, const uint8_t *rgb, int w, int h, pipe_page *pg,
                          ocr_err *e)
{
    const pipe_dsocr *m = s->m;
    vis_views views;
    memset(&views, 0, sizeof views);
    float *img = NULL;
    int32_t *ids = NULL;
    uint8_t *mask = NULL;
    char *text = NULL;
    pipe_run_stats *st = &pg->stats;
    memset(st, 0, sizeof *st);
    free(pg->raw);
    free(pg->ids);
    pg->raw = NULL;
    pg->ids = NULL;
    pg->n_ids = 0;

    double t0 = now();
    ocr_status rc = vis_preprocess(&views, rgb, w, h, &s->p.prep, e);
    if (rc != OCR_OK) goto done;
    st->tiles_w = views.tiles_w;
    st->tiles_h = views.tiles_h;
    st->n_tiles = views.n_tiles;
    double t1 = now();
    int rows = vis_encode_rows(m->vis, &views);
    if (rows != views.n_slots || rows > s->max_slots) {
        rc = ocr_err_set(e, OCR_E_ARG, "pipe_dsocr_run: %d image rows for %d slots (state holds %d)",
                         rows, views.n_slots, s->max_slots);
        goto done;
    }
    if (!(img = malloc((size_t)rows * (size_t)m->vis->n_embed * sizeof *img))) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_dsocr_run: out of memory");
        goto done;
    }
    if ((rc = vis_encode(s->vs, &views, img, rows, e)) != OCR_OK) goto done;
    double t2 = now();

    size_t cap = 1 + s->n_before + s->n_after + (size_t)rows, n = 0;
    ids = malloc(cap * sizeof *ids);
    mask = malloc(cap);
    if (!ids || !mask) {
        rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_dsocr_run: out of memory");
        goto done;
    }
    if ((rc = vis_prompt_build(ids, mask, cap, &n, m->bos, s->before, s->n_before, m->image_id,
                               rows, s->after, s->n_after, e)) != OCR_OK)
        goto done;
    st->n_prompt = (int)n;
    st->n_image = rows;

    lm_gen_params g = lm_gen_default_params();
    g.max_new_tokens = s->p.max_new_tokens;
    g.temperature = 0.0f;
    int32_t eos = m->eos;
    g.stop_ids = &eos;
    g.n_stop = 1;
    g.ngram_size = s->p.ngram_size;
    g.ngram_window = s->p.ngram_window;
    g.ngram_include_prompt = s->p.ngram_window == 0;
    int32_t wl[2];
    int nwl = 0;
    if (s->p.ngram_window > 0)
        for (int i = 0; i < 2; i++)
            if (m->td[i] >= 0) wl[nwl++] = m->td[i];
    g.ngram_whitelist = wl;
    g.n_ngram_whitelist = nwl;
    g.loop_max_period = s->p.loop_max_period;
    g.loop_min_repeats = s->p.loop_min_repeats;
    g.loop_min_tokens = s->p.loop_min_tokens;
    gen_clock clk = {0};
    g.on_token = on_token;
    g.on_token_ud = &clk;
    lm_gen_result res;
    rc = lm_generate(s->ls, &g, ids, mask, img, rows, (int)n, s->out, s->p.max_new_tokens, NULL,
                     &res, e);
    double t3 = now();
    if (rc != OCR_OK) goto done;
    if (clk.t_first == 0) clk.t_first = t3;
    st->t_prep = t1 - t0;
    st->t_encode = t2 - t1;
    st->t_prefill = clk.t_first - t2;
    st->t_decode = t3 - clk.t_first;
    st->n_generated = res.n_tokens;
    st->stop = stop_name(res.reason);
    st->loop_period = res.loop_period;
    st->loop_repeats = res.loop_repeats;
    st->loop_start = res.loop_start;

    if (res.n_tokens > 0) {
        if (!(pg->ids = malloc((size_t)res.n_tokens * sizeof *pg->ids))) {
            rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_dsocr_run: out of memory");
            goto done;
        }
        memcpy(pg->ids, s->out, (size_t)res.n_tokens * sizeof *pg->ids);
        pg->n_ids = res.n_tokens;
    }
    /* The text: EOS stripped; a loop cut after its first period. */
    int k = res.n_tokens;
    if (k > 0 && s->out[k - 1] == m->eos) k--;
    if (res.reason == LM_STOP_LOOP && res.loop_start + res.loop_period < k)
        k = res.loop_start + res.loop_period;
    size_t tl = 0;
    if ((rc = tok_decode(m->tok, s->out, (size_t)k, false, &text, &tl, e)) != OCR_OK) goto done;
    /* NUL bytes are never text; then str.strip(). */
    size_t j = 0;
    for (size_t i = 0; i < tl; i++)
        if (text[i]) text[j++] = text[i];
    tl = j;
    size_t a = 0;
    while (a < tl && strchr(WS, text[a])) a++;
    while (tl > a && strchr(WS, text[tl - 1])) tl--;
    memmove(text, text + a, tl - a);
    text[tl - a] = 0;
    pg->raw = text;
    text = NULL;
done:
    vis_views_free(&views);
    free(img);
    free(ids);
    free(mask);
    free(text);
    return rc;
}

ocr_status pipe_dsocr_page(pipe_dsocr_state *s, PIX *pix, pipe_page *pg, ocr_err *e)
{
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    ocr_status rc = img_rgb_planes(&rgb, &w, &h, pix, e);
    if (rc != OCR_OK) return rc;
    pg->width = w;
    pg->height = h;
    rc = pipe_dsocr_run(s, rgb, w, h, pg, e);
    free(rgb);
    if (rc == OCR_OK) rc = pipe_ground_parse(pg, pg->raw, strlen(pg->raw), e);
    /* The model locates blocks, not lines: each block's text lines get the
     * block's box (or its i-th box), confidence unknown. */
    if (rc == OCR_OK) rc = pipe_page_lines_from_text(pg, e);
    return rc;
}

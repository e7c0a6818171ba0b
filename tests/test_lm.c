/* tests/test_lm.c — the decoder: absorbed MLA against its naive oracle, MHA
 * against its loop oracle, cached decode against full recompute, the
 * router's selection rules, the n-gram guard, the loop detector, sampling,
 * generation, loading (round trip and shape errors), and the three public
 * conformance fixtures end to end.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "language/lm.h"
#include "tests/tst.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static void *xalloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "test_lm: out of memory\n");
        exit(2);
    }
    return p;
}

static float *frand(size_t n, float lo, float hi)
{
    float *p = xalloc(n * sizeof(float));
    tst_fill_uniform(p, n, lo, hi, &rng);
    return p;
}

static const char *shared_dir(void)
{
    const char *s = getenv("VLOCR_SHARED");
    return s && *s ? s : "../shared";
}

/* A tiny decoder: 3 layers (0 dense, 1-2 MoE), 8 experts in 4 groups. */
static ocr_lm_config tiny_cfg(bool mla, bool q_lora, bool yarn, const char *method,
                              const char *scoring)
{
    ocr_config c;
    ocr_config_default_params(&c);
    ocr_lm_config l = c.lm;
    l.vocab_size = 97;
    l.hidden_size = 48;
    l.intermediate_size = 64;
    l.moe_intermediate_size = 24;
    l.num_hidden_layers = 3;
    l.num_attention_heads = 4;
    l.num_key_value_heads = 2; /* GQA for the MHA variant */
    l.n_shared_experts = 1;
    l.n_routed_experts = 8;
    l.num_experts_per_tok = 2;
    l.first_k_dense_replace = 1;
    l.moe_layer_freq = 1;
    l.n_group = 4;
    l.topk_group = 2;
    snprintf(l.topk_method, sizeof l.topk_method, "%s", method);
    snprintf(l.scoring_func, sizeof l.scoring_func, "%s", scoring);
    l.norm_topk_prob = true;
    l.routed_scaling_factor = 2.0f;
    l.use_mla = mla;
    l.q_lora_rank = q_lora ? 32 : 0;
    l.kv_lora_rank = 24;
    l.qk_nope_head_dim = 8;
    l.qk_rope_head_dim = 6;
    l.v_head_dim = 10;
    l.max_position_embeddings = 256;
    l.eos_token_id = 1;
    if (yarn) {
        l.rope_scaling.enabled = true;
        snprintf(l.rope_scaling.type, sizeof l.rope_scaling.type, "yarn");
        l.rope_scaling.factor = 4.0f;
        l.rope_scaling.original_max_position_embeddings = 32;
        l.rope_scaling.beta_fast = 32.0f;
        l.rope_scaling.beta_slow = 1.0f;
        l.rope_scaling.mscale = 0.707f;
        l.rope_scaling.mscale_all_dim = 1.0f;
    }
    return l;
}

static lm_model *make_model(const ocr_lm_config *c, ocr_dtype dt, uint64_t seed)
{
    lm_model *m = NULL;
    ocr_err e = {0};
    if (lm_model_create_random(&m, c, dt, seed, 2, &e) != OCR_OK) {
        fprintf(stderr, "test_lm: lm_model_create_random: %s\n", e.msg);
        exit(2);
    }
    return m;
}

static lm_state *make_state(const lm_model *m, int max_pos, int max_batch)
{
    lm_state *st = NULL;
    ocr_err e = {0};
    if (lm_state_create(&st, m, max_pos, max_batch, &e) != OCR_OK) {
        fprintf(stderr, "test_lm: lm_state_create: %s\n", e.msg);
        exit(2);
    }
    return st;
}

/* ------------------------------------------------------------ attention */

typedef ocr_status (*attn_fn)(lm_state *, int, float *, const float *, int, ocr_err *);

/* Run `fast` and `ref` on two states over three calls (prefill of 9, one
 * decode, a chunk of 4) and compare outputs and every cache row. */
static void attn_pair(const lm_model *m, attn_fn fast, attn_fn ref, const char *what)
{
    const int D = m->dim, l = 1, calls[3] = {9, 1, 4};
    lm_state *a = make_state(m, 32, 16), *b = make_state(m, 32, 16);
    bool mla = m->cfg.use_mla;
    size_t krow = mla ? (size_t)m->cfg.kv_lora_rank : (size_t)m->n_kv_heads * (size_t)m->head_dim;
    size_t vrow = mla ? (size_t)m->cfg.qk_rope_head_dim : krow;
    for (int c = 0; c < 3; c++) {
        int n = calls[c];
        float *h = frand((size_t)n * (size_t)D, -1.0f, 1.0f);
        float *o1 = xalloc((size_t)n * (size_t)D * sizeof(float));
        float *o2 = xalloc((size_t)n * (size_t)D * sizeof(float));
        ocr_err e = {0};
        TST_CHECK(fast(a, l, o1, h, n, &e) == OCR_OK, "%s fast: %s", what, e.msg);
        TST_CHECK(ref(b, l, o2, h, n, &e) == OCR_OK, "%s ref: %s", what, e.msg);
        char nm[96];
        snprintf(nm, sizeof nm, "%s out (call %d, %d tokens at %d)", what, c, n, a->n_past);
        TST_CLOSE(nm, o1, o2, (size_t)n * (size_t)D, 2e-5f, 1e-4f);
        size_t T = (size_t)(a->n_past + n);
        snprintf(nm, sizeof nm, "%s cache K/c (call %d)", what, c);
        TST_CLOSE(nm, lm_state_cache_k(a, l), lm_state_cache_k(b, l), T * krow, 1e-5f, 1e-4f);
        snprintf(nm, sizeof nm, "%s cache V/k_pe (call %d)", what, c);
        TST_CLOSE(nm, lm_state_cache_v(a, l), lm_state_cache_v(b, l), T * vrow, 1e-5f, 1e-4f);
        a->n_past += n;
        b->n_past += n;
        free(h);
        free(o1);
        free(o2);
    }
    lm_state_destroy(&a);
    lm_state_destroy(&b);
}

static void test_mla_absorbed_vs_naive(void)
{
    const struct {
        bool q_lora, yarn;
        ocr_dtype dt;
        const char *name;
    } v[] = {
        {false, false, OCR_DT_F32, "mla q_proj"},
        {true, true, OCR_DT_F32, "mla q_lora+yarn"},
        {true, false, OCR_DT_BF16, "mla bf16 (kv_b widened)"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        ocr_lm_config c = tiny_cfg(true, v[i].q_lora, v[i].yarn, "greedy", "softmax");
        lm_model *m = make_model(&c, v[i].dt, 11 + i);
        attn_pair(m, lm_attn_forward, lm_attn_mla_ref, v[i].name);
        lm_model_destroy(&m);
        TST_CHECK(m == NULL, "lm_model_destroy nulls the pointer");
    }
}

static void test_mha_vs_ref(void)
{
    ocr_lm_config c = tiny_cfg(false, false, false, "greedy", "softmax");
    lm_model *m = make_model(&c, OCR_DT_F32, 5);
    TST_CHECK(m->n_kv_heads == 2 && m->head_dim == 12, "GQA tiny config");
    attn_pair(m, lm_attn_forward, lm_attn_mha_ref, "mha gqa");
    lm_model_destroy(&m);
}

/* YaRN numbers against DeepseekV2YarnRotaryEmbedding for the mla_noaux_tc
 * fixture's settings (dim 8, factor 4, original 64, betas 32/1, mscale 1/1):
 * low = max(floor(-0.50), 0) = 0, high = ceil(1.008) = 2, so the ramp is
 * i/2: dims 0 extrapolate, 1 blends half and half, 2-3 interpolate. */
static void test_yarn_tables(void)
{
    ocr_lm_config c = tiny_cfg(true, false, true, "greedy", "softmax");
    c.qk_rope_head_dim = 8;
    c.rope_scaling.original_max_position_embeddings = 64;
    c.rope_scaling.mscale = 1.0f;
    c.rope_scaling.mscale_all_dim = 1.0f;
    float inv[4], ms, sc;
    ocr_err e = {0};
    TST_CHECK(lm_rope_init(inv, &ms, &sc, &c, &e) == OCR_OK, "lm_rope_init: %s", e.msg);
    for (int i = 0; i < 4; i++) {
        double extra = 1.0 / pow(10000.0, 2.0 * i / 8.0), inter = extra / 4.0;
        double ramp = i / 2.0 > 1.0 ? 1.0 : i / 2.0, mask = 1.0 - ramp;
        double want = inter * (1.0 - mask) + extra * mask;
        TST_CHECK(fabs(inv[i] - want) <= 1e-6 * want, "inv_freq[%d] %g want %g", i, (double)inv[i],
                  want);
    }
    TST_CHECK(fabsf(ms - 1.0f) < 1e-7f, "mscale/mscale_all_dim equal -> cos/sin factor 1 (%g)",
              (double)ms);
    double m = 0.1 * log(4.0) + 1.0;
    double want_sc = pow(8 + 8, -0.5) * m * m;
    TST_CHECK(fabs(sc - want_sc) < 1e-6, "softmax scale %g want %g", (double)sc, want_sc);
}

/* -------------------------------------------------- cached vs recompute */

static void cached_vs_full(ocr_dtype dt, bool mla, float atol)
{
    ocr_lm_config c = tiny_cfg(mla, true, mla, "noaux_tc", "sigmoid");
    lm_model *m = make_model(&c, dt, 21);
    const int P = 13, G = 6, N = P + G, V = m->vocab, D = m->dim;
    int32_t ids[19];
    uint8_t mask[19] = {0};
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((i * 37 + 5) % V);
    for (int i = 2; i < 6; i++) mask[i] = 1; /* 4 image rows */
    float *img = frand(4 * (size_t)D, -1.0f, 1.0f);
    float *full = xalloc((size_t)N * (size_t)V * sizeof(float));
    float *chunked = xalloc((size_t)N * (size_t)V * sizeof(float));
    float *step = xalloc((size_t)V * sizeof(float));
    ocr_err e = {0};
    char nm[96];

    lm_state *st = make_state(m, 32, 32);
    TST_CHECK(lm_forward(st, ids, mask, img, 4, N, LM_LOGITS_ALL, full, &e) == OCR_OK,
              "full forward: %s", e.msg);
    lm_state *sc = make_state(m, 32, 5); /* prefill cut into chunks of 5 */
    TST_CHECK(lm_forward(sc, ids, mask, img, 4, N, LM_LOGITS_ALL, chunked, &e) == OCR_OK,
              "chunked forward: %s", e.msg);
    snprintf(nm, sizeof nm, "chunked prefill == one chunk (%s, %s)", ocr_dtype_name(dt),
             mla ? "mla" : "mha");
    TST_CLOSE(nm, chunked, full, (size_t)N * (size_t)V, atol, 1e-4f);

    lm_state_reset(st);
    TST_CHECK(lm_forward(st, ids, mask, img, 4, P, LM_LOGITS_LAST, step, &e) == OCR_OK,
              "prefill: %s", e.msg);
    snprintf(nm, sizeof nm, "prefill last row (%s)", mla ? "mla" : "mha");
    TST_CLOSE(nm, step, full + (size_t)(P - 1) * (size_t)V, (size_t)V, atol, 1e-4f);
    for (int g = 0; g < G; g++) {
        TST_CHECK(lm_decode(st, ids[P + g], step, &e) == OCR_OK, "decode: %s", e.msg);
        snprintf(nm, sizeof nm, "cached decode step %d == recompute (%s, %s)", g,
                 ocr_dtype_name(dt), mla ? "mla" : "mha");
        TST_CLOSE(nm, step, full + (size_t)(P + g) * (size_t)V, (size_t)V, atol, 1e-4f);
    }
    TST_CHECK(st->n_past == N, "n_past %d == %d", st->n_past, N);

    /* Errors, not crashes: a full cache, a bad id, a mask/rows mismatch. */
    lm_state *tiny = make_state(m, 4, 4);
    TST_CHECK(lm_forward(tiny, ids, NULL, NULL, 0, 5, LM_LOGITS_NONE, NULL, &e) == OCR_E_LIMIT,
              "cache overflow refused");
    int32_t bad = V;
    TST_CHECK(lm_forward(tiny, &bad, NULL, NULL, 0, 1, LM_LOGITS_NONE, NULL, &e) == OCR_E_ARG,
              "id >= vocab refused");
    TST_CHECK(lm_forward(tiny, ids, mask, img, 3, 4, LM_LOGITS_NONE, NULL, &e) == OCR_E_ARG,
              "mask/rows mismatch refused: %s", e.msg);
    lm_state_destroy(&tiny);
    lm_state_destroy(&st);
    lm_state_destroy(&sc);
    lm_model_destroy(&m);
    free(img);
    free(full);
    free(chunked);
    free(step);
}

static void test_cached_vs_recompute(void)
{
    cached_vs_full(OCR_DT_F32, true, 2e-5f);
    cached_vs_full(OCR_DT_F32, false, 2e-5f);
    /* bf16: decode takes the matvec path, prefill widen + sgemm. */
    cached_vs_full(OCR_DT_BF16, true, 1e-4f);
}

/* ---------------------------------------------------------------- router */

static lm_router_params rp(lm_topk_method meth, lm_score_func sf, int E, int G, int TG, int k,
                           bool norm, float rsf)
{
    lm_router_params p = {E, k, G, TG, meth, sf, norm, rsf};
    return p;
}

static bool has(const int32_t *ids, int k, int x)
{
    for (int i = 0; i < k; i++)
        if (ids[i] == x) return true;
    return false;
}

static float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

static void test_router(void)
{
    float scr[64];
    int32_t ids[8];
    float w[8];

    /* noaux_tc: the bias changes which experts win, not their weights. */
    {
        float lg[4] = {2.0f, 1.0f, 0.0f, -1.0f}, bias[4] = {0, 0, 0, 1.0f}, zero[4] = {0};
        lm_router_params p = rp(LM_TOPK_NOAUX_TC, LM_SCORE_SIGMOID, 4, 1, 1, 2, true, 2.5f);
        lm_router_topk(ids, w, lg, zero, 1, &p, scr);
        TST_CHECK(has(ids, 2, 0) && has(ids, 2, 1), "noaux no bias picks {0,1}: {%d,%d}", ids[0],
                  ids[1]);
        lm_router_topk(ids, w, lg, bias, 1, &p, scr);
        TST_CHECK(has(ids, 2, 0) && has(ids, 2, 3), "noaux bias picks {0,3}: {%d,%d}", ids[0],
                  ids[1]);
        float s0 = sigm(2.0f), s3 = sigm(-1.0f);
        float w0 = ids[0] == 0 ? w[0] : w[1], w3 = ids[0] == 3 ? w[0] : w[1];
        TST_CHECK(fabsf(w0 - 2.5f * s0 / (s0 + s3)) < 1e-6f &&
                      fabsf(w3 - 2.5f * s3 / (s0 + s3)) < 1e-6f,
                  "noaux weights from unbiased scores: %g %g", (double)w0, (double)w3);
        TST_CHECK(fabsf(w0 + w3 - 2.5f) < 1e-6f, "norm_topk_prob: sum = scaling %g",
                  (double)(w0 + w3));
    }
    /* group limiting: group_limited_greedy keeps the group with the best
     * single expert, noaux_tc the group with the best pair. */
    {
        float lg[8] = {5.0f, 0.0f, 4.9f, 4.8f, -3, -3, -3, -3};
        lm_router_params p = rp(LM_TOPK_GROUP_LIMITED, LM_SCORE_SOFTMAX, 8, 4, 1, 2, false, 1.0f);
        lm_router_topk(ids, w, lg, NULL, 1, &p, scr);
        TST_CHECK(has(ids, 2, 0) && has(ids, 2, 1),
                  "group_limited keeps group 0 (expert 2 > expert 1 is dropped): {%d,%d}", ids[0],
                  ids[1]);
        float sm[8];
        memcpy(sm, lg, sizeof sm);
        ocr_softmax_ref(sm, 1, 8);
        float w1 = ids[0] == 1 ? w[0] : w[1];
        TST_CHECK(fabsf(w1 - sm[1]) < 1e-7f, "softmax weight without renorm: %g vs %g",
                  (double)w1, (double)sm[1]);
        float zero[8] = {0};
        lm_router_params q = rp(LM_TOPK_NOAUX_TC, LM_SCORE_SIGMOID, 8, 4, 1, 2, true, 1.0f);
        lm_router_topk(ids, w, lg, zero, 1, &q, scr);
        TST_CHECK(has(ids, 2, 2) && has(ids, 2, 3), "noaux_tc keeps the best pair's group: {%d,%d}",
                  ids[0], ids[1]);
        lm_router_params g = rp(LM_TOPK_GREEDY, LM_SCORE_SOFTMAX, 8, 4, 1, 2, false, 1.0f);
        lm_router_topk(ids, w, lg, NULL, 1, &g, scr);
        TST_CHECK(has(ids, 2, 0) && has(ids, 2, 2), "greedy ignores groups: {%d,%d}", ids[0],
                  ids[1]);
    }
    /* Masked groups get 0.0 (official HF code), so with a negative
     * biased choice in the kept group a masked expert can win. */
    {
        float lg[4] = {0, 0, 0, 0}, bias[4] = {0.6f, -0.6f, -0.1f, -0.1f};
        lm_router_params p = rp(LM_TOPK_NOAUX_TC, LM_SCORE_SIGMOID, 4, 2, 1, 2, true, 1.0f);
        lm_router_topk(ids, w, lg, bias, 1, &p, scr);
        TST_CHECK(has(ids, 2, 0) && !has(ids, 2, 1) && (has(ids, 2, 2) || has(ids, 2, 3)),
                  "masked expert (0.0) beats kept expert with choice -0.1: {%d,%d}", ids[0],
                  ids[1]);
    }
    /* norm_topk_prob off: raw scores times the scaling factor; on with
     * k == 1: no renormalisation (HF: top_k > 1 and norm_topk_prob). */
    {
        float lg[4] = {1.0f, 0.5f, -0.5f, -1.0f};
        lm_router_params p = rp(LM_TOPK_GREEDY, LM_SCORE_SIGMOID, 4, 1, 1, 2, false, 3.0f);
        lm_router_topk(ids, w, lg, NULL, 1, &p, scr);
        float wa = ids[0] == 0 ? w[0] : w[1];
        TST_CHECK(fabsf(wa - 3.0f * sigm(1.0f)) < 1e-6f, "no norm: weight %g", (double)wa);
        lm_router_params q = rp(LM_TOPK_GREEDY, LM_SCORE_SIGMOID, 4, 1, 1, 1, true, 1.0f);
        lm_router_topk(ids, w, lg, NULL, 1, &q, scr);
        TST_CHECK(ids[0] == 0 && fabsf(w[0] - sigm(1.0f)) < 1e-6f, "k=1 keeps the raw score %g",
                  (double)w[0]);
    }
    /* Many tokens at once: rows are independent. */
    {
        float lg[3 * 4] = {1, 2, 3, 4, 4, 3, 2, 1, 0, 9, 0, 0};
        lm_router_params p = rp(LM_TOPK_GREEDY, LM_SCORE_SOFTMAX, 4, 1, 1, 1, false, 1.0f);
        lm_router_topk(ids, w, lg, NULL, 3, &p, scr);
        TST_CHECK(ids[0] == 3 && ids[1] == 0 && ids[2] == 1, "per-token rows: %d %d %d", ids[0],
                  ids[1], ids[2]);
    }
}

/* --------------------------------------------------------------- n-grams */

static void test_ngram(void)
{
    int32_t b[16];
    const int32_t s1[] = {1, 2, 3, 4, 1, 2, 3};
    int n = lm_ngram_banned(b, 16, s1, 7, 3, 0, NULL, 0);
    TST_CHECK(n == 1 && b[0] == 4, "HF: (2,3) was followed by 4 -> ban 4 (n=%d)", n);
    n = lm_ngram_banned(b, 16, s1, 7, 3, 3, NULL, 0);
    TST_CHECK(n == 0, "window 3 no longer sees (2,3,4): n=%d", n);
    n = lm_ngram_banned(b, 16, s1, 7, 3, 6, NULL, 0);
    TST_CHECK(n == 1 && b[0] == 4, "window 6 still sees it: n=%d", n);
    const int32_t wl[] = {4};
    n = lm_ngram_banned(b, 16, s1, 7, 3, 0, wl, 1);
    TST_CHECK(n == 0, "whitelisted ids are never banned: n=%d", n);
    const int32_t s2[] = {5, 6, 5, 7, 5};
    n = lm_ngram_banned(b, 16, s2, 5, 2, 0, NULL, 0);
    TST_CHECK(n == 2 && has(b, 2, 6) && has(b, 2, 7), "every continuation banned: n=%d", n);
    n = lm_ngram_banned(b, 16, s2, 5, 1, 0, NULL, 0);
    TST_CHECK(n == 3, "n=1 bans every token seen: n=%d", n);
    n = lm_ngram_banned(b, 16, s2, 5, 6, 0, NULL, 0);
    TST_CHECK(n == 0, "shorter than n: nothing banned");
    n = lm_ngram_banned(b, 16, s2, 5, 0, 0, NULL, 0);
    TST_CHECK(n == 0, "n=0 disables");
    n = lm_ngram_banned(b, 1, s2, 5, 2, 0, NULL, 0);
    TST_CHECK(n == 1, "cap respected");
    /* The DeepSeek-OCR vLLM setting: n 30, window 90, <td>/</td> exempt. */
    /* Period 60: the last 29 tokens (1011..1039) first appeared at 11 and
     * were followed by 1040. */
    int32_t seq[100];
    for (int i = 0; i < 100; i++) seq[i] = 1000 + i % 60;
    const int32_t td[] = {128821, 128822};
    n = lm_ngram_banned(b, 16, seq, 100, 30, 90, td, 2);
    TST_CHECK(n == 1 && b[0] == 1040, "repeat of a 29-token prefix inside the window: %d", n);
    n = lm_ngram_banned(b, 16, seq, 100, 30, 50, td, 2);
    TST_CHECK(n == 0, "outside a 50-token window: %d", n);
    seq[40] = 128821;
    n = lm_ngram_banned(b, 16, seq, 100, 30, 90, td, 2);
    TST_CHECK(n == 0, "<td> is whitelisted: %d", n);
}

/* --------------------------------------------------------- loop detector */

static void test_loop(void)
{
    lm_loop d;
    ocr_err e = {0};
    TST_CHECK(lm_loop_init(&d, 8, 4, 9, &e) == OCR_OK, "lm_loop_init");
    int32_t seq[64];
    int len = 0, per = 0, reps = 0, start = 0, fired_at = -1;
    for (int i = 0; i < 10; i++) seq[len++] = 100 + i;
    for (int r = 0; r < 6 && fired_at < 0; r++)
        for (int j = 0; j < 3 && fired_at < 0; j++) {
            seq[len++] = 7 + j;
            if (lm_loop_push(&d, seq, len, &per, &reps, &start)) fired_at = len;
        }
    TST_CHECK(fired_at == 22 && per == 3 && reps == 4 && start == 10,
              "period 3 x4 from 10: fired at %d, period %d, repeats %d, start %d", fired_at, per,
              reps, start);
    /* Fed all at once: rebuilt, same answer. */
    lm_loop_reset(&d);
    TST_CHECK(lm_loop_push(&d, seq, 22, &per, &reps, &start) && per == 3 && start == 10,
              "rebuild from scratch");
    /* Period 1 needs min_tokens (9) repeats, not min_repeats (4). */
    lm_loop_reset(&d);
    int32_t x[12];
    fired_at = -1;
    for (int i = 0; i < 12 && fired_at < 0; i++) {
        x[i] = 42;
        if (lm_loop_push(&d, x, i + 1, &per, &reps, &start)) fired_at = i + 1;
    }
    TST_CHECK(fired_at == 9 && per == 1, "period 1 fires at 9 tokens: %d (period %d)", fired_at,
              per);
    /* With min_period 2 a run of one token is text (dot leaders), however
     * long; a period-2 block still fires. */
    lm_loop_reset(&d);
    d.min_period = 2;
    int32_t y[40];
    fired_at = -1;
    for (int i = 0; i < 30 && fired_at < 0; i++) {
        y[i] = 42;
        if (lm_loop_push(&d, y, i + 1, &per, &reps, &start)) fired_at = i + 1;
    }
    TST_CHECK(fired_at < 0, "min_period 2: 30 equal tokens are no loop (fired at %d)", fired_at);
    for (int i = 30; i < 40 && fired_at < 0; i++) {
        y[i] = i % 2 ? 5 : 6;
        if (lm_loop_push(&d, y, i + 1, &per, &reps, &start)) fired_at = i + 1;
    }
    TST_CHECK(fired_at == 39 && per == 2 && start == 31, "min_period 2: 6,5 over 9 tokens fires at %d, period %d, start %d",
              fired_at, per, start);
    d.min_period = 1;
    /* A sequence without repeats never fires. */
    lm_loop_reset(&d);
    bool any = false;
    for (int i = 0; i < 64; i++) {
        seq[i] = (int32_t)(i * 7919 % 101);
        any |= lm_loop_push(&d, seq, i + 1, &per, &reps, &start);
    }
    TST_CHECK(!any, "no loop in a non-repeating sequence");
    lm_loop_free(&d);
    TST_CHECK(lm_loop_init(&d, 0, 4, 9, &e) == OCR_E_ARG, "max_period 0 refused");
    lm_loop_free(&d);
}

/* -------------------------------------------------------------- sampling */

static void test_sampling(void)
{
    lm_gen_params p = lm_gen_default_params();
    float prob[4];
    int32_t ids[4];
    ocr_rng r;
    ocr_rng_seed(&r, 7);
    float lg[4] = {1.0f, 3.0f, 3.0f, -2.0f};
    TST_CHECK(lm_sample(lg, 4, &p, &r, prob, ids) == 1, "greedy: first maximum");

    /* p = [0.25, 0.75] at T = 1 */
    p.temperature = 1.0f;
    int count = 0, N = 4000;
    for (int i = 0; i < N; i++) {
        float l2[2] = {0.0f, logf(3.0f)};
        count += lm_sample(l2, 2, &p, &r, prob, ids) == 1;
    }
    double f = (double)count / N;
    TST_CHECK(fabs(f - 0.75) < 0.03, "temperature 1 frequencies: %.3f vs 0.75", f);

    /* Same seed, same draws. */
    ocr_rng a, b;
    ocr_rng_seed(&a, 99);
    ocr_rng_seed(&b, 99);
    bool same = true;
    for (int i = 0; i < 100; i++) {
        float l1[4] = {0.1f, 0.2f, 0.3f, 0.4f}, l2[4] = {0.1f, 0.2f, 0.3f, 0.4f};
        same &= lm_sample(l1, 4, &p, &a, prob, ids) == lm_sample(l2, 4, &p, &b, prob, ids);
    }
    TST_CHECK(same, "seeded sampling is reproducible");

    /* top_p 0.5 over [0.25, 0.75]: the nucleus is {1}. */
    p.top_p = 0.5f;
    bool only1 = true;
    for (int i = 0; i < 200; i++) {
        float l2[2] = {0.0f, logf(3.0f)};
        only1 &= lm_sample(l2, 2, &p, &r, prob, ids) == 1;
    }
    TST_CHECK(only1, "top_p 0.5 keeps only the 0.75 token");
    /* top_p 0.9 over [0.1, 0.2, 0.3, 0.4]: nucleus {3, 2, 1}, never 0. */
    p.top_p = 0.9f;
    bool never0 = true;
    int seen[4] = {0};
    for (int i = 0; i < 2000; i++) {
        float l4[4] = {logf(0.1f), logf(0.2f), logf(0.3f), logf(0.4f)};
        int t = lm_sample(l4, 4, &p, &r, prob, ids);
        never0 &= t != 0;
        seen[t]++;
    }
    TST_CHECK(never0 && seen[1] > 0 && seen[2] > 0 && seen[3] > 0,
              "top_p 0.9 samples {1,2,3}: %d %d %d %d", seen[0], seen[1], seen[2], seen[3]);
}

/* ------------------------------------------------------------ generation */

static void test_generate(void)
{
    ocr_lm_config c = tiny_cfg(true, false, false, "greedy", "softmax");
    lm_model *m = make_model(&c, OCR_DT_F32, 33);
    const int V = m->vocab, P = 6;
    int32_t prompt[6] = {0, 10, 11, 12, 13, 14}, out[40];
    float *steps = xalloc(40 * (size_t)V * sizeof(float));
    float *pre = xalloc((size_t)V * sizeof(float));
    lm_state *st = make_state(m, 64, 0);
    lm_gen_params p = lm_gen_default_params();
    p.max_new_tokens = 8;
    p.ngram_size = 0;
    p.loop_max_period = 0;
    lm_gen_result res;
    ocr_err e = {0};

    TST_CHECK(lm_generate(st, &p, prompt, NULL, NULL, 0, P, out, 40, steps, &res, &e) == OCR_OK,
              "generate: %s", e.msg);
    TST_CHECK(res.n_tokens == 8 && res.reason == LM_STOP_LENGTH, "8 tokens, length stop (%d, %d)",
              res.n_tokens, res.reason);
    lm_state_reset(st);
    lm_forward(st, prompt, NULL, NULL, 0, P, LM_LOGITS_LAST, pre, &e);
    TST_CLOSE("step_logits[0] is the prefill", steps, pre, (size_t)V, 0.0f, 0.0f);

    /* Stop token: emitted, then stop. */
    int32_t stop = out[3];
    p.stop_ids = &stop;
    p.n_stop = 1;
    int32_t out2[40];
    lm_generate(st, &p, prompt, NULL, NULL, 0, P, out2, 40, NULL, &res, &e);
    TST_CHECK(res.reason == LM_STOP_TOKEN && res.n_tokens <= 4 && out2[res.n_tokens - 1] == stop &&
                  res.stop_token == stop,
              "stop token: reason %d after %d", res.reason, res.n_tokens);
    p.n_stop = 0;

    /* n-gram guard with n = 1: no token may repeat, prompt included. */
    p.ngram_size = 1;
    p.max_new_tokens = 30;
    lm_generate(st, &p, prompt, NULL, NULL, 0, P, out2, 40, NULL, &res, &e);
    bool distinct = true;
    for (int i = 0; i < res.n_tokens; i++) {
        distinct &= !has(prompt, P, out2[i]);
        for (int j = 0; j < i; j++) distinct &= out2[i] != out2[j];
    }
    TST_CHECK(distinct && res.n_tokens == 30, "ngram 1: 30 distinct new tokens (%d)", res.n_tokens);
    p.ngram_size = 0;

    /* The cache runs out: context stop. */
    lm_state *small = make_state(m, P + 3, 0);
    lm_generate(small, &p, prompt, NULL, NULL, 0, P, out2, 40, NULL, &res, &e);
    TST_CHECK(res.reason == LM_STOP_CONTEXT && res.n_tokens == 4, "context stop after %d (%d)",
              res.n_tokens, res.reason);
    lm_state_destroy(&small);

    /* A model whose lm_head is zero always argmaxes token 0: the loop
     * detector stops it and says so. */
    memset((void *)(uintptr_t)m->lm_head->data, 0, m->lm_head->nbytes);
    p.loop_max_period = 8;
    p.loop_min_repeats = 4;
    p.loop_min_tokens = 12;
    lm_generate(st, &p, prompt, NULL, NULL, 0, P, out2, 40, NULL, &res, &e);
    TST_CHECK(res.reason == LM_STOP_LOOP && res.loop_period == 1 && res.n_tokens == 12 &&
                  res.loop_start == 0,
              "loop stop: reason %d, period %d, %d tokens, start %d", res.reason, res.loop_period,
              res.n_tokens, res.loop_start);

    lm_state_destroy(&st);
    lm_model_destroy(&m);
    free(steps);
    free(pre);
}

/* --------------------------------------------------------------- loading */

static void test_load_roundtrip(void)
{
    ocr_lm_config c = tiny_cfg(true, true, true, "noaux_tc", "sigmoid");
    lm_model *m = make_model(&c, OCR_DT_BF16, 44);
    ocr_err e = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/lm_roundtrip.safetensors", tst_tmpdir());
    TST_CHECK(ocr_st_write(path, m->rand_tensors, m->rand_n, NULL, &e) == OCR_OK, "write: %s",
              e.msg);
    ocr_st *st = NULL;
    TST_CHECK(ocr_st_open(&st, path, &e) == OCR_OK, "open: %s", e.msg);
    lm_model *m2 = NULL;
    TST_CHECK(lm_model_create(&m2, &c, st, &e) == OCR_OK, "lm_model_create: %s", e.msg);
    if (m2) {
        TST_CHECK(m2->layers[1].experts[3].up.w->data != NULL &&
                      m2->layers[1].experts[3].up.w->dtype == OCR_DT_BF16,
                  "expert weights are BF16 views");
        int32_t ids[7] = {0, 5, 9, 33, 2, 8, 1};
        float *l1 = xalloc(7 * (size_t)m->vocab * sizeof(float));
        float *l2 = xalloc(7 * (size_t)m->vocab * sizeof(float));
        lm_state *s1 = make_state(m, 16, 0), *s2 = make_state(m2, 16, 0);
        lm_forward(s1, ids, NULL, NULL, 0, 7, LM_LOGITS_ALL, l1, &e);
        lm_forward(s2, ids, NULL, NULL, 0, 7, LM_LOGITS_ALL, l2, &e);
        TST_CLOSE("loaded == in-memory", l2, l1, 7 * (size_t)m->vocab, 0.0f, 0.0f);
        TST_CHECK(lm_decode_weight_bytes(m2) == lm_decode_weight_bytes(m), "byte counts agree");
        lm_state_destroy(&s1);
        lm_state_destroy(&s2);
        free(l1);
        free(l2);
    }
    lm_model_destroy(&m2);
    ocr_st_close(&st);

    /* One misshaped tensor: the error names it with both shapes. */
    const char *victim = "model.layers.2.mlp.experts.5.up_proj.weight";
    for (size_t i = 0; i < m->rand_n; i++)
        if (strcmp(m->rand_tensors[i].name, victim) == 0) {
            ocr_tensor *t = &m->rand_tensors[i];
            int64_t s0 = t->shape[0];
            t->shape[0] = t->shape[1];
            t->shape[1] = s0;
        }
    TST_CHECK(ocr_st_write(path, m->rand_tensors, m->rand_n, NULL, &e) == OCR_OK, "write 2");
    TST_CHECK(ocr_st_open(&st, path, &e) == OCR_OK, "open 2: %s", e.msg);
    ocr_status rc = lm_model_create(&m2, &c, st, &e);
    TST_CHECK(rc == OCR_E_SHAPE && m2 == NULL && strstr(e.msg, victim) && strstr(e.msg, "[24,48]") &&
                  strstr(e.msg, "[48,24]"),
              "misshaped tensor reported: %s", e.msg);
    ocr_st_close(&st);

    /* A config that asks for more experts than the file holds. */
    ocr_lm_config c2 = c;
    c2.n_routed_experts = 16;
    c2.n_group = 4;
    TST_CHECK(ocr_st_open(&st, path, &e) == OCR_OK, "open 3");
    rc = lm_model_create(&m2, &c2, st, &e);
    TST_CHECK(rc != OCR_OK && m2 == NULL && strstr(e.msg, "missing") &&
                  strstr(e.msg, "model.layers.1.mlp.gate.weight is [8,48], config implies [16,48]"),
              "missing experts reported: %.300s", e.msg);
    ocr_st_close(&st);

    /* Configs this engine cannot run are refused with the key named. */
    ocr_lm_config bad = c;
    snprintf(bad.topk_method, sizeof bad.topk_method, "best");
    TST_CHECK(lm_model_create_random(&m2, &bad, OCR_DT_F32, 1, 1, &e) == OCR_E_UNSUPPORTED &&
                  strstr(e.msg, "topk_method"),
              "unknown topk_method: %s", e.msg);
    bad = c;
    bad.n_group = 3;
    TST_CHECK(lm_model_create_random(&m2, &bad, OCR_DT_F32, 1, 1, &e) == OCR_E_CONFIG &&
                  strstr(e.msg, "n_group"),
              "n_group must divide the experts: %s", e.msg);
    lm_model_destroy(&m);
}

static void test_kv_bytes(void)
{
    ocr_lm_config mha = tiny_cfg(false, false, false, "greedy", "softmax");
    ocr_lm_config mla = tiny_cfg(true, false, false, "greedy", "softmax");
    TST_CHECK(lm_kv_bytes_per_token(&mha) == 3u * 2u * 2u * 12u * 4u, "MHA GQA kv bytes %zu",
              lm_kv_bytes_per_token(&mha));
    TST_CHECK(lm_kv_bytes_per_token(&mla) == 3u * (24u + 6u) * 4u, "MLA kv bytes %zu",
              lm_kv_bytes_per_token(&mla));
}

/* ------------------------------------------------------------- fixtures */

static void test_fixtures(void)
{
    const char *names[] = {"ocr_mha", "mla_greedy", "mla_noaux_tc"};
    for (size_t i = 0; i < 3; i++) {
        char dir[600], cfg[700];
        snprintf(dir, sizeof dir, "%s/conformance/%s", shared_dir(), names[i]);
        snprintf(cfg, sizeof cfg, "%s/config.json", dir);
        FILE *f = fopen(cfg, "rb");
        if (!f) {
            tst_skip(names[i], "fixture not found (set VLOCR_SHARED)");
            continue;
        }
        fclose(f);
        lm_conform_report r;
        ocr_err e = {0};
        ocr_status rc = lm_conform_run(&r, dir, NULL, NULL, 0, &e);
        TST_CHECK(rc == OCR_OK, "%s: %s", names[i], e.msg);
        for (int s = 0; s < r.n; s++)
            if (r.v[s].status == LM_STAGE_FAIL)
                TST_CHECK(false, "%s: %s max|d| %g tol %g (%s)", names[i], r.v[s].name,
                          r.v[s].max_abs, r.v[s].tol, r.v[s].note);
        TST_CHECK(r.n_fail == 0 && r.n_pass >= 15, "%s: %d passed, %d failed", names[i], r.n_pass,
                  r.n_fail);
        printf("  %s: %d stages passed, %d failed, %d skipped\n", names[i], r.n_pass, r.n_fail,
               r.n_skip);
        lm_conform_report_free(&r);
    }
}

/* Sum of the log-probabilities of seq [n] after the prompt, by one
 * forward pass over the whole sequence (no cache reuse). */
static double seq_logprob(lm_state *st, const int32_t *prompt, int np, const int32_t *seq, int n)
{
    const int V = st->m->vocab, T = np + n;
    int32_t ids[64];
    float *lg = malloc(sizeof(float) * (size_t)T * V);
    memcpy(ids, prompt, sizeof(int32_t) * (size_t)np);
    memcpy(ids + np, seq, sizeof(int32_t) * (size_t)n);
    ocr_err e = {0};
    lm_state_reset(st);
    double sum = 0;
    if (lg && lm_forward(st, ids, NULL, NULL, 0, T, LM_LOGITS_ALL, lg, &e) == OCR_OK)
        for (int i = 0; i < n; i++) {
            const float *row = lg + (size_t)(np - 1 + i) * V;
            sum += row[seq[i]] - lm_logsumexp(row, V);
        }
    else
        sum = NAN;
    free(lg);
    return sum;
}

/* Beam search: copied states continue alike; beam 1 is greedy; a beam as
 * wide as every partial read finds the best read by brute force. */
static void test_beam(void)
{
    ocr_lm_config c = tiny_cfg(true, false, false, "greedy", "softmax");
    lm_model *m = make_model(&c, OCR_DT_F32, 7);
    enum { NS = 50 };
    lm_state *st[NS];
    for (int i = 0; i < NS; i++) st[i] = make_state(m, 64, 0);
    ocr_err e = {0};
    const int32_t prompt[8] = {0, 11, 23, 35, 47, 59, 71, 83};
    const int V = m->vocab;
    float *l1 = malloc(sizeof(float) * V), *l2 = malloc(sizeof(float) * V), *l3 = malloc(sizeof(float) * V);

    /* Copy: the copy decodes as the original, and stays its own. */
    lm_forward(st[0], prompt, NULL, NULL, 0, 8, LM_LOGITS_NONE, NULL, &e);
    TST_CHECK(lm_state_copy(st[1], st[0], &e) == OCR_OK && st[1]->n_past == 8, "copy: %s", e.msg);
    lm_decode(st[0], 5, l1, &e);
    lm_decode(st[1], 5, l2, &e);
    TST_CHECK(!memcmp(l1, l2, sizeof(float) * V), "copied state decodes the same logits");
    lm_decode(st[0], 6, l1, &e);
    lm_decode(st[1], 7, l2, &e);
    const int32_t p57[10] = {0, 11, 23, 35, 47, 59, 71, 83, 5, 7};
    lm_state_reset(st[2]);
    lm_forward(st[2], p57, NULL, NULL, 0, 10, LM_LOGITS_LAST, l3, &e);
    float md = 0;
    for (int v = 0; v < V; v++) md = fmaxf(md, fabsf(l2[v] - l3[v]));
    TST_CHECK(md < 1e-4f, "copy after the original went on: |dlogit| %g", md);
    lm_model *m2 = make_model(&c, OCR_DT_F32, 8);
    lm_state *other = make_state(m2, 64, 0);
    TST_CHECK(lm_state_copy(other, st[0], &e) == OCR_E_ARG, "copy across models refused: %s", e.msg);
    lm_state_destroy(&other);
    lm_model_destroy(&m2);

    /* Beam 1 = greedy lm_generate. */
    lm_gen_params p = lm_gen_default_params();
    p.ngram_size = 0;
    p.loop_max_period = 0;
    p.max_new_tokens = 30;
    int32_t stop = 1;
    p.stop_ids = &stop;
    p.n_stop = 1;
    int32_t g[40], b[40];
    lm_gen_result rg, rb;
    TST_CHECK(lm_generate(st[0], &p, prompt, NULL, NULL, 0, 8, g, 40, NULL, &rg, &e) == OCR_OK, "greedy: %s", e.msg);
    TST_CHECK(lm_beam_search(st, 1, 1.0f, &p, prompt, NULL, NULL, 0, 8, b, 40, &rb, &e) == OCR_OK, "beam 1: %s",
              e.msg);
    TST_CHECK(rg.n_tokens == rb.n_tokens && rg.reason == rb.reason &&
                  !memcmp(g, b, sizeof(int32_t) * (size_t)rg.n_tokens),
              "beam 1 reads as greedy: %d/%d tokens, reasons %d/%d", rb.n_tokens, rg.n_tokens, rb.reason,
              rg.reason);
    /* Wider beams: a read that ends, and a confidence. */
    p.track_prob = true;
    TST_CHECK(lm_beam_search(st, 4, 1.0f, &p, prompt, NULL, NULL, 0, 8, b, 40, &rb, &e) == OCR_OK &&
                  rb.n_tokens >= 1 && rb.n_tokens <= 30 && rb.mean_prob > 0 && rb.mean_prob <= 1,
              "beam 4: %d tokens, reason %d, mean prob %g", rb.n_tokens, rb.reason, rb.mean_prob);
    TST_CHECK(lm_beam_search(st, 0, 1.0f, &p, prompt, NULL, NULL, 0, 8, b, 40, &rb, &e) == OCR_E_ARG,
              "beam 0 refused: %s", e.msg);
    for (int i = 0; i < NS; i++) lm_state_destroy(&st[i]);
    lm_model_destroy(&m);

    /* Brute force on a 4-token vocabulary, reads of up to 3 tokens (stop =
     * 1): a beam of 16 keeps every partial read, so with length_alpha 0
     * (plain sum, an exact bound) it must return the best of all. */
    c.vocab_size = 4;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        m = make_model(&c, OCR_DT_F32, 100 + seed);
        for (int i = 0; i < 32; i++) st[i] = make_state(m, 64, 0);
        const int32_t pr[3] = {0, 2, 3};
        p.max_new_tokens = 3;
        p.track_prob = false;
        double best = -INFINITY;
        int32_t bs[3] = {0};
        int bn = 0;
        for (int n = 1; n <= 3; n++)
            for (int code = 0; code < (1 << (2 * n)); code++) {
                int32_t sq[3];
                int ok = 1;
                for (int i = 0; i < n; i++) sq[i] = (code >> (2 * i)) & 3;
                for (int i = 0; i < n - 1; i++) ok &= sq[i] != 1;
                if (!ok || (n < 3 && sq[n - 1] != 1)) continue; /* ends with stop or at 3 */
                double lp = seq_logprob(st[0], pr, 3, sq, n);
                if (lp > best) best = lp, bn = n, memcpy(bs, sq, sizeof sq);
            }
        TST_CHECK(lm_beam_search(st, 16, 0.0f, &p, pr, NULL, NULL, 0, 3, b, 3, &rb, &e) == OCR_OK, "beam 16: %s",
                  e.msg);
        double got = seq_logprob(st[0], pr, 3, b, rb.n_tokens);
        TST_CHECK(got >= best - 1e-5, "seed %d: beam read (%d tokens) log-prob %.6f, best %.6f (%d tokens: %d %d %d)",
                  (int)seed, rb.n_tokens, got, best, bn, bs[0], bs[1], bs[2]);
        for (int i = 0; i < 32; i++) lm_state_destroy(&st[i]);
        lm_model_destroy(&m);
    }
    free(l1);
    free(l2);
    free(l3);
}

int main(void)
{
    TST_RUN(test_mla_absorbed_vs_naive);
    TST_RUN(test_mha_vs_ref);
    TST_RUN(test_yarn_tables);
    TST_RUN(test_cached_vs_recompute);
    TST_RUN(test_router);
    TST_RUN(test_ngram);
    TST_RUN(test_loop);
    TST_RUN(test_sampling);
    TST_RUN(test_generate);
    TST_RUN(test_beam);
    TST_RUN(test_load_roundtrip);
    TST_RUN(test_kv_bytes);
    TST_RUN(test_fixtures);
    return tst_finish();
}

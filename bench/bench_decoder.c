/* bench/bench_decoder.c — the DeepSeek-OCR decoder at its released shapes
 * (12 layers, hidden 1280, 10-head MHA, dense layer 0 with intermediate 6848,
 * 64 routed experts top-6 + 2 shared of intermediate 896, vocab 129280) with
 * random BF16 weights built in memory through the same model struct a
 * checkpoint fills.
 *
 * Measures, in one run: prefill tokens/s on a 512-token prompt, decode
 * tokens/s after it, and the floor decode can at best reach: the bytes of
 * weights one decode token must read (embedding row, attention, layer 0's
 * dense MLP, per MoE layer the router, the shared experts and only the 6
 * active routed experts, final norm, lm_head) divided by the memcpy
 * bandwidth (bytes copied per second, best of 1 thread and THREADS threads,
 * measured before and after the timed runs). Decode is reported as a
 * fraction of that floor, and of the stricter floor a read-only stream sets.
 * Also prints the KV-cache bytes per token of MHA and of MLA at the same
 * width.
 *
 *   build/bench/bench_decoder [-t THREADS] [--prompt N] [--decode N]
 *
 * THREADS defaults to 2 (the acceptance setting), memory is about 6.3 GB.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "language/lm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------ memcpy bandwidth */

typedef struct {
    uint8_t *dst;
    const uint8_t *src;
    size_t n;
} copy_job;

static void *copy_thread(void *arg)
{
    copy_job *j = arg;
    memcpy(j->dst, j->src, j->n);
    return NULL;
}

/* Bytes copied per second (each byte read once and written once), best of
 * `reps`, the buffer split across `nt` threads. */
static double memcpy_bw(uint8_t *dst, const uint8_t *src, size_t n, int nt, int reps)
{
    enum { MAXT = 64 };
    if (nt > MAXT) nt = MAXT;
    double best = 0.0;
    for (int r = 0; r < reps; r++) {
        copy_job jobs[MAXT];
        pthread_t tid[MAXT];
        size_t per = (n / (size_t)nt) & ~(size_t)4095;
        double t0 = now_s();
        for (int t = 0; t < nt; t++) {
            size_t off = per * (size_t)t;
            jobs[t] = (copy_job){dst + off, src + off, t == nt - 1 ? n - off : per};
            if (t > 0 && pthread_create(&tid[t], NULL, copy_thread, &jobs[t]) != 0) {
                copy_thread(&jobs[t]);
                jobs[t].n = 0;
            }
        }
        copy_thread(&jobs[0]);
        for (int t = 1; t < nt; t++)
            if (jobs[t].n) pthread_join(tid[t], NULL);
        double dt = now_s() - t0;
        if (dt > 0 && (double)n / dt > best) best = (double)n / dt;
    }
    return best;
}

/* Read-only streaming bandwidth (a sum over the buffer), for reference: a
 * decode token only reads its weights, and reading alone runs faster than
 * copying, so decode can exceed the memcpy floor. */
typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} read_job;

static void *read_thread(void *arg)
{
    read_job *j = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= j->n; i += 4) {
        s0 += j->p[i];
        s1 += j->p[i + 1];
        s2 += j->p[i + 2];
        s3 += j->p[i + 3];
    }
    for (; i < j->n; i++) s0 += j->p[i];
    j->sum = s0 + s1 + s2 + s3;
    return NULL;
}

static double read_bw(const uint8_t *src, size_t n, int nt, int reps, uint64_t *sink)
{
    enum { MAXT = 64 };
    if (nt > MAXT) nt = MAXT;
    double best = 0.0;
    size_t words = n / 8;
    for (int r = 0; r < reps; r++) {
        read_job jobs[MAXT];
        pthread_t tid[MAXT];
        bool started[MAXT] = {0};
        size_t per = words / (size_t)nt;
        double t0 = now_s();
        for (int t = 0; t < nt; t++) {
            jobs[t] = (read_job){(const uint64_t *)(const void *)src + per * (size_t)t,
                                 t == nt - 1 ? words - per * (size_t)t : per, 0};
            if (t > 0) started[t] = pthread_create(&tid[t], NULL, read_thread, &jobs[t]) == 0;
        }
        read_thread(&jobs[0]);
        for (int t = 1; t < nt; t++) {
            if (started[t])
                pthread_join(tid[t], NULL);
            else
                read_thread(&jobs[t]);
        }
        double dt = now_s() - t0;
        for (int t = 0; t < nt; t++) *sink += jobs[t].sum;
        if (dt > 0 && (double)n / dt > best) best = (double)n / dt;
    }
    return best;
}

/* ------------------------------------------------------------------ main */

static ocr_lm_config released_decoder(void)
{
    ocr_config c;
    ocr_config_default_params(&c);
    ocr_lm_config l = c.lm;
    l.vocab_size = 129280;
    l.hidden_size = 1280;
    l.intermediate_size = 6848;
    l.moe_intermediate_size = 896;
    l.num_hidden_layers = 12;
    l.num_attention_heads = 10;
    l.num_key_value_heads = 10;
    l.n_shared_experts = 2;
    l.n_routed_experts = 64;
    l.num_experts_per_tok = 6;
    l.first_k_dense_replace = 1;
    l.moe_layer_freq = 1;
    l.n_group = 1;
    l.topk_group = 1;
    snprintf(l.topk_method, sizeof l.topk_method, "greedy");
    snprintf(l.scoring_func, sizeof l.scoring_func, "softmax");
    l.norm_topk_prob = false;
    l.routed_scaling_factor = 1.0f;
    l.use_mla = false;
    l.q_lora_rank = 0;
    l.kv_lora_rank = 0;
    l.qk_nope_head_dim = 0;
    l.qk_rope_head_dim = 0;
    l.v_head_dim = 0;
    l.rms_norm_eps = 1e-6f;
    l.rope_theta = 10000.0f;
    l.max_position_embeddings = 8192;
    l.bos_token_id = 0;
    l.eos_token_id = 1;
    return l;
}

/* Best memcpy (1 and nt threads) and read-only bandwidth seen so far: the
 * machine is shared, so the floor is measured before and after the timed
 * runs and the highest figure (the strictest floor) is kept. */
typedef struct {
    double copy1, copyn, read;
} bw_best;

static bool measure_bw(bw_best *b, int nt)
{
    size_t nbuf = (size_t)256 << 20;
    uint8_t *x = ocr_aligned_alloc(nbuf), *y = ocr_aligned_alloc(nbuf);
    if (!x || !y) {
        free(x);
        free(y);
        return false;
    }
    memset(x, 1, nbuf);
    memset(y, 2, nbuf);
    uint64_t sink = 0;
    double c1 = memcpy_bw(y, x, nbuf, 1, 5), cn = memcpy_bw(y, x, nbuf, nt, 5);
    double rd = read_bw(x, nbuf, nt, 5, &sink);
    if (c1 > b->copy1) b->copy1 = c1;
    if (cn > b->copyn) b->copyn = cn;
    if (rd > b->read) b->read = rd;
    free(x);
    free(y);
    return sink != 1; /* keeps the sums alive */
}

static int fail(const ocr_err *e)
{
    fprintf(stderr, "bench_decoder: %s\n", e->msg);
    return 1;
}

int main(int argc, char **argv)
{
    int nt = 2, n_prompt = 512, n_decode = 32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc)
            nt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--prompt") && i + 1 < argc)
            n_prompt = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--decode") && i + 1 < argc)
            n_decode = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_decoder [-t THREADS] [--prompt N] [--decode N]\n");
            return 2;
        }
    }
    if (nt < 1 || n_prompt < 1 || n_decode < 2) {
        fprintf(stderr, "bench_decoder: bad arguments\n");
        return 2;
    }
    ocr_blas_set_threads(nt);
    ocr_lm_config cfg = released_decoder();
    ocr_err e = {0};

    printf("bench_decoder: DeepSeek-OCR decoder shapes (12 layers, 1280 wide, MHA 10x128, dense "
           "6848, 64 experts top-6 + 2 shared x 896, vocab 129280), random BF16, %d thread%s\n",
           nt, nt == 1 ? "" : "s");
    double t0 = now_s();
    lm_model *m = NULL;
    if (lm_model_create_random(&m, &cfg, OCR_DT_BF16, 0x5eed, nt, &e) != OCR_OK) return fail(&e);
    size_t total = 0;
    for (size_t i = 0; i < m->rand_n; i++) total += m->rand_tensors[i].nbytes;
    printf("weights:   %.2f GB in %zu tensors, built in %.1f s\n", (double)total / 1e9, m->rand_n,
           now_s() - t0);

    bw_best bw = {0};
    if (!measure_bw(&bw, nt)) {
        fprintf(stderr, "bench_decoder: out of memory\n");
        return 1;
    }

    lm_state *st = NULL;
    if (lm_state_create(&st, m, n_prompt + n_decode + 1, 512, &e) != OCR_OK) return fail(&e);
    int32_t *ids = malloc((size_t)n_prompt * sizeof *ids);
    float *logits = malloc((size_t)cfg.vocab_size * sizeof(float));
    if (!ids || !logits) return 1;
    uint64_t s = 12345;
    for (int i = 0; i < n_prompt; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)cfg.vocab_size);
    }

    t0 = now_s();
    if (lm_forward(st, ids, NULL, NULL, 0, n_prompt, LM_LOGITS_LAST, logits, &e) != OCR_OK)
        return fail(&e);
    double tp = now_s() - t0;

    /* Greedy decode; the first step is a warm-up outside the timing. */
    int32_t tok = 0;
    for (int d = 0; d < n_decode; d++) {
        if (d == 1) t0 = now_s();
        tok = 0;
        for (int i = 1; i < cfg.vocab_size; i++)
            if (logits[i] > logits[tok]) tok = i;
        if (lm_decode(st, tok, logits, &e) != OCR_OK) return fail(&e);
    }
    double td = now_s() - t0, dtps = (n_decode - 1) / td;

    measure_bw(&bw, nt);
    double copy = bw.copyn > bw.copy1 ? bw.copyn : bw.copy1;
    size_t wbytes = lm_decode_weight_bytes(m);
    double floor_tps = copy / (double)wbytes, read_tps = bw.read / (double)wbytes;
    printf("memcpy:    %.2f GB/s on 1 thread, %.2f GB/s on %d; read-only stream %.2f GB/s "
           "(256 MiB, best of 5 before and 5 after the timed runs)\n",
           bw.copy1 / 1e9, bw.copyn / 1e9, nt, bw.read / 1e9);
    printf("per token: %.3f GB of weights (embedding row, attention, dense layer 0, router, "
           "2 shared + 6 of 64 experts per MoE layer, final norm, lm_head)\n",
           (double)wbytes / 1e9);
    printf("floor:     %.2f GB/s / %.3f GB = %.2f tokens/s (memcpy); %.2f tokens/s (read-only)\n",
           copy / 1e9, (double)wbytes / 1e9, floor_tps, read_tps);
    printf("prefill:   %d tokens in %.2f s = %.1f tokens/s\n", n_prompt, tp, n_prompt / tp);
    printf("decode:    %d tokens in %.2f s = %.2f tokens/s = %.0f%% of the memcpy floor, %.0f%% "
           "of the read-only one (context %d..%d)\n",
           n_decode - 1, td, dtps, 100.0 * dtps / floor_tps, 100.0 * dtps / read_tps,
           n_prompt + 2, n_prompt + n_decode);

    ocr_lm_config mla = cfg;
    mla.use_mla = true;
    mla.kv_lora_rank = 512;
    mla.qk_rope_head_dim = 64;
    mla.qk_nope_head_dim = 128;
    mla.v_head_dim = 128;
    size_t kv_mha = lm_kv_bytes_per_token(&cfg), kv_mla = lm_kv_bytes_per_token(&mla);
    printf("KV cache:  MHA %zu B/token (12 layers x K,V 10x128 f32) vs MLA %zu B/token "
           "(kv_lora 512 + rope 64 f32, same 1280 width and 10 heads), %.2fx smaller\n",
           kv_mha, kv_mla, (double)kv_mha / (double)kv_mla);

    free(ids);
    free(logits);
    lm_state_destroy(&st);
    lm_model_destroy(&m);
    return 0;
}

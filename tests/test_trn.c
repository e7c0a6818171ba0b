/* tests/test_trn.c — the trainer: every backward against central finite
 * differences (float forward, loss accumulated in double), the whole tiny
 * model end to end, and resume == uninterrupted, bit for bit. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tst.h"
#include "language/lm.h"
#include "language/tok.h"
#include "vision/vis.h"
#include "train/trn.h"

static uint64_t g_rng = 12345;

static float *rnd(size_t n, float lo, float hi)
{
    float *x = malloc(n * sizeof(float));
    tst_fill_uniform(x, n, lo, hi, &g_rng);
    return x;
}

static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

/* Σ out·R in double: the scalar whose gradient the checks compare. */
static double dotd(const float *a, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * r[i];
    return s;
}

typedef double (*loss_fn)(void *ud);

/* Compare analytic gradient g[n] of parameter x[n] with central
 * differences of f; |a − n| ≤ atol + rtol·max|n| over the tensor. */
static void fd_check(const char *what, float *x, const float *g, size_t n, loss_fn f, void *ud,
                     float eps, double atol, double rtol)
{
    double worst = 0, gmax = 0;
    size_t wi = 0;
    double *num = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + eps;
        double fp = f(ud);
        x[i] = x0 - eps;
        double fm = f(ud);
        x[i] = x0;
        num[i] = (fp - fm) / (2.0 * eps);
        gmax = fmax(gmax, fabs(num[i]));
    }
    for (size_t i = 0; i < n; i++) {
        double d = fabs(num[i] - g[i]);
        if (d > worst) worst = d, wi = i;
    }
    bool ok = worst <= atol + rtol * gmax;
    TST_CHECK(ok, "%s: worst |analytic - numeric| %.3g at %zu (%.6g vs %.6g), max |g| %.3g", what,
              worst, wi, n ? (double)g[wi] : 0.0, n ? num[wi] : 0.0, gmax);
    if (ok) printf("   %-28s n=%-5zu worst %.2e  (max|g| %.2e)\n", what, n, worst, gmax);
    free(num);
}

/* ------------------------------------------------------------ op checks */

typedef struct {
    int n, in, out;
    float *x, *w, *b, *y, *r;
} lin_t;
static double lin_loss(void *u)
{
    lin_t *t = u;
    trn_linear_forward(t->y, t->x, t->w, t->b, t->n, t->in, t->out);
    return dotd(t->y, t->r, (size_t)t->n * t->out);
}
static void test_linear(void)
{
    lin_t t = {5, 7, 3, NULL, NULL, NULL, NULL, NULL};
    t.x = rnd(35, -1, 1); t.w = rnd(21, -1, 1); t.b = rnd(3, -1, 1);
    t.y = zeros(15); t.r = rnd(15, -1, 1);
    float *dx = zeros(35), *dw = zeros(21), *db = zeros(3);
    lin_loss(&t);
    trn_linear_backward(dx, dw, db, t.r, t.x, t.w, t.n, t.in, t.out);
    fd_check("linear dx", t.x, dx, 35, lin_loss, &t, 1e-2f, 1e-4, 1e-3);
    fd_check("linear dw", t.w, dw, 21, lin_loss, &t, 1e-2f, 1e-4, 1e-3);
    fd_check("linear db", t.b, db, 3, lin_loss, &t, 1e-2f, 1e-4, 1e-3);
    free(t.x); free(t.w); free(t.b); free(t.y); free(t.r); free(dx); free(dw); free(db);
}

typedef struct {
    int n, d;
    bool rms;
    float *x, *w, *b, *y, *r, *m, *s;
} norm_t;
static double norm_loss(void *u)
{
    norm_t *t = u;
    if (t->rms) trn_rmsnorm_forward(t->y, t->s, t->x, t->w, t->n, t->d, 1e-6f);
    else trn_layernorm_forward(t->y, t->m, t->s, t->x, t->w, t->b, t->n, t->d, 1e-5f);
    return dotd(t->y, t->r, (size_t)t->n * t->d);
}
static void test_norms(void)
{
    for (int rms = 0; rms < 2; rms++) {
        norm_t t = {4, 9, rms != 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        t.x = rnd(36, -2, 2); t.w = rnd(9, 0.5f, 1.5f); t.b = rnd(9, -1, 1);
        t.y = zeros(36); t.r = rnd(36, -1, 1); t.m = zeros(4); t.s = zeros(4);
        float *dx = zeros(36), *dw = zeros(9), *db = zeros(9);
        norm_loss(&t);
        if (rms) trn_rmsnorm_backward(dx, dw, t.r, t.x, t.s, t.w, t.n, t.d);
        else trn_layernorm_backward(dx, dw, db, t.r, t.x, t.m, t.s, t.w, t.n, t.d);
        fd_check(rms ? "rmsnorm dx" : "layernorm dx", t.x, dx, 36, norm_loss, &t, 1e-2f, 2e-4, 2e-3);
        fd_check(rms ? "rmsnorm dw" : "layernorm dw", t.w, dw, 9, norm_loss, &t, 1e-2f, 2e-4, 2e-3);
        if (!rms) fd_check("layernorm db", t.b, db, 9, norm_loss, &t, 1e-2f, 2e-4, 2e-3);
        free(t.x); free(t.w); free(t.b); free(t.y); free(t.r); free(t.m); free(t.s);
        free(dx); free(dw); free(db);
    }
}

typedef struct {
    size_t n;
    float *x, *u, *y, *r;
    int kind;
} act_t;
static double act_loss(void *p)
{
    act_t *t = p;
    if (t->kind == 0) trn_gelu_forward(t->y, t->x, t->n);
    else trn_swiglu_forward(t->y, t->x, t->u, t->n);
    return dotd(t->y, t->r, t->n);
}
/* GELU's erf and exp are our own approximations (train/trn_ops.c): within
 * float rounding of the exact values over the whole range that matters. */
static void test_gelu_accuracy(void)
{
    enum { N = 40001 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float)), *dx = calloc(N, sizeof(float));
    float *one = malloc(N * sizeof(float));
    if (!x || !y || !dx || !one) return;
    for (int i = 0; i < N; i++) x[i] = -20.0f + 40.0f * (float)i / (N - 1), one[i] = 1.0f;
    trn_gelu_forward(y, x, N);
    trn_gelu_backward(dx, one, x, N);
    double wf = 0, wb = 0;
    for (int i = 0; i < N; i++) {
        double v = x[i], cdf = 0.5 * (1 + erf(v / sqrt(2.0))), pdf = exp(-0.5 * v * v) / sqrt(2 * M_PI);
        wf = fmax(wf, fabs(y[i] - v * cdf) / fmax(1.0, fabs(v)));
        wb = fmax(wb, fabs(dx[i] - (cdf + v * pdf)));
    }
    TST_CHECK(wf <= 4e-7 && wb <= 6e-7, "GELU vs double erf on [-20, 20]: forward %.3g (relative to max(1,|x|)), "
              "derivative %.3g", wf, wb);
    printf("   GELU vs double erf: forward %.2g, derivative %.2g\n", wf, wb);
    free(x); free(y); free(dx); free(one);
}

static void test_activations(void)
{
    act_t t = {40, NULL, NULL, NULL, NULL, 0};
    t.x = rnd(40, -3, 3); t.u = rnd(40, -2, 2); t.y = zeros(40); t.r = rnd(40, -1, 1);
    float *dx = zeros(40), *du = zeros(40);
    trn_gelu_backward(dx, t.r, t.x, 40);
    fd_check("gelu", t.x, dx, 40, act_loss, &t, 1e-2f, 2e-4, 2e-3);
    t.kind = 1;
    memset(dx, 0, 40 * sizeof(float));
    trn_swiglu_backward(dx, du, t.r, t.x, t.u, 40);
    fd_check("swiglu dg", t.x, dx, 40, act_loss, &t, 1e-2f, 2e-4, 2e-3);
    fd_check("swiglu du", t.u, du, 40, act_loss, &t, 1e-2f, 2e-4, 2e-3);
    free(t.x); free(t.u); free(t.y); free(t.r); free(dx); free(du);
}

typedef struct {
    int B, H, W, ci, co;
    float *x, *w, *b, *y, *col, *r;
} conv_t;
static double conv_loss(void *u)
{
    conv_t *t = u;
    trn_conv_forward(t->y, t->col, t->x, t->w, t->b, t->B, t->H, t->W, t->ci, t->co);
    return dotd(t->y, t->r, (size_t)t->B * (t->H / 2) * (t->W / 2) * t->co);
}
static void test_conv(void)
{
    conv_t t = {2, 6, 8, 3, 4, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t nx = 2 * 6 * 8 * 3, ny = 2 * 3 * 4 * 4, nw = 4 * 27;
    t.x = rnd(nx, -1, 1); t.w = rnd(nw, -1, 1); t.b = rnd(4, -1, 1);
    t.y = zeros(ny); t.col = zeros(2 * 12 * 27); t.r = rnd(ny, -1, 1);
    float *dx = zeros(nx), *dw = zeros(nw), *db = zeros(4), *dcol = zeros(2 * 12 * 27);
    conv_loss(&t);
    trn_conv_backward(dx, dw, db, dcol, t.r, t.col, t.w, t.B, t.H, t.W, t.ci, t.co);
    fd_check("conv3x3s2 dx", t.x, dx, nx, conv_loss, &t, 1e-2f, 2e-4, 1e-3);
    fd_check("conv3x3s2 dw", t.w, dw, nw, conv_loss, &t, 1e-2f, 2e-4, 1e-3);
    fd_check("conv3x3s2 db", t.b, db, 4, conv_loss, &t, 1e-2f, 2e-4, 1e-3);
    free(t.x); free(t.w); free(t.b); free(t.y); free(t.col); free(t.r);
    free(dx); free(dw); free(db); free(dcol);
}

typedef struct {
    trn_attn_shape s;
    float *q, *k, *v, *o, *P, *r;
} attn_t;
static double attn_loss(void *u)
{
    attn_t *t = u;
    trn_attn_forward(t->o, t->P, t->q, t->k, t->v, &t->s);
    return dotd(t->o, t->r, (size_t)t->s.B * t->s.T * t->s.ldo);
}
static void test_attention(void)
{
    for (int causal = 0; causal < 2; causal++) {
        attn_t t;
        t.s = (trn_attn_shape){2, 5, 2, 3, 4, 7, 6, 9, 8, 0.577f, causal != 0};
        size_t nq = 2 * 5 * 7, nk = 2 * 5 * 6, nv = 2 * 5 * 9, no = 2 * 5 * 8;
        t.q = rnd(nq, -1, 1); t.k = rnd(nk, -1, 1); t.v = rnd(nv, -1, 1);
        t.o = zeros(no); t.P = zeros(2 * 2 * 25); t.r = rnd(no, -1, 1);
        float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nv), *sc = zeros(TRN_ATTN_THREADS * 25);
        attn_loss(&t);
        trn_attn_backward(dq, dk, dv, t.r, t.P, t.q, t.k, t.v, &t.s, sc);
        /* Columns outside the heads (strided rows) must get zero gradient,
         * and the finite differences agree there too. */
        fd_check(causal ? "attention causal dq" : "attention dq", t.q, dq, nq, attn_loss, &t, 1e-2f, 2e-4, 2e-3);
        fd_check(causal ? "attention causal dk" : "attention dk", t.k, dk, nk, attn_loss, &t, 1e-2f, 2e-4, 2e-3);
        fd_check(causal ? "attention causal dv" : "attention dv", t.v, dv, nv, attn_loss, &t, 1e-2f, 2e-4, 2e-3);
        free(t.q); free(t.k); free(t.v); free(t.o); free(t.P); free(t.r);
        free(dq); free(dk); free(dv); free(sc);
    }
}

typedef struct {
    float *x, *y, *r;
    int *pos;
} rope_t;
static double rope_loss(void *u)
{
    rope_t *t = u;
    memcpy(t->y, t->x, sizeof(float) * 3 * 11);
    trn_rope_forward(t->y + 1, t->pos, 3, 2, 11, 5, 4, 10000.0f);
    return dotd(t->y, t->r, 33);
}
static void test_rope(void)
{
    rope_t t;
    int pos[3] = {0, 7, 300};
    t.pos = pos;
    t.x = rnd(33, -1, 1); t.y = zeros(33); t.r = rnd(33, -1, 1);
    float *dx = zeros(33);
    memcpy(dx, t.r, sizeof(float) * 33);
    trn_rope_backward(dx + 1, pos, 3, 2, 11, 5, 4, 10000.0f);
    fd_check("rope", t.x, dx, 33, rope_loss, &t, 1e-2f, 2e-4, 1e-3);
    /* HF layout: de-interleaving q and k the same way leaves q·k unchanged,
     * so pairs (2i, 2i+1) here equal HF's rotate_half on [evens | odds]. */
    float q[4] = {0.3f, -1.2f, 0.7f, 0.4f}, k[4] = {-0.5f, 0.9f, 1.1f, -0.2f};
    int p1[1] = {5}, p2[1] = {2};
    float qr[4], kr[4];
    memcpy(qr, q, sizeof q);
    memcpy(kr, k, sizeof k);
    trn_rope_forward(qr, p1, 1, 1, 4, 0, 4, 10000.0f);
    trn_rope_forward(kr, p2, 1, 1, 4, 0, 4, 10000.0f);
    double dot = 0, ref = 0;
    for (int i = 0; i < 4; i++) dot += (double)qr[i] * kr[i];
    /* HF: x' = [x0,x2 | x1,x3]; out = x'·cos + rotate_half(x')·sin */
    double hq[4], hk[4];
    for (int pass = 0; pass < 2; pass++) {
        const float *x = pass ? k : q;
        double *o = pass ? hk : hq;
        int ps = pass ? 2 : 5;
        double xp[4] = {x[0], x[2], x[1], x[3]};
        for (int i = 0; i < 2; i++) {
            double a = ps * pow(10000.0, -2.0 * i / 4);
            o[i] = xp[i] * cos(a) - xp[i + 2] * sin(a);
            o[i + 2] = xp[i + 2] * cos(a) + xp[i] * sin(a);
        }
    }
    for (int i = 0; i < 4; i++) ref += hq[i] * hk[i];
    TST_CHECK(fabs(dot - ref) < 1e-5, "rope q·k %.7f vs HF layout %.7f", dot, ref);
    free(t.x); free(t.y); free(t.r); free(dx);
}

typedef struct {
    float *l, *d;
    int32_t *t;
} xent_t;
static double xent_loss(void *u)
{
    xent_t *x = u;
    return trn_xent_forward_backward(x->d, x->l, x->t, 4, 7, 0.1f, 1.0f);
}
static void test_xent(void)
{
    xent_t x;
    int32_t tg[4] = {3, -1, 0, 6};
    x.t = tg;
    x.l = rnd(28, -3, 3);
    x.d = zeros(28);
    float *g = zeros(28);
    trn_xent_forward_backward(g, x.l, x.t, 4, 7, 0.1f, 1.0f);
    fd_check("cross-entropy (ls 0.1)", x.l, g, 28, xent_loss, &x, 1e-2f, 2e-4, 1e-3);
    free(x.l); free(x.d); free(g);
}

/* CTC: −log p against a brute-force sum over every path, and its gradient
 * against central differences (the op works in double inside). */
typedef struct {
    float *l, *d;
    const int32_t *lab;
    int T, V, L;
} ctc_t;
static double ctc_loss(void *u)
{
    ctc_t *x = u;
    return trn_ctc_forward_backward(x->d, x->l, x->T, x->V, x->lab, x->L, 0, 1.0f);
}
static void test_ctc(void)
{
    /* Brute force: T 4, V 3, label (1 1) needs 3 frames (a blank between). */
    {
        const int T = 4, V = 3;
        const int32_t lab[2] = {1, 1};
        float *l = rnd((size_t)T * V, -2, 2), *d = zeros((size_t)T * V);
        double p = 0;
        for (int path = 0; path < 81; path++) {
            int seq[4], q = path, out[4], n = 0, prev = -1;
            double pr = 1;
            for (int t = 0; t < T; t++) seq[t] = q % 3, q /= 3;
            for (int t = 0; t < T; t++) {
                double z = 0;
                for (int j = 0; j < V; j++) z += exp((double)l[t * V + j]);
                pr *= exp((double)l[t * V + seq[t]]) / z;
                if (seq[t] != 0 && seq[t] != prev) out[n++] = seq[t];
                prev = seq[t];
            }
            if (n == 2 && out[0] == 1 && out[1] == 1) p += pr;
        }
        double nll = trn_ctc_forward_backward(d, l, T, V, lab, 2, 0, 1.0f);
        TST_CHECK(fabs(nll + log(p)) < 1e-9, "ctc: -log p %.12f, brute force %.12f", nll, -log(p));
        const int32_t lab3[3] = {2, 2, 2}; /* needs 5 frames */
        TST_CHECK(trn_ctc_forward_backward(d, l, T, V, lab3, 3, 0, 1.0f) < 0,
                  "ctc: an unalignable label is refused");
        TST_CHECK(trn_ctc_min_frames(lab3, 3) == 5, "ctc: min frames %d", trn_ctc_min_frames(lab3, 3));
        free(l); free(d);
    }
    const int32_t lab[4] = {3, 1, 1, 4};
    ctc_t x = {NULL, NULL, lab, 9, 6, 4};
    x.l = rnd(54, -3, 3);
    x.d = zeros(54);
    float *g = zeros(54);
    trn_ctc_forward_backward(g, x.l, x.T, x.V, x.lab, x.L, 0, 1.0f);
    fd_check("ctc", x.l, g, 54, ctc_loss, &x, 1e-2f, 2e-4, 1e-3);
    free(x.l); free(x.d); free(g);
}

/* ------------------------------------------------------- the whole model */

static int fake_encode(void *ud, const char *text, int32_t *ids, int cap)
{
    int V = *(int *)ud;
    int n = (int)strlen(text);
    for (int i = 0; i < n && i < cap; i++) ids[i] = 7 + (unsigned char)text[i] % (V - 7);
    return n;
}

/* A source of random crops and labels: a pure function of the index. */
static ocr_status fake_get(void *ud, uint64_t index, int phase, trn_sample *out, ocr_err *e)
{
    (void)ud; (void)phase; (void)e;
    uint64_t s = index * 2654435761u + 17;
    out->h = 32;
    out->w = 16 + (int)(index * 7 % 17);
    out->kind = (int)(index % 3 == 0);
    out->gray = malloc((size_t)out->w * out->h);
    for (int i = 0; i < out->w * out->h; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        out->gray[i] = (uint8_t)(s >> 24);
    }
    int n = 1 + (int)(index % 5);
    out->text = malloc((size_t)n + 1);
    for (int i = 0; i < n; i++) out->text[i] = (char)('a' + (index * 3 + (uint64_t)i * 5) % 26);
    out->text[n] = 0;
    return OCR_OK;
}

typedef struct {
    trn_model *m;
    trn_state *s;
    trn_batch *b;
} model_t;
static double model_loss(void *u)
{
    model_t *t = u;
    /* Routing frozen to the analytic pass: top-k is piecewise constant and a
     * perturbation must not flip an expert choice. Mean loss × targets = sum. */
    return trn_forward(t->m, t->s, t->b, true, 0.05f, NULL) * t->b->n_targets;
}

/* H 32 gives the tiny model two row groups (the formula path); H 16 one
 * (text lines), where the CTC head joins the loss with weight `ctc`. */
static void model_gradients(int H, float ctc)
{
    trn_config c = trn_config_tiny();
    trn_model *m = NULL;
    ocr_err e = {0};
    TST_CHECK(trn_model_create(&m, &c, &e) == OCR_OK, "create: %s", e.msg);
    if (!m) return;
    trn_model_init(m, 3);
    for (int l = 0; l < c.layers; l++)
        for (int x = 0; x < c.n_routed; x++) m->moe_bias[l * (c.n_routed + 1) + x] = 0.01f * (float)(x % 3);
    /* Bigger weights than the init so that every path carries gradient. */
    for (size_t i = 0; i < m->n_floats; i++) m->w[i] *= 1.0f;
    trn_limits lim = {2, H, 32, 24};
    trn_state *s = NULL;
    TST_CHECK(trn_state_create(&s, m, &lim, &e) == OCR_OK, "state: %s", e.msg);
    if (!s) return;
    trn_state_set_ctc(s, ctc);
    trn_batch b;
    trn_batch_alloc(&b, &c, &lim, &e);
    trn_sample sm[2];
    memset(sm, 0, sizeof sm);
    fake_get(NULL, 4, 0, &sm[0], &e);
    fake_get(NULL, 8, 0, &sm[1], &e);
    trn_sample *ps[2] = {&sm[0], &sm[1]};
    int V = c.vocab;
    TST_CHECK(trn_batch_build(&b, &c, &lim, ps, 2, fake_encode, &V, 20, &e) == OCR_OK, "batch: %s", e.msg);
    double load[16] = {0};
    memset(m->g, 0, m->n_floats * sizeof(float));
    double loss = trn_forward(m, s, &b, false, 0.05f, load);
    TST_CHECK(isfinite(loss), "loss %g", loss);
    if (ctc > 0) {
        double xe = 0, cl = 0;
        int used = 0;
        trn_state_losses(s, &xe, &cl, &used);
        TST_CHECK(used == 2 && cl > 0 && fabs(xe + ctc * cl - loss) < 1e-9,
                  "ctc in the loss: used %d, xent %g + %g·ctc %g vs %g", used, xe, (double)ctc, cl, loss);
    }
    trn_backward(m, s, &b);
    /* The loss the checks differentiate is the sum: scale the mean's gradient. */
    for (size_t i = 0; i < m->n_floats; i++) m->g[i] *= (float)b.n_targets;
    model_t t = {m, s, &b};
    int checked = 0;
    for (int i = 0; i < m->n_params; i++) {
        const trn_param *p = &m->params[i];
        /* Up to 6 entries per tensor, spread over it. */
        size_t step = p->numel / 6 + 1;
        float *g = malloc(sizeof(float) * 6), *w = m->w + p->off;
        size_t idx[6];
        int k = 0;
        for (size_t j = 0; j < p->numel && k < 6; j += step) idx[k] = j, g[k] = m->g[p->off + j], k++;
        double worst = 0, gmax = 0;
        for (int q = 0; q < k; q++) {
            float x0 = w[idx[q]];
            const float eps = 1e-3f; /* converged: 5e-4 agrees too; 5e-3 is past the curvature */
            w[idx[q]] = x0 + eps;
            double fp = model_loss(&t);
            w[idx[q]] = x0 - eps;
            double fm = model_loss(&t);
            w[idx[q]] = x0;
            double num = (fp - fm) / (2 * eps);
            worst = fmax(worst, fabs(num - g[q]));
            gmax = fmax(gmax, fabs(num));
        }
        bool ok = worst <= 2e-3 + 3e-2 * gmax;
        TST_CHECK(ok, "model %s: worst %.3g (max |g| %.3g)", p->name, worst, gmax);
        checked += ok;
        free(g);
    }
    printf("   whole tiny model (H %d, ctc %.1f): %d/%d tensors agree with finite differences\n", H,
           (double)ctc, checked, m->n_params);
    /* A moved bias changes the choice of experts but never the gradient path. */
    trn_batch_free(&b);
    trn_sample_free(&sm[0]);
    trn_sample_free(&sm[1]);
    trn_state_destroy(&s);
    trn_model_destroy(&m);
}

static void test_model_gradients(void)
{
    model_gradients(32, 0.0f);
    model_gradients(16, 0.5f);
}

/* Train `steps` steps from (step0, ckpt) and return the model. */
static trn_model *run_steps(const char *load_from, int steps, const char *save_to)
{
    trn_config c = trn_config_tiny();
    trn_model *m = NULL;
    ocr_err e = {0};
    trn_model_create(&m, &c, &e);
    trn_model_init(m, 11);
    trn_progress pr = {0, 99, 0, 0, 0, 0};
    if (load_from) TST_CHECK(trn_ckpt_load(m, &pr, load_from, &e) == OCR_OK, "load: %s", e.msg);
    trn_limits lim = {3, 32, 32, 24};
    trn_state *s = NULL;
    trn_state_create(&s, m, &lim, &e);
    trn_batch b;
    trn_batch_alloc(&b, &c, &lim, &e);
    trn_source src = {fake_get, NULL};
    trn_loader *ld = NULL;
    TST_CHECK(trn_loader_create(&ld, &src, pr.seed, 3, 2, pr.pool, NULL, NULL, true, &e) == OCR_OK,
              "loader: %s", e.msg);
    trn_opt_params op = trn_opt_default_params();
    op.warmup = 2;
    op.lr = 3e-3f;
    op.bias_gamma = 0.01f;
    double load[16];
    int V = c.vocab;
    for (int i = 0; i < steps; i++) {
        trn_sample **sm = NULL;
        TST_CHECK(trn_loader_batch(ld, pr.pool, pr.batch_in_pool, &sm, &e) == OCR_OK, "batch: %s", e.msg);
        trn_batch_build(&b, &c, &lim, sm, 3, fake_encode, &V, 20, &e);
        trn_step_stats st;
        TST_CHECK(trn_step(m, s, &b, &op, pr.step, 0.0f, load, &st, &e) == OCR_OK, "step: %s", e.msg);
        pr.step++;
        if (++pr.batch_in_pool == 2) pr.batch_in_pool = 0, pr.pool++;
    }
    if (save_to) TST_CHECK(trn_ckpt_save(m, &pr, save_to, &e) == OCR_OK, "save: %s", e.msg);
    trn_loader_destroy(&ld);
    trn_batch_free(&b);
    trn_state_destroy(&s);
    return m;
}

/* Threads and determinism: one step of the nano-sized model (OpenBLAS on
 * one thread, the ops on the OpenMP threads, as the trainer runs) twice on
 * 2 threads gives the same loss, gradients and weights bit for bit, so a
 * run and its resume agree. On 1 thread the GEMMs' row blocks round
 * differently (OpenBLAS sums a split product in another order): the same
 * within float tolerance. The sizes are big enough for every split path
 * (GEMM rows, elementwise, per row, attention pairs) to run on 2 threads. */
static void one_step(int nt, double *loss, float **w, float **g)
{
    trn_config c = trn_config_nano();
    ocr_err e = {0};
    const int B = 4, W = 160;
    trn_limits lim = {B, 32, W, 2 + trn_image_rows(&c, 32, W) + 24};
    omp_set_num_threads(nt);
    trn_model *m = NULL;
    trn_state *st = NULL;
    trn_batch b;
    memset(&b, 0, sizeof b);
    *w = *g = NULL;
    if (trn_model_create(&m, &c, &e) != OCR_OK || trn_state_create(&st, m, &lim, &e) != OCR_OK ||
        trn_batch_alloc(&b, &c, &lim, &e) != OCR_OK) {
        TST_CHECK(false, "nano model/state: %s", e.msg);
        trn_model_destroy(&m);
        trn_state_destroy(&st);
        return;
    }
    trn_model_init(m, 5);
    trn_state_set_ctc(st, 0.5f);
    trn_sample sm[4];
    trn_sample *ps[4];
    memset(sm, 0, sizeof sm);
    for (int i = 0; i < B; i++) {
        sm[i].h = 32;
        sm[i].w = W - 8 * i;
        sm[i].gray = malloc((size_t)sm[i].w * sm[i].h);
        for (int k = 0; sm[i].gray && k < sm[i].w * sm[i].h; k++) sm[i].gray[k] = (uint8_t)((k * 37 + i * 11) % 251);
        sm[i].text = strdup("threads must not change the result");
        ps[i] = &sm[i];
    }
    int V = c.vocab;
    trn_batch_build(&b, &c, &lim, ps, B, fake_encode, &V, 24, &e);
    trn_opt_params op = trn_opt_default_params();
    double load[64] = {0};
    trn_step_stats ss;
    TST_CHECK(trn_step(m, st, &b, &op, 10, 0.0f, load, &ss, &e) == OCR_OK, "step on %d threads: %s", nt, e.msg);
    *loss = ss.loss;
    *w = malloc(m->n_floats * sizeof(float));
    *g = malloc(m->n_floats * sizeof(float));
    if (*w) memcpy(*w, m->w, m->n_floats * sizeof(float));
    if (*g) memcpy(*g, m->g, m->n_floats * sizeof(float));
    for (int i = 0; i < B; i++) trn_sample_free(&sm[i]);
    trn_batch_free(&b);
    trn_state_destroy(&st);
    trn_model_destroy(&m);
}

static void test_threads(void)
{
    int saved_blas = ocr_blas_get_threads(), saved_omp = omp_get_max_threads();
    ocr_blas_set_threads(1);
    trn_config c = trn_config_nano();
    trn_model *m = NULL;
    ocr_err e = {0};
    size_t n = trn_model_create(&m, &c, &e) == OCR_OK ? m->n_floats : 0;
    trn_model_destroy(&m);
    double l1 = 0, l2 = 0, l2b = 0;
    float *w1, *g1, *w2, *g2, *w2b, *g2b;
    one_step(1, &l1, &w1, &g1);
    one_step(2, &l2, &w2, &g2);
    one_step(2, &l2b, &w2b, &g2b);
    bool all = n && w1 && g1 && w2 && g2 && w2b && g2b;
    TST_CHECK(all && l2 == l2b && !memcmp(g2, g2b, n * 4) && !memcmp(w2, w2b, n * 4),
              "2 threads twice: loss %.17g vs %.17g, gradients and weights bit for bit", l2, l2b);
    double gmax = 0, gdiff = 0, wdiff = 0;
    for (size_t i = 0; all && i < n; i++) {
        gmax = fmax(gmax, fabs(g1[i]));
        gdiff = fmax(gdiff, fabs((double)g1[i] - g2[i]));
        wdiff = fmax(wdiff, fabs((double)w1[i] - w2[i]));
    }
    TST_CHECK(all && fabs(l1 - l2) <= 1e-6 * fabs(l1) && gdiff <= 1e-4 * gmax && wdiff <= 1e-6,
              "1 vs 2 threads: loss %.9g vs %.9g, max |dg| %.3g (max |g| %.3g), max |dw| %.3g", l1, l2, gdiff,
              gmax, wdiff);
    printf("   1 vs 2 threads: |dloss| %.2g, max |dg| %.2g of max |g| %.2g, max |dw| %.2g\n", fabs(l1 - l2),
           gdiff, gmax, wdiff);
    free(w1); free(g1); free(w2); free(g2); free(w2b); free(g2b);
    omp_set_num_threads(saved_omp);
    ocr_blas_set_threads(saved_blas);
}

static void test_resume(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/trn_resume.safetensors", tst_tmpdir());
    trn_model *full = run_steps(NULL, 7, NULL);
    trn_model *first = run_steps(NULL, 3, path);
    trn_model *rest = run_steps(path, 4, NULL);
    size_t n = full->n_floats;
    bool same = memcmp(full->w, rest->w, n * 4) == 0 && memcmp(full->m, rest->m, n * 4) == 0 &&
                memcmp(full->v, rest->v, n * 4) == 0 &&
                memcmp(full->moe_bias, rest->moe_bias,
                       sizeof(float) * (size_t)full->cfg.layers * (full->cfg.n_routed + 1)) == 0;
    TST_CHECK(same, "7 steps straight differ from 3 + checkpoint + 4");
    TST_CHECK(memcmp(full->w, first->w, n * 4) != 0, "training changed nothing");
    bool moved = false;
    for (int i = 0; i < full->cfg.layers * (full->cfg.n_routed + 1); i++) moved |= full->moe_bias[i] != 0;
    TST_CHECK(moved, "MoE biases never moved");
    if (same) printf("   resume: 3 steps + checkpoint + 4 steps == 7 steps, bit for bit\n");
    trn_model_destroy(&full);
    trn_model_destroy(&first);
    trn_model_destroy(&rest);
}

static void test_export_roundtrip(void)
{
    trn_config c = trn_config_tiny();
    trn_model *m = NULL, *m2 = NULL;
    ocr_err e = {0};
    trn_model_create(&m, &c, &e);
    trn_model_create(&m2, &c, &e);
    trn_model_init(m, 5);
    const char *dir = tst_tmpdir();
    TST_CHECK(trn_export(m, dir, false, &e) == OCR_OK, "export: %s", e.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    TST_CHECK(trn_import(m2, path, &e) == OCR_OK, "import: %s", e.msg);
    /* Everything but the trainer-only CTC head (last in the layout, not exported). */
    const trn_param *ctc = trn_model_find(m, "train.ctc_head.weight");
    TST_CHECK(ctc != NULL, "the CTC head is a parameter");
    size_t n_inf = ctc ? ctc->off : m->n_floats;
    TST_CHECK(memcmp(m->w, m2->w, n_inf * 4) == 0, "F32 export/import differs");
    {
        ocr_st *st = NULL;
        TST_CHECK(ocr_st_open(&st, path, &e) == OCR_OK, "open export: %s", e.msg);
        TST_CHECK(st && !ocr_st_find(st, "train.ctc_head.weight") && !ocr_st_find(st, "train.ctc_head.bias"),
                  "the CTC head is not exported");
        ocr_st_close(&st);
    }
    /* A warm start takes a checkpoint's weights (here one whose CTC head
     * differs: it keeps its own) and none of its moments. */
    {
        trn_model *m3 = NULL;
        trn_model_create(&m3, &c, &e);
        trn_model_init(m3, 9);
        for (size_t i = 0; i < m->n_floats; i++) m->m[i] = 1.0f;
        trn_progress pr = {42, 7, 3, 1, 1000.0, 60.0}, got;
        char ck[512];
        snprintf(ck, sizeof ck, "%s/ckpt.safetensors", dir);
        TST_CHECK(trn_ckpt_save(m, &pr, ck, &e) == OCR_OK, "save: %s", e.msg);
        float head0 = m3->w[n_inf];
        TST_CHECK(trn_ckpt_warm_start(m3, ck, &got, &e) == OCR_OK, "warm start: %s", e.msg);
        TST_CHECK(memcmp(m3->w, m->w, n_inf * 4) == 0 && got.step == 42 && got.samples_seen == 1000.0,
                  "warm start copies the weights and reports the progress");
        TST_CHECK(m3->m[0] == 0.0f, "warm start leaves the moments at zero");
        (void)head0;
        trn_model_destroy(&m3);
        for (size_t i = 0; i < m->n_floats; i++) m->m[i] = 0.0f;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    trn_config c2;
    memset(&c2, 0, sizeof c2);
    TST_CHECK(trn_config_read_json(&c2, path, &e) == OCR_OK, "config: %s", e.msg);
    TST_CHECK(memcmp(&c, &c2, sizeof c) == 0, "config.json round trip differs");
    ocr_config oc;
    TST_CHECK(ocr_config_load(&oc, path, &e) == OCR_OK, "core config reader: %s", e.msg);
    TST_CHECK(oc.lm.use_mla && oc.lm.kv_lora_rank == c.kv_lora && oc.lm.n_routed_experts == c.n_routed &&
              strcmp(oc.lm.scoring_func, "sigmoid") == 0 && strcmp(oc.lm.topk_method, "noaux_tc") == 0,
              "core config reader sees other values");
    trn_model_destroy(&m);
    trn_model_destroy(&m2);
}

typedef struct {
    trn_state *s;
    int layers, bad;
} trace_ctx;

/* Compare the engine's residual stream with the trainer's, stage by stage,
 * so a disagreement names the layer. */
static void trace_cmp(void *ud, const lm_trace_event *ev)
{
    trace_ctx *t = ud;
    const float *ref = NULL;
    char what[64];
    if (ev->kind == LM_TRACE_EMBED) ref = trn_debug_residual(t->s, 0), snprintf(what, sizeof what, "embed");
    else if (ev->kind == LM_TRACE_LAYER_OUT)
        ref = trn_debug_residual(t->s, ev->layer + 1), snprintf(what, sizeof what, "layer %d out", ev->layer);
    if (!ref) return;
    TST_CLOSE(what, ev->x, ref + (size_t)ev->pos0 * ev->d, (size_t)ev->n * ev->d, 2e-4f, 2e-3f);
}

/* The exported decoder runs unchanged in the inference engine: the same
 * logits from lm_forward (image rows spliced in) as from the trainer. */
static void test_lm_engine_agrees(void)
{
    trn_config c = trn_config_tiny();
    trn_model *m = NULL;
    ocr_err e = {0};
    trn_model_create(&m, &c, &e);
    trn_model_init(m, 21);
    for (int l = 0; l < c.layers; l++)
        for (int x = 0; x < c.n_routed; x++) m->moe_bias[l * (c.n_routed + 1) + x] = 0.05f * (float)(x % 3);
    const char *dir = tst_tmpdir();
    TST_CHECK(trn_export(m, dir, false, &e) == OCR_OK, "export: %s", e.msg);
    lm_model *lm = NULL;
    ocr_status rc = lm_model_load(&lm, dir, &e);
    TST_CHECK(rc == OCR_OK, "lm_model_load of the exported tiny model: %s", e.msg);
    if (rc != OCR_OK) {
        trn_model_destroy(&m);
        return;
    }
    trn_limits lim = {1, 32, 32, 24};
    trn_state *s = NULL;
    trn_state_create(&s, m, &lim, &e);
    trn_batch b;
    trn_batch_alloc(&b, &c, &lim, &e);
    trn_sample sm = {0};
    fake_get(NULL, 9, 0, &sm, &e);
    trn_sample *ps[1] = {&sm};
    int V = c.vocab;
    trn_batch_build(&b, &c, &lim, ps, 1, fake_encode, &V, 20, &e);
    trn_forward(m, s, &b, false, 0.0f, NULL);
    /* Trainer logits of every target row (the head runs on those only). */
    int n_img = trn_image_rows(&c, b.H, b.W);
    float *rows = malloc(sizeof(float) * (size_t)n_img * c.d);
    trn_encode_rows(m, s, &b, rows, &e);
    trn_forward(m, s, &b, false, 0.0f, NULL);
    float *mine = malloc(sizeof(float) * (size_t)b.T * c.vocab);
    int nt = 0;
    {
        /* recompute the head on all rows through the same path as training */
        float *tmp = malloc(sizeof(float) * (size_t)b.T * c.vocab);
        int32_t *tg = malloc(sizeof(int32_t) * (size_t)b.T);
        memcpy(tg, b.targets, sizeof(int32_t) * (size_t)b.T);
        for (int t = 0; t < b.T; t++) b.targets[t] = 0; /* every row */
        trn_forward(m, s, &b, false, 0.0f, NULL);
        (void)tmp;
        free(tmp);
        memcpy(b.targets, tg, sizeof(int32_t) * (size_t)b.T);
        free(tg);
        nt = b.T;
    }
    (void)nt;
    /* The inference encoder (vision/vis_nano.c) reads the same export. */
    {
        vis_nano_config vc;
        vis_nano *vn = NULL;
        ocr_st *st = NULL;
        char p2[512];
        snprintf(p2, sizeof p2, "%s/model.safetensors", dir);
        TST_CHECK(vis_nano_config_load(&vc, dir, &e) == OCR_OK, "vis_nano config: %s", e.msg);
        TST_CHECK(ocr_st_open(&st, p2, &e) == OCR_OK, "open: %s", e.msg);
        TST_CHECK(vis_nano_create(&vn, &vc, st, &e) == OCR_OK, "vis_nano_create: %s", e.msg);
        ocr_st_close(&st);
        float *vr = malloc(sizeof(float) * (size_t)n_img * c.d);
        TST_CHECK(vn && vis_nano_rows(vn, b.H, b.W) == n_img, "vis_nano_rows");
        if (vn && vis_nano_encode(vn, b.img, b.H, b.W, vr, &e) == OCR_OK)
            TST_CLOSE("vis_nano_encode vs trainer encoder", vr, rows, (size_t)n_img * c.d, 1e-5f, 1e-4f);
        free(vr);
        vis_nano_destroy(&vn);
    }
    lm_state *ls = NULL;
    TST_CHECK(lm_state_create(&ls, lm, 64, 0, &e) == OCR_OK, "lm_state: %s", e.msg);
    float *logits = malloc(sizeof(float) * (size_t)b.T * c.vocab);
    trace_ctx tc = {s, c.layers, 0};
    lm_state_set_trace(ls, trace_cmp, &tc);
    rc = lm_forward(ls, b.ids, b.img_mask, rows, n_img, b.T, LM_LOGITS_ALL, logits, &e);
    TST_CHECK(rc == OCR_OK, "lm_forward: %s", e.msg);
    if (rc == OCR_OK) {
        const float *tl = trn_debug_logits(s, &nt);
        TST_CHECK(nt == b.T, "rows %d vs %d", nt, b.T);
        TST_CLOSE("lm_forward vs trainer logits", logits, tl, (size_t)b.T * c.vocab, 2e-4f, 2e-3f);
    }
    free(logits);
    free(mine);
    free(rows);
    lm_state_destroy(&ls);
    lm_model_destroy(&lm);
    trn_batch_free(&b);
    trn_sample_free(&sm);
    trn_state_destroy(&s);
    trn_model_destroy(&m);
}

/* models/vlocr-nano/tokenizer.json: what our tokenizer reads round-trips
 * every string, one token per common character, LaTeX commands whole. */
static void test_nano_tokenizer(void)
{
    tok_tokenizer *t = NULL;
    ocr_err e = {0};
    if (tok_load(&t, "models/vlocr-nano/tokenizer.json", &e) != OCR_OK) {
        tst_skip("nano tokenizer", e.msg);
        return;
    }
    const char *cases[] = {
        "The quick brown fox, 12.5% (p. 3) — “quoted” naïve café",
        "Price: 7–952   Account: 91.922 MB | E-mail: x@y.org",
        "\\frac{a}{b}+\\alpha^{2}\\leq\\int_{0}^{1} x\\,dx",
        "漢字 ſ uͤ ∮ 🙂",
        "tab\tand newline\n and \\nu \\nusers",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *back = NULL;
        size_t bl = 0;
        TST_CHECK(tok_encode(t, cases[i], strlen(cases[i]), false, &ids, &n, &e) == OCR_OK, "encode: %s", e.msg);
        TST_CHECK(tok_decode(t, ids, n, false, &back, &bl, &e) == OCR_OK, "decode: %s", e.msg);
        TST_CHECK(back && strcmp(back, cases[i]) == 0, "round trip of «%s» gave «%s»", cases[i], back ? back : "");
        for (size_t k = 0; k < n; k++) TST_CHECK(ids[k] < 640, "id %d beyond the model's vocab", ids[k]);
        if (i == 0) {
            /* one token per character: 52 code points */
            int cps = 0;
            for (const char *p = cases[i]; *p; p++) cps += ((unsigned char)*p & 0xC0) != 0x80;
            TST_CHECK((int)n == cps, "line: %zu tokens for %d characters", n, cps);
        }
        if (i == 2) TST_CHECK(tok_id(t, "\\frac") >= 0 && tok_id(t, "\\alpha") >= 0, "LaTeX commands are tokens");
        free(ids);
        free(back);
    }
    TST_CHECK(tok_id(t, "<s>") == 0 && tok_id(t, "</s>") == 1 && tok_id(t, "<pad>") == 2 &&
              tok_id(t, "<text>") == 5 && tok_id(t, "<formula>") == 6, "special ids match trn_config_nano");
    tok_destroy(&t);
}

static void test_schedule(void)
{
    trn_opt_params p = trn_opt_default_params();
    p.warmup = 10; p.lr = 1.0f; p.decay_start = 100; p.total_steps = 200; p.min_lr_frac = 0.1f;
    TST_CHECK(fabsf(trn_lr_at(&p, 0) - 0.1f) < 1e-6f, "warmup start");
    TST_CHECK(trn_lr_at(&p, 50) == 1.0f, "stable");
    TST_CHECK(fabsf(trn_lr_at(&p, 150) - 0.55f) < 1e-6f, "decay middle %g", trn_lr_at(&p, 150));
    TST_CHECK(fabsf(trn_lr_at(&p, 300) - 0.1f) < 1e-6f, "decay end");
    int ref = 0;
    TST_CHECK(trn_edit_distance("kitten", "sitting", &ref) == 3 && ref == 7, "edit distance");
    TST_CHECK(trn_edit_distance("a–b", "a-b", NULL) == 1, "edit distance over code points");
}

int main(void)
{
    TST_RUN(test_linear);
    TST_RUN(test_norms);
    TST_RUN(test_gelu_accuracy);
    TST_RUN(test_activations);
    TST_RUN(test_conv);
    TST_RUN(test_attention);
    TST_RUN(test_rope);
    TST_RUN(test_xent);
    TST_RUN(test_ctc);
    TST_RUN(test_model_gradients);
    TST_RUN(test_threads);
    TST_RUN(test_resume);
    TST_RUN(test_export_roundtrip);
    TST_RUN(test_lm_engine_agrees);
    TST_RUN(test_nano_tokenizer);
    TST_RUN(test_schedule);
    return tst_finish();
}

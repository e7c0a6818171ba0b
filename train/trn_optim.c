/* train/trn_optim.c — AdamW, the warmup + WSD learning-rate schedule,
 * global-norm clipping, and DeepSeek-V3's auxiliary-loss-free balancing.
 *
 * WSD (warmup, stable, decay) because the run spans sessions of unknown
 * number: the rate stays constant until someone decides the run is nearly
 * done (decay_start), so no schedule has to know the total in advance.
 */
#include <math.h>
#include <string.h>

#include "train/trn.h"

trn_opt_params trn_opt_default_params(void)
{
    trn_opt_params p;
    memset(&p, 0, sizeof p);
    p.lr = 7e-4f;
    p.min_lr_frac = 0.1f;
    p.beta1 = 0.9f;
    p.beta2 = 0.95f;
    p.eps = 1e-8f;
    p.wd = 0.05f;
    p.clip = 1.0f;
    p.warmup = 500;
    p.decay_start = INT64_MAX / 4;
    p.total_steps = INT64_MAX / 2;
    p.bias_gamma = 1e-3f;
    return p;
}

float trn_lr_at(const trn_opt_params *p, int64_t step)
{
    if (p->warmup > 0 && step < p->warmup) return p->lr * (float)(step + 1) / (float)p->warmup;
    if (step < p->decay_start) return p->lr;
    int64_t span = p->total_steps - p->decay_start;
    double f = span > 0 ? (double)(step - p->decay_start) / (double)span : 1.0;
    if (f > 1.0) f = 1.0;
    return p->lr * (float)(1.0 - f * (1.0 - p->min_lr_frac));
}

double trn_clip_grads(trn_model *m, float clip)
{
    double ss = 0;
    for (size_t i = 0; i < m->n_floats; i++) ss += (double)m->g[i] * m->g[i];
    double norm = sqrt(ss);
    if (clip > 0 && norm > clip) {
        float s = (float)(clip / norm);
        for (size_t i = 0; i < m->n_floats; i++) m->g[i] *= s;
    }
    return norm;
}

void trn_adamw_step(trn_model *m, const trn_opt_params *p, float lr, int64_t t)
{
    const float b1 = p->beta1, b2 = p->beta2;
    const float c1 = 1.0f - powf(b1, (float)t), c2 = 1.0f - powf(b2, (float)t);
    for (int k = 0; k < m->n_params; k++) {
        const trn_param *pr = &m->params[k];
        float *w = m->w + pr->off, *g = m->g + pr->off, *mm = m->m + pr->off, *vv = m->v + pr->off;
        float wd = pr->decay ? p->wd : 0.0f;
        /* Elementwise: split across the threads with the same bits. */
#pragma omp parallel for schedule(static) if (pr->numel >= TRN_PAR_MIN)
        for (size_t i = 0; i < pr->numel; i++) {
            mm[i] = b1 * mm[i] + (1.0f - b1) * g[i];
            vv[i] = b2 * vv[i] + (1.0f - b2) * g[i] * g[i];
            float mh = mm[i] / c1, vh = vv[i] / c2;
            w[i] -= lr * (mh / (sqrtf(vh) + p->eps) + wd * w[i]);
        }
    }
}

void trn_balance_update(trn_model *m, const double *load, float gamma)
{
    const trn_config *c = &m->cfg;
    const int E = c->n_routed;
    if (gamma == 0.0f || E == 0) return;
    for (int l = c->first_dense; l < c->layers; l++) {
        const double *ld = load + (size_t)l * E;
        double mean = 0;
        for (int x = 0; x < E; x++) mean += ld[x];
        mean /= E;
        float *b = m->moe_bias + (size_t)l * (E + 1);
        for (int x = 0; x < E; x++)
            b[x] += ld[x] < mean ? gamma : ld[x] > mean ? -gamma : 0.0f;
    }
}

ocr_status trn_step(trn_model *m, trn_state *s, const trn_batch *b, const trn_opt_params *p,
                    int64_t step, float label_smoothing, double *load, trn_step_stats *st,
                    ocr_err *e)
{
    memset(m->g, 0, m->n_floats * sizeof(float));
    if (load) memset(load, 0, sizeof(double) * (size_t)m->cfg.layers * (size_t)m->cfg.n_routed);
    double loss = trn_forward(m, s, b, false, label_smoothing, load);
    if (!isfinite(loss))
        return ocr_err_set(e, OCR_E_NUMERIC, "trn_step: step %lld: loss is %g",
                           (long long)step, loss);
    trn_backward(m, s, b);
    double norm = trn_clip_grads(m, p->clip);
    if (!isfinite(norm))
        return ocr_err_set(e, OCR_E_NUMERIC, "trn_step: step %lld: gradient norm is %g",
                           (long long)step, norm);
    float lr = trn_lr_at(p, step);
    trn_adamw_step(m, p, lr, step + 1);
    /* γ is frozen during the decay phase, as DeepSeek-V3 does at the end. */
    if (load && step < p->decay_start) trn_balance_update(m, load, p->bias_gamma);
    if (st) {
        st->loss = loss;
        st->grad_norm = norm;
        st->lr = lr;
    }
    return OCR_OK;
}

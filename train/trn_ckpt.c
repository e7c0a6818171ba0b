/* train/trn_ckpt.c — training checkpoints, the exported inference model and
 * its config.json.
 *
 * A checkpoint is one safetensors file (written atomically by ocr_st_write)
 * holding the flat parameters, both AdamW moments, the MoE correction
 * biases, the config as raw bytes (resume refuses another architecture) and
 * the progress counters: everything that makes the resumed run continue
 * bit-for-bit where it stopped.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "train/trn.h"
#include "vision/vis.h"

enum { PROG_N = 8 };

static ocr_tensor t1(const char *name, ocr_dtype dt, const void *data, int64_t n)
{
    ocr_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.dtype = dt;
    t.ndim = 1;
    t.shape[0] = n;
    t.data = data;
    t.nbytes = (size_t)n * ocr_dtype_size(dt);
    return t;
}

ocr_status trn_ckpt_save(const trn_model *m, const trn_progress *p, const char *path, ocr_err *e)
{
    int64_t prog[PROG_N];
    memset(prog, 0, sizeof prog);
    prog[0] = p->step;
    prog[1] = (int64_t)p->seed;
    prog[2] = (int64_t)p->pool;
    prog[3] = (int64_t)p->batch_in_pool;
    memcpy(&prog[4], &p->samples_seen, 8);
    memcpy(&prog[5], &p->train_seconds, 8);
    prog[6] = (int64_t)m->n_floats;
    const trn_config *c = &m->cfg;
    ocr_tensor t[6];
    t[0] = t1("params", OCR_DT_F32, m->w, (int64_t)m->n_floats);
    t[1] = t1("adam_m", OCR_DT_F32, m->m, (int64_t)m->n_floats);
    t[2] = t1("adam_v", OCR_DT_F32, m->v, (int64_t)m->n_floats);
    t[3] = t1("moe_bias", OCR_DT_F32, m->moe_bias, (int64_t)c->layers * (c->n_routed + 1));
    t[4] = t1("progress", OCR_DT_I64, prog, PROG_N);
    t[5] = t1("config", OCR_DT_U8, c, (int64_t)sizeof *c);
    return ocr_st_write(path, t, 6, NULL, e);
}

static ocr_status get_exact(const ocr_st *st, const char *name, ocr_dtype dt, size_t nbytes,
                            void *dst, ocr_err *e)
{
    const ocr_tensor *t = ocr_st_find(st, name);
    if (!t) return ocr_err_set(e, OCR_E_FORMAT, "%s: no tensor '%s'", ocr_st_path(st), name);
    if (t->dtype != dt || t->nbytes != nbytes)
        return ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s' has %zu bytes of %s, expected %zu",
                           ocr_st_path(st), name, t->nbytes, ocr_dtype_name(t->dtype), nbytes);
    memcpy(dst, t->data, nbytes);
    return OCR_OK;
}

/* Open checkpoint `path` and check it was made for m's configuration; on
 * failure *st may be open (the caller closes it). */
static ocr_status open_for(ocr_st **st, const trn_model *m, const char *path, ocr_err *e)
{
    ocr_status rc = ocr_st_open(st, path, e);
    if (rc != OCR_OK) return rc;
    trn_config c;
    rc = get_exact(*st, "config", OCR_DT_U8, sizeof c, &c, e);
    if (rc == OCR_OK && memcmp(&c, &m->cfg, sizeof c) != 0)
        rc = ocr_err_set(e, OCR_E_SHAPE, "%s: checkpoint of a different model configuration", path);
    return rc;
}

ocr_status trn_ckpt_load(trn_model *m, trn_progress *p, const char *path, ocr_err *e)
{
    ocr_st *st = NULL;
    ocr_status rc = open_for(&st, m, path, e);
    int64_t prog[PROG_N];
    size_t nb = m->n_floats * sizeof(float);
    if (rc == OCR_OK) rc = get_exact(st, "params", OCR_DT_F32, nb, m->w, e);
    if (rc == OCR_OK) rc = get_exact(st, "adam_m", OCR_DT_F32, nb, m->m, e);
    if (rc == OCR_OK) rc = get_exact(st, "adam_v", OCR_DT_F32, nb, m->v, e);
    if (rc == OCR_OK)
        rc = get_exact(st, "moe_bias", OCR_DT_F32,
                       sizeof(float) * (size_t)m->cfg.layers * (m->cfg.n_routed + 1), m->moe_bias, e);
    if (rc == OCR_OK) rc = get_exact(st, "progress", OCR_DT_I64, sizeof prog, prog, e);
    ocr_st_close(&st);
    if (rc != OCR_OK) return rc;
    p->step = prog[0];
    p->seed = (uint64_t)prog[1];
    p->pool = (uint64_t)prog[2];
    p->batch_in_pool = (uint64_t)prog[3];
    memcpy(&p->samples_seen, &prog[4], 8);
    memcpy(&p->train_seconds, &prog[5], 8);
    return OCR_OK;
}

ocr_status trn_ckpt_warm_start(trn_model *m, const char *path, trn_progress *from, ocr_err *e)
{
    ocr_st *st = NULL;
    ocr_status rc = open_for(&st, m, path, e);
    int64_t prog[PROG_N];
    const ocr_tensor *t = rc == OCR_OK ? ocr_st_find(st, "params") : NULL;
    if (rc == OCR_OK && (!t || t->dtype != OCR_DT_F32 || t->nbytes % 4 ||
                         t->nbytes / 4 > m->n_floats))
        rc = ocr_err_set(e, OCR_E_SHAPE, "%s: no usable 'params' tensor", path);
    if (rc == OCR_OK) {
        /* The tensors it lacks are the trainer-only ones at the end of the
         * layout: every tensor it has starts below its size. */
        size_t n = t->nbytes / 4;
        for (int i = 0; rc == OCR_OK && i < m->n_params; i++)
            if (m->params[i].off < n && m->params[i].off + m->params[i].numel > n)
                rc = ocr_err_set(e, OCR_E_SHAPE, "%s: params end inside '%s'", path, m->params[i].name);
        if (rc == OCR_OK) memcpy(m->w, t->data, n * 4);
    }
    if (rc == OCR_OK)
        rc = get_exact(st, "moe_bias", OCR_DT_F32,
                       sizeof(float) * (size_t)m->cfg.layers * (m->cfg.n_routed + 1), m->moe_bias, e);
    if (rc == OCR_OK) rc = get_exact(st, "progress", OCR_DT_I64, sizeof prog, prog, e);
    ocr_st_close(&st);
    if (rc != OCR_OK) return rc;
    memset(from, 0, sizeof *from);
    from->step = prog[0];
    from->seed = (uint64_t)prog[1];
    memcpy(&from->samples_seen, &prog[4], 8);
    memcpy(&from->train_seconds, &prog[5], 8);
    return OCR_OK;
}

/* ------------------------------------------------------------------ export */

ocr_status trn_export(const trn_model *m, const char *dir, bool bf16, ocr_err *e)
{
    const trn_config *c = &m->cfg;
    mkdir(dir, 0755); /* an existing directory is fine; a failure shows on write */
    int nmoe = c->n_routed > 0 ? c->layers - c->first_dense : 0;
    size_t nt = (size_t)m->n_params + (size_t)(nmoe > 0 ? nmoe : 0);
    ocr_tensor *t = calloc(nt, sizeof *t);
    char (*names)[96] = calloc((size_t)(nmoe > 0 ? nmoe : 1), sizeof *names);
    size_t nbf = 0;
    for (int i = 0; i < m->n_params; i++)
        if (bf16 && m->params[i].ndim == 2) nbf += m->params[i].numel;
    uint16_t *half = malloc((nbf ? nbf : 1) * sizeof(uint16_t));
    if (!t || !names || !half) {
        free(t); free(names); free(half);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_export: out of memory");
    }
    size_t hp = 0, k = 0;
    for (int i = 0; i < m->n_params; i++) {
        const trn_param *p = &m->params[i];
        if (strncmp(p->name, "train.", 6) == 0) continue; /* trainer-only (CTC head) */
        ocr_tensor *x = &t[k++];
        x->name = p->name;
        x->ndim = p->ndim;
        x->shape[0] = p->shape[0];
        x->shape[1] = p->shape[1];
        /* Matrices in BF16 halve the file; vectors (norms, biases, position
         * tables are 2-D but small) stay exact where it is cheap. */
        if (bf16 && p->ndim == 2) {
            for (size_t j = 0; j < p->numel; j++) half[hp + j] = ocr_f32_to_bf16(m->w[p->off + j]);
            x->dtype = OCR_DT_BF16;
            x->data = half + hp;
            x->nbytes = p->numel * 2;
            hp += p->numel;
        } else {
            x->dtype = OCR_DT_F32;
            x->data = m->w + p->off;
            x->nbytes = p->numel * 4;
        }
    }
    for (int l = c->first_dense, j = 0; c->n_routed > 0 && l < c->layers; l++, j++) {
        snprintf(names[j], sizeof names[j], "model.layers.%d.mlp.gate.e_score_correction_bias", l);
        t[k] = t1(names[j], OCR_DT_F32, m->moe_bias + (size_t)l * (c->n_routed + 1), c->n_routed);
        k++;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    static const char *const meta[] = {"format", "pt", "producer", "vlocr train", NULL};
    ocr_status rc = ocr_st_write(path, t, k, meta, e);
    free(t);
    free(names);
    free(half);
    if (rc != OCR_OK) return rc;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return trn_config_write_json(c, path, e);
}

ocr_status trn_import(trn_model *m, const char *path, ocr_err *e)
{
    ocr_st *st = NULL;
    ocr_status rc = ocr_st_open(&st, path, e);
    if (rc != OCR_OK) return rc;
    const trn_config *c = &m->cfg;
    for (int i = 0; i < m->n_params && rc == OCR_OK; i++) {
        const trn_param *p = &m->params[i];
        const ocr_tensor *t = ocr_st_find(st, p->name);
        if (!t && strncmp(p->name, "train.", 6) == 0) continue; /* not exported: keep */
        if (!t || (size_t)ocr_tensor_numel(t) != p->numel)
            rc = ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s' missing or misshaped", path, p->name);
        else
            rc = ocr_tensor_to_f32(m->w + p->off, t, e);
    }
    for (int l = c->first_dense; rc == OCR_OK && c->n_routed > 0 && l < c->layers; l++) {
        char name[96];
        snprintf(name, sizeof name, "model.layers.%d.mlp.gate.e_score_correction_bias", l);
        const ocr_tensor *t = ocr_st_find(st, name);
        if (!t || ocr_tensor_numel(t) != c->n_routed)
            rc = ocr_err_set(e, OCR_E_SHAPE, "%s: tensor '%s' missing or misshaped", path, name);
        else
            rc = ocr_tensor_to_f32(m->moe_bias + (size_t)l * (c->n_routed + 1), t, e);
    }
    ocr_st_close(&st);
    return rc;
}

/* ------------------------------------------------------------- config.json */

ocr_status trn_config_write_json(const trn_config *c, const char *path, ocr_err *e)
{
    json_t *j = json_object();
    json_t *nano = json_object();
    if (!j || !nano) {
        json_decref(j);
        json_decref(nano);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_config_write_json: out of memory");
    }
#define I(o, k, v) json_object_set_new(o, k, json_integer(v))
#define R(o, k, v) json_object_set_new(o, k, json_real(v))
#define S(o, k, v) json_object_set_new(o, k, json_string(v))
#define B(o, k, v) json_object_set_new(o, k, json_boolean(v))
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("VlocrNanoForCausalLM"));
    json_object_set_new(j, "architectures", arch);
    S(j, "model_type", "vlocr_nano");
    S(j, "torch_dtype", "bfloat16");
    I(j, "vocab_size", c->vocab);
    I(j, "hidden_size", c->d);
    I(j, "intermediate_size", c->inter);
    I(j, "moe_intermediate_size", c->moe_inter);
    I(j, "num_hidden_layers", c->layers);
    I(j, "num_attention_heads", c->heads);
    I(j, "num_key_value_heads", c->heads);
    I(j, "n_shared_experts", c->n_shared);
    I(j, "n_routed_experts", c->n_routed);
    I(j, "num_experts_per_tok", c->topk);
    I(j, "moe_layer_freq", 1);
    I(j, "first_k_dense_replace", c->first_dense);
    I(j, "n_group", 1);
    I(j, "topk_group", 1);
    S(j, "topk_method", "noaux_tc");
    S(j, "scoring_func", "sigmoid");
    B(j, "norm_topk_prob", true);
    R(j, "routed_scaling_factor", c->routed_scale);
    B(j, "use_mla", true);
    json_object_set_new(j, "q_lora_rank", json_null());
    I(j, "kv_lora_rank", c->kv_lora);
    I(j, "qk_nope_head_dim", c->nope);
    I(j, "qk_rope_head_dim", c->rope);
    I(j, "v_head_dim", c->vdim);
    S(j, "hidden_act", "silu");
    R(j, "rms_norm_eps", c->rms_eps);
    R(j, "rope_theta", c->rope_theta);
    I(j, "max_position_embeddings", 2048);
    json_object_set_new(j, "rope_scaling", json_null());
    B(j, "attention_bias", false);
    B(j, "tie_word_embeddings", false);
    I(j, "bos_token_id", c->bos);
    I(j, "eos_token_id", c->eos);
    I(j, "pad_token_id", c->pad);
    I(nano, "conv_channels_1", c->c1);
    I(nano, "conv_channels_2", c->c2);
    I(nano, "conv_channels_3", c->c3);
    I(nano, "vit_width", c->vd);
    I(nano, "vit_layers", c->v_layers);
    I(nano, "vit_heads", c->v_heads);
    I(nano, "vit_mlp", c->v_mlp);
    I(nano, "max_rows", c->max_rows);
    I(nano, "max_cols", c->max_cols);
    I(nano, "merge_rows", c->merge);
    R(nano, "layer_norm_eps", c->ln_eps);
    I(nano, "height_text", 32);
    I(nano, "height_formula", 64);
    I(nano, "max_width", 8 * c->max_cols);
    I(nano, "text_token_id", c->tok_text);
    I(nano, "formula_token_id", c->tok_formula);
    S(nano, "prompt", "[bos] [image rows, image_newline after each] [task token] text [eos]");
    json_object_set_new(j, "vlocr_nano", nano);
#undef I
#undef R
#undef S
#undef B
    char *txt = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (!txt) return ocr_err_set(e, OCR_E_NOMEM, "trn_config_write_json: out of memory");
    size_t n = strlen(txt);
    txt[n] = '\0';
    char *buf = malloc(n + 2);
    if (!buf) {
        free(txt);
        return ocr_err_set(e, OCR_E_NOMEM, "trn_config_write_json: out of memory");
    }
    memcpy(buf, txt, n);
    buf[n] = '\n';
    free(txt);
    ocr_status rc = ocr_file_write_atomic(path, buf, n + 1, e);
    free(buf);
    return rc;
}

static int geti(const json_t *o, const char *k, int def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int)json_integer_value(v) : def;
}

static float getf(const json_t *o, const char *k, float def)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? (float)json_number_value(v) : def;
}

ocr_status trn_config_read_json(trn_config *c, const char *path, ocr_err *e)
{
    /* The encoder's sizes as the inference side reads them (one reader). */
    vis_nano_config v;
    ocr_status rc = vis_nano_config_read(&v, path, e);
    if (rc != OCR_OK) return rc;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return ocr_err_set(e, OCR_E_FORMAT, "%s:%d: %s", path, je.line, je.text);
    trn_config d = trn_config_nano();
    c->c1 = v.c1;
    c->c2 = v.c2;
    c->c3 = v.c3;
    c->vd = v.vd;
    c->v_layers = v.v_layers;
    c->v_heads = v.v_heads;
    c->v_mlp = v.v_mlp;
    c->max_rows = v.max_rows;
    c->max_cols = v.max_cols;
    c->merge = v.merge;
    c->ln_eps = v.ln_eps;
    c->tok_text = v.tok_text;
    c->tok_formula = v.tok_formula;
    c->vocab = geti(j, "vocab_size", d.vocab);
    c->d = geti(j, "hidden_size", d.d);
    c->inter = geti(j, "intermediate_size", d.inter);
    c->moe_inter = geti(j, "moe_intermediate_size", d.moe_inter);
    c->layers = geti(j, "num_hidden_layers", d.layers);
    c->heads = geti(j, "num_attention_heads", d.heads);
    c->n_shared = geti(j, "n_shared_experts", d.n_shared);
    c->n_routed = geti(j, "n_routed_experts", d.n_routed);
    c->topk = geti(j, "num_experts_per_tok", d.topk);
    c->first_dense = geti(j, "first_k_dense_replace", d.first_dense);
    c->kv_lora = geti(j, "kv_lora_rank", d.kv_lora);
    c->nope = geti(j, "qk_nope_head_dim", d.nope);
    c->rope = geti(j, "qk_rope_head_dim", d.rope);
    c->vdim = geti(j, "v_head_dim", d.vdim);
    c->rms_eps = getf(j, "rms_norm_eps", d.rms_eps);
    c->rope_theta = getf(j, "rope_theta", d.rope_theta);
    c->routed_scale = getf(j, "routed_scaling_factor", d.routed_scale);
    c->bos = geti(j, "bos_token_id", d.bos);
    c->eos = geti(j, "eos_token_id", d.eos);
    c->pad = geti(j, "pad_token_id", d.pad);
    json_decref(j);
    return trn_config_check(c, e);
}

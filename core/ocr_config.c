/* core/ocr_config.c — config.json of the DeepSeek-V2/V3 family, including
 * DeepSeek-OCR's nested layout.
 *
 * Decoder keys are looked up at the top level first and then under
 * "language_config": the released DeepSeek-OCR config repeats the decoder
 * keys at the top (that is what its modeling code reads), while other
 * exports keep them only in the nested object. Keys absent from both take
 * the defaults of configuration_deepseek_v2.py. Vision sizes that the
 * official encoder hard-codes default to those constants, so the released
 * config (which omits them) and our tiny fixtures (which spell them out)
 * both load.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"

void ocr_config_default_params(ocr_config *c)
{
    memset(c, 0, sizeof *c);
    ocr_lm_config *l = &c->lm;
    /* configuration_deepseek_v2.py defaults */
    l->vocab_size = 102400;
    l->hidden_size = 4096;
    l->intermediate_size = 11008;
    l->moe_intermediate_size = 1407;
    l->num_hidden_layers = 30;
    l->num_attention_heads = 32;
    l->num_key_value_heads = 0; /* 0 = same as heads */
    l->moe_layer_freq = 1;
    l->first_k_dense_replace = 0;
    l->n_group = 1;
    l->topk_group = 1;
    snprintf(l->topk_method, sizeof l->topk_method, "greedy");
    snprintf(l->scoring_func, sizeof l->scoring_func, "softmax");
    l->routed_scaling_factor = 1.0f;
    l->use_mla = true;
    l->q_lora_rank = 1536;
    l->kv_lora_rank = 512;
    l->qk_nope_head_dim = 128;
    l->qk_rope_head_dim = 64;
    l->v_head_dim = 128;
    snprintf(l->hidden_act, sizeof l->hidden_act, "silu");
    l->rms_norm_eps = 1e-6f;
    l->rope_theta = 10000.0f;
    l->max_position_embeddings = 2048;
    l->bos_token_id = 100000;
    l->eos_token_id = 100001;
    l->pad_token_id = -1;

    /* deepencoder.py constants (SAM ViT-B, CLIP-L/14, linear projector) */
    ocr_vis_config *v = &c->vis;
    v->image_size = 1024;
    v->sam.img_size = 1024;
    v->sam.patch_size = 16;
    v->sam.width = 768;
    v->sam.layers = 12;
    v->sam.heads = 12;
    v->sam.window_size = 14;
    v->sam.out_chans = 256;
    v->sam.mlp_ratio = 4;
    v->sam.n_global_attn = 4;
    v->sam.global_attn_indexes[0] = 2;
    v->sam.global_attn_indexes[1] = 5;
    v->sam.global_attn_indexes[2] = 8;
    v->sam.global_attn_indexes[3] = 11;
    v->sam.downsample_channels[0] = 512;
    v->sam.downsample_channels[1] = 1024;
    v->sam.eps = 1e-6f;
    v->sam.neck_eps = 1e-6f;
    v->clip.width = 1024;
    v->clip.layers = 24;
    v->clip.heads = 16;
    v->clip.ffn_hidden_size = 4096;
    v->clip.image_size = 224;
    v->clip.patch_size = 14;
    v->clip.eps = 1e-5f;
    v->clip.pre_eps = 1e-5f;
    snprintf(v->projector.type, sizeof v->projector.type, "linear");
    v->projector.input_dim = 2048;
    v->projector.n_embed = 1280;
}

typedef struct {
    const char *name;      /* file name for messages */
    const json_t *obj[2];  /* lookup order */
    ocr_err *e;
    ocr_status rc;
} reader;

static const json_t *lookup(const reader *r, const char *key)
{
    for (int i = 0; i < 2; i++) {
        if (!r->obj[i]) continue;
        const json_t *v = json_object_get(r->obj[i], key);
        if (v) return v;
    }
    return NULL;
}

/* Integers: absent keeps the default, null becomes 0 (optional ranks). */
static void get_int(reader *r, const char *key, int *out, int lo, int hi)
{
    if (r->rc) return;
    const json_t *v = lookup(r, key);
    if (!v) return;
    if (json_is_null(v)) {
        *out = 0;
        return;
    }
    if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v)) {
        long long x = (long long)json_real_value(v);
        if (x >= lo && x <= hi) {
            *out = (int)x;
            return;
        }
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: '%s' must be an integer in [%d, %d]",
                            r->name, key, lo, hi);
        return;
    }
    *out = (int)json_integer_value(v);
}

static void get_float(reader *r, const char *key, float *out, double lo, double hi)
{
    if (r->rc) return;
    const json_t *v = lookup(r, key);
    if (!v || json_is_null(v)) return;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: '%s' must be a number in [%g, %g]", r->name,
                            key, lo, hi);
        return;
    }
    *out = (float)json_number_value(v);
}

static void get_bool(reader *r, const char *key, bool *out)
{
    if (r->rc) return;
    const json_t *v = lookup(r, key);
    if (!v || json_is_null(v)) return;
    if (!json_is_boolean(v)) {
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: '%s' must be true or false", r->name, key);
        return;
    }
    *out = json_is_true(v);
}

static void get_str(reader *r, const char *key, char *out, size_t cap)
{
    if (r->rc) return;
    const json_t *v = lookup(r, key);
    if (!v || json_is_null(v)) return;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= cap) {
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: '%s' must be a string of under %zu bytes",
                            r->name, key, cap);
        return;
    }
    snprintf(out, cap, "%s", json_string_value(v));
}

static void read_lm(reader *r, ocr_lm_config *l)
{
    get_int(r, "vocab_size", &l->vocab_size, 1, 16 << 20);
    get_int(r, "hidden_size", &l->hidden_size, 1, 1 << 16);
    get_int(r, "intermediate_size", &l->intermediate_size, 1, 1 << 20);
    get_int(r, "moe_intermediate_size", &l->moe_intermediate_size, 0, 1 << 20);
    get_int(r, "num_hidden_layers", &l->num_hidden_layers, 1, 1024);
    get_int(r, "num_attention_heads", &l->num_attention_heads, 1, 1024);
    get_int(r, "num_key_value_heads", &l->num_key_value_heads, 0, 1024);
    get_int(r, "n_shared_experts", &l->n_shared_experts, 0, 1024);
    get_int(r, "n_routed_experts", &l->n_routed_experts, 0, 1 << 14);
    get_int(r, "num_experts_per_tok", &l->num_experts_per_tok, 0, 1 << 14);
    get_int(r, "moe_layer_freq", &l->moe_layer_freq, 0, 1024);
    get_int(r, "first_k_dense_replace", &l->first_k_dense_replace, 0, 1024);
    get_int(r, "n_group", &l->n_group, 0, 1 << 14);
    get_int(r, "topk_group", &l->topk_group, 0, 1 << 14);
    get_str(r, "topk_method", l->topk_method, sizeof l->topk_method);
    get_str(r, "scoring_func", l->scoring_func, sizeof l->scoring_func);
    get_bool(r, "norm_topk_prob", &l->norm_topk_prob);
    get_float(r, "routed_scaling_factor", &l->routed_scaling_factor, 0, 1e6);
    get_bool(r, "use_mla", &l->use_mla);
    get_int(r, "q_lora_rank", &l->q_lora_rank, 0, 1 << 16);
    get_int(r, "kv_lora_rank", &l->kv_lora_rank, 0, 1 << 16);
    get_int(r, "qk_nope_head_dim", &l->qk_nope_head_dim, 0, 1 << 14);
    get_int(r, "qk_rope_head_dim", &l->qk_rope_head_dim, 0, 1 << 14);
    get_int(r, "v_head_dim", &l->v_head_dim, 0, 1 << 14);
    get_str(r, "hidden_act", l->hidden_act, sizeof l->hidden_act);
    get_float(r, "rms_norm_eps", &l->rms_norm_eps, 0, 1);
    get_float(r, "rope_theta", &l->rope_theta, 1, 1e12);
    get_int(r, "max_position_embeddings", &l->max_position_embeddings, 1, 1 << 24);
    get_bool(r, "attention_bias", &l->attention_bias);
    get_bool(r, "tie_word_embeddings", &l->tie_word_embeddings);
    get_int(r, "bos_token_id", &l->bos_token_id, 0, 16 << 20);
    get_int(r, "eos_token_id", &l->eos_token_id, 0, 16 << 20);
    l->pad_token_id = -1;
    const json_t *pad = lookup(r, "pad_token_id");
    if (pad && !json_is_null(pad)) get_int(r, "pad_token_id", &l->pad_token_id, 0, 16 << 20);
    if (r->rc) return;

    const json_t *rs = lookup(r, "rope_scaling");
    if (rs && !json_is_null(rs)) {
        if (!json_is_object(rs)) {
            r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: 'rope_scaling' must be an object or null",
                                r->name);
            return;
        }
        reader sub = {r->name, {rs, NULL}, r->e, OCR_OK};
        l->rope_scaling.enabled = true;
        l->rope_scaling.factor = 1.0f;
        l->rope_scaling.original_max_position_embeddings = 4096; /* DeepseekV2 class default */
        l->rope_scaling.beta_fast = 32.0f;
        l->rope_scaling.beta_slow = 1.0f;
        l->rope_scaling.mscale = 1.0f;
        l->rope_scaling.mscale_all_dim = 0.0f;
        snprintf(l->rope_scaling.type, sizeof l->rope_scaling.type, "linear");
        get_str(&sub, "rope_type", l->rope_scaling.type, sizeof l->rope_scaling.type);
        get_str(&sub, "type", l->rope_scaling.type, sizeof l->rope_scaling.type);
        get_float(&sub, "factor", &l->rope_scaling.factor, 1e-6, 1e6);
        get_int(&sub, "original_max_position_embeddings",
                &l->rope_scaling.original_max_position_embeddings, 1, 1 << 24);
        get_float(&sub, "beta_fast", &l->rope_scaling.beta_fast, 0, 1e6);
        get_float(&sub, "beta_slow", &l->rope_scaling.beta_slow, 0, 1e6);
        get_float(&sub, "mscale", &l->rope_scaling.mscale, 0, 1e6);
        get_float(&sub, "mscale_all_dim", &l->rope_scaling.mscale_all_dim, 0, 1e6);
        r->rc = sub.rc;
    }
}

static ocr_status validate_lm(const char *name, ocr_lm_config *l, ocr_err *e)
{
#define BAD(...) return ocr_err_set(e, OCR_E_CONFIG, __VA_ARGS__)
    if (l->num_key_value_heads == 0) l->num_key_value_heads = l->num_attention_heads;
    if (strcmp(l->hidden_act, "silu") != 0)
        BAD("%s: hidden_act '%s' is not supported (silu only)", name, l->hidden_act);
    if (strcmp(l->scoring_func, "softmax") != 0 && strcmp(l->scoring_func, "sigmoid") != 0)
        BAD("%s: scoring_func '%s' is not softmax or sigmoid", name, l->scoring_func);
    if (strcmp(l->topk_method, "greedy") != 0 && strcmp(l->topk_method, "group_limited_greedy") != 0 &&
        strcmp(l->topk_method, "noaux_tc") != 0)
        BAD("%s: topk_method '%s' is not greedy, group_limited_greedy or noaux_tc", name,
            l->topk_method);
    if (l->first_k_dense_replace > l->num_hidden_layers)
        BAD("%s: first_k_dense_replace %d exceeds num_hidden_layers %d", name,
            l->first_k_dense_replace, l->num_hidden_layers);
    bool has_moe = l->n_routed_experts > 0 && l->first_k_dense_replace < l->num_hidden_layers;
    if (has_moe) {
        if (l->num_experts_per_tok < 1 || l->num_experts_per_tok > l->n_routed_experts)
            BAD("%s: num_experts_per_tok %d must be in [1, n_routed_experts=%d]", name,
                l->num_experts_per_tok, l->n_routed_experts);
        if (l->moe_intermediate_size < 1) BAD("%s: moe_intermediate_size must be positive", name);
        if (l->moe_layer_freq < 1) BAD("%s: moe_layer_freq must be positive", name);
        if (l->n_group < 1) l->n_group = 1;
        if (l->topk_group < 1) l->topk_group = 1;
        if (l->n_routed_experts % l->n_group != 0)
            BAD("%s: n_routed_experts %d is not divisible by n_group %d", name, l->n_routed_experts,
                l->n_group);
        if (l->topk_group > l->n_group)
            BAD("%s: topk_group %d exceeds n_group %d", name, l->topk_group, l->n_group);
    }
    if (l->use_mla) {
        if (l->kv_lora_rank < 1) BAD("%s: use_mla needs kv_lora_rank > 0", name);
        if (l->qk_rope_head_dim < 2 || l->qk_rope_head_dim % 2)
            BAD("%s: qk_rope_head_dim %d must be even and positive", name, l->qk_rope_head_dim);
        if (l->qk_nope_head_dim < 1 || l->v_head_dim < 1)
            BAD("%s: use_mla needs qk_nope_head_dim and v_head_dim > 0", name);
    } else {
        if (l->hidden_size % l->num_attention_heads)
            BAD("%s: hidden_size %d is not divisible by num_attention_heads %d", name,
                l->hidden_size, l->num_attention_heads);
        if ((l->hidden_size / l->num_attention_heads) % 2)
            BAD("%s: head_dim %d must be even for RoPE", name,
                l->hidden_size / l->num_attention_heads);
        if (l->num_attention_heads % l->num_key_value_heads)
            BAD("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", name,
                l->num_attention_heads, l->num_key_value_heads);
    }
    if (l->rope_scaling.enabled && strcmp(l->rope_scaling.type, "yarn") != 0 &&
        strcmp(l->rope_scaling.type, "linear") != 0)
        BAD("%s: rope_scaling type '%s' is not supported (yarn, linear)", name, l->rope_scaling.type);
    return OCR_OK;
#undef BAD
}

static void read_int_array(reader *r, const char *key, int *out, int cap, int *n)
{
    if (r->rc) return;
    const json_t *v = lookup(r, key);
    if (!v) return;
    if (!json_is_array(v) || json_array_size(v) > (size_t)cap) {
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: '%s' must be an array of at most %d integers",
                            r->name, key, cap);
        return;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > (1 << 20)) {
            r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: '%s'[%zu] must be a small non-negative integer",
                                r->name, key, i);
            return;
        }
        out[i] = (int)json_integer_value(x);
    }
    if (n) *n = (int)json_array_size(v);
}

static void read_vis(reader *r, const json_t *vc, const json_t *pc, ocr_vis_config *v)
{
    v->present = true;
    reader top = {r->name, {vc, NULL}, r->e, OCR_OK};
    get_int(&top, "image_size", &v->image_size, 1, 1 << 16);
    const json_t *w = json_object_get(vc, "width");
    if (w && json_is_object(w)) {
        const json_t *sam = json_object_get(w, "sam_vit_b");
        const json_t *clip = json_object_get(w, "clip-l-14-224");
        if (sam && json_is_object(sam)) {
            reader s = {r->name, {sam, NULL}, r->e, top.rc};
            get_int(&s, "img_size", &v->sam.img_size, 1, 1 << 16);
            get_int(&s, "patch_size", &v->sam.patch_size, 1, 1024);
            get_int(&s, "width", &v->sam.width, 1, 1 << 16);
            get_int(&s, "layers", &v->sam.layers, 0, 1024);
            get_int(&s, "heads", &v->sam.heads, 1, 1024);
            get_int(&s, "window_size", &v->sam.window_size, 1, 1 << 12);
            get_int(&s, "out_chans", &v->sam.out_chans, 1, 1 << 16);
            get_int(&s, "mlp_ratio", &v->sam.mlp_ratio, 1, 64);
            read_int_array(&s, "global_attn_indexes", v->sam.global_attn_indexes, 16,
                           &v->sam.n_global_attn);
            int nd = 0;
            read_int_array(&s, "downsample_channels", v->sam.downsample_channels, 2, &nd);
            get_float(&s, "layernorm_eps", &v->sam.eps, 0, 1);
            get_float(&s, "neck_layernorm2d_eps", &v->sam.neck_eps, 0, 1);
            top.rc = s.rc;
        }
        if (clip && json_is_object(clip)) {
            reader s = {r->name, {clip, NULL}, r->e, top.rc};
            get_int(&s, "width", &v->clip.width, 1, 1 << 16);
            get_int(&s, "layers", &v->clip.layers, 0, 1024);
            get_int(&s, "heads", &v->clip.heads, 1, 1024);
            get_int(&s, "ffn_hidden_size", &v->clip.ffn_hidden_size, 1, 1 << 20);
            get_int(&s, "image_size", &v->clip.image_size, 1, 1 << 16);
            get_int(&s, "patch_size", &v->clip.patch_size, 1, 1024);
            get_float(&s, "layernorm_epsilon", &v->clip.eps, 0, 1);
            get_float(&s, "pre_layernorm_epsilon", &v->clip.pre_eps, 0, 1);
            top.rc = s.rc;
        }
    }
    if (pc && json_is_object(pc)) {
        reader s = {r->name, {pc, NULL}, r->e, top.rc};
        get_str(&s, "projector_type", v->projector.type, sizeof v->projector.type);
        get_int(&s, "input_dim", &v->projector.input_dim, 1, 1 << 20);
        get_int(&s, "n_embed", &v->projector.n_embed, 1, 1 << 20);
        top.rc = s.rc;
    }
    r->rc = top.rc;
    if (r->rc) return;
    if (v->sam.width % v->sam.heads || v->clip.width % v->clip.heads)
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: vision width not divisible by heads", r->name);
    else if (v->sam.img_size % v->sam.patch_size || v->clip.image_size % v->clip.patch_size)
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: vision image size not divisible by patch size",
                            r->name);
    else if (strcmp(v->projector.type, "linear") != 0)
        r->rc = ocr_err_set(r->e, OCR_E_CONFIG, "%s: projector_type '%s' is not supported (linear)",
                            r->name, v->projector.type);
    for (int i = 0; !r->rc && i < v->sam.n_global_attn; i++)
        if (v->sam.global_attn_indexes[i] >= v->sam.layers)
            r->rc = ocr_err_set(r->e, OCR_E_CONFIG,
                                "%s: global_attn_indexes[%d]=%d is not a SAM layer (0..%d)", r->name,
                                i, v->sam.global_attn_indexes[i], v->sam.layers - 1);
}

ocr_status ocr_config_parse(ocr_config *c, const char *json, size_t len, const char *name,
                            ocr_err *e)
{
    ocr_config_default_params(c);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: invalid JSON: %s (line %d, column %d)", name,
                           jerr.text, jerr.line, jerr.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return ocr_err_set(e, OCR_E_FORMAT, "%s: top level is not a JSON object", name);
    }
    const json_t *lc = json_object_get(root, "language_config");
    if (lc && !json_is_object(lc)) lc = NULL;
    reader r = {name, {root, lc}, e, OCR_OK};
    get_str(&r, "model_type", c->model_type, sizeof c->model_type);
    get_str(&r, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype);
    const json_t *arch = json_object_get(root, "architectures");
    if (json_is_array(arch) && json_is_string(json_array_get(arch, 0)))
        snprintf(c->architecture, sizeof c->architecture, "%s",
                 json_string_value(json_array_get(arch, 0)));
    read_lm(&r, &c->lm);
    if (!r.rc) r.rc = validate_lm(name, &c->lm, e);
    const json_t *vc = json_object_get(root, "vision_config");
    if (!r.rc && vc && json_is_object(vc))
        read_vis(&r, vc, json_object_get(root, "projector_config"), &c->vis);
    const json_t *qc = json_object_get(root, "quantization_config");
    if (!r.rc && qc && json_is_object(qc)) {
        const json_t *m = json_object_get(qc, "quant_method");
        if (json_is_string(m) && strcmp(json_string_value(m), "fp8") == 0) {
            c->fp8 = true;
            c->fp8_block[0] = c->fp8_block[1] = 128;
            reader q = {name, {qc, NULL}, e, OCR_OK};
            int nb = 0;
            read_int_array(&q, "weight_block_size", c->fp8_block, 2, &nb);
            r.rc = q.rc;
        } else {
            r.rc = ocr_err_set(e, OCR_E_UNSUPPORTED, "%s: quantization_config method '%s' is not supported (fp8)",
                               name, json_is_string(m) ? json_string_value(m) : "?");
        }
    }
    json_decref(root);
    return r.rc;
}

ocr_status ocr_config_load(ocr_config *c, const char *path, ocr_err *e)
{
    char p[4200];
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) snprintf(p, sizeof p, "%s", path);
    else snprintf(p, sizeof p, "%s/config.json", path);
    uint8_t *buf;
    size_t len;
    ocr_status rc = ocr_file_read(p, 16u << 20, &buf, &len, e);
    if (rc) {
        ocr_config_default_params(c);
        return rc;
    }
    rc = ocr_config_parse(c, (const char *)buf, len, p, e);
    free(buf);
    return rc;
}

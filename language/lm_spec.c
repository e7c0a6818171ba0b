/* language/lm_spec.c — the decoder tensors a DeepSeek-V2/V3 config implies,
 * named as in the official HF checkpoints (modeling_deepseekv2.py module
 * tree; LlamaAttention for use_mla=false). */
#include <string.h>

#include "language/lm.h"

#define ADD(opt, nd, ...)                                                   \
    do {                                                                    \
        if ((rc = ocr_spec_add(s, opt, nd, sh, __VA_ARGS__)) != OCR_OK)     \
            return ocr_err_set(e, rc, "lm_spec_build: out of memory");      \
    } while (0)
#define SH1(a) (sh[0] = (a), 1)
#define SH2(a, b) (sh[0] = (a), sh[1] = (b), 2)

/* Layer l uses MoE when routed experts exist, it is past the dense prefix,
 * and it falls on the MoE frequency (DeepseekV2DecoderLayer's rule). */
static bool layer_is_moe(const ocr_lm_config *c, int l)
{
    return c->n_routed_experts > 0 && l >= c->first_k_dense_replace &&
           l % (c->moe_layer_freq > 0 ? c->moe_layer_freq : 1) == 0;
}

ocr_status lm_spec_build(ocr_spec *s, const ocr_lm_config *c, ocr_err *e)
{
    ocr_status rc;
    int64_t sh[4];
    const int64_t D = c->hidden_size, V = c->vocab_size, H = c->num_attention_heads;
    const bool bias = c->attention_bias;
    int nd;

    nd = SH2(V, D);
    ADD(false, nd, "model.embed_tokens.weight");
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const char *p = "model.layers";
        nd = SH1(D);
        ADD(false, nd, "%s.%d.input_layernorm.weight", p, l);
        ADD(false, nd, "%s.%d.post_attention_layernorm.weight", p, l);
        if (c->use_mla) {
            const int64_t qk = c->qk_nope_head_dim + c->qk_rope_head_dim;
            if (c->q_lora_rank > 0) {
                nd = SH2(c->q_lora_rank, D);
                ADD(false, nd, "%s.%d.self_attn.q_a_proj.weight", p, l);
                if (bias) { nd = SH1(c->q_lora_rank); ADD(false, nd, "%s.%d.self_attn.q_a_proj.bias", p, l); }
                nd = SH1(c->q_lora_rank);
                ADD(false, nd, "%s.%d.self_attn.q_a_layernorm.weight", p, l);
                nd = SH2(H * qk, c->q_lora_rank);
                ADD(false, nd, "%s.%d.self_attn.q_b_proj.weight", p, l);
            } else {
                nd = SH2(H * qk, D);
                ADD(false, nd, "%s.%d.self_attn.q_proj.weight", p, l);
            }
            nd = SH2(c->kv_lora_rank + c->qk_rope_head_dim, D);
            ADD(false, nd, "%s.%d.self_attn.kv_a_proj_with_mqa.weight", p, l);
            if (bias) {
                nd = SH1(c->kv_lora_rank + c->qk_rope_head_dim);
                ADD(false, nd, "%s.%d.self_attn.kv_a_proj_with_mqa.bias", p, l);
            }
            nd = SH1(c->kv_lora_rank);
            ADD(false, nd, "%s.%d.self_attn.kv_a_layernorm.weight", p, l);
            nd = SH2(H * (c->qk_nope_head_dim + c->v_head_dim), c->kv_lora_rank);
            ADD(false, nd, "%s.%d.self_attn.kv_b_proj.weight", p, l);
            nd = SH2(D, H * c->v_head_dim);
            ADD(false, nd, "%s.%d.self_attn.o_proj.weight", p, l);
        } else {
            const int64_t hd = D / H, KV = c->num_key_value_heads;
            nd = SH2(H * hd, D);
            ADD(false, nd, "%s.%d.self_attn.q_proj.weight", p, l);
            nd = SH2(KV * hd, D);
            ADD(false, nd, "%s.%d.self_attn.k_proj.weight", p, l);
            ADD(false, nd, "%s.%d.self_attn.v_proj.weight", p, l);
            nd = SH2(D, H * hd);
            ADD(false, nd, "%s.%d.self_attn.o_proj.weight", p, l);
            if (bias) {
                nd = SH1(H * hd);
                ADD(false, nd, "%s.%d.self_attn.q_proj.bias", p, l);
                nd = SH1(KV * hd);
                ADD(false, nd, "%s.%d.self_attn.k_proj.bias", p, l);
                ADD(false, nd, "%s.%d.self_attn.v_proj.bias", p, l);
                nd = SH1(D);
                ADD(false, nd, "%s.%d.self_attn.o_proj.bias", p, l);
            }
        }
        if (!layer_is_moe(c, l)) {
            nd = SH2(c->intermediate_size, D);
            ADD(false, nd, "%s.%d.mlp.gate_proj.weight", p, l);
            ADD(false, nd, "%s.%d.mlp.up_proj.weight", p, l);
            nd = SH2(D, c->intermediate_size);
            ADD(false, nd, "%s.%d.mlp.down_proj.weight", p, l);
            continue;
        }
        const int64_t E = c->n_routed_experts, mi = c->moe_intermediate_size;
        nd = SH2(E, D);
        ADD(false, nd, "%s.%d.mlp.gate.weight", p, l);
        if (strcmp(c->topk_method, "noaux_tc") == 0) {
            nd = SH1(E);
            ADD(false, nd, "%s.%d.mlp.gate.e_score_correction_bias", p, l);
        }
        for (int64_t x = 0; x < E; x++) {
            nd = SH2(mi, D);
            ADD(false, nd, "%s.%d.mlp.experts.%lld.gate_proj.weight", p, l, (long long)x);
            ADD(false, nd, "%s.%d.mlp.experts.%lld.up_proj.weight", p, l, (long long)x);
            nd = SH2(D, mi);
            ADD(false, nd, "%s.%d.mlp.experts.%lld.down_proj.weight", p, l, (long long)x);
        }
        if (c->n_shared_experts > 0) {
            const int64_t si = mi * c->n_shared_experts;
            nd = SH2(si, D);
            ADD(false, nd, "%s.%d.mlp.shared_experts.gate_proj.weight", p, l);
            ADD(false, nd, "%s.%d.mlp.shared_experts.up_proj.weight", p, l);
            nd = SH2(D, si);
            ADD(false, nd, "%s.%d.mlp.shared_experts.down_proj.weight", p, l);
        }
    }
    nd = SH1(D);
    ADD(false, nd, "model.norm.weight");
    if (!c->tie_word_embeddings) {
        nd = SH2(V, D);
        ADD(false, nd, "lm_head.weight");
    }
    return OCR_OK;
}

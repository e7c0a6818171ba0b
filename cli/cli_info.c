/* cli/cli_info.c — `vlocr info MODEL_DIR`: what a checkpoint is (from its
 * config.json), what it holds (tensors, parameters, bytes per dtype) and
 * whether it holds exactly what the config implies. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "language/lm.h"
#include "vision/vis.h"

static void print_lm(const ocr_lm_config *l)
{
    printf("decoder:      %d layers, hidden %d, vocab %d, max positions %d\n", l->num_hidden_layers,
           l->hidden_size, l->vocab_size, l->max_position_embeddings);
    if (l->use_mla)
        printf("attention:    MLA, %d heads, q_lora %d, kv_lora %d, qk_nope %d + qk_rope %d, v %d "
               "(KV cache %d floats/token/layer)\n",
               l->num_attention_heads, l->q_lora_rank, l->kv_lora_rank, l->qk_nope_head_dim,
               l->qk_rope_head_dim, l->v_head_dim, l->kv_lora_rank + l->qk_rope_head_dim);
    else
        printf("attention:    MHA, %d heads x %d, %d kv heads (KV cache %d floats/token/layer)\n",
               l->num_attention_heads, l->hidden_size / l->num_attention_heads,
               l->num_key_value_heads,
               2 * l->num_key_value_heads * (l->hidden_size / l->num_attention_heads));
    printf("rope:         theta %g", (double)l->rope_theta);
    if (l->rope_scaling.enabled)
        printf(", %s scaling factor %g (original %d, beta %g/%g, mscale %g, mscale_all_dim %g)",
               l->rope_scaling.type, (double)l->rope_scaling.factor,
               l->rope_scaling.original_max_position_embeddings, (double)l->rope_scaling.beta_fast,
               (double)l->rope_scaling.beta_slow, (double)l->rope_scaling.mscale,
               (double)l->rope_scaling.mscale_all_dim);
    printf("\n");
    int dense = l->n_routed_experts > 0 ? l->first_k_dense_replace : l->num_hidden_layers;
    if (dense > 0)
        printf("dense MLP:    layers 0..%d, SwiGLU intermediate %d\n", dense - 1, l->intermediate_size);
    if (l->n_routed_experts > 0 && dense < l->num_hidden_layers) {
        printf("MoE:          layers %d..%d (every %d), %d routed experts (intermediate %d), top-%d, "
               "%d shared\n",
               dense, l->num_hidden_layers - 1, l->moe_layer_freq, l->n_routed_experts,
               l->moe_intermediate_size, l->num_experts_per_tok, l->n_shared_experts);
        printf("router:       %s scores, %s top-k, groups %d/%d, norm_topk_prob %s, scaling %g\n",
               l->scoring_func, l->topk_method, l->topk_group, l->n_group,
               l->norm_topk_prob ? "true" : "false", (double)l->routed_scaling_factor);
    }
    printf("tokens:       bos %d, eos %d%s\n", l->bos_token_id, l->eos_token_id,
           l->tie_word_embeddings ? ", tied embeddings" : "");
}

static void print_vis(const ocr_vis_config *v)
{
    printf("vision:       SAM %d layers x %d (%d heads, patch %d, window %d, global blocks",
           v->sam.layers, v->sam.width, v->sam.heads, v->sam.patch_size, v->sam.window_size);
    for (int i = 0; i < v->sam.n_global_attn; i++)
        printf("%s%d", i ? "," : " ", v->sam.global_attn_indexes[i]);
    printf("), neck %d, compressor %d->%d\n", v->sam.out_chans, v->sam.downsample_channels[0],
           v->sam.downsample_channels[1]);
    printf("              CLIP %d layers x %d (%d heads, ffn %d, %d positions); projector %s %d->%d\n",
           v->clip.layers, v->clip.width, v->clip.heads, v->clip.ffn_hidden_size,
           (v->clip.image_size / v->clip.patch_size) * (v->clip.image_size / v->clip.patch_size) + 1,
           v->projector.type, v->projector.input_dim, v->projector.n_embed);
}

static void human(char *buf, size_t n, double v)
{
    if (v >= 1e9) snprintf(buf, n, "%.2f G", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2f M", v / 1e6);
    else if (v >= 1e3) snprintf(buf, n, "%.1f k", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

int cli_info_main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: vlocr info MODEL_DIR\n");
        return argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? CLI_EXIT_OK
                                                                                    : CLI_EXIT_USAGE;
    }
    const char *dir = argv[1];
    ocr_err e = {0};
    ocr_config cfg;
    if (ocr_config_load(&cfg, dir, &e) != OCR_OK) {
        cli_report(dir, &e);
        return CLI_EXIT_FAIL;
    }
    ocr_st *st = NULL;
    if (ocr_st_open(&st, dir, &e) != OCR_OK) {
        cli_report(dir, &e);
        return CLI_EXIT_FAIL;
    }
    printf("model:        %s\n", dir);
    printf("config:       %s%s%s%s%s\n", cfg.model_type[0] ? cfg.model_type : "(no model_type)",
           cfg.architecture[0] ? " / " : "", cfg.architecture,
           cfg.torch_dtype[0] ? ", torch_dtype " : "", cfg.torch_dtype);
    print_lm(&cfg.lm);
    vis_nano_config nano;
    ocr_err ne = {0};
    bool is_nano = vis_nano_config_load(&nano, dir, &ne) == OCR_OK;
    if (is_nano)
        printf("vision:       vlocr-nano: conv stem %d->%d->%d->%d, ViT %d layers x %d (%d heads, mlp %d), "
               "rows merged by %d into %d; crops %d px (text) / %d px (formula) high\n",
               1, nano.c1, nano.c2, nano.c3, nano.v_layers, nano.vd, nano.v_heads, nano.v_mlp,
               nano.merge, nano.d, nano.height_text, nano.height_formula);
    else if (cfg.vis.present)
        print_vis(&cfg.vis);
    if (cfg.fp8) printf("quantization: fp8 e4m3, %dx%d block scales\n", cfg.fp8_block[0], cfg.fp8_block[1]);

    /* Parameters and bytes per dtype. */
    double params[OCR_DT_COUNT] = {0}, bytes[OCR_DT_COUNT] = {0};
    size_t count[OCR_DT_COUNT] = {0};
    double total = 0, total_bytes = 0;
    for (size_t i = 0; i < ocr_st_count(st); i++) {
        const ocr_tensor *t = ocr_st_at(st, i);
        double n = (double)ocr_tensor_numel(t);
        params[t->dtype] += n;
        bytes[t->dtype] += (double)t->nbytes;
        count[t->dtype]++;
        total += n;
        total_bytes += (double)t->nbytes;
    }
    char a[32], b[32];
    human(a, sizeof a, total);
    human(b, sizeof b, total_bytes);
    printf("tensors:      %zu, %.0f parameters (%s), %sB\n", ocr_st_count(st), total, a, b);
    for (int d = 0; d < OCR_DT_COUNT; d++) {
        if (!count[d]) continue;
        human(a, sizeof a, params[d]);
        human(b, sizeof b, bytes[d]);
        printf("  %-8s    %zu tensors, %s parameters, %sB\n", ocr_dtype_name((ocr_dtype)d),
               count[d], a, b);
    }

    ocr_spec spec = {0};
    ocr_status rc = lm_spec_build(&spec, &cfg.lm, &e);
    if (rc == OCR_OK && is_nano) {
        rc = vis_nano_spec_build(&spec, &nano, &e);
    } else if (rc == OCR_OK && cfg.vis.present) {
        rc = vis_spec_build(&spec, &cfg.vis, &e);
    }
    int status = CLI_EXIT_OK;
    if (rc != OCR_OK) {
        cli_report(dir, &e);
        status = CLI_EXIT_FAIL;
    } else {
        ocr_spec_result res;
        rc = ocr_spec_check(&spec, st, &res, &e);
        if (rc == OCR_OK || rc == OCR_E_SHAPE) {
            printf("check:        %zu of %zu required tensors found (+%zu optional), %zu missing, "
                   "%zu misshaped, %zu unexpected\n",
                   res.n_found, res.n_expected, res.n_optional_found, res.n_missing, res.n_misshaped,
                   res.n_unexpected);
            if (res.report) fputs(res.report, stdout);
        }
        if (rc != OCR_OK) {
            cli_report(dir, &e);
            status = CLI_EXIT_FAIL;
        } else {
            printf("result:       OK, every tensor the config implies is present with its shape\n");
        }
        ocr_spec_result_free(&res);
    }
    ocr_spec_free(&spec);
    ocr_st_close(&st);
    return status;
}

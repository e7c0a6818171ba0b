/* train/syn_ctx.c — parameters and the shared read-only resources.
 *
 * A context loads only what its kind needs: corpus text and the font
 * inventory for lines and cells, the formula bank for formulas and inline
 * math. Generators in any number of threads read it concurrently; nothing
 * in it changes after creation.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "train/syn.h"

struct syn_ctx {
    syn_params p;
    syn_corpus *corpus;
    syn_fonts *fonts;
    syn_bank *bank;
};

static const char *const KIND_NAMES[] = {"line", "cell", "inline", "formula", "mix"};

const char *syn_kind_name(syn_kind k)
{
    return (int)k >= 0 && k <= SYN_KIND_MIX ? KIND_NAMES[k] : "?";
}

bool syn_kind_parse(const char *s, syn_kind *out)
{
    for (int i = 0; i <= SYN_KIND_MIX; i++)
        if (s && strcasecmp(s, KIND_NAMES[i]) == 0) {
            *out = (syn_kind)i;
            return true;
        }
    return false;
}

bool syn_kind_is_math(syn_kind k) { return k == SYN_KIND_INLINE || k == SYN_KIND_FORMULA; }

syn_params syn_default_params(void)
{
    syn_params p;
    memset(&p, 0, sizeof p);
    p.kind = SYN_KIND_MIX;
    /* Lines dominate real pages; cells and math are a solid minority. */
    p.mix[SYN_KIND_LINE] = 0.55;
    p.mix[SYN_KIND_CELL] = 0.15;
    p.mix[SYN_KIND_INLINE] = 0.12;
    p.mix[SYN_KIND_FORMULA] = 0.18;
    p.split = SYN_SPLIT_TRAIN;
    p.height_text = 32;
    p.height_inline = 48;
    p.height_formula = 64;
    p.max_width_text = 1024;
    p.max_width_math = 1280;
    p.fit_math = 1.0;
    p.corpus_dir = "../shared/corpus";
    p.bank_dir = "train/cache/bank";
    p.math_fallback = false;
    p.dg = syn_degrade_default_params();
    return p;
}

static bool kind_used(const syn_params *p, syn_kind k)
{
    return p->kind == k || (p->kind == SYN_KIND_MIX && p->mix[k] > 0);
}

ocr_status syn_ctx_create(syn_ctx **out, const syn_params *p, ocr_err *e)
{
    *out = NULL;
    if (!p) return ocr_err_set(e, OCR_E_ARG, "syn_ctx_create: no parameters");
    if ((int)p->kind < 0 || p->kind > SYN_KIND_MIX)
        return ocr_err_set(e, OCR_E_ARG, "syn_ctx_create: bad kind %d", (int)p->kind);
    if (p->height_text < 8 || p->height_inline < 8 || p->height_formula < 8 ||
        p->height_text > 512 || p->height_inline > 512 || p->height_formula > 512)
        return ocr_err_set(e, OCR_E_ARG, "syn_ctx_create: heights must be 8..512 (got %d/%d/%d)",
                           p->height_text, p->height_inline, p->height_formula);
    if (p->max_width_text < 2 * p->height_text || p->max_width_math < 2 * p->height_formula)
        return ocr_err_set(e, OCR_E_ARG, "syn_ctx_create: max widths %d/%d too small for heights",
                           p->max_width_text, p->max_width_math);
    if (!(p->fit_math >= 1.0 && p->fit_math <= 8.0))
        return ocr_err_set(e, OCR_E_ARG, "syn_ctx_create: fit_math must be 1..8 (got %g)", p->fit_math);
    if (p->dg.scale.lo <= 0 || p->dg.scale.hi < p->dg.scale.lo)
        return ocr_err_set(e, OCR_E_ARG, "syn_ctx_create: dg.scale must be 0 < lo <= hi");
    syn_ctx *c = calloc(1, sizeof *c);
    if (!c) return ocr_err_set(e, OCR_E_NOMEM, "syn_ctx_create: out of memory");
    c->p = *p;
    ocr_status st = OCR_OK;
    bool math = kind_used(p, SYN_KIND_INLINE) || kind_used(p, SYN_KIND_FORMULA);
    bool text = kind_used(p, SYN_KIND_LINE) || kind_used(p, SYN_KIND_CELL);
    if (math) {
        st = syn_bank_open(&c->bank, p->bank_dir, e);
        if (st != OCR_OK) {
            char why[256];
            bool tex = syn_tex_available(why, sizeof why);
            if (p->kind == SYN_KIND_MIX && p->math_fallback) {
                /* Explicit fallback: text kinds only, say so in the params. */
                c->p.mix[SYN_KIND_INLINE] = c->p.mix[SYN_KIND_FORMULA] = 0;
                st = OCR_OK;
                if (!(c->p.mix[SYN_KIND_LINE] > 0 || c->p.mix[SYN_KIND_CELL] > 0))
                    st = ocr_err_set(e, OCR_E_NOTFOUND, "syn_ctx_create: no bank and no text kinds");
                text = true;
            } else if (!tex) {
                st = ocr_err_set(e, OCR_E_UNSUPPORTED,
                                 "syn_ctx_create: %s kind needs the formula bank at %s, which "
                                 "is missing, and it cannot be built here: %s",
                                 syn_kind_name(p->kind), p->bank_dir, why);
            } else {
                ocr_err_prefix(e, "syn_ctx_create: %s kind needs the formula bank (build it "
                                  "with 'vlocr synth --build-bank')", syn_kind_name(p->kind));
            }
        }
    }
    if (st == OCR_OK && text) {
        st = syn_corpus_load(&c->corpus, p->corpus_dir, true, false, e);
        if (st == OCR_OK) st = syn_fonts_create(&c->fonts, p->split, e);
    }
    if (st != OCR_OK) {
        syn_ctx_destroy(&c);
        return st;
    }
    *out = c;
    return OCR_OK;
}

void syn_ctx_destroy(syn_ctx **pc)
{
    if (!pc || !*pc) return;
    syn_ctx *c = *pc;
    syn_corpus_destroy(&c->corpus);
    syn_fonts_destroy(&c->fonts);
    syn_bank_destroy(&c->bank);
    free(c);
    *pc = NULL;
}

const syn_params *syn_ctx_params(const syn_ctx *c) { return c ? &c->p : NULL; }
const syn_fonts *syn_ctx_fonts(const syn_ctx *c) { return c ? c->fonts : NULL; }
const syn_corpus *syn_ctx_corpus(const syn_ctx *c) { return c ? c->corpus : NULL; }
const syn_bank *syn_ctx_bank(const syn_ctx *c) { return c ? c->bank : NULL; }

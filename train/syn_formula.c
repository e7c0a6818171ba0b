/* train/syn_formula.c — random formulas for what the corpus lacks.
 *
 * The harvested corpus is strong on physics and school algebra but thin on
 * some constructs a reader meets: matrices, cases, long sums, limits,
 * decimals with units, norms, sets, probability. This grammar produces
 * them with arXiv-like proportions (scripts and fractions common, matrices
 * rare). Output is plain LaTeX; the bank normalises it like the corpus.
 */
#include <string.h>

#include "train/syn.h"

static const char *const GREEK[] = {
    "\\alpha", "\\beta", "\\gamma", "\\delta", "\\epsilon", "\\varepsilon", "\\zeta",
    "\\eta", "\\theta", "\\lambda", "\\mu", "\\nu", "\\xi", "\\pi", "\\rho", "\\sigma",
    "\\tau", "\\phi", "\\varphi", "\\chi", "\\psi", "\\omega", "\\Gamma", "\\Delta",
    "\\Theta", "\\Lambda", "\\Sigma", "\\Phi", "\\Psi", "\\Omega"};
static const char *const FUNCS[] = {"\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\exp",
                                    "\\det", "\\sinh", "\\cosh", "\\arctan", "\\max", "\\min"};
static const char *const RELS[] = {"=", "=", "=", "=", "<", ">", "\\leq", "\\geq", "\\approx",
                                   "\\neq", "\\equiv", "\\sim", "\\propto", "\\to", "\\in",
                                   "\\subset", "\\simeq", "\\ll", "\\le"};
static const char *const OPS[] = {"+", "+", "-", "-", "\\cdot", "\\times", "\\pm", "/", "\\otimes",
                                  "\\oplus", "\\wedge", "\\cup", "\\cap", "\\circ"};
static const char *const ACCENTS[] = {"\\hat", "\\bar", "\\tilde", "\\vec", "\\dot", "\\ddot",
                                      "\\overline", "\\widehat", "\\mathbf", "\\mathcal",
                                      "\\mathbb", "\\mathrm", "\\boldsymbol", "\\mathfrak"};
static const char *const BIGOPS[] = {"\\sum", "\\sum", "\\prod", "\\int", "\\int", "\\oint",
                                     "\\bigcup", "\\bigcap", "\\lim", "\\iint", "\\sup", "\\inf"};

#define PICK(a) syn_rng_pick(r, a, (int)(sizeof a / sizeof a[0]))

/* Append a piece; a control word gets a trailing space so that a following
 * letter does not extend it (`\\pm` + `b` must not become `\\pmb`). */
static void put(ocr_buf *o, const char *s)
{
    ocr_buf_puts(o, s);
    size_t n = strlen(s);
    if (n > 1 && s[0] == '\\' && ((s[n - 1] >= 'a' && s[n - 1] <= 'z') || (s[n - 1] >= 'A' && s[n - 1] <= 'Z')))
        ocr_buf_putc(o, ' ');
}

static void expr(syn_rng *r, ocr_buf *o, int depth);

static void letter(syn_rng *r, ocr_buf *o)
{
    int k = syn_rng_below(r, 10);
    if (k < 5) ocr_buf_putc(o, (char)((syn_rng_chance(r, 0.8) ? 'a' : 'A') + syn_rng_below(r, 26)));
    else if (k < 8) put(o, PICK(GREEK));
    else if (k < 9) ocr_buf_printf(o, "%s{%c}", PICK(ACCENTS), 'a' + syn_rng_below(r, 26));
    else put(o, syn_rng_pick(r, (const char *const[]){"\\infty", "\\partial", "\\nabla", "\\hbar", "\\ell"}, 5));
}

static void number(syn_rng *r, ocr_buf *o)
{
    switch (syn_rng_below(r, 5)) {
    case 0: ocr_buf_printf(o, "%d", syn_rng_between(r, 0, 9)); break;
    case 1: ocr_buf_printf(o, "%d", syn_rng_between(r, 10, 999)); break;
    case 2: ocr_buf_printf(o, "%d.%0*d", syn_rng_between(r, 0, 99), syn_rng_between(r, 1, 3), syn_rng_below(r, 100)); break;
    case 3: ocr_buf_printf(o, "%d.%d\\times10^{%d}", syn_rng_between(r, 1, 9), syn_rng_below(r, 10),
                           syn_rng_between(r, -12, 12)); break;
    default: ocr_buf_printf(o, "%d", syn_rng_between(r, 1, 4)); break;
    }
}

static void script(syn_rng *r, ocr_buf *o, int depth)
{
    int k = syn_rng_below(r, 6);
    if (k < 2) number(r, o);
    else if (k < 4) letter(r, o);
    else if (k < 5 && depth > 0) expr(r, o, depth - 1);
    else ocr_buf_printf(o, "%c%c", 'i' + syn_rng_below(r, 4), 'j' + syn_rng_below(r, 4));
}

static void atom(syn_rng *r, ocr_buf *o, int depth)
{
    int k = syn_rng_below(r, depth > 0 ? 14 : 6);
    bool scripted = k == 5 || k == 13; /* these add their own scripts */
    switch (k) {
    case 0: case 1: case 2: letter(r, o); break;
    case 3: case 4: number(r, o); break;
    case 5: letter(r, o); ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? "'" : "^{*}"); break;
    case 6:
        ocr_buf_puts(o, syn_rng_chance(r, 0.7) ? "\\frac{" : "\\dfrac{");
        expr(r, o, depth - 1);
        ocr_buf_puts(o, "}{");
        expr(r, o, depth - 1);
        ocr_buf_putc(o, '}');
        break;
    case 7:
        ocr_buf_puts(o, syn_rng_chance(r, 0.8) ? "\\sqrt{" : "\\sqrt[3]{");
        expr(r, o, depth - 1);
        ocr_buf_putc(o, '}');
        break;
    case 8: {
        static const char *const L[] = {"(", "[", "\\{", "|", "\\|", "\\langle"};
        static const char *const R[] = {")", "]", "\\}", "|", "\\|", "\\rangle"};
        int b = syn_rng_below(r, 6);
        bool big = syn_rng_chance(r, 0.5);
        ocr_buf_printf(o, "%s%s", big ? "\\left" : "", L[b]);
        expr(r, o, depth - 1);
        ocr_buf_printf(o, "%s%s", big ? "\\right" : "", R[b]);
        break;
    }
    case 9:
        ocr_buf_puts(o, PICK(FUNCS));
        if (syn_rng_chance(r, 0.3)) ocr_buf_puts(o, "^{2}");
        ocr_buf_putc(o, '(');
        expr(r, o, depth - 1);
        ocr_buf_putc(o, ')');
        break;
    case 10: {
        const char *op = PICK(BIGOPS);
        put(o, op);
        if (syn_rng_chance(r, 0.85)) {
            ocr_buf_puts(o, "_{");
            if (syn_rng_chance(r, 0.6)) {
                ocr_buf_printf(o, "%c=%d", 'i' + syn_rng_below(r, 4), syn_rng_below(r, 2));
            } else {
                script(r, o, 0);
            }
            ocr_buf_putc(o, '}');
            if (syn_rng_chance(r, 0.7)) {
                ocr_buf_puts(o, "^{");
                if (syn_rng_chance(r, 0.5)) ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? "\\infty" : "N");
                else script(r, o, 0);
                ocr_buf_putc(o, '}');
            }
        }
        expr(r, o, depth - 1);
        if (strstr(op, "int")) ocr_buf_printf(o, "\\,d%c", 'x' + syn_rng_below(r, 3));
        break;
    }
    case 11:
        ocr_buf_printf(o, "\\frac{\\partial %s}{\\partial %c}", PICK(GREEK), 'x' + syn_rng_below(r, 3));
        break;
    case 12: {
        static const char *const envs[] = {"pmatrix", "bmatrix", "vmatrix", "matrix"};
        const char *env = PICK(envs);
        int rows = syn_rng_between(r, 2, 3), cols = syn_rng_between(r, 2, 3);
        ocr_buf_printf(o, "\\begin{%s}", env);
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                if (j) ocr_buf_putc(o, '&');
                if (syn_rng_chance(r, 0.5)) number(r, o);
                else script(r, o, 0);
            }
            if (i + 1 < rows) ocr_buf_puts(o, "\\\\");
        }
        ocr_buf_printf(o, "\\end{%s}", env);
        break;
    }
    default:
        letter(r, o);
        ocr_buf_puts(o, "_{");
        script(r, o, depth - 1);
        ocr_buf_putc(o, '}');
        if (syn_rng_chance(r, 0.4)) {
            ocr_buf_puts(o, "^{");
            script(r, o, depth - 1);
            ocr_buf_putc(o, '}');
        }
        break;
    }
    if (!scripted && syn_rng_chance(r, 0.15)) {
        ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? "^{" : "_{");
        script(r, o, 0);
        ocr_buf_putc(o, '}');
    }
}

static void expr(syn_rng *r, ocr_buf *o, int depth)
{
    int terms = syn_rng_between(r, 1, depth > 1 ? 4 : 2);
    for (int i = 0; i < terms; i++) {
        if (i) put(o, PICK(OPS));
        else if (syn_rng_chance(r, 0.1)) ocr_buf_putc(o, '-');
        int f = syn_rng_between(r, 1, 3);
        for (int j = 0; j < f; j++) atom(r, o, depth);
    }
}

void syn_formula_random(syn_rng *r, ocr_buf *o, bool short_inline)
{
    int depth = short_inline ? 1 : syn_rng_between(r, 1, 3);
    int k = syn_rng_below(r, short_inline ? 6 : 10);
    if (k == 7) { /* cases */
        ocr_buf_puts(o, "f(x)=\\begin{cases}");
        int n = syn_rng_between(r, 2, 3);
        for (int i = 0; i < n; i++) {
            if (i) ocr_buf_puts(o, "\\\\");
            expr(r, o, 1);
            ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? "&\\text{if }x" : "&x");
            put(o, PICK(RELS));
            number(r, o);
        }
        ocr_buf_puts(o, "\\end{cases}");
        return;
    }
    if (k == 8) { /* aligned derivation */
        ocr_buf_puts(o, "\\begin{aligned}");
        int n = syn_rng_between(r, 2, 3);
        for (int i = 0; i < n; i++) {
            if (i) ocr_buf_puts(o, "\\\\");
            if (i == 0) expr(r, o, 1);
            ocr_buf_putc(o, '&');
            put(o, PICK(RELS));
            expr(r, o, 2);
        }
        ocr_buf_puts(o, "\\end{aligned}");
        return;
    }
    if (k == 9) { /* a set */
        ocr_buf_printf(o, "\\{%c\\in\\mathbb{%c}:", 'x' + syn_rng_below(r, 3), "RNZCQ"[syn_rng_below(r, 5)]);
        expr(r, o, 1);
        put(o, PICK(RELS));
        number(r, o);
        ocr_buf_puts(o, "\\}");
        return;
    }
    expr(r, o, depth);
    if (k < 5) {
        put(o, PICK(RELS));
        expr(r, o, depth);
    }
    if (!short_inline && syn_rng_chance(r, 0.2)) ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? "," : ".");
}

/* train/syn_latex.c — LaTeX normaliser: one spelling per construct.
 *
 * The recogniser should never have to guess between spellings that render
 * identically (`x^2` / `x^{2}`, `\frac12` / `\frac{1}{2}`, `\le` / `\leq`,
 * `{a \over b}` / `\frac{a}{b}`), so ground truth passes through here, and
 * predictions do too before they are scored. The canonical form:
 *
 *   - every argument of a script or a command is braced: `x_{i}^{2}`,
 *     `\frac{1}{2}`, `\sqrt[3]{x}`, `\hat{a}`;
 *   - subscript before superscript, primes as `'` right after the nucleus;
 *   - braces around a single ordinary atom are dropped (`{x}` → `x`),
 *     braces that change spacing (`{=}`, `{,}`) are kept;
 *   - synonyms map to one name (`\le`→`\leq`, `\to`→`\rightarrow`,
 *     `\lbrace`→`\{`, `\dots`→`\ldots`, `\mbox`→`\text`, `\bm`→`\boldsymbol`);
 *   - old font switches become commands (`{\rm d}` → `\mathrm{d}`),
 *     `\over`/`\choose` become `\frac`/`\binom`, `\not=` → `\neq`;
 *   - no whitespace except one space after a control word that is followed
 *     by a letter (where TeX needs it); text arguments keep single spaces.
 *
 * The normaliser is idempotent. In strict mode malformed input (unbalanced
 * braces, \left without \right, \begin without \end) is an OCR_E_FORMAT
 * error; in lenient mode (for model predictions) it is repaired by closing
 * what is open and dropping what closes nothing.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "train/syn.h"

enum { T_END, T_CW, T_CS, T_CHAR, T_LB, T_RB, T_SUP, T_SUB };

typedef struct {
    int type;
    const char *p; /* token text (for T_CW without the backslash) */
    size_t n;
    size_t at;     /* byte offset, for messages */
} tok;

typedef struct {
    const char *src;
    size_t pos, len;
    bool lenient;
    ocr_status st;
    ocr_err *e;
    int depth;
} lx;

#define MAX_DEPTH 200

static void skip_space(lx *L)
{
    while (L->pos < L->len) {
        char c = L->src[L->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            L->pos++;
        } else if (c == '%') {
            while (L->pos < L->len && L->src[L->pos] != '\n') L->pos++;
        } else {
            break;
        }
    }
}

static tok next_tok(lx *L)
{
    skip_space(L);
    tok t = {T_END, L->src + L->pos, 0, L->pos};
    if (L->pos >= L->len) return t;
    const char *s = L->src + L->pos;
    unsigned char c = (unsigned char)s[0];
    if (c == '\\') {
        if (L->pos + 1 >= L->len) { /* lone trailing backslash */
            t.type = T_CHAR;
            t.n = 1;
            L->pos++;
            return t;
        }
        if (isalpha((unsigned char)s[1])) {
            size_t k = 1;
            while (L->pos + k < L->len && isalpha((unsigned char)s[k])) k++;
            t.type = T_CW;
            t.p = s + 1;
            t.n = k - 1;
            L->pos += k;
            return t;
        }
        /* Control symbol: `\,` `\{` `\\` `\ ` — one (possibly multi-byte)
         * character after the backslash. */
        uint32_t cp;
        int k = syn_utf8_decode(s + 1, L->len - L->pos - 1, &cp);
        if (k <= 0) k = 1;
        t.type = T_CS;
        t.n = (size_t)k + 1;
        L->pos += t.n;
        /* Whitespace after `\ ` is consumed by TeX like after a word. */
        return t;
    }
    if (c == '{') t.type = T_LB;
    else if (c == '}') t.type = T_RB;
    else if (c == '^') t.type = T_SUP;
    else if (c == '_') t.type = T_SUB;
    else t.type = T_CHAR;
    uint32_t cp;
    int k = syn_utf8_decode(s, L->len - L->pos, &cp);
    t.n = k > 0 ? (size_t)k : 1;
    L->pos += t.n;
    return t;
}

static tok peek_tok(lx *L)
{
    size_t save = L->pos;
    tok t = next_tok(L);
    L->pos = save;
    return t;
}

static bool tok_is(const tok *t, int type, const char *s)
{
    return t->type == type && strlen(s) == t->n && memcmp(t->p, s, t->n) == 0;
}

static bool cw_is(const tok *t, const char *name) { return tok_is(t, T_CW, name); }

static ocr_status fail(lx *L, size_t at, const char *what)
{
    if (L->st == OCR_OK)
        L->st = ocr_err_set(L->e, OCR_E_FORMAT, "syn_latex_normalize: %s at byte %zu",
                            what, at);
    return L->st;
}

/* ------------------------------------------------------------ name tables */

typedef struct {
    const char *from, *to;
} alias;

/* Pure synonyms: both spellings render the same glyph with the same
 * spacing. Pairs that differ visually (\leqslant, \varnothing, \implies)
 * are deliberately absent. */
static const alias ALIASES[] = {
    {"le", "leq"},          {"ge", "geq"},          {"ne", "neq"},
    {"to", "rightarrow"},   {"gets", "leftarrow"},  {"land", "wedge"},
    {"lor", "vee"},         {"lnot", "neg"},        {"owns", "ni"},
    {"dots", "ldots"},      {"dotsc", "ldots"},     {"dotso", "ldots"},
    {"dotsb", "cdots"},     {"dotsm", "cdots"},     {"dotsi", "cdots"},
    {"mathellipsis", "ldots"}, {"intop", "int"},    {"ointop", "oint"},
    {"bm", "boldsymbol"},   {"mbox", "text"},       {"hbox", "text"},
    {"textrm", "text"},     {"textnormal", "text"}, {"Bbb", "mathbb"},
    {"sb", "_"},            {"sp", "^"},            {"cr", "\\"},
    {"lbrace", "{"},        {"rbrace", "}"},        {"lbrack", "["},
    {"rbrack", "]"},        {"vert", "|"},          {"lvert", "|"},
    {"rvert", "|"},         {"Vert", "\\|"},        {"lVert", "\\|"},
    {"rVert", "\\|"},       {"bigl", "big"},        {"bigr", "big"},
    {"Bigl", "Big"},        {"Bigr", "Big"},        {"biggl", "bigg"},
    {"biggr", "bigg"},      {"Biggl", "Bigg"},      {"Biggr", "Bigg"},
    {"hdots", "ldots"},     {"thinspace", ","},     {"negthinspace", "!"},
    {"medspace", ":"},      {"thickspace", ";"},
};

/* Old-style switches `{\rm x}` and what they become. */
static const alias SWITCHES[] = {
    {"rm", "mathrm"}, {"bf", "mathbf"}, {"it", "mathit"}, {"cal", "mathcal"},
    {"sf", "mathsf"}, {"tt", "mathtt"}, {"mit", "mathit"}, {"frak", "mathfrak"},
    {"Bbb", "mathbb"}, {"boldmath", "boldsymbol"},
};

typedef struct {
    const char *name;
    int nargs;   /* mandatory arguments */
    bool opt;    /* takes one optional [..] argument first */
    bool text;   /* arguments are text: copied verbatim (spaces collapsed) */
} cmd_spec;

static const cmd_spec CMDS[] = {
    {"frac", 2, false, false},     {"dfrac", 2, false, false},
    {"tfrac", 2, false, false},    {"cfrac", 2, true, false},
    {"binom", 2, false, false},    {"dbinom", 2, false, false},
    {"tbinom", 2, false, false},   {"overset", 2, false, false},
    {"underset", 2, false, false}, {"stackrel", 2, false, false},
    {"sideset", 2, false, false},  {"genfrac", 6, false, false},
    {"sqrt", 1, true, false},      {"xrightarrow", 1, true, false},
    {"xleftarrow", 1, true, false},
    {"mathrm", 1, false, false},   {"mathbf", 1, false, false},
    {"mathit", 1, false, false},   {"mathsf", 1, false, false},
    {"mathtt", 1, false, false},   {"mathcal", 1, false, false},
    {"mathbb", 1, false, false},   {"mathfrak", 1, false, false},
    {"mathscr", 1, false, false},  {"mathnormal", 1, false, false},
    {"boldsymbol", 1, false, false}, {"pmb", 1, false, false},
    {"hat", 1, false, false},      {"widehat", 1, false, false},
    {"bar", 1, false, false},      {"overline", 1, false, false},
    {"underline", 1, false, false}, {"tilde", 1, false, false},
    {"widetilde", 1, false, false}, {"vec", 1, false, false},
    {"dot", 1, false, false},      {"ddot", 1, false, false},
    {"dddot", 1, false, false},    {"check", 1, false, false},
    {"breve", 1, false, false},    {"acute", 1, false, false},
    {"grave", 1, false, false},    {"mathring", 1, false, false},
    {"overbrace", 1, false, false}, {"underbrace", 1, false, false},
    {"overrightarrow", 1, false, false}, {"overleftarrow", 1, false, false},
    {"overleftrightarrow", 1, false, false}, {"boxed", 1, false, false},
    {"phantom", 1, false, false},  {"vphantom", 1, false, false},
    {"hphantom", 1, false, false}, {"mathop", 1, false, false},
    {"mathrel", 1, false, false},  {"mathbin", 1, false, false},
    {"mathord", 1, false, false},  {"mathopen", 1, false, false},
    {"mathclose", 1, false, false}, {"mathpunct", 1, false, false},
    {"pmod", 1, false, false},     {"pod", 1, false, false},
    {"substack", 1, false, false}, {"smash", 1, true, false},
    {"cancel", 1, false, false},
    {"text", 1, false, true},      {"textit", 1, false, true},
    {"textbf", 1, false, true},    {"textsf", 1, false, true},
    {"texttt", 1, false, true},    {"textup", 1, false, true},
    {"emph", 1, false, true},      {"operatorname", 1, false, true},
    {"hspace", 1, false, true},    {"vspace", 1, false, true},
    {"mspace", 1, false, true},    {"kern", 0, false, false},
    {"rule", 2, true, true},
};

/* Operators that \operatorname{..} spells out with a built-in command. */
static const char *const OPERATORS[] = {
    "arccos", "arcsin", "arctan", "arg", "cos", "cosh", "cot", "coth", "csc",
    "deg", "det", "dim", "exp", "gcd", "hom", "inf", "ker", "lg", "lim",
    "liminf", "limsup", "ln", "log", "max", "min", "Pr", "sec", "sin",
    "sinh", "sup", "tan", "tanh",
};

/* Commands whose braces may be dropped when they are alone in a group:
 * they are ordinary atoms, so `{\alpha}` and `\alpha` typeset alike. */
static const char *const ORD_WORDS[] = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta",
    "eta", "theta", "vartheta", "iota", "kappa", "varkappa", "lambda", "mu",
    "nu", "xi", "pi", "varpi", "rho", "varrho", "sigma", "varsigma", "tau",
    "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta",
    "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
    "Omega", "infty", "partial", "nabla", "ell", "hbar", "hslash", "imath",
    "jmath", "aleph", "beth", "emptyset", "varnothing", "prime", "wp", "Re",
    "Im", "top", "bot", "dagger", "ddagger", "star",
};

static const char *alias_of(const tok *t, const alias *tab, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(tab[i].from) == t->n && memcmp(tab[i].from, t->p, t->n) == 0)
            return tab[i].to;
    return NULL;
}

static const cmd_spec *cmd_of(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof CMDS / sizeof CMDS[0]; i++)
        if (strlen(CMDS[i].name) == n && memcmp(CMDS[i].name, name, n) == 0)
            return &CMDS[i];
    return NULL;
}

static bool in_list(const char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0) return true;
    return false;
}

/* ---------------------------------------------------------------- output */

/* Append a piece of output, inserting the one space TeX needs after a
 * control word that would otherwise swallow a following letter. */
static void emit(ocr_buf *o, const char *p, size_t n)
{
    if (n == 0) return;
    if (o->n > 0 && isalpha((unsigned char)p[0])) {
        /* Does the output end with a control word (\ + letters)? */
        size_t i = o->n;
        while (i > 0 && isalpha((unsigned char)o->p[i - 1])) i--;
        if (i < o->n && i > 0 && o->p[i - 1] == '\\') {
            /* `\\` followed by letters is a row break, not a control word. */
            size_t b = i - 1, nb = 0;
            while (b > 0 && o->p[b - 1] == '\\') {
                b--;
                nb++;
            }
            if (nb % 2 == 0) ocr_buf_putc(o, ' ');
        }
    }
    ocr_buf_put(o, p, n);
}

static void emits(ocr_buf *o, const char *s) { emit(o, s, strlen(s)); }

static void emit_cw(ocr_buf *o, const char *name, size_t n)
{
    char buf[128];
    if (n + 2 > sizeof buf) n = sizeof buf - 2;
    buf[0] = '\\';
    memcpy(buf + 1, name, n);
    emit(o, buf, n + 1);
}

/* ---------------------------------------------------------------- parser */

/* What a parsed sequence looked like, for brace dropping. */
typedef struct {
    int n_atoms;
    bool single_ord; /* exactly one ordinary atom, no scripts */
} seq_info;

enum { STOP_NONE = 0, STOP_RB = 1, STOP_RIGHT = 2, STOP_END = 4, STOP_BRACKET = 8 };

static void parse_seq(lx *L, ocr_buf *o, int stops, seq_info *info);
static void parse_atom(lx *L, ocr_buf *o, tok t, bool *ord);

/* A braced group's content, braces consumed. */
static void parse_group_body(lx *L, ocr_buf *o, seq_info *info, size_t at)
{
    parse_seq(L, o, STOP_RB, info);
    tok t = next_tok(L);
    if (t.type != T_RB) {
        if (!L->lenient) fail(L, at, "unbalanced '{'");
    }
}

/* One argument: `{...}` or a single token/atom. Emits `{content}`. */
static void parse_arg(lx *L, ocr_buf *o)
{
    tok t = next_tok(L);
    ocr_buf inner = {0};
    if (t.type == T_LB) {
        seq_info info;
        parse_group_body(L, &inner, &info, t.at);
    } else if (t.type == T_END || t.type == T_RB) {
        if (!L->lenient) fail(L, t.at, "missing argument");
        if (t.type == T_RB) L->pos = t.at; /* leave the '}' to its owner */
    } else if (t.type == T_SUP || t.type == T_SUB) {
        if (!L->lenient) fail(L, t.at, "script where an argument was expected");
    } else {
        bool ord;
        parse_atom(L, &inner, t, &ord);
    }
    ocr_buf_putc(o, '{');
    ocr_buf_put(o, ocr_buf_cstr(&inner), inner.n);
    ocr_buf_putc(o, '}');
    if (inner.oom) o->oom = true;
    ocr_buf_free(&inner);
}

/* A text argument, copied verbatim with runs of whitespace collapsed. */
static void parse_text_arg(lx *L, ocr_buf *o)
{
    skip_space(L);
    ocr_buf_putc(o, '{');
    if (L->pos < L->len && L->src[L->pos] == '{') {
        size_t start = L->pos++;
        int depth = 1;
        bool space = false;
        while (L->pos < L->len) {
            char c = L->src[L->pos];
            if (c == '\\' && L->pos + 1 < L->len) {
                if (space) ocr_buf_putc(o, ' ');
                space = false;
                ocr_buf_put(o, L->src + L->pos, 2);
                L->pos += 2;
                continue;
            }
            L->pos++;
            if (c == '{') depth++;
            else if (c == '}' && --depth == 0) break;
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                space = true;
                continue;
            }
            if (space) ocr_buf_putc(o, ' ');
            space = false;
            ocr_buf_putc(o, c);
        }
        if (space && depth == 0) ocr_buf_putc(o, ' ');
        if (depth != 0 && !L->lenient) fail(L, start, "unbalanced '{' in text argument");
    } else {
        tok t = next_tok(L);
        if (t.type == T_CW) ocr_buf_putc(o, '\\');
        if (t.type != T_END) ocr_buf_put(o, t.p, t.n);
        else if (!L->lenient) fail(L, t.at, "missing text argument");
    }
    ocr_buf_putc(o, '}');
}

/* A delimiter after \left, \right, \big...: returns its canonical text. */
static void parse_delim(lx *L, ocr_buf *o)
{
    tok t = next_tok(L);
    if (t.type == T_CW) {
        const char *a = alias_of(&t, ALIASES, sizeof ALIASES / sizeof ALIASES[0]);
        if (a) {
            if (a[0] == '\\' || !isalpha((unsigned char)a[0])) {
                if (strcmp(a, "{") == 0 || strcmp(a, "}") == 0) ocr_buf_putc(o, '\\');
                ocr_buf_puts(o, a);
            } else {
                emit_cw(o, a, strlen(a));
            }
            return;
        }
        emit_cw(o, t.p, t.n);
    } else if (t.type == T_CHAR && t.n == 1 && t.p[0] == '<') {
        emits(o, "\\langle");
    } else if (t.type == T_CHAR && t.n == 1 && t.p[0] == '>') {
        emits(o, "\\rangle");
    } else if (t.type == T_CS || t.type == T_CHAR) {
        ocr_buf_put(o, t.p, t.n);
    } else if (t.type == T_LB) {
        /* `\big{[}`: a braced delimiter is the delimiter. */
        size_t save = L->pos;
        tok d = next_tok(L), r = next_tok(L);
        if (r.type == T_RB && (d.type == T_CHAR || d.type == T_CS || d.type == T_CW)) {
            ocr_buf tmp = {0};
            lx sub = *L;
            sub.src = d.type == T_CW ? d.p - 1 : d.p;
            sub.len = d.n + (d.type == T_CW ? 1 : 0);
            sub.pos = 0;
            parse_delim(&sub, &tmp);
            if (sub.st != OCR_OK) L->st = sub.st;
            ocr_buf_put(o, ocr_buf_cstr(&tmp), tmp.n);
            ocr_buf_free(&tmp);
            L->pos = r.at + 1;
            return;
        }
        L->pos = save;
        if (!L->lenient) {
            fail(L, t.at, "brace used as a delimiter");
            return;
        }
        ocr_buf_puts(o, "\\{");
    } else if (t.type == T_RB) {
        /* `\left}` is an error in TeX; treat it as the brace delimiter. */
        if (!L->lenient) {
            fail(L, t.at, "brace used as a delimiter");
            return;
        }
        L->pos = t.at; /* leave the '}' to its group */
        ocr_buf_putc(o, '.');
    } else {
        if (!L->lenient) fail(L, t.at, "missing delimiter");
        ocr_buf_putc(o, '.');
    }
}

/* Read `{name}` raw (environment names, column specs). */
static bool read_raw_group(lx *L, ocr_buf *o)
{
    skip_space(L);
    if (L->pos >= L->len || L->src[L->pos] != '{') return false;
    size_t start = L->pos++;
    int depth = 1;
    ocr_buf_putc(o, '{');
    while (L->pos < L->len) {
        char c = L->src[L->pos++];
        if (c == '{') depth++;
        else if (c == '}' && --depth == 0) break;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        ocr_buf_putc(o, c);
    }
    ocr_buf_putc(o, '}');
    if (depth != 0) {
        if (!L->lenient) fail(L, start, "unbalanced '{'");
        return false;
    }
    return true;
}

static void parse_env(lx *L, ocr_buf *o, size_t at)
{
    ocr_buf name = {0};
    if (!read_raw_group(L, &name)) {
        if (!L->lenient) fail(L, at, "\\begin without an environment name");
        ocr_buf_free(&name);
        return;
    }
    emits(o, "\\begin");
    ocr_buf_put(o, name.p, name.n);
    const char *nm = name.p + 1;
    size_t nl = name.n - 2;
    bool spec = (nl == 5 && !memcmp(nm, "array", 5)) ||
                (nl == 8 && !memcmp(nm, "subarray", 8)) ||
                (nl == 9 && !memcmp(nm, "alignedat", 9)) ||
                (nl == 7 && !memcmp(nm, "tabular", 7));
    if (spec) {
        ocr_buf s = {0};
        if (read_raw_group(L, &s)) ocr_buf_put(o, s.p, s.n);
        ocr_buf_free(&s);
    }
    ocr_buf body = {0};
    seq_info info;
    parse_seq(L, &body, STOP_END | STOP_RB, &info);
    /* A row break right before \end draws nothing: drop it. */
    while (body.n >= 2 && body.p[body.n - 1] == '\\' && body.p[body.n - 2] == '\\') {
        size_t k = body.n, nb = 0;
        while (k > 0 && body.p[k - 1] == '\\') {
            k--;
            nb++;
        }
        if (nb % 2) break;
        ocr_buf_truncate(&body, body.n - 2);
    }
    ocr_buf_put(o, ocr_buf_cstr(&body), body.n);
    ocr_buf_free(&body);
    tok t = next_tok(L);
    if (cw_is(&t, "end")) {
        ocr_buf en = {0};
        read_raw_group(L, &en);
        if ((en.n != name.n || memcmp(en.p, name.p, en.n) != 0) && !L->lenient)
            fail(L, t.at, "\\end does not match \\begin");
        ocr_buf_free(&en);
    } else {
        if (!L->lenient) fail(L, at, "\\begin without \\end");
        if (t.type == T_RB) L->pos = t.at;
    }
    emits(o, "\\end");
    ocr_buf_put(o, name.p, name.n);
    ocr_buf_free(&name);
}

/* Parse the atom that starts with `t` (already consumed). `ord` tells
 * whether it is an ordinary atom that could stand without braces. */
static void parse_atom(lx *L, ocr_buf *o, tok t, bool *ord)
{
    *ord = false;
    if (++L->depth > MAX_DEPTH) {
        fail(L, t.at, "nesting too deep");
        L->depth--;
        L->pos = L->len;
        return;
    }
    switch (t.type) {
    case T_LB: {
        ocr_buf inner = {0};
        seq_info info;
        parse_group_body(L, &inner, &info, t.at);
        if (info.single_ord) {
            emit(o, ocr_buf_cstr(&inner), inner.n);
            *ord = true;
        } else {
            emit(o, "{", 1);
            ocr_buf_put(o, ocr_buf_cstr(&inner), inner.n);
            ocr_buf_putc(o, '}');
        }
        if (inner.oom) o->oom = true;
        ocr_buf_free(&inner);
        break;
    }
    case T_RB:
        /* Only reached in lenient mode for a stray '}' handed in by a caller. */
        break;
    case T_CHAR:
        if (t.n == 1 && t.p[0] == '~') {
            emit(o, "\\ ", 2);
        } else {
            emit(o, t.p, t.n);
            *ord = isalnum((unsigned char)t.p[0]) || (unsigned char)t.p[0] >= 0x80;
        }
        break;
    case T_CS:
        if (t.n == 2 && t.p[1] == '>') emit(o, "\\:", 2);
        else emit(o, t.p, t.n);
        break;
    case T_CW: {
        const char *a = alias_of(&t, ALIASES, sizeof ALIASES / sizeof ALIASES[0]);
        char nb[64];
        const char *name = t.p;
        size_t nl = t.n;
        if (a) {
            if (!isalpha((unsigned char)a[0])) {
                /* Aliases to symbols: `\lbrace`→`\{`, `\vert`→`|`, `\sb`→`_`. */
                if (strcmp(a, "{") == 0 || strcmp(a, "}") == 0 ||
                    strcmp(a, ",") == 0 || strcmp(a, "!") == 0 ||
                    strcmp(a, ":") == 0 || strcmp(a, ";") == 0 ||
                    strcmp(a, "\\") == 0)
                    emit(o, "\\", 1);
                emits(o, a);
                break;
            }
            snprintf(nb, sizeof nb, "%s", a);
            name = nb;
            nl = strlen(nb);
        }
        tok named = {T_CW, name, nl, t.at};
        const char *sw = alias_of(&named, SWITCHES, sizeof SWITCHES / sizeof SWITCHES[0]);
        if (sw) {
            /* A switch reached as a lone argument (`A_\frak{q}`, texvc's
             * one-argument macros): it applies to the next argument. */
            emit_cw(o, sw, strlen(sw));
            parse_arg(L, o);
            *ord = true;
            break;
        }
        if (cw_is(&named, "left") || cw_is(&named, "big") || cw_is(&named, "Big") ||
            cw_is(&named, "bigg") || cw_is(&named, "Bigg") || cw_is(&named, "bigm") ||
            cw_is(&named, "Bigm") || cw_is(&named, "biggm") || cw_is(&named, "Biggm")) {
            emit_cw(o, name, nl);
            parse_delim(L, o);
            if (cw_is(&named, "left")) {
                ocr_buf inner = {0};
                seq_info info;
                parse_seq(L, &inner, STOP_RIGHT | STOP_RB, &info);
                emit(o, ocr_buf_cstr(&inner), inner.n);
                ocr_buf_free(&inner);
                tok r = next_tok(L);
                emits(o, "\\right");
                if (cw_is(&r, "right")) {
                    parse_delim(L, o);
                } else {
                    if (!L->lenient) fail(L, t.at, "\\left without \\right");
                    if (r.type == T_RB) L->pos = r.at;
                    ocr_buf_putc(o, '.');
                }
            }
            break;
        }
        if (cw_is(&named, "right")) {
            /* Unmatched \right (lenient only: strict stops before it). */
            if (!L->lenient) fail(L, t.at, "\\right without \\left");
            break;
        }
        if (cw_is(&named, "begin")) {
            parse_env(L, o, t.at);
            *ord = true;
            break;
        }
        if (cw_is(&named, "not")) {
            tok n2 = peek_tok(L);
            if (n2.type == T_CHAR && n2.n == 1 && n2.p[0] == '=') {
                next_tok(L);
                emits(o, "\\neq");
                break;
            }
            if (cw_is(&n2, "in")) {
                next_tok(L);
                emits(o, "\\notin");
                break;
            }
            emits(o, "\\not");
            break;
        }
        if (cw_is(&named, "operatorname")) {
            bool star = false;
            if (L->pos < L->len && L->src[L->pos] == '*') {
                star = true;
                L->pos++;
            }
            ocr_buf raw = {0}, arg = {0};
            parse_text_arg(L, &raw);
            /* The argument is set in math mode: spaces in it mean nothing. */
            for (size_t k = 0; k < raw.n; k++)
                if (raw.p[k] != ' ') ocr_buf_putc(&arg, raw.p[k]);
            ocr_buf_free(&raw);
            const char *s = ocr_buf_cstr(&arg);
            if (!star && arg.n > 2 &&
                in_list(OPERATORS, sizeof OPERATORS / sizeof OPERATORS[0], s + 1, arg.n - 2)) {
                emit_cw(o, s + 1, arg.n - 2);
            } else {
                emits(o, star ? "\\operatorname*" : "\\operatorname");
                ocr_buf_put(o, s, arg.n);
            }
            ocr_buf_free(&arg);
            *ord = true;
            break;
        }
        const cmd_spec *c = cmd_of(name, nl);
        emit_cw(o, name, nl);
        if (c) {
            if (c->opt) {
                skip_space(L);
                if (L->pos < L->len && L->src[L->pos] == '[') {
                    size_t at = L->pos++;
                    ocr_buf_putc(o, '[');
                    seq_info info;
                    parse_seq(L, o, STOP_BRACKET | STOP_RB, &info);
                    tok r = next_tok(L);
                    if (!(r.type == T_CHAR && r.n == 1 && r.p[0] == ']')) {
                        if (!L->lenient) fail(L, at, "unclosed '['");
                        if (r.type == T_RB) L->pos = r.at;
                    }
                    ocr_buf_putc(o, ']');
                }
            }
            for (int i = 0; i < c->nargs && L->st == OCR_OK; i++) {
                if (c->text) parse_text_arg(L, o);
                else parse_arg(L, o);
            }
            *ord = true;
        } else {
            *ord = in_list(ORD_WORDS, sizeof ORD_WORDS / sizeof ORD_WORDS[0], name, nl);
        }
        break;
    }
    default:
        break;
    }
    L->depth--;
}

static bool is_stop(lx *L, const tok *t, int stops)
{
    if (t->type == T_END) return true;
    if (t->type == T_RB) return (stops & STOP_RB) || !L->lenient;
    if ((stops & STOP_RIGHT) && cw_is(t, "right")) return true;
    if ((stops & STOP_END) && cw_is(t, "end")) return true;
    if (!L->lenient && cw_is(t, "right")) return true;
    if (!L->lenient && cw_is(t, "end")) return true;
    if ((stops & STOP_BRACKET) && t->type == T_CHAR && t->n == 1 && t->p[0] == ']')
        return true;
    return false;
}

/* Scripts after a nucleus: primes, \limits, `_` and `^` in any order,
 * emitted as nucleus ' \limits _{..} ^{..}. Returns whether any. */
static bool parse_scripts(lx *L, ocr_buf *o)
{
    int primes = 0;
    bool limits = false, nolimits = false, any = false;
    ocr_buf sub = {0}, sup = {0};
    bool has_sub = false, has_sup = false;
    for (;;) {
        tok t = peek_tok(L);
        if (t.type == T_CHAR && t.n == 1 && t.p[0] == '\'') {
            next_tok(L);
            primes++;
        } else if (cw_is(&t, "limits")) {
            next_tok(L);
            limits = true;
        } else if (cw_is(&t, "nolimits")) {
            next_tok(L);
            nolimits = true;
        } else if ((t.type == T_SUB || cw_is(&t, "sb")) && !has_sub) {
            next_tok(L);
            parse_arg(L, &sub);
            has_sub = true;
        } else if ((t.type == T_SUP || cw_is(&t, "sp")) && !has_sup) {
            next_tok(L);
            parse_arg(L, &sup);
            has_sup = true;
        } else {
            break;
        }
        any = true;
    }
    if (limits) emits(o, "\\limits");
    if (nolimits) emits(o, "\\nolimits");
    /* `^{\prime}` and `^{\prime\prime}` are the long spelling of primes. */
    if (has_sup && primes == 0) {
        const char *s = ocr_buf_cstr(&sup);
        size_t n = sup.n, k = 1;
        int np = 0;
        while (k + 6 <= n - 1 && memcmp(s + k, "\\prime", 6) == 0 &&
               !isalpha((unsigned char)s[k + 6])) {
            np++;
            k += 6;
            while (k < n - 1 && s[k] == ' ') k++;
        }
        if (np > 0 && k == n - 1) {
            primes = np;
            has_sup = false;
        }
    }
    for (int i = 0; i < primes; i++) ocr_buf_putc(o, '\'');
    if (has_sub) {
        ocr_buf_putc(o, '_');
        ocr_buf_put(o, ocr_buf_cstr(&sub), sub.n);
    }
    if (has_sup) {
        ocr_buf_putc(o, '^');
        ocr_buf_put(o, ocr_buf_cstr(&sup), sup.n);
    }
    if (sub.oom || sup.oom) o->oom = true;
    ocr_buf_free(&sub);
    ocr_buf_free(&sup);
    return any;
}

static void parse_seq_body(lx *L, ocr_buf *o, int stops, seq_info *info);

/* Every recursion passes through here or parse_atom, so hostile nesting
 * ends in an error instead of a stack overflow. */
static void parse_seq(lx *L, ocr_buf *o, int stops, seq_info *info)
{
    if (++L->depth > MAX_DEPTH) {
        info->n_atoms = 0;
        info->single_ord = false;
        fail(L, L->pos, "nesting too deep");
        L->pos = L->len;
    } else {
        parse_seq_body(L, o, stops, info);
    }
    L->depth--;
}

static void parse_seq_body(lx *L, ocr_buf *o, int stops, seq_info *info)
{
    info->n_atoms = 0;
    info->single_ord = false;
    bool last_ord = false;
    size_t start = o->n;
    for (;;) {
        if (L->st != OCR_OK) return;
        tok t = peek_tok(L);
        if (is_stop(L, &t, stops)) break;
        next_tok(L);
        if (t.type == T_RB) continue; /* lenient: stray '}' */
        if (cw_is(&t, "end") || cw_is(&t, "right")) {
            /* lenient: \end or \right with nothing open */
            if (cw_is(&t, "end")) {
                ocr_buf tmp = {0};
                read_raw_group(L, &tmp);
                ocr_buf_free(&tmp);
            } else {
                tok d = next_tok(L);
                (void)d;
            }
            continue;
        }
        if (cw_is(&t, "over") || cw_is(&t, "choose")) {
            /* Infix fraction: everything so far is the numerator. */
            ocr_buf num = {0}, den = {0};
            ocr_buf_put(&num, o->p ? o->p + start : "", o->n - start);
            ocr_buf_truncate(o, start);
            seq_info di;
            parse_seq(L, &den, stops, &di);
            emits(o, cw_is(&t, "over") ? "\\frac{" : "\\binom{");
            ocr_buf_put(o, ocr_buf_cstr(&num), num.n);
            ocr_buf_puts(o, "}{");
            ocr_buf_put(o, ocr_buf_cstr(&den), den.n);
            ocr_buf_putc(o, '}');
            ocr_buf_free(&num);
            ocr_buf_free(&den);
            info->n_atoms = 1;
            info->single_ord = true;
            return;
        }
        const char *sw = t.type == T_CW
                             ? alias_of(&t, SWITCHES, sizeof SWITCHES / sizeof SWITCHES[0])
                             : NULL;
        if (sw && !(cw_is(&t, "Bbb"))) {
            /* `\rm rest-of-group` → `\mathrm{rest-of-group}` */
            ocr_buf rest = {0};
            seq_info ri;
            parse_seq(L, &rest, stops, &ri);
            emit_cw(o, sw, strlen(sw));
            ocr_buf_putc(o, '{');
            ocr_buf_put(o, ocr_buf_cstr(&rest), rest.n);
            ocr_buf_putc(o, '}');
            ocr_buf_free(&rest);
            info->n_atoms++;
            info->single_ord = info->n_atoms == 1;
            return;
        }
        bool ord = false;
        if (t.type == T_SUP || t.type == T_SUB || cw_is(&t, "sb") || cw_is(&t, "sp")) {
            /* A script with no nucleus attaches to an empty group. */
            L->pos = t.at;
            emit(o, "{}", 2);
        } else {
            parse_atom(L, o, t, &ord);
        }
        bool scripted = parse_scripts(L, o);
        info->n_atoms++;
        last_ord = ord && !scripted;
    }
    info->single_ord = info->n_atoms == 1 && last_ord;
}

static ocr_status normalize(const char *in, bool lenient, char **out, ocr_err *e)
{
    *out = NULL;
    if (!in) return ocr_err_set(e, OCR_E_ARG, "syn_latex_normalize: NULL input");
    lx L = {in, 0, strlen(in), lenient, OCR_OK, e, 0};
    ocr_buf o = {0};
    seq_info info;
    for (;;) {
        parse_seq(&L, &o, STOP_NONE, &info);
        if (L.st != OCR_OK) break;
        tok t = next_tok(&L);
        if (t.type == T_END) break;
        /* Strict mode stopped at something that closes nothing. */
        if (t.type == T_RB) fail(&L, t.at, "unbalanced '}'");
        else fail(&L, t.at, cw_is(&t, "right") ? "\\right without \\left"
                                                  : "\\end without \\begin");
        break;
    }
    if (L.st != OCR_OK) {
        ocr_buf_free(&o);
        return L.st;
    }
    if (o.oom) {
        ocr_buf_free(&o);
        return ocr_err_set(e, OCR_E_NOMEM, "syn_latex_normalize: out of memory");
    }
    *out = ocr_buf_steal(&o);
    if (!*out) return ocr_err_set(e, OCR_E_NOMEM, "syn_latex_normalize: out of memory");
    return OCR_OK;
}

ocr_status syn_latex_normalize(const char *in, char **out, ocr_err *e)
{
    return normalize(in, false, out, e);
}

ocr_status syn_latex_normalize_lenient(const char *in, char **out, ocr_err *e)
{
    return normalize(in, true, out, e);
}

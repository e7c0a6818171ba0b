/* train/syn.h — synthetic training data: scanned-looking text lines, table
 * cells, lines with inline math and display formulas, made on the fly.
 *
 * A sample is an 8-bit grayscale crop of fixed height and variable width
 * (what the recogniser reads: a line or region crop, aspect kept) plus its
 * ground-truth string. Text is rendered with pango/cairo from the corpus in
 * every usable installed font; math is rendered by real TeX (latex + dvipng)
 * in batches into a cached bank on disk; both are then degraded (resolution,
 * blur, noise, JPEG, illumination, paper, ink, binarisation, geometry, crop
 * jitter, rules, bleed-through) with probabilities and ranges from one
 * config struct.
 *
 * Determinism: sample i of seed s is a pure function of (s, i, the
 * resources: corpus, installed fonts, bank) on one machine and library
 * build. Each sample draws from its own PRNG stream seeded from (s, i), so
 * the thread that made it and the order of generation do not matter.
 *
 * Objects and sharing:
 *   syn_ctx    read-only resources (corpus, font inventory, formula bank,
 *              parameters); create once, share between threads;
 *   syn_gen    one generator per thread (pango font map, scratch); cheap;
 *   syn_queue  N generator threads filling a ring buffer; the consumer
 *              takes samples in index order.
 * Library code never prints: errors come back as ocr_status + ocr_err.
 */
#ifndef VLOCR_TRAIN_SYN_H
#define VLOCR_TRAIN_SYN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <leptonica/allheaders.h>

#include "core/ocr.h"

/* ------------------------------------------------------------------ kinds */

typedef enum {
    SYN_KIND_LINE = 0, /* a printed text line (pango) */
    SYN_KIND_CELL,     /* a table cell or short field: words, numbers */
    SYN_KIND_INLINE,   /* a text line with $...$ spans (TeX) */
    SYN_KIND_FORMULA,  /* a display or inline formula (TeX) */
    SYN_KIND_MIX       /* one of the above per sample, by syn_params.mix */
} syn_kind;

#define SYN_N_KINDS 4 /* concrete kinds, MIX excluded */

/* "line", "cell", "inline", "formula", "mix". */
const char *syn_kind_name(syn_kind k);
bool syn_kind_parse(const char *s, syn_kind *out);
/* True for kinds rendered by TeX (need a formula bank). */
bool syn_kind_is_math(syn_kind k);

/* Training fonts, or the fixed held-out families used only for validation. */
typedef enum { SYN_SPLIT_TRAIN = 0, SYN_SPLIT_VAL } syn_split;

/* -------------------------------------------------------------------- PRNG */

/* xoshiro256** seeded through splitmix64; never rand(). */
typedef ocr_rng syn_rng;

uint64_t syn_mix64(uint64_t x); /* splitmix64 finaliser */
/* Stream `stream` of `seed`: samples use stream = sample index. */
void syn_rng_init(syn_rng *r, uint64_t seed, uint64_t stream);
uint64_t syn_rng_next(syn_rng *r);
double syn_rng_unit(syn_rng *r);                         /* [0, 1) */
double syn_rng_range(syn_rng *r, double lo, double hi);  /* [lo, hi) */
double syn_rng_logrange(syn_rng *r, double lo, double hi);
int syn_rng_below(syn_rng *r, int n);                    /* [0, n) */
int syn_rng_between(syn_rng *r, int lo, int hi);         /* [lo, hi] */
bool syn_rng_chance(syn_rng *r, double p);
double syn_rng_normal(syn_rng *r);                       /* N(0, 1) */
int syn_rng_weighted(syn_rng *r, const double *w, int n);
const char *syn_rng_pick(syn_rng *r, const char *const *list, int n);

/* ------------------------------------------------------------------- UTF-8 */

/* The generators build text in an ocr_buf (core/ocr.h); these helpers
 * handle its UTF-8. */

/* Decode one UTF-8 sequence: bytes used, or -1 when invalid. */
int syn_utf8_decode(const char *p, size_t n, uint32_t *cp);
/* Append one code point as UTF-8. */
void syn_utf8_put(ocr_buf *b, uint32_t cp);
/* Non-empty valid UTF-8 with visible ink and no control or invisible
 * format characters: what a ground-truth label must be. */
bool syn_text_printable(const char *t);

/* -------------------------------------------------------- LaTeX normaliser */

/* One spelling per construct (see syn_latex.c for the canonical form):
 * `\frac12`→`\frac{1}{2}`, `x^2`→`x^{2}`, `\le`→`\leq`, `{a\over b}`→
 * `\frac{a}{b}`, `{\rm d}`→`\mathrm{d}`, no spaces except where TeX needs
 * one. Idempotent. *out is malloc'd (caller frees) or NULL on error.
 * Strict: malformed input is OCR_E_FORMAT. Lenient (for predictions):
 * unbalanced input is repaired, never an error except OCR_E_NOMEM. */
ocr_status syn_latex_normalize(const char *in, char **out, ocr_err *e);
ocr_status syn_latex_normalize_lenient(const char *in, char **out, ocr_err *e);

/* ------------------------------------------------------------------ corpus */

/* The corpus folder (../shared/corpus): text/{gutenberg,arxiv_abstracts,
 * python_docs,manpages}.txt (one paragraph a line) and formulas/{arxiv,
 * books,wiki,school}.txt (one formula a line), memory-mapped read-only. */
typedef struct syn_corpus syn_corpus;

enum { SYN_TEXT_GUTENBERG = 0, SYN_TEXT_ARXIV, SYN_TEXT_PYDOCS, SYN_TEXT_MAN,
       SYN_N_TEXT_SRC };
enum { SYN_FORM_ARXIV = 0, SYN_FORM_BOOKS, SYN_FORM_WIKI, SYN_FORM_SCHOOL,
       SYN_N_FORM_SRC };

/* need_text / need_formulas: which halves must be present. */
ocr_status syn_corpus_load(syn_corpus **out, const char *dir, bool need_text,
                           bool need_formulas, ocr_err *e);
void syn_corpus_destroy(syn_corpus **c);
size_t syn_corpus_n_paragraphs(const syn_corpus *c, int src);
size_t syn_corpus_n_formulas(const syn_corpus *c, int src);
/* Line i of a source: pointer into the map (not NUL-terminated) + length. */
const char *syn_corpus_paragraph(const syn_corpus *c, int src, size_t i, size_t *len);
const char *syn_corpus_formula(const syn_corpus *c, int src, size_t i, size_t *len);
const char *syn_corpus_dir(const syn_corpus *c);

/* ------------------------------------------------------------ text content */

typedef struct {
    bool heading;   /* render larger/bolder */
    bool numeric;   /* numbers: right-aligned in cells */
    bool hyphenate; /* prose: the line may end in a hyphenated word */
} syn_text_info;

/* A candidate text line (longer than one line: the renderer cuts it at a
 * word boundary to the width it draws), appended to `out`. */
void syn_text_line(syn_rng *r, const syn_corpus *c, ocr_buf *out, syn_text_info *info);
/* A table cell or short field: words, numbers, money, dates, codes. */
void syn_text_cell(syn_rng *r, const syn_corpus *c, ocr_buf *out, syn_text_info *info);
/* Up to max_len bytes of a paragraph of source `src`, cut at word
 * boundaries, whitespace collapsed, invisible characters dropped. */
void syn_text_snippet(syn_rng *r, const syn_corpus *c, int src, size_t min_len,
                      size_t max_len, bool from_start, ocr_buf *out);
/* Where to hyphenate word w[0..n) at a line end (0: don't). */
size_t syn_text_hyphen_point(syn_rng *r, const char *w, size_t n);

/* ------------------------------------------------------------------- fonts */

/* The installed font faces usable for Latin text, sorted by family and face
 * name so the inventory is stable; grouped by family. */
typedef struct syn_fonts syn_fonts;

typedef struct {
    char family[96];
    char face[64];      /* pango face name: "Bold Italic" */
    char desc[192];     /* pango description string without size */
    int weight;         /* PangoWeight */
    bool italic;
    bool mono;
    float pick_weight;  /* regular faces are drawn more often */
} syn_face;

/* Families never used for training: the validation split renders only
 * these, the training split never does. Fixed by name so the split does
 * not move when packages are added. */
extern const char *const syn_heldout_families[];
extern const size_t syn_n_heldout_families;

ocr_status syn_fonts_create(syn_fonts **out, syn_split split, ocr_err *e);
void syn_fonts_destroy(syn_fonts **f);
size_t syn_fonts_n_families(const syn_fonts *f);
size_t syn_fonts_n_faces(const syn_fonts *f);
const syn_face *syn_fonts_face(const syn_fonts *f, size_t i);
const char *syn_fonts_family(const syn_fonts *f, size_t fam);
/* Draw a face: family uniformly, then a face of it by pick_weight. */
size_t syn_fonts_pick(const syn_fonts *f, syn_rng *r);
/* Whether face i has a glyph for `cp` (U+0000..U+2FFF tracked; above: no). */
bool syn_fonts_covers(const syn_fonts *f, size_t face, uint32_t cp);
bool syn_fonts_covers_text(const syn_fonts *f, size_t face, const char *utf8);

/* ------------------------------------------------------------ line render */

/* Draws text with pango/cairo; one per generator thread (owns a private
 * pango font map and context, which are not thread-safe). */
typedef struct syn_renderer syn_renderer;

/* The process-wide lock every pango/cairo text call of syn_ takes: cairo
 * 1.16 shares scaled fonts between threads and is not safe to use from two
 * at once. Code outside train/ that renders text with cairo while a
 * syn_queue runs should take it too. */
void syn_text_lock(void);
void syn_text_unlock(void);

/* n_faces: size of the font inventory (fonts are cached per face index). */
ocr_status syn_renderer_create(syn_renderer **out, size_t n_faces, ocr_err *e);
void syn_renderer_destroy(syn_renderer **r);

enum {
    SYN_RULE_UNDER = 1, SYN_RULE_TOP = 2, SYN_RULE_BOTTOM = 4,
    SYN_RULE_LEFT = 8, SYN_RULE_RIGHT = 16
};

typedef struct {
    const char *text;      /* candidate; cut at a word boundary to max_width */
    size_t face;           /* index in the font inventory */
    const char *desc;      /* its pango description without size */
    double px;             /* font size in pixels */
    double letter_spacing; /* em */
    bool hyphenate;        /* may end in a hyphenated part of the next word */
    double max_width;      /* px */
    double margin_x;       /* blank canvas left and right of the ink, px */
    const char *above, *below; /* neighbour line candidates (NULL: none) */
    double leading;        /* baseline distance to neighbours, em */
    double neighbour_dx;   /* neighbours' horizontal offset, em */
    int rules;             /* SYN_RULE_* bits */
    double rule_px;        /* rule thickness */
    double rule_gap[4];    /* top, bottom, left, right rule gap, line heights */
    double rule_pos[2];    /* underline start and end, fraction of the line */
} syn_line_spec;

typedef struct {
    PIX *pix;       /* 8 bpp canvas, 255 paper, 0 ink */
    char *text;     /* exactly what the main line says */
    double box[4];  /* x0, y0, x1, y1: ink horizontally, line box vertically */
    double baseline;
    double line_h;  /* logical line height, px */
} syn_line_render;

ocr_status syn_render_line(syn_renderer *R, const syn_line_spec *s, syn_rng *r,
                           syn_line_render *out, ocr_err *e);
void syn_line_render_free(syn_line_render *o);
/* Logical line height of a face per pixel of font size (0: no font). */
double syn_render_line_height(syn_renderer *R, size_t face, const char *desc);

/* ------------------------------------------------------------ degradations */

/* One degradation: applied with probability p, strength drawn from
 * [lo, hi] (units in the comment of each field). */
typedef struct {
    float p, lo, hi;
} syn_range;

typedef struct {
    float p_clean;           /* sample gets no degradation but the resample */
    syn_range scale;         /* render size / output size (log-uniform); p unused */
    syn_range p_nearest;     /* p: resample by nearest neighbour (lo/hi unused) */
    syn_range paper;         /* paper grey level 0..255 (p: not white) */
    syn_range ink;           /* ink grey level 0..255 (p: not black) */
    syn_range ink_bleed;     /* >0 thicker strokes, <0 thinner; -1..1 */
    syn_range blur;          /* Gaussian sigma in output pixels */
    syn_range noise;         /* Gaussian noise sigma, grey levels */
    syn_range salt_pepper;   /* fraction of pixels flipped */
    syn_range jpeg;          /* JPEG quality */
    syn_range illumination;  /* depth of a smooth light gradient, 0..1 */
    syn_range texture;       /* paper texture amplitude, grey levels */
    syn_range binarize;      /* threshold between ink and paper, 0..1 */
    syn_range rotate;        /* degrees */
    syn_range shear;         /* degrees */
    syn_range perspective;   /* corner displacement, fraction of height */
    syn_range crop_v;        /* top/bottom margin, fraction of line height */
    syn_range crop_h;        /* left/right margin, fraction of line height */
    syn_range neighbours;    /* lines above/below; leading in em */
    syn_range rules;         /* underline/table-rule fragments; width px */
    syn_range bleed_through; /* mirrored text from the back, opacity 0..1 */
} syn_degrade_params;

syn_degrade_params syn_degrade_default_params(void);

/* Pixel-level degradations, each keeping width, height and depth (8 bpp).
 * Used by the generator and, one at a time, by the tests. */
typedef enum {
    SYN_DG_INK = 0,     /* amount: -1..1 */
    SYN_DG_BLUR,        /* sigma in pixels */
    SYN_DG_NOISE,       /* sigma, grey levels */
    SYN_DG_SALT_PEPPER, /* fraction */
    SYN_DG_JPEG,        /* quality */
    SYN_DG_ILLUMINATION,/* depth 0..1 */
    SYN_DG_TEXTURE,     /* amplitude */
    SYN_DG_BINARIZE,    /* threshold 0..1 */
    SYN_DG_ROTATE,      /* degrees */
    SYN_DG_SHEAR,       /* degrees */
    SYN_DG_PERSPECTIVE, /* fraction of height */
    SYN_DG_BLEED_THROUGH, /* opacity */
    SYN_DG_LEVELS,      /* amount: contrast loss 0..1 (paper and ink meet) */
    SYN_DG_COUNT
} syn_dg_op;

const char *syn_dg_name(syn_dg_op op);
/* Replace *pix (8 bpp) by its degraded version (same size and depth). */
ocr_status syn_degrade_apply(PIX **pix, syn_dg_op op, float amount, syn_rng *r,
                             ocr_err *e);

/* Map grey levels so that 255 → paper and 0 → ink (contrast, paper tone). */
PIX *syn_degrade_levels(PIX *pix, int paper, int ink);
/* Shear, rotate (about the centre) and move the corners a little (a
 * projective warp, same canvas size, white brought in). `box` (may be
 * NULL) is replaced by the bounding box of its warped corners. */
PIX *syn_degrade_warp(PIX *pix, double rot_deg, double shear_deg, double persp,
                      syn_rng *r, double box[4]);
/* Resample to exactly wd x hd (tent filter, or nearest neighbour). */
PIX *syn_resample(PIX *pix, int wd, int hd, bool nearest);
/* The photometric chain (levels, illumination, texture, bleed-through,
 * blur, noise, specks, binarisation, JPEG) on a crop at scan resolution;
 * `scale` = scan pixels per output pixel. *strength gets 0..1. */
ocr_status syn_degrade_chain(PIX **pix, const syn_degrade_params *d, double scale,
                             syn_rng *r, float *strength, ocr_err *e);

/* -------------------------------------------------------------- formulas */

/* A random formula from a grammar, for constructs the corpus lacks
 * (matrices, cases, limits, long sums, decimals, units). Not normalised. */
void syn_formula_random(syn_rng *r, ocr_buf *out, bool short_inline);

/* A math font setup: a LaTeX preamble that changes the look of math. */
typedef struct {
    const char *name;     /* "cm", "lmodern", "mathptmx", ... */
    const char *preamble; /* \usepackage lines */
} syn_tex_setup;

extern const syn_tex_setup syn_tex_setups[];
extern const size_t syn_n_tex_setups;

/* Whether latex and dvipng are on PATH; when not, `why` says what is
 * missing and how to install it (make train-deps). */
bool syn_tex_available(char *why, size_t cap);

/* --------------------------------------------------------------- the bank */

typedef struct {
    int n_formula;     /* display/inline formulas to render */
    int n_inline;      /* text lines with inline math */
    int batch;         /* formulas per TeX run */
    int dpi;           /* dvipng resolution */
    int threads;       /* TeX runs in parallel */
    uint64_t seed;     /* what goes in the bank */
    double p_generated;/* share of formulas from syn_formula_random */
    int timeout_s;     /* per TeX or dvipng run */
    const char *setups;/* comma-separated setup names to try; NULL: all */
} syn_bank_params;

syn_bank_params syn_bank_default_params(void);

/* Progress callback: batches done of total (may be NULL). */
typedef void (*syn_bank_progress)(void *user, int done, int total, int failed);

/* Render the bank into `dir` (created; shard files written atomically).
 * Resumable: shards already present with the same parameters are kept; a
 * bank built with different parameters is an error, not overwritten.
 * Needs latex + dvipng (OCR_E_UNSUPPORTED with the reason otherwise). */
ocr_status syn_bank_build(const char *dir, const syn_bank_params *p,
                          const syn_corpus *c, syn_bank_progress cb, void *user,
                          ocr_err *e);

typedef struct syn_bank syn_bank;

typedef struct {
    const char *text;  /* normalised ground truth (NUL-terminated) */
    int kind;          /* SYN_KIND_FORMULA or SYN_KIND_INLINE */
    int setup;         /* index into syn_tex_setups */
    int w, h;
    int baseline;      /* row of the baseline, from dvipng --depth */
    int dpi;
} syn_bank_entry;

ocr_status syn_bank_open(syn_bank **out, const char *dir, ocr_err *e);
void syn_bank_destroy(syn_bank **b);
size_t syn_bank_count(const syn_bank *b, syn_kind kind);
/* Entry i of a kind; `gray` (may be NULL) receives a malloc'd w*h image. */
ocr_status syn_bank_get(const syn_bank *b, syn_kind kind, size_t i,
                        syn_bank_entry *ent, uint8_t **gray, ocr_err *e);

/* -------------------------------------------------------------- parameters */

typedef struct {
    syn_kind kind;
    double mix[SYN_N_KINDS];  /* weights of the kinds for SYN_KIND_MIX */
    syn_split split;
    int height_text;          /* output height of line and cell crops */
    int height_inline;        /* lines with inline math */
    int height_formula;       /* formulas (a taller setting) */
    int max_width_text;       /* longest crop at output height */
    int max_width_math;
    double fit_math;          /* a formula up to fit_math × max_width_math wide
                                 is scaled down to that width (the sample is
                                 then lower than height_formula); wider ones,
                                 and all at 1, are drawn again */
    const char *corpus_dir;   /* default "../shared/corpus" */
    const char *bank_dir;     /* default "train/cache/bank" */
    bool math_fallback;       /* MIX without a bank: drop math kinds (true)
                                 or fail (false) */
    syn_degrade_params dg;
} syn_params;

syn_params syn_default_params(void);

/* ---------------------------------------------------------------- samples */

typedef struct {
    syn_kind kind;
    uint64_t index;
    int w, h;
    uint8_t *gray;   /* w*h bytes, row-major, 0 = black; owned */
    char *text;      /* UTF-8 ground truth; owned */
    char font[256];  /* what rendered it: pango face + size, or tex:<setup> */
    float strength;  /* rough degradation strength 0..1 (for inspection) */
} syn_sample;

void syn_sample_free(syn_sample *s); /* frees buffers, zeroes; NULL ok */
/* New 8 bpp PIX with the sample's pixels; caller pixDestroy()s it. */
ocr_status syn_sample_to_pix(const syn_sample *s, PIX **out, ocr_err *e);
/* Write dir/stem.png and dir/stem.txt (text + '\n'), each atomically. */
ocr_status syn_sample_write(const syn_sample *s, const char *dir,
                            const char *stem, ocr_err *e);
/* Contact sheet of n samples: columns of crops with their labels printed
 * under them (pango, DejaVu Sans). Caller pixDestroy()s *out. */
ocr_status syn_contact_sheet(PIX **out, const syn_sample *s, size_t n,
                             int width, ocr_err *e);

/* ------------------------------------------------------------------ context */

typedef struct syn_ctx syn_ctx;

/* Loads what `p->kind` needs: corpus, fonts (text kinds), bank (math
 * kinds; OCR_E_NOTFOUND naming the bank folder and `vlocr synth
 * --build-bank` when absent, OCR_E_UNSUPPORTED when TeX is missing too).
 * `p` is copied; its strings must outlive the context. */
ocr_status syn_ctx_create(syn_ctx **out, const syn_params *p, ocr_err *e);
void syn_ctx_destroy(syn_ctx **c);
const syn_params *syn_ctx_params(const syn_ctx *c);
const syn_fonts *syn_ctx_fonts(const syn_ctx *c);   /* NULL if not loaded */
const syn_corpus *syn_ctx_corpus(const syn_ctx *c);
const syn_bank *syn_ctx_bank(const syn_ctx *c);     /* NULL if not loaded */

/* --------------------------------------------------------------- generator */

typedef struct syn_gen syn_gen;

ocr_status syn_gen_create(syn_gen **out, const syn_ctx *ctx, uint64_t seed,
                          ocr_err *e);
void syn_gen_destroy(syn_gen **g);
/* Sample number `index` (a pure function of seed and index). *out is
 * overwritten (free it with syn_sample_free). */
ocr_status syn_gen_sample(syn_gen *g, uint64_t index, syn_sample *out, ocr_err *e);
/* The next index after the last one drawn (starts at 0). */
ocr_status syn_gen_next(syn_gen *g, syn_sample *out, ocr_err *e);

/* ------------------------------------------------------------------ queue */

typedef struct syn_queue syn_queue;

/* Start `threads` generator threads that fill a ring of `capacity` slots
 * with samples first_index, first_index+1, ...; the same samples, in the
 * same order, whatever the thread count. */
ocr_status syn_queue_create(syn_queue **out, const syn_ctx *ctx, uint64_t seed,
                            uint64_t first_index, int threads, int capacity,
                            ocr_err *e);
/* Blocks until the next sample in index order is ready; moves it into
 * *out (caller frees). A generation error is returned once, for the index
 * that failed. */
ocr_status syn_queue_next(syn_queue *q, syn_sample *out, ocr_err *e);
/* Stops and joins the threads, frees unconsumed samples. */
void syn_queue_destroy(syn_queue **q);

#endif /* VLOCR_TRAIN_SYN_H */

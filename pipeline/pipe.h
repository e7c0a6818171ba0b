/* pipeline/pipe.h — internal header of pipeline/: image I/O (img_), page
 * cleanup and layout (lay_), recognition driver and assembly (pipe_), cairo
 * overlays (ovl_).
 *
 * Images are Leptonica PIX objects: the caller owns what a function returns
 * through PIX ** and frees it with pixDestroy(&pix).
 */
#ifndef VLOCR_PIPELINE_PIPE_H
#define VLOCR_PIPELINE_PIPE_H

#include <leptonica/allheaders.h>

#include "core/ocr.h"

/* ---------------------------------------------------------------- image I/O */

typedef struct {
    uint64_t max_pixels; /* width*height per page; default 200,000,000 */
    size_t max_bytes;    /* encoded input size; default 1 GiB */
    double pdf_dpi;      /* resolution PDF pages are rendered at; default 200 */
} img_limits;

/* Defaults: 200,000,000 pixels, 1 GiB. A NULL `lim` argument below means
 * these defaults. */
img_limits img_default_limits(void);

/* Silence Leptonica (message severity and its stderr handler), once per
 * process and thread-safe. Every img_ function calls it; other code that
 * calls Leptonica before any img_ function should call it first. PNG and
 * JPEG are not decoded through Leptonica (whose libpng and libjpeg print
 * to stderr) but by img_png.c and img_jpeg.c with silent handlers; code
 * outside img_ that calls pixReadMemPng/pixReadMemJpeg itself is not
 * covered. */
void img_lept_quiet(void);

/* Detected container format. */
typedef enum {
    IMG_FMT_UNKNOWN = 0,
    IMG_FMT_PNG,
    IMG_FMT_JPEG,
    IMG_FMT_TIFF,
    IMG_FMT_BMP,
    IMG_FMT_WEBP,
    IMG_FMT_PNM,
    IMG_FMT_GIF,
    IMG_FMT_JP2,
    IMG_FMT_PDF /* recognised so callers can route it to the PDF renderer */
} img_format;

const char *img_format_name(img_format f);

/* An encoded image held in memory: the bytes of a file, of stdin, or of a
 * caller's buffer. `name` (file path or "<stdin>") is used in messages. */
typedef struct {
    char name[512];
    uint8_t *data; /* owned */
    size_t len;
    img_format format;
    int n_pages;   /* 1 except for multi-page TIFF and PDF */
    struct img_pdf *pdf; /* owned; the opened document when format is PDF */
} img_source;

/* Read `path` ("-" = stdin) into memory and identify it. Refuses empty
 * files, unknown formats and inputs over lim->max_bytes. */
ocr_status img_source_open(img_source *src, const char *path,
                           const img_limits *lim, ocr_err *e);
/* Identify a caller's buffer (copied). */
ocr_status img_source_from_memory(img_source *src, const void *buf,
                                  size_t len, const char *name,
                                  const img_limits *lim, ocr_err *e);
/* Frees src->data and zeroes *src; accepts NULL and a zeroed source. */
void img_source_free(img_source *src);

/* Decode page `page` (0-based) after checking its header against
 * lim->max_pixels; corrupt or truncated data gives OCR_E_FORMAT with a
 * message naming src->name and the problem. *out is NULL on failure.
 * OCR_E_LIMIT: over max_pixels; OCR_E_ARG: page out of range;
 * OCR_E_UNSUPPORTED: PDF (use the PDF renderer). */
ocr_status img_source_decode(PIX **out, const img_source *src, int page,
                             const img_limits *lim, ocr_err *e);

/* Convenience: open + decode page 0. */
ocr_status img_load(PIX **out, const char *path, const img_limits *lim,
                    ocr_err *e);

/* Normalise any depth/colormap to 8-bit gray or 32-bit RGB (BT.601
 * luminance for RGB->gray; 1 bpp: 1 = black). Alpha is composited onto
 * white. *out is always a new image, never a clone sharing in's pixels. */
ocr_status img_to_gray8(PIX **out, PIX *in, ocr_err *e);
ocr_status img_to_rgb32(PIX **out, PIX *in, ocr_err *e);

/* Copy into planes: gray[h*w], or planar rgb[3][h*w] (R plane, G, B),
 * row-major without padding, converted as above. The planes are malloc'd;
 * the caller frees them with free(). */
ocr_status img_gray_planes(uint8_t **gray, int *w, int *h, PIX *in,
                           ocr_err *e);
ocr_status img_rgb_planes(uint8_t **rgb, int *w, int *h, PIX *in, ocr_err *e);

/* ------------------------------------------- codec back ends (img_ only) */

/* What a header claims, read without allocating for the claim. */
typedef struct {
    int64_t w, h;
    int depth;      /* bits per pixel of the PIX the decoder will make; 0 =
                     * not known before decoding */
    double min_len; /* fewest bytes a file can have and still hold the
                     * pixels; 0 = not knowable */
} img_dims;

/* A w x h PIX of `depth` for a decoder to fill: uninitialised, so that
 * memory is committed only as rows are written; the decoder writes every
 * pixel and clears the pad bits (pixSetPadBits) before handing it out.
 * OCR_E_LIMIT (a message naming src->name) past Leptonica's cap of 2 GiB
 * per image, OCR_E_NOMEM when the allocation fails. */
ocr_status img_pix_create(PIX **out, const img_source *src, int64_t w, int64_t h,
                          int depth, ocr_err *e);

/* img_png.c: decode src (a PNG) with libpng; lim->max_pixels is enforced
 * again by libpng. The header has been checked by img_source_decode. */
ocr_status img_png_decode(PIX **out, const img_source *src,
                          const img_limits *lim, ocr_err *e);

/* img_jpeg.c: the frame and first-scan headers (size, output depth, and
 * the least data the first scan can take), then the decoder. See the top
 * of img_jpeg.c for what is fatal and for the memory guards. */
ocr_status img_jpeg_dims(img_dims *d, const img_source *src, ocr_err *e);
ocr_status img_jpeg_decode(PIX **out, const img_source *src,
                           const img_limits *lim, ocr_err *e);

/* ---------------------------------------------------------------- PDF pages */

/* A PDF opened through poppler-glib. The bytes are copied. */
typedef struct img_pdf img_pdf; /* struct tag used by img_source above */

ocr_status img_pdf_open(img_pdf **out, const void *data, size_t len,
                        const char *name, ocr_err *e);
int img_pdf_page_count(const img_pdf *p);
/* Render page `page` (0-based) at `dpi` onto white, as 32-bpp RGB. The page
 * size at that DPI is checked against lim->max_pixels before rendering. */
ocr_status img_pdf_render(PIX **out, const img_pdf *p, int page, double dpi,
                          const img_limits *lim, ocr_err *e);
void img_pdf_close(img_pdf **p);

/* ====================================================================
 * Documents and the DeepSeek-OCR page path (pipe_doc.c, pipe_ground.c,
 * pipe_dsocr.c, pipe_write*.c)
 *
 * A document is pages of blocks: {type, boxes, text, confidence, lines},
 * each line {box, text, confidence}. The
 * DeepSeek-OCR driver runs a whole page through the checkpoint and parses
 * its grounded output (`<|ref|>type<|/ref|><|det|>[[x1,y1,x2,y2]]<|/det|>`
 * before each block, boxes in 0..999) into that structure; the writers turn
 * a document into Markdown (the official post-processing), plain text or
 * JSON. Ownership: a pipe_doc owns everything reachable from it; strings
 * are malloc'd, NUL-terminated UTF-8.
 * ==================================================================== */

#include "vision/vis.h"

/* A box in page pixels, PIL crop convention: columns x1..x2-1, rows
 * y1..y2-1 (x1 <= x2, y1 <= y2). */
typedef struct {
    int x1, y1, x2, y2;
} pipe_box;

/* One text line of a block. */
typedef struct {
    pipe_box box;      /* page pixels (valid when has_box) */
    bool has_box;      /* false: the block has no box either */
    char *text;        /* the line's text as read (not Markdown); "" when none */
    float confidence;  /* in [0, 1]; < 0 (-1): not known */
} pipe_line;

typedef struct {
    char *type;        /* "title", "text", "table", "image", "equation", ...;
                          the locate prompt's label is the query text */
    pipe_box *boxes;   /* [n_boxes] */
    int n_boxes, cap_boxes;
    char *text;        /* the block's text, leading blank lines and trailing
                          white space removed; "" when none */
    float confidence;  /* mean token probability; < 0: not known */
    char **crops;      /* [n_boxes] or NULL: path of the saved crop of each
                          box as the Markdown links it (NULL entries: none) */
    pipe_line *lines;  /* [n_lines], top to bottom (tables: cell by cell);
                          vlocr-nano: one per line crop read, with its ink
                          box; DeepSeek-OCR: the text's non-blank lines, with
                          the block's box (its i-th box when it has one per
                          line). Always inside the block's box. */
    int n_lines, cap_lines;
} pipe_block;

/* What one model run cost and how it ended. */
typedef struct {
    int tiles_w, tiles_h, n_tiles; /* the preprocessing's tile grid */
    int n_prompt, n_image;         /* prompt tokens, of which image slots */
    int n_generated;               /* tokens generated (EOS included) */
    const char *stop;              /* "eos", "length", "loop", "context" */
    int loop_period, loop_repeats, loop_start; /* stop == "loop" */
    double t_prep, t_encode, t_prefill, t_decode; /* seconds */
} pipe_run_stats;

typedef struct {
    int number;        /* 1-based page number within its source */
    int width, height; /* page pixels */
    pipe_block *blocks;
    int n_blocks, cap_blocks;
    char *raw;         /* the model's output (special tokens kept, EOS
                          stripped) or NULL */
    bool grounded;     /* the output held at least one <|det|> box list */
    pipe_run_stats stats;
    int32_t *ids;      /* generated ids [n_ids] (EOS included) or NULL */
    int n_ids;
} pipe_page;

typedef struct {
    char *source; /* input name as given ("-" reads "<stdin>") */
    pipe_page *pages;
    int n_pages, cap_pages;
} pipe_doc;

/* Empty document for `source` (copied). Free with pipe_doc_free. */
ocr_status pipe_doc_init(pipe_doc *d, const char *source, ocr_err *e);
/* Frees everything and zeroes *d; accepts a zeroed document. */
void pipe_doc_free(pipe_doc *d);
/* Append a page of width x height pixels numbered `number`; *out points
 * into d->pages (valid until the next add). */
ocr_status pipe_doc_add_page(pipe_doc *d, pipe_page **out, int number, int width,
                             int height, ocr_err *e);
/* Free a page's contents (blocks, raw, ids) and zero it. */
void pipe_page_free(pipe_page *pg);
/* Append a block of type[0..type_len) with text[0..text_len) (both copied;
 * text may be NULL). *out (may be NULL) points into pg->blocks. */
ocr_status pipe_page_add_block(pipe_page *pg, pipe_block **out, const char *type,
                               size_t type_len, const char *text, size_t text_len,
                               ocr_err *e);
ocr_status pipe_block_add_box(pipe_block *b, pipe_box box, ocr_err *e);
/* Union of a block's boxes; false when it has none. */
bool pipe_block_bbox(const pipe_block *b, pipe_box *out);
/* Append a line with text[0..len) (copied; NULL: ""), box (NULL: none) and
 * confidence (< 0: unknown; stored as -1). */
ocr_status pipe_block_add_line(pipe_block *b, const pipe_box *box, const char *text, size_t len,
                               float confidence, ocr_err *e);
/* Lines of every block of pg that has none, from its text: each non-blank
 * line of the text (split on '\n', leading and trailing white space
 * trimmed) becomes a line whose box is the block's i-th box when the block
 * has exactly one box per line, else the union of its boxes (none when it
 * has no box), and whose confidence is the block's. What the DeepSeek-OCR
 * path (pipe_dsocr_page) uses: the model locates blocks, not lines. */
ocr_status pipe_page_lines_from_text(pipe_page *pg, ocr_err *e);

/* ------------------------------------------------ grounding (pipe_ground.c)
 *
 * Parse a DeepSeek-OCR output into pg's blocks (appended). Each
 * `<|ref|>label<|/ref|><|det|>[[x1,y1,x2,y2],...]<|/det|>` starts a block of
 * type `label` whose text is what follows up to the next block; a
 * `<|det|>` without a ref starts a "text" block; text before the first
 * block is a "text" block. Box values are clamped to 0..999 and scaled as
 * the official code does, int(v/999*W) and int(v/999*H) with the page's
 * width and height. Never evaluates anything: a hand scanner that keeps
 * the complete boxes of a truncated or malformed list, takes a ref without
 * its closing tag as plain text, and drops stray closing tags. Sets
 * pg->grounded when any box list was found. Fails only on OOM. */
ocr_status pipe_ground_parse(pipe_page *pg, const char *text, size_t len, ocr_err *e);
/* int(clamp(v, 0, 999) / 999 * size). */
int pipe_ground_scale(double v, int size);

/* ------------------------------------------ DeepSeek-OCR (pipe_dsocr.c)
 *
 * A loaded checkpoint (encoder + decoder + tokenizer, read-only, shareable
 * across threads) and per-request states (encoder scratch, KV cache,
 * prompt), so that several pages can run on one model at once, one state
 * each. */

typedef struct pipe_dsocr pipe_dsocr;
typedef struct pipe_dsocr_state pipe_dsocr_state;

typedef struct {
    vis_prep_params prep;  /* vis_prep_params_mode("gundam") */
    const char *prompt;    /* user text with one <image> (NULL: the
                              grounding Markdown prompt); borrowed until
                              pipe_dsocr_state_create returns */
    int max_new_tokens;    /* 8192 */
    /* No-repeat n-gram: n 0 = off. window 0: HF's, over prompt + output;
     * window > 0: the vLLM script's, over the last `window` generated
     * tokens with <td> and </td> exempt. */
    int ngram_size, ngram_window;
    /* Loop detector over the output (period 0 = off; defaults as
     * lm_gen_default_params); a loop stops the generation and the text is
     * cut after the loop's first period. */
    int loop_max_period, loop_min_repeats, loop_min_tokens;
} pipe_dsocr_params;

/* Gundam, grounding Markdown prompt, 8192 tokens, n-gram 20 (HF), the
 * decoder's default loop detector. */
pipe_dsocr_params pipe_dsocr_default_params(void);

/* The user text of a prompt spec: "markdown" (the default, grounding
 * Markdown), "ocr" (grounding OCR of any image), "free" (OCR without
 * layout), "figure", "describe", "locate:TEXT", or any other text (used as
 * given, "<image>\n" put in front when it has no <image>). OCR_E_ARG for a
 * text with more than one <image> or an empty locate query. */
ocr_status pipe_dsocr_prompt(char *out, size_t cap, const char *spec, ocr_err *e);

/* Load DIR: config.json (with vision_config), the safetensors, and
 * tokenizer.json (+ tokenizer_config.json). The image token is the
 * tokenizer's "<image>" (128815 when it has none); BOS/EOS come from
 * tokenizer_config.json, else config.json. *out is NULL on failure and e
 * names the missing or broken file. */
ocr_status pipe_dsocr_load(pipe_dsocr **out, const char *dir, ocr_err *e);
void pipe_dsocr_destroy(pipe_dsocr **m);
/* "DeepSeek-OCR, MHA, 12 layers, 64 experts ..." for -v. */
void pipe_dsocr_describe(const pipe_dsocr *m, char *out, size_t cap);

/* A state for prompts of params p (copied; the prompt is tokenised here).
 * The KV cache holds the largest prompt p's tiling allows plus
 * max_new_tokens. */
ocr_status pipe_dsocr_state_create(pipe_dsocr_state **out, const pipe_dsocr *m,
                                   const pipe_dsocr_params *p, ocr_err *e);
void pipe_dsocr_state_destroy(pipe_dsocr_state **s);

/* Run one image rgb[3][h][w] (planar RGB) as infer() does: preprocess,
 * encode, BOS + text + image slots + text, greedy generation stopping at
 * EOS, decode with special tokens kept, EOS stripped, white space
 * trimmed. Fills pg->raw, pg->ids, pg->stats (pg's blocks are untouched). */
ocr_status pipe_dsocr_run(pipe_dsocr_state *s, const uint8_t *rgb, int w, int h,
                          pipe_page *pg, ocr_err *e);
/* A page image (any depth): pipe_dsocr_run, then pipe_ground_parse into
 * pg's blocks. pg's width and height are set from pix. */
ocr_status pipe_dsocr_page(pipe_dsocr_state *s, PIX *pix, pipe_page *pg, ocr_err *e);

/* ------------------------------------------------- writers (pipe_write*.c) */

typedef enum {
    PIPE_FMT_MD = 0,
    PIPE_FMT_TXT,
    PIPE_FMT_JSON,
    PIPE_FMT_HOCR, /* pipe_hocr_render (pipe_hocr.c) */
    PIPE_FMT_COUNT
} pipe_format;

/* "md"/"markdown"/"mmd", "txt"/"text", "json", "hocr"; -1 when unknown. */
int pipe_format_parse(const char *s);
/* File extension of a format, without the dot ("md", "txt", "json", "hocr"). */
const char *pipe_format_ext(pipe_format f);

/* Save a crop of every box of every `image` block of pg from the page image
 * as DIR/<page>-<k>.png (k counting the page's crops from 0, in output
 * order; written atomically, DIR created when needed) and record
 * LINK_PREFIX/<page>-<k>.png in the block's crops for the Markdown. Boxes
 * that are empty after clipping to the page are skipped. */
ocr_status pipe_page_save_crops(pipe_page *pg, PIX *pix, const char *dir,
                                const char *link_prefix, ocr_err *e);

/* Render a document. *out is malloc'd and NUL-terminated (caller frees).
 * Markdown: the official post-processing: the ref/det markup removed, an
 * `image` block's saved crops as `![](link)` lines, `\coloneqq` -> `:=`,
 * `\eqqcolon` -> `=:`, blocks separated by a blank line, pages by
 * `<--- Page Split --->`. Text: the blocks' text (same fixes), no image
 * links, pages separated by a form feed. JSON: {source, pages: [{page,
 * width, height, blocks: [{type, box, boxes?, text, confidence?,
 * crops?, lines: [{box, text, confidence}]}], raw, stats}]}; a line's box
 * is [x1,y1,x2,y2] or null, its confidence a number in [0,1] or null when
 * unknown. */
ocr_status pipe_doc_render(const pipe_doc *d, pipe_format f, char **out, size_t *len,
                           ocr_err *e);
/* pipe_doc_render written to `path` atomically (temporary file + rename). */
ocr_status pipe_doc_write(const pipe_doc *d, pipe_format f, const char *path, ocr_err *e);
/* The Markdown text fixes on s[0..len) into a malloc'd string. */
char *pipe_md_fix(const char *s, size_t len, size_t *out_len);

/* ------------------------------------------------- overlay (ovl_page.c) */

/* The page with pg's blocks drawn over it: boxes outlined and lightly
 * filled in a colour per type (titles wider), each tagged with its
 * reading-order number and type. *png is a malloc'd PNG (caller frees). */
ocr_status ovl_page_render(PIX *pix, const pipe_page *pg, uint8_t **png, size_t *len,
                           ocr_err *e);
/* Same written to `path` atomically. */
ocr_status ovl_page_write(PIX *pix, const pipe_page *pg, const char *path, ocr_err *e);

/* ====================================================================
 * Page cleanup and layout analysis (lay_*.c)
 *
 * The classical front end of the vlocr-nano path: a page is cleaned
 * (upright, deskewed, background normalised; lay_clean.c) and cut into
 * blocks in reading order, each with its type, its box and, for text, its
 * line crops (lay_analyze in lay_page.c; the stages are lay_cc.c
 * components, lay_figure.c figures, lay_table.c tables, lay_lines.c text
 * lines, lay_blocks.c blocks and types, lay_order.c reading order). The
 * recogniser reads the line crops out of the cleaned grayscale; the
 * binarised copy is for analysis only. lay_page_to_doc fills the document
 * model above so the writers and the overlay work unchanged.
 *
 * All coordinates are pixels of the cleaned page (lay_clean_result.gray),
 * boxes in the pipe_box convention (x2, y2 exclusive); lay_clean_map_box
 * takes a box back to the input image. pipeline/README.md describes the
 * algorithm, its parameters and its known limits.
 * ==================================================================== */

typedef struct {
    /* cleanup */
    bool orient;           /* detect and correct 0/90/180/270 (true) */
    float orient_min_conf; /* Leptonica's up/down statistic a rotation needs
                              (8; its default) */
    float orient_min_ratio;/* ... and its ratio over the other axis (2.5) */
    bool deskew;           /* detect and correct skew (true) */
    float skew_max_deg;    /* search range, +-degrees (5) */
    float skew_min_deg;    /* smaller skews are reported, not corrected (0.05) */
    float skew_min_conf;   /* Leptonica's skew confidence needed (3) */
    bool bg_norm;          /* background normalisation (true) */
    float min_char_h;      /* pages whose median component is shorter (in
                              px) are enlarged for analysis until it is
                              upscale_char_h (8, 16; 0 = never) */
    float upscale_char_h;
    float bin_thresh;      /* ink threshold, fraction of the paper level (0.65) */
    bool invert;           /* light text on dark ground made dark on light
                              (lay_invert.c; false: see pipeline/README.md) */
    int invert_min_glyphs; /* ... when the ground holds this many light
                              glyphs in rows (4) */
    float invert_min_dense;/* ... and covers this fraction of its box (0.3) */
    float invert_min_solid;/* ... of which this fraction survives an
                              erosion by 0.3 glyph heights (0.05) */
    float invert_max_rough;/* ... and a ground whose 3x3 means 3 px apart
                              differ by less than this on average (8) */
    /* layout */
    float pad_v, pad_h;    /* line crop margins, fractions of the line's
                              logical height (0.12, 0.3) */
    int gutter_rows;       /* aligned gaps on this many rows separate columns
                              or table cells (3) */
    float margin_zone;     /* header/footer zone, fraction of page height (0.1) */
    float heading_ratio;   /* font size and x-height over the body's that make
                              a heading (1.25) */
    float bold_ratio;      /* stroke width over the body's that makes a
                              body-size line a heading (1.3) */
    bool tables, figures, formulas, lists; /* detectors on (true) */
} lay_params;

lay_params lay_default_params(void);

/* What cleanup made of a page. Owns gray and bin. */
typedef struct {
    PIX *gray;          /* 8 bpp: upright, deskewed, paper white */
    PIX *bin;           /* 1 bpp copy of gray for analysis, 1 = ink */
    int in_width, in_height; /* the input page */
    float scale;        /* the cleaned page is the upright input scaled by
                           this (1, or > 1 for small print) */
    int rotation;       /* 0, 90, 180 or 270: clockwise rotation applied to
                           make the text upright */
    float up_conf, left_conf; /* Leptonica's orientation statistics (0: not
                           enough text to measure) */
    float orient_conf;  /* |statistic| of the decision taken; a rotation
                           happens only when it passes orient_min_conf */
    float skew_deg;     /* skew of the upright input's text lines in
                           degrees, counter-clockwise positive as seen on
                           screen; 0 when not found */
    float skew_conf;    /* Leptonica's skew confidence (0: not measured) */
    bool deskewed;      /* the page was rotated by -skew_deg */
    float char_h;       /* median height of text components, px; 0 when the
                           page has none */
    pipe_box *inverted; /* light text on a dark ground that was inverted
                           (lay_invert.c): the boxes of its rows, owned */
    int n_inverted;
} lay_clean_result;

/* Cleanup: 8-bit gray (any input depth), orientation, skew, background
 * normalisation, binarisation. r is filled (and owns new images) on
 * success, zeroed on failure. p NULL: defaults. */
ocr_status lay_clean(PIX *page, const lay_params *p, lay_clean_result *r, ocr_err *e);
/* Frees the images and zeroes *r; accepts a zeroed result. */
void lay_clean_result_free(lay_clean_result *r);
/* A box of the cleaned page in the input page's pixels (the bounding box
 * of its corners taken back through deskew, scale and rotation), clipped
 * to the input. */
pipe_box lay_clean_map_box(const lay_clean_result *r, pipe_box b);

typedef enum {
    LAY_PARAGRAPH = 0,
    LAY_HEADING,
    LAY_LIST_ITEM,
    LAY_FORMULA,   /* display formula */
    LAY_TABLE,
    LAY_FIGURE,
    LAY_HEADER,    /* running header */
    LAY_FOOTER,
    LAY_PAGE_NUMBER,
    LAY_TYPE_COUNT
} lay_type;

/* "paragraph", "heading", "list_item", "formula", "table", "figure",
 * "header", "footer", "page_number". */
const char *lay_type_name(lay_type t);
/* The document model's label (the DeepSeek-OCR vocabulary where it has
 * one): "text", "title" (level 1) / "sub_title", "list", "equation",
 * "table", "image", "header", "footer", "page_number". */
const char *lay_type_doc_label(lay_type t, int level);

typedef struct {
    pipe_box box;     /* ink bounding box */
    pipe_box crop;    /* what the recogniser reads: the line's logical
                         band (ascender to descender) around the ink,
                         padded by pad_v/pad_h, clipped to the page */
    int baseline;     /* row of the baseline */
    float x_height;   /* px */
    float size;       /* font size (em) estimate, px: from the ascender
                         height when the line has ascenders, else from the
                         x-height */
    float stroke;     /* mean stroke width, px */
    int n_cc;         /* connected components */
    int cell;         /* index into the block's cells, -1 outside tables */
    int eqno_x;       /* > 0: the line ends in an equation number "(n)"
                         set apart, starting at this x */
    bool inverted;    /* set light on a dark ground in the input (a banner,
                         a heading bar): display type, never a running
                         header or footer */
} lay_line;

typedef struct {
    pipe_box box;     /* the cell: between its rules (ruled tables) or
                         around its text (unruled) */
    int row, col, row_span, col_span;
} lay_cell;

typedef struct {
    lay_type type;
    pipe_box box;
    int level;        /* headings: 1 (largest) to 3 (body-size bold) */
    int column;       /* column (0 = leftmost), -1 when it spans columns */
    lay_line *lines;  /* text lines, top to bottom (tables: by cell) */
    int n_lines;
    lay_cell *cells;  /* tables: row-major */
    int n_cells, n_rows, n_cols;
    bool ruled;       /* tables: found from ruling lines */
} lay_block;

typedef struct {
    int width, height;
    lay_block *blocks; /* in reading order */
    int n_blocks, cap_blocks;
    int n_columns;     /* text columns found (>= 1 when there is text) */
    float char_h;      /* median component height, px */
    float x_height;    /* body text's, px (0: no text) */
    float size;        /* body text's font size estimate (lay_line.size) */
    float stroke;      /* body text's stroke width, px */
    float line_pitch;  /* body baseline-to-baseline distance, px (0: unknown) */
} lay_page;

/* Layout of a cleaned page: gray and bin as lay_clean made them (same
 * size). *out is filled on success (free with lay_page_free), zeroed on
 * failure. p NULL: defaults. */
ocr_status lay_analyze(lay_page *out, PIX *gray, PIX *bin, const lay_params *p, ocr_err *e);
/* The same, told which regions cleanup inverted (lay_clean_result's
 * inverted[0..n_inverted)): their lines are marked lay_line.inverted. */
ocr_status lay_analyze_marked(lay_page *out, PIX *gray, PIX *bin, const pipe_box *inverted,
                              int n_inverted, const lay_params *p, ocr_err *e);
/* lay_clean + lay_analyze. */
ocr_status lay_page_run(PIX *page, const lay_params *p, lay_clean_result *clean,
                        lay_page *out, ocr_err *e);
/* Frees the blocks and zeroes *lp; accepts a zeroed page. */
void lay_page_free(lay_page *lp);
/* Total text lines over all blocks. */
int lay_page_count_lines(const lay_page *lp);

/* Append one block per layout block to pg (in reading order) with its
 * document label (lay_type_doc_label), one box (the block's) and empty
 * text. pg->width/height are set from lp. */
ocr_status lay_page_to_doc(const lay_page *lp, pipe_page *pg, ocr_err *e);

/* The overlay of ovl_page.c (blocks by type, reading order) over pix, with
 * every text line's crop outlined thinly and table cells drawn. PNG. */
ocr_status lay_overlay_render(PIX *pix, const lay_page *lp, uint8_t **png, size_t *len,
                              ocr_err *e);
ocr_status lay_overlay_write(PIX *pix, const lay_page *lp, const char *path, ocr_err *e);

/* ---------------------------------- internals shared by the lay_*.c files */

/* A connected component of the analysis image. */
typedef struct {
    int x1, y1, x2, y2; /* box, x2/y2 exclusive */
    int ink;            /* ink pixels inside the box (0: not counted) */
    int flags;          /* LAY_CC_* */
    int line;           /* owning line during line building, -1 */
} lay_cc;

enum {
    LAY_CC_NONTEXT = 1, /* a picture's, a frame's or a table's: not running text */
};

/* Components of bin (8-connected), boxes only. *out malloc'd (caller
 * frees); n 0 with *out NULL for a blank page. */
ocr_status lay_cc_find(PIX *bin, lay_cc **out, int *n, ocr_err *e);
/* Median height of text-sized components (0 when there are none). */
float lay_cc_char_height(const lay_cc *cc, int n, int page_h);
/* Ink pixels of bin inside box b. */
int lay_count_ink(PIX *bin, pipe_box b);

/* Box helpers. */
static inline int lay_box_w(pipe_box b) { return b.x2 - b.x1; }
static inline int lay_box_h(pipe_box b) { return b.y2 - b.y1; }
pipe_box lay_box_union(pipe_box a, pipe_box b);
/* Length of the overlap of [a1,a2) and [b1,b2) (negative: the gap). */
static inline int lay_overlap(int a1, int a2, int b1, int b2)
{
    return (a2 < b2 ? a2 : b2) - (a1 > b1 ? a1 : b1);
}
double lay_box_iou(pipe_box a, pipe_box b);
pipe_box lay_box_clip(pipe_box b, int w, int h);
/* Value at fraction q (0..1) of v[0..n) (sorted in place); 0 for n 0. */
float lay_quantile(float *v, int n, float q);

/* Text lines (lay_lines.c): group the text components cc[idx[0..n)] into
 * lines (columns and table cells kept apart, equation numbers joined to
 * their formula). Fills *lines (malloc'd, the caller frees it) with
 * boxes and metrics (line.cell = -1); bin is read for stroke widths. The
 * components' `line` fields are set to their line (-1: unused). ch: the
 * page's median component height. */
ocr_status lay_lines_build(lay_cc *cc, const int *idx, int n, float ch, PIX *bin,
                           const lay_params *p, lay_line **lines, int *n_lines,
                           ocr_err *e);
/* Box, baseline, x-height, size, stroke and crop of a line from its
 * components cc[members[0..n)]. */
void lay_line_measure(lay_line *l, const lay_cc *cc, const int *members, int n, PIX *bin,
                      const lay_params *p);

/* A working set of blocks (lay_blocks.c and friends). */
typedef struct {
    lay_block *v;
    int n, cap;
} lay_blocks;

ocr_status lay_blocks_push(lay_blocks *bs, const lay_block *b, ocr_err *e);
void lay_block_free(lay_block *b);
void lay_blocks_free(lay_blocks *bs);

/* Inverted text (lay_invert.c): dark regions of bin whose light holes
 * are rows of glyphs become dark print on white, in gray (8 bpp) and bin
 * (1 bpp, same size) alike, both changed in place. ch: the page's median
 * component height. *boxes (malloc'd, the caller frees; NULL when none)
 * gets the boxes of the inverted rows of lettering, *n their count. */
ocr_status lay_invert_text(PIX *gray, PIX *bin, float ch, const lay_params *p, pipe_box **boxes,
                           int *n, ocr_err *e);

/* Scanner borders (lay_figure.c): large, sparse components touching the
 * image edge (a dark frame around a scanned page) are erased from bin and
 * marked LAY_CC_NONTEXT. */
ocr_status lay_border_clean(PIX *bin, lay_cc *cc, int n, ocr_err *e);
/* Figures (lay_figure.c): a mask of the pictures of bin (Leptonica's
 * halftone mask, and the pixels of large components that are neither
 * glyphs nor frames around text), closed so a picture's pieces join; one
 * LAY_FIGURE block per mask component. Components lying mostly on the
 * mask are marked LAY_CC_NONTEXT (text beside a picture is not). */
ocr_status lay_figures_find(PIX *bin, lay_cc *cc, int n, float ch, lay_blocks *out,
                            ocr_err *e);

/* Tables (lay_table.c). Long rules of bin: horizontal and vertical masks
 * (1 bpp, bin's size; the caller destroys them). */
ocr_status lay_rules_find(PIX *bin, float ch, PIX **hmask, PIX **vmask, ocr_err *e);
/* Ruled tables: grids of the rule masks with >= 2 rules each way and >= 2
 * cells. Appends LAY_TABLE blocks with their cells (spans where a rule is
 * missing between two grid cells), no lines yet. */
ocr_status lay_tables_ruled(PIX *hmask, PIX *vmask, float ch, lay_blocks *out, ocr_err *e);
/* Tables ruled with horizontal rules only (booktabs: a rule above the
 * header, one under it, one at the bottom; or rules between all rows):
 * runs of >= 2 long rules of one extent (hmask, outside the tables in out)
 * around text rows whose column gaps (white on nearly every row) line up.
 * Rows are the bands between rules when most bands hold one text row,
 * else the text rows; cells span the gaps their row's ink crosses.
 * cc: the components of the image without rules. Appends LAY_TABLE blocks
 * (ruled, cells, no lines yet) like lay_tables_ruled. */
ocr_status lay_tables_hruled(PIX *hmask, const lay_cc *cc, int n, float ch, lay_blocks *out,
                             ocr_err *e);
/* A ruled table's lines, cell by cell, from the components inside it
 * (which are then marked LAY_CC_NONTEXT). */
ocr_status lay_table_fill(lay_block *t, lay_cc *cc, int n, float ch, PIX *bin,
                          const lay_params *p, ocr_err *e);
/* Unruled tables: runs of >= 3 rows of lines whose gaps line up in
 * columns, unless the columns look like running text (wide and full).
 * Appends LAY_TABLE blocks holding copies of the lines it uses, and marks
 * those lines used in lines[] (n_cc = 0). */
ocr_status lay_tables_unruled(lay_line *lines, int n_lines, const lay_page *stats,
                              const lay_params *p, lay_blocks *out, ocr_err *e);

/* Blocks and types (lay_blocks.c): group lines into paragraphs, list
 * items, headings, formulas, headers/footers and page numbers. Lines with
 * n_cc 0 are skipped. stats holds the page size and body statistics. */
ocr_status lay_blocks_from_lines(const lay_line *lines, int n_lines, const lay_page *stats,
                                 const lay_cc *cc, int n_cc, PIX *bin, const lay_params *p,
                                 lay_blocks *out, ocr_err *e);

/* Reading order (lay_order.c): sort bs in place, column-major with
 * spanning blocks in between, headers first and footers last; sets
 * block.column and returns the number of columns. */
int lay_order(lay_blocks *bs, int page_w, int page_h);

/* ====================================================================
 * Batch: inputs, runner and hOCR (pipe_inputs.c, pipe_batch.c,
 * pipe_hocr.c)
 *
 * `vlocr -j N DIR -o OUTDIR` in three steps. pipe_inputs_expand turns the
 * command line (files, directories walked recursively, @list files, "-")
 * into documents; pipe_inputs_plan gives each document its output paths
 * (OUTDIR mirrors the input tree); pipe_batch_run recognises every
 * selected page on N worker threads through a caller's callback and
 * writes each document's outputs once all its pages are done.
 *
 * Files on disk (OUTDIR/<rel> is the input's path under its directory
 * argument without its extension; a plain file argument is its base name):
 *   <rel>.md / .txt / .json / .hocr   one per format, all pages in order
 *   <rel>_images/<page>-<k>.png        crops of image blocks (Markdown)
 *   <rel>_overlay/<page>.png           --overlay
 *   .<stem>.vlocr-partial/page-N.json  finished pages of an unfinished
 *                                      multi-page document (removed when
 *                                      the document's outputs are written)
 * Every file is written to <name>.tmp.<pid> and renamed, and a document's
 * format outputs are written after its crops and overlays, so "every
 * format output exists" means "the document is complete": that is the
 * resume test, and it holds after a SIGKILL at any moment.
 * ==================================================================== */

#include <stdatomic.h>

/* ------------------------------------------ page selection (pipe_inputs.c) */

/* Pages lo..hi, 1-based, inclusive; hi INT_MAX for "N-" (to the end). */
typedef struct {
    int lo, hi;
} pipe_page_range;

typedef struct {
    pipe_page_range *v; /* malloc'd; n 0 = every page */
    int n;
} pipe_pages;

/* "1-5,9,12-" (spaces allowed around items). OCR_E_ARG with a message
 * naming the bad item ("pages: '3-1' is not a range", "pages: '0' is not a
 * page number (pages count from 1)"). *sel is zeroed on failure; free with
 * pipe_pages_free. NULL or "" selects every page. */
ocr_status pipe_pages_parse(pipe_pages *sel, const char *spec, ocr_err *e);
/* Whether 1-based page `page` is selected (always true for n 0). */
bool pipe_pages_has(const pipe_pages *sel, int page);
void pipe_pages_free(pipe_pages *sel);

/* ------------------------------------------------- inputs (pipe_inputs.c) */

typedef struct {
    /* Globs (fnmatch(3), no flags) for files found in directories, matched
     * against the path relative to the directory argument; a glob without
     * '/' also matches the base name. A file is taken when it matches an
     * include (or, with no include, has an image or PDF extension: png jpg
     * jpeg tif tiff bmp webp pnm pbm pgm ppm gif jp2 j2k pdf, any case) and
     * no exclude. An exclude that matches a directory prunes it. Explicit
     * file arguments and list entries are always taken. */
    const char *const *include;
    int n_include;
    const char *const *exclude;
    int n_exclude;
    /* A directory never walked into (the output directory when it lies
     * inside an input tree); NULL: none. */
    const char *skip_dir;
} pipe_inputs_params;

/* One document: an input file and where its results go. */
typedef struct {
    char *path;  /* as given or found; "-" = stdin */
    char *rel;   /* what output names derive from: the path under its
                    directory argument, else the base name ("stdin") */
    char *error; /* non-NULL: the argument failed during expansion (an
                    unreadable directory or list file): the reason. The
                    runner reports it as a failed document. */
    /* Set by pipe_inputs_plan (all NULL without outputs = stdout): */
    char *out[PIPE_FMT_COUNT]; /* per format; NULL = not wanted */
    char *base;                /* output path without extension */
    char *images_dir;          /* <base>_images */
    char *images_link;         /* <stem>_images, as Markdown links it */
    char *overlay_dir;         /* <base>_overlay */
} pipe_input;

typedef struct {
    pipe_input *v;
    int n, cap;
    char **notes; /* things the user should hear (collisions, skipped
                     symbolic links, duplicates), in order */
    int n_notes, cap_notes;
    bool from_dirs; /* some argument was a directory or a list file */
} pipe_inputs;

/* Expand args[0..n): a directory is walked recursively in byte order of
 * names (hidden entries and symbolic links to directories skipped; an
 * unreadable subdirectory becomes a failed entry); "@FILE" reads one path
 * per line (blank lines and lines starting with '#' ignored; "@-" reads
 * the list from stdin; relative paths are taken from the current
 * directory; a listed directory is walked); "-" is stdin; anything else is
 * a file (a missing one fails when the runner opens it). The same path
 * given twice is kept once (noted). *out is zeroed first; free with
 * pipe_inputs_free. Fails only on OOM. p NULL: no globs. */
ocr_status pipe_inputs_expand(pipe_inputs *out, char *const *args, int n,
                              const pipe_inputs_params *p, ocr_err *e);

/* Output paths for every document, formats fmt[0..n_fmt) (pipe_format).
 * out_dir: mirror the inputs under it (rel without its extension + "." +
 * format extension); when two documents map to the same name, the first in
 * byte order of paths keeps it and the others keep their input extension
 * ("a.png" -> a.png.md), then "~2", "~3"...; each case is noted. out_file
 * (one document): that file for a single format, else out_file without a
 * .md/.mmd/.markdown/.txt/.json/.hocr extension plus each format's.
 * Neither: nothing planned (results go to the caller, see
 * PIPE_EV_OUTPUT). */
ocr_status pipe_inputs_plan(pipe_inputs *in, const char *out_dir, const char *out_file,
                            const int *fmt, int n_fmt, ocr_err *e);
void pipe_inputs_free(pipe_inputs *in);
/* Add a note (formatted) to in->notes; false on OOM. */
bool pipe_inputs_note(pipe_inputs *in, const char *fmt, ...) OCR_PRINTF(2, 3);

/* ---------------------------------------------------- runner (pipe_batch.c) */

/* One page handed to the recogniser. */
typedef struct {
    const pipe_input *in; /* its document */
    int doc;              /* index of the document in the inputs */
    int page;             /* 0-based page of the source */
    int n_pages;          /* pages in the source */
    int worker;           /* 0..n_workers-1 */
    const char *name;     /* "path" or "path page 3", for messages */
} pipe_batch_page;

typedef struct {
    int docs;            /* documents in the batch */
    int docs_done, docs_skipped, docs_failed;
    long pages_done;     /* pages recognised in this run */
    long pages_total;    /* pages this run has to recognise; documents not
                            opened yet count one page each until opened */
    bool total_exact;    /* every document has been opened or skipped */
    double elapsed_s;
    double pages_per_s;  /* pages_done / elapsed_s (0 before the first) */
    double eta_s;        /* (pages_total - pages_done) / pages_per_s; -1
                            before the first page */
} pipe_batch_progress;

typedef enum {
    PIPE_EV_PROGRESS = 0, /* periodic, and once at the end */
    PIPE_EV_PAGE,         /* a page was recognised: page, pg */
    PIPE_EV_DOC_DONE,     /* a document's outputs are written: in */
    PIPE_EV_DOC_SKIPPED,  /* already complete (resume): in */
    PIPE_EV_DOC_FAILED,   /* in, msg (the reason; usually names the file) */
    PIPE_EV_OUTPUT,       /* no outputs planned: a document rendered in the
                             first format, data[0..len), in input order */
    PIPE_EV_NOTE          /* msg (stale temporaries removed, ...) */
} pipe_batch_event_kind;

typedef struct {
    pipe_batch_event_kind kind;
    int doc;                     /* -1 when not about a document */
    const pipe_input *in;
    const pipe_batch_page *page; /* PIPE_EV_PAGE */
    const pipe_page *pg;         /* PIPE_EV_PAGE */
    const char *msg;
    const char *data;            /* PIPE_EV_OUTPUT */
    size_t len;
    pipe_batch_progress progress; /* always filled */
} pipe_batch_event;

/* The recogniser: fill pg (zeroed, with number, width and height set)
 * from pix, the decoded page. `state` is the worker's (state_create's, or
 * NULL). Called on worker threads, one page per worker at a time. */
typedef ocr_status (*pipe_batch_process_fn)(void *ctx, void *state, const pipe_batch_page *job,
                                            PIX *pix, pipe_page *pg, ocr_err *e);

typedef struct {
    int n_workers;         /* threads (1); the calling thread is worker 0.
                              With more than one, BLAS runs single-threaded
                              for the run (one level of parallelism) */
    bool force;            /* redo complete documents (false: resume) */
    const pipe_pages *pages; /* page selection (NULL: every page) */
    int fmt[PIPE_FMT_COUNT]; /* formats written (pipe_format) */
    int n_fmt;
    bool crops;            /* save crops of image blocks (true) when a
                              Markdown output is planned */
    bool overlay;          /* write <base>_overlay/<page>.png (needs outputs) */
    img_limits lim;        /* decoding limits and PDF resolution */
    /* the recogniser; state_create is called on a worker's thread before its
     * first page (NULL: state NULL), state_destroy at the end */
    void *ctx;
    pipe_batch_process_fn process;
    ocr_status (*state_create)(void *ctx, int worker, void **state, ocr_err *e);
    void (*state_destroy)(void *ctx, void *state);
    /* reports: called one at a time (never concurrently), from any thread */
    void (*on_event)(void *ctx, const pipe_batch_event *ev);
    double progress_interval_s; /* least time between PROGRESS events (0.25) */
    /* Cancellation: when *cancel becomes non-zero (a signal handler may set
     * it), no page starts any more; pages in progress finish, and documents
     * whose every page is done are written; the others are left for the
     * next run (nothing partial under a final name). NULL: none. */
    atomic_int *cancel;
} pipe_batch_params;

/* One worker, every format none, crops on, overlay off, default limits,
 * progress every 0.25 s. */
pipe_batch_params pipe_batch_default_params(void);

typedef struct {
    int docs, done, skipped, failed;
    int cancelled;        /* documents left unfinished by cancellation */
    bool was_cancelled;
    long pages;           /* recognised in this run */
    long pages_resumed;   /* taken from .vlocr-partial of an earlier run */
    int stale_removed;    /* temporaries of killed runs removed */
    double seconds, pages_per_s;
    char **reasons;       /* [docs]: the failure reason of a failed document,
                             else NULL */
} pipe_batch_result;

/* Run the batch over in (planned or not). Before any work, temporaries
 * left by killed runs (<output>.tmp.<pid> of a process that no longer
 * exists, in the output directories) are removed. Then each document is,
 * in input order: skipped when every planned output exists (unless force;
 * stdin is never skipped), else opened, its selected pages recognised
 * (finished pages of an earlier run's .vlocr-partial are reused), and
 * written. A document whose input, any page, or any output fails is
 * reported (PIPE_EV_DOC_FAILED) with its reason and the batch goes on;
 * the failed document gets no format output. Returns OCR_OK when the batch
 * ran, whatever the documents did; an error only when it could not run
 * (OOM, a recogniser state that cannot be made, bad params). r is filled
 * either way; free with pipe_batch_result_free. */
ocr_status pipe_batch_run(const pipe_inputs *in, const pipe_batch_params *p,
                          pipe_batch_result *r, ocr_err *e);
void pipe_batch_result_free(pipe_batch_result *r);

/* ------------------------------------------------------- hOCR (pipe_hocr.c)
 *
 * XHTML 1.0 with the hOCR 1.2 classes: one ocr_page per page (bbox of the
 * page, ppageno), one ocr_carea + ocr_par per block (ocr_photo for image
 * blocks), one ocr_line per non-blank line of the block (pipe_line) with
 * the line's box as its bbox and x_wconf (0..100) from the line's
 * confidence when known. Lines of a block of several lines whose box is
 * the block's whole box (DeepSeek-OCR locates blocks, not lines) are
 * placed as the block's box cut into equal horizontal bands instead, an
 * estimate. A block without lines falls back to its text: one ocr_line per
 * line of the text, bbox the block's i-th box when the block has one box
 * per line, else the equal bands; x_wconf from the block's confidence.
 * Boxless lines have no bbox. Text is escaped; invalid UTF-8 becomes
 * U+FFFD and control characters a space. */
ocr_status pipe_hocr_render(const pipe_doc *d, char **out, size_t *len, ocr_err *e);

/* ====================================================================
 * The vlocr-nano page path (pipe_nano.c) and Markdown assembly
 * (pipe_assemble.c)
 *
 * A page is cleaned and cut into blocks (lay_page_run), every text line's
 * crop of the cleaned grayscale is read by vlocr-nano (display formulas
 * with the formula task, everything else as text), and the typed blocks
 * plus their lines' texts are assembled into the document model: each
 * block's text is its Markdown (headings `#`/`##`, paragraphs joined and
 * de-hyphenated, `-`/`1.` lists, `$$…$$` formulas, pipe tables or HTML
 * tables when cells span, page furniture as plain text), its box is in
 * the input page's pixels, so the writers, the crops of `image` blocks and
 * the overlay work as for DeepSeek-OCR pages. The Markdown writer leaves
 * out header, footer and page_number blocks of pages without raw model
 * output (these pages); JSON keeps them with their types.
 * ==================================================================== */

/* Texts of a layout page's lines: text[b][l] is block b's line l
 * (NULL: not read). The arrays are the caller's. */
typedef const char *const *const *pipe_line_texts;
/* Confidences of a layout page's lines, conf[b][l] in [0, 1] (< 0: not
 * known); NULL (whole, or a block's row): all unknown. */
typedef const float *const *pipe_line_confs;

/* Markdown of block bi of lp from its lines' texts. *out malloc'd (""
 * when the block has no text; figures give ""). */
ocr_status pipe_assemble_block(const lay_page *lp, int bi, const char *const *lines, char **out,
                               ocr_err *e);
/* Heading level of a heading block: 1 ("#") when its lines are at least
 * 1.5 times the body's size (lay_page.size; x-height or line box heights
 * when unknown), else 2 ("##"); the layout's level when the page has no
 * body statistics. */
int pipe_assemble_heading_level(const lay_page *lp, const lay_block *b);
/* Append lp's blocks to pg in reading order: type (lay_type_doc_label),
 * box (through lay_clean_map_box when clean is non-NULL; else as is) and
 * Markdown text. Consecutive list items of one column become one "list"
 * block with one box per item. Every line that was read (text non-NULL;
 * figures' lines never are) becomes a pipe_line of its block: its ink box
 * (lay_line.box, mapped like the block's; inside the block's box), its
 * text as read, its confidence from conf (-1 when conf is NULL). Table
 * lines come cell by cell. A block's confidence is its lines' (known ones),
 * weighted by text length; -1 when none is known. */
ocr_status pipe_assemble_page(const lay_page *lp, pipe_line_texts text, pipe_line_confs conf,
                              const lay_clean_result *clean, pipe_page *pg, ocr_err *e);
/* Paragraph joining: lines[0..n) trimmed and joined with spaces; a line
 * ending in a letter and '-' followed by one starting in lowercase joins
 * without the hyphen, other hyphen ends join without a space. NULL and
 * blank lines are skipped. *out malloc'd. */
ocr_status pipe_assemble_join(const char *const *lines, int n, char **out, ocr_err *e);

/* The vlocr-nano page driver: one per worker (the recogniser is one call
 * at a time, and its weights are not shareable across recognisers). */
typedef struct pipe_nano pipe_nano;

typedef struct {
    lay_params lay;    /* lay_default_params() */
    /* Threads reading one page's crops (vis_nano_recognize_many): 1 with
     * several workers (one level of parallelism), <= 0 the BLAS count. */
    int threads;
    bool batch;        /* crops of a page through vis_nano_recognize_many
                          (true); false: vis_nano_recognize crop by crop */
    int beam_text, beam_formula; /* beam widths (0: the recogniser's defaults) */
} pipe_nano_params;

pipe_nano_params pipe_nano_default_params(void);
/* Whether DIR/config.json has a "vlocr_nano" section. */
bool pipe_nano_is_model_dir(const char *dir);
/* Load the recogniser of DIR (p copied; NULL: defaults). */
ocr_status pipe_nano_create(pipe_nano **out, const char *dir, const pipe_nano_params *p,
                            ocr_err *e);
void pipe_nano_destroy(pipe_nano **n);
/* Fill pg (blocks appended; width and height set from pix) from the page
 * image pix (any depth): cleanup, layout, recognition, assembly. */
ocr_status pipe_nano_page(pipe_nano *n, PIX *pix, pipe_page *pg, ocr_err *e);
/* The same with the layout kept: *lp and *clean filled (the caller frees
 * them with lay_page_free and lay_clean_result_free), for tests and
 * overlays of the layout. */
ocr_status pipe_nano_page_layout(pipe_nano *n, PIX *pix, pipe_page *pg, lay_page *lp,
                                 lay_clean_result *clean, ocr_err *e);

#endif /* VLOCR_PIPELINE_PIPE_H */

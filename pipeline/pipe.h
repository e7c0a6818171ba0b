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
 * A document is pages of blocks: {type, boxes, text, confidence}. The
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

typedef enum { PIPE_FMT_MD = 0, PIPE_FMT_TXT, PIPE_FMT_JSON, PIPE_FMT_COUNT } pipe_format;

/* "md"/"markdown"/"mmd", "txt"/"text", "json"; -1 when unknown. */
int pipe_format_parse(const char *s);
/* File extension of a format, without the dot ("md", "txt", "json"). */
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
 * crops?}], raw, stats}]}. */
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

#endif /* VLOCR_PIPELINE_PIPE_H */

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

#endif /* VLOCR_PIPELINE_PIPE_H */

/* pipeline/img_png.c — PNG decoding with libpng, driven directly.
 *
 * Leptonica creates its libpng reader with the default handlers, which
 * print to stderr; here libpng's errors longjmp back with their message and
 * its warnings are kept, so nothing is printed and the caller gets a status.
 *
 * Rows are decoded straight into the PIX, as bytes in PNG order: bits
 * most significant first, then R G B A. Leptonica keeps pixels in 32-bit
 * words with the first pixel in the most significant bits, so the PNG byte
 * order is its word order and one pixEndianByteSwap() at the end (a no-op on
 * big-endian machines) finishes the job; no row buffer, no per-pixel copy.
 *
 * What the PIX holds (the "natural depth", as few bits as the file needs):
 *   1 bpp   1-bit gray, and 1-bit black/white palettes (1 = black, as in
 *           Leptonica, so libpng's 0 = black is inverted);
 *   8 bpp   gray of any depth (2/4-bit spread over 0..255, 16-bit keeps the
 *           high byte) and palettes whose colours are all gray;
 *   32 bpp  colour; spp = 4 when the file has transparency (alpha channel
 *           or tRNS), which img_to_gray8/img_to_rgb32 composite onto white.
 */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

typedef enum { OUT_G1, OUT_G8, OUT_RGB32 } png_out;

/* Everything that must survive a longjmp lives here, in the caller's frame
 * (see img_png_decode), never in locals of the function that called setjmp. */
typedef struct {
    jmp_buf jb;
    const img_source *src;
    const img_limits *lim;
    ocr_err *e;
    png_structp png;
    png_infop info;
    PIX *pix;
    size_t pos;        /* read position in src->data */
    bool truncated;    /* the read callback ran out of data */
    const char *stage; /* what was being read, for messages */
    char msg[160];     /* libpng's error */
    char warn[160];    /* its first warning */
    int n_warn;
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *cx = png_get_error_ptr(png);
    snprintf(cx->msg, sizeof cx->msg, "%s", msg ? msg : "unknown error");
    longjmp(cx->jb, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    png_ctx *cx = png_get_error_ptr(png);
    if (cx->n_warn++ == 0) snprintf(cx->warn, sizeof cx->warn, "%s", msg ? msg : "");
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
    png_ctx *cx = png_get_io_ptr(png);
    if (n > cx->src->len - cx->pos) {
        cx->truncated = true;
        png_error(png, "file ends early");
    }
    memcpy(dst, cx->src->data + cx->pos, n);
    cx->pos += n;
}

/* Status and message after libpng gave up. */
static ocr_status png_failure(png_ctx *cx)
{
    const char *name = cx->src->name;
    if (cx->truncated)
        return ocr_err_set(cx->e, OCR_E_FORMAT,
                           "%s: truncated PNG data (file ends after %zu bytes, %s)", name,
                           cx->src->len, cx->stage);
    if (strstr(cx->msg, "memory"))
        return ocr_err_set(cx->e, OCR_E_NOMEM, "%s: out of memory decoding PNG data (%s)", name,
                           cx->msg);
    if (strstr(cx->msg, "user limit"))
        return ocr_err_set(cx->e, OCR_E_LIMIT, "%s: PNG image over the limits (%s; --max-pixels)",
                           name, cx->msg);
    if (cx->n_warn)
        return ocr_err_set(cx->e, OCR_E_FORMAT, "%s: corrupt PNG data (%s; first warning: %s)",
                           name, cx->msg, cx->warn);
    return ocr_err_set(cx->e, OCR_E_FORMAT, "%s: corrupt PNG data (%s)", name, cx->msg);
}

/* Chooses the libpng transforms that turn the file's pixels into one of the
 * three layouts. `pal_map` receives the gray value of each palette index
 * (OUT_G8 from a palette); *invert says to flip the bits of a 1-bit
 * palette whose index 0 is black. */
static png_out png_setup(png_ctx *cx, int *spp, bool *from_palette, bool *invert,
                         uint8_t pal_map[256])
{
    png_structp png = cx->png;
    png_infop info = cx->info;
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    bool trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    *spp = 3;
    *from_palette = false;
    *invert = false;
    if (depth == 16) png_set_strip_16(png); /* keep the high byte, as img_to_gray8 does */

    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_colorp pal = NULL;
        int n_pal = 0;
        if (!png_get_PLTE(png, info, &pal, &n_pal) || n_pal < 1)
            png_error(png, "palette image without a PLTE chunk");
        bool opaque = true;
        if (trns) {
            png_bytep alpha = NULL;
            int n_alpha = 0;
            png_get_tRNS(png, info, &alpha, &n_alpha, NULL);
            for (int i = 0; i < n_alpha && i < n_pal && alpha; i++) opaque &= alpha[i] == 255;
        }
        bool gray = true;
        for (int i = 0; i < n_pal; i++)
            gray &= pal[i].red == pal[i].green && pal[i].red == pal[i].blue;
        if (opaque && gray) {
            /* Indices past the palette are a (benign) error in the file;
             * they read as black. */
            memset(pal_map, 0, 256);
            for (int i = 0; i < n_pal && i < 256; i++) pal_map[i] = pal[i].red;
            *from_palette = true;
            if (depth == 1 && n_pal == 2 &&
                ((pal_map[0] == 0 && pal_map[1] == 255) ||
                 (pal_map[0] == 255 && pal_map[1] == 0))) {
                *invert = pal_map[0] == 0;
                return OUT_G1;
            }
            if (depth < 8) png_set_packing(png); /* one index per byte */
            return OUT_G8;
        }
        /* With a tRNS chunk libpng adds the alpha channel itself and the
         * filler does nothing. */
        png_set_palette_to_rgb(png);
        png_set_filler(png, 0xff, PNG_FILLER_AFTER);
        *spp = opaque ? 3 : 4;
        return OUT_RGB32;
    }
    if (ctype == PNG_COLOR_TYPE_GRAY && !trns) {
        if (depth == 1) {
            png_set_invert_mono(png);
            return OUT_G1;
        }
        if (depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        return OUT_G8;
    }
    /* Everything else becomes R G B A bytes. */
    if (trns) png_set_tRNS_to_alpha(png); /* also expands gray below 8 bits */
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    if (trns || (ctype & PNG_COLOR_MASK_ALPHA))
        *spp = 4;
    else
        png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    return OUT_RGB32;
}

/* Decodes into cx->pix. The only local that outlives setjmp's return is
 * `cx`, which is never modified. */
static ocr_status png_run(png_ctx *cx)
{
    if (setjmp(cx->jb)) return png_failure(cx);
    const char *name = cx->src->name;
    cx->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, cx, png_on_error, png_on_warning);
    if (!cx->png) return ocr_err_set(cx->e, OCR_E_NOMEM, "%s: out of memory starting libpng", name);
    cx->info = png_create_info_struct(cx->png);
    if (!cx->info)
        return ocr_err_set(cx->e, OCR_E_NOMEM, "%s: out of memory starting libpng", name);
    png_structp png = cx->png;
    png_infop info = cx->info;

    png_set_read_fn(png, cx, png_read_mem);
    /* libpng's own guards: its per-side limit (the header was already
     * checked against max_pixels as an area), at most 1000 ancillary
     * chunks, none over 8 MB once decompressed. */
    uint64_t side = cx->lim->max_pixels < 0x7fffffffu ? cx->lim->max_pixels : 0x7fffffffu;
    png_set_user_limits(png, (png_uint_32)side, (png_uint_32)side);
    png_set_chunk_cache_max(png, 1000);
    png_set_chunk_malloc_max(png, 8000000);
    /* Skip every ancillary chunk but pHYs and tRNS (text, ICC profiles,
     * gamma: nothing here uses them, and zTXt/iCCP would be inflated). */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_AS_DEFAULT, (png_const_bytep) "pHYs", 1);
    /* Recoverable problems (a palette index past the palette, extra
     * compressed data) are warnings, as in every image viewer. */
    png_set_benign_errors(png, 1);

    cx->stage = "inside the header chunks";
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((uint64_t)w * h > cx->lim->max_pixels)
        return ocr_err_set(cx->e, OCR_E_LIMIT, "%s: PNG image is %ux%u, over the pixel limit", name,
                           (unsigned)w, (unsigned)h);

    int spp;
    bool from_palette, invert;
    uint8_t pal_map[256];
    png_out mode = png_setup(cx, &spp, &from_palette, &invert, pal_map);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int depth = mode == OUT_G1 ? 1 : mode == OUT_G8 ? 8 : 32;
    size_t want = mode == OUT_G1 ? ((size_t)w + 7) / 8 : (size_t)w * (size_t)(depth / 8);
    if (png_get_rowbytes(png, info) != want)
        return ocr_err_set(
            cx->e, OCR_E_UNSUPPORTED,
            "%s: unsupported PNG layout (colour type %d, %d bits: %zu bytes per row, "
            "expected %zu)",
            name, png_get_color_type(png, info), png_get_bit_depth(png, info),
            (size_t)png_get_rowbytes(png, info), want);

    ocr_status rc = img_pix_create(&cx->pix, cx->src, w, h, depth, cx->e);
    if (rc != OCR_OK) return rc;
    PIX *pix = cx->pix;
    if (depth == 32) pixSetSpp(pix, spp);
    l_uint32 *data = pixGetData(pix);
    size_t wpl = (size_t)pixGetWpl(pix);

    /* Interlaced files need every pass over every row (libpng merges the
     * passes into what the row already holds); plain files take one. */
    cx->stage = "inside the image data";
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < h; y++) png_read_row(png, (png_bytep)(data + y * wpl), NULL);
    cx->stage = "before the IEND chunk";
    png_read_end(png, NULL);

    if (from_palette) {
        for (png_uint_32 y = 0; y < h; y++) {
            uint8_t *row = (uint8_t *)(data + y * wpl);
            if (mode == OUT_G1) {
                if (invert)
                    for (size_t i = 0; i < want; i++) row[i] = (uint8_t)~row[i];
            } else {
                for (png_uint_32 x = 0; x < w; x++) row[x] = pal_map[row[x]];
            }
        }
    }
    pixEndianByteSwap(pix);
    if (depth < 32) pixSetPadBits(pix, 0);

    png_uint_32 xres = 0, yres = 0;
    int unit = 0;
    if (png_get_pHYs(png, info, &xres, &yres, &unit) && unit == PNG_RESOLUTION_METER)
        pixSetResolution(pix, (l_int32)(xres * 0.0254 + 0.5), (l_int32)(yres * 0.0254 + 0.5));
    pixSetInputFormat(pix, IFF_PNG);
    return OCR_OK;
}

ocr_status img_png_decode(PIX **out, const img_source *src, const img_limits *lim, ocr_err *e)
{
    *out = NULL;
    png_ctx cx;
    memset(&cx, 0, sizeof cx);
    cx.src = src;
    cx.lim = lim;
    cx.e = e;
    cx.stage = "before decoding";
    ocr_status rc = png_run(&cx);
    if (cx.png) png_destroy_read_struct(&cx.png, cx.info ? &cx.info : NULL, NULL);
    if (rc == OCR_OK)
        *out = cx.pix;
    else
        pixDestroy(&cx.pix);
    return rc;
}

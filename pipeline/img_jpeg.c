/* pipeline/img_jpeg.c — JPEG decoding with libjpeg(-turbo), driven directly.
 *
 * Leptonica creates its libjpeg decoder with jpeg_std_error(), which prints
 * warnings ("Premature end of JPEG file") and errors to stderr, and which
 * turns a file that stops early into an image whose missing part is gray.
 * Here errors longjmp back with their message, warnings are kept, and the
 * two warnings that mean "the image data is missing" are fatal:
 *
 *   JWRN_JPEG_EOF    the file ends. During the headers and, for
 *                    progressive/multi-scan files, while the scans are
 *                    read in jpeg_start_decompress: fatal at once. While
 *                    a single-scan file's rows are decoded libjpeg also
 *                    warns when it merely looks ahead past data it does
 *                    not need (a file without its final EOI marker), so
 *                    there the next warning decides:
 *   JWRN_HIT_MARKER  a scan needed more data than it has: the file was
 *                    cut (after JWRN_JPEG_EOF) or is corrupt. Fatal.
 *
 * Memory. A 1 KB file may claim 14000x14000 pixels; libjpeg would fill
 * 200 MB (gray) or 784 MB (colour) with gray for it, and for a progressive
 * or multi-scan file it first allocates a coefficient buffer for the whole
 * image (2 bytes per pixel per full-resolution component: 1.2 GB for
 * 14000x14000 colour without subsampling). Three guards, all applied
 * before jpeg_start_decompress allocates anything of that size:
 *   - the pixel limit (img_io.c, from img_jpeg_dims);
 *   - the smallest possible size of the first scan (img_jpeg_dims sets
 *     min_len, which img_io.c checks): a Huffman-coded sequential scan
 *     spends at least 2 bits on every 8x8 block it covers (a DC code and
 *     an end-of-block code, each at least 1 bit), a progressive DC scan
 *     at least 1 bit. Arithmetic coding has no such floor;
 *   - for progressive/multi-scan files, the coefficient buffer may use at
 *     most JPEG_COEF_BYTES_PER_PIXEL bytes per pixel of the pixel limit,
 *     which is what the largest image the limit admits costs as a 32 bpp
 *     PIX: with the default 200 megapixels, 800 MB. Gray, 4:2:0 and 4:2:2
 *     colour need at most 2, 3 and 4 bytes per pixel and so always pass;
 *     4:4:4 colour (6) and CMYK (8) pass up to 2/3 and 1/2 of the limit.
 *     libjpeg's own max_memory_to_use is set to the same budget, so that
 *     a miscount here still ends in an error rather than an allocation.
 * And at most JPEG_MAX_SCANS scans, as in libjpeg-turbo's TurboJPEG: each
 * progressive scan walks the whole coefficient buffer, so a file of
 * thousands of tiny scans would cost minutes of CPU.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "pipeline/pipe.h"

#define JPEG_COEF_BYTES_PER_PIXEL 4.0
#define JPEG_MAX_SCANS 500

enum { PHASE_HEADER, PHASE_SCANS, PHASE_ROWS };

typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg hands back &pub */
    jmp_buf jb;
    int phase;
    bool rows_eof_ok; /* JWRN_JPEG_EOF while rows are decoded waits for JWRN_HIT_MARKER */
    bool eof;         /* JWRN_JPEG_EOF seen */
    bool hit_marker;  /* JWRN_HIT_MARKER seen */
    bool too_many_scans;
    char msg[JMSG_LENGTH_MAX];  /* the error, or the fatal warning */
    char warn[JMSG_LENGTH_MAX]; /* the first other warning */
} jpeg_err;

/* Everything that must survive a longjmp lives here, in the caller's frame,
 * never in locals of the function that called setjmp. */
typedef struct {
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    struct jpeg_progress_mgr progress;
    bool created;
    const img_source *src;
    const img_limits *lim; /* NULL: read the header only */
    ocr_err *e;
    img_dims dims;
    PIX *pix;
} jpeg_ctx;

static void jpeg_on_error(j_common_ptr c)
{
    jpeg_err *er = (jpeg_err *)c->err;
    (*c->err->format_message)(c, er->msg);
    longjmp(er->jb, 1);
}

static void jpeg_on_message(j_common_ptr c, int level)
{
    jpeg_err *er = (jpeg_err *)c->err;
    if (level >= 0) return; /* trace messages */
    er->pub.num_warnings++;
    int code = er->pub.msg_code;
    if (code == JWRN_JPEG_EOF) {
        er->eof = true;
        if (er->phase == PHASE_ROWS && er->rows_eof_ok) return;
    } else if (code == JWRN_HIT_MARKER) {
        er->hit_marker = true;
    } else {
        if (!er->warn[0]) (*c->err->format_message)(c, er->warn);
        return;
    }
    (*c->err->format_message)(c, er->msg);
    longjmp(er->jb, 1);
}

static void jpeg_on_output(j_common_ptr c) { (void)c; }

static void jpeg_on_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err *er = (jpeg_err *)c->err;
        er->too_many_scans = true;
        longjmp(er->jb, 1);
    }
}

/* Status and message after libjpeg gave up. */
static ocr_status jpeg_failure(jpeg_ctx *cx)
{
    const char *name = cx->src->name;
    const jpeg_err *er = &cx->err;
    const j_decompress_ptr ci = &cx->ci;
    char where[96];
    if (er->phase == PHASE_HEADER)
        snprintf(where, sizeof where, "inside the header");
    else if (er->phase == PHASE_SCANS)
        snprintf(where, sizeof where, "in scan %d", ci->input_scan_number);
    else
        snprintf(where, sizeof where, "at row %u of %u", (unsigned)ci->output_scanline,
                 (unsigned)ci->output_height);
    if (er->too_many_scans)
        return ocr_err_set(cx->e, OCR_E_FORMAT,
                           "%s: corrupt JPEG data (more than %d scans; refused as a CPU hazard)",
                           name, JPEG_MAX_SCANS);
    if (er->eof)
        return ocr_err_set(cx->e, OCR_E_FORMAT,
                           "%s: truncated JPEG data (file ends after %zu bytes, %s)", name,
                           cx->src->len, where);
    if (er->hit_marker)
        return ocr_err_set(cx->e, OCR_E_FORMAT,
                           "%s: corrupt JPEG data (a marker cuts the image data short, %s)", name,
                           where);
    switch (er->pub.msg_code) {
    case JERR_OUT_OF_MEMORY:
        return ocr_err_set(cx->e, OCR_E_NOMEM, "%s: out of memory decoding JPEG data (%s)", name,
                           er->msg);
    case JERR_NO_BACKING_STORE:
        return ocr_err_set(cx->e, OCR_E_LIMIT,
                           "%s: JPEG decoding needs more memory than the pixel limit allows "
                           "(--max-pixels)",
                           name);
    case JERR_BAD_PRECISION:
    case JERR_SOF_UNSUPPORTED:
    case JERR_NOT_COMPILED:
    case JERR_CONVERSION_NOTIMPL:
        return ocr_err_set(cx->e, OCR_E_UNSUPPORTED, "%s: unsupported JPEG (%s)", name, er->msg);
    default:
        break;
    }
    if (er->phase == PHASE_HEADER)
        return ocr_err_set(cx->e, OCR_E_FORMAT,
                           "%s: corrupt JPEG data (cannot read the header: %s)", name, er->msg);
    if (er->warn[0])
        return ocr_err_set(cx->e, OCR_E_FORMAT, "%s: corrupt JPEG data (%s, %s; first warning: %s)",
                           name, er->msg, where, er->warn);
    return ocr_err_set(cx->e, OCR_E_FORMAT, "%s: corrupt JPEG data (%s, %s)", name, er->msg, where);
}

/* What the header says, and the limits that need only the header. */
static ocr_status jpeg_header(jpeg_ctx *cx)
{
    j_decompress_ptr ci = &cx->ci;
    const char *name = cx->src->name;
    cx->err.phase = PHASE_HEADER;
    jpeg_read_header(ci, TRUE);
    cx->dims.w = ci->image_width;
    cx->dims.h = ci->image_height;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cx->dims.depth = 8;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
    case JCS_CMYK:
    case JCS_YCCK:
        cx->dims.depth = 32;
        break;
    default:
        return ocr_err_set(cx->e, OCR_E_UNSUPPORTED,
                           "%s: JPEG with %d components in an unknown colour space (1, 3 or 4 "
                           "supported)",
                           name, ci->num_components);
    }
    if (ci->arith_code) return OCR_OK; /* no lower bound on its size */
    /* jpeg_read_header stops after the first scan's header; what follows
     * must hold at least that scan's data. */
    if (ci->progressive_mode && ci->Ss != 0)
        return ocr_err_set(cx->e, OCR_E_FORMAT,
                           "%s: corrupt JPEG data (the first progressive scan is not a DC scan)",
                           name);
    double blocks = 0;
    for (int i = 0; i < ci->comps_in_scan; i++)
        blocks += (double)ci->cur_comp_info[i]->width_in_blocks *
                  (double)ci->cur_comp_info[i]->height_in_blocks;
    double bits = ci->progressive_mode ? 1 : 2;
    cx->dims.min_len = (double)(cx->src->len - ci->src->bytes_in_buffer) + blocks * bits / 8;
    return OCR_OK;
}

/* Coefficient memory of a progressive or multi-scan file (jdcoefct.c:
 * one JBLOCK per block, rows and columns padded to the sampling factors). */
static double coef_bytes(j_decompress_ptr ci)
{
    double total = 0;
    for (int c = 0; c < ci->num_components; c++) {
        const jpeg_component_info *cp = &ci->comp_info[c];
        uint64_t hs = cp->h_samp_factor > 0 ? (uint64_t)cp->h_samp_factor : 1;
        uint64_t vs = cp->v_samp_factor > 0 ? (uint64_t)cp->v_samp_factor : 1;
        uint64_t bw = (cp->width_in_blocks + hs - 1) / hs * hs;
        uint64_t bh = (cp->height_in_blocks + vs - 1) / vs * vs;
        total += (double)bw * (double)bh * (double)sizeof(JBLOCK);
    }
    return total;
}

/* Adobe (Photoshop) writes CMYK inverted: 255 = no ink. */
static void cmyk_to_rgb(l_uint32 *line, const uint8_t *src, size_t w, bool inverted)
{
    for (size_t x = 0; x < w; x++, src += 4) {
        unsigned c = src[0], m = src[1], y = src[2], k = src[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        unsigned r = (c * k + 127) / 255, g = (m * k + 127) / 255, b = (y * k + 127) / 255;
        line[x] = (l_uint32)r << L_RED_SHIFT | (l_uint32)g << L_GREEN_SHIFT |
                  (l_uint32)b << L_BLUE_SHIFT | 0xffu << L_ALPHA_SHIFT;
    }
}

static ocr_status jpeg_decode(jpeg_ctx *cx)
{
    j_decompress_ptr ci = &cx->ci;
    const char *name = cx->src->name;
    double budget = JPEG_COEF_BYTES_PER_PIXEL * (double)cx->lim->max_pixels;
    bool cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
    if (cx->dims.depth == 8)
        ci->out_color_space = JCS_GRAYSCALE;
    else if (cmyk)
        ci->out_color_space = JCS_CMYK;
    else
#ifdef L_BIG_ENDIAN
        ci->out_color_space = JCS_EXT_RGBA; /* bytes R G B A = the PIX word */
#else
        ci->out_color_space = JCS_EXT_ABGR; /* bytes A B G R = the PIX word */
#endif
    jpeg_calc_output_dimensions(ci);
    JDIMENSION w = ci->output_width, h = ci->output_height;
    if ((uint64_t)w * h > cx->lim->max_pixels)
        return ocr_err_set(cx->e, OCR_E_LIMIT, "%s: JPEG image is %ux%u, over the pixel limit",
                           name, (unsigned)w, (unsigned)h);
    if (jpeg_has_multiple_scans(ci)) {
        double need = coef_bytes(ci);
        if (need > budget)
            return ocr_err_set(cx->e, OCR_E_LIMIT,
                               "%s: %s JPEG of %ux%u needs %.4g MB of coefficient memory, over "
                               "the %.4g MB that the pixel limit allows (%g bytes per pixel; "
                               "--max-pixels)",
                               name, ci->progressive_mode ? "progressive" : "multi-scan",
                               (unsigned)w, (unsigned)h, need / 1e6, budget / 1e6,
                               JPEG_COEF_BYTES_PER_PIXEL);
    }
    /* Tables, row buffers and the like come on top of the coefficients. */
    double cap = budget + 64e6;
    ci->mem->max_memory_to_use = cap < 1e18 ? (long)cap : 1000000000000000000L;

    ocr_status rc = img_pix_create(&cx->pix, cx->src, w, h, cx->dims.depth, cx->e);
    if (rc != OCR_OK) return rc;
    l_uint32 *data = pixGetData(cx->pix);
    size_t wpl = (size_t)pixGetWpl(cx->pix);

    /* The arithmetic decoder fills zeros at a marker without a warning, so
     * only Huffman-coded rows can tell a missing EOI from missing data. */
    cx->err.rows_eof_ok = !ci->arith_code;
    cx->err.phase = PHASE_SCANS;
    jpeg_start_decompress(ci);
    cx->err.phase = PHASE_ROWS;
    int comps = cx->dims.depth == 8 ? 1 : 4;
    if (ci->output_width != w || ci->output_height != h || ci->output_components != comps)
        return ocr_err_set(cx->e, OCR_E_FORMAT,
                           "%s: corrupt JPEG data (decoder output %ux%ux%d, expected %ux%ux%d)",
                           name, (unsigned)ci->output_width, (unsigned)ci->output_height,
                           ci->output_components, (unsigned)w, (unsigned)h, comps);
    JSAMPARRAY cmyk_row = NULL;
    if (cmyk) cmyk_row = (*ci->mem->alloc_sarray)((j_common_ptr)ci, JPOOL_IMAGE, w * 4u, 1);
    enum { BATCH = 16 };
    while (ci->output_scanline < h) {
        JDIMENSION y = ci->output_scanline;
        if (cmyk) {
            jpeg_read_scanlines(ci, cmyk_row, 1);
            cmyk_to_rgb(data + y * wpl, cmyk_row[0], w, ci->saw_Adobe_marker);
            continue;
        }
        JSAMPROW rows[BATCH];
        JDIMENSION n = h - y < BATCH ? h - y : BATCH;
        for (JDIMENSION i = 0; i < n; i++) rows[i] = (JSAMPROW)(data + (y + i) * wpl);
        jpeg_read_scanlines(ci, rows, n);
    }
    /* Gray rows went in as bytes; colour rows already are PIX words. No
     * jpeg_finish_decompress: the pixels are complete, and what follows
     * them (at most an EOI marker) cannot change them. */
    if (cx->dims.depth == 8) {
        pixEndianByteSwap(cx->pix);
        pixSetPadBits(cx->pix, 0);
    }

    if (ci->density_unit == 1 || ci->density_unit == 2) {
        double f = ci->density_unit == 2 ? 2.54 : 1.0; /* dots per cm */
        pixSetResolution(cx->pix, (l_int32)(ci->X_density * f + 0.5),
                         (l_int32)(ci->Y_density * f + 0.5));
    }
    pixSetInputFormat(cx->pix, IFF_JFIF_JPEG);
    return OCR_OK;
}

/* Header only (cx->lim NULL) or header + decode. The only local that
 * outlives setjmp's return is `cx`, which is never modified. */
static ocr_status jpeg_run(jpeg_ctx *cx)
{
    if (setjmp(cx->err.jb)) return jpeg_failure(cx);
    j_decompress_ptr ci = &cx->ci;
    ci->err = jpeg_std_error(&cx->err.pub);
    cx->err.pub.error_exit = jpeg_on_error;
    cx->err.pub.emit_message = jpeg_on_message;
    cx->err.pub.output_message = jpeg_on_output;
    cx->created = true;
    jpeg_create_decompress(ci);
    cx->progress.progress_monitor = jpeg_on_progress;
    ci->progress = &cx->progress;
    jpeg_mem_src(ci, cx->src->data, (unsigned long)cx->src->len);
    ocr_status rc = jpeg_header(cx);
    if (rc != OCR_OK || !cx->lim) return rc;
    return jpeg_decode(cx);
}

static ocr_status jpeg_go(jpeg_ctx *cx, const img_source *src, const img_limits *lim, ocr_err *e)
{
    memset(cx, 0, sizeof *cx);
    cx->src = src;
    cx->lim = lim;
    cx->e = e;
    ocr_status rc = jpeg_run(cx);
    if (cx->created) jpeg_destroy_decompress(&cx->ci);
    return rc;
}

ocr_status img_jpeg_dims(img_dims *d, const img_source *src, ocr_err *e)
{
    jpeg_ctx cx;
    ocr_status rc = jpeg_go(&cx, src, NULL, e);
    if (rc == OCR_OK) *d = cx.dims;
    return rc;
}

ocr_status img_jpeg_decode(PIX **out, const img_source *src, const img_limits *lim, ocr_err *e)
{
    *out = NULL;
    jpeg_ctx cx;
    ocr_status rc = jpeg_go(&cx, src, lim, e);
    if (rc == OCR_OK)
        *out = cx.pix;
    else
        pixDestroy(&cx.pix);
    return rc;
}

/* pipeline/img_io.c — reading encoded images (file, stdin or memory) into
 * Leptonica PIX objects, with every input treated as hostile.
 *
 * The order of operations is the point of this file: identify the container
 * from its magic bytes, read the page's header with a parser that allocates
 * nothing in proportion to the claimed size, check the claimed size against
 * img_limits, and only then decode. A 40-byte PNG may claim 100000x100000
 * pixels; nothing here may allocate for that claim.
 *
 * PNG and JPEG are decoded by img_png.c and img_jpeg.c, which drive libpng
 * and libjpeg with silent error handlers; the other formats go through
 * Leptonica, whose diagnostics img_lept_quiet() silences.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

/* ---------------------------------------------------------------- quiet */

static void lept_discard(const char *msg) { (void)msg; }

static void lept_quiet_once(void)
{
    /* setMsgSeverity alone is not enough: some Leptonica paths (the TIFF
     * memory-stream callbacks, for one) call lept_stderr() unconditionally,
     * so the stderr handler is replaced as well. Leptonica installs its own
     * libtiff, giflib, libwebp and openjpeg handlers, which route through
     * these two. libpng and libjpeg are created inside Leptonica with their
     * default handlers, which print: that is why PNG and JPEG bypass
     * Leptonica (img_png.c, img_jpeg.c). */
    setMsgSeverity(L_SEVERITY_NONE);
    leptSetStderrHandler(lept_discard);
}

void img_lept_quiet(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, lept_quiet_once);
}

/* --------------------------------------------------------------- basics */

img_limits img_default_limits(void)
{
    img_limits l;
    l.max_pixels = 200000000u;
    l.max_bytes = (size_t)1 << 30;
    l.pdf_dpi = 200.0;
    return l;
}

const char *img_format_name(img_format f)
{
    switch (f) {
    case IMG_FMT_PNG: return "PNG";
    case IMG_FMT_JPEG: return "JPEG";
    case IMG_FMT_TIFF: return "TIFF";
    case IMG_FMT_BMP: return "BMP";
    case IMG_FMT_WEBP: return "WebP";
    case IMG_FMT_PNM: return "PNM";
    case IMG_FMT_GIF: return "GIF";
    case IMG_FMT_JP2: return "JPEG 2000";
    case IMG_FMT_PDF: return "PDF";
    case IMG_FMT_UNKNOWN: break;
    }
    return "unknown";
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }

static bool has_prefix(const uint8_t *p, size_t n, const char *magic, size_t m)
{
    return n >= m && memcmp(p, magic, m) == 0;
}

/* Identify by magic bytes only; the extension of a path says nothing about
 * what is inside, and Leptonica's own sniffing misses BigTIFF, PDF and JP2
 * codestreams. */
static img_format detect_format(const uint8_t *p, size_t n)
{
    if (has_prefix(p, n, "\x89PNG\r\n\x1a\n", 8)) return IMG_FMT_PNG;
    if (has_prefix(p, n, "\xff\xd8\xff", 3)) return IMG_FMT_JPEG;
    if (has_prefix(p, n, "II*\0", 4) || has_prefix(p, n, "MM\0*", 4) ||
        has_prefix(p, n, "II+\0", 4) || has_prefix(p, n, "MM\0+", 4))
        return IMG_FMT_TIFF; /* classic and BigTIFF, both byte orders */
    if (has_prefix(p, n, "BM", 2)) return IMG_FMT_BMP;
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return IMG_FMT_WEBP;
    /* P7 is PAM, which Leptonica also reads. Demanding whitespace after
     * the digit keeps text files that start with "P1" from matching. */
    if (n >= 3 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7' &&
        (p[2] == ' ' || p[2] == '\t' || p[2] == '\n' || p[2] == '\r' || p[2] == '#'))
        return IMG_FMT_PNM;
    if (has_prefix(p, n, "GIF87a", 6) || has_prefix(p, n, "GIF89a", 6))
        return IMG_FMT_GIF;
    if (has_prefix(p, n, "\0\0\0\x0cjP  \r\n\x87\n", 12) ||
        has_prefix(p, n, "\xff\x4f\xff\x51", 4))
        return IMG_FMT_JP2;
    if (has_prefix(p, n, "%PDF", 4)) return IMG_FMT_PDF;
    return IMG_FMT_UNKNOWN;
}

/* "89 50 4e 47 ... \"<!DOCTYPE\"" — enough to recognise HTML error pages,
 * text files and the like in a message. */
static void describe_bytes(char *out, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = n < 8 ? n : 8, used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k && used + 4 < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%02x", i ? " " : "", p[i]);
    if (used + 4 + k >= cap) return;
    out[used++] = ' ';
    out[used++] = '"';
    for (size_t i = 0; i < k; i++)
        out[used++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '.';
    out[used++] = '"';
    out[used] = '\0';
}

/* ------------------------------------------------------------- sources */

void img_source_free(img_source *src)
{
    if (!src) return;
    img_pdf_close(&src->pdf);
    free(src->data);
    memset(src, 0, sizeof *src);
}

/* Count TIFF directories. tiffGetCount wants a FILE*, so the buffer is
 * wrapped with fmemopen rather than written to a temporary file. libtiff
 * refuses IFD loops, and the file size bounds the number of directories. */
static ocr_status tiff_count_pages(img_source *src, ocr_err *e)
{
    FILE *f = fmemopen(src->data, src->len, "rb");
    if (!f)
        return ocr_err_set(e, OCR_E_NOMEM, "%s: cannot open a memory stream on the TIFF data",
                           src->name);
    l_int32 n = 0;
    l_ok bad = tiffGetCount(f, &n);
    fclose(f);
    if (bad || n < 1)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt or truncated TIFF data (cannot read the first image directory)",
                           src->name);
    src->n_pages = n;
    return OCR_OK;
}

/* Takes ownership of `data` (freed on failure too). */
static ocr_status source_init(img_source *src, uint8_t *data, size_t len,
                              const char *name, ocr_err *e)
{
    memset(src, 0, sizeof *src);
    snprintf(src->name, sizeof src->name, "%s", name);
    src->data = data;
    src->len = len;
    src->n_pages = 1;
    if (len == 0) {
        img_source_free(src);
        return ocr_err_set(e, OCR_E_FORMAT, "%s: empty file", name);
    }
    src->format = detect_format(data, len);
    if (src->format == IMG_FMT_UNKNOWN) {
        char bytes[64];
        describe_bytes(bytes, sizeof bytes, data, len);
        ocr_err_set(e, OCR_E_FORMAT,
                    "%s: not a supported image (first bytes %s); expected PNG, JPEG, TIFF, "
                    "BMP, WebP, PNM, GIF, JPEG 2000 or PDF",
                    src->name, bytes);
        img_source_free(src);
        return OCR_E_FORMAT;
    }
    if (src->format == IMG_FMT_TIFF) {
        img_lept_quiet();
        ocr_status rc = tiff_count_pages(src, e);
        if (rc != OCR_OK) {
            img_source_free(src);
            return rc;
        }
    }
    if (src->format == IMG_FMT_PDF) {
        ocr_status rc = img_pdf_open(&src->pdf, src->data, src->len, src->name, e);
        if (rc != OCR_OK) {
            img_source_free(src);
            return rc;
        }
        src->n_pages = img_pdf_page_count(src->pdf);
    }
    return OCR_OK;
}

ocr_status img_source_open(img_source *src, const char *path,
                           const img_limits *lim, ocr_err *e)
{
    if (!src) return ocr_err_set(e, OCR_E_ARG, "img_source_open: src is NULL");
    memset(src, 0, sizeof *src);
    if (!path) return ocr_err_set(e, OCR_E_ARG, "img_source_open: path is NULL");
    img_limits dl = img_default_limits();
    if (!lim) lim = &dl;
    uint8_t *buf = NULL;
    size_t len = 0;
    ocr_status rc = ocr_file_read(path, lim->max_bytes, &buf, &len, e);
    if (rc != OCR_OK) return rc;
    return source_init(src, buf, len, strcmp(path, "-") == 0 ? "<stdin>" : path, e);
}

ocr_status img_source_from_memory(img_source *src, const void *buf,
                                  size_t len, const char *name,
                                  const img_limits *lim, ocr_err *e)
{
    if (!src) return ocr_err_set(e, OCR_E_ARG, "img_source_from_memory: src is NULL");
    memset(src, 0, sizeof *src);
    if (!name) name = "<memory>";
    if (!buf && len)
        return ocr_err_set(e, OCR_E_ARG, "%s: buffer is NULL but length is %zu", name, len);
    img_limits dl = img_default_limits();
    if (!lim) lim = &dl;
    if (len > lim->max_bytes)
        return ocr_err_set(e, OCR_E_LIMIT, "%s: %zu bytes exceeds the limit of %zu bytes", name,
                           len, lim->max_bytes);
    /* One spare byte so that an empty buffer still gets a unique pointer. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory copying %zu bytes", name, len);
    if (len) memcpy(copy, buf, len);
    return source_init(src, copy, len, name, e);
}

/* -------------------------------------------------------------- headers */

/* Page size as the file claims it (img_dims, pipe.h). 64-bit so that claims
 * up to 2^32 on a side multiply without overflow. min_len lets a 100-byte
 * file that claims 14000x14000 pixels fail before the decoder allocates for
 * it. */
typedef img_dims dims;

static ocr_status png_dims(const img_source *s, dims *d, ocr_err *e)
{
    /* The IHDR chunk must come first (libpng refuses anything else), so its
     * fixed position is the header libpng will act on. */
    const uint8_t *p = s->data;
    if (s->len < 8 + 8 + 13 + 4)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: truncated PNG data (file ends inside the IHDR header, %zu bytes)",
                           s->name, s->len);
    if (be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4) != 0)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: corrupt PNG data (first chunk is not IHDR)",
                           s->name);
    d->w = be32(p + 16);
    d->h = be32(p + 20);
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4}; /* by colour type */
    int depth = p[24], ctype = p[25];
    if (ctype <= 6 && channels[ctype] && depth >= 1 && depth <= 16) {
        /* Filtered rows are w*bits/8 + 1 bytes; deflate compresses at most
         * 1032:1 (a 258-byte match in two bits). */
        double row = ((double)d->w * depth * channels[ctype] + 7) / 8 + 1;
        d->min_len = row * (double)d->h / 1032.0;
    }
    /* Colour always becomes 32 bpp; gray and palettes depend on what the
     * other chunks say (img_png.c). */
    if (ctype == 2 || ctype == 4 || ctype == 6) d->depth = 32;
    return OCR_OK;
}

static ocr_status bmp_dims(const img_source *s, dims *d, ocr_err *e)
{
    /* Leptonica's pixReadHeaderMem decodes a whole BMP to learn its size,
     * so the info header is read here instead. */
    const uint8_t *p = s->data;
    if (s->len < 14 + 12)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: truncated BMP data (file ends inside the header)",
                           s->name);
    uint32_t ih = le32(p + 14);
    if (ih == 12) { /* OS/2 BITMAPCOREHEADER: 16-bit sizes */
        d->w = le16(p + 18);
        d->h = le16(p + 20);
        return OCR_OK;
    }
    if (ih < 40 || s->len < 14 + 40)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt or truncated BMP data (info header of %" PRIu32 " bytes)",
                           s->name, ih);
    d->w = (int32_t)le32(p + 18);
    int64_t h = (int32_t)le32(p + 22);
    d->h = h < 0 ? -h : h; /* negative height = top-down rows */
    return OCR_OK;
}

/* giflib's DGifSlurp allocates width*height bytes for every frame, each
 * frame with its own descriptor, before decoding any of them: all frame
 * descriptors are checked, not only the logical screen. Walks the block
 * structure without decoding (sub-blocks are skipped by their lengths). */
static ocr_status gif_dims(const img_source *s, dims *d, uint64_t *total, ocr_err *e)
{
    const uint8_t *p = s->data;
    size_t n = s->len, i = 13;
    if (n < 13)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: truncated GIF data (file ends inside the header)",
                           s->name);
    if (p[10] & 0x80) i += 3u * (2u << (p[10] & 7)); /* global colour table */
    int frames = 0;
    *total = 0;
    d->w = le16(p + 6);
    d->h = le16(p + 8);
    for (;;) {
        if (i >= n) break; /* no trailer: giflib decides whether that is fatal */
        uint8_t b = p[i++];
        if (b == 0x3b) break;
        if (b == 0x2c) {
            if (n - i < 9) break;
            int64_t fw = le16(p + i + 4), fh = le16(p + i + 6);
            uint8_t flags = p[i + 8];
            i += 9;
            if (flags & 0x80) i += 3u * (2u << (flags & 7)); /* local colour table */
            i += 1;                                          /* LZW minimum code size */
            if (frames == 0) { /* Leptonica decodes the first frame */
                d->w = fw;
                d->h = fh;
            }
            if (fw <= 0 || fh <= 0)
                return ocr_err_set(e, OCR_E_FORMAT,
                                   "%s: corrupt GIF data (frame %d has size %" PRId64 "x%" PRId64 ")",
                                   s->name, frames + 1, fw, fh);
            *total += (uint64_t)fw * (uint64_t)fh;
            frames++;
        } else if (b == 0x21) {
            i += 1; /* extension label */
        } else {
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: corrupt GIF data (unknown block 0x%02x at byte %zu)", s->name,
                               b, i - 1);
        }
        while (i < n && p[i] != 0) i += 1u + p[i]; /* data sub-blocks */
        i += 1;                                    /* block terminator */
    }
    if (frames == 0)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: corrupt or truncated GIF data (no image frame)",
                           s->name);
    return OCR_OK;
}

/* Offset of the codestream inside a JP2 file: the payload of the top-level
 * 'jp2c' box. Box walking, not a byte search, so that a fake codestream
 * header hidden in an earlier box cannot stand in for the real one. */
static bool jp2_codestream(const uint8_t *p, size_t n, size_t *at)
{
    size_t i = 0;
    while (n - i >= 8) {
        uint64_t len = be32(p + i), hdr = 8;
        if (len == 1) { /* 64-bit length follows the type */
            if (n - i < 16) return false;
            len = (uint64_t)be32(p + i + 8) << 32 | be32(p + i + 12);
            hdr = 16;
        } else if (len == 0) { /* box runs to the end of the file */
            len = n - i;
        }
        if (memcmp(p + i + 4, "jp2c", 4) == 0) {
            *at = i + (size_t)hdr;
            return true;
        }
        if (len < hdr || len > n - i) return false;
        i += (size_t)len;
    }
    return false;
}

/* A JPEG 2000 file carries its size twice: the jp2 'ihdr' box, which
 * Leptonica reads, and the codestream's SIZ marker segment, which openjpeg
 * allocates from. Both must pass the limit; a raw codestream (.j2k) has
 * only SIZ. */
static ocr_status jp2_dims(const img_source *s, dims *d, ocr_err *e)
{
    const uint8_t *p = s->data;
    size_t i = 0;
    bool raw = p[0] == 0xff;
    if (!raw && !jp2_codestream(p, s->len, &i))
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt or truncated JPEG 2000 data (no codestream box)", s->name);
    /* SOC, SIZ, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, 4 tile fields, Csiz. */
    if (s->len - i < 42 || p[i] != 0xff || p[i + 1] != 0x4f || p[i + 2] != 0xff ||
        p[i + 3] != 0x51)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt or truncated JPEG 2000 data (no codestream header)", s->name);
    int64_t xs = be32(p + i + 8), ys = be32(p + i + 12);
    int64_t xo = be32(p + i + 16), yo = be32(p + i + 20);
    uint32_t comps = (uint32_t)p[i + 40] << 8 | p[i + 41];
    if (xs <= xo || ys <= yo)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt JPEG 2000 data (codestream size %" PRId64 "x%" PRId64 ")",
                           s->name, xs - xo, ys - yo);
    if (comps < 1 || comps > 4)
        return ocr_err_set(e, OCR_E_UNSUPPORTED,
                           "%s: JPEG 2000 with %" PRIu32 " components (1 to 4 supported)", s->name,
                           comps);
    d->w = xs - xo;
    d->h = ys - yo;
    if (raw) return OCR_OK;
    l_int32 w = 0, h = 0, bps = 0, spp = 0, codec = 0;
    if (readHeaderMemJp2k(s->data, s->len, &w, &h, &bps, &spp, &codec) != 0)
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt or truncated JPEG 2000 data (cannot read the header)",
                           s->name);
    /* Report the larger claim: either may be what gets allocated. */
    if ((int64_t)w * h > d->w * d->h) {
        d->w = w;
        d->h = h;
    }
    return OCR_OK;
}

/* "10000", "0.5", "1.5": megapixels as a reader would write them. */
static void fmt_mp(char *out, size_t cap, uint64_t px)
{
    double mp = (double)px / 1e6;
    if (mp >= 1e6) snprintf(out, cap, "%.0f", mp);
    else snprintf(out, cap, "%.6g", mp);
}

/* Leptonica refuses images of 2^31 bytes or more (pixCreateHeader), and
 * rows of 2^24 words or more. */
static bool over_lept_cap(int64_t w, int64_t h, int depth)
{
    uint64_t wpl = ((uint64_t)w * (uint64_t)depth + 31) / 32;
    return wpl >= ((uint64_t)1 << 24) || 4 * wpl * (uint64_t)h >= ((uint64_t)1 << 31);
}

static ocr_status lept_cap_error(const img_source *s, int64_t w, int64_t h, int depth, ocr_err *e)
{
    return ocr_err_set(e, OCR_E_LIMIT,
                       "%s: image is %" PRId64 "x%" PRId64 " at %d bits per pixel, too large "
                       "to decode (Leptonica caps an image at 2 GiB)",
                       s->name, w, h, depth);
}

ocr_status img_pix_create(PIX **out, const img_source *src, int64_t w, int64_t h,
                          int depth, ocr_err *e)
{
    *out = NULL;
    if (w <= 0 || h <= 0 || w > INT32_MAX || h > INT32_MAX)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: corrupt %s data: size %" PRId64 "x%" PRId64,
                           src->name, img_format_name(src->format), w, h);
    if (over_lept_cap(w, h, depth)) return lept_cap_error(src, w, h, depth, e);
    img_lept_quiet();
    /* Not pixCreate, which clears every page: a decoder that stops at row
     * 10 of a file that lied about its size then touches 10 rows, not all
     * of them. */
    *out = pixCreateNoInit((l_int32)w, (l_int32)h, depth);
    if (!*out)
        return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory for a %" PRId64 "x%" PRId64
                           " image at %d bits per pixel",
                           src->name, w, h, depth);
    return OCR_OK;
}

static ocr_status check_dims(const img_source *s, int page, dims d, const img_limits *lim,
                             ocr_err *e)
{
    char where[48] = "";
    if (s->n_pages > 1) snprintf(where, sizeof where, " (page %d of %d)", page + 1, s->n_pages);
    if (d.w <= 0 || d.h <= 0)
        return ocr_err_set(e, OCR_E_FORMAT, "%s: corrupt %s data: header gives size %" PRId64
                           "x%" PRId64 "%s",
                           s->name, img_format_name(s->format), d.w, d.h, where);
    uint64_t px = (uint64_t)d.w * (uint64_t)d.h;
    if (px > lim->max_pixels) {
        char a[32], b[32];
        fmt_mp(a, sizeof a, px);
        fmt_mp(b, sizeof b, lim->max_pixels);
        return ocr_err_set(e, OCR_E_LIMIT,
                           "%s: image is %" PRId64 "x%" PRId64 " = %s megapixels, over the %s "
                           "megapixel limit (--max-pixels)%s",
                           s->name, d.w, d.h, a, b, where);
    }
    return OCR_OK;
}

/* Reads the header of `page` and checks it against the limits. Nothing here
 * allocates in proportion to the claimed size. */
static ocr_status read_and_check_header(const img_source *s, int page, const img_limits *lim,
                                        dims *out, ocr_err *e)
{
    dims d = {0, 0, 0, 0};
    /* Every out-parameter is passed: which ones Leptonica treats as
     * optional differs between functions and versions. */
    l_int32 w = 0, h = 0, a = 0, b = 0, c = 0, x = 0, y = 0;
    ocr_status rc = OCR_OK;
    switch (s->format) {
    case IMG_FMT_PNG:
        rc = png_dims(s, &d, e);
        break;
    case IMG_FMT_JPEG:
        /* libjpeg parses only up to the start of the first scan here. */
        rc = img_jpeg_dims(&d, s, e);
        break;
    case IMG_FMT_TIFF:
        /* The page's own directory: pages of one file differ in size. */
        if (readHeaderMemTiff(s->data, s->len, page, &w, &h, &a, &b, &c, &x, &y) != 0)
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: corrupt or truncated TIFF data (cannot read the header of "
                               "page %d of %d)",
                               s->name, page + 1, s->n_pages);
        d.w = w;
        d.h = h;
        break;
    case IMG_FMT_BMP:
        rc = bmp_dims(s, &d, e);
        break;
    case IMG_FMT_WEBP:
        if (readHeaderMemWebP(s->data, s->len, &w, &h, &a) != 0)
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: corrupt or truncated WebP data (cannot read the header)",
                               s->name);
        d.w = w;
        d.h = h;
        break;
    case IMG_FMT_PNM:
        if (readHeaderMemPnm(s->data, s->len, &w, &h, &a, &b, &c, &x) != 0)
            return ocr_err_set(e, OCR_E_FORMAT,
                               "%s: corrupt or truncated PNM data (cannot read the header)",
                               s->name);
        d.w = w;
        d.h = h;
        /* Binary PNM stores raw samples: the size is exact. (b = type
         * 1..7, c = bits per sample, x = samples per pixel.) */
        if (b == 4) d.min_len = (double)((d.w + 7) / 8) * (double)d.h;
        else if (b >= 5 && b <= 7 && c >= 1 && x >= 1)
            d.min_len = (double)d.w * (double)d.h * x * (c > 8 ? 2 : 1);
        break;
    case IMG_FMT_GIF: {
        uint64_t total = 0;
        rc = gif_dims(s, &d, &total, e);
        if (rc != OCR_OK) return rc;
        *out = d;
        rc = check_dims(s, page, d, lim, e);
        if (rc == OCR_OK && total > lim->max_pixels) {
            char t[32], m[32];
            fmt_mp(t, sizeof t, total);
            fmt_mp(m, sizeof m, lim->max_pixels);
            rc = ocr_err_set(e, OCR_E_LIMIT,
                             "%s: GIF frames hold %s megapixels in all, over the %s megapixel "
                             "limit (--max-pixels)",
                             s->name, t, m);
        }
        return rc;
    }
    case IMG_FMT_JP2:
        rc = jp2_dims(s, &d, e);
        break;
    case IMG_FMT_PDF:
    case IMG_FMT_UNKNOWN:
        return ocr_err_set(e, OCR_E_UNSUPPORTED, "%s: no header reader for %s", s->name,
                           img_format_name(s->format));
    }
    if (rc != OCR_OK) return rc;
    *out = d;
    rc = check_dims(s, page, d, lim, e);
    /* A size Leptonica cannot hold is a limit whatever the data; say so
     * before judging whether the data could fill it. */
    if (rc == OCR_OK && d.depth && over_lept_cap(d.w, d.h, d.depth))
        rc = lept_cap_error(s, d.w, d.h, d.depth, e);
    if (rc == OCR_OK && d.min_len > (double)s->len)
        rc = ocr_err_set(e, OCR_E_FORMAT,
                         "%s: truncated %s data: %zu bytes cannot hold the %" PRId64 "x%" PRId64
                         " image its header describes",
                         s->name, img_format_name(s->format), s->len, d.w, d.h);
    return rc;
}

/* --------------------------------------------------------------- decode */

/* Leptonica says only "NULL"; say what can be said. (PNG and JPEG report
 * their own errors.) */
static ocr_status decode_failed(const img_source *s, int page, dims d, ocr_err *e)
{
    /* pixCreate refuses images of 2^31 bytes or more; only reachable when a
     * caller raises max_pixels past ~536 million (32 bpp). */
    if ((uint64_t)d.w * (uint64_t)d.h * 4u >= ((uint64_t)1 << 31))
        return ocr_err_set(e, OCR_E_LIMIT,
                           "%s: image is %" PRId64 "x%" PRId64 ", too large to decode "
                           "(Leptonica caps an image at 2 GiB), or its %s data is corrupt",
                           s->name, d.w, d.h, img_format_name(s->format));
    switch (s->format) {
    case IMG_FMT_TIFF:
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt, truncated or unsupported TIFF data (page %d of %d)",
                           s->name, page + 1, s->n_pages);
    case IMG_FMT_BMP:
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt, truncated or unsupported BMP data (only uncompressed "
                           "BMP is read)",
                           s->name);
    default:
        return ocr_err_set(e, OCR_E_FORMAT, "%s: corrupt or truncated %s data", s->name,
                           img_format_name(s->format));
    }
}

ocr_status img_source_decode(PIX **out, const img_source *src, int page,
                             const img_limits *lim, ocr_err *e)
{
    if (!out) return ocr_err_set(e, OCR_E_ARG, "img_source_decode: out is NULL");
    *out = NULL;
    if (!src || !src->data || src->len == 0)
        return ocr_err_set(e, OCR_E_ARG, "img_source_decode: no source (not opened?)");
    img_limits dl = img_default_limits();
    if (!lim) lim = &dl;
    if (page < 0 || page >= src->n_pages)
        return ocr_err_set(e, OCR_E_ARG,
                           "%s: page index %d out of range: the file has %d page%s (indices 0..%d)",
                           src->name, page, src->n_pages, src->n_pages == 1 ? "" : "s",
                           src->n_pages - 1);
    img_lept_quiet();
    if (src->format == IMG_FMT_PDF) {
        if (!src->pdf)
            return ocr_err_set(e, OCR_E_ARG, "%s: PDF source was not opened", src->name);
        return img_pdf_render(out, src->pdf, page, lim->pdf_dpi > 0 ? lim->pdf_dpi : 200.0, lim, e);
    }

    dims d = {0, 0, 0, 0};
    ocr_status rc = read_and_check_header(src, page, lim, &d, e);
    if (rc != OCR_OK) return rc;

    PIX *pix = NULL;
    switch (src->format) {
    case IMG_FMT_PNG: rc = img_png_decode(&pix, src, lim, e); break;
    case IMG_FMT_JPEG: rc = img_jpeg_decode(&pix, src, lim, e); break;
    case IMG_FMT_TIFF: pix = pixReadMemTiff(src->data, src->len, page); break;
    case IMG_FMT_BMP: pix = pixReadMemBmp(src->data, src->len); break;
    case IMG_FMT_WEBP: pix = pixReadMemWebP(src->data, src->len); break;
    case IMG_FMT_PNM: pix = pixReadMemPnm(src->data, src->len); break;
    case IMG_FMT_GIF: pix = pixReadMemGif(src->data, src->len); break;
    case IMG_FMT_JP2: pix = pixReadMemJp2k(src->data, src->len, 1, NULL, 0, 0); break;
    default: break;
    }
    if (rc != OCR_OK) return rc;
    if (!pix) return decode_failed(src, page, d, e);

    /* The header was checked; this guards against a decoder that trusted a
     * different size field (TIFF orientation may swap w and h, which keeps
     * the area). */
    uint64_t px = (uint64_t)pixGetWidth(pix) * (uint64_t)pixGetHeight(pix);
    if (pixGetWidth(pix) <= 0 || pixGetHeight(pix) <= 0 || px > lim->max_pixels) {
        pixDestroy(&pix);
        return ocr_err_set(e, OCR_E_FORMAT,
                           "%s: corrupt %s data: decoded size disagrees with the header",
                           src->name, img_format_name(src->format));
    }
    *out = pix;
    return OCR_OK;
}

ocr_status img_load(PIX **out, const char *path, const img_limits *lim,
                    ocr_err *e)
{
    if (!out) return ocr_err_set(e, OCR_E_ARG, "img_load: out is NULL");
    *out = NULL;
    img_source src;
    ocr_status rc = img_source_open(&src, path, lim, e);
    if (rc != OCR_OK) return rc;
    rc = img_source_decode(out, &src, 0, lim, e);
    img_source_free(&src);
    return rc;
}

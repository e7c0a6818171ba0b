/* tests/test_img.c — image I/O: every format round-trips through Leptonica's
 * writers and our readers; conversions to gray/RGB planes give known values;
 * multi-page TIFF; file, memory and stdin sources; and the hostile suite:
 * truncated, corrupt and size-lying files must give the documented status
 * and a message naming the file and the problem, never a crash or a huge
 * allocation (run under ASan/UBSan by `make san-test`), and never a byte on
 * stderr. PNG and JPEG are decoded by our own libpng/libjpeg drivers: every
 * PNG colour type and bit depth, interlaced or not, and JPEG gray, colour,
 * progressive and CMYK are checked pixel by pixel, against Leptonica's
 * readers where both apply.
 *
 * All fixtures are generated here, with Leptonica, libpng and libjpeg; no
 * asset files.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "pipeline/pipe.h"
#include "tests/tst.h"

#define CHECK TST_CHECK

/* ------------------------------------------------------------ fixtures */

enum { GW = 97, GH = 61 }; /* odd sizes: rows are not word multiples */

/* Smooth gradient plus a dark block and a bright stripe: lossless formats
 * must give it back exactly, JPEG closely. */
static uint8_t gray_value(int x, int y)
{
    int v = x * 255 / (GW - 1) / 2 + y * 2;
    if (x >= 20 && x < 40 && y >= 10 && y < 30) v = 12;
    if (y >= 45 && y < 50) v = 240;
    return (uint8_t)(v > 255 ? 255 : v);
}

static PIX *make_gray(void)
{
    PIX *p = pixCreate(GW, GH, 8);
    for (int y = 0; y < GH; y++)
        for (int x = 0; x < GW; x++) pixSetPixel(p, x, y, gray_value(x, y));
    return p;
}

/* Distinct, known colours: r depends on x, g on y, b on both. */
static void rgb_value(int x, int y, int *r, int *g, int *b)
{
    *r = (x * 37) & 255;
    *g = (y * 53 + 7) & 255;
    *b = ((x + y) * 11 + 100) & 255;
}

static PIX *make_rgb(int w, int h)
{
    PIX *p = pixCreate(w, h, 32);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int r, g, b;
            rgb_value(x, y, &r, &g, &b);
            pixSetRGBPixel(p, x, y, r, g, b);
        }
    return p;
}

typedef struct {
    uint8_t *d;
    size_t n;
} blob;

static blob encode(PIX *p, int iff)
{
    blob b = {NULL, 0};
    if (pixWriteMem(&b.d, &b.n, p, iff) != 0) {
        printf("fixture: pixWriteMem(format %d) failed\n", iff);
        exit(2);
    }
    return b;
}

static void blob_free(blob *b)
{
    free(b->d);
    b->d = NULL;
    b->n = 0;
}

static uint32_t crc_table[256];

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Offset of the first PNG chunk of `type`, or 0. */
static size_t png_find_chunk(const blob *b, const char *type)
{
    size_t i = 8;
    while (i + 12 <= b->n) {
        uint32_t len = (uint32_t)b->d[i] << 24 | (uint32_t)b->d[i + 1] << 16 |
                       (uint32_t)b->d[i + 2] << 8 | b->d[i + 3];
        if (memcmp(b->d + i + 4, type, 4) == 0) return i;
        i += 12u + len;
    }
    return 0;
}

/* A PNG whose IHDR claims w x h, with a correct CRC and a token IDAT. */
static blob png_claiming(uint32_t w, uint32_t h)
{
    static const uint8_t idat[] = {0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01};
    blob b;
    b.n = 8 + 25 + 12 + sizeof idat + 12;
    b.d = calloc(1, b.n);
    uint8_t *p = b.d;
    memcpy(p, "\x89PNG\r\n\x1a\n", 8);
    p += 8;
    put_be32(p, 13);
    memcpy(p + 4, "IHDR", 4);
    put_be32(p + 8, w);
    put_be32(p + 12, h);
    p[16] = 8; /* bit depth */
    p[17] = 0; /* gray */
    put_be32(p + 21, crc32_png(p + 4, 17));
    p += 25;
    put_be32(p, sizeof idat);
    memcpy(p + 4, "IDAT", 4);
    memcpy(p + 8, idat, sizeof idat);
    put_be32(p + 8 + sizeof idat, crc32_png(p + 4, 4 + sizeof idat));
    p += 12 + sizeof idat;
    put_be32(p, 0);
    memcpy(p + 4, "IEND", 4);
    put_be32(p + 8, crc32_png(p + 4, 4));
    return b;
}

static blob bmp_claiming(int32_t w, int32_t h)
{
    blob b;
    b.n = 54 + 64;
    b.d = calloc(1, b.n);
    memcpy(b.d, "BM", 2);
    put_le32(b.d + 2, (uint32_t)b.n);
    put_le32(b.d + 10, 54);
    put_le32(b.d + 14, 40);
    put_le32(b.d + 18, (uint32_t)w);
    put_le32(b.d + 22, (uint32_t)h);
    put_le16(b.d + 26, 1);
    put_le16(b.d + 28, 24);
    return b;
}

/* Rewrite the size in a JPEG's frame header (SOF0, SOF1 or SOF2). */
static void patch_sof(blob *b, unsigned w, unsigned h)
{
    for (size_t i = 2; i + 9 < b->n; i++)
        if (b->d[i] == 0xff && b->d[i + 1] >= 0xc0 && b->d[i + 1] <= 0xc2) {
            b->d[i + 5] = (uint8_t)(h >> 8);
            b->d[i + 6] = (uint8_t)h;
            b->d[i + 7] = (uint8_t)(w >> 8);
            b->d[i + 8] = (uint8_t)w;
            return;
        }
}

static blob text_blob(const char *s, size_t pad)
{
    blob b;
    size_t n = strlen(s);
    b.n = n + pad;
    b.d = calloc(1, b.n);
    memcpy(b.d, s, n);
    return b;
}

/* The first n bytes of b (all of it when n is larger), as a new blob. */
static blob cut(const blob *b, size_t n)
{
    blob c;
    c.n = n < b->n ? n : b->n;
    c.d = malloc(c.n ? c.n : 1);
    memcpy(c.d, b->d, c.n);
    return c;
}

/* ------------------------------------------------- PNG fixtures (libpng) */

/* What to write: colour type and bit depth as in IHDR, plus the optional
 * chunks. Pixels come from png_sample(). */
typedef struct {
    int ctype, depth;
    bool interlace;
    int pal_kind;  /* palette: 0 colour, 1 gray, 2 {black, white}, 3 {white, black} */
    int ntrns;     /* palette: alpha for the first ntrns entries */
    int trns;      /* gray/RGB: >= 0 puts this sample value (every channel) in tRNS */
    int dpi;       /* > 0: a pHYs chunk */
} png_spec;

enum { PW = 37, PH = 23 }; /* odd: bits and bytes straddle words */

static int png_channels(int ctype)
{
    static const int ch[7] = {1, 0, 3, 1, 2, 0, 4};
    return ch[ctype];
}

/* depth-bit sample of channel c at (x, y), well spread over its range. */
static unsigned png_sample(int x, int y, int c, int depth)
{
    uint32_t v = (uint32_t)(x * 31 + y * 17 + c * 97 + 1) * 2654435761u;
    return v >> (32 - depth);
}

static void png_palette_entry(int kind, int i, int *r, int *g, int *b)
{
    if (kind == 0) {
        *r = (i * 53 + 7) & 255;
        *g = (i * 101 + 3) & 255;
        *b = (i * 197 + 11) & 255;
    } else if (kind == 1) {
        *r = *g = *b = (i * 37 + 5) & 255;
    } else {
        *r = *g = *b = (i == 0) == (kind == 2) ? 0 : 255;
    }
}

static int png_palette_alpha(int i) { return (i * 71) & 255; }

static void fixture_png_error(png_structp p, png_const_charp msg)
{
    (void)p;
    printf("fixture: libpng: %s\n", msg);
    exit(2);
}
static void fixture_png_warning(png_structp p, png_const_charp msg)
{
    (void)p;
    (void)msg;
}
static void fixture_png_write(png_structp p, png_bytep d, size_t n)
{
    blob *b = png_get_io_ptr(p);
    b->d = realloc(b->d, b->n + n);
    memcpy(b->d + b->n, d, n);
    b->n += n;
}
static void fixture_png_flush(png_structp p) { (void)p; }

static blob png_encode(const png_spec *sp)
{
    blob b = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, fixture_png_error,
                                              fixture_png_warning);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &b, fixture_png_write, fixture_png_flush);
    png_set_IHDR(png, info, PW, PH, sp->depth, sp->ctype,
                 sp->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (sp->ctype == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        int n = 1 << sp->depth;
        for (int i = 0; i < n; i++) {
            int r, g, bl;
            png_palette_entry(sp->pal_kind, i, &r, &g, &bl);
            pal[i].red = (png_byte)r;
            pal[i].green = (png_byte)g;
            pal[i].blue = (png_byte)bl;
        }
        png_set_PLTE(png, info, pal, n);
        if (sp->ntrns) {
            png_byte alpha[256];
            for (int i = 0; i < sp->ntrns; i++) alpha[i] = (png_byte)png_palette_alpha(i);
            png_set_tRNS(png, info, alpha, sp->ntrns, NULL);
        }
    } else if (sp->trns >= 0) {
        png_color_16 tc;
        memset(&tc, 0, sizeof tc);
        tc.gray = tc.red = tc.green = tc.blue = (png_uint_16)sp->trns;
        png_set_tRNS(png, info, NULL, 0, &tc);
    }
    if (sp->dpi > 0) {
        png_uint_32 ppm = (png_uint_32)(sp->dpi / 0.0254 + 0.5);
        png_set_pHYs(png, info, ppm, ppm, PNG_RESOLUTION_METER);
    }
    png_write_info(png, info);
    int ch = png_channels(sp->ctype);
    size_t rowbytes = ((size_t)PW * (size_t)(ch * sp->depth) + 7) / 8;
    uint8_t *img = calloc(PH, rowbytes);
    png_bytep rows[PH];
    for (int y = 0; y < PH; y++) {
        uint8_t *row = img + (size_t)y * rowbytes;
        rows[y] = row;
        for (int x = 0; x < PW; x++)
            for (int c = 0; c < ch; c++) {
                unsigned v = png_sample(x, y, c, sp->depth);
                size_t bit = ((size_t)x * (size_t)ch + (size_t)c) * (size_t)sp->depth;
                if (sp->depth == 16) {
                    row[bit / 8] = (uint8_t)(v >> 8);
                    row[bit / 8 + 1] = (uint8_t)v;
                } else { /* packed most significant bits first */
                    row[bit / 8] |= (uint8_t)(v << (8 - sp->depth - (int)(bit % 8)));
                }
            }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(img);
    return b;
}

/* ------------------------------------------------ JPEG fixtures (libjpeg) */

typedef struct {
    J_COLOR_SPACE cs; /* JCS_GRAYSCALE, JCS_RGB, JCS_CMYK (written Adobe-inverted), or
                       * JCS_UNKNOWN: two components */
    bool progressive;
    bool full_chroma; /* 4:4:4 instead of libjpeg's 4:2:0 */
    bool arith;
    int quality;
    int unit, xd, yd; /* JFIF density */
} jpg_spec;

/* Smooth colour picture (JPEG reproduces it closely) with a sharp block. */
static void jpg_rgb(int x, int y, int w, int h, int *r, int *g, int *b)
{
    *r = x * 255 / (w > 1 ? w - 1 : 1);
    *g = y * 255 / (h > 1 ? h - 1 : 1);
    *b = (x + y) * 255 / (w + h > 2 ? w + h - 2 : 1);
    if (x >= w / 4 && x < w / 2 && y >= h / 4 && y < h / 2) *r = *g = *b = 20;
}

static void fixture_jpeg_error(j_common_ptr c)
{
    char msg[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, msg);
    printf("fixture: libjpeg: %s\n", msg);
    exit(2);
}

static blob jpeg_encode(const jpg_spec *sp, int w, int h)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    err.error_exit = fixture_jpeg_error;
    jpeg_create_compress(&ci);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&ci, &buf, &len);
    int nc = sp->cs == JCS_GRAYSCALE ? 1 : sp->cs == JCS_CMYK ? 4 : sp->cs == JCS_UNKNOWN ? 2 : 3;
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = nc;
    ci.in_color_space = sp->cs;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, sp->quality ? sp->quality : 90, TRUE);
    if (sp->full_chroma)
        for (int c = 0; c < ci.num_components; c++)
            ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
    if (sp->progressive) jpeg_simple_progression(&ci);
    if (sp->arith) ci.arith_code = TRUE;
    ci.density_unit = (UINT8)sp->unit;
    ci.X_density = (UINT16)(sp->unit ? sp->xd : 1);
    ci.Y_density = (UINT16)(sp->unit ? sp->yd : 1);
    jpeg_start_compress(&ci, TRUE);
    JSAMPLE *row = malloc((size_t)w * (size_t)nc);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int r, g, b;
            jpg_rgb(x, y, w, h, &r, &g, &b);
            JSAMPLE *px = row + (size_t)x * (size_t)nc;
            if (nc == 1) {
                px[0] = (JSAMPLE)r;
            } else if (nc == 2) {
                px[0] = (JSAMPLE)r;
                px[1] = (JSAMPLE)g;
            } else if (nc == 3) {
                px[0] = (JSAMPLE)r;
                px[1] = (JSAMPLE)g;
                px[2] = (JSAMPLE)b;
            } else { /* Adobe CMYK, no black ink: stored 255 - (255 - r) = r */
                px[0] = (JSAMPLE)r;
                px[1] = (JSAMPLE)g;
                px[2] = (JSAMPLE)b;
                px[3] = 255;
            }
        }
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    blob b = {buf, (size_t)len};
    return b;
}

/* ------------------------------------------------------------- helpers */

/* open + decode `page`; the error message lands in *e. */
static ocr_status load_mem(PIX **out, const blob *b, const char *name, int page,
                           const img_limits *lim, ocr_err *e)
{
    img_source src;
    *out = NULL;
    ocr_err_clear(e);
    ocr_status rc = img_source_from_memory(&src, b->d, b->n, name, lim, e);
    if (rc != OCR_OK) return rc;
    rc = img_source_decode(out, &src, page, lim, e);
    img_source_free(&src);
    return rc;
}

/* Gray planes of a decoded image; exits on failure (fixture problem). */
static uint8_t *gray_of(PIX *p, int *w, int *h)
{
    uint8_t *g = NULL;
    ocr_err e;
    if (img_gray_planes(&g, w, h, p, &e) != OCR_OK) {
        printf("img_gray_planes: %s\n", e.msg);
        exit(2);
    }
    return g;
}

static int max_abs_diff(const uint8_t *a, const uint8_t *b, size_t n, double *mean)
{
    int worst = 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        sum += d;
        if (d > worst) worst = d;
    }
    if (mean) *mean = n ? sum / (double)n : 0;
    return worst;
}

/* Capture what this process writes to fd 2 into a file; returns the fd to
 * restore, or -1. */
static int stderr_capture_begin(const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tst_tmpdir(), file);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (saved < 0 || fd < 0) {
        printf("stderr capture: cannot open %s\n", path);
        exit(2);
    }
    dup2(fd, 2);
    close(fd);
    return saved;
}

/* Restores fd 2 and returns how many bytes were written meanwhile. */
static long stderr_capture_end(int saved, const char *file)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tst_tmpdir(), file);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---------------------------------------------------------- round trips */

typedef struct {
    const char *name;
    blob b;
    img_format fmt;
    int tol; /* max |diff| allowed per pixel; 0 = lossless */
} fixture;

enum { NFIX = 9 };

static void make_fixtures(fixture *f)
{
    PIX *g = make_gray();
    int i = 0;
    f[i++] = (fixture){"gray.png", encode(g, IFF_PNG), IMG_FMT_PNG, 0};
    f[i++] = (fixture){"gray.tif-lzw", encode(g, IFF_TIFF_LZW), IMG_FMT_TIFF, 0};
    f[i++] = (fixture){"gray.tif-zip", encode(g, IFF_TIFF_ZIP), IMG_FMT_TIFF, 0};
    f[i++] = (fixture){"gray.bmp", encode(g, IFF_BMP), IMG_FMT_BMP, 0};
    f[i++] = (fixture){"gray.pgm", encode(g, IFF_PNM), IMG_FMT_PNM, 0};
    f[i++] = (fixture){"gray.gif", encode(g, IFF_GIF), IMG_FMT_GIF, 0};
    blob w = {NULL, 0};
    if (pixWriteMemWebP(&w.d, &w.n, g, 100, 1) != 0) {
        printf("fixture: WebP lossless write failed\n");
        exit(2);
    }
    f[i++] = (fixture){"gray.webp", w, IMG_FMT_WEBP, 0};
    blob j = {NULL, 0};
    if (pixWriteMemJpeg(&j.d, &j.n, g, 95, 0) != 0) {
        printf("fixture: JPEG write failed\n");
        exit(2);
    }
    f[i++] = (fixture){"gray.jpg", j, IMG_FMT_JPEG, 24};
    blob k = {NULL, 0};
    if (pixWriteMemJp2k(&k.d, &k.n, g, 100, 5, 0, 0) != 0) {
        printf("fixture: JPEG 2000 write failed\n");
        exit(2);
    }
    f[i++] = (fixture){"gray.jp2", k, IMG_FMT_JP2, 2};
    pixDestroy(&g);
}

static void free_fixtures(fixture *f)
{
    for (int i = 0; i < NFIX; i++) blob_free(&f[i].b);
}

static void test_formats_round_trip(void)
{
    fixture f[NFIX];
    make_fixtures(f);
    PIX *ref = make_gray();
    int rw, rh;
    uint8_t *want = gray_of(ref, &rw, &rh);
    for (int i = 0; i < NFIX; i++) {
        PIX *p = NULL;
        ocr_err e;
        img_source src;
        ocr_status rc = img_source_from_memory(&src, f[i].b.d, f[i].b.n, f[i].name, NULL, &e);
        if (!CHECK(rc == OCR_OK, "%s: open: %s", f[i].name, e.msg)) continue;
        CHECK(src.format == f[i].fmt, "%s: detected as %s, expected %s", f[i].name,
              img_format_name(src.format), img_format_name(f[i].fmt));
        CHECK(src.n_pages == 1, "%s: %d pages", f[i].name, src.n_pages);
        rc = img_source_decode(&p, &src, 0, NULL, &e);
        img_source_free(&src);
        if (!CHECK(rc == OCR_OK && p, "%s: decode: %s", f[i].name, e.msg)) continue;
        int w, h;
        uint8_t *got = gray_of(p, &w, &h);
        if (CHECK(w == GW && h == GH, "%s: size %dx%d, expected %dx%d", f[i].name, w, h, GW, GH)) {
            double mean;
            int worst = max_abs_diff(got, want, (size_t)GW * GH, &mean);
            CHECK(worst <= f[i].tol, "%s: gray pixels differ by up to %d (mean %.2f), allowed %d",
                  f[i].name, worst, mean, f[i].tol);
            if (f[i].tol) CHECK(mean < 2.0, "%s: mean gray error %.2f", f[i].name, mean);
        }
        free(got);
        pixDestroy(&p);
    }
    free(want);
    pixDestroy(&ref);
    free_fixtures(f);
}

/* 1 bpp through G4 TIFF and PNG: Leptonica's 1 = black must come out as 0. */
static void test_binary(void)
{
    PIX *g = make_gray();
    PIX *bin = pixThresholdToBinary(g, 128);
    int iff[] = {IFF_TIFF_G4, IFF_PNG, IFF_TIFF_LZW, IFF_BMP, IFF_PNM};
    const char *names[] = {"bin.tif-g4", "bin.png", "bin.tif-lzw", "bin.bmp", "bin.pbm"};
    for (int i = 0; i < 5; i++) {
        blob b = encode(bin, iff[i]);
        PIX *p = NULL;
        ocr_err e;
        ocr_status rc = load_mem(&p, &b, names[i], 0, NULL, &e);
        if (CHECK(rc == OCR_OK, "%s: %s", names[i], e.msg)) {
            int w, h, bad = 0;
            uint8_t *got = gray_of(p, &w, &h);
            CHECK(w == GW && h == GH, "%s: size %dx%d", names[i], w, h);
            for (int y = 0; y < GH && w == GW && h == GH; y++)
                for (int x = 0; x < GW; x++) {
                    uint8_t want = gray_value(x, y) < 128 ? 0 : 255;
                    bad += got[y * GW + x] != want;
                }
            CHECK(bad == 0, "%s: %d binary pixels wrong", names[i], bad);
            free(got);
        }
        pixDestroy(&p);
        blob_free(&b);
    }
    pixDestroy(&bin);
    pixDestroy(&g);
}

static void test_rgb_planes(void)
{
    enum { W = 13, H = 7 };
    PIX *c = make_rgb(W, H);
    blob b = encode(c, IFF_PNG);
    PIX *p = NULL;
    ocr_err e;
    ocr_status rc = load_mem(&p, &b, "rgb.png", 0, NULL, &e);
    if (CHECK(rc == OCR_OK, "rgb.png: %s", e.msg)) {
        uint8_t *rgb = NULL;
        int w = 0, h = 0, bad = 0, badg = 0;
        rc = img_rgb_planes(&rgb, &w, &h, p, &e);
        CHECK(rc == OCR_OK && w == W && h == H, "img_rgb_planes: %d %dx%d %s", rc, w, h, e.msg);
        for (int y = 0; y < H && rgb; y++)
            for (int x = 0; x < W; x++) {
                int r, g, bl;
                rgb_value(x, y, &r, &g, &bl);
                size_t o = (size_t)y * W + (size_t)x, pl = (size_t)W * H;
                bad += rgb[o] != r || rgb[pl + o] != g || rgb[2 * pl + o] != bl;
            }
        CHECK(bad == 0, "rgb planes: %d pixels wrong (planar R, G, B expected)", bad);
        free(rgb);

        uint8_t *gray = NULL;
        rc = img_gray_planes(&gray, &w, &h, p, &e);
        CHECK(rc == OCR_OK && w == W && h == H, "img_gray_planes on RGB: %s", e.msg);
        for (int y = 0; y < H && gray; y++)
            for (int x = 0; x < W; x++) {
                int r, g, bl;
                rgb_value(x, y, &r, &g, &bl);
                double want = 0.299 * r + 0.587 * g + 0.114 * bl;
                badg += abs((int)gray[y * W + x] - (int)(want + 0.5)) > 1;
            }
        CHECK(badg == 0, "RGB->gray: %d pixels off the BT.601 luminance", badg);
        free(gray);
    }
    pixDestroy(&p);
    blob_free(&b);
    pixDestroy(&c);
}

/* Exact plane values on a tiny known gray image, and the layout (row-major,
 * no padding) of both plane functions. */
static void test_gray_planes_known(void)
{
    PIX *p = pixCreate(5, 3, 8);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++) pixSetPixel(p, x, y, (l_uint32)(y * 50 + x * 10 + 1));
    uint8_t *g = NULL, *c = NULL;
    int w, h, bad = 0;
    ocr_err e;
    CHECK(img_gray_planes(&g, &w, &h, p, &e) == OCR_OK && w == 5 && h == 3, "gray planes 5x3");
    CHECK(img_rgb_planes(&c, &w, &h, p, &e) == OCR_OK && w == 5 && h == 3, "rgb planes 5x3");
    for (int i = 0; g && c && i < 15; i++) {
        int want = (i / 5) * 50 + (i % 5) * 10 + 1;
        bad += g[i] != want || c[i] != want || c[15 + i] != want || c[30 + i] != want;
    }
    CHECK(bad == 0, "known 5x3 gray: %d plane values wrong", bad);
    free(g);
    free(c);
    pixDestroy(&p);
}

/* Depth, colormap and alpha normalisation. */
static void test_conversions(void)
{
    ocr_err e;
    PIX *out = NULL;

    /* 2 and 4 bpp gray spread over 0..255. */
    PIX *p2 = pixCreate(4, 1, 2);
    for (int x = 0; x < 4; x++) pixSetPixel(p2, x, 0, (l_uint32)x);
    CHECK(img_to_gray8(&out, p2, &e) == OCR_OK, "2 bpp: %s", e.msg);
    l_uint32 v[4] = {0};
    for (int x = 0; x < 4 && out; x++) pixGetPixel(out, x, 0, &v[x]);
    CHECK(v[0] == 0 && v[1] == 85 && v[2] == 170 && v[3] == 255, "2 bpp -> %u %u %u %u", v[0],
          v[1], v[2], v[3]);
    pixDestroy(&out);
    pixDestroy(&p2);

    PIX *p4 = pixCreate(2, 1, 4);
    pixSetPixel(p4, 0, 0, 0);
    pixSetPixel(p4, 1, 0, 15);
    CHECK(img_to_gray8(&out, p4, &e) == OCR_OK, "4 bpp: %s", e.msg);
    if (out) pixGetPixel(out, 0, 0, &v[0]);
    if (out) pixGetPixel(out, 1, 0, &v[1]);
    CHECK(v[0] == 0 && v[1] == 255, "4 bpp -> %u %u", v[0], v[1]);
    pixDestroy(&out);
    pixDestroy(&p4);

    /* 16 bpp keeps the most significant byte. */
    PIX *p16 = pixCreate(2, 1, 16);
    pixSetPixel(p16, 0, 0, 0x1234);
    pixSetPixel(p16, 1, 0, 0xff01);
    CHECK(img_to_gray8(&out, p16, &e) == OCR_OK, "16 bpp: %s", e.msg);
    if (out) pixGetPixel(out, 0, 0, &v[0]);
    if (out) pixGetPixel(out, 1, 0, &v[1]);
    CHECK(v[0] == 0x12 && v[1] == 0xff, "16 bpp -> %u %u", v[0], v[1]);
    pixDestroy(&out);
    pixDestroy(&p16);

    /* A colour colormap goes through the luminance weights. */
    PIX *pc = pixCreate(3, 1, 8);
    PIXCMAP *cm = pixcmapCreate(8);
    pixcmapAddColor(cm, 255, 0, 0);
    pixcmapAddColor(cm, 0, 255, 0);
    pixcmapAddColor(cm, 0, 0, 255);
    pixSetColormap(pc, cm);
    for (int x = 0; x < 3; x++) pixSetPixel(pc, x, 0, (l_uint32)x);
    CHECK(img_to_gray8(&out, pc, &e) == OCR_OK, "colormap: %s", e.msg);
    for (int x = 0; x < 3 && out; x++) pixGetPixel(out, x, 0, &v[x]);
    CHECK(abs((int)v[0] - 76) <= 1 && abs((int)v[1] - 150) <= 1 && abs((int)v[2] - 29) <= 1,
          "colormap red/green/blue -> %u %u %u, expected 76 150 29", v[0], v[1], v[2]);
    pixDestroy(&out);
    uint8_t *rgb = NULL;
    int w, h;
    CHECK(img_rgb_planes(&rgb, &w, &h, pc, &e) == OCR_OK, "colormap rgb: %s", e.msg);
    CHECK(rgb && rgb[0] == 255 && rgb[3 + 1] == 255 && rgb[6 + 2] == 255 && rgb[1] == 0,
          "colormap -> planar RGB");
    free(rgb);
    pixDestroy(&pc);

    /* Transparent pixels become white, whatever colour they store; the
     * result is a copy: the input keeps its alpha. */
    PIX *pa = pixCreate(2, 1, 32);
    pixSetSpp(pa, 4);
    pixSetPixel(pa, 0, 0, 0x00000000); /* transparent black */
    pixSetPixel(pa, 1, 0, 0x000000ff); /* opaque black */
    blob b = encode(pa, IFF_PNG);
    PIX *pd = NULL;
    CHECK(load_mem(&pd, &b, "alpha.png", 0, NULL, &e) == OCR_OK, "alpha.png: %s", e.msg);
    uint8_t *g = NULL;
    if (pd) CHECK(img_gray_planes(&g, &w, &h, pd, &e) == OCR_OK, "alpha gray: %s", e.msg);
    CHECK(g && g[0] == 255 && g[1] == 0, "alpha over white: got %d %d, expected 255 0",
          g ? g[0] : -1, g ? g[1] : -1);
    free(g);
    if (pd) CHECK(pixGetSpp(pd) == 4, "input keeps its alpha channel");
    PIX *c32 = NULL;
    if (pd) CHECK(img_to_rgb32(&c32, pd, &e) == OCR_OK && c32 != pd && pixGetDepth(c32) == 32,
                  "img_to_rgb32 returns a new 32 bpp image");
    pixDestroy(&c32);
    PIX *g8 = NULL;
    PIX *gin = make_gray();
    CHECK(img_to_gray8(&g8, gin, &e) == OCR_OK && g8 != gin, "img_to_gray8 of 8 bpp is a copy");
    pixDestroy(&g8);
    pixDestroy(&gin);
    pixDestroy(&pd);
    blob_free(&b);
    pixDestroy(&pa);

    CHECK(img_to_gray8(&out, NULL, &e) == OCR_E_ARG && out == NULL, "NULL input -> OCR_E_ARG");
}

/* --------------------------------------------------------- PNG variants */

static l_uint32 rgba_word(unsigned r, unsigned g, unsigned b, unsigned a)
{
    return (l_uint32)r << L_RED_SHIFT | (l_uint32)g << L_GREEN_SHIFT | (l_uint32)b << L_BLUE_SHIFT |
           (l_uint32)a << L_ALPHA_SHIFT;
}

/* A depth-bit sample as 8 bits: 2/4-bit spread over 0..255, 16-bit's
 * high byte. */
static unsigned to8(unsigned v, int depth)
{
    if (depth == 16) return v >> 8;
    if (depth == 8) return v;
    return v * 255 / ((1u << depth) - 1);
}

/* The PIX the decoder should make for sp: its depth and spp, and the
 * value pixGetPixel should give at (x, y). */
static l_uint32 png_expect(const png_spec *sp, int x, int y, int *depth, int *spp)
{
    int d = sp->depth;
    unsigned s0 = png_sample(x, y, 0, d), s1 = png_sample(x, y, 1, d);
    unsigned s2 = png_sample(x, y, 2, d), s3 = png_sample(x, y, 3, d);
    *depth = 32;
    *spp = 3;
    switch (sp->ctype) {
    case PNG_COLOR_TYPE_GRAY:
        if (sp->trns < 0) {
            *depth = d == 1 ? 1 : 8;
            return d == 1 ? !s0 : to8(s0, d); /* Leptonica: 1 = black */
        }
        *spp = 4;
        return rgba_word(to8(s0, d), to8(s0, d), to8(s0, d), s0 == (unsigned)sp->trns ? 0 : 255);
    case PNG_COLOR_TYPE_RGB: {
        bool clear = sp->trns >= 0 && s0 == (unsigned)sp->trns && s1 == s0 && s2 == s0;
        *spp = sp->trns >= 0 ? 4 : 3;
        return rgba_word(to8(s0, d), to8(s1, d), to8(s2, d), clear ? 0 : 255);
    }
    case PNG_COLOR_TYPE_PALETTE: {
        int r, g, b;
        png_palette_entry(sp->pal_kind, (int)s0, &r, &g, &b);
        if (sp->ntrns == 0 && sp->pal_kind >= 2 && d == 1) {
            *depth = 1;
            return r == 0;
        }
        if (sp->ntrns == 0 && sp->pal_kind >= 1) {
            *depth = 8;
            return (l_uint32)r;
        }
        *spp = sp->ntrns ? 4 : 3;
        int a = (int)s0 < sp->ntrns ? png_palette_alpha((int)s0) : 255;
        return rgba_word((unsigned)r, (unsigned)g, (unsigned)b, (unsigned)a);
    }
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        *spp = 4;
        return rgba_word(to8(s0, d), to8(s0, d), to8(s0, d), to8(s1, d));
    default:
        *spp = 4;
        return rgba_word(to8(s0, d), to8(s1, d), to8(s2, d), to8(s3, d));
    }
}

static void check_png_case(const png_spec *sp)
{
    static const char *pal_names[] = {"-colour", "-gray", "-bw", "-wb"};
    char name[80];
    snprintf(name, sizeof name, "png-type%d-%dbit%s%s%s.png", sp->ctype, sp->depth,
             sp->interlace ? "-interlaced" : "", sp->ntrns || sp->trns >= 0 ? "-trns" : "",
             sp->ctype == 3 ? pal_names[sp->pal_kind] : "");
    blob b = png_encode(sp);
    PIX *p = NULL;
    ocr_err e;
    ocr_status rc = load_mem(&p, &b, name, 0, NULL, &e);
    if (!CHECK(rc == OCR_OK && p, "%s: %s", name, e.msg)) {
        blob_free(&b);
        return;
    }
    int want_d = 0, want_spp = 0;
    png_expect(sp, 0, 0, &want_d, &want_spp);
    CHECK(pixGetWidth(p) == PW && pixGetHeight(p) == PH && pixGetDepth(p) == want_d &&
              (want_d != 32 || pixGetSpp(p) == want_spp) && !pixGetColormap(p),
          "%s: got %dx%d, %d bpp, spp %d; expected %dx%d, %d bpp, spp %d", name, pixGetWidth(p),
          pixGetHeight(p), pixGetDepth(p), pixGetSpp(p), PW, PH, want_d, want_spp);
    int bad = 0, bx = -1, by = -1;
    l_uint32 got_v = 0, want_v = 0;
    for (int y = 0; y < PH && pixGetDepth(p) == want_d; y++)
        for (int x = 0; x < PW; x++) {
            l_uint32 v = 0;
            int dd, ss;
            l_uint32 w = png_expect(sp, x, y, &dd, &ss);
            pixGetPixel(p, x, y, &v);
            if (v != w && bad++ == 0) {
                bx = x;
                by = y;
                got_v = v;
                want_v = w;
            }
        }
    CHECK(bad == 0, "%s: %d pixels wrong, first at (%d,%d): got 0x%08x, expected 0x%08x", name, bad,
          bx, by, got_v, want_v);
    if (sp->dpi)
        CHECK(pixGetXRes(p) == sp->dpi && pixGetYRes(p) == sp->dpi,
              "%s: resolution %dx%d, expected %d", name, pixGetXRes(p), pixGetYRes(p), sp->dpi);

    /* Leptonica's reader must agree on what the page looks like once both
     * are flattened to RGB (it keeps palettes and some depths that we
     * expand, so the PIX themselves differ). It ignores a gray image's
     * tRNS colour, which we honour. */
    if (sp->ctype == PNG_COLOR_TYPE_GRAY && sp->trns >= 0) {
        pixDestroy(&p);
        blob_free(&b);
        return;
    }
    PIX *lp = pixReadMemPng(b.d, b.n);
    if (CHECK(lp != NULL, "%s: Leptonica cannot read the fixture", name)) {
        uint8_t *ours = NULL, *theirs = NULL;
        int w1, h1, w2, h2;
        if (img_rgb_planes(&ours, &w1, &h1, p, &e) == OCR_OK &&
            img_rgb_planes(&theirs, &w2, &h2, lp, &e) == OCR_OK && w1 == w2 && h1 == h2) {
            int worst = max_abs_diff(ours, theirs, (size_t)w1 * (size_t)h1 * 3, NULL);
            CHECK(worst <= 1, "%s: RGB differs from Leptonica's by up to %d", name, worst);
        } else {
            CHECK(false, "%s: RGB planes: %s", name, e.msg);
        }
        free(ours);
        free(theirs);
    }
    pixDestroy(&lp);
    pixDestroy(&p);
    blob_free(&b);
}

static void test_png_variants(void)
{
    static const png_spec base[] = {
        /* ctype, depth, interlace, pal_kind, ntrns, trns, dpi */
        {0, 1, false, 0, 0, -1, 0},   {0, 2, false, 0, 0, -1, 0},  {0, 4, false, 0, 0, -1, 0},
        {0, 8, false, 0, 0, -1, 300}, {0, 16, false, 0, 0, -1, 0}, {0, 8, false, 0, 0, 1000, 0},
        {0, 2, false, 0, 0, 1000, 0}, {0, 16, false, 0, 0, 1000, 0},
        {2, 8, false, 0, 0, -1, 0},   {2, 16, false, 0, 0, -1, 0}, {2, 8, false, 0, 0, 1000, 0},
        {4, 8, false, 0, 0, -1, 0},   {4, 16, false, 0, 0, -1, 0},
        {6, 8, false, 0, 0, -1, 72},  {6, 16, false, 0, 0, -1, 0},
        {3, 1, false, 0, 0, -1, 0},   {3, 2, false, 0, 0, -1, 0},  {3, 4, false, 0, 0, -1, 0},
        {3, 8, false, 0, 0, -1, 0},   {3, 1, false, 0, 1, -1, 0},  {3, 2, false, 0, 3, -1, 0},
        {3, 4, false, 0, 7, -1, 0},   {3, 8, false, 0, 100, -1, 0}, {3, 2, false, 1, 0, -1, 0},
        {3, 8, false, 1, 0, -1, 0},   {3, 1, false, 2, 0, -1, 0},  {3, 1, false, 3, 0, -1, 0},
        {3, 2, false, 2, 0, -1, 0},
    };
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        for (int il = 0; il < 2; il++) {
            png_spec sp = base[i];
            sp.interlace = il;
            /* A gray tRNS value that occurs in the picture. */
            if (sp.trns == 1000) sp.trns = (int)png_sample(3, 4, 0, sp.depth);
            check_png_case(&sp);
        }
}

/* -------------------------------------------------------- JPEG variants */

/* Pixels of our decode and of Leptonica's, as RGB planes. */
static int rgb_diff_vs_leptonica(PIX *ours, const blob *b)
{
    PIX *lp = pixReadMemJpeg(b->d, b->n, 0, 1, NULL, 0);
    if (!lp) return 999;
    uint8_t *x = NULL, *y = NULL;
    int w1, h1, w2, h2, worst = 999;
    ocr_err e;
    if (img_rgb_planes(&x, &w1, &h1, ours, &e) == OCR_OK &&
        img_rgb_planes(&y, &w2, &h2, lp, &e) == OCR_OK && w1 == w2 && h1 == h2)
        worst = max_abs_diff(x, y, (size_t)w1 * (size_t)h1 * 3, NULL);
    free(x);
    free(y);
    pixDestroy(&lp);
    return worst;
}

/* Worst and mean error against the picture jpeg_encode was given. */
static int jpg_error(PIX *p, int w, int h, bool gray, double *mean)
{
    uint8_t *rgb = NULL;
    int pw, ph;
    ocr_err e;
    if (img_rgb_planes(&rgb, &pw, &ph, p, &e) != OCR_OK || pw != w || ph != h) {
        free(rgb);
        *mean = 999;
        return 999;
    }
    size_t pl = (size_t)w * (size_t)h;
    uint8_t *want = malloc(3 * pl);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int r, g, b;
            jpg_rgb(x, y, w, h, &r, &g, &b);
            size_t o = (size_t)y * (size_t)w + (size_t)x;
            want[o] = (uint8_t)r;
            want[pl + o] = (uint8_t)(gray ? r : g);
            want[2 * pl + o] = (uint8_t)(gray ? r : b);
        }
    int worst = max_abs_diff(rgb, want, 3 * pl, mean);
    free(rgb);
    free(want);
    return worst;
}

static void test_jpeg_variants(void)
{
    enum { W = 75, H = 53 };
    static const struct {
        const char *name;
        jpg_spec sp;
        int dpi;
    } cases[] = {
        {"gray.jpg", {JCS_GRAYSCALE, false, false, false, 92, 1, 300, 300}, 300},
        {"gray-progressive.jpg", {JCS_GRAYSCALE, true, false, false, 92, 0, 0, 0}, 0},
        {"rgb-420.jpg", {JCS_RGB, false, false, false, 92, 2, 118, 118}, 300},
        {"rgb-444.jpg", {JCS_RGB, false, true, false, 92, 0, 0, 0}, 0},
        {"rgb-progressive.jpg", {JCS_RGB, true, false, false, 92, 1, 150, 150}, 150},
        {"rgb-444-progressive.jpg", {JCS_RGB, true, true, false, 92, 0, 0, 0}, 0},
        {"rgb-arith.jpg", {JCS_RGB, false, false, true, 92, 0, 0, 0}, 0},
        {"cmyk.jpg", {JCS_CMYK, false, true, false, 95, 0, 0, 0}, 0},
        {"cmyk-progressive.jpg", {JCS_CMYK, true, true, false, 95, 0, 0, 0}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = cases[i].name;
        blob b = jpeg_encode(&cases[i].sp, W, H);
        PIX *p = NULL;
        ocr_err e;
        ocr_status rc = load_mem(&p, &b, name, 0, NULL, &e);
        if (!CHECK(rc == OCR_OK && p, "%s: %s", name, e.msg)) {
            blob_free(&b);
            continue;
        }
        bool gray = cases[i].sp.cs == JCS_GRAYSCALE;
        CHECK(pixGetWidth(p) == W && pixGetHeight(p) == H && pixGetDepth(p) == (gray ? 8 : 32) &&
                  (gray || pixGetSpp(p) == 3),
              "%s: %dx%d, %d bpp, spp %d", name, pixGetWidth(p), pixGetHeight(p), pixGetDepth(p),
              pixGetSpp(p));
        double mean = 0;
        int worst = jpg_error(p, W, H, gray, &mean);
        CHECK(worst <= 48 && mean < 2.5,
              "%s: differs from the encoded picture by up to %d (mean %.2f)", name, worst, mean);
        /* Same library, same settings: Leptonica's pixels exactly. Its
         * CMYK conversion is its own. */
        if (cases[i].sp.cs != JCS_CMYK) {
            int d = rgb_diff_vs_leptonica(p, &b);
            CHECK(d == 0, "%s: differs from Leptonica's decode by up to %d", name, d);
        }
        CHECK(pixGetXRes(p) == cases[i].dpi && pixGetYRes(p) == cases[i].dpi,
              "%s: resolution %dx%d, expected %d", name, pixGetXRes(p), pixGetYRes(p),
              cases[i].dpi);
        pixDestroy(&p);
        blob_free(&b);
    }
}

/* Truncation anywhere gives OCR_E_FORMAT naming the file, never a
 * gray-filled image; a baseline file that lacks only its EOI marker still
 * holds every pixel and decodes. */
static void test_jpeg_truncation(void)
{
    enum { W = 160, H = 120 };
    static const struct {
        const char *kind;
        jpg_spec sp;
    } kinds[] = {
        {"baseline", {JCS_RGB, false, false, false, 90, 0, 0, 0}},
        {"gray", {JCS_GRAYSCALE, false, false, false, 90, 0, 0, 0}},
        {"progressive", {JCS_RGB, true, false, false, 90, 0, 0, 0}},
        {"arith", {JCS_RGB, false, false, true, 90, 0, 0, 0}},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        blob full = jpeg_encode(&kinds[k].sp, W, H);
        PIX *ref = NULL;
        ocr_err e;
        char name[96];
        snprintf(name, sizeof name, "%s.jpg", kinds[k].kind);
        if (!CHECK(load_mem(&ref, &full, name, 0, NULL, &e) == OCR_OK, "%s: %s", name, e.msg)) {
            blob_free(&full);
            continue;
        }
        size_t cuts[] = {full.n / 20, full.n / 10, full.n * 3 / 10, full.n / 2, full.n * 7 / 10,
                         full.n * 9 / 10, full.n - 4};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            blob b = cut(&full, cuts[c]);
            snprintf(name, sizeof name, "%s-cut-%zu-of-%zu.jpg", kinds[k].kind, cuts[c], full.n);
            PIX *p = NULL;
            ocr_status rc = load_mem(&p, &b, name, 0, NULL, &e);
            CHECK(rc == OCR_E_FORMAT && !p && strstr(e.msg, name) &&
                      strstr(e.msg, "truncated JPEG"),
                  "%s: status %d: %s", name, rc, e.msg);
            pixDestroy(&p);
            blob_free(&b);
        }
        /* Without its EOI marker. */
        blob b = cut(&full, full.n - 2);
        snprintf(name, sizeof name, "%s-no-eoi.jpg", kinds[k].kind);
        PIX *p = NULL;
        ocr_status rc = load_mem(&p, &b, name, 0, NULL, &e);
        if (kinds[k].sp.progressive || kinds[k].sp.arith) {
            /* Progressive: the scans are read to the end first, and a file
             * cut between scans cannot be told from one missing only EOI.
             * Arithmetic coding reads ahead without telling. */
            CHECK(rc == OCR_E_FORMAT && strstr(e.msg, "truncated"), "%s: %d %s", name, rc, e.msg);
        } else if (CHECK(rc == OCR_OK && p, "%s: %s", name, e.msg)) {
            uint8_t *x = NULL, *y = NULL;
            int w, h;
            img_rgb_planes(&x, &w, &h, p, &e);
            img_rgb_planes(&y, &w, &h, ref, &e);
            CHECK(x && y && max_abs_diff(x, y, (size_t)W * H * 3, NULL) == 0,
                  "%s: pixels differ from the complete file's", name);
            free(x);
            free(y);
        }
        pixDestroy(&p);
        blob_free(&b);

        /* An EOI marker in the middle of the entropy-coded data. */
        if (!kinds[k].sp.progressive && !kinds[k].sp.arith) {
            b = cut(&full, full.n);
            b.d[full.n * 6 / 10] = 0xff;
            b.d[full.n * 6 / 10 + 1] = 0xd9;
            snprintf(name, sizeof name, "%s-early-eoi.jpg", kinds[k].kind);
            rc = load_mem(&p, &b, name, 0, NULL, &e);
            CHECK(rc == OCR_E_FORMAT && !p && strstr(e.msg, name) && strstr(e.msg, "corrupt JPEG"),
                  "%s: status %d: %s", name, rc, e.msg);
            pixDestroy(&p);
            blob_free(&b);
        }
        pixDestroy(&ref);
        blob_free(&full);
    }
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* kilobytes on Linux */
}

/* A ~1 KB JPEG whose frame header claims 14000x14000 (196 megapixels,
 * under the default limit) used to make libjpeg allocate and gray-fill
 * 200-800 MB, plus 1.2 GB of coefficients when progressive. It must now
 * be refused before any of that: run first, while the process's peak RSS
 * is still small, so that a peak caused here would show. */
static void test_jpeg_memory(void)
{
    static const struct {
        const char *name;
        jpg_spec sp;
    } cases[] = {
        {"tiny-huge-gray.jpg", {JCS_GRAYSCALE, false, false, false, 90, 0, 0, 0}},
        {"tiny-huge-rgb.jpg", {JCS_RGB, false, true, false, 90, 0, 0, 0}},
        {"tiny-huge-progressive.jpg", {JCS_RGB, true, true, false, 90, 0, 0, 0}},
        {"tiny-huge-gray-progressive.jpg", {JCS_GRAYSCALE, true, false, false, 90, 0, 0, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob b = jpeg_encode(&cases[i].sp, 16, 16);
        patch_sof(&b, 14000, 14000);
        PIX *p = NULL;
        ocr_err e;
        long before = max_rss_kb();
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ocr_status rc = load_mem(&p, &b, cases[i].name, 0, NULL, &e);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long grew = max_rss_kb() - before;
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        CHECK(rc == OCR_E_FORMAT && !p && strstr(e.msg, cases[i].name) &&
                  strstr(e.msg, "truncated") && strstr(e.msg, "14000x14000"),
              "%s (%zu bytes): status %d: %s", cases[i].name, b.n, rc, e.msg);
        CHECK(grew < 200 * 1024, "%s: peak RSS grew by %ld MB", cases[i].name, grew / 1024);
        printf("   %s: %zu bytes refused in %.2f ms, peak RSS +%ld KB\n", cases[i].name, b.n, ms,
               grew);
        pixDestroy(&p);
        blob_free(&b);
    }
}

/* The coefficient budget of progressive files (4 bytes per pixel of the
 * pixel limit) and the cap on the number of scans. */
static void test_jpeg_limits(void)
{
    jpg_spec sp = {JCS_RGB, true, true, false, 90, 0, 0, 0};
    blob b = jpeg_encode(&sp, 200, 200); /* 6 bytes of coefficients a pixel */
    img_limits lim = img_default_limits();
    PIX *p = NULL;
    ocr_err e;
    lim.max_pixels = 50000;
    ocr_status rc = load_mem(&p, &b, "budget.jpg", 0, &lim, &e);
    CHECK(rc == OCR_E_LIMIT && !p && strstr(e.msg, "budget.jpg") && strstr(e.msg, "coefficient"),
          "progressive 200x200 4:4:4 under a 50000-pixel limit: %d %s", rc, e.msg);
    lim.max_pixels = 60000;
    rc = load_mem(&p, &b, "budget.jpg", 0, &lim, &e);
    CHECK(rc == OCR_OK && p, "the same under a 60000-pixel limit (240 KB allowed): %s", e.msg);
    pixDestroy(&p);
    blob_free(&b);

    /* 600 extra copies of the DC refinement scan (one bit a block, whatever
     * came before): libjpeg only warns about the odd progression, the scan
     * cap stops it. */
    jpg_spec gp = {JCS_GRAYSCALE, true, false, false, 90, 0, 0, 0};
    blob g = jpeg_encode(&gp, 64, 64);
    size_t at = 0, end = 0;
    for (size_t i = 0; i + 10 < g.n && !at; i++)
        if (g.d[i] == 0xff && g.d[i + 1] == 0xda && g.d[i + 4] == 1 && g.d[i + 7] == 0 &&
            (g.d[i + 9] >> 4) != 0)
            at = i;
    if (at) { /* the scan runs to the next marker that is not a stuffed 0xff */
        end = at + 2 + ((size_t)g.d[at + 2] << 8 | g.d[at + 3]);
        while (end + 1 < g.n && !(g.d[end] == 0xff && g.d[end + 1] != 0)) end++;
    }
    if (!CHECK(at && end + 1 < g.n, "fixture: no DC refinement scan in a progressive JPEG")) {
        blob_free(&g);
        return;
    }
    size_t scan = end - at, reps = 600;
    blob many = {malloc(g.n + scan * reps), g.n + scan * reps};
    memcpy(many.d, g.d, end);
    for (size_t r = 0; r < reps; r++) memcpy(many.d + end + r * scan, g.d + at, scan);
    memcpy(many.d + end + scan * reps, g.d + end, g.n - end);
    rc = load_mem(&p, &many, "scans.jpg", 0, NULL, &e);
    CHECK(rc == OCR_E_FORMAT && !p && strstr(e.msg, "scans.jpg") && strstr(e.msg, "500 scans"),
          "600 scans: %d %s", rc, e.msg);
    pixDestroy(&p);
    blob_free(&many);
    blob_free(&g);
}

static void test_multipage_tiff(void)
{
    PIXA *pa = pixaCreate(3);
    PIX *p0 = pixCreate(50, 30, 8), *p1 = pixCreate(40, 20, 8), *p2 = make_rgb(30, 10);
    pixSetAllArbitrary(p0, 40);
    pixSetAllArbitrary(p1, 200);
    PIX *b1 = pixThresholdToBinary(p1, 128); /* all white, as G4 */
    pixaAddPix(pa, p0, L_INSERT);
    pixaAddPix(pa, b1, L_INSERT);
    pixaAddPix(pa, p2, L_INSERT);
    pixDestroy(&p1);
    blob b = {NULL, 0};
    if (pixaWriteMemMultipageTiff(&b.d, &b.n, pa) != 0) {
        printf("fixture: multipage TIFF write failed\n");
        exit(2);
    }
    pixaDestroy(&pa);

    img_source src;
    ocr_err e;
    ocr_status rc = img_source_from_memory(&src, b.d, b.n, "three.tif", NULL, &e);
    if (CHECK(rc == OCR_OK, "three.tif: %s", e.msg)) {
        CHECK(src.format == IMG_FMT_TIFF && src.n_pages == 3, "three.tif: %s with %d pages",
              img_format_name(src.format), src.n_pages);
        int want_w[3] = {50, 40, 30}, want_h[3] = {30, 20, 10}, want_d[3] = {8, 1, 32};
        for (int i = 0; i < 3; i++) {
            PIX *p = NULL;
            rc = img_source_decode(&p, &src, i, NULL, &e);
            if (!CHECK(rc == OCR_OK, "three.tif page %d: %s", i, e.msg)) continue;
            CHECK(pixGetWidth(p) == want_w[i] && pixGetHeight(p) == want_h[i] &&
                      pixGetDepth(p) == want_d[i],
                  "page %d is %dx%dx%d", i, pixGetWidth(p), pixGetHeight(p), pixGetDepth(p));
            uint8_t *g = NULL;
            int w, h;
            if (img_gray_planes(&g, &w, &h, p, &e) == OCR_OK) {
                if (i == 0) CHECK(g[0] == 40 && g[w * h - 1] == 40, "page 0 gray 40");
                if (i == 1) CHECK(g[0] == 255, "page 1 white");
                if (i == 2) {
                    PIX *ref = make_rgb(30, 10);
                    uint8_t *rg = gray_of(ref, &w, &h);
                    CHECK(max_abs_diff(g, rg, (size_t)w * h, NULL) == 0, "page 2 pixels");
                    free(rg);
                    pixDestroy(&ref);
                }
                free(g);
            }
            pixDestroy(&p);
        }
        PIX *p = NULL;
        rc = img_source_decode(&p, &src, 3, NULL, &e);
        CHECK(rc == OCR_E_ARG && !p, "page index 3 -> OCR_E_ARG (got %d)", rc);
        CHECK(strstr(e.msg, "three.tif") && strstr(e.msg, "page") && strstr(e.msg, "3 pages"),
              "page out of range message: %s", e.msg);
        rc = img_source_decode(&p, &src, -1, NULL, &e);
        CHECK(rc == OCR_E_ARG && !p, "page index -1 -> OCR_E_ARG");
        img_source_free(&src);
    }
    blob_free(&b);
}

/* File path, "-" = stdin, and messages naming "<stdin>". */
static void test_sources(void)
{
    PIX *g = make_gray();
    blob b = encode(g, IFF_PNG);
    pixDestroy(&g);
    const char *path = tst_write_file("page.png", b.d, b.n);
    PIX *p = NULL;
    ocr_err e;
    ocr_status rc = img_load(&p, path, NULL, &e);
    CHECK(rc == OCR_OK && p && pixGetWidth(p) == GW, "img_load(path): %s", e.msg);
    pixDestroy(&p);

    /* stdin: put the file on fd 0, then restore it. */
    int saved = dup(0);
    int fd = open(path, O_RDONLY);
    if (saved < 0 || fd < 0) {
        tst_skip("stdin source", "cannot dup file descriptors");
    } else {
        dup2(fd, 0);
        close(fd);
        clearerr(stdin);
        rc = img_load(&p, "-", NULL, &e);
        CHECK(rc == OCR_OK && p && pixGetWidth(p) == GW && pixGetHeight(p) == GH,
              "img_load(\"-\") from stdin: %s", e.msg);
        pixDestroy(&p);

        const char *junk = tst_write_file("junk.txt", "hello, world\n", 13);
        fd = open(junk, O_RDONLY);
        dup2(fd, 0);
        close(fd);
        clearerr(stdin);
        rc = img_load(&p, "-", NULL, &e);
        CHECK(rc == OCR_E_FORMAT && strstr(e.msg, "<stdin>") && strstr(e.msg, "not a supported"),
              "garbage on stdin: %s", e.msg);
        dup2(saved, 0);
        close(saved);
        clearerr(stdin);
    }

    rc = img_load(&p, "/nonexistent/dir/page.png", NULL, &e);
    CHECK(rc == OCR_E_IO && strstr(e.msg, "/nonexistent/dir/page.png"), "missing file: %s", e.msg);
    rc = img_load(&p, tst_tmpdir(), NULL, &e);
    CHECK(rc == OCR_E_IO && strstr(e.msg, "directory"), "directory: %s", e.msg);

    /* Byte limit, from a file and from memory. */
    img_limits lim = img_default_limits();
    lim.max_bytes = 100;
    rc = img_load(&p, path, &lim, &e);
    CHECK(rc == OCR_E_LIMIT && strstr(e.msg, "page.png"), "max_bytes on a file: %s", e.msg);
    rc = load_mem(&p, &b, "mem.png", 0, &lim, &e);
    CHECK(rc == OCR_E_LIMIT && strstr(e.msg, "mem.png"), "max_bytes in memory: %s", e.msg);

    lim = img_default_limits();
    CHECK(lim.max_pixels == 200000000u && lim.max_bytes == ((size_t)1 << 30), "default limits");
    CHECK(strcmp(img_format_name(IMG_FMT_TIFF), "TIFF") == 0 &&
              strcmp(img_format_name(IMG_FMT_UNKNOWN), "unknown") == 0,
          "img_format_name");
    blob_free(&b);
}

/* ------------------------------------------------------------- hostile */

typedef struct {
    const char *name; /* also the file name, which every message must hold */
    blob b;
    img_limits lim;
    int page;
    ocr_status want;
    const char *word;  /* must appear in the message */
    const char *word2; /* and this, when not NULL */
} hostile;

enum { MAXH = 80 };

static int make_hostile(hostile *hs)
{
    int n = 0;
    img_limits dl = img_default_limits();
    PIX *g = make_gray();
    blob png = encode(g, IFF_PNG);
    blob jpg = {NULL, 0};
    pixWriteMemJpeg(&jpg.d, &jpg.n, g, 90, 0);
    blob tif = encode(g, IFF_TIFF_LZW);
    blob pgm = encode(g, IFF_PNM);
    blob gif = encode(g, IFF_GIF);
    blob bmp = encode(g, IFF_BMP);
    blob webp = {NULL, 0};
    pixWriteMemWebP(&webp.d, &webp.n, g, 80, 0);
    blob jp2 = {NULL, 0};
    pixWriteMemJp2k(&jp2.d, &jp2.n, g, 34, 5, 0, 0);

#define ADD(nm, blb, st, w1, w2) \
    hs[n++] = (hostile){(nm), (blb), dl, 0, (st), (w1), (w2)}

    ADD("empty.png", cut(&png, 0), OCR_E_FORMAT, "empty", NULL);
    blob garbage = {malloc(300), 300};
    for (int i = 0; i < 300; i++) garbage.d[i] = (uint8_t)(i * 131 + 17);
    ADD("garbage.bin", garbage, OCR_E_FORMAT, "not a supported image", NULL);
    ADD("html.png", text_blob("<!DOCTYPE html><html>404</html>", 0), OCR_E_FORMAT,
        "not a supported image", "<!DOCTYP");
    ADD("half.png", cut(&png, png.n / 2), OCR_E_FORMAT, "truncated", "PNG");
    ADD("ihdr-cut.png", cut(&png, 20), OCR_E_FORMAT, "truncated", "IHDR");
    ADD("sig-only.png", cut(&png, 8), OCR_E_FORMAT, "truncated", "PNG");

    /* Flip a byte of IDAT data but keep the old CRC: checksum error. */
    blob crc = cut(&png, png.n);
    size_t idat = png_find_chunk(&crc, "IDAT");
    crc.d[idat + 8 + 5] ^= 0x55;
    ADD("badcrc.png", crc, OCR_E_FORMAT, "corrupt", "PNG");
    /* Garbage IDAT with a correct CRC: the inflate step fails. */
    blob gidat = cut(&png, png.n);
    idat = png_find_chunk(&gidat, "IDAT");
    uint32_t ilen = (uint32_t)gidat.d[idat] << 24 | (uint32_t)gidat.d[idat + 1] << 16 |
                    (uint32_t)gidat.d[idat + 2] << 8 | gidat.d[idat + 3];
    for (uint32_t i = 0; i < ilen; i++) gidat.d[idat + 8 + i] = (uint8_t)(i * 7 + 3);
    put_be32(gidat.d + idat + 8 + ilen, crc32_png(gidat.d + idat + 4, 4 + ilen));
    ADD("garbage-idat.png", gidat, OCR_E_FORMAT, "corrupt", "PNG");

    ADD("huge.png", png_claiming(100000, 100000), OCR_E_LIMIT, "megapixel", "100000x100000");
    ADD("zero.png", png_claiming(0, 5), OCR_E_FORMAT, "0x5", "PNG");
    ADD("max.png", png_claiming(0x7fffffff, 0x7fffffff), OCR_E_LIMIT, "megapixel", NULL);

    /* JPEG cut right after SOI + APP0: no frame header at all. */
    ADD("header-only.jpg", cut(&jpg, 20), OCR_E_FORMAT, "JPEG", "header");
    ADD("half.jpg", cut(&jpg, jpg.n / 2), OCR_E_FORMAT, "truncated", "JPEG");
    blob bigj = cut(&jpg, jpg.n);
    patch_sof(&bigj, 65000, 65000);
    ADD("huge.jpg", bigj, OCR_E_LIMIT, "megapixel", "65000x65000");

    ADD("half.tif", cut(&tif, tif.n / 2), OCR_E_FORMAT, "TIFF", "truncated");
    blob ifd = cut(&tif, tif.n);
    put_le32(ifd.d + 4, 0x7ffffff0u);
    ADD("bad-ifd.tif", ifd, OCR_E_FORMAT, "TIFF", "corrupt");
    ADD("header-only.tif", cut(&tif, 8), OCR_E_FORMAT, "TIFF", "corrupt");
    /* Rewrite the ImageWidth/ImageLength entries to 100000 each. */
    blob bigt = cut(&tif, tif.n);
    uint32_t off = (uint32_t)bigt.d[4] | (uint32_t)bigt.d[5] << 8 | (uint32_t)bigt.d[6] << 16 |
                   (uint32_t)bigt.d[7] << 24;
    if (off + 2 <= bigt.n) {
        unsigned cnt = bigt.d[off] | (unsigned)bigt.d[off + 1] << 8;
        for (unsigned k = 0; k < cnt && off + 2 + 12 * (k + 1) <= bigt.n; k++) {
            uint8_t *en = bigt.d + off + 2 + 12 * k;
            unsigned tag = en[0] | (unsigned)en[1] << 8;
            if (tag == 256 || tag == 257) {
                put_le16(en + 2, 4); /* LONG */
                put_le32(en + 4, 1);
                put_le32(en + 8, 100000);
            }
        }
    }
    ADD("huge.tif", bigt, OCR_E_LIMIT, "megapixel", "100000x100000");

    ADD("huge.bmp", bmp_claiming(50000, 50000), OCR_E_LIMIT, "megapixel", "50000x50000");
    ADD("tall.bmp", bmp_claiming(2, INT32_MIN), OCR_E_LIMIT, "megapixel", NULL);
    ADD("zero.bmp", bmp_claiming(0, 10), OCR_E_FORMAT, "BMP", NULL);
    ADD("short.bmp", cut(&bmp, 20), OCR_E_FORMAT, "BMP", "truncated");
    ADD("half.bmp", cut(&bmp, bmp.n / 2), OCR_E_FORMAT, "BMP", "truncated");

    ADD("huge.pgm", text_blob("P5\n100000 100000\n255\n", 64), OCR_E_LIMIT, "megapixel", NULL);
    /* Under the limit, but the file cannot hold the pixels: refused before
     * the decoder allocates for them. */
    ADD("short.pgm", text_blob("P5\n14000 14000\n255\n", 64), OCR_E_FORMAT, "truncated",
        "14000x14000");
    ADD("short.png", png_claiming(14000, 14000), OCR_E_FORMAT, "truncated", "14000x14000");
    /* Over Leptonica's own cap (2 GiB per image) once the caller lifts the
     * pixel limit: a colour JPEG whose frame header says 30000x30000 would
     * be 3.6 GB as 32 bpp. */
    PIX *c = make_rgb(16, 16);
    blob capj = {NULL, 0};
    pixWriteMemJpeg(&capj.d, &capj.n, c, 90, 0);
    pixDestroy(&c);
    patch_sof(&capj, 30000, 30000);
    hs[n] = (hostile){"cap.jpg", capj, dl, 0, OCR_E_LIMIT, "2 GiB", "30000x30000"};
    hs[n++].lim.max_pixels = 1000000000;
    /* Numbers past INT_MAX: refused one way or the other, never trusted. */
    blob overflow = text_blob("P5\n99999999999 99999999999\n255\n", 64);
    hs[n++] = (hostile){"overflow.pgm", overflow, dl, 0, OCR_E_FORMAT, "PNM", NULL};
    ADD("half.pgm", cut(&pgm, pgm.n / 2), OCR_E_FORMAT, "PNM", "truncated");

    /* GIF: a 10x10 screen holding a 60000x60000 frame. */
    static const uint8_t gbig[] = {'G', 'I', 'F', '8', '9', 'a', 10, 0, 10, 0, 0, 0, 0,
                                   0x2c, 0, 0, 0, 0, 0x60, 0xea, 0x60, 0xea, 0,
                                   2, 2, 0x4c, 0x01, 0, 0x3b};
    blob gb = {malloc(sizeof gbig), sizeof gbig};
    memcpy(gb.d, gbig, sizeof gbig);
    ADD("huge-frame.gif", gb, OCR_E_LIMIT, "megapixel", "60000x60000");
    ADD("half.gif", cut(&gif, gif.n / 2), OCR_E_FORMAT, "GIF", "truncated");

    /* WebP VP8L header claiming 16384x16384 (268 megapixels). */
    blob wb = {calloc(1, 64), 64};
    memcpy(wb.d, "RIFF", 4);
    put_le32(wb.d + 4, 56);
    memcpy(wb.d + 8, "WEBPVP8L", 8);
    put_le32(wb.d + 16, 44);
    wb.d[20] = 0x2f;
    put_le32(wb.d + 21, 0x0fffffffu);
    ADD("huge.webp", wb, OCR_E_LIMIT, "megapixel", "16384x16384");
    ADD("half.webp", cut(&webp, webp.n / 2), OCR_E_FORMAT, "WebP", "truncated");

    /* JPEG 2000: the codestream's SIZ says 100000x100000 while the jp2
     * 'ihdr' box still says 97x61; openjpeg would allocate from SIZ. */
    blob bigk = cut(&jp2, jp2.n);
    for (size_t i = 0; i + 8 + 20 < bigk.n; i++)
        if (memcmp(bigk.d + i, "jp2c", 4) == 0) {
            put_be32(bigk.d + i + 4 + 8, 100000);  /* Xsiz */
            put_be32(bigk.d + i + 4 + 12, 100000); /* Ysiz */
            break;
        }
    ADD("huge.jp2", bigk, OCR_E_LIMIT, "megapixel", "100000x100000");
    ADD("half.jp2", cut(&jp2, jp2.n / 2), OCR_E_FORMAT, "JPEG 2000", "corrupt");
    ADD("box-cut.jp2", cut(&jp2, 40), OCR_E_FORMAT, "JPEG 2000", "truncated");

    /* A custom limit refuses a normal image. */
    hs[n] = (hostile){"small-limit.png", cut(&png, png.n), dl, 0, OCR_E_LIMIT, "megapixel",
                      "97x61"};
    hs[n++].lim.max_pixels = 5000;

    hs[n++] = (hostile){"page2.png", cut(&png, png.n), dl, 1, OCR_E_ARG, "page", "1 page"};
    ADD("doc.pdf", text_blob("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", 0),
        OCR_E_FORMAT, "PDF", NULL);

    /* Our own PNG and JPEG drivers: truncation at several points, early
     * markers, size claims the data cannot back. */
    png_spec ps = {PNG_COLOR_TYPE_RGB_ALPHA, 8, true, 0, 0, -1, 0};
    blob ipng = png_encode(&ps);
    ADD("half-interlaced.png", cut(&ipng, ipng.n / 2), OCR_E_FORMAT, "truncated", "PNG");
    ADD("no-iend.png", cut(&ipng, ipng.n - 12), OCR_E_FORMAT, "truncated", "IEND");
    blob_free(&ipng);
    ps = (png_spec){PNG_COLOR_TYPE_PALETTE, 4, false, 0, 5, -1, 0};
    blob ppng = png_encode(&ps);
    ADD("cut-palette.png", cut(&ppng, ppng.n * 2 / 3), OCR_E_FORMAT, "truncated", "PNG");
    /* Drop the PLTE chunk (a palette image without its palette). */
    size_t plte = png_find_chunk(&ppng, "PLTE");
    uint32_t plen = (uint32_t)ppng.d[plte + 2] << 8 | ppng.d[plte + 3];
    blob nopal = cut(&ppng, ppng.n);
    memmove(nopal.d + plte, nopal.d + plte + 12 + plen, nopal.n - plte - 12 - plen);
    nopal.n -= 12 + plen;
    ADD("no-plte.png", nopal, OCR_E_FORMAT, "corrupt", "PNG");
    blob_free(&ppng);
    ps = (png_spec){PNG_COLOR_TYPE_GRAY, 16, false, 0, 0, -1, 0};
    blob g16 = png_encode(&ps);
    ADD("cut16.png", cut(&g16, g16.n - 30), OCR_E_FORMAT, "truncated", "PNG");
    blob_free(&g16);

    jpg_spec js = {JCS_RGB, false, false, false, 90, 0, 0, 0};
    blob jb = jpeg_encode(&js, 160, 120);
    js.progressive = true;
    blob jp = jpeg_encode(&js, 160, 120);
    static const char *bnames[] = {"cut05.jpg", "cut25.jpg", "cut50.jpg", "cut75.jpg", "cut95.jpg"};
    static const char *pnames[] = {"pcut05.jpg", "pcut25.jpg", "pcut50.jpg", "pcut75.jpg",
                                   "pcut95.jpg"};
    static const int pct[] = {5, 25, 50, 75, 95};
    for (int i = 0; i < 5; i++) {
        ADD(bnames[i], cut(&jb, jb.n * (size_t)pct[i] / 100), OCR_E_FORMAT, "truncated", "JPEG");
        ADD(pnames[i], cut(&jp, jp.n * (size_t)pct[i] / 100), OCR_E_FORMAT, "truncated", "JPEG");
    }
    ADD("tail.jpg", cut(&jb, jb.n - 5), OCR_E_FORMAT, "truncated", "JPEG");
    blob early = cut(&jb, jb.n);
    early.d[early.n / 2] = 0xff;
    early.d[early.n / 2 + 1] = 0xd9;
    ADD("early-eoi.jpg", early, OCR_E_FORMAT, "corrupt", "JPEG");
    blob_free(&jb);
    blob_free(&jp);
    js = (jpg_spec){JCS_RGB, true, true, false, 90, 0, 0, 0};
    blob th = jpeg_encode(&js, 16, 16);
    patch_sof(&th, 14000, 14000);
    ADD("tiny-huge-progressive.jpg", th, OCR_E_FORMAT, "truncated", "14000x14000");
    js = (jpg_spec){JCS_GRAYSCALE, false, false, false, 90, 0, 0, 0};
    th = jpeg_encode(&js, 16, 16);
    patch_sof(&th, 14000, 14000);
    ADD("tiny-huge.jpg", th, OCR_E_FORMAT, "truncated", "14000x14000");
    /* The coefficient budget: 6 bytes a pixel against 4 x 50000. */
    js = (jpg_spec){JCS_RGB, true, true, false, 90, 0, 0, 0};
    hs[n] = (hostile){"budget.jpg", jpeg_encode(&js, 200, 200), dl, 0, OCR_E_LIMIT,
                      "coefficient", "JPEG"};
    hs[n++].lim.max_pixels = 50000;
    js = (jpg_spec){JCS_UNKNOWN, false, false, false, 90, 0, 0, 0};
    ADD("two-channel.jpg", jpeg_encode(&js, 16, 16), OCR_E_UNSUPPORTED, "2 components", "JPEG");
    /* A zlib stream that ends after one byte of a 10x10 image. */
    ADD("short-idat.png", png_claiming(10, 10), OCR_E_FORMAT, "corrupt", "Not enough image data");
#undef ADD
    blob_free(&png);
    blob_free(&jpg);
    blob_free(&tif);
    blob_free(&pgm);
    blob_free(&gif);
    blob_free(&bmp);
    blob_free(&webp);
    blob_free(&jp2);
    pixDestroy(&g);
    if (n > MAXH) {
        printf("hostile table overflow\n");
        exit(2);
    }
    return n;
}

static void free_hostile(hostile *hs, int n)
{
    for (int i = 0; i < n; i++) blob_free(&hs[i].b);
}

/* Through a file path, as the tool reads them. */
static void run_hostile(const hostile *h)
{
    const char *path = tst_write_file(h->name, h->b.d, h->b.n);
    ocr_err e;
    ocr_err_clear(&e);
    PIX *p = NULL;
    img_source src;
    ocr_status rc = img_source_open(&src, path, &h->lim, &e);
    if (rc == OCR_OK) {
        rc = img_source_decode(&p, &src, h->page, &h->lim, &e);
        img_source_free(&src);
    }
    CHECK(rc == h->want, "%s: status %d (%s), expected %d (%s): %s", h->name, rc,
          ocr_status_str(rc), h->want, ocr_status_str(h->want), e.msg);
    CHECK(p == NULL, "%s: no image on failure", h->name);
    CHECK(strstr(e.msg, h->name) != NULL, "%s: message names the file: %s", h->name, e.msg);
    CHECK(strstr(e.msg, h->word) != NULL, "%s: message says '%s': %s", h->name, h->word, e.msg);
    if (h->word2)
        CHECK(strstr(e.msg, h->word2) != NULL, "%s: message says '%s': %s", h->name, h->word2,
              e.msg);
    if (getenv("TST_VERBOSE")) printf("  %-18s %s\n", h->name, e.msg);
    pixDestroy(&p);
}

static void test_hostile(void)
{
    hostile hs[MAXH];
    int n = make_hostile(hs);
    /* Not captured here, so that a sanitizer report stays visible. */
    for (int i = 0; i < n; i++) run_hostile(&hs[i]);
    free_hostile(hs, n);
}

/* The library must not print. Runs the hostile suite again with fd 2
 * captured (after the first run, so that a crash there is still visible). */
static void test_hostile_silent(void)
{
    hostile hs[MAXH];
    int n = make_hostile(hs);
    for (int i = 0; i < n; i++) {
        int saved = stderr_capture_begin("hostile.stderr");
        img_source src;
        ocr_err e;
        PIX *p = NULL;
        if (img_source_from_memory(&src, hs[i].b.d, hs[i].b.n, hs[i].name, &hs[i].lim, &e) ==
            OCR_OK) {
            img_source_decode(&p, &src, hs[i].page, &hs[i].lim, &e);
            img_source_free(&src);
        }
        pixDestroy(&p);
        long bytes = stderr_capture_end(saved, "hostile.stderr");
        CHECK(bytes == 0, "%s: wrote %ld bytes to stderr", hs[i].name, bytes);
    }
    free_hostile(hs, n);
}

/* Deterministic mutation fuzzing of every valid fixture, and of the PNG and
 * JPEG variants our own drivers handle: flipped bytes, overwritten runs and
 * truncation. Anything but a crash, a leak, an unexpected status or a byte
 * on stderr passes. */
static void test_fuzz(void)
{
    enum { NEXTRA = 7, NALL = NFIX + NEXTRA };
    fixture f[NALL];
    make_fixtures(f);
    static const jpg_spec js[] = {
        {JCS_RGB, true, false, false, 80, 0, 0, 0},
        {JCS_CMYK, false, true, false, 80, 0, 0, 0},
        {JCS_GRAYSCALE, false, false, true, 80, 0, 0, 0},
    };
    static const char *jn[] = {"progressive.jpg", "cmyk.jpg", "arith.jpg"};
    for (int i = 0; i < 3; i++)
        f[NFIX + i] = (fixture){jn[i], jpeg_encode(&js[i], 40, 24), IMG_FMT_JPEG, 0};
    static const png_spec ps[] = {
        {PNG_COLOR_TYPE_PALETTE, 4, true, 0, 5, -1, 0},
        {PNG_COLOR_TYPE_RGB_ALPHA, 16, false, 0, 0, -1, 0},
        {PNG_COLOR_TYPE_GRAY, 1, true, 0, 0, -1, 300},
        {PNG_COLOR_TYPE_GRAY, 2, false, 0, 0, 1, 0},
    };
    static const char *pn[] = {"palette.png", "rgba16.png", "gray1.png", "gray2-trns.png"};
    for (int i = 0; i < 4; i++)
        f[NFIX + 3 + i] = (fixture){pn[i], png_encode(&ps[i]), IMG_FMT_PNG, 0};
    uint64_t s = 0x9e3779b97f4a7c15ull;
    /* VLOCR_FUZZ_ITERS=N runs a longer campaign by hand. */
    const char *env = getenv("VLOCR_FUZZ_ITERS");
    int iters = env ? atoi(env) : getenv("VLOCR_SANITIZED") ? 120 : 300;
    int decoded = 0, refused = 0, bad = 0;
    char name[64];
    int saved = stderr_capture_begin("fuzz.stderr");
    for (int i = 0; i < NALL; i++) {
        for (int it = 0; it < iters; it++) {
            blob m = cut(&f[i].b, f[i].b.n);
            int nflip = 1 + it % 8;
            for (int k = 0; k < nflip; k++) {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                uint64_t r = s * 0x2545f4914f6cdd1dull;
                size_t at = (size_t)(r >> 33) % m.n;
                if (it % 5 == 4) m.d[at] = 0xff;
                else m.d[at] ^= (uint8_t)(1u << (r & 7));
            }
            if (it % 7 == 6) m.n = (size_t)(s >> 40) % m.n + 1;
            snprintf(name, sizeof name, "fuzz-%s-%d", f[i].name, it);
            PIX *p = NULL;
            ocr_err e;
            ocr_status rc = load_mem(&p, &m, name, 0, NULL, &e);
            if (rc == OCR_OK) {
                uint8_t *g = NULL, *c = NULL;
                int w, h;
                if (img_gray_planes(&g, &w, &h, p, &e) != OCR_OK ||
                    img_rgb_planes(&c, &w, &h, p, &e) != OCR_OK)
                    bad++;
                free(g);
                free(c);
                decoded++;
            } else if ((rc == OCR_E_FORMAT || rc == OCR_E_LIMIT || rc == OCR_E_UNSUPPORTED) &&
                       strstr(e.msg, name)) {
                refused++;
            } else {
                bad++;
            }
            pixDestroy(&p);
            blob_free(&m);
        }
    }
    long noise = stderr_capture_end(saved, "fuzz.stderr");
    CHECK(bad == 0, "fuzz: %d unexpected results (%d decoded, %d refused)", bad, decoded, refused);
    CHECK(noise == 0, "fuzz: %ld bytes written to stderr (see %s/fuzz.stderr)", noise,
          tst_tmpdir());
    printf("   fuzz: %d mutated inputs, %d decoded, %d refused\n", decoded + refused + bad,
           decoded, refused);
    for (int i = 0; i < NALL; i++) blob_free(&f[i].b);
}

int main(void)
{
    img_lept_quiet(); /* the fixtures are written with Leptonica too */
    TST_RUN(test_jpeg_memory); /* first: it watches the process's peak RSS */
    TST_RUN(test_formats_round_trip);
    TST_RUN(test_binary);
    TST_RUN(test_rgb_planes);
    TST_RUN(test_gray_planes_known);
    TST_RUN(test_conversions);
    TST_RUN(test_png_variants);
    TST_RUN(test_jpeg_variants);
    TST_RUN(test_jpeg_truncation);
    TST_RUN(test_jpeg_limits);
    TST_RUN(test_multipage_tiff);
    TST_RUN(test_sources);
    TST_RUN(test_hostile);
    TST_RUN(test_hostile_silent);
    TST_RUN(test_fuzz);
    return tst_finish();
}

/* pipeline/pipe_hocr.c — a document as hOCR (XHTML with the hOCR 1.2
 * classes), the format other OCR tools and PDF text-layer makers read.
 *
 * An ocr_line is one of the block's lines (pipe_line) with its box and
 * confidence. DeepSeek-OCR locates blocks, not lines, so its lines carry
 * the block's box; those (a line whose box is its several-line block's
 * whole box) and the lines of a block that has none (taken from its text)
 * are placed as the block's i-th box when the block has exactly one box
 * per line, otherwise as an equal share of the block's box: good enough to
 * place a text layer, not a measurement.
 * Everything the model wrote is escaped, and bytes that XML cannot carry
 * (invalid UTF-8, C0 controls) are replaced, so the file always parses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"





/* Length of the valid UTF-8 sequence at s[0..n) (1..4), or 0 when invalid
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t k;
    unsigned min, cp;
    if ((c & 0xE0) == 0xC0) k = 2, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) k = 3, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) k = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    if (n < k) return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    /* U+FFFE and U+FFFF are not XML characters either. */
    if (cp == 0xFFFE || cp == 0xFFFF) return 0;
    return k;
}

/* s[0..n) as XML character data (also safe inside a "-quoted attribute). */
static void put_text(ocr_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        const char *rep = NULL;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (rep) {
            ocr_buf_puts(b, rep);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            ocr_buf_put(b, " ", 1);
            i++;
        } else {
            size_t k = utf8_len(u + i, n - i);
            if (k == 0) {
                ocr_buf_puts(b, "\xEF\xBF\xBD"); /* U+FFFD */
                i++;
            } else {
                ocr_buf_put(b, s + i, k);
                i += k;
            }
        }
    }
}

static void put_bbox(ocr_buf *b, pipe_box x) { ocr_buf_printf(b, "bbox %d %d %d %d", x.x1, x.y1, x.x2, x.y2); }

/* The class of a block's area. */
static const char *area_class(const pipe_block *blk)
{
    return blk->type && !strcmp(blk->type, "image") ? "ocr_photo" : "ocr_carea";
}

/* Non-blank lines of a block's text. */
static int count_lines(const char *t)
{
    int n = 0;
    for (const char *p = t; *p;) {
        const char *q = strchr(p, '\n');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        bool blank = true;
        for (size_t i = 0; i < len; i++) blank = blank && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r');
        if (!blank) n++;
        if (!q) break;
        p = q + 1;
    }
    return n;
}

static int wconf_of(float c)
{
    int w = (int)(c * 100.0f + 0.5f);
    return w < 0 ? 0 : w > 100 ? 100 : w;
}

/* One ocr_line: bbox when has_box, x_wconf when conf >= 0, the text. */
static void put_line(ocr_buf *b, int page_no, int *line_id, bool has_box, pipe_box lb, float conf,
                     const char *t, size_t len)
{
    ocr_buf_printf(b, "     <span class=\"ocr_line\" id=\"line_%d_%d\"", page_no, ++*line_id);
    bool titled = false;
    if (has_box) {
        ocr_buf_puts(b, " title=\"");
        put_bbox(b, lb);
        titled = true;
    }
    if (conf >= 0) {
        ocr_buf_puts(b, titled ? "; " : " title=\"");
        ocr_buf_printf(b, "x_wconf %d", wconf_of(conf));
        titled = true;
    }
    if (titled) ocr_buf_puts(b, "\"");
    ocr_buf_puts(b, ">");
    put_text(b, t, len);
    ocr_buf_puts(b, "</span>\n");
}

/* s[0..*len) without leading and trailing blanks: start returned, *len set. */
static const char *trim_blank(const char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    size_t lead = 0;
    while (lead < n && (s[lead] == ' ' || s[lead] == '\t')) lead++;
    *len = n - lead;
    return s + lead;
}

static bool same_box(pipe_box a, pipe_box b)
{
    return a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 && a.y2 == b.y2;
}

/* The estimate for line k of n in block blk (bounding box bb). */
static pipe_box estimate(const pipe_block *blk, pipe_box bb, int k, int n)
{
    if (blk->n_boxes == n && n > 1) return blk->boxes[k];
    pipe_box lb = bb;
    if (n > 1) {
        int h = bb.y2 - bb.y1;
        lb.y1 = bb.y1 + (int)((long)h * k / n);
        lb.y2 = bb.y1 + (int)((long)h * (k + 1) / n);
    }
    return lb;
}

static void render_block(ocr_buf *b, const pipe_block *blk, int page_no, int bi, int *line_id)
{
    pipe_box bb = {0, 0, 0, 0};
    bool has_box = pipe_block_bbox(blk, &bb);
    const char *text = blk->text ? blk->text : "";
    int n_lines = 0;
    if (blk->n_lines > 0) {
        for (int i = 0; i < blk->n_lines; i++) {
            const char *t = blk->lines[i].text ? blk->lines[i].text : "";
            size_t len = strlen(t);
            trim_blank(t, &len);
            n_lines += len > 0;
        }
    } else {
        n_lines = count_lines(text);
    }

    ocr_buf_printf(b, "   <div class=\"%s\" id=\"block_%d_%d\"", area_class(blk), page_no, bi + 1);
    if (has_box) {
        ocr_buf_puts(b, " title=\"");
        put_bbox(b, bb);
        ocr_buf_puts(b, "\"");
    }
    if (n_lines == 0) {
        ocr_buf_puts(b, "></div>\n");
        return;
    }
    ocr_buf_puts(b, ">\n");
    ocr_buf_printf(b, "    <p class=\"ocr_par\" id=\"par_%d_%d\"", page_no, bi + 1);
    if (has_box) {
        ocr_buf_puts(b, " title=\"");
        put_bbox(b, bb);
        ocr_buf_puts(b, "\"");
    }
    ocr_buf_puts(b, ">\n");
    if (blk->n_lines > 0) {
        int k = 0;
        for (int i = 0; i < blk->n_lines; i++) {
            const pipe_line *l = &blk->lines[i];
            const char *t = l->text ? l->text : "";
            size_t len = strlen(t);
            t = trim_blank(t, &len);
            if (!len) continue;
            pipe_box lb = l->box;
            if (l->has_box && has_box && n_lines > 1 && same_box(lb, bb)) lb = estimate(blk, bb, k, n_lines);
            put_line(b, page_no, line_id, l->has_box, lb, l->confidence, t, len);
            k++;
        }
        ocr_buf_puts(b, "    </p>\n   </div>\n");
        return;
    }
    int k = 0;
    for (const char *p = text; *p;) {
        const char *q = strchr(p, '\n');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        const char *t = trim_blank(p, &len);
        if (len > 0) {
            put_line(b, page_no, line_id, has_box, estimate(blk, bb, k, n_lines),
                     blk->confidence, t, len);
            k++;
        }
        if (!q) break;
        p = q + 1;
    }
    ocr_buf_puts(b, "    </p>\n   </div>\n");
}

ocr_status pipe_hocr_render(const pipe_doc *d, char **out, size_t *len, ocr_err *e)
{
    ocr_buf b = {0};
    const char *src = d->source ? d->source : "";
    ocr_buf_puts(&b,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n"
          "    \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n"
          "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n"
          " <head>\n"
          "  <title>");
    put_text(&b, src, strlen(src));
    ocr_buf_puts(&b, "</title>\n"
              "  <meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\" />\n");
    ocr_buf_printf(&b, "  <meta name=\"ocr-system\" content=\"vlocr %s\" />\n", vlocr_version());
    ocr_buf_puts(&b, "  <meta name=\"ocr-capabilities\" content=\"ocr_page ocr_carea ocr_par ocr_line "
              "ocr_photo\" />\n"
              " </head>\n"
              " <body>\n");
    for (int p = 0; p < d->n_pages; p++) {
        const pipe_page *pg = &d->pages[p];
        int no = pg->number > 0 ? pg->number : p + 1;
        ocr_buf_printf(&b, "  <div class=\"ocr_page\" id=\"page_%d\" title=\"image &quot;", no);
        put_text(&b, src, strlen(src));
        ocr_buf_printf(&b, "&quot;; bbox 0 0 %d %d; ppageno %d\">\n", pg->width, pg->height, no - 1);
        int line_id = 0;
        for (int i = 0; i < pg->n_blocks; i++) render_block(&b, &pg->blocks[i], no, i, &line_id);
        ocr_buf_puts(&b, "  </div>\n");
    }
    ocr_buf_puts(&b, " </body>\n</html>\n");
    if (b.oom) {
        free(b.p);
        *out = NULL;
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_hocr_render: out of memory");
    }
    *out = b.p;
    if (len) *len = b.n;
    return OCR_OK;
}

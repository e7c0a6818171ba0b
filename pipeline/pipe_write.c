/* pipeline/pipe_write.c — a document as Markdown, plain text or JSON, and
 * the crops of its `image` blocks.
 *
 * Markdown follows the official post-processing (infer(save_results)): the
 * grounding markup is gone (the parser already took it out), each image
 * region becomes a saved crop and a `![](…)` line, and `\coloneqq` /
 * `\eqqcolon` become `:=` / `=:`. Every file is written to a temporary name
 * and renamed, so an interrupted run never leaves half a file. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/pipe.h"




int pipe_format_parse(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "md") || !strcmp(s, "markdown") || !strcmp(s, "mmd")) return PIPE_FMT_MD;
    if (!strcmp(s, "txt") || !strcmp(s, "text")) return PIPE_FMT_TXT;
    if (!strcmp(s, "json")) return PIPE_FMT_JSON;
    if (!strcmp(s, "hocr")) return PIPE_FMT_HOCR;
    return -1;
}

const char *pipe_format_ext(pipe_format f)
{
    switch (f) {
    case PIPE_FMT_TXT: return "txt";
    case PIPE_FMT_JSON: return "json";
    case PIPE_FMT_HOCR: return "hocr";
    case PIPE_FMT_MD:
    default: return "md";
    }
}

char *pipe_md_fix(const char *s, size_t len, size_t *out_len)
{
    static const struct {
        const char *from, *to;
    } fix[] = {{"\\coloneqq", ":="}, {"\\eqqcolon", "=:"}};
    char *o = malloc(len + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        size_t k = 0, m = 0;
        if (s[i] == '\\')
            for (k = 0; k < sizeof fix / sizeof fix[0]; k++) {
                m = strlen(fix[k].from);
                if (i + m <= len && memcmp(s + i, fix[k].from, m) == 0) break;
                m = 0;
            }
        if (m) {
            size_t t = strlen(fix[k].to);
            memcpy(o + j, fix[k].to, t);
            j += t;
            i += m;
        } else {
            o[j++] = s[i++];
        }
    }
    o[j] = 0;
    if (out_len) *out_len = j;
    return o;
}

static bool is_image(const pipe_block *b) { return strcmp(b->type, "image") == 0; }

static ocr_status mkdir_one(const char *dir, ocr_err *e)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat sb;
        if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return OCR_OK;
        return ocr_err_set(e, OCR_E_IO, "%s: exists and is not a directory", dir);
    }
    return ocr_err_set(e, OCR_E_IO, "%s: cannot create directory: %s", dir, strerror(errno));
}

ocr_status pipe_page_save_crops(pipe_page *pg, PIX *pix, const char *dir, const char *link_prefix,
                                ocr_err *e)
{
    int W = pixGetWidth(pix), H = pixGetHeight(pix), k = 0;
    bool made_dir = false;
    img_lept_quiet();
    for (int bi = 0; bi < pg->n_blocks; bi++) {
        pipe_block *b = &pg->blocks[bi];
        if (!is_image(b) || b->n_boxes == 0) continue;
        if (!b->crops && !(b->crops = calloc((size_t)b->cap_boxes, sizeof *b->crops)))
            return ocr_err_set(e, OCR_E_NOMEM, "pipe_page_save_crops: out of memory");
        for (int i = 0; i < b->n_boxes; i++) {
            pipe_box x = b->boxes[i];
            if (x.x1 < 0) x.x1 = 0;
            if (x.y1 < 0) x.y1 = 0;
            if (x.x2 > W) x.x2 = W;
            if (x.y2 > H) x.y2 = H;
            if (x.x2 <= x.x1 || x.y2 <= x.y1) continue;
            if (!made_dir) {
                ocr_status rc = mkdir_one(dir, e);
                if (rc != OCR_OK) return rc;
                made_dir = true;
            }
            char path[4096], link[4096];
            snprintf(path, sizeof path, "%s/%d-%d.png", dir, pg->number, k);
            snprintf(link, sizeof link, "%s%s%d-%d.png", link_prefix ? link_prefix : "",
                     link_prefix && *link_prefix ? "/" : "", pg->number, k);
            k++;
            BOX *box = boxCreate(x.x1, x.y1, x.x2 - x.x1, x.y2 - x.y1);
            PIX *crop = box ? pixClipRectangle(pix, box, NULL) : NULL;
            boxDestroy(&box);
            l_uint8 *data = NULL;
            size_t size = 0;
            int bad = crop ? pixWriteMemPng(&data, &size, crop, 0.0f) : 1;
            pixDestroy(&crop);
            if (bad || !data) {
                free(data);
                return ocr_err_set(e, OCR_E_IO, "%s: cannot encode the crop", path);
            }
            ocr_status rc = ocr_file_write_atomic(path, data, size, e);
            free(data);
            if (rc != OCR_OK) return rc;
            free(b->crops[i]);
            if (!(b->crops[i] = strdup(link)))
                return ocr_err_set(e, OCR_E_NOMEM, "pipe_page_save_crops: out of memory");
        }
    }
    return OCR_OK;
}

/* Markdown / text of one block into b; false when it adds nothing. */
static bool block_text(ocr_buf *b, const pipe_block *blk, bool markdown)
{
    size_t n0 = b->n;
    if (markdown && is_image(blk) && blk->crops)
        for (int i = 0; i < blk->n_boxes; i++) {
            if (!blk->crops[i]) continue;
            if (b->n > n0) ocr_buf_puts(b, "\n");
            ocr_buf_puts(b, "![](");
            ocr_buf_puts(b, blk->crops[i]);
            ocr_buf_puts(b, ")");
        }
    if (blk->text[0]) {
        size_t fl;
        char *f = pipe_md_fix(blk->text, strlen(blk->text), &fl);
        if (!f) {
            b->oom = true;
            return false;
        }
        if (b->n > n0) ocr_buf_puts(b, "\n");
        ocr_buf_put(b, f, fl);
        free(f);
    }
    return b->n > n0;
}

/* Page furniture of a layout page (no raw model output: the vlocr-nano
 * path) is left out of Markdown; DeepSeek-OCR pages keep every block, as
 * the official post-processing does. */
static bool md_dropped(const pipe_page *pg, const pipe_block *blk)
{
    return !pg->raw && (!strcmp(blk->type, "header") || !strcmp(blk->type, "footer") ||
                        !strcmp(blk->type, "page_number"));
}

static void render_text(ocr_buf *b, const pipe_doc *d, bool markdown)
{
    for (int p = 0; p < d->n_pages; p++) {
        const pipe_page *pg = &d->pages[p];
        if (p > 0) ocr_buf_puts(b, markdown ? "\n<--- Page Split --->\n\n" : "\f");
        bool any = false;
        for (int i = 0; i < pg->n_blocks; i++) {
            if (markdown && md_dropped(pg, &pg->blocks[i])) continue;
            size_t mark = b->n;
            if (any) ocr_buf_puts(b, "\n\n");
            if (block_text(b, &pg->blocks[i], markdown)) {
                any = true;
            } else if (!b->oom) {
                b->n = mark; /* nothing: drop the separator */
                b->p[mark] = 0;
            }
        }
        if (any) ocr_buf_puts(b, "\n");
    }
}

/* ---------------------------------------------------------------- JSON */

/* jansson refuses invalid UTF-8; the model's text is valid (the tokenizer
 * decodes lossily), but be safe: invalid bytes become '?'. */
static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (j) return j;
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c) return NULL;
    size_t i = 0;
    while (i < n) {
        unsigned char x = (unsigned char)s[i];
        int len = x < 0x80 ? 1 : (x >> 5) == 6 ? 2 : (x >> 4) == 14 ? 3 : (x >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + (size_t)len <= n;
        for (int k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok) {
            memcpy(c + i, s + i, (size_t)len);
            i += (size_t)len;
        } else {
            c[i++] = '?';
        }
    }
    c[n] = 0;
    j = json_string(c);
    free(c);
    return j ? j : json_string("");
}

static json_t *jbox(const pipe_box *x)
{
    return json_pack("[iiii]", x->x1, x->y1, x->x2, x->y2);
}

/* Dump `v` compactly after `key` into b (and drop the reference). */
static void put_json(ocr_buf *b, const char *key, json_t *v)
{
    if (!v) {
        b->oom = true;
        return;
    }
    if (key) {
        ocr_buf_puts(b, "\"");
        ocr_buf_puts(b, key);
        ocr_buf_puts(b, "\": ");
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!s) {
        b->oom = true;
        return;
    }
    /* JSON_COMPACT leaves no space after ':' and ','; fine for machines. */
    ocr_buf_puts(b, s);
    free(s);
}

static json_t *block_json(const pipe_block *blk)
{
    json_t *o = json_object();
    if (!o) return NULL;
    pipe_box u;
    bool ok = json_object_set_new(o, "type", jstr(blk->type)) == 0;
    ok = ok && json_object_set_new(o, "box", pipe_block_bbox(blk, &u) ? jbox(&u) : json_null()) == 0;
    if (ok && blk->n_boxes > 1) {
        json_t *a = json_array();
        for (int i = 0; a && i < blk->n_boxes; i++) json_array_append_new(a, jbox(&blk->boxes[i]));
        ok = json_object_set_new(o, "boxes", a) == 0;
    }
    ok = ok && json_object_set_new(o, "text", jstr(blk->text)) == 0;
    if (ok && blk->confidence >= 0)
        ok = json_object_set_new(o, "confidence", json_real(blk->confidence)) == 0;
    if (ok && blk->crops) {
        json_t *a = json_array();
        for (int i = 0; a && i < blk->n_boxes; i++)
            if (blk->crops[i]) json_array_append_new(a, jstr(blk->crops[i]));
        ok = json_object_set_new(o, "crops", a) == 0;
    }
    if (ok) {
        json_t *a = json_array();
        for (int i = 0; a && i < blk->n_lines; i++) {
            const pipe_line *l = &blk->lines[i];
            json_t *lo = json_object();
            bool lok = lo && json_object_set_new(lo, "box", l->has_box ? jbox(&l->box) : json_null()) == 0 &&
                       json_object_set_new(lo, "text", jstr(l->text ? l->text : "")) == 0 &&
                       json_object_set_new(lo, "confidence", l->confidence >= 0 ? json_real(l->confidence)
                                                                                 : json_null()) == 0;
            if (!lok || json_array_append_new(a, lo) != 0) {
                if (!lok) json_decref(lo);
                json_decref(a);
                a = NULL;
            }
        }
        ok = json_object_set_new(o, "lines", a) == 0;
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static void render_json(ocr_buf *b, const pipe_doc *d)
{
    ocr_buf_puts(b, "{");
    put_json(b, "source", jstr(d->source));
    ocr_buf_puts(b, ",\n \"pages\": [");
    for (int p = 0; p < d->n_pages; p++) {
        const pipe_page *pg = &d->pages[p];
        ocr_buf_puts(b, p ? ",\n  {" : "\n  {");
        put_json(b, "page", json_integer(pg->number));
        ocr_buf_puts(b, ", ");
        put_json(b, "width", json_integer(pg->width));
        ocr_buf_puts(b, ", ");
        put_json(b, "height", json_integer(pg->height));
        ocr_buf_puts(b, ", ");
        put_json(b, "grounded", json_boolean(pg->grounded));
        const pipe_run_stats *st = &pg->stats;
        if (st->stop) {
            ocr_buf_puts(b, ",\n   ");
            put_json(b, "model",
                     json_pack("{s:[ii], s:i, s:i, s:i, s:s}", "tiles", st->tiles_w * (st->n_tiles > 0),
                               st->tiles_h * (st->n_tiles > 0), "prompt_tokens", st->n_prompt,
                               "image_tokens", st->n_image, "generated_tokens", st->n_generated,
                               "stop", st->stop));
        }
        ocr_buf_puts(b, ",\n   \"blocks\": [");
        for (int i = 0; i < pg->n_blocks; i++) {
            ocr_buf_puts(b, i ? ",\n    " : "\n    ");
            put_json(b, NULL, block_json(&pg->blocks[i]));
        }
        ocr_buf_puts(b, pg->n_blocks ? "\n   ]" : "]");
        if (pg->raw) {
            ocr_buf_puts(b, ",\n   ");
            put_json(b, "raw", jstr(pg->raw));
        }
        ocr_buf_puts(b, "}");
    }
    ocr_buf_puts(b, d->n_pages ? "\n ]}\n" : "]}\n");
}

ocr_status pipe_doc_render(const pipe_doc *d, pipe_format f, char **out, size_t *len, ocr_err *e)
{
    if (f == PIPE_FMT_HOCR) return pipe_hocr_render(d, out, len, e);
    ocr_buf b = {0};
    ocr_buf_put(&b, "", 0);
    if (f == PIPE_FMT_JSON) render_json(&b, d);
    else render_text(&b, d, f == PIPE_FMT_MD);
    if (b.oom) {
        free(b.p);
        *out = NULL;
        return ocr_err_set(e, OCR_E_NOMEM, "pipe_doc_render: out of memory");
    }
    *out = b.p;
    if (len) *len = b.n;
    return OCR_OK;
}

ocr_status pipe_doc_write(const pipe_doc *d, pipe_format f, const char *path, ocr_err *e)
{
    char *s = NULL;
    size_t n = 0;
    ocr_status rc = pipe_doc_render(d, f, &s, &n, e);
    if (rc == OCR_OK) rc = ocr_file_write_atomic(path, s, n, e);
    free(s);
    return rc;
}

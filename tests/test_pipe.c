/* tests/test_pipe.c — the document model, the grounding parser, the writers
 * and the DeepSeek-OCR page driver.
 *
 * The driver runs end to end on the official-code conformance fixtures
 * ($VLOCR_SHARED/conformance, default ../shared): PNG → preprocessing →
 * encoder → prompt → greedy generation must give generation/generated_ids.npy
 * exactly, with the fixtures' synthetic byte tokenizer written as a
 * tokenizer.json (tests/data/dsocr/tokenizer.json, from make_tokenizer.py). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipe.h"
#include "tests/tst.h"

#define CHECK TST_CHECK

static const char *shared_dir(void)
{
    const char *s = getenv("VLOCR_SHARED");
    return s && *s ? s : "../shared";
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Parse `s` on a page of w x h into pg (freed by the caller). */
static void parse(pipe_page *pg, const char *s, int w, int h)
{
    memset(pg, 0, sizeof *pg);
    pg->number = 1;
    pg->width = w;
    pg->height = h;
    ocr_err e = {0};
    ocr_status rc = pipe_ground_parse(pg, s, strlen(s), &e);
    CHECK(rc == OCR_OK, "parse: %s", e.msg);
}

static bool box_is(const pipe_block *b, int i, int x1, int y1, int x2, int y2)
{
    if (i >= b->n_boxes) return false;
    const pipe_box *x = &b->boxes[i];
    return x->x1 == x1 && x->y1 == y1 && x->x2 == x2 && x->y2 == y2;
}

/* ------------------------------------------------------------ grounding */

static void test_scale(void)
{
    CHECK(pipe_ground_scale(0, 1000) == 0, "0");
    CHECK(pipe_ground_scale(999, 1000) == 1000, "999 -> W");
    CHECK(pipe_ground_scale(500, 1000) == 500, "int(500/999*1000) = 500");
    CHECK(pipe_ground_scale(10, 500) == 5, "int(10/999*500) = 5");
    CHECK(pipe_ground_scale(-4, 100) == 0, "negative clamps to 0");
    CHECK(pipe_ground_scale(5000, 100) == 100, "over 999 clamps");
    CHECK(pipe_ground_scale(NAN, 100) == 0, "NaN -> 0");
    /* Python: int(333/999*360) = int(119.99999999999999) = 119 — the same
     * double arithmetic here. */
    CHECK(pipe_ground_scale(333, 360) == (int)(333.0 / 999.0 * 360.0), "float order as Python");
}

static void test_ground_blocks(void)
{
    const char *out =
        "<|ref|>title<|/ref|><|det|>[[10, 20, 500, 60]]<|/det|>\n# Heading\n\n"
        "<|ref|>text<|/ref|><|det|>[[10,70,990,200],[10,210,990,300]]<|/det|>\nPara one\nline "
        "two\n\n"
        "<|ref|>image<|/ref|><|det|>[[100, 300, 400, 600]]<|/det|>\n"
        "<|ref|>image_caption<|/ref|><|det|>[[100,610,400,640]]<|/det|>\n图 1：图像说明 $a \\coloneqq b$\n\n"
        "<|ref|>table<|/ref|><|det|>[[0, 650, 999, 999]]<|/det|>\n<table><tr><td>1</td></tr></table>";
    pipe_page pg;
    parse(&pg, out, 1000, 500);
    CHECK(pg.grounded, "grounded");
    CHECK(pg.n_blocks == 5, "5 blocks, got %d", pg.n_blocks);
    if (pg.n_blocks == 5) {
        pipe_block *b = pg.blocks;
        CHECK(!strcmp(b[0].type, "title") && !strcmp(b[0].text, "# Heading"), "title: '%s' '%s'",
              b[0].type, b[0].text);
        /* int(10/999*1000)=10, int(20/999*500)=10, int(500/999*1000)=500, int(60/999*500)=30 */
        CHECK(b[0].n_boxes == 1 && box_is(&b[0], 0, 10, 10, 500, 30), "title box [%d,%d,%d,%d]",
              b[0].boxes[0].x1, b[0].boxes[0].y1, b[0].boxes[0].x2, b[0].boxes[0].y2);
        CHECK(!strcmp(b[1].type, "text") && !strcmp(b[1].text, "Para one\nline two"), "text '%s'",
              b[1].text);
        CHECK(b[1].n_boxes == 2 && box_is(&b[1], 1, 10, 105, 990, 150), "two boxes");
        CHECK(!strcmp(b[2].type, "image") && b[2].text[0] == 0 && b[2].n_boxes == 1, "image");
        CHECK(!strcmp(b[3].type, "image_caption") &&
                  !strcmp(b[3].text, "图 1：图像说明 $a \\coloneqq b$"),
              "caption '%s'", b[3].text);
        CHECK(box_is(&b[4], 0, 0, 325, 1000, 500), "full-width box to the page edge");
        CHECK(!strcmp(b[4].text, "<table><tr><td>1</td></tr></table>"), "table text");
        for (int i = 0; i < 5; i++) CHECK(b[i].confidence < 0, "confidence unknown");
    }
    pipe_page_free(&pg);

    /* Text before the first ref; labels with spaces and CJK (locate). */
    parse(&pg, "Intro line\n\n<|ref|> 红色的车 <|/ref|><|det|>[[1,2,3,4]]<|/det|>", 999, 999);
    CHECK(pg.n_blocks == 2, "leading text + located block: %d", pg.n_blocks);
    if (pg.n_blocks == 2) {
        CHECK(!strcmp(pg.blocks[0].type, "text") && !strcmp(pg.blocks[0].text, "Intro line") &&
                  pg.blocks[0].n_boxes == 0,
              "leading text block");
        CHECK(!strcmp(pg.blocks[1].type, "红色的车") && box_is(&pg.blocks[1], 0, 1, 2, 3, 4),
              "CJK label '%s'", pg.blocks[1].type);
    }
    pipe_page_free(&pg);

    /* Free OCR: no markup at all. */
    parse(&pg, "  Just text.\n\nTwo paragraphs.  \n", 100, 100);
    CHECK(!pg.grounded && pg.n_blocks == 1 && !strcmp(pg.blocks[0].text, "  Just text.\n\nTwo paragraphs."),
          "plain output: %d blocks", pg.n_blocks);
    pipe_page_free(&pg);

    parse(&pg, "", 100, 100);
    CHECK(pg.n_blocks == 0 && !pg.grounded, "empty output: no blocks");
    pipe_page_free(&pg);
    parse(&pg, " \n\t\n", 100, 100);
    CHECK(pg.n_blocks == 0, "blank output: no blocks");
    pipe_page_free(&pg);
}

static void test_ground_malformed(void)
{
    pipe_page pg;
    /* A box list cut by the token limit: the complete box is kept. */
    parse(&pg, "<|ref|>text<|/ref|><|det|>[[1,2,3,4],[5,6", 999, 999);
    CHECK(pg.n_blocks == 1 && pg.blocks[0].n_boxes == 1 && box_is(&pg.blocks[0], 0, 1, 2, 3, 4) &&
              pg.blocks[0].text[0] == 0,
          "truncated det");
    pipe_page_free(&pg);

    /* Missing <|/det|> after a complete list: the text follows the list. */
    parse(&pg, "<|ref|>title<|/ref|><|det|>[[1,2,3,4]]\n# T\n", 999, 999);
    CHECK(pg.n_blocks == 1 && pg.blocks[0].n_boxes == 1 && !strcmp(pg.blocks[0].text, "# T"),
          "unclosed det: '%s'", pg.n_blocks ? pg.blocks[0].text : "");
    pipe_page_free(&pg);

    /* Garbage inside det, unclosed: the line is skipped, no box. */
    parse(&pg, "<|ref|>text<|/ref|><|det|>garbage [[1,2\nHello", 999, 999);
    CHECK(pg.n_blocks == 1 && pg.blocks[0].n_boxes == 0 && !strcmp(pg.blocks[0].text, "Hello"),
          "garbage det: '%s'", pg.n_blocks ? pg.blocks[0].text : "");
    pipe_page_free(&pg);

    /* Garbage inside a closed det: no box, the text after it. */
    parse(&pg, "<|ref|>text<|/ref|><|det|>[[a,b,c,d]]<|/det|>Hi", 999, 999);
    CHECK(pg.n_blocks == 1 && pg.blocks[0].n_boxes == 0 && !strcmp(pg.blocks[0].text, "Hi"),
          "closed garbage det");
    pipe_page_free(&pg);

    /* Five numbers in a box, then a good box: the list stops at the bad one. */
    parse(&pg, "<|det|>[[1,2,3,4,5],[1,2,3,4]]<|/det|>x", 999, 999);
    CHECK(pg.n_blocks == 1 && pg.blocks[0].n_boxes == 0 && !strcmp(pg.blocks[0].text, "x"),
          "5-number box refused");
    pipe_page_free(&pg);

    /* Label cut at the very end: dropped. */
    parse(&pg, "<|ref|>text<|/ref|><|det|>[[1,2,3,4]]<|/det|>\nBody\n<|ref|>tab", 999, 999);
    CHECK(pg.n_blocks == 1 && !strcmp(pg.blocks[0].text, "Body"), "cut label dropped: %d blocks",
          pg.n_blocks);
    pipe_page_free(&pg);

    /* A ref without its closing tag in the middle: its text is a text block. */
    parse(&pg, "<|ref|>title\n# A\n<|ref|>text<|/ref|><|det|>[[0,0,1,1]]<|/det|>B", 999, 999);
    CHECK(pg.n_blocks == 2, "unclosed ref: %d blocks", pg.n_blocks);
    if (pg.n_blocks == 2) {
        CHECK(!strcmp(pg.blocks[0].type, "text") && !strcmp(pg.blocks[0].text, "title\n# A"),
              "unclosed ref text '%s'", pg.blocks[0].text);
        CHECK(!strcmp(pg.blocks[1].text, "B"), "next block");
    }
    pipe_page_free(&pg);

    /* A ref without det: a block of that type without a box. */
    parse(&pg, "<|ref|>title<|/ref|>\n# No box", 999, 999);
    CHECK(pg.n_blocks == 1 && !strcmp(pg.blocks[0].type, "title") && pg.blocks[0].n_boxes == 0 &&
              !strcmp(pg.blocks[0].text, "# No box") && !pg.grounded,
          "ref without det");
    pipe_page_free(&pg);

    /* det without ref, stray closing tags in the text, flat box, floats,
     * out-of-range values clamped and swapped. */
    parse(&pg,
          "<|det|>[[1,1,2,2]]<|/det|>Hi <|/ref|>there<|/det|>\n"
          "<|ref|>a<|/ref|><|det|>[1.5, 2.25, 30, 40]<|/det|>\n"
          "<|ref|>b<|/ref|><|det|>[[-5, 1200, 2000.5, -1]]<|/det|>\n"
          "<|ref|>c<|/ref|><|det|>[]<|/det|>empty\n"
          "<|ref|>d<|/ref|>  <|det|>[ [ 999 , 0 , 0 , 999 ] , ]<|/det|>",
          200, 100);
    CHECK(pg.n_blocks == 5, "assorted: %d blocks", pg.n_blocks);
    if (pg.n_blocks == 5) {
        pipe_block *b = pg.blocks;
        CHECK(!strcmp(b[0].type, "text") && box_is(&b[0], 0, 0, 0, 0, 0) &&
                  !strcmp(b[0].text, "Hi there"),
              "det without ref: '%s'", b[0].text);
        CHECK(box_is(&b[1], 0, 0, 0, 6, 4), "flat box with floats [%d,%d,%d,%d]", b[1].boxes[0].x1,
              b[1].boxes[0].y1, b[1].boxes[0].x2, b[1].boxes[0].y2);
        CHECK(box_is(&b[2], 0, 0, 0, 200, 100), "clamped + swapped [%d,%d,%d,%d]", b[2].boxes[0].x1,
              b[2].boxes[0].y1, b[2].boxes[0].x2, b[2].boxes[0].y2);
        CHECK(b[3].n_boxes == 0 && !strcmp(b[3].text, "empty"), "empty list");
        CHECK(box_is(&b[4], 0, 0, 0, 200, 100), "spaces + trailing comma, swapped");
    }
    pipe_page_free(&pg);

    /* Every prefix of a real-looking output parses (truncation anywhere);
     * ASan watches the reads. */
    const char *full =
        "<|ref|>title<|/ref|><|det|>[[10, 20, 500, 60]]<|/det|>\n# Heading\n\n"
        "<|ref|>image<|/ref|><|det|>[[100, 300, 400, 600], [1,2,3,4]]<|/det|>\n"
        "<|ref|>text<|/ref|><|det|>[[1,2,3,4]]<|/det|>\n中文 text\n";
    size_t n = strlen(full);
    bool ok = true;
    for (size_t k = 0; k <= n; k++) {
        char *cut = malloc(k + 1);
        memcpy(cut, full, k);
        cut[k] = 0;
        memset(&pg, 0, sizeof pg);
        pg.width = pg.height = 100;
        ocr_err e = {0};
        ok = ok && pipe_ground_parse(&pg, cut, k, &e) == OCR_OK;
        for (int i = 0; i < pg.n_blocks; i++) ok = ok && pg.blocks[i].type && pg.blocks[i].text;
        pipe_page_free(&pg);
        free(cut);
    }
    CHECK(ok, "every prefix parses");
    /* And random mutations of markers and brackets. */
    uint64_t seed = 12345;
    const char alphabet[] = "<|>/[],0123456789 \nrefdt-.";
    for (int it = 0; it < 2000; it++) {
        char buf[200];
        size_t m = strlen(full) < sizeof buf - 1 ? strlen(full) : sizeof buf - 1;
        memcpy(buf, full, m);
        for (int j = 0; j < 6; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[(seed >> 33) % m] = alphabet[(seed >> 17) % (sizeof alphabet - 1)];
        }
        memset(&pg, 0, sizeof pg);
        pg.width = 640;
        pg.height = 480;
        ocr_err e = {0};
        ok = ok && pipe_ground_parse(&pg, buf, m, &e) == OCR_OK;
        for (int i = 0; i < pg.n_blocks; i++)
            for (int k = 0; k < pg.blocks[i].n_boxes; k++) {
                pipe_box x = pg.blocks[i].boxes[k];
                ok = ok && x.x1 >= 0 && x.x1 <= x.x2 && x.x2 <= 640 && x.y1 >= 0 &&
                     x.y1 <= x.y2 && x.y2 <= 480;
            }
        pipe_page_free(&pg);
    }
    CHECK(ok, "mutated outputs parse, boxes inside the page");

    /* Many markers: one pass (a quadratic scan would take seconds here). */
    const char *unit = "<|ref|>x<|/ref|>";
    size_t ul = strlen(unit);
    int reps = 20000;
    char *big = malloc(ul * (size_t)reps + 1);
    for (int i = 0; i < reps; i++) memcpy(big + (size_t)i * ul, unit, ul);
    big[ul * (size_t)reps] = 0;
    memset(&pg, 0, sizeof pg);
    ocr_err e = {0};
    CHECK(pipe_ground_parse(&pg, big, ul * (size_t)reps, &e) == OCR_OK && pg.n_blocks == reps,
          "20000 refs: %d blocks", pg.n_blocks);
    pipe_page_free(&pg);
    free(big);
}

/* -------------------------------------------------------------- writers */

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long l = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)l + 1);
    if (s && fread(s, 1, (size_t)l, f) != (size_t)l) l = 0;
    if (s) s[l] = 0;
    fclose(f);
    if (n) *n = (size_t)l;
    return s;
}

static void test_writers(void)
{
    ocr_err e = {0};
    pipe_doc d;
    CHECK(pipe_doc_init(&d, "scan.pdf", &e) == OCR_OK, "init");
    pipe_page *pg;
    CHECK(pipe_doc_add_page(&d, &pg, 1, 200, 100, &e) == OCR_OK, "page 1");
    const char *out1 = "<|ref|>title<|/ref|><|det|>[[0,0,999,99]]<|/det|>\n# Title\n\n"
                       "<|ref|>image<|/ref|><|det|>[[0,100,499,599],[500,100,999,599],"
                       "[10,10,10,10]]<|/det|>\n"
                       "<|ref|>text<|/ref|><|det|>[[0,600,999,999]]<|/det|>\n"
                       "$x \\coloneqq y$ and $y \\eqqcolon x$ — ü\n";
    CHECK(pipe_ground_parse(pg, out1, strlen(out1), &e) == OCR_OK, "parse page 1");
    CHECK(pipe_page_lines_from_text(pg, &e) == OCR_OK, "lines of page 1"); /* as pipe_dsocr_page */
    CHECK(pg->n_blocks == 3, "3 blocks");
    /* Crops of the image block from a page image. */
    PIX *pix = pixCreate(200, 100, 32);
    pixSetAllArbitrary(pix, 0x20406000);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/out_images", tst_tmpdir());
    CHECK(pipe_page_save_crops(pg, pix, dir, "out_images", &e) == OCR_OK, "crops: %s", e.msg);
    pixDestroy(&pix);
    char p0[700], p1[700], p2[700];
    snprintf(p0, sizeof p0, "%s/1-0.png", dir);
    snprintf(p1, sizeof p1, "%s/1-1.png", dir);
    snprintf(p2, sizeof p2, "%s/1-2.png", dir);
    CHECK(exists(p0) && exists(p1) && !exists(p2), "two crops written, the empty box skipped");
    PIX *c0 = NULL;
    if (img_load(&c0, p0, NULL, &e) == OCR_OK) {
        /* [0,100,499,599] on 200x100: x 0..int(499/999*200)=99, y int(100/999*100)=10..59 */
        CHECK(pixGetWidth(c0) == 99 && pixGetHeight(c0) == 49, "crop size %dx%d",
              pixGetWidth(c0), pixGetHeight(c0));
        pixDestroy(&c0);
    } else {
        CHECK(false, "crop readable: %s", e.msg);
    }
    pipe_page *pg2;
    CHECK(pipe_doc_add_page(&d, &pg2, 2, 200, 100, &e) == OCR_OK, "page 2");
    CHECK(pipe_ground_parse(pg2, "Second page.", 12, &e) == OCR_OK, "parse page 2");
    CHECK(pipe_page_lines_from_text(pg2, &e) == OCR_OK, "lines of page 2");

    char *md = NULL;
    size_t n = 0;
    CHECK(pipe_doc_render(&d, PIPE_FMT_MD, &md, &n, &e) == OCR_OK, "render md");
    const char *want_md = "# Title\n\n![](out_images/1-0.png)\n![](out_images/1-1.png)\n\n"
                          "$x := y$ and $y =: x$ — ü\n"
                          "\n<--- Page Split --->\n\nSecond page.\n";
    CHECK(md && !strcmp(md, want_md) && n == strlen(want_md), "markdown:\n%s", md ? md : "");
    free(md);
    char *txt = NULL;
    CHECK(pipe_doc_render(&d, PIPE_FMT_TXT, &txt, &n, &e) == OCR_OK, "render txt");
    const char *want_txt = "# Title\n\n$x := y$ and $y =: x$ — ü\n\fSecond page.\n";
    CHECK(txt && !strcmp(txt, want_txt), "text:\n%s", txt ? txt : "");
    free(txt);

    /* JSON: parse it back. */
    char jpath[700];
    snprintf(jpath, sizeof jpath, "%s/doc.json", tst_tmpdir());
    CHECK(pipe_doc_write(&d, PIPE_FMT_JSON, jpath, &e) == OCR_OK, "write json: %s", e.msg);
    json_error_t je;
    json_t *j = json_load_file(jpath, 0, &je);
    CHECK(j != NULL, "JSON parses: %s (line %d)", je.text, je.line);
    if (j) {
        CHECK(!strcmp(json_string_value(json_object_get(j, "source")), "scan.pdf"), "source");
        json_t *pages = json_object_get(j, "pages");
        CHECK(json_array_size(pages) == 2, "2 pages");
        json_t *p0j = json_array_get(pages, 0);
        CHECK(json_integer_value(json_object_get(p0j, "width")) == 200, "width");
        CHECK(json_is_true(json_object_get(p0j, "grounded")), "grounded");
        json_t *blocks = json_object_get(p0j, "blocks");
        CHECK(json_array_size(blocks) == 3, "3 blocks in JSON");
        json_t *b0 = json_array_get(blocks, 0), *b1 = json_array_get(blocks, 1);
        CHECK(!strcmp(json_string_value(json_object_get(b0, "type")), "title"), "type");
        json_t *box = json_object_get(b0, "box");
        CHECK(json_array_size(box) == 4 && json_integer_value(json_array_get(box, 2)) == 200 &&
                  json_integer_value(json_array_get(box, 3)) == 9,
              "box in pixels");
        CHECK(!strcmp(json_string_value(json_object_get(b0, "text")), "# Title"), "text");
        CHECK(json_array_size(json_object_get(b1, "boxes")) == 3, "all boxes of a multi-box block");
        CHECK(json_array_size(json_object_get(b1, "crops")) == 2, "crops listed");
        json_t *b2j = json_array_get(json_object_get(json_array_get(pages, 1), "blocks"), 0);
        CHECK(json_is_null(json_object_get(b2j, "box")), "no box -> null");
        /* Lines: the title's one line has the block's box; the image has
         * none; the boxless block's line has no box. */
        json_t *l0 = json_array_get(json_object_get(b0, "lines"), 0);
        json_t *lbox = json_object_get(l0, "box");
        CHECK(json_array_size(json_object_get(b0, "lines")) == 1 && json_array_size(lbox) == 4 &&
                  json_integer_value(json_array_get(lbox, 2)) == 200 &&
                  json_integer_value(json_array_get(lbox, 3)) == 9 &&
                  !strcmp(json_string_value(json_object_get(l0, "text")), "# Title") &&
                  json_is_null(json_object_get(l0, "confidence")),
              "title line: block box, text, confidence null");
        CHECK(json_is_array(json_object_get(b1, "lines")) && json_array_size(json_object_get(b1, "lines")) == 0,
              "image block: no lines");
        json_t *l2 = json_array_get(json_object_get(b2j, "lines"), 0);
        CHECK(l2 && json_is_null(json_object_get(l2, "box")) &&
                  !strcmp(json_string_value(json_object_get(l2, "text")), "Second page."),
              "boxless block: a line without box");
        json_decref(j);
    }
    char *again = NULL;
    CHECK(pipe_doc_render(&d, PIPE_FMT_JSON, &again, &n, &e) == OCR_OK, "render json");
    char *file = slurp(jpath, NULL);
    CHECK(again && file && !strcmp(again, file), "written file = rendered text");
    free(again);
    free(file);
    pipe_doc_free(&d);
    pipe_doc_free(&d); /* twice is fine */

    /* Invalid UTF-8 and NULs never make invalid JSON. */
    CHECK(pipe_doc_init(&d, "bad\xff.png", &e) == OCR_OK, "init");
    CHECK(pipe_doc_add_page(&d, &pg, 1, 10, 10, &e) == OCR_OK, "page");
    CHECK(pipe_page_add_block(pg, NULL, "text", 4, "a\xc3(b\x80", 5, &e) == OCR_OK, "block");
    char *js = NULL;
    CHECK(pipe_doc_render(&d, PIPE_FMT_JSON, &js, &n, &e) == OCR_OK, "render");
    j = js ? json_loads(js, 0, &je) : NULL;
    CHECK(j != NULL, "JSON with invalid UTF-8 input still parses: %s", je.text);
    json_decref(j);
    free(js);
    pipe_doc_free(&d);

    CHECK(pipe_format_parse("md") == PIPE_FMT_MD && pipe_format_parse("json") == PIPE_FMT_JSON &&
              pipe_format_parse("text") == PIPE_FMT_TXT && pipe_format_parse("pdf") < 0,
          "formats");
    size_t fl;
    char *fx = pipe_md_fix("\\coloneqq\\eqqcolon\\colon", 24, &fl);
    CHECK(fx && !strcmp(fx, ":==:\\colon") && fl == 10, "md fixes: '%s'", fx ? fx : "");
    free(fx);
}

/* Every block of every page of JSON js has "lines", each with a box
 * inside its block's box (both null or both present) and a confidence
 * null or in [0, 1]; *n counts them. */
static bool json_lines_inside(const char *js, int *n, char *why, size_t cap)
{
    json_error_t je;
    json_t *j = js ? json_loads(js, 0, &je) : NULL;
    *n = 0;
    if (!j) {
        snprintf(why, cap, "no JSON");
        return false;
    }
    bool ok = true;
    json_t *pages = json_object_get(j, "pages");
    for (size_t p = 0; ok && p < json_array_size(pages); p++) {
        json_t *blocks = json_object_get(json_array_get(pages, p), "blocks");
        for (size_t b = 0; ok && b < json_array_size(blocks); b++) {
            json_t *bo = json_array_get(blocks, b), *bb = json_object_get(bo, "box");
            json_t *lines = json_object_get(bo, "lines");
            ok = json_is_array(lines);
            for (size_t l = 0; ok && l < json_array_size(lines); l++, (*n)++) {
                json_t *lo = json_array_get(lines, l), *x = json_object_get(lo, "box");
                json_t *c = json_object_get(lo, "confidence");
                ok = json_is_string(json_object_get(lo, "text")) &&
                     (json_is_null(c) || (json_number_value(c) >= 0 && json_number_value(c) <= 1));
                if (ok && json_is_null(bb)) ok = json_is_null(x);
                else if (ok) {
                    ok = json_array_size(x) == 4 && json_array_size(bb) == 4;
                    for (size_t k = 0; ok && k < 4; k++) {
                        json_int_t v = json_integer_value(json_array_get(x, k));
                        json_int_t u = json_integer_value(json_array_get(bb, k));
                        ok = k < 2 ? v >= u : v <= u;
                    }
                }
                if (!ok) snprintf(why, cap, "page %zu block %zu line %zu", p, b, l);
            }
            if (!json_is_array(lines)) snprintf(why, cap, "page %zu block %zu: no lines", p, b);
        }
    }
    json_decref(j);
    return ok;
}

/* DeepSeek-OCR lines: a block's text lines with its box, or its i-th box
 * when it has one per line; JSON and hOCR show them. */
static void test_lines(void)
{
    ocr_err e = {0};
    pipe_doc d;
    pipe_page *pg = NULL;
    pipe_doc_init(&d, "lines.png", &e);
    pipe_doc_add_page(&d, &pg, 1, 1000, 1000, &e);
    const char *out = "<|ref|>text<|/ref|><|det|>[[0,0,999,99],[0,100,999,199]]<|/det|>\nline one\n\n  line two  \n"
                      "<|ref|>text<|/ref|><|det|>[[0,300,999,599]]<|/det|>\na\nb\nc\n"
                      "<|ref|>image<|/ref|><|det|>[[0,600,999,999]]<|/det|>\n";
    CHECK(pipe_ground_parse(pg, out, strlen(out), &e) == OCR_OK && pg->n_blocks == 3, "parse");
    CHECK(pipe_page_lines_from_text(pg, &e) == OCR_OK, "lines");
    if (pg->n_blocks == 3) {
        const pipe_block *b0 = &pg->blocks[0], *b1 = &pg->blocks[1];
        CHECK(b0->n_lines == 2 && !strcmp(b0->lines[1].text, "line two") && b0->lines[0].box.y2 == 99 &&
                  b0->lines[1].box.y1 == 100 && b0->lines[1].confidence == -1.0f,
              "one box per line: each line its box, blank lines skipped, trimmed");
        CHECK(b1->n_lines == 3 && b1->lines[2].box.y1 == 300 && b1->lines[2].box.y2 == 599 && b1->lines[2].has_box,
              "one box: every line has the block's box");
        CHECK(pg->blocks[2].n_lines == 0, "no text: no lines");
    }
    /* Twice changes nothing (blocks with lines are kept). */
    CHECK(pipe_page_lines_from_text(pg, &e) == OCR_OK && pg->blocks[1].n_lines == 3, "idempotent");
    char *js = NULL, *h = NULL;
    CHECK(pipe_doc_render(&d, PIPE_FMT_JSON, &js, NULL, &e) == OCR_OK, "json");
    int n = 0;
    char why[256] = "";
    CHECK(json_lines_inside(js, &n, why, sizeof why) && n == 5, "JSON lines inside blocks (%d): %s", n, why);
    CHECK(js && strstr(js, "\"lines\":[{\"box\":[0,0,1000,99],\"text\":\"line one\",\"confidence\":null},"
                           "{\"box\":[0,100,1000,199],\"text\":\"line two\",\"confidence\":null}]"),
          "JSON lines:\n%s", js ? js : "");
    /* hOCR: per-box lines as located; lines sharing the block's whole box
     * are placed as bands (300..599, 3 lines). */
    CHECK(pipe_doc_render(&d, PIPE_FMT_HOCR, &h, NULL, &e) == OCR_OK, "hocr");
    CHECK(h && strstr(h, "title=\"bbox 0 0 1000 99\">line one</span>") &&
              strstr(h, "title=\"bbox 0 100 1000 199\">line two</span>"),
          "hOCR: one box per line");
    CHECK(h && strstr(h, "title=\"bbox 0 300 1000 399\">a</span>") && strstr(h, "title=\"bbox 0 499 1000 599\">c</span>"),
          "hOCR: bands for lines with the block's box:\n%s", h ? h : "");
    /* A line's own box is used as is. */
    pipe_block *b = &pg->blocks[1];
    b->lines[1].box = (pipe_box){10, 420, 500, 450};
    b->lines[1].confidence = 0.9f;
    free(h);
    h = NULL;
    pipe_doc_render(&d, PIPE_FMT_HOCR, &h, NULL, &e);
    CHECK(h && strstr(h, "title=\"bbox 10 420 500 450; x_wconf 90\">b</span>"), "hOCR: the line's box and confidence");
    free(js);
    free(h);
    pipe_doc_free(&d);
}

static void test_overlay(void)
{
    ocr_err e = {0};
    pipe_page pg;
    const char *out = "<|ref|>title<|/ref|><|det|>[[100,100,899,199]]<|/det|>\n# T\n"
                      "<|ref|>text<|/ref|><|det|>[[100,300,899,599],[100,650,899,900]]<|/det|>\nx\n"
                      "<|ref|>weird_type<|/ref|><|det|>[[0,0,50,50]]<|/det|>y";
    parse(&pg, out, 400, 300);
    PIX *pix = pixCreate(400, 300, 8);
    pixSetAll(pix);
    uint8_t *png = NULL;
    size_t n = 0;
    CHECK(ovl_page_render(pix, &pg, &png, &n, &e) == OCR_OK && png && n > 8, "render: %s", e.msg);
    PIX *back = NULL;
    if (png) {
        const char *path = tst_write_file("overlay.png", png, n);
        CHECK(img_load(&back, path, NULL, &e) == OCR_OK, "overlay PNG decodes: %s", e.msg);
    }
    if (back) {
        CHECK(pixGetWidth(back) == 400 && pixGetHeight(back) == 300, "overlay size");
        /* The title's left edge (x = int(100/999*400) = 40) is drawn red;
         * an untouched corner stays white. */
        l_int32 r, g, b;
        PIX *rgb = NULL;
        img_to_rgb32(&rgb, back, &e);
        pixGetRGBPixel(rgb, 40, 45, &r, &g, &b);
        CHECK(r > 150 && g < 80 && b < 80, "title edge red: %d,%d,%d", r, g, b);
        pixGetRGBPixel(rgb, 399, 299, &r, &g, &b);
        CHECK(r == 255 && g == 255 && b == 255, "corner untouched: %d,%d,%d", r, g, b);
        pixDestroy(&rgb);
        pixDestroy(&back);
    }
    free(png);
    char path[600];
    snprintf(path, sizeof path, "%s/ovl.png", tst_tmpdir());
    CHECK(ovl_page_write(pix, &pg, path, &e) == OCR_OK && exists(path), "overlay written");
    /* No blocks: the page itself. */
    pipe_page empty;
    memset(&empty, 0, sizeof empty);
    CHECK(ovl_page_render(pix, &empty, &png, &n, &e) == OCR_OK, "empty overlay");
    free(png);
    pixDestroy(&pix);
    pipe_page_free(&pg);
}

static void test_prompts(void)
{
    char p[512];
    ocr_err e = {0};
    CHECK(pipe_dsocr_prompt(p, sizeof p, "markdown", &e) == OCR_OK &&
              !strcmp(p, "<image>\n<|grounding|>Convert the document to markdown."),
          "markdown");
    CHECK(pipe_dsocr_prompt(p, sizeof p, NULL, &e) == OCR_OK &&
              !strcmp(p, "<image>\n<|grounding|>Convert the document to markdown."),
          "default");
    CHECK(pipe_dsocr_prompt(p, sizeof p, "free", &e) == OCR_OK && !strcmp(p, "<image>\nFree OCR."),
          "free");
    CHECK(pipe_dsocr_prompt(p, sizeof p, "figure", &e) == OCR_OK &&
              !strcmp(p, "<image>\nParse the figure."),
          "figure");
    CHECK(pipe_dsocr_prompt(p, sizeof p, "locate:the total", &e) == OCR_OK &&
              !strcmp(p, "<image>\nLocate <|ref|>the total<|/ref|> in the image."),
          "locate");
    CHECK(pipe_dsocr_prompt(p, sizeof p, "locate:", &e) == OCR_E_ARG, "empty locate");
    CHECK(pipe_dsocr_prompt(p, sizeof p, "What is this?", &e) == OCR_OK &&
              !strcmp(p, "<image>\nWhat is this?"),
          "custom text gets <image>");
    CHECK(pipe_dsocr_prompt(p, sizeof p, "A <image> B", &e) == OCR_OK && !strcmp(p, "A <image> B"),
          "custom text with <image> as given");
    CHECK(pipe_dsocr_prompt(p, sizeof p, "<image><image>", &e) == OCR_E_ARG &&
              strstr(e.msg, "more than one"),
          "two images refused");
    char small[8];
    CHECK(pipe_dsocr_prompt(small, sizeof small, "markdown", &e) == OCR_E_LIMIT, "too long");
}

/* ---------------------------------------------------- DeepSeek-OCR, E2E */

/* DIR = tmp/<name>: the fixture's config.json and model.safetensors
 * (symlinks) and the byte tokenizer. */
static bool make_model_dir(char *dir, size_t cap, const char *fixture, const char *name,
                           bool with_tokenizer)
{
    snprintf(dir, cap, "%s/%s", tst_tmpdir(), name);
    mkdir(dir, 0777);
    char src[1200], dst[1200];
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", fixture, files[i]);
        char *abs = realpath(src, NULL);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        unlink(dst);
        bool ok = abs && symlink(abs, dst) == 0;
        free(abs);
        if (!ok) return false;
    }
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    unlink(dst);
    if (!with_tokenizer) return true;
    size_t n;
    char *tj = slurp("tests/data/dsocr/tokenizer.json", &n);
    if (!tj) return false;
    FILE *f = fopen(dst, "wb");
    bool ok = f && fwrite(tj, 1, n, f) == n;
    if (f) fclose(f);
    free(tj);
    return ok;
}

static pipe_dsocr_params tiny_params(int max_new)
{
    pipe_dsocr_params p = pipe_dsocr_default_params();
    /* common/preprocess.json: base 256, tiles 128, threshold 128, 2..9. */
    p.prep.base_size = 256;
    p.prep.image_size = 128;
    p.prep.crop_threshold = 128;
    p.prep.min_tiles = 2;
    p.prep.max_tiles = 9;
    p.prompt = "<image>\n<|grounding|>Convert the document to markdown. ";
    p.max_new_tokens = max_new;
    return p;
}

static bool ids_equal(const pipe_page *pg, const char *golden, char *msg, size_t cap)
{
    ocr_npy a;
    ocr_err e = {0};
    if (ocr_npy_load(&a, golden, &e) != OCR_OK) {
        snprintf(msg, cap, "%s", e.msg);
        return false;
    }
    bool ok = a.dtype == OCR_DT_I64 && ocr_npy_numel(&a) == pg->n_ids;
    for (int i = 0; ok && i < pg->n_ids; i++) ok = ((const int64_t *)a.data)[i] == pg->ids[i];
    size_t k = (size_t)snprintf(msg, cap, "ours:");
    for (int i = 0; i < pg->n_ids && k < cap; i++)
        k += (size_t)snprintf(msg + k, cap - k, " %d", (int)pg->ids[i]);
    ocr_npy_free(&a);
    return ok;
}

static void run_page(pipe_dsocr_state *st, const char *png, pipe_page *pg, ocr_err *e, bool *ok)
{
    PIX *pix = NULL;
    memset(pg, 0, sizeof *pg);
    pg->number = 1;
    *ok = img_load(&pix, png, NULL, e) == OCR_OK && pipe_dsocr_page(st, pix, pg, e) == OCR_OK;
    pixDestroy(&pix);
}

static void test_e2e_fixtures(void)
{
    const char *names[] = {"ocr_mha", "mla_greedy", "mla_noaux_tc"};
    char common[1024], png[1100], small[1100];
    snprintf(common, sizeof common, "%s/conformance/common", shared_dir());
    snprintf(png, sizeof png, "%s/test_image.png", common);
    snprintf(small, sizeof small, "%s/global_only/test_image_small.png", common);
    if (!exists(png)) {
        tst_skip("DeepSeek-OCR end to end", "fixtures not found (set VLOCR_SHARED)");
        return;
    }
    for (int f = 0; f < 3; f++) {
        char fixture[1100], dir[1200], golden[1300], msg[512];
        snprintf(fixture, sizeof fixture, "%s/conformance/%s", shared_dir(), names[f]);
        if (!make_model_dir(dir, sizeof dir, fixture, names[f], true)) {
            CHECK(false, "%s: cannot build the model directory", names[f]);
            continue;
        }
        ocr_err e = {0};
        pipe_dsocr *m = NULL;
        pipe_dsocr_state *st = NULL, *st2 = NULL;
        if (!CHECK(pipe_dsocr_load(&m, dir, &e) == OCR_OK, "%s: load: %s", names[f], e.msg))
            continue;
        pipe_dsocr_params p = tiny_params(8);
        CHECK(pipe_dsocr_state_create(&st, m, &p, &e) == OCR_OK, "%s: state: %s", names[f], e.msg);
        pipe_page pg;
        bool ok = false;
        if (st) run_page(st, png, &pg, &e, &ok);
        CHECK(ok, "%s: page: %s", names[f], e.msg);
        if (ok) {
            snprintf(golden, sizeof golden, "%s/generation/generated_ids.npy", fixture);
            CHECK(ids_equal(&pg, golden, msg, sizeof msg), "%s: generated ids = golden (%s)",
                  names[f], msg);
            CHECK(pg.stats.n_prompt == 85 && pg.stats.n_image == 49 && pg.stats.tiles_w == 3 &&
                      pg.stats.tiles_h == 2 && !strcmp(pg.stats.stop, "length"),
                  "%s: prompt %d (%d image), tiles %dx%d", names[f], pg.stats.n_prompt,
                  pg.stats.n_image, pg.stats.tiles_w, pg.stats.tiles_h);
            CHECK(pg.width == 360 && pg.height == 240 && pg.raw, "%s: page size", names[f]);
            /* The page as JSON: every block's lines inside its box. */
            pipe_doc dd = {0};
            dd.pages = &pg;
            dd.n_pages = 1;
            dd.source = (char *)"fixture";
            char *js = NULL, why[256] = "";
            int nl = 0, want = 0;
            for (int i = 0; i < pg.n_blocks; i++) {
                pipe_page tmp = {0};
                CHECK(pipe_page_add_block(&tmp, NULL, "text", 4, pg.blocks[i].text, strlen(pg.blocks[i].text), &e) == OCR_OK &&
                          pipe_page_lines_from_text(&tmp, &e) == OCR_OK,
                      "split");
                want += tmp.n_blocks ? tmp.blocks[0].n_lines : 0;
                pipe_page_free(&tmp);
            }
            CHECK(pipe_doc_render(&dd, PIPE_FMT_JSON, &js, NULL, &e) == OCR_OK &&
                      json_lines_inside(js, &nl, why, sizeof why) && nl == want,
                  "%s: JSON lines (%d of %d) inside their blocks: %s", names[f], nl, want, why);
            if (getenv("VLOCR_PIPE_DUMP")) fprintf(stderr, "%s", js ? js : "");
            free(js);
        }
        pipe_page_free(&pg);
        /* A second state on the same model, and the first state reused. */
        CHECK(pipe_dsocr_state_create(&st2, m, &p, &e) == OCR_OK, "state 2");
        if (st2) {
            run_page(st2, png, &pg, &e, &ok);
            snprintf(golden, sizeof golden, "%s/generation/generated_ids.npy", fixture);
            CHECK(ok && ids_equal(&pg, golden, msg, sizeof msg), "%s: second state (%s)", names[f],
                  msg);
            pipe_page_free(&pg);
        }
        snprintf(golden, sizeof golden, "%s/global_only/generated_ids.npy", fixture);
        if (st && exists(golden)) {
            run_page(st, small, &pg, &e, &ok);
            CHECK(ok && ids_equal(&pg, golden, msg, sizeof msg),
                  "%s: global-only 120x90 ids = golden (%s)", names[f], msg);
            CHECK(pg.stats.n_prompt == 57 && pg.stats.n_tiles == 0, "%s: global-only prompt %d",
                  names[f], pg.stats.n_prompt);
            pipe_page_free(&pg);
            /* The reused state still gives the tiled result. */
            run_page(st, png, &pg, &e, &ok);
            snprintf(golden, sizeof golden, "%s/generation/generated_ids.npy", fixture);
            CHECK(ok && ids_equal(&pg, golden, msg, sizeof msg), "%s: reused state (%s)",
                  names[f], msg);
            pipe_page_free(&pg);
        }
        pipe_dsocr_state_destroy(&st2);
        pipe_dsocr_state_destroy(&st);
        pipe_dsocr_destroy(&m);
        pipe_dsocr_destroy(&m); /* NULL is fine */
    }
}

static void test_dsocr_errors(void)
{
    char fixture[1100], dir[1200];
    snprintf(fixture, sizeof fixture, "%s/conformance/ocr_mha", shared_dir());
    ocr_err e = {0};
    pipe_dsocr *m = NULL;
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/no-such-model", tst_tmpdir());
    CHECK(pipe_dsocr_load(&m, nodir, &e) == OCR_E_NOTFOUND && strstr(e.msg, "config.json") && !m,
          "no config.json: %s", e.msg);
    /* A decoder-only config: not a DeepSeek-OCR checkpoint. */
    char dec[600], cfg[700];
    snprintf(dec, sizeof dec, "%s/decoder-only", tst_tmpdir());
    mkdir(dec, 0777);
    snprintf(cfg, sizeof cfg, "%s/config.json", dec);
    FILE *f = fopen(cfg, "w");
    if (f) {
        fputs("{\"model_type\": \"deepseek_v3\", \"hidden_size\": 64, \"num_attention_heads\": 4}", f);
        fclose(f);
    }
    CHECK(pipe_dsocr_load(&m, dec, &e) == OCR_E_UNSUPPORTED && strstr(e.msg, "vision_config"),
          "decoder-only config: %s", e.msg);
    if (!exists(fixture)) {
        tst_skip("model directory errors", "fixtures not found");
        return;
    }
    if (!make_model_dir(dir, sizeof dir, fixture, "no-tokenizer", false)) {
        CHECK(false, "cannot build the model directory");
        return;
    }
    CHECK(pipe_dsocr_load(&m, dir, &e) == OCR_E_NOTFOUND && strstr(e.msg, "tokenizer.json") && !m,
          "no tokenizer.json named: %s", e.msg);
    /* A broken tokenizer.json is named too. */
    char tj[1300];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    f = fopen(tj, "w");
    if (f) {
        fputs("{\"model\": ", f);
        fclose(f);
    }
    CHECK(pipe_dsocr_load(&m, dir, &e) != OCR_OK && strstr(e.msg, "tokenizer.json") && !m,
          "broken tokenizer.json: %s", e.msg);
    unlink(tj);

    /* Bad parameters. */
    if (!make_model_dir(dir, sizeof dir, fixture, "ok-model", true)) return;
    if (pipe_dsocr_load(&m, dir, &e) != OCR_OK) {
        CHECK(false, "load: %s", e.msg);
        return;
    }
    pipe_dsocr_params p = tiny_params(8);
    pipe_dsocr_state *st = NULL;
    p.prompt = "no image here";
    CHECK(pipe_dsocr_state_create(&st, m, &p, &e) == OCR_E_ARG && !st, "prompt without <image>");
    p.prompt = "<image> and <image>";
    CHECK(pipe_dsocr_state_create(&st, m, &p, &e) == OCR_E_ARG && !st, "two <image>");
    p = tiny_params(0);
    CHECK(pipe_dsocr_state_create(&st, m, &p, &e) == OCR_E_ARG && !st, "max_new_tokens 0");
    p = tiny_params(8);
    p.prep.max_tiles = 0;
    CHECK(pipe_dsocr_state_create(&st, m, &p, &e) == OCR_E_ARG && !st, "bad tiles");
    vis_prep_params pp;
    CHECK(vis_prep_params_mode(&pp, "huge", &e) == OCR_E_ARG && strstr(e.msg, "huge"), "bad mode");

    /* A free-OCR prompt on the tiny model runs and gives an ungrounded
     * page; the n-gram window variant runs too. */
    p = tiny_params(6);
    p.prompt = "<image>\nFree OCR.";
    p.ngram_size = 30;
    p.ngram_window = 90;
    CHECK(pipe_dsocr_state_create(&st, m, &p, &e) == OCR_OK, "free OCR state: %s", e.msg);
    if (st) {
        char png[1100];
        snprintf(png, sizeof png, "%s/conformance/common/test_image.png", shared_dir());
        pipe_page pg;
        bool ok;
        run_page(st, png, &pg, &e, &ok);
        CHECK(ok && pg.n_ids == 6 && pg.stats.n_prompt == 1 + 49 + 10, "free OCR page: %s (%d prompt)",
              e.msg, pg.stats.n_prompt);
        pipe_page_free(&pg);
    }
    pipe_dsocr_state_destroy(&st);
    pipe_dsocr_destroy(&m);
}

int main(void)
{
    TST_RUN(test_scale);
    TST_RUN(test_ground_blocks);
    TST_RUN(test_ground_malformed);
    TST_RUN(test_writers);
    TST_RUN(test_lines);
    TST_RUN(test_overlay);
    TST_RUN(test_prompts);
    TST_RUN(test_e2e_fixtures);
    TST_RUN(test_dsocr_errors);
    return tst_finish();
}

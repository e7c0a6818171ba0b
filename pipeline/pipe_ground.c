/* pipeline/pipe_ground.c — DeepSeek-OCR's grounded output into blocks.
 *
 * The model writes `<|ref|>label<|/ref|><|det|>[[x1, y1, x2, y2], ...]<|/det|>`
 * before each block, boxes in a 0..999 frame. The official post-processing
 * (infer(save_results)) finds them with a regex and eval()s the box list;
 * this is a hand scanner instead, because the output is untrusted and often
 * cut short by the token limit: a box list is read number by number and
 * keeps whatever complete boxes it holds, a missing closing tag ends the
 * markup at the next marker or line, and nothing here can fail except an
 * allocation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

#define REF "<|ref|>"
#define REF_END "<|/ref|>"
#define DET "<|det|>"
#define DET_END "<|/det|>"

typedef struct {
    char *p;
    size_t n, cap;
} gbuf;

static bool gbuf_put(gbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *p = realloc(b->p, nc);
        if (!p) return false;
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return true;
}

/* First occurrence of pat in s[from, end); `end` when there is none. */
static size_t find(const char *s, size_t from, size_t end, const char *pat)
{
    size_t m = strlen(pat);
    for (size_t i = from; i + m <= end; i++)
        if (s[i] == pat[0] && memcmp(s + i, pat, m) == 0) return i;
    return end;
}

static bool at(const char *s, size_t i, size_t end, const char *pat)
{
    size_t m = strlen(pat);
    return i + m <= end && memcmp(s + i, pat, m) == 0;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* The next block marker (<|ref|> or <|det|>) at or after `from`; `end`
 * when there is none. One pass, so that parsing stays linear. */
static size_t next_marker(const char *s, size_t from, size_t end, bool *is_ref)
{
    for (size_t i = from; i < end; i++)
        if (s[i] == '<') {
            if (at(s, i, end, REF)) {
                *is_ref = true;
                return i;
            }
            if (at(s, i, end, DET)) {
                *is_ref = false;
                return i;
            }
        }
    *is_ref = false;
    return end;
}

int pipe_ground_scale(double v, int size)
{
    if (!(v > 0)) v = 0; /* NaN too */
    if (v > 999) v = 999;
    return (int)(v / 999.0 * (double)size);
}

/* A number: optional sign, digits, optional fraction. Returns false when
 * there is none at *i. */
static bool scan_number(const char *s, size_t *i, size_t end, double *out)
{
    size_t k = *i;
    bool neg = false;
    if (k < end && (s[k] == '-' || s[k] == '+')) neg = s[k++] == '-';
    double v = 0;
    int digits = 0;
    while (k < end && s[k] >= '0' && s[k] <= '9') {
        if (digits < 15) v = v * 10 + (s[k] - '0');
        else v *= 10; /* absurdly long: keep the magnitude */
        if (v > 1e18) v = 1e18;
        digits++;
        k++;
    }
    if (k < end && s[k] == '.') {
        k++;
        double scale = 0.1;
        while (k < end && s[k] >= '0' && s[k] <= '9') {
            v += scale * (s[k] - '0');
            scale *= 0.1;
            digits++;
            k++;
        }
    }
    if (!digits) return false;
    *out = neg ? -v : v;
    *i = k;
    return true;
}

static size_t skip_ws(const char *s, size_t i, size_t end)
{
    while (i < end && is_ws(s[i])) i++;
    return i;
}

/* "[x1, y1, x2, y2]" at *i (the '[' included). */
static bool scan_box(const char *s, size_t *i, size_t end, double v[4])
{
    size_t k = skip_ws(s, *i, end);
    if (k >= end || s[k] != '[') return false;
    k++;
    for (int j = 0; j < 4; j++) {
        k = skip_ws(s, k, end);
        if (j > 0) {
            if (k >= end || s[k] != ',') return false;
            k = skip_ws(s, k + 1, end);
        }
        if (!scan_number(s, &k, end, &v[j])) return false;
    }
    k = skip_ws(s, k, end);
    if (k >= end || s[k] != ']') return false;
    *i = k + 1;
    return true;
}

static ocr_status add_box(pipe_page *pg, pipe_block *b, const double v[4], ocr_err *e)
{
    pipe_box x = {pipe_ground_scale(v[0], pg->width), pipe_ground_scale(v[1], pg->height),
                  pipe_ground_scale(v[2], pg->width), pipe_ground_scale(v[3], pg->height)};
    if (x.x1 > x.x2) {
        int t = x.x1;
        x.x1 = x.x2;
        x.x2 = t;
    }
    if (x.y1 > x.y2) {
        int t = x.y1;
        x.y1 = x.y2;
        x.y2 = t;
    }
    return pipe_block_add_box(b, x, e);
}

/* The box list after <|det|>, s[i..lim): `[[..], [..]]`, or one flat box.
 * Complete boxes go to b. Returns where the list ended; *closed says
 * whether its final ']' was there. */
static ocr_status scan_boxes(pipe_page *pg, pipe_block *b, const char *s, size_t i, size_t lim,
                             size_t *stop, bool *closed, ocr_err *e)
{
    double v[4];
    *closed = false;
    *stop = i;
    size_t k = skip_ws(s, i, lim);
    if (k >= lim || s[k] != '[') return OCR_OK;
    size_t k1 = skip_ws(s, k + 1, lim);
    if (k1 < lim && s[k1] == ']') { /* "[]": no boxes */
        *closed = true;
        *stop = k1 + 1;
        return OCR_OK;
    }
    if (k1 < lim && s[k1] != '[') {
        /* A single flat box (eval would give a list of 4 numbers). */
        size_t kk = k;
        if (scan_box(s, &kk, lim, v)) {
            *closed = true;
            *stop = kk;
            return add_box(pg, b, v, e);
        }
        return OCR_OK;
    }
    k = k1;
    for (;;) {
        k = skip_ws(s, k, lim);
        if (k < lim && s[k] == ']') { /* "[]" or a trailing comma */
            *closed = true;
            k++;
            break;
        }
        if (!scan_box(s, &k, lim, v)) break;
        ocr_status rc = add_box(pg, b, v, e);
        if (rc != OCR_OK) return rc;
        *stop = k;
        k = skip_ws(s, k, lim);
        if (k < lim && s[k] == ',') {
            k++;
            continue;
        }
        if (k < lim && s[k] == ']') {
            *closed = true;
            k++;
        }
        break;
    }
    if (*closed) *stop = k;
    return OCR_OK;
}

/* Append s[a, b) to acc without stray closing tags. */
static bool put_text(gbuf *acc, const char *s, size_t a, size_t b)
{
    static const char *stray[] = {REF_END, DET_END, "<|grounding|>"};
    size_t i = a, run = a;
    while (i < b) {
        size_t m = 0;
        if (s[i] == '<')
            for (size_t k = 0; k < sizeof stray / sizeof stray[0] && !m; k++)
                if (at(s, i, b, stray[k])) m = strlen(stray[k]);
        if (m) {
            if (!gbuf_put(acc, s + run, i - run)) return false;
            i += m;
            run = i;
        } else {
            i++;
        }
    }
    return gbuf_put(acc, s + run, b - run);
}

/* A block's text: leading blank lines and trailing white space dropped. */
static void trim_block_text(const char *s, size_t n, size_t *a, size_t *b)
{
    size_t i = 0, start = 0;
    while (i < n && is_ws(s[i])) {
        if (s[i] == '\n') start = i + 1;
        i++;
    }
    if (i == n) start = n;
    while (n > start && is_ws(s[n - 1])) n--;
    *a = start;
    *b = n;
}

/* Give the accumulated text to block `cur` (or, before the first block, to
 * a new "text" block when it is not blank), then empty acc. */
static ocr_status flush(pipe_page *pg, int cur, gbuf *acc, ocr_err *e)
{
    size_t a = 0, b = 0;
    if (acc->n) trim_block_text(acc->p, acc->n, &a, &b);
    ocr_status rc = OCR_OK;
    if (cur < 0) {
        if (b > a) rc = pipe_page_add_block(pg, NULL, "text", 4, acc->p + a, b - a, e);
    } else if (b > a) {
        pipe_block *blk = &pg->blocks[cur];
        char *t = malloc(b - a + 1);
        if (!t) {
            rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_ground_parse: out of memory");
        } else {
            memcpy(t, acc->p + a, b - a);
            t[b - a] = 0;
            free(blk->text);
            blk->text = t;
        }
    }
    acc->n = 0;
    if (acc->p) acc->p[0] = 0;
    return rc;
}

ocr_status pipe_ground_parse(pipe_page *pg, const char *s, size_t len, ocr_err *e)
{
    gbuf acc = {0};
    int cur = -1; /* index of the block that collects text */
    size_t p = 0;
    ocr_status rc = OCR_OK;
    if (!s) len = 0;
    while (rc == OCR_OK) {
        bool is_ref;
        size_t m = next_marker(s, p, len, &is_ref);
        if (!put_text(&acc, s, p, m)) {
            rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_ground_parse: out of memory");
            break;
        }
        if (m >= len) break;
        size_t q; /* where the block's markup ends */
        const char *label = "text";
        size_t label_len = 4;
        bool det = !is_ref;
        size_t det_at = m;
        if (is_ref) {
            size_t ls = m + strlen(REF);
            bool r2;
            size_t nm = next_marker(s, ls, len, &r2);
            size_t close = find(s, ls, nm, REF_END);
            if (close >= nm) {
                /* No closing tag. At the very end of the output, on one
                 * line, it is a label cut by the token limit: dropped.
                 * Otherwise what follows is text of a new block. */
                bool one_line = find(s, ls, nm, "\n") >= nm;
                if (nm >= len && one_line) {
                    p = len;
                    break;
                }
                if ((rc = flush(pg, cur, &acc, e)) != OCR_OK) break;
                if ((rc = pipe_page_add_block(pg, NULL, "text", 4, NULL, 0, e)) != OCR_OK) break;
                cur = pg->n_blocks - 1;
                p = ls;
                continue;
            }
            size_t a = ls, b = close;
            while (a < b && is_ws(s[a])) a++;
            while (b > a && is_ws(s[b - 1])) b--;
            if (b > a) {
                label = s + a;
                label_len = b - a;
            }
            q = close + strlen(REF_END);
            size_t k = q;
            while (k < len && (s[k] == ' ' || s[k] == '\t')) k++;
            if (at(s, k, len, DET)) {
                det = true;
                det_at = k;
            }
        } else {
            q = m;
        }
        if ((rc = flush(pg, cur, &acc, e)) != OCR_OK) break;
        pipe_block *blk;
        if ((rc = pipe_page_add_block(pg, &blk, label, label_len, NULL, 0, e)) != OCR_OK) break;
        cur = pg->n_blocks - 1;
        if (det) {
            size_t ds = det_at + strlen(DET);
            bool r2;
            size_t nm = next_marker(s, ds, len, &r2);
            size_t close = find(s, ds, nm, DET_END);
            size_t stop;
            bool closed;
            rc = scan_boxes(pg, blk, s, ds, close < nm ? close : nm, &stop, &closed, e);
            if (rc != OCR_OK) break;
            pg->grounded = true;
            if (close < nm) q = close + strlen(DET_END);
            else if (closed) q = stop;
            else q = find(s, ds, nm, "\n"); /* malformed and unclosed: skip the line */
        }
        p = q;
    }
    if (rc == OCR_OK) rc = flush(pg, cur, &acc, e);
    free(acc.p);
    return rc;
}

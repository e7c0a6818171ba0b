/* pipeline/pipe_assemble.c — Markdown from typed layout blocks and the
 * texts vlocr-nano read from their lines.
 *
 * Each block becomes one document block whose text is its Markdown and
 * whose lines are the lines read (ink box, text as read), so the
 * writers (pipe_write.c, pipe_hocr.c) and the batch runner's checkpoints
 * handle these pages exactly like DeepSeek-OCR pages:
 *   heading     `#`/`##` by the size of its lines against the body's
 *   paragraph   lines joined, de-hyphenated ("exam-" + "ple" = "example")
 *   list item   bullets (• ◦ ▪ – * ...) become "- ", "3)"/"(3)" become "3."
 *   formula     `$$…$$` (the recogniser's LaTeX, wrappers it added removed)
 *   table       a pipe table, or an HTML table when a cell spans
 *   figure      no text: the runner saves the crop and the writer links it
 *   header, footer, page number: plain text (left out of Markdown by the
 *               writer, kept in JSON)
 * Inline math is passed through as the recogniser emits it ($…$). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"




/* Hand the buffer over as a malloc'd string ("" when empty). */
static ocr_status sb_take(ocr_buf *b, char **out, const char *who, ocr_err *e)
{
    if (!b->oom && !b->p) ocr_buf_put(b, "", 0);
    if (b->oom) {
        free(b->p);
        *out = NULL;
        return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", who);
    }
    *out = b->p;
    return OCR_OK;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* s trimmed: [*start, *start + return). */
static size_t trim(const char *s, const char **start)
{
    size_t n = strlen(s);
    while (n && is_space(*s)) s++, n--;
    while (n && is_space(s[n - 1])) n--;
    *start = s;
    return n;
}

/* Starts with a lowercase letter: ASCII, or Latin-1's (U+00DF..U+00FF
 * without U+00F7). */
static bool starts_lower(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n >= 1 && u[0] >= 'a' && u[0] <= 'z') return true;
    return n >= 2 && u[0] == 0xC3 && u[1] >= 0x9F && u[1] <= 0xBF && u[1] != 0xB7;
}

/* A letter before position i of b (ASCII letter or a non-ASCII byte). */
static bool letter_before(const ocr_buf *b, size_t i)
{
    if (i == 0) return false;
    unsigned char c = (unsigned char)b->p[i - 1];
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

ocr_status pipe_assemble_join(const char *const *lines, int n, char **out, ocr_err *e)
{
    ocr_buf b = {0};
    for (int i = 0; i < n; i++) {
        if (!lines[i]) continue;
        const char *t;
        size_t tn = trim(lines[i], &t);
        if (!tn) continue;
        if (b.n == 0) {
            ocr_buf_put(&b, t, tn);
            continue;
        }
        if (b.n >= 2 && (unsigned char)b.p[b.n - 2] == 0xC2 && (unsigned char)b.p[b.n - 1] == 0xAD) {
            b.n -= 2; /* soft hyphen: always a break */
        } else if (b.p[b.n - 1] == '-' && letter_before(&b, b.n - 1)) {
            if (starts_lower(t, tn)) b.n--; /* "exam-" "ple" */
            /* else "well-" "Known": keep the hyphen, no space */
        } else {
            ocr_buf_put(&b, " ", 1);
        }
        ocr_buf_put(&b, t, tn);
    }
    return sb_take(&b, out, "pipe_assemble_join", e);
}

/* ------------------------------------------------------------ headings */

int pipe_assemble_heading_level(const lay_page *lp, const lay_block *b)
{
    int fallback = b->level <= 1 ? 1 : 2;
    if (b->n_lines <= 0) return fallback;
    double sum = 0, body = 0;
    if (lp->size > 0) {
        for (int i = 0; i < b->n_lines; i++) sum += b->lines[i].size;
        body = lp->size;
    } else if (lp->x_height > 0) {
        for (int i = 0; i < b->n_lines; i++) sum += b->lines[i].x_height;
        body = lp->x_height;
    } else if (lp->char_h > 0) {
        for (int i = 0; i < b->n_lines; i++) sum += lay_box_h(b->lines[i].box);
        body = lp->char_h;
    }
    if (body <= 0 || sum <= 0) return fallback;
    return sum / b->n_lines >= 1.5 * body ? 1 : 2;
}

/* --------------------------------------------------------------- lists */

/* Length of a bullet at the start of s[0..n) including the spaces after
 * it; 0 when none. */
static size_t bullet_len(const char *s, size_t n)
{
    static const char *uni[] = {
        "\xe2\x80\xa2", /* • */ "\xe2\x97\xa6", /* ◦ */ "\xe2\x96\xaa", /* ▪ */
        "\xe2\x80\x93", /* – */ "\xe2\x80\x94", /* — */ "\xc2\xb7",     /* · */
        "\xe2\x97\x8f", /* ● */ "\xe2\x97\x8b", /* ○ */ "\xe2\x96\xa0", /* ■ */
        "\xe2\x96\xa1", /* □ */ "\xe2\x80\xa3", /* ‣ */ "\xe2\x81\x83", /* ⁃ */
        "\xe2\x97\xbe", /* ◾ */ "\xe2\x9e\xa2", /* ➢ */
    };
    size_t k = 0;
    for (size_t i = 0; i < sizeof uni / sizeof uni[0] && !k; i++) {
        size_t m = strlen(uni[i]);
        if (n >= m && !memcmp(s, uni[i], m)) k = m;
    }
    /* ASCII bullets only when a space follows ("-5 degrees" is text). */
    if (!k && n >= 1 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (n == 1 || is_space(s[1])))
        k = 1;
    if (!k) return 0;
    while (k < n && is_space(s[k])) k++;
    return k;
}

/* "12." "12)" "(12)" at the start of s: the number's digits at *d (*dn),
 * the whole marker with its spaces as the return; 0 when none. */
static size_t number_len(const char *s, size_t n, const char **d, size_t *dn)
{
    size_t i = 0;
    bool paren = n > 0 && s[0] == '(';
    if (paren) i++;
    size_t d0 = i;
    while (i < n && i - d0 < 4 && s[i] >= '0' && s[i] <= '9') i++;
    if (i == d0 || i - d0 > 3 || i >= n) return 0;
    if (paren ? s[i] != ')' : (s[i] != '.' && s[i] != ')')) return 0;
    i++;
    if (i < n && !is_space(s[i])) return 0;
    *d = s + d0;
    *dn = i - 1 - d0; /* the marker ends with '.' or ')' */
    while (i < n && is_space(s[i])) i++;
    return i;
}

static void put_list_item(ocr_buf *b, const char *t)
{
    size_t n = strlen(t), k;
    const char *d;
    size_t dn;
    if ((k = number_len(t, n, &d, &dn)) > 0) {
        ocr_buf_put(b, d, dn);
        ocr_buf_puts(b, ". ");
        ocr_buf_put(b, t + k, n - k);
    } else {
        k = bullet_len(t, n);
        ocr_buf_puts(b, "- ");
        ocr_buf_put(b, t + k, n - k);
    }
}

/* ----------------------------------------------------------- paragraphs */

/* Text that Markdown would take for a heading, list or quote is escaped. */
static void put_paragraph(ocr_buf *b, const char *t)
{
    size_t n = strlen(t);
    const char *d;
    size_t dn;
    if (n && (t[0] == '#' || t[0] == '>' || (bullet_len(t, n) > 0 && (unsigned char)t[0] < 0x80) ||
              (t[0] != '(' && number_len(t, n, &d, &dn) > 0))) {
        if (t[0] >= '0' && t[0] <= '9') {
            ocr_buf_put(b, d, dn); /* "1. x" -> "1\. x" */
            ocr_buf_puts(b, "\\");
            ocr_buf_put(b, t + dn, n - dn);
            return;
        }
        ocr_buf_puts(b, "\\");
    }
    ocr_buf_put(b, t, n);
}

/* ------------------------------------------------------------- formulas */

/* The LaTeX of a formula line without display wrappers the recogniser may
 * have added ($$…$$, \[…\], $…$). */
static void put_latex(ocr_buf *b, const char *s)
{
    const char *t;
    size_t n = trim(s, &t);
    static const struct {
        const char *open, *close;
    } wrap[] = {{"$$", "$$"}, {"\\[", "\\]"}, {"$", "$"}};
    for (size_t i = 0; i < sizeof wrap / sizeof wrap[0]; i++) {
        size_t lo = strlen(wrap[i].open), lc = strlen(wrap[i].close);
        if (n >= lo + lc && !memcmp(t, wrap[i].open, lo) && !memcmp(t + n - lc, wrap[i].close, lc)) {
            t += lo;
            n -= lo + lc;
            while (n && is_space(*t)) t++, n--;
            while (n && is_space(t[n - 1])) n--;
            break;
        }
    }
    ocr_buf_put(b, t, n);
}

/* --------------------------------------------------------------- tables */

static void put_escaped(ocr_buf *b, const char *s, bool html)
{
    for (; *s; s++) {
        if (html && *s == '&') ocr_buf_puts(b, "&amp;");
        else if (html && *s == '<') ocr_buf_puts(b, "&lt;");
        else if (html && *s == '>') ocr_buf_puts(b, "&gt;");
        else if (!html && *s == '|') ocr_buf_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r') ocr_buf_puts(b, " ");
        else ocr_buf_put(b, s, 1);
    }
}

/* The table of block bt: a pipe table when every cell is 1x1, else HTML. */
static ocr_status put_table(ocr_buf *b, const lay_block *bt, const char *const *lines, ocr_err *e)
{
    int nc = bt->n_cells, R = bt->n_rows, C = bt->n_cols;
    char **cell = calloc((size_t)(nc > 0 ? nc : 1), sizeof *cell);
    const char **sel = calloc((size_t)(bt->n_lines > 0 ? bt->n_lines : 1), sizeof *sel);
    ocr_status rc = cell && sel ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "pipe_assemble: out of memory");
    bool spans = false;
    for (int c = 0; rc == OCR_OK && c < nc; c++) {
        int k = 0;
        for (int i = 0; i < bt->n_lines; i++)
            if (bt->lines[i].cell == c) sel[k++] = lines ? lines[i] : NULL;
        rc = pipe_assemble_join(sel, k, &cell[c], e);
        const lay_cell *x = &bt->cells[c];
        spans = spans || x->row_span > 1 || x->col_span > 1;
    }
    if (rc == OCR_OK && !spans) {
        /* Every grid position once; holes stay empty. */
        const char **grid = calloc((size_t)R * (size_t)C, sizeof *grid);
        if (!grid) rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_assemble: out of memory");
        for (int c = 0; rc == OCR_OK && c < nc; c++) {
            const lay_cell *x = &bt->cells[c];
            if (x->row >= 0 && x->row < R && x->col >= 0 && x->col < C)
                grid[(size_t)x->row * C + x->col] = cell[c];
        }
        for (int r = 0; rc == OCR_OK && r < R; r++) {
            if (r) ocr_buf_puts(b, "\n");
            for (int c = 0; c < C; c++) {
                const char *t = grid[(size_t)r * C + c];
                ocr_buf_puts(b, "| ");
                if (t && *t) {
                    put_escaped(b, t, false);
                    ocr_buf_puts(b, " ");
                }
            }
            ocr_buf_puts(b, "|");
            if (r == 0) {
                ocr_buf_puts(b, "\n");
                for (int c = 0; c < C; c++) ocr_buf_puts(b, "| --- ");
                ocr_buf_puts(b, "|");
            }
        }
        free(grid);
    } else if (rc == OCR_OK) {
        ocr_buf_puts(b, "<table>");
        for (int r = 0; r < R; r++) {
            ocr_buf_puts(b, "\n<tr>");
            for (int c = 0; c < nc; c++) {
                const lay_cell *x = &bt->cells[c];
                if (x->row != r) continue;
                char attr[64] = "";
                size_t al = 0;
                if (x->row_span > 1) al += (size_t)snprintf(attr + al, sizeof attr - al, " rowspan=\"%d\"", x->row_span);
                if (x->col_span > 1 && al < sizeof attr)
                    snprintf(attr + al, sizeof attr - al, " colspan=\"%d\"", x->col_span);
                ocr_buf_puts(b, "<td");
                ocr_buf_puts(b, attr);
                ocr_buf_puts(b, ">");
                put_escaped(b, cell[c], true);
                ocr_buf_puts(b, "</td>");
            }
            ocr_buf_puts(b, "</tr>");
        }
        ocr_buf_puts(b, "\n</table>");
    }
    for (int c = 0; cell && c < nc; c++) free(cell[c]);
    free(cell);
    free(sel);
    return rc;
}

/* --------------------------------------------------------------- blocks */

/* Letters in s: ASCII letters; Latin, Greek and Cyrillic letters
 * (U+00C0..U+04FF, 2-byte) count one; kana and CJK ideographs (3-byte,
 * U+3040..U+9FFF) two, as one of them is a word. Symbols, digits and
 * punctuation count none. */
static int count_letters(const char *s)
{
    int n = 0;
    for (const unsigned char *u = (const unsigned char *)s; *u;) {
        if ((*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z')) n++;
        else if (*u >= 0xC3 && *u <= 0xD3) n++;
        else if (*u == 0xE3 && u[1] >= 0x81) n += 2;
        else if (*u >= 0xE4 && *u <= 0xE9) n += 2;
        u++;
        while ((*u & 0xC0) == 0x80) u++;
    }
    return n;
}

/* The type block bi is written as, once its text is known: a heading
 * needs words (two letters at least: a lone answer label "A", a digit or
 * a symbol read from a speck is no title) and becomes a paragraph
 * otherwise; a table none of whose cells was read is a picture of a grid
 * and becomes a figure (no text; the runner saves its crop). */
static lay_type written_type(const lay_block *bl, const char *const *lines)
{
    if (!lines) return bl->type; /* nothing read (layout only): as found */
    if (bl->type == LAY_TABLE) {
        for (int i = 0; i < bl->n_lines; i++) {
            const char *t;
            if (lines[i] && trim(lines[i], &t) > 0) return LAY_TABLE;
        }
        return LAY_FIGURE;
    }
    if (bl->type == LAY_HEADING) {
        int n = 0;
        for (int i = 0; i < bl->n_lines; i++)
            if (lines[i]) n += count_letters(lines[i]);
        if (n < 2) return LAY_PARAGRAPH;
    }
    return bl->type;
}

ocr_status pipe_assemble_block(const lay_page *lp, int bi, const char *const *lines, char **out,
                               ocr_err *e)
{
    *out = NULL;
    if (bi < 0 || bi >= lp->n_blocks)
        return ocr_err_set(e, OCR_E_ARG, "pipe_assemble_block: block %d of %d", bi, lp->n_blocks);
    const lay_block *bl = &lp->blocks[bi];
    ocr_buf b = {0};
    ocr_status rc = OCR_OK;
    lay_type type = written_type(bl, lines);
    if (type == LAY_FIGURE) return sb_take(&b, out, "pipe_assemble_block", e);
    if (bl->type == LAY_TABLE && bl->n_cells > 0 && bl->n_rows > 0 && bl->n_cols > 0) {
        rc = put_table(&b, bl, lines, e);
        if (rc != OCR_OK) {
            free(b.p);
            return rc;
        }
        return sb_take(&b, out, "pipe_assemble_block", e);
    }
    if (bl->type == LAY_FORMULA) {
        ocr_buf f = {0};
        for (int i = 0; lines && i < bl->n_lines; i++) {
            if (!lines[i]) continue;
            size_t n0 = f.n;
            if (f.n) ocr_buf_puts(&f, " \\\\ ");
            size_t n1 = f.n;
            put_latex(&f, lines[i]);
            if (f.n == n1 && !f.oom) f.p[f.n = n0] = 0; /* nothing read: no separator */
        }
        if (f.n) {
            ocr_buf_puts(&b, "$$\n");
            ocr_buf_put(&b, f.p, f.n);
            ocr_buf_puts(&b, "\n$$");
        }
        b.oom = b.oom || f.oom;
        free(f.p);
        return sb_take(&b, out, "pipe_assemble_block", e);
    }
    char *joined = NULL;
    static const char *const none[1] = {NULL};
    rc = pipe_assemble_join(lines ? lines : none, lines ? bl->n_lines : 0, &joined, e);
    if (rc != OCR_OK) return rc;
    if (*joined) {
        switch (type) {
        case LAY_HEADING:
            ocr_buf_puts(&b, pipe_assemble_heading_level(lp, bl) == 1 ? "# " : "## ");
            ocr_buf_puts(&b, joined);
            break;
        case LAY_LIST_ITEM: put_list_item(&b, joined); break;
        case LAY_PARAGRAPH:
        case LAY_TABLE: /* no cell grid: its text as a paragraph */
            put_paragraph(&b, joined);
            break;
        default: ocr_buf_puts(&b, joined); break; /* header, footer, page number */
        }
    }
    free(joined);
    return sb_take(&b, out, "pipe_assemble_block", e);
}

/* b clipped to c (empty at c's corner when they do not meet). */
static pipe_box clip_to(pipe_box b, pipe_box c)
{
    if (b.x1 < c.x1) b.x1 = c.x1;
    if (b.y1 < c.y1) b.y1 = c.y1;
    if (b.x2 > c.x2) b.x2 = c.x2;
    if (b.y2 > c.y2) b.y2 = c.y2;
    if (b.x2 < b.x1) b.x2 = b.x1;
    if (b.y2 < b.y1) b.y2 = b.y1;
    if (b.x1 > c.x2) b.x1 = b.x2 = c.x2;
    if (b.y1 > c.y2) b.y1 = b.y2 = c.y2;
    return b;
}

/* The lines of layout block k that were read, as lines of pb: ink box
 * (mapped like the block's box, and kept inside it), text as read. */
static ocr_status add_lines(const lay_block *bl, const char *const *text, const float *conf,
                            const lay_clean_result *clean, pipe_block *pb, ocr_err *e)
{
    if (bl->type == LAY_FIGURE || !text) return OCR_OK;
    pipe_box bb = clean ? lay_clean_map_box(clean, bl->box) : bl->box;
    for (int l = 0; l < bl->n_lines; l++) {
        if (!text[l]) continue;
        pipe_box x = bl->lines[l].box;
        if (clean) x = lay_clean_map_box(clean, x);
        x = clip_to(x, bb);
        ocr_status rc = pipe_block_add_line(pb, &x, text[l], strlen(text[l]), conf ? conf[l] : -1.0f, e);
        if (rc != OCR_OK) return rc;
    }
    return OCR_OK;
}

ocr_status pipe_assemble_page(const lay_page *lp, pipe_line_texts text, pipe_line_confs conf,
                              const lay_clean_result *clean, pipe_page *pg, ocr_err *e)
{
    pg->width = clean ? clean->in_width : lp->width;
    pg->height = clean ? clean->in_height : lp->height;
    ocr_status rc = OCR_OK;
    for (int i = 0; rc == OCR_OK && i < lp->n_blocks;) {
        const lay_block *bl = &lp->blocks[i];
        /* A run of list items of one column is one list block. */
        int j = i + 1;
        if (bl->type == LAY_LIST_ITEM)
            while (j < lp->n_blocks && lp->blocks[j].type == LAY_LIST_ITEM &&
                   lp->blocks[j].column == bl->column)
                j++;
        lay_type type = written_type(bl, text ? text[i] : NULL);
        int level = type == LAY_HEADING ? pipe_assemble_heading_level(lp, bl) : bl->level;
        const char *lab = lay_type_doc_label(type, level);
        ocr_buf b = {0};
        for (int k = i; rc == OCR_OK && k < j; k++) {
            char *md = NULL;
            rc = pipe_assemble_block(lp, k, text ? text[k] : NULL, &md, e);
            if (rc == OCR_OK && *md) {
                if (b.n) ocr_buf_puts(&b, "\n");
                ocr_buf_puts(&b, md);
            }
            free(md);
        }
        if (b.oom && rc == OCR_OK) rc = ocr_err_set(e, OCR_E_NOMEM, "pipe_assemble_page: out of memory");
        pipe_block *pb = NULL;
        if (rc == OCR_OK)
            rc = pipe_page_add_block(pg, &pb, lab, strlen(lab), b.p ? b.p : "", b.n, e);
        free(b.p);
        for (int k = i; rc == OCR_OK && k < j; k++) {
            pipe_box x = lp->blocks[k].box;
            if (clean) x = lay_clean_map_box(clean, x);
            rc = pipe_block_add_box(pb, x, e);
        }
        for (int k = i; rc == OCR_OK && k < j; k++)
            rc = add_lines(&lp->blocks[k], text ? text[k] : NULL, conf ? conf[k] : NULL, clean, pb, e);
        /* The block's confidence: its lines' (those known), weighted by
         * their length, as a mean over the tokens would be. */
        if (rc == OCR_OK) {
            double sum = 0, wt = 0;
            for (int l = 0; l < pb->n_lines; l++) {
                const pipe_line *ln = &pb->lines[l];
                double w = ln->text ? (double)strlen(ln->text) + 1 : 1;
                if (ln->confidence >= 0.0f) sum += w * ln->confidence, wt += w;
            }
            pb->confidence = wt > 0 ? (float)(sum / wt) : -1.0f;
        }
        i = j;
    }
    return rc;
}

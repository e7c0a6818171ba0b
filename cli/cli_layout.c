/* cli/cli_layout.c — `vlocr layout [options] FILE...`: page cleanup and
 * layout analysis for inspection. Prints every page's blocks in reading
 * order with their lines (text, or JSON with -f json) and optionally
 * writes an overlay PNG per page: blocks coloured by type and numbered in
 * reading order, line crops in orange, table cells in green. Coordinates
 * are pixels of the cleaned page (upright and deskewed), which is what the
 * overlay shows. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipe.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vlocr layout [options] FILE...\n"
            "  Clean up and segment pages (orientation, skew, background; columns, blocks,\n"
            "  lines, tables, figures, reading order) and print the result.\n"
            "\n"
            "  -f, --format F       text (default) or json\n"
            "  --overlay OUT.png    draw the layout over the cleaned page; with several pages\n"
            "                       OUT-<name>-<page>.png\n"
            "  --lines              text format: print every line, not only the blocks\n"
            "  --input-coords       boxes in the input image's pixels (default: the cleaned,\n"
            "                       upright, deskewed and possibly enlarged page the overlay shows)\n"
            "  --no-orient          do not detect or correct 0/90/180/270 orientation\n"
            "  --no-deskew          do not detect or correct skew\n"
            "  --no-tables, --no-figures, --no-formulas, --no-lists\n"
            "                       turn a detector off\n"
            "  --max-pixels N       refuse images over N pixels before decoding (default 200000000)\n"
            "  --dpi D              resolution PDF pages are rendered at (default 200)\n"
            "  -h, --help           this help\n");
}

enum {
    OPT_OVERLAY = 256,
    OPT_LINES,
    OPT_INPUT_COORDS,
    OPT_NO_ORIENT,
    OPT_NO_DESKEW,
    OPT_NO_TABLES,
    OPT_NO_FIGURES,
    OPT_NO_FORMULAS,
    OPT_NO_LISTS,
    OPT_MAX_PIXELS,
    OPT_DPI,
};

typedef struct {
    bool json, lines, input_coords;
    const char *overlay;
    bool many_pages; /* several pages in all: overlay names get a suffix */
    lay_params p;
    img_limits lim;
} lay_opts;

static json_t *jbox(pipe_box b)
{
    return json_pack("[iiii]", b.x1, b.y1, b.x2, b.y2);
}

static json_t *page_json(const char *name, int page, const lay_clean_result *cr, const lay_page *lp)
{
    json_t *blocks = json_array();
    for (int i = 0; i < lp->n_blocks; i++) {
        const lay_block *b = &lp->blocks[i];
        json_t *o = json_pack("{s:s, s:s, s:o, s:i}", "type", lay_type_name(b->type), "label",
                              lay_type_doc_label(b->type, b->level), "box", jbox(b->box), "column", b->column);
        if (b->type == LAY_HEADING) json_object_set_new(o, "level", json_integer(b->level));
        json_t *ls = json_array();
        for (int k = 0; k < b->n_lines; k++) {
            const lay_line *l = &b->lines[k];
            json_t *lo = json_pack("{s:o, s:o, s:i, s:f, s:f, s:f}", "box", jbox(l->box), "crop", jbox(l->crop),
                                   "baseline", l->baseline, "x_height", (double)l->x_height, "size",
                                   (double)l->size, "stroke", (double)l->stroke);
            if (l->cell >= 0) json_object_set_new(lo, "cell", json_integer(l->cell));
            if (l->eqno_x > 0) json_object_set_new(lo, "eqno_x", json_integer(l->eqno_x));
            json_array_append_new(ls, lo);
        }
        json_object_set_new(o, "lines", ls);
        if (b->type == LAY_TABLE) {
            json_t *cells = json_array();
            for (int k = 0; k < b->n_cells; k++) {
                const lay_cell *c = &b->cells[k];
                json_array_append_new(cells, json_pack("{s:o, s:i, s:i, s:i, s:i}", "box", jbox(c->box), "row",
                                                       c->row, "col", c->col, "row_span", c->row_span,
                                                       "col_span", c->col_span));
            }
            json_object_set_new(o, "table", json_pack("{s:i, s:i, s:b, s:o}", "rows", b->n_rows, "cols",
                                                      b->n_cols, "ruled", b->ruled, "cells", cells));
        }
        json_array_append_new(blocks, o);
    }
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:f, s:i, s:f, s:f, s:f, s:o}", "source", name,
                     "page", page, "width", lp->width, "height", lp->height, "rotation", cr->rotation,
                     "orient_conf", (double)cr->orient_conf, "skew_deg", (double)cr->skew_deg, "deskewed",
                     cr->deskewed, "scale", (double)cr->scale,
                     "columns", lp->n_columns, "x_height", (double)lp->x_height, "font_size", (double)lp->size,
                     "line_pitch", (double)lp->line_pitch, "blocks", blocks);
}

static void page_text(const char *name, const lay_clean_result *cr, const lay_page *lp, bool lines)
{
    printf("%s: %dx%d, rotation %d (conf %.1f), skew %+.2f deg%s (conf %.1f), scale %.2f, %d column%s, "
           "%d blocks, %d lines, body x-height %.1f px, size %.1f px, pitch %.1f px\n",
           name, lp->width, lp->height, cr->rotation, (double)cr->orient_conf, (double)cr->skew_deg,
           cr->deskewed ? " corrected" : "", (double)cr->skew_conf, (double)cr->scale, lp->n_columns,
           lp->n_columns == 1 ? "" : "s",
           lp->n_blocks, lay_page_count_lines(lp), (double)lp->x_height, (double)lp->size,
           (double)lp->line_pitch);
    for (int i = 0; i < lp->n_blocks; i++) {
        const lay_block *b = &lp->blocks[i];
        char extra[64] = "";
        if (b->type == LAY_HEADING) snprintf(extra, sizeof extra, " level %d", b->level);
        if (b->type == LAY_TABLE)
            snprintf(extra, sizeof extra, " %s %dx%d, %d cells", b->ruled ? "ruled" : "unruled", b->n_rows,
                     b->n_cols, b->n_cells);
        printf("  %3d %-11s%s col %2d [%d,%d,%d,%d] %d line%s\n", i + 1, lay_type_name(b->type), extra, b->column,
               b->box.x1, b->box.y1, b->box.x2, b->box.y2, b->n_lines, b->n_lines == 1 ? "" : "s");
        if (!lines) continue;
        for (int k = 0; k < b->n_lines; k++) {
            const lay_line *l = &b->lines[k];
            printf("        line [%d,%d,%d,%d] crop [%d,%d,%d,%d] baseline %d x-height %.1f size %.1f", l->box.x1,
                   l->box.y1, l->box.x2, l->box.y2, l->crop.x1, l->crop.y1, l->crop.x2, l->crop.y2, l->baseline,
                   (double)l->x_height, (double)l->size);
            if (l->cell >= 0)
                printf(" cell %d (r%d c%d)", l->cell, b->cells[l->cell].row, b->cells[l->cell].col);
            if (l->eqno_x > 0) printf(" eqno at x %d", l->eqno_x);
            printf("\n");
        }
    }
}

/* OUT.png -> OUT-<stem>-<page>.png when there are several pages. */
static void overlay_path(char *out, size_t cap, const lay_opts *o, const img_source *src, int page)
{
    if (!o->many_pages) {
        snprintf(out, cap, "%s", o->overlay);
        return;
    }
    const char *dot = strrchr(o->overlay, '.'), *slash = strrchr(o->overlay, '/');
    if (dot && slash && dot < slash) dot = NULL;
    int blen = dot ? (int)(dot - o->overlay) : (int)strlen(o->overlay);
    const char *base = strrchr(src->name, '/');
    base = base ? base + 1 : src->name;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    char *sd = strrchr(stem, '.');
    if (sd && sd != stem) *sd = 0;
    if (src->n_pages > 1)
        snprintf(out, cap, "%.*s-%s-%d%s", blen, o->overlay, stem, page + 1, dot ? dot : ".png");
    else
        snprintf(out, cap, "%.*s-%s%s", blen, o->overlay, stem, dot ? dot : ".png");
}

/* Every box of lp in the input's pixels (after the overlay is drawn). */
static void map_to_input(lay_page *lp, const lay_clean_result *cr)
{
    for (int i = 0; i < lp->n_blocks; i++) {
        lay_block *b = &lp->blocks[i];
        b->box = lay_clean_map_box(cr, b->box);
        for (int k = 0; k < b->n_cells; k++) b->cells[k].box = lay_clean_map_box(cr, b->cells[k].box);
        for (int k = 0; k < b->n_lines; k++) {
            lay_line *l = &b->lines[k];
            pipe_box base = lay_clean_map_box(cr, (pipe_box){l->box.x1, l->baseline, l->box.x2, l->baseline});
            float f = cr->scale > 0 ? cr->scale : 1;
            l->box = lay_clean_map_box(cr, l->box);
            l->crop = lay_clean_map_box(cr, l->crop);
            l->baseline = (base.y1 + base.y2) / 2;
            l->x_height /= f;
            l->size /= f;
            l->stroke /= f;
        }
    }
    float f = cr->scale > 0 ? cr->scale : 1;
    lp->width = cr->in_width;
    lp->height = cr->in_height;
    lp->char_h /= f;
    lp->x_height /= f;
    lp->size /= f;
    lp->stroke /= f;
    lp->line_pitch /= f;
}

/* 0 ok, -1 failed (reported). */
static int run_file(const char *path, const lay_opts *o, json_t *jpages)
{
    ocr_err e = {0};
    img_source src;
    if (img_source_open(&src, path, &o->lim, &e) != OCR_OK) {
        cli_report(path, &e);
        return -1;
    }
    int rc = 0;
    for (int p = 0; p < src.n_pages; p++) {
        char name[600];
        if (src.n_pages > 1)
            snprintf(name, sizeof name, "%s page %d", src.name, p + 1);
        else
            snprintf(name, sizeof name, "%s", src.name);
        PIX *pix = NULL;
        lay_clean_result cr;
        lay_page lp;
        memset(&cr, 0, sizeof cr);
        memset(&lp, 0, sizeof lp);
        if (img_source_decode(&pix, &src, p, &o->lim, &e) != OCR_OK ||
            lay_page_run(pix, &o->p, &cr, &lp, &e) != OCR_OK) {
            cli_report(name, &e);
            rc = -1;
        } else {
            if (o->overlay) {
                char op[4200];
                overlay_path(op, sizeof op, o, &src, p);
                if (lay_overlay_write(cr.gray, &lp, op, &e) != OCR_OK) {
                    cli_report(op, &e);
                    rc = -1;
                }
            }
            if (o->input_coords) map_to_input(&lp, &cr);
            if (jpages)
                json_array_append_new(jpages, page_json(src.name, p + 1, &cr, &lp));
            else
                page_text(name, &cr, &lp, o->lines);
        }
        lay_page_free(&lp);
        lay_clean_result_free(&cr);
        pixDestroy(&pix);
    }
    img_source_free(&src);
    return rc;
}

int cli_layout_main(int argc, char **argv)
{
    lay_opts o;
    memset(&o, 0, sizeof o);
    o.p = lay_default_params();
    o.lim = img_default_limits();
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"overlay", required_argument, NULL, OPT_OVERLAY},
        {"lines", no_argument, NULL, OPT_LINES},
        {"input-coords", no_argument, NULL, OPT_INPUT_COORDS},
        {"no-orient", no_argument, NULL, OPT_NO_ORIENT},
        {"no-deskew", no_argument, NULL, OPT_NO_DESKEW},
        {"no-tables", no_argument, NULL, OPT_NO_TABLES},
        {"no-figures", no_argument, NULL, OPT_NO_FIGURES},
        {"no-formulas", no_argument, NULL, OPT_NO_FORMULAS},
        {"no-lists", no_argument, NULL, OPT_NO_LISTS},
        {"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
        {"dpi", required_argument, NULL, OPT_DPI},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!strcmp(optarg, "json"))
                o.json = true;
            else if (!strcmp(optarg, "text") || !strcmp(optarg, "txt"))
                o.json = false;
            else {
                fprintf(stderr, "vlocr layout: -f: unknown format '%s' (text, json)\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_OVERLAY: o.overlay = optarg; break;
        case OPT_LINES: o.lines = true; break;
        case OPT_INPUT_COORDS: o.input_coords = true; break;
        case OPT_NO_ORIENT: o.p.orient = false; break;
        case OPT_NO_DESKEW: o.p.deskew = false; break;
        case OPT_NO_TABLES: o.p.tables = false; break;
        case OPT_NO_FIGURES: o.p.figures = false; break;
        case OPT_NO_FORMULAS: o.p.formulas = false; break;
        case OPT_NO_LISTS: o.p.lists = false; break;
        case OPT_MAX_PIXELS:
            if (!cli_parse_pixels(optarg, &o.lim.max_pixels)) {
                fprintf(stderr, "vlocr layout: --max-pixels: '%s' is not a positive count\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_DPI: {
            char *end;
            errno = 0;
            double v = strtod(optarg, &end);
            if (errno || *end || !(v >= 10 && v <= 2400)) {
                fprintf(stderr, "vlocr layout: --dpi: '%s' is not a resolution in 10..2400\n", optarg);
                return CLI_EXIT_USAGE;
            }
            o.lim.pdf_dpi = v;
            break;
        }
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    int n = argc - optind, bad = 0;
    /* Overlay names need a suffix unless there is exactly one page; a
     * single input with several pages is only known once opened, so
     * count pages of a lone input first. */
    o.many_pages = n > 1;
    if (o.overlay && n == 1 && strcmp(argv[optind], "-") != 0) {
        img_source src;
        ocr_err e = {0};
        if (img_source_open(&src, argv[optind], &o.lim, &e) == OCR_OK) {
            o.many_pages = src.n_pages > 1;
            img_source_free(&src);
        }
    }
    json_t *jpages = o.json ? json_array() : NULL;
    for (int i = optind; i < argc; i++)
        if (run_file(argv[i], &o, jpages) != 0) bad++;
    if (jpages) {
        json_t *doc = json_pack("{s:o}", "pages", jpages);
        char *s = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        if (s) {
            fputs(s, stdout);
            fputc('\n', stdout);
        }
        free(s);
        json_decref(doc);
    }
    if (bad == 0) return CLI_EXIT_OK;
    return bad == n ? CLI_EXIT_FAIL : CLI_EXIT_PARTIAL;
}

/* cli/cli_recognize.c — read region crops with vlocr-nano:
 *   vlocr recognize [--model DIR] [--region line|cell|formula] [-f txt|latex|tsv] IMAGE... | -
 * and, through cli_recognize_files, `vlocr --region K ...` (cli/cli_read.c).
 * One result per image, in order (a line of text, or one LaTeX formula);
 * tsv adds a header and each image's name and confidence (the mean
 * probability of the tokens the model emitted). */
#include <leptonica/allheaders.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "vision/vis.h"


static PIX *to_gray(PIX *pix)
{
    PIX *p1 = pixRemoveColormap(pix, REMOVE_CMAP_BASED_ON_SRC);
    if (!p1) return NULL;
    PIX *p2 = pixGetDepth(p1) == 32 ? pixConvertRGBToLuminance(p1) : pixConvertTo8(p1, 0);
    pixDestroy(&p1);
    return p2;
}

/* One input as an 8-bit plane (0 = ink), or NULL with the reason printed. */
static uint8_t *load_plane(const char *path, int *w, int *h)
{
    ocr_err e = {0};
    PIX *pix = NULL;
    if (strcmp(path, "-") == 0) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (ocr_file_read("-", (size_t)1 << 28, &buf, &len, &e) == OCR_OK) pix = pixReadMem(buf, len);
        free(buf);
    } else {
        pix = pixRead(path);
    }
    PIX *g = pix ? to_gray(pix) : NULL;
    pixDestroy(&pix);
    if (!g) {
        fprintf(stderr, "vlocr: %s: cannot read the image\n", path);
        return NULL;
    }
    *w = (int)pixGetWidth(g);
    *h = (int)pixGetHeight(g);
    int wpl = (int)pixGetWpl(g);
    uint8_t *plane = malloc((size_t)*w * *h);
    l_uint32 *data = pixGetData(g);
    for (int y = 0; plane && y < *h; y++)
        for (int x = 0; x < *w; x++)
            plane[(size_t)y * *w + x] = (uint8_t)GET_DATA_BYTE(data + (size_t)y * wpl, x);
    if (!plane) fprintf(stderr, "vlocr: %s: out of memory\n", path);
    pixDestroy(&g);
    return plane;
}

int cli_recognize_files(const char *model, const char *region, const char *fmt, int beam, int n,
                        char **paths)
{
    bool formula = strcmp(region, "formula") == 0;
    if (!formula && strcmp(region, "line") != 0 && strcmp(region, "cell") != 0) {
        fprintf(stderr, "vlocr: --region is line, cell or formula\n");
        return CLI_EXIT_USAGE;
    }
    /* txt: the text as read; latex: the same string (a formula crop reads as
     * LaTeX source already, a text line is its own LaTeX); tsv: file,
     * confidence, text. */
    if (fmt && strcmp(fmt, "txt") != 0 && strcmp(fmt, "latex") != 0 && strcmp(fmt, "tsv") != 0) {
        fprintf(stderr, "vlocr: -f: with --region the format is txt, latex or tsv\n");
        return CLI_EXIT_USAGE;
    }
    const bool tsv = fmt && strcmp(fmt, "tsv") == 0;
    if (n < 1) {
        fprintf(stderr, "usage: vlocr --region line|cell|formula [-f txt|latex|tsv] IMAGE... | -\n");
        return CLI_EXIT_USAGE;
    }
    ocr_err e = {0};
    vis_nano_recog *r = NULL;
    if (vis_nano_recog_load(&r, model, &e) != OCR_OK) {
        cli_report(model, &e);
        return CLI_EXIT_FAIL;
    }
    vis_nano_recog_set_beam(r, formula ? 0 : beam, formula ? beam : 0);
    uint8_t **planes = calloc((size_t)n, sizeof *planes);
    vis_nano_crop *crops = calloc((size_t)n, sizeof *crops);
    int *slot = calloc((size_t)n, sizeof *slot);
    char **texts = calloc((size_t)n, sizeof *texts);
    float *confs = calloc((size_t)n, sizeof *confs);
    ocr_status *rcs = calloc((size_t)n, sizeof *rcs);
    int failed = 0, m = 0;
    if (!planes || !crops || !slot || !texts || !confs || !rcs) {
        fprintf(stderr, "vlocr: out of memory\n");
        failed = n;
    }
    /* All crops first, then read together (several in flight on the
     * threads); results in input order. */
    for (int i = 0; failed < n && i < n && planes; i++) {
        int w = 0, h = 0;
        planes[i] = load_plane(paths[i], &w, &h);
        if (!planes[i]) {
            failed++;
            continue;
        }
        crops[m] = (vis_nano_crop){planes[i], w, h, w};
        slot[i] = m++;
    }
    if (m > 0 && texts && confs && rcs)
        vis_nano_recognize_many(r, crops, m, formula, 0, texts, confs, rcs, &e);
    if (tsv && planes && texts) printf("file\tconfidence\ttext\n");
    for (int i = 0; planes && texts && i < n; i++) {
        if (!planes[i]) continue;
        int k = slot[i];
        if (!texts[k]) {
            /* e holds the first failure's reason (usually the only one). */
            fprintf(stderr, "vlocr: %s: %s\n", paths[i], e.msg[0] ? e.msg : "recognition failed");
            failed++;
            continue;
        }
        if (!tsv) {
            printf("%s\n", texts[k]);
            continue;
        }
        /* One row per image: tabs and line breaks inside become spaces. */
        for (char *c = texts[k]; *c; c++)
            if (*c == '\t' || *c == '\n' || *c == '\r') *c = ' ';
        if (confs[k] >= 0.0f) printf("%s\t%.4f\t%s\n", paths[i], confs[k], texts[k]);
        else printf("%s\t\t%s\n", paths[i], texts[k]);
    }
    fflush(stdout);
    for (int i = 0; planes && i < n; i++) free(planes[i]);
    for (int k = 0; texts && k < m; k++) free(texts[k]);
    free(planes);
    free(crops);
    free(slot);
    free(texts);
    free(confs);
    free(rcs);
    vis_nano_recog_destroy(&r);
    return failed == 0 ? CLI_EXIT_OK : failed == n ? CLI_EXIT_FAIL : CLI_EXIT_PARTIAL;
}

int cli_recognize_main(int argc, char **argv)
{
    const char *model = "models/vlocr-nano", *region = "line", *fmt = NULL;
    const char *env = getenv("VLOCR_MODEL");
    if (env && *env) model = env;
    int first = argc, beam = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc) region = argv[++i];
        else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) fmt = argv[++i];
        else if (strcmp(argv[i], "--beam") == 0 && i + 1 < argc) {
            if (!cli_parse_int("--beam", argv[++i], 1, 64, &beam)) return CLI_EXIT_USAGE;
        }
        else if (argv[i][0] == '-' && argv[i][1] != 0) {
            fprintf(stderr, "vlocr recognize: unknown option '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc) {
        fprintf(stderr, "usage: vlocr recognize [--model DIR] [--region line|cell|formula] [--beam N] [-f txt|latex|tsv] IMAGE... | -\n");
        return CLI_EXIT_USAGE;
    }
    return cli_recognize_files(model, region, fmt, beam, argc - first, argv + first);
}

/* cli/cli_recognize.c — read region crops with vlocr-nano:
 *   vlocr recognize [--model DIR] [--region line|formula] [-f txt|latex] IMAGE... | -
 * One result per image, in order (a line of text, or one LaTeX formula). */
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

int cli_recognize_main(int argc, char **argv)
{
    const char *model = "models/vlocr-nano", *region = "line", *fmt = NULL;
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model = argv[++i];
        else if (strcmp(argv[i], "--region") == 0 && i + 1 < argc) region = argv[++i];
        else if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) fmt = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != 0) {
            fprintf(stderr, "vlocr recognize: unknown option '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        } else {
            first = i;
            break;
        }
    }
    bool formula = strcmp(region, "formula") == 0;
    if (!formula && strcmp(region, "line") != 0 && strcmp(region, "cell") != 0) {
        fprintf(stderr, "vlocr recognize: --region is line, cell or formula\n");
        return CLI_EXIT_USAGE;
    }
    (void)fmt;
    if (first >= argc) {
        fprintf(stderr, "usage: vlocr recognize [--model DIR] [--region line|formula] [-f txt|latex] IMAGE... | -\n");
        return CLI_EXIT_USAGE;
    }
    ocr_err e = {0};
    vis_nano_recog *r = NULL;
    if (vis_nano_recog_load(&r, model, &e) != OCR_OK) {
        cli_report(model, &e);
        return CLI_EXIT_FAIL;
    }
    int failed = 0, n = 0;
    for (int i = first; i < argc; i++, n++) {
        const char *path = argv[i];
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
            failed++;
            continue;
        }
        char *text = NULL;
        int w = (int)pixGetWidth(g), h = (int)pixGetHeight(g), wpl = (int)pixGetWpl(g);
        uint8_t *plane = malloc((size_t)w * h);
        l_uint32 *data = pixGetData(g);
        for (int y = 0; plane && y < h; y++)
            for (int x = 0; x < w; x++) plane[(size_t)y * w + x] = (uint8_t)GET_DATA_BYTE(data + (size_t)y * wpl, x);
        ocr_status rc = plane ? vis_nano_recognize(r, plane, w, h, w, formula, &text, &e)
                              : ocr_err_set(&e, OCR_E_NOMEM, "out of memory");
        free(plane);
        pixDestroy(&g);
        if (rc != OCR_OK) {
            cli_report(path, &e);
            failed++;
            continue;
        }
        printf("%s\n", text);
        fflush(stdout);
        free(text);
    }
    vis_nano_recog_destroy(&r);
    return failed == 0 ? CLI_EXIT_OK : failed == n ? CLI_EXIT_FAIL : CLI_EXIT_PARTIAL;
}

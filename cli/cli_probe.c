/* cli/cli_probe.c — `vlocr probe FILE...`: decode every page of every input
 * and describe it, the way `identify` does; also the input check the main
 * command runs before it needs a model. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipe.h"

int cli_check_input(const char *path, const img_limits *lim, bool describe)
{
    ocr_err e = {0};
    img_source src;
    ocr_status rc = img_source_open(&src, path, lim, &e);
    if (rc != OCR_OK) {
        cli_report(path, &e);
        return -1;
    }
    int ok = 0;
    for (int p = 0; p < src.n_pages; p++) {
        PIX *pix = NULL;
        rc = img_source_decode(&pix, &src, p, lim, &e);
        if (rc != OCR_OK) {
            cli_report(src.name, &e);
            ok = -1;
            break;
        }
        if (describe) {
            if (src.n_pages > 1)
                printf("%s[%d]: %s %dx%d %d bpp%s\n", src.name, p, img_format_name(src.format),
                       pixGetWidth(pix), pixGetHeight(pix), pixGetDepth(pix),
                       pixGetColormap(pix) ? " colormapped" : "");
            else
                printf("%s: %s %dx%d %d bpp%s\n", src.name, img_format_name(src.format),
                       pixGetWidth(pix), pixGetHeight(pix), pixGetDepth(pix),
                       pixGetColormap(pix) ? " colormapped" : "");
        }
        pixDestroy(&pix);
    }
    img_source_free(&src);
    return ok;
}

/* Parse a pixel limit such as 200000000, 200M or 1.5G. */
bool cli_parse_pixels(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0) return false;
    if (*end == 'k' || *end == 'K') v *= 1e3, end++;
    else if (*end == 'M' || *end == 'm') v *= 1e6, end++;
    else if (*end == 'G' || *end == 'g') v *= 1e9, end++;
    if (*end || v > 1e15) return false;
    *out = (uint64_t)v;
    return true;
}

int cli_probe_main(int argc, char **argv)
{
    img_limits lim = img_default_limits();
    static const struct option opts[] = {
        {"max-pixels", required_argument, NULL, 'p'},
        {"dpi", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v >= 10 && v <= 2400)) {
                fprintf(stderr, "%s: --dpi: '%s' is not a resolution in 10..2400\n", "vlocr probe", optarg);
                return CLI_EXIT_USAGE;
            }
            lim.pdf_dpi = v;
            break;
        }
        case 'p':
            if (!cli_parse_pixels(optarg, &lim.max_pixels)) {
                fprintf(stderr, "vlocr probe: --max-pixels: '%s' is not a positive count\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h':
            printf("usage: vlocr probe [--max-pixels N] [--dpi D] FILE...\n");
            return CLI_EXIT_OK;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: vlocr probe [--max-pixels N] [--dpi D] FILE...\n");
        return CLI_EXIT_USAGE;
    }
    int n = argc - optind, bad = 0;
    for (int i = optind; i < argc; i++)
        if (cli_check_input(argv[i], &lim, true) != 0) bad++;
    if (bad == 0) return CLI_EXIT_OK;
    return bad == n ? CLI_EXIT_FAIL : CLI_EXIT_PARTIAL;
}

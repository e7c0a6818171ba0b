/* cli/cli_read.c — `vlocr [options] FILE...`, the main job.
 *
 * Inputs are decoded and checked first, so a file that cannot be read is
 * reported (named, with the reason) before any model is needed. Recognition
 * needs a model directory; until vlocr-nano ships, a missing model is
 * reported plainly instead of producing output. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

int cli_read_main(int argc, char **argv)
{
    img_limits lim = img_default_limits();
    const char *model = getenv("VLOCR_MODEL");
    if (!model || !*model) model = "models/vlocr-nano";
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"max-pixels", required_argument, NULL, 'p'},
        {"dpi", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v >= 10 && v <= 2400)) {
                fprintf(stderr, "%s: --dpi: '%s' is not a resolution in 10..2400\n", "vlocr", optarg);
                return CLI_EXIT_USAGE;
            }
            lim.pdf_dpi = v;
            break;
        }
        case 'p':
            if (!cli_parse_pixels(optarg, &lim.max_pixels)) {
                fprintf(stderr, "vlocr: --max-pixels: '%s' is not a positive count\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case 't': {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*end || t < 1 || t > 256) {
                fprintf(stderr, "vlocr: --threads: '%s' is not a count in 1..256\n", optarg);
                return CLI_EXIT_USAGE;
            }
            ocr_blas_set_threads((int)t);
            break;
        }
        case 'h':
            printf("usage: vlocr [--model DIR] [--max-pixels N] [--dpi D] [-t N] FILE...   (vlocr --help for all)\n");
            return CLI_EXIT_OK;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "vlocr: no input files (vlocr --help)\n");
        return CLI_EXIT_USAGE;
    }
    int n = argc - optind, bad = 0;
    for (int i = optind; i < argc; i++)
        if (cli_check_input(argv[i], &lim, false) != 0) bad++;

    char cfg[4200];
    struct stat sb;
    snprintf(cfg, sizeof cfg, "%s/config.json", model);
    if (stat(cfg, &sb) != 0) {
        fprintf(stderr,
                "vlocr: no recognition model: %s not found (vlocr-nano is not shipped yet; "
                "--model DIR selects a checkpoint). %d of %d input(s) decoded fine.\n",
                cfg, n - bad, n);
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "vlocr: %s: recognition is not implemented yet in this build. %d of %d input(s) decoded fine.\n",
            model, n - bad, n);
    return CLI_EXIT_FAIL;
}

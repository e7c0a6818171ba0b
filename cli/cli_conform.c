/* cli/cli_conform.c — `vlocr conform FIXTURE_DIR [--common DIR]`: run the
 * engine on a conformance fixture (tiny random weights + goldens dumped from
 * the official PyTorch code, ../shared/conformance/README.md) and print one
 * line per stage: name, max |engine - golden|, tolerance, PASS/FAIL/SKIP.
 * Exit status 0 when no stage fails, 1 otherwise (or when the fixture cannot
 * be run), 2 on a bad command line.
 *
 * The decoder stages live in language/lm_conform.c (so that tests run them
 * in-process); this file adds the vision stages and prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "language/lm.h"
#include "vision/vis.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: vlocr conform FIXTURE_DIR [--common DIR]\n"
               "  Compare the engine with the goldens of a conformance fixture, stage by stage.\n"
               "  --common DIR   shared inputs (input_ids.npy, images_seq_mask.npy, pixels);\n"
               "                 default FIXTURE_DIR/../common\n");
}



static void print_stage(const lm_stage *s)
{
    static const char *res[] = {"PASS", "FAIL", "SKIP"};
    if (s->status == LM_STAGE_SKIP) {
        printf("%-56s %10s  %8s  SKIP (%s)\n", s->name, "-", "-", s->note);
        return;
    }
    printf("%-56s %10.3e  %8.1e  %s", s->name, s->max_abs, s->tol, res[s->status]);
    if (s->status == LM_STAGE_FAIL && s->note[0]) printf("  (%s)", s->note);
    printf("\n");
}

static void vis_line(void *ud, const vis_conform_line *l)
{
    lm_conform_add(ud, l->pass ? LM_STAGE_PASS : LM_STAGE_FAIL, l->name, l->max_abs, l->tol, 0,
                   "%s", l->note);
}

int cli_conform_main(int argc, char **argv)
{
    const char *fixture = NULL, *common = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--common")) {
            if (++i >= argc) {
                usage(stderr);
                return CLI_EXIT_USAGE;
            }
            common = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vlocr conform: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return CLI_EXIT_USAGE;
        } else if (!fixture) {
            fixture = argv[i];
        } else {
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (!fixture) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }

    ocr_err e = {0};
    lm_conform_report vis = {0}, dec = {0};

    /* Vision first: preprocessing from COMMON/test_image.png, every
     * vision/{local,global} golden, then the image rows it produced feed the
     * decoder stages, so the decoder is checked on our own embeddings. */
    float *img_rows = NULL;
    int n_img_rows = 0;
    ocr_status vrc = vis_conform(fixture, common, vis_line, &vis, NULL, &img_rows, &n_img_rows, &e);
    if (vrc != OCR_OK) {
        cli_report(fixture, &e);
        ocr_err_clear(&e);
    }

    ocr_status rc = lm_conform_run(&dec, fixture, common, img_rows, n_img_rows, &e);
    free(img_rows);

    printf("vlocr conform %s\n", fixture);
    printf("%-56s %10s  %8s  %s\n", "stage", "max|d|", "tol", "result");
    for (int i = 0; i < vis.n; i++) print_stage(&vis.v[i]);
    for (int i = 0; i < dec.n; i++) print_stage(&dec.v[i]);
    int n_pass = vis.n_pass + dec.n_pass, n_fail = vis.n_fail + dec.n_fail;
    int n_skip = vis.n_skip + dec.n_skip;
    int status = CLI_EXIT_OK;
    if (rc != OCR_OK) {
        cli_report(fixture, &e);
        status = CLI_EXIT_FAIL;
    }
    if (n_fail || vrc != OCR_OK) status = CLI_EXIT_FAIL;
    if (n_pass == 0 && rc == OCR_OK) {
        fprintf(stderr, "vlocr conform: %s: no golden file was checked\n", fixture);
        status = CLI_EXIT_FAIL;
    }
    printf("conform: %d passed, %d failed, %d skipped%s\n", n_pass, n_fail, n_skip,
           rc != OCR_OK ? " (run aborted)" : "");
    lm_conform_report_free(&vis);
    lm_conform_report_free(&dec);
    return status;
}

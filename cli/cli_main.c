/* cli/cli_main.c — `vlocr` entry point: global flags and subcommand dispatch.
 * Every other cli_*.c file holds one subcommand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "vlocr %s — documents to Markdown/LaTeX with DeepSeek-OCR-style models\n"
            "\n"
            "usage:\n"
            "  vlocr [options] FILE...       recognise images and PDF pages (PNG, JPEG, TIFF, BMP, WebP, PNM,\n"
            "                                GIF, JPEG 2000, PDF; '-' = stdin; a directory; @LIST)\n"
            "  vlocr probe FILE...           decode images and describe them (format, size, pages)\n"
            "  vlocr info MODEL_DIR          architecture, parameters and a tensor check of a checkpoint\n"
            "  vlocr conform FIXTURE_DIR [--common DIR]\n"
            "                                compare the engine with official-code fixtures, stage by stage\n"
            "  vlocr synth --kind K ...      write synthetic training samples for inspection\n"
            "  vlocr layout [--overlay OUT.png] [-f json] FILE...\n"
            "                                page cleanup and layout: blocks, lines, tables, reading order\n"
            "  vlocr recognize [--region line|cell|formula] IMAGE...\n"
            "                                read region crops (a text line, a cell, a formula) with vlocr-nano\n"
            "  vlocr train --recipe R --run DIR [--resume]\n"
            "                                train vlocr-nano (see models/vlocr-nano/README.md)\n"
            "\n"
            "options:\n"
            "  --model DIR          model directory (default: models/vlocr-nano); a DeepSeek-OCR\n"
            "                       checkpoint runs whole pages (see --mode, --prompt)\n"
            "  --mode M             tiny|small|base|large|gundam (DeepSeek-OCR preprocessing; gundam)\n"
            "  --prompt P           markdown|ocr|free|figure|describe|locate:TEXT|\"any text\"\n"
            "  -f FMT               md, txt, json or hocr; several as md,json\n"
            "  -o OUT               output file, or a directory mirroring the inputs (atomic writes;\n"
            "                       complete outputs are kept on a rerun, --force redoes them)\n"
            "  -j N                 pages recognised at once (one model state each)\n"
            "  --include/--exclude GLOB, --pages 1-5,9\n"
            "                       which files of a directory, which pages of a PDF/TIFF\n"
            "  --overlay            draw each page's blocks, reading order and recognised text as a PNG\n"
            "  --region K           read each input as one crop: line, cell or formula (vlocr-nano)\n"
            "  --inverted-text      also read light text on dark grounds (vlocr-nano pages; off)\n"
            "  --max-new-tokens N   generation limit per page (8192)\n"
            "  -v, -vv              per-page timings and token counts on stderr\n"
            "  --max-pixels N       refuse images over N pixels before decoding (default 200000000)\n"
            "  --dpi D              resolution PDF pages are rendered at (default 200)\n"
            "  -t, --threads N      compute threads (default: VLOCR_THREADS or all cores)\n"
            "  -h, --help           this help\n"
            "  -V, --version        print the version\n"
            "\n"
            "Exit status: 0 success, 1 failure, 2 usage error, 3 some inputs of a batch failed,\n"
            "130 interrupted (rerun to finish).\n",
            vlocr_version());
}

void cli_report(const char *what, const ocr_err *e)
{
    if (what && *what && !strstr(e->msg, what))
        fprintf(stderr, "vlocr: %s: %s\n", what, e->msg);
    else
        fprintf(stderr, "vlocr: %s\n", e->msg);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("vlocr %s (OpenBLAS %s kernels)\n", vlocr_version(), ocr_blas_core());
        return CLI_EXIT_OK;
    }
    /* The trainer's ops run on OpenMP threads (train/trn_ops.c). OpenMP
     * reads its wait policy from the environment when the program loads,
     * and its default, spinning, makes every parallel region wait for a
     * descheduled thread as soon as anything else runs on the machine
     * (steps ran 15x slower beside one TeX job); waiting passively costs
     * ~5 % on an idle machine (bench/RESULTS.md). So a `vlocr train` with
     * no policy chosen runs again with OMP_WAIT_POLICY=PASSIVE (once: it is
     * set then; if exec fails, the run goes on as it is). */
    if (!strcmp(cmd, "train") && !getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0)
        execv("/proc/self/exe", argv);
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"info", cli_info_main},       {"conform", cli_conform_main},
        {"synth", cli_synth_main},     {"probe", cli_probe_main},
        {"train", cli_train_main},     {"recognize", cli_recognize_main},
        {"layout", cli_layout_main},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    return cli_read_main(argc, argv);
}

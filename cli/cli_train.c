/* cli/cli_train.c — `vlocr train`: run or resume a training run of
 * vlocr-nano (train/trn_run.c) and export it. SIGINT/SIGTERM stop the run
 * cleanly: the current step finishes and a checkpoint is written. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "train/trn.h"


static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void print_line(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
    fflush(stdout);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vlocr train --recipe FILE --run DIR [--resume] [--steps N] [--hours H]\n"
            "                   [--until-step N] [--export DIR]\n"
            "       vlocr train --export DIR --run DIR     (export the run's checkpoint)\n"
            "  --recipe FILE   training recipe (train/recipe/nano.json); a resumed run\n"
            "                  uses RUN/recipe.json unless this is given\n"
            "  --run DIR       run directory: recipe.json, ckpt.safetensors, train.log\n"
            "  --resume        continue from RUN/ckpt.safetensors (same batches, schedule, biases)\n"
            "  --steps N       stop after N steps of this invocation\n"
            "  --hours H       stop after H hours of wall time\n"
            "  --until-step N  stop when the run reaches global step N\n"
            "  --export DIR    write config.json + model.safetensors (BF16) at the end\n"
            "  --plot PNG      draw the run's learning curve (RUN/train.log) and exit\n");
}

int cli_train_main(int argc, char **argv)
{
    trn_run_params p;
    memset(&p, 0, sizeof p);
    const char *plot = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--recipe") == 0 && more) p.recipe_path = argv[++i];
        else if (strcmp(a, "--run") == 0 && more) p.run_dir = argv[++i];
        else if (strcmp(a, "--resume") == 0) p.resume = true;
        else if (strcmp(a, "--steps") == 0 && more) p.max_steps = atoll(argv[++i]);
        else if (strcmp(a, "--hours") == 0 && more) p.max_hours = atof(argv[++i]);
        else if (strcmp(a, "--until-step") == 0 && more) p.until_step = atoll(argv[++i]);
        else if (strcmp(a, "--export") == 0 && more) p.export_dir = argv[++i];
        else if (strcmp(a, "--plot") == 0 && more) plot = argv[++i];
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else {
            fprintf(stderr, "vlocr train: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (plot && p.run_dir) {
        char log[4096];
        ocr_err pe = {0};
        snprintf(log, sizeof log, "%s/train.log", p.run_dir);
        if (trn_plot_log(log, plot, "vlocr-nano", &pe) != OCR_OK) {
            cli_report("train --plot", &pe);
            return CLI_EXIT_FAIL;
        }
        return CLI_EXIT_OK;
    }
    if (!p.run_dir || (!p.recipe_path && !p.resume && !p.export_dir)) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!p.recipe_path && !p.resume && p.export_dir) {
        /* export only: resume for zero steps */
        p.resume = true;
        p.until_step = 1;
        p.max_steps = -1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    p.stop = &g_stop;
    p.log = print_line;
    ocr_err e = {0};
    ocr_status rc = trn_run(&p, &e);
    if (rc != OCR_OK) {
        cli_report("train", &e);
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

/* cli/cli.h — the vlocr command-line tool. Only cli/ prints or exits.
 *
 * Each subcommand lives in its own file and exposes one entry point that
 * takes the arguments after the subcommand name (argv[0] is the subcommand)
 * and returns the process exit status.
 */
#ifndef VLOCR_CLI_CLI_H
#define VLOCR_CLI_CLI_H

#include "core/ocr.h"
#include "pipeline/pipe.h"

/* Exit codes shared by every subcommand. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,    /* every input failed, or a fatal error */
    CLI_EXIT_USAGE = 2,   /* bad command line */
    CLI_EXIT_PARTIAL = 3  /* a batch where some inputs failed */
};

int cli_info_main(int argc, char **argv);    /* vlocr info MODEL_DIR */
int cli_conform_main(int argc, char **argv); /* vlocr conform FIXTURE_DIR */
int cli_synth_main(int argc, char **argv);   /* vlocr synth --kind ... */
int cli_read_main(int argc, char **argv);    /* vlocr [opts] FILE... */
int cli_probe_main(int argc, char **argv);   /* vlocr probe FILE... */
int cli_train_main(int argc, char **argv);   /* vlocr train --recipe R --run DIR */
int cli_layout_main(int argc, char **argv);  /* vlocr layout [--overlay PNG] FILE... */
int cli_recognize_main(int argc, char **argv); /* vlocr recognize [--region K] IMAGE... */
/* Read each of n inputs (paths, "-" = stdin) as one region crop (region
 * line|cell|formula) with the vlocr-nano model in `model`; print one result
 * per input in order; fmt NULL, "txt" or "latex"; beam: the beam width
 * (0: the recogniser's default for the region). Returns a CLI_EXIT_ code.
 * Shared by `vlocr recognize` and `vlocr --region`. */
int cli_recognize_files(const char *model, const char *region, const char *fmt, int beam, int n,
                        char **paths);

/* Decode every page of `path`; on failure print the reason naming the file
 * and return -1. With `describe`, print one line per page. */
int cli_check_input(const char *path, const img_limits *lim, bool describe);
/* "200000000", "200M", "1.5G" -> pixel count. */
bool cli_parse_pixels(const char *s, uint64_t *out);
/* An integer option value in lo..hi; otherwise says so naming `opt` and
 * returns false (cli/cli_read.c). */
bool cli_parse_int(const char *opt, const char *s, int lo, int hi, int *out);

/* "vlocr: <file>: <message>" on stderr. */
void cli_report(const char *what, const ocr_err *e);

#endif

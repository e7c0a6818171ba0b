/* tests/tst.h — the small harness every test binary uses.
 *
 * A test file defines static functions and calls them through TST_RUN from
 * main(); checks count passes and failures; tst_finish() prints the closing
 * line "N passed, N failed" and returns the exit status. A test that needs an
 * optional asset calls tst_skip() with the reason, which prints SKIP.
 */
#ifndef VLOCR_TESTS_TST_H
#define VLOCR_TESTS_TST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define TST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TST_PRINTF(a, b)
#endif

/* Record one check; prints the failure with file:line. Returns cond. */
bool tst_check(bool cond, const char *file, int line, const char *fmt, ...)
    TST_PRINTF(4, 5);
void tst_skip(const char *what, const char *why);
int tst_finish(void); /* prints "N passed, N failed"; 0 if none failed */
int tst_failed(void);

/* Worst-element comparison |a-b| <= atol + rtol*|ref|; prints the worst
 * element either way when verbose or on failure. */
bool tst_close_f32(const char *what, const float *got, const float *ref,
                   size_t n, float atol, float rtol, const char *file,
                   int line);

/* Path to a scratch directory created once per process (removed by the OS's
 * tmp cleaning; tests put their hostile files there). */
const char *tst_tmpdir(void);
/* Write bytes to tst_tmpdir()/name; returns the full path (static buffer
 * rotated among 8 slots). */
const char *tst_write_file(const char *name, const void *data, size_t n);
/* malloc'd float buffers for tests; exit(2) on allocation failure. */
float *tst_falloc(size_t n);
/* tst_falloc + tst_fill_uniform. */
float *tst_frand(size_t n, float lo, float hi, uint64_t *state);
/* Deterministic uniform floats in [lo, hi) (xorshift64*). */
void tst_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t *state);

#define TST_CHECK(cond, ...) tst_check((cond), __FILE__, __LINE__, __VA_ARGS__)
#define TST_CLOSE(what, got, ref, n, atol, rtol) \
    tst_close_f32((what), (got), (ref), (n), (atol), (rtol), __FILE__, __LINE__)
#define TST_RUN(fn)                                    \
    do {                                               \
        printf("-- %s\n", #fn);                        \
        fflush(stdout);                                \
        fn();                                          \
    } while (0)

#endif

/* tests/support/tst.c — see tests/tst.h. */
#include "tests/tst.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int n_pass, n_fail;

bool tst_check(bool cond, const char *file, int line, const char *fmt, ...)
{
    if (cond) {
        n_pass++;
        return true;
    }
    n_fail++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "FAIL %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    return false;
}

void tst_skip(const char *what, const char *why)
{
    printf("SKIP %s: %s\n", what, why);
}

int tst_failed(void) { return n_fail; }

int tst_finish(void)
{
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}

bool tst_close_f32(const char *what, const float *got, const float *ref,
                   size_t n, float atol, float rtol, const char *file,
                   int line)
{
    size_t worst = 0, nbad = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        double lim = atol + rtol * fabs((double)ref[i]);
        double excess = isnan(d) ? INFINITY : d - lim;
        if (excess > 0) nbad++;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    bool ok = nbad == 0;
    if (!ok || getenv("TST_VERBOSE")) {
        printf("%s %s: %zu/%zu outside atol=%g rtol=%g; worst [%zu] got %.9g "
               "ref %.9g\n",
               ok ? "ok  " : "FAIL", what, nbad, n, atol, rtol, worst,
               n ? got[worst] : 0.0, n ? ref[worst] : 0.0);
    }
    return tst_check(ok, file, line, "%s within tolerance", what);
}

const char *tst_tmpdir(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/vlocr-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

const char *tst_write_file(const char *name, const void *data, size_t n)
{
    static char paths[8][512];
    static int slot;
    char *p = paths[slot++ & 7];
    snprintf(p, 512, "%s/%s", tst_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n)) {
        perror(p);
        exit(2);
    }
    fclose(f);
    return p;
}

void tst_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t s = *state;
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        *state = s;
        uint64_t r = s * 0x2545F4914F6CDD1DULL;
        float u = (float)((r >> 40) * (1.0 / 16777216.0));
        x[i] = lo + (hi - lo) * u;
    }
}

float *tst_falloc(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (!p) {
        fprintf(stderr, "test: out of memory allocating %zu floats\n", n);
        exit(2);
    }
    return p;
}

float *tst_frand(size_t n, float lo, float hi, uint64_t *state)
{
    float *p = tst_falloc(n);
    tst_fill_uniform(p, n, lo, hi, state);
    return p;
}

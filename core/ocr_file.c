/* core/ocr_file.c — whole-file reads (file or stdin) and atomic writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ocr.h"

ocr_status ocr_file_read(const char *path, size_t max_bytes, uint8_t **buf,
                         size_t *len, ocr_err *e)
{
    *buf = NULL;
    *len = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) return ocr_err_set(e, OCR_E_IO, "%s: cannot open: %s", name, strerror(errno));
    if (!is_stdin) {
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
            fclose(f);
            return ocr_err_set(e, OCR_E_IO, "%s: is a directory", name);
        }
        if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size > max_bytes) {
            fclose(f);
            return ocr_err_set(e, OCR_E_LIMIT, "%s: %lld bytes exceeds the limit of %zu bytes",
                               name, (long long)st.st_size, max_bytes);
        }
    }
    /* Grow geometrically: stdin and pipes have no size up front. */
    size_t cap = 1 << 16, n = 0;
    uint8_t *p = malloc(cap);
    ocr_status rc = OCR_OK;
    while (p) {
        if (n == cap) {
            size_t ncap = cap * 2;
            uint8_t *q = ncap > cap ? realloc(p, ncap) : NULL;
            if (!q) { free(p); p = NULL; break; }
            p = q;
            cap = ncap;
        }
        size_t got = fread(p + n, 1, cap - n, f);
        n += got;
        if (n > max_bytes) {
            rc = ocr_err_set(e, OCR_E_LIMIT, "%s: input exceeds the limit of %zu bytes", name, max_bytes);
            break;
        }
        if (got == 0) {
            if (ferror(f)) rc = ocr_err_set(e, OCR_E_IO, "%s: read error: %s", name, strerror(errno));
            break;
        }
    }
    if (!is_stdin) fclose(f);
    if (!p) return ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory reading input", name);
    if (rc != OCR_OK) { free(p); return rc; }
    *buf = p;
    *len = n;
    return OCR_OK;
}

ocr_status ocr_file_write_atomic(const char *path, const void *data, size_t len,
                                 ocr_err *e)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return ocr_err_set(e, OCR_E_ARG, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return ocr_err_set(e, OCR_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    bool ok = (len == 0 || fwrite(data, 1, len, f) == len);
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        int err = errno;
        unlink(tmp);
        return ocr_err_set(e, OCR_E_IO, "%s: write failed: %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return ocr_err_set(e, OCR_E_IO, "%s: rename failed: %s", path, strerror(err));
    }
    return OCR_OK;
}

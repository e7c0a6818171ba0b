/* vlocr.h — the public API of libvlocr.
 *
 * Everything a program needs to use the library is declared here; the headers
 * inside core/, vision/, language/, pipeline/ and train/ are internal.
 *
 * Errors: every fallible function returns an ocr_status and, when given a
 * non-NULL ocr_err, fills it with a message naming the function, the file or
 * tensor, and what was expected. The library never prints, exits or aborts on
 * bad input; only the command-line tool turns statuses into exit codes.
 */
#ifndef VLOCR_H
#define VLOCR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VLOCR_VERSION "0.1.0"

typedef enum {
    OCR_OK = 0,
    OCR_E_ARG,         /* caller passed something invalid */
    OCR_E_IO,          /* open/read/write/mmap failed */
    OCR_E_FORMAT,      /* file is not what it claims to be, or is corrupt */
    OCR_E_LIMIT,       /* input exceeds a configured limit (pixels, bytes, dims) */
    OCR_E_NOMEM,       /* allocation failed or arena exhausted */
    OCR_E_DTYPE,       /* unknown or unexpected tensor dtype */
    OCR_E_SHAPE,       /* tensor shape disagrees with what is expected */
    OCR_E_NOTFOUND,    /* named tensor / key / file does not exist */
    OCR_E_CONFIG,      /* config.json is missing keys or holds bad values */
    OCR_E_UNSUPPORTED, /* valid input that this build cannot handle */
    OCR_E_NUMERIC,     /* NaN/Inf or tolerance failure */
    OCR_E_COUNT
} ocr_status;

/* Error details. `msg` is always NUL-terminated. */
typedef struct {
    ocr_status code;
    char msg[1024];
} ocr_err;

/* Short fixed name of a status ("format error", ...). Never NULL. */
const char *ocr_status_str(ocr_status s);

/* Library version string, e.g. "0.1.0". */
const char *vlocr_version(void);

#ifdef __cplusplus
}
#endif
#endif /* VLOCR_H */

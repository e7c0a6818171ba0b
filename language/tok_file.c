/* language/tok_file.c — finding and reading the tokenizer files: a
 * tokenizer.json, a gzip-compressed one (told by its magic bytes, not its
 * name), or a model directory; tokenizer_config.json beside it when there
 * is one. Parsing is tok_load.c's. */
#define TOK_INTERNAL
#include "language/tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Inflate a gzip image (several members allowed, as gzip -d does). */
static ocr_status gunzip(const uint8_t *in, size_t n, uint8_t **out,
                         size_t *out_len, const char *file, ocr_err *e)
{
    *out = NULL;
    *out_len = 0;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return ocr_err_set(e, OCR_E_NOMEM, "%s: cannot start zlib", file);
    /* Tokenizer JSON compresses about 4:1; start there, grow by doubling. */
    size_t cap = n < (TOK_MAX_FILE - 1024) / 4 ? n * 4 + 1024 : TOK_MAX_FILE, len = 0;
    uint8_t *buf = malloc(cap);
    ocr_status rc = buf ? OCR_OK : ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", file);
    size_t pos = 0;
    while (rc == OCR_OK) {
        if (len == cap) {
            if (cap >= TOK_MAX_FILE) {
                rc = ocr_err_set(e, OCR_E_LIMIT, "%s: decompresses to more than %zu bytes",
                                 file, TOK_MAX_FILE);
                break;
            }
            size_t ncap = cap * 2 > TOK_MAX_FILE ? TOK_MAX_FILE : cap * 2;
            uint8_t *p = realloc(buf, ncap);
            if (!p) {
                rc = ocr_err_set(e, OCR_E_NOMEM, "%s: out of memory", file);
                break;
            }
            buf = p;
            cap = ncap;
        }
        /* zlib counts in uInt; feed at most 1 GiB at a time. */
        size_t in_chunk = n - pos > (1u << 30) ? (1u << 30) : n - pos;
        size_t out_chunk = cap - len > (1u << 30) ? (1u << 30) : cap - len;
        z.next_in = (Bytef *)(uintptr_t)(in + pos);
        z.avail_in = (uInt)in_chunk;
        z.next_out = buf + len;
        z.avail_out = (uInt)out_chunk;
        int zr = inflate(&z, Z_NO_FLUSH);
        pos += in_chunk - z.avail_in;
        len += out_chunk - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (pos == n) break;
            if (inflateReset(&z) != Z_OK) zr = Z_DATA_ERROR;
            else continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_out != 0 && pos == n) {
            rc = ocr_err_set(e, OCR_E_FORMAT, "%s: gzip data is truncated", file);
        } else if (zr != Z_OK && zr != Z_BUF_ERROR && zr != Z_STREAM_END) {
            rc = ocr_err_set(e, zr == Z_MEM_ERROR ? OCR_E_NOMEM : OCR_E_FORMAT,
                             "%s: corrupt gzip data (%s)", file, z.msg ? z.msg : "zlib error");
        }
    }
    inflateEnd(&z);
    if (rc != OCR_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = len;
    return OCR_OK;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

ocr_status tok_load(tok_tokenizer **out, const char *path, ocr_err *e)
{
    if (!out || !path) return ocr_err_set(e, OCR_E_ARG, "tok_load: NULL argument");
    *out = NULL;
    char file[4096], cfg_path[4096];
    if (is_dir(path)) {
        const char *sep = path[0] && path[strlen(path) - 1] == '/' ? "" : "/";
        if ((size_t)snprintf(file, sizeof file, "%s%stokenizer.json", path, sep) >= sizeof file)
            return ocr_err_set(e, OCR_E_ARG, "%s: path too long", path);
        if (!exists(file)) {
            snprintf(file, sizeof file, "%s%stokenizer.json.gz", path, sep);
            if (!exists(file))
                return ocr_err_set(e, OCR_E_NOTFOUND,
                                   "%s: no tokenizer.json (or tokenizer.json.gz) in this "
                                   "directory",
                                   path);
        }
    } else if ((size_t)snprintf(file, sizeof file, "%s", path) >= sizeof file) {
        return ocr_err_set(e, OCR_E_ARG, "%s: path too long", path);
    }
    const char *slash = strrchr(file, '/');
    if (slash)
        snprintf(cfg_path, sizeof cfg_path, "%.*s/tokenizer_config.json",
                 (int)(slash - file), file);
    else
        snprintf(cfg_path, sizeof cfg_path, "tokenizer_config.json");

    uint8_t *raw = NULL, *cfg = NULL, *plain = NULL;
    size_t raw_len = 0, cfg_len = 0, plain_len = 0;
    ocr_status rc = ocr_file_read(file, TOK_MAX_FILE, &raw, &raw_len, e);
    if (rc == OCR_OK && raw_len >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) {
        rc = gunzip(raw, raw_len, &plain, &plain_len, file, e);
        free(raw);
        raw = plain;
        raw_len = plain_len;
    }
    if (rc == OCR_OK && exists(cfg_path))
        rc = ocr_file_read(cfg_path, 64u << 20, &cfg, &cfg_len, e);
    if (rc == OCR_OK)
        rc = tok_load_json(out, (const char *)raw, raw_len, file, (const char *)cfg, cfg_len,
                           cfg_path, e);
    free(raw);
    free(cfg);
    return rc;
}

/* tests/test_core.c — core/: errors, arena, dtypes, safetensors (round trips
 * and a hostile-input suite), sharded checkpoints, npy, config.json and the
 * expected-tensor check. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"
#include "language/lm.h"
#include "tests/tst.h"
#include "vision/vis.h"

static const char *shared_dir(void)
{
    const char *s = getenv("VLOCR_SHARED");
    return s && *s ? s : "../shared";
}

static bool has_fixture(const char *sub, char *out, size_t cap)
{
    snprintf(out, cap, "%s/conformance/%s", shared_dir(), sub);
    FILE *f;
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", out);
    if (!(f = fopen(p, "rb"))) return false;
    fclose(f);
    return true;
}

/* ------------------------------------------------------------------ basics */

static void test_err_and_arena(void)
{
    ocr_err e = {0};
    TST_CHECK(ocr_err_set(&e, OCR_E_IO, "x.bin: %s", "gone") == OCR_E_IO, "err_set returns code");
    ocr_err_prefix(&e, "loading");
    TST_CHECK(strcmp(e.msg, "loading: x.bin: gone") == 0, "prefix: '%s'", e.msg);
    TST_CHECK(ocr_err_set(NULL, OCR_E_ARG, "ignored") == OCR_E_ARG, "NULL err accepted");
    for (int s = 0; s < OCR_E_COUNT; s++)
        TST_CHECK(strcmp(ocr_status_str((ocr_status)s), "unknown status") != 0, "status %d named", s);

    size_t r;
    TST_CHECK(!ocr_mul_ok(SIZE_MAX / 2 + 1, 2, &r), "mul overflow detected");
    TST_CHECK(ocr_mul_ok(1 << 20, 1 << 10, &r) && r == (size_t)1 << 30, "mul ok");
    TST_CHECK(!ocr_add_ok(SIZE_MAX, 1, &r), "add overflow detected");

    ocr_arena a;
    TST_CHECK(ocr_arena_init(&a, 1000, &e) == OCR_OK, "arena init");
    void *p1 = ocr_arena_alloc(&a, 3);
    void *p2 = ocr_arena_alloc(&a, 100);
    TST_CHECK(p1 && p2 && ((uintptr_t)p1 % 64) == 0 && ((uintptr_t)p2 % 64) == 0, "64-aligned");
    TST_CHECK((uint8_t *)p2 - (uint8_t *)p1 == 64, "bump by aligned size");
    size_t m = ocr_arena_mark(&a);
    TST_CHECK(ocr_arena_alloc(&a, 2000) == NULL, "exhausted arena returns NULL");
    TST_CHECK(ocr_arena_alloc(&a, SIZE_MAX - 10) == NULL, "huge request returns NULL");
    float *z = ocr_arena_calloc(&a, 64 * sizeof(float));
    TST_CHECK(z && z[0] == 0 && z[63] == 0, "calloc zeroes");
    ocr_arena_reset(&a, m);
    TST_CHECK(ocr_arena_alloc(&a, 10) == z, "reset reuses memory");
    TST_CHECK(a.peak >= 128 + 256, "peak tracked (%zu)", a.peak);
    ocr_arena_free(&a);
    ocr_arena_free(&a);
    TST_CHECK(a.base == NULL, "double free safe");
}

static void test_buf(void)
{
    ocr_buf b = {0};
    ocr_buf_puts(&b, "ab");
    ocr_buf_put(&b, "cdef", 2);
    ocr_buf_printf(&b, "-%d-", 42);
    TST_CHECK(b.p && strcmp(b.p, "abcd-42-") == 0 && b.n == 8, "appends: '%s'", b.p ? b.p : "");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ocr_buf_printf(&b, "[%s]", big); /* longer than the stack buffer */
    TST_CHECK(!b.oom && b.n == 8 + 2 + 1999 && b.p[b.n - 1] == ']' && b.p[b.n] == 0,
              "long printf kept whole (%zu)", b.n);
    ocr_buf_free(&b);
    TST_CHECK(b.p == NULL && b.n == 0, "free resets");
}

static void test_buf_edit(void)
{
    ocr_buf b = {0};
    TST_CHECK(strcmp(ocr_buf_cstr(&b), "") == 0, "cstr of an untouched buffer is \"\"");
    char *e = ocr_buf_steal(&b);
    TST_CHECK(e && e[0] == 0 && b.p == NULL, "steal of an empty buffer gives a fresh \"\"");
    free(e);

    ocr_buf_puts(&b, "abc");
    ocr_buf_putc(&b, 'd');
    TST_CHECK(b.n == 4 && strcmp(ocr_buf_cstr(&b), "abcd") == 0, "putc: '%s'", ocr_buf_cstr(&b));
    ocr_buf_truncate(&b, 10);
    TST_CHECK(b.n == 4 && strcmp(b.p, "abcd") == 0, "truncate past the end is a no-op");
    ocr_buf_truncate(&b, 2);
    TST_CHECK(b.n == 2 && strcmp(b.p, "ab") == 0, "truncate: '%s'", b.p);
    char *keep = b.p;
    ocr_buf_clear(&b);
    TST_CHECK(b.n == 0 && b.p == keep && strcmp(ocr_buf_cstr(&b), "") == 0,
              "clear empties but keeps the allocation");
    ocr_buf_puts(&b, "xy");
    char *s = ocr_buf_steal(&b);
    TST_CHECK(s && strcmp(s, "xy") == 0, "steal hands the text over");
    TST_CHECK(b.p == NULL && b.n == 0 && b.cap == 0, "steal resets the buffer");
    free(s);

    b.oom = true; /* as after a failed allocation */
    TST_CHECK(ocr_buf_steal(&b) == NULL && b.oom, "steal after OOM with nothing stored is NULL");
    ocr_buf_free(&b);
}

static void test_dtype_names(void)
{
    ocr_dtype dt;
    const char *names[] = {"F32", "F16", "BF16", "F8_E4M3", "I8", "I32", "I64"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        TST_CHECK(ocr_dtype_parse(names[i], &dt), "parse %s", names[i]);
        TST_CHECK(strcmp(ocr_dtype_name(dt), names[i]) == 0, "name round trip %s", names[i]);
    }
    TST_CHECK(!ocr_dtype_parse("F4", &dt), "unknown dtype rejected");
    TST_CHECK(ocr_dtype_size(OCR_DT_BF16) == 2 && ocr_dtype_size(OCR_DT_F8_E4M3) == 1 &&
                  ocr_dtype_size(OCR_DT_I64) == 8,
              "sizes");
    TST_CHECK(ocr_bf16_to_f32(ocr_f32_to_bf16(1.0f)) == 1.0f, "bf16 1.0");
    TST_CHECK(ocr_f32_to_bf16(1.00390625f) == 0x3f80, "bf16 ties to even (down)");
    TST_CHECK(ocr_f32_to_bf16(1.01171875f) == 0x3f82, "bf16 ties to even (up)");
    TST_CHECK(ocr_f16_to_f32(0x3c00) == 1.0f && ocr_f16_to_f32(0x0001) == 0x1p-24f, "f16 values");
    TST_CHECK(ocr_f8e4m3_to_f32(0x7e) == 448.0f && isnan(ocr_f8e4m3_to_f32(0x7f)), "e4m3 max/NaN");
}

/* ----------------------------------------------------- safetensors helpers */

/* A small checkpoint with every dtype, written through ocr_st_write. */
static const char *write_sample(const char *fname)
{
    static float f32[6] = {1, -2, 3.5f, 0, 1e-7f, -1e7f};
    static uint16_t bf16[4], f16[4];
    static uint8_t f8[3 * 130];
    static float f8s[1 * 2];
    static int8_t i8[5] = {-128, -1, 0, 1, 127};
    static int32_t i32[2] = {-7, 1 << 30};
    static int64_t i64[3] = {-1, 0, (int64_t)1 << 40};
    for (int i = 0; i < 4; i++) {
        bf16[i] = ocr_f32_to_bf16(0.5f * (float)i - 1);
        f16[i] = ocr_f32_to_f16(0.25f * (float)i);
    }
    for (int i = 0; i < 3 * 130; i++) f8[i] = (uint8_t)(i % 0x7e);
    f8s[0] = 2.0f;
    f8s[1] = 0.5f;
    ocr_tensor ts[] = {
        {.name = "a.f32", .dtype = OCR_DT_F32, .ndim = 2, .shape = {2, 3}, .data = f32, .nbytes = 24},
        {.name = "b.bf16", .dtype = OCR_DT_BF16, .ndim = 1, .shape = {4}, .data = bf16, .nbytes = 8},
        {.name = "c.f16", .dtype = OCR_DT_F16, .ndim = 2, .shape = {2, 2}, .data = f16, .nbytes = 8},
        {.name = "d.weight", .dtype = OCR_DT_F8_E4M3, .ndim = 2, .shape = {3, 130}, .data = f8,
         .nbytes = sizeof f8},
        {.name = "d.weight_scale_inv", .dtype = OCR_DT_F32, .ndim = 2, .shape = {1, 2}, .data = f8s,
         .nbytes = 8},
        {.name = "e.i8", .dtype = OCR_DT_I8, .ndim = 1, .shape = {5}, .data = i8, .nbytes = 5},
        {.name = "f.i32", .dtype = OCR_DT_I32, .ndim = 1, .shape = {2}, .data = i32, .nbytes = 8},
        {.name = "g.i64", .dtype = OCR_DT_I64, .ndim = 1, .shape = {3}, .data = i64, .nbytes = 24},
        {.name = "h.scalar", .dtype = OCR_DT_F32, .ndim = 0, .shape = {0}, .data = f32, .nbytes = 4},
    };
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", tst_tmpdir(), fname);
    const char *md[] = {"format", "pt", "origin", "test_core", NULL};
    ocr_err e = {0};
    ocr_status rc = ocr_st_write(path, ts, sizeof ts / sizeof ts[0], md, &e);
    TST_CHECK(rc == OCR_OK, "write sample: %s", e.msg);
    return path;
}

static void test_st_roundtrip(void)
{
    const char *path = write_sample("sample.safetensors");
    ocr_st *st = NULL;
    ocr_err e = {0};
    if (!TST_CHECK(ocr_st_open(&st, path, &e) == OCR_OK, "open: %s", e.msg)) return;
    TST_CHECK(ocr_st_count(st) == 9, "9 tensors (%zu)", ocr_st_count(st));
    const ocr_tensor *t = ocr_st_find(st, "a.f32");
    TST_CHECK(t && t->dtype == OCR_DT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3,
              "a.f32 meta");
    TST_CHECK(t && ((const float *)t->data)[2] == 3.5f && ((const float *)t->data)[5] == -1e7f,
              "a.f32 data");
    TST_CHECK(t && ((uintptr_t)t->data % 4) == 0, "F32 data aligned");
    t = ocr_st_find(st, "g.i64");
    TST_CHECK(t && ((const int64_t *)t->data)[2] == (int64_t)1 << 40, "i64 data");
    t = ocr_st_find(st, "e.i8");
    TST_CHECK(t && ((const int8_t *)t->data)[0] == -128, "i8 data");
    t = ocr_st_find(st, "h.scalar");
    TST_CHECK(t && t->ndim == 0 && ocr_tensor_numel(t) == 1, "0-d scalar");
    TST_CHECK(ocr_st_find(st, "nope") == NULL, "missing name -> NULL");

    /* F8 with its block scales: block (0,0) scale 2, block (0,1) scale 0.5 */
    t = ocr_st_find(st, "d.weight");
    TST_CHECK(t && t->scale && t->block == 128, "F8 scales attached");
    if (t) {
        float *w = malloc(3 * 130 * sizeof(float));
        TST_CHECK(ocr_tensor_to_f32(w, t, &e) == OCR_OK, "dequantise");
        const uint8_t *raw = t->data;
        TST_CHECK(w[5] == 2.0f * ocr_f8e4m3_to_f32(raw[5]), "block 0 scale");
        TST_CHECK(w[130 + 129] == 0.5f * ocr_f8e4m3_to_f32(raw[130 + 129]), "partial block scale");
        free(w);
    }
    const ocr_tensor *bf = ocr_st_find(st, "b.bf16");
    float v[4];
    TST_CHECK(bf && ocr_tensor_to_f32(v, bf, &e) == OCR_OK && v[0] == -1 && v[3] == 0.5f, "bf16 widen");
    const ocr_tensor *got;
    int64_t sh[2] = {2, 3}, bad[2] = {3, 2};
    TST_CHECK(ocr_st_get(st, "a.f32", 2, sh, &got, &e) == OCR_OK && got, "checked get");
    TST_CHECK(ocr_st_get(st, "a.f32", 2, bad, &got, &e) == OCR_E_SHAPE && strstr(e.msg, "a.f32") &&
                  strstr(e.msg, "[2,3]") && strstr(e.msg, "[3,2]"),
              "misshaped get names tensor and shapes: %s", e.msg);
    TST_CHECK(ocr_st_get(st, "zz", 0, NULL, &got, &e) == OCR_E_NOTFOUND && strstr(e.msg, "zz"),
              "missing get: %s", e.msg);
    ocr_st_close(&st);
    TST_CHECK(st == NULL, "close nulls");
    ocr_st_close(&st);
}

/* Build a raw safetensors file from a header string and a data size. */
static const char *raw_st(const char *name, uint64_t hlen_field, const char *hdr, size_t data_len)
{
    size_t hl = strlen(hdr);
    size_t n = 8 + hl + data_len;
    uint8_t *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hlen_field >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    const char *p = tst_write_file(name, buf, n);
    free(buf);
    return p;
}

static void expect_st_error(const char *what, const char *path, ocr_status want, const char *word)
{
    ocr_st *st = NULL;
    ocr_err e = {0};
    ocr_status rc = ocr_st_open(&st, path, &e);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    TST_CHECK(rc == want, "%s: status %s, want %s (%s)", what, ocr_status_str(rc),
              ocr_status_str(want), e.msg);
    TST_CHECK(st == NULL, "%s: no handle on failure", what);
    TST_CHECK(strstr(e.msg, base) != NULL, "%s: message names the file: %s", what, e.msg);
    TST_CHECK(!word || strstr(e.msg, word) != NULL, "%s: message says '%s': %s", what, word, e.msg);
    ocr_st_close(&st);
}

static void test_st_hostile(void)
{
#define H(s) (uint64_t) strlen(s), s
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    ocr_st *st = NULL;
    ocr_err e = {0};
    TST_CHECK(ocr_st_open(&st, raw_st("ok.st", H(ok), 8), &e) == OCR_OK, "control file opens: %s", e.msg);
    ocr_st_close(&st);

    expect_st_error("zero-byte", tst_write_file("zero.st", "", 0), OCR_E_FORMAT, "empty");
    expect_st_error("4-byte", tst_write_file("short.st", "abcd", 4), OCR_E_FORMAT, "too short");
    expect_st_error("header past EOF", raw_st("past.st", 4096, ok, 8), OCR_E_FORMAT, "past the end");
    expect_st_error("2 GB header field", raw_st("huge.st", (uint64_t)2 << 30, ok, 8), OCR_E_LIMIT,
                    "exceeds the limit");
    expect_st_error("2^64-1 header field", raw_st("max.st", UINT64_MAX, ok, 8), OCR_E_LIMIT, "header length");
    expect_st_error("invalid JSON", raw_st("badjson.st", H("{\"a\":{\"dtype\":"), 8), OCR_E_FORMAT,
                    "invalid JSON");
    expect_st_error("not an object", raw_st("arr.st", H("[1,2,3]  "), 0), OCR_E_FORMAT, "not an object");
    expect_st_error("unknown dtype",
                    raw_st("dt.st", H("{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,8]}}"), 8),
                    OCR_E_DTYPE, "unknown dtype 'F4'");
    expect_st_error("shape/bytes mismatch",
                    raw_st("mis.st", H("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}"), 8),
                    OCR_E_SHAPE, "needs 12 bytes");
    expect_st_error("offset out of range",
                    raw_st("oor.st", H("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}"), 8),
                    OCR_E_FORMAT, "out of range");
    expect_st_error("begin > end",
                    raw_st("rev.st", H("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}"), 8),
                    OCR_E_FORMAT, "out of range");
    expect_st_error("negative offset",
                    raw_st("neg.st", H("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}"), 8),
                    OCR_E_FORMAT, "data_offsets");
    expect_st_error("overlap",
                    raw_st("ovl.st",
                           H("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}"),
                           12),
                    OCR_E_FORMAT, "overlap");
    expect_st_error("shape overflow",
                    raw_st("ovf.st",
                           H("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                             "\"data_offsets\":[0,8]}}"),
                           8),
                    OCR_E_SHAPE, "shape entry");
    expect_st_error("negative dim",
                    raw_st("negdim.st", H("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}"), 8),
                    OCR_E_SHAPE, "shape entry");
    expect_st_error("9 dims",
                    raw_st("dims.st",
                           H("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}"),
                           8),
                    OCR_E_SHAPE, "dimensions");
    expect_st_error("missing fields", raw_st("miss.st", H("{\"a\":{\"dtype\":\"F32\"}}"), 0), OCR_E_FORMAT,
                    "data_offsets");
    expect_st_error("duplicate keys",
                    raw_st("dup.st",
                           H("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                             "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}"),
                           8),
                    OCR_E_FORMAT, "invalid JSON");
    expect_st_error("metadata not object", raw_st("md.st", H("{\"__metadata__\":[1]}"), 0), OCR_E_FORMAT,
                    "__metadata__");
    expect_st_error("missing file", "/nonexistent/dir/model.safetensors", OCR_E_IO, "cannot open");

    /* Truncation of a valid file at every length must fail cleanly. */
    const char *good = write_sample("trunc-src.safetensors");
    uint8_t *buf;
    size_t len;
    TST_CHECK(ocr_file_read(good, 1 << 20, &buf, &len, &e) == OCR_OK, "read sample");
    int clean = 0, total = 0;
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 37)) {
        ocr_st *s2 = NULL;
        ocr_status rc = ocr_st_open_memory(&s2, buf, cut, "cut.safetensors", NULL, &e);
        total++;
        if (rc != OCR_OK && s2 == NULL && strstr(e.msg, "cut.safetensors")) clean++;
        ocr_st_close(&s2);
    }
    TST_CHECK(clean == total, "every truncation rejected with a named error (%d/%d)", clean, total);
    /* Random byte flips in the header: never a crash; either opens or fails named. */
    uint64_t rng = 0x1234567;
    int flips_ok = 0;
    for (int i = 0; i < 400; i++) {
        uint8_t *c = malloc(len);
        memcpy(c, buf, len);
        for (int k = 0; k < 3; k++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (rng >> 33) % (len < 300 ? len : 300);
            c[pos] ^= (uint8_t)(1u << ((rng >> 20) & 7));
        }
        ocr_st *s2 = NULL;
        ocr_status rc = ocr_st_open_memory(&s2, c, len, "flip.safetensors", NULL, &e);
        if (rc == OCR_OK ? s2 != NULL : (s2 == NULL && strstr(e.msg, "flip.safetensors") != NULL))
            flips_ok++;
        ocr_st_close(&s2);
        free(c);
    }
    TST_CHECK(flips_ok == 400, "header bit flips handled (%d/400)", flips_ok);
    free(buf);

    /* A custom header limit applies. */
    ocr_st_limits lim = ocr_st_default_limits();
    lim.max_header_bytes = 16;
    TST_CHECK(ocr_st_open_limits(&st, raw_st("lim.st", H(ok), 8), &lim, &e) == OCR_E_LIMIT, "custom limit");
#undef H
}

static void test_st_sharded(void)
{
    const char *dir = tst_tmpdir();
    float a[3] = {1, 2, 3}, b[2] = {4, 5};
    ocr_tensor ta = {.name = "x.a", .dtype = OCR_DT_F32, .ndim = 1, .shape = {3}, .data = a, .nbytes = 12};
    ocr_tensor tb = {.name = "x.b", .dtype = OCR_DT_F32, .ndim = 1, .shape = {2}, .data = b, .nbytes = 8};
    char p1[600], p2[600];
    snprintf(p1, sizeof p1, "%s/model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00002.safetensors", dir);
    ocr_err e = {0};
    TST_CHECK(ocr_st_write(p1, &ta, 1, NULL, &e) == OCR_OK, "shard 1");
    TST_CHECK(ocr_st_write(p2, &tb, 1, NULL, &e) == OCR_OK, "shard 2");
    const char *idx = "{\"metadata\":{\"total_size\":20},\"weight_map\":{"
                      "\"x.a\":\"model-00001-of-00002.safetensors\","
                      "\"x.b\":\"model-00002-of-00002.safetensors\"}}";
    const char *ip = tst_write_file("model.safetensors.index.json", idx, strlen(idx));
    ocr_st *st = NULL;
    TST_CHECK(ocr_st_open(&st, dir, &e) == OCR_OK, "open sharded dir: %s", e.msg);
    if (st) {
        const ocr_tensor *t = ocr_st_find(st, "x.b");
        TST_CHECK(ocr_st_count(st) == 2 && t && ((const float *)t->data)[1] == 5, "both shards");
        TST_CHECK(t && strstr(ocr_st_file_of(st, t), "00002"), "file_of names shard");
        ocr_st_close(&st);
    }
    TST_CHECK(ocr_st_open(&st, ip, &e) == OCR_OK, "open index path: %s", e.msg);
    ocr_st_close(&st);

    const char *bad1 = "{\"weight_map\":{\"x.a\":\"../etc/passwd\"}}";
    ip = tst_write_file("bad1.index.json", bad1, strlen(bad1));
    TST_CHECK(ocr_st_open(&st, ip, &e) == OCR_E_FORMAT && strstr(e.msg, "bad1.index.json"),
              "path traversal refused: %s", e.msg);
    const char *bad2 = "{\"weight_map\":{\"x.zz\":\"model-00001-of-00002.safetensors\"}}";
    ip = tst_write_file("bad2.index.json", bad2, strlen(bad2));
    TST_CHECK(ocr_st_open(&st, ip, &e) == OCR_E_NOTFOUND && strstr(e.msg, "x.zz"),
              "listed tensor missing: %s", e.msg);
    const char *bad3 = "{\"weight_map\":{\"x.a\":\"model-00002-of-00002.safetensors\"}}";
    ip = tst_write_file("bad3.index.json", bad3, strlen(bad3));
    TST_CHECK(ocr_st_open(&st, ip, &e) == OCR_E_NOTFOUND && strstr(e.msg, "x.a"),
              "tensor listed in wrong shard: %s", e.msg);
    const char *bad4 = "{\"weight_map\":{\"x.a\":\"missing.safetensors\"}}";
    ip = tst_write_file("bad4.index.json", bad4, strlen(bad4));
    TST_CHECK(ocr_st_open(&st, ip, &e) == OCR_E_IO && strstr(e.msg, "missing.safetensors"),
              "missing shard: %s", e.msg);
    const char *bad5 = "{\"weight_map\":[]}";
    ip = tst_write_file("bad5.index.json", bad5, strlen(bad5));
    TST_CHECK(ocr_st_open(&st, ip, &e) == OCR_E_FORMAT, "weight_map not object: %s", e.msg);
    ocr_st_close(&st);
}

/* ------------------------------------------------------------------- npy */

static void test_npy(void)
{
    /* Hand-built v1 file: float32 [2,3]. */
    const char hdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    size_t hl = 118; /* pad so that 10 + hl is a multiple of 64 */
    uint8_t buf[10 + 118 + 24];
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)hl;
    buf[9] = 0;
    memset(buf + 10, ' ', hl);
    memcpy(buf + 10, hdr, strlen(hdr));
    buf[10 + hl - 1] = '\n';
    float v[6] = {1, 2, 3, 4, 5, 6};
    memcpy(buf + 10 + hl, v, 24);
    const char *p = tst_write_file("a.npy", buf, sizeof buf);
    ocr_npy a;
    ocr_err e = {0};
    TST_CHECK(ocr_npy_load(&a, p, &e) == OCR_OK, "npy load: %s", e.msg);
    TST_CHECK(a.dtype == OCR_DT_F32 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 &&
                  ((float *)a.data)[5] == 6,
              "npy content");
    ocr_npy_free(&a);
    p = tst_write_file("trunc.npy", buf, sizeof buf - 4);
    TST_CHECK(ocr_npy_load(&a, p, &e) == OCR_E_FORMAT && strstr(e.msg, "trunc.npy"), "truncated npy: %s",
              e.msg);
    p = tst_write_file("garbage.npy", "hello world", 11);
    TST_CHECK(ocr_npy_load(&a, p, &e) == OCR_E_FORMAT && strstr(e.msg, "magic"), "garbage npy: %s", e.msg);

    char dir[512], f[700];
    if (!has_fixture("ocr_mha", dir, sizeof dir)) {
        tst_skip("npy fixtures", "shared conformance fixtures not found");
        return;
    }
    snprintf(f, sizeof f, "%s/../common/input_ids.npy", dir);
    TST_CHECK(ocr_npy_load(&a, f, &e) == OCR_OK && a.dtype == OCR_DT_I64 && a.ndim == 1 &&
                  a.shape[0] == 85 && ((int64_t *)a.data)[0] == 0 && ((int64_t *)a.data)[1] == 300,
              "fixture input_ids: %s", e.msg);
    ocr_npy_free(&a);
    snprintf(f, sizeof f, "%s/../common/images_seq_mask.npy", dir);
    TST_CHECK(ocr_npy_load(&a, f, &e) == OCR_OK && (a.dtype == OCR_DT_BOOL || a.dtype == OCR_DT_U8) && a.shape[0] == 85,
              "fixture mask (|b1 or |u1): %s", e.msg);
    ocr_npy_free(&a);
}

/* ---------------------------------------------------------------- config */

static ocr_status parse(ocr_config *c, const char *json, ocr_err *e)
{
    return ocr_config_parse(c, json, strlen(json), "cfg.json", e);
}

static void test_config(void)
{
    ocr_config c;
    ocr_err e = {0};
    /* Nested layout: decoder keys only under language_config. */
    const char *nested =
        "{\"model_type\":\"deepseek_vl_v2\",\"architectures\":[\"DeepseekOCRForCausalLM\"],"
        "\"language_config\":{\"hidden_size\":1280,\"num_hidden_layers\":12,\"num_attention_heads\":10,"
        "\"vocab_size\":129280,\"use_mla\":false,\"n_routed_experts\":64,\"num_experts_per_tok\":6,"
        "\"moe_intermediate_size\":896,\"n_shared_experts\":2,\"first_k_dense_replace\":1,"
        "\"intermediate_size\":6848,\"kv_lora_rank\":null,\"q_lora_rank\":null,"
        "\"bos_token_id\":0,\"eos_token_id\":1},"
        "\"projector_config\":{\"projector_type\":\"linear\",\"input_dim\":2048,\"n_embed\":1280},"
        "\"vision_config\":{\"image_size\":1024,\"width\":{\"sam_vit_b\":{\"width\":768,\"layers\":12,"
        "\"heads\":12,\"global_attn_indexes\":[2,5,8,11],\"downsample_channels\":[512,1024]},"
        "\"clip-l-14-224\":{\"width\":1024,\"layers\":24,\"heads\":16,\"image_size\":224,\"patch_size\":14}}}}";
    TST_CHECK(parse(&c, nested, &e) == OCR_OK, "nested config: %s", e.msg);
    TST_CHECK(c.lm.hidden_size == 1280 && c.lm.num_hidden_layers == 12 && c.lm.vocab_size == 129280 &&
                  !c.lm.use_mla && c.lm.n_routed_experts == 64 && c.lm.num_key_value_heads == 10 &&
                  c.lm.q_lora_rank == 0 && c.lm.kv_lora_rank == 0 && c.lm.bos_token_id == 0,
              "nested decoder values");
    TST_CHECK(strcmp(c.architecture, "DeepseekOCRForCausalLM") == 0, "architecture");
    TST_CHECK(c.vis.present && c.vis.sam.width == 768 && c.vis.sam.window_size == 14 &&
                  c.vis.sam.out_chans == 256 && c.vis.clip.ffn_hidden_size == 4096 &&
                  c.vis.projector.n_embed == 1280 && c.vis.sam.n_global_attn == 4 &&
                  c.vis.sam.global_attn_indexes[3] == 11,
              "vision values with hard-coded defaults");
    TST_CHECK(fabsf(c.lm.rms_norm_eps - 1e-6f) < 1e-12f && c.lm.rope_theta == 10000.0f, "class defaults");

    /* Top level wins over language_config. */
    TST_CHECK(parse(&c, "{\"hidden_size\":64,\"num_attention_heads\":4,\"use_mla\":false,"
                        "\"language_config\":{\"hidden_size\":128}}",
                    &e) == OCR_OK &&
                  c.lm.hidden_size == 64,
              "top-level precedence: %s", e.msg);

    /* V3-style MLA + YaRN + noaux_tc + fp8 */
    const char *v3 = "{\"model_type\":\"deepseek_v3\",\"hidden_size\":7168,\"num_attention_heads\":128,"
                     "\"q_lora_rank\":1536,\"kv_lora_rank\":512,\"qk_nope_head_dim\":128,\"qk_rope_head_dim\":64,"
                     "\"v_head_dim\":128,\"n_routed_experts\":256,\"num_experts_per_tok\":8,\"n_group\":8,"
                     "\"topk_group\":4,\"topk_method\":\"noaux_tc\",\"scoring_func\":\"sigmoid\","
                     "\"routed_scaling_factor\":2.5,\"norm_topk_prob\":true,\"moe_intermediate_size\":2048,"
                     "\"first_k_dense_replace\":3,\"num_hidden_layers\":61,\"vocab_size\":129280,"
                     "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":40,\"original_max_position_embeddings\":4096,"
                     "\"beta_fast\":32,\"beta_slow\":1,\"mscale\":1.0,\"mscale_all_dim\":1.0},"
                     "\"quantization_config\":{\"quant_method\":\"fp8\",\"fmt\":\"e4m3\","
                     "\"weight_block_size\":[128,128]}}";
    TST_CHECK(parse(&c, v3, &e) == OCR_OK, "v3 config: %s", e.msg);
    TST_CHECK(c.lm.use_mla && c.lm.kv_lora_rank == 512 && c.lm.rope_scaling.enabled &&
                  strcmp(c.lm.rope_scaling.type, "yarn") == 0 && c.lm.rope_scaling.factor == 40.0f &&
                  c.lm.rope_scaling.original_max_position_embeddings == 4096 && c.fp8 &&
                  c.fp8_block[0] == 128 && c.lm.routed_scaling_factor == 2.5f && !c.vis.present,
              "v3 values");

    struct {
        const char *json, *word;
        ocr_status want;
    } bad[] = {
        {"{\"hidden_size\":", "invalid JSON", OCR_E_FORMAT},
        {"[1]", "not a JSON object", OCR_E_FORMAT},
        {"{\"hidden_size\":\"big\"}", "hidden_size", OCR_E_CONFIG},
        {"{\"hidden_size\":-5}", "hidden_size", OCR_E_CONFIG},
        {"{\"num_hidden_layers\":99999999}", "num_hidden_layers", OCR_E_CONFIG},
        {"{\"use_mla\":\"yes\"}", "use_mla", OCR_E_CONFIG},
        {"{\"use_mla\":false,\"hidden_size\":100,\"num_attention_heads\":3}", "divisible", OCR_E_CONFIG},
        {"{\"n_routed_experts\":8,\"num_experts_per_tok\":9,\"moe_intermediate_size\":4}",
         "num_experts_per_tok", OCR_E_CONFIG},
        {"{\"n_routed_experts\":8,\"num_experts_per_tok\":2,\"n_group\":3}", "n_group", OCR_E_CONFIG},
        {"{\"scoring_func\":\"relu\"}", "scoring_func", OCR_E_CONFIG},
        {"{\"topk_method\":\"magic\"}", "topk_method", OCR_E_CONFIG},
        {"{\"hidden_act\":\"gelu\"}", "hidden_act", OCR_E_CONFIG},
        {"{\"use_mla\":true,\"kv_lora_rank\":null}", "kv_lora_rank", OCR_E_CONFIG},
        {"{\"rope_scaling\":[1]}", "rope_scaling", OCR_E_CONFIG},
        {"{\"quantization_config\":{\"quant_method\":\"gptq\"}}", "gptq", OCR_E_UNSUPPORTED},
        {"{\"vision_config\":{\"width\":{\"sam_vit_b\":{\"layers\":4,\"global_attn_indexes\":[9]}}}}",
         "global_attn_indexes", OCR_E_CONFIG},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ocr_status rc = parse(&c, bad[i].json, &e);
        TST_CHECK(rc == bad[i].want && strstr(e.msg, "cfg.json") && strstr(e.msg, bad[i].word),
                  "bad config %zu rejected (%s): %s", i, ocr_status_str(rc), e.msg);
    }
    TST_CHECK(ocr_config_load(&c, "/nonexistent-dir", &e) == OCR_E_IO && strstr(e.msg, "config.json"),
              "missing config.json: %s", e.msg);

    char dir[512];
    const char *fx[] = {"ocr_mha", "mla_greedy", "mla_noaux_tc"};
    for (int i = 0; i < 3; i++) {
        if (!has_fixture(fx[i], dir, sizeof dir)) {
            tst_skip(fx[i], "shared conformance fixtures not found");
            continue;
        }
        TST_CHECK(ocr_config_load(&c, dir, &e) == OCR_OK, "%s config: %s", fx[i], e.msg);
        TST_CHECK(c.lm.hidden_size == 64 && c.lm.num_hidden_layers == 3 && c.lm.vocab_size == 320 &&
                      c.lm.n_routed_experts == 8 && c.vis.sam.window_size == 6 && c.vis.sam.width == 48 &&
                      c.vis.clip.layers == 2 && c.vis.projector.input_dim == 128,
                  "%s values", fx[i]);
        if (i == 2)
            TST_CHECK(c.lm.use_mla && c.lm.q_lora_rank == 48 && c.lm.n_group == 2 &&
                          c.lm.rope_scaling.enabled && c.lm.rope_scaling.mscale_all_dim == 1.0f &&
                          strcmp(c.lm.topk_method, "noaux_tc") == 0,
                      "mla_noaux_tc specifics");
    }
}

/* ---------------------------------------------------------------- specs */

static void test_spec_check(void)
{
    char dir[512];
    const char *fx[] = {"ocr_mha", "mla_greedy", "mla_noaux_tc"};
    ocr_err e = {0};
    for (int i = 0; i < 3; i++) {
        if (!has_fixture(fx[i], dir, sizeof dir)) {
            tst_skip(fx[i], "shared conformance fixtures not found");
            continue;
        }
        ocr_config c;
        ocr_st *st = NULL;
        ocr_spec s = {0};
        ocr_spec_result r;
        TST_CHECK(ocr_config_load(&c, dir, &e) == OCR_OK && ocr_st_open(&st, dir, &e) == OCR_OK,
                  "load %s", fx[i]);
        TST_CHECK(lm_spec_build(&s, &c.lm, &e) == OCR_OK && vis_spec_build(&s, &c.vis, &e) == OCR_OK,
                  "spec %s", fx[i]);
        ocr_status rc = ocr_spec_check(&s, st, &r, &e);
        TST_CHECK(rc == OCR_OK && r.n_missing == 0 && r.n_misshaped == 0 && r.n_unexpected == 0,
                  "%s matches its config exactly (%zu missing, %zu misshaped, %zu unexpected)\n%s", fx[i],
                  r.n_missing, r.n_misshaped, r.n_unexpected, r.report ? r.report : "");
        TST_CHECK(r.n_found + r.n_optional_found == ocr_st_count(st) && r.n_found == r.n_expected,
                  "%s: every tensor accounted for (%zu+%zu/%zu)", fx[i], r.n_found, r.n_optional_found,
                  ocr_st_count(st));
        ocr_spec_result_free(&r);

        /* The same checkpoint against a config with one more expert and a
         * wider vocabulary: the check must list what is missing/misshaped. */
        c.lm.n_routed_experts = 9;
        c.lm.vocab_size = 321;
        ocr_spec s2 = {0};
        lm_spec_build(&s2, &c.lm, &e);
        rc = ocr_spec_check(&s2, st, &r, &e);
        TST_CHECK(rc == OCR_E_SHAPE && r.n_missing == 2 * 3 && r.n_misshaped >= 2 + 2,
                  "%s: altered config reports %zu missing, %zu misshaped", fx[i], r.n_missing,
                  r.n_misshaped);
        TST_CHECK(r.report && strstr(r.report, "missing    model.layers.1.mlp.experts.8.gate_proj.weight") &&
                      strstr(r.report, "misshaped  model.embed_tokens.weight is [320,64], config implies [321,64]"),
                  "%s: report lists names and shapes", fx[i]);
        TST_CHECK(r.n_unexpected > 0 && strstr(r.report, "unexpected model.sam_model"),
                  "%s: vision tensors unexpected for a decoder-only spec", fx[i]);
        ocr_spec_result_free(&r);
        ocr_spec_free(&s2);
        ocr_spec_free(&s);
        ocr_st_close(&st);
    }
}

int main(void)
{
    TST_RUN(test_err_and_arena);
    TST_RUN(test_buf);
    TST_RUN(test_buf_edit);
    TST_RUN(test_dtype_names);
    TST_RUN(test_st_roundtrip);
    TST_RUN(test_st_hostile);
    TST_RUN(test_st_sharded);
    TST_RUN(test_npy);
    TST_RUN(test_config);
    TST_RUN(test_spec_check);
    return tst_finish();
}

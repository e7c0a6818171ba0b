/* tests/test_vis.c — the vision half: resamplers, preprocessing against the
 * official goldens, conv and attention kernels against naive twins, and
 * every encoder stage of the three conformance fixtures within 1e-4.
 *
 * Fixtures live in $VLOCR_SHARED/conformance (VLOCR_SHARED defaults to
 * ../shared); tests that need them say SKIP when they are absent.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/ocr.h"
#include "tests/tst.h"
#include "vision/vis.h"

static uint64_t rng = 0x243f6a8885a308d3ULL;

static float *falloc(size_t n) { return tst_falloc(n); }

static float *frand(size_t n, float lo, float hi) { return tst_frand(n, lo, hi, &rng); }

static const char *conf_dir(void)
{
    static char buf[1024];
    const char *s = getenv("VLOCR_SHARED");
    snprintf(buf, sizeof buf, "%s/conformance", s && *s ? s : "../shared");
    return buf;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *cpath(const char *rel)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", conf_dir(), rel);
    return buf[k];
}

/* ------------------------------------------------- fixture tokenizer */

/* The conformance fixtures' synthetic tokenizer (README): byte b -> 3 + b,
 * and six specials. The real tokenizer is language/'s business. */
static size_t fixture_tokenize(int32_t *ids, size_t cap, const char *s, size_t len)
{
    static const struct {
        const char *t;
        int32_t id;
    } sp[] = {{"<image>", 300},  {"<|ref|>", 301}, {"<|/ref|>", 302},
              {"<|det|>", 303},  {"<|/det|>", 304}, {"<|grounding|>", 305}};
    size_t n = 0;
    for (size_t i = 0; i < len && n < cap;) {
        bool hit = false;
        for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
            size_t tl = strlen(sp[k].t);
            if (i + tl <= len && memcmp(s + i, sp[k].t, tl) == 0) {
                ids[n++] = sp[k].id;
                i += tl;
                hit = true;
                break;
            }
        }
        if (!hit) ids[n++] = 3 + (int32_t)(uint8_t)s[i++];
    }
    return n;
}

/* ------------------------------------------------------- resamplers */

static void test_pil_identity_and_constant(void)
{
    int w = 37, h = 23;
    uint8_t *src = malloc((size_t)w * h * 3), *dst = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) src[i] = (uint8_t)(i * 37 + 11);
    ocr_err e = {0};
    TST_CHECK(vis_resize_pil_bicubic(dst, w, h, src, w, h, 3, &e) == OCR_OK, "%s", e.msg);
    TST_CHECK(memcmp(src, dst, (size_t)w * h * 3) == 0, "same-size PIL resize is the identity");
    free(dst);
    /* A constant image stays constant whatever the scale (weights sum to 1
     * and the fixed-point rounding cannot move a constant). */
    static const int sizes[][2] = {{5, 7}, {64, 11}, {100, 100}, {3, 90}, {37, 23}};
    for (int v = 0; v < 200; v += 97) {
        memset(src, v, (size_t)w * h * 3);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int dw = sizes[s][0], dh = sizes[s][1];
            uint8_t *d = malloc((size_t)dw * dh * 3);
            TST_CHECK(vis_resize_pil_bicubic(d, dw, dh, src, w, h, 3, &e) == OCR_OK, "%s", e.msg);
            int bad = 0;
            for (int i = 0; i < dw * dh * 3; i++) bad += d[i] != v;
            TST_CHECK(bad == 0, "constant %d stays constant at %dx%d (%d off)", v, dw, dh, bad);
            free(d);
        }
    }
    free(src);
}

static void test_aa_weights(void)
{
    /* Every output sample's weights sum to 1 (renormalised at borders), for
     * downscales (support widened) and upscales. */
    static const int cases[][2] = {{64, 40}, {16, 10}, {16, 2}, {4, 2}, {64, 80}, {7, 7}, {100, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int in = cases[c][0], out = cases[c][1];
        double worst = 0;
        for (int i = 0; i < out; i++) {
            float w[256];
            int xmin;
            int n = vis_aa_bicubic_weights(w, 256, &xmin, i, in, out);
            double s = 0;
            for (int j = 0; j < n; j++) s += w[j];
            if (fabs(s - 1) > worst) worst = fabs(s - 1);
            TST_CHECK(n > 0 && xmin >= 0 && xmin + n <= in, "taps in range %d->%d i=%d", in, out, i);
        }
        TST_CHECK(worst < 1e-6, "AA weights sum to 1 for %d->%d (worst %.3g)", in, out, worst);
    }
    /* Hand-computed ATen weights. Upsampling 2 -> 4 keeps support 2 and
     * renormalises the clipped taps: f(0.25) = 0.8671875, f(1.25) =
     * -0.0703125, over their sum. Downsampling 4 -> 2 widens the support to
     * 4 and evaluates f at (j - 0.5)/2: f(±0.25), f(0.75) = 0.2265625, f(1.25). */
    {
        float w[16];
        int xmin = -1;
        int n = vis_aa_bicubic_weights(w, 16, &xmin, 0, 2, 4);
        float want_up[2] = {0.8671875f / 0.796875f, -0.0703125f / 0.796875f};
        TST_CHECK(n == 2 && xmin == 0, "2->4 sample 0 taps: n %d xmin %d", n, xmin);
        if (n == 2) TST_CLOSE("aa weights 2->4", w, want_up, 2, 1e-7f, 0);
        n = vis_aa_bicubic_weights(w, 16, &xmin, 0, 4, 2);
        float t = 0.8671875f * 2 + 0.2265625f - 0.0703125f;
        float want_dn[4] = {0.8671875f / t, 0.8671875f / t, 0.2265625f / t, -0.0703125f / t};
        TST_CHECK(n == 4 && xmin == 0, "4->2 sample 0 taps: n %d xmin %d", n, xmin);
        if (n == 4) TST_CLOSE("aa weights 4->2", w, want_dn, 4, 1e-7f, 0);
    }
    /* Same size: weights (0, 1, 0) -> identity. */
    int c = 5, n = 9;
    float *src = frand((size_t)n * n * c, -1, 1), *dst = falloc((size_t)n * n * c),
          *tmp = falloc((size_t)n * n * c);
    vis_interp_bicubic_aa(dst, n, n, src, n, n, c, tmp);
    TST_CLOSE("aa identity", dst, src, (size_t)n * n * c, 0, 0);
    /* A constant grid stays constant. */
    for (int i = 0; i < n * n * c; i++) src[i] = 0.75f;
    float *d2 = falloc(4 * 4 * c), *t2 = falloc((size_t)n * 4 * c);
    vis_interp_bicubic_aa(d2, 4, 4, src, n, n, c, t2);
    float ref[4 * 4 * 5];
    for (int i = 0; i < 4 * 4 * c; i++) ref[i] = 0.75f;
    TST_CLOSE("aa constant", d2, ref, (size_t)4 * 4 * c, 1e-6f, 0);
    free(src);
    free(dst);
    free(tmp);
    free(d2);
    free(t2);
    /* Linear: identity at equal size, end points kept when upsampling 2->3
     * with align_corners=False: x = [a, b] -> [a, (a+b)/2, b]. */
    float l_src[2] = {1, 3}, l_dst[3];
    vis_interp_linear(l_dst, 3, l_src, 2, 1);
    float l_ref[3] = {1, 2, 3};
    TST_CLOSE("linear 2->3", l_dst, l_ref, 3, 1e-6f, 0);
}

/* ------------------------------------------------------ preprocessing */

static bool load_npy(ocr_npy *a, const char *path)
{
    ocr_err e = {0};
    if (ocr_npy_load(a, path, &e) != OCR_OK) {
        TST_CHECK(false, "load %s: %s", path, e.msg);
        return false;
    }
    return true;
}

static int u8_maxdiff(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

static vis_prep_params tiny_params(void)
{
    vis_prep_params p = vis_prep_default_params();
    p.base_size = 256;
    p.image_size = 128;
    p.crop_threshold = 128;
    return p;
}

static void check_prompt(const char *dir, const vis_views *v)
{
    char ip[1200], mp[1200];
    snprintf(ip, sizeof ip, "%s/input_ids.npy", dir);
    snprintf(mp, sizeof mp, "%s/images_seq_mask.npy", dir);
    ocr_npy gi, gm;
    if (!load_npy(&gi, ip)) return;
    if (!load_npy(&gm, mp)) {
        ocr_npy_free(&gi);
        return;
    }
    const char *prompt = "<image>\n<|grounding|>Convert the document to markdown.";
    const char *img = strstr(prompt, "<image>");
    int32_t before[256], after[256], ids[512];
    uint8_t mask[512];
    size_t nb = fixture_tokenize(before, 256, prompt, (size_t)(img - prompt));
    const char *rest = img + strlen("<image>");
    size_t na = fixture_tokenize(after, 256, rest, strlen(rest));
    size_t n = 0;
    ocr_err e = {0};
    TST_CHECK(vis_prompt_build(ids, mask, 512, &n, 0, before, nb, 300, v->n_slots, after, na, &e) ==
                  OCR_OK,
              "%s", e.msg);
    bool same = gi.dtype == OCR_DT_I64 && (size_t)ocr_npy_numel(&gi) == n &&
                (size_t)ocr_npy_numel(&gm) == n;
    for (size_t i = 0; same && i < n; i++)
        same = ((const int64_t *)gi.data)[i] == ids[i] && ((const uint8_t *)gm.data)[i] == mask[i];
    TST_CHECK(same, "%s: input_ids and images_seq_mask (%zu ids, golden %lld)", dir, n,
              (long long)ocr_npy_numel(&gi));
    ocr_npy_free(&gi);
    ocr_npy_free(&gm);
}

static void check_views(const char *dir, const char *image, const vis_prep_params *p,
                        int want_tiles)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, image);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    ocr_err e = {0};
    if (!TST_CHECK(vis_image_load(&rgb, &w, &h, path, &e) == OCR_OK, "%s", e.msg)) return;
    vis_views v;
    if (!TST_CHECK(vis_preprocess(&v, rgb, w, h, p, &e) == OCR_OK, "%s", e.msg)) {
        free(rgb);
        return;
    }
    TST_CHECK(v.n_tiles == want_tiles, "%s: %d tiles, want %d", image, v.n_tiles, want_tiles);
    /* uint8 views */
    snprintf(path, sizeof path, "%s/global_view.png", dir);
    uint8_t *g = NULL;
    int gw, gh;
    if (TST_CHECK(vis_image_load(&g, &gw, &gh, path, &e) == OCR_OK, "%s", e.msg)) {
        TST_CHECK(gw == v.view_size && gh == v.view_size, "global view %dx%d", gw, gh);
        if (gw == v.view_size && gh == v.view_size) {
            int d = u8_maxdiff(g, v.view_rgb, (size_t)3 * gw * gh);
            TST_CHECK(d == 0, "%s: global_view.png max |Δ| = %d", dir, d);
        }
        free(g);
    }
    size_t tp = (size_t)3 * v.tile_size * v.tile_size;
    for (int t = 0; t < v.n_tiles; t++) {
        snprintf(path, sizeof path, "%s/crop_%d.png", dir, t);
        if (!TST_CHECK(vis_image_load(&g, &gw, &gh, path, &e) == OCR_OK, "%s", e.msg)) continue;
        int d = gw == v.tile_size && gh == v.tile_size ? u8_maxdiff(g, v.tiles_rgb + t * tp, tp) : 999;
        TST_CHECK(d == 0, "crop_%d.png max |Δ| = %d", t, d);
        free(g);
    }
    /* float pixels */
    ocr_npy a;
    snprintf(path, sizeof path, "%s/pixel_values_global.npy", dir);
    if (load_npy(&a, path)) {
        if (TST_CHECK(ocr_npy_numel(&a) == (int64_t)3 * v.view_size * v.view_size, "global numel"))
            TST_CLOSE("pixel_values_global", v.view, (const float *)a.data,
                      (size_t)ocr_npy_numel(&a), 1e-6f, 0);
        ocr_npy_free(&a);
    }
    if (v.n_tiles) {
        snprintf(path, sizeof path, "%s/pixel_values_crops.npy", dir);
        if (load_npy(&a, path)) {
            if (TST_CHECK(ocr_npy_numel(&a) == (int64_t)(v.n_tiles * tp), "crops numel"))
                TST_CLOSE("pixel_values_crops", v.tiles, (const float *)a.data,
                          (size_t)ocr_npy_numel(&a), 1e-6f, 0);
            ocr_npy_free(&a);
        }
    }
    snprintf(path, sizeof path, "%s/images_spatial_crop.npy", dir);
    if (load_npy(&a, path)) {
        const int64_t *sc = a.data;
        TST_CHECK(ocr_npy_numel(&a) == 2 && sc[0] == v.tiles_w && sc[1] == v.tiles_h,
                  "images_spatial_crop [%lld,%lld] vs [%d,%d]", (long long)sc[0],
                  (long long)sc[1], v.tiles_w, v.tiles_h);
        ocr_npy_free(&a);
    }
    check_prompt(dir, &v);
    vis_views_free(&v);
    free(rgb);
}

static void test_preprocess_fixture(void)
{
    if (!is_dir(cpath("common"))) {
        tst_skip("preprocess", "no conformance fixtures");
        return;
    }
    vis_prep_params p = tiny_params();
    check_views(cpath("common"), "test_image.png", &p, 6);
    check_views(cpath("common/global_only"), "test_image_small.png", &p, 0);
}

/* The real-size cases the fixture authors checked against the real infer()
 * (common/preprocess_validation.json), and the slot counts of §3.6. */
static void test_tile_grid_and_slots(void)
{
    vis_prep_params p = vis_prep_default_params();
    static const struct {
        int w, h, tw, th, slots;
    } cases[] = {{1000, 700, 3, 2, 893}, {900, 1300, 2, 3, 903}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int tw, th;
        vis_tile_grid(&tw, &th, cases[i].w, cases[i].h, &p);
        TST_CHECK(tw == cases[i].tw && th == cases[i].th, "%dx%d -> %dx%d tiles, want %dx%d",
                  cases[i].w, cases[i].h, tw, th, cases[i].tw, cases[i].th);
        TST_CHECK(vis_image_slots(&p, tw * th, tw, th) == cases[i].slots, "slots %d",
                  vis_image_slots(&p, tw * th, tw, th));
    }
    TST_CHECK(vis_image_slots(&p, 0, 1, 1) == 273, "gundam without tiles: 273");
    static const struct {
        const char *mode;
        int slots;
    } modes[] = {{"tiny", 73}, {"small", 111}, {"base", 273}, {"large", 421}, {"gundam", 273}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        ocr_err e = {0};
        TST_CHECK(vis_prep_params_mode(&p, modes[i].mode, &e) == OCR_OK, "%s", e.msg);
        TST_CHECK(vis_image_slots(&p, 0, 1, 1) == modes[i].slots, "%s: %d slots", modes[i].mode,
                  vis_image_slots(&p, 0, 1, 1));
    }
    ocr_err e = {0};
    TST_CHECK(vis_prep_params_mode(&p, "huge", &e) == OCR_E_ARG && strstr(e.msg, "huge"),
              "unknown mode refused: %s", e.msg);
    /* Ties: at aspect 2, (2,1) and (4,2) are both exact; the later (4,2)
     * wins only when the area exceeds 0.5·640²·8. */
    int tw, th;
    p = vis_prep_default_params();
    vis_tile_grid(&tw, &th, 2000, 1000, &p);
    TST_CHECK(tw == 4 && th == 2, "2000x1000 (area > 0.5·640²·8) -> 4x2, got %dx%d", tw, th);
    vis_tile_grid(&tw, &th, 1000, 500, &p);
    TST_CHECK(tw == 2 && th == 1, "1000x500 (area < 0.5·640²·4) -> 2x1, got %dx%d", tw, th);
}

static void test_preprocess_modes(void)
{
    /* A synthetic 700x500 page through every mode: the view sizes, the
     * squash of tiny/small, the letterbox of base/large. */
    int w = 700, h = 500;
    uint8_t *rgb = malloc((size_t)3 * w * h);
    for (int i = 0; i < 3 * w * h; i++) rgb[i] = (uint8_t)((i * 7) ^ (i >> 9));
    static const struct {
        const char *mode;
        int view, tiles;
    } cases[] = {{"tiny", 512, 0}, {"small", 640, 0}, {"base", 1024, 0}, {"large", 1280, 0},
                 {"gundam", 1024, 6}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vis_prep_params p;
        ocr_err e = {0};
        vis_prep_params_mode(&p, cases[i].mode, &e);
        vis_views v;
        if (!TST_CHECK(vis_preprocess(&v, rgb, w, h, &p, &e) == OCR_OK, "%s", e.msg)) continue;
        TST_CHECK(v.view_size == cases[i].view && v.n_tiles == cases[i].tiles,
                  "%s: view %d tiles %d", cases[i].mode, v.view_size, v.n_tiles);
        /* Letterboxed modes keep pad rows at the top; squashed ones do not. */
        bool padded = v.view_rgb[0] == 127 && v.view_rgb[1] == 127;
        bool want_pad = strcmp(cases[i].mode, "tiny") && strcmp(cases[i].mode, "small");
        if (want_pad) TST_CHECK(padded, "%s: top row is padding", cases[i].mode);
        vis_views_free(&v);
    }
    vis_prep_params p = vis_prep_default_params();
    vis_views v;
    ocr_err e = {0};
    TST_CHECK(vis_preprocess(&v, rgb, 0, h, &p, &e) == OCR_E_ARG, "empty image refused");
    p.std[1] = 0;
    TST_CHECK(vis_preprocess(&v, rgb, w, h, &p, &e) == OCR_E_ARG, "zero std refused: %s", e.msg);
    free(rgb);
}

/* ------------------------------------------------------------ kernels */

static void test_conv(void)
{
    static const struct {
        int h, w, cin, cout, k, s, p, chunk;
    } cases[] = {{7, 9, 5, 6, 3, 1, 1, 4},  {8, 8, 4, 3, 3, 2, 1, 5},  {9, 7, 3, 5, 3, 2, 1, 1000},
                 {5, 5, 6, 4, 1, 1, 0, 3},  {16, 16, 3, 8, 4, 4, 0, 7}, {1, 1, 2, 3, 3, 2, 1, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int h = cases[i].h, w = cases[i].w, ci = cases[i].cin, co = cases[i].cout, k = cases[i].k;
        int s = cases[i].s, p = cases[i].p;
        int oh = vis_conv_out(h, k, s, p), ow = vis_conv_out(w, k, s, p);
        float *x = frand((size_t)h * w * ci, -1, 1), *wt = frand((size_t)co * k * k * ci, -1, 1);
        float *b = frand((size_t)co, -1, 1);
        float *y = falloc((size_t)oh * ow * co), *yr = falloc((size_t)oh * ow * co);
        float *cols = falloc((size_t)cases[i].chunk * k * k * ci);
        vis_conv2d_nhwc(y, x, h, w, ci, wt, i % 2 ? NULL : b, co, k, s, p, cols, cases[i].chunk);
        vis_conv2d_nhwc_ref(yr, x, h, w, ci, wt, i % 2 ? NULL : b, co, k, s, p);
        char what[64];
        snprintf(what, sizeof what, "conv %dx%dx%d k%d s%d p%d", h, w, ci, k, s, p);
        TST_CLOSE(what, y, yr, (size_t)oh * ow * co, 1e-5f, 1e-5f);
        free(x);
        free(wt);
        free(b);
        free(y);
        free(yr);
        free(cols);
    }
    /* Weight permutation [o][c][ky][kx] -> [o][ky][kx][c]. */
    float src[2 * 3 * 2 * 2], dst[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) src[i] = (float)i;
    vis_conv_weight_nhwc(dst, src, 2, 3, 2);
    /* o=1, ky=1, kx=0, c=2: src index ((1*3+2)*2+1)*2+0 = 22 */
    TST_CHECK(dst[((1 * 2 + 1) * 2 + 0) * 3 + 2] == 22.0f, "conv weight permutation");
}

static void test_attention(void)
{
    static const struct {
        int gh, gw, hd, qchunk;
        bool rel;
    } cases[] = {{6, 6, 16, 1000, true}, {5, 7, 8, 6, true}, {4, 4, 16, 3, true},
                 {17, 1, 16, 5, false}, {9, 1, 4, 1000, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int gh = cases[i].gh, gw = cases[i].gw, hd = cases[i].hd, n = gh * gw;
        int ld = 3 * hd + 5, ldo = hd + 3;
        float *qkv = frand((size_t)n * ld, -1, 1);
        float *rh = frand((size_t)(2 * gh - 1) * hd, -0.5f, 0.5f);
        float *rw = frand((size_t)(2 * gw - 1) * hd, -0.5f, 0.5f);
        float *o = falloc((size_t)n * ldo), *orf = falloc((size_t)n * ldo);
        for (int j = 0; j < n * ldo; j++) o[j] = orf[j] = 0;
        float *scr = falloc(vis_attn_scratch(n, hd, cases[i].qchunk));
        float *ph = falloc((size_t)n * (2 * gh - 1)), *pw = falloc((size_t)n * (2 * gw - 1));
        float scale = 1.0f / sqrtf((float)hd);
        const float *h_ = cases[i].rel ? rh : NULL, *w_ = cases[i].rel ? rw : NULL;
        vis_attn_rel(ph, pw, qkv, ld, n, hd, rh, 2 * gh - 1, rw, 2 * gw - 1);
        vis_attn_head(o, ldo, qkv, qkv + hd, qkv + 2 * hd, ld, hd, gh, gw, h_ ? ph : NULL,
                      w_ ? pw : NULL, scale, scr, cases[i].qchunk);
        vis_attn_head_ref(orf, ldo, qkv, qkv + hd, qkv + 2 * hd, ld, hd, gh, gw, h_, w_, scale);
        char what[64];
        snprintf(what, sizeof what, "attention %dx%d hd%d%s chunk %d", gh, gw, hd,
                 cases[i].rel ? " rel" : "", cases[i].qchunk);
        TST_CLOSE(what, o, orf, (size_t)n * ldo, 2e-6f, 1e-5f);
        free(qkv);
        free(rh);
        free(rw);
        free(o);
        free(orf);
        free(scr);
        free(ph);
        free(pw);
    }
    /* GELU with the A&S erf against libm's double erf, odd length for the
     * scalar tail. */
    int ng = 1001;
    float *gx = frand((size_t)ng, -9, 9), *gr = falloc((size_t)ng);
    gx[0] = 0.0f;
    gx[1] = -0.0f;
    gx[2] = 30.0f;
    gx[3] = -30.0f;
    for (int j = 0; j < ng; j++) gr[j] = (float)(0.5 * gx[j] * (1.0 + erf(gx[j] / sqrt(2.0))));
    vis_gelu_erf(gx, (size_t)ng);
    TST_CLOSE("gelu (A&S erf)", gx, gr, (size_t)ng, 1e-6f, 1e-6f);
    free(gx);
    free(gr);
    /* Softmax against a double reference over a wide range of logits. */
    int d = 301;
    float *x = frand((size_t)d, -60, 30), *r = falloc((size_t)d);
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < d; j++) mx = x[j] > mx ? x[j] : mx;
    for (int j = 0; j < d; j++) sum += exp((double)x[j] - mx);
    for (int j = 0; j < d; j++) r[j] = (float)(exp((double)x[j] - mx) / sum);
    vis_softmax_rows(x, 1, d);
    TST_CLOSE("softmax", x, r, (size_t)d, 1e-9f, 2e-6f);
    free(x);
    free(r);
}

/* The row-parallel helpers: every row exactly once, and the same numbers
 * as the single-threaded kernels (each thread owns whole rows). */
typedef struct {
    int *hits;
} hit_ctx;

static void hit_rows(void *ctx, int r0, int r1)
{
    hit_ctx *h = ctx;
    for (int r = r0; r < r1; r++) h->hits[r]++;
}

static void test_parallel_rows(void)
{
    int saved = ocr_blas_get_threads();
    ocr_blas_set_threads(3);
    int n = 1001, d = 257;
    int *hits = calloc((size_t)n, sizeof(int));
    hit_ctx h = {hits};
    vis_parallel_rows(n, 1000, hit_rows, &h);
    int bad = 0;
    for (int i = 0; i < n; i++) bad += hits[i] != 1;
    TST_CHECK(bad == 0, "every row visited once (%d off)", bad);
    free(hits);
    float *x = frand((size_t)n * d, -3, 3), *w = frand((size_t)d, 0.5f, 1.5f),
          *b = frand((size_t)d, -1, 1);
    float *y1 = falloc((size_t)n * d), *y2 = falloc((size_t)n * d);
    ocr_layernorm(y1, x, w, b, n, d, 1e-6f);
    vis_layernorm_rows(y2, x, w, b, n, d, 1e-6f);
    TST_CLOSE("layernorm rows (threaded)", y2, y1, (size_t)n * d, 0, 0);
    memcpy(y1, x, (size_t)n * d * sizeof(float));
    memcpy(y2, x, (size_t)n * d * sizeof(float));
    vis_gelu_erf(y1, (size_t)n * d);
    vis_gelu_erf_rows(y2, n, d);
    TST_CLOSE("gelu rows (threaded)", y2, y1, (size_t)n * d, 0, 0);
    memcpy(y1, x, (size_t)n * d * sizeof(float));
    memcpy(y2, x, (size_t)n * d * sizeof(float));
    ocr_quick_gelu(y1, (size_t)n * d);
    vis_quick_gelu_rows(y2, n, d);
    TST_CLOSE("quick_gelu rows (threaded)", y2, y1, (size_t)n * d, 0, 0);
    for (size_t i = 0; i < (size_t)n * d; i++) y1[i] = x[i] + w[i % d];
    memcpy(y2, x, (size_t)n * d * sizeof(float));
    float *wr = falloc((size_t)n * d);
    for (size_t i = 0; i < (size_t)n * d; i++) wr[i] = w[i % d];
    vis_add_rows(y2, wr, n, d);
    TST_CLOSE("add rows (threaded)", y2, y1, (size_t)n * d, 0, 0);
    /* A threaded global attention equals the single-threaded one. */
    int g = 24, hd = 8, na = g * g, ld = 3 * hd;
    float *qkv = frand((size_t)na * ld, -1, 1), *rt = frand((size_t)(2 * g - 1) * hd, -0.3f, 0.3f);
    float *ph = falloc((size_t)na * (2 * g - 1)), *pw = falloc((size_t)na * (2 * g - 1));
    float *o1 = falloc((size_t)na * hd), *o2 = falloc((size_t)na * hd);
    float *scr = falloc(vis_attn_scratch(na, hd, 256));
    vis_attn_rel(ph, pw, qkv, ld, na, hd, rt, 2 * g - 1, rt, 2 * g - 1);
    vis_attn_head(o1, hd, qkv, qkv + hd, qkv + 2 * hd, ld, hd, g, g, ph, pw, 0.35f, scr, 256);
    ocr_blas_set_threads(1);
    vis_attn_head(o2, hd, qkv, qkv + hd, qkv + 2 * hd, ld, hd, g, g, ph, pw, 0.35f, scr, 256);
    TST_CLOSE("attention 1 vs 3 threads", o1, o2, (size_t)na * hd, 1e-6f, 0);
    ocr_blas_set_threads(saved);
    free(x);
    free(w);
    free(b);
    free(y1);
    free(y2);
    free(wr);
    free(qkv);
    free(rt);
    free(ph);
    free(pw);
    free(o1);
    free(o2);
    free(scr);
}

/* ------------------------------------------------------ fixtures */

typedef struct {
    int lines, fails;
    double worst_act;
} conf_tally;

static void conf_line(void *ud, const vis_conform_line *l)
{
    conf_tally *t = ud;
    t->lines++;
    if (!l->pass) {
        t->fails++;
        printf("  FAIL %s: max|Δ| %.3g > %.3g %s\n", l->name, l->max_abs, l->tol, l->note);
    } else if (l->tol >= 1e-4 && l->max_abs > t->worst_act) {
        t->worst_act = l->max_abs;
    }
    if (getenv("TST_VERBOSE"))
        printf("  %-44s %10.3g  tol %-7g %s\n", l->name, l->max_abs, l->tol,
               l->pass ? "ok" : "FAIL");
}

static void test_fixtures(void)
{
    static const char *fx[] = {"ocr_mha", "mla_greedy", "mla_noaux_tc"};
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        const char *dir = cpath(fx[i]);
        if (!is_dir(dir) || !is_dir(cpath("common"))) {
            tst_skip(fx[i], "fixture not present");
            continue;
        }
        conf_tally t = {0, 0, 0};
        int nf = -1;
        ocr_err e = {0};
        float *rows = NULL;
        int nrows = 0;
        ocr_status rc = vis_conform(dir, i == 0 ? NULL : cpath("common"), conf_line, &t, &nf,
                                    &rows, &nrows, &e);
        TST_CHECK(rc == OCR_OK, "vis_conform %s: %s", fx[i], e.msg);
        TST_CHECK(rows && nrows == 49, "%s: %d image rows handed back", fx[i], nrows);
        free(rows);
        /* 17 preprocessing lines + 13 stages x 2 views + image_embeddings */
        TST_CHECK(t.lines >= 44 && t.fails == 0 && nf == 0,
                  "%s: %d lines, %d failed (worst activation |Δ| %.3g)", fx[i], t.lines, t.fails,
                  t.worst_act);
        printf("  %s: %d lines, worst activation |Δ| %.3g\n", fx[i], t.lines, t.worst_act);
    }
}

/* A model whose config asks for more blocks than the checkpoint holds is
 * refused with the tensor named. */
static void test_model_errors(void)
{
    const char *dir = cpath("ocr_mha");
    if (!is_dir(dir)) {
        tst_skip("model errors", "fixture not present");
        return;
    }
    ocr_config cfg;
    ocr_st *st = NULL;
    ocr_err e = {0};
    if (!TST_CHECK(ocr_config_load(&cfg, dir, &e) == OCR_OK, "%s", e.msg)) return;
    if (!TST_CHECK(ocr_st_open(&st, dir, &e) == OCR_OK, "%s", e.msg)) return;
    vis_model *m = NULL;
    ocr_vis_config bad = cfg.vis;
    bad.sam.layers = 5;
    ocr_status rc = vis_model_create(&m, &bad, st, &e);
    TST_CHECK(rc != OCR_OK && !m && strstr(e.msg, "blocks.4"), "extra block refused: %s", e.msg);
    bad = cfg.vis;
    bad.clip.width = 32;
    rc = vis_model_create(&m, &bad, st, &e);
    TST_CHECK(rc == OCR_E_CONFIG && !m, "CLIP width != SAM net_3 refused: %s", e.msg);
    bad = cfg.vis;
    bad.sam.out_chans = 16;
    rc = vis_model_create(&m, &bad, st, &e);
    TST_CHECK(rc != OCR_OK && !m && strstr(e.msg, "neck"), "wrong neck width refused: %s", e.msg);
    TST_CHECK(vis_model_create(&m, &cfg.vis, st, &e) == OCR_OK, "%s", e.msg);
    vis_state *s = NULL;
    TST_CHECK(vis_state_create(&s, m, 3, &e) == OCR_E_ARG, "tiny state refused");
    if (TST_CHECK(vis_state_create(&s, m, 256, &e) == OCR_OK, "%s", e.msg)) {
        float *pix = falloc((size_t)3 * 512 * 512), tok[64];
        TST_CHECK(vis_encode_view(s, pix, 512, tok, false, 0, &e) == OCR_E_ARG,
                  "view larger than the state refused");
        free(pix);
    }
    vis_state_destroy(&s);
    vis_state_destroy(&s); /* nulls the pointer: second call is a no-op */
    vis_model_destroy(&m);
    vis_model_destroy(&m);
    ocr_st_close(&st);
}

/* The released checkpoint is BF16. The fixture's weights rounded to BF16
 * and stored (a) as BF16 and (b) as F32 must give the same encoder output:
 * ocr_matmul widens BF16 exactly, so only GEMM order differs. */
static void test_bf16_checkpoint(void)
{
    const char *dir = cpath("ocr_mha");
    if (!is_dir(dir) || !is_dir(cpath("common"))) {
        tst_skip("bf16 checkpoint", "fixture not present");
        return;
    }
    ocr_config cfg;
    ocr_st *st = NULL;
    ocr_err e = {0};
    if (!TST_CHECK(ocr_config_load(&cfg, dir, &e) == OCR_OK, "%s", e.msg)) return;
    if (!TST_CHECK(ocr_st_open(&st, dir, &e) == OCR_OK, "%s", e.msg)) return;
    size_t n = ocr_st_count(st);
    ocr_tensor *tb = calloc(n, sizeof *tb), *tf = calloc(n, sizeof *tf);
    void **blocks = calloc(2 * n, sizeof *blocks);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const ocr_tensor *t = ocr_st_at(st, i);
        if (t->dtype != OCR_DT_F32) continue;
        size_t ne = (size_t)ocr_tensor_numel(t);
        float *f = falloc(ne);
        uint16_t *h = malloc((ne ? ne : 1) * sizeof(uint16_t));
        ocr_tensor_to_f32(f, t, &e);
        for (size_t j = 0; j < ne; j++) {
            h[j] = ocr_f32_to_bf16(f[j]);
            f[j] = ocr_bf16_to_f32(h[j]);
        }
        tb[k] = *t;
        tb[k].dtype = OCR_DT_BF16;
        tb[k].data = h;
        tb[k].nbytes = ne * sizeof(uint16_t);
        tf[k] = *t;
        tf[k].data = f;
        tf[k].nbytes = ne * sizeof(float);
        blocks[2 * k] = f;
        blocks[2 * k + 1] = h;
        k++;
    }
    char pb[1200], pf[1200];
    snprintf(pb, sizeof pb, "%s/bf16.safetensors", tst_tmpdir());
    snprintf(pf, sizeof pf, "%s/f32r.safetensors", tst_tmpdir());
    bool ok = TST_CHECK(ocr_st_write(pb, tb, k, NULL, &e) == OCR_OK, "%s", e.msg) &&
              TST_CHECK(ocr_st_write(pf, tf, k, NULL, &e) == OCR_OK, "%s", e.msg);
    for (size_t i = 0; i < 2 * k; i++) free(blocks[i]);
    free(blocks);
    free(tb);
    free(tf);
    ocr_st_close(&st);
    if (!ok) return;
    uint8_t *rgb = NULL;
    int w, h;
    vis_views v;
    vis_prep_params p = tiny_params();
    if (!TST_CHECK(vis_image_load(&rgb, &w, &h, cpath("common/test_image.png"), &e) == OCR_OK,
                   "%s", e.msg))
        return;
    if (!TST_CHECK(vis_preprocess(&v, rgb, w, h, &p, &e) == OCR_OK, "%s", e.msg)) {
        free(rgb);
        return;
    }
    float *out[2] = {NULL, NULL};
    int rows = 0;
    const char *paths[2] = {pb, pf};
    for (int i = 0; i < 2; i++) {
        ocr_st *s2 = NULL;
        vis_model *m = NULL;
        vis_state *s = NULL;
        if (TST_CHECK(ocr_st_open(&s2, paths[i], &e) == OCR_OK, "%s", e.msg) &&
            TST_CHECK(vis_model_create(&m, &cfg.vis, s2, &e) == OCR_OK, "%s", e.msg) &&
            TST_CHECK(vis_state_create(&s, m, 256, &e) == OCR_OK, "%s", e.msg)) {
            rows = vis_encode_rows(m, &v);
            out[i] = falloc((size_t)rows * m->n_embed);
            TST_CHECK(vis_encode(s, &v, out[i], rows, &e) == OCR_OK, "%s", e.msg);
        }
        vis_state_destroy(&s);
        vis_model_destroy(&m);
        ocr_st_close(&s2);
    }
    if (out[0] && out[1]) TST_CLOSE("BF16 vs F32-rounded checkpoint", out[0], out[1],
                                    (size_t)rows * 64, 1e-5f, 1e-5f);
    free(out[0]);
    free(out[1]);
    vis_views_free(&v);
    free(rgb);
}

/* The layout on views the fixtures do not have: a random tiny model on a
 * 1x3-tile portrait page and on the non-crop path. Rows must equal the
 * prompt's slots, with newlines where the grid rows end. */
static void test_layout_random(void)
{
    ocr_config cfg;
    ocr_config_default_params(&cfg);
    ocr_vis_config *c = &cfg.vis;
    c->present = true;
    c->sam.img_size = 128; /* pos table 8x8: upsampled for 256 views, rel tables too */
    c->sam.width = 24;
    c->sam.layers = 2;
    c->sam.heads = 2;
    c->sam.window_size = 5;
    c->sam.out_chans = 8;
    c->sam.n_global_attn = 1;
    c->sam.global_attn_indexes[0] = 1;
    c->sam.downsample_channels[0] = 12;
    c->sam.downsample_channels[1] = 16;
    c->clip.width = 16;
    c->clip.layers = 1;
    c->clip.heads = 2;
    c->clip.ffn_hidden_size = 32;
    c->clip.image_size = 42; /* 3x3 grid: up to 4x4 (256 view), down to 2x2 (tiles) */
    c->clip.patch_size = 14;
    c->projector.input_dim = 32;
    c->projector.n_embed = 8;
    vis_model *m = NULL;
    ocr_err e = {0};
    if (!TST_CHECK(vis_model_create_random(&m, c, 7, &e) == OCR_OK, "%s", e.msg)) return;
    vis_prep_params p = vis_prep_default_params();
    p.base_size = 256;
    p.image_size = 128;
    p.crop_threshold = 128;
    int w = 200, h = 500;
    uint8_t *rgb = malloc((size_t)3 * w * h);
    for (int i = 0; i < 3 * w * h; i++) rgb[i] = (uint8_t)(i * 13 + (i >> 7));
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            p.crop_mode = false;
            p.image_size = 192; /* > threshold: letterbox, g = 12 (not a multiple of 5) */
        }
        vis_views v;
        if (!TST_CHECK(vis_preprocess(&v, rgb, w, h, &p, &e) == OCR_OK, "%s", e.msg)) break;
        int rows = vis_encode_rows(m, &v);
        TST_CHECK(rows == v.n_slots, "pass %d: %d rows vs %d prompt slots (%dx%d tiles)", pass,
                  rows, v.n_slots, v.tiles_w, v.tiles_h);
        vis_state *s = NULL;
        int maxv = v.view_size > v.tile_size ? v.view_size : v.tile_size;
        float *out = falloc((size_t)rows * 8);
        if (TST_CHECK(vis_state_create(&s, m, maxv, &e) == OCR_OK, "%s", e.msg)) {
            TST_CHECK(vis_encode(s, &v, out, rows - 1, &e) == OCR_E_ARG, "short output refused");
            TST_CHECK(vis_encode(s, &v, out, rows, &e) == OCR_OK, "%s", e.msg);
            bool ok = memcmp(out + (size_t)(rows - 1) * 8, m->separator, 8 * sizeof(float)) == 0;
            int hv = (int)lrint(sqrt(vis_view_tokens(m, v.view_size)));
            int base = rows - 1 - hv * (hv + 1);
            for (int r = 0; r < hv; r++)
                ok = ok && memcmp(out + (size_t)(base + r * (hv + 1) + hv) * 8, m->newline,
                                  8 * sizeof(float)) == 0;
            if (v.n_tiles) {
                int h2 = (int)lrint(sqrt(vis_view_tokens(m, v.tile_size))), W = v.tiles_w * h2 + 1;
                for (int r = 0; r < v.tiles_h * h2; r++)
                    ok = ok && memcmp(out + (size_t)(r * W + W - 1) * 8, m->newline,
                                      8 * sizeof(float)) == 0;
            }
            bool finite = true;
            for (int i = 0; i < rows * 8; i++) finite = finite && isfinite(out[i]);
            TST_CHECK(ok && finite, "pass %d: newlines, separator and finite tokens", pass);
        }
        free(out);
        vis_state_destroy(&s);
        vis_views_free(&v);
    }
    TST_CHECK(vis_view_flops(m, 256) > 0, "flops");
    free(rgb);
    vis_model_destroy(&m);
}

/* Formula reads end with their braces balanced. */
static void test_latex_balance(void)
{
    static const char *const cases[][2] = {
        {"\\frac{a}{b", "\\frac{a}{b}"},
        {"a}b{c", "ab{c}"},
        {"}}x", "x"},
        {"\\{x\\}}", "\\{x\\}"},
        {"x^{2}_{i}", "x^{2}_{i}"},
        {"{{{", "{{{}}}"},
        {"\\\\}", "\\\\"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = strdup(cases[i][0]);
        ocr_err e = {0};
        TST_CHECK(s && vis_latex_balance(&s, &e) == OCR_OK && !strcmp(s, cases[i][1]), "'%s' -> '%s', want '%s'",
                  cases[i][0], s ? s : "(null)", cases[i][1]);
        free(s);
    }
}

/* Long lines are cut at word gaps, not between letters. Columns of a
 * 32-px line: letters 7 px of ink with 1-px gaps, words apart by 9 px. */
static void test_nano_cut(void)
{
    enum { W = 800, H = 32 };
    double col[W];
    int word_gap_mid = -1;
    for (int x = 0, inword = 0; x < W; x++) {
        /* words of 6 letters (8 px each) then a 9-px gap: period 57 */
        int p = x % 57;
        inword = p < 48;
        col[x] = inword && p % 8 != 7 ? 10.0 : 0.0;
        if (!inword && p == 52 && x >= 512 * 2 / 3 && x <= 512) word_gap_mid = x;
    }
    bool gap = false;
    int cut = vis_nano_cut_at(col, W, 0, 512, H, &gap);
    /* the last word gap inside [341, 512] is 504..512: its middle */
    TST_CHECK(gap && cut >= 504 && cut <= 512 && col[cut] == 0.0,
              "cut at a word gap: %d (gap %d; a gap is centred near %d)", cut, gap, word_gap_mid);
    /* Only letter gaps: cut in one, no space when joined. */
    for (int x = 0; x < W; x++) col[x] = x % 8 == 7 ? 0.0 : 10.0;
    cut = vis_nano_cut_at(col, W, 0, 512, H, &gap);
    TST_CHECK(!gap && col[cut] == 0.0 && cut >= 341 && cut <= 512, "letter gap: cut %d, gap %d", cut, gap);
    /* No blank column: the emptiest one. */
    for (int x = 0; x < W; x++) col[x] = 5.0 + (x == 400 ? -4.0 : 0.0) + (x == 100 ? -5.0 : 0.0);
    cut = vis_nano_cut_at(col, W, 0, 512, H, &gap);
    TST_CHECK(!gap && cut == 400, "no blank column: cut %d (want 400, the emptiest after 341)", cut);
    /* A piece that does not start at 0 and the widest of two runs. */
    for (int x = 0; x < W; x++) col[x] = 10.0;
    for (int x = 600; x < 604; x++) col[x] = 0.0;  /* 4 px */
    for (int x = 650; x < 660; x++) col[x] = 0.0;  /* 10 px */
    cut = vis_nano_cut_at(col, W, 200, 512, H, &gap);
    TST_CHECK(gap && cut == 655, "widest run from 200: cut %d, want 655", cut);
}

int main(void)
{
    TST_RUN(test_pil_identity_and_constant);
    TST_RUN(test_aa_weights);
    TST_RUN(test_tile_grid_and_slots);
    TST_RUN(test_preprocess_modes);
    TST_RUN(test_preprocess_fixture);
    TST_RUN(test_conv);
    TST_RUN(test_attention);
    TST_RUN(test_parallel_rows);
    TST_RUN(test_fixtures);
    TST_RUN(test_model_errors);
    TST_RUN(test_bf16_checkpoint);
    TST_RUN(test_layout_random);
    TST_RUN(test_latex_balance);
    TST_RUN(test_nano_cut);
    return tst_finish();
}

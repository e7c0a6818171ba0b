/* vision/vis_conform.c — the vision half of `vlocr conform`: preprocessing
 * and every encoder stage against the goldens the official code dumped
 * (../shared/conformance/README.md).
 *
 * Preprocessing runs from common/test_image.png with common/preprocess.json's
 * parameters; the prompt goes through the fixtures' synthetic tokenizer
 * (byte b -> 3 + b, six specials), which is what the goldens' input_ids
 * were made with. Encoder stages are compared as they are produced, through
 * the state's tap, so nothing but the goldens is kept.
 */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vision/vis.h"

#define ACT_TOL 1e-4  /* fp32 activations (README: observed floor 8e-6) */
#define PIX_TOL 1e-6  /* normalised pixels: same float ops as torchvision */

typedef struct {
    vis_conform_line_fn cb;
    void *ud;
    int n_fail;
} reporter;

static void report(reporter *r, const char *name, double max_abs, double tol, bool pass,
                   const char *note)
{
    vis_conform_line l = {name, max_abs, tol, pass, note ? note : ""};
    if (!pass) r->n_fail++;
    if (r->cb) r->cb(r->ud, &l);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* --------------------------------------------------- fixture tokenizer */

/* The synthetic tokenizer of the conformance fixtures (README "Tokenizer"). */
static size_t fixture_tokenize(int32_t *ids, size_t cap, const char *s, size_t len)
{
    static const struct {
        const char *t;
        int32_t id;
    } sp[] = {{"<image>", 300},  {"<|ref|>", 301}, {"<|/ref|>", 302},
              {"<|det|>", 303},  {"<|/det|>", 304}, {"<|grounding|>", 305}};
    size_t n = 0;
    for (size_t i = 0; i < len && n < cap;) {
        size_t k = 0, nsp = sizeof sp / sizeof sp[0];
        for (; k < nsp; k++) {
            size_t tl = strlen(sp[k].t);
            if (i + tl <= len && memcmp(s + i, sp[k].t, tl) == 0) {
                ids[n++] = sp[k].id;
                i += tl;
                break;
            }
        }
        if (k == nsp) ids[n++] = 3 + (int32_t)(uint8_t)s[i++];
    }
    return n;
}

/* ------------------------------------------------- preprocess.json */

typedef struct {
    vis_prep_params p;
    char prompt[1024];
    int32_t image_id;
} prep_cfg;

static ocr_status read_prep(prep_cfg *pc, const char *path, ocr_err *e)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return ocr_err_set(e, OCR_E_FORMAT, "%s: %s (line %d)", path, je.text, je.line);
    pc->p = vis_prep_default_params();
    snprintf(pc->prompt, sizeof pc->prompt, "<image>\n<|grounding|>Convert the document to markdown. ");
    pc->image_id = 128815;
    const char *ik[] = {"base_size", "image_size", "min_num", "max_num", "crop_threshold",
                        "patch_size", "downsample_ratio", "image_token_id"};
    int *iv[] = {&pc->p.base_size, &pc->p.image_size, &pc->p.min_tiles, &pc->p.max_tiles,
                 &pc->p.crop_threshold, &pc->p.patch_size, &pc->p.downsample_ratio, NULL};
    for (size_t i = 0; i < sizeof ik / sizeof ik[0]; i++) {
        json_t *v = json_object_get(root, ik[i]);
        if (!v) continue;
        if (!json_is_integer(v)) {
            json_decref(root);
            return ocr_err_set(e, OCR_E_FORMAT, "%s: '%s' is not an integer", path, ik[i]);
        }
        int x = (int)json_integer_value(v);
        if (iv[i]) *iv[i] = x;
        else pc->image_id = x;
    }
    json_t *v = json_object_get(root, "crop_mode");
    if (json_is_boolean(v)) pc->p.crop_mode = json_is_true(v);
    v = json_object_get(root, "prompt");
    if (json_is_string(v)) snprintf(pc->prompt, sizeof pc->prompt, "%s", json_string_value(v));
    const char *ak[] = {"image_mean", "image_std", "pad_color"};
    for (int a = 0; a < 3; a++) {
        json_t *arr = json_object_get(root, ak[a]);
        if (!json_is_array(arr) || json_array_size(arr) != 3) continue;
        for (int c = 0; c < 3; c++) {
            double x = json_number_value(json_array_get(arr, (size_t)c));
            if (a == 0) pc->p.mean[c] = (float)x;
            else if (a == 1) pc->p.std[c] = (float)x;
            else pc->p.pad_rgb[c] = (uint8_t)x;
        }
    }
    json_decref(root);
    return vis_prep_params_check(&pc->p, e);
}

/* ---------------------------------------------------- preprocessing */

static bool load_golden(reporter *r, const char *name, ocr_npy *a, const char *path)
{
    ocr_err e = {0};
    if (ocr_npy_load(a, path, &e) == OCR_OK) return true;
    report(r, name, INFINITY, 0, false, e.msg);
    return false;
}

static void cmp_png(reporter *r, const char *name, const char *path, const uint8_t *got, int size)
{
    uint8_t *ref = NULL;
    int w = 0, h = 0;
    ocr_err e = {0};
    if (vis_image_load(&ref, &w, &h, path, &e) != OCR_OK) {
        report(r, name, INFINITY, 0, false, e.msg);
        return;
    }
    if (w != size || h != size) {
        char note[96];
        snprintf(note, sizeof note, "golden is %dx%d, ours %dx%d", w, h, size, size);
        report(r, name, INFINITY, 0, false, note);
    } else {
        int worst = 0;
        for (size_t i = 0; i < (size_t)3 * w * h; i++) {
            int d = abs((int)ref[i] - (int)got[i]);
            if (d > worst) worst = d;
        }
        report(r, name, worst, 0, worst == 0, "");
    }
    free(ref);
}

static void cmp_f32(reporter *r, const char *name, const char *path, const float *got, size_t n,
                    double tol)
{
    ocr_npy a;
    if (!load_golden(r, name, &a, path)) return;
    if (a.dtype != OCR_DT_F32 || (size_t)ocr_npy_numel(&a) != n) {
        char note[96];
        snprintf(note, sizeof note, "golden has %lld %s values, ours %zu floats",
                 (long long)ocr_npy_numel(&a), ocr_dtype_name(a.dtype), n);
        report(r, name, INFINITY, tol, false, note);
    } else {
        double worst = 0;
        const float *ref = a.data;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)got[i] - (double)ref[i]);
            if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
        }
        report(r, name, worst, tol, worst <= tol, "");
    }
    ocr_npy_free(&a);
}

/* Integer goldens (ids, masks, the tile grid): exact, |Δ| of the worst. */
static void cmp_int(reporter *r, const char *name, const char *path, const int64_t *got, size_t n)
{
    ocr_npy a;
    if (!load_golden(r, name, &a, path)) return;
    size_t m = (size_t)ocr_npy_numel(&a);
    if (m != n || (a.dtype != OCR_DT_I64 && a.dtype != OCR_DT_U8 && a.dtype != OCR_DT_BOOL)) {
        char note[96];
        snprintf(note, sizeof note, "golden has %zu %s values, ours %zu", m,
                 ocr_dtype_name(a.dtype), n);
        report(r, name, INFINITY, 0, false, note);
    } else {
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t ref = a.dtype == OCR_DT_I64 ? ((const int64_t *)a.data)[i]
                                                : ((const uint8_t *)a.data)[i];
            double d = fabs((double)(ref - got[i]));
            if (d > worst) worst = d;
        }
        report(r, name, worst, 0, worst == 0, "");
    }
    ocr_npy_free(&a);
}

/* The plain template strips the user text; the prompt is then split at
 * <image> and each side tokenised. */
static ocr_status prompt_ids(const prep_cfg *pc, const vis_views *v, int64_t **ids_out,
                             int64_t **mask_out, size_t *n_out, ocr_err *e)
{
    const char *s = pc->prompt;
    size_t len = strlen(s);
    while (len && strchr(" \t\n\r\f\v", s[len - 1])) len--;
    while (len && strchr(" \t\n\r\f\v", *s)) s++, len--;
    const char *img = NULL;
    for (size_t i = 0; i + 7 <= len && !img; i++)
        if (memcmp(s + i, "<image>", 7) == 0) img = s + i;
    size_t nb = img ? (size_t)(img - s) : len;
    const char *rest = img ? img + 7 : s + len;
    size_t na = (size_t)(s + len - rest);
    size_t cap = len + (size_t)v->n_slots + 2;
    int32_t *before = malloc((nb + 1) * sizeof(int32_t)), *after = malloc((na + 1) * sizeof(int32_t));
    int32_t *ids = malloc(cap * sizeof(int32_t));
    uint8_t *mask = malloc(cap);
    int64_t *i64 = malloc(cap * sizeof(int64_t)), *m64 = malloc(cap * sizeof(int64_t));
    ocr_status rc = OCR_E_NOMEM;
    size_t n = 0;
    if (before && after && ids && mask && i64 && m64) {
        size_t kb = fixture_tokenize(before, nb, s, nb);
        size_t ka = fixture_tokenize(after, na, rest, na);
        rc = vis_prompt_build(ids, mask, cap, &n, 0, before, kb, pc->image_id,
                              img ? v->n_slots : 0, after, ka, e);
        for (size_t i = 0; rc == OCR_OK && i < n; i++) {
            i64[i] = ids[i];
            m64[i] = mask[i];
        }
    } else {
        ocr_err_set(e, rc, "vis_conform: out of memory");
    }
    free(before);
    free(after);
    free(ids);
    free(mask);
    if (rc != OCR_OK) {
        free(i64);
        free(m64);
        return rc;
    }
    *ids_out = i64;
    *mask_out = m64;
    *n_out = n;
    return OCR_OK;
}

/* The image a preprocessing golden directory starts from: test_image*.png. */
static bool find_image(char *out, size_t cap, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    bool found = false;
    while (!found && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "test_image", 10) == 0 && l > 4 &&
            strcmp(de->d_name + l - 4, ".png") == 0) {
            snprintf(out, cap, "%s/%s", dir, de->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* Preprocess dir's test image and compare with its goldens. On success
 * *views holds the views (caller frees). */
static ocr_status check_preprocess(reporter *r, const char *dir, const char *label,
                                   const prep_cfg *pc, vis_views *views, ocr_err *e)
{
    char img[1200], path[1200], name[160];
    memset(views, 0, sizeof *views);
    if (!find_image(img, sizeof img, dir))
        return ocr_err_set(e, OCR_E_NOTFOUND, "vis_conform: no test_image*.png in %s", dir);
    uint8_t *rgb = NULL;
    int w, h;
    ocr_status rc = vis_image_load(&rgb, &w, &h, img, e);
    if (rc == OCR_OK) rc = vis_preprocess(views, rgb, w, h, &pc->p, e);
    free(rgb);
    if (rc != OCR_OK) return rc;
#define GOLD(file) (snprintf(path, sizeof path, "%s/%s", dir, file), path)
#define NAME(what) (snprintf(name, sizeof name, "preprocess/%s%s", label, what), name)
    if (file_exists(GOLD("global_view.png")))
        cmp_png(r, NAME("global_view.png"), path, views->view_rgb, views->view_size);
    size_t tp = (size_t)3 * views->tile_size * views->tile_size;
    for (int t = 0;; t++) {
        char f[32];
        snprintf(f, sizeof f, "crop_%d.png", t);
        bool have = file_exists(GOLD(f));
        if (!have && t >= views->n_tiles) break;
        if (t >= views->n_tiles) {
            report(r, NAME(f), INFINITY, 0, false, "golden tile we did not produce");
            continue;
        }
        if (have) cmp_png(r, NAME(f), path, views->tiles_rgb + t * tp, views->tile_size);
    }
    if (file_exists(GOLD("pixel_values_global.npy")))
        cmp_f32(r, NAME("pixel_values_global"), path, views->view,
                (size_t)3 * views->view_size * views->view_size, PIX_TOL);
    if (file_exists(GOLD("pixel_values_crops.npy")))
        cmp_f32(r, NAME("pixel_values_crops"), path, views->tiles, (size_t)views->n_tiles * tp,
                PIX_TOL);
    if (file_exists(GOLD("images_spatial_crop.npy"))) {
        int64_t sc[2] = {views->tiles_w, views->tiles_h};
        cmp_int(r, NAME("images_spatial_crop"), path, sc, 2);
    }
    int64_t *ids = NULL, *mask = NULL;
    size_t n = 0;
    rc = prompt_ids(pc, views, &ids, &mask, &n, e);
    if (rc == OCR_OK) {
        if (file_exists(GOLD("input_ids.npy"))) cmp_int(r, NAME("input_ids"), path, ids, n);
        if (file_exists(GOLD("images_seq_mask.npy")))
            cmp_int(r, NAME("images_seq_mask"), path, mask, n);
    }
#undef GOLD
#undef NAME
    free(ids);
    free(mask);
    if (rc != OCR_OK) vis_views_free(views);
    return rc;
}

/* ------------------------------------------------------ encoder stages */

typedef struct {
    char name[96]; /* "vision/local/sam_block0_out" */
    char file[64]; /* "sam_block0_out.npy" */
    bool local;
    ocr_npy ref;
    bool loaded, absent;
    int views_seen;
    double worst;
    char note[160];
} stage_cmp;

typedef struct {
    const char *vision_dir;
    stage_cmp *v;
    size_t n, cap;
    bool oom;
} tap_ctx;

static stage_cmp *stage_get(tap_ctx *t, const char *stage, bool local)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].local == local && strcmp(t->v[i].file, stage) == 0) return &t->v[i];
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 64;
        stage_cmp *nv = realloc(t->v, nc * sizeof *nv);
        if (!nv) {
            t->oom = true;
            return NULL;
        }
        t->v = nv;
        t->cap = nc;
    }
    stage_cmp *s = &t->v[t->n++];
    memset(s, 0, sizeof *s);
    s->local = local;
    snprintf(s->file, sizeof s->file, "%s", stage);
    snprintf(s->name, sizeof s->name, "vision/%s/%s", local ? "local" : "global", stage);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/%s.npy", t->vision_dir, local ? "local" : "global", stage);
    if (!file_exists(path)) {
        s->absent = true;
        return s;
    }
    ocr_err e = {0};
    if (ocr_npy_load(&s->ref, path, &e) != OCR_OK) {
        snprintf(s->note, sizeof s->note, "%s", e.msg);
        s->worst = INFINITY;
        return s;
    }
    s->loaded = true;
    if (s->ref.dtype != OCR_DT_F32) {
        snprintf(s->note, sizeof s->note, "golden dtype %s, expected F32", ocr_dtype_name(s->ref.dtype));
        s->worst = INFINITY;
        s->loaded = false;
        ocr_npy_free(&s->ref);
    }
    return s;
}

/* The neck and the convs are dumped NCHW; SAM blocks NHWC; CLIP and the
 * projector (B, T, C). Ours is channels-last everywhere. */
static bool golden_nchw(const char *stage)
{
    return strncmp(stage, "sam_neck", 8) == 0 || strncmp(stage, "sam_net", 7) == 0;
}

static void on_tap(void *ud, const vis_tap_event *ev)
{
    tap_ctx *t = ud;
    stage_cmp *s = stage_get(t, ev->stage, ev->local);
    if (!s) return;
    s->views_seen++;
    if (s->absent || !s->loaded) return;
    size_t per = (size_t)ev->h * ev->w * ev->c;
    const ocr_npy *a = &s->ref;
    bool nchw = golden_nchw(ev->stage);
    /* Shape: [B, h, w, c] / [B, c, h, w] / [B, T, C]. */
    bool ok = a->ndim >= 2 && a->shape[0] > ev->view &&
              (size_t)ocr_npy_numel(a) == (size_t)a->shape[0] * per;
    if (ok && a->ndim == 4)
        ok = nchw ? (a->shape[1] == ev->c && a->shape[2] == ev->h && a->shape[3] == ev->w)
                  : (a->shape[1] == ev->h && a->shape[2] == ev->w && a->shape[3] == ev->c);
    if (!ok) {
        char sb[64];
        snprintf(s->note, sizeof s->note, "golden shape %s, ours view %d of [%d,%d,%d]%s",
                 ocr_shape_str(sb, sizeof sb, a->ndim, a->shape), ev->view, ev->h, ev->w, ev->c,
                 nchw ? " (NCHW)" : "");
        s->worst = INFINITY;
        return;
    }
    const float *ref = (const float *)a->data + (size_t)ev->view * per;
    double worst = s->worst;
    size_t hw = (size_t)ev->h * ev->w;
    for (size_t p = 0; p < hw; p++)
        for (int c = 0; c < ev->c; c++) {
            float g = ev->x[p * (size_t)ev->c + (size_t)c];
            float rv = nchw ? ref[(size_t)c * hw + p] : ref[p * (size_t)ev->c + (size_t)c];
            double d = fabs((double)g - (double)rv);
            if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
        }
    s->worst = worst;
}

/* Golden files in vision/<kind>/ that no stage of ours matched. */
static void report_unmatched(reporter *r, tap_ctx *t, bool local)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", t->vision_dir, local ? "local" : "global");
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".npy") != 0) continue;
        char stage[64];
        snprintf(stage, sizeof stage, "%.*s", (int)(l - 4), de->d_name);
        bool seen = false;
        for (size_t i = 0; i < t->n && !seen; i++)
            seen = t->v[i].local == local && strcmp(t->v[i].file, stage) == 0;
        if (!seen) {
            char name[128];
            snprintf(name, sizeof name, "vision/%s/%s", local ? "local" : "global", stage);
            report(r, name, INFINITY, ACT_TOL, false, "golden stage this model never produced");
        }
    }
    closedir(d);
}

static ocr_status check_encoder(reporter *r, const char *fixture_dir, const vis_views *v,
                                float **rows_out, int *n_rows_out, ocr_err *e)
{
    char path[1200], vdir[1200];
    ocr_config cfg;
    ocr_st *st = NULL;
    vis_model *m = NULL;
    vis_state *s = NULL;
    float *out = NULL;
    tap_ctx t = {vdir, NULL, 0, 0, false};
    snprintf(vdir, sizeof vdir, "%s/vision", fixture_dir);
    ocr_status rc = ocr_config_load(&cfg, fixture_dir, e);
    if (rc == OCR_OK) rc = ocr_st_open(&st, fixture_dir, e);
    if (rc == OCR_OK) rc = vis_model_create(&m, &cfg.vis, st, e);
    int maxv = v->view_size > v->tile_size ? v->view_size : v->tile_size;
    if (rc == OCR_OK) rc = vis_state_create(&s, m, maxv, e);
    int rows = rc == OCR_OK ? vis_encode_rows(m, v) : 0;
    if (rc == OCR_OK && !(out = malloc((size_t)rows * m->n_embed * sizeof(float))))
        rc = ocr_err_set(e, OCR_E_NOMEM, "vis_conform: out of memory");
    if (rc == OCR_OK) {
        vis_state_set_tap(s, on_tap, &t);
        rc = vis_encode(s, v, out, rows, e);
    }
    if (rc == OCR_OK && t.oom) rc = ocr_err_set(e, OCR_E_NOMEM, "vis_conform: out of memory");
    if (rc == OCR_OK) {
        /* Local stages first, then global, each in the order they ran. */
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < t.n; i++) {
                stage_cmp *sc = &t.v[i];
                if (sc->local != (pass == 0) || sc->absent) continue;
                if (!sc->note[0] && sc->loaded && sc->ref.shape[0] != sc->views_seen)
                    snprintf(sc->note, sizeof sc->note, "golden has %lld views, we ran %d",
                             (long long)sc->ref.shape[0], sc->views_seen);
                bool pass_ok = !sc->note[0] && sc->worst <= ACT_TOL;
                report(r, sc->name, sc->worst, ACT_TOL, pass_ok, sc->note);
            }
        report_unmatched(r, &t, true);
        report_unmatched(r, &t, false);
        snprintf(path, sizeof path, "%s/image_embeddings.npy", vdir);
        if (file_exists(path))
            cmp_f32(r, "vision/image_embeddings", path, out, (size_t)rows * m->n_embed, ACT_TOL);
        if (rows_out) {
            *rows_out = out;
            *n_rows_out = rows;
            out = NULL;
        }
    }
    for (size_t i = 0; i < t.n; i++)
        if (t.v[i].loaded) ocr_npy_free(&t.v[i].ref);
    free(t.v);
    free(out);
    vis_state_destroy(&s);
    vis_model_destroy(&m);
    ocr_st_close(&st);
    return rc == OCR_OK ? OCR_OK : ocr_err_prefix(e, "vis_conform %s", fixture_dir);
}

ocr_status vis_conform(const char *fixture_dir, const char *common_dir, vis_conform_line_fn cb,
                       void *ud, int *n_fail, float **img_rows, int *n_img_rows, ocr_err *e)
{
    reporter r = {cb, ud, 0};
    char path[1200], cdir[1100];
    prep_cfg pc;
    vis_views views;
    if (n_fail) *n_fail = 0;
    if (img_rows) *img_rows = NULL;
    if (n_img_rows) *n_img_rows = 0;
    if (img_rows && !n_img_rows)
        return ocr_err_set(e, OCR_E_ARG, "vis_conform: img_rows without n_img_rows");
    if (!common_dir && fixture_dir) {
        snprintf(cdir, sizeof cdir, "%s/../common", fixture_dir);
        common_dir = cdir;
    }
    if (!common_dir) return ocr_err_set(e, OCR_E_ARG, "vis_conform: no common directory");
    snprintf(path, sizeof path, "%s/preprocess.json", common_dir);
    ocr_status rc = read_prep(&pc, path, e);
    if (rc == OCR_OK) rc = check_preprocess(&r, common_dir, "", &pc, &views, e);
    if (rc != OCR_OK) return rc;
    snprintf(path, sizeof path, "%s/global_only", common_dir);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        vis_views go;
        rc = check_preprocess(&r, path, "global_only/", &pc, &go, e);
        if (rc == OCR_OK) vis_views_free(&go);
    }
    if (rc == OCR_OK && fixture_dir)
        rc = check_encoder(&r, fixture_dir, &views, img_rows, n_img_rows, e);
    vis_views_free(&views);
    if (n_fail) *n_fail = r.n_fail;
    return rc;
}

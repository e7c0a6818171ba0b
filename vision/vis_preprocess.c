/* vision/vis_preprocess.c — model inputs exactly as the official infer()
 * (modeling_deepseekocr.py) builds them: dynamic_preprocess's tile choice
 * and row-major tiles, ImageOps.pad of the global view, BasicImageTransform
 * (ToTensor + Normalize), and the image slots of the prompt.
 *
 * Everything is parametrised (vis_prep_params) so that the conformance
 * fixture's "tiny gundam" (base 256, tiles 128) runs the same code as the
 * released modes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"
#include "vision/vis.h"

vis_prep_params vis_prep_default_params(void)
{
    vis_prep_params p;
    memset(&p, 0, sizeof p);
    p.base_size = 1024;
    p.image_size = 640;
    p.crop_mode = true;
    p.crop_threshold = 640;
    p.min_tiles = 2;
    p.max_tiles = 9;
    p.patch_size = 16;
    p.downsample_ratio = 4;
    for (int c = 0; c < 3; c++) {
        p.mean[c] = 0.5f;
        p.std[c] = 0.5f;
        /* infer(): tuple(int(x * 255) for x in image_transform.mean) */
        p.pad_rgb[c] = (uint8_t)(int)(0.5 * 255);
    }
    return p;
}

ocr_status vis_prep_params_mode(vis_prep_params *p, const char *mode, ocr_err *e)
{
    /* run_dpsk_ocr.py's table of modes. */
    static const struct {
        const char *name;
        int base, image;
        bool crop;
    } modes[] = {
        {"tiny", 512, 512, false},     {"small", 640, 640, false},
        {"base", 1024, 1024, false},   {"large", 1280, 1280, false},
        {"gundam", 1024, 640, true},
    };
    *p = vis_prep_default_params();
    for (size_t i = 0; mode && i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(mode, modes[i].name) == 0) {
            p->base_size = modes[i].base;
            p->image_size = modes[i].image;
            p->crop_mode = modes[i].crop;
            return OCR_OK;
        }
    }
    return ocr_err_set(e, OCR_E_ARG,
                       "vis_prep_params_mode: unknown mode '%s' (tiny, small, base, large, gundam)",
                       mode ? mode : "(null)");
}

ocr_status vis_prep_params_check(const vis_prep_params *p, ocr_err *e)
{
#define NEED(cond, what)                                                        \
    if (!(cond)) return ocr_err_set(e, OCR_E_ARG, "vis_prep_params: %s", what)
    NEED(p->base_size > 0 && p->base_size <= 8192, "base_size must be 1..8192");
    NEED(p->image_size > 0 && p->image_size <= 8192, "image_size must be 1..8192");
    NEED(p->patch_size > 0 && p->downsample_ratio > 0, "patch_size and downsample_ratio must be positive");
    NEED(!p->crop_mode || (p->min_tiles >= 1 && p->max_tiles >= p->min_tiles && p->max_tiles <= 64),
         "tiles need 1 <= min_tiles <= max_tiles <= 64");
    for (int c = 0; c < 3; c++) NEED(p->std[c] != 0.0f, "std must be non-zero");
#undef NEED
    return OCR_OK;
}

/* dynamic_preprocess + find_closest_aspect_ratio. The reference sorts a
 * Python set by i*j, so the order among ratios of equal product is the set's
 * hash order; we use ascending (i, j). It cannot change the result: two
 * ratios of equal product lie on either side of another candidate (1, 1/2
 * or 2), which is always strictly closer to their midpoint. */
void vis_tile_grid(int *tiles_w, int *tiles_h, int w, int h, const vis_prep_params *p)
{
    double aspect = (double)w / (double)h;
    double best_diff = INFINITY;
    int bi = 1, bj = 1;
    double area = (double)w * (double)h;
    for (int prod = p->min_tiles; prod <= p->max_tiles; prod++) {
        for (int i = 1; i <= prod; i++) {
            if (prod % i) continue;
            int j = prod / i;
            double diff = fabs(aspect - (double)i / (double)j);
            if (diff < best_diff) {
                best_diff = diff;
                bi = i;
                bj = j;
            } else if (diff == best_diff) {
                if (area > 0.5 * p->image_size * p->image_size * i * j) {
                    bi = i;
                    bj = j;
                }
            }
        }
    }
    *tiles_w = bi;
    *tiles_h = bj;
}

static int ceil_div_tokens(int size, const vis_prep_params *p)
{
    /* math.ceil((size // patch_size) / downsample_ratio) */
    int g = size / p->patch_size;
    return (g + p->downsample_ratio - 1) / p->downsample_ratio;
}

int vis_image_slots(const vis_prep_params *p, int n_tiles, int tiles_w, int tiles_h)
{
    if (!p->crop_mode) {
        int nq = ceil_div_tokens(p->image_size, p);
        return (nq + 1) * nq + 1;
    }
    int nb = ceil_div_tokens(p->base_size, p);
    int n = (nb + 1) * nb + 1;
    if (n_tiles > 0) {
        int nq = ceil_div_tokens(p->image_size, p);
        n += (nq * tiles_w + 1) * (nq * tiles_h);
    }
    return n;
}

void vis_normalize(float *dst, const uint8_t *rgb, size_t plane, const float mean[3],
                   const float std[3])
{
    /* ToTensor divides by 255 in float, Normalize subtracts and divides. */
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++) {
            float x = (float)rgb[(size_t)c * plane + i] / 255.0f;
            dst[(size_t)c * plane + i] = (x - mean[c]) / std[c];
        }
}

ocr_status vis_pad_square(uint8_t *dst, int size, const uint8_t *rgb, int w, int h,
                          const uint8_t color[3], ocr_err *e)
{
    /* ImageOps.contain: fit inside with Python round() (half to even, which
     * rint gives in the default rounding mode). */
    int nw = size, nh = size;
    double im_ratio = (double)w / (double)h, dest_ratio = 1.0;
    if (im_ratio != dest_ratio) {
        if (im_ratio > dest_ratio)
            nh = (int)rint((double)h / (double)w * size);
        else
            nw = (int)rint((double)w / (double)h * size);
    }
    /* PIL refuses a zero edge; an image 1000x thinner than wide is not a
     * document we can read either way, so keep one pixel. */
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    size_t plane = (size_t)size * (size_t)size;
    uint8_t *fit = malloc((size_t)nw * (size_t)nh * 3);
    if (!fit) return ocr_err_set(e, OCR_E_NOMEM, "vis_pad_square: out of memory (%dx%d)", nw, nh);
    ocr_status rc = vis_resize_pil_bicubic(fit, nw, nh, rgb, w, h, 3, e);
    if (rc != OCR_OK) {
        free(fit);
        return rc;
    }
    for (int c = 0; c < 3; c++) memset(dst + (size_t)c * plane, color[c], plane);
    int x0 = 0, y0 = 0;
    if (nw != size)
        x0 = (int)rint((size - nw) * 0.5);
    else
        y0 = (int)rint((size - nh) * 0.5);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < nh && y0 + y < size; y++)
            memcpy(dst + (size_t)c * plane + (size_t)(y0 + y) * (size_t)size + (size_t)x0,
                   fit + ((size_t)c * (size_t)nh + (size_t)y) * (size_t)nw,
                   (size_t)(nw < size - x0 ? nw : size - x0));
    free(fit);
    return OCR_OK;
}

void vis_views_free(vis_views *v)
{
    if (!v) return;
    free(v->tiles_rgb);
    free(v->view_rgb);
    free(v->tiles);
    free(v->view);
    memset(v, 0, sizeof *v);
}

ocr_status vis_preprocess(vis_views *v, const uint8_t *rgb, int w, int h,
                          const vis_prep_params *p, ocr_err *e)
{
    memset(v, 0, sizeof *v);
    if (!rgb || w <= 0 || h <= 0)
        return ocr_err_set(e, OCR_E_ARG, "vis_preprocess: empty image (%dx%d)", w, h);
    ocr_status rc = vis_prep_params_check(p, e);
    if (rc != OCR_OK) return rc;
    v->src_w = w;
    v->src_h = h;
    v->tiles_w = v->tiles_h = 1;
    v->tile_size = p->image_size;
    uint8_t *resized = NULL;
    if (p->crop_mode) {
        v->view_size = p->base_size;
        if (w > p->crop_threshold || h > p->crop_threshold) {
            vis_tile_grid(&v->tiles_w, &v->tiles_h, w, h, p);
            if (v->tiles_w > 1 || v->tiles_h > 1) v->n_tiles = v->tiles_w * v->tiles_h;
        }
    } else {
        v->view_size = p->image_size;
    }
    int S = v->view_size, T = v->tile_size;
    size_t vplane = (size_t)S * (size_t)S, tplane = (size_t)T * (size_t)T;
    size_t tile_px = (size_t)v->n_tiles * 3 * tplane;
    v->view_rgb = malloc(3 * vplane);
    v->view = malloc(3 * vplane * sizeof(float));
    if (v->n_tiles) {
        v->tiles_rgb = malloc(tile_px);
        v->tiles = malloc(tile_px * sizeof(float));
    }
    if (!v->view_rgb || !v->view || (v->n_tiles && (!v->tiles_rgb || !v->tiles))) {
        vis_views_free(v);
        return ocr_err_set(e, OCR_E_NOMEM, "vis_preprocess: out of memory for a %d view and %d tiles",
                           S, v->n_tiles);
    }
    if (v->n_tiles) {
        /* Resize the whole page to the tile grid, then cut row-major. */
        int RW = T * v->tiles_w, RH = T * v->tiles_h;
        resized = malloc((size_t)RW * (size_t)RH * 3);
        if (!resized) {
            vis_views_free(v);
            return ocr_err_set(e, OCR_E_NOMEM, "vis_preprocess: out of memory (%dx%d)", RW, RH);
        }
        rc = vis_resize_pil_bicubic(resized, RW, RH, rgb, w, h, 3, e);
        for (int t = 0; rc == OCR_OK && t < v->n_tiles; t++) {
            int tx = t % v->tiles_w, ty = t / v->tiles_w;
            uint8_t *dst = v->tiles_rgb + (size_t)t * 3 * tplane;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < T; y++)
                    memcpy(dst + (size_t)c * tplane + (size_t)y * (size_t)T,
                           resized + (size_t)c * (size_t)RW * (size_t)RH +
                               (size_t)(ty * T + y) * (size_t)RW + (size_t)tx * (size_t)T,
                           (size_t)T);
            vis_normalize(v->tiles + (size_t)t * 3 * tplane, dst, tplane, p->mean, p->std);
        }
        free(resized);
        resized = NULL;
    }
    if (rc == OCR_OK) {
        const uint8_t *src = rgb;
        int sw = w, sh = h;
        if (!p->crop_mode && p->image_size <= p->crop_threshold) {
            /* infer() squashes tiny/small to a square before padding. */
            resized = malloc(3 * vplane);
            if (!resized) rc = ocr_err_set(e, OCR_E_NOMEM, "vis_preprocess: out of memory");
            else rc = vis_resize_pil_bicubic(resized, S, S, rgb, w, h, 3, e);
            src = resized;
            sw = sh = S;
        }
        if (rc == OCR_OK) rc = vis_pad_square(v->view_rgb, S, src, sw, sh, p->pad_rgb, e);
        free(resized);
    }
    if (rc != OCR_OK) {
        vis_views_free(v);
        return rc;
    }
    vis_normalize(v->view, v->view_rgb, vplane, p->mean, p->std);
    v->n_slots = vis_image_slots(p, v->n_tiles, v->tiles_w, v->tiles_h);
    return OCR_OK;
}

ocr_status vis_prompt_build(int32_t *ids, uint8_t *mask, size_t cap, size_t *n, int32_t bos,
                            const int32_t *before, size_t n_before, int32_t image_id,
                            int n_slots, const int32_t *after, size_t n_after, ocr_err *e)
{
    size_t need = 1 + n_before + (size_t)(n_slots > 0 ? n_slots : 0) + n_after;
    *n = 0;
    if (need > cap)
        return ocr_err_set(e, OCR_E_LIMIT, "vis_prompt_build: %zu ids do not fit in %zu", need, cap);
    size_t k = 0;
    ids[k] = bos;
    mask[k++] = 0;
    for (size_t i = 0; i < n_before; i++, k++) {
        ids[k] = before[i];
        mask[k] = 0;
    }
    for (int i = 0; i < n_slots; i++, k++) {
        ids[k] = image_id;
        mask[k] = 1;
    }
    for (size_t i = 0; i < n_after; i++, k++) {
        ids[k] = after[i];
        mask[k] = 0;
    }
    *n = k;
    return OCR_OK;
}

ocr_status vis_image_load(uint8_t **rgb, int *w, int *h, const char *path, ocr_err *e)
{
    PIX *pix = NULL;
    *rgb = NULL;
    ocr_status rc = img_load(&pix, path, NULL, e);
    if (rc != OCR_OK) return rc;
    rc = img_rgb_planes(rgb, w, h, pix, e);
    pixDestroy(&pix);
    return rc;
}

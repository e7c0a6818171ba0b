/* pipeline/lay_draw.c — a layout overlay for inspection: every line crop
 * outlined thinly (the recogniser's view), table cells outlined, and over
 * that the document overlay of ovl_page.c (blocks coloured by type and
 * numbered in reading order). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe.h"

static void outline(PIX *rgb, pipe_box b, int w, l_uint8 r, l_uint8 g, l_uint8 bl)
{
    if (lay_box_w(b) <= 0 || lay_box_h(b) <= 0) return;
    BOX *box = boxCreate(b.x1, b.y1, lay_box_w(b), lay_box_h(b));
    if (!box) return;
    pixRenderBoxArb(rgb, box, w, r, g, bl);
    boxDestroy(&box);
}

ocr_status lay_overlay_render(PIX *pix, const lay_page *lp, uint8_t **png, size_t *len, ocr_err *e)
{
    *png = NULL;
    *len = 0;
    PIX *rgb = NULL;
    ocr_status rc = img_to_rgb32(&rgb, pix, e);
    if (rc != OCR_OK) return rc;
    int W = pixGetWidth(rgb), H = pixGetHeight(rgb);
    int lw = (W > H ? W : H) / 1500 + 1;
    for (int i = 0; i < lp->n_blocks; i++) {
        const lay_block *b = &lp->blocks[i];
        for (int k = 0; k < b->n_cells; k++) outline(rgb, b->cells[k].box, lw, 0, 150, 60);
        for (int k = 0; k < b->n_lines; k++) {
            outline(rgb, b->lines[k].crop, lw, 255, 140, 0);
            const lay_line *l = &b->lines[k];
            /* the baseline as a short tick at the left of the crop */
            pipe_box t = {l->crop.x1, l->baseline, l->crop.x1 + 3 * lw + 4, l->baseline + lw};
            outline(rgb, t, lw, 255, 0, 160);
        }
    }
    pipe_page pg;
    memset(&pg, 0, sizeof pg);
    pg.number = 1;
    rc = lay_page_to_doc(lp, &pg, e);
    if (rc == OCR_OK) rc = ovl_page_render(rgb, &pg, png, len, e);
    pipe_page_free(&pg);
    pixDestroy(&rgb);
    return rc;
}

ocr_status lay_overlay_write(PIX *pix, const lay_page *lp, const char *path, ocr_err *e)
{
    uint8_t *png = NULL;
    size_t n = 0;
    ocr_status rc = lay_overlay_render(pix, lp, &png, &n, e);
    if (rc == OCR_OK) rc = ocr_file_write_atomic(path, png, n, e);
    free(png);
    return rc;
}

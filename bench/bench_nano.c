/* bench/bench_nano.c — vlocr-nano recognition speed: a "page" of 40 text
 * lines (real scanned lines from ../shared/eval/real-lines-pages, cycled)
 * read with VLOCR_THREADS threads (default 2); target ≤ 1 s per page.
 * Usage: bench_nano [MODEL_DIR]  (default models/vlocr-nano) */
#include <leptonica/allheaders.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vision/vis.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "models/vlocr-nano";
    int threads = getenv("VLOCR_THREADS") ? atoi(getenv("VLOCR_THREADS")) : 2;
    ocr_blas_set_threads(threads);
    ocr_err e = {0};
    vis_nano_recog *r = NULL;
    if (vis_nano_recog_load(&r, dir, &e) != OCR_OK) {
        printf("bench_nano: SKIP (%s)\n", e.msg);
        return 0;
    }
    enum { NL = 40 };
    uint8_t *planes[NL];
    int ws[NL], hs[NL], n = 0;
    char path[512];
    for (int i = 1; n < NL && i <= 60; i++) {
        snprintf(path, sizeof path, "../shared/eval/real-lines-pages/images/uw3_%s_%06d.png",
                 i <= 20 ? "test" : "train", i <= 20 ? 10000 + i : 10000 + i - 20);
        PIX *p = pixRead(path);
        if (!p) continue;
        PIX *g = pixConvertTo8(p, 0);
        pixDestroy(&p);
        if (!g) continue;
        int w = (int)pixGetWidth(g), h = (int)pixGetHeight(g), wpl = (int)pixGetWpl(g);
        planes[n] = malloc((size_t)w * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                planes[n][(size_t)y * w + x] = (uint8_t)GET_DATA_BYTE(pixGetData(g) + (size_t)y * wpl, x);
        ws[n] = w;
        hs[n] = h;
        n++;
        pixDestroy(&g);
    }
    if (n == 0) {
        printf("bench_nano: SKIP (no lines under ../shared/eval/real-lines-pages)\n");
        vis_nano_recog_destroy(&r);
        return 0;
    }
    /* Serial: one line after another, the matmuls on `threads` threads. */
    long chars = 0;
    char *serial[NL];
    double t0 = now_s();
    for (int i = 0; i < NL; i++) {
        serial[i] = NULL;
        if (vis_nano_recognize(r, planes[i % n], ws[i % n], hs[i % n], ws[i % n], false, &serial[i], NULL, &e) == OCR_OK)
            chars += (long)strlen(serial[i]);
    }
    double dt = now_s() - t0;
    printf("vlocr-nano, %d threads, line by line:      page of %d lines (%d distinct real scans) in %.2f s "
           "(%.1f ms/line, %ld characters out)\n",
           threads, NL, n, dt, 1000 * dt / NL, chars);
    /* The page at once: `threads` lines in flight (vis_nano_recognize_many). */
    vis_nano_crop crops[NL];
    char *texts[NL];
    for (int i = 0; i < NL; i++) crops[i] = (vis_nano_crop){planes[i % n], ws[i % n], hs[i % n], ws[i % n]};
    long chars2 = 0;
    int same = 0;
    t0 = now_s();
    ocr_status rc = vis_nano_recognize_many(r, crops, NL, false, threads, texts, NULL, NULL, &e);
    double dt2 = now_s() - t0;
    for (int i = 0; i < NL; i++) {
        if (texts[i]) chars2 += (long)strlen(texts[i]);
        same += texts[i] && serial[i] && strcmp(texts[i], serial[i]) == 0;
        free(texts[i]);
        free(serial[i]);
    }
    printf("vlocr-nano, %d threads, page at once:      page of %d lines in %.2f s (%.1f ms/line, "
           "%ld characters out%s; %d/%d lines as line by line); target <= 1 s\n",
           threads, NL, dt2, 1000 * dt2 / NL, chars2, rc == OCR_OK ? "" : ", with errors", same, NL);
    for (int i = 0; i < n; i++) free(planes[i]);
    vis_nano_recog_destroy(&r);
    return 0;
}

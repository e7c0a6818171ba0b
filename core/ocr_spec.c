/* core/ocr_spec.c — what a config implies a checkpoint holds, and the check
 * of a checkpoint against it. The spec builders live with the components
 * that own the tensors (lm_spec_build, vis_spec_build); this file only keeps
 * the list and compares. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ocr.h"

ocr_status ocr_spec_add(ocr_spec *s, bool optional, int ndim, const int64_t *shape,
                        const char *fmt, ...)
{
    if (ndim < 0 || ndim > 4) return OCR_E_ARG;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        ocr_spec_entry *p = realloc(s->v, ncap * sizeof *p);
        if (!p) return OCR_E_NOMEM;
        s->v = p;
        s->cap = ncap;
    }
    ocr_spec_entry *en = &s->v[s->n++];
    memset(en, 0, sizeof *en);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(en->name, sizeof en->name, fmt, ap);
    va_end(ap);
    en->ndim = ndim;
    for (int i = 0; i < ndim; i++) en->shape[i] = shape[i];
    en->optional = optional;
    return OCR_OK;
}

void ocr_spec_free(ocr_spec *s)
{
    if (!s) return;
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

ocr_status ocr_spec_check(const ocr_spec *s, const ocr_st *st, ocr_spec_result *r, ocr_err *e)
{
    memset(r, 0, sizeof *r);
    ocr_buf b = {0};
    const char **names = malloc((s->n ? s->n : 1) * sizeof *names);
    if (!names) return ocr_err_set(e, OCR_E_NOMEM, "ocr_spec_check: out of memory");
    for (size_t i = 0; i < s->n; i++) {
        const ocr_spec_entry *en = &s->v[i];
        names[i] = en->name;
        if (!en->optional) r->n_expected++;
        const ocr_tensor *t = ocr_st_find(st, en->name);
        char a[96], c[96];
        if (!t) {
            if (!en->optional) {
                r->n_missing++;
                ocr_buf_printf(&b, "missing    %s %s\n", en->name,
                          ocr_shape_str(a, sizeof a, en->ndim, en->shape));
            }
            continue;
        }
        if (en->optional) r->n_optional_found++;
        else r->n_found++;
        if (!ocr_tensor_has_shape(t, en->ndim, en->shape)) {
            r->n_misshaped++;
            ocr_buf_printf(&b, "misshaped  %s is %s, config implies %s\n", en->name,
                      ocr_shape_str(a, sizeof a, t->ndim, t->shape),
                      ocr_shape_str(c, sizeof c, en->ndim, en->shape));
        }
    }
    qsort(names, s->n, sizeof *names, name_cmp);
    for (size_t i = 0; i < ocr_st_count(st); i++) {
        const ocr_tensor *t = ocr_st_at(st, i);
        if (bsearch(&t->name, names, s->n, sizeof *names, name_cmp)) continue;
        /* F8 block scales belong to their weight, not to the architecture. */
        size_t ln = strlen(t->name);
        if (ln > 10 && strcmp(t->name + ln - 10, "_scale_inv") == 0) continue;
        char a[96];
        r->n_unexpected++;
        ocr_buf_printf(&b, "unexpected %s %s %s\n", t->name, ocr_dtype_name(t->dtype),
                  ocr_shape_str(a, sizeof a, t->ndim, t->shape));
    }
    free(names);
    if (b.oom) {
        free(b.p);
        return ocr_err_set(e, OCR_E_NOMEM, "ocr_spec_check: out of memory");
    }
    r->report = b.p;
    if (r->n_missing || r->n_misshaped)
        return ocr_err_set(e, OCR_E_SHAPE, "%s: %zu missing and %zu misshaped tensors (of %zu expected)",
                           ocr_st_path(st), r->n_missing, r->n_misshaped, r->n_expected);
    return OCR_OK;
}

void ocr_spec_result_free(ocr_spec_result *r)
{
    if (!r) return;
    free(r->report);
    memset(r, 0, sizeof *r);
}

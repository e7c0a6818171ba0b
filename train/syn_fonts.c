/* train/syn_fonts.c — the inventory of installed faces usable for text.
 *
 * Built once per context through a private pango font map: families and
 * faces are sorted by name so the inventory (and with it every sample) is
 * stable across runs; each face is loaded once to check that it really is
 * the face asked for (fontconfig silently substitutes) and which characters
 * it covers, kept as a plain bitmap so that generator threads can query it
 * without touching pango.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pango/pangocairo.h>

#include "train/syn.h"

#define COV_LIMIT 0x3000u /* code points tracked in the coverage bitmap */
#define COV_WORDS (COV_LIMIT / 32u)

typedef struct {
    syn_face info;
    uint32_t cov[COV_WORDS];
} face_rec;

typedef struct {
    char name[96];
    size_t first, n;
    float total;
} family_rec;

struct syn_fonts {
    face_rec *faces;
    size_t n_faces;
    family_rec *fams;
    size_t n_fams;
};

/* Held out for validation: never drawn in training. Clones of the same
 * design are held out together (C059 = TeX Gyre Schola = Century
 * Schoolbook; URW Bookman = TeX Gyre Bonum; Carlito derives from Lato),
 * so validation measures generalisation to designs the model never saw. */
const char *const syn_heldout_families[] = {
    "C059",          "TeX Gyre Schola", "URW Bookman", "TeX Gyre Bonum",
    "Caladea",       "Carlito",         "Lato",        "Linux Biolinum O",
    "Cantarell",     "Vollkorn",        "PT Serif",    "PT Serif Caption",
    "Inconsolata",
};
const size_t syn_n_heldout_families =
    sizeof syn_heldout_families / sizeof syn_heldout_families[0];

/* Families that cover Latin but are not text faces: initials, keycaps,
 * chancery script, symbol and size-variant fonts, math-only fonts, and the
 * Noto script fonts (their Latin, if any, is Noto Sans again). */
static bool excluded_family(const char *name)
{
    static const char *const exact[] = {
        "Sans", "Serif", "Monospace", "System-ui", "sans-serif", "serif",
        "monospace", "cursive", "fantasy", "emoji", "math",
        "Linux Biolinum Keyboard O", "Linux Libertine Initials O", "Z003",
        "TeX Gyre Chorus", "D050000L", "Standard Symbols PS", "STIX Math",
        "Latin Modern Math", "DejaVu Math TeX Gyre", "Noto Sans Math",
        "Noto Music", "Berenis ADF Pro Math", "Latin Modern Roman Dunhill",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcasecmp(name, exact[i]) == 0) return true;
    static const char *const prefix[] = {
        "EB Garamond Initials", "STIXIntegrals", "STIXSize", "STIXNonUnicode",
        "STIXVariants", "Noto Kufi", "Noto Naskh", "Noto Nastaliq", "Noto Looped",
        "Noto Rashi", "Noto Traditional", "Noto Sans Symbols",
    };
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++)
        if (strncasecmp(name, prefix[i], strlen(prefix[i])) == 0) return true;
    if (strncmp(name, "Noto Sans ", 10) == 0 || strncmp(name, "Noto Serif ", 11) == 0) {
        static const char *const keep[] = {"Noto Sans Display", "Noto Serif Display",
                                           "Noto Sans Mono"};
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
            if (strcmp(name, keep[i]) == 0) return false;
        return true;
    }
    return false;
}

static bool heldout(const char *name)
{
    for (size_t i = 0; i < syn_n_heldout_families; i++)
        if (strcasecmp(name, syn_heldout_families[i]) == 0) return true;
    return false;
}

static int cmp_family(const void *a, const void *b)
{
    const char *x = pango_font_family_get_name(*(PangoFontFamily *const *)a);
    const char *y = pango_font_family_get_name(*(PangoFontFamily *const *)b);
    return strcmp(x, y);
}

static int cmp_face(const void *a, const void *b)
{
    const char *x = pango_font_face_get_face_name(*(PangoFontFace *const *)a);
    const char *y = pango_font_face_get_face_name(*(PangoFontFace *const *)b);
    return strcmp(x, y);
}

/* Characters a face must have to be worth rendering prose in. */
static const char REQUIRED[] = "éèàüöäçñ’“”–—";

static bool cov_has(const uint32_t *cov, uint32_t c)
{
    return c < COV_LIMIT && (cov[c >> 5] >> (c & 31)) & 1u;
}

static void fill_coverage(PangoFont *font, uint32_t *cov)
{
    static const uint32_t ranges[][2] = {
        {0x20, 0x250}, {0x370, 0x400}, {0x2000, 0x2300}, {0x2460, 0x2500},
        {0x2500, 0x2600}, {0x2700, 0x27C0}};
    PangoCoverage *c = pango_font_get_coverage(font, pango_language_from_string("en"));
    memset(cov, 0, COV_WORDS * sizeof *cov);
    if (!c) return;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
        for (uint32_t ch = ranges[r][0]; ch < ranges[r][1]; ch++)
            if (pango_coverage_get(c, (int)ch) != PANGO_COVERAGE_NONE)
                cov[ch >> 5] |= 1u << (ch & 31);
    g_object_unref(c);
}

static bool desc_matches(const PangoFontDescription *want, const PangoFontDescription *got)
{
    const char *a = pango_font_description_get_family(want);
    const char *b = pango_font_description_get_family(got);
    if (!a || !b || strcasecmp(a, b) != 0) return false;
    return pango_font_description_get_style(want) == pango_font_description_get_style(got) &&
           pango_font_description_get_weight(want) == pango_font_description_get_weight(got) &&
           pango_font_description_get_stretch(want) == pango_font_description_get_stretch(got);
}

static float face_weight(const syn_face *f, PangoStretch stretch)
{
    bool regular_w = f->weight >= 350 && f->weight <= 450;
    bool bold_w = f->weight >= 600 && f->weight <= 750;
    float w = 1.0f;
    if (regular_w && !f->italic) w = 6.0f;
    else if (regular_w && f->italic) w = 2.0f;
    else if (bold_w && !f->italic) w = 2.0f;
    else if (bold_w && f->italic) w = 0.8f;
    if (stretch != PANGO_STRETCH_NORMAL) w *= 0.5f;
    return w;
}

ocr_status syn_fonts_create(syn_fonts **out, syn_split split, ocr_err *e)
{
    *out = NULL;
    syn_fonts *f = calloc(1, sizeof *f);
    if (!f) return ocr_err_set(e, OCR_E_NOMEM, "syn_fonts_create: out of memory");
    syn_text_lock(); /* see syn_render.c: cairo's font caches are shared */
    PangoFontMap *fm = pango_cairo_font_map_new();
    PangoContext *pc = fm ? pango_font_map_create_context(fm) : NULL;
    if (!pc) {
        if (fm) g_object_unref(fm);
        syn_text_unlock();
        free(f);
        return ocr_err_set(e, OCR_E_UNSUPPORTED, "syn_fonts_create: no pango font map");
    }
    PangoFontFamily **fams = NULL;
    int nfam = 0;
    pango_font_map_list_families(fm, &fams, &nfam);
    if (nfam > 0) qsort(fams, (size_t)nfam, sizeof *fams, cmp_family);
    size_t cap_faces = 0;
    ocr_status st = OCR_OK;
    for (int i = 0; i < nfam && st == OCR_OK; i++) {
        const char *fname = pango_font_family_get_name(fams[i]);
        if (!fname || strlen(fname) >= sizeof f->fams[0].name || excluded_family(fname)) continue;
        if (heldout(fname) != (split == SYN_SPLIT_VAL)) continue;
        PangoFontFace **faces = NULL;
        int nf = 0;
        pango_font_family_list_faces(fams[i], &faces, &nf);
        if (nf > 0) qsort(faces, (size_t)nf, sizeof *faces, cmp_face);
        size_t first = f->n_faces;
        for (int j = 0; j < nf; j++) {
            if (pango_font_face_is_synthesized(faces[j])) continue;
            PangoFontDescription *d = pango_font_face_describe(faces[j]);
            if (!d) continue;
            pango_font_description_set_family(d, fname);
            pango_font_description_set_absolute_size(d, 24.0 * PANGO_SCALE);
            PangoFont *font = pango_font_map_load_font(fm, pc, d);
            PangoFontDescription *got = font ? pango_font_describe(font) : NULL;
            bool ok = got && desc_matches(d, got);
            if (got) pango_font_description_free(got);
            if (ok) {
                if (f->n_faces == cap_faces) {
                    cap_faces = cap_faces ? cap_faces * 2 : 256;
                    face_rec *q = realloc(f->faces, cap_faces * sizeof *q);
                    if (!q) {
                        st = ocr_err_set(e, OCR_E_NOMEM, "syn_fonts_create: out of memory");
                        ok = false;
                    } else {
                        f->faces = q;
                    }
                }
            }
            if (ok) {
                face_rec *fr = &f->faces[f->n_faces];
                memset(fr, 0, sizeof *fr);
                fill_coverage(font, fr->cov);
                for (uint32_t ch = 0x21; ch < 0x7F && ok; ch++) ok = cov_has(fr->cov, ch);
                for (size_t k = 0; ok && REQUIRED[k];) {
                    uint32_t cp;
                    int n = syn_utf8_decode(REQUIRED + k, strlen(REQUIRED + k), &cp);
                    if (n <= 0) break;
                    ok = cov_has(fr->cov, cp);
                    k += (size_t)n;
                }
                if (ok) {
                    syn_face *sf = &fr->info;
                    snprintf(sf->family, sizeof sf->family, "%s", fname);
                    snprintf(sf->face, sizeof sf->face, "%s",
                             pango_font_face_get_face_name(faces[j]));
                    pango_font_description_unset_fields(d, PANGO_FONT_MASK_SIZE);
                    char *ds = pango_font_description_to_string(d);
                    snprintf(sf->desc, sizeof sf->desc, "%s", ds ? ds : fname);
                    g_free(ds);
                    sf->weight = (int)pango_font_description_get_weight(d);
                    sf->italic = pango_font_description_get_style(d) != PANGO_STYLE_NORMAL;
                    sf->mono = pango_font_family_is_monospace(fams[i]);
                    sf->pick_weight = face_weight(sf, pango_font_description_get_stretch(d));
                    f->n_faces++;
                }
            }
            if (font) g_object_unref(font);
            pango_font_description_free(d);
        }
        g_free(faces);
        if (f->n_faces > first && st == OCR_OK) {
            family_rec *q = realloc(f->fams, (f->n_fams + 1) * sizeof *q);
            if (!q) {
                st = ocr_err_set(e, OCR_E_NOMEM, "syn_fonts_create: out of memory");
                break;
            }
            f->fams = q;
            family_rec *fr = &f->fams[f->n_fams++];
            snprintf(fr->name, sizeof fr->name, "%s", fname);
            fr->first = first;
            fr->n = f->n_faces - first;
            fr->total = 0;
            for (size_t k = first; k < f->n_faces; k++) fr->total += f->faces[k].info.pick_weight;
        }
    }
    g_free(fams);
    g_object_unref(pc);
    g_object_unref(fm);
    syn_text_unlock();
    if (st == OCR_OK && f->n_fams == 0)
        st = ocr_err_set(e, OCR_E_NOTFOUND,
                         split == SYN_SPLIT_VAL
                             ? "syn_fonts_create: none of the held-out validation font "
                               "families is installed (run 'make train-deps')"
                             : "syn_fonts_create: no usable Latin text font is installed "
                               "(run 'make deps' or 'make train-deps')");
    if (st != OCR_OK) {
        syn_fonts_destroy(&f);
        return st;
    }
    *out = f;
    return OCR_OK;
}

void syn_fonts_destroy(syn_fonts **pf)
{
    if (!pf || !*pf) return;
    free((*pf)->faces);
    free((*pf)->fams);
    free(*pf);
    *pf = NULL;
}

size_t syn_fonts_n_families(const syn_fonts *f) { return f ? f->n_fams : 0; }
size_t syn_fonts_n_faces(const syn_fonts *f) { return f ? f->n_faces : 0; }

const syn_face *syn_fonts_face(const syn_fonts *f, size_t i)
{
    return f && i < f->n_faces ? &f->faces[i].info : NULL;
}

const char *syn_fonts_family(const syn_fonts *f, size_t fam)
{
    return f && fam < f->n_fams ? f->fams[fam].name : "";
}

size_t syn_fonts_pick(const syn_fonts *f, syn_rng *r)
{
    const family_rec *fr = &f->fams[syn_rng_below(r, (int)f->n_fams)];
    double x = syn_rng_unit(r) * fr->total;
    for (size_t k = 0; k < fr->n; k++) {
        x -= f->faces[fr->first + k].info.pick_weight;
        if (x < 0) return fr->first + k;
    }
    return fr->first + fr->n - 1;
}

bool syn_fonts_covers(const syn_fonts *f, size_t face, uint32_t cp)
{
    if (!f || face >= f->n_faces) return false;
    if (cp == ' ') return true;
    return cov_has(f->faces[face].cov, cp);
}

bool syn_fonts_covers_text(const syn_fonts *f, size_t face, const char *t)
{
    size_t n = strlen(t), i = 0;
    while (i < n) {
        uint32_t cp;
        int k = syn_utf8_decode(t + i, n - i, &cp);
        if (k <= 0) return false;
        if (!syn_fonts_covers(f, face, cp)) return false;
        i += (size_t)k;
    }
    return true;
}

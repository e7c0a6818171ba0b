/* train/syn_corpus.c — the text and formula corpora, memory-mapped.
 *
 * The files are large (53 MB of prose) and read by every generator thread,
 * so they are mapped once, read-only, and indexed by line start; nothing is
 * copied. A missing half that the caller does not need is not an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/syn.h"

typedef struct {
    const char *map;
    size_t len;
    uint32_t *line; /* start offsets of non-empty lines */
    size_t n;
} mapped;

struct syn_corpus {
    char dir[512];
    mapped text[SYN_N_TEXT_SRC];
    mapped form[SYN_N_FORM_SRC];
};

static const char *const TEXT_FILES[SYN_N_TEXT_SRC] = {
    "text/gutenberg.txt", "text/arxiv_abstracts.txt", "text/python_docs.txt",
    "text/manpages.txt"};
static const char *const FORM_FILES[SYN_N_FORM_SRC] = {
    "formulas/arxiv.txt", "formulas/books.txt", "formulas/wiki.txt",
    "formulas/school.txt"};

static ocr_status map_file(mapped *m, const char *dir, const char *rel, ocr_err *e)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ocr_err_set(e, errno == ENOENT ? OCR_E_NOTFOUND : OCR_E_IO,
                           "syn_corpus_load: %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size >= UINT32_MAX) {
        close(fd);
        return ocr_err_set(e, OCR_E_FORMAT,
                           "syn_corpus_load: %s: empty or larger than 4 GiB", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return ocr_err_set(e, OCR_E_IO, "syn_corpus_load: mmap %s: %s", path,
                           strerror(errno));
    m->map = p;
    m->len = (size_t)st.st_size;
    size_t cap = 1024, n = 0;
    m->line = malloc(cap * sizeof *m->line);
    if (!m->line) return ocr_err_set(e, OCR_E_NOMEM, "syn_corpus_load: %s: index", path);
    size_t i = 0;
    while (i < m->len) {
        const char *nl = memchr(m->map + i, '\n', m->len - i);
        size_t end = nl ? (size_t)(nl - m->map) : m->len;
        if (end > i) {
            if (n == cap) {
                cap *= 2;
                uint32_t *q = realloc(m->line, cap * sizeof *q);
                if (!q) return ocr_err_set(e, OCR_E_NOMEM, "syn_corpus_load: %s: index", path);
                m->line = q;
            }
            m->line[n++] = (uint32_t)i;
        }
        i = end + 1;
    }
    m->n = n;
    if (n == 0) return ocr_err_set(e, OCR_E_FORMAT, "syn_corpus_load: %s: no lines", path);
    return OCR_OK;
}

static void unmap(mapped *m)
{
    if (m->map) munmap((void *)(uintptr_t)m->map, m->len);
    free(m->line);
    memset(m, 0, sizeof *m);
}

ocr_status syn_corpus_load(syn_corpus **out, const char *dir, bool need_text,
                           bool need_formulas, ocr_err *e)
{
    *out = NULL;
    if (!dir || !*dir) return ocr_err_set(e, OCR_E_ARG, "syn_corpus_load: no corpus folder");
    syn_corpus *c = calloc(1, sizeof *c);
    if (!c) return ocr_err_set(e, OCR_E_NOMEM, "syn_corpus_load: out of memory");
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    ocr_status st = OCR_OK;
    if (need_text)
        for (int i = 0; i < SYN_N_TEXT_SRC && st == OCR_OK; i++)
            st = map_file(&c->text[i], dir, TEXT_FILES[i], e);
    if (need_formulas)
        for (int i = 0; i < SYN_N_FORM_SRC && st == OCR_OK; i++)
            st = map_file(&c->form[i], dir, FORM_FILES[i], e);
    if (st != OCR_OK) {
        syn_corpus_destroy(&c);
        return st;
    }
    *out = c;
    return OCR_OK;
}

void syn_corpus_destroy(syn_corpus **pc)
{
    if (!pc || !*pc) return;
    syn_corpus *c = *pc;
    for (int i = 0; i < SYN_N_TEXT_SRC; i++) unmap(&c->text[i]);
    for (int i = 0; i < SYN_N_FORM_SRC; i++) unmap(&c->form[i]);
    free(c);
    *pc = NULL;
}

static const char *line_of(const mapped *m, size_t i, size_t *len)
{
    if (i >= m->n) {
        *len = 0;
        return "";
    }
    size_t a = m->line[i];
    const char *nl = memchr(m->map + a, '\n', m->len - a);
    *len = nl ? (size_t)(nl - (m->map + a)) : m->len - a;
    return m->map + a;
}

size_t syn_corpus_n_paragraphs(const syn_corpus *c, int src)
{
    return c && src >= 0 && src < SYN_N_TEXT_SRC ? c->text[src].n : 0;
}

size_t syn_corpus_n_formulas(const syn_corpus *c, int src)
{
    return c && src >= 0 && src < SYN_N_FORM_SRC ? c->form[src].n : 0;
}

const char *syn_corpus_paragraph(const syn_corpus *c, int src, size_t i, size_t *len)
{
    *len = 0;
    if (!c || src < 0 || src >= SYN_N_TEXT_SRC) return "";
    return line_of(&c->text[src], i, len);
}

const char *syn_corpus_formula(const syn_corpus *c, int src, size_t i, size_t *len)
{
    *len = 0;
    if (!c || src < 0 || src >= SYN_N_FORM_SRC) return "";
    return line_of(&c->form[src], i, len);
}

const char *syn_corpus_dir(const syn_corpus *c) { return c ? c->dir : ""; }

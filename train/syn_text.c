/* train/syn_text.c — what a text line or a table cell says.
 *
 * Prose comes from the corpus, cut at word boundaries; mixed into it is the
 * material real documents are full of and novels are not: numbers, dates,
 * money, units, codes, URLs, e-mail addresses, citations, quotes, dashes,
 * bullets, ALL-CAPS headings. The renderer cuts the candidate to the width
 * it draws, so candidates are longer than one line.
 */
#include <ctype.h>
#include <string.h>

#include "train/syn.h"

/* ------------------------------------------------------------- corpus text */

static bool is_space_cp(uint32_t c) { return c == ' ' || c == '\t' || c == 0xA0; }

/* Append bytes of a paragraph with whitespace collapsed and invisible
 * characters dropped, so that the label is exactly what gets drawn. */
static void put_clean(ocr_buf *o, const char *p, size_t n)
{
    size_t i = 0;
    bool space = o->n > 0 && o->p[o->n - 1] == ' ';
    while (i < n) {
        uint32_t c;
        int k = syn_utf8_decode(p + i, n - i, &c);
        if (k <= 0) {
            i++;
            continue;
        }
        i += (size_t)k;
        if (is_space_cp(c) || c == '\r' || c == '\n') {
            if (!space && o->n > 0) ocr_buf_putc(o, ' ');
            space = true;
            continue;
        }
        if (c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0xAD ||
            (c >= 0x200B && c <= 0x200F) || (c >= 0x2028 && c <= 0x202E) ||
            c == 0xFEFF || c >= 0x3000)
            continue;
        syn_utf8_put(o, c);
        space = false;
    }
}

void syn_text_snippet(syn_rng *r, const syn_corpus *c, int src, size_t min_len,
                      size_t max_len, bool from_start, ocr_buf *out)
{
    size_t np = syn_corpus_n_paragraphs(c, src);
    if (np == 0) return;
    size_t start_n = out->n;
    for (int tries = 0; tries < 8; tries++) {
        size_t len;
        const char *p = syn_corpus_paragraph(c, src, (size_t)syn_rng_next(r) % np, &len);
        if (len < 8) continue;
        size_t a = 0;
        if (!from_start && len > max_len) {
            a = (size_t)syn_rng_next(r) % (len - max_len / 2);
            while (a < len && p[a] != ' ') a++; /* to a word start */
            while (a < len && p[a] == ' ') a++;
            if (a >= len) a = 0;
        }
        size_t b = a + max_len;
        if (b >= len) {
            b = len;
        } else {
            while (b > a && p[b] != ' ') b--; /* end on a word boundary */
            if (b == a) b = a + max_len;
            while (b < len && ((unsigned char)p[b] & 0xC0) == 0x80) b++;
        }
        ocr_buf_truncate(out, start_n);
        if (start_n > 0 && out->p[start_n - 1] != ' ') ocr_buf_putc(out, ' ');
        put_clean(out, p + a, b - a);
        while (out->n > start_n && out->p[out->n - 1] == ' ') ocr_buf_truncate(out, out->n - 1);
        if (out->n - start_n >= min_len) return;
    }
}

/* One word of letters from the corpus (for URLs, names, headings). */
static void corpus_word(syn_rng *r, const syn_corpus *c, ocr_buf *o, size_t minlen,
                        bool lower)
{
    for (int tries = 0; tries < 20; tries++) {
        int src = syn_rng_below(r, SYN_N_TEXT_SRC);
        size_t np = syn_corpus_n_paragraphs(c, src), len;
        if (!np) continue;
        const char *p = syn_corpus_paragraph(c, src, (size_t)syn_rng_next(r) % np, &len);
        if (len < 2) continue;
        size_t a = (size_t)syn_rng_next(r) % len;
        while (a > 0 && isalpha((unsigned char)p[a - 1])) a--;
        size_t b = a;
        while (b < len && isalpha((unsigned char)p[b])) b++;
        if (b - a < minlen || b - a > 14) continue;
        for (size_t i = a; i < b; i++)
            ocr_buf_putc(o, lower ? (char)tolower((unsigned char)p[i]) : p[i]);
        return;
    }
    ocr_buf_puts(o, lower ? "data" : "Data");
}

/* ------------------------------------------------------- generated content */

static const char *const MONTHS[] = {
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December"};
static const char *const MON3[] = {"Jan.", "Feb.", "Mar.", "Apr.", "May", "Jun.",
                                   "Jul.", "Aug.", "Sep.", "Oct.", "Nov.", "Dec."};
static const char *const SURNAMES[] = {
    "Smith", "Müller", "García", "Nguyen", "Kowalski", "Rossi", "Dubois",
    "Johansson", "O'Brien", "Tanaka", "Novák", "Petrov", "van der Berg",
    "Okafor", "Schmidt", "Martin", "Lee", "Brown", "Wilson", "Fischer",
    "Moreau", "Silva", "Andersen", "Costa", "Weber", "Hughes", "Clarke"};
static const char *const UNITS[] = {
    "mm", "cm", "m", "km", "kg", "g", "mg", "s", "ms", "min", "h", "Hz", "kHz",
    "MHz", "GHz", "V", "mV", "kV", "A", "mA", "W", "kW", "MW", "J", "kJ",
    "N", "Pa", "kPa", "MPa", "bar", "L", "mL", "°C", "K", "%", "dB", "eV",
    "keV", "MeV", "GB", "MB", "kB", "TB", "µm", "nm", "µs", "mol", "ppm",
    "m/s", "km/h", "m²", "cm³", "Ω", "kΩ"};
static const char *const TLDS[] = {"com", "org", "net", "edu", "de", "fr",
                                   "io", "co.uk", "gov", "info", "eu", "ac.jp"};
static const char *const DASHES[] = {" — ", " – ", " - ", "—", " -- "};

static void gen_int(syn_rng *r, ocr_buf *o, int maxdigits, bool group)
{
    int nd = syn_rng_between(r, 1, maxdigits);
    char d[24];
    d[0] = (char)('1' + syn_rng_below(r, 9));
    for (int i = 1; i < nd; i++) d[i] = (char)('0' + syn_rng_below(r, 10));
    d[nd] = 0;
    const char *sep = syn_rng_chance(r, 0.8) ? "," : syn_rng_chance(r, 0.5) ? " " : ".";
    for (int i = 0; i < nd; i++) {
        ocr_buf_putc(o, d[i]);
        int left = nd - 1 - i;
        if (group && nd > 4 && left > 0 && left % 3 == 0) ocr_buf_puts(o, sep);
    }
}

static void gen_decimal(syn_rng *r, ocr_buf *o)
{
    if (syn_rng_chance(r, 0.15)) ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? "-" : "−");
    if (syn_rng_chance(r, 0.3)) ocr_buf_putc(o, '0');
    else gen_int(r, o, 4, true);
    ocr_buf_putc(o, syn_rng_chance(r, 0.85) ? '.' : ',');
    int nf = syn_rng_between(r, 1, 4);
    for (int i = 0; i < nf; i++) ocr_buf_putc(o, (char)('0' + syn_rng_below(r, 10)));
}

static void gen_number(syn_rng *r, ocr_buf *o)
{
    switch (syn_rng_below(r, 9)) {
    case 0: gen_int(r, o, 3, false); break;
    case 1: gen_int(r, o, 8, true); break;
    case 2: gen_decimal(r, o); break;
    case 3: gen_decimal(r, o); ocr_buf_puts(o, syn_rng_chance(r, 0.7) ? "%" : " %"); break;
    case 4: gen_int(r, o, 3, false); ocr_buf_puts(o, "–"); gen_int(r, o, 3, false); break;
    case 5: {
        static const char *const ord[] = {"st", "nd", "rd", "th"};
        int v = syn_rng_between(r, 1, 99);
        int m = v % 10, t = v % 100;
        ocr_buf_printf(o, "%d%s", v, (t >= 11 && t <= 13) || m == 0 || m > 3 ? "th" : ord[m - 1]);
        break;
    }
    case 6: ocr_buf_printf(o, "%d/%d", syn_rng_between(r, 1, 9), syn_rng_between(r, 2, 16)); break;
    case 7:
        gen_decimal(r, o);
        ocr_buf_printf(o, " × 10%s", syn_rng_pick(r, (const char *const[]){"³", "⁶", "⁻³", "⁻⁶", "⁹", "²", "⁻¹²"}, 7));
        break;
    default: ocr_buf_printf(o, "%d", syn_rng_between(r, 1800, 2030)); break;
    }
}

static void gen_date(syn_rng *r, ocr_buf *o)
{
    int d = syn_rng_between(r, 1, 28), m = syn_rng_between(r, 1, 12);
    int y = syn_rng_between(r, 1850, 2030);
    switch (syn_rng_below(r, 8)) {
    case 0: ocr_buf_printf(o, "%d %s %d", d, MONTHS[m - 1], y); break;
    case 1: ocr_buf_printf(o, "%s %d, %d", MONTHS[m - 1], d, y); break;
    case 2: ocr_buf_printf(o, "%04d-%02d-%02d", y, m, d); break;
    case 3: ocr_buf_printf(o, "%02d/%02d/%04d", m, d, y); break;
    case 4: ocr_buf_printf(o, "%02d.%02d.%04d", d, m, y); break;
    case 5: ocr_buf_printf(o, "%s %d", MON3[m - 1], y); break;
    case 6: ocr_buf_printf(o, "%d:%02d", syn_rng_between(r, 0, 23), syn_rng_between(r, 0, 59)); break;
    default:
        ocr_buf_printf(o, "%d:%02d %s", syn_rng_between(r, 1, 12), syn_rng_between(r, 0, 59),
                       syn_rng_chance(r, 0.5) ? "a.m." : "PM");
        break;
    }
}

static void gen_money(syn_rng *r, ocr_buf *o)
{
    static const char *const pre[] = {"$", "€", "£", "US$", "USD ", "EUR ", "¥", "CHF "};
    bool suffix = syn_rng_chance(r, 0.2);
    if (!suffix) ocr_buf_puts(o, syn_rng_pick(r, pre, 8));
    gen_int(r, o, 7, true);
    if (syn_rng_chance(r, 0.6)) ocr_buf_printf(o, "%c%02d", suffix ? ',' : '.', syn_rng_below(r, 100));
    if (suffix) ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? " €" : " EUR");
    else if (syn_rng_chance(r, 0.1)) ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? " million" : " bn");
}

static void gen_unit(syn_rng *r, ocr_buf *o)
{
    if (syn_rng_chance(r, 0.5)) gen_int(r, o, 4, false);
    else gen_decimal(r, o);
    if (syn_rng_chance(r, 0.15)) {
        ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? " ± " : "±");
        gen_decimal(r, o);
    }
    const char *u = syn_rng_pick(r, UNITS, (int)(sizeof UNITS / sizeof UNITS[0]));
    if (!(strcmp(u, "%") == 0 && syn_rng_chance(r, 0.5))) ocr_buf_putc(o, ' ');
    ocr_buf_puts(o, u);
}

static void gen_code(syn_rng *r, ocr_buf *o)
{
    static const char alnum[] = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    switch (syn_rng_below(r, 10)) {
    case 0: ocr_buf_printf(o, "ISBN 978-%d-%02d-%06d-%d", syn_rng_below(r, 10), syn_rng_below(r, 100),
                           syn_rng_below(r, 1000000), syn_rng_below(r, 10)); break;
    case 1: ocr_buf_printf(o, "INV-%d-%05d", syn_rng_between(r, 1995, 2030), syn_rng_below(r, 100000)); break;
    case 2: ocr_buf_printf(o, "+%d %d %d %04d", syn_rng_between(r, 1, 99), syn_rng_between(r, 10, 999),
                           syn_rng_between(r, 100, 9999), syn_rng_below(r, 10000)); break;
    case 3: ocr_buf_printf(o, "(%03d) %03d-%04d", syn_rng_between(r, 200, 999), syn_rng_between(r, 200, 999),
                           syn_rng_below(r, 10000)); break;
    case 4: ocr_buf_printf(o, "v%d.%d.%d", syn_rng_below(r, 10), syn_rng_below(r, 30), syn_rng_below(r, 100)); break;
    case 5: ocr_buf_printf(o, "0x%04X", syn_rng_below(r, 65536)); break;
    case 6: ocr_buf_printf(o, "§ %d(%d)", syn_rng_between(r, 1, 300), syn_rng_between(r, 1, 9)); break;
    case 7: ocr_buf_printf(o, "RFC %d", syn_rng_between(r, 700, 9999)); break;
    default: {
        int n = syn_rng_between(r, 4, 10);
        for (int i = 0; i < n; i++) {
            if (i == 2 && syn_rng_chance(r, 0.6)) ocr_buf_putc(o, syn_rng_chance(r, 0.7) ? '-' : '/');
            ocr_buf_putc(o, alnum[syn_rng_below(r, (int)sizeof alnum - 1)]);
        }
    }
    }
}

static void gen_url(syn_rng *r, const syn_corpus *c, ocr_buf *o)
{
    if (syn_rng_chance(r, 0.7)) ocr_buf_puts(o, syn_rng_chance(r, 0.8) ? "https://" : "http://");
    if (syn_rng_chance(r, 0.5)) ocr_buf_puts(o, "www.");
    corpus_word(r, c, o, 3, true);
    if (syn_rng_chance(r, 0.3)) {
        ocr_buf_putc(o, '-');
        corpus_word(r, c, o, 3, true);
    }
    ocr_buf_printf(o, ".%s", syn_rng_pick(r, TLDS, (int)(sizeof TLDS / sizeof TLDS[0])));
    int segs = syn_rng_below(r, 4);
    for (int i = 0; i < segs; i++) {
        ocr_buf_putc(o, '/');
        corpus_word(r, c, o, 2, true);
        if (syn_rng_chance(r, 0.2)) ocr_buf_printf(o, "_%d", syn_rng_below(r, 100));
    }
    if (segs && syn_rng_chance(r, 0.3)) ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? ".html" : ".pdf");
    if (syn_rng_chance(r, 0.1)) ocr_buf_printf(o, "?id=%d", syn_rng_below(r, 100000));
}

static void gen_email(syn_rng *r, const syn_corpus *c, ocr_buf *o)
{
    corpus_word(r, c, o, 1, true);
    if (syn_rng_chance(r, 0.5)) {
        ocr_buf_putc(o, syn_rng_chance(r, 0.7) ? '.' : '_');
        corpus_word(r, c, o, 2, true);
    }
    ocr_buf_putc(o, '@');
    corpus_word(r, c, o, 3, true);
    ocr_buf_printf(o, ".%s", syn_rng_pick(r, TLDS, (int)(sizeof TLDS / sizeof TLDS[0])));
}

static void gen_citation(syn_rng *r, ocr_buf *o)
{
    switch (syn_rng_below(r, 9)) {
    case 0: ocr_buf_printf(o, "[%d]", syn_rng_between(r, 1, 80)); break;
    case 1: ocr_buf_printf(o, "[%d, %d]", syn_rng_between(r, 1, 40), syn_rng_between(r, 41, 90)); break;
    case 2: ocr_buf_printf(o, "[%d–%d]", syn_rng_between(r, 1, 40), syn_rng_between(r, 41, 90)); break;
    case 3:
        ocr_buf_printf(o, "(%s et al., %d)", syn_rng_pick(r, SURNAMES, (int)(sizeof SURNAMES / sizeof SURNAMES[0])),
                       syn_rng_between(r, 1950, 2024));
        break;
    case 4: ocr_buf_printf(o, "(see Fig. %d%s)", syn_rng_between(r, 1, 12), syn_rng_chance(r, 0.3) ? "b" : ""); break;
    case 5: ocr_buf_printf(o, "Eq. (%d)", syn_rng_between(r, 1, 60)); break;
    case 6: ocr_buf_printf(o, "pp. %d–%d", syn_rng_between(r, 1, 400), syn_rng_between(r, 401, 900)); break;
    case 7: ocr_buf_printf(o, "Vol. %d, No. %d", syn_rng_between(r, 1, 120), syn_rng_between(r, 1, 12)); break;
    default: ocr_buf_printf(o, "Table %d", syn_rng_between(r, 1, 9)); break;
    }
}

typedef enum { ITEM_NUMBER, ITEM_DATE, ITEM_MONEY, ITEM_UNIT, ITEM_CODE, ITEM_URL,
               ITEM_EMAIL, ITEM_CITE, ITEM_N } item_kind;

static void gen_item(syn_rng *r, const syn_corpus *c, ocr_buf *o, int kind)
{
    switch (kind) {
    case ITEM_NUMBER: gen_number(r, o); break;
    case ITEM_DATE: gen_date(r, o); break;
    case ITEM_MONEY: gen_money(r, o); break;
    case ITEM_UNIT: gen_unit(r, o); break;
    case ITEM_CODE: gen_code(r, o); break;
    case ITEM_URL: gen_url(r, c, o); break;
    case ITEM_EMAIL: gen_email(r, c, o); break;
    default: gen_citation(r, o); break;
    }
}

static int pick_item(syn_rng *r)
{
    static const double w[ITEM_N] = {4, 2, 1.5, 2.5, 1.2, 0.8, 0.6, 2};
    return syn_rng_weighted(r, w, ITEM_N);
}

/* Insert `item` into the prose in `o` after a random word. */
static void insert_at_word(syn_rng *r, ocr_buf *o, size_t from, const char *item)
{
    size_t n = o->n - from;
    if (n < 4) {
        ocr_buf_putc(o, ' ');
        ocr_buf_puts(o, item);
        return;
    }
    size_t at = from + (size_t)syn_rng_next(r) % n;
    while (at < o->n && o->p[at] != ' ') at++;
    ocr_buf tail = {0};
    ocr_buf_puts(&tail, o->p + at);
    ocr_buf_truncate(o, at);
    ocr_buf_putc(o, ' ');
    ocr_buf_puts(o, item);
    ocr_buf_puts(o, tail.n ? tail.p : "");
    ocr_buf_free(&tail);
}

static void to_upper_ascii(ocr_buf *o, size_t from)
{
    for (size_t i = from; i < o->n; i++)
        if ((unsigned char)o->p[i] < 0x80) o->p[i] = (char)toupper((unsigned char)o->p[i]);
}

static void title_case(ocr_buf *o, size_t from)
{
    bool start = true;
    for (size_t i = from; i < o->n; i++) {
        unsigned char ch = (unsigned char)o->p[i];
        if (start && ch < 0x80 && isalpha(ch)) o->p[i] = (char)toupper(ch);
        start = ch == ' ' || ch == '-' || ch == '(';
    }
}

static void wrap_quotes(syn_rng *r, ocr_buf *o, size_t from)
{
    static const char *const open[] = {"“", "‘", "\"", "«", "„", "'"};
    static const char *const close[] = {"”", "’", "\"", "»", "“", "'"};
    int q = syn_rng_below(r, 6);
    /* Quote a stretch of 2..6 words somewhere in the prose. */
    size_t n = o->n - from;
    if (n < 12) return;
    size_t a = from + (size_t)syn_rng_next(r) % (n / 2);
    while (a < o->n && o->p[a] != ' ') a++;
    if (a >= o->n) return;
    a++;
    size_t b = a;
    int words = syn_rng_between(r, 2, 6);
    for (int w = 0; w < words && b < o->n; w++) {
        while (b < o->n && o->p[b] != ' ') b++;
        if (w + 1 < words && b < o->n) b++;
    }
    if (b <= a) return;
    ocr_buf t = {0};
    ocr_buf_put(&t, o->p + from, a - from);
    ocr_buf_puts(&t, open[q]);
    ocr_buf_put(&t, o->p + a, b - a);
    ocr_buf_puts(&t, close[q]);
    ocr_buf_puts(&t, o->p + b);
    ocr_buf_truncate(o, from);
    ocr_buf_puts(o, ocr_buf_cstr(&t));
    ocr_buf_free(&t);
}

static const double TEXT_SRC_W[SYN_N_TEXT_SRC] = {0.45, 0.25, 0.17, 0.13};

void syn_text_line(syn_rng *r, const syn_corpus *c, ocr_buf *o, syn_text_info *info)
{
    memset(info, 0, sizeof *info);
    info->hyphenate = true;
    size_t from = o->n;
    double w[] = {0.52, 0.16, 0.07, 0.08, 0.09, 0.08};
    int type = syn_rng_weighted(r, w, 6);
    int src = syn_rng_weighted(r, TEXT_SRC_W, SYN_N_TEXT_SRC);
    switch (type) {
    case 0: { /* prose with generated items mixed in */
        syn_text_snippet(r, c, src, 40, 220, syn_rng_chance(r, 0.15), o);
        int items = syn_rng_chance(r, 0.45) ? syn_rng_between(r, 1, 3) : 0;
        for (int i = 0; i < items; i++) {
            ocr_buf it = {0};
            gen_item(r, c, &it, pick_item(r));
            if (syn_rng_chance(r, 0.15)) {
                ocr_buf p = {0};
                ocr_buf_printf(&p, "(%s)", ocr_buf_cstr(&it));
                ocr_buf_free(&it);
                it = p;
            }
            insert_at_word(r, o, from, ocr_buf_cstr(&it));
            ocr_buf_free(&it);
        }
        if (syn_rng_chance(r, 0.12)) wrap_quotes(r, o, from);
        if (syn_rng_chance(r, 0.08))
            insert_at_word(r, o, from, syn_rng_pick(r, DASHES, (int)(sizeof DASHES / sizeof DASHES[0])));
        if (syn_rng_chance(r, 0.03)) to_upper_ascii(o, from);
        break;
    }
    case 1: { /* a structured line: label, value, label, value */
        static const char *const labels[] = {
            "Total", "Date", "Invoice No.", "Tel.", "Fax", "E-mail", "Ref.",
            "Amount due", "Subtotal", "VAT", "Order", "Account", "Web",
            "Phone", "Balance", "Due date", "Customer ID", "Page", "Received",
            "Accepted", "Published online", "DOI", "Contact", "Price"};
        int n = syn_rng_between(r, 1, 3);
        for (int i = 0; i < n; i++) {
            if (i) ocr_buf_puts(o, syn_rng_pick(r, (const char *const[]){"   ", " · ", "; ", " | ", ", "}, 5));
            ocr_buf_puts(o, syn_rng_pick(r, labels, (int)(sizeof labels / sizeof labels[0])));
            ocr_buf_puts(o, syn_rng_chance(r, 0.8) ? ": " : " ");
            gen_item(r, c, o, pick_item(r));
        }
        info->hyphenate = false;
        break;
    }
    case 2: { /* a heading */
        if (syn_rng_chance(r, 0.5))
            ocr_buf_printf(o, syn_rng_chance(r, 0.5) ? "%d " : "%d.%d ", syn_rng_between(r, 1, 12),
                           syn_rng_between(r, 1, 9));
        size_t h0 = o->n;
        syn_text_snippet(r, c, src, 8, (size_t)syn_rng_between(r, 15, 60), false, o);
        while (o->n > h0 && strchr(".,;:", o->p[o->n - 1])) ocr_buf_truncate(o, o->n - 1);
        if (syn_rng_chance(r, 0.5)) to_upper_ascii(o, h0);
        else title_case(o, h0);
        info->heading = true;
        info->hyphenate = false;
        break;
    }
    case 3: { /* a list item */
        static const char *const bullets[] = {"• ", "– ", "- ", "* ", "▪ ", "◦ ", "· ", "→ "};
        if (syn_rng_chance(r, 0.5)) ocr_buf_puts(o, syn_rng_pick(r, bullets, 8));
        else if (syn_rng_chance(r, 0.5)) ocr_buf_printf(o, "%d. ", syn_rng_between(r, 1, 30));
        else if (syn_rng_chance(r, 0.5)) ocr_buf_printf(o, "(%c) ", 'a' + syn_rng_below(r, 8));
        else ocr_buf_printf(o, "%s) ", syn_rng_pick(r, (const char *const[]){"i", "ii", "iii", "iv", "v", "vi"}, 6));
        syn_text_snippet(r, c, src, 20, 160, syn_rng_chance(r, 0.5), o);
        break;
    }
    case 4: { /* a row of a numeric table */
        int n = syn_rng_between(r, 2, 7);
        if (syn_rng_chance(r, 0.6)) {
            corpus_word(r, c, o, 3, false);
            ocr_buf_puts(o, "  ");
        }
        int k = pick_item(r);
        if (k > ITEM_UNIT) k = ITEM_NUMBER;
        for (int i = 0; i < n; i++) {
            if (i) ocr_buf_puts(o, syn_rng_chance(r, 0.7) ? "   " : "  ");
            if (k == ITEM_NUMBER && syn_rng_chance(r, 0.7)) gen_decimal(r, o);
            else gen_item(r, c, o, k);
        }
        info->numeric = true;
        info->hyphenate = false;
        break;
    }
    default: { /* a reference-list entry */
        ocr_buf_printf(o, syn_rng_chance(r, 0.6) ? "[%d] " : "%d. ", syn_rng_between(r, 1, 99));
        int na = syn_rng_between(r, 1, 3);
        for (int i = 0; i < na; i++) {
            if (i) ocr_buf_puts(o, i == na - 1 ? " and " : ", ");
            ocr_buf_printf(o, "%c. %s", 'A' + syn_rng_below(r, 26),
                           syn_rng_pick(r, SURNAMES, (int)(sizeof SURNAMES / sizeof SURNAMES[0])));
        }
        ocr_buf_puts(o, syn_rng_chance(r, 0.5) ? ", “" : ". ");
        size_t t0 = o->n;
        syn_text_snippet(r, c, SYN_TEXT_ARXIV, 10, 50, false, o);
        while (o->n > t0 && strchr(".,;:", o->p[o->n - 1])) ocr_buf_truncate(o, o->n - 1);
        if (o->n > t0) title_case(o, t0);
        ocr_buf_puts(o, o->p[t0 - 1] == ' ' ? ". " : ",” ");
        gen_citation(r, o);
        ocr_buf_printf(o, " (%d).", syn_rng_between(r, 1950, 2024));
        break;
    }
    }
    /* Never leave leading/trailing blanks: a crop starts and ends in ink. */
    while (o->n > from && o->p[o->n - 1] == ' ') ocr_buf_truncate(o, o->n - 1);
}

void syn_text_cell(syn_rng *r, const syn_corpus *c, ocr_buf *o, syn_text_info *info)
{
    memset(info, 0, sizeof *info);
    double w[] = {0.28, 0.3, 0.1, 0.08, 0.08, 0.06, 0.06, 0.04};
    switch (syn_rng_weighted(r, w, 8)) {
    case 0: { /* one to three words */
        int n = syn_rng_between(r, 1, 3);
        for (int i = 0; i < n; i++) {
            if (i) ocr_buf_putc(o, ' ');
            corpus_word(r, c, o, 2, syn_rng_chance(r, 0.6));
        }
        if (syn_rng_chance(r, 0.2)) title_case(o, 0);
        else if (syn_rng_chance(r, 0.08)) to_upper_ascii(o, 0);
        break;
    }
    case 1: gen_number(r, o); info->numeric = true; break;
    case 2: gen_money(r, o); info->numeric = true; break;
    case 3: gen_date(r, o); break;
    case 4: gen_unit(r, o); info->numeric = true; break;
    case 5: gen_code(r, o); break;
    case 6:
        ocr_buf_puts(o, syn_rng_pick(r, (const char *const[]){
            "N/A", "—", "–", "n.d.", "Yes", "No", "TBD", "✓", "×", "Total", "n/a", "0", "-", "Σ"}, 14));
        break;
    default: syn_text_snippet(r, c, syn_rng_weighted(r, TEXT_SRC_W, SYN_N_TEXT_SRC), 5, 30, false, o); break;
    }
}

/* A word break for a hyphenated line end: the prefix of `w` (letters only,
 * at least 6 of them) to keep before the hyphen; 0 when not breakable. */
size_t syn_text_hyphen_point(syn_rng *r, const char *w, size_t n)
{
    size_t letters = 0;
    while (letters < n && isalpha((unsigned char)w[letters])) letters++;
    if (letters < 6) return 0;
    /* Break after a vowel followed by a consonant, at least 2 letters in
     * and 3 before the end: crude, but looks like real hyphenation. */
    size_t cands[32], nc = 0;
    for (size_t i = 2; i + 3 <= letters && nc < 32; i++) {
        bool v0 = strchr("aeiouyAEIOUY", w[i - 1]) != NULL;
        bool v1 = strchr("aeiouyAEIOUY", w[i]) != NULL;
        if (v0 && !v1) cands[nc++] = i;
    }
    if (nc == 0) return 0;
    return cands[syn_rng_below(r, (int)nc)];
}

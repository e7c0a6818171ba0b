/* train/syn_rng.c — the generator's own PRNG (xoshiro256** seeded through
 * splitmix64).
 *
 * Every sample draws from a stream derived from (seed, sample index) only,
 * so a sample's bytes do not depend on which thread made it or on what was
 * generated before it. rand() is never used: its state is global and its
 * sequence differs between C libraries.
 */
#include <math.h>

#include "train/syn.h"

uint64_t syn_mix64(uint64_t x) { return ocr_splitmix64(&x); }

void syn_rng_init(syn_rng *r, uint64_t seed, uint64_t stream)
{
    /* Two rounds of mixing decorrelate neighbouring (seed, stream) pairs;
     * splitmix64 never yields the all-zero state xoshiro cannot leave. */
    uint64_t x = syn_mix64(seed) ^ syn_mix64(stream + 0x632BE59BD9B4E019ULL);
    for (int i = 0; i < 4; i++) {
        x = syn_mix64(x);
        r->s[i] = x;
    }
}

uint64_t syn_rng_next(syn_rng *r) { return ocr_rng_next(r); }

double syn_rng_unit(syn_rng *r) { return ocr_rng_uniform(r); }

double syn_rng_range(syn_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * syn_rng_unit(r);
}

double syn_rng_logrange(syn_rng *r, double lo, double hi)
{
    if (lo <= 0 || hi <= 0) return syn_rng_range(r, lo, hi);
    return exp(syn_rng_range(r, log(lo), log(hi)));
}

int syn_rng_below(syn_rng *r, int n)
{
    if (n <= 1) return 0;
    /* Lemire's multiply-shift; the tiny bias is irrelevant for data. */
    return (int)(((syn_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

int syn_rng_between(syn_rng *r, int lo, int hi)
{
    if (hi <= lo) return lo;
    return lo + syn_rng_below(r, hi - lo + 1);
}

bool syn_rng_chance(syn_rng *r, double p)
{
    if (p <= 0) return false;
    if (p >= 1) return true;
    return syn_rng_unit(r) < p;
}

double syn_rng_normal(syn_rng *r)
{
    /* Box–Muller, one value per call: simpler than caching the twin, and
     * caching would make a stream's values depend on call parity. */
    double u = syn_rng_unit(r), v = syn_rng_unit(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

int syn_rng_weighted(syn_rng *r, const double *w, int n)
{
    double tot = 0;
    for (int i = 0; i < n; i++) tot += w[i] > 0 ? w[i] : 0;
    if (tot <= 0) return 0;
    double x = syn_rng_unit(r) * tot;
    for (int i = 0; i < n; i++) {
        double wi = w[i] > 0 ? w[i] : 0;
        if (x < wi) return i;
        x -= wi;
    }
    return n - 1;
}

const char *syn_rng_pick(syn_rng *r, const char *const *list, int n)
{
    return list[syn_rng_below(r, n)];
}

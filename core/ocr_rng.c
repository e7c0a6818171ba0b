/* core/ocr_rng.c — the project's one PRNG: xoshiro256** with splitmix64 for
 * seeding (Blackman & Vigna). rand() is never used anywhere: its state is
 * global and its sequence differs between C libraries, and every consumer
 * here (sampling, synthetic data, random test/bench weights) must be
 * reproducible from a seed. */
#include "core/ocr.h"

uint64_t ocr_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ocr_rng_seed(ocr_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = ocr_splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ocr_rng_next(ocr_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double ocr_rng_uniform(ocr_rng *r)
{
    return (double)(ocr_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); /* 2^-53 */
}

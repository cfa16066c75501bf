/* Deterministic embedding vectors shared by the OpenAI and Gemini embedding
 * endpoints: equal texts give equal unit vectors. Also the bag-of-words
 * vectors of the OpenAI endpoint's "bow-" models, where texts sharing most
 * of their words give similar vectors. */
#include "mock.h"

#include <ctype.h>
#include <math.h>

/* n components from FNV-1a of the text stretched by splitmix64, L2-normalised
 * and rounded to 6 decimals. The first 8 of n = 8 are the OpenAI mock's. */
void mock_vector(const char *text, double *v, int n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    double norm = 0;
    for (int i = 0; i < n; i++) {
        uint64_t z = (h += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        v[i] = (double)(z >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
        norm += v[i] * v[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < n; i++)
        v[i] = round(v[i] / norm * 1e6) / 1e6;
}

/* Each word (a run of ASCII letters and digits, lower-cased) adds +1 or -1
 * to one of the n components, both chosen by FNV-1a of the word; the sum is
 * L2-normalised and rounded to 6 decimals (all zero when there is no word). */
void mock_vector_words(const char *text, double *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = 0;
    const unsigned char *p = (const unsigned char *)text;
    while (*p) {
        uint64_t h = 0xcbf29ce484222325ull;
        int len = 0;
        for (; isalnum(*p) && *p < 128; p++, len++)
            h = (h ^ (unsigned char)tolower(*p)) * 0x100000001b3ull;
        if (!len) {
            p++;
            continue;
        }
        v[(h >> 1) % (uint64_t)n] += (h & 1) ? 1.0 : -1.0;
    }
    double norm = 0;
    for (int i = 0; i < n; i++)
        norm += v[i] * v[i];
    norm = sqrt(norm);
    for (int i = 0; i < n && norm > 0; i++)
        v[i] = round(v[i] / norm * 1e6) / 1e6;
}

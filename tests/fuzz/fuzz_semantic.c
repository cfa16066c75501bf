/* Fuzz target for the semantic matching code that reads client text:
 * common/textnorm.c (word analysis), common/embed.c (the local embedder) and
 * common/simcheck.c (the verification step). The input is two texts
 * separated by the first 0x1F byte (or the whole input twice). Checks that
 * embedding never fails but for memory, is deterministic, and gives a unit
 * vector or all zeros (return 1); that the verdict is PASS or REJECT, the
 * same both ways round, PASS for a text against itself, and comes with a
 * NUL-terminated reason; and that every kept word is non-empty. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "simcheck.h"
#include "textnorm.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_semantic: check failed: %s (line %d)\n", #cond, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_embed(const char *s, size_t n)
{
    float a[GW_EMBED_LOCAL_DIM], b[GW_EMBED_LOCAL_DIM];
    int ra = gw_embed_local(s, n, a);
    int rb = gw_embed_local(s, n, b);
    CHECK(ra == 0 || ra == 1);
    CHECK(ra == rb && memcmp(a, b, sizeof a) == 0);
    double ss = 0;
    for (int i = 0; i < GW_EMBED_LOCAL_DIM; i++) {
        CHECK(isfinite(a[i]));
        ss += (double)a[i] * a[i];
    }
    CHECK(ra == 0 ? fabs(ss - 1.0) < 1e-4 : ss == 0);
}

static void check_text(const char *s, size_t n)
{
    struct gw_text t;
    CHECK(gw_text_analyse(s, n, &t) == 0);
    size_t content = 0;
    for (size_t i = 0; i < t.n; i++) {
        CHECK(t.w[i].text && t.w[i].text[0]);
        CHECK(t.w[i].kind <= GW_TW_BREAK);
        content += t.w[i].kind == GW_TW_CONTENT || t.w[i].kind == GW_TW_NUMBER ||
                   t.w[i].kind == GW_TW_NEGATION;
    }
    CHECK(content == t.n_content);
    CHECK(t.n_raw <= 2 * GW_TEXT_MAX_WORDS);
    gw_text_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *a = (const char *)data, *b = a;
    size_t an = size, bn = size;
    const uint8_t *sep = memchr(data, 0x1F, size);
    if (sep) {
        an = (size_t)(sep - data);
        b = (const char *)sep + 1;
        bn = size - an - 1;
    }
    check_text(a, an);
    check_embed(a, an);
    check_embed(b, bn);
    char r1[160], r2[160];
    memset(r1, 'x', sizeof r1);
    int v1 = gw_simcheck(a, an, b, bn, r1, sizeof r1);
    int v2 = gw_simcheck(b, bn, a, an, r2, sizeof r2);
    CHECK(v1 == GW_SIMCHECK_PASS || v1 == GW_SIMCHECK_REJECT);
    CHECK(v1 == v2);
    CHECK(memchr(r1, 0, sizeof r1) != NULL);
    CHECK(gw_simcheck(a, an, a, an, NULL, 0) == GW_SIMCHECK_PASS);
    return 0;
}

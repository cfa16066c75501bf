/* The local embedder and the vector helpers (embed.h).
 *
 * Features of a text, from the words textnorm.c keeps (content words,
 * numbers with their unit, negations, prepositions):
 *   - each word (weight 1; a number 1.5; a preposition 0.35),
 *   - each pair of neighbouring words (0.6), so order counts a little,
 *   - each character 3-, 4- and 5-gram of a word with boundary marks,
 *     "<list>" -> "<li", "lis", "ist", "st>", "<lis", ... (0.25 each), so
 *     words sharing a stem or differing by a typo stay close.
 * A feature is hashed (FNV-1a 64 with a kind byte, then a 64-bit finaliser);
 * the hash picks one of GW_EMBED_LOCAL_DIM dimensions and a sign (signed
 * feature hashing, so collisions cancel on average instead of adding up).
 * A feature seen n times weighs w * (1 + ln n) (sublinear term frequency).
 * The vector is then L2-normalised. A text whose words are all function
 * words ("hi, thanks!") is embedded from all its words instead. */
#include "embed.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "textnorm.h"

#define W_WORD   1.0f
#define W_NUMBER 1.5f
#define W_MARKER 0.35f
#define W_BIGRAM 0.6f
#define W_CHAR   0.25f

struct feat {
    uint64_t h;
    float w;
};

struct feats {
    struct feat *f;
    size_t n, cap;
    int oom;
};

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ULL

static void feat_add(struct feats *fs, uint64_t h, float w)
{
    if (fs->oom)
        return;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 256;
        struct feat *nf = realloc(fs->f, cap * sizeof *nf);
        if (!nf) {
            fs->oom = 1;
            return;
        }
        fs->f = nf;
        fs->cap = cap;
    }
    fs->f[fs->n++] = (struct feat){.h = mix64(h), .w = w};
}

static void add_word(struct feats *fs, const char *w, float weight)
{
    uint64_t h = fnv(FNV_INIT, "w", 1);
    feat_add(fs, fnv(h, w, strlen(w)), weight);
}

static void add_bigram(struct feats *fs, const char *a, const char *b)
{
    uint64_t h = fnv(FNV_INIT, "b", 1);
    h = fnv(h, a, strlen(a));
    h = fnv(h, " ", 1);
    feat_add(fs, fnv(h, b, strlen(b)), W_BIGRAM);
}

/* Character n-grams of "<w>", counted in code points (UTF-8 lead bytes). */
static void add_chargrams(struct feats *fs, const char *w)
{
    size_t len = strlen(w);
    if (len > 64)
        len = 64;
    char buf[68];
    buf[0] = '<';
    memcpy(buf + 1, w, len);
    buf[len + 1] = '>';
    size_t blen = len + 2;
    size_t starts[68], ns = 0;
    for (size_t i = 0; i < blen; i++)
        if (((unsigned char)buf[i] & 0xC0) != 0x80)
            starts[ns++] = i;
    starts[ns] = blen;
    for (size_t n = 3; n <= 5; n++) {
        if (ns < n)
            break;
        for (size_t i = 0; i + n <= ns; i++) {
            uint64_t h = fnv(FNV_INIT, n == 3 ? "3" : n == 4 ? "4" : "5", 1);
            feat_add(fs, fnv(h, buf + starts[i], starts[i + n] - starts[i]), W_CHAR);
        }
    }
}

static int cmp_feat(const void *a, const void *b)
{
    uint64_t x = ((const struct feat *)a)->h, y = ((const struct feat *)b)->h;
    return x < y ? -1 : x > y;
}

int gw_embed_local(const char *text, size_t len, float *out)
{
    memset(out, 0, GW_EMBED_LOCAL_DIM * sizeof *out);
    struct gw_text t;
    struct feats fs = {0};
    int rc = 0;
    if (gw_text_analyse(text, len, &t) < 0) {
        rc = -1;
        goto out;
    }
    if (t.n_content > 0) {
        const char *prev = NULL;
        for (size_t i = 0; i < t.n; i++) {
            const struct gw_tword *w = &t.w[i];
            if (w->kind == GW_TW_BREAK)
                continue;
            float weight = w->kind == GW_TW_NUMBER   ? W_NUMBER
                           : w->kind == GW_TW_MARKER ? W_MARKER
                                                     : W_WORD;
            add_word(&fs, w->text, weight);
            if (prev)
                add_bigram(&fs, prev, w->text);
            prev = w->text;
            if (w->kind == GW_TW_CONTENT)
                add_chargrams(&fs, w->text);
        }
    } else {
        /* only function words: all of them, as they are */
        for (size_t i = 0; i < t.n_raw; i++) {
            add_word(&fs, t.raw[i], W_WORD);
            if (i)
                add_bigram(&fs, t.raw[i - 1], t.raw[i]);
        }
    }
    if (fs.oom) {
        rc = -1;
        goto out;
    }
    if (fs.n == 0) {
        rc = 1;
        goto out;
    }
    qsort(fs.f, fs.n, sizeof *fs.f, cmp_feat);
    for (size_t i = 0; i < fs.n;) {
        size_t j = i + 1;
        while (j < fs.n && fs.f[j].h == fs.f[i].h)
            j++;
        /* equal hashes are the same feature (same kind, same weight) */
        float w = fs.f[i].w * (1.0f + logf((float)(j - i)));
        uint64_t h = fs.f[i].h;
        out[h % GW_EMBED_LOCAL_DIM] += (h >> 63) ? -w : w;
        i = j;
    }
    struct gw_vec v = {.dim = GW_EMBED_LOCAL_DIM, .v = out};
    if (gw_vec_normalize(&v) < 0) {
        memset(out, 0, GW_EMBED_LOCAL_DIM * sizeof *out);
        rc = 1;
    }
out:
    free(fs.f);
    gw_text_free(&t);
    return rc;
}

/* Four independent accumulators of four lanes: the compiler emits packed
 * multiply-adds on any x86-64 (SSE2) or arm64 (NEON). */
typedef float v4f __attribute__((vector_size(16)));

float gw_vec_dot(const float *a, const float *b, int dim)
{
    v4f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    int i = 0;
    for (; i + 16 <= dim; i += 16) {
        v4f x0, x1, x2, x3, y0, y1, y2, y3;
        memcpy(&x0, a + i, 16);
        memcpy(&x1, a + i + 4, 16);
        memcpy(&x2, a + i + 8, 16);
        memcpy(&x3, a + i + 12, 16);
        memcpy(&y0, b + i, 16);
        memcpy(&y1, b + i + 4, 16);
        memcpy(&y2, b + i + 8, 16);
        memcpy(&y3, b + i + 12, 16);
        s0 += x0 * y0;
        s1 += x1 * y1;
        s2 += x2 * y2;
        s3 += x3 * y3;
    }
    v4f s = (s0 + s1) + (s2 + s3);
    float r = (s[0] + s[1]) + (s[2] + s[3]);
    for (; i < dim; i++)
        r += a[i] * b[i];
    return r;
}

int gw_vec_normalize(struct gw_vec *v)
{
    if (!v || !v->v || v->dim <= 0)
        return -1;
    double ss = 0;
    for (int i = 0; i < v->dim; i++)
        ss += (double)v->v[i] * v->v[i];
    if (!(ss > 0) || !isfinite(ss))
        return -1;
    float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < v->dim; i++)
        v->v[i] *= inv;
    return 0;
}

float gw_vec_cosine(const struct gw_vec *a, const struct gw_vec *b)
{
    if (!a || !b || !a->v || !b->v || a->dim != b->dim || a->dim <= 0)
        return 0;
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < a->dim; i++) {
        ab += (double)a->v[i] * b->v[i];
        aa += (double)a->v[i] * a->v[i];
        bb += (double)b->v[i] * b->v[i];
    }
    if (!(aa > 0) || !(bb > 0) || !isfinite(ab) || !isfinite(aa) || !isfinite(bb))
        return 0;
    double c = ab / sqrt(aa * bb);
    return (float)(c > 1 ? 1 : c < -1 ? -1 : c);
}

void gw_vec_pack(const float *v, int dim, void *out)
{
    unsigned char *o = out;
    for (int i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        o[4 * i] = (unsigned char)u;
        o[4 * i + 1] = (unsigned char)(u >> 8);
        o[4 * i + 2] = (unsigned char)(u >> 16);
        o[4 * i + 3] = (unsigned char)(u >> 24);
    }
}

int gw_vec_unpack(const void *blob, size_t n, float *out, int dim)
{
    if (!blob || dim <= 0 || n != (size_t)dim * 4)
        return -1;
    const unsigned char *b = blob;
    for (int i = 0; i < dim; i++) {
        uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 |
                     (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24;
        memcpy(&out[i], &u, 4);
        if (!isfinite(out[i]))
            return -1;
    }
    return 0;
}

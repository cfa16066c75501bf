/* Semantic matching: `make bench-semantic` (also run by `make bench`).
 *
 *   1. The evaluation of the local embedder on tests/cache_eval/pairs.tsv:
 *      precision, recall, F1 and TP/FP/FN/TN at the default threshold
 *      (GW_EMBED_LOCAL_DEFAULT_THRESHOLD) and around it, with and without
 *      the verification step, then per category at the default.
 *   2. The index (gatewayd/semindex.c): lookup latency p50/p99 (wall time,
 *      best of three rounds) at 10,000 and 100,000 entries in ONE partition
 *      (the worst case), for random vectors and for the local embedder's
 *      vectors of generated questions; how often the prefilter finds the
 *      exact scan's best; insert cost; memory per entry; and a
 *      provider-sized dimension (1536) at 10,000 entries.
 *
 *   build/semantic_bench [PAIRS.tsv]      (default: $GW_CACHE_EVAL or
 *                                          tests/cache_eval/pairs.tsv)
 *
 * Exits 1 when the default threshold's precision with verification is
 * below 0.99 (deterministic) or something fails. The latency aim (p99 under
 * 2 ms at 100,000 entries) is reported, not enforced: latency is wall time
 * on a machine that may be shared, as in the rest of `make bench`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "embed.h"
#include "eval.h"
#include "semindex.h"
#include "simcheck.h"

#define DEF GW_EMBED_LOCAL_DEFAULT_THRESHOLD

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static double urand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return ((rng * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void)
{
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}
static unsigned rnd(unsigned n)
{
    return (unsigned)(urand() * n) % n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---------------------------------------------------------------- 1. eval */

static void row(const struct gw_eval_set *s, double t, int verify, const char *note)
{
    struct gw_eval_counts c = gw_eval_count(s, t, verify, NULL);
    printf("| %.2f%s | %s | %.3f | %.3f | %.3f | %d | %d | %d | %d |\n", t, note,
           verify ? "yes" : "no", gw_eval_precision(c), gw_eval_recall(c), gw_eval_f1(c), c.tp,
           c.fp, c.fn, c.tn);
}

static int eval_table(const char *path)
{
    struct gw_eval_set s;
    char err[256];
    if (gw_eval_load(path, &s, err, sizeof err) < 0) {
        fprintf(stderr, "semantic_bench: %s\n", err);
        return -1;
    }
    int hits = 0;
    for (size_t i = 0; i < s.n; i++)
        hits += s.p[i].hit;
    printf("## Local embedder (%s, %d dimensions) on %s\n\n", GW_EMBED_LOCAL_ID, GW_EMBED_LOCAL_DIM,
           path);
    printf("%zu pairs: %d should hit, %zu must not. A pair is served when its cosine >= the "
           "threshold and, with verification, gw_simcheck passes.\n\n",
           s.n, hits, s.n - (size_t)hits);
    printf("| threshold | verification | precision | recall | F1 | TP | FP | FN | TN |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    static const double ts[] = {0.60, 0.70, 0.75, DEF, 0.85, 0.90, 0.95};
    for (int verify = 1; verify >= 0; verify--)
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            row(&s, ts[i], verify, ts[i] == DEF ? " (default)" : "");

    printf("\nBy category at the default threshold (%.2f): pairs served with / without "
           "verification.\n\n",
           DEF);
    printf("| category | label | pairs | served, verified | served, cosine only |\n");
    printf("|---|---|---:|---:|---:|\n");
    for (int label = 1; label >= 0; label--) {
        for (size_t i = 0; i < s.n; i++) {
            if (s.p[i].hit != label)
                continue;
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = s.p[j].hit == label && strcmp(s.p[j].category, s.p[i].category) == 0;
            if (seen)
                continue;
            int n = 0, v = 0, c = 0;
            for (size_t j = i; j < s.n; j++) {
                const struct gw_eval_pair *e = &s.p[j];
                if (e->hit != label || strcmp(e->category, s.p[i].category) != 0)
                    continue;
                n++;
                c += e->cosine >= DEF;
                v += e->cosine >= DEF && e->verified;
            }
            printf("| %s | %s | %d | %d | %d |\n", s.p[i].category,
                   label ? "should hit" : "must not", n, v, c);
        }
    }
    /* cost of one verification (both questions analysed), over the set */
    double t0 = now_us();
    int rounds = 0;
    do {
        for (size_t i = 0; i < s.n; i++)
            gw_simcheck(s.p[i].a, strlen(s.p[i].a), s.p[i].b, strlen(s.p[i].b), NULL, 0);
        rounds++;
    } while (now_us() - t0 < 300000);
    printf("\nVerification: %.1f µs per pair (both questions analysed; %d rounds of the set).\n",
           (now_us() - t0) / ((double)rounds * s.n), rounds);
    struct gw_eval_counts d = gw_eval_count(&s, DEF, 1, NULL);
    int ok = gw_eval_precision(d) >= 0.99;
    printf("Aim: precision >= 0.99 with verification at the default threshold: %.3f, %s.\n",
           gw_eval_precision(d), ok ? "met" : "MISSED");
    /* the pairs the default gets wrong, so a regression names itself */
    int shown = 0;
    for (size_t i = 0; i < s.n; i++) {
        const struct gw_eval_pair *e = &s.p[i];
        int served = e->cosine >= DEF && e->verified;
        if (served == e->hit || (!served && strcmp(e->category, "paraphrase-semantic") == 0))
            continue;
        if (!shown++)
            printf("\nWrong at the default (paraphrase-semantic misses not listed):\n\n");
        printf("- %s %s: \"%s\" / \"%s\" (cosine %.3f; %s)\n", served ? "FP" : "FN", e->category,
               e->a, e->b, e->cosine, e->reason);
    }
    gw_eval_free(&s);
    return ok ? 0 : 1;
}

/* ---------------------------------------------------------------- 2. index */

static const char *const subj[] = {
    "France",   "Germany",   "Japan",     "Brazil",  "Canada", "India",  "Kenya",
    "Peru",     "Norway",    "Egypt",     "Python",  "Java",   "Rust",   "Go",
    "Excel",    "Docker",    "Linux",     "SQL",     "a cat",  "a dog",  "the Moon",
    "Mars",     "the ocean", "a volcano", "a bee",   "coffee", "rice",   "bread",
    "a laptop", "a bicycle", "the heart", "a river", "a tree", "a star", "a bank",
};
static const char *const attr[] = {
    "capital", "population", "currency",    "history",   "climate", "size",     "age",
    "price",   "weight",     "speed",       "color",     "origin",  "meaning",  "purpose",
    "cost",    "shape",      "temperature", "structure", "diet",    "lifespan",
};
static const char *const verb[] = {
    "reverse a list",   "sort a dictionary",  "read a file",       "parse JSON",
    "open a socket",    "write a test",       "install a package", "debug a crash",
    "format a date",    "merge two branches", "find large files",  "resize an image",
    "encrypt a string", "count words",        "join tables",
};
static const char *const fill[] = {
    "", "Hey, ", "Quick question: ", "Please tell me ", "Can you tell me ", "I was wondering, "};

/* A question from templates; variant > 0 rewrites it the way users do
 * (filler, case, punctuation), which the verification step accepts. */
static void question(char *out, size_t n, unsigned seed, int variant)
{
    unsigned a = seed % 35, b = (seed / 35) % 20, c = (seed / 700) % 15, t = (seed / 10500) % 4;
    unsigned num = seed / 42000;
    char q[256];
    switch (t) {
    case 0:
        snprintf(q, sizeof q, "what is the %s of %s in %u", attr[b], subj[a], 1900 + num % 125);
        break;
    case 1:
        snprintf(q, sizeof q, "how do I %s in %s with %u lines", verb[c], subj[a % 18], num % 97);
        break;
    case 2:
        snprintf(q, sizeof q, "why is the %s of %s %u percent higher", attr[b], subj[a], num % 101);
        break;
    default:
        snprintf(q, sizeof q, "compare the %s of %s and the %s of %s after %u days", attr[b],
                 subj[a], attr[(b + c) % 20], subj[(a + c + 1) % 35], num % 113);
        break;
    }
    if (variant == 0)
        snprintf(out, n, "%c%s?", q[0] - 32, q + 1);
    else if (variant == 1)
        snprintf(out, n, "%s%s!", fill[1 + seed % 5], q);
    else
        snprintf(out, n, "%s", q);
}

static float *vec_at(float *vs, size_t i, int dim)
{
    return vs + i * (size_t)dim;
}

struct lat {
    double p50, p99, exact_p50, found, insert_us, bytes;
};

static int candidates; /* $GW_SEMINDEX_CANDIDATES, 0: the index's default */

/* Fills an index with n vectors, then runs nq queries; q_of(i) gives query
 * i and its expected id (or -1: no expectation). */
static int measure(int dim, size_t n, const float *base, const float *queries, size_t nq,
                   struct lat *out)
{
    struct gw_semindex *ix = gw_semindex_new(dim);
    if (!ix)
        return -1;
    if (candidates)
        gw_semindex_set_candidates(ix, candidates);
    double t0 = now_us();
    for (size_t i = 0; i < n; i++)
        if (gw_semindex_add(ix, 1, (int64_t)i, base + i * (size_t)dim) < 0) {
            gw_semindex_free(ix);
            return -1;
        }
    out->insert_us = (now_us() - t0) / n;
    out->bytes = (double)gw_semindex_memory(ix) / n;
    double *lat = malloc(nq * sizeof *lat), *lex = malloc(nq * sizeof *lex);
    if (!lat || !lex) {
        free(lat);
        free(lex);
        gw_semindex_free(ix);
        return -1;
    }
    size_t found = 0, asked = 0;
    out->p50 = out->p99 = out->exact_p50 = 1e30;
    /* best of three rounds: the machine may be shared */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < nq; i++) {
            const float *q = queries + i * (size_t)dim;
            struct gw_semhit h[4];
            double a = now_us();
            gw_semindex_search(ix, 1, q, (float)DEF, h, 4);
            lat[i] = now_us() - a;
        }
        double p50 = pct(lat, nq, 0.50), p99 = pct(lat, nq, 0.99);
        out->p50 = p50 < out->p50 ? p50 : out->p50;
        out->p99 = p99 < out->p99 ? p99 : out->p99;
    }
    for (size_t i = 0; i < nq; i++) {
        struct gw_semhit h[4], e[4];
        const float *q = queries + i * (size_t)dim;
        int nh = gw_semindex_search(ix, 1, q, (float)DEF, h, 4);
        double b = now_us();
        int ne = gw_semindex_search_exact(ix, 1, q, (float)DEF, e, 4);
        lex[i] = now_us() - b;
        if (ne > 0) {
            asked++;
            /* the exact best among the prefilter's hits, or one as good
             * (generated questions repeat: equal vectors, other ids) */
            int f = 0;
            for (int j = 0; j < nh && !f; j++)
                f = h[j].id == e[0].id || h[j].sim >= e[0].sim;
            found += f;
        } else if (nh > 0) {
            fprintf(stderr, "semantic_bench: a hit the exact scan does not have\n");
        }
    }
    out->exact_p50 = pct(lex, nq, 0.50);
    out->found = asked ? 100.0 * found / asked : 100.0;
    free(lat);
    free(lex);
    gw_semindex_free(ix);
    return 0;
}

static void normalize(float *v, int dim)
{
    struct gw_vec g = {.dim = dim, .v = v};
    gw_vec_normalize(&g);
}

/* Random unit vectors; queries: half near a stored vector (cosine about
 * 0.9), half random (no neighbour above the threshold). */
static int random_case(int dim, size_t n, size_t nq, struct lat *out)
{
    float *base = malloc(n * (size_t)dim * sizeof *base);
    float *qs = malloc(nq * (size_t)dim * sizeof *qs);
    if (!base || !qs) {
        free(base);
        free(qs);
        return -1;
    }
    for (size_t i = 0; i < n * (size_t)dim; i++)
        base[i] = (float)gauss();
    for (size_t i = 0; i < n; i++)
        normalize(vec_at(base, i, dim), dim);
    for (size_t i = 0; i < nq; i++) {
        float *q = vec_at(qs, i, dim);
        if (i % 2 == 0) {
            const float *src = vec_at(base, rnd((unsigned)n), dim);
            double noise = 0.45 / sqrt(dim);
            for (int d = 0; d < dim; d++)
                q[d] = src[d] + (float)(noise * gauss());
        } else {
            for (int d = 0; d < dim; d++)
                q[d] = (float)gauss();
        }
        normalize(q, dim);
    }
    int rc = measure(dim, n, base, qs, nq, out);
    free(base);
    free(qs);
    return rc;
}

/* The local embedder's vectors of n generated questions; queries are
 * rewrites of stored questions (half) and questions not stored (half). */
static int text_case(size_t n, size_t nq, struct lat *out, double *embed_us)
{
    int dim = GW_EMBED_LOCAL_DIM;
    float *base = malloc(n * (size_t)dim * sizeof *base);
    float *qs = malloc(nq * (size_t)dim * sizeof *qs);
    if (!base || !qs) {
        free(base);
        free(qs);
        return -1;
    }
    char q[512];
    int rc = 0;
    double t0 = now_us();
    for (size_t i = 0; i < n && rc == 0; i++) {
        question(q, sizeof q, (unsigned)(i * 7919u % 4200000u), 0);
        rc = gw_embed_local(q, strlen(q), vec_at(base, i, dim)) != 0 ? -1 : 0;
    }
    *embed_us = (now_us() - t0) / n;
    for (size_t i = 0; i < nq && rc == 0; i++) {
        if (i % 2 == 0) /* a stored question, rewritten */
            question(q, sizeof q, (unsigned)(rnd((unsigned)n) * 7919u % 4200000u),
                     1 + (int)(i / 2 % 2));
        else /* any question, most of them not stored */
            question(q, sizeof q, rnd(4200000u), 2);
        rc = gw_embed_local(q, strlen(q), vec_at(qs, i, dim)) != 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = measure(dim, n, base, qs, nq, out);
    free(base);
    free(qs);
    return rc;
}

static int latency_table(void)
{
    int fail = 0;
    printf("\n## Index lookup (gatewayd/semindex.c), one partition, k = 4, min similarity "
           "%.2f\n\n",
           DEF);
    printf("| vectors | dim | entries | p50 µs | p99 µs | exact scan p50 µs | exact best found "
           "| insert µs | bytes/entry |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    struct {
        const char *name;
        int dim;
        size_t n;
    } cases[] = {
        {"random", GW_EMBED_LOCAL_DIM, 10000},
        {"random", GW_EMBED_LOCAL_DIM, 100000},
        {"questions", GW_EMBED_LOCAL_DIM, 10000},
        {"questions", GW_EMBED_LOCAL_DIM, 100000},
        {"random", 1536, 10000},
    };
    double embed_us = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct lat l;
        size_t nq = 1000;
        int rc = strcmp(cases[i].name, "random") == 0
                     ? random_case(cases[i].dim, cases[i].n, nq, &l)
                     : text_case(cases[i].n, nq, &l, &embed_us);
        if (rc < 0) {
            fprintf(stderr, "semantic_bench: out of memory\n");
            return -1;
        }
        printf("| %s | %d | %zu | %.0f | %.0f | %.0f | %.1f%% | %.1f | %.0f |\n", cases[i].name,
               cases[i].dim, cases[i].n, l.p50, l.p99, l.exact_p50, l.found, l.insert_us, l.bytes);
        if (cases[i].n == 100000 && l.p99 > 2000)
            fail = 1;
    }
    printf("\nQueries: 1,000 per row, half near a stored entry, half not; p50 and p99 are wall "
           "time, the best of three rounds. \"Exact best found\": of the queries with a "
           "neighbour above the threshold, those whose exact best (or one as similar) is among "
           "the prefilter's hits (GW_SEMINDEX_CANDIDATES=%d re-scored).\n",
           candidates ? candidates : 128);
    printf("Local embedder: %.1f µs per generated question (embedding alone).\n", embed_us);
    printf("Aim: lookup at 100,000 entries under 2 ms (p99): %s.\n", fail ? "MISSED" : "met");
    return fail;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : gw_eval_default_path();
    const char *c = getenv("GW_SEMINDEX_CANDIDATES");
    candidates = c ? atoi(c) : 0;
    int e = eval_table(path);
    if (e < 0)
        return 1;
    if (latency_table() < 0)
        return 1;
    return e ? 1 : 0;
}

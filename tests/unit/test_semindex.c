/* Unit tests of gatewayd/semindex.c: add, replace, remove, clear and count
 * keep every remaining entry findable; partitions never mix; hits are
 * sorted, above min_sim and exact; bad queries fail; the SimHash prefilter
 * agrees with brute force at k = 1 on random data for at least 99% of the
 * queries that have a neighbour (and never invents one); any dimension
 * works; searches run alongside writers from other threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "semindex.h"

static uint64_t rs = 0x243F6A8885A308D3ull;
static double urand(void)
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return ((rs * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void)
{
    return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand());
}
static void rand_unit(float *v, int dim)
{
    for (int i = 0; i < dim; i++)
        v[i] = (float)gauss();
    struct gw_vec g = {.dim = dim, .v = v};
    gw_vec_normalize(&g);
}
/* src plus noise, normalised: cosine to src is about 1 / sqrt(1 + noise^2) */
static void near(const float *src, float *v, int dim, double noise)
{
    for (int i = 0; i < dim; i++)
        v[i] = src[i] + (float)(noise / sqrt(dim) * gauss());
    struct gw_vec g = {.dim = dim, .v = v};
    gw_vec_normalize(&g);
}

static void test_basics(void **state)
{
    const int dim = 8;
    struct gw_semindex *ix = gw_semindex_new(dim);
    assert_non_null(ix);
    assert_int_equal(gw_semindex_dim(ix), dim);
    assert_null(gw_semindex_new(0));
    assert_null(gw_semindex_new(GW_SEMINDEX_MAX_DIM + 1));

    float a[8] = {1, 0, 0, 0, 0, 0, 0, 0}, b[8] = {1, 1, 0, 0, 0, 0, 0, 0};
    float c[8] = {0, 0, 3, 0, 0, 0, 0, 0}, z[8] = {0};
    assert_int_equal(gw_semindex_add(ix, 1, 10, a), 0);
    assert_int_equal(gw_semindex_add(ix, 1, 11, b), 0); /* not normalised: the index does it */
    assert_int_equal(gw_semindex_add(ix, 2, 12, a), 0);
    assert_int_equal(gw_semindex_add(ix, 1, 13, z), -1);
    float nanv[8] = {NAN};
    assert_int_equal(gw_semindex_add(ix, 1, 13, nanv), -1);
    assert_int_equal(gw_semindex_count(ix), 3);
    assert_int_equal(gw_semindex_partition_count(ix, 1), 2);
    assert_int_equal(gw_semindex_partition_count(ix, 3), 0);

    struct gw_semhit h[4];
    int n = gw_semindex_search(ix, 1, a, 0.5f, h, 4);
    assert_int_equal(n, 2);
    assert_int_equal(h[0].id, 10);
    assert_float_equal(h[0].sim, 1.0, 1e-6);
    assert_int_equal(h[1].id, 11);
    assert_float_equal(h[1].sim, 1 / sqrt(2), 1e-6);
    assert_int_equal(gw_semindex_search(ix, 1, a, 0.9f, h, 4), 1);
    assert_int_equal(gw_semindex_search(ix, 1, a, 0.5f, h, 1), 1);
    assert_int_equal(h[0].id, 10);
    assert_int_equal(gw_semindex_search(ix, 1, c, 0.1f, h, 4), 0);
    assert_int_equal(gw_semindex_search(ix, 9, a, 0.0f, h, 4), 0);
    assert_int_equal(gw_semindex_search(ix, 1, z, 0.0f, h, 4), -1);
    assert_int_equal(gw_semindex_search(ix, 1, a, 0.0f, h, 0), -1);
    assert_int_equal(gw_semindex_search(ix, 1, a, 0.0f, h, 257), -1);

    /* replace: same id, another partition and vector */
    assert_int_equal(gw_semindex_add(ix, 2, 10, c), 0);
    assert_int_equal(gw_semindex_count(ix), 3);
    assert_int_equal(gw_semindex_partition_count(ix, 1), 1);
    assert_int_equal(gw_semindex_search(ix, 2, c, 0.9f, h, 4), 1);
    assert_int_equal(h[0].id, 10);

    assert_int_equal(gw_semindex_remove(ix, 11), 1);
    assert_int_equal(gw_semindex_remove(ix, 11), 0);
    assert_int_equal(gw_semindex_partition_count(ix, 1), 0);
    assert_int_equal(gw_semindex_clear_partition(ix, 2), 2);
    assert_int_equal(gw_semindex_count(ix), 0);
    assert_int_equal(gw_semindex_remove(ix, 10), 0);
    assert_true(gw_semindex_memory(ix) > 0);
    gw_semindex_free(ix);
}

static void test_partition_key(void **state)
{
    const char *a[] = {"ab", "c"}, *b[] = {"a", "bc"}, *c[] = {"ab", NULL}, *d[] = {"ab", ""};
    assert_true(gw_semindex_partition(a, 2) != gw_semindex_partition(b, 2));
    assert_true(gw_semindex_partition(c, 2) == gw_semindex_partition(d, 2));
    assert_true(gw_semindex_partition(a, 1) != gw_semindex_partition(a, 2));
    assert_true(gw_semindex_partition(a, 2) == gw_semindex_partition(a, 2));
}

/* Many adds and removes: every entry left is found by its own vector, with
 * similarity 1, and the counts add up. */
static void test_churn(void **state)
{
    const int dim = 32, n = 3000;
    struct gw_semindex *ix = gw_semindex_new(dim);
    float *v = malloc((size_t)n * dim * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < n; i++) {
        rand_unit(v + (size_t)i * dim, dim);
        assert_int_equal(gw_semindex_add(ix, (uint64_t)(i % 3), i, v + (size_t)i * dim), 0);
    }
    for (int i = 0; i < n; i += 2)
        assert_int_equal(gw_semindex_remove(ix, i), 1);
    assert_int_equal(gw_semindex_count(ix), n / 2);
    size_t per = 0;
    for (uint64_t p = 0; p < 3; p++)
        per += gw_semindex_partition_count(ix, p);
    assert_int_equal(per, n / 2);
    for (int i = 1; i < n; i += 2) {
        struct gw_semhit h[1];
        assert_int_equal(
            gw_semindex_search(ix, (uint64_t)(i % 3), v + (size_t)i * dim, 0.999f, h, 1), 1);
        assert_int_equal(h[0].id, i);
        assert_float_equal(h[0].sim, 1.0, 1e-5);
        /* not in another partition */
        assert_int_equal(
            gw_semindex_search(ix, (uint64_t)((i + 1) % 3), v + (size_t)i * dim, 0.999f, h, 1), 0);
    }
    assert_int_equal(gw_semindex_clear(ix), n / 2);
    assert_int_equal(gw_semindex_count(ix), 0);
    /* usable after a clear */
    assert_int_equal(gw_semindex_add(ix, 7, 1, v), 0);
    assert_int_equal(gw_semindex_count(ix), 1);
    free(v);
    gw_semindex_free(ix);
}

/* The prefilter against brute force, in one partition larger than
 * GW_SEMINDEX_EXACT_MAX: queries near a stored vector (cosine 0.80 to 0.99)
 * must find the exact best at k = 1 in >= 99% of cases; queries with no
 * neighbour above min_sim find nothing; every hit is a real one. */
static void prefilter_vs_exact(int dim, int n, int queries)
{
    struct gw_semindex *ix = gw_semindex_new(dim);
    float *v = malloc((size_t)n * dim * sizeof *v), *q = malloc((size_t)dim * sizeof *q);
    assert_non_null(v);
    for (int i = 0; i < n; i++) {
        rand_unit(v + (size_t)i * dim, dim);
        assert_int_equal(gw_semindex_add(ix, 42, i, v + (size_t)i * dim), 0);
    }
    const float min_sim = 0.75f;
    int asked = 0, agree = 0;
    for (int t = 0; t < queries; t++) {
        const float *src = v + (size_t)(urand() * n) * dim;
        near(src, q, dim, 0.15 + 0.6 * urand()); /* cosine about 0.99 .. 0.80 */
        struct gw_semhit h[1], e[1];
        int nh = gw_semindex_search(ix, 42, q, min_sim, h, 1);
        int ne = gw_semindex_search_exact(ix, 42, q, min_sim, e, 1);
        assert_true(nh >= 0 && ne >= 0);
        if (nh)
            assert_true(ne && h[0].sim <= e[0].sim + 1e-6 && h[0].sim >= min_sim);
        if (ne) {
            asked++;
            agree += nh && h[0].id == e[0].id;
        }
        rand_unit(q, dim); /* no neighbour: nothing */
        assert_int_equal(gw_semindex_search(ix, 42, q, min_sim, h, 1), 0);
    }
    assert_true(asked >= queries * 9 / 10);
    if (agree * 100 < asked * 99)
        fail_msg("dim %d: prefilter = exact for %d of %d queries", dim, agree, asked);
    free(v);
    free(q);
    gw_semindex_free(ix);
}

static void test_prefilter_256(void **state)
{
    prefilter_vs_exact(GW_EMBED_LOCAL_DIM, 20000, 400);
}

static void test_prefilter_other_dims(void **state)
{
    prefilter_vs_exact(64, 5000, 200);
    prefilter_vs_exact(768, 4000, 100);
}

/* k > 1: the hits are the exact top k when the prefilter keeps them */
static void test_topk_sorted(void **state)
{
    const int dim = 48, n = 4000;
    struct gw_semindex *ix = gw_semindex_new(dim);
    float *v = malloc((size_t)n * dim * sizeof *v), q[48];
    assert_non_null(v);
    rand_unit(v, dim);
    for (int i = 0; i < n; i++) {
        if (i)
            near(v, v + (size_t)i * dim, dim, 0.2 + 2.0 * urand()); /* a cluster around v */
        assert_int_equal(gw_semindex_add(ix, 1, i, v + (size_t)i * dim), 0);
    }
    near(v, q, dim, 0.3);
    struct gw_semhit h[16], e[16];
    int nh = gw_semindex_search(ix, 1, q, 0.5f, h, 16);
    int ne = gw_semindex_search_exact(ix, 1, q, 0.5f, e, 16);
    assert_int_equal(nh, 16);
    assert_int_equal(ne, 16);
    for (int i = 1; i < nh; i++)
        assert_true(h[i - 1].sim >= h[i].sim);
    assert_int_equal(h[0].id, e[0].id);
    free(v);
    gw_semindex_free(ix);
}

struct rw {
    struct gw_semindex *ix;
    const float *v;
    int dim, n, stop;
    long searches;
};

static void *reader(void *arg)
{
    struct rw *w = arg;
    struct gw_semhit h[4];
    for (int round = 0; round < 200; round++) {
        const float *q = w->v + (size_t)(round % w->n) * w->dim;
        int n = gw_semindex_search(w->ix, 1, q, 0.5f, h, 4);
        assert_true(n >= 0 && n <= 4);
        for (int i = 0; i < n; i++)
            assert_true(h[i].sim >= 0.5f && h[i].id >= 0 && h[i].id < w->n);
        __atomic_add_fetch(&w->searches, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_threads(void **state)
{
    const int dim = 64, n = 6000;
    float *v = malloc((size_t)n * dim * sizeof *v);
    assert_non_null(v);
    for (int i = 0; i < n; i++)
        rand_unit(v + (size_t)i * dim, dim);
    struct gw_semindex *ix = gw_semindex_new(dim);
    for (int i = 0; i < n / 2; i++)
        gw_semindex_add(ix, 1, i, v + (size_t)i * dim);
    struct rw w = {.ix = ix, .v = v, .dim = dim, .n = n};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader, &w), 0);
    /* the writer: adds the other half, removes and re-adds the first */
    size_t removed = 0;
    for (int i = n / 2; i < n; i++) {
        assert_int_equal(gw_semindex_add(ix, 1, i, v + (size_t)i * dim), 0);
        if (i % 3 == 0)
            removed += (size_t)gw_semindex_remove(ix, i - n / 2);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(w.searches, 400);
    assert_true(removed > 0);
    assert_int_equal(gw_semindex_count(ix), (size_t)n - removed);
    gw_semindex_set_candidates(ix, 1);      /* clamped to 16 */
    gw_semindex_set_candidates(ix, 100000); /* clamped to 4096 */
    struct gw_semhit h[1];
    assert_int_equal(gw_semindex_search(ix, 1, v + (size_t)(n - 1) * dim, 0.99f, h, 1), 1);
    assert_int_equal(h[0].id, n - 1);
    free(v);
    gw_semindex_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_partition_key),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_prefilter_256),
        cmocka_unit_test(test_prefilter_other_dims),
        cmocka_unit_test(test_topk_sorted),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the semantic cache's provider embedder: the config
 * (cache.semantic.embedder provider with its model, the 0.90 default
 * threshold only when none is given, the errors) and the semantic index's
 * one space per embedder and dimension (gatewayd/cache_semantic.c): a
 * vector is only found by a search of its own embedder, an entry stored
 * again by another embedder moves, and removal and clearing reach every
 * space. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "embed.h"

static struct gw_config *parse(const char *yaml, char *err)
{
    return gw_config_parse("t.yaml", yaml, strlen(yaml), err, 512);
}

static void expect_error(const char *yaml, const char *needle)
{
    char err[512] = "";
    struct gw_config *cfg = parse(yaml, err);
    if (cfg || !strstr(err, needle))
        fail_msg("expected an error containing '%s', got '%s'", needle, cfg ? "(loaded)" : err);
}

static void test_config(void **state)
{
    (void)state;
    char err[512] = "";
    struct gw_config *cfg = parse("cache: { semantic: { embedder: provider, model: emb } }\n", err);
    assert_non_null(cfg);
    assert_string_equal(cfg->cache.semantic.embedder, "provider");
    assert_string_equal(cfg->cache.semantic.model, "emb");
    assert_true(cfg->cache.semantic.threshold == 0.90);
    gw_config_free(cfg);
    /* a given threshold stays, before or after the embedder */
    cfg = parse("cache: { semantic: { threshold: 0.7, embedder: provider, model: emb } }\n", err);
    assert_non_null(cfg);
    assert_true(cfg->cache.semantic.threshold == 0.7);
    gw_config_free(cfg);
    cfg = parse("cache: { semantic: { embedder: local } }\n", err);
    assert_non_null(cfg);
    assert_null(cfg->cache.semantic.model);
    assert_true(cfg->cache.semantic.threshold == GW_EMBED_LOCAL_DEFAULT_THRESHOLD);
    gw_config_free(cfg);

    expect_error("cache: { semantic: { embedder: provider } }\n",
                 "embedder provider needs a model");
    expect_error("cache: { semantic: { model: emb } }\n",
                 "model applies to embedder provider only");
    expect_error("cache: { semantic: { embedder: provider, model: '' } }\n",
                 "expected the name of a configured model");
    expect_error("cache: { semantic: { embedder: bert } }\n", "expected local or provider");
    expect_error("cache: { semantic: { model_name: x } }\n", "unknown key in cache.semantic");
}

static void key_of(int n, unsigned char key[GW_CACHE_KEY_LEN])
{
    memset(key, 0, GW_CACHE_KEY_LEN);
    key[0] = (unsigned char)n;
    key[31] = 0xAB;
}

static int search(const char *embedder, const float *q, int dim, struct gw_cache_sem_match *m)
{
    struct gw_arena *a = gw_arena_new(4096);
    int n = gw_cache_sem_search_vec(embedder, 7, q, dim, 0.5f, 1000, a, m, GW_CACHE_SEM_MAX);
    gw_arena_destroy(a);
    return n;
}

static void test_one_space_per_embedder(void **state)
{
    (void)state;
    gw_cache_sem_clear();
    const float p4[4] = {1, 0, 0, 0}, p8[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    float local[GW_EMBED_LOCAL_DIM] = {1};
    unsigned char k1[GW_CACHE_KEY_LEN], k2[GW_CACHE_KEY_LEN], k3[GW_CACHE_KEY_LEN];
    key_of(1, k1);
    key_of(2, k2);
    key_of(3, k3);
    gw_cache_sem_add_vec(k1, "provider:a", 7, p4, 4, "q1", 5000);
    gw_cache_sem_add_vec(k2, "provider:b", 7, p4, 4, "q2", 5000);
    gw_cache_sem_add_vec(k3, "provider:a", 7, p8, 8, "q3", 5000); /* the model's new dimension */
    assert_int_equal(gw_cache_sem_count(), 3);

    struct gw_cache_sem_match m[GW_CACHE_SEM_MAX];
    assert_int_equal(search("provider:a", p4, 4, m), 1);
    assert_memory_equal(m[0].key, k1, GW_CACHE_KEY_LEN);
    assert_int_equal(search("provider:b", p4, 4, m), 1);
    assert_memory_equal(m[0].key, k2, GW_CACHE_KEY_LEN);
    assert_int_equal(search("provider:a", p8, 8, m), 1);
    assert_memory_equal(m[0].key, k3, GW_CACHE_KEY_LEN);
    assert_int_equal(search(GW_EMBED_LOCAL_ID, local, GW_EMBED_LOCAL_DIM, m), 0);
    assert_int_equal(search("provider:c", p4, 4, m), 0);

    /* k1 stored again by the local embedder: gone from provider:a */
    gw_cache_sem_add(k1, 7, local, "q1 again", 5000);
    assert_int_equal(gw_cache_sem_count(), 3);
    assert_int_equal(search("provider:a", p4, 4, m), 0);
    assert_int_equal(search(GW_EMBED_LOCAL_ID, local, GW_EMBED_LOCAL_DIM, m), 1);
    assert_memory_equal(m[0].key, k1, GW_CACHE_KEY_LEN);

    gw_cache_sem_remove(k2);
    assert_int_equal(search("provider:b", p4, 4, m), 0);
    assert_int_equal(gw_cache_sem_count(), 2);
    gw_cache_sem_clear();
    assert_int_equal(gw_cache_sem_count(), 0);
    assert_int_equal(search("provider:a", p8, 8, m), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_one_space_per_embedder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of gatewayd/keypool.c with explicit clocks, and of the key-pool
 * config it is built from: api_key / api_keys parsing (references, mappings
 * with rpm/tpm/weight, the errors), a pool per provider, load spread in
 * proportion to capacity, ties broken by weight, keys that rest after a 429
 * (Retry-After, the default, the cap, the floor, a longer rest kept), a pool
 * resting only when every key rests, the one-minute windows (expiry, token
 * corrections, a call never made taken back) and the registry (one state per
 * key, a new one for a changed secret). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "keypool.h"

#define S  1000000LL /* one second in microseconds */
#define T0 (5000 * S)

static struct gw_config *parse(const char *yaml, char *err)
{
    return gw_config_parse("t.yaml", yaml, strlen(yaml), err, 512);
}

static void set_keys(void)
{
    setenv("GW_KP_A", "secret-a", 1);
    setenv("GW_KP_B", "secret-b", 1);
    setenv("GW_KP_C", "secret-c", 1);
}

static void test_config_pools(void **state)
{
    set_keys();
    char err[512];
    struct gw_config *cfg = parse("providers:\n"
                                  "  - name: one\n"
                                  "    type: openai\n"
                                  "    api_key: env:GW_KP_A\n"
                                  "  - name: pool\n"
                                  "    type: anthropic\n"
                                  "    key_cooldown_s: 5\n"
                                  "    prompt_cache_ttl_s: 120\n"
                                  "    api_keys:\n"
                                  "      - env:GW_KP_A\n"
                                  "      - { key: env:GW_KP_B, rpm: 100, tpm: 5000, weight: 3 }\n"
                                  "  - { name: groq, type: groq, api_key: env:GW_KP_C }\n"
                                  "  - { name: g, type: gemini, api_key: env:GW_KP_C }\n"
                                  "  - { name: e, type: echo }\n",
                                  err);
    assert_non_null(cfg);
    const struct gw_provider_cfg *one = &cfg->providers[0], *pool = &cfg->providers[1];
    assert_int_equal(one->n_keys, 1);
    assert_string_equal(one->keys[0].label, "env:GW_KP_A");
    assert_string_equal(one->keys[0].secret, "secret-a");
    assert_string_equal(one->api_key, "secret-a");
    assert_int_equal(one->prompt_cache_ttl_s, 300); /* OpenAI's own API */
    assert_int_equal(one->key_cooldown_s, 60);
    assert_int_equal(one->key_cooldown_max_s, 600);
    assert_int_equal(pool->n_keys, 2);
    assert_string_equal(pool->keys[1].label, "env:GW_KP_B");
    assert_string_equal(pool->keys[1].secret, "secret-b");
    assert_int_equal(pool->keys[1].rpm, 100);
    assert_int_equal(pool->keys[1].tpm, 5000);
    assert_int_equal(pool->keys[1].weight, 3);
    assert_int_equal(pool->keys[0].weight, 1);
    assert_int_equal(pool->key_cooldown_s, 5);
    assert_int_equal(pool->prompt_cache_ttl_s, 120);
    assert_string_equal(pool->api_key, "secret-a");
    assert_int_equal(cfg->providers[2].prompt_cache_ttl_s, 0); /* another OpenAI-format server */
    assert_int_equal(cfg->providers[3].prompt_cache_ttl_s, 300);
    assert_int_equal(cfg->providers[4].n_keys, 0);
    assert_true(cfg->routing.affinity.enabled);
    assert_int_equal(cfg->routing.affinity.max_entries, 65536);

    struct gw_keypool *pools = gw_keypools_build(cfg);
    assert_non_null(pools);
    assert_int_equal(pools[0].n, 1);
    assert_int_equal(pools[1].n, 2);
    assert_true(pools[1].counts_tokens);
    assert_false(pools[0].counts_tokens);
    assert_int_equal(pools[4].n, 0);
    /* the same key of the same provider in a second config: the same state */
    struct gw_keypool *again = gw_keypools_build(cfg);
    assert_ptr_equal(again[1].keys[1], pools[1].keys[1]);
    assert_ptr_not_equal(pools[0].keys[0], pools[1].keys[0]); /* same secret, other provider */
    gw_keypools_free(again, cfg->n_providers);
    gw_keypools_free(pools, cfg->n_providers);
    gw_config_free(cfg);
}

static void expect_error(const char *yaml, const char *what)
{
    char err[512] = "";
    struct gw_config *cfg = parse(yaml, err);
    if (cfg)
        fail_msg("accepted: %s", yaml);
    if (!strstr(err, what))
        fail_msg("error '%s' lacks '%s'", err, what);
}

static void test_config_errors(void **state)
{
    set_keys();
    expect_error("providers:\n  - { name: p, type: openai, api_key: env:GW_KP_A, api_keys: "
                 "[env:GW_KP_B] }\n",
                 "not both");
    expect_error("providers:\n  - { name: p, type: openai, api_keys: [] }\n", "non-empty list");
    expect_error("providers:\n  - { name: p, type: openai, api_keys: [sk-plain] }\n",
                 "never written in clear");
    expect_error(
        "providers:\n  - { name: p, type: openai, api_keys: [env:GW_KP_A, env:GW_KP_A] }\n",
        "listed twice");
    expect_error("providers:\n  - { name: p, type: openai, api_keys: [{ rpm: 5 }] }\n",
                 "needs key:");
    expect_error("providers:\n  - { name: p, type: openai, api_keys: [{ key: env:GW_KP_A, rps: 5 "
                 "}] }\n",
                 "unknown key in an api_keys item");
    expect_error("providers:\n  - { name: p, type: bedrock, region: us-east-1, "
                 "aws_access_key_id: env:GW_KP_A, aws_secret_access_key: env:GW_KP_B, "
                 "api_keys: [env:GW_KP_A, env:GW_KP_B] }\n",
                 "api_keys is for providers");
    expect_error("providers:\n  - { name: p, type: openai, key_cooldown_s: 100, "
                 "key_cooldown_max_s: 10 }\n",
                 "below key_cooldown_s");
    expect_error("routing: { affinity: { enabled: true, size: 5 } }\n",
                 "unknown key in routing.affinity");
    expect_error("providers:\n  - { name: p, type: openai, prompt_cache_ttl_s: -1 }\n",
                 "prompt_cache_ttl_s");
}

/* A pool over the given key configs with fresh states (provider name tag
 * keeps tests apart in the registry). */
struct fixture {
    struct gw_provider_cfg p;
    struct gw_api_key_cfg kc[4];
    struct gw_pool_key *k[4];
    struct gw_keypool pool;
};

static void fixture_init(struct fixture *f, const char *tag, size_t n)
{
    memset(f, 0, sizeof *f);
    f->p.name = tag;
    f->p.keys = f->kc;
    f->p.n_keys = n;
    f->p.key_cooldown_s = 60;
    f->p.key_cooldown_max_s = 600;
    static const char *const labels[] = {"env:K0", "env:K1", "env:K2", "env:K3"};
    for (size_t i = 0; i < n; i++) {
        f->kc[i].label = labels[i];
        f->kc[i].secret = labels[i] + 4;
        f->kc[i].weight = 1;
        f->k[i] = gw_pool_key_get(tag, labels[i], f->kc[i].secret);
        assert_non_null(f->k[i]);
    }
    f->pool = (struct gw_keypool){.cfg = &f->p, .n = n, .keys = f->k};
}

static void test_spread_by_capacity(void **state)
{
    struct fixture f;
    fixture_init(&f, "spread", 2);
    f.kc[0].rpm = 10;
    f.kc[1].rpm = 30;
    int count[2] = {0};
    for (int i = 0; i < 20; i++) {
        int k = gw_keypool_choose(&f.pool, T0, (i % 7) / 7.0);
        assert_true(k == 0 || k == 1);
        count[k]++;
        gw_pool_key_start(f.k[k], 0, T0);
    }
    /* a quarter and three quarters of the calls: the same share of each key used */
    assert_in_range(count[0], 4, 6);
    assert_in_range(count[1], 14, 16);
    assert_int_equal(gw_pool_key_used(f.k[0], 0, T0), count[0]);
    assert_int_equal(atomic_load(&f.k[1]->in_flight), count[1]);
    /* tokens: a key with a tpm fills up by tokens */
    struct fixture t;
    fixture_init(&t, "tokens", 2);
    t.kc[0].tpm = 1000;
    t.kc[1].tpm = 1000;
    gw_pool_key_start(t.k[0], 600, T0);
    assert_int_equal(gw_keypool_choose(&t.pool, T0, 0.0), 1);
    assert_int_equal(gw_keypool_choose(&t.pool, T0, 0.99), 1);
    /* the answer was smaller than reserved: the correction brings it back */
    gw_pool_key_end(t.k[0], 600, 100, 1, T0);
    assert_int_equal(gw_pool_key_used(t.k[0], 1, T0 + S), 100);
    /* the correction went to the second the charge did: both leave the
     * window together, nothing negative is left behind */
    assert_int_equal(gw_pool_key_used(t.k[0], 1, T0 + 60 * S), 0);
    gw_pool_key_start(t.k[1], 200, T0 + S);
    assert_int_equal(gw_keypool_choose(&t.pool, T0 + S, 0.99), 0);
    assert_true(gw_pool_key_headroom(&t.kc[0], t.k[0], T0 + S) > 0.89);
}

static void test_weights_break_ties(void **state)
{
    struct fixture f;
    fixture_init(&f, "weights", 3);
    f.kc[0].weight = 1;
    f.kc[1].weight = 3;
    f.kc[2].weight = 0;
    int count[3] = {0};
    for (int i = 0; i < 400; i++)
        count[gw_keypool_choose(&f.pool, T0, i / 400.0)]++;
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 300);
    assert_int_equal(count[2], 0);
}

static void test_cooldown(void **state)
{
    struct fixture f;
    fixture_init(&f, "cool", 2);
    long long back;
    /* a Retry-After of 5 s */
    assert_int_equal(gw_pool_key_cool(f.k[0], &f.p, 5000, T0), T0 + 5 * S);
    assert_int_equal(atomic_load(&f.k[0]->cooldowns), 1);
    assert_true(gw_pool_key_resting(f.k[0], T0 + 4 * S));
    assert_false(gw_pool_key_resting(f.k[0], T0 + 5 * S));
    for (int i = 0; i < 10; i++)
        assert_int_equal(gw_keypool_choose(&f.pool, T0 + S, i / 10.0), 1);
    assert_false(gw_keypool_resting(&f.pool, T0 + S, &back));
    /* the other one too, for longer: the pool rests until the first is back */
    gw_pool_key_cool(f.k[1], &f.p, -1, T0); /* no Retry-After: key_cooldown_s */
    assert_true(gw_keypool_resting(&f.pool, T0 + S, &back));
    assert_int_equal(back, T0 + 5 * S);
    assert_int_equal(gw_keypool_choose(&f.pool, T0 + S, 0.5), 0); /* back first */
    assert_false(gw_keypool_resting(&f.pool, T0 + 5 * S, NULL));
    assert_true(gw_keypool_resting(&f.pool, T0 + 5 * S - 1, NULL));
    assert_true(gw_pool_key_resting(f.k[1], T0 + 59 * S));
    assert_false(gw_pool_key_resting(f.k[1], T0 + 60 * S));
    /* a shorter cooldown does not cut a longer one short, and is not a new one */
    assert_int_equal(gw_pool_key_cool(f.k[1], &f.p, 1000, T0 + S), T0 + 60 * S);
    assert_int_equal(atomic_load(&f.k[1]->cooldowns), 1);
    /* capped at key_cooldown_max_s, at least one second */
    assert_int_equal(gw_pool_key_cool(f.k[0], &f.p, 86400000, T0 + 100 * S), T0 + 700 * S);
    assert_int_equal(atomic_load(&f.k[0]->cooldowns), 2);
    struct fixture z;
    fixture_init(&z, "floor", 2);
    assert_int_equal(gw_pool_key_cool(z.k[0], &z.p, 0, T0), T0 + S);
    /* a pool of one never rests, whatever its key's state */
    struct fixture one;
    fixture_init(&one, "one", 1);
    gw_pool_key_cool(one.k[0], &one.p, 5000, T0);
    assert_false(gw_keypool_resting(&one.pool, T0 + S, NULL));
    assert_int_equal(gw_keypool_choose(&one.pool, T0 + S, 0.5), 0);
    assert_false(gw_keypool_resting(NULL, T0, NULL));
}

static void test_window(void **state)
{
    struct fixture f;
    fixture_init(&f, "window", 1);
    for (int i = 0; i < 30; i++)
        gw_pool_key_start(f.k[0], 10, T0 + i * S);
    assert_int_equal(gw_pool_key_used(f.k[0], 0, T0 + 29 * S), 30);
    assert_int_equal(gw_pool_key_used(f.k[0], 1, T0 + 29 * S), 300);
    /* a minute after the first, the first has left the window */
    assert_int_equal(gw_pool_key_used(f.k[0], 0, T0 + 60 * S), 29);
    assert_int_equal(gw_pool_key_used(f.k[0], 0, T0 + 89 * S), 0);
    /* a call the gateway never made: taken back out, not counted */
    gw_pool_key_start(f.k[0], 0, T0 + 200 * S);
    gw_pool_key_end(f.k[0], 0, 0, 0, T0 + 200 * S);
    assert_int_equal(gw_pool_key_used(f.k[0], 0, T0 + 200 * S), 0);
    assert_int_equal(atomic_load(&f.k[0]->requests), 0);
    assert_int_equal(atomic_load(&f.k[0]->in_flight), 30);
    gw_pool_key_end(f.k[0], 10, 0, 1, T0 + 200 * S); /* failed: its tokens given back */
    assert_int_equal(atomic_load(&f.k[0]->requests), 1);
    assert_int_equal(gw_pool_key_used(f.k[0], 1, T0 + 200 * S), 0); /* never below 0 */
}

static void test_registry(void **state)
{
    struct gw_pool_key *a = gw_pool_key_get("reg", "env:X", "one");
    assert_ptr_equal(gw_pool_key_get("reg", "env:X", "one"), a);
    assert_ptr_equal(gw_pool_key_find("reg", "env:X", "one"), a);
    assert_ptr_not_equal(gw_pool_key_get("reg", "env:X", "two"), a); /* a new secret */
    assert_null(gw_pool_key_find("reg", "env:Y", "one"));
    struct gw_keypool p = {.n = 1, .keys = &a};
    assert_int_equal(gw_keypool_index(&p, a), 0);
    assert_int_equal(gw_keypool_index(&p, NULL), -1);
    struct gw_keypool empty = {0};
    assert_int_equal(gw_keypool_choose(&empty, T0, 0.5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_pools),       cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_spread_by_capacity), cmocka_unit_test(test_weights_break_ties),
        cmocka_unit_test(test_cooldown),           cmocka_unit_test(test_window),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

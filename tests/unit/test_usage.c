/* Unit tests of gw_usage_cost (gatewayd/usage.c): every prompt token is
 * billed once, at the price of what happened to it (plain, cache read,
 * cache write), the cache prices default to the input price, counts that
 * claim more cached tokens than the prompt are clamped, and no pricing costs
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "config.h"
#include "usage.h"

static void near(double got, double want)
{
    if (fabs(got - want) > 1e-12)
        fail_msg("cost %.12f, expected %.12f", got, want);
}

static void test_prices(void **state)
{
    struct gw_pricing p = {.input_per_mtok = 3,
                           .output_per_mtok = 15,
                           .cached_input_per_mtok = 0.3,
                           .cache_write_per_mtok = 3.75};
    struct gw_token_counts t = {
        .prompt = 1000, .completion = 100, .cached = 600, .cache_write = 300};
    /* 100 plain, 600 read, 300 written, 100 out */
    near(gw_usage_cost(&p, &t), (100 * 3 + 600 * 0.3 + 300 * 3.75 + 100 * 15) / 1e6);
    struct gw_token_counts plain = {.prompt = 1000, .completion = 100};
    near(gw_usage_cost(&p, &plain), (1000 * 3 + 100 * 15) / 1e6);
}

static void test_defaults_and_clamping(void **state)
{
    struct gw_pricing p = {.input_per_mtok = 2, .output_per_mtok = 8};
    struct gw_token_counts t = {.prompt = 10, .completion = 0, .cached = 4, .cache_write = 4};
    near(gw_usage_cost(&p, &t), 10 * 2 / 1e6); /* cache prices default to input */
    struct gw_token_counts over = {.prompt = 10, .cached = 50, .cache_write = 50};
    struct gw_pricing q = {
        .input_per_mtok = 2, .cached_input_per_mtok = 1, .cache_write_per_mtok = 5};
    near(gw_usage_cost(&q, &over), 10 * 1 / 1e6); /* all 10 read from cache, none twice */
    near(gw_usage_cost(NULL, &t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prices),
        cmocka_unit_test(test_defaults_and_clamping),
    };
    return cmocka_run_group_tests_name("usage", tests, NULL, NULL);
}

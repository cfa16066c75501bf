/* Unit tests of gatewayd/deployments.c with explicit clocks: the circuit
 * breaker's states (closed -> open on consecutive failures or on a failure
 * rate over the window with enough requests, open for the cooldown, one
 * probe in half-open, closed by its success, re-opened by its failure, freed
 * for the next probe by a neutral end), old outcomes leaving the window, a
 * disabled breaker, the outcome of a finished request, and the registry
 * (one state per deployment, the model group's round-robin counter shared,
 * the time-to-first-byte average). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "deployments.h"

#define S  1000000LL /* one second in microseconds */
#define T0 (1000 * S)

static const struct gw_breaker_cfg dflt = {.enabled = 1,
                                           .failures = 3,
                                           .failure_rate = 0.5,
                                           .min_requests = 10,
                                           .window_s = 60,
                                           .cooldown_s = 30};

static enum gw_pass check(struct gw_breaker *b, const struct gw_breaker_cfg *c, long long now)
{
    long long until = 0;
    return gw_breaker_check(b, c, now, &until);
}

static void fail_n(struct gw_breaker *b, const struct gw_breaker_cfg *c, int n, long long now)
{
    for (int i = 0; i < n; i++)
        gw_breaker_record(b, c, GW_OUTCOME_FAILURE, 0, now);
}

static void test_opens_after_consecutive_failures(void **state)
{
    struct gw_breaker b;
    gw_breaker_init(&b);
    fail_n(&b, &dflt, 2, T0);
    gw_breaker_record(&b, &dflt, GW_OUTCOME_SUCCESS, 0, T0); /* a success resets the run */
    fail_n(&b, &dflt, 2, T0);
    assert_int_equal(check(&b, &dflt, T0), GW_PASS_YES);
    assert_int_equal(gw_breaker_view(&b, T0, NULL), GW_BREAKER_CLOSED);
    fail_n(&b, &dflt, 1, T0 + 5);
    long long until = 0;
    assert_int_equal(gw_breaker_check(&b, &dflt, T0 + 6, &until), GW_PASS_NO);
    assert_true(until == T0 + 5 + 30 * S);
    assert_int_equal(gw_breaker_view(&b, T0 + 6, &until), GW_BREAKER_OPEN);
    assert_int_equal(atomic_load(&b.opened_total), 1);
    /* still open one microsecond before the cooldown ends */
    assert_int_equal(check(&b, &dflt, T0 + 5 + 30 * S - 1), GW_PASS_NO);
    assert_int_equal(check(&b, &dflt, T0 + 5 + 30 * S), GW_PASS_PROBE);
    assert_int_equal(gw_breaker_view(&b, T0 + 5 + 30 * S, NULL), GW_BREAKER_HALF_OPEN);
}

static void test_one_probe_then_closed(void **state)
{
    struct gw_breaker b;
    gw_breaker_init(&b);
    fail_n(&b, &dflt, 3, T0);
    long long t = T0 + 31 * S;
    assert_int_equal(check(&b, &dflt, t), GW_PASS_PROBE);
    assert_true(gw_breaker_claim(&b, 101, t));
    /* exactly one probe: the others are refused while it is out */
    assert_int_equal(check(&b, &dflt, t), GW_PASS_NO);
    assert_false(gw_breaker_claim(&b, 102, t));
    assert_int_equal(gw_breaker_view(&b, t, NULL), GW_BREAKER_HALF_OPEN);
    /* a request that was in flight before it opened changes nothing */
    gw_breaker_record(&b, &dflt, GW_OUTCOME_SUCCESS, 55, t);
    assert_int_equal(check(&b, &dflt, t), GW_PASS_NO);
    gw_breaker_record(&b, &dflt, GW_OUTCOME_SUCCESS, 101, t + 1);
    assert_int_equal(check(&b, &dflt, t + 1), GW_PASS_YES);
    assert_int_equal(gw_breaker_view(&b, t + 1, NULL), GW_BREAKER_CLOSED);
    /* closed afresh: the failures before the probe do not count any more */
    fail_n(&b, &dflt, 2, t + 2);
    assert_int_equal(check(&b, &dflt, t + 2), GW_PASS_YES);
}

static void test_probe_failure_reopens(void **state)
{
    struct gw_breaker b;
    gw_breaker_init(&b);
    fail_n(&b, &dflt, 3, T0);
    long long t = T0 + 30 * S;
    assert_true(gw_breaker_claim(&b, 7, t));
    gw_breaker_record(&b, &dflt, GW_OUTCOME_FAILURE, 7, t + S);
    long long until = 0;
    assert_int_equal(gw_breaker_check(&b, &dflt, t + S, &until), GW_PASS_NO);
    assert_true(until == t + 31 * S); /* a new cooldown from the probe's end */
    assert_int_equal(atomic_load(&b.opened_total), 2);
    assert_int_equal(check(&b, &dflt, t + 31 * S), GW_PASS_PROBE);
}

static void test_neutral_probe_frees_the_next(void **state)
{
    struct gw_breaker b;
    gw_breaker_init(&b);
    fail_n(&b, &dflt, 3, T0);
    long long t = T0 + 30 * S;
    assert_true(gw_breaker_claim(&b, 7, t));
    gw_breaker_record(&b, &dflt, GW_OUTCOME_NEUTRAL, 7, t + 1);
    assert_int_equal(check(&b, &dflt, t + 1), GW_PASS_PROBE);
    assert_true(gw_breaker_claim(&b, 8, t + 1));
    gw_breaker_record(&b, &dflt, GW_OUTCOME_SUCCESS, 8, t + 2);
    assert_int_equal(check(&b, &dflt, t + 2), GW_PASS_YES);
}

static void test_failure_rate(void **state)
{
    struct gw_breaker_cfg c = dflt;
    c.failures = 0; /* only the rate rule */
    c.min_requests = 6;
    struct gw_breaker b;
    gw_breaker_init(&b);
    /* 2 of 5 failed: under the minimum of requests, whatever the rate */
    for (int i = 0; i < 5; i++)
        gw_breaker_record(&b, &c, i % 2 ? GW_OUTCOME_FAILURE : GW_OUTCOME_SUCCESS, 0, T0 + i);
    assert_int_equal(check(&b, &c, T0 + 10), GW_PASS_YES);
    /* neutral outcomes count for nothing */
    for (int i = 0; i < 20; i++)
        gw_breaker_record(&b, &c, GW_OUTCOME_NEUTRAL, 0, T0 + 10);
    assert_int_equal(check(&b, &c, T0 + 11), GW_PASS_YES);
    /* the 6th: 3 of 6 = 50% */
    gw_breaker_record(&b, &c, GW_OUTCOME_FAILURE, 0, T0 + 12);
    assert_int_equal(check(&b, &c, T0 + 13), GW_PASS_NO);
}

static void test_window_forgets(void **state)
{
    struct gw_breaker_cfg c = dflt;
    c.failures = 0;
    c.min_requests = 4;
    c.window_s = 10;
    struct gw_breaker b;
    gw_breaker_init(&b);
    fail_n(&b, &c, 3, T0); /* 3 failures, then a minute of nothing */
    gw_breaker_record(&b, &c, GW_OUTCOME_SUCCESS, 0, T0 + 60 * S);
    gw_breaker_record(&b, &c, GW_OUTCOME_SUCCESS, 0, T0 + 60 * S);
    gw_breaker_record(&b, &c, GW_OUTCOME_SUCCESS, 0, T0 + 60 * S);
    gw_breaker_record(&b, &c, GW_OUTCOME_FAILURE, 0, T0 + 60 * S);
    /* the window holds 1 failure of 4 (the old ones have left it) */
    assert_int_equal(check(&b, &c, T0 + 60 * S), GW_PASS_YES);
    /* within the window the rate counts: 3 of 6 after two more failures */
    fail_n(&b, &c, 2, T0 + 65 * S);
    assert_int_equal(check(&b, &c, T0 + 65 * S), GW_PASS_NO);
}

static void test_disabled(void **state)
{
    struct gw_breaker_cfg c = dflt;
    c.enabled = 0;
    struct gw_breaker b;
    gw_breaker_init(&b);
    fail_n(&b, &c, 50, T0);
    assert_int_equal(check(&b, &c, T0), GW_PASS_YES);
    assert_int_equal(gw_breaker_view(&b, T0, NULL), GW_BREAKER_CLOSED);
    /* opened, then switched off by a reload: it lets traffic through at
     * once, and shows closed from the next outcome on */
    fail_n(&b, &dflt, 3, T0);
    assert_int_equal(check(&b, &c, T0), GW_PASS_YES);
    gw_breaker_record(&b, &c, GW_OUTCOME_SUCCESS, 0, T0);
    assert_int_equal(gw_breaker_view(&b, T0, NULL), GW_BREAKER_CLOSED);
}

static void test_zero_cooldown(void **state)
{
    struct gw_breaker_cfg c = dflt;
    c.cooldown_s = 0;
    struct gw_breaker b;
    gw_breaker_init(&b);
    fail_n(&b, &c, 3, T0);
    assert_int_equal(check(&b, &c, T0), GW_PASS_PROBE);
}

static void test_outcome(void **state)
{
    assert_int_equal(gw_deployment_outcome(200, NULL, 0), GW_OUTCOME_SUCCESS);
    assert_int_equal(gw_deployment_outcome(200, NULL, 1), GW_OUTCOME_SUCCESS);
    assert_int_equal(gw_deployment_outcome(500, "upstream_http_500", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(503, "upstream_http_503", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(429, "upstream_http_429", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(400, "upstream_http_400", 0), GW_OUTCOME_NEUTRAL);
    assert_int_equal(gw_deployment_outcome(404, "upstream_http_404", 0), GW_OUTCOME_NEUTRAL);
    assert_int_equal(gw_deployment_outcome(502, "upstream_unreachable", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(504, "upstream_timeout", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(502, "upstream_error", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(502, "upstream_bad_response", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(502, "upstream_auth_failed", 0), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(200, "upstream_stream_error", 1), GW_OUTCOME_FAILURE);
    assert_int_equal(gw_deployment_outcome(200, "upstream_timeout", 1), GW_OUTCOME_FAILURE);
    /* a provider's own error event mid-stream */
    assert_int_equal(gw_deployment_outcome(200, "overloaded_error", 1), GW_OUTCOME_FAILURE);
    /* the gateway's own refusals after routing */
    assert_int_equal(gw_deployment_outcome(429, "budget_exceeded", 0), GW_OUTCOME_NEUTRAL);
    assert_int_equal(gw_deployment_outcome(400, "unsupported_endpoint", 0), GW_OUTCOME_NEUTRAL);
    assert_int_equal(gw_deployment_outcome(503, "shutting_down", 0), GW_OUTCOME_NEUTRAL);
}

static void test_registry(void **state)
{
    struct gw_deployment *a = gw_deployment_get("m", "p", "up-a");
    struct gw_deployment *b = gw_deployment_get("m", "p", "up-b");
    struct gw_deployment *other = gw_deployment_get("n", "p", "up-a");
    assert_non_null(a);
    assert_ptr_equal(gw_deployment_get("m", "p", "up-a"), a);
    assert_ptr_equal(gw_deployment_find("m", "p", "up-a"), a);
    assert_null(gw_deployment_find("m", "q", "up-a"));
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, other);
    assert_ptr_equal(a->group, b->group); /* one round-robin position per model */
    assert_ptr_not_equal(a->group, other->group);
    assert_string_equal(a->label, "p/up-a");

    static const struct gw_deployment_cfg nolimits = {.weight = 1};
    assert_int_equal(gw_deployment_start(a, &nolimits, 0, T0, 1), 1);
    assert_int_equal(gw_deployment_start(a, &nolimits, 0, T0, 1), 1);
    assert_int_equal(atomic_load(&a->in_flight), 2);
    gw_deployment_end(a);
    gw_deployment_finish(a, &dflt, GW_OUTCOME_SUCCESS, 100000, 1, T0);
    assert_int_equal(atomic_load(&a->ttfb_ewma_us), 100000); /* the first sample as it is */
    gw_deployment_end(a);
    gw_deployment_finish(a, &dflt, GW_OUTCOME_SUCCESS, 200000, 2, T0);
    assert_int_equal(atomic_load(&a->ttfb_ewma_us), 130000);      /* moved 30% of the way */
    gw_deployment_finish(a, &dflt, GW_OUTCOME_FAILURE, 5, 3, T0); /* failures: no sample */
    assert_int_equal(atomic_load(&a->ttfb_ewma_us), 130000);
    gw_deployment_finish(a, &dflt, GW_OUTCOME_NONE, 0, 4, T0); /* never sent: not counted */
    assert_int_equal(atomic_load(&a->in_flight), 0);
    assert_int_equal(atomic_load(&a->requests), 3);
    assert_int_equal(atomic_load(&a->failures), 1);
    assert_int_equal(atomic_load(&a->successes), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_consecutive_failures),
        cmocka_unit_test(test_one_probe_then_closed),
        cmocka_unit_test(test_probe_failure_reopens),
        cmocka_unit_test(test_neutral_probe_frees_the_next),
        cmocka_unit_test(test_failure_rate),
        cmocka_unit_test(test_window_forgets),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_zero_cooldown),
        cmocka_unit_test(test_outcome),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

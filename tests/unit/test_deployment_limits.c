/* Unit tests of the per-deployment limits (gatewayd/deployments.c) and the
 * per-minute window under them (gatewayd/minute_window.c), with explicit
 * clocks: rpm, tpm (a call larger than the whole tpm fits an empty minute)
 * and max_in_flight, when a limited deployment has room again, the
 * correction of charged tokens in the slot they were charged to, a call
 * never made taken back out, and a start without the check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "deployments.h"
#include "minute_window.h"

#define S  1000000LL /* one second in microseconds */
#define T0 (1000 * S)

static void test_window(void **state)
{
    (void)state;
    static struct gw_minute_window w;
    assert_int_equal(gw_minute_window_sum(&w, T0), 0);
    assert_int_equal(gw_minute_window_next_drop(&w, T0), 0);
    gw_minute_window_add(&w, 5, T0);
    gw_minute_window_add(&w, 2, T0 + 10 * S + 300000);
    assert_int_equal(gw_minute_window_sum(&w, T0 + 10 * S), 7);
    /* the second of T0 leaves at T0 + 60 s */
    assert_int_equal(gw_minute_window_next_drop(&w, T0 + 10 * S + 500000), T0 + 60 * S);
    gw_minute_window_fix(&w, -3, T0 + 999999); /* the same second: corrected */
    assert_int_equal(gw_minute_window_sum(&w, T0 + 20 * S), 4);
    assert_int_equal(gw_minute_window_sum(&w, T0 + 60 * S), 2); /* T0's second left */
    assert_int_equal(gw_minute_window_next_drop(&w, T0 + 60 * S), T0 + 70 * S);
    gw_minute_window_fix(&w, -2, T0); /* that slot is gone: nothing to correct */
    assert_int_equal(gw_minute_window_sum(&w, T0 + 60 * S), 2);
    assert_int_equal(gw_minute_window_sum(&w, T0 + 71 * S), 0);
    /* a slot reused a minute later starts afresh */
    gw_minute_window_add(&w, 1, T0 + 60 * S);
    assert_int_equal(gw_minute_window_sum(&w, T0 + 60 * S), 3);
}

static void test_rpm(void **state)
{
    (void)state;
    static const struct gw_deployment_cfg dc = {.rpm = 3};
    struct gw_deployment *d = gw_deployment_get("rpm", "p", "u");
    assert_non_null(d);
    long long back = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(gw_deployment_room(&dc, d, 0, T0 + i * S, NULL), GW_DEP_ROOM);
        assert_int_equal(gw_deployment_start(d, &dc, 0, T0 + i * S, 1), 1);
        gw_deployment_end(d);
        gw_deployment_settle(d, 0, 0, 1, T0 + i * S);
    }
    assert_int_equal(gw_deployment_room(&dc, d, 0, T0 + 5 * S + 200000, &back), GW_DEP_RPM);
    assert_int_equal(back, T0 + 60 * S); /* the first request leaves the minute */
    assert_int_equal(gw_deployment_start(d, &dc, 0, T0 + 5 * S, 1), 0);
    assert_int_equal(atomic_load(&d->in_flight), 0); /* a refusal counts nothing */
    assert_int_equal(gw_minute_window_sum(&d->req_win, T0 + 5 * S), 3);
    /* without the check (a retry on the same deployment) it goes anyway */
    assert_int_equal(gw_deployment_start(d, &dc, 0, T0 + 5 * S, 0), 1);
    gw_deployment_end(d);
    gw_deployment_settle(d, 0, 0, 0, T0 + 5 * S); /* never sent: taken back out */
    assert_int_equal(gw_minute_window_sum(&d->req_win, T0 + 5 * S), 3);
    assert_int_equal(gw_deployment_room(&dc, d, 0, T0 + 60 * S, NULL), GW_DEP_ROOM);
}

static void test_tpm(void **state)
{
    (void)state;
    static const struct gw_deployment_cfg dc = {.tpm = 1000};
    struct gw_deployment *d = gw_deployment_get("tpm", "p", "u");
    long long back = 0;
    /* charged 600 (prompt + max_tokens), used 100: corrected in its slot */
    assert_int_equal(gw_deployment_start(d, &dc, 600, T0, 1), 1);
    assert_int_equal(gw_deployment_room(&dc, d, 600, T0, &back), GW_DEP_TPM);
    assert_int_equal(back, T0 + 60 * S);
    gw_deployment_end(d);
    gw_deployment_settle(d, 600, 100, 1, T0);
    assert_int_equal(gw_minute_window_sum(&d->tok_win, T0 + S), 100);
    assert_int_equal(gw_deployment_room(&dc, d, 600, T0 + S, NULL), GW_DEP_ROOM);
    assert_int_equal(gw_deployment_start(d, &dc, 900, T0 + S, 1), 1); /* 100 + 900 fits */
    assert_int_equal(gw_deployment_start(d, &dc, 1, T0 + S, 1), 0);   /* one more does not */
    /* larger than the whole tpm: only into an empty minute */
    struct gw_deployment *e = gw_deployment_get("tpm", "p", "v");
    assert_int_equal(gw_deployment_start(e, &dc, 5000, T0, 1), 1);
    assert_int_equal(gw_deployment_start(e, &dc, 5000, T0, 1), 0);
}

static void test_max_in_flight(void **state)
{
    (void)state;
    static const struct gw_deployment_cfg dc = {.max_in_flight = 2};
    struct gw_deployment *d = gw_deployment_get("mif", "p", "u");
    long long back = 0;
    assert_int_equal(gw_deployment_start(d, &dc, 0, T0, 1), 1);
    assert_int_equal(gw_deployment_start(d, &dc, 0, T0, 1), 1);
    assert_int_equal(gw_deployment_room(&dc, d, 0, T0, &back), GW_DEP_IN_FLIGHT);
    assert_int_equal(back, T0 + S);
    assert_int_equal(gw_deployment_start(d, &dc, 0, T0, 1), 0);
    assert_int_equal(atomic_load(&d->in_flight), 2);
    gw_deployment_end(d);
    assert_int_equal(gw_deployment_room(&dc, d, 0, T0, NULL), GW_DEP_ROOM);
    assert_string_equal(gw_dep_limit_name(GW_DEP_IN_FLIGHT), "max_in_flight");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_rpm),
        cmocka_unit_test(test_tpm),
        cmocka_unit_test(test_max_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

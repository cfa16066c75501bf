/* Unit tests of gatewayd/budget.c: period bounds (daily, weekly from Monday,
 * monthly across a year end, none), reservation up to the limit and not a
 * nano-dollar past it, settlement, and the roll-over into a new period that
 * drops settled spend but keeps reservations in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "budget.h"

static long long utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (long long)timegm(&tm);
}

static void test_bounds(void **state)
{
    long long s, e, now = utc(2026, 11, 25, 13, 37); /* a Wednesday */
    gw_budget_period_bounds(GW_PERIOD_DAILY, now, &s, &e);
    assert_true(s == utc(2026, 11, 25, 0, 0) && e == utc(2026, 11, 26, 0, 0));
    gw_budget_period_bounds(GW_PERIOD_WEEKLY, now, &s, &e);
    assert_true(s == utc(2026, 11, 23, 0, 0) && e == utc(2026, 11, 30, 0, 0));
    gw_budget_period_bounds(GW_PERIOD_WEEKLY, utc(2026, 11, 29, 23, 59), &s, &e); /* Sunday */
    assert_true(s == utc(2026, 11, 23, 0, 0));
    gw_budget_period_bounds(GW_PERIOD_MONTHLY, utc(2026, 12, 31, 23, 0), &s, &e);
    assert_true(s == utc(2026, 12, 1, 0, 0) && e == utc(2027, 1, 1, 0, 0));
    gw_budget_period_bounds(GW_PERIOD_NONE, now, &s, &e);
    assert_true(s == 0 && e == 0);
    assert_int_equal(gw_budget_period_parse("weekly"), GW_PERIOD_WEEKLY);
    assert_int_equal(gw_budget_period_parse(NULL), GW_PERIOD_NONE);
    assert_int_equal(gw_budget_period_parse("hourly"), -1);
}

static void test_reserve_and_settle(void **state)
{
    struct gw_spend s = {0};
    long long spent, reset;
    assert_true(gw_budget_reserve(&s, GW_PERIOD_NONE, 100, 60, &spent, &reset));
    assert_false(gw_budget_reserve(&s, GW_PERIOD_NONE, 100, 41, &spent, &reset));
    assert_int_equal(spent, 0); /* nothing settled yet: 60 is only reserved */
    assert_int_equal(reset, 0);
    assert_true(gw_budget_reserve(&s, GW_PERIOD_NONE, 100, 40, &spent, &reset));
    assert_int_equal(gw_budget_settle(&s, 60, 10), 50); /* 10 spent + 40 reserved */
    assert_true(gw_budget_reserve(&s, GW_PERIOD_NONE, 100, 50, &spent, &reset));
    assert_false(gw_budget_reserve(&s, GW_PERIOD_NONE, 100, 1, &spent, &reset));
    assert_int_equal(spent, 10);
}

static void test_roll_over(void **state)
{
    struct gw_spend s = {0};
    long long spent, reset, start, end;
    gw_budget_period_bounds(GW_PERIOD_DAILY, (long long)time(NULL), &start, &end);
    atomic_store(&s.period_start, start - 86400); /* yesterday's spend */
    atomic_store(&s.committed, 130);              /* 100 settled + 30 in flight */
    atomic_store(&s.reserved, 30);
    assert_true(gw_budget_reserve(&s, GW_PERIOD_DAILY, 100, 70, &spent, &reset));
    assert_int_equal(atomic_load(&s.committed), 100); /* 30 carried + 70 */
    assert_int_equal(atomic_load(&s.period_start), start);
    assert_false(gw_budget_reserve(&s, GW_PERIOD_DAILY, 100, 1, &spent, &reset));
    assert_int_equal(reset, end);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_reserve_and_settle),
        cmocka_unit_test(test_roll_over),
    };
    return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}

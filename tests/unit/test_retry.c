/* Unit tests of gatewayd/retry.c: the full-jitter backoff stays within
 * [0, min(max_backoff_ms, backoff_ms * 2^(n-1))) for every draw, doubles per
 * retry up to the cap, and Retry-After is read as delta-seconds only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retry.h"

static void test_backoff_bounds(void **state)
{
    const struct gw_retries c = {.attempts = 5, .backoff_ms = 200, .max_backoff_ms = 4000};
    const long long cap[] = {200, 400, 800, 1600, 3200, 4000, 4000, 4000};
    for (int n = 1; n <= 8; n++) {
        for (int i = 0; i <= 1000; i++) {
            double u = i / 1000.0; /* 1.0 included: clamped below 1 */
            long long d = gw_retry_backoff_ms(&c, n, u);
            assert_true(d >= 0);
            assert_true(d < cap[n - 1]);
        }
        assert_int_equal(gw_retry_backoff_ms(&c, n, 0.0), 0);
        assert_true(gw_retry_backoff_ms(&c, n, 0.999) >= cap[n - 1] * 99 / 100);
    }
    /* a huge n neither overflows nor passes the cap */
    assert_true(gw_retry_backoff_ms(&c, 1000, 0.5) == 2000);
    const struct gw_retries z = {.attempts = 3, .backoff_ms = 0, .max_backoff_ms = 4000};
    assert_int_equal(gw_retry_backoff_ms(&z, 3, 0.9), 0);
}

static void test_retry_after(void **state)
{
    assert_int_equal(gw_retry_after_ms(NULL), -1);
    assert_int_equal(gw_retry_after_ms("1"), 1000);
    assert_int_equal(gw_retry_after_ms(" 30 "), 30000);
    assert_int_equal(gw_retry_after_ms("0"), 0);
    assert_int_equal(gw_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    assert_int_equal(gw_retry_after_ms("-5"), -1);
    assert_int_equal(gw_retry_after_ms("1.5"), -1);
    assert_int_equal(gw_retry_after_ms(""), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

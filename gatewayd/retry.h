/* The wait before retrying a failed upstream call (docs/routing.md):
 * full-jitter exponential backoff, or the provider's Retry-After. Pure
 * functions, so the bounds can be tested. */
#ifndef GW_RETRY_H
#define GW_RETRY_H

#include "config.h"

/* The wait before retry n (1 = the first retry), u a random draw in
 * [0, 1): min(max_backoff_ms, backoff_ms * 2^(n-1)) * u, in ms. */
long long gw_retry_backoff_ms(const struct gw_retries *c, int n, double u);

/* A Retry-After header value in delta-seconds, in ms; -1 when absent or not
 * a number of seconds (an HTTP date is not honoured). */
long long gw_retry_after_ms(const char *value);

#endif

/* The wait before retrying a failed upstream call (docs/routing.md):
 * full-jitter exponential backoff, or the provider's Retry-After. Pure
 * functions, so the bounds can be tested. Also the process-wide counts of
 * retries by reason and of fallbacks, for /metrics. */
#ifndef GW_RETRY_H
#define GW_RETRY_H

#include "config.h"

/* The wait before retry n (1 = the first retry), u a random draw in
 * [0, 1): min(max_backoff_ms, backoff_ms * 2^(n-1)) * u, in ms. */
long long gw_retry_backoff_ms(const struct gw_retries *c, int n, double u);

/* A Retry-After header value in delta-seconds, in ms; -1 when absent or not
 * a number of seconds (an HTTP date is not honoured). */
long long gw_retry_after_ms(const char *value);

/* Why an upstream call is tried again (the reason label of
 * gw_retries_total). */
enum gw_retry_reason {
    GW_RETRY_UNREACHABLE,    /* the connection was refused or could not be made */
    GW_RETRY_TIMEOUT,        /* connect, first byte or total timeout */
    GW_RETRY_BROKEN,         /* the transfer broke before the answer */
    GW_RETRY_RATE_LIMITED,   /* the provider answered 429 */
    GW_RETRY_SERVER_ERROR,   /* 500, 502, 503, 504 */
    GW_RETRY_CONTEXT_WINDOW, /* a 400 saying the prompt does not fit: the context-window list */
    GW_RETRY_REASONS
};

/* "unreachable", "timeout", "broken", "rate_limited", "server_error",
 * "context_window". */
const char *gw_retry_reason_name(enum gw_retry_reason why);

/* A retry was scheduled for why; fallback: it goes to a fallback model (of
 * fallbacks or context_window_fallbacks). */
void gw_retry_count(enum gw_retry_reason why, int fallback);
/* The counts since start: retries by reason, and fallbacks. */
long long gw_retry_total(enum gw_retry_reason why);
long long gw_retry_fallbacks(void);

#endif

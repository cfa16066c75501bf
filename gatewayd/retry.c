/* Retry waits: full-jitter exponential backoff and Retry-After parsing;
 * the retry and fallback counters (retry.h). */
#include "retry.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>

static atomic_llong retries[GW_RETRY_REASONS], fallbacks;

static const char *const reason_names[GW_RETRY_REASONS] = {
    "unreachable", "timeout", "broken", "rate_limited", "server_error", "context_window"};

const char *gw_retry_reason_name(enum gw_retry_reason why)
{
    return (unsigned)why < GW_RETRY_REASONS ? reason_names[why] : "?";
}

void gw_retry_count(enum gw_retry_reason why, int fallback)
{
    if ((unsigned)why < GW_RETRY_REASONS)
        atomic_fetch_add_explicit(&retries[why], 1, memory_order_relaxed);
    if (fallback)
        atomic_fetch_add_explicit(&fallbacks, 1, memory_order_relaxed);
}

long long gw_retry_total(enum gw_retry_reason why)
{
    return (unsigned)why < GW_RETRY_REASONS ? atomic_load(&retries[why]) : 0;
}

long long gw_retry_fallbacks(void)
{
    return atomic_load(&fallbacks);
}

long long gw_retry_backoff_ms(const struct gw_retries *c, int n, double u)
{
    long long cap = c->max_backoff_ms, d = c->backoff_ms;
    for (int i = 1; i < n && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return (long long)((double)d * u);
}

long long gw_retry_after_ms(const char *value)
{
    if (!value)
        return -1;
    while (*value == ' ')
        value++;
    if (!isdigit((unsigned char)*value))
        return -1;
    char *end;
    long long s = strtoll(value, &end, 10);
    while (*end == ' ')
        end++;
    if (*end || s < 0 || s > 86400LL * 365)
        return -1;
    return s * 1000;
}

/* Retry waits: full-jitter exponential backoff and Retry-After parsing
 * (retry.h). */
#include "retry.h"

#include <ctype.h>
#include <stdlib.h>

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

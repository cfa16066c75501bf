/* Fault injection for the mock upstream: the [[mock:key=value,...]] directives
 * found in the text of the last user message (any wire format), and the process-wide fault armed
 * through the control API (POST/DELETE /_mock/faults).
 *
 * DESIGN: the control fault is a small struct under a mutex; an atomic copy of
 * "uses left" lets the fast path skip the lock entirely when nothing is armed. */
#include "mock.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t faults_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned status;
    long retry_after;
    long delay_ms;
    long left; /* uses left; -1 = until cleared */
} faults;
static atomic_long faults_left;

void mock_directives_init(struct mock_directives *d)
{
    memset(d, 0, sizeof *d);
    d->retry_after = -1;
    d->words = -1;
    d->drop_after = -1;
}

static bool mock_directive_number(const char *v, long lo, long hi, long *out)
{
    char *end;
    if (!v || !*v)
        return false;
    long n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return false;
    *out = n;
    return true;
}

static char *mock_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* One "key" or "key=value" item; unknown keys and bad values are ignored. */
static void mock_directive_apply(char *item, struct mock_directives *d)
{
    char *v = strchr(item, '=');
    if (v) {
        *v++ = '\0';
        v = mock_trim(v);
    }
    item = mock_trim(item);
    bool on = !v || !(strcmp(v, "0") == 0 || strcmp(v, "false") == 0);
    long n;

    if (strcmp(item, "status") == 0 && mock_directive_number(v, 200, 599, &n))
        d->status = (unsigned)n;
    else if (strcmp(item, "retry_after") == 0 && mock_directive_number(v, 0, 86400, &n))
        d->retry_after = n;
    else if (strcmp(item, "delay_ms") == 0 && mock_directive_number(v, 0, 3600000, &n))
        d->delay_ms = n;
    else if (strcmp(item, "chunk_delay_ms") == 0 && mock_directive_number(v, 0, 3600000, &n))
        d->chunk_delay_ms = n;
    else if (strcmp(item, "words") == 0 && mock_directive_number(v, 0, 10000000, &n))
        d->words = n;
    else if (strcmp(item, "drop_after") == 0 && mock_directive_number(v, 0, 1L << 40, &n))
        d->drop_after = n;
    else if (strcmp(item, "cached") == 0 && mock_directive_number(v, 0, 1L << 40, &n))
        d->cached = n;
    else if (strcmp(item, "cache_write") == 0 && mock_directive_number(v, 0, 1L << 40, &n))
        d->cache_write = n;
    else if (strcmp(item, "split") == 0 && mock_directive_number(v, 1, 1000000, &n))
        d->split = n;
    else if (strcmp(item, "tool") == 0 && v && mock_name_valid(v, 64, NULL))
        snprintf(d->tool, sizeof d->tool, "%s", v);
    else if (strcmp(item, "stop") == 0 && v)
        d->stop_max = strcmp(v, "max") == 0;
    else if (strcmp(item, "overloaded") == 0)
        d->overloaded = on;
    else if (strcmp(item, "exception") == 0)
        d->exception = on;
    else if (strcmp(item, "context_exceeded") == 0)
        d->context_exceeded = on;
    else if (strcmp(item, "hang") == 0)
        d->hang = on;
    else if (strcmp(item, "garbage") == 0)
        d->garbage = on;
    else if (strcmp(item, "no_usage") == 0)
        d->no_usage = on;
    else if (strcmp(item, "sse_garbage") == 0)
        d->sse_garbage = on;
}

void mock_directives_extract(char *text, struct mock_directives *d)
{
    static const char marker[] = "[[mock:";
    char *at;

    while ((at = strstr(text, marker)) != NULL) {
        char *end = strstr(at + sizeof marker - 1, "]]");
        if (!end)
            break;
        *end = '\0';
        for (char *item = at + sizeof marker - 1, *next; item; item = next) {
            next = strchr(item, ',');
            if (next)
                *next++ = '\0';
            mock_directive_apply(item, d);
        }
        /* Cut the directive; "a [[..]] b" becomes "a b", not "a  b". */
        char *rest = end + 2;
        if (at == text || isspace((unsigned char)at[-1]))
            while (isspace((unsigned char)*rest))
                rest++;
        memmove(at, rest, strlen(rest) + 1);
    }
}

const char *mock_faults_set(const cJSON *spec)
{
    if (!cJSON_IsObject(spec))
        return "body must be a JSON object";
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(spec, "status");
    const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(spec, "count");
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(spec, "retry_after");
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(spec, "delay_ms");
    unsigned status = 0;
    long left = 1, retry_after = -1, delay_ms = 0;

    if (st && !cJSON_IsNull(st)) {
        if (!cJSON_IsNumber(st) || st->valuedouble < 200 || st->valuedouble > 599)
            return "status must be a number in 200..599";
        status = (unsigned)st->valuedouble;
    }
    if (cnt && !cJSON_IsNull(cnt)) {
        if (!cJSON_IsNumber(cnt) || cnt->valuedouble < -1 || cnt->valuedouble > 1e9)
            return "count must be a number >= -1";
        left = (long)cnt->valuedouble;
    }
    if (ra && !cJSON_IsNull(ra)) {
        if (!cJSON_IsNumber(ra) || ra->valuedouble < 0 || ra->valuedouble > 86400)
            return "retry_after must be a number of seconds";
        retry_after = (long)ra->valuedouble;
    }
    if (dl && !cJSON_IsNull(dl)) {
        if (!cJSON_IsNumber(dl) || dl->valuedouble < 0 || dl->valuedouble > 3600000)
            return "delay_ms must be a number of milliseconds";
        delay_ms = (long)dl->valuedouble;
    }
    if (!status && !delay_ms)
        return "give status and/or delay_ms";

    pthread_mutex_lock(&faults_mu);
    faults.status = status;
    faults.retry_after = retry_after;
    faults.delay_ms = delay_ms;
    faults.left = left;
    atomic_store(&faults_left, left);
    pthread_mutex_unlock(&faults_mu);
    return NULL;
}

void mock_faults_clear(void)
{
    pthread_mutex_lock(&faults_mu);
    memset(&faults, 0, sizeof faults);
    atomic_store(&faults_left, 0);
    pthread_mutex_unlock(&faults_mu);
}

char *mock_faults_describe(void)
{
    char buf[160], status[16] = "null", retry[24] = "null";
    pthread_mutex_lock(&faults_mu);
    if (faults.status)
        snprintf(status, sizeof status, "%u", faults.status);
    if (faults.retry_after >= 0)
        snprintf(retry, sizeof retry, "%ld", faults.retry_after);
    if (faults.left == 0)
        snprintf(buf, sizeof buf, "{\"armed\":false}");
    else
        snprintf(buf, sizeof buf,
                 "{\"armed\":true,\"status\":%s,\"count\":%ld,\"retry_after\":%s,"
                 "\"delay_ms\":%ld}",
                 status, faults.left, retry, faults.delay_ms);
    pthread_mutex_unlock(&faults_mu);
    return strdup(buf);
}

bool mock_faults_take(struct mock_directives *d)
{
    bool hit = false;
    if (atomic_load(&faults_left) == 0)
        return false;
    pthread_mutex_lock(&faults_mu);
    if (faults.left != 0) {
        if (faults.status) {
            d->status = faults.status;
            d->retry_after = faults.retry_after;
            hit = true;
        }
        d->delay_ms += faults.delay_ms;
        if (faults.left > 0 && --faults.left == 0)
            memset(&faults, 0, sizeof faults);
        atomic_store(&faults_left, faults.left);
    }
    pthread_mutex_unlock(&faults_mu);
    return hit;
}

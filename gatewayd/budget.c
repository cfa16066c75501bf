/* Budget accounting. committed = settled spend of the current period +
 * outstanding reservations, so admission is one compare-and-swap on one
 * counter: exact under concurrency (two requests can never both take the
 * last dollar). When a new period begins, the first admission that notices
 * rolls the counter over under a mutex (once per period): settled spend is
 * dropped, outstanding reservations stay. After a restart the spend of the
 * current period is rebuilt from the usage table, so a budget holds across
 * restarts. */
#include "budget.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t roll_mu = PTHREAD_MUTEX_INITIALIZER;

int gw_budget_period_parse(const char *s)
{
    if (!s || !*s || strcmp(s, "none") == 0)
        return GW_PERIOD_NONE;
    if (strcmp(s, "daily") == 0)
        return GW_PERIOD_DAILY;
    if (strcmp(s, "weekly") == 0)
        return GW_PERIOD_WEEKLY;
    if (strcmp(s, "monthly") == 0)
        return GW_PERIOD_MONTHLY;
    return -1;
}

const char *gw_budget_period_name(enum gw_budget_period p)
{
    static const char *const names[] = {"none", "daily", "weekly", "monthly"};
    return names[p];
}

void gw_budget_period_bounds(enum gw_budget_period p, long long now, long long *start,
                             long long *end)
{
    time_t t = (time_t)now;
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    switch (p) {
    case GW_PERIOD_NONE:
        *start = 0;
        *end = 0;
        return;
    case GW_PERIOD_DAILY:
        *start = (long long)timegm(&tm);
        *end = *start + 86400;
        return;
    case GW_PERIOD_WEEKLY: {
        int since_monday = (tm.tm_wday + 6) % 7;
        *start = (long long)timegm(&tm) - (long long)since_monday * 86400;
        *end = *start + 7 * 86400;
        return;
    }
    case GW_PERIOD_MONTHLY:
        tm.tm_mday = 1;
        *start = (long long)timegm(&tm);
        tm.tm_mon += 1; /* timegm normalises December + 1 */
        *end = (long long)timegm(&tm);
        return;
    }
}

void gw_budget_load(struct gw_spend *s, sqlite3 *db, const char *column, const char *id,
                    enum gw_budget_period p)
{
    if (atomic_load(&s->period_kind) == (int)p)
        return;
    long long start, end;
    gw_budget_period_bounds(p, (long long)time(NULL), &start, &end);
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(cost_usd), 0) FROM usage WHERE %s = ? AND "
             "created_at >= ?",
             column);
    double spent = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, start * 1000);
        if (sqlite3_step(st) == SQLITE_ROW)
            spent = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
    }
    pthread_mutex_lock(&roll_mu);
    atomic_store(&s->committed, atomic_load(&s->reserved) + (long long)(spent * 1e9 + 0.5));
    atomic_store(&s->period_start, start);
    atomic_store(&s->period_kind, (int)p);
    atomic_store(&s->soft_warned, 0);
    pthread_mutex_unlock(&roll_mu);
}

static void roll_over(struct gw_spend *s, enum gw_budget_period p, long long now)
{
    long long start, end;
    gw_budget_period_bounds(p, now, &start, &end);
    if (atomic_load(&s->period_start) == start)
        return;
    pthread_mutex_lock(&roll_mu);
    if (atomic_load(&s->period_start) != start) {
        /* settled spend belonged to the old period; reservations carry over */
        atomic_store(&s->committed, atomic_load(&s->reserved));
        atomic_store(&s->period_start, start);
        atomic_store(&s->soft_warned, 0);
    }
    pthread_mutex_unlock(&roll_mu);
}

int gw_budget_reserve(struct gw_spend *s, enum gw_budget_period p, long long limit, long long est,
                      long long *spent, long long *reset_at)
{
    long long now = (long long)time(NULL);
    if (p != GW_PERIOD_NONE)
        roll_over(s, p, now);
    long long cur = atomic_load(&s->committed);
    for (;;) {
        if (cur + est > limit || (est == 0 && cur >= limit)) {
            long long start, end;
            gw_budget_period_bounds(p, now, &start, &end);
            *spent = cur - atomic_load(&s->reserved);
            *reset_at = end;
            return 0;
        }
        if (atomic_compare_exchange_weak(&s->committed, &cur, cur + est))
            break;
    }
    atomic_fetch_add(&s->reserved, est);
    return 1;
}

long long gw_budget_settle(struct gw_spend *s, long long est, long long actual)
{
    atomic_fetch_sub(&s->reserved, est);
    return atomic_fetch_add(&s->committed, actual - est) + (actual - est);
}

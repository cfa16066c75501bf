/* Budgets in USD per key and per team, per period (daily, weekly, monthly,
 * or none), enforced per request: a request is admitted only if the spend of
 * the period, plus what requests in flight have reserved, plus this one's
 * worst case, stays within the budget; at its end the reservation becomes
 * the real cost. Money is counted in nano-dollars in one atomic per
 * subject. */
#ifndef GW_BUDGET_H
#define GW_BUDGET_H

#include <sqlite3.h>
#include <stdatomic.h>

enum gw_budget_period { GW_PERIOD_NONE, GW_PERIOD_DAILY, GW_PERIOD_WEEKLY, GW_PERIOD_MONTHLY };

/* The spend of one key or team (lives in its gw_rl_state). */
struct gw_spend {
    atomic_llong committed;    /* nano-USD: settled this period + outstanding reservations */
    atomic_llong reserved;     /* nano-USD: outstanding reservations */
    atomic_llong period_start; /* unix seconds; which period `committed` belongs to */
    atomic_int period_kind;    /* the enum gw_budget_period it was computed for; -1 = not loaded */
    atomic_int soft_warned;    /* the soft threshold was reported this period */
};

/* A subject's budget: nano-USD per period (-1: no budget). */
struct gw_budget_limit {
    long long nano;
    enum gw_budget_period period;
};

/* Parses "daily" | "weekly" | "monthly" | NULL; -1 if unknown. */
int gw_budget_period_parse(const char *s);
const char *gw_budget_period_name(enum gw_budget_period p);
/* Start and end (unix seconds, UTC) of the period containing now. */
void gw_budget_period_bounds(enum gw_budget_period p, long long now, long long *start,
                             long long *end);

/* Off the request path (key snapshot builder): makes sure the spend of the
 * current period is loaded from the usage table (after a start or when the
 * period kind changed). column is "key_id" or "team_id". */
void gw_budget_load(struct gw_spend *s, sqlite3 *db, const char *column, const char *id,
                    enum gw_budget_period p);

/* Admission: reserves est nano-USD if committed + est <= limit. Returns 1 if
 * admitted; else 0 with *spent (nano-USD) and *reset_at (unix seconds, 0 if
 * never). */
int gw_budget_reserve(struct gw_spend *s, enum gw_budget_period p, long long limit, long long est,
                      long long *spent, long long *reset_at);
/* Settlement: the reservation est becomes the actual cost. Returns the
 * committed spend after it. */
long long gw_budget_settle(struct gw_spend *s, long long est, long long actual);
/* Times a budget crossed budgets.soft_threshold_pct (stages/budget.c). */
long gw_budget_soft_alerts(void);

#endif

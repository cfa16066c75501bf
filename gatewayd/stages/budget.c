/* Stage budget: a request may spend money only while its key's and its
 * team's budgets hold. Once the route is known (and so the model's
 * pricing), the request's worst case — its prompt and its max_tokens (or
 * rate_limiting.default_max_tokens) at the model's prices; for embeddings
 * its input tokens at the input price — is reserved
 * against each budget, all or nothing; a budget that cannot take it refuses
 * the request with 429 budget_exceeded, naming the budget and when it
 * resets. At the end the reservation becomes the real cost; crossing
 * budgets.soft_threshold_pct is logged and counted once per period. */
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "budget.h"
#include "errors.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "request.h"
#include "tokens.h"
#include "usage.h"

static atomic_long soft_alerts;

long gw_budget_soft_alerts(void)
{
    return atomic_load(&soft_alerts);
}

static long long nano(double usd)
{
    return (long long)(usd * 1e9 + 0.5);
}

static enum gw_stage_rc refuse(struct gw_request *r, const char *what, const char *name,
                               const struct gw_budget_limit *b, long long spent, long long reset)
{
    gw_metrics_budget_exceeded(what);
    char when[64] = "never (no period)";
    if (reset) {
        time_t t = (time_t)reset;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "at %Y-%m-%dT%H:%M:%SZ", &tm);
        char secs[32];
        snprintf(secs, sizeof secs, "%lld", reset - (long long)time(NULL));
        gw_request_add_header(r, "retry-after", secs);
    }
    gw_error_respond(r, 429, "insufficient_quota", "budget_exceeded", NULL,
                     "Budget exceeded for %s '%s': $%.6f of $%.2f (%s) is spent or reserved; "
                     "it resets %s.",
                     what, name ? name : "?", (double)spent / 1e9, (double)b->nano / 1e9,
                     gw_budget_period_name(b->period), when);
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    if (!r->cfg->budgets.enabled || !r->who.key_rl)
        return GW_STAGE_CONTINUE;
    const struct gw_principal *w = &r->who;
    struct {
        const char *what, *name;
        struct gw_spend *spend;
        const struct gw_budget_limit *b;
    } subj[2] = {{"key", w->key_name, &w->key_rl->spend, &w->key_budget},
                 {"team", w->team_name, w->team_rl ? &w->team_rl->spend : NULL, &w->team_budget}};
    long long est = nano(gw_usage_cost(
        &r->model->pricing, &(struct gw_token_counts){.prompt = gw_tokens_input(r),
                                                      .completion = gw_tokens_answer_budget(r)}));
    for (int i = 0; i < 2; i++) {
        if (!subj[i].spend || subj[i].b->nano < 0)
            continue;
        long long spent, reset;
        if (!gw_budget_reserve(subj[i].spend, subj[i].b->period, subj[i].b->nano, est, &spent,
                               &reset)) {
            for (int k = 0; k < r->n_budget; k++)
                gw_budget_settle(r->budget_spend[k], est, 0);
            r->n_budget = 0;
            return refuse(r, subj[i].what, subj[i].name, subj[i].b, spent, reset);
        }
        r->budget_spend[r->n_budget] = subj[i].spend;
        r->budget_limit[r->n_budget] = subj[i].b->nano;
        r->budget_what[r->n_budget] = subj[i].what;
        r->n_budget++;
    }
    r->budget_reserved = est;
    return GW_STAGE_CONTINUE;
}

static void done(struct gw_request *r)
{
    if (!r->n_budget)
        return;
    struct gw_token_counts counts = gw_usage_counts(r);
    long long actual = nano(gw_usage_cost(&r->model->pricing, &counts));
    int pct = r->cfg->budgets.soft_threshold_pct;
    for (int i = 0; i < r->n_budget; i++) {
        long long committed = gw_budget_settle(r->budget_spend[i], r->budget_reserved, actual);
        long long limit = r->budget_limit[i];
        int zero = 0;
        if (committed * 100 >= limit * pct &&
            atomic_compare_exchange_strong(&r->budget_spend[i]->soft_warned, &zero, 1)) {
            atomic_fetch_add(&soft_alerts, 1);
            gw_warn("budget: %s of %s '%s' reached %d%% of its $%.2f budget", r->id,
                    r->budget_what[i],
                    r->budget_what[i][0] == 'k' ? r->who.key_name : r->who.team_name, pct,
                    (double)limit / 1e9);
        }
    }
    r->n_budget = 0;
}

const struct gw_stage gw_stage_budget = {
    .name = "budget",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_EMBEDDINGS,
    .run = run,
    .done = done,
};

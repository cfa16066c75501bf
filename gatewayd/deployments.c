/* Live deployment state: the process-lifetime registry of deployments and
 * model groups, the per-request bookkeeping (in flight, time to first byte,
 * counters), the deployment's own limits (rpm, tpm, max_in_flight over
 * minute_window.h windows), the outcome of a finished request, and the
 * circuit breaker.
 *
 * DESIGN: the registry is two singly linked lists under one mutex, touched
 * only when a config is installed (the route stage resolves every configured
 * deployment to its state then) and by status and metrics; entries are never
 * freed, so the request path holds plain pointers and reads atomics. An
 * outcome is recorded once per request, from the route stage's done hook; it
 * takes the deployment's own mutex to count into the failure window (twenty
 * slices of window_s), which is also where a closed breaker opens. Half-open
 * is an open breaker whose cooldown has passed: the first request to swap it
 * to HALF_OPEN is the probe, and only the probe's outcome moves it on. */
#include "deployments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Weight of a new time-to-first-byte sample in the average. */
#define EWMA_ALPHA 0.3

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gw_deployment *deployments;
static struct gw_model_group *groups;

/* ---- registry ----------------------------------------------------------- */

static struct gw_deployment *find_locked(const char *model, const char *provider,
                                         const char *upstream)
{
    for (struct gw_deployment *d = deployments; d; d = d->next)
        if (strcmp(d->model, model) == 0 && strcmp(d->provider, provider) == 0 &&
            strcmp(d->upstream, upstream) == 0)
            return d;
    return NULL;
}

static struct gw_model_group *group_locked(const char *model)
{
    for (struct gw_model_group *g = groups; g; g = g->next)
        if (strcmp(g->name, model) == 0)
            return g;
    struct gw_model_group *g = calloc(1, sizeof *g);
    if (!g || !(g->name = strdup(model))) {
        free(g);
        return NULL;
    }
    atomic_init(&g->rr, 0);
    g->next = groups;
    groups = g;
    return g;
}

static struct gw_deployment *create_locked(const char *model, const char *provider,
                                           const char *upstream)
{
    struct gw_model_group *g = group_locked(model);
    struct gw_deployment *d = g ? calloc(1, sizeof *d) : NULL;
    if (!d)
        return NULL;
    d->model = strdup(model);
    d->provider = strdup(provider);
    d->upstream = strdup(upstream);
    size_t n = strlen(provider) + strlen(upstream) + 2;
    d->label = malloc(n);
    if (!d->model || !d->provider || !d->upstream || !d->label) {
        free(d->model);
        free(d->provider);
        free(d->upstream);
        free(d->label);
        free(d);
        return NULL;
    }
    snprintf(d->label, n, "%s/%s", provider, upstream);
    d->group = g;
    gw_breaker_init(&d->breaker);
    d->next = deployments;
    deployments = d;
    return d;
}

struct gw_deployment *gw_deployment_get(const char *model, const char *provider,
                                        const char *upstream)
{
    pthread_mutex_lock(&registry_mu);
    struct gw_deployment *d = find_locked(model, provider, upstream);
    if (!d)
        d = create_locked(model, provider, upstream);
    pthread_mutex_unlock(&registry_mu);
    return d;
}

struct gw_deployment *gw_deployment_find(const char *model, const char *provider,
                                         const char *upstream)
{
    pthread_mutex_lock(&registry_mu);
    struct gw_deployment *d = find_locked(model, provider, upstream);
    pthread_mutex_unlock(&registry_mu);
    return d;
}

void gw_deployments_each(const struct gw_config *cfg,
                         void (*fn)(const struct gw_model_cfg *m,
                                    const struct gw_deployment_cfg *dc, struct gw_deployment *d,
                                    void *arg),
                         void *arg)
{
    for (size_t i = 0; i < cfg->n_models; i++) {
        const struct gw_model_cfg *m = &cfg->models[i];
        for (size_t j = 0; j < m->n_deployments; j++) {
            const struct gw_deployment_cfg *dc = &m->deployments[j];
            fn(m, dc, gw_deployment_find(m->name, dc->provider_name, dc->model), arg);
        }
    }
}

/* ---- per request -------------------------------------------------------- */

static const char *const limit_names[] = {"", "rpm", "tpm", "max_in_flight"};

const char *gw_dep_limit_name(enum gw_dep_limit l)
{
    return (unsigned)l <= GW_DEP_IN_FLIGHT ? limit_names[l] : "?";
}

/* Whether a window over the minute at now_us leaves room for n more under
 * limit (0: no limit). One call larger than the limit fits an empty
 * window. */
static int window_room(const struct gw_minute_window *w, long long limit, long long n,
                       long long now_us)
{
    if (limit <= 0)
        return 1;
    long long used = gw_minute_window_sum(w, now_us);
    return used == 0 || used + n <= limit;
}

enum gw_dep_limit gw_deployment_room(const struct gw_deployment_cfg *dc,
                                     const struct gw_deployment *d, long long tokens,
                                     long long now_us, long long *back_us)
{
    enum gw_dep_limit l = GW_DEP_ROOM;
    long long back = 0;
    if (dc->max_in_flight > 0 &&
        atomic_load_explicit(&d->in_flight, memory_order_relaxed) >= dc->max_in_flight)
        l = GW_DEP_IN_FLIGHT, back = now_us + 1000000;
    else if (!window_room(&d->req_win, dc->rpm, 1, now_us))
        l = GW_DEP_RPM, back = gw_minute_window_next_drop(&d->req_win, now_us);
    else if (!window_room(&d->tok_win, dc->tpm, tokens, now_us))
        l = GW_DEP_TPM, back = gw_minute_window_next_drop(&d->tok_win, now_us);
    if (back_us)
        *back_us = back > now_us ? back : now_us + 1000000;
    return l;
}

int gw_deployment_start(struct gw_deployment *d, const struct gw_deployment_cfg *dc,
                        long long tokens, long long now_us, int check)
{
    if (!check || dc->max_in_flight <= 0) {
        atomic_fetch_add_explicit(&d->in_flight, 1, memory_order_relaxed);
    } else { /* one more only below the cap */
        long n = atomic_load_explicit(&d->in_flight, memory_order_relaxed);
        do {
            if (n >= dc->max_in_flight)
                return 0;
        } while (!atomic_compare_exchange_weak_explicit(
            &d->in_flight, &n, n + 1, memory_order_relaxed, memory_order_relaxed));
    }
    if (check && (!window_room(&d->req_win, dc->rpm, 1, now_us) ||
                  !window_room(&d->tok_win, dc->tpm, tokens, now_us))) {
        atomic_fetch_sub_explicit(&d->in_flight, 1, memory_order_relaxed);
        return 0;
    }
    gw_minute_window_add(&d->req_win, 1, now_us);
    if (tokens > 0)
        gw_minute_window_add(&d->tok_win, tokens, now_us);
    /* a request that raced another for the last of the minute: the one
     * that sees the window over after counting itself steps back */
    if (check &&
        ((dc->rpm > 0 && gw_minute_window_sum(&d->req_win, now_us) > dc->rpm) ||
         (dc->tpm > 0 && tokens > 0 && gw_minute_window_sum(&d->tok_win, now_us) > dc->tpm &&
          gw_minute_window_sum(&d->tok_win, now_us) > tokens))) {
        gw_minute_window_fix(&d->req_win, -1, now_us);
        if (tokens > 0)
            gw_minute_window_fix(&d->tok_win, -tokens, now_us);
        atomic_fetch_sub_explicit(&d->in_flight, 1, memory_order_relaxed);
        return 0;
    }
    return 1;
}

void gw_deployment_settle(struct gw_deployment *d, long long charged, long long used, int sent,
                          long long started_us)
{
    if (!sent)
        gw_minute_window_fix(&d->req_win, -1, started_us);
    if (used != charged)
        gw_minute_window_fix(&d->tok_win, used - charged, started_us);
}

void gw_deployment_count_limited(struct gw_deployment *d)
{
    atomic_fetch_add_explicit(&d->limited_total, 1, memory_order_relaxed);
}

void gw_deployment_end(struct gw_deployment *d)
{
    atomic_fetch_sub_explicit(&d->in_flight, 1, memory_order_relaxed);
}

static void ewma_add(atomic_llong *avg, long long sample)
{
    if (sample < 1)
        sample = 1; /* 0 means "no sample yet" */
    long long old = atomic_load_explicit(avg, memory_order_relaxed), next;
    do {
        next = old ? old + (long long)(EWMA_ALPHA * (double)(sample - old)) : sample;
        if (next < 1)
            next = 1;
    } while (!atomic_compare_exchange_weak_explicit(avg, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
}

void gw_deployment_finish(struct gw_deployment *d, const struct gw_breaker_cfg *cfg,
                          enum gw_outcome o, long long ttfb_us, uintptr_t owner, long long now_us)
{
    if (o != GW_OUTCOME_NONE)
        atomic_fetch_add_explicit(&d->requests, 1, memory_order_relaxed);
    if (o == GW_OUTCOME_FAILURE)
        atomic_fetch_add_explicit(&d->failures, 1, memory_order_relaxed);
    if (o == GW_OUTCOME_SUCCESS) {
        atomic_fetch_add_explicit(&d->successes, 1, memory_order_relaxed);
        if (ttfb_us > 0)
            ewma_add(&d->ttfb_ewma_us, ttfb_us);
    }
    enum gw_breaker_state before = gw_breaker_view(&d->breaker, now_us, NULL);
    gw_breaker_record(&d->breaker, cfg, o, owner, now_us);
    enum gw_breaker_state after = gw_breaker_view(&d->breaker, now_us, NULL);
    if (before == after)
        return;
    if (after == GW_BREAKER_OPEN) /* traffic moves away from it: worth a warning */
        gw_warn("deployment %s of model %s: circuit breaker %s -> open for %d s", d->label,
                d->model, gw_breaker_state_name(before), cfg->cooldown_s);
    else
        gw_info("deployment %s of model %s: circuit breaker %s -> %s", d->label, d->model,
                gw_breaker_state_name(before), gw_breaker_state_name(after));
}

enum gw_outcome gw_deployment_outcome(int status, const char *error, int streamed)
{
    if (!error)
        return status >= 500 || status == 429 ? GW_OUTCOME_FAILURE : GW_OUTCOME_SUCCESS;
    if (strncmp(error, "upstream_http_", 14) == 0) {
        int s = atoi(error + 14);
        return s >= 500 || s == 429 ? GW_OUTCOME_FAILURE : GW_OUTCOME_NEUTRAL;
    }
    if (strncmp(error, "upstream_", 9) == 0) /* unreachable, timeout, bad answer, auth... */
        return GW_OUTCOME_FAILURE;
    if (streamed)
        return GW_OUTCOME_FAILURE; /* the provider's own error event mid-stream */
    return GW_OUTCOME_NEUTRAL;     /* the gateway's own refusal */
}

/* ---- breaker ------------------------------------------------------------ */

static const char *const state_names[] = {"closed", "open", "half-open"};

const char *gw_breaker_state_name(enum gw_breaker_state s)
{
    return (unsigned)s <= GW_BREAKER_HALF_OPEN ? state_names[s] : "?";
}

static void window_reset_locked(struct gw_breaker *b)
{
    for (int i = 0; i < GW_BREAKER_SLOTS; i++)
        b->win[i].slice = -1, b->win[i].requests = 0, b->win[i].failures = 0;
}

void gw_breaker_init(struct gw_breaker *b)
{
    memset(b, 0, sizeof *b);
    atomic_init(&b->state, GW_BREAKER_CLOSED);
    atomic_init(&b->open_until_us, 0);
    atomic_init(&b->probe, 0);
    atomic_init(&b->opened_total, 0);
    pthread_mutex_init(&b->mu, NULL);
    window_reset_locked(b);
}

enum gw_pass gw_breaker_check(struct gw_breaker *b, const struct gw_breaker_cfg *cfg,
                              long long now_us, long long *until_us)
{
    int st = atomic_load_explicit(&b->state, memory_order_acquire);
    if (st == GW_BREAKER_CLOSED || !cfg->enabled)
        return GW_PASS_YES;
    if (st == GW_BREAKER_HALF_OPEN) {
        if (until_us)
            *until_us = now_us; /* when the probe ends; say "now" */
        return GW_PASS_NO;
    }
    long long until = atomic_load_explicit(&b->open_until_us, memory_order_acquire);
    if (now_us >= until)
        return GW_PASS_PROBE;
    if (until_us)
        *until_us = until;
    return GW_PASS_NO;
}

int gw_breaker_claim(struct gw_breaker *b, uintptr_t owner, long long now_us)
{
    int expect = GW_BREAKER_OPEN;
    if (!atomic_compare_exchange_strong_explicit(&b->state, &expect, GW_BREAKER_HALF_OPEN,
                                                 memory_order_acq_rel, memory_order_acquire))
        return expect == GW_BREAKER_CLOSED; /* closed meanwhile: go as a normal request */
    /* the breaker may have been re-opened by another probe between the
     * check and the swap: the new cooldown wins */
    if (now_us < atomic_load_explicit(&b->open_until_us, memory_order_acquire)) {
        atomic_store_explicit(&b->state, GW_BREAKER_OPEN, memory_order_release);
        return 0;
    }
    atomic_store_explicit(&b->probe, owner, memory_order_release);
    return 1;
}

static void open_locked(struct gw_breaker *b, const struct gw_breaker_cfg *cfg, long long now_us)
{
    atomic_store_explicit(&b->open_until_us, now_us + (long long)cfg->cooldown_s * 1000000,
                          memory_order_release);
    atomic_store_explicit(&b->state, GW_BREAKER_OPEN, memory_order_release);
    atomic_fetch_add_explicit(&b->opened_total, 1, memory_order_relaxed);
    b->consecutive = 0;
}

/* Counts o in the slot of now; returns the window's totals. */
static void window_add_locked(struct gw_breaker *b, const struct gw_breaker_cfg *cfg,
                              enum gw_outcome o, long long now_us, int *requests, int *failures)
{
    long long slice_us = (long long)cfg->window_s * 1000000 / GW_BREAKER_SLOTS;
    if (slice_us < 1)
        slice_us = 1;
    if (b->slice_us != slice_us) { /* window_s changed in a reload: start over */
        window_reset_locked(b);
        b->slice_us = slice_us;
    }
    long long cur = now_us / slice_us;
    int k = (int)(cur % GW_BREAKER_SLOTS);
    if (b->win[k].slice != cur)
        b->win[k].slice = cur, b->win[k].requests = 0, b->win[k].failures = 0;
    b->win[k].requests++;
    b->win[k].failures += o == GW_OUTCOME_FAILURE;
    *requests = *failures = 0;
    for (int i = 0; i < GW_BREAKER_SLOTS; i++)
        if (b->win[i].slice > cur - GW_BREAKER_SLOTS && b->win[i].slice <= cur) {
            *requests += b->win[i].requests;
            *failures += b->win[i].failures;
        }
}

void gw_breaker_record(struct gw_breaker *b, const struct gw_breaker_cfg *cfg, enum gw_outcome o,
                       uintptr_t owner, long long now_us)
{
    pthread_mutex_lock(&b->mu);
    int st = atomic_load_explicit(&b->state, memory_order_acquire);
    if (!cfg->enabled && st != GW_BREAKER_CLOSED) { /* switched off by a reload */
        atomic_store_explicit(&b->probe, 0, memory_order_release);
        atomic_store_explicit(&b->state, GW_BREAKER_CLOSED, memory_order_release);
        st = GW_BREAKER_CLOSED;
    }
    if (st == GW_BREAKER_HALF_OPEN && owner &&
        atomic_load_explicit(&b->probe, memory_order_acquire) == owner) {
        atomic_store_explicit(&b->probe, 0, memory_order_release);
        if (o == GW_OUTCOME_SUCCESS) {
            b->consecutive = 0;
            window_reset_locked(b); /* a fresh start: old failures do not count again */
            atomic_store_explicit(&b->state, GW_BREAKER_CLOSED, memory_order_release);
        } else if (o == GW_OUTCOME_FAILURE) {
            open_locked(b, cfg, now_us);
        } else {
            /* proved nothing (neutral, or never sent): the cooldown stays
             * over, the next request probes */
            atomic_store_explicit(&b->state, GW_BREAKER_OPEN, memory_order_release);
        }
        pthread_mutex_unlock(&b->mu);
        return;
    }
    if (o == GW_OUTCOME_NEUTRAL || o == GW_OUTCOME_NONE) {
        pthread_mutex_unlock(&b->mu);
        return;
    }
    int requests, failures;
    window_add_locked(b, cfg, o, now_us, &requests, &failures);
    if (o == GW_OUTCOME_SUCCESS) {
        b->consecutive = 0;
    } else {
        b->consecutive++;
        /* requests that were already under way when it opened change nothing */
        if (st == GW_BREAKER_CLOSED && cfg->enabled &&
            ((cfg->failures > 0 && b->consecutive >= cfg->failures) ||
             (cfg->failure_rate > 0 && requests >= cfg->min_requests &&
              (double)failures >= cfg->failure_rate * (double)requests)))
            open_locked(b, cfg, now_us);
    }
    pthread_mutex_unlock(&b->mu);
}

enum gw_breaker_state gw_breaker_view(const struct gw_breaker *b, long long now_us,
                                      long long *until_us)
{
    int st = atomic_load_explicit(&b->state, memory_order_acquire);
    long long until = atomic_load_explicit(&b->open_until_us, memory_order_acquire);
    if (until_us)
        *until_us = 0;
    if (st == GW_BREAKER_OPEN && now_us < until) {
        if (until_us)
            *until_us = until;
        return GW_BREAKER_OPEN;
    }
    return st == GW_BREAKER_CLOSED ? GW_BREAKER_CLOSED : GW_BREAKER_HALF_OPEN;
}

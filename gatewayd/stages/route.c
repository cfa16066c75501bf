/* Stage route: resolves the requested model name to a configured model and
 * picks one of its deployments (provider + upstream model name) by the
 * model's strategy, among those whose circuit breaker lets traffic through
 * (docs/routing.md). A name of the form "PROVIDER/MODEL" reaches that
 * provider's MODEL directly, without live state. When every breaker is open
 * the answer is 503 no_healthy_deployment with Retry-After. The response
 * says where the request went: x-gw-provider, x-gw-deployment
 * ("provider/upstream-model") and x-gw-attempts (upstream calls made).
 *
 * gw_route_retry (route.h) is the second chance: after an attempt failed
 * before anything reached the client, it records that attempt and moves
 * the request to another deployment of its model, then to the model's
 * fallbacks (or its context_window_fallbacks), each with its own attempts.
 *
 * DESIGN: setup resolves every deployment of the config to its live state
 * (deployments.h) once, so picking reads only atomics; the done hook, which
 * runs once when the request's usage is final, gives back the in-flight slot
 * and records the outcome for the breaker (a broken stream has its error
 * set by then). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "deployments.h"
#include "errors.h"
#include "pipeline.h"
#include "request.h"
#include "retry.h"
#include "route.h"

/* What setup built for one model of the config. */
struct route_model {
    size_t n;
    struct gw_deployment **live;  /* per deployment, priority order */
    struct gw_model_cfg **priced; /* per deployment: the model at its own prices, or NULL */
    struct gw_model_group *group; /* round-robin position */
};

struct route_state {
    size_t n_models;
    struct route_model *models;
};

int gw_route_model_allowed(const struct gw_request *r, const char *model)
{
    if (!r->who.models)
        return 1;
    for (const char **m = r->who.models; *m; m++)
        if (strcmp(*m, model) == 0)
            return 1;
    return 0;
}

/* ---- per config --------------------------------------------------------- */

static void teardown(void *p)
{
    struct route_state *st = p;
    for (size_t i = 0; i < st->n_models; i++) {
        struct route_model *rm = &st->models[i];
        for (size_t j = 0; rm->priced && j < rm->n; j++)
            free(rm->priced[j]);
        free(rm->priced);
        free(rm->live);
    }
    free(st->models);
    free(st);
}

static int setup(const struct gw_config *cfg, void **state, char *err, size_t errlen)
{
    struct route_state *st = calloc(1, sizeof *st);
    if (!st || !(st->models = calloc(cfg->n_models + 1, sizeof *st->models)))
        goto oom;
    st->n_models = cfg->n_models;
    for (size_t i = 0; i < cfg->n_models; i++) {
        const struct gw_model_cfg *m = &cfg->models[i];
        struct route_model *rm = &st->models[i];
        rm->n = m->n_deployments;
        rm->live = calloc(rm->n + 1, sizeof *rm->live);
        rm->priced = calloc(rm->n + 1, sizeof *rm->priced);
        if (!rm->live || !rm->priced)
            goto oom;
        for (size_t j = 0; j < rm->n; j++) {
            const struct gw_deployment_cfg *d = &m->deployments[j];
            if (!(rm->live[j] = gw_deployment_get(m->name, d->provider_name, d->model)))
                goto oom;
            rm->group = rm->live[j]->group;
            if (d->has_pricing) {
                if (!(rm->priced[j] = malloc(sizeof *rm->priced[j])))
                    goto oom;
                *rm->priced[j] = *m;
                rm->priced[j]->pricing = d->pricing;
            }
        }
    }
    *state = st;
    return 0;
oom:
    snprintf(err, errlen, "route: out of memory");
    if (st && st->models)
        teardown(st);
    else
        free(st);
    return -1;
}

/* ---- picking ------------------------------------------------------------ */

static const struct gw_pricing *price_of(const struct gw_model_cfg *m, size_t i)
{
    const struct gw_deployment_cfg *d = &m->deployments[i];
    return d->has_pricing ? &d->pricing : &m->pricing;
}

/* Chooses among the candidates c[0..k) (deployment indexes, priority order)
 * by the model's strategy; returns a position in c. */
static size_t choose(const struct gw_model_cfg *m, const struct route_model *rm, const int *c,
                     size_t k)
{
    size_t best = 0;
    switch (m->strategy) {
    case GW_STRATEGY_FALLBACK:
        return 0;
    case GW_STRATEGY_ROUND_ROBIN:
        return (size_t)(atomic_fetch_add_explicit(&rm->group->rr, 1, memory_order_relaxed) % k);
    case GW_STRATEGY_WEIGHTED: {
        unsigned long long total = 0;
        for (size_t i = 0; i < k; i++)
            total += (unsigned long long)m->deployments[c[i]].weight;
        if (total == 0)
            return 0; /* only standbys (weight 0) are left: priority order */
        unsigned long long x = gw_fast_random() % total;
        for (size_t i = 0; i < k; i++) {
            unsigned long long w = (unsigned long long)m->deployments[c[i]].weight;
            if (x < w)
                return i;
            x -= w;
        }
        return k - 1;
    }
    case GW_STRATEGY_LATENCY: {
        long long best_us = 0;
        for (size_t i = 0; i < k; i++) {
            long long us =
                atomic_load_explicit(&rm->live[c[i]]->ttfb_ewma_us, memory_order_relaxed);
            if (us == 0)
                return i; /* never measured: try it */
            if (i == 0 || us < best_us)
                best = i, best_us = us;
        }
        return best;
    }
    case GW_STRATEGY_LEAST_BUSY: {
        long best_n = 0;
        for (size_t i = 0; i < k; i++) {
            long n = atomic_load_explicit(&rm->live[c[i]]->in_flight, memory_order_relaxed);
            if (i == 0 || n < best_n)
                best = i, best_n = n;
        }
        return best;
    }
    case GW_STRATEGY_COST: {
        double best_p = 0;
        for (size_t i = 0; i < k; i++) {
            const struct gw_pricing *p = price_of(m, (size_t)c[i]);
            double v = p->input_per_mtok + p->output_per_mtok;
            if (i == 0 || v < best_p)
                best = i, best_p = v;
        }
        return best;
    }
    }
    return 0;
}

/* Picks a deployment whose breaker lets the request through, preferring
 * those not in avoid (bit i: deployment i failed for this request); -1 when
 * none does, with *retry_us the time until the earliest one turns
 * half-open. */
static int pick(struct gw_request *r, const struct gw_model_cfg *m, const struct route_model *rm,
                unsigned long long avoid, long long *retry_us)
{
    size_t n = m->n_deployments, k = 0;
    int *c = gw_arena_alloc(r->arena, n * sizeof *c);
    enum gw_pass *pass = gw_arena_alloc(r->arena, n * sizeof *pass);
    long long now = gw_now_us(), earliest = 0;
    if (!c || !pass)
        return -1;
    for (size_t i = 0; i < n; i++) {
        long long until = 0;
        pass[i] = gw_breaker_check(&rm->live[i]->breaker, &m->breaker, now, &until);
        if (pass[i] != GW_PASS_NO)
            c[k++] = (int)i;
        else if (earliest == 0 || until < earliest)
            earliest = until;
    }
    size_t fresh = 0;
    for (size_t j = 0; j < k; j++)
        if (c[j] >= 64 || !(avoid >> c[j] & 1))
            c[fresh++] = c[j];
    if (fresh > 0)
        k = fresh; /* else every candidate failed already: try them again */
    while (k > 0) {
        size_t at = choose(m, rm, c, k);
        int i = c[at];
        if (pass[i] != GW_PASS_PROBE || gw_breaker_claim(&rm->live[i]->breaker, (uintptr_t)r, now))
            return i;
        /* another request is this one's probe: not a candidate any more */
        memmove(&c[at], &c[at + 1], (k - at - 1) * sizeof *c);
        k--;
        if (earliest == 0 || now < earliest)
            earliest = now;
    }
    *retry_us = earliest > now ? earliest - now : 0;
    return -1;
}

/* ---- the stage ---------------------------------------------------------- */

/* "provider/model" -> a one-deployment model made for this request. */
static const struct gw_model_cfg *direct_model(struct gw_request *r, const char *name)
{
    const char *slash = strchr(name, '/');
    if (!slash || slash == name || !slash[1])
        return NULL;
    char *prov = gw_arena_strndup(r->arena, name, (size_t)(slash - name));
    int idx = gw_config_provider_index(r->cfg, prov);
    if (idx < 0)
        return NULL;
    struct gw_deployment_cfg *d = gw_arena_calloc(r->arena, sizeof *d);
    d->provider_name = r->cfg->providers[idx].name;
    d->model = slash + 1;
    d->provider = idx;
    d->weight = 1;
    struct gw_model_cfg *m = gw_arena_calloc(r->arena, sizeof *m);
    m->name = name;
    m->index = -1;
    m->deployments = d;
    m->n_deployments = 1;
    m->timeouts = r->cfg->timeouts;
    m->strategy = GW_STRATEGY_FALLBACK;
    m->breaker = r->cfg->routing.breaker;
    m->retries = r->cfg->routing.retries;
    return m;
}

static const struct route_model *route_model(const struct gw_request *r,
                                             const struct gw_model_cfg *m)
{
    const struct route_state *st = gw_pipeline_state(r, &gw_stage_route);
    if (!st || m->index < 0 || (size_t)m->index >= st->n_models)
        return NULL;
    return &st->models[m->index];
}

/* Points r at deployment i of m; the response headers say so (a retry
 * replaces what the previous attempt set). */
static void set_deployment(struct gw_request *r, const struct gw_model_cfg *m, size_t i)
{
    r->model = m;
    r->deployment = &m->deployments[i];
    r->provider = &r->cfg->providers[r->deployment->provider];
    gw_request_set_header(r, "x-gw-provider", r->provider->name);
    if (r->api == GW_API_COUNT_TOKENS)
        return; /* answered here, without a provider call */
    size_t n = strlen(r->provider->name) + strlen(r->deployment->model) + 2;
    char *label = gw_arena_alloc(r->arena, n);
    if (label) {
        snprintf(label, n, "%s/%s", r->provider->name, r->deployment->model);
        gw_request_set_header(r, "x-gw-deployment", label);
    }
    char num[16];
    snprintf(num, sizeof num, "%d", r->attempts > 0 ? r->attempts : 1);
    gw_request_set_header(r, "x-gw-attempts", num);
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_model_cfg *m = gw_config_model(r->cfg, r->model_name);
    if (!m)
        m = direct_model(r, r->model_name);
    if (!m || !gw_route_model_allowed(r, r->model_name)) {
        gw_error_respond(r, 404, "invalid_request_error", "model_not_found", "model",
                         "The model '%s' does not exist or you do not have access to it.",
                         r->model_name);
        return GW_STAGE_RESPOND;
    }
    const struct route_model *rm = route_model(r, m);
    if (!rm || r->api == GW_API_COUNT_TOKENS) {
        set_deployment(r, m, 0); /* no live state: the first in priority order */
        return GW_STAGE_CONTINUE;
    }
    long long retry_us = 0;
    int i = pick(r, m, rm, 0, &retry_us);
    if (i < 0) {
        long long s = (retry_us + 999999) / 1000000;
        char num[32];
        snprintf(num, sizeof num, "%lld", s < 1 ? 1 : s);
        gw_request_add_header(r, "retry-after", num);
        gw_error_respond(r, 503, "server_error", "no_healthy_deployment", NULL,
                         "No deployment of model '%s' is available: the circuit breakers of all "
                         "its deployments are open after upstream failures. Try again in %s s.",
                         m->name, num);
        return GW_STAGE_RESPOND;
    }
    gw_deployment_start(rm->live[i]);
    r->attempts = r->group_attempts = 1;
    set_deployment(r, rm->priced[i] ? rm->priced[i] : m, (size_t)i);
    return GW_STAGE_CONTINUE;
}

/* ---- retries ------------------------------------------------------------ */

/* Moves r to a deployment of m picked by its strategy (avoiding those in
 * avoid): one more attempt. 0, or -1 when no breaker lets it through. */
static int retarget(struct gw_request *r, const struct gw_model_cfg *m, unsigned long long avoid)
{
    const struct route_model *rm = route_model(r, m);
    long long retry_us = 0;
    int i = rm ? pick(r, m, rm, avoid, &retry_us) : 0;
    if (i < 0)
        return -1;
    if (rm)
        gw_deployment_start(rm->live[i]);
    r->attempts++;
    set_deployment(r, rm && rm->priced[i] ? rm->priced[i] : m, (size_t)i);
    return 0;
}

/* Whether m has a deployment outside avoid. */
static int untried(const struct gw_model_cfg *m, unsigned long long avoid)
{
    for (size_t i = 0; i < m->n_deployments; i++)
        if (i >= 64 || !(avoid >> i & 1))
            return 1;
    return 0;
}

int gw_route_retry(struct gw_request *r, int context_window, long long retry_after_ms,
                   long long *delay_ms)
{
    const struct gw_model_cfg *m = r->model;
    size_t cur = (size_t)(r->deployment - m->deployments);
    const struct route_model *rm = route_model(r, m);
    int rc = -1;
    if (cur < 64)
        r->failed |= 1ULL << cur;
    *delay_ms = 0;
    const struct gw_model_cfg *asked = gw_config_model(r->cfg, r->model_name);
    if (context_window) {
        const char *const *cw = asked ? asked->context_window_fallbacks : NULL;
        if (r->fallbacks != cw) { /* start the context-window list */
            r->fallbacks = cw;
            r->next_fallback = 0;
        }
    } else if (r->group_attempts < m->retries.attempts) {
        /* a Retry-After longer than max_backoff_ms is not waited for: another
         * deployment now, or the next model */
        int too_long = retry_after_ms > m->retries.max_backoff_ms;
        int n = r->group_attempts;
        if ((!too_long || untried(m, r->failed)) && retarget(r, m, r->failed) == 0) {
            r->group_attempts++;
            if (too_long)
                *delay_ms = 0;
            else if (retry_after_ms >= 0)
                *delay_ms = retry_after_ms;
            else
                *delay_ms =
                    gw_retry_backoff_ms(&m->retries, n, (double)(gw_fast_random() >> 11) / 0x1p53);
            rc = 0;
        }
    }
    if (rc != 0 && !r->fallbacks && !context_window && asked) {
        r->fallbacks = asked->fallbacks; /* the group is done: its fallbacks */
        r->next_fallback = 0;
    }
    while (rc != 0 && r->fallbacks && r->fallbacks[r->next_fallback]) {
        const struct gw_model_cfg *fm = gw_config_model(r->cfg, r->fallbacks[r->next_fallback++]);
        if (fm && retarget(r, fm, 0) == 0) {
            r->failed = 0;
            r->group_attempts = 1;
            rc = 0;
        }
    }
    if (rc != 0)
        return -1; /* the done hook records the last attempt with the answer */
    if (rm) {      /* the failed attempt: one finish for its one start */
        struct gw_deployment *d = rm->live[cur];
        gw_deployment_end(d);
        gw_deployment_finish(d, &m->breaker,
                             context_window ? GW_OUTCOME_NEUTRAL : GW_OUTCOME_FAILURE, 0,
                             (uintptr_t)r, gw_now_us());
    }
    r->retry_pending = 1;
    return 0;
}

void gw_route_retry_started(struct gw_request *r)
{
    r->retry_pending = 0;
}

/* The x-gw-attempts header says 0 when the gateway answered itself after
 * routing (a budget refusal, a provider that cannot serve the endpoint). */
static void no_attempt(struct gw_request *r)
{
    for (struct gw_header *h = r->headers; h; h = h->next)
        if (strcmp(h->name, "x-gw-attempts") == 0)
            h->value = "0";
}

static void done(struct gw_request *r)
{
    if (r->api == GW_API_COUNT_TOKENS || !r->deployment)
        return;
    const struct route_model *rm = route_model(r, r->model);
    if (!rm)
        return;
    struct gw_deployment *d = rm->live[r->deployment - r->model->deployments];
    gw_deployment_end(d);
    if (r->retry_pending) { /* chosen for a retry that was never made */
        gw_deployment_finish(d, &r->model->breaker, GW_OUTCOME_NONE, 0, (uintptr_t)r, gw_now_us());
        return;
    }
    int streaming;
    pthread_mutex_lock(&r->mu);
    streaming = r->streaming;
    pthread_mutex_unlock(&r->mu);
    long long ttfb = r->t_up_start_us && r->t_up_first_us > r->t_up_start_us
                         ? r->t_up_first_us - r->t_up_start_us
                         : 0;
    if (!streaming && !r->t_up_start_us && r->status >= 400) {
        no_attempt(r);
        gw_deployment_finish(d, &r->model->breaker, GW_OUTCOME_NONE, 0, (uintptr_t)r, gw_now_us());
        return;
    }
    gw_deployment_finish(d, &r->model->breaker,
                         gw_deployment_outcome(r->status, r->error, streaming), ttfb, (uintptr_t)r,
                         gw_now_us());
}

const struct gw_stage gw_stage_route = {
    .name = "route",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_COUNT_TOKENS | GW_API_EMBEDDINGS,
    .run = run,
    .setup = setup,
    .teardown = teardown,
    .done = done,
};

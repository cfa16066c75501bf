/* Stage route: resolves the requested model name to a configured model and
 * picks one of its deployments (provider + upstream model name) by the
 * model's strategy, among those whose circuit breaker lets traffic through,
 * whose own limits (rpm, tpm, max_in_flight) leave room, and whose provider
 * has an API key that is not resting after a 429 (docs/routing.md); a model
 * none of whose deployments is available goes to its fallbacks. A name of
 * the form "PROVIDER/MODEL" reaches that provider's MODEL directly, without
 * live state. When no deployment is available the answer is 503
 * no_healthy_deployment (429 deployment_limit_reached or
 * provider_keys_cooling when only limits or resting keys are in the way)
 * with Retry-After. The response says where the request went:
 * x-gw-provider, x-gw-deployment ("provider/upstream-model") and
 * x-gw-attempts (upstream calls made), and x-gw-affinity when a prefix was
 * looked up.
 *
 * Every attempt also gets its provider key here (r->api_key): the key of
 * the provider's pool with the most capacity left (keypool.h), or, for a
 * follow-up whose prefix is warm, the key that served it (affinity.h).
 *
 * gw_route_retry (route.h) is the second chance: after an attempt failed
 * before anything reached the client, it records that attempt and moves
 * the request to another key of the same deployment (a 429 from a pooled
 * key), to another deployment of its model, then to the model's fallbacks
 * (or its context_window_fallbacks), each with its own attempts.
 *
 * DESIGN: setup resolves every deployment and every provider key of the
 * config to its live state (deployments.h, keypool.h) once, so picking reads
 * only atomics; the done hook, which runs once when the request's usage is
 * final, gives back the in-flight slots (and corrects the tokens charged
 * to the deployment's limits), records the outcome for the breaker
 * (a broken stream has its error set by then) and, for a success, where the
 * request's prefix is now warm. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "crypto.h"
#include "deployments.h"
#include "errors.h"
#include "keypool.h"
#include "pipeline.h"
#include "request.h"
#include "retry.h"
#include "route.h"
#include "tokens.h"

/* What setup built for one model of the config. */
struct route_model {
    size_t n;
    struct gw_deployment **live;  /* per deployment, priority order */
    struct gw_model_cfg **priced; /* per deployment: the model at its own prices, or NULL */
    struct gw_model_group *group; /* round-robin position */
    int affine; /* a prefix's warmth can matter: a choice to make and a cache TTL */
};

struct route_state {
    size_t n_models;
    struct route_model *models;
    size_t n_providers;
    struct gw_keypool *pools;     /* per provider */
    struct gw_affinity *affinity; /* NULL: routing.affinity is off */
};

/* Why no deployment could be picked (pick). */
struct miss {
    long long retry_us;     /* until the earliest one may be available again */
    long long keys_back_us; /* when the first resting key of a pool is back (0: none rests) */
    int open;               /* some deployment's breaker was in the way */
    int limited;            /* some deployment was at its own rpm, tpm or max_in_flight */
};

static int in_list(const char **list, const char *model)
{
    if (!list)
        return 1;
    for (const char **m = list; *m; m++)
        if (strcmp(*m, model) == 0)
            return 1;
    return 0;
}

int gw_route_model_allowed(const struct gw_request *r, const char *model)
{
    return in_list(r->who.models, model) && in_list(r->who.team_models, model);
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
    gw_keypools_free(st->pools, st->n_providers);
    gw_affinity_release(st->affinity);
    free(st);
}

/* Whether following a warm prefix can change where m's requests go: more
 * than one deployment, or a pool of keys, and a provider that keeps prompts
 * cached. */
static int affine(const struct gw_config *cfg, const struct gw_model_cfg *m)
{
    int choice = m->n_deployments > 1, ttl = 0;
    for (size_t j = 0; j < m->n_deployments; j++) {
        const struct gw_provider_cfg *p = &cfg->providers[m->deployments[j].provider];
        choice |= p->n_keys > 1;
        ttl |= p->prompt_cache_ttl_s > 0;
    }
    return choice && ttl;
}

static int setup(const struct gw_config *cfg, void **state, char *err, size_t errlen)
{
    struct route_state *st = calloc(1, sizeof *st);
    if (!st || !(st->models = calloc(cfg->n_models + 1, sizeof *st->models)))
        goto oom;
    st->n_models = cfg->n_models;
    st->n_providers = cfg->n_providers;
    if (!(st->pools = gw_keypools_build(cfg)))
        goto oom;
    int any_affine = 0;
    for (size_t i = 0; i < cfg->n_models; i++) {
        const struct gw_model_cfg *m = &cfg->models[i];
        struct route_model *rm = &st->models[i];
        rm->n = m->n_deployments;
        rm->live = calloc(rm->n + 1, sizeof *rm->live);
        rm->priced = calloc(rm->n + 1, sizeof *rm->priced);
        if (!rm->live || !rm->priced)
            goto oom;
        rm->affine = affine(cfg, m);
        any_affine |= rm->affine;
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
    if (cfg->routing.affinity.enabled && any_affine &&
        !(st->affinity = gw_affinity_acquire(cfg->routing.affinity.max_entries)))
        goto oom;
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

static const struct route_state *rstate(const struct gw_request *r)
{
    return gw_pipeline_state(r, &gw_stage_route);
}

static const struct gw_keypool *pool_of(const struct route_state *st, int provider)
{
    return st && provider >= 0 && (size_t)provider < st->n_providers ? &st->pools[provider] : NULL;
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

/* ---- per-deployment limits (deployments.h) ------------------------------ */

/* The tokens a call to deployment dc charges to its minute: the prompt and
 * the most the answer may take, when it has a tpm (0 otherwise). */
static long long dep_tokens(struct gw_request *r, const struct gw_deployment_cfg *dc)
{
    return dc->tpm > 0 ? gw_tokens_input(r) + gw_tokens_answer_budget(r) : 0;
}

/* r's attempt takes deployment i of m: in flight and charged to its
 * limits' windows; with check, only when its limits leave room (0 if
 * not). */
static int hold(struct gw_request *r, const struct gw_model_cfg *m, const struct route_model *rm,
                size_t i, long long now, int check)
{
    const struct gw_deployment_cfg *dc = &m->deployments[i];
    long long tokens = dep_tokens(r, dc);
    if (!gw_deployment_start(rm->live[i], dc, tokens, now, check))
        return 0;
    r->dep_held = 1;
    r->dep_tokens = tokens;
    r->dep_start_us = now;
    return 1;
}

/* r's attempt is done with deployment d: its in-flight slot back, its
 * tokens corrected to used, sent 0 when the call was never made. */
static void unhold(struct gw_request *r, struct gw_deployment *d, long long used, int sent)
{
    if (!r->dep_held)
        return;
    gw_deployment_end(d);
    gw_deployment_settle(d, r->dep_tokens, used, sent, r->dep_start_us);
    r->dep_held = 0;
    r->dep_tokens = 0;
}

/* Picks a deployment whose breaker lets the request through now, whose own
 * limits leave room and whose provider has a key that does not rest at
 * key_at_us (a retry may wait for one), preferring those not in avoid (bit
 * i: deployment i failed for this request); -1 when none does, with *miss
 * saying what was in the way. The one picked is held for r (hold). */
static int pick(struct gw_request *r, const struct gw_model_cfg *m, const struct route_model *rm,
                unsigned long long avoid, long long key_at_us, struct miss *miss)
{
    const struct route_state *st = rstate(r);
    size_t n = m->n_deployments, k = 0;
    int *c = gw_arena_alloc(r->arena, n * sizeof *c);
    enum gw_pass *pass = gw_arena_alloc(r->arena, n * sizeof *pass);
    long long now = gw_now_us(), earliest = 0;
    memset(miss, 0, sizeof *miss);
    if (!c || !pass)
        return -1;
    for (size_t i = 0; i < n; i++) {
        long long until = 0, back = 0;
        pass[i] = gw_breaker_check(&rm->live[i]->breaker, &m->breaker, now, &until);
        if (pass[i] == GW_PASS_NO) {
            miss->open = 1;
        } else if (gw_deployment_room(&m->deployments[i], rm->live[i],
                                      dep_tokens(r, &m->deployments[i]), now,
                                      &until) != GW_DEP_ROOM) {
            miss->limited = 1;
            gw_deployment_count_limited(rm->live[i]);
        } else if (gw_keypool_resting(pool_of(st, m->deployments[i].provider), key_at_us, &back)) {
            until = back;
            if (miss->keys_back_us == 0 || back < miss->keys_back_us)
                miss->keys_back_us = back;
        } else {
            c[k++] = (int)i;
            continue;
        }
        if (earliest == 0 || until < earliest)
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
        long long until = now;
        if (!hold(r, m, rm, (size_t)i, now, 1)) {
            /* another request took the last of its limit meanwhile */
            miss->limited = 1;
            gw_deployment_count_limited(rm->live[i]);
            gw_deployment_room(&m->deployments[i], rm->live[i], dep_tokens(r, &m->deployments[i]),
                               now, &until);
        } else if (pass[i] != GW_PASS_PROBE ||
                   gw_breaker_claim(&rm->live[i]->breaker, (uintptr_t)r, now)) {
            return i;
        } else {
            /* another request is this one's probe: not a candidate any more */
            unhold(r, rm->live[i], 0, 0);
            miss->open = 1;
        }
        memmove(&c[at], &c[at + 1], (k - at - 1) * sizeof *c);
        k--;
        if (earliest == 0 || until < earliest)
            earliest = until;
    }
    miss->retry_us = earliest > now ? earliest - now : 0;
    return -1;
}

/* ---- keys --------------------------------------------------------------- */

/* The tokens a call charges to a key of pool: the prompt and the most the
 * answer may take, when some key of the pool has a tpm (0 otherwise). */
static long long key_tokens(struct gw_request *r, const struct gw_keypool *pool)
{
    if (!pool->counts_tokens)
        return 0;
    return gw_tokens_input(r) + gw_tokens_answer_budget(r);
}

/* Gives r's attempt its provider key: prefer when it is one of the pool's
 * and not resting, else the pool's choice (keypool.h). A provider without
 * keys: none. */
static void use_key(struct gw_request *r, const struct route_state *st,
                    const struct gw_pool_key *prefer)
{
    const struct gw_keypool *pool = pool_of(st, r->deployment->provider);
    r->api_key = r->provider->api_key;
    r->pool_key = NULL;
    r->pool_key_tokens = 0;
    if (!pool || pool->n == 0)
        return;
    long long now = gw_now_us();
    int i = gw_keypool_index(pool, prefer);
    if (i < 0 || gw_pool_key_resting(pool->keys[i], now))
        i = gw_keypool_choose(pool, now, (double)(gw_fast_random() >> 11) / 0x1p53);
    r->pool_key = pool->keys[i];
    r->api_key = pool->cfg->keys[i].secret;
    r->pool_key_tokens = key_tokens(r, pool);
    r->pool_key_start_us = now;
    gw_pool_key_start(r->pool_key, r->pool_key_tokens, now);
}

/* The attempt's key is done with: used tokens (of those charged), sent 0
 * when the call was never made. */
static void end_key(struct gw_request *r, long long used, int sent)
{
    if (!r->pool_key)
        return;
    gw_pool_key_end(r->pool_key, r->pool_key_tokens, used, sent, r->pool_key_start_us);
    r->pool_key = NULL;
    r->pool_key_tokens = 0;
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
    const struct route_state *st = rstate(r);
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

/* The deployment of m a warm prefix points at (dep, key: what
 * gw_affinity_lookup found), if it may be used now: its breaker closed (a
 * probe is left to normal routing), its provider's keys not all resting
 * and its limits leaving room (it is then held for r). -1 otherwise. */
static int warm_target(struct gw_request *r, const struct gw_model_cfg *m,
                       const struct route_model *rm, uintptr_t dep, long long now)
{
    for (size_t i = 0; i < rm->n; i++) {
        if ((uintptr_t)rm->live[i] != dep)
            continue;
        if (gw_breaker_check(&rm->live[i]->breaker, &m->breaker, now, NULL) != GW_PASS_YES ||
            gw_keypool_resting(pool_of(rstate(r), m->deployments[i].provider), now, NULL) ||
            !hold(r, m, rm, i, now, 1))
            return -1;
        return (int)i;
    }
    return -1;
}

/* No deployment of m (nor of its fallbacks) is available (see miss): when
 * no breaker is in the way, 429 deployment_limit_reached if some
 * deployment is at its own limits, else provider_keys_cooling (only
 * resting keys); otherwise 503 no_healthy_deployment. Retry-After says when
 * the first may be back. */
static enum gw_stage_rc unavailable(struct gw_request *r, const struct gw_model_cfg *m,
                                    const struct miss *miss)
{
    long long s = (miss->retry_us + 999999) / 1000000;
    char num[32];
    snprintf(num, sizeof num, "%lld", s < 1 ? 1 : s);
    gw_request_add_header(r, "retry-after", num);
    if (!miss->open && miss->limited)
        gw_error_respond(
            r, 429, "rate_limit_error", "deployment_limit_reached", NULL,
            "No deployment of model '%s' is available: every one is at its own "
            "requests-per-minute, tokens-per-minute or in-flight limit%s. Try again "
            "in %s s.",
            m->name, miss->keys_back_us ? " or has every API key resting after a 429" : "", num);
    else if (!miss->open && miss->keys_back_us)
        gw_error_respond(r, 429, "rate_limit_error", "provider_keys_cooling", NULL,
                         "No deployment of model '%s' is available: every API key of its "
                         "providers is resting after the provider answered 429. Try again in "
                         "%s s.",
                         m->name, num);
    else if (miss->keys_back_us)
        gw_error_respond(r, 503, "server_error", "no_healthy_deployment", NULL,
                         "No deployment of model '%s' is available: circuit breakers are open "
                         "after upstream failures and API keys are resting after rate limits. "
                         "Try again in %s s.",
                         m->name, num);
    else
        gw_error_respond(r, 503, "server_error", "no_healthy_deployment", NULL,
                         "No deployment of model '%s' is available: the circuit breakers of all "
                         "its deployments are open after upstream failures. Try again in %s s.",
                         m->name, num);
    return GW_STAGE_RESPOND;
}

/* No deployment of *m is available now (*miss says why: open breakers,
 * resting keys, limits): the first of its fallbacks that has one, which *m and *rm then point at,
 * the rest of the list left to retries; -1 when none has, *miss then covering them all. */
static int pick_fallback(struct gw_request *r, const struct gw_model_cfg **m,
                         const struct route_model **rm, long long now, struct miss *miss)
{
    const char *const *fb = (*m)->fallbacks;
    for (int n = 0; fb && fb[n]; n++) {
        const struct gw_model_cfg *fm = gw_config_model(r->cfg, fb[n]);
        const struct route_model *frm = fm ? route_model(r, fm) : NULL;
        struct miss fmiss;
        if (!frm)
            continue;
        int i = pick(r, fm, frm, 0, now, &fmiss);
        if (i >= 0) {
            r->fallbacks = fb;
            r->next_fallback = n + 1;
            *m = fm;
            *rm = frm;
            return i;
        }
        if (fmiss.retry_us < miss->retry_us)
            miss->retry_us = fmiss.retry_us;
        if (fmiss.keys_back_us && (!miss->keys_back_us || fmiss.keys_back_us < miss->keys_back_us))
            miss->keys_back_us = fmiss.keys_back_us;
        miss->open |= fmiss.open;
        miss->limited |= fmiss.limited;
    }
    return -1;
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
    const struct route_state *st = rstate(r);
    const struct route_model *rm = route_model(r, m);
    if (r->api == GW_API_COUNT_TOKENS) {
        set_deployment(r, m, 0); /* answered here: the first in priority order */
        return GW_STAGE_CONTINUE;
    }
    r->attempts = r->group_attempts = 1;
    if (!rm) { /* PROVIDER/MODEL: no live state, a key of the provider all the same */
        set_deployment(r, m, 0);
        use_key(r, st, NULL);
        return GW_STAGE_CONTINUE;
    }
    long long now = gw_now_us();
    int i = -1;
    uintptr_t dep = 0, key = 0;
    if (st->affinity && rm->affine && (r->api & (GW_API_CHAT | GW_API_MESSAGES)) &&
        (r->affinity_fp = gw_affinity_fingerprint(r->model_name, r->json)) != 0) {
        if (gw_affinity_lookup(st->affinity, r->affinity_fp, now, &dep, &key))
            i = warm_target(r, m, rm, dep, now);
        gw_affinity_count(i >= 0);
        gw_request_set_header(r, "x-gw-affinity", i >= 0 ? "hit" : "miss");
    }
    if (i < 0) {
        struct miss miss;
        /* nothing of this group is available (open breakers, resting
         * keys, limits): the group has failed, its fallbacks are next */
        if ((i = pick(r, m, rm, 0, now, &miss)) < 0 &&
            (i = pick_fallback(r, &m, &rm, now, &miss)) < 0)
            return unavailable(r, m, &miss);
        key = 0;
    }
    set_deployment(r, rm->priced[i] ? rm->priced[i] : m, (size_t)i);
    use_key(r, st, (const struct gw_pool_key *)key);
    return GW_STAGE_CONTINUE;
}

/* ---- retries ------------------------------------------------------------ */

/* Moves r to deployment i of m: one more attempt. */
static void move_to(struct gw_request *r, const struct gw_model_cfg *m,
                    const struct route_model *rm, size_t i)
{
    if (rm && !r->dep_held) /* pick holds what it picks; the same deployment again: */
        hold(r, m, rm, i, gw_now_us(), 0); /* another call, whatever its limits */
    r->attempts++;
    set_deployment(r, rm && rm->priced[i] ? rm->priced[i] : m, i);
}

/* Moves r to a deployment of m picked by its strategy (avoiding those in
 * avoid; keys looked at as they will be at key_at_us): 0, or -1 when none
 * is available (*miss says why). */
static int retarget(struct gw_request *r, const struct gw_model_cfg *m, unsigned long long avoid,
                    long long key_at_us, struct miss *miss)
{
    const struct route_model *rm = route_model(r, m);
    memset(miss, 0, sizeof *miss);
    int i = rm ? pick(r, m, rm, avoid, key_at_us, miss) : 0;
    if (i < 0)
        return -1;
    move_to(r, m, rm, (size_t)i);
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

/* The next attempt within m's group after deployment cur failed (its
 * attempts not used up): 0 with r moved and *delay_ms set, or -1. */
static int retry_in_group(struct gw_request *r, const struct gw_model_cfg *m, size_t cur,
                          long long retry_after_ms, long long now, long long *delay_ms)
{
    const struct route_state *st = rstate(r);
    if (r->key_rested &&
        !gw_keypool_resting(pool_of(st, m->deployments[cur].provider), now, NULL)) {
        move_to(r, m, route_model(r, m), cur); /* the same deployment, another key, at once */
        return 0;
    }
    if (cur < 64)
        r->failed |= 1ULL << cur;
    /* a Retry-After longer than max_backoff_ms is not waited for: another
     * deployment now, or the next model; a resting key's Retry-After is the
     * key's, not the deployment's */
    int too_long = !r->key_rested && retry_after_ms > m->retries.max_backoff_ms;
    int n = r->group_attempts;
    struct miss miss;
    if ((!too_long || untried(m, r->failed)) && retarget(r, m, r->failed, now, &miss) == 0) {
        if (too_long || (r->key_rested && !(r->failed >> (r->deployment - m->deployments) & 1)))
            *delay_ms = 0;
        else if (retry_after_ms >= 0 && !r->key_rested)
            *delay_ms = retry_after_ms;
        else
            *delay_ms =
                gw_retry_backoff_ms(&m->retries, n, (double)(gw_fast_random() >> 11) / 0x1p53);
        return 0;
    }
    /* every key of what is left rests: wait for the first one back, when
     * that is soon enough */
    long long back = miss.keys_back_us;
    if (r->key_rested && back > now && back - now <= (long long)m->retries.max_backoff_ms * 1000 &&
        retarget(r, m, r->failed, back, &miss) == 0) {
        *delay_ms = (back - now + 999) / 1000;
        return 0;
    }
    return -1;
}

void gw_route_key_limited(struct gw_request *r, long long retry_after_ms)
{
    const struct gw_keypool *pool =
        r->deployment ? pool_of(rstate(r), r->deployment->provider) : NULL;
    if (!r->pool_key || !pool || pool->n < 2 || r->key_rested)
        return;
    gw_pool_key_cool(r->pool_key, r->provider, retry_after_ms, gw_now_us());
    r->key_rested = 1;
}

int gw_route_retry(struct gw_request *r, enum gw_retry_reason why, long long retry_after_ms,
                   long long *delay_ms)
{
    const struct gw_model_cfg *m = r->model;
    size_t cur = (size_t)(r->deployment - m->deployments);
    const struct route_model *rm = route_model(r, m);
    int context_window = why == GW_RETRY_CONTEXT_WINDOW, rc = -1, fallback = 0;
    long long now = gw_now_us();
    *delay_ms = 0;
    /* the failed attempt's key: a 429 puts a key of a pool to rest */
    r->key_rested = 0;
    if (why == GW_RETRY_RATE_LIMITED)
        gw_route_key_limited(r, retry_after_ms);
    end_key(r, 0, 1);
    if (rm) /* the failed call is over: its slot is free for the next pick */
        unhold(r, rm->live[cur], 0, 1);
    const struct gw_model_cfg *asked = gw_config_model(r->cfg, r->model_name);
    if (context_window) {
        if (cur < 64)
            r->failed |= 1ULL << cur;
        const char *const *cw = asked ? asked->context_window_fallbacks : NULL;
        if (r->fallbacks != cw) { /* start the context-window list */
            r->fallbacks = cw;
            r->next_fallback = 0;
        }
    } else if (r->group_attempts < m->retries.attempts) {
        if (retry_in_group(r, m, cur, retry_after_ms, now, delay_ms) == 0) {
            r->group_attempts++;
            rc = 0;
        }
    } else if (cur < 64) {
        r->failed |= 1ULL << cur;
    }
    if (rc != 0 && !r->fallbacks && !context_window && asked) {
        r->fallbacks = asked->fallbacks; /* the group is done: its fallbacks */
        r->next_fallback = 0;
    }
    while (rc != 0 && r->fallbacks && r->fallbacks[r->next_fallback]) {
        const struct gw_model_cfg *fm = gw_config_model(r->cfg, r->fallbacks[r->next_fallback++]);
        struct miss miss;
        if (fm && retarget(r, fm, 0, now, &miss) == 0) {
            r->failed = 0;
            r->group_attempts = 1;
            rc = 0;
            fallback = 1;
        }
    }
    if (rc != 0)
        return -1; /* the done hook records the last attempt with the answer */
    gw_retry_count(why, fallback);
    if (rm) { /* the failed attempt: one finish for its one start */
        struct gw_deployment *d = rm->live[cur];
        gw_deployment_finish(d, &m->breaker,
                             context_window || r->key_rested ? GW_OUTCOME_NEUTRAL
                                                             : GW_OUTCOME_FAILURE,
                             0, (uintptr_t)r, now);
    }
    r->key_rested = 0; /* it was the failed attempt's */
    r->retry_pending = 1;
    return 0;
}

void gw_route_retry_started(struct gw_request *r)
{
    r->retry_pending = 0;
    use_key(r, rstate(r), NULL);
}

/* The x-gw-attempts header says 0 when the gateway answered itself after
 * routing (a budget refusal, a provider that cannot serve the endpoint). */
static void no_attempt(struct gw_request *r)
{
    for (struct gw_header *h = r->headers; h; h = h->next)
        if (strcmp(h->name, "x-gw-attempts") == 0)
            h->value = "0";
}

/* A success: r's prefix is warm where it was served, for as long as the
 * provider keeps prompts cached. */
static void remember_prefix(struct gw_request *r, const struct route_model *rm,
                            struct gw_deployment *d, uintptr_t key, long long now)
{
    const struct route_state *st = rstate(r);
    const struct gw_model_cfg *asked = gw_config_model(r->cfg, r->model_name);
    if (!r->affinity_fp || !st || !st->affinity || !rm || r->provider->prompt_cache_ttl_s <= 0 ||
        !asked || asked->index != r->model->index)
        return; /* a fallback model's deployment is no target for the model asked */
    gw_affinity_record(st->affinity, r->affinity_fp, (uintptr_t)d, key,
                       now + (long long)r->provider->prompt_cache_ttl_s * 1000000);
}

static void done(struct gw_request *r)
{
    if (r->api == GW_API_COUNT_TOKENS || !r->deployment)
        return;
    int streaming;
    pthread_mutex_lock(&r->mu);
    streaming = r->streaming;
    pthread_mutex_unlock(&r->mu);
    long long now = gw_now_us();
    /* made no call: the gateway refused after routing (a budget...) */
    int called = r->retry_pending ? 0 : streaming || r->t_up_start_us || r->status < 400;
    enum gw_outcome o =
        called ? gw_deployment_outcome(r->status, r->error, streaming) : GW_OUTCOME_NONE;
    if (o == GW_OUTCOME_FAILURE && r->key_rested)
        o = GW_OUTCOME_NEUTRAL; /* the key rests; the deployment is not at fault */
    uintptr_t key = (uintptr_t)r->pool_key;
    end_key(r, o == GW_OUTCOME_SUCCESS ? r->prompt_tokens + r->completion_tokens : 0, called);
    const struct route_model *rm = route_model(r, r->model);
    if (!rm)
        return;
    struct gw_deployment *d = rm->live[r->deployment - r->model->deployments];
    unhold(r, d, o == GW_OUTCOME_SUCCESS ? r->prompt_tokens + r->completion_tokens : 0, called);
    if (r->retry_pending) { /* chosen for a retry that was never made */
        gw_deployment_finish(d, &r->model->breaker, GW_OUTCOME_NONE, 0, (uintptr_t)r, now);
        return;
    }
    long long ttfb = r->t_up_start_us && r->t_up_first_us > r->t_up_start_us
                         ? r->t_up_first_us - r->t_up_start_us
                         : 0;
    if (!called)
        no_attempt(r);
    if (o == GW_OUTCOME_SUCCESS)
        remember_prefix(r, rm, d, key, now);
    gw_deployment_finish(d, &r->model->breaker, o, ttfb, (uintptr_t)r, now);
}

const struct gw_stage gw_stage_route = {
    .name = "route",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_COUNT_TOKENS | GW_API_EMBEDDINGS,
    .run = run,
    .setup = setup,
    .teardown = teardown,
    .done = done,
};

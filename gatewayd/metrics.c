/* Metrics: fixed arrays of atomic counters (no label maps to allocate or
 * lock), rendered on demand. Status codes are counted for the codes the
 * gateway gives, with "other" for the rest. Every request that gets a usage
 * row (chat, messages and embeddings alike) is counted once, when its row is
 * made; the usage table has the split by endpoint. Per-deployment series
 * (in flight, breaker state, time to first byte, requests, failures) are
 * read from the deployments' live state (deployments.h), for the
 * deployments of the current config. */
#include "metrics.h"

#include <stdatomic.h>
#include <string.h>

#include "budget.h"
#include "cache.h"
#include "affinity.h"
#include "deployments.h"
#include "firewall.h"
#include "pii.h"
#include "keypool.h"
#include "retry.h"
#include "request.h"
#include "runtime.h"
#include "upstream.h"
#include "writer.h"

static const int statuses[] = {200, 400, 401, 403, 404, 405, 413, 429, 500, 502, 503, 504};
#define N_STATUS (sizeof statuses / sizeof *statuses)
static const double overhead_buckets_us[] = {50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define N_BUCKETS (sizeof overhead_buckets_us / sizeof *overhead_buckets_us)
static const char *const rl_whats[] = {"key", "team"};
static const char *const rl_limits[] = {"rpm", "tpm", "tpd", "concurrent"};

static struct {
    atomic_llong requests[2][N_STATUS + 1]; /* [stream][status index, other] */
    atomic_llong client_gone;
    atomic_llong prompt_tokens, completion_tokens, cached_tokens;
    atomic_llong cost_nano;
    atomic_llong overhead[N_BUCKETS + 1]; /* cumulative at render time */
    atomic_llong overhead_sum_us, overhead_count;
    atomic_llong rate_limited[2][4];
    atomic_llong budget_exceeded[2];
} M;

static int index_of(const char *const *list, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

void gw_metrics_request_done(const struct gw_request *r, double cost_usd)
{
    size_t si = N_STATUS;
    for (size_t i = 0; i < N_STATUS; i++)
        if (statuses[i] == r->status)
            si = i;
    atomic_fetch_add_explicit(&M.requests[r->stream ? 1 : 0][si], 1, memory_order_relaxed);
    if (r->client_gone)
        atomic_fetch_add_explicit(&M.client_gone, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.prompt_tokens, r->prompt_tokens, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.completion_tokens, r->completion_tokens, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.cached_tokens, r->cached_tokens, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.cost_nano, (long long)(cost_usd * 1e9 + 0.5),
                              memory_order_relaxed);
    size_t b = 0;
    while (b < N_BUCKETS && (double)r->overhead_us > overhead_buckets_us[b])
        b++;
    atomic_fetch_add_explicit(&M.overhead[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.overhead_sum_us, r->overhead_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.overhead_count, 1, memory_order_relaxed);
}

void gw_metrics_rate_limited(const char *what, const char *limit)
{
    int w = index_of(rl_whats, 2, what), l = index_of(rl_limits, 4, limit);
    if (w >= 0 && l >= 0)
        atomic_fetch_add_explicit(&M.rate_limited[w][l], 1, memory_order_relaxed);
}

void gw_metrics_budget_exceeded(const char *what)
{
    int w = index_of(rl_whats, 2, what);
    if (w >= 0)
        atomic_fetch_add_explicit(&M.budget_exceeded[w], 1, memory_order_relaxed);
}

static void help(struct gw_buf *o, const char *name, const char *type, const char *text)
{
    gw_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* A label value, escaped as the exposition format wants (\\, \", \n). */
static void label_value(struct gw_buf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            gw_buf_printf(o, "\\%c", *s);
        else if (*s == '\n')
            gw_buf_puts(o, "\\n");
        else
            gw_buf_append(o, s, 1);
    }
}

/* One family of per-deployment series: which value each sample shows. */
enum dep_series {
    DEP_IN_FLIGHT,
    DEP_STATE,
    DEP_TTFB,
    DEP_REQUESTS,
    DEP_FAILURES,
    DEP_OPENED,
    DEP_LIMITED,
};

struct dep_render {
    struct gw_buf *o;
    const char *name;
    enum dep_series what;
    long long now_us;
};

static void dep_sample(const struct gw_model_cfg *m, const struct gw_deployment_cfg *dc,
                       struct gw_deployment *d, void *arg)
{
    struct dep_render *dr = arg;
    long long v = 0;
    if (d) {
        switch (dr->what) {
        case DEP_IN_FLIGHT:
            v = atomic_load(&d->in_flight);
            break;
        case DEP_STATE:
            v = gw_breaker_view(&d->breaker, dr->now_us, NULL);
            break;
        case DEP_TTFB:
            v = atomic_load(&d->ttfb_ewma_us);
            if (v == 0)
                return; /* no sample yet: no value */
            break;
        case DEP_REQUESTS:
            v = atomic_load(&d->requests);
            break;
        case DEP_FAILURES:
            v = atomic_load(&d->failures);
            break;
        case DEP_OPENED:
            v = atomic_load(&d->breaker.opened_total);
            break;
        case DEP_LIMITED:
            v = atomic_load(&d->limited_total);
            break;
        }
    } else if (dr->what == DEP_TTFB) {
        return;
    }
    gw_buf_printf(dr->o, "%s{model=\"", dr->name);
    label_value(dr->o, m->name);
    gw_buf_puts(dr->o, "\",provider=\"");
    label_value(dr->o, dc->provider_name);
    gw_buf_puts(dr->o, "\",upstream_model=\"");
    label_value(dr->o, dc->model);
    if (dr->what == DEP_TTFB)
        gw_buf_printf(dr->o, "\"} %.6f\n", (double)v / 1e6);
    else
        gw_buf_printf(dr->o, "\"} %lld\n", v);
}

static void render_deployments(struct gw_buf *o)
{
    static const struct {
        const char *name, *type, *help;
        enum dep_series what;
    } families[] = {
        {"gw_deployment_in_flight", "gauge", "Requests in flight to a deployment.", DEP_IN_FLIGHT},
        {"gw_deployment_breaker_state", "gauge",
         "Circuit breaker of a deployment: 0 closed, 1 open, 2 half-open.", DEP_STATE},
        {"gw_deployment_ttfb_seconds", "gauge",
         "Moving average of a deployment's time to first byte (successes).", DEP_TTFB},
        {"gw_deployment_requests_total", "counter", "Requests routed to a deployment (ended).",
         DEP_REQUESTS},
        {"gw_deployment_failures_total", "counter",
         "Requests to a deployment that failed upstream (5xx, 429, timeout, unreachable).",
         DEP_FAILURES},
        {"gw_deployment_breaker_opened_total", "counter",
         "Times a deployment's circuit breaker opened.", DEP_OPENED},
        {"gw_deployment_limited_total", "counter",
         "Times a request passed a deployment over because it was at its own rpm, tpm or "
         "max_in_flight.",
         DEP_LIMITED},
    };
    struct gw_cfg_ref *ref = gw_runtime_config_acquire();
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        help(o, families[f].name, families[f].type, families[f].help);
        struct dep_render dr = {o, families[f].name, families[f].what, gw_now_us()};
        gw_deployments_each(ref->cfg, dep_sample, &dr);
    }
    gw_runtime_config_release(ref);
}

/* ---- routing: provider keys, affinity, retries (keypool.h, affinity.h,
 * retry.h) ---------------------------------------------------------------- */

enum key_series { KEY_REQUESTS, KEY_COOLDOWNS, KEY_COOLING, KEY_IN_FLIGHT };

struct key_render {
    struct gw_buf *o;
    const char *name;
    enum key_series what;
    long long now_us;
};

static void key_sample(const struct gw_provider_cfg *p, const struct gw_api_key_cfg *kc,
                       struct gw_pool_key *k, void *arg)
{
    struct key_render *kr = arg;
    long long v = 0;
    if (k) {
        switch (kr->what) {
        case KEY_REQUESTS:
            v = atomic_load(&k->requests);
            break;
        case KEY_COOLDOWNS:
            v = atomic_load(&k->cooldowns);
            break;
        case KEY_COOLING:
            v = gw_pool_key_resting(k, kr->now_us);
            break;
        case KEY_IN_FLIGHT:
            v = atomic_load(&k->in_flight);
            break;
        }
    }
    gw_buf_printf(kr->o, "%s{provider=\"", kr->name);
    label_value(kr->o, p->name);
    gw_buf_puts(kr->o, "\",key=\"");
    label_value(kr->o, kc->label);
    gw_buf_printf(kr->o, "\"} %lld\n", v);
}

static void render_routing(struct gw_buf *o)
{
    static const struct {
        const char *name, *type, *help;
        enum key_series what;
    } families[] = {
        {"gw_provider_key_requests_total", "counter", "Upstream calls made with a provider key.",
         KEY_REQUESTS},
        {"gw_provider_key_cooldowns_total", "counter",
         "Times a provider key of a pool was put to rest by a 429.", KEY_COOLDOWNS},
        {"gw_provider_key_cooling", "gauge", "1 while a provider key rests after a 429.",
         KEY_COOLING},
        {"gw_provider_key_in_flight", "gauge", "Upstream calls under way with a provider key.",
         KEY_IN_FLIGHT},
    };
    struct gw_cfg_ref *ref = gw_runtime_config_acquire();
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        help(o, families[f].name, families[f].type, families[f].help);
        struct key_render kr = {o, families[f].name, families[f].what, gw_now_us()};
        gw_keypool_each(ref->cfg, key_sample, &kr);
    }
    gw_runtime_config_release(ref);
    long long lookups, hits;
    gw_affinity_totals(&lookups, &hits);
    help(o, "gw_affinity_lookups_total", "counter",
         "Requests whose prompt prefix was looked up for prefix-cache affinity.");
    gw_buf_printf(o, "gw_affinity_lookups_total %lld\n", lookups);
    help(o, "gw_affinity_hits_total", "counter",
         "Lookups that sent the request where its prefix was warm.");
    gw_buf_printf(o, "gw_affinity_hits_total %lld\n", hits);
    long capacity = 0, entries = gw_affinity_current_entries(gw_now_us(), &capacity);
    help(o, "gw_affinity_entries", "gauge", "Warm prompt prefixes remembered.");
    gw_buf_printf(o, "gw_affinity_entries %ld\n", entries);
    help(o, "gw_retries_total", "counter",
         "Upstream calls tried again after a failure, by the failure.");
    for (int w = 0; w < GW_RETRY_REASONS; w++)
        gw_buf_printf(o, "gw_retries_total{reason=\"%s\"} %lld\n",
                      gw_retry_reason_name((enum gw_retry_reason)w),
                      gw_retry_total((enum gw_retry_reason)w));
    help(o, "gw_fallbacks_total", "counter",
         "Retries that went to a fallback model (fallbacks or context_window_fallbacks).");
    gw_buf_printf(o, "gw_fallbacks_total %lld\n", gw_retry_fallbacks());
}

/* ---- PII scrubbing and the output guard (stages/pii.c, stages/outguard.c)
 * ------------------------------------------------------------------------- */

static atomic_llong pii_replaced[GW_PII_N_TYPES], output_blocks;

void gw_metrics_pii_replaced(int type, long long n)
{
    if (type >= 0 && type < GW_PII_N_TYPES && n > 0)
        atomic_fetch_add_explicit(&pii_replaced[type], n, memory_order_relaxed);
}

void gw_metrics_output_blocked(void)
{
    atomic_fetch_add_explicit(&output_blocks, 1, memory_order_relaxed);
}

static void render_safety(struct gw_buf *o)
{
    help(o, "gw_pii_replacements_total", "counter",
         "Values replaced by a placeholder before the upstream call, by entity.");
    for (int t = 0; t < GW_PII_N_TYPES; t++)
        gw_buf_printf(o, "gw_pii_replacements_total{entity=\"%s\"} %lld\n",
                      gw_pii_type_name((enum gw_pii_type)t), atomic_load(&pii_replaced[t]));
    help(o, "gw_output_guard_blocks_total", "counter",
         "Answers the output guard stopped (a blocked pattern in the text).");
    gw_buf_printf(o, "gw_output_guard_blocks_total %lld\n", atomic_load(&output_blocks));
}

/* The response cache (cache.h): lookups by result, what it holds per tier,
 * stores, evictions, SQLite reads, what it saved. */
static void render_cache(struct gw_buf *o)
{
    struct gw_cache_stats cs;
    gw_cache_stats(&cs);
    help(o, "gw_cache_lookups_total", "counter",
         "Cache lookups by result (waited: joined an identical request in flight).");
    gw_buf_printf(o, "gw_cache_lookups_total{result=\"hit-exact\"} %lld\n", cs.hits_exact);
    gw_buf_printf(o, "gw_cache_lookups_total{result=\"hit-semantic\"} %lld\n", cs.hits_semantic);
    gw_buf_printf(o, "gw_cache_lookups_total{result=\"miss\"} %lld\n", cs.misses);
    gw_buf_printf(o, "gw_cache_lookups_total{result=\"waited\"} %lld\n", cs.waits);
    help(o, "gw_cache_semantic_rejected_total", "counter",
         "Semantic matches above the threshold that failed the verification step.");
    gw_buf_printf(o, "gw_cache_semantic_rejected_total %lld\n", cs.semantic_rejected);
    help(o, "gw_cache_semantic_vectors", "gauge", "Question vectors in the semantic index.");
    gw_buf_printf(o, "gw_cache_semantic_vectors %lld\n", cs.semantic_entries);
    help(o, "gw_cache_embed_errors_total", "counter",
         "Provider embeddings of the semantic cache that failed (the request went on as a miss).");
    gw_buf_printf(o, "gw_cache_embed_errors_total %lld\n", cs.embed_errors);
    help(o, "gw_cache_entries", "gauge", "Answers held by the cache, per tier.");
    gw_buf_printf(o, "gw_cache_entries{tier=\"hot\"} %lld\n", cs.hot_entries);
    gw_buf_printf(o, "gw_cache_entries{tier=\"db\"} %lld\n", cs.db_entries);
    help(o, "gw_cache_bytes", "gauge", "Bytes the cache holds, per tier.");
    gw_buf_printf(o, "gw_cache_bytes{tier=\"hot\"} %lld\n", cs.hot_bytes);
    gw_buf_printf(o, "gw_cache_bytes{tier=\"db\"} %lld\n", cs.db_bytes);
    help(o, "gw_cache_evictions_total", "counter",
         "Entries evicted to stay within the tier's bounds (expired ones not included).");
    gw_buf_printf(o, "gw_cache_evictions_total{tier=\"hot\"} %lld\n", cs.evictions_hot);
    gw_buf_printf(o, "gw_cache_evictions_total{tier=\"db\"} %lld\n", cs.evictions_db);
    help(o, "gw_cache_expired_total", "counter", "Entries dropped at their expiry, per tier.");
    gw_buf_printf(o, "gw_cache_expired_total{tier=\"hot\"} %lld\n", cs.expired_hot);
    gw_buf_printf(o, "gw_cache_expired_total{tier=\"db\"} %lld\n", cs.expired_db);
    help(o, "gw_cache_stores_total", "counter", "Answers stored in the cache.");
    gw_buf_printf(o, "gw_cache_stores_total %lld\n", cs.stores);
    help(o, "gw_cache_db_reads_total", "counter", "Lookups that read SQLite (hot-tier misses).");
    gw_buf_printf(o, "gw_cache_db_reads_total %lld\n", cs.db_reads);
    help(o, "gw_cache_saved_tokens_total", "counter",
         "Tokens the answers served from the cache cost when they were made.");
    gw_buf_printf(o, "gw_cache_saved_tokens_total %lld\n", cs.tokens_saved);
    help(o, "gw_cache_saved_usd_total", "counter",
         "What the answers served from the cache cost when they were made.");
    gw_buf_printf(o, "gw_cache_saved_usd_total %.9f\n", cs.saved_usd);
}

void gw_metrics_render(struct gw_buf *o)
{
    help(o, "gw_requests_total", "counter",
         "Requests finished (chat, messages, embeddings), by status and streaming.");
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i <= N_STATUS; i++) {
            long long v = atomic_load(&M.requests[s][i]);
            if (i < N_STATUS)
                gw_buf_printf(o, "gw_requests_total{status=\"%d\",stream=\"%s\"} %lld\n",
                              statuses[i], s ? "true" : "false", v);
            else
                gw_buf_printf(o, "gw_requests_total{status=\"other\",stream=\"%s\"} %lld\n",
                              s ? "true" : "false", v);
        }
    help(o, "gw_client_gone_total", "counter", "Requests whose client left before the end.");
    gw_buf_printf(o, "gw_client_gone_total %lld\n", atomic_load(&M.client_gone));
    help(o, "gw_tokens_total", "counter", "Tokens counted for usage (chat and embeddings).");
    gw_buf_printf(o, "gw_tokens_total{type=\"prompt\"} %lld\n", atomic_load(&M.prompt_tokens));
    gw_buf_printf(o, "gw_tokens_total{type=\"completion\"} %lld\n",
                  atomic_load(&M.completion_tokens));
    gw_buf_printf(o, "gw_tokens_total{type=\"cached\"} %lld\n", atomic_load(&M.cached_tokens));
    help(o, "gw_cost_usd_total", "counter", "Cost of the requests at the configured prices.");
    gw_buf_printf(o, "gw_cost_usd_total %.9f\n", (double)atomic_load(&M.cost_nano) / 1e9);
    help(o, "gw_overhead_seconds", "histogram", "Time the gateway itself spent per request.");
    long long cum = 0;
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cum += atomic_load(&M.overhead[b]);
        gw_buf_printf(o, "gw_overhead_seconds_bucket{le=\"%g\"} %lld\n",
                      overhead_buckets_us[b] / 1e6, cum);
    }
    cum += atomic_load(&M.overhead[N_BUCKETS]);
    gw_buf_printf(o, "gw_overhead_seconds_bucket{le=\"+Inf\"} %lld\n", cum);
    gw_buf_printf(o, "gw_overhead_seconds_sum %.6f\n",
                  (double)atomic_load(&M.overhead_sum_us) / 1e6);
    gw_buf_printf(o, "gw_overhead_seconds_count %lld\n", atomic_load(&M.overhead_count));
    help(o, "gw_rate_limited_total", "counter", "Requests refused by a rate limit.");
    for (int w = 0; w < 2; w++)
        for (int l = 0; l < 4; l++)
            gw_buf_printf(o, "gw_rate_limited_total{subject=\"%s\",limit=\"%s\"} %lld\n",
                          rl_whats[w], rl_limits[l], atomic_load(&M.rate_limited[w][l]));
    help(o, "gw_budget_exceeded_total", "counter", "Requests refused by a budget.");
    for (int w = 0; w < 2; w++)
        gw_buf_printf(o, "gw_budget_exceeded_total{subject=\"%s\"} %lld\n", rl_whats[w],
                      atomic_load(&M.budget_exceeded[w]));
    help(o, "gw_budget_soft_alerts_total", "counter", "Budgets that crossed the soft threshold.");
    gw_buf_printf(o, "gw_budget_soft_alerts_total %ld\n", gw_budget_soft_alerts());
    render_cache(o);
    struct gw_writer_stats ws;
    gw_writer_stats(&ws);
    help(o, "gw_in_flight", "gauge", "Requests being served.");
    gw_buf_printf(o, "gw_in_flight %ld\n", gw_request_in_flight());
    help(o, "gw_upstream_active", "gauge", "Provider transfers running.");
    gw_buf_printf(o, "gw_upstream_active %ld\n", gw_upstream_active());
    help(o, "gw_usage_ring_queued", "gauge", "Usage rows waiting for the writer.");
    gw_buf_printf(o, "gw_usage_ring_queued %lld\n", ws.queued);
    help(o, "gw_usage_rows_written_total", "counter", "Usage rows committed.");
    gw_buf_printf(o, "gw_usage_rows_written_total %lld\n", ws.written);
    help(o, "gw_usage_ring_stalls_total", "counter", "Times a full ring made a request wait.");
    gw_buf_printf(o, "gw_usage_ring_stalls_total %lld\n", ws.stalls);
    help(o, "gw_usage_write_errors_total", "counter", "Failed usage writes (logged).");
    gw_buf_printf(o, "gw_usage_write_errors_total %lld\n", ws.errors);
    render_deployments(o);
    render_routing(o);
    render_safety(o);
    gw_firewall_render_metrics(o); /* stages/firewall.c */
}

/* The RAG-cache query API's own pieces (query.h): its error shape, the
 * chat body a query becomes, the answer rewritten from the chat.completion
 * the pipeline produced, and the API's counters.
 *
 * DESIGN: the counters are updated by whichever HTTP thread hands a query's
 * response over, with one mutex around a handful of sums (a query's
 * response is handed over once), and read by GET /api/v1/cache/stats. */
#include "query.h"

#include <ctype.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "request.h"
#include "runtime.h"

/* ---- counters ------------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    long long total, exact, semantic, tokens_saved;
    double sum_ms, sum_hit_ms, sum_miss_ms;
} stats = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void count(const char *hit, double ms, long long saved)
{
    pthread_mutex_lock(&stats.mu);
    stats.total++;
    stats.sum_ms += ms;
    if (hit) {
        if (strcmp(hit, "semantic") == 0)
            stats.semantic++;
        else
            stats.exact++;
        stats.sum_hit_ms += ms;
        stats.tokens_saved += saved;
    } else {
        stats.sum_miss_ms += ms;
    }
    pthread_mutex_unlock(&stats.mu);
}

static double avg(double sum, long long n)
{
    return n > 0 ? sum / (double)n : 0;
}

void gw_query_stats_json(struct gw_buf *out)
{
    pthread_mutex_lock(&stats.mu);
    long long total = stats.total, hits = stats.exact + stats.semantic;
    long long misses = total - hits;
    gw_buf_printf(out,
                  "{\"total_queries\":%lld,\"cache_hits\":%lld,\"cache_misses\":%lld,"
                  "\"hit_rate\":%.4f,\"exact_hits\":%lld,\"semantic_hits\":%lld,"
                  "\"avg_latency_ms\":%.3f,\"avg_cache_latency_ms\":%.3f,"
                  "\"avg_llm_latency_ms\":%.3f,\"tokens_saved\":%lld,",
                  total, hits, misses, total > 0 ? (double)hits / (double)total : 0.0, stats.exact,
                  stats.semantic, avg(stats.sum_ms, total), avg(stats.sum_hit_ms, hits),
                  avg(stats.sum_miss_ms, misses), stats.tokens_saved);
    pthread_mutex_unlock(&stats.mu);
    long long up = (gw_wall_ms() - gw_runtime.started_ms) / 1000;
    gw_buf_printf(out, "\"uptime_seconds\":%lld}", up > 0 ? up : 0);
}

/* ---- errors ------------------------------------------------------------------ */

int gw_query_front(const struct gw_request *r)
{
    return r->query_api || r->api == GW_API_QUERY || r->api == GW_API_QUERY_CACHE;
}

void gw_query_timestamp(struct gw_buf *out, long long ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char t[32];
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    gw_buf_printf(out, "\"%s.%03lldZ\"", t, ms % 1000);
}

static int is_api_code(const char *code)
{
    if (!code || !*code)
        return 0;
    for (const char *p = code; *p; p++)
        if (!isupper((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

/* The API's code for a shared stage's error (status and OpenAI code). */
static const char *map_code(int *status, const char *type, const char *code)
{
    const char *c = code ? code : "";
    if (strncmp(c, "upstream", 8) == 0 || (type && strcmp(type, "upstream_error") == 0)) {
        if (strcmp(c, "client_gone") != 0)
            *status = 502; /* whatever the provider said, for this API it is a 502 */
        return "LLM_ERROR";
    }
    if (strcmp(c, "budget_exceeded") == 0)
        return "BUDGET_EXCEEDED";
    if (strcmp(c, "model_not_found") == 0)
        return "MODEL_NOT_FOUND";
    if (strcmp(c, "request_too_large") == 0)
        return "REQUEST_TOO_LARGE";
    if (strcmp(c, "method_not_allowed") == 0)
        return "METHOD_NOT_ALLOWED";
    if (strcmp(c, "context_length_exceeded") == 0)
        return "INVALID_QUERY";
    switch (*status) {
    case 401:
        return "UNAUTHORIZED";
    case 403:
        return "FORBIDDEN";
    case 404:
        return "NOT_FOUND";
    case 429:
        return "RATE_LIMITED";
    case 502:
    case 504:
        return "LLM_ERROR";
    case 503:
        return "SERVICE_UNAVAILABLE";
    default:
        return *status >= 500 ? "INTERNAL_ERROR" : "INVALID_REQUEST";
    }
}

void gw_query_error(struct gw_request *r, int status, const char *type, const char *code,
                    const char *msg)
{
    const char *api_code = is_api_code(code) ? code : map_code(&status, type, code);
    r->status = status;
    r->content_type = "application/json";
    gw_buf_reset(&r->out);
    gw_buf_puts(&r->out, "{\"detail\":");
    gw_buf_json_str(&r->out, msg);
    gw_buf_puts(&r->out, ",\"error_code\":");
    gw_buf_json_str(&r->out, api_code);
    gw_buf_puts(&r->out, ",\"timestamp\":");
    gw_query_timestamp(&r->out, gw_wall_ms());
    gw_buf_puts(&r->out, "}\n");
    /* the usage row keeps the stage's own code, which says more */
    r->error = gw_arena_strdup(r->arena, code ? code : api_code);
}

/* ---- the request ------------------------------------------------------------- */

cJSON *gw_query_chat_json(const char *query, const char *model, long long max_tokens,
                          double temperature)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *msgs = j ? cJSON_AddArrayToObject(j, "messages") : NULL;
    cJSON *m = cJSON_CreateObject();
    if (!msgs || !m || !cJSON_AddStringToObject(j, "model", model) ||
        !cJSON_AddStringToObject(m, "role", "user") ||
        !cJSON_AddStringToObject(m, "content", query))
        goto fail;
    cJSON_AddItemToArray(msgs, m);
    m = NULL;
    if (max_tokens >= 0 && !cJSON_AddNumberToObject(j, "max_tokens", (double)max_tokens))
        goto fail;
    if (temperature >= 0 && !cJSON_AddNumberToObject(j, "temperature", temperature))
        goto fail;
    return j;
fail:
    cJSON_Delete(m);
    cJSON_Delete(j);
    return NULL;
}

const char *gw_query_model(struct gw_request *r, const char *provider, const char *model)
{
    const struct gw_config *cfg = r->cfg;
    if (!provider) {
        if (model)
            return gw_arena_strdup(r->arena, model);
        return cfg->n_models ? gw_arena_strdup(r->arena, cfg->models[0].name) : NULL;
    }
    int idx = gw_config_provider_index(cfg, provider);
    for (size_t i = 0; !model && idx >= 0 && i < cfg->n_models; i++)
        for (size_t d = 0; !model && d < cfg->models[i].n_deployments; d++)
            if (cfg->models[i].deployments[d].provider == idx)
                model = cfg->models[i].deployments[d].model;
    if (!model)
        return NULL;
    size_t n = strlen(provider) + strlen(model) + 2;
    char *s = gw_arena_alloc(r->arena, n);
    if (s)
        snprintf(s, n, "%s/%s", provider, model);
    return s;
}

/* ---- the answer -------------------------------------------------------------- */

static const char *header_of(const struct gw_request *r, const char *name)
{
    for (const struct gw_header *h = r->headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

/* A non-200 answer that is not in the API's shape yet (a body an adapter or
 * the output guard wrote in OpenAI's): rewritten. */
static void reshape_error(struct gw_request *r)
{
    cJSON *j = cJSON_ParseWithLength(r->out.data ? r->out.data : "", r->out.len);
    if (cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "error_code")) {
        cJSON_Delete(j);
        return;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    char msg[1024];
    snprintf(msg, sizeof msg, "%s",
             cJSON_IsString(m) ? m->valuestring : "The request could not be answered.");
    char code[64], type[64];
    snprintf(code, sizeof code, "%s", cJSON_IsString(c) ? c->valuestring : "");
    snprintf(type, sizeof type, "%s", cJSON_IsString(t) ? t->valuestring : "");
    cJSON_Delete(j);
    /* bodies not made by gw_error_respond are the provider's own errors,
     * passed on (retry.c), or the output guard's */
    if (strcmp(code, "output_blocked") != 0)
        snprintf(type, sizeof type, "upstream_error");
    gw_query_error(r, r->status, type, *code ? code : NULL, msg);
}

/* The 200 answer: r->out's chat.completion as the query API's JSON. */
static int render(struct gw_request *r, struct gw_buf *b, double ms)
{
    cJSON *req = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
    cJSON *ans = cJSON_ParseWithLength(r->out.data ? r->out.data : "", r->out.len);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(req, "query");
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ans, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(ans, "model");
    const char *provider = header_of(r, "x-gw-provider");
    const char *dep = header_of(r, "x-gw-deployment"); /* "provider/upstream-model" */
    const char *model = NULL;
    if (dep && provider && strncmp(dep, provider, strlen(provider)) == 0 &&
        dep[strlen(provider)] == '/')
        model = dep + strlen(provider) + 1;
    if (!model)
        model = cJSON_IsString(am) ? am->valuestring : r->model_name;
    int rc = gw_buf_puts(b, "{\"query\":");
    rc |= gw_buf_json_str(b, cJSON_IsString(q) ? q->valuestring : "");
    rc |= gw_buf_puts(b, ",\"response\":");
    rc |= gw_buf_json_str(b, cJSON_IsString(text) ? text->valuestring : "");
    rc |= gw_buf_puts(b, ",\"provider\":");
    rc |= provider ? gw_buf_json_str(b, provider) : gw_buf_puts(b, "null");
    rc |= gw_buf_puts(b, ",\"model\":");
    rc |= model ? gw_buf_json_str(b, model) : gw_buf_puts(b, "null");
    rc |= gw_buf_printf(b, ",\"cache_hit\":%s,\"cache_type\":", r->cache_hit ? "true" : "false");
    rc |= r->cache_hit ? gw_buf_json_str(b, r->cache_hit) : gw_buf_puts(b, "null");
    rc |= gw_buf_printf(b, ",\"latency_ms\":%.3f,\"tokens_used\":%lld,\"timestamp\":", ms,
                        r->prompt_tokens + r->completion_tokens);
    gw_query_timestamp(b, gw_wall_ms());
    rc |= gw_buf_puts(b, "}\n");
    cJSON_Delete(req);
    cJSON_Delete(ans);
    return rc ? -1 : 0;
}

struct MHD_Response *gw_query_response(struct gw_request *r)
{
    struct gw_buf b = {0};
    double ms = (double)(gw_now_us() - r->t_start_us) / 1000.0;
    if (r->status == 200 && render(r, &b, ms) == 0) {
        count(r->cache_hit, ms, r->cache_hit ? r->saved_tokens : 0);
        r->content_type = "application/json";
    } else {
        gw_buf_free(&b);
        if (r->status == 200)
            gw_query_error(r, 500, "server_error", "internal_error", "Out of memory.");
        else
            reshape_error(r);
        return MHD_create_response_from_buffer(r->out.len, r->out.data, MHD_RESPMEM_PERSISTENT);
    }
    /* the body lives in the arena, as long as the request (and r->out) */
    char *body = gw_arena_alloc(r->arena, b.len ? b.len : 1);
    if (body)
        memcpy(body, b.data, b.len);
    size_t n = b.len;
    gw_buf_free(&b);
    if (!body)
        return NULL;
    return MHD_create_response_from_buffer(n, body, MHD_RESPMEM_PERSISTENT);
}

/* The RAG-cache query API (docs/caching.md, "The RAG-cache query API"): a
 * one-field front door, POST /api/v1/query, for clients that do not speak
 * the OpenAI format, and the cache endpoints beside it (GET
 * /api/v1/cache/stats, GET /api/v1/cache/entry, DELETE /api/v1/cache).
 *
 * A query becomes a chat-completions request (stages/parse_query.c builds
 * r->json and sets r->api to GW_API_CHAT, r->query_api to 1), so it runs
 * every stage a chat request runs, the cache's tiers and single flight
 * included, and its answer is written as a chat.completion into r->out like
 * any other. Only at the end, when the response is handed to the HTTP
 * library, is that answer rewritten into the query API's JSON, in a buffer
 * of its own: r->out stays what the cache captures.
 *
 * Errors have the shape {detail, error_code, timestamp} on all four paths
 * (errors.c asks gw_query_front). */
#ifndef GW_QUERY_H
#define GW_QUERY_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "buf.h"

struct MHD_Response;
struct gw_request;

#define GW_QUERY_MAX_BYTES 32768 /* the longest query text accepted */

/* Whether r's errors take the query API's shape. */
int gw_query_front(const struct gw_request *r);

/* Sets r's status and body to {detail, error_code, timestamp}. code: one of
 * the API's codes (upper case) is used as it is; any other (the shared
 * stages' lower-case codes, type as a hint) is mapped to one (UNAUTHORIZED,
 * RATE_LIMITED, BUDGET_EXCEEDED, FORBIDDEN, NOT_FOUND, LLM_ERROR,
 * SERVICE_UNAVAILABLE, ...); an upstream failure becomes 502 LLM_ERROR. */
void gw_query_error(struct gw_request *r, int status, const char *type, const char *code,
                    const char *msg);

/* The chat-completions body a query is sent as: {model, messages: [{role:
 * user, content: query}], max_tokens?, temperature?} (max_tokens < 0,
 * temperature < 0: left out). The caller owns the tree (cJSON_Delete); NULL
 * when out of memory. */
cJSON *gw_query_chat_json(const char *query, const char *model, long long max_tokens,
                          double temperature);

/* The model name a query asks for: PROVIDER/MODEL when provider is given (a
 * model of NULL: the upstream model of the first configured deployment on
 * that provider), else model, else the first configured model. In r's
 * arena; NULL when there is none. */
const char *gw_query_model(struct gw_request *r, const char *provider, const char *model);

/* The response for a query that came through the pipeline (http.c calls it
 * when r->query_api): a 200 chat.completion in r->out rewritten as {query,
 * response, provider, model, cache_hit, cache_type, latency_ms,
 * tokens_used, timestamp} in r's arena, counted in the stats; any other
 * status as its error. NULL when out of memory. */
struct MHD_Response *gw_query_response(struct gw_request *r);

/* "2025-01-31T12:00:00.123Z" for unix milliseconds ms, appended to out. */
void gw_query_timestamp(struct gw_buf *out, long long ms);

/* Appends the counters of the query API since the process started:
 * {total_queries, cache_hits, cache_misses, hit_rate, exact_hits,
 * semantic_hits, avg_latency_ms, avg_cache_latency_ms, avg_llm_latency_ms,
 * tokens_saved, uptime_seconds}. */
void gw_query_stats_json(struct gw_buf *out);

#endif

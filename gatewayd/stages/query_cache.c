/* Stage query_cache: the cache endpoints of the RAG-cache query API
 * (query.h, docs/caching.md):
 *
 *   GET /api/v1/cache/stats          the query API's counters (any key)
 *   DELETE /api/v1/cache             every cached answer purged (admin keys)
 *   GET /api/v1/cache/entry?query=T[&model=M][&provider=P]
 *                                    the exact entry POST /api/v1/query with
 *                                    the same fields would be answered from
 *
 * The entry is found under the key the cache stage computes for that query:
 * the caller's partition (stages/cache.c's rule: "*" when cache.shared, else
 * the team, else the key), the model name and the canonical form of the chat
 * body gw_query_chat_json builds. Its hit count is read from the SQLite tier
 * on a read-only connection of the calling thread (0 while the store is
 * still on its way there). Errors in the API's shape (errors.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "pipeline.h"
#include "query.h"
#include "request.h"
#include "runtime.h"

/* The entry's hit count in SQLite (0: not there yet, or unreadable). */
static long long hits_of(const unsigned char key[GW_CACHE_KEY_LEN])
{
    sqlite3 *db = gw_runtime_reader();
    sqlite3_stmt *st = NULL;
    long long n = 0;
    if (db && sqlite3_prepare_v2(db, "SELECT hits FROM cache_entries WHERE key = ?", -1, &st,
                                 NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, key, GW_CACHE_KEY_LEN, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static void ok(struct gw_request *r)
{
    r->status = 200;
    r->content_type = "application/json";
}

static enum gw_stage_rc stats(struct gw_request *r)
{
    ok(r);
    gw_query_stats_json(&r->out);
    gw_buf_puts(&r->out, "\n");
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc purge(struct gw_request *r)
{
    if (!r->who.is_admin) {
        gw_error_respond(r, 403, "permission_error", "FORBIDDEN", NULL,
                         "Only an admin key may purge the cache.");
        return GW_STAGE_RESPOND;
    }
    struct gw_cache_filter all = {0};
    long long n = gw_cache_purge(&all);
    if (n < 0) {
        gw_error_respond(r, 500, "server_error", "CACHE_ERROR", NULL,
                         "The cache could not be purged; see the gateway's log.");
        return GW_STAGE_RESPOND;
    }
    ok(r);
    gw_buf_printf(&r->out, "{\"deleted\":%lld,\"timestamp\":", n);
    gw_query_timestamp(&r->out, gw_wall_ms());
    gw_buf_puts(&r->out, "}\n");
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc entry(struct gw_request *r)
{
    const char *q = gw_request_query(r, "query");
    const char *model = gw_request_query(r, "model"), *prov = gw_request_query(r, "provider");
    if (!q || !q[strspn(q, " \t\r\n")] || strlen(q) > GW_QUERY_MAX_BYTES) {
        gw_error_respond(r, 400, "invalid_request_error", "INVALID_QUERY", NULL,
                         "'query' must be a non-empty parameter of at most %d bytes.",
                         GW_QUERY_MAX_BYTES);
        return GW_STAGE_RESPOND;
    }
    if (prov && gw_config_provider_index(r->cfg, prov) < 0) {
        gw_error_respond(r, 400, "invalid_request_error", "PROVIDER_NOT_FOUND", NULL,
                         "No provider named '%.64s' is configured.", prov);
        return GW_STAGE_RESPOND;
    }
    const char *name =
        gw_query_model(r, prov && *prov ? prov : NULL, model && *model ? model : NULL);
    if (!name) {
        gw_error_respond(r, 503, "server_error", "SERVICE_UNAVAILABLE", NULL,
                         "No model is configured.");
        return GW_STAGE_RESPOND;
    }
    /* the same fields a query would send; max_tokens and temperature too */
    long long mt = -1;
    double te = -1;
    const char *v;
    if ((v = gw_request_query(r, "max_tokens")))
        mt = strtoll(v, NULL, 10);
    if ((v = gw_request_query(r, "temperature")))
        te = strtod(v, NULL);
    cJSON *j = gw_query_chat_json(q, name, mt, te);
    struct gw_buf canon = {0};
    if (!j || gw_cache_canonical(j, &canon) != 0) {
        cJSON_Delete(j);
        gw_buf_free(&canon);
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    cJSON_Delete(j);
    char partition[96];
    if (r->cfg->cache.shared)
        snprintf(partition, sizeof partition, "*");
    else if (r->who.team_id)
        snprintf(partition, sizeof partition, "team:%s", r->who.team_id);
    else
        snprintf(partition, sizeof partition, "key:%s", r->who.key_id ? r->who.key_id : "");
    unsigned char key[GW_CACHE_KEY_LEN];
    gw_cache_key(partition, name, NULL, canon.data ? canon.data : "", canon.len, key);
    gw_buf_free(&canon);
    const struct gw_cache_entry *e = NULL;
    long long now = gw_wall_ms();
    if (!r->cfg->cache.enabled ||
        gw_cache_find(&r->cfg->cache, key, now, 1, 0, NULL, &e) != GW_CACHE_HIT) {
        gw_error_respond(r, 404, "invalid_request_error", "NOT_FOUND", NULL,
                         "No cached answer for this query.");
        return GW_STAGE_RESPOND;
    }
    ok(r);
    struct gw_buf *b = &r->out;
    gw_buf_puts(b, "{\"query\":");
    gw_buf_json_str(b, q);
    gw_buf_puts(b, ",\"response\":");
    gw_buf_json_str(b, e->answer.content ? e->answer.content : "");
    gw_buf_puts(b, ",\"created_at\":");
    gw_query_timestamp(b, e->created_ms);
    long long ttl = (e->expires_ms - now) / 1000;
    gw_buf_printf(b, ",\"ttl\":%lld,\"hits\":%lld}\n", ttl > 0 ? ttl : 0, hits_of(key));
    gw_cache_entry_release(e);
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    if (strcmp(r->method, "DELETE") == 0)
        return purge(r);
    if (strcmp(r->path, "/api/v1/cache/stats") == 0)
        return stats(r);
    return entry(r);
}

const struct gw_stage gw_stage_query_cache = {
    .name = "query_cache",
    .apis = GW_API_QUERY_CACHE,
    .run = run,
};

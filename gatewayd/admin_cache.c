/* The admin commands of the response cache (docs/caching.md, "Operating the
 * cache with gwctl"; docs/admin-protocol.md): cache.stats, cache.list,
 * cache.show and cache.purge. Stats come from the store's counters
 * (cache.h); list and show read the SQLite tier on the session's read-only
 * connection; a purge goes through the store (both tiers, through the
 * writer thread) and answers once it is committed. A key is named by its id
 * or its name. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "buf.h"
#include "cache.h"

#define LIST_DEFAULT 50
#define LIST_MAX     1000

/* A non-negative integer argument: 1 and *out, 0 when absent, -1 (error set). */
static int int_arg(struct gw_admin_ctx *ctx, const cJSON *args, const char *name, long long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9e15 ||
        v->valuedouble != floor(v->valuedouble)) {
        gw_admin_fail(ctx, "bad_request", "\"%s\" must be a non-negative integer", name);
        return -1;
    }
    *out = (long long)v->valuedouble;
    return 1;
}

/* "key": a key id, or the name of a key (the newest of that name). 1 with
 * *id (owned by st, kept until it is finalised), 0 when absent, -1 (error
 * set). */
static int key_arg(struct gw_admin_ctx *ctx, const cJSON *args, sqlite3_stmt **st, const char **id)
{
    const char *k = NULL;
    int rc = gw_admin_arg_str(ctx, args, "key", &k);
    if (rc <= 0)
        return rc;
    if (sqlite3_prepare_v2(ctx->db,
                           "SELECT id FROM keys WHERE id = ?1 OR name = ?1 "
                           "ORDER BY id = ?1 DESC, created_at DESC LIMIT 1",
                           -1, st, NULL) != SQLITE_OK) {
        gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
        return -1;
    }
    sqlite3_bind_text(*st, 1, k, -1, SQLITE_STATIC);
    if (sqlite3_step(*st) != SQLITE_ROW) {
        gw_admin_fail(ctx, "not_found", "no key with id or name '%.64s'", k);
        return -1;
    }
    *id = (const char *)sqlite3_column_text(*st, 0);
    return 1;
}

static cJSON *parsed(struct gw_admin_ctx *ctx, struct gw_buf *b)
{
    cJSON *j = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    gw_buf_free(b);
    return j ? j : gw_admin_fail(ctx, "internal", "out of memory");
}

cJSON *gw_admin_cmd_cache_stats(struct gw_admin_ctx *ctx, const cJSON *args)
{
    (void)args;
    struct gw_cache_stats s;
    gw_cache_stats(&s);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return gw_admin_fail(ctx, "internal", "out of memory");
    const struct {
        const char *name;
        long long v;
    } n[] = {
        {"lookups", s.lookups},
        {"hits_exact", s.hits_exact},
        {"hits_semantic", s.hits_semantic},
        {"misses", s.misses},
        {"waits", s.waits},
        {"semantic_rejected", s.semantic_rejected},
        {"semantic_entries", s.semantic_entries},
        {"stores", s.stores},
        {"evictions_hot", s.evictions_hot},
        {"evictions_db", s.evictions_db},
        {"expired_hot", s.expired_hot},
        {"expired_db", s.expired_db},
        {"db_reads", s.db_reads},
        {"tokens_saved", s.tokens_saved},
        {"hot_entries", s.hot_entries},
        {"hot_bytes", s.hot_bytes},
        {"db_entries", s.db_entries},
        {"db_bytes", s.db_bytes},
    };
    for (size_t i = 0; i < sizeof n / sizeof *n; i++)
        cJSON_AddNumberToObject(o, n[i].name, (double)n[i].v);
    cJSON_AddNumberToObject(o, "saved_usd", s.saved_usd);
    cJSON_AddNumberToObject(
        o, "hit_rate",
        s.lookups > 0 ? (double)(s.hits_exact + s.hits_semantic) / (double)s.lookups : 0.0);
    return o;
}

cJSON *gw_admin_cmd_cache_list(struct gw_admin_ctx *ctx, const cJSON *args)
{
    struct gw_cache_filter f = {0};
    long long limit = LIST_DEFAULT;
    sqlite3_stmt *kst = NULL;
    cJSON *res = NULL;
    if (gw_admin_arg_str(ctx, args, "model", &f.model) < 0 ||
        key_arg(ctx, args, &kst, &f.key_id) < 0 || int_arg(ctx, args, "limit", &limit) < 0)
        goto out;
    if (limit < 1 || limit > LIST_MAX) {
        gw_admin_fail(ctx, "bad_request", "\"limit\" must be from 1 to %d", LIST_MAX);
        goto out;
    }
    struct gw_buf b = {0};
    if (gw_cache_list(ctx->db, &f, (int)limit, &b) < 0) {
        gw_buf_free(&b);
        gw_admin_fail(ctx, "internal", "cache entries unreadable: %s", sqlite3_errmsg(ctx->db));
        goto out;
    }
    res = parsed(ctx, &b);
out:
    sqlite3_finalize(kst);
    return res;
}

cJSON *gw_admin_cmd_cache_show(struct gw_admin_ctx *ctx, const cJSON *args)
{
    long long id = 0;
    int rc = int_arg(ctx, args, "id", &id);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        return gw_admin_fail(ctx, "bad_request", "\"id\" is required");
    struct gw_buf b = {0};
    int found = gw_cache_show(ctx->db, id, &b);
    if (found <= 0) {
        gw_buf_free(&b);
        if (found < 0)
            return gw_admin_fail(ctx, "internal", "cache entry unreadable: %s",
                                 sqlite3_errmsg(ctx->db));
        return gw_admin_fail(ctx, "not_found", "no cache entry %lld", id);
    }
    cJSON *e = parsed(ctx, &b);
    if (!e)
        return NULL;
    /* what an operator asks first: how old, how big */
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "created_at");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(e, "bytes");
    if (cJSON_IsNumber(c)) {
        double created_s = c->valuedouble > 1e11 ? c->valuedouble / 1000 : c->valuedouble;
        double age = (double)gw_wall_ms() / 1000 - created_s;
        cJSON_AddNumberToObject(e, "age_seconds", age > 0 ? floor(age) : 0);
    }
    if (cJSON_IsNumber(bytes))
        cJSON_AddNumberToObject(e, "size", bytes->valuedouble);
    return e;
}

cJSON *gw_admin_cmd_cache_purge(struct gw_admin_ctx *ctx, const cJSON *args)
{
    struct gw_cache_filter f = {0};
    long long older = 0;
    sqlite3_stmt *kst = NULL;
    cJSON *res = NULL;
    int have_older;
    if (gw_admin_arg_str(ctx, args, "model", &f.model) < 0 ||
        key_arg(ctx, args, &kst, &f.key_id) < 0 ||
        (have_older = int_arg(ctx, args, "older_than", &older)) < 0)
        goto out;
    int all = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(args, "all"));
    int some = f.model || f.key_id || have_older;
    if (!all && !some) {
        gw_admin_fail(ctx, "bad_request",
                      "say which entries: --model, --key, --older-than, or --all for every one");
        goto out;
    }
    if (all && some) {
        gw_admin_fail(ctx, "bad_request", "--all purges every entry: leave out the filters");
        goto out;
    }
    if (have_older) {
        if (older < 1) {
            gw_admin_fail(ctx, "bad_request", "\"older_than\" must be at least 1 second");
            goto out;
        }
        f.older_than_ms = older * 1000;
    }
    long long n = gw_cache_purge(&f);
    if (n < 0) {
        gw_admin_fail(ctx, "internal", "the purge failed; see the daemon's log");
        goto out;
    }
    res = cJSON_CreateObject();
    if (!res || !cJSON_AddNumberToObject(res, "deleted", (double)n)) {
        cJSON_Delete(res);
        res = gw_admin_fail(ctx, "internal", "out of memory");
    }
out:
    sqlite3_finalize(kst);
    return res;
}

/* The admin command cache.search (docs/admin-protocol.md, `gwctl cache
 * search`): the cached questions nearest to a text, with their similarity
 * to it and the verification step's verdict, as the semantic tier would
 * judge them. It answers "why did (or didn't) this hit?".
 *
 * Unlike a request's lookup it does not know the request's partition (the
 * system prompt and parameters), so it searches every live entry with a
 * local vector, optionally narrowed to a model and a key, by brute force
 * over SQLite on the admin session's read-only connection: a command run
 * by hand, not a request path. Each entry shows its partition so that an
 * operator sees whether a request could have matched it at all. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "buf.h"
#include "config.h"
#include "embed.h"
#include "runtime.h"
#include "simcheck.h"

#define SEARCH_MAX 100

struct found {
    long long id, created_at, expires_at, hits;
    float sim;
    char *key_id, *model, *partition, *question;
};

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? strdup((const char *)s) : NULL;
}

static void found_free(struct found *f)
{
    free(f->key_id);
    free(f->model);
    free(f->partition);
    free(f->question);
}

/* "key": a key id or name -> the key's id (*out, malloc'd). 1 found, 0 no
 * such key (ctx's error set), -1 on a database error. */
static int key_id_of(struct gw_admin_ctx *ctx, const char *k, char **out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ctx->db,
                           "SELECT id FROM keys WHERE id = ?1 OR name = ?1 "
                           "ORDER BY (id = ?1) DESC, created_at DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? dup_col(st, 0) : NULL;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return *out ? 1 : -1;
    if (rc != SQLITE_DONE)
        return -1;
    gw_admin_fail(ctx, "not_found", "no key with id or name '%.64s'", k);
    return 0;
}

static const char *opt_str(const cJSON *args, const char *name, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v)
        return NULL;
    if (!cJSON_IsString(v) || !*v->valuestring) {
        *bad = 1;
        return NULL;
    }
    return v->valuestring;
}

/* Keeps the best n of what it is given, best first (an insertion into a
 * short sorted array). */
static void keep(struct found *top, int *n, int limit, struct found *f)
{
    int i = *n;
    if (i == limit) {
        if (f->sim <= top[limit - 1].sim) {
            found_free(f);
            return;
        }
        found_free(&top[--i]);
    } else {
        (*n)++;
    }
    while (i > 0 && top[i - 1].sim < f->sim) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = *f;
}

cJSON *gw_admin_cmd_cache_search(struct gw_admin_ctx *ctx, const cJSON *args)
{
    int bad = 0;
    const char *text = opt_str(args, "text", &bad);
    const char *model = opt_str(args, "model", &bad);
    const char *key = opt_str(args, "key", &bad);
    if (bad || !text)
        return gw_admin_fail(ctx, "bad_request",
                             "\"text\" is required; \"text\", \"model\" and \"key\" must be "
                             "non-empty strings");
    int limit = 10;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(args, "limit");
    if (l) {
        if (!cJSON_IsNumber(l) || l->valuedouble < 1 || l->valuedouble > SEARCH_MAX)
            return gw_admin_fail(ctx, "bad_request", "\"limit\" must be 1 to %d", SEARCH_MAX);
        limit = (int)l->valuedouble;
    }
    float q[GW_EMBED_LOCAL_DIM], v[GW_EMBED_LOCAL_DIM];
    int e = gw_embed_local(text, strlen(text), q);
    if (e != 0)
        return gw_admin_fail(ctx, e > 0 ? "bad_request" : "internal", "%s",
                             e > 0 ? "the text has no words" : "out of memory");
    char *key_id = NULL;
    if (key) {
        int k = key_id_of(ctx, key, &key_id);
        if (k <= 0)
            return k < 0 ? gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db)) : NULL;
    }
    struct gw_cfg_ref *ref = gw_runtime_config_acquire();
    double threshold = ref->cfg->cache.semantic.threshold;
    int enabled = ref->cfg->cache.enabled && ref->cfg->cache.semantic.enabled;
    gw_runtime_config_release(ref);

    struct gw_buf sql = {0};
    gw_buf_puts(&sql, "SELECT id, key_id, model, partition, question, created_at, expires_at, "
                      "hits, embedding FROM cache_entries WHERE embedder = ?1 AND "
                      "expires_at > ?2");
    if (model)
        gw_buf_puts(&sql, " AND model = ?3");
    if (key_id)
        gw_buf_puts(&sql, " AND key_id = ?4");
    sqlite3_stmt *st = NULL;
    int rc = sql.data ? sqlite3_prepare_v2(ctx->db, sql.data, -1, &st, NULL) : SQLITE_NOMEM;
    gw_buf_free(&sql);
    struct found *top = calloc((size_t)limit, sizeof *top);
    int n = 0;
    if (rc == SQLITE_OK && top) {
        sqlite3_bind_text(st, 1, GW_EMBED_LOCAL_ID, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, gw_wall_ms());
        if (model)
            sqlite3_bind_text(st, 3, model, -1, SQLITE_STATIC);
        if (key_id)
            sqlite3_bind_text(st, 4, key_id, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (gw_vec_unpack(sqlite3_column_blob(st, 8), (size_t)sqlite3_column_bytes(st, 8), v,
                              GW_EMBED_LOCAL_DIM) != 0)
                continue;
            struct found f = {
                .id = sqlite3_column_int64(st, 0),
                .created_at = sqlite3_column_int64(st, 5),
                .expires_at = sqlite3_column_int64(st, 6),
                .hits = sqlite3_column_int64(st, 7),
                .sim = gw_vec_dot(q, v, GW_EMBED_LOCAL_DIM),
                .key_id = dup_col(st, 1),
                .model = dup_col(st, 2),
                .partition = dup_col(st, 3),
                .question = dup_col(st, 4),
            };
            keep(top, &n, limit, &f);
        }
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    cJSON *res = NULL;
    if (rc != SQLITE_OK || !top) {
        gw_admin_fail(ctx, "internal", "%s", top ? sqlite3_errmsg(ctx->db) : "out of memory");
    } else {
        res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "text", text);
        cJSON_AddNumberToObject(res, "threshold", threshold);
        cJSON_AddBoolToObject(res, "semantic_enabled", enabled);
        cJSON *arr = cJSON_AddArrayToObject(res, "entries");
        for (int i = 0; i < n; i++) {
            struct found *f = &top[i];
            const char *qs = f->question ? f->question : "";
            char why[256] = "";
            int verdict = gw_simcheck(text, strlen(text), qs, strlen(qs), why, sizeof why);
            double sim = f->sim > 1 ? 1.0 : f->sim;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", (double)f->id);
            cJSON_AddNumberToObject(o, "similarity", round(sim * 10000) / 10000);
            cJSON_AddBoolToObject(o, "above_threshold", sim >= threshold);
            cJSON_AddStringToObject(o, "verdict", verdict == GW_SIMCHECK_PASS ? "pass" : "reject");
            cJSON_AddStringToObject(o, "reason", why);
            cJSON_AddStringToObject(o, "question", qs);
            cJSON_AddStringToObject(o, "model", f->model ? f->model : "");
            if (f->key_id)
                cJSON_AddStringToObject(o, "key_id", f->key_id);
            else
                cJSON_AddNullToObject(o, "key_id");
            cJSON_AddStringToObject(o, "partition", f->partition ? f->partition : "");
            cJSON_AddNumberToObject(o, "created_at", (double)f->created_at);
            cJSON_AddNumberToObject(o, "expires_at", (double)f->expires_at);
            cJSON_AddNumberToObject(o, "hits", (double)f->hits);
            cJSON_AddItemToArray(arr, o);
        }
    }
    for (int i = 0; i < n; i++)
        found_free(&top[i]);
    free(top);
    sqlite3_finalize(st);
    free(key_id);
    return res;
}

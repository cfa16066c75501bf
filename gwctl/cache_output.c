/*
 * gwctl/cache_output.c — the human views of the cache commands (cache stats,
 * list, show, purge; docs/caching.md): the daemon gives times in unix
 * milliseconds, shown here as UTC times and ages; texts go through
 * output.c's printers, so control characters are neutralised. `--json`
 * output is the daemon's result and does not pass here.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* A copy of obj with the named millisecond times in seconds (for
 * GWCTL_FMT_TIME) and an "age" in a short human form. The caller frees it. */
static cJSON *for_humans(const cJSON *obj)
{
    static const char *const times[] = {"created_at", "expires_at", "last_hit_at"};
    cJSON *o = cJSON_Duplicate(obj, 1);
    if (!o)
        return NULL;
    for (size_t i = 0; i < NELEM(times); i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(o, times[i]);
        if (cJSON_IsNumber(v))
            cJSON_SetNumberValue(v, floor(v->valuedouble / 1000));
    }
    const cJSON *c = member(o, "created_at");
    if (cJSON_IsNumber(c)) {
        long long age = (long long)time(NULL) - (long long)c->valuedouble;
        char buf[32];
        if (age < 0)
            age = 0;
        if (age < 120)
            snprintf(buf, sizeof buf, "%llds", age);
        else if (age < 7200)
            snprintf(buf, sizeof buf, "%lldm", age / 60);
        else if (age < 172800)
            snprintf(buf, sizeof buf, "%lldh", age / 3600);
        else
            snprintf(buf, sizeof buf, "%lldd", age / 86400);
        cJSON_AddStringToObject(o, "age", buf);
    }
    return o;
}

void gwctl_view_cache_stats(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col fields[] = {
        {"lookups", "lookups", GWCTL_FMT_INT, NULL},
        {"exact hits", "hits_exact", GWCTL_FMT_INT, NULL},
        {"semantic hits", "hits_semantic", GWCTL_FMT_INT, NULL},
        {"semantic rejected", "semantic_rejected", GWCTL_FMT_INT, NULL},
        {"semantic vectors", "semantic_entries", GWCTL_FMT_INT, NULL},
        {"misses", "misses", GWCTL_FMT_INT, NULL},
        {"joined a flight", "waits", GWCTL_FMT_INT, NULL},
        {"stores", "stores", GWCTL_FMT_INT, NULL},
        {"evictions (memory)", "evictions_hot", GWCTL_FMT_INT, NULL},
        {"evictions (db)", "evictions_db", GWCTL_FMT_INT, NULL},
        {"expired (memory)", "expired_hot", GWCTL_FMT_INT, NULL},
        {"expired (db)", "expired_db", GWCTL_FMT_INT, NULL},
        {"entries (memory)", "hot_entries", GWCTL_FMT_INT, NULL},
        {"bytes (memory)", "hot_bytes", GWCTL_FMT_INT, NULL},
        {"entries (db)", "db_entries", GWCTL_FMT_INT, NULL},
        {"bytes (db)", "db_bytes", GWCTL_FMT_INT, NULL},
        {"tokens saved", "tokens_saved", GWCTL_FMT_INT, NULL},
        {"saved (USD)", "saved_usd", GWCTL_FMT_USD, NULL},
    };
    gwctl_print_fields(out, fields, NELEM(fields), result);
    const cJSON *hr = member(result, "hit_rate");
    if (cJSON_IsNumber(hr))
        fprintf(out, "hit rate: %.1f%%\n", hr->valuedouble * 100);
}

void gwctl_view_cache_list(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col columns[] = {
        {"ID", "id", GWCTL_FMT_INT, NULL},
        {"MODEL", "model", GWCTL_FMT_TEXT, NULL},
        {"KEY", "key_id", GWCTL_FMT_TEXT, NULL},
        {"AGE", "age", GWCTL_FMT_TEXT, NULL},
        {"HITS", "hits", GWCTL_FMT_INT, NULL},
        {"BYTES", "bytes", GWCTL_FMT_INT, NULL},
        {"QUESTION", "question", GWCTL_FMT_TEXT, NULL},
    };
    cJSON *rows = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, member(result, "entries"))
    {
        cJSON *h = for_humans(e);
        cJSON *q = h ? cJSON_GetObjectItemCaseSensitive(h, "question") : NULL;
        if (cJSON_IsString(q) && strlen(q->valuestring) > 60) /* one line per entry */
            strcpy(q->valuestring + 57, "...");
        if (h)
            cJSON_AddItemToArray(rows, h);
    }
    gwctl_print_table(out, columns, NELEM(columns), rows, "(no cached answers)", NULL, NULL);
    cJSON_Delete(rows);
}

void gwctl_view_cache_show(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col fields[] = {
        {"id", "id", GWCTL_FMT_INT, NULL},
        {"model", "model", GWCTL_FMT_TEXT, NULL},
        {"provider", "provider", GWCTL_FMT_TEXT, NULL},
        {"partition", "partition", GWCTL_FMT_TEXT, NULL},
        {"key", "key_id", GWCTL_FMT_TEXT, NULL},
        {"created", "created_at", GWCTL_FMT_TIME, NULL},
        {"age", "age", GWCTL_FMT_TEXT, NULL},
        {"expires", "expires_at", GWCTL_FMT_TIME, NULL},
        {"hits", "hits", GWCTL_FMT_INT, NULL},
        {"last hit", "last_hit_at", GWCTL_FMT_TIME, "never"},
        {"size (bytes)", "size", GWCTL_FMT_INT, NULL},
        {"prompt tokens", "prompt_tokens", GWCTL_FMT_INT, NULL},
        {"completion tokens", "completion_tokens", GWCTL_FMT_INT, NULL},
        {"cost (USD)", "cost_usd", GWCTL_FMT_USD, NULL},
    };
    cJSON *h = for_humans(result);
    if (!h)
        return;
    gwctl_print_fields(out, fields, NELEM(fields), h);
    cJSON_Delete(h);
    char *req = cJSON_Print(member(result, "request"));
    fprintf(out, "\nrequest:\n%s\n", req ? req : "-");
    free(req);
    const cJSON *a = member(result, "answer");
    char *text = gwctl_format(member(a, "content"), GWCTL_FMT_TEXT, NULL);
    fprintf(out, "\nresponse:\n%s\n", text);
    free(text);
}

void gwctl_view_cache_purged(FILE *out, const cJSON *result, const cJSON *args)
{
    char *n = gwctl_format(member(result, "deleted"), GWCTL_FMT_INT, NULL);
    fprintf(out, "deleted %s cached answer%s\n", n, strcmp(n, "1") == 0 ? "" : "s");
    free(n);
}

/* Stage parse_query: the body of POST /api/v1/query (query.h) checked and
 * turned into the chat-completions request it stands for, so every stage
 * after this one treats it as a chat request (r->api becomes GW_API_CHAT;
 * r->query_api keeps the query API's error and answer shape).
 *
 * Fields: query (a non-empty string of at most GW_QUERY_MAX_BYTES bytes:
 * else 400 INVALID_QUERY), use_cache (false: as x-gw-cache: off),
 * semantic_threshold (a number from 0 to 1: else 400 INVALID_THRESHOLD),
 * provider (a configured provider's name: else 400 PROVIDER_NOT_FOUND; the
 * model is then reached as PROVIDER/MODEL), model (default: the first
 * configured model), max_tokens (a positive integer), temperature (0 to
 * 2). Other members are refused (400 INVALID_REQUEST), so a misspelt field
 * is never silently ignored. */
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "pipeline.h"
#include "query.h"
#include "request.h"

static enum gw_stage_rc bad(struct gw_request *r, int status, const char *code, const char *msg)
{
    gw_error_respond(r, status, "invalid_request_error", code, NULL, "%s", msg);
    return GW_STAGE_RESPOND;
}

static const char *const fields[] = {"query", "use_cache",  "semantic_threshold", "provider",
                                     "model", "max_tokens", "temperature"};

static int known_field(const char *s)
{
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (strcmp(s, fields[i]) == 0)
            return 1;
    return 0;
}

/* A member that may be absent or null: NULL then. */
static const cJSON *member(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsNull(v) ? NULL : v;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    char msg[256];
    cJSON *in = r->body.len ? cJSON_ParseWithLength(r->body.data, r->body.len) : NULL;
    enum gw_stage_rc rc = GW_STAGE_RESPOND;
    if (!cJSON_IsObject(in)) {
        bad(r, 400, "INVALID_QUERY", "The request body must be a JSON object with a 'query'.");
        goto out;
    }
    for (const cJSON *m = in->child; m; m = m->next)
        if (!known_field(m->string)) {
            snprintf(msg, sizeof msg, "Unknown field '%.64s'.", m->string);
            bad(r, 400, "INVALID_REQUEST", msg);
            goto out;
        }
    const cJSON *q = member(in, "query");
    if (!cJSON_IsString(q) || !q->valuestring[strspn(q->valuestring, " \t\r\n")]) {
        bad(r, 400, "INVALID_QUERY", "'query' must be a non-empty string.");
        goto out;
    }
    if (strlen(q->valuestring) > GW_QUERY_MAX_BYTES) {
        snprintf(msg, sizeof msg, "'query' is longer than %d bytes.", GW_QUERY_MAX_BYTES);
        bad(r, 400, "INVALID_QUERY", msg);
        goto out;
    }
    const cJSON *uc = member(in, "use_cache");
    if (uc && !cJSON_IsBool(uc)) {
        bad(r, 400, "INVALID_REQUEST", "'use_cache' must be a boolean.");
        goto out;
    }
    const cJSON *th = member(in, "semantic_threshold");
    if (th && (!cJSON_IsNumber(th) || !(th->valuedouble >= 0 && th->valuedouble <= 1))) {
        bad(r, 400, "INVALID_THRESHOLD", "'semantic_threshold' must be a number from 0 to 1.");
        goto out;
    }
    const cJSON *pv = member(in, "provider"), *md = member(in, "model");
    if (pv && (!cJSON_IsString(pv) || !*pv->valuestring)) {
        bad(r, 400, "INVALID_REQUEST", "'provider' must be a non-empty string.");
        goto out;
    }
    if (md && (!cJSON_IsString(md) || !*md->valuestring)) {
        bad(r, 400, "INVALID_REQUEST", "'model' must be a non-empty string.");
        goto out;
    }
    if (pv && gw_config_provider_index(r->cfg, pv->valuestring) < 0) {
        snprintf(msg, sizeof msg, "No provider named '%.64s' is configured.", pv->valuestring);
        bad(r, 400, "PROVIDER_NOT_FOUND", msg);
        goto out;
    }
    const cJSON *mt = member(in, "max_tokens"), *te = member(in, "temperature");
    if (mt && (!cJSON_IsNumber(mt) || mt->valuedouble < 1 || mt->valuedouble > 1e9 ||
               mt->valuedouble != floor(mt->valuedouble))) {
        bad(r, 400, "INVALID_REQUEST", "'max_tokens' must be a positive integer.");
        goto out;
    }
    if (te && (!cJSON_IsNumber(te) || !(te->valuedouble >= 0 && te->valuedouble <= 2))) {
        bad(r, 400, "INVALID_REQUEST", "'temperature' must be a number from 0 to 2.");
        goto out;
    }
    const char *model = gw_query_model(r, pv ? pv->valuestring : NULL, md ? md->valuestring : NULL);
    if (!model) {
        bad(r, 503, "SERVICE_UNAVAILABLE",
            pv ? "That provider serves no configured model; name one with 'model'."
               : "No model is configured.");
        goto out;
    }
    r->json = gw_query_chat_json(q->valuestring, model, mt ? (long long)mt->valuedouble : -1,
                                 te ? te->valuedouble : -1);
    if (!r->json) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        goto out;
    }
    r->model_name = model;
    r->json_rewritten = 1; /* the caller's bytes are not a chat body: never relayed */
    r->stream = 0;
    if (th)
        r->cache_threshold = th->valuedouble;
    if (uc && cJSON_IsFalse(uc))
        MHD_set_connection_value(r->conn_mhd, MHD_HEADER_KIND, "x-gw-cache", "off");
    r->query_api = 1;
    r->api = GW_API_CHAT; /* from here on, a chat request */
    rc = GW_STAGE_CONTINUE;
out:
    cJSON_Delete(in);
    return rc;
}

const struct gw_stage gw_stage_parse_query = {
    .name = "parse_query",
    .apis = GW_API_QUERY,
    .run = run,
};

/* Error bodies. One place builds them so every endpoint's errors have the
 * shape of the front door that was called (r->api), and the usage row gets a
 * short description of what failed. */
#include "errors.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>

#include "buf.h"
#include "query.h"
#include "request.h"

static int anthropic(const struct gw_request *r)
{
    return r->api == GW_API_MESSAGES || r->api == GW_API_COUNT_TOKENS;
}

const char *gw_error_anthropic_type(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

static void error_json(struct gw_buf *b, const char *type, const char *code, const char *param,
                       const char *msg)
{
    gw_buf_puts(b, "{\"error\":{\"message\":");
    gw_buf_json_str(b, msg);
    gw_buf_puts(b, ",\"type\":");
    gw_buf_json_str(b, type);
    gw_buf_puts(b, ",\"param\":");
    if (param)
        gw_buf_json_str(b, param);
    else
        gw_buf_puts(b, "null");
    gw_buf_puts(b, ",\"code\":");
    if (code)
        gw_buf_json_str(b, code);
    else
        gw_buf_puts(b, "null");
    gw_buf_puts(b, "}}");
}

/* {"type":"error","error":{"type":T,"message":M},"request_id":ID} */
static void anthropic_json(struct gw_buf *b, const char *type, const char *msg, const char *id)
{
    gw_buf_puts(b, "{\"type\":\"error\",\"error\":{\"type\":");
    gw_buf_json_str(b, type);
    gw_buf_puts(b, ",\"message\":");
    gw_buf_json_str(b, msg);
    gw_buf_puts(b, "}");
    if (id) {
        gw_buf_puts(b, ",\"request_id\":");
        gw_buf_json_str(b, id);
    }
    gw_buf_puts(b, "}");
}

static void respond(struct gw_request *r, int status, const char *type, const char *code,
                    const char *param, const char *msg)
{
    if (gw_query_front(r)) { /* the query API: {detail, error_code, timestamp} (query.h) */
        gw_query_error(r, status, type, code, msg);
        return;
    }
    r->status = status;
    r->content_type = "application/json";
    gw_buf_reset(&r->out);
    if (anthropic(r))
        anthropic_json(&r->out, gw_error_anthropic_type(status), msg, r->id);
    else
        error_json(&r->out, type, code, param, msg);
    gw_buf_puts(&r->out, "\n");
    r->error = gw_arena_strdup(r->arena, code ? code : type);
}

void gw_error_respond(struct gw_request *r, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    respond(r, status, type, code, param, msg);
}

void gw_error_stream_event(struct gw_request *r, struct gw_buf *out, const char *type,
                           const char *code, const char *message)
{
    if (anthropic(r)) {
        gw_buf_puts(out, "event: error\ndata: ");
        anthropic_json(out, "api_error", message, NULL);
    } else {
        gw_buf_puts(out, "data: ");
        error_json(out, type, code, NULL, message);
    }
    gw_buf_puts(out, "\n\n");
    r->error = gw_arena_strdup(r->arena, code ? code : type);
}

void gw_error_upstream(struct gw_request *r, int status, struct gw_buf *body, const char *provider)
{
    char code[32];
    snprintf(code, sizeof code, "upstream_http_%d", status);
    cJSON *j = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
    const cJSON *e = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    if (e && !anthropic(r) && !gw_query_front(r)) {
        /* an OpenAI error: the caller speaks the same format, pass it on */
        r->status = status;
        r->content_type = "application/json";
        gw_buf_free(&r->out);
        r->out = *body;
        *body = (struct gw_buf){0};
        r->error = gw_arena_strdup(r->arena, code);
    } else {
        /* OpenAI's {"error":{"message"}} and Anthropic's own error shape
         * both keep the message in error.message */
        const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : NULL;
        if (cJSON_IsString(m) && *m->valuestring)
            respond(r, status, "upstream_error", code, NULL, m->valuestring);
        else
            gw_error_respond(r, status, "upstream_error", code, NULL,
                             "Provider '%s' answered with HTTP %d.", provider, status);
    }
    cJSON_Delete(j);
}

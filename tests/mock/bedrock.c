/* Bedrock Runtime's Converse API as the mock speaks it:
 * POST /model/{modelId}/converse and /converse-stream, SigV4-signed with the
 * mock's credential (sigv4.c); the Converse response, the ConverseStream
 * events as binary event-stream frames (eventstream.c: messageStart,
 * contentBlockStart / Delta / Stop, messageStop, metadata, each payload with
 * a "p" padding field; a throttlingException frame for the exception
 * directive), and errors as {"message":...} with x-amzn-ErrorType. The body
 * is validated by bedrock_parse.c. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mock_bedrock_error_type(unsigned status)
{
    switch (status) {
    case 400:
        return "ValidationException";
    case 403:
        return "AccessDeniedException";
    case 404:
        return "ResourceNotFoundException";
    case 408:
        return "ModelTimeoutException";
    case 424:
        return "ModelErrorException";
    case 429:
        return "ThrottlingException";
    case 503:
        return "ServiceUnavailableException";
    default:
        return status < 500 ? "ValidationException" : "InternalServerException";
    }
}

static const char *br_stop_reason(const struct mock_chat *c)
{
    static const char *const reasons[] = {[MOCK_STOP_END] = "end_turn",
                                          [MOCK_STOP_TOOL] = "tool_use",
                                          [MOCK_STOP_MAX] = "max_tokens"};
    return reasons[mock_chat_stop(c)];
}

static void br_tool_id(const struct mock_chat *c, char *out, size_t cap)
{
    snprintf(out, cap, "tooluse_mock_%llu", c->seq);
}

static cJSON *br_usage(const struct mock_chat *c)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "inputTokens", (double)mock_chat_uncached(c));
    cJSON_AddNumberToObject(u, "outputTokens", (double)c->completion_tokens);
    cJSON_AddNumberToObject(u, "totalTokens", (double)(c->prompt_tokens + c->completion_tokens));
    if (c->cache_read || c->cache_write) {
        cJSON_AddNumberToObject(u, "cacheReadInputTokens", (double)c->cache_read);
        cJSON_AddNumberToObject(u, "cacheWriteInputTokens", (double)c->cache_write);
    }
    return u;
}

static cJSON *br_metrics(const struct mock_chat *c)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "latencyMs", (double)(mock_mono_ms() - c->start_ms));
    return m;
}

static char *br_complete(const struct mock_chat *c)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *msg = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "output"), "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON *content = cJSON_AddArrayToObject(msg, "content");
    cJSON *text = cJSON_CreateObject();
    cJSON_AddStringToObject(text, "text", c->reply);
    cJSON_AddItemToArray(content, text);
    if (c->tool_args) {
        char id[48];
        br_tool_id(c, id, sizeof id);
        cJSON *b = cJSON_CreateObject();
        cJSON *tu = cJSON_AddObjectToObject(b, "toolUse");
        cJSON_AddStringToObject(tu, "toolUseId", id);
        cJSON_AddStringToObject(tu, "name", c->dir.tool);
        cJSON_AddItemToObject(tu, "input", mock_chat_tool_input(c));
        cJSON_AddItemToArray(content, b);
    }
    cJSON_AddStringToObject(root, "stopReason", br_stop_reason(c));
    cJSON_AddItemToObject(root, "usage", br_usage(c));
    cJSON_AddItemToObject(root, "metrics", br_metrics(c));
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* One event frame; takes payload, adds its "p" padding. */
static char *br_frame(const char *type, cJSON *payload, bool corrupt, size_t *len)
{
    static const char pad[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char *json = cJSON_PrintUnformatted(payload);
    size_t n = json ? strlen(json) % (sizeof pad - 2) + 1 : 1;
    char *p = strndup(pad, n);
    cJSON_AddStringToObject(payload, "p", p ? p : "x");
    free(p);
    free(json);
    json = cJSON_PrintUnformatted(payload);
    cJSON_Delete(payload);
    if (!json)
        return NULL;
    const char *headers[] = {":event-type",   type,   ":content-type", "application/json",
                             ":message-type", "event"};
    char *out = mock_es_frame(headers, 3, json, strlen(json), corrupt, len);
    free(json);
    return out;
}

static cJSON *br_index(int index)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "contentBlockIndex", index);
    return o;
}

static cJSON *br_delta(int index, const char *s, size_t n, bool tool)
{
    cJSON *o = br_index(index);
    cJSON *d = cJSON_AddObjectToObject(o, "delta");
    char *t = strndup(s, n);
    if (tool)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(d, "toolUse"), "input", t ? t : "");
    else
        cJSON_AddStringToObject(d, "text", t ? t : "");
    free(t);
    return o;
}

static bool br_render(const struct mock_chat *c, enum mock_ev ev, const char *arg, size_t alen,
                      char **out, size_t *len)
{
    cJSON *o;
    *out = NULL;
    switch (ev) {
    case MOCK_EV_START:
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", "assistant");
        *out = br_frame("messageStart", o, false, len);
        break;
    case MOCK_EV_GARBAGE:
        *out = br_frame("contentBlockDelta", br_delta(0, "garbage ", 8, false), true, len);
        break;
    case MOCK_EV_WORD:
        *out = br_frame("contentBlockDelta", br_delta(0, arg, alen, false), false, len);
        break;
    case MOCK_EV_FAIL: {
        if (!c->dir.exception)
            return true;
        static const char msg[] = "{\"message\":\"Too many requests, please wait before trying "
                                  "again.\"}";
        const char *headers[] = {":exception-type",  "throttlingException", ":content-type",
                                 "application/json", ":message-type",       "exception"};
        *out = mock_es_frame(headers, 3, msg, sizeof msg - 1, false, len);
        break;
    }
    case MOCK_EV_TEXT_STOP:
        *out = br_frame("contentBlockStop", br_index(0), false, len);
        break;
    case MOCK_EV_TOOL_START: {
        char id[48];
        br_tool_id(c, id, sizeof id);
        o = br_index(1);
        cJSON *tu = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "start"), "toolUse");
        cJSON_AddStringToObject(tu, "toolUseId", id);
        cJSON_AddStringToObject(tu, "name", c->dir.tool);
        *out = br_frame("contentBlockStart", o, false, len);
        break;
    }
    case MOCK_EV_TOOL_ARGS:
        *out = br_frame("contentBlockDelta", br_delta(1, arg, alen, true), false, len);
        break;
    case MOCK_EV_TOOL_STOP:
        *out = br_frame("contentBlockStop", br_index(1), false, len);
        break;
    case MOCK_EV_FINISH:
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "stopReason", br_stop_reason(c));
        *out = br_frame("messageStop", o, false, len);
        break;
    case MOCK_EV_USAGE:
        if (c->dir.no_usage)
            return true;
        o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "usage", br_usage(c));
        cJSON_AddItemToObject(o, "metrics", br_metrics(c));
        *out = br_frame("metadata", o, false, len);
        break;
    default:
        return true;
    }
    return *out != NULL;
}

static struct MHD_Response *br_fail(const struct mock_chat *c, unsigned *status)
{
    if (!c->dir.exception)
        return NULL;
    *status = 429;
    return mock_error_response(MOCK_FMT_BEDROCK, 429, "ThrottlingException",
                               "Too many requests, please wait before trying again.");
}

static const struct mock_chat_ops br_ops = {
    .complete = br_complete,
    .stream = {.content_type = "application/vnd.amazon.eventstream", .render = br_render},
    .fail = br_fail,
};

void mock_bedrock_route(struct mock_call *call)
{
    struct mock_verdict v;
    struct mock_chat c;
    if (!mock_sigv4_verify(call, "bedrock", &v) ||
        !mock_bedrock_parse(call->body, call->len, call->model, &c, &v)) {
        mock_call_refuse(call, MOCK_FMT_BEDROCK, &v);
        return;
    }
    c.stream = strcmp(call->action, "converse-stream") == 0;
    mock_call_answer(call, &c, &br_ops);
}

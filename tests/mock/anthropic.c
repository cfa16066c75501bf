/* The Anthropic Messages API as the mock speaks it: POST /v1/messages
 * (x-api-key or a bearer token, anthropic-version), the message object, the
 * SSE event sequence (message_start, content_block_start, ping,
 * content_block_delta with text_delta / input_json_delta, content_block_stop,
 * message_delta, message_stop, and the overloaded error event) and the error
 * object. The body is validated by anthropic_parse.c; Vertex AI's rawPredict
 * answers through mock_anthropic_answer too. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *mock_anthropic_error(const char *type, const char *msg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "type", "error");
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "type", type);
    cJSON_AddStringToObject(err, "message", msg);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static const char *anth_stop_reason(const struct mock_chat *c)
{
    static const char *const reasons[] = {[MOCK_STOP_END] = "end_turn",
                                          [MOCK_STOP_TOOL] = "tool_use",
                                          [MOCK_STOP_MAX] = "max_tokens"};
    return reasons[mock_chat_stop(c)];
}

static void anth_usage(cJSON *obj, const struct mock_chat *c, bool start)
{
    cJSON *u = cJSON_AddObjectToObject(obj, "usage");
    cJSON_AddNumberToObject(u, "input_tokens", (double)mock_chat_uncached(c));
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", (double)c->cache_write);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)c->cache_read);
    cJSON_AddNumberToObject(u, "output_tokens", start ? 1 : (double)c->completion_tokens);
}

static cJSON *anth_tool_block(const struct mock_chat *c, bool start)
{
    char id[48];
    snprintf(id, sizeof id, "toolu_mock_%llu", c->seq);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_use");
    cJSON_AddStringToObject(b, "id", id);
    cJSON_AddStringToObject(b, "name", c->dir.tool);
    cJSON_AddItemToObject(b, "input", start ? cJSON_CreateObject() : mock_chat_tool_input(c));
    return b;
}

/* The message object: whole, or (start) as message_start carries it. */
static cJSON *anth_message(const struct mock_chat *c, bool start)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", c->id);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "model", c->model);
    cJSON *content = cJSON_AddArrayToObject(m, "content");
    if (!start) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "text");
        cJSON_AddStringToObject(t, "text", c->reply);
        cJSON_AddItemToArray(content, t);
        if (c->tool_args)
            cJSON_AddItemToArray(content, anth_tool_block(c, false));
    }
    if (start)
        cJSON_AddNullToObject(m, "stop_reason");
    else
        cJSON_AddStringToObject(m, "stop_reason", anth_stop_reason(c));
    cJSON_AddNullToObject(m, "stop_sequence");
    anth_usage(m, c, start);
    return m;
}

static char *anth_complete(const struct mock_chat *c)
{
    cJSON *m = anth_message(c, false);
    char *out = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return out;
}

static cJSON *anth_event(const char *type)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", type);
    return e;
}

static cJSON *anth_delta(int index, const char *type, const char *field, const char *s, size_t n)
{
    cJSON *e = anth_event("content_block_delta");
    cJSON_AddNumberToObject(e, "index", index);
    cJSON *d = cJSON_AddObjectToObject(e, "delta");
    cJSON_AddStringToObject(d, "type", type);
    char *text = strndup(s, n);
    cJSON_AddStringToObject(d, field, text ? text : "");
    free(text);
    return e;
}

static cJSON *anth_block_event(const char *type, int index, cJSON *block)
{
    cJSON *e = anth_event(type);
    cJSON_AddNumberToObject(e, "index", index);
    if (block)
        cJSON_AddItemToObject(e, "content_block", block);
    return e;
}

/* "event: <type>\ndata: <json>\n\n", appended to b; takes e. */
static void anth_emit(struct mock_buf *b, cJSON *e)
{
    size_t n = 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    char *ev = mock_sse_event(type->valuestring, cJSON_PrintUnformatted(e), "\n\n", &n);
    cJSON_Delete(e);
    if (!ev)
        b->oom = true;
    else
        mock_buf_add(b, ev, n);
    free(ev);
}

static bool anth_render(const struct mock_chat *c, enum mock_ev ev, const char *arg, size_t alen,
                        char **out, size_t *len)
{
    static const char garbage[] = "event: content_block_delta\ndata: {not json\n\n";
    struct mock_buf b = {0};
    cJSON *e = NULL, *text;

    switch (ev) {
    case MOCK_EV_START:
        e = anth_event("message_start");
        cJSON_AddItemToObject(e, "message", anth_message(c, true));
        anth_emit(&b, e);
        break;
    case MOCK_EV_GARBAGE:
        mock_buf_add(&b, garbage, sizeof garbage - 1);
        break;
    case MOCK_EV_TEXT_START:
        text = cJSON_CreateObject();
        cJSON_AddStringToObject(text, "type", "text");
        cJSON_AddStringToObject(text, "text", "");
        anth_emit(&b, anth_block_event("content_block_start", 0, text));
        anth_emit(&b, anth_event("ping"));
        break;
    case MOCK_EV_WORD:
        anth_emit(&b, anth_delta(0, "text_delta", "text", arg, alen));
        break;
    case MOCK_EV_FAIL:
        if (c->dir.overloaded) {
            e = cJSON_Parse("{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
                            "\"message\":\"Overloaded\"}}");
            anth_emit(&b, e);
        }
        break;
    case MOCK_EV_TEXT_STOP:
        anth_emit(&b, anth_block_event("content_block_stop", 0, NULL));
        break;
    case MOCK_EV_TOOL_START:
        anth_emit(&b, anth_block_event("content_block_start", 1, anth_tool_block(c, true)));
        break;
    case MOCK_EV_TOOL_ARGS:
        anth_emit(&b, anth_delta(1, "input_json_delta", "partial_json", arg, alen));
        break;
    case MOCK_EV_TOOL_STOP:
        anth_emit(&b, anth_block_event("content_block_stop", 1, NULL));
        break;
    case MOCK_EV_FINISH: {
        e = anth_event("message_delta");
        cJSON *d = cJSON_AddObjectToObject(e, "delta");
        cJSON_AddStringToObject(d, "stop_reason", anth_stop_reason(c));
        cJSON_AddNullToObject(d, "stop_sequence");
        cJSON *u = cJSON_AddObjectToObject(e, "usage");
        cJSON_AddNumberToObject(u, "output_tokens", (double)c->completion_tokens);
        anth_emit(&b, e);
        break;
    }
    case MOCK_EV_USAGE:
        anth_emit(&b, anth_event("message_stop"));
        break;
    default:
        break;
    }
    if (b.oom) {
        mock_buf_free(&b);
        *out = NULL;
        return false;
    }
    *out = b.p;
    *len = b.len;
    return true;
}

static struct MHD_Response *anth_fail(const struct mock_chat *c, unsigned *status)
{
    if (!c->dir.overloaded)
        return NULL;
    *status = 529;
    return mock_reply_json(mock_anthropic_error("overloaded_error", "Overloaded"));
}

static const struct mock_chat_ops anth_ops = {
    .complete = anth_complete,
    .stream = {.content_type = "text/event-stream; charset=utf-8", .render = anth_render},
    .fail = anth_fail,
};

void mock_anthropic_answer(struct mock_call *call, struct mock_chat *c)
{
    mock_call_answer(call, c, &anth_ops);
}

void mock_anthropic_messages(struct mock_call *call)
{
    const char *key = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "x-api-key");
    const char *bearer = MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "authorization");
    const char *version =
        MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, "anthropic-version");
    struct mock_verdict v;
    struct mock_chat c;

    if (!(key && *key) && !(bearer && strncmp(bearer, "Bearer ", 7) == 0 && bearer[7]))
        mock_call_error(call, 401, "authentication_error",
                        "x-api-key header is required (or Authorization: Bearer)");
    else if (!version)
        mock_call_error(call, 400, "invalid_request_error",
                        "anthropic-version: header is required");
    else if (strcmp(version, "2023-06-01") && strcmp(version, "2023-01-01"))
        mock_call_error(call, 400, "invalid_request_error",
                        "anthropic-version: must be 2023-06-01 or 2023-01-01");
    else if (!mock_anthropic_parse(call->body, call->len, NULL, &c, &v))
        mock_call_refuse(call, MOCK_FMT_ANTHROPIC, &v);
    else
        mock_anthropic_answer(call, &c);
}

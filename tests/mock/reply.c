/* Replies shared by every route: JSON responses, error bodies in each wire
 * format's shape (OpenAI, Anthropic, Google, Bedrock, OAuth), the reply of a
 * status fault, and the common tail of a chat answer (hang, status, garbage,
 * delay, then the streamed or unstreamed answer, drop_after included). */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct MHD_Response *mock_reply_json(char *text)
{
    static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"mock_error\","
                        "\"param\":null,\"code\":null}}";
    struct MHD_Response *r =
        text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(sizeof oom - 1, oom, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return r;
}

/* Anthropic's error type for a status. */
static const char *mock_anthropic_type(unsigned status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
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
    case 504:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    default:
        return status < 500 ? "invalid_request_error" : "api_error";
    }
}

static char *mock_oauth_error(const char *type, const char *msg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "error", type);
    cJSON_AddStringToObject(root, "error_description", msg);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

struct MHD_Response *mock_error_response(enum mock_format fmt, unsigned status, const char *type,
                                         const char *msg)
{
    struct MHD_Response *r = NULL;
    switch (fmt) {
    case MOCK_FMT_OPENAI:
    case MOCK_FMT_COUNT:
        r = mock_reply_json(mock_openai_error(msg, type ? type : "invalid_request_error", NULL));
        break;
    case MOCK_FMT_ANTHROPIC:
        r = mock_reply_json(mock_anthropic_error(type ? type : mock_anthropic_type(status), msg));
        break;
    case MOCK_FMT_GOOGLE:
        r = mock_reply_json(mock_google_error(status, msg));
        break;
    case MOCK_FMT_BEDROCK: {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "message", msg);
        r = mock_reply_json(cJSON_PrintUnformatted(root));
        cJSON_Delete(root);
        if (r)
            MHD_add_response_header(r, "x-amzn-ErrorType",
                                    type ? type : mock_bedrock_error_type(status));
        break;
    }
    case MOCK_FMT_OAUTH:
        r = mock_reply_json(mock_oauth_error(type ? type : "invalid_request", msg));
        break;
    }
    return r;
}

void mock_call_reply(struct mock_call *call, unsigned status, struct MHD_Response *r)
{
    if (call->resp)
        MHD_destroy_response(call->resp);
    call->status = status;
    call->resp = r;
}

void mock_call_error(struct mock_call *call, unsigned status, const char *type, const char *msg)
{
    mock_call_reply(call, status, mock_error_response(call->fmt, status, type, msg));
}

void mock_call_refuse(struct mock_call *call, enum mock_format fmt, const struct mock_verdict *v)
{
    mock_call_reply(call, v->status, mock_error_response(fmt, v->status, v->type, v->msg));
}

struct MHD_Response *mock_fault_response(enum mock_format fmt, const struct mock_directives *d)
{
    char msg[32];
    snprintf(msg, sizeof msg, "mock error %u", d->status);
    struct MHD_Response *r;
    if (fmt == MOCK_FMT_OPENAI) {
        char code[16];
        snprintf(code, sizeof code, "mock_%u", d->status);
        r = mock_reply_json(mock_openai_error(msg, "mock_error", code));
    } else {
        r = mock_error_response(fmt, d->status, fmt == MOCK_FMT_OAUTH ? "mock_error" : NULL, msg);
    }
    if (r && d->retry_after >= 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", d->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    return r;
}

/* The 400 of a prompt over the context window, as each provider says it. */
static struct MHD_Response *mock_context_exceeded(enum mock_format fmt)
{
    if (fmt == MOCK_FMT_OPENAI)
        return mock_reply_json(mock_openai_error(
            "This model's maximum context length is 128000 tokens. However, your messages "
            "resulted in 250000 tokens. Please reduce the length of the messages.",
            "invalid_request_error", "context_length_exceeded"));
    if (fmt == MOCK_FMT_ANTHROPIC)
        return mock_reply_json(mock_anthropic_error("invalid_request_error",
                                                    "prompt is too long: 250000 tokens > "
                                                    "200000 maximum"));
    return mock_error_response(fmt, 400, NULL, "The input exceeds the model's context window.");
}

bool mock_call_fault(struct mock_call *call, const struct mock_directives *d)
{
    call->delay_ms += d->delay_ms;
    if (d->hang) {
        call->hang = true;
    } else if (d->context_exceeded) {
        mock_call_reply(call, 400, mock_context_exceeded(call->fmt));
    } else if (d->status) {
        mock_call_reply(call, d->status, mock_fault_response(call->fmt, d));
    } else if (d->garbage) {
        static char junk[] = "this is not json";
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sizeof junk - 1, junk, MHD_RESPMEM_PERSISTENT);
        if (r)
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        mock_call_reply(call, MHD_HTTP_OK, r);
    } else {
        return false;
    }
    return true;
}

void mock_call_answer(struct mock_call *call, struct mock_chat *c, const struct mock_chat_ops *ops)
{
    const struct mock_directives *d = &c->dir;
    unsigned status;
    struct MHD_Response *r;

    if (mock_call_fault(call, d)) {
        mock_chat_free(c);
    } else if (!c->stream && ops->fail && (r = ops->fail(c, &status)) != NULL) {
        mock_call_reply(call, status, r);
        mock_chat_free(c);
    } else if (c->stream) {
        mock_call_reply(call, MHD_HTTP_OK, mock_stream_response(c, &ops->stream, call->conn));
    } else {
        char *body = ops->complete(c);
        if (body && d->drop_after >= 0)
            r = mock_truncated_response(body, strlen(body), (size_t)d->drop_after, call->conn);
        else
            r = mock_reply_json(body);
        mock_call_reply(call, MHD_HTTP_OK, r);
        mock_chat_free(c);
    }
}

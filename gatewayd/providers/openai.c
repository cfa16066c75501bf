/* The OpenAI wire format as an upstream: OpenAI itself and every compatible
 * server (Groq, Mistral, DeepSeek, xAI, Fireworks, OpenRouter, Together,
 * Ollama, vLLM). The request body is the client's, with the upstream model
 * name substituted and, for streams, stream_options.include_usage switched on
 * so usage is always counted; the extra usage chunk is hidden from a client
 * that did not ask for it. Streams are relayed event by event as they
 * arrive; non-streamed answers are read whole (bounded) and passed on.
 *
 * A /v1/messages request (r->json is its chat-completions translation) is
 * sent the same way; its answer goes through the Anthropic response writer
 * (messages.h) instead of being relayed: each upstream chunk is parsed and
 * written as Anthropic events as it arrives, the usage chunk feeds the
 * counts, and upstream errors are re-shaped (errors.h). top_k, which the
 * OpenAI format cannot express, is refused with a 400.
 *
 * POST /v1/embeddings goes to {base_url}/embeddings the same way (the
 * client's body, the upstream model substituted) and takes the non-streamed
 * path: the answer is passed on unchanged and its usage.prompt_tokens
 * counted (the gateway's own count of the input if the upstream reports
 * none, so an embedding is never free by omission).
 *
 * Threads: chat() and embeddings() run on the MHD thread; the transfer
 * callbacks run on the upstream thread and touch the shared response fields
 * under r->mu. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "errors.h"
#include "http.h"
#include "log.h"
#include "messages.h"
#include "provider.h"
#include "request.h"
#include "sse.h"
#include "tokens.h"
#include "upstream.h"

struct openai_state {
    struct gw_sse sse;
    struct gw_buf body;  /* non-streamed answer, or an error body */
    struct gw_buf relay; /* events to hand to the client from one feed */
    long status;
    int done_seen; /* "data: [DONE]" arrived */
    int too_large;
    int anthropic; /* a /v1/messages request: answers go through msg */
    /* the gateway's count of the input, billed when a 2xx answer reports no
     * usage.prompt_tokens; -1: trust the upstream (chat) */
    long long counted_prompt;
    struct gw_msg_writer msg;
};

static void state_free(void *p)
{
    struct openai_state *st = p;
    gw_sse_free(&st->sse);
    gw_buf_free(&st->body);
    gw_buf_free(&st->relay);
    gw_msg_free(&st->msg);
}

static struct openai_state *state(struct gw_request *r)
{
    return r->provider_state;
}

/* A token count from the provider; anything but a sane number is ignored
 * (a double outside long long's range must not be converted). */
static void take_count(long long *dst, const cJSON *v)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15)
        *dst = (long long)v->valuedouble;
}

static void take_usage(struct gw_request *r, const cJSON *usage)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
    take_count(&r->prompt_tokens, cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens"));
    take_count(&r->completion_tokens, cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens"));
    if (d)
        take_count(&r->cached_tokens, cJSON_GetObjectItemCaseSensitive(d, "cached_tokens"));
}

/* ---- upstream callbacks (upstream thread) ------------------------------- */

static void on_headers(struct gw_request *r, long status, const char *ctype,
                       const char *retry_after)
{
    struct openai_state *st = state(r);
    st->status = status;
    if (retry_after)
        gw_request_add_header(r, "retry-after", retry_after);
    if (r->stream && status >= 200 && status < 300) {
        pthread_mutex_lock(&r->mu);
        r->streaming = 1;
        r->status = 200;
        r->content_type = "text/event-stream";
        r->ready = 1;
        gw_http_wake_locked(r);
        pthread_mutex_unlock(&r->mu);
    }
}

/* One SSE event for a /v1/messages client: every chunk is translated. */
static int on_event_anthropic(struct gw_request *r, const char *data, size_t data_len)
{
    struct openai_state *st = state(r);
    if (data_len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        st->done_seen = 1;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(data, data_len);
    if (!cJSON_IsObject(j)) {
        gw_debug("%s: skipped an upstream event that is not a JSON object", r->id);
        cJSON_Delete(j);
        return 0;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(usage))
        take_usage(r, usage);
    gw_msg_openai_chunk(&st->msg, j, &st->relay);
    cJSON_Delete(j);
    return 0;
}

/* One SSE event from upstream: note usage, decide whether the client sees it. */
static int on_event(void *ctx, const char *raw, size_t raw_len, const char *data, size_t data_len)
{
    struct gw_request *r = ctx;
    struct openai_state *st = state(r);
    if (st->anthropic)
        return on_event_anthropic(r, data, data_len);
    if (data_len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        st->done_seen = 1;
    } else if (data_len && memmem(data, data_len, "\"usage\":{", 9)) {
        cJSON *j = cJSON_ParseWithLength(data, data_len);
        const cJSON *usage = j ? cJSON_GetObjectItemCaseSensitive(j, "usage") : NULL;
        if (cJSON_IsObject(usage))
            take_usage(r, usage);
        const cJSON *choices = j ? cJSON_GetObjectItemCaseSensitive(j, "choices") : NULL;
        int usage_only = cJSON_IsArray(choices) && !choices->child;
        cJSON_Delete(j);
        if (usage_only && !r->client_wants_usage)
            return 0; /* asked for by the gateway, not by the client */
    }
    return gw_buf_append(&st->relay, raw, raw_len) == 0 ? 0 : -1;
}

static size_t on_data(struct gw_request *r, const char *data, size_t len)
{
    struct openai_state *st = state(r);
    int streaming;
    pthread_mutex_lock(&r->mu);
    streaming = r->streaming;
    if (streaming && !r->client_gone && r->out.len >= (size_t)r->cfg->limits.stream_buffer_bytes) {
        r->paused = 1; /* the client reads slower than upstream writes */
        pthread_mutex_unlock(&r->mu);
        return GW_UPSTREAM_PAUSE;
    }
    pthread_mutex_unlock(&r->mu);

    if (!streaming) {
        if (st->body.len + len > (size_t)r->cfg->limits.max_response_bytes) {
            st->too_large = 1;
            return 0; /* abort the transfer */
        }
        return gw_buf_append(&st->body, data, len) == 0 ? len : 0;
    }
    gw_buf_reset(&st->relay);
    if (gw_sse_feed(&st->sse, data, len, on_event, r) != 0) {
        st->too_large = 1;
        return 0;
    }
    if (st->relay.len) {
        pthread_mutex_lock(&r->mu);
        if (!r->client_gone)
            gw_buf_append(&r->out, st->relay.data, st->relay.len);
        gw_http_wake_locked(r);
        pthread_mutex_unlock(&r->mu);
    }
    return len;
}

static void finish_stream(struct gw_request *r, enum gw_upstream_result res, const char *detail)
{
    struct openai_state *st = state(r);
    gw_pipeline_done(r); /* usage is final: settle before the client sees the end */
    pthread_mutex_lock(&r->mu);
    if (!st->done_seen) {
        const char *code = res == GW_UP_TIMEOUT ? "upstream_timeout" : "upstream_stream_error";
        char msg[400];
        snprintf(msg, sizeof msg, "The upstream stream ended before completion: %s",
                 detail ? detail : "no [DONE] event");
        if (st->anthropic)
            gw_msg_fail(&st->msg, &r->out, code, msg);
        else
            gw_error_stream_event(r, &r->out, "upstream_error", code, msg);
        gw_warn("%s: stream from %s broke: %s", r->id, r->provider->name, msg);
    } else if (st->anthropic) {
        gw_msg_close(&st->msg, &r->out);
    }
    r->upstream_done = 1;
    gw_http_wake_locked(r);
    pthread_mutex_unlock(&r->mu);
}

static void finish_whole(struct gw_request *r, enum gw_upstream_result res, const char *detail)
{
    struct openai_state *st = state(r);
    const char *pname = r->provider->name;
    if (res == GW_UP_REFUSED) {
        gw_error_respond(r, 502, "upstream_error", "upstream_unreachable", NULL,
                         "Could not reach provider '%s': %s", pname, detail);
    } else if (res == GW_UP_TIMEOUT) {
        gw_error_respond(r, 504, "upstream_error", "upstream_timeout", NULL,
                         "Provider '%s' did not answer in time: %s", pname, detail);
    } else if (st->too_large) {
        gw_error_respond(r, 502, "upstream_error", "upstream_bad_response", NULL,
                         "Provider '%s' sent a response larger than max_response_bytes.", pname);
    } else if (res != GW_UP_OK) {
        gw_error_respond(r, 502, "upstream_error", "upstream_error", NULL,
                         "The transfer from provider '%s' failed: %s", pname, detail);
    } else {
        cJSON *j = cJSON_ParseWithLength(st->body.data ? st->body.data : "", st->body.len);
        int ok2xx = st->status >= 200 && st->status < 300;
        if (ok2xx && cJSON_IsObject(j)) {
            const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
            if (cJSON_IsObject(usage))
                take_usage(r, usage);
            if (st->counted_prompt >= 0 &&
                !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens")))
                r->prompt_tokens = st->counted_prompt; /* no usage upstream: bill our count */
            r->status = (int)st->status;
            r->content_type = "application/json";
            gw_buf_free(&r->out);
            if (st->anthropic) {
                gw_msg_openai_completion(&st->msg, j, &r->out);
                gw_msg_close(&st->msg, &r->out);
            } else {
                r->out = st->body; /* hand the upstream's bytes over unchanged */
                memset(&st->body, 0, sizeof st->body);
            }
        } else if (ok2xx) {
            gw_error_respond(r, 502, "upstream_error", "upstream_bad_response", NULL,
                             "Provider '%s' returned a body that is not a JSON object.", pname);
        } else {
            gw_error_upstream(r, (int)st->status, &st->body, pname);
        }
        cJSON_Delete(j);
    }
    pthread_mutex_lock(&r->mu);
    r->ready = 1;
    r->upstream_done = 1;
    gw_http_wake_locked(r);
    pthread_mutex_unlock(&r->mu);
}

static void on_done(struct gw_request *r, enum gw_upstream_result res, const char *detail)
{
    int streaming;
    pthread_mutex_lock(&r->mu);
    streaming = r->streaming;
    pthread_mutex_unlock(&r->mu);
    if (streaming)
        finish_stream(r, res, detail);
    else
        finish_whole(r, res, detail);
}

static const struct gw_transfer_ops transfer_ops = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_done = on_done,
};

/* ---- request side (MHD thread) ------------------------------------------ */

static struct openai_state *state_new(struct gw_request *r)
{
    struct openai_state *st = gw_arena_calloc(r->arena, sizeof *st);
    gw_arena_on_destroy(r->arena, state_free, st);
    st->counted_prompt = -1;
    r->provider_state = st;
    return st;
}

/* Sends r->json, with the deployment's model substituted, to
 * {base_url}{path} with the provider's key; the answer comes back through
 * transfer_ops (streamed if r->stream, else whole through finish_whole). */
static enum gw_stage_rc send_json(struct gw_request *r, const char *path)
{
    const struct gw_provider_cfg *p = r->provider;
    cJSON_ReplaceItemInObjectCaseSensitive(r->json, "model",
                                           cJSON_CreateString(r->deployment->model));
    char *body = cJSON_PrintUnformatted(r->json);
    if (!body) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    char url[2048];
    snprintf(url, sizeof url, "%s%s", p->base_url, path);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, r->stream ? "Accept: text/event-stream" : "Accept: application/json");
    if (p->api_key) {
        struct gw_buf auth = {0};
        gw_buf_printf(&auth, "Authorization: Bearer %s", p->api_key);
        h = curl_slist_append(h, auth.data);
        gw_buf_free(&auth);
    }
    struct gw_upstream_spec spec = {
        .url = url,
        .headers = h,
        .body = body,
        .body_len = strlen(body),
        .timeouts = r->model->timeouts,
        .ops = &transfer_ops,
    };
    if (gw_upstream_submit(r, &spec) != 0) {
        gw_error_respond(r, 503, "server_error", "shutting_down", NULL,
                         "The gateway is shutting down; retry on another instance.");
        return GW_STAGE_RESPOND;
    }
    return GW_STAGE_ASYNC;
}

static enum gw_stage_rc chat(struct gw_request *r)
{
    struct openai_state *st = state_new(r);
    if (r->api == GW_API_MESSAGES) {
        if (cJSON_GetObjectItemCaseSensitive(r->json, "top_k")) {
            gw_error_respond(r, 400, "invalid_request_error", "unsupported_parameter", "top_k",
                             "top_k: provider '%s' speaks the OpenAI format, which cannot "
                             "express top_k; leave it out for this model.",
                             r->provider->name);
            return GW_STAGE_RESPOND;
        }
        st->anthropic = 1;
        gw_msg_init(&st->msg, r);
    }
    if (r->stream) {
        cJSON *so = cJSON_GetObjectItemCaseSensitive(r->json, "stream_options");
        if (!cJSON_IsObject(so)) {
            cJSON_DeleteItemFromObjectCaseSensitive(r->json, "stream_options");
            so = cJSON_AddObjectToObject(r->json, "stream_options");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
        cJSON_AddTrueToObject(so, "include_usage");
    }
    return send_json(r, "/chat/completions");
}

/* POST {base_url}/embeddings: never streamed, so the answer takes chat's
 * non-streamed path (finish_whole): passed on unchanged, usage from its
 * usage.prompt_tokens, errors and timeouts answered as for chat. */
static enum gw_stage_rc embeddings(struct gw_request *r)
{
    struct openai_state *st = state_new(r);
    st->counted_prompt = gw_tokens_input(r);
    return send_json(r, "/embeddings");
}

const struct gw_provider_ops gw_provider_openai = {
    .type = "openai",
    .chat = chat,
    .embeddings = embeddings,
};

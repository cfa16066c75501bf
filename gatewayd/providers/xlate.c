/* The translated upstream transfer (see xlate.h).
 *
 * DESIGN: the same shape as the OpenAI adapter's relay. A 2xx answer to a
 * streaming request starts the client's stream at its response head; each
 * body chunk is decoded at once into a scratch buffer (x->relay_buf) and
 * moved to r->out under r->mu, so the client sees a piece as soon as the
 * provider sends it. Anything else is read whole (bounded by
 * max_response_bytes) and answered at the end: decoded by the codec, or, for
 * a non-2xx status, re-shaped into the caller's error format with the
 * provider's own message (a 401 or 403 becomes a 502 upstream_auth_failed:
 * the credential at fault is the gateway's, not the caller's). A stream that ends before the codec
 * saw the provider's end of answer ends with the caller's error event.
 * Every piece of a stream is handed over in one place (deliver), which also
 * keeps the copy that durable answers store (durable.h); a stream that ends
 * short is billed from that copy (count_received, received.h). */
#include "xlate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "errors.h"
#include "http.h"
#include "log.h"
#include "provider.h"
#include "received.h"
#include "request.h"
#include "retry.h"
#include "route.h"
#include "tokens.h"
#include "upstream.h"

static void xlate_free(void *p)
{
    struct gw_xlate *x = p;
    gw_sse_free(&x->sse);
    gw_buf_free(&x->body);
    gw_buf_free(&x->relay_buf);
    gw_answer_free(&x->ans);
}

static struct gw_xlate *xl(struct gw_request *r)
{
    return r->provider_state;
}

void gw_xlate_count(long long *dst, const cJSON *v)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15)
        *dst = (long long)v->valuedouble;
}

int gw_xlate_bad_answer(struct gw_xlate *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->fail_msg, sizeof x->fail_msg, fmt, ap);
    va_end(ap);
    return -1;
}

void gw_xlate_fail(struct gw_xlate *x, const char *code, const char *message)
{
    if (x->failed)
        return;
    x->failed = 1;
    if (x->relay)
        gw_error_stream_event(x->r, x->out, "upstream_error", code, message);
    else
        gw_answer_fail(&x->ans, x->out, code, message);
    gw_warn("%s: provider %s reported an error mid-answer: %s", x->r->id, x->r->provider->name,
            message);
}

/* ---- upstream callbacks (upstream thread) ------------------------------- */

static void on_headers(struct gw_request *r, long status, const char *ctype,
                       const char *retry_after)
{
    struct gw_xlate *x = xl(r);
    x->status = status;
    if (retry_after) /* passed on with the final answer (a retry may follow) */
        snprintf(x->retry_after, sizeof x->retry_after, "%s", retry_after);
    if (r->stream && status >= 200 && status < 300) {
        if (x->retry_after[0])
            gw_request_add_header(r, "retry-after", x->retry_after);
        pthread_mutex_lock(&r->mu);
        r->streaming = 1;
        r->status = 200;
        r->content_type = "text/event-stream";
        r->ready = 1;
        gw_http_wake_locked(r);
        pthread_mutex_unlock(&r->mu);
    }
}

static int on_event(void *ctx, const char *raw, size_t raw_len, const char *data, size_t n)
{
    struct gw_xlate *x = ctx;
    int rc = x->codec->event(x, data, n);
    if (rc == GW_XLATE_SKIP)
        return 0;
    if (x->relay && gw_buf_append(x->out, raw, raw_len) != 0)
        return -1;
    return rc;
}

int gw_xlate_decode(struct gw_xlate *x, const char *p, size_t n)
{
    int rc = x->codec->event ? gw_sse_feed(&x->sse, p, n, on_event, x) : x->codec->feed(x, p, n);
    if (rc != 0 && !x->fail_msg[0])
        gw_xlate_bad_answer(x, "the stream could not be decoded");
    return rc;
}

void gw_xlate_end(struct gw_xlate *x, const char *code, const char *detail)
{
    if (x->failed) {
        /* the provider's error event has been passed on */
    } else if (!x->complete) {
        char msg[400];
        snprintf(msg, sizeof msg, "The upstream stream ended before completion: %s",
                 x->fail_msg[0] ? x->fail_msg
                 : detail       ? detail
                                : "no end-of-answer event");
        gw_xlate_fail(x, code, msg);
    } else if (!x->relay) {
        gw_answer_close(&x->ans, x->out);
    }
}

int gw_xlate_decode_whole(struct gw_xlate *x, const cJSON *body)
{
    if (x->codec->whole(x, body) != 0 || x->failed)
        return -1;
    if (!x->relay && !x->codec->writes_answer)
        gw_answer_close(&x->ans, x->out);
    return 0;
}

/* Hands x->relay_buf to the client (r->mu held): into r->out while the
 * client is there, and to the copy a durable answer is stored from. */
static void deliver(struct gw_request *r, struct gw_xlate *x)
{
    if (!x->relay_buf.len)
        return;
    if (!r->client_gone)
        gw_buf_append(&r->out, x->relay_buf.data, x->relay_buf.len);
    gw_durable_keep(r, x->relay_buf.data, x->relay_buf.len);
    gw_buf_reset(&x->relay_buf);
}

static size_t on_data(struct gw_request *r, const char *data, size_t len)
{
    struct gw_xlate *x = xl(r);
    int streaming;
    pthread_mutex_lock(&r->mu);
    streaming = r->streaming;
    if (streaming && !r->client_gone && r->out.len >= (size_t)r->cfg->limits.stream_buffer_bytes) {
        r->paused = 1; /* the client reads slower than the provider writes */
        pthread_mutex_unlock(&r->mu);
        return GW_UPSTREAM_PAUSE;
    }
    pthread_mutex_unlock(&r->mu);

    if (!streaming) {
        if (x->body.len + len > (size_t)r->cfg->limits.max_response_bytes) {
            x->too_large = 1;
            return 0; /* abort the transfer */
        }
        return gw_buf_append(&x->body, data, len) == 0 ? len : 0;
    }
    gw_buf_reset(&x->relay_buf);
    x->out = &x->relay_buf;
    int rc = gw_xlate_decode(x, data, len);
    if (x->relay_buf.len) {
        pthread_mutex_lock(&r->mu);
        deliver(r, x);
        gw_http_wake_locked(r);
        pthread_mutex_unlock(&r->mu);
    }
    return rc == 0 ? len : 0;
}

/* A stream that ended short (broken, timed out, or the provider's error
 * event): the provider's final usage never came, so the counts are filled
 * in with what the gateway knows, for the usage row and for the done hooks
 * (budgets and rate limits settle on them). The prompt: the provider's
 * count if it gave one (Anthropic's message_start does), else the
 * gateway's; gw_tokens_input may run here, on the upstream thread, because
 * nothing else touches r's pipeline fields while its transfer runs (a
 * retry's adapter runs on this thread too). The answer: the larger of the
 * provider's partial count and the tokens of the text the client received
 * (received.h). */
static void count_received(struct gw_request *r)
{
    if (r->prompt_tokens <= 0)
        r->prompt_tokens = gw_tokens_input(r);
    int capped = 0;
    long long got = gw_received_tokens(r, &capped);
    if (got > r->completion_tokens)
        r->completion_tokens = got;
    if (capped)
        gw_debug("%s: the broken stream's answer tokens are counted from the part of it kept "
                 "(durable_answers.max_bytes)",
                 r->id);
}

static void finish_stream(struct gw_request *r, enum gw_upstream_result res, const char *detail)
{
    struct gw_xlate *x = xl(r);
    const char *code = res == GW_UP_TIMEOUT ? "upstream_timeout" : "upstream_stream_error";
    if (!x->failed && !x->complete) /* known now, for the done hooks (the breaker) */
        r->error = code;
    if (x->failed || !x->complete)
        count_received(r); /* before the done hooks settle on the counts */
    gw_pipeline_done(r);   /* usage is final: settle before the client sees the end */
    pthread_mutex_lock(&r->mu);
    gw_buf_reset(&x->relay_buf);
    x->out = &x->relay_buf;
    r->kept.broken = x->failed || !x->complete;
    gw_xlate_end(x, code, detail);
    deliver(r, x);
    r->upstream_done = 1;
    gw_http_wake_locked(r);
    pthread_mutex_unlock(&r->mu);
}

/* The provider's message in a non-2xx body: Anthropic's, Google's and
 * OpenAI's error.message, or Bedrock's top-level message. */
static const char *error_message(const cJSON *j)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_IsObject(e) ? e : j, "message");
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(j, "Message");
    return cJSON_IsString(m) && *m->valuestring ? m->valuestring : NULL;
}

static const char *error_type(int status)
{
    switch (status) {
    case 400:
    case 404:
    case 413:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_error";
    }
    return "upstream_error";
}

static void answer_error(struct gw_request *r, cJSON *j)
{
    struct gw_xlate *x = xl(r);
    int status = (int)x->status;
    char code[32];
    snprintf(code, sizeof code, "upstream_http_%d", status);
    const char *m = j ? error_message(j) : NULL;
    if (status == 401 || status == 403) {
        /* the gateway's credential, not the caller's: a 401 would tell the
         * caller its own key is wrong */
        gw_error_respond(r, 502, "upstream_error", "upstream_auth_failed", NULL,
                         "Provider '%s' refused the gateway's credentials (HTTP %d): %s",
                         r->provider->name, status, m ? m : "no message");
        return;
    }
    if (x->relay && j && cJSON_GetObjectItemCaseSensitive(j, "error")) {
        /* the caller speaks the provider's format, errors included */
        r->status = status;
        r->content_type = "application/json";
        gw_buf_free(&r->out);
        r->out = x->body;
        memset(&x->body, 0, sizeof x->body);
        r->error = gw_arena_strdup(r->arena, code);
        return;
    }
    if (m)
        gw_error_respond(r, status, error_type(status), code, NULL, "%s", m);
    else
        gw_error_respond(r, status, error_type(status), code, NULL,
                         "Provider '%s' answered with HTTP %d.", r->provider->name, status);
}

static void answer_whole(struct gw_request *r)
{
    struct gw_xlate *x = xl(r);
    const char *pname = r->provider->name;
    cJSON *j = cJSON_ParseWithLength(x->body.data ? x->body.data : "", x->body.len);
    int ok2xx = x->status >= 200 && x->status < 300;
    if (!ok2xx) {
        answer_error(r, cJSON_IsObject(j) ? j : NULL);
    } else if (!cJSON_IsObject(j)) {
        gw_error_respond(r, 502, "upstream_error", "upstream_bad_response", NULL,
                         "Provider '%s' returned a body that is not a JSON object.", pname);
    } else {
        struct gw_buf out = {0};
        x->out = &out;
        if (gw_xlate_decode_whole(x, j) != 0) {
            gw_error_respond(r, 502, "upstream_error", "upstream_bad_response", NULL,
                             "Provider '%s' returned an answer the gateway cannot read: %s", pname,
                             x->fail_msg[0] ? x->fail_msg : "malformed");
        } else {
            r->status = (int)x->status;
            r->content_type = "application/json";
            gw_buf_free(&r->out);
            if (x->relay) {
                r->out = x->body; /* the provider's bytes, unchanged */
                memset(&x->body, 0, sizeof x->body);
            } else {
                r->out = out;
                memset(&out, 0, sizeof out);
            }
        }
        gw_buf_free(&out);
    }
    cJSON_Delete(j);
}

/* Whether a provider's 400 says the prompt does not fit the model's context
 * window (then context_window_fallbacks apply). The patterns:
 *   OpenAI (and OpenAI-compatible): error.code "context_length_exceeded";
 *   Anthropic: error.message containing "prompt is too long";
 *   either: a message containing "maximum context length" or
 *   "context window". */
static int context_window_exceeded(const struct gw_xlate *x)
{
    if (x->status != 400 || !x->body.len)
        return 0;
    cJSON *j = cJSON_ParseWithLength(x->body.data, x->body.len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
    const char *m = cJSON_IsObject(j) ? error_message(j) : NULL;
    int yes = (cJSON_IsString(code) && strcmp(code->valuestring, "context_length_exceeded") == 0) ||
              (m && (strstr(m, "prompt is too long") || strstr(m, "maximum context length") ||
                     strstr(m, "context window")));
    cJSON_Delete(j);
    return yes;
}

/* What a whole (or not started) answer that failed allows: -1 answer it,
 * else why it is retried (unreachable, timed out, broken before the answer,
 * 429, 500, 502, 503, 504; a context window exceeded goes to the
 * context-window fallbacks). */
static int retry_kind(const struct gw_xlate *x, enum gw_upstream_result res)
{
    if (res == GW_UP_REFUSED)
        return GW_RETRY_UNREACHABLE;
    if (res == GW_UP_TIMEOUT)
        return GW_RETRY_TIMEOUT;
    if (res == GW_UP_ERROR)
        return GW_RETRY_BROKEN;
    if (res != GW_UP_OK || x->too_large)
        return -1;
    switch (x->status) {
    case 429:
        return GW_RETRY_RATE_LIMITED; /* a pooled key rests (route.h) */
    case 500:
    case 502:
    case 503:
    case 504:
        return GW_RETRY_SERVER_ERROR;
    }
    return context_window_exceeded(x) ? GW_RETRY_CONTEXT_WINDOW : -1;
}

void gw_xlate_complete(struct gw_request *r)
{
    pthread_mutex_lock(&r->mu);
    r->ready = 1;
    r->upstream_done = 1;
    gw_http_wake_locked(r);
    pthread_mutex_unlock(&r->mu);
}

/* The retry's call, once its wait is over (upstream thread): the failed
 * attempt's answer is dropped and the new target's adapter runs. A client
 * that left during the wait gets no more attempts: the last error stands. */
static void call_again(struct gw_request *r)
{
    pthread_mutex_lock(&r->mu);
    int gone = r->client_gone;
    if (!gone)
        gw_buf_reset(&r->out);
    pthread_mutex_unlock(&r->mu);
    if (!gone) {
        gw_route_retry_started(r);
        r->status = 0;
        r->content_type = NULL;
        r->error = NULL;
        r->t_up_first_us = 0;
        r->provider_state = NULL;
        if (gw_dispatch(r) == GW_STAGE_ASYNC)
            return;
    }
    gw_xlate_complete(r);
}

/* Asks the route layer for another attempt (why: retry_kind); 1 when one
 * is scheduled. */
static int retry(struct gw_request *r, int why)
{
    struct gw_xlate *x = xl(r);
    pthread_mutex_lock(&r->mu);
    int gone = r->client_gone;
    pthread_mutex_unlock(&r->mu);
    long long delay_ms = 0, after_ms = gw_retry_after_ms(x->retry_after[0] ? x->retry_after : NULL);
    if (gone && why == GW_RETRY_RATE_LIMITED)
        gw_route_key_limited(r, after_ms); /* no retry, but the key rests all the same */
    if (gone || gw_route_retry(r, (enum gw_retry_reason)why, after_ms, &delay_ms) != 0)
        return 0;
    gw_info("%s: retrying (%s) on %s/%s in %lld ms (attempt %d)", r->id,
            gw_retry_reason_name((enum gw_retry_reason)why), r->provider->name,
            r->deployment->model, delay_ms, r->attempts);
    return gw_upstream_after(r, delay_ms, call_again) == 0;
}

static void finish_whole(struct gw_request *r, enum gw_upstream_result res, const char *detail)
{
    struct gw_xlate *x = xl(r);
    const char *pname = r->provider->name;
    int why = retry_kind(x, res); /* before the answer takes the body */
    if (res == GW_UP_REFUSED)
        gw_error_respond(r, 502, "upstream_error", "upstream_unreachable", NULL,
                         "Could not reach provider '%s': %s", pname, detail);
    else if (res == GW_UP_TIMEOUT)
        gw_error_respond(r, 504, "upstream_error", "upstream_timeout", NULL,
                         "Provider '%s' did not answer in time: %s", pname, detail);
    else if (x->too_large)
        gw_error_respond(r, 502, "upstream_error", "upstream_bad_response", NULL,
                         "Provider '%s' sent a response larger than max_response_bytes.", pname);
    else if (res != GW_UP_OK)
        gw_error_respond(r, 502, "upstream_error", "upstream_error", NULL,
                         "The transfer from provider '%s' failed: %s", pname, detail);
    else
        answer_whole(r);
    if (why >= 0 && retry(r, why))
        return; /* the error answered above is the last one if nothing else works */
    if (x->retry_after[0])
        gw_request_add_header(r, "retry-after", x->retry_after);
    gw_xlate_complete(r);
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

enum gw_stage_rc gw_xlate_submit(struct gw_request *r, const struct gw_xlate_codec *codec,
                                 void *codec_state, int relay, const char *url,
                                 struct curl_slist *headers, char *body, size_t body_len)
{
    struct gw_xlate *x = gw_arena_calloc(r->arena, sizeof *x);
    gw_arena_on_destroy(r->arena, xlate_free, x);
    x->r = r;
    x->codec = codec;
    x->codec_state = codec_state;
    x->relay = relay;
    x->out = &x->relay_buf;
    gw_answer_init(&x->ans, r);
    r->provider_state = x;
    struct gw_upstream_spec spec = {
        .url = url,
        .headers = headers,
        .body = body,
        .body_len = body_len,
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

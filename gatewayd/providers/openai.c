/* The OpenAI wire format as an upstream: OpenAI itself and every compatible
 * server (Groq, Mistral, DeepSeek, xAI, Fireworks, OpenRouter, Together,
 * Ollama, vLLM). The request body is the client's bytes, with only the
 * upstream model name spliced in and, for streams, stream_options.include_usage
 * switched on so usage is always counted (re-serialised only when the splice
 * cannot be trusted); the extra usage chunk is hidden from a client
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
 * The transfer is the translated providers' (xlate.h), in relay mode for
 * OpenAI-format callers; this file is the codec that reads usage and
 * completion out of the answer (and, for /v1/messages, translates it).
 *
 * A chat request whose answer's text must be read (r->text_filtered: PII
 * restoration, the output guard) is not relayed either: its chunks are
 * decoded into the caller's writer (answer.h) as a /v1/messages answer's
 * are, and written again as OpenAI chunks with the gateway's id, the
 * model the caller asked for and the upstream's usage. Such a request may
 * not ask for n > 1 or logprobs, which that path does not carry (400).
 *
 * Threads: chat() and embeddings() run on the MHD thread; the codec on the
 * upstream thread. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "errors.h"
#include "json_member.h"
#include "log.h"
#include "provider.h"
#include "request.h"
#include "tokens.h"
#include "xlate.h"

/* The codec's per-request state (r's arena). */
struct openai_codec {
    /* the gateway's count of the input, billed when a 2xx answer reports no
     * usage.prompt_tokens; -1: trust the upstream (chat) */
    long long counted_prompt;
};

/* A token count from the provider; anything but a sane number is ignored. */
static void take_usage(struct gw_request *r, const cJSON *usage)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
    gw_xlate_count(&r->prompt_tokens, cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens"));
    gw_xlate_count(&r->completion_tokens,
                   cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens"));
    if (d)
        gw_xlate_count(&r->cached_tokens, cJSON_GetObjectItemCaseSensitive(d, "cached_tokens"));
}

/* ---- decoding into the caller's writer (answer.h) ------------------------ */

/* A message or a delta: content and refusal as text, tool calls by their
 * index (an empty content still goes: it opens an Anthropic text block). */
static int answer_parts(struct gw_xlate *x, const cJSON *m)
{
    static const char *const texts[] = {"content", "refusal"};
    for (int i = 0; i < 2; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, texts[i]);
        if (cJSON_IsString(t) &&
            gw_answer_text(&x->ans, t->valuestring, strlen(t->valuestring), x->out) != 0)
            return -1;
    }
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    int i = 0;
    for (const cJSON *c = cJSON_IsArray(calls) ? calls->child : NULL; c; c = c->next, i++) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(c, "index");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        int key = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                      ? (int)idx->valuedouble
                      : i;
        const char *a = cJSON_IsString(args) ? args->valuestring : "";
        if (gw_answer_tool(&x->ans, key, cJSON_IsString(id) ? id->valuestring : NULL,
                           cJSON_IsString(name) ? name->valuestring : NULL, a, strlen(a),
                           x->out) != 0)
            return -1;
    }
    return 0;
}

static const cJSON *first_choice(const cJSON *j)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    return cJSON_IsArray(choices) && cJSON_IsObject(choices->child) ? choices->child : NULL;
}

/* A chat.completion.chunk (or an in-stream {"error":...}). */
static int answer_chunk(struct gw_xlate *x, const cJSON *j)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (err) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
        gw_answer_fail(&x->ans, x->out, "upstream_stream_error",
                       cJSON_IsString(m) ? m->valuestring : "The provider reported an error.");
        return 0;
    }
    const cJSON *c = first_choice(j);
    if (!c)
        return 0; /* the usage chunk: usage is taken by the caller */
    if (answer_parts(x, cJSON_GetObjectItemCaseSensitive(c, "delta")) != 0)
        return gw_xlate_bad_answer(x, "the answer could not be written");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    if (cJSON_IsString(fr))
        gw_answer_finish(&x->ans, fr->valuestring, x->out);
    return 0;
}

/* A whole chat.completion. */
static int answer_completion(struct gw_xlate *x, const cJSON *body)
{
    const cJSON *c = first_choice(body);
    if (!c)
        return 0;
    if (answer_parts(x, cJSON_GetObjectItemCaseSensitive(c, "message")) != 0)
        return gw_xlate_bad_answer(x, "the answer could not be written");
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    gw_answer_finish(&x->ans, cJSON_IsString(fr) ? fr->valuestring : NULL, x->out);
    return 0;
}

/* ---- the codec (upstream thread) ---------------------------------------- */

/* One SSE event. Relayed (a chat caller): only usage is read, from the
 * events that carry it, and the usage-only chunk the gateway asked for is
 * kept from a client that did not. Decoded (a /v1/messages caller, or a
 * text-filtered chat caller): every chunk goes through the caller's
 * writer. */
static int on_event(struct gw_xlate *x, const char *data, size_t n)
{
    struct gw_request *r = x->r;
    if (n == 6 && memcmp(data, "[DONE]", 6) == 0) {
        x->complete = 1;
        return x->relay ? 0 : GW_XLATE_SKIP;
    }
    if (x->relay && !(n && memmem(data, n, "\"usage\":{", 9)))
        return 0;
    cJSON *j = cJSON_ParseWithLength(data, n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        if (!x->relay)
            gw_debug("%s: skipped an upstream event that is not a JSON object", r->id);
        return 0;
    }
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(usage))
        take_usage(r, usage);
    int rc = 0;
    if (x->relay) {
        const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
        if (cJSON_IsArray(choices) && !choices->child && !r->client_wants_usage)
            rc = GW_XLATE_SKIP; /* asked for by the gateway, not by the client */
    } else {
        rc = answer_chunk(x, j);
    }
    cJSON_Delete(j);
    return rc;
}

/* A whole chat.completion (or embeddings list): its usage, the gateway's
 * count when it has none; relayed unchanged, or decoded into the caller's
 * writer. */
static int on_whole(struct gw_xlate *x, const cJSON *body)
{
    struct openai_codec *st = x->codec_state;
    struct gw_request *r = x->r;
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(body, "usage");
    if (cJSON_IsObject(usage))
        take_usage(r, usage);
    if (st->counted_prompt >= 0 &&
        !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens")))
        r->prompt_tokens = st->counted_prompt; /* no usage upstream: bill our count */
    return x->relay ? 0 : answer_completion(x, body);
}

static const struct gw_xlate_codec codec = {
    .event = on_event,
    .whole = on_whole,
};

/* ---- request side (MHD thread) ------------------------------------------ */

/* stream_options.include_usage, so a stream always reports its usage. */
static void ask_for_usage(cJSON *json)
{
    cJSON *so = cJSON_GetObjectItemCaseSensitive(json, "stream_options");
    if (!cJSON_IsObject(so)) {
        cJSON_DeleteItemFromObjectCaseSensitive(json, "stream_options");
        so = cJSON_AddObjectToObject(json, "stream_options");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
    cJSON_AddTrueToObject(so, "include_usage");
}

/* The caller's own bytes with only the model's value replaced (and, for a
 * stream whose caller did not ask for usage, stream_options added first
 * thing): malloc'd, its length in *len. NULL when the splice cannot be
 * trusted (json_member.h), a stage rewrote r->json, or stream_options would
 * need editing: then the body is re-serialised from r->json. */
static char *relay_body(struct gw_request *r, size_t *len)
{
    const char *p = r->body.data;
    size_t n = r->body.len;
    struct gw_json_member m, so;
    if (!p || r->json_rewritten || gw_json_member(p, n, "model", &m) != 0 || p[m.val_start] != '"')
        return NULL;
    int add_usage = r->stream && !r->client_wants_usage;
    if (add_usage && gw_json_member(p, n, "stream_options", &so) != 1)
        return NULL;
    struct gw_buf out = {0};
    size_t open = (size_t)m.open + 1;
    int rc = gw_buf_append(&out, p, open);
    if (add_usage) /* the object has a model member, so a comma follows */
        rc |= gw_buf_puts(&out, "\"stream_options\":{\"include_usage\":true},");
    rc |= gw_buf_append(&out, p + open, (size_t)m.val_start - open);
    rc |= gw_buf_json_str(&out, r->deployment->model);
    rc |= gw_buf_append(&out, p + m.val_end, n - (size_t)m.val_end);
    if (rc != 0) {
        gw_buf_free(&out);
        return NULL;
    }
    *len = out.len;
    return out.data; /* the buffer's bytes pass to the caller */
}

/* Sends the caller's body (relay_body) or r->json, with the deployment's
 * model substituted, to {base_url}{path} with the provider's key; the answer comes back through
 * the codec, relayed to an OpenAI-format caller (unless its text is
 * filtered) and translated for a /v1/messages one. counted_prompt: see
 * struct openai_codec. */
static enum gw_stage_rc send_json(struct gw_request *r, const char *path, long long counted_prompt)
{
    const struct gw_provider_cfg *p = r->provider;
    struct openai_codec *st = gw_arena_calloc(r->arena, sizeof *st);
    st->counted_prompt = counted_prompt;
    size_t len = 0;
    char *body = r->api == GW_API_MESSAGES ? NULL : relay_body(r, &len);
    if (!body) { /* a translation, or a body the splice cannot be sure of */
        cJSON_ReplaceItemInObjectCaseSensitive(r->json, "model",
                                               cJSON_CreateString(r->deployment->model));
        if (r->stream)
            ask_for_usage(r->json);
        if ((body = cJSON_PrintUnformatted(r->json)))
            len = strlen(body);
    }
    if (!body) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    char url[2048];
    snprintf(url, sizeof url, "%s%s", p->base_url, path);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, r->stream ? "Accept: text/event-stream" : "Accept: application/json");
    if (r->api_key) { /* this attempt's key of the provider's pool (route.c) */
        struct gw_buf auth = {0};
        gw_buf_printf(&auth, "Authorization: Bearer %s", r->api_key);
        h = curl_slist_append(h, auth.data);
        gw_buf_free(&auth);
    }
    int relay = r->api == GW_API_EMBEDDINGS || (r->api == GW_API_CHAT && !r->text_filtered);
    return gw_xlate_submit(r, &codec, st, relay, url, h, body, len);
}

static enum gw_stage_rc chat(struct gw_request *r)
{
    if (r->api == GW_API_CHAT && r->text_filtered) { /* decoded: one choice, no logprobs */
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(r->json, "n");
        const cJSON *lp = cJSON_GetObjectItemCaseSensitive(r->json, "logprobs");
        const char *param = cJSON_IsNumber(n) && n->valuedouble > 1 ? "n"
                            : cJSON_IsTrue(lp)                      ? "logprobs"
                                                                    : NULL;
        if (param) {
            gw_error_respond(r, 400, "invalid_request_error", "unsupported_parameter", param,
                             "%s: the gateway reads this answer's text (PII restoration or the "
                             "output guard), which it does for one choice without log "
                             "probabilities; leave %s out.",
                             param, param);
            return GW_STAGE_RESPOND;
        }
    }
    if (r->api == GW_API_MESSAGES) {
        if (cJSON_GetObjectItemCaseSensitive(r->json, "top_k")) {
            gw_error_respond(r, 400, "invalid_request_error", "unsupported_parameter", "top_k",
                             "top_k: provider '%s' speaks the OpenAI format, which cannot "
                             "express top_k; leave it out for this model.",
                             r->provider->name);
            return GW_STAGE_RESPOND;
        }
    }
    return send_json(r, "/chat/completions", -1);
}

/* POST {base_url}/embeddings: never streamed; the answer is passed on
 * unchanged, usage from its usage.prompt_tokens (the gateway's count when it
 * has none), errors and timeouts answered as for chat. */
static enum gw_stage_rc embeddings(struct gw_request *r)
{
    return send_json(r, "/embeddings", gw_tokens_input(r));
}

const struct gw_provider_ops gw_provider_openai = {
    .type = "openai",
    .chat = chat,
    .embeddings = embeddings,
};

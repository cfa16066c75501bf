/* The Gemini API (generativelanguage.googleapis.com) as an upstream: chat
 * from both front doors and embeddings.
 *
 * Chat: r->json (the chat-completions form) is translated into a
 * generateContent body (gemini_request.c) and POSTed to
 * {base_url}/v1beta/models/{model}:generateContent, or to
 * :streamGenerateContent?alt=sse for streams; the answer is decoded by the
 * Gemini codec (gemini_answer.c) into the caller's format. The provider's
 * api_key goes in x-goog-api-key; the caller's key never leaves the
 * gateway.
 *
 * Embeddings: every input item (a string, or a token array decoded with
 * the encoding of the model, when it has one) becomes one request of
 * {base_url}/v1beta/models/{model}:batchEmbedContents, `dimensions` its
 * outputDimensionality; the answer is written in OpenAI's embeddings shape,
 * floats or (encoding_format base64) little-endian float32 in base64; more
 * than the 100 items a batch may hold is a 400 (the caller splits). The
 * Gemini API counts no tokens for embeddings, so usage is the gateway's own
 * count of the input (tokens.h). `user` is a caller label and is not sent.
 *
 * A deployment's model is a bare name ("gemini-2.5-flash", sent as
 * "models/gemini-2.5-flash") or a resource name that names its collection
 * ("tunedModels/my-model"), used as written.
 *
 * Threads: chat() and embeddings() run on the MHD thread; the codecs on the
 * upstream thread (xlate.h). */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "errors.h"
#include "gemini.h"
#include "provider.h"
#include "request.h"
#include "tokens.h"

/* The model's resource name into buf. */
static const char *model_name(const struct gw_request *r, char *buf, size_t n)
{
    const char *m = r->deployment->model;
    snprintf(buf, n, "%s%s", strchr(m, '/') ? "" : "models/", m);
    return buf;
}

static struct curl_slist *headers(const struct gw_request *r)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, r->stream ? "Accept: text/event-stream" : "Accept: application/json");
    if (r->api_key) { /* this attempt's key of the provider's pool (route.c) */
        struct gw_buf b = {0};
        gw_buf_printf(&b, "x-goog-api-key: %s", r->api_key);
        h = curl_slist_append(h, b.data);
        gw_buf_free(&b);
    }
    return h;
}

static enum gw_stage_rc chat(struct gw_request *r)
{
    size_t len = 0;
    char *body = gw_gemini_body(r, &len);
    if (!body)
        return GW_STAGE_RESPOND;
    char model[512], url[2048];
    snprintf(url, sizeof url, "%s/v1beta/%s:%s", r->provider->base_url,
             model_name(r, model, sizeof model),
             r->stream ? "streamGenerateContent?alt=sse" : "generateContent");
    return gw_xlate_submit(r, &gw_gemini_codec, NULL, 0, url, headers(r), body, len);
}

/* ---- embeddings --------------------------------------------------------- */

#define GEMINI_EMBED_MAX 100 /* requests in one batchEmbedContents */

struct embed_state {
    int n;   /* input items, in order */
    int b64; /* encoding_format base64 */
};

/* A float as the shortest decimal that reads back as the same double. */
static void put_number(struct gw_buf *o, double v)
{
    char s[40];
    snprintf(s, sizeof s, "%.15g", v);
    if (strtod(s, NULL) != v)
        snprintf(s, sizeof s, "%.17g", v);
    gw_buf_puts(o, s);
}

/* `embedding`: the values as numbers, or as little-endian float32 in
 * standard base64. */
static int put_vector(struct gw_buf *o, const cJSON *values, int b64)
{
    if (!b64) {
        gw_buf_puts(o, "[");
        for (const cJSON *v = values->child; v; v = v->next) {
            if (v != values->child)
                gw_buf_puts(o, ",");
            put_number(o, v->valuedouble);
        }
        return gw_buf_puts(o, "]");
    }
    size_t n = (size_t)cJSON_GetArraySize(values);
    unsigned char *raw = malloc(n * 4 + 1);
    if (!raw)
        return -1;
    size_t k = 0;
    for (const cJSON *v = values->child; v; v = v->next) {
        float f = (float)v->valuedouble;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        for (int b = 0; b < 4; b++)
            raw[k++] = (unsigned char)(u >> (8 * b));
    }
    size_t len = sodium_base64_ENCODED_LEN(k, sodium_base64_VARIANT_ORIGINAL);
    int rc = gw_buf_reserve(o, len + 2);
    if (rc == 0) {
        o->data[o->len++] = '"';
        sodium_bin2base64(o->data + o->len, len, raw, k, sodium_base64_VARIANT_ORIGINAL);
        o->len += len - 1; /* len counts the terminating NUL */
        rc = gw_buf_puts(o, "\"");
    }
    free(raw);
    return rc;
}

/* {"embeddings":[{"values":[...]}, ...]} in OpenAI's shape. */
static int embed_whole(struct gw_xlate *x, const cJSON *body)
{
    const struct embed_state *st = x->codec_state;
    struct gw_request *r = x->r;
    const cJSON *embs = cJSON_GetObjectItemCaseSensitive(body, "embeddings");
    if (!cJSON_IsArray(embs) || cJSON_GetArraySize(embs) != st->n)
        return gw_xlate_bad_answer(x, "expected %d embeddings", st->n);
    struct gw_buf *o = x->out;
    gw_buf_puts(o, "{\"object\":\"list\",\"data\":[");
    int i = 0;
    for (const cJSON *e = embs->child; e; e = e->next, i++) {
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values");
        if (!cJSON_IsArray(values) || !values->child)
            return gw_xlate_bad_answer(x, "embedding %d has no values", i);
        for (const cJSON *v = values->child; v; v = v->next)
            if (!cJSON_IsNumber(v))
                return gw_xlate_bad_answer(x, "embedding %d has a value that is not a number", i);
        gw_buf_printf(o, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", i ? "," : "",
                      i);
        if (put_vector(o, values, st->b64) != 0)
            return gw_xlate_bad_answer(x, "out of memory");
        gw_buf_puts(o, "}");
    }
    gw_buf_puts(o, "],\"model\":");
    gw_buf_json_str(o, r->model_name);
    gw_buf_printf(o, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}\n",
                  r->prompt_tokens, r->prompt_tokens);
    x->complete = 1;
    return 0;
}

static const struct gw_xlate_codec embed_codec = {
    .whole = embed_whole,
    .writes_answer = 1,
};

static enum gw_stage_rc refuse(struct gw_request *r, const char *code, const char *param,
                               const char *msg)
{
    gw_error_respond(r, 400, "invalid_request_error", code, param, "'%s' %s", param, msg);
    return GW_STAGE_RESPOND;
}

/* One request of the batch for the input item at param. */
static enum gw_stage_rc embed_request(struct gw_request *r, const cJSON *item, const char *param,
                                      const char *model, const cJSON *dims, cJSON *requests)
{
    char *decoded = NULL;
    const char *text = cJSON_IsString(item) ? item->valuestring : NULL;
    if (!text) {
        size_t n;
        if (!(text = decoded = gw_tokens_decode(r, item, &n))) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "is a token array, but the model '%s' has no token encoding the gateway "
                     "knows (or an id is not in it); send the text.",
                     r->deployment->model);
            return refuse(r, "invalid_value", param, msg);
        }
    }
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "model", model);
    cJSON *parts = cJSON_AddArrayToObject(cJSON_AddObjectToObject(q, "content"), "parts");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddItemToArray(parts, p);
    if (dims)
        cJSON_AddNumberToObject(q, "outputDimensionality", dims->valuedouble);
    cJSON_AddItemToArray(requests, q);
    free(decoded);
    return GW_STAGE_CONTINUE;
}

static enum gw_stage_rc embeddings(struct gw_request *r)
{
    static const char *const known[] = {"model", "input", "encoding_format", "dimensions", "user"};
    for (const cJSON *k = r->json->child; k; k = k->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(k->string, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof *known && !cJSON_IsNull(k))
            return refuse(r, "unsupported_parameter", k->string,
                          "cannot be expressed in the Gemini API's embeddings; leave it out for "
                          "this model.");
    }
    /* checked by parse_embeddings.c: shapes, dimensions, encoding_format */
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->json, "input");
    const cJSON *dims = cJSON_GetObjectItemCaseSensitive(r->json, "dimensions");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(r->json, "encoding_format");
    if (!cJSON_IsNumber(dims))
        dims = NULL;
    struct embed_state *st = gw_arena_calloc(r->arena, sizeof *st);
    st->b64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    int one = cJSON_IsString(in) || cJSON_IsNumber(in->child); /* a string or one token array */
    if (!one && cJSON_GetArraySize(in) > GEMINI_EMBED_MAX) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "has %d items; the Gemini API embeds at most %d in one request: split the "
                 "input.",
                 cJSON_GetArraySize(in), GEMINI_EMBED_MAX);
        return refuse(r, "invalid_value", "input", msg);
    }
    char model[512];
    model_name(r, model, sizeof model);
    cJSON *body = cJSON_CreateObject();
    cJSON *requests = cJSON_AddArrayToObject(body, "requests");
    for (const cJSON *it = one ? in : in->child; it; it = one ? NULL : it->next, st->n++) {
        char param[32] = "input";
        if (!one)
            snprintf(param, sizeof param, "input[%d]", st->n);
        if (embed_request(r, it, param, model, dims, requests) != GW_STAGE_CONTINUE) {
            cJSON_Delete(body);
            return GW_STAGE_RESPOND;
        }
    }
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    r->prompt_tokens = gw_tokens_input(r);
    char url[2048];
    snprintf(url, sizeof url, "%s/v1beta/%s:batchEmbedContents", r->provider->base_url, model);
    return gw_xlate_submit(r, &embed_codec, st, 0, url, headers(r), text, strlen(text));
}

const struct gw_provider_ops gw_provider_gemini = {
    .type = "gemini",
    .chat = chat,
    .embeddings = embeddings,
};

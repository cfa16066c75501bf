/* The built-in echo provider: answers with the text of the last user message,
 * so a fresh gateway works with no upstream at all. Streamed answers are
 * real OpenAI SSE (role chunk, one chunk per word, finish chunk, optional
 * usage chunk, [DONE]). Token counts are an estimate (one token per four
 * bytes of text, plus three per message), as documented. A /v1/messages
 * request gets the same answer in Anthropic's format, written through the
 * caller's writer (answer.h), and so does a chat request whose answer's
 * text is filtered (r->text_filtered: PII restoration, the output guard),
 * so the echo of a scrubbed prompt comes back with its values restored.
 *
 * Embeddings are local and deterministic: each input item gets 8
 * components (or `dimensions`, at most 3072) derived from a 64-bit hash of
 * its bytes (echo_vector says exactly how), a unit vector rounded to 6
 * decimals, in OpenAI's response shape, as floats or (encoding_format
 * "base64") little-endian float32 in base64; usage is the gateway's count of
 * the input (tokens.h). Equal inputs give equal vectors; nothing about their
 * meaning is captured. */
#include <math.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errors.h"
#include "answer.h"
#include "provider.h"
#include "request.h"
#include "tokens.h"

static void content_text(const cJSON *content, struct gw_buf *out)
{
    if (cJSON_IsString(content)) {
        gw_buf_puts(out, content->valuestring);
        return;
    }
    if (!cJSON_IsArray(content))
        return;
    for (const cJSON *p = content->child; p; p = p->next) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (cJSON_IsString(t)) {
            if (out->len)
                gw_buf_puts(out, " ");
            gw_buf_puts(out, t->valuestring);
        }
    }
}

static void chunk(struct gw_buf *o, const char *id, long long created, const char *model,
                  const char *delta_json, const char *finish, int with_usage_null)
{
    gw_buf_printf(o,
                  "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":%lld,"
                  "\"model\":",
                  id, created);
    gw_buf_json_str(o, model);
    gw_buf_printf(o, ",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]%s}\n\n",
                  delta_json, finish, with_usage_null ? ",\"usage\":null" : "");
}

/* The reply through the caller's writer (answer.h): one text block (or
 * content), streamed a word per piece as the chat stream is. */
static void via_answer(struct gw_request *r, const char *reply)
{
    struct gw_answer a;
    gw_answer_init(&a, r);
    r->content_type = r->stream ? "text/event-stream" : "application/json";
    const char *p = reply;
    do {
        const char *sp = r->stream ? strchr(p, ' ') : NULL;
        size_t n = sp ? (size_t)(sp - p) + 1 : strlen(p);
        gw_answer_text(&a, p, n, &r->out);
        p += n;
    } while (*p);
    gw_answer_finish(&a, "stop", &r->out);
    gw_answer_close(&a, &r->out);
    gw_answer_free(&a);
}

static enum gw_stage_rc chat(struct gw_request *r)
{
    struct gw_buf text = {0}, reply = {0};
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    const cJSON *last_user = NULL;
    for (const cJSON *m = msgs->child; m; m = m->next)
        if (strcmp(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, "user") == 0)
            last_user = m;
    gw_buf_reset(&text);
    if (last_user)
        content_text(cJSON_GetObjectItemCaseSensitive(last_user, "content"), &text);
    gw_buf_puts(&reply, text.len ? text.data : "(nothing to echo)");
    r->prompt_tokens = gw_tokens_input(r);
    r->completion_tokens = gw_tokens_text(r, reply.data, reply.len);

    char id[40];
    memcpy(id, "chatcmpl-", 9);
    memcpy(id + 9, r->id + 4, strlen(r->id + 4) + 1);
    long long created = r->t_start_wall_ms / 1000;
    struct gw_buf *o = &r->out;
    r->status = 200;
    if (r->api == GW_API_MESSAGES || r->text_filtered) {
        via_answer(r, reply.data);
    } else if (!r->stream) {
        r->content_type = "application/json";
        gw_buf_printf(
            o, "{\"id\":\"%s\",\"object\":\"chat.completion\",\"created\":%lld,\"model\":", id,
            created);
        gw_buf_json_str(o, r->model_name);
        gw_buf_puts(o,
                    ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
        gw_buf_json_str(o, reply.data);
        gw_buf_printf(o,
                      "},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{"
                      "\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld}}\n",
                      r->prompt_tokens, r->completion_tokens,
                      r->prompt_tokens + r->completion_tokens);
    } else {
        r->content_type = "text/event-stream";
        int un = r->client_wants_usage;
        chunk(o, id, created, r->model_name, "{\"role\":\"assistant\",\"content\":\"\"}", "null",
              un);
        struct gw_buf word = {0}, delta = {0};
        const char *p = reply.data;
        while (*p) {
            const char *sp = strchr(p, ' ');
            size_t n = sp ? (size_t)(sp - p) + 1 : strlen(p);
            gw_buf_reset(&word);
            gw_buf_append(&word, p, n);
            gw_buf_reset(&delta);
            gw_buf_puts(&delta, "{\"content\":");
            gw_buf_json_str(&delta, word.data);
            gw_buf_puts(&delta, "}");
            chunk(o, id, created, r->model_name, delta.data, "null", un);
            p += n;
        }
        gw_buf_free(&word);
        gw_buf_free(&delta);
        chunk(o, id, created, r->model_name, "{}", "\"stop\"", un);
        if (un) {
            gw_buf_printf(o,
                          "data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\","
                          "\"created\":%lld,\"model\":",
                          id, created);
            gw_buf_json_str(o, r->model_name);
            gw_buf_printf(o,
                          ",\"choices\":[],\"usage\":{\"prompt_tokens\":%lld,"
                          "\"completion_tokens\":%lld,\"total_tokens\":%lld}}\n\n",
                          r->prompt_tokens, r->completion_tokens,
                          r->prompt_tokens + r->completion_tokens);
        }
        gw_buf_puts(o, "data: [DONE]\n\n");
    }
    gw_buf_free(&text);
    gw_buf_free(&reply);
    return GW_STAGE_RESPOND;
}

/* ---- embeddings --------------------------------------------------------- */

#define ECHO_DIMS     8    /* components of an echo embedding by default */
#define ECHO_MAX_DIMS 3072 /* the most `dimensions` may ask for */

/* The echo embedding of bytes[0..len): the FNV-1a 64-bit hash of the bytes
 * seeds a splitmix64 sequence, component i is its i-th output mapped to
 * [-1, 1), and the vector is scaled to unit length and rounded to 6
 * decimals. Equal inputs give equal vectors, on every machine. */
static void echo_vector(const unsigned char *bytes, size_t len, int dims, double *v)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ bytes[i]) * 0x100000001b3ull;
    double norm = 0;
    for (int i = 0; i < dims; i++) {
        uint64_t z = (h += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        v[i] = (double)(z >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
        norm += v[i] * v[i];
    }
    norm = sqrt(norm);
    for (int i = 0; i < dims; i++)
        v[i] = norm > 0 ? round(v[i] / norm * 1e6) / 1e6 : 0;
}

/* One item of `input`: a string hashes its UTF-8 bytes, a token array its
 * ids as 32-bit little-endian integers. */
static int item_vector(const cJSON *item, int dims, double *v, struct gw_buf *scratch)
{
    if (cJSON_IsString(item)) {
        echo_vector((const unsigned char *)item->valuestring, strlen(item->valuestring), dims, v);
        return 0;
    }
    gw_buf_reset(scratch);
    for (const cJSON *t = item->child; t; t = t->next) {
        uint32_t id = (uint32_t)t->valuedouble; /* checked by parse_embeddings.c */
        unsigned char le[4] = {id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, id >> 24};
        if (gw_buf_append(scratch, le, sizeof le) != 0)
            return -1;
    }
    echo_vector((const unsigned char *)scratch->data, scratch->len, dims, v);
    return 0;
}

/* `embedding` as OpenAI sends it: an array of floats, or with
 * encoding_format "base64" the little-endian float32 values in base64. */
static int put_vector(struct gw_buf *o, const double *v, int dims, int b64, struct gw_buf *scratch)
{
    if (!b64) {
        gw_buf_puts(o, "[");
        for (int i = 0; i < dims; i++)
            gw_buf_printf(o, i ? ",%.6f" : "%.6f", v[i]);
        return gw_buf_puts(o, "]");
    }
    gw_buf_reset(scratch);
    for (int i = 0; i < dims; i++) {
        float f = (float)v[i];
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        unsigned char le[4] = {u & 0xff, (u >> 8) & 0xff, (u >> 16) & 0xff, u >> 24};
        if (gw_buf_append(scratch, le, sizeof le) != 0)
            return -1;
    }
    size_t n = sodium_base64_ENCODED_LEN(scratch->len, sodium_base64_VARIANT_ORIGINAL);
    if (gw_buf_reserve(o, n + 2) != 0)
        return -1;
    o->data[o->len++] = '"';
    sodium_bin2base64(o->data + o->len, n, (const unsigned char *)scratch->data, scratch->len,
                      sodium_base64_VARIANT_ORIGINAL);
    o->len += n - 1; /* n counts the terminating NUL */
    return gw_buf_puts(o, "\"");
}

static enum gw_stage_rc embeddings(struct gw_request *r)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->json, "input");
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(r->json, "dimensions");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(r->json, "encoding_format");
    int dims = cJSON_IsNumber(dv) ? (int)dv->valuedouble : ECHO_DIMS; /* checked: 1..2^31-1 */
    if (dims > ECHO_MAX_DIMS) {
        gw_error_respond(r, 400, "invalid_request_error", "invalid_value", "dimensions",
                         "'dimensions' is %d; the echo provider makes at most %d.", dims,
                         ECHO_MAX_DIMS);
        return GW_STAGE_RESPOND;
    }
    int b64 = cJSON_IsString(fmt) && strcmp(fmt->valuestring, "base64") == 0;
    /* one item (a string, or a single token array), or an array of them */
    int one = cJSON_IsString(in) || cJSON_IsNumber(in->child);
    double *v = malloc((size_t)dims * sizeof *v);
    struct gw_buf scratch = {0}, *o = &r->out;
    int rc = v ? 0 : -1;
    gw_buf_reset(o);
    gw_buf_puts(o, "{\"object\":\"list\",\"data\":[");
    int i = 0;
    for (const cJSON *it = one ? in : in->child; it && rc == 0; it = one ? NULL : it->next, i++) {
        gw_buf_printf(o, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", i ? "," : "",
                      i);
        rc = item_vector(it, dims, v, &scratch);
        if (rc == 0)
            rc = put_vector(o, v, dims, b64, &scratch);
        gw_buf_puts(o, "}");
    }
    free(v);
    gw_buf_free(&scratch);
    if (rc != 0) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    r->prompt_tokens = gw_tokens_input(r);
    gw_buf_puts(o, "],\"model\":");
    gw_buf_json_str(o, r->model_name);
    gw_buf_printf(o, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}\n",
                  r->prompt_tokens, r->prompt_tokens);
    r->status = 200;
    r->content_type = "application/json";
    return GW_STAGE_RESPOND;
}

const struct gw_provider_ops gw_provider_echo = {
    .type = "echo",
    .chat = chat,
    .embeddings = embeddings,
};

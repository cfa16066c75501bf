/* libFuzzer target for the answer codecs of the translating adapters
 * (gatewayd/providers/anthropic_answer.c, gemini_answer.c,
 * bedrock_answer.c) and the caller's writers behind them (answer.h), driven
 * as the translated transfer (gatewayd/providers/xlate.c) drives them.
 *
 * Byte 0 = M picks the codec (M % 3: anthropic, gemini, bedrock), the front
 * door (M / 3 % 2: /v1/chat/completions, /v1/messages; an Anthropic answer
 * to a /v1/messages caller is relayed, as gw_anthropic_submit does), the
 * mode (M / 6 % 2: whole, stream) and stream_options.include_usage
 * (M / 12 % 2). Whole: the rest is a body; a JSON object goes to the
 * codec's whole(). Stream: byte N, then N % 8 + 1 piece sizes (each plus
 * one), then the stream, fed in pieces of those sizes (cycled) through
 * the transfer's own gw_xlate_decode (SSE events to the codec's event(), or
 * bedrock's binary event stream to its feed()), until a callback refuses.
 * Unless M / 24 is odd, the CRCs of a bedrock stream's frames are
 * recomputed first, so that mutated payloads and headers reach the codec.
 * Then the end of the transfer, gw_xlate_end: an incomplete stream ends
 * with the caller's error event, a complete one is closed.
 *
 * Checks: usage counters never negative. A whole answer that the codec
 * accepted writes nothing before the close, then one JSON object
 * (chat.completion, or a message with a content array); relayed, nothing.
 * A translated stream writes, in every piece, only whole SSE events:
 * "data: JSON\n\n" (or "data: [DONE]\n\n") for chat, "event: NAME\ndata:
 * JSON\n\n" with data.type == NAME for messages; nothing follows the end
 * ([DONE], message_stop) or an error event, and the stream ends with one of
 * them. Relayed, every piece ends at the end of an event (a blank line). */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "eventstream.h"
#include "fuzz_request.h"
#include "log.h"
#include "providers/anthropic.h"
#include "providers/bedrock.h"
#include "providers/gemini.h"
#include "providers/xlate.h"
#include "request.h"
#include "sse.h"

static const struct gw_provider_cfg provider = {.name = "fuzz-provider"};
static const struct gw_config config = {
    .limits = {.max_response_bytes = 1 << 20, .stream_buffer_bytes = 1 << 20}};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    gw_log_set_level(GW_LOG_ERROR);
    return 0;
}

/* Whole SSE events as the caller's writer makes them; *ended: an end or an
 * error event has been seen (nothing may follow it). */
static void check_events(const struct gw_buf *b, int anthropic, int *ended)
{
    const char *p = b->data ? b->data : "", *end = p + b->len;
    while (p < end) {
        CHECK(!*ended);
        const char *stop = memmem(p, (size_t)(end - p), "\n\n", 2);
        CHECK(stop != NULL);
        const char *name = NULL, *data = p;
        size_t name_len = 0;
        if (anthropic) {
            CHECK(strncmp(p, "event: ", 7) == 0);
            name = p + 7;
            const char *nl = memchr(p, '\n', (size_t)(stop - p));
            CHECK(nl != NULL);
            name_len = (size_t)(nl - name);
            data = nl + 1;
        }
        CHECK(stop - data >= 6 && strncmp(data, "data: ", 6) == 0);
        data += 6;
        size_t len = (size_t)(stop - data);
        CHECK(memchr(data, '\n', len) == NULL);
        if (!anthropic && len == 6 && memcmp(data, "[DONE]", 6) == 0) {
            *ended = 1;
        } else {
            cJSON *j = cJSON_ParseWithLength(data, len);
            CHECK(cJSON_IsObject(j));
            if (anthropic) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
                CHECK(cJSON_IsString(t) && strlen(t->valuestring) == name_len &&
                      memcmp(t->valuestring, name, name_len) == 0);
                *ended = strcmp(t->valuestring, "message_stop") == 0 ||
                         strcmp(t->valuestring, "error") == 0;
            } else {
                *ended = cJSON_GetObjectItemCaseSensitive(j, "error") != NULL;
            }
            cJSON_Delete(j);
        }
        p = stop + 2;
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Rewrites the prelude and message CRCs of the event stream's frames, as
 * far as their lengths make sense. */
static void fix_crcs(unsigned char *p, size_t len)
{
    while (len >= GW_EVS_MIN_LEN) {
        size_t total = be32(p);
        if (total < GW_EVS_MIN_LEN || total > len)
            return;
        put_be32(p + 8, gw_evs_crc32(0, p, 8));
        put_be32(p + total - 4, gw_evs_crc32(0, p, total - 4));
        p += total;
        len -= total;
    }
}

/* Empty, or ending in a blank line (LF or CRLF). */
static int ends_event(const struct gw_buf *b)
{
    if (b->len == 0)
        return 1;
    const char *e = b->data + b->len;
    return b->len >= 2 && e[-1] == '\n' &&
           (e[-2] == '\n' || (b->len >= 3 && e[-2] == '\r' && e[-3] == '\n'));
}

/* Feeds the stream in pieces; returns the first refusal (or 0). */
static int stream(struct gw_xlate *x, const uint8_t *data, size_t size, int fix, struct gw_buf *all)
{
    size_t nsizes = data[0] % 8 + 1;
    if (size < 1 + nsizes)
        return 0;
    const uint8_t *sizes = data + 1;
    size_t len = size - 1 - nsizes, at = 0, k = 0;
    /* an exact-size copy, so that reads past the end are caught */
    char *s = malloc(len ? len : 1);
    CHECK(s != NULL);
    memcpy(s, data + 1 + nsizes, len);
    if (fix && !x->codec->event)
        fix_crcs((unsigned char *)s, len);
    int ended = 0, rc = 0;
    struct gw_buf piece = {0};
    x->out = &piece;
    while (at < len && rc == 0) {
        size_t n = (size_t)sizes[k++ % nsizes] + 1;
        if (n > len - at)
            n = len - at;
        gw_buf_reset(&piece);
        rc = gw_xlate_decode(x, s + at, n);
        at += n;
        if (x->relay)
            CHECK(ends_event(&piece));
        else
            check_events(&piece, x->ans.anthropic, &ended);
        CHECK(gw_buf_append(all, piece.data ? piece.data : "", piece.len) == 0);
    }
    gw_buf_free(&piece);
    free(s);
    return rc;
}

/* The end of a stream, as finish_stream does it. */
static void finish(struct gw_xlate *x, struct gw_buf *out)
{
    size_t before = out->len;
    x->out = out;
    gw_xlate_end(x, "upstream_stream_error", NULL);
    if (x->relay) {
        CHECK(ends_event(out));
        return;
    }
    /* the close is whole events, and the stream now ends with an end or an
     * error event */
    struct gw_buf tail = {.data = out->data ? out->data + before : NULL, .len = out->len - before};
    int ended = 0;
    check_events(&tail, x->ans.anthropic, &ended);
    ended = 0;
    check_events(out, x->ans.anthropic, &ended);
    CHECK(ended);
}

static void whole(struct gw_xlate *x, const uint8_t *data, size_t size, struct gw_buf *out)
{
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return;
    }
    x->out = out;
    if (x->codec->whole(x, j) == 0 && !x->failed) {
        CHECK(out->len == 0);
        if (!x->relay) {
            gw_answer_close(&x->ans, out);
            cJSON *a = cJSON_ParseWithLength(out->data, out->len);
            CHECK(cJSON_IsObject(a));
            const char *field = x->ans.anthropic ? "content" : "choices";
            CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(a, field)));
            cJSON_Delete(a);
        }
    }
    cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const struct gw_xlate_codec *const codecs[] = {&gw_anthropic_codec, &gw_gemini_codec,
                                                          &gw_bedrock_codec};
    unsigned m = data[0];
    struct gw_arena *a = gw_arena_new(4096);
    CHECK(a != NULL);
    struct gw_request *r = gw_arena_calloc(a, sizeof *r);
    CHECK(r != NULL);
    r->arena = a;
    snprintf(r->id, sizeof r->id, "req_0123456789abcdef01234567");
    r->model_name = "fuzz-model";
    r->api = (m / 3) % 2 ? GW_API_MESSAGES : GW_API_CHAT;
    r->stream = (m / 6) % 2;
    r->client_wants_usage = (m / 12) % 2;
    r->input_tokens = 11;
    r->input_tokens_known = 1;
    r->provider = &provider;
    r->cfg = &config;

    /* as gw_xlate_submit sets it up */
    struct gw_xlate x = {0};
    x.r = r;
    x.codec = codecs[m % 3];
    x.codec_state = x.codec == &gw_bedrock_codec ? gw_bedrock_codec_state(r) : NULL;
    x.relay = x.codec == &gw_anthropic_codec && gw_anthropic_relays(r);
    gw_answer_init(&x.ans, r);

    struct gw_buf out = {0};
    if (r->stream) {
        stream(&x, data + 1, size - 1, (m / 24) % 2 == 0, &out);
        finish(&x, &out);
    } else {
        whole(&x, data + 1, size - 1, &out);
    }
    CHECK(r->prompt_tokens >= 0 && r->completion_tokens >= 0);
    CHECK(r->cached_tokens >= 0 && r->cache_write_tokens >= 0);

    gw_buf_free(&out);
    gw_sse_free(&x.sse);
    gw_answer_free(&x.ans);
    gw_arena_destroy(a);
    return 0;
}

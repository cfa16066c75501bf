/* The answer side of the Bedrock adapter: the codec that reads Converse's
 * answers into the caller's format (answer.h through xlate.h).
 *
 * A whole answer: output.message.content[] (text blocks -> text, toolUse
 * blocks -> a tool call whose input object is one argument fragment),
 * stopReason, usage.
 *
 * A stream (ConverseStream) is not SSE but AWS's binary event stream
 * (eventstream.h): each message has a :message-type header. "event"
 * messages carry one JSON event named by :event-type:
 *
 *   messageStart       {role}                                       ignored
 *   contentBlockStart  {contentBlockIndex, start: {toolUse: {toolUseId, name}}}
 *   contentBlockDelta  {contentBlockIndex, delta: {text} | {toolUse: {input}}}
 *                      (input: a fragment of the argument JSON)
 *   contentBlockStop   {contentBlockIndex}                          ignored
 *   messageStop        {stopReason}                                 the finish
 *   metadata           {usage, metrics}                             usage; last
 *
 * The answer is complete once messageStop and metadata have both arrived.
 * "exception" messages (:exception-type, payload {message}) and "error"
 * messages (:error-code, :error-message headers) end the answer with the
 * caller's error event; a frame that fails its CRC or length checks aborts
 * the transfer, which ends the stream with an error event too.
 *
 * Stop reasons: end_turn, stop_sequence -> stop; tool_use -> tool_calls;
 * max_tokens, model_context_window_exceeded -> length;
 * guardrail_intervened, content_filtered -> content_filter.
 * Usage: inputTokens + cacheReadInputTokens + cacheWriteInputTokens is the
 * whole prompt; the cache counts are kept apart for pricing. Reasoning and
 * citation blocks (which the request never asks for) are not passed on. */
#include <stdlib.h>
#include <string.h>

#include "bedrock.h"
#include "eventstream.h"
#include "request.h"

struct bedrock_codec {
    struct gw_evs evs;
    int stopped;   /* messageStop arrived */
    int have_meta; /* metadata arrived */
    int *tools;    /* contentBlockIndex of each toolUse block begun */
    size_t n_tools, cap;
};

static void codec_free(void *p)
{
    struct bedrock_codec *st = p;
    gw_evs_free(&st->evs);
    free(st->tools);
}

void *gw_bedrock_codec_state(struct gw_request *r)
{
    struct bedrock_codec *st = gw_arena_calloc(r->arena, sizeof *st);
    gw_evs_init(&st->evs, 0);
    gw_arena_on_destroy(r->arena, codec_free, st);
    return st;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *finish_reason(const cJSON *stop)
{
    const char *s = cJSON_IsString(stop) ? stop->valuestring : "";
    if (strcmp(s, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(s, "max_tokens") == 0 || strcmp(s, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(s, "guardrail_intervened") == 0 || strcmp(s, "content_filtered") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence */
}

static void take_usage(struct gw_request *r, const cJSON *u)
{
    long long in = 0, out = 0, read = 0, write = 0;
    if (!cJSON_IsObject(u))
        return;
    gw_xlate_count(&in, get(u, "inputTokens"));
    gw_xlate_count(&out, get(u, "outputTokens"));
    gw_xlate_count(&read, get(u, "cacheReadInputTokens"));
    gw_xlate_count(&write, get(u, "cacheWriteInputTokens"));
    r->prompt_tokens = in + read + write;
    r->cached_tokens = read;
    r->cache_write_tokens = write;
    r->completion_tokens = out;
}

/* ---- whole answers -------------------------------------------------------- */

static int whole(struct gw_xlate *x, const cJSON *body)
{
    const cJSON *content = get(get(get(body, "output"), "message"), "content");
    if (!cJSON_IsArray(content))
        return gw_xlate_bad_answer(x, "no output.message.content array");
    int k = 0;
    for (const cJSON *b = content->child; b; b = b->next, k++) {
        const cJSON *text = get(b, "text"), *use = get(b, "toolUse");
        int rc = 0;
        if (cJSON_IsString(text)) {
            rc = gw_answer_text(&x->ans, text->valuestring, strlen(text->valuestring), x->out);
        } else if (cJSON_IsObject(use)) {
            const cJSON *id = get(use, "toolUseId"), *name = get(use, "name");
            const cJSON *input = get(use, "input");
            if (!cJSON_IsString(name) || !*name->valuestring)
                return gw_xlate_bad_answer(x, "a toolUse block without a name");
            char *args = input ? cJSON_PrintUnformatted(input) : NULL;
            const char *a = args ? args : "{}";
            rc = gw_answer_tool(&x->ans, k, cJSON_IsString(id) ? id->valuestring : NULL,
                                name->valuestring, a, strlen(a), x->out);
            cJSON_free(args);
        }
        if (rc != 0)
            return gw_xlate_bad_answer(x, "the answer could not be written");
    }
    gw_answer_finish(&x->ans, finish_reason(get(body, "stopReason")), x->out);
    take_usage(x->r, get(body, "usage"));
    x->complete = 1;
    return 0;
}

/* ---- streams --------------------------------------------------------------- */

/* Has the toolUse block at index begun? Remembers it when begin is set. */
static int tool_begun(struct bedrock_codec *st, int index, int begin)
{
    for (size_t i = 0; i < st->n_tools; i++)
        if (st->tools[i] == index)
            return 1;
    if (!begin)
        return 0;
    if (st->n_tools == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8;
        int *t = realloc(st->tools, cap * sizeof *t);
        if (!t)
            return -1;
        st->tools = t;
        st->cap = cap;
    }
    st->tools[st->n_tools++] = index;
    return 0;
}

/* The string value of header name in m's (checked) header block, copied
 * into buf; NULL when absent or not a string. */
static const char *header_string(const struct gw_evs_message *m, const char *name, char *buf,
                                 size_t size)
{
    static const unsigned char fixed[10] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
    const unsigned char *p = m->headers, *end = p + m->headers_len;
    size_t want = strlen(name);
    while (p < end) {
        size_t name_len = *p++;
        if ((size_t)(end - p) < name_len + 1)
            return NULL;
        const unsigned char *hname = p;
        unsigned type = p[name_len];
        p += name_len + 1;
        size_t len;
        if (type > 9)
            return NULL;
        if (type == 6 || type == 7) {
            if (end - p < 2)
                return NULL;
            len = (size_t)p[0] << 8 | p[1];
            p += 2;
        } else {
            len = fixed[type];
        }
        if ((size_t)(end - p) < len)
            return NULL;
        if (type == 7 && name_len == want && memcmp(hname, name, want) == 0) {
            size_t n = len < size - 1 ? len : size - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            return buf;
        }
        p += len;
    }
    return NULL;
}

/* An exception or error message: the provider's error, passed on. */
static int stream_error(struct gw_xlate *x, const struct gw_evs_message *m)
{
    char code[96], msg[512];
    const char *c = NULL, *text = NULL;
    cJSON *j = NULL;
    if (strcmp(m->message_type, "exception") == 0) {
        c = m->exception_type;
        j = cJSON_ParseWithLength((const char *)m->payload, m->payload_len);
        const cJSON *mm = get(j, "message");
        if (!cJSON_IsString(mm))
            mm = get(j, "Message");
        text = cJSON_IsString(mm) ? mm->valuestring : NULL;
    } else {
        c = header_string(m, ":error-code", code, sizeof code);
        text = header_string(m, ":error-message", msg, sizeof msg);
    }
    if (!c || !*c)
        c = "bedrock_stream_error";
    gw_xlate_fail(x, c, text && *text ? text : c);
    cJSON_Delete(j);
    return 0;
}

static int on_event(struct gw_xlate *x, const char *type, const cJSON *ev)
{
    struct bedrock_codec *st = x->codec_state;
    const cJSON *index = get(ev, "contentBlockIndex");
    int k = cJSON_IsNumber(index) ? index->valueint : 0;
    if (strcmp(type, "contentBlockStart") == 0) {
        const cJSON *use = get(get(ev, "start"), "toolUse");
        if (!cJSON_IsObject(use))
            return 0;
        const cJSON *id = get(use, "toolUseId"), *name = get(use, "name");
        if (!cJSON_IsString(name) || !*name->valuestring)
            return gw_xlate_bad_answer(x, "a toolUse block without a name");
        if (tool_begun(st, k, 1) != 0)
            return gw_xlate_bad_answer(x, "toolUse block %d began twice", k);
        if (gw_answer_tool(&x->ans, k, cJSON_IsString(id) ? id->valuestring : NULL,
                           name->valuestring, "", 0, x->out) != 0)
            return gw_xlate_bad_answer(x, "the answer could not be written");
    } else if (strcmp(type, "contentBlockDelta") == 0) {
        const cJSON *delta = get(ev, "delta");
        const cJSON *text = get(delta, "text"), *input = get(get(delta, "toolUse"), "input");
        int rc = 0;
        if (cJSON_IsString(text)) {
            rc = gw_answer_text(&x->ans, text->valuestring, strlen(text->valuestring), x->out);
        } else if (cJSON_IsString(input)) {
            if (tool_begun(st, k, 0) != 1)
                return gw_xlate_bad_answer(x, "tool input for block %d, which did not begin", k);
            rc = gw_answer_tool(&x->ans, k, NULL, NULL, input->valuestring,
                                strlen(input->valuestring), x->out);
        }
        if (rc != 0)
            return gw_xlate_bad_answer(x, "the answer could not be written");
    } else if (strcmp(type, "messageStop") == 0) {
        gw_answer_finish(&x->ans, finish_reason(get(ev, "stopReason")), x->out);
        st->stopped = 1;
    } else if (strcmp(type, "metadata") == 0) {
        take_usage(x->r, get(ev, "usage"));
        st->have_meta = 1;
    }
    /* messageStart, contentBlockStop and anything newer: nothing to do */
    x->complete = st->stopped && st->have_meta;
    return 0;
}

static int on_message(void *ctx, const struct gw_evs_message *m)
{
    struct gw_xlate *x = ctx;
    const char *mt = m->message_type ? m->message_type : "";
    if (x->failed)
        return 0; /* the caller has had the error: the rest is not theirs */
    if (strcmp(mt, "exception") == 0 || strcmp(mt, "error") == 0)
        return stream_error(x, m);
    if (strcmp(mt, "event") != 0 || !m->event_type)
        return 0;
    cJSON *ev = cJSON_ParseWithLength((const char *)m->payload, m->payload_len);
    int rc = cJSON_IsObject(ev)
                 ? on_event(x, m->event_type, ev)
                 : gw_xlate_bad_answer(x, "a %.40s event that is not a JSON object", m->event_type);
    cJSON_Delete(ev);
    return rc;
}

static int feed(struct gw_xlate *x, const char *p, size_t n)
{
    struct bedrock_codec *st = x->codec_state;
    if (gw_evs_feed(&st->evs, p, n, on_message, x) == 0)
        return 0;
    if (!x->fail_msg[0])
        gw_xlate_bad_answer(x, "the event stream is corrupt (%s)", gw_evs_error(&st->evs));
    return -1;
}

const struct gw_xlate_codec gw_bedrock_codec = {
    .feed = feed,
    .whole = whole,
};

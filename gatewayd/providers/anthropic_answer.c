/* The codec of Anthropic's Messages answers (see anthropic.h): a whole
 * message, or the SSE events of a stream (message_start, content_block_start
 * / _delta / _stop, message_delta, message_stop, ping, error).
 *
 * Translated (an OpenAI caller): text blocks feed gw_answer_text; a tool_use
 * block is a tool call keyed by its block index, named by its
 * content_block_start and filled by its input_json_delta fragments (a whole
 * message's input object is re-serialised); stop_reason becomes OpenAI's
 * finish_reason; thinking blocks, which the gateway never asks for, are
 * skipped. Relay (an Anthropic caller): the bytes go through untouched and
 * only usage and completion are observed.
 *
 * Usage: message_start carries input_tokens, cache_read_input_tokens,
 * cache_creation_input_tokens and a first output_tokens; message_delta
 * carries the final (cumulative) output_tokens and may repeat the others.
 * The whole prompt is input + cache reads + cache writes (Anthropic counts
 * them apart). An error event ends the answer: translated into the caller's
 * error event, or, relayed, passed on as it is and counted as the end. */
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "log.h"
#include "request.h"

struct anthropic_usage {
    long long input, cache_read, cache_write, output;
};

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static struct anthropic_usage *usage_state(struct gw_xlate *x)
{
    /* allocated on the first callback: the upstream thread owns the
     * request's arena once the transfer has started */
    if (!x->codec_state)
        x->codec_state = gw_arena_calloc(x->r->arena, sizeof(struct anthropic_usage));
    return x->codec_state;
}

static void take_usage(struct gw_xlate *x, const cJSON *usage)
{
    struct anthropic_usage *u = usage_state(x);
    if (!cJSON_IsObject(usage) || !u)
        return;
    gw_xlate_count(&u->input, get(usage, "input_tokens"));
    gw_xlate_count(&u->cache_read, get(usage, "cache_read_input_tokens"));
    gw_xlate_count(&u->cache_write, get(usage, "cache_creation_input_tokens"));
    gw_xlate_count(&u->output, get(usage, "output_tokens"));
    struct gw_request *r = x->r;
    r->prompt_tokens = u->input + u->cache_read + u->cache_write;
    r->cached_tokens = u->cache_read;
    r->cache_write_tokens = u->cache_write;
    r->completion_tokens = u->output;
}

static int fed(struct gw_xlate *x, int rc)
{
    return rc == 0 ? 0 : gw_xlate_bad_answer(x, "the answer could not be written");
}

/* ---- streams ------------------------------------------------------------- */

static int block_start(struct gw_xlate *x, const cJSON *ev)
{
    const cJSON *index = get(ev, "index"), *block = get(ev, "content_block");
    const char *type = str(block, "type");
    if (!cJSON_IsNumber(index) || !type)
        return gw_xlate_bad_answer(x, "a content_block_start without index or type");
    int key = index->valueint;
    if (strcmp(type, "text") == 0) {
        const char *text = str(block, "text");
        return text && *text ? fed(x, gw_answer_text(&x->ans, text, strlen(text), x->out)) : 0;
    }
    if (strcmp(type, "tool_use") != 0)
        return 0; /* thinking and other blocks the gateway did not ask for */
    const char *id = str(block, "id"), *name = str(block, "name");
    if (!name)
        return gw_xlate_bad_answer(x, "a tool_use block without a name");
    const cJSON *input = get(block, "input");
    char *args = cJSON_IsObject(input) && input->child ? cJSON_PrintUnformatted(input) : NULL;
    int rc =
        gw_answer_tool(&x->ans, key, id, name, args ? args : "", args ? strlen(args) : 0, x->out);
    cJSON_free(args);
    return fed(x, rc);
}

static int block_delta(struct gw_xlate *x, const cJSON *ev)
{
    const cJSON *index = get(ev, "index"), *delta = get(ev, "delta");
    const char *type = str(delta, "type");
    if (!cJSON_IsNumber(index) || !type)
        return gw_xlate_bad_answer(x, "a content_block_delta without index or type");
    if (strcmp(type, "text_delta") == 0) {
        const char *text = str(delta, "text");
        return text ? fed(x, gw_answer_text(&x->ans, text, strlen(text), x->out)) : 0;
    }
    if (strcmp(type, "input_json_delta") == 0) {
        const char *part = str(delta, "partial_json");
        if (!part || !*part)
            return 0;
        return fed(
            x, gw_answer_tool(&x->ans, index->valueint, NULL, NULL, part, strlen(part), x->out));
    }
    return 0; /* thinking_delta, signature_delta, citations_delta */
}

static void stream_error(struct gw_xlate *x, const cJSON *ev)
{
    const cJSON *err = get(ev, "error");
    const char *type = str(err, "type"), *msg = str(err, "message");
    if (!type)
        type = "api_error";
    if (!msg)
        msg = "the provider reported an error";
    if (!x->relay) {
        gw_xlate_fail(x, type, msg);
        return;
    }
    /* relayed: the caller has the provider's own error event already */
    x->failed = 1;
    x->r->error = gw_arena_strdup(x->r->arena, type);
    gw_warn("%s: provider %s reported an error mid-answer: %s", x->r->id, x->r->provider->name,
            msg);
}

static int on_event(struct gw_xlate *x, const char *data, size_t n)
{
    cJSON *ev = cJSON_ParseWithLength(data, n);
    const char *type = str(ev, "type");
    int rc = 0;
    if (!type) {
        gw_debug("%s: skipped an upstream event that is not a typed JSON object", x->r->id);
    } else if (strcmp(type, "message_start") == 0) {
        take_usage(x, get(get(ev, "message"), "usage"));
    } else if (strcmp(type, "message_delta") == 0) {
        take_usage(x, get(ev, "usage"));
        const char *stop = str(get(ev, "delta"), "stop_reason");
        if (stop && !x->relay)
            gw_answer_finish(&x->ans, gw_answer_finish_from_anthropic(stop), x->out);
    } else if (strcmp(type, "message_stop") == 0) {
        x->complete = 1;
    } else if (strcmp(type, "error") == 0) {
        stream_error(x, ev);
    } else if (x->relay) {
        /* blocks, ping: nothing to observe */
    } else if (strcmp(type, "content_block_start") == 0) {
        rc = block_start(x, ev);
    } else if (strcmp(type, "content_block_delta") == 0) {
        rc = block_delta(x, ev);
    }
    cJSON_Delete(ev);
    return rc;
}

/* ---- whole messages -------------------------------------------------------- */

static int on_whole(struct gw_xlate *x, const cJSON *msg)
{
    const char *type = str(msg, "type");
    if (type && strcmp(type, "error") == 0) {
        const char *m = str(get(msg, "error"), "message");
        return gw_xlate_bad_answer(x, "%s", m ? m : "the provider reported an error");
    }
    take_usage(x, get(msg, "usage"));
    if (x->relay) {
        x->complete = 1;
        return 0;
    }
    const cJSON *content = get(msg, "content");
    if (!cJSON_IsArray(content))
        return gw_xlate_bad_answer(x, "a message without a content array");
    int i = 0;
    for (const cJSON *b = content->child; b; b = b->next, i++) {
        const char *bt = str(b, "type");
        if (!bt)
            return gw_xlate_bad_answer(x, "a content block without a type");
        int rc = 0;
        if (strcmp(bt, "text") == 0) {
            const char *text = str(b, "text");
            if (text)
                rc = gw_answer_text(&x->ans, text, strlen(text), x->out);
        } else if (strcmp(bt, "tool_use") == 0) {
            const char *id = str(b, "id"), *name = str(b, "name");
            const cJSON *input = get(b, "input");
            if (!name)
                return gw_xlate_bad_answer(x, "a tool_use block without a name");
            char *args = cJSON_IsObject(input) ? cJSON_PrintUnformatted(input) : NULL;
            rc = gw_answer_tool(&x->ans, i, id, name, args ? args : "{}", args ? strlen(args) : 2,
                                x->out);
            cJSON_free(args);
        }
        if (rc != 0)
            return fed(x, rc);
    }
    gw_answer_finish(&x->ans, gw_answer_finish_from_anthropic(str(msg, "stop_reason")), x->out);
    x->complete = 1;
    return 0;
}

const struct gw_xlate_codec gw_anthropic_codec = {
    .event = on_event,
    .whole = on_whole,
};

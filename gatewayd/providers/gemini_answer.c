/* The Gemini answer codec (see gemini.h): a GenerateContentResponse, whole
 * or one per SSE event of a stream, decoded into the caller's answer
 * (answer.h).
 *
 * Only the first candidate is read (requests ask for one). Its text parts
 * become text, thought summaries are skipped, and each functionCall part
 * becomes one whole tool call (arguments in one fragment, keyed by a running
 * count of calls; its thought signature rides in the call's id). The finish
 * reason: STOP is stop, or tool_calls when the answer called a function;
 * MAX_TOKENS is length; SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT,
 * SPII and IMAGE_SAFETY are content_filter; anything else is stop. A prompt
 * blocked before any candidate (promptFeedback.blockReason) is an empty
 * answer with finish reason content_filter, as OpenAI reports filtered
 * prompts, so both front doors see a normal, complete answer. A stream is
 * complete once a chunk carried a finish reason (or the prompt was
 * blocked); an {"error":...} object in it ends it with the caller's error
 * event.
 *
 * Usage (usageMetadata, cumulative in every chunk: the last one wins):
 * prompt = promptTokenCount + toolUsePromptTokenCount (cached content
 * included), cached = cachedContentTokenCount, completion =
 * candidatesTokenCount + thoughtsTokenCount (thinking is billed as output).
 *
 * Threads: the upstream thread, as every codec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemini.h"
#include "log.h"
#include "request.h"

struct gemini_answer {
    int calls;    /* function calls so far (the next call's key) */
    int finished; /* a finish reason has been written */
};

static struct gemini_answer *state(struct gw_xlate *x)
{
    if (!x->codec_state)
        x->codec_state = gw_arena_calloc(x->r->arena, sizeof(struct gemini_answer));
    return x->codec_state;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static void take_usage(struct gw_request *r, const cJSON *u)
{
    long long prompt = 0, tool = 0, out = 0, thoughts = 0, cached = 0;
    if (!cJSON_IsObject(u))
        return;
    gw_xlate_count(&prompt, get(u, "promptTokenCount"));
    gw_xlate_count(&tool, get(u, "toolUsePromptTokenCount"));
    gw_xlate_count(&out, get(u, "candidatesTokenCount"));
    gw_xlate_count(&thoughts, get(u, "thoughtsTokenCount"));
    gw_xlate_count(&cached, get(u, "cachedContentTokenCount"));
    r->prompt_tokens = prompt + tool;
    r->completion_tokens = out + thoughts;
    r->cached_tokens = cached;
}

static const char *finish_reason(const char *g, int called)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
    if (strcmp(g, "STOP") == 0)
        return called ? "tool_calls" : "stop";
    if (strcmp(g, "MAX_TOKENS") == 0)
        return "length";
    for (size_t i = 0; i < sizeof filtered / sizeof *filtered; i++)
        if (strcmp(g, filtered[i]) == 0)
            return "content_filter";
    return "stop";
}

/* The id the caller sees for a call: the provider's (or one made here when
 * a signature must ride along and the provider gave none) plus the thought
 * signature in base64url. NULL: let the writer make one. */
static char *call_id(struct gw_xlate *x, const cJSON *id, const cJSON *sig, int key)
{
    const char *own = cJSON_IsString(id) && *id->valuestring ? id->valuestring : NULL;
    if (!cJSON_IsString(sig) || !*sig->valuestring)
        return own ? strdup(own) : NULL;
    struct gw_buf b = {0};
    if (own)
        gw_buf_puts(&b, own);
    else
        gw_buf_printf(&b, "call_%s_%d", x->r->id + 4, key);
    gw_buf_puts(&b, GW_GEMINI_SIG_SEP);
    for (const char *s = sig->valuestring; *s && *s != '='; s++) {
        char c = *s == '+' ? '-' : *s == '/' ? '_' : *s;
        gw_buf_append(&b, &c, 1);
    }
    return b.data;
}

static int function_call(struct gw_xlate *x, struct gemini_answer *st, const cJSON *part)
{
    const cJSON *fc = get(part, "functionCall");
    const cJSON *name = get(fc, "name"), *args = get(fc, "args");
    if (!cJSON_IsString(name) || !*name->valuestring)
        return gw_xlate_bad_answer(x, "a functionCall part has no name");
    int key = st->calls++;
    char *id = call_id(x, get(fc, "id"), get(part, "thoughtSignature"), key);
    char *a = cJSON_IsObject(args) ? cJSON_PrintUnformatted(args) : NULL;
    const char *json = a ? a : "{}";
    int rc = gw_answer_tool(&x->ans, key, id, name->valuestring, json, strlen(json), x->out);
    free(id);
    cJSON_free(a);
    return rc == 0 ? 0 : gw_xlate_bad_answer(x, "the tool call could not be written");
}

/* One GenerateContentResponse. */
static int decode(struct gw_xlate *x, const cJSON *j)
{
    struct gemini_answer *st = state(x);
    if (!st)
        return gw_xlate_bad_answer(x, "out of memory");
    take_usage(x->r, get(j, "usageMetadata"));
    const cJSON *cands = get(j, "candidates");
    const cJSON *c = cJSON_IsArray(cands) ? cands->child : NULL;
    if (!c) {
        const cJSON *block = get(get(j, "promptFeedback"), "blockReason");
        if (cJSON_IsString(block) && !st->finished) {
            gw_debug("%s: the provider blocked the prompt (%s)", x->r->id, block->valuestring);
            st->finished = 1;
            gw_answer_finish(&x->ans, "content_filter", x->out);
            x->complete = 1;
        }
        return 0;
    }
    const cJSON *parts = get(get(c, "content"), "parts");
    for (const cJSON *p = cJSON_IsArray(parts) && !st->finished ? parts->child : NULL; p;
         p = p->next) {
        const cJSON *text = get(p, "text");
        if (cJSON_IsTrue(get(p, "thought")))
            continue; /* a thought summary, not the answer */
        if (cJSON_IsString(text) && *text->valuestring) {
            if (gw_answer_text(&x->ans, text->valuestring, strlen(text->valuestring), x->out))
                return gw_xlate_bad_answer(x, "the text could not be written");
        } else if (get(p, "functionCall")) {
            if (function_call(x, st, p) != 0)
                return -1;
        }
    }
    const cJSON *fr = get(c, "finishReason");
    if (cJSON_IsString(fr) && !st->finished) {
        st->finished = 1;
        gw_answer_finish(&x->ans, finish_reason(fr->valuestring, st->calls > 0), x->out);
        x->complete = 1;
    }
    return 0;
}

static const char *error_message(const cJSON *e)
{
    const cJSON *m = get(e, "message");
    return cJSON_IsString(m) && *m->valuestring ? m->valuestring : "no message";
}

static int on_event(struct gw_xlate *x, const char *data, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(data, n);
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        rc = gw_xlate_bad_answer(x, "an event of the stream is not a JSON object");
    } else if (cJSON_IsObject(get(j, "error"))) {
        const cJSON *e = get(j, "error"), *status = get(e, "status");
        char msg[300];
        if (cJSON_IsString(status))
            snprintf(msg, sizeof msg, "%s (%s)", error_message(e), status->valuestring);
        else
            snprintf(msg, sizeof msg, "%s", error_message(e));
        gw_xlate_fail(x, "upstream_error", msg);
    } else {
        rc = decode(x, j);
    }
    cJSON_Delete(j);
    return rc;
}

static int on_whole(struct gw_xlate *x, const cJSON *body)
{
    if (cJSON_IsObject(get(body, "error")))
        return gw_xlate_bad_answer(x, "%s", error_message(get(body, "error")));
    int rc = decode(x, body);
    x->complete = 1;
    return rc;
}

const struct gw_xlate_codec gw_gemini_codec = {
    .event = on_event,
    .whole = on_whole,
};

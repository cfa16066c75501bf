/* The answer a client got, read back into the cache's neutral form
 * (cache.h): OpenAI's chat.completion object or its chunk stream, and
 * Anthropic's message object or its event stream, whether the gateway wrote
 * them (a translation, the echo provider) or relayed a provider's bytes.
 *
 * DESIGN: the parser is incremental, so a stream is read from the chunks it
 * was kept in (durable.h) without joining them; whole answers are gathered
 * and parsed at the end. It is strict about what it keeps: one choice, text
 * and function tool calls only, a normal end (a finish reason, [DONE] or
 * message_stop). Anything else (an error or an error event, a refusal, a
 * content filter, a block type the neutral form has no place for, a stream
 * cut short) makes the answer uncacheable with a reason, never a guess. Its
 * input is bytes from outside (providers' answers), so it has a fuzz target
 * (tests/fuzz/fuzz_cache_capture.c). */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cache.h"
#include "sse.h"

struct cap_tool {
    int key; /* the index the format gave it (OpenAI's index, Anthropic's block) */
    char *id, *name;
    struct gw_buf args;
};

struct gw_cache_capture {
    int anthropic, sse;
    const char *why; /* set once the answer cannot be kept */
    int done;        /* the stream's end was seen */
    struct gw_sse events;
    struct gw_buf whole; /* a JSON answer, gathered */
    struct gw_buf text;
    struct cap_tool *tools;
    size_t n_tools, cap;
    const char *finish; /* OpenAI's, a static string */
    long long prompt, completion;
    char *model;
};

struct gw_cache_capture *gw_cache_capture_new(int anthropic, int sse)
{
    struct gw_cache_capture *c = calloc(1, sizeof *c);
    if (c) {
        c->anthropic = anthropic;
        c->sse = sse;
    }
    return c;
}

void gw_cache_capture_free(struct gw_cache_capture *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_tools; i++) {
        free(c->tools[i].id);
        free(c->tools[i].name);
        gw_buf_free(&c->tools[i].args);
    }
    free(c->tools);
    free(c->model);
    gw_sse_free(&c->events);
    gw_buf_free(&c->whole);
    gw_buf_free(&c->text);
    free(c);
}

static int refuse(struct gw_cache_capture *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return -1;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void count(long long *dst, const cJSON *v, int add)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15)
        *dst = (add ? *dst : 0) + (long long)v->valuedouble;
}

static void take_model(struct gw_cache_capture *c, const cJSON *o)
{
    const char *m = str(o, "model");
    if (m && !c->model)
        c->model = strdup(m);
}

static int text(struct gw_cache_capture *c, const char *s)
{
    return gw_buf_puts(&c->text, s) == 0 ? 0 : refuse(c, "out of memory");
}

/* The tool known as key, made on first sight (id and name may come later,
 * in a stream's first fragment). */
static struct cap_tool *tool(struct gw_cache_capture *c, int key)
{
    for (size_t i = 0; i < c->n_tools; i++)
        if (c->tools[i].key == key)
            return &c->tools[i];
    if (c->n_tools == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        struct cap_tool *t = realloc(c->tools, cap * sizeof *t);
        if (!t)
            return NULL;
        c->tools = t;
        c->cap = cap;
    }
    struct cap_tool *t = &c->tools[c->n_tools++];
    memset(t, 0, sizeof *t);
    t->key = key;
    return t;
}

static int set_str(char **dst, const char *s)
{
    if (!s || *dst)
        return 0;
    return (*dst = strdup(s)) ? 0 : -1;
}

/* ---- OpenAI ---------------------------------------------------------------- */

static int oai_finish(struct gw_cache_capture *c, const cJSON *fr)
{
    if (!cJSON_IsString(fr))
        return 0;
    const char *s = fr->valuestring;
    if (strcmp(s, "stop") == 0)
        c->finish = "stop";
    else if (strcmp(s, "length") == 0)
        c->finish = "length";
    else if (strcmp(s, "tool_calls") == 0)
        c->finish = "tool_calls";
    else if (strcmp(s, "content_filter") == 0)
        return refuse(c, "a content filter stopped the answer");
    else
        return refuse(c, "a finish reason the cache does not keep");
    return 0;
}

/* One tool call: of a whole message (position i), or a stream delta's
 * fragment (keyed by its index). */
static int oai_tool(struct gw_cache_capture *c, const cJSON *tc, int i)
{
    const char *type = str(tc, "type");
    if (type && strcmp(type, "function") != 0)
        return refuse(c, "a tool call that is not a function");
    const cJSON *idx = get(tc, "index");
    int key = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                  ? (int)idx->valuedouble
                  : i;
    const cJSON *fn = get(tc, "function");
    struct cap_tool *t = tool(c, key);
    if (!t || set_str(&t->id, str(tc, "id")) != 0 || set_str(&t->name, str(fn, "name")) != 0)
        return refuse(c, "out of memory");
    const char *args = str(fn, "arguments");
    if (args && gw_buf_puts(&t->args, args) != 0)
        return refuse(c, "out of memory");
    return 0;
}

/* A message (whole) or a delta (stream): text and tool calls. */
static int oai_message(struct gw_cache_capture *c, const cJSON *m)
{
    if (!m || cJSON_IsNull(m))
        return 0;
    if (!cJSON_IsObject(m))
        return refuse(c, "a message that is not an object");
    const char *refusal = str(m, "refusal");
    if (refusal && *refusal)
        return refuse(c, "a refusal");
    const cJSON *audio = get(m, "audio");
    if (audio && !cJSON_IsNull(audio))
        return refuse(c, "audio");
    /* what OpenAI-compatible servers add beside the text: the neutral form
     * has no place for it, and a replay without it would differ */
    static const char *const extras[] = {"reasoning_content", "reasoning"};
    for (size_t i = 0; i < sizeof extras / sizeof *extras; i++) {
        const char *x = str(m, extras[i]);
        if (x && *x)
            return refuse(c, "reasoning text");
    }
    const cJSON *ann = get(m, "annotations");
    if (cJSON_IsArray(ann) && ann->child)
        return refuse(c, "annotations");
    const cJSON *content = get(m, "content");
    if (content && !cJSON_IsNull(content) && !cJSON_IsString(content))
        return refuse(c, "content that is not a string");
    if (cJSON_IsString(content) && text(c, content->valuestring) != 0)
        return -1;
    const cJSON *calls = get(m, "tool_calls");
    int i = 0;
    for (const cJSON *tc = cJSON_IsArray(calls) ? calls->child : NULL; tc; tc = tc->next, i++)
        if (oai_tool(c, tc, i) != 0)
            return -1;
    const cJSON *fc = get(m, "function_call");
    if (fc && !cJSON_IsNull(fc))
        return refuse(c, "a legacy function call");
    return 0;
}

static void oai_usage(struct gw_cache_capture *c, const cJSON *o)
{
    const cJSON *u = get(o, "usage");
    if (cJSON_IsObject(u)) {
        count(&c->prompt, get(u, "prompt_tokens"), 0);
        count(&c->completion, get(u, "completion_tokens"), 0);
    }
}

/* A chat.completion, or one chat.completion.chunk. */
static int oai_object(struct gw_cache_capture *c, const cJSON *o, int chunk)
{
    if (!cJSON_IsObject(o))
        return refuse(c, "an answer that is not a JSON object");
    if (get(o, "error"))
        return refuse(c, "an error");
    take_model(c, o);
    oai_usage(c, o);
    const cJSON *choices = get(o, "choices");
    if (!cJSON_IsArray(choices))
        return chunk ? 0 : refuse(c, "no choices");
    if (!chunk && (!choices->child || choices->child->next))
        return refuse(c, "not exactly one choice");
    for (const cJSON *ch = choices->child; ch; ch = ch->next) {
        const cJSON *idx = get(ch, "index");
        if (!cJSON_IsObject(ch) || (cJSON_IsNumber(idx) && idx->valuedouble != 0))
            return refuse(c, "more than one choice");
        if (oai_message(c, get(ch, chunk ? "delta" : "message")) != 0 ||
            oai_finish(c, get(ch, "finish_reason")) != 0)
            return -1;
    }
    return 0;
}

/* ---- Anthropic ----------------------------------------------------------------- */

static int anth_stop(struct gw_cache_capture *c, const char *s)
{
    if (!s)
        return 0;
    if (strcmp(s, "end_turn") == 0 || strcmp(s, "stop_sequence") == 0)
        c->finish = "stop";
    else if (strcmp(s, "max_tokens") == 0 || strcmp(s, "model_context_window_exceeded") == 0)
        c->finish = "length";
    else if (strcmp(s, "tool_use") == 0)
        c->finish = "tool_calls";
    else if (strcmp(s, "refusal") == 0)
        return refuse(c, "a refusal");
    else
        return refuse(c, "a stop reason the cache does not keep");
    return 0;
}

static void anth_usage(struct gw_cache_capture *c, const cJSON *u)
{
    if (!cJSON_IsObject(u))
        return;
    /* OpenAI's prompt_tokens count the whole prompt, cached parts included */
    if (get(u, "input_tokens")) {
        count(&c->prompt, get(u, "input_tokens"), 0);
        count(&c->prompt, get(u, "cache_creation_input_tokens"), 1);
        count(&c->prompt, get(u, "cache_read_input_tokens"), 1);
    }
    count(&c->completion, get(u, "output_tokens"), 0);
}

/* A content block: whole (a message's), or a stream's content_block_start. */
static int anth_block(struct gw_cache_capture *c, const cJSON *b, int index, int whole)
{
    const char *type = str(b, "type");
    if (type && strcmp(type, "text") == 0) {
        const cJSON *cit = get(b, "citations");
        if (cJSON_IsArray(cit) && cit->child)
            return refuse(c, "citations");
        const char *t = str(b, "text");
        if (!t && whole)
            return refuse(c, "a text block without text");
        return t ? text(c, t) : 0;
    }
    if (!type || strcmp(type, "tool_use") != 0)
        return refuse(c, "a content block that is neither text nor tool_use");
    struct cap_tool *t = tool(c, index);
    if (!t || set_str(&t->id, str(b, "id")) != 0 || set_str(&t->name, str(b, "name")) != 0)
        return refuse(c, "out of memory");
    const cJSON *in = get(b, "input");
    if (whole && cJSON_IsObject(in)) {
        char *s = cJSON_PrintUnformatted(in);
        int rc = s ? gw_buf_puts(&t->args, s) : -1;
        cJSON_free(s);
        if (rc != 0)
            return refuse(c, "out of memory");
    }
    return 0;
}

static int anth_message(struct gw_cache_capture *c, const cJSON *m)
{
    if (!cJSON_IsObject(m))
        return refuse(c, "an answer that is not a JSON object");
    const char *type = str(m, "type");
    if (type && strcmp(type, "error") == 0)
        return refuse(c, "an error");
    if (!type || strcmp(type, "message") != 0)
        return refuse(c, "not a message");
    take_model(c, m);
    anth_usage(c, get(m, "usage"));
    const cJSON *content = get(m, "content");
    if (!cJSON_IsArray(content))
        return refuse(c, "no content");
    int i = 0;
    for (const cJSON *b = content->child; b; b = b->next, i++)
        if (anth_block(c, b, i, 1) != 0)
            return -1;
    const char *stop = str(m, "stop_reason");
    return anth_stop(c, stop ? stop : "end_turn");
}

static int anth_event(struct gw_cache_capture *c, const cJSON *e)
{
    const char *type = cJSON_IsObject(e) ? str(e, "type") : NULL;
    if (!type)
        return refuse(c, "an event that is not a typed JSON object");
    const cJSON *idx = get(e, "index");
    int index = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                    ? (int)idx->valuedouble
                    : -1;
    if (strcmp(type, "message_start") == 0) {
        const cJSON *m = get(e, "message");
        take_model(c, m);
        anth_usage(c, get(m, "usage"));
        return 0;
    }
    if (strcmp(type, "content_block_start") == 0)
        return anth_block(c, get(e, "content_block"), index, 0);
    if (strcmp(type, "content_block_delta") == 0) {
        const cJSON *d = get(e, "delta");
        const char *dt = str(d, "type");
        if (dt && strcmp(dt, "text_delta") == 0) {
            const char *t = str(d, "text");
            return t ? text(c, t) : 0;
        }
        if (dt && strcmp(dt, "input_json_delta") == 0) {
            const char *pj = str(d, "partial_json");
            struct cap_tool *t = NULL;
            for (size_t i = 0; i < c->n_tools; i++)
                if (c->tools[i].key == index)
                    t = &c->tools[i];
            if (!t)
                return refuse(c, "tool input for a block that is not a tool call");
            return pj && gw_buf_puts(&t->args, pj) != 0 ? refuse(c, "out of memory") : 0;
        }
        return refuse(c, "a delta the cache does not keep");
    }
    if (strcmp(type, "message_delta") == 0) {
        anth_usage(c, get(e, "usage"));
        return anth_stop(c, str(get(e, "delta"), "stop_reason"));
    }
    if (strcmp(type, "message_stop") == 0) {
        c->done = 1;
        return 0;
    }
    if (strcmp(type, "error") == 0)
        return refuse(c, "an error event");
    return 0; /* ping, content_block_stop, and event types to come */
}

/* ---- feeding ------------------------------------------------------------------ */

static int on_event(void *ctx, const char *raw, size_t raw_len, const char *data, size_t n)
{
    struct gw_cache_capture *c = ctx;
    if (c->done)
        return refuse(c, "data after the end of the stream");
    if (n == 0)
        return 0;
    if (!c->anthropic && n == 6 && memcmp(data, "[DONE]", 6) == 0) {
        c->done = 1;
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength(data, n);
    if (!j)
        return refuse(c, "an event that is not JSON");
    int rc = c->anthropic ? anth_event(c, j) : oai_object(c, j, 1);
    cJSON_Delete(j);
    return rc;
}

int gw_cache_capture_feed(struct gw_cache_capture *c, const char *p, size_t n)
{
    if (c->why)
        return -1;
    if (!c->sse)
        return gw_buf_append(&c->whole, p, n) == 0 ? 0 : refuse(c, "out of memory");
    int rc = gw_sse_feed(&c->events, p, n, on_event, c);
    if (rc != 0)
        return refuse(c, "the stream cannot be read");
    return 0;
}

static char *adup(struct gw_arena *a, const char *s)
{
    return gw_arena_strdup(a, s ? s : "");
}

int gw_cache_capture_end(struct gw_cache_capture *c, struct gw_arena *a,
                         struct gw_cache_answer *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (!c->why && !c->sse) {
        cJSON *j = cJSON_ParseWithLength(c->whole.data ? c->whole.data : "", c->whole.len);
        if (!j)
            refuse(c, "the answer is not JSON");
        else if (c->anthropic)
            anth_message(c, j);
        else
            oai_object(c, j, 0);
        cJSON_Delete(j);
    }
    if (!c->why && c->sse && !c->done)
        refuse(c, "the stream did not end normally");
    if (!c->why && c->events.pending.len)
        refuse(c, "bytes after the last event");
    for (size_t i = 0; !c->why && i < c->n_tools; i++)
        if (!c->tools[i].name || !*c->tools[i].name)
            refuse(c, "a tool call without a name");
    if (c->why) {
        *why = c->why;
        return -1;
    }
    out->content = gw_arena_strndup(a, c->text.data ? c->text.data : "", c->text.len);
    out->content_len = c->text.len;
    out->finish = c->finish ? c->finish : c->n_tools ? "tool_calls" : "stop";
    out->prompt_tokens = c->prompt;
    out->completion_tokens = c->completion;
    out->model = c->model ? gw_arena_strdup(a, c->model) : NULL;
    if (c->n_tools) {
        out->tools = gw_arena_calloc(a, c->n_tools * sizeof *out->tools);
        if (!out->tools) {
            *why = "out of memory";
            return -1;
        }
        for (size_t i = 0; i < c->n_tools; i++) {
            struct cap_tool *t = &c->tools[i];
            out->tools[i].id = adup(a, t->id);
            out->tools[i].name = adup(a, t->name);
            out->tools[i].args = t->args.len    ? gw_arena_strndup(a, t->args.data, t->args.len)
                                 : c->anthropic ? "{}"
                                                : "";
        }
        out->n_tools = c->n_tools;
    }
    if (!out->content) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

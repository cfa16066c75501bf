/* The chat-completions response writer: answer pieces in, OpenAI's format
 * out (see completions.h for the contract).
 *
 * DESIGN: a stream writes each chunk as soon as its piece arrives (a role
 * chunk first, then content or tool_calls deltas) and keeps only the tool
 * calls' identities; a whole answer keeps the text and each call's argument
 * JSON and writes the object at close. Tool calls are numbered 0, 1, ... in
 * the order they first appear, whatever keys the provider used. Usage comes
 * from the request (r->prompt_tokens ...), which the adapter fills before
 * close. */
#include "completions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "request.h"
#include "tokens.h"

void gw_oai_init(struct gw_oai_writer *w, struct gw_request *r)
{
    memset(w, 0, sizeof *w);
    w->r = r;
    w->stream = r->stream;
    w->created = gw_wall_ms() / 1000;
    w->input_tokens = gw_tokens_input(r);
}

void gw_oai_free(struct gw_oai_writer *w)
{
    for (size_t i = 0; i < w->n_tools; i++) {
        free(w->tools[i].id);
        free(w->tools[i].name);
        gw_buf_free(&w->tools[i].args);
    }
    free(w->tools);
    gw_buf_free(&w->text);
    w->tools = NULL;
    w->n_tools = w->cap = 0;
}

static int json_strn(struct gw_buf *out, const char *s, size_t n)
{
    char *z = strndup(s, n);
    if (!z)
        return -1;
    int rc = gw_buf_json_str(out, z);
    free(z);
    return rc;
}

/* data: {"id":...,"model":M */
static void chunk_head(struct gw_oai_writer *w, struct gw_buf *out)
{
    gw_buf_printf(out,
                  "data: {\"id\":\"chatcmpl-%s\",\"object\":\"chat.completion.chunk\","
                  "\"created\":%lld,\"model\":",
                  w->r->id + 4, w->created);
    gw_buf_json_str(out, w->r->model_name);
}

/* data: {"id":...,"choices":[{"index":0,"delta": ...; the caller writes the
 * delta and calls chunk_end */
static void chunk_begin(struct gw_oai_writer *w, struct gw_buf *out)
{
    chunk_head(w, out);
    gw_buf_puts(out, ",\"choices\":[{\"index\":0,\"delta\":");
}

static void chunk_end(struct gw_oai_writer *w, const char *finish, struct gw_buf *out)
{
    gw_buf_puts(out, ",\"logprobs\":null,\"finish_reason\":");
    if (finish)
        gw_buf_json_str(out, finish);
    else
        gw_buf_puts(out, "null");
    gw_buf_puts(out, "}]");
    if (w->r->client_wants_usage)
        gw_buf_puts(out, ",\"usage\":null");
    gw_buf_puts(out, "}\n\n");
}

static void start(struct gw_oai_writer *w, struct gw_buf *out)
{
    if (w->started || !w->stream)
        return;
    w->started = 1;
    chunk_begin(w, out);
    gw_buf_puts(out, "{\"role\":\"assistant\",\"content\":\"\"}");
    chunk_end(w, NULL, out);
}

int gw_oai_text(struct gw_oai_writer *w, const char *s, size_t n, struct gw_buf *out)
{
    if (w->ended || w->failed || n == 0)
        return 0;
    w->has_text = 1;
    if (!w->stream)
        return gw_buf_append(&w->text, s, n);
    start(w, out);
    chunk_begin(w, out);
    gw_buf_puts(out, "{\"content\":");
    if (json_strn(out, s, n) != 0)
        return -1;
    gw_buf_puts(out, "}");
    chunk_end(w, NULL, out);
    return 0;
}

static struct gw_oai_tool *find_tool(struct gw_oai_writer *w, int key)
{
    for (size_t i = 0; i < w->n_tools; i++)
        if (w->tools[i].key == key)
            return &w->tools[i];
    return NULL;
}

static struct gw_oai_tool *new_tool(struct gw_oai_writer *w, int key, const char *id,
                                    const char *name)
{
    if (w->n_tools == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        struct gw_oai_tool *t = realloc(w->tools, cap * sizeof *t);
        if (!t)
            return NULL;
        w->tools = t;
        w->cap = cap;
    }
    char made[64];
    if (!id || !*id) { /* the provider gave none: unique within the answer */
        snprintf(made, sizeof made, "call_%s_%zu", w->r->id + 4, w->n_tools);
        id = made;
    }
    struct gw_oai_tool *t = &w->tools[w->n_tools];
    memset(t, 0, sizeof *t);
    t->key = key;
    t->id = strdup(id);
    t->name = strdup(name ? name : "");
    if (!t->id || !t->name) {
        free(t->id);
        free(t->name);
        return NULL;
    }
    w->n_tools++;
    return t;
}

int gw_oai_tool(struct gw_oai_writer *w, int key, const char *id, const char *name,
                const char *args, size_t n, struct gw_buf *out)
{
    if (w->ended || w->failed)
        return 0;
    struct gw_oai_tool *t = find_tool(w, key);
    int first = !t;
    if (first && !(t = new_tool(w, key, id, name)))
        return -1;
    if (!w->stream)
        return n ? gw_buf_append(&t->args, args, n) : 0;
    if (!first && n == 0)
        return 0;
    start(w, out);
    chunk_begin(w, out);
    gw_buf_printf(out, "{\"tool_calls\":[{\"index\":%zu,", (size_t)(t - w->tools));
    if (first) {
        gw_buf_puts(out, "\"id\":");
        gw_buf_json_str(out, t->id);
        gw_buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
        gw_buf_json_str(out, t->name);
        gw_buf_puts(out, ",\"arguments\":");
    } else {
        gw_buf_puts(out, "\"function\":{\"arguments\":");
    }
    if (json_strn(out, args ? args : "", n) != 0)
        return -1;
    gw_buf_puts(out, "}}]}");
    chunk_end(w, NULL, out);
    return 0;
}

void gw_oai_finish(struct gw_oai_writer *w, const char *finish_reason, struct gw_buf *out)
{
    if (w->ended || w->failed || w->finish)
        return;
    w->finish = finish_reason ? finish_reason : "stop";
    if (!w->stream)
        return;
    start(w, out);
    chunk_begin(w, out);
    gw_buf_puts(out, "{}");
    chunk_end(w, w->finish, out);
}

static void usage_json(const struct gw_oai_writer *w, struct gw_buf *out)
{
    const struct gw_request *r = w->r;
    long long p = r->prompt_tokens ? r->prompt_tokens : w->input_tokens;
    gw_buf_printf(out,
                  "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%lld,"
                  "\"prompt_tokens_details\":{\"cached_tokens\":%lld}}",
                  p, r->completion_tokens, p + r->completion_tokens, r->cached_tokens);
}

static void whole(struct gw_oai_writer *w, struct gw_buf *out)
{
    gw_buf_printf(out,
                  "{\"id\":\"chatcmpl-%s\",\"object\":\"chat.completion\",\"created\":%lld,"
                  "\"model\":",
                  w->r->id + 4, w->created);
    gw_buf_json_str(out, w->r->model_name);
    gw_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                     "\"content\":");
    if (w->has_text || !w->n_tools) {
        gw_buf_append(&w->text, "", 1); /* NUL-terminate for the JSON writer */
        gw_buf_json_str(out, w->text.data);
    } else {
        gw_buf_puts(out, "null");
    }
    if (w->n_tools) {
        gw_buf_puts(out, ",\"tool_calls\":[");
        for (size_t i = 0; i < w->n_tools; i++) {
            struct gw_oai_tool *t = &w->tools[i];
            gw_buf_puts(out, i ? ",{\"id\":" : "{\"id\":");
            gw_buf_json_str(out, t->id);
            gw_buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
            gw_buf_json_str(out, t->name);
            gw_buf_puts(out, ",\"arguments\":");
            json_strn(out, t->args.data ? t->args.data : "", t->args.len);
            gw_buf_puts(out, "}}");
        }
        gw_buf_puts(out, "]");
    }
    gw_buf_puts(out, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":");
    gw_buf_json_str(out, w->finish ? w->finish : "stop");
    gw_buf_puts(out, "}],\"usage\":");
    usage_json(w, out);
    gw_buf_puts(out, "}\n");
}

int gw_oai_close(struct gw_oai_writer *w, struct gw_buf *out)
{
    if (w->ended || w->failed)
        return 0;
    if (!w->stream) {
        whole(w, out);
        w->ended = 1;
        return 0;
    }
    gw_oai_finish(w, "stop", out); /* no-op when the provider gave one */
    w->ended = 1;
    if (w->r->client_wants_usage) {
        chunk_head(w, out);
        gw_buf_puts(out, ",\"choices\":[],\"usage\":");
        usage_json(w, out);
        gw_buf_puts(out, "}\n\n");
    }
    return gw_buf_puts(out, "data: [DONE]\n\n");
}

void gw_oai_fail(struct gw_oai_writer *w, struct gw_buf *out, const char *code, const char *message)
{
    if (w->ended || w->failed)
        return;
    w->failed = 1;
    gw_error_stream_event(w->r, out, "upstream_error", code, message);
}

/* The /v1/messages response writer: OpenAI-format answers in, Anthropic's
 * Messages format out (see messages.h for the contract).
 *
 * DESIGN: the writer keeps a list of the content blocks it has opened. A
 * stream writes each event as soon as its piece arrives (text deltas are
 * relayed, never buffered) and keeps only the blocks' identities; a whole
 * message keeps the blocks' text and tool arguments and serialises the
 * message at close. Anthropic's blocks are strictly sequential, so a new
 * kind of piece (text after a tool call, another tool call) closes the open
 * block first. Usage comes from the request (r->prompt_tokens ...), which
 * the adapter fills before close. */
#include "messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "request.h"
#include "tokens.h"

void gw_msg_init(struct gw_msg_writer *w, struct gw_request *r)
{
    memset(w, 0, sizeof *w);
    w->r = r;
    w->stream = r->stream;
    w->input_tokens = gw_tokens_input(r);
}

void gw_msg_free(struct gw_msg_writer *w)
{
    for (size_t i = 0; i < w->n_blocks; i++) {
        free(w->blocks[i].id);
        free(w->blocks[i].name);
        gw_buf_free(&w->blocks[i].data);
    }
    free(w->blocks);
    w->blocks = NULL;
    w->n_blocks = w->cap = 0;
}

const char *gw_msg_stop_reason(const char *finish)
{
    if (!finish || strcmp(finish, "stop") == 0)
        return "end_turn";
    if (strcmp(finish, "length") == 0)
        return "max_tokens";
    if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish, "content_filter") == 0)
        return "refusal";
    return "end_turn";
}

static void msg_id(const struct gw_msg_writer *w, struct gw_buf *out)
{
    gw_buf_printf(out, "\"msg_%s\"", w->r->id + 4); /* r->id is "req_" + hex */
}

/* Anthropic's input_tokens leave out what the prompt cache read or wrote;
 * OpenAI's prompt_tokens (r->prompt_tokens) count the whole prompt. */
static long long input_tokens(const struct gw_msg_writer *w)
{
    const struct gw_request *r = w->r;
    if (!r->prompt_tokens) /* the upstream said nothing: the gateway's count */
        return w->input_tokens;
    long long rest = r->prompt_tokens - r->cached_tokens - r->cache_write_tokens;
    return rest > 0 ? rest : 0;
}

static void usage_json(const struct gw_msg_writer *w, struct gw_buf *out)
{
    const struct gw_request *r = w->r;
    gw_buf_printf(out,
                  "{\"input_tokens\":%lld,\"cache_creation_input_tokens\":%lld,"
                  "\"cache_read_input_tokens\":%lld,\"output_tokens\":%lld}",
                  input_tokens(w), r->cache_write_tokens, r->cached_tokens, r->completion_tokens);
}

/* event: NAME\ndata: <json so far>; the caller finishes the JSON and calls
 * event_end */
static void event_begin(struct gw_buf *out, const char *name)
{
    gw_buf_printf(out, "event: %s\ndata: ", name);
}

static void event_end(struct gw_buf *out)
{
    gw_buf_puts(out, "\n\n");
}

static void ping(struct gw_msg_writer *w, struct gw_buf *out)
{
    if (w->stream && !w->pinged) {
        w->pinged = 1;
        gw_buf_puts(out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }
}

static void start(struct gw_msg_writer *w, struct gw_buf *out)
{
    if (w->started)
        return;
    w->started = 1;
    if (!w->stream)
        return;
    event_begin(out, "message_start");
    gw_buf_puts(out, "{\"type\":\"message_start\",\"message\":{\"id\":");
    msg_id(w, out);
    gw_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    gw_buf_json_str(out, w->r->model_name);
    gw_buf_printf(out,
                  ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{"
                  "\"input_tokens\":%lld,\"cache_creation_input_tokens\":0,"
                  "\"cache_read_input_tokens\":0,\"output_tokens\":0}}}",
                  w->input_tokens);
    event_end(out);
}

static void close_block(struct gw_msg_writer *w, struct gw_buf *out)
{
    if (!w->open)
        return;
    w->open = 0;
    if (w->stream)
        gw_buf_printf(out,
                      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                      "\"index\":%zu}\n\n",
                      w->n_blocks - 1);
}

/* Opens a new block (closing the open one); NULL when out of memory. */
static struct gw_msg_block *open_block(struct gw_msg_writer *w, int tool, int tool_index,
                                       const char *id, const char *name, struct gw_buf *out)
{
    close_block(w, out);
    if (w->n_blocks == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4;
        struct gw_msg_block *b = realloc(w->blocks, cap * sizeof *b);
        if (!b)
            return NULL;
        w->blocks = b;
        w->cap = cap;
    }
    struct gw_msg_block *b = &w->blocks[w->n_blocks];
    memset(b, 0, sizeof *b);
    b->tool = tool;
    b->tool_index = tool_index;
    if (tool) {
        char made[64];
        if (!id || !*id) { /* the upstream gave none: make one, unique in the message */
            snprintf(made, sizeof made, "toolu_%s_%d", w->r->id + 4, w->n_tools);
            id = made;
        }
        b->id = strdup(id);
        b->name = strdup(name ? name : "");
        if (!b->id || !b->name) {
            free(b->id);
            free(b->name);
            return NULL;
        }
        w->n_tools++;
    }
    w->n_blocks++;
    w->open = 1;
    if (w->stream) {
        event_begin(out, "content_block_start");
        gw_buf_printf(out, "{\"type\":\"content_block_start\",\"index\":%zu,\"content_block\":",
                      w->n_blocks - 1);
        if (tool) {
            gw_buf_puts(out, "{\"type\":\"tool_use\",\"id\":");
            gw_buf_json_str(out, b->id);
            gw_buf_puts(out, ",\"name\":");
            gw_buf_json_str(out, b->name);
            gw_buf_puts(out, ",\"input\":{}}}");
        } else {
            gw_buf_puts(out, "{\"type\":\"text\",\"text\":\"\"}}");
        }
        event_end(out);
        ping(w, out);
    }
    return b;
}

static struct gw_msg_block *open_one(struct gw_msg_writer *w)
{
    return w->open ? &w->blocks[w->n_blocks - 1] : NULL;
}

/* Appends s[0..n) as a JSON string literal (s need not be NUL-terminated). */
static int json_strn(struct gw_buf *out, const char *s, size_t n)
{
    char *z = malloc(n + 1);
    if (!z)
        return -1;
    memcpy(z, s, n);
    z[n] = '\0';
    int rc = gw_buf_json_str(out, z);
    free(z);
    return rc;
}

/* More of the open block b: kept for the whole message, or written at once
 * as a content_block_delta of the given type and field. */
static int delta(struct gw_msg_writer *w, struct gw_msg_block *b, const char *type,
                 const char *field, const char *s, size_t n, struct gw_buf *out)
{
    if (!n)
        return 0;
    if (!w->stream)
        return gw_buf_append(&b->data, s, n);
    event_begin(out, "content_block_delta");
    gw_buf_printf(out,
                  "{\"type\":\"content_block_delta\",\"index\":%zu,\"delta\":{\"type\":\"%s\","
                  "\"%s\":",
                  w->n_blocks - 1, type, field);
    int rc = json_strn(out, s, n);
    gw_buf_puts(out, "}}");
    event_end(out);
    return rc;
}

int gw_msg_text(struct gw_msg_writer *w, const char *s, size_t n, struct gw_buf *out)
{
    if (w->ended || w->failed)
        return 0;
    start(w, out);
    struct gw_msg_block *b = open_one(w);
    if (!b || b->tool)
        b = open_block(w, 0, 0, NULL, NULL, out);
    if (!b)
        return -1;
    return delta(w, b, "text_delta", "text", s, n, out);
}

int gw_msg_tool(struct gw_msg_writer *w, int index, const char *id, const char *name,
                const char *args, size_t n, struct gw_buf *out)
{
    if (w->ended || w->failed)
        return 0;
    start(w, out);
    struct gw_msg_block *b = open_one(w);
    if (!b || !b->tool || b->tool_index != index) {
        b = NULL;
        for (size_t i = 0; i < w->n_blocks; i++)
            if (w->blocks[i].tool && w->blocks[i].tool_index == index)
                b = &w->blocks[i];
        if (b && w->stream) {
            /* Anthropic's blocks cannot interleave: a closed block cannot
             * take more arguments. Say so rather than lose them. */
            gw_msg_fail(w, out, "upstream_bad_response",
                        "The provider interleaved the arguments of several tool calls, "
                        "which the Anthropic stream format cannot express.");
            return -1;
        }
        if (!b)
            b = open_block(w, 1, index, id, name, out);
        if (!b)
            return -1;
    }
    return delta(w, b, "input_json_delta", "partial_json", args, n, out);
}

void gw_msg_finish(struct gw_msg_writer *w, const char *finish, struct gw_buf *out)
{
    if (w->ended || w->failed)
        return;
    w->stop_reason = gw_msg_stop_reason(finish);
    close_block(w, out);
}

/* ---- OpenAI objects ----------------------------------------------------- */

static int tool_calls(struct gw_msg_writer *w, const cJSON *calls, struct gw_buf *out)
{
    int i = 0;
    for (const cJSON *c = cJSON_IsArray(calls) ? calls->child : NULL; c; c = c->next, i++) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(c, "index");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        int index = cJSON_IsNumber(idx) && idx->valuedouble >= 0 && idx->valuedouble < 1e6
                        ? (int)idx->valuedouble
                        : i;
        const char *a = cJSON_IsString(args) ? args->valuestring : "";
        if (gw_msg_tool(w, index, cJSON_IsString(id) ? id->valuestring : NULL,
                        cJSON_IsString(name) ? name->valuestring : NULL, a, strlen(a), out) != 0)
            return -1;
    }
    return 0;
}

/* A message or a delta: content, refusal, tool calls. */
static int message_parts(struct gw_msg_writer *w, const cJSON *m, struct gw_buf *out)
{
    static const char *const texts[] = {"content", "refusal"};
    for (int i = 0; i < 2; i++) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, texts[i]);
        if (cJSON_IsString(t) && gw_msg_text(w, t->valuestring, strlen(t->valuestring), out) != 0)
            return -1;
    }
    return tool_calls(w, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), out);
}

static const cJSON *first_choice(const cJSON *j)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    return cJSON_IsArray(choices) && cJSON_IsObject(choices->child) ? choices->child : NULL;
}

int gw_msg_openai_chunk(struct gw_msg_writer *w, const cJSON *chunk, struct gw_buf *out)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(chunk, "error");
    if (err) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
        gw_msg_fail(w, out, "upstream_stream_error",
                    cJSON_IsString(m) ? m->valuestring : "The provider reported an error.");
        return 0;
    }
    const cJSON *c = first_choice(chunk);
    if (!c)
        return 0; /* e.g. the usage chunk: the adapter takes the usage */
    if (message_parts(w, cJSON_GetObjectItemCaseSensitive(c, "delta"), out) != 0)
        return -1;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    if (cJSON_IsString(fr))
        gw_msg_finish(w, fr->valuestring, out);
    return 0;
}

int gw_msg_openai_completion(struct gw_msg_writer *w, const cJSON *completion, struct gw_buf *out)
{
    const cJSON *c = first_choice(completion);
    if (!c)
        return 0;
    if (message_parts(w, cJSON_GetObjectItemCaseSensitive(c, "message"), out) != 0)
        return -1;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(c, "finish_reason");
    gw_msg_finish(w, cJSON_IsString(fr) ? fr->valuestring : NULL, out);
    return 0;
}

/* ---- the end ------------------------------------------------------------ */

static const char *final_stop_reason(const struct gw_msg_writer *w)
{
    const char *s = w->stop_reason ? w->stop_reason : "end_turn";
    /* OpenAI says "stop" when a forced tool choice made the call */
    if (w->n_tools && strcmp(s, "end_turn") == 0)
        return "tool_use";
    return s;
}

static void tool_input(const struct gw_msg_writer *w, const struct gw_msg_block *b,
                       struct gw_buf *out)
{
    cJSON *in = b->data.len ? cJSON_ParseWithLength(b->data.data, b->data.len) : NULL;
    char *s = cJSON_IsObject(in) ? cJSON_PrintUnformatted(in) : NULL;
    if (s) {
        gw_buf_puts(out, s);
    } else {
        if (b->data.len)
            gw_warn("%s: tool call %s: the provider's arguments are not a JSON object", w->r->id,
                    b->id);
        gw_buf_puts(out, "{}");
    }
    cJSON_free(s);
    cJSON_Delete(in);
}

static void whole_message(struct gw_msg_writer *w, struct gw_buf *out)
{
    gw_buf_puts(out, "{\"id\":");
    msg_id(w, out);
    gw_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
    gw_buf_json_str(out, w->r->model_name);
    gw_buf_puts(out, ",\"content\":[");
    for (size_t i = 0; i < w->n_blocks; i++) {
        const struct gw_msg_block *b = &w->blocks[i];
        if (i)
            gw_buf_puts(out, ",");
        if (b->tool) {
            gw_buf_puts(out, "{\"type\":\"tool_use\",\"id\":");
            gw_buf_json_str(out, b->id);
            gw_buf_puts(out, ",\"name\":");
            gw_buf_json_str(out, b->name);
            gw_buf_puts(out, ",\"input\":");
            tool_input(w, b, out);
            gw_buf_puts(out, "}");
        } else {
            gw_buf_puts(out, "{\"type\":\"text\",\"text\":");
            gw_buf_json_str(out, b->data.data ? b->data.data : "");
            gw_buf_puts(out, "}");
        }
    }
    gw_buf_puts(out, "],\"stop_reason\":");
    gw_buf_json_str(out, final_stop_reason(w));
    gw_buf_puts(out, ",\"stop_sequence\":null,\"usage\":");
    usage_json(w, out);
    gw_buf_puts(out, "}\n");
}

int gw_msg_close(struct gw_msg_writer *w, struct gw_buf *out)
{
    if (w->ended || w->failed)
        return 0;
    start(w, out);
    close_block(w, out);
    w->ended = 1;
    if (!w->stream) {
        whole_message(w, out);
        return 0;
    }
    ping(w, out);
    event_begin(out, "message_delta");
    gw_buf_puts(out, "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":");
    gw_buf_json_str(out, final_stop_reason(w));
    gw_buf_puts(out, ",\"stop_sequence\":null},\"usage\":");
    usage_json(w, out);
    gw_buf_puts(out, "}");
    event_end(out);
    gw_buf_puts(out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    return 0;
}

void gw_msg_fail(struct gw_msg_writer *w, struct gw_buf *out, const char *code, const char *message)
{
    if (w->ended || w->failed)
        return;
    w->failed = 1;
    gw_error_stream_event(w->r, out, "upstream_error", code, message);
}

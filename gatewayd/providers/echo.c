/* The built-in echo provider: answers with the text of the last user message,
 * so a fresh gateway works with no upstream at all. Streamed answers are
 * real OpenAI SSE (role chunk, one chunk per word, finish chunk, optional
 * usage chunk, [DONE]). Token counts are an estimate (one token per four
 * bytes of text, plus three per message), as documented. A /v1/messages
 * request gets the same answer in Anthropic's format, written through the
 * messages writer. */
#include <string.h>

#include "buf.h"
#include "messages.h"
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

/* The reply for a /v1/messages client: one text block, streamed a word per
 * delta as the chat stream is. */
static void anthropic(struct gw_request *r, const char *reply)
{
    struct gw_msg_writer w;
    gw_msg_init(&w, r);
    r->content_type = r->stream ? "text/event-stream" : "application/json";
    const char *p = reply;
    do {
        const char *sp = r->stream ? strchr(p, ' ') : NULL;
        size_t n = sp ? (size_t)(sp - p) + 1 : strlen(p);
        gw_msg_text(&w, p, n, &r->out);
        p += n;
    } while (*p);
    gw_msg_finish(&w, "stop", &r->out);
    gw_msg_close(&w, &r->out);
    gw_msg_free(&w);
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
    if (r->api == GW_API_MESSAGES) {
        anthropic(r, reply.data);
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

const struct gw_provider_ops gw_provider_echo = {
    .type = "echo",
    .chat = chat,
};

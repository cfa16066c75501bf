/* What a broken stream delivered (see received.h).
 *
 * DESIGN: nothing is counted while a stream is healthy. Only when a stream
 * ends without the provider's usage does the transfer read back the copy
 * it kept of what it handed over: the SSE events are split again
 * (sse.h), each data payload parsed, the answer's text pieces joined, and
 * the whole text counted once (a word split across pieces is one token, as
 * the provider would have counted it). The copy is read under r->mu into a
 * scratch buffer, and counted after the lock is let go. */
#include "received.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "request.h"
#include "sse.h"
#include "tokens.h"

struct gw_received {
    int anthropic;
    int oom;
    struct gw_sse sse;
    struct gw_buf text;
};

struct gw_received *gw_received_new(int anthropic)
{
    struct gw_received *rc = calloc(1, sizeof *rc);
    if (rc)
        rc->anthropic = anthropic;
    return rc;
}

void gw_received_free(struct gw_received *rc)
{
    if (!rc)
        return;
    gw_sse_free(&rc->sse);
    gw_buf_free(&rc->text);
    free(rc);
}

const struct gw_buf *gw_received_text(const struct gw_received *rc)
{
    return &rc->text;
}

static void add_string(struct gw_received *rc, const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(v) && gw_buf_puts(&rc->text, v->valuestring) != 0)
        rc->oom = 1;
}

/* An OpenAI chunk: every choice's delta. */
static void openai_chunk(struct gw_received *rc, const cJSON *j)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    for (const cJSON *c = cJSON_IsArray(choices) ? choices->child : NULL; c; c = c->next) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "delta");
        if (!cJSON_IsObject(d))
            continue;
        add_string(rc, d, "content");
        add_string(rc, d, "refusal");
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(d, "tool_calls");
        for (const cJSON *t = cJSON_IsArray(calls) ? calls->child : NULL; t; t = t->next)
            add_string(rc, cJSON_GetObjectItemCaseSensitive(t, "function"), "arguments");
    }
}

/* An Anthropic event: a content_block_delta's text, thinking or JSON. */
static void anthropic_event(struct gw_received *rc, const cJSON *j)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "content_block_delta") != 0)
        return;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delta");
    add_string(rc, d, "text");
    add_string(rc, d, "thinking");
    add_string(rc, d, "partial_json");
}

static int on_event(void *ctx, const char *raw, size_t raw_len, const char *data, size_t n)
{
    struct gw_received *rc = ctx;
    (void)raw;
    (void)raw_len;
    if (!n || data[0] != '{')
        return 0; /* [DONE], or no data */
    cJSON *j = cJSON_ParseWithLength(data, n);
    if (cJSON_IsObject(j)) {
        if (rc->anthropic)
            anthropic_event(rc, j);
        else
            openai_chunk(rc, j);
    }
    cJSON_Delete(j);
    return rc->oom ? -1 : 0;
}

int gw_received_feed(struct gw_received *rc, const char *p, size_t n)
{
    return gw_sse_feed(&rc->sse, p, n, on_event, rc) == 0 ? 0 : -1;
}

static int feed_piece(void *arg, const char *p, size_t n)
{
    return gw_received_feed(arg, p, n);
}

long long gw_received_tokens(struct gw_request *r, int *capped)
{
    struct gw_received *rc = gw_received_new(r->api == GW_API_MESSAGES);
    if (!rc)
        return 0;
    pthread_mutex_lock(&r->mu);
    gw_durable_each(&r->kept, feed_piece, rc); /* what was read before a failure counts */
    if (capped)
        *capped = r->kept.len < r->kept.total;
    pthread_mutex_unlock(&r->mu);
    long long n = rc->text.len ? gw_tokens_text(r, rc->text.data, rc->text.len) : 0;
    gw_received_free(rc);
    return n;
}

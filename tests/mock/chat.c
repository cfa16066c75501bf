/* The answer every wire format gives, independent of its shape: the echo of
 * the last user message (directives cut out), the tool call of tool=NAME,
 * the stop reason, deterministic token counts (whitespace words) and the
 * per-format id counter. Each format's parser feeds it texts as it walks the
 * request; renderers read the finished struct mock_chat. */
#include "mock.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_ullong chat_seq[MOCK_FMT_COUNT];

void mock_buf_add(struct mock_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void mock_buf_join(struct mock_buf *b, const char *text)
{
    if (b->len)
        mock_buf_add(b, " ", 1);
    mock_buf_add(b, text, strlen(text)); /* allocates even for "" */
}

void mock_buf_free(struct mock_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

long mock_count_words(const char *s)
{
    long n = 0;
    bool in = false;
    for (; *s; s++) {
        bool sp = isspace((unsigned char)*s);
        if (!sp && !in)
            n++;
        in = !sp;
    }
    return n;
}

void mock_chat_init(struct mock_chat *c)
{
    memset(c, 0, sizeof *c);
    mock_directives_init(&c->dir);
    c->start_ms = mock_mono_ms();
}

void mock_chat_count(struct mock_chat *c, const char *text)
{
    c->prompt_tokens += mock_count_words(text);
}

void mock_chat_user(struct mock_chat *c, struct mock_buf *b)
{
    free(c->last_user);
    c->last_user = b->p ? b->p : strdup("");
    memset(b, 0, sizeof *b);
}

static char *mock_make_reply(const char *text, long words)
{
    if (words >= 0) {
        /* "w1 w2 ... wN": at most 9 bytes per word for N <= 10^7. */
        char *out = malloc((size_t)words * 10 + 1), *p = out;
        if (!out)
            return NULL;
        *p = '\0';
        for (long i = 1; i <= words; i++)
            p += sprintf(p, i == 1 ? "w%ld" : " w%ld", i);
        return out;
    }
    if (!*text)
        return strdup("echo:");
    size_t n = strlen(text);
    char *out = malloc(n + 7);
    if (out) {
        memcpy(out, "echo: ", 6);
        memcpy(out + 6, text, n + 1);
    }
    return out;
}

/* With tool=NAME: the text becomes "Calling NAME." and the echo moves into
 * the tool's arguments. */
static bool mock_chat_tool(struct mock_chat *c)
{
    char text[96];
    snprintf(text, sizeof text, "Calling %s.", c->dir.tool);
    c->echo = c->reply;
    c->reply = strdup(text);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "text", c->echo);
    c->tool_args = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    return c->reply && c->tool_args;
}

bool mock_chat_finish(struct mock_chat *c, const char *model, enum mock_format fmt,
                      const char *prefix)
{
    char *text = c->last_user ? c->last_user : "";
    if (c->last_user) {
        mock_directives_extract(c->last_user, &c->dir);
        while (isspace((unsigned char)*text))
            text++;
        size_t n = strlen(text);
        while (n && isspace((unsigned char)text[n - 1]))
            text[--n] = '\0';
    }
    c->model = strdup(model);
    c->reply = mock_make_reply(text, c->dir.words);
    char *fixed = mock_replies_take(model); /* /_mock/replies wins over the echo */
    if (fixed) {
        free(c->reply);
        c->reply = fixed;
    }
    if (!c->model || !c->reply || (c->dir.tool[0] && !mock_chat_tool(c)))
        return false;
    c->completion_tokens = mock_count_words(c->reply) + (c->echo ? mock_count_words(c->echo) : 0);
    c->cache_read = c->dir.cached < c->prompt_tokens ? c->dir.cached : c->prompt_tokens;
    long left = c->prompt_tokens - c->cache_read;
    c->cache_write = c->dir.cache_write < left ? c->dir.cache_write : left;
    c->created = (long long)(mock_wall_ms() / 1000);
    c->seq = atomic_fetch_add(&chat_seq[fmt], 1) + 1;
    snprintf(c->id, sizeof c->id, "%s%llu", prefix, c->seq);
    return true;
}

void mock_chat_free(struct mock_chat *c)
{
    free(c->model);
    free(c->reply);
    free(c->echo);
    free(c->tool_args);
    free(c->last_user);
    c->model = c->reply = c->echo = c->tool_args = c->last_user = NULL;
}

enum mock_stop mock_chat_stop(const struct mock_chat *c)
{
    if (c->dir.stop_max)
        return MOCK_STOP_MAX;
    return c->dir.tool[0] ? MOCK_STOP_TOOL : MOCK_STOP_END;
}

void mock_chat_tool_fragment(const struct mock_chat *c, int i, const char **p, size_t *n)
{
    size_t len = strlen(c->tool_args), mid = len / 2;
    while (mid > 0 && ((unsigned char)c->tool_args[mid] & 0xC0) == 0x80)
        mid--;
    *p = i == 0 ? c->tool_args : c->tool_args + mid;
    *n = i == 0 ? mid : len - mid;
}

cJSON *mock_chat_tool_input(const struct mock_chat *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", c->echo ? c->echo : "");
    return o;
}

long mock_chat_uncached(const struct mock_chat *c)
{
    return c->prompt_tokens - c->cache_read - c->cache_write;
}

/* Validation of an Anthropic Messages request body, as strict as the real
 * API: unknown fields refused ("<path>: Extra inputs are not permitted"),
 * roles, block types, image and document sources, thinking blocks and the
 * thinking setting (accepted, not acted on), tool names and schemas,
 * tool_choice, and tool_use / tool_result pairing between consecutive
 * messages. While it
 * walks the body it feeds chat.c the texts (prompt tokens, last user text).
 * Used by POST /v1/messages and by Vertex AI's rawPredict. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INVALID           "invalid_request_error"
#define MOCK_ANTH_MAX_IDS 64

struct anth_walk {
    struct mock_chat *c;
    struct mock_verdict *v;
    struct mock_buf user;               /* text of the current user message */
    const char *ids[MOCK_ANTH_MAX_IDS]; /* tool_use ids of the previous message */
    int nids, nids_now;                 /* ... and of the current one */
    const char *now_ids[MOCK_ANTH_MAX_IDS];
    bool answered[MOCK_ANTH_MAX_IDS]; /* previous ids with a tool_result now */
    bool tool_blocks;                 /* a tool_use or tool_result was seen */
};

static bool anth_extra(const cJSON *obj, const char *const *keys, const char *where,
                       struct mock_verdict *v)
{
    const char *bad = mock_json_unknown(obj, keys, false);
    if (bad)
        return mock_fail(v, 400, INVALID, "%s%s%s: Extra inputs are not permitted", where,
                         *where ? "." : "", bad);
    return true;
}

static bool anth_cache_control(const cJSON *obj, const char *where, struct mock_verdict *v)
{
    static const char *const keys[] = {"type", "ttl", NULL};
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(obj, "cache_control");
    if (!cc || cJSON_IsNull(cc))
        return true;
    if (!cJSON_IsObject(cc))
        return mock_fail(v, 400, INVALID, "%s.cache_control: Input should be an object", where);
    char at[256];
    snprintf(at, sizeof at, "%s.cache_control", where);
    if (!anth_extra(cc, keys, at, v))
        return false;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cc, "type");
    const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(cc, "ttl");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "ephemeral"))
        return mock_fail(v, 400, INVALID, "%s.type: Input should be 'ephemeral'", at);
    if (ttl && !(cJSON_IsString(ttl) &&
                 (!strcmp(ttl->valuestring, "5m") || !strcmp(ttl->valuestring, "1h"))))
        return mock_fail(v, 400, INVALID, "%s.ttl: Input should be '5m' or '1h'", at);
    return true;
}

static bool anth_text_block(const cJSON *b, const char *where, struct mock_verdict *v)
{
    static const char *const keys[] = {"type", "text", "cache_control", "citations", NULL};
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "text");
    if (!anth_extra(b, keys, where, v) || !anth_cache_control(b, where, v))
        return false;
    if (!cJSON_IsString(t))
        return mock_fail(v, 400, INVALID, "%s.text: Field required (a string)", where);
    if (!*t->valuestring)
        return mock_fail(v, 400, INVALID, "%s: text content blocks must be non-empty", where);
    return true;
}

static bool anth_image_block(const cJSON *b, const char *where, struct mock_verdict *v)
{
    static const char *const keys[] = {"type", "source", "cache_control", NULL};
    static const char *const b64_keys[] = {"type", "media_type", "data", NULL};
    static const char *const url_keys[] = {"type", "url", NULL};
    static const char *const media[] = {"image/jpeg", "image/png", "image/gif", "image/webp", NULL};
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(b, "source");
    if (!anth_extra(b, keys, where, v) || !anth_cache_control(b, where, v))
        return false;
    char at[256];
    snprintf(at, sizeof at, "%s.source", where);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(src, "type");
    if (!cJSON_IsObject(src) || !cJSON_IsString(type))
        return mock_fail(v, 400, INVALID, "%s: Field required (an object with a 'type')", at);
    if (strcmp(type->valuestring, "base64") == 0) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(src, "media_type");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(src, "data");
        if (!anth_extra(src, b64_keys, at, v))
            return false;
        bool known = false;
        for (int i = 0; cJSON_IsString(mt) && media[i]; i++)
            known |= strcmp(mt->valuestring, media[i]) == 0;
        if (!known)
            return mock_fail(v, 400, INVALID,
                             "%s.media_type: Input should be 'image/jpeg', 'image/png', "
                             "'image/gif' or 'image/webp'",
                             at);
        if (!cJSON_IsString(data) || !mock_base64_valid(data->valuestring, false))
            return mock_fail(v, 400, INVALID, "%s.data: must be non-empty standard base64", at);
        return true;
    }
    if (strcmp(type->valuestring, "url") == 0) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(src, "url");
        if (!anth_extra(src, url_keys, at, v))
            return false;
        if (!cJSON_IsString(url) ||
            (strncmp(url->valuestring, "https://", 8) && strncmp(url->valuestring, "http://", 7)))
            return mock_fail(v, 400, INVALID, "%s.url: must be an http(s) URL", at);
        return true;
    }
    return mock_fail(v, 400, INVALID,
                     "%s.type: Input tag '%s' found using 'type' does not match any of the "
                     "expected tags: 'base64', 'url'",
                     at, type->valuestring);
}

/* A document block: a PDF (base64), plain text or a URL source; title,
 * context and citations are accepted and not looked at. */
static bool anth_document_block(const cJSON *b, const char *where, struct mock_verdict *v)
{
    static const char *const keys[] = {"type",      "source", "cache_control", "title", "context",
                                       "citations", NULL};
    static const char *const data_keys[] = {"type", "media_type", "data", NULL};
    static const char *const url_keys[] = {"type", "url", NULL};
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(b, "source");
    if (!anth_extra(b, keys, where, v) || !anth_cache_control(b, where, v))
        return false;
    char at[256];
    snprintf(at, sizeof at, "%s.source", where);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(src, "type");
    if (!cJSON_IsObject(src) || !cJSON_IsString(type))
        return mock_fail(v, 400, INVALID, "%s: Field required (an object with a 'type')", at);
    const char *t = type->valuestring;
    if (strcmp(t, "base64") == 0 || strcmp(t, "text") == 0) {
        int b64 = t[0] == 'b';
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(src, "media_type");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(src, "data");
        if (!anth_extra(src, data_keys, at, v))
            return false;
        const char *want = b64 ? "application/pdf" : "text/plain";
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, want))
            return mock_fail(v, 400, INVALID, "%s.media_type: Input should be '%s'", at, want);
        if (!cJSON_IsString(data) || (b64 && !mock_base64_valid(data->valuestring, false)))
            return mock_fail(v, 400, INVALID, "%s.data: must be %s", at,
                             b64 ? "non-empty standard base64" : "a string");
        return true;
    }
    if (strcmp(t, "url") == 0) {
        const cJSON *url = cJSON_GetObjectItemCaseSensitive(src, "url");
        if (!anth_extra(src, url_keys, at, v))
            return false;
        if (!cJSON_IsString(url) ||
            (strncmp(url->valuestring, "https://", 8) && strncmp(url->valuestring, "http://", 7)))
            return mock_fail(v, 400, INVALID, "%s.url: must be an http(s) URL", at);
        return true;
    }
    return mock_fail(v, 400, INVALID,
                     "%s.type: Input tag '%s' found using 'type' does not match any of the "
                     "expected tags: 'base64', 'text', 'url'",
                     at, t);
}

/* An assistant's thinking block (thinking, signature) or redacted_thinking
 * block (data), as an earlier answer gave them; the text is not counted. */
static bool anth_thinking_block(const cJSON *b, const char *where, bool redacted,
                                struct mock_verdict *v)
{
    static const char *const keys[] = {"type", "thinking", "signature", NULL};
    static const char *const rkeys[] = {"type", "data", NULL};
    static const char *const *const need[] = {keys + 1, rkeys + 1};
    if (!anth_extra(b, redacted ? rkeys : keys, where, v))
        return false;
    for (const char *const *k = need[redacted]; *k; k++)
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(b, *k)))
            return mock_fail(v, 400, INVALID, "%s.%s: Field required (a string)", where, *k);
    return true;
}

/* A tool_result's content: a string or text / image blocks; their text
 * counts toward the prompt. */
static bool anth_result_content(const cJSON *content, const char *where, struct anth_walk *w)
{
    if (!content || cJSON_IsString(content)) {
        if (content)
            mock_chat_count(w->c, content->valuestring);
        return true;
    }
    if (!cJSON_IsArray(content))
        return mock_fail(w->v, 400, INVALID, "%s.content: Input should be a string or a list",
                         where);
    int j = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, content)
    {
        char at[256];
        snprintf(at, sizeof at, "%s.content.%d", where, j++);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
        if (!cJSON_IsObject(b) || !cJSON_IsString(type))
            return mock_fail(w->v, 400, INVALID, "%s.type: Field required", at);
        if (strcmp(type->valuestring, "text") == 0) {
            if (!anth_text_block(b, at, w->v))
                return false;
            mock_chat_count(w->c, cJSON_GetObjectItemCaseSensitive(b, "text")->valuestring);
        } else if (strcmp(type->valuestring, "image") == 0) {
            if (!anth_image_block(b, at, w->v))
                return false;
        } else {
            return mock_fail(w->v, 400, INVALID,
                             "%s.type: Input tag '%s' found using 'type' does not match any of "
                             "the expected tags: 'text', 'image'",
                             at, type->valuestring);
        }
    }
    return true;
}

static bool anth_tool_use(const cJSON *b, const char *where, bool assistant, struct anth_walk *w)
{
    static const char *const keys[] = {"type", "id", "name", "input", "cache_control", NULL};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(b, "name");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(b, "input");
    if (!anth_extra(b, keys, where, w->v) || !anth_cache_control(b, where, w->v))
        return false;
    if (!assistant)
        return mock_fail(w->v, 400, INVALID,
                         "%s: tool_use blocks may only appear in assistant messages", where);
    if (!cJSON_IsString(id) || !mock_name_valid(id->valuestring, 256, NULL))
        return mock_fail(w->v, 400, INVALID,
                         "%s.id: String should match pattern '^[a-zA-Z0-9_-]+$'", where);
    if (!cJSON_IsString(name) || !mock_name_valid(name->valuestring, 64, NULL))
        return mock_fail(w->v, 400, INVALID,
                         "%s.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", where);
    if (!cJSON_IsObject(input))
        return mock_fail(w->v, 400, INVALID, "%s.input: Input should be a valid dictionary", where);
    if (w->nids_now < MOCK_ANTH_MAX_IDS)
        w->now_ids[w->nids_now++] = id->valuestring;
    return true;
}

static bool anth_tool_result(const cJSON *b, const char *where, bool assistant, struct anth_walk *w)
{
    static const char *const keys[] = {"type",     "tool_use_id",   "content",
                                       "is_error", "cache_control", NULL};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "tool_use_id");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(b, "is_error");
    if (!anth_extra(b, keys, where, w->v) || !anth_cache_control(b, where, w->v))
        return false;
    if (assistant)
        return mock_fail(w->v, 400, INVALID,
                         "%s: tool_result blocks may only appear in user messages", where);
    if (!cJSON_IsString(id) || !*id->valuestring)
        return mock_fail(w->v, 400, INVALID, "%s.tool_use_id: Field required", where);
    if (err && !cJSON_IsBool(err))
        return mock_fail(w->v, 400, INVALID, "%s.is_error: Input should be a valid boolean", where);
    int i;
    for (i = 0; i < w->nids; i++)
        if (strcmp(w->ids[i], id->valuestring) == 0)
            break;
    if (i == w->nids)
        return mock_fail(w->v, 400, INVALID,
                         "%s: unexpected tool_use_id found in tool_result blocks: %s. Each "
                         "tool_result block must have a corresponding tool_use block in the "
                         "previous message.",
                         where, id->valuestring);
    w->answered[i] = true;
    return anth_result_content(cJSON_GetObjectItemCaseSensitive(b, "content"), where, w);
}

static bool anth_block(const cJSON *b, const char *where, bool assistant, struct anth_walk *w)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
    if (!cJSON_IsObject(b) || !cJSON_IsString(type))
        return mock_fail(w->v, 400, INVALID, "%s.type: Field required", where);
    const char *t = type->valuestring;
    if (strcmp(t, "text") == 0) {
        if (!anth_text_block(b, where, w->v))
            return false;
        const char *text = cJSON_GetObjectItemCaseSensitive(b, "text")->valuestring;
        mock_chat_count(w->c, text);
        if (!assistant)
            mock_buf_join(&w->user, text);
        return true;
    }
    if (strcmp(t, "image") == 0)
        return anth_image_block(b, where, w->v);
    if (strcmp(t, "tool_use") == 0)
        return anth_tool_use(b, where, assistant, w);
    if (strcmp(t, "tool_result") == 0)
        return anth_tool_result(b, where, assistant, w);
    if (strcmp(t, "document") == 0 && !assistant)
        return anth_document_block(b, where, w->v);
    if ((strcmp(t, "thinking") == 0 || strcmp(t, "redacted_thinking") == 0) && assistant)
        return anth_thinking_block(b, where, t[0] == 'r', w->v);
    if (strcmp(t, "document") == 0 || strcmp(t, "thinking") == 0 ||
        strcmp(t, "redacted_thinking") == 0)
        return mock_fail(w->v, 400, INVALID, "%s: '%s' blocks are not allowed in %s messages",
                         where, t, assistant ? "assistant" : "user");
    return mock_fail(w->v, 400, INVALID,
                     "%s.type: Input tag '%s' found using 'type' does not match any of the "
                     "expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', "
                     "'thinking', 'redacted_thinking'",
                     where, t);
}

static bool anth_message(const cJSON *m, int i, bool last, struct anth_walk *w)
{
    static const char *const keys[] = {"role", "content", NULL};
    char where[64];
    snprintf(where, sizeof where, "messages.%d", i);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsObject(m))
        return mock_fail(w->v, 400, INVALID, "%s: Input should be a valid dictionary", where);
    if (!anth_extra(m, keys, where, w->v))
        return false;
    if (!cJSON_IsString(role) ||
        (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant")))
        return mock_fail(w->v, 400, INVALID, "%s.role: Input should be 'user' or 'assistant'",
                         where);
    bool assistant = strcmp(role->valuestring, "assistant") == 0;
    bool empty = cJSON_IsString(content) ? !*content->valuestring
                                         : cJSON_IsArray(content) && !content->child;
    if (!cJSON_IsString(content) && !cJSON_IsArray(content))
        return mock_fail(w->v, 400, INVALID, "%s.content: Input should be a string or a list",
                         where);
    if (empty && !(assistant && last))
        return mock_fail(w->v, 400, INVALID,
                         "%s: all messages must have non-empty content except for the optional "
                         "final assistant message",
                         where);

    mock_buf_free(&w->user);
    mock_buf_add(&w->user, "", 0);
    memset(w->answered, 0, sizeof w->answered);
    w->nids_now = 0;
    if (cJSON_IsString(content)) {
        mock_chat_count(w->c, content->valuestring);
        mock_buf_join(&w->user, content->valuestring);
    } else {
        int j = 0;
        bool others = false; /* a block other than tool_result went before */
        const cJSON *b;
        cJSON_ArrayForEach(b, content)
        {
            char at[96];
            snprintf(at, sizeof at, "%s.content.%d", where, j++);
            if (!anth_block(b, at, assistant, w))
                return false;
            const char *t = cJSON_GetObjectItemCaseSensitive(b, "type")->valuestring;
            bool result = strcmp(t, "tool_result") == 0;
            w->tool_blocks |= result || strcmp(t, "tool_use") == 0;
            if (result && others)
                return mock_fail(w->v, 400, INVALID,
                                 "%s: a message answering tool_use blocks must begin with its "
                                 "tool_result blocks, before any other block",
                                 at);
            others |= !result;
        }
    }
    for (int k = 0; k < w->nids; k++)
        if (!w->answered[k])
            return mock_fail(w->v, 400, INVALID,
                             "messages.%d: tool_use ids were found without tool_result blocks "
                             "immediately after: %s. Each tool_use block must have a "
                             "corresponding tool_result block in the next message.",
                             i - 1, w->ids[k]);
    memcpy(w->ids, w->now_ids, sizeof w->ids);
    w->nids = w->nids_now;
    if (!assistant)
        mock_chat_user(w->c, &w->user);
    return !w->user.oom;
}

static bool anth_system(const cJSON *sys, struct anth_walk *w)
{
    if (!sys || cJSON_IsString(sys)) {
        if (sys)
            mock_chat_count(w->c, sys->valuestring);
        return true;
    }
    if (!cJSON_IsArray(sys))
        return mock_fail(w->v, 400, INVALID, "system: Input should be a string or a list");
    int j = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, sys)
    {
        char at[64];
        snprintf(at, sizeof at, "system.%d", j++);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text"))
            return mock_fail(w->v, 400, INVALID, "%s.type: Input should be 'text'", at);
        if (!anth_text_block(b, at, w->v))
            return false;
        mock_chat_count(w->c, cJSON_GetObjectItemCaseSensitive(b, "text")->valuestring);
    }
    return true;
}

static bool anth_tools(const cJSON *tools, struct mock_verdict *v)
{
    static const char *const keys[] = {"name",          "description", "input_schema",
                                       "cache_control", "type",        NULL};
    if (!tools)
        return true;
    if (!cJSON_IsArray(tools))
        return mock_fail(v, 400, INVALID, "tools: Input should be a valid list");
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        char at[64];
        snprintf(at, sizeof at, "tools.%d", i++);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        const cJSON *stype = cJSON_GetObjectItemCaseSensitive(schema, "type");
        if (!cJSON_IsObject(t))
            return mock_fail(v, 400, INVALID, "%s: Input should be a valid dictionary", at);
        if (!anth_extra(t, keys, at, v) || !anth_cache_control(t, at, v))
            return false;
        if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "custom") == 0))
            return mock_fail(v, 400, INVALID, "%s.type: Input should be 'custom'", at);
        if (!cJSON_IsString(name) || !mock_name_valid(name->valuestring, 64, NULL))
            return mock_fail(v, 400, INVALID,
                             "%s.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", at);
        if (desc && !cJSON_IsString(desc))
            return mock_fail(v, 400, INVALID, "%s.description: Input should be a valid string", at);
        if (!cJSON_IsObject(schema))
            return mock_fail(v, 400, INVALID, "%s.input_schema: Field required", at);
        if (!cJSON_IsString(stype) || strcmp(stype->valuestring, "object"))
            return mock_fail(v, 400, INVALID, "%s.input_schema.type: Input should be 'object'", at);
        for (const cJSON *u = tools->child; u != t; u = u->next) {
            const cJSON *other = cJSON_GetObjectItemCaseSensitive(u, "name");
            if (strcmp(other->valuestring, name->valuestring) == 0)
                return mock_fail(v, 400, INVALID, "tools: Tool names must be unique.");
        }
    }
    return true;
}

static bool anth_tool_choice(const cJSON *tc, bool have_tools, struct mock_verdict *v)
{
    static const char *const keys[] = {"type", "name", "disable_parallel_tool_use", NULL};
    if (!tc)
        return true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(tc, "type");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(tc, "name");
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use");
    if (!cJSON_IsObject(tc))
        return mock_fail(v, 400, INVALID, "tool_choice: Input should be a valid dictionary");
    if (!anth_extra(tc, keys, "tool_choice", v))
        return false;
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (strcmp(t, "auto") && strcmp(t, "any") && strcmp(t, "tool") && strcmp(t, "none"))
        return mock_fail(v, 400, INVALID,
                         "tool_choice.type: Input tag '%s' found using 'type' does not match any "
                         "of the expected tags: 'auto', 'any', 'tool', 'none'",
                         t);
    if (strcmp(t, "tool") == 0 && !cJSON_IsString(name))
        return mock_fail(v, 400, INVALID, "tool_choice.name: Field required");
    if (strcmp(t, "tool") && name)
        return mock_fail(v, 400, INVALID, "tool_choice.name: Extra inputs are not permitted");
    if (dp && !cJSON_IsBool(dp))
        return mock_fail(v, 400, INVALID,
                         "tool_choice.disable_parallel_tool_use: Input should be a valid boolean");
    if (!have_tools && (strcmp(t, "any") == 0 || strcmp(t, "tool") == 0))
        return mock_fail(v, 400, INVALID,
                         "tool_choice: may only be specified while providing tools");
    return true;
}

static bool anth_number(const cJSON *root, const char *name, double lo, double hi,
                        struct mock_verdict *v)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, name);
    if (n && !(cJSON_IsNumber(n) && n->valuedouble >= lo && n->valuedouble <= hi))
        return mock_fail(v, 400, INVALID, "%s: Input should be a number between %g and %g", name,
                         lo, hi);
    return true;
}

/* Everything but messages and tools: the scalar fields. */
static bool anth_scalars(const cJSON *root, const char *vertex_model, struct mock_verdict *v)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *maxt = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop_sequences");
    const cJSON *topk = cJSON_GetObjectItemCaseSensitive(root, "top_k");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    static const char *const meta_keys[] = {"user_id", NULL};

    if (vertex_model) {
        const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "anthropic_version");
        if (!ver)
            return mock_fail(v, 400, INVALID, "anthropic_version: Field required");
        if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "vertex-2023-10-16"))
            return mock_fail(v, 400, INVALID,
                             "anthropic_version: Input should be "
                             "'vertex-2023-10-16'");
    } else if (!cJSON_IsString(model) || !*model->valuestring) {
        return mock_fail(v, 400, INVALID, "model: Field required (a non-empty string)");
    }
    if (!maxt)
        return mock_fail(v, 400, INVALID, "max_tokens: Field required");
    if (!mock_json_int(maxt, 1, 1e9))
        return mock_fail(v, 400, INVALID, "max_tokens: Input should be a positive integer");
    if (stop && !cJSON_IsArray(stop))
        return mock_fail(v, 400, INVALID, "stop_sequences: Input should be a valid list");
    for (const cJSON *s = stop ? stop->child : NULL; s; s = s->next)
        if (!cJSON_IsString(s))
            return mock_fail(v, 400, INVALID, "stop_sequences: every item should be a string");
    if (!anth_number(root, "temperature", 0, 1, v) || !anth_number(root, "top_p", 0, 1, v))
        return false;
    if (topk && !mock_json_int(topk, 0, 1e9))
        return mock_fail(v, 400, INVALID, "top_k: Input should be a non-negative integer");
    if (meta && !cJSON_IsObject(meta))
        return mock_fail(v, 400, INVALID, "metadata: Input should be a valid dictionary");
    if (meta && !anth_extra(meta, meta_keys, "metadata", v))
        return false;
    if (stream && !cJSON_IsBool(stream))
        return mock_fail(v, 400, INVALID, "stream: Input should be a valid boolean");
    return true;
}

/* thinking: {"type": "enabled", "budget_tokens": N} with 1024 <= N <
 * max_tokens, or {"type": "disabled"}. Accepted and not acted on: the mock
 * answers without thinking blocks. */
static bool anth_thinking(const cJSON *th, const cJSON *maxt, struct mock_verdict *v)
{
    static const char *const keys[] = {"type", "budget_tokens", NULL};
    static const char *const dkeys[] = {"type", NULL};
    if (!th)
        return true;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(th, "type");
    if (!cJSON_IsObject(th) || !cJSON_IsString(type))
        return mock_fail(v, 400, INVALID,
                         "thinking: Input should be a valid dictionary with a "
                         "'type'");
    if (strcmp(type->valuestring, "disabled") == 0)
        return anth_extra(th, dkeys, "thinking", v);
    if (strcmp(type->valuestring, "enabled"))
        return mock_fail(v, 400, INVALID,
                         "thinking.type: Input should be 'enabled' or "
                         "'disabled'");
    if (!anth_extra(th, keys, "thinking", v))
        return false;
    const cJSON *budget = cJSON_GetObjectItemCaseSensitive(th, "budget_tokens");
    if (!budget)
        return mock_fail(v, 400, INVALID, "thinking.budget_tokens: Field required");
    if (!mock_json_int(budget, 1024, 1e9))
        return mock_fail(v, 400, INVALID,
                         "thinking.budget_tokens: Input should be greater than or equal to 1024");
    if (budget->valuedouble >= maxt->valuedouble)
        return mock_fail(v, 400, INVALID,
                         "thinking.budget_tokens: `max_tokens` must be greater than "
                         "`thinking.budget_tokens`");
    return true;
}

static bool anth_request(const cJSON *root, const char *vertex_model, struct anth_walk *w)
{
    static const char *const keys[] = {
        "model", "max_tokens", "messages",    "system",   "stop_sequences", "temperature", "top_p",
        "top_k", "tools",      "tool_choice", "metadata", "stream",         "thinking",    NULL};
    static const char *const vkeys[] = {
        "anthropic_version", "max_tokens", "messages", "system", "stop_sequences",
        "temperature",       "top_p",      "top_k",    "tools",  "tool_choice",
        "metadata",          "stream",     "thinking", NULL};
    struct mock_verdict *v = w->v;

    if (!cJSON_IsObject(root))
        return mock_fail(v, 400, INVALID, "The request body is not valid JSON (an object).");
    if (!anth_extra(root, vertex_model ? vkeys : keys, "", v) ||
        !anth_scalars(root, vertex_model, v) ||
        !anth_thinking(cJSON_GetObjectItemCaseSensitive(root, "thinking"),
                       cJSON_GetObjectItemCaseSensitive(root, "max_tokens"), v))
        return false;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (!msgs)
        return mock_fail(v, 400, INVALID, "messages: Field required");
    if (!cJSON_IsArray(msgs) || !msgs->child)
        return mock_fail(v, 400, INVALID, "messages: at least one message is required");
    if (!anth_tools(tools, v) ||
        !anth_tool_choice(cJSON_GetObjectItemCaseSensitive(root, "tool_choice"),
                          cJSON_IsArray(tools) && tools->child, v) ||
        !anth_system(cJSON_GetObjectItemCaseSensitive(root, "system"), w))
        return false;
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (!anth_message(m, i, !m->next, w))
            return false;
        i++;
    }
    if (w->tool_blocks && !(cJSON_IsArray(tools) && tools->child))
        return mock_fail(v, 400, INVALID,
                         "tools: must be defined when the messages hold tool_use or tool_result "
                         "blocks");
    return true;
}

bool mock_anthropic_parse(const char *body, size_t len, const char *vertex_model,
                          struct mock_chat *c, struct mock_verdict *v)
{
    struct anth_walk w = {.c = c, .v = v};
    mock_chat_init(c);
    v->status = 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    bool ok = anth_request(root, vertex_model, &w);
    if (ok) {
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
        c->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream"));
        if (w.user.oom || !mock_chat_finish(c, vertex_model ? vertex_model : model->valuestring,
                                            MOCK_FMT_ANTHROPIC, "msg_mock_"))
            ok = mock_fail(v, 500, "api_error", "out of memory");
    }
    mock_buf_free(&w.user);
    cJSON_Delete(root);
    if (!ok)
        mock_chat_free(c);
    return ok;
}

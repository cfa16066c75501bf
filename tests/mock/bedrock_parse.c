/* Validation of a Bedrock Runtime Converse / ConverseStream request body, as
 * strict as the real service: unknown keys refused, unions with exactly one
 * member, a conversation that starts with the user and alternates, blank
 * text, image formats and base64 bytes, tool names and ids, toolConfig
 * required whenever toolUse / toolResult blocks appear, and every toolResult
 * answering a toolUse of the previous turn. While it walks the body it feeds
 * chat.c the texts. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION      "ValidationException"
#define MOCK_BR_MAX_IDS 64

struct br_walk {
    struct mock_chat *c;
    struct mock_verdict *v;
    struct mock_buf user;             /* text of the current user message */
    const char *ids[MOCK_BR_MAX_IDS]; /* toolUse ids of the previous turn */
    const char *now[MOCK_BR_MAX_IDS]; /* ... and of the current one */
    bool answered[MOCK_BR_MAX_IDS];
    int nids, nnow;
    bool tool_blocks; /* a toolUse or toolResult was seen */
};

static bool br_extra(const cJSON *obj, const char *const *keys, const char *where,
                     struct mock_verdict *v)
{
    const char *bad = mock_json_unknown(obj, keys, false);
    if (bad)
        return mock_fail(v, 400, VALIDATION,
                         "Malformed input request: extraneous key [%s] is not permitted%s%s", bad,
                         *where ? " at " : "", where);
    return true;
}

static bool br_constraint(struct mock_verdict *v, const char *where, const char *what)
{
    return mock_fail(v, 400, VALIDATION,
                     "1 validation error detected: Value at '%s' failed to satisfy constraint: %s",
                     where, what);
}

/* The single member of a union object, which must be one of keys. */
static const cJSON *br_union(const cJSON *u, const char *const *keys, const char *what,
                             const char *where, struct mock_verdict *v)
{
    if (!cJSON_IsObject(u)) {
        mock_fail(v, 400, VALIDATION, "The %s at %s must be an object", what, where);
        return NULL;
    }
    if (!br_extra(u, keys, where, v))
        return NULL;
    if (cJSON_GetArraySize(u) != 1) {
        char list[256] = "";
        for (size_t i = 0, o = 0; keys[i] && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", keys[i]);
        mock_fail(v, 400, VALIDATION, "The %s object at %s must set exactly one of: %s", what,
                  where, list);
        return NULL;
    }
    return u->child;
}

static bool br_tool_name(const cJSON *name, const char *where, struct mock_verdict *v)
{
    if (!cJSON_IsString(name) || !mock_name_valid(name->valuestring, 64, NULL))
        return br_constraint(v, where,
                             "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+ "
                             "(1 to 64 characters)");
    return true;
}

static bool br_image(const cJSON *img, const char *where, struct mock_verdict *v)
{
    static const char *const keys[] = {"format", "source", NULL};
    static const char *const src_keys[] = {"bytes", NULL};
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(img, "format");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(img, "source");
    char at[192];
    if (!cJSON_IsObject(img) || !br_extra(img, keys, where, v))
        return v->status ? false : br_constraint(v, where, "Member must be an object");
    snprintf(at, sizeof at, "%s.format", where);
    if (!cJSON_IsString(fmt) ||
        (strcmp(fmt->valuestring, "png") && strcmp(fmt->valuestring, "jpeg") &&
         strcmp(fmt->valuestring, "gif") && strcmp(fmt->valuestring, "webp")))
        return br_constraint(v, at, "Member must satisfy enum value set: [png, jpeg, gif, webp]");
    snprintf(at, sizeof at, "%s.source", where);
    const cJSON *bytes = br_union(src, src_keys, "ImageSource", at, v);
    if (!bytes)
        return false;
    if (!cJSON_IsString(bytes) || !mock_base64_valid(bytes->valuestring, false))
        return mock_fail(v, 400, VALIDATION, "%s.bytes: must be non-empty standard base64", at);
    return true;
}

static bool br_cache_point(const cJSON *cp, const char *where, struct mock_verdict *v)
{
    static const char *const keys[] = {"type", NULL};
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(cp, "type");
    if (!cJSON_IsObject(cp) || !br_extra(cp, keys, where, v))
        return v->status ? false : br_constraint(v, where, "Member must be an object");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "default"))
        return br_constraint(v, where, "cachePoint.type must satisfy enum value set: [default]");
    return true;
}

static bool br_tool_use(const cJSON *tu, const char *where, bool assistant, struct br_walk *w)
{
    static const char *const keys[] = {"toolUseId", "name", "input", NULL};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tu, "toolUseId");
    char at[192];
    if (!cJSON_IsObject(tu) || !br_extra(tu, keys, where, w->v))
        return w->v->status ? false : br_constraint(w->v, where, "Member must be an object");
    if (!assistant)
        return mock_fail(w->v, 400, VALIDATION,
                         "%s: toolUse blocks may only appear in assistant messages", where);
    snprintf(at, sizeof at, "%s.toolUseId", where);
    if (!br_tool_name(id, at, w->v))
        return false;
    snprintf(at, sizeof at, "%s.name", where);
    if (!br_tool_name(cJSON_GetObjectItemCaseSensitive(tu, "name"), at, w->v))
        return false;
    if (!cJSON_GetObjectItemCaseSensitive(tu, "input"))
        return mock_fail(w->v, 400, VALIDATION, "%s.input: Member must not be null", where);
    if (w->nnow < MOCK_BR_MAX_IDS)
        w->now[w->nnow++] = id->valuestring;
    return true;
}

static bool br_tool_result(const cJSON *tr, const char *where, bool assistant, struct br_walk *w)
{
    static const char *const keys[] = {"toolUseId", "content", "status", NULL};
    static const char *const ckeys[] = {"text", "json", "image", "document", NULL};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(tr, "toolUseId");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(tr, "content");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(tr, "status");
    if (!cJSON_IsObject(tr) || !br_extra(tr, keys, where, w->v))
        return w->v->status ? false : br_constraint(w->v, where, "Member must be an object");
    if (assistant)
        return mock_fail(w->v, 400, VALIDATION,
                         "%s: toolResult blocks may only appear in user messages", where);
    if (!cJSON_IsString(id))
        return mock_fail(w->v, 400, VALIDATION, "%s.toolUseId: Member must not be null", where);
    int i;
    for (i = 0; i < w->nids; i++)
        if (strcmp(w->ids[i], id->valuestring) == 0)
            break;
    if (i == w->nids)
        return mock_fail(w->v, 400, VALIDATION,
                         "%s: the toolUseId %s does not match any toolUse block of the previous "
                         "turn",
                         where, id->valuestring);
    w->answered[i] = true;
    if (status && !(cJSON_IsString(status) && (!strcmp(status->valuestring, "success") ||
                                               !strcmp(status->valuestring, "error"))))
        return br_constraint(w->v, where, "status must satisfy enum value set: [success, error]");
    if (!cJSON_IsArray(content) || !content->child)
        return mock_fail(w->v, 400, VALIDATION, "%s.content: must be a non-empty list", where);
    int j = 0;
    for (const cJSON *b = content->child; b; b = b->next, j++) {
        char at[192];
        snprintf(at, sizeof at, "%s.content.%d", where, j);
        const cJSON *m = br_union(b, ckeys, "ToolResultContentBlock", at, w->v);
        if (!m)
            return false;
        if (strcmp(m->string, "text") == 0) {
            if (!cJSON_IsString(m))
                return mock_fail(w->v, 400, VALIDATION, "%s.text: must be a string", at);
            mock_chat_count(w->c, m->valuestring);
        } else if (strcmp(m->string, "image") == 0 && !br_image(m, at, w->v)) {
            return false;
        }
    }
    return true;
}

static bool br_block(const cJSON *b, const char *where, bool assistant, struct br_walk *w)
{
    static const char *const keys[] = {"text",       "image",      "toolUse",
                                       "toolResult", "cachePoint", NULL};
    const cJSON *m = br_union(b, keys, "ContentBlock", where, w->v);
    if (!m)
        return false;
    const char *k = m->string;
    if (strcmp(k, "text") == 0) {
        const char *t = cJSON_IsString(m) ? m->valuestring : "";
        if (!mock_count_words(t))
            return mock_fail(w->v, 400, VALIDATION,
                             "The text field in the ContentBlock object at %s is blank. Add text "
                             "to the text field, and try again.",
                             where);
        mock_chat_count(w->c, t);
        if (!assistant)
            mock_buf_join(&w->user, t);
        return true;
    }
    char at[160];
    snprintf(at, sizeof at, "%s.%s", where, k);
    if (strcmp(k, "image") == 0)
        return br_image(m, at, w->v);
    if (strcmp(k, "cachePoint") == 0)
        return br_cache_point(m, at, w->v);
    w->tool_blocks = true;
    if (strcmp(k, "toolUse") == 0)
        return br_tool_use(m, at, assistant, w);
    return br_tool_result(m, at, assistant, w);
}

static bool br_message(const cJSON *m, int i, const char *prev_role, struct br_walk *w)
{
    static const char *const keys[] = {"role", "content", NULL};
    char where[48];
    snprintf(where, sizeof where, "messages.%d", i);
    if (!cJSON_IsObject(m) || !br_extra(m, keys, where, w->v))
        return w->v->status ? false : br_constraint(w->v, where, "Member must be an object");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    char at[64];
    snprintf(at, sizeof at, "%s.member.role", where);
    if (!cJSON_IsString(role) ||
        (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant")))
        return br_constraint(w->v, at, "Member must satisfy enum value set: [user, assistant]");
    bool assistant = strcmp(role->valuestring, "assistant") == 0;
    if (!prev_role && assistant)
        return mock_fail(w->v, 400, VALIDATION,
                         "A conversation must start with a user message. Try again with a "
                         "conversation that starts with a user message.");
    if (prev_role && strcmp(prev_role, role->valuestring) == 0)
        return mock_fail(w->v, 400, VALIDATION,
                         "A conversation must alternate between user and assistant roles. Make "
                         "sure the conversation alternates between user and assistant roles and "
                         "try again.");
    if (!cJSON_IsArray(content) || !content->child)
        return mock_fail(w->v, 400, VALIDATION,
                         "The content field in the Message object at %s is empty. Add a "
                         "ContentBlock object to the content field and try again.",
                         where);
    mock_buf_free(&w->user);
    mock_buf_add(&w->user, "", 0);
    memset(w->answered, 0, sizeof w->answered);
    w->nnow = 0;
    int j = 0;
    for (const cJSON *b = content->child; b; b = b->next, j++) {
        char bat[80];
        snprintf(bat, sizeof bat, "%s.content.%d", where, j);
        if (!br_block(b, bat, assistant, w))
            return false;
    }
    for (int k = 0; k < w->nids; k++)
        if (!w->answered[k])
            return mock_fail(w->v, 400, VALIDATION,
                             "Expected toolResult blocks at %s.content for the following Ids: %s",
                             where, w->ids[k]);
    memcpy(w->ids, w->now, sizeof w->ids);
    w->nids = w->nnow;
    if (!assistant)
        mock_chat_user(w->c, &w->user);
    return !w->user.oom;
}

static bool br_system(const cJSON *sys, struct br_walk *w)
{
    static const char *const keys[] = {"text", "cachePoint", "guardContent", NULL};
    if (!sys)
        return true;
    if (!cJSON_IsArray(sys))
        return br_constraint(w->v, "system", "Member must be a list");
    int i = 0;
    for (const cJSON *b = sys->child; b; b = b->next, i++) {
        char at[48];
        snprintf(at, sizeof at, "system.%d", i);
        const cJSON *m = br_union(b, keys, "SystemContentBlock", at, w->v);
        if (!m)
            return false;
        if (strcmp(m->string, "text") == 0) {
            if (!cJSON_IsString(m) || !mock_count_words(m->valuestring))
                return mock_fail(w->v, 400, VALIDATION,
                                 "The text field in the SystemContentBlock object at %s is blank.",
                                 at);
            mock_chat_count(w->c, m->valuestring);
        } else if (strcmp(m->string, "cachePoint") == 0 && !br_cache_point(m, at, w->v)) {
            return false;
        }
    }
    return true;
}

static bool br_inference(const cJSON *ic, struct mock_verdict *v)
{
    static const char *const keys[] = {"maxTokens", "temperature", "topP", "stopSequences", NULL};
    if (!ic)
        return true;
    if (!cJSON_IsObject(ic))
        return br_constraint(v, "inferenceConfig", "Member must be an object");
    if (!br_extra(ic, keys, "inferenceConfig", v))
        return false;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(ic, "maxTokens");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ic, "temperature");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(ic, "topP");
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(ic, "stopSequences");
    if (mt && !mock_json_int(mt, 1, 1e9))
        return br_constraint(v, "inferenceConfig.maxTokens",
                             "Member must have value greater than or equal to 1");
    if (t && !(cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble <= 1))
        return br_constraint(v, "inferenceConfig.temperature", "Member must be between 0 and 1");
    if (p && !(cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble <= 1))
        return br_constraint(v, "inferenceConfig.topP", "Member must be between 0 and 1");
    if (stop && !cJSON_IsArray(stop))
        return br_constraint(v, "inferenceConfig.stopSequences", "Member must be a list");
    for (const cJSON *s = stop ? stop->child : NULL; s; s = s->next)
        if (!cJSON_IsString(s) || !*s->valuestring)
            return br_constraint(v, "inferenceConfig.stopSequences",
                                 "Member must contain non-empty strings");
    return true;
}

static bool br_tool_spec(const cJSON *spec, const char *where, struct mock_verdict *v)
{
    static const char *const keys[] = {"name", "description", "inputSchema", NULL};
    static const char *const schema_keys[] = {"json", NULL};
    char at[96];
    if (!cJSON_IsObject(spec) || !br_extra(spec, keys, where, v))
        return v->status ? false : br_constraint(v, where, "Member must be an object");
    snprintf(at, sizeof at, "%s.name", where);
    if (!br_tool_name(cJSON_GetObjectItemCaseSensitive(spec, "name"), at, v))
        return false;
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(spec, "description");
    if (desc && !(cJSON_IsString(desc) && *desc->valuestring))
        return br_constraint(v, where, "description must be a non-empty string");
    snprintf(at, sizeof at, "%s.inputSchema", where);
    const cJSON *json = br_union(cJSON_GetObjectItemCaseSensitive(spec, "inputSchema"), schema_keys,
                                 "ToolInputSchema", at, v);
    if (!json)
        return false;
    if (!cJSON_IsObject(json))
        return mock_fail(v, 400, VALIDATION, "%s.json: must be a JSON schema object", at);
    return true;
}

static bool br_tool_config(const cJSON *tc, struct mock_verdict *v)
{
    static const char *const keys[] = {"tools", "toolChoice", NULL};
    static const char *const tool_keys[] = {"toolSpec", "cachePoint", NULL};
    static const char *const choice_keys[] = {"auto", "any", "tool", NULL};
    static const char *const name_keys[] = {"name", NULL};
    if (!cJSON_IsObject(tc))
        return br_constraint(v, "toolConfig", "Member must be an object");
    if (!br_extra(tc, keys, "toolConfig", v))
        return false;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(tc, "tools");
    if (!cJSON_IsArray(tools) || !tools->child)
        return br_constraint(v, "toolConfig.tools",
                             "Member must have length greater than or "
                             "equal to 1");
    int i = 0;
    for (const cJSON *t = tools->child; t; t = t->next, i++) {
        char at[64];
        snprintf(at, sizeof at, "toolConfig.tools.%d", i);
        const cJSON *m = br_union(t, tool_keys, "Tool", at, v);
        if (!m)
            return false;
        snprintf(at, sizeof at, "toolConfig.tools.%d.%s", i, m->string);
        if (!(strcmp(m->string, "toolSpec") == 0 ? br_tool_spec(m, at, v)
                                                 : br_cache_point(m, at, v)))
            return false;
    }
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(tc, "toolChoice");
    if (!choice)
        return true;
    const cJSON *m = br_union(choice, choice_keys, "ToolChoice", "toolConfig.toolChoice", v);
    if (!m)
        return false;
    if (!cJSON_IsObject(m))
        return br_constraint(v, "toolConfig.toolChoice", "Member must be an object");
    if (strcmp(m->string, "tool") == 0) {
        if (!br_extra(m, name_keys, "toolConfig.toolChoice.tool", v))
            return false;
        return br_tool_name(cJSON_GetObjectItemCaseSensitive(m, "name"),
                            "toolConfig.toolChoice.tool.name", v);
    }
    if (cJSON_GetArraySize(m))
        return br_extra(m, (const char *const[]){NULL}, "toolConfig.toolChoice", v);
    return true;
}

static bool br_request(const cJSON *root, struct br_walk *w)
{
    static const char *const keys[] = {"messages",
                                       "system",
                                       "inferenceConfig",
                                       "toolConfig",
                                       "guardrailConfig",
                                       "additionalModelRequestFields",
                                       "promptVariables",
                                       "additionalModelResponseFieldPaths",
                                       "requestMetadata",
                                       "performanceConfig",
                                       NULL};
    struct mock_verdict *v = w->v;
    if (!cJSON_IsObject(root))
        return mock_fail(v, 400, "SerializationException", "the request body is not a JSON object");
    if (!br_extra(root, keys, "", v))
        return false;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "toolConfig");
    const cJSON *amrf = cJSON_GetObjectItemCaseSensitive(root, "additionalModelRequestFields");
    if (!cJSON_IsArray(msgs) || !msgs->child)
        return mock_fail(v, 400, VALIDATION,
                         "A conversation must start with a user message. Try again with a "
                         "conversation that starts with a user message.");
    if (!br_system(cJSON_GetObjectItemCaseSensitive(root, "system"), w) ||
        !br_inference(cJSON_GetObjectItemCaseSensitive(root, "inferenceConfig"), v) ||
        (tc && !br_tool_config(tc, v)))
        return false;
    if (amrf && !cJSON_IsObject(amrf))
        return br_constraint(v, "additionalModelRequestFields", "Member must be a JSON object");
    int i = 0;
    const char *prev = NULL;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        if (!br_message(m, i, prev, w))
            return false;
        prev = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
    }
    if (w->tool_blocks && !tc)
        return mock_fail(v, 400, VALIDATION,
                         "The toolConfig field must be defined when using toolUse and toolResult "
                         "content blocks.");
    return true;
}

bool mock_bedrock_parse(const char *body, size_t len, const char *model, struct mock_chat *c,
                        struct mock_verdict *v)
{
    struct br_walk w = {.c = c, .v = v};
    mock_chat_init(c);
    v->status = 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    bool ok = br_request(root, &w);
    if (ok && (w.user.oom || !mock_chat_finish(c, model, MOCK_FMT_BEDROCK, "mock-")))
        ok = mock_fail(v, 500, "InternalServerException", "out of memory");
    mock_buf_free(&w.user);
    cJSON_Delete(root);
    if (!ok)
        mock_chat_free(c);
    return ok;
}

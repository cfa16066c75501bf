/* The request side of the Bedrock adapter: the caller's chat request in
 * OpenAI's form (r->json; a /v1/messages body has already been put in that
 * form by parse_messages) as the body of a Converse / ConverseStream call.
 * This file owns the conversation; bedrock_params.c everything else.
 *
 * What translates:
 *   system and developer messages  -> system [{text}], in order
 *   user / assistant messages      -> messages [{role, content: [blocks]}]:
 *     text parts                   -> {text} (blank texts left out: Converse
 *                                     refuses them)
 *     image_url data: URLs         -> {image: {format, source: {bytes}}}
 *     assistant tool_calls         -> {toolUse: {toolUseId, name, input}}
 *   tool messages                  -> a user message of {toolResult: {toolUseId,
 *                                     content: [{json}] for a JSON object,
 *                                     else [{text}]}}
 *   consecutive messages of one role are merged into one (Converse wants
 *   the roles to alternate, and the tool results of a turn together).
 *
 * Refused with a 400 naming the field: image URLs (Converse takes bytes or
 * S3 locations, never a URL to fetch), image types other than png, jpeg,
 * gif and webp, audio and file parts, legacy function messages, tool-call
 * arguments that are not a JSON object, and a conversation that does not
 * start with a user message. */
#include "bedrock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "request.h"

struct conv {
    struct gw_request *r;
    cJSON *system;   /* system content blocks */
    cJSON *msgs;     /* Converse messages */
    cJSON *last;     /* the last message of msgs */
    int tool_blocks; /* toolUse / toolResult blocks in the conversation */
};

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int present(const cJSON *v)
{
    return v && !cJSON_IsNull(v);
}

int gw_bedrock_fail(struct gw_request *r, const char *code, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gw_error_respond(r, 400, "invalid_request_error", code, param, "%s", msg);
    return -1;
}

int gw_bedrock_unsupported(struct gw_request *r, const char *param, const char *why)
{
    return gw_bedrock_fail(
        r, "unsupported_parameter", param,
        "%s: not supported with provider '%s' (Amazon Bedrock's Converse API): %s.", param,
        r->provider->name, why);
}

/* Converse refuses a text block that is empty or only whitespace. */
static int blank(const char *s)
{
    return s[strspn(s, " \t\r\n")] == '\0';
}

static cJSON *text_block(const char *s)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "text", s);
    return b;
}

/* Appends block to the conversation as role's: to the last message if it
 * has that role, else to a new one. */
static void add_block(struct conv *c, const char *role, cJSON *block)
{
    if (!c->last || strcmp(get(c->last, "role")->valuestring, role) != 0) {
        c->last = cJSON_CreateObject();
        cJSON_AddStringToObject(c->last, "role", role);
        cJSON_AddArrayToObject(c->last, "content");
        cJSON_AddItemToArray(c->msgs, c->last);
    }
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(c->last, "content"), block);
}

/* Moves every block of blocks (an array, deleted) into the conversation. */
static void add_blocks(struct conv *c, const char *role, cJSON *blocks)
{
    cJSON *b;
    while ((b = cJSON_DetachItemFromArray(blocks, 0)))
        add_block(c, role, b);
    cJSON_Delete(blocks);
}

/* An image_url part: a data: URL becomes an image block with its bytes
 * (Converse takes bytes or S3 locations, never a URL to fetch). */
static int image_block(struct conv *c, const cJSON *part, const char *param, cJSON *blocks)
{
    static const char *const formats[][2] = {
        {"image/png", "png"}, {"image/jpeg", "jpeg"}, {"image/jpg", "jpeg"},
        {"image/gif", "gif"}, {"image/webp", "webp"},
    };
    struct gw_request *r = c->r;
    const cJSON *iu = get(part, "image_url");
    const cJSON *url = cJSON_IsObject(iu) ? get(iu, "url") : iu;
    if (!cJSON_IsString(url) || !*url->valuestring)
        return gw_bedrock_fail(r, "invalid_type", param,
                               "%s: image_url.url must be a non-empty string.", param);
    const char *u = url->valuestring;
    if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0)
        return gw_bedrock_unsupported(
            r, param,
            "Converse takes an image's bytes, not a URL to fetch; send the image "
            "inline as a data: URL (data:image/png;base64,...)");
    const char *comma = strchr(u, ',');
    if (strncasecmp(u, "data:", 5) != 0 || !comma)
        return gw_bedrock_fail(r, "invalid_value", param,
                               "%s: image_url.url must be a data: URL (data:image/png;base64,...).",
                               param);
    const char *media = u + 5, *semi = memchr(media, ';', (size_t)(comma - media));
    size_t media_len = (size_t)((semi ? semi : comma) - media);
    if (!semi || (size_t)(comma - semi) != 7 || strncasecmp(semi, ";base64", 7) != 0)
        return gw_bedrock_fail(
            r, "invalid_value", param,
            "%s: the image's data: URL must be base64-encoded (data:<type>;base64,...).", param);
    const char *format = NULL;
    for (size_t i = 0; i < sizeof formats / sizeof *formats && !format; i++)
        if (strlen(formats[i][0]) == media_len && strncasecmp(media, formats[i][0], media_len) == 0)
            format = formats[i][1];
    if (!format) {
        char why[160];
        snprintf(why, sizeof why, "image type '%.*s' cannot be sent (png, jpeg, gif or webp only)",
                 (int)(media_len > 60 ? 60 : media_len), media);
        return gw_bedrock_unsupported(r, param, why);
    }
    if (!comma[1])
        return gw_bedrock_fail(r, "invalid_value", param,
                               "%s: the image's data: URL holds no data.", param);
    cJSON *b = cJSON_CreateObject();
    cJSON *img = cJSON_AddObjectToObject(b, "image");
    cJSON_AddStringToObject(img, "format", format);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(img, "source"), "bytes", comma + 1);
    cJSON_AddItemToArray(blocks, b);
    return 0;
}

enum speaker { SYSTEM, USER, ASSISTANT };

/* A message's content (a string, an array of parts, or null) as blocks. */
static int content_blocks(struct conv *c, const cJSON *content, int i, enum speaker who,
                          cJSON *blocks)
{
    struct gw_request *r = c->r;
    char param[64];
    if (!present(content))
        return 0;
    if (cJSON_IsString(content)) {
        if (!blank(content->valuestring))
            cJSON_AddItemToArray(blocks, text_block(content->valuestring));
        return 0;
    }
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (!cJSON_IsArray(content))
        return gw_bedrock_fail(r, "invalid_type", param,
                               "%s must be a string, an array of content parts, or null.", param);
    int j = 0;
    for (const cJSON *p = content->child; p; p = p->next, j++) {
        snprintf(param, sizeof param, "messages[%d].content[%d]", i, j);
        const cJSON *type = get(p, "type");
        if (!cJSON_IsObject(p) || !cJSON_IsString(type))
            return gw_bedrock_fail(r, "invalid_type", param,
                                   "%s must be an object with a string 'type'.", param);
        const char *t = type->valuestring;
        int refusal = strcmp(t, "refusal") == 0 && who == ASSISTANT;
        if (strcmp(t, "text") == 0 || refusal) {
            const char *key = refusal ? "refusal" : "text";
            const cJSON *s = get(p, key);
            if (!cJSON_IsString(s))
                return gw_bedrock_fail(r, "invalid_type", param, "%s.%s must be a string.", param,
                                       key);
            if (!blank(s->valuestring))
                cJSON_AddItemToArray(blocks, text_block(s->valuestring));
        } else if (strcmp(t, "image_url") == 0 && who == USER) {
            snprintf(param, sizeof param, "messages[%d].content[%d].image_url", i, j);
            if (image_block(c, p, param, blocks) != 0)
                return -1;
        } else {
            char why[160];
            snprintf(why, sizeof why, "'%.40s' content parts cannot be sent in %s messages", t,
                     who == SYSTEM ? "system"
                     : who == USER ? "user"
                                   : "assistant");
            return gw_bedrock_unsupported(r, param, why);
        }
    }
    return 0;
}

/* An assistant message's tool_calls as toolUse blocks (arguments parsed:
 * Converse wants the input as a JSON object). */
static int tool_calls(struct conv *c, const cJSON *calls, int i, cJSON *blocks)
{
    struct gw_request *r = c->r;
    char param[96];
    snprintf(param, sizeof param, "messages[%d].tool_calls", i);
    if (!cJSON_IsArray(calls))
        return gw_bedrock_fail(r, "invalid_type", param, "%s must be an array.", param);
    int j = 0;
    for (const cJSON *t = calls->child; t; t = t->next, j++) {
        snprintf(param, sizeof param, "messages[%d].tool_calls[%d]", i, j);
        const cJSON *type = get(t, "type"), *id = get(t, "id"), *fn = get(t, "function");
        const cJSON *name = get(fn, "name"), *args = get(fn, "arguments");
        if (!cJSON_IsObject(t) || !cJSON_IsObject(fn))
            return gw_bedrock_fail(r, "invalid_type", param,
                                   "%s must be an object with a 'function'.", param);
        if (present(type) && !(cJSON_IsString(type) && strcmp(type->valuestring, "function") == 0))
            return gw_bedrock_unsupported(r, param, "only function tool calls can be sent");
        if (!cJSON_IsString(id) || !*id->valuestring)
            return gw_bedrock_fail(r, "invalid_type", param, "%s.id must be a non-empty string.",
                                   param);
        if (!cJSON_IsString(name) || !*name->valuestring)
            return gw_bedrock_fail(r, "invalid_type", param,
                                   "%s.function.name must be a non-empty string.", param);
        if (present(args) && !cJSON_IsString(args))
            return gw_bedrock_fail(r, "invalid_type", param,
                                   "%s.function.arguments must be a string.", param);
        const char *a = cJSON_IsString(args) ? args->valuestring : "";
        a += strspn(a, " \t\r\n");
        cJSON *input = *a ? cJSON_Parse(a) : cJSON_CreateObject();
        if (!cJSON_IsObject(input)) {
            cJSON_Delete(input);
            snprintf(param, sizeof param, "messages[%d].tool_calls[%d].function.arguments", i, j);
            return gw_bedrock_fail(
                r, "invalid_value", param,
                "%s must be a JSON object (Bedrock takes a tool call's input as one).", param);
        }
        cJSON *b = cJSON_CreateObject();
        cJSON *use = cJSON_AddObjectToObject(b, "toolUse");
        cJSON_AddStringToObject(use, "toolUseId", id->valuestring);
        cJSON_AddStringToObject(use, "name", name->valuestring);
        cJSON_AddItemToObject(use, "input", input);
        cJSON_AddItemToArray(blocks, b);
        c->tool_blocks = 1;
    }
    return 0;
}

/* One piece of a tool's result: a JSON object goes as {json}, anything else
 * as {text}. */
static cJSON *result_item(const char *s)
{
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(s, &end, 1);
    if (cJSON_IsObject(j)) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "json", j);
        return o;
    }
    cJSON_Delete(j);
    return text_block(s);
}

static int tool_message(struct conv *c, const cJSON *m, int i)
{
    struct gw_request *r = c->r;
    char param[64];
    const cJSON *id = get(m, "tool_call_id"), *content = get(m, "content");
    snprintf(param, sizeof param, "messages[%d].tool_call_id", i);
    if (!cJSON_IsString(id) || !*id->valuestring)
        return gw_bedrock_fail(r, "invalid_type", param, "%s must be a non-empty string.", param);
    cJSON *items = cJSON_CreateArray();
    if (cJSON_IsString(content)) {
        cJSON_AddItemToArray(items, result_item(content->valuestring));
    } else if (cJSON_IsArray(content)) {
        int j = 0;
        for (const cJSON *p = content->child; p; p = p->next, j++) {
            const cJSON *type = get(p, "type"), *text = get(p, "text");
            snprintf(param, sizeof param, "messages[%d].content[%d]", i, j);
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
                !cJSON_IsString(text)) {
                cJSON_Delete(items);
                return gw_bedrock_unsupported(r, param,
                                              "a tool message's content can only be text parts");
            }
            cJSON_AddItemToArray(items, result_item(text->valuestring));
        }
    } else if (present(content)) {
        cJSON_Delete(items);
        snprintf(param, sizeof param, "messages[%d].content", i);
        return gw_bedrock_fail(r, "invalid_type", param,
                               "%s must be a string or an array of text parts.", param);
    }
    if (!items->child)
        cJSON_AddItemToArray(items, text_block(""));
    cJSON *b = cJSON_CreateObject();
    cJSON *res = cJSON_AddObjectToObject(b, "toolResult");
    cJSON_AddStringToObject(res, "toolUseId", id->valuestring);
    cJSON_AddItemToObject(res, "content", items);
    add_block(c, "user", b);
    c->tool_blocks = 1;
    return 0;
}

static int one_message(struct conv *c, const cJSON *m, int i)
{
    struct gw_request *r = c->r;
    char param[64];
    snprintf(param, sizeof param, "messages[%d]", i);
    if (!cJSON_IsObject(m))
        return gw_bedrock_fail(r, "invalid_type", param, "%s must be an object.", param);
    const cJSON *role = get(m, "role"), *content = get(m, "content");
    snprintf(param, sizeof param, "messages[%d].role", i);
    if (!cJSON_IsString(role))
        return gw_bedrock_fail(r, "invalid_type", param, "%s must be a string.", param);
    const char *rl = role->valuestring;
    if (strcmp(rl, "tool") == 0)
        return tool_message(c, m, i);
    int who = strcmp(rl, "user") == 0                                     ? USER
              : strcmp(rl, "assistant") == 0                              ? ASSISTANT
              : strcmp(rl, "system") == 0 || strcmp(rl, "developer") == 0 ? SYSTEM
                                                                          : -1;
    if (who < 0)
        return gw_bedrock_unsupported(r, param,
                                      "only system, developer, user, assistant and tool "
                                      "messages can be sent (no legacy function messages)");
    const char *legacy = present(get(m, "function_call")) ? "function_call"
                         : present(get(m, "audio"))       ? "audio"
                                                          : NULL;
    if (legacy) {
        snprintf(param, sizeof param, "messages[%d].%s", i, legacy);
        return gw_bedrock_unsupported(r, param, "it has no equivalent in a Converse message");
    }
    cJSON *blocks = cJSON_CreateArray();
    if (content_blocks(c, content, i, who, blocks) != 0) {
        cJSON_Delete(blocks);
        return -1;
    }
    const cJSON *calls = get(m, "tool_calls");
    if (present(calls)) {
        snprintf(param, sizeof param, "messages[%d].tool_calls", i);
        if (who != ASSISTANT) {
            cJSON_Delete(blocks);
            return gw_bedrock_fail(r, "invalid_value", param,
                                   "%s: only assistant messages carry tool calls.", param);
        }
        if (tool_calls(c, calls, i, blocks) != 0) {
            cJSON_Delete(blocks);
            return -1;
        }
    }
    if (who == SYSTEM) {
        cJSON *b;
        while ((b = cJSON_DetachItemFromArray(blocks, 0)))
            cJSON_AddItemToArray(c->system, b);
        cJSON_Delete(blocks);
    } else {
        add_blocks(c, who == USER ? "user" : "assistant", blocks);
    }
    return 0;
}

static int conversation(struct conv *c, const cJSON *msgs)
{
    struct gw_request *r = c->r;
    if (!cJSON_IsArray(msgs) || !msgs->child)
        return gw_bedrock_fail(r, "invalid_value", "messages",
                               "'messages' must be a non-empty array.");
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++)
        if (one_message(c, m, i) != 0)
            return -1;
    const cJSON *first = c->msgs->child;
    if (!first)
        return gw_bedrock_fail(r, "invalid_value", "messages",
                               "Amazon Bedrock's Converse API needs at least one user message with "
                               "content; this request has none.");
    if (strcmp(get(first, "role")->valuestring, "user") != 0)
        return gw_bedrock_fail(
            r, "invalid_value", "messages",
            "Amazon Bedrock's Converse API needs the conversation to start with a user "
            "message; this one starts with an assistant message.");
    return 0;
}

char *gw_bedrock_body(struct gw_request *r, size_t *len)
{
    struct conv c = {.r = r, .system = cJSON_CreateArray(), .msgs = cJSON_CreateArray()};
    cJSON *body = cJSON_CreateObject();
    char *out = NULL;
    cJSON_AddItemToObject(body, "messages", c.msgs);
    if (gw_bedrock_check_params(r) != 0 || conversation(&c, get(r->json, "messages")) != 0)
        goto out;
    if (c.system->child) {
        cJSON_AddItemToObject(body, "system", c.system);
        c.system = NULL;
    }
    if (gw_bedrock_add_params(r, c.tool_blocks, body) != 0)
        goto out;
    out = cJSON_PrintUnformatted(body);
    if (!out)
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
    else
        *len = strlen(out);
out:
    cJSON_Delete(c.system);
    cJSON_Delete(body);
    return out;
}

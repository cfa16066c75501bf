/* An OpenAI chat-completions body (r->json, from /v1/chat/completions) as an
 * Anthropic Messages body: the entry point, the messages and their content
 * (the top-level parameters are anthropic_params.c's).
 *
 *   system / developer messages -> the top-level system: a string, or text
 *       blocks when there are several (or one carries cache_control);
 *       hoisted to the front wherever they stood
 *   user / assistant messages -> messages; content parts text and image_url
 *       (a data: URL -> a base64 source with its media type, http(s) -> a
 *       url source), file with a PDF data URL -> a document block; refusal
 *       parts and an assistant's refusal field -> text; cache_control on a
 *       part passes through
 *   assistant tool_calls -> tool_use blocks (the arguments parsed: they
 *       must be a JSON object)
 *   tool messages -> tool_result blocks in a user message; adjacent
 *       messages of one role are merged so roles alternate
 *
 * Ignored: image_url.detail, and message fields that only echo an earlier
 * answer (annotations, a null refusal). Refused with a 400 naming the field:
 * message names, audio, function_call and function messages, audio and
 * file-id parts, images outside user messages, images other than JPEG, PNG,
 * GIF and WebP, tool-call arguments that are not a JSON object. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anthropic-int.h"
#include "errors.h"
#include "request.h"

int gw_anth_refuse(struct gw_anth_tr *t, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->msg, sizeof t->msg, fmt, ap);
    va_end(ap);
    t->code = code;
    return -1;
}

int gw_anth_at(struct gw_anth_tr *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->param, sizeof t->param, fmt, ap);
    va_end(ap);
    return 0;
}

int gw_anth_cannot(struct gw_anth_tr *t, const char *why)
{
    return gw_anth_refuse(t, "unsupported_parameter",
                          "'%s' is not supported by provider '%s' (Anthropic Messages API): %s",
                          t->param, t->r->provider->name, why);
}

void gw_anth_keep_cache_control(const cJSON *from, cJSON *to)
{
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(from, "cache_control");
    if (cc && !cJSON_IsNull(cc))
        cJSON_AddItemToObject(to, "cache_control", cJSON_Duplicate(cc, 1));
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateString(v));
}

static cJSON *text_block(const char *text)
{
    cJSON *b = cJSON_CreateObject();
    add_str(b, "type", "text");
    add_str(b, "text", text);
    return b;
}

/* ---- content parts --------------------------------------------------------- */

static int image_block(struct gw_anth_tr *t, const cJSON *part, cJSON *blocks)
{
    static const char *const media[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
    char path[128];
    snprintf(path, sizeof path, "%s", t->param);
    const cJSON *iu = get(part, "image_url");
    const cJSON *url = cJSON_IsObject(iu) ? get(iu, "url") : NULL;
    gw_anth_at(t, "%s.image_url.url", path);
    if (!cJSON_IsString(url) || !*url->valuestring)
        return gw_anth_refuse(t, "invalid_type", "'%s' must be a non-empty string.", t->param);
    const char *u = url->valuestring;
    cJSON *src = cJSON_CreateObject();
    if (strncasecmp(u, "data:", 5) == 0) {
        const char *mt = u + 5, *semi = strchr(mt, ';'), *comma = strchr(mt, ',');
        if (!semi || !comma || comma < semi || strncmp(semi, ";base64,", 8) != 0) {
            cJSON_Delete(src);
            return gw_anth_refuse(
                t, "invalid_value",
                "'%s': only base64 data URLs (data:<media type>;base64,...) can be "
                "sent to provider '%s'.",
                t->param, t->r->provider->name);
        }
        size_t mlen = (size_t)(semi - mt), i = 0;
        while (i < sizeof media / sizeof *media &&
               !(strlen(media[i]) == mlen && strncasecmp(mt, media[i], mlen) == 0))
            i++;
        if (i == sizeof media / sizeof *media) {
            cJSON_Delete(src);
            return gw_anth_refuse(t, "unsupported_value",
                                  "'%s': provider '%s' takes image/jpeg, image/png, image/gif or "
                                  "image/webp images, not '%.*s'.",
                                  t->param, t->r->provider->name, (int)(mlen > 60 ? 60 : mlen), mt);
        }
        add_str(src, "type", "base64");
        add_str(src, "media_type", media[i]);
        add_str(src, "data", semi + 8);
    } else if (strncasecmp(u, "https://", 8) == 0 || strncasecmp(u, "http://", 7) == 0) {
        add_str(src, "type", "url");
        add_str(src, "url", u);
    } else {
        cJSON_Delete(src);
        return gw_anth_refuse(t, "invalid_value",
                              "'%s' must be an http(s) URL or a base64 data URL.", t->param);
    }
    cJSON *b = cJSON_CreateObject();
    add_str(b, "type", "image");
    cJSON_AddItemToObject(b, "source", src);
    gw_anth_keep_cache_control(part, b);
    cJSON_AddItemToArray(blocks, b);
    return 0;
}

/* A file part: a PDF given as a data URL becomes a document block. */
static int file_block(struct gw_anth_tr *t, const cJSON *part, cJSON *blocks)
{
    char path[128];
    snprintf(path, sizeof path, "%s", t->param);
    const cJSON *f = get(part, "file");
    const cJSON *data = cJSON_IsObject(f) ? get(f, "file_data") : NULL;
    static const char prefix[] = "data:application/pdf;base64,";
    gw_anth_at(t, "%s.file", path);
    if (!cJSON_IsString(data) || strncasecmp(data->valuestring, prefix, sizeof prefix - 1) != 0)
        return gw_anth_refuse(
            t, "unsupported_value",
            "'%s': provider '%s' takes files only as PDF data in file_data "
            "(data:application/pdf;base64,...); file ids and other types cannot be "
            "sent.",
            t->param, t->r->provider->name);
    cJSON *src = cJSON_CreateObject();
    add_str(src, "type", "base64");
    add_str(src, "media_type", "application/pdf");
    add_str(src, "data", data->valuestring + sizeof prefix - 1);
    cJSON *b = cJSON_CreateObject();
    add_str(b, "type", "document");
    cJSON_AddItemToObject(b, "source", src);
    gw_anth_keep_cache_control(part, b);
    cJSON_AddItemToArray(blocks, b);
    return 0;
}

enum parts_allowed { TEXT_ONLY, USER_PARTS, ASSISTANT_PARTS };

/* The content of message i (a string or an array of parts) as blocks
 * appended to `blocks`. */
static int content_blocks(struct gw_anth_tr *t, const cJSON *content, int i,
                          enum parts_allowed allowed, cJSON *blocks)
{
    if (cJSON_IsString(content)) {
        cJSON_AddItemToArray(blocks, text_block(content->valuestring));
        return 0;
    }
    if (!content || cJSON_IsNull(content))
        return 0;
    gw_anth_at(t, "messages[%d].content", i);
    if (!cJSON_IsArray(content))
        return gw_anth_refuse(t, "invalid_type",
                              "'%s' must be a string or an array of content parts.", t->param);
    int j = 0;
    for (const cJSON *p = content->child; p; p = p->next, j++) {
        gw_anth_at(t, "messages[%d].content[%d]", i, j);
        if (!cJSON_IsObject(p))
            return gw_anth_refuse(t, "invalid_type", "'%s' must be an object.", t->param);
        const cJSON *type = get(p, "type");
        gw_anth_at(t, "messages[%d].content[%d].type", i, j);
        if (!cJSON_IsString(type))
            return gw_anth_refuse(t, "invalid_type", "'%s' must be a string.", t->param);
        const char *ty = type->valuestring;
        gw_anth_at(t, "messages[%d].content[%d]", i, j);
        if (strcmp(ty, "text") == 0 || (allowed == ASSISTANT_PARTS && strcmp(ty, "refusal") == 0)) {
            const cJSON *text = get(p, ty[0] == 't' ? "text" : "refusal");
            gw_anth_at(t, "messages[%d].content[%d].%s", i, j, ty);
            if (!cJSON_IsString(text))
                return gw_anth_refuse(t, "invalid_type", "'%s' must be a string.", t->param);
            cJSON *b = text_block(text->valuestring);
            gw_anth_keep_cache_control(p, b);
            cJSON_AddItemToArray(blocks, b);
        } else if (allowed == USER_PARTS && strcmp(ty, "image_url") == 0) {
            if (image_block(t, p, blocks) != 0)
                return -1;
        } else if (allowed == USER_PARTS && strcmp(ty, "file") == 0) {
            if (file_block(t, p, blocks) != 0)
                return -1;
        } else {
            gw_anth_at(t, "messages[%d].content[%d].type", i, j);
            return gw_anth_refuse(t, "unsupported_value",
                                  "'%s': '%.40s' parts cannot be sent to provider '%s' (Anthropic "
                                  "Messages API) in this message.",
                                  t->param, ty, t->r->provider->name);
        }
    }
    return 0;
}

/* ---- messages ------------------------------------------------------------ */

/* Adds a message of role with content blocks, or with the plain string
 * as_string (blocks then empty); merged into the last message if that has
 * the same role (so roles alternate), where a string becomes a text block.
 * Takes blocks. */
static void add_message(struct gw_anth_tr *t, const char *role, cJSON *blocks,
                        const char *as_string)
{
    cJSON *last = cJSON_GetArrayItem(t->messages, cJSON_GetArraySize(t->messages) - 1);
    const cJSON *lrole = last ? get(last, "role") : NULL;
    if (lrole && strcmp(lrole->valuestring, role) == 0) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
        if (cJSON_IsString(content)) {
            cJSON *arr = cJSON_CreateArray();
            cJSON_AddItemToArray(arr, text_block(content->valuestring));
            cJSON_ReplaceItemInObjectCaseSensitive(last, "content", arr);
            content = arr;
        }
        if (as_string && *as_string)
            cJSON_AddItemToArray(content, text_block(as_string));
        cJSON *b;
        while ((b = cJSON_DetachItemFromArray(blocks, 0)))
            cJSON_AddItemToArray(content, b);
        cJSON_Delete(blocks);
        return;
    }
    cJSON *m = cJSON_CreateObject();
    add_str(m, "role", role);
    if (as_string) {
        add_str(m, "content", as_string);
        cJSON_Delete(blocks);
    } else {
        cJSON_AddItemToObject(m, "content", blocks);
    }
    cJSON_AddItemToArray(t->messages, m);
}

static int system_message(struct gw_anth_tr *t, const cJSON *m, int i)
{
    const cJSON *content = get(m, "content");
    cJSON *blocks = cJSON_CreateArray();
    if (content_blocks(t, content, i, TEXT_ONLY, blocks) != 0) {
        cJSON_Delete(blocks);
        return -1;
    }
    cJSON *b;
    while ((b = cJSON_DetachItemFromArray(blocks, 0))) {
        const cJSON *text = get(b, "text");
        if (get(b, "cache_control"))
            t->system_plain = 0;
        if (!*text->valuestring && !get(b, "cache_control")) {
            cJSON_Delete(b); /* Anthropic refuses empty text blocks; nothing is lost */
            continue;
        }
        cJSON_AddItemToArray(t->system, b);
    }
    cJSON_Delete(blocks);
    return 0;
}

static int tool_use_block(struct gw_anth_tr *t, const cJSON *call, int i, int j, cJSON *blocks)
{
    gw_anth_at(t, "messages[%d].tool_calls[%d]", i, j);
    if (!cJSON_IsObject(call))
        return gw_anth_refuse(t, "invalid_type", "'%s' must be an object.", t->param);
    const cJSON *id = get(call, "id"), *type = get(call, "type"), *fn = get(call, "function");
    gw_anth_at(t, "messages[%d].tool_calls[%d].type", i, j);
    if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "function") == 0))
        return gw_anth_refuse(t, "unsupported_value",
                              "'%s': only function tool calls can be sent to provider '%s'.",
                              t->param, t->r->provider->name);
    gw_anth_at(t, "messages[%d].tool_calls[%d].id", i, j);
    if (!cJSON_IsString(id) || !*id->valuestring)
        return gw_anth_refuse(t, "invalid_type", "'%s' must be a non-empty string.", t->param);
    const cJSON *name = cJSON_IsObject(fn) ? get(fn, "name") : NULL;
    const cJSON *args = cJSON_IsObject(fn) ? get(fn, "arguments") : NULL;
    gw_anth_at(t, "messages[%d].tool_calls[%d].function.name", i, j);
    if (!cJSON_IsString(name) || !*name->valuestring)
        return gw_anth_refuse(t, "invalid_type", "'%s' must be a non-empty string.", t->param);
    gw_anth_at(t, "messages[%d].tool_calls[%d].function.arguments", i, j);
    if (args && !cJSON_IsString(args) && !cJSON_IsNull(args))
        return gw_anth_refuse(t, "invalid_type", "'%s' must be a string of JSON.", t->param);
    const char *a = cJSON_IsString(args) ? args->valuestring : "";
    cJSON *input;
    if (!*(a + strspn(a, " \t\r\n"))) {
        input = cJSON_CreateObject(); /* no arguments */
    } else {
        input = cJSON_Parse(a);
        if (!cJSON_IsObject(input)) {
            cJSON_Delete(input);
            return gw_anth_refuse(t, "invalid_value",
                                  "'%s' must be a JSON object (Anthropic's tool_use input is one).",
                                  t->param);
        }
    }
    cJSON *b = cJSON_CreateObject();
    add_str(b, "type", "tool_use");
    add_str(b, "id", id->valuestring);
    add_str(b, "name", name->valuestring);
    cJSON_AddItemToObject(b, "input", input);
    cJSON_AddItemToArray(blocks, b);
    return 0;
}

static int assistant_message(struct gw_anth_tr *t, const cJSON *m, int i)
{
    const cJSON *content = get(m, "content"), *calls = get(m, "tool_calls");
    const cJSON *refusal = get(m, "refusal");
    gw_anth_at(t, "messages[%d].tool_calls", i);
    if (calls && !cJSON_IsNull(calls) && !cJSON_IsArray(calls))
        return gw_anth_refuse(t, "invalid_type", "'%s' must be an array.", t->param);
    gw_anth_at(t, "messages[%d].refusal", i);
    if (refusal && !cJSON_IsNull(refusal) && !cJSON_IsString(refusal))
        return gw_anth_refuse(t, "invalid_type", "'%s' must be a string.", t->param);
    int has_calls = cJSON_IsArray(calls) && calls->child;
    int has_refusal = cJSON_IsString(refusal) && *refusal->valuestring;
    if (cJSON_IsString(content) && !has_calls && !has_refusal) {
        add_message(t, "assistant", cJSON_CreateArray(), content->valuestring);
        return 0;
    }
    cJSON *blocks = cJSON_CreateArray();
    if (content_blocks(t, content, i, ASSISTANT_PARTS, blocks) != 0)
        goto fail;
    if (has_refusal) /* a refusal the model gave, as the text it was */
        cJSON_AddItemToArray(blocks, text_block(refusal->valuestring));
    if (has_calls) {
        /* empty text beside tool calls (what OpenAI clients send back) says nothing */
        for (cJSON *b = blocks->child, *next; b; b = next) {
            next = b->next;
            const cJSON *text = get(b, "text");
            if (cJSON_IsString(text) && !*text->valuestring && !get(b, "cache_control"))
                cJSON_Delete(cJSON_DetachItemViaPointer(blocks, b));
        }
        int j = 0;
        for (const cJSON *c = calls->child; c; c = c->next, j++)
            if (tool_use_block(t, c, i, j, blocks) != 0)
                goto fail;
    }
    if (!blocks->child) { /* null content, no calls: an empty turn, as sent */
        add_message(t, "assistant", blocks, "");
        return 0;
    }
    add_message(t, "assistant", blocks, NULL);
    return 0;
fail:
    cJSON_Delete(blocks);
    return -1;
}

static int user_message(struct gw_anth_tr *t, const cJSON *m, int i)
{
    const cJSON *content = get(m, "content");
    if (cJSON_IsString(content)) {
        add_message(t, "user", cJSON_CreateArray(), content->valuestring);
        return 0;
    }
    cJSON *blocks = cJSON_CreateArray();
    if (content_blocks(t, content, i, USER_PARTS, blocks) != 0) {
        cJSON_Delete(blocks);
        return -1;
    }
    add_message(t, "user", blocks, blocks->child ? NULL : "");
    return 0;
}

static int tool_message(struct gw_anth_tr *t, const cJSON *m, int i)
{
    const cJSON *id = get(m, "tool_call_id"), *content = get(m, "content");
    gw_anth_at(t, "messages[%d].tool_call_id", i);
    if (!cJSON_IsString(id) || !*id->valuestring)
        return gw_anth_refuse(t, "invalid_type", "'%s' must be a non-empty string.", t->param);
    cJSON *b = cJSON_CreateObject();
    add_str(b, "type", "tool_result");
    add_str(b, "tool_use_id", id->valuestring);
    if (cJSON_IsString(content)) {
        add_str(b, "content", content->valuestring);
    } else if (content && !cJSON_IsNull(content)) {
        cJSON *parts = cJSON_CreateArray();
        if (content_blocks(t, content, i, TEXT_ONLY, parts) != 0) {
            cJSON_Delete(parts);
            cJSON_Delete(b);
            return -1;
        }
        cJSON_AddItemToObject(b, "content", parts);
    }
    cJSON *blocks = cJSON_CreateArray();
    cJSON_AddItemToArray(blocks, b);
    add_message(t, "user", blocks, NULL);
    return 0;
}

static int messages(struct gw_anth_tr *t, const cJSON *msgs)
{
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        const cJSON *role = get(m, "role"), *v;
        const char *ro = role->valuestring; /* checked by the parse stage */
        gw_anth_at(t, "messages[%d].name", i);
        if ((v = get(m, "name")) && !cJSON_IsNull(v))
            return gw_anth_cannot(t, "messages carry no participant names; leave 'name' out.");
        gw_anth_at(t, "messages[%d].audio", i);
        if ((v = get(m, "audio")) && !cJSON_IsNull(v))
            return gw_anth_cannot(t, "audio cannot be sent.");
        gw_anth_at(t, "messages[%d].function_call", i);
        if ((v = get(m, "function_call")) && !cJSON_IsNull(v))
            return gw_anth_cannot(t, "use tool_calls.");
        int rc;
        if (strcmp(ro, "system") == 0 || strcmp(ro, "developer") == 0) {
            rc = system_message(t, m, i);
        } else if (strcmp(ro, "user") == 0) {
            rc = user_message(t, m, i);
        } else if (strcmp(ro, "assistant") == 0) {
            rc = assistant_message(t, m, i);
        } else if (strcmp(ro, "tool") == 0) {
            rc = tool_message(t, m, i);
        } else {
            gw_anth_at(t, "messages[%d].role", i);
            rc = gw_anth_refuse(t, "unsupported_value",
                                "'%s': '%s' messages (the legacy functions API) cannot be sent to "
                                "provider '%s'; use tools and tool messages.",
                                t->param, ro, t->r->provider->name);
        }
        if (rc != 0)
            return rc;
    }
    gw_anth_at(t, "messages");
    if (!t->messages->child)
        return gw_anth_refuse(
            t, "invalid_value",
            "'messages' needs at least one user or assistant message for provider "
            "'%s'.",
            t->r->provider->name);
    return 0;
}

static int build(struct gw_anth_tr *t, const cJSON *in, int for_vertex, cJSON *out)
{
    if (gw_anth_check_params(t, in) != 0)
        return -1;
    if (!for_vertex)
        add_str(out, "model", t->r->deployment->model);
    else
        add_str(out, "anthropic_version",
                t->r->provider->anthropic_version ? t->r->provider->anthropic_version : "");
    if (gw_anth_max_tokens(t, in, out) != 0)
        return -1;
    if (messages(t, get(in, "messages")) != 0)
        return -1;
    if (t->system->child) {
        if (t->system_plain && !t->system->child->next)
            add_str(out, "system", get(t->system->child, "text")->valuestring);
        else
            cJSON_AddItemToObject(out, "system", cJSON_Duplicate(t->system, 1));
    }
    cJSON_AddItemToObject(out, "messages", t->messages);
    t->messages = NULL;
    return gw_anth_options(t, in, out);
}

char *gw_anthropic_translate(struct gw_request *r, int for_vertex, size_t *len)
{
    struct gw_anth_tr t = {.r = r, .system_plain = 1};
    t.system = cJSON_CreateArray();
    t.messages = cJSON_CreateArray();
    cJSON *out = cJSON_CreateObject();
    char *body = NULL;
    if (build(&t, r->json, for_vertex, out) != 0) {
        gw_error_respond(r, 400, "invalid_request_error", t.code, t.param[0] ? t.param : NULL, "%s",
                         t.msg);
    } else if ((body = cJSON_PrintUnformatted(out))) {
        *len = strlen(body);
    } else {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
    }
    cJSON_Delete(out);
    cJSON_Delete(t.system);
    cJSON_Delete(t.messages);
    return body;
}

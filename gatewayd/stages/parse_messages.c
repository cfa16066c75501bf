/* Stage parse_messages: the body of POST /v1/messages and
 * POST /v1/messages/count_tokens as Anthropic's Messages API defines it,
 * checked with errors that name the field (Anthropic's "path: problem"
 * style, e.g. "messages.0.content.1.source: Field required") and translated
 * into the chat-completions form the later stages and the OpenAI-format
 * adapters understand. r->json holds the translation; r->model_name and
 * r->stream are set from it. The raw body stays in r->body.
 *
 * What translates: system (string or text blocks) -> a system message; text
 * blocks -> text; image blocks (base64 -> a data: URL, url) -> image_url
 * parts; tools -> functions; tool_use -> tool_calls; tool_result -> tool
 * messages; stop_sequences -> stop; metadata.user_id -> user; tool_choice,
 * temperature, top_p, max_tokens as they are. top_k is kept as "top_k" for
 * the adapter to use or refuse (the OpenAI format cannot express it).
 * What cannot be expressed is a 400 naming the field: file sources, unknown
 * fields. cache_control hints and citations settings are accepted and not
 * passed on.
 *
 * Anthropic-only features (document, thinking, redacted_thinking,
 * search_result, server_tool_use, container_upload and *_tool_result blocks;
 * server tools; top-level thinking other than disabled) are left out of
 * r->json, and the first one is recorded in r->anthropic_only_* (field,
 * message): the dispatch stage answers that 400 unless the raw body is
 * relayed to an Anthropic-format upstream (gw_provider_relays_messages),
 * which receives them untouched. So the counts made from r->json before the
 * call (policy's max_input_tokens and blocked patterns, rate limits, budget
 * reservations) do not see them: a PDF's tokens are not counted up front;
 * the usage recorded afterwards is the provider's. count_tokens, answered
 * locally, still refuses them at once.
 *
 * A request that names a prompt template (x-gw-prompt, or the body's
 * "prompt", with "inputs") may leave model, max_tokens and messages to the
 * template; "prompt" and "inputs" are carried into r->json for the prompt
 * stage, which renders the template and removes them. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "pipeline.h"
#include "prompts.h"
#include "request.h"

struct xl {
    int api;          /* GW_API_MESSAGES or GW_API_COUNT_TOKENS */
    const char *code; /* for the usage row: invalid_type, ... */
    char param[128];  /* the field, in Anthropic's dotted form */
    char msg[400];
    /* The first Anthropic-only feature met (see anthropic_only()): */
    const char *ao_code; /* NULL: none */
    char ao_param[128];
    char ao_msg[400];
};

static int fail(struct xl *x, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the error for the field x->param. Always returns -1. */
static int fail(struct xl *x, const char *code, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    x->code = code;
    if (x->param[0])
        snprintf(x->msg, sizeof x->msg, "%s: %s", x->param, what);
    else
        snprintf(x->msg, sizeof x->msg, "%s", what);
    return -1;
}

static int anthropic_only(struct xl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An Anthropic-only feature at x->param (unsupported_value, message as fmt):
 * for count_tokens, the error at once (fail, -1); for /v1/messages, the first
 * one is recorded for the dispatch stage to refuse unless the body is relayed
 * to an Anthropic-format upstream, and 0 is returned: the caller skips the
 * feature in the translation and goes on. */
static int anthropic_only(struct xl *x, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (x->api != GW_API_MESSAGES)
        return fail(x, "unsupported_value", "%s", what);
    if (x->ao_code)
        return 0;
    x->ao_code = "unsupported_value";
    snprintf(x->ao_param, sizeof x->ao_param, "%s", x->param);
    snprintf(x->ao_msg, sizeof x->ao_msg, "%s: %s", x->param, what);
    return 0;
}

static int at(struct xl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets x->param (the field the next check is about). Returns 0. */
static int at(struct xl *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->param, sizeof x->param, fmt, ap);
    va_end(ap);
    return 0;
}

static int missing(struct xl *x)
{
    return fail(x, "missing_required_parameter", "Field required");
}

static int is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9007199254740992.0;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Adds a copy of a string. */
static void add_str(cJSON *o, const char *k, const char *v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateString(v));
}

/* A content that holds one text part is sent as a plain string (what every
 * OpenAI-compatible server takes); anything else stays an array of parts. */
static cJSON *simplify(cJSON *parts)
{
    if (cJSON_GetArraySize(parts) == 1) {
        const cJSON *p = parts->child;
        const cJSON *type = get(p, "type");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0) {
            cJSON *s = cJSON_CreateString(get(p, "text")->valuestring);
            cJSON_Delete(parts);
            return s;
        }
    }
    return parts;
}

static int text_part(struct xl *x, const cJSON *b, const char *path, cJSON *parts)
{
    const cJSON *t = get(b, "text");
    at(x, "%s.text", path);
    if (!t)
        return missing(x);
    if (!cJSON_IsString(t))
        return fail(x, "invalid_type", "Input should be a valid string");
    cJSON *p = cJSON_CreateObject();
    add_str(p, "type", "text");
    add_str(p, "text", t->valuestring);
    cJSON_AddItemToArray(parts, p);
    return 0;
}

static int image_part(struct xl *x, const cJSON *b, const char *path, cJSON *parts)
{
    static const char *const media[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
    const cJSON *src = get(b, "source");
    at(x, "%s.source", path);
    if (!src)
        return missing(x);
    if (!cJSON_IsObject(src))
        return fail(x, "invalid_type", "Input should be an object");
    const cJSON *type = get(src, "type");
    at(x, "%s.source.type", path);
    if (!type)
        return missing(x);
    if (!cJSON_IsString(type))
        return fail(x, "invalid_type", "Input should be a valid string");
    char *url = NULL;
    if (strcmp(type->valuestring, "base64") == 0) {
        const cJSON *mt = get(src, "media_type"), *data = get(src, "data");
        at(x, "%s.source.media_type", path);
        if (!mt)
            return missing(x);
        size_t i = 0;
        while (i < sizeof media / sizeof *media &&
               !(cJSON_IsString(mt) && strcmp(mt->valuestring, media[i]) == 0))
            i++;
        if (i == sizeof media / sizeof *media)
            return fail(x, "invalid_value",
                        "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'");
        at(x, "%s.source.data", path);
        if (!data)
            return missing(x);
        if (!cJSON_IsString(data))
            return fail(x, "invalid_type", "Input should be a valid string");
        size_t n = strlen(mt->valuestring) + strlen(data->valuestring) + 16;
        url = malloc(n);
        if (!url)
            return fail(x, "internal_error", "out of memory");
        snprintf(url, n, "data:%s;base64,%s", mt->valuestring, data->valuestring);
    } else if (strcmp(type->valuestring, "url") == 0) {
        const cJSON *u = get(src, "url");
        at(x, "%s.source.url", path);
        if (!u)
            return missing(x);
        if (!cJSON_IsString(u) || !*u->valuestring)
            return fail(x, "invalid_type", "Input should be a non-empty string");
        url = strdup(u->valuestring);
        if (!url)
            return fail(x, "internal_error", "out of memory");
    } else {
        return fail(x, "unsupported_value",
                    "image source type '%.40s' is not supported through /v1/messages (use "
                    "'base64' or 'url')",
                    type->valuestring);
    }
    cJSON *p = cJSON_CreateObject();
    add_str(p, "type", "image_url");
    add_str(cJSON_AddObjectToObject(p, "image_url"), "url", url);
    cJSON_AddItemToArray(parts, p);
    free(url);
    return 0;
}

/* The content of a tool_result: a string, or text blocks (images cannot go
 * into an OpenAI tool message). */
static int tool_result(struct xl *x, const cJSON *b, const char *path, cJSON *msgs)
{
    const cJSON *id = get(b, "tool_use_id"), *content = get(b, "content");
    const cJSON *is_error = get(b, "is_error");
    at(x, "%s.tool_use_id", path);
    if (!id)
        return missing(x);
    if (!cJSON_IsString(id) || !*id->valuestring)
        return fail(x, "invalid_type", "Input should be a non-empty string");
    at(x, "%s.is_error", path);
    if (is_error && !cJSON_IsBool(is_error) && !cJSON_IsNull(is_error))
        return fail(x, "invalid_type", "Input should be a valid boolean");
    cJSON *parts = cJSON_CreateArray();
    at(x, "%s.content", path);
    if (cJSON_IsString(content)) {
        cJSON *p = cJSON_CreateObject();
        add_str(p, "type", "text");
        add_str(p, "text", content->valuestring);
        cJSON_AddItemToArray(parts, p);
    } else if (cJSON_IsArray(content)) {
        int j = 0;
        for (const cJSON *c = content->child; c; c = c->next, j++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.content.%d", path, j);
            const cJSON *type = cJSON_IsObject(c) ? get(c, "type") : NULL;
            at(x, "%s", sub);
            int rc;
            if (!cJSON_IsObject(c))
                rc = fail(x, "invalid_type", "Input should be an object");
            else if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0)
                rc = fail(x, "unsupported_value",
                          "only text blocks can be sent in a tool_result to an OpenAI-format "
                          "provider");
            else
                rc = text_part(x, c, sub, parts);
            if (rc != 0) {
                cJSON_Delete(parts);
                return rc;
            }
        }
    } else if (content && !cJSON_IsNull(content)) {
        cJSON_Delete(parts);
        return fail(x, "invalid_type", "Input should be a valid string or a list of blocks");
    }
    if (cJSON_IsTrue(is_error)) {
        /* OpenAI's tool messages have no error flag: say it in the text */
        const cJSON *first = parts->child ? get(parts->child, "text") : NULL;
        if (first) {
            struct gw_buf t = {0};
            gw_buf_printf(&t, "Error: %s", first->valuestring);
            cJSON_ReplaceItemInObjectCaseSensitive(parts->child, "text",
                                                   cJSON_CreateString(t.data ? t.data : "Error"));
            gw_buf_free(&t);
        } else {
            cJSON *p = cJSON_CreateObject();
            add_str(p, "type", "text");
            add_str(p, "text", "Error");
            cJSON_AddItemToArray(parts, p);
        }
    }
    cJSON *m = cJSON_CreateObject();
    add_str(m, "role", "tool");
    add_str(m, "tool_call_id", id->valuestring);
    if (parts->child) {
        cJSON_AddItemToObject(m, "content", simplify(parts));
    } else { /* no content at all */
        cJSON_Delete(parts);
        add_str(m, "content", "");
    }
    cJSON_AddItemToArray(msgs, m);
    return 0;
}

static int tool_use(struct xl *x, const cJSON *b, const char *path, cJSON *calls)
{
    const cJSON *id = get(b, "id"), *name = get(b, "name"), *input = get(b, "input");
    at(x, "%s.id", path);
    if (!id)
        return missing(x);
    if (!cJSON_IsString(id) || !*id->valuestring)
        return fail(x, "invalid_type", "Input should be a non-empty string");
    at(x, "%s.name", path);
    if (!name)
        return missing(x);
    if (!cJSON_IsString(name) || !*name->valuestring)
        return fail(x, "invalid_type", "Input should be a non-empty string");
    at(x, "%s.input", path);
    if (!input)
        return missing(x);
    if (!cJSON_IsObject(input))
        return fail(x, "invalid_type", "Input should be an object");
    char *args = cJSON_PrintUnformatted(input);
    if (!args)
        return fail(x, "internal_error", "out of memory");
    cJSON *c = cJSON_CreateObject();
    add_str(c, "id", id->valuestring);
    add_str(c, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(c, "function");
    add_str(fn, "name", name->valuestring);
    add_str(fn, "arguments", args);
    cJSON_free(args);
    cJSON_AddItemToArray(calls, c);
    return 0;
}

/* One message's content blocks. User messages: tool_result blocks become
 * tool messages (appended to msgs before the user message, as OpenAI wants
 * them right after the assistant's tool calls); text and images become
 * parts. Assistant messages: text becomes parts, tool_use tool calls.
 * Anthropic-only blocks are skipped (anthropic_only()). */
static int blocks(struct xl *x, const cJSON *content, int i, int user, cJSON *msgs, cJSON *parts,
                  cJSON *calls)
{
    int j = 0;
    for (const cJSON *b = content->child; b; b = b->next, j++) {
        char path[96];
        snprintf(path, sizeof path, "messages.%d.content.%d", i, j);
        at(x, "%s", path);
        if (!cJSON_IsObject(b))
            return fail(x, "invalid_type", "Input should be an object");
        const cJSON *type = get(b, "type");
        at(x, "%s.type", path);
        if (!type)
            return missing(x);
        if (!cJSON_IsString(type))
            return fail(x, "invalid_type", "Input should be a valid string");
        const char *t = type->valuestring;
        int rc;
        if (strcmp(t, "text") == 0) {
            rc = text_part(x, b, path, parts);
        } else if (strcmp(t, "image") == 0 && user) {
            rc = image_part(x, b, path, parts);
        } else if (strcmp(t, "tool_result") == 0 && user) {
            rc = tool_result(x, b, path, msgs);
        } else if (strcmp(t, "tool_use") == 0 && !user) {
            rc = tool_use(x, b, path, calls);
        } else if (strcmp(t, "image") == 0 || strcmp(t, "tool_result") == 0 ||
                   strcmp(t, "tool_use") == 0) {
            rc = fail(x, "invalid_value", "'%s' blocks are not allowed in %s messages", t,
                      user ? "user" : "assistant");
        } else if (strcmp(t, "document") == 0 || strcmp(t, "thinking") == 0 ||
                   strcmp(t, "redacted_thinking") == 0 || strcmp(t, "search_result") == 0 ||
                   strcmp(t, "server_tool_use") == 0 || strcmp(t, "container_upload") == 0 ||
                   strstr(t, "_tool_result")) {
            rc = anthropic_only(x,
                                "'%.40s' blocks are not supported through /v1/messages with an "
                                "OpenAI-format provider",
                                t); /* 0: skipped */
        } else {
            rc = fail(x, "invalid_value", "unknown content block type '%.40s'", t);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int one_message(struct xl *x, const cJSON *m, int i, cJSON *msgs)
{
    at(x, "messages.%d", i);
    if (!cJSON_IsObject(m))
        return fail(x, "invalid_type", "Input should be an object");
    const cJSON *role = get(m, "role"), *content = get(m, "content");
    at(x, "messages.%d.role", i);
    if (!role)
        return missing(x);
    if (!cJSON_IsString(role) ||
        (strcmp(role->valuestring, "user") != 0 && strcmp(role->valuestring, "assistant") != 0))
        return fail(x, "invalid_value", "Input should be 'user' or 'assistant'");
    int user = role->valuestring[0] == 'u';
    for (const cJSON *k = m->child; k; k = k->next)
        if (strcmp(k->string, "role") != 0 && strcmp(k->string, "content") != 0) {
            at(x, "messages.%d.%.40s", i, k->string);
            return fail(x, "invalid_value", "Extra inputs are not permitted");
        }
    at(x, "messages.%d.content", i);
    if (!content)
        return missing(x);
    if (cJSON_IsString(content)) {
        cJSON *o = cJSON_CreateObject();
        add_str(o, "role", role->valuestring);
        add_str(o, "content", content->valuestring);
        cJSON_AddItemToArray(msgs, o);
        return 0;
    }
    if (!cJSON_IsArray(content))
        return fail(x, "invalid_type", "Input should be a valid string or a list of blocks");
    cJSON *parts = cJSON_CreateArray(), *calls = cJSON_CreateArray();
    int n_before = cJSON_GetArraySize(msgs);
    if (blocks(x, content, i, user, msgs, parts, calls) != 0) {
        cJSON_Delete(parts);
        cJSON_Delete(calls);
        return -1;
    }
    int had_results = cJSON_GetArraySize(msgs) > n_before;
    if (user && had_results && !parts->child) {
        cJSON_Delete(parts); /* only tool results: no user message */
        cJSON_Delete(calls);
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    add_str(o, "role", role->valuestring);
    if (!user && !parts->child && calls->child) {
        cJSON_Delete(parts);
        cJSON_AddNullToObject(o, "content");
    } else if (!parts->child) {
        cJSON_Delete(parts);
        add_str(o, "content", "");
    } else {
        cJSON_AddItemToObject(o, "content", simplify(parts));
    }
    if (calls->child)
        cJSON_AddItemToObject(o, "tool_calls", calls);
    else
        cJSON_Delete(calls);
    cJSON_AddItemToArray(msgs, o);
    return 0;
}

static int system_prompt(struct xl *x, const cJSON *sys, cJSON *msgs)
{
    at(x, "system");
    if (cJSON_IsNull(sys))
        return 0;
    cJSON *content;
    if (cJSON_IsString(sys)) {
        if (!*sys->valuestring)
            return 0;
        content = cJSON_CreateString(sys->valuestring);
    } else if (cJSON_IsArray(sys)) {
        cJSON *parts = cJSON_CreateArray();
        int j = 0;
        for (const cJSON *b = sys->child; b; b = b->next, j++) {
            char path[48];
            snprintf(path, sizeof path, "system.%d", j);
            const cJSON *type = cJSON_IsObject(b) ? get(b, "type") : NULL;
            at(x, "%s", path);
            if (!cJSON_IsObject(b) || !cJSON_IsString(type) ||
                strcmp(type->valuestring, "text") != 0) {
                cJSON_Delete(parts);
                return fail(x, "invalid_type", "Input should be a text block");
            }
            if (text_part(x, b, path, parts) != 0) {
                cJSON_Delete(parts);
                return -1;
            }
        }
        if (!parts->child) {
            cJSON_Delete(parts);
            return 0;
        }
        content = simplify(parts);
    } else {
        return fail(x, "invalid_type", "Input should be a valid string or a list of text blocks");
    }
    cJSON *o = cJSON_CreateObject();
    add_str(o, "role", "system");
    cJSON_AddItemToObject(o, "content", content);
    cJSON_AddItemToArray(msgs, o);
    return 0;
}

static int tools(struct xl *x, const cJSON *in, cJSON *oa)
{
    at(x, "tools");
    if (cJSON_IsNull(in))
        return 0;
    if (!cJSON_IsArray(in))
        return fail(x, "invalid_type", "Input should be a valid list");
    if (!in->child)
        return 0;
    cJSON *out = cJSON_AddArrayToObject(oa, "tools");
    int j = 0;
    for (const cJSON *t = in->child; t; t = t->next, j++) {
        at(x, "tools.%d", j);
        if (!cJSON_IsObject(t))
            return fail(x, "invalid_type", "Input should be an object");
        const cJSON *type = get(t, "type"), *name = get(t, "name");
        const cJSON *desc = get(t, "description"), *schema = get(t, "input_schema");
        const cJSON *strict = get(t, "strict");
        at(x, "tools.%d.type", j);
        if (type && !cJSON_IsNull(type) &&
            !(cJSON_IsString(type) && strcmp(type->valuestring, "custom") == 0)) {
            if (anthropic_only(x,
                               "server tools ('%.40s') are not supported through /v1/messages "
                               "with an OpenAI-format provider; only custom tools (name, "
                               "input_schema) are",
                               cJSON_IsString(type) ? type->valuestring : "?") != 0)
                return -1;
            continue; /* skipped */
        }
        at(x, "tools.%d.name", j);
        if (!name)
            return missing(x);
        if (!cJSON_IsString(name) || !*name->valuestring)
            return fail(x, "invalid_type", "Input should be a non-empty string");
        at(x, "tools.%d.description", j);
        if (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc))
            return fail(x, "invalid_type", "Input should be a valid string");
        at(x, "tools.%d.input_schema", j);
        if (!schema)
            return missing(x);
        if (!cJSON_IsObject(schema))
            return fail(x, "invalid_type", "Input should be an object");
        cJSON *o = cJSON_CreateObject();
        add_str(o, "type", "function");
        cJSON *fn = cJSON_AddObjectToObject(o, "function");
        add_str(fn, "name", name->valuestring);
        if (cJSON_IsString(desc))
            add_str(fn, "description", desc->valuestring);
        cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(schema, 1));
        if (cJSON_IsBool(strict))
            cJSON_AddBoolToObject(fn, "strict", cJSON_IsTrue(strict));
        cJSON_AddItemToArray(out, o);
    }
    return 0;
}

static int tool_choice(struct xl *x, const cJSON *tc, cJSON *oa)
{
    at(x, "tool_choice");
    if (cJSON_IsNull(tc))
        return 0;
    if (!cJSON_IsObject(tc))
        return fail(x, "invalid_type", "Input should be an object");
    const cJSON *type = get(tc, "type"), *dp = get(tc, "disable_parallel_tool_use");
    at(x, "tool_choice.type");
    if (!type)
        return missing(x);
    if (!cJSON_IsString(type))
        return fail(x, "invalid_type", "Input should be a valid string");
    const char *t = type->valuestring;
    int have_tools = get(oa, "tools") != NULL;
    cJSON *choice;
    if (strcmp(t, "auto") == 0) {
        choice = cJSON_CreateString("auto");
    } else if (strcmp(t, "none") == 0) {
        choice = cJSON_CreateString("none");
    } else if (strcmp(t, "any") == 0) {
        choice = cJSON_CreateString("required");
    } else if (strcmp(t, "tool") == 0) {
        const cJSON *name = get(tc, "name");
        at(x, "tool_choice.name");
        if (!name)
            return missing(x);
        if (!cJSON_IsString(name) || !*name->valuestring)
            return fail(x, "invalid_type", "Input should be a non-empty string");
        choice = cJSON_CreateObject();
        add_str(choice, "type", "function");
        add_str(cJSON_AddObjectToObject(choice, "function"), "name", name->valuestring);
    } else {
        return fail(x, "invalid_value", "Input should be 'auto', 'any', 'tool' or 'none'");
    }
    if (!have_tools && strcmp(t, "any") != 0 && strcmp(t, "tool") != 0) {
        cJSON_Delete(choice); /* auto / none without tools: nothing to say */
        return 0;
    }
    if (!have_tools) {
        cJSON_Delete(choice);
        at(x, "tool_choice");
        return fail(x, "invalid_value", "type '%s' needs a non-empty 'tools'", t);
    }
    cJSON_AddItemToObject(oa, "tool_choice", choice);
    at(x, "tool_choice.disable_parallel_tool_use");
    if (dp && !cJSON_IsBool(dp) && !cJSON_IsNull(dp))
        return fail(x, "invalid_type", "Input should be a valid boolean");
    if (cJSON_IsTrue(dp) && strcmp(t, "none") != 0)
        cJSON_AddFalseToObject(oa, "parallel_tool_calls");
    return 0;
}

static int number_in(struct xl *x, const cJSON *v, const char *name, double lo, double hi,
                     cJSON *oa)
{
    at(x, "%s", name);
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return fail(x, "invalid_type", "Input should be a valid number");
    if (!(v->valuedouble >= lo && v->valuedouble <= hi))
        return fail(x, "invalid_value", "Input should be between %g and %g", lo, hi);
    cJSON_AddNumberToObject(oa, name, v->valuedouble);
    return 0;
}

static int stop_sequences(struct xl *x, const cJSON *v, cJSON *oa)
{
    at(x, "stop_sequences");
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsArray(v))
        return fail(x, "invalid_type", "Input should be a valid list");
    int j = 0;
    for (const cJSON *s = v->child; s; s = s->next, j++)
        if (!cJSON_IsString(s)) {
            at(x, "stop_sequences.%d", j);
            return fail(x, "invalid_type", "Input should be a valid string");
        }
    if (v->child)
        cJSON_AddItemToObject(oa, "stop", cJSON_Duplicate(v, 1));
    return 0;
}

static int metadata(struct xl *x, const cJSON *v, cJSON *oa)
{
    at(x, "metadata");
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v))
        return fail(x, "invalid_type", "Input should be an object");
    for (const cJSON *k = v->child; k; k = k->next) {
        at(x, "metadata.%.40s", k->string);
        if (strcmp(k->string, "user_id") != 0)
            return fail(x, "invalid_value", "Extra inputs are not permitted");
        if (cJSON_IsString(k))
            add_str(oa, "user", k->valuestring);
        else if (!cJSON_IsNull(k))
            return fail(x, "invalid_type", "Input should be a valid string");
    }
    return 0;
}

static int thinking(struct xl *x, const cJSON *v)
{
    at(x, "thinking");
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v))
        return fail(x, "invalid_type", "Input should be an object");
    const cJSON *type = get(v, "type");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "disabled") == 0)
        return 0;
    return anthropic_only(x, "extended thinking is not supported through /v1/messages with an "
                             "OpenAI-format provider");
}

static int service_tier(struct xl *x, const cJSON *v, cJSON *oa)
{
    at(x, "service_tier");
    if (cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return fail(x, "invalid_type", "Input should be a valid string");
    if (strcmp(v->valuestring, "standard_only") == 0)
        add_str(oa, "service_tier", "default");
    else if (strcmp(v->valuestring, "auto") != 0)
        return fail(x, "invalid_value", "Input should be 'auto' or 'standard_only'");
    return 0;
}

/* ("prompt" and "inputs": a prompt template and its values, stages/prompt.c) */
static const char *const known[] = {
    "model",    "max_tokens",   "messages",       "system",   "stream", "temperature",
    "top_p",    "top_k",        "stop_sequences", "metadata", "tools",  "tool_choice",
    "thinking", "service_tier", "prompt",         "inputs",
};

static const cJSON no_messages = {.type = cJSON_Array};

/* Checks the Anthropic request `in` and builds its chat-completions form in
 * `oa`; sets r->stream. Returns 0, or -1 with x describing the problem. */
static int translate(struct xl *x, struct gw_request *r, const cJSON *in, cJSON *oa)
{
    for (const cJSON *k = in->child; k; k = k->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(k->string, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof *known) {
            at(x, "%.60s", k->string);
            return fail(x, "unsupported_parameter",
                        "Extra inputs are not permitted (unknown, or not supported through "
                        "/v1/messages)");
        }
    }
    /* a prompt template (stages/prompt.c) may supply the model, the messages
     * and max_tokens; its name and values go on in the translation */
    const cJSON *v;
    if ((v = get(in, "prompt")))
        cJSON_AddItemToObject(oa, "prompt", cJSON_Duplicate(v, 1));
    if ((v = get(in, "inputs")))
        cJSON_AddItemToObject(oa, "inputs", cJSON_Duplicate(v, 1));
    const cJSON *model = get(in, "model");
    at(x, "model");
    if (!model && !gw_prompt_named(r, in))
        return missing(x);
    if (model && (!cJSON_IsString(model) || !*model->valuestring))
        return fail(x, "invalid_type", "Input should be a non-empty string");
    if (model)
        add_str(oa, "model", model->valuestring);

    const cJSON *mt = get(in, "max_tokens");
    at(x, "max_tokens");
    if (!mt && x->api == GW_API_MESSAGES && !gw_prompt_named(r, in))
        return missing(x);
    if (mt && !is_int(mt))
        return fail(x, "invalid_type", "Input should be a valid integer");
    if (mt && mt->valuedouble < 1)
        return fail(x, "invalid_value", "Input should be greater than or equal to 1");

    const cJSON *msgs = get(in, "messages");
    at(x, "messages");
    if (!msgs && gw_prompt_named(r, in))
        msgs = &no_messages;
    if (!msgs)
        return missing(x);
    if (!cJSON_IsArray(msgs))
        return fail(x, "invalid_type", "Input should be a valid list");
    if (!msgs->child && !gw_prompt_named(r, in))
        return fail(x, "invalid_value", "at least one message is required");
    cJSON *out = cJSON_AddArrayToObject(oa, "messages");
    const cJSON *sys = get(in, "system");
    if (sys && system_prompt(x, sys, out) != 0)
        return -1;
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++)
        if (one_message(x, m, i, out) != 0)
            return -1;
    if (mt)
        cJSON_AddNumberToObject(oa, "max_tokens", mt->valuedouble);

    const cJSON *stream = get(in, "stream");
    at(x, "stream");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
        return fail(x, "invalid_type", "Input should be a valid boolean");
    r->stream = x->api == GW_API_MESSAGES && cJSON_IsTrue(stream);
    if (r->stream)
        cJSON_AddTrueToObject(oa, "stream");

    if ((v = get(in, "temperature")) && number_in(x, v, "temperature", 0, 1, oa) != 0)
        return -1;
    if ((v = get(in, "top_p")) && number_in(x, v, "top_p", 0, 1, oa) != 0)
        return -1;
    if ((v = get(in, "top_k")) && !cJSON_IsNull(v)) {
        at(x, "top_k");
        if (!is_int(v))
            return fail(x, "invalid_type", "Input should be a valid integer");
        if (v->valuedouble < 0)
            return fail(x, "invalid_value", "Input should be greater than or equal to 0");
        cJSON_AddNumberToObject(oa, "top_k", v->valuedouble);
    }
    if ((v = get(in, "stop_sequences")) && stop_sequences(x, v, oa) != 0)
        return -1;
    if ((v = get(in, "metadata")) && metadata(x, v, oa) != 0)
        return -1;
    if ((v = get(in, "tools")) && tools(x, v, oa) != 0)
        return -1;
    if ((v = get(in, "tool_choice")) && tool_choice(x, v, oa) != 0)
        return -1;
    if ((v = get(in, "thinking")) && thinking(x, v) != 0)
        return -1;
    if ((v = get(in, "service_tier")) && service_tier(x, v, oa) != 0)
        return -1;
    return 0;
}

static enum gw_stage_rc bad(struct gw_request *r, const char *code, const char *param,
                            const char *msg)
{
    gw_error_respond(r, 400, "invalid_request_error", code, param, "%s", msg);
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    if (r->body.len == 0)
        return bad(r, "invalid_json", NULL, "The request body is empty; expected a JSON object.");
    const char *end = NULL;
    cJSON *in = cJSON_ParseWithLengthOpts(r->body.data, r->body.len, &end, 0);
    if (!in) {
        char msg[160];
        snprintf(msg, sizeof msg, "The request body is not valid JSON (error near byte %zu).",
                 (size_t)(end && end >= r->body.data ? end - r->body.data : 0));
        return bad(r, "invalid_json", NULL, msg);
    }
    enum gw_stage_rc rc = GW_STAGE_CONTINUE;
    cJSON *oa = NULL;
    for (const char *e = end; e && e < r->body.data + r->body.len; e++)
        if (*e != ' ' && *e != '\t' && *e != '\r' && *e != '\n' && *e != '\0') {
            rc = bad(r, "invalid_json", NULL,
                     "The JSON body of the request has data after its end.");
            goto out;
        }
    if (!cJSON_IsObject(in)) {
        rc = bad(r, "invalid_type", NULL, "The request body must be a JSON object.");
        goto out;
    }
    struct xl x = {.api = r->api};
    oa = cJSON_CreateObject();
    if (!oa || translate(&x, r, in, oa) != 0) {
        rc = oa ? bad(r, x.code, x.param[0] ? x.param : NULL, x.msg)
                : bad(r, "internal_error", NULL, "Out of memory.");
        goto out;
    }
    if (x.ao_code) {
        r->anthropic_only_code = x.ao_code;
        r->anthropic_only_param = gw_arena_strdup(r->arena, x.ao_param);
        r->anthropic_only_msg = gw_arena_strdup(r->arena, x.ao_msg);
    }
    r->json = oa;
    oa = NULL;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
    if (model) /* else left to the prompt template (stages/prompt.c) */
        r->model_name = gw_arena_strdup(r->arena, model->valuestring);
out:
    cJSON_Delete(oa);
    cJSON_Delete(in);
    return rc;
}

const struct gw_stage gw_stage_parse_messages = {
    .name = "parse_messages",
    .apis = GW_API_MESSAGES | GW_API_COUNT_TOKENS,
    .run = run,
};

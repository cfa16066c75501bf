/* Validation of a Gemini generateContent request body (Google AI Studio and
 * Vertex AI), as strict as the real API: unknown fields refused the way
 * Google's JSON parser does ('Invalid JSON payload received. Unknown name
 * "x" at ...'), with snake_case accepted for lowerCamelCase names; roles;
 * the oneof of a part; inline data; function declarations (names, the
 * OpenAPI-subset Schema, wider on Vertex); generationConfig, toolConfig and
 * safetySettings; function calls answered by as many function responses.
 * While it walks the body it feeds chat.c the texts. */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GM_MAX_DEPTH 32

struct gm_walk {
    struct mock_chat *c;
    struct mock_verdict *v;
    bool vertex;
    struct mock_buf user; /* text of the current user turn */
    int calls;            /* functionCall parts of the previous model turn */
};

static bool gm_unknown(const cJSON *obj, const char *const *keys, const char *where,
                       struct mock_verdict *v)
{
    const char *bad = mock_json_unknown(obj, keys, true);
    if (!bad)
        return true;
    if (*where)
        return mock_fail(v, 400, NULL,
                         "Invalid JSON payload received. Unknown name \"%s\" at '%s': Cannot find "
                         "field.",
                         bad, where);
    return mock_fail(v, 400, NULL,
                     "Invalid JSON payload received. Unknown name \"%s\": Cannot find field.", bad);
}

static bool gm_bad(struct mock_verdict *v, const char *where, const char *what)
{
    return mock_fail(v, 400, NULL, "Invalid value at '%s': %s", where, what);
}

static bool gm_schema(const cJSON *s, const char *where, bool vertex, int depth,
                      struct mock_verdict *v);

/* Each value of an object (properties, $defs) is a schema. */
static bool gm_schema_map(const cJSON *map, const char *where, bool vertex, int depth,
                          struct mock_verdict *v)
{
    if (!map)
        return true;
    if (!cJSON_IsObject(map))
        return gm_bad(v, where, "must be an object of schemas");
    const cJSON *it;
    cJSON_ArrayForEach(it, map)
    {
        char at[512];
        snprintf(at, sizeof at, "%s[%s]", where, it->string);
        if (!gm_schema(it, at, vertex, depth + 1, v))
            return false;
    }
    return true;
}

static bool gm_schema(const cJSON *s, const char *where, bool vertex, int depth,
                      struct mock_verdict *v)
{
    /* clang-format off */
    static const char *const keys[] = {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
        "maximum", NULL};
    /* Vertex AI's Schema also has these. */
    static const char *const vkeys[] = {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
        "maximum", "additionalProperties", "$ref", "$defs", "ref", "defs", NULL};
    static const char *const types[] = {
        "TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL",
        NULL};
    /* clang-format on */
    char at[512];

    if (depth > GM_MAX_DEPTH)
        return gm_bad(v, where, "schema nested too deeply");
    if (!cJSON_IsObject(s))
        return gm_bad(v, where, "a schema must be an object");
    if (!gm_unknown(s, vertex ? vkeys : keys, where, v))
        return false;
    const cJSON *type = mock_json_get(s, "type", true);
    if (type) {
        bool ok = false;
        for (int i = 0; cJSON_IsString(type) && types[i]; i++)
            ok |= strcasecmp(type->valuestring, types[i]) == 0;
        if (!ok)
            return gm_bad(v, where,
                          "type must be one of STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT, "
                          "NULL (a single string)");
    }
    snprintf(at, sizeof at, "%s.properties", where);
    if (!gm_schema_map(mock_json_get(s, "properties", true), at, vertex, depth, v))
        return false;
    snprintf(at, sizeof at, "%s.$defs", where);
    if (vertex &&
        !gm_schema_map(cJSON_GetObjectItemCaseSensitive(s, "$defs"), at, vertex, depth, v))
        return false;
    const cJSON *items = mock_json_get(s, "items", true);
    snprintf(at, sizeof at, "%s.items", where);
    if (items && !gm_schema(items, at, vertex, depth + 1, v))
        return false;
    const cJSON *any = mock_json_get(s, "anyOf", true);
    if (any && !cJSON_IsArray(any))
        return gm_bad(v, where, "anyOf must be a list of schemas");
    int i = 0;
    for (const cJSON *it = any ? any->child : NULL; it; it = it->next) {
        snprintf(at, sizeof at, "%s.any_of[%d]", where, i++);
        if (!gm_schema(it, at, vertex, depth + 1, v))
            return false;
    }
    const cJSON *req = mock_json_get(s, "required", true);
    if (req && !cJSON_IsArray(req))
        return gm_bad(v, where, "required must be a list of strings");
    return true;
}

static bool gm_function(const cJSON *fd, const char *where, bool vertex, struct mock_verdict *v)
{
    static const char *const keys[] = {
        "name",     "description",        "parameters", "parametersJsonSchema",
        "response", "responseJsonSchema", "behavior",   NULL};
    if (!cJSON_IsObject(fd))
        return gm_bad(v, where, "a function declaration must be an object");
    if (!gm_unknown(fd, keys, where, v))
        return false;
    const cJSON *name = mock_json_get(fd, "name", true);
    const cJSON *params = mock_json_get(fd, "parameters", true);
    const cJSON *json_params = mock_json_get(fd, "parametersJsonSchema", true);
    const char *n = cJSON_IsString(name) ? name->valuestring : "";
    if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || *n == '_') ||
        !mock_name_valid(n, 64, ".:"))
        return mock_fail(v, 400, NULL,
                         "* GenerateContentRequest.%s.name: Invalid function name. Must start "
                         "with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), "
                         "underscores (_), dots (.), colons (:), or dashes (-), with a maximum "
                         "length of 64.",
                         where);
    if (params && json_params)
        return gm_bad(v, where, "parameters and parametersJsonSchema are mutually exclusive");
    char at[256];
    snprintf(at, sizeof at, "%s.parameters", where);
    return !params || gm_schema(params, at, vertex, 0, v);
}

static bool gm_tools(const cJSON *tools, bool vertex, struct mock_verdict *v)
{
    static const char *const keys[] = {
        "functionDeclarations", "googleSearch", "googleSearchRetrieval",
        "codeExecution",        "urlContext",   NULL};
    if (!tools)
        return true;
    if (!cJSON_IsArray(tools))
        return gm_bad(v, "tools", "must be a list");
    int i = 0;
    for (const cJSON *t = tools->child; t; t = t->next, i++) {
        char at[96];
        snprintf(at, sizeof at, "tools[%d]", i);
        if (!cJSON_IsObject(t))
            return gm_bad(v, at, "a tool must be an object");
        if (!gm_unknown(t, keys, at, v))
            return false;
        const cJSON *fds = mock_json_get(t, "functionDeclarations", true);
        if (fds && !cJSON_IsArray(fds))
            return gm_bad(v, at, "function_declarations must be a list");
        int j = 0;
        for (const cJSON *fd = fds ? fds->child : NULL; fd; fd = fd->next, j++) {
            char fat[128];
            snprintf(fat, sizeof fat, "tools[%d].function_declarations[%d]", i, j);
            if (!gm_function(fd, fat, vertex, v))
                return false;
        }
    }
    return true;
}

static bool gm_tool_config(const cJSON *tc, struct mock_verdict *v)
{
    static const char *const keys[] = {"functionCallingConfig", "retrievalConfig", NULL};
    static const char *const fkeys[] = {"mode", "allowedFunctionNames", NULL};
    static const char *const modes[] = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE",
                                        "VALIDATED",        NULL};
    if (!tc)
        return true;
    if (!cJSON_IsObject(tc))
        return gm_bad(v, "tool_config", "must be an object");
    if (!gm_unknown(tc, keys, "tool_config", v))
        return false;
    const cJSON *fcc = mock_json_get(tc, "functionCallingConfig", true);
    if (!fcc)
        return true;
    if (!cJSON_IsObject(fcc))
        return gm_bad(v, "tool_config.function_calling_config", "must be an object");
    if (!gm_unknown(fcc, fkeys, "tool_config.function_calling_config", v))
        return false;
    const cJSON *mode = mock_json_get(fcc, "mode", true);
    const cJSON *names = mock_json_get(fcc, "allowedFunctionNames", true);
    bool ok = !mode;
    for (int i = 0; cJSON_IsString(mode) && modes[i]; i++)
        ok |= strcmp(mode->valuestring, modes[i]) == 0;
    if (!ok)
        return gm_bad(v, "tool_config.function_calling_config.mode",
                      "must be AUTO, ANY, NONE or VALIDATED");
    if (names && !cJSON_IsArray(names))
        return gm_bad(v, "tool_config.function_calling_config.allowed_function_names",
                      "must be a list of strings");
    if (names && !(cJSON_IsString(mode) &&
                   (!strcmp(mode->valuestring, "ANY") || !strcmp(mode->valuestring, "VALIDATED"))))
        return mock_fail(v, 400, NULL,
                         "* GenerateContentRequest.tool_config.function_calling_config.allowed_"
                         "function_names: allowed_function_names should be set only when the "
                         "mode is ANY.");
    return true;
}

static bool gm_safety(const cJSON *ss, bool vertex, struct mock_verdict *v)
{
    static const char *const keys[] = {"category", "threshold", NULL};
    static const char *const vkeys[] = {"category", "threshold", "method", NULL};
    static const char *const thresholds[] = {"HARM_BLOCK_THRESHOLD_UNSPECIFIED",
                                             "BLOCK_LOW_AND_ABOVE",
                                             "BLOCK_MEDIUM_AND_ABOVE",
                                             "BLOCK_ONLY_HIGH",
                                             "BLOCK_NONE",
                                             "OFF",
                                             NULL};
    if (!ss)
        return true;
    if (!cJSON_IsArray(ss))
        return gm_bad(v, "safety_settings", "must be a list");
    int i = 0;
    for (const cJSON *s = ss->child; s; s = s->next, i++) {
        char at[64];
        snprintf(at, sizeof at, "safety_settings[%d]", i);
        if (!cJSON_IsObject(s) || !gm_unknown(s, vertex ? vkeys : keys, at, v))
            return v->status ? false : gm_bad(v, at, "must be an object");
        const cJSON *cat = mock_json_get(s, "category", true);
        const cJSON *thr = mock_json_get(s, "threshold", true);
        if (!cJSON_IsString(cat) || strncmp(cat->valuestring, "HARM_CATEGORY_", 14))
            return gm_bad(v, at, "category must be a HARM_CATEGORY_* value");
        bool ok = false;
        for (int k = 0; cJSON_IsString(thr) && thresholds[k]; k++)
            ok |= strcmp(thr->valuestring, thresholds[k]) == 0;
        if (!ok)
            return gm_bad(v, at, "threshold must be a HarmBlockThreshold value");
    }
    return true;
}

static bool gm_number(const cJSON *gc, const char *name, double lo, double hi, bool integer,
                      struct mock_verdict *v)
{
    const cJSON *n = mock_json_get(gc, name, true);
    if (!n)
        return true;
    if (integer ? !mock_json_int(n, lo, hi)
                : !(cJSON_IsNumber(n) && n->valuedouble >= lo && n->valuedouble <= hi)) {
        char at[96];
        snprintf(at, sizeof at, "generation_config.%s", name);
        return mock_fail(v, 400, NULL, "Invalid value at '%s': must be %s in [%g, %g]", at,
                         integer ? "an integer" : "a number", lo, hi);
    }
    return true;
}

static bool gm_generation_config(const cJSON *gc, bool vertex, struct mock_verdict *v)
{
    static const char *const keys[] = {"temperature",
                                       "topP",
                                       "topK",
                                       "maxOutputTokens",
                                       "stopSequences",
                                       "candidateCount",
                                       "responseMimeType",
                                       "responseSchema",
                                       "responseJsonSchema",
                                       "seed",
                                       "presencePenalty",
                                       "frequencyPenalty",
                                       "responseLogprobs",
                                       "logprobs",
                                       "thinkingConfig",
                                       "responseModalities",
                                       "mediaResolution",
                                       "speechConfig",
                                       NULL};
    static const char *const mimes[] = {"text/plain", "application/json", "text/x.enum", NULL};
    if (!gc)
        return true;
    if (!cJSON_IsObject(gc))
        return gm_bad(v, "generation_config", "must be an object");
    if (!gm_unknown(gc, keys, "generation_config", v) ||
        !gm_number(gc, "temperature", 0, 2, false, v) || !gm_number(gc, "topP", 0, 1, false, v) ||
        !gm_number(gc, "topK", 1, 1e9, true, v) ||
        !gm_number(gc, "maxOutputTokens", 1, 1e9, true, v) ||
        !gm_number(gc, "candidateCount", 1, 8, true, v) ||
        !gm_number(gc, "seed", -2147483648.0, 2147483647.0, true, v) ||
        !gm_number(gc, "presencePenalty", -2, 2, false, v) ||
        !gm_number(gc, "frequencyPenalty", -2, 2, false, v))
        return false;
    const cJSON *stop = mock_json_get(gc, "stopSequences", true);
    if (stop && (!cJSON_IsArray(stop) || cJSON_GetArraySize(stop) > 5))
        return gm_bad(v, "generation_config.stop_sequences", "must be a list of at most 5");
    for (const cJSON *s = stop ? stop->child : NULL; s; s = s->next)
        if (!cJSON_IsString(s))
            return gm_bad(v, "generation_config.stop_sequences", "must be strings");
    const cJSON *mime = mock_json_get(gc, "responseMimeType", true);
    bool ok = !mime;
    for (int i = 0; cJSON_IsString(mime) && mimes[i]; i++)
        ok |= strcmp(mime->valuestring, mimes[i]) == 0;
    if (!ok)
        return gm_bad(v, "generation_config.response_mime_type",
                      "must be text/plain, application/json or text/x.enum");
    const cJSON *schema = mock_json_get(gc, "responseSchema", true);
    return !schema || gm_schema(schema, "generation_config.response_schema", vertex, 0, v);
}

/* One part of contents[i]; exactly one data field. */
static bool gm_part(const cJSON *p, const char *where, bool model, struct gm_walk *w)
{
    static const char *const keys[] = {"text",
                                       "inlineData",
                                       "fileData",
                                       "functionCall",
                                       "functionResponse",
                                       "executableCode",
                                       "codeExecutionResult",
                                       "thought",
                                       "thoughtSignature",
                                       "videoMetadata",
                                       NULL};
    static const char *const data[] = {
        "text",           "inlineData",          "fileData", "functionCall", "functionResponse",
        "executableCode", "codeExecutionResult", NULL};
    struct mock_verdict *v = w->v;
    const char *set = NULL;
    char at[192];

    if (!cJSON_IsObject(p))
        return gm_bad(v, where, "a part must be an object");
    if (!gm_unknown(p, keys, where, v))
        return false;
    for (int i = 0; data[i]; i++) {
        if (!mock_json_get(p, data[i], true))
            continue;
        if (set)
            return mock_fail(v, 400, NULL,
                             "Invalid value at '%s' (oneof), oneof field 'data' is already set. "
                             "Cannot set '%s'",
                             where, data[i]);
        set = data[i];
    }
    if (!set)
        return mock_fail(v, 400, NULL,
                         "* GenerateContentRequest.%s.data: required oneof field 'data' must have "
                         "one initialized field",
                         where);
    const cJSON *val = mock_json_get(p, set, true);
    snprintf(at, sizeof at, "%s.%s", where, set);
    if (strcmp(set, "text") == 0) {
        if (!cJSON_IsString(val))
            return gm_bad(v, at, "text must be a string");
        mock_chat_count(w->c, val->valuestring);
        if (!model)
            mock_buf_join(&w->user, val->valuestring);
    } else if (strcmp(set, "inlineData") == 0) {
        static const char *const ik[] = {"mimeType", "data", NULL};
        const cJSON *mt = mock_json_get(val, "mimeType", true);
        const cJSON *d = mock_json_get(val, "data", true);
        if (!cJSON_IsObject(val) || !gm_unknown(val, ik, at, v))
            return v->status ? false : gm_bad(v, at, "must be an object");
        if (!cJSON_IsString(mt) || !*mt->valuestring)
            return gm_bad(v, at, "mime_type is required");
        if (!cJSON_IsString(d) || !mock_base64_valid(d->valuestring, true))
            return gm_bad(v, at, "data must be base64 (TYPE_BYTES)");
    } else if (strcmp(set, "fileData") == 0) {
        static const char *const fk[] = {"mimeType", "fileUri", NULL};
        const cJSON *uri = mock_json_get(val, "fileUri", true);
        if (!cJSON_IsObject(val) || !gm_unknown(val, fk, at, v))
            return v->status ? false : gm_bad(v, at, "must be an object");
        if (!cJSON_IsString(uri) || !*uri->valuestring)
            return gm_bad(v, at, "file_uri is required");
    } else if (strcmp(set, "functionCall") == 0) {
        static const char *const ck[] = {"id", "name", "args", NULL};
        const cJSON *name = mock_json_get(val, "name", true);
        const cJSON *args = mock_json_get(val, "args", true);
        if (!cJSON_IsObject(val) || !gm_unknown(val, ck, at, v))
            return v->status ? false : gm_bad(v, at, "must be an object");
        if (!model)
            return mock_fail(v, 400, NULL,
                             "Please ensure that function call turns come only from the model "
                             "(%s is in a user turn).",
                             at);
        if (!cJSON_IsString(name) || !*name->valuestring)
            return gm_bad(v, at, "name is required");
        if (args && !cJSON_IsObject(args))
            return gm_bad(v, at, "args must be an object (google.protobuf.Struct)");
    } else if (strcmp(set, "functionResponse") == 0) {
        static const char *const rk[] = {"id",         "name",  "response", "willContinue",
                                         "scheduling", "parts", NULL};
        const cJSON *name = mock_json_get(val, "name", true);
        const cJSON *resp = mock_json_get(val, "response", true);
        if (!cJSON_IsObject(val) || !gm_unknown(val, rk, at, v))
            return v->status ? false : gm_bad(v, at, "must be an object");
        if (model)
            return mock_fail(v, 400, NULL,
                             "Please ensure that function responses come only from the user "
                             "(%s is in a model turn).",
                             at);
        if (!cJSON_IsString(name) || !*name->valuestring)
            return gm_bad(v, at, "name is required");
        if (!cJSON_IsObject(resp))
            return gm_bad(v, at, "response must be an object (google.protobuf.Struct)");
    }
    return true;
}

static bool gm_content(const cJSON *ct, int i, struct gm_walk *w)
{
    static const char *const keys[] = {"role", "parts", NULL};
    char where[48];
    snprintf(where, sizeof where, "contents[%d]", i);
    if (!cJSON_IsObject(ct))
        return gm_bad(w->v, where, "a content must be an object");
    if (!gm_unknown(ct, keys, where, w->v))
        return false;
    const cJSON *role = mock_json_get(ct, "role", true);
    const cJSON *parts = mock_json_get(ct, "parts", true);
    if (role && !(cJSON_IsString(role) &&
                  (!strcmp(role->valuestring, "user") || !strcmp(role->valuestring, "model"))))
        return mock_fail(w->v, 400, NULL, "Please use a valid role: user, model.");
    bool model = role && strcmp(role->valuestring, "model") == 0;
    if (!cJSON_IsArray(parts) || !parts->child)
        return mock_fail(w->v, 400, NULL,
                         "* GenerateContentRequest.%s.parts: contents.parts must not be empty.",
                         where);
    mock_buf_free(&w->user);
    mock_buf_add(&w->user, "", 0);
    int j = 0, calls = 0, responses = 0;
    for (const cJSON *p = parts->child; p; p = p->next, j++) {
        char at[96];
        snprintf(at, sizeof at, "%s.parts[%d]", where, j);
        if (!gm_part(p, at, model, w))
            return false;
        calls += mock_json_get(p, "functionCall", true) != NULL;
        responses += mock_json_get(p, "functionResponse", true) != NULL;
    }
    if (w->calls && responses != w->calls)
        return mock_fail(w->v, 400, NULL,
                         "Please ensure that the number of function response parts is equal to "
                         "the number of function call parts of the function call turn (%s).",
                         where);
    w->calls = calls;
    if (!model)
        mock_chat_user(w->c, &w->user);
    return !w->user.oom;
}

static bool gm_system(const cJSON *si, struct gm_walk *w)
{
    static const char *const keys[] = {"role", "parts", NULL};
    static const char *const pkeys[] = {"text", NULL};
    if (!si)
        return true;
    if (!cJSON_IsObject(si))
        return gm_bad(w->v, "system_instruction", "must be a Content object");
    if (!gm_unknown(si, keys, "system_instruction", w->v))
        return false;
    const cJSON *parts = mock_json_get(si, "parts", true);
    if (!cJSON_IsArray(parts))
        return gm_bad(w->v, "system_instruction.parts", "must be a list of text parts");
    int j = 0;
    for (const cJSON *p = parts->child; p; p = p->next, j++) {
        char at[64];
        snprintf(at, sizeof at, "system_instruction.parts[%d]", j);
        const cJSON *t = mock_json_get(p, "text", true);
        if (!cJSON_IsObject(p) || !gm_unknown(p, pkeys, at, w->v))
            return w->v->status ? false : gm_bad(w->v, at, "must be an object");
        if (!cJSON_IsString(t))
            return gm_bad(w->v, at, "system instruction parts must be text");
        mock_chat_count(w->c, t->valuestring);
    }
    return true;
}

static bool gm_request(const cJSON *root, struct gm_walk *w)
{
    static const char *const keys[] = {
        "contents",   "systemInstruction", "generationConfig", "tools",
        "toolConfig", "safetySettings",    "cachedContent",    "model",
        NULL};
    static const char *const vkeys[] = {"contents",         "systemInstruction",
                                        "generationConfig", "tools",
                                        "toolConfig",       "safetySettings",
                                        "cachedContent",    "model",
                                        "labels",           NULL};
    struct mock_verdict *v = w->v;
    if (!cJSON_IsObject(root))
        return mock_fail(v, 400, NULL, "Invalid JSON payload received. Expected an object.");
    if (!gm_unknown(root, w->vertex ? vkeys : keys, "", v))
        return false;
    const cJSON *contents = mock_json_get(root, "contents", true);
    if (!cJSON_IsArray(contents) || !contents->child)
        return mock_fail(v, 400, NULL,
                         "* GenerateContentRequest.contents: contents is not specified");
    if (!gm_system(mock_json_get(root, "systemInstruction", true), w) ||
        !gm_generation_config(mock_json_get(root, "generationConfig", true), w->vertex, v) ||
        !gm_tools(mock_json_get(root, "tools", true), w->vertex, v) ||
        !gm_tool_config(mock_json_get(root, "toolConfig", true), v) ||
        !gm_safety(mock_json_get(root, "safetySettings", true), w->vertex, v))
        return false;
    int i = 0;
    for (const cJSON *ct = contents->child; ct; ct = ct->next)
        if (!gm_content(ct, i++, w))
            return false;
    return true;
}

bool mock_gemini_parse(const char *body, size_t len, const char *model, bool vertex,
                       struct mock_chat *c, struct mock_verdict *v)
{
    struct gm_walk w = {.c = c, .v = v, .vertex = vertex};
    mock_chat_init(c);
    v->status = 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    bool ok = gm_request(root, &w);
    if (ok && (w.user.oom || !mock_chat_finish(c, model, MOCK_FMT_GOOGLE, "mock-")))
        ok = mock_fail(v, 500, NULL, "out of memory");
    mock_buf_free(&w.user);
    cJSON_Delete(root);
    if (!ok)
        mock_chat_free(c);
    return ok;
}

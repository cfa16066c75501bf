/* The fields of a chat-completions request other than its messages, as a
 * Gemini generateContent body's generationConfig, tools and toolConfig
 * (gemini_request.c translates the messages):
 *
 *   temperature, top_p, top_k, max_completion_tokens (else max_tokens),
 *   stop (a string or a list), seed, presence_penalty, frequency_penalty
 *                       generationConfig temperature, topP, topK,
 *                       maxOutputTokens, stopSequences, seed,
 *                       presencePenalty, frequencyPenalty
 *   response_format     json_object: responseMimeType application/json;
 *                       json_schema: the same plus responseJsonSchema (the
 *                       JSON Schema as given, the format's description added
 *                       when the schema has none); text: nothing
 *   tools (function)    tools[0].functionDeclarations {name, description,
 *                       parametersJsonSchema}: parameters go as JSON
 *                       Schema, the form OpenAI's tools use, rather than as
 *                       the OpenAPI subset of `parameters`
 *   tool_choice         toolConfig.functionCallingConfig: auto AUTO, none
 *                       NONE, required ANY, a named function ANY with
 *                       allowedFunctionNames (auto and none without tools:
 *                       nothing to say)
 *
 * Accepted and not sent: n 1; parallel_tool_calls true; logprobs false;
 * store false; service_tier auto or default; modalities ["text"]; an empty
 * logit_bias; stream and stream_options (the gateway's own); a function's
 * strict flag (no Gemini field: the declared schema is sent either way, but
 * adherence is not enforced); and the caller labels user, safety_identifier
 * and metadata, which change no answer (the usage row records the caller's
 * key).
 *
 * Refused with a 400 naming the field: n other than 1 (one candidate is
 * answered), logprobs, top_logprobs, a non-empty logit_bias, audio, other
 * modalities, non-function tools, parallel_tool_calls false (no Gemini
 * equivalent), tool_choice forms other than the four above, response_format
 * types other than the three above, store true, other service tiers, and
 * every field not named here (reasoning_effort, prediction,
 * web_search_options, functions, ...). */
#include <stdio.h>
#include <string.h>

#include "gemini-int.h"
#include "request.h"

static int is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= -9e15 && v->valuedouble <= 9e15 &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

/* ---- generation config -------------------------------------------------- */

/* Copies the number r->json[from] to gc[to]; integers only if whole. */
static int number(struct gw_gemini_tx *t, const char *from, const char *to, int whole, cJSON *gc)
{
    const cJSON *v = gw_gemini_get(t->r->json, from);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || (whole && !is_int(v)))
        return gw_gemini_refuse(t, "invalid_type", from,
                                whole ? "must be an integer." : "must be a number.");
    cJSON_AddNumberToObject(gc, to, v->valuedouble);
    return 0;
}

static int stop(struct gw_gemini_tx *t, cJSON *gc)
{
    const cJSON *v = gw_gemini_get(t->r->json, "stop");
    if (!v)
        return 0;
    if (cJSON_IsString(v)) {
        cJSON *a = cJSON_AddArrayToObject(gc, "stopSequences");
        cJSON_AddItemToArray(a, cJSON_CreateString(v->valuestring));
        return 0;
    }
    if (!cJSON_IsArray(v))
        return gw_gemini_refuse(t, "invalid_type", "stop",
                                "must be a string or an array of strings.");
    for (const cJSON *s = v->child; s; s = s->next)
        if (!cJSON_IsString(s))
            return gw_gemini_refuse(t, "invalid_type", "stop",
                                    "must be a string or an array of strings.");
    if (v->child)
        cJSON_AddItemToObject(gc, "stopSequences", cJSON_Duplicate(v, 1));
    return 0;
}

static int response_format(struct gw_gemini_tx *t, cJSON *gc)
{
    const cJSON *rf = gw_gemini_get(t->r->json, "response_format");
    if (!rf)
        return 0;
    const cJSON *type = gw_gemini_get(rf, "type");
    if (!cJSON_IsString(type))
        return gw_gemini_refuse(t, "invalid_type", "response_format.type", "must be a string.");
    const char *ty = type->valuestring;
    if (strcmp(ty, "text") == 0)
        return 0;
    if (strcmp(ty, "json_object") == 0) {
        cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
        return 0;
    }
    if (strcmp(ty, "json_schema") != 0)
        return gw_gemini_refuse(t, "unsupported_value", "response_format.type",
                                "is '%s'; the Gemini API takes text, json_object and json_schema.",
                                ty);
    const cJSON *js = gw_gemini_get(rf, "json_schema");
    if (!cJSON_IsObject(js))
        return gw_gemini_refuse(t, "invalid_type", "response_format.json_schema",
                                "must be an object.");
    const cJSON *schema = gw_gemini_get(js, "schema"), *desc = gw_gemini_get(js, "description");
    if (schema && !cJSON_IsObject(schema))
        return gw_gemini_refuse(t, "invalid_type", "response_format.json_schema.schema",
                                "must be an object (a JSON Schema).");
    if (desc && !cJSON_IsString(desc))
        return gw_gemini_refuse(t, "invalid_type", "response_format.json_schema.description",
                                "must be a string.");
    cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
    if (schema) {
        cJSON *s = cJSON_Duplicate(schema, 1);
        if (desc && !cJSON_GetObjectItemCaseSensitive(s, "description"))
            cJSON_AddStringToObject(s, "description", desc->valuestring);
        cJSON_AddItemToObject(gc, "responseJsonSchema", s);
    }
    return 0;
}

static int generation_config(struct gw_gemini_tx *t, cJSON *body)
{
    const cJSON *j = t->r->json;
    cJSON *gc = cJSON_CreateObject();
    const char *max =
        gw_gemini_get(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    const cJSON *n = gw_gemini_get(j, "n");
    int rc = 0;
    if (n && !is_int(n))
        rc = gw_gemini_refuse(t, "invalid_type", "n", "must be an integer.");
    else if (n && n->valuedouble != 1)
        rc =
            gw_gemini_refuse(t, "unsupported_value", "n",
                             "must be 1: the gateway answers with one choice from the Gemini API.");
    if (rc == 0)
        rc = number(t, "temperature", "temperature", 0, gc);
    if (rc == 0)
        rc = number(t, "top_p", "topP", 0, gc);
    if (rc == 0)
        rc = number(t, "top_k", "topK", 1, gc);
    if (rc == 0)
        rc = number(t, max, "maxOutputTokens", 1, gc);
    if (rc == 0)
        rc = stop(t, gc);
    if (rc == 0)
        rc = number(t, "seed", "seed", 1, gc);
    if (rc == 0)
        rc = number(t, "presence_penalty", "presencePenalty", 0, gc);
    if (rc == 0)
        rc = number(t, "frequency_penalty", "frequencyPenalty", 0, gc);
    if (rc == 0)
        rc = response_format(t, gc);
    if (rc != 0 || !gc->child)
        cJSON_Delete(gc);
    else
        cJSON_AddItemToObject(body, "generationConfig", gc);
    return rc;
}

/* ---- tools -------------------------------------------------------------- */

static int tools(struct gw_gemini_tx *t, cJSON *body)
{
    const cJSON *v = gw_gemini_get(t->r->json, "tools");
    char p[64];
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return gw_gemini_refuse(t, "invalid_type", "tools", "must be an array.");
    cJSON *decls = cJSON_CreateArray();
    int i = 0;
    for (const cJSON *tool = v->child; tool; tool = tool->next, i++) {
        const cJSON *type = gw_gemini_get(tool, "type"), *fn = gw_gemini_get(tool, "function");
        const cJSON *name = gw_gemini_get(fn, "name"), *desc = gw_gemini_get(fn, "description");
        const cJSON *params = gw_gemini_get(fn, "parameters");
        int rc = 0;
        gw_gemini_at(p, sizeof p, "tools[%d].type", i);
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0) {
            rc = gw_gemini_refuse(
                t, "unsupported_value", p,
                "must be 'function': the Gemini API of provider '%s' takes function tools only.",
                t->r->provider->name);
        } else if (!cJSON_IsString(name) || !*name->valuestring) {
            gw_gemini_at(p, sizeof p, "tools[%d].function.name", i);
            rc = gw_gemini_refuse(t, "invalid_type", p, "must be a non-empty string.");
        } else if (desc && !cJSON_IsString(desc)) {
            gw_gemini_at(p, sizeof p, "tools[%d].function.description", i);
            rc = gw_gemini_refuse(t, "invalid_type", p, "must be a string.");
        } else if (params && !cJSON_IsObject(params)) {
            gw_gemini_at(p, sizeof p, "tools[%d].function.parameters", i);
            rc = gw_gemini_refuse(t, "invalid_type", p, "must be an object (a JSON Schema).");
        }
        if (rc != 0) {
            cJSON_Delete(decls);
            return -1;
        }
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", name->valuestring);
        if (desc)
            cJSON_AddStringToObject(d, "description", desc->valuestring);
        if (params)
            cJSON_AddItemToObject(d, "parametersJsonSchema", cJSON_Duplicate(params, 1));
        cJSON_AddItemToArray(decls, d);
    }
    if (!decls->child) {
        cJSON_Delete(decls);
        return 0;
    }
    cJSON *tl = cJSON_AddArrayToObject(body, "tools");
    cJSON *one = cJSON_CreateObject();
    cJSON_AddItemToObject(one, "functionDeclarations", decls);
    cJSON_AddItemToArray(tl, one);
    return 0;
}

static int tool_choice(struct gw_gemini_tx *t, cJSON *body)
{
    const cJSON *v = gw_gemini_get(t->r->json, "tool_choice");
    const cJSON *ptc = gw_gemini_get(t->r->json, "parallel_tool_calls");
    if (ptc && !cJSON_IsBool(ptc))
        return gw_gemini_refuse(t, "invalid_type", "parallel_tool_calls", "must be a boolean.");
    if (cJSON_IsFalse(ptc))
        return gw_gemini_refuse(
            t, "unsupported_value", "parallel_tool_calls",
            "cannot be false: the Gemini API has no way to ask for one call at a time.");
    if (!v)
        return 0;
    const char *mode = NULL;
    const char *only = NULL;
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        mode = strcmp(s, "auto") == 0       ? "AUTO"
               : strcmp(s, "none") == 0     ? "NONE"
               : strcmp(s, "required") == 0 ? "ANY"
                                            : NULL;
    } else if (cJSON_IsObject(v)) {
        const cJSON *type = gw_gemini_get(v, "type"),
                    *name = gw_gemini_get(gw_gemini_get(v, "function"), "name");
        if (cJSON_IsString(type) && strcmp(type->valuestring, "function") == 0) {
            if (!cJSON_IsString(name) || !*name->valuestring)
                return gw_gemini_refuse(t, "invalid_type", "tool_choice.function.name",
                                        "must be a non-empty string.");
            mode = "ANY";
            only = name->valuestring;
        }
    }
    if (!mode)
        return gw_gemini_refuse(
            t, "unsupported_value", "tool_choice",
            "must be 'auto', 'none', 'required' or a named function for the Gemini API.");
    if (!cJSON_GetObjectItemCaseSensitive(body, "tools")) {
        if (strcmp(mode, "ANY") == 0)
            return gw_gemini_refuse(t, "invalid_value", "tool_choice",
                                    "asks for a tool call, but the request has no tools.");
        return 0; /* auto / none without tools: nothing to say */
    }
    cJSON *fcc = cJSON_AddObjectToObject(cJSON_AddObjectToObject(body, "toolConfig"),
                                         "functionCallingConfig");
    cJSON_AddStringToObject(fcc, "mode", mode);
    if (only)
        cJSON_AddItemToArray(cJSON_AddArrayToObject(fcc, "allowedFunctionNames"),
                             cJSON_CreateString(only));
    return 0;
}

/* ---- the request's own fields ------------------------------------------- */

/* Fields taken elsewhere (messages, generation config, tools) or accepted
 * without a Gemini equivalent (see the top of the file). */
static const char *const handled[] = {"model",
                                      "messages",
                                      "stream",
                                      "stream_options",
                                      "temperature",
                                      "top_p",
                                      "top_k",
                                      "max_tokens",
                                      "max_completion_tokens",
                                      "stop",
                                      "n",
                                      "seed",
                                      "presence_penalty",
                                      "frequency_penalty",
                                      "response_format",
                                      "tools",
                                      "tool_choice",
                                      "parallel_tool_calls",
                                      "user",
                                      "safety_identifier",
                                      "metadata"};

/* Fields accepted only with the value that asks for nothing. */
static int neutral(const cJSON *k)
{
    const char *s = k->string;
    if (strcmp(s, "logprobs") == 0 || strcmp(s, "store") == 0)
        return cJSON_IsFalse(k);
    if (strcmp(s, "service_tier") == 0)
        return cJSON_IsString(k) &&
               (strcmp(k->valuestring, "auto") == 0 || strcmp(k->valuestring, "default") == 0);
    if (strcmp(s, "modalities") == 0)
        return cJSON_IsArray(k) && cJSON_GetArraySize(k) == 1 && cJSON_IsString(k->child) &&
               strcmp(k->child->valuestring, "text") == 0;
    if (strcmp(s, "logit_bias") == 0)
        return cJSON_IsObject(k) && !k->child;
    return 0;
}

int gw_gemini_check_fields(struct gw_gemini_tx *t)
{
    for (const cJSON *k = t->r->json->child; k; k = k->next) {
        size_t n = 0;
        while (n < sizeof handled / sizeof *handled && strcmp(k->string, handled[n]) != 0)
            n++;
        if (n < sizeof handled / sizeof *handled || cJSON_IsNull(k) || neutral(k))
            continue;
        gw_gemini_at(t->param, sizeof t->param, "%.100s", k->string);
        return gw_gemini_cannot(t, t->param);
    }
    return 0;
}

int gw_gemini_params(struct gw_gemini_tx *t, cJSON *body)
{
    if (generation_config(t, body) != 0 || tools(t, body) != 0 || tool_choice(t, body) != 0)
        return -1;
    return 0;
}

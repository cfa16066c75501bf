/* The parameters of a Converse request (everything but the conversation,
 * which bedrock_request.c owns), from the caller's OpenAI-form request:
 *
 *   max_completion_tokens / max_tokens, temperature, top_p, stop
 *                                  -> inferenceConfig maxTokens, temperature,
 *                                     topP, stopSequences
 *   top_k                          -> additionalModelRequestFields.top_k: the
 *                                     name Anthropic's models on Bedrock take
 *                                     (other model families name it
 *                                     differently or lack it, and Bedrock
 *                                     answers their 400)
 *   tools (functions), tool_choice -> toolConfig {tools: [{toolSpec: {name,
 *                                     description, inputSchema: {json}}}],
 *                                     toolChoice: auto | any | tool}
 *
 * Refused with a 400 naming the parameter: what Converse cannot express
 * (n > 1, logprobs, logit_bias, non-zero penalties, seed, response_format
 * other than text, audio output, parallel_tool_calls false, strict tool
 * schemas, non-function tools, service tiers other than the default,
 * store), and any field this file does not know, so nothing the caller
 * asked for is lost in silence. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bedrock.h"
#include "request.h"

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int present(const cJSON *v)
{
    return v && !cJSON_IsNull(v);
}

static int is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9007199254740992.0;
}

static int inference_config(struct gw_request *r, cJSON *body)
{
    const cJSON *j = r->json;
    cJSON *ic = cJSON_CreateObject();
    const char *mt_name =
        present(get(j, "max_completion_tokens")) ? "max_completion_tokens" : "max_tokens";
    const cJSON *mt = get(j, mt_name), *stop = get(j, "stop");
    static const char *const floats[][2] = {{"temperature", "temperature"}, {"top_p", "topP"}};
    if (present(mt)) {
        if (!is_int(mt) || mt->valuedouble < 1) {
            cJSON_Delete(ic);
            return gw_bedrock_fail(r, "invalid_value", mt_name,
                                   "'%s' must be an integer of at least 1.", mt_name);
        }
        cJSON_AddNumberToObject(ic, "maxTokens", mt->valuedouble);
    }
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++) {
        const cJSON *v = get(j, floats[i][0]);
        if (!present(v))
            continue;
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0)) {
            cJSON_Delete(ic);
            return gw_bedrock_fail(r, "invalid_value", floats[i][0],
                                   "'%s' must be a number of at least 0.", floats[i][0]);
        }
        cJSON_AddNumberToObject(ic, floats[i][1], v->valuedouble);
    }
    if (cJSON_IsString(stop)) {
        cJSON_AddItemToArray(cJSON_AddArrayToObject(ic, "stopSequences"),
                             cJSON_CreateString(stop->valuestring));
    } else if (cJSON_IsArray(stop)) {
        for (const cJSON *s = stop->child; s; s = s->next)
            if (!cJSON_IsString(s)) {
                cJSON_Delete(ic);
                return gw_bedrock_fail(r, "invalid_type", "stop",
                                       "'stop' must be a string or an array of strings.");
            }
        if (stop->child)
            cJSON_AddItemToObject(ic, "stopSequences", cJSON_Duplicate(stop, 1));
    } else if (present(stop)) {
        cJSON_Delete(ic);
        return gw_bedrock_fail(r, "invalid_type", "stop",
                               "'stop' must be a string or an array of strings.");
    }
    if (ic->child)
        cJSON_AddItemToObject(body, "inferenceConfig", ic);
    else
        cJSON_Delete(ic);
    const cJSON *tk = get(j, "top_k");
    if (present(tk)) {
        if (!is_int(tk) || tk->valuedouble < 0)
            return gw_bedrock_fail(r, "invalid_value", "top_k",
                                   "'top_k' must be a non-negative integer.");
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(body, "additionalModelRequestFields"),
                                "top_k", tk->valuedouble);
    }
    return 0;
}

static int tool_specs(struct gw_request *r, const cJSON *tools, cJSON *out)
{
    char param[48];
    int j = 0;
    for (const cJSON *t = tools->child; t; t = t->next, j++) {
        snprintf(param, sizeof param, "tools[%d]", j);
        const cJSON *type = get(t, "type"), *fn = get(t, "function");
        if (!cJSON_IsObject(t))
            return gw_bedrock_fail(r, "invalid_type", param, "%s must be an object.", param);
        if (!(cJSON_IsString(type) && strcmp(type->valuestring, "function") == 0))
            return gw_bedrock_unsupported(r, param, "only function tools can be declared");
        const cJSON *name = get(fn, "name"), *desc = get(fn, "description");
        const cJSON *params = get(fn, "parameters"), *strict = get(fn, "strict");
        if (!cJSON_IsObject(fn) || !cJSON_IsString(name) || !*name->valuestring)
            return gw_bedrock_fail(r, "invalid_type", param,
                                   "%s.function.name must be a non-empty string.", param);
        if (present(desc) && !cJSON_IsString(desc))
            return gw_bedrock_fail(r, "invalid_type", param,
                                   "%s.function.description must be a string.", param);
        if (present(params) && !cJSON_IsObject(params))
            return gw_bedrock_fail(r, "invalid_type", param,
                                   "%s.function.parameters must be an object.", param);
        if (cJSON_IsTrue(strict)) {
            snprintf(param, sizeof param, "tools[%d].function.strict", j);
            return gw_bedrock_unsupported(r, param,
                                          "Converse cannot enforce a tool's schema strictly");
        }
        cJSON *spec = cJSON_CreateObject();
        cJSON *s = cJSON_AddObjectToObject(spec, "toolSpec");
        cJSON_AddStringToObject(s, "name", name->valuestring);
        if (cJSON_IsString(desc) && *desc->valuestring)
            cJSON_AddStringToObject(s, "description", desc->valuestring);
        cJSON *schema = present(params) ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
        if (!present(params)) {
            cJSON_AddStringToObject(schema, "type", "object");
            cJSON_AddObjectToObject(schema, "properties");
        }
        cJSON_AddItemToObject(cJSON_AddObjectToObject(s, "inputSchema"), "json", schema);
        cJSON_AddItemToArray(out, spec);
    }
    return 0;
}

/* tools and tool_choice as toolConfig. Converse has no "none" choice, and
 * it needs the tools declared whenever the conversation holds toolUse or
 * toolResult blocks: tool_choice "none" is honoured by declaring no tools
 * when the history has no tool blocks, and refused when it has. */
static int tool_config(struct gw_request *r, int tool_blocks, cJSON *body)
{
    const cJSON *tools = get(r->json, "tools"), *tc = get(r->json, "tool_choice");
    int have = cJSON_IsArray(tools) && tools->child;
    if (present(tools) && !cJSON_IsArray(tools))
        return gw_bedrock_fail(r, "invalid_type", "tools", "'tools' must be an array.");
    const char *choice = NULL; /* auto, any, tool, none */
    const char *name = NULL;
    if (cJSON_IsString(tc)) {
        const char *s = tc->valuestring;
        choice = strcmp(s, "auto") == 0       ? "auto"
                 : strcmp(s, "required") == 0 ? "any"
                 : strcmp(s, "none") == 0     ? "none"
                                              : NULL;
        if (!choice)
            return gw_bedrock_fail(
                r, "invalid_value", "tool_choice",
                "'tool_choice' must be 'auto', 'required', 'none' or a function.");
    } else if (cJSON_IsObject(tc)) {
        const cJSON *type = get(tc, "type"), *n = get(get(tc, "function"), "name");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0 ||
            !cJSON_IsString(n) || !*n->valuestring)
            return gw_bedrock_fail(r, "invalid_value", "tool_choice",
                                   "'tool_choice' must be 'auto', 'required', 'none' or "
                                   "{\"type\":\"function\",\"function\":{\"name\":...}}.");
        choice = "tool";
        name = n->valuestring;
    } else if (present(tc)) {
        return gw_bedrock_fail(r, "invalid_type", "tool_choice",
                               "'tool_choice' must be a string or an object.");
    }
    if (!have) {
        if (choice && (strcmp(choice, "any") == 0 || strcmp(choice, "tool") == 0))
            return gw_bedrock_fail(
                r, "invalid_value", "tool_choice",
                "'tool_choice' asks for a tool call, but no tools are declared.");
        if (tool_blocks)
            return gw_bedrock_unsupported(
                r, "tools",
                "the conversation holds tool calls or tool results, and Converse "
                "then needs the tools declared; send the tools again");
        return 0;
    }
    if (choice && strcmp(choice, "none") == 0) {
        if (tool_blocks)
            return gw_bedrock_unsupported(
                r, "tool_choice",
                "Converse has no 'none' choice, and it needs the tools declared "
                "while the conversation holds tool calls; leave tool_choice out");
        return 0; /* no tools declared: none can be called */
    }
    cJSON *cfg = cJSON_CreateObject();
    cJSON *specs = cJSON_AddArrayToObject(cfg, "tools");
    if (tool_specs(r, tools, specs) != 0) {
        cJSON_Delete(cfg);
        return -1;
    }
    if (choice) {
        cJSON *o = cJSON_AddObjectToObject(cJSON_AddObjectToObject(cfg, "toolChoice"), choice);
        if (name)
            cJSON_AddStringToObject(o, "name", name);
    }
    cJSON_AddItemToObject(body, "toolConfig", cfg);
    return 0;
}

/* The OpenAI parameters Converse cannot express: refused unless they ask
 * for what Converse does anyway. */
static int refusals(struct gw_request *r)
{
    const cJSON *j = r->json, *v;
    if (present(v = get(j, "n")) && !(cJSON_IsNumber(v) && v->valuedouble == 1))
        return gw_bedrock_unsupported(r, "n",
                                      "Converse returns one choice per request; leave n out");
    if (cJSON_IsTrue(get(j, "logprobs")))
        return gw_bedrock_unsupported(r, "logprobs", "Converse does not return log probabilities");
    if (present(get(j, "top_logprobs")))
        return gw_bedrock_unsupported(r, "top_logprobs",
                                      "Converse does not return log probabilities");
    if (present(v = get(j, "logit_bias")) && !(cJSON_IsObject(v) && !v->child))
        return gw_bedrock_unsupported(r, "logit_bias", "Converse cannot bias tokens");
    static const char *const penalties[] = {"presence_penalty", "frequency_penalty"};
    for (size_t i = 0; i < 2; i++)
        if (present(v = get(j, penalties[i])) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
            return gw_bedrock_unsupported(r, penalties[i], "Converse has no penalty parameters");
    if (present(get(j, "seed")))
        return gw_bedrock_unsupported(r, "seed", "Converse has no seed");
    v = get(j, "response_format");
    if (present(v) &&
        !(cJSON_IsString(get(v, "type")) && strcmp(get(v, "type")->valuestring, "text") == 0))
        return gw_bedrock_unsupported(
            r, "response_format",
            "Converse has no JSON mode or schema-constrained output; ask for the "
            "format in the prompt, or declare a tool with the schema");
    if (present(get(j, "audio")))
        return gw_bedrock_unsupported(r, "audio", "Converse answers in text");
    v = get(j, "modalities");
    if (present(v) && !(cJSON_GetArraySize(v) == 1 && cJSON_IsString(v->child) &&
                        strcmp(v->child->valuestring, "text") == 0))
        return gw_bedrock_unsupported(r, "modalities", "Converse answers in text only");
    if (cJSON_IsFalse(get(j, "parallel_tool_calls")))
        return gw_bedrock_unsupported(r, "parallel_tool_calls",
                                      "Converse cannot forbid several tool calls in one answer");
    v = get(j, "service_tier");
    if (present(v) && !(cJSON_IsString(v) && (strcmp(v->valuestring, "auto") == 0 ||
                                              strcmp(v->valuestring, "default") == 0)))
        return gw_bedrock_unsupported(r, "service_tier", "only the default tier can be asked for");
    if (cJSON_IsTrue(get(j, "store")))
        return gw_bedrock_unsupported(r, "store",
                                      "the gateway does not store completions at Bedrock");
    return 0;
}

static const char *const known[] = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "n",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "response_format",
    "audio",
    "modalities",
    "service_tier",
    "store",
    "metadata",
    "user",
};

/* Every top-level field must be one this file or bedrock_request.c reads,
 * or one that asks for nothing Converse would do differently: stream_options
 * (the gateway's own concern), metadata (the caller's tags for completions
 * stored at OpenAI) and user (an end-user id for abuse monitoring), which
 * are accepted and not sent. Anything else would be lost: refused. */
static int known_fields(struct gw_request *r)
{
    for (const cJSON *k = r->json->child; k; k = k->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof *known && strcmp(k->string, known[i]) != 0)
            i++;
        if (i == sizeof known / sizeof *known && present(k)) {
            char param[64];
            snprintf(param, sizeof param, "%.60s", k->string);
            return gw_bedrock_unsupported(r, param, "the gateway cannot translate it");
        }
    }
    return 0;
}

int gw_bedrock_check_params(struct gw_request *r)
{
    return known_fields(r) != 0 || refusals(r) != 0 ? -1 : 0;
}

int gw_bedrock_add_params(struct gw_request *r, int tool_blocks, cJSON *body)
{
    return inference_config(r, body) != 0 || tool_config(r, tool_blocks, body) != 0 ? -1 : 0;
}

/* The top-level parameters of an OpenAI chat-completions body in an
 * Anthropic Messages body (the messages are anthropic_request.c's):
 *
 *   max_completion_tokens | max_tokens -> max_tokens (Anthropic requires
 *       it: rate_limiting.default_max_tokens when absent, 1024 if that is 0)
 *   stop (string or array) -> stop_sequences; temperature (0..1; above 1 is
 *       refused, Anthropic's range ending at 1), top_p, top_k as they are
 *   tools (function) -> {name, description, input_schema}, an empty object
 *       schema for a function without parameters; a tool's cache_control
 *       passes through
 *   tool_choice auto / none / required / {function} -> {type: auto | none |
 *       any | tool}; parallel_tool_calls false -> disable_parallel_tool_use
 *   user (else safety_identifier) -> metadata.user_id; service_tier auto ->
 *       auto, default -> standard_only; stream
 *
 * Ignored: stream_options (the gateway answers include_usage itself) and
 * prompt_cache_key (a routing hint). Refused with a 400 naming the
 * parameter unless at a value that asks for nothing: n, logprobs,
 * top_logprobs, logit_bias, presence_penalty, frequency_penalty, seed,
 * response_format (other than text), audio, modalities (other than text),
 * functions, function_call, prediction, reasoning_effort, store, metadata,
 * web_search_options, verbosity, prompt_cache_retention; and non-function
 * tools, strict tools, service tiers other than auto and default, and any
 * parameter this file does not know. */
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#include "anthropic-int.h"
#include "request.h"

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) &&
           v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9007199254740992.0;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    cJSON_AddItemToObject(o, k, cJSON_CreateString(v));
}

/* ---- tools --------------------------------------------------------------- */

static int tools(struct gw_anth_tr *t, const cJSON *in, cJSON *out)
{
    gw_anth_at(t, "tools");
    if (!in || cJSON_IsNull(in))
        return 0;
    if (!cJSON_IsArray(in))
        return gw_anth_refuse(t, "invalid_type", "'tools' must be an array.");
    if (!in->child)
        return 0;
    cJSON *arr = cJSON_AddArrayToObject(out, "tools");
    int j = 0;
    for (const cJSON *tool = in->child; tool; tool = tool->next, j++) {
        gw_anth_at(t, "tools[%d]", j);
        if (!cJSON_IsObject(tool))
            return gw_anth_refuse(t, "invalid_type", "'%s' must be an object.", t->param);
        const cJSON *type = get(tool, "type"), *fn = get(tool, "function");
        gw_anth_at(t, "tools[%d].type", j);
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)
            return gw_anth_refuse(
                t, "unsupported_value",
                "'%s': only function tools can be sent to provider '%s' (Anthropic "
                "Messages API), not '%.40s'.",
                t->param, t->r->provider->name, cJSON_IsString(type) ? type->valuestring : "?");
        gw_anth_at(t, "tools[%d].function", j);
        if (!cJSON_IsObject(fn))
            return gw_anth_refuse(t, "invalid_type", "'%s' must be an object.", t->param);
        const cJSON *name = get(fn, "name"), *desc = get(fn, "description");
        const cJSON *params = get(fn, "parameters"), *strict = get(fn, "strict");
        gw_anth_at(t, "tools[%d].function.name", j);
        if (!cJSON_IsString(name) || !*name->valuestring)
            return gw_anth_refuse(t, "invalid_type", "'%s' must be a non-empty string.", t->param);
        gw_anth_at(t, "tools[%d].function.description", j);
        if (desc && !cJSON_IsString(desc) && !cJSON_IsNull(desc))
            return gw_anth_refuse(t, "invalid_type", "'%s' must be a string.", t->param);
        gw_anth_at(t, "tools[%d].function.parameters", j);
        if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params))
            return gw_anth_refuse(t, "invalid_type", "'%s' must be an object.", t->param);
        gw_anth_at(t, "tools[%d].function.strict", j);
        if (cJSON_IsTrue(strict))
            return gw_anth_cannot(t, "strict schema adherence cannot be requested; leave it out.");
        cJSON *o = cJSON_CreateObject();
        add_str(o, "name", name->valuestring);
        if (cJSON_IsString(desc))
            add_str(o, "description", desc->valuestring);
        if (cJSON_IsObject(params)) {
            cJSON_AddItemToObject(o, "input_schema", cJSON_Duplicate(params, 1));
        } else { /* a function without parameters */
            cJSON *s = cJSON_AddObjectToObject(o, "input_schema");
            add_str(s, "type", "object");
            cJSON_AddObjectToObject(s, "properties");
        }
        gw_anth_keep_cache_control(tool, o);
        cJSON_AddItemToArray(arr, o);
    }
    return 0;
}

static int tool_choice(struct gw_anth_tr *t, const cJSON *in, const cJSON *parallel, cJSON *out)
{
    int have_tools = get(out, "tools") != NULL;
    gw_anth_at(t, "parallel_tool_calls");
    if (parallel && !cJSON_IsBool(parallel) && !cJSON_IsNull(parallel))
        return gw_anth_refuse(t, "invalid_type", "'parallel_tool_calls' must be a boolean.");
    gw_anth_at(t, "tool_choice");
    cJSON *choice = NULL;
    const char *kind = "auto";
    if (in && !cJSON_IsNull(in)) {
        if (cJSON_IsString(in) &&
            (strcmp(in->valuestring, "auto") == 0 || strcmp(in->valuestring, "none") == 0)) {
            kind = in->valuestring;
        } else if (cJSON_IsString(in) && strcmp(in->valuestring, "required") == 0) {
            kind = "any";
        } else if (cJSON_IsObject(in)) {
            const cJSON *type = get(in, "type"), *fn = get(in, "function");
            const cJSON *name = cJSON_IsObject(fn) ? get(fn, "name") : NULL;
            gw_anth_at(t, "tool_choice.type");
            if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)
                return gw_anth_refuse(
                    t, "unsupported_value",
                    "'%s': provider '%s' takes tool_choice auto, none, required or "
                    "a function.",
                    t->param, t->r->provider->name);
            gw_anth_at(t, "tool_choice.function.name");
            if (!cJSON_IsString(name) || !*name->valuestring)
                return gw_anth_refuse(t, "invalid_type", "'%s' must be a non-empty string.",
                                      t->param);
            kind = "tool";
            choice = cJSON_CreateObject();
            add_str(choice, "type", "tool");
            add_str(choice, "name", name->valuestring);
        } else {
            return gw_anth_refuse(t, "invalid_value",
                                  "'tool_choice' must be auto, none, required or a function.");
        }
        if (!have_tools && (strcmp(kind, "any") == 0 || strcmp(kind, "tool") == 0)) {
            cJSON_Delete(choice);
            return gw_anth_refuse(t, "invalid_value", "'tool_choice' needs a non-empty 'tools'.");
        }
    } else if (!cJSON_IsFalse(parallel)) {
        return 0; /* nothing asked: the provider's default (auto) */
    }
    if (!have_tools) {
        cJSON_Delete(choice); /* auto / none without tools: nothing to say */
        return 0;
    }
    if (!choice) {
        choice = cJSON_CreateObject();
        add_str(choice, "type", kind);
    }
    if (cJSON_IsFalse(parallel) && strcmp(kind, "none") != 0)
        cJSON_AddTrueToObject(choice, "disable_parallel_tool_use");
    cJSON_AddItemToObject(out, "tool_choice", choice);
    return 0;
}

/* ---- top-level parameters ------------------------------------------------- */

/* Parameters Anthropic has no way to express: accepted only at a value that
 * asks for nothing (null, or what OpenAI does by default). */
static int at_default(const char *k, const cJSON *v)
{
    if (cJSON_IsNull(v))
        return 1;
    if (strcmp(k, "n") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == 1;
    if (strcmp(k, "logprobs") == 0 || strcmp(k, "store") == 0)
        return cJSON_IsFalse(v);
    if (strcmp(k, "top_logprobs") == 0 || strcmp(k, "presence_penalty") == 0 ||
        strcmp(k, "frequency_penalty") == 0)
        return cJSON_IsNumber(v) && v->valuedouble == 0;
    if (strcmp(k, "logit_bias") == 0 || strcmp(k, "metadata") == 0)
        return cJSON_IsObject(v) && !v->child;
    if (strcmp(k, "response_format") == 0) {
        const cJSON *type = get(v, "type");
        return cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0;
    }
    if (strcmp(k, "modalities") == 0)
        return cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1 && cJSON_IsString(v->child) &&
               strcmp(v->child->valuestring, "text") == 0;
    return 0; /* seed, audio, functions, function_call, prediction, ... */
}

static const struct {
    const char *name, *why;
} refused[] = {
    {"n", "it returns one choice per request; send n requests instead."},
    {"logprobs", "it does not return log probabilities."},
    {"top_logprobs", "it does not return log probabilities."},
    {"logit_bias", "it has no logit bias."},
    {"presence_penalty", "it has no presence penalty."},
    {"frequency_penalty", "it has no frequency penalty."},
    {"seed", "it has no seeded sampling."},
    {"response_format", "only {\"type\":\"text\"} can be expressed (no JSON mode or schema)."},
    {"audio", "it does not produce audio."},
    {"modalities", "it answers in text only."},
    {"functions", "use tools instead of the legacy functions."},
    {"function_call", "use tool_choice instead of the legacy function_call."},
    {"prediction", "it has no predicted outputs."},
    {"reasoning_effort", "extended thinking cannot be requested through this endpoint."},
    {"store", "it does not store completions."},
    {"metadata", "it has no stored-completion metadata (use 'user' for a user id)."},
    {"web_search_options", "web search cannot be requested through this endpoint."},
    {"verbosity", "it has no verbosity setting."},
    {"prompt_cache_retention", "its cache lifetime is set with cache_control on content parts."},
};

static const char *const translated[] = {
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "user",
    "safety_identifier",
    "stream",
    "stream_options",
    "service_tier",
    "parallel_tool_calls",
    "prompt_cache_key",
};

int gw_anth_check_params(struct gw_anth_tr *t, const cJSON *in)
{
    for (const cJSON *k = in->child; k; k = k->next) {
        size_t i = 0;
        while (i < sizeof translated / sizeof *translated && strcmp(k->string, translated[i]) != 0)
            i++;
        if (i < sizeof translated / sizeof *translated)
            continue;
        gw_anth_at(t, "%.100s", k->string);
        for (i = 0; i < sizeof refused / sizeof *refused; i++)
            if (strcmp(k->string, refused[i].name) == 0)
                break;
        if (i == sizeof refused / sizeof *refused)
            return gw_anth_cannot(t, "unknown parameter, or one the gateway cannot translate.");
        if (!at_default(k->string, k))
            return gw_anth_cannot(t, refused[i].why);
    }
    return 0;
}

int gw_anth_max_tokens(struct gw_anth_tr *t, const cJSON *in, cJSON *out)
{
    static const char *const names[] = {"max_completion_tokens", "max_tokens"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = get(in, names[i]);
        if (!v || cJSON_IsNull(v))
            continue;
        gw_anth_at(t, "%s", names[i]);
        if (!is_int(v) || v->valuedouble < 1)
            return gw_anth_refuse(t, "invalid_value", "'%s' must be an integer of at least 1.",
                                  names[i]);
        cJSON_AddNumberToObject(out, "max_tokens", v->valuedouble);
        return 0;
    }
    long long d = t->r->cfg->rate_limiting.default_max_tokens;
    cJSON_AddNumberToObject(out, "max_tokens", (double)(d > 0 ? d : 1024));
    return 0;
}

static int sampling(struct gw_anth_tr *t, const cJSON *in, cJSON *out)
{
    const cJSON *v;
    gw_anth_at(t, "stop");
    if ((v = get(in, "stop")) && !cJSON_IsNull(v)) {
        if (cJSON_IsString(v)) {
            cJSON *a = cJSON_AddArrayToObject(out, "stop_sequences");
            cJSON_AddItemToArray(a, cJSON_CreateString(v->valuestring));
        } else if (cJSON_IsArray(v)) {
            for (const cJSON *s = v->child; s; s = s->next)
                if (!cJSON_IsString(s))
                    return gw_anth_refuse(t, "invalid_type", "'stop' must be a string or strings.");
            if (v->child)
                cJSON_AddItemToObject(out, "stop_sequences", cJSON_Duplicate(v, 1));
        } else {
            return gw_anth_refuse(t, "invalid_type",
                                  "'stop' must be a string or an array of strings.");
        }
    }
    gw_anth_at(t, "temperature");
    if ((v = get(in, "temperature")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0)
            return gw_anth_refuse(t, "invalid_value",
                                  "'temperature' must be a number of at least 0.");
        if (v->valuedouble > 1)
            return gw_anth_refuse(t, "unsupported_value",
                                  "'temperature' %g is out of range for provider '%s': Anthropic's "
                                  "temperature goes from 0 to 1.",
                                  v->valuedouble, t->r->provider->name);
        cJSON_AddNumberToObject(out, "temperature", v->valuedouble);
    }
    gw_anth_at(t, "top_p");
    if ((v = get(in, "top_p")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1)
            return gw_anth_refuse(t, "invalid_value", "'top_p' must be a number from 0 to 1.");
        cJSON_AddNumberToObject(out, "top_p", v->valuedouble);
    }
    gw_anth_at(t, "top_k");
    if ((v = get(in, "top_k")) && !cJSON_IsNull(v)) {
        if (!is_int(v) || v->valuedouble < 0)
            return gw_anth_refuse(t, "invalid_value", "'top_k' must be a non-negative integer.");
        cJSON_AddNumberToObject(out, "top_k", v->valuedouble);
    }
    return 0;
}

static int misc(struct gw_anth_tr *t, const cJSON *in, cJSON *out)
{
    const cJSON *user = get(in, "user"), *sid = get(in, "safety_identifier");
    const cJSON *tier = get(in, "service_tier");
    gw_anth_at(t, "user");
    if (user && !cJSON_IsString(user) && !cJSON_IsNull(user))
        return gw_anth_refuse(t, "invalid_type", "'user' must be a string.");
    gw_anth_at(t, "safety_identifier");
    if (sid && !cJSON_IsString(sid) && !cJSON_IsNull(sid))
        return gw_anth_refuse(t, "invalid_type", "'safety_identifier' must be a string.");
    const cJSON *who = cJSON_IsString(user) ? user : cJSON_IsString(sid) ? sid : NULL;
    if (who)
        add_str(cJSON_AddObjectToObject(out, "metadata"), "user_id", who->valuestring);
    gw_anth_at(t, "service_tier");
    if (tier && !cJSON_IsNull(tier)) {
        if (cJSON_IsString(tier) && strcmp(tier->valuestring, "auto") == 0)
            add_str(out, "service_tier", "auto");
        else if (cJSON_IsString(tier) && strcmp(tier->valuestring, "default") == 0)
            add_str(out, "service_tier", "standard_only");
        else
            return gw_anth_cannot(t, "its service tiers are auto and default (standard only).");
    }
    if (t->r->stream)
        cJSON_AddTrueToObject(out, "stream");
    return 0;
}

int gw_anth_options(struct gw_anth_tr *t, const cJSON *in, cJSON *out)
{
    if (sampling(t, in, out) != 0 || tools(t, get(in, "tools"), out) != 0 ||
        tool_choice(t, get(in, "tool_choice"), get(in, "parallel_tool_calls"), out) != 0)
        return -1;
    return misc(t, in, out);
}

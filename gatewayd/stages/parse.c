/* Stage parse: the chat-completions body as OpenAI defines it. Parses the
 * JSON once (the tree is kept in r->json for later stages) and checks the
 * fields the gateway itself relies on, with errors that name the field. The
 * part every OpenAI-format body shares (a JSON object with a model) is
 * gw_parse_openai_body, used by parse_embeddings.c too. A chat request that
 * names a prompt template (prompts.h) may leave its model and messages to
 * the template: the prompt stage checks what the rendering gives. */
#include "parse.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "pipeline.h"
#include "prompts.h"
#include "request.h"

static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", "function"};

static int valid_role(const char *s)
{
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (strcmp(s, roles[i]) == 0)
            return 1;
    return 0;
}

static enum gw_stage_rc bad(struct gw_request *r, const char *code, const char *param,
                            const char *msg)
{
    gw_error_respond(r, 400, "invalid_request_error", code, param, "%s", msg);
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc check_messages(struct gw_request *r, const cJSON *msgs)
{
    char param[64], msg[160];
    if (!msgs)
        return bad(r, "missing_required_parameter", "messages",
                   "Missing required parameter: 'messages'.");
    if (!cJSON_IsArray(msgs))
        return bad(r, "invalid_type", "messages", "'messages' must be an array.");
    if (!msgs->child)
        return bad(r, "invalid_value", "messages", "'messages' must contain at least one message.");
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        if (!cJSON_IsObject(m)) {
            snprintf(param, sizeof param, "messages[%d]", i);
            snprintf(msg, sizeof msg, "'%s' must be an object.", param);
            return bad(r, "invalid_type", param, msg);
        }
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        snprintf(param, sizeof param, "messages[%d].role", i);
        if (!role) {
            snprintf(msg, sizeof msg, "Missing required parameter: '%s'.", param);
            return bad(r, "missing_required_parameter", param, msg);
        }
        if (!cJSON_IsString(role) || !valid_role(role->valuestring)) {
            snprintf(msg, sizeof msg,
                     "'%s' must be one of system, developer, user, assistant, tool.", param);
            return bad(r, "invalid_value", param, msg);
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (content && !cJSON_IsString(content) && !cJSON_IsArray(content) &&
            !cJSON_IsNull(content)) {
            snprintf(param, sizeof param, "messages[%d].content", i);
            snprintf(msg, sizeof msg, "'%s' must be a string, an array of content parts, or null.",
                     param);
            return bad(r, "invalid_type", param, msg);
        }
    }
    return GW_STAGE_CONTINUE;
}

enum gw_stage_rc gw_parse_openai_body(struct gw_request *r)
{
    if (r->body.len == 0)
        return bad(r, "invalid_json", NULL, "The request body is empty; expected a JSON object.");
    const char *end = NULL;
    r->json = cJSON_ParseWithLengthOpts(r->body.data, r->body.len, &end, 0);
    if (!r->json) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "We could not parse the JSON body of your request (error near byte %zu).",
                 (size_t)(end && end >= r->body.data ? end - r->body.data : 0));
        return bad(r, "invalid_json", NULL, msg);
    }
    for (const char *e = end; e && e < r->body.data + r->body.len; e++)
        if (*e != ' ' && *e != '\t' && *e != '\r' && *e != '\n' && *e != '\0')
            return bad(r, "invalid_json", NULL,
                       "The JSON body of your request has data after its end.");
    if (!cJSON_IsObject(r->json))
        return bad(r, "invalid_type", NULL, "The request body must be a JSON object.");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
    if (!model && r->api == GW_API_CHAT && gw_prompt_named(r, r->json))
        return GW_STAGE_CONTINUE; /* the prompt template may name it (stages/prompt.c) */
    if (!model)
        return bad(r, "missing_required_parameter", "model",
                   "Missing required parameter: 'model'.");
    if (!cJSON_IsString(model) || !*model->valuestring)
        return bad(r, "invalid_type", "model", "'model' must be a non-empty string.");
    r->model_name = gw_arena_strdup(r->arena, model->valuestring);
    return GW_STAGE_CONTINUE;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    enum gw_stage_rc rc = gw_parse_openai_body(r);
    if (rc != GW_STAGE_CONTINUE)
        return rc;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
    /* with a prompt template, the caller's messages may be none */
    if (msgs && cJSON_IsArray(msgs) && !msgs->child && gw_prompt_named(r, r->json))
        msgs = NULL;
    if ((msgs || !gw_prompt_named(r, r->json)) &&
        (rc = check_messages(r, msgs)) != GW_STAGE_CONTINUE)
        return rc;
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(r->json, "stream");
    if (stream && !cJSON_IsBool(stream) && !cJSON_IsNull(stream))
        return bad(r, "invalid_type", "stream", "'stream' must be a boolean.");
    r->stream = cJSON_IsTrue(stream);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(r->json, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return bad(r, "invalid_type", "stream_options", "'stream_options' must be an object.");
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
        if (iu && !cJSON_IsBool(iu))
            return bad(r, "invalid_type", "stream_options.include_usage",
                       "'stream_options.include_usage' must be a boolean.");
        r->client_wants_usage = cJSON_IsTrue(iu);
    }
    static const char *const numeric[] = {
        "max_tokens", "max_completion_tokens", "temperature",      "top_p", "n",
        "seed",       "presence_penalty",      "frequency_penalty"};
    for (size_t i = 0; i < sizeof numeric / sizeof *numeric; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, numeric[i]);
        if (v && !cJSON_IsNumber(v) && !cJSON_IsNull(v)) {
            char msg[96];
            snprintf(msg, sizeof msg, "'%s' must be a number.", numeric[i]);
            return bad(r, "invalid_type", numeric[i], msg);
        }
    }
    return GW_STAGE_CONTINUE;
}

const struct gw_stage gw_stage_parse = {
    .name = "parse",
    .apis = GW_API_CHAT,
    .run = run,
};

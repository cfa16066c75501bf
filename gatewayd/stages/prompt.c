/* Stage prompt: a request that names a prompt template (header x-gw-prompt
 * or body member "prompt", NAME or NAME@VERSION) with its values in the body
 * member "inputs" gets the template rendered into its messages
 * (prompts.h: gw_prompts_apply), and the answer says which version it used
 * in x-gw-prompt: NAME@VERSION. A request that names none costs one header
 * lookup and two member lookups; `prompts: {enabled: false}` refuses those
 * that do (400) rather than sending them on without their template.
 *
 * The stage runs right after the body is parsed, before the content policy,
 * the token count, rate limits and every later stage: they all see the
 * rendered request, as if the caller had sent it, so the template's tokens
 * are counted for limits and budgets and an input cannot carry a blocked
 * phrase past the policy. (DESIGN.md §2 lists "prompt template" after the
 * rate limit; running it earlier is what makes those checks hold.) */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "pipeline.h"
#include "prompts.h"
#include "request.h"

static enum gw_stage_rc bad(struct gw_request *r, int status, const char *code, const char *param,
                            const char *msg)
{
    gw_error_respond(r, status, status >= 500 ? "server_error" : "invalid_request_error", code,
                     param, "%s", msg);
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const char *hdr = gw_request_header(r, "x-gw-prompt");
    const cJSON *body_ref = cJSON_GetObjectItemCaseSensitive(r->json, "prompt");
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(r->json, "inputs");
    if (!hdr && !body_ref && !inputs)
        return GW_STAGE_CONTINUE;
    if (!r->cfg->prompts.enabled)
        return bad(r, 400, "prompts_disabled", body_ref ? "prompt" : NULL,
                   "This gateway does not apply prompt templates (prompts.enabled is false); "
                   "send the request without x-gw-prompt, 'prompt' and 'inputs'.");
    if (body_ref && !(cJSON_IsString(body_ref) && *body_ref->valuestring))
        return bad(r, 400, "invalid_type", "prompt",
                   "'prompt' must be a non-empty string: NAME or NAME@VERSION.");
    if (hdr && !*hdr)
        return bad(r, 400, "invalid_prompt_reference", "x-gw-prompt",
                   "The x-gw-prompt header is empty: give NAME or NAME@VERSION.");
    if (hdr && body_ref && strcmp(hdr, body_ref->valuestring) != 0)
        return bad(r, 400, "conflicting_prompt", "prompt",
                   "The x-gw-prompt header and the body's 'prompt' name different templates; "
                   "give one.");
    if (!hdr && !body_ref)
        return bad(r, 400, "prompt_required", "inputs",
                   "'inputs' fills a prompt template's variables: name the template with the "
                   "x-gw-prompt header or the 'prompt' field.");
    if (inputs && !cJSON_IsObject(inputs) && !cJSON_IsNull(inputs))
        return bad(r, 400, "invalid_type", "inputs",
                   "'inputs' must be an object of variable names to values.");
    struct gw_prompt_error e;
    if (gw_prompts_apply(r, hdr ? hdr : body_ref->valuestring,
                         cJSON_IsObject(inputs) ? inputs : NULL, &e) != 0)
        return bad(r, e.status, e.code, e.param, e.msg);
    char label[GW_PROMPT_MAX_NAME + 16];
    snprintf(label, sizeof label, "%s@%d", r->prompt_name, r->prompt_version);
    gw_request_add_header(r, "x-gw-prompt", label); /* the value is copied */
    return GW_STAGE_CONTINUE;
}

const struct gw_stage gw_stage_prompt = {
    .name = "prompt",
    .apis = GW_API_CHAT | GW_API_MESSAGES | GW_API_COUNT_TOKENS,
    .run = run,
};

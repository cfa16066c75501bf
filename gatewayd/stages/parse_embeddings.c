/* Stage parse_embeddings: the /v1/embeddings body as OpenAI defines it.
 * Parses the JSON once (kept in r->json; the provider sends it on with only
 * the model substituted) and checks what the gateway and the providers rely
 * on, with errors that name the field, as parse.c does for chat:
 *
 *   model            a non-empty string
 *   input            a non-empty string, or a non-empty array (at most
 *                    GW_EMBED_MAX_INPUTS items) of non-empty strings, of
 *                    token ids (one token array), or of non-empty token
 *                    arrays; a token id is an integer in [0, 2^31)
 *   encoding_format  "float" or "base64" (optional)
 *   dimensions       an integer >= 1 (optional)
 *   user             a string (optional)
 *
 * Other fields are left to the provider. The input's token count is
 * tokens.c's business (gw_tokens_input), so the stages after this one treat
 * an embeddings request like a prompt with no answer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "parse.h"
#include "pipeline.h"
#include "request.h"

#define GW_EMBED_MAX_INPUTS 2048 /* OpenAI's limit on the items of one request */

static enum gw_stage_rc bad(struct gw_request *r, const char *code, const char *param,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum gw_stage_rc bad(struct gw_request *r, const char *code, const char *param,
                            const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gw_error_respond(r, 400, "invalid_request_error", code, param, "%s", msg);
    return GW_STAGE_RESPOND;
}

static int token_id(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 2147483648.0 &&
           v->valuedouble == (double)(long long)v->valuedouble;
}

/* A token array at param: non-empty, token ids only. */
static enum gw_stage_rc check_tokens(struct gw_request *r, const cJSON *a, const char *param)
{
    char p[64];
    if (!a->child)
        return bad(r, "invalid_value", param, "'%s' must not be an empty token array.", param);
    int j = 0;
    for (const cJSON *t = a->child; t; t = t->next, j++) {
        if (token_id(t))
            continue;
        snprintf(p, sizeof p, "%s[%d]", param, j);
        return bad(r, "invalid_type", p, "'%s' must be a token id (an integer from 0 to 2^31-1).",
                   p);
    }
    return GW_STAGE_CONTINUE;
}

static enum gw_stage_rc check_input(struct gw_request *r, const cJSON *in)
{
    char p[32];
    if (!in)
        return bad(r, "missing_required_parameter", "input",
                   "Missing required parameter: 'input'.");
    if (cJSON_IsString(in)) {
        if (!*in->valuestring)
            return bad(r, "invalid_value", "input", "'input' must not be an empty string.");
        return GW_STAGE_CONTINUE;
    }
    if (!cJSON_IsArray(in))
        return bad(r, "invalid_type", "input",
                   "'input' must be a string, an array of strings, an array of token ids or an "
                   "array of token arrays.");
    if (!in->child)
        return bad(r, "invalid_value", "input", "'input' must not be an empty array.");
    int n = cJSON_GetArraySize(in);
    if (n > GW_EMBED_MAX_INPUTS)
        return bad(r, "invalid_value", "input", "'input' has %d items; at most %d are allowed.", n,
                   GW_EMBED_MAX_INPUTS);
    if (cJSON_IsNumber(in->child)) /* one token array */
        return check_tokens(r, in, "input");
    /* the first item decides: strings, or token arrays */
    int strings = cJSON_IsString(in->child);
    int i = 0;
    for (const cJSON *it = in->child; it; it = it->next, i++) {
        snprintf(p, sizeof p, "input[%d]", i);
        if (strings) {
            if (!cJSON_IsString(it))
                return bad(r, "invalid_type", p,
                           "'%s' must be a string, as the other items of 'input' are.", p);
            if (!*it->valuestring)
                return bad(r, "invalid_value", p, "'%s' must not be an empty string.", p);
        } else {
            if (!cJSON_IsArray(it))
                return bad(r, "invalid_type", p,
                           i ? "'%s' must be a token array, as the other items of 'input' are."
                             : "'%s' must be a string or a token array.",
                           p);
            enum gw_stage_rc rc = check_tokens(r, it, p);
            if (rc != GW_STAGE_CONTINUE)
                return rc;
        }
    }
    return GW_STAGE_CONTINUE;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    enum gw_stage_rc rc = gw_parse_openai_body(r);
    if (rc != GW_STAGE_CONTINUE)
        return rc;
    rc = check_input(r, cJSON_GetObjectItemCaseSensitive(r->json, "input"));
    if (rc != GW_STAGE_CONTINUE)
        return rc;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, "encoding_format");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v))
            return bad(r, "invalid_type", "encoding_format", "'encoding_format' must be a string.");
        if (strcmp(v->valuestring, "float") != 0 && strcmp(v->valuestring, "base64") != 0)
            return bad(r, "invalid_value", "encoding_format",
                       "'encoding_format' must be 'float' or 'base64'.");
    }
    v = cJSON_GetObjectItemCaseSensitive(r->json, "dimensions");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsNumber(v))
            return bad(r, "invalid_type", "dimensions", "'dimensions' must be an integer.");
        if (!(v->valuedouble >= 1 && v->valuedouble < 2147483648.0 &&
              v->valuedouble == (double)(long long)v->valuedouble))
            return bad(r, "invalid_value", "dimensions",
                       "'dimensions' must be an integer of at least 1.");
    }
    v = cJSON_GetObjectItemCaseSensitive(r->json, "user");
    if (v && !cJSON_IsNull(v) && !cJSON_IsString(v))
        return bad(r, "invalid_type", "user", "'user' must be a string.");
    return GW_STAGE_CONTINUE;
}

const struct gw_stage gw_stage_parse_embeddings = {
    .name = "parse_embeddings",
    .apis = GW_API_EMBEDDINGS,
    .run = run,
};

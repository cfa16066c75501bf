/* Token counting for requests. Today every model gets the documented
 * estimate (docs/http-api.md); the exact byte-pair tokenizer for OpenAI's
 * encodings plugs in here, in one place, for the stages to share. */
#include "tokens.h"

#include <string.h>

#include "request.h"

long long gw_tokens_estimate_text(size_t bytes)
{
    return (long long)((bytes + 3) / 4);
}

static size_t content_bytes(const cJSON *content)
{
    if (cJSON_IsString(content))
        return strlen(content->valuestring);
    size_t n = 0;
    if (cJSON_IsArray(content))
        for (const cJSON *p = content->child; p; p = p->next) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "text");
            if (cJSON_IsString(t))
                n += strlen(t->valuestring);
        }
    return n;
}

long long gw_tokens_estimate_chat(const cJSON *messages)
{
    long long n = 3;
    for (const cJSON *m = messages ? messages->child : NULL; m; m = m->next)
        n +=
            gw_tokens_estimate_text(content_bytes(cJSON_GetObjectItemCaseSensitive(m, "content"))) +
            3;
    return n;
}

long long gw_tokens_input(struct gw_request *r)
{
    if (!r->input_tokens_known) {
        r->input_tokens =
            gw_tokens_estimate_chat(cJSON_GetObjectItemCaseSensitive(r->json, "messages"));
        r->input_tokens_known = 1;
    }
    return r->input_tokens;
}

long long gw_tokens_answer_budget(const struct gw_request *r)
{
    static const char *const fields[] = {"max_completion_tokens", "max_tokens"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, fields[i]);
        if (cJSON_IsNumber(v) && v->valuedouble >= 0)
            return (long long)v->valuedouble;
    }
    return r->cfg->rate_limiting.default_max_tokens;
}

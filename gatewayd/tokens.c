/* Token counting for requests, on top of common/tokenizer.c: exact for
 * models with an OpenAI encoding, the tokenizer's documented estimate for the
 * others. The encoding follows the model the request will reach upstream (a
 * configured name like "fast" counts as its deployment's model). */
#include "tokens.h"

#include <string.h>

#include "request.h"
#include "tokenizer.h"

/* The upstream model name that decides the encoding. */
static const char *counting_model(const struct gw_request *r)
{
    const struct gw_model_cfg *m = r->model ? r->model : gw_config_model(r->cfg, r->model_name);
    return m && m->n_deployments ? m->deployments[0].model : r->model_name;
}

long long gw_tokens_input(struct gw_request *r)
{
    if (!r->input_tokens_known) {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(r->json, "tools");
        long n = gw_tok_count_chat(counting_model(r), msgs, cJSON_IsArray(tools) ? tools : NULL);
        if (n < 0) /* out of memory: the estimate still bounds the request */
            n = gw_tok_count_chat(NULL, msgs, NULL);
        r->input_tokens = n < 0 ? 0 : n;
        r->input_tokens_known = 1;
    }
    return r->input_tokens;
}

long long gw_tokens_text(const struct gw_request *r, const char *text, size_t len)
{
    long n = gw_tok_count(gw_tok_encoding_for_model(counting_model(r)), text, len);
    return n < 0 ? (long long)((len + 3) / 4) : n;
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

/* Token counting for requests, on top of common/tokenizer.c: exact for
 * models with an OpenAI encoding, the tokenizer's documented estimate for the
 * others. The encoding follows the model the request will reach upstream (a
 * configured name like "fast" counts as its deployment's model). A chat
 * request's input is its prompt, counted as OpenAI counts chat; an
 * embeddings request's input is the tokens of its input strings (no
 * per-item overhead, as OpenAI's embeddings usage counts them) and the
 * length of its token arrays, and it has no answer. */
#include "tokens.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "tokenizer.h"

/* The upstream model name that decides the encoding. */
static const char *counting_model(const struct gw_request *r)
{
    const struct gw_model_cfg *m = r->model ? r->model : gw_config_model(r->cfg, r->model_name);
    return m && m->n_deployments ? m->deployments[0].model : r->model_name;
}

/* The tokens of one string, exact or estimated; never fails. */
static long long text_tokens(enum gw_tok_encoding e, const char *text, size_t len)
{
    long n = gw_tok_count(e, text, len);
    return n < 0 ? (long long)((len + 3) / 4) : n; /* out of memory: the estimate */
}

/* The input of an embeddings body (checked by parse_embeddings.c): a string,
 * strings, one token array, or token arrays. */
static long long embeddings_input(const struct gw_request *r)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(r->json, "input");
    enum gw_tok_encoding e = gw_tok_encoding_for_model(counting_model(r));
    if (cJSON_IsString(in))
        return text_tokens(e, in->valuestring, strlen(in->valuestring));
    if (!cJSON_IsArray(in))
        return 0;
    long long n = 0;
    for (const cJSON *it = in->child; it; it = it->next) {
        if (cJSON_IsNumber(it))
            n++; /* a token id of the one token array */
        else if (cJSON_IsString(it))
            n += text_tokens(e, it->valuestring, strlen(it->valuestring));
        else if (cJSON_IsArray(it))
            n += cJSON_GetArraySize(it);
    }
    return n;
}

long long gw_tokens_input(struct gw_request *r)
{
    if (r->input_tokens_known)
        return r->input_tokens;
    if (r->api == GW_API_EMBEDDINGS) {
        r->input_tokens = embeddings_input(r);
    } else {
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(r->json, "tools");
        long n = gw_tok_count_chat(counting_model(r), msgs, cJSON_IsArray(tools) ? tools : NULL);
        if (n < 0) /* out of memory: the estimate still bounds the request */
            n = gw_tok_count_chat(NULL, msgs, NULL);
        r->input_tokens = n < 0 ? 0 : n;
    }
    r->input_tokens_known = 1;
    return r->input_tokens;
}

long long gw_tokens_text(const struct gw_request *r, const char *text, size_t len)
{
    return text_tokens(gw_tok_encoding_for_model(counting_model(r)), text, len);
}

char *gw_tokens_decode(const struct gw_request *r, const cJSON *ids, size_t *len)
{
    enum gw_tok_encoding e = gw_tok_encoding_for_model(counting_model(r));
    int n = cJSON_GetArraySize(ids);
    if (e == GW_TOK_ESTIMATE || n <= 0)
        return NULL;
    uint32_t *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (const cJSON *t = ids->child; t; t = t->next) {
        if (!cJSON_IsNumber(t) || !(t->valuedouble >= 0 && t->valuedouble < 4294967296.0))
            break;
        v[k++] = (uint32_t)t->valuedouble;
    }
    char *text = k == (size_t)n ? gw_tok_decode(e, v, k, len) : NULL;
    free(v);
    return text;
}

long long gw_tokens_answer_budget(const struct gw_request *r)
{
    if (r->api == GW_API_EMBEDDINGS)
        return 0; /* an embedding is priced by its input alone */
    static const char *const fields[] = {"max_completion_tokens", "max_tokens"};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, fields[i]);
        if (cJSON_IsNumber(v) && v->valuedouble >= 0)
            return (long long)v->valuedouble;
    }
    return r->cfg->rate_limiting.default_max_tokens;
}

/* Token counts for the stages that need them before the upstream answers
 * (content policy, rate limits, budgets) and for providers that count
 * themselves (echo): exact for models with an OpenAI encoding, the
 * documented estimate otherwise (docs/tokenizer.md). */
#ifndef GW_TOKENS_H
#define GW_TOKENS_H

#include <stddef.h>

struct cJSON;
struct gw_request;

/* The input tokens of a request (r->json must be parsed), counted once and
 * kept on the request: for chat (and /v1/messages, in its chat form) the
 * prompt as OpenAI counts it; for embeddings the tokens of every input
 * string plus the length of every token array. */
long long gw_tokens_input(struct gw_request *r);
/* The tokens of a text for the request's model. */
long long gw_tokens_text(const struct gw_request *r, const char *text, size_t len);
/* The text of a token array (a cJSON array of token ids) in the encoding of
 * the request's model: a malloc'd, NUL-terminated string the caller frees,
 * its length in *len; NULL when the model has no known encoding, an id is
 * unknown, or memory runs out. */
char *gw_tokens_decode(const struct gw_request *r, const struct cJSON *ids, size_t *len);
/* The most the answer may cost in tokens: 0 for embeddings; else the
 * request's max_completion_tokens or max_tokens, else
 * rate_limiting.default_max_tokens. */
long long gw_tokens_answer_budget(const struct gw_request *r);

#endif

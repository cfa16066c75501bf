/* Token counts for the stages that need them before the upstream answers
 * (content policy, rate limits, budgets) and for providers that count
 * themselves (echo): exact for models with an OpenAI encoding, the
 * documented estimate otherwise (docs/tokenizer.md). */
#ifndef GW_TOKENS_H
#define GW_TOKENS_H

#include <stddef.h>

struct gw_request;

/* The prompt tokens of a chat request as OpenAI counts them (r->json must
 * be parsed); counted once and kept on the request. */
long long gw_tokens_input(struct gw_request *r);
/* The tokens of a text for the request's model. */
long long gw_tokens_text(const struct gw_request *r, const char *text, size_t len);
/* The most the answer may cost in tokens: the request's max_completion_tokens
 * or max_tokens, else rate_limiting.default_max_tokens. */
long long gw_tokens_answer_budget(const struct gw_request *r);

#endif

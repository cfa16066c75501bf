/* Prompt token counts for the stages that need them before the upstream
 * answers (content policy, rate limits): counted once per request and kept
 * on it. */
#ifndef GW_TOKENS_H
#define GW_TOKENS_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct gw_request;

/* The input tokens of a chat request (r->json must be parsed). */
long long gw_tokens_input(struct gw_request *r);
/* The most the answer may cost in tokens: the request's max_completion_tokens
 * or max_tokens, else rate_limiting.default_max_tokens. */
long long gw_tokens_answer_budget(const struct gw_request *r);
/* The documented estimate used where no exact tokenizer applies: one token
 * per four bytes of text, rounded up. */
long long gw_tokens_estimate_text(size_t bytes);
/* The chat estimate: text estimate of every message + 3 per message + 3. */
long long gw_tokens_estimate_chat(const cJSON *messages);

#endif

/* Usage accounting: turns a finished request into a usage row (tokens, cost
 * at the model's pricing, latency, time to first byte, gateway overhead) and
 * hands it to the writer. */
#ifndef GW_USAGE_H
#define GW_USAGE_H

struct gw_request;
struct gw_pricing;

/* Tokens of one request. prompt is the whole prompt; cached and cache_write
 * are the parts of it read from and written to the provider's prompt cache. */
struct gw_token_counts {
    long long prompt, completion, cached, cache_write;
};

void gw_usage_record(struct gw_request *r);
/* USD at the model's prices: each prompt token once, at the price of what
 * happened to it (plain input, cache read, cache write), plus the answer. */
double gw_usage_cost(const struct gw_pricing *p, const struct gw_token_counts *t);
/* The counts a request has now. */
struct gw_token_counts gw_usage_counts(const struct gw_request *r);

#endif

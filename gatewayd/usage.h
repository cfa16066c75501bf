/* Usage accounting: turns a finished request into a usage row (tokens, cost
 * at the model's pricing, latency, time to first byte, gateway overhead) and
 * hands it to the writer. */
#ifndef GW_USAGE_H
#define GW_USAGE_H

struct gw_request;
struct gw_pricing;

void gw_usage_record(struct gw_request *r);
double gw_usage_cost(const struct gw_pricing *p, long long prompt, long long completion,
                     long long cached);

#endif

/* Process-wide counters for GET /metrics (Prometheus text format): requests
 * by status, tokens, cost, refusals by limit, gateway overhead, the state of
 * the usage ring and upstream worker, and each deployment's live state
 * (deployments.h). Counting is one relaxed atomic add; nothing on the
 * request path here takes a lock. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "buf.h"

struct gw_request;

/* A finished chat request (called once, with its usage final). */
void gw_metrics_request_done(const struct gw_request *r, double cost_usd);
/* A refusal by the rate-limit stage: what is "key" or "team", limit is
 * "rpm", "tpm", "tpd" or "concurrent". */
void gw_metrics_rate_limited(const char *what, const char *limit);
void gw_metrics_budget_exceeded(const char *what);
/* PII scrubbing: n values of entity type (common/pii.h) replaced. */
void gw_metrics_pii_replaced(int type, long long n);
/* The output guard stopped an answer. */
void gw_metrics_output_blocked(void);
/* Appends the exposition text. */
void gw_metrics_render(struct gw_buf *out);

#endif

/* Model access and resolution shared by the route and models stages, and
 * the retry decision the upstream side asks for (docs/routing.md). */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include "retry.h"

struct gw_request;

/* Whether the caller may use the model: its key's list and its team's list
 * both allow it (a key or team without a list allows every model). */
int gw_route_model_allowed(const struct gw_request *r, const char *model);

/* r's upstream call failed before anything reached the client, for why
 * (unreachable, timed out, broken, 429, 500, 502, 503, 504; or
 * GW_RETRY_CONTEXT_WINDOW, a 400 saying the prompt does not fit). Records
 * that attempt for its deployment (in flight and breaker) and its key, and
 * picks the next target: after a 429 from a key of a pool, that key rests
 * (keypool.h) and the same deployment is tried again at once with another
 * key; else another deployment of the same model while its attempts last
 * (those that failed for r avoided when others are healthy), then the
 * model's fallbacks in order, each with its own attempts; for the context
 * window straight to context_window_fallbacks. retry_after_ms is the
 * provider's Retry-After (-1: none); one above max_backoff_ms is not waited
 * for: another deployment or the next model now. Returns 0 with r->model,
 * r->deployment, r->provider, the x-gw-* headers set and *delay_ms the wait
 * before the call; -1 when nothing is left to try. Runs on the upstream
 * thread. */
int gw_route_retry(struct gw_request *r, enum gw_retry_reason why, long long retry_after_ms,
                   long long *delay_ms);
/* r's attempt was answered 429: when its key belongs to a pool of two or
 * more, that key rests for retry_after_ms (-1: the provider's
 * key_cooldown_s) and the attempt's outcome no longer counts against its
 * deployment's breaker (keypool.h). gw_route_retry does this itself; the
 * transfer calls it when no retry is asked for (the client left). */
void gw_route_key_limited(struct gw_request *r, long long retry_after_ms);
/* The retry's call is being made now: it gets its provider key. A retry
 * never made (the client left during the wait, the gateway stopped) ends as
 * no call at all on its deployment. */
void gw_route_retry_started(struct gw_request *r);

#endif

/* Model access and resolution shared by the route and models stages, and
 * the retry decision the upstream side asks for (docs/routing.md). */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

struct gw_request;

/* Whether the caller's key may use the model (keys without a list may use all). */
int gw_route_model_allowed(const struct gw_request *r, const char *model);

/* r's upstream call failed before anything reached the client (retryable:
 * unreachable, timed out, 429, 500, 502, 503, 504; or, context_window set, a
 * 400 saying the prompt does not fit). Records that attempt for its
 * deployment (in flight and breaker) and picks the next target: another
 * deployment of the same model while its attempts last (those that failed
 * for r avoided when others are healthy), then the model's fallbacks in
 * order, each with its own attempts; for context_window straight to
 * context_window_fallbacks. retry_after_ms is the provider's Retry-After
 * (-1: none); one above max_backoff_ms is not waited for: another deployment
 * or the next model now. Returns 0 with r->model, r->deployment,
 * r->provider, the x-gw-* headers set and *delay_ms the wait before the
 * call; -1 when nothing is left to try. Runs on the upstream thread. */
int gw_route_retry(struct gw_request *r, int context_window, long long retry_after_ms,
                   long long *delay_ms);
/* The retry's call is being made now. A retry never made (the client left
 * during the wait, the gateway stopped) ends as no call at all on its
 * deployment. */
void gw_route_retry_started(struct gw_request *r);

#endif

/* Model access and resolution shared by the route and models stages. */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

struct gw_request;

/* Whether the caller's key may use the model (keys without a list may use all). */
int gw_route_model_allowed(const struct gw_request *r, const char *model);

#endif

/* The HTTP front: libmicrohttpd intake (thread pool + epoll), routing of
 * paths to APIs, suspend/resume around upstream work, and response writing
 * (whole bodies, or streams fed chunk by chunk from r->out). */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

struct gw_config;
struct gw_request;

int gw_http_start(const struct gw_config *cfg, char *err, size_t errlen);
/* Stops accepting new connections (in-flight requests go on). */
void gw_http_quiesce(void);
/* Closes every connection and stops the threads. */
void gw_http_stop(void);
/* The port actually bound (useful when the config said 0). */
int gw_http_port(void);

/* With r->mu held: resume r's connection if it is suspended, so MHD picks up
 * a response, more stream data, the end of a stream, or a gone client. */
void gw_http_wake_locked(struct gw_request *r);

#endif

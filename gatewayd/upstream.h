/* The upstream worker: one thread driving a libcurl multi handle, on which
 * every call to a provider runs. Adapters describe a transfer (URL, headers,
 * body, timeouts, callbacks); the worker runs it with connection reuse,
 * enforces the first-byte and idle timeouts, pauses it when the client reads
 * slowly, notices clients that have gone while their request waits, and
 * runs delayed starts (retries after a backoff). */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stddef.h>

#include "config.h"

struct gw_request;
struct curl_slist;

enum gw_upstream_result {
    GW_UP_OK,
    GW_UP_REFUSED, /* could not connect / resolve */
    GW_UP_TIMEOUT, /* connect, first byte, idle or total timeout */
    GW_UP_ERROR,   /* transfer broke (connection reset, truncated body, ...) */
    GW_UP_ABORTED, /* the adapter refused the data, or the gateway is stopping */
};

/* Returned by on_data to pause the transfer (the same bytes are offered again
 * after gw_upstream_unpause). */
#define GW_UPSTREAM_PAUSE ((size_t)-1)

/* Callbacks run on the upstream thread. */
struct gw_transfer_ops {
    /* The final (non-1xx) response head. retry_after may be NULL. */
    void (*on_headers)(struct gw_request *r, long status, const char *content_type,
                       const char *retry_after);
    /* Response body bytes: returns len (consumed), GW_UPSTREAM_PAUSE, or any
     * other value to abort the transfer (GW_UP_ABORTED). */
    size_t (*on_data)(struct gw_request *r, const char *data, size_t len);
    /* The end, whatever it was. Called exactly once. */
    void (*on_done)(struct gw_request *r, enum gw_upstream_result res, const char *detail);
};

struct gw_upstream_spec {
    const char *url;
    struct curl_slist *headers; /* ownership passes to the worker */
    char *body;                 /* malloc'd; ownership passes to the worker */
    size_t body_len;
    struct gw_timeouts timeouts;
    const struct gw_transfer_ops *ops;
};

int gw_upstream_start_worker(char *err, size_t errlen);
/* Queues the transfer (takes a reference on r until on_done has run). */
int gw_upstream_submit(struct gw_request *r, struct gw_upstream_spec *spec);
/* From any thread (the upstream thread included): runs fn(r) on the
 * upstream thread once delay_ms have passed, without blocking any thread;
 * takes a reference on r until fn has run. When the worker is stopping, fn
 * runs at once (and any transfer it submits is refused). -1 once the worker
 * has been told to stop (fn will not run). */
int gw_upstream_after(struct gw_request *r, long long delay_ms, void (*fn)(struct gw_request *r));
/* From any thread: resume a transfer paused for backpressure. */
void gw_upstream_unpause(struct gw_request *r);
/* From any thread: the client left; the transfer is unpaused and read to the
 * end (so usage is complete) with its output discarded. */
void gw_upstream_client_gone(struct gw_request *r);
/* Aborts every transfer still running (GW_UP_ABORTED) and stops the thread. */
void gw_upstream_stop_worker(void);
long gw_upstream_active(void);

#endif

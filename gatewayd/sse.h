/* Incremental Server-Sent Events splitter: bytes in (any chunking), whole
 * events out, each as its raw text (to relay unchanged) and its joined
 * `data:` payload (to inspect). */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stddef.h>

#include "buf.h"

struct gw_sse {
    struct gw_buf pending; /* bytes of the event being received */
    struct gw_buf data;    /* scratch: the current event's data lines */
    size_t scanned;        /* how far pending has been searched for an end */
    size_t max_event;      /* larger events are an error (0: 4 MiB) */
};

/* Called once per complete event; raw includes the blank line that ended it.
 * Returning non-zero stops the feed and is returned by gw_sse_feed. */
typedef int (*gw_sse_event_fn)(void *ctx, const char *raw, size_t raw_len, const char *data,
                               size_t data_len);

/* Returns 0, the callback's non-zero value, or -1 if an event is too large
 * or memory runs out. */
int gw_sse_feed(struct gw_sse *s, const char *p, size_t n, gw_sse_event_fn fn, void *ctx);
void gw_sse_free(struct gw_sse *s);

#endif

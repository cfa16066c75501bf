/* Incremental decoder (and a small encoder) for AWS's binary event stream,
 * application/vnd.amazon.eventstream, as Bedrock's ConverseStream and
 * InvokeModelWithResponseStream answer: bytes in (any chunking), whole
 * CRC-checked messages out, at most one message buffered. */
#ifndef GW_EVENTSTREAM_H
#define GW_EVENTSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define GW_EVS_DEFAULT_MAX ((size_t)16 << 20)
#define GW_EVS_PRELUDE_LEN 12 /* total length, headers length, prelude CRC */
#define GW_EVS_MIN_LEN     16 /* prelude + message CRC */

/* One decoded message; every pointer is valid only during the callback. The
 * four named headers are NUL-terminated copies of their string values (NULL
 * when absent or not a string; the first occurrence wins). */
struct gw_evs_message {
    const char *message_type;     /* ":message-type": "event", "exception", "error" */
    const char *event_type;       /* ":event-type", e.g. "contentBlockDelta" */
    const char *exception_type;   /* ":exception-type", e.g. "throttlingException" */
    const char *content_type;     /* ":content-type", e.g. "application/json" */
    const unsigned char *headers; /* the raw header block, checked */
    size_t headers_len;
    const unsigned char *payload;
    size_t payload_len;
    size_t total_len; /* of the whole message on the wire */
};

/* Returning non-zero stops the feed: gw_evs_feed returns that value, the
 * rest of the bytes are dropped, and the decoder is failed ("stopped"). */
typedef int (*gw_evs_message_fn)(void *ctx, const struct gw_evs_message *m);

struct gw_evs {
    struct gw_buf pending; /* the message being received (at most one) */
    struct gw_buf strings; /* scratch: the named headers' NUL-terminated values */
    size_t max_message;    /* larger messages are an error */
    size_t need;           /* bytes pending must reach: the prelude, then the message */
    uint64_t offset;       /* stream offset of the message being received */
    int failed;
    char error[96]; /* "" until failed */
};

/* max_message 0: GW_EVS_DEFAULT_MAX (16 MiB). */
void gw_evs_init(struct gw_evs *d, size_t max_message);
/* Decodes p[0..n), calling fn once per complete message, in order. Returns 0
 * (a partial message stays buffered), the callback's non-zero value, or -1
 * on bad input (CRC mismatch, a length out of bounds, a header running past
 * its block, an unknown value type, a message over max_message) or when
 * memory runs out. After any non-zero return the decoder is failed: every
 * later feed returns -1 without reading, and gw_evs_error says why. */
int gw_evs_feed(struct gw_evs *d, const void *p, size_t n, gw_evs_message_fn fn, void *ctx);
/* "" while the decoder is healthy, else a short description with the stream
 * offset of the message at fault. */
const char *gw_evs_error(const struct gw_evs *d);
/* Bytes of a message received but not yet complete (0 at a clean end). */
size_t gw_evs_pending(const struct gw_evs *d);
void gw_evs_free(struct gw_evs *d);

/* Appends one message to out with string headers ":message-type",
 * ":event-type" (":exception-type" when message_type is "exception") and
 * ":content-type", each left out when NULL. Returns 0, or -1 when a value is
 * over 65535 bytes, the message over 4 GiB, or memory runs out. */
int gw_evs_encode(struct gw_buf *out, const char *message_type, const char *event_type,
                  const char *content_type, const void *payload, size_t n);

/* The IEEE 802.3 CRC-32 (as zlib's crc32): start with crc = 0. */
uint32_t gw_evs_crc32(uint32_t crc, const void *p, size_t n);

#endif

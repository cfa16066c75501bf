/* libFuzzer target for common/eventstream.c. Input: one byte N, then N % 8 + 1
 * piece sizes, then the stream. The stream is fed whole, then in pieces of
 * those sizes (cycled, 0 meaning an empty feed), then in pieces to a decoder
 * whose limit is N + 16. Checks: each message reported is the next bytes of
 * the stream (its headers and payload are exactly the stream's bytes after
 * its prelude, within what was fed so far) and its named headers are
 * NUL-terminated strings; every chunking gives the same messages, the same
 * result and the same error; a failed decoder stays failed and says why; a
 * healthy one holds exactly the bytes after the last message, never more
 * than one message's worth; with a limit, no message over it is reported. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "eventstream.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

struct seen {
    const unsigned char *stream;
    size_t fed;        /* bytes fed so far */
    size_t at;         /* stream offset of the next message */
    struct gw_buf log; /* per message: total length and the named headers */
    size_t max;        /* the decoder's limit */
};

static void log_str(struct gw_buf *b, const char *s)
{
    CHECK(gw_buf_append(b, s ? "s" : "n", 1) == 0);
    if (s)
        CHECK(gw_buf_append(b, s, strlen(s) + 1) == 0);
}

static int on_message(void *ctx, const struct gw_evs_message *m)
{
    struct seen *s = ctx;
    CHECK(m->total_len >= GW_EVS_MIN_LEN && m->total_len <= s->max);
    CHECK(m->total_len == GW_EVS_MIN_LEN + m->headers_len + m->payload_len);
    CHECK(s->at + m->total_len <= s->fed);
    const unsigned char *msg = s->stream + s->at;
    CHECK(m->headers_len == 0 || memcmp(m->headers, msg + GW_EVS_PRELUDE_LEN, m->headers_len) == 0);
    CHECK(m->payload_len == 0 ||
          memcmp(m->payload, msg + GW_EVS_PRELUDE_LEN + m->headers_len, m->payload_len) == 0);
    CHECK(gw_buf_append(&s->log, &m->total_len, sizeof m->total_len) == 0);
    log_str(&s->log, m->message_type);
    log_str(&s->log, m->event_type);
    log_str(&s->log, m->exception_type);
    log_str(&s->log, m->content_type);
    s->at += m->total_len;
    return 0;
}

/* Feeds the stream in pieces of the given sizes; returns the first non-zero
 * result (or 0). */
static int feed_pieces(struct gw_evs *d, struct seen *s, const uint8_t *sizes, size_t nsizes,
                       size_t len)
{
    size_t k = 0, empties = 0;
    while (s->fed < len) {
        size_t piece = sizes[k++ % nsizes];
        if (piece == 0 && ++empties > nsizes)
            piece = 1;
        if (piece)
            empties = 0;
        if (piece > len - s->fed)
            piece = len - s->fed;
        const unsigned char *p = s->stream + s->fed;
        s->fed += piece;
        int rc = gw_evs_feed(d, p, piece, on_message, s);
        if (rc != 0)
            return rc;
        /* healthy: exactly the bytes after the last message are pending */
        CHECK(gw_evs_pending(d) == s->fed - s->at);
        CHECK(gw_evs_pending(d) < s->max);
    }
    return 0;
}

static void check_end(struct gw_evs *d, struct seen *s, int rc)
{
    if (rc == 0) {
        CHECK(gw_evs_error(d)[0] == '\0');
        CHECK(gw_evs_pending(d) == s->fed - s->at);
    } else {
        CHECK(rc == -1);
        CHECK(gw_evs_error(d)[0] != '\0');
        size_t before = s->log.len;
        CHECK(gw_evs_feed(d, s->stream, s->fed, on_message, s) == -1);
        CHECK(s->log.len == before);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t nsizes = data[0] % 8 + 1;
    if (size < 1 + nsizes)
        return 0;
    const uint8_t *sizes = data + 1;
    size_t len = size - 1 - nsizes;
    /* an exact-size copy so that reads past the end are caught */
    unsigned char *stream = malloc(len ? len : 1);
    if (!stream)
        return 0;
    memcpy(stream, data + 1 + nsizes, len);

    struct gw_evs whole, pieces, limited;
    struct seen a = {.stream = stream, .max = GW_EVS_DEFAULT_MAX};
    struct seen b = a, c = {.stream = stream, .max = (size_t)data[0] + 16};
    gw_evs_init(&whole, 0);
    gw_evs_init(&pieces, 0);
    gw_evs_init(&limited, c.max);

    a.fed = len;
    int rc_whole = gw_evs_feed(&whole, stream, len, on_message, &a);
    check_end(&whole, &a, rc_whole);

    int rc_pieces = feed_pieces(&pieces, &b, sizes, nsizes, len);
    check_end(&pieces, &b, rc_pieces);
    CHECK(rc_pieces == rc_whole);
    CHECK(b.log.len == a.log.len &&
          (a.log.len == 0 || memcmp(a.log.data, b.log.data, a.log.len) == 0));
    CHECK(strcmp(gw_evs_error(&whole), gw_evs_error(&pieces)) == 0);

    /* a small limit: the same messages up to the first one over it */
    int rc_limited = feed_pieces(&limited, &c, sizes, nsizes, len);
    check_end(&limited, &c, rc_limited);
    CHECK(c.log.len <= a.log.len &&
          (c.log.len == 0 || memcmp(a.log.data, c.log.data, c.log.len) == 0));

    gw_evs_free(&whole);
    gw_evs_free(&pieces);
    gw_evs_free(&limited);
    gw_buf_free(&a.log);
    gw_buf_free(&b.log);
    gw_buf_free(&c.log);
    free(stream);
    return 0;
}

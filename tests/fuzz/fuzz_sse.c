/* libFuzzer target for gatewayd/sse.c. Input: one byte N, then N % 8 + 1
 * piece sizes, then the stream. The stream is fed whole, then in pieces of
 * those sizes (cycled, 0 meaning an empty feed), then in pieces with a
 * callback that stops the feed every third event, then with a small
 * max_event. Checks: every chunking gives the same events; the raw texts of
 * the events followed by what is still pending are the stream itself; each
 * raw ends with a blank line; with a limit, a successful feed never leaves
 * more than max_event bytes pending. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

struct seen {
    struct gw_buf raw;    /* all raw texts, concatenated */
    struct gw_buf events; /* per event: raw length, data length, data */
    int n, stop_every, stop_rc;
};

static int on_event(void *ctx, const char *raw, size_t raw_len, const char *data, size_t data_len)
{
    struct seen *s = ctx;
    CHECK(raw_len >= 2 && raw[raw_len - 1] == '\n');
    CHECK(raw[raw_len - 2] == '\n' ||
          (raw_len >= 3 && raw[raw_len - 2] == '\r' && raw[raw_len - 3] == '\n'));
    CHECK(data != NULL && data_len <= raw_len);
    CHECK(gw_buf_append(&s->raw, raw, raw_len) == 0);
    CHECK(gw_buf_append(&s->events, &raw_len, sizeof raw_len) == 0);
    CHECK(gw_buf_append(&s->events, &data_len, sizeof data_len) == 0);
    CHECK(gw_buf_append(&s->events, data, data_len) == 0);
    s->n++;
    if (s->stop_every && s->n % s->stop_every == 0)
        return s->stop_rc;
    return 0;
}

static void seen_free(struct seen *s)
{
    gw_buf_free(&s->raw);
    gw_buf_free(&s->events);
}

static int same(const struct seen *a, const struct seen *b)
{
    return a->n == b->n && a->events.len == b->events.len &&
           (a->events.len == 0 || memcmp(a->events.data, b->events.data, a->events.len) == 0);
}

/* Feeds stream in pieces; returns the first non-zero, non-stop result (or 0). */
static int feed_pieces(struct gw_sse *p, struct seen *s, const uint8_t *sizes, size_t nsizes,
                       const char *stream, size_t len)
{
    size_t at = 0, k = 0, empties = 0;
    while (at < len) {
        size_t piece = sizes[k++ % nsizes];
        if (piece == 0 && ++empties > nsizes)
            piece = 1;
        if (piece)
            empties = 0;
        if (piece > len - at)
            piece = len - at;
        int rc = gw_sse_feed(p, stream + at, piece, on_event, s);
        at += piece;
        if (rc != 0 && !(s->stop_every && rc == s->stop_rc))
            return rc;
    }
    /* a stopped feed leaves complete events pending: drain them */
    for (int rc = s->stop_rc; s->stop_every && rc == s->stop_rc;)
        rc = gw_sse_feed(p, "", 0, on_event, s);
    return 0;
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
    char *stream = malloc(len ? len : 1);
    if (!stream)
        return 0;
    memcpy(stream, data + 1 + nsizes, len);

    struct gw_sse whole = {0}, pieces = {0}, stopping = {0}, limited = {0};
    struct seen a = {0}, b = {0}, c = {.stop_every = 3, .stop_rc = 5}, d = {0};

    /* whole: inputs are far below the 4 MiB default limit */
    CHECK(gw_sse_feed(&whole, stream, len, on_event, &a) == 0);
    CHECK(a.raw.len + whole.pending.len == len);
    CHECK(a.raw.len == 0 || memcmp(a.raw.data, stream, a.raw.len) == 0);

    CHECK(feed_pieces(&pieces, &b, sizes, nsizes, stream, len) == 0);
    CHECK(same(&a, &b));
    CHECK(pieces.pending.len == whole.pending.len);
    CHECK(b.raw.len + pieces.pending.len == len);
    CHECK(pieces.pending.len == 0 ||
          memcmp(pieces.pending.data, stream + b.raw.len, pieces.pending.len) == 0);

    CHECK(feed_pieces(&stopping, &c, sizes, nsizes, stream, len) == 0);
    CHECK(same(&a, &c));

    /* a small limit: either an error, or never more than the limit pending */
    limited.max_event = (size_t)data[0] + 1;
    size_t at = 0, k = 0;
    while (at < len) {
        size_t piece = sizes[k++ % nsizes] | 1;
        if (piece > len - at)
            piece = len - at;
        int rc = gw_sse_feed(&limited, stream + at, piece, on_event, &d);
        at += piece;
        if (rc != 0) {
            CHECK(rc == -1);
            break;
        }
        CHECK(limited.pending.len <= limited.max_event);
    }

    gw_sse_free(&whole);
    gw_sse_free(&pieces);
    gw_sse_free(&stopping);
    gw_sse_free(&limited);
    seen_free(&a);
    seen_free(&b);
    seen_free(&c);
    seen_free(&d);
    free(stream);
    return 0;
}

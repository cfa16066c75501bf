/* AWS event stream framing (application/vnd.amazon.eventstream). A message:
 *
 *   total length u32 | headers length u32 | prelude CRC u32 (of the first 8)
 *   headers | payload | message CRC u32 (of everything before it)
 *
 * all big-endian, CRC-32 as zlib's. A header: name length u8, name, value
 * type u8, value: 0 true, 1 false (no bytes), 2 byte (1), 3 short (2), 4 int
 * (4), 5 long (8), 6 bytes and 7 string (u16 length, then that many), 8
 * timestamp (8), 9 uuid (16).
 *
 * DESIGN: a message whole in the caller's bytes is decoded in place; only a
 * message split across feeds is copied into `pending`, which therefore never
 * holds more than one message (bounded by max_message). The prelude is
 * checked as soon as its 12 bytes are in, so a bad length fails before any
 * buffering. */
#include "eventstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

uint32_t gw_evs_crc32(uint32_t crc, const void *p, size_t n)
{
    /* the reflected polynomial 0xEDB88320, four bits at a time */
    static const uint32_t t[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    const unsigned char *b = p;
    crc = ~crc;
    while (n--) {
        crc ^= *b++;
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return ~crc;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void gw_evs_init(struct gw_evs *d, size_t max_message)
{
    memset(d, 0, sizeof *d);
    d->max_message = max_message ? max_message : GW_EVS_DEFAULT_MAX;
}

__attribute__((format(printf, 2, 3))) static int fail(struct gw_evs *d, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(d->error, sizeof d->error,
                     "message at byte %llu: ", (unsigned long long)d->offset);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof d->error)
        vsnprintf(d->error + n, sizeof d->error - (size_t)n, fmt, ap);
    va_end(ap);
    d->failed = 1;
    return -1;
}

/* Checks a prelude; sets *total. */
static int prelude(struct gw_evs *d, const unsigned char *p, size_t *total)
{
    uint32_t len = be32(p), hlen = be32(p + 4);
    if (gw_evs_crc32(0, p, 8) != be32(p + 8))
        return fail(d, "prelude CRC mismatch");
    if (len < GW_EVS_MIN_LEN)
        return fail(d, "total length %u below %d", len, GW_EVS_MIN_LEN);
    if (len > d->max_message)
        return fail(d, "total length %u over the limit of %zu", len, d->max_message);
    if (hlen > len - GW_EVS_MIN_LEN)
        return fail(d, "headers length %u past the message", hlen);
    *total = len;
    return 0;
}

static const char *const named[] = {":message-type", ":event-type", ":exception-type",
                                    ":content-type"};

/* Checks and decodes the message at msg (its prelude already checked), then
 * hands it to fn. */
static int deliver(struct gw_evs *d, const unsigned char *msg, size_t total, gw_evs_message_fn fn,
                   void *ctx)
{
    static const unsigned char fixed[10] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
    size_t hlen = be32(msg + 4), found[4] = {0}; /* offset + 1 into strings */
    const unsigned char *p = msg + GW_EVS_PRELUDE_LEN, *end = p + hlen;

    if (gw_evs_crc32(0, msg, total - 4) != be32(msg + total - 4))
        return fail(d, "message CRC mismatch");
    gw_buf_reset(&d->strings);
    while (p < end) {
        size_t name_len = *p++, value_len;
        if ((size_t)(end - p) < name_len + 1)
            return fail(d, "header name runs past the header block");
        const unsigned char *name = p;
        unsigned type = p[name_len];
        p += name_len + 1;
        if (type > 9)
            return fail(d, "unknown header value type %u", type);
        if (type == 6 || type == 7) {
            if (end - p < 2)
                return fail(d, "header value runs past the header block");
            value_len = (size_t)p[0] << 8 | p[1];
            p += 2;
        } else {
            value_len = fixed[type];
        }
        if ((size_t)(end - p) < value_len)
            return fail(d, "header value runs past the header block");
        for (int i = 0; type == 7 && i < 4; i++) {
            if (found[i] || strlen(named[i]) != name_len || memcmp(named[i], name, name_len) != 0)
                continue;
            found[i] = d->strings.len + 1;
            if (gw_buf_append(&d->strings, p, value_len) != 0 ||
                gw_buf_append(&d->strings, "", 1) != 0)
                return fail(d, "out of memory");
        }
        p += value_len;
    }
    const char *s[4];
    for (int i = 0; i < 4; i++)
        s[i] = found[i] ? d->strings.data + found[i] - 1 : NULL;
    struct gw_evs_message m = {
        .message_type = s[0],
        .event_type = s[1],
        .exception_type = s[2],
        .content_type = s[3],
        .headers = msg + GW_EVS_PRELUDE_LEN,
        .headers_len = hlen,
        .payload = end,
        .payload_len = total - GW_EVS_MIN_LEN - hlen,
        .total_len = total,
    };
    int rc = fn(ctx, &m);
    if (rc != 0) {
        fail(d, "stopped by the callback");
        return rc;
    }
    d->offset += total;
    return 0;
}

int gw_evs_feed(struct gw_evs *d, const void *p, size_t n, gw_evs_message_fn fn, void *ctx)
{
    const unsigned char *in = p;
    if (d->failed)
        return -1;
    while (n > 0) {
        /* nothing buffered: decode a whole message in place, or learn its
         * length before buffering it */
        if (d->pending.len == 0 && n >= GW_EVS_PRELUDE_LEN) {
            size_t total;
            if (prelude(d, in, &total) != 0)
                return -1;
            if (n >= total) {
                int rc = deliver(d, in, total, fn, ctx);
                if (rc != 0)
                    return rc;
                in += total;
                n -= total;
                continue;
            }
            d->need = total;
        }
        size_t want = d->need ? d->need : GW_EVS_PRELUDE_LEN;
        size_t take = want - d->pending.len < n ? want - d->pending.len : n;
        if (gw_buf_append(&d->pending, in, take) != 0)
            return fail(d, "out of memory");
        in += take;
        n -= take;
        if (d->pending.len < want)
            break;
        const unsigned char *msg = (const unsigned char *)d->pending.data;
        if (!d->need) {
            if (prelude(d, msg, &d->need) != 0)
                return -1;
            continue;
        }
        int rc = deliver(d, msg, d->need, fn, ctx);
        gw_buf_reset(&d->pending);
        d->need = 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

const char *gw_evs_error(const struct gw_evs *d)
{
    return d->error;
}

size_t gw_evs_pending(const struct gw_evs *d)
{
    return d->pending.len;
}

void gw_evs_free(struct gw_evs *d)
{
    gw_buf_free(&d->pending);
    gw_buf_free(&d->strings);
}

static int put_header(struct gw_buf *b, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    unsigned char len = (unsigned char)name_len,
                  v[3] = {7, (unsigned char)(value_len >> 8), (unsigned char)value_len};
    if (name_len > 255 || value_len > 65535)
        return -1;
    return gw_buf_append(b, &len, 1) != 0 || gw_buf_append(b, name, name_len) != 0 ||
                   gw_buf_append(b, v, 3) != 0 || gw_buf_append(b, value, value_len) != 0
               ? -1
               : 0;
}

int gw_evs_encode(struct gw_buf *out, const char *message_type, const char *event_type,
                  const char *content_type, const void *payload, size_t n)
{
    size_t start = out->len;
    int exception = message_type && strcmp(message_type, "exception") == 0;
    unsigned char crc[4];
    if ((n && !payload) || gw_buf_append(out, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) != 0 ||
        (message_type && put_header(out, ":message-type", message_type) != 0) ||
        (event_type &&
         put_header(out, exception ? ":exception-type" : ":event-type", event_type) != 0) ||
        (content_type && put_header(out, ":content-type", content_type) != 0))
        goto undo;
    size_t hlen = out->len - start - GW_EVS_PRELUDE_LEN;
    if (n > UINT32_MAX - GW_EVS_MIN_LEN - hlen || gw_buf_append(out, payload, n) != 0)
        goto undo;
    unsigned char *msg = (unsigned char *)out->data + start;
    put_be32(msg, (uint32_t)(out->len - start + 4));
    put_be32(msg + 4, (uint32_t)hlen);
    put_be32(msg + 8, gw_evs_crc32(0, msg, 8));
    put_be32(crc, gw_evs_crc32(0, msg, out->len - start));
    if (gw_buf_append(out, crc, 4) != 0)
        goto undo;
    return 0;
undo:
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return -1;
}

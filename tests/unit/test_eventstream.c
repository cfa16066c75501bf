/* Unit tests of common/eventstream.c: the CRC-32 check value; AWS's event
 * stream test vectors (aws-sdk-js-v3 eventstream-marshaller: empty message,
 * int32 header, payload without headers, one string header, and the four
 * corrupted ones); a hand-built frame with every header value type; encoder
 * round trips, whole, one byte at a time and at every 2-way split; two
 * messages in one feed; exceptions; every error (CRCs, lengths, headers
 * running past their block, unknown value type, the size limit), seen once,
 * with the decoder failed afterwards; a callback that stops the feed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventstream.h"

#define MAX_MSGS 8

struct msg {
    char *message_type, *event_type, *exception_type, *content_type;
    unsigned char *payload;
    size_t payload_len, headers_len, total_len;
};

struct collector {
    struct msg m[MAX_MSGS];
    int n;
    int stop_at, stop_rc; /* return stop_rc for message number stop_at (1-based) */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int collect(void *ctx, const struct gw_evs_message *m)
{
    struct collector *c = ctx;
    if (c->n >= MAX_MSGS)
        fail_msg("more than %d messages", MAX_MSGS);
    struct msg *d = &c->m[c->n++];
    assert_int_equal(m->total_len, GW_EVS_MIN_LEN + m->headers_len + m->payload_len);
    d->message_type = dup_or_null(m->message_type);
    d->event_type = dup_or_null(m->event_type);
    d->exception_type = dup_or_null(m->exception_type);
    d->content_type = dup_or_null(m->content_type);
    d->payload = malloc(m->payload_len + 1);
    assert_non_null(d->payload);
    if (m->payload_len)
        memcpy(d->payload, m->payload, m->payload_len);
    d->payload_len = m->payload_len;
    d->headers_len = m->headers_len;
    d->total_len = m->total_len;
    return c->stop_at && c->n == c->stop_at ? c->stop_rc : 0;
}

static void collector_free(struct collector *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->m[i].message_type);
        free(c->m[i].event_type);
        free(c->m[i].exception_type);
        free(c->m[i].content_type);
        free(c->m[i].payload);
    }
    c->n = 0;
}

static void assert_str_or_null(const char *got, const char *want)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(got, want);
}

static void assert_msg(const struct msg *m, const char *mt, const char *et, const char *xt,
                       const char *ct, const void *payload, size_t n)
{
    assert_str_or_null(m->message_type, mt);
    assert_str_or_null(m->event_type, et);
    assert_str_or_null(m->exception_type, xt);
    assert_str_or_null(m->content_type, ct);
    assert_int_equal(m->payload_len, n);
    if (n)
        assert_memory_equal(m->payload, payload, n);
}

/* Feeds p whole into a fresh decoder (max 0: the default); returns the rc. */
static int decode(struct collector *c, const void *p, size_t n, size_t max, char *err, size_t errsz)
{
    struct gw_evs d;
    gw_evs_init(&d, max);
    int rc = gw_evs_feed(&d, p, n, collect, c);
    if (err)
        snprintf(err, errsz, "%s", gw_evs_error(&d));
    gw_evs_free(&d);
    return rc;
}

static void test_crc32(void **state)
{
    assert_int_equal(gw_evs_crc32(0, "123456789", 9), 0xcbf43926);
    assert_int_equal(gw_evs_crc32(0, "", 0), 0);
    /* incremental */
    assert_int_equal(gw_evs_crc32(gw_evs_crc32(0, "1234", 4), "56789", 5), 0xcbf43926);
}

/* AWS's vectors: the bytes and what they decode to. */
static const unsigned char v_empty[] = {0, 0,   0,  16,  0,   0,   0,   0,
                                        5, 194, 72, 235, 125, 152, 200, 255};
static const unsigned char v_int32[] = {0,  0,   0,   45,  0,   0,   0,   16,  65,  196, 36,  184,
                                        10, 101, 118, 101, 110, 116, 45,  116, 121, 112, 101, 4,
                                        0,  0,   160, 12,  123, 39,  102, 111, 111, 39,  58,  39,
                                        98, 97,  114, 39,  125, 54,  244, 128, 160};
static const unsigned char v_no_headers[] = {0,   0,  0,   29, 0,   0,   0,   0,  253, 82,
                                             140, 90, 123, 39, 102, 111, 111, 39, 58,  39,
                                             98,  97, 114, 39, 125, 195, 101, 57, 54};
static const unsigned char v_one_str[] = {
    0,   0,   0,   61,  0,   0,   0,   32,  7,   253, 131, 150, 12,  99,  111, 110,
    116, 101, 110, 116, 45,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
    105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
    111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177};
static const char foo_bar[] = "{'foo':'bar'}";

static void test_aws_vectors(void **state)
{
    struct collector c = {0};
    assert_int_equal(decode(&c, v_empty, sizeof v_empty, 0, NULL, 0), 0);
    assert_int_equal(c.n, 1);
    assert_msg(&c.m[0], NULL, NULL, NULL, NULL, "", 0);
    collector_free(&c);

    assert_int_equal(decode(&c, v_int32, sizeof v_int32, 0, NULL, 0), 0);
    assert_int_equal(c.n, 1);
    assert_msg(&c.m[0], NULL, NULL, NULL, NULL, foo_bar, 13); /* "event-type" is an int32 */
    assert_int_equal(c.m[0].headers_len, 16);
    collector_free(&c);

    assert_int_equal(decode(&c, v_no_headers, sizeof v_no_headers, 0, NULL, 0), 0);
    assert_int_equal(c.n, 1);
    assert_msg(&c.m[0], NULL, NULL, NULL, NULL, foo_bar, 13);
    collector_free(&c);

    /* its string header is "content-type", not ":content-type" */
    assert_int_equal(decode(&c, v_one_str, sizeof v_one_str, 0, NULL, 0), 0);
    assert_int_equal(c.n, 1);
    assert_msg(&c.m[0], NULL, NULL, NULL, NULL, foo_bar, 13);
    assert_int_equal(c.m[0].headers_len, 32);
    collector_free(&c);
}

static void test_aws_corrupted_vectors(void **state)
{
    unsigned char b[sizeof v_one_str];
    struct collector c = {0};
    char err[128];

    memcpy(b, v_one_str, sizeof b);
    b[20] = '+'; /* corrupted_headers: a header byte */
    assert_int_equal(decode(&c, b, sizeof b, 0, err, sizeof err), -1);
    assert_string_equal(err, "message at byte 0: message CRC mismatch");

    memcpy(b, v_one_str, sizeof b);
    b[6] = 1; /* corrupted_header_len */
    assert_int_equal(decode(&c, b, sizeof b, 0, err, sizeof err), -1);
    assert_string_equal(err, "message at byte 0: prelude CRC mismatch");

    unsigned char p[sizeof v_no_headers];
    memcpy(p, v_no_headers, sizeof p);
    p[0] = 1; /* corrupted_length */
    assert_int_equal(decode(&c, p, sizeof p, 0, err, sizeof err), -1);
    assert_string_equal(err, "message at byte 0: prelude CRC mismatch");

    memcpy(p, v_no_headers, sizeof p);
    p[24] = 141; /* corrupted_payload */
    assert_int_equal(decode(&c, p, sizeof p, 0, err, sizeof err), -1);
    assert_string_equal(err, "message at byte 0: message CRC mismatch");
    assert_int_equal(c.n, 0);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void fix_prelude_crc(unsigned char *p)
{
    put_be32(p + 8, gw_evs_crc32(0, p, 8));
}

/* Builds a frame from a header block and a payload, with correct CRCs
 * (hlen_override: a headers length to claim instead of the real one). */
static size_t frame(unsigned char *out, const void *headers, size_t hlen, const void *payload,
                    size_t n, long hlen_override)
{
    size_t total = GW_EVS_MIN_LEN + hlen + n;
    put_be32(out, (uint32_t)total);
    put_be32(out + 4, hlen_override >= 0 ? (uint32_t)hlen_override : (uint32_t)hlen);
    fix_prelude_crc(out);
    memcpy(out + 12, headers, hlen);
    memcpy(out + 12 + hlen, payload, n);
    put_be32(out + total - 4, gw_evs_crc32(0, out, total - 4));
    return total;
}

/* Every value type, with the named string headers among them. */
/* clang-format off */
static const unsigned char all_types[] = {
    4, 't', 'r', 'u', 'e', 0,                                   /* bool true */
    5, 'f', 'a', 'l', 's', 'e', 1,                              /* bool false */
    1, 'b', 2, 0xff,                                            /* byte */
    1, 's', 3, 0x7f, 0xff,                                      /* short */
    1, 'i', 4, 0, 0, 0xa0, 0x0c,                                /* int */
    11, ':', 'e', 'v', 'e', 'n', 't', '-', 't', 'y', 'p', 'e',  /* a long: not a string, */
    5, 1, 2, 3, 4, 5, 6, 7, 8,                                  /* so not the event type */
    1, 'y', 6, 0, 3, 1, 2, 3,                                   /* bytes */
    13, ':', 'm', 'e', 's', 's', 'a', 'g', 'e', '-', 't', 'y', 'p', 'e',
    7, 0, 5, 'e', 'v', 'e', 'n', 't',                           /* string */
    11, ':', 'e', 'v', 'e', 'n', 't', '-', 't', 'y', 'p', 'e',
    7, 0, 17, 'c', 'o', 'n', 't', 'e', 'n', 't', 'B', 'l', 'o', 'c', 'k', 'D', 'e', 'l', 't', 'a',
    11, ':', 'e', 'v', 'e', 'n', 't', '-', 't', 'y', 'p', 'e',
    7, 0, 1, 'x',                                               /* repeated: ignored */
    1, 't', 8, 0, 0, 1, 0x8f, 0x2c, 0x5d, 0x1e, 0x00,           /* timestamp */
    1, 'u', 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* uuid */
    0, 7, 0, 0,                                                 /* empty name, empty string */
};
/* clang-format on */

static void test_all_value_types(void **state)
{
    unsigned char buf[512];
    size_t n = frame(buf, all_types, sizeof all_types, "{}", 2, -1);
    struct collector c = {0};
    assert_int_equal(decode(&c, buf, n, 0, NULL, 0), 0);
    assert_int_equal(c.n, 1);
    assert_msg(&c.m[0], "event", "contentBlockDelta", NULL, NULL, "{}", 2);
    assert_int_equal(c.m[0].headers_len, sizeof all_types);
    collector_free(&c);
}

/* Encodes a typical ConverseStream sequence into b. */
static void encode_stream(struct gw_buf *b)
{
    static const char *const payload[] = {
        "{\"role\":\"assistant\"}",
        "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"}}",
        "{\"stopReason\":\"end_turn\"}",
    };
    static const char *const type[] = {"messageStart", "contentBlockDelta", "messageStop"};
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            gw_evs_encode(b, "event", type[i], "application/json", payload[i], strlen(payload[i])),
            0);
}

static void assert_stream(const struct collector *c)
{
    assert_int_equal(c->n, 3);
    assert_msg(&c->m[0], "event", "messageStart", NULL, "application/json",
               "{\"role\":\"assistant\"}", 20);
    assert_msg(&c->m[1], "event", "contentBlockDelta", NULL, "application/json",
               "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"}}", 48);
    assert_msg(&c->m[2], "event", "messageStop", NULL, "application/json",
               "{\"stopReason\":\"end_turn\"}", 25);
}

static void test_round_trip_chunkings(void **state)
{
    struct gw_buf b = {0};
    encode_stream(&b);
    struct collector c = {0};

    /* whole: three messages in one feed */
    assert_int_equal(decode(&c, b.data, b.len, 0, NULL, 0), 0);
    assert_stream(&c);
    size_t biggest = 0;
    for (int i = 0; i < c.n; i++)
        biggest = c.m[i].total_len > biggest ? c.m[i].total_len : biggest;
    collector_free(&c);

    /* one byte at a time: never more than one message pending */
    struct gw_evs d;
    gw_evs_init(&d, 0);
    for (size_t i = 0; i < b.len; i++) {
        assert_int_equal(gw_evs_feed(&d, b.data + i, 1, collect, &c), 0);
        assert_true(gw_evs_pending(&d) < biggest);
    }
    assert_int_equal(gw_evs_pending(&d), 0);
    assert_string_equal(gw_evs_error(&d), "");
    assert_stream(&c);
    collector_free(&c);
    gw_evs_free(&d);

    /* every 2-way split, with an empty feed in between */
    for (size_t cut = 0; cut <= b.len; cut++) {
        gw_evs_init(&d, 0);
        assert_int_equal(gw_evs_feed(&d, b.data, cut, collect, &c), 0);
        assert_int_equal(gw_evs_feed(&d, "", 0, collect, &c), 0);
        assert_int_equal(gw_evs_feed(&d, b.data + cut, b.len - cut, collect, &c), 0);
        assert_int_equal(gw_evs_pending(&d), 0);
        assert_stream(&c);
        collector_free(&c);
        gw_evs_free(&d);
    }
    gw_buf_free(&b);
}

static void test_split_message_and_pending(void **state)
{
    struct gw_buf b = {0};
    assert_int_equal(gw_evs_encode(&b, "event", "metadata", NULL, "{\"usage\":{}}", 12), 0);
    struct gw_evs d;
    struct collector c = {0};
    gw_evs_init(&d, 0);
    /* the prelude and a bit, then the rest plus half of a second message */
    assert_int_equal(gw_evs_feed(&d, b.data, 14, collect, &c), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(gw_evs_pending(&d), 14);
    size_t one = b.len;
    assert_int_equal(gw_evs_encode(&b, "event", "messageStop", NULL, "{}", 2), 0);
    assert_int_equal(gw_evs_feed(&d, b.data + 14, one - 14 + 5, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_msg(&c.m[0], "event", "metadata", NULL, NULL, "{\"usage\":{}}", 12);
    assert_int_equal(c.m[0].total_len, one);
    assert_int_equal(gw_evs_pending(&d), 5);
    assert_int_equal(gw_evs_feed(&d, b.data + one + 5, b.len - one - 5, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_msg(&c.m[1], "event", "messageStop", NULL, NULL, "{}", 2);
    assert_int_equal(gw_evs_pending(&d), 0);
    collector_free(&c);
    gw_evs_free(&d);
    gw_buf_free(&b);
}

static void test_exception_and_encoder(void **state)
{
    struct gw_buf b = {0};
    const char *body = "{\"message\":\"Too many requests\"}";
    assert_int_equal(gw_evs_encode(&b, "exception", "throttlingException", "application/json", body,
                                   strlen(body)),
                     0);
    assert_int_equal(gw_evs_encode(&b, NULL, NULL, NULL, NULL, 0), 0);
    /* the header-less empty message is AWS's empty_message vector */
    assert_memory_equal(b.data + b.len - 16, v_empty, 16);
    struct collector c = {0};
    assert_int_equal(decode(&c, b.data, b.len, 0, NULL, 0), 0);
    assert_int_equal(c.n, 2);
    assert_msg(&c.m[0], "exception", NULL, "throttlingException", "application/json", body,
               strlen(body));
    assert_msg(&c.m[1], NULL, NULL, NULL, NULL, "", 0);
    collector_free(&c);

    /* a value over 65535 bytes: refused, out unchanged */
    size_t before = b.len;
    char *big = malloc(70000);
    assert_non_null(big);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    assert_int_equal(gw_evs_encode(&b, "event", big, NULL, "x", 1), -1);
    assert_int_equal(b.len, before);
    assert_int_equal(gw_evs_encode(&b, "event", "e", NULL, NULL, 1), -1); /* n without payload */
    assert_int_equal(b.len, before);
    free(big);
    gw_buf_free(&b);
}

/* Decodes p whole and byte by byte: both must fail with want (after the
 * messages before the bad one), and later feeds must fail without reading. */
static void assert_fails(const void *p, size_t n, size_t max, int messages_before, const char *want)
{
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct gw_evs d;
        struct collector c = {0};
        int rc = 0;
        gw_evs_init(&d, max);
        if (bytewise) {
            for (size_t i = 0; i < n && rc == 0; i++)
                rc = gw_evs_feed(&d, (const char *)p + i, 1, collect, &c);
        } else {
            rc = gw_evs_feed(&d, p, n, collect, &c);
        }
        assert_int_equal(rc, -1);
        assert_int_equal(c.n, messages_before);
        if (strcmp(gw_evs_error(&d), want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", bytewise ? "byte-wise" : "whole",
                     gw_evs_error(&d), want);
        /* failed for good: nothing is read any more, even a valid message */
        assert_int_equal(gw_evs_feed(&d, v_empty, sizeof v_empty, collect, &c), -1);
        assert_int_equal(gw_evs_feed(&d, "", 0, collect, &c), -1);
        assert_int_equal(c.n, messages_before);
        assert_string_equal(gw_evs_error(&d), want);
        collector_free(&c);
        gw_evs_free(&d);
    }
}

static void test_errors(void **state)
{
    unsigned char buf[256];
    size_t n;

    /* total length below 16, with a valid prelude CRC */
    n = frame(buf, "", 0, "", 0, -1);
    buf[3] = 15;
    fix_prelude_crc(buf);
    assert_fails(buf, n, 0, 0, "message at byte 0: total length 15 below 16");

    /* headers length past the message */
    n = frame(buf, "", 0, "abc", 3, 4);
    assert_fails(buf, n, 0, 0, "message at byte 0: headers length 4 past the message");

    /* a header name running past its block */
    static const unsigned char long_name[] = {9, 'a', 'b', 'c'};
    n = frame(buf, long_name, sizeof long_name, "", 0, -1);
    assert_fails(buf, n, 0, 0, "message at byte 0: header name runs past the header block");

    /* a name with no room for its type byte */
    static const unsigned char no_type[] = {2, 'a', 'b'};
    n = frame(buf, no_type, sizeof no_type, "", 0, -1);
    assert_fails(buf, n, 0, 0, "message at byte 0: header name runs past the header block");

    /* string and int values running past the block (the payload follows) */
    static const unsigned char long_str[] = {1, 'a', 7, 0, 10, 'x', 'y'};
    n = frame(buf, long_str, sizeof long_str, "payload", 7, -1);
    assert_fails(buf, n, 0, 0, "message at byte 0: header value runs past the header block");
    static const unsigned char no_len[] = {1, 'a', 6, 0};
    n = frame(buf, no_len, sizeof no_len, "", 0, -1);
    assert_fails(buf, n, 0, 0, "message at byte 0: header value runs past the header block");
    static const unsigned char short_int[] = {1, 'a', 4, 0, 0, 1};
    n = frame(buf, short_int, sizeof short_int, "", 0, -1);
    assert_fails(buf, n, 0, 0, "message at byte 0: header value runs past the header block");

    /* an unknown value type */
    static const unsigned char bad_type[] = {1, 'a', 10, 0};
    n = frame(buf, bad_type, sizeof bad_type, "", 0, -1);
    assert_fails(buf, n, 0, 0, "message at byte 0: unknown header value type 10");

    /* CRC mismatches */
    n = frame(buf, "", 0, "abc", 3, -1);
    buf[n - 1] ^= 1;
    assert_fails(buf, n, 0, 0, "message at byte 0: message CRC mismatch");
    buf[n - 1] ^= 1;
    buf[10] ^= 0x80;
    assert_fails(buf, n, 0, 0, "message at byte 0: prelude CRC mismatch");

    /* over the limit: found from the prelude alone, before buffering */
    n = frame(buf, "", 0, "0123456789", 10, -1); /* 26 bytes */
    assert_fails(buf, n, 25, 0, "message at byte 0: total length 26 over the limit of 25");
    assert_fails(buf, 12, 25, 0, "message at byte 0: total length 26 over the limit of 25");
    struct collector c = {0};
    assert_int_equal(decode(&c, buf, n, 26, NULL, 0), 0); /* at the limit: fine */
    assert_int_equal(c.n, 1);
    collector_free(&c);

    /* the offset names the bad message, after good ones */
    struct gw_buf b = {0};
    assert_int_equal(gw_evs_encode(&b, "event", "a", NULL, "1", 1), 0);
    assert_int_equal(gw_evs_encode(&b, "event", "b", NULL, "2", 1), 0);
    size_t good = b.len;
    n = frame(buf, bad_type, sizeof bad_type, "", 0, -1);
    assert_int_equal(gw_buf_append(&b, buf, n), 0);
    char want[64];
    snprintf(want, sizeof want, "message at byte %zu: unknown header value type 10", good);
    assert_fails(b.data, b.len, 0, 2, want);
    gw_buf_free(&b);
}

static void test_default_limit(void **state)
{
    /* a claimed 16 MiB + 1 message fails on its prelude */
    unsigned char p[12] = {0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0};
    fix_prelude_crc(p);
    assert_fails(p, sizeof p, 0, 0,
                 "message at byte 0: total length 16777217 over the limit of 16777216");
    p[3] = 0; /* exactly 16 MiB: accepted, waiting for the rest */
    fix_prelude_crc(p);
    struct gw_evs d;
    struct collector c = {0};
    gw_evs_init(&d, 0);
    assert_int_equal(gw_evs_feed(&d, p, sizeof p, collect, &c), 0);
    assert_int_equal(gw_evs_pending(&d), 12);
    gw_evs_free(&d);
}

static void test_callback_stops(void **state)
{
    struct gw_buf b = {0};
    encode_stream(&b);
    struct collector c = {.stop_at = 2, .stop_rc = 7};
    struct gw_evs d;
    gw_evs_init(&d, 0);
    assert_int_equal(gw_evs_feed(&d, b.data, b.len, collect, &c), 7);
    assert_int_equal(c.n, 2);
    assert_int_equal(gw_evs_feed(&d, b.data, b.len, collect, &c), -1);
    assert_int_equal(c.n, 2);
    assert_non_null(strstr(gw_evs_error(&d), "stopped by the callback"));
    collector_free(&c);
    gw_evs_free(&d);

    /* the same when the stopping message was buffered */
    c.stop_at = 1;
    gw_evs_init(&d, 0);
    assert_int_equal(gw_evs_feed(&d, b.data, 5, collect, &c), 0);
    assert_int_equal(gw_evs_feed(&d, b.data + 5, b.len - 5, collect, &c), 7);
    assert_int_equal(c.n, 1);
    assert_int_equal(gw_evs_feed(&d, "", 0, collect, &c), -1);
    collector_free(&c);
    gw_evs_free(&d);
    gw_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_aws_vectors),
        cmocka_unit_test(test_aws_corrupted_vectors),
        cmocka_unit_test(test_all_value_types),
        cmocka_unit_test(test_round_trip_chunkings),
        cmocka_unit_test(test_split_message_and_pending),
        cmocka_unit_test(test_exception_and_encoder),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_default_limit),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

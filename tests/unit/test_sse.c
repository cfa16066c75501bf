/* Unit tests of gatewayd/sse.c: a multi-event stream gives the same events
 * whatever the chunking (whole, one byte at a time, every 2-way split); LF and
 * CRLF line endings; multi-line data joined with LF; "data:" without a space;
 * comments and event:/id: fields kept in the raw text but not in the data;
 * [DONE]; the max_event limit; a callback's non-zero return stops the feed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define MAX_EVENTS 32

struct event {
    char *raw, *data;
    size_t raw_len, data_len;
};

struct collector {
    struct event ev[MAX_EVENTS];
    int n;
    int stop_at; /* return stop_rc from the callback for event number stop_at (1-based) */
    int stop_rc;
};

static int collect(void *ctx, const char *raw, size_t raw_len, const char *data, size_t data_len)
{
    struct collector *c = ctx;
    if (c->n >= MAX_EVENTS)
        fail_msg("more than %d events", MAX_EVENTS);
    struct event *e = &c->ev[c->n++];
    e->raw = malloc(raw_len + 1);
    e->data = malloc(data_len + 1);
    assert_non_null(e->raw);
    assert_non_null(e->data);
    memcpy(e->raw, raw, raw_len);
    e->raw[raw_len] = '\0';
    e->raw_len = raw_len;
    /* data must be readable even when empty */
    assert_non_null(data);
    memcpy(e->data, data, data_len);
    e->data[data_len] = '\0';
    e->data_len = data_len;
    if (c->stop_at && c->n == c->stop_at)
        return c->stop_rc;
    return 0;
}

static void collector_free(struct collector *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->ev[i].raw);
        free(c->ev[i].data);
    }
    c->n = 0;
}

/* Feeds text in pieces at the given cut offsets (ascending), expecting 0 each time. */
static void feed_cuts(struct collector *c, const char *text, const size_t *cuts, int ncuts)
{
    struct gw_sse s = {0};
    size_t len = strlen(text), at = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        assert_int_equal(gw_sse_feed(&s, text + at, to - at, collect, c), 0);
        at = to;
    }
    gw_sse_free(&s);
}

static void feed_whole(struct collector *c, const char *text)
{
    feed_cuts(c, text, NULL, 0);
}

static void assert_event(const struct collector *c, int i, const char *raw, const char *data)
{
    if (i >= c->n)
        fail_msg("event %d missing (only %d events)", i, c->n);
    assert_int_equal(c->ev[i].raw_len, strlen(raw));
    assert_string_equal(c->ev[i].raw, raw);
    assert_int_equal(c->ev[i].data_len, strlen(data));
    assert_string_equal(c->ev[i].data, data);
}

static void assert_same_events(const struct collector *a, const struct collector *b,
                               const char *how)
{
    if (a->n != b->n)
        fail_msg("%s: %d events, expected %d", how, b->n, a->n);
    for (int i = 0; i < a->n; i++) {
        if (a->ev[i].raw_len != b->ev[i].raw_len ||
            memcmp(a->ev[i].raw, b->ev[i].raw, a->ev[i].raw_len) != 0)
            fail_msg("%s: event %d raw differs: '%s' vs '%s'", how, i, b->ev[i].raw, a->ev[i].raw);
        if (a->ev[i].data_len != b->ev[i].data_len ||
            memcmp(a->ev[i].data, b->ev[i].data, a->ev[i].data_len) != 0)
            fail_msg("%s: event %d data differs: '%s' vs '%s'", how, i, b->ev[i].data,
                     a->ev[i].data);
    }
}

/* A stream with every feature: comments, event:/id: fields, multi-line data,
 * data without a space, CRLF and LF events, an empty-data event and [DONE]. */
static const char STREAM[] = ": keep-alive comment\n"
                             "\n"
                             "event: message\n"
                             "id: 1\n"
                             "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n"
                             "\n"
                             "data: line one\r\n"
                             "data: line two\r\n"
                             "\r\n"
                             "data:nospace\n"
                             "data:  two spaces\n"
                             "\n"
                             "retry: 100\n"
                             "data\n"
                             "\n"
                             "data: mixed\r\n"
                             "\n"
                             "data: [DONE]\n"
                             "\n";

static void check_stream_events(const struct collector *c)
{
    assert_int_equal(c->n, 7);
    assert_event(c, 0, ": keep-alive comment\n\n", "");
    assert_event(
        c, 1, "event: message\nid: 1\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "{\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}");
    assert_event(c, 2, "data: line one\r\ndata: line two\r\n\r\n", "line one\nline two");
    assert_event(c, 3, "data:nospace\ndata:  two spaces\n\n", "nospace\n two spaces");
    assert_event(c, 4, "retry: 100\ndata\n\n", "");
    assert_event(c, 5, "data: mixed\r\n\n", "mixed");
    assert_event(c, 6, "data: [DONE]\n\n", "[DONE]");
}

static void test_whole_stream(void **state)
{
    struct collector c = {0};
    feed_whole(&c, STREAM);
    check_stream_events(&c);
    collector_free(&c);
}

static void test_one_byte_at_a_time(void **state)
{
    struct collector ref = {0}, c = {0};
    feed_whole(&ref, STREAM);
    size_t len = strlen(STREAM);
    size_t *cuts = malloc(len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    /* cuts[0] == 0 gives an empty first feed, which must be harmless too */
    feed_cuts(&c, STREAM, cuts, (int)len);
    assert_same_events(&ref, &c, "one byte at a time");
    check_stream_events(&c);
    free(cuts);
    collector_free(&c);
    collector_free(&ref);
}

static void test_every_two_way_split(void **state)
{
    struct collector ref = {0};
    feed_whole(&ref, STREAM);
    size_t len = strlen(STREAM);
    for (size_t cut = 0; cut <= len; cut++) {
        struct collector c = {0};
        char how[64];
        snprintf(how, sizeof how, "split at %zu", cut);
        feed_cuts(&c, STREAM, &cut, 1);
        assert_same_events(&ref, &c, how);
        collector_free(&c);
    }
    collector_free(&ref);
}

static void test_every_three_way_split_of_crlf(void **state)
{
    /* The CRLF blank line is three bytes ("\n\r\n" after the data line): cut
     * it in every pair of places. */
    static const char text[] = "data: a\r\n\r\ndata: b\r\n\r\n";
    size_t len = strlen(text);
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            struct collector c = {0};
            size_t cuts[2] = {i, j};
            feed_cuts(&c, text, cuts, 2);
            assert_int_equal(c.n, 2);
            assert_event(&c, 0, "data: a\r\n\r\n", "a");
            assert_event(&c, 1, "data: b\r\n\r\n", "b");
            collector_free(&c);
        }
}

static void test_lf_and_crlf(void **state)
{
    struct collector c = {0};
    feed_whole(&c, "data: lf\n\ndata: crlf\r\n\r\n");
    assert_int_equal(c.n, 2);
    assert_event(&c, 0, "data: lf\n\n", "lf");
    /* the CR is not part of the data */
    assert_event(&c, 1, "data: crlf\r\n\r\n", "crlf");
    collector_free(&c);
}

static void test_multiline_data(void **state)
{
    struct collector c = {0};
    feed_whole(&c, "data: a\ndata: b\ndata:\ndata: c\n\n");
    assert_int_equal(c.n, 1);
    /* an empty data line contributes an empty line */
    assert_event(&c, 0, "data: a\ndata: b\ndata:\ndata: c\n\n", "a\nb\n\nc");
    collector_free(&c);
}

static void test_data_without_space(void **state)
{
    struct collector c = {0};
    feed_whole(&c, "data:x\n\ndata:  y\n\n");
    assert_int_equal(c.n, 2);
    assert_event(&c, 0, "data:x\n\n", "x");
    /* only one space after the colon is removed */
    assert_event(&c, 1, "data:  y\n\n", " y");
    collector_free(&c);
}

static void test_comments_and_fields(void **state)
{
    struct collector c = {0};
    const char *ev = ": ping\nevent: delta\nid: 42\ndata: {\"a\":1}\n: trailing\n\n";
    feed_whole(&c, ev);
    assert_int_equal(c.n, 1);
    assert_event(&c, 0, ev, "{\"a\":1}");
    collector_free(&c);

    /* a line that merely starts with "data" is another field, not data */
    feed_whole(&c, "database: x\ndata: y\n\n");
    assert_int_equal(c.n, 1);
    assert_event(&c, 0, "database: x\ndata: y\n\n", "y");
    collector_free(&c);
}

static void test_done(void **state)
{
    struct collector c = {0};
    feed_whole(&c, "data: {\"x\":1}\n\ndata: [DONE]\n\n");
    assert_int_equal(c.n, 2);
    assert_event(&c, 1, "data: [DONE]\n\n", "[DONE]");
    collector_free(&c);
}

static void test_incomplete_event_is_held(void **state)
{
    struct collector c = {0};
    struct gw_sse s = {0};
    assert_int_equal(gw_sse_feed(&s, "data: part", 10, collect, &c), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(gw_sse_feed(&s, "ial\n", 4, collect, &c), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(gw_sse_feed(&s, "\n", 1, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_event(&c, 0, "data: partial\n\n", "partial");
    gw_sse_free(&s);
    collector_free(&c);
}

static void test_partial_event_over_max(void **state)
{
    struct collector c = {0};
    struct gw_sse s = {.max_event = 64};
    char big[200];
    memcpy(big, "data: ", 6);
    memset(big + 6, 'x', sizeof big - 6);
    /* 60 bytes with no end yet: under the limit */
    assert_int_equal(gw_sse_feed(&s, big, 60, collect, &c), 0);
    /* the pending event grows past 64 bytes: an error */
    assert_int_equal(gw_sse_feed(&s, big + 60, 40, collect, &c), -1);
    assert_int_equal(c.n, 0);
    gw_sse_free(&s);
}

static void test_event_at_max_is_accepted(void **state)
{
    struct collector c = {0};
    struct gw_sse s = {.max_event = 64};
    char ev[64];
    memcpy(ev, "data: ", 6);
    memset(ev + 6, 'y', sizeof ev - 8);
    memcpy(ev + sizeof ev - 2, "\n\n", 2);
    for (size_t i = 0; i < sizeof ev; i++)
        assert_int_equal(gw_sse_feed(&s, ev + i, 1, collect, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.ev[0].raw_len, 64);
    assert_int_equal(c.ev[0].data_len, 56);
    gw_sse_free(&s);
    collector_free(&c);
}

static void test_whole_event_over_max_in_one_feed(void **state)
{
    /* sse.h: "larger events are an error" and gw_sse_feed returns "-1 if an
     * event is too large" -- whatever the chunking. A 100-byte event that
     * arrives complete in one feed must be refused like one that arrives in
     * pieces (see test_partial_event_over_max). */
    struct collector c = {0};
    struct gw_sse s = {.max_event = 64};
    char ev[100];
    memcpy(ev, "data: ", 6);
    memset(ev + 6, 'z', sizeof ev - 8);
    memcpy(ev + sizeof ev - 2, "\n\n", 2);
    int rc = gw_sse_feed(&s, ev, sizeof ev, collect, &c);
    int delivered = c.n;
    gw_sse_free(&s);
    collector_free(&c);
    assert_int_equal(rc, -1);
    assert_int_equal(delivered, 0);
}

static void test_callback_stops_feed(void **state)
{
    struct collector c = {.stop_at = 2, .stop_rc = 7};
    struct gw_sse s = {0};
    const char *text = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    assert_int_equal(gw_sse_feed(&s, text, strlen(text), collect, &c), 7);
    /* the third event was not delivered */
    assert_int_equal(c.n, 2);
    assert_event(&c, 0, "data: 1\n\n", "1");
    assert_event(&c, 1, "data: 2\n\n", "2");
    /* the rest stays pending: the next feed delivers it */
    c.stop_at = 0;
    assert_int_equal(gw_sse_feed(&s, "", 0, collect, &c), 0);
    assert_int_equal(c.n, 3);
    assert_event(&c, 2, "data: 3\n\n", "3");
    gw_sse_free(&s);
    collector_free(&c);
}

static void test_free_twice_and_empty(void **state)
{
    struct gw_sse s = {0};
    struct collector c = {0};
    assert_int_equal(gw_sse_feed(&s, "", 0, collect, &c), 0);
    assert_int_equal(c.n, 0);
    gw_sse_free(&s);
    gw_sse_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_stream),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_every_two_way_split),
        cmocka_unit_test(test_every_three_way_split_of_crlf),
        cmocka_unit_test(test_lf_and_crlf),
        cmocka_unit_test(test_multiline_data),
        cmocka_unit_test(test_data_without_space),
        cmocka_unit_test(test_comments_and_fields),
        cmocka_unit_test(test_done),
        cmocka_unit_test(test_incomplete_event_is_held),
        cmocka_unit_test(test_partial_event_over_max),
        cmocka_unit_test(test_event_at_max_is_accepted),
        cmocka_unit_test(test_whole_event_over_max_in_one_feed),
        cmocka_unit_test(test_callback_stops_feed),
        cmocka_unit_test(test_free_twice_and_empty),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}

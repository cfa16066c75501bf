/* Unit tests of gatewayd/received.c: the text a client received, read back
 * from a stream in the caller's format (OpenAI chunks or Anthropic events),
 * in any chunking; what is not answer text (roles, usage, errors, [DONE],
 * block starts, tool names) is not counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "received.h"

static const char OPENAI[] =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}},"
    "{\"index\":1,\"delta\":{\"content\":\"lo \"}}]}\n\n"
    ": a comment\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\","
    "\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"no\"}}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n"
    "data: {\"error\":{\"message\":\"x\"}}\n\n"
    "data: [DONE]\n\n";

static const char ANTHROPIC[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"content\":[],"
    "\"usage\":{\"input_tokens\":22,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"s1 s2\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"q\\\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,"
    "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n"
    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\","
    "\"message\":\"text\"}}\n\n";

/* The text of s fed in pieces of step bytes (0: whole). */
static void check(int anthropic, const char *s, size_t step, const char *want)
{
    struct gw_received *rc = gw_received_new(anthropic);
    assert_non_null(rc);
    size_t n = strlen(s);
    for (size_t off = 0; off < n;) {
        size_t k = step && n - off > step ? step : n - off;
        assert_int_equal(gw_received_feed(rc, s + off, k), 0);
        off += k;
    }
    const struct gw_buf *t = gw_received_text(rc);
    assert_int_equal(t->len, strlen(want));
    if (t->len)
        assert_memory_equal(t->data, want, t->len);
    gw_received_free(rc);
}

static void test_openai(void **state)
{
    for (size_t step = 0; step < 9; step++)
        check(0, OPENAI, step, "Hello {\"a\":no");
}

static void test_anthropic(void **state)
{
    for (size_t step = 0; step < 9; step++)
        check(1, ANTHROPIC, step, "s1 s2{\"q\"hm");
}

static void test_wrong_format_and_cut(void **state)
{
    check(1, OPENAI, 0, "");    /* OpenAI chunks read as Anthropic: no text */
    check(0, ANTHROPIC, 0, ""); /* and the other way round */
    /* a stream cut inside an event: only whole events count */
    const char *cut = strstr(OPENAI, "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal");
    char buf[sizeof OPENAI];
    memcpy(buf, OPENAI, (size_t)(cut - OPENAI) + 30);
    buf[(cut - OPENAI) + 30] = 0;
    check(0, buf, 7, "Hello {\"a\":");
    check(0, "", 0, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai),
        cmocka_unit_test(test_anthropic),
        cmocka_unit_test(test_wrong_format_and_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of gatewayd/messages.c, the /v1/messages response writer:
 * OpenAI chat completions and chunks in, Anthropic messages and events out.
 * Covers what the mock upstream cannot produce: tool calls (whole and
 * streamed argument deltas), a tool call first, text after tools, stop
 * reasons, cached-token usage, in-stream upstream errors, interleaved tool
 * calls, an empty answer, and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "messages.h"
#include "request.h"

static struct gw_request *req(int stream)
{
    struct gw_arena *a = gw_arena_new(4096);
    assert_non_null(a);
    struct gw_request *r = gw_arena_calloc(a, sizeof *r);
    r->arena = a;
    snprintf(r->id, sizeof r->id, "req_0123456789abcdef01234567");
    r->model_name = "my-model";
    r->stream = stream;
    r->api = GW_API_MESSAGES;
    r->input_tokens = 11; /* the gateway's count, as the pipeline left it */
    r->input_tokens_known = 1;
    return r;
}

static void feed(struct gw_msg_writer *w, const char *chunk_json, struct gw_buf *out)
{
    cJSON *j = cJSON_Parse(chunk_json);
    assert_non_null(j);
    gw_msg_openai_chunk(w, j, out);
    cJSON_Delete(j);
}

/* The SSE events in out: names[i] and datas[i] (parsed; caller deletes). */
struct events {
    char names[32][32];
    cJSON *data[32];
    int n;
};

static void parse_events(const struct gw_buf *out, struct events *ev)
{
    memset(ev, 0, sizeof *ev);
    const char *p = out->data ? out->data : "";
    while (*p) {
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        assert_true(strncmp(p, "event: ", 7) == 0);
        const char *nl = strchr(p, '\n');
        assert_true(nl < end);
        assert_true(ev->n < 32);
        snprintf(ev->names[ev->n], sizeof ev->names[0], "%.*s", (int)(nl - p - 7), p + 7);
        assert_true(strncmp(nl + 1, "data: ", 6) == 0);
        ev->data[ev->n] = cJSON_ParseWithLength(nl + 7, (size_t)(end - nl - 7));
        assert_non_null(ev->data[ev->n]);
        /* each data's type is its event's name */
        assert_string_equal(cJSON_GetObjectItem(ev->data[ev->n], "type")->valuestring,
                            ev->names[ev->n]);
        ev->n++;
        p = end + 2;
    }
}

static void free_events(struct events *ev)
{
    for (int i = 0; i < ev->n; i++)
        cJSON_Delete(ev->data[i]);
}

static void expect_names(const struct events *ev, const char *const *names)
{
    int i = 0;
    for (; names[i]; i++) {
        if (i >= ev->n)
            fail_msg("only %d events; expected %s next", ev->n, names[i]);
        if (strcmp(ev->names[i], names[i]) != 0)
            fail_msg("event %d is %s, expected %s", i, ev->names[i], names[i]);
    }
    assert_int_equal(i, ev->n);
}

static const char *str_at(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(j, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    assert_true(cJSON_IsString(x));
    return x->valuestring;
}

static long long num_at(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(j, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    assert_true(cJSON_IsNumber(x));
    return (long long)x->valuedouble;
}

static cJSON *whole(struct gw_request *r, const char *completion_json)
{
    struct gw_msg_writer w;
    struct gw_buf out = {0};
    gw_msg_init(&w, r);
    cJSON *c = cJSON_Parse(completion_json);
    assert_non_null(c);
    assert_int_equal(gw_msg_openai_completion(&w, c, &out), 0);
    assert_int_equal(gw_msg_close(&w, &out), 0);
    cJSON_Delete(c);
    gw_msg_free(&w);
    cJSON *m = cJSON_Parse(out.data);
    assert_non_null(m);
    gw_buf_free(&out);
    return m;
}

static void test_whole_text_usage(void **unused)
{
    struct gw_request *r = req(0);
    r->prompt_tokens = 10;
    r->cached_tokens = 4;
    r->completion_tokens = 2;
    cJSON *m = whole(r, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                        "\"content\":\"a \\\"quoted\\\"\\nline\"},\"finish_reason\":\"length\"}]}");
    assert_string_equal(str_at(m, "id", NULL), "msg_0123456789abcdef01234567");
    assert_string_equal(str_at(m, "type", NULL), "message");
    assert_string_equal(str_at(m, "role", NULL), "assistant");
    assert_string_equal(str_at(m, "model", NULL), "my-model");
    assert_string_equal(str_at(m, "stop_reason", NULL), "max_tokens");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "stop_sequence")));
    const cJSON *content = cJSON_GetObjectItem(m, "content");
    assert_int_equal(cJSON_GetArraySize(content), 1);
    assert_string_equal(str_at(content->child, "type", NULL), "text");
    assert_string_equal(str_at(content->child, "text", NULL), "a \"quoted\"\nline");
    assert_int_equal(num_at(m, "usage", "input_tokens"), 6);
    assert_int_equal(num_at(m, "usage", "cache_read_input_tokens"), 4);
    assert_int_equal(num_at(m, "usage", "cache_creation_input_tokens"), 0);
    assert_int_equal(num_at(m, "usage", "output_tokens"), 2);
    cJSON_Delete(m);
    gw_arena_destroy(r->arena);
}

static void test_whole_tool_calls(void **unused)
{
    struct gw_request *r = req(0);
    cJSON *m = whole(
        r, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
           "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
           "\"{\\\"a\\\":1}\"}},"
           "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":"
           "\"not json\"}}]},\"finish_reason\":\"tool_calls\"}]}");
    assert_string_equal(str_at(m, "stop_reason", NULL), "tool_use");
    const cJSON *content = cJSON_GetObjectItem(m, "content");
    assert_int_equal(cJSON_GetArraySize(content), 2);
    const cJSON *b0 = cJSON_GetArrayItem(content, 0), *b1 = cJSON_GetArrayItem(content, 1);
    assert_string_equal(str_at(b0, "type", NULL), "tool_use");
    assert_string_equal(str_at(b0, "id", NULL), "call_1");
    assert_string_equal(str_at(b0, "name", NULL), "f");
    assert_int_equal(num_at(b0, "input", "a"), 1);
    assert_string_equal(str_at(b1, "name", NULL), "g");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(b1, "input"))); /* unparsable: {} */
    assert_null(cJSON_GetObjectItem(b1, "input")->child);
    /* no usage from upstream: the gateway's count */
    assert_int_equal(num_at(m, "usage", "input_tokens"), 11);
    cJSON_Delete(m);

    /* a forced tool call that OpenAI finishes with "stop" is still tool_use */
    m = whole(r, "{\"choices\":[{\"message\":{\"content\":\"x\",\"tool_calls\":[{\"id\":\"c\","
                 "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":"
                 "\"stop\"}]}");
    assert_string_equal(str_at(m, "stop_reason", NULL), "tool_use");
    content = cJSON_GetObjectItem(m, "content");
    assert_int_equal(cJSON_GetArraySize(content), 2);
    assert_string_equal(str_at(cJSON_GetArrayItem(content, 0), "text", NULL), "x");
    cJSON_Delete(m);
    gw_arena_destroy(r->arena);
}

static void test_stream_text_then_tool(void **unused)
{
    struct gw_request *r = req(1);
    struct gw_msg_writer w;
    struct gw_buf out = {0};
    gw_msg_init(&w, r);
    feed(&w, "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}",
         &out);
    feed(&w, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Let me\"}}]}", &out);
    feed(&w,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_9\","
         "\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":\"\"}}]}}]}",
         &out);
    feed(&w,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
         "\"arguments\":\"{\\\"q\\\"\"}}]}}]}",
         &out);
    feed(&w,
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
         "\"arguments\":\":1}\"}}]}}]}",
         &out);
    feed(&w, "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}", &out);
    feed(&w, "{\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5}}", &out);
    r->prompt_tokens = 7;
    r->completion_tokens = 5;
    assert_int_equal(gw_msg_close(&w, &out), 0);

    struct events ev;
    parse_events(&out, &ev);
    static const char *const want[] = {
        "message_start",       "content_block_start", "ping",
        "content_block_delta", "content_block_stop",  "content_block_start",
        "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta",       "message_stop",        NULL};
    expect_names(&ev, want);
    const cJSON *msg = cJSON_GetObjectItem(ev.data[0], "message");
    assert_int_equal(num_at(msg, "usage", "input_tokens"), 11);
    assert_string_equal(str_at(msg, "model", NULL), "my-model");
    assert_string_equal(str_at(ev.data[3], "delta", "text"), "Let me");
    assert_int_equal(num_at(ev.data[4], "index", NULL), 0);
    assert_int_equal(num_at(ev.data[5], "index", NULL), 1);
    assert_string_equal(str_at(ev.data[5], "content_block", "type"), "tool_use");
    assert_string_equal(str_at(ev.data[5], "content_block", "id"), "call_9");
    assert_string_equal(str_at(ev.data[5], "content_block", "name"), "lookup");
    assert_string_equal(str_at(ev.data[6], "delta", "type"), "input_json_delta");
    assert_string_equal(str_at(ev.data[6], "delta", "partial_json"), "{\"q\"");
    assert_string_equal(str_at(ev.data[7], "delta", "partial_json"), ":1}");
    assert_int_equal(num_at(ev.data[8], "index", NULL), 1);
    assert_string_equal(str_at(ev.data[9], "delta", "stop_reason"), "tool_use");
    assert_int_equal(num_at(ev.data[9], "usage", "output_tokens"), 5);
    assert_int_equal(num_at(ev.data[9], "usage", "input_tokens"), 7);
    free_events(&ev);
    gw_msg_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_stream_tool_first_and_two_tools(void **unused)
{
    struct gw_request *r = req(1);
    struct gw_msg_writer w;
    struct gw_buf out = {0};
    gw_msg_init(&w, r);
    feed(&w,
         "{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
         "\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}",
         &out);
    feed(&w,
         "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"function\":{"
         "\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}",
         &out);
    feed(&w, "{\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}", &out);
    gw_msg_close(&w, &out);
    struct events ev;
    parse_events(&out, &ev);
    static const char *const want[] = {"message_start",
                                       "content_block_start",
                                       "ping",
                                       "content_block_delta",
                                       "content_block_stop",
                                       "content_block_start",
                                       "content_block_delta",
                                       "content_block_stop",
                                       "message_delta",
                                       "message_stop",
                                       NULL};
    expect_names(&ev, want);
    assert_string_equal(str_at(ev.data[1], "content_block", "name"), "f");
    assert_string_equal(str_at(ev.data[5], "content_block", "name"), "g");
    assert_int_equal(num_at(ev.data[5], "index", NULL), 1);
    free_events(&ev);
    gw_msg_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_stream_interleaved_tools_fail(void **unused)
{
    struct gw_request *r = req(1);
    struct gw_msg_writer w;
    struct gw_buf out = {0};
    gw_msg_init(&w, r);
    feed(&w,
         "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{"
         "\"name\":\"f\",\"arguments\":\"{\"}}]}}]}",
         &out);
    feed(&w,
         "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"function\":{"
         "\"name\":\"g\",\"arguments\":\"{\"}}]}}]}",
         &out);
    feed(&w,
         "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
         "\"arguments\":\"}\"}}]}}]}",
         &out);
    feed(&w, "{\"choices\":[{\"delta\":{\"content\":\"late\"}}]}", &out);
    gw_msg_close(&w, &out); /* nothing after the error */
    struct events ev;
    parse_events(&out, &ev);
    assert_string_equal(ev.names[ev.n - 1], "error");
    assert_string_equal(str_at(ev.data[ev.n - 1], "error", "type"), "api_error");
    for (int i = 0; i < ev.n; i++)
        assert_true(strcmp(ev.names[i], "message_stop") != 0);
    assert_string_equal(r->error, "upstream_bad_response");
    free_events(&ev);
    gw_msg_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_stream_upstream_error_event(void **unused)
{
    struct gw_request *r = req(1);
    struct gw_msg_writer w;
    struct gw_buf out = {0};
    gw_msg_init(&w, r);
    feed(&w, "{\"choices\":[{\"delta\":{\"content\":\"partial\"}}]}", &out);
    feed(&w, "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}", &out);
    gw_msg_fail(&w, &out, "upstream_stream_error", "the transfer broke too"); /* once only */
    gw_msg_close(&w, &out);
    struct events ev;
    parse_events(&out, &ev);
    static const char *const want[] = {
        "message_start", "content_block_start", "ping", "content_block_delta", "error", NULL};
    expect_names(&ev, want);
    assert_string_equal(str_at(ev.data[4], "error", "message"), "boom");
    free_events(&ev);
    gw_msg_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_stream_empty_answer(void **unused)
{
    struct gw_request *r = req(1);
    struct gw_msg_writer w;
    struct gw_buf out = {0};
    gw_msg_init(&w, r);
    gw_msg_close(&w, &out);
    struct events ev;
    parse_events(&out, &ev);
    static const char *const want[] = {"message_start", "ping", "message_delta", "message_stop",
                                       NULL};
    expect_names(&ev, want);
    assert_string_equal(str_at(ev.data[2], "delta", "stop_reason"), "end_turn");
    free_events(&ev);
    gw_msg_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

/* found by fuzz_messages_body: an index far outside int's range */
static void test_huge_tool_index(void **unused)
{
    struct gw_request *r = req(1);
    struct gw_msg_writer w;
    struct gw_buf out = {0};
    gw_msg_init(&w, r);
    feed(&w,
         "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":7.7e46,\"id\":\"a\","
         "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},{\"index\":-1e300,"
         "\"function\":{\"arguments\":\"x\"}}]}}]}",
         &out);
    gw_msg_close(&w, &out);
    struct events ev;
    parse_events(&out, &ev);
    assert_string_equal(ev.names[ev.n - 1], "message_stop");
    free_events(&ev);
    gw_msg_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_stop_reasons(void **unused)
{
    assert_string_equal(gw_msg_stop_reason("stop"), "end_turn");
    assert_string_equal(gw_msg_stop_reason(NULL), "end_turn");
    assert_string_equal(gw_msg_stop_reason("length"), "max_tokens");
    assert_string_equal(gw_msg_stop_reason("tool_calls"), "tool_use");
    assert_string_equal(gw_msg_stop_reason("function_call"), "tool_use");
    assert_string_equal(gw_msg_stop_reason("content_filter"), "refusal");
    assert_string_equal(gw_msg_stop_reason("something_new"), "end_turn");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_text_usage),
        cmocka_unit_test(test_whole_tool_calls),
        cmocka_unit_test(test_stream_text_then_tool),
        cmocka_unit_test(test_stream_tool_first_and_two_tools),
        cmocka_unit_test(test_stream_interleaved_tools_fail),
        cmocka_unit_test(test_stream_upstream_error_event),
        cmocka_unit_test(test_stream_empty_answer),
        cmocka_unit_test(test_huge_tool_index),
        cmocka_unit_test(test_stop_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

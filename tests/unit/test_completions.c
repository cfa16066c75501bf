/* Unit tests of gatewayd/completions.c, the chat-completions response
 * writer that non-OpenAI adapters feed: text and tool-call pieces in,
 * OpenAI's chat.completion object or chunk stream out. Covers the role
 * chunk, text deltas, a tool call named once then streamed in fragments,
 * tool-call numbering by first appearance, the usage chunk only when asked
 * for, the gateway's count when the provider gave none, the whole object
 * with content null beside tool calls, and the error event of a broken
 * stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "completions.h"
#include "request.h"

static struct gw_request *req(int stream, int wants_usage)
{
    struct gw_arena *a = gw_arena_new(4096);
    assert_non_null(a);
    struct gw_request *r = gw_arena_calloc(a, sizeof *r);
    r->arena = a;
    snprintf(r->id, sizeof r->id, "req_0123456789abcdef01234567");
    r->model_name = "my-model";
    r->stream = stream;
    r->client_wants_usage = wants_usage;
    r->api = GW_API_CHAT;
    r->input_tokens = 11; /* the gateway's count, as the pipeline left it */
    r->input_tokens_known = 1;
    return r;
}

/* The data payloads of the SSE events in out, parsed ([DONE] as NULL). */
static int events(const struct gw_buf *out, cJSON **ev, int max, int *done)
{
    int n = 0;
    *done = 0;
    const char *p = out->data ? out->data : "";
    while (*p) {
        assert_true(strncmp(p, "data: ", 6) == 0);
        const char *end = strstr(p, "\n\n");
        assert_non_null(end);
        if (strncmp(p + 6, "[DONE]", 6) == 0) {
            (*done)++;
        } else {
            assert_true(n < max);
            ev[n] = cJSON_ParseWithLength(p + 6, (size_t)(end - p - 6));
            assert_non_null(ev[n]);
            n++;
        }
        p = end + 2;
    }
    return n;
}

static const cJSON *delta(const cJSON *chunk)
{
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(chunk, "choices"), 0);
    return cJSON_GetObjectItem(c, "delta");
}

static const char *finish(const cJSON *chunk)
{
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(chunk, "choices"), 0);
    const cJSON *f = cJSON_GetObjectItem(c, "finish_reason");
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

static void test_stream_text_tool_usage(void **state)
{
    struct gw_request *r = req(1, 1);
    struct gw_oai_writer w;
    struct gw_buf out = {0};
    gw_oai_init(&w, r);
    gw_oai_text(&w, "Hello \"you\"", 11, &out);
    gw_oai_tool(&w, 7, "toolu_1", "get_weather", "{\"ci", 4, &out);
    gw_oai_tool(&w, 7, NULL, NULL, "ty\":\"Paris\"}", 12, &out);
    gw_oai_tool(&w, 9, "", "other", "{}", 2, &out);
    gw_oai_finish(&w, "tool_calls", &out);
    r->prompt_tokens = 20;
    r->cached_tokens = 5;
    r->completion_tokens = 3;
    gw_oai_close(&w, &out);

    cJSON *ev[16];
    int done, n = events(&out, ev, 16, &done);
    assert_int_equal(done, 1);
    assert_int_equal(n, 7); /* role, text, tool, tool args, tool 2, finish, usage */
    for (int i = 0; i < n; i++) {
        assert_string_equal(cJSON_GetObjectItem(ev[i], "object")->valuestring,
                            "chat.completion.chunk");
        assert_string_equal(cJSON_GetObjectItem(ev[i], "model")->valuestring, "my-model");
        assert_string_equal(cJSON_GetObjectItem(ev[i], "id")->valuestring,
                            "chatcmpl-0123456789abcdef01234567");
    }
    assert_string_equal(cJSON_GetObjectItem(delta(ev[0]), "role")->valuestring, "assistant");
    assert_string_equal(cJSON_GetObjectItem(delta(ev[1]), "content")->valuestring, "Hello \"you\"");
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(delta(ev[2]), "tool_calls"), 0);
    assert_int_equal(cJSON_GetObjectItem(t, "index")->valueint, 0);
    assert_string_equal(cJSON_GetObjectItem(t, "id")->valuestring, "toolu_1");
    const cJSON *fn = cJSON_GetObjectItem(t, "function");
    assert_string_equal(cJSON_GetObjectItem(fn, "name")->valuestring, "get_weather");
    assert_string_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, "{\"ci");
    t = cJSON_GetArrayItem(cJSON_GetObjectItem(delta(ev[3]), "tool_calls"), 0);
    assert_int_equal(cJSON_GetObjectItem(t, "index")->valueint, 0);
    assert_null(cJSON_GetObjectItem(t, "id"));
    fn = cJSON_GetObjectItem(t, "function");
    assert_string_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, "ty\":\"Paris\"}");
    t = cJSON_GetArrayItem(cJSON_GetObjectItem(delta(ev[4]), "tool_calls"), 0);
    assert_int_equal(cJSON_GetObjectItem(t, "index")->valueint, 1);
    /* no id from the provider: one is made */
    assert_true(strncmp(cJSON_GetObjectItem(t, "id")->valuestring, "call_", 5) == 0);
    assert_string_equal(finish(ev[5]), "tool_calls");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ev[6], "choices")), 0);
    const cJSON *u = cJSON_GetObjectItem(ev[6], "usage");
    assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 20);
    assert_int_equal(cJSON_GetObjectItem(u, "completion_tokens")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(u, "total_tokens")->valueint, 23);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(u, "prompt_tokens_details"), "cached_tokens")
            ->valueint,
        5);
    for (int i = 0; i < n; i++)
        cJSON_Delete(ev[i]);
    gw_oai_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_stream_no_usage_unless_asked(void **state)
{
    struct gw_request *r = req(1, 0);
    struct gw_oai_writer w;
    struct gw_buf out = {0};
    gw_oai_init(&w, r);
    gw_oai_text(&w, "hi", 2, &out);
    gw_oai_close(&w, &out); /* no finish from the provider: stop */
    assert_null(strstr(out.data, "\"usage\""));
    cJSON *ev[8];
    int done, n = events(&out, ev, 8, &done);
    assert_int_equal(done, 1);
    assert_int_equal(n, 3);
    assert_string_equal(finish(ev[2]), "stop");
    for (int i = 0; i < n; i++)
        cJSON_Delete(ev[i]);
    gw_oai_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_whole_with_tools(void **state)
{
    struct gw_request *r = req(0, 0);
    struct gw_oai_writer w;
    struct gw_buf out = {0};
    gw_oai_init(&w, r);
    gw_oai_tool(&w, 0, "call_a", "f", "{\"a\":", 5, &out);
    gw_oai_tool(&w, 0, NULL, NULL, "1}", 2, &out);
    assert_int_equal(out.len, 0); /* nothing is written before close */
    gw_oai_finish(&w, "tool_calls", &out);
    r->completion_tokens = 4; /* no prompt count from the provider */
    gw_oai_close(&w, &out);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring, "chat.completion");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, "tool_calls");
    const cJSON *m = cJSON_GetObjectItem(c, "message");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "content")));
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "tool_calls"), 0);
    assert_string_equal(cJSON_GetObjectItem(t, "id")->valuestring, "call_a");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(t, "function"), "arguments")->valuestring,
        "{\"a\":1}");
    const cJSON *u = cJSON_GetObjectItem(j, "usage");
    assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 11);
    assert_int_equal(cJSON_GetObjectItem(u, "total_tokens")->valueint, 15);
    cJSON_Delete(j);
    gw_oai_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_whole_text(void **state)
{
    struct gw_request *r = req(0, 0);
    struct gw_oai_writer w;
    struct gw_buf out = {0};
    gw_oai_init(&w, r);
    gw_oai_text(&w, "a", 1, &out);
    gw_oai_text(&w, "b\n", 2, &out);
    gw_oai_finish(&w, "length", &out);
    gw_oai_close(&w, &out);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "finish_reason")->valuestring, "length");
    const cJSON *m = cJSON_GetObjectItem(c, "message");
    assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring, "ab\n");
    assert_null(cJSON_GetObjectItem(m, "tool_calls"));
    cJSON_Delete(j);
    gw_oai_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

static void test_fail_once_and_nothing_after(void **state)
{
    struct gw_request *r = req(1, 1);
    struct gw_oai_writer w;
    struct gw_buf out = {0};
    gw_oai_init(&w, r);
    gw_oai_text(&w, "partial", 7, &out);
    gw_oai_fail(&w, &out, "upstream_stream_error", "it broke");
    gw_oai_fail(&w, &out, "upstream_stream_error", "again");
    gw_oai_text(&w, "late", 4, &out);
    gw_oai_close(&w, &out);
    assert_non_null(strstr(out.data, "it broke"));
    assert_null(strstr(out.data, "again"));
    assert_null(strstr(out.data, "late"));
    assert_null(strstr(out.data, "[DONE]"));
    gw_oai_free(&w);
    gw_buf_free(&out);
    gw_arena_destroy(r->arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_text_tool_usage),
        cmocka_unit_test(test_stream_no_usage_unless_asked),
        cmocka_unit_test(test_whole_with_tools),
        cmocka_unit_test(test_whole_text),
        cmocka_unit_test(test_fail_once_and_nothing_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

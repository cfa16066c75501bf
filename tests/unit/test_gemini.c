/* Unit tests of the Gemini codec and translation (gatewayd/providers/
 * gemini_answer.c, gemini_request.c) on what the mock upstream never sends:
 * thought summaries skipped, a function call's thought signature carried in
 * the tool call id and given back as thoughtSignature in the next request,
 * thinking tokens billed as output, every finish reason, a prompt blocked
 * before any candidate, parts after the finish ignored, and a provider
 * error inside a stream (one error event, nothing after it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "providers/gemini.h"
#include "request.h"

static const struct gw_provider_cfg provider = {.name = "gem", .type = GW_PROVIDER_GEMINI};

static struct gw_request *req(enum gw_api api, int stream)
{
    struct gw_arena *a = gw_arena_new(4096);
    assert_non_null(a);
    struct gw_request *r = gw_arena_calloc(a, sizeof *r);
    r->arena = a;
    snprintf(r->id, sizeof r->id, "req_0123456789abcdef");
    r->model_name = "gem-model";
    r->api = api;
    r->stream = stream;
    r->provider = &provider;
    r->input_tokens = 9;
    r->input_tokens_known = 1;
    return r;
}

struct fx {
    struct gw_request *r;
    struct gw_xlate x;
    struct gw_buf out;
};

static void fx_init(struct fx *f, enum gw_api api, int stream)
{
    memset(f, 0, sizeof *f);
    f->r = req(api, stream);
    f->x.r = f->r;
    f->x.codec = &gw_gemini_codec;
    f->x.out = &f->out;
    gw_answer_init(&f->x.ans, f->r);
}

static void fx_free(struct fx *f)
{
    gw_answer_free(&f->x.ans);
    gw_buf_free(&f->out);
    gw_buf_free(&f->r->out);
    gw_arena_destroy(f->r->arena);
}

static int feed(struct fx *f, const char *json)
{
    return gw_gemini_codec.event(&f->x, json, strlen(json));
}

/* The OpenAI chunks in out ([DONE] counted in *done). */
static int chunks(const struct gw_buf *out, cJSON **ev, int max, int *done)
{
    int n = 0;
    *done = 0;
    for (const char *p = out->data ? out->data : ""; *p;) {
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
    return cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(chunk, "choices"), 0),
                               "delta");
}

static const char *finish_of(const cJSON *chunk)
{
    const cJSON *f = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(chunk, "choices"), 0), "finish_reason");
    return cJSON_IsString(f) ? f->valuestring : NULL;
}

#define SIG_ID "call_0123456789abcdef_0__thought_sig__ab-_cd"

static void test_stream_thoughts_signature_usage(void **state)
{
    struct fx f;
    fx_init(&f, GW_API_CHAT, 1);
    f.r->client_wants_usage = 1;
    assert_int_equal(feed(&f, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
                              "{\"text\":\"pondering\",\"thought\":true},{\"text\":\"Hi \"}]}}],"
                              "\"usageMetadata\":{\"promptTokenCount\":5}}"),
                     0);
    assert_int_equal(f.x.complete, 0);
    assert_int_equal(
        feed(&f,
             "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\","
             "\"args\":{\"a\":[1,\"x\"]}},\"thoughtSignature\":\"ab+/cd==\"},"
             "{\"functionCall\":{\"id\":\"g-id\",\"name\":\"g\"}}]},\"finishReason\":\"STOP\"}],"
             "\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":3,"
             "\"thoughtsTokenCount\":4,\"cachedContentTokenCount\":2,"
             "\"toolUsePromptTokenCount\":1}}"),
        0);
    assert_int_equal(f.x.complete, 1);
    /* a late chunk: its usage counts, its parts do not */
    assert_int_equal(feed(&f, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"late\"}]}}],"
                              "\"usageMetadata\":{\"promptTokenCount\":5,"
                              "\"candidatesTokenCount\":3,\"thoughtsTokenCount\":5,"
                              "\"cachedContentTokenCount\":2,\"toolUsePromptTokenCount\":1}}"),
                     0);
    assert_int_equal(f.r->prompt_tokens, 6);
    assert_int_equal(f.r->completion_tokens, 8);
    assert_int_equal(f.r->cached_tokens, 2);
    gw_answer_close(&f.x.ans, &f.out);
    assert_null(strstr(f.out.data, "pondering"));
    assert_null(strstr(f.out.data, "late"));

    cJSON *ev[16];
    int done, n = chunks(&f.out, ev, 16, &done);
    assert_int_equal(done, 1);
    assert_int_equal(n, 6); /* role, text, call f, call g, finish, usage */
    assert_string_equal(cJSON_GetObjectItem(delta(ev[1]), "content")->valuestring, "Hi ");
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(delta(ev[2]), "tool_calls"), 0);
    assert_string_equal(cJSON_GetObjectItem(t, "id")->valuestring, SIG_ID);
    const cJSON *fn = cJSON_GetObjectItem(t, "function");
    assert_string_equal(cJSON_GetObjectItem(fn, "name")->valuestring, "f");
    assert_string_equal(cJSON_GetObjectItem(fn, "arguments")->valuestring, "{\"a\":[1,\"x\"]}");
    t = cJSON_GetArrayItem(cJSON_GetObjectItem(delta(ev[3]), "tool_calls"), 0);
    assert_int_equal(cJSON_GetObjectItem(t, "index")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(t, "id")->valuestring, "g-id");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(t, "function"), "arguments")->valuestring, "{}");
    assert_string_equal(finish_of(ev[4]), "tool_calls");
    const cJSON *u = cJSON_GetObjectItem(ev[5], "usage");
    assert_int_equal(cJSON_GetObjectItem(u, "prompt_tokens")->valueint, 6);
    assert_int_equal(cJSON_GetObjectItem(u, "completion_tokens")->valueint, 8);
    for (int i = 0; i < n; i++)
        cJSON_Delete(ev[i]);
    fx_free(&f);
}

/* The id written above, sent back in the history, gives the signature back
 * with the call (and not with its result). */
static void test_signature_round_trip(void **state)
{
    struct gw_request *r = req(GW_API_CHAT, 0);
    r->json = cJSON_Parse(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"" SIG_ID "\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"" SIG_ID "\",\"content\":\"ok\"}]}");
    assert_non_null(r->json);
    size_t len = 0;
    char *body = gw_gemini_body(r, &len);
    assert_non_null(body);
    assert_int_equal(strlen(body), len);
    cJSON *want = cJSON_Parse(
        "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"q\"}]},"
        "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"id\":\"call_0123456789abcdef_0\","
        "\"name\":\"f\",\"args\":{\"a\":1}},\"thoughtSignature\":\"ab+/cd==\"}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"id\":\"call_0123456789abcdef_0\","
        "\"name\":\"f\",\"response\":{\"output\":\"ok\"}}}]}]}");
    cJSON *got = cJSON_Parse(body);
    assert_true(cJSON_Compare(got, want, 1));
    cJSON_Delete(got);
    cJSON_Delete(want);
    free(body);
    cJSON_Delete(r->json);
    gw_arena_destroy(r->arena);
}

static const char *whole_finish(const char *answer)
{
    static char finish[32];
    struct fx f;
    fx_init(&f, GW_API_CHAT, 0);
    cJSON *j = cJSON_Parse(answer);
    assert_int_equal(gw_gemini_codec.whole(&f.x, j), 0);
    cJSON_Delete(j);
    gw_answer_close(&f.x.ans, &f.out);
    cJSON *doc = cJSON_Parse(f.out.data);
    assert_non_null(doc);
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "choices"), 0);
    snprintf(finish, sizeof finish, "%s", cJSON_GetObjectItem(c, "finish_reason")->valuestring);
    cJSON_Delete(doc);
    fx_free(&f);
    return finish;
}

static void test_finish_reasons(void **state)
{
    static const char *const cases[][2] = {
        {"STOP", "stop"},
        {"MAX_TOKENS", "length"},
        {"SAFETY", "content_filter"},
        {"RECITATION", "content_filter"},
        {"BLOCKLIST", "content_filter"},
        {"PROHIBITED_CONTENT", "content_filter"},
        {"SPII", "content_filter"},
        {"MALFORMED_FUNCTION_CALL", "stop"},
        {"OTHER", "stop"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char answer[200];
        snprintf(answer, sizeof answer,
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
                 "\"finishReason\":\"%s\"}]}",
                 cases[i][0]);
        assert_string_equal(whole_finish(answer), cases[i][1]);
    }
    /* a blocked prompt: no candidates, an empty answer */
    assert_string_equal(whole_finish("{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},"
                                     "\"usageMetadata\":{\"promptTokenCount\":4}}"),
                        "content_filter");
}

static void test_blocked_prompt_messages_stream(void **state)
{
    struct fx f;
    fx_init(&f, GW_API_MESSAGES, 1);
    assert_int_equal(feed(&f, "{\"promptFeedback\":{\"blockReason\":\"OTHER\"},"
                              "\"usageMetadata\":{\"promptTokenCount\":4}}"),
                     0);
    assert_int_equal(f.x.complete, 1);
    gw_answer_close(&f.x.ans, &f.out);
    assert_non_null(strstr(f.out.data, "event: message_stop"));
    assert_non_null(strstr(f.out.data, "\"stop_reason\":\"refusal\""));
    fx_free(&f);
}

static void test_error_in_stream(void **state)
{
    struct fx f;
    fx_init(&f, GW_API_CHAT, 1);
    assert_int_equal(feed(&f, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}"),
                     0);
    assert_int_equal(
        feed(&f, "{\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}"), 0);
    assert_int_equal(f.x.failed, 1);
    assert_int_equal(f.x.complete, 0);
    assert_non_null(strstr(f.out.data, "boom"));
    size_t len = f.out.len;
    feed(&f, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"b\"}]}}]}");
    assert_int_equal(f.out.len, len); /* nothing after the error event */
    /* an event that is not JSON cannot be decoded */
    assert_int_equal(feed(&f, "{not json"), -1);
    fx_free(&f);

    fx_init(&f, GW_API_CHAT, 0);
    cJSON *j = cJSON_Parse("{\"error\":{\"message\":\"bad\"}}");
    assert_int_equal(gw_gemini_codec.whole(&f.x, j), -1);
    assert_string_equal(f.x.fail_msg, "bad");
    cJSON_Delete(j);
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_thoughts_signature_usage),
        cmocka_unit_test(test_signature_round_trip),
        cmocka_unit_test(test_finish_reasons),
        cmocka_unit_test(test_blocked_prompt_messages_stream),
        cmocka_unit_test(test_error_in_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

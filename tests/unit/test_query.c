/* Unit tests of gatewayd/query.c, the RAG-cache query API's own pieces: the
 * chat body a query becomes (and that it hashes like the same chat
 * request), the error shape and the mapping of the shared stages' codes to
 * the API's, ISO-8601 timestamps, and which requests take the API's shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "query.h"
#include "request.h"

static void test_chat_json(void **state)
{
    cJSON *j = gw_query_chat_json("What is 2+2?", "gpt-4o-mini", 50, 0.5);
    assert_non_null(j);
    char *s = cJSON_PrintUnformatted(j);
    assert_string_equal(s, "{\"messages\":[{\"role\":\"user\",\"content\":\"What is 2+2?\"}],"
                           "\"model\":\"gpt-4o-mini\",\"max_tokens\":50,\"temperature\":0.5}");
    cJSON_free(s);
    /* the canonical form, hence the cache key, is the chat request's */
    cJSON *chat = cJSON_Parse("{\"model\":\"gpt-4o-mini\",\"temperature\":0.5,\"max_tokens\":50,"
                              "\"messages\":[{\"content\":\"What is 2+2?\",\"role\":\"user\"}]}");
    struct gw_buf a = {0}, b = {0};
    assert_int_equal(gw_cache_canonical(j, &a), 0);
    assert_int_equal(gw_cache_canonical(chat, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    gw_buf_free(&a);
    gw_buf_free(&b);
    cJSON_Delete(chat);
    cJSON_Delete(j);
    /* left out when not given */
    j = gw_query_chat_json("hi", "m", -1, -1);
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "max_tokens"));
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "temperature"));
    cJSON_Delete(j);
}

static void test_timestamp(void **state)
{
    struct gw_buf b = {0};
    gw_query_timestamp(&b, 1795417252365LL);
    gw_buf_puts(&b, "");
    assert_string_equal(b.data, "\"2026-11-23T07:00:52.365Z\"");
    gw_buf_reset(&b);
    gw_query_timestamp(&b, 5);
    gw_buf_puts(&b, "");
    assert_string_equal(b.data, "\"1970-01-01T00:00:00.005Z\"");
    gw_buf_free(&b);
}

/* The error r gets for (status, type, code): its final status and body. */
static cJSON *error_of(int status, const char *type, const char *code, int *final)
{
    struct gw_request r = {0};
    r.arena = gw_arena_new(1024);
    r.api = GW_API_QUERY;
    gw_query_error(&r, status, type, code, "what went wrong");
    *final = r.status;
    assert_string_equal(r.content_type, "application/json");
    cJSON *j = cJSON_ParseWithLength(r.out.data, r.out.len);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "detail")->valuestring,
                        "what went wrong");
    assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(j, "timestamp")->valuestring), 24);
    assert_non_null(r.error); /* the usage row's code */
    gw_buf_free(&r.out);
    gw_arena_destroy(r.arena);
    return j;
}

static void check(int status, const char *type, const char *code, int want_status,
                  const char *want_code)
{
    int st;
    cJSON *j = error_of(status, type, code, &st);
    assert_int_equal(st, want_status);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "error_code")->valuestring, want_code);
    cJSON_Delete(j);
}

static void test_error_codes(void **state)
{
    /* the API's own codes pass as they are */
    check(400, "invalid_request_error", "INVALID_QUERY", 400, "INVALID_QUERY");
    check(400, "invalid_request_error", "INVALID_THRESHOLD", 400, "INVALID_THRESHOLD");
    check(500, "server_error", "CACHE_ERROR", 500, "CACHE_ERROR");
    /* the shared stages' */
    check(401, "invalid_request_error", "invalid_api_key", 401, "UNAUTHORIZED");
    check(429, "requests", "rate_limit_exceeded", 429, "RATE_LIMITED");
    check(429, "insufficient_quota", "budget_exceeded", 429, "BUDGET_EXCEEDED");
    check(403, "permission_error", "firewall_blocked", 403, "FORBIDDEN");
    check(404, "invalid_request_error", "model_not_found", 404, "MODEL_NOT_FOUND");
    check(503, "server_error", "no_healthy_deployment", 503, "SERVICE_UNAVAILABLE");
    check(503, "server_error", "shutting_down", 503, "SERVICE_UNAVAILABLE");
    check(413, "invalid_request_error", "request_too_large", 413, "REQUEST_TOO_LARGE");
    check(400, "invalid_request_error", "invalid_value", 400, "INVALID_REQUEST");
    check(500, "server_error", "internal_error", 500, "INTERNAL_ERROR");
    /* any upstream failure is a 502 LLM_ERROR */
    check(504, "upstream_error", "upstream_timeout", 502, "LLM_ERROR");
    check(400, "upstream_error", "upstream_http_400", 502, "LLM_ERROR");
    check(429, "upstream_error", "upstream_http_429", 502, "LLM_ERROR");
    check(502, "upstream_error", "upstream_unreachable", 502, "LLM_ERROR");
    check(500, NULL, NULL, 500, "INTERNAL_ERROR");
}

static void test_front(void **state)
{
    struct gw_request r = {0};
    r.api = GW_API_CHAT;
    assert_false(gw_query_front(&r));
    r.query_api = 1; /* a query, past parse_query */
    assert_true(gw_query_front(&r));
    r.query_api = 0;
    r.api = GW_API_QUERY_CACHE;
    assert_true(gw_query_front(&r));
    r.api = GW_API_MESSAGES;
    assert_false(gw_query_front(&r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_json),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_front),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

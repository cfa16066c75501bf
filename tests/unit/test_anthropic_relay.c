/* Unit tests of gatewayd/providers/anthropic_relay.c, the body relayed to an
 * Anthropic-format upstream for a /v1/messages caller: the caller's bytes
 * with only the top-level model's value spliced (whitespace, nested "model"
 * keys and escaped strings left alone), the Vertex form (model removed
 * wherever it stands, anthropic_version added), and the re-serialising
 * fallback when the splice cannot be trusted (an escaped key, a duplicate
 * model) which never lets a second model through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "providers/anthropic-int.h"
#include "request.h"

static const struct gw_provider_cfg provider = {
    .name = "anth", .type = GW_PROVIDER_ANTHROPIC, .anthropic_version = "vertex-2023-10-16"};
static const struct gw_deployment_cfg deployment = {.model = "claude-up\"stream"};

static char *relay(const char *body, int for_vertex)
{
    struct gw_arena *a = gw_arena_new(4096);
    assert_non_null(a);
    struct gw_request *r = gw_arena_calloc(a, sizeof *r);
    r->arena = a;
    r->api = GW_API_MESSAGES;
    r->provider = &provider;
    r->deployment = &deployment;
    assert_int_equal(gw_buf_puts(&r->body, body), 0);
    size_t len = 0;
    char *out = gw_anthropic_relay_body(r, for_vertex, &len);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    gw_buf_free(&r->body);
    gw_buf_free(&r->out);
    gw_arena_destroy(a);
    return out;
}

static void expect_relay(const char *body, int for_vertex, const char *want)
{
    char *got = relay(body, for_vertex);
    assert_string_equal(got, want);
    free(got);
}

static void test_splice_keeps_every_other_byte(void **state)
{
    (void)state;
    expect_relay("{\"model\":\"a\",\"max_tokens\":5}", 0,
                 "{\"model\":\"claude-up\\\"stream\",\"max_tokens\":5}");
    /* whitespace, key order and number spelling as the caller wrote them */
    expect_relay(" {\n  \"max_tokens\" : 1e2 ,\"model\" :\t\"gpt-x\" , \"stream\":true }\n", 0,
                 " {\n  \"max_tokens\" : 1e2 ,\"model\" :\t\"claude-up\\\"stream\" , "
                 "\"stream\":true }\n");
    /* "model" inside nested values and strings is not the model */
    expect_relay("{\"metadata\":{\"model\":\"x\"},\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"say \\\"model\\\":\\\"y\\\" {[\"}],\"model\":\"m\\u0031\"}",
                 0,
                 "{\"metadata\":{\"model\":\"x\"},\"messages\":[{\"role\":\"user\",\"content\":"
                 "\"say \\\"model\\\":\\\"y\\\" {[\"}],\"model\":\"claude-up\\\"stream\"}");
}

static void test_vertex_removes_model_anywhere(void **state)
{
    (void)state;
    expect_relay("{\"model\":\"a\",\"max_tokens\":5}", 1,
                 "{\"anthropic_version\":\"vertex-2023-10-16\",\"max_tokens\":5}");
    expect_relay("{\"max_tokens\":5, \"model\":\"a\", \"stream\":true}", 1,
                 "{\"anthropic_version\":\"vertex-2023-10-16\",\"max_tokens\":5,  "
                 "\"stream\":true}");
    expect_relay("{\"max_tokens\":5,\"model\":\"a\" }", 1,
                 "{\"anthropic_version\":\"vertex-2023-10-16\",\"max_tokens\":5 }");
    expect_relay("{ \"model\" : \"a\" }", 1, "{\"anthropic_version\":\"vertex-2023-10-16\"  }");
}

/* The fallback's output, parsed: the one model (or none for Vertex). */
static void expect_fallback(const char *body, int for_vertex)
{
    char *got = relay(body, for_vertex);
    cJSON *j = cJSON_Parse(got);
    assert_non_null(j);
    int models = 0;
    for (const cJSON *k = j->child; k; k = k->next)
        if (strcmp(k->string, "model") == 0) {
            models++;
            assert_string_equal(k->valuestring, deployment.model);
        }
    assert_int_equal(models, for_vertex ? 0 : 1);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "anthropic_version");
    if (for_vertex)
        assert_string_equal(v->valuestring, provider.anthropic_version);
    else
        assert_null(v);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "max_tokens"));
    cJSON_Delete(j);
    free(got);
}

static void test_untrusted_splice_falls_back(void **state)
{
    (void)state;
    /* a second model must not survive */
    expect_fallback("{\"model\":\"a\",\"max_tokens\":5,\"model\":\"expensive\"}", 0);
    expect_fallback("{\"model\":\"a\",\"max_tokens\":5,\"model\":\"expensive\"}", 1);
    /* an escaped key might spell model */
    expect_fallback("{\"model\":\"a\",\"max_tokens\":5,\"mod\\u0065l\":\"expensive\"}", 0);
    expect_fallback("{\"mod\\u0065l\":\"expensive\",\"max_tokens\":5}", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splice_keeps_every_other_byte),
        cmocka_unit_test(test_vertex_removes_model_anywhere),
        cmocka_unit_test(test_untrusted_splice_falls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of gatewayd/providers/anthropic_request.c, the OpenAI
 * chat-completions body translated into an Anthropic Messages body, for what
 * the integration cases cannot reach through the mock: the Vertex form
 * (anthropic_version instead of model), a PDF file part as a document block,
 * an assistant's refusal field kept as text, the default max_tokens when the
 * config has none, and a refusal leaving an OpenAI-shaped 400 in r. */
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

static struct gw_config cfg;
static const struct gw_provider_cfg provider = {
    .name = "anth", .type = GW_PROVIDER_ANTHROPIC, .anthropic_version = "vertex-2023-10-16"};
static const struct gw_deployment_cfg deployment = {.model = "claude-up"};

struct run {
    struct gw_arena *arena;
    struct gw_request *r;
    cJSON *out; /* the translation, parsed; NULL when refused */
};

static struct run translate(const char *openai_body, int for_vertex)
{
    struct run t = {0};
    t.arena = gw_arena_new(4096);
    assert_non_null(t.arena);
    t.r = gw_arena_calloc(t.arena, sizeof *t.r);
    t.r->arena = t.arena;
    t.r->api = GW_API_CHAT;
    t.r->cfg = &cfg;
    t.r->provider = &provider;
    t.r->deployment = &deployment;
    t.r->json = cJSON_Parse(openai_body);
    assert_non_null(t.r->json);
    size_t len = 0;
    char *body = gw_anthropic_translate(t.r, for_vertex, &len);
    if (body) {
        assert_int_equal(strlen(body), len);
        t.out = cJSON_Parse(body);
        assert_non_null(t.out);
        free(body);
    }
    return t;
}

static void done(struct run *t)
{
    cJSON_Delete(t->out);
    cJSON_Delete(t->r->json);
    gw_buf_free(&t->r->out);
    gw_arena_destroy(t->arena);
}

static void expect_json(const cJSON *got, const char *want_text)
{
    cJSON *want = cJSON_Parse(want_text);
    assert_non_null(want);
    if (!cJSON_Compare(got, want, 1)) {
        char *g = cJSON_PrintUnformatted(got);
        print_error("got  %s\nwant %s\n", g, want_text);
        free(g);
        fail();
    }
    cJSON_Delete(want);
}

static void test_vertex_form_and_default_max_tokens(void **state)
{
    (void)state;
    cfg.rate_limiting.default_max_tokens = 0; /* none configured: 1024 */
    struct run t = translate("{\"model\":\"alias\",\"messages\":[{\"role\":\"user\","
                             "\"content\":\"hi\"}]}",
                             1);
    expect_json(t.out, "{\"anthropic_version\":\"vertex-2023-10-16\",\"max_tokens\":1024,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    done(&t);

    cfg.rate_limiting.default_max_tokens = 300;
    t = translate("{\"model\":\"alias\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0);
    expect_json(t.out, "{\"model\":\"claude-up\",\"max_tokens\":300,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    done(&t);
}

static void test_pdf_refusal_field_and_ignored_keys(void **state)
{
    (void)state;
    cfg.rate_limiting.default_max_tokens = 100;
    struct run t = translate(
        "{\"model\":\"a\",\"prompt_cache_key\":\"k\",\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":{\"filename\":\"a.pdf\","
        "\"file_data\":\"data:application/pdf;base64,JVBERi0=\"}},{\"type\":\"text\","
        "\"text\":\"summarise\"}]},"
        "{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I cannot.\",\"annotations\":[]},"
        "{\"role\":\"user\",\"content\":\"why\"}]}",
        0);
    expect_json(t.out,
                "{\"model\":\"claude-up\",\"max_tokens\":100,\"messages\":["
                "{\"role\":\"user\",\"content\":[{\"type\":\"document\",\"source\":{\"type\":"
                "\"base64\",\"media_type\":\"application/pdf\",\"data\":\"JVBERi0=\"}},"
                "{\"type\":\"text\",\"text\":\"summarise\"}]},"
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"I cannot.\"}]},"
                "{\"role\":\"user\",\"content\":\"why\"}]}");
    done(&t);
}

static void test_refusal_is_an_openai_400(void **state)
{
    (void)state;
    struct run t = translate("{\"model\":\"a\",\"seed\":3,\"messages\":[{\"role\":\"user\","
                             "\"content\":\"hi\"}]}",
                             0);
    assert_null(t.out);
    assert_int_equal(t.r->status, 400);
    cJSON *err = cJSON_Parse(t.r->out.data);
    const cJSON *e = cJSON_GetObjectItem(err, "error");
    assert_string_equal(cJSON_GetObjectItem(e, "param")->valuestring, "seed");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, "unsupported_parameter");
    assert_non_null(strstr(cJSON_GetObjectItem(e, "message")->valuestring, "'anth'"));
    cJSON_Delete(err);
    done(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vertex_form_and_default_max_tokens),
        cmocka_unit_test(test_pdf_refusal_field_and_ignored_keys),
        cmocka_unit_test(test_refusal_is_an_openai_400),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

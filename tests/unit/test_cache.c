/* Unit tests of the response cache (gatewayd/cache*.c, common/config_cache.c):
 * the config section and a model's override, with their errors; the
 * canonical request (equal meaning, equal text; every output-affecting
 * change, another text) and the key (partition, model, extra); the capture
 * of each wire format, whole and streamed in pieces of every size, and its
 * refusals (errors, refusals, content filters, truncated streams, blocks it
 * cannot keep); replay into both front doors, streamed or not, read back by
 * the capture to the same answer; the store on a migrated database with the
 * writer running: hot hits, LRU eviction by entries and bytes, promotion
 * from SQLite, expiry, the SQLite tier's byte cap (least recently used
 * first), flights (lead, wait, leave, end), stats, list, show and purge;
 * the semantic tier's index (partitions, expiry, purge, reload from SQLite);
 * the writer's async items (a failing one undone alone, the usage columns
 * of a hit, the totals' triggers); and the stream copy kept for the cache
 * beyond durable_answers.max_bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "durable.h"
#include "embed.h"
#include "request.h"
#include "writer.h"

/* ---- config --------------------------------------------------------------- */

static struct gw_config *parse(const char *yaml, char *err)
{
    return gw_config_parse("t.yaml", yaml, strlen(yaml), err, 512);
}

static void expect_error(const char *yaml, const char *needle)
{
    char err[512] = "";
    struct gw_config *cfg = parse(yaml, err);
    if (cfg || !strstr(err, needle))
        fail_msg("expected an error containing '%s', got '%s'", needle, cfg ? "(loaded)" : err);
}

static const char *MODELS = "providers: [ { name: e, type: echo } ]\n"
                            "models:\n"
                            "  - name: a\n"
                            "    deployments: [ { provider: e } ]\n"
                            "  - name: b\n"
                            "    deployments: [ { provider: e } ]\n"
                            "    cache: { enabled: false, ttl: 60 }\n"
                            "  - name: c\n"
                            "    deployments: [ { provider: e } ]\n"
                            "    cache: { enabled: true }\n";

static void test_config(void **state)
{
    char err[512];
    struct gw_config *cfg = parse(MODELS, err);
    assert_non_null(cfg);
    const struct gw_cache_cfg *c = &cfg->cache;
    assert_true(c->enabled);
    assert_int_equal(c->ttl, 3600);
    assert_int_equal(c->max_entries, 10000);
    assert_int_equal(c->max_bytes, 64LL << 20);
    assert_int_equal(c->db_max_bytes, 1LL << 30);
    assert_int_equal(c->max_entry_bytes, 2LL << 20);
    assert_false(c->shared);
    assert_true(c->semantic.enabled);
    assert_string_equal(c->semantic.embedder, "local");
    assert_true(c->semantic.threshold == GW_EMBED_LOCAL_DEFAULT_THRESHOLD);
    assert_int_equal(gw_config_model(cfg, "a")->cache.mode, 0);
    assert_int_equal(gw_config_model(cfg, "a")->cache.ttl, 0);
    assert_int_equal(gw_config_model(cfg, "b")->cache.mode, -1);
    assert_int_equal(gw_config_model(cfg, "b")->cache.ttl, 60);
    assert_int_equal(gw_config_model(cfg, "c")->cache.mode, 1);
    gw_config_free(cfg);

    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "%scache: { enabled: false, ttl: 5, max_entries: 7, max_bytes: 1000, "
             "db_max_bytes: 8192, max_entry_bytes: 4096, shared: true,\n"
             "  semantic: { enabled: false, embedder: local, "
             "threshold: 0.9 } }\n",
             MODELS);
    cfg = parse(yaml, err);
    assert_non_null(cfg);
    c = &cfg->cache;
    assert_false(c->enabled);
    assert_int_equal(c->ttl, 5);
    assert_int_equal(c->max_entries, 7);
    assert_int_equal(c->max_bytes, 1000);
    assert_int_equal(c->db_max_bytes, 8192);
    assert_int_equal(c->max_entry_bytes, 4096);
    assert_true(c->shared);
    assert_false(c->semantic.enabled);
    assert_string_equal(c->semantic.embedder, "local");
    assert_true(c->semantic.threshold > 0.89 && c->semantic.threshold < 0.91);
    gw_config_free(cfg);

    expect_error("cache: { colour: red }\n", "t.yaml:1: colour: unknown key in cache");
    expect_error("cache: { ttl: 0 }\n", "ttl: 0 is out of range");
    expect_error("cache: { db_max_bytes: 10 }\n", "db_max_bytes: 10 is out of range");
    expect_error("cache: { enabled: perhaps }\n", "enabled: expected true or false");
    expect_error("cache: { semantic: { threshold: 1.5 } }\n", "threshold: a similarity");
    expect_error("cache: { semantic: { embedder: \"\" } }\n", "embedder: expected local");
    expect_error("cache: { semantic: { embedder: provider } }\n",
                 "embedder provider needs a model");
    expect_error("cache: { semantic: { embedder: openai/x } }\n",
                 "expected local or provider, got");
    expect_error("cache: { semantic: { k: 3 } }\n", "k: unknown key in cache.semantic");
    expect_error("cache: [1, 2]\n", "cache: expected a mapping");
    expect_error("providers: [ { name: e, type: echo } ]\n"
                 "models:\n"
                 "  - name: a\n"
                 "    deployments: [ { provider: e } ]\n"
                 "    cache: { ttl: 10, shared: true }\n",
                 "t.yaml:5: shared: unknown key in a model's cache (enabled, ttl)");
}

/* ---- canonical text and key ------------------------------------------------- */

static char *canon(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    struct gw_buf b = {0};
    assert_int_equal(gw_cache_canonical(j, &b), 0);
    cJSON_Delete(j);
    return b.data; /* the caller frees */
}

static void same(const char *a, const char *b)
{
    char *x = canon(a), *y = canon(b);
    if (strcmp(x, y) != 0)
        fail_msg("expected the same canonical text:\n%s\n%s\n-> %s\n-> %s", a, b, x, y);
    free(x);
    free(y);
}

static void differ(const char *a, const char *b)
{
    char *x = canon(a), *y = canon(b);
    if (strcmp(x, y) == 0)
        fail_msg("expected different canonical texts:\n%s\n%s\n-> %s", a, b, x);
    free(x);
    free(y);
}

#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void test_canonical(void **state)
{
    char *c = canon("{\"model\":\"m\",\"temperature\":0.5,\"stream\":true," MSGS
                    ",\"max_completion_tokens\":9,\"seed\":null}");
    assert_string_equal(c,
                        "{\"max_tokens\":9,\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],"
                        "\"temperature\":0.5}");
    free(c);
    const char *base = "{\"model\":\"m\"," MSGS ",\"temperature\":1,\"max_tokens\":5}";
    same(base, "{\"max_tokens\":5,\"temperature\":1.0," MSGS ",\"model\":\"other\"}");
    same(base, "{\"model\":\"m\"," MSGS ",\"temperature\":1e0,\"max_tokens\":5,\"stream\":false,"
               "\"stream_options\":{\"include_usage\":true},\"user\":\"u\",\"metadata\":{\"a\":1},"
               "\"store\":true,\"service_tier\":\"auto\",\"n\":1,\"top_p\":null}");
    same(base, "{\"model\":\"m\"," MSGS ",\"temperature\":1,\"max_completion_tokens\":5}");
    same(base, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
               "\"text\":\"hi\"}]}],\"temperature\":1,\"max_tokens\":5}");
    static const char *const changes[] = {
        "\"temperature\":0.9",
        "\"top_p\":0.5",
        "\"max_tokens\":6",
        "\"stop\":[\"x\"]",
        "\"seed\":3",
        "\"n\":2",
        "\"response_format\":{\"type\":\"json_object\"}",
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]",
        "\"tool_choice\":\"none\"",
        "\"presence_penalty\":0.1",
        "\"frequency_penalty\":0.1",
        "\"logit_bias\":{\"1\":2}",
        "\"something_new\":true",
    };
    for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
        char other[512];
        snprintf(other, sizeof other,
                 "{\"model\":\"m\"," MSGS ",\"temperature\":1,\"max_tokens\":5,%s}", changes[i]);
        /* a duplicate name (temperature, max_tokens) is a change too */
        differ(base, other);
    }
    differ(base, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi!\"}],"
                 "\"temperature\":1,\"max_tokens\":5}");
    differ(base, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
                 "{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":1,\"max_tokens\":5}");
    /* two text parts are not one string */
    differ("{" MSGS "}", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                         "\"text\":\"h\"},{\"type\":\"text\",\"text\":\"i\"}]}]}");
    /* both given: each keeps its own name */
    differ("{\"max_tokens\":5," MSGS "}",
           "{\"max_tokens\":5,\"max_completion_tokens\":5," MSGS "}");
}

static void test_key(void **state)
{
    unsigned char k[6][GW_CACHE_KEY_LEN];
    gw_cache_key("team:t", "gpt", NULL, "{}", 2, k[0]);
    gw_cache_key("team:t", "gpt", NULL, "{}", 2, k[1]);
    gw_cache_key("team:u", "gpt", NULL, "{}", 2, k[2]);
    gw_cache_key("team:t", "gpt2", NULL, "{}", 2, k[3]);
    gw_cache_key("team:t", "gpt", "beta", "{}", 2, k[4]);
    /* no two fields run into each other */
    gw_cache_key("team:tg", "pt", NULL, "{}", 2, k[5]);
    assert_memory_equal(k[0], k[1], GW_CACHE_KEY_LEN);
    for (int i = 2; i < 6; i++)
        assert_memory_not_equal(k[0], k[i], GW_CACHE_KEY_LEN);

    struct gw_arena *a = gw_arena_new(1024);
    cJSON *j =
        cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"first\"},"
                    "{\"role\":\"assistant\",\"content\":\"x\"},{\"role\":\"user\","
                    "\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\"},"
                    "{\"type\":\"text\",\"text\":\"b\"}]}]}");
    assert_string_equal(gw_cache_question(j, a), "a b");
    cJSON_Delete(j);
    j = cJSON_Parse("{\"messages\":[{\"role\":\"system\",\"content\":\"s\"}]}");
    assert_string_equal(gw_cache_question(j, a), "");
    cJSON_Delete(j);
    gw_arena_destroy(a);
}

static void test_cacheable_requests(void **state)
{
    struct gw_request r;
    memset(&r, 0, sizeof r);
    r.api = GW_API_CHAT;
    const char *why;
    static const struct {
        const char *body;
        int ok;
    } cases[] = {
        {"{" MSGS "}", 1},
        {"{" MSGS ",\"n\":1,\"logprobs\":false,\"top_logprobs\":null}", 1},
        {"{" MSGS ",\"modalities\":[\"text\"]}", 1},
        {"{" MSGS ",\"n\":3}", 0},
        {"{" MSGS ",\"logprobs\":true}", 0},
        {"{" MSGS ",\"top_logprobs\":2}", 0},
        {"{" MSGS ",\"audio\":{\"voice\":\"x\"}}", 0},
        {"{" MSGS ",\"modalities\":[\"text\",\"audio\"]}", 0},
        {"{" MSGS ",\"web_search_options\":{}}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        r.json = cJSON_Parse(cases[i].body);
        assert_int_equal(gw_cache_request_cacheable(&r, &why), cases[i].ok);
        assert_true(cases[i].ok ? why == NULL : why != NULL);
        cJSON_Delete(r.json);
    }
    r.json = cJSON_Parse("{" MSGS "}");
    r.api = GW_API_EMBEDDINGS;
    assert_false(gw_cache_request_cacheable(&r, &why));
    r.api = GW_API_MESSAGES;
    assert_true(gw_cache_request_cacheable(&r, &why));
    r.anthropic_only_code = "unsupported_content";
    assert_false(gw_cache_request_cacheable(&r, &why));
    cJSON_Delete(r.json);
}

/* ---- capture ----------------------------------------------------------------- */

/* Captures text in pieces of size piece (0: whole); 0 or -1, *why. */
static int capture(int anthropic, int sse, const char *text, size_t piece, struct gw_arena *a,
                   struct gw_cache_answer *out, const char **why)
{
    struct gw_cache_capture *c = gw_cache_capture_new(anthropic, sse);
    assert_non_null(c);
    size_t n = strlen(text);
    for (size_t off = 0; off < n; off += piece ? piece : n) {
        size_t k = piece && n - off > piece ? piece : n - off;
        gw_cache_capture_feed(c, text + off, k);
    }
    int rc = gw_cache_capture_end(c, a, out, why);
    gw_cache_capture_free(c);
    return rc;
}

static const char *OAI_WHOLE =
    "{\"id\":\"x\",\"object\":\"chat.completion\",\"model\":\"up-1\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"Calling f.\",\"refusal\":null,"
    "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
    "\"arguments\":\"{\\\"a\\\":1}\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
    "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7,\"total_tokens\":18}}";

static const char *OAI_SSE =
    "data: {\"model\":\"up-1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Calling \"}}]}\n\n"
    ": a comment\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"f.\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
    "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
    "{\"arguments\":\":1}\"}}]}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}\n\n"
    "data: [DONE]\n\n";

static const char *ANT_WHOLE =
    "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"up-1\","
    "\"content\":[{\"type\":\"text\",\"text\":\"Calling f.\"},{\"type\":\"tool_use\","
    "\"id\":\"call_1\",\"name\":\"f\",\"input\":{\"a\":1}}],\"stop_reason\":\"tool_use\","
    "\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":4,"
    "\"cache_creation_input_tokens\":2,\"output_tokens\":7}}";

static const char *ANT_SSE =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"up-1\","
    "\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: ping\ndata: {\"type\":\"ping\"}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Calling \"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"f.\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"f\",\"input\":{}}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,"
    "\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\":1}\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static void expect_tool_answer(const struct gw_cache_answer *a)
{
    assert_int_equal(a->content_len, strlen("Calling f."));
    assert_string_equal(a->content, "Calling f.");
    assert_string_equal(a->finish, "tool_calls");
    assert_int_equal(a->n_tools, 1);
    assert_string_equal(a->tools[0].id, "call_1");
    assert_string_equal(a->tools[0].name, "f");
    assert_string_equal(a->tools[0].args, "{\"a\":1}");
    assert_int_equal(a->prompt_tokens, 11);
    assert_int_equal(a->completion_tokens, 7);
    assert_string_equal(a->model, "up-1");
}

static void test_capture_formats(void **state)
{
    struct gw_arena *a = gw_arena_new(4096);
    struct gw_cache_answer ans;
    const char *why = NULL;
    assert_int_equal(capture(0, 0, OAI_WHOLE, 0, a, &ans, &why), 0);
    expect_tool_answer(&ans);
    assert_int_equal(capture(1, 0, ANT_WHOLE, 0, a, &ans, &why), 0);
    expect_tool_answer(&ans);
    /* streams in pieces of every size from 1 up: the same answer */
    for (size_t piece = 1; piece < 300; piece += piece < 20 ? 1 : 37) {
        assert_int_equal(capture(0, 1, OAI_SSE, piece, a, &ans, &why), 0);
        expect_tool_answer(&ans);
        assert_int_equal(capture(1, 1, ANT_SSE, piece, a, &ans, &why), 0);
        expect_tool_answer(&ans);
    }
    /* plain text answers: finish stop */
    assert_int_equal(capture(0, 0,
                             "{\"choices\":[{\"message\":{\"content\":\"hello\"},"
                             "\"finish_reason\":\"stop\"}]}",
                             0, a, &ans, &why),
                     0);
    assert_string_equal(ans.content, "hello");
    assert_string_equal(ans.finish, "stop");
    assert_int_equal(ans.n_tools, 0);
    assert_int_equal(capture(1, 0,
                             "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":"
                             "\"a\"}],\"stop_reason\":\"max_tokens\"}",
                             0, a, &ans, &why),
                     0);
    assert_string_equal(ans.finish, "length");
    gw_arena_destroy(a);
}

static void test_capture_refusals(void **state)
{
    static const struct {
        int anthropic, sse;
        const char *text, *why;
    } cases[] = {
        {0, 0, "{\"error\":{\"message\":\"x\"}}", "an error"},
        {0, 0, "not json", "not JSON"},
        {0, 0, "{\"choices\":[]}", "not exactly one choice"},
        {0, 0, "{\"choices\":[{\"message\":{\"content\":\"a\"}},{\"message\":{}}]}",
         "not exactly one choice"},
        {0, 0, "{\"choices\":[{\"message\":{\"content\":null,\"refusal\":\"no\"}}]}", "refusal"},
        {0, 0, "{\"choices\":[{\"message\":{\"content\":[{\"type\":\"text\"}]}}]}", "not a string"},
        {1, 0,
         "{\"type\":\"message\",\"content\":[{\"type\":\"text\"}],\"stop_reason\":\"end_turn\"}",
         "without text"},
        {0, 0, "{\"choices\":[{\"message\":{\"content\":\"a\",\"reasoning_content\":\"b\"}}]}",
         "reasoning"},
        {0, 0, "{\"choices\":[{\"message\":{\"content\":\"a\",\"annotations\":[{}]}}]}",
         "annotations"},
        {0, 0,
         "{\"choices\":[{\"message\":{\"content\":\"a\"},\"finish_reason\":"
         "\"content_filter\"}]}",
         "content filter"},
        {0, 0, "{\"choices\":[{\"message\":{\"tool_calls\":[{\"type\":\"custom\"}]}}]}",
         "not a function"},
        {0, 0,
         "{\"choices\":[{\"message\":{\"tool_calls\":[{\"type\":\"function\","
         "\"function\":{\"arguments\":\"{}\"}}]}}]}",
         "without a name"},
        {0, 1, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
         "did not end normally"},
        {0, 1,
         "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"a\"}}]}\n\n"
         "data: [DONE]\n\n",
         "more than one choice"},
        {0, 1, "data: {\"error\":{\"message\":\"broke\"}}\n\n", "an error"},
        {0, 1, "data: [DONE]\n\ndata: {}\n\n", "after the end"},
        {0, 1, "data: [DONE]\n\ndata: {}", "bytes after the last event"},
        {1, 0, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}", "an error"},
        {1, 0,
         "{\"type\":\"message\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"x\"}],"
         "\"stop_reason\":\"end_turn\"}",
         "neither text nor tool_use"},
        {1, 0, "{\"type\":\"message\",\"content\":[],\"stop_reason\":\"refusal\"}", "refusal"},
        {1, 0, "{\"type\":\"message\",\"content\":[],\"stop_reason\":\"pause_turn\"}",
         "stop reason"},
        {1, 0,
         "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"a\","
         "\"citations\":[{}]}],\"stop_reason\":\"end_turn\"}",
         "citations"},
        {1, 1, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n",
         "did not end normally"},
        {1, 1, "event: error\ndata: {\"type\":\"error\",\"error\":{}}\n\n", "an error event"},
        {1, 1,
         "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
         "\"thinking_delta\",\"thinking\":\"x\"}}\n\n",
         "a delta"},
        {1, 1,
         "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":"
         "\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
         "not a tool call"},
    };
    struct gw_arena *a = gw_arena_new(1024);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct gw_cache_answer ans;
        const char *why = NULL;
        int rc = capture(cases[i].anthropic, cases[i].sse, cases[i].text, 0, a, &ans, &why);
        if (rc != -1 || !why || !strstr(why, cases[i].why))
            fail_msg("case %zu: rc %d, why '%s', expected '%s'", i, rc, why ? why : "(none)",
                     cases[i].why);
    }
    gw_arena_destroy(a);
}

/* ---- replay ------------------------------------------------------------------- */

static void fake_request(struct gw_request *r, enum gw_api api, int stream, int usage)
{
    memset(r, 0, sizeof *r);
    r->arena = gw_arena_new(4096);
    snprintf(r->id, sizeof r->id, "req_0123456789abcdef01234567");
    r->api = api;
    r->stream = stream;
    r->client_wants_usage = usage;
    r->model_name = "asked-model";
    r->input_tokens_known = 1;
    r->input_tokens = 99; /* the gateway's own count: the replay says the answer's */
}

static void test_replay_round_trip(void **state)
{
    struct gw_cache_tool tools[] = {{"call_1", "f", "{\"a\":1}"}, {"call_2", "g", "{}"}};
    const struct gw_cache_answer answers[] = {
        {.content = "Calling f.",
         .content_len = 10,
         .tools = tools,
         .n_tools = 2,
         .finish = "tool_calls",
         .prompt_tokens = 11,
         .completion_tokens = 7},
        {.content = "just text, \"quoted\" \xe2\x82\xac",
         .content_len = 23,
         .finish = "length",
         .prompt_tokens = 3,
         .completion_tokens = 4},
        {.content = "",
         .content_len = 0,
         .tools = tools,
         .n_tools = 1,
         .finish = "tool_calls",
         .prompt_tokens = 1,
         .completion_tokens = 2},
    };
    for (size_t k = 0; k < sizeof answers / sizeof *answers; k++)
        for (int anthropic = 0; anthropic < 2; anthropic++)
            for (int stream = 0; stream < 2; stream++) {
                const struct gw_cache_answer *in = &answers[k];
                struct gw_request r;
                fake_request(&r, anthropic ? GW_API_MESSAGES : GW_API_CHAT, stream, 1);
                r.prompt_tokens = 5; /* left as they were */
                struct gw_buf out = {0};
                assert_int_equal(gw_cache_replay(&r, in, &out), 0);
                assert_int_equal(r.prompt_tokens, 5);
                assert_non_null(strstr(out.data, "asked-model"));
                struct gw_cache_answer back;
                const char *why = NULL;
                if (capture(anthropic, stream, out.data, 0, r.arena, &back, &why) != 0)
                    fail_msg("answer %zu, anthropic %d, stream %d: %s\n%s", k, anthropic, stream,
                             why, out.data);
                assert_int_equal(back.content_len, in->content_len);
                assert_memory_equal(back.content, in->content, in->content_len);
                assert_string_equal(back.finish, in->finish);
                assert_int_equal(back.n_tools, in->n_tools);
                for (size_t i = 0; i < in->n_tools; i++) {
                    assert_string_equal(back.tools[i].id, in->tools[i].id);
                    assert_string_equal(back.tools[i].name, in->tools[i].name);
                    assert_string_equal(back.tools[i].args, in->tools[i].args);
                }
                assert_int_equal(back.prompt_tokens, in->prompt_tokens);
                assert_int_equal(back.completion_tokens, in->completion_tokens);
                if (stream && !anthropic) /* the stream ends with [DONE] */
                    assert_non_null(strstr(out.data, "data: [DONE]\n\n"));
                gw_buf_free(&out);
                gw_arena_destroy(r.arena);
            }
}

static void test_answer_json(void **state)
{
    struct gw_cache_tool tools[] = {{"c\"1", "f", "{\"a\":[1]}"}};
    struct gw_cache_answer in = {.content = "x\ny",
                                 .content_len = 3,
                                 .tools = tools,
                                 .n_tools = 1,
                                 .finish = "tool_calls",
                                 .prompt_tokens = 2,
                                 .completion_tokens = 3,
                                 .model = "up",
                                 .provider = "p"};
    struct gw_buf b = {0};
    assert_int_equal(gw_cache_answer_json(&in, &b), 0);
    struct gw_arena *a = gw_arena_new(1024);
    struct gw_cache_answer out;
    assert_int_equal(gw_cache_answer_parse(b.data, b.len, a, &out), 0);
    assert_string_equal(out.content, "x\ny");
    assert_int_equal(out.content_len, 3);
    assert_string_equal(out.tools[0].id, "c\"1");
    assert_string_equal(out.tools[0].args, "{\"a\":[1]}");
    assert_string_equal(out.finish, "tool_calls");
    assert_string_equal(out.model, "up");
    assert_string_equal(out.provider, "p");
    assert_int_equal(out.prompt_tokens + out.completion_tokens, 5);
    assert_int_equal(gw_cache_answer_parse("{\"content\":1}", 13, a, &out), -1);
    assert_int_equal(gw_cache_answer_parse("[", 1, a, &out), -1);
    gw_buf_free(&b);
    gw_arena_destroy(a);
}

/* ---- the store ---------------------------------------------------------------- */

struct fixture {
    char dir[512], db[600];
};

static int store_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/gwtest-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/gateway.db", f->dir);
    char err[256];
    sqlite3 *db = gw_db_open(f->db, GW_DB_READWRITE, err, sizeof err);
    if (!db || gw_db_migrate(db, err, sizeof err) != 0)
        return -1;
    sqlite3_close(db);
    if (gw_writer_start(f->db, err, sizeof err) != 0)
        return -1;
    *state = f;
    return 0;
}

static int store_teardown(void **state)
{
    struct fixture *f = *state;
    gw_writer_stop();
    gw_cache_shutdown();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void key_of(int i, unsigned char k[GW_CACHE_KEY_LEN])
{
    char s[32];
    snprintf(s, sizeof s, "{\"i\":%d}", i);
    gw_cache_key("key:k", "m", NULL, s, strlen(s), k);
}

static void put(const struct gw_cache_cfg *cfg, int i, const char *text, long long now,
                long long ttl_ms, const char *model)
{
    struct gw_cache_answer a = {.content = text,
                                .content_len = strlen(text),
                                .finish = "stop",
                                .prompt_tokens = 3,
                                .completion_tokens = 4,
                                .provider = "p"};
    struct gw_cache_put p = {.partition = "key:k",
                             .key_id = "k",
                             .model = model,
                             .question = text,
                             .request = "{}",
                             .answer = &a,
                             .created_ms = now,
                             .expires_ms = now + ttl_ms,
                             .cost_usd = 0.5};
    key_of(i, p.key);
    gw_cache_put(cfg, &p);
}

/* HIT (releasing the entry, checking its text), or the other result. */
static enum gw_cache_found look(const struct gw_cache_cfg *cfg, int i, long long now,
                                const char *text)
{
    unsigned char k[GW_CACHE_KEY_LEN];
    key_of(i, k);
    const struct gw_cache_entry *e = NULL;
    enum gw_cache_found f = gw_cache_find(cfg, k, now, 1, 0, NULL, &e);
    if (f == GW_CACHE_HIT) {
        assert_non_null(e);
        if (text)
            assert_string_equal(e->answer.content, text);
        assert_string_equal(e->answer.provider, "p");
        assert_int_equal(e->answer.completion_tokens, 4);
        gw_cache_entry_release(e);
    } else {
        assert_null(e);
    }
    return f;
}

static long long rows(const struct fixture *f)
{
    char err[256];
    sqlite3 *db = gw_db_open(f->db, GW_DB_READONLY, err, sizeof err);
    sqlite3_stmt *st;
    long long n = -1;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM cache_entries", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void test_store_tiers(void **state)
{
    struct fixture *f = *state;
    struct gw_config cfg0 = {0};
    struct gw_cache_cfg cfg = {.enabled = 1,
                               .ttl = 60,
                               .max_entries = 2,
                               .max_bytes = 1 << 20,
                               .db_max_bytes = 1 << 20,
                               .max_entry_bytes = 1 << 20};
    cfg0.cache = cfg;
    assert_int_equal(gw_cache_init(&cfg0, f->db), 0);
    long long now = gw_wall_ms(); /* the writer prunes by the wall clock */
    struct gw_cache_stats s0, s1;
    gw_cache_stats(&s0);

    put(&cfg, 1, "one", now, 60000, "m");
    put(&cfg, 2, "two", now, 60000, "m");
    assert_int_equal(look(&cfg, 1, now, "one"), GW_CACHE_HIT); /* 2 is now the LRU */
    put(&cfg, 3, "three", now, 60000, "m");                    /* evicts 2 from memory */
    gw_cache_stats(&s1);
    assert_int_equal(s1.hot_entries, 2);
    assert_int_equal(s1.evictions_hot - s0.evictions_hot, 1);
    assert_int_equal(s1.db_reads, s0.db_reads);
    gw_writer_flush();
    assert_int_equal(rows(f), 3);
    /* 2 comes back from SQLite, promoted (evicting 1, now the LRU) */
    assert_int_equal(look(&cfg, 2, now, "two"), GW_CACHE_HIT);
    gw_cache_stats(&s1);
    assert_int_equal(s1.db_reads - s0.db_reads, 1);
    assert_int_equal(look(&cfg, 2, now, "two"), GW_CACHE_HIT);
    gw_cache_stats(&s1);
    assert_int_equal(s1.db_reads - s0.db_reads, 1); /* a hot hit reads no SQLite */
    assert_int_equal(look(&cfg, 9, now, NULL), GW_CACHE_MISS);

    /* expiry: in both tiers */
    gw_cache_stats(&s0);
    assert_int_equal(look(&cfg, 3, now + 60000, NULL), GW_CACHE_MISS);
    gw_cache_stats(&s1);
    assert_int_equal(s1.expired_hot - s0.expired_hot, 1);
    assert_int_equal(look(&cfg, 3, now + 59999, "three"), GW_CACHE_HIT);

    /* the byte bound of the hot tier: an entry larger than it is not held */
    struct gw_cache_cfg small = cfg;
    small.max_entries = 100;
    small.max_bytes = 100;
    gw_cache_stats(&s0);
    put(&small, 4, "four", now, 60000, "m");
    gw_cache_stats(&s1);
    assert_int_equal(s1.hot_entries, s0.hot_entries);
    assert_int_equal(s1.stores - s0.stores, 1);
    gw_writer_flush();
    assert_int_equal(look(&cfg, 4, now, "four"), GW_CACHE_HIT); /* from SQLite */

    /* purge by model, then list and show what is left */
    put(&cfg, 5, "five", now, 60000, "other");
    gw_writer_flush();
    assert_int_equal(rows(f), 5);
    struct gw_cache_filter by_model = {.model = "other"};
    assert_int_equal(gw_cache_purge(&by_model), 1);
    assert_int_equal(look(&cfg, 5, now, NULL), GW_CACHE_MISS);
    assert_int_equal(rows(f), 4);
    char err[256];
    sqlite3 *db = gw_db_open(f->db, GW_DB_READONLY, err, sizeof err);
    struct gw_buf out = {0};
    assert_int_equal(gw_cache_list(db, NULL, 2, &out), 2);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "entries"), 0);
    long long id = (long long)cJSON_GetObjectItem(first, "id")->valuedouble;
    assert_string_equal(cJSON_GetObjectItem(first, "partition")->valuestring, "key:k");
    cJSON_Delete(j);
    gw_buf_reset(&out);
    assert_int_equal(gw_cache_show(db, id, &out), 1);
    j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_int_equal(strlen(cJSON_GetObjectItem(j, "key")->valuestring), 64);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "answer")));
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "request")));
    cJSON_Delete(j);
    gw_buf_reset(&out);
    assert_int_equal(gw_cache_show(db, 999999, &out), 0);
    gw_buf_free(&out);
    sqlite3_close(db);
    assert_int_equal(gw_cache_purge(NULL), 4);
    assert_int_equal(rows(f), 0);
    gw_cache_stats(&s1);
    assert_int_equal(s1.hot_entries, 0);
    assert_int_equal(s1.db_entries, 0);
    assert_int_equal(s1.db_bytes, 0);
}

/* The semantic tier's index: a vector put with an entry is found in its
 * partition only, by similarity, with its question; the entry is read back
 * by key (from SQLite once out of memory); expired entries are not
 * returned; purge and the SQLite cap take vectors out; a restart (shutdown,
 * init) reads them back from SQLite. */
static void put_vec(const struct gw_cache_cfg *cfg, int i, const char *question, uint64_t part,
                    long long now, long long ttl_ms)
{
    float v[GW_EMBED_LOCAL_DIM];
    assert_int_equal(gw_embed_local(question, strlen(question), v), 0);
    struct gw_cache_answer a = {.content = "answer", .content_len = 6, .finish = "stop"};
    struct gw_cache_put p = {.partition = "key:k",
                             .key_id = "k",
                             .model = "m",
                             .question = question,
                             .request = "{}",
                             .embedding = v,
                             .sem_partition = part,
                             .answer = &a,
                             .created_ms = now,
                             .expires_ms = now + ttl_ms};
    key_of(i, p.key);
    gw_cache_put(cfg, &p);
}

static int sem_search(const char *q, uint64_t part, long long now, struct gw_cache_sem_match *m)
{
    float v[GW_EMBED_LOCAL_DIM];
    assert_int_equal(gw_embed_local(q, strlen(q), v), 0);
    struct gw_arena *a = gw_arena_new(1024);
    int n = gw_cache_sem_search(part, v, 0.8f, now, a, m, GW_CACHE_SEM_MAX);
    for (int i = 0; i < n; i++) /* copied out of the arena for the caller */
        m[i].question =
            strcmp(m[i].question, "what is the capital of France?") == 0 ? "france" : "other";
    gw_arena_destroy(a);
    return n;
}

static void test_semantic_index(void **state)
{
    struct fixture *f = *state;
    struct gw_config cfg0 = {0};
    struct gw_cache_cfg cfg = {.enabled = 1,
                               .ttl = 60,
                               .max_entries = 0, /* nothing in memory: every read is SQLite's */
                               .max_bytes = 1 << 20,
                               .db_max_bytes = 1 << 20,
                               .max_entry_bytes = 1 << 20};
    cfg0.cache = cfg;
    assert_int_equal(gw_cache_init(&cfg0, f->db), 0);
    long long now = gw_wall_ms();
    put_vec(&cfg, 1, "what is the capital of France?", 7, now, 60000);
    put_vec(&cfg, 2, "how tall is Mount Everest?", 7, now, 60000);
    put_vec(&cfg, 3, "what is the capital of France?", 8, now, 1000);
    struct gw_cache_stats s;
    gw_cache_stats(&s);
    assert_int_equal(s.semantic_entries, 3);

    struct gw_cache_sem_match m[GW_CACHE_SEM_MAX];
    assert_int_equal(sem_search("What's the capital of france", 7, now, m), 1);
    assert_string_equal(m[0].question, "france");
    assert_true(m[0].sim > 0.99f);
    unsigned char k1[GW_CACHE_KEY_LEN];
    key_of(1, k1);
    assert_memory_equal(m[0].key, k1, GW_CACHE_KEY_LEN);
    assert_int_equal(sem_search("What's the capital of france", 9, now, m), 0); /* partition */
    assert_int_equal(sem_search("What's the capital of france", 8, now, m), 1);
    assert_int_equal(sem_search("What's the capital of france", 8, now + 1000, m), 0); /* expiry */

    /* the entry behind a match, from SQLite (the hot tier holds nothing) */
    gw_writer_flush();
    const struct gw_cache_entry *e = gw_cache_get(&cfg, k1, now);
    assert_non_null(e);
    assert_string_equal(e->answer.content, "answer");
    gw_cache_entry_release(e);
    assert_null(gw_cache_get(&cfg, k1, now + 60000));

    /* a restart reads the live vectors back */
    gw_writer_flush();
    gw_cache_shutdown();
    gw_cache_stats(&s);
    assert_int_equal(s.semantic_entries, 0);
    assert_int_equal(gw_cache_init(&cfg0, f->db), 0);
    gw_cache_stats(&s);
    assert_int_equal(s.semantic_entries, 3);
    assert_int_equal(sem_search("the capital of France is what?", 7, now, m), 1);

    /* purge takes the vectors of what it deletes */
    struct gw_cache_filter by_model = {.model = "m"};
    assert_int_equal(gw_cache_purge(&by_model), 3);
    gw_cache_stats(&s);
    assert_int_equal(s.semantic_entries, 0);
    assert_int_equal(sem_search("What's the capital of france", 7, now, m), 0);

    /* removing by key */
    put_vec(&cfg, 4, "who wrote Hamlet?", 7, now, 60000);
    unsigned char k4[GW_CACHE_KEY_LEN];
    key_of(4, k4);
    gw_cache_sem_remove(k4);
    assert_int_equal(sem_search("who wrote hamlet", 7, now, m), 0);
    gw_writer_flush();
}

static void test_store_db_cap(void **state)
{
    struct fixture *f = *state;
    struct gw_config cfg0 = {0};
    struct gw_cache_cfg cfg = {.enabled = 1,
                               .ttl = 60,
                               .max_entries = 100,
                               .max_bytes = 0,
                               .db_max_bytes = 4096,
                               .max_entry_bytes = 1 << 20};
    cfg0.cache = cfg;
    assert_int_equal(gw_cache_init(&cfg0, f->db), 0);
    char text[800];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    long long now = gw_wall_ms();
    struct gw_cache_stats s0, s1;
    gw_cache_stats(&s0);
    /* an answer already past its expiry: the first store prunes it */
    put(&cfg, 20, "stale", now - 5000, 1000, "m");
    gw_writer_flush();
    gw_cache_stats(&s1);
    assert_int_equal(s1.expired_db - s0.expired_db, 1);
    assert_int_equal(rows(f), 0);
    for (int i = 10; i < 13; i++) { /* each row about 1.9 KB: two fit */
        text[0] = (char)('a' + i);
        put(&cfg, i, text, now + i, 60000, "m");
        gw_writer_flush();
    }
    gw_cache_stats(&s1);
    assert_int_equal(rows(f), 2);
    assert_true(s1.db_bytes <= 4096 && s1.db_bytes > 2048);
    assert_int_equal(s1.db_entries, 2);
    assert_int_equal(s1.evictions_db - s0.evictions_db, 1);
    assert_int_equal(look(&cfg, 10, now, NULL), GW_CACHE_MISS); /* the oldest went */
    assert_int_equal(look(&cfg, 11, now, NULL), GW_CACHE_HIT);
    gw_cache_touch((unsigned char[GW_CACHE_KEY_LEN]){0}, now); /* unknown: nothing */
    unsigned char k11[GW_CACHE_KEY_LEN];
    key_of(11, k11);
    gw_cache_touch(k11, now + 100); /* 11 used after 12 was made */
    text[0] = 'z';
    put(&cfg, 13, text, now + 200, 60000, "m");
    gw_writer_flush();
    assert_int_equal(look(&cfg, 12, now, NULL), GW_CACHE_MISS); /* least recently used */
    assert_int_equal(look(&cfg, 11, now, NULL), GW_CACHE_HIT);
    assert_int_equal(look(&cfg, 13, now, NULL), GW_CACHE_HIT);
    assert_int_equal(gw_cache_purge(NULL), 2);
}

static void test_flights(void **state)
{
    struct fixture *f = *state;
    struct gw_config cfg0 = {0};
    struct gw_cache_cfg cfg = {.enabled = 1,
                               .ttl = 60,
                               .max_entries = 100,
                               .max_bytes = 1 << 20,
                               .db_max_bytes = 1 << 20,
                               .max_entry_bytes = 1 << 20};
    cfg0.cache = cfg;
    assert_int_equal(gw_cache_init(&cfg0, f->db), 0);
    unsigned char k[GW_CACHE_KEY_LEN];
    key_of(50, k);
    const struct gw_cache_entry *e;
    struct gw_cache_waiter w[3];
    memset(w, 0, sizeof w);
    long long now = gw_wall_ms();
    assert_int_equal(gw_cache_find(&cfg, k, now, 1, 1, &w[0], &e), GW_CACHE_LEAD);
    assert_false(atomic_load(&w[0].attached));
    /* a second would-be leader joins instead; one that cannot wait misses */
    assert_int_equal(gw_cache_find(&cfg, k, now, 1, 1, &w[0], &e), GW_CACHE_WAIT);
    assert_int_equal(gw_cache_find(&cfg, k, now, 1, 0, &w[1], &e), GW_CACHE_WAIT);
    assert_int_equal(gw_cache_find(&cfg, k, now, 1, 0, &w[2], &e), GW_CACHE_WAIT);
    assert_int_equal(gw_cache_find(&cfg, k, now, 1, 1, NULL, &e), GW_CACHE_MISS);
    assert_int_equal(gw_cache_find(&cfg, k, now, 0, 1, NULL, &e), GW_CACHE_MISS); /* refresh */
    assert_true(atomic_load(&w[1].attached));
    assert_int_equal(gw_cache_flight_leave(k, &w[1]), 1);
    assert_int_equal(gw_cache_flight_leave(k, &w[1]), 0);
    assert_false(atomic_load(&w[1].attached));
    struct gw_cache_waiter *list = gw_cache_flight_end(k);
    assert_ptr_equal(list, &w[0]);
    assert_ptr_equal(list->next, &w[2]);
    assert_null(w[2].next);
    assert_false(atomic_load(&w[0].attached) || atomic_load(&w[2].attached));
    assert_int_equal(gw_cache_flight_leave(k, &w[2]), 0); /* its leader took it */
    assert_null(gw_cache_flight_end(k));
    /* with the flight over, the next one leads again */
    assert_int_equal(gw_cache_find(&cfg, k, now, 1, 1, &w[0], &e), GW_CACHE_LEAD);
    /* a leader stores before it ends its flight: followers find the entry */
    put(&cfg, 50, "done", now, 60000, "m");
    assert_int_equal(gw_cache_find(&cfg, k, now, 1, 1, &w[1], &e), GW_CACHE_HIT);
    gw_cache_entry_release(e);
    assert_null(gw_cache_flight_end(k));
    gw_writer_flush();
    assert_true(gw_cache_purge(NULL) >= 1);
}

/* ---- the writer's async items ------------------------------------------------ */

struct probe_item {
    struct gw_write_async a;
    int fail, *released;
    long long id;
};

static int probe_fn(sqlite3 *db, void *arg)
{
    struct probe_item *p = arg;
    char sql[300];
    snprintf(sql, sizeof sql,
             "INSERT INTO cache_entries (id, key, partition, model, request, answer, created_at, "
             "expires_at, used_at, bytes) VALUES (%lld, randomblob(32), 'p', 'm', '{}', '{}', 0, "
             "0, 0, 100)",
             p->id);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK && p->fail ? SQLITE_CONSTRAINT : rc;
}

static void probe_release(struct gw_write_async *a)
{
    struct probe_item *p = (struct probe_item *)a;
    (*p->released)++;
    free(p);
}

static void post_probe(long long id, int fail, int *released)
{
    struct probe_item *p = calloc(1, sizeof *p);
    p->a.fn = probe_fn;
    p->a.release = probe_release;
    p->fail = fail;
    p->released = released;
    p->id = id;
    gw_writer_post(&p->a);
}

/* A failing async change is undone alone: the usage row and the good change
 * of the same batch are committed, and every item is released. */
static void test_writer_async_items(void **state)
{
    struct fixture *f = *state;
    int released = 0;
    post_probe(7001, 1, &released);
    struct gw_usage_rec *u = calloc(1, sizeof *u);
    snprintf(u->request_id, sizeof u->request_id, "req_async");
    u->endpoint = strdup("/v1/chat/completions");
    u->cache_hit = strdup("exact");
    u->saved_tokens = 12;
    u->saved_cost_usd = 0.25;
    u->status = 200;
    gw_writer_push_usage(u);
    post_probe(7002, 0, &released);
    gw_writer_flush();
    assert_int_equal(released, 2);
    char err[256];
    sqlite3 *db = gw_db_open(f->db, GW_DB_READONLY, err, sizeof err);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT COUNT(*) FROM cache_entries WHERE id = "
                                        "7001), (SELECT COUNT(*) FROM cache_entries WHERE id = "
                                        "7002), cache_hit, saved_tokens, saved_cost_usd, "
                                        "(SELECT entries || '/' || bytes FROM cache_totals) "
                                        "FROM usage WHERE request_id = 'req_async'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    assert_int_equal(sqlite3_column_int(st, 1), 1);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "exact");
    assert_int_equal(sqlite3_column_int(st, 3), 12);
    assert_true(sqlite3_column_double(st, 4) == 0.25);
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "1/100"); /* the triggers */
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- the stream copy kept for the cache -------------------------------------- */

static int count_bytes(void *arg, const char *p, size_t n)
{
    *(size_t *)arg += n;
    return 0;
}

static void test_stream_copy_for_the_cache(void **state)
{
    struct gw_request r;
    struct gw_config cfg;
    memset(&r, 0, sizeof r);
    memset(&cfg, 0, sizeof cfg);
    cfg.durable_answers.store = GW_DURABLE_ALL;
    cfg.durable_answers.max_bytes = 1024;
    r.cfg = &cfg;
    r.who.key_id = "key_1";
    r.status = 200;
    r.streaming = 1;
    r.cache_keep = 10000;
    static char data[5000];
    memset(data, 'd', sizeof data);
    gw_durable_keep(&r, data, 3000);
    gw_durable_keep(&r, data, 2000);
    size_t n = 0;
    assert_int_equal(gw_durable_each(&r.kept, count_bytes, &n), 0);
    assert_int_equal(n, 5000); /* the cache's bound, not durable_answers' */
    struct gw_answer_rec *a = gw_durable_capture(&r);
    assert_non_null(a);
    assert_int_equal(a->len, 1024); /* the durable row is still cut at its own */
    assert_int_equal(a->total, 5000);
    assert_false(a->complete);
    free(a->body);
    free(a->content_type);
    free(a);
    gw_durable_free(&r.kept);
    memset(&r.kept, 0, sizeof r.kept); /* a new request's */
    /* durable answers off: the cache alone keeps its copy */
    cfg.durable_answers.store = GW_DURABLE_OFF;
    gw_durable_keep(&r, data, 100);
    assert_int_equal(r.kept.len, 100);
    gw_durable_free(&r.kept);
    memset(&r.kept, 0, sizeof r.kept);
    r.cache_keep = 0;
    gw_durable_keep(&r, data, 100);
    assert_int_equal(r.kept.len, 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_cacheable_requests),
        cmocka_unit_test(test_capture_formats),
        cmocka_unit_test(test_capture_refusals),
        cmocka_unit_test(test_replay_round_trip),
        cmocka_unit_test(test_answer_json),
        cmocka_unit_test_setup_teardown(test_store_tiers, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_store_db_cap, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_semantic_index, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_flights, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(test_writer_async_items, store_setup, store_teardown),
        cmocka_unit_test(test_stream_copy_for_the_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

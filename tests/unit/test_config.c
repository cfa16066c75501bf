/* Unit tests of common/config.c: defaults, every kind of error with its
 * file:line:key, secrets from env: and file:, inheritance of timeouts, and
 * the routing keys (strategies, weights, priorities, deployment prices, the
 * circuit breaker's defaults and a model's overrides). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

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

static void test_embedded_default(void **state)
{
    char err[512];
    unsetenv("OPENAI_API_KEY");
    struct gw_config *cfg = gw_config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg->listen_host, "127.0.0.1");
    assert_int_equal(cfg->listen_port, 8080);
    assert_string_equal(cfg->data_dir, "./var");
    assert_string_equal(cfg->admin_socket, "./var/gwctl.sock");
    assert_non_null(gw_config_model(cfg, "echo"));
    assert_null(gw_config_model(cfg, "gpt-4o-mini"));
    assert_int_equal(cfg->limits.max_body_bytes, 33554432);
    assert_int_equal(cfg->timeouts.first_byte_ms, 60000);
    gw_config_free(cfg);
}

static void test_default_with_openai_env(void **state)
{
    char err[512];
    setenv("OPENAI_API_KEY", "sk-test-123", 1);
    struct gw_config *cfg = gw_config_load(NULL, err, sizeof err);
    unsetenv("OPENAI_API_KEY");
    assert_non_null(cfg);
    const struct gw_model_cfg *m = gw_config_model(cfg, "gpt-4o-mini");
    assert_non_null(m);
    const struct gw_provider_cfg *p = &cfg->providers[m->deployments[0].provider];
    assert_string_equal(p->name, "openai");
    assert_string_equal(p->api_key, "sk-test-123");
    assert_string_equal(p->base_url, "https://api.openai.com/v1");
    /* models added from the environment get the global timeouts */
    assert_int_equal(m->timeouts.first_byte_ms, 60000);
    assert_int_equal(m->timeouts.connect_ms, 5000);
    assert_int_equal(gw_config_provider_index(cfg, "groq"), -1);
    gw_config_free(cfg);
}

static void test_presets(void **state)
{
    char err[512];
    setenv("GROQ_API_KEY", "gsk-test", 1);
    unsetenv("OPENAI_API_KEY");
    struct gw_config *cfg = gw_config_load(NULL, err, sizeof err);
    unsetenv("GROQ_API_KEY");
    assert_non_null(cfg);
    int g = gw_config_provider_index(cfg, "groq");
    assert_true(g >= 0);
    assert_int_equal(cfg->providers[g].type, GW_PROVIDER_OPENAI);
    assert_string_equal(cfg->providers[g].base_url, "https://api.groq.com/openai/v1");
    assert_string_equal(cfg->providers[g].api_key, "gsk-test");
    assert_null(gw_config_model(cfg, "gpt-4o-mini")); /* only OpenAI brings models */
    gw_config_free(cfg);

    const char *yaml = "providers:\n"
                       "  - { name: local, type: ollama }\n"
                       "  - { name: mine, type: vllm, base_url: 'http://10.1.2.3:9000/v1' }\n"
                       "  - { name: ds, type: deepseek }\n";
    cfg = gw_config_parse("p.yaml", yaml, strlen(yaml), err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->providers[0].base_url, "http://127.0.0.1:11434/v1");
    assert_string_equal(cfg->providers[0].preset, "ollama");
    assert_null(cfg->providers[0].api_key);
    assert_string_equal(cfg->providers[1].base_url, "http://10.1.2.3:9000/v1");
    assert_string_equal(cfg->providers[2].base_url, "https://api.deepseek.com/v1");
    gw_config_free(cfg);
}

/* The translated provider types: their defaults, and what each cannot do
 * without. */
static void test_provider_types(void **state)
{
    char err[512];
    setenv("GW_TEST_AWS_ID", "AKIDEXAMPLE", 1);
    setenv("GW_TEST_AWS_SECRET", "secret/KEY", 1);
    unsetenv("AWS_SESSION_TOKEN");
    const char *yaml = "providers:\n"
                       "  - { name: a, type: anthropic, api_key: env:GW_TEST_AWS_ID }\n"
                       "  - { name: g, type: gemini }\n"
                       "  - name: b\n"
                       "    type: bedrock\n"
                       "    region: eu-west-3\n"
                       "    aws_access_key_id: env:GW_TEST_AWS_ID\n"
                       "    aws_secret_access_key: env:GW_TEST_AWS_SECRET\n"
                       "  - { name: v, type: vertex, region: europe-west1,\n"
                       "      credentials_file: tests/fixtures/vertex-sa.json }\n"
                       "  - { name: vg, type: vertex, region: global, project: other,\n"
                       "      credentials_file: tests/fixtures/vertex-sa.json }\n";
    struct gw_config *cfg = gw_config_parse("p.yaml", yaml, strlen(yaml), err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->providers[0].type, GW_PROVIDER_ANTHROPIC);
    assert_string_equal(cfg->providers[0].base_url, "https://api.anthropic.com");
    assert_string_equal(cfg->providers[0].anthropic_version, "2023-06-01");
    assert_int_equal(cfg->providers[1].type, GW_PROVIDER_GEMINI);
    assert_string_equal(cfg->providers[1].base_url, "https://generativelanguage.googleapis.com");
    assert_int_equal(cfg->providers[2].type, GW_PROVIDER_BEDROCK);
    assert_string_equal(cfg->providers[2].base_url,
                        "https://bedrock-runtime.eu-west-3.amazonaws.com");
    assert_string_equal(cfg->providers[2].aws_access_key_id, "AKIDEXAMPLE");
    assert_string_equal(cfg->providers[2].aws_secret_access_key, "secret/KEY");
    assert_null(cfg->providers[2].aws_session_token);
    assert_int_equal(cfg->providers[3].type, GW_PROVIDER_VERTEX);
    assert_string_equal(cfg->providers[3].base_url,
                        "https://europe-west1-aiplatform.googleapis.com");
    assert_string_equal(cfg->providers[3].project, "gw-test-project"); /* from the key file */
    assert_string_equal(cfg->providers[3].anthropic_version, "vertex-2023-10-16");
    assert_non_null(cfg->providers[3].gcp_sa);
    assert_string_equal(cfg->providers[4].base_url, "https://aiplatform.googleapis.com");
    assert_string_equal(cfg->providers[4].project, "other");
    assert_string_equal(gw_provider_type_name(GW_PROVIDER_BEDROCK), "bedrock");
    gw_config_free(cfg);

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    expect_error("providers:\n  - { name: b, type: bedrock }\n", "needs a region");
    expect_error("providers:\n  - { name: b, type: bedrock, region: us-east-1 }\n",
                 "needs AWS credentials");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    const char *env_yaml = "providers:\n  - { name: b, type: bedrock, region: us-east-1 }\n";
    cfg = gw_config_parse("p.yaml", env_yaml, strlen(env_yaml), err, sizeof err);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->providers[0].aws_access_key_id, "AKIDENV");
    gw_config_free(cfg);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    expect_error("providers:\n  - { name: v, type: vertex }\n", "needs credentials_file");
    expect_error("providers:\n  - { name: v, type: vertex, credentials_file: /nonexistent.json }\n",
                 "t.yaml:2: v: service account file /nonexistent.json");
    unsetenv("GW_TEST_AWS_ID");
    unsetenv("GW_TEST_AWS_SECRET");
}

static void test_full_config(void **state)
{
    char err[512];
    setenv("GWTEST_KEY", "secret-from-env", 1);
    const char *yaml = "listen: \"[::1]:9000\"\n"
                       "data_dir: /tmp/x\n"
                       "providers:\n"
                       "  - { name: up, type: openai, base_url: 'http://127.0.0.1:1/v1/', api_key: "
                       "env:GWTEST_KEY }\n"
                       "models:\n"
                       "  - name: m1\n"
                       "    deployments: [ { provider: up, model: real-m1 } ]\n"
                       "    pricing: { input_per_mtok: 1.5, output_per_mtok: 2 }\n"
                       "    timeouts: { first_byte_ms: 500 }\n"
                       "  - name: m2\n"
                       "    deployments: [ { provider: up } ]\n"
                       "timeouts: { idle_ms: 7000 }\n"
                       "limits: { max_body_bytes: 4096 }\n";
    struct gw_config *cfg = parse(yaml, err);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->listen_host, "::1");
    assert_int_equal(cfg->listen_port, 9000);
    assert_string_equal(cfg->admin_socket, "/tmp/x/gwctl.sock");
    assert_string_equal(cfg->providers[0].base_url, "http://127.0.0.1:1/v1");
    assert_string_equal(cfg->providers[0].api_key, "secret-from-env");
    const struct gw_model_cfg *m1 = gw_config_model(cfg, "m1");
    assert_string_equal(m1->deployments[0].model, "real-m1");
    assert_true(m1->pricing.input_per_mtok == 1.5);
    assert_int_equal(m1->timeouts.first_byte_ms, 500);
    assert_int_equal(m1->timeouts.idle_ms, 7000);
    assert_int_equal(m1->timeouts.connect_ms, 5000);
    assert_string_equal(gw_config_model(cfg, "m2")->deployments[0].model, "m2");
    assert_int_equal(cfg->limits.max_body_bytes, 4096);
    gw_config_free(cfg);
}

static void test_secret_from_file(void **state)
{
    char path[] = "/tmp/gwtest-secret-XXXXXX", err[512], yaml[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "filesecret\n", 11), 11);
    close(fd);
    snprintf(yaml, sizeof yaml, "providers:\n  - { name: p, type: openai, api_key: 'file:%s' }\n",
             path);
    struct gw_config *cfg = parse(yaml, err);
    unlink(path);
    if (!cfg)
        fail_msg("%s", err);
    assert_string_equal(cfg->providers[0].api_key, "filesecret");
    gw_config_free(cfg);
}

static void test_errors(void **state)
{
    expect_error("listen: 1.2.3.4:80\nbogus: 1\n", "t.yaml:2: bogus: unknown key");
    expect_error("limits:\n  max_body_bytes: lots\n",
                 "t.yaml:2: max_body_bytes: expected an integer");
    expect_error("providers:\n  - { name: a, type: carrier-pigeon }\n", "t.yaml:2: type:");
    expect_error("providers:\n  - { name: a, type: carrier-pigeon }\n", "groq");
    expect_error("providers:\n  - { name: a, type: openai, api_key: sk-plain }\n",
                 "never written in clear");
    expect_error("providers:\n  - { name: a, type: openai, api_key: env:GW_SURELY_UNSET_VAR }\n",
                 "GW_SURELY_UNSET_VAR is not set");
    expect_error("models:\n  - name: x\n    deployments: [ { provider: nope } ]\n",
                 "t.yaml:3: provider: no provider named 'nope'");
    expect_error("models:\n  - name: x\n", "needs at least one deployment");
    expect_error("listen: localhost\n", "t.yaml:1: listen: expected HOST:PORT");
    expect_error("providers:\n  - { name: a, type: echo }\n  - { name: a, type: echo }\n",
                 "provider name used twice");
    expect_error("timeouts: { connect_ms: -5 }\n", "out of range");
    expect_error("models: [ { name: x, deployments: [ { provider: echo, colour: red } ] } ]\n",
                 "colour: unknown key in a deployment");
    expect_error("key: [unclosed\n", "t.yaml:");
}

static void test_routing(void **state)
{
    char err[512];
    const char *yaml = "providers:\n"
                       "  - { name: p, type: echo }\n"
                       "  - { name: q, type: echo }\n"
                       "routing:\n"
                       "  strategy: least-busy\n"
                       "  circuit_breaker: { failures: 7, cooldown_s: 11 }\n"
                       "models:\n"
                       "  - name: plain\n"
                       "    deployments: [ { provider: p } ]\n"
                       "  - name: group\n"
                       "    strategy: weighted\n"
                       "    circuit_breaker: { failure_rate: 0.25, window_s: 5 }\n"
                       "    pricing: { input_per_mtok: 1, output_per_mtok: 2 }\n"
                       "    deployments:\n"
                       "      - { provider: p, model: late, priority: 2 }\n"
                       "      - { provider: q, model: first, priority: -1, weight: 3 }\n"
                       "      - { provider: p, model: tie-a, weight: 0,\n"
                       "          pricing: { input_per_mtok: 0.5, output_per_mtok: 0.5 } }\n"
                       "      - { provider: q, model: tie-b }\n";
    struct gw_config *cfg = gw_config_parse("r.yaml", yaml, strlen(yaml), err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    const struct gw_model_cfg *plain = gw_config_model(cfg, "plain");
    assert_int_equal(plain->index, 0);
    assert_int_equal(plain->strategy, GW_STRATEGY_LEAST_BUSY); /* routing.strategy */
    assert_int_equal(plain->breaker.enabled, 1);
    assert_int_equal(plain->breaker.failures, 7);
    assert_true(plain->breaker.failure_rate == 0.5); /* the built-in default */
    assert_int_equal(plain->breaker.min_requests, 10);
    assert_int_equal(plain->breaker.window_s, 60);
    assert_int_equal(plain->breaker.cooldown_s, 11);
    assert_int_equal(plain->deployments[0].weight, 1);
    assert_int_equal(plain->deployments[0].priority, 0);
    assert_false(plain->deployments[0].has_pricing);

    const struct gw_model_cfg *g = gw_config_model(cfg, "group");
    assert_int_equal(g->index, 1);
    assert_int_equal(g->strategy, GW_STRATEGY_WEIGHTED);
    assert_int_equal(g->breaker.failures, 7); /* the model overrides only what it names */
    assert_true(g->breaker.failure_rate == 0.25);
    assert_int_equal(g->breaker.window_s, 5);
    assert_int_equal(g->breaker.cooldown_s, 11);
    /* sorted by priority, ties in file order */
    assert_string_equal(g->deployments[0].model, "first");
    assert_string_equal(g->deployments[1].model, "tie-a");
    assert_string_equal(g->deployments[2].model, "tie-b");
    assert_string_equal(g->deployments[3].model, "late");
    assert_int_equal(g->deployments[0].weight, 3);
    assert_int_equal(g->deployments[0].priority, -1);
    assert_string_equal(cfg->providers[g->deployments[0].provider].name, "q");
    assert_int_equal(g->deployments[1].weight, 0);
    assert_true(g->deployments[1].has_pricing);
    assert_true(g->deployments[1].pricing.input_per_mtok == 0.5);
    assert_false(g->deployments[2].has_pricing);
    assert_string_equal(gw_strategy_name(GW_STRATEGY_ROUND_ROBIN), "round-robin");
    gw_config_free(cfg);

    /* the defaults when routing: is left out */
    cfg = parse("models: [ { name: x, deployments: [ { provider: echo } ] } ]\n"
                "providers: [ { name: echo, type: echo } ]\n",
                err);
    if (!cfg)
        fail_msg("%s", err);
    const struct gw_model_cfg *x = gw_config_model(cfg, "x");
    assert_int_equal(x->strategy, GW_STRATEGY_FALLBACK);
    assert_int_equal(x->breaker.failures, 5);
    assert_int_equal(x->breaker.cooldown_s, 30);
    gw_config_free(cfg);
}

static void test_routing_errors(void **state)
{
    const char *p = "providers: [ { name: e, type: echo } ]\n";
    char yaml[512];
#define MODEL(extra) (snprintf(yaml, sizeof yaml, "%smodels:\n  - name: x\n%s", p, extra), yaml)
    expect_error(MODEL("    strategy: fastest\n    deployments: [ { provider: e } ]\n"),
                 "t.yaml:4: strategy: expected fallback, round-robin, weighted, latency, "
                 "least-busy or cost, got 'fastest'");
    expect_error(MODEL("    deployments: [ { provider: e, weight: -1 } ]\n"),
                 "t.yaml:4: weight: -1 is out of range");
    expect_error(MODEL("    deployments: [ { provider: e, priority: high } ]\n"),
                 "t.yaml:4: priority: expected an integer");
    expect_error(MODEL("    deployments: [ { provider: e, pricing: { input: 1 } } ]\n"),
                 "t.yaml:4: input: unknown key in pricing");
    expect_error(MODEL("    circuit_breaker: { failure_rate: 1.5 }\n"
                       "    deployments: [ { provider: e } ]\n"),
                 "t.yaml:4: failure_rate: a share between 0 and 1");
    expect_error(MODEL("    circuit_breaker: { trips: 3 }\n    deployments: [ { provider: e } ]\n"),
                 "t.yaml:4: trips: unknown key in circuit_breaker");
    expect_error(MODEL("    circuit_breaker: { window_s: 0 }\n"
                       "    deployments: [ { provider: e } ]\n"),
                 "t.yaml:4: window_s: 0 is out of range");
    expect_error(
        MODEL("    deployments: [ { provider: e, model: m }, { provider: e, model: m } ]\n"),
        "t.yaml:4: deployments: provider 'e' with model 'm' is listed twice");
    expect_error(MODEL("    fallbacks: [ y ]\n    deployments: [ { provider: e } ]\n"),
                 "t.yaml:4: fallbacks: no model named 'y'");
    expect_error(
        MODEL("    context_window_fallbacks: [ x ]\n    deployments: [ { provider: e } ]\n"),
        "t.yaml:4: context_window_fallbacks: a model cannot fall back to itself");
    expect_error(MODEL("    retries: { attempts: 0 }\n    deployments: [ { provider: e } ]\n"),
                 "t.yaml:4: attempts: 0 is out of range");
#undef MODEL
    expect_error("routing:\n  strategy: random\n", "t.yaml:2: strategy: expected fallback");
    expect_error("routing:\n  retries: { tries: 3 }\n", "t.yaml:2: tries: unknown key in retries");
    expect_error("routing:\n  retry: 3\n", "t.yaml:2: retry: unknown key in routing");
    expect_error("routing:\n  circuit_breaker: { cooldown_s: soon }\n",
                 "t.yaml:2: cooldown_s: expected an integer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_default), cmocka_unit_test(test_default_with_openai_env),
        cmocka_unit_test(test_provider_types),   cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_secret_from_file), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_presets),          cmocka_unit_test(test_routing),
        cmocka_unit_test(test_routing_errors),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}

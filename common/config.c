/* Configuration loading. YAML is read into libyaml's document tree (which
 * keeps line numbers), then walked by small per-section functions that know
 * each section's keys. Every unknown key, wrong type or bad value stops the
 * load with "FILE:LINE: key: message". Defaults are set before parsing, so a
 * section left out means its defaults. All memory lives in cfg->arena. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "arena.h"
#include "embedded.h"
#include "config-int.h"
#include "gcp_auth.h"

/* ---- timeouts, limits --------------------------------------------------- */

static int timeouts_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_timeouts *t = arg;
    int *dst = strcmp(k, "connect_ms") == 0      ? &t->connect_ms
               : strcmp(k, "first_byte_ms") == 0 ? &t->first_byte_ms
               : strcmp(k, "idle_ms") == 0       ? &t->idle_ms
               : strcmp(k, "total_ms") == 0      ? &t->total_ms
                                                 : NULL;
    if (!dst)
        return gw_cfg_fail(c, v, k, "unknown key in timeouts");
    return gw_cfg_int(c, v, k, 1, 86400000, dst);
}

static int limits_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_limits *l = arg;
    if (strcmp(k, "max_body_bytes") == 0)
        return gw_cfg_ll(c, v, k, 1024, 1LL << 34, &l->max_body_bytes);
    if (strcmp(k, "max_response_bytes") == 0)
        return gw_cfg_ll(c, v, k, 1024, 1LL << 34, &l->max_response_bytes);
    if (strcmp(k, "stream_buffer_bytes") == 0)
        return gw_cfg_ll(c, v, k, 4096, 1LL << 30, &l->stream_buffer_bytes);
    if (strcmp(k, "max_connections") == 0)
        return gw_cfg_int(c, v, k, 1, 1000000, &l->max_connections);
    if (strcmp(k, "per_ip_connections") == 0)
        return gw_cfg_int(c, v, k, 0, 1000000, &l->per_ip_connections);
    if (strcmp(k, "connection_timeout_s") == 0)
        return gw_cfg_int(c, v, k, 1, 86400, &l->connection_timeout_s);
    return gw_cfg_fail(c, v, k, "unknown key in limits");
}

static int policy_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_content_policy *p = arg;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &p->enabled);
    if (strcmp(k, "blocked_patterns") == 0)
        return gw_cfg_str_list(c, v, k, &p->blocked_patterns, &p->n_blocked);
    if (strcmp(k, "max_input_tokens") == 0)
        return gw_cfg_ll(c, v, k, 0, 100000000, &p->max_input_tokens);
    return gw_cfg_fail(c, v, k, "unknown key in content_policy");
}

static int rl_defaults_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_rate_limiting *r = arg;
    long long *dst = strcmp(k, "rpm") == 0          ? &r->rpm
                     : strcmp(k, "tpm") == 0        ? &r->tpm
                     : strcmp(k, "tpd") == 0        ? &r->tpd
                     : strcmp(k, "concurrent") == 0 ? &r->concurrent
                                                    : NULL;
    if (!dst)
        return gw_cfg_fail(c, v, k,
                           "unknown key in rate_limiting.defaults (rpm, tpm, tpd, concurrent)");
    return gw_cfg_ll(c, v, k, 0, 1000000000000LL, dst);
}

static int rl_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_rate_limiting *r = arg;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &r->enabled);
    if (strcmp(k, "defaults") == 0)
        return gw_cfg_each(c, v, k, rl_defaults_pair, r);
    if (strcmp(k, "default_max_tokens") == 0)
        return gw_cfg_ll(c, v, k, 0, 10000000, &r->default_max_tokens);
    return gw_cfg_fail(c, v, k, "unknown key in rate_limiting");
}

static int budgets_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_budgets *b = arg;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &b->enabled);
    if (strcmp(k, "soft_threshold_pct") == 0)
        return gw_cfg_int(c, v, k, 1, 100, &b->soft_threshold_pct);
    return gw_cfg_fail(c, v, k, "unknown key in budgets");
}

/* ---- durable answers ---------------------------------------------------- */

static int durable_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_durable_answers *d = arg;
    if (strcmp(k, "store") == 0) {
        const char *s = gw_cfg_scalar(v);
        if (s && strcmp(s, "gone") == 0)
            d->store = GW_DURABLE_GONE;
        else if (s && strcmp(s, "all") == 0)
            d->store = GW_DURABLE_ALL;
        else if (s && strcmp(s, "off") == 0)
            d->store = GW_DURABLE_OFF;
        else
            return gw_cfg_fail(c, v, k, "expected gone, all or off");
        return 0;
    }
    if (strcmp(k, "max_bytes") == 0)
        return gw_cfg_ll(c, v, k, 1024, 1LL << 26, &d->max_bytes);
    if (strcmp(k, "retention_hours") == 0)
        return gw_cfg_int(c, v, k, 0, 24 * 3650, &d->retention_hours);
    return gw_cfg_fail(c, v, k,
                       "unknown key in durable_answers (store, max_bytes, retention_hours)");
}

/* ---- providers ---------------------------------------------------------- */

const struct gw_openai_preset gw_openai_presets[] = {
    {"openai", "https://api.openai.com/v1", "OPENAI_API_KEY"},
    {"groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"},
    {"mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"},
    {"deepseek", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"},
    {"xai", "https://api.x.ai/v1", "XAI_API_KEY"},
    {"fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"},
    {"openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"},
    {"together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"},
    {"ollama", "http://127.0.0.1:11434/v1", NULL},
    {"vllm", "http://127.0.0.1:8000/v1", NULL},
    {NULL, NULL, NULL},
};

/* Indexed by enum gw_provider_type. */
static const char *const provider_types[] = {"echo",   "openai",  "anthropic",
                                             "gemini", "bedrock", "vertex"};

static const struct gw_openai_preset *find_preset(const char *type)
{
    for (const struct gw_openai_preset *p = gw_openai_presets; p->type; p++)
        if (strcmp(p->type, type) == 0)
            return p;
    return NULL;
}

/* ---- providers (parsing) --------------------------------------------------------- */

static int pool_key_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_api_key_cfg *key = arg;
    if (strcmp(k, "key") == 0) {
        if (gw_cfg_secret(c, v, k, &key->secret) != 0)
            return -1;
        key->label = gw_arena_strdup(c->cfg->arena, gw_cfg_scalar(v));
        return 0;
    }
    if (strcmp(k, "rpm") == 0)
        return gw_cfg_ll(c, v, k, 0, 1000000000LL, &key->rpm);
    if (strcmp(k, "tpm") == 0)
        return gw_cfg_ll(c, v, k, 0, 1000000000000LL, &key->tpm);
    if (strcmp(k, "weight") == 0)
        return gw_cfg_int(c, v, k, 0, 1000000, &key->weight);
    return gw_cfg_fail(c, v, k, "unknown key in an api_keys item (key, rpm, tpm, weight)");
}

/* api_keys: a list whose items are a secret reference (env:NAME, file:PATH)
 * or a mapping {key: REF, rpm: N, tpm: N, weight: N}. A reference may appear
 * once. */
static int parse_key_pool(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k,
                          struct gw_provider_cfg *p)
{
    if (p->keys)
        return gw_cfg_fail(c, v, k, "give api_key (one key) or api_keys (a pool), not both");
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return gw_cfg_fail(c, v, k,
                           "expected a non-empty list of keys (env:NAME, file:PATH, or "
                           "{key: ..., rpm: N, tpm: N, weight: N})");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    struct gw_api_key_cfg *keys = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gw_cfg_node(c, v->data.sequence.items.start[i]);
        keys[i].weight = 1;
        if (item->type == YAML_SCALAR_NODE) {
            if (gw_cfg_secret(c, item, k, &keys[i].secret) != 0)
                return -1;
            keys[i].label = gw_arena_strdup(c->cfg->arena, gw_cfg_scalar(item));
        } else if (item->type == YAML_MAPPING_NODE) {
            if (gw_cfg_each(c, item, k, pool_key_pair, &keys[i]) != 0)
                return -1;
            if (!keys[i].secret)
                return gw_cfg_fail(c, item, k, "an api_keys item needs key: env:NAME or file:PATH");
        } else {
            return gw_cfg_fail(c, item, k, "expected env:NAME, file:PATH or a mapping");
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[j].label, keys[i].label) == 0)
                return gw_cfg_fail(c, item, k, "%s is listed twice", keys[i].label);
    }
    p->keys = keys;
    p->n_keys = n;
    p->api_key = keys[0].secret;
    return 0;
}

static int provider_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_provider_cfg *p = arg;
    if (strcmp(k, "name") == 0)
        return gw_cfg_str(c, v, k, &p->name);
    if (strcmp(k, "base_url") == 0) {
        if (gw_cfg_str(c, v, k, &p->base_url) != 0)
            return -1;
        if (strncmp(p->base_url, "http://", 7) != 0 && strncmp(p->base_url, "https://", 8) != 0)
            return gw_cfg_fail(c, v, k, "must start with http:// or https://");
        char *u = (char *)p->base_url;
        size_t n = strlen(u);
        while (n && u[n - 1] == '/')
            u[--n] = '\0';
        return 0;
    }
    if (strcmp(k, "api_key") == 0) {
        if (p->keys)
            return gw_cfg_fail(c, v, k, "give api_key (one key) or api_keys (a pool), not both");
        struct gw_api_key_cfg *one = gw_arena_calloc(c->cfg->arena, 2 * sizeof *one);
        if (gw_cfg_secret(c, v, k, &one->secret) != 0)
            return -1;
        one->label = gw_arena_strdup(c->cfg->arena, gw_cfg_scalar(v));
        one->weight = 1;
        p->keys = one;
        p->n_keys = 1;
        p->api_key = one->secret;
        return 0;
    }
    if (strcmp(k, "api_keys") == 0)
        return parse_key_pool(c, v, k, p);
    if (strcmp(k, "prompt_cache_ttl_s") == 0)
        return gw_cfg_int(c, v, k, 0, 86400, &p->prompt_cache_ttl_s);
    if (strcmp(k, "key_cooldown_s") == 0)
        return gw_cfg_int(c, v, k, 1, 86400, &p->key_cooldown_s);
    if (strcmp(k, "key_cooldown_max_s") == 0)
        return gw_cfg_int(c, v, k, 1, 86400, &p->key_cooldown_max_s);
    if (strcmp(k, "anthropic_version") == 0)
        return gw_cfg_str(c, v, k, &p->anthropic_version);
    if (strcmp(k, "region") == 0)
        return gw_cfg_str(c, v, k, &p->region);
    if (strcmp(k, "project") == 0)
        return gw_cfg_str(c, v, k, &p->project);
    if (strcmp(k, "credentials_file") == 0)
        return gw_cfg_str(c, v, k, &p->credentials_file);
    if (strcmp(k, "aws_access_key_id") == 0)
        return gw_cfg_secret(c, v, k, &p->aws_access_key_id);
    if (strcmp(k, "aws_secret_access_key") == 0)
        return gw_cfg_secret(c, v, k, &p->aws_secret_access_key);
    if (strcmp(k, "aws_session_token") == 0)
        return gw_cfg_secret(c, v, k, &p->aws_session_token);
    if (strcmp(k, "type") == 0) {
        const char *s = gw_cfg_scalar(v);
        const struct gw_openai_preset *pr = s ? find_preset(s) : NULL;
        if (pr) {
            p->type = GW_PROVIDER_OPENAI;
            p->preset = pr->type;
            return 0;
        }
        for (int t = GW_PROVIDER_ECHO; s && t <= GW_PROVIDER_VERTEX; t++)
            if (t != GW_PROVIDER_OPENAI && strcmp(s, provider_types[t]) == 0) {
                p->type = (enum gw_provider_type)t;
                p->preset = provider_types[t];
                return 0;
            }
        return gw_cfg_fail(
            c, v, k,
            "'%s' is not a provider type this build serves (echo, openai, anthropic, "
            "gemini, bedrock, vertex, groq, mistral, deepseek, xai, fireworks, "
            "openrouter, together, ollama, vllm)",
            s ? s : "?");
    }
    return gw_cfg_fail(c, v, k, "unknown key in a provider");
}

/* A secret for key from the environment variable env when the file set
 * none (NULL if that is unset too). */
static const char *env_secret(struct gw_cfg_ctx *c, const char *set, const char *env)
{
    const char *v = set ? set : getenv(env);
    return v && *v ? gw_arena_strdup(c->cfg->arena, v) : NULL;
}

static void free_sa(void *sa)
{
    gw_gcp_sa_free(sa);
}

/* Vertex AI: the service-account key is loaded now, so a bad file is a
 * config error with its line, not a failure at the first request. */
static int vertex_defaults(struct gw_cfg_ctx *c, yaml_node_t *item, struct gw_provider_cfg *p)
{
    struct gw_arena *a = c->cfg->arena;
    if (!p->region)
        p->region = "us-central1";
    if (!p->base_url) {
        char url[300];
        if (strcmp(p->region, "global") == 0)
            snprintf(url, sizeof url, "https://aiplatform.googleapis.com");
        else
            snprintf(url, sizeof url, "https://%s-aiplatform.googleapis.com", p->region);
        p->base_url = gw_arena_strdup(a, url);
    }
    if (!p->anthropic_version)
        p->anthropic_version = "vertex-2023-10-16";
    if (!p->credentials_file) {
        const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
        if (!env || !*env)
            return gw_cfg_fail(c, item, p->name,
                               "a vertex provider needs credentials_file (a service-account key "
                               "JSON) or GOOGLE_APPLICATION_CREDENTIALS in the environment");
        p->credentials_file = gw_arena_strdup(a, env);
    }
    struct gw_gcp_sa *sa = gw_arena_calloc(a, sizeof *sa);
    char err[300];
    if (gw_gcp_sa_load_file(p->credentials_file, sa, err, sizeof err) != 0)
        return gw_cfg_fail(c, item, p->name, "%s", err);
    gw_arena_on_destroy(a, free_sa, sa);
    p->gcp_sa = sa;
    if (!p->project && sa->project_id)
        p->project = gw_arena_strdup(a, sa->project_id);
    if (!p->project)
        return gw_cfg_fail(c, item, p->name,
                           "a vertex provider needs a project (or a project_id in its key file)");
    return 0;
}

/* How long a provider keeps a prompt prefix cached after its last use, by
 * type, when the config says nothing (docs/routing.md#prefix-cache-affinity
 * gives the sources): OpenAI's own API, Anthropic and Gemini 300 s; other
 * servers 0 (no affinity unless configured). */
static int default_cache_ttl(const struct gw_provider_cfg *p)
{
    switch (p->type) {
    case GW_PROVIDER_OPENAI:
        return p->preset && strcmp(p->preset, "openai") == 0 ? 300 : 0;
    case GW_PROVIDER_ANTHROPIC:
    case GW_PROVIDER_GEMINI:
        return 300;
    default:
        return 0;
    }
}

/* The key pool's settings: only the types that send an API key have one. */
static int pool_defaults(struct gw_cfg_ctx *c, yaml_node_t *item, struct gw_provider_cfg *p)
{
    int keyed = p->type == GW_PROVIDER_OPENAI || p->type == GW_PROVIDER_ANTHROPIC ||
                p->type == GW_PROVIDER_GEMINI;
    if (p->n_keys > 1 && !keyed)
        return gw_cfg_fail(c, item, p->name,
                           "api_keys is for providers that take an API key (openai and its "
                           "presets, anthropic, gemini); a %s provider has its own credentials",
                           gw_provider_type_name(p->type));
    if (p->key_cooldown_s < 0)
        p->key_cooldown_s = 60;
    if (p->key_cooldown_max_s < 0)
        p->key_cooldown_max_s = 600;
    if (p->key_cooldown_max_s < p->key_cooldown_s)
        return gw_cfg_fail(c, item, p->name, "key_cooldown_max_s (%d) is below key_cooldown_s (%d)",
                           p->key_cooldown_max_s, p->key_cooldown_s);
    if (p->prompt_cache_ttl_s < 0)
        p->prompt_cache_ttl_s = default_cache_ttl(p);
    if (!keyed) { /* bedrock and vertex sign their own way; echo needs nothing */
        p->keys = NULL;
        p->n_keys = 0;
    }
    return 0;
}

/* Per-type defaults and the keys a type cannot do without. */
static int provider_defaults(struct gw_cfg_ctx *c, yaml_node_t *item, struct gw_provider_cfg *p)
{
    struct gw_arena *a = c->cfg->arena;
    if (pool_defaults(c, item, p) != 0)
        return -1;
    switch (p->type) {
    case GW_PROVIDER_ANTHROPIC:
        if (!p->base_url)
            p->base_url = "https://api.anthropic.com";
        if (!p->anthropic_version)
            p->anthropic_version = "2023-06-01";
        break;
    case GW_PROVIDER_GEMINI:
        if (!p->base_url)
            p->base_url = "https://generativelanguage.googleapis.com";
        break;
    case GW_PROVIDER_BEDROCK:
        if (!p->region)
            return gw_cfg_fail(c, item, p->name,
                               "a bedrock provider needs a region (e.g. us-east-1)");
        if (!p->base_url) {
            char url[300];
            snprintf(url, sizeof url, "https://bedrock-runtime.%s.amazonaws.com", p->region);
            p->base_url = gw_arena_strdup(a, url);
        }
        p->aws_access_key_id = env_secret(c, p->aws_access_key_id, "AWS_ACCESS_KEY_ID");
        p->aws_secret_access_key = env_secret(c, p->aws_secret_access_key, "AWS_SECRET_ACCESS_KEY");
        p->aws_session_token = env_secret(c, p->aws_session_token, "AWS_SESSION_TOKEN");
        if (!p->aws_access_key_id || !p->aws_secret_access_key)
            return gw_cfg_fail(
                c, item, p->name,
                "a bedrock provider needs AWS credentials: aws_access_key_id and "
                "aws_secret_access_key (env:NAME or file:PATH), or AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY in the environment");
        break;
    case GW_PROVIDER_VERTEX:
        return vertex_defaults(c, item, p);
    case GW_PROVIDER_ECHO:
    case GW_PROVIDER_OPENAI:
        break;
    }
    return 0;
}

static int parse_providers(struct gw_cfg_ctx *c, yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return gw_cfg_fail(c, seq, "providers", "expected a list");
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    struct gw_provider_cfg *ps = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *ps);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gw_cfg_node(c, seq->data.sequence.items.start[i]);
        ps[i].type = (enum gw_provider_type) - 1;
        ps[i].line = (int)item->start_mark.line + 1;
        ps[i].prompt_cache_ttl_s = ps[i].key_cooldown_s = ps[i].key_cooldown_max_s = -1;
        if (gw_cfg_each(c, item, "providers", provider_pair, &ps[i]) != 0)
            return -1;
        if (!ps[i].name)
            return gw_cfg_fail(c, item, "providers", "a provider needs a name");
        if ((int)ps[i].type == -1)
            return gw_cfg_fail(c, item, ps[i].name, "a provider needs a type");
        for (size_t j = 0; j < i; j++)
            if (strcmp(ps[j].name, ps[i].name) == 0)
                return gw_cfg_fail(c, item, ps[i].name, "provider name used twice");
        if (ps[i].type == GW_PROVIDER_OPENAI && !ps[i].base_url)
            ps[i].base_url = find_preset(ps[i].preset)->base_url;
        if (provider_defaults(c, item, &ps[i]) != 0)
            return -1;
    }
    c->cfg->providers = ps;
    c->cfg->n_providers = n;
    return 0;
}

/* ---- models ------------------------------------------------------------- */

static int pricing_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_pricing *p = arg;
    if (strcmp(k, "input_per_mtok") == 0)
        return gw_cfg_double(c, v, k, &p->input_per_mtok);
    if (strcmp(k, "output_per_mtok") == 0)
        return gw_cfg_double(c, v, k, &p->output_per_mtok);
    if (strcmp(k, "cached_input_per_mtok") == 0)
        return gw_cfg_double(c, v, k, &p->cached_input_per_mtok);
    if (strcmp(k, "cache_write_per_mtok") == 0)
        return gw_cfg_double(c, v, k, &p->cache_write_per_mtok);
    return gw_cfg_fail(c, v, k, "unknown key in pricing");
}

static int deployment_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_deployment_cfg *d = arg;
    if (strcmp(k, "provider") == 0)
        return gw_cfg_str(c, v, k, &d->provider_name);
    if (strcmp(k, "model") == 0)
        return gw_cfg_str(c, v, k, &d->model);
    if (strcmp(k, "weight") == 0)
        return gw_cfg_int(c, v, k, 0, 1000000, &d->weight);
    if (strcmp(k, "priority") == 0)
        return gw_cfg_int(c, v, k, -1000000, 1000000, &d->priority);
    if (strcmp(k, "pricing") == 0) {
        d->has_pricing = 1;
        return gw_cfg_each(c, v, k, pricing_pair, &d->pricing);
    }
    if (strcmp(k, "rpm") == 0)
        return gw_cfg_ll(c, v, k, 0, 1000000000LL, &d->rpm);
    if (strcmp(k, "tpm") == 0)
        return gw_cfg_ll(c, v, k, 0, 1000000000000LL, &d->tpm);
    if (strcmp(k, "max_in_flight") == 0)
        return gw_cfg_int(c, v, k, 0, 1000000, &d->max_in_flight);
    return gw_cfg_fail(c, v, k,
                       "unknown key in a deployment (provider, model, weight, priority, pricing, "
                       "rpm, tpm, max_in_flight)");
}

/* ---- routing ------------------------------------------------------------ */

static const char *const strategies[] = {"fallback", "round-robin", "weighted",
                                         "latency",  "least-busy",  "cost"};

static int get_strategy(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k, enum gw_strategy *out)
{
    const char *s = gw_cfg_scalar(v);
    for (int i = GW_STRATEGY_FALLBACK; s && i <= GW_STRATEGY_COST; i++)
        if (strcmp(s, strategies[i]) == 0) {
            *out = (enum gw_strategy)i;
            return 0;
        }
    return gw_cfg_fail(
        c, v, k, "expected fallback, round-robin, weighted, latency, least-busy or cost, got '%s'",
        s ? s : "?");
}

static int breaker_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_breaker_cfg *b = arg;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &b->enabled);
    if (strcmp(k, "failures") == 0)
        return gw_cfg_int(c, v, k, 0, 1000000, &b->failures);
    if (strcmp(k, "failure_rate") == 0) {
        if (gw_cfg_double(c, v, k, &b->failure_rate) != 0)
            return -1;
        if (b->failure_rate > 1)
            return gw_cfg_fail(c, v, k, "a share between 0 and 1, got '%s'", gw_cfg_scalar(v));
        return 0;
    }
    if (strcmp(k, "min_requests") == 0)
        return gw_cfg_int(c, v, k, 1, 1000000, &b->min_requests);
    if (strcmp(k, "window_s") == 0)
        return gw_cfg_int(c, v, k, 1, 86400, &b->window_s);
    if (strcmp(k, "cooldown_s") == 0)
        return gw_cfg_int(c, v, k, 0, 86400, &b->cooldown_s);
    return gw_cfg_fail(
        c, v, k,
        "unknown key in circuit_breaker (enabled, failures, failure_rate, min_requests, "
        "window_s, cooldown_s)");
}

static int retries_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_retries *r = arg;
    if (strcmp(k, "attempts") == 0)
        return gw_cfg_int(c, v, k, 1, 100, &r->attempts);
    if (strcmp(k, "backoff_ms") == 0)
        return gw_cfg_int(c, v, k, 0, 3600000, &r->backoff_ms);
    if (strcmp(k, "max_backoff_ms") == 0)
        return gw_cfg_int(c, v, k, 0, 3600000, &r->max_backoff_ms);
    return gw_cfg_fail(c, v, k, "unknown key in retries (attempts, backoff_ms, max_backoff_ms)");
}

static int affinity_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_affinity_cfg *a = arg;
    if (strcmp(k, "enabled") == 0)
        return gw_cfg_bool(c, v, k, &a->enabled);
    if (strcmp(k, "max_entries") == 0)
        return gw_cfg_int(c, v, k, 16, 10000000, &a->max_entries);
    return gw_cfg_fail(c, v, k, "unknown key in routing.affinity (enabled, max_entries)");
}

static int routing_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_routing *r = arg;
    if (strcmp(k, "strategy") == 0)
        return get_strategy(c, v, k, &r->strategy);
    if (strcmp(k, "circuit_breaker") == 0)
        return gw_cfg_each(c, v, k, breaker_pair, &r->breaker);
    if (strcmp(k, "retries") == 0)
        return gw_cfg_each(c, v, k, retries_pair, &r->retries);
    if (strcmp(k, "affinity") == 0)
        return gw_cfg_each(c, v, k, affinity_pair, &r->affinity);
    return gw_cfg_fail(c, v, k,
                       "unknown key in routing (strategy, circuit_breaker, retries, affinity)");
}

/* A list of model names (fallbacks): each must name a model of the file
 * (c->model_names, read before any model is parsed) other than self. */
static int get_model_list(struct gw_cfg_ctx *c, yaml_node_t *v, const char *k, const char *self,
                          const char ***out)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return gw_cfg_fail(c, v, k, "expected a list of model names");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    const char **list = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *list);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gw_cfg_node(c, v->data.sequence.items.start[i]);
        if (gw_cfg_str(c, item, k, &list[i]) != 0)
            return -1;
        if (self && strcmp(list[i], self) == 0)
            return gw_cfg_fail(c, item, k, "a model cannot fall back to itself");
        int found = 0;
        for (size_t j = 0; j < c->n_model_names && !found; j++)
            found = c->model_names[j] && strcmp(c->model_names[j], list[i]) == 0;
        if (!found)
            return gw_cfg_fail(c, item, k, "no model named '%s'", list[i]);
    }
    *out = n ? list : NULL;
    return 0;
}

/* Stable insertion sort by priority: ties keep the order of the file. */
static void sort_by_priority(struct gw_deployment_cfg *d, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct gw_deployment_cfg x = d[i];
        size_t j = i;
        for (; j > 0 && d[j - 1].priority > x.priority; j--)
            d[j] = d[j - 1];
        d[j] = x;
    }
}

static int model_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_model_cfg *m = arg;
    if (strcmp(k, "name") == 0)
        return gw_cfg_str(c, v, k, &m->name);
    if (strcmp(k, "pricing") == 0)
        return gw_cfg_each(c, v, k, pricing_pair, &m->pricing);
    if (strcmp(k, "timeouts") == 0)
        return gw_cfg_each(c, v, k, timeouts_pair, &m->timeouts);
    if (strcmp(k, "strategy") == 0)
        return get_strategy(c, v, k, &m->strategy);
    if (strcmp(k, "circuit_breaker") == 0)
        return gw_cfg_each(c, v, k, breaker_pair, &m->breaker);
    if (strcmp(k, "retries") == 0)
        return gw_cfg_each(c, v, k, retries_pair, &m->retries);
    if (strcmp(k, "fallbacks") == 0)
        return get_model_list(c, v, k, m->name, &m->fallbacks);
    if (strcmp(k, "context_window_fallbacks") == 0)
        return get_model_list(c, v, k, m->name, &m->context_window_fallbacks);
    if (strcmp(k, "cache") == 0)
        return gw_cfg_model_cache(c, v, k, &m->cache);
    if (strcmp(k, "rag") == 0)
        return gw_cfg_model_rag(c, v, k, m);
    if (strcmp(k, "deployments") == 0) {
        if (v->type != YAML_SEQUENCE_NODE)
            return gw_cfg_fail(c, v, k, "expected a list");
        size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        m->deployments = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *m->deployments);
        m->n_deployments = n;
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *item = gw_cfg_node(c, v->data.sequence.items.start[i]);
            struct gw_deployment_cfg *d = &m->deployments[i];
            d->weight = 1;
            if (gw_cfg_each(c, item, k, deployment_pair, d) != 0)
                return -1;
            if (!d->provider_name)
                return gw_cfg_fail(c, item, k, "a deployment needs a provider");
            d->provider = gw_config_provider_index(c->cfg, d->provider_name);
            if (d->provider < 0)
                return gw_cfg_fail(c, item, "provider", "no provider named '%s'", d->provider_name);
            if (!d->model)
                d->model = m->name;
            for (size_t j = 0; j < i; j++)
                if (m->deployments[j].provider == d->provider &&
                    strcmp(m->deployments[j].model, d->model) == 0)
                    return gw_cfg_fail(c, item, k, "provider '%s' with model '%s' is listed twice",
                                       d->provider_name, d->model);
        }
        sort_by_priority(m->deployments, n);
        return 0;
    }
    return gw_cfg_fail(c, v, k, "unknown key in a model");
}

static int parse_models(struct gw_cfg_ctx *c, yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return gw_cfg_fail(c, seq, "models", "expected a list");
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    struct gw_model_cfg *ms = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *ms);
    /* the names are needed by the deployment default and the fallback
     * lists: read them all first */
    c->model_names = gw_arena_calloc(c->cfg->arena, (n + 1) * sizeof *c->model_names);
    c->n_model_names = n;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gw_cfg_node(c, seq->data.sequence.items.start[i]);
        if (item->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
                 p < item->data.mapping.pairs.top; p++) {
                const char *ks = gw_cfg_scalar(gw_cfg_node(c, p->key));
                if (ks && strcmp(ks, "name") == 0 &&
                    gw_cfg_str(c, gw_cfg_node(c, p->value), ks, &ms[i].name))
                    return -1;
            }
        c->model_names[i] = ms[i].name;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = gw_cfg_node(c, seq->data.sequence.items.start[i]);
        ms[i].index = (int)i;
        ms[i].retries = c->cfg->routing.retries;
        ms[i].strategy = c->cfg->routing.strategy; /* routing: is parsed by now */
        ms[i].breaker = c->cfg->routing.breaker;
        if (gw_cfg_each(c, item, "models", model_pair, &ms[i]) != 0)
            return -1;
        if (!ms[i].name)
            return gw_cfg_fail(c, item, "models", "a model needs a name");
        if (ms[i].n_deployments == 0)
            return gw_cfg_fail(c, item, ms[i].name, "a model needs at least one deployment");
        for (size_t j = 0; j < i; j++)
            if (strcmp(ms[j].name, ms[i].name) == 0)
                return gw_cfg_fail(c, item, ms[i].name, "model name used twice");
    }
    c->cfg->models = ms;
    c->cfg->n_models = n;
    return 0;
}

/* ---- top level ---------------------------------------------------------- */

static int parse_listen(struct gw_cfg_ctx *c, yaml_node_t *v)
{
    const char *s = gw_cfg_scalar(v);
    if (!s)
        return gw_cfg_fail(c, v, "listen", "expected HOST:PORT");
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return gw_cfg_fail(c, v, "listen", "expected HOST:PORT, got '%s'", s);
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']')
        h++, hlen -= 2;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || colon[1] == '\0')
        return gw_cfg_fail(c, v, "listen", "bad port in '%s'", s);
    c->cfg->listen_host = gw_arena_strndup(c->cfg->arena, h, hlen);
    c->cfg->listen_port = (int)port;
    return 0;
}

static int top_pair(struct gw_cfg_ctx *c, const char *k, yaml_node_t *v, void *arg)
{
    struct gw_config *cfg = c->cfg;
    if (strcmp(k, "listen") == 0)
        return parse_listen(c, v);
    if (strcmp(k, "data_dir") == 0)
        return gw_cfg_str(c, v, k, &cfg->data_dir);
    if (strcmp(k, "admin_socket") == 0)
        return gw_cfg_str(c, v, k, &cfg->admin_socket);
    if (strcmp(k, "log_level") == 0) {
        const char *s = gw_cfg_scalar(v);
        if (!s ||
            (strcmp(s, "debug") && strcmp(s, "info") && strcmp(s, "warn") && strcmp(s, "error")))
            return gw_cfg_fail(c, v, k, "expected debug, info, warn or error");
        return gw_cfg_str(c, v, k, &cfg->log_level);
    }
    if (strcmp(k, "threads") == 0)
        return gw_cfg_int(c, v, k, 0, 256, &cfg->threads);
    if (strcmp(k, "shutdown_grace_ms") == 0)
        return gw_cfg_int(c, v, k, 0, 3600000, &cfg->shutdown_grace_ms);
    if (strcmp(k, "providers") == 0)
        return parse_providers(c, v);
    if (strcmp(k, "models") == 0)
        return 0; /* parsed after providers, whatever the order in the file */
    if (strcmp(k, "limits") == 0)
        return gw_cfg_each(c, v, k, limits_pair, &cfg->limits);
    if (strcmp(k, "timeouts") == 0)
        return gw_cfg_each(c, v, k, timeouts_pair, &cfg->timeouts);
    if (strcmp(k, "content_policy") == 0)
        return gw_cfg_each(c, v, k, policy_pair, &cfg->content_policy);
    if (strcmp(k, "rate_limiting") == 0)
        return gw_cfg_each(c, v, k, rl_pair, &cfg->rate_limiting);
    if (strcmp(k, "budgets") == 0)
        return gw_cfg_each(c, v, k, budgets_pair, &cfg->budgets);
    if (strcmp(k, "durable_answers") == 0)
        return gw_cfg_each(c, v, k, durable_pair, &cfg->durable_answers);
    if (strcmp(k, "routing") == 0)
        return gw_cfg_each(c, v, k, routing_pair, &cfg->routing);
    if (strcmp(k, "cache") == 0)
        return gw_cfg_cache(c, v, k);
    if (strcmp(k, "prompts") == 0)
        return gw_cfg_prompts(c, v, k);
    if (strcmp(k, "pii") == 0 || strcmp(k, "output_guard") == 0)
        return gw_cfg_safety(c, v, k);
    if (strcmp(k, "firewall") == 0)
        return gw_cfg_firewall(c, v, k);
    if (strcmp(k, "rag") == 0)
        return gw_cfg_rag(c, v, k);
    return gw_cfg_fail(c, v, k, "unknown key");
}

static void set_defaults(struct gw_config *cfg)
{
    cfg->listen_host = "127.0.0.1";
    cfg->listen_port = 8080;
    cfg->data_dir = "./var";
    cfg->log_level = "info";
    cfg->shutdown_grace_ms = 30000;
    cfg->limits = (struct gw_limits){
        .max_body_bytes = 33554432,
        .max_response_bytes = 67108864,
        .stream_buffer_bytes = 262144,
        .max_connections = 16384,
        .per_ip_connections = 4096,
        .connection_timeout_s = 120,
    };
    cfg->timeouts = (struct gw_timeouts){5000, 60000, 60000, 600000};
    cfg->content_policy = (struct gw_content_policy){.enabled = 1, .max_input_tokens = 32000};
    cfg->rate_limiting = (struct gw_rate_limiting){
        .enabled = 1, .rpm = 600, .tpm = 1000000, .default_max_tokens = 1024};
    cfg->budgets = (struct gw_budgets){.enabled = 1, .soft_threshold_pct = 80};
    cfg->durable_answers = (struct gw_durable_answers){
        .store = GW_DURABLE_GONE, .max_bytes = 1048576, .retention_hours = 24};
    gw_cfg_cache_defaults(cfg);
    gw_cfg_prompts_defaults(cfg);
    gw_cfg_safety_defaults(cfg);
    gw_cfg_firewall_defaults(cfg);
    gw_cfg_rag_defaults(cfg);
    cfg->routing = (struct gw_routing){
        .strategy = GW_STRATEGY_FALLBACK,
        .breaker = {.enabled = 1,
                    .failures = 5,
                    .failure_rate = 0.5,
                    .min_requests = 10,
                    .window_s = 60,
                    .cooldown_s = 30},
        .retries = {.attempts = 3, .backoff_ms = 200, .max_backoff_ms = 4000},
        .affinity = {.enabled = 1, .max_entries = 65536},
    };
}

static void inherit(int *v, int def)
{
    if (*v == 0)
        *v = def;
}

/* Providers switched on by the environment when running the embedded
 * default: every preset whose API key variable is set becomes a provider of
 * that name (reachable as "NAME/model"); OpenAI also gets its usual models
 * with their list prices. */
static void add_env_providers(struct gw_config *cfg)
{
    static const char *models[] = {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1"};
    static const struct gw_pricing prices[] = {{0.15, 0.60, 0.075, 0},
                                               {2.50, 10.0, 1.25, 0},
                                               {0.40, 1.60, 0.10, 0},
                                               {2.00, 8.00, 0.50, 0}};
    size_t n_presets = 0;
    while (gw_openai_presets[n_presets].type)
        n_presets++;
    size_t np = cfg->n_providers, nm = cfg->n_models, add = sizeof models / sizeof *models;
    struct gw_provider_cfg *ps = gw_arena_calloc(cfg->arena, (np + n_presets + 1) * sizeof *ps);
    struct gw_model_cfg *ms = gw_arena_calloc(cfg->arena, (nm + add + 1) * sizeof *ms);
    memcpy(ps, cfg->providers, np * sizeof *ps);
    memcpy(ms, cfg->models, nm * sizeof *ms);
    for (const struct gw_openai_preset *pr = gw_openai_presets; pr->type; pr++) {
        const char *key = pr->env_key ? getenv(pr->env_key) : NULL;
        if (!key || !*key || gw_config_provider_index(cfg, pr->type) >= 0)
            continue;
        const char *base = strcmp(pr->type, "openai") == 0 ? getenv("OPENAI_BASE_URL") : NULL;
        struct gw_api_key_cfg *one = gw_arena_calloc(cfg->arena, 2 * sizeof *one);
        size_t ln = strlen(pr->env_key) + sizeof "env:";
        char *label = gw_arena_alloc(cfg->arena, ln);
        snprintf(label, ln, "env:%s", pr->env_key);
        *one = (struct gw_api_key_cfg){
            .secret = gw_arena_strdup(cfg->arena, key), .label = label, .weight = 1};
        ps[np] = (struct gw_provider_cfg){
            .name = pr->type,
            .type = GW_PROVIDER_OPENAI,
            .preset = pr->type,
            .base_url = gw_arena_strdup(cfg->arena, base && *base ? base : pr->base_url),
            .api_key = one->secret,
            .keys = one,
            .n_keys = 1,
            .key_cooldown_s = 60,
            .key_cooldown_max_s = 600};
        ps[np].prompt_cache_ttl_s = default_cache_ttl(&ps[np]);
        if (strcmp(pr->type, "openai") == 0)
            for (size_t i = 0; i < add; i++) {
                struct gw_deployment_cfg *d = gw_arena_calloc(cfg->arena, sizeof *d);
                *d = (struct gw_deployment_cfg){.provider_name = "openai",
                                                .model = models[i],
                                                .provider = (int)np,
                                                .weight = 1};
                ms[nm] = (struct gw_model_cfg){.name = models[i],
                                               .index = (int)nm,
                                               .deployments = d,
                                               .n_deployments = 1,
                                               .pricing = prices[i],
                                               .strategy = cfg->routing.strategy,
                                               .breaker = cfg->routing.breaker,
                                               .retries = cfg->routing.retries};
                nm++;
            }
        np++;
    }
    for (size_t i = 0; i < nm; i++) /* the added models inherit the global timeouts */
        if (ms[i].timeouts.connect_ms == 0)
            ms[i].timeouts = cfg->timeouts;
    cfg->providers = ps;
    cfg->n_providers = np;
    cfg->models = ms;
    cfg->n_models = nm;
}

struct gw_config *gw_config_parse(const char *name, const char *text, size_t len, char *err,
                                  size_t errlen)
{
    struct gw_arena *arena = gw_arena_new(8192);
    if (!arena) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    struct gw_config *cfg = gw_arena_calloc(arena, sizeof *cfg);
    cfg->arena = arena;
    cfg->path = gw_arena_strdup(arena, name);
    set_defaults(cfg);

    yaml_parser_t parser;
    yaml_document_t doc;
    struct gw_cfg_ctx c = {.doc = &doc, .cfg = cfg, .file = name, .err = err, .errlen = errlen};
    int rc = -1, have_doc = 0;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: YAML: %s", name, (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "syntax error");
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        if (gw_cfg_each(&c, root, "(top level)", top_pair, NULL) != 0)
            goto out;
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
             p++) {
            const char *ks = gw_cfg_scalar(gw_cfg_node(&c, p->key));
            if (strcmp(ks, "models") == 0 && parse_models(&c, gw_cfg_node(&c, p->value)) != 0)
                goto out;
        }
    }
    if (!cfg->admin_socket) {
        size_t n = strlen(cfg->data_dir) + sizeof "/gwctl.sock";
        char *s = gw_arena_alloc(arena, n);
        snprintf(s, n, "%s/gwctl.sock", cfg->data_dir);
        cfg->admin_socket = s;
    }
    for (size_t i = 0; i < cfg->n_models; i++) {
        struct gw_timeouts *t = &cfg->models[i].timeouts;
        inherit(&t->connect_ms, cfg->timeouts.connect_ms);
        inherit(&t->first_byte_ms, cfg->timeouts.first_byte_ms);
        inherit(&t->idle_ms, cfg->timeouts.idle_ms);
        inherit(&t->total_ms, cfg->timeouts.total_ms);
    }
    rc = 0;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        gw_arena_destroy(arena);
        return NULL;
    }
    return cfg;
}

struct gw_config *gw_config_load(const char *path, char *err, size_t errlen)
{
    if (!path) {
        const char *text = gw_default_config_files[0].text;
        struct gw_config *cfg =
            gw_config_parse("(embedded default)", text, strlen(text), err, errlen);
        if (cfg)
            add_env_providers(cfg);
        return cfg;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory", path);
                return NULL;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    struct gw_config *cfg = gw_config_parse(path, text ? text : "", len, err, errlen);
    free(text);
    return cfg;
}

void gw_config_free(struct gw_config *cfg)
{
    if (cfg)
        gw_arena_destroy(cfg->arena);
}

const struct gw_model_cfg *gw_config_model(const struct gw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_models; i++)
        if (strcmp(cfg->models[i].name, name) == 0)
            return &cfg->models[i];
    return NULL;
}

int gw_config_provider_index(const struct gw_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_providers; i++)
        if (strcmp(cfg->providers[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *gw_provider_type_name(enum gw_provider_type t)
{
    return (unsigned)t <= GW_PROVIDER_VERTEX ? provider_types[t] : "?";
}

const char *gw_strategy_name(enum gw_strategy s)
{
    return (unsigned)s <= GW_STRATEGY_COST ? strategies[s] : "?";
}

/* The configuration: its in-memory shape, loading from YAML (or the embedded
 * default), validation with file:line:key errors, and secret resolution.
 * A loaded config is immutable; the daemon swaps whole configs on reload. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>

struct gw_arena;
struct gw_gcp_sa;

enum gw_provider_type {
    GW_PROVIDER_ECHO,
    GW_PROVIDER_OPENAI,    /* OpenAI's chat-completions format (and the presets) */
    GW_PROVIDER_ANTHROPIC, /* Anthropic's Messages API */
    GW_PROVIDER_GEMINI,    /* Google's Gemini API (generateContent) */
    GW_PROVIDER_BEDROCK,   /* AWS Bedrock Runtime, Converse API, SigV4-signed */
    GW_PROVIDER_VERTEX,    /* Google Vertex AI: Anthropic and Gemini models, OAuth2 */
};

struct gw_timeouts {
    int connect_ms, first_byte_ms, idle_ms, total_ms; /* 0 in a model: inherit */
};

/* One API key of a provider (docs/routing.md#provider-key-pools): api_key
 * is a pool of one, api_keys a pool of several. */
struct gw_api_key_cfg {
    const char *secret; /* resolved */
    const char *label;  /* the reference as written (env:NAME, file:PATH), never the secret */
    long long rpm, tpm; /* the provider's limits for this key; 0 = not known */
    int weight;         /* share among keys with the same remaining capacity (default 1) */
};

struct gw_provider_cfg {
    const char *name;
    enum gw_provider_type type;
    const char *preset;   /* the type as written: "openai", "groq", "ollama"... */
    const char *base_url; /* without trailing slash; NULL for echo */
    const char *api_key;  /* resolved secret (a pool's first key), or NULL (none sent) */
    int line;             /* where it was declared */
    /* openai, anthropic, gemini: the keys the requests are spread over
     * (api_key or api_keys); n_keys 0 when the provider has none */
    struct gw_api_key_cfg *keys;
    size_t n_keys;
    /* a key of a pool of two or more answered 429: it rests for its
     * Retry-After (key_cooldown_s when the answer has none), at most
     * key_cooldown_max_s */
    int key_cooldown_s, key_cooldown_max_s;
    /* how long the provider keeps a prompt prefix in its cache after a use
     * (prefix-cache affinity); 0: no affinity */
    int prompt_cache_ttl_s;
    /* anthropic, vertex: anthropic-version sent when the caller gave none */
    const char *anthropic_version;
    /* bedrock: region (also in the default URL) and resolved credentials */
    const char *region;
    const char *aws_access_key_id, *aws_secret_access_key, *aws_session_token;
    /* vertex: project, region (above; "global" allowed), and the
     * service-account key file; gcp_sa is the loaded key (gcp_auth.h) */
    const char *project;
    const char *credentials_file;
    const struct gw_gcp_sa *gcp_sa;
};

struct gw_pricing {
    /* USD per million tokens; cached_input: prompt tokens read from the
     * provider's prompt cache (default: the input price); cache_write:
     * prompt tokens written to it (default: the input price) */
    double input_per_mtok, output_per_mtok, cached_input_per_mtok, cache_write_per_mtok;
};

struct gw_deployment_cfg {
    const char *provider_name;
    const char *model; /* the upstream model name */
    int provider;      /* index into gw_config.providers */
    int weight;        /* share of traffic under the weighted strategy (default 1) */
    int priority;      /* lower first; a model's list is sorted by it, ties in file order */
    int has_pricing;   /* pricing below replaces the model's for this deployment */
    struct gw_pricing pricing;
    /* the deployment's own limits (docs/routing.md#per-deployment-limits);
     * 0 = none: requests and tokens a minute, requests at once */
    long long rpm, tpm;
    int max_in_flight;
};

/* How a model group picks one of its deployments (docs/routing.md). */
enum gw_strategy {
    GW_STRATEGY_FALLBACK,    /* priority order: the first healthy one */
    GW_STRATEGY_ROUND_ROBIN, /* each healthy one in turn */
    GW_STRATEGY_WEIGHTED,    /* at random, in proportion to weight */
    GW_STRATEGY_LATENCY,     /* lowest average time to first byte */
    GW_STRATEGY_LEAST_BUSY,  /* fewest requests in flight */
    GW_STRATEGY_COST,        /* cheapest input + output price */
};

/* A deployment's circuit breaker: it opens after `failures` failures in a
 * row, or a failure rate of at least failure_rate over the last window_s
 * with at least min_requests outcomes; it stays open cooldown_s, then lets
 * one probe through. */
struct gw_breaker_cfg {
    int enabled;
    int failures;        /* 0: no consecutive-failure rule */
    double failure_rate; /* 0: no failure-rate rule */
    int min_requests;
    int window_s;
    int cooldown_s;
};

/* Retries of a failed upstream call (docs/routing.md): attempts counts the
 * upstream calls one model group gets, the first included (1 = no retry);
 * the wait before a retry is the provider's Retry-After, else a random
 * share of min(max_backoff_ms, backoff_ms * 2^(n-1)). */
struct gw_retries {
    int attempts;
    int backoff_ms;
    int max_backoff_ms;
};

/* Prefix-cache affinity (docs/routing.md#prefix-cache-affinity): requests
 * with the same stable prefix go where it was last served while the
 * provider's prompt cache is warm. */
struct gw_affinity_cfg {
    int enabled;
    int max_entries; /* prefixes remembered; the oldest make room */
};

struct gw_routing {
    enum gw_strategy strategy;     /* default for models that name none */
    struct gw_breaker_cfg breaker; /* default for models without circuit_breaker */
    struct gw_retries retries;     /* default for models without retries */
    struct gw_affinity_cfg affinity;
};

/* The response cache (config `cache:`, docs/caching.md, gatewayd/cache.h). */
struct gw_cache_semantic_cfg {
    int enabled;
    const char *embedder; /* "local", or what the semantic tier names */
    double threshold;     /* similarity (0..1) a semantic hit needs */
    const char *model;    /* embedder "provider": the embeddings model (a configured model) */
};

struct gw_cache_cfg {
    int enabled;
    int ttl;                   /* seconds an answer stays valid */
    long long max_entries;     /* hot tier (memory): entries */
    long long max_bytes;       /* hot tier (memory): bytes */
    long long db_max_bytes;    /* SQLite tier: bytes; the least recently used go first */
    long long max_entry_bytes; /* an answer larger than this (as sent) is not cached */
    int shared;                /* entries visible to every tenant (else team, or key) */
    struct gw_cache_semantic_cfg semantic;
};

/* A model's own cache settings (`cache:` under the model). */
struct gw_model_cache {
    int mode; /* 0: as cache.enabled; 1: on; -1: off */
    int ttl;  /* seconds; 0: cache.ttl */
};

/* The prompt library (config `prompts:`, docs/prompts.md). */
struct gw_prompts_cfg {
    int enabled; /* requests may name a template (x-gw-prompt, "prompt") */
};

struct gw_model_cfg {
    const char *name;
    int index; /* position in gw_config.models; -1 for a request's own PROVIDER/MODEL */
    struct gw_deployment_cfg *deployments; /* sorted by priority */
    size_t n_deployments;
    struct gw_pricing pricing;
    struct gw_timeouts timeouts; /* already merged with the global ones */
    enum gw_strategy strategy;
    struct gw_breaker_cfg breaker; /* already merged with routing.circuit_breaker */
    struct gw_retries retries;     /* already merged with routing.retries */
    /* models tried, in order, when every attempt at this one failed
     * (fallbacks) or the provider said the prompt does not fit its context
     * window (context_window_fallbacks); NULL-terminated, NULL = none. Each
     * names a model of the same config (checked at load). */
    const char **fallbacks, **context_window_fallbacks;
    struct gw_model_cache cache; /* config_cache.c */
    const char *rag_collection;  /* config_rag.c: `rag: {collection: C}`; NULL: none */
};

struct gw_limits {
    long long max_body_bytes;      /* request body; over it: 413 */
    long long max_response_bytes;  /* non-streamed upstream answer; over it: 502 */
    long long stream_buffer_bytes; /* per-stream buffer before the upstream is paused */
    int max_connections;
    int per_ip_connections;
    int connection_timeout_s; /* idle client connection */
};

struct gw_content_policy {
    int enabled;
    const char **blocked_patterns; /* case-insensitive phrases */
    size_t n_blocked;
    long long max_input_tokens; /* prompt tokens allowed; 0 = no limit */
};

struct gw_rate_limiting {
    int enabled;
    /* defaults for keys without limits of their own (0 = none) */
    long long rpm, tpm, tpd, concurrent;
    long long default_max_tokens; /* reserved for the answer when a request sets none */
};

struct gw_budgets {
    int enabled;
    int soft_threshold_pct; /* log and count when spend crosses this share */
};

/* durable_answers: whose answers are kept for GET /v1/gw/requests/{id}
 * (gatewayd/durable.h) */
enum gw_durable_store {
    GW_DURABLE_GONE, /* answers whose client left before receiving them whole */
    GW_DURABLE_ALL,  /* every answer */
    GW_DURABLE_OFF,  /* none */
};

struct gw_durable_answers {
    enum gw_durable_store store;
    long long max_bytes; /* kept per answer; a longer one is cut (complete: false) */
    int retention_hours; /* 0: kept until deleted by hand */
};

/* PII scrubbing and the output guard (config `pii:`, `output_guard:`,
 * common/config_safety.c, docs/safety.md). */
struct gw_pii_cfg {
    int enabled;
    unsigned entities; /* bit set of 1u << enum gw_pii_type (common/pii.h) */
    int restore;       /* put the original values back in the answer */
};

struct gw_output_guard_cfg {
    int enabled;
    const char **blocked_patterns; /* case-insensitive phrases, NULL-terminated */
    size_t n_blocked;
};

/* The semantic firewall (config `firewall:`, common/config_firewall.c,
 * docs/safety.md#firewall). */
enum gw_firewall_action { GW_FW_LOG, GW_FW_WARN, GW_FW_BLOCK };

struct gw_firewall_set {
    const char *name;
    enum gw_firewall_action action;
    double threshold;      /* cosine similarity (0..1) a request needs to match */
    const char **patterns; /* NULL-terminated */
    size_t n_patterns;
};

/* The firewall's LLM verdict (firewall.llm_verdict): a safety model asked
 * through a sub-request (gatewayd/subrequest.h), its verdicts cached by
 * embedding. */
struct gw_firewall_verdict_cfg {
    int enabled;
    const char *model;      /* a configured model's name */
    int on_error_block;     /* on_error: block (1) or allow (0, the default) */
    double cache_threshold; /* cosine similarity a past verdict needs to be reused */
    long long max_cached;   /* verdicts kept in memory (0: none) */
    const char *prompt;     /* the classification instruction; NULL: the built-in one */
};

struct gw_firewall_cfg {
    int enabled;
    struct gw_firewall_set *sets;
    size_t n_sets;
    const char **exempt_keys; /* key names the stage skips; NULL-terminated, NULL = none */
    struct gw_firewall_verdict_cfg verdict; /* llm_verdict */
};

/* RAG context (config `rag:`, common/config_rag.c, docs/rag.md). */
struct gw_rag_key {
    const char *key_name, *collection; /* collection "none": no context for this key */
};

struct gw_rag_cfg {
    int enabled;
    int top_k;                   /* chunks injected at most */
    double threshold;            /* similarity (0..1) a chunk needs */
    long long max_context_chars; /* the injected block's text, at most */
    int chunk_chars;             /* `gwctl rag add`: chunk size, in characters (bytes) */
    int chunk_overlap;           /* and the overlap of a chunk cut inside a section */
    struct gw_rag_key *keys;     /* per key name; n_keys of them */
    size_t n_keys;
};

struct gw_config {
    struct gw_arena *arena; /* owns everything below */
    const char *path;       /* the file, or "(embedded default)" */
    const char *listen_host;
    int listen_port;
    const char *data_dir;
    const char *admin_socket;
    const char *log_level;
    int threads; /* MHD worker threads; 0 = one per core */
    int shutdown_grace_ms;
    struct gw_provider_cfg *providers;
    size_t n_providers;
    struct gw_model_cfg *models;
    size_t n_models;
    struct gw_limits limits;
    struct gw_timeouts timeouts;
    struct gw_content_policy content_policy;
    struct gw_rate_limiting rate_limiting;
    struct gw_budgets budgets;
    struct gw_durable_answers durable_answers;
    struct gw_routing routing;
    struct gw_cache_cfg cache;               /* config_cache.c */
    struct gw_prompts_cfg prompts;           /* config_prompts.c */
    struct gw_pii_cfg pii;                   /* config_safety.c */
    struct gw_output_guard_cfg output_guard; /* config_safety.c */
    struct gw_firewall_cfg firewall;         /* config_firewall.c */
    struct gw_rag_cfg rag;                   /* config_rag.c */
};

/* Loads path (or the embedded default when path is NULL). On error returns
 * NULL and writes "FILE:LINE: key: what is wrong" into err. */
struct gw_config *gw_config_load(const char *path, char *err, size_t errlen);
/* Same, from YAML text in memory (name is used in error messages). */
struct gw_config *gw_config_parse(const char *name, const char *text, size_t len, char *err,
                                  size_t errlen);
void gw_config_free(struct gw_config *cfg);

const struct gw_model_cfg *gw_config_model(const struct gw_config *cfg, const char *name);
int gw_config_provider_index(const struct gw_config *cfg, const char *name);
const char *gw_provider_type_name(enum gw_provider_type t);
/* "fallback", "round-robin", "weighted", "latency", "least-busy", "cost". */
const char *gw_strategy_name(enum gw_strategy s);

/* OpenAI-compatible services known by name: `type: groq` is `type: openai`
 * with the service's base URL (and, in the embedded default, the
 * environment variable that switches it on). */
struct gw_openai_preset {
    const char *type, *base_url, *env_key;
};
extern const struct gw_openai_preset gw_openai_presets[];

#endif

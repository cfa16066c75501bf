/* struct gw_request: the one object a client request is, from the first
 * header to the usage row. Owned jointly by the HTTP side (MHD) and, while a
 * transfer runs, the upstream worker: refs counts the owners and the last
 * gw_request_release() records usage and frees the arena.
 *
 * Fields are written by one side only, except those marked "mu": they are
 * shared between the MHD thread and the upstream thread and are read and
 * written with r->mu held. Once a stage has returned ASYNC, the MHD side no
 * longer allocates from r->arena: only the upstream thread does, until the
 * request ends, so the arena needs no lock. */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "durable.h"
#include "key_settings.h"
#include "ratelimit.h"

struct MHD_Connection;
struct gw_transfer;
struct gw_cfg_ref;
struct gw_cache_req;
struct gw_pii_map;
struct gw_outguard;
struct gw_pool_key;
struct gw_req_embed;
struct gw_subrequest;

enum gw_api {
    GW_API_NONE = 0,
    GW_API_CHAT = 1,         /* POST /v1/chat/completions (OpenAI wire format) */
    GW_API_MODELS = 2,       /* GET /v1/models */
    GW_API_MESSAGES = 4,     /* POST /v1/messages (Anthropic wire format) */
    GW_API_COUNT_TOKENS = 8, /* POST /v1/messages/count_tokens, answered locally */
    GW_API_EMBEDDINGS = 16,  /* POST /v1/embeddings (OpenAI wire format) */
    GW_API_REQUESTS = 32,    /* GET /v1/gw/requests[/{id}]: stored answers (durable.h) */
    GW_API_QUERY = 64,       /* POST /api/v1/query: the RAG-cache query API (query.h) */
    /* GET /api/v1/cache/stats, GET /api/v1/cache/entry, DELETE /api/v1/cache (query.h) */
    GW_API_QUERY_CACHE = 128,
};

/* The caller's identity, copied out of the key snapshot by the auth stage. */
struct gw_principal {
    const char *key_id, *key_name, *team_id, *team_name;
    const char **models;      /* allowed models, NULL-terminated; NULL = all */
    const char **team_models; /* the team's allowed models, the same way (both must allow) */
    int is_admin;
    struct gw_rl_state *key_rl, *team_rl;        /* rate-limit counters */
    struct gw_rl_limits key_limits, team_limits; /* -1: not set */
    struct gw_budget_limit key_budget, team_budget;
    /* the key's own switches for the PII, output guard, firewall and cache
     * stages (key_settings.h: -1 / 0 / < 0 per field = follow the config;
     * precedence: request header > key > model > config) */
    struct gw_key_settings settings;
};

struct gw_header {
    const char *name, *value;
    struct gw_header *next;
};

struct gw_request {
    struct gw_arena *arena;
    char id[32];
    long long t_start_us, t_start_wall_ms;
    atomic_int refs;
    struct gw_cfg_ref *cfgref;
    const struct gw_config *cfg;

    /* intake (MHD thread) */
    struct MHD_Connection *conn_mhd; /* for header lookups; valid on the MHD thread */
    int fd;                          /* client socket, probed while suspended */
    enum gw_api api;
    const char *method, *path;
    struct gw_buf body;
    int body_too_large;
    int queued;     /* a response has been queued with MHD */
    int dispatched; /* the pipeline has run */
    int stage;      /* pipeline position, for resumption */

    /* parsed request (pipeline stages) */
    cJSON *json;
    const char *model_name;
    int stream;
    int client_wants_usage; /* stream_options.include_usage was asked for */
    /* /v1/messages: the first Anthropic-only feature of the body (a document
     * or thinking block, a server tool, extended thinking; left out of json by
     * parse_messages): code, field and message of the 400 the dispatch stage
     * answers unless the body is relayed to an Anthropic-format upstream.
     * code NULL: none. */
    const char *anthropic_only_code, *anthropic_only_param, *anthropic_only_msg;
    /* A stage changed r->json after parsing (PII scrubbing, a prompt
     * template, RAG context): the caller's bytes no longer say what is to be
     * sent, so no adapter relays them; the body is built from r->json. */
    int json_rewritten;
    /* the prompt template the request used (stages/prompt.c, prompts.h):
     * name in the arena and version; NULL / 0: none */
    const char *prompt_name;
    int prompt_version;
    struct gw_principal who;
    int authed;
    long long input_tokens; /* see tokens.h; valid if input_tokens_known */
    int input_tokens_known;
    struct gw_rl_subject rl[2]; /* admitted rate-limit subjects (ratelimit stage) */
    int n_rl;
    long long rl_reserved;            /* tokens charged at admission */
    struct gw_spend *budget_spend[2]; /* budgets the request reserved against */
    long long budget_limit[2];
    const char *budget_what[2];
    long long budget_reserved; /* nano-USD reserved against each of them */
    int n_budget;
    int settled; /* the stages' done hooks have run (pipeline.c) */
    /* came through POST /api/v1/query (query.h): parse_query turned the body
     * into a chat request (r->api is GW_API_CHAT from there on); errors and
     * the answer take the query API's shape */
    int query_api;

    /* route */
    const struct gw_model_cfg *model;
    const struct gw_deployment_cfg *deployment;
    const struct gw_provider_cfg *provider;
    /* retries (route.c: gw_route_retry) */
    int attempts;                 /* upstream calls made, in total */
    int group_attempts;           /* of them, to the current model group */
    unsigned long long failed;    /* deployments of r->model that failed here (bit i) */
    const char *const *fallbacks; /* the fallback list being walked, or NULL */
    int next_fallback;            /* its next position */
    int retry_pending;            /* a retry's target is chosen, its call not made yet */
    /* the attempt's hold on its deployment's limits (route.c,
     * deployments.h): counted in flight and charged to its windows */
    int dep_held;
    long long dep_tokens, dep_start_us; /* tokens charged, and when */
    /* provider key pools and prefix-cache affinity (route.c, keypool.h,
     * affinity.h): the key this attempt sends, chosen by route for every
     * attempt (adapters send api_key, NULL: none) */
    const char *api_key;
    struct gw_pool_key *pool_key;   /* its live state, NULL when it has none */
    long long pool_key_tokens;      /* tokens charged to it when the call started */
    long long pool_key_start_us;    /* when they were charged (the window slot to correct) */
    int key_rested;                 /* the last attempt's 429 put its pooled key to rest */
    unsigned long long affinity_fp; /* the prefix's fingerprint; 0: no affinity lookup */
    /* caller headers an adapter reads, captured by dispatch on the MHD
     * thread (a retry runs the adapter again on the upstream thread) */
    const char *anthropic_version, *anthropic_beta;

    /* cache (stages/cache.c, cache.h) */
    struct gw_cache_req *cache; /* the stage's state for this request (arena); NULL: not run */
    size_t cache_keep;   /* keep a streamed answer's copy up to this many bytes (durable.h) */
    int resume_pipeline; /* mu: run the stages after the one that waited (http.c) */
    const char
        *cache_hit; /* "exact" / "semantic": answered from the cache (usage row); NULL: not */
    long long saved_tokens;  /* a hit: the tokens its answer cost when it was made */
    double saved_cost_usd;   /* a hit: what the answer cost when it was made */
    double cache_threshold;  /* semantic tier's threshold; <0: not set by the request */
    double cache_similarity; /* a semantic hit: the cosine similarity of the entry; 0: none */

    /* PII scrubbing and the output guard (stages/pii.c, stages/outguard.c,
     * textfilter.h), set on the MHD thread before dispatch: the answer's
     * text goes through filters on its way to the client */
    int text_filtered;          /* a filter is armed: answers are decoded, never relayed */
    struct gw_pii_map *pii_map; /* placeholders to restore (freed with the arena); or NULL */
    const struct gw_outguard *output_guard; /* the config's blocked output phrases; NULL: off */
    /* the guard ended the answer (pattern: which one); written by whoever
     * feeds the answer, read once the answer is over */
    int output_blocked, output_blocked_pattern;

    /* the request's local embeddings (req_embed.h: the user text and the
     * question, each computed at most once, on the pipeline's thread, for
     * the firewall, RAG and the semantic cache); NULL: none asked yet */
    struct gw_req_embed *embed;

    /* sub-requests (subrequest.h): as a parent, the one this request
     * started (its arena; the result is read after the wake); as a child,
     * its own record (NULL: a client's request) */
    struct gw_subrequest *sub, *sub_of;

    /* response */
    int status;
    const char *content_type;
    struct gw_header *headers; /* extra response headers */
    int streaming;             /* mu: a streamed 2xx response is being relayed */

    /* shared with the upstream thread */
    pthread_mutex_t mu;
    struct MHD_Connection *conn;  /* mu: NULL once MHD has completed the request */
    int suspended;                /* mu */
    int ready;                    /* mu: a response (or stream head) can be queued */
    int upstream_done;            /* mu: nothing more will be appended to out */
    int client_gone;              /* mu */
    int paused;                   /* mu: the transfer is paused for backpressure */
    struct gw_buf out;            /* mu: response bytes not yet given to MHD */
    struct gw_transfer *transfer; /* mu: set while an upstream transfer runs */
    struct gw_durable_copy kept;  /* mu: a streamed answer, kept to be stored (durable.h) */
    int undelivered;              /* mu: the client did not get the whole response */
    void *provider_state;         /* the adapter's per-request state (arena) */

    /* accounting (written before upstream_done, read after) */
    long long prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens;
    long long t_up_start_us, t_up_first_us, t_up_end_us, t_respond_us;
    long long overhead_us;
    const char *error; /* short description for the usage row */
    int record_usage;
};

/* Creates a request with one reference (the HTTP side's). */
struct gw_request *gw_request_new(void);
void gw_request_ref(struct gw_request *r);
/* Drops a reference; the last one records usage and frees everything. */
void gw_request_release(struct gw_request *r);

void gw_request_add_header(struct gw_request *r, const char *name, const char *value);
/* Replaces the value of the header name (any case) if it is set, else adds
 * it. */
void gw_request_set_header(struct gw_request *r, const char *name, const char *value);

/* Requests alive now (for status and for the shutdown drain). */
long gw_request_in_flight(void);
long long gw_request_total(void);

#endif

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
#include "ratelimit.h"

struct MHD_Connection;
struct gw_transfer;
struct gw_cfg_ref;

enum gw_api {
    GW_API_NONE = 0,
    GW_API_CHAT = 1,         /* POST /v1/chat/completions (OpenAI wire format) */
    GW_API_MODELS = 2,       /* GET /v1/models */
    GW_API_MESSAGES = 4,     /* POST /v1/messages (Anthropic wire format) */
    GW_API_COUNT_TOKENS = 8, /* POST /v1/messages/count_tokens, answered locally */
    GW_API_EMBEDDINGS = 16,  /* POST /v1/embeddings (OpenAI wire format) */
    GW_API_REQUESTS = 32,    /* GET /v1/gw/requests[/{id}]: stored answers (durable.h) */
};

/* The caller's identity, copied out of the key snapshot by the auth stage. */
struct gw_principal {
    const char *key_id, *key_name, *team_id, *team_name;
    const char **models; /* allowed models, NULL-terminated; NULL = all */
    int is_admin;
    struct gw_rl_state *key_rl, *team_rl;        /* rate-limit counters */
    struct gw_rl_limits key_limits, team_limits; /* -1: not set */
    struct gw_budget_limit key_budget, team_budget;
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
    /* caller headers an adapter reads, captured by dispatch on the MHD
     * thread (a retry runs the adapter again on the upstream thread) */
    const char *anthropic_version, *anthropic_beta;

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

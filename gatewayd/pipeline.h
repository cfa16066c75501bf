/* The request pipeline: an ordered table of stages, each in its own file
 * under stages/, run one after another until one answers (RESPOND), starts
 * I/O (ASYNC) or the table ends. */
#ifndef GW_PIPELINE_H
#define GW_PIPELINE_H

#include <stddef.h>

struct gw_config;
struct gw_request;

enum gw_stage_rc {
    GW_STAGE_CONTINUE, /* next stage */
    GW_STAGE_RESPOND,  /* r->status / r->out hold the answer */
    GW_STAGE_ASYNC,    /* I/O started; the response comes from the upstream worker */
};

struct gw_stage {
    const char *name;
    unsigned apis; /* bit set of enum gw_api this stage runs for */
    enum gw_stage_rc (*run)(struct gw_request *r);
    /* Optional: builds what the stage needs from a config (compiled
     * patterns...) once per config load, not per request; an error refuses
     * the config. The state lives as long as the config. */
    int (*setup)(const struct gw_config *cfg, void **state, char *err, size_t errlen);
    void (*teardown)(void *state);
    /* Optional: called once when a request that ran this stage ends (on
     * whichever thread ends it): settle what run() reserved. */
    void (*done)(struct gw_request *r);
};

/* Runs the stages for r->api from r->stage on. */
enum gw_stage_rc gw_pipeline_run(struct gw_request *r);

/* Calls the done hook of every stage the request ran, once: as soon as its
 * usage is final (before the client sees the end of the answer, so its next
 * request finds limits and budgets settled), or at the latest when the
 * request ends. */
void gw_pipeline_done(struct gw_request *r);

/* Per-config stage states: built by setup when a config is installed. */
int gw_pipeline_setup(const struct gw_config *cfg, void ***states, char *err, size_t errlen);
void gw_pipeline_teardown(void **states);
/* The state the stage's setup built for the config r runs under (or NULL). */
void *gw_pipeline_state(const struct gw_request *r, const struct gw_stage *stage);

/* Looks up a request header (case-insensitive); NULL if absent. Only on the
 * thread that is running the pipeline. */
const char *gw_request_header(struct gw_request *r, const char *name);
/* A query-string argument of the request URL (decoded); NULL if absent.
 * Same thread rule. */
const char *gw_request_query(struct gw_request *r, const char *name);

extern const struct gw_stage gw_stage_auth, gw_stage_models, gw_stage_parse, gw_stage_policy,
    gw_stage_ratelimit, gw_stage_route, gw_stage_budget, gw_stage_dispatch, gw_stage_parse_messages,
    gw_stage_count_tokens, gw_stage_parse_embeddings, gw_stage_requests;
extern const struct gw_stage gw_stage_cache;                             /* stages/cache.c */
extern const struct gw_stage gw_stage_prompt;                            /* stages/prompt.c */
extern const struct gw_stage gw_stage_pii;                               /* stages/pii.c */
extern const struct gw_stage gw_stage_outguard;                          /* stages/outguard.c */
extern const struct gw_stage gw_stage_rag;                               /* stages/rag.c */
extern const struct gw_stage gw_stage_firewall;                          /* stages/firewall.c */
extern const struct gw_stage gw_stage_parse_query, gw_stage_query_cache; /* stages/parse_query.c,
                                                                            stages/query_cache.c */

#endif

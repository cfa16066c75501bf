/* The stage table, in the order DESIGN.md §2 fixes. The order matters: a
 * stage may rely on what the stages above it set in the request (auth sets
 * r->who, parse sets r->json and r->model_name, route sets r->provider).
 * /v1/messages runs the same stages as chat: parse_messages translates its
 * body into the chat-completions form, so the stages after it need not know
 * which front door a request came through. /v1/embeddings runs the stages
 * that make sense for it (each stage's .apis says which): parse_embeddings
 * checks its body, and tokens.c counts its input, so policy, rate limits,
 * route, budget and dispatch treat it like a prompt with no answer.
 * One departure from DESIGN's order: the prompt template is rendered right
 * after parsing, so the content policy, the token count, the limits and
 * PII scrubbing all see the prompt that will really be sent (template and
 * inputs included). */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "request.h"
#include "runtime.h"

static const struct gw_stage *const stages[] = {
    &gw_stage_auth,             /* who is calling: virtual key -> r->who */
    &gw_stage_models,           /* GET /v1/models answers here */
    &gw_stage_requests,         /* GET /v1/gw/requests[/{id}] answers here */
    &gw_stage_query_cache,      /* the query API's /api/v1/cache endpoints answer here */
    &gw_stage_parse,            /* body -> validated JSON */
    &gw_stage_parse_messages,   /* /v1/messages body -> validated, translated to chat form */
    &gw_stage_parse_embeddings, /* /v1/embeddings body -> validated JSON */
    &gw_stage_parse_query,      /* /api/v1/query body -> a chat request (r->api: chat from here) */
    &gw_stage_prompt,           /* x-gw-prompt: template rendered in (before every check) */
    &gw_stage_policy,           /* blocked patterns, max_input_tokens */
    &gw_stage_ratelimit,        /* key and team limits; settled at the end */
    &gw_stage_pii,              /* personal data -> placeholders (restored in the answer) */
    &gw_stage_outguard,         /* arms the output guard on the answer's text */
    &gw_stage_rag,              /* a collection's chunks into the system message */
    &gw_stage_cache,            /* exact answers from the cache; single flight */
    &gw_stage_firewall,         /* user text vs. threat patterns: block, warn, log */
    &gw_stage_route,            /* model name -> deployment and provider */
    &gw_stage_count_tokens,     /* /v1/messages/count_tokens answers here */
    &gw_stage_budget,           /* key and team budgets, at the model's prices */
    &gw_stage_dispatch,         /* hand over to the provider's adapter */
};

#define N_STAGES (sizeof stages / sizeof stages[0])

int gw_pipeline_setup(const struct gw_config *cfg, void ***states, char *err, size_t errlen)
{
    void **st = calloc(N_STAGES, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < N_STAGES; i++) {
        if (stages[i]->setup && stages[i]->setup(cfg, &st[i], err, errlen) != 0) {
            gw_pipeline_teardown(st);
            return -1;
        }
    }
    *states = st;
    return 0;
}

void gw_pipeline_teardown(void **states)
{
    if (!states)
        return;
    for (size_t i = 0; i < N_STAGES; i++)
        if (states[i] && stages[i]->teardown)
            stages[i]->teardown(states[i]);
    free(states);
}

void *gw_pipeline_state(const struct gw_request *r, const struct gw_stage *stage)
{
    for (size_t i = 0; i < N_STAGES; i++)
        if (stages[i] == stage)
            return r->cfgref->stage_states ? r->cfgref->stage_states[i] : NULL;
    return NULL;
}

void gw_pipeline_done(struct gw_request *r)
{
    if (r->settled)
        return;
    r->settled = 1;
    for (size_t i = 0; i < (size_t)r->stage && i < N_STAGES; i++)
        if (stages[i]->done && (stages[i]->apis & (unsigned)r->api))
            stages[i]->done(r);
}

enum gw_stage_rc gw_pipeline_run(struct gw_request *r)
{
    const size_t n = N_STAGES;
    for (; (size_t)r->stage < n; r->stage++) {
        const struct gw_stage *s = stages[r->stage];
        if (!(s->apis & (unsigned)r->api))
            continue;
        enum gw_stage_rc rc = s->run(r);
        if (rc != GW_STAGE_CONTINUE) {
            gw_debug("%s: stage %s -> %s", r->id, s->name,
                     rc == GW_STAGE_RESPOND ? "respond" : "async");
            r->stage++;
            return rc;
        }
    }
    return GW_STAGE_CONTINUE;
}

/* Sub-requests: the gateway calling a model of its own config from inside a
 * request's pipeline (the firewall's LLM verdict asks a safety model), with
 * no client connection. The child is a gw_request of its own, run through
 * the gateway's own routing: route -> budget -> dispatch, so strategies,
 * retries, fallbacks, breakers and key pools all apply, and the model's
 * timeouts bound it. It is billed to the parent's key and team: its usage
 * row is its own (endpoint e.g. "internal:firewall", its own request id)
 * under the parent's key. The key's model list does not restrict it (the
 * operator chose the model); the key's budget does.
 *
 * DESIGN: a stage calls gw_subrequest_start and returns GW_STAGE_ASYNC; the
 * parent's connection is suspended like one waiting for an upstream. When
 * the child ends (its last release, on whichever thread: the upstream
 * worker, or the parent's own thread when routing answered at once), its
 * answer is read into a neutral result (the text of a chat answer, the
 * first vector of an embeddings answer), the optional done hook runs, and
 * the parent is woken to run its pipeline again FROM THE SAME STAGE
 * (r->resume_pipeline, http.c), which finds the result with
 * gw_subrequest_result. The child holds a reference on the parent until
 * then, so a parent whose client left is never woken after its end; a probe
 * on the upstream worker notices that client leaving meanwhile (a suspended
 * connection does not) and ends the parent at once. One sub-request per
 * request. */
#ifndef GW_SUBREQUEST_H
#define GW_SUBREQUEST_H

#include <cjson/cJSON.h>

#include "request.h"

/* What came back, in the parent's arena (valid until the parent ends). */
struct gw_subresult {
    int ok;             /* the model answered (2xx, and the answer could be read) */
    int status;         /* the child's HTTP status (0: it never got one) */
    const char *reason; /* !ok: why, one line for logs and headers */
    const char *text;   /* chat: the answer's message content; NULL for embeddings */
    const float *vec;   /* embeddings: the first input's vector (dim floats); else NULL */
    int dim;
    long long prompt_tokens, completion_tokens;
    char id[32]; /* the child's request id: its usage row */
};

struct gw_subrequest_spec {
    /* the child's usage row's endpoint, e.g. "internal:firewall"; also the
     * name gw_subrequest_result looks it up by */
    const char *endpoint;
    enum gw_api api; /* GW_API_CHAT (never streamed) or GW_API_EMBEDDINGS */
    cJSON *body;     /* owned from the call on, even on failure: the
                        chat-completions or embeddings body, with "model" */
    /* Optional: runs once, on the thread that ended the child, before the
     * parent is woken (res is the parent's; the parent's arena must not be
     * allocated from here). */
    void (*done)(struct gw_request *parent, const struct gw_subresult *res);
};

/* From a stage's run, on the pipeline's thread: starts the child. 0: the
 * stage must return GW_STAGE_ASYNC at once (touching r no more) and will be
 * run again once the result is in. -1: nothing started (the request already
 * has a sub-request, memory ran out, the worker is stopping); the stage
 * goes on without one. */
int gw_subrequest_start(struct gw_request *parent, const struct gw_subrequest_spec *spec);

/* On the pipeline's thread: the result of the request's sub-request started
 * with this endpoint, NULL while none has finished. */
const struct gw_subresult *gw_subrequest_result(struct gw_request *r, const char *endpoint);

/* From gw_request_release (any thread): when r is a child, hands its result
 * to its parent and wakes it. Nothing for any other request. */
void gw_subrequest_end(struct gw_request *r);

/* Reads a child's answer (status, body) into res: the first choice's
 * message text for chat, the first embedding for embeddings (float arrays
 * only). text/vec are malloc'd into *text / *vec (the caller frees them).
 * Exposed for the unit tests. */
void gw_subrequest_read(enum gw_api api, int status, const char *body, size_t len,
                        struct gw_subresult *res, char *reason, size_t reason_len, char **text,
                        float **vec);

#endif

/* Sub-requests (subrequest.h): a child gw_request run through route, budget
 * and dispatch for a stage of its parent, its answer read back into a
 * neutral result, and the parent woken to run that stage again.
 *
 * DESIGN, threads: the child is made and routed on the parent's pipeline
 * thread, inside the parent stage's run. Its end (gw_subrequest_end, from
 * its last release) runs on the upstream worker when a transfer was made,
 * or right there when route, budget or dispatch answered at once. Either
 * way the result is written into the parent's struct gw_subrequest (made in
 * the parent's arena before the child started; the text and vector are
 * malloc'd and freed with that arena), then `finished` and
 * r->resume_pipeline are set under the parent's mu and the parent is woken
 * (gw_http_wake_locked), the protocol of the cache's single flight. The
 * pipeline moves past a stage that returns ASYNC, so start steps r->stage
 * back one: the woken parent runs the same stage again. The parent's probe
 * (a timer on the upstream worker every PROBE_MS while the child runs)
 * reads `finished` under the same mu, so it never acts on a parent that
 * has moved on. */
#include "subrequest.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "http.h"
#include "log.h"
#include "pipeline.h"
#include "runtime.h"
#include "upstream.h"

#define PROBE_MS 100

struct gw_subrequest {
    struct gw_request *parent; /* referenced by the child until its end */
    const char *endpoint;      /* parent's arena */
    void (*done)(struct gw_request *parent, const struct gw_subresult *res);
    int finished; /* parent's mu: the result is written */
    struct gw_subresult res;
    char reason[200];
    char *text; /* malloc'd; freed with the parent's arena */
    float *vec;
};

static void sub_free(void *p)
{
    struct gw_subrequest *s = p;
    free(s->text);
    free(s->vec);
}

/* ---- reading the child's answer ----------------------------------------- */

static void fail(struct gw_subresult *res, char *reason, size_t n, const char *fmt,
                 const char *detail)
{
    res->ok = 0;
    snprintf(reason, n, fmt, detail ? detail : "");
    res->reason = reason;
}

void gw_subrequest_read(enum gw_api api, int status, const char *body, size_t len,
                        struct gw_subresult *res, char *reason, size_t reason_len, char **text,
                        float **vec)
{
    *text = NULL;
    *vec = NULL;
    res->status = status;
    res->ok = 0;
    cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    if (status < 200 || status >= 300) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        char what[160];
        snprintf(what, sizeof what, "status %d: %.120s", status,
                 cJSON_IsString(m) ? m->valuestring : "no answer");
        fail(res, reason, reason_len, "%s", what);
        goto out;
    }
    if (!j) {
        fail(res, reason, reason_len, "%sthe answer is not JSON", NULL);
        goto out;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
    if (cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble < 1e15)
        res->prompt_tokens = (long long)pt->valuedouble;
    if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 1e15)
        res->completion_tokens = (long long)ct->valuedouble;
    if (api == GW_API_EMBEDDINGS) {
        const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "data"), 0);
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(d, "embedding");
        int n = cJSON_IsArray(emb) ? cJSON_GetArraySize(emb) : 0;
        if (n <= 0 || n > 65536) {
            fail(res, reason, reason_len, "%sthe answer has no embedding", NULL);
            goto out;
        }
        float *v = malloc((size_t)n * sizeof *v);
        if (!v) {
            fail(res, reason, reason_len, "%sout of memory", NULL);
            goto out;
        }
        int i = 0;
        for (const cJSON *x = emb->child; x; x = x->next, i++) {
            if (!cJSON_IsNumber(x) || !(fabs(x->valuedouble) <= FLT_MAX)) {
                free(v);
                fail(res, reason, reason_len, "%sthe embedding holds a non-number", NULL);
                goto out;
            }
            v[i] = (float)x->valuedouble;
        }
        *vec = v;
        res->vec = v;
        res->dim = n;
        res->ok = 1;
        goto out;
    }
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c, "message");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!cJSON_IsString(content)) {
        fail(res, reason, reason_len, "%sthe answer has no text", NULL);
        goto out;
    }
    if (!(*text = strdup(content->valuestring))) {
        fail(res, reason, reason_len, "%sout of memory", NULL);
        goto out;
    }
    res->text = *text;
    res->ok = 1;
out:
    cJSON_Delete(j);
}

/* ---- the parent's probe (upstream thread) -------------------------------- */

/* While the child runs: the parent's client gone ends the parent now (its
 * connection resumed, MHD sees it gone); the child runs on to its end. */
static void probe(struct gw_request *r)
{
    struct gw_subrequest *s = r->sub;
    int gone = 0, again = 0;
    pthread_mutex_lock(&r->mu);
    if (!s->finished && !r->client_gone) {
        if (r->suspended && r->conn && r->fd >= 0) {
            char ch;
            ssize_t n = recv(r->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
            gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        }
        if (gone) {
            r->client_gone = 1;
            r->error = "client_gone";
            gw_http_wake_locked(r);
        } else {
            again = 1;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (gone)
        gw_debug("%s: the client left while a sub-request (%s) ran", r->id, s->endpoint);
    if (again)
        gw_upstream_after(r, PROBE_MS, probe);
}

/* ---- start ------------------------------------------------------------------ */

/* The parent's identity, copied into the child's arena (the child's usage
 * row is written after the parent may have ended). */
static void copy_principal(struct gw_request *c, const struct gw_principal *w)
{
    c->who = *w;
    c->who.key_id = w->key_id ? gw_arena_strdup(c->arena, w->key_id) : NULL;
    c->who.key_name = w->key_name ? gw_arena_strdup(c->arena, w->key_name) : NULL;
    c->who.team_id = w->team_id ? gw_arena_strdup(c->arena, w->team_id) : NULL;
    c->who.team_name = w->team_name ? gw_arena_strdup(c->arena, w->team_name) : NULL;
    c->who.models = NULL; /* the operator chose the model, not the caller */
    c->who.team_models = NULL;
    c->authed = 1;
}

/* The child's stages, in the order of the main table (pipeline.c). */
static const struct gw_stage *const sub_stages[] = {&gw_stage_route, &gw_stage_budget,
                                                    &gw_stage_dispatch};
#define N_SUB (sizeof sub_stages / sizeof sub_stages[0])

int gw_subrequest_start(struct gw_request *parent, const struct gw_subrequest_spec *spec)
{
    cJSON *body = spec->body;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (parent->sub || !cJSON_IsString(model) ||
        (spec->api != GW_API_CHAT && spec->api != GW_API_EMBEDDINGS)) {
        cJSON_Delete(body);
        return -1;
    }
    struct gw_subrequest *s = gw_arena_calloc(parent->arena, sizeof *s);
    struct gw_request *c = s ? gw_request_new() : NULL;
    if (!c || gw_arena_on_destroy(parent->arena, sub_free, s) != 0) {
        if (c)
            gw_request_release(c);
        cJSON_Delete(body);
        return -1;
    }
    /* the parent's config, not a newer one: the model it named is in it */
    gw_runtime_config_release(c->cfgref);
    atomic_fetch_add(&parent->cfgref->refs, 1);
    c->cfgref = parent->cfgref;
    c->cfg = parent->cfg;

    s->parent = parent;
    s->endpoint = gw_arena_strdup(parent->arena, spec->endpoint);
    s->done = spec->done;
    c->api = spec->api;
    c->method = "POST";
    c->path = gw_arena_strdup(c->arena, spec->endpoint);
    c->record_usage = 1;
    c->json = body;
    c->json_rewritten = 1; /* no caller bytes to relay: the body is built from json */
    c->model_name = gw_arena_strdup(c->arena, model->valuestring);
    c->stream = 0;
    copy_principal(c, &parent->who);
    c->sub_of = s;

    parent->sub = s;
    gw_request_ref(parent); /* the child's, dropped at its end */
    parent->stage--;        /* the pipeline moves past ASYNC: run this stage again */
    if (gw_upstream_after(parent, PROBE_MS, probe) != 0)
        gw_debug("%s: no probe for the sub-request (the worker is stopping)", parent->id);
    gw_debug("%s: sub-request %s (%s) to model %s", parent->id, c->id, spec->endpoint,
             c->model_name);

    enum gw_stage_rc rc = GW_STAGE_CONTINUE;
    for (size_t i = 0; i < N_SUB && rc == GW_STAGE_CONTINUE; i++)
        if (sub_stages[i]->apis & (unsigned)c->api)
            rc = sub_stages[i]->run(c);
    if (rc == GW_STAGE_CONTINUE) {
        c->status = 500;
        c->error = "no stage answered";
    }
    /* RESPOND: its answer is in c->out, and this release ends it (the
     * parent is told right here). ASYNC: the transfer holds it. */
    gw_request_release(c);
    return 0;
}

const struct gw_subresult *gw_subrequest_result(struct gw_request *r, const char *endpoint)
{
    struct gw_subrequest *s = r->sub;
    if (!s || strcmp(s->endpoint, endpoint) != 0)
        return NULL;
    pthread_mutex_lock(&r->mu);
    int finished = s->finished;
    pthread_mutex_unlock(&r->mu);
    return finished ? &s->res : NULL;
}

/* ---- end (the child's last release, any thread) ---------------------------- */

void gw_subrequest_end(struct gw_request *c)
{
    struct gw_subrequest *s = c->sub_of;
    if (!s)
        return;
    c->sub_of = NULL;
    /* the child's own stages' done hooks (its stage index stays 0, so the
     * main table's are not run for it): the breaker's outcome, the key's
     * slot, the budget's settlement */
    for (size_t i = N_SUB; i-- > 0;)
        if (sub_stages[i]->done && (sub_stages[i]->apis & (unsigned)c->api))
            sub_stages[i]->done(c);
    struct gw_request *p = s->parent;
    int status = c->status ? c->status : 502;
    gw_subrequest_read(c->api, status, c->out.data, c->out.len, &s->res, s->reason,
                       sizeof s->reason, &s->text, &s->vec);
    if (!s->res.ok && c->error && status < 300) /* e.g. a broken transfer */
        snprintf(s->reason, sizeof s->reason, "%s", c->error);
    else if (!s->res.ok && c->error)
        snprintf(s->reason + strlen(s->reason), sizeof s->reason - strlen(s->reason), " (%s)",
                 c->error);
    if (!s->res.ok)
        s->res.reason = s->reason;
    snprintf(s->res.id, sizeof s->res.id, "%s", c->id);
    if (!s->res.ok)
        gw_info("%s: sub-request %s (%s) failed: %s", p->id, c->id, s->endpoint, s->reason);
    if (s->done)
        s->done(p, &s->res);
    pthread_mutex_lock(&p->mu);
    s->finished = 1;
    p->resume_pipeline = 1;
    gw_http_wake_locked(p);
    pthread_mutex_unlock(&p->mu);
    gw_request_release(p);
}

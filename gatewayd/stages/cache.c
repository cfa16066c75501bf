/* Stage cache: answers a chat or messages request from the response cache
 * (cache.h, docs/caching.md) when an identical one has been answered, and
 * at the request's end stores a complete answer for the next.
 *
 * Controls, per request: x-gw-cache: off (neither look up nor store), on
 * (the default; overrides a model's `cache: {enabled: false}`) or refresh
 * (do not look up, store the fresh answer); Cache-Control: no-cache (as
 * refresh), no-store (look up, do not store); x-gw-cache-ttl: N (this
 * answer's lifetime in seconds). Per model: `cache: {enabled, ttl}`. The
 * response says x-gw-cache: hit-exact (with x-gw-cache-age), miss or off.
 * A hit costs nothing: its usage row bills no tokens, says cache_hit
 * "exact" and what the answer cost when it was made, and its rate-limit
 * reservation settles to zero; the budget stage, after this one, never
 * runs for it.
 *
 * The semantic tier (docs/caching.md): after the exact lookup missed, the
 * question's local vector (req_embed.h, the request's one embedding) is
 * searched in its partition (tenant, model, beta header and the canonical
 * request without the last user message); a match at or above the
 * threshold (x-gw-semantic-threshold > the key's > cache.semantic) that
 * passes verification (simcheck.h) is served as x-gw-cache: hit-semantic
 * with x-gw-cache-similarity. A stored answer gets its personal data back
 * into placeholders (pii.h) before it is kept.
 *
 * With cache.semantic.embedder provider the question's vector comes from
 * an embeddings model of the config instead, asked through a sub-request
 * (subrequest.h, endpoint "internal:cache-embed", billed to the caller's
 * key): the stage returns ASYNC after the exact tier missed, and runs again
 * with the vector. DESIGN: the second run resumes at the semantic part
 * (c->pending), never at the exact lookup, so the request leads or joins
 * its flight once. The vector is kept on the request (req_embed.h) and
 * stored with the entry under the embedder id "provider:MODEL", whose
 * vectors are only compared with each other. A failed embedding is a
 * semantic miss (gw_cache_embed_errors_total), never an error.
 *
 * DESIGN, single flight: a miss that will store leads a flight for its key;
 * an identical request arriving meanwhile joins it as a waiter and returns
 * ASYNC, so its connection is suspended like one waiting for an upstream,
 * holding a reference on its request. When the leader's request ends
 * (gw_cache_request_end, on whichever thread ends it), each waiter gets the
 * leader's answer replayed in its own format and stream mode and is woken,
 * or, when the answer cannot be cached, is woken to run the stages after
 * this one itself (r->resume_pipeline, http.c). Exactly one side decides a
 * waiter's fate: the leader takes the whole list out of the flight under
 * the store's lock, and a waiter's own probe (a timer on the upstream
 * worker every PROBE_MS: a suspended connection does not notice its client
 * leaving) takes it out only while it is still in. The probe also bounds
 * the wait by the model's total timeout, after which the waiter goes on by
 * itself. A waiter's client that leaves ends the request without an
 * answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cache.h"
#include "embed.h"
#include "errors.h"
#include "http.h"
#include "log.h"
#include "pii.h"
#include "pipeline.h"
#include "req_embed.h"
#include "request.h"
#include "runtime.h"
#include "semindex.h"
#include "simcheck.h"
#include "subrequest.h"
#include "tokens.h"
#include "upstream.h"
#include "usage.h"

#define PROBE_MS    100
#define MAX_TTL_S   (365 * 86400)
#define PARTITION_N 96

#define EMBED_ENDPOINT "internal:cache-embed"

/* The stage's state on a request (its arena). */
struct gw_cache_req {
    unsigned char key[GW_CACHE_KEY_LEN];
    char partition[PARTITION_N];
    const char *canon, *question; /* kept for a store */
    int store, leader, ttl;
    const float *vec;          /* the question's vector (r->arena); NULL: no semantic tier */
    int dim;                   /* vec's dimension */
    const char *embedder;      /* vec's embedder id: GW_EMBED_LOCAL_ID or "provider:MODEL" */
    uint64_t sem_partition;    /* the semantic tier's partition (with vec) */
    const char *beta;          /* the anthropic-beta header (part of the partition) */
    int lookup;                /* look the request up (else only store) */
    int pending;               /* waiting for the provider embedding: the next run resumes */
    enum gw_cache_found found; /* the exact tier's outcome */
    long long deadline_us;     /* a waiter goes on by itself after this */
    struct gw_cache_waiter waiter;
};

/* ---- answering from the cache -------------------------------------------- */

static void set_num_header(struct gw_request *r, const char *name, long long v)
{
    char num[32];
    snprintf(num, sizeof num, "%lld", v);
    gw_request_set_header(r, name, num);
}

/* r's answer is a (made at created_ms, costing cost): its body appended to
 * out, its status, headers and usage set. sim > 0: a semantic hit of that
 * similarity, else an exact one. Runs on the one thread that owns r at the
 * time. 0, or -1 when it cannot be written. */
static int answer_from(struct gw_request *r, const struct gw_cache_answer *a, long long created_ms,
                       double cost, double sim, struct gw_buf *out)
{
    if (gw_cache_replay(r, a, out) != 0)
        return -1;
    r->status = 200;
    r->content_type = r->stream ? "text/event-stream" : "application/json";
    gw_request_set_header(r, "x-gw-cache", sim > 0 ? "hit-semantic" : "hit-exact");
    if (sim > 0) {
        char num[16];
        snprintf(num, sizeof num, "%.4f", sim > 1 ? 1.0 : sim);
        gw_request_set_header(r, "x-gw-cache-similarity", num);
    }
    long long age = (gw_wall_ms() - created_ms) / 1000;
    set_num_header(r, "x-gw-cache-age", age > 0 ? age : 0);
    if (a->provider) {
        gw_request_set_header(r, "x-gw-provider", a->provider);
        if (a->model) {
            size_t n = strlen(a->provider) + strlen(a->model) + 2;
            char *label = gw_arena_alloc(r->arena, n);
            if (label) {
                snprintf(label, n, "%s/%s", a->provider, a->model);
                gw_request_set_header(r, "x-gw-deployment", label);
            }
        }
    }
    gw_request_set_header(r, "x-gw-attempts", "0");
    r->cache_hit = sim > 0 ? "semantic" : "exact";
    r->cache_similarity = sim > 0 ? sim : 0;
    r->saved_tokens = a->prompt_tokens + a->completion_tokens;
    r->saved_cost_usd = cost;
    r->prompt_tokens = r->completion_tokens = r->cached_tokens = r->cache_write_tokens = 0;
    r->cache->store = 0; /* a replay is not stored again */
    return 0;
}

/* A waiter's fate, decided by whoever took it out of its flight: answered
 * from a (NULL: go on to the upstream) and woken; drops the waiter's
 * reference. Any thread. */
static void resolve(struct gw_request *r, const struct gw_cache_answer *a, long long created_ms,
                    double cost, double sim)
{
    struct gw_buf out = {0};
    int served = a && answer_from(r, a, created_ms, cost, sim, &out) == 0;
    pthread_mutex_lock(&r->mu);
    r->t_up_end_us = gw_now_us(); /* the wait is not the gateway's own time */
    if (served) {
        gw_buf_free(&r->out);
        r->out = out;
        r->ready = 1;
        r->upstream_done = 1;
    } else {
        r->resume_pipeline = 1;
        r->t_up_start_us = 0; /* the wait was no upstream call (route.c's done hook) */
    }
    gw_http_wake_locked(r);
    pthread_mutex_unlock(&r->mu);
    if (served) {
        gw_cache_count_served(1, r->saved_tokens, cost);
        gw_cache_touch(r->cache->key, gw_wall_ms());
    } else {
        gw_buf_free(&out);
        gw_cache_count_unserved();
    }
    gw_debug("%s: %s by the request it waited for", r->id,
             served ? "answered" : "sent on to the upstream");
    gw_request_release(r);
}

/* A waiter's timer (upstream thread): its client gone, or waited too long,
 * and still in its flight: out, ended or sent on. Else again later. */
static void probe(struct gw_request *r)
{
    struct gw_cache_req *c = r->cache;
    if (!atomic_load(&c->waiter.attached))
        return; /* answered already */
    int gone = 0;
    pthread_mutex_lock(&r->mu);
    if (r->suspended && r->conn && r->fd >= 0 && !r->client_gone) {
        char ch;
        ssize_t n = recv(r->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
        gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
    gone |= r->client_gone;
    pthread_mutex_unlock(&r->mu);
    int late = gw_now_us() >= c->deadline_us;
    if (!gone && !late && gw_upstream_after(r, PROBE_MS, probe) == 0)
        return;
    if (!gw_cache_flight_leave(c->key, &c->waiter))
        return; /* the leader took it first */
    pthread_mutex_lock(&r->mu);
    r->t_up_end_us = gw_now_us();
    if (gone) {
        r->client_gone = 1;
        r->error = "client_gone";
    } else {
        r->resume_pipeline = 1;
        r->t_up_start_us = 0; /* the wait was no upstream call (route.c's done hook) */
    }
    gw_http_wake_locked(r);
    pthread_mutex_unlock(&r->mu);
    gw_cache_count_unserved();
    gw_debug("%s: %s while waiting for an identical request", r->id,
             gone ? "the client left" : "gave up (the model's total timeout)");
    gw_request_release(r);
}

/* ---- controls ------------------------------------------------------------- */

/* Cache-Control's no-cache (skip the lookup) and no-store (do not store). */
static void cache_control(const char *v, int *lookup, int *store)
{
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == 8 && strncasecmp(v, "no-cache", 8) == 0)
            *lookup = 0;
        else if (m == 8 && strncasecmp(v, "no-store", 8) == 0)
            *store = 0;
        v += n;
    }
}

static enum gw_stage_rc bad_header(struct gw_request *r, const char *name, const char *what)
{
    gw_error_respond(r, 400, "invalid_request_error", "invalid_value", name, "%s must be %s.", name,
                     what);
    return GW_STAGE_RESPOND;
}

/* ---- the stage -------------------------------------------------------------- */

static int setup(const struct gw_config *cfg, void **state, char *err, size_t errlen)
{
    const struct gw_cache_semantic_cfg *sc = &cfg->cache.semantic;
    if (sc->enabled && strcmp(sc->embedder, "provider") == 0 && !gw_config_model(cfg, sc->model)) {
        snprintf(err, errlen, "cache.semantic.model: '%s' is not a configured model",
                 sc->model ? sc->model : "");
        return -1;
    }
    if (gw_cache_init(cfg, gw_runtime.db_path[0] ? gw_runtime.db_path : NULL) != 0) {
        snprintf(err, errlen, "cache: out of memory");
        return -1;
    }
    return 0;
}

static void partition_of(const struct gw_request *r, char *out)
{
    if (r->cfg->cache.shared)
        snprintf(out, PARTITION_N, "*");
    else if (r->who.team_id)
        snprintf(out, PARTITION_N, "team:%s", r->who.team_id);
    else
        snprintf(out, PARTITION_N, "key:%s", r->who.key_id ? r->who.key_id : "");
}

/* ---- the semantic tier ---------------------------------------------------- */

/* The semantic tier's partition of r into *out: the embedder (its id), the tenant,
 * the model, the beta header and the canonical request with the last
 * message's content left out, so that two requests differing only in the
 * wording of their last user message share it. -1 when the tier does not
 * apply (the last message is not the user's) or memory runs out. */
static int semantic_partition(struct gw_request *r, const char *embedder, const char *tenant,
                              const char *beta, uint64_t *out)
{
    cJSON *dup = cJSON_Duplicate(r->json, 1);
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(dup, "messages");
    cJSON *last = NULL;
    for (cJSON *m = cJSON_IsArray(msgs) ? msgs->child : NULL; m; m = m->next)
        last = m;
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    int rc = -1;
    struct gw_buf canon = {0};
    if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0 &&
        cJSON_ReplaceItemInObjectCaseSensitive(last, "content", cJSON_CreateString("")) &&
        gw_cache_canonical(dup, &canon) == 0 && canon.data) {
        const char *parts[] = {embedder, tenant, r->model_name, beta, canon.data};
        *out = gw_semindex_partition(parts, sizeof parts / sizeof *parts);
        rc = 0;
    }
    gw_buf_free(&canon);
    cJSON_Delete(dup);
    return rc;
}

/* An entry of r's partition whose question is close to r's (at least the
 * request's threshold, else the config's) and passes the verification step
 * (simcheck.h): a reference, with its similarity in *sim; NULL when none. */
static const struct gw_cache_entry *
semantic_find(struct gw_request *r, const struct gw_cache_cfg *cc, long long now_ms, double *sim)
{
    struct gw_cache_req *c = r->cache;
    double key_th = r->who.key_id ? r->who.settings.cache_threshold : -1;
    double th = r->cache_threshold >= 0 ? r->cache_threshold
                : key_th >= 0           ? key_th
                                        : cc->semantic.threshold;
    struct gw_cache_sem_match m[GW_CACHE_SEM_MAX];
    int n = gw_cache_sem_search_vec(c->embedder, c->sem_partition, c->vec, c->dim, (float)th,
                                    now_ms, r->arena, m, GW_CACHE_SEM_MAX);
    const struct gw_cache_entry *e = NULL;
    int rejected = 0;
    size_t qn = strlen(c->question);
    for (int i = 0; i < n && !e; i++) {
        char why[200];
        if (gw_simcheck(c->question, qn, m[i].question, strlen(m[i].question), why, sizeof why) !=
            GW_SIMCHECK_PASS) {
            rejected++;
            gw_debug("%s: semantic match %.4f rejected: %s", r->id, m[i].sim, why);
            continue;
        }
        if ((e = gw_cache_get(cc, m[i].key, now_ms)))
            *sim = m[i].sim;
    }
    gw_cache_count_semantic(e != NULL, rejected);
    return e;
}

/* The provider embedding failed (why): a semantic miss, logged and
 * counted. */
static void embed_failed(struct gw_request *r, const char *why)
{
    gw_cache_count_embed_error();
    gw_info("%s: cache: no provider embedding (%s): semantic miss", r->id, why ? why : "?");
}

/* Asks the embeddings model for the question's vector (subrequest.h). 0:
 * the stage returns ASYNC now and runs again with the result. */
static int embed_start(struct gw_request *r, const char *model)
{
    struct gw_cache_req *c = r->cache;
    cJSON *body = cJSON_CreateObject();
    if (!body || !cJSON_AddStringToObject(body, "model", model) ||
        !cJSON_AddStringToObject(body, "input", c->question)) {
        cJSON_Delete(body);
        return -1;
    }
    struct gw_subrequest_spec spec = {
        .endpoint = EMBED_ENDPOINT, .api = GW_API_EMBEDDINGS, .body = body};
    c->pending = 1; /* set first: after a start, r is not touched */
    if (gw_subrequest_start(r, &spec) == 0)
        return 0;
    c->pending = 0;
    return -1;
}

/* The semantic tier's lookup with the question's vector (if any): a hit
 * answers r (and the waiters of the flight it led); else r goes on. */
static enum gw_stage_rc semantic_lookup(struct gw_request *r, const struct gw_cache_cfg *cc)
{
    struct gw_cache_req *c = r->cache;
    long long now_ms = gw_wall_ms();
    double sim = 0;
    const struct gw_cache_entry *se =
        c->lookup && c->vec ? semantic_find(r, cc, now_ms, &sim) : NULL;
    if (!se)
        return GW_STAGE_CONTINUE;
    int rc = answer_from(r, &se->answer, se->created_ms, se->cost_usd, sim, &r->out);
    if (rc == 0) {
        gw_cache_count_served(0, r->saved_tokens, r->saved_cost_usd);
        gw_cache_touch(se->key, now_ms);
    }
    /* identical requests that joined this one's flight get the same */
    struct gw_cache_waiter *w = c->leader ? gw_cache_flight_end(c->key) : NULL;
    c->leader = 0; /* the flight is over: the request's end has none to end */
    while (w) {
        struct gw_cache_waiter *next = w->next;
        resolve(w->r, rc == 0 ? &se->answer : NULL, se->created_ms, se->cost_usd, sim);
        w = next;
    }
    gw_cache_entry_release(se);
    if (rc != 0) {
        gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
        return GW_STAGE_RESPOND;
    }
    gw_debug("%s: semantic hit, similarity %.4f", r->id, sim);
    return GW_STAGE_RESPOND;
}

/* The semantic tier after the exact one missed: the question's vector, by
 * the local embedder (the request's one local embedding, req_embed.h) or by
 * the provider embedder (kept on the request, else asked for: ASYNC). */
static enum gw_stage_rc semantic(struct gw_request *r, const struct gw_cache_cfg *cc)
{
    struct gw_cache_req *c = r->cache;
    const struct gw_cache_semantic_cfg *sc = &cc->semantic;
    if (!sc->enabled || !*c->question)
        return GW_STAGE_CONTINUE;
    int provider = strcmp(sc->embedder, "provider") == 0;
    if (provider) {
        size_t n = strlen(sc->model) + sizeof "provider:";
        char *id = gw_arena_alloc(r->arena, n);
        if (!id)
            return GW_STAGE_CONTINUE;
        snprintf(id, n, "provider:%s", sc->model);
        c->embedder = id;
    } else {
        c->embedder = GW_EMBED_LOCAL_ID;
    }
    if (semantic_partition(r, c->embedder, c->partition, c->beta, &c->sem_partition) != 0)
        return GW_STAGE_CONTINUE;
    if (!provider) {
        c->vec = gw_request_embedding(r, GW_REQ_TEXT_QUESTION);
        c->dim = GW_EMBED_LOCAL_DIM;
    } else if (!(c->vec = gw_request_provider_embedding(r, c->embedder, &c->dim))) {
        if (r->sub) { /* one sub-request per request (subrequest.h) */
            embed_failed(r, "the request already made its sub-request");
        } else {
            if (embed_start(r, sc->model) == 0)
                return GW_STAGE_ASYNC; /* run again with the vector: semantic_resume */
            embed_failed(r, "the embeddings model could not be asked");
        }
    }
    return semantic_lookup(r, cc);
}

/* The second run: the provider embedding is in (or failed). */
static enum gw_stage_rc semantic_resume(struct gw_request *r, const struct gw_cache_cfg *cc)
{
    struct gw_cache_req *c = r->cache;
    c->pending = 0;
    const struct gw_subresult *res = gw_subrequest_result(r, EMBED_ENDPOINT);
    if (res && res->ok && res->vec && res->dim > 0 &&
        gw_request_set_provider_embedding(r, c->embedder, res->vec, res->dim) == 0) {
        c->vec = gw_request_provider_embedding(r, c->embedder, &c->dim);
        gw_debug("%s: provider embedding of %d dimensions (%s)", r->id, c->dim, res->id);
    } else {
        embed_failed(r, res ? res->reason : "no result");
    }
    return semantic_lookup(r, cc);
}

static enum gw_stage_rc run(struct gw_request *r)
{
    const struct gw_cache_cfg *cc = &r->cfg->cache;
    if (!cc->enabled)
        return GW_STAGE_CONTINUE;
    if (r->cache && r->cache->pending)
        return semantic_resume(r, cc);
    const struct gw_model_cfg *m = gw_config_model(r->cfg, r->model_name);
    /* precedence: the request's header > the key's setting > the model > the config */
    static const struct gw_key_settings inherit = GW_KEY_SETTINGS_INHERIT;
    const struct gw_key_settings *ks = r->who.key_id ? &r->who.settings : &inherit;
    int on = ks->cache >= 0 ? ks->cache : !m || m->cache.mode >= 0, lookup = 1, store = 1;
    int ttl = ks->cache_ttl > 0 ? ks->cache_ttl : m && m->cache.ttl ? m->cache.ttl : cc->ttl;
    const char *v = gw_request_header(r, "x-gw-cache");
    if (v) {
        if (strcasecmp(v, "off") == 0)
            lookup = store = 0;
        else if (strcasecmp(v, "on") == 0)
            on = 1;
        else if (strcasecmp(v, "refresh") == 0)
            on = 1, lookup = 0;
        else
            return bad_header(r, "x-gw-cache", "off, on or refresh");
    }
    cache_control(gw_request_header(r, "cache-control"), &lookup, &store);
    if ((v = gw_request_header(r, "x-gw-cache-ttl"))) {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (!*v || *end || errno || n < 1 || n > MAX_TTL_S)
            return bad_header(r, "x-gw-cache-ttl", "a number of seconds from 1 to 31536000");
        ttl = (int)n;
    }
    if ((v = gw_request_header(r, "x-gw-semantic-threshold"))) {
        char *end;
        errno = 0;
        double t = strtod(v, &end);
        if (!*v || *end || errno || !(t >= 0 && t <= 1))
            return bad_header(r, "x-gw-semantic-threshold", "a similarity from 0 to 1");
        r->cache_threshold = t;
    }
    const char *why = NULL;
    if (!on || ((lookup || store) && !gw_cache_request_cacheable(r, &why)))
        lookup = store = 0;
    if (!lookup && !store) {
        if (why)
            gw_debug("%s: not cached: %s", r->id, why);
        gw_request_set_header(r, "x-gw-cache", "off");
        return GW_STAGE_CONTINUE;
    }

    struct gw_cache_req *c = gw_arena_calloc(r->arena, sizeof *c);
    struct gw_buf canon = {0};
    if (!c || gw_buf_reserve(&canon, r->body.len + 256) != 0 ||
        gw_cache_canonical(r->json, &canon) != 0) {
        gw_buf_free(&canon);
        gw_request_set_header(r, "x-gw-cache", "off");
        return GW_STAGE_CONTINUE;
    }
    r->cache = c;
    c->ttl = ttl;
    c->store = store;
    c->waiter.r = r;
    partition_of(r, c->partition);
    /* an anthropic-beta header may switch features on for a relayed body */
    const char *beta = r->api == GW_API_MESSAGES ? gw_request_header(r, "anthropic-beta") : NULL;
    gw_cache_key(c->partition, r->model_name, beta, canon.data, canon.len, c->key);

    /* Once this request waits in a flight, another thread may answer it at
     * any moment: everything it needs is set before the lookup, including
     * what it stores if it is sent on to the upstream itself. */
    gw_tokens_input(r);
    c->question = gw_request_text(r, GW_REQ_TEXT_QUESTION);
    if (store) {
        c->canon = gw_arena_strndup(r->arena, canon.data, canon.len);
        if (r->stream) /* the stream's copy, to read the answer back from (durable.h) */
            r->cache_keep = (size_t)cc->max_entry_bytes;
    }
    gw_request_set_header(r, "x-gw-cache", "miss");
    long long now_us = gw_now_us(), now_ms = gw_wall_ms();
    long long total_ms = m ? m->timeouts.total_ms : r->cfg->timeouts.total_ms;
    c->deadline_us = now_us + total_ms * 1000;
    r->t_up_start_us = now_us;
    gw_request_ref(r); /* the waiter's, if it waits */
    const struct gw_cache_entry *e = NULL;
    enum gw_cache_found found =
        gw_cache_find(cc, c->key, now_ms, lookup, store, lookup ? &c->waiter : NULL, &e);
    if (found == GW_CACHE_WAIT) {
        gw_buf_free(&canon);
        if (gw_upstream_after(r, PROBE_MS, probe) == 0 ||
            !gw_cache_flight_leave(c->key, &c->waiter))
            return GW_STAGE_ASYNC; /* waiting, or already answered */
        found = GW_CACHE_MISS;     /* the worker is stopping: no waiting */
        gw_cache_count_unserved();
    }
    gw_request_release(r); /* not a waiter: never the last reference */
    r->t_up_start_us = 0;

    if (found == GW_CACHE_HIT) {
        gw_buf_free(&canon);
        if (answer_from(r, &e->answer, e->created_ms, e->cost_usd, 0, &r->out) != 0) {
            gw_cache_entry_release(e);
            gw_error_respond(r, 500, "server_error", "internal_error", NULL, "Out of memory.");
            return GW_STAGE_RESPOND;
        }
        gw_cache_count_served(0, r->saved_tokens, r->saved_cost_usd);
        gw_cache_touch(e->key, now_ms);
        gw_cache_entry_release(e);
        return GW_STAGE_RESPOND;
    }

    /* The exact tier missed: the semantic tier. From here on the stage may
     * go ASYNC for a provider embedding and resume in semantic_lookup. */
    gw_buf_free(&canon);
    c->found = found;
    c->lookup = lookup;
    c->beta = beta;
    /* set now: a request that ends while its embedding is asked still ends
     * its flight */
    c->leader = found == GW_CACHE_LEAD;
    return semantic(r, cc);
}

/* ---- the end of the request ---------------------------------------------------- */

/* s[0..*n) with the request's personal data values back in placeholders
 * (pii.h), in r->arena (*n updated); NULL when out of memory. */
static const char *rescrubbed(struct gw_request *r, const char *s, size_t *n)
{
    struct gw_buf b = {0};
    const char *out = NULL;
    if (gw_pii_rescrub(r->pii_map, s ? s : "", *n, &b) >= 0)
        out = gw_arena_strndup(r->arena, b.data ? b.data : "", b.len);
    *n = b.len;
    gw_buf_free(&b);
    return out;
}

/* The answer the client got has the values restored: what is stored gets
 * the placeholders back, so SQLite never holds them (a hit restores them
 * again from the new request's own map). 0 or -1. */
static int rescrub_answer(struct gw_request *r, struct gw_cache_answer *a)
{
    size_t n = a->content_len;
    if (!(a->content = rescrubbed(r, a->content, &n)))
        return -1;
    a->content_len = n;
    for (size_t i = 0; i < a->n_tools; i++) {
        n = a->tools[i].args ? strlen(a->tools[i].args) : 0;
        if (n && !(a->tools[i].args = rescrubbed(r, a->tools[i].args, &n)))
            return -1;
    }
    return 0;
}

static int feed(void *cap, const char *p, size_t n)
{
    return gw_cache_capture_feed(cap, p, n);
}

/* r's answer in the neutral form, if it is complete and may be cached;
 * *cost what it cost. 0 or -1. */
static int capture(struct gw_request *r, struct gw_cache_answer *a, double *cost)
{
    const char *why = "not a 200 answer";
    size_t max = (size_t)r->cfg->cache.max_entry_bytes;
    if (r->status != 200 || r->error)
        goto no;
    why = r->streaming && r->kept.broken ? "the stream broke" : "larger than cache.max_entry_bytes";
    if (r->streaming ? r->kept.broken || r->kept.len != r->kept.total || r->kept.total > max
                     : r->out.len > max)
        goto no;
    struct gw_cache_capture *cap = gw_cache_capture_new(r->api == GW_API_MESSAGES, r->stream);
    why = "out of memory";
    if (!cap)
        goto no;
    if (r->streaming)
        gw_durable_each(&r->kept, feed, cap);
    else
        gw_cache_capture_feed(cap, r->out.data ? r->out.data : "", r->out.len);
    int rc = gw_cache_capture_end(cap, r->arena, a, &why); /* says why a feed stopped, too */
    gw_cache_capture_free(cap);
    if (rc != 0)
        goto no;
    why = "out of memory";
    if (r->pii_map && rescrub_answer(r, a) != 0)
        goto no;
    /* what the provider billed, as the gateway counted it */
    if (r->prompt_tokens > 0)
        a->prompt_tokens = r->prompt_tokens;
    if (r->completion_tokens > 0)
        a->completion_tokens = r->completion_tokens;
    if (r->deployment)
        a->model = r->deployment->model;
    a->provider = r->provider ? r->provider->name : NULL;
    struct gw_token_counts counts = gw_usage_counts(r);
    *cost = gw_usage_cost(r->model ? &r->model->pricing : NULL, &counts);
    return 0;
no:
    gw_debug("%s: answer not cached: %s", r->id, why);
    return -1;
}

void gw_cache_request_end(struct gw_request *r)
{
    struct gw_cache_req *c = r->cache;
    if (!c || (!c->store && !c->leader))
        return;
    struct gw_cache_answer a;
    double cost = 0;
    long long now_ms = gw_wall_ms();
    int ok = c->store && capture(r, &a, &cost) == 0;
    if (ok) {
        struct gw_cache_put p = {
            .partition = c->partition,
            .key_id = r->who.key_id,
            .team_id = r->who.team_id,
            .model = r->model_name,
            .question = c->question,
            .request = c->canon,
            .embedding = c->vec,
            .sem_partition = c->sem_partition,
            .embedder = c->vec ? c->embedder : NULL,
            .dim = c->dim,
            .answer = &a,
            .created_ms = now_ms,
            .expires_ms = now_ms + (long long)c->ttl * 1000,
            .cost_usd = cost,
        };
        memcpy(p.key, c->key, GW_CACHE_KEY_LEN);
        gw_cache_put(&r->cfg->cache, &p);
    }
    if (!c->leader)
        return;
    /* the entry is in the hot tier now: a request arriving from here on
     * finds it rather than the flight */
    struct gw_cache_waiter *w = gw_cache_flight_end(c->key);
    while (w) {
        struct gw_cache_waiter *next = w->next;
        resolve(w->r, ok ? &a : NULL, now_ms, cost, 0);
        w = next;
    }
}

const struct gw_stage gw_stage_cache = {
    .name = "cache",
    .apis = GW_API_CHAT | GW_API_MESSAGES,
    .run = run,
    .setup = setup,
};

/* Request objects: creation with an id and clocks, shared ownership between
 * the HTTP side and the upstream worker, and the one place a request ends
 * (the last release records usage, then frees the arena). */
#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "crypto.h"
#include "pipeline.h"
#include "runtime.h"
#include "subrequest.h"
#include "usage.h"

static atomic_long in_flight;
static atomic_llong total;

static void free_json(void *p)
{
    cJSON_Delete(p);
}

struct gw_request *gw_request_new(void)
{
    struct gw_arena *a = gw_arena_new(8192);
    if (!a)
        return NULL;
    struct gw_request *r = gw_arena_calloc(a, sizeof *r);
    r->arena = a;
    r->t_start_us = gw_now_us();
    r->t_start_wall_ms = gw_wall_ms();
    /* time-ordered ids: 12 hex digits of wall-clock ms, then 12 random ones,
     * so the usage table's primary key grows at its end (cheap inserts) */
    snprintf(r->id, sizeof r->id, "req_%012llx%012llx",
             (unsigned long long)r->t_start_wall_ms & 0xffffffffffffULL,
             (unsigned long long)(gw_fast_random() & 0xffffffffffffULL));
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->mu, NULL);
    r->fd = -1;
    r->cache_threshold = -1; /* not set by the request */
    r->cfgref = gw_runtime_config_acquire();
    r->cfg = r->cfgref->cfg;
    atomic_fetch_add(&in_flight, 1);
    atomic_fetch_add(&total, 1);
    return r;
}

void gw_request_ref(struct gw_request *r)
{
    atomic_fetch_add(&r->refs, 1);
}

void gw_request_release(struct gw_request *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    gw_pipeline_done(r);
    gw_cache_request_end(r); /* before usage: it reads the kept answer, which usage frees */
    gw_subrequest_end(r);    /* a sub-request's result to its parent (subrequest.h) */
    if (r->record_usage)
        gw_usage_record(r);
    if (r->json)
        free_json(r->json);
    gw_buf_free(&r->body);
    gw_buf_free(&r->out);
    gw_durable_free(&r->kept);
    pthread_mutex_destroy(&r->mu);
    gw_runtime_config_release(r->cfgref);
    gw_arena_destroy(r->arena);
    atomic_fetch_sub(&in_flight, 1);
}

void gw_request_add_header(struct gw_request *r, const char *name, const char *value)
{
    struct gw_header *h = gw_arena_alloc(r->arena, sizeof *h);
    h->name = name;
    h->value = gw_arena_strdup(r->arena, value);
    h->next = r->headers;
    r->headers = h;
}

void gw_request_set_header(struct gw_request *r, const char *name, const char *value)
{
    for (struct gw_header *h = r->headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0) {
            h->value = gw_arena_strdup(r->arena, value);
            return;
        }
    gw_request_add_header(r, name, value);
}

long gw_request_in_flight(void)
{
    return atomic_load(&in_flight);
}

long long gw_request_total(void)
{
    return atomic_load(&total);
}

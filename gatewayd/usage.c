/* Usage rows. Called once per request, from its last release, on whichever
 * thread that is; the row is copied out of the arena (which is about to be
 * freed) into malloc'd memory that the writer frees after the commit. */
#include "usage.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "request.h"
#include "writer.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

double gw_usage_cost(const struct gw_pricing *p, const struct gw_token_counts *t)
{
    if (!p)
        return 0;
    long long cached = t->cached < t->prompt ? t->cached : t->prompt;
    long long written = t->cache_write < t->prompt - cached ? t->cache_write : t->prompt - cached;
    long long plain = t->prompt - cached - written;
    double read_price = p->cached_input_per_mtok > 0 ? p->cached_input_per_mtok : p->input_per_mtok;
    double write_price = p->cache_write_per_mtok > 0 ? p->cache_write_per_mtok : p->input_per_mtok;
    return ((double)plain * p->input_per_mtok + (double)cached * read_price +
            (double)written * write_price + (double)t->completion * p->output_per_mtok) /
           1e6;
}

struct gw_token_counts gw_usage_counts(const struct gw_request *r)
{
    return (struct gw_token_counts){r->prompt_tokens, r->completion_tokens, r->cached_tokens,
                                    r->cache_write_tokens};
}

void gw_usage_record(struct gw_request *r)
{
    struct gw_usage_rec *u = calloc(1, sizeof *u);
    if (!u)
        return;
    long long end = r->t_up_end_us > r->t_respond_us ? r->t_up_end_us : r->t_respond_us;
    if (end == 0)
        end = gw_now_us();
    memcpy(u->request_id, r->id, sizeof u->request_id);
    u->created_at_ms = r->t_start_wall_ms;
    u->key_id = dup_or_null(r->who.key_id);
    u->team_id = dup_or_null(r->who.team_id);
    u->endpoint = dup_or_null(r->path);
    u->model = dup_or_null(r->model_name);
    u->provider = dup_or_null(r->provider ? r->provider->name : NULL);
    u->upstream_model = dup_or_null(r->deployment ? r->deployment->model : NULL);
    u->error = dup_or_null(r->error);
    u->status = r->status;
    u->stream = r->stream;
    u->client_gone = r->client_gone;
    u->prompt_tokens = r->prompt_tokens;
    u->completion_tokens = r->completion_tokens;
    u->cached_tokens = r->cached_tokens;
    u->cache_write_tokens = r->cache_write_tokens;
    struct gw_token_counts counts = gw_usage_counts(r);
    u->cost_usd = gw_usage_cost(r->model ? &r->model->pricing : NULL, &counts);
    gw_metrics_request_done(r, u->cost_usd);
    u->latency_ms = (double)(end - r->t_start_us) / 1000.0;
    u->ttfb_ms = r->t_up_first_us ? (double)(r->t_up_first_us - r->t_start_us) / 1000.0 : -1;
    u->overhead_us = r->overhead_us;
    u->cache_hit = dup_or_null(r->cache_hit);
    u->saved_tokens = r->saved_tokens;
    u->saved_cost_usd = r->saved_cost_usd;
    u->prompt_name = dup_or_null(r->prompt_name);
    u->prompt_version = r->prompt_version;
    u->answer = gw_durable_capture(r); /* kept with the row, if it is to be (durable.h) */
    gw_writer_push_usage(u);
}

/* The single SQLite writer thread and the bounded ring that feeds it.
 * Usage rows (with a kept answer, if any), async changes (cache stores) and
 * admin changes are handed over as items; the writer commits them in batched transactions (at most
 * 1,000 items or ~100 ms each). */
#ifndef GW_WRITER_H
#define GW_WRITER_H

#include <sqlite3.h>
#include <stddef.h>

#define GW_WRITER_RING_SLOTS 65536

/* A kept answer (durable.h), written with its request's usage row: the row
 * of table answers takes id, time, key, model, status and stream from it. */
struct gw_answer_rec {
    long long expires_at_ms; /* 0: never */
    int client_gone;         /* the client did not receive the answer whole */
    int complete;            /* body is the whole answer and it ended normally */
    char *content_type;      /* malloc'd, may be NULL */
    char *body;              /* malloc'd: the first len bytes of the answer */
    size_t len, total;       /* total: the whole answer's length */
};

struct gw_usage_rec {
    char request_id[32];
    long long created_at_ms;
    char *key_id, *team_id, *endpoint, *model, *provider, *upstream_model, *error; /* malloc'd */
    int status, stream, client_gone;
    long long prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, overhead_us;
    double cost_usd, latency_ms, ttfb_ms; /* ttfb_ms < 0: none */
    struct gw_answer_rec *answer;         /* NULL unless the answer is kept */
    char *cache_hit;                      /* malloc'd: "exact" when served from the cache */
    long long saved_tokens;               /* a cache hit: what it saved */
    double saved_cost_usd;
    char *prompt_name;  /* malloc'd: the prompt template used, or NULL */
    int prompt_version; /* its version; 0 with no template */
};

/* A change run inside the writer's transaction (in its own savepoint).
 * apply returns SQLITE_OK or an error code; the caller of gw_writer_run
 * waits for the commit and gets that code back. */
typedef int (*gw_write_fn)(sqlite3 *db, void *arg);

struct gw_writer_stats {
    long long written, queued, stalls, batches, errors;
};

/* A fire-and-forget change (cache stores, hit counts): embedded first in
 * the caller's own struct and handed over with gw_writer_post. fn(db, a)
 * runs inside the next usage transaction, in a savepoint of its own (an
 * error rolls back that change alone, and is logged); release(a) runs after
 * the commit, whatever happened, and frees the item. Both run on the writer
 * thread; a commit that is retried runs fn again. */
struct gw_write_async {
    gw_write_fn fn;
    void (*release)(struct gw_write_async *a);
};

/* Opens its own connection to path; starts the thread. */
int gw_writer_start(const char *db_path, char *err, size_t errlen);
/* Hands a usage record over (takes ownership). Never drops: when the ring is
 * full it waits (bounded sleeps, counted as stalls) until there is room. */
void gw_writer_push_usage(struct gw_usage_rec *rec);
/* Runs fn(db, arg) on the writer thread, waits until it is committed, and
 * returns its result (or SQLITE_ERROR if the commit failed). */
int gw_writer_run(gw_write_fn fn, void *arg);
/* Hands an async change over (takes ownership; never drops it: a full ring
 * waits as for usage). */
void gw_writer_post(struct gw_write_async *a);
/* Waits until everything pushed before the call is committed. */
void gw_writer_flush(void);
void gw_writer_stats(struct gw_writer_stats *out);
/* Commits what is queued, stops the thread and closes its connection. */
void gw_writer_stop(void);

void gw_usage_rec_free(struct gw_usage_rec *rec);

#endif

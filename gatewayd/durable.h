/* Durable answers: the whole answer of a request whose client did not
 * receive it (or of every request, with durable_answers.store: all), kept in
 * SQLite for the key that made the request and read back with
 * GET /v1/gw/requests/{id} (stages/requests.c) and `gwctl request show`
 * (admin_requests.c).
 *
 * Where the bytes come from: a non-streamed answer is still whole in r->out
 * when the request ends, so nothing is copied while it runs. A stream's
 * bytes leave r->out as the client reads them, so the transfer keeps a copy
 * (r->kept, at most durable_answers.max_bytes) as it hands them over. When
 * the request ends, gw_durable_capture decides whether the answer is kept
 * and builds its row, which rides to the writer thread with the usage row
 * and is committed in the same transaction. */
#ifndef GW_DURABLE_H
#define GW_DURABLE_H

#include <sqlite3.h>
#include <stddef.h>

#include "buf.h"

struct gw_request;
struct gw_answer_rec;

struct gw_durable_chunk;

/* A streamed answer as it was handed over (r->mu): its first
 * durable_answers.max_bytes (or r->cache_keep, when the cache wants more),
 * in a list of chunks. */
struct gw_durable_copy {
    struct gw_durable_chunk *head, *tail;
    size_t len;   /* bytes kept */
    size_t total; /* the answer's whole length so far */
    int broken;   /* it ended short: the upstream failed mid-answer */
};

/* n more bytes of r's streamed answer, as handed to the client (or as they
 * would have been, once it has gone). Upstream thread, r->mu held. */
void gw_durable_keep(struct gw_request *r, const char *p, size_t n);
/* Calls fn(arg, piece, length) for the kept bytes in order; stops at (and
 * returns -1 for) a non-zero return. */
int gw_durable_each(const struct gw_durable_copy *c, int (*fn)(void *arg, const char *p, size_t n),
                    void *arg);
/* Frees what c holds (the request's end). */
void gw_durable_free(struct gw_durable_copy *c);

/* At the end of r (its last release): the row that keeps its answer, or
 * NULL when it is not kept. The row is malloc'd; the writer frees it. */
struct gw_answer_rec *gw_durable_capture(struct gw_request *r);

/* durable_read.c --------------------------------------------------------- */

/* A request id as the gateway makes them: "req_" and 24 lowercase hex
 * digits. */
int gw_durable_id_valid(const char *id);

/* Finds the stored answer of request id, if key_id is not NULL only one
 * made with that key, never an expired one, and appends its JSON object
 * (docs/http-api.md, GET /v1/gw/requests/{id}) to out. Returns 1 when
 * found, 0 when not, -1 on a database error. */
int gw_durable_lookup(sqlite3 *db, const char *id, const char *key_id, struct gw_buf *out);
/* Appends {"object":"list","data":[...]}: the limit newest unexpired stored
 * answers of key_id, each without its response. Returns how many, or -1 on
 * a database error. */
int gw_durable_list(sqlite3 *db, const char *key_id, int limit, struct gw_buf *out);

#endif

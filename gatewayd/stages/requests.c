/* Stage requests: the stored answers of the caller's key (durable.h).
 * GET /v1/gw/requests/{id} answers with one, GET /v1/gw/requests lists the
 * newest (without their responses), so a client that never saw the
 * x-request-id of a request it left can still find it. Another key's
 * request, an unknown id, an answer that was not kept and an expired one
 * are all the same 404, so a key learns nothing about other keys'
 * requests.
 *
 * DESIGN: a lookup is one indexed read on a read-only connection of the
 * calling HTTP thread, opened on its first lookup and closed when the
 * thread exits. In WAL mode a reader never waits for the writer, and no
 * lock is shared with other threads. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "durable.h"
#include "errors.h"
#include "log.h"
#include "pipeline.h"
#include "request.h"
#include "runtime.h"

#define PREFIX       "/v1/gw/requests/"
#define LIST_DEFAULT 20
#define LIST_MAX     100

static enum gw_stage_rc unreadable(struct gw_request *r, sqlite3 *db)
{
    if (db)
        gw_error("requests: %s: %s", r->path, sqlite3_errmsg(db));
    gw_error_respond(r, 500, "server_error", "internal_error", NULL,
                     "The stored answers cannot be read; try again.");
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc list(struct gw_request *r)
{
    int limit = LIST_DEFAULT;
    const char *v = gw_request_query(r, "limit");
    if (v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > LIST_MAX) {
            gw_error_respond(r, 400, "invalid_request_error", "invalid_value", "limit",
                             "'limit' must be an integer from 1 to %d.", LIST_MAX);
            return GW_STAGE_RESPOND;
        }
        limit = (int)n;
    }
    sqlite3 *db = gw_runtime_reader();
    if (!db || gw_durable_list(db, r->who.key_id, limit, &r->out) < 0)
        return unreadable(r, db);
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc one(struct gw_request *r, const char *id)
{
    int found = 0;
    if (gw_durable_id_valid(id)) {
        sqlite3 *db = gw_runtime_reader();
        found = db ? gw_durable_lookup(db, id, r->who.key_id, &r->out) : -1;
        if (found < 0)
            return unreadable(r, db);
    }
    if (!found)
        gw_error_respond(r, 404, "invalid_request_error", "not_found", NULL,
                         "No stored answer for request '%.64s'.", id);
    return GW_STAGE_RESPOND;
}

static enum gw_stage_rc run(struct gw_request *r)
{
    r->status = 200;
    r->content_type = "application/json";
    enum gw_stage_rc rc =
        strncmp(r->path, PREFIX, strlen(PREFIX)) == 0 ? one(r, r->path + strlen(PREFIX)) : list(r);
    if (r->status == 200)
        gw_buf_puts(&r->out, "\n");
    return rc;
}

const struct gw_stage gw_stage_requests = {
    .name = "requests",
    .apis = GW_API_REQUESTS,
    .run = run,
};

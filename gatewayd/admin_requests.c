/* The admin command request.show: one request's stored answer (durable.h),
 * read on the admin session's read-only connection. For an operator, unlike
 * GET /v1/gw/requests/{id}, any key's request is shown, and a request that
 * exists but whose answer was not kept gets a not_found that says so. */
#include <string.h>

#include "admin.h"
#include "buf.h"
#include "durable.h"

cJSON *gw_admin_cmd_request_show(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "id");
    if (!cJSON_IsString(v) || !*v->valuestring)
        return gw_admin_fail(ctx, "bad_request", "\"id\" is required (a request id, req_...)");
    const char *id = v->valuestring;
    if (!gw_durable_id_valid(id))
        return gw_admin_fail(ctx, "not_found",
                             "no request with id %.64s (ids are req_ and 24 hex digits)", id);
    struct gw_buf json = {0};
    cJSON *res = NULL;
    int found = gw_durable_lookup(ctx->db, id, NULL, &json);
    if (found < 0) {
        gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    } else if (found == 0) {
        sqlite3_stmt *st = NULL;
        int in_usage = 0;
        if (sqlite3_prepare_v2(ctx->db, "SELECT 1 FROM usage WHERE request_id = ?", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            in_usage = sqlite3_step(st) == SQLITE_ROW;
        }
        sqlite3_finalize(st);
        if (in_usage)
            gw_admin_fail(ctx, "not_found",
                          "request %s has no stored answer (its client received it whole, "
                          "durable_answers.store kept none, or it has expired)",
                          id);
        else
            gw_admin_fail(ctx, "not_found", "no request with id %s", id);
    } else {
        res = cJSON_CreateObject();
        cJSON_AddItemToObject(res, "request", cJSON_CreateRaw(json.data));
    }
    gw_buf_free(&json);
    return res;
}

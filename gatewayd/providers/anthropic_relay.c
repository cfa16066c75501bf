/* The relayed body of a /v1/messages request to an Anthropic-format
 * upstream: the caller's bytes as they came, with only the value of the
 * top-level "model" replaced by the deployment's model (or, for Vertex, the
 * member removed and "anthropic_version" added), so every field the gateway
 * does not interpret (cache_control hints, citations settings...) reaches
 * the provider exactly as the caller wrote it.
 *
 * DESIGN: json_member.h finds where the "model" member and its string
 * value lie; the body is then copied around that span. Anything the scanner
 * is not sure of (an escaped key, which might spell "model"; "model" twice;
 * a non-string value) falls back to a cJSON re-serialisation that removes
 * every "model" member before adding the one the gateway chose, so a caller
 * can never smuggle a second model past the route. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic-int.h"
#include "buf.h"
#include "errors.h"
#include "json_member.h"
#include "request.h"

static int splice(struct gw_request *r, int for_vertex, const struct gw_json_member *m,
                  struct gw_buf *out)
{
    const char *p = r->body.data;
    size_t n = r->body.len;
    int rc = 0;
    if (!for_vertex) {
        rc |= gw_buf_append(out, p, (size_t)m->val_start);
        rc |= gw_buf_json_str(out, r->deployment->model);
        rc |= gw_buf_append(out, p + m->val_end, n - (size_t)m->val_end);
        return rc;
    }
    /* drop the member with one of its commas, then add the version first */
    size_t cut_from, cut_to;
    int only_member = m->prev_sep < 0 && m->next_sep < 0;
    if (m->next_sep >= 0) {
        cut_from = (size_t)m->key_start;
        cut_to = (size_t)m->next_sep + 1;
    } else if (m->prev_sep >= 0) {
        cut_from = (size_t)m->prev_sep;
        cut_to = (size_t)m->val_end;
    } else {
        cut_from = (size_t)m->key_start;
        cut_to = (size_t)m->val_end;
    }
    size_t open = (size_t)m->open + 1;
    rc |= gw_buf_append(out, p, open);
    rc |= gw_buf_puts(out, "\"anthropic_version\":");
    rc |=
        gw_buf_json_str(out, r->provider->anthropic_version ? r->provider->anthropic_version : "");
    if (!only_member)
        rc |= gw_buf_puts(out, ",");
    rc |= gw_buf_append(out, p + open, cut_from - open);
    rc |= gw_buf_append(out, p + cut_to, n - cut_to);
    return rc;
}

/* The fallback: parse, drop every "model", add the gateway's. */
static char *reserialise(struct gw_request *r, int for_vertex)
{
    cJSON *j = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    while (cJSON_GetObjectItemCaseSensitive(j, "model"))
        cJSON_DeleteItemFromObjectCaseSensitive(j, "model");
    if (for_vertex)
        cJSON_AddItemToObject(j, "anthropic_version",
                              cJSON_CreateString(r->provider->anthropic_version
                                                     ? r->provider->anthropic_version
                                                     : ""));
    else
        cJSON_AddItemToObject(j, "model", cJSON_CreateString(r->deployment->model));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

char *gw_anthropic_relay_body(struct gw_request *r, int for_vertex, size_t *len)
{
    struct gw_json_member m = {0};
    char *body = NULL;
    if (r->body.data && gw_json_member(r->body.data, r->body.len, "model", &m) == 0 &&
        r->body.data[m.val_start] == '"') {
        struct gw_buf out = {0};
        if (splice(r, for_vertex, &m, &out) == 0 && out.data) {
            body = out.data; /* the buffer's bytes pass to the caller */
            *len = out.len;
        } else {
            gw_buf_free(&out);
        }
    } else if ((body = reserialise(r, for_vertex))) {
        *len = strlen(body);
    }
    if (!body)
        gw_error_respond(r, 500, "server_error", "internal_error", NULL,
                         "The request body could not be prepared for the provider.");
    return body;
}

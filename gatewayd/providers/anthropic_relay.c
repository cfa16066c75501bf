/* The relayed body of a /v1/messages request to an Anthropic-format
 * upstream: the caller's bytes as they came, with only the value of the
 * top-level "model" replaced by the deployment's model (or, for Vertex, the
 * member removed and "anthropic_version" added), so every field the gateway
 * does not interpret (cache_control hints, citations settings...) reaches
 * the provider exactly as the caller wrote it.
 *
 * DESIGN: a small scanner walks the top level of the JSON object (nested
 * values are skipped by bracket counting, strings by their escapes) and
 * records where the "model" member and its string value lie; the body is
 * then copied around that span. The parse stage has already checked the
 * body, so the scanner only needs to find its way. Anything it is not sure
 * of — an escaped key (which might spell "model"), "model" twice, a
 * non-string value — falls back to a cJSON re-serialisation that removes
 * every "model" member before adding the one the gateway chose, so a caller
 * can never smuggle a second model past the route. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic-int.h"
#include "buf.h"
#include "errors.h"
#include "request.h"

/* Where the top-level "model" member is: key_start is its key's opening
 * quote; val_start/val_end delimit the value's string literal, quotes
 * included; prev_sep / next_sep are the commas around the member (-1: none). */
struct model_span {
    long key_start, val_start, val_end, prev_sep, next_sep;
    long open; /* the object's opening brace */
};

static size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* p[i] is a quote: returns the index after the closing quote, or 0 on a
 * malformed string; *escaped tells whether it held a backslash. */
static size_t skip_string(const char *p, size_t n, size_t i, int *escaped)
{
    *escaped = 0;
    for (i++; i < n; i++) {
        if (p[i] == '\\') {
            *escaped = 1;
            i++;
        } else if (p[i] == '"') {
            return i + 1;
        }
    }
    return 0;
}

/* A value of any kind starting at p[i]: returns the index after it, or 0. */
static size_t skip_value(const char *p, size_t n, size_t i)
{
    int esc;
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return skip_string(p, n, i, &esc);
    if (p[i] != '{' && p[i] != '[') { /* number, true, false, null */
        while (i < n && !strchr(",}] \t\r\n", p[i]))
            i++;
        return i;
    }
    long depth = 0;
    while (i < n) {
        char c = p[i];
        if (c == '"') {
            if (!(i = skip_string(p, n, i, &esc)))
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']')
            depth--;
        i++;
        if (depth == 0)
            return i;
    }
    return 0;
}

/* Finds the one top-level "model" member with a string value. Returns 0, or
 * -1 when the splice cannot be trusted (see DESIGN). */
static int find_model(const char *p, size_t n, struct model_span *m)
{
    int found = 0, esc;
    long prev_sep = -1;
    size_t i = skip_ws(p, n, 0);
    if (i >= n || p[i] != '{')
        return -1;
    m->open = (long)i;
    i = skip_ws(p, n, i + 1);
    if (i < n && p[i] == '}')
        return -1; /* no members: no model */
    for (;;) {
        if (i >= n || p[i] != '"')
            return -1;
        size_t key = i, key_end = skip_string(p, n, i, &esc);
        if (!key_end || esc)
            return -1;
        int is_model = key_end - key == 7 && memcmp(p + key + 1, "model", 5) == 0;
        i = skip_ws(p, n, key_end);
        if (i >= n || p[i] != ':')
            return -1;
        i = skip_ws(p, n, i + 1);
        size_t val = i, val_end = skip_value(p, n, i);
        if (!val_end)
            return -1;
        if (is_model) {
            if (found || p[val] != '"')
                return -1;
            found = 1;
            m->key_start = (long)key;
            m->val_start = (long)val;
            m->val_end = (long)val_end;
            m->prev_sep = prev_sep;
            m->next_sep = -1;
        }
        i = skip_ws(p, n, val_end);
        if (i < n && p[i] == ',') {
            if (is_model)
                m->next_sep = (long)i;
            prev_sep = (long)i;
            i = skip_ws(p, n, i + 1);
            continue;
        }
        if (i < n && p[i] == '}')
            break;
        return -1;
    }
    return found ? 0 : -1;
}

static int splice(struct gw_request *r, int for_vertex, const struct model_span *m,
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
    struct model_span m = {0};
    char *body = NULL;
    if (r->body.data && find_model(r->body.data, r->body.len, &m) == 0) {
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

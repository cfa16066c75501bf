/* Durable answers, the read side (see durable.h): one stored answer by
 * request id, as the JSON object GET /v1/gw/requests/{id} answers with and
 * `gwctl request show` prints. The caller brings the connection (a
 * read-only one: the HTTP thread's own, or the admin session's). */
#include "durable.h"

#include <string.h>

/* Appends p[0..n) as a JSON string literal. Bytes that are not valid UTF-8
 * become U+FFFD, so the document stays valid whatever the provider sent. */
static int json_bytes(struct gw_buf *b, const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (gw_buf_reserve(b, n + 2) != 0 || gw_buf_append(b, "\"", 1) != 0)
        return -1;
    size_t i = 0, run = 0; /* p[run..i) is waiting to be copied as is */
    while (i < n) {
        unsigned char c = p[i];
        size_t len = 0; /* a valid sequence's length, 0 if invalid */
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            len = i + 1 < n && (p[i + 1] & 0xc0) == 0x80 ? 2 : 0;
        else if (c >= 0xe0 && c <= 0xef)
            len = i + 2 < n && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80 &&
                          !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] > 0x9f)
                      ? 3
                      : 0;
        else if (c >= 0xf0 && c <= 0xf4)
            len = i + 3 < n && (p[i + 1] & 0xc0) == 0x80 && (p[i + 2] & 0xc0) == 0x80 &&
                          (p[i + 3] & 0xc0) == 0x80 && !(c == 0xf0 && p[i + 1] < 0x90) &&
                          !(c == 0xf4 && p[i + 1] > 0x8f)
                      ? 4
                      : 0;
        if (len) {
            i += len;
            continue;
        }
        if (gw_buf_append(b, p + run, i - run) != 0)
            return -1;
        char esc[7];
        size_t k = 2;
        esc[0] = '\\';
        if (c == '"' || c == '\\')
            esc[1] = (char)c;
        else if (c == '\n')
            esc[1] = 'n';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c == '\t')
            esc[1] = 't';
        else if (c < 0x20)
            memcpy(esc + 1, "u00", 3), esc[4] = hex[c >> 4], esc[5] = hex[c & 15], k = 6;
        else
            memcpy(esc + 1, "ufffd", 5), k = 6;
        if (gw_buf_append(b, esc, k) != 0)
            return -1;
        run = ++i;
    }
    if (gw_buf_append(b, p + run, n - run) != 0)
        return -1;
    return gw_buf_append(b, "\"", 1);
}

static void json_text_col(struct gw_buf *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        gw_buf_puts(b, "null");
        return;
    }
    const unsigned char *s = sqlite3_column_text(st, col);
    json_bytes(b, s, (size_t)sqlite3_column_bytes(st, col));
}

int gw_durable_id_valid(const char *id)
{
    if (strncmp(id, "req_", 4) != 0 || strlen(id) != 28)
        return 0;
    for (const char *p = id + 4; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* The columns row_json reads; a lookup adds the body as column 11. */
#define COLUMNS                                                                                    \
    "request_id, created_at, key_id, model, status, stream, client_gone, complete, "               \
    "content_type, response_bytes, length(body)"

/* One answer as its JSON object; with the response when with_body. */
static void row_json(struct gw_buf *out, sqlite3_stmt *st, int with_body)
{
    long long body_len = sqlite3_column_int64(st, 10);
    long long total = sqlite3_column_int64(st, 9);
    gw_buf_puts(out, "{\"id\":");
    json_text_col(out, st, 0);
    gw_buf_printf(out,
                  ",\"object\":\"gw.request\",\"status\":%d,\"model\":", sqlite3_column_int(st, 4));
    json_text_col(out, st, 3);
    gw_buf_printf(out,
                  ",\"created_at\":%lld,\"complete\":%s,\"truncated\":%s,\"stream\":%s,"
                  "\"client_gone\":%s,\"content_type\":",
                  sqlite3_column_int64(st, 1) / 1000, sqlite3_column_int(st, 7) ? "true" : "false",
                  body_len < total ? "true" : "false", sqlite3_column_int(st, 5) ? "true" : "false",
                  sqlite3_column_int(st, 6) ? "true" : "false");
    json_text_col(out, st, 8);
    gw_buf_printf(out, ",\"response_bytes\":%lld,\"key_id\":", total);
    json_text_col(out, st, 2);
    if (with_body) {
        gw_buf_puts(out, ",\"response\":");
        const void *body = sqlite3_column_blob(st, 11);
        json_bytes(out, body ? body : "", (size_t)sqlite3_column_bytes(st, 11));
    }
    gw_buf_puts(out, "}");
}

int gw_durable_lookup(sqlite3 *db, const char *id, const char *key_id, struct gw_buf *out)
{
    sqlite3_stmt *st = NULL;
    int found = -1;
    /* prepared per call: lookups are rare next to the request traffic */
    if (sqlite3_prepare_v2(db,
                           "SELECT " COLUMNS ", body FROM answers WHERE request_id = ?1 "
                           "AND (?2 IS NULL OR key_id = ?2) "
                           "AND (expires_at IS NULL OR expires_at > ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (key_id)
        sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, gw_wall_ms());
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_json(out, st, 1);
        found = 1;
    } else if (rc == SQLITE_DONE) {
        found = 0;
    }
out:
    sqlite3_finalize(st);
    return found;
}

int gw_durable_list(sqlite3 *db, const char *key_id, int limit, struct gw_buf *out)
{
    sqlite3_stmt *st = NULL;
    int n = 0, rc = SQLITE_ERROR;
    if (sqlite3_prepare_v2(db,
                           "SELECT " COLUMNS " FROM answers WHERE key_id = ?1 "
                           "AND (expires_at IS NULL OR expires_at > ?2) "
                           "ORDER BY created_at DESC, request_id DESC LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, gw_wall_ms());
    sqlite3_bind_int(st, 3, limit);
    gw_buf_puts(out, "{\"object\":\"list\",\"data\":[");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++)
            gw_buf_puts(out, ",");
        row_json(out, st, 0);
    }
    gw_buf_puts(out, "]}");
out:
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

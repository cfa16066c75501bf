/* Unit tests of durable answers (gatewayd/durable.c, durable_read.c): a
 * streamed answer kept in pieces of every size comes back byte for byte,
 * cut at max_bytes and never inside a UTF-8 character; which requests are
 * kept under store: gone, all and off; a non-streamed answer is copied from
 * r->out; the JSON of a stored row escapes quotes, backslashes and control
 * characters and turns bytes that are not UTF-8 into U+FFFD (so it always
 * parses); only the owning key finds a row, never an expired one; the list
 * is newest first without responses; request ids are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "durable.h"
#include "request.h"
#include "writer.h"

/* A request as the capture sees it at its end. */
static void fake_request(struct gw_request *r, struct gw_config *cfg, enum gw_durable_store store,
                         long long max_bytes)
{
    memset(r, 0, sizeof *r);
    memset(cfg, 0, sizeof *cfg);
    cfg->durable_answers.store = store;
    cfg->durable_answers.max_bytes = max_bytes;
    cfg->durable_answers.retention_hours = 24;
    r->cfg = cfg;
    r->who.key_id = "key_0123456789abcdef";
    r->status = 200;
    r->t_start_wall_ms = 1000;
}

static void free_rec(struct gw_answer_rec *a)
{
    if (!a)
        return;
    free(a->body);
    free(a->content_type);
    free(a);
}

static void test_stream_kept_whole_in_any_pieces(void **state)
{
    static char answer[200000];
    for (size_t i = 0; i < sizeof answer; i++)
        answer[i] = (char)('a' + i % 26);
    static const size_t pieces[] = {1, 7, 4096, 4097, 65536, 100000};
    for (size_t k = 0; k < sizeof pieces / sizeof *pieces; k++) {
        struct gw_request r;
        struct gw_config cfg;
        fake_request(&r, &cfg, GW_DURABLE_ALL, 1 << 20);
        r.streaming = 1;
        r.content_type = "text/event-stream";
        for (size_t off = 0; off < sizeof answer; off += pieces[k]) {
            size_t n = sizeof answer - off < pieces[k] ? sizeof answer - off : pieces[k];
            gw_durable_keep(&r, answer + off, n);
        }
        struct gw_answer_rec *a = gw_durable_capture(&r);
        assert_non_null(a);
        assert_int_equal(a->len, sizeof answer);
        assert_int_equal(a->total, sizeof answer);
        assert_memory_equal(a->body, answer, sizeof answer);
        assert_true(a->complete);
        assert_string_equal(a->content_type, "text/event-stream");
        assert_int_equal(a->expires_at_ms, 1000 + 24 * 3600000LL);
        assert_null(r.kept.head); /* the chunks were joined and freed */
        free_rec(a);
        gw_durable_free(&r.kept);
    }
}

static void test_cut_at_max_bytes_on_a_character(void **state)
{
    /* "€" is 3 bytes: with a 1024-byte cap after one ASCII byte, the cap
     * falls inside a character whatever the pieces */
    char answer[3001];
    answer[0] = 'x';
    for (int i = 0; i < 1000; i++)
        memcpy(answer + 1 + 3 * i, "\xe2\x82\xac", 3);
    struct gw_request r;
    struct gw_config cfg;
    fake_request(&r, &cfg, GW_DURABLE_ALL, 1024);
    r.streaming = 1;
    gw_durable_keep(&r, answer, 500);
    gw_durable_keep(&r, answer + 500, sizeof answer - 500);
    struct gw_answer_rec *a = gw_durable_capture(&r);
    assert_non_null(a);
    assert_int_equal(a->total, sizeof answer);
    assert_int_equal(a->len, 1 + 3 * 341); /* 1024 would split the 342nd */
    assert_memory_equal(a->body, answer, a->len);
    assert_false(a->complete);
    free_rec(a);

    /* the same through r->out, non-streamed */
    fake_request(&r, &cfg, GW_DURABLE_ALL, 1024);
    gw_buf_append(&r.out, answer, sizeof answer);
    a = gw_durable_capture(&r);
    assert_non_null(a);
    assert_int_equal(a->len, 1 + 3 * 341);
    assert_int_equal(a->total, sizeof answer);
    assert_false(a->complete);
    free_rec(a);
    gw_buf_free(&r.out);
}

static void test_which_answers_are_kept(void **state)
{
    struct gw_request r;
    struct gw_config cfg;
    fake_request(&r, &cfg, GW_DURABLE_GONE, 1 << 20);
    gw_buf_puts(&r.out, "{\"ok\":true}");
    assert_null(gw_durable_capture(&r)); /* delivered */
    r.undelivered = 1;
    struct gw_answer_rec *a = gw_durable_capture(&r);
    assert_non_null(a);
    assert_true(a->client_gone && a->complete);
    assert_int_equal(a->len, 11);
    assert_memory_equal(a->body, "{\"ok\":true}", 11);
    free_rec(a);
    r.undelivered = 0;
    r.client_gone = 1;
    assert_non_null(a = gw_durable_capture(&r));
    free_rec(a);

    r.who.key_id = NULL; /* nobody could read it */
    assert_null(gw_durable_capture(&r));
    r.who.key_id = "key_0123456789abcdef";
    r.status = 0; /* no answer at all */
    assert_null(gw_durable_capture(&r));
    r.status = 200;

    cfg.durable_answers.store = GW_DURABLE_OFF;
    assert_null(gw_durable_capture(&r));
    cfg.durable_answers.store = GW_DURABLE_ALL;
    r.client_gone = 0;
    assert_non_null(a = gw_durable_capture(&r));
    assert_false(a->client_gone);
    free_rec(a);
    gw_buf_free(&r.out);

    /* store: off keeps no copy of a stream at all */
    fake_request(&r, &cfg, GW_DURABLE_OFF, 1 << 20);
    r.streaming = 1;
    gw_durable_keep(&r, "data: x\n\n", 9);
    assert_null(r.kept.head);
    /* a stream that broke off is kept, incomplete */
    fake_request(&r, &cfg, GW_DURABLE_GONE, 1 << 20);
    r.streaming = 1;
    r.undelivered = 1;
    gw_durable_keep(&r, "data: x\n\n", 9);
    r.kept.broken = 1;
    assert_non_null(a = gw_durable_capture(&r));
    assert_int_equal(a->len, 9);
    assert_false(a->complete);
    free_rec(a);
    gw_durable_free(&r.kept);
}

/* ---- the read side, on an in-memory database ----------------------------- */

static sqlite3 *open_db(void)
{
    char err[256];
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    if (gw_db_migrate(db, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    return db;
}

static void insert(sqlite3 *db, const char *id, const char *key, long long created,
                   long long expires, const void *body, int len, long long total)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO answers (request_id, created_at, expires_at, "
                                        "key_id, model, status, stream, client_gone, complete, "
                                        "content_type, response_bytes, body) "
                                        "VALUES (?,?,?,?,'m\"1',200,1,1,1,'text/event-stream',?,?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, created);
    if (expires)
        sqlite3_bind_int64(st, 3, expires);
    sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, total);
    sqlite3_bind_blob(st, 6, body, len, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

#define ID1 "req_000000000000000000000001"
#define ID2 "req_000000000000000000000002"
#define ID3 "req_000000000000000000000003"

static void test_lookup_json(void **state)
{
    sqlite3 *db = open_db();
    /* quotes, backslash, newline, a control byte, DEL, valid 2/3/4-byte
     * characters, then bytes that are not UTF-8: a lone continuation, an
     * overlong form, a surrogate, a truncated sequence at the end */
    static const char body[] = "a\"b\\c\nd\x01\x7f"
                               "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                               "\x80\xc0\xaf\xed\xa0\x80\xe2\x82";
    insert(db, ID1, "key_a", 1700000000123LL, 0, body, (int)sizeof body - 1, sizeof body - 1);
    struct gw_buf out = {0};
    assert_int_equal(gw_durable_lookup(db, ID1, "key_a", &out), 1);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, ID1);
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring, "gw.request");
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "m\"1");
    assert_int_equal(cJSON_GetObjectItem(j, "created_at")->valuedouble, 1700000000);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "complete")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "truncated")));
    assert_string_equal(cJSON_GetObjectItem(j, "key_id")->valuestring, "key_a");
    assert_string_equal(cJSON_GetObjectItem(j, "response")->valuestring,
                        "a\"b\\c\nd\x01\x7f"
                        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                        "\xef\xbf\xbd"                         /* \x80 */
                        "\xef\xbf\xbd\xef\xbf\xbd"             /* \xc0 \xaf */
                        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" /* \xed \xa0 \x80 */
                        "\xef\xbf\xbd\xef\xbf\xbd");           /* \xe2 \x82 */
    assert_non_null(strstr(out.data, "\\u0001"));
    cJSON_Delete(j);

    /* another key, an unknown id: not found; key NULL (the operator): found */
    gw_buf_reset(&out);
    assert_int_equal(gw_durable_lookup(db, ID1, "key_b", &out), 0);
    assert_int_equal(gw_durable_lookup(db, ID2, "key_a", &out), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(gw_durable_lookup(db, ID1, NULL, &out), 1);
    gw_buf_free(&out);
    sqlite3_close(db);
}

static void test_expiry_list_and_truncated(void **state)
{
    sqlite3 *db = open_db();
    insert(db, ID1, "key_a", 1000, 0, "x", 1, 1);
    insert(db, ID2, "key_a", 2000, gw_wall_ms() + 3600000, "yy", 2, 10); /* cut */
    insert(db, ID3, "key_a", 3000, 5000, "z", 1, 1);                     /* expired */
    struct gw_buf out = {0};
    assert_int_equal(gw_durable_lookup(db, ID3, "key_a", &out), 0);
    assert_int_equal(gw_durable_list(db, "key_a", 20, &out), 2);
    cJSON *j = cJSON_Parse(out.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "object")->valuestring, "list");
    cJSON *data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    cJSON *first = cJSON_GetArrayItem(data, 0);
    assert_string_equal(cJSON_GetObjectItem(first, "id")->valuestring, ID2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(first, "truncated")));
    assert_int_equal(cJSON_GetObjectItem(first, "response_bytes")->valuedouble, 10);
    assert_null(cJSON_GetObjectItem(first, "response"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 1), "id")->valuestring, ID1);
    cJSON_Delete(j);
    gw_buf_reset(&out);
    assert_int_equal(gw_durable_list(db, "key_a", 1, &out), 1);
    gw_buf_reset(&out);
    assert_int_equal(gw_durable_list(db, "key_b", 20, &out), 0);
    assert_string_equal(out.data, "{\"object\":\"list\",\"data\":[]}");
    gw_buf_free(&out);
    sqlite3_close(db);
}

static void test_id_valid(void **state)
{
    assert_true(gw_durable_id_valid("req_01a206cba5d78ca8b83e4f5d"));
    assert_false(gw_durable_id_valid("req_01a206cba5d78ca8b83e4f5"));
    assert_false(gw_durable_id_valid("req_01a206cba5d78ca8b83e4f5d0"));
    assert_false(gw_durable_id_valid("req_01A206CBA5D78CA8B83E4F5D"));
    assert_false(gw_durable_id_valid("key_01a206cba5d78ca8b83e4f5d"));
    assert_false(gw_durable_id_valid("req_01a206cba5d78ca8b83e4f5'"));
    assert_false(gw_durable_id_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_kept_whole_in_any_pieces),
        cmocka_unit_test(test_cut_at_max_bytes_on_a_character),
        cmocka_unit_test(test_which_answers_are_kept),
        cmocka_unit_test(test_lookup_json),
        cmocka_unit_test(test_expiry_list_and_truncated),
        cmocka_unit_test(test_id_valid),
    };
    return cmocka_run_group_tests_name("durable", tests, NULL, NULL);
}

/* Unit tests of gatewayd/key_settings.c: the admin arguments in both their
 * JSON and their gwctl text forms, the refusals (each naming its argument),
 * and the round trip through the keys table's columns (schema 011) and the
 * JSON key show prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <string.h>

#include "key_settings.h"
#include "pii.h"

static int parse(const char *json, struct gw_key_settings_change *c, char *err, size_t n)
{
    cJSON *args = cJSON_Parse(json);
    assert_non_null(args);
    err[0] = '\0';
    int rc = gw_key_settings_parse(args, c, err, n);
    cJSON_Delete(args);
    return rc;
}

static void test_parse_forms(void **state)
{
    struct gw_key_settings_change c;
    char err[200];
    assert_int_equal(parse("{}", &c, err, sizeof err), 0);
    assert_int_equal(c.present, 0);
    assert_int_equal(c.to.pii, -1);

    assert_int_equal(parse("{\"pii\":true,\"output_guard\":\"off\",\"firewall\":\"ON\","
                           "\"cache\":null,\"pii_entities\":\"ssn,email\",\"cache_ttl\":\"600\","
                           "\"cache_threshold\":0.9}",
                           &c, err, sizeof err),
                     0);
    assert_int_equal(c.present, 0x7f);
    assert_int_equal(c.to.pii, 1);
    assert_int_equal(c.to.output_guard, 0);
    assert_int_equal(c.to.firewall, 1);
    assert_int_equal(c.to.cache, -1);
    assert_int_equal(c.to.pii_entities, (1u << GW_PII_SSN) | (1u << GW_PII_EMAIL));
    assert_int_equal(c.to.cache_ttl, 600);
    assert_true(c.to.cache_threshold == 0.9);

    assert_int_equal(parse("{\"pii_entities\":[\"all\"],\"cache_ttl\":\"default\","
                           "\"cache_threshold\":\"1\"}",
                           &c, err, sizeof err),
                     0);
    assert_int_equal(c.to.pii_entities, GW_PII_ALL);
    assert_int_equal(c.to.cache_ttl, -1);
    assert_true(c.to.cache_threshold == 1.0);
    assert_int_equal(c.present, (1u << 1) | (1u << 5) | (1u << 6));
}

static void test_parse_refusals(void **state)
{
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"pii\":1}", "\"pii\" must be on, off or default"},
        {"{\"cache\":\"maybe\"}", "\"cache\" must be on, off or default"},
        {"{\"pii_entities\":[]}", "\"pii_entities\" must be a non-empty list"},
        {"{\"pii_entities\":\"email,\"}", "is not an entity name"},
        {"{\"pii_entities\":\"email,passport\"}", "unknown entity 'passport'"},
        {"{\"pii_entities\":[\"ip\",\"ip\"]}", "'ip' is listed twice"},
        {"{\"pii_entities\":[1]}", "must hold entity names"},
        {"{\"cache_ttl\":0}", "\"cache_ttl\" must be a whole number of seconds from 1"},
        {"{\"cache_ttl\":31536001}", "\"cache_ttl\" must be"},
        {"{\"cache_ttl\":2.5}", "\"cache_ttl\" must be"},
        {"{\"cache_ttl\":\"1h\"}", "\"cache_ttl\" must be"},
        {"{\"cache_threshold\":0}", "\"cache_threshold\" must be a similarity"},
        {"{\"cache_threshold\":\"1.01\"}", "\"cache_threshold\" must be"},
        {"{\"cache_threshold\":\"nan\"}", "\"cache_threshold\" must be"},
        {"{\"cache_threshold\":true}", "\"cache_threshold\" must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct gw_key_settings_change c;
        char err[200];
        assert_int_equal(parse(bad[i].json, &c, err, sizeof err), -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: got '%s', want '%s'", bad[i].json, err, bad[i].msg);
    }
}

static sqlite3 *keys_db(void)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE keys (id TEXT PRIMARY KEY, pii INTEGER, "
                                  "pii_entities TEXT, output_guard INTEGER, firewall INTEGER, "
                                  "cache INTEGER, cache_ttl INTEGER, cache_threshold REAL);"
                                  "INSERT INTO keys (id) VALUES ('key_a');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static void load(sqlite3 *db, struct gw_key_settings *out)
{
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT 'x', " GW_KEY_SETTINGS_COLS " FROM keys k", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    gw_key_settings_read(st, 1, out);
    sqlite3_finalize(st);
}

static void test_store_read_json(void **state)
{
    sqlite3 *db = keys_db();
    struct gw_key_settings s;
    load(db, &s);
    assert_memory_equal(&s, &GW_KEY_SETTINGS_INHERIT, sizeof s);

    struct gw_key_settings_change c;
    char err[200];
    assert_int_equal(parse("{\"pii\":\"on\",\"pii_entities\":\"iban,email\",\"cache\":false,"
                           "\"cache_ttl\":60,\"cache_threshold\":0.75}",
                           &c, err, sizeof err),
                     0);
    assert_int_equal(gw_key_settings_store(db, "key_a", &c), SQLITE_OK);
    load(db, &s);
    assert_int_equal(s.pii, 1);
    assert_int_equal(s.pii_entities, (1u << GW_PII_IBAN) | (1u << GW_PII_EMAIL));
    assert_int_equal(s.output_guard, -1);
    assert_int_equal(s.cache, 0);
    assert_int_equal(s.cache_ttl, 60);
    assert_true(s.cache_threshold == 0.75);

    cJSON *o = cJSON_CreateObject();
    gw_key_settings_to_json(&s, o);
    char *text = cJSON_PrintUnformatted(o);
    assert_string_equal(text, "{\"pii\":true,\"pii_entities\":[\"email\",\"iban\"],"
                              "\"output_guard\":null,\"firewall\":null,\"cache\":false,"
                              "\"cache_ttl\":60,\"cache_threshold\":0.75}");
    cJSON_free(text);
    cJSON_Delete(o);

    /* a partial change leaves the rest; default clears */
    assert_int_equal(
        parse("{\"pii\":null,\"cache_ttl\":\"default\",\"firewall\":\"off\"}", &c, err, sizeof err),
        0);
    assert_int_equal(gw_key_settings_store(db, "key_a", &c), SQLITE_OK);
    load(db, &s);
    assert_int_equal(s.pii, -1);
    assert_int_equal(s.firewall, 0);
    assert_int_equal(s.cache_ttl, -1);
    assert_int_equal(s.cache, 0);
    assert_int_equal(s.pii_entities, (1u << GW_PII_IBAN) | (1u << GW_PII_EMAIL));

    /* no such key; nothing to change */
    assert_int_equal(gw_key_settings_store(db, "key_none", &c), SQLITE_NOTFOUND);
    c.present = 0;
    assert_int_equal(gw_key_settings_store(db, "key_none", &c), SQLITE_OK);

    /* values edited by hand that the daemon cannot use: the key inherits */
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE keys SET pii = 7, pii_entities = '[\"bogus\"]', "
                                  "cache_ttl = -3, cache_threshold = 4",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    load(db, &s);
    assert_int_equal(s.pii, -1);
    assert_int_equal(s.pii_entities, 0);
    assert_int_equal(s.cache_ttl, -1);
    assert_true(s.cache_threshold < 0);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_store_read_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* libFuzzer target for a key's stage switches as the admin protocol carries
 * them (gatewayd/key_settings.c). Input: the "args" object of a key.create or
 * key.update request, as JSON text. Checks what key_settings.h promises: a
 * refusal says which argument; an accepted change is stored in the keys
 * table's columns (schema 011) and read back as exactly the values parsed,
 * and the JSON printed for key show parses again into the same change. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "key_settings.h"

static sqlite3 *db;

static void setup(void)
{
    if (db)
        return;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "CREATE TABLE keys (id TEXT PRIMARY KEY, pii INTEGER, pii_entities TEXT, "
                     "output_guard INTEGER, firewall INTEGER, cache INTEGER, cache_ttl INTEGER, "
                     "cache_threshold REAL); INSERT INTO keys (id) VALUES ('key_f');",
                     NULL, NULL, NULL) != SQLITE_OK)
        abort();
}

static void load(struct gw_key_settings *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT " GW_KEY_SETTINGS_COLS " FROM keys k", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        abort();
    gw_key_settings_read(st, 0, out);
    sqlite3_finalize(st);
}

static int same(const struct gw_key_settings *a, const struct gw_key_settings *b)
{
    return a->pii == b->pii && a->pii_entities == b->pii_entities &&
           a->output_guard == b->output_guard && a->firewall == b->firewall &&
           a->cache == b->cache && a->cache_ttl == b->cache_ttl &&
           a->cache_threshold == b->cache_threshold;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cJSON *args = cJSON_Parse(text);
    free(text);
    struct gw_key_settings_change c;
    char err[200] = "";
    if (gw_key_settings_parse(args, &c, err, sizeof err) != 0) {
        if (err[0] != '"') /* every refusal starts with the argument's name */
            abort();
        cJSON_Delete(args);
        return 0;
    }
    cJSON_Delete(args);
    /* every field present: what was parsed is what the key ends up with */
    if (sqlite3_exec(db,
                     "UPDATE keys SET pii = NULL, pii_entities = NULL, output_guard = NULL, "
                     "firewall = NULL, cache = NULL, cache_ttl = NULL, cache_threshold = NULL",
                     NULL, NULL, NULL) != SQLITE_OK ||
        gw_key_settings_store(db, "key_f", &c) != SQLITE_OK)
        abort();
    struct gw_key_settings got;
    load(&got);
    if (!same(&got, &c.to))
        abort();
    /* key show's JSON is itself valid input, and means the same */
    cJSON *o = cJSON_CreateObject();
    gw_key_settings_to_json(&got, o);
    struct gw_key_settings_change again;
    if (gw_key_settings_parse(o, &again, err, sizeof err) != 0 || !same(&again.to, &got))
        abort();
    cJSON_Delete(o);
    return 0;
}

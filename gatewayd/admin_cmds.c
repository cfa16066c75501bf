/* The admin commands (keys, teams, usage, status, reload), one handler each,
 * listed once in a table. Reads use the session's read-only connection;
 * changes run on the writer thread via gw_writer_run and are followed by a
 * rebuild of the key snapshot, so they take effect on the next request. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "affinity.h"
#include "budget.h"
#include "crypto.h"
#include "deployments.h"
#include "http.h"
#include "key_settings.h"
#include "keypool.h"
#include "keys.h"
#include "request.h"
#include "retry.h"
#include "runtime.h"
#include "upstream.h"
#include "writer.h"

cJSON *gw_admin_fail(struct gw_admin_ctx *ctx, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err_msg, sizeof ctx->err_msg, fmt, ap);
    va_end(ap);
    ctx->err_code = code;
    return NULL;
}

/* ---- argument helpers ------------------------------------------------- */

int gw_admin_arg_str(struct gw_admin_ctx *ctx, const cJSON *args, const char *name,
                     const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || !*v->valuestring) {
        gw_admin_fail(ctx, "bad_request", "\"%s\" must be a non-empty string", name);
        return -1;
    }
    *out = v->valuestring;
    return 1;
}

static int arg_num(struct gw_admin_ctx *ctx, const cJSON *args, const char *name, int integer,
                   double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
        (integer && v->valuedouble != floor(v->valuedouble))) {
        gw_admin_fail(ctx, "bad_request", "\"%s\" must be a non-negative %s", name,
                      integer ? "integer" : "number");
        return -1;
    }
    *out = v->valuedouble;
    return 1;
}

static void bind_opt_num(sqlite3_stmt *st, int i, int have, double v, int integer)
{
    if (!have)
        sqlite3_bind_null(st, i);
    else if (integer)
        sqlite3_bind_int64(st, i, (sqlite3_int64)v);
    else
        sqlite3_bind_double(st, i, v);
}

/* The "models" argument of a key or a team: 0 when absent; 1 when given,
 * with *json the list as JSON text (malloc'd, the caller frees) or NULL
 * for "all models" (a JSON null, or the list ["*"]); -1 (error set) when it
 * is not a non-empty list of names. */
static int arg_models(struct gw_admin_ctx *ctx, const cJSON *args, char **json)
{
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(args, "models");
    *json = NULL;
    if (!models)
        return 0;
    if (cJSON_IsNull(models))
        return 1;
    if (!cJSON_IsArray(models) || !models->child) {
        gw_admin_fail(ctx, "bad_request", "\"models\" must be a non-empty array of names");
        return -1;
    }
    for (const cJSON *m = models->child; m; m = m->next)
        if (!cJSON_IsString(m) || !*m->valuestring) {
            gw_admin_fail(ctx, "bad_request", "\"models\" must hold model names");
            return -1;
        }
    if (!models->child->next && strcmp(models->child->valuestring, "*") == 0)
        return 1; /* every model */
    *json = cJSON_PrintUnformatted(models);
    if (!*json) {
        gw_admin_fail(ctx, "internal", "out of memory");
        return -1;
    }
    return 1;
}

static void add_col(cJSON *o, const char *name, sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        cJSON_AddNullToObject(o, name);
        break;
    case SQLITE_INTEGER:
        cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT:
        cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, i));
        break;
    default:
        cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(st, i));
    }
}

/* Runs an UPDATE meant to change exactly one row and finalizes it:
 * SQLITE_OK, SQLITE_NOTFOUND if no row matched, or the error. */
static int step_one_row(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    return changed == 1 ? SQLITE_OK : SQLITE_NOTFOUND;
}

/* UPDATE table SET models = json (NULL: all) WHERE id = id. */
static int set_models(sqlite3 *db, const char *table, const char *id, const char *json)
{
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE %s SET models = ?2 WHERE id = ?1", table);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (json)
        sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
    return step_one_row(db, st);
}

/* ---- settings a key or a team carries ------------------------------------ */

/* Limits and budget: the same names for keys and teams, on create and update.
 * A JSON null on update clears the setting. */
enum setting_kind { S_NUMBER, S_INTEGER, S_PERIOD };

static const struct setting {
    const char *arg, *col;
    enum setting_kind kind;
} settings[] = {
    {"rpm", "rpm", S_INTEGER},
    {"tpm", "tpm", S_INTEGER},
    {"tpd", "tpd", S_INTEGER},
    {"concurrent", "max_parallel", S_INTEGER},
    {"budget_usd", "budget_usd", S_NUMBER},
    {"budget_period", "budget_period", S_PERIOD},
};

static int check_settings(struct gw_admin_ctx *ctx, const cJSON *args)
{
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
        double v;
        const char *p;
        if (settings[i].kind == S_PERIOD) {
            if (gw_admin_arg_str(ctx, args, settings[i].arg, &p) < 0)
                return -1;
            const cJSON *j = cJSON_GetObjectItemCaseSensitive(args, settings[i].arg);
            if (cJSON_IsString(j) && gw_budget_period_parse(j->valuestring) < 0) {
                gw_admin_fail(ctx, "bad_request", "\"%s\" must be daily, weekly, monthly or none",
                              settings[i].arg);
                return -1;
            }
        } else if (arg_num(ctx, args, settings[i].arg, settings[i].kind == S_INTEGER, &v) < 0) {
            return -1;
        }
    }
    return 0;
}

/* UPDATE table SET <each setting present in args> WHERE id = id. */
static int apply_settings(sqlite3 *db, const char *table, const char *id, const cJSON *args)
{
    char sql[512];
    int n = snprintf(sql, sizeof sql, "UPDATE %s SET id = id", table);
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        if (cJSON_GetObjectItemCaseSensitive(args, settings[i].arg))
            n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s = ?%zu", settings[i].col, i + 2);
    snprintf(sql + n, sizeof sql - (size_t)n, " WHERE id = ?1");
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, settings[i].arg);
        if (cJSON_IsNumber(v))
            bind_opt_num(st, (int)i + 2, 1, v->valuedouble, settings[i].kind == S_INTEGER);
        else if (cJSON_IsString(v) && gw_budget_period_parse(v->valuestring) > 0)
            sqlite3_bind_text(st, (int)i + 2, v->valuestring, -1, SQLITE_STATIC);
    }
    return step_one_row(db, st);
}

/* ---- keys -------------------------------------------------------------- */

#define KEY_COLS                                                                                   \
    "SELECT k.id, k.name, t.name, k.prefix, k.created_at, k.revoked_at, k.expires_at, "            \
    "k.is_admin, k.rpm, k.tpm, k.budget_usd, k.models, k.rotated_at, "                             \
    "CASE WHEN k.prev_valid_until > unixepoch() THEN k.prev_prefix END, "                          \
    "CASE WHEN k.prev_valid_until > unixepoch() THEN k.prev_valid_until END, "                     \
    "k.tpd, k.max_parallel, k.budget_period, " GW_KEY_SETTINGS_COLS                                \
    " FROM keys k LEFT JOIN teams t ON t.id = k.team_id "

static cJSON *key_json(sqlite3_stmt *st)
{
    static const char *const names[] = {"id",         "name",       "team",      "prefix",
                                        "created_at", "revoked_at", "expires_at"};
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < 7; i++)
        add_col(o, names[i], st, i);
    cJSON_AddBoolToObject(o, "is_admin", sqlite3_column_int(st, 7));
    add_col(o, "rpm", st, 8);
    add_col(o, "tpm", st, 9);
    add_col(o, "budget_usd", st, 10);
    const unsigned char *models = sqlite3_column_text(st, 11);
    cJSON *m = models ? cJSON_Parse((const char *)models) : NULL;
    cJSON_AddItemToObject(o, "models", m ? m : cJSON_CreateNull());
    add_col(o, "rotated_at", st, 12);
    add_col(o, "previous_prefix", st, 13);
    add_col(o, "previous_valid_until", st, 14);
    add_col(o, "tpd", st, 15);
    add_col(o, "concurrent", st, 16);
    add_col(o, "budget_period", st, 17);
    struct gw_key_settings ks; /* columns 18..24: pii, ..., cache_threshold (null: the config's) */
    gw_key_settings_read(st, 18, &ks);
    gw_key_settings_to_json(&ks, o);
    return o;
}

/* Finds a key by id, or else by name (the newest key of that name). */
static cJSON *key_lookup(struct gw_admin_ctx *ctx, const char *ref)
{
    sqlite3_stmt *st;
    cJSON *out = NULL;
    if (sqlite3_prepare_v2(ctx->db,
                           KEY_COLS "WHERE k.id = ?1 OR k.name = ?1 "
                                    "ORDER BY (k.id = ?1) DESC, (k.revoked_at IS NULL) DESC, "
                                    "k.created_at DESC, k.rowid DESC "
                                    "LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = key_json(st);
    sqlite3_finalize(st);
    if (!out)
        gw_admin_fail(ctx, "not_found", "no key with id or name '%s'", ref);
    return out;
}

static int team_id_by_name(struct gw_admin_ctx *ctx, const char *name, char *out, size_t n)
{
    sqlite3_stmt *st;
    int found = 0;
    if (sqlite3_prepare_v2(ctx->db, "SELECT id FROM teams WHERE name = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
        found = 1;
    }
    sqlite3_finalize(st);
    return found;
}

struct key_insert {
    char id[40], prefix[GW_KEY_DISPLAY_LEN + 1], team_id[40];
    const char *name, *models_json;
    unsigned char hash[GW_KEY_HASH_LEN];
    int have_team, is_admin, have_expires;
    double expires;
    long long now;
    const cJSON *args; /* limits and budget, applied after the insert */
    /* the key's stage switches, likewise */
    struct gw_key_settings_change settings;
};

static int key_insert_apply(sqlite3 *db, void *arg)
{
    struct key_insert *k = arg;
    sqlite3_stmt *st;
    int rc =
        sqlite3_prepare_v2(db,
                           "INSERT INTO keys (id, name, team_id, key_hash, prefix, created_at, "
                           "is_admin, models, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
    if (k->have_team)
        sqlite3_bind_text(st, 3, k->team_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, k->hash, GW_KEY_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, k->prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, k->now);
    sqlite3_bind_int(st, 7, k->is_admin);
    if (k->models_json)
        sqlite3_bind_text(st, 8, k->models_json, -1, SQLITE_STATIC);
    bind_opt_num(st, 9, k->have_expires, k->expires, 1);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    rc = apply_settings(db, "keys", k->id, k->args);
    return rc == SQLITE_OK ? gw_key_settings_store(db, k->id, &k->settings) : rc;
}

static cJSON *refresh_and(struct gw_admin_ctx *ctx, cJSON *result)
{
    char err[256];
    if (gw_keys_reload(ctx->db_path, err, sizeof err) != 0) {
        cJSON_Delete(result);
        return gw_admin_fail(ctx, "internal", "%s", err);
    }
    return result;
}

static cJSON *cmd_key_create(struct gw_admin_ctx *ctx, const cJSON *args)
{
    struct key_insert k = {.now = time(NULL), .args = args};
    const char *team = NULL;
    if (gw_admin_arg_str(ctx, args, "name", &k.name) != 1)
        return ctx->err_code ? NULL : gw_admin_fail(ctx, "bad_request", "\"name\" is required");
    if (gw_admin_arg_str(ctx, args, "team", &team) < 0 || check_settings(ctx, args) != 0 ||
        (k.have_expires = arg_num(ctx, args, "expires_at", 1, &k.expires)) < 0)
        return NULL;
    if (k.have_expires && k.expires <= (double)k.now)
        return gw_admin_fail(ctx, "bad_request", "\"expires_at\" must be in the future");
    char serr[200];
    if (gw_key_settings_parse(args, &k.settings, serr, sizeof serr) != 0)
        return gw_admin_fail(ctx, "bad_request", "%s", serr);
    const cJSON *admin = cJSON_GetObjectItemCaseSensitive(args, "admin");
    if (admin && !cJSON_IsBool(admin))
        return gw_admin_fail(ctx, "bad_request", "\"admin\" must be a boolean");
    k.is_admin = cJSON_IsTrue(admin);
    char *models_json = NULL;
    if (arg_models(ctx, args, &models_json) < 0)
        return NULL;
    k.models_json = models_json;
    if (team) {
        int f = team_id_by_name(ctx, team, k.team_id, sizeof k.team_id);
        if (f <= 0) {
            free(models_json);
            return gw_admin_fail(ctx, f < 0 ? "internal" : "not_found", "no team named '%s'", team);
        }
        k.have_team = 1;
    }
    char secret[GW_KEY_SECRET_LEN + 1];
    gw_key_generate(secret);
    gw_key_hash(secret, strlen(secret), k.hash);
    memcpy(k.prefix, secret, GW_KEY_DISPLAY_LEN);
    k.prefix[GW_KEY_DISPLAY_LEN] = '\0';
    gw_random_id(k.id, "key_", 8);
    int rc = gw_writer_run(key_insert_apply, &k);
    free(models_json);
    if (rc == SQLITE_CONSTRAINT_UNIQUE)
        return gw_admin_fail(ctx, "conflict", "a live key named '%s' already exists", k.name);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not store the key: %s", sqlite3_errstr(rc));
    cJSON *res = key_lookup(ctx, k.id);
    if (!res)
        return NULL;
    cJSON_AddStringToObject(res, "key", secret);
    return refresh_and(ctx, res);
}

static cJSON *cmd_key_list(struct gw_admin_ctx *ctx, const cJSON *args)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ctx->db, KEY_COLS "ORDER BY k.created_at, k.rowid", -1, &st, NULL) !=
        SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    cJSON *res = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(res, "keys");
    while (sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddItemToArray(arr, key_json(st));
    sqlite3_finalize(st);
    return res;
}

static cJSON *cmd_key_show(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *id = NULL;
    if (gw_admin_arg_str(ctx, args, "id", &id) != 1)
        return ctx->err_code ? NULL : gw_admin_fail(ctx, "bad_request", "\"id\" is required");
    cJSON *k = key_lookup(ctx, id);
    if (!k)
        return NULL;
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "key", k);
    return res;
}

struct key_revoke {
    const char *id;
    long long now;
};

static int key_revoke_apply(sqlite3 *db, void *arg)
{
    struct key_revoke *kr = arg;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db, "UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, kr->now);
    sqlite3_bind_text(st, 2, kr->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static cJSON *cmd_key_revoke(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *ref = NULL;
    if (gw_admin_arg_str(ctx, args, "id", &ref) != 1)
        return ctx->err_code ? NULL : gw_admin_fail(ctx, "bad_request", "\"id\" is required");
    cJSON *k = key_lookup(ctx, ref);
    if (!k)
        return NULL;
    char id[64];
    snprintf(id, sizeof id, "%s", cJSON_GetObjectItemCaseSensitive(k, "id")->valuestring);
    cJSON_Delete(k);
    struct key_revoke kr = {id, time(NULL)};
    int rc = gw_writer_run(key_revoke_apply, &kr);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not revoke: %s", sqlite3_errstr(rc));
    if (!(k = key_lookup(ctx, id)))
        return NULL;
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "key", k);
    return refresh_and(ctx, res);
}

struct key_rotate {
    const char *id;
    unsigned char hash[GW_KEY_HASH_LEN];
    char prefix[GW_KEY_DISPLAY_LEN + 1];
    long long now, grace;
};

static int key_rotate_apply(sqlite3 *db, void *arg)
{
    struct key_rotate *kr = arg;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE keys SET "
                                "prev_key_hash = CASE WHEN ?1 > 0 THEN key_hash END, "
                                "prev_prefix = CASE WHEN ?1 > 0 THEN prefix END, "
                                "prev_valid_until = CASE WHEN ?1 > 0 THEN ?2 + ?1 END, "
                                "key_hash = ?3, prefix = ?4, rotated_at = ?2 "
                                "WHERE id = ?5 AND revoked_at IS NULL",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(st, 1, kr->grace);
    sqlite3_bind_int64(st, 2, kr->now);
    sqlite3_bind_blob(st, 3, kr->hash, GW_KEY_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, kr->prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, kr->id, -1, SQLITE_STATIC);
    return step_one_row(db, st);
}

/* A new secret for the same key id; the old secret keeps working for
 * grace_s seconds (default 0: refused at once). */
static cJSON *cmd_key_rotate(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *ref = NULL;
    double grace = 0;
    if (gw_admin_arg_str(ctx, args, "id", &ref) != 1)
        return ctx->err_code ? NULL : gw_admin_fail(ctx, "bad_request", "\"id\" is required");
    if (arg_num(ctx, args, "grace_s", 1, &grace) < 0)
        return NULL;
    if (grace > 90 * 86400)
        return gw_admin_fail(ctx, "bad_request", "\"grace_s\" is at most 90 days");
    cJSON *k = key_lookup(ctx, ref);
    if (!k)
        return NULL;
    char id[64];
    snprintf(id, sizeof id, "%s", cJSON_GetObjectItemCaseSensitive(k, "id")->valuestring);
    int revoked = !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(k, "revoked_at"));
    cJSON_Delete(k);
    if (revoked)
        return gw_admin_fail(ctx, "conflict", "key %s is revoked; create a new one", id);
    char secret[GW_KEY_SECRET_LEN + 1];
    struct key_rotate kr = {.id = id, .now = time(NULL), .grace = (long long)grace};
    gw_key_generate(secret);
    gw_key_hash(secret, strlen(secret), kr.hash);
    memcpy(kr.prefix, secret, GW_KEY_DISPLAY_LEN);
    kr.prefix[GW_KEY_DISPLAY_LEN] = '\0';
    int rc = gw_writer_run(key_rotate_apply, &kr);
    if (rc == SQLITE_NOTFOUND)
        return gw_admin_fail(ctx, "conflict", "key %s was revoked meanwhile", id);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not rotate: %s", sqlite3_errstr(rc));
    cJSON *res = key_lookup(ctx, id);
    if (!res)
        return NULL;
    cJSON_AddStringToObject(res, "key", secret);
    return refresh_and(ctx, res);
}

/* ---- teams ------------------------------------------------------------- */

#define TEAM_COLS                                                                                  \
    "SELECT t.id, t.name, t.created_at, t.rpm, t.tpm, t.budget_usd, "                              \
    "(SELECT count(*) FROM keys k WHERE k.team_id = t.id), t.tpd, t.max_parallel, "                \
    "t.budget_period, t.models "                                                                   \
    "FROM teams t "

static cJSON *team_json(sqlite3_stmt *st)
{
    static const char *const names[] = {"id",  "name",       "created_at", "rpm",
                                        "tpm", "budget_usd", "keys"};
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < 7; i++)
        add_col(o, names[i], st, i);
    add_col(o, "tpd", st, 7);
    add_col(o, "concurrent", st, 8);
    add_col(o, "budget_period", st, 9);
    const unsigned char *models = sqlite3_column_text(st, 10);
    cJSON *m = models ? cJSON_Parse((const char *)models) : NULL;
    cJSON_AddItemToObject(o, "models", m ? m : cJSON_CreateNull());
    return o;
}

static cJSON *team_lookup(struct gw_admin_ctx *ctx, const char *name)
{
    sqlite3_stmt *st;
    cJSON *out = NULL;
    if (sqlite3_prepare_v2(ctx->db, TEAM_COLS "WHERE t.name = ?1 OR t.id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        out = team_json(st);
    sqlite3_finalize(st);
    if (!out)
        gw_admin_fail(ctx, "not_found", "no team named '%s'", name);
    return out;
}

struct team_insert {
    char id[40];
    const char *name, *models_json;
    const cJSON *args;
};

static int team_insert_apply(sqlite3 *db, void *arg)
{
    struct team_insert *t = arg;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO teams (id, name, created_at, models) VALUES (?,?,?,?)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, t->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, time(NULL));
    if (t->models_json)
        sqlite3_bind_text(st, 4, t->models_json, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    return apply_settings(db, "teams", t->id, t->args);
}

static cJSON *cmd_team_create(struct gw_admin_ctx *ctx, const cJSON *args)
{
    struct team_insert t = {.args = args};
    if (gw_admin_arg_str(ctx, args, "name", &t.name) != 1)
        return ctx->err_code ? NULL : gw_admin_fail(ctx, "bad_request", "\"name\" is required");
    char *models_json = NULL;
    if (check_settings(ctx, args) != 0 || arg_models(ctx, args, &models_json) < 0)
        return NULL;
    t.models_json = models_json;
    gw_random_id(t.id, "team_", 8);
    int rc = gw_writer_run(team_insert_apply, &t);
    free(models_json);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT)
        return gw_admin_fail(ctx, "conflict", "a team named '%s' already exists", t.name);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not store the team: %s", sqlite3_errstr(rc));
    cJSON *team = team_lookup(ctx, t.id);
    if (!team)
        return NULL;
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "team", team);
    return refresh_and(ctx, res);
}

/* key.update / team.update: changes limits and budget of an existing key or
 * team; the key snapshot is rebuilt before the answer, so the next request
 * is admitted under the new limits. */
struct settings_update {
    const char *table, *id;
    const cJSON *args;
    int models;              /* the models list changes too */
    const char *models_json; /* to this (NULL: all) */
    /* keys: their stage switches (key_settings.h); teams: NULL */
    const struct gw_key_settings_change *key_settings;
};

static int settings_update_apply(sqlite3 *db, void *arg)
{
    struct settings_update *u = arg;
    int rc = apply_settings(db, u->table, u->id, u->args);
    if (rc == SQLITE_OK && u->models)
        rc = set_models(db, u->table, u->id, u->models_json);
    if (rc == SQLITE_OK && u->key_settings)
        rc = gw_key_settings_store(db, u->id, u->key_settings);
    return rc;
}

/* Looks the key or team up, applies the settings in args, and answers with
 * the updated object under `kind` ("key" or "team"). */
static cJSON *update_subject(struct gw_admin_ctx *ctx, const cJSON *args, const char *ref_arg,
                             cJSON *(*lookup)(struct gw_admin_ctx *, const char *),
                             const char *table, const char *kind,
                             const struct gw_key_settings_change *key_settings)
{
    const char *ref = NULL;
    if (gw_admin_arg_str(ctx, args, ref_arg, &ref) != 1)
        return ctx->err_code ? NULL
                             : gw_admin_fail(ctx, "bad_request", "\"%s\" is required", ref_arg);
    char *models_json = NULL;
    int models;
    if (check_settings(ctx, args) != 0 || (models = arg_models(ctx, args, &models_json)) < 0)
        return NULL;
    cJSON *o = lookup(ctx, ref);
    if (!o) {
        free(models_json);
        return NULL;
    }
    char id[64];
    snprintf(id, sizeof id, "%s", cJSON_GetObjectItemCaseSensitive(o, "id")->valuestring);
    cJSON_Delete(o);
    struct settings_update u = {table, id, args, models, models_json, key_settings};
    int rc = gw_writer_run(settings_update_apply, &u);
    free(models_json);
    if (rc == SQLITE_NOTFOUND)
        return gw_admin_fail(ctx, "not_found", "%s was deleted meanwhile", id);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not update: %s", sqlite3_errstr(rc));
    if (!(o = lookup(ctx, id)))
        return NULL;
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, kind, o);
    return refresh_and(ctx, res);
}

static cJSON *cmd_key_update(struct gw_admin_ctx *ctx, const cJSON *args)
{
    struct gw_key_settings_change ks;
    char err[200];
    if (gw_key_settings_parse(args, &ks, err, sizeof err) != 0)
        return gw_admin_fail(ctx, "bad_request", "%s", err);
    return update_subject(ctx, args, "id", key_lookup, "keys", "key", &ks);
}

static cJSON *cmd_team_update(struct gw_admin_ctx *ctx, const cJSON *args)
{
    return update_subject(ctx, args, "name", team_lookup, "teams", "team", NULL);
}

static cJSON *cmd_team_list(struct gw_admin_ctx *ctx, const cJSON *args)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ctx->db, TEAM_COLS "ORDER BY t.created_at, t.rowid", -1, &st, NULL) !=
        SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    cJSON *res = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(res, "teams");
    while (sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddItemToArray(arr, team_json(st));
    sqlite3_finalize(st);
    return res;
}

static cJSON *cmd_team_show(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *name = NULL;
    if (gw_admin_arg_str(ctx, args, "name", &name) != 1)
        return ctx->err_code ? NULL : gw_admin_fail(ctx, "bad_request", "\"name\" is required");
    cJSON *team = team_lookup(ctx, name);
    if (!team)
        return NULL;
    const char *tid = cJSON_GetObjectItemCaseSensitive(team, "id")->valuestring;
    sqlite3_stmt *st;
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "team", team);
    cJSON *arr = cJSON_AddArrayToObject(res, "keys");
    if (sqlite3_prepare_v2(ctx->db, KEY_COLS "WHERE k.team_id = ? ORDER BY k.created_at, k.rowid",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, tid, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW)
            cJSON_AddItemToArray(arr, key_json(st));
        sqlite3_finalize(st);
    }
    return res;
}

/* ---- usage ------------------------------------------------------------- */

static cJSON *cmd_usage_report(struct gw_admin_ctx *ctx, const cJSON *args)
{
    const char *by = "key";
    double since = 0;
    if (gw_admin_arg_str(ctx, args, "by", &by) < 0 || arg_num(ctx, args, "since", 1, &since) < 0)
        return NULL;
    const char *group, *cols;
    if (strcmp(by, "key") == 0) {
        group = "u.key_id";
        cols = "u.key_id, (SELECT name FROM keys WHERE id = u.key_id)";
    } else if (strcmp(by, "team") == 0) {
        group = "u.team_id";
        cols = "(SELECT name FROM teams WHERE id = u.team_id)";
    } else if (strcmp(by, "model") == 0) {
        group = "u.model";
        cols = "u.model";
    } else if (strcmp(by, "day") == 0) {
        group = "1";
        cols = "strftime('%Y-%m-%d', u.created_at / 1000, 'unixepoch')";
    } else if (strcmp(by, "prompt") == 0) { /* template and version (admin_prompts.c) */
        group = "u.prompt_name, u.prompt_version";
        cols = "u.prompt_name, u.prompt_version";
    } else {
        return gw_admin_fail(ctx, "bad_request", "\"by\" must be key, team, model, day or prompt");
    }
    gw_writer_flush(); /* every completed request is in the report */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s, count(*), sum(u.status >= 400), sum(u.prompt_tokens), "
             "sum(u.completion_tokens), sum(u.cached_tokens), sum(u.cost_usd) "
             "FROM usage u WHERE u.key_id IS NOT NULL AND u.created_at >= ? "
             "GROUP BY %s ORDER BY %s",
             cols, group, strcmp(by, "day") == 0 ? "1" : "sum(u.cost_usd) DESC, count(*) DESC");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ctx->db, sql, -1, &st, NULL) != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    sqlite3_bind_int64(st, 1, (sqlite3_int64)since * 1000);
    static const char *const counters[] = {"requests",          "errors",        "prompt_tokens",
                                           "completion_tokens", "cached_tokens", "cost_usd"};
    double totals[6] = {0};
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "by", by);
    cJSON_AddNumberToObject(res, "since", since);
    cJSON *rows = cJSON_AddArrayToObject(res, "rows");
    int by_prompt = strcmp(by, "prompt") == 0;
    int ngroup = strcmp(by, "key") == 0 || by_prompt ? 2 : 1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateObject();
        if (ngroup == 2) {
            add_col(row, by_prompt ? "prompt" : "key_id", st, 0);
            add_col(row, by_prompt ? "prompt_version" : "key_name", st, 1);
        } else {
            add_col(row, by, st, 0);
        }
        for (int i = 0; i < 6; i++) {
            double v = sqlite3_column_double(st, ngroup + i);
            totals[i] += v;
            cJSON_AddNumberToObject(row, counters[i], v);
        }
        cJSON_AddItemToArray(rows, row);
    }
    sqlite3_finalize(st);
    cJSON *tot = cJSON_AddObjectToObject(res, "totals");
    for (int i = 0; i < 6; i++)
        cJSON_AddNumberToObject(tot, counters[i], totals[i]);
    return res;
}

/* ---- status, reload ---------------------------------------------------- */

struct status_deps {
    cJSON *list;
    long long now_us;
};

/* A deployment's limit for status: its value, null when it has none. */
static void status_limit(cJSON *o, const char *name, long long v)
{
    if (v > 0)
        cJSON_AddNumberToObject(o, name, (double)v);
    else
        cJSON_AddNullToObject(o, name);
}

/* One deployment of the current config and its live state, with its own
 * limits and their use over the last minute. */
static void status_deployment(const struct gw_model_cfg *m, const struct gw_deployment_cfg *dc,
                              struct gw_deployment *d, void *arg)
{
    struct status_deps *sd = arg;
    cJSON *o = cJSON_CreateObject();
    char label[600];
    snprintf(label, sizeof label, "%s/%s", dc->provider_name, dc->model);
    long long until = 0;
    enum gw_breaker_state st =
        d ? gw_breaker_view(&d->breaker, sd->now_us, &until) : GW_BREAKER_CLOSED;
    long long ttfb = d ? atomic_load(&d->ttfb_ewma_us) : 0;
    cJSON_AddStringToObject(o, "model", m->name);
    cJSON_AddStringToObject(o, "deployment", label);
    cJSON_AddStringToObject(o, "provider", dc->provider_name);
    cJSON_AddStringToObject(o, "upstream_model", dc->model);
    cJSON_AddStringToObject(o, "strategy", gw_strategy_name(m->strategy));
    cJSON_AddNumberToObject(o, "priority", dc->priority);
    cJSON_AddNumberToObject(o, "weight", dc->weight);
    cJSON_AddStringToObject(o, "state", gw_breaker_state_name(st));
    if (until > sd->now_us)
        cJSON_AddNumberToObject(o, "half_open_in_s",
                                (double)((until - sd->now_us + 999999) / 1000000));
    else
        cJSON_AddNullToObject(o, "half_open_in_s");
    cJSON_AddNumberToObject(o, "in_flight", d ? (double)atomic_load(&d->in_flight) : 0);
    status_limit(o, "max_in_flight", dc->max_in_flight);
    cJSON_AddNumberToObject(o, "rpm_used",
                            d ? (double)gw_minute_window_sum(&d->req_win, sd->now_us) : 0);
    status_limit(o, "rpm", dc->rpm);
    cJSON_AddNumberToObject(o, "tpm_used",
                            d ? (double)gw_minute_window_sum(&d->tok_win, sd->now_us) : 0);
    status_limit(o, "tpm", dc->tpm);
    enum gw_dep_limit lim = d ? gw_deployment_room(dc, d, 0, sd->now_us, NULL) : GW_DEP_ROOM;
    if (lim != GW_DEP_ROOM)
        cJSON_AddStringToObject(o, "at_limit", gw_dep_limit_name(lim));
    else
        cJSON_AddNullToObject(o, "at_limit");
    cJSON_AddNumberToObject(o, "limited", d ? (double)atomic_load(&d->limited_total) : 0);
    cJSON_AddNumberToObject(o, "requests", d ? (double)atomic_load(&d->requests) : 0);
    cJSON_AddNumberToObject(o, "failures", d ? (double)atomic_load(&d->failures) : 0);
    if (ttfb)
        cJSON_AddNumberToObject(o, "ttfb_ms", (double)(ttfb / 100) / 10);
    else
        cJSON_AddNullToObject(o, "ttfb_ms");
    cJSON_AddItemToArray(sd->list, o);
}

/* One API key of a provider of the current config and its live state:
 * its reference (never the secret), use over the last minute, cooldown. */
static void status_key(const struct gw_provider_cfg *p, const struct gw_api_key_cfg *kc,
                       struct gw_pool_key *k, void *arg)
{
    struct status_deps *sd = arg;
    cJSON *o = cJSON_CreateObject();
    long long until = k ? atomic_load(&k->cool_until_us) : 0;
    cJSON_AddStringToObject(o, "provider", p->name);
    cJSON_AddStringToObject(o, "key", kc->label);
    cJSON_AddNumberToObject(o, "in_flight", k ? (double)atomic_load(&k->in_flight) : 0);
    cJSON_AddNumberToObject(o, "requests", k ? (double)atomic_load(&k->requests) : 0);
    cJSON_AddNumberToObject(o, "rpm_used", k ? (double)gw_pool_key_used(k, 0, sd->now_us) : 0);
    if (kc->rpm > 0)
        cJSON_AddNumberToObject(o, "rpm", (double)kc->rpm);
    else
        cJSON_AddNullToObject(o, "rpm");
    cJSON_AddNumberToObject(o, "tpm_used", k ? (double)gw_pool_key_used(k, 1, sd->now_us) : 0);
    if (kc->tpm > 0)
        cJSON_AddNumberToObject(o, "tpm", (double)kc->tpm);
    else
        cJSON_AddNullToObject(o, "tpm");
    cJSON_AddNumberToObject(o, "weight", kc->weight);
    cJSON_AddBoolToObject(o, "cooling", until > sd->now_us);
    if (until > sd->now_us) {
        long long left_ms = (until - sd->now_us + 999) / 1000;
        cJSON_AddNumberToObject(o, "cooling_for_s", (double)((left_ms + 999) / 1000));
        cJSON_AddNumberToObject(o, "cooling_until", (double)((gw_wall_ms() + left_ms) / 1000));
    } else {
        cJSON_AddNullToObject(o, "cooling_for_s");
        cJSON_AddNullToObject(o, "cooling_until");
    }
    cJSON_AddNumberToObject(o, "cooldowns", k ? (double)atomic_load(&k->cooldowns) : 0);
    cJSON_AddItemToArray(sd->list, o);
}

/* Prefix-cache affinity and retries, for status. */
static void status_routing(cJSON *res, const struct gw_config *cfg, long long now_us)
{
    long long lookups, hits;
    gw_affinity_totals(&lookups, &hits);
    long capacity = 0, entries = gw_affinity_current_entries(now_us, &capacity);
    cJSON *a = cJSON_AddObjectToObject(res, "affinity");
    cJSON_AddBoolToObject(a, "enabled", cfg->routing.affinity.enabled);
    cJSON_AddNumberToObject(a, "entries", (double)entries);
    cJSON_AddNumberToObject(a, "capacity", (double)capacity);
    cJSON_AddNumberToObject(a, "lookups", (double)lookups);
    cJSON_AddNumberToObject(a, "hits", (double)hits);
    if (lookups)
        cJSON_AddNumberToObject(a, "hit_ratio",
                                round((double)hits * 1000 / (double)lookups) / 1000);
    else
        cJSON_AddNullToObject(a, "hit_ratio");
    cJSON *rt = cJSON_AddObjectToObject(res, "retries");
    for (int w = 0; w < GW_RETRY_REASONS; w++)
        cJSON_AddNumberToObject(rt, gw_retry_reason_name((enum gw_retry_reason)w),
                                (double)gw_retry_total((enum gw_retry_reason)w));
    cJSON_AddNumberToObject(rt, "fallbacks", (double)gw_retry_fallbacks());
}

static cJSON *cmd_status(struct gw_admin_ctx *ctx, const cJSON *args)
{
    struct gw_cfg_ref *ref = gw_runtime_config_acquire();
    const struct gw_config *cfg = ref->cfg;
    cJSON *res = cJSON_CreateObject();
    char listen[300];
    snprintf(listen, sizeof listen, "%s:%d", cfg->listen_host, gw_http_port());
    long keys, teams;
    gw_keys_counts(&keys, &teams);
    struct gw_writer_stats ws;
    gw_writer_stats(&ws);
    cJSON_AddStringToObject(res, "version", GW_VERSION);
    cJSON_AddNumberToObject(res, "pid", getpid());
    cJSON_AddNumberToObject(res, "uptime_s",
                            (double)((gw_wall_ms() - gw_runtime.started_ms) / 1000));
    cJSON_AddStringToObject(res, "listen", listen);
    cJSON_AddStringToObject(res, "config", cfg->path);
    cJSON_AddStringToObject(res, "db_path", gw_runtime.db_path);
    cJSON_AddNumberToObject(res, "keys", keys);
    cJSON_AddNumberToObject(res, "teams", teams);
    cJSON_AddNumberToObject(res, "models", (double)cfg->n_models);
    cJSON_AddNumberToObject(res, "requests_total", (double)gw_request_total());
    cJSON_AddNumberToObject(res, "in_flight", gw_request_in_flight());
    cJSON_AddNumberToObject(res, "upstream_active", gw_upstream_active());
    cJSON_AddNumberToObject(res, "budget_soft_alerts", gw_budget_soft_alerts());
    cJSON *ring = cJSON_AddObjectToObject(res, "usage_ring");
    cJSON_AddNumberToObject(ring, "capacity", GW_WRITER_RING_SLOTS);
    cJSON_AddNumberToObject(ring, "queued", (double)ws.queued);
    cJSON_AddNumberToObject(ring, "written", (double)ws.written);
    cJSON_AddNumberToObject(ring, "stalls", (double)ws.stalls);
    cJSON_AddNumberToObject(ring, "errors", (double)ws.errors);
    status_routing(res, cfg, gw_now_us());
    struct status_deps sd = {cJSON_AddArrayToObject(res, "deployments"), gw_now_us()};
    gw_deployments_each(cfg, status_deployment, &sd);
    struct status_deps sk = {cJSON_AddArrayToObject(res, "provider_keys"), gw_now_us()};
    gw_keypool_each(cfg, status_key, &sk);
    gw_runtime_config_release(ref);
    return res;
}

static cJSON *cmd_reload(struct gw_admin_ctx *ctx, const cJSON *args)
{
    char err[600];
    if (!gw_admin_reload || gw_admin_reload(err, sizeof err) != 0)
        return gw_admin_fail(ctx, "config_error", "%s",
                             gw_admin_reload ? err : "reload unavailable");
    cJSON *res = cJSON_CreateObject();
    cJSON_AddTrueToObject(res, "reloaded");
    return res;
}

/* ---- table ------------------------------------------------------------- */

static const struct {
    const char *name;
    cJSON *(*fn)(struct gw_admin_ctx *ctx, const cJSON *args);
} commands[] = {
    {"key.create", cmd_key_create},
    {"key.list", cmd_key_list},
    {"key.show", cmd_key_show},
    {"key.revoke", cmd_key_revoke},
    {"key.rotate", cmd_key_rotate},
    {"key.update", cmd_key_update},
    {"team.update", cmd_team_update},
    {"team.create", cmd_team_create},
    {"team.list", cmd_team_list},
    {"team.show", cmd_team_show},
    {"usage.report", cmd_usage_report},
    {"request.show", gw_admin_cmd_request_show},       /* admin_requests.c */
    {"prompt.create", gw_admin_cmd_prompt_create},     /* admin_prompts.c */
    {"prompt.list", gw_admin_cmd_prompt_list},         /* admin_prompts.c */
    {"prompt.show", gw_admin_cmd_prompt_show},         /* admin_prompts.c */
    {"prompt.diff", gw_admin_cmd_prompt_diff},         /* admin_prompts.c */
    {"prompt.rollback", gw_admin_cmd_prompt_rollback}, /* admin_prompts.c */
    {"prompt.delete", gw_admin_cmd_prompt_delete},     /* admin_prompts.c */
    {"rag.add", gw_admin_cmd_rag_add},                 /* admin_rag.c */
    {"rag.list", gw_admin_cmd_rag_list},               /* admin_rag.c */
    {"rag.remove", gw_admin_cmd_rag_remove},           /* admin_rag.c */
    {"rag.search", gw_admin_cmd_rag_search},           /* admin_rag.c */
    {"cache.stats", gw_admin_cmd_cache_stats},         /* admin_cache.c */
    {"cache.list", gw_admin_cmd_cache_list},           /* admin_cache.c */
    {"cache.show", gw_admin_cmd_cache_show},           /* admin_cache.c */
    {"cache.purge", gw_admin_cmd_cache_purge},         /* admin_cache.c */
    {"cache.search", gw_admin_cmd_cache_search},       /* admin_cache_search.c */
    {"status", cmd_status},
    {"reload", cmd_reload},
};

cJSON *gw_admin_dispatch(struct gw_admin_ctx *ctx, const char *cmd, const cJSON *args)
{
    static const cJSON empty = {0};
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].fn(ctx, args ? args : &empty);
    return gw_admin_fail(ctx, "bad_request", "unknown command '%s'", cmd);
}

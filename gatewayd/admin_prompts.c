/* The admin commands of the prompt library (docs/prompts.md,
 * docs/admin-protocol.md): prompt.create, prompt.list, prompt.show,
 * prompt.diff, prompt.rollback and prompt.delete. Reads use the session's
 * read-only connection; changes run on the writer thread (gw_writer_run),
 * each in one transaction that also records a prompt_events row, and are
 * followed by a rebuild of the prompt snapshot (prompts.h), so the next
 * request sees them. Versions are immutable: create adds the next number
 * and makes it active, rollback makes another one active, delete removes
 * every version (numbers are not reused). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "buf.h"
#include "linediff.h"
#include "prompt_tpl.h"
#include "prompts.h"
#include "writer.h"

/* ---- arguments ----------------------------------------------------------- */

/* A version number argument: 1 and *out, 0 if absent, -1 (error set). */
static int version_arg(struct gw_admin_ctx *ctx, const cJSON *args, const char *name, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e9 ||
        v->valuedouble != (double)(int)v->valuedouble) {
        gw_admin_fail(ctx, "bad_request", "\"%s\" must be a version number (1, 2, ...)", name);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 1;
}

/* "name" (required), which may carry "@VERSION"; a separate "version"
 * argument is accepted too. *version 0: not given. */
static int name_arg(struct gw_admin_ctx *ctx, const cJSON *args, char *name, int *version)
{
    const char *ref = NULL;
    int rc = gw_admin_arg_str(ctx, args, "name", &ref);
    if (rc == 0)
        gw_admin_fail(ctx, "bad_request", "\"name\" is required");
    if (rc != 1)
        return -1;
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n > GW_PROMPT_MAX_NAME)
        n = GW_PROMPT_MAX_NAME + 1; /* invalid, and still a string */
    snprintf(name, GW_PROMPT_MAX_NAME + 2, "%.*s", (int)n, ref);
    if (!gw_prompt_name_valid(name)) {
        gw_admin_fail(ctx, "bad_request",
                      "'%.80s' is not a prompt name: 1 to 64 letters, digits, '_', '-', '.', "
                      "starting with a letter or digit",
                      name);
        return -1;
    }
    *version = 0;
    if (at) {
        char *end = NULL;
        long v = strtol(at + 1, &end, 10);
        if (!at[1] || *end || v < 1 || v > 1000000000) {
            gw_admin_fail(ctx, "bad_request", "'%.80s': the version after '@' must be 1, 2, ...",
                          ref);
            return -1;
        }
        *version = (int)v;
    }
    int v = 0;
    rc = version_arg(ctx, args, "version", &v);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (*version && *version != v) {
            gw_admin_fail(ctx, "bad_request", "two different versions given (@%d and %d)", *version,
                          v);
            return -1;
        }
        *version = v;
    }
    return 0;
}

static cJSON *reload_and(struct gw_admin_ctx *ctx, cJSON *result)
{
    char err[300];
    if (gw_prompts_reload(ctx->db_path, err, sizeof err) != 0) {
        cJSON_Delete(result);
        return gw_admin_fail(ctx, "internal", "%s", err);
    }
    return result;
}

static void add_int_or_null(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, col));
}

static void add_text_or_null(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (s)
        cJSON_AddStringToObject(o, name, s);
    else
        cJSON_AddNullToObject(o, name);
}

/* The live prompt's (active, latest) versions: 1, 0 if there is none (or it
 * was deleted), -1 on a database error (set). */
static int prompt_state(struct gw_admin_ctx *ctx, const char *name, int *active, int *latest)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ctx->db,
                           "SELECT active_version, latest_version FROM prompts "
                           "WHERE name = ? AND deleted_at IS NULL",
                           -1, &st, NULL) != SQLITE_OK) {
        gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        *active = sqlite3_column_int(st, 0);
        *latest = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    return found;
}

/* The stored template of name@version (a cJSON object the caller deletes)
 * and, if asked, its row's other columns into `row`; NULL with not_found
 * (or internal) set. */
static cJSON *version_template(struct gw_admin_ctx *ctx, const char *name, int version, cJSON *row)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ctx->db,
                           "SELECT template, source, format, created_at, created_by "
                           "FROM prompt_versions WHERE name = ? AND version = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    cJSON *tpl = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        tpl = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        if (row) {
            add_text_or_null(row, "format", st, 2);
            add_int_or_null(row, "created_at", st, 3);
            add_text_or_null(row, "created_by", st, 4);
            add_text_or_null(row, "source", st, 1);
        }
        if (!tpl)
            gw_admin_fail(ctx, "internal", "%s@%d: the stored template is not JSON", name, version);
    } else {
        gw_admin_fail(ctx, "not_found", "prompt '%s' has no version %d", name, version);
    }
    sqlite3_finalize(st);
    return tpl;
}

/* ---- the change log ------------------------------------------------------ */

/* One prompt_events row, in the writer's transaction (version and
 * from_version 0: none). SQLITE_OK or the error. */
static int record_event(sqlite3 *db, const char *name, long long at, const char *author,
                        const char *action, int version, int from_version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO prompt_events (name, at, by, action, version, "
                                "from_version) VALUES (?, ?, ?, ?, ?, ?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, at);
    if (author)
        sqlite3_bind_text(st, 3, author, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
    if (version)
        sqlite3_bind_int(st, 5, version);
    if (from_version)
        sqlite3_bind_int(st, 6, from_version);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db);
}

/* ---- prompt.create ------------------------------------------------------- */

struct prompt_create {
    const char *name, *template_json, *source, *format, *author;
    long long now;
    int version, previous; /* out: the new version, the one active before (0: none) */
};

static int prompt_create_apply(sqlite3 *db, void *arg)
{
    struct prompt_create *pc = arg;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT latest_version, active_version, deleted_at FROM prompts "
                                "WHERE name = ?",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, pc->name, -1, SQLITE_STATIC);
    int exists = sqlite3_step(st) == SQLITE_ROW;
    int latest = exists ? sqlite3_column_int(st, 0) : 0;
    pc->previous =
        exists && sqlite3_column_type(st, 2) == SQLITE_NULL ? sqlite3_column_int(st, 1) : 0;
    sqlite3_finalize(st);
    pc->version = latest + 1;
    const char *sql = exists ? "UPDATE prompts SET latest_version = ?2, active_version = ?2, "
                               "updated_at = ?3, deleted_at = NULL WHERE name = ?1"
                             : "INSERT INTO prompts (name, active_version, latest_version, "
                               "created_at, updated_at) VALUES (?1, ?2, ?2, ?3, ?3)";
    if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, pc->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, pc->version);
    sqlite3_bind_int64(st, 3, pc->now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    if ((rc = sqlite3_prepare_v2(db,
                                 "INSERT INTO prompt_versions (name, version, template, source, "
                                 "format, created_at, created_by) VALUES (?,?,?,?,?,?,?)",
                                 -1, &st, NULL)) != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, pc->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, pc->version);
    sqlite3_bind_text(st, 3, pc->template_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, pc->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, pc->format, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, pc->now);
    if (pc->author)
        sqlite3_bind_text(st, 7, pc->author, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    return record_event(db, pc->name, pc->now, pc->author, "create", pc->version, pc->previous);
}

static cJSON *show(struct gw_admin_ctx *ctx, const char *name, int version);

cJSON *gw_admin_cmd_prompt_create(struct gw_admin_ctx *ctx, const cJSON *args)
{
    char name[GW_PROMPT_MAX_NAME + 2];
    int at_version = 0;
    const char *format_name = NULL, *file_name = NULL, *author = NULL;
    if (name_arg(ctx, args, name, &at_version) != 0)
        return NULL;
    if (at_version)
        return gw_admin_fail(ctx, "bad_request",
                             "give the name without @VERSION: create adds the next version");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(args, "source");
    if (!cJSON_IsString(src))
        return gw_admin_fail(ctx, "bad_request",
                             "\"source\" is required: the template document (text, JSON or YAML)");
    if (gw_admin_arg_str(ctx, args, "format", &format_name) < 0 ||
        gw_admin_arg_str(ctx, args, "file_name", &file_name) < 0 ||
        gw_admin_arg_str(ctx, args, "author", &author) < 0)
        return NULL;
    if (author && strlen(author) > 64)
        return gw_admin_fail(ctx, "bad_request", "\"author\" is at most 64 bytes");
    enum gw_ptpl_format fmt = gw_ptpl_format_for_file(file_name);
    if (format_name && gw_ptpl_format_parse(format_name, &fmt) != 0)
        return gw_admin_fail(ctx, "bad_request", "\"format\" must be text, json or yaml");
    char err[400];
    cJSON *tpl = gw_ptpl_parse(src->valuestring, strlen(src->valuestring), fmt, err, sizeof err);
    if (!tpl)
        return gw_admin_fail(ctx, "bad_request", "%s%s%s (read as %s)", file_name ? file_name : "",
                             file_name ? ": " : "", err, gw_ptpl_format_name(fmt));
    char *json = cJSON_PrintUnformatted(tpl);
    cJSON_Delete(tpl);
    if (!json)
        return gw_admin_fail(ctx, "internal", "out of memory");
    struct prompt_create pc = {.name = name,
                               .template_json = json,
                               .source = src->valuestring,
                               .format = gw_ptpl_format_name(fmt),
                               .author = author,
                               .now = time(NULL)};
    int rc = gw_writer_run(prompt_create_apply, &pc);
    free(json);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not store the prompt: %s", sqlite3_errstr(rc));
    cJSON *res = show(ctx, name, pc.version);
    if (res)
        cJSON_AddNumberToObject(res, "previous_version", pc.previous);
    return res ? reload_and(ctx, res) : NULL;
}

/* ---- prompt.list --------------------------------------------------------- */

cJSON *gw_admin_cmd_prompt_list(struct gw_admin_ctx *ctx, const cJSON *args)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ctx->db,
                           "SELECT p.name, p.active_version, p.latest_version, "
                           "(SELECT count(*) FROM prompt_versions c WHERE c.name = p.name), "
                           "p.created_at, p.updated_at, v.template "
                           "FROM prompts p LEFT JOIN prompt_versions v "
                           "ON v.name = p.name AND v.version = p.active_version "
                           "WHERE p.deleted_at IS NULL ORDER BY p.name",
                           -1, &st, NULL) != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "%s", sqlite3_errmsg(ctx->db));
    cJSON *res = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(res, "prompts");
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        add_text_or_null(o, "name", st, 0);
        add_int_or_null(o, "active_version", st, 1);
        add_int_or_null(o, "latest_version", st, 2);
        add_int_or_null(o, "versions", st, 3);
        add_int_or_null(o, "created_at", st, 4);
        add_int_or_null(o, "updated_at", st, 5);
        const char *t = (const char *)sqlite3_column_text(st, 6);
        cJSON *tpl = t ? cJSON_Parse(t) : NULL;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(tpl, "description");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(tpl, "model");
        const cJSON *vars = cJSON_GetObjectItemCaseSensitive(tpl, "variables");
        cJSON_AddItemToObject(o, "description",
                              cJSON_IsString(d) ? cJSON_CreateString(d->valuestring)
                                                : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "model",
                              cJSON_IsString(m) ? cJSON_CreateString(m->valuestring)
                                                : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "variables",
                              vars ? cJSON_Duplicate(vars, 1) : cJSON_CreateArray());
        cJSON_Delete(tpl);
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    return res;
}

/* ---- prompt.show --------------------------------------------------------- */

/* {"prompt": the version, "versions": [...], "events": [...]} */
static cJSON *show(struct gw_admin_ctx *ctx, const char *name, int version)
{
    int active = 0, latest = 0;
    int found = prompt_state(ctx, name, &active, &latest);
    if (found < 0)
        return NULL;
    if (found == 0)
        return gw_admin_fail(ctx, "not_found", "no prompt named '%s'", name);
    if (!version)
        version = active;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddNumberToObject(p, "version", version);
    cJSON_AddBoolToObject(p, "active", version == active);
    cJSON_AddNumberToObject(p, "active_version", active);
    cJSON_AddNumberToObject(p, "latest_version", latest);
    cJSON *tpl = version_template(ctx, name, version, p);
    if (!tpl) {
        cJSON_Delete(p);
        return NULL;
    }
    struct gw_buf yaml = {0};
    gw_ptpl_yaml(tpl, &yaml);
    cJSON_AddStringToObject(p, "yaml", yaml.data ? yaml.data : "");
    gw_buf_free(&yaml);
    cJSON_AddItemToObject(p, "template", tpl);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddItemToObject(res, "prompt", p);

    sqlite3_stmt *st;
    cJSON *versions = cJSON_AddArrayToObject(res, "versions");
    if (sqlite3_prepare_v2(ctx->db,
                           "SELECT version, created_at, created_by FROM prompt_versions "
                           "WHERE name = ? ORDER BY version",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();
            add_int_or_null(o, "version", st, 0);
            add_int_or_null(o, "created_at", st, 1);
            add_text_or_null(o, "created_by", st, 2);
            cJSON_AddBoolToObject(o, "active", sqlite3_column_int(st, 0) == active);
            cJSON_AddItemToArray(versions, o);
        }
    }
    sqlite3_finalize(st);
    cJSON *events = cJSON_AddArrayToObject(res, "events");
    if (sqlite3_prepare_v2(ctx->db,
                           "SELECT at, by, action, version, from_version FROM prompt_events "
                           "WHERE name = ? ORDER BY id",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();
            add_int_or_null(o, "at", st, 0);
            add_text_or_null(o, "by", st, 1);
            add_text_or_null(o, "action", st, 2);
            add_int_or_null(o, "version", st, 3);
            add_int_or_null(o, "from_version", st, 4);
            cJSON_AddItemToArray(events, o);
        }
    }
    sqlite3_finalize(st);
    return res;
}

cJSON *gw_admin_cmd_prompt_show(struct gw_admin_ctx *ctx, const cJSON *args)
{
    char name[GW_PROMPT_MAX_NAME + 2];
    int version = 0;
    if (name_arg(ctx, args, name, &version) != 0)
        return NULL;
    return show(ctx, name, version);
}

/* ---- prompt.diff --------------------------------------------------------- */

cJSON *gw_admin_cmd_prompt_diff(struct gw_admin_ctx *ctx, const cJSON *args)
{
    char name[GW_PROMPT_MAX_NAME + 2];
    int at = 0, from = 0, to = 0, active = 0, latest = 0;
    if (name_arg(ctx, args, name, &at) != 0)
        return NULL;
    int rf = version_arg(ctx, args, "from", &from), rt = version_arg(ctx, args, "to", &to);
    if (rf < 0 || rt < 0)
        return NULL;
    if (rf == 0)
        return gw_admin_fail(ctx, "bad_request", "\"from\" is required (a version number)");
    int found = prompt_state(ctx, name, &active, &latest);
    if (found < 0)
        return NULL;
    if (found == 0)
        return gw_admin_fail(ctx, "not_found", "no prompt named '%s'", name);
    if (rt == 0)
        to = active;
    cJSON *a = version_template(ctx, name, from, NULL);
    cJSON *b = a ? version_template(ctx, name, to, NULL) : NULL;
    if (!b) {
        cJSON_Delete(a);
        return NULL;
    }
    struct gw_buf ya = {0}, yb = {0}, d = {0};
    char la[GW_PROMPT_MAX_NAME + 16], lb[GW_PROMPT_MAX_NAME + 16];
    snprintf(la, sizeof la, "%s@%d", name, from);
    snprintf(lb, sizeof lb, "%s@%d", name, to);
    int rc = gw_ptpl_yaml(a, &ya) | gw_ptpl_yaml(b, &yb);
    if (rc == 0)
        rc = gw_linediff(ya.data ? ya.data : "", ya.len, yb.data ? yb.data : "", yb.len, 3, la, lb,
                         &d);
    cJSON *res = NULL;
    if (rc != 0) {
        gw_admin_fail(ctx, "internal", "out of memory");
    } else {
        res = cJSON_CreateObject();
        cJSON_AddStringToObject(res, "name", name);
        cJSON_AddNumberToObject(res, "from", from);
        cJSON_AddNumberToObject(res, "to", to);
        cJSON_AddBoolToObject(res, "identical", d.len == 0);
        cJSON_AddStringToObject(res, "diff", d.data ? d.data : "");
    }
    gw_buf_free(&ya);
    gw_buf_free(&yb);
    gw_buf_free(&d);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return res;
}

/* ---- prompt.rollback ----------------------------------------------------- */

struct prompt_activate {
    const char *name, *author;
    int version, previous;
    long long now;
};

static int prompt_rollback_apply(sqlite3 *db, void *arg)
{
    struct prompt_activate *pa = arg;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE prompts SET active_version = ?2, updated_at = ?3 "
                                "WHERE name = ?1 AND deleted_at IS NULL AND EXISTS "
                                "(SELECT 1 FROM prompt_versions WHERE name = ?1 AND version = ?2)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, pa->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, pa->version);
    sqlite3_bind_int64(st, 3, pa->now);
    rc = sqlite3_step(st);
    int changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    if (changed != 1)
        return SQLITE_NOTFOUND;
    return record_event(db, pa->name, pa->now, pa->author, "rollback", pa->version, pa->previous);
}

cJSON *gw_admin_cmd_prompt_rollback(struct gw_admin_ctx *ctx, const cJSON *args)
{
    char name[GW_PROMPT_MAX_NAME + 2];
    int version = 0, active = 0, latest = 0;
    const char *author = NULL;
    if (name_arg(ctx, args, name, &version) != 0 ||
        gw_admin_arg_str(ctx, args, "author", &author) < 0)
        return NULL;
    if (!version)
        return gw_admin_fail(ctx, "bad_request",
                             "\"version\" is required: the version to make active");
    int found = prompt_state(ctx, name, &active, &latest);
    if (found < 0)
        return NULL;
    if (found == 0)
        return gw_admin_fail(ctx, "not_found", "no prompt named '%s'", name);
    int changed = version != active;
    if (changed) {
        struct prompt_activate pa = {name, author, version, active, time(NULL)};
        int rc = gw_writer_run(prompt_rollback_apply, &pa);
        if (rc == SQLITE_NOTFOUND)
            return gw_admin_fail(ctx, "not_found", "prompt '%s' has no version %d", name, version);
        if (rc != SQLITE_OK)
            return gw_admin_fail(ctx, "internal", "could not roll back: %s", sqlite3_errstr(rc));
    }
    cJSON *res = show(ctx, name, 0);
    if (!res)
        return NULL;
    cJSON_AddNumberToObject(res, "previous_version", active);
    cJSON_AddBoolToObject(res, "changed", changed);
    return changed ? reload_and(ctx, res) : res;
}

/* ---- prompt.delete ------------------------------------------------------- */

struct prompt_delete {
    const char *name, *author;
    int previous, deleted;
    long long now;
};

static int prompt_delete_apply(sqlite3 *db, void *arg)
{
    struct prompt_delete *pd = arg;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE prompts SET deleted_at = ?2, updated_at = ?2, "
                                "active_version = NULL WHERE name = ?1 AND deleted_at IS NULL",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, pd->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, pd->now);
    rc = sqlite3_step(st);
    int changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    if (changed != 1)
        return SQLITE_NOTFOUND;
    if ((rc = sqlite3_prepare_v2(db, "DELETE FROM prompt_versions WHERE name = ?", -1, &st,
                                 NULL)) != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, pd->name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    pd->deleted = sqlite3_changes(db);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite3_extended_errcode(db);
    return record_event(db, pd->name, pd->now, pd->author, "delete", 0, pd->previous);
}

cJSON *gw_admin_cmd_prompt_delete(struct gw_admin_ctx *ctx, const cJSON *args)
{
    char name[GW_PROMPT_MAX_NAME + 2];
    int version = 0, active = 0, latest = 0;
    const char *author = NULL;
    if (name_arg(ctx, args, name, &version) != 0 ||
        gw_admin_arg_str(ctx, args, "author", &author) < 0)
        return NULL;
    if (version)
        return gw_admin_fail(ctx, "bad_request",
                             "versions are immutable and stay until the prompt is deleted: give "
                             "the name without @VERSION (roll back to leave a version unused)");
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(args, "force");
    if (force && !cJSON_IsBool(force))
        return gw_admin_fail(ctx, "bad_request", "\"force\" must be a boolean");
    int found = prompt_state(ctx, name, &active, &latest);
    if (found < 0)
        return NULL;
    if (found == 0)
        return gw_admin_fail(ctx, "not_found", "no prompt named '%s'", name);
    if (!cJSON_IsTrue(force))
        return gw_admin_fail(ctx, "bad_request",
                             "deleting '%s' removes all its versions and requests naming it get "
                             "404: confirm with --force (\"force\": true)",
                             name);
    struct prompt_delete pd = {
        .name = name, .author = author, .previous = active, .now = time(NULL)};
    int rc = gw_writer_run(prompt_delete_apply, &pd);
    if (rc == SQLITE_NOTFOUND)
        return gw_admin_fail(ctx, "not_found", "no prompt named '%s'", name);
    if (rc != SQLITE_OK)
        return gw_admin_fail(ctx, "internal", "could not delete: %s", sqlite3_errstr(rc));
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "name", name);
    cJSON_AddNumberToObject(res, "deleted_versions", pd.deleted);
    cJSON_AddNumberToObject(res, "previous_version", active);
    return reload_and(ctx, res);
}
